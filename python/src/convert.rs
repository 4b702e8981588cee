//! Conversions: Python arguments to the Rust API's values, the application's
//! sockets as transports, enum members back to Python, and the last-error
//! slot behind `dtlsError()` / `dtlsErrorString()`.

use std::mem::ManuallyDrop;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::FromRawFd;
use std::sync::Mutex;

use pyo3::exceptions::{PyOverflowError, PyRuntimeWarning, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

use qdtls::{DtlsError, Error};

/// Qt's message for a null socket (the engine's own words, which the Rust API
/// cannot be asked for without a socket).
pub(crate) const NULL_SOCKET: &str = "Invalid (nullptr) socket";

/// The descriptor of `socket`: a `socket.socket` (anything with `fileno()`),
/// an int descriptor, or None. A closed socket (fileno() -1 or raising) is -1,
/// Qt's null socket.
pub(crate) fn socket_fd(obj: &Bound<'_, PyAny>) -> PyResult<i32> {
    if obj.is_none() {
        return Ok(-1);
    }
    if obj.is_instance_of::<pyo3::types::PyBool>() {
        return Err(PyTypeError::new_err("socket must be a socket.socket (anything with fileno()), an int or None"));
    }
    if let Ok(fd) = obj.extract::<i64>() {
        return Ok(i32::try_from(fd).unwrap_or(-1).max(-1));
    }
    match obj.getattr("fileno") {
        Ok(f) => match f.call0().and_then(|r| r.extract::<i64>()) {
            Ok(fd) => Ok(i32::try_from(fd).unwrap_or(-1).max(-1)),
            Err(_) => Ok(-1),
        },
        Err(_) => Err(PyTypeError::new_err(format!(
            "socket must be a socket.socket (anything with fileno()), an int or None, not {}",
            obj.get_type().name()?
        ))),
    }
}

/// A transport on the application's descriptor that never closes it.
pub(crate) fn transport(fd: i32) -> Option<ManuallyDrop<UdpSocket>> {
    // SAFETY: fd >= 0 is the application's open descriptor for the duration of
    // the call; ManuallyDrop keeps it from ever being closed here. A descriptor
    // that is not a UDP socket makes sends fail with an OS error, nothing worse.
    (fd >= 0).then(|| ManuallyDrop::new(unsafe { UdpSocket::from_raw_fd(fd) }))
}

/// Bytes of a datagram or payload: bytes, bytearray, memoryview, or str (UTF-8,
/// as PySide turns str into QByteArray).
pub(crate) fn to_bytes(obj: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    if let Ok(b) = obj.downcast::<PyBytes>() {
        return Ok(b.as_bytes().to_vec());
    }
    if let Ok(s) = obj.downcast::<PyString>() {
        return Ok(s.to_cow()?.as_bytes().to_vec());
    }
    if let Ok(b) = obj.downcast::<pyo3::types::PyByteArray>() {
        return Ok(b.to_vec());
    }
    match obj.py().import("builtins")?.getattr("bytes")?.call1((obj,)) {
        Ok(b) if !obj.is_instance_of::<pyo3::types::PyInt>() => Ok(b.downcast::<PyBytes>()?.as_bytes().to_vec()),
        _ => Err(PyTypeError::new_err(format!(
            "expected bytes, bytearray, memoryview or str, not {}",
            obj.get_type().name()?
        ))),
    }
}

/// An int or an enum member (Python's IntEnum, or PySide6's enums through `.value`).
pub(crate) fn to_int(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<i64> {
    if obj.is_instance_of::<pyo3::types::PyBool>() {
        return Err(PyTypeError::new_err(format!("{what}: expected an enum member or int, not bool")));
    }
    if let Ok(v) = obj.extract::<i64>() {
        return Ok(v);
    }
    if let Ok(v) = obj.getattr("value").and_then(|v| v.extract::<i64>()) {
        return Ok(v);
    }
    Err(PyTypeError::new_err(format!("{what}: expected an enum member or int, not {}", obj.get_type().name()?)))
}

/// An address: str, ipaddress.IPv4Address/IPv6Address, anything whose str()
/// is an address (QHostAddress.toString() in qdtls.pyside6), or None / "" for
/// Qt's null address. Unparseable text is a null address too, as
/// QHostAddress("garbage") is.
pub(crate) fn to_ip(obj: &Bound<'_, PyAny>) -> PyResult<Option<IpAddr>> {
    if obj.is_none() {
        return Ok(None);
    }
    let text: String = if let Ok(s) = obj.downcast::<PyString>() {
        s.to_cow()?.into_owned()
    } else if obj.hasattr("packed").unwrap_or(false) {
        obj.str()?.to_cow()?.into_owned()
    } else {
        return Err(PyTypeError::new_err(format!(
            "address must be a str, an ipaddress address or None, not {}",
            obj.get_type().name()?
        )));
    };
    let t = text.trim();
    let t = t.strip_prefix('[').and_then(|x| x.strip_suffix(']')).unwrap_or(t);
    // A scope id ("fe80::1%eth0") is not part of the address.
    let t = t.split('%').next().unwrap_or(t);
    Ok(t.parse::<IpAddr>().ok())
}

pub(crate) fn to_port(port: i64) -> PyResult<u16> {
    u16::try_from(port).map_err(|_| PyOverflowError::new_err(format!("port {port} is not in 0..65535")))
}

pub(crate) fn enum_member(py: Python<'_>, class: &str, value: i64) -> PyResult<PyObject> {
    let cls = py.import("qdtls._enums")?.getattr(class)?;
    match cls.call1((value,)) {
        Ok(m) => Ok(m.unbind()),
        Err(_) => Ok(value.into_pyobject(py)?.into_any().unbind()),
    }
}

pub(crate) fn warn(py: Python<'_>, message: &str) -> PyResult<()> {
    let cat = py.get_type::<PyRuntimeWarning>();
    PyErr::warn(py, &cat, &std::ffi::CString::new(message).unwrap_or_default(), 2)
}

pub(crate) fn split(e: Error) -> (DtlsError, String) {
    (e.kind(), e.message().to_owned())
}

/// The last error of an object, as `dtlsError()` / `dtlsErrorString()` report it.
#[derive(Default)]
pub(crate) struct LastError(Mutex<(i32, String)>);

impl LastError {
    pub(crate) fn set(&self, kind: DtlsError, message: &str) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = (kind as i32, message.to_owned());
    }
    fn clear(&self) {
        self.set(DtlsError::NoError, "")
    }
    pub(crate) fn get(&self) -> (i32, String) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
    /// Records the outcome of a call: its error, or none.
    pub(crate) fn record<T>(&self, r: Result<T, Error>) -> Option<T> {
        self.record_split(r.map_err(split))
    }
    pub(crate) fn record_split<T>(&self, r: Result<T, (DtlsError, String)>) -> Option<T> {
        match r {
            Ok(v) => {
                self.clear();
                Some(v)
            }
            Err((kind, message)) => {
                self.set(kind, &message);
                None
            }
        }
    }
}

/// A transport for calls the engine refuses before sending.
pub(crate) struct NoSend;

impl qdtls::Transport for NoSend {
    fn send(&mut self, _dgram: &[u8], _peer: SocketAddr) -> std::io::Result<()> {
        Err(std::io::Error::from(std::io::ErrorKind::NotConnected))
    }
    fn path_mtu(&mut self) -> Option<u32> {
        None
    }
}
