//! `QSslPreSharedKeyAuthenticator`: handed to the PSK callback, valid only
//! during that call and owned by the library (never free it).

use super::handle::{try_mut, try_ref, Exclusive, Handle, Lent};
use super::{bytes, call, out};
use crate::engine::psk::PskAuthenticator;

/// The PSK authenticator passed to a `QDtlsPskCallback`.
pub struct qdtls_psk_authenticator {
    _private: [u8; 0],
}

// Lent to the callback, which has it to itself for the call.
impl Handle for qdtls_psk_authenticator {
    type Ownership = Lent;
    type RustType = PskAuthenticator;
}
impl Exclusive for qdtls_psk_authenticator {}

/// Client side: the server's identity hint; server side: the configured hint.
/// Bytes, written when they fit; returns the length (0 for NULL).
///
/// # Safety
/// `a` is NULL or the authenticator of a running callback; `buf` is valid for `cap` bytes.
#[no_mangle]
pub unsafe extern "C" fn qdtls_psk_identity_hint(a: *const qdtls_psk_authenticator, buf: *mut u8, cap: usize) -> usize {
    // SAFETY: pointers as this function's contract says.
    let (a, buf) = unsafe { (try_ref(a), out(buf, cap)) };
    call(a, 0, |a| buf.put_bytes(a.identity_hint()))
}

/// Client side: the identity set so far; server side: the identity the client sent.
///
/// # Safety
/// `a` is NULL or the authenticator of a running callback; `buf` is valid for `cap` bytes.
#[no_mangle]
pub unsafe extern "C" fn qdtls_psk_identity(a: *const qdtls_psk_authenticator, buf: *mut u8, cap: usize) -> usize {
    // SAFETY: pointers as this function's contract says.
    let (a, buf) = unsafe { (try_ref(a), out(buf, cap)) };
    call(a, 0, |a| buf.put_bytes(a.identity()))
}

/// Sets the identity the client sends; longer than
/// `qdtls_psk_maximum_identity_length` is truncated when sent, as in Qt.
/// False for NULL arguments.
///
/// # Safety
/// `a` is NULL or the authenticator of a running callback; `identity` is valid for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn qdtls_psk_set_identity(
    a: *mut qdtls_psk_authenticator,
    identity: *const u8,
    len: usize,
) -> bool {
    // SAFETY: pointers as this function's contract says.
    let (a, identity) = unsafe { (try_mut(a), bytes(identity, len)) };
    call(a.zip(identity), false, |(a, identity)| {
        a.set_identity(identity);
        true
    })
}

/// The key set so far (bytes; see the buffer rules).
///
/// # Safety
/// `a` is NULL or the authenticator of a running callback; `buf` is valid for `cap` bytes.
#[no_mangle]
pub unsafe extern "C" fn qdtls_psk_pre_shared_key(
    a: *const qdtls_psk_authenticator,
    buf: *mut u8,
    cap: usize,
) -> usize {
    // SAFETY: pointers as this function's contract says.
    let (a, buf) = unsafe { (try_ref(a), out(buf, cap)) };
    call(a, 0, |a| buf.put_bytes(a.pre_shared_key()))
}

/// Sets the pre-shared key; longer than the maximum is truncated when used.
/// Leaving it empty fails the handshake. The library wipes its copy after use.
///
/// # Safety
/// `a` is NULL or the authenticator of a running callback; `key` is valid for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn qdtls_psk_set_pre_shared_key(
    a: *mut qdtls_psk_authenticator,
    key: *const u8,
    len: usize,
) -> bool {
    // SAFETY: pointers as this function's contract says.
    let (a, key) = unsafe { (try_mut(a), bytes(key, len)) };
    call(a.zip(key), false, |(a, key)| {
        a.set_pre_shared_key(key);
        true
    })
}

/// Longest identity that is sent: OpenSSL's room minus the terminating NUL
/// on the client (255 with OpenSSL 3, 127 with 1.x), 0 on the server; -1 for NULL.
///
/// # Safety
/// `a` is NULL or the authenticator of a running callback.
#[no_mangle]
pub unsafe extern "C" fn qdtls_psk_maximum_identity_length(a: *const qdtls_psk_authenticator) -> i32 {
    // SAFETY: `a` is NULL or lent to a running callback, as this function's contract says.
    let a = unsafe { try_ref(a) };
    call(a, -1, |a| a.maximum_identity_length() as i32)
}

/// Longest key that is used: what OpenSSL allows (512 with OpenSSL 3, 256
/// with OpenSSL 1.x); -1 for NULL.
///
/// # Safety
/// `a` is NULL or the authenticator of a running callback.
#[no_mangle]
pub unsafe extern "C" fn qdtls_psk_maximum_pre_shared_key_length(a: *const qdtls_psk_authenticator) -> i32 {
    // SAFETY: `a` is NULL or lent to a running callback, as this function's contract says.
    let a = unsafe { try_ref(a) };
    call(a, -1, |a| a.maximum_pre_shared_key_length() as i32)
}
