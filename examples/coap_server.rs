//! A CoAP server over DTLS (coaps) on qdtls's Rust API: one UDP socket,
//! peers by address with a ClientVerifier in front (see examples/coap/mod.rs),
//! GET /hello and GET / answered with 2.05 Content, anything else 4.04.
//!
//! cargo run --example coap_server -- [--port P] [--exit-after N]
//!     [--psk-identity ID] [--psk-key KEY]          (PSK, the default)
//!     [--cert CERT.pem --key KEY.pem [--ca CA.pem]] (certificates; with --ca
//!                                                    clients must present one)
//!
//! Try it with libcoap: coap-client-openssl -u qdtls-coap -k qdtls-coap-secret coaps://127.0.0.1:5684/hello

mod coap;

use std::net::UdpSocket;

use coap::{Psk, Resources, Server};
use qdtls::{Configuration, PeerVerifyMode};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (mut port, mut exit_after) = (5684u16, None);
    let (mut identity, mut key) = ("qdtls-coap".to_string(), "qdtls-coap-secret".to_string());
    let (mut cert, mut cert_key, mut ca) = (None, None, None);
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--port" => port = value.parse()?,
            "--exit-after" => exit_after = Some(value.parse::<usize>()?),
            "--psk-identity" => identity = value,
            "--psk-key" => key = value,
            "--cert" => cert = Some(value),
            "--key" => cert_key = Some(value),
            "--ca" => ca = Some(value),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }

    let mut config = Configuration::new();
    let psk = match (&cert, &cert_key) {
        (Some(cert), Some(cert_key)) => {
            config.set_local_certificate_chain_pem(&std::fs::read(cert)?)?;
            config.set_private_key_pem(&std::fs::read(cert_key)?, None)?;
            match &ca {
                Some(ca) => {
                    config.add_ca_certificates_pem(&std::fs::read(ca)?)?;
                    config.set_peer_verify_mode(PeerVerifyMode::VerifyPeer); // mutual authentication
                }
                None => config.set_peer_verify_mode(PeerVerifyMode::VerifyNone),
            }
            None
        }
        (None, None) => {
            config.set_peer_verify_mode(PeerVerifyMode::VerifyNone);
            config.set_ciphers(Some(coap::PSK_CIPHERS))?;
            Some(Psk { identity: identity.into_bytes(), key: key.into_bytes() })
        }
        _ => return Err("--cert and --key go together".into()),
    };

    let mut resources = Resources::new();
    resources.insert("hello".into(), b"Hello from qdtls over CoAP/DTLS".to_vec());
    resources.insert(String::new(), b"qdtls CoAP example server".to_vec());

    let socket = UdpSocket::bind(("127.0.0.1", port))?;
    println!("coap server: coaps://{} ({})", socket.local_addr()?, if psk.is_some() { "PSK" } else { "certificate" });
    let mut server = Server::new(socket, config, psk, resources);
    server.verbose = true;
    server.run(|s| exit_after.is_some_and(|n| s.answered >= n))?;
    Ok(())
}
