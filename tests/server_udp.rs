//! `qdtls::Server` over real loopback UDP: a server on its own thread, qdtls
//! clients driven from the test thread on non-blocking sockets.
//!
//! - 1,000 clients at once complete their handshakes and echo;
//! - a client killed without shutdown and restarted on the same port gets
//!   in again at once, its old session closed as Replaced;
//! - close_notify, idle expiry, the server's shutdown: exact close reasons;
//! - max_peers_per_address refuses one client more, until one leaves;
//! - garbage (random bytes, truncated records, forged ClientHellos, with and
//!   without a valid cookie) from an established client's address and from
//!   fresh sockets never disturbs the established clients;
//! - certificates as well as PSK, and a client that rejects the server;
//! - two servers sharing one cookie secret, and examples/server_reuseport.rs
//!   (compiled in as a module) with two threads.
//!
//! Every wait is for a condition, with a deadline.
//!
//! The server thread, the clients and the loops driving them:
//! tests/common/server_udp_harness.rs.

mod common;
#[path = "../examples/server_reuseport.rs"]
mod reuseport;

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

use common::certs::{Ca, KeyKind, LeafSpec};
use common::rng::Rng;
use common::server_udp_harness::*;
use qdtls::{CloseReason, Configuration, HandshakeState, PeerVerifyMode, Server, ServerEvents};

// ---- many clients ---------------------------------------------------------------------------

#[test]
fn a_thousand_clients_complete_and_echo() {
    const N: usize = 1000;
    raise_fd_limit();
    let server = Running::psk(|_| {});
    let started = Instant::now();
    let mut clients: Vec<Client> = (0..N).map(|_| Client::new(server.addr)).collect();
    // Every ClientHello at once. With the server's receive buffer at 4 MiB
    // (the default rmem_max is 208 KiB: then part of the burst is dropped and
    // retransmitted, about 3 s more) this takes 0.3 to 0.6 s in a debug build.
    connect_all(&mut clients, N);
    let handshakes = started.elapsed();
    // All 1,000 at once: every one is still a peer.
    assert_eq!(server.counts(), (N, 0));
    // Echoes 256 at a time: a datagram lost to a full buffer is not resent.
    echo_all(&mut clients, 256, |i| format!("hello {i}"));
    println!("{N} clients: handshakes {handshakes:?}, with the echoes {:?}", started.elapsed());
    let seen = server.seen();
    assert_eq!(seen.connected.len(), N);
    let mut addrs = seen.connected.clone();
    addrs.sort();
    addrs.dedup();
    assert_eq!(addrs.len(), N, "one connected event per client");
    assert_eq!(seen.datagrams, N);
    assert!(seen.closed.is_empty(), "closed: {:?}", seen.closed);
}

// ---- close reasons --------------------------------------------------------------------------

#[test]
fn a_client_restarted_on_its_port_replaces_its_old_session() {
    restart_on_the_same_port(true);
}

#[test]
fn without_cookies_too_a_restarted_client_replaces_its_old_session() {
    restart_on_the_same_port(false);
}

fn restart_on_the_same_port(cookies: bool) {
    let mut cfg = psk_config();
    cfg.set_dtls_cookie_verification_enabled(cookies);
    let server = Running::start(cfg, |s| s.set_idle_timeout(Some(Duration::from_secs(60))));
    let (mut a, mut b) = (Client::new(server.addr), Client::new(server.addr));
    connect(&mut [&mut a, &mut b]);
    roundtrip(&mut [&mut a, &mut b], "before");
    let old = a.local();
    drop(a); // killed: no close_notify, the server still has the session
    let restarted = Instant::now();
    // UDP has no TIME_WAIT: the port can be bound again at once.
    let mut a = Client::on(UdpSocket::bind(old).expect("the port is free again"), server.addr);
    a.start();
    drive(&mut [&mut a], "reconnect", |c| c[0].complete());
    roundtrip(&mut [&mut a], "after");
    let took = restarted.elapsed();
    assert!(took < Duration::from_secs(2), "reconnected in {took:?}");
    wait_seen(&server, &mut [&mut a, &mut b], "the old session closed", |s| !s.closed_at(old).is_empty());
    assert_eq!(server.seen().closed_at(old), [(CloseReason::Replaced, true)]);
    assert_eq!(server.seen().connected.iter().filter(|&&x| x == old).count(), 2);
    assert_eq!(server.counts(), (2, 0));
    roundtrip(&mut [&mut a, &mut b], "both");
    assert_eq!(server.seen().closed.len(), 1);
    println!("reconnected in {took:?}");
}

#[test]
fn close_notify_close_peer_and_shutdown_give_their_reasons() {
    let server = Running::psk(|_| {});
    let (mut a, mut b, mut c) = (Client::new(server.addr), Client::new(server.addr), Client::new(server.addr));
    connect(&mut [&mut a, &mut b, &mut c]);
    roundtrip(&mut [&mut a, &mut b, &mut c], "hello");

    a.shutdown();
    let a_addr = a.local();
    wait_seen(&server, &mut [&mut b, &mut c], "close_notify", |s| !s.closed_at(a_addr).is_empty());
    assert_eq!(server.seen().closed_at(a_addr), [(CloseReason::CloseNotify, true)]);
    assert_eq!(server.counts(), (2, 0));

    let b_addr = b.local();
    server
        .with(move |s, ev| {
            let socket = ev.socket;
            s.close_peer(&mut &*socket, b_addr, ev)
        })
        .unwrap();
    drive(&mut [&mut b, &mut c], "close_notify from close_peer", |cs| cs[0].remote_closed);
    assert_eq!(server.seen().closed_at(b_addr), [(CloseReason::Local, true)]);
    let unknown = server.with(move |s, ev| {
        let socket = ev.socket;
        s.close_peer(&mut &*socket, b_addr, ev)
    });
    assert!(unknown.is_err(), "closing a peer that is gone");

    let closed = server.with(|s, ev| {
        let socket = ev.socket;
        s.shutdown(&mut &*socket, ev)
    });
    assert_eq!(closed, 1);
    drive(&mut [&mut c], "close_notify from shutdown", |cs| cs[0].remote_closed);
    let c_addr = c.local();
    assert_eq!(server.seen().closed_at(c_addr), [(CloseReason::Local, true)]);
    assert_eq!(server.counts(), (0, 0));
    assert_eq!(server.seen().closed.len(), 3);
}

#[test]
fn idle_peers_expire_and_busy_ones_do_not() {
    let idle = Duration::from_millis(300);
    let server = Running::psk(move |s| s.set_idle_timeout(Some(idle)));
    let (mut quiet, mut busy) = (Client::new(server.addr), Client::new(server.addr));
    connect(&mut [&mut quiet, &mut busy]);
    // Taken before the quiet client's last datagram leaves: the server
    // cannot have seen it earlier.
    let quiet_since = Instant::now();
    roundtrip(&mut [&mut quiet, &mut busy], "hello");
    // The busy client pings every 50 ms until the quiet one was closed, and
    // then for two idle periods more.
    let (mut closed_after, mut pings, mut last_ping) = (None, 0, Instant::now());
    busy.received.clear();
    drive(&mut [&mut quiet, &mut busy], "idle expiry", |cs| {
        if closed_after.is_none() && cs[0].remote_closed {
            closed_after = Some(quiet_since.elapsed());
        }
        if cs[1].received.len() == pings && last_ping.elapsed() >= Duration::from_millis(50) {
            pings += 1;
            cs[1].send(format!("ping {pings}").as_bytes());
            last_ping = Instant::now();
        }
        closed_after.is_some_and(|t| quiet_since.elapsed() >= t + 2 * idle)
    });
    let closed_after = closed_after.unwrap();
    assert!(closed_after >= idle, "closed after {closed_after:?}, idle timeout {idle:?}");
    let seen = server.seen();
    assert_eq!(seen.closed, [(quiet.local(), CloseReason::IdleTimeout, true)]);
    drop(seen);
    assert_eq!(server.counts(), (1, 0));
    assert!(busy.received.len() + 1 >= pings && pings >= 10, "{pings} pings, {} echoes", busy.received.len());
    println!("idle peer closed after {closed_after:?}; the busy one pinged {pings} times");
}

#[test]
fn max_peers_per_address_refuses_one_more_until_one_leaves() {
    let server = Running::psk(|s| s.set_max_peers_per_address(3));
    let mut cs: Vec<Client> = (0..3).map(|_| Client::new(server.addr)).collect();
    let [c0, c1, c2] = &mut cs[..] else { unreachable!() };
    connect(&mut [c0, c1, c2]);
    let mut extra = Client::new(server.addr);
    extra.dtls.set_initial_timeout(Duration::from_millis(100)).unwrap();
    extra.start();
    // The first ClientHello gets its HelloVerifyRequest (stateless, before
    // any limit); the one with the cookie, and each retransmission of it,
    // is dropped.
    drive(&mut [&mut extra], "retransmissions", |c| c[0].sent >= 4);
    assert_eq!(extra.arrived, 1, "only the HelloVerifyRequest may arrive");
    // An echo sent after them: once it is back, the server has read them all.
    roundtrip(&mut [c0], "behind the refused hellos");
    assert_eq!(extra.dtls.handshake_state(), HandshakeState::InProgress);
    assert_eq!(server.counts(), (3, 0));
    assert_eq!(server.seen().connected.len(), 3);
    assert!(server.seen().closed.is_empty());

    // One leaves: the next retransmission gets in.
    c2.shutdown();
    drive(&mut [&mut extra], "the extra client after one left", |c| c[0].complete());
    roundtrip(&mut [c0, c1, &mut extra], "four");
    let seen = server.seen();
    assert_eq!(seen.closed, [(c2.local(), CloseReason::CloseNotify, true)]);
    assert_eq!(seen.connected.len(), 4);
    assert_eq!(*seen.connected.last().unwrap(), extra.local());
    drop(seen);
    assert_eq!(server.counts(), (3, 0));
}

// ---- garbage ----------------------------------------------------------------------------------

#[test]
fn garbage_never_disturbs_established_clients() {
    let server = Running::psk(|s| s.set_handshake_timeout(Some(Duration::from_millis(500))));
    let (mut victim, mut other) = (Client::new(server.addr), Client::new(server.addr));
    connect(&mut [&mut victim, &mut other]);
    roundtrip(&mut [&mut victim, &mut other], "before");
    let fresh: Vec<UdpSocket> = (0..3).map(|_| fresh_socket()).collect();
    let mut rng = Rng::new(11);
    let hello = client_hello(server.addr);
    // A real record of the victim's session (its sequence number is used up: DTLS allows gaps).
    let mut cap = Capture::default();
    victim.dtls.write_datagram_encrypted(&mut cap, b"a record to cut").unwrap();
    let record = cap.0.remove(0);

    // Random bytes, truncated records and ClientHellos, mutated ClientHellos,
    // from the victim's address and from fresh ones.
    let mut sent = 0;
    for round in 0..40 {
        let sources: Vec<&UdpSocket> = std::iter::once(&victim.socket).chain(&fresh).collect();
        for s in sources {
            let d = match rng.below(4) {
                0 => {
                    let n = 1 + rng.below(1400);
                    rng.bytes(n)
                }
                1 => record[..rng.below(record.len())].to_vec(),
                2 => hello[..rng.below(hello.len())].to_vec(),
                _ => {
                    let mut h = hello.clone();
                    for _ in 0..1 + rng.below(4) {
                        let i = rng.below(h.len());
                        h[i] ^= 1 + rng.below(255) as u8;
                    }
                    h
                }
            };
            s.send_to(&d, server.addr).unwrap();
            sent += 1;
        }
        if round % 10 == 9 {
            roundtrip(&mut [&mut victim, &mut other], &format!("during {round}"));
        }
    }

    // Forged ClientHellos with a valid cookie for their address: one whose
    // content after the cookie is garbage, then a well-formed one that
    // starts a handshake nobody finishes. From the victim's address too,
    // where it is a "restarted client" that never completes.
    let sources: Vec<&UdpSocket> = std::iter::once(&victim.socket).chain(&fresh).collect();
    let mut source_addrs: Vec<SocketAddr> = sources.iter().map(|s| s.local_addr().unwrap()).collect();
    source_addrs.sort();
    for s in sources {
        // Whatever the server answered the garbage with (HelloVerifyRequests) goes first.
        while s.recv(&mut [0u8; 2048]).is_ok() {}
        s.send_to(&hello, server.addr).unwrap();
        let cookie = hvr_cookie(&recv_raw(s));
        let tail = rng.bytes(40);
        s.send_to(&with_cookie(&hello, &cookie, Some(&tail)), server.addr).unwrap();
        s.send_to(&with_cookie(&hello, &cookie, None), server.addr).unwrap();
    }
    // ClientHellos with a valid cookie and bytes flipped after it reach
    // OpenSSL: each either fails at once or starts a handshake that times out.
    let mutants: Vec<UdpSocket> = (0..8).map(|_| fresh_socket()).collect();
    for s in &mutants {
        s.send_to(&hello, server.addr).unwrap();
        let cookie = hvr_cookie(&recv_raw(s));
        let good = with_cookie(&hello, &cookie, None);
        let after_cookie = BODY + 35 + usize::from(hello[BODY + 34]) + 1 + cookie.len();
        for _ in 0..5 {
            let mut h = good.clone();
            for _ in 0..1 + rng.below(3) {
                let i = after_cookie + rng.below(h.len() - after_cookie);
                h[i] ^= 1 + rng.below(255) as u8;
            }
            s.send_to(&h, server.addr).unwrap();
        }
    }
    let mutant_addrs: Vec<SocketAddr> = mutants.iter().map(|s| s.local_addr().unwrap()).collect();
    roundtrip(&mut [&mut victim, &mut other], "after the forged hellos");
    // The unfinished handshakes time out; the established clients stay.
    drive(&mut [&mut victim, &mut other], "forged handshakes timing out", |_| server.counts() == (2, 0));
    roundtrip(&mut [&mut victim, &mut other], "at the end");

    let seen = server.seen();
    let mut connected = seen.connected.clone();
    connected.sort();
    let mut want = vec![victim.local(), other.local()];
    want.sort();
    assert_eq!(connected, want, "no forged handshake may complete");
    assert_eq!(seen.closed_at(other.local()), []);
    assert!(seen.closed.iter().all(|c| !c.2), "an established peer was closed: {:?}", seen.closed);
    // Each well-formed forged hello made one handshake, which timed out.
    let (mutant, forged): (Vec<&(SocketAddr, CloseReason, bool)>, Vec<_>) =
        seen.closed.iter().partition(|c| mutant_addrs.contains(&c.0));
    let mut timed_out: Vec<SocketAddr> =
        forged.iter().filter(|c| c.1 == CloseReason::IdleTimeout).map(|c| c.0).collect();
    timed_out.sort();
    assert_eq!(timed_out, source_addrs, "closed: {:?}", seen.closed);
    assert_eq!(forged.len(), source_addrs.len(), "closed: {:?}", seen.closed);
    assert!(
        mutant.iter().all(|c| matches!(c.1, CloseReason::FatalAlert | CloseReason::IdleTimeout)),
        "mutated hellos: {mutant:?}"
    );
    println!("{sent} garbage datagrams; closed {:?}", seen.closed);
}

// ---- certificates -----------------------------------------------------------------------------

#[test]
fn certificates_as_well_as_psk() {
    let ca = Ca::new("qdtls server test CA", KeyKind::EcP256);
    let leaf = ca.issue(&LeafSpec { dns: &["server.test"], ..LeafSpec::server("server.test") });
    let mut cfg = Configuration::new();
    cfg.set_peer_verify_mode(PeerVerifyMode::VerifyNone);
    cfg.set_local_certificate_chain_pem(leaf.cert.as_bytes()).unwrap();
    cfg.set_private_key_pem(leaf.key.as_bytes(), None).unwrap();
    let server = Running::start(cfg, |s| s.set_handshake_timeout(Some(Duration::from_secs(5))));
    let mut ccfg = Configuration::new();
    ccfg.add_ca_certificates_pem(ca.pem.cert.as_bytes()).unwrap();
    let bind = || UdpSocket::bind("127.0.0.1:0").unwrap();

    let mut clients: Vec<Client> =
        (0..20).map(|_| Client::with_config(bind(), server.addr, &ccfg, "server.test", KEY)).collect();
    connect_all(&mut clients, 20);
    echo_all(&mut clients, 20, |i| format!("certificate {i}"));
    let leaf_der = openssl::x509::X509::from_pem(leaf.cert.as_bytes()).unwrap().to_der().unwrap();
    for c in &clients {
        assert!(c.dtls.session_cipher().unwrap().contains("ECDSA"), "{:?}", c.dtls.session_cipher());
        assert_eq!(c.dtls.peer_certificate().unwrap().to_der(), leaf_der);
    }

    // A PSK client on the same server.
    let mut pcfg = psk_config();
    pcfg.set_ciphers(Some("PSK")).unwrap();
    let mut psk = Client::with_config(bind(), server.addr, &pcfg, "", KEY);
    connect(&mut [&mut psk]);
    roundtrip(&mut [&mut psk], "psk");
    assert!(psk.dtls.session_cipher().unwrap().contains("PSK"), "{:?}", psk.dtls.session_cipher());

    // A client expecting another name rejects the server. As in Qt, its
    // handshake ran to the end before it looked at the errors, so for the
    // server the peer connected, then closed with close_notify (abort).
    let mut wrong = Client::with_config(bind(), server.addr, &ccfg, "other.test", KEY);
    wrong.start();
    drive(&mut [&mut wrong], "verification failure", |c| {
        c[0].dtls.handshake_state() == HandshakeState::PeerVerificationFailed
    });
    let (dtls, mut out) = wrong.parts();
    dtls.abort_handshake(&mut out).unwrap();
    let wrong_addr = wrong.local();
    wait_seen(&server, &mut [&mut psk], "the rejected handshake closed", |s| !s.closed_at(wrong_addr).is_empty());
    assert_eq!(server.seen().closed_at(wrong_addr), [(CloseReason::CloseNotify, true)]);
    assert_eq!(server.seen().connected.len(), 22);
    assert_eq!(server.counts(), (21, 0));
}

#[test]
fn client_certificates_the_server_rejects() {
    let ca = Ca::new("qdtls server test CA", KeyKind::EcP256);
    let leaf = ca.issue(&LeafSpec { dns: &["server.test"], ..LeafSpec::server("server.test") });
    let good = ca.issue(&LeafSpec::client("good client"));
    let stranger = Ca::new("another CA", KeyKind::EcP256).issue(&LeafSpec::client("stranger"));
    let mut cfg = Configuration::new();
    cfg.set_peer_verify_mode(PeerVerifyMode::VerifyPeer);
    cfg.add_ca_certificates_pem(ca.pem.cert.as_bytes()).unwrap();
    cfg.set_local_certificate_chain_pem(leaf.cert.as_bytes()).unwrap();
    cfg.set_private_key_pem(leaf.key.as_bytes(), None).unwrap();
    let server = Running::start(cfg, |s| s.set_handshake_timeout(Some(Duration::from_secs(5))));
    let client_cfg = |id: &common::certs::Pem| {
        let mut c = Configuration::new();
        c.add_ca_certificates_pem(ca.pem.cert.as_bytes()).unwrap();
        c.set_local_certificate_chain_pem(id.cert.as_bytes()).unwrap();
        c.set_private_key_pem(id.key.as_bytes(), None).unwrap();
        c
    };
    let bind = || UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut ok = Client::with_config(bind(), server.addr, &client_cfg(&good), "server.test", KEY);
    connect(&mut [&mut ok]);
    roundtrip(&mut [&mut ok], "mutual");
    let mut bad = Client::with_config(bind(), server.addr, &client_cfg(&stranger), "server.test", KEY);
    bad.start();
    let bad_addr = bad.local();
    wait_seen(&server, &mut [&mut bad, &mut ok], "the stranger refused", |s| !s.closed_at(bad_addr).is_empty());
    assert_eq!(server.seen().closed_at(bad_addr), [(CloseReason::FatalAlert, false)]);
    drive(&mut [&mut bad], "the stranger told", |c| c[0].dtls.handshake_state() != HandshakeState::InProgress);
    println!("the refused client: {:?}", bad.dtls.handshake_state());
    assert!(!bad.dtls.is_connection_encrypted());
    assert_eq!(server.counts(), (1, 0));
    roundtrip(&mut [&mut ok], "still");
}

// ---- cookie secrets, SO_REUSEPORT -------------------------------------------------------------

/// Events nobody looks at.
struct Quiet;
impl ServerEvents for Quiet {}

#[test]
fn servers_sharing_a_cookie_secret_take_each_others_cookies() {
    let sockets: Vec<UdpSocket> = (0..3).map(|_| fresh_socket()).collect();
    let addr = |i: usize| sockets[i].local_addr().unwrap();
    let mut first = Server::new(&psk_config()).unwrap();
    let mut sharing = Server::new(&psk_config()).unwrap();
    sharing.share_cookie_secret(&first);
    let mut own = Server::new(&psk_config()).unwrap();
    for s in [&mut first, &mut sharing, &mut own] {
        s.set_psk_callback(|_, a| a.set_pre_shared_key(KEY));
    }
    let hello = client_hello(addr(0));
    // Sends `d` from `client` to server `i`, lets it read it, returns its answer's handshake type.
    let ask = |server: &mut Server, i: usize, client: &UdpSocket, d: &[u8]| {
        client.send_to(d, addr(i)).unwrap();
        assert!(wait_readable(&sockets[i], LIMIT));
        assert_eq!(server.receive(&sockets[i], &mut Quiet).unwrap(), 1);
        handshake_type(&recv_raw(client))
    };
    let cookie_of = |server: &mut Server, client: &UdpSocket| {
        client.send_to(&hello, addr(0)).unwrap();
        assert!(wait_readable(&sockets[0], LIMIT));
        server.receive(&sockets[0], &mut Quiet).unwrap();
        hvr_cookie(&recv_raw(client))
    };
    let clients: Vec<UdpSocket> = (0..3).map(|_| fresh_socket()).collect();

    // A cookie of the first server is good at the sharing one, not at the other.
    let cookie = cookie_of(&mut first, &clients[0]);
    let verified = with_cookie(&hello, &cookie, None);
    assert_eq!(ask(&mut own, 2, &clients[0], &verified), Some(3), "own secret: a new HelloVerifyRequest");
    assert_eq!(ask(&mut sharing, 1, &clients[0], &verified), Some(2), "shared secret: a ServerHello");
    assert_eq!((sharing.handshake_count(), own.handshake_count()), (1, 0));

    // Rotations of the first server's secret are the sharing one's too.
    let (old1, old2) = (cookie_of(&mut first, &clients[1]), cookie_of(&mut first, &clients[2]));
    first.rotate_cookie_secret(Duration::from_secs(60));
    assert_eq!(ask(&mut sharing, 1, &clients[1], &with_cookie(&hello, &old1, None)), Some(2), "in the grace period");
    first.rotate_cookie_secret(Duration::ZERO);
    assert_eq!(ask(&mut sharing, 1, &clients[2], &with_cookie(&hello, &old2, None)), Some(3), "after the grace");
    assert_eq!(sharing.handshake_count(), 2);
}

#[test]
fn reuseport_example_spreads_clients_over_two_threads() {
    const N: usize = 24;
    let pool = reuseport::start(0, 2, &reuseport::configuration()).unwrap();
    let bind = || UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut clients: Vec<Client> =
        (0..N).map(|_| Client::with_config(bind(), pool.addr, &psk_config(), "", b"qdtls demo key")).collect();
    connect_all(&mut clients, N);
    echo_all(&mut clients, N, |i| format!("reuseport {i}"));
    let total = |f: fn(&reuseport::ThreadStats) -> &std::sync::atomic::AtomicUsize| {
        pool.stats.iter().map(|s| f(s).load(Ordering::Relaxed)).collect::<Vec<_>>()
    };
    let deadline = Instant::now() + LIMIT;
    while pool.peer_counts().iter().sum::<usize>() != N {
        assert!(Instant::now() < deadline, "peer counts {:?}", pool.peer_counts());
        thread::sleep(Duration::from_millis(5));
    }
    // A server thread counts after sending (its last flight, an echo): the
    // client may have the datagram before the count moves.
    let sum = |v: Vec<usize>| v.iter().sum::<usize>();
    while sum(total(|s| &s.echoed)) != N || sum(total(|s| &s.connected)) != N {
        let counts = (total(|s| &s.connected), total(|s| &s.echoed));
        assert!(Instant::now() < deadline, "connected and echoed {counts:?}");
        thread::sleep(Duration::from_millis(5));
    }
    let connected = total(|s| &s.connected);
    println!("{N} clients over two SO_REUSEPORT threads: connected {connected:?}");
    assert_eq!(connected.iter().sum::<usize>(), N);
    // The kernel spreads by a hash of the client's address and port: all
    // 24 on one thread has a probability of 2^-23.
    assert!(connected.iter().all(|&n| n > 0), "one thread got every client: {connected:?}");
    for c in &mut clients {
        c.shutdown();
    }
    while total(|s| &s.closed).iter().sum::<usize>() != N || pool.peer_counts() != [0, 0] {
        assert!(Instant::now() < deadline, "closed {:?}, peers {:?}", total(|s| &s.closed), pool.peer_counts());
        thread::sleep(Duration::from_millis(5));
    }
    pool.stop();
}
