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

mod common;

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Mutex, RwLock};
use std::time::{Duration, Instant};

use common::certs::{Ca, KeyKind, LeafSpec, Pem};
use common::harness::*;
use common::rng::Rng;
use qdtls::ffi::config::*;
use qdtls::ffi::dtls::*;
use qdtls::ffi::verifier::*;
use qdtls::ffi::*;

const KEY: &[u8] = b"flood and garbage pre-shared key";

/// The memory measurement needs the process to itself; the other tests share.
static EXCLUSIVE: RwLock<()> = RwLock::new(());

fn shared() -> std::sync::RwLockReadGuard<'static, ()> {
    EXCLUSIVE.read().unwrap_or_else(|e| e.into_inner())
}

fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

// ---- helpers ----------------------------------------------------------------------

/// One datagram already queued on `s`, without waiting (loopback delivers
/// during the sender's sendto, so what a call sent is there when it returns).
fn pending(s: &UdpSocket) -> Option<(Vec<u8>, SocketAddr)> {
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

fn drain(s: &UdpSocket) -> Vec<Vec<u8>> {
    std::iter::from_fn(|| pending(s).map(|(d, _)| d)).collect()
}

fn vm_rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// A raw pointer that may cross threads (the C ABI promises handles,
/// verifiers and a shared configuration are usable from any thread).
struct SendPtr<T>(*mut T);
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
fn with_watchdog<R: Send + 'static>(limit: Duration, f: impl FnOnce() -> R + Send + 'static) -> R {
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
struct Histogram(BTreeMap<String, usize>);

impl Histogram {
    fn add(&mut self, label: impl Into<String>) {
        *self.0.entry(label.into()).or_default() += 1;
    }
    fn count(&self, prefix: &str) -> usize {
        self.0.iter().filter(|(k, _)| k.starts_with(prefix)).map(|(_, v)| v).sum()
    }
    fn print(&self, title: &str) {
        println!("{title}:");
        for (k, v) in &self.0 {
            println!("  {v:>8}  {k}");
        }
    }
}

fn err_name(code: i32) -> &'static str {
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

fn state_name(s: i32) -> &'static str {
    match s {
        QDTLS_HANDSHAKE_NOT_STARTED => "NotStarted",
        QDTLS_HANDSHAKE_IN_PROGRESS => "InProgress",
        QDTLS_PEER_VERIFICATION_FAILED => "PeerVerificationFailed",
        QDTLS_HANDSHAKE_COMPLETE => "Complete",
        _ => "?",
    }
}

// ---- identities -------------------------------------------------------------------------

struct Identities {
    ca: String,
    server: Pem,
    /// Signed by another CA: a client trusting `ca` fails to verify it.
    untrusted: Pem,
}

fn identities() -> &'static Identities {
    static IDS: std::sync::OnceLock<Identities> = std::sync::OnceLock::new();
    IDS.get_or_init(|| {
        let ca = Ca::new("flood root", KeyKind::EcP256);
        let other = Ca::new("someone else", KeyKind::EcP256);
        let spec = LeafSpec { dns: &["flood.test"], ..LeafSpec::server("flood.test") };
        Identities { ca: ca.pem.cert.clone(), server: ca.issue(&spec), untrusted: other.issue(&spec) }
    })
}

fn psk_cfg() -> Cfg {
    Cfg::psk()
}

/// Configurations shared by every Pair (read-only sharing is allowed across
/// threads). Sharing matters for speed: each configuration builds its OpenSSL
/// context on first use, and one without CA certificates loads the system
/// trust store then (tens of ms), even for PSK.
struct SharedCfgs {
    psk: Cfg,
    cert_client: Cfg,
    cert_server: Cfg,
}
unsafe impl Send for SharedCfgs {}
unsafe impl Sync for SharedCfgs {}

fn shared_cfgs() -> &'static SharedCfgs {
    static C: std::sync::OnceLock<SharedCfgs> = std::sync::OnceLock::new();
    C.get_or_init(|| SharedCfgs { psk: psk_cfg(), cert_client: cert_client_cfg(), cert_server: cert_server_cfg(false) })
}

fn cert_server_cfg(cookies: bool) -> Cfg {
    let ids = identities();
    let c = Cfg::new();
    c.cookies(cookies).verify_mode(QDTLS_VERIFY_NONE).identity(&ids.server.cert, &ids.server.key);
    c
}

fn cert_client_cfg() -> Cfg {
    let c = Cfg::new();
    c.ca(&identities().ca);
    c
}

// ---- real traffic, captured ----------------------------------------------------------------

/// One captured datagram: what it is and which way it went.
#[derive(Clone, Debug)]
struct Captured {
    name: String,
    to_server: bool,
    data: Vec<u8>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flavour {
    Psk,
    Cert,
}

/// Everything a client and a server (behind a verifier) said to each other
/// in one full exchange: cookie exchange, handshake, data both ways, close.
/// `cookie` sets the generator parameters of the verifier and the server.
struct Capture {
    dgrams: Vec<Captured>,
    client_addr: SocketAddr,
}

fn capture(flavour: Flavour, cookie: Option<(i32, &[u8])>) -> Capture {
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
fn corpus() -> &'static (Capture, Capture) {
    static C: std::sync::OnceLock<(Capture, Capture)> = std::sync::OnceLock::new();
    C.get_or_init(|| (capture(Flavour::Psk, None), capture(Flavour::Cert, None)))
}

fn corpus_datagrams() -> Vec<Vec<u8>> {
    let (a, b) = corpus();
    a.dgrams.iter().chain(&b.dgrams).map(|c| c.data.clone()).collect()
}

// ---- garbage --------------------------------------------------------------------------------

const KINDS: [&str; 10] = [
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
fn garbage(rng: &mut Rng, base: &[Vec<u8>], k: usize) -> Vec<u8> {
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
fn cases(per_mille: usize) -> usize {
    (env_count("QDTLS_GARBAGE_CASES", 50_000) * per_mille / 1000).max(10)
}

const CALL_LIMIT: Duration = Duration::from_secs(5);

/// The watchdog of a garbage campaign: 300 s for the default 50,000 cases, more for more.
fn campaign_limit() -> Duration {
    Duration::from_secs(300 * (env_count("QDTLS_GARBAGE_CASES", 50_000) / 50_000).max(1) as u64)
}

/// Times one call: garbage must never make a call hang.
fn timed<R>(max: &mut Duration, f: impl FnOnce() -> R) -> R {
    let t = Instant::now();
    let r = f();
    let e = t.elapsed();
    *max = (*max).max(e);
    assert!(e < CALL_LIMIT, "one call took {e:?}");
    r
}

// ---- garbage into verify_client ---------------------------------------------------------

#[test]
fn garbage_into_verify_client() {
    let _g = shared();
    let n = cases(200);
    with_watchdog(campaign_limit(), move || {
        let base = corpus_datagrams();
        let (psk_capture, _) = corpus();
        // The address the captured cookies are bound to: mutated ClientHellos
        // whose cookie survives still verify (stateless, address-bound).
        let addr = psk_capture.client_addr;
        let v = Verifier::new();
        let sock = nb_udp();
        let mut rng = Rng::new(0x5eed_0001);
        let mut h = Histogram::default();
        let mut max = Duration::ZERO;
        for i in 0..n {
            let k = i % KINDS.len();
            let g = garbage(&mut rng, &base, k);
            let ok = timed(&mut max, || v.verify(&sock, &g, addr));
            let e = v.error();
            if ok {
                assert_eq!(e, QDTLS_ERROR_NO_ERROR);
                assert_eq!(v.verified_hello(), g, "verified_hello is the datagram");
                assert_eq!(g[0], 22, "only a handshake record verifies");
            } else if g.is_empty() {
                assert_eq!(e, QDTLS_ERROR_INVALID_INPUT_PARAMETERS);
            } else {
                assert_eq!(e, QDTLS_ERROR_NO_ERROR, "{} case {i}: {g:02x?}", KINDS[k]);
                assert!(v.verified_hello().is_empty());
            }
            h.add(format!("{:<16} -> {}", KINDS[k], if ok { "verified" } else { err_name(e) }));
            if i % 256 == 0 {
                let _ = drain(&sock);
            }
        }
        h.print(&format!("verify_client: {n} garbage cases (max call {max:?})"));
        // The real cookie hello still verifies afterwards.
        let hello2 = &psk_capture.dgrams.iter().find(|c| c.name == "client-hello-cookie-0").unwrap().data;
        assert!(v.verify(&sock, hello2, addr));
    });
}

// ---- garbage into a server's first datagram ----------------------------------------------

#[test]
fn garbage_into_server_first_datagram() {
    let _g = shared();
    let n = cases(240);
    with_watchdog(campaign_limit(), move || {
        let base = corpus_datagrams();
        let (psk_capture, cert_capture) = corpus();
        let sink = nb_udp(); // stands in for the client: its flights land here
        let ssock = nb_udp();
        let sp = Psk::new(b"", KEY);
        let mut rng = Rng::new(0x5eed_0002);
        let mut h = Histogram::default();
        let mut max = Duration::ZERO;
        for (cookies, flavour) in
            [(true, Flavour::Psk), (false, Flavour::Psk), (true, Flavour::Cert), (false, Flavour::Cert)]
        {
            let cfg = match flavour {
                Flavour::Psk => {
                    let c = Cfg::psk();
                    c.cookies(cookies);
                    c
                }
                Flavour::Cert => cert_server_cfg(cookies),
            };
            // The captured cookies are bound to the capturing client's address.
            let peer = if flavour == Flavour::Psk { psk_capture.client_addr } else { cert_capture.client_addr };
            for i in 0..n / 4 {
                let k = i % KINDS.len();
                let g = garbage(&mut rng, &base, k);
                let s = Dtls::server().with_config(&cfg).with_psk(&sp);
                assert!(s.set_peer(peer, ""));
                let ok = timed(&mut max, || s.handshake(&ssock, &g));
                let (e, st) = (s.error(), s.state());
                // The timer starts when the server's flight goes out (to the peer, which
                // is the capturing client's address: nobody listens there any more).
                let _ = drain(&sink);
                let answered = s.next_timeout_ms() >= 0;
                let label = if ok {
                    assert_eq!(e, QDTLS_ERROR_NO_ERROR);
                    assert_eq!(st, QDTLS_HANDSHAKE_IN_PROGRESS);
                    if answered {
                        // A ClientHello OpenSSL could parse: the server's flight went out, the timer runs.
                        assert_eq!(g[0], 22);
                        assert!(s.next_timeout_ms() >= 0);
                        "true, InProgress, flight sent".to_string()
                    } else {
                        // InProgress with no timer would never end (fixed in 197688a).
                        panic!("{} case {i}: InProgress, nothing sent, no timer: {g:02x?}", KINDS[k]);
                    }
                } else {
                    let want =
                        if g.is_empty() { QDTLS_ERROR_INVALID_INPUT_PARAMETERS } else { QDTLS_ERROR_TLS_FATAL_ERROR };
                    assert_eq!(e, want, "{} case {i}: {}", KINDS[k], s.error_string());
                    assert_eq!(st, QDTLS_HANDSHAKE_NOT_STARTED);
                    assert!(!s.error_string().is_empty());
                    assert!(!answered, "a refused datagram was answered");
                    format!("false, {}", err_name(e))
                };
                h.add(format!("{flavour:?} cookies {:<5} {:<16} -> {label}", cookies, KINDS[k]));
            }
        }
        h.print(&format!("server do_handshake, first datagram: {n} garbage cases (max call {max:?})"));
        assert!(h.count("Psk cookies true") > 0 && h.count("Cert cookies false") > 0);
    });
}

/// Regression (found here, fixed in 59cb21d): a server without cookie
/// verification whose first datagram is something OpenSSL discards
/// (garbage, a truncated ClientHello) returned true and sat in
/// HandshakeInProgress with no timer, one stuck session per forged datagram.
/// It must be refused (TlsFatalError, NotStarted), as with cookies on.
#[test]
fn a_server_started_by_garbage_never_hangs_in_progress_without_a_timer() {
    let sp = Psk::new(b"", KEY);
    let (sink, ssock) = (nb_udp(), nb_udp());
    let (psk_capture, _) = corpus();
    let hello = &psk_capture.dgrams.iter().find(|c| c.name == "client-hello-0").unwrap().data;
    for g in [
        vec![0xba, 1, 2, 3, 4, 5],
        hello[..hello.len() / 2].to_vec(),
        vec![23, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0],
    ] {
        let s = Dtls::server().with_config(&psk_cfg()).with_psk(&sp);
        assert!(s.set_peer(sink.local_addr().unwrap(), ""));
        let ok = s.handshake(&ssock, &g);
        assert!(
            s.state() != QDTLS_HANDSHAKE_IN_PROGRESS || s.next_timeout_ms() >= 0,
            "{g:02x?}: returned {ok}, InProgress with no timer and nothing sent: {:?}",
            drain(&sink).len()
        );
    }
}

/// Regression (found here, fixed in 197688a): the same stuck state through a
/// first datagram that starts with a ClientHello record but that OpenSSL
/// drops silently: a record version OpenSSL does not take, or a message_seq
/// it does not expect first. OpenSSL waits for message 0 from a server that
/// did not run DTLSv1_listen, and for message 1 after it did (message_seq is
/// bytes 17-18). Before the fix:
///
/// | cookie verification | message_seq 0 | message_seq 1 | message_seq 2+ |
/// | off                 | answered      | STUCK         | STUCK          |
/// | on (cookie valid)   | STUCK         | answered      | refused        |
///
/// and a first ClientHello with a garbled record version (bytes 1-2, e.g.
/// 0x5bff) was STUCK too. STUCK: qdtls_do_handshake returned true, state
/// InProgress, nothing sent, qdtls_next_timeout_ms -1, forever.
#[test]
fn a_server_never_sits_in_progress_without_a_timer_after_a_client_hello() {
    let mut stuck = Vec::new();
    for cookies in [false, true] {
        for seq in [0u8, 1, 2] {
            let v = Verifier::new();
            let (csock, ssock) = (nb_udp(), nb_udp());
            let caddr = csock.local_addr().unwrap();
            let client = Dtls::client().with_config(&psk_cfg());
            assert!(client.set_peer(ssock.local_addr().unwrap(), ""));
            assert!(client.handshake(&csock, &[]));
            let hello = drain(&ssock).remove(0);
            assert!(!v.verify(&ssock, &hello, caddr));
            let hvr = drain(&csock).remove(0);
            assert!(client.handshake(&csock, &hvr));
            let mut hello2 = drain(&ssock).remove(0);
            assert_eq!(hello2[17..19], [0, 1], "the second ClientHello has message_seq 1");
            hello2[18] = seq;
            let scfg = psk_cfg();
            scfg.cookies(cookies);
            let sp = Psk::new(b"", KEY);
            let s = Dtls::server().with_config(&scfg).with_psk(&sp);
            assert!(s.set_peer(caddr, ""));
            let ok = s.handshake(&ssock, &hello2);
            if s.state() == QDTLS_HANDSHAKE_IN_PROGRESS && s.next_timeout_ms() < 0 {
                stuck.push(format!("cookies {cookies}, message_seq {seq}: returned {ok}, InProgress, no timer"));
            }
        }
    }
    // A first ClientHello whose record version OpenSSL drops, no cookies.
    let client = Dtls::client().with_config(&psk_cfg());
    let (csock, ssock) = (nb_udp(), nb_udp());
    assert!(client.set_peer(ssock.local_addr().unwrap(), ""));
    assert!(client.handshake(&csock, &[]));
    let mut hello = drain(&ssock).remove(0);
    hello[1..3].copy_from_slice(&[0x5b, 0xff]);
    let sp = Psk::new(b"", KEY);
    let s = Dtls::server().with_config(&psk_cfg()).with_psk(&sp);
    assert!(s.set_peer(csock.local_addr().unwrap(), ""));
    let ok = s.handshake(&ssock, &hello);
    if s.state() == QDTLS_HANDSHAKE_IN_PROGRESS && s.next_timeout_ms() < 0 {
        stuck.push(format!("cookies false, record version 0x5bff: returned {ok}, InProgress, no timer"));
    }
    assert!(stuck.is_empty(), "{}", stuck.join("\n"));
}

/// Every datagram of two captured exchanges (PSK and certificates, with the
/// cookie exchange), replayed unmodified into each state of OTHER sessions:
/// a table of outcomes, deterministic (no randomness), checked against the
/// documented results. Established sessions never die; handshakes in
/// progress may: the table shows exactly which replays end them.
#[test]
fn replays_of_another_exchange_into_every_state() {
    let _g = shared();
    with_watchdog(Duration::from_secs(120), || {
        let (a, b) = corpus();
        let mut table: BTreeMap<(String, &str), String> = BTreeMap::new();
        let states =
            ["client hello sent", "server awaiting Finished", "client awaiting Finished", "established (both)"];
        for (flavour, cap) in [(Flavour::Psk, a), (Flavour::Cert, b)] {
            for c in &cap.dgrams {
                let row = format!("{flavour:?} {}", c.name);
                for (si, stage) in
                    [Stage::ClientHelloSent, Stage::ServerAwaitingFinished, Stage::ClientAwaitingFinished]
                        .into_iter()
                        .enumerate()
                {
                    let mut p = Pair::at(flavour, stage);
                    let (d, s) = p.target(stage);
                    let ok = d.handshake(s, &c.data);
                    let (e, st) = (d.error(), d.state());
                    assert!(
                        (ok && e == QDTLS_ERROR_NO_ERROR && st == QDTLS_HANDSHAKE_IN_PROGRESS)
                            || (!ok && e == QDTLS_ERROR_TLS_FATAL_ERROR && st == QDTLS_HANDSHAKE_NOT_STARTED),
                        "{row} into {stage:?}: {ok} {} {}",
                        err_name(e),
                        state_name(st)
                    );
                    let cell = if ok {
                        match p.finish(Duration::from_secs(2)) {
                            Ok(()) => "ignored".to_string(),
                            Err(e) => format!("derailed ({e})"),
                        }
                    } else {
                        "ENDS IT (TlsFatalError)".to_string()
                    };
                    table.insert((row.clone(), states[si]), cell);
                }
                // Established: both sides get it; they must not care.
                let mut p = Pair::at(flavour, Stage::ClientHelloSent);
                p.finish(Duration::from_secs(10)).unwrap();
                for (d, s) in [(&p.client, &p.csock), (&p.server, &p.ssock)] {
                    match d.decrypt(s, &c.data) {
                        Some(x) => assert!(x.is_empty() && d.error() == QDTLS_ERROR_NO_ERROR),
                        None => assert_eq!(d.error(), QDTLS_ERROR_TLS_NON_FATAL_ERROR),
                    }
                    assert!(d.encrypted(), "{row} closed an established session");
                }
                assert_eq!(p.client.write(&p.csock, b"ok"), 2);
                let dg = drain(&p.ssock).remove(0);
                assert_eq!(p.server.decrypt(&p.ssock, &dg).as_deref(), Some(&b"ok"[..]));
                table.insert((row, states[3]), "ignored".into());
            }
        }
        println!("replayed datagram of another exchange -> outcome, per state of the receiver");
        let mut last = String::new();
        for ((row, state), cell) in &table {
            if *row != last {
                println!("  {row}");
                last = row.clone();
            }
            println!("      {state:<26} {cell}");
        }
        assert!(table.values().filter(|c| c.as_str() == "ignored").count() > table.len() / 2);
    });
}

// ---- garbage into handshakes in progress -------------------------------------------------------

/// A PSK or certificate client/server pair stepped by hand: the datagrams of
/// the next flight are held until `finish` delivers them.
struct Pair {
    client: Dtls,
    csock: UdpSocket,
    server: Dtls,
    ssock: UdpSocket,
    held: Vec<(bool, Vec<u8>)>,
    _psks: (Box<Psk>, Box<Psk>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// The client sent its ClientHello (held).
    ClientHelloSent,
    /// The server answered the ClientHello; it waits for the client's second flight.
    ServerAwaitingFinished,
    /// The client sent its second flight (keys changed); it waits for the server's Finished.
    ClientAwaitingFinished,
}

impl Pair {
    fn new(flavour: Flavour) -> Pair {
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
    fn at(flavour: Flavour, stage: Stage) -> Pair {
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

    fn target(&self, stage: Stage) -> (&Dtls, &UdpSocket) {
        match stage {
            Stage::ServerAwaitingFinished => (&self.server, &self.ssock),
            _ => (&self.client, &self.csock),
        }
    }

    fn feed(d: &Dtls, s: &UdpSocket, data: &[u8], server: bool) {
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
    fn finish(&mut self, limit: Duration) -> Result<(), String> {
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

/// Garbage into do_handshake of a pair held at `stage`. A sample of the
/// pairs (1 in 25 cases) is finished with the real peer and replaced; a pair
/// whose handshake garbage ended is replaced at once.
fn garbage_into_stage(flavour: Flavour, stage: Stage, n: usize, seed: u64, h: &mut Histogram, done: &mut Histogram) {
    let base = corpus_datagrams();
    let mut rng = Rng::new(seed);
    let mut max = Duration::ZERO;
    let mut pair = Pair::at(flavour, stage);
    let tag = format!("{flavour:?} {stage:?}");
    let finish = |pair: &mut Pair, done: &mut Histogram| {
        let (d, _) = pair.target(stage);
        if d.state() != QDTLS_HANDSHAKE_IN_PROGRESS {
            return;
        }
        match pair.finish(Duration::from_secs(5)) {
            Ok(()) => {
                done.add(format!("{tag}: completed with the real peer after garbage"));
                assert!(pair.client.write(&pair.csock, b"x") == 1);
            }
            Err(e) => {
                // Only a forged message that OpenSSL took for real can do this.
                done.add(format!("{tag}: derailed by a forged message: {e}"));
                assert!(e == "stalled" || e.ends_with("TlsFatalError"), "{e}");
            }
        }
    };
    for i in 0..n {
        let k = i % KINDS.len();
        let g = garbage(&mut rng, &base, k);
        let (d, s) = pair.target(stage);
        let ok = timed(&mut max, || d.handshake(s, &g));
        let (e, st) = (d.error(), d.state());
        assert_ne!(st, QDTLS_HANDSHAKE_COMPLETE, "garbage completed a handshake: {} {g:02x?}", KINDS[k]);
        assert_ne!(st, QDTLS_PEER_VERIFICATION_FAILED);
        let label = if ok {
            assert_eq!(e, QDTLS_ERROR_NO_ERROR);
            assert_eq!(st, QDTLS_HANDSHAKE_IN_PROGRESS);
            "true (dropped or taken)".to_string()
        } else {
            if g.is_empty() {
                assert_eq!(e, QDTLS_ERROR_INVALID_INPUT_PARAMETERS);
            } else {
                assert_eq!(e, QDTLS_ERROR_TLS_FATAL_ERROR, "{}: {}", KINDS[k], d.error_string());
                assert_eq!(st, QDTLS_HANDSHAKE_NOT_STARTED);
            }
            format!("false {} -> {}", err_name(e), state_name(st))
        };
        h.add(format!("{tag} {:<16} -> {label}", KINDS[k]));
        if st != QDTLS_HANDSHAKE_IN_PROGRESS || rng.below(25) == 0 {
            finish(&mut pair, done);
            pair = Pair::at(flavour, stage);
        }
    }
    finish(&mut pair, done);
    // And a fresh pair in this stage always completes.
    let mut fresh = Pair::at(flavour, stage);
    fresh.finish(Duration::from_secs(10)).unwrap_or_else(|e| panic!("{tag}: fresh pair: {e}"));
    println!("{tag}: max call {max:?}");
}

#[test]
fn garbage_into_client_handshake_states() {
    let _g = shared();
    let n = cases(240);
    with_watchdog(campaign_limit(), move || {
        let (mut h, mut done) = (Histogram::default(), Histogram::default());
        for (i, (flavour, stage)) in [
            (Flavour::Psk, Stage::ClientHelloSent),
            (Flavour::Cert, Stage::ClientHelloSent),
            (Flavour::Psk, Stage::ClientAwaitingFinished),
            (Flavour::Cert, Stage::ClientAwaitingFinished),
        ]
        .into_iter()
        .enumerate()
        {
            garbage_into_stage(flavour, stage, n / 4, 0x5eed_0010 + i as u64, &mut h, &mut done);
        }
        h.print(&format!("client do_handshake in progress: {n} garbage cases"));
        done.print("client handshakes after garbage");
        assert!(
            done.count("Psk ClientHelloSent: completed") > 0
                && done.count("Cert ClientAwaitingFinished: completed") > 0
        );
    });
}

#[test]
fn garbage_into_server_handshake_state() {
    let _g = shared();
    let n = cases(120);
    with_watchdog(campaign_limit(), move || {
        let (mut h, mut done) = (Histogram::default(), Histogram::default());
        garbage_into_stage(Flavour::Psk, Stage::ServerAwaitingFinished, n / 2, 0x5eed_0020, &mut h, &mut done);
        garbage_into_stage(Flavour::Cert, Stage::ServerAwaitingFinished, n / 2, 0x5eed_0021, &mut h, &mut done);
        h.print(&format!("server do_handshake in progress: {n} garbage cases"));
        done.print("server handshakes after garbage");
        assert!(done.count("Psk ServerAwaitingFinished: completed") > 0);
        assert!(done.count("Cert ServerAwaitingFinished: completed") > 0);
    });
}

// ---- garbage into established sessions and PeerVerificationFailed -----------------------------

#[test]
fn garbage_into_established_sessions() {
    let _g = shared();
    let n = cases(180);
    with_watchdog(campaign_limit(), move || {
        let mut h = Histogram::default();
        let mut max = Duration::ZERO;
        for (fi, flavour) in [Flavour::Psk, Flavour::Cert].into_iter().enumerate() {
            let mut pair = Pair::new(flavour);
            pair.finish(Duration::ZERO).ok();
            assert!(pair.client.handshake(&pair.csock, &[]));
            pair.finish(Duration::from_secs(10)).unwrap();
            // This session's own records (delivered once: unmodified copies are replays).
            let mut base = corpus_datagrams();
            for len in [1usize, 100, 1000] {
                assert_eq!(pair.client.write(&pair.csock, &vec![1; len]), len as i64);
                let d = drain(&pair.ssock).remove(0);
                assert_eq!(pair.server.decrypt(&pair.ssock, &d).unwrap().len(), len);
                base.push(d);
                assert_eq!(pair.server.write(&pair.ssock, &vec![2; len]), len as i64);
                let d = drain(&pair.csock).remove(0);
                assert_eq!(pair.client.decrypt(&pair.csock, &d).unwrap().len(), len);
                base.push(d);
            }
            let mut rng = Rng::new(0x5eed_0030 + fi as u64);
            for i in 0..n / 2 {
                let k = i % KINDS.len();
                let g = garbage(&mut rng, &base, k);
                let (d, s, who) = if i % 2 == 0 {
                    (&pair.server, &pair.ssock, "server")
                } else {
                    (&pair.client, &pair.csock, "client")
                };
                let r = timed(&mut max, || d.decrypt(s, &g));
                let label = match &r {
                    Some(p) => {
                        assert!(p.is_empty(), "{}: garbage gave {} bytes", KINDS[k], p.len());
                        assert_eq!(d.error(), QDTLS_ERROR_NO_ERROR);
                        "0 bytes, NoError"
                    }
                    None => {
                        assert_eq!(d.error(), QDTLS_ERROR_TLS_NON_FATAL_ERROR, "{}: {}", KINDS[k], d.error_string());
                        "-1, TlsNonFatalError"
                    }
                };
                assert_eq!(d.state(), QDTLS_HANDSHAKE_COMPLETE, "{who} lost its session to {} {g:02x?}", KINDS[k]);
                h.add(format!("{flavour:?} {who} {:<16} -> {label}", KINDS[k]));
                if i % 128 == 0 {
                    // Whatever a replayed Finished made the other side retransmit.
                    let _ = drain(&pair.csock);
                    let _ = drain(&pair.ssock);
                }
            }
            let _ = drain(&pair.csock);
            let _ = drain(&pair.ssock);
            for (from_client, msg) in [(true, b"alive".as_slice()), (false, b"well".as_slice())] {
                let (tx, txs, rx, rxs) = if from_client {
                    (&pair.client, &pair.csock, &pair.server, &pair.ssock)
                } else {
                    (&pair.server, &pair.ssock, &pair.client, &pair.csock)
                };
                assert_eq!(tx.write(txs, msg), msg.len() as i64);
                let d = drain(rxs).remove(0);
                assert_eq!(rx.decrypt(rxs, &d).as_deref(), Some(msg), "{flavour:?} after garbage");
            }
        }
        h.print(&format!("decrypt_datagram on established sessions: {n} garbage cases (max call {max:?})"));
    });
}

#[test]
fn garbage_into_a_handle_that_failed_peer_verification() {
    let _g = shared();
    let n = cases(20);
    let ids = identities();
    let scfg = Cfg::new();
    scfg.cookies(false).verify_mode(QDTLS_VERIFY_NONE).identity(&ids.untrusted.cert, &ids.untrusted.key);
    let (cp, sp) = (Psk::new(b"x", KEY), Psk::new(b"", KEY));
    let ccfg = cert_client_cfg();
    let mut l =
        Link::new(Dtls::client().with_config(&ccfg).with_psk(&cp), Dtls::server().with_config(&scfg).with_psk(&sp));
    assert!(l.handshake(Duration::from_secs(10)));
    assert_eq!(l.client.state(), QDTLS_PEER_VERIFICATION_FAILED);
    let base = corpus_datagrams();
    let mut rng = Rng::new(0x5eed_0040);
    for i in 0..n {
        let g = garbage(&mut rng, &base, i % KINDS.len());
        assert!(!l.client.handshake(&l.csock, &g));
        assert_eq!(l.client.error(), QDTLS_ERROR_INVALID_OPERATION);
        assert!(l.client.decrypt(&l.csock, &g).is_none());
        assert_eq!(l.client.error(), QDTLS_ERROR_INVALID_OPERATION);
        assert_eq!(l.client.state(), QDTLS_PEER_VERIFICATION_FAILED);
    }
    // Still able to resume once the errors are ignored.
    assert!(l.client.ignore(&l.client.verification_errors().iter().map(|c| (*c, Vec::new())).collect::<Vec<_>>()));
    assert!(l.client.resume(&l.csock), "{}", l.client.error_string());
    assert!(l.client.encrypted());
    println!("PeerVerificationFailed: {n} garbage datagrams, each InvalidOperation twice");
}

/// The datagram the fuzz target found, reduced by hand (41 bytes): a record
/// header with an invalid version (0x0000) and length 1, then an
/// application_data record of epoch 1 whose 15-byte body is shorter than any
/// cipher's minimum. OpenSSL 3.0 drops only the 13-byte header of a record
/// with a bad version and parses the next byte on as a new record; the
/// engine's short-record filter (src/engine/record.rs) skips the claimed
/// 1-byte body instead, so its record boundaries differ from OpenSSL's and
/// the short record reaches OpenSSL, which fails the connection.
fn short_record_behind_a_bad_version_header() -> Vec<u8> {
    let mut g = vec![0u8; 12];
    g.push(1); // bad version 0x0000, epoch 0, length 1
    g.extend_from_slice(&[23, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 1, 0, 15]);
    g.extend_from_slice(&[0u8; 15]);
    g
}

/// Regression (found by the decrypt fuzz target, fixed in 59cb21d): one
/// unauthenticated 41-byte datagram killed an established session with
/// every cipher (the attack commit 566ea4d meant to stop): with CBC,
/// TlsFatalError "length too short"; with AEAD ciphers see the next test.
/// It must be dropped like any garbage (0, NoError).
#[test]
fn a_short_record_behind_a_bad_version_header_does_not_kill_the_session() {
    let g = short_record_behind_a_bad_version_header();
    let mut failures = Vec::new();
    for cipher in ["PSK-AES128-GCM-SHA256", "PSK-AES128-CBC-SHA256", "ECDHE-PSK-CHACHA20-POLY1305"] {
        let cfg = Cfg::psk();
        cfg.ciphers(cipher);
        let (cp, sp) = (Psk::new(b"c", KEY), Psk::new(b"", KEY));
        let mut l =
            Link::new(Dtls::client().with_config(&cfg).with_psk(&cp), Dtls::server().with_config(&cfg).with_psk(&sp));
        assert!(l.handshake(Duration::from_secs(10)));
        let r = l.server.decrypt(&l.ssock, &g);
        let e = (err_name(l.server.error()), l.server.error_string());
        let alive = l.send(true, b"still there?").as_deref() == Some(&b"still there?"[..]);
        if r.as_deref() != Some(&[][..]) || !alive {
            failures.push(format!("{cipher}: decrypt {r:?} {e:?}, session {}", if alive { "alive" } else { "dead" }));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Regression (fixed in 59cb21d): when OpenSSL failed a read without an
/// SSL_ERROR_SSL verdict (the datagram above with an AEAD cipher), decrypt
/// reported TlsNonFatalError and the handle stayed HandshakeComplete and
/// "encrypted" while OpenSSL had given up: every later decrypt of the peer's
/// genuine records failed ("Error while reading", no reason), writes still
/// went out. The contract is TlsFatalError and NotStarted; never a zombie.
#[test]
fn a_connection_openssl_gave_up_on_is_not_left_encrypted() {
    let g = short_record_behind_a_bad_version_header();
    for cipher in ["PSK-AES128-GCM-SHA256", "ECDHE-PSK-CHACHA20-POLY1305"] {
        let cfg = Cfg::psk();
        cfg.ciphers(cipher);
        let (cp, sp) = (Psk::new(b"c", KEY), Psk::new(b"", KEY));
        let mut l =
            Link::new(Dtls::client().with_config(&cfg).with_psk(&cp), Dtls::server().with_config(&cfg).with_psk(&sp));
        assert!(l.handshake(Duration::from_secs(10)));
        let _ = l.server.decrypt(&l.ssock, &g);
        for i in 0..3 {
            let msg = format!("genuine {i}");
            assert_eq!(l.client.write(&l.csock, msg.as_bytes()), msg.len() as i64);
            let d = drain(&l.ssock).remove(0);
            let r = l.server.decrypt(&l.ssock, &d);
            let delivered = r.as_deref() == Some(msg.as_bytes());
            let honest =
                l.server.state() == QDTLS_HANDSHAKE_NOT_STARTED && l.server.error() == QDTLS_ERROR_TLS_FATAL_ERROR;
            assert!(
                delivered || honest || !l.server.encrypted(),
                "{cipher}: genuine record {i}: decrypt {r:?} ({}, {:?}) while the handle says {} and encrypted",
                err_name(l.server.error()),
                l.server.error_string(),
                state_name(l.server.state())
            );
            if !l.server.encrypted() {
                break;
            }
        }
    }
}

// ---- floods over real sockets ---------------------------------------------------------------------

/// Bytes of a ClientHello's random: record header (13) + handshake header (12) + version (2).
const RANDOM_AT: usize = 27;

/// A real client whose handshake goes through the flooded verifier.
struct RealClient {
    dtls: Dtls,
    sock: UdpSocket,
    _psk: Box<Psk>,
    done: bool,
}

/// 100,000 cookie-less ClientHellos from 64 sockets into one verifier, most
/// with forged (spoofed) source addresses, so the verifier sees ~100,000
/// distinct clients. Real clients started every 1000 hellos must still be
/// verified and complete their handshakes, and memory must not grow with
/// the number of sources.
///
/// Why VmRSS growth below 20 MB shows there is no per-source state: after
/// a warm-up, 90% of the hellos come from ~90,000 sources never seen before.
/// Keeping anything per source (an SSL object is several KB; even a 256-byte
/// record) would add over 20 MB. The verifier keeps one reusable scratch SSL,
/// its parameters, the last error and the last verified hello, nothing else.
/// The test holds the file's lock exclusively, so no other test in this
/// binary allocates meanwhile.
#[test]
fn verifier_flood_keeps_no_per_source_state_and_real_clients_get_through() {
    let _g = EXCLUSIVE.write().unwrap_or_else(|e| e.into_inner());
    let n = env_count("QDTLS_FLOOD_HELLOS", 100_000);
    with_watchdog(Duration::from_secs(300), move || {
        let started = Instant::now();
        let vsock = nb_udp();
        let vaddr = vsock.local_addr().unwrap();
        let flooders: Vec<UdpSocket> = (0..64).map(|_| nb_udp()).collect();
        let flooder_ports: std::collections::HashSet<u16> =
            flooders.iter().map(|s| s.local_addr().unwrap().port()).collect();
        // Real cookie-less ClientHellos of both kinds, as templates.
        let (pc, cc) = corpus();
        let templates: Vec<Vec<u8>> = [pc, cc]
            .iter()
            .map(|c| c.dgrams.iter().find(|d| d.name == "client-hello-0").unwrap().data.clone())
            .collect();
        let v = Verifier::new();
        let scfg = Cfg::psk();
        scfg.cookies(true);
        let sp = Psk::new(b"", KEY);
        let ccfg = Cfg::psk();
        let mut servers: HashMap<SocketAddr, Dtls> = HashMap::new();
        let mut clients: Vec<RealClient> = Vec::new();
        let mut h = Histogram::default();
        let (mut hvrs_expected, mut hvrs_seen) = (0usize, 0usize);
        let mut rss_warm = 0;
        let warmup = n / 10;
        let mut sent = 0usize;
        while sent < n || clients.iter().any(|c| !c.done) {
            assert!(started.elapsed() < Duration::from_secs(240), "flood did not finish");
            if sent < n {
                for (k, f) in flooders.iter().enumerate() {
                    if sent >= n {
                        break;
                    }
                    let mut hello = templates[sent % templates.len()].clone();
                    hello[RANDOM_AT..RANDOM_AT + 8].copy_from_slice(&(sent as u64).to_be_bytes());
                    hello[RANDOM_AT + 8] = k as u8;
                    f.send_to(&hello, vaddr).unwrap();
                    sent += 1;
                    if sent % 1000 == 0 {
                        let psk = Psk::new(format!("real-{sent}").as_bytes(), KEY);
                        let dtls = Dtls::client().with_config(&ccfg).with_psk(&psk);
                        let sock = nb_udp();
                        assert!(dtls.set_peer(vaddr, ""));
                        set_first_timeout(&dtls, 100);
                        assert!(dtls.handshake(&sock, &[]));
                        clients.push(RealClient { dtls, sock, _psk: psk, done: false });
                    }
                    if sent == warmup {
                        rss_warm = vm_rss_kb();
                    }
                }
            }
            // The server's loop: known peers to their session, the rest to the verifier.
            let mut i = 0u32;
            while let Some((d, from)) = pending(&vsock) {
                i += 1;
                if let Some(s) = servers.get(&from) {
                    if s.encrypted() {
                        let Some(p) = s.decrypt(&vsock, &d) else {
                            // The real client's close_notify after its echo.
                            assert_eq!(s.error(), QDTLS_ERROR_REMOTE_CLOSED_CONNECTION_ERROR, "{}", s.error_string());
                            continue;
                        };
                        if !p.is_empty() {
                            assert!(p.starts_with(b"ping from "), "{p:?}");
                            assert_eq!(s.write(&vsock, &p), p.len() as i64);
                        }
                    } else {
                        s.handshake(&vsock, &d);
                    }
                    continue;
                }
                let flood = flooder_ports.contains(&from.port());
                // 7 in 8 flood hellos claim a source of their own (spoofed, 127/8:
                // the HelloVerifyRequests go nowhere); the rest keep their real one.
                let seq = u64::from_be_bytes(d[RANDOM_AT..RANDOM_AT + 8].try_into().unwrap()) as usize;
                let claimed = if flood && seq % 8 != 0 {
                    SocketAddr::new(
                        IpAddr::V4(Ipv4Addr::new(127, 1 + (seq >> 16) as u8, (seq >> 8) as u8, seq as u8)),
                        1024 + (seq % 60000) as u16,
                    )
                } else {
                    from
                };
                let ok = v.verify(&vsock, &d, claimed);
                assert_eq!(v.error(), QDTLS_ERROR_NO_ERROR);
                if flood {
                    assert!(!ok, "a cookie-less hello verified");
                    h.add(if claimed == from {
                        "flood hello, real source -> HelloVerifyRequest"
                    } else {
                        "flood hello, forged source -> HelloVerifyRequest"
                    });
                    hvrs_expected += (claimed == from) as usize;
                } else if ok {
                    h.add("real client hello with cookie -> verified, session created");
                    let s = Dtls::server().with_config(&scfg).with_psk(&sp);
                    assert!(s.set_peer(from, ""));
                    assert!(s.handshake(&vsock, &v.verified_hello()), "{}", s.error_string());
                    servers.insert(from, s);
                } else {
                    h.add("real client hello -> HelloVerifyRequest");
                }
                if i > 512 {
                    break; // let the clients run too
                }
            }
            for f in &flooders {
                hvrs_seen += drain(f).len();
            }
            for c in clients.iter_mut().filter(|c| !c.done) {
                while let Some((d, _)) = pending(&c.sock) {
                    if c.dtls.encrypted() {
                        let p = c.dtls.decrypt(&c.sock, &d).expect("client decrypt");
                        if !p.is_empty() {
                            assert!(p.starts_with(b"ping from "));
                            assert!(c.dtls.shutdown(&c.sock));
                            c.done = true;
                            break;
                        }
                    } else {
                        c.dtls.handshake(&c.sock, &d);
                    }
                }
                if c.done {
                    continue;
                }
                assert_ne!(
                    c.dtls.state(),
                    QDTLS_HANDSHAKE_NOT_STARTED,
                    "real client failed: {}",
                    c.dtls.error_string()
                );
                if c.dtls.encrypted() && c.dtls.next_timeout_ms() == -1 {
                    // Once: ping, the server echoes it.
                    let msg = format!("ping from {:?}", c.sock.local_addr().unwrap());
                    if c.dtls.max_payload() > 0 && pending(&c.sock).is_none() {
                        assert_eq!(c.dtls.write(&c.sock, msg.as_bytes()), msg.len() as i64);
                    }
                } else if c.dtls.next_timeout_ms() == 0 {
                    c.dtls.handle_timeout(&c.sock);
                }
            }
        }
        let rss_end = vm_rss_kb();
        let growth_kb = rss_end as i64 - rss_warm as i64;
        h.print(&format!(
            "verifier flood: {n} cookie-less hellos from 64 sockets, {} real clients, {:?}",
            clients.len(),
            started.elapsed()
        ));
        println!("  VmRSS after warm-up {rss_warm} kB, at the end {rss_end} kB: growth {growth_kb} kB");
        println!("  HelloVerifyRequests back at the flood sockets: {hvrs_seen} of {hvrs_expected} expected");
        assert_eq!(h.count("flood"), n, "every flood hello was judged");
        assert_eq!(clients.len(), n / 1000);
        assert!(clients.iter().all(|c| c.done), "every real client completed and got its echo");
        assert_eq!(servers.len(), clients.len(), "one session per real client, none for the flood");
        // Loopback does not lose datagrams we drain in time: an answer per real-source hello.
        assert_eq!(hvrs_seen, hvrs_expected);
        assert!(growth_kb < 20 * 1024, "memory grew by {growth_kb} kB over {} hellos", n - warmup);
    });
}

/// A flood of garbage from 16 attacker sockets at both ends of an
/// established session, whose application decrypts whatever arrives (the
/// worst case: no filtering by source); real messages interleaved are all
/// delivered intact, and the session works afterwards.
#[test]
fn garbage_flood_at_an_established_session_leaves_it_working() {
    let _g = shared();
    let n = env_count("QDTLS_FLOOD_GARBAGE", 20_000);
    with_watchdog(Duration::from_secs(300), move || {
        let mut pair = Pair::new(Flavour::Psk);
        assert!(pair.client.handshake(&pair.csock, &[]));
        pair.finish(Duration::from_secs(10)).unwrap();
        let mut base = corpus_datagrams();
        for len in [10usize, 200] {
            // This session's own records, delivered once: copies are replays.
            assert!(pair.client.write(&pair.csock, &vec![3; len]) > 0);
            let d = drain(&pair.ssock).remove(0);
            assert_eq!(pair.server.decrypt(&pair.ssock, &d).unwrap().len(), len);
            base.push(d);
            assert!(pair.server.write(&pair.ssock, &vec![4; len]) > 0);
            let d = drain(&pair.csock).remove(0);
            assert_eq!(pair.client.decrypt(&pair.csock, &d).unwrap().len(), len);
            base.push(d);
        }
        let attackers: Vec<UdpSocket> = (0..16).map(|_| nb_udp()).collect();
        let targets = [pair.ssock.local_addr().unwrap(), pair.csock.local_addr().unwrap()];
        let mut rng = Rng::new(0x5eed_0050);
        let (mut real_sent, mut real_got, mut garbage_seen) = (0usize, 0usize, 0usize);
        let mut h = Histogram::default();
        let mut sent = 0;
        while sent < n {
            for a in &attackers {
                let k = rng.below(KINDS.len());
                let g = garbage(&mut rng, &base, k);
                if !g.is_empty() {
                    a.send_to(&g, targets[sent % 2]).unwrap();
                }
                sent += 1;
            }
            if sent % 160 == 0 {
                let msg = format!("real message {real_sent}");
                let (tx, txs) =
                    if real_sent % 2 == 0 { (&pair.client, &pair.csock) } else { (&pair.server, &pair.ssock) };
                assert_eq!(tx.write(txs, msg.as_bytes()), msg.len() as i64);
                real_sent += 1;
            }
            for (d, s) in [(&pair.server, &pair.ssock), (&pair.client, &pair.csock)] {
                while let Some((dg, _)) = pending(s) {
                    match d.decrypt(s, &dg) {
                        Some(p) if !p.is_empty() => {
                            let text = String::from_utf8(p).expect("intact plaintext");
                            assert!(text.starts_with("real message "), "{text}");
                            real_got += 1;
                        }
                        Some(_) => {
                            garbage_seen += 1;
                            h.add("garbage -> 0 bytes, NoError");
                        }
                        None => {
                            garbage_seen += 1;
                            assert_eq!(d.error(), QDTLS_ERROR_TLS_NON_FATAL_ERROR, "{}", d.error_string());
                            h.add("garbage -> -1, TlsNonFatalError");
                        }
                    }
                    assert!(d.encrypted(), "the flood closed the session");
                }
            }
        }
        h.print(&format!("garbage flood: {n} datagrams from 16 sockets, {real_sent} real messages among them"));
        assert_eq!(real_got, real_sent, "every real message arrived once and intact");
        assert!(garbage_seen > n * 9 / 10, "the garbage was really delivered ({garbage_seen})");
        for (from_client, msg) in [(true, b"after".as_slice()), (false, b"flood".as_slice())] {
            let (tx, txs, rx, rxs) = if from_client {
                (&pair.client, &pair.csock, &pair.server, &pair.ssock)
            } else {
                (&pair.server, &pair.ssock, &pair.client, &pair.csock)
            };
            assert_eq!(tx.write(txs, msg), msg.len() as i64);
            let d = drain(rxs).remove(0);
            assert_eq!(rx.decrypt(rxs, &d).as_deref(), Some(msg));
        }
    });
}

// ---- threads ---------------------------------------------------------------------------------------

/// 16 threads, each running 3 certificate sessions in a row over ONE client
/// configuration, ONE server configuration and ONE verifier, while another
/// thread keeps copying the configurations. (tests/data.rs has 8 threads on
/// a PSK configuration; this adds certificates, cookies and a shared verifier.)
///
/// With a verifier shared by threads, a thread must not rely on
/// verified_hello() (another thread may verify in between, as in Qt): a
/// datagram that verified is itself the verified hello, so use it.
#[test]
fn threads_run_sessions_over_one_shared_configuration_and_verifier() {
    let _g = shared();
    with_watchdog(Duration::from_secs(120), || {
        let ccfg = cert_client_cfg();
        let scfg = cert_server_cfg(true);
        let v = Verifier::new();
        let (cc, sc, vv) = (SendPtr(ccfg.0), SendPtr(scfg.0), SendPtr(v.0));
        let stop = AtomicBool::new(false);
        let completed = AtomicUsize::new(0);
        std::thread::scope(|sc_| {
            let stop = &stop;
            sc_.spawn(move || {
                let (cc, sc) = (cc, sc);
                let mut copies = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    for c in [cc.0, sc.0] {
                        let copy = unsafe { qdtls_configuration_clone(c) };
                        assert!(!copy.is_null());
                        assert_eq!(unsafe { qdtls_configuration_ca_certificate_count(copy) }, unsafe {
                            qdtls_configuration_ca_certificate_count(c)
                        });
                        assert!(read_str(|b, n| unsafe { qdtls_configuration_ciphers(copy, b, n) }).contains("DEFAULT"));
                        unsafe { qdtls_configuration_free(copy) };
                        copies += 1;
                    }
                }
                assert!(copies > 0);
            });
            let workers: Vec<_> = (0..16)
                .map(|t| {
                    let completed = &completed;
                    sc_.spawn(move || {
                        let (cc, sc, vv) = (cc, sc, vv);
                        for round in 0..3 {
                            let client = Dtls::client();
                            let server = Dtls::server();
                            assert!(unsafe { qdtls_set_dtls_configuration(client.0, cc.0) });
                            assert!(unsafe { qdtls_set_dtls_configuration(server.0, sc.0) });
                            let (csock, ssock) = (nb_udp(), nb_udp());
                            let caddr = csock.local_addr().unwrap();
                            assert!(client.set_peer(ssock.local_addr().unwrap(), "flood.test"));
                            assert!(server.set_peer(caddr, ""));
                            set_first_timeout(&client, 200);
                            assert!(client.handshake(&csock, &[]));
                            let deadline = Instant::now() + Duration::from_secs(30);
                            while !(client.encrypted() && server.encrypted()) {
                                assert!(Instant::now() < deadline, "thread {t} round {round} did not complete");
                                while let Some((d, _)) = pending(&ssock) {
                                    if server.state() == QDTLS_HANDSHAKE_NOT_STARTED {
                                        let a = std::ffi::CString::new(caddr.ip().to_string()).unwrap();
                                        let ok = unsafe {
                                            qdtls_client_verifier_verify_client(
                                                vv.0,
                                                ssock.as_raw_fd(),
                                                d.as_ptr(),
                                                d.len(),
                                                a.as_ptr(),
                                                caddr.port(),
                                            )
                                        };
                                        if ok {
                                            assert!(server.handshake(&ssock, &d), "{}", server.error_string());
                                        }
                                    } else if server.encrypted() {
                                        server.decrypt(&ssock, &d);
                                    } else {
                                        server.handshake(&ssock, &d);
                                    }
                                }
                                while let Some((d, _)) = pending(&csock) {
                                    if client.encrypted() {
                                        client.decrypt(&csock, &d);
                                    } else {
                                        client.handshake(&csock, &d);
                                    }
                                }
                                assert_ne!(client.state(), QDTLS_HANDSHAKE_NOT_STARTED, "{}", client.error_string());
                                assert_ne!(client.state(), QDTLS_PEER_VERIFICATION_FAILED);
                                for (d, s) in [(&client, &csock), (&server, &ssock)] {
                                    if d.next_timeout_ms() == 0 {
                                        d.handle_timeout(s);
                                    }
                                }
                                std::thread::sleep(Duration::from_micros(200));
                            }
                            for i in 0..10 {
                                let msg = format!("t{t} r{round} m{i}");
                                assert_eq!(client.write(&csock, msg.as_bytes()), msg.len() as i64);
                                let got = loop {
                                    if let Some((d, _)) = pending(&ssock) {
                                        let p = server.decrypt(&ssock, &d).unwrap();
                                        if !p.is_empty() {
                                            break p;
                                        }
                                    }
                                    std::thread::yield_now();
                                };
                                assert_eq!(got, msg.as_bytes());
                                assert_eq!(server.write(&ssock, &got), got.len() as i64);
                                let back = loop {
                                    if let Some((d, _)) = pending(&csock) {
                                        let p = client.decrypt(&csock, &d).unwrap();
                                        if !p.is_empty() {
                                            break p;
                                        }
                                    }
                                    std::thread::yield_now();
                                };
                                assert_eq!(back, msg.as_bytes());
                            }
                            assert!(client.shutdown(&csock));
                            let close = loop {
                                if let Some((d, _)) = pending(&ssock) {
                                    break d;
                                }
                                std::thread::yield_now();
                            };
                            assert!(server.decrypt(&ssock, &close).is_none());
                            assert_eq!(server.error(), QDTLS_ERROR_REMOTE_CLOSED_CONNECTION_ERROR);
                            completed.fetch_add(1, Ordering::SeqCst);
                        }
                    })
                })
                .collect();
            for w in workers {
                w.join().unwrap();
            }
            stop.store(true, Ordering::SeqCst);
        });
        assert_eq!(completed.load(Ordering::SeqCst), 48);
        println!("48 certificate sessions on 16 threads over one configuration pair and one verifier");
    });
}

/// Whether `d` is an epoch-0 ClientHello.
fn is_client_hello(d: &[u8]) -> bool {
    d.len() > 13 && d[0] == 22 && d[3] == 0 && d[4] == 0 && d[13] == 1
}

/// Two threads hammer ONE client handle with random operations (handshake
/// steps, write, decrypt, shutdown, abort, set_peer, timers, configuration
/// and MTU setters) while a third thread runs a server that answers
/// whatever arrives. No crash, no deadlock (watchdog), every return value in
/// its documented domain, error codes from the documented set, no corrupted
/// plaintext at the server; afterwards the handle still handshakes normally.
///
/// The last error is per handle, so with two threads the code read after a
/// call may be the other thread's: codes are checked against the set every
/// operation can document, and PeerVerificationError / TlsInitializationError
/// (impossible with this PSK configuration) must never appear.
#[test]
fn threads_two_threads_hammer_one_handle() {
    let _g = shared();
    const OPS_PER_THREAD: usize = 20_000;
    let report = with_watchdog(Duration::from_secs(120), || {
        let cfg = Cfg::psk();
        let (cp, sp) = (Psk::new(b"hammer", KEY), Psk::new(b"", KEY));
        let client = Dtls::client().with_config(&cfg).with_psk(&cp);
        let csock = nb_udp();
        let ssock = nb_udp();
        let saddr = ssock.local_addr().unwrap();
        assert!(client.set_peer(saddr, ""));
        set_first_timeout(&client, 20);
        let stop = AtomicBool::new(false);
        let plaintexts = AtomicUsize::new(0);
        let sessions = AtomicUsize::new(0);
        let hist = Mutex::new(Histogram::default());
        let h = SendPtr(client.0);
        let cfgp = SendPtr(cfg.0);
        std::thread::scope(|sc| {
            let (stop, plaintexts, sessions, hist) = (&stop, &plaintexts, &sessions, &hist);
            let (ssock, csock, sp) = (&ssock, &csock, &sp);
            // The server: a new session for every new ClientHello.
            sc.spawn(move || {
                let mut server: Option<Dtls> = None;
                let mut random = Vec::new();
                while !stop.load(Ordering::SeqCst) {
                    let Some((d, from)) = pending(ssock) else {
                        if let Some(s) = &server {
                            if s.next_timeout_ms() == 0 {
                                s.handle_timeout(ssock);
                            }
                        }
                        std::thread::sleep(Duration::from_micros(200));
                        continue;
                    };
                    // A ClientHello with a new random starts a new handshake (a
                    // retransmitted or cookie-less one repeats the random).
                    let new_random = is_client_hello(&d) && d[RANDOM_AT..RANDOM_AT + 32] != random[..];
                    if new_random {
                        random = d[RANDOM_AT..RANDOM_AT + 32].to_vec();
                        let s = Dtls::server().with_config(&shared_cfgs().psk).with_psk(sp);
                        assert!(s.set_peer(from, ""));
                        set_first_timeout(&s, 20);
                        s.handshake(ssock, &d);
                        sessions.fetch_add(1, Ordering::SeqCst);
                        server = Some(s);
                        continue;
                    }
                    let Some(s) = &server else { continue };
                    match s.state() {
                        QDTLS_HANDSHAKE_IN_PROGRESS => {
                            s.handshake(ssock, &d);
                        }
                        QDTLS_HANDSHAKE_COMPLETE => {
                            if let Some(p) = s.decrypt(ssock, &d) {
                                if !p.is_empty() {
                                    let text = String::from_utf8(p).expect("intact plaintext");
                                    assert!(text.starts_with("hammer "), "corrupted plaintext {text:?}");
                                    plaintexts.fetch_add(1, Ordering::SeqCst);
                                    let _ = s.write(ssock, b"ack");
                                }
                            }
                        }
                        _ => {}
                    }
                }
            });
            // Stops the server thread even if a hammer panics (the scope joins it).
            struct StopOnDrop<'a>(&'a AtomicBool);
            impl Drop for StopOnDrop<'_> {
                fn drop(&mut self) {
                    self.0.store(true, Ordering::SeqCst);
                }
            }
            let _stop_guard = StopOnDrop(stop);
            let hammers: Vec<_> = (0..2u64)
                .map(|t| {
                    sc.spawn(move || {
                        let (h, cfgp) = (h, cfgp);
                        // Borrowed: never freed here, even if this thread panics.
                        let d = std::mem::ManuallyDrop::new(Dtls(h.0));
                        let mut rng = Rng::new(0x4a11 + t);
                        let allowed = [
                            QDTLS_ERROR_NO_ERROR,
                            QDTLS_ERROR_INVALID_INPUT_PARAMETERS,
                            QDTLS_ERROR_INVALID_OPERATION,
                            QDTLS_ERROR_UNDERLYING_SOCKET_ERROR,
                            QDTLS_ERROR_REMOTE_CLOSED_CONNECTION_ERROR,
                            QDTLS_ERROR_TLS_FATAL_ERROR,
                            QDTLS_ERROR_TLS_NON_FATAL_ERROR,
                        ];
                        let mut local = Histogram::default();
                        for i in 0..OPS_PER_THREAD {
                            // Weighted so that handshakes often complete between the
                            // disruptive operations (shutdown, abort, restart).
                            const WEIGHTS: [usize; 16] = [4, 12, 12, 12, 12, 12, 10, 10, 6, 2, 3, 2, 10, 3, 4, 6];
                            let mut pick = rng.below(WEIGHTS.iter().sum());
                            let op = WEIGHTS.iter().position(|&w| {
                                pick < w || {
                                    pick -= w;
                                    false
                                }
                            });
                            let op = op.unwrap();
                            let (name, result): (&str, String) = match op {
                                0 => ("do_handshake(start)", d.handshake(csock, &[]).to_string()),
                                1..=5 => {
                                    // Feed what arrived, by the state seen a moment ago.
                                    match pending(csock) {
                                        None => ("feed (nothing)", "-".into()),
                                        Some((dg, _)) if d.encrypted() => match d.decrypt(csock, &dg) {
                                            Some(p) => {
                                                assert!(p.is_empty() || p == b"ack", "{p:?}");
                                                ("decrypt", format!("{} bytes", p.len()))
                                            }
                                            None => ("decrypt", "-1".into()),
                                        },
                                        Some((dg, _)) => {
                                            ("do_handshake(datagram)", d.handshake(csock, &dg).to_string())
                                        }
                                    }
                                }
                                6 | 7 => {
                                    let msg = format!("hammer {t} {i}");
                                    let r = d.write(csock, msg.as_bytes());
                                    assert!(r == -1 || r == msg.len() as i64, "write returned {r}");
                                    ("write", if r < 0 { "-1".into() } else { "len".into() })
                                }
                                8 => {
                                    let len = rng.below(100);
                                    let g = rng.bytes(len);
                                    let r = d.decrypt(csock, &g);
                                    assert!(r.as_ref().is_none_or(|p| p.is_empty()));
                                    ("decrypt(garbage)", if r.is_some() { "0 bytes" } else { "-1" }.into())
                                }
                                9 => ("shutdown", d.shutdown(csock).to_string()),
                                10 => ("set_peer", d.set_peer(saddr, "").to_string()),
                                11 => ("abort_handshake", d.abort(csock).to_string()),
                                12 => ("handle_timeout", d.handle_timeout(csock).to_string()),
                                13 => ("resume_handshake", d.resume(csock).to_string()),
                                14 => {
                                    unsafe { qdtls_set_mtu_hint(d.0, [0u16, 1200, 1400][rng.below(3)]) };
                                    let t = d.next_timeout_ms();
                                    assert!(t >= -1);
                                    let ok = unsafe { qdtls_set_dtls_configuration(d.0, cfgp.0) };
                                    ("set_mtu_hint+set_dtls_configuration", ok.to_string())
                                }
                                _ => {
                                    let ok = d.ignore(&[]);
                                    assert!(ok);
                                    // One call each with a large buffer: the harness's
                                    // read_str asks twice, which races with the other thread.
                                    let mut buf = [0u8; 1024];
                                    let n = unsafe { qdtls_dtls_error_string(d.0, buf.as_mut_ptr().cast(), buf.len()) };
                                    assert!(n < buf.len() && buf[n] == 0, "error string not NUL-terminated");
                                    let n = unsafe { qdtls_session_cipher(d.0, buf.as_mut_ptr().cast(), buf.len()) };
                                    assert!(n < buf.len() && buf[n] == 0);
                                    let _ = (d.protocol(), d.max_payload(), d.state(), d.encrypted());
                                    ("getters+ignore_verification_errors", ok.to_string())
                                }
                            };
                            let e = d.error();
                            assert!(
                                allowed.contains(&e),
                                "{name}: error {e} ({}) is not a documented outcome",
                                err_name(e)
                            );
                            local.add(format!("{name:<38} {result:<8} last error {}", err_name(e)));
                            if op == 0 || op == 9 || op == 11 {
                                std::thread::sleep(Duration::from_micros(300));
                            }
                        }
                        let mut g = hist.lock().unwrap();
                        for (k, v) in local.0 {
                            *g.0.entry(k).or_default() += v;
                        }
                    })
                })
                .collect();
            for hm in hammers {
                hm.join().unwrap();
            }
            stop.store(true, Ordering::SeqCst);
        });
        // The storm is over: the same handle, brought back to NotStarted, runs a
        // normal session with a fresh server (the storm's server had stale
        // ClientHellos queued, whose answers would only confuse a new handshake).
        match client.state() {
            QDTLS_HANDSHAKE_COMPLETE => assert!(client.shutdown(&csock)),
            QDTLS_HANDSHAKE_IN_PROGRESS | QDTLS_PEER_VERIFICATION_FAILED => assert!(client.abort(&csock)),
            _ => {}
        }
        assert_eq!(client.state(), QDTLS_HANDSHAKE_NOT_STARTED);
        let fresh = nb_udp();
        let server = Dtls::server().with_config(&cfg).with_psk(&sp);
        assert!(server.set_peer(csock.local_addr().unwrap(), ""));
        assert!(client.set_peer(fresh.local_addr().unwrap(), ""));
        std::thread::sleep(Duration::from_millis(20));
        let _ = drain(&csock);
        assert!(client.handshake(&csock, &[]), "{}", client.error_string());
        let deadline = Instant::now() + Duration::from_secs(20);
        while !(client.encrypted() && server.encrypted()) {
            assert!(Instant::now() < deadline, "no handshake after the storm: {}", client.error_string());
            while let Some((dg, _)) = pending(&fresh) {
                server.handshake(&fresh, &dg);
            }
            while let Some((dg, _)) = pending(&csock) {
                client.handshake(&csock, &dg);
            }
            if client.next_timeout_ms() == 0 {
                client.handle_timeout(&csock);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(client.write(&csock, b"hammer final"), 12);
        let dg = drain(&fresh).remove(0);
        assert_eq!(server.decrypt(&fresh, &dg).as_deref(), Some(&b"hammer final"[..]));
        let h = hist.into_inner().unwrap();
        (h, sessions.load(Ordering::SeqCst), plaintexts.load(Ordering::SeqCst))
    });
    let (h, sessions, plaintexts) = report;
    h.print(&format!("two threads x {OPS_PER_THREAD} operations on one handle"));
    println!("  server sessions started: {sessions}, plaintexts received intact: {plaintexts}");
    // The storm really reached every kind of outcome: handshakes completed
    // (writes went through and the server read them) and were torn down again.
    assert!(h.count("write                                  len") > 0, "no write ever succeeded");
    assert!(plaintexts > 0 && sessions >= 2, "sessions {sessions}, plaintexts {plaintexts}");
    assert!(h.count("shutdown                               true") > 0);
    assert!(h.count("abort_handshake                        true") > 0);
}

// ---- the fuzz corpus ----------------------------------------------------------------------

/// The cookie secret the fuzz targets use (fuzz/src/lib.rs has the same bytes).
const FUZZ_COOKIE_SECRET: &[u8] = b"qdtls fuzz cookie secret, fixed.";

/// Writes the seed corpus of fuzz/ from real captured traffic:
/// `cargo test --test flood write_fuzz_corpus -- --ignored`. The input formats
/// are those of fuzz/src/lib.rs.
#[test]
#[ignore = "writes fuzz/corpus; run by hand when the formats change"]
fn write_fuzz_corpus() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz").join("corpus");
    let params = Some((QDTLS_HASH_SHA256, FUZZ_COOKIE_SECRET));
    let captures = [("psk", capture(Flavour::Psk, params)), ("cert", capture(Flavour::Cert, params))];
    let write = |target: &str, name: &str, bytes: &[u8]| {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), bytes).unwrap();
    };
    let mut count = 0;
    for (flavour, cap) in &captures {
        let port = cap.client_addr.port().to_be_bytes();
        for c in &cap.dgrams {
            let name = format!("{flavour}-{}", c.name);
            // verify_client: port, datagram (cookies bound to 127.0.0.1:port).
            write("verify_client", &name, &[&port[..], &c.data].concat());
            // server_first: flags (bit 0 cookies, bit 1 certificate), port, datagram.
            if c.to_server {
                let cert = u8::from(*flavour == "cert") << 1;
                let cookies = u8::from(c.name.starts_with("client-hello-cookie"));
                write("server_first", &name, &[&[cert | cookies], &port[..], &c.data].concat());
            }
            // decrypt: mode 0 = the raw datagram.
            write("decrypt", &name, &[&[0u8], &c.data[..]].concat());
            count += 1;
        }
    }
    // decrypt, mode 1: the fuzz target's own record k, then (offset, xor) edits.
    for (k, edits) in
        [(0u8, vec![]), (1, vec![]), (2, vec![20u8, 0x01]), (3, vec![5, 0xff, 30, 0x80]), (0, vec![11, 0x40])]
    {
        write("decrypt", &format!("own-record-{k}-{}", edits.len() / 2), &[&[1u8, k], &edits[..]].concat());
        count += 1;
    }
    println!("wrote {count} corpus files to {}", root.display());
}
