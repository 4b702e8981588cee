//! The QDtls state machine: Qt's check orders, states and resets, over one
//! OpenSSL connection fed through the datagram BIO.
//!
//! Locking: `conn` (re-entrant) serializes every operation and setter, so a
//! handle can be used from any thread. Everything the getters show lives in
//! `info`, which is only locked for short moments and never while OpenSSL
//! runs, so the PSK callback (which runs inside OpenSSL, on the calling
//! thread) can call getters of the same session without deadlock. A
//! re-entrant operation from inside a callback is refused, not deadlocked.

mod connection;
mod data;
mod exporter;
mod handshake;
mod setters;
use std::cell::RefCell;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use foreign_types::ForeignType;
use openssl::ssl::{Ssl, SslSession, SslVerifyMode, SslVersion};
use openssl::x509::X509;
use openssl_sys as sys;
use parking_lot::{Mutex, ReentrantMutex, RwLock, RwLockReadGuard};

use super::bio::Wired;
use super::config::{default_config, protocol, Config, VerifyMode};
use super::context::{context, requests_certificate};
use super::cookie::CookieParams;
use super::error::{describe, with_openssl_errors, DtlsError, LastError};
use super::hooks::hooks;
use super::hooks::{no_unwind, set_hooks, timer_cb, Hooks, RetransmitPolicy, OPENSSL_MAX_RETRANSMISSIONS};
use super::keying::{self as keys, SrtpKeys, SrtpProfile};
use super::ossl;
use super::psk::PskCallback;
use super::record::{is_fragmented_client_hello, min_protected_body, starts_with_client_hello};
use super::verify::{all_ignored, from_x509_error, peer_errors, VerificationError};
use super::{flush, is_broadcast_or_multicast, BatchReceiver, HandshakeState, SslMode, Transport};

/// Largest plaintext of one DTLS record.
pub const MAX_RECORD_PLAINTEXT: usize = 16384;
/// Qt's MTU when neither a hint nor the socket's path MTU is known.
pub const FALLBACK_MTU: u32 = 576;

use DtlsError::*;
use HandshakeState::*;

/// Everything the getters report. Written in short critical sections only.
pub struct Info {
    pub mode: SslMode,
    pub peer: Option<IpAddr>,
    pub port: u16,
    pub verification_name: String,
    pub mtu_hint: u16,
    pub cookie: CookieParams,
    pub config: Arc<Config>,
    pub state: HandshakeState,
    pub error: LastError,
    pub verification_errors: Vec<VerificationError>,
    pub ignored: Vec<VerificationError>,
    pub cipher: Option<&'static str>,
    pub protocol: i32,
    /// The peer's certificate chain, leaf first (empty before the handshake).
    pub peer_chain: Vec<X509>,
    /// The retransmission schedule.
    pub policy: RetransmitPolicy,
    /// The negotiated ALPN protocol, once encrypted.
    pub alpn: Option<Vec<u8>>,
    /// The negotiated DTLS-SRTP profile, once encrypted.
    pub srtp_profile: Option<SrtpProfile>,
    /// Whether the handshake resumed an earlier session.
    pub resumed: bool,
    /// Client side, with resumption on: the session to resume later (DER).
    pub session_data: Option<Vec<u8>>,
    /// Client side: the session the next handshake offers to resume (DER).
    pub resume_from: Option<Vec<u8>>,
    /// Largest plaintext that fits one datagram (0 unless encrypted).
    pub max_payload: usize,
    /// Server side: the first ClientHello's cookie was verified before the
    /// session existed (by the server's stateless exchange).
    pub hello_verified: bool,
    /// A server's peer: answers close_notify with close_notify.
    pub server_peer: bool,
}

/// One OpenSSL connection.
struct Conn {
    ssl: Wired,
    peer: SocketAddr,
    /// Errors OpenSSL's chain verification reported, collected by the verify callback.
    x509_errors: Arc<Mutex<Vec<VerificationError>>>,
    /// The MTU came from the hint or the socket, not from the fallback guess.
    mtu_known: bool,
    /// Shortest protected record body with the negotiated cipher, known once complete.
    min_body: usize,
    /// The negotiated record version (0xfefd for DTLS 1.2), known once complete.
    version: u16,
    /// OpenSSL's record buffers were released while the session is idle.
    buffers_released: bool,
    /// When the handshake must be complete (µs on OpenSSL's clock), if ever.
    deadline_us: Option<u64>,
}

impl Conn {
    /// An established session keeps no record buffers while idle (about
    /// 33 KB of its 72 KB); they come back before the first record
    /// operation. OpenSSL 3.0's DTLS write path does not reallocate them by
    /// itself (SSL_write after SSL_free_buffers crashes), hence this call
    /// before every operation on an established session.
    fn ensure_buffers(&mut self) {
        if std::mem::take(&mut self.buffers_released) {
            // SAFETY: live SSL.
            unsafe { ossl::SSL_alloc_buffers(self.ssl.as_ptr()) };
        }
    }

    fn release_buffers(&mut self) {
        // SAFETY: live SSL; OpenSSL refuses (0) while it holds unread data.
        self.buffers_released = unsafe { ossl::SSL_free_buffers(self.ssl.as_ptr()) } == 1;
        self.ssl.bio().release();
    }
}

/// A QDtls.
pub struct Session {
    info: RwLock<Info>,
    conn: ReentrantMutex<RefCell<Option<Conn>>>,
    psk: Mutex<Option<Arc<PskCallback>>>,
    /// Told when the application ends the session itself (shutdown, or an
    /// aborted handshake): a server owning the session removes it then.
    ended: Mutex<Option<Arc<dyn Fn() + Send + Sync>>>,
}

/// Result of one OpenSSL call: its return value and SSL_get_error's verdict.
fn ssl_call(ssl: &Ssl, f: impl FnOnce(*mut sys::SSL) -> i32) -> (i32, i32) {
    // SAFETY: the SSL is alive. Stale errors would be blamed on this call;
    // clearing an empty queue is not free in OpenSSL 3, so look first.
    unsafe {
        if sys::ERR_peek_last_error() != 0 {
            sys::ERR_clear_error();
        }
    }
    let ret = f(ssl.as_ptr());
    let err = if ret > 0 { sys::SSL_ERROR_NONE } else { unsafe { sys::SSL_get_error(ssl.as_ptr(), ret) } };
    (ret, err)
}

fn is_retry(err: i32) -> bool {
    err == sys::SSL_ERROR_WANT_READ || err == sys::SSL_ERROR_WANT_WRITE
}

impl Session {
    /// QDtls(mode): defaults as Qt's constructor leaves them.
    pub fn new(mode: SslMode) -> Session {
        Session {
            info: RwLock::new(Info {
                mode,
                peer: None,
                port: 0,
                verification_name: String::new(),
                mtu_hint: 0,
                cookie: CookieParams::default(),
                config: default_config(),
                state: NotStarted,
                error: LastError::default(),
                verification_errors: Vec::new(),
                ignored: Vec::new(),
                cipher: None,
                protocol: protocol::UNKNOWN,
                peer_chain: Vec::new(),
                policy: RetransmitPolicy::default(),
                alpn: None,
                srtp_profile: None,
                resumed: false,
                session_data: None,
                resume_from: None,
                max_payload: 0,
                hello_verified: false,
                server_peer: false,
            }),
            conn: ReentrantMutex::new(RefCell::new(None)),
            psk: Mutex::new(None),
            ended: Mutex::new(None),
        }
    }

    pub fn is_encrypted(&self) -> bool {
        self.info.read().state == Complete
    }

    /// Read access for getters; never held across OpenSSL calls.
    pub fn info(&self) -> RwLockReadGuard<'_, Info> {
        self.info.read()
    }

    /// Records an error found before the engine was reached (bad arguments at the ABI).
    pub fn set_error(&self, code: DtlsError, msg: &str) {
        self.info.write().error.set(code, msg);
    }

    fn fail<R>(&self, code: DtlsError, msg: impl Into<String>, ret: R) -> R {
        self.info.write().error.set(code, msg);
        ret
    }

    fn succeed<R>(&self, ret: R) -> R {
        self.info.write().error.clear();
        ret
    }

    /// Runs `f` under the operation lock with the connection borrowed.
    /// A call from inside one of our own callbacks cannot borrow it and fails.
    fn with_conn<R>(&self, refused: R, f: impl FnOnce(&mut Option<Conn>) -> R) -> R {
        let guard = self.conn.lock();
        let Ok(mut conn) = guard.try_borrow_mut() else {
            return self.fail(InvalidOperation, "Not allowed from inside a callback of the same object", refused);
        };
        f(&mut conn)
    }

    /// Runs a setter under the operation lock, only while no handshake was started.
    fn set_before_start(&self, what: &str, f: impl FnOnce(&mut Info)) -> bool {
        let _serialized = self.conn.lock();
        let mut info = self.info.write();
        if info.state != NotStarted {
            info.error.set(InvalidOperation, format!("Cannot set {what}, handshake already started"));
            return false;
        }
        f(&mut info);
        info.error.clear();
        true
    }
}
