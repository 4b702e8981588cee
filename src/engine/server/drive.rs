//! Datagrams and timers: where each datagram goes, what a peer's session
//! did with it, and closing peers.

use std::net::SocketAddr;
use std::sync::Arc;

use super::hello::{self, Hello};
use super::table::{Phase, Route};
use super::timers::Due;
use super::{Events, Failure, Peer, Server};
use crate::engine::error::DtlsError::{self, *};
use crate::engine::values::CloseReason;
use crate::engine::{is_broadcast_or_multicast, ossl, HandshakeState, Transport};

impl<P: Peer> Server<P> {
    /// One datagram from `from`. Errors are the socket's (an answer that
    /// could not be sent); everything a peer did wrong ends that peer only.
    pub fn handle_datagram(
        &mut self,
        t: &mut dyn Transport,
        from: SocketAddr,
        dgram: &[u8],
        ev: &mut dyn Events<P>,
    ) -> Result<(), Failure> {
        self.serve_requests(Some(&mut *t), ev);
        // Peers are found by the canonical form; answers go to the form the
        // socket reported (no address-family fallback per datagram).
        let key = canonical(from);
        match self.table.route(&key, dgram) {
            Route::New => self.new_source(t, (key, from), dgram, Start::Fresh, ev),
            Route::Reconnect(old) => self.new_source(t, (key, from), dgram, Start::Replacing(old), ev),
            Route::Restart(old) => self.new_source(t, (key, from), dgram, Start::Restarting(old), ev),
            Route::Peer(slot) => self.deliver(t, slot, dgram, ev),
        }
    }

    /// A datagram from a source without a session (or a ClientHello of a
    /// client starting over): the cookie exchange, then a new session.
    fn new_source(
        &mut self,
        t: &mut dyn Transport,
        (key, from): (SocketAddr, SocketAddr),
        dgram: &[u8],
        start: Start,
        ev: &mut dyn Events<P>,
    ) -> Result<(), Failure> {
        let Hello::ClientHello { cookie, record_seq, random } = hello::parse(dgram) else {
            self.dropped += 1;
            return Ok(());
        };
        if from.port() == 0 || is_broadcast_or_multicast(from.ip()) {
            self.dropped += 1;
            return Ok(());
        }
        let checked = self.cookies_enabled();
        if checked && (cookie.is_empty() || !self.cookies.verify_keyed(&mut self.keyed, &key, cookie)) {
            let mut hvr = [0u8; 128];
            let Some(n) = hello::hello_verify_request(&self.cookies, &mut self.keyed, &key, record_seq, &mut hvr)
            else {
                return Err((TlsInitializationError, "Cannot make a cookie".into()));
            };
            if n > dgram.len() {
                // Never more bytes back than came in from an unproven address
                // (real ClientHellos are far larger than a HelloVerifyRequest).
                self.dropped += 1;
                return Ok(());
            }
            return t.send_deferred(&hvr[..n], from).map_err(socket_error);
        }
        let replaces = match start {
            Start::Fresh => None,
            Start::Replacing(old) => Some(old),
            Start::Restarting(old) => {
                // Its address proven, the client's new handshake replaces
                // the unfinished one at once (and what that one was to replace).
                let established = self.table.replaces(old);
                self.close(None, old, CloseReason::Replaced, ev);
                established
            }
        };
        if !self.make_room(t, key, replaces.is_some(), ev) {
            self.dropped += 1;
            return Ok(());
        }
        let peer = self.new_peer(from, checked)?;
        let session = peer.session();
        if !session.do_handshake(Some(&mut *t), dgram) && session.info().state == HandshakeState::NotStarted {
            // Never inserted, never seen by the application: nothing to report.
            self.dropped += 1;
            return Ok(());
        }
        let error = take_socket_error(session);
        let slot = self.table.insert(peer, key, random, ossl::now_us(), replaces);
        self.reschedule(slot);
        error.map_or(Ok(()), Err)
    }

    /// Makes room for a new handshake from `from` under every limit,
    /// evicting the oldest handshakes first. False: no room (only
    /// established peers hold it).
    fn make_room(&mut self, t: &mut dyn Transport, from: SocketAddr, replacing: bool, ev: &mut dyn Events<P>) -> bool {
        let l = self.limits;
        // A replacement's predecessor leaves when it completes: it does not count.
        let extra = usize::from(replacing);
        if l.max_peers_per_address > 0 {
            while self.table.on_ip(from.ip()) >= l.max_peers_per_address + extra {
                let Some(s) = self.table.oldest_handshake(Some(from.ip())) else { return false };
                self.close(Some(&mut *t), s, CloseReason::Evicted, ev);
            }
        }
        if l.max_handshakes > 0 {
            while self.table.handshakes() >= l.max_handshakes {
                let Some(s) = self.table.oldest_handshake(None) else { return false };
                self.close(Some(&mut *t), s, CloseReason::Evicted, ev);
            }
        }
        if l.max_peers > 0 {
            while self.table.len() >= l.max_peers + extra {
                let Some(s) = self.table.oldest_handshake(None) else { return false };
                self.close(Some(&mut *t), s, CloseReason::Evicted, ev);
            }
        }
        true
    }

    fn deliver(
        &mut self,
        t: &mut dyn Transport,
        slot: usize,
        dgram: &[u8],
        ev: &mut dyn Events<P>,
    ) -> Result<(), Failure> {
        let Some(e) = self.table.get(slot) else { return Ok(()) };
        if e.is_handshaking() {
            let peer = e.peer.clone();
            let session = peer.session();
            session.do_handshake(Some(&mut *t), dgram);
            let error = take_socket_error(session);
            self.after_handshake_step(t, slot, CloseReason::FatalAlert, ev);
            return error.map_or(Ok(()), Err);
        }
        // The data path borrows the peer from the table (no reference count
        // traffic per datagram): nothing removes it during the callback.
        let session = e.peer.session();
        let n = session.decrypt_datagram(Some(&mut *t), dgram, &mut self.scratch);
        // What the decrypt left (the callback's own calls on the peer overwrite it).
        let (error, encrypted) = (session.info().error.clone(), session.is_encrypted());
        if n > 0 {
            ev.datagram(&e.peer, &self.scratch[..n as usize], &mut *t);
        }
        if n > 0 {
            if let Some(e) = self.table.get_mut(slot) {
                e.last_active_us = ossl::now_us();
            }
            self.after_callback(Some(&mut *t), slot, ev);
        }
        match error.code {
            RemoteClosedConnectionError => {
                self.close(None, slot, CloseReason::CloseNotify, ev);
            }
            TlsFatalError if !encrypted => {
                self.close(None, slot, CloseReason::FatalAlert, ev);
            }
            UnderlyingSocketError => return Err((error.code, error.message)),
            _ => {}
        }
        Ok(())
    }

    /// A handshaking peer's session moved (a datagram or a timer): complete,
    /// failed (closed for `failed`), or still going.
    fn after_handshake_step(
        &mut self,
        t: &mut dyn Transport,
        slot: usize,
        failed: CloseReason,
        ev: &mut dyn Events<P>,
    ) {
        let Some(e) = self.table.get(slot) else { return };
        let peer = e.peer.clone();
        let state = peer.session().info().state;
        match state {
            HandshakeState::Complete => self.established(t, slot, ev),
            HandshakeState::PeerVerificationFailed => {
                peer.session().set_ended_hook(None); // ended by the server, not the application
                peer.session().abort_handshake(Some(t));
                self.close(None, slot, CloseReason::FatalAlert, ev);
            }
            HandshakeState::NotStarted => {
                self.close(None, slot, failed, ev);
            }
            HandshakeState::InProgress => self.reschedule(slot),
        }
    }

    fn established(&mut self, t: &mut dyn Transport, slot: usize, ev: &mut dyn Events<P>) {
        if let Some(old) = self.table.establish(slot, ossl::now_us()) {
            // The client restarted: its old keys are gone, so nothing is sent to the old session.
            self.close(None, old, CloseReason::Replaced, ev);
        }
        self.reschedule(slot);
        let Some(peer) = self.table.get(slot).map(|e| e.peer.clone()) else { return };
        ev.connected(&peer, &mut *t);
        self.after_callback(Some(t), slot, ev);
    }

    /// After a callback: the application may have shut the peer down or
    /// asked for closes the server could not carry out while busy.
    fn after_callback(&mut self, mut t: Option<&mut dyn Transport>, slot: usize, ev: &mut dyn Events<P>) {
        let shut = self.table.get(slot).is_some_and(|e| !e.is_handshaking() && !e.peer.session().is_encrypted());
        if shut {
            self.close(None, slot, CloseReason::Local, ev);
        }
        self.serve_requests(again(&mut t), ev);
    }

    /// Carries out close requests made while the server was busy.
    fn serve_requests(&mut self, mut t: Option<&mut dyn Transport>, ev: &mut dyn Events<P>) {
        while let Some((addr, ptr)) = self.requests.pop() {
            let addr = canonical(addr);
            let mine = |s: &usize| self.table.get(*s).is_some_and(|e| Arc::as_ptr(&e.peer) as usize == ptr);
            let slot = [self.table.at(&addr), self.table.pending(&addr)].into_iter().flatten().find(mine);
            if let Some(slot) = slot {
                self.close(again(&mut t), slot, CloseReason::Local, ev);
            }
        }
    }

    /// The slot of a peer of this server.
    pub fn find(&self, peer: &P) -> Option<usize> {
        let (ip, port) = {
            let i = peer.session().info();
            (i.peer?, i.port)
        };
        let addr = canonical(SocketAddr::new(ip, port));
        let candidates = [self.table.at(&addr), self.table.pending(&addr)];
        candidates.into_iter().flatten().find(|&s| self.table.get(s).is_some_and(|e| std::ptr::eq(&*e.peer, peer)))
    }

    /// Closes a peer of this server: close_notify to an established peer
    /// (through `t`, when given), then its `closed` event.
    pub fn close_peer(
        &mut self,
        t: Option<&mut dyn Transport>,
        peer: &P,
        ev: &mut dyn Events<P>,
    ) -> Result<(), Failure> {
        let Some(slot) = self.find(peer) else {
            return Err((InvalidInputParameters, "Not a peer of this server".into()));
        };
        let error = self.close(t, slot, CloseReason::Local, ev);
        error.map_or(Ok(()), Err)
    }

    /// Closes the peer at `addr` (the established one while a replacement handshakes).
    pub fn close_at(
        &mut self,
        t: Option<&mut dyn Transport>,
        addr: &SocketAddr,
        ev: &mut dyn Events<P>,
    ) -> Result<(), Failure> {
        let Some(slot) = self.table.at(&canonical(*addr)) else {
            return Err((InvalidInputParameters, "No peer at this address".into()));
        };
        self.close(t, slot, CloseReason::Local, ev).map_or(Ok(()), Err)
    }

    /// Closes every peer (close_notify to the established ones when `t` is given).
    pub fn close_all(
        &mut self,
        mut t: Option<&mut dyn Transport>,
        reason: CloseReason,
        ev: &mut dyn Events<P>,
    ) -> usize {
        let slots: Vec<usize> = self.table.slots().collect();
        for &s in &slots {
            self.close(again(&mut t), s, reason, ev);
        }
        slots.len()
    }

    /// Removes a peer and reports it (`closed` if it had connected,
    /// `handshake_failed` if not); with a transport, an established peer is
    /// sent close_notify first. Returns the send error, if any.
    fn close(
        &mut self,
        t: Option<&mut dyn Transport>,
        slot: usize,
        reason: CloseReason,
        ev: &mut dyn Events<P>,
    ) -> Option<Failure> {
        let e = self.table.remove(slot)?;
        let session = e.peer.session();
        session.set_ended_hook(None); // the server is ending it: no request back
        let mut error = None;
        if let (Some(t), true) = (t, session.is_encrypted()) {
            if !session.shutdown(Some(t)) {
                error = take_socket_error(session);
            }
        }
        if e.is_handshaking() {
            ev.handshake_failed(&e.peer, reason);
        } else {
            ev.closed(&e.peer, reason);
        }
        drop(e); // the peer's last reference: its handle ends here
        error
    }

    /// Runs every timer that is due: retransmissions, handshake and idle
    /// timeouts. Returns how many peers it handled; the first socket error
    /// is returned after all of them were handled.
    pub fn handle_timeouts(&mut self, t: &mut dyn Transport, ev: &mut dyn Events<P>) -> Result<usize, Failure> {
        self.serve_requests(Some(&mut *t), ev);
        let now = ossl::now_us();
        let (mut handled, mut first_error) = (0, None);
        // Taken out first: a deadline set while handling them (a timer
        // OpenSSL reports as due at once) waits for the next call, so one
        // call always ends.
        let mut due = Vec::new();
        while let Some(d) = self.timers.pop_due(now) {
            due.push(d);
        }
        for due in due {
            if self.table.get(due.slot).is_none_or(|e| e.token != due.token) {
                continue; // rescheduled or gone
            }
            handled += 1;
            if let Some(err) = self.expire(t, due.slot, now, ev) {
                first_error.get_or_insert(err);
            }
        }
        if self.timers.len() > 2 * self.table.len() + 64 {
            let table = &self.table;
            self.timers.retain(|d| table.get(d.slot).is_some_and(|e| e.token == d.token));
        }
        first_error.map_or(Ok(handled), Err)
    }

    fn expire(&mut self, t: &mut dyn Transport, slot: usize, now: u64, ev: &mut dyn Events<P>) -> Option<Failure> {
        let e = self.table.get(slot)?;
        let peer = e.peer.clone();
        match e.phase {
            Phase::Handshaking { started_us, .. } => {
                let limit = u64::from(self.limits.handshake_timeout_ms) * 1000;
                if limit > 0 && now >= started_us + limit {
                    self.close(None, slot, CloseReason::IdleTimeout, ev);
                    return None;
                }
                peer.session().handle_timeout(Some(&mut *t));
                let error = take_socket_error(peer.session());
                // A handshake a timer ends is one whose peer stopped answering.
                self.after_handshake_step(t, slot, CloseReason::IdleTimeout, ev);
                error
            }
            Phase::Established => {
                let idle = u64::from(self.limits.idle_timeout_ms) * 1000;
                if idle > 0 && now >= e.last_active_us + idle {
                    return self.close(Some(t), slot, CloseReason::IdleTimeout, ev);
                }
                self.reschedule(slot);
                None
            }
        }
    }

    /// Sets a peer's next deadline: its retransmission timer or the end of
    /// its handshake time while handshaking, its idle deadline once established.
    fn reschedule(&mut self, slot: usize) {
        let now = ossl::now_us();
        let limits = self.limits;
        let Some(e) = self.table.get(slot) else { return };
        let at = match e.phase {
            Phase::Handshaking { started_us, .. } => {
                let timer = e.peer.session().next_timeout().map(|d| now + d.as_micros() as u64);
                let end = (limits.handshake_timeout_ms > 0)
                    .then(|| started_us + u64::from(limits.handshake_timeout_ms) * 1000);
                timer.into_iter().chain(end).min()
            }
            Phase::Established => {
                (limits.idle_timeout_ms > 0).then(|| e.last_active_us + u64::from(limits.idle_timeout_ms) * 1000)
            }
        };
        let token = match at {
            Some(at) => {
                let token = self.timers.token();
                self.timers.push(at, Due { slot, token });
                token
            }
            None => 0,
        };
        if let Some(e) = self.table.get_mut(slot) {
            e.token = token;
        }
    }
}

/// Lends an optional transport again, for a shorter time.
fn again<'y>(t: &'y mut Option<&mut dyn Transport>) -> Option<&'y mut dyn Transport> {
    match t {
        Some(x) => Some(&mut **x),
        None => None,
    }
}

/// One key per peer however the socket reported it: an IPv4 peer on a
/// dual-stack socket (`::ffff:a.b.c.d`) is its IPv4 address, and IPv6 flow
/// labels (which may change between datagrams) are not part of it. Sending
/// to the IPv4 form on a dual-stack socket works (the fd transport maps it back).
pub(super) fn canonical(from: SocketAddr) -> SocketAddr {
    match from {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(v4.into(), v6.port()),
            None => SocketAddr::V6(std::net::SocketAddrV6::new(*v6.ip(), v6.port(), 0, v6.scope_id())),
        },
        v4 => v4,
    }
}

/// How a new session comes to be.
enum Start {
    /// From a source without a session.
    Fresh,
    /// Beside an established session of the same source, which it
    /// replaces once complete.
    Replacing(usize),
    /// Instead of an unfinished handshake of the same source.
    Restarting(usize),
}

fn socket_error(e: std::io::Error) -> Failure {
    (UnderlyingSocketError, e.to_string())
}

/// The session's last error if it was the socket's (the session itself goes on).
fn take_socket_error(s: &crate::engine::session::Session) -> Option<Failure> {
    let i = s.info();
    (i.error.code == DtlsError::UnderlyingSocketError).then(|| (i.error.code, i.error.message.clone()))
}
