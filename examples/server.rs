//! A DTLS echo server over qdtls's Rust API, in the shape of Qt's DTLS server
//! example: one UDP socket, peers demultiplexed by address, a ClientVerifier
//! in front (no state for a client until it proves its address), PSK or a
//! certificate, and each decrypted datagram sent back encrypted.
//!
//! cargo run --example server -- [--port P] [--cert CERT.pem --key KEY.pem] [--exit-after N]
//!
//! Without --cert the server uses PSK (identity "qdtls client", key "qdtls demo key").

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use qdtls::{ClientVerifier, Configuration, Dtls, DtlsError, HandshakeState, PeerVerifyMode, SslMode};

struct Args {
    port: u16,
    cert: Option<(String, String)>,
    exit_after: Option<usize>,
}

fn args() -> Result<Args, String> {
    let mut a = Args { port: 0, cert: None, exit_after: None };
    let mut it = std::env::args().skip(1);
    let (mut cert, mut key) = (None, None);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--port" => a.port = value()?.parse().map_err(|e| format!("--port: {e}"))?,
            "--cert" => cert = Some(value()?),
            "--key" => key = Some(value()?),
            "--exit-after" => a.exit_after = Some(value()?.parse().map_err(|e| format!("--exit-after: {e}"))?),
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

fn configuration(cert: &Option<(String, String)>) -> Result<Configuration, Box<dyn std::error::Error>> {
    let mut cfg = Configuration::new();
    cfg.set_peer_verify_mode(PeerVerifyMode::VerifyNone); // clients are not asked for certificates
    if let Some((cert, key)) = cert {
        cfg.set_local_certificate_chain_pem(&std::fs::read(cert)?)?;
        cfg.set_private_key_pem(&std::fs::read(key)?, None)?;
    }
    Ok(cfg)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = args()?;
    let cfg = configuration(&args.cert)?;
    let mut socket = UdpSocket::bind(("127.0.0.1", args.port))?;
    socket.set_read_timeout(Some(Duration::from_millis(100)))?;
    println!("server: listening on {}", socket.local_addr()?);

    let verifier = ClientVerifier::new();
    let mut peers: HashMap<SocketAddr, Dtls> = HashMap::new();
    let mut served = 0;
    let mut buf = vec![0u8; 65536];
    while args.exit_after.is_none_or(|n| served < n) {
        // Retransmit for peers whose timer is due.
        for (addr, dtls) in &peers {
            if dtls.next_timeout() == Some(Duration::ZERO) {
                if let Err(e) = dtls.handle_timeout(&mut socket) {
                    println!("server: {addr}: {e}");
                }
            }
        }
        peers.retain(|_, d| d.handshake_state() != HandshakeState::NotStarted);
        let (n, from) = match socket.recv_from(&mut buf) {
            Ok(x) => x,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => continue,
            Err(e) => return Err(e.into()),
        };
        let dgram = &buf[..n];
        match peers.get(&from) {
            None => {
                // Unknown source: the cookie exchange first, no state kept.
                if verifier.verify_client(&mut socket, dgram, from)? {
                    let dtls = Dtls::new(SslMode::Server);
                    dtls.set_dtls_configuration(&cfg)?;
                    dtls.set_peer(from, "")?;
                    dtls.set_psk_callback(|auth| {
                        println!("server: PSK identity {:?}", String::from_utf8_lossy(auth.identity()));
                        auth.set_pre_shared_key(b"qdtls demo key");
                    });
                    match dtls.do_handshake(&mut socket, &verifier.verified_hello()) {
                        Ok(()) => {
                            peers.insert(from, dtls);
                        }
                        Err(e) => println!("server: {from}: handshake failed: {e}"),
                    }
                }
            }
            Some(dtls) if dtls.is_connection_encrypted() => match dtls.decrypt_datagram(&mut socket, dgram) {
                Ok(plain) if plain.is_empty() => {}
                Ok(plain) => {
                    println!("server: {from}: {:?}", String::from_utf8_lossy(&plain));
                    dtls.write_datagram_encrypted(&mut socket, &plain)?;
                }
                Err(e) if e.kind() == DtlsError::RemoteClosedConnectionError => {
                    println!("server: {from} closed the session");
                    peers.remove(&from);
                    served += 1;
                }
                Err(e) => println!("server: {from}: {e}"),
            },
            Some(dtls) => {
                if let Err(e) = dtls.do_handshake(&mut socket, dgram) {
                    println!("server: {from}: handshake failed: {e}");
                    peers.remove(&from);
                } else if dtls.is_connection_encrypted() {
                    println!("server: {from}: handshake complete, {}", dtls.session_cipher().unwrap_or("?"));
                }
            }
        }
    }
    Ok(())
}
