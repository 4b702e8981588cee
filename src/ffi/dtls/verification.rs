//! Peer verification on a connection: the errors of the last handshake,
//! the errors to ignore, and the peer's certificates.

use super::qdtls_connection;
use crate::ffi::handle::try_ref;
use openssl::x509::X509;

use crate::engine::verify::VerificationError;
use crate::ffi::{bytes, call, call_with, need, out, slice, BadArg, ErrorSlot, Out};

/// A QSslError for `qdtls_ignore_verification_errors`: a `QDTLS_SSL_ERROR_*`
/// code and the DER certificate it applies to. With no certificate
/// (`certificate_der == NULL`), the entry matches that code for any
/// certificate (an extension; Qt always compares certificates).
#[repr(C)]
pub struct qdtls_ssl_error {
    /// A `QDTLS_SSL_ERROR_*` code.
    pub code: i32,
    /// DER bytes of the certificate, or NULL.
    pub certificate_der: *const u8,
    /// Length of `certificate_der`.
    pub certificate_der_len: usize,
}

/// The number of peer verification errors of the last handshake, in Qt's
/// order (NoPeerCertificate, HostNameMismatch, then chain errors).
///
/// # Safety
/// `h` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn qdtls_peer_verification_error_count(h: *const qdtls_connection) -> usize {
    // SAFETY: `h` is NULL or live, as this function's contract says.
    let s = unsafe { try_ref(h) };
    call(s, 0, |s| s.info().verification_errors.len())
}

/// The `QDTLS_SSL_ERROR_*` code of error `index` (`QDTLS_SSL_ERROR_NO_ERROR` when out of range).
///
/// # Safety
/// `h` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn qdtls_peer_verification_error_code(h: *const qdtls_connection, index: usize) -> i32 {
    // SAFETY: `h` is NULL or live, as this function's contract says.
    let s = unsafe { try_ref(h) };
    call(s, 0, |s| s.info().verification_errors.get(index).map_or(0, |e| e.code))
}

/// The DER certificate of error `index` (bytes; 0 when it has none or out of range).
///
/// # Safety
/// `h` is NULL or live; `der` is valid for `cap` bytes.
#[no_mangle]
pub unsafe extern "C" fn qdtls_peer_verification_error_certificate(
    h: *const qdtls_connection,
    index: usize,
    der: *mut u8,
    cap: usize,
) -> usize {
    // SAFETY: pointers as this function's contract says.
    let (s, der) = unsafe { (try_ref(h), out(der, cap)) };
    call(s, 0, |s| put_der(s.info().verification_errors.get(index).and_then(|e| e.certificate.as_ref()), der))
}

/// QDtls::ignoreVerificationErrors: replaces the ignore list (`n == 0`
/// clears it). Use before the handshake or after PeerVerificationError, then
/// `qdtls_resume_handshake`. False (InvalidInputParameters) for NULL `errors`
/// with `n > 0` or a certificate that is not valid DER; the list is then unchanged.
///
/// # Safety
/// `h` is NULL or live; `errors` holds `n` entries whose pointers are valid.
#[no_mangle]
pub unsafe extern "C" fn qdtls_ignore_verification_errors(
    h: *mut qdtls_connection,
    errors: *const qdtls_ssl_error,
    n: usize,
) -> bool {
    // SAFETY: pointers as this function's contract says.
    let (s, entries) = unsafe { (try_ref(h), slice(errors, n)) };
    call_with(s, false, need(entries, "NULL error list"), |s, entries| {
        let list: Result<Vec<_>, BadArg> = entries
            .iter()
            .map(|e| {
                // SAFETY: each entry's certificate is valid for its length, as this function's contract says.
                let der = unsafe { bytes(e.certificate_der, e.certificate_der_len) };
                let der = der.ok_or(BadArg("NULL certificate with a non-zero length"))?;
                VerificationError::from_der(e.code, der).map_err(|_| BadArg("Invalid DER certificate"))
            })
            .collect();
        match list {
            Ok(list) => {
                s.ignore_verification_errors(list);
                true
            }
            Err(bad) => s.refuse(bad, false),
        }
    })
}

/// A certificate as DER into a caller buffer (0 for none).
fn put_der(cert: Option<&X509>, der: Out<'_>) -> usize {
    cert.and_then(|c| c.to_der().ok()).map_or(0, |d| der.put_bytes(&d))
}

/// The peer's certificate, DER (bytes; 0 when there is none).
///
/// # Safety
/// `h` is NULL or live; `der` is valid for `cap` bytes.
#[no_mangle]
pub unsafe extern "C" fn qdtls_peer_certificate(h: *const qdtls_connection, der: *mut u8, cap: usize) -> usize {
    // SAFETY: the same contract as this function's.
    unsafe { qdtls_peer_certificate_chain_at(h, 0, der, cap) }
}

/// The number of certificates in the peer's chain (leaf first, on both sides).
///
/// # Safety
/// `h` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn qdtls_peer_certificate_chain_count(h: *const qdtls_connection) -> usize {
    // SAFETY: `h` is NULL or live, as this function's contract says.
    let s = unsafe { try_ref(h) };
    call(s, 0, |s| s.info().peer_chain.len())
}

/// Certificate `index` of the peer's chain, DER (0 when out of range).
///
/// # Safety
/// `h` is NULL or live; `der` is valid for `cap` bytes.
#[no_mangle]
pub unsafe extern "C" fn qdtls_peer_certificate_chain_at(
    h: *const qdtls_connection,
    index: usize,
    der: *mut u8,
    cap: usize,
) -> usize {
    // SAFETY: pointers as this function's contract says.
    let (s, der) = unsafe { (try_ref(h), out(der, cap)) };
    call(s, 0, |s| put_der(s.info().peer_chain.get(index), der))
}
