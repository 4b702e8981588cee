//! Application data on a connection: encrypting datagrams out (one or a
//! batch), decrypting datagrams in (one, or a batch received with recvmmsg).

use libc::c_int;

use super::{qdtls_connection, NULL_DATAGRAM};
use crate::ffi::handle::try_ref;
use crate::ffi::transport::with_transport;
use crate::ffi::{bytes, call_with, need, slice, BadArg, ErrorSlot};
use crate::net::FdTransport;

/// One datagram for `qdtls_write_datagrams_encrypted`.
#[repr(C)]
pub struct qdtls_datagram {
    /// The plaintext (may be NULL when `len` is 0).
    pub data: *const u8,
    /// Its length.
    pub len: usize,
}

/// One buffer for `qdtls_receive_datagrams_decrypted`.
#[repr(C)]
pub struct qdtls_receive_buffer {
    /// Where the datagram is received and its plaintext written.
    pub data: *mut u8,
    /// Size of `data`; a datagram larger than this is refused (result -1).
    pub capacity: usize,
    /// Set by the call: the plaintext length (0 for a replayed or non-data
    /// datagram), or -1 (see qdtls_dtls_error for the last one).
    pub result: i64,
}

impl qdtls_receive_buffer {
    /// The caller's buffer (empty for NULL `data`).
    ///
    /// # Safety
    /// A non-NULL `data` is valid for reading and writing `capacity` bytes
    /// during `'a`, and nothing else (no other buffer, nor the entry array)
    /// overlaps them.
    unsafe fn data<'a>(&self) -> &'a mut [u8] {
        if self.data.is_null() {
            return &mut [];
        }
        // SAFETY: as this function's contract.
        unsafe { std::slice::from_raw_parts_mut(self.data, self.capacity) }
    }
}

/// Runs `f` on `n` default values, kept on the stack for batches of up to
/// 64: no allocation per call for usual batch sizes.
fn with_scratch<T: Default, R>(n: usize, f: impl FnOnce(&mut [T]) -> R) -> R {
    if n <= 64 {
        let mut small: [T; 64] = std::array::from_fn(|_| T::default());
        f(&mut small[..n])
    } else {
        let mut large: Vec<T> = std::iter::repeat_with(T::default).take(n).collect();
        f(&mut large)
    }
}

/// QDtls::writeDatagramEncrypted: encrypts `data` into one datagram and
/// sends it. Returns `len`, or -1: InvalidInputParameters (fd -1, NULL data,
/// or larger than a known MTU allows, see `qdtls_max_payload_size`),
/// InvalidOperation (not encrypted), TlsFatalError (over 16384 bytes; the
/// connection stays up, as in Qt), UnderlyingSocketError (send failed).
///
/// # Safety
/// `h` is NULL or live; `data` is valid for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn qdtls_write_datagram_encrypted(
    h: *mut qdtls_connection,
    fd: c_int,
    data: *const u8,
    len: usize,
) -> i64 {
    // SAFETY: pointers as this function's contract says.
    let (s, data) = unsafe { (try_ref(h), bytes(data, len)) };
    call_with(s, -1, need(data, NULL_DATAGRAM), |s, d| {
        with_transport(s.callback(), fd, |t| s.write_datagram_encrypted(t, d))
    })
}

/// Batch form of `qdtls_write_datagram_encrypted`: encrypts `count`
/// datagrams (one record each) and sends them with as few system calls as
/// possible (sendmmsg). Returns `count`, or -1 with the error of
/// `qdtls_write_datagram_encrypted`. Every size is checked first: a refused
/// batch sends nothing.
///
/// # Safety
/// `h` is NULL or live; `datagrams` holds `count` entries, each valid for its length.
#[no_mangle]
pub unsafe extern "C" fn qdtls_write_datagrams_encrypted(
    h: *mut qdtls_connection,
    fd: c_int,
    datagrams: *const qdtls_datagram,
    count: usize,
) -> i64 {
    // SAFETY: pointers as this function's contract says.
    let (s, entries) = unsafe { (try_ref(h), slice(datagrams, count)) };
    let entries = need(entries, "NULL datagram list with a non-zero count");
    call_with(s, -1, entries, |s, entries| {
        with_scratch(entries.len(), |slices: &mut [&[u8]]| {
            for (slot, e) in slices.iter_mut().zip(entries) {
                // SAFETY: each entry's data is valid for its length, as this function's contract says.
                match unsafe { bytes(e.data, e.len) } {
                    Some(d) => *slot = d,
                    None => return s.refuse(BadArg(NULL_DATAGRAM), -1),
                }
            }
            with_transport(s.callback(), fd, |t| s.write_datagrams_encrypted(t, slices))
        })
    })
}

/// Receives the datagrams already queued on a CONNECTED socket (never waits)
/// into `buffers`, with one recvmmsg per 64, and decrypts each in place
/// (see `qdtls_decrypt_datagram`; each buffer's `result` tells its outcome).
/// Returns how many datagrams arrived (0 when none were queued), or -1:
/// InvalidInputParameters (fd -1, NULL buffers), InvalidOperation (not
/// encrypted, or the socket is not connected: datagrams from other peers
/// must not reach this session), UnderlyingSocketError (recvmmsg failed).
///
/// # Safety
/// `h` is NULL or live; `buffers` holds `count` entries, each `data` valid for `capacity` bytes;
/// no two of these overlap, nor the entries.
#[no_mangle]
pub unsafe extern "C" fn qdtls_receive_datagrams_decrypted(
    h: *mut qdtls_connection,
    fd: c_int,
    buffers: *mut qdtls_receive_buffer,
    count: usize,
) -> i64 {
    // SAFETY: `h` is NULL or live, as this function's contract says.
    let s = unsafe { try_ref(h) };
    let bufs: Option<&mut [qdtls_receive_buffer]> = match (buffers.is_null(), count) {
        (_, 0) => Some(&mut []),
        (true, _) => None,
        // SAFETY: `buffers` holds `count` entries nothing else uses during
        // the call, as this function's contract says.
        (false, n) => Some(unsafe { std::slice::from_raw_parts_mut(buffers, n) }),
    };
    call_with(s, -1, need(bufs, "NULL buffer list with a non-zero count"), |s, bufs| {
        with_scratch(bufs.len(), |slots: &mut [&mut [u8]]| {
            for (slot, b) in slots.iter_mut().zip(bufs.iter()) {
                // SAFETY: each `data` is valid for `capacity` bytes and
                // overlaps nothing else, as this function's contract says.
                *slot = unsafe { b.data() };
            }
            with_scratch(bufs.len(), |results: &mut [i64]| {
                // fd -1 gives no transport, which the engine refuses before receiving.
                let mut rx = FdTransport::from_socket(fd);
                let n = with_transport(s.callback(), fd, |t| s.receive_datagrams_decrypted(t, &mut rx, slots, results));
                for (b, r) in bufs.iter_mut().zip(results.iter()).take(n.max(0) as usize) {
                    b.result = *r;
                }
                n
            })
        })
    })
}

/// QDtls::decryptDatagram: decrypts one received datagram into `out` and
/// returns the plaintext length: 0 for a replayed, duplicate, garbage or
/// non-data datagram (NoError). -1 on error: InvalidInputParameters (fd -1,
/// NULL pointers, `out_cap < len`: refused before anything is consumed;
/// `out_cap >= len` always suffices), InvalidOperation (not encrypted),
/// RemoteClosedConnectionError (close_notify; the handle is back to
/// NotStarted), TlsNonFatalError, TlsFatalError (OpenSSL cannot go on with
/// the connection; the handle is back to NotStarted). Protected records too
/// short for the cipher are dropped before OpenSSL sees them (OpenSSL 3.0
/// would otherwise fail the connection on one forged datagram). The fd is needed because reading may send
/// (retransmission of the last flight); if that send fails the plaintext is
/// still returned and the error is UnderlyingSocketError.
///
/// # Safety
/// `h` is NULL or live; `dgram` is valid for `len` bytes; `out` for `out_cap` bytes.
#[no_mangle]
pub unsafe extern "C" fn qdtls_decrypt_datagram(
    h: *mut qdtls_connection,
    fd: c_int,
    dgram: *const u8,
    len: usize,
    out: *mut u8,
    out_cap: usize,
) -> i64 {
    let out: Option<&mut [u8]> = match (out.is_null(), out_cap) {
        (true, 0) => Some(&mut []),
        (true, _) => None,
        // SAFETY: `out` is valid for `out_cap` bytes, as this function's contract says.
        (false, n) => Some(unsafe { std::slice::from_raw_parts_mut(out, n) }),
    };
    // SAFETY: pointers as this function's contract says.
    let (s, dgram) = unsafe { (try_ref(h), bytes(dgram, len)) };
    let args =
        need(dgram, NULL_DATAGRAM).and_then(|d| Ok((d, need(out, "NULL output buffer with a non-zero capacity")?)));
    call_with(s, -1, args, |s, (d, out)| with_transport(s.callback(), fd, |t| s.decrypt_datagram(t, d, out)))
}
