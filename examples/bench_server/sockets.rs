//! Loopback UDP sockets: non-blocking, SO_REUSEPORT, large receive buffers, poll.

use std::io;
use std::mem::size_of;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd};

use crate::BoxResult;

pub fn local_socket(ip: Ipv4Addr) -> BoxResult<UdpSocket> {
    let s = UdpSocket::bind(SocketAddr::new(IpAddr::V4(ip), 0))?;
    s.set_nonblocking(true)?;
    Ok(s)
}

pub fn setsockopt_int(fd: i32, level: i32, name: i32, value: i32) -> bool {
    // SAFETY: value lives for the call; the kernel checks fd.
    unsafe {
        libc::setsockopt(fd, level, name, (&value as *const i32).cast(), size_of::<i32>() as libc::socklen_t) == 0
    }
}

/// A non-blocking UDP socket with SO_REUSEPORT bound to `addr`.
pub fn reuseport_socket(addr: SocketAddrV4) -> io::Result<UdpSocket> {
    // SAFETY: plain socket calls; the descriptor is owned by the UdpSocket made from it.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let sock = UdpSocket::from_raw_fd(fd);
        if !setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_REUSEPORT, 1) {
            return Err(io::Error::last_os_error());
        }
        let sa = sockaddr_in(addr);
        let r = libc::bind(fd, (&sa as *const libc::sockaddr_in).cast(), size_of::<libc::sockaddr_in>() as u32);
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(sock)
    }
}

pub fn sockaddr_in(a: SocketAddrV4) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: a.port().to_be(),
        sin_addr: libc::in_addr { s_addr: u32::from(*a.ip()).to_be() },
        sin_zero: [0; 8],
    }
}

/// A large receive buffer (SO_RCVBUFFORCE when allowed); the size the kernel reports.
pub fn big_receive_buffer(s: &UdpSocket, bytes: i32) -> i32 {
    let fd = s.as_raw_fd();
    if !setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, bytes) {
        setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, bytes);
    }
    let mut v: i32 = 0;
    let mut len = size_of::<i32>() as libc::socklen_t;
    // SAFETY: v and len are valid for writing.
    unsafe { libc::getsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, (&mut v as *mut i32).cast(), &mut len) };
    v
}

pub fn wait_readable(fds: &[i32], ms: i32) {
    let mut p: Vec<libc::pollfd> =
        fds.iter().map(|&fd| libc::pollfd { fd, events: libc::POLLIN, revents: 0 }).collect();
    // SAFETY: p is a valid array of pollfd.
    unsafe { libc::poll(p.as_mut_ptr(), p.len() as libc::nfds_t, ms) };
}
