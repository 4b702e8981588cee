//! A DTLS server: many peers on one socket. Datagrams from unknown sources
//! go through the stateless cookie exchange before any state exists; each
//! verified client gets a server-mode `Session` owned here, found again by
//! its address and port. One timer structure serves every peer, limits are
//! checked before anything is allocated, and a client that restarts on the
//! same port replaces its old session once its new handshake completes.
//!
//! Sans-I/O like the rest of the engine: datagrams come in with their
//! source address, everything goes out through the caller's `Transport`,
//! and what happens to peers is reported through `Events`.

mod cookies;
mod drive;
pub mod hello;
mod mac;
mod table;
mod timers;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

pub use self::cookies::{Cookies, Keyed};
pub use self::table::Counts;
use self::table::Table;
use self::timers::Timers;
use super::config::{default_config, Config};
use super::cookie::CookieParams;
use super::error::DtlsError;
use super::psk::PskAuthenticator;
use super::session::Session;
pub use super::values::CloseReason;
use super::Transport;

/// What the server keeps per peer: a value holding a server-mode session
/// (the Rust API's `Dtls`, the C API's connection).
pub trait Peer: Send + Sync + 'static {
    fn session(&self) -> &Session;
}

/// What happens to peers, as it happens. The peer is valid for the call
/// only; `t` is the transport of the call, for answering at once.
pub trait Events<P> {
    /// The handshake completed.
    fn connected(&mut self, peer: &P, t: &mut dyn Transport);
    /// A datagram's plaintext arrived.
    fn datagram(&mut self, peer: &P, data: &[u8], t: &mut dyn Transport);
    /// A connected peer is gone.
    fn closed(&mut self, peer: &P, reason: CloseReason);
    /// A peer is gone before its handshake completed (never `connected`).
    fn handshake_failed(&mut self, peer: &P, reason: CloseReason);
}

/// The application's PSK handler, told which peer asks.
pub type ServerPsk<P> = dyn Fn(&P, &mut PskAuthenticator) + Send + Sync;

/// The server's limits. 0 means "no limit" (or "never" for the timeouts).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Peers at once, handshaking ones included.
    pub max_peers: usize,
    /// Handshakes in progress at once.
    pub max_handshakes: usize,
    /// Peers from one source IP address (all ports).
    pub max_peers_per_address: usize,
    /// An established peer silent this long is closed.
    pub idle_timeout_ms: u32,
    /// A handshake not complete this long after it started is dropped.
    pub handshake_timeout_ms: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_peers: 65_536,
            max_handshakes: 1024,
            max_peers_per_address: 0,
            idle_timeout_ms: 0,
            handshake_timeout_ms: 30_000,
        }
    }
}

/// Why a server call failed.
pub type Failure = (DtlsError, String);

/// Close requests made while the server was busy (from inside one of its
/// own callbacks) or by the application ending a peer itself: each peer's
/// address and the address of its value, carried out at the server's next
/// step. A flag spares every datagram a lock when there are none.
#[derive(Default)]
pub struct Requests {
    any: AtomicBool,
    list: Mutex<Vec<(SocketAddr, usize)>>,
}

impl Requests {
    pub fn push(&self, addr: SocketAddr, ptr: usize) {
        self.list.lock().push((addr, ptr));
        self.any.store(true, Ordering::Release);
    }

    pub fn is_empty(&self) -> bool {
        !self.any.load(Ordering::Acquire)
    }

    /// The oldest request, if any.
    pub fn pop(&self) -> Option<(SocketAddr, usize)> {
        if self.is_empty() {
            return None;
        }
        let mut list = self.list.lock();
        let next = (!list.is_empty()).then(|| list.remove(0));
        if list.is_empty() {
            self.any.store(false, Ordering::Release);
        }
        next
    }
}

/// Shared between the server and whoever may ask it to close a peer.
pub type CloseRequests = Arc<Requests>;

pub struct Server<P: Peer> {
    config: Arc<Config>,
    cookies: Cookies,
    /// Keyed HMAC contexts for the stateless path.
    keyed: Keyed,
    limits: Limits,
    table: Table<P>,
    timers: Timers,
    make: Box<dyn Fn() -> P + Send + Sync>,
    psk: Option<Arc<ServerPsk<P>>>,
    requests: CloseRequests,
    /// Plaintext of the datagram being delivered.
    scratch: Vec<u8>,
    /// Datagrams dropped without an answer (not a ClientHello, refused by a limit).
    pub dropped: u64,
}

impl<P: Peer> Server<P> {
    /// A server for `config` (None: the default configuration); `make`
    /// makes the value of each new peer around a server-mode session.
    pub fn new(config: Option<Arc<Config>>, make: Box<dyn Fn() -> P + Send + Sync>) -> Result<Self, Failure> {
        let config = config.unwrap_or_else(default_config);
        // Refuse a configuration no session could use now, not at the first client.
        super::context::context(&config).map_err(|m| (DtlsError::TlsInitializationError, m))?;
        Ok(Server {
            config,
            cookies: Cookies::new(),
            keyed: Keyed::default(),
            limits: Limits::default(),
            table: Table::default(),
            timers: Timers::default(),
            make,
            psk: None,
            requests: Arc::default(),
            scratch: vec![0; 65536],
            dropped: 0,
        })
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// New limits apply to what comes next; nobody is evicted by the change itself.
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    pub fn set_psk_callback(&mut self, f: Option<Arc<ServerPsk<P>>>) {
        self.psk = f;
    }

    pub fn cookies(&self) -> &Cookies {
        &self.cookies
    }

    pub fn set_cookie_generator_parameters(&mut self, hash: i32, secret: &[u8]) -> Result<(), Failure> {
        let p = CookieParams::new(hash, secret).map_err(|m| (DtlsError::InvalidInputParameters, m.to_owned()))?;
        self.cookies.set(p);
        Ok(())
    }

    /// From now on this server uses `other`'s secret, and every rotation of it.
    pub fn share_cookies(&mut self, other: &Cookies) {
        self.cookies = other.clone();
    }

    /// Counts shared with other threads (readable while the server is busy).
    pub fn counts(&self) -> Arc<Counts> {
        self.table.counts.clone()
    }

    pub fn close_requests(&self) -> CloseRequests {
        self.requests.clone()
    }

    pub fn peer_count(&self) -> usize {
        self.table.len()
    }

    pub fn handshake_count(&self) -> usize {
        self.table.handshakes()
    }

    /// The peer at an address (the established one while a replacement handshakes).
    pub fn peer(&self, addr: &SocketAddr) -> Option<&P> {
        self.table.at(&drive::canonical(*addr)).and_then(|s| self.table.get(s)).map(|e| &*e.peer)
    }

    /// Every peer, handshaking ones included.
    pub fn peers(&self) -> impl Iterator<Item = &P> + '_ {
        self.table.slots().filter_map(|s| self.table.get(s)).map(|e| &*e.peer)
    }

    /// Time until `handle_timeouts` is due (µs): None when no timer runs.
    pub fn next_timeout_us(&mut self) -> Option<u64> {
        if !self.requests.is_empty() {
            return Some(0); // peers the application ended wait for the server's next call
        }
        let table = &self.table;
        let at = self.timers.earliest(|d| table.get(d.slot).is_some_and(|e| e.token == d.token))?;
        Some(at.saturating_sub(super::ossl::now_us()))
    }

    /// A new peer around a server-mode session for `addr`.
    fn new_peer(&self, addr: SocketAddr, cookie_checked: bool) -> Result<Arc<P>, Failure> {
        let peer = Arc::new((self.make)());
        let s = peer.session();
        // The application may shut the peer down (or abort its handshake)
        // itself, inside a callback or not: the server removes it at its next call.
        let (requests, ptr) = (self.requests.clone(), Arc::as_ptr(&peer) as usize);
        s.set_ended_hook(Some(Arc::new(move || requests.push(addr, ptr))));
        s.set_dtls_configuration(self.config.clone());
        s.set_peer(Some(addr.ip()), addr.port(), "");
        s.set_server_peer();
        if cookie_checked {
            s.set_hello_verified();
        }
        if let Some(f) = &self.psk {
            let (f, weak) = (f.clone(), Arc::downgrade(&peer));
            s.set_psk_callback(Some(Arc::new(move |auth: &mut PskAuthenticator| {
                if let Some(p) = weak.upgrade() {
                    f(&p, auth);
                }
            })));
        }
        Ok(peer)
    }

    fn cookies_enabled(&self) -> bool {
        self.config.data.cookie_verification
    }
}
