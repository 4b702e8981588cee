//! Client and server [`qdtls::Dtls`] in one thread with no sockets: each
//! side's [`Transport`] is an in-memory [`Outbox`], and the test moves
//! datagrams from one outbox to the other side itself, so it scripts loss,
//! reordering, duplication and garbage exactly. Time is a [`VirtualClock`]
//! (see clock.rs): OpenSSL's retransmission timers move only when the test
//! advances it, so timer tests are exact and nothing sleeps.

use std::collections::VecDeque;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use qdtls::{Configuration, Dtls, HandshakeState, PeerVerifyMode, PskAuthenticator, SslMode, Transport};

use super::clock::VirtualClock;

/// The addresses the two sides believe they have (nothing is bound).
pub const CLIENT_ADDR: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 40001);
pub const SERVER_ADDR: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)), 40002);

pub const PSK_IDENTITY: &[u8] = b"pipe client";
pub const PSK_KEY: &[u8] = b"pipe pre-shared key, 32 bytes ok";

/// What one side sent and has not been delivered yet, in order.
#[derive(Default)]
pub struct Outbox {
    pub queue: VecDeque<Vec<u8>>,
    /// Every datagram ever sent through this outbox.
    pub sent: usize,
    /// The address every datagram was sent to (checked against the peer).
    pub expected_peer: Option<SocketAddr>,
    /// What `path_mtu` reports (None: unknown, the engine uses its fallback).
    pub mtu: Option<u32>,
}

impl Transport for Outbox {
    fn send(&mut self, dgram: &[u8], peer: SocketAddr) -> io::Result<()> {
        if let Some(p) = self.expected_peer {
            assert_eq!(peer, p, "datagram sent to the wrong address");
        }
        self.queue.push_back(dgram.to_vec());
        self.sent += 1;
        Ok(())
    }
    fn path_mtu(&mut self) -> Option<u32> {
        self.mtu
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    Client,
    Server,
}

impl Side {
    pub fn other(self) -> Side {
        match self {
            Side::Client => Side::Server,
            Side::Server => Side::Client,
        }
    }
}

/// PSK, no certificate verification, no cookie exchange.
pub fn psk_config() -> Configuration {
    let mut c = Configuration::new();
    c.set_peer_verify_mode(PeerVerifyMode::VerifyNone);
    c.set_dtls_cookie_verification_enabled(false);
    c.set_ciphers(Some("PSK-AES128-GCM-SHA256")).unwrap();
    c
}

pub fn psk_callback(a: &mut PskAuthenticator) {
    a.set_identity(PSK_IDENTITY);
    a.set_pre_shared_key(PSK_KEY);
}

/// A client and a server wired through two outboxes, with a virtual clock
/// installed on the current thread (one pipe per thread at a time).
pub struct Pipe {
    pub client: Dtls,
    pub server: Dtls,
    /// What the client sent (to the server).
    pub client_out: Outbox,
    /// What the server sent (to the client).
    pub server_out: Outbox,
    pub clock: VirtualClock,
}

impl Pipe {
    /// Two sides with these configurations and the PSK callback set on both.
    pub fn new(client_cfg: &Configuration, server_cfg: &Configuration) -> Pipe {
        let clock = VirtualClock::install();
        let client = Dtls::new(SslMode::Client);
        let server = Dtls::new(SslMode::Server);
        client.set_dtls_configuration(client_cfg).unwrap();
        server.set_dtls_configuration(server_cfg).unwrap();
        client.set_peer(SERVER_ADDR, "").unwrap();
        server.set_peer(CLIENT_ADDR, "").unwrap();
        client.set_psk_callback(psk_callback);
        server.set_psk_callback(psk_callback);
        let client_out = Outbox { expected_peer: Some(SERVER_ADDR), ..Outbox::default() };
        let server_out = Outbox { expected_peer: Some(CLIENT_ADDR), ..Outbox::default() };
        Pipe { client, server, client_out, server_out, clock }
    }

    /// A PSK pair ([`psk_config`] on both sides).
    pub fn psk() -> Pipe {
        let c = psk_config();
        Pipe::new(&c, &c)
    }

    pub fn dtls(&self, side: Side) -> &Dtls {
        match side {
            Side::Client => &self.client,
            Side::Server => &self.server,
        }
    }

    /// The side's connection and its own outbox (where what it sends goes).
    pub fn parts(&mut self, side: Side) -> (&Dtls, &mut Outbox) {
        match side {
            Side::Client => (&self.client, &mut self.client_out),
            Side::Server => (&self.server, &mut self.server_out),
        }
    }

    pub fn outbox(&mut self, side: Side) -> &mut Outbox {
        self.parts(side).1
    }

    pub fn state(&self, side: Side) -> HandshakeState {
        self.dtls(side).handshake_state()
    }

    /// The client's first flight (its ClientHello).
    pub fn start(&mut self) {
        self.client.do_handshake(&mut self.client_out, &[]).unwrap();
    }

    /// Takes every datagram `from` sent and has not been delivered: a flight.
    pub fn take(&mut self, from: Side) -> Vec<Vec<u8>> {
        self.outbox(from).queue.drain(..).collect()
    }

    /// Throws away every undelivered datagram of `from`; returns how many.
    pub fn drop_all(&mut self, from: Side) -> usize {
        self.take(from).len()
    }

    /// Hands one datagram to `to` as an application would: do_handshake
    /// before completion, decrypt_datagram after. Returns the plaintext
    /// (empty for handshake datagrams).
    pub fn deliver(&mut self, to: Side, dgram: &[u8]) -> qdtls::Result<Vec<u8>> {
        let (d, out) = self.parts(to);
        match d.handshake_state() {
            HandshakeState::NotStarted | HandshakeState::InProgress => d.do_handshake(out, dgram).map(|()| Vec::new()),
            _ => d.decrypt_datagram(out, dgram),
        }
    }

    /// Delivers `dgrams` to `to` in order, each of which must be accepted.
    pub fn deliver_ok(&mut self, to: Side, dgrams: &[Vec<u8>]) {
        for d in dgrams {
            if let Err(e) = self.deliver(to, d) {
                panic!("{to:?} refused a datagram ({} bytes): {e}", d.len());
            }
        }
    }

    /// Moves everything `from` sent to the other side; returns how many datagrams.
    pub fn forward(&mut self, from: Side) -> usize {
        let flight = self.take(from);
        self.deliver_ok(from.other(), &flight);
        flight.len()
    }

    /// Forwards both ways, losing nothing, until neither side has anything
    /// to send; returns the number of datagrams moved.
    pub fn pump(&mut self) -> usize {
        let mut moved = 0;
        loop {
            let n = self.forward(Side::Client) + self.forward(Side::Server);
            if n == 0 {
                return moved;
            }
            moved += n;
        }
    }

    pub fn both_complete(&self) -> bool {
        self.client.handshake_state() == HandshakeState::Complete
            && self.server.handshake_state() == HandshakeState::Complete
    }

    /// Starts the handshake and pumps it to completion without loss.
    pub fn handshake(&mut self) {
        self.start();
        self.pump();
        assert!(self.both_complete(), "client {:?}, server {:?}", self.client, self.server);
    }

    pub fn next_timeout(&self, side: Side) -> Option<Duration> {
        self.dtls(side).next_timeout()
    }

    /// handle_timeout on `side`, sending into its outbox.
    pub fn handle_timeout(&mut self, side: Side) -> qdtls::Result<bool> {
        let (d, out) = self.parts(side);
        d.handle_timeout(out)
    }

    /// Advances virtual time to `side`'s deadline (which must be set) and
    /// runs its timer; returns the wait and whether it retransmitted.
    pub fn expire(&mut self, side: Side) -> (Duration, qdtls::Result<bool>) {
        let wait = self.next_timeout(side).unwrap_or_else(|| panic!("{side:?} has no timer running"));
        self.clock.advance(wait);
        (wait, self.handle_timeout(side))
    }

    /// Sends application data from `from` and delivers it to the other side.
    pub fn echo(&mut self, from: Side, data: &[u8]) -> Vec<u8> {
        let (d, out) = self.parts(from);
        assert_eq!(d.write_datagram_encrypted(out, data).unwrap(), data.len());
        let dgrams = self.take(from);
        assert_eq!(dgrams.len(), 1);
        self.deliver(from.other(), &dgrams[0]).unwrap()
    }
}

/// What happens to one datagram on its way (see [`Pipe::run`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    Deliver,
    Drop,
    /// Delivered twice in a row.
    Duplicate,
}

/// What [`Pipe::run`] saw.
#[derive(Debug, Default)]
pub struct Log {
    /// Datagrams each side sent (client, server).
    pub sent: [usize; 2],
    /// handle_timeout calls that retransmitted, per side.
    pub retransmissions: [usize; 2],
    /// Every timer that fired: which side, and the virtual time it fired at.
    pub fired: Vec<(Side, Duration)>,
}

fn index(side: Side) -> usize {
    match side {
        Side::Client => 0,
        Side::Server => 1,
    }
}

impl Pipe {
    /// Drives a started handshake like an application with a perfect
    /// scheduler: delivers every queued datagram (client's first) through
    /// `fate(from, n, dgram)`, where `n` counts the datagrams `from` has sent
    /// (0-based); when nothing is queued, advances virtual time to the
    /// earliest timer and fires every timer then due (client first). Stops
    /// when both sides are complete and nothing is queued, or when nothing
    /// is queued and no timer runs. A refused datagram or timer panics.
    pub fn run(&mut self, mut fate: impl FnMut(Side, usize, &[u8]) -> Fate) -> Log {
        let mut log = Log::default();
        let mut numbered = [0usize; 2];
        loop {
            let mut moved = false;
            for from in [Side::Client, Side::Server] {
                for d in self.take(from) {
                    moved = true;
                    let n = numbered[index(from)];
                    numbered[index(from)] += 1;
                    let times = match fate(from, n, &d) {
                        Fate::Deliver => 1,
                        Fate::Drop => 0,
                        Fate::Duplicate => 2,
                    };
                    for _ in 0..times {
                        self.deliver_ok(from.other(), std::slice::from_ref(&d));
                    }
                }
            }
            if moved {
                continue;
            }
            if self.both_complete() {
                break;
            }
            let Some(wait) = [Side::Client, Side::Server].iter().filter_map(|&s| self.next_timeout(s)).min() else {
                break;
            };
            self.clock.advance(wait);
            for side in [Side::Client, Side::Server] {
                if self.next_timeout(side) == Some(Duration::ZERO) {
                    log.fired.push((side, self.clock.elapsed()));
                    match self.handle_timeout(side) {
                        Ok(true) => log.retransmissions[index(side)] += 1,
                        Ok(false) => {}
                        Err(e) => panic!("{side:?}'s timer failed: {e}"),
                    }
                }
            }
        }
        log.sent = [self.client_out.sent, self.server_out.sent];
        log
    }
}

/// The records of a datagram by name ("ServerHello+ServerHelloDone"):
/// epoch-0 handshake messages by type, encrypted records by content type.
pub fn describe(dgram: &[u8]) -> String {
    let mut names = Vec::new();
    let mut rest = dgram;
    while rest.len() >= 13 {
        let len = u16::from_be_bytes([rest[11], rest[12]]) as usize;
        let epoch = u16::from_be_bytes([rest[3], rest[4]]);
        let body = &rest[13..(13 + len).min(rest.len())];
        names.push(match (rest[0], epoch) {
            (20, _) => "ChangeCipherSpec".to_owned(),
            (21, 0) => "Alert".to_owned(),
            (22, 0) => match body.first() {
                Some(1) => "ClientHello",
                Some(2) => "ServerHello",
                Some(3) => "HelloVerifyRequest",
                Some(4) => "NewSessionTicket",
                Some(11) => "Certificate",
                Some(12) => "ServerKeyExchange",
                Some(13) => "CertificateRequest",
                Some(14) => "ServerHelloDone",
                Some(16) => "ClientKeyExchange",
                _ => "Handshake?",
            }
            .to_owned(),
            (22, _) => "Encrypted handshake".to_owned(),
            (23, _) => "ApplicationData".to_owned(),
            (21, _) => "Encrypted alert".to_owned(),
            (t, _) => format!("type {t}"),
        });
        rest = &rest[(13 + len).min(rest.len())..];
    }
    names.join("+")
}
