//! WebRTC and CoAP: the RFC 5705 exporter, DTLS-SRTP, the negotiated ALPN
//! protocol, session resumption and the retransmission policy.

use libc::c_char;

use super::dtls::qdtls_connection;
use super::handle::try_ref;
use super::{bytes, call, call_with, need, out, out_value, BadArg};
use crate::engine::psk::wipe;

/// DTLS-SRTP keying material (RFC 5764 4.2): the negotiated profile and both
/// sides' master keys and salts. `key_len`/`salt_len` bytes of each array
/// are used (16/14 for the AES-CM profiles, 16/12 and 32/12 for AES-GCM).
#[repr(C)]
pub struct qdtls_srtp_keys {
    /// The negotiated `QDTLS_SRTP_*` profile.
    pub profile: i32,
    /// Length of each master key.
    pub key_len: usize,
    /// Length of each master salt.
    pub salt_len: usize,
    /// The client's master key (protects what the client sends).
    pub client_key: [u8; 32],
    /// The server's master key.
    pub server_key: [u8; 32],
    /// The client's master salt.
    pub client_salt: [u8; 14],
    /// The server's master salt.
    pub server_salt: [u8; 14],
}

/// RFC 5705 keying material exporter: fills `out` (`out_len` bytes) from the
/// established session for the label and, unless `context` is NULL, the
/// context (a NULL context and an empty one give different output, as RFC
/// 5705 says). False on error: InvalidOperation (not encrypted),
/// InvalidInputParameters (NULL pointers, a label OpenSSL refuses).
///
/// # Safety
/// `h` is NULL or live; `label` is valid for `label_len` bytes; `context`
/// is NULL or valid for `context_len` bytes; `out` is valid for `out_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn qdtls_export_keying_material(
    h: *const qdtls_connection,
    label: *const c_char,
    label_len: usize,
    context: *const u8,
    context_len: usize,
    out_buf: *mut u8,
    out_len: usize,
) -> bool {
    // SAFETY: pointers as this function's contract says.
    let (s, label, ctx, dst) = unsafe {
        (
            try_ref(h),
            bytes(label, label_len),
            (!context.is_null()).then(|| bytes(context, context_len)),
            out(out_buf, out_len),
        )
    };
    let args = need(label, "NULL label with a non-zero length")
        .and_then(|l| std::str::from_utf8(l).map_err(|_| BadArg("The label is not UTF-8")))
        .and_then(|l| if out_buf.is_null() && out_len > 0 { Err(BadArg("NULL output buffer")) } else { Ok(l) });
    call_with(s, false, args, |s, label| {
        let context = ctx.flatten();
        let mut material = vec![0u8; out_len];
        let ok = s.export_keying_material(label, context, &mut material);
        if ok {
            dst.put_bytes(&material);
        }
        wipe(&mut material);
        ok
    })
}

/// The negotiated DTLS-SRTP profile (`QDTLS_SRTP_*`), 0 when none was
/// negotiated (or not encrypted, or NULL `h`).
///
/// # Safety
/// `h` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn qdtls_selected_srtp_profile(h: *const qdtls_connection) -> i32 {
    // SAFETY: `h` is NULL or live, as this function's contract says.
    let s = unsafe { try_ref(h) };
    call(s, 0, |s| s.info().srtp_profile.map_or(0, |p| p as i32))
}

/// DTLS-SRTP keying material into `*keys` (RFC 5764 4.2: the exporter with
/// label "EXTRACTOR-dtls_srtp", cut into client key, server key, client
/// salt, server salt). False when not encrypted, no profile was negotiated,
/// or a pointer is NULL.
///
/// # Safety
/// `h` is NULL or live; `keys` is NULL or valid for writing one `qdtls_srtp_keys`.
#[no_mangle]
pub unsafe extern "C" fn qdtls_srtp_keying_material(h: *const qdtls_connection, keys: *mut qdtls_srtp_keys) -> bool {
    // SAFETY: pointers as this function's contract says.
    let (s, dst) = unsafe { (try_ref(h), out_value(keys)) };
    call_with(s, false, need(dst, "NULL output"), |s, dst| {
        let Some(k) = s.srtp_keys() else { return false };
        let mut c = qdtls_srtp_keys {
            profile: k.profile as i32,
            key_len: k.client_key.len(),
            salt_len: k.client_salt.len(),
            client_key: [0; 32],
            server_key: [0; 32],
            client_salt: [0; 14],
            server_salt: [0; 14],
        };
        c.client_key[..k.client_key.len()].copy_from_slice(&k.client_key);
        c.server_key[..k.server_key.len()].copy_from_slice(&k.server_key);
        c.client_salt[..k.client_salt.len()].copy_from_slice(&k.client_salt);
        c.server_salt[..k.server_salt.len()].copy_from_slice(&k.server_salt);
        dst.write(c);
        true
    })
}

/// The ALPN protocol negotiated in the handshake (bytes; 0 when none).
///
/// # Safety
/// `h` is NULL or live; `buf` is valid for `cap` bytes.
#[no_mangle]
pub unsafe extern "C" fn qdtls_negotiated_application_protocol(
    h: *const qdtls_connection,
    buf: *mut u8,
    cap: usize,
) -> usize {
    // SAFETY: pointers as this function's contract says.
    let (s, buf) = unsafe { (try_ref(h), out(buf, cap)) };
    call(s, 0, |s| buf.put_bytes(s.info().alpn.as_deref().unwrap_or_default()))
}

/// Client side, with session resumption on in the configuration: the
/// session of the last handshake, to resume it in a later connection with
/// `qdtls_set_session_data` (bytes; 0 when there is none). The bytes are
/// secret (they hold the session's master secret): keep them like a key.
///
/// # Safety
/// `h` is NULL or live; `buf` is valid for `cap` bytes.
#[no_mangle]
pub unsafe extern "C" fn qdtls_session_data(h: *const qdtls_connection, buf: *mut u8, cap: usize) -> usize {
    // SAFETY: pointers as this function's contract says.
    let (s, buf) = unsafe { (try_ref(h), out(buf, cap)) };
    call(s, 0, |s| buf.put_bytes(s.info().session_data.as_deref().unwrap_or_default()))
}

/// Client side: offers the session from `qdtls_session_data` (of a
/// connection to the same server) for resumption in the next handshake; the
/// server may accept (`qdtls_session_resumed`) or do a full handshake. An
/// empty `data` clears it. False for data that is not a session
/// (InvalidInputParameters) or once a handshake started (InvalidOperation).
///
/// # Safety
/// `h` is NULL or live; `data` is valid for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn qdtls_set_session_data(h: *mut qdtls_connection, data: *const u8, len: usize) -> bool {
    // SAFETY: pointers as this function's contract says.
    let (s, data) = unsafe { (try_ref(h), bytes(data, len)) };
    call_with(s, false, need(data, "NULL session data with a non-zero length"), |s, d| s.set_session_data(d))
}

/// Whether the last handshake resumed an earlier session (abbreviated handshake).
///
/// # Safety
/// `h` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn qdtls_session_resumed(h: *const qdtls_connection) -> bool {
    // SAFETY: `h` is NULL or live, as this function's contract says.
    let s = unsafe { try_ref(h) };
    call(s, false, |s| s.info().resumed)
}

/// Sets the ceiling of the doubling retransmission timeout, 1..=600000 ms
/// (default 60000, RFC 6347's). InvalidOperation once a handshake started.
///
/// # Safety
/// `h` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn qdtls_set_max_timeout_ms(h: *mut qdtls_connection, ms: u32) -> bool {
    // SAFETY: `h` is NULL or live, as this function's contract says.
    let s = unsafe { try_ref(h) };
    call(s, false, |s| s.set_max_timeout_ms(ms))
}

/// Sets how many times one flight is retransmitted before the handshake
/// fails with TlsFatalError: 0..=12 (default 12, OpenSSL's own limit).
/// InvalidOperation once a handshake started.
///
/// # Safety
/// `h` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn qdtls_set_max_retransmissions(h: *mut qdtls_connection, n: u32) -> bool {
    // SAFETY: `h` is NULL or live, as this function's contract says.
    let s = unsafe { try_ref(h) };
    call(s, false, |s| s.set_max_retransmissions(n))
}

/// Sets a deadline for the whole handshake, in ms from its start (0, the
/// default: none). Past it, `qdtls_next_timeout_ms` reaches 0 and
/// `qdtls_handle_timeout` fails the handshake with TlsFatalError.
/// InvalidOperation once a handshake started.
///
/// # Safety
/// `h` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn qdtls_set_handshake_deadline_ms(h: *mut qdtls_connection, ms: u32) -> bool {
    // SAFETY: `h` is NULL or live, as this function's contract says.
    let s = unsafe { try_ref(h) };
    call(s, false, |s| s.set_handshake_deadline_ms(ms))
}
