//! `qdtls._qdtls`: the native part of the Python package. It converts
//! Python values to the Rust API's and back, and delegates; no DTLS rule
//! lives here. Errors are Qt's (False or -1 and `dtlsError()`); Python
//! exceptions are raised only for arguments of the wrong type. OpenSSL work
//! runs with the GIL released.

// Qt's method and argument names are the API.
#![allow(non_snake_case)]

mod certificates;
mod configuration;
mod convert;
mod dtls;
mod psk;
mod verifier;

use pyo3::prelude::*;

use certificates::{PyCertificate, PyCipher, PyKey, PySslError};
use configuration::PyConfiguration;
use dtls::PyDtls;
use psk::PyPsk;
use verifier::{PyParams, PyVerifier};

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
