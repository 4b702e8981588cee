//! PSK handshakes, retransmission and timers, over real UDP sockets.

mod common;

use std::time::Duration;

use common::harness::*;
use qdtls::ffi::*;

#[test]
fn psk_handshake_completes_and_both_sides_agree() {
    let (cp, sp) = (
        Psk::new(b"Client_and_Server", b"\x12\x34\x56\x78\x9a\xbc\xde\xf0"),
        Psk::new(b"", b"\x12\x34\x56\x78\x9a\xbc\xde\xf0"),
    );
    let cfg = Cfg::psk();
    cfg.hint(b"hint from server");
    let mut l =
        Link::new(Dtls::client().with_config(&cfg).with_psk(&cp), Dtls::server().with_config(&cfg).with_psk(&sp));
    assert!(
        l.handshake(Duration::from_secs(10)),
        "client {} / server {}",
        l.client.error_string(),
        l.server.error_string()
    );
    assert_eq!(l.client.state(), QDTLS_HANDSHAKE_COMPLETE);
    assert_eq!(l.server.state(), QDTLS_HANDSHAKE_COMPLETE);
    assert!(l.client.encrypted() && l.server.encrypted());
    assert_eq!(l.client.cipher(), l.server.cipher());
    assert!(l.client.cipher().contains("PSK"), "{}", l.client.cipher());
    assert_eq!(l.client.protocol(), QDTLS_PROTOCOL_DTLS_V1_2);
    assert_eq!(l.server.protocol(), QDTLS_PROTOCOL_DTLS_V1_2);
    // Both sides were asked, with Qt's authenticator semantics.
    assert_eq!(cp.calls.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(sp.calls.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(*cp.seen_hint.lock().unwrap(), b"hint from server");
    // Qt's rule: OpenSSL's room for the identity minus the terminating NUL
    // (OpenSSL 3 gives 256 bytes; OpenSSL 1.0 gave 128, hence Qt's old 127).
    assert_eq!(*cp.seen_max_identity.lock().unwrap(), 255);
    // OpenSSL 3 allows 512 bytes (Qt passes on what OpenSSL allows; 256 with OpenSSL 1.x).
    assert_eq!(*cp.seen_max_key.lock().unwrap(), 512);
    assert_eq!(*sp.seen_identity.lock().unwrap(), b"Client_and_Server");
    assert_eq!(*sp.seen_hint.lock().unwrap(), b"hint from server");
    assert_eq!(*sp.seen_max_identity.lock().unwrap(), 0);
    assert_eq!(l.send(true, b"hello").as_deref(), Some(&b"hello"[..]));
    assert_eq!(l.send(false, b"world").as_deref(), Some(&b"world"[..]));
}

#[test]
fn psk_with_wrong_key_never_completes_and_gives_up() {
    // A wrong key shows as a bad MAC on Finished, which DTLS discards
    // silently (RFC 6347 4.1.2.7): the handshake stalls until the retry limit.
    let (cp, sp) = (Psk::new(b"id", b"right key"), Psk::new(b"", b"wrong key"));
    let mut l = Link::psk(&cp, &sp);
    for d in [&l.client, &l.server] {
        assert!(unsafe { qdtls::ffi::dtls::qdtls_set_initial_timeout_ms(d.0, 1) });
    }
    assert!(!l.handshake(Duration::from_secs(30)));
    assert!(!l.client.encrypted() && !l.server.encrypted());
    assert_eq!(l.client.state(), QDTLS_HANDSHAKE_NOT_STARTED);
    assert_eq!(l.client.error(), QDTLS_ERROR_TLS_FATAL_ERROR, "{}", l.client.error_string());
}

#[test]
fn psk_with_empty_key_fails_the_handshake() {
    let (cp, sp) = (Psk::new(b"id", b""), Psk::new(b"", b"key"));
    let mut l = Link::psk(&cp, &sp);
    assert!(!l.handshake(Duration::from_secs(3)));
    assert_eq!(l.client.state(), QDTLS_HANDSHAKE_NOT_STARTED);
    assert_eq!(l.client.error(), QDTLS_ERROR_TLS_FATAL_ERROR);
}

#[test]
fn retransmission_completes_when_first_datagram_of_each_side_is_lost() {
    let (cp, sp) = (Psk::new(b"id", b"secret"), Psk::new(b"", b"secret"));
    let mut l = Link::psk(&cp, &sp);
    // Short first timeout keeps the test quick; the doubling is OpenSSL's.
    for d in [&l.client, &l.server] {
        assert!(unsafe { qdtls::ffi::dtls::qdtls_set_initial_timeout_ms(d.0, 100) });
    }
    l.drop_rule = Box::new(|_, idx| idx == 0);
    assert!(
        l.handshake(Duration::from_secs(20)),
        "client {} / server {}",
        l.client.error_string(),
        l.server.error_string()
    );
    assert!(l.client.encrypted() && l.server.encrypted());
    assert_eq!(l.send(true, b"after loss").as_deref(), Some(&b"after loss"[..]));
}

#[test]
fn next_timeout_runs_only_during_a_handshake_and_counts_milliseconds() {
    let (cp, sp) = (Psk::new(b"id", b"secret"), Psk::new(b"", b"secret"));
    let l = Link::psk(&cp, &sp);
    assert_eq!(l.client.next_timeout_ms(), -1);
    assert!(!l.client.handle_timeout(&l.csock), "nothing to retransmit before a handshake");
    assert_eq!(l.client.error(), QDTLS_ERROR_NO_ERROR);
    assert!(l.client.handshake(&l.csock, &[]));
    let t = l.client.next_timeout_ms();
    assert!((900..=1000).contains(&t), "first timeout ~1 s, got {t} ms");
    // Not due yet: no retransmission.
    assert!(!l.client.handle_timeout(&l.csock));
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(l.client.next_timeout_ms(), 0);
    assert!(recv(&l.ssock).is_some(), "the first ClientHello");
    assert!(l.client.handle_timeout(&l.csock), "due: retransmits");
    assert!(recv(&l.ssock).is_some(), "the retransmitted ClientHello");
    let t = l.client.next_timeout_ms();
    assert!((1900..=2000).contains(&t), "doubled to ~2 s, got {t} ms");
}

#[test]
fn a_peer_that_never_answers_ends_in_tls_fatal_error() {
    let c = Dtls::client().with_config(&Cfg::psk());
    let s = udp();
    let silent = udp();
    assert!(c.set_peer(silent.local_addr().unwrap(), ""));
    assert!(unsafe { qdtls::ffi::dtls::qdtls_set_initial_timeout_ms(c.0, 1) });
    assert!(c.handshake(&s, &[]));
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while c.state() == QDTLS_HANDSHAKE_IN_PROGRESS && std::time::Instant::now() < deadline {
        let t = c.next_timeout_ms();
        std::thread::sleep(Duration::from_millis(t.max(0) as u64));
        c.handle_timeout(&s);
    }
    assert_eq!(c.state(), QDTLS_HANDSHAKE_NOT_STARTED);
    assert_eq!(c.error(), QDTLS_ERROR_TLS_FATAL_ERROR);
    assert!(c.error_string().contains("timed out"), "{}", c.error_string());
}
