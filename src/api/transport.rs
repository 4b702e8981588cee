//! Where outgoing datagrams go: a `std::net::UdpSocket`, or any
//! [`Transport`] of the application's (a user-space stack, a test pipe).

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;

pub use crate::engine::Transport;
use crate::net::FdTransport;

/// Sends on the socket's descriptor as the C API does: `send` when the
/// socket is connected, `sendto` otherwise (v4-mapped for an IPv4 peer on a
/// dual-stack socket), batches with `sendmmsg` and UDP GSO.
impl Transport for UdpSocket {
    fn send(&mut self, dgram: &[u8], peer: SocketAddr) -> io::Result<()> {
        Transport::send(&mut &*self, dgram, peer)
    }
    fn path_mtu(&mut self) -> Option<u32> {
        Transport::path_mtu(&mut &*self)
    }
    fn send_all(&mut self, dgrams: &[Vec<u8>], peer: SocketAddr) -> io::Result<()> {
        Transport::send_all(&mut &*self, dgrams, peer)
    }
}

/// The same for a shared reference (`&mut &socket`), as `std` does for
/// `Write` on `&TcpStream`: a `UdpSocket` needs no exclusive access to send.
impl Transport for &UdpSocket {
    fn send(&mut self, dgram: &[u8], peer: SocketAddr) -> io::Result<()> {
        fd(self).send(dgram, peer)
    }
    fn path_mtu(&mut self) -> Option<u32> {
        fd(self).path_mtu()
    }
    fn send_all(&mut self, dgrams: &[Vec<u8>], peer: SocketAddr) -> io::Result<()> {
        fd(self).send_all(dgrams, peer)
    }
}

fn fd(s: &UdpSocket) -> FdTransport {
    FdTransport::from_socket(s.as_raw_fd())
}

/// Lets a `T: ?Sized` (a `dyn Transport` too) be passed on as `&mut dyn Transport`.
pub(crate) struct Forward<'a, T: ?Sized>(pub(crate) &'a mut T);

impl<T: Transport + ?Sized> Transport for Forward<'_, T> {
    fn send(&mut self, dgram: &[u8], peer: SocketAddr) -> std::io::Result<()> {
        self.0.send(dgram, peer)
    }
    fn path_mtu(&mut self) -> Option<u32> {
        self.0.path_mtu()
    }
    fn send_all(&mut self, dgrams: &[Vec<u8>], peer: SocketAddr) -> std::io::Result<()> {
        self.0.send_all(dgrams, peer)
    }
    fn send_deferred(&mut self, dgram: &[u8], peer: SocketAddr) -> std::io::Result<()> {
        self.0.send_deferred(dgram, peer)
    }
}
