//! Garbage derived from real captured traffic into the entry points that
//! take a first datagram: verify_client and a server's first do_handshake,
//! regression tests for servers left InProgress without a timer, and
//! replays of another exchange into every state. Part of the flood tests
//! (what they show: tests/common/flood.rs; sizes: `QDTLS_GARBAGE_CASES`).

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::flood::*;
use common::harness::*;
use common::rng::Rng;
use qdtls::ffi::*;

// ---- garbage into verify_client ---------------------------------------------------------

#[test]
fn garbage_into_verify_client() {
    let _g = shared();
    let n = cases(200);
    with_watchdog(campaign_limit(), move || {
        let base = corpus_datagrams();
        let (psk_capture, _) = corpus();
        // The address the captured cookies are bound to: mutated ClientHellos
        // whose cookie survives still verify (stateless, address-bound).
        let addr = psk_capture.client_addr;
        let v = Verifier::new();
        let sock = nb_udp();
        let mut rng = Rng::new(0x5eed_0001);
        let mut h = Histogram::default();
        let mut max = Duration::ZERO;
        for i in 0..n {
            let k = i % KINDS.len();
            let g = garbage(&mut rng, &base, k);
            let ok = timed(&mut max, || v.verify(&sock, &g, addr));
            let e = v.error();
            if ok {
                assert_eq!(e, QDTLS_ERROR_NO_ERROR);
                assert_eq!(v.verified_hello(), g, "verified_hello is the datagram");
                assert_eq!(g[0], 22, "only a handshake record verifies");
            } else if g.is_empty() {
                assert_eq!(e, QDTLS_ERROR_INVALID_INPUT_PARAMETERS);
            } else {
                assert_eq!(e, QDTLS_ERROR_NO_ERROR, "{} case {i}: {g:02x?}", KINDS[k]);
                assert!(v.verified_hello().is_empty());
            }
            h.add(format!("{:<16} -> {}", KINDS[k], if ok { "verified" } else { err_name(e) }));
            if i % 256 == 0 {
                let _ = drain(&sock);
            }
        }
        h.print(&format!("verify_client: {n} garbage cases (max call {max:?})"));
        // The real cookie hello still verifies afterwards.
        let hello2 = &psk_capture.dgrams.iter().find(|c| c.name == "client-hello-cookie-0").unwrap().data;
        assert!(v.verify(&sock, hello2, addr));
    });
}

// ---- garbage into a server's first datagram ----------------------------------------------

#[test]
fn garbage_into_server_first_datagram() {
    let _g = shared();
    let n = cases(240);
    with_watchdog(campaign_limit(), move || {
        let base = corpus_datagrams();
        let (psk_capture, cert_capture) = corpus();
        let sink = nb_udp(); // stands in for the client: its flights land here
        let ssock = nb_udp();
        let sp = Psk::new(b"", KEY);
        let mut rng = Rng::new(0x5eed_0002);
        let mut h = Histogram::default();
        let mut max = Duration::ZERO;
        for (cookies, flavour) in
            [(true, Flavour::Psk), (false, Flavour::Psk), (true, Flavour::Cert), (false, Flavour::Cert)]
        {
            let cfg = match flavour {
                Flavour::Psk => {
                    let c = Cfg::psk();
                    c.cookies(cookies);
                    c
                }
                Flavour::Cert => cert_server_cfg(cookies),
            };
            // The captured cookies are bound to the capturing client's address.
            let peer = if flavour == Flavour::Psk { psk_capture.client_addr } else { cert_capture.client_addr };
            for i in 0..n / 4 {
                let k = i % KINDS.len();
                let g = garbage(&mut rng, &base, k);
                let s = Dtls::server().with_config(&cfg).with_psk(&sp);
                assert!(s.set_peer(peer, ""));
                let ok = timed(&mut max, || s.handshake(&ssock, &g));
                let (e, st) = (s.error(), s.state());
                // The timer starts when the server's flight goes out (to the peer, which
                // is the capturing client's address: nobody listens there any more).
                let _ = drain(&sink);
                let answered = s.next_timeout_ms() >= 0;
                let label = if ok {
                    assert_eq!(e, QDTLS_ERROR_NO_ERROR);
                    assert_eq!(st, QDTLS_HANDSHAKE_IN_PROGRESS);
                    if answered {
                        // A ClientHello OpenSSL could parse: the server's flight went out, the timer runs.
                        assert_eq!(g[0], 22);
                        assert!(s.next_timeout_ms() >= 0);
                        "true, InProgress, flight sent".to_string()
                    } else {
                        // InProgress with no timer would never end (fixed in 197688a).
                        panic!("{} case {i}: InProgress, nothing sent, no timer: {g:02x?}", KINDS[k]);
                    }
                } else {
                    let want =
                        if g.is_empty() { QDTLS_ERROR_INVALID_INPUT_PARAMETERS } else { QDTLS_ERROR_TLS_FATAL_ERROR };
                    assert_eq!(e, want, "{} case {i}: {}", KINDS[k], s.error_string());
                    assert_eq!(st, QDTLS_HANDSHAKE_NOT_STARTED);
                    assert!(!s.error_string().is_empty());
                    assert!(!answered, "a refused datagram was answered");
                    format!("false, {}", err_name(e))
                };
                h.add(format!("{flavour:?} cookies {:<5} {:<16} -> {label}", cookies, KINDS[k]));
            }
        }
        h.print(&format!("server do_handshake, first datagram: {n} garbage cases (max call {max:?})"));
        assert!(h.count("Psk cookies true") > 0 && h.count("Cert cookies false") > 0);
    });
}

/// Regression (found here, fixed in 59cb21d): a server without cookie
/// verification whose first datagram is something OpenSSL discards
/// (garbage, a truncated ClientHello) returned true and sat in
/// HandshakeInProgress with no timer, one stuck session per forged datagram.
/// It must be refused (TlsFatalError, NotStarted), as with cookies on.
#[test]
fn a_server_started_by_garbage_never_hangs_in_progress_without_a_timer() {
    let sp = Psk::new(b"", KEY);
    let (sink, ssock) = (nb_udp(), nb_udp());
    let (psk_capture, _) = corpus();
    let hello = &psk_capture.dgrams.iter().find(|c| c.name == "client-hello-0").unwrap().data;
    for g in [
        vec![0xba, 1, 2, 3, 4, 5],
        hello[..hello.len() / 2].to_vec(),
        vec![23, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0],
    ] {
        let s = Dtls::server().with_config(&psk_cfg()).with_psk(&sp);
        assert!(s.set_peer(sink.local_addr().unwrap(), ""));
        let ok = s.handshake(&ssock, &g);
        assert!(
            s.state() != QDTLS_HANDSHAKE_IN_PROGRESS || s.next_timeout_ms() >= 0,
            "{g:02x?}: returned {ok}, InProgress with no timer and nothing sent: {:?}",
            drain(&sink).len()
        );
    }
}

/// Regression (found here, fixed in 197688a): the same stuck state through a
/// first datagram that starts with a ClientHello record but that OpenSSL
/// drops silently: a record version OpenSSL does not take, or a message_seq
/// it does not expect first. OpenSSL waits for message 0 from a server that
/// did not run DTLSv1_listen, and for message 1 after it did (message_seq is
/// bytes 17-18). Before the fix:
///
/// | cookie verification | message_seq 0 | message_seq 1 | message_seq 2+ |
/// | off                 | answered      | STUCK         | STUCK          |
/// | on (cookie valid)   | STUCK         | answered      | refused        |
///
/// and a first ClientHello with a garbled record version (bytes 1-2, e.g.
/// 0x5bff) was STUCK too. STUCK: qdtls_do_handshake returned true, state
/// InProgress, nothing sent, qdtls_next_timeout_ms -1, forever.
#[test]
fn a_server_never_sits_in_progress_without_a_timer_after_a_client_hello() {
    let mut stuck = Vec::new();
    for cookies in [false, true] {
        for seq in [0u8, 1, 2] {
            let v = Verifier::new();
            let (csock, ssock) = (nb_udp(), nb_udp());
            let caddr = csock.local_addr().unwrap();
            let client = Dtls::client().with_config(&psk_cfg());
            assert!(client.set_peer(ssock.local_addr().unwrap(), ""));
            assert!(client.handshake(&csock, &[]));
            let hello = drain(&ssock).remove(0);
            assert!(!v.verify(&ssock, &hello, caddr));
            let hvr = drain(&csock).remove(0);
            assert!(client.handshake(&csock, &hvr));
            let mut hello2 = drain(&ssock).remove(0);
            assert_eq!(hello2[17..19], [0, 1], "the second ClientHello has message_seq 1");
            hello2[18] = seq;
            let scfg = psk_cfg();
            scfg.cookies(cookies);
            let sp = Psk::new(b"", KEY);
            let s = Dtls::server().with_config(&scfg).with_psk(&sp);
            assert!(s.set_peer(caddr, ""));
            let ok = s.handshake(&ssock, &hello2);
            if s.state() == QDTLS_HANDSHAKE_IN_PROGRESS && s.next_timeout_ms() < 0 {
                stuck.push(format!("cookies {cookies}, message_seq {seq}: returned {ok}, InProgress, no timer"));
            }
        }
    }
    // A first ClientHello whose record version OpenSSL drops, no cookies.
    let client = Dtls::client().with_config(&psk_cfg());
    let (csock, ssock) = (nb_udp(), nb_udp());
    assert!(client.set_peer(ssock.local_addr().unwrap(), ""));
    assert!(client.handshake(&csock, &[]));
    let mut hello = drain(&ssock).remove(0);
    hello[1..3].copy_from_slice(&[0x5b, 0xff]);
    let sp = Psk::new(b"", KEY);
    let s = Dtls::server().with_config(&psk_cfg()).with_psk(&sp);
    assert!(s.set_peer(csock.local_addr().unwrap(), ""));
    let ok = s.handshake(&ssock, &hello);
    if s.state() == QDTLS_HANDSHAKE_IN_PROGRESS && s.next_timeout_ms() < 0 {
        stuck.push(format!("cookies false, record version 0x5bff: returned {ok}, InProgress, no timer"));
    }
    assert!(stuck.is_empty(), "{}", stuck.join("\n"));
}

/// Every datagram of two captured exchanges (PSK and certificates, with the
/// cookie exchange), replayed unmodified into each state of OTHER sessions:
/// a table of outcomes, deterministic (no randomness), checked against the
/// documented results. Established sessions never die; handshakes in
/// progress may: the table shows exactly which replays end them.
#[test]
fn replays_of_another_exchange_into_every_state() {
    let _g = shared();
    with_watchdog(Duration::from_secs(120), || {
        let (a, b) = corpus();
        let mut table: BTreeMap<(String, &str), String> = BTreeMap::new();
        let states =
            ["client hello sent", "server awaiting Finished", "client awaiting Finished", "established (both)"];
        for (flavour, cap) in [(Flavour::Psk, a), (Flavour::Cert, b)] {
            for c in &cap.dgrams {
                let row = format!("{flavour:?} {}", c.name);
                for (si, stage) in
                    [Stage::ClientHelloSent, Stage::ServerAwaitingFinished, Stage::ClientAwaitingFinished]
                        .into_iter()
                        .enumerate()
                {
                    let mut p = Pair::at(flavour, stage);
                    let (d, s) = p.target(stage);
                    let ok = d.handshake(s, &c.data);
                    let (e, st) = (d.error(), d.state());
                    assert!(
                        (ok && e == QDTLS_ERROR_NO_ERROR && st == QDTLS_HANDSHAKE_IN_PROGRESS)
                            || (!ok && e == QDTLS_ERROR_TLS_FATAL_ERROR && st == QDTLS_HANDSHAKE_NOT_STARTED),
                        "{row} into {stage:?}: {ok} {} {}",
                        err_name(e),
                        state_name(st)
                    );
                    let cell = if ok {
                        match p.finish(Duration::from_secs(2)) {
                            Ok(()) => "ignored".to_string(),
                            Err(e) => format!("derailed ({e})"),
                        }
                    } else {
                        "ENDS IT (TlsFatalError)".to_string()
                    };
                    table.insert((row.clone(), states[si]), cell);
                }
                // Established: both sides get it; they must not care.
                let mut p = Pair::at(flavour, Stage::ClientHelloSent);
                p.finish(Duration::from_secs(10)).unwrap();
                for (d, s) in [(&p.client, &p.csock), (&p.server, &p.ssock)] {
                    match d.decrypt(s, &c.data) {
                        Some(x) => assert!(x.is_empty() && d.error() == QDTLS_ERROR_NO_ERROR),
                        None => assert_eq!(d.error(), QDTLS_ERROR_TLS_NON_FATAL_ERROR),
                    }
                    assert!(d.encrypted(), "{row} closed an established session");
                }
                assert_eq!(p.client.write(&p.csock, b"ok"), 2);
                let dg = drain(&p.ssock).remove(0);
                assert_eq!(p.server.decrypt(&p.ssock, &dg).as_deref(), Some(&b"ok"[..]));
                table.insert((row, states[3]), "ignored".into());
            }
        }
        println!("replayed datagram of another exchange -> outcome, per state of the receiver");
        let mut last = String::new();
        for ((row, state), cell) in &table {
            if *row != last {
                println!("  {row}");
                last = row.clone();
            }
            println!("      {state:<26} {cell}");
        }
        assert!(table.values().filter(|c| c.as_str() == "ignored").count() > table.len() / 2);
    });
}
