//! The retransmission policy (src/engine/hooks.rs, set with
//! `set_max_timeout`, `set_max_retransmissions`, `set_handshake_deadline`)
//! on the in-memory pipe with virtual time: exact schedules, exact failure
//! points, no sleeping.
//!
//! A flight's timer starts at the initial timeout (1 s) and doubles on each
//! expiry up to the maximum timeout (60 s by default); after the maximum
//! number of retransmissions of one flight (12 by default, OpenSSL's own
//! limit) the next expiry fails the handshake; a deadline fails it when it
//! is reached, wherever the retransmission timer stands.

mod common;

use std::time::{Duration, Instant};

use common::pipe::*;
use common::rng::Rng;
use qdtls::{DtlsError, HandshakeState};

const S: fn(u64) -> Duration = Duration::from_secs;
const MS: fn(u64) -> Duration = Duration::from_millis;
const US: fn(u64) -> Duration = Duration::from_micros;

/// Lets `side`'s current flight time out until the handshake fails, losing
/// every retransmission; returns the waits between expiries, how many of
/// them retransmitted, and the final error.
fn time_out_completely(p: &mut Pipe, side: Side) -> (Vec<Duration>, usize, qdtls::Error) {
    p.drop_all(side);
    let mut waits = Vec::new();
    let mut retransmitted = 0;
    loop {
        let (wait, r) = p.expire(side);
        waits.push(wait);
        match r {
            Ok(true) => {
                retransmitted += 1;
                assert!(p.drop_all(side) > 0, "a retransmission sent nothing");
            }
            Ok(false) => panic!("a due timer did not retransmit"),
            Err(e) => {
                assert_eq!(p.outbox(side).queue.len(), 0, "the failing expiry sent something");
                return (waits, retransmitted, e);
            }
        }
        assert!(waits.len() <= 20, "never gives up");
    }
}

/// `n` waits from `initial`, doubling, capped at `max` (or at `initial` if longer).
fn schedule(initial: Duration, max: Duration, n: usize) -> Vec<Duration> {
    let cap = max.max(initial);
    let mut t = initial;
    (0..n)
        .map(|_| {
            let w = t;
            t = (t * 2).min(cap);
            w
        })
        .collect()
}

fn assert_failed(p: &Pipe, side: Side, e: &qdtls::Error, what: &str) {
    assert_eq!(e.kind(), DtlsError::TlsFatalError, "{}", e.message());
    assert!(e.message().contains(what), "{}", e.message());
    assert_eq!(p.state(side), HandshakeState::NotStarted);
    assert_eq!(p.next_timeout(side), None, "a timer after the failure");
}

#[test]
fn defaults_are_1s_doubling_to_60s_and_12_retransmissions() {
    for explicit in [false, true] {
        let mut p = Pipe::psk();
        if explicit {
            // The documented defaults, set: the same schedule.
            p.client.set_max_timeout(S(60)).unwrap();
            p.client.set_max_retransmissions(12).unwrap();
            p.client.set_handshake_deadline(None).unwrap();
        }
        p.start();
        assert_eq!(p.next_timeout(Side::Client), Some(S(1)));
        let (waits, retransmitted, e) = time_out_completely(&mut p, Side::Client);
        assert_eq!(waits, schedule(S(1), S(60), 13), "explicit {explicit}");
        assert_eq!(waits.iter().sum::<Duration>(), S(483));
        assert_eq!(retransmitted, 12);
        assert_failed(&p, Side::Client, &e, "timed out");
    }
}

#[test]
fn a_relay_losing_30_percent_each_way_with_a_4s_max_timeout_completes_100_of_100_within_60s() {
    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    for seed in 0..100 {
        let mut rng = Rng::new(seed);
        let mut p = Pipe::psk();
        p.client.set_max_timeout(S(4)).unwrap();
        p.server.set_max_timeout(S(4)).unwrap();
        p.start();
        // Pipe::run panics if a timer fails the handshake.
        let log = p.run(|_, _, _| if rng.chance(30) { Fate::Drop } else { Fate::Deliver });
        assert!(p.both_complete(), "seed {seed}: {log:?}");
        let took = p.clock.elapsed();
        assert!(took <= S(60), "seed {seed}: complete after {took:?}: {log:?}");
        slowest = slowest.max(took);
        // No wait was longer than the cap: consecutive firings of one side
        // are at most 4 s apart (the cap) once its timer runs.
        for side in [Side::Client, Side::Server] {
            let times: Vec<Duration> = log.fired.iter().filter(|f| f.0 == side).map(|f| f.1).collect();
            assert!(times.windows(2).all(|w| w[1] - w[0] <= S(4)), "seed {seed} {side:?}: {times:?}");
        }
        assert_eq!(p.echo(Side::Client, b"ping"), b"ping");
    }
    assert!(slowest > S(4), "the relay lost too little to test anything: slowest {slowest:?}");
    assert!(started.elapsed() < S(1), "virtual time, no waiting");
}

#[test]
fn the_same_relay_with_the_default_policy_is_slower() {
    // Not a requirement, the reason for the policy: the same seeds with the
    // 60 s cap take longer in total, and some take longer than 60 s.
    let total = |max: Option<Duration>| {
        let mut sum = Duration::ZERO;
        let mut over_60s = 0;
        for seed in 0..100 {
            let mut rng = Rng::new(seed);
            let mut p = Pipe::psk();
            if let Some(max) = max {
                p.client.set_max_timeout(max).unwrap();
                p.server.set_max_timeout(max).unwrap();
            }
            p.start();
            p.run(|_, _, _| if rng.chance(30) { Fate::Drop } else { Fate::Deliver });
            assert!(p.both_complete(), "seed {seed}");
            sum += p.clock.elapsed();
            over_60s += usize::from(p.clock.elapsed() > S(60));
        }
        (sum, over_60s)
    };
    let (capped, capped_over) = total(Some(S(4)));
    let (default, default_over) = total(None);
    assert_eq!(capped_over, 0);
    assert!(default > capped, "default {default:?}, capped {capped:?}");
    assert!(default_over > 0, "no seed took longer than 60 s with the defaults");
}

#[test]
fn max_timeout_caps_the_doubling_exactly() {
    let cases = [
        (S(1), S(4)),
        (S(1), S(3)),    // a cap that is not a doubling of the initial timeout
        (MS(250), S(1)), // with a shorter initial timeout
        (S(1), S(1)),    // no doubling at all
        (S(1), S(600)),  // above RFC 6347's 60 s: the doubling goes on past it
        (S(5), S(2)),    // a cap below the initial timeout: the initial timeout stays
        (S(1), MS(1)),
    ];
    for (initial, max) in cases {
        let mut p = Pipe::psk();
        p.client.set_initial_timeout(initial).unwrap();
        p.client.set_max_timeout(max).unwrap();
        p.start();
        let (waits, retransmitted, e) = time_out_completely(&mut p, Side::Client);
        assert_eq!(waits, schedule(initial, max, 13), "initial {initial:?}, max {max:?}");
        assert_eq!(retransmitted, 12);
        assert_failed(&p, Side::Client, &e, "timed out");
    }
    // 600 s goes on doubling past 60 s: 1, 2, ... 256, 512, then 600.
    assert_eq!(schedule(S(1), S(600), 13)[9..], [S(512), S(600), S(600), S(600)]);
}

#[test]
fn max_timeout_applies_to_the_server_flight_too() {
    let mut p = Pipe::psk();
    p.server.set_max_timeout(MS(2500)).unwrap();
    p.start();
    p.forward(Side::Client);
    let (waits, retransmitted, e) = time_out_completely(&mut p, Side::Server);
    assert_eq!(waits, schedule(S(1), MS(2500), 13));
    assert_eq!(retransmitted, 12);
    assert_failed(&p, Side::Server, &e, "timed out");
}

#[test]
fn max_retransmissions_fails_the_handshake_after_exactly_that_many() {
    for n in 0..=12u32 {
        for side in [Side::Client, Side::Server] {
            let mut p = Pipe::psk();
            p.dtls(side).set_max_retransmissions(n).unwrap();
            p.start();
            if side == Side::Server {
                p.forward(Side::Client);
            }
            let (waits, retransmitted, e) = time_out_completely(&mut p, side);
            assert_eq!(retransmitted, n as usize, "{side:?}, n = {n}");
            // The (n+1)-th expiry fails, on the usual schedule.
            assert_eq!(waits, schedule(S(1), S(60), n as usize + 1), "{side:?}, n = {n}");
            assert_failed(&p, side, &e, "timed out");
            // Nothing more happens afterwards.
            p.clock.advance(S(1000));
            assert_eq!(p.handle_timeout(side), Ok(false));
            assert_eq!(p.outbox(side).queue.len(), 0);
        }
    }
}

#[test]
fn max_retransmissions_counts_per_flight() {
    let mut p = Pipe::psk();
    p.client.set_max_retransmissions(2).unwrap();
    p.start();
    // The ClientHello and its first retransmission are lost; the second
    // (the last one allowed) gets through and the server answers.
    p.drop_all(Side::Client);
    assert_eq!(p.expire(Side::Client), (S(1), Ok(true)));
    p.drop_all(Side::Client);
    assert_eq!(p.expire(Side::Client), (S(2), Ok(true)));
    p.forward(Side::Client);
    p.forward(Side::Server);
    assert_eq!(describe(&p.client_out.queue[0]), "ClientKeyExchange+ChangeCipherSpec+Encrypted handshake");
    // The new flight starts at the initial timeout with a fresh count of two.
    assert_eq!(p.next_timeout(Side::Client), Some(S(1)));
    let (waits, retransmitted, e) = time_out_completely(&mut p, Side::Client);
    assert_eq!(retransmitted, 2);
    assert_eq!(waits, [S(1), S(2), S(4)]);
    assert_failed(&p, Side::Client, &e, "2 retransmissions");
}

#[test]
fn deadline_fails_the_handshake_at_exactly_the_deadline() {
    let mut p = Pipe::psk();
    p.client.set_handshake_deadline(Some(MS(2500))).unwrap();
    p.start();
    p.drop_all(Side::Client);
    assert_eq!(p.next_timeout(Side::Client), Some(S(1)), "the retransmission timer comes first");
    assert_eq!(p.expire(Side::Client), (S(1), Ok(true)));
    p.drop_all(Side::Client);
    // The doubled timer would fire at 3 s: the deadline at 2.5 s comes first.
    assert_eq!(p.next_timeout(Side::Client), Some(MS(1500)));
    p.clock.advance(S(1));
    assert_eq!(p.next_timeout(Side::Client), Some(MS(500)), "counts down");
    p.clock.advance(MS(500) - US(1));
    assert_eq!(p.next_timeout(Side::Client), Some(US(1)));
    assert_eq!(p.handle_timeout(Side::Client), Ok(false), "one microsecond early");
    assert_eq!(p.state(Side::Client), HandshakeState::InProgress);
    assert_eq!(p.client_out.queue.len(), 0);
    p.clock.advance(US(1));
    assert_eq!(p.clock.elapsed(), MS(2500));
    assert_eq!(p.next_timeout(Side::Client), Some(Duration::ZERO));
    let e = p.handle_timeout(Side::Client).unwrap_err();
    assert_failed(&p, Side::Client, &e, "deadline of 2500 ms");
    assert_eq!(p.client_out.queue.len(), 0, "nothing sent at the deadline");
    p.clock.advance(S(100));
    assert_eq!(p.handle_timeout(Side::Client), Ok(false));
}

#[test]
fn a_datagram_after_the_deadline_does_not_revive_the_handshake() {
    let mut p = Pipe::psk();
    p.client.set_handshake_deadline(Some(MS(2500))).unwrap();
    p.start();
    p.forward(Side::Client);
    // The server's answer arrives late, after the deadline, before the
    // application called handle_timeout.
    let late = p.take(Side::Server);
    p.clock.advance(MS(2500));
    let e = p.deliver(Side::Client, &late[0]).unwrap_err();
    assert_failed(&p, Side::Client, &e, "deadline of 2500 ms");
    assert_eq!(p.client_out.queue.len(), 0, "nothing sent after the deadline");
}

#[test]
fn a_deadline_before_the_first_timer_fails_without_a_retransmission() {
    let mut p = Pipe::psk();
    p.client.set_handshake_deadline(Some(MS(300))).unwrap();
    // The deadline runs from the start of the handshake, not from the setter.
    p.clock.advance(S(50));
    p.start();
    p.drop_all(Side::Client);
    assert_eq!(p.next_timeout(Side::Client), Some(MS(300)));
    let (wait, r) = p.expire(Side::Client);
    assert_eq!(wait, MS(300));
    assert_failed(&p, Side::Client, &r.unwrap_err(), "deadline");
    assert_eq!(p.client_out.sent, 1, "only the first ClientHello");
}

#[test]
fn a_server_deadline_runs_from_its_first_client_hello() {
    let mut p = Pipe::psk();
    p.server.set_handshake_deadline(Some(MS(1800))).unwrap();
    p.start();
    p.clock.advance(MS(400));
    p.forward(Side::Client);
    p.drop_all(Side::Server);
    assert_eq!(p.expire(Side::Server), (S(1), Ok(true)));
    p.drop_all(Side::Server);
    assert_eq!(p.next_timeout(Side::Server), Some(MS(800)));
    let (wait, r) = p.expire(Side::Server);
    assert_eq!(wait, MS(800));
    assert_eq!(p.clock.elapsed(), MS(400 + 1800));
    assert_failed(&p, Side::Server, &r.unwrap_err(), "deadline");
}

#[test]
fn a_handshake_within_its_deadline_completes_and_leaves_no_timer() {
    let mut p = Pipe::psk();
    for d in [&p.client, &p.server] {
        d.set_handshake_deadline(Some(S(10))).unwrap();
    }
    p.start();
    // The ClientHello is lost once: complete at 1 s.
    let log = p.run(|from, n, _| if (from, n) == (Side::Client, 0) { Fate::Drop } else { Fate::Deliver });
    assert_eq!(log.fired, [(Side::Client, S(1))]);
    assert!(p.both_complete());
    assert_eq!(p.next_timeout(Side::Client), None);
    assert_eq!(p.next_timeout(Side::Server), None);
    p.clock.advance(S(100));
    assert_eq!(p.handle_timeout(Side::Client), Ok(false));
    assert_eq!(p.handle_timeout(Side::Server), Ok(false));
    assert_eq!(p.echo(Side::Client, b"after the deadline"), b"after the deadline");
}

#[test]
fn deadline_and_max_retransmissions_whichever_comes_first() {
    // Two retransmissions allowed (fails at 1 + 2 + 4 = 7 s), deadline 20 s: retransmissions.
    let mut p = Pipe::psk();
    p.client.set_max_retransmissions(2).unwrap();
    p.client.set_handshake_deadline(Some(S(20))).unwrap();
    p.start();
    let (waits, _, e) = time_out_completely(&mut p, Side::Client);
    assert_eq!(waits, [S(1), S(2), S(4)]);
    assert_failed(&p, Side::Client, &e, "2 retransmissions");
    drop(p); // one virtual clock per thread
             // Deadline 5 s: the deadline, after two retransmissions (at 1 and 3 s).
    let mut p = Pipe::psk();
    p.client.set_max_retransmissions(2).unwrap();
    p.client.set_handshake_deadline(Some(S(5))).unwrap();
    p.start();
    let (waits, retransmitted, e) = time_out_completely(&mut p, Side::Client);
    assert_eq!(waits, [S(1), S(2), S(2)]);
    assert_eq!(retransmitted, 2);
    assert_failed(&p, Side::Client, &e, "deadline of 5000 ms");
}

#[test]
fn setters_refuse_out_of_range_values() {
    let mut p = Pipe::psk();
    for bad in [Duration::ZERO, US(999), MS(600_001), S(100_000)] {
        let e = p.client.set_max_timeout(bad).unwrap_err();
        assert_eq!(e.kind(), DtlsError::InvalidInputParameters, "max timeout {bad:?}");
    }
    for bad in [13, 100, u32::MAX] {
        let e = p.client.set_max_retransmissions(bad).unwrap_err();
        assert_eq!(e.kind(), DtlsError::InvalidInputParameters, "max retransmissions {bad}");
    }
    // The limits themselves are accepted (and then replaced by the defaults again).
    p.client.set_max_timeout(MS(1)).unwrap();
    p.client.set_max_timeout(MS(600_000)).unwrap();
    p.client.set_max_retransmissions(0).unwrap();
    p.client.set_max_retransmissions(12).unwrap();
    p.client.set_max_timeout(S(60)).unwrap();
    // Any deadline is in range; one below a millisecond counts as 1 ms, not as "none".
    p.client.set_handshake_deadline(Some(US(1))).unwrap();
    p.client.set_handshake_deadline(Some(Duration::MAX)).unwrap();
    p.client.set_handshake_deadline(None).unwrap();
    // The refused values changed nothing: the default schedule.
    p.start();
    let (waits, retransmitted, _) = time_out_completely(&mut p, Side::Client);
    assert_eq!(waits, schedule(S(1), S(60), 13));
    assert_eq!(retransmitted, 12);
}

#[test]
fn a_sub_millisecond_deadline_is_one_millisecond() {
    let mut p = Pipe::psk();
    p.client.set_handshake_deadline(Some(US(1))).unwrap();
    p.start();
    assert_eq!(p.next_timeout(Side::Client), Some(MS(1)));
}

#[test]
fn setters_work_only_before_the_handshake() {
    let check_refused = |p: &Pipe, side: Side, when: &str| {
        let d = p.dtls(side);
        for e in [
            d.set_max_timeout(S(4)).unwrap_err(),
            d.set_max_retransmissions(3).unwrap_err(),
            d.set_handshake_deadline(Some(S(5))).unwrap_err(),
            d.set_handshake_deadline(None).unwrap_err(),
        ] {
            assert_eq!(e.kind(), DtlsError::InvalidOperation, "{side:?} {when}: {}", e.message());
        }
    };
    // During the handshake, on both sides.
    let mut p = Pipe::psk();
    p.start();
    p.forward(Side::Client);
    check_refused(&p, Side::Client, "in progress");
    check_refused(&p, Side::Server, "in progress");
    // The refused settings changed nothing: the usual 1 s, then 2 s.
    p.drop_all(Side::Server);
    assert_eq!(p.expire(Side::Client), (S(1), Ok(true)));
    p.drop_all(Side::Client);
    assert_eq!(p.next_timeout(Side::Client), Some(S(2)));
    drop(p); // one virtual clock per thread
             // After completion.
    let mut p = Pipe::psk();
    p.handshake();
    check_refused(&p, Side::Client, "complete");
    check_refused(&p, Side::Server, "complete");
    drop(p);
    // Back to NotStarted (after a failure), they work again and apply to the next handshake.
    let mut p = Pipe::psk();
    p.client.set_max_retransmissions(0).unwrap();
    p.start();
    let (_, _, e) = time_out_completely(&mut p, Side::Client);
    assert_failed(&p, Side::Client, &e, "0 retransmissions");
    p.client.set_max_retransmissions(1).unwrap();
    p.client.set_max_timeout(MS(1500)).unwrap();
    p.start();
    let (waits, retransmitted, _) = time_out_completely(&mut p, Side::Client);
    assert_eq!((waits, retransmitted), (vec![S(1), MS(1500)], 1));
}
