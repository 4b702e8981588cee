//! Loss on the in-memory pipe with virtual time: each flight lost once, a
//! flight lost repeatedly, the last flight lost, random loss with fixed
//! seeds, and a fragmented certificate handshake losing one fragment.
//!
//! A PSK handshake without cookies is four flights: client ClientHello (F1);
//! server ServerHello+ServerHelloDone (F2); client ClientKeyExchange,
//! ChangeCipherSpec, Finished (F3); server ChangeCipherSpec, Finished (F4;
//! no NewSessionTicket: resumption is off by default). OpenSSL packs each flight into one
//! datagram, and retransmits it as one datagram per message.

mod common;

use std::time::Duration;

use common::certs::{Ca, KeyKind, LeafSpec};
use common::pipe::*;
use common::rng::Rng;
use qdtls::{Configuration, HandshakeState, PeerVerifyMode};

const S: fn(u64) -> Duration = Duration::from_secs;

/// Drops the first transmission of one flight: (side, index of its first datagram).
fn lose_once(flight: (Side, usize)) -> impl FnMut(Side, usize, &[u8]) -> Fate {
    move |from, n, _| if (from, n) == flight { Fate::Drop } else { Fate::Deliver }
}

fn assert_open(p: &mut Pipe) {
    assert!(p.both_complete(), "client {:?}, server {:?}", p.client, p.server);
    assert_eq!(p.echo(Side::Client, b"ping"), b"ping");
    assert_eq!(p.echo(Side::Server, b"pong"), b"pong");
    assert_eq!(p.next_timeout(Side::Client), None);
    assert_eq!(p.next_timeout(Side::Server), None);
}

#[test]
fn no_loss_is_four_datagrams_and_no_timer() {
    let mut p = Pipe::psk();
    p.start();
    let log = p.run(|_, _, _| Fate::Deliver);
    assert_eq!(log.sent, [2, 2]);
    assert!(log.fired.is_empty(), "{:?}", log.fired);
    assert_open(&mut p);
}

#[test]
fn client_hello_lost_once() {
    let mut p = Pipe::psk();
    p.start();
    let log = p.run(lose_once((Side::Client, 0)));
    assert_eq!(log.fired, [(Side::Client, S(1))]);
    assert_eq!(log.sent, [3, 2]);
    assert_open(&mut p);
}

#[test]
fn server_hello_flight_lost_once() {
    let mut p = Pipe::psk();
    p.start();
    let log = p.run(lose_once((Side::Server, 0)));
    // Both wait since the same instant: both retransmit after 1 s.
    assert_eq!(log.fired, [(Side::Client, S(1)), (Side::Server, S(1))]);
    assert_eq!(log.retransmissions, [1, 1]);
    // The duplicate ClientHello gets no answer of its own.
    assert_eq!(log.sent, [3, 1 + 2 + 1]);
    assert_open(&mut p);
}

#[test]
fn client_finished_flight_lost_once() {
    let mut p = Pipe::psk();
    p.start();
    let log = p.run(lose_once((Side::Client, 1)));
    // The server's F2 timer runs too (it has not seen F3): both retransmit.
    assert_eq!(log.fired, [(Side::Client, S(1)), (Side::Server, S(1))]);
    assert_eq!(log.sent, [1 + 1 + 3, 1 + 2 + 1]);
    assert_open(&mut p);
}

#[test]
fn server_finished_flight_lost_once_and_the_complete_server_answers_the_retransmission() {
    let mut p = Pipe::psk();
    p.start();
    let log = p.run(lose_once((Side::Server, 1)));
    // Only the client has a timer: the server completed when it sent F4.
    assert_eq!(log.fired, [(Side::Client, S(1))]);
    // The server sent F4 twice: packed, then one datagram per message
    // (ChangeCipherSpec, Finished: no NewSessionTicket with resumption off).
    assert_eq!(log.sent, [1 + 1 + 3, 1 + 1 + 2]);
    assert_open(&mut p);
}

#[test]
fn last_flight_lost_step_by_step() {
    let mut p = Pipe::psk();
    p.start();
    p.forward(Side::Client);
    p.forward(Side::Server);
    p.forward(Side::Client);
    assert_eq!(p.state(Side::Server), HandshakeState::Complete);
    let lost = p.take(Side::Server);
    assert_eq!(lost.len(), 1);
    // The client retransmits its flight (one datagram per record)...
    assert_eq!(p.expire(Side::Client), (S(1), Ok(true)));
    let again = p.take(Side::Client);
    assert_eq!(again.len(), 3);
    // ...and the complete server, fed it through decrypt_datagram, resends F4 once.
    for d in &again {
        assert_eq!(p.deliver(Side::Server, d).unwrap(), b"");
    }
    let resent = p.take(Side::Server);
    assert_eq!(resent.iter().map(|d| describe(d)).collect::<Vec<_>>(), ["ChangeCipherSpec", "Encrypted handshake"]);
    p.deliver_ok(Side::Client, &resent);
    assert_open(&mut p);
}

#[test]
fn client_hello_lost_repeatedly_completes_after_the_doubled_waits() {
    for losses in 1..=8usize {
        let mut p = Pipe::psk();
        p.start();
        let log = p.run(|from, n, _| if from == Side::Client && n < losses { Fate::Drop } else { Fate::Deliver });
        // Fires at 1, 3, 7, 15, 31, 63, then every 60 s: 123, 183.
        let at: Vec<Duration> = [1, 3, 7, 15, 31, 63, 123, 183][..losses].iter().map(|&t| S(t)).collect();
        let fired: Vec<Duration> = log.fired.iter().map(|&(_, t)| t).collect();
        assert_eq!(fired, at, "{losses} losses");
        assert!(log.fired.iter().all(|&(s, _)| s == Side::Client));
        assert_open(&mut p);
    }
}

#[test]
fn the_first_copy_of_every_message_is_lost_in_both_directions() {
    // Every distinct first message of a datagram is lost the first time it is
    // seen: the packed flights, then the messages OpenSSL retransmits alone.
    let mut p = Pipe::psk();
    p.start();
    let mut seen = std::collections::HashSet::new();
    let log = p.run(|from, _, d| {
        let name = describe(d);
        // The first copy of each distinct first message is lost.
        let first = name.split('+').next().unwrap_or_default().to_owned();
        if seen.insert((from, first)) {
            Fate::Drop
        } else {
            Fate::Deliver
        }
    });
    // Client: ClientHello at 1 and 3 s (2 s doubled), then its Finished
    // flight from 4 s at 5, 7, 11, 19 s. Server: F2 from 1 s at 2 and 4 s;
    // F4 has no timer (the server answers the client's retransmissions).
    let fired: Vec<(Side, u64)> = log.fired.iter().map(|&(s, t)| (s, t.as_secs())).collect();
    let c = Side::Client;
    let s = Side::Server;
    assert_eq!(fired, [(c, 1), (s, 2), (c, 3), (s, 4), (c, 5), (c, 7), (c, 11), (c, 19)]);
    assert_eq!(log.retransmissions, [6, 2]);
    assert_open(&mut p);
}

#[test]
fn random_loss_with_fixed_seeds_always_completes() {
    for seed in 0..40 {
        let mut rng = Rng::new(seed);
        let mut p = Pipe::psk();
        p.start();
        let log = p.run(|_, _, _| if rng.chance(35) { Fate::Drop } else { Fate::Deliver });
        assert!(p.both_complete(), "seed {seed}: {log:?}");
        assert_open(&mut p);
    }
}

fn cert_configs() -> (Configuration, Configuration) {
    let ca = Ca::new("pipe root", KeyKind::Rsa2048);
    let leaf = ca.issue(&LeafSpec { dns: &["pipe.test"], kind: KeyKind::Rsa2048, ..LeafSpec::server("pipe.test") });
    let mut client = Configuration::new();
    client.set_peer_verify_mode(PeerVerifyMode::VerifyPeer);
    client.add_ca_certificates_pem(ca.pem.cert.as_bytes()).unwrap();
    let mut server = Configuration::new();
    server.set_peer_verify_mode(PeerVerifyMode::VerifyNone);
    server.set_dtls_cookie_verification_enabled(false);
    server.set_local_certificate_chain_pem(format!("{}{}", leaf.cert, ca.pem.cert).as_bytes()).unwrap();
    server.set_private_key_pem(leaf.key.as_bytes(), None).unwrap();
    (client, server)
}

#[test]
fn fragmented_certificate_handshake_loses_one_fragment_of_the_server_flight() {
    let (client_cfg, server_cfg) = cert_configs();
    for lost in 0..3 {
        let mut p = Pipe::new(&client_cfg, &server_cfg);
        p.client.set_peer_verification_name("pipe.test").unwrap();
        p.server.set_mtu_hint(600);
        p.start();
        p.forward(Side::Client);
        let flight = p.take(Side::Server);
        assert!(flight.len() >= 4, "a chain of two RSA certificates in 600-byte datagrams: {}", flight.len());
        let kept: Vec<Vec<u8>> =
            flight.iter().enumerate().filter(|&(i, _)| i != lost).map(|(_, d)| d.clone()).collect();
        p.deliver_ok(Side::Client, &kept);
        assert_eq!(p.client_out.queue.len(), 0, "the client cannot answer an incomplete flight");
        let log = p.run(|_, _, _| Fate::Deliver);
        // Both time out after 1 s: the client's ClientHello, the server's flight.
        assert_eq!(log.fired, [(Side::Client, S(1)), (Side::Server, S(1))], "lost fragment {lost}");
        assert_eq!(log.retransmissions, [1, 1]);
        assert_open(&mut p);
        assert_eq!(p.client.peer_certificate_chain().len(), 2);
    }
}
