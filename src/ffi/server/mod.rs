//! The server: many peers on one UDP socket (the engine's `server`).
//!
//! A server is driven from one thread at a time. Its callbacks run on that
//! thread, inside the call that caused them; from inside them every
//! `qdtls_*` function on a peer works, and so do the server's getters and
//! `qdtls_server_close_peer` (carried out when the callback returns), while
//! the functions that drive the server fail with InvalidOperation.

use std::sync::Arc;

use libc::c_void;
use parking_lot::{Mutex, MutexGuard};

use super::config::qdtls_configuration;
use super::dtls::{qdtls_connection, Connection};
use super::handle::{self, lend, shared, try_ref, Boxed, Handle};
use super::psk::qdtls_psk_authenticator;
use super::transport::{qdtls_send_callback, SendCallback};
use super::{call, guard, UserCallback};
use crate::engine::config::Config;
use crate::engine::error::{DtlsError, LastError};
use crate::engine::psk::PskAuthenticator;
use crate::engine::server::{CloseReason, CloseRequests, Counts, Events, Failure, Limits, Peer, Server};
use crate::engine::session::Session;
use crate::engine::SslMode;
use crate::net::Inbox;

/// An opaque DTLS server. Create with `qdtls_server_new`, release with `qdtls_server_free`.
pub struct qdtls_server {
    _private: [u8; 0],
}

/// What a server tells the application, on the thread driving it. Any
/// member may be NULL (a zero-initialised struct has no callbacks). `peer`
/// is owned by the server: valid until its `on_closed` (or
/// `on_handshake_failed`) returns, never passed to `qdtls_free`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct qdtls_server_callbacks {
    /// A peer's handshake completed.
    pub on_connected: Option<unsafe extern "C" fn(user: *mut c_void, peer: *mut qdtls_connection)>,
    /// A peer's datagram, decrypted: `data` is valid during the call only.
    pub on_datagram:
        Option<unsafe extern "C" fn(user: *mut c_void, peer: *mut qdtls_connection, data: *const u8, len: usize)>,
    /// A connected peer is gone (`QDTLS_CLOSE_*`): once for every peer
    /// `on_connected` was called for.
    pub on_closed: Option<unsafe extern "C" fn(user: *mut c_void, peer: *mut qdtls_connection, reason: i32)>,
    /// A peer is gone before its handshake completed (`QDTLS_CLOSE_*`;
    /// `on_connected` was never called for it): failed, timed out, evicted,
    /// or replaced by a newer handshake of the same client. Its address may
    /// be that of a connected peer (a client starting over on its port).
    pub on_handshake_failed: Option<unsafe extern "C" fn(user: *mut c_void, peer: *mut qdtls_connection, reason: i32)>,
}

/// The server's PSK handler: `peer` asks (handshaking, so its address and
/// port are known); fill in `authenticator` as with `qdtls_psk_callback`.
pub type qdtls_server_psk_callback = Option<
    unsafe extern "C" fn(user: *mut c_void, peer: *mut qdtls_connection, authenticator: *mut qdtls_psk_authenticator),
>;

impl Peer for Connection {
    fn session(&self) -> &Session {
        self
    }
}

/// The application's callbacks and their user data
/// (qdtls_server_set_callbacks' contract: called on the thread driving the server).
type Callbacks = UserCallback<qdtls_server_callbacks>;

impl Events<Connection> for Callbacks {
    fn connected(&mut self, peer: &Connection, _: &mut dyn crate::engine::Transport) {
        if let Some(f) = self.f.on_connected {
            // SAFETY: the application's callback with its user data; the peer is alive for the call.
            unsafe { f(self.user, shared(peer)) }
        }
    }
    fn datagram(&mut self, peer: &Connection, data: &[u8], _: &mut dyn crate::engine::Transport) {
        if let Some(f) = self.f.on_datagram {
            // SAFETY: as above; `data` is valid for its length during the call.
            unsafe { f(self.user, shared(peer), data.as_ptr(), data.len()) }
        }
    }
    fn closed(&mut self, peer: &Connection, reason: CloseReason) {
        if let Some(f) = self.f.on_closed {
            // SAFETY: as above; the server drops the peer only after this returns.
            unsafe { f(self.user, shared(peer), reason as i32) }
        }
    }
    fn handshake_failed(&mut self, peer: &Connection, reason: CloseReason) {
        if let Some(f) = self.f.on_handshake_failed {
            // SAFETY: as above.
            unsafe { f(self.user, shared(peer), reason as i32) }
        }
    }
}

/// What a `qdtls_server` handle holds.
pub(crate) struct ServerHandle {
    server: Mutex<Server<Connection>>,
    inbox: Mutex<Inbox>,
    counts: Arc<Counts>,
    requests: CloseRequests,
    callbacks: Mutex<Callbacks>,
    send: Arc<Mutex<Option<SendCallback>>>,
    error: Mutex<LastError>,
    /// A copy of the server's limits, for the getters.
    limits: Mutex<Limits>,
}

impl Handle for qdtls_server {
    type Ownership = Boxed;
    type RustType = ServerHandle;
}

const BUSY: &str = "The server is busy: called from inside one of its own callbacks, or from two threads at once";

impl ServerHandle {
    fn new(config: Option<Arc<Config>>) -> Result<ServerHandle, Failure> {
        let send: Arc<Mutex<Option<SendCallback>>> = Arc::default();
        let for_peers = send.clone();
        let make = Box::new(move || {
            let mut c = Connection::new(SslMode::Server);
            c.server_owned = true;
            *c.send.lock() = *for_peers.lock();
            c
        });
        let server = Server::new(config, make)?;
        Ok(ServerHandle {
            counts: server.counts(),
            requests: server.close_requests(),
            server: Mutex::new(server),
            inbox: Mutex::default(),
            callbacks: Mutex::new(Callbacks { f: qdtls_server_callbacks::EMPTY, user: std::ptr::null_mut() }),
            send,
            error: Mutex::default(),
            limits: Mutex::new(Limits::default()),
        })
    }

    /// Runs `f` on the server when it is free, recording its outcome.
    fn drive<R>(&self, refused: R, f: impl FnOnce(&mut Server<Connection>, &mut Callbacks) -> Result<R, Failure>) -> R {
        let Some(mut server) = self.server.try_lock() else {
            return self.fail(DtlsError::InvalidOperation, BUSY, refused);
        };
        let mut ev = *self.callbacks.lock();
        let r = f(&mut server, &mut ev);
        drop(server);
        match r {
            Ok(v) => {
                self.error.lock().clear();
                v
            }
            Err((code, msg)) => self.fail(code, msg, refused),
        }
    }

    fn fail<R>(&self, code: DtlsError, msg: impl Into<String>, r: R) -> R {
        self.error.lock().set(code, msg);
        r
    }

    fn send_callback(&self) -> Option<SendCallback> {
        *self.send.lock()
    }

    fn set_limits(&self, f: impl FnOnce(&mut Limits)) -> bool {
        self.drive(false, |s, _| {
            let mut l = s.limits();
            f(&mut l);
            s.set_limits(l);
            *self.limits.lock() = l;
            Ok(true)
        })
    }

    /// The limits in force (readable while the server is busy, as counts are).
    fn limits(&self) -> Limits {
        *self.limits.lock()
    }

    fn server(&self) -> Option<MutexGuard<'_, Server<Connection>>> {
        self.server.try_lock()
    }
}

impl qdtls_server_callbacks {
    const EMPTY: qdtls_server_callbacks =
        qdtls_server_callbacks { on_connected: None, on_datagram: None, on_closed: None, on_handshake_failed: None };
}

fn failure(code: DtlsError, msg: &str) -> Failure {
    (code, msg.to_owned())
}

/// A new server whose peers use `config` (copied; NULL: the default
/// configuration), cookie verification as the configuration says (on by
/// default). Limits: 65,536 peers, 1,024 handshakes, no per-address limit,
/// no idle timeout, 30 s for a handshake. NULL when the configuration cannot
/// be used. Free with `qdtls_server_free`.
///
/// # Safety
/// `config` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn qdtls_server_new(config: *const qdtls_configuration) -> *mut qdtls_server {
    // SAFETY: `config` is NULL or live, as this function's contract says.
    let config = unsafe { try_ref(config) }.map(Arc::clone);
    guard(std::ptr::null_mut(), || match ServerHandle::new(config) {
        Ok(h) => handle::into_raw(h),
        Err(_) => std::ptr::null_mut(),
    })
}

/// Releases a server: `on_closed` (`QDTLS_CLOSE_SERVER_FREED`) for every peer
/// still there, nothing sent (call `qdtls_server_shutdown` first to tell
/// them). NULL is a no-op; so is a call from inside one of the server's own
/// callbacks (the server is not freed).
///
/// # Safety
/// `s` is NULL or a live server not used afterwards (nor concurrently, nor
/// from inside its own callbacks).
#[no_mangle]
pub unsafe extern "C" fn qdtls_server_free(s: *mut qdtls_server) {
    // SAFETY: `s` is NULL or live, as this function's contract says.
    if let Some(h) = unsafe { try_ref(s) } {
        if h.server.is_locked() || h.inbox.is_locked() {
            // Freed from inside its own callback (or while another thread
            // drives it): freeing now would pull the server from under the
            // running call. Refused, and leaked rather than corrupted.
            return;
        }
        guard(0, || h.drive(0, |srv, ev| Ok(srv.close_all(None, CloseReason::ServerFreed, ev))));
    }
    // SAFETY: `s` is NULL or live and given up, as this function's contract says.
    guard((), || unsafe { handle::free(s) })
}

/// Sets the callbacks (the struct is copied; NULL removes them all).
/// `user` is passed to each. False for a NULL or busy server.
///
/// # Safety
/// `s` is NULL or live; `cb` is NULL or valid for reading; the callbacks are
/// safe to call with `user` on the thread driving the server until replaced
/// or the server is freed.
#[no_mangle]
pub unsafe extern "C" fn qdtls_server_set_callbacks(
    s: *mut qdtls_server,
    cb: *const qdtls_server_callbacks,
    user: *mut c_void,
) -> bool {
    // SAFETY: pointers as this function's contract says.
    let (h, cb) = unsafe { (try_ref(s), cb.as_ref().copied()) };
    call(h, false, |h| {
        // Not while a call runs: it would go on with the old set.
        h.drive(false, |_, _| {
            *h.callbacks.lock() = Callbacks { f: cb.unwrap_or(qdtls_server_callbacks::EMPTY), user };
            Ok(true)
        })
    })
}

/// Sets the PSK handler of every peer made from now on (NULL removes it):
/// it gets the peer asking and the authenticator to fill in. False for a
/// NULL or busy server.
///
/// # Safety
/// `s` is NULL or live; `cb`, if set, is safe to call with `user` on the
/// thread driving the server while any peer may handshake.
#[no_mangle]
pub unsafe extern "C" fn qdtls_server_set_psk_callback(
    s: *mut qdtls_server,
    cb: qdtls_server_psk_callback,
    user: *mut c_void,
) -> bool {
    // SAFETY: `s` is NULL or live, as this function's contract says.
    let h = unsafe { try_ref(s) };
    call(h, false, |h| {
        let f = cb.map(|cb| {
            let p = UserCallback { f: cb, user };
            Arc::new(move |peer: &Connection, a: &mut PskAuthenticator| {
                let p = &p;
                // SAFETY: the application's callback and user data; the peer
                // is alive and the authenticator lent for this call.
                unsafe { (p.f)(p.user, shared(peer), lend(a)) }
            }) as Arc<crate::engine::server::ServerPsk<Connection>>
        });
        h.drive(false, |srv, _| {
            srv.set_psk_callback(f);
            Ok(true)
        })
    })
}

/// The send callback used when a server function gets fd -1; peers made
/// from now on use it too (for `qdtls_write_datagram_encrypted(peer, -1, ...)`),
/// while existing peers keep the callback and user data they were made
/// with. NULL removes it. False for a NULL server.
///
/// # Safety
/// `s` is NULL or live; the callback, if set, is safe to call with `user`
/// on the threads driving the server and its peers.
#[no_mangle]
pub unsafe extern "C" fn qdtls_server_set_send_callback(
    s: *mut qdtls_server,
    cb: qdtls_send_callback,
    user: *mut c_void,
) -> bool {
    // SAFETY: `s` is NULL or live, as this function's contract says.
    let h = unsafe { try_ref(s) };
    call(h, false, |h| {
        *h.send.lock() = SendCallback::new(cb, user);
        true
    })
}

mod drive;
mod settings;
pub use drive::*;
pub use settings::*;
