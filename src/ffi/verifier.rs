//! `QDtlsClientVerifier`: the stateless cookie exchange a server runs before
//! it creates any per-client state. Thread safety as for QDtls.

use libc::{c_char, c_int, c_void};

use std::net::SocketAddr;

use super::handle::{self, try_ref, Boxed, Handle};
use super::{bytes, call, call_with, guard, need, out, out_value, parse_ip, text, with_socket, ErrorSlot};
use crate::engine::error::DtlsError;
use crate::engine::verifier::ClientVerifier;
use crate::net::from_sockaddr;

/// An opaque client verifier. Create with `qdtls_client_verifier_new`,
/// release with `qdtls_client_verifier_free`.
pub struct qdtls_client_verifier {
    _private: [u8; 0],
}

// Shared between threads like QDtls, so never `Exclusive`.
impl Handle for qdtls_client_verifier {
    type Ownership = Boxed;
    type RustType = ClientVerifier;
}

impl ErrorSlot for ClientVerifier {
    fn report(&self, code: DtlsError, msg: &str) {
        self.set_error(code, msg);
    }
}

/// A verifier with SHA-256 and the process-wide secret (shared with every
/// QDtls, so cookies it issues are accepted by default servers). Free with
/// `qdtls_client_verifier_free`.
#[no_mangle]
pub extern "C" fn qdtls_client_verifier_new() -> *mut qdtls_client_verifier {
    guard(std::ptr::null_mut(), || handle::into_raw(ClientVerifier::new()))
}

/// Releases a verifier. NULL is a no-op.
///
/// # Safety
/// `v` is NULL or a live verifier not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn qdtls_client_verifier_free(v: *mut qdtls_client_verifier) {
    // SAFETY: `v` is NULL or live and given up, as this function's contract says.
    guard((), || unsafe { handle::free(v) })
}

/// Sets the cookie hash (`QDTLS_HASH_*`) and secret. Empty secret or
/// unknown hash: false, InvalidInputParameters, old parameters kept.
///
/// # Safety
/// `v` is NULL or live; `secret` is valid for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn qdtls_client_verifier_set_cookie_generator_parameters(
    v: *mut qdtls_client_verifier,
    hash: i32,
    secret: *const u8,
    len: usize,
) -> bool {
    // SAFETY: pointers as this function's contract says.
    let (x, secret) = unsafe { (try_ref(v), bytes(secret, len)) };
    let secret = need(secret, "NULL secret with a non-zero length");
    call_with(x, false, secret, |x, secret| x.set_cookie_generator_parameters(hash, secret))
}

/// The cookie hash (into `*hash`, may be NULL) and secret (bytes; see the
/// buffer rules). Returns the secret's length.
///
/// # Safety
/// `v` is NULL or live; `hash` is NULL or writable; `secret` is valid for `cap` bytes.
#[no_mangle]
pub unsafe extern "C" fn qdtls_client_verifier_cookie_generator_parameters(
    v: *const qdtls_client_verifier,
    hash: *mut i32,
    secret: *mut u8,
    cap: usize,
) -> usize {
    // SAFETY: pointers as this function's contract says.
    let (x, hash, secret) = unsafe { (try_ref(v), out_value(hash), out(secret, cap)) };
    call(x, 0, |x| {
        let p = x.cookie_generator_parameters();
        if let Some(hash) = hash {
            hash.write(p.hash);
        }
        secret.put_bytes(&p.secret)
    })
}

/// Both verify_client functions, once their arguments are converted.
fn verify(x: Option<&ClientVerifier>, fd: c_int, dgram: Option<&[u8]>, peer: Option<SocketAddr>) -> bool {
    call_with(x, false, need(dgram, "NULL datagram with a non-zero length"), |x, d| {
        with_socket(fd, |t| x.verify_client(t, d, peer.map(|p| p.ip()), peer.map_or(0, |p| p.port())))
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
    v: *mut qdtls_client_verifier,
    fd: c_int,
    dgram: *const u8,
    len: usize,
    address: *const c_char,
    port: u16,
) -> bool {
    // SAFETY: pointers as this function's contract says.
    let (x, dgram, address) = unsafe { (try_ref(v), bytes(dgram, len), text(address)) };
    verify(x, fd, dgram, address.and_then(parse_ip).map(|ip| SocketAddr::new(ip, port)))
}

/// As `qdtls_client_verifier_verify_client`, with the client's address as
/// the `struct sockaddr_in` / `sockaddr_in6` recvfrom filled in.
///
/// # Safety
/// `v` is NULL or live; `dgram` is valid for `len` bytes; `sockaddr` for `sockaddr_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn qdtls_client_verifier_verify_client_sockaddr(
    v: *mut qdtls_client_verifier,
    fd: c_int,
    dgram: *const u8,
    len: usize,
    sockaddr: *const c_void,
    sockaddr_len: usize,
) -> bool {
    // SAFETY: pointers as this function's contract says.
    let (x, dgram, peer) = unsafe { (try_ref(v), bytes(dgram, len), from_sockaddr(sockaddr.cast(), sockaddr_len)) };
    verify(x, fd, dgram, peer)
}

/// The last verified ClientHello (bytes; empty unless the last
/// verification succeeded).
///
/// # Safety
/// `v` is NULL or live; `buf` is valid for `cap` bytes.
#[no_mangle]
pub unsafe extern "C" fn qdtls_client_verifier_verified_hello(
    v: *const qdtls_client_verifier,
    buf: *mut u8,
    cap: usize,
) -> usize {
    // SAFETY: pointers as this function's contract says.
    let (x, buf) = unsafe { (try_ref(v), out(buf, cap)) };
    call(x, 0, |x| buf.put_bytes(&x.verified_hello()))
}

/// The last error (`QDTLS_ERROR_*`); InvalidInputParameters for NULL.
///
/// # Safety
/// `v` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn qdtls_client_verifier_dtls_error(v: *const qdtls_client_verifier) -> i32 {
    // SAFETY: `v` is NULL or live, as this function's contract says.
    let x = unsafe { try_ref(v) };
    call(x, DtlsError::InvalidInputParameters as i32, |x| x.error().code as i32)
}

/// The last error's description ("" after success).
///
/// # Safety
/// `v` is NULL or live; `buf` is valid for `cap` bytes.
#[no_mangle]
pub unsafe extern "C" fn qdtls_client_verifier_dtls_error_string(
    v: *const qdtls_client_verifier,
    buf: *mut c_char,
    cap: usize,
) -> usize {
    // SAFETY: pointers as this function's contract says.
    let (x, buf) = unsafe { (try_ref(v), out(buf, cap)) };
    call(x, 0, |x| buf.put_str(&x.error().message))
}
