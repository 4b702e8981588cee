//! `QDtlsConfiguration`: the DTLS part of a QSslConfiguration.
//!
//! A configuration is a value: `qdtls_set_dtls_configuration` copies it into
//! a QDtls. Configurations with equal content share one OpenSSL context,
//! however they were made, so a configuration per connection costs nothing.
//! A configuration may be read from several threads at once; modifying it
//! while another thread uses it is not allowed.

use std::sync::Arc;

use libc::c_char;

use super::handle::{self, try_mut, try_ref, Boxed, Exclusive, Handle};
use super::{bytes, c_bytes, call, guard, out, slice, text};
use crate::engine::config::{default_config, set_default_config, Config, Protocol};
use crate::engine::context::DEFAULT_CIPHERS;

/// An opaque DTLS configuration. Create with `qdtls_configuration_new`,
/// release with `qdtls_configuration_free`. Configurations with equal
/// content share one OpenSSL context (built when a handshake first needs it,
/// freed when no configuration uses it any more).
pub struct qdtls_configuration {
    _private: [u8; 0],
}

// A value with copy-on-write content: the handle owns its own `Arc`, which
// setters replace when the content is shared. Not for concurrent
// modification, so `Exclusive`.
impl Handle for qdtls_configuration {
    type Ownership = Boxed;
    type RustType = Arc<Config>;
}
impl Exclusive for qdtls_configuration {}

/// A new configuration: a copy of the current default DTLS configuration
/// (protocol DtlsV1_2OrLater, AutoVerifyPeer, depth 0, cookie verification
/// on, server cipher preference on, the system's CA certificates).
/// Returns NULL only if memory runs out. Free with `qdtls_configuration_free`.
#[no_mangle]
pub extern "C" fn qdtls_configuration_new() -> *mut qdtls_configuration {
    guard(std::ptr::null_mut(), || handle::into_raw(default_config()))
}

/// A copy of `cfg` (NULL for a NULL `cfg`). Free with `qdtls_configuration_free`.
///
/// # Safety
/// `cfg` is NULL or a live configuration.
#[no_mangle]
pub unsafe extern "C" fn qdtls_configuration_clone(cfg: *const qdtls_configuration) -> *mut qdtls_configuration {
    // SAFETY: `cfg` is NULL or live, as this function's contract says.
    let cfg = unsafe { try_ref(cfg) };
    call(cfg, std::ptr::null_mut(), |c| handle::into_raw::<qdtls_configuration>(c.clone()))
}

/// Releases a configuration. NULL is a no-op. Sessions that use it keep their copy.
///
/// # Safety
/// `cfg` is NULL or a live configuration, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn qdtls_configuration_free(cfg: *mut qdtls_configuration) {
    // SAFETY: `cfg` is NULL or live and given up, as this function's contract says.
    guard((), || unsafe { handle::free(cfg) })
}

/// Makes a copy of `cfg` the default for QDtls objects and configurations
/// created afterwards (QSslConfiguration::setDefaultDtlsConfiguration).
/// False for NULL.
///
/// # Safety
/// `cfg` is NULL or a live configuration.
#[no_mangle]
pub unsafe extern "C" fn qdtls_set_default_dtls_configuration(cfg: *const qdtls_configuration) -> bool {
    // SAFETY: `cfg` is NULL or live, as this function's contract says.
    let cfg = unsafe { try_ref(cfg) };
    call(cfg, false, |c| {
        set_default_config(c.clone());
        true
    })
}

/// Sets the protocol (a `QDTLS_PROTOCOL_*` value). Any value is stored, as in
/// Qt; a non-DTLS protocol makes the handshake fail with TlsInitializationError.
/// False for NULL.
///
/// # Safety
/// `cfg` is NULL or a live configuration.
#[no_mangle]
pub unsafe extern "C" fn qdtls_configuration_set_protocol(cfg: *mut qdtls_configuration, protocol: i32) -> bool {
    // SAFETY: `cfg` is NULL or live and not used elsewhere, as this function's contract says.
    let cfg = unsafe { try_mut(cfg) };
    call(cfg, false, |c| Config::update(c, |d| d.set_protocol(protocol)).is_ok())
}

/// The protocol; `QDTLS_PROTOCOL_UNKNOWN` for NULL.
///
/// # Safety
/// `cfg` is NULL or a live configuration.
#[no_mangle]
pub unsafe extern "C" fn qdtls_configuration_protocol(cfg: *const qdtls_configuration) -> i32 {
    // SAFETY: `cfg` is NULL or live, as this function's contract says.
    let cfg = unsafe { try_ref(cfg) };
    call(cfg, Protocol::Unknown as i32, |c| c.data.protocol)
}

/// Sets the peer verify mode (`QDTLS_VERIFY_*`). False for NULL or an unknown mode.
///
/// # Safety
/// `cfg` is NULL or a live configuration.
#[no_mangle]
pub unsafe extern "C" fn qdtls_configuration_set_peer_verify_mode(cfg: *mut qdtls_configuration, mode: i32) -> bool {
    // SAFETY: `cfg` is NULL or live and not used elsewhere, as this function's contract says.
    let cfg = unsafe { try_mut(cfg) };
    call(cfg, false, |c| Config::update(c, |d| d.set_peer_verify_mode(mode)).is_ok())
}

/// The peer verify mode; -1 for NULL.
///
/// # Safety
/// `cfg` is NULL or a live configuration.
#[no_mangle]
pub unsafe extern "C" fn qdtls_configuration_peer_verify_mode(cfg: *const qdtls_configuration) -> i32 {
    // SAFETY: `cfg` is NULL or live, as this function's contract says.
    let cfg = unsafe { try_ref(cfg) };
    call(cfg, -1, |c| c.data.verify_mode as i32)
}

/// Sets the maximum certificate chain depth checked (0 = unlimited).
/// False for NULL or a negative depth.
///
/// # Safety
/// `cfg` is NULL or a live configuration.
#[no_mangle]
pub unsafe extern "C" fn qdtls_configuration_set_peer_verify_depth(cfg: *mut qdtls_configuration, depth: i32) -> bool {
    // SAFETY: `cfg` is NULL or live and not used elsewhere, as this function's contract says.
    let cfg = unsafe { try_mut(cfg) };
    call(cfg, false, |c| Config::update(c, |d| d.set_peer_verify_depth(depth)).is_ok())
}

/// The peer verify depth; -1 for NULL.
///
/// # Safety
/// `cfg` is NULL or a live configuration.
#[no_mangle]
pub unsafe extern "C" fn qdtls_configuration_peer_verify_depth(cfg: *const qdtls_configuration) -> i32 {
    // SAFETY: `cfg` is NULL or live, as this function's contract says.
    let cfg = unsafe { try_ref(cfg) };
    call(cfg, -1, |c| c.data.verify_depth)
}

/// Sets the local certificate chain from PEM (leaf first, then
/// intermediates). `len == 0` clears it. Invalid PEM is refused (false) and
/// the old chain kept. The key must be set with
/// `qdtls_configuration_set_private_key`; a missing or mismatched key makes
/// the handshake fail with TlsInitializationError.
///
/// # Safety
/// `cfg` is NULL or a live configuration; `pem` is valid for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn qdtls_configuration_set_local_certificate_chain(
    cfg: *mut qdtls_configuration,
    pem: *const c_char,
    len: usize,
) -> bool {
    // SAFETY: pointers as this function's contract says.
    let (cfg, pem) = unsafe { (try_mut(cfg), bytes(pem, len)) };
    call(cfg.zip(pem), false, |(c, pem)| Config::update(c, |d| d.set_local_certificate_chain_pem(pem)).is_ok())
}

/// The local certificate chain as PEM text (see the buffer rules in the
/// header's introduction); 0 when there is none or for NULL.
///
/// # Safety
/// `cfg` is NULL or a live configuration; `buf` is valid for `cap` bytes.
#[no_mangle]
pub unsafe extern "C" fn qdtls_configuration_local_certificate_chain(
    cfg: *const qdtls_configuration,
    buf: *mut c_char,
    cap: usize,
) -> usize {
    // SAFETY: pointers as this function's contract says.
    let (cfg, buf) = unsafe { (try_ref(cfg), out(buf, cap)) };
    call(cfg, 0, |c| buf.put_str(&c.data.local_chain_pem()))
}

/// Sets the private key from PEM; `passphrase` (NUL-terminated, may be NULL)
/// decrypts an encrypted key. `len == 0` clears the key. Invalid PEM or a
/// wrong passphrase is refused (false) and the old key kept.
///
/// # Safety
/// `cfg` is NULL or a live configuration; `pem` is valid for `len` bytes;
/// `passphrase` is NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn qdtls_configuration_set_private_key(
    cfg: *mut qdtls_configuration,
    pem: *const c_char,
    len: usize,
    passphrase: *const c_char,
) -> bool {
    // SAFETY: pointers as this function's contract says.
    let (cfg, pem, pass) = unsafe { (try_mut(cfg), bytes(pem, len), c_bytes(passphrase)) };
    call(cfg.zip(pem), false, |(c, pem)| Config::update(c, |d| d.set_private_key_pem(pem, pass)).is_ok())
}

/// Whether a private key is set (the key itself is never handed back).
///
/// # Safety
/// `cfg` is NULL or a live configuration.
#[no_mangle]
pub unsafe extern "C" fn qdtls_configuration_has_private_key(cfg: *const qdtls_configuration) -> bool {
    // SAFETY: `cfg` is NULL or live, as this function's contract says.
    let cfg = unsafe { try_ref(cfg) };
    call(cfg, false, |c| c.data.private_key.is_some())
}

/// Adds the CA certificates of a PEM bundle. Once any CA is added, only the
/// added CAs are trusted; with none, the system's trust store is used (as in
/// Qt). Invalid PEM is refused (false) and nothing added.
///
/// # Safety
/// `cfg` is NULL or a live configuration; `pem` is valid for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn qdtls_configuration_add_ca_certificates(
    cfg: *mut qdtls_configuration,
    pem: *const c_char,
    len: usize,
) -> bool {
    // SAFETY: pointers as this function's contract says.
    let (cfg, pem) = unsafe { (try_mut(cfg), bytes(pem, len)) };
    call(cfg.zip(pem), false, |(c, pem)| Config::update(c, |d| d.add_ca_certificates_pem(pem)).is_ok())
}

/// Removes every added CA certificate (back to the system's trust store).
///
/// # Safety
/// `cfg` is NULL or a live configuration.
#[no_mangle]
pub unsafe extern "C" fn qdtls_configuration_clear_ca_certificates(cfg: *mut qdtls_configuration) -> bool {
    // SAFETY: `cfg` is NULL or live and not used elsewhere, as this function's contract says.
    let cfg = unsafe { try_mut(cfg) };
    call(cfg, false, |c| {
        Config::make_mut(c).ca_certificates.clear();
        true
    })
}

/// The number of added CA certificates; 0 for NULL.
///
/// # Safety
/// `cfg` is NULL or a live configuration.
#[no_mangle]
pub unsafe extern "C" fn qdtls_configuration_ca_certificate_count(cfg: *const qdtls_configuration) -> usize {
    // SAFETY: `cfg` is NULL or live, as this function's contract says.
    let cfg = unsafe { try_ref(cfg) };
    call(cfg, 0, |c| c.data.ca_certificates.len())
}

/// Sets the cipher list (colon-separated OpenSSL names, e.g.
/// "PSK-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-GCM-SHA256"); NULL restores the
/// default. A list OpenSSL cannot use is refused (false).
///
/// # Safety
/// `cfg` is NULL or a live configuration; `ciphers` is NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn qdtls_configuration_set_ciphers(
    cfg: *mut qdtls_configuration,
    ciphers: *const c_char,
) -> bool {
    // SAFETY: pointers as this function's contract says.
    let (cfg, list) = unsafe { (try_mut(cfg), text(ciphers)) };
    // NULL is "no list" (the default); a string that is not UTF-8 is refused.
    let list = if ciphers.is_null() { Some(None) } else { list.map(Some) };
    call(cfg.zip(list), false, |(c, list)| Config::update(c, |d| d.set_ciphers(list)).is_ok())
}

/// The cipher list (the default list when none was set).
///
/// # Safety
/// `cfg` is NULL or a live configuration; `buf` is valid for `cap` bytes.
#[no_mangle]
pub unsafe extern "C" fn qdtls_configuration_ciphers(
    cfg: *const qdtls_configuration,
    buf: *mut c_char,
    cap: usize,
) -> usize {
    // SAFETY: pointers as this function's contract says.
    let (cfg, buf) = unsafe { (try_ref(cfg), out(buf, cap)) };
    call(cfg, 0, |c| buf.put_str(c.data.ciphers.as_deref().unwrap_or(DEFAULT_CIPHERS)))
}

/// Enables or disables the server's cookie check (on by default). A server
/// that does not run a `QDtlsClientVerifier` must disable it.
///
/// # Safety
/// `cfg` is NULL or a live configuration.
#[no_mangle]
pub unsafe extern "C" fn qdtls_configuration_set_dtls_cookie_verification_enabled(
    cfg: *mut qdtls_configuration,
    enabled: bool,
) -> bool {
    // SAFETY: `cfg` is NULL or live and not used elsewhere, as this function's contract says.
    let cfg = unsafe { try_mut(cfg) };
    call(cfg, false, |c| {
        Config::make_mut(c).cookie_verification = enabled;
        true
    })
}

/// Whether the server's cookie check is enabled; false for NULL.
///
/// # Safety
/// `cfg` is NULL or a live configuration.
#[no_mangle]
pub unsafe extern "C" fn qdtls_configuration_dtls_cookie_verification_enabled(cfg: *const qdtls_configuration) -> bool {
    // SAFETY: `cfg` is NULL or live, as this function's contract says.
    let cfg = unsafe { try_ref(cfg) };
    call(cfg, false, |c| c.data.cookie_verification)
}

/// Sets the PSK identity hint a server sends (`len == 0` clears it). A hint
/// containing a NUL byte is refused (OpenSSL sends it as a C string).
///
/// # Safety
/// `cfg` is NULL or a live configuration; `hint` is valid for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn qdtls_configuration_set_pre_shared_key_identity_hint(
    cfg: *mut qdtls_configuration,
    hint: *const u8,
    len: usize,
) -> bool {
    // SAFETY: pointers as this function's contract says.
    let (cfg, hint) = unsafe { (try_mut(cfg), bytes(hint, len)) };
    call(cfg.zip(hint), false, |(c, hint)| Config::update(c, |d| d.set_psk_identity_hint(hint)).is_ok())
}

/// The PSK identity hint (bytes; see the buffer rules).
///
/// # Safety
/// `cfg` is NULL or a live configuration; `buf` is valid for `cap` bytes.
#[no_mangle]
pub unsafe extern "C" fn qdtls_configuration_pre_shared_key_identity_hint(
    cfg: *const qdtls_configuration,
    buf: *mut u8,
    cap: usize,
) -> usize {
    // SAFETY: pointers as this function's contract says.
    let (cfg, buf) = unsafe { (try_ref(cfg), out(buf, cap)) };
    call(cfg, 0, |c| buf.put_bytes(c.data.psk_identity_hint.as_deref().unwrap_or_default()))
}

/// Whether a server picks the cipher by its own order (default) rather than
/// the client's (Qt's QSsl::SslOptionDisableServerCipherPreference, inverted).
///
/// # Safety
/// `cfg` is NULL or a live configuration.
#[no_mangle]
pub unsafe extern "C" fn qdtls_configuration_set_server_cipher_preference(
    cfg: *mut qdtls_configuration,
    on: bool,
) -> bool {
    // SAFETY: `cfg` is NULL or live and not used elsewhere, as this function's contract says.
    let cfg = unsafe { try_mut(cfg) };
    call(cfg, false, |c| {
        Config::make_mut(c).server_cipher_preference = on;
        true
    })
}

/// Whether server cipher preference is on; false for NULL.
///
/// # Safety
/// `cfg` is NULL or a live configuration.
#[no_mangle]
pub unsafe extern "C" fn qdtls_configuration_server_cipher_preference(cfg: *const qdtls_configuration) -> bool {
    // SAFETY: `cfg` is NULL or live, as this function's contract says.
    let cfg = unsafe { try_ref(cfg) };
    call(cfg, false, |c| c.data.server_cipher_preference)
}

/// Sets the ALPN protocols offered (client) or accepted in this order of
/// preference (server): `count` NUL-terminated names of 1..255 bytes.
/// `count == 0` clears the list. False for NULL or an invalid name.
///
/// # Safety
/// `cfg` is NULL or a live configuration; `protocols` holds `count` valid strings.
#[no_mangle]
pub unsafe extern "C" fn qdtls_configuration_set_allowed_next_protocols(
    cfg: *mut qdtls_configuration,
    protocols: *const *const c_char,
    count: usize,
) -> bool {
    // SAFETY: pointers as this function's contract says.
    let (cfg, names) = unsafe { (try_mut(cfg), slice(protocols, count)) };
    // SAFETY: each entry is a NUL-terminated string (a NULL one is refused), as this function's contract says.
    let list: Option<Vec<Vec<u8>>> =
        names.and_then(|n| n.iter().map(|&p| unsafe { c_bytes(p) }.map(<[u8]>::to_vec)).collect());
    call(cfg.zip(list), false, |(c, list)| Config::update(c, |d| d.set_allowed_next_protocols(list)).is_ok())
}

/// The number of allowed ALPN protocols; 0 for NULL.
///
/// # Safety
/// `cfg` is NULL or a live configuration.
#[no_mangle]
pub unsafe extern "C" fn qdtls_configuration_allowed_next_protocol_count(cfg: *const qdtls_configuration) -> usize {
    // SAFETY: `cfg` is NULL or live, as this function's contract says.
    let cfg = unsafe { try_ref(cfg) };
    call(cfg, 0, |c| c.data.alpn.len())
}

/// ALPN protocol `index` as a string (0 when out of range).
///
/// # Safety
/// `cfg` is NULL or a live configuration; `buf` is valid for `cap` bytes.
#[no_mangle]
pub unsafe extern "C" fn qdtls_configuration_allowed_next_protocol_at(
    cfg: *const qdtls_configuration,
    index: usize,
    buf: *mut c_char,
    cap: usize,
) -> usize {
    // SAFETY: pointers as this function's contract says.
    let (cfg, buf) = unsafe { (try_ref(cfg), out(buf, cap)) };
    call(cfg, 0, |c| c.data.alpn.get(index).map_or(0, |p| buf.put_str(&String::from_utf8_lossy(p))))
}

/// Sets the DTLS-SRTP protection profiles (`QDTLS_SRTP_*`), preferred first
/// (RFC 5764): a client offers them, a server picks the first of its own
/// list that the client offers. An empty list (the default) turns DTLS-SRTP
/// off. False for NULL, an unknown or a repeated profile (nothing changes).
///
/// # Safety
/// `cfg` is NULL or a live configuration; `profiles` is valid for `count` values.
#[no_mangle]
pub unsafe extern "C" fn qdtls_configuration_set_srtp_profiles(
    cfg: *mut qdtls_configuration,
    profiles: *const i32,
    count: usize,
) -> bool {
    // SAFETY: pointers as this function's contract says; `cfg` is not used elsewhere.
    let (cfg, list) = unsafe { (try_mut(cfg), slice(profiles, count)) };
    call(cfg.zip(list), false, |(c, list)| Config::update(c, |d| d.set_srtp_profiles(list)).is_ok())
}

/// The DTLS-SRTP profiles into `out` (at most `cap`); returns how many there are.
///
/// # Safety
/// `cfg` is NULL or a live configuration; `out` is valid for `cap` values.
#[no_mangle]
pub unsafe extern "C" fn qdtls_configuration_srtp_profiles(
    cfg: *const qdtls_configuration,
    out: *mut i32,
    cap: usize,
) -> usize {
    // SAFETY: `cfg` is NULL or live, as this function's contract says.
    let cfg = unsafe { try_ref(cfg) };
    call(cfg, 0, |c| {
        let list = &c.data.srtp_profiles;
        if !out.is_null() {
            for (i, p) in list.iter().take(cap).enumerate() {
                // SAFETY: `out` is valid for `cap` values, as this function's contract says.
                unsafe { out.add(i).write(*p as i32) };
            }
        }
        list.len()
    })
}

/// Turns session resumption on or off (default off, as in Qt). On: a server
/// issues session tickets (keys rotate every 12 hours; a ticket stays valid
/// for one more period) and keeps a session cache; a client keeps its
/// session for `qdtls_session_data`. False for NULL.
///
/// # Safety
/// `cfg` is NULL or a live configuration.
#[no_mangle]
pub unsafe extern "C" fn qdtls_configuration_set_session_resumption(cfg: *mut qdtls_configuration, on: bool) -> bool {
    // SAFETY: `cfg` is NULL or live and not used elsewhere, as this function's contract says.
    let cfg = unsafe { try_mut(cfg) };
    call(cfg, false, |c| {
        Config::make_mut(c).session_resumption = on;
        true
    })
}

/// Whether session resumption is on; false for NULL.
///
/// # Safety
/// `cfg` is NULL or a live configuration.
#[no_mangle]
pub unsafe extern "C" fn qdtls_configuration_session_resumption(cfg: *const qdtls_configuration) -> bool {
    // SAFETY: `cfg` is NULL or live, as this function's contract says.
    let cfg = unsafe { try_ref(cfg) };
    call(cfg, false, |c| c.data.session_resumption)
}

/// Starts a new session ticket key now (they also rotate every 12 hours by
/// themselves): tickets are issued under the new key and accepted under the
/// new and the previous one; older tickets lead to full handshakes.
#[no_mangle]
pub extern "C" fn qdtls_rotate_session_ticket_keys() {
    guard((), crate::engine::resumption::rotate_ticket_keys)
}
