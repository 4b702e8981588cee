//! The C ABI. Every exported function converts its arguments, delegates to
//! the engine and converts the result; no protocol logic lives here.
//!
//! Conventions, for every function:
//! - A panic never crosses the ABI: it becomes the function's error value.
//! - Every pointer is NULL-checked; a NULL handle gives the documented error
//!   value, and a NULL handle passed to a `_free` function is a no-op.
//! - Getters that fill a caller buffer return the full length of the value.
//!   Strings are written NUL-terminated when `len + 1 <= cap`; byte blobs are
//!   written only when `len <= cap`. Pass `cap = 0` (buffer may be NULL) to ask
//!   for the length.
//! - A `fd` is the application's UDP socket; -1 is Qt's "null socket".

use std::ffi::CStr;
use std::panic::{catch_unwind, AssertUnwindSafe};

use libc::c_char;

pub mod config;
pub mod dtls;
pub mod psk;
pub mod verifier;

/// Runs `f`, turning a panic into `err`.
pub(crate) fn guard<R>(err: R, f: impl FnOnce() -> R) -> R {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(err)
}

/// `(ptr, len)` as a slice; NULL is allowed only with `len == 0`.
///
/// # Safety
/// A non-NULL `ptr` must be valid for reading `len` bytes.
pub(crate) unsafe fn bytes<'a>(ptr: *const u8, len: usize) -> Option<&'a [u8]> {
    match (ptr.is_null(), len) {
        (true, 0) => Some(&[]),
        (true, _) => None,
        (false, _) => Some(std::slice::from_raw_parts(ptr, len)),
    }
}

/// A NUL-terminated UTF-8 string; None for NULL or invalid UTF-8.
///
/// # Safety
/// A non-NULL `ptr` must point to a NUL-terminated string.
pub(crate) unsafe fn text<'a>(ptr: *const c_char) -> Option<&'a str> {
    if ptr.is_null() {
        return None;
    }
    CStr::from_ptr(ptr).to_str().ok()
}

/// Writes `s` NUL-terminated when it fits; returns its length.
///
/// # Safety
/// A non-NULL `buf` must be valid for writing `cap` bytes.
pub(crate) unsafe fn put_str(s: &str, buf: *mut c_char, cap: usize) -> usize {
    if !buf.is_null() && s.len() < cap {
        std::ptr::copy_nonoverlapping(s.as_ptr(), buf.cast::<u8>(), s.len());
        *buf.add(s.len()) = 0;
    }
    s.len()
}

/// Writes `b` when it fits; returns its length.
///
/// # Safety
/// A non-NULL `buf` must be valid for writing `cap` bytes.
pub(crate) unsafe fn put_bytes(b: &[u8], buf: *mut u8, cap: usize) -> usize {
    if !buf.is_null() && b.len() <= cap {
        std::ptr::copy_nonoverlapping(b.as_ptr(), buf, b.len());
    }
    b.len()
}

/// The library version, "MAJOR.MINOR.PATCH", the same as `QDTLS_VERSION_STRING`.
/// The string is static: never free it.
#[no_mangle]
pub extern "C" fn qdtls_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

// ---- Qt's numeric values --------------------------------------------------

/// QDtlsError::NoError.
pub const QDTLS_ERROR_NO_ERROR: i32 = 0;
/// QDtlsError::InvalidInputParameters: a NULL or invalid argument.
pub const QDTLS_ERROR_INVALID_INPUT_PARAMETERS: i32 = 1;
/// QDtlsError::InvalidOperation: not allowed in the current state.
pub const QDTLS_ERROR_INVALID_OPERATION: i32 = 2;
/// QDtlsError::UnderlyingSocketError: a datagram could not be sent.
pub const QDTLS_ERROR_UNDERLYING_SOCKET_ERROR: i32 = 3;
/// QDtlsError::RemoteClosedConnectionError: the peer sent close_notify.
pub const QDTLS_ERROR_REMOTE_CLOSED_CONNECTION_ERROR: i32 = 4;
/// QDtlsError::PeerVerificationError.
pub const QDTLS_ERROR_PEER_VERIFICATION_ERROR: i32 = 5;
/// QDtlsError::TlsInitializationError: the configuration cannot be used.
pub const QDTLS_ERROR_TLS_INITIALIZATION_ERROR: i32 = 6;
/// QDtlsError::TlsFatalError.
pub const QDTLS_ERROR_TLS_FATAL_ERROR: i32 = 7;
/// QDtlsError::TlsNonFatalError.
pub const QDTLS_ERROR_TLS_NON_FATAL_ERROR: i32 = 8;

/// QDtls::HandshakeNotStarted.
pub const QDTLS_HANDSHAKE_NOT_STARTED: i32 = 0;
/// QDtls::HandshakeInProgress.
pub const QDTLS_HANDSHAKE_IN_PROGRESS: i32 = 1;
/// QDtls::PeerVerificationFailed.
pub const QDTLS_PEER_VERIFICATION_FAILED: i32 = 2;
/// QDtls::HandshakeComplete.
pub const QDTLS_HANDSHAKE_COMPLETE: i32 = 3;

/// QSslSocket::UnencryptedMode (not accepted by `qdtls_new`).
pub const QDTLS_UNENCRYPTED_MODE: i32 = 0;
/// QSslSocket::SslClientMode.
pub const QDTLS_SSL_CLIENT_MODE: i32 = 1;
/// QSslSocket::SslServerMode.
pub const QDTLS_SSL_SERVER_MODE: i32 = 2;

/// QSslSocket::VerifyNone.
pub const QDTLS_VERIFY_NONE: i32 = 0;
/// QSslSocket::QueryPeer.
pub const QDTLS_QUERY_PEER: i32 = 1;
/// QSslSocket::VerifyPeer.
pub const QDTLS_VERIFY_PEER: i32 = 2;
/// QSslSocket::AutoVerifyPeer (the default): VerifyPeer for clients, QueryPeer for servers.
pub const QDTLS_AUTO_VERIFY_PEER: i32 = 3;

/// QSsl::UnknownProtocol.
pub const QDTLS_PROTOCOL_UNKNOWN: i32 = -1;
/// QSsl::DtlsV1_0.
pub const QDTLS_PROTOCOL_DTLS_V1_0: i32 = 8;
/// QSsl::DtlsV1_0OrLater.
pub const QDTLS_PROTOCOL_DTLS_V1_0_OR_LATER: i32 = 9;
/// QSsl::DtlsV1_2.
pub const QDTLS_PROTOCOL_DTLS_V1_2: i32 = 10;
/// QSsl::DtlsV1_2OrLater (the default).
pub const QDTLS_PROTOCOL_DTLS_V1_2_OR_LATER: i32 = 11;

/// QCryptographicHash::Md5.
pub const QDTLS_HASH_MD5: i32 = 1;
/// QCryptographicHash::Sha1.
pub const QDTLS_HASH_SHA1: i32 = 2;
/// QCryptographicHash::Sha224.
pub const QDTLS_HASH_SHA224: i32 = 3;
/// QCryptographicHash::Sha256 (the default).
pub const QDTLS_HASH_SHA256: i32 = 4;
/// QCryptographicHash::Sha384.
pub const QDTLS_HASH_SHA384: i32 = 5;
/// QCryptographicHash::Sha512.
pub const QDTLS_HASH_SHA512: i32 = 6;
/// QCryptographicHash::Sha3_224.
pub const QDTLS_HASH_SHA3_224: i32 = 11;
/// QCryptographicHash::Sha3_256.
pub const QDTLS_HASH_SHA3_256: i32 = 12;
/// QCryptographicHash::Sha3_384.
pub const QDTLS_HASH_SHA3_384: i32 = 13;
/// QCryptographicHash::Sha3_512.
pub const QDTLS_HASH_SHA3_512: i32 = 14;

/// QSslError::NoError.
pub const QDTLS_SSL_ERROR_NO_ERROR: i32 = 0;
/// QSslError::UnableToGetIssuerCertificate.
pub const QDTLS_SSL_ERROR_UNABLE_TO_GET_ISSUER_CERTIFICATE: i32 = 1;
/// QSslError::UnableToDecryptCertificateSignature.
pub const QDTLS_SSL_ERROR_UNABLE_TO_DECRYPT_CERTIFICATE_SIGNATURE: i32 = 2;
/// QSslError::UnableToDecodeIssuerPublicKey.
pub const QDTLS_SSL_ERROR_UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY: i32 = 3;
/// QSslError::CertificateSignatureFailed.
pub const QDTLS_SSL_ERROR_CERTIFICATE_SIGNATURE_FAILED: i32 = 4;
/// QSslError::CertificateNotYetValid.
pub const QDTLS_SSL_ERROR_CERTIFICATE_NOT_YET_VALID: i32 = 5;
/// QSslError::CertificateExpired.
pub const QDTLS_SSL_ERROR_CERTIFICATE_EXPIRED: i32 = 6;
/// QSslError::InvalidNotBeforeField.
pub const QDTLS_SSL_ERROR_INVALID_NOT_BEFORE_FIELD: i32 = 7;
/// QSslError::InvalidNotAfterField.
pub const QDTLS_SSL_ERROR_INVALID_NOT_AFTER_FIELD: i32 = 8;
/// QSslError::SelfSignedCertificate.
pub const QDTLS_SSL_ERROR_SELF_SIGNED_CERTIFICATE: i32 = 9;
/// QSslError::SelfSignedCertificateInChain.
pub const QDTLS_SSL_ERROR_SELF_SIGNED_CERTIFICATE_IN_CHAIN: i32 = 10;
/// QSslError::UnableToGetLocalIssuerCertificate.
pub const QDTLS_SSL_ERROR_UNABLE_TO_GET_LOCAL_ISSUER_CERTIFICATE: i32 = 11;
/// QSslError::UnableToVerifyFirstCertificate.
pub const QDTLS_SSL_ERROR_UNABLE_TO_VERIFY_FIRST_CERTIFICATE: i32 = 12;
/// QSslError::CertificateRevoked.
pub const QDTLS_SSL_ERROR_CERTIFICATE_REVOKED: i32 = 13;
/// QSslError::InvalidCaCertificate.
pub const QDTLS_SSL_ERROR_INVALID_CA_CERTIFICATE: i32 = 14;
/// QSslError::PathLengthExceeded.
pub const QDTLS_SSL_ERROR_PATH_LENGTH_EXCEEDED: i32 = 15;
/// QSslError::InvalidPurpose.
pub const QDTLS_SSL_ERROR_INVALID_PURPOSE: i32 = 16;
/// QSslError::CertificateUntrusted.
pub const QDTLS_SSL_ERROR_CERTIFICATE_UNTRUSTED: i32 = 17;
/// QSslError::CertificateRejected.
pub const QDTLS_SSL_ERROR_CERTIFICATE_REJECTED: i32 = 18;
/// QSslError::NoPeerCertificate.
pub const QDTLS_SSL_ERROR_NO_PEER_CERTIFICATE: i32 = 21;
/// QSslError::HostNameMismatch.
pub const QDTLS_SSL_ERROR_HOST_NAME_MISMATCH: i32 = 22;
/// QSslError::CertificateBlacklisted.
pub const QDTLS_SSL_ERROR_CERTIFICATE_BLACKLISTED: i32 = 24;
/// QSslError::UnspecifiedError.
pub const QDTLS_SSL_ERROR_UNSPECIFIED_ERROR: i32 = -1;
