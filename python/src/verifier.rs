//! QDtlsClientVerifier and its GeneratorParameters (the cookie exchange).

use std::net::{IpAddr, SocketAddr};

use pyo3::prelude::*;
use pyo3::types::PyBytes;

use qdtls::{ClientVerifier, CookieHash, GeneratorParameters as RsParams};

use crate::convert::{enum_member, socket_fd, to_bytes, to_int, to_ip, to_port, transport, LastError, NoSend};

/// The cookie HMAC's hash and secret (`QDtlsClientVerifier.GeneratorParameters`).
#[pyclass(module = "qdtls", name = "GeneratorParameters", eq)]
#[derive(Clone, PartialEq, Eq)]
pub struct PyParams {
    hash: i64,
    secret: Vec<u8>,
}

impl PyParams {
    pub(crate) fn from_rs(p: &RsParams) -> PyParams {
        PyParams { hash: p.hash as i64, secret: p.secret.clone() }
    }
    pub(crate) fn to_rs(&self) -> PyResult<RsParams> {
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
