#![allow(non_camel_case_types, clippy::upper_case_acronyms)]
//! The few OpenSSL 3 functions and constants that `openssl-sys` does not
//! declare. Everything here exists in libssl/libcrypto 3.0 as exported
//! symbols or as macros over `SSL_ctrl`, which we spell out.

use foreign_types::ForeignTypeRef;
use libc::{c_char, c_int, c_long, c_uint, c_void, size_t};
use openssl::ssl::SslRef;
use openssl_sys::SSL;

/// OpenSSL's opaque socket address type.
#[repr(C)]
pub struct BIO_ADDR {
    _opaque: [u8; 0],
}

pub const BIO_CTRL_RESET: c_int = 1;
pub const BIO_CTRL_PUSH: c_int = 6;
pub const BIO_CTRL_POP: c_int = 7;
pub const BIO_CTRL_PENDING: c_int = 10;
pub const BIO_CTRL_FLUSH: c_int = 11;
pub const BIO_CTRL_WPENDING: c_int = 13;
pub const BIO_CTRL_DGRAM_SET_CONNECTED: c_int = 32;
pub const BIO_CTRL_DGRAM_QUERY_MTU: c_int = 40;
pub const BIO_CTRL_DGRAM_GET_MTU: c_int = 41;
pub const BIO_CTRL_DGRAM_SET_MTU: c_int = 42;
pub const BIO_CTRL_DGRAM_MTU_EXCEEDED: c_int = 43;
pub const BIO_CTRL_DGRAM_SET_PEER: c_int = 44;
pub const BIO_CTRL_DGRAM_SET_NEXT_TIMEOUT: c_int = 45;
pub const BIO_CTRL_DGRAM_GET_PEER: c_int = 46;
pub const BIO_CTRL_DGRAM_GET_FALLBACK_MTU: c_int = 47;
pub const BIO_CTRL_DGRAM_GET_MTU_OVERHEAD: c_int = 49;
pub const BIO_CTRL_DGRAM_SET_PEEK_MODE: c_int = 71;

pub const DTLS_CTRL_GET_TIMEOUT: c_int = 73;
pub const DTLS_CTRL_HANDLE_TIMEOUT: c_int = 74;
pub const DTLS_CTRL_SET_LINK_MTU: c_int = 120;

/// Signature of `DTLS_timer_cb`: previous timeout in microseconds (0 at the
/// start of a flight) to the next one.
pub type DtlsTimerCb = unsafe extern "C" fn(ssl: *mut SSL, timer_us: c_uint) -> c_uint;

extern "C" {
    pub fn DTLSv1_listen(s: *mut SSL, client: *mut BIO_ADDR) -> c_int;
    pub fn BIO_ADDR_new() -> *mut BIO_ADDR;
    pub fn BIO_ADDR_free(a: *mut BIO_ADDR);
    pub fn DTLS_get_data_mtu(s: *const SSL) -> size_t;
    pub fn DTLS_set_timer_cb(s: *mut SSL, cb: Option<DtlsTimerCb>);
    pub fn SSL_use_psk_identity_hint(s: *mut SSL, hint: *const c_char) -> c_int;
    pub fn SSL_CTX_ctrl(ctx: *mut openssl_sys::SSL_CTX, cmd: c_int, larg: c_long, parg: *mut c_void) -> c_long;
    pub fn SSL_has_pending(s: *const SSL) -> c_int;
    pub fn SSL_is_init_finished(s: *const SSL) -> c_int;
    pub fn SSL_version(s: *const SSL) -> c_int;
    pub fn SSL_free_buffers(s: *mut SSL) -> c_int;
    pub fn SSL_alloc_buffers(s: *mut SSL) -> c_int;
    pub fn SSL_ctrl(s: *mut SSL, cmd: c_int, larg: c_long, parg: *mut c_void) -> c_long;
    pub fn SSL_CTX_set1_cert_store(ctx: *mut openssl_sys::SSL_CTX, store: *mut openssl_sys::X509_STORE);
    pub fn SSL_CTX_get_ciphers(ctx: *const openssl_sys::SSL_CTX) -> *mut openssl_sys::stack_st_SSL_CIPHER;
    pub fn SSL_CIPHER_get_auth_nid(c: *const openssl_sys::SSL_CIPHER) -> c_int;
    pub fn SSL_CTX_set_timeout(ctx: *mut openssl_sys::SSL_CTX, t: c_long) -> c_long;
    pub fn SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx: *mut openssl_sys::SSL_CTX, cb: Option<TicketKeyCb>) -> c_int;
    pub fn OSSL_PARAM_construct_utf8_string(
        key: *const c_char,
        buf: *mut c_char,
        bsize: size_t,
    ) -> openssl_sys::OSSL_PARAM;
}

/// Signature of the session ticket key callback (OpenSSL 3's EVP_MAC form).
pub type TicketKeyCb = unsafe extern "C" fn(
    ssl: *mut SSL,
    key_name: *mut u8,
    iv: *mut u8,
    cipher: *mut openssl_sys::EVP_CIPHER_CTX,
    mac: *mut openssl_sys::EVP_MAC_CTX,
    enc: c_int,
) -> c_int;

/// `DTLSv1_listen` on the datagram in the SSL's BIO: > 0 when it is a
/// ClientHello with a valid cookie (it then stays in the BIO for SSL_accept).
pub fn dtls_listen(ssl: &SslRef) -> c_int {
    // SAFETY: BIO_ADDR_new/free pair around a call on a live SSL.
    unsafe {
        let addr = BIO_ADDR_new();
        let r = DTLSv1_listen(ssl.as_ptr(), addr);
        BIO_ADDR_free(addr);
        r
    }
}

/// Now on the clock OpenSSL's DTLS timers read (`gettimeofday`), in µs, so
/// that our own deadlines move with OpenSSL's timers (and with a test's
/// virtual clock).
pub fn now_us() -> u64 {
    let mut tv = libc::timeval { tv_sec: 0, tv_usec: 0 };
    // SAFETY: tv is a valid timeval; no timezone is asked for.
    unsafe { libc::gettimeofday(&mut tv, std::ptr::null_mut()) };
    (tv.tv_sec.max(0) as u64) * 1_000_000 + tv.tv_usec.max(0) as u64
}

/// `DTLSv1_get_timeout`: time left on the retransmission timer, if one runs.
pub fn dtls_get_timeout(ssl: &SslRef) -> Option<std::time::Duration> {
    let mut tv = libc::timeval { tv_sec: 0, tv_usec: 0 };
    // SAFETY: ssl is a live SSL owned by the caller; tv outlives the call.
    let running =
        unsafe { SSL_ctrl(ssl.as_ptr(), DTLS_CTRL_GET_TIMEOUT, 0, &mut tv as *mut libc::timeval as *mut c_void) };
    (running > 0).then(|| {
        std::time::Duration::from_secs(tv.tv_sec.max(0) as u64)
            + std::time::Duration::from_micros(tv.tv_usec.max(0) as u64)
    })
}

/// `DTLSv1_handle_timeout`: 1 retransmitted, 0 nothing due, -1 gave up.
pub fn dtls_handle_timeout(ssl: &SslRef) -> c_long {
    // SAFETY: ssl is a live SSL owned by the caller.
    unsafe { SSL_ctrl(ssl.as_ptr(), DTLS_CTRL_HANDLE_TIMEOUT, 0, std::ptr::null_mut()) }
}

/// `DTLS_set_link_mtu`: false when OpenSSL refuses the value (below its minimum).
pub fn dtls_set_link_mtu(ssl: &SslRef, mtu: u32) -> bool {
    // SAFETY: ssl is a live SSL owned by the caller.
    unsafe { SSL_ctrl(ssl.as_ptr(), DTLS_CTRL_SET_LINK_MTU, mtu as c_long, std::ptr::null_mut()) > 0 }
}

extern "C" {
    /// One-shot HMAC (libcrypto; not deprecated in 3.0, unlike HMAC_CTX).
    pub fn HMAC(
        md: *const openssl_sys::EVP_MD,
        key: *const c_void,
        key_len: c_int,
        data: *const u8,
        data_len: size_t,
        out: *mut u8,
        out_len: *mut c_uint,
    ) -> *mut u8;
}
