//! The Rust API over real UDP sockets: a certificate handshake with the
//! verifier in front, verification errors with ignore and resume, and
//! errors as `Result`s carrying Qt's kinds.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use common::certs::*;
use qdtls::{
    ClientVerifier, Configuration, CookieHash, Dtls, DtlsError, GeneratorParameters, HandshakeState, PeerVerifyMode,
    SslErrorCode, SslMode,
};

fn socket() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

fn recv(s: &UdpSocket) -> (Vec<u8>, SocketAddr) {
    let mut buf = vec![0u8; 65536];
    let (n, from) = s.recv_from(&mut buf).expect("a datagram within 5 s");
    buf.truncate(n);
    (buf, from)
}

/// Pumps datagrams until neither side is in progress.
fn pump(client: &Dtls, cs: &mut UdpSocket, server: &Dtls, ss: &mut UdpSocket) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = vec![0u8; 65536];
    let busy = |d: &Dtls| d.handshake_state() == HandshakeState::InProgress;
    while (busy(client) || busy(server)) && Instant::now() < deadline {
        for (d, s) in [(server, &mut *ss), (client, &mut *cs)] {
            s.set_read_timeout(Some(Duration::from_millis(10))).unwrap();
            if let Ok(n) = s.recv(&mut buf) {
                let starts = d.ssl_mode() == SslMode::Server && d.handshake_state() == HandshakeState::NotStarted;
                if busy(d) || starts {
                    // A verification failure is an Err too; the states tell.
                    let _ = d.do_handshake(s, &buf[..n]);
                }
            }
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        }
    }
}

#[test]
fn certificate_handshake_behind_the_verifier() {
    let ca = Ca::new("rust api CA", KeyKind::EcP256);
    let id = ca.issue(&LeafSpec { dns: &["localhost"], ..LeafSpec::server("localhost") });
    let (mut cs, mut ss) = (socket(), socket());

    let mut server_cfg = Configuration::new();
    server_cfg.set_local_certificate_chain_pem(id.cert.as_bytes()).unwrap();
    server_cfg.set_private_key_pem(id.key.as_bytes(), None).unwrap();
    let mut client_cfg = Configuration::new();
    client_cfg.add_ca_certificates_pem(ca.pem.cert.as_bytes()).unwrap();

    let client = Dtls::new(SslMode::Client);
    client.set_dtls_configuration(&client_cfg).unwrap();
    client.set_peer(ss.local_addr().unwrap(), "localhost").unwrap();
    client.do_handshake(&mut cs, &[]).unwrap();

    // The verifier answers the cookie-less hello; the second one verifies.
    let verifier = ClientVerifier::new();
    let params = GeneratorParameters::new(CookieHash::Sha384, b"a secret of the server's");
    verifier.set_cookie_generator_parameters(&params).unwrap();
    let (hello, from) = recv(&ss);
    assert_eq!(verifier.verify_client(&mut ss, &hello, from), Ok(false));
    let (hvr, _) = recv(&cs);
    client.do_handshake(&mut cs, &hvr).unwrap();
    let (hello, from) = recv(&ss);
    assert_eq!(verifier.verify_client(&mut ss, &hello, from), Ok(true));

    let server = Dtls::new(SslMode::Server);
    server.set_dtls_configuration(&server_cfg).unwrap();
    server.set_cookie_generator_parameters(&params).unwrap();
    server.set_peer(from, "").unwrap();
    server.do_handshake(&mut ss, &verifier.verified_hello()).unwrap();
    pump(&client, &mut cs, &server, &mut ss);
    assert_eq!(client.handshake_state(), HandshakeState::Complete);
    assert!(server.is_connection_encrypted());
    assert_eq!(client.peer_certificate().unwrap().to_der(), ossl_der(&id.cert));

    client.write_datagram_encrypted(&mut cs, b"ping").unwrap();
    let (d, _) = recv(&ss);
    assert_eq!(server.decrypt_datagram(&mut ss, &d).unwrap(), b"ping");
    server.shutdown(&mut ss).unwrap();
    let (d, _) = recv(&cs);
    let err = client.decrypt_datagram(&mut cs, &d).unwrap_err();
    assert_eq!(err.kind(), DtlsError::RemoteClosedConnectionError);
}

fn ossl_der(pem: &str) -> Vec<u8> {
    openssl::x509::X509::from_pem(pem.as_bytes()).unwrap().to_der().unwrap()
}

#[test]
fn verification_errors_can_be_ignored_and_the_handshake_resumed() {
    let id = self_signed("localhost", &["localhost"], KeyKind::EcP256);
    let (mut cs, mut ss) = (socket(), socket());
    let mut server_cfg = Configuration::new();
    server_cfg.set_dtls_cookie_verification_enabled(false);
    server_cfg.set_local_certificate_chain_pem(id.cert.as_bytes()).unwrap();
    server_cfg.set_private_key_pem(id.key.as_bytes(), None).unwrap();

    let client = Dtls::new(SslMode::Client);
    client.set_peer(ss.local_addr().unwrap(), "wrong.name").unwrap();
    let server = Dtls::new(SslMode::Server);
    server.set_dtls_configuration(&server_cfg).unwrap();
    server.set_peer(cs.local_addr().unwrap(), "").unwrap();
    client.do_handshake(&mut cs, &[]).unwrap();
    pump(&client, &mut cs, &server, &mut ss);

    assert_eq!(client.handshake_state(), HandshakeState::PeerVerificationFailed);
    let errors = client.peer_verification_errors();
    let codes: Vec<SslErrorCode> = errors.iter().map(|e| e.code).collect();
    assert_eq!(codes, [SslErrorCode::HostNameMismatch, SslErrorCode::SelfSignedCertificate]);
    // Not all ignored: resuming fails with Qt's error.
    client.ignore_verification_errors(&errors[..1]);
    assert_eq!(client.resume_handshake(&mut cs).unwrap_err().kind(), DtlsError::PeerVerificationError);
    client.ignore_verification_errors(&errors);
    client.resume_handshake(&mut cs).unwrap();
    assert!(client.is_connection_encrypted());
}

#[test]
fn errors_carry_qt_kinds_and_messages() {
    let mut s = socket();
    let dtls = Dtls::new(SslMode::Client);
    let e = dtls.write_datagram_encrypted(&mut s, b"too early").unwrap_err();
    assert_eq!(e.kind(), DtlsError::InvalidOperation);
    assert!(!e.message().is_empty());
    let e = dtls.do_handshake(&mut s, &[]).unwrap_err();
    assert_eq!(e.kind(), DtlsError::InvalidOperation, "{e}"); // no peer yet
    let e = dtls.set_peer("224.0.0.1:5000".parse().unwrap(), "").unwrap_err();
    assert_eq!(e.kind(), DtlsError::InvalidInputParameters);

    let server = Dtls::new(SslMode::Server);
    server.set_peer(s.local_addr().unwrap(), "").unwrap();
    let e = server.do_handshake(&mut s, &[]).unwrap_err();
    assert_eq!(e.kind(), DtlsError::InvalidInputParameters);

    let mut cfg = Configuration::new();
    assert_eq!(cfg.set_ciphers(Some("NOT-A-CIPHER")).unwrap_err().kind(), DtlsError::InvalidInputParameters);
    assert!(cfg.set_private_key_pem(b"not a key", None).is_err());
    assert!(cfg.set_pre_shared_key_identity_hint(b"a\0b").is_err());
    assert!(cfg.set_allowed_next_protocols(&[b"".as_slice()]).is_err());
    cfg.set_peer_verify_mode(PeerVerifyMode::QueryPeer);
    assert_eq!(cfg.peer_verify_mode(), PeerVerifyMode::QueryPeer);

    let v = ClientVerifier::new();
    assert!(v.set_cookie_generator_parameters(&GeneratorParameters::new(CookieHash::Sha256, b"")).is_err());
    let e = v.verify_client(&mut s, &[], "127.0.0.1:1".parse().unwrap()).unwrap_err();
    assert_eq!(e.kind(), DtlsError::InvalidInputParameters);
    assert_eq!(v.verify_client(&mut s, b"garbage", "127.0.0.1:1".parse().unwrap()), Ok(false));
}

/// A panic in the application's PSK callback, which runs inside OpenSSL,
/// must not unwind into C (that aborts the process) and must not let the
/// handshake go on with whatever the callback set before it panicked.
#[test]
fn a_panicking_psk_callback_fails_the_handshake() {
    let (mut cs, mut ss) = (socket(), socket());
    let mut cfg = Configuration::new();
    cfg.set_peer_verify_mode(PeerVerifyMode::VerifyNone);
    cfg.set_dtls_cookie_verification_enabled(false);
    let client = Dtls::new(SslMode::Client);
    let server = Dtls::new(SslMode::Server);
    for (d, peer) in [(&client, ss.local_addr().unwrap()), (&server, cs.local_addr().unwrap())] {
        d.set_dtls_configuration(&cfg).unwrap();
        d.set_peer(peer, "").unwrap();
    }
    client.set_psk_callback(|a| {
        a.set_identity(b"client");
        a.set_pre_shared_key(b"key");
        panic!("a bug in the application's callback");
    });
    server.set_psk_callback(|a| a.set_pre_shared_key(b"key"));
    let quiet = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    client.do_handshake(&mut cs, &[]).unwrap();
    pump(&client, &mut cs, &server, &mut ss);
    std::panic::set_hook(quiet);
    assert_eq!(client.handshake_state(), HandshakeState::NotStarted);
    assert!(!client.is_connection_encrypted() && !server.is_connection_encrypted());

    // The same objects still work afterwards.
    client.set_psk_callback(|a| {
        a.set_identity(b"client");
        a.set_pre_shared_key(b"key");
    });
    let server = Dtls::new(SslMode::Server);
    server.set_dtls_configuration(&cfg).unwrap();
    server.set_peer(cs.local_addr().unwrap(), "").unwrap();
    server.set_psk_callback(|a| a.set_pre_shared_key(b"key"));
    while let Ok(n) = {
        ss.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        ss.recv(&mut [0u8; 2048])
    } {
        let _ = n; // drain what the failed attempt left
    }
    client.do_handshake(&mut cs, &[]).unwrap();
    pump(&client, &mut cs, &server, &mut ss);
    assert!(client.is_connection_encrypted());
}
