//! WebRTC-style DTLS-SRTP key agreement (RFC 5763, RFC 5764) on qdtls's
//! Rust API: each peer has a self-signed certificate whose SHA-256
//! fingerprint the other learns out of band (in WebRTC: the SDP
//! `a=fingerprint` line), both offer SRTP profiles, and the handshake yields
//! the profile and the SRTP master keys and salts of both directions.
//!
//! cargo run --example webrtc_srtp                         both peers in this process, over loopback
//! cargo run --example webrtc_srtp -- --role server --port P [--peer-fingerprint FP]
//! cargo run --example webrtc_srtp -- --role client --port P [--peer-fingerprint FP]
//!
//! With one role the other side can be another process, e.g.
//! `openssl s_client -dtls1_2 -connect 127.0.0.1:P -cert C.pem -key K.pem
//! -use_srtp SRTP_AES128_CM_SHA1_80 -keymatexport EXTRACTOR-dtls_srtp
//! -keymatexportlen 60` (a certificate is required, as in WebRTC), whose
//! keying material is client key | server key | client salt | server salt,
//! the EXTRACTOR-dtls_srtp line printed here.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::PKey;
use openssl::x509::{X509Name, X509};
use qdtls::{Configuration, Dtls, HandshakeState, PeerVerifyMode, SrtpKeys, SrtpProfile, SslMode};

/// What WebRTC offers: AES-GCM first, the mandatory AES-CM/SHA1-80 too.
const PROFILES: [SrtpProfile; 3] =
    [SrtpProfile::AeadAes128Gcm, SrtpProfile::Aes128CmSha1_80, SrtpProfile::Aes128CmSha1_32];

/// A self-signed ECDSA P-256 certificate, as browsers make for WebRTC: (cert PEM, key PEM, fingerprint).
fn certificate(cn: &str) -> Result<(Vec<u8>, Vec<u8>, String), openssl::error::ErrorStack> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
    let key = PKey::from_ec_key(EcKey::generate(&group)?)?;
    let mut name = X509Name::builder()?;
    name.append_entry_by_nid(Nid::COMMONNAME, cn)?;
    let name = name.build();
    let mut b = X509::builder()?;
    b.set_version(2)?;
    let mut serial = BigNum::new()?;
    serial.rand(64, MsbOption::MAYBE_ZERO, false)?;
    let serial = serial.to_asn1_integer()?;
    b.set_serial_number(&serial)?;
    b.set_subject_name(&name)?;
    b.set_issuer_name(&name)?;
    b.set_pubkey(&key)?;
    b.set_not_before(&*Asn1Time::days_from_now(0)?)?;
    b.set_not_after(&*Asn1Time::days_from_now(30)?)?;
    b.sign(&key, MessageDigest::sha256())?;
    let cert = b.build();
    let fingerprint = fingerprint(&cert.to_der()?);
    Ok((cert.to_pem()?, key.private_key_to_pem_pkcs8()?, fingerprint))
}

/// "sha-256 AB:CD:...", as in SDP.
fn fingerprint(der: &[u8]) -> String {
    let digest = openssl::hash::hash(MessageDigest::sha256(), der).expect("SHA-256");
    let hex: Vec<String> = digest.iter().map(|b| format!("{b:02X}")).collect();
    format!("sha-256 {}", hex.join(":"))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// One side: handshake on `socket` (a server takes its peer from the first
/// datagram), then the peer's fingerprint is checked and the keys returned.
fn agree(
    role: SslMode,
    socket: UdpSocket,
    peer: Option<SocketAddr>,
    identity: &(Vec<u8>, Vec<u8>, String),
    peer_fingerprint: Option<&str>,
) -> Result<SrtpKeys, String> {
    let mut cfg = Configuration::new();
    cfg.set_local_certificate_chain_pem(&identity.0).map_err(|e| e.to_string())?;
    cfg.set_private_key_pem(&identity.1, None).map_err(|e| e.to_string())?;
    // Ask for the peer's certificate but do not verify a chain: the
    // fingerprint from the signalling channel is what authenticates it.
    cfg.set_peer_verify_mode(PeerVerifyMode::QueryPeer);
    // ICE has already checked that the peer answers at this address.
    cfg.set_dtls_cookie_verification_enabled(false);
    cfg.set_srtp_profiles(&PROFILES).map_err(|e| e.to_string())?;

    let dtls = Dtls::new(role);
    dtls.set_dtls_configuration(&cfg).map_err(|e| e.to_string())?;
    let mut tx = &socket;
    let mut buf = vec![0u8; 65536];
    socket.set_read_timeout(Some(Duration::from_millis(20))).map_err(|e| e.to_string())?;
    let deadline = Instant::now() + Duration::from_secs(30);
    match peer {
        Some(peer) => {
            dtls.set_peer(peer, "").map_err(|e| e.to_string())?;
            dtls.do_handshake(&mut tx, &[]).map_err(|e| e.to_string())?;
        }
        None => loop {
            if Instant::now() > deadline {
                return Err("no ClientHello within 30 s".into());
            }
            if let Ok((n, from)) = socket.recv_from(&mut buf) {
                dtls.set_peer(from, "").map_err(|e| e.to_string())?;
                dtls.do_handshake(&mut tx, &buf[..n]).map_err(|e| e.to_string())?;
                break;
            }
        },
    }
    while dtls.handshake_state() == HandshakeState::InProgress {
        if Instant::now() > deadline {
            return Err("no handshake within 30 s".into());
        }
        match socket.recv(&mut buf) {
            Ok(n) => dtls.do_handshake(&mut tx, &buf[..n]).map_err(|e| e.to_string())?,
            Err(_) if dtls.next_timeout() == Some(Duration::ZERO) => {
                dtls.handle_timeout(&mut tx).map_err(|e| e.to_string())?;
            }
            Err(_) => {}
        }
    }
    if !dtls.is_connection_encrypted() {
        return Err(format!("handshake failed: {:?}", dtls.handshake_state()));
    }
    let seen = dtls.peer_certificate().map(|c| fingerprint(&c.to_der())).ok_or("the peer sent no certificate")?;
    if let Some(want) = peer_fingerprint {
        if !seen.eq_ignore_ascii_case(want) {
            return Err(format!("peer fingerprint {seen}, signalled {want}"));
        }
    }
    let keys = dtls.srtp_keying_material().map_err(|e| format!("no SRTP keys: {e}"))?;
    let who = if role == SslMode::Server { "server" } else { "client" };
    println!("{who}: {}, peer {seen}", dtls.session_cipher().unwrap_or("?"));
    Ok(keys)
}

fn print_keys(who: &str, k: &SrtpKeys) {
    println!("{who}: profile {}", k.profile.openssl_name());
    println!("{who}:   client master key  {}", hex(&k.client_key));
    println!("{who}:   client master salt {}", hex(&k.client_salt));
    println!("{who}:   server master key  {}", hex(&k.server_key));
    println!("{who}:   server master salt {}", hex(&k.server_salt));
    let all = [&k.client_key, &k.server_key, &k.client_salt, &k.server_salt].map(|v| hex(v)).concat();
    println!("{who}:   EXTRACTOR-dtls_srtp {all}");
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (mut role, mut port, mut peer_fp) = ("both".to_string(), 0u16, None);
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--role" => role = value,
            "--port" => port = value.parse()?,
            "--peer-fingerprint" => peer_fp = Some(value),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let local = |p: u16| UdpSocket::bind(("127.0.0.1", p));
    match role.as_str() {
        "both" => {
            // Signalling: each side's fingerprint goes to the other (here: variables).
            let (a, b) = (certificate("webrtc offerer")?, certificate("webrtc answerer")?);
            println!("offer:  a=fingerprint:{}\nanswer: a=fingerprint:{}", a.2, b.2);
            let (server_socket, client_socket) = (local(0)?, local(0)?);
            let server_addr = server_socket.local_addr()?;
            let (a_fp, b_fp) = (a.2.clone(), b.2.clone());
            let server = std::thread::spawn(move || agree(SslMode::Server, server_socket, None, &a, Some(&b_fp)));
            let client = agree(SslMode::Client, client_socket, Some(server_addr), &b, Some(&a_fp))?;
            let server = server.join().map_err(|_| "server thread panicked")??;
            print_keys("client", &client);
            print_keys("server", &server);
            if client != server {
                return Err("the two sides derived different SRTP keys".into());
            }
            println!("both sides agree on {} and its keys", client.profile.openssl_name());
        }
        "server" | "client" => {
            let me = certificate(&format!("webrtc {role}"))?;
            println!("{role}: a=fingerprint:{}", me.2);
            let keys = if role == "server" {
                let s = local(port)?;
                println!("server: waiting on {}", s.local_addr()?);
                agree(SslMode::Server, s, None, &me, peer_fp.as_deref())?
            } else {
                agree(SslMode::Client, local(0)?, Some(([127, 0, 0, 1], port).into()), &me, peer_fp.as_deref())?
            };
            print_keys(&role, &keys);
        }
        other => return Err(format!("--role is both, server or client, not {other}").into()),
    }
    Ok(())
}
