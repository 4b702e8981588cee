//! The SSL_CTX of a configuration: built on first use and shared (it is
//! reference counted) by every session that uses the same configuration,
//! where Qt builds one per connection.

use std::panic::{catch_unwind, AssertUnwindSafe};

use openssl::error::ErrorStack;
use openssl::ssl::{AlpnError, SslContext, SslContextBuilder, SslMethod, SslMode, SslOptions, SslRef, SslVersion};

use super::config::{protocol, Config, ConfigData, VerifyMode};
use super::hooks::hooks;
use super::psk::PskAuthenticator;
use super::{cookie, error::with_openssl_errors};

/// OpenSSL's DTLS list without anonymous, null, export or weak suites;
/// PSK suites stay in (OpenSSL's DEFAULT includes them).
pub const DEFAULT_CIPHERS: &str = "DEFAULT:!aNULL:!eNULL:!LOW:!EXP:!MD5:!RC4:!3DES:!SRP";

/// The configuration's context; the error text explains why it cannot be built.
pub fn context(cfg: &Config) -> Result<SslContext, String> {
    cfg.context.get_or_init(|| build(&cfg.data)).clone()
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
    let fail = |what: &str| with_openssl_errors(what);
    let (min, max) = versions(d.protocol)?;
    let mut b = SslContextBuilder::new(SslMethod::dtls()).map_err(|_| fail("SSL_CTX_new failed"))?;
    b.set_min_proto_version(Some(min)).map_err(|_| fail("Cannot set the protocol version"))?;
    b.set_max_proto_version(max).map_err(|_| fail("Cannot set the protocol version"))?;
    if min == SslVersion::DTLS1 {
        // DTLS 1.0 needs SHA-1 signatures, which the default security level forbids.
        b.set_security_level(0);
    }
    let mut opts = SslOptions::NO_QUERY_MTU | SslOptions::NO_RENEGOTIATION;
    if d.server_cipher_preference {
        opts |= SslOptions::CIPHER_SERVER_PREFERENCE;
    }
    b.set_options(opts);
    b.set_cipher_list(d.ciphers.as_deref().unwrap_or(DEFAULT_CIPHERS)).map_err(|_| fail("Invalid cipher list"))?;
    if d.verify_depth > 0 {
        b.set_verify_depth(d.verify_depth as u32);
    }
    if d.ca_certificates.is_empty() {
        // Like Qt: no explicit CAs means the system's trust store.
        b.set_default_verify_paths().map_err(|_| fail("Cannot load the system CA certificates"))?;
    } else {
        for ca in &d.ca_certificates {
            b.cert_store_mut().add_cert(ca.clone()).map_err(|_| fail("Cannot add a CA certificate"))?;
        }
    }
    set_identity(&mut b, d)?;
    build_chain_once(&mut b, d);
    b.set_psk_client_callback(psk_client);
    b.set_psk_server_callback(psk_server);
    cookie::install_callbacks(&mut b);
    if !d.alpn.is_empty() {
        set_alpn(&mut b, &d.alpn)?;
    }
    Ok(b.build())
}

fn set_identity(b: &mut SslContextBuilder, d: &ConfigData) -> Result<(), String> {
    let fail = |what: &str| with_openssl_errors(what);
    if let Some((leaf, rest)) = d.local_chain.split_first() {
        b.set_certificate(leaf).map_err(|_| fail("Cannot use the local certificate"))?;
        for c in rest {
            b.add_extra_chain_cert(c.clone()).map_err(|_| fail("Cannot use the certificate chain"))?;
        }
    }
    match (&d.private_key, d.local_chain.is_empty()) {
        (Some(key), false) => {
            b.set_private_key(key).map_err(|_| fail("Cannot use the private key"))?;
            b.check_private_key().map_err(|_| fail("The private key does not match the local certificate"))
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
    b.set_alpn_protos(&wire).map_err(|_| with_openssl_errors("Invalid ALPN protocol list"))?;
    // Server side: our order wins, as with Qt.
    let ours = list.to_vec();
    b.set_alpn_select_callback(move |_, client| select_alpn(&ours, client).ok_or(AlpnError::NOACK));
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

/// Calls the connection's PSK handler, if any; a panic counts as "no key".
fn run_psk_callback(ssl: &SslRef, auth: &mut PskAuthenticator) {
    if let Some(cb) = hooks(ssl).and_then(|h| h.psk.clone()) {
        let _ = catch_unwind(AssertUnwindSafe(|| cb(auth)));
    }
}

fn psk_client(ssl: &mut SslRef, hint: Option<&[u8]>, identity: &mut [u8], psk: &mut [u8]) -> Result<usize, ErrorStack> {
    let mut auth = PskAuthenticator::for_client(hint.unwrap_or_default(), identity.len(), psk.len());
    run_psk_callback(ssl, &mut auth);
    let (id, key) = (auth.identity_to_send(), auth.key_to_use());
    if key.is_empty() {
        return Ok(0); // no key: OpenSSL fails the handshake
    }
    identity[..id.len()].copy_from_slice(id);
    identity[id.len()] = 0;
    psk[..key.len()].copy_from_slice(key);
    Ok(key.len())
}

fn psk_server(ssl: &mut SslRef, identity: Option<&[u8]>, psk: &mut [u8]) -> Result<usize, ErrorStack> {
    let hint = hooks(ssl).map(|h| h.psk_hint.clone()).unwrap_or_default();
    let mut auth = PskAuthenticator::for_server(identity.unwrap_or_default(), &hint, psk.len());
    run_psk_callback(ssl, &mut auth);
    let key = auth.key_to_use();
    psk[..key.len()].copy_from_slice(key);
    Ok(key.len())
}

/// Whether a verify mode asks OpenSSL for the peer's certificate at all.
pub fn requests_certificate(mode: VerifyMode) -> bool {
    mode != VerifyMode::VerifyNone
}
