//! The QDtls state machine: Qt's check orders, states and resets, over one
//! OpenSSL connection fed through the datagram BIO.
//!
//! Locking: `conn` (re-entrant) serializes every operation and setter, so a
//! handle can be used from any thread. Everything the getters show lives in
//! `info`, which is only locked for short moments and never while OpenSSL
//! runs, so the PSK callback (which runs inside OpenSSL, on the calling
//! thread) can call getters of the same session without deadlock. A
//! re-entrant operation from inside a callback is refused, not deadlocked.

use std::cell::RefCell;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use foreign_types::ForeignType;
use openssl::ssl::{Ssl, SslVerifyMode, SslVersion};
use openssl::x509::X509;
use openssl_sys as sys;
use parking_lot::{Mutex, ReentrantMutex, RwLock, RwLockReadGuard};

use super::bio::Wired;
use super::config::{default_config, protocol, Config, VerifyMode};
use super::context::{context, requests_certificate};
use super::cookie::CookieParams;
use super::error::{describe, with_openssl_errors, DtlsError, LastError};
use super::hooks::{no_unwind, set_hooks, timer_cb, Hooks};
use super::ossl;
use super::psk::PskCallback;
use super::record::{is_fragmented_client_hello, min_protected_body, starts_with_client_hello};
use super::verify::{all_ignored, from_x509_error, peer_errors, VerificationError};
use super::{flush, is_broadcast_or_multicast, HandshakeState, SslMode, Transport};

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
    pub initial_timeout_ms: u32,
    /// Largest plaintext that fits one datagram (0 unless encrypted).
    pub max_payload: usize,
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
    }
}

/// A QDtls.
pub struct Session {
    info: RwLock<Info>,
    conn: ReentrantMutex<RefCell<Option<Conn>>>,
    psk: Mutex<Option<Arc<PskCallback>>>,
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
                initial_timeout_ms: 1000,
                max_payload: 0,
            }),
            conn: ReentrantMutex::new(RefCell::new(None)),
            psk: Mutex::new(None),
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

    // ---- setters -------------------------------------------------------

    /// QDtls::setPeer, in Qt's check order.
    pub fn set_peer(&self, address: Option<IpAddr>, port: u16, name: &str) -> bool {
        let _serialized = self.conn.lock();
        let mut info = self.info.write();
        let err = if info.state != NotStarted {
            Some((InvalidOperation, "Cannot set peer after handshake started"))
        } else if address.is_none() {
            Some((InvalidInputParameters, "Invalid address"))
        } else if address.is_some_and(is_broadcast_or_multicast) {
            Some((InvalidInputParameters, "Invalid address: broadcast or multicast"))
        } else {
            None
        };
        if let Some((code, msg)) = err {
            info.error.set(code, msg);
            return false;
        }
        info.peer = address;
        info.port = port;
        info.verification_name = name.to_owned();
        info.error.clear();
        true
    }

    pub fn set_peer_verification_name(&self, name: &str) -> bool {
        self.set_before_start("verification name", |i| i.verification_name = name.to_owned())
    }

    pub fn set_dtls_configuration(&self, cfg: Arc<Config>) -> bool {
        self.set_before_start("configuration", |i| i.config = cfg)
    }

    /// No checks, as in Qt; 0 means "not set".
    pub fn set_mtu_hint(&self, mtu: u16) {
        let _serialized = self.conn.lock();
        self.info.write().mtu_hint = mtu;
    }

    /// Our extension: the first retransmission timeout (Qt: fixed 1 s).
    pub fn set_initial_timeout_ms(&self, ms: u32) -> bool {
        if ms == 0 || ms > 60_000 {
            return self.fail(InvalidInputParameters, "Initial timeout must be 1..=60000 ms", false);
        }
        self.set_before_start("initial timeout", |i| i.initial_timeout_ms = ms)
    }

    /// QDtls::setCookieGeneratorParameters; returns true on success (Qt returns false).
    pub fn set_cookie_generator_parameters(&self, hash: i32, secret: &[u8]) -> bool {
        let _serialized = self.conn.lock();
        match CookieParams::new(hash, secret) {
            Ok(p) => {
                self.info.write().cookie = p;
                self.succeed(true)
            }
            Err(msg) => self.fail(InvalidInputParameters, msg, false),
        }
    }

    /// QDtls::ignoreVerificationErrors: replaces the list (empty clears it).
    pub fn ignore_verification_errors(&self, list: Vec<VerificationError>) {
        let _serialized = self.conn.lock();
        let mut info = self.info.write();
        info.ignored = list;
        info.error.clear();
    }

    /// Takes effect at the next handshake start.
    pub fn set_psk_callback(&self, cb: Option<Arc<PskCallback>>) {
        *self.psk.lock() = cb;
        self.info.write().error.clear();
    }

    // ---- handshake -----------------------------------------------------

    /// QDtls::doHandshake. `t` is None for Qt's null socket.
    pub fn do_handshake(&self, t: Option<&mut dyn Transport>, dgram: &[u8]) -> bool {
        self.with_conn(false, |conn| {
            let state = self.info.read().state;
            match state {
                NotStarted => self.start(conn, t, dgram),
                InProgress => match t {
                    None => self.fail(InvalidInputParameters, "Invalid (nullptr) socket", false),
                    Some(_) if dgram.is_empty() => self.fail(InvalidInputParameters, "Invalid (empty) datagram", false),
                    Some(t) => self.drive(conn, t, Some(dgram)),
                },
                PeerVerificationFailed | Complete => {
                    self.fail(InvalidOperation, "Cannot start/continue handshake, invalid handshake state", false)
                }
            }
        })
    }

    fn start(&self, conn: &mut Option<Conn>, t: Option<&mut dyn Transport>, dgram: &[u8]) -> bool {
        let Some(t) = t else { return self.fail(InvalidInputParameters, "Invalid (nullptr) socket", false) };
        let (mode, cookies) = {
            let i = self.info.read();
            (i.mode, i.config.data.cookie_verification)
        };
        if self.info.read().peer.is_none() {
            return self.fail(
                InvalidOperation,
                "To start a handshake you must set peer's address and port first",
                false,
            );
        }
        if mode == SslMode::Server && dgram.is_empty() {
            return self.fail(
                InvalidInputParameters,
                "To start a handshake, DTLS server requires non-empty datagram (client hello)",
                false,
            );
        }
        let mut c = match self.open(t) {
            Ok(c) => c,
            Err(msg) => return self.fail(TlsInitializationError, msg, false),
        };
        if mode == SslMode::Server {
            if !starts_with_client_hello(dgram) {
                // OpenSSL would drop it silently and wait, with no timer, for a
                // ClientHello that may never come: one stuck session per forged datagram.
                return self.fail(TlsFatalError, "The first datagram is not a ClientHello", false);
            }
            c.ssl.bio().offer(dgram);
            if cookies && (is_fragmented_client_hello(dgram) || !listen(&mut c)) {
                let msg = with_openssl_errors(
                    "Cookie verification failed: the first datagram is not a ClientHello with a valid cookie",
                );
                return self.fail(TlsFatalError, msg, false);
            }
        }
        self.info.write().state = InProgress;
        *conn = Some(c);
        // A server's ClientHello is already in the BIO; a client sends first.
        let ok = self.drive(conn, t, None);
        if ok && mode == SslMode::Server && conn.as_ref().is_some_and(|c| ossl::dtls_get_timeout(&c.ssl).is_none()) {
            // OpenSSL dropped the hello (a record version or message sequence
            // it does not take, or a fragment) and waits with no timer: a
            // session that would never end by itself. Qt requires a complete
            // ClientHello in the first datagram with cookies; so do we always.
            *conn = None;
            self.reset();
            return self.fail(
                TlsFatalError,
                "The first datagram did not start a handshake: not a complete ClientHello",
                false,
            );
        }
        ok
    }

    /// Continues the handshake with one datagram (or none, to start a client).
    fn drive(&self, conn: &mut Option<Conn>, t: &mut dyn Transport, dgram: Option<&[u8]>) -> bool {
        let Some(c) = conn.as_mut() else { return self.fail(InvalidOperation, "No connection", false) };
        let ok = self.drive_conn(c, t, dgram);
        if self.info.read().state == NotStarted {
            *conn = None; // a fatal error reset us
        }
        ok
    }

    fn drive_conn(&self, c: &mut Conn, t: &mut dyn Transport, dgram: Option<&[u8]>) -> bool {
        if let Some(d) = dgram {
            // SAFETY: live SSL.
            let version = unsafe { ossl::SSL_version(c.ssl.as_ptr()) } as u16;
            let min = min_protected_body(&c.ssl);
            c.ssl.bio().offer_protected(d, min, version);
        }
        // SAFETY: SSL_do_handshake on our live SSL.
        let (ret, err) = ssl_call(&c.ssl, |s| unsafe { sys::SSL_do_handshake(s) });
        c.ssl.bio().discard_incoming();
        let reason = if ret == 1 || is_retry(err) { String::new() } else { with_openssl_errors("") };
        // Whatever OpenSSL produced goes out, alerts of a failed handshake included.
        let sent = flush(c.ssl.bio(), t, c.peer);
        if ret == 1 {
            if let Err(e) = sent {
                // The final flight did not leave; the peer will retransmit and we answer then.
                self.finish(c);
                return self.fail(UnderlyingSocketError, e.to_string(), false);
            }
            return self.finish(c);
        }
        if is_retry(err) {
            return match sent {
                Ok(()) => self.succeed(true),
                Err(e) => self.fail(UnderlyingSocketError, e.to_string(), false),
            };
        }
        self.reset();
        let reason = reason.trim_start_matches(": ");
        let msg = if reason.is_empty() { "Handshake failed".to_owned() } else { format!("Handshake failed: {reason}") };
        self.fail(TlsFatalError, msg, false)
    }

    /// Creates the OpenSSL connection for the current settings.
    fn open(&self, t: &mut dyn Transport) -> Result<Conn, String> {
        let i = self.info.read();
        let ctx = context(&i.config)?;
        let peer = SocketAddr::new(i.peer.ok_or("no peer")?, i.port);
        let mut ssl = Ssl::new(&ctx).map_err(describe("SSL_new failed"))?;
        let (mtu, mtu_known) = match (i.mtu_hint, t.path_mtu()) {
            (h, _) if h > 0 => (u32::from(h), true),
            (_, Some(p)) => (p, true),
            _ => (FALLBACK_MTU, false),
        };
        // OpenSSL refuses values below its minimum and then keeps its own.
        ossl::dtls_set_link_mtu(&ssl, mtu);
        let psk_hint = i.config.data.psk_identity_hint.clone().unwrap_or_default();
        if i.mode == SslMode::Server && !psk_hint.is_empty() {
            let hint = std::ffi::CString::new(psk_hint.clone()).map_err(|_| "Invalid PSK identity hint")?;
            // SAFETY: live SSL, NUL-terminated hint copied by OpenSSL.
            if unsafe { ossl::SSL_use_psk_identity_hint(ssl.as_ptr(), hint.as_ptr()) } != 1 {
                return Err(with_openssl_errors("Cannot set the PSK identity hint"));
            }
        }
        set_hooks(
            &mut ssl,
            Hooks {
                peer: Some(peer),
                cookie: i.cookie.clone(),
                psk: self.psk.lock().clone(),
                psk_hint,
                initial_timeout_us: i.initial_timeout_ms.saturating_mul(1000),
            },
        );
        // SAFETY: live SSL; the callback only reads our hooks.
        unsafe { ossl::DTLS_set_timer_cb(ssl.as_ptr(), Some(timer_cb)) };
        let x509_errors = Arc::new(Mutex::new(Vec::new()));
        if requests_certificate(i.config.data.verify_mode) {
            let sink = x509_errors.clone();
            // Collect every chain error and go on: Qt decides after the handshake.
            ssl.set_verify_callback(SslVerifyMode::PEER, move |ok, store| {
                // A panic must not unwind into OpenSSL: it fails verification instead.
                no_unwind(false, || {
                    if !ok {
                        sink.lock().push(VerificationError {
                            code: from_x509_error(store.error().as_raw()),
                            certificate: store.current_cert().map(|c| c.to_owned()),
                        });
                    }
                    true
                })
            });
        } else {
            ssl.set_verify(SslVerifyMode::NONE);
        }
        match i.mode {
            SslMode::Server => ssl.set_accept_state(),
            SslMode::Client => {
                if !i.verification_name.is_empty() && i.verification_name.parse::<IpAddr>().is_err() {
                    // SNI; a name OpenSSL refuses just goes without it.
                    let _ = ssl.set_hostname(&i.verification_name);
                }
                ssl.set_connect_state();
            }
        }
        let ssl = Wired::new(ssl, peer.is_ipv6())?;
        Ok(Conn { ssl, peer, x509_errors, mtu_known, min_body: 0, version: 0, buffers_released: false })
    }

    /// OpenSSL finished the handshake: record what was negotiated, then verify
    /// the peer as Qt does (after the handshake, collecting every error).
    fn finish(&self, c: &mut Conn) -> bool {
        let chain = peer_chain(&c.ssl);
        let x509 = std::mem::take(&mut *c.x509_errors.lock());
        let mut info = self.info.write();
        info.peer_chain = chain;
        let mode = info.config.data.verify_mode;
        let verify =
            mode == VerifyMode::VerifyPeer || (mode == VerifyMode::AutoVerifyPeer && info.mode == SslMode::Client);
        if verify {
            let errors = verification_errors(&info, x509);
            let ignored = all_ignored(&errors, &info.ignored);
            info.verification_errors = errors;
            if !ignored {
                info.state = PeerVerificationFailed;
                info.error.set(PeerVerificationError, "Peer verification failed");
                return false;
            }
        }
        drop(info);
        self.complete(c);
        true
    }

    fn complete(&self, c: &mut Conn) {
        let mut info = self.info.write();
        info.state = Complete;
        info.cipher = c.ssl.current_cipher().map(|x| x.name());
        info.protocol = match c.ssl.version2() {
            Some(v) if v == SslVersion::DTLS1_2 => protocol::DTLS_V1_2,
            Some(v) if v == SslVersion::DTLS1 => protocol::DTLS_V1_0,
            _ => protocol::UNKNOWN,
        };
        // SAFETY: live SSL.
        info.max_payload = unsafe { ossl::DTLS_get_data_mtu(c.ssl.as_ptr()) };
        info.error.clear();
        drop(info);
        c.min_body = min_protected_body(&c.ssl);
        // SAFETY: live SSL.
        c.version = unsafe { ossl::SSL_version(c.ssl.as_ptr()) } as u16;
        c.release_buffers();
    }

    /// Back to NotStarted: peer, name and configuration stay.
    fn reset(&self) {
        let mut info = self.info.write();
        info.state = NotStarted;
        info.cipher = None;
        info.protocol = protocol::UNKNOWN;
        info.peer_chain.clear();
        info.verification_errors.clear();
        info.max_payload = 0;
    }

    /// QDtls::handleTimeout: retransmits when the timer is due; returns
    /// whether it did. Safe in every state (Qt asserts).
    pub fn handle_timeout(&self, t: Option<&mut dyn Transport>) -> bool {
        let Some(t) = t else { return self.fail(InvalidInputParameters, "Invalid (nullptr) socket", false) };
        self.with_conn(false, |conn| {
            let Some(c) = conn.as_mut().filter(|_| self.info.read().state == InProgress) else {
                return self.succeed(false);
            };
            let r = ossl::dtls_handle_timeout(&c.ssl);
            if r < 0 {
                let why = with_openssl_errors(
                    "Handshake timed out: no answer from the peer after the maximum number of retransmissions",
                );
                let _ = flush(c.ssl.bio(), t, c.peer);
                *conn = None;
                self.reset();
                return self.fail(TlsFatalError, why, false);
            }
            match flush(c.ssl.bio(), t, c.peer) {
                Err(e) => self.fail(UnderlyingSocketError, e.to_string(), false),
                Ok(()) => self.succeed(r > 0),
            }
        })
    }

    /// Time until handle_timeout is due: None when no timer runs, zero when due.
    pub fn next_timeout(&self) -> Option<Duration> {
        let guard = self.conn.lock();
        let conn = guard.try_borrow().ok()?;
        let c = conn.as_ref().filter(|_| self.info.read().state == InProgress)?;
        ossl::dtls_get_timeout(&c.ssl)
    }

    /// QDtls::resumeHandshake.
    pub fn resume_handshake(&self, t: Option<&mut dyn Transport>) -> bool {
        if t.is_none() {
            return self.fail(InvalidInputParameters, "Invalid (nullptr) socket", false);
        }
        self.with_conn(false, |conn| {
            let (state, ok) = {
                let i = self.info.read();
                (i.state, all_ignored(&i.verification_errors, &i.ignored))
            };
            match conn.as_mut() {
                Some(c) if state == PeerVerificationFailed => {
                    if !ok {
                        return self.succeed(false);
                    }
                    self.info.write().verification_errors.clear();
                    self.complete(c);
                    true
                }
                _ => self.fail(InvalidOperation, "Cannot resume, not in VerificationError state", false),
            }
        })
    }

    /// QDtls::abortHandshake. After a verification failure the peer is told
    /// (Qt promises an alert but sends none).
    pub fn abort_handshake(&self, t: Option<&mut dyn Transport>) -> bool {
        let Some(t) = t else { return self.fail(InvalidInputParameters, "Invalid (nullptr) socket", false) };
        self.with_conn(false, |conn| {
            let state = self.info.read().state;
            if state != InProgress && state != PeerVerificationFailed {
                return self.fail(InvalidOperation, "No handshake in progress, nothing to abort", false);
            }
            let mut sent = Ok(());
            if let (Some(c), PeerVerificationFailed) = (conn.as_mut(), state) {
                // OpenSSL has finished its handshake, so the only alert it can
                // still send is close_notify; it ends the peer's session.
                c.ensure_buffers();
                // SAFETY: live SSL.
                ssl_call(&c.ssl, |s| unsafe { sys::SSL_shutdown(s) });
                sent = flush(c.ssl.bio(), t, c.peer);
            }
            *conn = None;
            self.reset();
            match sent {
                Ok(()) => self.succeed(true),
                Err(e) => self.fail(UnderlyingSocketError, e.to_string(), false),
            }
        })
    }

    /// QDtls::shutdown: close_notify once, then NotStarted (peer and
    /// configuration kept, so the object can handshake again).
    pub fn shutdown(&self, t: Option<&mut dyn Transport>) -> bool {
        let Some(t) = t else { return self.fail(InvalidInputParameters, "Invalid (nullptr) socket", false) };
        self.with_conn(false, |conn| {
            let Some(c) = conn.as_mut().filter(|_| self.info.read().state == Complete) else {
                return self.fail(InvalidOperation, "Cannot send shutdown alert, not encrypted", false);
            };
            c.ensure_buffers();
            // SAFETY: live SSL.
            ssl_call(&c.ssl, |s| unsafe { sys::SSL_shutdown(s) });
            let sent = flush(c.ssl.bio(), t, c.peer);
            *conn = None;
            self.reset();
            match sent {
                Ok(()) => self.succeed(true),
                Err(e) => self.fail(UnderlyingSocketError, e.to_string(), false),
            }
        })
    }

    // ---- application data ---------------------------------------------

    /// QDtls::writeDatagramEncrypted: the plaintext length, or -1.
    pub fn write_datagram_encrypted(&self, t: Option<&mut dyn Transport>, data: &[u8]) -> i64 {
        match self.write_datagrams_encrypted(t, &[data]) {
            1 => data.len() as i64,
            n => n.min(0),
        }
    }

    /// Encrypts each datagram into one record and sends them all, with as few
    /// system calls as the transport allows. Returns the number of datagrams,
    /// or -1. Every size is checked before anything is encrypted, so a
    /// refused batch sends nothing.
    pub fn write_datagrams_encrypted(&self, t: Option<&mut dyn Transport>, datagrams: &[&[u8]]) -> i64 {
        let Some(t) = t else { return self.fail(InvalidInputParameters, "Invalid (nullptr) socket", -1) };
        self.with_conn(-1, |conn| {
            let Some(c) = conn.as_mut().filter(|_| self.info.read().state == Complete) else {
                return self.fail(InvalidOperation, "Cannot write a datagram, not in encrypted state", -1);
            };
            let room = self.info.read().max_payload;
            for data in datagrams {
                if let Err((code, msg)) = check_size(data.len(), c.mtu_known, room) {
                    return self.fail(code, msg, -1);
                }
            }
            c.ensure_buffers();
            for data in datagrams.iter().filter(|d| !d.is_empty()) {
                // SAFETY: data is valid for its length, which fits an int (checked above).
                let (ret, _) =
                    ssl_call(&c.ssl, |s| unsafe { sys::SSL_write(s, data.as_ptr().cast(), data.len() as i32) });
                if ret <= 0 {
                    // Whatever was encrypted before still goes out, in order.
                    let _ = flush(c.ssl.bio(), t, c.peer);
                    return self.fail(TlsFatalError, with_openssl_errors("Error while writing"), -1);
                }
            }
            match flush(c.ssl.bio(), t, c.peer) {
                Ok(()) => self.succeed(datagrams.len() as i64),
                Err(e) => self.fail(UnderlyingSocketError, e.to_string(), -1),
            }
        })
    }

    /// QDtls::decryptDatagram into `out`: the plaintext length (0 for a
    /// replayed, duplicate or non-data datagram), or -1 on error.
    pub fn decrypt_datagram(&self, t: Option<&mut dyn Transport>, dgram: &[u8], out: &mut [u8]) -> i64 {
        self.decrypt(t, Input::Separate(dgram), out)
    }

    /// decrypt_datagram for a datagram in `buf[..len]`, whose plaintext
    /// replaces it (it is never longer). `len <= buf.len()`.
    pub fn decrypt_in_place(&self, t: Option<&mut dyn Transport>, buf: &mut [u8], len: usize) -> i64 {
        self.decrypt(t, Input::InPlace(len.min(buf.len())), buf)
    }

    fn decrypt(&self, t: Option<&mut dyn Transport>, input: Input<'_>, out: &mut [u8]) -> i64 {
        let Some(t) = t else { return self.fail(InvalidInputParameters, "Invalid (nullptr) socket", -1) };
        self.with_conn(-1, |conn| {
            let Some(c) = conn.as_mut().filter(|_| self.info.read().state == Complete) else {
                return self.fail(InvalidOperation, "Cannot read a datagram, not in encrypted state", -1);
            };
            let min = c.min_body;
            match input {
                Input::Separate(dgram) if out.len() < dgram.len() => {
                    let msg = format!(
                        "Output buffer of {} bytes is smaller than the datagram ({} bytes)",
                        out.len(),
                        dgram.len()
                    );
                    return self.fail(InvalidInputParameters, msg, -1);
                }
                Input::Separate([]) | Input::InPlace(0) => return self.succeed(0),
                Input::Separate(dgram) => c.ssl.bio().offer_protected(dgram, min, c.version),
                // The BIO takes a copy, so the plaintext may overwrite the datagram.
                Input::InPlace(len) => c.ssl.bio().offer_protected(&out[..len], min, c.version),
            }
            c.ensure_buffers();
            let (total, end) = read_records(c, out);
            c.ssl.bio().discard_incoming();
            // Reading may have produced retransmissions of our last flight.
            let sent = flush(c.ssl.bio(), t, c.peer);
            match end {
                ReadEnd::Closed => {
                    *conn = None;
                    self.reset();
                    self.fail(RemoteClosedConnectionError, "The DTLS connection has been closed", -1)
                }
                ReadEnd::Failed(msg) => self.fail(TlsNonFatalError, msg, -1),
                ReadEnd::Fatal(msg) => {
                    // OpenSSL cannot go on with this connection; do not claim it is encrypted.
                    *conn = None;
                    self.reset();
                    self.fail(TlsFatalError, msg, -1)
                }
                ReadEnd::Drained => match sent {
                    Err(e) if total == 0 => self.fail(UnderlyingSocketError, e.to_string(), -1),
                    // The data is delivered; a failed retransmission is reported alongside.
                    Err(e) => self.fail(UnderlyingSocketError, e.to_string(), total as i64),
                    Ok(()) => self.succeed(total as i64),
                },
            }
        })
    }
}

/// Why a payload cannot go out as one datagram, if it cannot.
fn check_size(len: usize, mtu_known: bool, room: usize) -> Result<(), (DtlsError, String)> {
    if len > MAX_RECORD_PLAINTEXT {
        let msg = format!("Error while writing: {len} bytes exceed the maximum record size of {MAX_RECORD_PLAINTEXT}");
        return Err((TlsFatalError, msg));
    }
    if mtu_known && len > room {
        let msg = format!("Datagram of {len} bytes does not fit the MTU: at most {room} bytes of payload");
        return Err((InvalidInputParameters, msg));
    }
    Ok(())
}

/// Where the datagram to decrypt is.
enum Input<'a> {
    Separate(&'a [u8]),
    /// The first n bytes of the output buffer.
    InPlace(usize),
}

enum ReadEnd {
    Drained,
    Closed,
    Failed(String),
    Fatal(String),
}

/// Reads every record of the offered datagram into `out`. The plaintext of a
/// datagram is never longer than the datagram, so `out` has room for all of it.
fn read_records(c: &mut Conn, out: &mut [u8]) -> (usize, ReadEnd) {
    let mut total = 0;
    loop {
        let room = &mut out[total..];
        let len = room.len().min(i32::MAX as usize) as i32;
        // SAFETY: room is valid for len bytes.
        let (ret, err) = ssl_call(&c.ssl, |s| unsafe { sys::SSL_read(s, room.as_mut_ptr().cast(), len) });
        if ret > 0 {
            total += ret as usize;
            // Datagram consumed and nothing buffered: no second SSL_read
            // just to hear "want read".
            // SAFETY: live SSL.
            if !c.ssl.bio().has_incoming() && unsafe { ossl::SSL_has_pending(c.ssl.as_ptr()) } == 0 {
                return (total, ReadEnd::Drained);
            }
            continue;
        }
        return match err {
            e if is_retry(e) => (total, ReadEnd::Drained),
            sys::SSL_ERROR_ZERO_RETURN => (total, ReadEnd::Closed),
            // After SSLfatal OpenSSL is back "in init" for good: that
            // connection is over, whatever SSL_get_error called it.
            // SAFETY: live SSL.
            e if e == sys::SSL_ERROR_SSL || unsafe { ossl::SSL_is_init_finished(c.ssl.as_ptr()) } == 0 => {
                (total, ReadEnd::Fatal(with_openssl_errors("Error while reading")))
            }
            _ => (total, ReadEnd::Failed(with_openssl_errors("Error while reading"))),
        };
    }
}

/// Runs DTLSv1_listen on the offered ClientHello: true when it carries a
/// valid cookie (it then stays in the BIO for SSL_accept). A
/// HelloVerifyRequest it may have produced is dropped: issuing cookies is the
/// verifier's job, and a server session stays stateless until verified.
fn listen(c: &mut Conn) -> bool {
    let ret = ossl::dtls_listen(&c.ssl);
    c.ssl.bio().clear_outgoing();
    ret > 0
}

/// The peer's chain, leaf first (OpenSSL leaves the leaf out on the server side).
fn peer_chain(ssl: &Ssl) -> Vec<X509> {
    let mut chain: Vec<X509> =
        ssl.peer_cert_chain().map(|s| s.iter().map(|c| c.to_owned()).collect()).unwrap_or_default();
    if let Some(leaf) = ssl.peer_certificate() {
        let same = chain.first().is_some_and(|c| c.to_der().ok() == leaf.to_der().ok());
        if !same {
            chain.insert(0, leaf);
        }
    }
    chain
}

/// The peer's verification errors as Qt reports them.
fn verification_errors(info: &Info, x509: Vec<VerificationError>) -> Vec<VerificationError> {
    let name = match info.mode {
        SslMode::Server => None,
        _ if !info.verification_name.is_empty() => Some(info.verification_name.clone()),
        _ => Some(info.peer.map(|a| a.to_string()).unwrap_or_default()),
    };
    peer_errors(&info.peer_chain, name.as_deref(), x509)
}
