//! QSslConfiguration: the DTLS settings an object uses.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

use qdtls::{Configuration, PeerVerifyMode, Protocol};

use crate::certificates::{parse_certs, PyCertificate, PyCipher, PyKey};
use crate::convert::{enum_member, to_bytes, to_int, warn};

/// The DTLS part of `QSslConfiguration`: protocol, peer verification, local
/// certificate and key, trusted CAs, ciphers, cookie verification, PSK
/// identity hint, ALPN. A value: copies are independent.
#[pyclass(module = "qdtls", name = "QSslConfiguration")]
#[derive(Clone)]
pub struct PyConfiguration {
    pub(crate) inner: Configuration,
    pub(crate) key: Option<PyKey>,
    pub(crate) peer_chain: Vec<PyCertificate>,
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
