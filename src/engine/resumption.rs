//! Session resumption (off unless a configuration asks, as in Qt): a server
//! issues session tickets under process-wide keys that rotate, and keeps a
//! session cache; a client takes its session out as bytes and puts it into
//! a later connection.
//!
//! Ticket keys: a new key every `ROTATE`; tickets are issued under the
//! newest and accepted under the previous one too (then renewed), so a
//! ticket stays usable for one to two rotation periods, and a key that leaks
//! stops opening tickets after two.

use std::time::{Duration, Instant};

use libc::{c_int, c_uchar};
use once_cell::sync::Lazy;
use openssl::ssl::{SslContextBuilder, SslOptions, SslSessionCacheMode};
use openssl_sys as sys;
use parking_lot::Mutex;

use super::error::describe;
use super::hooks::no_unwind;
use super::ossl;

/// How long a ticket key issues tickets.
pub const ROTATE: Duration = Duration::from_secs(12 * 60 * 60);
/// How long a session stays in a server's cache (and a ticket's lifetime hint).
pub const SESSION_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);

/// One ticket key: its name (sent in the ticket), AES-256 and HMAC-SHA256 keys.
#[derive(Clone)]
struct TicketKey {
    name: [u8; 16],
    aes: [u8; 32],
    hmac: [u8; 32],
    made: Instant,
}

impl TicketKey {
    fn new() -> Option<TicketKey> {
        let mut k = TicketKey { name: [0; 16], aes: [0; 32], hmac: [0; 32], made: Instant::now() };
        for buf in [&mut k.name[..], &mut k.aes[..], &mut k.hmac[..]] {
            openssl::rand::rand_bytes(buf).ok()?;
        }
        Some(k)
    }
}

impl Drop for TicketKey {
    fn drop(&mut self) {
        super::psk::wipe(&mut self.aes);
        super::psk::wipe(&mut self.hmac);
    }
}

/// The newest key and the one before it.
struct Ring {
    current: Option<TicketKey>,
    previous: Option<TicketKey>,
}

static RING: Lazy<Mutex<Ring>> = Lazy::new(|| Mutex::new(Ring { current: None, previous: None }));

impl Ring {
    /// The key to issue tickets with, rotating when it is due.
    fn issuing(&mut self) -> Option<TicketKey> {
        if self.current.as_ref().is_none_or(|k| k.made.elapsed() >= ROTATE) {
            let next = TicketKey::new()?;
            self.previous = self.current.replace(next);
        }
        self.current.clone()
    }

    /// The key named `name`, and whether the ticket should be renewed (it was
    /// issued under the previous key).
    fn find(&self, name: &[u8]) -> Option<(TicketKey, bool)> {
        let current = self.current.as_ref().filter(|k| k.name == name).map(|k| (k.clone(), false));
        current.or_else(|| self.previous.as_ref().filter(|k| k.name == name).map(|k| (k.clone(), true)))
    }
}

/// Rotates now (for tests and for programs that rotate on their own schedule).
#[doc(hidden)]
pub fn rotate_ticket_keys() {
    let mut ring = RING.lock();
    if let Some(next) = TicketKey::new() {
        ring.previous = ring.current.replace(next);
    }
}

/// Session settings of a context: resumption on (tickets and a cache) or off.
pub fn configure(b: &mut SslContextBuilder, enabled: bool) -> Result<(), String> {
    if !enabled {
        b.set_options(SslOptions::NO_TICKET);
        b.set_session_cache_mode(SslSessionCacheMode::OFF);
        return Ok(());
    }
    // Both sides: a client keeps its session (for session_data), a server caches.
    b.set_session_cache_mode(SslSessionCacheMode::SERVER | SslSessionCacheMode::CLIENT);
    // SAFETY: live context under construction.
    unsafe { ossl::SSL_CTX_set_timeout(b.as_ptr(), SESSION_TIMEOUT.as_secs() as libc::c_long) };
    // Needed for a server that asks for client certificates to resume at all.
    b.set_session_id_context(b"qdtls").map_err(describe("Cannot set the session id context"))?;
    // SAFETY: live context under construction; the callback is a plain function.
    if unsafe { ossl::SSL_CTX_set_tlsext_ticket_key_evp_cb(b.as_ptr(), Some(ticket_key_cb)) } != 1 {
        return Err(super::error::with_openssl_errors("Cannot install the session ticket keys"));
    }
    Ok(())
}

/// OpenSSL's ticket key callback: `enc` 1 makes a ticket (1 = done), 0 opens
/// one (0 = unknown key: full handshake; 1 = fine; 2 = fine, renew the ticket).
unsafe extern "C" fn ticket_key_cb(
    _ssl: *mut sys::SSL,
    name: *mut c_uchar,
    iv: *mut c_uchar,
    cipher: *mut sys::EVP_CIPHER_CTX,
    mac: *mut sys::EVP_MAC_CTX,
    enc: c_int,
) -> c_int {
    no_unwind(-1, || {
        // SAFETY: OpenSSL passes a 16-byte name and an IV of EVP_MAX_IV_LENGTH (16) bytes.
        let (name, iv) = unsafe { (std::slice::from_raw_parts_mut(name, 16), std::slice::from_raw_parts_mut(iv, 16)) };
        if enc == 1 {
            let Some(key) = RING.lock().issuing() else { return -1 };
            if openssl::rand::rand_bytes(iv).is_err() {
                return -1;
            }
            name.copy_from_slice(&key.name);
            // SAFETY: live contexts from OpenSSL; our keys are the lengths AES-256 and HMAC need.
            unsafe { init(cipher, mac, &key, iv, true) }
        } else {
            let Some((key, renew)) = RING.lock().find(name) else { return 0 };
            // SAFETY: as above.
            match unsafe { init(cipher, mac, &key, iv, false) } {
                1 if renew => 2,
                r => r,
            }
        }
    })
}

/// Sets up AES-256-CBC and HMAC-SHA256 with `key`: 1 on success, -1 on failure.
///
/// # Safety
/// `cipher` and `mac` are live contexts OpenSSL handed to the ticket callback.
unsafe fn init(
    cipher: *mut sys::EVP_CIPHER_CTX,
    mac: *mut sys::EVP_MAC_CTX,
    key: &TicketKey,
    iv: &[u8],
    encrypt: bool,
) -> c_int {
    // SAFETY: per this function's contract; the params array ends with its end marker.
    unsafe {
        let aes = sys::EVP_aes_256_cbc();
        let ok = if encrypt {
            sys::EVP_EncryptInit_ex(cipher, aes, std::ptr::null_mut(), key.aes.as_ptr(), iv.as_ptr())
        } else {
            sys::EVP_DecryptInit_ex(cipher, aes, std::ptr::null_mut(), key.aes.as_ptr(), iv.as_ptr())
        };
        let params = [
            ossl::OSSL_PARAM_construct_utf8_string(c"digest".as_ptr(), c"SHA256".as_ptr().cast_mut(), 0),
            sys::OSSL_PARAM_construct_end(),
        ];
        let ready = ok == 1
            && sys::EVP_MAC_CTX_set_params(mac, params.as_ptr()) == 1
            && sys::EVP_MAC_init(mac, key.hmac.as_ptr(), key.hmac.len(), std::ptr::null()) == 1;
        if ready {
            1
        } else {
            -1
        }
    }
}
