//! The DTLS configuration value (QSslConfiguration's DTLS part) and its defaults.

use std::collections::HashMap;
use std::sync::Arc;

use once_cell::sync::{Lazy, OnceCell};
use openssl::pkey::{PKey, Private};
use openssl::ssl::{SslContextBuilder, SslMethod};
use openssl::x509::X509;
use parking_lot::Mutex;

use super::context::Shared;
use super::error::describe;
use super::keying::SrtpProfile;

pub use super::values::{Protocol, VerifyMode};

/// The same values as plain integers (configurations store any value, as Qt does).
pub(crate) mod protocol {
    use super::Protocol as P;
    pub const UNKNOWN: i32 = P::Unknown as i32;
    pub const DTLS_V1_0: i32 = P::DtlsV1_0 as i32;
    pub const DTLS_V1_0_OR_LATER: i32 = P::DtlsV1_0OrLater as i32;
    pub const DTLS_V1_2: i32 = P::DtlsV1_2 as i32;
    pub const DTLS_V1_2_OR_LATER: i32 = P::DtlsV1_2OrLater as i32;
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
    /// DTLS-SRTP protection profiles offered (client) or accepted (server), preferred first.
    pub srtp_profiles: Vec<SrtpProfile>,
    /// Session resumption: a server issues tickets and keeps a session cache;
    /// a client keeps its session for `Session::session_data`. Off by default, as in Qt.
    pub session_resumption: bool,
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
            srtp_profiles: Vec::new(),
            session_resumption: false,
        }
    }
}

/// The setters' rules, shared by the C ABI and the Rust API: each refuses a
/// value (with the reason) and then leaves the configuration unchanged.
impl ConfigData {
    /// The QSsl::SslProtocol value; any value is stored, as in Qt (one that
    /// names no DTLS version fails the handshake with TlsInitializationError).
    pub fn set_protocol(&mut self, protocol: i32) -> Result<(), String> {
        self.protocol = protocol;
        Ok(())
    }

    /// A QSslSocket::PeerVerifyMode value; others are refused.
    pub fn set_peer_verify_mode(&mut self, mode: i32) -> Result<(), String> {
        self.verify_mode = VerifyMode::from_i32(mode).ok_or_else(|| format!("Invalid peer verify mode {mode}"))?;
        Ok(())
    }

    /// The local certificate chain as concatenated PEM, leaf first.
    pub fn local_chain_pem(&self) -> String {
        let pem: Vec<u8> = self.local_chain.iter().filter_map(|c| c.to_pem().ok()).flatten().collect();
        String::from_utf8_lossy(&pem).into_owned()
    }

    /// QSslConfiguration::setPeerVerifyDepth: 0 means no limit; negative is refused.
    pub fn set_peer_verify_depth(&mut self, depth: i32) -> Result<(), String> {
        if depth < 0 {
            return Err(format!("Invalid peer verify depth {depth}: must not be negative"));
        }
        self.verify_depth = depth;
        Ok(())
    }

    /// The local certificate, then its chain, from PEM; empty input clears it.
    pub fn set_local_certificate_chain_pem(&mut self, pem: &[u8]) -> Result<(), String> {
        self.local_chain = if pem.is_empty() { Vec::new() } else { certs_from_pem(pem)? };
        Ok(())
    }

    /// The private key from PEM (decrypted with `passphrase`); empty input clears it.
    pub fn set_private_key_pem(&mut self, pem: &[u8], passphrase: Option<&[u8]>) -> Result<(), String> {
        self.private_key = if pem.is_empty() { None } else { Some(key_from_pem(pem, passphrase)?) };
        Ok(())
    }

    /// Adds the CA certificates of a PEM bundle (then only these are trusted).
    pub fn add_ca_certificates_pem(&mut self, pem: &[u8]) -> Result<(), String> {
        self.ca_certificates.extend(certs_from_pem(pem)?);
        Ok(())
    }

    /// An OpenSSL cipher list, checked now (a list OpenSSL cannot use is
    /// refused); None means the library's DTLS default.
    pub fn set_ciphers(&mut self, list: Option<&str>) -> Result<(), String> {
        if let Some(l) = list {
            check_cipher_list(l)?;
        }
        self.ciphers = list.map(str::to_owned);
        Ok(())
    }

    /// The PSK identity hint a server sends; empty means none. OpenSSL takes
    /// it as a C string, so it cannot contain NUL.
    pub fn set_psk_identity_hint(&mut self, hint: &[u8]) -> Result<(), String> {
        if hint.contains(&0) {
            return Err("Invalid PSK identity hint: contains a NUL byte".into());
        }
        self.psk_identity_hint = (!hint.is_empty()).then(|| hint.to_vec());
        Ok(())
    }

    /// DTLS-SRTP protection profiles (`SrtpProfile` numbers), preferred
    /// first; empty turns DTLS-SRTP off. Unknown or repeated numbers are refused.
    pub fn set_srtp_profiles(&mut self, ids: &[i32]) -> Result<(), String> {
        let mut list = Vec::with_capacity(ids.len());
        for &id in ids {
            let p = SrtpProfile::from_i32(id).ok_or_else(|| format!("Unknown SRTP protection profile {id}"))?;
            if list.contains(&p) {
                return Err(format!("SRTP protection profile {id} listed twice"));
            }
            list.push(p);
        }
        self.srtp_profiles = list;
        Ok(())
    }

    /// ALPN protocol names, most preferred first: each 1 to 255 bytes.
    pub fn set_allowed_next_protocols(&mut self, names: Vec<Vec<u8>>) -> Result<(), String> {
        if let Some(bad) = names.iter().find(|n| n.is_empty() || n.len() > 255) {
            return Err(format!("Invalid ALPN protocol name of {} bytes: must be 1 to 255", bad.len()));
        }
        self.alpn = names;
        Ok(())
    }
}

/// Whether OpenSSL can use a cipher list, remembered per list: checking
/// needs a throwaway SSL_CTX (about 150 us), and programs that make a
/// configuration per connection set the same list every time.
fn check_cipher_list(list: &str) -> Result<(), String> {
    static CHECKED: Lazy<Mutex<HashMap<String, Result<(), String>>>> = Lazy::new(Default::default);
    const REMEMBERED: usize = 64;
    if let Some(known) = CHECKED.lock().get(list) {
        return known.clone();
    }
    // A failure to make the context says nothing about the list: not remembered.
    let mut b = SslContextBuilder::new(SslMethod::dtls()).map_err(describe("SSL_CTX_new failed"))?;
    let result = b.set_cipher_list(list).map_err(describe(&format!("Invalid cipher list \"{list}\"")));
    let mut checked = CHECKED.lock();
    if checked.len() >= REMEMBERED {
        checked.clear(); // many different lists: keep the memory bounded
    }
    checked.insert(list.to_owned(), result.clone());
    result
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

    /// Applies a setter that may refuse: a refused value leaves the
    /// configuration unchanged (sessions sharing the old value never see a change).
    pub fn update(this: &mut Arc<Config>, f: impl FnOnce(&mut ConfigData) -> Result<(), String>) -> Result<(), String> {
        let mut data = this.data.clone();
        f(&mut data)?;
        *Config::make_mut(this) = data;
        Ok(())
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
