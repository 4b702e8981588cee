//! Certificate handshakes, peer verification, ignore lists, host names,
//! cipher preference and protocol matching, over real UDP sockets
//! (the certificate part of Qt's tst_qdtls).

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::certs::*;
use common::harness::*;
use openssl::x509::X509;
use qdtls::ffi::config::{qdtls_configuration_server_cipher_preference, qdtls_configuration_set_peer_verify_depth};
use qdtls::ffi::dtls::{qdtls_peer_certificate_chain_at, qdtls_resume_handshake, qdtls_set_initial_timeout_ms};
use qdtls::ffi::*;

const LIMIT: Duration = Duration::from_secs(10);

// ---- helpers ------------------------------------------------------------------

/// DER bytes of a PEM certificate.
fn der(pem: &str) -> Vec<u8> {
    X509::from_pem(pem.as_bytes()).unwrap().to_der().unwrap()
}

/// A server configuration with `id` as its identity and no cookie check
/// (there is no verifier in front of it).
fn server_cfg(id: &Pem) -> Cfg {
    let c = Cfg::new();
    c.cookies(false).identity(&id.cert, &id.key);
    c
}

/// A client configuration trusting `ca` (or the system store when None).
fn client_cfg(ca: Option<&Ca>) -> Cfg {
    let c = Cfg::new();
    if let Some(ca) = ca {
        c.ca(&ca.pem.cert);
    }
    c
}

/// A link whose client verifies the server against `name` (Link::new sets an empty name).
fn link(client: &Cfg, server: &Cfg, name: &str) -> Link {
    let l = Link::new(Dtls::client().with_config(client), Dtls::server().with_config(server));
    let server_addr: SocketAddr = l.ssock.local_addr().unwrap();
    assert!(l.client.set_peer(server_addr, name), "{}", l.client.error_string());
    l
}

fn describe(l: &Link) -> String {
    format!(
        "client state {} error {} '{}' errors {:?} / server state {} error {} '{}' errors {:?}",
        l.client.state(),
        l.client.error(),
        l.client.error_string(),
        l.client.verification_errors(),
        l.server.state(),
        l.server.error(),
        l.server.error_string(),
        l.server.verification_errors()
    )
}

/// Asserts that both sides completed, agree, and that data flows both ways.
fn assert_complete(l: &Link) {
    assert_eq!(l.client.state(), QDTLS_HANDSHAKE_COMPLETE, "{}", describe(l));
    assert_eq!(l.server.state(), QDTLS_HANDSHAKE_COMPLETE, "{}", describe(l));
    assert!(l.client.encrypted() && l.server.encrypted());
    assert_eq!(l.client.error(), QDTLS_ERROR_NO_ERROR);
    assert_eq!(l.server.error(), QDTLS_ERROR_NO_ERROR);
    assert!(!l.client.cipher().is_empty());
    assert_eq!(l.client.cipher(), l.server.cipher());
    assert_eq!(l.client.protocol(), l.server.protocol());
    assert_eq!(l.send(true, b"ping from client").as_deref(), Some(&b"ping from client"[..]));
    assert_eq!(l.send(false, b"pong from server").as_deref(), Some(&b"pong from server"[..]));
}

/// Asserts the verification failure of `d`: state, error, nothing encrypted.
fn assert_verification_failed(d: &Dtls) {
    assert_eq!(d.state(), QDTLS_PEER_VERIFICATION_FAILED, "error {} '{}'", d.error(), d.error_string());
    assert_eq!(d.error(), QDTLS_ERROR_PEER_VERIFICATION_ERROR, "{}", d.error_string());
    assert!(!d.encrypted());
    assert_eq!(d.cipher(), "");
    assert_eq!(d.protocol(), QDTLS_PROTOCOL_UNKNOWN);
    assert!(!d.verification_errors().is_empty());
}

/// The current verification errors as (code, DER) pairs, ready for `Dtls::ignore`.
fn reported(d: &Dtls) -> Vec<(i32, Vec<u8>)> {
    d.verification_errors().into_iter().enumerate().map(|(i, code)| (code, d.verification_error_cert(i))).collect()
}

fn chain_at(d: &Dtls, i: usize) -> Vec<u8> {
    read_bytes(|b, c| unsafe { qdtls_peer_certificate_chain_at(d.0, i, b, c) })
}

fn set_initial_timeout(d: &Dtls, ms: u32) {
    assert!(unsafe { qdtls_set_initial_timeout_ms(d.0, ms) });
}

/// A CA-issued server leaf for "localhost".
fn localhost_leaf(ca: &Ca, kind: KeyKind) -> Pem {
    ca.issue(&LeafSpec { dns: &["localhost"], kind, ..LeafSpec::server("server") })
}

/// The chain errors a client reports for a leaf whose issuer it does not
/// trust (no CA added, the test CA is not in the system store).
fn is_untrusted_chain_error(code: i32) -> bool {
    code == QDTLS_SSL_ERROR_UNABLE_TO_GET_LOCAL_ISSUER_CERTIFICATE
        || code == QDTLS_SSL_ERROR_UNABLE_TO_VERIFY_FIRST_CERTIFICATE
}

// ---- certificate handshake ---------------------------------------------------

fn handshake_with_ca_and_name(kind: KeyKind, cipher_prefix: &str) {
    let ca = Ca::new("Test CA", kind);
    let leaf = localhost_leaf(&ca, kind);
    let scfg = server_cfg(&leaf);
    let ccfg = client_cfg(Some(&ca));
    let mut l = link(&ccfg, &scfg, "localhost");
    assert!(l.handshake(LIMIT), "{}", describe(&l));
    assert!(l.client.verification_errors().is_empty(), "{}", describe(&l));
    assert!(l.client.cipher().starts_with(cipher_prefix), "{}", l.client.cipher());
    assert_eq!(l.client.protocol(), QDTLS_PROTOCOL_DTLS_V1_2);
    assert_eq!(l.server.protocol(), QDTLS_PROTOCOL_DTLS_V1_2);
    assert_eq!(l.client.peer_certificate(), der(&leaf.cert));
    assert!(l.client.peer_chain_len() >= 1);
    assert_eq!(chain_at(&l.client, 0), der(&leaf.cert), "leaf first");
    // The client sent no certificate; the server (AutoVerifyPeer = QueryPeer) does not mind.
    assert!(l.server.peer_certificate().is_empty());
    assert!(l.server.verification_errors().is_empty());
    assert_complete(&l);
}

#[test]
fn certificate_handshake_with_ca_and_verification_name_ecdsa() {
    handshake_with_ca_and_name(KeyKind::EcP256, "ECDHE-ECDSA-");
}

#[test]
fn certificate_handshake_with_ca_and_verification_name_rsa() {
    handshake_with_ca_and_name(KeyKind::Rsa2048, "ECDHE-RSA-");
}

// ---- cipher preference --------------------------------------------------------

const AES128: &str = "PSK-AES128-GCM-SHA256";
const AES256: &str = "PSK-AES256-GCM-SHA384";

/// The cipher a PSK handshake settles on; `server_preference` None keeps the default.
fn negotiated_cipher(client_list: &str, server_list: &str, server_preference: Option<bool>) -> String {
    let (cp, sp) = (Psk::new(b"id", b"cipher preference key"), Psk::new(b"", b"cipher preference key"));
    let ccfg = Cfg::psk();
    ccfg.ciphers(client_list);
    let scfg = Cfg::psk();
    scfg.ciphers(server_list);
    if let Some(on) = server_preference {
        scfg.server_preference(on);
    }
    let mut l =
        Link::new(Dtls::client().with_config(&ccfg).with_psk(&cp), Dtls::server().with_config(&scfg).with_psk(&sp));
    assert!(l.handshake(LIMIT), "{}", describe(&l));
    assert_complete(&l);
    l.client.cipher()
}

#[test]
fn both_sides_agree_on_the_cipher_and_server_preference_decides() {
    for (a, b) in [(AES128, AES256), (AES256, AES128)] {
        let client_list = format!("{a}:{b}");
        let server_list = format!("{b}:{a}");
        // Default: server preference on, the server's first choice wins.
        assert!(unsafe { qdtls_configuration_server_cipher_preference(Cfg::psk().0) });
        assert_eq!(negotiated_cipher(&client_list, &server_list, None), b, "server preference by default");
        assert_eq!(negotiated_cipher(&client_list, &server_list, Some(true)), b, "server preference on");
        // Off: the client's order wins.
        assert_eq!(negotiated_cipher(&client_list, &server_list, Some(false)), a, "server preference off");
    }
}

// ---- protocol matching ---------------------------------------------------------

/// A PSK handshake between the given protocols, with 1 ms first timeouts so
/// a stalled handshake gives up quickly.
fn psk_protocol_link(client_protocol: i32, server_protocol: i32) -> (Link, Box<Psk>, Box<Psk>) {
    let (cp, sp) = (Psk::new(b"id", b"protocol key"), Psk::new(b"", b"protocol key"));
    let ccfg = Cfg::psk();
    ccfg.protocol(client_protocol);
    let scfg = Cfg::psk();
    scfg.protocol(server_protocol);
    let l = Link::new(Dtls::client().with_config(&ccfg).with_psk(&cp), Dtls::server().with_config(&scfg).with_psk(&sp));
    (l, cp, sp)
}

#[test]
fn protocol_dtls12_client_with_dtls12_or_later_server_completes() {
    let (mut l, _cp, _sp) = psk_protocol_link(QDTLS_PROTOCOL_DTLS_V1_2, QDTLS_PROTOCOL_DTLS_V1_2_OR_LATER);
    assert!(l.handshake(LIMIT), "{}", describe(&l));
    assert_complete(&l);
    assert_eq!(l.client.protocol(), QDTLS_PROTOCOL_DTLS_V1_2);
    assert_eq!(l.server.protocol(), QDTLS_PROTOCOL_DTLS_V1_2);
}

#[test]
fn protocol_dtls10_client_with_dtls12_server_fails() {
    let (mut l, _cp, _sp) = psk_protocol_link(QDTLS_PROTOCOL_DTLS_V1_0, QDTLS_PROTOCOL_DTLS_V1_2);
    set_initial_timeout(&l.client, 1);
    set_initial_timeout(&l.server, 1);
    assert!(!l.handshake(Duration::from_secs(30)), "{}", describe(&l));
    assert!(!l.client.encrypted() && !l.server.encrypted());
    assert_ne!(l.client.state(), QDTLS_HANDSHAKE_COMPLETE);
    assert_ne!(l.server.state(), QDTLS_HANDSHAKE_COMPLETE);
    assert_eq!(l.client.state(), QDTLS_HANDSHAKE_NOT_STARTED, "{}", describe(&l));
    assert_eq!(l.client.error(), QDTLS_ERROR_TLS_FATAL_ERROR, "{}", describe(&l));
    assert_eq!(l.client.protocol(), QDTLS_PROTOCOL_UNKNOWN);
    // The server refused the 1.0 ClientHello with a protocol_version alert and reset itself.
    assert_eq!(l.server.state(), QDTLS_HANDSHAKE_NOT_STARTED, "{}", describe(&l));
    assert_eq!(l.server.error(), QDTLS_ERROR_TLS_FATAL_ERROR, "{}", describe(&l));
}

#[test]
fn protocol_dtls10_or_later_on_both_sides_completes_with_dtls12() {
    let (mut l, _cp, _sp) = psk_protocol_link(QDTLS_PROTOCOL_DTLS_V1_0_OR_LATER, QDTLS_PROTOCOL_DTLS_V1_0_OR_LATER);
    assert!(l.handshake(LIMIT), "{}", describe(&l));
    assert_complete(&l);
    // Both allow 1.2, so 1.2 is what they agree on.
    assert_eq!(l.client.protocol(), QDTLS_PROTOCOL_DTLS_V1_2);
}

#[test]
fn protocol_dtls10_on_both_sides_completes_with_dtls10() {
    // Qt: DtlsV1_0 <-> DtlsV1_0 works. The engine lowers OpenSSL's security
    // level for a DTLS 1.0 configuration so SHA-1 based 1.0 handshakes are possible.
    for (c, s) in [
        (QDTLS_PROTOCOL_DTLS_V1_0, QDTLS_PROTOCOL_DTLS_V1_0),
        (QDTLS_PROTOCOL_DTLS_V1_0, QDTLS_PROTOCOL_DTLS_V1_0_OR_LATER),
        (QDTLS_PROTOCOL_DTLS_V1_0_OR_LATER, QDTLS_PROTOCOL_DTLS_V1_0),
    ] {
        let (mut l, _cp, _sp) = psk_protocol_link(c, s);
        assert!(l.handshake(LIMIT), "client {c} server {s}: {}", describe(&l));
        assert_complete(&l);
        assert_eq!(l.client.protocol(), QDTLS_PROTOCOL_DTLS_V1_0, "client {c} server {s}");
        assert_eq!(l.server.protocol(), QDTLS_PROTOCOL_DTLS_V1_0, "client {c} server {s}");
    }
}

#[test]
fn protocol_dtls10_with_certificates_completes() {
    // DTLS 1.0 signs the key exchange with SHA-1, which OpenSSL 3's default
    // security level refuses; a DTLS 1.0 configuration must still work, as in Qt.
    for kind in [KeyKind::EcP256, KeyKind::Rsa2048] {
        let ca = Ca::new("DTLS 1.0 CA", kind);
        let leaf = localhost_leaf(&ca, kind);
        let scfg = server_cfg(&leaf);
        scfg.protocol(QDTLS_PROTOCOL_DTLS_V1_0);
        let ccfg = client_cfg(Some(&ca));
        ccfg.protocol(QDTLS_PROTOCOL_DTLS_V1_0);
        let mut l = link(&ccfg, &scfg, "localhost");
        assert!(l.handshake(LIMIT), "{kind:?}: {}", describe(&l));
        assert_complete(&l);
        assert_eq!(l.client.protocol(), QDTLS_PROTOCOL_DTLS_V1_0, "{kind:?}");
        assert_eq!(l.client.peer_certificate(), der(&leaf.cert), "{kind:?}");
    }
}

#[test]
fn protocol_dtls12_client_with_dtls10_server_fails() {
    let (mut l, _cp, _sp) = psk_protocol_link(QDTLS_PROTOCOL_DTLS_V1_2, QDTLS_PROTOCOL_DTLS_V1_0);
    set_initial_timeout(&l.client, 1);
    set_initial_timeout(&l.server, 1);
    assert!(!l.handshake(Duration::from_secs(30)), "{}", describe(&l));
    assert!(!l.client.encrypted() && !l.server.encrypted());
    assert_eq!(l.client.state(), QDTLS_HANDSHAKE_NOT_STARTED, "{}", describe(&l));
    assert_eq!(l.client.error(), QDTLS_ERROR_TLS_FATAL_ERROR, "{}", describe(&l));
}

// ---- verification failure, abort, ignore, resume -----------------------------------

/// A client that does not trust the server's CA; name "localhost" matches.
fn untrusted_link() -> (Link, Pem, Cfg, Cfg) {
    let ca = Ca::new("Untrusted CA", KeyKind::EcP256);
    let leaf = localhost_leaf(&ca, KeyKind::EcP256);
    let scfg = server_cfg(&leaf);
    let ccfg = client_cfg(None);
    let l = link(&ccfg, &scfg, "localhost");
    (l, leaf, ccfg, scfg)
}

fn assert_untrusted_errors(l: &Link, leaf: &Pem) {
    let errors = l.client.verification_errors();
    assert!(errors.iter().all(|c| is_untrusted_chain_error(*c)), "{errors:?}");
    // OpenSSL reports both for a lone leaf whose issuer is unknown (as in Qt's tests).
    assert_eq!(
        errors,
        vec![
            QDTLS_SSL_ERROR_UNABLE_TO_GET_LOCAL_ISSUER_CERTIFICATE,
            QDTLS_SSL_ERROR_UNABLE_TO_VERIFY_FIRST_CERTIFICATE
        ]
    );
    for (i, _) in errors.iter().enumerate() {
        assert_eq!(l.client.verification_error_cert(i), der(&leaf.cert), "error {i} concerns the leaf");
    }
}

#[test]
fn verification_failure_then_abort_resets_and_tells_the_server() {
    let (mut l, leaf, _c, _s) = untrusted_link();
    assert!(l.handshake(LIMIT), "{}", describe(&l));
    assert_verification_failed(&l.client);
    assert_untrusted_errors(&l, &leaf);
    // OpenSSL finished its handshake, so the server is done.
    assert_eq!(l.server.state(), QDTLS_HANDSHAKE_COMPLETE, "{}", describe(&l));

    assert!(l.client.abort(&l.csock), "{}", l.client.error_string());
    assert_eq!(l.client.error(), QDTLS_ERROR_NO_ERROR);
    assert_eq!(l.client.state(), QDTLS_HANDSHAKE_NOT_STARTED);
    assert!(!l.client.encrypted());
    assert_eq!(l.client.cipher(), "");
    assert_eq!(l.client.protocol(), QDTLS_PROTOCOL_UNKNOWN);
    assert!(l.client.verification_errors().is_empty());
    assert!(l.client.peer_certificate().is_empty());
    assert_eq!(l.client.peer_chain_len(), 0);
    // Nothing left to abort.
    assert!(!l.client.abort(&l.csock));
    assert_eq!(l.client.error(), QDTLS_ERROR_INVALID_OPERATION);

    // The server gets close_notify (documented in qdtls_abort_handshake).
    let deadline = Instant::now() + Duration::from_secs(5);
    let dgram = loop {
        if let Some((d, _)) = recv(&l.ssock) {
            break d;
        }
        assert!(Instant::now() < deadline, "the client sent nothing on abort");
    };
    assert_eq!(l.server.decrypt(&l.ssock, &dgram), None);
    assert_eq!(l.server.error(), QDTLS_ERROR_REMOTE_CLOSED_CONNECTION_ERROR, "{}", l.server.error_string());
    assert_eq!(l.server.state(), QDTLS_HANDSHAKE_NOT_STARTED);
    assert!(!l.server.encrypted());

    // Peer, name and configuration survive the abort: the same pair can try
    // again and fails the same way.
    assert!(l.handshake(LIMIT), "{}", describe(&l));
    assert_verification_failed(&l.client);
    assert_untrusted_errors(&l, &leaf);
    assert_eq!(l.server.state(), QDTLS_HANDSHAKE_COMPLETE, "{}", describe(&l));
}

#[test]
fn verification_failure_then_ignore_and_resume() {
    let (mut l, leaf, _c, _s) = untrusted_link();
    // resume before anything started: InvalidOperation.
    assert!(!l.client.resume(&l.csock));
    assert_eq!(l.client.error(), QDTLS_ERROR_INVALID_OPERATION);
    assert!(l.handshake(LIMIT), "{}", describe(&l));
    assert_verification_failed(&l.client);
    assert_untrusted_errors(&l, &leaf);
    let errors = reported(&l.client);

    // Null socket: InvalidInputParameters, state unchanged.
    assert!(!unsafe { qdtls_resume_handshake(l.client.0, -1) });
    assert_eq!(l.client.error(), QDTLS_ERROR_INVALID_INPUT_PARAMETERS);
    assert_eq!(l.client.state(), QDTLS_PEER_VERIFICATION_FAILED);

    // Nothing ignored: false with NoError.
    assert!(!l.client.resume(&l.csock));
    assert_eq!(l.client.error(), QDTLS_ERROR_NO_ERROR);
    assert_eq!(l.client.state(), QDTLS_PEER_VERIFICATION_FAILED);

    // Only part of them (either one): still false with NoError.
    for part in [&errors[..1], &errors[1..]] {
        assert!(l.client.ignore(part));
        assert!(!l.client.resume(&l.csock));
        assert_eq!(l.client.error(), QDTLS_ERROR_NO_ERROR, "{}", l.client.error_string());
        assert_eq!(l.client.state(), QDTLS_PEER_VERIFICATION_FAILED);
        assert!(!l.client.encrypted());
        assert_eq!(l.client.cipher(), "");
        assert_eq!(l.client.verification_errors().len(), errors.len());
    }
    // The right code with the wrong certificate does not count either.
    let other = der(&self_signed("other", &["localhost"], KeyKind::EcP256).cert);
    let wrong: Vec<(i32, Vec<u8>)> = errors.iter().map(|(c, _)| (*c, other.clone())).collect();
    assert!(l.client.ignore(&wrong));
    assert!(!l.client.resume(&l.csock));
    assert_eq!(l.client.error(), QDTLS_ERROR_NO_ERROR);
    assert_eq!(l.client.state(), QDTLS_PEER_VERIFICATION_FAILED);

    // Exactly what was reported: complete.
    assert!(l.client.ignore(&errors));
    assert!(l.client.resume(&l.csock), "{}", l.client.error_string());
    assert_eq!(l.client.error(), QDTLS_ERROR_NO_ERROR);
    assert_eq!(l.client.state(), QDTLS_HANDSHAKE_COMPLETE);
    assert!(l.client.encrypted());
    assert!(l.client.verification_errors().is_empty());
    assert_eq!(l.client.protocol(), QDTLS_PROTOCOL_DTLS_V1_2);
    assert_eq!(l.client.peer_certificate(), der(&leaf.cert));
    assert_complete(&l);

    // Resume once complete: InvalidOperation.
    assert!(!l.client.resume(&l.csock));
    assert_eq!(l.client.error(), QDTLS_ERROR_INVALID_OPERATION);
    assert_eq!(l.client.state(), QDTLS_HANDSHAKE_COMPLETE);
    // The server never failed verification.
    assert!(!l.server.resume(&l.ssock));
    assert_eq!(l.server.error(), QDTLS_ERROR_INVALID_OPERATION);
}

#[test]
fn resume_while_in_progress_is_an_invalid_operation() {
    let (l, _leaf, _c, _s) = untrusted_link();
    assert!(l.client.handshake(&l.csock, &[]));
    assert_eq!(l.client.state(), QDTLS_HANDSHAKE_IN_PROGRESS);
    assert!(!l.client.resume(&l.csock));
    assert_eq!(l.client.error(), QDTLS_ERROR_INVALID_OPERATION);
    assert_eq!(l.client.state(), QDTLS_HANDSHAKE_IN_PROGRESS);
    // Aborting an unfinished handshake is allowed and resets the object.
    assert!(l.client.abort(&l.csock), "{}", l.client.error_string());
    assert_eq!(l.client.state(), QDTLS_HANDSHAKE_NOT_STARTED);
    assert_eq!(l.client.error(), QDTLS_ERROR_NO_ERROR);
    assert_eq!(l.client.next_timeout_ms(), -1, "no timer after the abort");
}

// ---- preset ignored errors ---------------------------------------------------------

#[test]
fn preset_ignored_errors_let_a_self_signed_server_through() {
    let server = self_signed("localhost", &["localhost"], KeyKind::EcP256);
    let scfg = server_cfg(&server);
    let ccfg = client_cfg(None);

    // Reference run: what does the client report without an ignore list?
    let mut l = link(&ccfg, &scfg, "localhost");
    assert!(l.handshake(LIMIT), "{}", describe(&l));
    assert_verification_failed(&l.client);
    assert_eq!(l.client.verification_errors(), vec![QDTLS_SSL_ERROR_SELF_SIGNED_CERTIFICATE]);
    assert_eq!(l.client.verification_error_cert(0), der(&server.cert));

    // Ignoring SelfSignedCertificate for that certificate: complete directly.
    let mut l = link(&ccfg, &scfg, "localhost");
    assert!(l.client.ignore(&[(QDTLS_SSL_ERROR_SELF_SIGNED_CERTIFICATE, der(&server.cert))]));
    assert!(l.handshake(LIMIT), "{}", describe(&l));
    assert_complete(&l);
    assert_eq!(l.client.peer_certificate(), der(&server.cert));

    // A different name adds HostNameMismatch, which must be ignored too.
    let mut l = link(&ccfg, &scfg, "elsewhere.example");
    assert!(l.client.ignore(&[(QDTLS_SSL_ERROR_SELF_SIGNED_CERTIFICATE, der(&server.cert))]));
    assert!(l.handshake(LIMIT), "{}", describe(&l));
    assert_verification_failed(&l.client);
    assert_eq!(
        l.client.verification_errors(),
        vec![QDTLS_SSL_ERROR_HOST_NAME_MISMATCH, QDTLS_SSL_ERROR_SELF_SIGNED_CERTIFICATE]
    );
    let mut l = link(&ccfg, &scfg, "elsewhere.example");
    assert!(l.client.ignore(&[
        (QDTLS_SSL_ERROR_SELF_SIGNED_CERTIFICATE, der(&server.cert)),
        (QDTLS_SSL_ERROR_HOST_NAME_MISMATCH, der(&server.cert)),
    ]));
    assert!(l.handshake(LIMIT), "{}", describe(&l));
    assert_complete(&l);
}

#[test]
fn preset_ignore_entry_with_another_certificate_does_not_match() {
    let server = self_signed("localhost", &["localhost"], KeyKind::EcP256);
    let other = self_signed("localhost", &["localhost"], KeyKind::EcP256);
    let scfg = server_cfg(&server);
    let ccfg = client_cfg(None);
    let mut l = link(&ccfg, &scfg, "localhost");
    assert!(l.client.ignore(&[(QDTLS_SSL_ERROR_SELF_SIGNED_CERTIFICATE, der(&other.cert))]));
    assert!(l.handshake(LIMIT), "{}", describe(&l));
    assert_verification_failed(&l.client);
    assert_eq!(l.client.verification_errors(), vec![QDTLS_SSL_ERROR_SELF_SIGNED_CERTIFICATE]);
    assert_eq!(l.client.verification_error_cert(0), der(&server.cert));
    // The server's side of the handshake is done regardless.
    assert_eq!(l.server.state(), QDTLS_HANDSHAKE_COMPLETE);
}

#[test]
fn preset_ignore_entry_without_certificate_matches_any() {
    let server = self_signed("localhost", &["localhost"], KeyKind::EcP256);
    let scfg = server_cfg(&server);
    let ccfg = client_cfg(None);
    let mut l = link(&ccfg, &scfg, "localhost");
    assert!(l.client.ignore(&[(QDTLS_SSL_ERROR_SELF_SIGNED_CERTIFICATE, Vec::new())]));
    assert!(l.handshake(LIMIT), "{}", describe(&l));
    assert_complete(&l);
    // But only for that code.
    let mut l = link(&ccfg, &scfg, "elsewhere.example");
    assert!(l.client.ignore(&[(QDTLS_SSL_ERROR_SELF_SIGNED_CERTIFICATE, Vec::new())]));
    assert!(l.handshake(LIMIT), "{}", describe(&l));
    assert_verification_failed(&l.client);
    // An empty list clears the preset list again.
    let mut l = link(&ccfg, &scfg, "localhost");
    assert!(l.client.ignore(&[(QDTLS_SSL_ERROR_SELF_SIGNED_CERTIFICATE, Vec::new())]));
    assert!(l.client.ignore(&[]));
    assert!(l.handshake(LIMIT), "{}", describe(&l));
    assert_verification_failed(&l.client);
}

// ---- server certificate verification on the client ------------------------------------

#[test]
fn server_verification_across_client_verify_modes() {
    let ca = Ca::new("Matrix CA", KeyKind::EcP256);
    let leaf = localhost_leaf(&ca, KeyKind::EcP256);
    let leaf_der = der(&leaf.cert);
    let scfg = server_cfg(&leaf);
    for mode in [QDTLS_VERIFY_NONE, QDTLS_QUERY_PEER, QDTLS_VERIFY_PEER, QDTLS_AUTO_VERIFY_PEER] {
        for ca_present in [true, false] {
            for name_matches in [true, false] {
                let what = format!("mode {mode} ca {ca_present} name match {name_matches}");
                let ccfg = client_cfg(ca_present.then_some(&ca));
                ccfg.verify_mode(mode);
                let name = if name_matches { "localhost" } else { "not-localhost.example" };
                let mut l = link(&ccfg, &scfg, name);
                assert!(l.handshake(LIMIT), "{what}: {}", describe(&l));
                let verifies = mode == QDTLS_VERIFY_PEER || mode == QDTLS_AUTO_VERIFY_PEER;
                if !verifies || (ca_present && name_matches) {
                    assert_complete(&l);
                    assert!(l.client.verification_errors().is_empty(), "{what}: {}", describe(&l));
                    assert_eq!(l.client.peer_certificate(), leaf_der, "{what}");
                    continue;
                }
                assert_verification_failed(&l.client);
                let errors = l.client.verification_errors();
                let chain_errors = if name_matches { &errors[..] } else { &errors[1..] };
                if !name_matches {
                    assert_eq!(errors[0], QDTLS_SSL_ERROR_HOST_NAME_MISMATCH, "{what}: HostNameMismatch first");
                    assert_eq!(l.client.verification_error_cert(0), leaf_der, "{what}");
                }
                if ca_present {
                    assert!(chain_errors.is_empty(), "{what}: {errors:?}");
                } else {
                    assert!(chain_errors.iter().all(|c| is_untrusted_chain_error(*c)), "{what}: {errors:?}");
                    assert_eq!(
                        chain_errors,
                        [
                            QDTLS_SSL_ERROR_UNABLE_TO_GET_LOCAL_ISSUER_CERTIFICATE,
                            QDTLS_SSL_ERROR_UNABLE_TO_VERIFY_FIRST_CERTIFICATE
                        ],
                        "{what}"
                    );
                }
                // The server finished its part; it does not verify the client.
                assert_eq!(l.server.state(), QDTLS_HANDSHAKE_COMPLETE, "{what}");
            }
        }
    }
}

#[test]
fn empty_verification_name_checks_the_peer_address() {
    let ca = Ca::new("IP CA", KeyKind::EcP256);
    let with_ip = ca.issue(&LeafSpec { ips: &["127.0.0.1"], dns: &["localhost"], ..LeafSpec::server("server") });
    let without_ip = localhost_leaf(&ca, KeyKind::EcP256);
    let ccfg = client_cfg(Some(&ca));

    let scfg = server_cfg(&with_ip);
    let mut l = link(&ccfg, &scfg, "");
    assert!(l.handshake(LIMIT), "{}", describe(&l));
    assert_complete(&l);

    let scfg = server_cfg(&without_ip);
    let mut l = link(&ccfg, &scfg, "");
    assert!(l.handshake(LIMIT), "{}", describe(&l));
    assert_verification_failed(&l.client);
    assert_eq!(l.client.verification_errors(), vec![QDTLS_SSL_ERROR_HOST_NAME_MISMATCH]);
    assert_eq!(l.client.verification_error_cert(0), der(&without_ip.cert));
}

// ---- client certificate verification on the server --------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ClientCert {
    None,
    SelfSigned,
    ServerUsage,
    Client,
    ClientWithChain,
}

#[test]
fn client_verification_across_server_verify_modes_and_certificates() {
    let ca = Ca::new("Root CA", KeyKind::EcP256);
    let inter = ca.intermediate("Intermediate CA");
    let server_leaf = localhost_leaf(&ca, KeyKind::EcP256);
    let self_signed_client = self_signed("client", &[], KeyKind::EcP256);
    let server_usage = ca.issue(&LeafSpec::server("client"));
    let client_leaf = ca.issue(&LeafSpec::client("client"));
    let chained_leaf = inter.issue(&LeafSpec::client("chained client"));
    let chained_pem = chain_pem(&[&chained_leaf.cert, &inter.pem.cert]);

    for server_mode in [QDTLS_VERIFY_NONE, QDTLS_QUERY_PEER, QDTLS_VERIFY_PEER, QDTLS_AUTO_VERIFY_PEER] {
        for kind in [
            ClientCert::None,
            ClientCert::SelfSigned,
            ClientCert::ServerUsage,
            ClientCert::Client,
            ClientCert::ClientWithChain,
        ] {
            let what = format!("server mode {server_mode} client cert {kind:?}");
            let scfg = server_cfg(&server_leaf);
            scfg.ca(&ca.pem.cert).verify_mode(server_mode);
            let ccfg = client_cfg(Some(&ca));
            let sent_leaf = match kind {
                ClientCert::None => None,
                ClientCert::SelfSigned => Some((self_signed_client.cert.clone(), &self_signed_client)),
                ClientCert::ServerUsage => Some((server_usage.cert.clone(), &server_usage)),
                ClientCert::Client => Some((client_leaf.cert.clone(), &client_leaf)),
                ClientCert::ClientWithChain => Some((chained_pem.clone(), &chained_leaf)),
            };
            if let Some((chain, id)) = &sent_leaf {
                ccfg.identity(chain, &id.key);
            }
            let mut l = link(&ccfg, &scfg, "localhost");
            assert!(l.handshake(LIMIT), "{what}: {}", describe(&l));

            let expected_error = match kind {
                _ if server_mode != QDTLS_VERIFY_PEER => None,
                ClientCert::None => Some(QDTLS_SSL_ERROR_NO_PEER_CERTIFICATE),
                ClientCert::SelfSigned => Some(QDTLS_SSL_ERROR_SELF_SIGNED_CERTIFICATE),
                ClientCert::ServerUsage => Some(QDTLS_SSL_ERROR_INVALID_PURPOSE),
                ClientCert::Client | ClientCert::ClientWithChain => None,
            };
            match expected_error {
                Some(code) => {
                    assert_verification_failed(&l.server);
                    assert_eq!(l.server.verification_errors(), vec![code], "{what}");
                    // The client verified the server fine and completed.
                    assert_eq!(l.client.state(), QDTLS_HANDSHAKE_COMPLETE, "{what}: {}", describe(&l));
                }
                None => {
                    assert_complete(&l);
                    assert!(l.server.verification_errors().is_empty(), "{what}: {}", describe(&l));
                }
            }
            // What the server saw of the client's certificate: only requested when not VerifyNone.
            match (&sent_leaf, server_mode) {
                (Some((_, id)), m) if m != QDTLS_VERIFY_NONE => {
                    assert_eq!(l.server.peer_certificate(), der(&id.cert), "{what}");
                }
                _ => assert!(l.server.peer_certificate().is_empty(), "{what}"),
            }
            if kind == ClientCert::ClientWithChain && server_mode != QDTLS_VERIFY_NONE {
                assert_eq!(l.server.peer_chain_len(), 2, "{what}: leaf and intermediate");
                assert_eq!(chain_at(&l.server, 0), der(&chained_leaf.cert), "{what}: leaf first");
                assert_eq!(chain_at(&l.server, 1), der(&inter.pem.cert), "{what}");
                assert!(chain_at(&l.server, 2).is_empty());
            }
        }
    }
}

// ---- host name rules --------------------------------------------------------------

#[test]
fn wildcard_and_common_name_host_name_rules() {
    let ca = Ca::new("Names CA", KeyKind::EcP256);
    let ccfg = client_cfg(Some(&ca));
    let wildcard = ca.issue(&LeafSpec { dns: &["*.example.com"], ..LeafSpec::server("wildcard") });
    let cn_only = ca.issue(&LeafSpec::server("cn.example.org"));
    let cases: [(&Pem, &str, bool); 6] = [
        (&wildcard, "www.example.com", true),
        (&wildcard, "WWW.Example.COM", true),
        (&wildcard, "example.com", false),
        (&wildcard, "a.b.example.com", false),
        (&cn_only, "cn.example.org", true),
        (&cn_only, "other.example.org", false),
    ];
    for (cert, name, ok) in cases {
        let scfg = server_cfg(cert);
        let mut l = link(&ccfg, &scfg, name);
        assert!(l.handshake(LIMIT), "{name}: {}", describe(&l));
        if ok {
            assert_complete(&l);
        } else {
            assert_verification_failed(&l.client);
            assert_eq!(l.client.verification_errors(), vec![QDTLS_SSL_ERROR_HOST_NAME_MISMATCH], "{name}");
        }
    }
}

// ---- validity and depth ------------------------------------------------------------

#[test]
fn expired_server_certificate_is_reported() {
    let ca = Ca::new("Expiry CA", KeyKind::EcP256);
    let expired = ca.issue(&LeafSpec { dns: &["localhost"], days_valid: -1, ..LeafSpec::server("server") });
    let scfg = server_cfg(&expired);
    let ccfg = client_cfg(Some(&ca));
    let mut l = link(&ccfg, &scfg, "localhost");
    assert!(l.handshake(LIMIT), "{}", describe(&l));
    assert_verification_failed(&l.client);
    assert_eq!(l.client.verification_errors(), vec![QDTLS_SSL_ERROR_CERTIFICATE_EXPIRED]);
    assert_eq!(l.client.verification_error_cert(0), der(&expired.cert));
}

#[test]
fn a_chain_deeper_than_the_verify_depth_is_reported() {
    // root -> i1 -> i2 -> leaf; the server sends leaf, i2, i1; the client trusts root.
    let root = Ca::new("Depth Root", KeyKind::EcP256);
    let i1 = root.intermediate("Depth I1");
    let i2 = i1.intermediate("Depth I2");
    let leaf = i2.issue(&LeafSpec { dns: &["localhost"], ..LeafSpec::server("server") });
    let chain = chain_pem(&[&leaf.cert, &i2.pem.cert, &i1.pem.cert]);
    let scfg = Cfg::new();
    scfg.cookies(false).identity(&chain, &leaf.key);

    // Unlimited (0) and a sufficient depth: complete.
    for depth in [0, 3] {
        let ccfg = client_cfg(Some(&root));
        assert!(unsafe { qdtls_configuration_set_peer_verify_depth(ccfg.0, depth) });
        let mut l = link(&ccfg, &scfg, "localhost");
        assert!(l.handshake(LIMIT), "depth {depth}: {}", describe(&l));
        assert_complete(&l);
        assert_eq!(l.client.peer_chain_len(), 3, "depth {depth}");
    }

    // Depth 1: OpenSSL builds at most depth + 1 = 2 levels above the leaf
    // (leaf, I2, I1) without reaching the trusted root, so build_chain()
    // reports X509_V_ERR_CERT_CHAIN_TOO_LONG (22) at depth num - 1 (I1).
    // Qt's mapping does not know it: UnspecifiedError. Its CB_FAIL_IF only
    // stops when the callback refuses; ours (like Qt's) collects and goes on,
    // so OpenSSL then reports why the truncated chain is untrusted, again at
    // I1: X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY (20, every certificate
    // came from the peer) -> UnableToGetLocalIssuerCertificate.
    let ccfg = client_cfg(Some(&root));
    assert!(unsafe { qdtls_configuration_set_peer_verify_depth(ccfg.0, 1) });
    let mut l = link(&ccfg, &scfg, "localhost");
    assert!(l.handshake(LIMIT), "{}", describe(&l));
    assert_verification_failed(&l.client);
    assert_eq!(
        l.client.verification_errors(),
        vec![QDTLS_SSL_ERROR_UNSPECIFIED_ERROR, QDTLS_SSL_ERROR_UNABLE_TO_GET_LOCAL_ISSUER_CERTIFICATE],
        "{}",
        describe(&l)
    );
    assert_eq!(l.client.verification_error_cert(0), der(&i1.pem.cert));
    assert_eq!(l.client.verification_error_cert(1), der(&i1.pem.cert));
}
