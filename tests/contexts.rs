//! Contexts are shared by configuration content, freed when unused, and
//! their errors keep OpenSSL's reason. The tests count live contexts, which
//! are process-wide, so they run one at a time.

mod common;

use std::sync::Mutex;
use std::time::Duration;

use common::certs::*;
use common::harness::*;
use openssl::asn1::Asn1Time;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::rsa::Rsa;
use openssl::x509::{X509NameBuilder, X509};
use qdtls::__private::live_contexts;
use qdtls::ffi::*;

const LIMIT: Duration = Duration::from_secs(10);
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn psk_link(client: &Cfg, server: &Cfg, psk: &Psk) -> Link {
    let mut l =
        Link::new(Dtls::client().with_config(client).with_psk(psk), Dtls::server().with_config(server).with_psk(psk));
    assert!(l.handshake(LIMIT), "{} / {}", l.client.error_string(), l.server.error_string());
    assert_eq!(l.client.state(), QDTLS_HANDSHAKE_COMPLETE);
    l
}

#[test]
fn configurations_with_equal_content_share_one_context() {
    let _g = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let before = live_contexts();
    let psk = Psk::new(b"client", b"secret");
    // Ten connections, each with configurations of its own, made separately
    // (as a Qt program makes a QSslConfiguration per connection).
    let links: Vec<Link> = (0..10).map(|_| psk_link(&Cfg::psk(), &Cfg::psk(), &psk)).collect();
    assert_eq!(live_contexts(), before + 1, "equal configurations must share one context");

    // Different content, different context; equal again, shared again.
    let other = Cfg::psk();
    other.ciphers("PSK-AES256-GCM-SHA384");
    let l2 = psk_link(&other, &other, &psk);
    let other_again = Cfg::psk();
    other_again.ciphers("PSK-AES256-GCM-SHA384");
    let server_again = Cfg::psk();
    server_again.ciphers("PSK-AES256-GCM-SHA384");
    let l3 = psk_link(&other_again, &server_again, &psk);
    assert_eq!(live_contexts(), before + 2);
    assert_eq!(l3.client.cipher(), "PSK-AES256-GCM-SHA384");

    // Contexts nobody uses any more are freed.
    drop((links, l2, l3, other, other_again, server_again));
    assert_eq!(live_contexts(), before, "unused contexts must be freed");
}

#[test]
fn certificates_are_compared_by_content() {
    let _g = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let before = live_contexts();
    let ca = Ca::new("qdtls test CA", KeyKind::EcP256);
    let id = ca.issue(&LeafSpec { dns: &["localhost"], ..LeafSpec::server("localhost") });
    let other = ca.issue(&LeafSpec { dns: &["localhost"], ..LeafSpec::server("localhost") });
    let server = |pem: &Pem| {
        let c = Cfg::new();
        c.cookies(false).identity(&pem.cert, &pem.key);
        c
    };
    let client = || {
        let c = Cfg::new();
        c.ca(&ca.pem.cert);
        c
    };
    let run = |c: &Cfg, s: &Cfg| {
        let mut l = Link::new(Dtls::client().with_config(c), Dtls::server().with_config(s));
        assert!(l.client.set_peer(l.ssock.local_addr().unwrap(), "localhost"));
        assert!(l.handshake(LIMIT), "{} / {}", l.client.error_string(), l.server.error_string());
        assert_eq!(l.client.state(), QDTLS_HANDSHAKE_COMPLETE, "{:?}", l.client.verification_errors());
        l
    };
    // The same PEM parsed twice: one context per side.
    let a = run(&client(), &server(&id));
    let b = run(&client(), &server(&id));
    assert_eq!(live_contexts(), before + 2);
    // Another certificate (and key) is another context.
    let c = run(&client(), &server(&other));
    assert_eq!(live_contexts(), before + 3);
    drop((a, b, c));
    assert_eq!(live_contexts(), before);
}

/// An RSA-1024 certificate, refused at Debian's default security level 2.
fn weak_identity() -> (String, String) {
    let key = PKey::from_rsa(Rsa::generate(1024).unwrap()).unwrap();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "weak").unwrap();
    let name = name.build();
    let mut b = X509::builder().unwrap();
    b.set_version(2).unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(&key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap()).unwrap();
    b.set_not_after(&Asn1Time::days_from_now(2).unwrap()).unwrap();
    b.sign(&key, MessageDigest::sha256()).unwrap();
    let cert = String::from_utf8(b.build().to_pem().unwrap()).unwrap();
    (cert, String::from_utf8(key.private_key_to_pem_pkcs8().unwrap()).unwrap())
}

#[test]
fn initialization_errors_keep_openssl_reason() {
    let _g = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    if std::env::var_os("OPENSSL_CONF").is_some() {
        eprintln!("skipped: OPENSSL_CONF may lower the security level");
        return;
    }
    let (cert, key) = weak_identity();
    let server = Cfg::new();
    server.cookies(false).identity(&cert, &key);
    let l = Link::new(Dtls::client().with_config(&Cfg::psk()), Dtls::server().with_config(&server));
    assert!(l.client.handshake(&l.csock, &[]));
    let (hello, _) = recv(&l.ssock).expect("a ClientHello");
    assert!(!l.server.handshake(&l.ssock, &hello));
    assert_eq!(l.server.error(), QDTLS_ERROR_TLS_INITIALIZATION_ERROR);
    let text = l.server.error_string();
    assert!(text.contains("Cannot use the local certificate"), "{text}");
    assert!(text.contains("ee key too small"), "OpenSSL's reason is missing: {text}");
}
