//! Interoperability with real DTLS 1.2 peers: OpenSSL's `s_server` /
//! `s_client` and GnuTLS's `gnutls-serv` / `gnutls-cli`, run as child
//! processes on 127.0.0.1. Our side goes through the C ABI (the harness
//! wrappers) on real UDP sockets, in both roles.
//!
//! Every cell of the matrix (peer x mode x role) does: handshake, data in
//! both directions, a clean shutdown (close_notify seen by the other side).
//! Modes:
//! - `psk`:    pre-shared key, no certificates;
//! - `ecdsa`:  ECDSA P-256 certificates, mutual authentication, both sides verify
//!   the other against a CA (and our client checks the server's name);
//! - `rsa`:    the same with RSA-2048;
//! - `cookie`: the stateless cookie exchange (HelloVerifyRequest) checked on
//!   the wire: our client against `s_server -listen` / `gnutls-serv` with
//!   cookies on; our server is a QDtlsClientVerifier in front of a
//!   cookie-checking QDtls;
//! - `mtu1200`: RSA chains (leaf + intermediate, so flights exceed one
//!   datagram) with link MTU 1200 on both sides; a relay measures that no
//!   datagram exceeds it in either direction.
//!
//! Who closes: in the `cookie` and `mtu1200` cells the peer closes where the
//! tool can (stdin EOF makes `s_client` and `gnutls-cli` send close_notify,
//! which we must see as RemoteClosedConnectionError); elsewhere we close and
//! the peer must report it. Two tools cannot close cleanly, so against them
//! we always close:
//! - `s_server` (OpenSSL 3.0 apps/s_server.c): on stdin EOF or a `Q`/`q`
//!   line it closes its socket *before* `SSL_shutdown`, so for DTLS 1.2 its
//!   close_notify never leaves (only a DTLS 1.0 `q` keeps the socket);
//! - `gnutls-serv` is a daemon with no stdin commands.
//!
//! Known peer defect worked around: `gnutls-cli` 3.7.9 segfaults right after
//! any ECDHE-PSK handshake (also against `openssl s_server`, e.g. with
//! ECDHE-PSK-CHACHA20-POLY1305 or ECDHE-PSK-AES128-CBC-SHA256), so the
//! gnutls-cli PSK cell offers plain PSK key exchange only. gnutls-serv is
//! fine with ECDHE-PSK and is tested with it.
//!
//! The single test prints the matrix and fails unless every cell passed.
//! A cell that cannot run (a tool missing) is a failure, not a skip.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::certs::{chain_pem, Ca, KeyKind, LeafSpec, Pem, Usage};
use common::harness::*;
use common::peer::{free_port, Peer, TempDir};
use qdtls::ffi::dtls::*;
use qdtls::ffi::*;

/// The PSK both sides use (hex for the tools, bytes for us).
const PSK_HEX: &str = "5a17c0ffee0ddba11dec0de5eed5a17e";
const IDENTITY: &str = "qdtls-interop";
/// The name in the server certificates (and an IP SAN for tools that check the address).
const SERVER_NAME: &str = "dtls.test";
const MTU: u16 = 1200;
/// Per-cell limit for the handshake and for each wait on a peer.
const STEP: Duration = Duration::from_secs(10);

fn psk_hex() -> String {
    PSK_HEX.to_owned()
}

fn psk_bytes() -> Vec<u8> {
    let h = psk_hex();
    (0..h.len()).step_by(2).map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap()).collect()
}

// ---- certificates on disk ----------------------------------------------------------

/// A CA and server/client identities of one key kind, as PEM strings and as files.
struct Pki {
    ca_pem: String,
    server: Pem,
    client: Pem,
    /// Leaf followed by the intermediate (empty intermediate for a flat PKI).
    server_chain: String,
    client_chain: String,
    intermediate: Option<String>,
    /// Paths: CA, server cert (leaf only), server chain (leaf + intermediate),
    /// server key, client cert, client chain, client key, intermediate.
    files: PkiFiles,
    _dir: TempDir,
}

struct PkiFiles {
    ca: String,
    server_cert: String,
    server_chain: String,
    server_key: String,
    client_cert: String,
    client_chain: String,
    client_key: String,
    intermediate: String,
}

impl Pki {
    fn new(kind: KeyKind, with_intermediate: bool) -> Pki {
        let root = Ca::new("qdtls interop root", kind);
        let inter = with_intermediate.then(|| root.intermediate("qdtls interop intermediate"));
        let issuer = inter.as_ref().unwrap_or(&root);
        let server =
            issuer.issue(&LeafSpec { dns: &[SERVER_NAME], ips: &["127.0.0.1"], kind, ..LeafSpec::server(SERVER_NAME) });
        let client = issuer.issue(&LeafSpec { kind, usage: Usage::Client, ..LeafSpec::client("qdtls interop client") });
        let inter_pem = inter.as_ref().map(|i| i.pem.cert.clone());
        let chain = |leaf: &str| match &inter_pem {
            Some(i) => chain_pem(&[leaf, i]),
            None => chain_pem(&[leaf]),
        };
        let (server_chain, client_chain) = (chain(&server.cert), chain(&client.cert));
        let dir = TempDir::new(if kind == KeyKind::EcP256 { "ec" } else { "rsa" });
        let files = PkiFiles {
            ca: dir.write("ca.pem", &root.pem.cert),
            server_cert: dir.write("server.pem", &server.cert),
            server_chain: dir.write("server-chain.pem", &server_chain),
            server_key: dir.write("server.key", &server.key),
            client_cert: dir.write("client.pem", &client.cert),
            client_chain: dir.write("client-chain.pem", &client_chain),
            client_key: dir.write("client.key", &client.key),
            intermediate: dir.write("intermediate.pem", inter_pem.as_deref().unwrap_or("")),
        };
        Pki {
            ca_pem: root.pem.cert.clone(),
            server,
            client,
            server_chain,
            client_chain,
            intermediate: inter_pem,
            files,
            _dir: dir,
        }
    }
}

// ---- a measuring relay ------------------------------------------------------------------

/// Forwards datagrams between one "client" (learned from the first datagram
/// on `front`) and a fixed server address, recording the largest datagram
/// and whether a HelloVerifyRequest went by.
struct Relay {
    front: SocketAddr,
    stop: Arc<AtomicBool>,
    stats: Arc<Mutex<RelayStats>>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Default, Debug, Clone)]
struct RelayStats {
    max_to_server: usize,
    max_to_client: usize,
    datagrams_to_client: usize,
    bytes_to_client_in_handshake: usize,
    hello_verify_requests: usize,
    client_hellos_with_cookie: usize,
}

/// Handshake message type of the first record of a plaintext (epoch 0) handshake datagram.
fn epoch0_handshake_type(d: &[u8]) -> Option<u8> {
    (d.len() > 13 && d[0] == 22 && d[3] == 0 && d[4] == 0).then(|| d[13])
}

/// Whether a ClientHello datagram carries a non-empty cookie.
fn client_hello_has_cookie(d: &[u8]) -> bool {
    // record (13) + handshake header (12) + version (2) + random (32), then session id, cookie.
    let mut i = 13 + 12 + 2 + 32;
    let Some(&sid) = d.get(i) else { return false };
    i += 1 + sid as usize;
    d.get(i).is_some_and(|&c| c > 0)
}

impl Relay {
    fn start(server: SocketAddr) -> Relay {
        let front = UdpSocket::bind("127.0.0.1:0").unwrap();
        let back = UdpSocket::bind("127.0.0.1:0").unwrap();
        for s in [&front, &back] {
            s.set_nonblocking(true).unwrap();
        }
        let addr = front.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(Mutex::new(RelayStats::default()));
        let (stop2, stats2) = (stop.clone(), stats.clone());
        let thread = std::thread::spawn(move || {
            let mut client: Option<SocketAddr> = None;
            let mut buf = vec![0u8; 65536];
            let mut encrypted_seen = false;
            while !stop2.load(Ordering::SeqCst) {
                let mut idle = true;
                if let Ok((n, from)) = front.recv_from(&mut buf) {
                    idle = false;
                    client = Some(from);
                    let d = &buf[..n];
                    let mut st = stats2.lock().unwrap();
                    st.max_to_server = st.max_to_server.max(n);
                    if epoch0_handshake_type(d) == Some(1) && client_hello_has_cookie(d) {
                        st.client_hellos_with_cookie += 1;
                    }
                    let _ = back.send_to(d, server);
                }
                if let Ok((n, _)) = back.recv_from(&mut buf) {
                    idle = false;
                    let d = &buf[..n];
                    let mut st = stats2.lock().unwrap();
                    st.max_to_client = st.max_to_client.max(n);
                    st.datagrams_to_client += 1;
                    if d.first() == Some(&23) {
                        encrypted_seen = true;
                    }
                    if !encrypted_seen {
                        st.bytes_to_client_in_handshake += n;
                    }
                    if epoch0_handshake_type(d) == Some(3) {
                        st.hello_verify_requests += 1;
                    }
                    if let Some(c) = client {
                        let _ = front.send_to(d, c);
                    }
                }
                if idle {
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
        });
        Relay { front: addr, stop, stats, thread: Some(thread) }
    }

    fn stats(&self) -> RelayStats {
        self.stats.lock().unwrap().clone()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

// ---- our side ------------------------------------------------------------------------------

/// Drives a started handshake of `d` on `s` until it completes.
fn pump_handshake(d: &Dtls, s: &UdpSocket, limit: Duration) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    loop {
        match d.state() {
            QDTLS_HANDSHAKE_COMPLETE => return Ok(()),
            QDTLS_PEER_VERIFICATION_FAILED => {
                return Err(format!("peer verification failed: {:?}", d.verification_errors()));
            }
            QDTLS_HANDSHAKE_NOT_STARTED => return Err(format!("handshake failed: {}", d.error_string())),
            _ => {}
        }
        if Instant::now() > deadline {
            return Err(format!("handshake not complete within {limit:?}"));
        }
        if let Some((dg, _)) = recv(s) {
            d.handshake(s, &dg);
        } else if d.next_timeout_ms() == 0 {
            d.handle_timeout(s);
        }
    }
}

/// Our client: starts and completes a handshake with the peer at `to`.
fn client_handshake(d: &Dtls, s: &UdpSocket, to: SocketAddr, name: &str) -> Result<(), String> {
    check(d.set_peer(to, name), || format!("set_peer: {}", d.error_string()))?;
    check(unsafe { qdtls_set_initial_timeout_ms(d.0, 250) }, || "initial timeout".into())?;
    check(d.handshake(s, &[]), || format!("client start: {}", d.error_string()))?;
    pump_handshake(d, s, STEP)
}

/// Our server: takes the first ClientHello (through `verifier` when given),
/// sets the peer from its source and completes the handshake.
fn server_handshake(d: &Dtls, s: &UdpSocket, verifier: Option<&Verifier>) -> Result<SocketAddr, String> {
    check(unsafe { qdtls_set_initial_timeout_ms(d.0, 250) }, || "initial timeout".into())?;
    let deadline = Instant::now() + STEP;
    let (hello, from) = loop {
        if Instant::now() > deadline {
            return Err("no (verified) ClientHello arrived".into());
        }
        let Some((dg, from)) = recv(s) else { continue };
        match verifier {
            None => break (dg, from),
            Some(v) if v.verify(s, &dg, from) => break (v.verified_hello(), from),
            Some(v) => check(v.error() == QDTLS_ERROR_NO_ERROR, || format!("verifier error {}", v.error()))?,
        }
    };
    check(d.set_peer(from, ""), || format!("set_peer: {}", d.error_string()))?;
    check(d.handshake(s, &hello), || format!("server start: {}", d.error_string()))?;
    pump_handshake(d, s, STEP)?;
    Ok(from)
}

/// Decrypts what arrives until the plaintext contains `needle`.
fn receive_until(d: &Dtls, s: &UdpSocket, needle: &str) -> Result<(), String> {
    let deadline = Instant::now() + STEP;
    let mut got = Vec::new();
    while Instant::now() < deadline {
        let Some((dg, _)) = recv(s) else { continue };
        match d.decrypt(s, &dg) {
            Some(p) => got.extend_from_slice(&p),
            None => return Err(format!("decrypt failed: {} ({})", d.error_string(), d.error())),
        }
        if String::from_utf8_lossy(&got).contains(needle) {
            return Ok(());
        }
    }
    Err(format!("{needle:?} not received; got {:?}", String::from_utf8_lossy(&got)))
}

/// Waits for the peer's close_notify: decrypt fails with RemoteClosedConnectionError.
fn expect_remote_close(d: &Dtls, s: &UdpSocket) -> Result<(), String> {
    let deadline = Instant::now() + STEP;
    while Instant::now() < deadline {
        let Some((dg, _)) = recv(s) else { continue };
        if d.decrypt(s, &dg).is_none() {
            check(d.error() == QDTLS_ERROR_REMOTE_CLOSED_CONNECTION_ERROR, || {
                format!("expected RemoteClosedConnectionError, got {} {}", d.error(), d.error_string())
            })?;
            check(d.state() == QDTLS_HANDSHAKE_NOT_STARTED && !d.encrypted(), || "still encrypted".into())?;
            return Ok(());
        }
    }
    Err("no close_notify from the peer".into())
}

fn our_shutdown(d: &Dtls, s: &UdpSocket) -> Result<(), String> {
    check(d.shutdown(s), || format!("shutdown: {}", d.error_string()))?;
    check(!d.encrypted() && d.state() == QDTLS_HANDSHAKE_NOT_STARTED, || "encrypted after shutdown".into())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Psk,
    Ecdsa,
    Rsa,
    Cookie,
    Mtu,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Psk => "psk",
            Mode::Ecdsa => "ecdsa",
            Mode::Rsa => "rsa",
            Mode::Cookie => "cookie",
            Mode::Mtu => "mtu1200",
        }
    }
    /// Whether the peer (not we) sends close_notify in this cell, if the tool can.
    fn peer_closes(self) -> bool {
        matches!(self, Mode::Cookie | Mode::Mtu)
    }
}

/// Certificates for the certificate modes (shared by the cells).
struct Pkis {
    ec: Pki,
    rsa: Pki,
    rsa_chain: Pki,
}

impl Pkis {
    fn for_mode(&self, m: Mode) -> Option<&Pki> {
        match m {
            Mode::Psk => None,
            Mode::Ecdsa | Mode::Cookie => Some(&self.ec),
            Mode::Rsa => Some(&self.rsa),
            Mode::Mtu => Some(&self.rsa_chain),
        }
    }
}

/// Our configuration for `mode` in `server` or client role.
fn our_config(mode: Mode, pki: Option<&Pki>, server: bool) -> Cfg {
    let cfg = Cfg::new();
    cfg.cookies(mode == Mode::Cookie);
    match pki {
        None => {
            cfg.verify_mode(QDTLS_VERIFY_NONE);
        }
        Some(p) => {
            let (chain, key) = if server { (&p.server_chain, &p.server.key) } else { (&p.client_chain, &p.client.key) };
            cfg.identity(chain, key).ca(&p.ca_pem).verify_mode(QDTLS_VERIFY_PEER);
        }
    }
    cfg
}

/// Checks what our side negotiated and saw of the peer.
fn check_session(d: &Dtls, mode: Mode, pki: Option<&Pki>, server: bool) -> Result<(), String> {
    check(d.encrypted() && d.protocol() == QDTLS_PROTOCOL_DTLS_V1_2, || "not DTLS 1.2".into())?;
    let cipher = d.cipher();
    let want = match mode {
        Mode::Psk => "PSK",
        Mode::Ecdsa | Mode::Cookie => "ECDSA",
        Mode::Rsa | Mode::Mtu => "RSA",
    };
    check(cipher.contains(want), || format!("cipher {cipher} is not a {want} suite"))?;
    if let Some(p) = pki {
        let leaf = if server { &p.client.cert } else { &p.server.cert };
        let der = openssl::x509::X509::from_pem(leaf.as_bytes()).unwrap().to_der().unwrap();
        check(d.peer_certificate() == der, || "peer certificate is not the peer's leaf".into())?;
        let want_chain = if p.intermediate.is_some() { 2 } else { 1 };
        check(d.peer_chain_len() >= want_chain, || format!("peer chain has {} certificates", d.peer_chain_len()))?;
        check(d.verification_errors().is_empty(), || format!("errors {:?}", d.verification_errors()))?;
    }
    Ok(())
}

/// Checks the relay's measurements for the `cookie` and `mtu1200` cells.
fn check_relay(mode: Mode, r: &Relay, peer_is_server: bool, peer_mtu_limit: usize) -> Result<(), String> {
    let st = r.stats();
    match mode {
        Mode::Cookie => {
            check(st.hello_verify_requests >= 1, || format!("no HelloVerifyRequest went by: {st:?}"))?;
            check(st.client_hellos_with_cookie >= 1, || format!("no ClientHello with a cookie: {st:?}"))
        }
        Mode::Mtu => {
            // 1200 minus IPv4 and UDP headers: what OpenSSL (ours and s_*) puts in one datagram.
            let ours_limit = usize::from(MTU) - 28;
            let (ours, theirs) = if peer_is_server {
                (st.max_to_server, st.max_to_client)
            } else {
                (st.max_to_client, st.max_to_server)
            };
            check(ours <= ours_limit, || format!("we sent a {ours}-byte datagram, MTU allows {ours_limit}: {st:?}"))?;
            check(theirs <= peer_mtu_limit, || format!("peer sent {theirs} bytes > {peer_mtu_limit}: {st:?}"))?;
            // Both sides really used the 1200 MTU, not the 576 fallback: both send
            // certificate chains, larger than one 576-byte datagram.
            let fallback = 576 - 28;
            check(ours > fallback && theirs > fallback, || format!("an MTU of 576 was used: {st:?}"))?;
            // The server's flight must really have been split (chain > one datagram).
            check(st.bytes_to_client_in_handshake > ours_limit, || format!("flight fits one datagram: {st:?}"))?;
            Ok(())
        }
        _ => Ok(()),
    }
}

/// MTU checks on our side: the hint bounds application datagrams.
fn check_our_mtu(d: &Dtls, s: &UdpSocket) -> Result<(), String> {
    let max = d.max_payload();
    check(max > 0 && max < usize::from(MTU) - 28, || format!("max payload {max}"))?;
    let too_big = vec![b'x'; max + 1];
    check(d.write(s, &too_big) == -1 && d.error() == QDTLS_ERROR_INVALID_INPUT_PARAMETERS, || {
        format!("a {}-byte datagram over the MTU was not refused: {}", max + 1, d.error_string())
    })?;
    check(d.encrypted(), || "refusing a datagram closed the session".into())
}

// ---- OpenSSL s_server / s_client --------------------------------------------------------------

/// Our client against `openssl s_server -dtls1_2`.
fn openssl_server_cell(mode: Mode, pkis: &Pkis) -> Result<String, String> {
    let pki = pkis.for_mode(mode);
    let port = free_port();
    let mut args: Vec<String> =
        ["-dtls1_2", "-accept", &format!("127.0.0.1:{port}"), "-naccept", "1"].iter().map(|s| s.to_string()).collect();
    match pki {
        None => args.extend(["-nocert", "-psk", &psk_hex(), "-psk_identity", IDENTITY].map(String::from)),
        Some(p) => {
            args.extend(["-cert", &p.files.server_cert, "-key", &p.files.server_key].map(String::from));
            if p.intermediate.is_some() {
                args.extend(["-cert_chain", &p.files.intermediate].map(String::from));
            }
            // Mutual authentication: our client certificate must verify.
            args.extend(["-CAfile", &p.files.ca, "-Verify", "2", "-verify_return_error"].map(String::from));
        }
    }
    if mode == Mode::Cookie {
        args.push("-listen".into());
    }
    if mode == Mode::Mtu {
        args.extend(["-mtu".to_string(), MTU.to_string()]);
    }
    let mut peer = Peer::spawn("openssl", &[vec!["s_server".to_string()], args].concat())?;
    peer.wait_for("ACCEPT", STEP)?;
    let server: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let relay = matches!(mode, Mode::Cookie | Mode::Mtu).then(|| Relay::start(server));
    let target = relay.as_ref().map_or(server, |r| r.front);

    let cfg = our_config(mode, pki, false);
    let psk = Psk::new(IDENTITY.as_bytes(), &psk_bytes());
    let d = Dtls::client().with_config(&cfg).with_psk(&psk);
    if mode == Mode::Mtu {
        unsafe { qdtls_set_mtu_hint(d.0, MTU) };
    }
    let s = udp();
    client_handshake(&d, &s, target, SERVER_NAME).map_err(|e| format!("{e}\n{}", peer.tail()))?;
    check_session(&d, mode, pki, false)?;
    let cipher = d.cipher();

    let up = format!("<to-s_server-{}>", mode.name());
    check(d.write(&s, format!("{up}\n").as_bytes()) > 0, || format!("write: {}", d.error_string()))?;
    peer.wait_for(&up, STEP)?;
    let down = format!("<from-s_server-{}>", mode.name());
    peer.send_line(&down)?;
    receive_until(&d, &s, &down)?;
    if mode == Mode::Mtu {
        check_our_mtu(&d, &s)?;
    }
    if let Some(r) = &relay {
        check_relay(mode, r, true, usize::from(MTU) - 28)?;
    }
    // s_server cannot send close_notify (see the top of the file): we close.
    our_shutdown(&d, &s)?;
    peer.wait_for("DONE", STEP)?; // s_server saw close_notify
    let st = peer.wait_exit(STEP)?;
    check(st.success(), || format!("s_server exited with {st}:\n{}", peer.tail()))?;
    Ok(cipher)
}

/// Our server against `openssl s_client -dtls1_2`.
fn openssl_client_cell(mode: Mode, pkis: &Pkis) -> Result<String, String> {
    let pki = pkis.for_mode(mode);
    let s = udp();
    let ours = s.local_addr().unwrap();
    let relay = matches!(mode, Mode::Cookie | Mode::Mtu).then(|| Relay::start(ours));
    let target = relay.as_ref().map_or(ours, |r| r.front);
    let mut args: Vec<String> = ["s_client", "-dtls1_2", "-connect", &target.to_string()].map(String::from).to_vec();
    match pki {
        None => args.extend(["-psk", &psk_hex(), "-psk_identity", IDENTITY].map(String::from)),
        Some(p) => {
            args.extend(
                ["-CAfile", &p.files.ca, "-verify", "2", "-verify_return_error", "-verify_hostname", SERVER_NAME]
                    .map(String::from),
            );
            args.extend(["-cert", &p.files.client_cert, "-key", &p.files.client_key].map(String::from));
            if p.intermediate.is_some() {
                args.extend(["-cert_chain", &p.files.intermediate].map(String::from));
            }
        }
    }
    if mode == Mode::Mtu {
        args.extend(["-mtu".to_string(), MTU.to_string()]);
    }
    let cfg = our_config(mode, pki, true);
    let psk = Psk::new(b"", &psk_bytes());
    let d = Dtls::server().with_config(&cfg).with_psk(&psk);
    if mode == Mode::Mtu {
        unsafe { qdtls_set_mtu_hint(d.0, MTU) };
    }
    let verifier = (mode == Mode::Cookie).then(Verifier::new);
    let mut peer = Peer::spawn("openssl", &args)?;
    server_handshake(&d, &s, verifier.as_ref()).map_err(|e| format!("{e}\n{}", peer.tail()))?;
    check_session(&d, mode, pki, true)?;
    let cipher = d.cipher();
    if pki.is_none() {
        let seen = psk.seen_identity.lock().unwrap().clone();
        check(seen == IDENTITY.as_bytes(), || format!("identity {seen:?}"))?;
    }
    let down = format!("<to-s_client-{}>", mode.name());
    check(d.write(&s, format!("{down}\n").as_bytes()) > 0, || format!("write: {}", d.error_string()))?;
    peer.wait_for(&down, STEP)?;
    if pki.is_some() {
        check(peer.has("Verify return code: 0 (ok)"), || format!("s_client did not verify us:\n{}", peer.tail()))?;
    }
    let up = format!("<from-s_client-{}>", mode.name());
    peer.send_line(&up)?;
    receive_until(&d, &s, &up)?;
    if mode == Mode::Mtu {
        check_our_mtu(&d, &s)?;
    }
    if let Some(r) = &relay {
        check_relay(mode, r, false, usize::from(MTU) - 28)?;
    }
    if mode.peer_closes() {
        peer.close_stdin(); // s_client: EOF on stdin -> close_notify
        expect_remote_close(&d, &s)?;
    } else {
        our_shutdown(&d, &s)?;
        peer.wait_for("closed", STEP)?; // s_client: SSL_ERROR_ZERO_RETURN
    }
    let st = peer.wait_exit(STEP)?;
    check(st.success(), || format!("s_client exited with {st}:\n{}", peer.tail()))?;
    Ok(cipher)
}

// ---- GnuTLS gnutls-serv / gnutls-cli -----------------------------------------------------------

const GNUTLS_PSK_PRIORITY: &str = "NORMAL:-VERS-ALL:+VERS-DTLS1.2:-KX-ALL:+ECDHE-PSK:+PSK";
/// gnutls-cli 3.7.9 crashes after ECDHE-PSK handshakes (see the top of the file).
const GNUTLS_CLI_PSK_PRIORITY: &str = "NORMAL:-VERS-ALL:+VERS-DTLS1.2:-KX-ALL:+PSK";
const GNUTLS_CERT_PRIORITY: &str = "NORMAL:-VERS-ALL:+VERS-DTLS1.2";

fn gnutls_priority(mode: Mode) -> String {
    let p = if mode == Mode::Psk { GNUTLS_PSK_PRIORITY } else { GNUTLS_CERT_PRIORITY };
    match mode {
        // Force the key type of the certificate cells, so a mix-up shows.
        Mode::Ecdsa | Mode::Cookie => format!("{p}:-SIGN-ALL:+SIGN-ECDSA-SECP256R1-SHA256:+SIGN-ECDSA-SHA256"),
        Mode::Rsa | Mode::Mtu => format!("{p}:-KX-ALL:+ECDHE-RSA"),
        Mode::Psk => p.to_owned(),
    }
}

/// Our client against `gnutls-serv --udp --echo`.
fn gnutls_server_cell(mode: Mode, pkis: &Pkis) -> Result<String, String> {
    let pki = pkis.for_mode(mode);
    let dir = TempDir::new("gnutls");
    let port = free_port();
    let mut args: Vec<String> =
        ["--udp", "--echo", "-p", &port.to_string(), "--priority", &gnutls_priority(mode)].map(String::from).to_vec();
    if mode != Mode::Cookie {
        args.push("--nocookie".into()); // the cookie cell checks the exchange on the wire
    }
    match pki {
        None => {
            let file = dir.write("psk.txt", &format!("{IDENTITY}:{}\n", psk_hex()));
            args.extend(["--pskpasswd".to_string(), file]);
        }
        Some(p) => {
            args.extend(
                ["--x509certfile", &p.files.server_chain, "--x509keyfile", &p.files.server_key].map(String::from),
            );
            args.extend(
                ["--x509cafile", &p.files.ca, "--require-client-cert", "--verify-client-cert"].map(String::from),
            );
        }
    }
    if mode == Mode::Mtu {
        args.extend(["--mtu".to_string(), MTU.to_string()]);
    }
    let mut peer = Peer::spawn("gnutls-serv", &args)?;
    peer.wait_for("IPv4", STEP)?;
    peer.wait_for("done", STEP)?;
    let server: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let relay = matches!(mode, Mode::Cookie | Mode::Mtu).then(|| Relay::start(server));
    let target = relay.as_ref().map_or(server, |r| r.front);

    let cfg = our_config(mode, pki, false);
    let psk = Psk::new(IDENTITY.as_bytes(), &psk_bytes());
    let d = Dtls::client().with_config(&cfg).with_psk(&psk);
    if mode == Mode::Mtu {
        unsafe { qdtls_set_mtu_hint(d.0, MTU) };
    }
    let s = udp();
    client_handshake(&d, &s, target, SERVER_NAME).map_err(|e| format!("{e}\n{}", peer.tail()))?;
    check_session(&d, mode, pki, false)?;
    let cipher = d.cipher();
    // The echo server sends our line back: both directions in one go.
    let token = format!("<echo-gnutls-serv-{}>", mode.name());
    check(d.write(&s, format!("{token}\n").as_bytes()) > 0, || format!("write: {}", d.error_string()))?;
    receive_until(&d, &s, &token)?;
    if mode == Mode::Mtu {
        check_our_mtu(&d, &s)?;
    }
    if let Some(r) = &relay {
        // GnuTLS's --mtu is the datagram size itself.
        check_relay(mode, r, true, usize::from(MTU))?;
    }
    our_shutdown(&d, &s)?;
    // gnutls-serv says nothing on close_notify; it must still serve a new client afterwards.
    let d2 = Dtls::client().with_config(&cfg).with_psk(&psk);
    let s2 = udp();
    client_handshake(&d2, &s2, target, SERVER_NAME).map_err(|e| format!("second client: {e}\n{}", peer.tail()))?;
    let token2 = format!("<echo-again-{}>", mode.name());
    check(d2.write(&s2, token2.as_bytes()) > 0, || "second write".into())?;
    receive_until(&d2, &s2, &token2)?;
    our_shutdown(&d2, &s2)?;
    check(peer.child.try_wait().ok().flatten().is_none(), || format!("gnutls-serv died:\n{}", peer.tail()))?;
    Ok(cipher)
}

/// Our server against `gnutls-cli --udp`.
fn gnutls_client_cell(mode: Mode, pkis: &Pkis) -> Result<String, String> {
    let pki = pkis.for_mode(mode);
    let s = udp();
    let ours = s.local_addr().unwrap();
    let relay = matches!(mode, Mode::Cookie | Mode::Mtu).then(|| Relay::start(ours));
    let target = relay.as_ref().map_or(ours, |r| r.front);
    let priority = if mode == Mode::Psk { GNUTLS_CLI_PSK_PRIORITY.to_owned() } else { gnutls_priority(mode) };
    let mut args: Vec<String> =
        ["--udp", "-p", &target.port().to_string(), "--priority", &priority].map(String::from).to_vec();
    match pki {
        None => args.extend(["--pskusername", IDENTITY, "--pskkey", &psk_hex()].map(String::from)),
        Some(p) => {
            args.extend(["--x509cafile", &p.files.ca, "--verify-hostname", SERVER_NAME].map(String::from));
            args.extend(
                ["--x509certfile", &p.files.client_chain, "--x509keyfile", &p.files.client_key].map(String::from),
            );
        }
    }
    if mode == Mode::Mtu {
        args.extend(["--mtu".to_string(), MTU.to_string()]);
    }
    args.push("127.0.0.1".into());
    let cfg = our_config(mode, pki, true);
    let psk = Psk::new(b"", &psk_bytes());
    let d = Dtls::server().with_config(&cfg).with_psk(&psk);
    if mode == Mode::Mtu {
        unsafe { qdtls_set_mtu_hint(d.0, MTU) };
    }
    let verifier = (mode == Mode::Cookie).then(Verifier::new);
    let mut peer = Peer::spawn("gnutls-cli", &args)?;
    server_handshake(&d, &s, verifier.as_ref()).map_err(|e| format!("{e}\n{}", peer.tail()))?;
    check_session(&d, mode, pki, true)?;
    let cipher = d.cipher();
    if pki.is_none() {
        let seen = psk.seen_identity.lock().unwrap().clone();
        check(seen == IDENTITY.as_bytes(), || format!("identity {seen:?}"))?;
    }
    peer.wait_for("Handshake was completed", STEP)?;
    if pki.is_some() {
        check(peer.has("The certificate is trusted"), || format!("gnutls-cli did not trust us:\n{}", peer.tail()))?;
    }
    let down = format!("<to-gnutls-cli-{}>", mode.name());
    check(d.write(&s, format!("{down}\n").as_bytes()) > 0, || format!("write: {}", d.error_string()))?;
    peer.wait_for(&down, STEP)?;
    let up = format!("<from-gnutls-cli-{}>", mode.name());
    peer.send_line(&up)?;
    receive_until(&d, &s, &up)?;
    if mode == Mode::Mtu {
        check_our_mtu(&d, &s)?;
    }
    if let Some(r) = &relay {
        check_relay(mode, r, false, usize::from(MTU))?;
    }
    if mode.peer_closes() {
        peer.close_stdin(); // gnutls-cli: EOF on stdin -> bye (close_notify)
        expect_remote_close(&d, &s)?;
    } else {
        our_shutdown(&d, &s)?;
        peer.wait_for("Peer has closed the GnuTLS connection", STEP)?;
    }
    let st = peer.wait_exit(STEP)?;
    check(st.success(), || format!("gnutls-cli exited with {st}:\n{}", peer.tail()))?;
    Ok(cipher)
}

// ---- the matrix --------------------------------------------------------------------------------

type CellFn = fn(Mode, &Pkis) -> Result<String, String>;

#[test]
fn interop_matrix() {
    let started = Instant::now();
    let pkis = Pkis {
        ec: Pki::new(KeyKind::EcP256, false),
        rsa: Pki::new(KeyKind::Rsa2048, false),
        rsa_chain: Pki::new(KeyKind::Rsa2048, true),
    };
    let peers: [(&str, &str, CellFn); 4] = [
        ("openssl", "client", openssl_server_cell),
        ("openssl", "server", openssl_client_cell),
        ("gnutls", "client", gnutls_server_cell),
        ("gnutls", "server", gnutls_client_cell),
    ];
    let modes = [Mode::Psk, Mode::Ecdsa, Mode::Rsa, Mode::Cookie, Mode::Mtu];
    let mut rows = Vec::new();
    for (peer, role, cell) in peers {
        for mode in modes {
            let t = Instant::now();
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cell(mode, &pkis)))
                .unwrap_or_else(|p| Err(format!("panic: {:?}", p.downcast_ref::<String>())));
            // Only the client tools can close (see the top of the file).
            let closer = if mode.peer_closes() && role == "server" { "peer" } else { "ours" };
            rows.push((peer, mode.name(), role, closer, r, t.elapsed()));
        }
    }
    println!("\ninterop matrix (our role; who sent close_notify):");
    println!("{:<8} {:<8} {:<7} {:<6} {:<6} {:>6}  cipher", "peer", "mode", "ours", "close", "result", "ms");
    let mut failed = Vec::new();
    for (peer, mode, role, closer, r, t) in &rows {
        let (res, cipher) = match r {
            Ok(c) => ("ok", c.as_str()),
            Err(_) => ("FAIL", ""),
        };
        println!("{peer:<8} {mode:<8} {role:<7} {closer:<6} {res:<6} {:>6}  {cipher}", t.as_millis());
        if let Err(e) = r {
            failed.push(format!("{peer} {mode} (we are {role}): {e}"));
        }
    }
    println!("{} cells, {} failed, {:?}", rows.len(), failed.len(), started.elapsed());
    assert!(failed.is_empty(), "failed cells:\n{}", failed.join("\n\n"));
}
