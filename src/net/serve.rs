//! A server on its socket: every queued datagram read in batches, handled,
//! and the batch's stateless answers sent together.

use std::os::fd::RawFd;

use super::{Deferred, FdTransport, Inbox};
use crate::engine::error::DtlsError;
use crate::engine::server::{Events, Failure, Peer, Server};

/// Reads what is queued on the non-blocking socket `fd` (see
/// [`Inbox::receive`]) into `server`. Returns how many datagrams it
/// handled; the first error (a failed receive, or an answer that could not
/// be sent) after everything was handled.
pub fn serve<P: Peer>(
    server: &mut Server<P>,
    inbox: &mut Inbox,
    fd: RawFd,
    ev: &mut dyn Events<P>,
) -> Result<usize, Failure> {
    let mut out = Deferred::new(FdTransport::from_socket(fd));
    let mut first: Option<Failure> = None;
    let n = {
        let (out, first) = (std::cell::RefCell::new(&mut out), std::cell::RefCell::new(&mut first));
        inbox.receive(
            fd,
            |dgram, from| {
                if let Err(e) = server.handle_datagram(&mut **out.borrow_mut(), from, dgram, ev) {
                    first.borrow_mut().get_or_insert(e);
                }
            },
            || {
                if let Err(e) = out.borrow_mut().flush() {
                    first.borrow_mut().get_or_insert((DtlsError::UnderlyingSocketError, e.to_string()));
                }
            },
        )
    };
    let n = n.map_err(|e| (DtlsError::UnderlyingSocketError, e.to_string()))?;
    first.map_or(Ok(n), Err)
}
