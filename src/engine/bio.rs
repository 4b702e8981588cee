//! The datagram BIO: the only place where bytes enter and leave OpenSSL.
//!
//! One incoming datagram is offered per call (`offer`); every BIO write is one
//! outgoing datagram, queued until the session drains it. It also answers the
//! datagram controls the DTLS record layer and `DTLSv1_listen` ask for
//! (MTU overhead, fallback MTU, peek mode), which a memory BIO would not.

use std::mem::ManuallyDrop;
use std::ops::Deref;
use std::ptr::{self, NonNull};

use foreign_types::ForeignTypeRef;
use libc::{c_char, c_int, c_long, c_void};
use once_cell::sync::Lazy;
use openssl::ssl::{Ssl, SslRef};
use openssl_sys as sys;

use super::hooks::no_unwind;
use super::ossl::*;

/// Per-connection BIO state, owned by a [`Wired`] SSL.
#[derive(Default)]
pub struct DgramState {
    incoming: Vec<u8>,
    has_incoming: bool,
    peek: bool,
    /// Outgoing datagrams; buffers are reused between calls to avoid
    /// allocating per datagram.
    outgoing: Vec<Vec<u8>>,
    out_count: usize,
    /// IP + UDP header bytes for the peer's address family.
    overhead: usize,
}

impl DgramState {
    pub fn new(ipv6: bool) -> Box<Self> {
        Box::new(DgramState { overhead: if ipv6 { 48 } else { 28 }, ..Default::default() })
    }

    /// Makes `dgram` the one datagram the next read returns.
    pub fn offer(&mut self, dgram: &[u8]) {
        self.incoming.clear();
        self.incoming.extend_from_slice(dgram);
        self.has_incoming = true;
    }

    /// Like `offer`, without protected records shorter than `min_body`
    /// (see `record::copy_without_short_records`).
    pub fn offer_protected(&mut self, dgram: &[u8], min_body: usize, version: u16) {
        super::record::copy_without_short_records(dgram, min_body, version, &mut self.incoming);
        // Nothing left is nothing to read (an empty read would look like EOF).
        self.has_incoming = !self.incoming.is_empty();
    }

    /// Whether the offered datagram is still unread.
    pub fn has_incoming(&self) -> bool {
        self.has_incoming
    }

    /// Drops an incoming datagram OpenSSL did not read.
    pub fn discard_incoming(&mut self) {
        self.has_incoming = false;
    }

    /// The queued outgoing datagrams, oldest first.
    pub fn outgoing(&self) -> &[Vec<u8>] {
        &self.outgoing[..self.out_count]
    }

    pub fn clear_outgoing(&mut self) {
        self.out_count = 0;
    }

    /// Gives back the buffers kept for reuse (a handshake's flights leave
    /// several of 1,500 bytes): an idle session keeps none.
    pub fn release(&mut self) {
        if self.out_count > 0 || self.has_incoming {
            return; // not idle: something is still to be sent or read
        }
        self.incoming = Vec::new();
        self.outgoing = Vec::new();
    }

    fn push_out(&mut self, data: &[u8]) {
        if self.out_count == self.outgoing.len() {
            self.outgoing.push(Vec::with_capacity(1500));
        }
        let slot = &mut self.outgoing[self.out_count];
        slot.clear();
        slot.extend_from_slice(data);
        self.out_count += 1;
    }
}

struct Method(*mut sys::BIO_METHOD);
// SAFETY: the method table is created once, never mutated afterwards and
// OpenSSL only reads it.
unsafe impl Send for Method {}
unsafe impl Sync for Method {}

static METHOD: Lazy<Method> = Lazy::new(|| {
    // Source/sink type with a number of our own; nothing in OpenSSL keys on it.
    const BIO_TYPE_QDTLS: c_int = 0x0400 | 0x7e;
    // SAFETY: plain constructor calls on a fresh method table.
    unsafe {
        let m = sys::BIO_meth_new(BIO_TYPE_QDTLS, c"qdtls datagram".as_ptr());
        assert!(!m.is_null(), "BIO_meth_new failed");
        sys::BIO_meth_set_write__fixed_rust(m, Some(bwrite));
        sys::BIO_meth_set_read__fixed_rust(m, Some(bread));
        sys::BIO_meth_set_ctrl__fixed_rust(m, Some(bctrl));
        sys::BIO_meth_set_create__fixed_rust(m, Some(bcreate));
        sys::BIO_meth_set_destroy__fixed_rust(m, Some(bdestroy));
        Method(m)
    }
});

/// An SSL wired to its own datagram BIO. The BIO's state is shared between
/// this side and OpenSSL's BIO callbacks through one raw pointer (never a
/// `Box` or a long-lived `&mut`, whose uniqueness the other side's accesses
/// would violate): `bio()` lends it out only while `&mut self` is held, when
/// no OpenSSL call on this SSL can be running. Dropping frees the SSL (and
/// with it the BIO) before the state, whatever the field order.
pub struct Wired {
    ssl: ManuallyDrop<Ssl>,
    state: NonNull<DgramState>,
}

// SAFETY: the state is only reached through `&mut self` or by OpenSSL inside
// calls on the SSL, which `Ssl: Send` allows to move between threads as a whole.
unsafe impl Send for Wired {}

impl Wired {
    /// Gives `ssl` a new datagram BIO for a peer of the given family. The
    /// error text is for the caller's error string.
    pub fn new(ssl: Ssl, ipv6: bool) -> Result<Wired, String> {
        let state = NonNull::from(Box::leak(DgramState::new(ipv6)));
        // SAFETY: METHOD is a valid method table.
        let bio = unsafe { sys::BIO_new(METHOD.0) };
        if bio.is_null() {
            // SAFETY: the state came from Box::leak above and nothing else points to it.
            drop(unsafe { Box::from_raw(state.as_ptr()) });
            return Err(super::error::with_openssl_errors("BIO_new failed"));
        }
        // SAFETY: live BIO and SSL; SSL_set_bio takes the one reference of
        // `bio` for both directions. The state outlives the SSL (see Drop).
        unsafe {
            sys::BIO_set_data(bio, state.as_ptr().cast());
            sys::SSL_set_bio(ssl.as_ptr(), bio, bio);
        }
        Ok(Wired { ssl: ManuallyDrop::new(ssl), state })
    }

    /// The BIO's state: incoming datagram and outgoing queue.
    pub fn bio(&mut self) -> &mut DgramState {
        // SAFETY: valid until drop; `&mut self` excludes OpenSSL calls on this
        // SSL (they need `&self`), so this is the only reference for its lifetime.
        unsafe { self.state.as_mut() }
    }

    /// Mutable access to the SSL's settings (ex_data, verify callback).
    pub fn ssl_mut(&mut self) -> &mut SslRef {
        &mut self.ssl
    }
}

impl Deref for Wired {
    type Target = Ssl;
    fn deref(&self) -> &Ssl {
        &self.ssl
    }
}

impl Drop for Wired {
    fn drop(&mut self) {
        // SAFETY: the SSL goes first (freeing the BIO, whose destroy callback
        // forgets the pointer), then the state nothing points to any more.
        unsafe {
            ManuallyDrop::drop(&mut self.ssl);
            drop(Box::from_raw(self.state.as_ptr()));
        }
    }
}

/// The state behind a BIO of ours.
///
/// # Safety
/// `b` is a live BIO made by [`Wired::new`], called from inside an OpenSSL
/// call on its SSL (so no other reference to the state exists).
unsafe fn state<'a>(b: *mut sys::BIO) -> Option<&'a mut DgramState> {
    // SAFETY: per the contract, the data pointer is null or our live state.
    unsafe { (sys::BIO_get_data(b) as *mut DgramState).as_mut() }
}

unsafe extern "C" fn bcreate(b: *mut sys::BIO) -> c_int {
    // SAFETY: OpenSSL passes the BIO it is creating.
    unsafe { sys::BIO_set_init(b, 1) };
    1
}

unsafe extern "C" fn bdestroy(b: *mut sys::BIO) -> c_int {
    // The state belongs to the Wired SSL; just forget it.
    // SAFETY: OpenSSL passes the BIO it is freeing.
    unsafe { sys::BIO_set_data(b, ptr::null_mut()) };
    1
}

unsafe extern "C" fn bwrite(b: *mut sys::BIO, buf: *const c_char, len: c_int) -> c_int {
    // SAFETY: OpenSSL calls with one of our BIOs, inside a call on its SSL.
    let Some(st) = (unsafe {
        sys::BIO_clear_retry_flags(b);
        state(b)
    }) else {
        return -1;
    };
    if len < 0 || (len > 0 && buf.is_null()) {
        return -1;
    }
    // SAFETY: OpenSSL's buffer is valid for `len` bytes (checked non-null above).
    let data = if len == 0 { &[][..] } else { unsafe { std::slice::from_raw_parts(buf as *const u8, len as usize) } };
    no_unwind(-1, || {
        st.push_out(data);
        len
    })
}

unsafe extern "C" fn bread(b: *mut sys::BIO, buf: *mut c_char, len: c_int) -> c_int {
    // SAFETY: OpenSSL calls with one of our BIOs, inside a call on its SSL.
    let Some(st) = (unsafe {
        sys::BIO_clear_retry_flags(b);
        state(b)
    }) else {
        return -1;
    };
    if !st.has_incoming {
        // SAFETY: live BIO.
        unsafe { sys::BIO_set_retry_read(b) };
        return -1;
    }
    if len <= 0 || buf.is_null() {
        return 0;
    }
    // Datagram semantics: one read returns one datagram, truncated like recv().
    let n = st.incoming.len().min(len as usize);
    // SAFETY: OpenSSL's buffer has room for `len` >= n bytes; ours holds n.
    unsafe { ptr::copy_nonoverlapping(st.incoming.as_ptr(), buf as *mut u8, n) };
    if !st.peek {
        st.has_incoming = false;
    }
    n as c_int
}

unsafe extern "C" fn bctrl(b: *mut sys::BIO, cmd: c_int, larg: c_long, _parg: *mut c_void) -> c_long {
    // SAFETY: OpenSSL calls with one of our BIOs, inside a call on its SSL.
    let Some(st) = (unsafe { state(b) }) else { return 0 };
    no_unwind(0, || ctrl(st, cmd, larg))
}

fn ctrl(st: &mut DgramState, cmd: c_int, larg: c_long) -> c_long {
    match cmd {
        BIO_CTRL_FLUSH | BIO_CTRL_RESET | BIO_CTRL_PUSH | BIO_CTRL_POP => 1,
        BIO_CTRL_PENDING if st.has_incoming => st.incoming.len() as c_long,
        BIO_CTRL_PENDING => 0,
        BIO_CTRL_WPENDING => 0,
        BIO_CTRL_DGRAM_SET_PEEK_MODE => {
            st.peek = larg != 0;
            1
        }
        BIO_CTRL_DGRAM_GET_MTU_OVERHEAD => st.overhead as c_long,
        // Qt's fallback: the minimum IPv4 datagram every host must accept.
        BIO_CTRL_DGRAM_GET_FALLBACK_MTU => (576 - st.overhead) as c_long,
        // The session always sets the MTU itself (SSL_OP_NO_QUERY_MTU), so
        // there is nothing to query and no cached value to report.
        BIO_CTRL_DGRAM_QUERY_MTU | BIO_CTRL_DGRAM_GET_MTU | BIO_CTRL_DGRAM_MTU_EXCEEDED => 0,
        BIO_CTRL_DGRAM_SET_MTU => larg,
        // Addresses live with the session, not here: DTLSv1_listen copes with
        // an unknown peer, and the fd layer knows where to send.
        BIO_CTRL_DGRAM_GET_PEER => 0,
        BIO_CTRL_DGRAM_SET_PEER | BIO_CTRL_DGRAM_SET_CONNECTED | BIO_CTRL_DGRAM_SET_NEXT_TIMEOUT => 1,
        _ => 0,
    }
}
