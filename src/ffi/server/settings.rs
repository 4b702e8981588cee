//! A server's counts, limits, cookie secret and last error; the user data
//! of connections (server peers above all).

use std::sync::atomic::Ordering;

use libc::{c_char, c_void};

use super::{failure, qdtls_server};
use crate::engine::error::DtlsError;
use crate::ffi::dtls::qdtls_connection;
use crate::ffi::handle::try_ref;
use crate::ffi::{bytes, call, out};

/// Peers, handshaking ones included (0 for NULL). Works from inside callbacks.
///
/// # Safety
/// `s` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn qdtls_server_peer_count(s: *const qdtls_server) -> usize {
    // SAFETY: `s` is NULL or live, as this function's contract says.
    let h = unsafe { try_ref(s) };
    call(h, 0, |h| h.counts.peers.load(Ordering::Relaxed))
}

/// Handshakes in progress (0 for NULL). Works from inside callbacks.
///
/// # Safety
/// `s` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn qdtls_server_handshake_count(s: *const qdtls_server) -> usize {
    // SAFETY: `s` is NULL or live, as this function's contract says.
    let h = unsafe { try_ref(s) };
    call(h, 0, |h| h.counts.handshakes.load(Ordering::Relaxed))
}

/// Peers at once, handshaking ones included (0: no limit; default 65,536).
/// At the limit the oldest handshake makes room; with none, a new client is refused. False for a NULL or busy server.
///
/// # Safety
/// `s` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn qdtls_server_set_max_peers(s: *mut qdtls_server, value: usize) -> bool {
    // SAFETY: `s` is NULL or live, as this function's contract says.
    let h = unsafe { try_ref(s) };
    call(h, false, |h| h.set_limits(|l| l.max_peers = value))
}

/// Peers at once (`qdtls_server_set_max_peers`; 0: no limit). 0 for NULL. Works from inside callbacks.
///
/// # Safety
/// `s` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn qdtls_server_max_peers(s: *const qdtls_server) -> usize {
    // SAFETY: `s` is NULL or live, as this function's contract says.
    let h = unsafe { try_ref(s) };
    call(h, 0, |h| h.limits().max_peers)
}

/// Handshakes in progress at once (0: no limit; default 1,024); at the
/// limit the oldest handshake is evicted (`QDTLS_CLOSE_EVICTED`). False for a NULL or busy server.
///
/// # Safety
/// `s` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn qdtls_server_set_max_handshakes(s: *mut qdtls_server, value: usize) -> bool {
    // SAFETY: `s` is NULL or live, as this function's contract says.
    let h = unsafe { try_ref(s) };
    call(h, false, |h| h.set_limits(|l| l.max_handshakes = value))
}

/// Handshakes at once (`qdtls_server_set_max_handshakes`; 0: no limit). 0 for NULL. Works from inside callbacks.
///
/// # Safety
/// `s` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn qdtls_server_max_handshakes(s: *const qdtls_server) -> usize {
    // SAFETY: `s` is NULL or live, as this function's contract says.
    let h = unsafe { try_ref(s) };
    call(h, 0, |h| h.limits().max_handshakes)
}

/// Peers from one IP address, all ports (0: no limit, the default); at
/// the limit that address's oldest handshake makes room, else the new client is refused. False for a NULL or busy server.
///
/// # Safety
/// `s` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn qdtls_server_set_max_peers_per_address(s: *mut qdtls_server, value: usize) -> bool {
    // SAFETY: `s` is NULL or live, as this function's contract says.
    let h = unsafe { try_ref(s) };
    call(h, false, |h| h.set_limits(|l| l.max_peers_per_address = value))
}

/// Peers per source address (`qdtls_server_set_max_peers_per_address`; 0: no limit). 0 for NULL. Works from inside callbacks.
///
/// # Safety
/// `s` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn qdtls_server_max_peers_per_address(s: *const qdtls_server) -> usize {
    // SAFETY: `s` is NULL or live, as this function's contract says.
    let h = unsafe { try_ref(s) };
    call(h, 0, |h| h.limits().max_peers_per_address)
}

/// Established peers silent this long are closed with close_notify and
/// `QDTLS_CLOSE_IDLE_TIMEOUT` (0: never, the default). False for a NULL or busy server.
///
/// # Safety
/// `s` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn qdtls_server_set_idle_timeout_ms(s: *mut qdtls_server, value: u32) -> bool {
    // SAFETY: `s` is NULL or live, as this function's contract says.
    let h = unsafe { try_ref(s) };
    call(h, false, |h| h.set_limits(|l| l.idle_timeout_ms = value))
}

/// The idle timeout of established peers in ms (`qdtls_server_set_idle_timeout_ms`; 0: never). 0 for NULL. Works from inside callbacks.
///
/// # Safety
/// `s` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn qdtls_server_idle_timeout_ms(s: *const qdtls_server) -> u32 {
    // SAFETY: `s` is NULL or live, as this function's contract says.
    let h = unsafe { try_ref(s) };
    call(h, 0, |h| h.limits().idle_timeout_ms)
}

/// Handshakes not complete this long after they started are dropped with
/// `QDTLS_CLOSE_IDLE_TIMEOUT` (0: never; default 30,000). False for a NULL or busy server.
///
/// # Safety
/// `s` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn qdtls_server_set_handshake_timeout_ms(s: *mut qdtls_server, value: u32) -> bool {
    // SAFETY: `s` is NULL or live, as this function's contract says.
    let h = unsafe { try_ref(s) };
    call(h, false, |h| h.set_limits(|l| l.handshake_timeout_ms = value))
}

/// The time a handshake may take in ms (`qdtls_server_set_handshake_timeout_ms`; 0: no limit). 0 for NULL. Works from inside callbacks.
///
/// # Safety
/// `s` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn qdtls_server_handshake_timeout_ms(s: *const qdtls_server) -> u32 {
    // SAFETY: `s` is NULL or live, as this function's contract says.
    let h = unsafe { try_ref(s) };
    call(h, 0, |h| h.limits().handshake_timeout_ms)
}

/// The cookie HMAC's hash (`QDTLS_HASH_*`) and secret; cookies of the old
/// secret are refused from now on. Empty secret or unknown hash: false,
/// InvalidInputParameters. Servers sharing the secret all change.
///
/// # Safety
/// `s` is NULL or live; `secret` is NULL or valid for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn qdtls_server_set_cookie_generator_parameters(
    s: *mut qdtls_server,
    hash: i32,
    secret: *const u8,
    len: usize,
) -> bool {
    // SAFETY: pointers as this function's contract says.
    let (h, secret) = unsafe { (try_ref(s), bytes(secret, len)) };
    call(h, false, |h| {
        h.drive(false, |srv, _| {
            let secret = secret.ok_or_else(|| failure(DtlsError::InvalidInputParameters, "NULL secret"))?;
            srv.set_cookie_generator_parameters(hash, secret).map(|()| true)
        })
    })
}

/// A new random cookie secret (same hash); cookies of the old one are still
/// accepted for `grace_ms` (0: not at all). Servers sharing the secret all rotate.
///
/// # Safety
/// `s` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn qdtls_server_rotate_cookie_secret(s: *mut qdtls_server, grace_ms: u32) -> bool {
    // SAFETY: `s` is NULL or live, as this function's contract says.
    let h = unsafe { try_ref(s) };
    call(h, false, |h| {
        h.drive(false, |srv, _| {
            srv.cookies().rotate(grace_ms);
            Ok(true)
        })
    })
}

/// Makes `s` use `from`'s cookie secret, now and after every rotation or
/// change of it (one server per thread on SO_REUSEPORT sockets of one port:
/// a cookie one issued is accepted by all). False for NULL or busy servers.
///
/// # Safety
/// `s` and `from` are NULL or live.
#[no_mangle]
pub unsafe extern "C" fn qdtls_server_share_cookie_secret(s: *mut qdtls_server, from: *const qdtls_server) -> bool {
    // SAFETY: pointers as this function's contract says.
    let (h, from) = unsafe { (try_ref(s), try_ref(from)) };
    call(h, false, |h| {
        let Some(cookies) = from.and_then(|f| f.server().map(|srv| srv.cookies().clone())) else {
            return h.fail(DtlsError::InvalidInputParameters, "NULL or busy server to share with", false);
        };
        h.drive(false, |srv, _| {
            srv.share_cookies(&cookies);
            Ok(true)
        })
    })
}

/// The last call's error (`QDTLS_ERROR_*`); NoError after success.
/// `QDTLS_ERROR_INVALID_INPUT_PARAMETERS` for NULL.
///
/// # Safety
/// `s` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn qdtls_server_error(s: *const qdtls_server) -> i32 {
    // SAFETY: `s` is NULL or live, as this function's contract says.
    let h = unsafe { try_ref(s) };
    call(h, DtlsError::InvalidInputParameters as i32, |h| h.error.lock().code as i32)
}

/// The last call's error description ("" after success), by the buffer
/// rules of every string getter; returns its length.
///
/// # Safety
/// `s` is NULL or live; `buf` is valid for `cap` bytes.
#[no_mangle]
pub unsafe extern "C" fn qdtls_server_error_string(s: *const qdtls_server, buf: *mut c_char, cap: usize) -> usize {
    // SAFETY: pointers as this function's contract says.
    let (h, buf) = unsafe { (try_ref(s), out(buf, cap)) };
    call(h, 0, |h| buf.put_str(&h.error.lock().message))
}

/// Attaches the application's pointer to a connection (a server's peer or
/// one of its own); the library never uses it. False for NULL.
///
/// # Safety
/// `c` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn qdtls_set_user_data(c: *mut qdtls_connection, user: *mut c_void) -> bool {
    // SAFETY: `c` is NULL or live, as this function's contract says.
    let c = unsafe { try_ref(c) };
    call(c, false, |c| {
        c.user.store(user, Ordering::Relaxed);
        true
    })
}

/// The pointer given to `qdtls_set_user_data` (NULL if none, or for NULL).
///
/// # Safety
/// `c` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn qdtls_user_data(c: *const qdtls_connection) -> *mut c_void {
    // SAFETY: `c` is NULL or live, as this function's contract says.
    let c = unsafe { try_ref(c) };
    call(c, std::ptr::null_mut(), |c| c.user.load(Ordering::Relaxed))
}
