//! The DTLS part of `QSslConfiguration`, as a Rust value.

use std::sync::Arc;

use openssl::x509::X509;

use super::certificate::Certificate;
use super::error::{DtlsError, Error, Result};
use crate::engine::config::{default_config, set_default_config, Config, ConfigData};
pub use crate::engine::config::{Protocol, VerifyMode as PeerVerifyMode};

/// What a [`Dtls`](crate::Dtls) negotiates with: protocol, peer verification,
/// local certificate and key, trusted CAs, ciphers, cookies, PSK hint, ALPN.
///
/// A value: clones are independent, and cheap until one is changed.
/// Configurations with equal content share one OpenSSL context however they
/// were made, so a configuration per connection costs nothing.
///
/// ```
/// use qdtls::{Configuration, PeerVerifyMode};
///
/// let mut psk = Configuration::new();
/// psk.set_peer_verify_mode(PeerVerifyMode::VerifyNone);
/// psk.set_ciphers(Some("PSK-AES128-GCM-SHA256")).unwrap();
/// assert!(psk.set_ciphers(Some("NO-SUCH-CIPHER")).is_err());
/// assert_eq!(psk.ciphers().as_deref(), Some("PSK-AES128-GCM-SHA256"));
/// ```
#[derive(Clone)]
pub struct Configuration {
    pub(crate) inner: Arc<Config>,
}

impl Default for Configuration {
    fn default() -> Self {
        Self::new()
    }
}

fn invalid(message: String) -> Error {
    Error::new(DtlsError::InvalidInputParameters, message)
}

impl Configuration {
    /// A copy of the default DTLS configuration (`QSslConfiguration::defaultDtlsConfiguration()`):
    /// DTLS 1.2 or later, `AutoVerifyPeer`, no depth limit, cookie
    /// verification on, server cipher preference on, the system's CAs.
    pub fn new() -> Configuration {
        Configuration { inner: default_config() }
    }

    /// Makes this configuration the default for objects and configurations
    /// created afterwards (`QSslConfiguration::setDefaultDtlsConfiguration`).
    pub fn set_default(&self) {
        set_default_config(self.inner.clone());
    }

    fn data(&self) -> &ConfigData {
        &self.inner.data
    }

    /// Applies a change that may be refused; a refused change changes nothing.
    fn update(&mut self, f: impl FnOnce(&mut ConfigData) -> std::result::Result<(), String>) -> Result<()> {
        Config::update(&mut self.inner, f).map_err(invalid)
    }

    /// The protocol versions allowed.
    pub fn protocol(&self) -> Protocol {
        Protocol::from_i32(self.data().protocol).unwrap_or(Protocol::Unknown)
    }

    /// Sets the protocol versions allowed. `Protocol::Unknown` is stored, as
    /// Qt stores any value, and makes handshakes fail with `TlsInitializationError`.
    pub fn set_protocol(&mut self, protocol: Protocol) {
        Config::make_mut(&mut self.inner).protocol = protocol as i32;
    }

    /// Whether and how the peer's certificate is requested and verified.
    pub fn peer_verify_mode(&self) -> PeerVerifyMode {
        self.data().verify_mode
    }

    /// Sets whether and how the peer's certificate is requested and verified.
    pub fn set_peer_verify_mode(&mut self, mode: PeerVerifyMode) {
        Config::make_mut(&mut self.inner).verify_mode = mode;
    }

    /// The maximum length of the peer's certificate chain; 0 means no limit.
    pub fn peer_verify_depth(&self) -> u32 {
        self.data().verify_depth.max(0) as u32
    }

    /// Sets the maximum length of the peer's certificate chain; 0 means no limit.
    pub fn set_peer_verify_depth(&mut self, depth: u32) -> Result<()> {
        let depth = i32::try_from(depth).map_err(|_| invalid(format!("Invalid peer verify depth {depth}")))?;
        self.update(|d| d.set_peer_verify_depth(depth))
    }

    /// The local certificate first, then the rest of its chain.
    pub fn local_certificate_chain(&self) -> Vec<Certificate> {
        self.data().local_chain.iter().cloned().map(Certificate).collect()
    }

    /// Sets the local certificate and its chain from PEM (leaf first); an
    /// empty input removes them. Invalid PEM is refused.
    pub fn set_local_certificate_chain_pem(&mut self, pem: &[u8]) -> Result<()> {
        self.update(|d| d.set_local_certificate_chain_pem(pem))
    }

    /// Whether a private key is set.
    pub fn has_private_key(&self) -> bool {
        self.data().private_key.is_some()
    }

    /// Sets the private key from PEM, decrypting it with `passphrase` when
    /// given (never prompting); an empty input removes it.
    pub fn set_private_key_pem(&mut self, pem: &[u8], passphrase: Option<&[u8]>) -> Result<()> {
        self.update(|d| d.set_private_key_pem(pem, passphrase))
    }

    /// The trusted CA certificates added; none means the system's trust store.
    pub fn ca_certificates(&self) -> Vec<Certificate> {
        self.data().ca_certificates.iter().cloned().map(Certificate).collect()
    }

    /// Adds the CA certificates of a PEM bundle: from then on only added CAs
    /// are trusted. Invalid PEM is refused and nothing is added.
    pub fn add_ca_certificates_pem(&mut self, pem: &[u8]) -> Result<()> {
        self.update(|d| d.add_ca_certificates_pem(pem))
    }

    /// Removes every added CA certificate: the system's trust store again.
    pub fn clear_ca_certificates(&mut self) {
        Config::make_mut(&mut self.inner).ca_certificates.clear();
    }

    /// The OpenSSL cipher list set, or None for the library's DTLS default.
    pub fn ciphers(&self) -> Option<String> {
        self.data().ciphers.clone()
    }

    /// Sets an OpenSSL cipher list (checked now), or None for the default.
    pub fn set_ciphers(&mut self, list: Option<&str>) -> Result<()> {
        self.update(|d| d.set_ciphers(list))
    }

    /// Whether a server answers a ClientHello without a valid cookie with a
    /// HelloVerifyRequest (RFC 6347 4.2.1).
    pub fn dtls_cookie_verification_enabled(&self) -> bool {
        self.data().cookie_verification
    }

    /// Turns the server's cookie exchange on or off.
    pub fn set_dtls_cookie_verification_enabled(&mut self, enabled: bool) {
        Config::make_mut(&mut self.inner).cookie_verification = enabled;
    }

    /// The PSK identity hint a server sends (empty: none).
    pub fn pre_shared_key_identity_hint(&self) -> Vec<u8> {
        self.data().psk_identity_hint.clone().unwrap_or_default()
    }

    /// Sets the PSK identity hint a server sends; it cannot contain NUL.
    pub fn set_pre_shared_key_identity_hint(&mut self, hint: &[u8]) -> Result<()> {
        self.update(|d| d.set_psk_identity_hint(hint))
    }

    /// Whether the server's cipher order wins over the client's.
    pub fn server_cipher_preference(&self) -> bool {
        self.data().server_cipher_preference
    }

    /// Sets whether the server's cipher order wins (Qt's
    /// `SslOptionDisableServerCipherPreference`, inverted).
    pub fn set_server_cipher_preference(&mut self, on: bool) {
        Config::make_mut(&mut self.inner).server_cipher_preference = on;
    }

    /// The ALPN protocols offered (client) or accepted (server), most preferred first.
    pub fn allowed_next_protocols(&self) -> Vec<Vec<u8>> {
        self.data().alpn.clone()
    }

    /// Sets the ALPN protocols; each name is 1 to 255 bytes.
    pub fn set_allowed_next_protocols<P: AsRef<[u8]>>(&mut self, protocols: &[P]) -> Result<()> {
        let list = protocols.iter().map(|p| p.as_ref().to_vec()).collect();
        self.update(|d| d.set_allowed_next_protocols(list))
    }
}

impl std::fmt::Debug for Configuration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let d = self.data();
        f.debug_struct("Configuration")
            .field("protocol", &self.protocol())
            .field("peer_verify_mode", &d.verify_mode)
            .field("peer_verify_depth", &d.verify_depth)
            .field("local_certificates", &d.local_chain.len())
            .field("private_key", &d.private_key.is_some())
            .field("ca_certificates", &d.ca_certificates.len())
            .field("ciphers", &d.ciphers)
            .field("cookie_verification", &d.cookie_verification)
            .finish_non_exhaustive()
    }
}

/// Certificates of a configuration are plain OpenSSL certificates.
impl From<X509> for Certificate {
    fn from(c: X509) -> Self {
        Certificate(c)
    }
}
