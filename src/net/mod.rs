//! The fd transport: sends the engine's outgoing datagrams on the
//! application's own UDP socket, and converts addresses to and from sockaddr.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::engine::{BatchReceiver, Transport};

mod deferred;
mod inbox;
mod serve;
pub use deferred::Deferred;
pub use inbox::Inbox;
pub use serve::serve;

/// A UDP socket owned by the application. Connected or not, IPv4 or IPv6.
#[derive(Clone, Copy)]
pub struct FdTransport {
    fd: RawFd,
}

impl FdTransport {
    /// None for fd -1, Qt's "null socket".
    pub fn new(fd: RawFd) -> Option<FdTransport> {
        (fd >= 0).then_some(FdTransport { fd })
    }

    /// The descriptor.
    pub fn raw(&self) -> RawFd {
        self.fd
    }

    /// The descriptor of a live socket object (never -1).
    pub(crate) fn from_socket(fd: RawFd) -> FdTransport {
        FdTransport { fd }
    }
}

impl Transport for FdTransport {
    fn send(&mut self, dgram: &[u8], peer: SocketAddr) -> io::Result<()> {
        match sendto(self.fd, dgram, peer) {
            // A v4 peer on an IPv6 socket: try its v4-mapped form.
            Err(e) if peer.is_ipv4() && matches!(e.raw_os_error(), Some(libc::EAFNOSUPPORT | libc::EINVAL)) => {
                let mapped = match peer.ip() {
                    IpAddr::V4(v4) => SocketAddr::new(IpAddr::V6(v4.to_ipv6_mapped()), peer.port()),
                    IpAddr::V6(_) => peer,
                };
                sendto(self.fd, dgram, mapped)
            }
            // A connected socket on a system that refuses an address: plain send.
            Err(e) if e.raw_os_error() == Some(libc::EISCONN) => send(self.fd, dgram),
            other => other,
        }
    }

    /// Runs of equal-sized datagrams go out with UDP GSO (one system call
    /// and one pass through the stack, the kernel cuts them at the same
    /// boundaries), everything else with sendmmsg.
    fn send_all(&mut self, dgrams: &[Vec<u8>], peer: SocketAddr) -> io::Result<()> {
        let mut rest = dgrams;
        while !rest.is_empty() {
            let run = gso_run(rest);
            if run >= 2 && !GSO_UNAVAILABLE.load(Ordering::Relaxed) && send_gso(self.fd, &rest[..run], peer) {
                rest = &rest[run..];
                continue;
            }
            let sent = sendmmsg(self.fd, &rest[..rest.len().min(BATCH)], peer)?;
            rest = &rest[sent..];
        }
        Ok(())
    }

    fn path_mtu(&mut self) -> Option<u32> {
        let (level, name) = match local_family(self.fd)? {
            libc::AF_INET6 => (libc::IPPROTO_IPV6, libc::IPV6_MTU),
            _ => (libc::IPPROTO_IP, libc::IP_MTU),
        };
        let mut mtu: libc::c_int = 0;
        let mut len = size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: mtu and len are valid for writing; the kernel checks fd.
        let r = unsafe { libc::getsockopt(self.fd, level, name, (&mut mtu as *mut libc::c_int).cast(), &mut len) };
        // Only a connected socket has a path MTU (ENOTCONN otherwise).
        (r == 0 && mtu > 0).then_some(mtu as u32)
    }
}

/// Datagrams per sendmmsg / recvmmsg call; the headers live on the stack.
const BATCH: usize = 64;

/// Sends a prefix of `dgrams` with one system call; returns how many went.
/// A v4 peer on an IPv6 socket falls back to one send per datagram.
fn sendmmsg(fd: RawFd, dgrams: &[Vec<u8>], peer: SocketAddr) -> io::Result<usize> {
    let (mut ss, len) = to_sockaddr(peer);
    // SAFETY: all-zero headers are valid; every pointer stored below points
    // into `dgrams`, `iov` or `ss`, which outlive the call.
    unsafe {
        let mut iov: [libc::iovec; BATCH] = zeroed();
        let mut hdrs: [libc::mmsghdr; BATCH] = zeroed();
        for (i, d) in dgrams.iter().enumerate() {
            iov[i] = libc::iovec { iov_base: d.as_ptr() as *mut libc::c_void, iov_len: d.len() };
            hdrs[i].msg_hdr.msg_name = (&mut ss as *mut libc::sockaddr_storage).cast();
            hdrs[i].msg_hdr.msg_namelen = len;
            hdrs[i].msg_hdr.msg_iov = &mut iov[i];
            hdrs[i].msg_hdr.msg_iovlen = 1;
        }
        match sendmmsg_now(fd, &mut hdrs[..dgrams.len()])? {
            Some(n) => Ok(n),
            None => {
                FdTransport { fd }.send(&dgrams[0], peer)?;
                Ok(1)
            }
        }
    }
}

/// recvmmsg of what is queued (never waits), retried when interrupted:
/// how many arrived (0: nothing queued).
///
/// # Safety
/// Every header points to buffers (and names) valid for the lengths it gives.
pub(crate) unsafe fn recvmmsg_now(fd: RawFd, hdrs: &mut [libc::mmsghdr]) -> io::Result<usize> {
    loop {
        // SAFETY: as this function's contract.
        let n = unsafe {
            libc::recvmmsg(fd, hdrs.as_mut_ptr(), hdrs.len() as libc::c_uint, libc::MSG_DONTWAIT, std::ptr::null_mut())
        };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = io::Error::last_os_error();
        match e.kind() {
            io::ErrorKind::Interrupted => continue,
            io::ErrorKind::WouldBlock => return Ok(0),
            _ => return Err(e),
        }
    }
}

/// sendmmsg, retried when interrupted: how many went, or None when the
/// kernel refused the address form (a v4 peer on an IPv6 socket, a
/// connected socket): the caller then sends the first one by itself, on
/// the one-by-one path that knows the fallbacks.
///
/// # Safety
/// Every header points to data and an address valid for the lengths it gives.
pub(crate) unsafe fn sendmmsg_now(fd: RawFd, hdrs: &mut [libc::mmsghdr]) -> io::Result<Option<usize>> {
    loop {
        // SAFETY: as this function's contract.
        let n = unsafe { libc::sendmmsg(fd, hdrs.as_mut_ptr(), hdrs.len() as libc::c_uint, libc::MSG_NOSIGNAL) };
        if n > 0 {
            return Ok(Some(n as usize));
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EAFNOSUPPORT | libc::EINVAL | libc::EISCONN) => return Ok(None),
            _ => return Err(e),
        }
    }
}

/// Set once the kernel says it has no UDP GSO at all.
static GSO_UNAVAILABLE: AtomicBool = AtomicBool::new(false);
/// Linux's UDP_SEGMENT (SOL_UDP) control message.
const UDP_SEGMENT: libc::c_int = 103;
/// Stay well below the 64 KiB a GSO send may carry.
const GSO_MAX_BYTES: usize = 60_000;

/// How many leading datagrams can go as one GSO send: equal sizes, and
/// optionally one shorter last one (the kernel allows a short tail).
fn gso_run(dgrams: &[Vec<u8>]) -> usize {
    let seg = dgrams[0].len();
    if seg == 0 {
        return 0;
    }
    let limit = dgrams.len().min(BATCH).min(GSO_MAX_BYTES / seg);
    let mut n = dgrams[..limit].iter().take_while(|d| d.len() == seg).count();
    if n < limit && (1..seg).contains(&dgrams[n].len()) {
        n += 1;
    }
    n
}

/// One sendmsg with UDP_SEGMENT; false when the kernel would not take it
/// (then the caller uses sendmmsg, which reports real errors).
fn send_gso(fd: RawFd, dgrams: &[Vec<u8>], peer: SocketAddr) -> bool {
    let (mut ss, len) = to_sockaddr(peer);
    // SAFETY: all-zero structures are valid; the pointers stored point into
    // `dgrams`, `iov`, `ss` and `control`, which outlive the call; the control
    // buffer is aligned for cmsghdr and large enough for one u16 payload.
    unsafe {
        let mut iov: [libc::iovec; BATCH] = zeroed();
        for (i, d) in dgrams.iter().enumerate() {
            iov[i] = libc::iovec { iov_base: d.as_ptr() as *mut libc::c_void, iov_len: d.len() };
        }
        let mut control = [0u64; 4];
        let mut msg: libc::msghdr = zeroed();
        msg.msg_name = (&mut ss as *mut libc::sockaddr_storage).cast();
        msg.msg_namelen = len;
        msg.msg_iov = iov.as_mut_ptr();
        msg.msg_iovlen = dgrams.len();
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = libc::CMSG_SPACE(size_of::<u16>() as u32) as usize;
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_UDP;
        (*cmsg).cmsg_type = UDP_SEGMENT;
        (*cmsg).cmsg_len = libc::CMSG_LEN(size_of::<u16>() as u32) as usize;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<u16>(), dgrams[0].len() as u16);
        let total: usize = dgrams.iter().map(Vec::len).sum();
        loop {
            let n = libc::sendmsg(fd, &msg, libc::MSG_NOSIGNAL);
            if n >= 0 {
                // UDP sends are all or nothing.
                return n as usize == total || n > 0;
            }
            match io::Error::last_os_error().raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::ENOPROTOOPT | libc::EOPNOTSUPP) => {
                    GSO_UNAVAILABLE.store(true, Ordering::Relaxed);
                    return false;
                }
                // EINVAL (segment above the path MTU, v4 peer on a v6-only
                // socket, ...) or anything else: sendmmsg decides.
                _ => return false,
            }
        }
    }
}

/// Whether `fd` is a connected socket.
pub fn is_connected(fd: RawFd) -> bool {
    // SAFETY: storage is large enough for any address.
    unsafe {
        let mut ss: libc::sockaddr_storage = zeroed();
        let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        libc::getpeername(fd, (&mut ss as *mut libc::sockaddr_storage).cast(), &mut len) == 0
    }
}

impl BatchReceiver for FdTransport {
    fn is_connected(&mut self) -> bool {
        is_connected(self.fd)
    }

    fn receive(&mut self, bufs: &mut [&mut [u8]], each: &mut dyn FnMut(&mut [u8], Option<usize>)) -> io::Result<usize> {
        receive_batch(self.fd, bufs, |buf, received| each(buf, received))
    }
}

/// One received datagram's place in a caller buffer: its length, or None
/// when it did not fit (the kernel truncated it).
pub type Received = Option<usize>;

/// Receives datagrams already queued on `fd` (never waits) into `bufs`,
/// one recvmmsg per BATCH buffers; calls `each(buffer, received)` for every
/// datagram, in order, and returns how many arrived.
pub fn receive_batch<B: AsMut<[u8]>>(
    fd: RawFd,
    bufs: &mut [B],
    mut each: impl FnMut(&mut B, Received),
) -> io::Result<usize> {
    let total = bufs.len();
    let mut done = 0;
    while done < total {
        let chunk = &mut bufs[done..(done + BATCH).min(total)];
        // SAFETY: all-zero headers are valid; each iovec points into a
        // caller buffer that outlives the call.
        let got = unsafe {
            let mut iov: [libc::iovec; BATCH] = zeroed();
            let mut hdrs: [libc::mmsghdr; BATCH] = zeroed();
            for (i, b) in chunk.iter_mut().enumerate() {
                let b = b.as_mut();
                iov[i] = libc::iovec { iov_base: b.as_mut_ptr().cast(), iov_len: b.len() };
                hdrs[i].msg_hdr.msg_iov = &mut iov[i];
                hdrs[i].msg_hdr.msg_iovlen = 1;
            }
            let n = match recvmmsg_now(fd, &mut hdrs[..chunk.len()]) {
                Ok(n) => n,
                Err(_) if done > 0 => 0, // report what arrived; the error shows next time
                Err(e) => return Err(e),
            };
            for (i, h) in hdrs[..n].iter().enumerate() {
                let truncated = h.msg_hdr.msg_flags & libc::MSG_TRUNC != 0;
                each(&mut chunk[i], (!truncated).then_some(h.msg_len as usize));
            }
            n
        };
        done += got;
        if got < chunk.len() {
            break;
        }
    }
    Ok(done)
}

fn local_family(fd: RawFd) -> Option<libc::c_int> {
    // SAFETY: storage is large enough for any address; len tells its size.
    unsafe {
        let mut ss: libc::sockaddr_storage = zeroed();
        let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        (libc::getsockname(fd, (&mut ss as *mut libc::sockaddr_storage).cast(), &mut len) == 0)
            .then_some(libc::c_int::from(ss.ss_family))
    }
}

fn retry_eintr(mut f: impl FnMut() -> isize) -> io::Result<()> {
    loop {
        if f() >= 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

fn sendto(fd: RawFd, dgram: &[u8], peer: SocketAddr) -> io::Result<()> {
    let (ss, len) = to_sockaddr(peer);
    // SAFETY: dgram and ss are valid for the lengths given.
    retry_eintr(|| unsafe {
        libc::sendto(
            fd,
            dgram.as_ptr().cast(),
            dgram.len(),
            libc::MSG_NOSIGNAL,
            (&ss as *const libc::sockaddr_storage).cast(),
            len,
        )
    })
}

fn send(fd: RawFd, dgram: &[u8]) -> io::Result<()> {
    // SAFETY: dgram is valid for its length.
    retry_eintr(|| unsafe { libc::send(fd, dgram.as_ptr().cast(), dgram.len(), libc::MSG_NOSIGNAL) })
}

/// A SocketAddr as sockaddr_storage plus the length of the family's struct.
pub fn to_sockaddr(a: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: all-zero is a valid sockaddr_storage; we write the matching
    // family's struct into its (larger, suitably aligned) storage.
    unsafe {
        let mut ss: libc::sockaddr_storage = zeroed();
        let len = match a {
            SocketAddr::V4(v4) => {
                let sin = &mut *(&mut ss as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in>();
                sin.sin_family = libc::AF_INET as libc::sa_family_t;
                sin.sin_port = v4.port().to_be();
                sin.sin_addr.s_addr = u32::from_ne_bytes(v4.ip().octets());
                size_of::<libc::sockaddr_in>()
            }
            SocketAddr::V6(v6) => {
                let sin6 = &mut *(&mut ss as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in6>();
                sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
                sin6.sin6_port = v6.port().to_be();
                sin6.sin6_addr.s6_addr = v6.ip().octets();
                sin6.sin6_flowinfo = v6.flowinfo();
                sin6.sin6_scope_id = v6.scope_id();
                size_of::<libc::sockaddr_in6>()
            }
        };
        (ss, len as libc::socklen_t)
    }
}

/// Reads a sockaddr_in / sockaddr_in6 of `len` bytes; None for anything else.
///
/// # Safety
/// `sa` must be valid for reading `len` bytes.
pub unsafe fn from_sockaddr(sa: *const libc::sockaddr, len: usize) -> Option<SocketAddr> {
    if sa.is_null() || len < size_of::<libc::sa_family_t>() {
        return None;
    }
    // Only the family field is known to be there yet (Linux has no sa_len:
    // the family comes first); reading a whole sockaddr could overrun `len`.
    // SAFETY: `sa` is valid for `len` >= size_of::<sa_family_t>() bytes.
    let family = libc::c_int::from(unsafe { std::ptr::read_unaligned(sa.cast::<libc::sa_family_t>()) });
    match family {
        libc::AF_INET if len >= size_of::<libc::sockaddr_in>() => {
            // SAFETY: valid for a whole sockaddr_in (length checked).
            let sin = unsafe { std::ptr::read_unaligned(sa.cast::<libc::sockaddr_in>()) };
            let ip = Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
            Some(SocketAddr::V4(SocketAddrV4::new(ip, u16::from_be(sin.sin_port))))
        }
        libc::AF_INET6 if len >= size_of::<libc::sockaddr_in6>() => {
            // SAFETY: valid for a whole sockaddr_in6 (length checked).
            let sin6 = unsafe { std::ptr::read_unaligned(sa.cast::<libc::sockaddr_in6>()) };
            let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            Some(SocketAddr::V6(SocketAddrV6::new(
                ip,
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}
