//! The two ends: the benchmark's settings, client `Dtls` sessions and
//! `Server`s configured with them, transports that send nothing or keep what
//! is sent, the server's events, and handshakes over sockets and without.

use std::collections::VecDeque;
use std::io::{self, ErrorKind};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;

use qdtls::{CloseReason, Configuration, Dtls, PeerVerifyMode, Protocol, Server, ServerEvents, SslMode, Transport};

use crate::measure::thread_cpu_seconds;
use crate::sockets::wait_readable;
use crate::BoxResult;

pub const PAYLOAD: usize = 1200;
pub const MTU: u16 = 1500;
pub const PSK_CIPHER: &str = "PSK-AES128-GCM-SHA256";
pub const PSK_IDENTITY: &[u8] = b"bench client";
pub const PSK_KEY: &[u8] = b"0123456789abcdef";
/// The server's address in the sans-I/O scenarios (nothing is bound there).
pub const SANS_IO_SERVER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 4433);

pub fn configuration(cookies: bool) -> BoxResult<Configuration> {
    let mut c = Configuration::new();
    c.set_protocol(Protocol::DtlsV1_2);
    c.set_dtls_cookie_verification_enabled(cookies);
    c.set_ciphers(Some(PSK_CIPHER))?;
    c.set_peer_verify_mode(PeerVerifyMode::VerifyNone);
    Ok(c)
}

pub fn psk(auth: &mut qdtls::PskAuthenticator) {
    auth.set_identity(PSK_IDENTITY);
    auth.set_pre_shared_key(PSK_KEY);
}

pub fn client(cfg: &Configuration, server: SocketAddr) -> BoxResult<Dtls> {
    let d = Dtls::new(SslMode::Client);
    d.set_dtls_configuration(cfg)?;
    d.set_peer(server, "")?;
    d.set_mtu_hint(MTU);
    d.set_psk_callback(psk);
    Ok(d)
}

pub fn server(cookies: bool) -> BoxResult<Server> {
    let mut s = Server::new(&configuration(cookies)?)?;
    s.set_psk_callback(|_peer, auth| auth.set_pre_shared_key(PSK_KEY));
    Ok(s)
}

/// Sends nothing (a peer's close_notify when it is closed after the measurement's handshake).
pub struct Null;

impl Transport for Null {
    fn send(&mut self, _: &[u8], _: SocketAddr) -> io::Result<()> {
        Ok(())
    }
    fn path_mtu(&mut self) -> Option<u32> {
        None
    }
}

/// Keeps what was sent, with its destination (sans-I/O set-up).
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

/// What the server reported.
#[derive(Default)]
pub struct Events {
    pub connected: Vec<SocketAddr>,
    pub datagrams: u64,
    pub bad_datagrams: u64,
    /// Connected peers gone.
    pub closed: u64,
    /// Handshakes gone before they completed.
    pub failed: u64,
    /// Either, evicted to make room.
    pub evicted: u64,
}

impl ServerEvents for Events {
    fn connected(&mut self, peer: &Dtls, _: &mut dyn Transport) {
        if let Some(a) = peer.peer_address() {
            self.connected.push(a);
        }
    }
    fn datagram(&mut self, _peer: &Dtls, data: &[u8], _: &mut dyn Transport) {
        self.datagrams += 1;
        if data.len() != PAYLOAD {
            self.bad_datagrams += 1;
        }
    }
    fn closed(&mut self, _peer: &Dtls, reason: CloseReason) {
        self.closed += 1;
        if reason == CloseReason::Evicted {
            self.evicted += 1;
        }
    }
    fn handshake_failed(&mut self, _peer: &Dtls, reason: CloseReason) {
        self.failed += 1;
        if reason == CloseReason::Evicted {
            self.evicted += 1;
        }
    }
}

/// Every queued datagram of `sock` to the client `d`'s handshake; how many there were.
pub fn feed(d: &Dtls, sock: &UdpSocket, buf: &mut [u8]) -> BoxResult<usize> {
    let mut count = 0;
    loop {
        let n = match sock.recv(buf) {
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(count),
            Err(e) => return Err(e.into()),
        };
        count += 1;
        if !d.is_connection_encrypted() {
            d.do_handshake(&mut &*sock, &buf[..n])?;
        }
    }
}

/// A handshake of client `c` on `cs` with `server` on `ss`, until the
/// client is encrypted (the server is connected before: its last flight
/// completes the client). `server_cpu` adds the thread CPU time of the
/// server's calls when given.
pub fn server_handshake(
    server: &mut Server,
    ss: &UdpSocket,
    c: &Dtls,
    cs: &UdpSocket,
    ev: &mut Events,
    buf: &mut [u8],
    mut server_cpu: Option<&mut f64>,
) -> BoxResult<()> {
    c.do_handshake(&mut &*cs, &[])?;
    let mut idle = 0;
    while !c.is_connection_encrypted() {
        let t0 = server_cpu.as_ref().map(|_| thread_cpu_seconds());
        let a = server.receive(ss, ev)?;
        if let (Some(t0), Some(acc)) = (t0, server_cpu.as_deref_mut()) {
            *acc += thread_cpu_seconds() - t0;
        }
        let b = feed(c, cs, buf)?;
        if a + b == 0 {
            idle += 1;
            if idle >= 100 {
                return Err("handshake stuck".into());
            }
            wait_readable(&[cs.as_raw_fd(), ss.as_raw_fd()], 20);
            server.handle_timeouts(&mut &*ss, ev)?;
            c.handle_timeout(&mut &*cs)?;
        }
    }
    Ok(())
}

/// A sans-I/O handshake of a client at `from` with `server`: everything the
/// client sends goes to handle_datagram, everything the server sends back
/// to the client. Returns the client (encrypted).
pub fn sans_io_connect(server: &mut Server, cfg: &Configuration, from: SocketAddr, ev: &mut Events) -> BoxResult<Dtls> {
    let c = client(cfg, SANS_IO_SERVER)?;
    let (mut cout, mut sout) = (Wire::default(), Wire::default());
    c.do_handshake(&mut cout, &[])?;
    for _ in 0..32 {
        while let Some((d, _)) = cout.0.pop_front() {
            server.handle_datagram(&mut sout, from, &d, ev)?;
        }
        while let Some((d, to)) = sout.0.pop_front() {
            if to != from {
                return Err(format!("the server sent to {to}, not {from}").into());
            }
            if !c.is_connection_encrypted() {
                c.do_handshake(&mut cout, &d)?;
            }
        }
        if c.is_connection_encrypted() && cout.0.is_empty() {
            return Ok(c);
        }
    }
    Err(format!("sans-I/O handshake from {from} did not complete").into())
}

/// A distinct source address for peer `i` of the sans-I/O scenarios.
pub fn peer_addr(i: u32) -> SocketAddr {
    let ip = Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 0, 0, 0)) + i + 1);
    SocketAddr::new(IpAddr::V4(ip), 40000 + (i % 20000) as u16)
}
