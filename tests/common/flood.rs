//! Shared by the flood_*.rs tests: helpers, identities, captured real
//! traffic, the garbage generator and a hand-stepped client/server pair.
//!
//! The flood tests, as a whole (they were one file, tests/flood.rs):
//!
//! Hostile input and load: every entry point fed garbage derived from real
//! captured traffic, a verifier flooded with cookie-less ClientHellos while
//! real clients get through, a garbage flood at an established session, and
//! threads hammering shared configurations and one handle. Real UDP sockets
//! on loopback, fixed seeds, no speed assertions (time limits only catch hangs).
//!
//! Sizes (defaults keep a debug run of this file well under a minute):
//! - `QDTLS_GARBAGE_CASES` (default 50000): garbage cases over all entry points;
//!   set it to millions for a long run, e.g. `QDTLS_GARBAGE_CASES=1000000
//!   cargo test --release --test flood garbage -- --nocapture`;
//! - `QDTLS_FLOOD_HELLOS` (default 100000): cookie-less ClientHellos at the verifier;
//! - `QDTLS_FLOOD_GARBAGE` (default 20000): garbage datagrams at an established session.
//!
//! Results are printed as histograms (`-- --nocapture`). What the runs show
//! (and the assertions enforce):
//! - verify_client: false + NoError for everything but a ClientHello with a
//!   valid cookie for the address (true, verified_hello == datagram; a garbled
//!   ClientHello whose cookie survived still verifies: the cookie binds the
//!   address, not the rest); InvalidInputParameters only for an empty datagram.
//! - server do_handshake, first datagram: false + TlsFatalError (state stays
//!   NotStarted) for anything but a ClientHello OpenSSL takes (with a valid
//!   cookie when cookies are on); an empty datagram is InvalidInputParameters.
//!   A server that returns true always sent its flight and runs a timer
//!   (before 59cb21d and 197688a some first datagrams left it InProgress with
//!   no timer, forever: regression tests below).
//! - do_handshake in a handshake in progress: true + NoError for what OpenSSL
//!   drops; false + TlsFatalError (state back to NotStarted) when a forged
//!   plaintext (epoch 0) alert or malformed handshake message ends it: the
//!   handshake is not authenticated before Finished (RFC 6347), so that is
//!   expected; never Complete. A handshake that survived garbage still
//!   completes with the real peer (or, if a forged message derailed it, fails
//!   with a documented error), and a fresh one always does.
//! - decrypt_datagram on an established session: 0 bytes + NoError or
//!   -1 + TlsNonFatalError; the session survives and keeps working. (The
//!   fuzz target found a crafted datagram that killed it, fixed in 59cb21d;
//!   two regression tests below.)
//! - PeerVerificationFailed: do_handshake and decrypt are InvalidOperation.
//! - Replays of another exchange's datagrams: ignored by established
//!   sessions; some (a foreign ServerHello flight, a reflected ClientHello, a
//!   forged HelloVerifyRequest) end or derail a handshake in progress, as
//!   unauthenticated epoch-0 messages can in DTLS 1.2 (see the replay table).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::{mpsc, RwLock};
use std::time::{Duration, Instant};

use super::certs::{Ca, KeyKind, LeafSpec, Pem};
use super::harness::*;
use super::rng::Rng;
use qdtls::ffi::dtls::*;
use qdtls::ffi::verifier::*;
use qdtls::ffi::*;

pub const KEY: &[u8] = b"flood and garbage pre-shared key";

/// The memory measurement needs the process to itself; the other tests share.
pub static EXCLUSIVE: RwLock<()> = RwLock::new(());

pub fn shared() -> std::sync::RwLockReadGuard<'static, ()> {
    EXCLUSIVE.read().unwrap_or_else(|e| e.into_inner())
}

pub fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

// ---- helpers ----------------------------------------------------------------------

/// One datagram already queued on `s`, without waiting (loopback delivers
/// during the sender's sendto, so what a call sent is there when it returns).
pub fn pending(s: &UdpSocket) -> Option<(Vec<u8>, SocketAddr)> {
    let mut buf = vec![0u8; 65536];
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    let n = unsafe {
        libc::recvfrom(
            s.as_raw_fd(),
            buf.as_mut_ptr().cast(),
            buf.len(),
            libc::MSG_DONTWAIT,
            (&mut ss as *mut libc::sockaddr_storage).cast(),
            &mut len,
        )
    };
    if n < 0 {
        return None;
    }
    buf.truncate(n as usize);
    let sin = unsafe { &*(&ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
    let ip = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
    Some((buf, SocketAddr::new(IpAddr::V4(ip), u16::from_be(sin.sin_port))))
}

pub fn drain(s: &UdpSocket) -> Vec<Vec<u8>> {
    std::iter::from_fn(|| pending(s).map(|(d, _)| d)).collect()
}

pub fn vm_rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// A raw pointer that may cross threads (the C ABI promises handles,
/// verifiers and a shared configuration are usable from any thread).
pub struct SendPtr<T>(pub *mut T);
impl<T> Clone for SendPtr<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for SendPtr<T> {}
unsafe impl<T> Send for SendPtr<T> {}
unsafe impl<T> Sync for SendPtr<T> {}

/// Runs `f` on its own thread; fails if it does not finish within `limit`
/// (a hang or deadlock becomes a failure instead of a stuck test run).
pub fn with_watchdog<R: Send + 'static>(limit: Duration, f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = mpsc::channel();
    let t = std::thread::spawn(move || {
        let r = f();
        let _ = tx.send(());
        r
    });
    match rx.recv_timeout(limit) {
        Ok(()) => t.join().unwrap(),
        Err(mpsc::RecvTimeoutError::Disconnected) => match t.join() {
            Ok(r) => r,
            Err(p) => std::panic::resume_unwind(p),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("did not finish within {limit:?}: hang or deadlock"),
    }
}

/// Counts outcomes per label and prints them sorted.
#[derive(Default)]
pub struct Histogram(pub BTreeMap<String, usize>);

impl Histogram {
    pub fn add(&mut self, label: impl Into<String>) {
        *self.0.entry(label.into()).or_default() += 1;
    }
    pub fn count(&self, prefix: &str) -> usize {
        self.0.iter().filter(|(k, _)| k.starts_with(prefix)).map(|(_, v)| v).sum()
    }
    pub fn print(&self, title: &str) {
        println!("{title}:");
        for (k, v) in &self.0 {
            println!("  {v:>8}  {k}");
        }
    }
}

pub fn err_name(code: i32) -> &'static str {
    match code {
        QDTLS_ERROR_NO_ERROR => "NoError",
        QDTLS_ERROR_INVALID_INPUT_PARAMETERS => "InvalidInputParameters",
        QDTLS_ERROR_INVALID_OPERATION => "InvalidOperation",
        QDTLS_ERROR_UNDERLYING_SOCKET_ERROR => "UnderlyingSocketError",
        QDTLS_ERROR_REMOTE_CLOSED_CONNECTION_ERROR => "RemoteClosedConnectionError",
        QDTLS_ERROR_PEER_VERIFICATION_ERROR => "PeerVerificationError",
        QDTLS_ERROR_TLS_INITIALIZATION_ERROR => "TlsInitializationError",
        QDTLS_ERROR_TLS_FATAL_ERROR => "TlsFatalError",
        QDTLS_ERROR_TLS_NON_FATAL_ERROR => "TlsNonFatalError",
        _ => "unknown",
    }
}

pub fn state_name(s: i32) -> &'static str {
    match s {
        QDTLS_HANDSHAKE_NOT_STARTED => "NotStarted",
        QDTLS_HANDSHAKE_IN_PROGRESS => "InProgress",
        QDTLS_PEER_VERIFICATION_FAILED => "PeerVerificationFailed",
        QDTLS_HANDSHAKE_COMPLETE => "Complete",
        _ => "?",
    }
}

// ---- identities -------------------------------------------------------------------------

pub struct Identities {
    pub ca: String,
    pub server: Pem,
    /// Signed by another CA: a client trusting `ca` fails to verify it.
    pub untrusted: Pem,
}

pub fn identities() -> &'static Identities {
    pub static IDS: std::sync::OnceLock<Identities> = std::sync::OnceLock::new();
    IDS.get_or_init(|| {
        let ca = Ca::new("flood root", KeyKind::EcP256);
        let other = Ca::new("someone else", KeyKind::EcP256);
        let spec = LeafSpec { dns: &["flood.test"], ..LeafSpec::server("flood.test") };
        Identities { ca: ca.pem.cert.clone(), server: ca.issue(&spec), untrusted: other.issue(&spec) }
    })
}

pub fn psk_cfg() -> Cfg {
    Cfg::psk()
}

/// Configurations shared by every Pair (read-only sharing is allowed across
/// threads). Sharing matters for speed: each configuration builds its OpenSSL
/// context on first use, and one without CA certificates loads the system
/// trust store then (tens of ms), even for PSK.
pub struct SharedCfgs {
    pub psk: Cfg,
    pub cert_client: Cfg,
    pub cert_server: Cfg,
}
unsafe impl Send for SharedCfgs {}
unsafe impl Sync for SharedCfgs {}

pub fn shared_cfgs() -> &'static SharedCfgs {
    pub static C: std::sync::OnceLock<SharedCfgs> = std::sync::OnceLock::new();
    C.get_or_init(|| SharedCfgs { psk: psk_cfg(), cert_client: cert_client_cfg(), cert_server: cert_server_cfg(false) })
}

pub fn cert_server_cfg(cookies: bool) -> Cfg {
    let ids = identities();
    let c = Cfg::new();
    c.cookies(cookies).verify_mode(QDTLS_VERIFY_NONE).identity(&ids.server.cert, &ids.server.key);
    c
}

pub fn cert_client_cfg() -> Cfg {
    let c = Cfg::new();
    c.ca(&identities().ca);
    c
}

// ---- real traffic, captured ----------------------------------------------------------------

/// One captured datagram: what it is and which way it went.
#[derive(Clone, Debug)]
pub struct Captured {
    pub name: String,
    pub to_server: bool,
    pub data: Vec<u8>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavour {
    Psk,
    Cert,
}

/// Everything a client and a server (behind a verifier) said to each other
/// in one full exchange: cookie exchange, handshake, data both ways, close.
/// `cookie` sets the generator parameters of the verifier and the server.
pub struct Capture {
    pub dgrams: Vec<Captured>,
    pub client_addr: SocketAddr,
}

pub fn capture(flavour: Flavour, cookie: Option<(i32, &[u8])>) -> Capture {
    let (ccfg, scfg) = match flavour {
        Flavour::Psk => {
            let s = Cfg::psk();
            s.cookies(true);
            (Cfg::psk(), s)
        }
        Flavour::Cert => (cert_client_cfg(), cert_server_cfg(true)),
    };
    let (cp, sp) = (Psk::new(b"captured", KEY), Psk::new(b"", KEY));
    let client = Dtls::client().with_config(&ccfg).with_psk(&cp);
    let server = Dtls::server().with_config(&scfg).with_psk(&sp);
    let v = Verifier::new();
    if let Some((hash, secret)) = cookie {
        assert!(unsafe { qdtls_set_cookie_generator_parameters(server.0, hash, secret.as_ptr(), secret.len()) });
        assert!(unsafe {
            qdtls_client_verifier_set_cookie_generator_parameters(v.0, hash, secret.as_ptr(), secret.len())
        });
    }
    let (csock, ssock) = (nb_udp(), nb_udp());
    let caddr = csock.local_addr().unwrap();
    assert!(client.set_peer(ssock.local_addr().unwrap(), "flood.test"));
    assert!(server.set_peer(caddr, ""));
    let mut out = Vec::new();
    let mut log = |name: &str, to_server: bool, ds: Vec<Vec<u8>>| -> Vec<Vec<u8>> {
        assert!(!ds.is_empty(), "{name}: nothing was sent");
        for (i, d) in ds.iter().enumerate() {
            out.push(Captured { name: format!("{name}-{i}"), to_server, data: d.clone() });
        }
        ds
    };
    assert!(client.handshake(&csock, &[]));
    let hello = log("client-hello", true, drain(&ssock)).remove(0);
    assert!(!v.verify(&ssock, &hello, caddr));
    let hvr = log("hello-verify-request", false, drain(&csock)).remove(0);
    assert!(client.handshake(&csock, &hvr));
    let hello2 = log("client-hello-cookie", true, drain(&ssock)).remove(0);
    assert!(v.verify(&ssock, &hello2, caddr));
    assert!(server.handshake(&ssock, &v.verified_hello()), "{}", server.error_string());
    for d in log("server-flight", false, drain(&csock)) {
        assert!(client.handshake(&csock, &d), "{}", client.error_string());
    }
    for d in log("client-flight", true, drain(&ssock)) {
        assert!(server.handshake(&ssock, &d), "{}", server.error_string());
    }
    for d in log("server-final", false, drain(&csock)) {
        assert!(client.handshake(&csock, &d), "{}", client.error_string());
    }
    assert!(client.encrypted() && server.encrypted());
    for len in [1usize, 64, 500] {
        assert_eq!(client.write(&csock, &vec![b'c'; len]), len as i64);
        for d in log(&format!("client-data{len}"), true, drain(&ssock)) {
            assert_eq!(server.decrypt(&ssock, &d).unwrap().len(), len);
        }
        assert_eq!(server.write(&ssock, &vec![b's'; len]), len as i64);
        for d in log(&format!("server-data{len}"), false, drain(&csock)) {
            assert_eq!(client.decrypt(&csock, &d).unwrap().len(), len);
        }
    }
    assert!(client.shutdown(&csock));
    log("client-close-notify", true, drain(&ssock));
    Capture { dgrams: out, client_addr: caddr }
}

/// The base corpus of the garbage cases: a PSK and a certificate exchange.
pub fn corpus() -> &'static (Capture, Capture) {
    pub static C: std::sync::OnceLock<(Capture, Capture)> = std::sync::OnceLock::new();
    C.get_or_init(|| (capture(Flavour::Psk, None), capture(Flavour::Cert, None)))
}

pub fn corpus_datagrams() -> Vec<Vec<u8>> {
    let (a, b) = corpus();
    a.dgrams.iter().chain(&b.dgrams).map(|c| c.data.clone()).collect()
}

// ---- garbage --------------------------------------------------------------------------------

pub const KINDS: [&str; 10] = [
    "random",
    "truncated",
    "bit-flip",
    "bytes-changed",
    "replay",
    "record-header",
    "length-lie",
    "spliced",
    "handshake-header",
    "trailing",
];

/// Makes one garbage datagram of kind `k` from the real datagrams in `base`.
pub fn garbage(rng: &mut Rng, base: &[Vec<u8>], k: usize) -> Vec<u8> {
    let b = rng.pick(base).clone();
    match KINDS[k] {
        "random" => {
            let n = rng.below(1500);
            rng.bytes(n)
        }
        "truncated" => b[..rng.below(b.len())].to_vec(),
        "bit-flip" => {
            let mut g = b;
            let bit = rng.below(g.len() * 8);
            g[bit / 8] ^= 1 << (bit % 8);
            g
        }
        "bytes-changed" => {
            let mut g = b;
            for _ in 0..1 + rng.below(8) {
                let i = rng.below(g.len());
                g[i] ^= 1 + rng.below(255) as u8;
            }
            g
        }
        "replay" => b,
        "record-header" => {
            // A plausible DTLS record with a consistent length and a random body.
            let n = rng.below(300);
            let mut g = vec![[20u8, 21, 22, 23][rng.below(4)], 0xfe, [0xfd, 0xff][rng.below(2)]];
            g.extend_from_slice(&(rng.below(3) as u16).to_be_bytes());
            g.extend_from_slice(&rng.bytes(6));
            g.extend_from_slice(&(n as u16).to_be_bytes());
            g.extend_from_slice(&rng.bytes(n));
            g
        }
        "length-lie" => {
            let mut g = b;
            if g.len() >= 13 {
                let lie = rng.next() as u16;
                g[11..13].copy_from_slice(&lie.to_be_bytes());
            }
            g
        }
        "spliced" => {
            // Records of two or three datagrams in one, maybe cut.
            let mut g = b;
            for _ in 0..1 + rng.below(2) {
                let extra = rng.pick(base).clone();
                g.extend_from_slice(&extra);
            }
            if rng.below(2) == 0 {
                g.truncate(rng.below(g.len()) + 1);
            }
            g
        }
        "handshake-header" => {
            // Lies in a handshake message header: type, length, sequence,
            // fragment offset and length (epoch 0 records only have them in clear).
            let mut g = b;
            if g.len() >= 25 {
                let field = [13usize, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24][rng.below(12)];
                g[field] = if rng.below(2) == 0 { rng.next() as u8 } else { g[field] ^ 0x80 };
            }
            g
        }
        "trailing" => {
            let mut g = b;
            let n = 1 + rng.below(40);
            g.extend_from_slice(&rng.bytes(n));
            g
        }
        _ => unreachable!(),
    }
}

/// The share of `QDTLS_GARBAGE_CASES` for one campaign (in thousandths).
pub fn cases(per_mille: usize) -> usize {
    (env_count("QDTLS_GARBAGE_CASES", 50_000) * per_mille / 1000).max(10)
}

pub const CALL_LIMIT: Duration = Duration::from_secs(5);

/// The watchdog of a garbage campaign: 300 s for the default 50,000 cases, more for more.
pub fn campaign_limit() -> Duration {
    Duration::from_secs(300 * (env_count("QDTLS_GARBAGE_CASES", 50_000) / 50_000).max(1) as u64)
}

/// Times one call: garbage must never make a call hang.
pub fn timed<R>(max: &mut Duration, f: impl FnOnce() -> R) -> R {
    let t = Instant::now();
    let r = f();
    let e = t.elapsed();
    *max = (*max).max(e);
    assert!(e < CALL_LIMIT, "one call took {e:?}");
    r
}

// ---- garbage into handshakes in progress -------------------------------------------------------

/// A PSK or certificate client/server pair stepped by hand: the datagrams of
/// the next flight are held until `finish` delivers them.
pub struct Pair {
    pub client: Dtls,
    pub csock: UdpSocket,
    pub server: Dtls,
    pub ssock: UdpSocket,
    pub held: Vec<(bool, Vec<u8>)>,
    pub _psks: (Box<Psk>, Box<Psk>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// The client sent its ClientHello (held).
    ClientHelloSent,
    /// The server answered the ClientHello; it waits for the client's second flight.
    ServerAwaitingFinished,
    /// The client sent its second flight (keys changed); it waits for the server's Finished.
    ClientAwaitingFinished,
}

impl Pair {
    pub fn new(flavour: Flavour) -> Pair {
        let c = shared_cfgs();
        let (ccfg, scfg) = match flavour {
            Flavour::Psk => (&c.psk, &c.psk),
            Flavour::Cert => (&c.cert_client, &c.cert_server),
        };
        let psks = (Psk::new(b"pair", KEY), Psk::new(b"", KEY));
        let client = Dtls::client().with_config(ccfg).with_psk(&psks.0);
        let server = Dtls::server().with_config(scfg).with_psk(&psks.1);
        let (csock, ssock) = (nb_udp(), nb_udp());
        assert!(client.set_peer(ssock.local_addr().unwrap(), "flood.test"));
        assert!(server.set_peer(csock.local_addr().unwrap(), ""));
        set_first_timeout(&client, 50);
        set_first_timeout(&server, 50);
        Pair { client, csock, server, ssock, held: Vec::new(), _psks: psks }
    }

    /// A pair brought to `stage`.
    pub fn at(flavour: Flavour, stage: Stage) -> Pair {
        let mut p = Pair::new(flavour);
        assert!(p.client.handshake(&p.csock, &[]));
        let hello = drain(&p.ssock);
        if stage == Stage::ClientHelloSent {
            p.held = hello.into_iter().map(|d| (true, d)).collect();
            return p;
        }
        for d in hello {
            assert!(p.server.handshake(&p.ssock, &d), "{}", p.server.error_string());
        }
        let flight = drain(&p.csock);
        if stage == Stage::ServerAwaitingFinished {
            p.held = flight.into_iter().map(|d| (false, d)).collect();
            return p;
        }
        for d in flight {
            assert!(p.client.handshake(&p.csock, &d), "{}", p.client.error_string());
        }
        p.held = drain(&p.ssock).into_iter().map(|d| (true, d)).collect();
        p
    }

    pub fn target(&self, stage: Stage) -> (&Dtls, &UdpSocket) {
        match stage {
            Stage::ServerAwaitingFinished => (&self.server, &self.ssock),
            _ => (&self.client, &self.csock),
        }
    }

    pub fn feed(d: &Dtls, s: &UdpSocket, data: &[u8], server: bool) {
        match d.state() {
            QDTLS_HANDSHAKE_COMPLETE => {
                d.decrypt(s, data);
            }
            QDTLS_HANDSHAKE_IN_PROGRESS => {
                d.handshake(s, data);
            }
            QDTLS_HANDSHAKE_NOT_STARTED if server && d.error() == QDTLS_ERROR_NO_ERROR => {
                d.handshake(s, data);
            }
            _ => {}
        }
    }

    /// Delivers the held flight and whatever else was sent, driving timers,
    /// until both sides are complete. Err: the side and error that ended it.
    pub fn finish(&mut self, limit: Duration) -> Result<(), String> {
        for (to_server, d) in std::mem::take(&mut self.held) {
            let s = if to_server { &self.csock } else { &self.ssock };
            let to = if to_server { self.ssock.local_addr() } else { self.csock.local_addr() };
            s.send_to(&d, to.unwrap()).unwrap();
        }
        let deadline = Instant::now() + limit;
        let mut last_move = Instant::now();
        loop {
            let (c, s) = (&self.client, &self.server);
            if c.state() == QDTLS_HANDSHAKE_COMPLETE && s.state() == QDTLS_HANDSHAKE_COMPLETE {
                return Ok(());
            }
            for (who, d) in [("client", c), ("server", s)] {
                if d.state() == QDTLS_HANDSHAKE_NOT_STARTED && d.error() != QDTLS_ERROR_NO_ERROR {
                    return Err(format!("{who}: {}", err_name(d.error())));
                }
            }
            // Loopback loses nothing: a handshake that moved nothing for 150 ms
            // (the 50 ms timer fired twice in vain) is stuck.
            if Instant::now() > deadline || last_move.elapsed() > Duration::from_millis(150) {
                return Err("stalled".into());
            }
            let mut moved = false;
            while let Some((d, _)) = pending(&self.ssock) {
                Self::feed(s, &self.ssock, &d, true);
                moved = true;
            }
            while let Some((d, _)) = pending(&self.csock) {
                Self::feed(c, &self.csock, &d, false);
                moved = true;
            }
            for (d, sock) in [(c, &self.csock), (s, &self.ssock)] {
                if d.next_timeout_ms() == 0 {
                    d.handle_timeout(sock);
                }
            }
            if moved {
                last_move = Instant::now();
            } else {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
}

/// Bytes of a ClientHello's random: record header (13) + handshake header (12) + version (2).
pub const RANDOM_AT: usize = 27;
