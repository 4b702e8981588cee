//! Per-connection data that OpenSSL's callbacks need (they are installed
//! once on a shared SSL_CTX, so they find their connection's data here, in
//! the SSL's ex_data).

use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use foreign_types::ForeignTypeRef;

use libc::c_uint;
use once_cell::sync::Lazy;
use openssl::ex_data::Index;
use openssl::ssl::{Ssl, SslRef};

use super::cookie::CookieParams;
use super::psk::PskCallback;

/// Qt's ceiling for the doubling retransmission timer.
pub const MAX_TIMEOUT_US: u32 = 60_000_000;

pub struct Hooks {
    /// The peer the cookie is bound to.
    pub peer: Option<SocketAddr>,
    pub cookie: CookieParams,
    pub psk: Option<Arc<PskCallback>>,
    /// Server side: the identity hint we send (also shown to our callback).
    pub psk_hint: Vec<u8>,
    /// First retransmission timeout of a flight.
    pub initial_timeout_us: u32,
}

static INDEX: Lazy<Index<Ssl, Hooks>> = Lazy::new(|| Ssl::new_ex_index().expect("no SSL ex_data index left"));

pub fn hooks(ssl: &SslRef) -> Option<&Hooks> {
    ssl.ex_data(*INDEX)
}

pub fn set_hooks(ssl: &mut SslRef, h: Hooks) {
    ssl.set_ex_data(*INDEX, h);
}

/// Runs the body of a callback OpenSSL makes into Rust: a panic must not
/// unwind into C (it would abort the host program), so it becomes
/// `failed`, which makes OpenSSL fail the operation.
pub fn no_unwind<R>(failed: R, f: impl FnOnce() -> R) -> R {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(failed)
}

/// DTLS_timer_cb: `initial` for a new flight, then doubling up to 60 s
/// (OpenSSL still gives up after its own retry count).
///
/// # Safety
/// Called by OpenSSL with a live SSL.
pub unsafe extern "C" fn timer_cb(ssl: *mut openssl_sys::SSL, previous_us: c_uint) -> c_uint {
    no_unwind(MAX_TIMEOUT_US, || {
        // SAFETY: OpenSSL passes the live SSL whose timer runs.
        let ssl = unsafe { SslRef::from_ptr(ssl) };
        let initial = hooks(ssl).map_or(1_000_000, |h| h.initial_timeout_us);
        next_timeout_us(initial, previous_us)
    })
}

/// The schedule: `initial` first, then doubling, capped at 60 s (or at
/// `initial` if that is longer).
pub fn next_timeout_us(initial: u32, previous_us: u32) -> u32 {
    if previous_us == 0 {
        initial
    } else {
        previous_us.saturating_mul(2).min(MAX_TIMEOUT_US.max(initial))
    }
}
