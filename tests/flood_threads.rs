//! Threads hammering shared configurations, a shared verifier and one
//! handle. Part of the flood tests (what they show: tests/common/flood.rs).

mod common;

use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::flood::*;
use common::harness::*;
use common::rng::Rng;
use qdtls::ffi::config::*;
use qdtls::ffi::dtls::*;
use qdtls::ffi::verifier::*;
use qdtls::ffi::*;

// ---- threads ---------------------------------------------------------------------------------------

/// 16 threads, each running 3 certificate sessions in a row over ONE client
/// configuration, ONE server configuration and ONE verifier, while another
/// thread keeps copying the configurations. (tests/data.rs has 8 threads on
/// a PSK configuration; this adds certificates, cookies and a shared verifier.)
///
/// With a verifier shared by threads, a thread must not rely on
/// verified_hello() (another thread may verify in between, as in Qt): a
/// datagram that verified is itself the verified hello, so use it.
#[test]
fn threads_run_sessions_over_one_shared_configuration_and_verifier() {
    let _g = shared();
    with_watchdog(Duration::from_secs(120), || {
        let ccfg = cert_client_cfg();
        let scfg = cert_server_cfg(true);
        let v = Verifier::new();
        let (cc, sc, vv) = (SendPtr(ccfg.0), SendPtr(scfg.0), SendPtr(v.0));
        let stop = AtomicBool::new(false);
        let completed = AtomicUsize::new(0);
        std::thread::scope(|sc_| {
            let stop = &stop;
            sc_.spawn(move || {
                let (cc, sc) = (cc, sc);
                let mut copies = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    for c in [cc.0, sc.0] {
                        let copy = unsafe { qdtls_configuration_clone(c) };
                        assert!(!copy.is_null());
                        assert_eq!(unsafe { qdtls_configuration_ca_certificate_count(copy) }, unsafe {
                            qdtls_configuration_ca_certificate_count(c)
                        });
                        assert!(read_str(|b, n| unsafe { qdtls_configuration_ciphers(copy, b, n) }).contains("DEFAULT"));
                        unsafe { qdtls_configuration_free(copy) };
                        copies += 1;
                    }
                }
                assert!(copies > 0);
            });
            let workers: Vec<_> = (0..16)
                .map(|t| {
                    let completed = &completed;
                    sc_.spawn(move || {
                        let (cc, sc, vv) = (cc, sc, vv);
                        for round in 0..3 {
                            let client = Dtls::client();
                            let server = Dtls::server();
                            assert!(unsafe { qdtls_set_dtls_configuration(client.0, cc.0) });
                            assert!(unsafe { qdtls_set_dtls_configuration(server.0, sc.0) });
                            let (csock, ssock) = (nb_udp(), nb_udp());
                            let caddr = csock.local_addr().unwrap();
                            assert!(client.set_peer(ssock.local_addr().unwrap(), "flood.test"));
                            assert!(server.set_peer(caddr, ""));
                            set_first_timeout(&client, 200);
                            assert!(client.handshake(&csock, &[]));
                            let deadline = Instant::now() + Duration::from_secs(30);
                            while !(client.encrypted() && server.encrypted()) {
                                assert!(Instant::now() < deadline, "thread {t} round {round} did not complete");
                                while let Some((d, _)) = pending(&ssock) {
                                    if server.state() == QDTLS_HANDSHAKE_NOT_STARTED {
                                        let a = std::ffi::CString::new(caddr.ip().to_string()).unwrap();
                                        let ok = unsafe {
                                            qdtls_client_verifier_verify_client(
                                                vv.0,
                                                ssock.as_raw_fd(),
                                                d.as_ptr(),
                                                d.len(),
                                                a.as_ptr(),
                                                caddr.port(),
                                            )
                                        };
                                        if ok {
                                            assert!(server.handshake(&ssock, &d), "{}", server.error_string());
                                        }
                                    } else if server.encrypted() {
                                        server.decrypt(&ssock, &d);
                                    } else {
                                        server.handshake(&ssock, &d);
                                    }
                                }
                                while let Some((d, _)) = pending(&csock) {
                                    if client.encrypted() {
                                        client.decrypt(&csock, &d);
                                    } else {
                                        client.handshake(&csock, &d);
                                    }
                                }
                                assert_ne!(client.state(), QDTLS_HANDSHAKE_NOT_STARTED, "{}", client.error_string());
                                assert_ne!(client.state(), QDTLS_PEER_VERIFICATION_FAILED);
                                for (d, s) in [(&client, &csock), (&server, &ssock)] {
                                    if d.next_timeout_ms() == 0 {
                                        d.handle_timeout(s);
                                    }
                                }
                                std::thread::sleep(Duration::from_micros(200));
                            }
                            for i in 0..10 {
                                let msg = format!("t{t} r{round} m{i}");
                                assert_eq!(client.write(&csock, msg.as_bytes()), msg.len() as i64);
                                let got = loop {
                                    if let Some((d, _)) = pending(&ssock) {
                                        let p = server.decrypt(&ssock, &d).unwrap();
                                        if !p.is_empty() {
                                            break p;
                                        }
                                    }
                                    std::thread::yield_now();
                                };
                                assert_eq!(got, msg.as_bytes());
                                assert_eq!(server.write(&ssock, &got), got.len() as i64);
                                let back = loop {
                                    if let Some((d, _)) = pending(&csock) {
                                        let p = client.decrypt(&csock, &d).unwrap();
                                        if !p.is_empty() {
                                            break p;
                                        }
                                    }
                                    std::thread::yield_now();
                                };
                                assert_eq!(back, msg.as_bytes());
                            }
                            assert!(client.shutdown(&csock));
                            let close = loop {
                                if let Some((d, _)) = pending(&ssock) {
                                    break d;
                                }
                                std::thread::yield_now();
                            };
                            assert!(server.decrypt(&ssock, &close).is_none());
                            assert_eq!(server.error(), QDTLS_ERROR_REMOTE_CLOSED_CONNECTION_ERROR);
                            completed.fetch_add(1, Ordering::SeqCst);
                        }
                    })
                })
                .collect();
            for w in workers {
                w.join().unwrap();
            }
            stop.store(true, Ordering::SeqCst);
        });
        assert_eq!(completed.load(Ordering::SeqCst), 48);
        println!("48 certificate sessions on 16 threads over one configuration pair and one verifier");
    });
}

/// Whether `d` is an epoch-0 ClientHello.
fn is_client_hello(d: &[u8]) -> bool {
    d.len() > 13 && d[0] == 22 && d[3] == 0 && d[4] == 0 && d[13] == 1
}

/// Two threads hammer ONE client handle with random operations (handshake
/// steps, write, decrypt, shutdown, abort, set_peer, timers, configuration
/// and MTU setters) while a third thread runs a server that answers
/// whatever arrives. No crash, no deadlock (watchdog), every return value in
/// its documented domain, error codes from the documented set, no corrupted
/// plaintext at the server; afterwards the handle still handshakes normally.
///
/// The last error is per handle, so with two threads the code read after a
/// call may be the other thread's: codes are checked against the set every
/// operation can document, and PeerVerificationError / TlsInitializationError
/// (impossible with this PSK configuration) must never appear.
#[test]
fn threads_two_threads_hammer_one_handle() {
    let _g = shared();
    const OPS_PER_THREAD: usize = 20_000;
    let report = with_watchdog(Duration::from_secs(120), || {
        let cfg = Cfg::psk();
        let (cp, sp) = (Psk::new(b"hammer", KEY), Psk::new(b"", KEY));
        let client = Dtls::client().with_config(&cfg).with_psk(&cp);
        let csock = nb_udp();
        let ssock = nb_udp();
        let saddr = ssock.local_addr().unwrap();
        assert!(client.set_peer(saddr, ""));
        set_first_timeout(&client, 20);
        let stop = AtomicBool::new(false);
        let plaintexts = AtomicUsize::new(0);
        let sessions = AtomicUsize::new(0);
        let hist = Mutex::new(Histogram::default());
        let h = SendPtr(client.0);
        let cfgp = SendPtr(cfg.0);
        std::thread::scope(|sc| {
            let (stop, plaintexts, sessions, hist) = (&stop, &plaintexts, &sessions, &hist);
            let (ssock, csock, sp) = (&ssock, &csock, &sp);
            // The server: a new session for every new ClientHello.
            sc.spawn(move || {
                let mut server: Option<Dtls> = None;
                let mut random = Vec::new();
                while !stop.load(Ordering::SeqCst) {
                    let Some((d, from)) = pending(ssock) else {
                        if let Some(s) = &server {
                            if s.next_timeout_ms() == 0 {
                                s.handle_timeout(ssock);
                            }
                        }
                        std::thread::sleep(Duration::from_micros(200));
                        continue;
                    };
                    // A ClientHello with a new random starts a new handshake (a
                    // retransmitted or cookie-less one repeats the random).
                    let new_random = is_client_hello(&d) && d[RANDOM_AT..RANDOM_AT + 32] != random[..];
                    if new_random {
                        random = d[RANDOM_AT..RANDOM_AT + 32].to_vec();
                        let s = Dtls::server().with_config(&shared_cfgs().psk).with_psk(sp);
                        assert!(s.set_peer(from, ""));
                        set_first_timeout(&s, 20);
                        s.handshake(ssock, &d);
                        sessions.fetch_add(1, Ordering::SeqCst);
                        server = Some(s);
                        continue;
                    }
                    let Some(s) = &server else { continue };
                    match s.state() {
                        QDTLS_HANDSHAKE_IN_PROGRESS => {
                            s.handshake(ssock, &d);
                        }
                        QDTLS_HANDSHAKE_COMPLETE => {
                            if let Some(p) = s.decrypt(ssock, &d) {
                                if !p.is_empty() {
                                    let text = String::from_utf8(p).expect("intact plaintext");
                                    assert!(text.starts_with("hammer "), "corrupted plaintext {text:?}");
                                    plaintexts.fetch_add(1, Ordering::SeqCst);
                                    let _ = s.write(ssock, b"ack");
                                }
                            }
                        }
                        _ => {}
                    }
                }
            });
            // Stops the server thread even if a hammer panics (the scope joins it).
            struct StopOnDrop<'a>(&'a AtomicBool);
            impl Drop for StopOnDrop<'_> {
                fn drop(&mut self) {
                    self.0.store(true, Ordering::SeqCst);
                }
            }
            let _stop_guard = StopOnDrop(stop);
            let hammers: Vec<_> = (0..2u64)
                .map(|t| {
                    sc.spawn(move || {
                        let (h, cfgp) = (h, cfgp);
                        // Borrowed: never freed here, even if this thread panics.
                        let d = std::mem::ManuallyDrop::new(Dtls(h.0));
                        let mut rng = Rng::new(0x4a11 + t);
                        let allowed = [
                            QDTLS_ERROR_NO_ERROR,
                            QDTLS_ERROR_INVALID_INPUT_PARAMETERS,
                            QDTLS_ERROR_INVALID_OPERATION,
                            QDTLS_ERROR_UNDERLYING_SOCKET_ERROR,
                            QDTLS_ERROR_REMOTE_CLOSED_CONNECTION_ERROR,
                            QDTLS_ERROR_TLS_FATAL_ERROR,
                            QDTLS_ERROR_TLS_NON_FATAL_ERROR,
                        ];
                        let mut local = Histogram::default();
                        for i in 0..OPS_PER_THREAD {
                            // Weighted so that handshakes often complete between the
                            // disruptive operations (shutdown, abort, restart).
                            const WEIGHTS: [usize; 16] = [4, 12, 12, 12, 12, 12, 10, 10, 6, 2, 3, 2, 10, 3, 4, 6];
                            let mut pick = rng.below(WEIGHTS.iter().sum());
                            let op = WEIGHTS.iter().position(|&w| {
                                pick < w || {
                                    pick -= w;
                                    false
                                }
                            });
                            let op = op.unwrap();
                            let (name, result): (&str, String) = match op {
                                0 => ("do_handshake(start)", d.handshake(csock, &[]).to_string()),
                                1..=5 => {
                                    // Feed what arrived, by the state seen a moment ago.
                                    match pending(csock) {
                                        None => ("feed (nothing)", "-".into()),
                                        Some((dg, _)) if d.encrypted() => match d.decrypt(csock, &dg) {
                                            Some(p) => {
                                                assert!(p.is_empty() || p == b"ack", "{p:?}");
                                                ("decrypt", format!("{} bytes", p.len()))
                                            }
                                            None => ("decrypt", "-1".into()),
                                        },
                                        Some((dg, _)) => {
                                            ("do_handshake(datagram)", d.handshake(csock, &dg).to_string())
                                        }
                                    }
                                }
                                6 | 7 => {
                                    let msg = format!("hammer {t} {i}");
                                    let r = d.write(csock, msg.as_bytes());
                                    assert!(r == -1 || r == msg.len() as i64, "write returned {r}");
                                    ("write", if r < 0 { "-1".into() } else { "len".into() })
                                }
                                8 => {
                                    let len = rng.below(100);
                                    let g = rng.bytes(len);
                                    let r = d.decrypt(csock, &g);
                                    assert!(r.as_ref().is_none_or(|p| p.is_empty()));
                                    ("decrypt(garbage)", if r.is_some() { "0 bytes" } else { "-1" }.into())
                                }
                                9 => ("shutdown", d.shutdown(csock).to_string()),
                                10 => ("set_peer", d.set_peer(saddr, "").to_string()),
                                11 => ("abort_handshake", d.abort(csock).to_string()),
                                12 => ("handle_timeout", d.handle_timeout(csock).to_string()),
                                13 => ("resume_handshake", d.resume(csock).to_string()),
                                14 => {
                                    unsafe { qdtls_set_mtu_hint(d.0, [0u16, 1200, 1400][rng.below(3)]) };
                                    let t = d.next_timeout_ms();
                                    assert!(t >= -1);
                                    let ok = unsafe { qdtls_set_dtls_configuration(d.0, cfgp.0) };
                                    ("set_mtu_hint+set_dtls_configuration", ok.to_string())
                                }
                                _ => {
                                    let ok = d.ignore(&[]);
                                    assert!(ok);
                                    // One call each with a large buffer: the harness's
                                    // read_str asks twice, which races with the other thread.
                                    let mut buf = [0u8; 1024];
                                    let n = unsafe { qdtls_dtls_error_string(d.0, buf.as_mut_ptr().cast(), buf.len()) };
                                    assert!(n < buf.len() && buf[n] == 0, "error string not NUL-terminated");
                                    let n = unsafe { qdtls_session_cipher(d.0, buf.as_mut_ptr().cast(), buf.len()) };
                                    assert!(n < buf.len() && buf[n] == 0);
                                    let _ = (d.protocol(), d.max_payload(), d.state(), d.encrypted());
                                    ("getters+ignore_verification_errors", ok.to_string())
                                }
                            };
                            let e = d.error();
                            assert!(
                                allowed.contains(&e),
                                "{name}: error {e} ({}) is not a documented outcome",
                                err_name(e)
                            );
                            local.add(format!("{name:<38} {result:<8} last error {}", err_name(e)));
                            if op == 0 || op == 9 || op == 11 {
                                std::thread::sleep(Duration::from_micros(300));
                            }
                        }
                        let mut g = hist.lock().unwrap();
                        for (k, v) in local.0 {
                            *g.0.entry(k).or_default() += v;
                        }
                    })
                })
                .collect();
            for hm in hammers {
                hm.join().unwrap();
            }
            stop.store(true, Ordering::SeqCst);
        });
        // The storm is over: the same handle, brought back to NotStarted, runs a
        // normal session with a fresh server (the storm's server had stale
        // ClientHellos queued, whose answers would only confuse a new handshake).
        match client.state() {
            QDTLS_HANDSHAKE_COMPLETE => assert!(client.shutdown(&csock)),
            QDTLS_HANDSHAKE_IN_PROGRESS | QDTLS_PEER_VERIFICATION_FAILED => assert!(client.abort(&csock)),
            _ => {}
        }
        assert_eq!(client.state(), QDTLS_HANDSHAKE_NOT_STARTED);
        let fresh = nb_udp();
        let server = Dtls::server().with_config(&cfg).with_psk(&sp);
        assert!(server.set_peer(csock.local_addr().unwrap(), ""));
        assert!(client.set_peer(fresh.local_addr().unwrap(), ""));
        std::thread::sleep(Duration::from_millis(20));
        let _ = drain(&csock);
        assert!(client.handshake(&csock, &[]), "{}", client.error_string());
        let deadline = Instant::now() + Duration::from_secs(20);
        while !(client.encrypted() && server.encrypted()) {
            assert!(Instant::now() < deadline, "no handshake after the storm: {}", client.error_string());
            while let Some((dg, _)) = pending(&fresh) {
                server.handshake(&fresh, &dg);
            }
            while let Some((dg, _)) = pending(&csock) {
                client.handshake(&csock, &dg);
            }
            if client.next_timeout_ms() == 0 {
                client.handle_timeout(&csock);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(client.write(&csock, b"hammer final"), 12);
        let dg = drain(&fresh).remove(0);
        assert_eq!(server.decrypt(&fresh, &dg).as_deref(), Some(&b"hammer final"[..]));
        let h = hist.into_inner().unwrap();
        (h, sessions.load(Ordering::SeqCst), plaintexts.load(Ordering::SeqCst))
    });
    let (h, sessions, plaintexts) = report;
    h.print(&format!("two threads x {OPS_PER_THREAD} operations on one handle"));
    println!("  server sessions started: {sessions}, plaintexts received intact: {plaintexts}");
    // The storm really reached every kind of outcome: handshakes completed
    // (writes went through and the server read them) and were torn down again.
    assert!(h.count("write                                  len") > 0, "no write ever succeeded");
    assert!(plaintexts > 0 && sessions >= 2, "sessions {sessions}, plaintexts {plaintexts}");
    assert!(h.count("shutdown                               true") > 0);
    assert!(h.count("abort_handshake                        true") > 0);
}
