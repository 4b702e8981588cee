//! The keying features of issue 12 against real peers: the RFC 5705
//! exporter, DTLS-SRTP, ALPN and session resumption, with OpenSSL's
//! `s_server` / `s_client` and GnuTLS's `gnutls-serv` / `gnutls-cli` as child
//! processes on 127.0.0.1. Our side is the Rust API on real UDP sockets.
//!
//! The peers print what they negotiated and exported; we parse that and
//! compare it with what [`Dtls`] reports for the same handshake:
//! - `-keymatexport LABEL -keymatexportlen N` (openssl) and
//!   `--keymatexport LABEL --keymatexportsize N` (gnutls-cli) export with no
//!   context, so ours is `export_keying_material(LABEL, None, ..)`; that an
//!   empty context gives something else is checked too, so a comparison that
//!   ignores the context would fail;
//! - DTLS-SRTP: the peer's exporter with label `EXTRACTOR-dtls_srtp` and the
//!   profile's 2 * (key + salt) bytes must equal client key | server key |
//!   client salt | server salt from `srtp_keying_material()`.
//!
//! What the GnuTLS 3.7.9 tools cannot do (found by running them):
//! - `gnutls-serv --udp` never prints session details, so its
//!   `--keymatexport` output is never seen (its DTLS loop, unlike the TCP
//!   one, does not print the session information): against gnutls-serv we
//!   check the negotiated SRTP profile and ALPN only;
//! - `--srtp-profiles` knows only SRTP_AES128_CM_HMAC_SHA1_80/32 (and the
//!   NULL ones): `SRTP_AEAD_AES_128_GCM` is a "Syntax error", so the GCM
//!   profiles are tested with openssl only.
//!
//! Session resumption where our client meets a HelloVerifyRequest (always
//! with `s_server`, gnutls-serv without --nocookie) is its own test,
//! `sessions_resume_through_a_cookie_exchange`.
//!
//! Each test prints its matrix (peer, our role, case) and fails unless every
//! cell passed; a missing tool is a failure, as in tests/interop.rs.

mod common;

use std::fmt::Write as _;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use common::certs::{Ca, KeyKind, LeafSpec};
use common::harness::check;
use common::peer::{free_port, run_matrix, Cell, Peer, TempDir};
use qdtls::{Configuration, Dtls, HandshakeState, PeerVerifyMode, SrtpKeys, SrtpProfile, SslMode};

/// Limit for a handshake and for each wait on a peer.
const STEP: Duration = Duration::from_secs(10);
const SERVER_NAME: &str = "dtls.test";
const LABEL: &str = "EXPERIMENTAL-qdtls-interop";
const PROFILES: [SrtpProfile; 4] = [
    SrtpProfile::Aes128CmSha1_80,
    SrtpProfile::Aes128CmSha1_32,
    SrtpProfile::AeadAes128Gcm,
    SrtpProfile::AeadAes256Gcm,
];

// ---- certificates and configurations ---------------------------------------------------

/// A CA and a server identity (ECDSA P-256), as PEM and as files for the tools.
struct Pki {
    ca_pem: String,
    cert_pem: String,
    key_pem: String,
    ca: String,
    cert: String,
    key: String,
    dir: TempDir,
}

fn pki() -> Pki {
    let ca = Ca::new("qdtls keying interop CA", KeyKind::EcP256);
    let leaf = ca.issue(&LeafSpec { dns: &[SERVER_NAME], ips: &["127.0.0.1"], ..LeafSpec::server(SERVER_NAME) });
    let dir = TempDir::new("keying");
    Pki {
        ca: dir.write("ca.pem", &ca.pem.cert),
        cert: dir.write("server.pem", &leaf.cert),
        key: dir.write("server.key", &leaf.key),
        ca_pem: ca.pem.cert,
        cert_pem: leaf.cert,
        key_pem: leaf.key,
        dir,
    }
}

/// Our configuration: a server with the certificate (no cookie exchange: one
/// peer per test), a client that verifies it against the CA.
fn config(pki: &Pki, mode: SslMode) -> Configuration {
    let mut c = Configuration::new();
    match mode {
        SslMode::Server => {
            c.set_dtls_cookie_verification_enabled(false);
            c.set_local_certificate_chain_pem(pki.cert_pem.as_bytes()).unwrap();
            c.set_private_key_pem(pki.key_pem.as_bytes(), None).unwrap();
        }
        SslMode::Client => {
            c.add_ca_certificates_pem(pki.ca_pem.as_bytes()).unwrap();
            c.set_peer_verify_mode(PeerVerifyMode::VerifyPeer);
        }
    }
    c
}

// ---- our side -------------------------------------------------------------------------

fn udp() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(10))).unwrap();
    s
}

/// Drives a started handshake until it completes; errors carry the peer's output.
fn pump(d: &Dtls, s: &UdpSocket, peer: &Peer) -> Result<(), String> {
    let deadline = Instant::now() + STEP;
    let mut buf = vec![0u8; 65536];
    let mut tx = s;
    loop {
        match d.handshake_state() {
            HandshakeState::Complete => return Ok(()),
            HandshakeState::PeerVerificationFailed => {
                return Err(format!("peer verification failed: {:?}", d.peer_verification_errors()))
            }
            HandshakeState::NotStarted => return Err(format!("handshake failed:\n{}", peer.tail())),
            HandshakeState::InProgress => {}
        }
        check(Instant::now() < deadline, || format!("no handshake within {STEP:?}:\n{}", peer.tail()))?;
        match s.recv(&mut buf) {
            Ok(n) => d.do_handshake(&mut tx, &buf[..n]).map_err(|e| format!("{e}:\n{}", peer.tail()))?,
            Err(_) if d.next_timeout() == Some(Duration::ZERO) => {
                d.handle_timeout(&mut tx).map_err(|e| e.to_string())?;
            }
            Err(_) => {}
        }
    }
}

/// Our client: a handshake with the peer listening on `port`.
fn connect(cfg: &Configuration, port: u16, peer: &Peer, session: Option<&[u8]>) -> Result<(Dtls, UdpSocket), String> {
    let d = Dtls::new(SslMode::Client);
    d.set_dtls_configuration(cfg).map_err(|e| e.to_string())?;
    d.set_initial_timeout(Duration::from_millis(250)).unwrap();
    if let Some(data) = session {
        d.set_session_data(data).map_err(|e| format!("set_session_data: {e}"))?;
    }
    let to: SocketAddr = ([127, 0, 0, 1], port).into();
    d.set_peer(to, SERVER_NAME).map_err(|e| e.to_string())?;
    let s = udp();
    d.do_handshake(&mut &s, &[]).map_err(|e| e.to_string())?;
    pump(&d, &s, peer)?;
    Ok((d, s))
}

/// Our server on `s`: takes the first datagram's source as the peer.
fn accept(cfg: &Configuration, s: &UdpSocket, peer: &Peer) -> Result<Dtls, String> {
    let d = Dtls::new(SslMode::Server);
    d.set_dtls_configuration(cfg).map_err(|e| e.to_string())?;
    d.set_initial_timeout(Duration::from_millis(250)).unwrap();
    let deadline = Instant::now() + STEP;
    let mut buf = vec![0u8; 65536];
    // The first ClientHello (a peer's stray datagrams of an earlier connection are skipped).
    let (n, from) = loop {
        check(Instant::now() < deadline, || format!("no ClientHello:\n{}", peer.tail()))?;
        match s.recv_from(&mut buf) {
            Ok((n, from)) if n > 13 && buf[0] == 22 && buf[13] == 1 => break (n, from),
            _ => {}
        }
    };
    d.set_peer(from, "").map_err(|e| e.to_string())?;
    d.do_handshake(&mut &*s, &buf[..n]).map_err(|e| format!("{e}:\n{}", peer.tail()))?;
    pump(&d, s, peer)?;
    Ok(d)
}

fn close(d: &Dtls, s: &UdpSocket) -> Result<(), String> {
    d.shutdown(&mut &*s).map_err(|e| format!("shutdown: {e}"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Our exporter output for `label` (no context, as the tools export), after
/// checking that an empty context gives something else.
fn our_export(d: &Dtls, label: &str, len: usize) -> Result<String, String> {
    let (mut none, mut empty) = (vec![0u8; len], vec![0u8; len]);
    d.export_keying_material(label, None, &mut none).map_err(|e| format!("export: {e}"))?;
    d.export_keying_material(label, Some(b""), &mut empty).map_err(|e| format!("export: {e}"))?;
    check(none != empty, || "no context and an empty context export the same bytes".into())?;
    Ok(hex(&none))
}

/// Our export equals what the peer printed after `marker` (its name: `who`).
fn exports_agree(d: &Dtls, peer: &Peer, marker: &str, who: &str) -> Result<(), String> {
    let theirs = peer_value(peer, marker, 0)?.to_lowercase();
    let ours = our_export(d, LABEL, EXPORT_LEN)?;
    check(ours == theirs, || format!("ours {ours}\n{who} {theirs}"))
}

/// Both sides settled on "coap": ours, and what the peer printed after `marker`.
fn alpn_is_coap(d: &Dtls, peer: &Peer, marker: &str, who: &str) -> Result<(), String> {
    let theirs = peer_value(peer, marker, 0)?;
    let ours = d.negotiated_application_protocol();
    check(ours.as_deref() == Some(b"coap".as_slice()) && theirs == "coap", || format!("ours {ours:?}, {who} {theirs}"))
}

/// RFC 5764 4.2: the exporter's layout of the SRTP keys.
fn srtp_hex(k: &SrtpKeys) -> String {
    [&k.client_key, &k.server_key, &k.client_salt, &k.server_salt].iter().map(|v| hex(v)).collect()
}

// ---- the peers' side --------------------------------------------------------------------

/// The value after `prefix` on the `nth` (0-based) complete output line of
/// the peer that starts with it (leading blanks ignored).
fn peer_value(peer: &Peer, prefix: &str, nth: usize) -> Result<String, String> {
    let deadline = Instant::now() + STEP;
    loop {
        let out = peer.output();
        let complete = &out[..out.rfind('\n').map_or(0, |i| i + 1)];
        let found = complete.lines().filter_map(|l| l.trim_start().strip_prefix(prefix)).nth(nth);
        if let Some(v) = found {
            return Ok(v.trim().to_owned());
        }
        if Instant::now() > deadline {
            return Err(format!("{} printed no line {prefix:?} (#{nth}) within {STEP:?}:\n{}", peer.name, peer.tail()));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// `openssl s_server -dtls1_2` with our server certificate, serving `naccept`
/// connections; returns once it listens.
fn s_server(pki: &Pki, port: u16, naccept: u32, extra: &[&str]) -> Result<Peer, String> {
    let mut args = strings(&["s_server", "-dtls1_2", "-accept", &format!("127.0.0.1:{port}")]);
    args.extend(strings(&["-naccept", &naccept.to_string(), "-cert", &pki.cert, "-key", &pki.key]));
    args.extend(strings(extra));
    let mut peer = Peer::spawn("openssl", &args)?;
    peer.wait_for("ACCEPT", STEP)?;
    Ok(peer)
}

/// `openssl s_client -dtls1_2` to our socket, verifying our certificate.
fn s_client(pki: &Pki, to: SocketAddr, extra: &[&str]) -> Result<Peer, String> {
    let mut args = strings(&["s_client", "-dtls1_2", "-connect", &to.to_string(), "-CAfile", &pki.ca]);
    args.extend(strings(&["-verify_return_error", "-verify_hostname", SERVER_NAME]));
    args.extend(strings(extra));
    Peer::spawn("openssl", &args)
}

/// After we closed: s_server (one connection left) or s_client exits cleanly.
fn openssl_exits(peer: &mut Peer) -> Result<(), String> {
    let st = peer.wait_exit(STEP)?;
    check(st.success(), || format!("{} exited with {st}:\n{}", peer.name, peer.tail()))
}

/// `gnutls-serv --udp` (with its cookie exchange unless `extra` has
/// --nocookie) and our server certificate.
fn gnutls_serv(pki: &Pki, port: u16, extra: &[&str]) -> Result<Peer, String> {
    let mut args = strings(&["--udp", "--echo", "-p", &port.to_string(), "--priority"]);
    args.extend(strings(&["NORMAL:-VERS-ALL:+VERS-DTLS1.2", "--x509certfile", &pki.cert, "--x509keyfile", &pki.key]));
    args.extend(strings(extra));
    let mut peer = Peer::spawn("gnutls-serv", &args)?;
    peer.wait_for("IPv4", STEP)?;
    peer.wait_for("done", STEP)?;
    Ok(peer)
}

/// `gnutls-cli --udp` to our socket, verifying our certificate.
fn gnutls_cli(pki: &Pki, to: SocketAddr, extra: &[&str]) -> Result<Peer, String> {
    let mut args = strings(&["--udp", "-p", &to.port().to_string(), "--priority", "NORMAL:-VERS-ALL:+VERS-DTLS1.2"]);
    args.extend(strings(&["--x509cafile", &pki.ca, "--verify-hostname", SERVER_NAME]));
    args.extend(strings(extra));
    args.push("127.0.0.1".into());
    Peer::spawn("gnutls-cli", &args)
}

/// After our server closed: gnutls-cli sees it and exits cleanly.
fn gnutls_cli_exits(peer: &mut Peer) -> Result<(), String> {
    peer.wait_for("Peer has closed the GnuTLS connection", STEP)?;
    let st = peer.wait_exit(STEP)?;
    check(st.success(), || format!("gnutls-cli exited with {st}:\n{}", peer.tail()))
}

/// GnuTLS's names of the SRTP profiles it supports.
fn gnutls_srtp_name(p: SrtpProfile) -> Option<&'static str> {
    match p {
        SrtpProfile::Aes128CmSha1_80 => Some("SRTP_AES128_CM_HMAC_SHA1_80"),
        SrtpProfile::Aes128CmSha1_32 => Some("SRTP_AES128_CM_HMAC_SHA1_32"),
        _ => None,
    }
}

// ---- exporter ---------------------------------------------------------------------------------

const EXPORT_LEN: usize = 48;

fn exporter_openssl_server(pki: &Pki) -> Result<String, String> {
    let port = free_port();
    let len = EXPORT_LEN.to_string();
    let mut peer = s_server(pki, port, 1, &["-keymatexport", LABEL, "-keymatexportlen", &len])?;
    let (d, s) = connect(&config(pki, SslMode::Client), port, &peer, None)?;
    exports_agree(&d, &peer, "Keying material:", "s_server")?;
    close(&d, &s)?;
    openssl_exits(&mut peer)?;
    Ok(format!("{EXPORT_LEN} bytes equal"))
}

fn exporter_openssl_client(pki: &Pki) -> Result<String, String> {
    let s = udp();
    let len = EXPORT_LEN.to_string();
    let mut peer = s_client(pki, s.local_addr().unwrap(), &["-keymatexport", LABEL, "-keymatexportlen", &len])?;
    let d = accept(&config(pki, SslMode::Server), &s, &peer)?;
    exports_agree(&d, &peer, "Keying material:", "s_client")?;
    close(&d, &s)?;
    openssl_exits(&mut peer)?;
    Ok(format!("{EXPORT_LEN} bytes equal"))
}

fn exporter_gnutls_cli(pki: &Pki) -> Result<String, String> {
    let s = udp();
    let len = EXPORT_LEN.to_string();
    let mut peer = gnutls_cli(pki, s.local_addr().unwrap(), &["--keymatexport", LABEL, "--keymatexportsize", &len])?;
    let d = accept(&config(pki, SslMode::Server), &s, &peer)?;
    exports_agree(&d, &peer, "- Key material:", "gnutls-cli")?;
    close(&d, &s)?;
    gnutls_cli_exits(&mut peer)?;
    Ok(format!("{EXPORT_LEN} bytes equal"))
}

#[test]
fn exporter_matches_the_peers() {
    let pki = pki();
    let pki = &pki;
    run_matrix(
        "RFC 5705 exporter",
        vec![
            ("openssl", "client", "keymatexport".into(), Box::new(|| exporter_openssl_server(pki))),
            ("openssl", "server", "keymatexport".into(), Box::new(|| exporter_openssl_client(pki))),
            ("gnutls-cli", "server", "keymatexport".into(), Box::new(|| exporter_gnutls_cli(pki))),
        ],
    );
}

// ---- DTLS-SRTP ----------------------------------------------------------------------------------

/// `profiles` as openssl's colon-separated list.
fn openssl_list(profiles: &[SrtpProfile]) -> String {
    profiles.iter().map(|p| p.openssl_name()).collect::<Vec<_>>().join(":")
}

/// All four profiles with `first` first (a server's preference) or last (a client's).
fn ordered(first: SrtpProfile, at_end: bool) -> Vec<SrtpProfile> {
    let mut v: Vec<SrtpProfile> = PROFILES.iter().copied().filter(|p| *p != first).collect();
    if at_end {
        v.push(first);
    } else {
        v.insert(0, first);
    }
    v
}

fn srtp_len(p: SrtpProfile) -> usize {
    let (k, s) = p.key_and_salt_len();
    2 * (k + s)
}

/// Our profile and keys agree with the peer's report of them.
fn check_srtp(
    d: &Dtls,
    want: SrtpProfile,
    their_profile: &str,
    their_name: &str,
    their_keys: Option<&str>,
) -> Result<String, String> {
    check(d.selected_srtp_profile() == Some(want), || {
        format!("we selected {:?}, want {want:?}", d.selected_srtp_profile())
    })?;
    check(their_profile == their_name, || format!("peer selected {their_profile}, want {their_name}"))?;
    let keys = d.srtp_keying_material().map_err(|e| format!("srtp_keying_material: {e}"))?;
    check(keys.profile == want, || "keys of another profile".into())?;
    let Some(theirs) = their_keys else { return Ok(format!("{their_profile} (peer prints no keys)")) };
    let ours = srtp_hex(&keys);
    check(ours == theirs.to_lowercase(), || format!("keys differ:\nours {ours}\npeer {theirs}"))?;
    Ok(format!("{their_profile}, {} key bytes equal", srtp_len(want)))
}

/// We offer all four profiles, `want` last; s_server prefers `want`.
fn srtp_openssl_server(pki: &Pki, want: SrtpProfile) -> Result<String, String> {
    let port = free_port();
    let (list, len) = (openssl_list(&ordered(want, false)), srtp_len(want).to_string());
    let mut peer = s_server(
        pki,
        port,
        1,
        &["-use_srtp", &list, "-keymatexport", "EXTRACTOR-dtls_srtp", "-keymatexportlen", &len],
    )?;
    let mut cfg = config(pki, SslMode::Client);
    cfg.set_srtp_profiles(&ordered(want, true)).unwrap();
    let (d, s) = connect(&cfg, port, &peer, None)?;
    let keys = peer_value(&peer, "Keying material:", 0)?;
    let profile = peer_value(&peer, "SRTP Extension negotiated, profile=", 0)?;
    let r = check_srtp(&d, want, &profile, want.openssl_name(), Some(&keys))?;
    close(&d, &s)?;
    openssl_exits(&mut peer)?;
    Ok(r)
}

/// s_client offers all four, `want` last; we prefer `want`.
fn srtp_openssl_client(pki: &Pki, want: SrtpProfile) -> Result<String, String> {
    let s = udp();
    let (list, len) = (openssl_list(&ordered(want, true)), srtp_len(want).to_string());
    let mut peer = s_client(
        pki,
        s.local_addr().unwrap(),
        &["-use_srtp", &list, "-keymatexport", "EXTRACTOR-dtls_srtp", "-keymatexportlen", &len],
    )?;
    let mut cfg = config(pki, SslMode::Server);
    cfg.set_srtp_profiles(&ordered(want, false)).unwrap();
    let d = accept(&cfg, &s, &peer)?;
    let keys = peer_value(&peer, "Keying material:", 0)?;
    let profile = peer_value(&peer, "SRTP Extension negotiated, profile=", 0)?;
    let r = check_srtp(&d, want, &profile, want.openssl_name(), Some(&keys))?;
    close(&d, &s)?;
    openssl_exits(&mut peer)?;
    Ok(r)
}

/// gnutls-cli offers both profiles it knows, `want` last; we prefer `want`.
fn srtp_gnutls_cli(pki: &Pki, want: SrtpProfile) -> Result<String, String> {
    let s = udp();
    let other =
        if want == SrtpProfile::Aes128CmSha1_80 { SrtpProfile::Aes128CmSha1_32 } else { SrtpProfile::Aes128CmSha1_80 };
    let name = gnutls_srtp_name(want).unwrap();
    let list = format!("{}:{name}", gnutls_srtp_name(other).unwrap());
    let len = srtp_len(want).to_string();
    let mut peer = gnutls_cli(
        pki,
        s.local_addr().unwrap(),
        &["--srtp-profiles", &list, "--keymatexport", "EXTRACTOR-dtls_srtp", "--keymatexportsize", &len],
    )?;
    let mut cfg = config(pki, SslMode::Server);
    cfg.set_srtp_profiles(&ordered(want, false)).unwrap();
    let d = accept(&cfg, &s, &peer)?;
    let keys = peer_value(&peer, "- Key material:", 0)?;
    let profile = peer_value(&peer, "- SRTP profile:", 0)?;
    let r = check_srtp(&d, want, &profile, name, Some(&keys))?;
    close(&d, &s)?;
    gnutls_cli_exits(&mut peer)?;
    Ok(r)
}

/// We offer all four, `want` last; gnutls-serv offers only `want` (it cannot
/// print its keys in DTLS, see the top of the file).
fn srtp_gnutls_serv(pki: &Pki, want: SrtpProfile) -> Result<String, String> {
    let port = free_port();
    let name = gnutls_srtp_name(want).unwrap();
    let peer = gnutls_serv(pki, port, &["--srtp-profiles", name])?;
    let mut cfg = config(pki, SslMode::Client);
    cfg.set_srtp_profiles(&ordered(want, true)).unwrap();
    let (d, s) = connect(&cfg, port, &peer, None)?;
    // Data still flows under the negotiated session (the echo server answers).
    d.write_datagram_encrypted(&mut &s, b"srtp echo").map_err(|e| e.to_string())?;
    let mut buf = [0u8; 2048];
    let deadline = Instant::now() + STEP;
    loop {
        check(Instant::now() < deadline, || format!("no echo:\n{}", peer.tail()))?;
        let Ok(n) = s.recv(&mut buf) else { continue };
        if d.decrypt_datagram(&mut &s, &buf[..n]).map_err(|e| e.to_string())? == b"srtp echo" {
            break;
        }
    }
    let r = check_srtp(&d, want, name, name, None)?;
    close(&d, &s)?;
    Ok(r)
}

#[test]
fn srtp_negotiates_and_keys_match_the_peers() {
    let pki = pki();
    let pki = &pki;
    let mut cells: Vec<Cell> = Vec::new();
    for p in PROFILES {
        let case = p.openssl_name().to_owned();
        cells.push(("openssl", "client", case.clone(), Box::new(move || srtp_openssl_server(pki, p))));
        cells.push(("openssl", "server", case.clone(), Box::new(move || srtp_openssl_client(pki, p))));
        if gnutls_srtp_name(p).is_some() {
            cells.push(("gnutls-cli", "server", case.clone(), Box::new(move || srtp_gnutls_cli(pki, p))));
            cells.push(("gnutls-serv", "client", case, Box::new(move || srtp_gnutls_serv(pki, p))));
        }
    }
    run_matrix("DTLS-SRTP", cells);
}

// ---- ALPN -----------------------------------------------------------------------------------------

/// We offer webrtc, coap; s_server prefers coap.
fn alpn_openssl_server(pki: &Pki) -> Result<String, String> {
    let port = free_port();
    let mut peer = s_server(pki, port, 1, &["-alpn", "coap,webrtc"])?;
    let mut cfg = config(pki, SslMode::Client);
    cfg.set_allowed_next_protocols(&[b"webrtc".as_slice(), b"coap".as_slice()]).unwrap();
    let (d, s) = connect(&cfg, port, &peer, None)?;
    alpn_is_coap(&d, &peer, "ALPN protocols selected:", "s_server")?;
    close(&d, &s)?;
    openssl_exits(&mut peer)?;
    Ok("coap".into())
}

/// s_client offers webrtc, coap; we prefer coap.
fn alpn_openssl_client(pki: &Pki) -> Result<String, String> {
    let s = udp();
    let mut peer = s_client(pki, s.local_addr().unwrap(), &["-alpn", "webrtc,coap"])?;
    let mut cfg = config(pki, SslMode::Server);
    cfg.set_allowed_next_protocols(&[b"coap".as_slice(), b"webrtc".as_slice()]).unwrap();
    let d = accept(&cfg, &s, &peer)?;
    alpn_is_coap(&d, &peer, "ALPN protocol:", "s_client")?;
    close(&d, &s)?;
    openssl_exits(&mut peer)?;
    Ok("coap".into())
}

/// gnutls-cli offers webrtc, coap; we prefer coap.
fn alpn_gnutls_cli(pki: &Pki) -> Result<String, String> {
    let s = udp();
    let mut peer = gnutls_cli(pki, s.local_addr().unwrap(), &["--alpn", "webrtc", "--alpn", "coap"])?;
    let mut cfg = config(pki, SslMode::Server);
    cfg.set_allowed_next_protocols(&[b"coap".as_slice(), b"webrtc".as_slice()]).unwrap();
    let d = accept(&cfg, &s, &peer)?;
    alpn_is_coap(&d, &peer, "- Application protocol:", "gnutls-cli")?;
    close(&d, &s)?;
    gnutls_cli_exits(&mut peer)?;
    Ok("coap".into())
}

/// We offer webrtc, coap; gnutls-serv knows coap only.
fn alpn_gnutls_serv(pki: &Pki) -> Result<String, String> {
    let port = free_port();
    let peer = gnutls_serv(pki, port, &["--alpn", "coap"])?;
    let mut cfg = config(pki, SslMode::Client);
    cfg.set_allowed_next_protocols(&[b"webrtc".as_slice(), b"coap".as_slice()]).unwrap();
    let (d, s) = connect(&cfg, port, &peer, None)?;
    let ours = d.negotiated_application_protocol();
    check(ours.as_deref() == Some(b"coap".as_slice()), || format!("ours {ours:?}:\n{}", peer.tail()))?;
    close(&d, &s)?;
    Ok("coap".into())
}

#[test]
fn alpn_negotiates_with_the_peers() {
    let pki = pki();
    let pki = &pki;
    run_matrix(
        "ALPN",
        vec![
            ("openssl", "client", "server prefers coap".into(), Box::new(|| alpn_openssl_server(pki))),
            ("openssl", "server", "we prefer coap".into(), Box::new(|| alpn_openssl_client(pki))),
            ("gnutls-cli", "server", "we prefer coap".into(), Box::new(|| alpn_gnutls_cli(pki))),
            ("gnutls-serv", "client", "server has coap".into(), Box::new(|| alpn_gnutls_serv(pki))),
        ],
    );
}

// ---- session resumption ------------------------------------------------------------------------

/// Two connections to one s_server (`extra`: e.g. -no_ticket): the second
/// offers the first's session and must be resumed on both sides.
fn resume_openssl_server(pki: &Pki, extra: &[&str]) -> Result<String, String> {
    let port = free_port();
    let mut peer = s_server(pki, port, 2, extra)?;
    let mut cfg = config(pki, SslMode::Client);
    cfg.set_session_resumption(true);
    let (d, s) = connect(&cfg, port, &peer, None)?;
    check(!d.session_resumed(), || "the first handshake was resumed".into())?;
    let data = d.session_data().ok_or("no session data after the first handshake")?;
    close(&d, &s)?;
    let (d2, s2) = connect(&cfg, port, &peer, Some(&data))?;
    check(d2.session_resumed(), || format!("the second handshake was not resumed:\n{}", peer.tail()))?;
    // s_server says so too, for the second connection only.
    peer_value(&peer, "Reused session-id", 0)?;
    let reused = peer.output().matches("Reused session-id").count();
    check(reused == 1, || format!("s_server reports {reused} resumed connections"))?;
    close(&d2, &s2)?;
    openssl_exits(&mut peer)?;
    Ok(format!("resumed, {} bytes of session data", data.len()))
}

/// Two s_client runs against one server configuration of ours: the first
/// writes its session (-sess_out), the second offers it (-sess_in).
fn resume_openssl_client(pki: &Pki, extra: &[&str]) -> Result<String, String> {
    let mut cfg = config(pki, SslMode::Server);
    cfg.set_session_resumption(true);
    let sess = pki.dir.0.join(format!("session-{}.pem", extra.join("")));
    let sess = sess.to_string_lossy().into_owned();
    let mut resumed = Vec::new();
    for (i, flag) in ["-sess_out", "-sess_in"].into_iter().enumerate() {
        let s = udp();
        let mut args = vec![flag, sess.as_str()];
        args.extend(extra);
        let mut peer = s_client(pki, s.local_addr().unwrap(), &args)?;
        let d = accept(&cfg, &s, &peer)?;
        // s_client: "New, TLSv1.2, ..." or "Reused, TLSv1.2, ..."
        peer.wait_for(", Cipher is", STEP)?;
        let theirs = peer.has("Reused, ");
        resumed.push((d.session_resumed(), theirs));
        close(&d, &s)?;
        openssl_exits(&mut peer)?;
        check(i == 1 || std::path::Path::new(&sess).exists(), || "s_client wrote no session".into())?;
    }
    check(resumed == [(false, false), (true, true)], || format!("resumed (ours, s_client) per run: {resumed:?}"))?;
    Ok("resumed on both sides".into())
}

/// gnutls-cli --resume: it connects, then reconnects offering the session.
fn resume_gnutls_cli(pki: &Pki) -> Result<String, String> {
    let mut cfg = config(pki, SslMode::Server);
    cfg.set_session_resumption(true);
    let s = udp();
    let mut peer = gnutls_cli(pki, s.local_addr().unwrap(), &["--resume"])?;
    let first = accept(&cfg, &s, &peer)?;
    check(!first.session_resumed(), || "the first handshake was resumed".into())?;
    // gnutls-cli closes the first connection itself, then reconnects from a new port.
    let second = accept(&cfg, &s, &peer)?;
    peer.wait_for("Resume Handshake was completed", STEP)?;
    check(second.session_resumed(), || format!("our server did not resume:\n{}", peer.tail()))?;
    check(peer.has("This is a resumed session"), || format!("gnutls-cli did not resume:\n{}", peer.tail()))?;
    close(&second, &s)?;
    gnutls_cli_exits(&mut peer)?;
    Ok("resumed on both sides".into())
}

/// Two connections to one gnutls-serv (`extra`: its cookie setting): the
/// second offers the first's session and must be resumed (gnutls-serv prints
/// nothing about it in DTLS).
fn resume_gnutls_serv(pki: &Pki, extra: &[&str]) -> Result<String, String> {
    let port = free_port();
    let peer = gnutls_serv(pki, port, extra)?;
    let mut cfg = config(pki, SslMode::Client);
    cfg.set_session_resumption(true);
    let (d, s) = connect(&cfg, port, &peer, None)?;
    check(!d.session_resumed(), || "the first handshake was resumed".into())?;
    let data = d.session_data().ok_or("no session data after the first handshake")?;
    close(&d, &s)?;
    let (d2, s2) = connect(&cfg, port, &peer, Some(&data))?;
    check(d2.session_resumed(), || format!("the second handshake was not resumed:\n{}", peer.tail()))?;
    close(&d2, &s2)?;
    Ok(format!("resumed, {} bytes of session data", data.len()))
}

#[test]
fn sessions_resume_with_the_peers() {
    let pki = pki();
    let pki = &pki;
    run_matrix(
        "session resumption",
        vec![
            ("openssl", "server", "ticket".into(), Box::new(|| resume_openssl_client(pki, &[]))),
            (
                "openssl",
                "server",
                "session id (-no_ticket)".into(),
                Box::new(|| resume_openssl_client(pki, &["-no_ticket"])),
            ),
            ("gnutls-cli", "server", "--resume".into(), Box::new(|| resume_gnutls_cli(pki))),
            (
                "gnutls-serv",
                "client",
                "ticket, --nocookie".into(),
                Box::new(|| resume_gnutls_serv(pki, &["--nocookie"])),
            ),
        ],
    );
}

/// Our client resuming through a HelloVerifyRequest: `s_server` always does
/// the cookie exchange in DTLS, gnutls-serv unless given --nocookie.
/// With session data set, the client's record filter (engine/record.rs,
/// copy_without_short_records) already knows the session's cipher and
/// version (DTLS 1.2); it used to drop the HelloVerifyRequest, whose record
/// version is DTLS 1.0 (RFC 6347 4.2.1), so the client retransmitted its
/// ClientHello without the cookie until the deadline. Ours against ours
/// with a ClientVerifier in front failed the same way (tests/keying.rs).
#[test]
fn sessions_resume_through_a_cookie_exchange() {
    let pki = pki();
    let pki = &pki;
    run_matrix(
        "session resumption through HelloVerifyRequest",
        vec![
            ("openssl", "client", "ticket".into(), Box::new(|| resume_openssl_server(pki, &[]))),
            (
                "openssl",
                "client",
                "session id (-no_ticket)".into(),
                Box::new(|| resume_openssl_server(pki, &["-no_ticket"])),
            ),
            ("gnutls-serv", "client", "ticket, cookies".into(), Box::new(|| resume_gnutls_serv(pki, &[]))),
        ],
    );
}
