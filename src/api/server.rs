//! `Server`: many DTLS peers on one UDP socket.

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::Duration;

use super::configuration::Configuration;
use super::dtls::{Dtls, PskAuthenticator, SslMode};
use super::error::{Error, Result};
use super::transport::{Forward, Transport};
use super::verifier::GeneratorParameters;
use crate::engine::server::{self as engine, Events, Limits, Peer};
use crate::engine::session::Session;
pub use crate::engine::values::CloseReason;
use crate::net::Inbox;

impl Peer for Dtls {
    fn session(&self) -> &Session {
        &self.session
    }
}

/// What a [`Server`] tells the application about its peers. Every method
/// has an empty default. The peer is the server's: use it for the length
/// of the call (send with [`Dtls::write_datagram_encrypted`] through
/// `transport`, the one the server is answering through, read its getters,
/// or [`Dtls::shutdown`] it, after which the server closes it with
/// [`CloseReason::Local`]).
pub trait ServerEvents {
    /// A peer's handshake completed.
    fn connected(&mut self, peer: &Dtls, transport: &mut dyn Transport) {
        let _ = (peer, transport);
    }
    /// A peer sent a datagram: its plaintext.
    fn datagram(&mut self, peer: &Dtls, data: &[u8], transport: &mut dyn Transport) {
        let _ = (peer, data, transport);
    }
    /// A connected peer is gone (once for every peer `connected` was
    /// called for).
    fn closed(&mut self, peer: &Dtls, reason: CloseReason) {
        let _ = (peer, reason);
    }
    /// A peer is gone before its handshake completed (`connected` was never
    /// called for it): it failed, timed out, was evicted or replaced by a
    /// newer handshake of the same client. Its address may be that of a
    /// connected peer (a client starting over on its port): this peer is
    /// not that one.
    fn handshake_failed(&mut self, peer: &Dtls, reason: CloseReason) {
        let _ = (peer, reason);
    }
}

struct Adapt<'a, E: ?Sized>(&'a mut E);

impl<E: ServerEvents + ?Sized> Events<Dtls> for Adapt<'_, E> {
    fn connected(&mut self, peer: &Dtls, t: &mut dyn Transport) {
        self.0.connected(peer, t)
    }
    fn datagram(&mut self, peer: &Dtls, data: &[u8], t: &mut dyn Transport) {
        self.0.datagram(peer, data, t)
    }
    fn closed(&mut self, peer: &Dtls, reason: CloseReason) {
        self.0.closed(peer, reason)
    }
    fn handshake_failed(&mut self, peer: &Dtls, reason: CloseReason) {
        self.0.handshake_failed(peer, reason)
    }
}

/// A DTLS server: every client of one UDP socket, each with its own
/// server-mode [`Dtls`] owned here.
///
/// A datagram from an unknown address must be a ClientHello; with cookie
/// verification on (the configuration's default) it is answered with a
/// HelloVerifyRequest, statelessly, until it carries the cookie for its
/// address (`QDtlsClientVerifier`'s exchange), and only then does a peer
/// exist. Peers are found by address and port; a client that restarts on
/// the same port gets a new session, which replaces the old one when its
/// handshake completes. Limits on peers, handshakes and peers per address
/// are enforced before anything is allocated, the oldest handshake making
/// room first. All timers are one: wait [`next_timeout`](Self::next_timeout),
/// then call [`handle_timeouts`](Self::handle_timeouts).
///
/// ```no_run
/// use std::net::UdpSocket;
/// use qdtls::{Configuration, Dtls, PeerVerifyMode, Server, ServerEvents, Transport};
///
/// struct Echo;
/// impl ServerEvents for Echo {
///     fn datagram(&mut self, peer: &Dtls, data: &[u8], transport: &mut dyn Transport) {
///         let _ = peer.write_datagram_encrypted(transport, data);
///     }
/// }
///
/// let socket = UdpSocket::bind("127.0.0.1:4433")?;
/// socket.set_nonblocking(true)?;
/// let mut cfg = Configuration::new();
/// cfg.set_peer_verify_mode(PeerVerifyMode::VerifyNone);
/// let mut server = Server::new(&cfg)?;
/// server.set_psk_callback(|_peer, auth| auth.set_pre_shared_key(b"secret key"));
/// loop {
///     // wait until the socket is readable or server.next_timeout() elapses, then:
///     server.receive(&socket, &mut Echo)?;
///     server.handle_timeouts(&mut &socket, &mut Echo)?;
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Server {
    inner: engine::Server<Dtls>,
    inbox: Option<Inbox>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("peers", &self.peer_count())
            .field("handshakes", &self.handshake_count())
            .field("limits", &self.inner.limits())
            .finish_non_exhaustive()
    }
}

fn err((kind, message): engine::Failure) -> Error {
    Error::new(kind, message)
}

fn ms(d: Option<Duration>) -> u32 {
    d.map_or(0, |d| d.as_millis().clamp(1, u128::from(u32::MAX)) as u32)
}

impl Server {
    /// A server whose peers use `configuration` (cookie verification as
    /// it says). Fails when the configuration cannot be used
    /// (`TlsInitializationError`).
    pub fn new(configuration: &Configuration) -> Result<Server> {
        let inner = engine::Server::new(Some(configuration.inner.clone()), Box::new(|| Dtls::new(SslMode::Server)))
            .map_err(err)?;
        Ok(Server { inner, inbox: None })
    }

    /// The PSK handler for every peer; it is told which peer asks.
    pub fn set_psk_callback(&mut self, f: impl Fn(&Dtls, &mut PskAuthenticator) + Send + Sync + 'static) {
        self.inner.set_psk_callback(Some(std::sync::Arc::new(f)));
    }

    fn limit(&mut self, f: impl FnOnce(&mut Limits)) {
        let mut l = self.inner.limits();
        f(&mut l);
        self.inner.set_limits(l);
    }

    /// Peers at once, handshaking ones included (0: no limit; default 65,536).
    pub fn set_max_peers(&mut self, n: usize) {
        self.limit(|l| l.max_peers = n);
    }

    /// Handshakes in progress at once (0: no limit; default 1,024).
    pub fn set_max_handshakes(&mut self, n: usize) {
        self.limit(|l| l.max_handshakes = n);
    }

    /// Peers from one IP address, all ports (0: no limit, the default).
    pub fn set_max_peers_per_address(&mut self, n: usize) {
        self.limit(|l| l.max_peers_per_address = n);
    }

    /// Established peers silent this long are closed (None: never, the default).
    pub fn set_idle_timeout(&mut self, t: Option<Duration>) {
        self.limit(|l| l.idle_timeout_ms = ms(t));
    }

    /// Handshakes not complete this long after they started are dropped
    /// (None: never; default 30 s).
    pub fn set_handshake_timeout(&mut self, t: Option<Duration>) {
        self.limit(|l| l.handshake_timeout_ms = ms(t));
    }

    /// Peers at once (0: no limit).
    pub fn max_peers(&self) -> usize {
        self.inner.limits().max_peers
    }

    /// Handshakes in progress at once (0: no limit).
    pub fn max_handshakes(&self) -> usize {
        self.inner.limits().max_handshakes
    }

    /// Peers from one IP address (0: no limit).
    pub fn max_peers_per_address(&self) -> usize {
        self.inner.limits().max_peers_per_address
    }

    /// The idle timeout of established peers (None: never).
    pub fn idle_timeout(&self) -> Option<Duration> {
        let ms = self.inner.limits().idle_timeout_ms;
        (ms > 0).then(|| Duration::from_millis(ms.into()))
    }

    /// How long a handshake may take (None: no limit).
    pub fn handshake_timeout(&self) -> Option<Duration> {
        let ms = self.inner.limits().handshake_timeout_ms;
        (ms > 0).then(|| Duration::from_millis(ms.into()))
    }

    /// The cookie HMAC's hash and secret (cookies of the previous secret
    /// are refused from now on).
    pub fn set_cookie_generator_parameters(&mut self, p: &GeneratorParameters) -> Result<()> {
        self.inner.set_cookie_generator_parameters(p.hash as i32, &p.secret).map_err(err)
    }

    /// A new random cookie secret; cookies made with the old one are still
    /// accepted for `grace`.
    pub fn rotate_cookie_secret(&mut self, grace: Duration) {
        self.inner.cookies().rotate(ms(Some(grace).filter(|g| !g.is_zero())));
    }

    /// Uses `other`'s cookie secret from now on, and every rotation of it
    /// (servers on one SO_REUSEPORT port, one per thread).
    pub fn share_cookie_secret(&mut self, other: &Server) {
        self.inner.share_cookies(other.inner.cookies());
    }

    /// Handles every datagram queued on a non-blocking `socket` (at most
    /// 1,024 per call, so a flood cannot starve the timers), read many per
    /// system call. Returns how many it handled.
    pub fn receive<E: ServerEvents + ?Sized>(&mut self, socket: &UdpSocket, events: &mut E) -> Result<usize> {
        let inbox = self.inbox.get_or_insert_with(Inbox::default);
        crate::net::serve(&mut self.inner, inbox, socket.as_raw_fd(), &mut Adapt(events)).map_err(err)
    }

    /// Handles one datagram that arrived from `from` (for applications
    /// that read the socket themselves, or have no socket).
    pub fn handle_datagram<T: Transport + ?Sized, E: ServerEvents + ?Sized>(
        &mut self,
        transport: &mut T,
        from: SocketAddr,
        dgram: &[u8],
        events: &mut E,
    ) -> Result<()> {
        self.inner.handle_datagram(&mut Forward(transport), from, dgram, &mut Adapt(events)).map_err(err)
    }

    /// Time until [`handle_timeouts`](Self::handle_timeouts) is due (zero:
    /// now), or None when no peer has a timer.
    pub fn next_timeout(&mut self) -> Option<Duration> {
        self.inner.next_timeout_us().map(Duration::from_micros)
    }

    /// Runs the timers that are due: retransmissions, handshake and idle
    /// timeouts. Returns how many peers it handled.
    pub fn handle_timeouts<T: Transport + ?Sized, E: ServerEvents + ?Sized>(
        &mut self,
        transport: &mut T,
        events: &mut E,
    ) -> Result<usize> {
        self.inner.handle_timeouts(&mut Forward(transport), &mut Adapt(events)).map_err(err)
    }

    /// Closes the peer at `addr`: close_notify if established, then its
    /// `closed` event with [`CloseReason::Local`].
    pub fn close_peer<T: Transport + ?Sized, E: ServerEvents + ?Sized>(
        &mut self,
        transport: &mut T,
        addr: SocketAddr,
        events: &mut E,
    ) -> Result<()> {
        self.inner.close_at(Some(&mut Forward(transport)), &addr, &mut Adapt(events)).map_err(err)
    }

    /// Closes every peer (close_notify to the established ones). Returns how many.
    pub fn shutdown<T: Transport + ?Sized, E: ServerEvents + ?Sized>(
        &mut self,
        transport: &mut T,
        events: &mut E,
    ) -> usize {
        self.inner.close_all(Some(&mut Forward(transport)), CloseReason::Local, &mut Adapt(events))
    }

    /// Peers, handshaking ones included.
    pub fn peer_count(&self) -> usize {
        self.inner.peer_count()
    }

    /// Handshakes in progress.
    pub fn handshake_count(&self) -> usize {
        self.inner.handshake_count()
    }

    /// The peer at `addr` (the established one while a client that
    /// restarted on the same port handshakes again).
    pub fn peer(&self, addr: SocketAddr) -> Option<&Dtls> {
        self.inner.peer(&addr)
    }

    /// Every peer, handshaking ones included, in no particular order.
    pub fn peers(&self) -> impl Iterator<Item = &Dtls> + '_ {
        self.inner.peers()
    }
}

#[cfg(test)]
mod tests {
    /// A server moves to the thread that drives it (one per SO_REUSEPORT socket).
    #[test]
    fn a_server_is_send() {
        fn send<T: Send>() {}
        send::<super::Server>();
    }
}
