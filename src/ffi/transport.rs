//! Sending through an application callback instead of an fd (ICE, TURN,
//! io_uring, user-space stacks): the C side of the engine's `Transport`.

use std::io;
use std::net::SocketAddr;

use libc::{c_int, c_void};

use super::dtls::qdtls_connection;
use super::handle::try_ref;
use super::{call, UserCallback};
use crate::engine::Transport;
use crate::net::{to_sockaddr, FdTransport};

/// Sends one datagram for a connection: `data`/`len` to the peer at
/// `addr`/`addr_len` (a `struct sockaddr_in` or `sockaddr_in6`, ready for
/// `sendto`; `const void *` as in `qdtls_set_peer_sockaddr`, so that this
/// header needs no socket headers). Returns 0 when the
/// datagram was sent (or queued for sending), anything else when it could
/// not be: the call that wanted to send then fails with
/// UnderlyingSocketError. Runs on the thread that called the qdtls function.
pub type qdtls_send_callback = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        data: *const u8,
        len: usize,
        addr: *const c_void,
        addr_len: usize,
    ) -> c_int,
>;

/// A send callback and its user data (qdtls_set_send_callback's contract:
/// it may be called from any thread that drives the connection).
pub(crate) type SendCallback =
    UserCallback<unsafe extern "C" fn(*mut c_void, *const u8, usize, *const c_void, usize) -> c_int>;

impl SendCallback {
    /// The callback and its user data; None for a NULL callback.
    pub(crate) fn new(callback: qdtls_send_callback, user: *mut c_void) -> Option<SendCallback> {
        callback.map(|f| SendCallback { f, user })
    }
}

impl Transport for SendCallback {
    fn send(&mut self, dgram: &[u8], peer: SocketAddr) -> io::Result<()> {
        let (ss, len) = to_sockaddr(peer);
        // SAFETY: the application's callback, with its user data, a datagram
        // valid for its length and an address valid for `len`.
        let r = unsafe {
            (self.f)(
                self.user,
                dgram.as_ptr(),
                dgram.len(),
                (&ss as *const libc::sockaddr_storage).cast(),
                len as usize,
            )
        };
        if r == 0 {
            Ok(())
        } else {
            Err(io::Error::other(format!("the send callback failed ({r})")))
        }
    }

    fn path_mtu(&mut self) -> Option<u32> {
        None // the MTU hint (qdtls_set_mtu_hint) tells the library the path's MTU
    }
}

/// Where a connection's datagrams go for one call: the fd, or with fd -1
/// the send callback if one is set; None (Qt's null socket) otherwise.
pub(crate) fn with_transport<R>(
    callback: Option<SendCallback>,
    fd: c_int,
    f: impl FnOnce(Option<&mut dyn Transport>) -> R,
) -> R {
    match (FdTransport::new(fd), callback) {
        (Some(mut t), _) => f(Some(&mut t)),
        (None, Some(mut cb)) => f(Some(&mut cb)),
        (None, None) => f(None),
    }
}

/// Makes the connection send through `callback` whenever a function is
/// called with fd -1 (instead of failing with InvalidInputParameters, Qt's
/// null socket); datagrams from the peer are still passed in as usual. NULL
/// `callback` removes it. `user_data` is passed to every call; the callback
/// may run on any thread that drives the connection. False for NULL `h`.
///
/// # Safety
/// `h` is NULL or live; `callback`, if set, is safe to call with
/// `user_data` until it is replaced or the connection is freed.
#[no_mangle]
pub unsafe extern "C" fn qdtls_set_send_callback(
    h: *mut qdtls_connection,
    callback: qdtls_send_callback,
    user_data: *mut c_void,
) -> bool {
    // SAFETY: `h` is NULL or live, as this function's contract says.
    let c = unsafe { try_ref(h) };
    call(c, false, |c| {
        *c.send.lock() = SendCallback::new(callback, user_data);
        true
    })
}
