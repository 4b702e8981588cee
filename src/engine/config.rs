//! The DTLS configuration value (QSslConfiguration's DTLS part) and its defaults.

use std::sync::Arc;

use once_cell::sync::{Lazy, OnceCell};
use openssl::pkey::{PKey, Private};
use openssl::x509::X509;
use parking_lot::Mutex;

use super::context::Shared;

/// QSsl::SslProtocol values that name DTLS versions.
pub mod protocol {
    pub const UNKNOWN: i32 = -1;
    pub const DTLS_V1_0: i32 = 8;
    pub const DTLS_V1_0_OR_LATER: i32 = 9;
    pub const DTLS_V1_2: i32 = 10;
    pub const DTLS_V1_2_OR_LATER: i32 = 11;
}

/// QSslSocket::PeerVerifyMode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VerifyMode {
    VerifyNone = 0,
    QueryPeer = 1,
    VerifyPeer = 2,
    AutoVerifyPeer = 3,
}

impl VerifyMode {
    pub fn from_i32(v: i32) -> Option<Self> {
        [Self::VerifyNone, Self::QueryPeer, Self::VerifyPeer, Self::AutoVerifyPeer].into_iter().find(|m| *m as i32 == v)
    }
}

/// Everything a configuration holds. Plain data; cloning is cheap enough
/// (certificates and keys are reference counted by OpenSSL).
#[derive(Clone)]
pub struct ConfigData {
    pub protocol: i32,
    pub verify_mode: VerifyMode,
    pub verify_depth: i32,
    pub local_chain: Vec<X509>,
    pub private_key: Option<PKey<Private>>,
    pub ca_certificates: Vec<X509>,
    pub ciphers: Option<String>,
    pub cookie_verification: bool,
    pub psk_identity_hint: Option<Vec<u8>>,
    pub server_cipher_preference: bool,
    pub alpn: Vec<Vec<u8>>,
}

impl Default for ConfigData {
    fn default() -> Self {
        ConfigData {
            protocol: protocol::DTLS_V1_2_OR_LATER,
            verify_mode: VerifyMode::AutoVerifyPeer,
            verify_depth: 0,
            local_chain: Vec::new(),
            private_key: None,
            ca_certificates: Vec::new(),
            ciphers: None,
            cookie_verification: true,
            psk_identity_hint: None,
            server_cipher_preference: true,
            alpn: Vec::new(),
        }
    }
}

/// A configuration as sessions use it: immutable data plus, once a session
/// has needed it, its SSL_CTX (shared with every configuration of equal
/// content, see `context`).
#[derive(Clone, Default)]
pub struct Config {
    pub data: ConfigData,
    pub(crate) context: OnceCell<Result<Arc<Shared>, String>>,
}

impl Config {
    pub fn new(data: ConfigData) -> Arc<Config> {
        Arc::new(Config { data, context: OnceCell::new() })
    }

    /// Copy-on-write access for setters: sessions that share the old value
    /// keep it (and its context) untouched; the changed value looks its
    /// context up again when a session needs it.
    pub fn make_mut(this: &mut Arc<Config>) -> &mut ConfigData {
        let cfg = Arc::make_mut(this);
        cfg.context = OnceCell::new();
        &mut cfg.data
    }
}

static DEFAULT: Lazy<Mutex<Arc<Config>>> = Lazy::new(|| Mutex::new(Config::new(ConfigData::default())));

/// QSslConfiguration::defaultDtlsConfiguration().
pub fn default_config() -> Arc<Config> {
    DEFAULT.lock().clone()
}

/// QSslConfiguration::setDefaultDtlsConfiguration(): affects objects created later.
pub fn set_default_config(cfg: Arc<Config>) {
    *DEFAULT.lock() = cfg;
}

/// Parses a PEM bundle of one or more certificates; empty input is refused.
pub fn certs_from_pem(pem: &[u8]) -> Result<Vec<X509>, String> {
    let certs = X509::stack_from_pem(pem).map_err(|e| format!("invalid PEM certificate: {e}"))?;
    if certs.is_empty() {
        return Err("no certificate in PEM input".into());
    }
    Ok(certs)
}

/// Parses a PEM private key, decrypting it with `passphrase` when given.
pub fn key_from_pem(pem: &[u8], passphrase: Option<&[u8]>) -> Result<PKey<Private>, String> {
    // Always with a passphrase (empty by default): without one, OpenSSL
    // would prompt on the terminal for an encrypted key.
    let key = PKey::private_key_from_pem_passphrase(pem, passphrase.unwrap_or_default());
    key.map_err(|e| format!("invalid PEM private key (or wrong passphrase): {e}"))
}
