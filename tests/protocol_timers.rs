//! Every retransmission timer path on the in-memory pipe with virtual time
//! (tests/common/pipe.rs, clock.rs): exact schedules, no sleeping.
//!
//! What OpenSSL 3.0 and the engine do (ssl/d1_lib.c, src/engine/hooks.rs):
//! a new flight starts its timer at the initial timeout (1 s, or
//! `set_initial_timeout`); each expiry retransmits the flight and doubles
//! the timeout, capped at 60 s (RFC 6347 4.2.4.1); the 13th expiry of one
//! flight (OpenSSL's DTLS1_TMO_ALERT_COUNT of 12 retransmissions) ends the
//! handshake with TlsFatalError. OpenSSL reports a deadline less than 15 ms
//! away as already due (`dtls1_get_timeout`), so a timer fires up to 15 ms early.

mod common;

use std::time::{Duration, Instant};

use common::pipe::*;
use qdtls::{DtlsError, HandshakeState};

const S: fn(u64) -> Duration = Duration::from_secs;
const MS: fn(u64) -> Duration = Duration::from_millis;

/// Lets `side`'s flight time out until OpenSSL gives up, losing every
/// retransmission (each `per_flight` datagrams); returns the waits between
/// expiries and the final error.
fn time_out_completely(p: &mut Pipe, side: Side, per_flight: usize) -> (Vec<Duration>, qdtls::Error) {
    p.drop_all(side);
    let mut waits = Vec::new();
    loop {
        let (wait, r) = p.expire(side);
        waits.push(wait);
        match r {
            Ok(true) => assert_eq!(p.drop_all(side), per_flight, "datagrams per retransmitted flight"),
            Ok(false) => panic!("a due timer did not retransmit"),
            Err(e) => return (waits, e),
        }
        assert!(waits.len() <= 20, "never gives up");
    }
}

/// The RFC 6347 schedule from `initial`: doubling, capped at 60 s, 13 waits.
fn schedule(initial: Duration) -> Vec<Duration> {
    let mut t = initial;
    (0..13)
        .map(|_| {
            let w = t;
            t = (t * 2).min(S(60));
            w
        })
        .collect()
}

#[test]
fn virtual_time_drives_openssl_timer_exactly() {
    let started = Instant::now();
    let mut p = Pipe::psk();
    assert_eq!(p.next_timeout(Side::Client), None, "no timer before the handshake");
    p.start();
    let hello = p.take(Side::Client);
    assert_eq!(hello.len(), 1);
    assert_eq!(p.next_timeout(Side::Client), Some(S(1)));

    // Frozen time: the deadline does not move by itself.
    assert_eq!(p.next_timeout(Side::Client), Some(S(1)));
    p.clock.advance(MS(985) - Duration::from_micros(1));
    assert_eq!(p.next_timeout(Side::Client), Some(Duration::from_micros(15_001)));
    assert_eq!(p.handle_timeout(Side::Client), Ok(false), "not due yet");
    assert_eq!(p.client_out.queue.len(), 0);
    p.clock.advance(Duration::from_micros(1));
    assert_eq!(p.next_timeout(Side::Client), Some(MS(15)));
    // Less than 15 ms left: OpenSSL reports it as due.
    p.clock.advance(Duration::from_micros(1));
    assert_eq!(p.next_timeout(Side::Client), Some(Duration::ZERO));
    assert_eq!(p.handle_timeout(Side::Client), Ok(true));
    let again = p.take(Side::Client);
    assert_eq!(again.len(), 1);
    assert_eq!(describe(&again[0]), "ClientHello");
    // Same message, next record sequence number (bytes 5..11).
    assert_eq!(again[0][13..], hello[0][13..]);
    assert_ne!(again[0][5..11], hello[0][5..11]);
    // The doubled timer runs from the retransmission.
    assert_eq!(p.next_timeout(Side::Client), Some(S(2)));
    assert!(started.elapsed() < S(1), "virtual time, no waiting");
}

#[test]
fn client_hello_timer_doubles_to_the_cap_then_the_handshake_fails() {
    let mut p = Pipe::psk();
    p.start();
    let (waits, e) = time_out_completely(&mut p, Side::Client, 1);
    assert_eq!(waits, schedule(S(1)));
    assert_eq!(waits.iter().sum::<Duration>(), S(483));
    assert_eq!(e.kind(), DtlsError::TlsFatalError);
    assert!(e.message().contains("timed out"), "{}", e.message());
    assert_eq!(p.state(Side::Client), HandshakeState::NotStarted);
    assert_eq!(p.next_timeout(Side::Client), None);
    p.clock.advance(S(1000));
    assert_eq!(p.handle_timeout(Side::Client), Ok(false));
    assert_eq!(p.client_out.queue.len(), 0, "nothing sent after giving up");
}

#[test]
fn server_flight_timer_doubles_to_the_cap_then_the_handshake_fails() {
    let mut p = Pipe::psk();
    p.start();
    p.forward(Side::Client);
    assert_eq!(p.next_timeout(Side::Server), Some(S(1)));
    let (waits, e) = time_out_completely(&mut p, Side::Server, 2);
    assert_eq!(waits, schedule(S(1)));
    assert_eq!(e.kind(), DtlsError::TlsFatalError);
    assert_eq!(p.state(Side::Server), HandshakeState::NotStarted);
    assert_eq!(p.next_timeout(Side::Server), None);
}

#[test]
fn initial_timeout_sets_the_first_wait_and_the_doubling_starts_from_it() {
    for initial in [MS(15), MS(250), S(3), S(45), S(60)] {
        let mut p = Pipe::psk();
        p.client.set_initial_timeout(initial).unwrap();
        p.start();
        assert_eq!(p.next_timeout(Side::Client), Some(initial));
        let (waits, e) = time_out_completely(&mut p, Side::Client, 1);
        assert_eq!(waits, schedule(initial), "initial {initial:?}");
        assert_eq!(e.kind(), DtlsError::TlsFatalError);
    }
}

#[test]
fn initial_timeout_out_of_range_or_after_start_is_refused() {
    let mut p = Pipe::psk();
    for bad in [Duration::ZERO, Duration::from_micros(999), MS(60_001)] {
        let e = p.client.set_initial_timeout(bad).unwrap_err();
        assert_eq!(e.kind(), DtlsError::InvalidInputParameters, "{bad:?}");
    }
    p.start();
    assert!(p.client.set_initial_timeout(MS(100)).is_err(), "changed during the handshake");
    assert_eq!(p.next_timeout(Side::Client), Some(S(1)), "the refused values changed nothing");
}

#[test]
fn each_new_flight_restarts_at_the_initial_timeout_with_a_fresh_retry_count() {
    let mut p = Pipe::psk();
    p.client.set_initial_timeout(MS(250)).unwrap();
    p.start();
    // The ClientHello times out 11 times (one short of the limit)...
    p.drop_all(Side::Client);
    for _ in 0..11 {
        assert_eq!(p.expire(Side::Client).1, Ok(true));
        p.drop_all(Side::Client);
    }
    assert_eq!(p.next_timeout(Side::Client), Some(S(60)));
    // ...then the 12th copy gets through and the server answers.
    assert_eq!(p.expire(Side::Client).1, Ok(true));
    p.forward(Side::Client);
    p.forward(Side::Server);
    assert_eq!(describe(&p.client_out.queue[0]), "ClientKeyExchange+ChangeCipherSpec+Encrypted handshake");
    // The new flight starts over: 250 ms, and 12 more retransmissions.
    assert_eq!(p.next_timeout(Side::Client), Some(MS(250)));
    // OpenSSL packed the flight into one datagram; it retransmits one per record.
    let (waits, e) = time_out_completely(&mut p, Side::Client, 3);
    assert_eq!(waits, schedule(MS(250)));
    assert_eq!(e.kind(), DtlsError::TlsFatalError);
}

#[test]
fn no_timer_runs_after_completion() {
    let mut p = Pipe::psk();
    p.handshake();
    assert_eq!(p.next_timeout(Side::Client), None);
    assert_eq!(p.next_timeout(Side::Server), None);
    p.clock.advance(S(1000));
    assert_eq!(p.handle_timeout(Side::Client), Ok(false));
    assert_eq!(p.handle_timeout(Side::Server), Ok(false));
    assert_eq!(p.client_out.queue.len() + p.server_out.queue.len(), 0);
    assert_eq!(p.echo(Side::Client, b"still open"), b"still open");
}

#[test]
fn the_server_runs_no_timer_once_it_sent_its_last_flight() {
    let mut p = Pipe::psk();
    p.start();
    p.forward(Side::Client);
    p.forward(Side::Server);
    p.forward(Side::Client);
    // The server finished with its Finished flight; the client still waits for it.
    assert_eq!(p.state(Side::Server), HandshakeState::Complete);
    assert_eq!(p.next_timeout(Side::Server), None);
    assert_eq!(p.next_timeout(Side::Client), Some(S(1)));
}

#[test]
fn abort_stops_the_timer() {
    for side in [Side::Client, Side::Server] {
        let mut p = Pipe::psk();
        p.start();
        p.forward(Side::Client);
        assert!(p.next_timeout(side).is_some());
        let (d, out) = p.parts(side);
        d.abort_handshake(out).unwrap();
        assert_eq!(p.state(side), HandshakeState::NotStarted);
        assert_eq!(p.next_timeout(side), None, "{side:?}");
        p.drop_all(side);
        p.clock.advance(S(100));
        assert_eq!(p.handle_timeout(side), Ok(false));
        assert_eq!(p.outbox(side).queue.len(), 0, "{side:?} sent after abort");
    }
}

#[test]
fn shutdown_leaves_no_timer() {
    for side in [Side::Client, Side::Server] {
        let mut p = Pipe::psk();
        p.handshake();
        let (d, out) = p.parts(side);
        d.shutdown(out).unwrap();
        assert_eq!(p.state(side), HandshakeState::NotStarted);
        assert_eq!(p.outbox(side).queue.len(), 1, "close_notify");
        p.drop_all(side);
        assert_eq!(p.next_timeout(side), None);
        p.clock.advance(S(100));
        assert_eq!(p.handle_timeout(side), Ok(false));
        assert_eq!(p.outbox(side).queue.len(), 0);
    }
}

#[test]
fn a_fatal_error_stops_the_timers() {
    let mut p = Pipe::psk();
    // The server knows no key for the client's identity: its handshake fails
    // on the ClientKeyExchange, and its alert ends the client's too.
    p.server.set_psk_callback(|_| {});
    p.start();
    p.forward(Side::Client);
    p.forward(Side::Server);
    assert!(p.deliver(Side::Server, &p.client_out.queue[0].clone()).is_err());
    p.drop_all(Side::Client);
    assert_eq!(p.state(Side::Server), HandshakeState::NotStarted);
    assert_eq!(p.next_timeout(Side::Server), None);
    let alert = p.take(Side::Server);
    assert_eq!(alert.len(), 1, "the server's fatal alert");
    assert_eq!(p.deliver(Side::Client, &alert[0]).unwrap_err().kind(), DtlsError::TlsFatalError);
    assert_eq!(p.state(Side::Client), HandshakeState::NotStarted);
    assert_eq!(p.next_timeout(Side::Client), None);
    p.clock.advance(S(100));
    assert_eq!(p.handle_timeout(Side::Server), Ok(false));
    assert_eq!(p.handle_timeout(Side::Client), Ok(false));
    assert_eq!(p.client_out.queue.len() + p.server_out.queue.len(), 0);
}

/// What OpenSSL does with an initial timeout below its 15 ms granularity:
/// the deadline counts as due at once, and SSL_do_handshake handles due
/// timers itself, so the first call retransmits the ClientHello until the
/// doubled timeout reaches 15 ms (1, 2, 4, 8 ms: four copies more, four of
/// the twelve retransmissions spent at once).
#[test]
fn an_initial_timeout_below_15_ms_retransmits_at_once() {
    let mut p = Pipe::psk();
    p.client.set_initial_timeout(MS(1)).unwrap();
    p.start();
    assert_eq!(p.take(Side::Client).len(), 5);
    assert_eq!(p.next_timeout(Side::Client), Some(MS(16)));
    let (waits, _) = time_out_completely(&mut p, Side::Client, 1);
    assert_eq!(waits, [16, 32, 64, 128, 256, 512, 1024, 2048, 4096].map(MS));
}

#[test]
#[ignore = "engine defect: set_initial_timeout accepts 1..=14 ms, which OpenSSL treats as already due; \
            the first flight goes out 5 times at once (see an_initial_timeout_below_15_ms_retransmits_at_once)"]
fn an_accepted_initial_timeout_sends_the_first_flight_once() {
    let mut p = Pipe::psk();
    if p.client.set_initial_timeout(MS(1)).is_ok() {
        p.start();
        assert_eq!(p.take(Side::Client).len(), 1, "a burst of ClientHellos");
        assert_eq!(p.next_timeout(Side::Client), Some(MS(1)));
    }
}
