//! The bodies of the fuzz targets, shared by the cargo-fuzz targets
//! (fuzz_targets/*.rs) and the stable replay runner (src/bin/replay.rs).
//! Everything goes through the crate's Rust API (`qdtls::Dtls`,
//! `qdtls::ClientVerifier`) with an in-memory [`Outbox`] as the transport:
//! no sockets and no system calls per input; what a session or the verifier
//! sends is collected and checked. Each body checks the documented outcome
//! of its entry point and panics (a libFuzzer crash) on anything else.
//!
//! Input formats (the seed corpus in corpus/ is written by
//! `cargo test --test flood_corpus write_fuzz_corpus -- --ignored` from real traffic):
//! - `decrypt`: byte 0 even: the rest is one datagram for an established
//!   server session. Byte 0 odd: byte 1 picks one of the session's own
//!   encrypted records (written by its client, never delivered), the rest is
//!   (offset, xor) pairs applied to it, so the fuzzer reaches the record
//!   layer and the MAC check with real keys. Byte 0 bit 1: the server's
//!   transport refuses to send during this input (a full socket buffer).
//! - `server_first`: byte 0 flags (bit 0 cookie verification, bit 1 a
//!   certificate configuration instead of PSK, bit 2 a transport that
//!   refuses to send), bytes 1-2 the client's port (big-endian), the rest
//!   the first datagram of a new server session whose peer is
//!   127.0.0.1:port. Cookies use [`COOKIE_SECRET`], so the corpus carries
//!   ClientHellos with valid cookies.
//! - `verify_client`: bytes 0-1 the client's port, the rest a datagram for
//!   a verifier with [`COOKIE_SECRET`], client address 127.0.0.1:port.
//!
//! Ports outside 32768..61000 are mapped into it, as when the targets sent
//! on real sockets, so an input means what it meant then (cookies are bound
//! to the port).

use std::cell::RefCell;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use qdtls::{
    ClientVerifier, Configuration, CookieHash, Dtls, DtlsError, GeneratorParameters, HandshakeState, PeerVerifyMode,
    PskAuthenticator, SslMode, Transport,
};

/// The cookie secret of the corpus (tests/flood_corpus.rs has the same bytes).
pub const COOKIE_SECRET: &[u8] = b"qdtls fuzz cookie secret, fixed.";
const KEY: &[u8] = b"qdtls fuzz pre-shared key 012345";

/// The transport of every target: keeps what is sent, in order, and checks
/// that it goes to the one address allowed. `fail` makes every send fail
/// as a full socket buffer would.
pub struct Outbox {
    /// The datagrams sent and not taken yet.
    pub sent: Vec<Vec<u8>>,
    /// The only address anything may be sent to.
    pub peer: SocketAddr,
    /// Refuse every send with `WouldBlock`.
    pub fail: bool,
}

impl Outbox {
    /// An empty outbox for datagrams to `peer`.
    pub fn to(peer: SocketAddr) -> Outbox {
        Outbox { sent: Vec::new(), peer, fail: false }
    }
}

impl Transport for Outbox {
    fn send(&mut self, dgram: &[u8], peer: SocketAddr) -> io::Result<()> {
        assert_eq!(peer, self.peer, "a datagram sent to an address that is not the peer");
        assert!(!dgram.is_empty(), "an empty datagram sent");
        if self.fail {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        self.sent.push(dgram.to_vec());
        Ok(())
    }

    /// Unknown, as for the unconnected sockets the targets used to send on:
    /// the engine uses its fallback.
    fn path_mtu(&mut self) -> Option<u32> {
        None
    }
}

fn port_of(hi: u8, lo: u8) -> u16 {
    let p = u16::from_be_bytes([hi, lo]);
    if (32768..61000).contains(&p) {
        p
    } else {
        32768 + p % 28232
    }
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)
}

fn psk_callback(a: &mut PskAuthenticator) {
    if a.maximum_identity_length() > 0 {
        a.set_identity(b"fuzz");
    }
    a.set_pre_shared_key(KEY);
}

fn cookie_params() -> GeneratorParameters {
    GeneratorParameters::new(CookieHash::Sha256, COOKIE_SECRET)
}

fn new_dtls(mode: SslMode, cfg: &Configuration, peer: SocketAddr) -> Dtls {
    let d = Dtls::new(mode);
    d.set_dtls_configuration(cfg).unwrap();
    d.set_psk_callback(psk_callback);
    d.set_peer(peer, "").unwrap();
    d
}

/// A self-signed ECDSA certificate and key, made at start (nothing on disk can expire).
fn self_signed() -> (Vec<u8>, Vec<u8>) {
    use openssl::{asn1::Asn1Time, ec, hash::MessageDigest, nid::Nid, pkey::PKey, x509};
    let key =
        PKey::from_ec_key(ec::EcKey::generate(&ec::EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap()).unwrap())
            .unwrap();
    let mut name = x509::X509NameBuilder::new().unwrap();
    name.append_entry_by_nid(Nid::COMMONNAME, "fuzz.test").unwrap();
    let name = name.build();
    let mut b = x509::X509Builder::new().unwrap();
    b.set_version(2).unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(&key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap()).unwrap();
    b.set_not_after(&Asn1Time::days_from_now(30).unwrap()).unwrap();
    b.sign(&key, MessageDigest::sha256()).unwrap();
    (b.build().to_pem().unwrap(), key.private_key_to_pem_pkcs8().unwrap())
}

/// Server configurations by flags: bit 0 cookies, bit 1 certificate.
fn configs() -> [Configuration; 4] {
    let (cert, key) = self_signed();
    std::array::from_fn(|flags| {
        let mut c = Configuration::new();
        c.set_dtls_cookie_verification_enabled(flags & 1 != 0);
        c.set_peer_verify_mode(PeerVerifyMode::VerifyNone);
        // A CA of our own, so the system trust store is never loaded.
        c.add_ca_certificates_pem(&cert).unwrap();
        if flags & 2 != 0 {
            c.set_local_certificate_chain_pem(&cert).unwrap();
            c.set_private_key_pem(&key, None).unwrap();
        }
        c
    })
}

/// The record type and, for a handshake record, the message type of the
/// first record of a datagram.
fn first_record(dgram: &[u8]) -> (u8, Option<u8>) {
    (dgram[0], dgram.get(13).copied().filter(|_| dgram[0] == 22))
}

// ---- server_first --------------------------------------------------------------------------

thread_local! {
    static CONFIGS: [Configuration; 4] = configs();
}

/// Server do_handshake with its first datagram: Ok means InProgress with
/// its flight sent (to the peer) and a timer running; Err means
/// TlsFatalError (NotStarted), InvalidInputParameters for an empty
/// datagram, or, with a transport that refuses to send, UnderlyingSocketError
/// in InProgress with a timer running (the flight is retransmitted later).
/// Returns what happened.
pub fn server_first(data: &[u8]) -> &'static str {
    let [flags, hi, lo, dgram @ ..] = data else { return "too short" };
    let peer = loopback(port_of(*hi, *lo));
    let d = CONFIGS.with(|c| new_dtls(SslMode::Server, &c[usize::from(flags & 3)], peer));
    d.set_cookie_generator_parameters(&cookie_params()).unwrap();
    let mut out = Outbox::to(peer);
    out.fail = flags & 4 != 0;
    let r = d.do_handshake(&mut out, dgram);
    let st = d.handshake_state();
    // A session InProgress with no timer would never end by itself (found
    // by the flood tests, fixed in 59cb21d and 197688a).
    if st == HandshakeState::InProgress {
        assert!(d.next_timeout().is_some(), "server InProgress with no timer ({r:?})");
    }
    match r {
        Ok(()) => {
            assert_eq!(st, HandshakeState::InProgress);
            assert!(!out.fail, "Ok although nothing could be sent");
            assert!(!out.sent.is_empty(), "Ok and InProgress, but no flight went out");
            "accepted: flight sent"
        }
        Err(e) => match e.kind() {
            DtlsError::InvalidInputParameters if dgram.is_empty() => "empty",
            DtlsError::UnderlyingSocketError if out.fail => {
                assert_eq!(st, HandshakeState::InProgress, "the flight could not be sent: {e}");
                "send failed: will retransmit"
            }
            DtlsError::TlsFatalError => {
                assert_eq!(st, HandshakeState::NotStarted, "{e}");
                "refused: TlsFatalError"
            }
            _ => panic!("unexpected error {e} in {st:?} for a {}-byte datagram", dgram.len()),
        },
    }
}

// ---- verify_client ---------------------------------------------------------------------------

thread_local! {
    static VERIFIER: ClientVerifier = {
        let v = ClientVerifier::new();
        v.set_cookie_generator_parameters(&cookie_params()).unwrap();
        v
    };
}

/// verify_client: Ok(true) only for a handshake record (then
/// verified_hello is the datagram, and nothing was sent); Ok(false) sent
/// nothing or one HelloVerifyRequest to the client; an empty datagram is
/// InvalidInputParameters.
pub fn verify_client(data: &[u8]) -> &'static str {
    let [hi, lo, dgram @ ..] = data else { return "too short" };
    let peer = loopback(port_of(*hi, *lo));
    let mut out = Outbox::to(peer);
    VERIFIER.with(|v| match v.verify_client(&mut out, dgram, peer) {
        Ok(true) => {
            assert_eq!(dgram.first(), Some(&22), "only a handshake record verifies");
            assert_eq!(v.verified_hello(), dgram);
            assert!(out.sent.is_empty(), "verified, and sent something");
            "verified"
        }
        Ok(false) => {
            assert!(v.verified_hello().is_empty(), "a verified hello left after a failed verification");
            match out.sent.as_slice() {
                [] => "not verified: nothing sent",
                [hvr] => {
                    assert_eq!(first_record(hvr), (22, Some(3)), "the answer is not a HelloVerifyRequest");
                    "not verified: HelloVerifyRequest sent"
                }
                more => panic!("{} datagrams sent for one datagram", more.len()),
            }
        }
        Err(e) => {
            assert!(dgram.is_empty() && e.kind() == DtlsError::InvalidInputParameters, "{e}");
            "empty"
        }
    })
}

// ---- decrypt --------------------------------------------------------------------------------

const CLIENT_ADDR: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 40001);
const SERVER_ADDR: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)), 40002);

struct Established {
    client: Dtls,
    server: Dtls,
    /// What the client sends (to the server), and what the server sends.
    client_out: Outbox,
    server_out: Outbox,
    /// The client's encrypted records (never delivered) and their plaintexts.
    own: Vec<(Vec<u8>, Vec<u8>)>,
    /// Inputs so far, for the fresh record after each.
    inputs: u64,
}

fn establish() -> Established {
    let mut cfg = Configuration::new();
    cfg.set_dtls_cookie_verification_enabled(false);
    cfg.set_peer_verify_mode(PeerVerifyMode::VerifyNone);
    let client = new_dtls(SslMode::Client, &cfg, SERVER_ADDR);
    let server = new_dtls(SslMode::Server, &cfg, CLIENT_ADDR);
    let (mut client_out, mut server_out) = (Outbox::to(SERVER_ADDR), Outbox::to(CLIENT_ADDR));
    client.do_handshake(&mut client_out, &[]).unwrap();
    for _ in 0..10 {
        for d in std::mem::take(&mut client_out.sent) {
            server.do_handshake(&mut server_out, &d).unwrap();
        }
        for d in std::mem::take(&mut server_out.sent) {
            client.do_handshake(&mut client_out, &d).unwrap();
        }
        if client.is_connection_encrypted() && server.is_connection_encrypted() {
            break;
        }
    }
    assert!(client.is_connection_encrypted() && server.is_connection_encrypted());
    client_out.sent.clear();
    server_out.sent.clear();
    let mut own = Vec::new();
    for (i, len) in [1usize, 16, 100, 500, 1200].into_iter().enumerate() {
        let plain: Vec<u8> = (0..len).map(|j| (i * 31 + j) as u8).collect();
        assert_eq!(client.write_datagram_encrypted(&mut client_out, &plain).unwrap(), len);
        assert_eq!(client_out.sent.len(), 1);
        own.push((client_out.sent.remove(0), plain));
    }
    Established { client, server, client_out, server_out, own, inputs: 0 }
}

thread_local! {
    static ESTABLISHED: RefCell<Established> = RefCell::new(establish());
}

/// decrypt_datagram on an established server session: Ok (0 or more bytes)
/// or TlsNonFatalError (UnderlyingSocketError too when its transport refuses
/// to send); plaintext only for one of the session's own records, unmodified
/// and intact; the session always survives: after every input it is still
/// Complete and still decrypts a fresh record of its peer.
pub fn decrypt(data: &[u8]) -> &'static str {
    ESTABLISHED.with(|e| decrypt_into(&mut e.borrow_mut(), data))
}

fn decrypt_into(e: &mut Established, data: &[u8]) -> &'static str {
    let Some((&mode, rest)) = data.split_first() else { return "too short" };
    let dgram = if mode & 1 == 0 {
        rest.to_vec()
    } else {
        let Some((&k, edits)) = rest.split_first() else { return "too short" };
        let mut d = e.own[usize::from(k) % e.own.len()].0.clone();
        for pair in edits.chunks_exact(2) {
            let i = usize::from(pair[0]) * 7 % d.len();
            d[i] ^= pair[1];
        }
        d
    };
    e.server_out.fail = mode & 2 != 0;
    let r = e.server.decrypt_datagram(&mut e.server_out, &dgram);
    e.server_out.fail = false;
    let outcome = match r {
        Ok(plain) if plain.is_empty() => "0 bytes (dropped, replayed or not data)",
        Ok(plain) => {
            let own = e.own.iter().find(|(d, _)| *d == dgram);
            assert_eq!(own.map(|(_, p)| p), Some(&plain), "plaintext from a datagram that is not ours");
            "plaintext (one of our records, first delivery)"
        }
        Err(err) => match err.kind() {
            DtlsError::TlsNonFatalError => "TlsNonFatalError",
            DtlsError::UnderlyingSocketError if mode & 2 != 0 => "UnderlyingSocketError (transport refused)",
            _ => panic!("decrypt failed with {err} on a {}-byte datagram", dgram.len()),
        },
    };
    assert_eq!(e.server.handshake_state(), HandshakeState::Complete, "the session died");
    assert!(e.server.is_connection_encrypted());
    // Whatever the server answered (retransmissions) would go to the client.
    e.server_out.sent.clear();
    // Still alive: a fresh record of the peer decrypts.
    e.inputs += 1;
    let msg = format!("alive {}", e.inputs);
    assert_eq!(e.client.write_datagram_encrypted(&mut e.client_out, msg.as_bytes()).unwrap(), msg.len());
    let fresh = e.client_out.sent.pop().expect("the client sent its record");
    let r = e.server.decrypt_datagram(&mut e.server_out, &fresh);
    assert!(
        r.as_deref() == Ok(msg.as_bytes()),
        "the session no longer decrypts its peer's records ({r:?}) after a {}-byte datagram",
        dgram.len()
    );
    e.server_out.sent.clear();
    outcome
}

// ---- server ----------------------------------------------------------------------------------

/// The server's transport: what it sends, to whom; every destination must
/// be one of the sources the input came from.
struct Wire {
    sent: Vec<(Vec<u8>, SocketAddr)>,
    allowed: [SocketAddr; 2],
}

impl Transport for Wire {
    fn send(&mut self, dgram: &[u8], peer: SocketAddr) -> io::Result<()> {
        assert!(self.allowed.contains(&peer), "the server sent to {peer}, which sent it nothing");
        assert!(!dgram.is_empty(), "an empty datagram sent");
        self.sent.push((dgram.to_vec(), peer));
        Ok(())
    }
    fn path_mtu(&mut self) -> Option<u32> {
        None
    }
}

#[derive(Default)]
struct Counted {
    connected: usize,
    closed: usize,
}

impl qdtls::ServerEvents for Counted {
    fn connected(&mut self, _: &Dtls, _: &mut dyn Transport) {
        self.connected += 1;
    }
    fn closed(&mut self, _: &Dtls, _: qdtls::CloseReason) {
        self.closed += 1;
    }
}

/// server: the `server_first` input format (flags: bit 0 cookies, bit 1 a
/// certificate configuration; port; datagram). The datagram arrives at a
/// server (at most one handshake at a time) from 127.0.0.1:port, again from
/// there (a retransmission, or a client starting over), then from port + 1;
/// then the timers run. Nothing but handshake records (HelloVerifyRequests,
/// flights) and alerts may go out, only to those two sources; the limits hold; no
/// handshake completes from one flight.
pub fn server(data: &[u8]) -> &'static str {
    let [flags, hi, lo, dgram @ ..] = data else { return "too short" };
    let a = loopback(port_of(*hi, *lo));
    let b = SocketAddr::new(a.ip(), a.port().wrapping_add(1).max(1));
    let mut cfg = CONFIGS.with(|c| c[usize::from(flags & 3)].clone());
    cfg.set_dtls_cookie_verification_enabled(flags & 1 != 0);
    let mut server = qdtls::Server::new(&cfg).unwrap();
    server.set_cookie_generator_parameters(&cookie_params()).unwrap();
    server.set_psk_callback(|_, a| psk_callback(a));
    server.set_max_handshakes(1);
    let mut wire = Wire { sent: Vec::new(), allowed: [a, b] };
    let mut ev = Counted::default();
    for from in [a, a, b] {
        server.handle_datagram(&mut wire, from, dgram, &mut ev).unwrap();
        assert!(server.handshake_count() <= 1 && server.peer_count() <= 2, "a limit was exceeded");
    }
    server.handle_timeouts(&mut wire, &mut ev).unwrap();
    assert_eq!(ev.connected, 0, "a handshake completed from one datagram");
    for (d, _) in &wire.sent {
        assert!(d[0] == 22 || d[0] == 21, "the server sent a record that is neither handshake nor alert");
    }
    match (server.peer_count() + ev.closed, wire.sent.is_empty()) {
        (0, true) => "dropped",
        (0, false) => "stateless answer",
        _ => "peer created",
    }
}
