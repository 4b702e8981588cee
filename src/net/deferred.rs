//! A server's answers to datagrams of one receive batch, sent together:
//! the stateless HelloVerifyRequests (many small datagrams to many
//! addresses, the whole cost of a flood of spoofed hellos) go out with one
//! sendmmsg per batch instead of one sendto each. Everything else is sent
//! at once, so its errors stay with the session that sent it.

use std::io;
use std::mem::zeroed;
use std::net::SocketAddr;

use super::{sendmmsg_now, to_sockaddr, FdTransport};
use crate::engine::Transport;

/// Messages per sendmmsg.
const BATCH: usize = 64;

/// An fd transport that holds deferred datagrams until [`flush`](Self::flush).
pub struct Deferred {
    pub fd: FdTransport,
    bytes: Vec<u8>,
    /// (start in `bytes`, length, destination) of each held datagram.
    held: Vec<(usize, usize, SocketAddr)>,
}

impl Deferred {
    pub fn new(fd: FdTransport) -> Deferred {
        Deferred { fd, bytes: Vec::new(), held: Vec::new() }
    }

    /// Sends every held datagram (the buffers are kept for the next batch).
    /// All are attempted; the first error is returned.
    pub fn flush(&mut self) -> io::Result<()> {
        let mut first = Ok(());
        let mut rest = &self.held[..];
        while !rest.is_empty() {
            let chunk = &rest[..rest.len().min(BATCH)];
            let sent = match self.sendmmsg(chunk) {
                Ok(n) => n,
                Err(e) => {
                    if first.is_ok() {
                        first = Err(e);
                    }
                    1 // that datagram is lost (and reported); try the others
                }
            };
            rest = &rest[sent..];
        }
        self.bytes.clear();
        self.held.clear();
        first
    }

    fn sendmmsg(&self, chunk: &[(usize, usize, SocketAddr)]) -> io::Result<usize> {
        // SAFETY: all-zero headers are valid; every pointer stored points into
        // `self.bytes`, `iov` or `names`, which outlive the call.
        unsafe {
            let mut iov: [libc::iovec; BATCH] = zeroed();
            let mut names: [libc::sockaddr_storage; BATCH] = zeroed();
            let mut hdrs: [libc::mmsghdr; BATCH] = zeroed();
            for (i, &(at, len, to)) in chunk.iter().enumerate() {
                let (ss, name_len) = to_sockaddr(to);
                names[i] = ss;
                iov[i] = libc::iovec { iov_base: self.bytes.as_ptr().add(at) as *mut libc::c_void, iov_len: len };
                hdrs[i].msg_hdr.msg_name = (&mut names[i] as *mut libc::sockaddr_storage).cast();
                hdrs[i].msg_hdr.msg_namelen = name_len;
                hdrs[i].msg_hdr.msg_iov = &mut iov[i];
                hdrs[i].msg_hdr.msg_iovlen = 1;
            }
            match sendmmsg_now(self.fd.raw(), &mut hdrs[..chunk.len()])? {
                Some(n) => Ok(n),
                None => {
                    let (at, len, to) = chunk[0];
                    let mut fd = self.fd;
                    fd.send(&self.bytes[at..at + len], to)?;
                    Ok(1)
                }
            }
        }
    }
}

impl Transport for Deferred {
    fn send(&mut self, dgram: &[u8], peer: SocketAddr) -> io::Result<()> {
        self.fd.send(dgram, peer)
    }
    fn path_mtu(&mut self) -> Option<u32> {
        self.fd.path_mtu()
    }
    fn send_all(&mut self, dgrams: &[Vec<u8>], peer: SocketAddr) -> io::Result<()> {
        self.fd.send_all(dgrams, peer)
    }
    fn send_deferred(&mut self, dgram: &[u8], peer: SocketAddr) -> io::Result<()> {
        self.held.push((self.bytes.len(), dgram.len(), peer));
        self.bytes.extend_from_slice(dgram);
        Ok(())
    }
}
