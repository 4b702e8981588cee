//! QSslPreSharedKeyAuthenticator, and running the application's handler for
//! the engine's authenticator.

use std::sync::{Arc, Mutex};

use pyo3::prelude::*;
use pyo3::types::PyBytes;

use qdtls::PskAuthenticator;

use crate::convert::to_bytes;

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

pub(crate) type Handler = Arc<Mutex<Option<PyObject>>>;

/// Runs the Python PSK handler for the engine's authenticator: copies in,
/// calls, copies back what the handler set. An exception in the handler is
/// reported as unraisable and sets nothing (the handshake then fails).
pub(crate) fn run_psk(handler: &Handler, auth: &mut PskAuthenticator) {
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
