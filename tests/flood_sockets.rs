//! Floods over real loopback sockets: a verifier flooded with cookie-less
//! ClientHellos while real clients get through (`QDTLS_FLOOD_HELLOS`), and a
//! garbage flood at an established session (`QDTLS_FLOOD_GARBAGE`). Part of
//! the flood tests (what they show: tests/common/flood.rs).

mod common;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use common::flood::*;
use common::harness::*;
use common::rng::Rng;
use qdtls::ffi::*;

// ---- floods over real sockets ---------------------------------------------------------------------

/// A real client whose handshake goes through the flooded verifier.
struct RealClient {
    dtls: Dtls,
    sock: UdpSocket,
    _psk: Box<Psk>,
    done: bool,
}

/// 100,000 cookie-less ClientHellos from 64 sockets into one verifier, most
/// with forged (spoofed) source addresses, so the verifier sees ~100,000
/// distinct clients. Real clients started every 1000 hellos must still be
/// verified and complete their handshakes, and memory must not grow with
/// the number of sources.
///
/// Why VmRSS growth below 20 MB shows there is no per-source state: after
/// a warm-up, 90% of the hellos come from ~90,000 sources never seen before.
/// Keeping anything per source (an SSL object is several KB; even a 256-byte
/// record) would add over 20 MB. The verifier keeps one reusable scratch SSL,
/// its parameters, the last error and the last verified hello, nothing else.
/// The test holds the file's lock exclusively, so no other test in this
/// binary allocates meanwhile.
#[test]
fn verifier_flood_keeps_no_per_source_state_and_real_clients_get_through() {
    let _g = EXCLUSIVE.write().unwrap_or_else(|e| e.into_inner());
    let n = env_count("QDTLS_FLOOD_HELLOS", 100_000);
    with_watchdog(Duration::from_secs(300), move || {
        let started = Instant::now();
        let vsock = nb_udp();
        let vaddr = vsock.local_addr().unwrap();
        let flooders: Vec<UdpSocket> = (0..64).map(|_| nb_udp()).collect();
        let flooder_ports: std::collections::HashSet<u16> =
            flooders.iter().map(|s| s.local_addr().unwrap().port()).collect();
        // Real cookie-less ClientHellos of both kinds, as templates.
        let (pc, cc) = corpus();
        let templates: Vec<Vec<u8>> = [pc, cc]
            .iter()
            .map(|c| c.dgrams.iter().find(|d| d.name == "client-hello-0").unwrap().data.clone())
            .collect();
        let v = Verifier::new();
        let scfg = Cfg::psk();
        scfg.cookies(true);
        let sp = Psk::new(b"", KEY);
        let ccfg = Cfg::psk();
        let mut servers: HashMap<SocketAddr, Dtls> = HashMap::new();
        let mut clients: Vec<RealClient> = Vec::new();
        let mut h = Histogram::default();
        let (mut hvrs_expected, mut hvrs_seen) = (0usize, 0usize);
        let mut rss_warm = 0;
        let warmup = n / 10;
        let mut sent = 0usize;
        while sent < n || clients.iter().any(|c| !c.done) {
            assert!(started.elapsed() < Duration::from_secs(240), "flood did not finish");
            if sent < n {
                for (k, f) in flooders.iter().enumerate() {
                    if sent >= n {
                        break;
                    }
                    let mut hello = templates[sent % templates.len()].clone();
                    hello[RANDOM_AT..RANDOM_AT + 8].copy_from_slice(&(sent as u64).to_be_bytes());
                    hello[RANDOM_AT + 8] = k as u8;
                    f.send_to(&hello, vaddr).unwrap();
                    sent += 1;
                    if sent % 1000 == 0 {
                        let psk = Psk::new(format!("real-{sent}").as_bytes(), KEY);
                        let dtls = Dtls::client().with_config(&ccfg).with_psk(&psk);
                        let sock = nb_udp();
                        assert!(dtls.set_peer(vaddr, ""));
                        set_first_timeout(&dtls, 100);
                        assert!(dtls.handshake(&sock, &[]));
                        clients.push(RealClient { dtls, sock, _psk: psk, done: false });
                    }
                    if sent == warmup {
                        rss_warm = vm_rss_kb();
                    }
                }
            }
            // The server's loop: known peers to their session, the rest to the verifier.
            let mut i = 0u32;
            while let Some((d, from)) = pending(&vsock) {
                i += 1;
                if let Some(s) = servers.get(&from) {
                    if s.encrypted() {
                        let Some(p) = s.decrypt(&vsock, &d) else {
                            // The real client's close_notify after its echo.
                            assert_eq!(s.error(), QDTLS_ERROR_REMOTE_CLOSED_CONNECTION_ERROR, "{}", s.error_string());
                            continue;
                        };
                        if !p.is_empty() {
                            assert!(p.starts_with(b"ping from "), "{p:?}");
                            assert_eq!(s.write(&vsock, &p), p.len() as i64);
                        }
                    } else {
                        s.handshake(&vsock, &d);
                    }
                    continue;
                }
                let flood = flooder_ports.contains(&from.port());
                // 7 in 8 flood hellos claim a source of their own (spoofed, 127/8:
                // the HelloVerifyRequests go nowhere); the rest keep their real one.
                let seq = u64::from_be_bytes(d[RANDOM_AT..RANDOM_AT + 8].try_into().unwrap()) as usize;
                let claimed = if flood && seq % 8 != 0 {
                    SocketAddr::new(
                        IpAddr::V4(Ipv4Addr::new(127, 1 + (seq >> 16) as u8, (seq >> 8) as u8, seq as u8)),
                        1024 + (seq % 60000) as u16,
                    )
                } else {
                    from
                };
                let ok = v.verify(&vsock, &d, claimed);
                assert_eq!(v.error(), QDTLS_ERROR_NO_ERROR);
                if flood {
                    assert!(!ok, "a cookie-less hello verified");
                    h.add(if claimed == from {
                        "flood hello, real source -> HelloVerifyRequest"
                    } else {
                        "flood hello, forged source -> HelloVerifyRequest"
                    });
                    hvrs_expected += (claimed == from) as usize;
                } else if ok {
                    h.add("real client hello with cookie -> verified, session created");
                    let s = Dtls::server().with_config(&scfg).with_psk(&sp);
                    assert!(s.set_peer(from, ""));
                    assert!(s.handshake(&vsock, &v.verified_hello()), "{}", s.error_string());
                    servers.insert(from, s);
                } else {
                    h.add("real client hello -> HelloVerifyRequest");
                }
                if i > 512 {
                    break; // let the clients run too
                }
            }
            for f in &flooders {
                hvrs_seen += drain(f).len();
            }
            for c in clients.iter_mut().filter(|c| !c.done) {
                while let Some((d, _)) = pending(&c.sock) {
                    if c.dtls.encrypted() {
                        let p = c.dtls.decrypt(&c.sock, &d).expect("client decrypt");
                        if !p.is_empty() {
                            assert!(p.starts_with(b"ping from "));
                            assert!(c.dtls.shutdown(&c.sock));
                            c.done = true;
                            break;
                        }
                    } else {
                        c.dtls.handshake(&c.sock, &d);
                    }
                }
                if c.done {
                    continue;
                }
                assert_ne!(
                    c.dtls.state(),
                    QDTLS_HANDSHAKE_NOT_STARTED,
                    "real client failed: {}",
                    c.dtls.error_string()
                );
                if c.dtls.encrypted() && c.dtls.next_timeout_ms() == -1 {
                    // Once: ping, the server echoes it.
                    let msg = format!("ping from {:?}", c.sock.local_addr().unwrap());
                    if c.dtls.max_payload() > 0 && pending(&c.sock).is_none() {
                        assert_eq!(c.dtls.write(&c.sock, msg.as_bytes()), msg.len() as i64);
                    }
                } else if c.dtls.next_timeout_ms() == 0 {
                    c.dtls.handle_timeout(&c.sock);
                }
            }
        }
        let rss_end = vm_rss_kb();
        let growth_kb = rss_end as i64 - rss_warm as i64;
        h.print(&format!(
            "verifier flood: {n} cookie-less hellos from 64 sockets, {} real clients, {:?}",
            clients.len(),
            started.elapsed()
        ));
        println!("  VmRSS after warm-up {rss_warm} kB, at the end {rss_end} kB: growth {growth_kb} kB");
        println!("  HelloVerifyRequests back at the flood sockets: {hvrs_seen} of {hvrs_expected} expected");
        assert_eq!(h.count("flood"), n, "every flood hello was judged");
        assert_eq!(clients.len(), n / 1000);
        assert!(clients.iter().all(|c| c.done), "every real client completed and got its echo");
        assert_eq!(servers.len(), clients.len(), "one session per real client, none for the flood");
        // Loopback does not lose datagrams we drain in time: an answer per real-source hello.
        assert_eq!(hvrs_seen, hvrs_expected);
        assert!(growth_kb < 20 * 1024, "memory grew by {growth_kb} kB over {} hellos", n - warmup);
    });
}

/// A flood of garbage from 16 attacker sockets at both ends of an
/// established session, whose application decrypts whatever arrives (the
/// worst case: no filtering by source); real messages interleaved are all
/// delivered intact, and the session works afterwards.
#[test]
fn garbage_flood_at_an_established_session_leaves_it_working() {
    let _g = shared();
    let n = env_count("QDTLS_FLOOD_GARBAGE", 20_000);
    with_watchdog(Duration::from_secs(300), move || {
        let mut pair = Pair::new(Flavour::Psk);
        assert!(pair.client.handshake(&pair.csock, &[]));
        pair.finish(Duration::from_secs(10)).unwrap();
        let mut base = corpus_datagrams();
        for len in [10usize, 200] {
            // This session's own records, delivered once: copies are replays.
            assert!(pair.client.write(&pair.csock, &vec![3; len]) > 0);
            let d = drain(&pair.ssock).remove(0);
            assert_eq!(pair.server.decrypt(&pair.ssock, &d).unwrap().len(), len);
            base.push(d);
            assert!(pair.server.write(&pair.ssock, &vec![4; len]) > 0);
            let d = drain(&pair.csock).remove(0);
            assert_eq!(pair.client.decrypt(&pair.csock, &d).unwrap().len(), len);
            base.push(d);
        }
        let attackers: Vec<UdpSocket> = (0..16).map(|_| nb_udp()).collect();
        let targets = [pair.ssock.local_addr().unwrap(), pair.csock.local_addr().unwrap()];
        let mut rng = Rng::new(0x5eed_0050);
        let (mut real_sent, mut real_got, mut garbage_seen) = (0usize, 0usize, 0usize);
        let mut h = Histogram::default();
        let mut sent = 0;
        while sent < n {
            for a in &attackers {
                let k = rng.below(KINDS.len());
                let g = garbage(&mut rng, &base, k);
                if !g.is_empty() {
                    a.send_to(&g, targets[sent % 2]).unwrap();
                }
                sent += 1;
            }
            if sent % 160 == 0 {
                let msg = format!("real message {real_sent}");
                let (tx, txs) =
                    if real_sent % 2 == 0 { (&pair.client, &pair.csock) } else { (&pair.server, &pair.ssock) };
                assert_eq!(tx.write(txs, msg.as_bytes()), msg.len() as i64);
                real_sent += 1;
            }
            for (d, s) in [(&pair.server, &pair.ssock), (&pair.client, &pair.csock)] {
                while let Some((dg, _)) = pending(s) {
                    match d.decrypt(s, &dg) {
                        Some(p) if !p.is_empty() => {
                            let text = String::from_utf8(p).expect("intact plaintext");
                            assert!(text.starts_with("real message "), "{text}");
                            real_got += 1;
                        }
                        Some(_) => {
                            garbage_seen += 1;
                            h.add("garbage -> 0 bytes, NoError");
                        }
                        None => {
                            garbage_seen += 1;
                            assert_eq!(d.error(), QDTLS_ERROR_TLS_NON_FATAL_ERROR, "{}", d.error_string());
                            h.add("garbage -> -1, TlsNonFatalError");
                        }
                    }
                    assert!(d.encrypted(), "the flood closed the session");
                }
            }
        }
        h.print(&format!("garbage flood: {n} datagrams from 16 sockets, {real_sent} real messages among them"));
        assert_eq!(real_got, real_sent, "every real message arrived once and intact");
        assert!(garbage_seen > n * 9 / 10, "the garbage was really delivered ({garbage_seen})");
        for (from_client, msg) in [(true, b"after".as_slice()), (false, b"flood".as_slice())] {
            let (tx, txs, rx, rxs) = if from_client {
                (&pair.client, &pair.csock, &pair.server, &pair.ssock)
            } else {
                (&pair.server, &pair.ssock, &pair.client, &pair.csock)
            };
            assert_eq!(tx.write(txs, msg), msg.len() as i64);
            let d = drain(rxs).remove(0);
            assert_eq!(rx.decrypt(rxs, &d).as_deref(), Some(msg));
        }
    });
}
