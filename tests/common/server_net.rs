//! An in-memory network for server tests: a `qdtls::Server`, its clients
//! (each a client `Dtls` with an address), the datagrams between them, a
//! log of the server's events and a virtual clock (see clock.rs): nothing
//! is sent on a socket and nothing sleeps.

use std::collections::VecDeque;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use super::clock::VirtualClock;
use super::pipe::{psk_callback, PSK_KEY};
use qdtls::{
    CloseReason, Configuration, Dtls, HandshakeState, PeerVerifyMode, Server, ServerEvents, SslMode, Transport,
};

pub const SERVER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)), 4433);
pub const S: fn(u64) -> Duration = Duration::from_secs;

pub fn addr(host: u8, port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 51, 100, host)), port)
}

pub fn config(cookies: bool) -> Configuration {
    let mut c = Configuration::new();
    c.set_peer_verify_mode(PeerVerifyMode::VerifyNone);
    c.set_dtls_cookie_verification_enabled(cookies);
    c.set_ciphers(Some("PSK-AES128-GCM-SHA256")).unwrap();
    c
}

/// Everything the server sent, with its destination.
#[derive(Default)]
pub struct Wire(pub VecDeque<(Vec<u8>, SocketAddr)>);

impl Transport for Wire {
    fn send(&mut self, dgram: &[u8], peer: SocketAddr) -> io::Result<()> {
        self.0.push_back((dgram.to_vec(), peer));
        Ok(())
    }
    fn path_mtu(&mut self) -> Option<u32> {
        None
    }
}

/// What the server reported, in order.
#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    Connected(SocketAddr),
    Datagram(SocketAddr, Vec<u8>),
    Closed(SocketAddr, CloseReason),
    Failed(SocketAddr, CloseReason),
}

#[derive(Default)]
pub struct Log {
    pub events: Vec<Event>,
    /// Echo every datagram back (through this wire).
    pub echo: bool,
    /// Shut down peers that send "bye" from inside the callback.
    pub bye: bool,
    pub replies: Wire,
}

pub fn peer_addr(p: &Dtls) -> SocketAddr {
    p.peer_address().unwrap()
}

impl ServerEvents for Log {
    fn connected(&mut self, peer: &Dtls, _: &mut dyn Transport) {
        self.events.push(Event::Connected(peer_addr(peer)));
    }
    fn datagram(&mut self, peer: &Dtls, data: &[u8], transport: &mut dyn Transport) {
        self.events.push(Event::Datagram(peer_addr(peer), data.to_vec()));
        // Answers go through the transport the server is answering with.
        if self.bye && data == b"bye" {
            peer.shutdown(transport).unwrap();
        } else if self.echo {
            peer.write_datagram_encrypted(transport, data).unwrap();
        }
    }
    fn closed(&mut self, peer: &Dtls, reason: CloseReason) {
        self.events.push(Event::Closed(peer_addr(peer), reason));
    }
    fn handshake_failed(&mut self, peer: &Dtls, reason: CloseReason) {
        self.events.push(Event::Failed(peer_addr(peer), reason));
    }
}

impl Log {
    pub fn closed(&self) -> Vec<(SocketAddr, CloseReason)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Closed(a, r) => Some((*a, *r)),
                _ => None,
            })
            .collect()
    }
    pub fn failed(&self) -> Vec<(SocketAddr, CloseReason)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Failed(a, r) => Some((*a, *r)),
                _ => None,
            })
            .collect()
    }
    pub fn connected(&self) -> Vec<SocketAddr> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Connected(a) => Some(*a),
                _ => None,
            })
            .collect()
    }
}

/// One client on the network: its address and what it sent.
pub struct Client {
    pub addr: SocketAddr,
    pub dtls: Dtls,
    pub out: ClientOut,
}

#[derive(Default)]
pub struct ClientOut(pub VecDeque<Vec<u8>>);

impl Transport for ClientOut {
    fn send(&mut self, dgram: &[u8], peer: SocketAddr) -> io::Result<()> {
        assert_eq!(peer, SERVER);
        self.0.push_back(dgram.to_vec());
        Ok(())
    }
    fn path_mtu(&mut self) -> Option<u32> {
        None
    }
}

impl Client {
    pub fn new(addr: SocketAddr) -> Client {
        let dtls = Dtls::new(SslMode::Client);
        dtls.set_dtls_configuration(&config(true)).unwrap();
        dtls.set_peer(SERVER, "").unwrap();
        dtls.set_psk_callback(psk_callback);
        Client { addr, dtls, out: ClientOut::default() }
    }

    pub fn start(&mut self) {
        self.dtls.do_handshake(&mut self.out, &[]).unwrap();
    }

    pub fn take(&mut self) -> Vec<Vec<u8>> {
        self.out.0.drain(..).collect()
    }

    pub fn receive(&mut self, dgram: &[u8]) -> Option<Vec<u8>> {
        match self.dtls.handshake_state() {
            HandshakeState::InProgress => {
                let _ = self.dtls.do_handshake(&mut self.out, dgram);
                None
            }
            HandshakeState::Complete => self.dtls.decrypt_datagram(&mut self.out, dgram).ok(),
            _ => None,
        }
    }
}

/// A server and its clients on one in-memory network, with a virtual clock.
pub struct Net {
    pub server: Server,
    pub wire: Wire,
    pub log: Log,
    pub clients: Vec<Client>,
    pub clock: VirtualClock,
}

impl Net {
    pub fn new(cookies: bool) -> Net {
        Net::with(&config(cookies))
    }

    pub fn with(cfg: &Configuration) -> Net {
        let clock = VirtualClock::install();
        let mut server = Server::new(cfg).unwrap();
        server.set_psk_callback(|_peer, a| a.set_pre_shared_key(PSK_KEY));
        Net { server, wire: Wire::default(), log: Log::default(), clients: Vec::new(), clock }
    }

    pub fn add(&mut self, addr: SocketAddr) -> usize {
        self.clients.push(Client::new(addr));
        self.clients.len() - 1
    }

    pub fn arrive(&mut self, from: SocketAddr, dgram: &[u8]) {
        self.server.handle_datagram(&mut self.wire, from, dgram, &mut self.log).unwrap();
    }

    /// Moves datagrams both ways until nothing moves; returns application
    /// data each client received. TRACE=1 prints every datagram moved.
    pub fn pump(&mut self) -> Vec<(usize, Vec<u8>)> {
        let mut got = Vec::new();
        loop {
            let mut moved = false;
            for i in 0..self.clients.len() {
                let from = self.clients[i].addr;
                for d in self.clients[i].take() {
                    moved = true;
                    if std::env::var("TRACE").is_ok() {
                        eprintln!("c{i} -> {}", super::pipe::describe(&d));
                    }
                    self.arrive(from, &d);
                }
            }
            let replies: Vec<_> = self.log.replies.0.drain(..).collect();
            for (d, to) in self.wire.0.drain(..).chain(replies).collect::<Vec<_>>() {
                moved = true;
                if std::env::var("TRACE").is_ok() {
                    eprintln!("s -> {to}: {}", super::pipe::describe(&d));
                }
                // The newest client at an address is the one listening there.
                if let Some(i) = self.clients.iter().rposition(|c| c.addr == to) {
                    if let Some(p) = self.clients[i].receive(&d).filter(|p| !p.is_empty()) {
                        got.push((i, p));
                    }
                }
            }
            if !moved {
                return got;
            }
        }
    }

    pub fn connect(&mut self, i: usize) {
        self.clients[i].start();
        self.pump();
        assert_eq!(self.clients[i].dtls.handshake_state(), HandshakeState::Complete);
    }

    pub fn send(&mut self, i: usize, data: &[u8]) -> Vec<(usize, Vec<u8>)> {
        let c = &mut self.clients[i];
        c.dtls.write_datagram_encrypted(&mut c.out, data).unwrap();
        self.pump()
    }

    pub fn expire(&mut self) -> usize {
        self.server.handle_timeouts(&mut self.wire, &mut self.log).unwrap()
    }
}

/// The client's first flight, made by a real client (a cookie-less ClientHello).
pub fn hello_from(addr: SocketAddr) -> Vec<u8> {
    let mut c = Client::new(addr);
    c.start();
    c.take().remove(0)
}

/// Starts a client's handshake and stops once the server has a session for it.
pub fn half_open(net: &mut Net, from: SocketAddr) -> usize {
    let i = net.add(from);
    net.clients[i].start();
    let hello = net.clients[i].take().remove(0);
    net.arrive(from, &hello);
    let (hvr, _) = net.wire.0.pop_back().unwrap();
    net.clients[i].receive(&hvr);
    let hello2 = net.clients[i].take().remove(0);
    net.arrive(from, &hello2);
    net.wire.0.clear(); // the server's flight never arrives
    i
}
