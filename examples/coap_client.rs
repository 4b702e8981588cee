//! A CoAP client over DTLS (coaps) on qdtls's Rust API: one GET, its
//! response printed (see examples/coap/mod.rs for the codec).
//!
//! cargo run --example coap_client -- [--host 127.0.0.1] [--port 5684] [--path hello] [--non]
//!     [--psk-identity ID] [--psk-key KEY]                     (PSK, the default)
//!     [--ca CA.pem [--name NAME] [--cert CERT.pem --key KEY.pem]] (certificates)
//!
//! Exits with 0 for a 2.xx response, 1 otherwise.

mod coap;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use coap::{code_name, fresh_id_and_token, Client, Message, Psk, Type};
use qdtls::{Configuration, PeerVerifyMode};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (mut host, mut port, mut path, mut ty) =
        ("127.0.0.1".parse::<IpAddr>()?, 5684u16, "hello".to_string(), Type::Con);
    let (mut identity, mut key) = ("qdtls-coap".to_string(), "qdtls-coap-secret".to_string());
    let (mut ca, mut name, mut cert, mut cert_key) = (None, String::new(), None, None);
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--non" {
            ty = Type::Non;
            continue;
        }
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--host" => host = value.parse()?,
            "--port" => port = value.parse()?,
            "--path" => path = value,
            "--psk-identity" => identity = value,
            "--psk-key" => key = value,
            "--ca" => ca = Some(value),
            "--name" => name = value,
            "--cert" => cert = Some(value),
            "--key" => cert_key = Some(value),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }

    let mut config = Configuration::new();
    let psk = match &ca {
        Some(ca) => {
            config.add_ca_certificates_pem(&std::fs::read(ca)?)?; // verify the server against this CA
            if let (Some(cert), Some(cert_key)) = (&cert, &cert_key) {
                config.set_local_certificate_chain_pem(&std::fs::read(cert)?)?;
                config.set_private_key_pem(&std::fs::read(cert_key)?, None)?;
            }
            None
        }
        None => {
            config.set_peer_verify_mode(PeerVerifyMode::VerifyNone); // PSK: no certificate to verify
            config.set_ciphers(Some(coap::PSK_CIPHERS))?; // and no certificate suites
            Some(Psk { identity: identity.into_bytes(), key: key.into_bytes() })
        }
    };

    let server = SocketAddr::new(host, port);
    let client = Client::connect(server, &name, &config, psk, Duration::from_secs(10))?;
    println!("coap client: DTLS up with {server}, {}", client.dtls.session_cipher().unwrap_or("?"));
    let (id, token) = fresh_id_and_token();
    let request = Message::get(ty, id, &token, &path);
    let response = client.request(&request, Duration::from_secs(30))?;
    println!(
        "coap client: {:?} {} (id {}, token {:02x?}): {}",
        response.ty,
        code_name(response.code),
        response.id,
        response.token,
        String::from_utf8_lossy(&response.payload)
    );
    client.close()?;
    if response.code >> 5 != 2 {
        std::process::exit(1);
    }
    Ok(())
}
