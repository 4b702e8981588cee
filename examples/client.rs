//! A DTLS client over qdtls's Rust API, in the shape of Qt's DTLS client
//! example: handshake (PSK, or a certificate verified against a CA), a few
//! encrypted datagrams and their echoes, then shutdown.
//!
//! cargo run --example client -- --port P [--host 127.0.0.1] [--ca CA.pem --name HOST] [--count N]
//!
//! tests/server_interop.rs compiles this file as a module and calls [`run`].
#![allow(dead_code)] // as a module of a test, `main` is not called

use std::error::Error;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use qdtls::{Configuration, Dtls, HandshakeState, PeerVerifyMode, SslMode};

pub struct Args {
    pub server: SocketAddr,
    /// CA file: verify the server's certificate against it (else PSK).
    pub ca: Option<String>,
    /// The name the server's certificate must carry.
    pub name: String,
    pub count: usize,
}

pub fn parse_args(mut it: impl Iterator<Item = String>) -> Result<Args, Box<dyn Error>> {
    let (mut host, mut port, mut ca, mut name, mut count) =
        (IpAddr::from([127, 0, 0, 1]), 0u16, None, String::new(), 3);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--host" => host = value.parse()?,
            "--port" => port = value.parse()?,
            "--ca" => ca = Some(value),
            "--name" => name = value,
            "--count" => count = value.parse()?,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    Ok(Args { server: (host, port).into(), ca, name, count })
}

/// Connects, sends `count` datagrams and checks their echoes, shuts down.
/// Returns the echoes.
pub fn run(a: &Args) -> Result<Vec<String>, Box<dyn Error>> {
    let mut cfg = Configuration::new();
    match &a.ca {
        Some(ca) => cfg.add_ca_certificates_pem(&std::fs::read(ca)?)?, // verify the server against this CA
        None => cfg.set_peer_verify_mode(PeerVerifyMode::VerifyNone),  // PSK: no certificate to verify
    }
    let dtls = Dtls::new(SslMode::Client);
    dtls.set_dtls_configuration(&cfg)?;
    dtls.set_peer(a.server, &a.name)?;
    dtls.set_psk_callback(|auth| {
        auth.set_identity(b"qdtls client");
        auth.set_pre_shared_key(b"qdtls demo key");
    });

    let local: SocketAddr = if a.server.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { ([0u16; 8], 0).into() };
    let mut socket = UdpSocket::bind(local)?;
    let mut buf = vec![0u8; 65536];
    dtls.do_handshake(&mut socket, &[])?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while dtls.handshake_state() == HandshakeState::InProgress && Instant::now() < deadline {
        // Wait for the peer, at most until the retransmission timer is due.
        socket.set_read_timeout(Some(
            dtls.next_timeout().unwrap_or(Duration::from_secs(1)).max(Duration::from_millis(1)),
        ))?;
        match socket.recv(&mut buf) {
            Ok(n) => dtls.do_handshake(&mut socket, &buf[..n])?,
            Err(_) => {
                dtls.handle_timeout(&mut socket)?;
            }
        }
    }
    if dtls.handshake_state() == HandshakeState::PeerVerificationFailed {
        return Err(format!("the server failed verification: {:?}", dtls.peer_verification_errors()).into());
    }
    if !dtls.is_connection_encrypted() {
        return Err("no handshake within 10 s".into());
    }
    println!("client: connected, {} ({:?})", dtls.session_cipher().unwrap_or("?"), dtls.session_protocol());

    socket.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut echoes = Vec::new();
    for i in 0..a.count {
        let message = format!("hello {i} from the Rust client");
        dtls.write_datagram_encrypted(&mut socket, message.as_bytes())?;
        let echo = loop {
            let n = socket.recv(&mut buf)?;
            let plain = dtls.decrypt_datagram(&mut socket, &buf[..n])?;
            if !plain.is_empty() {
                break plain;
            }
        };
        let echo = String::from_utf8_lossy(&echo).into_owned();
        println!("client: echo {echo:?}");
        if echo != message {
            return Err(format!("sent {message:?}, the echo was {echo:?}").into());
        }
        echoes.push(echo);
    }
    dtls.shutdown(&mut socket)?;
    println!("client: done");
    Ok(echoes)
}

fn main() -> Result<(), Box<dyn Error>> {
    run(&parse_args(std::env::args().skip(1))?)?;
    Ok(())
}
