//! `QDtlsConfiguration`: the DTLS part of a QSslConfiguration.
//!
//! A configuration is a value: `qdtls_set_dtls_configuration` copies it into
//! a QDtls. Configurations with equal content share one OpenSSL context,
//! however they were made, so a configuration per connection costs nothing.
//! A configuration may be read from several threads at once; modifying it
//! while another thread uses it is not allowed.

use std::sync::Arc;

use libc::c_char;

use super::{bytes, guard, put_bytes, put_str, text};
use crate::engine::config::{default_config, set_default_config, Config, ConfigData, VerifyMode};
use crate::engine::context::DEFAULT_CIPHERS;

/// An opaque DTLS configuration. Create with `qdtls_configuration_new`,
/// release with `qdtls_configuration_free`. Configurations with equal
/// content share one OpenSSL context (built when a handshake first needs it,
/// freed when no configuration uses it any more).
pub struct QDtlsConfiguration {
    _private: [u8; 0],
}

pub(crate) fn into_handle(cfg: Arc<Config>) -> *mut QDtlsConfiguration {
    Box::into_raw(Box::new(cfg)).cast()
}

/// # Safety
/// `p` is NULL or a live handle from this module.
pub(crate) unsafe fn get<'a>(p: *const QDtlsConfiguration) -> Option<&'a Arc<Config>> {
    p.cast::<Arc<Config>>().as_ref()
}

unsafe fn get_mut<'a>(p: *mut QDtlsConfiguration) -> Option<&'a mut Arc<Config>> {
    p.cast::<Arc<Config>>().as_mut()
}

/// Runs a setter on a configuration; false for NULL or when `f` refuses.
unsafe fn update(p: *mut QDtlsConfiguration, f: impl FnOnce(&mut ConfigData) -> bool) -> bool {
    guard(false, || match get_mut(p) {
        Some(cfg) => {
            let mut data = cfg.data.clone();
            let ok = f(&mut data);
            if ok {
                *Config::make_mut(cfg) = data;
            }
            ok
        }
        None => false,
    })
}

unsafe fn read<R: Copy>(p: *const QDtlsConfiguration, err: R, f: impl FnOnce(&ConfigData) -> R) -> R {
    guard(err, || match get(p) {
        Some(cfg) => f(&cfg.data),
        None => err,
    })
}

/// A new configuration: a copy of the current default DTLS configuration
/// (protocol DtlsV1_2OrLater, AutoVerifyPeer, depth 0, cookie verification
/// on, server cipher preference on, the system's CA certificates).
/// Returns NULL only if memory runs out. Free with `qdtls_configuration_free`.
#[no_mangle]
pub extern "C" fn qdtls_configuration_new() -> *mut QDtlsConfiguration {
    guard(std::ptr::null_mut(), || into_handle(default_config()))
}

/// A copy of `cfg` (NULL for a NULL `cfg`). Free with `qdtls_configuration_free`.
///
/// # Safety
/// `cfg` is NULL or a live configuration.
#[no_mangle]
pub unsafe extern "C" fn qdtls_configuration_clone(cfg: *const QDtlsConfiguration) -> *mut QDtlsConfiguration {
    guard(std::ptr::null_mut(), || get(cfg).map_or(std::ptr::null_mut(), |c| into_handle(c.clone())))
}

/// Releases a configuration. NULL is a no-op. Sessions that use it keep their copy.
///
/// # Safety
/// `cfg` is NULL or a live configuration, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn qdtls_configuration_free(cfg: *mut QDtlsConfiguration) {
    guard((), || {
        if !cfg.is_null() {
            drop(Box::from_raw(cfg.cast::<Arc<Config>>()));
        }
    })
}

/// Makes a copy of `cfg` the default for QDtls objects and configurations
/// created afterwards (QSslConfiguration::setDefaultDtlsConfiguration).
/// False for NULL.
///
/// # Safety
/// `cfg` is NULL or a live configuration.
#[no_mangle]
pub unsafe extern "C" fn qdtls_set_default_dtls_configuration(cfg: *const QDtlsConfiguration) -> bool {
    guard(false, || match get(cfg) {
        Some(c) => {
            set_default_config(c.clone());
            true
        }
        None => false,
    })
}

/// Sets the protocol (a `QDTLS_PROTOCOL_*` value). Any value is stored, as in
/// Qt; a non-DTLS protocol makes the handshake fail with TlsInitializationError.
/// False for NULL.
///
/// # Safety
/// `cfg` is NULL or a live configuration.
#[no_mangle]
pub unsafe extern "C" fn qdtls_configuration_set_protocol(cfg: *mut QDtlsConfiguration, protocol: i32) -> bool {
    update(cfg, |d| {
        d.protocol = protocol;
        true
    })
}

/// The protocol; `QDTLS_PROTOCOL_UNKNOWN` for NULL.
///
/// # Safety
/// `cfg` is NULL or a live configuration.
#[no_mangle]
pub unsafe extern "C" fn qdtls_configuration_protocol(cfg: *const QDtlsConfiguration) -> i32 {
    read(cfg, -1, |d| d.protocol)
}

/// Sets the peer verify mode (`QDTLS_VERIFY_*`). False for NULL or an unknown mode.
///
/// # Safety
/// `cfg` is NULL or a live configuration.
#[no_mangle]
pub unsafe extern "C" fn qdtls_configuration_set_peer_verify_mode(cfg: *mut QDtlsConfiguration, mode: i32) -> bool {
    update(cfg, |d| match VerifyMode::from_i32(mode) {
        Some(m) => {
            d.verify_mode = m;
            true
        }
        None => false,
    })
}

/// The peer verify mode; -1 for NULL.
///
/// # Safety
/// `cfg` is NULL or a live configuration.
#[no_mangle]
pub unsafe extern "C" fn qdtls_configuration_peer_verify_mode(cfg: *const QDtlsConfiguration) -> i32 {
    read(cfg, -1, |d| d.verify_mode as i32)
}

/// Sets the maximum certificate chain depth checked (0 = unlimited).
/// False for NULL or a negative depth.
///
/// # Safety
/// `cfg` is NULL or a live configuration.
#[no_mangle]
pub unsafe extern "C" fn qdtls_configuration_set_peer_verify_depth(cfg: *mut QDtlsConfiguration, depth: i32) -> bool {
    update(cfg, |d| d.set_peer_verify_depth(depth).is_ok())
}

/// The peer verify depth; -1 for NULL.
///
/// # Safety
/// `cfg` is NULL or a live configuration.
#[no_mangle]
pub unsafe extern "C" fn qdtls_configuration_peer_verify_depth(cfg: *const QDtlsConfiguration) -> i32 {
    read(cfg, -1, |d| d.verify_depth)
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
    cfg: *mut QDtlsConfiguration,
    pem: *const c_char,
    len: usize,
) -> bool {
    let Some(pem) = bytes(pem.cast(), len) else { return false };
    update(cfg, |d| d.set_local_certificate_chain_pem(pem).is_ok())
}

/// The local certificate chain as PEM text (see the buffer rules in the
/// header's introduction); 0 when there is none or for NULL.
///
/// # Safety
/// `cfg` is NULL or a live configuration; `buf` is valid for `cap` bytes.
#[no_mangle]
pub unsafe extern "C" fn qdtls_configuration_local_certificate_chain(
    cfg: *const QDtlsConfiguration,
    buf: *mut c_char,
    cap: usize,
) -> usize {
    read(cfg, 0, |d| {
        let pem: Vec<u8> = d.local_chain.iter().filter_map(|c| c.to_pem().ok()).flatten().collect();
        put_str(&String::from_utf8_lossy(&pem), buf, cap)
    })
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
    cfg: *mut QDtlsConfiguration,
    pem: *const c_char,
    len: usize,
    passphrase: *const c_char,
) -> bool {
    let Some(pem) = bytes(pem.cast(), len) else { return false };
    let pass = (!passphrase.is_null()).then(|| std::ffi::CStr::from_ptr(passphrase).to_bytes());
    update(cfg, |d| d.set_private_key_pem(pem, pass).is_ok())
}

/// Whether a private key is set (the key itself is never handed back).
///
/// # Safety
/// `cfg` is NULL or a live configuration.
#[no_mangle]
pub unsafe extern "C" fn qdtls_configuration_has_private_key(cfg: *const QDtlsConfiguration) -> bool {
    read(cfg, false, |d| d.private_key.is_some())
}

/// Adds the CA certificates of a PEM bundle. Once any CA is added, only the
/// added CAs are trusted; with none, the system's trust store is used (as in
/// Qt). Invalid PEM is refused (false) and nothing added.
///
/// # Safety
/// `cfg` is NULL or a live configuration; `pem` is valid for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn qdtls_configuration_add_ca_certificates(
    cfg: *mut QDtlsConfiguration,
    pem: *const c_char,
    len: usize,
) -> bool {
    let Some(pem) = bytes(pem.cast(), len) else { return false };
    update(cfg, |d| d.add_ca_certificates_pem(pem).is_ok())
}

/// Removes every added CA certificate (back to the system's trust store).
///
/// # Safety
/// `cfg` is NULL or a live configuration.
#[no_mangle]
pub unsafe extern "C" fn qdtls_configuration_clear_ca_certificates(cfg: *mut QDtlsConfiguration) -> bool {
    update(cfg, |d| {
        d.ca_certificates.clear();
        true
    })
}

/// The number of added CA certificates; 0 for NULL.
///
/// # Safety
/// `cfg` is NULL or a live configuration.
#[no_mangle]
pub unsafe extern "C" fn qdtls_configuration_ca_certificate_count(cfg: *const QDtlsConfiguration) -> usize {
    read(cfg, 0, |d| d.ca_certificates.len())
}

/// Sets the cipher list (colon-separated OpenSSL names, e.g.
/// "PSK-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-GCM-SHA256"); NULL restores the
/// default. A list OpenSSL cannot use is refused (false).
///
/// # Safety
/// `cfg` is NULL or a live configuration; `ciphers` is NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn qdtls_configuration_set_ciphers(cfg: *mut QDtlsConfiguration, ciphers: *const c_char) -> bool {
    let list = text(ciphers).map(str::to_owned);
    if !ciphers.is_null() && list.is_none() {
        return false;
    }
    update(cfg, |d| d.set_ciphers(list.as_deref()).is_ok())
}

/// The cipher list (the default list when none was set).
///
/// # Safety
/// `cfg` is NULL or a live configuration; `buf` is valid for `cap` bytes.
#[no_mangle]
pub unsafe extern "C" fn qdtls_configuration_ciphers(
    cfg: *const QDtlsConfiguration,
    buf: *mut c_char,
    cap: usize,
) -> usize {
    read(cfg, 0, |d| put_str(d.ciphers.as_deref().unwrap_or(DEFAULT_CIPHERS), buf, cap))
}

/// Enables or disables the server's cookie check (on by default). A server
/// that does not run a `QDtlsClientVerifier` must disable it.
///
/// # Safety
/// `cfg` is NULL or a live configuration.
#[no_mangle]
pub unsafe extern "C" fn qdtls_configuration_set_dtls_cookie_verification_enabled(
    cfg: *mut QDtlsConfiguration,
    enabled: bool,
) -> bool {
    update(cfg, |d| {
        d.cookie_verification = enabled;
        true
    })
}

/// Whether the server's cookie check is enabled; false for NULL.
///
/// # Safety
/// `cfg` is NULL or a live configuration.
#[no_mangle]
pub unsafe extern "C" fn qdtls_configuration_dtls_cookie_verification_enabled(cfg: *const QDtlsConfiguration) -> bool {
    read(cfg, false, |d| d.cookie_verification)
}

/// Sets the PSK identity hint a server sends (`len == 0` clears it). A hint
/// containing a NUL byte is refused (OpenSSL sends it as a C string).
///
/// # Safety
/// `cfg` is NULL or a live configuration; `hint` is valid for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn qdtls_configuration_set_pre_shared_key_identity_hint(
    cfg: *mut QDtlsConfiguration,
    hint: *const u8,
    len: usize,
) -> bool {
    let Some(hint) = bytes(hint, len) else { return false };
    update(cfg, |d| d.set_psk_identity_hint(hint).is_ok())
}

/// The PSK identity hint (bytes; see the buffer rules).
///
/// # Safety
/// `cfg` is NULL or a live configuration; `buf` is valid for `cap` bytes.
#[no_mangle]
pub unsafe extern "C" fn qdtls_configuration_pre_shared_key_identity_hint(
    cfg: *const QDtlsConfiguration,
    buf: *mut u8,
    cap: usize,
) -> usize {
    read(cfg, 0, |d| put_bytes(d.psk_identity_hint.as_deref().unwrap_or_default(), buf, cap))
}

/// Whether a server picks the cipher by its own order (default) rather than
/// the client's (Qt's QSsl::SslOptionDisableServerCipherPreference, inverted).
///
/// # Safety
/// `cfg` is NULL or a live configuration.
#[no_mangle]
pub unsafe extern "C" fn qdtls_configuration_set_server_cipher_preference(
    cfg: *mut QDtlsConfiguration,
    on: bool,
) -> bool {
    update(cfg, |d| {
        d.server_cipher_preference = on;
        true
    })
}

/// Whether server cipher preference is on; false for NULL.
///
/// # Safety
/// `cfg` is NULL or a live configuration.
#[no_mangle]
pub unsafe extern "C" fn qdtls_configuration_server_cipher_preference(cfg: *const QDtlsConfiguration) -> bool {
    read(cfg, false, |d| d.server_cipher_preference)
}

/// Sets the ALPN protocols offered (client) or accepted in this order of
/// preference (server): `count` NUL-terminated names of 1..255 bytes.
/// `count == 0` clears the list. False for NULL or an invalid name.
///
/// # Safety
/// `cfg` is NULL or a live configuration; `protocols` holds `count` valid strings.
#[no_mangle]
pub unsafe extern "C" fn qdtls_configuration_set_allowed_next_protocols(
    cfg: *mut QDtlsConfiguration,
    protocols: *const *const c_char,
    count: usize,
) -> bool {
    if protocols.is_null() && count > 0 {
        return false;
    }
    let mut list = Vec::with_capacity(count);
    for i in 0..count {
        let p = *protocols.add(i);
        if p.is_null() {
            return false;
        }
        list.push(std::ffi::CStr::from_ptr(p).to_bytes().to_vec());
    }
    update(cfg, |d| d.set_allowed_next_protocols(list).is_ok())
}

/// The number of allowed ALPN protocols; 0 for NULL.
///
/// # Safety
/// `cfg` is NULL or a live configuration.
#[no_mangle]
pub unsafe extern "C" fn qdtls_configuration_allowed_next_protocol_count(cfg: *const QDtlsConfiguration) -> usize {
    read(cfg, 0, |d| d.alpn.len())
}

/// ALPN protocol `index` as a string (0 when out of range).
///
/// # Safety
/// `cfg` is NULL or a live configuration; `buf` is valid for `cap` bytes.
#[no_mangle]
pub unsafe extern "C" fn qdtls_configuration_allowed_next_protocol_at(
    cfg: *const QDtlsConfiguration,
    index: usize,
    buf: *mut c_char,
    cap: usize,
) -> usize {
    read(cfg, 0, |d| d.alpn.get(index).map_or(0, |p| put_str(&String::from_utf8_lossy(p), buf, cap)))
}
