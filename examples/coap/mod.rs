//! A minimal CoAP (RFC 7252) over DTLS, shared by the coap_server and
//! coap_client examples and by tests/coap_interop.rs:
//! - the message codec (header, token, options with extended deltas and
//!   lengths, payload marker);
//! - a server: one UDP socket, peers by address, a ClientVerifier in front,
//!   GET with Uri-Path answered 2.05 Content or 4.04 Not Found, piggybacked
//!   on the ACK of a CON request (same message id) or as a NON response,
//!   always with the request's token;
//! - a client: one GET over a fresh DTLS session, CON requests retransmitted.
//!
//! DTLS settings (PSK or certificates) come from the caller's [`Configuration`]
//! and [`Psk`].
#![allow(dead_code)] // each example uses only its half

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use qdtls::{ClientVerifier, Configuration, Dtls, DtlsError, HandshakeState, SslMode};

// ---- the codec ---------------------------------------------------------------------------

/// Message types (RFC 7252 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Type {
    Con = 0,
    Non = 1,
    Ack = 2,
    Rst = 3,
}

/// Codes as c.dd in one byte: class << 5 | detail.
pub const EMPTY: u8 = 0x00;
pub const GET: u8 = 0x01;
pub const CONTENT: u8 = 0x45; // 2.05
pub const BAD_REQUEST: u8 = 0x80; // 4.00
pub const BAD_OPTION: u8 = 0x82; // 4.02
pub const NOT_FOUND: u8 = 0x84; // 4.04
pub const METHOD_NOT_ALLOWED: u8 = 0x85; // 4.05

/// Option numbers used here (RFC 7252 5.10, RFC 7959).
pub const URI_HOST: u16 = 3;
pub const URI_PORT: u16 = 7;
pub const URI_PATH: u16 = 11;
pub const CONTENT_FORMAT: u16 = 12;
pub const URI_QUERY: u16 = 15;
pub const ACCEPT: u16 = 17;
pub const BLOCK2: u16 = 23;
pub const SIZE2: u16 = 28;

/// "c.dd" for printing a code.
pub fn code_name(code: u8) -> String {
    format!("{}.{:02}", code >> 5, code & 0x1f)
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub ty: Type,
    pub code: u8,
    pub id: u16,
    pub token: Vec<u8>,
    /// (number, value), in ascending number order.
    pub options: Vec<(u16, Vec<u8>)>,
    pub payload: Vec<u8>,
}

impl Message {
    pub fn new(ty: Type, code: u8, id: u16, token: &[u8]) -> Message {
        Message { ty, code, id, token: token.to_vec(), options: Vec::new(), payload: Vec::new() }
    }

    /// A GET for `path` ("a/b" becomes Uri-Path "a", "b"; "" or "/" is the root).
    pub fn get(ty: Type, id: u16, token: &[u8], path: &str) -> Message {
        let mut m = Message::new(ty, GET, id, token);
        for segment in path.split('/').filter(|s| !s.is_empty()) {
            m.options.push((URI_PATH, segment.as_bytes().to_vec()));
        }
        m
    }

    /// The Uri-Path options joined with '/'.
    pub fn path(&self) -> String {
        let segments: Vec<String> = self
            .options
            .iter()
            .filter(|(n, _)| *n == URI_PATH)
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
            .collect();
        segments.join("/")
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![0x40 | (self.ty as u8) << 4 | self.token.len() as u8, self.code];
        out.extend_from_slice(&self.id.to_be_bytes());
        out.extend_from_slice(&self.token);
        let mut options = self.options.clone();
        options.sort_by_key(|(n, _)| *n); // stable: repeated options keep their order
        let mut last = 0;
        for (number, value) in &options {
            let (delta, len) = (nibble(number - last), nibble(value.len() as u16));
            out.push(delta.0 << 4 | len.0);
            out.extend_from_slice(&delta.1);
            out.extend_from_slice(&len.1);
            out.extend_from_slice(value);
            last = *number;
        }
        if !self.payload.is_empty() {
            out.push(0xff);
            out.extend_from_slice(&self.payload);
        }
        out
    }

    pub fn decode(b: &[u8]) -> Result<Message, String> {
        if b.len() < 4 || b[0] >> 6 != 1 {
            return Err("not a CoAP version 1 message".into());
        }
        let ty = [Type::Con, Type::Non, Type::Ack, Type::Rst][usize::from(b[0] >> 4 & 3)];
        let tkl = usize::from(b[0] & 0x0f);
        let token = b.get(4..4 + tkl).filter(|_| tkl <= 8).ok_or("bad token length")?.to_vec();
        let mut m =
            Message { ty, code: b[1], id: u16::from_be_bytes([b[2], b[3]]), token, options: vec![], payload: vec![] };
        let mut i = 4 + tkl;
        let mut number = 0u16;
        while i < b.len() {
            if b[i] == 0xff {
                if i + 1 == b.len() {
                    return Err("payload marker without payload".into());
                }
                m.payload = b[i + 1..].to_vec();
                break;
            }
            let (delta_nibble, len_nibble) = (b[i] >> 4, b[i] & 0x0f);
            i += 1;
            let delta = extended(delta_nibble, b, &mut i)?;
            let len = usize::from(extended(len_nibble, b, &mut i)?);
            number = number.checked_add(delta).ok_or("option number overflow")?;
            let value = b.get(i..i + len).ok_or("truncated option")?;
            m.options.push((number, value.to_vec()));
            i += len;
        }
        Ok(m)
    }
}

/// An option delta or length as its 4-bit nibble and extension bytes.
fn nibble(v: u16) -> (u8, Vec<u8>) {
    match v {
        0..=12 => (v as u8, vec![]),
        13..=268 => (13, vec![(v - 13) as u8]),
        _ => (14, (v - 269).to_be_bytes().to_vec()),
    }
}

fn extended(n: u8, b: &[u8], i: &mut usize) -> Result<u16, String> {
    let v = match n {
        0..=12 => u16::from(n),
        13 => u16::from(*b.get(*i).ok_or("truncated option")?) + 13,
        14 => {
            let x = b.get(*i..*i + 2).ok_or("truncated option")?;
            u16::from_be_bytes([x[0], x[1]]).checked_add(269).ok_or("option too large")?
        }
        _ => return Err("reserved option nibble 15".into()),
    };
    *i += match n {
        13 => 1,
        14 => 2,
        _ => 0,
    };
    Ok(v)
}

// ---- the server -------------------------------------------------------------------------------

/// The cipher suites of a PSK configuration: PSK key exchanges only. A PSK
/// client that also offered certificate suites (with peer verification off,
/// as PSK has no certificate to verify) would accept any server certificate;
/// and GnuTLS servers (libcoap's coap-server-gnutls) pick a certificate suite
/// they have no certificate for and fail with "Insufficient credentials".
pub const PSK_CIPHERS: &str = "kECDHEPSK:kPSK";

/// PSK for both roles: a client sends `identity`, a server takes only it.
#[derive(Clone)]
pub struct Psk {
    pub identity: Vec<u8>,
    pub key: Vec<u8>,
}

/// What the server serves: path (without leading '/') -> text.
pub type Resources = HashMap<String, Vec<u8>>;

/// The answer to one request, or None (nothing to say to a response or ACK).
pub fn respond(req: &Message, resources: &Resources, next_id: &mut u16) -> Option<Message> {
    match (req.ty, req.code) {
        // A CoAP ping (empty CON) gets a reset; empty ACKs and RSTs need nothing.
        (Type::Con, EMPTY) => return Some(Message::new(Type::Rst, EMPTY, req.id, &[])),
        (Type::Ack | Type::Rst, _) => return None,
        _ => {}
    }
    if req.code >> 5 != 0 {
        return None; // a response is not ours to answer
    }
    // CON: piggybacked on the ACK (same id); NON: a NON response with an id of its own.
    let (ty, id) = if req.ty == Type::Con {
        (Type::Ack, req.id)
    } else {
        *next_id = next_id.wrapping_add(1);
        (Type::Non, *next_id)
    };
    let known = [URI_HOST, URI_PORT, URI_PATH, URI_QUERY, ACCEPT, BLOCK2, SIZE2];
    let code = if req.options.iter().any(|(n, _)| n % 2 == 1 && !known.contains(n)) {
        BAD_OPTION // an unrecognised critical option
    } else if req.code != GET {
        METHOD_NOT_ALLOWED
    } else if resources.contains_key(&req.path()) {
        CONTENT
    } else {
        NOT_FOUND
    };
    let mut res = Message::new(ty, code, id, &req.token);
    if code == CONTENT {
        res.options.push((CONTENT_FORMAT, vec![])); // text/plain;charset=utf-8 (0, zero-length)
        res.payload = resources[&req.path()].clone();
    }
    Some(res)
}

/// The server's DTLS sessions, one per peer address, behind a ClientVerifier.
pub struct Server {
    pub socket: UdpSocket,
    pub config: Configuration,
    pub psk: Option<Psk>,
    pub resources: Resources,
    /// Print what happens (the example does, the test does not).
    pub verbose: bool,
    verifier: ClientVerifier,
    peers: HashMap<SocketAddr, Dtls>,
    next_id: u16,
    /// Requests answered, for tests and --exit-after.
    pub answered: usize,
}

impl Server {
    pub fn new(socket: UdpSocket, config: Configuration, psk: Option<Psk>, resources: Resources) -> Server {
        socket.set_read_timeout(Some(Duration::from_millis(20))).expect("socket timeout");
        let next_id = std::process::id() as u16;
        Server {
            socket,
            config,
            psk,
            resources,
            verbose: false,
            verifier: ClientVerifier::new(),
            peers: HashMap::new(),
            next_id,
            answered: 0,
        }
    }

    fn log(&self, what: std::fmt::Arguments) {
        if self.verbose {
            println!("coap server: {what}");
        }
    }

    /// Serves until `done()` says so (checked at least every 20 ms).
    pub fn run(&mut self, mut done: impl FnMut(&Server) -> bool) -> std::io::Result<()> {
        let mut buf = vec![0u8; 65536];
        while !done(self) {
            self.timers();
            match self.socket.recv_from(&mut buf) {
                Ok((n, from)) => self.datagram(&buf[..n], from),
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Retransmits for handshakes whose timer is due; forgets failed sessions.
    fn timers(&mut self) {
        let mut tx = &self.socket;
        for (addr, dtls) in &self.peers {
            if dtls.next_timeout() == Some(Duration::ZERO) {
                if let Err(e) = dtls.handle_timeout(&mut tx) {
                    if self.verbose {
                        println!("coap server: {addr}: {e}");
                    }
                }
            }
        }
        self.peers.retain(|_, d| d.handshake_state() != HandshakeState::NotStarted);
    }

    fn datagram(&mut self, dgram: &[u8], from: SocketAddr) {
        let mut tx = &self.socket;
        let Some(dtls) = self.peers.get(&from) else {
            // Unknown address: the cookie exchange first, no state kept until it passes.
            match self.verifier.verify_client(&mut tx, dgram, from) {
                Ok(true) => self.start(from),
                Ok(false) => {}
                Err(e) => self.log(format_args!("{from}: {e}")),
            }
            return;
        };
        if !dtls.is_connection_encrypted() {
            match dtls.do_handshake(&mut tx, dgram) {
                Err(e) => self.log(format_args!("{from}: handshake failed: {e}")),
                Ok(()) if dtls.is_connection_encrypted() => {
                    self.log(format_args!("{from}: DTLS up, {}", dtls.session_cipher().unwrap_or("?")))
                }
                Ok(()) => {}
            }
            return;
        }
        let plain = match dtls.decrypt_datagram(&mut tx, dgram) {
            Ok(p) => p,
            Err(e) if e.kind() == DtlsError::RemoteClosedConnectionError => {
                self.log(format_args!("{from}: closed"));
                self.peers.remove(&from);
                return;
            }
            Err(e) => return self.log(format_args!("{from}: {e}")),
        };
        if plain.is_empty() {
            return; // a handshake retransmission or an empty record
        }
        let req = match Message::decode(&plain) {
            Ok(m) => m,
            Err(e) => return self.log(format_args!("{from}: not CoAP: {e}")),
        };
        let Some(res) = respond(&req, &self.resources, &mut self.next_id) else { return };
        self.log(format_args!(
            "{from}: {:?} {} /{} (id {}, token {:02x?}) -> {}",
            req.ty,
            code_name(req.code),
            req.path(),
            req.id,
            req.token,
            code_name(res.code)
        ));
        let dtls = &self.peers[&from];
        match dtls.write_datagram_encrypted(&mut tx, &res.encode()) {
            Ok(_) => self.answered += 1,
            Err(e) => self.log(format_args!("{from}: cannot answer: {e}")),
        }
    }

    /// A verified ClientHello from `from`: a new session for it.
    fn start(&mut self, from: SocketAddr) {
        let dtls = Dtls::new(SslMode::Server);
        let started = (|| {
            dtls.set_dtls_configuration(&self.config)?;
            dtls.set_peer(from, "")?;
            if let Some(psk) = self.psk.clone() {
                dtls.set_psk_callback(move |auth| {
                    // Only our client's identity gets the key; others fail the handshake.
                    if auth.identity() == psk.identity.as_slice() {
                        auth.set_pre_shared_key(&psk.key);
                    }
                });
            }
            dtls.do_handshake(&mut &self.socket, &self.verifier.verified_hello())
        })();
        match started {
            Ok(()) => {
                self.peers.insert(from, dtls);
            }
            Err(e) => self.log(format_args!("{from}: handshake failed: {e}")),
        }
    }
}

// ---- the client -------------------------------------------------------------------------------

/// A DTLS session to a CoAP server.
pub struct Client {
    pub dtls: Dtls,
    pub socket: UdpSocket,
}

impl Client {
    /// Handshakes with `server` (`name`: the certificate name to check, if any).
    pub fn connect(
        server: SocketAddr,
        name: &str,
        config: &Configuration,
        psk: Option<Psk>,
        limit: Duration,
    ) -> Result<Client, String> {
        let socket =
            UdpSocket::bind(if server.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }).map_err(|e| e.to_string())?;
        let dtls = Dtls::new(SslMode::Client);
        dtls.set_dtls_configuration(config).map_err(|e| e.to_string())?;
        dtls.set_peer(server, name).map_err(|e| e.to_string())?;
        if let Some(psk) = psk {
            dtls.set_psk_callback(move |auth| {
                auth.set_identity(&psk.identity);
                auth.set_pre_shared_key(&psk.key);
            });
        }
        let mut tx = &socket;
        dtls.do_handshake(&mut tx, &[]).map_err(|e| e.to_string())?;
        let deadline = Instant::now() + limit;
        let mut buf = vec![0u8; 65536];
        while dtls.handshake_state() == HandshakeState::InProgress {
            if Instant::now() > deadline {
                return Err(format!("no DTLS handshake within {limit:?}"));
            }
            // Wait for the server, at most until the retransmission timer is due.
            let wait = dtls
                .next_timeout()
                .unwrap_or(Duration::from_millis(100))
                .clamp(Duration::from_millis(1), Duration::from_millis(100));
            socket.set_read_timeout(Some(wait)).map_err(|e| e.to_string())?;
            match socket.recv(&mut buf) {
                Ok(n) => dtls.do_handshake(&mut tx, &buf[..n]).map_err(|e| e.to_string())?,
                Err(_) if dtls.next_timeout() == Some(Duration::ZERO) => {
                    dtls.handle_timeout(&mut tx).map_err(|e| e.to_string())?;
                }
                Err(_) => {}
            }
        }
        if dtls.handshake_state() == HandshakeState::PeerVerificationFailed {
            return Err(format!("the server failed verification: {:?}", dtls.peer_verification_errors()));
        }
        if !dtls.is_connection_encrypted() {
            return Err("the DTLS handshake failed".into());
        }
        Ok(Client { dtls, socket })
    }

    /// Sends `req` and waits for the response with its token (a CON request
    /// is retransmitted with doubling timeouts, RFC 7252 4.2; an empty ACK
    /// means a separate response follows, which we acknowledge).
    pub fn request(&self, req: &Message, limit: Duration) -> Result<Message, String> {
        let mut tx = &self.socket;
        let bytes = req.encode();
        let deadline = Instant::now() + limit;
        let mut resend = Duration::from_secs(2);
        let mut resend_at = Instant::now() + resend;
        self.dtls.write_datagram_encrypted(&mut tx, &bytes).map_err(|e| e.to_string())?;
        let mut buf = vec![0u8; 65536];
        let mut acked = req.ty != Type::Con;
        loop {
            let now = Instant::now();
            if now > deadline {
                return Err(format!("no response within {limit:?}"));
            }
            if !acked && now >= resend_at {
                self.dtls.write_datagram_encrypted(&mut tx, &bytes).map_err(|e| e.to_string())?;
                resend *= 2;
                resend_at = now + resend;
            }
            self.socket.set_read_timeout(Some(Duration::from_millis(50))).map_err(|e| e.to_string())?;
            let Ok(n) = self.socket.recv(&mut buf) else { continue };
            let plain = self.dtls.decrypt_datagram(&mut tx, &buf[..n]).map_err(|e| e.to_string())?;
            let Ok(m) = Message::decode(&plain) else { continue };
            match m.ty {
                Type::Ack | Type::Rst if m.id == req.id && m.code == EMPTY => {
                    if m.ty == Type::Rst {
                        return Err("the server reset the request".into());
                    }
                    acked = true; // separate response to come
                }
                Type::Ack if m.id == req.id && m.token == req.token => return Ok(m),
                Type::Con | Type::Non if m.token == req.token && m.code >> 5 != 0 => {
                    if m.ty == Type::Con {
                        let ack = Message::new(Type::Ack, EMPTY, m.id, &[]);
                        self.dtls.write_datagram_encrypted(&mut tx, &ack.encode()).map_err(|e| e.to_string())?;
                    }
                    return Ok(m);
                }
                _ => {}
            }
        }
    }

    /// close_notify to the server.
    pub fn close(&self) -> Result<(), String> {
        self.dtls.shutdown(&mut &self.socket).map_err(|e| e.to_string())
    }
}

/// A random message id and token, as RFC 7252 5.3.1 asks of tokens.
pub fn fresh_id_and_token() -> (u16, Vec<u8>) {
    let mut b = [0u8; 10];
    openssl::rand::rand_bytes(&mut b).expect("random bytes");
    (u16::from_be_bytes([b[0], b[1]]), b[2..].to_vec())
}
