//! A DTLS echo server on `qdtls::Server`, in the shape of Qt's DTLS server
//! example: one UDP socket for every client, the stateless cookie exchange
//! before a client gets any state, PSK or a certificate, and each decrypted
//! datagram sent back encrypted.
//!
//! cargo run --example server -- [--port P] [--cert CERT.pem --key KEY.pem] [--exit-after N] [--idle-timeout S]
//!
//! PSK always works (any identity, key "qdtls demo key"); with --cert the
//! server also has a certificate. --exit-after N: exit once N clients have
//! closed their session (close_notify). --idle-timeout S: close clients
//! silent for S seconds (default 60; 0: never).
//!
//! tests/server_interop.rs compiles this file as a module and calls [`serve`].
#![allow(dead_code)] // as a module of a test, `main` is not called

use std::error::Error;
use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use qdtls::{CloseReason, Configuration, Dtls, PeerVerifyMode, Server, ServerEvents, Transport};

/// The key every PSK client must use (the identity is only printed).
pub const PSK_KEY: &[u8] = b"qdtls demo key";

pub struct Args {
    pub port: u16,
    pub cert: Option<(String, String)>,
    pub exit_after: Option<usize>,
    pub idle_timeout: Option<Duration>,
}

pub fn parse_args(mut it: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut a = Args { port: 0, cert: None, exit_after: None, idle_timeout: Some(Duration::from_secs(60)) };
    let (mut cert, mut key) = (None, None);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--port" => a.port = value()?.parse().map_err(|e| format!("--port: {e}"))?,
            "--cert" => cert = Some(value()?),
            "--key" => key = Some(value()?),
            "--exit-after" => a.exit_after = Some(value()?.parse().map_err(|e| format!("--exit-after: {e}"))?),
            "--idle-timeout" => {
                let s: u64 = value()?.parse().map_err(|e| format!("--idle-timeout: {e}"))?;
                a.idle_timeout = (s > 0).then(|| Duration::from_secs(s));
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    a.cert = match (cert, key) {
        (Some(c), Some(k)) => Some((c, k)),
        (None, None) => None,
        _ => return Err("--cert and --key go together".into()),
    };
    Ok(a)
}

pub fn configuration(cert: &Option<(String, String)>) -> Result<Configuration, Box<dyn Error>> {
    let mut cfg = Configuration::new();
    cfg.set_peer_verify_mode(PeerVerifyMode::VerifyNone); // clients are not asked for certificates
    if let Some((cert, key)) = cert {
        cfg.set_local_certificate_chain_pem(&std::fs::read(cert)?)?;
        cfg.set_private_key_pem(&std::fs::read(key)?, None)?;
    }
    Ok(cfg)
}

/// What a run of the server did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Peers whose handshake completed.
    pub connected: usize,
    /// Datagrams echoed.
    pub echoed: usize,
    /// Peers that closed their session with close_notify.
    pub served: usize,
}

/// What the server reports about its peers: each is logged, each datagram echoed.
struct Echo<'a> {
    socket: &'a UdpSocket,
    stats: Stats,
}

fn name(peer: &Dtls) -> String {
    peer.peer_address().map_or("?".into(), |a| a.to_string())
}

impl ServerEvents for Echo<'_> {
    fn connected(&mut self, peer: &Dtls, _: &mut dyn Transport) {
        self.stats.connected += 1;
        println!("server: {}: handshake complete, {}", name(peer), peer.session_cipher().unwrap_or("?"));
    }
    fn datagram(&mut self, peer: &Dtls, data: &[u8], transport: &mut dyn Transport) {
        println!("server: {}: {:?}", name(peer), String::from_utf8_lossy(data));
        match peer.write_datagram_encrypted(transport, data) {
            Ok(_) => self.stats.echoed += 1,
            Err(e) => println!("server: {}: echo failed: {e}", name(peer)),
        }
    }
    fn closed(&mut self, peer: &Dtls, reason: CloseReason) {
        println!("server: {}: closed ({reason:?})", name(peer));
        if reason == CloseReason::CloseNotify {
            self.stats.served += 1;
        }
    }
}

/// Waits until `socket` is readable or `timeout` elapsed.
pub fn wait_readable(socket: &UdpSocket, timeout: Duration) {
    let ms = timeout.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
    let mut pfd = libc::pollfd { fd: socket.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    // SAFETY: one valid pollfd for the length of the call.
    unsafe { libc::poll(&mut pfd, 1, ms) };
}

/// Serves on `socket` until `--exit-after` clients were served or `stop`
/// is set, then closes every peer.
pub fn serve(args: &Args, socket: &UdpSocket, stop: &AtomicBool) -> Result<Stats, Box<dyn Error>> {
    let cfg = configuration(&args.cert)?;
    socket.set_nonblocking(true)?;
    let mut server = Server::new(&cfg)?;
    server.set_psk_callback(|peer, auth| {
        println!("server: {}: PSK identity {:?}", name(peer), String::from_utf8_lossy(auth.identity()));
        auth.set_pre_shared_key(PSK_KEY);
    });
    server.set_idle_timeout(args.idle_timeout);
    let mut ev = Echo { socket, stats: Stats::default() };
    while !stop.load(Ordering::Relaxed) && args.exit_after.is_none_or(|n| ev.stats.served < n) {
        // Until a datagram arrives or the next timer is due (at most 100 ms, to see `stop`).
        let wait = server.next_timeout().map_or(Duration::from_millis(100), |t| t.min(Duration::from_millis(100)));
        wait_readable(socket, wait);
        // A failed send to one peer does not stop the others.
        if let Err(e) = server.receive(socket, &mut ev) {
            println!("server: {e}");
        }
        if let Err(e) = server.handle_timeouts(&mut &*socket, &mut ev) {
            println!("server: {e}");
        }
    }
    server.shutdown(&mut &*socket, &mut ev);
    Ok(ev.stats)
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = parse_args(std::env::args().skip(1))?;
    let socket = UdpSocket::bind(("127.0.0.1", args.port))?;
    println!("server: listening on {}", socket.local_addr()?);
    serve(&args, &socket, &AtomicBool::new(false))?;
    Ok(())
}
