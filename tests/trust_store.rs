//! The system trust store is made at most once per process and only when a
//! certificate may really be verified: PSK-only and VerifyNone configurations
//! never touch it. One test, alone in its process, since the store is global.

mod common;

use std::time::Duration;

use common::certs::*;
use common::harness::*;
use qdtls::__private::system_store_loaded;
use qdtls::ffi::*;

const LIMIT: Duration = Duration::from_secs(10);

fn psk_handshake(client: &Cfg, server: &Cfg) {
    let psk = Psk::new(b"client", b"secret");
    let mut l =
        Link::new(Dtls::client().with_config(client).with_psk(&psk), Dtls::server().with_config(server).with_psk(&psk));
    assert!(l.handshake(LIMIT), "{} / {}", l.client.error_string(), l.server.error_string());
    // A verifying client reports NoPeerCertificate after a PSK handshake.
    let done = [QDTLS_HANDSHAKE_COMPLETE, QDTLS_PEER_VERIFICATION_FAILED];
    assert!(done.contains(&l.client.state()), "{}", l.client.error_string());
}

#[test]
fn system_store_only_when_a_certificate_may_be_verified() {
    assert!(!system_store_loaded());

    // VerifyNone, every cipher suite allowed.
    psk_handshake(&Cfg::psk(), &Cfg::psk());
    assert!(!system_store_loaded(), "a VerifyNone configuration loaded the system trust store");

    // The default (verifying) mode, but only PSK suites: no certificate can come.
    let psk_only = Cfg::new();
    psk_only.cookies(false).ciphers("PSK-AES128-GCM-SHA256:ECDHE-PSK-CHACHA20-POLY1305");
    psk_handshake(&psk_only, &psk_only);
    assert!(!system_store_loaded(), "a PSK-only configuration loaded the system trust store");

    // A client that verifies a certificate against the system store (no CAs
    // of its own): the store is made now, and our test CA is not in it.
    let id = self_signed("localhost", &["localhost"], KeyKind::EcP256);
    let server = Cfg::new();
    server.cookies(false).identity(&id.cert, &id.key);
    let mut l = Link::new(Dtls::client().with_config(&Cfg::new()), Dtls::server().with_config(&server));
    assert!(l.client.set_peer(l.ssock.local_addr().unwrap(), "localhost"));
    assert!(l.handshake(LIMIT));
    assert_eq!(l.client.state(), QDTLS_PEER_VERIFICATION_FAILED);
    assert!(l.client.verification_errors().contains(&QDTLS_SSL_ERROR_SELF_SIGNED_CERTIFICATE));
    assert!(system_store_loaded());
}
