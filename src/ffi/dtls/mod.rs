//! `QDtls`: one DTLS association with one peer (Qt's QDtls).
//!
//! Thread safety: a handle may be used from any thread; concurrent calls on
//! one handle are serialized inside. The PSK callback runs on the thread that
//! called the function driving the handshake, and may call the getters of the
//! same handle; driving functions called from inside it fail with
//! InvalidOperation.

use std::sync::atomic::AtomicPtr;
use std::sync::Arc;

use libc::{c_char, c_int, c_void};
use parking_lot::Mutex;

use super::config::qdtls_configuration;
use super::handle::{self, lend, try_ref, Boxed, Handle};
use super::psk::qdtls_psk_authenticator;
use super::transport::{with_transport, SendCallback};
use super::{bytes, call, call_with, guard, need, out, out_value, parse_ip, text, ErrorSlot, UserCallback};
use crate::engine::config::Protocol;
use crate::engine::error::DtlsError;
use crate::engine::psk::PskAuthenticator;
use crate::engine::session::Session;
use crate::engine::{HandshakeState, SslMode};
use crate::net::from_sockaddr;

/// An opaque DTLS connection. Create with `qdtls_new`, release with `qdtls_free`.
pub struct qdtls_connection {
    _private: [u8; 0],
}

/// What a `qdtls_connection` handle holds: the session, and the send
/// callback for calls without an fd.
pub(crate) struct Connection {
    session: Session,
    pub(crate) send: Mutex<Option<SendCallback>>,
    /// The application's pointer (`qdtls_set_user_data`).
    pub(crate) user: AtomicPtr<c_void>,
    /// A server's peer: the server frees it, `qdtls_free` must not.
    pub(crate) server_owned: bool,
}

impl Connection {
    pub(crate) fn new(mode: SslMode) -> Connection {
        Connection {
            session: Session::new(mode),
            send: Mutex::new(None),
            user: AtomicPtr::default(),
            server_owned: false,
        }
    }

    /// The send callback, copied out: never held locked during a call, which
    /// may re-enter from a PSK callback.
    fn callback(&self) -> Option<SendCallback> {
        *self.send.lock()
    }
}

impl std::ops::Deref for Connection {
    type Target = Session;
    fn deref(&self) -> &Session {
        &self.session
    }
}

// Shared between threads (calls on one handle are serialized inside the
// session), so never `Exclusive`: only `&Connection` is ever made.
impl Handle for qdtls_connection {
    type Ownership = Boxed;
    type RustType = Connection;
}

impl ErrorSlot for Connection {
    fn report(&self, code: DtlsError, msg: &str) {
        self.set_error(code, msg);
    }
}

const NULL_DATAGRAM: &str = "NULL datagram with a non-zero length";

/// Called when a PSK cipher suite is negotiated (Qt's pskRequired signal):
/// fill in the authenticator. `user_data` is what was given to
/// `qdtls_set_psk_callback`. Runs on the thread driving the handshake.
pub type qdtls_psk_callback =
    Option<unsafe extern "C" fn(user_data: *mut c_void, authenticator: *mut qdtls_psk_authenticator)>;

/// A new QDtls in `mode` (`QDTLS_SSL_CLIENT_MODE` or `QDTLS_SSL_SERVER_MODE`)
/// with Qt's defaults and the current default configuration. NULL for any
/// other mode. Free with `qdtls_free`.
#[no_mangle]
pub extern "C" fn qdtls_new(mode: i32) -> *mut qdtls_connection {
    guard(std::ptr::null_mut(), || {
        SslMode::from_i32(mode).map_or(std::ptr::null_mut(), |mode| handle::into_raw(Connection::new(mode)))
    })
}

/// Releases a QDtls (no alert is sent: call `qdtls_shutdown` first). NULL is
/// a no-op, and so is a server's peer (the server owns it).
///
/// # Safety
/// `h` is NULL or a live handle not used afterwards (nor concurrently).
#[no_mangle]
pub unsafe extern "C" fn qdtls_free(h: *mut qdtls_connection) {
    // SAFETY: `h` is NULL or live, as this function's contract says.
    if unsafe { try_ref(h) }.is_some_and(|c| c.server_owned) {
        return;
    }
    // SAFETY: `h` is NULL or live and given up, as this function's contract says.
    guard((), || unsafe { handle::free(h) })
}

/// QDtls::setPeer. `address` is an IPv4 or IPv6 literal; `name` (may be NULL)
/// is the host name used for certificate verification. Checked in Qt's
/// order: handshake started -> InvalidOperation; NULL or unparsable address
/// -> InvalidInputParameters; broadcast or multicast -> InvalidInputParameters.
/// Port 0 is accepted.
///
/// # Safety
/// `h` is NULL or live; `address` and `name` are NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn qdtls_set_peer(
    h: *mut qdtls_connection,
    address: *const c_char,
    port: u16,
    name: *const c_char,
) -> bool {
    // SAFETY: pointers as this function's contract says.
    let (s, address, name) = unsafe { (try_ref(h), text(address), text(name)) };
    call(s, false, |s| s.set_peer(address.and_then(parse_ip), port, name.unwrap_or_default()))
}

/// QDtls::setPeer from a `struct sockaddr_in` / `sockaddr_in6` of `len`
/// bytes (as filled in by recvfrom). Anything else counts as a null address.
///
/// # Safety
/// `h` is NULL or live; `sockaddr` is NULL or valid for `len` bytes; `name` is NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn qdtls_set_peer_sockaddr(
    h: *mut qdtls_connection,
    sockaddr: *const c_void,
    len: usize,
    name: *const c_char,
) -> bool {
    // SAFETY: pointers as this function's contract says.
    let (s, addr, name) = unsafe { (try_ref(h), from_sockaddr(sockaddr.cast(), len), text(name)) };
    call(s, false, |s| s.set_peer(addr.map(|a| a.ip()), addr.map_or(0, |a| a.port()), name.unwrap_or_default()))
}

/// The peer address as text ("" when null).
///
/// # Safety
/// `h` is NULL or live; `buf` is valid for `cap` bytes.
#[no_mangle]
pub unsafe extern "C" fn qdtls_peer_address(h: *const qdtls_connection, buf: *mut c_char, cap: usize) -> usize {
    // SAFETY: pointers as this function's contract says.
    let (s, buf) = unsafe { (try_ref(h), out(buf, cap)) };
    call(s, 0, |s| buf.put_str(&s.info().peer.map(|a| a.to_string()).unwrap_or_default()))
}

/// The peer port (0 when not set or for NULL).
///
/// # Safety
/// `h` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn qdtls_peer_port(h: *const qdtls_connection) -> u16 {
    // SAFETY: `h` is NULL or live, as this function's contract says.
    let s = unsafe { try_ref(h) };
    call(s, 0, |s| s.info().port)
}

/// The verification name set by `qdtls_set_peer` or `qdtls_set_peer_verification_name`.
///
/// # Safety
/// `h` is NULL or live; `buf` is valid for `cap` bytes.
#[no_mangle]
pub unsafe extern "C" fn qdtls_peer_verification_name(
    h: *const qdtls_connection,
    buf: *mut c_char,
    cap: usize,
) -> usize {
    // SAFETY: pointers as this function's contract says.
    let (s, buf) = unsafe { (try_ref(h), out(buf, cap)) };
    call(s, 0, |s| buf.put_str(&s.info().verification_name))
}

/// QDtls::setPeerVerificationName: InvalidOperation once a handshake started.
/// NULL `name` clears it.
///
/// # Safety
/// `h` is NULL or live; `name` is NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn qdtls_set_peer_verification_name(h: *mut qdtls_connection, name: *const c_char) -> bool {
    // SAFETY: pointers as this function's contract says.
    let (s, name) = unsafe { (try_ref(h), text(name)) };
    call(s, false, |s| s.set_peer_verification_name(name.unwrap_or_default()))
}

/// `QDTLS_SSL_CLIENT_MODE` or `QDTLS_SSL_SERVER_MODE`; `QDTLS_UNENCRYPTED_MODE` for NULL.
///
/// # Safety
/// `h` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn qdtls_ssl_mode(h: *const qdtls_connection) -> i32 {
    // SAFETY: `h` is NULL or live, as this function's contract says.
    let s = unsafe { try_ref(h) };
    call(s, super::QDTLS_UNENCRYPTED_MODE, |s| s.info().mode as i32)
}

/// QDtls::setMtuHint: the link MTU (IP packet size) for handshake
/// fragmentation; 0 = not set (then the connected socket's path MTU, else
/// 576). Like in Qt, it takes effect when the next handshake starts. When the hint or the path MTU is known, application datagrams that
/// would exceed it are refused instead of being fragmented by IP.
///
/// # Safety
/// `h` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn qdtls_set_mtu_hint(h: *mut qdtls_connection, mtu: u16) {
    // SAFETY: `h` is NULL or live, as this function's contract says.
    let s = unsafe { try_ref(h) };
    call(s, (), |s| s.set_mtu_hint(mtu))
}

/// The MTU hint (0 = not set).
///
/// # Safety
/// `h` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn qdtls_mtu_hint(h: *const qdtls_connection) -> u16 {
    // SAFETY: `h` is NULL or live, as this function's contract says.
    let s = unsafe { try_ref(h) };
    call(s, 0, |s| s.info().mtu_hint)
}

/// QDtls::setCookieGeneratorParameters (a server must use the same
/// parameters as its verifier). Returns true on success (Qt returns false
/// even then). Empty secret or unknown hash: false, InvalidInputParameters.
///
/// # Safety
/// `h` is NULL or live; `secret` is valid for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn qdtls_set_cookie_generator_parameters(
    h: *mut qdtls_connection,
    hash: i32,
    secret: *const u8,
    len: usize,
) -> bool {
    // SAFETY: pointers as this function's contract says.
    let (s, secret) = unsafe { (try_ref(h), bytes(secret, len)) };
    call_with(s, false, need(secret, NULL_DATAGRAM), |s, secret| s.set_cookie_generator_parameters(hash, secret))
}

/// The cookie hash (into `*hash`, may be NULL) and secret (bytes; see the
/// buffer rules). Returns the secret's length.
///
/// # Safety
/// `h` is NULL or live; `hash` is NULL or writable; `secret` is valid for `cap` bytes.
#[no_mangle]
pub unsafe extern "C" fn qdtls_cookie_generator_parameters(
    h: *const qdtls_connection,
    hash: *mut i32,
    secret: *mut u8,
    cap: usize,
) -> usize {
    // SAFETY: pointers as this function's contract says.
    let (s, hash, secret) = unsafe { (try_ref(h), out_value(hash), out(secret, cap)) };
    call(s, 0, |s| {
        let info = s.info();
        if let Some(hash) = hash {
            hash.write(info.cookie.hash);
        }
        secret.put_bytes(&info.cookie.secret)
    })
}

/// QDtls::setDtlsConfiguration: copies `cfg`. InvalidOperation once a
/// handshake started; InvalidInputParameters for a NULL `cfg`.
///
/// # Safety
/// `h` and `cfg` are NULL or live.
#[no_mangle]
pub unsafe extern "C" fn qdtls_set_dtls_configuration(
    h: *mut qdtls_connection,
    cfg: *const qdtls_configuration,
) -> bool {
    // SAFETY: pointers as this function's contract says.
    let (s, cfg) = unsafe { (try_ref(h), try_ref(cfg)) };
    call_with(s, false, need(cfg, "NULL configuration"), |s, c| s.set_dtls_configuration(Arc::clone(c)))
}

/// A copy of the configuration in use; the caller frees it with
/// `qdtls_configuration_free`. NULL for a NULL handle. (The peer's
/// certificates are read with `qdtls_peer_certificate*`.)
///
/// # Safety
/// `h` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn qdtls_dtls_configuration(h: *const qdtls_connection) -> *mut qdtls_configuration {
    // SAFETY: `h` is NULL or live, as this function's contract says.
    let s = unsafe { try_ref(h) };
    call(s, std::ptr::null_mut(), |s| handle::into_raw::<qdtls_configuration>(s.info().config.clone()))
}

/// The `QDTLS_HANDSHAKE_*` state; `QDTLS_HANDSHAKE_NOT_STARTED` for NULL.
///
/// # Safety
/// `h` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn qdtls_handshake_state(h: *const qdtls_connection) -> i32 {
    // SAFETY: `h` is NULL or live, as this function's contract says.
    let s = unsafe { try_ref(h) };
    call(s, HandshakeState::NotStarted as i32, |s| s.info().state as i32)
}

/// QDtls::doHandshake: starts (client: `dgram` may be empty; server: the
/// ClientHello, which with cookie verification on must carry a cookie the
/// verifier issued; a first datagram that is not one complete ClientHello
/// OpenSSL accepts is refused with TlsFatalError, where OpenSSL would wait
/// with no timer) or
/// continues the handshake with one received datagram.
/// True means no error so far; see `qdtls_handshake_state`.
///
/// # Safety
/// `h` is NULL or live; `dgram` is valid for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn qdtls_do_handshake(h: *mut qdtls_connection, fd: c_int, dgram: *const u8, len: usize) -> bool {
    // SAFETY: pointers as this function's contract says.
    let (s, dgram) = unsafe { (try_ref(h), bytes(dgram, len)) };
    call_with(s, false, need(dgram, NULL_DATAGRAM), |s, d| with_transport(s.callback(), fd, |t| s.do_handshake(t, d)))
}

/// QDtls::handleTimeout: retransmits the last flight when the timer is due.
/// Returns true if it retransmitted, false otherwise (nothing due, no
/// handshake in progress, or an error; Qt always returns true and asserts
/// without a handshake). After OpenSSL's retry limit the handshake ends:
/// false, TlsFatalError, state NotStarted.
///
/// # Safety
/// `h` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn qdtls_handle_timeout(h: *mut qdtls_connection, fd: c_int) -> bool {
    // SAFETY: `h` is NULL or live, as this function's contract says.
    let s = unsafe { try_ref(h) };
    call(s, false, |s| with_transport(s.callback(), fd, |t| s.handle_timeout(t)))
}

/// Milliseconds until `qdtls_handle_timeout` is due (rounded up; 0 = now),
/// or -1 when no timer runs (no handshake in progress). The event-loop-free
/// form of Qt's handshakeTimeout signal; exact to the millisecond (Qt rounds
/// down to whole seconds). The timer starts at 1 s and doubles up to 60 s.
///
/// # Safety
/// `h` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn qdtls_next_timeout_ms(h: *const qdtls_connection) -> i64 {
    // SAFETY: `h` is NULL or live, as this function's contract says.
    let s = unsafe { try_ref(h) };
    call(s, -1, |s| match s.next_timeout() {
        Some(d) => d.as_micros().div_ceil(1000).min(i64::MAX as u128) as i64,
        None => -1,
    })
}

/// Sets the first retransmission timeout, 1..=60000 ms (default 1000, as in
/// Qt; an extension). InvalidOperation once a handshake started. OpenSSL
/// treats a timer with less than 15 ms left as expired, so below 15 ms the
/// first flight is retransmitted within the same call until the doubling
/// timer passes 15 ms: such values only make sense for tests.
///
/// # Safety
/// `h` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn qdtls_set_initial_timeout_ms(h: *mut qdtls_connection, ms: u32) -> bool {
    // SAFETY: `h` is NULL or live, as this function's contract says.
    let s = unsafe { try_ref(h) };
    call(s, false, |s| s.set_initial_timeout_ms(ms))
}

/// QDtls::resumeHandshake after PeerVerificationError: true and
/// HandshakeComplete if every error is ignored, else false with NoError.
///
/// # Safety
/// `h` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn qdtls_resume_handshake(h: *mut qdtls_connection, fd: c_int) -> bool {
    // SAFETY: `h` is NULL or live, as this function's contract says.
    let s = unsafe { try_ref(h) };
    call(s, false, |s| with_transport(s.callback(), fd, |t| s.resume_handshake(t)))
}

/// QDtls::abortHandshake: from InProgress or PeerVerificationFailed back to
/// NotStarted. After a verification failure the peer is sent an alert so it
/// drops the association (Qt sends none). OpenSSL has completed its
/// handshake by then and can only send close_notify, which the peer sees as
/// RemoteClosedConnectionError.
///
/// # Safety
/// `h` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn qdtls_abort_handshake(h: *mut qdtls_connection, fd: c_int) -> bool {
    // SAFETY: `h` is NULL or live, as this function's contract says.
    let s = unsafe { try_ref(h) };
    call(s, false, |s| with_transport(s.callback(), fd, |t| s.abort_handshake(t)))
}

/// QDtls::shutdown: sends close_notify, then NotStarted (peer and
/// configuration kept, so the handle can handshake again).
///
/// # Safety
/// `h` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn qdtls_shutdown(h: *mut qdtls_connection, fd: c_int) -> bool {
    // SAFETY: `h` is NULL or live, as this function's contract says.
    let s = unsafe { try_ref(h) };
    call(s, false, |s| with_transport(s.callback(), fd, |t| s.shutdown(t)))
}

/// True once the handshake completed (and until shutdown or close).
///
/// # Safety
/// `h` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn qdtls_is_connection_encrypted(h: *const qdtls_connection) -> bool {
    // SAFETY: `h` is NULL or live, as this function's contract says.
    let s = unsafe { try_ref(h) };
    call(s, false, |s| s.is_encrypted())
}

/// The negotiated cipher's OpenSSL name ("" until HandshakeComplete).
///
/// # Safety
/// `h` is NULL or live; `buf` is valid for `cap` bytes.
#[no_mangle]
pub unsafe extern "C" fn qdtls_session_cipher(h: *const qdtls_connection, buf: *mut c_char, cap: usize) -> usize {
    // SAFETY: pointers as this function's contract says.
    let (s, buf) = unsafe { (try_ref(h), out(buf, cap)) };
    call(s, 0, |s| buf.put_str(s.info().cipher.unwrap_or_default()))
}

/// `QDTLS_PROTOCOL_DTLS_V1_2` (or `_V1_0`) once complete, else `QDTLS_PROTOCOL_UNKNOWN`.
///
/// # Safety
/// `h` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn qdtls_session_protocol(h: *const qdtls_connection) -> i32 {
    // SAFETY: `h` is NULL or live, as this function's contract says.
    let s = unsafe { try_ref(h) };
    call(s, Protocol::Unknown as i32, |s| s.info().protocol)
}

/// The last error (`QDTLS_ERROR_*`); every successful call resets it to
/// NoError. `QDTLS_ERROR_INVALID_INPUT_PARAMETERS` for a NULL handle.
///
/// # Safety
/// `h` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn qdtls_dtls_error(h: *const qdtls_connection) -> i32 {
    // SAFETY: `h` is NULL or live, as this function's contract says.
    let s = unsafe { try_ref(h) };
    call(s, DtlsError::InvalidInputParameters as i32, |s| s.info().error.code as i32)
}

/// The last error's description ("" after success). Never contains key material.
///
/// # Safety
/// `h` is NULL or live; `buf` is valid for `cap` bytes.
#[no_mangle]
pub unsafe extern "C" fn qdtls_dtls_error_string(h: *const qdtls_connection, buf: *mut c_char, cap: usize) -> usize {
    // SAFETY: pointers as this function's contract says.
    let (s, buf) = unsafe { (try_ref(h), out(buf, cap)) };
    call(s, 0, |s| buf.put_str(&s.info().error.message))
}

/// Sets the PSK handler (Qt's pskRequired signal); NULL `cb` removes it.
/// Without a handler (or if it sets no key) a PSK handshake fails. The
/// callback runs on the thread that drives the handshake; `user_data` must
/// be usable there. The authenticator is valid only during the call.
///
/// # Safety
/// `h` is NULL or live; `cb` and `user_data` stay valid while the handle may call them.
#[no_mangle]
pub unsafe extern "C" fn qdtls_set_psk_callback(
    h: *mut qdtls_connection,
    cb: qdtls_psk_callback,
    user_data: *mut c_void,
) -> bool {
    // SAFETY: `h` is NULL or live, as this function's contract says.
    let s = unsafe { try_ref(h) };
    call(s, false, |s| {
        let handler = cb.map(|cb| {
            let u = UserCallback { f: cb, user: user_data };
            Arc::new(move |a: &mut PskAuthenticator| {
                let u = &u;
                // SAFETY: `cb` and `user_data` are valid, as promised by the caller of
                // qdtls_set_psk_callback; the authenticator is lent for this call only.
                unsafe { (u.f)(u.user, lend(a)) }
            }) as Arc<crate::engine::psk::PskCallback>
        });
        s.set_psk_callback(handler);
        true
    })
}

/// The largest plaintext that fits one datagram with the negotiated cipher
/// and the MTU in use (hint, path MTU or 576); 0 unless encrypted.
///
/// # Safety
/// `h` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn qdtls_max_payload_size(h: *const qdtls_connection) -> usize {
    // SAFETY: `h` is NULL or live, as this function's contract says.
    let s = unsafe { try_ref(h) };
    call(s, 0, |s| s.info().max_payload)
}

mod data;
mod verification;
pub use data::*;
pub use verification::*;
