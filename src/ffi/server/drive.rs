//! Driving a server: datagrams in, timers, closing peers.

use std::net::SocketAddr;

use libc::c_int;

use super::{failure, qdtls_server, BUSY};
use crate::engine::error::DtlsError;
use crate::engine::server::CloseReason;
use crate::ffi::dtls::{qdtls_connection, Connection};
use crate::ffi::handle::try_ref;
use crate::ffi::transport::with_transport;
use crate::ffi::{bytes, call};
use crate::net::from_sockaddr;
use libc::c_void;

/// Reads every datagram queued on the non-blocking UDP socket `fd` (at most
/// 1,024 per call, so a flood cannot starve the timers: call again while
/// the socket is readable), many per system call (recvmmsg), and handles
/// each as `qdtls_server_handle_datagram` does. Returns how many it read, or
/// -1 (a bad fd, a receive error, a busy server; or an answer that could not
/// be sent, after every datagram was handled).
///
/// # Safety
/// `s` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn qdtls_server_receive(s: *mut qdtls_server, fd: c_int) -> i64 {
    // SAFETY: `s` is NULL or live, as this function's contract says.
    let h = unsafe { try_ref(s) };
    call(h, -1, |h| {
        if fd < 0 {
            return h.fail(DtlsError::InvalidInputParameters, "Invalid socket descriptor", -1);
        }
        let Some(mut inbox) = h.inbox.try_lock() else { return h.fail(DtlsError::InvalidOperation, BUSY, -1) };
        h.drive(-1, |srv, ev| crate::net::serve(srv, &mut inbox, fd, ev).map(|n| n as i64))
    })
}

/// Handles one datagram that arrived from `from` (a `struct sockaddr_in` or
/// `sockaddr_in6` of `from_len` bytes, as recvfrom fills in; `const void *`
/// as in `qdtls_set_peer_sockaddr`, so that this header needs no socket
/// headers), for applications that read the socket themselves. Answers go
/// out on `fd` (-1: the send callback). False on a bad argument, a busy
/// server, or an answer that could not be sent. A peer is one address and
/// port: an IPv4 source in its v4-mapped form (`::ffff:a.b.c.d`, from a
/// dual-stack socket) is the same peer as `a.b.c.d`, and the IPv6 flow
/// label is not part of it.
///
/// # Safety
/// `s` is NULL or live; `from` is NULL or valid for `from_len` bytes; `dgram` for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn qdtls_server_handle_datagram(
    s: *mut qdtls_server,
    fd: c_int,
    from: *const c_void,
    from_len: usize,
    dgram: *const u8,
    len: usize,
) -> bool {
    // SAFETY: pointers as this function's contract says.
    let (h, from, dgram) = unsafe { (try_ref(s), from_sockaddr(from.cast(), from_len), bytes(dgram, len)) };
    call(h, false, |h| {
        let cb = h.send_callback();
        h.drive(false, |srv, ev| {
            let from = from.ok_or_else(|| failure(DtlsError::InvalidInputParameters, "Invalid source address"))?;
            let dgram = dgram.ok_or_else(|| failure(DtlsError::InvalidInputParameters, "NULL datagram"))?;
            with_transport(cb, fd, |t| {
                let t = t.ok_or_else(|| failure(DtlsError::InvalidInputParameters, "Invalid socket"))?;
                srv.handle_datagram(t, from, dgram, ev).map(|()| true)
            })
        })
    })
}

/// Milliseconds until `qdtls_server_handle_timeouts` is due (rounded up): 0
/// when due now, -1 when no peer has a timer (and for NULL). O(1).
///
/// # Safety
/// `s` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn qdtls_server_next_timeout_ms(s: *const qdtls_server) -> i64 {
    // SAFETY: `s` is NULL or live, as this function's contract says.
    let h = unsafe { try_ref(s) };
    call(h, -1, |h| match h.server() {
        Some(mut srv) => srv.next_timeout_us().map_or(-1, |us| us.div_ceil(1000) as i64),
        None => 0, // busy: the running call reschedules; look again when it returns
    })
}

/// Runs the timers that are due (retransmissions, handshake and idle
/// timeouts) in O(peers due). With fd -1 and no send callback they run all
/// the same, and the call fails (UnderlyingSocketError) when something had
/// to be sent. Returns how many peers it handled, or -1 (a
/// busy server, or a datagram that could not be sent, after all were handled).
///
/// # Safety
/// `s` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn qdtls_server_handle_timeouts(s: *mut qdtls_server, fd: c_int) -> i64 {
    // SAFETY: `s` is NULL or live, as this function's contract says.
    let h = unsafe { try_ref(s) };
    call(h, -1, |h| {
        let cb = h.send_callback();
        h.drive(-1, |srv, ev| {
            // Without a socket the timers still run (nothing can be sent, and
            // that is the error): a due timer left due would spin the caller.
            with_transport(cb, fd, |t| srv.handle_timeouts(t.unwrap_or(&mut Unsent), ev).map(|n| n as i64))
        })
    })
}

/// Closes a peer: close_notify if established (on `fd`, -1: the send
/// callback), then `on_closed` with `QDTLS_CLOSE_LOCAL`. From inside one of
/// the server's callbacks it is carried out when that callback returns.
/// False for a NULL server or peer, or a peer of another server.
///
/// # Safety
/// `s` is NULL or live; `peer` is NULL or a live peer handle.
#[no_mangle]
pub unsafe extern "C" fn qdtls_server_close_peer(s: *mut qdtls_server, fd: c_int, peer: *mut qdtls_connection) -> bool {
    // SAFETY: pointers as this function's contract says.
    let (h, peer) = unsafe { (try_ref(s), try_ref(peer)) };
    call(h, false, |h| {
        let Some(peer) = peer else { return h.fail(DtlsError::InvalidInputParameters, "NULL peer", false) };
        if h.server.is_locked() {
            let addr = peer.info().peer.map(|ip| SocketAddr::new(ip, peer.info().port));
            if let Some(addr) = addr {
                h.requests.push(addr, peer as *const Connection as usize);
            }
            return true;
        }
        let cb = h.send_callback();
        h.drive(false, |srv, ev| with_transport(cb, fd, |t| srv.close_peer(t, peer, ev).map(|()| true)))
    })
}

/// Closes every peer, close_notify to the established ones (on `fd`, -1:
/// the send callback). Returns how many, or -1.
///
/// # Safety
/// `s` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn qdtls_server_shutdown(s: *mut qdtls_server, fd: c_int) -> i64 {
    // SAFETY: `s` is NULL or live, as this function's contract says.
    let h = unsafe { try_ref(s) };
    call(h, -1, |h| {
        let cb = h.send_callback();
        h.drive(-1, |srv, ev| Ok(with_transport(cb, fd, |t| srv.close_all(t, CloseReason::Local, ev)) as i64))
    })
}

/// Where datagrams go with no socket and no send callback: nowhere, as an error.
struct Unsent;

impl crate::engine::Transport for Unsent {
    fn send(&mut self, _: &[u8], _: SocketAddr) -> std::io::Result<()> {
        Err(std::io::Error::new(std::io::ErrorKind::NotConnected, "no socket (fd -1) and no send callback"))
    }
    fn path_mtu(&mut self) -> Option<u32> {
        None
    }
}
