//! Per-connection data that OpenSSL's callbacks need (they are installed
//! once on a shared SSL_CTX, so they find their connection's data here, in
//! the SSL's ex_data).

use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU32, Ordering};
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

/// How a handshake retransmits: RFC 6347's schedule by default (1 s
/// doubling to 60 s, OpenSSL's 12 retransmissions per flight, no deadline).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetransmitPolicy {
    /// First timeout of each flight, ms.
    pub initial_ms: u32,
    /// Ceiling of the doubling, ms.
    pub max_timeout_ms: u32,
    /// Retransmissions of one flight before the handshake fails (at most
    /// OpenSSL's own limit, 12).
    pub max_retransmissions: u32,
    /// The whole handshake must complete within this many ms (0: no deadline).
    pub deadline_ms: u32,
}

/// OpenSSL's fixed limit of retransmissions per flight (DTLS1_TMO_ALERT_COUNT).
pub const OPENSSL_MAX_RETRANSMISSIONS: u32 = 12;

impl Default for RetransmitPolicy {
    fn default() -> Self {
        RetransmitPolicy {
            initial_ms: 1000,
            max_timeout_ms: MAX_TIMEOUT_US / 1000,
            max_retransmissions: OPENSSL_MAX_RETRANSMISSIONS,
            deadline_ms: 0,
        }
    }
}

pub struct Hooks {
    /// The peer the cookie is bound to.
    pub peer: Option<SocketAddr>,
    pub cookie: CookieParams,
    /// The ClientHello's cookie was checked before this connection existed
    /// (by a server's stateless exchange, which may accept a rotated secret).
    pub cookie_preverified: bool,
    pub psk: Option<Arc<PskCallback>>,
    /// Server side: the identity hint we send (also shown to our callback).
    pub psk_hint: Vec<u8>,
    /// The retransmission schedule.
    pub policy: RetransmitPolicy,
    /// Retransmissions of the current flight so far.
    pub retransmissions: AtomicU32,
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
        let Some(h) = hooks(ssl) else { return next_timeout_us(&RetransmitPolicy::default(), previous_us) };
        // A flight starts at 0: its retransmissions are counted from there.
        if previous_us == 0 {
            h.retransmissions.store(0, Ordering::Relaxed);
        } else {
            h.retransmissions.fetch_add(1, Ordering::Relaxed);
        }
        next_timeout_us(&h.policy, previous_us)
    })
}

/// The schedule: the initial timeout first, then doubling, capped at the
/// maximum (or at the initial timeout if that is longer).
pub fn next_timeout_us(p: &RetransmitPolicy, previous_us: u32) -> u32 {
    let initial = p.initial_ms.saturating_mul(1000);
    if previous_us == 0 {
        initial
    } else {
        previous_us.saturating_mul(2).min(p.max_timeout_ms.saturating_mul(1000).max(initial))
    }
}
