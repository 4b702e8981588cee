//! Qt's certificate blacklist: a peer certificate Qt refuses is reported as
//! CertificateBlacklisted (first, as Qt orders errors), even when trusted,
//! and can be ignored like any other error.

mod common;

use std::time::Duration;

use common::harness::*;
use openssl::asn1::{Asn1Integer, Asn1Time};
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::PKey;
use openssl::x509::extension::SubjectAlternativeName;
use openssl::x509::{X509NameBuilder, X509};
use qdtls::ffi::*;

const LIMIT: Duration = Duration::from_secs(10);

/// A self-signed certificate with the given serial number and common name
/// (and that name as its DNS SAN), as PEM certificate and key.
fn identity(serial_hex: &str, cn: &str) -> (String, String, Vec<u8>) {
    let key =
        PKey::from_ec_key(EcKey::generate(&EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap()).unwrap()).unwrap();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", cn).unwrap();
    let name = name.build();
    let mut b = X509::builder().unwrap();
    b.set_version(2).unwrap();
    b.set_serial_number(&Asn1Integer::from_bn(&BigNum::from_hex_str(serial_hex).unwrap()).unwrap()).unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(&key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap()).unwrap();
    b.set_not_after(&Asn1Time::days_from_now(2).unwrap()).unwrap();
    let san = SubjectAlternativeName::new().dns(cn).build(&b.x509v3_context(None, None)).unwrap();
    b.append_extension(san).unwrap();
    b.sign(&key, MessageDigest::sha256()).unwrap();
    let cert = b.build();
    let pem = String::from_utf8(cert.to_pem().unwrap()).unwrap();
    (pem, String::from_utf8(key.private_key_to_pem_pkcs8().unwrap()).unwrap(), cert.to_der().unwrap())
}

/// A client that trusts the server's certificate and checks `name`.
fn link(cert: &str, key: &str, name: &str) -> Link {
    let server = Cfg::new();
    server.cookies(false).identity(cert, key);
    let client = Cfg::new();
    client.ca(cert);
    let mut l = Link::new(Dtls::client().with_config(&client), Dtls::server().with_config(&server));
    assert!(l.client.set_peer(l.ssock.local_addr().unwrap(), name));
    assert!(l.handshake(LIMIT), "{}", l.client.error_string());
    l
}

#[test]
fn a_blacklisted_certificate_fails_verification_even_when_trusted() {
    // Serial and name of one of the fraudulent Comodo certificates (2011).
    let (cert, key, der) = identity("b0b7133ed096f9b56fae91c874bd3ac0", "login.live.com");
    let l = link(&cert, &key, "login.live.com");
    assert_eq!(l.client.state(), QDTLS_PEER_VERIFICATION_FAILED);
    assert_eq!(l.client.error(), QDTLS_ERROR_PEER_VERIFICATION_ERROR);
    assert_eq!(l.client.verification_errors(), vec![QDTLS_SSL_ERROR_CERTIFICATE_BLACKLISTED]);
    assert_eq!(l.client.verification_error_cert(0), der);

    // Ignoring it, as for any other error, completes the handshake.
    assert!(l.client.ignore(&[(QDTLS_SSL_ERROR_CERTIFICATE_BLACKLISTED, der)]));
    assert!(l.client.resume(&l.csock), "{}", l.client.error_string());
    assert_eq!(l.client.state(), QDTLS_HANDSHAKE_COMPLETE);
}

#[test]
fn the_same_name_with_another_serial_is_not_blacklisted() {
    let (cert, key, _) = identity("b0b7133ed096f9b56fae91c874bd3ac1", "login.live.com");
    let l = link(&cert, &key, "login.live.com");
    assert_eq!(l.client.state(), QDTLS_HANDSHAKE_COMPLETE, "{:?}", l.client.verification_errors());
}
