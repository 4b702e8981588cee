//! The certificate-side values: QSslCertificate, QSslKey, QSslCipher, QSslError.

use pyo3::prelude::*;
use pyo3::types::PyBytes;

use qdtls::{Certificate, SslError, SslErrorCode};

use crate::convert::{enum_member, to_bytes, to_int};

/// An X.509 certificate (`QSslCertificate`): the peer's, or one of a
/// configuration's. A default-constructed one is null.
#[pyclass(module = "qdtls", name = "QSslCertificate", frozen, eq, hash)]
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PyCertificate {
    pub(crate) der: Vec<u8>,
}

impl PyCertificate {
    pub(crate) fn from_rs(c: &Certificate) -> PyCertificate {
        PyCertificate { der: c.to_der() }
    }
    pub(crate) fn to_rs(&self) -> Option<Certificate> {
        Certificate::from_der(&self.der)
    }
}

pub(crate) fn parse_certs(data: &[u8], format: i64) -> Vec<PyCertificate> {
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
    pub(crate) pem: Vec<u8>,
    pub(crate) passphrase: Vec<u8>,
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
            Ok(k) if format == 1 => {
                PyKey { pem: k.private_key_to_pem_pkcs8().unwrap_or_default(), passphrase: Vec::new() }
            }
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
    pub(crate) name: String,
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
    pub(crate) fn from_rs(e: &SslError) -> Self {
        PySslError { code: e.code as i64, certificate: e.certificate.as_ref().map(PyCertificate::from_rs) }
    }
    pub(crate) fn to_rs(&self) -> SslError {
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
