//! Receiving on a server's unconnected socket: many datagrams per system
//! call (recvmmsg), each with its source address.

use std::io;
use std::mem::zeroed;
use std::net::SocketAddr;
use std::os::fd::RawFd;

use super::{from_sockaddr, recvmmsg_now};

/// Datagrams per recvmmsg.
const BATCH: usize = 32;
/// Room for the largest datagram a DTLS peer sends (a 16 KiB record and
/// its overhead); a larger one is truncated by the kernel and dropped.
const ROOM: usize = 16384 + 1024;
/// Datagrams one call takes at most, so that a flood cannot keep the
/// caller from its timers: a level-triggered poll reports the rest.
pub const MAX_PER_CALL: usize = 1024;

/// Receive buffers, made once per server.
pub struct Inbox {
    bufs: Vec<u8>,
}

impl Default for Inbox {
    fn default() -> Self {
        Inbox { bufs: vec![0; BATCH * ROOM] }
    }
}

impl Inbox {
    /// Receives the datagrams already queued on `fd` (never waits), at most
    /// [`MAX_PER_CALL`], calling `each(datagram, source)` for every one in
    /// order and `after_batch` after each system call's worth. Returns how
    /// many it handed over; truncated datagrams and unknown address families
    /// are skipped.
    pub fn receive(
        &mut self,
        fd: RawFd,
        mut each: impl FnMut(&[u8], SocketAddr),
        mut after_batch: impl FnMut(),
    ) -> io::Result<usize> {
        let mut done = 0;
        while done < MAX_PER_CALL {
            let (got, full) = self.batch(fd, done > 0, &mut each)?;
            after_batch();
            done += got;
            if !full {
                break;
            }
        }
        Ok(done)
    }

    /// One recvmmsg: (datagrams handed over, whether the batch was full).
    fn batch(
        &mut self,
        fd: RawFd,
        some_done: bool,
        each: &mut impl FnMut(&[u8], SocketAddr),
    ) -> io::Result<(usize, bool)> {
        // SAFETY: all-zero headers and addresses are valid; every iovec
        // points into self.bufs, ROOM bytes apart, alive for the call.
        unsafe {
            let mut iov: [libc::iovec; BATCH] = zeroed();
            let mut names: [libc::sockaddr_storage; BATCH] = zeroed();
            let mut hdrs: [libc::mmsghdr; BATCH] = zeroed();
            for i in 0..BATCH {
                iov[i] = libc::iovec { iov_base: self.bufs.as_mut_ptr().add(i * ROOM).cast(), iov_len: ROOM };
                hdrs[i].msg_hdr.msg_iov = &mut iov[i];
                hdrs[i].msg_hdr.msg_iovlen = 1;
                hdrs[i].msg_hdr.msg_name = (&mut names[i] as *mut libc::sockaddr_storage).cast();
                hdrs[i].msg_hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            }
            let n = match recvmmsg_now(fd, &mut hdrs) {
                Ok(n) => n,
                // What arrived is handed over; the error shows next time.
                Err(_) if some_done => return Ok((0, false)),
                Err(e) => return Err(e),
            };
            let mut handed = 0;
            for (i, h) in hdrs[..n].iter().enumerate() {
                let truncated = h.msg_hdr.msg_flags & libc::MSG_TRUNC != 0;
                let from = from_sockaddr(h.msg_hdr.msg_name.cast(), h.msg_hdr.msg_namelen as usize);
                if let (false, Some(from)) = (truncated, from) {
                    each(&self.bufs[i * ROOM..i * ROOM + h.msg_len as usize], from);
                    handed += 1;
                }
            }
            Ok((handed, n == BATCH))
        }
    }
}
