//! The SSL_CTX of a configuration, shared by *content*: every configuration
//! with equal settings uses one context, however it was made (C copies, the
//! C++ shim, the Qt adapter's translation of a QSslConfiguration per
//! connection), and a context is freed when no configuration uses it any
//! more. Qt builds one per connection; building one costs more than a PSK
//! handshake, so programs that make a configuration per connection (most Qt
//! programs) would pay it every time.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Weak};

use once_cell::sync::Lazy;
use openssl::error::ErrorStack;
use openssl::sha::sha256;
use openssl::ssl::{AlpnError, SslContext, SslContextBuilder, SslMethod, SslMode, SslOptions, SslRef, SslVersion};
use openssl::x509::X509;
use parking_lot::Mutex;

use super::config::{protocol, Config, ConfigData, VerifyMode};
use super::error::describe;
use super::hooks::{hooks, no_unwind};
use super::keying::SrtpProfile;
use super::psk::PskAuthenticator;
use super::{cookie, ossl, resumption, trust};

/// OpenSSL's DTLS list without anonymous, null, export or weak suites;
/// PSK suites stay in (OpenSSL's DEFAULT includes them).
pub const DEFAULT_CIPHERS: &str = "DEFAULT:!aNULL:!eNULL:!LOW:!EXP:!MD5:!RC4:!3DES:!SRP";

/// Everything a context is built from. Certificates and keys by digest:
/// equal DER means equal certificate, and a public key identifies its
/// private key (a key that does not match the certificate is refused).
#[derive(Clone, PartialEq, Eq, Hash)]
struct Key {
    protocol: i32,
    verify_depth: i32,
    /// Whether certificates may be verified at all (the system store is
    /// attached only then).
    verifies: bool,
    ciphers: Option<String>,
    server_cipher_preference: bool,
    alpn: Vec<Vec<u8>>,
    srtp_profiles: Vec<SrtpProfile>,
    session_resumption: bool,
    local_chain: Vec<[u8; 32]>,
    public_key: Option<[u8; 32]>,
    ca_certificates: Vec<[u8; 32]>,
}

/// A context and the registry entry it owns.
pub struct Shared {
    ctx: SslContext,
    key: Option<Key>,
}

impl Drop for Shared {
    /// The last configuration using this context is gone: forget it, unless
    /// another thread has already put a new context under the same key.
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            let mut registry = REGISTRY.lock();
            if registry.get(&key).is_some_and(|w| w.strong_count() == 0) {
                registry.remove(&key);
            }
        }
    }
}

/// Live contexts by content. Entries are weak: configurations own contexts.
static REGISTRY: Lazy<Mutex<HashMap<Key, Weak<Shared>>>> = Lazy::new(Default::default);

/// The configuration's context; the error text explains why it cannot be built.
pub fn context(cfg: &Config) -> Result<SslContext, String> {
    match cfg.context.get_or_init(|| shared(&cfg.data)) {
        Ok(s) => Ok(s.ctx.clone()),
        Err(e) => Err(e.clone()),
    }
}

/// Number of contexts alive (for tests and diagnostics).
#[doc(hidden)]
pub fn live_contexts() -> usize {
    REGISTRY.lock().values().filter(|w| w.strong_count() > 0).count()
}

/// The context for `d`: an existing one with the same content, or a new one.
fn shared(d: &ConfigData) -> Result<Arc<Shared>, String> {
    let Some(key) = key(d) else {
        // Cannot be described (a certificate OpenSSL cannot encode): unshared.
        return Ok(Arc::new(Shared { ctx: build(d)?, key: None }));
    };
    // Held while building, so that threads asking for the same content at
    // once build it once. A failure is not cached here: the configuration
    // keeps its own error.
    let mut registry = REGISTRY.lock();
    if let Some(live) = registry.get(&key).and_then(Weak::upgrade) {
        return Ok(live);
    }
    let ctx = build(d)?;
    let s = Arc::new(Shared { ctx, key: Some(key.clone()) });
    registry.insert(key, Arc::downgrade(&s));
    Ok(s)
}

fn digest(cert: &X509) -> Option<[u8; 32]> {
    cert.to_der().ok().map(|der| sha256(&der))
}

fn key(d: &ConfigData) -> Option<Key> {
    let digests = |certs: &[X509]| certs.iter().map(digest).collect::<Option<Vec<_>>>();
    let public_key = match &d.private_key {
        Some(k) => Some(sha256(&k.public_key_to_der().ok()?)),
        None => None,
    };
    Some(Key {
        protocol: d.protocol,
        verify_depth: d.verify_depth,
        verifies: requests_certificate(d.verify_mode),
        ciphers: d.ciphers.clone(),
        server_cipher_preference: d.server_cipher_preference,
        alpn: d.alpn.clone(),
        srtp_profiles: d.srtp_profiles.clone(),
        session_resumption: d.session_resumption,
        local_chain: digests(&d.local_chain)?,
        public_key,
        ca_certificates: digests(&d.ca_certificates)?,
    })
}

fn versions(p: i32) -> Result<(SslVersion, Option<SslVersion>), String> {
    match p {
        protocol::DTLS_V1_0 => Ok((SslVersion::DTLS1, Some(SslVersion::DTLS1))),
        protocol::DTLS_V1_0_OR_LATER => Ok((SslVersion::DTLS1, None)),
        protocol::DTLS_V1_2 => Ok((SslVersion::DTLS1_2, Some(SslVersion::DTLS1_2))),
        protocol::DTLS_V1_2_OR_LATER => Ok((SslVersion::DTLS1_2, None)),
        other => Err(format!("Unsupported protocol {other}: not a DTLS protocol")),
    }
}

fn build(d: &ConfigData) -> Result<SslContext, String> {
    let (min, max) = versions(d.protocol)?;
    let mut b = SslContextBuilder::new(SslMethod::dtls()).map_err(describe("SSL_CTX_new failed"))?;
    b.set_min_proto_version(Some(min)).map_err(describe("Cannot set the protocol version"))?;
    b.set_max_proto_version(max).map_err(describe("Cannot set the protocol version"))?;
    if min == SslVersion::DTLS1 {
        // DTLS 1.0 needs SHA-1 signatures, which the default security level forbids.
        b.set_security_level(0);
    }
    let mut opts = SslOptions::NO_QUERY_MTU | SslOptions::NO_RENEGOTIATION;
    if d.server_cipher_preference {
        opts |= SslOptions::CIPHER_SERVER_PREFERENCE;
    }
    b.set_options(opts);
    b.set_cipher_list(d.ciphers.as_deref().unwrap_or(DEFAULT_CIPHERS)).map_err(describe("Invalid cipher list"))?;
    if d.verify_depth > 0 {
        b.set_verify_depth(d.verify_depth as u32);
    }
    set_trust(&mut b, d)?;
    set_identity(&mut b, d)?;
    build_chain_once(&mut b, d);
    b.set_psk_client_callback(psk_client);
    b.set_psk_server_callback(psk_server);
    cookie::install_callbacks(&mut b);
    if !d.alpn.is_empty() {
        set_alpn(&mut b, &d.alpn)?;
    }
    if !d.srtp_profiles.is_empty() {
        let names: Vec<&str> = d.srtp_profiles.iter().map(|p| p.openssl_name()).collect();
        b.set_tlsext_use_srtp(&names.join(":")).map_err(describe("Cannot use the SRTP profiles"))?;
    }
    resumption::configure(&mut b, d.session_resumption)?;
    Ok(b.build())
}

/// Explicit CAs, or (like Qt, when there are none) the system's trust store,
/// but only where a certificate may be verified or a lone leaf's chain
/// completed: PSK-only and VerifyNone configurations never touch it.
fn set_trust(b: &mut SslContextBuilder, d: &ConfigData) -> Result<(), String> {
    if !d.ca_certificates.is_empty() {
        for ca in &d.ca_certificates {
            b.cert_store_mut().add_cert(ca.clone()).map_err(describe("Cannot add a CA certificate"))?;
        }
        return Ok(());
    }
    let needs_store = requests_certificate(d.verify_mode) || d.local_chain.len() == 1;
    if needs_store && may_use_certificates(b) {
        trust::attach_system_store(b)?;
    }
    Ok(())
}

/// Whether any cipher suite of the context authenticates with a certificate.
fn may_use_certificates(b: &SslContextBuilder) -> bool {
    const CERTIFICATE_AUTH: [libc::c_int; 5] = [1046, 1047, 1049, 1050, 1051]; // NID_auth_rsa, _ecdsa, _dss, _gost01, _gost12
                                                                               // SAFETY: the context is live; the stack and its entries belong to it
                                                                               // and are only read here.
    unsafe {
        let list = ossl::SSL_CTX_get_ciphers(b.as_ptr());
        if list.is_null() {
            return true;
        }
        let n = openssl_sys::OPENSSL_sk_num(list.cast());
        (0..n).any(|i| {
            let cipher = openssl_sys::OPENSSL_sk_value(list.cast(), i) as *const openssl_sys::SSL_CIPHER;
            CERTIFICATE_AUTH.contains(&ossl::SSL_CIPHER_get_auth_nid(cipher))
        })
    }
}

fn set_identity(b: &mut SslContextBuilder, d: &ConfigData) -> Result<(), String> {
    if let Some((leaf, rest)) = d.local_chain.split_first() {
        b.set_certificate(leaf).map_err(describe("Cannot use the local certificate"))?;
        for c in rest {
            b.add_extra_chain_cert(c.clone()).map_err(describe("Cannot use the certificate chain"))?;
        }
    }
    match (&d.private_key, d.local_chain.is_empty()) {
        (Some(key), false) => {
            b.set_private_key(key).map_err(describe("Cannot use the private key"))?;
            b.check_private_key().map_err(describe("The private key does not match the local certificate"))
        }
        (None, false) => Err("The local certificate has no private key".into()),
        (Some(_), true) => Err("A private key was set without a local certificate".into()),
        (None, true) => Ok(()),
    }
}

/// A lone leaf gets its chain completed from the trust store, as Qt's
/// OpenSSL does, but once per context rather than on every handshake
/// (OpenSSL's auto-chain searches the store, often the system's directory,
/// each time). A configured chain is sent as configured.
fn build_chain_once(b: &mut SslContextBuilder, d: &ConfigData) {
    const SSL_CTRL_BUILD_CERT_CHAIN: libc::c_int = 105;
    const FLAGS: libc::c_long = 0x8 | 0x10; // IGNORE_ERROR | CLEAR_ERROR: a partial chain is fine
    if d.local_chain.len() == 1 {
        // SAFETY: live SSL_CTX under construction with its certificate set.
        unsafe { super::ossl::SSL_CTX_ctrl(b.as_ptr(), SSL_CTRL_BUILD_CERT_CHAIN, FLAGS, std::ptr::null_mut()) };
    }
    b.set_mode(SslMode::NO_AUTO_CHAIN);
}

/// ALPN wire format: each protocol prefixed by its length.
fn alpn_wire(list: &[Vec<u8>]) -> Vec<u8> {
    list.iter().flat_map(|p| std::iter::once(p.len() as u8).chain(p.iter().copied())).collect()
}

fn set_alpn(b: &mut SslContextBuilder, list: &[Vec<u8>]) -> Result<(), String> {
    let wire = alpn_wire(list);
    b.set_alpn_protos(&wire).map_err(describe("Invalid ALPN protocol list"))?;
    // Server side: our order wins, as with Qt.
    let ours = list.to_vec();
    b.set_alpn_select_callback(move |_, client| no_unwind(None, || select_alpn(&ours, client)).ok_or(AlpnError::NOACK));
    Ok(())
}

/// Our first protocol that the client offers, as a slice of the client's list.
fn select_alpn<'a>(ours: &[Vec<u8>], client: &'a [u8]) -> Option<&'a [u8]> {
    let mut offered = Vec::new();
    let mut rest = client;
    while let Some((&len, tail)) = rest.split_first() {
        let (p, next) = tail.split_at_checked(len as usize)?;
        offered.push(p);
        rest = next;
    }
    ours.iter().find_map(|o| offered.iter().copied().find(|p| *p == o.as_slice()))
}

/// Calls the connection's PSK handler, if any. False when it panicked: then
/// whatever it set is not used and the handshake fails (no key).
fn run_psk_callback(ssl: &SslRef, auth: &mut PskAuthenticator) -> bool {
    match hooks(ssl).and_then(|h| h.psk.clone()) {
        Some(cb) => catch_unwind(AssertUnwindSafe(|| cb(auth))).is_ok(),
        None => true,
    }
}

// Returning 0 (no key) makes OpenSSL fail the handshake with an alert.
fn psk_client(ssl: &mut SslRef, hint: Option<&[u8]>, identity: &mut [u8], psk: &mut [u8]) -> Result<usize, ErrorStack> {
    Ok(no_unwind(0, || {
        let mut auth = PskAuthenticator::for_client(hint.unwrap_or_default(), identity.len(), psk.len());
        if !run_psk_callback(ssl, &mut auth) {
            return 0;
        }
        let (id, key) = (auth.identity_to_send(), auth.key_to_use());
        if key.is_empty() || id.len() >= identity.len() {
            return 0;
        }
        identity[..id.len()].copy_from_slice(id);
        identity[id.len()] = 0;
        psk[..key.len()].copy_from_slice(key);
        key.len()
    }))
}

fn psk_server(ssl: &mut SslRef, identity: Option<&[u8]>, psk: &mut [u8]) -> Result<usize, ErrorStack> {
    Ok(no_unwind(0, || {
        let hint = hooks(ssl).map(|h| h.psk_hint.clone()).unwrap_or_default();
        let mut auth = PskAuthenticator::for_server(identity.unwrap_or_default(), &hint, psk.len());
        if !run_psk_callback(ssl, &mut auth) {
            return 0;
        }
        let key = auth.key_to_use();
        psk[..key.len()].copy_from_slice(key);
        key.len()
    }))
}

/// Whether a verify mode asks OpenSSL for the peer's certificate at all.
pub fn requests_certificate(mode: VerifyMode) -> bool {
    mode != VerifyMode::VerifyNone
}
