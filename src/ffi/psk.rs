//! `QSslPreSharedKeyAuthenticator`: handed to the PSK callback, valid only
//! during that call and owned by the library (never free it).

use super::{bytes, guard, put_bytes};
use crate::engine::psk::PskAuthenticator;

/// The PSK authenticator passed to a `QDtlsPskCallback`.
pub struct QSslPreSharedKeyAuthenticator {
    _private: [u8; 0],
}

pub(crate) fn as_handle(a: &mut PskAuthenticator) -> *mut QSslPreSharedKeyAuthenticator {
    (a as *mut PskAuthenticator).cast()
}

unsafe fn get<'a>(a: *const QSslPreSharedKeyAuthenticator) -> Option<&'a PskAuthenticator> {
    a.cast::<PskAuthenticator>().as_ref()
}

unsafe fn get_mut<'a>(a: *mut QSslPreSharedKeyAuthenticator) -> Option<&'a mut PskAuthenticator> {
    a.cast::<PskAuthenticator>().as_mut()
}

/// Client side: the server's identity hint; server side: the configured hint.
/// Bytes, written when they fit; returns the length (0 for NULL).
///
/// # Safety
/// `a` is NULL or the authenticator of a running callback; `buf` is valid for `cap` bytes.
#[no_mangle]
pub unsafe extern "C" fn qdtls_psk_identity_hint(
    a: *const QSslPreSharedKeyAuthenticator,
    buf: *mut u8,
    cap: usize,
) -> usize {
    guard(0, || get(a).map_or(0, |a| put_bytes(a.identity_hint(), buf, cap)))
}

/// Client side: the identity set so far; server side: the identity the client sent.
///
/// # Safety
/// `a` is NULL or the authenticator of a running callback; `buf` is valid for `cap` bytes.
#[no_mangle]
pub unsafe extern "C" fn qdtls_psk_identity(
    a: *const QSslPreSharedKeyAuthenticator,
    buf: *mut u8,
    cap: usize,
) -> usize {
    guard(0, || get(a).map_or(0, |a| put_bytes(a.identity(), buf, cap)))
}

/// Sets the identity the client sends; longer than
/// `qdtls_psk_maximum_identity_length` is truncated when sent, as in Qt.
/// False for NULL arguments.
///
/// # Safety
/// `a` is NULL or the authenticator of a running callback; `identity` is valid for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn qdtls_psk_set_identity(
    a: *mut QSslPreSharedKeyAuthenticator,
    identity: *const u8,
    len: usize,
) -> bool {
    guard(false, || match (get_mut(a), bytes(identity, len)) {
        (Some(a), Some(id)) => {
            a.set_identity(id);
            true
        }
        _ => false,
    })
}

/// The key set so far (bytes; see the buffer rules).
///
/// # Safety
/// `a` is NULL or the authenticator of a running callback; `buf` is valid for `cap` bytes.
#[no_mangle]
pub unsafe extern "C" fn qdtls_psk_pre_shared_key(
    a: *const QSslPreSharedKeyAuthenticator,
    buf: *mut u8,
    cap: usize,
) -> usize {
    guard(0, || get(a).map_or(0, |a| put_bytes(a.pre_shared_key(), buf, cap)))
}

/// Sets the pre-shared key; longer than the maximum is truncated when used.
/// Leaving it empty fails the handshake. The library wipes its copy after use.
///
/// # Safety
/// `a` is NULL or the authenticator of a running callback; `key` is valid for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn qdtls_psk_set_pre_shared_key(
    a: *mut QSslPreSharedKeyAuthenticator,
    key: *const u8,
    len: usize,
) -> bool {
    guard(false, || match (get_mut(a), bytes(key, len)) {
        (Some(a), Some(k)) => {
            a.set_pre_shared_key(k);
            true
        }
        _ => false,
    })
}

/// Longest identity that is sent: OpenSSL's room minus the terminating NUL
/// on the client (255 with OpenSSL 3, 127 with 1.x), 0 on the server; -1 for NULL.
///
/// # Safety
/// `a` is NULL or the authenticator of a running callback.
#[no_mangle]
pub unsafe extern "C" fn qdtls_psk_maximum_identity_length(a: *const QSslPreSharedKeyAuthenticator) -> i32 {
    guard(-1, || get(a).map_or(-1, |a| a.maximum_identity_length() as i32))
}

/// Longest key that is used: what OpenSSL allows (512 with OpenSSL 3, 256
/// with OpenSSL 1.x); -1 for NULL.
///
/// # Safety
/// `a` is NULL or the authenticator of a running callback.
#[no_mangle]
pub unsafe extern "C" fn qdtls_psk_maximum_pre_shared_key_length(a: *const QSslPreSharedKeyAuthenticator) -> i32 {
    guard(-1, || get(a).map_or(-1, |a| a.maximum_pre_shared_key_length() as i32))
}
