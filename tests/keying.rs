//! The RFC 5705 exporter, DTLS-SRTP, ALPN and session resumption between
//! two qdtls peers over loopback (interop with openssl and gnutls is in
//! tests/interop_keying.rs).

mod common;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use common::certs::*;
use qdtls::{Configuration, Dtls, DtlsError, HandshakeState, PeerVerifyMode, SrtpProfile, SslMode};

/// Ticket keys are process-wide: the test that rotates them runs alone
/// among the tests that resume.
static TICKET_KEYS: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn socket() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(10))).unwrap();
    s
}

struct Pair {
    client: Dtls,
    server: Dtls,
    cs: UdpSocket,
    ss: UdpSocket,
}

/// A completed certificate handshake with `client_cfg` / `server_cfg`.
fn handshake(client: Dtls, client_cfg: &Configuration, server_cfg: &Configuration) -> Pair {
    let (mut cs, mut ss) = (socket(), socket());
    let server = Dtls::new(SslMode::Server);
    client.set_dtls_configuration(client_cfg).unwrap();
    server.set_dtls_configuration(server_cfg).unwrap();
    client.set_peer(ss.local_addr().unwrap(), "localhost").unwrap();
    server.set_peer(cs.local_addr().unwrap(), "").unwrap();
    client.do_handshake(&mut cs, &[]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = vec![0u8; 65536];
    let busy = |d: &Dtls| d.handshake_state() == HandshakeState::InProgress;
    while (busy(&client) || busy(&server) || server.handshake_state() == HandshakeState::NotStarted)
        && Instant::now() < deadline
    {
        if let Ok(n) = ss.recv(&mut buf) {
            server.do_handshake(&mut ss, &buf[..n]).unwrap();
        }
        if let Ok(n) = cs.recv(&mut buf) {
            client.do_handshake(&mut cs, &buf[..n]).unwrap();
        }
    }
    assert_eq!(client.handshake_state(), HandshakeState::Complete);
    assert_eq!(server.handshake_state(), HandshakeState::Complete);
    Pair { client, server, cs, ss }
}

fn configs() -> (Configuration, Configuration) {
    let ca = Ca::new("keying CA", KeyKind::EcP256);
    let id = ca.issue(&LeafSpec { dns: &["localhost"], ..LeafSpec::server("localhost") });
    let mut server = Configuration::new();
    server.set_dtls_cookie_verification_enabled(false);
    server.set_local_certificate_chain_pem(id.cert.as_bytes()).unwrap();
    server.set_private_key_pem(id.key.as_bytes(), None).unwrap();
    let mut client = Configuration::new();
    client.add_ca_certificates_pem(ca.pem.cert.as_bytes()).unwrap();
    (client, server)
}

#[test]
fn both_sides_export_the_same_keying_material() {
    let (c, s) = configs();
    let p = handshake(Dtls::new(SslMode::Client), &c, &s);
    let (mut a, mut b) = ([0u8; 48], [0u8; 48]);
    p.client.export_keying_material("EXPERIMENTAL test", Some(b"ctx"), &mut a).unwrap();
    p.server.export_keying_material("EXPERIMENTAL test", Some(b"ctx"), &mut b).unwrap();
    assert_eq!(a, b);
    assert_ne!(a, [0u8; 48]);
    // No context and an empty one are different inputs (RFC 5705).
    let (mut none, mut empty) = ([0u8; 32], [0u8; 32]);
    p.client.export_keying_material("EXPERIMENTAL test", None, &mut none).unwrap();
    p.client.export_keying_material("EXPERIMENTAL test", Some(b""), &mut empty).unwrap();
    assert_ne!(none, empty);
    // Not before the handshake.
    let fresh = Dtls::new(SslMode::Client);
    let e = fresh.export_keying_material("EXPERIMENTAL test", None, &mut none).unwrap_err();
    assert_eq!(e.kind(), DtlsError::InvalidOperation);
}

#[test]
fn srtp_profiles_negotiate_and_keys_match() {
    let (mut c, mut s) = configs();
    c.set_srtp_profiles(&[SrtpProfile::Aes128CmSha1_32, SrtpProfile::AeadAes256Gcm]).unwrap();
    s.set_srtp_profiles(&[SrtpProfile::AeadAes256Gcm, SrtpProfile::Aes128CmSha1_80, SrtpProfile::Aes128CmSha1_32])
        .unwrap();
    assert!(c.set_srtp_profiles(&[SrtpProfile::AeadAes128Gcm, SrtpProfile::AeadAes128Gcm]).is_err());
    let p = handshake(Dtls::new(SslMode::Client), &c, &s);
    // The server's preference among what the client offers.
    assert_eq!(p.client.selected_srtp_profile(), Some(SrtpProfile::AeadAes256Gcm));
    assert_eq!(p.server.selected_srtp_profile(), Some(SrtpProfile::AeadAes256Gcm));
    let (kc, ks) = (p.client.srtp_keying_material().unwrap(), p.server.srtp_keying_material().unwrap());
    assert!(kc == ks);
    assert_eq!((kc.client_key.len(), kc.client_salt.len()), (32, 12));
    assert_ne!(kc.client_key, kc.server_key);
    // RFC 5764 4.2: the exporter output, cut in order.
    let mut raw = [0u8; 88];
    p.client.export_keying_material("EXTRACTOR-dtls_srtp", None, &mut raw).unwrap();
    assert_eq!(raw[..32], kc.client_key[..]);
    assert_eq!(raw[32..64], kc.server_key[..]);
    assert_eq!(raw[64..76], kc.client_salt[..]);
    assert_eq!(raw[76..], kc.server_salt[..]);
}

#[test]
fn without_srtp_there_are_no_srtp_keys() {
    let (c, s) = configs();
    let p = handshake(Dtls::new(SslMode::Client), &c, &s);
    assert_eq!(p.client.selected_srtp_profile(), None);
    assert!(p.client.srtp_keying_material().is_err());
}

#[test]
fn alpn_negotiates_with_the_server_preference() {
    let (mut c, mut s) = configs();
    c.set_allowed_next_protocols(&[b"coap".as_slice(), b"webrtc".as_slice()]).unwrap();
    s.set_allowed_next_protocols(&[b"webrtc".as_slice(), b"coap".as_slice()]).unwrap();
    let p = handshake(Dtls::new(SslMode::Client), &c, &s);
    assert_eq!(p.client.negotiated_application_protocol().as_deref(), Some(&b"webrtc"[..]));
    assert_eq!(p.server.negotiated_application_protocol().as_deref(), Some(&b"webrtc"[..]));
}

#[test]
fn a_session_resumes_only_when_resumption_is_on() {
    let _keys = TICKET_KEYS.lock().unwrap_or_else(|e| e.into_inner());
    // Off (the default): no session data, every handshake is full.
    let (c, s) = configs();
    let p = handshake(Dtls::new(SslMode::Client), &c, &s);
    assert!(p.client.session_data().is_none());
    assert!(!p.client.session_resumed());

    let (mut c, mut s) = configs();
    c.set_session_resumption(true);
    s.set_session_resumption(true);
    let first = handshake(Dtls::new(SslMode::Client), &c, &s);
    assert!(!first.client.session_resumed());
    let data = first.client.session_data().expect("session data");

    let again = Dtls::new(SslMode::Client);
    again.set_session_data(&data).unwrap();
    let second = handshake(again, &c, &s);
    assert!(second.client.session_resumed(), "the second handshake should be abbreviated");
    assert!(second.server.session_resumed());
    // Data still flows.
    let (mut cs, mut ss) = (second.cs, second.ss);
    second.client.write_datagram_encrypted(&mut cs, b"resumed").unwrap();
    let mut buf = [0u8; 2048];
    let n = ss.recv(&mut buf).unwrap();
    assert_eq!(second.server.decrypt_datagram(&mut ss, &buf[..n]).unwrap(), b"resumed");

    // Garbage is refused as session data.
    let d = Dtls::new(SslMode::Client);
    assert_eq!(d.set_session_data(b"not a session").unwrap_err().kind(), DtlsError::InvalidInputParameters);
}

#[test]
fn a_rotated_ticket_key_still_resumes_then_two_rotations_do_not() {
    let _keys = TICKET_KEYS.lock().unwrap_or_else(|e| e.into_inner());
    let (mut c, mut s) = configs();
    c.set_session_resumption(true);
    s.set_session_resumption(true);
    c.set_peer_verify_mode(PeerVerifyMode::VerifyPeer);
    let first = handshake(Dtls::new(SslMode::Client), &c, &s);
    let data = first.client.session_data().unwrap();
    qdtls::__private::rotate_ticket_keys();
    let d = Dtls::new(SslMode::Client);
    d.set_session_data(&data).unwrap();
    let p = handshake(d, &c, &s);
    assert!(p.client.session_resumed(), "one rotation: the previous key still opens the ticket");

    // Two rotations: the key is gone, the ticket opens nothing, and the
    // session cache is the only way back. Without the cache (a new server
    // configuration, so a new context) the handshake is a full one.
    qdtls::__private::rotate_ticket_keys();
    qdtls::__private::rotate_ticket_keys();
    let mut fresh_server = s.clone();
    fresh_server.set_peer_verify_depth(9).unwrap(); // other content: another context, an empty cache
    let d = Dtls::new(SslMode::Client);
    d.set_session_data(&data).unwrap();
    let p = handshake(d, &c, &fresh_server);
    assert!(!p.client.session_resumed(), "two rotations: the ticket's key is gone");
}

/// A client resuming a session through a ClientVerifier's cookie exchange:
/// the HelloVerifyRequest carries DTLS 1.0's record version (RFC 6347
/// 4.2.1), which the resuming client (already holding the session's DTLS
/// 1.2 cipher) once dropped, retransmitting its cookie-less hello forever.
#[test]
fn a_session_resumes_through_a_cookie_exchange() {
    let _keys = TICKET_KEYS.lock().unwrap_or_else(|e| e.into_inner());
    use qdtls::ClientVerifier;
    let (mut c, mut s) = configs();
    c.set_session_resumption(true);
    s.set_session_resumption(true);
    s.set_dtls_cookie_verification_enabled(true);
    let run = |session: Option<&[u8]>| -> Dtls {
        let (mut cs, mut ss) = (socket(), socket());
        let client = Dtls::new(SslMode::Client);
        client.set_dtls_configuration(&c).unwrap();
        if let Some(d) = session {
            client.set_session_data(d).unwrap();
        }
        client.set_peer(ss.local_addr().unwrap(), "localhost").unwrap();
        client.do_handshake(&mut cs, &[]).unwrap();
        let verifier = ClientVerifier::new();
        let server = Dtls::new(SslMode::Server);
        server.set_dtls_configuration(&s).unwrap();
        let mut buf = vec![0u8; 65536];
        let deadline = Instant::now() + Duration::from_secs(10);
        while client.handshake_state() != HandshakeState::Complete && Instant::now() < deadline {
            if let Ok((n, from)) = ss.recv_from(&mut buf) {
                if server.handshake_state() == HandshakeState::NotStarted {
                    if verifier.verify_client(&mut ss, &buf[..n], from).unwrap() {
                        server.set_peer(from, "").unwrap();
                        server.do_handshake(&mut ss, &verifier.verified_hello()).unwrap();
                    }
                } else {
                    server.do_handshake(&mut ss, &buf[..n]).unwrap();
                }
            }
            if let Ok(n) = cs.recv(&mut buf) {
                client.do_handshake(&mut cs, &buf[..n]).unwrap();
            }
            if client.next_timeout() == Some(Duration::ZERO) {
                client.handle_timeout(&mut cs).unwrap();
            }
        }
        assert_eq!(client.handshake_state(), HandshakeState::Complete, "no handshake through the cookie exchange");
        client
    };
    let first = run(None);
    let data = first.session_data().unwrap();
    let second = run(Some(&data));
    assert!(second.session_resumed());
}
