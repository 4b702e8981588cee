//! `qdtls._qdtls`: the native part of the Python package. It converts
//! Python values to the Rust API's and back, and delegates; no DTLS rule
//! lives here. Errors are Qt's (False or -1 and `dtlsError()`); Python
//! exceptions are raised only for arguments of the wrong type. OpenSSL work
//! runs with the GIL released.

// Qt's method and argument names are the API.
#![allow(non_snake_case)]

use std::mem::ManuallyDrop;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::FromRawFd;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pyo3::exceptions::{PyOverflowError, PyRuntimeWarning, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

use qdtls::{
    Certificate, ClientVerifier, Configuration, CookieHash, Dtls, DtlsError, Error, GeneratorParameters as RsParams,
    HandshakeState, PeerVerifyMode, Protocol, PskAuthenticator, SslError, SslErrorCode, SslMode,
};

// ---------------------------------------------------------------------------
// Conversions

/// Qt's message for a null socket (the engine's own words, which the Rust API
/// cannot be asked for without a socket).
const NULL_SOCKET: &str = "Invalid (nullptr) socket";

/// The descriptor of `socket`: a `socket.socket` (anything with `fileno()`),
/// an int descriptor, or None. A closed socket (fileno() -1 or raising) is -1,
/// Qt's null socket.
fn socket_fd(obj: &Bound<'_, PyAny>) -> PyResult<i32> {
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
fn transport(fd: i32) -> Option<ManuallyDrop<UdpSocket>> {
    // SAFETY: fd >= 0 is the application's open descriptor for the duration of
    // the call; ManuallyDrop keeps it from ever being closed here. A descriptor
    // that is not a UDP socket makes sends fail with an OS error, nothing worse.
    (fd >= 0).then(|| ManuallyDrop::new(unsafe { UdpSocket::from_raw_fd(fd) }))
}

/// Bytes of a datagram or payload: bytes, bytearray, memoryview, or str (UTF-8,
/// as PySide turns str into QByteArray).
fn to_bytes(obj: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
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
fn to_int(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<i64> {
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
fn to_ip(obj: &Bound<'_, PyAny>) -> PyResult<Option<IpAddr>> {
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

fn to_port(port: i64) -> PyResult<u16> {
    u16::try_from(port).map_err(|_| PyOverflowError::new_err(format!("port {port} is not in 0..65535")))
}

fn enum_member(py: Python<'_>, class: &str, value: i64) -> PyResult<PyObject> {
    let cls = py.import("qdtls._enums")?.getattr(class)?;
    match cls.call1((value,)) {
        Ok(m) => Ok(m.unbind()),
        Err(_) => Ok(value.into_pyobject(py)?.into_any().unbind()),
    }
}

fn warn(py: Python<'_>, message: &str) -> PyResult<()> {
    let cat = py.get_type::<PyRuntimeWarning>();
    PyErr::warn(py, &cat, &std::ffi::CString::new(message).unwrap_or_default(), 2)
}

fn split(e: Error) -> (DtlsError, String) {
    (e.kind(), e.message().to_owned())
}

/// The last error of an object, as `dtlsError()` / `dtlsErrorString()` report it.
#[derive(Default)]
struct LastError(Mutex<(i32, String)>);

impl LastError {
    fn set(&self, kind: DtlsError, message: &str) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = (kind as i32, message.to_owned());
    }
    fn clear(&self) {
        self.set(DtlsError::NoError, "")
    }
    fn get(&self) -> (i32, String) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
    /// Records the outcome of a call: its error, or none.
    fn record<T>(&self, r: Result<T, Error>) -> Option<T> {
        self.record_split(r.map_err(split))
    }
    fn record_split<T>(&self, r: Result<T, (DtlsError, String)>) -> Option<T> {
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

// ---------------------------------------------------------------------------
// QSslCertificate, QSslKey, QSslCipher, QSslError

/// An X.509 certificate (`QSslCertificate`): the peer's, or one of a
/// configuration's. A default-constructed one is null.
#[pyclass(module = "qdtls", name = "QSslCertificate", frozen, eq, hash)]
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PyCertificate {
    der: Vec<u8>,
}

impl PyCertificate {
    fn from_rs(c: &Certificate) -> PyCertificate {
        PyCertificate { der: c.to_der() }
    }
    fn to_rs(&self) -> Option<Certificate> {
        Certificate::from_der(&self.der)
    }
}

fn parse_certs(data: &[u8], format: i64) -> Vec<PyCertificate> {
    if format == 1 {
        return Certificate::from_der(data).map(|c| vec![PyCertificate::from_rs(&c)]).unwrap_or_default();
    }
    openssl::x509::X509::stack_from_pem(data)
        .map(|v| v.into_iter().map(|x| PyCertificate::from_rs(&Certificate::from(x))).collect())
        .unwrap_or_default()
}

#[pymethods]
impl PyCertificate {
    /// QSslCertificate(data=b"", format=QSsl.Pem): the first certificate in
    /// `data`, or a null certificate.
    #[new]
    #[pyo3(signature = (data = None, format = None))]
    fn new(data: Option<&Bound<'_, PyAny>>, format: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        let format = format.map(|f| to_int(f, "format")).transpose()?.unwrap_or(0);
        let data = data.map(to_bytes).transpose()?.unwrap_or_default();
        Ok(parse_certs(&data, format).into_iter().next().unwrap_or(PyCertificate { der: Vec::new() }))
    }

    /// Every certificate in `data` (PEM may hold several).
    #[staticmethod]
    #[pyo3(signature = (data, format = None))]
    fn fromData(data: &Bound<'_, PyAny>, format: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<Self>> {
        let format = format.map(|f| to_int(f, "format")).transpose()?.unwrap_or(0);
        Ok(parse_certs(&to_bytes(data)?, format))
    }

    /// Every certificate in the file at `path` (an unreadable file: none).
    #[staticmethod]
    #[pyo3(signature = (path, format = None))]
    fn fromPath(path: std::path::PathBuf, format: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<Self>> {
        let format = format.map(|f| to_int(f, "format")).transpose()?.unwrap_or(0);
        Ok(std::fs::read(path).map(|d| parse_certs(&d, format)).unwrap_or_default())
    }

    /// Whether this is the null certificate.
    fn isNull(&self) -> bool {
        self.der.is_empty()
    }

    /// The PEM encoding (empty for a null certificate).
    fn toPem<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.to_rs().map(|c| c.to_pem()).unwrap_or_default())
    }

    /// The DER encoding (empty for a null certificate).
    fn toDer<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.der)
    }

    /// The subject's common name(s).
    fn subjectDisplayName(&self) -> String {
        let Some(c) = self.to_rs() else { return String::new() };
        c.as_x509()
            .subject_name()
            .entries_by_nid(openssl::nid::Nid::COMMONNAME)
            .filter_map(|e| e.data().to_string().ok())
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn __repr__(&self) -> String {
        match self.to_rs() {
            Some(c) => format!("<QSslCertificate {:?}>", c),
            None => "<QSslCertificate null>".into(),
        }
    }
}

/// A private key (`QSslKey`), kept as PEM with its pass phrase until a
/// configuration uses it.
#[pyclass(module = "qdtls", name = "QSslKey", frozen)]
#[derive(Clone)]
pub struct PyKey {
    pem: Vec<u8>,
    passphrase: Vec<u8>,
}

#[pymethods]
impl PyKey {
    /// QSslKey(encoded=b"", algorithm=QSsl.Rsa, format=QSsl.Pem,
    /// type=QSsl.PrivateKey, passPhrase=b""). The algorithm is read from the
    /// key itself; only private keys are supported. An unreadable key is null.
    #[new]
    #[pyo3(signature = (encoded = None, algorithm = None, format = None, r#type = None, passPhrase = None))]
    fn new(
        encoded: Option<&Bound<'_, PyAny>>,
        algorithm: Option<&Bound<'_, PyAny>>,
        format: Option<&Bound<'_, PyAny>>,
        r#type: Option<&Bound<'_, PyAny>>,
        passPhrase: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let _ = algorithm.map(|a| to_int(a, "algorithm")).transpose()?;
        let format = format.map(|f| to_int(f, "format")).transpose()?.unwrap_or(0);
        let kind = r#type.map(|t| to_int(t, "type")).transpose()?.unwrap_or(0);
        let data = encoded.map(to_bytes).transpose()?.unwrap_or_default();
        let passphrase = passPhrase.map(to_bytes).transpose()?.unwrap_or_default();
        let null = PyKey { pem: Vec::new(), passphrase: Vec::new() };
        if kind != 0 || data.is_empty() {
            return Ok(null);
        }
        let pkey = if format == 1 {
            openssl::pkey::PKey::private_key_from_der(&data)
        } else {
            openssl::pkey::PKey::private_key_from_pem_passphrase(&data, &passphrase)
        };
        Ok(match pkey {
            Ok(k) if format == 1 => PyKey { pem: k.private_key_to_pem_pkcs8().unwrap_or_default(), passphrase: Vec::new() },
            Ok(_) => PyKey { pem: data, passphrase },
            Err(_) => null,
        })
    }

    /// Whether the key could not be read (or none was given).
    fn isNull(&self) -> bool {
        self.pem.is_empty()
    }

    /// The key as PEM (as given; encrypted if it was).
    fn toPem<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.pem)
    }

    fn __repr__(&self) -> String {
        format!("<QSslKey {}>", if self.pem.is_empty() { "null" } else { "private" })
    }
}

/// A cipher suite (`QSslCipher`): OpenSSL's name for it.
#[pyclass(module = "qdtls", name = "QSslCipher", frozen, eq, hash)]
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PyCipher {
    name: String,
}

#[pymethods]
impl PyCipher {
    /// QSslCipher(name=""): the named suite; an empty name is the null cipher.
    #[new]
    #[pyo3(signature = (name = String::new()))]
    fn new(name: String) -> Self {
        PyCipher { name }
    }
    /// OpenSSL's name of the suite.
    fn name(&self) -> String {
        self.name.clone()
    }
    /// Whether this is the null cipher (no session yet).
    fn isNull(&self) -> bool {
        self.name.is_empty()
    }
    fn __repr__(&self) -> String {
        format!("<QSslCipher {:?}>", self.name)
    }
}

/// One peer verification error (`QSslError`): the code and the certificate
/// it concerns, if any.
#[pyclass(module = "qdtls", name = "QSslError", frozen, eq, hash)]
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PySslError {
    code: i64,
    certificate: Option<PyCertificate>,
}

impl PySslError {
    fn from_rs(e: &SslError) -> Self {
        PySslError { code: e.code as i64, certificate: e.certificate.as_ref().map(PyCertificate::from_rs) }
    }
    fn to_rs(&self) -> SslError {
        SslError {
            code: SslErrorCode::from_i32(self.code as i32).unwrap_or(SslErrorCode::UnspecifiedError),
            certificate: self.certificate.as_ref().and_then(|c| c.to_rs()),
        }
    }
}

#[pymethods]
impl PySslError {
    /// QSslError(error=QSslError.NoError, certificate=None).
    #[new]
    #[pyo3(signature = (error = None, certificate = None))]
    fn new(error: Option<&Bound<'_, PyAny>>, certificate: Option<PyCertificate>) -> PyResult<Self> {
        let code = error.map(|e| to_int(e, "error")).transpose()?.unwrap_or(0);
        Ok(PySslError { code, certificate: certificate.filter(|c| !c.der.is_empty()) })
    }
    /// The code (a `QSslError.SslError` member).
    fn error(&self, py: Python<'_>) -> PyResult<PyObject> {
        enum_member(py, "SslErrorCode", self.code)
    }
    /// The certificate concerned (a null certificate when none).
    fn certificate(&self) -> PyCertificate {
        self.certificate.clone().unwrap_or(PyCertificate { der: Vec::new() })
    }
    /// A description of the error.
    fn errorString(&self, py: Python<'_>) -> PyResult<String> {
        py.import("qdtls._enums")?.getattr("ssl_error_string")?.call1((self.code,))?.extract()
    }
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let e = enum_member(py, "SslErrorCode", self.code)?;
        Ok(format!("<QSslError {}>", e.bind(py).str()?))
    }
}

// ---------------------------------------------------------------------------
// QSslConfiguration

/// The DTLS part of `QSslConfiguration`: protocol, peer verification, local
/// certificate and key, trusted CAs, ciphers, cookie verification, PSK
/// identity hint, ALPN. A value: copies are independent.
#[pyclass(module = "qdtls", name = "QSslConfiguration")]
#[derive(Clone)]
pub struct PyConfiguration {
    inner: Configuration,
    key: Option<PyKey>,
    peer_chain: Vec<PyCertificate>,
}

fn cert_list(obj: &Bound<'_, PyAny>) -> PyResult<Vec<PyCertificate>> {
    if let Ok(c) = obj.extract::<PyCertificate>() {
        return Ok(vec![c]);
    }
    if obj.is_instance_of::<PyBytes>() || obj.is_instance_of::<PyString>() {
        return Ok(parse_certs(&to_bytes(obj)?, 0));
    }
    obj.try_iter()
        .map_err(|_| PyTypeError::new_err("expected a QSslCertificate or a list of them"))?
        .map(|c| c.and_then(|c| c.extract::<PyCertificate>()))
        .collect()
}

fn pem_of(certs: &[PyCertificate]) -> Vec<u8> {
    certs.iter().filter_map(|c| c.to_rs()).flat_map(|c| c.to_pem()).collect()
}

#[pymethods]
impl PyConfiguration {
    /// QSslConfiguration(): a copy of the default DTLS configuration
    /// (Qt's plain QSslConfiguration() is a TLS one; for DTLS they agree).
    #[new]
    fn new() -> Self {
        PyConfiguration { inner: Configuration::new(), key: None, peer_chain: Vec::new() }
    }

    /// A copy of the default DTLS configuration: DTLS 1.2 or later,
    /// AutoVerifyPeer, cookie verification on, the system's CAs.
    #[staticmethod]
    fn defaultDtlsConfiguration() -> Self {
        Self::new()
    }

    /// Makes `configuration` the default for objects created afterwards.
    #[staticmethod]
    fn setDefaultDtlsConfiguration(configuration: &PyConfiguration) {
        configuration.inner.set_default()
    }

    fn __copy__(&self) -> Self {
        self.clone()
    }

    fn __deepcopy__(&self, _memo: &Bound<'_, PyAny>) -> Self {
        self.clone()
    }

    /// The protocol versions allowed (`QSsl.SslProtocol`).
    fn protocol(&self, py: Python<'_>) -> PyResult<PyObject> {
        enum_member(py, "SslProtocol", self.inner.protocol() as i64)
    }

    /// Sets the protocol versions allowed; a non-DTLS value makes the
    /// handshake fail with TlsInitializationError, as in Qt.
    fn setProtocol(&mut self, protocol: &Bound<'_, PyAny>) -> PyResult<()> {
        let p = to_int(protocol, "protocol")?;
        self.inner.set_protocol(i32::try_from(p).ok().and_then(Protocol::from_i32).unwrap_or(Protocol::Unknown));
        Ok(())
    }

    /// Whether and how the peer's certificate is requested and verified.
    fn peerVerifyMode(&self, py: Python<'_>) -> PyResult<PyObject> {
        enum_member(py, "PeerVerifyMode", self.inner.peer_verify_mode() as i64)
    }

    /// Sets the peer verify mode (`PeerVerifyMode`).
    fn setPeerVerifyMode(&mut self, mode: &Bound<'_, PyAny>) -> PyResult<()> {
        let m = to_int(mode, "mode")?;
        let mode = match m {
            0 => PeerVerifyMode::VerifyNone,
            1 => PeerVerifyMode::QueryPeer,
            2 => PeerVerifyMode::VerifyPeer,
            3 => PeerVerifyMode::AutoVerifyPeer,
            _ => return Err(PyTypeError::new_err(format!("mode: {m} is not a PeerVerifyMode"))),
        };
        self.inner.set_peer_verify_mode(mode);
        Ok(())
    }

    /// The maximum length of the peer's chain; 0: no limit.
    fn peerVerifyDepth(&self) -> u32 {
        self.inner.peer_verify_depth()
    }

    /// Sets the maximum length of the peer's chain (a negative depth is
    /// ignored, as in Qt).
    fn setPeerVerifyDepth(&mut self, py: Python<'_>, depth: i64) -> PyResult<()> {
        match u32::try_from(depth).ok().map(|d| self.inner.set_peer_verify_depth(d)) {
            Some(Ok(())) => Ok(()),
            _ => warn(py, &format!("QSslConfiguration.setPeerVerifyDepth: invalid depth {depth} ignored")),
        }
    }

    /// The local certificate (null if none).
    fn localCertificate(&self) -> PyCertificate {
        self.localCertificateChain().into_iter().next().unwrap_or(PyCertificate { der: Vec::new() })
    }

    /// Sets the local certificate (replacing the chain).
    fn setLocalCertificate(&mut self, py: Python<'_>, certificate: PyCertificate) -> PyResult<()> {
        self.set_chain(py, &[certificate])
    }

    /// The local certificate and the rest of its chain.
    fn localCertificateChain(&self) -> Vec<PyCertificate> {
        self.inner.local_certificate_chain().iter().map(PyCertificate::from_rs).collect()
    }

    /// Sets the local certificate and its chain, leaf first.
    fn setLocalCertificateChain(&mut self, py: Python<'_>, chain: &Bound<'_, PyAny>) -> PyResult<()> {
        let chain = cert_list(chain)?;
        self.set_chain(py, &chain)
    }

    /// The private key (null if none).
    fn privateKey(&self) -> PyKey {
        self.key.clone().unwrap_or(PyKey { pem: Vec::new(), passphrase: Vec::new() })
    }

    /// Sets the private key; a null key removes it.
    fn setPrivateKey(&mut self, py: Python<'_>, key: PyKey) -> PyResult<()> {
        let pass = (!key.passphrase.is_empty()).then_some(key.passphrase.as_slice());
        match self.inner.set_private_key_pem(&key.pem, pass) {
            Ok(()) => {
                self.key = (!key.pem.is_empty()).then_some(key);
                Ok(())
            }
            Err(e) => warn(py, &format!("QSslConfiguration.setPrivateKey: {}", e.message())),
        }
    }

    /// The CA certificates added; an empty list means the system's trust store.
    fn caCertificates(&self) -> Vec<PyCertificate> {
        self.inner.ca_certificates().iter().map(PyCertificate::from_rs).collect()
    }

    /// Trusts exactly `certificates` (an empty list: the system's trust store).
    fn setCaCertificates(&mut self, py: Python<'_>, certificates: &Bound<'_, PyAny>) -> PyResult<()> {
        let certs = cert_list(certificates)?;
        self.inner.clear_ca_certificates();
        self.add_cas(py, &certs)
    }

    /// Adds CA certificates: a list of QSslCertificate, one, or PEM bytes.
    fn addCaCertificates(&mut self, py: Python<'_>, certificates: &Bound<'_, PyAny>) -> PyResult<()> {
        let certs = cert_list(certificates)?;
        self.add_cas(py, &certs)
    }

    /// Adds one CA certificate.
    fn addCaCertificate(&mut self, py: Python<'_>, certificate: PyCertificate) -> PyResult<()> {
        self.add_cas(py, &[certificate])
    }

    /// The cipher suites set (empty: the library's DTLS default list).
    fn ciphers(&self) -> Vec<PyCipher> {
        self.inner
            .ciphers()
            .map(|s| s.split(':').filter(|n| !n.is_empty()).map(|n| PyCipher { name: n.into() }).collect())
            .unwrap_or_default()
    }

    /// Sets the cipher suites: an OpenSSL cipher string ("A:B") or a list of
    /// QSslCipher or names; an empty list restores the default. A list
    /// OpenSSL rejects leaves the ciphers unchanged (with a RuntimeWarning).
    fn setCiphers(&mut self, py: Python<'_>, ciphers: &Bound<'_, PyAny>) -> PyResult<()> {
        let names: Vec<String> = if let Ok(s) = ciphers.downcast::<PyString>() {
            vec![s.to_cow()?.into_owned()]
        } else {
            ciphers
                .try_iter()
                .map_err(|_| PyTypeError::new_err("ciphers: expected a str or a list of QSslCipher"))?
                .map(|c| {
                    let c = c?;
                    match c.extract::<PyCipher>() {
                        Ok(c) => Ok(c.name),
                        Err(_) => c.extract::<String>(),
                    }
                })
                .collect::<PyResult<_>>()?
        };
        let list = names.join(":");
        let r = self.inner.set_ciphers(if list.is_empty() { None } else { Some(&list) });
        match r {
            Ok(()) => Ok(()),
            Err(e) => warn(py, &format!("QSslConfiguration.setCiphers: {}", e.message())),
        }
    }

    /// Whether a server answers a cookie-less ClientHello with a HelloVerifyRequest.
    fn dtlsCookieVerificationEnabled(&self) -> bool {
        self.inner.dtls_cookie_verification_enabled()
    }

    /// Turns the server's cookie exchange on or off.
    fn setDtlsCookieVerificationEnabled(&mut self, enable: bool) {
        self.inner.set_dtls_cookie_verification_enabled(enable)
    }

    /// The PSK identity hint a server sends.
    fn preSharedKeyIdentityHint<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.pre_shared_key_identity_hint())
    }

    /// Sets the PSK identity hint a server sends (no NUL bytes).
    fn setPreSharedKeyIdentityHint(&mut self, py: Python<'_>, hint: &Bound<'_, PyAny>) -> PyResult<()> {
        let hint = to_bytes(hint)?;
        match self.inner.set_pre_shared_key_identity_hint(&hint) {
            Ok(()) => Ok(()),
            Err(e) => warn(py, &format!("QSslConfiguration.setPreSharedKeyIdentityHint: {}", e.message())),
        }
    }

    /// The ALPN protocols, most preferred first.
    fn allowedNextProtocols<'py>(&self, py: Python<'py>) -> Vec<Bound<'py, PyBytes>> {
        self.inner.allowed_next_protocols().iter().map(|p| PyBytes::new(py, p)).collect()
    }

    /// Sets the ALPN protocols (each 1 to 255 bytes).
    fn setAllowedNextProtocols(&mut self, py: Python<'_>, protocols: &Bound<'_, PyAny>) -> PyResult<()> {
        let list: Vec<Vec<u8>> = protocols
            .try_iter()
            .map_err(|_| PyTypeError::new_err("protocols: expected a list of bytes"))?
            .map(|p| to_bytes(&p?))
            .collect::<PyResult<_>>()?;
        match self.inner.set_allowed_next_protocols(&list) {
            Ok(()) => Ok(()),
            Err(e) => warn(py, &format!("QSslConfiguration.setAllowedNextProtocols: {}", e.message())),
        }
    }

    /// Sets an `QSsl.SslOption`; only SslOptionDisableServerCipherPreference
    /// (0x80) means anything for DTLS, the others are ignored.
    fn setSslOption(&mut self, option: &Bound<'_, PyAny>, on: bool) -> PyResult<()> {
        if to_int(option, "option")? == 0x80 {
            self.inner.set_server_cipher_preference(!on);
        }
        Ok(())
    }

    /// Whether an `QSsl.SslOption` is set (only SslOptionDisableServerCipherPreference is known).
    fn testSslOption(&self, option: &Bound<'_, PyAny>) -> PyResult<bool> {
        Ok(to_int(option, "option")? == 0x80 && !self.inner.server_cipher_preference())
    }

    /// The peer's certificate (in a configuration from `QDtls.dtlsConfiguration()`
    /// after a handshake; null otherwise).
    fn peerCertificate(&self) -> PyCertificate {
        self.peer_chain.first().cloned().unwrap_or(PyCertificate { der: Vec::new() })
    }

    /// The peer's certificate chain, leaf first.
    fn peerCertificateChain(&self) -> Vec<PyCertificate> {
        self.peer_chain.clone()
    }

    fn __repr__(&self) -> String {
        format!("<QSslConfiguration {:?}>", self.inner)
    }
}

impl PyConfiguration {
    fn set_chain(&mut self, py: Python<'_>, chain: &[PyCertificate]) -> PyResult<()> {
        match self.inner.set_local_certificate_chain_pem(&pem_of(chain)) {
            Ok(()) => Ok(()),
            Err(e) => warn(py, &format!("QSslConfiguration.setLocalCertificateChain: {}", e.message())),
        }
    }
    fn add_cas(&mut self, py: Python<'_>, certs: &[PyCertificate]) -> PyResult<()> {
        let pem = pem_of(certs);
        if pem.is_empty() {
            return Ok(());
        }
        match self.inner.add_ca_certificates_pem(&pem) {
            Ok(()) => Ok(()),
            Err(e) => warn(py, &format!("QSslConfiguration.addCaCertificates: {}", e.message())),
        }
    }
}

// ---------------------------------------------------------------------------
// QSslPreSharedKeyAuthenticator

/// What a PSK handshake needs from the application (`QSslPreSharedKeyAuthenticator`):
/// handed to `pskRequired` handlers, which set the identity (client) and the
/// key (both sides). Only what is set inside the handler is used.
#[pyclass(module = "qdtls", name = "QSslPreSharedKeyAuthenticator")]
#[derive(Clone, Default)]
pub struct PyPsk {
    identity_hint: Vec<u8>,
    identity: Vec<u8>,
    key: Vec<u8>,
    max_identity: usize,
    max_key: usize,
    identity_set: bool,
    key_set: bool,
}

#[pymethods]
impl PyPsk {
    /// An empty authenticator (QDtls makes the ones it hands out).
    #[new]
    fn new() -> Self {
        PyPsk::default()
    }
    /// The server's identity hint (client side) or the configured hint (server side).
    fn identityHint<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.identity_hint)
    }
    /// The identity: the one to send (client), the client's (server).
    fn identity<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.identity)
    }
    /// Sets the identity the client sends (truncated to maximumIdentityLength()).
    fn setIdentity(&mut self, identity: &Bound<'_, PyAny>) -> PyResult<()> {
        self.identity = to_bytes(identity)?;
        self.identity_set = true;
        Ok(())
    }
    /// The pre-shared key set so far.
    fn preSharedKey<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.key)
    }
    /// Sets the key (truncated to maximumPreSharedKeyLength()); an empty key fails the handshake.
    fn setPreSharedKey(&mut self, key: &Bound<'_, PyAny>) -> PyResult<()> {
        self.key = to_bytes(key)?;
        self.key_set = true;
        Ok(())
    }
    /// The longest identity the client may send (0 on the server side).
    fn maximumIdentityLength(&self) -> usize {
        self.max_identity
    }
    /// The longest key that can be used.
    fn maximumPreSharedKeyLength(&self) -> usize {
        self.max_key
    }
    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other.extract::<PyPsk>().is_ok_and(|o| {
            (&o.identity_hint, &o.identity, &o.key, o.max_identity, o.max_key)
                == (&self.identity_hint, &self.identity, &self.key, self.max_identity, self.max_key)
        })
    }
}

type Handler = Arc<Mutex<Option<PyObject>>>;

/// Runs the Python PSK handler for the engine's authenticator: copies in,
/// calls, copies back what the handler set. An exception in the handler is
/// reported as unraisable and sets nothing (the handshake then fails).
fn run_psk(handler: &Handler, auth: &mut PskAuthenticator) {
    Python::with_gil(|py| {
        let Some(h) = handler.lock().unwrap_or_else(|e| e.into_inner()).as_ref().map(|h| h.clone_ref(py)) else {
            return;
        };
        let value = PyPsk {
            identity_hint: auth.identity_hint().to_vec(),
            identity: auth.identity().to_vec(),
            key: Vec::new(),
            max_identity: auth.maximum_identity_length(),
            max_key: auth.maximum_pre_shared_key_length(),
            identity_set: false,
            key_set: false,
        };
        let obj = match Py::new(py, value) {
            Ok(o) => o,
            Err(e) => return e.write_unraisable(py, None),
        };
        if let Err(e) = h.call1(py, (obj.clone_ref(py),)) {
            return e.write_unraisable(py, Some(h.bind(py)));
        }
        let mut set = obj.borrow_mut(py);
        if set.identity_set {
            auth.set_identity(&set.identity);
        }
        if set.key_set {
            auth.set_pre_shared_key(&set.key);
        }
        set.key.fill(0);
    })
}

// ---------------------------------------------------------------------------
// QDtls

/// One DTLS connection (`QDtls`): the client or server side of a session with
/// one peer, driven by the application, which reads its own UDP socket and
/// passes each datagram in. The Python class `qdtls.QDtls` adds the signals.
#[pyclass(module = "qdtls", name = "_QDtls", subclass, frozen)]
pub struct PyDtls {
    dtls: Dtls,
    error: LastError,
    psk: Handler,
    key: Mutex<Option<PyKey>>,
}

impl PyDtls {
    /// Runs `f` on the socket's transport without the GIL; a null socket is
    /// Qt's InvalidInputParameters.
    fn on_socket<T: Send>(
        &self,
        py: Python<'_>,
        socket: &Bound<'_, PyAny>,
        f: impl FnOnce(&Dtls, &mut UdpSocket) -> Result<T, Error> + Send,
    ) -> PyResult<Option<T>> {
        let fd = socket_fd(socket)?;
        let Some(mut t) = transport(fd) else {
            self.error.set(DtlsError::InvalidInputParameters, NULL_SOCKET);
            return Ok(None);
        };
        let r = py.allow_threads(|| f(&self.dtls, &mut t));
        Ok(self.error.record(r))
    }
}

#[pymethods]
impl PyDtls {
    #[new]
    #[pyo3(signature = (mode, parent = None))]
    fn new(mode: &Bound<'_, PyAny>, parent: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        let _ = parent;
        let mode = match to_int(mode, "mode")? {
            1 => SslMode::Client,
            2 => SslMode::Server,
            m => return Err(PyTypeError::new_err(format!("mode: {m} is not SslClientMode (1) or SslServerMode (2)"))),
        };
        let dtls = Dtls::new(mode);
        let psk: Handler = Arc::default();
        let h = psk.clone();
        dtls.set_psk_callback(move |auth| run_psk(&h, auth));
        Ok(PyDtls { dtls, error: LastError::default(), psk, key: Mutex::new(None) })
    }

    /// Sets the callable that receives each QSslPreSharedKeyAuthenticator
    /// (qdtls.QDtls connects it to its pskRequired signal).
    fn _setPskHandler(&self, handler: Option<PyObject>) {
        *self.psk.lock().unwrap_or_else(|e| e.into_inner()) = handler;
    }

    /// SslClientMode or SslServerMode.
    fn sslMode(&self, py: Python<'_>) -> PyResult<PyObject> {
        enum_member(py, "SslMode", self.dtls.ssl_mode() as i64)
    }

    /// Sets the peer's address and port and the name its certificate is
    /// verified against. Only before the handshake; a null (or unparseable),
    /// broadcast or multicast address fails with InvalidInputParameters.
    #[pyo3(signature = (address, port, verificationName = String::new()))]
    fn setPeer(&self, py: Python<'_>, address: &Bound<'_, PyAny>, port: i64, verificationName: String) -> PyResult<bool> {
        let ip = to_ip(address)?;
        let port = to_port(port)?;
        let r = py.allow_threads(|| match ip {
            Some(ip) => self.dtls.set_peer(SocketAddr::new(ip, port), &verificationName).map_err(split),
            // Qt's null address. A multicast stand-in gets the engine's checks
            // in Qt's order (a started handshake first) and is never stored.
            None => match self.dtls.set_peer(SocketAddr::new(IpAddr::from([224, 0, 0, 1]), port), &verificationName) {
                Err(e) if e.kind() == DtlsError::InvalidInputParameters => {
                    Err((DtlsError::InvalidInputParameters, "Invalid address".to_owned()))
                }
                r => r.map_err(split),
            },
        });
        Ok(self.error.record_split(r).is_some())
    }

    /// The peer's address as text ("" until set).
    fn peerAddress(&self) -> String {
        self.dtls.peer_address().map(|a| a.ip().to_string()).unwrap_or_default()
    }

    /// The peer's port (0 until set).
    fn peerPort(&self) -> u16 {
        self.dtls.peer_address().map(|a| a.port()).unwrap_or(0)
    }

    /// The name the peer's certificate is verified against.
    fn peerVerificationName(&self) -> String {
        self.dtls.peer_verification_name()
    }

    /// Sets the name the peer's certificate is verified against. Only before the handshake.
    fn setPeerVerificationName(&self, py: Python<'_>, name: String) -> bool {
        let r = py.allow_threads(|| self.dtls.set_peer_verification_name(&name));
        self.error.record(r).is_some()
    }

    /// The MTU hint (0: not set).
    fn mtuHint(&self) -> u16 {
        self.dtls.mtu_hint()
    }

    /// Sets the MTU used for handshake messages (0: unset; values above
    /// 65535 are clamped).
    fn setMtuHint(&self, py: Python<'_>, mtuHint: i64) {
        let mtu = mtuHint.clamp(0, u16::MAX as i64) as u16;
        py.allow_threads(|| self.dtls.set_mtu_hint(mtu))
    }

    /// The configuration in use (after a handshake, with the peer's certificates).
    fn dtlsConfiguration(&self) -> PyConfiguration {
        PyConfiguration {
            inner: self.dtls.dtls_configuration(),
            key: self.key.lock().unwrap_or_else(|e| e.into_inner()).clone(),
            peer_chain: self.dtls.peer_certificate_chain().iter().map(PyCertificate::from_rs).collect(),
        }
    }

    /// Uses a copy of `configuration` from the next handshake on. Only before the handshake.
    fn setDtlsConfiguration(&self, py: Python<'_>, configuration: PyRef<'_, PyConfiguration>) -> bool {
        let (cfg, key) = (configuration.inner.clone(), configuration.key.clone());
        drop(configuration);
        let r = py.allow_threads(|| self.dtls.set_dtls_configuration(&cfg));
        let ok = self.error.record(r).is_some();
        if ok {
            *self.key.lock().unwrap_or_else(|e| e.into_inner()) = key;
        }
        ok
    }

    /// The server's cookie parameters.
    fn cookieGeneratorParameters(&self) -> PyParams {
        PyParams::from_rs(&self.dtls.cookie_generator_parameters())
    }

    /// Sets the server's cookie parameters (an empty secret fails with
    /// InvalidInputParameters). Returns True on success (Qt returns False
    /// even then).
    fn setCookieGeneratorParameters(&self, py: Python<'_>, params: PyParams) -> PyResult<bool> {
        let p = params.to_rs()?;
        let r = py.allow_threads(|| self.dtls.set_cookie_generator_parameters(&p));
        Ok(self.error.record(r).is_some())
    }

    /// Sets the first retransmission timeout in ms, 1 to 60000 (Qt: fixed at 1000).
    fn setInitialTimeoutMs(&self, py: Python<'_>, ms: i64) -> bool {
        // Out of range (0, negative, above 60000) is refused by the engine.
        let d = Duration::from_millis(ms.clamp(0, u32::MAX as i64) as u64);
        let r = py.allow_threads(|| self.dtls.set_initial_timeout(d));
        self.error.record(r).is_some()
    }

    /// Starts (client: `dgram` empty; server: the verified ClientHello) or
    /// continues the handshake. True means no error so far: check handshakeState().
    #[pyo3(signature = (socket, dgram = None))]
    fn doHandshake(&self, py: Python<'_>, socket: &Bound<'_, PyAny>, dgram: Option<&Bound<'_, PyAny>>) -> PyResult<bool> {
        let dgram = dgram.map(to_bytes).transpose()?.unwrap_or_default();
        let fd = socket_fd(socket)?;
        if fd < 0 && matches!(self.dtls.handshake_state(), HandshakeState::Complete | HandshakeState::PeerVerificationFailed)
        {
            // Qt refuses these states before looking at the socket: the engine
            // says so without sending anything.
            let r = py.allow_threads(|| self.dtls.do_handshake(&mut NoSend, &dgram));
            return Ok(self.error.record(r).is_some());
        }
        Ok(self.on_socket(py, socket, |d, t| d.do_handshake(t, &dgram))?.is_some())
    }

    /// Where the handshake is (a `QDtls.HandshakeState`).
    fn handshakeState(&self, py: Python<'_>) -> PyResult<PyObject> {
        enum_member(py, "HandshakeState", self.dtls.handshake_state() as i64)
    }

    /// Milliseconds until handleTimeout() is due: 0 now, -1 when no
    /// retransmission timer runs. qdtls.QDtls's handshakeTimeout is emitted
    /// by whoever runs the timer (qdtls.asyncio, qdtls.pyside6).
    fn nextTimeoutMs(&self, py: Python<'_>) -> i64 {
        match py.allow_threads(|| self.dtls.next_timeout()) {
            Some(d) => d.as_millis().min(i64::MAX as u128) as i64,
            None => -1,
        }
    }

    /// Retransmits the last flight if its timer is due; True if it did.
    /// After OpenSSL's retransmission limit: False and TlsFatalError.
    fn handleTimeout(&self, py: Python<'_>, socket: &Bound<'_, PyAny>) -> PyResult<bool> {
        Ok(self.on_socket(py, socket, |d, t| d.handle_timeout(t))?.unwrap_or(false))
    }

    /// After PeerVerificationError: completes the handshake when every
    /// error was ignored. Otherwise False, and as in Qt no error is set.
    fn resumeHandshake(&self, py: Python<'_>, socket: &Bound<'_, PyAny>) -> PyResult<bool> {
        let r = self.on_socket(py, socket, |d, t| {
            let state = d.handshake_state();
            match d.resume_handshake(t) {
                // The Rust API reports "not every error ignored" as an error; Qt does not.
                Err(e) if e.kind() == DtlsError::PeerVerificationError
                    && state == HandshakeState::PeerVerificationFailed =>
                {
                    Ok(false)
                }
                r => r.map(|_| true),
            }
        })?;
        Ok(r.unwrap_or(false))
    }

    /// Ends a handshake in progress or one that failed verification.
    fn abortHandshake(&self, py: Python<'_>, socket: &Bound<'_, PyAny>) -> PyResult<bool> {
        Ok(self.on_socket(py, socket, |d, t| d.abort_handshake(t))?.is_some())
    }

    /// Sends close_notify and ends the session (state back to HandshakeNotStarted).
    fn shutdown(&self, py: Python<'_>, socket: &Bound<'_, PyAny>) -> PyResult<bool> {
        Ok(self.on_socket(py, socket, |d, t| d.shutdown(t))?.is_some())
    }

    /// Whether the handshake completed and the session is open.
    fn isConnectionEncrypted(&self) -> bool {
        self.dtls.is_connection_encrypted()
    }

    /// The negotiated cipher (a null QSslCipher until encrypted).
    fn sessionCipher(&self) -> PyCipher {
        PyCipher { name: self.dtls.session_cipher().unwrap_or_default().to_owned() }
    }

    /// The negotiated protocol (`QSsl.UnknownProtocol` until encrypted).
    fn sessionProtocol(&self, py: Python<'_>) -> PyResult<PyObject> {
        enum_member(py, "SslProtocol", self.dtls.session_protocol() as i64)
    }

    /// The largest payload one datagram can carry (0 unless encrypted).
    fn maxPayloadSize(&self) -> usize {
        self.dtls.max_payload_size()
    }

    /// Encrypts `dgram` into one datagram and sends it: the plaintext length,
    /// or -1 and dtlsError().
    #[pyo3(signature = (socket, dgram))]
    fn writeDatagramEncrypted(&self, py: Python<'_>, socket: &Bound<'_, PyAny>, dgram: &Bound<'_, PyAny>) -> PyResult<i64> {
        let data = to_bytes(dgram)?;
        Ok(self.on_socket(py, socket, |d, t| d.write_datagram_encrypted(t, &data))?.map(|n| n as i64).unwrap_or(-1))
    }

    /// Decrypts a datagram from the peer: the plaintext; b"" for a replay, a
    /// duplicate or a record without data, and b"" with dtlsError() set on
    /// failure (RemoteClosedConnectionError for the peer's close_notify).
    fn decryptDatagram<'py>(
        &self,
        py: Python<'py>,
        socket: &Bound<'py, PyAny>,
        dgram: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let data = to_bytes(dgram)?;
        let out = self.on_socket(py, socket, |d, t| d.decrypt_datagram(t, &data))?.unwrap_or_default();
        Ok(PyBytes::new(py, &out))
    }

    /// The last error (a `QDtlsError`), NoError after a successful call.
    fn dtlsError(&self, py: Python<'_>) -> PyResult<PyObject> {
        enum_member(py, "QDtlsError", self.error.get().0 as i64)
    }

    /// The last error's description ("" after a successful call).
    fn dtlsErrorString(&self) -> String {
        self.error.get().1
    }

    /// The verification errors of the last handshake, in Qt's order.
    fn peerVerificationErrors(&self) -> Vec<PySslError> {
        self.dtls.peer_verification_errors().iter().map(PySslError::from_rs).collect()
    }

    /// Errors to accept (replaces the previous list; an entry whose
    /// certificate is null matches that code for any certificate).
    fn ignoreVerificationErrors(&self, py: Python<'_>, errorsToIgnore: &Bound<'_, PyAny>) -> PyResult<()> {
        let list: Vec<SslError> = errorsToIgnore
            .try_iter()
            .map_err(|_| PyTypeError::new_err("errorsToIgnore: expected a list of QSslError"))?
            .map(|e| e.and_then(|e| e.extract::<PySslError>()).map(|e| e.to_rs()))
            .collect::<PyResult<_>>()?;
        py.allow_threads(|| self.dtls.ignore_verification_errors(&list));
        Ok(())
    }

    /// The peer's certificate once the handshake got that far (else null).
    fn peerCertificate(&self) -> PyCertificate {
        self.dtls.peer_certificate().map(|c| PyCertificate::from_rs(&c)).unwrap_or(PyCertificate { der: Vec::new() })
    }

    /// The peer's certificate chain, leaf first.
    fn peerCertificateChain(&self) -> Vec<PyCertificate> {
        self.dtls.peer_certificate_chain().iter().map(PyCertificate::from_rs).collect()
    }
}

/// A transport for calls the engine refuses before sending.
struct NoSend;

impl qdtls::Transport for NoSend {
    fn send(&mut self, _dgram: &[u8], _peer: SocketAddr) -> std::io::Result<()> {
        Err(std::io::Error::from(std::io::ErrorKind::NotConnected))
    }
    fn path_mtu(&mut self) -> Option<u32> {
        None
    }
}

// ---------------------------------------------------------------------------
// QDtlsClientVerifier

/// The cookie HMAC's hash and secret (`QDtlsClientVerifier.GeneratorParameters`).
#[pyclass(module = "qdtls", name = "GeneratorParameters", eq)]
#[derive(Clone, PartialEq, Eq)]
pub struct PyParams {
    hash: i64,
    secret: Vec<u8>,
}

impl PyParams {
    fn from_rs(p: &RsParams) -> PyParams {
        PyParams { hash: p.hash as i64, secret: p.secret.clone() }
    }
    fn to_rs(&self) -> PyResult<RsParams> {
        let hash = i32::try_from(self.hash).ok().and_then(CookieHash::from_i32);
        Ok(match hash {
            Some(hash) => RsParams::new(hash, &self.secret),
            // A hash this library does not know: an empty secret gets the
            // engine's own refusal of bad parameters (old ones kept).
            None => RsParams::new(CookieHash::Sha256, &[]),
        })
    }
}

#[pymethods]
impl PyParams {
    /// GeneratorParameters(algorithm=QCryptographicHash.Sha256, secret=b"").
    #[new]
    #[pyo3(signature = (algorithm = None, secret = None))]
    fn new(algorithm: Option<&Bound<'_, PyAny>>, secret: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        let hash = algorithm.map(|a| to_int(a, "algorithm")).transpose()?.unwrap_or(4);
        Ok(PyParams { hash, secret: secret.map(to_bytes).transpose()?.unwrap_or_default() })
    }
    /// The hash (a `QCryptographicHash.Algorithm`).
    #[getter]
    fn get_hash(&self, py: Python<'_>) -> PyResult<PyObject> {
        enum_member(py, "Algorithm", self.hash)
    }
    #[setter]
    fn set_hash(&mut self, value: &Bound<'_, PyAny>) -> PyResult<()> {
        self.hash = to_int(value, "hash")?;
        Ok(())
    }
    /// The HMAC key.
    #[getter]
    fn get_secret<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.secret)
    }
    #[setter]
    fn set_secret(&mut self, value: &Bound<'_, PyAny>) -> PyResult<()> {
        self.secret = to_bytes(value)?;
        Ok(())
    }
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!("<GeneratorParameters hash={}>", enum_member(py, "Algorithm", self.hash)?.bind(py).str()?))
    }
}

/// The stateless cookie exchange in front of a DTLS server (`QDtlsClientVerifier`).
#[pyclass(module = "qdtls", name = "QDtlsClientVerifier", subclass, frozen)]
pub struct PyVerifier {
    inner: ClientVerifier,
    error: LastError,
}

#[pymethods]
impl PyVerifier {
    #[new]
    #[pyo3(signature = (parent = None))]
    fn new(parent: Option<&Bound<'_, PyAny>>) -> Self {
        let _ = parent;
        PyVerifier { inner: ClientVerifier::new(), error: LastError::default() }
    }

    /// Sets hash and secret; an empty secret fails with InvalidInputParameters.
    fn setCookieGeneratorParameters(&self, py: Python<'_>, params: PyParams) -> PyResult<bool> {
        let p = params.to_rs()?;
        let r = py.allow_threads(|| self.inner.set_cookie_generator_parameters(&p));
        Ok(self.error.record(r).is_some())
    }

    /// The current hash and secret.
    fn cookieGeneratorParameters(&self) -> PyParams {
        PyParams::from_rs(&self.inner.cookie_generator_parameters())
    }

    /// True for a ClientHello with a valid cookie from address:port (then
    /// verifiedHello() is it); False otherwise, after answering a cookie-less
    /// hello with a HelloVerifyRequest. Bad input: False and dtlsError().
    fn verifyClient(
        &self,
        py: Python<'_>,
        socket: &Bound<'_, PyAny>,
        dgram: &Bound<'_, PyAny>,
        address: &Bound<'_, PyAny>,
        port: i64,
    ) -> PyResult<bool> {
        let fd = socket_fd(socket)?;
        let data = to_bytes(dgram)?;
        let ip = to_ip(address)?;
        let port = to_port(port)?;
        let r = py.allow_threads(|| match (transport(fd), ip) {
            (Some(mut t), Some(ip)) => self.inner.verify_client(&mut *t, &data, SocketAddr::new(ip, port)),
            // No socket or no address: an empty datagram gets the engine's own
            // refusal for bad input, and nothing is sent.
            _ => self.inner.verify_client(&mut NoSend, &[], SocketAddr::new(IpAddr::from([0, 0, 0, 0]), 0)),
        });
        Ok(self.error.record(r).unwrap_or(false))
    }

    /// The last ClientHello that verified (empty after any other result).
    fn verifiedHello<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.verified_hello())
    }

    /// The last error, NoError after a successful call.
    fn dtlsError(&self, py: Python<'_>) -> PyResult<PyObject> {
        enum_member(py, "QDtlsError", self.error.get().0 as i64)
    }

    /// The last error's description.
    fn dtlsErrorString(&self) -> String {
        self.error.get().1
    }
}

#[pymodule]
fn _qdtls(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyDtls>()?;
    m.add_class::<PyVerifier>()?;
    m.add_class::<PyParams>()?;
    m.add_class::<PyConfiguration>()?;
    m.add_class::<PyPsk>()?;
    m.add_class::<PyCertificate>()?;
    m.add_class::<PyKey>()?;
    m.add_class::<PyCipher>()?;
    m.add_class::<PySslError>()?;
    Ok(())
}
