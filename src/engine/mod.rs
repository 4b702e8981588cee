//! The sans-I/O DTLS engine: datagrams in, datagrams out through a
//! [`Transport`] the caller provides.

pub mod bio;
pub mod blacklist;
pub mod config;
pub mod context;
pub mod cookie;
pub mod error;
pub mod hooks;
pub mod keying;
pub mod ossl;
pub mod psk;
pub mod record;
pub mod resumption;
pub mod server;
pub mod session;
pub mod trust;
pub mod values;
pub mod verifier;
pub mod verify;

use std::io;
use std::net::SocketAddr;

/// Where the engine's outgoing datagrams go. The engine never does I/O itself.
pub trait Transport {
    /// Sends one datagram to `peer` (or to the connected peer).
    fn send(&mut self, dgram: &[u8], peer: SocketAddr) -> io::Result<()>;
    /// The path MTU the system knows for this transport, if any.
    fn path_mtu(&mut self) -> Option<u32>;
    /// Sends several datagrams, in order; a transport that can batch system
    /// calls (sendmmsg) overrides this.
    fn send_all(&mut self, dgrams: &[Vec<u8>], peer: SocketAddr) -> io::Result<()> {
        dgrams.iter().try_for_each(|d| self.send(d, peer))
    }
    /// Sends a stateless answer (a server's HelloVerifyRequest). A
    /// transport that batches system calls may hold it and send it with
    /// others later, reporting a failure then; by default it goes at once.
    fn send_deferred(&mut self, dgram: &[u8], peer: SocketAddr) -> io::Result<()> {
        self.send(dgram, peer)
    }
}

pub use values::{HandshakeState, SslMode};

/// Where a batch of received datagrams comes from: a connected socket read
/// with one system call for many datagrams (recvmmsg).
pub trait BatchReceiver {
    /// Whether only the session's peer can send here (a connected socket):
    /// datagrams from anyone else must never reach a session.
    fn is_connected(&mut self) -> bool;
    /// Receives the datagrams already queued (never waits), one into each of
    /// `bufs` in order, calling `each` with the buffer and the datagram's
    /// length, or None when it was larger than its buffer. Returns how many
    /// arrived.
    fn receive(&mut self, bufs: &mut [&mut [u8]], each: &mut dyn FnMut(&mut [u8], Option<usize>)) -> io::Result<usize>;
}

/// Qt refuses broadcast and multicast peers (setPeer, verifyClient).
pub fn is_broadcast_or_multicast(a: std::net::IpAddr) -> bool {
    match a {
        std::net::IpAddr::V4(v4) => v4.is_broadcast() || v4.is_multicast(),
        std::net::IpAddr::V6(v6) => v6.is_multicast(),
    }
}

/// Sends every queued datagram of `bio`, stopping at the first failure.
/// The queue is emptied either way: a datagram that could not be sent is
/// reported, not kept for a later call.
pub(crate) fn flush(bio: &mut bio::DgramState, t: &mut dyn Transport, peer: SocketAddr) -> io::Result<()> {
    let result = match bio.outgoing() {
        [] => Ok(()),
        [one] => t.send(one, peer),
        many => t.send_all(many, peer),
    };
    bio.clear_outgoing();
    result
}
