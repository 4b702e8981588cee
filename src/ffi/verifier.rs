//! `QDtlsClientVerifier`: the stateless cookie exchange a server runs before
//! it creates any per-client state. Thread safety as for QDtls.

use libc::{c_char, c_int, c_void};

use super::{bytes, guard, put_bytes, put_str, text};
use crate::engine::error::DtlsError;
use crate::engine::verifier::ClientVerifier;
use crate::engine::Transport;
use crate::net::{from_sockaddr, FdTransport};

/// An opaque client verifier. Create with `qdtls_client_verifier_new`,
/// release with `qdtls_client_verifier_free`.
pub struct QDtlsClientVerifier {
    _private: [u8; 0],
}

unsafe fn verifier<'a>(v: *const QDtlsClientVerifier) -> Option<&'a ClientVerifier> {
    v.cast::<ClientVerifier>().as_ref()
}

unsafe fn with_verifier<R: Copy>(v: *const QDtlsClientVerifier, err: R, f: impl FnOnce(&ClientVerifier) -> R) -> R {
    guard(err, || verifier(v).map_or(err, f))
}

/// A verifier with SHA-256 and the process-wide secret (shared with every
/// QDtls, so cookies it issues are accepted by default servers). Free with
/// `qdtls_client_verifier_free`.
#[no_mangle]
pub extern "C" fn qdtls_client_verifier_new() -> *mut QDtlsClientVerifier {
    guard(std::ptr::null_mut(), || Box::into_raw(Box::new(ClientVerifier::new())).cast())
}

/// Releases a verifier. NULL is a no-op.
///
/// # Safety
/// `v` is NULL or a live verifier not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn qdtls_client_verifier_free(v: *mut QDtlsClientVerifier) {
    guard((), || {
        if !v.is_null() {
            drop(Box::from_raw(v.cast::<ClientVerifier>()));
        }
    })
}

/// Sets the cookie hash (`QDTLS_HASH_*`) and secret. Empty secret or
/// unknown hash: false, InvalidInputParameters, old parameters kept.
///
/// # Safety
/// `v` is NULL or live; `secret` is valid for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn qdtls_client_verifier_set_cookie_generator_parameters(
    v: *mut QDtlsClientVerifier,
    hash: i32,
    secret: *const u8,
    len: usize,
) -> bool {
    with_verifier(v, false, |x| match bytes(secret, len) {
        Some(s) => x.set_cookie_generator_parameters(hash, s),
        None => {
            x.set_error(DtlsError::InvalidInputParameters, "NULL secret with a non-zero length");
            false
        }
    })
}

/// The cookie hash (into `*hash`, may be NULL) and secret (bytes; see the
/// buffer rules). Returns the secret's length.
///
/// # Safety
/// `v` is NULL or live; `hash` is NULL or writable; `secret` is valid for `cap` bytes.
#[no_mangle]
pub unsafe extern "C" fn qdtls_client_verifier_cookie_generator_parameters(
    v: *const QDtlsClientVerifier,
    hash: *mut i32,
    secret: *mut u8,
    cap: usize,
) -> usize {
    with_verifier(v, 0, |x| {
        let p = x.cookie_generator_parameters();
        if !hash.is_null() {
            *hash = p.hash;
        }
        put_bytes(&p.secret, secret, cap)
    })
}

unsafe fn verify(
    v: *mut QDtlsClientVerifier,
    fd: c_int,
    dgram: *const u8,
    len: usize,
    peer: Option<std::net::SocketAddr>,
) -> bool {
    with_verifier(v, false, |x| match bytes(dgram, len) {
        Some(d) => {
            let mut t = FdTransport::new(fd);
            x.verify_client(
                t.as_mut().map(|t| t as &mut dyn Transport),
                d,
                peer.map(|p| p.ip()),
                peer.map_or(0, |p| p.port()),
            )
        }
        None => {
            x.set_error(DtlsError::InvalidInputParameters, "NULL datagram with a non-zero length");
            false
        }
    })
}

/// QDtlsClientVerifier::verifyClient: true when `dgram` is a ClientHello
/// carrying a valid cookie for address:port (then `verified_hello` returns
/// it; pass it to a new server QDtls). Otherwise false: with NoError a
/// HelloVerifyRequest was sent for a hello without a (valid) cookie, or
/// nothing for garbage and fragments; InvalidInputParameters for fd -1, an
/// empty datagram, a NULL/unparsable/broadcast/multicast address;
/// UnderlyingSocketError if the HelloVerifyRequest could not be sent.
/// Keeps no state about the client.
///
/// # Safety
/// `v` is NULL or live; `dgram` is valid for `len` bytes; `address` is NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn qdtls_client_verifier_verify_client(
    v: *mut QDtlsClientVerifier,
    fd: c_int,
    dgram: *const u8,
    len: usize,
    address: *const c_char,
    port: u16,
) -> bool {
    let ip = text(address).and_then(|a| a.trim_start_matches('[').trim_end_matches(']').parse().ok());
    verify(v, fd, dgram, len, ip.map(|ip| std::net::SocketAddr::new(ip, port)))
}

/// As `qdtls_client_verifier_verify_client`, with the client's address as
/// the `struct sockaddr_in` / `sockaddr_in6` recvfrom filled in.
///
/// # Safety
/// `v` is NULL or live; `dgram` is valid for `len` bytes; `sockaddr` for `sockaddr_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn qdtls_client_verifier_verify_client_sockaddr(
    v: *mut QDtlsClientVerifier,
    fd: c_int,
    dgram: *const u8,
    len: usize,
    sockaddr: *const c_void,
    sockaddr_len: usize,
) -> bool {
    verify(v, fd, dgram, len, from_sockaddr(sockaddr.cast(), sockaddr_len))
}

/// The last verified ClientHello (bytes; empty unless the last
/// verification succeeded).
///
/// # Safety
/// `v` is NULL or live; `buf` is valid for `cap` bytes.
#[no_mangle]
pub unsafe extern "C" fn qdtls_client_verifier_verified_hello(
    v: *const QDtlsClientVerifier,
    buf: *mut u8,
    cap: usize,
) -> usize {
    with_verifier(v, 0, |x| put_bytes(&x.verified_hello(), buf, cap))
}

/// The last error (`QDTLS_ERROR_*`); InvalidInputParameters for NULL.
///
/// # Safety
/// `v` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn qdtls_client_verifier_dtls_error(v: *const QDtlsClientVerifier) -> i32 {
    with_verifier(v, 1, |x| x.error().code as i32)
}

/// The last error's description ("" after success).
///
/// # Safety
/// `v` is NULL or live; `buf` is valid for `cap` bytes.
#[no_mangle]
pub unsafe extern "C" fn qdtls_client_verifier_dtls_error_string(
    v: *const QDtlsClientVerifier,
    buf: *mut c_char,
    cap: usize,
) -> usize {
    with_verifier(v, 0, |x| put_str(&x.error().message, buf, cap))
}
