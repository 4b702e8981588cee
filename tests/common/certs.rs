//! Test keys and certificates generated at test time with the `openssl` crate.
//!
//! Everything is handed out as PEM strings so tests can push it through the
//! C ABI unchanged. No fixtures on disk: nothing can expire in the repository.

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use openssl::asn1::{Asn1Integer, Asn1Time};
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::symm::Cipher;
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName, SubjectKeyIdentifier,
};
use openssl::x509::{X509Builder, X509Name, X509};

/// A certificate and its private key (unencrypted PKCS#8), both PEM.
#[derive(Clone, Debug)]
pub struct Pem {
    pub cert: String,
    pub key: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    EcP256,
    Rsa2048,
}

/// Extended key usage put on a leaf.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Usage {
    Server,
    Client,
    Both,
}

/// What to put into a leaf certificate issued by [`Ca::issue`].
#[derive(Clone, Copy, Debug)]
pub struct LeafSpec<'a> {
    pub cn: &'a str,
    pub dns: &'a [&'a str],
    pub ips: &'a [&'a str],
    pub usage: Usage,
    pub kind: KeyKind,
    /// Negative means "already expired".
    pub days_valid: i64,
}

impl<'a> LeafSpec<'a> {
    pub fn server(cn: &'a str) -> Self {
        LeafSpec { cn, dns: &[], ips: &[], usage: Usage::Server, kind: KeyKind::EcP256, days_valid: 30 }
    }

    pub fn client(cn: &'a str) -> Self {
        LeafSpec { usage: Usage::Client, ..Self::server(cn) }
    }
}

/// A certificate authority; keeps the parsed cert and key around for signing.
pub struct Ca {
    pub pem: Pem,
    cert: X509,
    key: PKey<Private>,
    kind: KeyKind,
}

const DAY: i64 = 24 * 60 * 60;

/// One RSA-2048 key shared by every RSA *leaf* (generation takes ~100 ms).
/// Caveat: two RSA leaves therefore share a key; use EC for key-mismatch tests.
pub fn rsa_key() -> PKey<Private> {
    static KEY: OnceLock<PKey<Private>> = OnceLock::new();
    KEY.get_or_init(fresh_rsa).clone()
}

fn fresh_rsa() -> PKey<Private> {
    PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap()
}

fn ec_key() -> PKey<Private> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap()
}

/// RSA leaves share the cached key; CAs always get a fresh one so issuer and
/// subject keys (and hence SKID/AKID) never coincide.
fn new_key(kind: KeyKind, ca: bool) -> PKey<Private> {
    match kind {
        KeyKind::EcP256 => ec_key(),
        KeyKind::Rsa2048 if ca => fresh_rsa(),
        KeyKind::Rsa2048 => rsa_key(),
    }
}

fn now() -> i64 {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    i64::try_from(secs).unwrap()
}

fn name(cn: &str) -> X509Name {
    let mut b = X509Name::builder().unwrap();
    b.append_entry_by_nid(Nid::COMMONNAME, cn).unwrap();
    b.build()
}

/// Builds and signs a v3 cert for `key`: random 16-byte serial, SHA-256,
/// signed by `issuer` or self-signed when `None`. notBefore is backdated an
/// hour for clock skew; negative `days` puts the whole window in the past.
/// `exts` adds the role-specific extensions; SKID/AKID come last because
/// OpenSSL hashes the public key already set on the builder.
fn build(
    cn: &str,
    key: &PKey<Private>,
    days: i64,
    issuer: Option<&Ca>,
    akid: bool,
    exts: impl FnOnce(&mut X509Builder),
) -> X509 {
    let mut b = X509Builder::new().unwrap();
    b.set_version(2).unwrap();
    let mut serial = BigNum::new().unwrap();
    serial.rand(128, MsbOption::MAYBE_ZERO, false).unwrap();
    b.set_serial_number(&Asn1Integer::from_bn(&serial).unwrap()).unwrap();
    let now = now();
    let not_after = now + days * DAY;
    let not_before = (now - 3600).min(not_after - DAY);
    b.set_not_before(&Asn1Time::from_unix(not_before as _).unwrap()).unwrap();
    b.set_not_after(&Asn1Time::from_unix(not_after as _).unwrap()).unwrap();
    b.set_subject_name(&name(cn)).unwrap();
    let issuer_name = issuer.map_or_else(|| name(cn), |ca| ca.cert.subject_name().to_owned().unwrap());
    b.set_issuer_name(&issuer_name).unwrap();
    b.set_pubkey(key).unwrap();
    exts(&mut b);
    let issuer_cert = issuer.map(|ca| &*ca.cert);
    let skid = SubjectKeyIdentifier::new().build(&b.x509v3_context(issuer_cert, None));
    b.append_extension(skid.unwrap()).unwrap();
    if akid {
        let ctx = b.x509v3_context(issuer_cert, None);
        // keyid:always, otherwise OpenSSL omits it for self-signed certs.
        let akid = AuthorityKeyIdentifier::new().keyid(true).build(&ctx);
        b.append_extension(akid.unwrap()).unwrap();
    }
    b.sign(issuer.map_or(key, |ca| &ca.key), MessageDigest::sha256()).unwrap();
    b.build()
}

/// Serialises a finished certificate and its key.
fn to_pem(cert: &X509, key: &PKey<Private>) -> Pem {
    Pem {
        cert: String::from_utf8(cert.to_pem().unwrap()).unwrap(),
        key: String::from_utf8(key.private_key_to_pem_pkcs8().unwrap()).unwrap(),
    }
}

/// Leaf extensions: CA:FALSE, digitalSignature (+keyEncipherment for RSA), EKU, SAN.
fn add_leaf_exts(b: &mut X509Builder, spec: &LeafSpec) {
    b.append_extension(BasicConstraints::new().critical().build().unwrap()).unwrap();
    let mut ku = KeyUsage::new();
    ku.critical().digital_signature();
    if spec.kind == KeyKind::Rsa2048 {
        ku.key_encipherment();
    }
    b.append_extension(ku.build().unwrap()).unwrap();
    let mut eku = ExtendedKeyUsage::new();
    match spec.usage {
        Usage::Server => eku.server_auth(),
        Usage::Client => eku.client_auth(),
        Usage::Both => eku.server_auth().client_auth(),
    };
    b.append_extension(eku.build().unwrap()).unwrap();
    // An empty SAN extension is invalid, so only add one when there are names.
    if !spec.dns.is_empty() || !spec.ips.is_empty() {
        let mut san = SubjectAlternativeName::new();
        for d in spec.dns {
            san.dns(d);
        }
        for ip in spec.ips {
            san.ip(ip);
        }
        let ext = san.build(&b.x509v3_context(None, None)).unwrap();
        b.append_extension(ext).unwrap();
    }
}

impl Ca {
    /// Self-signed root CA, valid for ten years.
    pub fn new(cn: &str, kind: KeyKind) -> Ca {
        Self::make(cn, kind, None)
    }

    /// Intermediate CA (same key kind as `self`) signed by `self`.
    pub fn intermediate(&self, cn: &str) -> Ca {
        Self::make(cn, self.kind, Some(self))
    }

    /// Leaf certificate signed by this CA.
    pub fn issue(&self, spec: &LeafSpec) -> Pem {
        make_leaf(spec, Some(self))
    }

    /// A CA signed by `parent`, or self-signed when `None`.
    fn make(cn: &str, kind: KeyKind, parent: Option<&Ca>) -> Ca {
        let key = new_key(kind, true);
        let cert = build(cn, &key, 3650, parent, parent.is_some(), |b| {
            let bc = BasicConstraints::new().critical().ca().build().unwrap();
            b.append_extension(bc).unwrap();
            let ku = KeyUsage::new().critical().key_cert_sign().crl_sign().build();
            b.append_extension(ku.unwrap()).unwrap();
        });
        Ca { pem: to_pem(&cert, &key), cert, key, kind }
    }
}

/// Leaf signed by `issuer`, or self-signed when `None`.
fn make_leaf(spec: &LeafSpec, issuer: Option<&Ca>) -> Pem {
    let key = new_key(spec.kind, false);
    let cert = build(spec.cn, &key, spec.days_valid, issuer, true, |b| {
        add_leaf_exts(b, spec);
    });
    to_pem(&cert, &key)
}

/// Self-signed end-entity certificate (CA:FALSE), usable as server and client.
pub fn self_signed(cn: &str, dns: &[&str], kind: KeyKind) -> Pem {
    let spec = LeafSpec { dns, usage: Usage::Both, kind, ..LeafSpec::server(cn) };
    make_leaf(&spec, None)
}

/// The same private key re-encoded as encrypted PKCS#8 (AES-256-CBC).
pub fn encrypted_key_pem(key_pem: &str, passphrase: &str) -> String {
    let key = PKey::private_key_from_pem(key_pem.as_bytes()).unwrap();
    let pem = key.private_key_to_pem_pkcs8_passphrase(Cipher::aes_256_cbc(), passphrase.as_bytes()).unwrap();
    String::from_utf8(pem).unwrap()
}

/// Concatenates PEM blocks, making sure each one ends with a newline.
pub fn chain_pem(pems: &[&str]) -> String {
    let mut out = String::new();
    for p in pems {
        out.push_str(p);
        if !p.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}
