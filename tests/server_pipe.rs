//! The server's rules on an in-memory network with virtual time (no
//! sockets, no sleeping): the stateless cookie exchange, every limit and
//! who goes first, handshake and idle timeouts, the timer heap's cost,
//! cookie rotation with grace, same-port reconnect, garbage, close reasons.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::certs::{Ca, KeyKind, LeafSpec};
use common::server_net::*;
use qdtls::{CloseReason, Configuration, CookieHash, GeneratorParameters, HandshakeState, PeerVerifyMode, Server};

#[test]
fn a_cookie_less_hello_gets_a_hello_verify_request_and_no_state() {
    let mut net = Net::new(true);
    for port in 1..=500 {
        let from = addr(1, port);
        net.arrive(from, &hello_from(from));
        let (hvr, to) = net.wire.0.pop_front().expect("a HelloVerifyRequest");
        assert_eq!(to, from);
        assert_eq!((hvr[0], hvr[13]), (22, 3), "handshake record, HelloVerifyRequest");
    }
    assert_eq!((net.server.peer_count(), net.server.handshake_count()), (0, 0));
    assert!(net.log.events.is_empty());
}

#[test]
fn garbage_from_unknown_sources_gets_nothing() {
    let mut net = Net::new(true);
    let hello = hello_from(addr(1, 1));
    let garbage: Vec<Vec<u8>> =
        vec![vec![], vec![0; 13], vec![23, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0], hello[..40].to_vec()];
    for g in &garbage {
        net.arrive(addr(2, 2), g);
    }
    assert!(net.wire.0.is_empty());
    assert_eq!(net.server.peer_count(), 0);
}

#[test]
fn clients_connect_through_the_cookie_exchange_and_echo() {
    let mut net = Net::new(true);
    net.log.echo = true;
    for host in 1..=3 {
        let i = net.add(addr(host, 1000));
        net.connect(i);
    }
    assert_eq!(net.log.connected(), vec![addr(1, 1000), addr(2, 1000), addr(3, 1000)]);
    assert_eq!(net.send(1, b"ping"), vec![(1, b"ping".to_vec())]);
    assert_eq!((net.server.peer_count(), net.server.handshake_count()), (3, 0));
    assert!(net.server.peer(addr(2, 1000)).unwrap().is_connection_encrypted());
}

#[test]
fn without_cookie_verification_the_first_hello_starts_the_handshake() {
    let mut net = Net::new(false);
    net.log.echo = true;
    let i = net.add(addr(1, 1));
    net.clients[i].start();
    let hello = net.clients[i].take().remove(0);
    net.arrive(addr(1, 1), &hello);
    assert_eq!(net.server.handshake_count(), 1, "a session at once");
    assert_ne!(net.wire.0[0].0[13], 3, "no HelloVerifyRequest");
    for (d, _) in net.wire.0.drain(..).collect::<Vec<_>>() {
        net.clients[i].receive(&d);
    }
    net.pump();
    assert_eq!(net.log.connected(), vec![addr(1, 1)]);
}

#[test]
fn at_the_handshake_limit_the_oldest_handshake_goes_first() {
    let mut net = Net::new(true);
    net.server.set_max_handshakes(2);
    for port in 1..=5 {
        half_open(&mut net, addr(1, port));
        assert!(net.server.handshake_count() <= 2);
    }
    assert_eq!(
        net.log.failed(),
        vec![
            (addr(1, 1), CloseReason::Evicted),
            (addr(1, 2), CloseReason::Evicted),
            (addr(1, 3), CloseReason::Evicted)
        ]
    );
    assert!(net.server.peer(addr(1, 5)).is_some());
}

#[test]
fn established_peers_are_never_evicted_a_full_server_refuses() {
    let mut net = Net::new(true);
    net.server.set_max_peers(2);
    for host in 1..=2 {
        let i = net.add(addr(host, 1));
        net.connect(i);
    }
    half_open(&mut net, addr(3, 1));
    assert_eq!(net.server.peer_count(), 2);
    assert!(net.log.closed().is_empty());
    assert!(net.server.peer(addr(3, 1)).is_none());
    // A handshaking peer does make room for a newer one.
    net.server.set_max_peers(3);
    half_open(&mut net, addr(4, 1));
    half_open(&mut net, addr(5, 1));
    assert_eq!(net.log.failed(), vec![(addr(4, 1), CloseReason::Evicted)]);
    assert!(net.log.closed().is_empty(), "handshakes that never completed are not `closed`");
}

#[test]
fn the_per_address_limit_counts_every_port() {
    let mut net = Net::new(true);
    net.server.set_max_peers_per_address(2);
    for port in 1..=2 {
        let i = net.add(addr(7, port));
        net.connect(i);
    }
    half_open(&mut net, addr(7, 3));
    assert_eq!(net.server.peer_count(), 2, "a third peer from one address is refused");
    let i = net.add(addr(8, 1));
    net.connect(i);
    assert_eq!(net.server.peer_count(), 3, "other addresses are not affected");
}

#[test]
fn a_handshake_that_does_not_complete_in_time_is_dropped() {
    let mut net = Net::new(true);
    net.server.set_handshake_timeout(Some(S(10)));
    half_open(&mut net, addr(1, 1));
    let mut elapsed = Duration::ZERO;
    while net.server.peer_count() > 0 {
        let wait = net.server.next_timeout().expect("a handshaking peer has a timer");
        net.clock.advance(wait);
        elapsed += wait;
        net.expire();
        net.wire.0.clear(); // retransmissions are lost
    }
    assert_eq!(net.log.failed(), vec![(addr(1, 1), CloseReason::IdleTimeout)]);
    assert!(elapsed >= S(10) && elapsed < S(11), "{elapsed:?}");
    assert_eq!(net.server.next_timeout(), None);
}

#[test]
fn idle_peers_are_closed_and_activity_keeps_them() {
    let mut net = Net::new(true);
    net.log.echo = true;
    net.server.set_idle_timeout(Some(S(60)));
    for host in 1..=2 {
        let i = net.add(addr(host, 1));
        net.connect(i);
    }
    net.clock.advance(S(40));
    assert_eq!(net.expire(), 0);
    net.send(0, b"still here");
    net.clock.advance(S(25));
    net.expire();
    assert_eq!(net.log.closed(), vec![(addr(2, 1), CloseReason::IdleTimeout)]);
    let wait = net.server.next_timeout().unwrap();
    assert!(wait <= S(35) && wait > S(34), "{wait:?}");
    net.clock.advance(wait);
    net.expire();
    net.pump(); // the close_notify reaches the client
    assert_eq!(net.log.closed().len(), 2);
    assert!(!net.clients[0].dtls.is_connection_encrypted(), "the client was told (close_notify)");
}

#[test]
fn idle_peers_cost_nothing_until_due() {
    let mut net = Net::new(false);
    net.server.set_idle_timeout(Some(S(300)));
    for i in 0..300u16 {
        let c = net.add(addr((i % 200) as u8 + 1, 1000 + i));
        net.connect(c);
    }
    net.clock.advance(S(299));
    assert_eq!(net.expire(), 0, "no peer is due, none is looked at");
    net.clock.advance(S(2));
    assert_eq!(net.expire(), 300);
    assert_eq!(net.server.peer_count(), 0);
}

#[test]
fn a_rotated_secret_is_accepted_for_the_grace_period_only() {
    for (wait, accepted) in [(S(4), true), (S(6), false)] {
        let mut net = Net::new(true);
        let i = net.add(addr(1, 1));
        net.clients[i].start();
        let hello = net.clients[i].take().remove(0);
        net.arrive(addr(1, 1), &hello);
        let (hvr, _) = net.wire.0.pop_back().unwrap();
        net.server.rotate_cookie_secret(S(5));
        net.clock.advance(wait);
        net.clients[i].receive(&hvr);
        // Late, the client first retransmits its cookie-less hello, then answers.
        for d in net.clients[i].take() {
            net.wire.0.clear();
            net.arrive(addr(1, 1), &d);
        }
        assert_eq!(net.server.handshake_count() == 1, accepted, "after {wait:?}");
        if !accepted {
            assert_eq!(net.wire.0.pop_back().unwrap().0[13], 3, "a new HelloVerifyRequest");
        }
    }
}

#[test]
fn set_parameters_and_shared_secrets() {
    let mut a = Net::new(true);
    let mut b = Server::new(&config(true)).unwrap();
    b.share_cookie_secret(&a.server);
    a.server.set_cookie_generator_parameters(&GeneratorParameters::new(CookieHash::Sha1, b"new secret")).unwrap();
    // A cookie b issues is accepted by a: both use a's (new) secret.
    let from = addr(1, 1);
    let mut c = Client::new(from);
    c.start();
    let mut wire = Wire::default();
    b.handle_datagram(&mut wire, from, &c.take()[0], &mut Log::default()).unwrap();
    c.receive(&wire.0.pop_back().unwrap().0);
    a.arrive(from, &c.take()[0]);
    assert_eq!(a.server.handshake_count(), 1);
    let bad = GeneratorParameters::new(CookieHash::Sha256, b"");
    assert!(a.server.set_cookie_generator_parameters(&bad).is_err());
}

#[test]
fn a_client_restarting_on_its_port_replaces_its_session_when_done() {
    let mut net = Net::new(true);
    net.log.echo = true;
    let old = net.add(addr(1, 1));
    net.connect(old);
    // The client process restarts: same address and port, new keys.
    let new = net.add(addr(1, 1));
    net.clients[new].start();
    let hello = net.clients[new].take().remove(0);
    net.arrive(addr(1, 1), &hello);
    let (hvr, _) = net.wire.0.pop_back().unwrap();
    assert_eq!(hvr[13], 3, "the reconnect goes through the cookie exchange too");
    net.clients[new].receive(&hvr);
    let hello2 = net.clients[new].take().remove(0);
    net.arrive(addr(1, 1), &hello2);
    assert_eq!((net.server.peer_count(), net.server.handshake_count()), (2, 1));
    // The old session still works meanwhile.
    let c = &mut net.clients[old];
    c.dtls.write_datagram_encrypted(&mut c.out, b"old").unwrap();
    let d = c.take().remove(0);
    net.arrive(addr(1, 1), &d);
    assert!(net.log.events.contains(&Event::Datagram(addr(1, 1), b"old".to_vec())));
    // The new handshake completes and replaces the old session.
    let flight: Vec<_> = net.wire.0.drain(..).filter(|(d, _)| d[0] == 22).collect();
    for (d, _) in flight {
        net.clients[new].receive(&d);
    }
    net.log.replies.0.clear();
    net.pump();
    assert_eq!(net.clients[new].dtls.handshake_state(), HandshakeState::Complete);
    assert_eq!(net.log.closed(), vec![(addr(1, 1), CloseReason::Replaced)]);
    assert_eq!(net.log.connected(), vec![addr(1, 1), addr(1, 1)]);
    assert_eq!(net.server.peer_count(), 1);
    assert_eq!(net.send(new, b"new"), vec![(new, b"new".to_vec())]);
}

#[test]
fn garbage_at_a_peer_address_does_not_end_it() {
    let mut net = Net::new(true);
    net.log.echo = true;
    let i = net.add(addr(1, 1));
    net.connect(i);
    let j = net.add(addr(2, 1));
    net.connect(j);
    let forged: Vec<Vec<u8>> = vec![
        vec![0xff; 100],
        vec![23, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 9, 0, 4, 1, 2, 3, 4],
        vec![21, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 9, 0, 2, 2, 40],
        vec![22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 9, 0, 1, 1],
    ];
    for g in &forged {
        net.arrive(addr(1, 1), g);
    }
    assert!(net.log.closed().is_empty());
    assert_eq!(net.send(i, b"alive"), vec![(i, b"alive".to_vec())]);
    assert_eq!(net.send(j, b"alive"), vec![(j, b"alive".to_vec())]);
}

#[test]
fn close_reasons_close_notify_and_local() {
    let mut net = Net::new(true);
    net.log.bye = true;
    for host in 1..=3 {
        let i = net.add(addr(host, 1));
        net.connect(i);
    }
    let c = &mut net.clients[0];
    c.dtls.shutdown(&mut c.out).unwrap();
    let notify = c.take().remove(0);
    net.arrive(addr(1, 1), &notify);
    let answer: Vec<_> = net.wire.0.drain(..).collect();
    assert_eq!(answer.len(), 1, "close_notify is answered with close_notify (RFC 5246 7.2.1)");
    assert_eq!((answer[0].0[0], answer[0].1), (21, addr(1, 1)));
    net.send(1, b"bye");
    net.server.close_peer(&mut net.wire, addr(3, 1), &mut net.log).unwrap();
    net.pump();
    assert_eq!(
        net.log.closed(),
        vec![
            (addr(1, 1), CloseReason::CloseNotify),
            (addr(2, 1), CloseReason::Local),
            (addr(3, 1), CloseReason::Local)
        ]
    );
    assert!(!net.clients[2].dtls.is_connection_encrypted(), "close_peer sent close_notify");
    assert!(net.server.close_peer(&mut net.wire, addr(3, 1), &mut net.log).is_err());
    assert_eq!(net.server.peer_count(), 0);
}

#[test]
fn a_peer_that_stops_answering_retransmissions_times_out() {
    let mut net = Net::new(true);
    net.server.set_handshake_timeout(None);
    half_open(&mut net, addr(1, 1));
    let mut retransmitted = 0;
    while net.server.peer_count() > 0 {
        net.clock.advance(net.server.next_timeout().expect("a timer"));
        net.expire();
        retransmitted += net.wire.0.drain(..).count();
    }
    assert!(retransmitted >= 12, "OpenSSL's 12 retransmissions of the flight: {retransmitted}");
    assert_eq!(net.log.failed(), vec![(addr(1, 1), CloseReason::IdleTimeout)]);
}

#[test]
fn a_client_failing_verification_is_closed_with_a_fatal_alert() {
    let ca = Ca::new("server test CA", KeyKind::EcP256);
    let leaf = ca.issue(&LeafSpec::server("server"));
    let mut cfg = Configuration::new();
    cfg.set_local_certificate_chain_pem(leaf.cert.as_bytes()).unwrap();
    cfg.set_private_key_pem(leaf.key.as_bytes(), None).unwrap();
    cfg.add_ca_certificates_pem(ca.pem.cert.as_bytes()).unwrap();
    cfg.set_peer_verify_mode(PeerVerifyMode::VerifyPeer); // a client certificate is required
    let mut net = Net::with(&cfg);
    let i = net.add(addr(1, 1));
    let mut client_cfg = Configuration::new();
    client_cfg.set_peer_verify_mode(PeerVerifyMode::VerifyNone);
    net.clients[i].dtls.set_dtls_configuration(&client_cfg).unwrap();
    net.clients[i].start();
    net.pump();
    assert_eq!(net.log.connected(), vec![]);
    assert_eq!(net.log.failed(), vec![(addr(1, 1), CloseReason::FatalAlert)]);
    assert_eq!(net.server.peer_count(), 0);
    assert!(!net.clients[i].dtls.is_connection_encrypted(), "the client was told");
}

#[test]
fn a_client_restarting_during_its_handshake_replaces_it_at_once() {
    let mut net = Net::new(true);
    net.log.echo = true;
    let first = half_open(&mut net, addr(1, 1));
    // Its retransmitted ClientHello (same random) is the same handshake.
    let c = &mut net.clients[first];
    net.clock.advance(S(1));
    c.dtls.handle_timeout(&mut c.out).unwrap();
    for d in net.clients[first].take() {
        net.arrive(addr(1, 1), &d);
    }
    assert!(net.log.failed().is_empty());
    assert!(!net.wire.0.is_empty(), "the server answered the retransmission");
    // (Lost: the old client process is gone. A restarted client that gets
    // the old handshake's retransmissions may take them for its own and fail
    // its first try; DTLS cannot tell them apart.)
    net.wire.0.clear();
    // A new client process on the same port: a new random.
    let second = net.add(addr(1, 1));
    net.connect(second);
    assert_eq!(net.log.failed(), vec![(addr(1, 1), CloseReason::Replaced)]);
    assert_eq!(net.log.connected(), vec![addr(1, 1)]);
    assert_eq!((net.server.peer_count(), net.server.handshake_count()), (1, 0));
    assert_eq!(net.send(second, b"hi"), vec![(second, b"hi".to_vec())]);
}

#[test]
fn no_answer_is_larger_than_the_hello_it_answers() {
    let mut net = Net::new(true);
    let sha512 = GeneratorParameters::new(CookieHash::Sha512, b"a long cookie secret");
    net.server.set_cookie_generator_parameters(&sha512).unwrap();
    // The smallest ClientHello the parser takes: no suites, no extensions.
    let mut tiny = vec![22, 0xfe, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 48, 1, 0, 0, 36, 0, 0, 0, 0, 0, 0, 0, 36];
    tiny.extend_from_slice(&[0xfe, 0xfd]);
    tiny.extend_from_slice(&[0; 32]);
    tiny.extend_from_slice(&[0, 0]); // session id, cookie
    net.arrive(addr(1, 1), &tiny);
    assert!(net.wire.0.is_empty(), "a {}-byte hello got an answer", tiny.len());
    // Under SHA-256 (32-byte cookies) the same hello is answered: it is one.
    net.server.set_cookie_generator_parameters(&GeneratorParameters::new(CookieHash::Sha256, b"k")).unwrap();
    net.arrive(addr(1, 1), &tiny);
    let (hvr, _) = net.wire.0.pop_front().expect("a HelloVerifyRequest");
    assert!(hvr.len() <= tiny.len());
    let real = hello_from(addr(1, 1));
    net.arrive(addr(1, 1), &real);
    let (hvr, _) = net.wire.0.pop_front().expect("a real hello is answered");
    assert!(hvr.len() < real.len(), "{} bytes for {}", hvr.len(), real.len());
}

#[test]
fn a_peer_the_application_shuts_down_between_calls_is_closed_at_the_next() {
    let mut net = Net::new(true);
    for host in 1..=2 {
        let i = net.add(addr(host, 1));
        net.connect(i);
    }
    assert_eq!(net.server.next_timeout(), None);
    net.server.peer(addr(1, 1)).unwrap().shutdown(&mut net.wire).unwrap();
    assert_eq!(net.server.next_timeout(), Some(Duration::ZERO), "the server wants to be called");
    assert_eq!(net.server.peer_count(), 2, "not before its next call");
    net.expire();
    assert_eq!(net.log.closed(), vec![(addr(1, 1), CloseReason::Local)]);
    assert_eq!(net.server.peer_count(), 1);
    assert_eq!(net.server.next_timeout(), None);
    net.pump();
    assert!(!net.clients[0].dtls.is_connection_encrypted(), "the client got the close_notify");
}

#[test]
fn a_dual_stack_socket_s_mapped_addresses_are_the_same_peer() {
    let mut net = Net::new(true);
    net.log.echo = true;
    let v4 = addr(1, 1);
    let mapped = match v4 {
        SocketAddr::V4(a) => SocketAddr::new(a.ip().to_ipv6_mapped().into(), a.port()),
        v6 => v6,
    };
    let i = net.add(mapped);
    net.connect(i);
    // Found by either form; answers went to the form the socket reported.
    assert!(net.server.peer(v4).is_some() && net.server.peer(mapped).is_some());
    assert_eq!(net.server.peer(v4).unwrap().peer_address(), Some(mapped));
    assert_eq!(net.send(i, b"x"), vec![(i, b"x".to_vec())]);
    net.server.close_peer(&mut net.wire, v4, &mut net.log).unwrap();
    assert_eq!(net.log.closed(), vec![(mapped, CloseReason::Local)]);
}
