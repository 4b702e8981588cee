//! Peer verification: QSslError codes, Qt's order of errors and host-name
//! rules, the ignore list.

use std::net::IpAddr;

use openssl::nid::Nid;
use openssl::x509::{X509Ref, X509};

use super::blacklist::is_blacklisted;

pub use super::values::SslErrorCode;

/// The same values as plain integers, for the engine's error lists.
pub(crate) mod code {
    use super::SslErrorCode as E;
    pub const UNABLE_TO_GET_ISSUER_CERTIFICATE: i32 = E::UnableToGetIssuerCertificate as i32;
    pub const UNABLE_TO_DECRYPT_CERTIFICATE_SIGNATURE: i32 = E::UnableToDecryptCertificateSignature as i32;
    pub const UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY: i32 = E::UnableToDecodeIssuerPublicKey as i32;
    pub const CERTIFICATE_SIGNATURE_FAILED: i32 = E::CertificateSignatureFailed as i32;
    pub const CERTIFICATE_NOT_YET_VALID: i32 = E::CertificateNotYetValid as i32;
    pub const CERTIFICATE_EXPIRED: i32 = E::CertificateExpired as i32;
    pub const INVALID_NOT_BEFORE_FIELD: i32 = E::InvalidNotBeforeField as i32;
    pub const INVALID_NOT_AFTER_FIELD: i32 = E::InvalidNotAfterField as i32;
    pub const SELF_SIGNED_CERTIFICATE: i32 = E::SelfSignedCertificate as i32;
    pub const SELF_SIGNED_CERTIFICATE_IN_CHAIN: i32 = E::SelfSignedCertificateInChain as i32;
    pub const UNABLE_TO_GET_LOCAL_ISSUER_CERTIFICATE: i32 = E::UnableToGetLocalIssuerCertificate as i32;
    pub const UNABLE_TO_VERIFY_FIRST_CERTIFICATE: i32 = E::UnableToVerifyFirstCertificate as i32;
    pub const CERTIFICATE_REVOKED: i32 = E::CertificateRevoked as i32;
    pub const INVALID_CA_CERTIFICATE: i32 = E::InvalidCaCertificate as i32;
    pub const PATH_LENGTH_EXCEEDED: i32 = E::PathLengthExceeded as i32;
    pub const INVALID_PURPOSE: i32 = E::InvalidPurpose as i32;
    pub const CERTIFICATE_UNTRUSTED: i32 = E::CertificateUntrusted as i32;
    pub const CERTIFICATE_REJECTED: i32 = E::CertificateRejected as i32;
    pub const NO_PEER_CERTIFICATE: i32 = E::NoPeerCertificate as i32;
    pub const HOST_NAME_MISMATCH: i32 = E::HostNameMismatch as i32;
    pub const CERTIFICATE_BLACKLISTED: i32 = E::CertificateBlacklisted as i32;
    pub const UNSPECIFIED_ERROR: i32 = E::UnspecifiedError as i32;
}

/// One QSslError: a code and the certificate it concerns (if any).
#[derive(Clone, Debug)]
pub struct VerificationError {
    pub code: i32,
    pub certificate: Option<X509>,
}

impl VerificationError {
    /// An entry of an ignore list: a code and a DER certificate (empty: none).
    pub fn from_der(code: i32, der: &[u8]) -> Result<Self, String> {
        let certificate = match der {
            [] => None,
            der => Some(X509::from_der(der).map_err(|e| format!("Invalid DER certificate: {e}"))?),
        };
        Ok(VerificationError { code, certificate })
    }

    /// Qt's rule: equal codes and equal certificates. An ignore entry without
    /// a certificate is our extension and matches any certificate.
    pub fn is_ignored_by(&self, ignore: &VerificationError) -> bool {
        if self.code != ignore.code {
            return false;
        }
        match (&ignore.certificate, &self.certificate) {
            (None, _) => true,
            (Some(a), Some(b)) => same_cert(a, b),
            (Some(_), None) => false,
        }
    }
}

fn same_cert(a: &X509Ref, b: &X509Ref) -> bool {
    matches!((a.to_der(), b.to_der()), (Ok(x), Ok(y)) if x == y)
}

/// True when every error is matched by some entry of `ignored`.
pub fn all_ignored(errors: &[VerificationError], ignored: &[VerificationError]) -> bool {
    errors.iter().all(|e| ignored.iter().any(|i| e.is_ignored_by(i)))
}

/// Qt's order: every blacklisted certificate of the peer's chain, then
/// NoPeerCertificate or (client side, `host` given) HostNameMismatch, then
/// OpenSSL's chain errors (`x509`).
pub fn peer_errors(chain: &[X509], host: Option<&str>, x509: Vec<VerificationError>) -> Vec<VerificationError> {
    let mut errors: Vec<VerificationError> = chain
        .iter()
        .filter(|c| is_blacklisted(c))
        .map(|c| VerificationError { code: code::CERTIFICATE_BLACKLISTED, certificate: Some(c.clone()) })
        .collect();
    match (chain.first(), host) {
        (None, _) => errors.push(VerificationError { code: code::NO_PEER_CERTIFICATE, certificate: None }),
        (Some(leaf), Some(host)) if !host_name_matches(leaf, host) => {
            errors.push(VerificationError { code: code::HOST_NAME_MISMATCH, certificate: Some(leaf.clone()) })
        }
        _ => {}
    }
    errors.extend(x509);
    errors
}

/// OpenSSL's X509_V_ERR_* to QSslError, as Qt maps them.
pub fn from_x509_error(err: i32) -> i32 {
    use code::*;
    match err {
        2 => UNABLE_TO_GET_ISSUER_CERTIFICATE,
        4 => UNABLE_TO_DECRYPT_CERTIFICATE_SIGNATURE,
        6 => UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY,
        7 => CERTIFICATE_SIGNATURE_FAILED,
        9 => CERTIFICATE_NOT_YET_VALID,
        10 => CERTIFICATE_EXPIRED,
        13 => INVALID_NOT_BEFORE_FIELD,
        14 => INVALID_NOT_AFTER_FIELD,
        18 => SELF_SIGNED_CERTIFICATE,
        19 => SELF_SIGNED_CERTIFICATE_IN_CHAIN,
        20 => UNABLE_TO_GET_LOCAL_ISSUER_CERTIFICATE,
        21 => UNABLE_TO_VERIFY_FIRST_CERTIFICATE,
        23 => CERTIFICATE_REVOKED,
        24 => INVALID_CA_CERTIFICATE,
        25 => PATH_LENGTH_EXCEEDED,
        26 => INVALID_PURPOSE,
        27 => CERTIFICATE_UNTRUSTED,
        28 => CERTIFICATE_REJECTED,
        _ => UNSPECIFIED_ERROR,
    }
}

/// Qt's host-name check: an IP literal matches SAN IP entries; a name is
/// tried against every CN and every SAN DNS entry.
pub fn host_name_matches(cert: &X509Ref, name: &str) -> bool {
    let sans = cert.subject_alt_names();
    if let Ok(ip) = name.trim_matches(|c| c == '[' || c == ']').parse::<IpAddr>() {
        let want = match ip {
            IpAddr::V4(v4) => v4.octets().to_vec(),
            IpAddr::V6(v6) => v6.octets().to_vec(),
        };
        if sans.iter().flatten().filter_map(|g| g.ipaddress()).any(|b| b == want.as_slice()) {
            return true;
        }
    }
    let name = name.to_ascii_lowercase();
    let cns = cert.subject_name().entries_by_nid(Nid::COMMONNAME).filter_map(|e| e.data().to_string().ok());
    let dns = sans.iter().flatten().filter_map(|g| g.dnsname().map(str::to_owned));
    cns.chain(dns).any(|pattern| name_matches(&pattern.to_ascii_lowercase(), &name))
}

/// One pattern against a lower-cased host name. A wildcard counts only as the
/// whole left-most label of a pattern with at least three labels, never
/// within an IDN (xn--) label and never for an IP address.
fn name_matches(pattern: &str, host: &str) -> bool {
    if !pattern.contains('*') {
        return pattern == host;
    }
    let Some(rest) = pattern.strip_prefix("*.") else { return false };
    if rest.contains('*') || rest.split('.').count() < 2 || rest.split('.').any(str::is_empty) {
        return false;
    }
    if host.parse::<IpAddr>().is_ok() {
        return false;
    }
    match host.split_once('.') {
        Some((first, host_rest)) => !first.is_empty() && !first.starts_with("xn--") && host_rest == rest,
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::name_matches;

    #[test]
    fn wildcards_follow_qt_rules() {
        assert!(name_matches("example.com", "example.com"));
        assert!(name_matches("*.example.com", "www.example.com"));
        assert!(!name_matches("*.example.com", "example.com"));
        assert!(!name_matches("*.example.com", "a.b.example.com"));
        assert!(!name_matches("*.com", "example.com"));
        assert!(!name_matches("w*.example.com", "www.example.com"));
        assert!(!name_matches("*.*.example.com", "a.b.example.com"));
        assert!(!name_matches("*.example.com", "xn--bcher-kva.example.com"));
        assert!(!name_matches("*.0.0.1", "127.0.0.1"));
    }
}
