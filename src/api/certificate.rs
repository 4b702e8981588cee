//! Certificates as the API hands them out.

use openssl::x509::X509;

/// An X.509 certificate (the peer's, or one of a configuration's).
#[derive(Clone)]
pub struct Certificate(pub(crate) X509);

impl Certificate {
    /// Parses one DER-encoded certificate.
    pub fn from_der(der: &[u8]) -> Option<Certificate> {
        X509::from_der(der).ok().map(Certificate)
    }

    /// The DER encoding.
    pub fn to_der(&self) -> Vec<u8> {
        self.0.to_der().unwrap_or_default()
    }

    /// The PEM encoding.
    pub fn to_pem(&self) -> Vec<u8> {
        self.0.to_pem().unwrap_or_default()
    }

    /// The underlying OpenSSL certificate.
    pub fn as_x509(&self) -> &openssl::x509::X509Ref {
        &self.0
    }
}

impl PartialEq for Certificate {
    fn eq(&self, other: &Self) -> bool {
        self.to_der() == other.to_der()
    }
}

impl Eq for Certificate {}

impl std::fmt::Debug for Certificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let subject: Vec<String> = self
            .0
            .subject_name()
            .entries()
            .filter_map(|e| {
                e.data().to_string().ok().map(|s| format!("{}={}", e.object().nid().short_name().unwrap_or("?"), s))
            })
            .collect();
        write!(f, "Certificate({})", subject.join(", "))
    }
}
