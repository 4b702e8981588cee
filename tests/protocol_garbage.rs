//! Reordering, duplication, garbage and truncated datagrams on the in-memory
//! pipe with virtual time: what a handshake and an open session survive.

mod common;

use std::time::Duration;

use common::pipe::*;
use common::rng::Rng;
use qdtls::{DtlsError, HandshakeState};

fn assert_open(p: &mut Pipe) {
    assert!(p.both_complete(), "client {:?}, server {:?}", p.client, p.server);
    assert_eq!(p.echo(Side::Client, b"ping"), b"ping");
    assert_eq!(p.echo(Side::Server, b"pong"), b"pong");
}

#[test]
fn every_datagram_duplicated_completes_without_a_timer() {
    let mut p = Pipe::psk();
    p.start();
    let log = p.run(|_, _, _| Fate::Duplicate);
    assert!(log.fired.is_empty(), "{log:?}");
    // Exact duplicates are replays (same record sequence numbers): dropped,
    // never answered. (A retransmission, with new sequence numbers, would
    // make the complete server resend its last flight: see protocol_loss.)
    assert_eq!(log.sent, [2, 2]);
    assert_open(&mut p);
}

#[test]
fn retransmitted_fragmented_flight_delivered_in_reverse_order() {
    let mut p = Pipe::psk();
    // Only the server's timer may be due when it expires (OpenSSL would
    // otherwise retransmit a due ClientHello inside the next do_handshake).
    p.client.set_initial_timeout(Duration::from_secs(3)).unwrap();
    p.start();
    p.forward(Side::Client);
    p.drop_all(Side::Server);
    // The server's flight retransmitted as two datagrams, delivered last first.
    assert_eq!(p.expire(Side::Server).1, Ok(true));
    let mut flight = p.take(Side::Server);
    assert_eq!(flight.len(), 2);
    flight.reverse();
    p.deliver_ok(Side::Client, &flight);
    let answer: Vec<String> = p.client_out.queue.iter().map(|d| describe(d)).collect();
    assert_eq!(answer, ["ClientKeyExchange+ChangeCipherSpec+Encrypted handshake"], "answered the reassembled flight");
    let log = p.run(|_, _, _| Fate::Deliver);
    assert!(log.fired.is_empty(), "{log:?}");
    assert_open(&mut p);
}

#[test]
fn a_stale_retransmission_arriving_late_is_ignored() {
    let mut p = Pipe::psk();
    p.start();
    let first_hello = p.client_out.queue[0].clone();
    p.forward(Side::Client);
    p.forward(Side::Server);
    let fin = p.take(Side::Client);
    // The old ClientHello shows up again while the server waits for F3.
    p.deliver_ok(Side::Server, std::slice::from_ref(&first_hello));
    assert_eq!(p.server_out.queue.len(), 0, "no answer to a stale hello");
    p.deliver_ok(Side::Server, &fin);
    p.forward(Side::Server);
    assert_open(&mut p);
    // And once more after completion: decrypt_datagram gives nothing, no error.
    assert_eq!(p.deliver(Side::Server, &first_hello), Ok(Vec::new()));
    assert_open(&mut p);
}

#[test]
fn application_data_reordered_and_duplicated() {
    let mut p = Pipe::psk();
    p.handshake();
    for i in 0..4u8 {
        p.client.write_datagram_encrypted(&mut p.client_out, &[i; 10]).unwrap();
    }
    let mut d = p.take(Side::Client);
    d.swap(0, 3);
    d.swap(1, 2);
    let got: Vec<Vec<u8>> = d.iter().map(|x| p.deliver(Side::Server, x).unwrap()).collect();
    assert_eq!(got, [[3; 10], [2; 10], [1; 10], [0; 10]], "reordered records all accepted");
    for x in &d {
        assert_eq!(p.deliver(Side::Server, x), Ok(Vec::new()), "a replay decrypts to nothing");
    }
    assert_open(&mut p);
}

/// Random bytes that never start like a DTLS record, or a real datagram cut short.
fn junk(rng: &mut Rng, real: &[u8]) -> Vec<u8> {
    if rng.chance(50) && real.len() > 1 {
        let n = 1 + rng.below(real.len() - 1);
        real[..n].to_vec()
    } else {
        let n = 1 + rng.below(200);
        let mut j = rng.bytes(n);
        j[0] = 30 + (j[0] % 200); // not a content type (20..=25)
        j
    }
}

#[test]
fn garbage_and_truncated_datagrams_before_each_real_one_do_not_disturb_the_handshake() {
    for seed in 0..30 {
        let mut rng = Rng::new(seed);
        let mut p = Pipe::psk();
        p.start();
        // The server must start from a real ClientHello (see below); then
        // every real datagram, both ways, comes after two junk ones.
        p.forward(Side::Client);
        for _ in 0..10 {
            for from in [Side::Server, Side::Client] {
                for d in p.take(from) {
                    for _ in 0..2 {
                        let j = junk(&mut rng, &d);
                        // Junk is dropped: Ok and nothing sent, or an error for a session that stays usable.
                        let r = p.deliver(from.other(), &j);
                        assert!(
                            r.is_ok() || r.as_ref().unwrap_err().kind() == DtlsError::TlsNonFatalError,
                            "seed {seed}: {r:?}"
                        );
                    }
                    p.deliver_ok(from.other(), std::slice::from_ref(&d));
                }
            }
        }
        // No timer had to fire: junk cost nothing.
        assert_eq!([p.client_out.sent, p.server_out.sent], [2, 2], "seed {seed}");
        assert_open(&mut p);
        assert_eq!(p.clock.elapsed(), Duration::ZERO);
    }
}

#[test]
fn a_server_refuses_to_start_from_garbage_and_runs_no_timer() {
    let mut rng = Rng::new(7);
    let mut p = Pipe::psk();
    p.start();
    let hello = p.take(Side::Client).remove(0);
    for _ in 0..50 {
        let j = junk(&mut rng, &hello);
        let e = p.deliver(Side::Server, &j).unwrap_err();
        assert_eq!(e.kind(), DtlsError::TlsFatalError, "{} bytes", j.len());
        assert_eq!(p.state(Side::Server), HandshakeState::NotStarted);
        assert_eq!(p.next_timeout(Side::Server), None);
    }
    assert_eq!(p.deliver(Side::Server, &[]).unwrap_err().kind(), DtlsError::InvalidInputParameters);
    assert_eq!(p.server_out.sent, 0);
    // The real hello still works.
    p.deliver_ok(Side::Server, &[hello]);
    p.pump();
    assert_open(&mut p);
}

#[test]
fn an_empty_datagram_in_a_handshake_is_refused_and_changes_nothing() {
    let mut p = Pipe::psk();
    p.start();
    p.forward(Side::Client);
    let e = p.deliver(Side::Client, &[]).unwrap_err();
    assert_eq!(e.kind(), DtlsError::InvalidInputParameters);
    assert_eq!(p.state(Side::Client), HandshakeState::InProgress);
    p.pump();
    assert_open(&mut p);
}

#[test]
fn garbage_into_an_open_session_is_dropped_and_the_session_keeps_working() {
    let mut rng = Rng::new(99);
    let mut p = Pipe::psk();
    p.handshake();
    p.client.write_datagram_encrypted(&mut p.client_out, b"real").unwrap();
    let real = p.take(Side::Client).remove(0);
    for _ in 0..200 {
        let mut j = if rng.chance(50) { junk(&mut rng, &real) } else { real.clone() };
        if j == real {
            // A bit flipped in a real record: authentication fails.
            let i = 13 + rng.below(real.len() - 13);
            let bit = rng.below(8);
            j[i] ^= 1 << bit;
        }
        let r = p.deliver(Side::Server, &j);
        match r {
            Ok(v) => assert!(v.is_empty(), "garbage decrypted to {v:?}"),
            Err(e) => assert_eq!(e.kind(), DtlsError::TlsNonFatalError, "{e}"),
        }
        assert_eq!(p.state(Side::Server), HandshakeState::Complete);
    }
    assert_eq!(p.server_out.queue.len(), 0, "garbage made the server send");
    assert_eq!(p.deliver(Side::Server, &real).unwrap(), b"real");
    assert_open(&mut p);
}
