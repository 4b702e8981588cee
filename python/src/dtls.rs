//! QDtls: one DTLS connection.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use qdtls::{Dtls, DtlsError, Error, HandshakeState, SslError, SslMode};

use crate::certificates::{PyCertificate, PyCipher, PyKey, PySslError};
use crate::configuration::PyConfiguration;
use crate::convert::{
    enum_member, socket_fd, split, to_bytes, to_int, to_ip, to_port, transport, LastError, NoSend, NULL_SOCKET,
};
use crate::psk::{run_psk, Handler};
use crate::verifier::PyParams;

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
    fn setPeer(
        &self,
        py: Python<'_>,
        address: &Bound<'_, PyAny>,
        port: i64,
        verificationName: String,
    ) -> PyResult<bool> {
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
    fn doHandshake(
        &self,
        py: Python<'_>,
        socket: &Bound<'_, PyAny>,
        dgram: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        let dgram = dgram.map(to_bytes).transpose()?.unwrap_or_default();
        let fd = socket_fd(socket)?;
        if fd < 0
            && matches!(self.dtls.handshake_state(), HandshakeState::Complete | HandshakeState::PeerVerificationFailed)
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
                Err(e)
                    if e.kind() == DtlsError::PeerVerificationError
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
    fn writeDatagramEncrypted(
        &self,
        py: Python<'_>,
        socket: &Bound<'_, PyAny>,
        dgram: &Bound<'_, PyAny>,
    ) -> PyResult<i64> {
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
