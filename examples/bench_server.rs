//! benches/server.sh's benchmark of `qdtls::Server` (issue 11): many peers
//! on one socket. Settings as benches/main.cpp: PSK-AES128-GCM-SHA256, DTLS
//! 1.2, client MTU hint 1500, VerifyNone, loopback UDP on 127.0.0.0/8 or no
//! sockets at all (the server's sans-I/O `handle_datagram`). Rates are per
//! CPU-second of this process (CLOCK_PROCESS_CPUTIME_ID) unless the line
//! says otherwise, after a warm-up of 15 % of the measured time, as rate()
//! in benches/bench.hpp does.
//!
//! cargo run --release --example bench_server -- SCENARIO [--seconds S] [--peers N] [--only METRIC]
//!
//! `--peers`: idle peers (default 10,000); `--only`: one measurement (for profiling).
//!
//! Scenarios (each prints `RESULT <metric> rust-server <value> <unit>` lines
//! and `NOTE ...` lines with what was checked):
//!
//! - `idle`: 10,000 peers established through `handle_datagram` (cookie
//!   exchange on, the default), each client `Dtls` dropped as soon as its
//!   handshake completed, so only the server's side stays; RSS
//!   (/proc/self/statm) and heap (mallinfo2) per peer over the 10,000, and
//!   the cost of `next_timeout()` + `handle_timeouts()` with 100, 1,000 and
//!   10,000 idle peers, each with an idle-timeout entry in the timer heap.
//! - `handshakes`: PSK handshakes through one server socket, a new client
//!   socket (port) and `Dtls` per handshake, client and server in this
//!   thread, the peer closed (its close_notify to a null transport) once
//!   connected; cookie exchange off (as raw OpenSSL's loop) and on; beside
//!   it the one-pair loop of the Rust API (`Dtls` on both sides, new socket
//!   pair each); and the split of CPU time between the server's calls and
//!   the clients' (CLOCK_THREAD_CPUTIME_ID around every server call).
//! - `reuseport`: 1 and then 2 server threads, each with its own `Server`
//!   on its own SO_REUSEPORT socket of one port (cookie secret shared), fed
//!   by 2 client threads keeping 16 handshakes each in flight; handshakes
//!   per wall second, and per CPU-second of the server threads alone (their
//!   CLOCK_THREAD_CPUTIME_ID), which is what the servers would do with a
//!   core each; three alternations, the best of each counts.
//! - `data`: 1200-byte datagrams, client to server: one `Dtls` pair (the
//!   one-session figure), the server with 1 peer and with 1,000 peers
//!   round-robin (`recv_from` + `handle_datagram` per datagram); then bursts
//!   of 32 datagrams from 32 consecutive peers, drained by the server one by
//!   one (`recv_from` + `handle_datagram`) or with `Server::receive`
//!   (recvmmsg), with the server's own CPU time measured per burst; and,
//!   as controls, the same bursts only received (recv_from or recvmmsg).
//!   The measurements run in alternating segments, the best of four each
//!   (see `alternating`).
//! - `decrypt`: the receive side alone, without sockets: datagrams
//!   encrypted beforehand, then decrypted by plain `Dtls` sessions (1 or
//!   1,000 round-robin, the benchmark knowing which) or handed to
//!   `Server::handle_datagram` (1 or 1,000 peers); CPU time of that loop,
//!   a quarter of each stream at a time in turn, the best quarter each.
//! - `flood`: 1,000,000 cookie-less ClientHellos from random IPv4 sources
//!   through `handle_datagram` (a counting transport), then 100,000 with
//!   valid cookies for their sources (known cookie parameters, the HMAC
//!   computed here as the server does, with the `openssl` crate) that never
//!   finish; a real client connects in the middle of each; RSS and heap
//!   before and after, and the largest peer and handshake counts seen.
//! - `flood-socket`: the same cookie-less flood over real sockets: a sender
//!   thread with `sendmmsg` from 1,024 sockets bound to 127.x.y.1 into the
//!   server's socket, the server on this thread with `Server::receive`, a
//!   real client thread connecting after the first 300,000; then, as
//!   controls without DTLS, the same flood read with recvmmsg and answered
//!   with one `sendto` each, or one `sendmmsg` per batch.

use std::collections::VecDeque;
use std::io::{self, ErrorKind};
use std::mem::size_of;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use qdtls::{
    CloseReason, Configuration, CookieHash, Dtls, GeneratorParameters, PeerVerifyMode, Protocol, Server, ServerEvents,
    SslMode, Transport,
};

type BoxResult<T> = Result<T, Box<dyn std::error::Error>>;

const IMPL: &str = "rust-server";
const PAYLOAD: usize = 1200;
const MTU: u16 = 1500;
const PSK_CIPHER: &str = "PSK-AES128-GCM-SHA256";
const PSK_IDENTITY: &[u8] = b"bench client";
const PSK_KEY: &[u8] = b"0123456789abcdef";
/// The server's address in the sans-I/O scenarios (nothing is bound there).
const SANS_IO_SERVER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 4433);

/// `--only METRIC`: run only the measurement of that metric (for profiling).
static ONLY: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();

fn wanted(metric: &str) -> bool {
    ONLY.get().and_then(|o| o.as_deref()).is_none_or(|o| o == metric)
}

// ---- clocks, memory, output ------------------------------------------------------------------------

fn clock(id: libc::clockid_t) -> f64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: ts is a valid timespec for the call to fill.
    unsafe { libc::clock_gettime(id, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

fn cpu_seconds() -> f64 {
    clock(libc::CLOCK_PROCESS_CPUTIME_ID)
}

fn thread_cpu_seconds() -> f64 {
    clock(libc::CLOCK_THREAD_CPUTIME_ID)
}

/// Resident set size from /proc/self/statm (pages in memory, second field).
fn rss_bytes() -> u64 {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = s.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    pages * unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64
}

/// Bytes of heap in use (glibc's mallinfo2: uordblks + hblkhd), as benches/common.cpp.
fn heap_bytes() -> u64 {
    // SAFETY: mallinfo2 has no preconditions.
    let m = unsafe { libc::mallinfo2() };
    (m.uordblks + m.hblkhd) as u64
}

struct Rate {
    per_cpu_second: f64,
    per_wall_second: f64,
    cpu_share: f64,
}

/// bench.hpp's rate(): a warm-up, then `op` for `seconds` of elapsed time,
/// the clocks read every `stride` calls; `op` returns how many operations it did.
fn rate(seconds: f64, stride: u32, mut op: impl FnMut() -> BoxResult<u64>) -> BoxResult<Rate> {
    let t0 = Instant::now();
    while t0.elapsed().as_secs_f64() < seconds * 0.15 {
        for _ in 0..stride {
            op()?;
        }
    }
    let mut n = 0u64;
    let t0 = Instant::now();
    let c0 = cpu_seconds();
    let mut t;
    loop {
        for _ in 0..stride {
            n += op()?;
        }
        t = t0.elapsed().as_secs_f64();
        if t >= seconds {
            break;
        }
    }
    let c = cpu_seconds() - c0;
    Ok(Rate { per_cpu_second: n as f64 / c, per_wall_second: n as f64 / t, cpu_share: c / t })
}

fn result(metric: &str, value: f64, unit: &str) {
    println!("RESULT {metric} {IMPL} {value:.6} {unit}");
}

fn report(metric: &str, r: &Rate, unit: &str) {
    result(metric, r.per_cpu_second, unit);
    println!("WALL {metric} {IMPL} {:.6} {unit}", r.per_wall_second);
    println!("CPUSHARE {metric} {IMPL} {:.3}", r.cpu_share);
}

fn note(text: &str) {
    println!("NOTE {text}");
}

// ---- configurations, sockets, transports ---------------------------------------------------------------

fn configuration(cookies: bool) -> BoxResult<Configuration> {
    let mut c = Configuration::new();
    c.set_protocol(Protocol::DtlsV1_2);
    c.set_dtls_cookie_verification_enabled(cookies);
    c.set_ciphers(Some(PSK_CIPHER))?;
    c.set_peer_verify_mode(PeerVerifyMode::VerifyNone);
    Ok(c)
}

fn psk(auth: &mut qdtls::PskAuthenticator) {
    auth.set_identity(PSK_IDENTITY);
    auth.set_pre_shared_key(PSK_KEY);
}

fn client(cfg: &Configuration, server: SocketAddr) -> BoxResult<Dtls> {
    let d = Dtls::new(SslMode::Client);
    d.set_dtls_configuration(cfg)?;
    d.set_peer(server, "")?;
    d.set_mtu_hint(MTU);
    d.set_psk_callback(psk);
    Ok(d)
}

fn server(cookies: bool) -> BoxResult<Server> {
    let mut s = Server::new(&configuration(cookies)?)?;
    s.set_psk_callback(|_peer, auth| auth.set_pre_shared_key(PSK_KEY));
    Ok(s)
}

fn local_socket(ip: Ipv4Addr) -> BoxResult<UdpSocket> {
    let s = UdpSocket::bind(SocketAddr::new(IpAddr::V4(ip), 0))?;
    s.set_nonblocking(true)?;
    Ok(s)
}

fn setsockopt_int(fd: i32, level: i32, name: i32, value: i32) -> bool {
    // SAFETY: value lives for the call; the kernel checks fd.
    unsafe {
        libc::setsockopt(fd, level, name, (&value as *const i32).cast(), size_of::<i32>() as libc::socklen_t) == 0
    }
}

/// A non-blocking UDP socket with SO_REUSEPORT bound to `addr`.
fn reuseport_socket(addr: SocketAddrV4) -> io::Result<UdpSocket> {
    // SAFETY: plain socket calls; the descriptor is owned by the UdpSocket made from it.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let sock = UdpSocket::from_raw_fd(fd);
        if !setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_REUSEPORT, 1) {
            return Err(io::Error::last_os_error());
        }
        let sa = sockaddr_in(addr);
        let r = libc::bind(fd, (&sa as *const libc::sockaddr_in).cast(), size_of::<libc::sockaddr_in>() as u32);
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(sock)
    }
}

fn sockaddr_in(a: SocketAddrV4) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: a.port().to_be(),
        sin_addr: libc::in_addr { s_addr: u32::from(*a.ip()).to_be() },
        sin_zero: [0; 8],
    }
}

/// A large receive buffer (SO_RCVBUFFORCE when allowed); the size the kernel reports.
fn big_receive_buffer(s: &UdpSocket, bytes: i32) -> i32 {
    let fd = s.as_raw_fd();
    if !setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, bytes) {
        setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, bytes);
    }
    let mut v: i32 = 0;
    let mut len = size_of::<i32>() as libc::socklen_t;
    // SAFETY: v and len are valid for writing.
    unsafe { libc::getsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, (&mut v as *mut i32).cast(), &mut len) };
    v
}

fn wait_readable(fds: &[i32], ms: i32) {
    let mut p: Vec<libc::pollfd> =
        fds.iter().map(|&fd| libc::pollfd { fd, events: libc::POLLIN, revents: 0 }).collect();
    // SAFETY: p is a valid array of pollfd.
    unsafe { libc::poll(p.as_mut_ptr(), p.len() as libc::nfds_t, ms) };
}

/// Sends nothing (a peer's close_notify when it is closed after the measurement's handshake).
struct Null;

impl Transport for Null {
    fn send(&mut self, _: &[u8], _: SocketAddr) -> io::Result<()> {
        Ok(())
    }
    fn path_mtu(&mut self) -> Option<u32> {
        None
    }
}

/// Keeps what was sent, with its destination (sans-I/O set-up).
#[derive(Default)]
struct Wire(VecDeque<(Vec<u8>, SocketAddr)>);

impl Transport for Wire {
    fn send(&mut self, dgram: &[u8], peer: SocketAddr) -> io::Result<()> {
        self.0.push_back((dgram.to_vec(), peer));
        Ok(())
    }
    fn path_mtu(&mut self) -> Option<u32> {
        None
    }
}

/// What the server reported.
#[derive(Default)]
struct Events {
    connected: Vec<SocketAddr>,
    datagrams: u64,
    bad_datagrams: u64,
    /// Connected peers gone.
    closed: u64,
    /// Handshakes gone before they completed.
    failed: u64,
    /// Either, evicted to make room.
    evicted: u64,
}

impl ServerEvents for Events {
    fn connected(&mut self, peer: &Dtls, _: &mut dyn Transport) {
        if let Some(a) = peer.peer_address() {
            self.connected.push(a);
        }
    }
    fn datagram(&mut self, _peer: &Dtls, data: &[u8], _: &mut dyn Transport) {
        self.datagrams += 1;
        if data.len() != PAYLOAD {
            self.bad_datagrams += 1;
        }
    }
    fn closed(&mut self, _peer: &Dtls, reason: CloseReason) {
        self.closed += 1;
        if reason == CloseReason::Evicted {
            self.evicted += 1;
        }
    }
    fn handshake_failed(&mut self, _peer: &Dtls, reason: CloseReason) {
        self.failed += 1;
        if reason == CloseReason::Evicted {
            self.evicted += 1;
        }
    }
}

/// Every queued datagram of `sock` to the client `d`'s handshake; how many there were.
fn feed(d: &Dtls, sock: &UdpSocket, buf: &mut [u8]) -> BoxResult<usize> {
    let mut count = 0;
    loop {
        let n = match sock.recv(buf) {
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(count),
            Err(e) => return Err(e.into()),
        };
        count += 1;
        if !d.is_connection_encrypted() {
            d.do_handshake(&mut &*sock, &buf[..n])?;
        }
    }
}

/// A handshake of client `c` on `cs` with `server` on `ss`, until the
/// client is encrypted (the server is connected before: its last flight
/// completes the client). `server_cpu` adds the thread CPU time of the
/// server's calls when given.
fn server_handshake(
    server: &mut Server,
    ss: &UdpSocket,
    c: &Dtls,
    cs: &UdpSocket,
    ev: &mut Events,
    buf: &mut [u8],
    mut server_cpu: Option<&mut f64>,
) -> BoxResult<()> {
    c.do_handshake(&mut &*cs, &[])?;
    let mut idle = 0;
    while !c.is_connection_encrypted() {
        let t0 = server_cpu.as_ref().map(|_| thread_cpu_seconds());
        let a = server.receive(ss, ev)?;
        if let (Some(t0), Some(acc)) = (t0, server_cpu.as_deref_mut()) {
            *acc += thread_cpu_seconds() - t0;
        }
        let b = feed(c, cs, buf)?;
        if a + b == 0 {
            idle += 1;
            if idle >= 100 {
                return Err("handshake stuck".into());
            }
            wait_readable(&[cs.as_raw_fd(), ss.as_raw_fd()], 20);
            server.handle_timeouts(&mut &*ss, ev)?;
            c.handle_timeout(&mut &*cs)?;
        }
    }
    Ok(())
}

/// A sans-I/O handshake of a client at `from` with `server`: everything the
/// client sends goes to handle_datagram, everything the server sends back
/// to the client. Returns the client (encrypted).
fn sans_io_connect(server: &mut Server, cfg: &Configuration, from: SocketAddr, ev: &mut Events) -> BoxResult<Dtls> {
    let c = client(cfg, SANS_IO_SERVER)?;
    let (mut cout, mut sout) = (Wire::default(), Wire::default());
    c.do_handshake(&mut cout, &[])?;
    for _ in 0..32 {
        while let Some((d, _)) = cout.0.pop_front() {
            server.handle_datagram(&mut sout, from, &d, ev)?;
        }
        while let Some((d, to)) = sout.0.pop_front() {
            if to != from {
                return Err(format!("the server sent to {to}, not {from}").into());
            }
            if !c.is_connection_encrypted() {
                c.do_handshake(&mut cout, &d)?;
            }
        }
        if c.is_connection_encrypted() && cout.0.is_empty() {
            return Ok(c);
        }
    }
    Err(format!("sans-I/O handshake from {from} did not complete").into())
}

/// A distinct source address for peer `i` of the sans-I/O scenarios.
fn peer_addr(i: u32) -> SocketAddr {
    let ip = Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 0, 0, 0)) + i + 1);
    SocketAddr::new(IpAddr::V4(ip), 40000 + (i % 20000) as u16)
}

/// xorshift64*: the flood's random sources.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// A unicast IPv4 source (1.0.0.0 to 223.255.255.255) with a port above 0.
    fn source(&mut self) -> SocketAddr {
        let r = self.next();
        let ip = (r as u32 % (224 << 24)).max(1 << 24);
        let port = ((r >> 32) as u16).max(1);
        SocketAddr::new(IpAddr::V4(Ipv4Addr::from(ip)), port)
    }
}

// ---- idle: memory per peer, timers ---------------------------------------------------------------------

fn idle(seconds: f64, peers: u32) -> BoxResult<()> {
    let stages: Vec<u32> = [100, 1_000, 10_000].into_iter().filter(|&s| s < peers).chain([peers]).collect();
    let cfg = configuration(true)?;
    let mut server = server(true)?;
    server.set_idle_timeout(Some(Duration::from_secs(3600)));
    let mut ev = Events::default();
    let mut sink = Null;
    // One peer first, so the context, the table's first allocations and lazy statics do not count.
    drop(sans_io_connect(&mut server, &cfg, peer_addr(0), &mut ev)?);
    server.next_timeout();
    server.handle_timeouts(&mut sink, &mut ev)?;
    let (rss0, heap0) = (rss_bytes(), heap_bytes());
    let t0 = Instant::now();
    let c0 = cpu_seconds();
    let mut made = 1u32;
    let mut build_cpu = 0.0;
    for &stage in &stages {
        let c1 = cpu_seconds();
        while made < stage {
            // The client's Dtls is dropped here: only the server's side of the peer stays.
            drop(sans_io_connect(&mut server, &cfg, peer_addr(made), &mut ev)?);
            made += 1;
        }
        build_cpu += cpu_seconds() - c1;
        if server.peer_count() != stage as usize || server.handshake_count() != 0 {
            return Err(format!("{} peers, {} handshaking", server.peer_count(), server.handshake_count()).into());
        }
        if stage == peers {
            let (rss1, heap1) = (rss_bytes(), heap_bytes());
            let n = f64::from(peers - 1);
            result("server_idle_rss_per_peer", (rss1 as f64 - rss0 as f64) / n, "bytes");
            result("server_idle_heap_per_peer", (heap1 as f64 - heap0 as f64) / n, "bytes");
            note(&format!(
                "idle: RSS {} -> {} kB, heap {} -> {} kB for {} more peers (clients dropped after each handshake)",
                rss0 / 1024,
                rss1 / 1024,
                heap0 / 1024,
                heap1 / 1024,
                peers - 1
            ));
        }
        // next_timeout() + handle_timeouts() with nothing due: every peer has an idle entry.
        let mut handled = 0usize;
        let r = rate(seconds / 3.0, 1000, || {
            std::hint::black_box(server.next_timeout());
            handled += server.handle_timeouts(&mut sink, &mut ev)?;
            Ok(1)
        })?;
        if handled != 0 || server.next_timeout().is_none() {
            return Err("a timer ran or none was set".into());
        }
        result(&format!("server_timer_ns_{stage}"), 1e9 / r.per_cpu_second, "ns");
    }
    let _ = (t0, c0);
    result("server_sans_io_handshakes", f64::from(peers - 1) / build_cpu, "hs/s");
    note(&format!(
        "idle: {} peers, {} closed, {} handshakes failed, idle timeout 3600 s",
        server.peer_count(),
        ev.closed,
        ev.failed
    ));
    Ok(())
}

// ---- handshakes -----------------------------------------------------------------------------------

fn handshakes(seconds: f64) -> BoxResult<()> {
    let mut buf = vec![0u8; 2048];
    let lo = Ipv4Addr::LOCALHOST;
    for cookies in [false, true] {
        let suffix = if cookies { "_cookie" } else { "" };
        if !wanted(&format!("server_psk_handshakes{suffix}")) {
            continue;
        }
        let ccfg = configuration(false)?;
        let ss = local_socket(lo)?;
        let sa = ss.local_addr()?;
        let mut srv = server(cookies)?;
        let mut ev = Events::default();
        let mut one = |server_cpu: Option<&mut f64>| -> BoxResult<u64> {
            let cs = local_socket(lo)?;
            let c = client(&ccfg, sa)?;
            let before = ev.connected.len();
            server_handshake(&mut srv, &ss, &c, &cs, &mut ev, &mut buf, server_cpu)?;
            if ev.connected.len() != before + 1 {
                return Err("the server did not report the peer".into());
            }
            let addr = cs.local_addr()?;
            srv.close_peer(&mut Null, addr, &mut ev)?;
            ev.connected.clear();
            Ok(1)
        };
        let r = rate(seconds, 1, || one(None))?;
        report(&format!("server_psk_handshakes{suffix}"), &r, "hs/s");
        // The split: the same loop with the server's calls timed on this thread's clock.
        let mut server_cpu = 0.0;
        let (c0, mut n) = (thread_cpu_seconds(), 0u64);
        let t0 = Instant::now();
        while t0.elapsed().as_secs_f64() < seconds / 2.0 {
            n += one(Some(&mut server_cpu))?;
        }
        let total = thread_cpu_seconds() - c0;
        result(&format!("server_cpu_us_per_handshake{suffix}"), server_cpu / n as f64 * 1e6, "us");
        result(&format!("client_cpu_us_per_handshake{suffix}"), (total - server_cpu) / n as f64 * 1e6, "us");
        if srv.peer_count() != 0 {
            return Err(format!("{} peers left", srv.peer_count()).into());
        }
    }
    // The one-pair loop of the Rust API (examples/bench_rust_api.rs psk): a Dtls on each side.
    if !wanted("pair_psk_handshakes") {
        return Ok(());
    }
    let cfg = configuration(false)?;
    let r = rate(seconds, 1, || {
        let cs = local_socket(lo)?;
        let ss = local_socket(lo)?;
        let c = client(&cfg, ss.local_addr()?)?;
        let s = Dtls::new(SslMode::Server);
        s.set_dtls_configuration(&cfg)?;
        s.set_peer(cs.local_addr()?, "")?;
        s.set_mtu_hint(MTU);
        s.set_psk_callback(psk);
        c.do_handshake(&mut &cs, &[])?;
        let mut idle = 0;
        while !(c.is_connection_encrypted() && s.is_connection_encrypted()) {
            let a = feed(&s, &ss, &mut buf)?;
            let b = feed(&c, &cs, &mut buf)?;
            if a + b == 0 {
                idle += 1;
                if idle >= 100 {
                    return Err("pair handshake stuck".into());
                }
                wait_readable(&[cs.as_raw_fd(), ss.as_raw_fd()], 20);
            }
        }
        Ok(1)
    })?;
    report("pair_psk_handshakes", &r, "hs/s");
    Ok(())
}

// ---- reuseport: one server thread vs two ----------------------------------------------------------

const CLIENT_THREADS: usize = 2;
const IN_FLIGHT: usize = 16;

/// Phases of a threaded run: warm-up, measuring, stop.
const WARM: u8 = 0;
const MEASURE: u8 = 1;
const STOP: u8 = 2;

struct Phase(std::sync::atomic::AtomicU8);

impl Phase {
    fn get(&self) -> u8 {
        self.0.load(Ordering::Acquire)
    }
}

/// What one thread did while the phase was MEASURE.
#[derive(Default, Clone, Copy)]
struct Work {
    done: u64,
    cpu: f64,
}

/// Tracks a thread's count and CPU clock over the MEASURE phase.
struct Meter {
    start: Option<(u64, f64)>,
    out: Work,
    finished: bool,
}

impl Meter {
    fn new() -> Meter {
        Meter { start: None, out: Work::default(), finished: false }
    }
    /// Called every loop round with the thread's count so far; true when the run is over.
    fn tick(&mut self, phase: u8, done: u64) -> bool {
        match phase {
            MEASURE if self.start.is_none() => self.start = Some((done, thread_cpu_seconds())),
            STOP if !self.finished => {
                if let Some((d0, c0)) = self.start {
                    self.out = Work { done: done - d0, cpu: thread_cpu_seconds() - c0 };
                }
                self.finished = true;
            }
            _ => {}
        }
        self.finished
    }
}

fn server_thread(sock: UdpSocket, mut srv: Server, phase: &Phase) -> BoxResult<Work> {
    let mut ev = Events::default();
    let mut meter = Meter::new();
    let mut done = 0u64;
    let fd = sock.as_raw_fd();
    while !meter.tick(phase.get(), done) {
        let wait = srv.next_timeout().map_or(10, |d| d.as_millis().min(10) as i32);
        wait_readable(&[fd], wait);
        srv.receive(&sock, &mut ev)?;
        for a in std::mem::take(&mut ev.connected) {
            done += 1;
            srv.close_peer(&mut Null, a, &mut ev)?;
        }
        srv.handle_timeouts(&mut &sock, &mut ev)?;
    }
    Ok(meter.out)
}

struct Slot {
    sock: UdpSocket,
    dtls: Dtls,
}

fn client_thread(cfg: &Configuration, server: SocketAddr, phase: &Phase) -> BoxResult<Work> {
    let fresh = || -> BoxResult<Slot> {
        let sock = local_socket(Ipv4Addr::LOCALHOST)?;
        let dtls = client(cfg, server)?;
        dtls.set_initial_timeout(Duration::from_millis(200))?;
        dtls.do_handshake(&mut &sock, &[])?;
        Ok(Slot { sock, dtls })
    };
    let mut slots = (0..IN_FLIGHT).map(|_| fresh()).collect::<BoxResult<Vec<_>>>()?;
    let mut buf = vec![0u8; 2048];
    let mut meter = Meter::new();
    let mut done = 0u64;
    let mut pfds: Vec<libc::pollfd> = Vec::with_capacity(IN_FLIGHT);
    while !meter.tick(phase.get(), done) {
        pfds.clear();
        pfds.extend(slots.iter().map(|s| libc::pollfd { fd: s.sock.as_raw_fd(), events: libc::POLLIN, revents: 0 }));
        // SAFETY: pfds is a valid array of pollfd.
        unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, 10) };
        for (i, p) in pfds.iter().enumerate() {
            let s = &slots[i];
            let failed = if p.revents != 0 {
                feed(&s.dtls, &s.sock, &mut buf).is_err()
            } else if s.dtls.next_timeout() == Some(Duration::ZERO) {
                s.dtls.handle_timeout(&mut &s.sock).is_err()
            } else {
                false
            };
            if s.dtls.is_connection_encrypted() {
                done += 1;
            }
            if failed || s.dtls.is_connection_encrypted() {
                slots[i] = fresh()?;
            }
        }
    }
    Ok(meter.out)
}

/// One run with `servers` server threads on SO_REUSEPORT sockets of one port.
fn reuseport_run(servers: usize, seconds: f64) -> BoxResult<(Vec<Work>, Vec<Work>)> {
    let first = reuseport_socket(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0))?;
    let port = first.local_addr()?.port();
    let mut socks = vec![first];
    for _ in 1..servers {
        socks.push(reuseport_socket(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port))?);
    }
    let mut srvs = Vec::new();
    for i in 0..servers {
        let mut s = server(true)?;
        if i > 0 {
            s.share_cookie_secret(&srvs[0]);
        }
        srvs.push(s);
    }
    let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
    let cfg = configuration(false)?;
    let phase = Phase(std::sync::atomic::AtomicU8::new(WARM));
    let (sw, cw) = std::thread::scope(|sc| -> BoxResult<(Vec<Work>, Vec<Work>)> {
        let phase = &phase;
        let st: Vec<std::thread::ScopedJoinHandle<'_, Result<Work, String>>> = socks
            .into_iter()
            .zip(srvs)
            .enumerate()
            .map(|(i, (sock, srv))| {
                std::thread::Builder::new()
                    .name(format!("server-{i}"))
                    .spawn_scoped(sc, move || server_thread(sock, srv, phase).map_err(|e| e.to_string()))
            })
            .collect::<io::Result<_>>()?;
        let cfg = &cfg;
        let ct: Vec<std::thread::ScopedJoinHandle<'_, Result<Work, String>>> = (0..CLIENT_THREADS)
            .map(|i| {
                std::thread::Builder::new()
                    .name(format!("client-{i}"))
                    .spawn_scoped(sc, move || client_thread(cfg, addr, phase).map_err(|e| e.to_string()))
            })
            .collect::<io::Result<_>>()?;
        std::thread::sleep(Duration::from_secs_f64(seconds * 0.15));
        phase.0.store(MEASURE, Ordering::Release);
        std::thread::sleep(Duration::from_secs_f64(seconds));
        phase.0.store(STOP, Ordering::Release);
        let mut sw = Vec::new();
        for t in st {
            sw.push(t.join().map_err(|_| "server thread panicked")??);
        }
        let mut cw = Vec::new();
        for t in ct {
            cw.push(t.join().map_err(|_| "client thread panicked")??);
        }
        Ok((sw, cw))
    })?;
    Ok((sw, cw))
}

/// 1 and 2 server threads, alternately, three times each (the machine's
/// noise is large); the best of the three counts for each.
fn reuseport(seconds: f64) -> BoxResult<()> {
    let mut best = [(0.0f64, 0.0f64); 2]; // (wall, capacity) per thread count
    for _ in 0..3 {
        for servers in [1usize, 2] {
            if !wanted(&format!("server_reuseport_capacity_{servers}")) {
                continue;
            }
            let (sw, cw) = reuseport_run(servers, seconds)?;
            let done: u64 = sw.iter().map(|w| w.done).sum();
            let client_done: u64 = cw.iter().map(|w| w.done).sum();
            // Each server thread's handshakes per CPU-second of that thread: what it does with a core.
            let cap: f64 = sw.iter().map(|w| if w.cpu > 0.0 { w.done as f64 / w.cpu } else { 0.0 }).sum();
            let wall = done as f64 / seconds;
            let b = &mut best[servers - 1];
            *b = (b.0.max(wall), b.1.max(cap));
            let server_cpu: f64 = sw.iter().map(|w| w.cpu).sum();
            let client_cpu: f64 = cw.iter().map(|w| w.cpu).sum();
            note(&format!(
                "reuseport {servers} server thread(s): {done} handshakes in {seconds:.2} s ({wall:.0}/s; clients counted \
                 {client_done}); per server thread: {}; server threads {:.2} CPU-s ({:.1} us/handshake), client threads \
                 {:.2} CPU-s ({:.1} us/handshake); these threads had {:.0} % of the 2 cores",
                sw.iter()
                    .map(|w| format!("{} in {:.2} CPU-s", w.done, w.cpu))
                    .collect::<Vec<_>>()
                    .join(", "),
                server_cpu,
                server_cpu / done.max(1) as f64 * 1e6,
                client_cpu,
                client_cpu / client_done.max(1) as f64 * 1e6,
                (server_cpu + client_cpu) / (2.0 * seconds) * 100.0,
            ));
        }
    }
    for servers in [1usize, 2] {
        if best[servers - 1].1 > 0.0 {
            result(&format!("server_reuseport_wall_{servers}"), best[servers - 1].0, "hs/s");
            result(&format!("server_reuseport_capacity_{servers}"), best[servers - 1].1, "hs/s");
        }
    }
    if best[0].1 > 0.0 && best[1].1 > 0.0 {
        result("server_reuseport_capacity_ratio", best[1].1 / best[0].1, "x");
    }
    Ok(())
}

// ---- data -----------------------------------------------------------------------------------------

/// A client and a server-mode `Dtls` established over `cs` and the server socket `ss`.
fn dtls_pair(cfg: &Configuration, cs: &UdpSocket, ss: &UdpSocket, buf: &mut [u8]) -> BoxResult<(Dtls, Dtls)> {
    let c = client(cfg, ss.local_addr()?)?;
    let s = Dtls::new(SslMode::Server);
    s.set_dtls_configuration(cfg)?;
    s.set_peer(cs.local_addr()?, "")?;
    s.set_mtu_hint(MTU);
    s.set_psk_callback(psk);
    c.do_handshake(&mut &*cs, &[])?;
    let mut idle = 0;
    while !(c.is_connection_encrypted() && s.is_connection_encrypted()) {
        let a = feed(&s, ss, buf)?;
        let b = feed(&c, cs, buf)?;
        if a + b == 0 {
            idle += 1;
            if idle >= 100 {
                return Err("pair handshake stuck".into());
            }
            wait_readable(&[cs.as_raw_fd(), ss.as_raw_fd()], 20);
        }
    }
    Ok((c, s))
}

/// Receives `n` queued datagrams with recvmmsg, without handling them (the control of the batch path).
fn recvmmsg_only(fd: i32, bufs: &mut [[u8; 2048]], n: usize) -> BoxResult<()> {
    let mut got = 0;
    while got < n {
        let want = (n - got).min(bufs.len());
        // SAFETY: all-zero headers and addresses are valid; every iovec points into `bufs`.
        let r = unsafe {
            let mut iov: Vec<libc::iovec> = bufs[..want]
                .iter_mut()
                .map(|b| libc::iovec { iov_base: b.as_mut_ptr().cast(), iov_len: b.len() })
                .collect();
            let mut names: Vec<libc::sockaddr_storage> = vec![std::mem::zeroed(); want];
            let mut hdrs: Vec<libc::mmsghdr> = (0..want).map(|_| std::mem::zeroed()).collect();
            for i in 0..want {
                hdrs[i].msg_hdr.msg_iov = &mut iov[i];
                hdrs[i].msg_hdr.msg_iovlen = 1;
                hdrs[i].msg_hdr.msg_name = (&mut names[i] as *mut libc::sockaddr_storage).cast();
                hdrs[i].msg_hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as u32;
            }
            libc::recvmmsg(fd, hdrs.as_mut_ptr(), want as u32, libc::MSG_DONTWAIT, std::ptr::null_mut())
        };
        if r <= 0 {
            return Err(format!("recvmmsg: {}", io::Error::last_os_error()).into());
        }
        got += r as usize;
    }
    Ok(())
}

/// Segments of the measurements take turns: measurement `i` (of `names`)
/// runs `step(i)` (one chunk: it returns how many operations it did and the
/// CPU time of the part it timed itself, 0 if none) for a segment of
/// `seconds / 4`, whose first 15 % warm up and are not counted; then the
/// next measurement has its segment; four rounds. Each measurement runs
/// alone during its segment (its own working set, as in a process of its
/// own), and a slow phase of the machine (it shares its host) hits every
/// measurement in some round: the best segment counts. Returns, per
/// measurement, operations per process CPU-second and per CPU-second of the
/// self-timed part. `--only` keeps one measurement.
fn alternating(
    seconds: f64,
    names: &[&str],
    mut step: impl FnMut(usize) -> BoxResult<(u64, f64)>,
) -> BoxResult<Vec<(f64, f64)>> {
    const ROUNDS: usize = 4;
    let active: Vec<usize> = (0..names.len()).filter(|&i| wanted(names[i])).collect();
    let segment = seconds / ROUNDS as f64;
    let mut best = vec![(-1.0f64, -1.0f64); names.len()];
    let (mut total_cpu, t_all) = (0.0, Instant::now());
    for _ in 0..ROUNDS {
        for &i in &active {
            let t0 = Instant::now();
            while t0.elapsed().as_secs_f64() < segment * 0.15 {
                step(i)?;
            }
            let (mut n, mut own) = (0u64, 0.0);
            let (t0, c0) = (Instant::now(), cpu_seconds());
            while t0.elapsed().as_secs_f64() < segment {
                let (k, o) = step(i)?;
                n += k;
                own += o;
            }
            let cpu = cpu_seconds() - c0;
            total_cpu += cpu;
            let b = &mut best[i];
            b.0 = b.0.max(n as f64 / cpu);
            if own > 0.0 {
                b.1 = b.1.max(n as f64 / own);
            }
        }
    }
    let measured = t_all.elapsed().as_secs_f64() * 0.85;
    println!("CPUSHARE {} {IMPL} {:.3}", names.join("+"), (total_cpu / measured).min(1.0));
    Ok(best)
}

fn data(seconds: f64) -> BoxResult<()> {
    const PEERS: usize = 1000;
    const BURST: usize = 32;
    const CHUNK: usize = 64;
    let lo = Ipv4Addr::LOCALHOST;
    let cfg = configuration(false)?;
    let payload = vec![b'x'; PAYLOAD];
    let mut buf = vec![0u8; 2048];
    let mut plain = vec![0u8; 2048];

    // Sessions without a server: Dtls pairs, their server sides on one socket, the
    // benchmark knowing which session each datagram is for (examples/bench_rust_api.rs
    // data; over 1,000 pairs, what 1,000 sessions cost without the server's lookup).
    let ps = local_socket(lo)?;
    big_receive_buffer(&ps, 4 << 20);
    let mut pairs = Vec::with_capacity(PEERS);
    for _ in 0..PEERS {
        let cs = local_socket(lo)?;
        let (c, s) = dtls_pair(&cfg, &cs, &ps, &mut buf)?;
        pairs.push((cs, c, s));
    }
    // The server with 1,000 established peers, each on its own client socket.
    let ss = local_socket(lo)?;
    big_receive_buffer(&ss, 4 << 20);
    let sa = ss.local_addr()?;
    let mut srv = server(false)?;
    let mut ev = Events::default();
    let mut clients = Vec::with_capacity(PEERS);
    for _ in 0..PEERS {
        let cs = local_socket(lo)?;
        let c = client(&cfg, sa)?;
        server_handshake(&mut srv, &ss, &c, &cs, &mut ev, &mut buf, None)?;
        clients.push((cs, c));
    }
    if srv.peer_count() != PEERS || srv.handshake_count() != 0 {
        return Err(format!("{} peers, {} handshaking", srv.peer_count(), srv.handshake_count()).into());
    }

    // One datagram at a time: a client encrypts and sends, the receiving side reads it
    // and decrypts it (a Dtls) or hands it to the server.
    let names = ["session_datagrams", "sessions_datagrams_1000", "server_datagrams_1", "server_datagrams_1000"];
    let mut next = [0usize; 4];
    let before = ev.datagrams;
    let mut sent = 0u64;
    let rates = alternating(seconds, &names, |i| {
        for _ in 0..CHUNK {
            let k = next[i];
            next[i] += 1;
            if i < 2 {
                let (cs, c, s) = &pairs[if i == 0 { 0 } else { k % PEERS }];
                c.write_datagram_encrypted(&mut &*cs, &payload)?;
                let n = ps.recv(&mut buf)?;
                let m = s.decrypt_datagram_into(&mut &ps, &buf[..n], &mut plain)?;
                if m != PAYLOAD {
                    return Err(format!("decrypted {m} bytes").into());
                }
            } else {
                let (cs, c) = &clients[if i == 2 { 0 } else { k % PEERS }];
                c.write_datagram_encrypted(&mut &*cs, &payload)?;
                let (n, from) = ss.recv_from(&mut buf)?;
                srv.handle_datagram(&mut &ss, from, &buf[..n], &mut ev)?;
                sent += 1;
            }
        }
        Ok((CHUNK as u64, 0.0))
    })?;
    if ev.datagrams - before != sent || ev.bad_datagrams != 0 {
        return Err(format!("{} datagrams reported for {sent} sent", ev.datagrams - before).into());
    }
    for (name, (r, _)) in names.iter().zip(&rates) {
        if *r > 0.0 {
            result(name, *r, "dgram/s");
        }
    }

    // Bursts: 32 consecutive peers send one each, then the server drains them: one by one
    // (recv_from + handle_datagram) or with Server::receive (recvmmsg); and, as the control
    // of what the receive calls cost, only received (recv_from, or recvmmsg), not handled.
    // The server side (the drain) is timed on this thread's clock.
    let names = [
        "server_burst_single_1",
        "server_burst_batch_1",
        "server_burst_single_1000",
        "server_burst_batch_1000",
        "server_burst_recvfrom_only",
        "server_burst_recvmmsg_only",
    ];
    let mut mbufs = vec![[0u8; 2048]; BURST];
    let mut next = 0usize;
    let before = ev.datagrams;
    let mut handled = 0u64;
    let rates = alternating(seconds, &names, |i| {
        let peers = if i < 2 { 1 } else { PEERS };
        for _ in 0..BURST {
            let (cs, c) = &clients[next % peers];
            next += 1;
            c.write_datagram_encrypted(&mut &*cs, &payload)?;
        }
        let t0 = thread_cpu_seconds();
        let mut got = 0;
        match i {
            1 | 3 => {
                while got < BURST {
                    got += srv.receive(&ss, &mut ev)?;
                }
                handled += BURST as u64;
            }
            0 | 2 => {
                while got < BURST {
                    let (n, from) = ss.recv_from(&mut buf)?;
                    srv.handle_datagram(&mut &ss, from, &buf[..n], &mut ev)?;
                    got += 1;
                }
                handled += BURST as u64;
            }
            4 => {
                while got < BURST {
                    std::hint::black_box(ss.recv_from(&mut buf)?);
                    got += 1;
                }
            }
            _ => recvmmsg_only(ss.as_raw_fd(), &mut mbufs, BURST)?,
        }
        Ok((BURST as u64, thread_cpu_seconds() - t0))
    })?;
    if ev.datagrams - before != handled || ev.bad_datagrams != 0 {
        return Err(format!("{} datagrams reported for {handled} sent", ev.datagrams - before).into());
    }
    for (name, (whole, own)) in names.iter().zip(&rates) {
        if *whole > 0.0 {
            result(name, *whole, "dgram/s");
            // The receiving side only: datagrams per CPU-second spent draining.
            result(&format!("{name}_server_only"), *own, "dgram/s");
        }
    }
    Ok(())
}

// ---- decrypt: the server's receive side without sockets -------------------------------------------

/// A client and a server-mode `Dtls` established through in-memory wires.
fn sans_io_pair(cfg: &Configuration, i: u32) -> BoxResult<(Dtls, Dtls)> {
    let c = client(cfg, SANS_IO_SERVER)?;
    let s = Dtls::new(SslMode::Server);
    s.set_dtls_configuration(cfg)?;
    s.set_peer(peer_addr(i), "")?;
    s.set_psk_callback(psk);
    let (mut cout, mut sout) = (Wire::default(), Wire::default());
    c.do_handshake(&mut cout, &[])?;
    for _ in 0..32 {
        while let Some((d, _)) = cout.0.pop_front() {
            if !s.is_connection_encrypted() {
                s.do_handshake(&mut sout, &d)?;
            }
        }
        while let Some((d, _)) = sout.0.pop_front() {
            if !c.is_connection_encrypted() {
                c.do_handshake(&mut cout, &d)?;
            }
        }
        if c.is_connection_encrypted() && s.is_connection_encrypted() {
            return Ok((c, s));
        }
    }
    Err("sans-I/O pair handshake did not complete".into())
}

/// The receive side alone, without system calls: datagrams encrypted
/// beforehand by the clients (round-robin over the peers, or all from the
/// first), then decrypted by plain server-mode `Dtls` sessions (the
/// benchmark knowing which) or handed to `Server::handle_datagram`. Every
/// measurement reads as many datagrams, so all stream through the same
/// amount of memory (`--seconds` scales their number: 80 per peer and
/// second), and the four take turns, a quarter of each at a time.
fn decrypt(seconds: f64) -> BoxResult<()> {
    const PEERS: u32 = 1000;
    // 100 datagrams per peer with the default 1.25 s (123 MB of datagrams).
    let per_peer = ((seconds * 80.0) as usize).max(10);
    let cfg = configuration(false)?;
    let payload = vec![b'x'; PAYLOAD];
    let mut plain = vec![0u8; 2048];
    let total = PEERS as usize * per_peer;
    let mut pairs = Vec::new();
    if wanted("sansio_sessions_decrypt_1") || wanted("sansio_sessions_decrypt_1000") {
        // One more than PEERS: the last one is the single session's (its datagrams,
        // decrypted between the others', must not fall behind its replay window).
        for i in 0..=PEERS {
            pairs.push(sans_io_pair(&cfg, i)?);
        }
    }
    let mut srv = server(false)?;
    let mut ev = Events::default();
    let mut clients = Vec::new();
    if wanted("sansio_server_decrypt_1") || wanted("sansio_server_decrypt_1000") {
        for i in 0..=PEERS {
            clients.push(sans_io_connect(&mut srv, &cfg, peer_addr(i), &mut ev)?);
        }
    }
    // Datagrams of `who`: round-robin over the first PEERS, or all from the last one.
    let encrypt = |who: &[&Dtls], peers: usize| -> BoxResult<Vec<(usize, Vec<u8>)>> {
        let mut out = Vec::with_capacity(total);
        let mut w = Wire::default();
        for k in 0..total {
            let i = if peers == 1 { PEERS as usize } else { k % peers };
            who[i].write_datagram_encrypted(&mut w, &payload)?;
            out.push((i, w.0.pop_front().ok_or("no datagram")?.0));
        }
        Ok(out)
    };
    let names = [
        "sansio_sessions_decrypt_1",
        "sansio_sessions_decrypt_1000",
        "sansio_server_decrypt_1",
        "sansio_server_decrypt_1000",
    ];
    let pair_clients: Vec<&Dtls> = pairs.iter().map(|p| &p.0).collect();
    let server_clients: Vec<&Dtls> = clients.iter().collect();
    let mut streams = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let who = if i < 2 { &pair_clients } else { &server_clients };
        streams.push(if wanted(name) {
            encrypt(who, if i % 2 == 0 { 1 } else { PEERS as usize })?
        } else {
            Vec::new()
        });
    }
    // The four decrypt in turn, a quarter of each stream at a time (its first 15 % not
    // timed, as a warm-up), on this thread's clock; the best quarter counts.
    const ROUNDS: usize = 4;
    let mut best = [0f64; 4];
    let before = ev.datagrams;
    for round in 0..ROUNDS {
        for i in 0..4 {
            let len = streams[i].len();
            let slice = &streams[i][round * len / ROUNDS..(round + 1) * len / ROUNDS];
            let warm = slice.len() * 15 / 100;
            let mut c0 = thread_cpu_seconds();
            for (j, (k, d)) in slice.iter().enumerate() {
                if j == warm {
                    c0 = thread_cpu_seconds();
                }
                if i < 2 {
                    let n = pairs[*k].1.decrypt_datagram_into(&mut Null, d, &mut plain)?;
                    if n != PAYLOAD {
                        return Err(format!("decrypted {n} bytes").into());
                    }
                } else {
                    srv.handle_datagram(&mut Null, peer_addr(*k as u32), d, &mut ev)?;
                }
            }
            if slice.len() > warm {
                best[i] = best[i].max((slice.len() - warm) as f64 / (thread_cpu_seconds() - c0));
            }
        }
    }
    let to_server = (streams[2].len() + streams[3].len()) as u64;
    if ev.datagrams - before != to_server || ev.bad_datagrams != 0 {
        return Err(format!("{} datagrams reported for {to_server}", ev.datagrams - before).into());
    }
    for i in 0..4 {
        if !streams[i].is_empty() {
            result(names[i], best[i], "dgram/s");
        }
    }
    Ok(())
}

// ---- floods ---------------------------------------------------------------------------------------

/// Counts what the server sends to the flood's sources; keeps what it sends to the real client.
struct FloodWire {
    sent: u64,
    client: SocketAddr,
    to_client: VecDeque<Vec<u8>>,
}

impl Transport for FloodWire {
    fn send(&mut self, dgram: &[u8], peer: SocketAddr) -> io::Result<()> {
        if peer == self.client {
            self.to_client.push_back(dgram.to_vec());
        } else {
            self.sent += 1;
        }
        Ok(())
    }
    fn path_mtu(&mut self) -> Option<u32> {
        None
    }
}

/// A real (sans-I/O) client connecting during a flood: it starts at one
/// point and its datagrams are exchanged every `every` flood datagrams.
struct RealClient {
    dtls: Option<Dtls>,
    out: Wire,
    addr: SocketAddr,
    started: Option<(u64, Instant)>,
    connected_after: Option<(u64, Duration)>,
}

impl RealClient {
    fn new() -> RealClient {
        RealClient {
            dtls: None,
            out: Wire::default(),
            addr: "192.0.2.77:5555".parse().unwrap(),
            started: None,
            connected_after: None,
        }
    }

    fn start(&mut self, cfg: &Configuration, at: u64) -> BoxResult<()> {
        let c = client(cfg, SANS_IO_SERVER)?;
        c.do_handshake(&mut self.out, &[])?;
        self.dtls = Some(c);
        self.started = Some((at, Instant::now()));
        Ok(())
    }

    /// One exchange: the client's datagrams to the server, the server's to the client.
    fn exchange(&mut self, server: &mut Server, wire: &mut FloodWire, ev: &mut Events, at: u64) -> BoxResult<()> {
        let Some(c) = &self.dtls else { return Ok(()) };
        while let Some((d, _)) = self.out.0.pop_front() {
            server.handle_datagram(wire, self.addr, &d, ev)?;
        }
        while let Some(d) = wire.to_client.pop_front() {
            if !c.is_connection_encrypted() {
                c.do_handshake(&mut self.out, &d)?;
            }
        }
        if self.connected_after.is_none() && c.is_connection_encrypted() && ev.connected.contains(&self.addr) {
            let (a, t) = self.started.unwrap();
            self.connected_after = Some((at - a, t.elapsed()));
            // One datagram through the established peer.
            c.write_datagram_encrypted(&mut self.out, &[b'x'; PAYLOAD])?;
            let (d, _) = self.out.0.pop_front().ok_or("no datagram")?;
            let before = ev.datagrams;
            server.handle_datagram(wire, self.addr, &d, ev)?;
            if ev.datagrams != before + 1 {
                return Err("the real client's datagram did not arrive".into());
            }
        }
        Ok(())
    }

    fn report(&self, what: &str) -> BoxResult<()> {
        match self.connected_after {
            Some((n, t)) => {
                note(&format!(
                    "{what}: the real client connected (and its datagram arrived) {n} flood datagrams and {:.2} ms after it started",
                    t.as_secs_f64() * 1e3
                ));
                Ok(())
            }
            None => Err(format!("{what}: the real client did not connect").into()),
        }
    }
}

/// The client's ClientHello without a cookie, and with one (the second
/// hello, after a HelloVerifyRequest from a server with `params`), and the
/// offset of the cookie in the second.
fn hellos(cfg: &Configuration, params: &GeneratorParameters) -> BoxResult<(Vec<u8>, Vec<u8>, usize)> {
    let c = client(cfg, SANS_IO_SERVER)?;
    let mut out = Wire::default();
    c.do_handshake(&mut out, &[])?;
    let (first, _) = out.0.pop_front().ok_or("no ClientHello")?;
    let mut s = server(true)?;
    s.set_cookie_generator_parameters(params)?;
    let from: SocketAddr = "192.0.2.9:9999".parse()?;
    let mut sout = Wire::default();
    s.handle_datagram(&mut sout, from, &first, &mut Events::default())?;
    let (hvr, _) = sout.0.pop_front().ok_or("no HelloVerifyRequest")?;
    c.do_handshake(&mut out, &hvr)?;
    let (second, _) = out.0.pop_front().ok_or("no second ClientHello")?;
    // record header 13, handshake header 12, version 2, random 32, session id, cookie length.
    let sid = usize::from(second[13 + 12 + 34]);
    let at = 13 + 12 + 35 + sid;
    let len = usize::from(second[at]);
    if len != 32 || second.len() < at + 1 + len {
        return Err(format!("unexpected cookie length {len}").into());
    }
    if cookie(params, from)? != second[at + 1..at + 1 + len] {
        return Err("the cookie computed here is not the server's".into());
    }
    Ok((first, second, at + 1))
}

/// The server's cookie for `peer`: HMAC(hash, secret, port || IPv4 address),
/// both as host-order integers (src/engine/cookie.rs make_cookie).
fn cookie(params: &GeneratorParameters, peer: SocketAddr) -> BoxResult<Vec<u8>> {
    let SocketAddr::V4(v4) = peer else { return Err("IPv4 only".into()) };
    let mut input = [0u8; 6];
    input[..2].copy_from_slice(&peer.port().to_ne_bytes());
    input[2..].copy_from_slice(&u32::from(*v4.ip()).to_ne_bytes());
    let key = openssl::pkey::PKey::hmac(&params.secret)?;
    let mut signer = openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), &key)?;
    signer.update(&input)?;
    Ok(signer.sign_to_vec()?)
}

fn flood(_seconds: f64) -> BoxResult<()> {
    const HELLOS: u64 = 1_000_000;
    const WARM: u64 = 50_000;
    const VERIFIED: u64 = 100_000;
    const EVERY: u64 = 100;
    let cfg = configuration(false)?;
    let params = GeneratorParameters::new(CookieHash::Sha256, b"qdtls bench cookie secret 32 by!");
    let (first, second, cookie_at) = hellos(&cfg, &params)?;

    // 1. Cookie-less hellos from random sources: a HelloVerifyRequest each, no state.
    let mut srv = server(true)?;
    let mut ev = Events::default();
    let mut rc = RealClient::new();
    let mut wire = FloodWire { sent: 0, client: rc.addr, to_client: VecDeque::new() };
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..WARM {
        srv.handle_datagram(&mut wire, rng.source(), &first, &mut ev)?;
    }
    let (rss0, heap0, sent0) = (rss_bytes(), heap_bytes(), wire.sent);
    let (t0, c0) = (Instant::now(), cpu_seconds());
    for i in 0..HELLOS {
        srv.handle_datagram(&mut wire, rng.source(), &first, &mut ev)?;
        if i == HELLOS / 2 {
            rc.start(&cfg, i)?;
        }
        if i % EVERY == 0 {
            rc.exchange(&mut srv, &mut wire, &mut ev, i)?;
        }
        if i % 1024 == 0 {
            srv.handle_timeouts(&mut wire, &mut ev)?;
        }
    }
    let (wall, cpu) = (t0.elapsed().as_secs_f64(), cpu_seconds() - c0);
    let (rss1, heap1) = (rss_bytes(), heap_bytes());
    result("server_flood_hellos", HELLOS as f64 / cpu, "hello/s");
    println!("WALL server_flood_hellos {IMPL} {:.6} hello/s", HELLOS as f64 / wall);
    result("server_flood_rss_growth", rss1 as f64 - rss0 as f64, "bytes");
    result("server_flood_heap_growth", heap1 as f64 - heap0 as f64, "bytes");
    note(&format!(
        "flood: {HELLOS} cookie-less hellos from random sources: {} HelloVerifyRequests, {} peers after (the real client), \
         RSS {} -> {} kB, heap {} -> {} kB",
        wire.sent - sent0,
        srv.peer_count(),
        rss0 / 1024,
        rss1 / 1024,
        heap0 / 1024,
        heap1 / 1024
    ));
    rc.report("flood")?;
    if wire.sent - sent0 != HELLOS {
        return Err(format!("{} HelloVerifyRequests for {HELLOS} hellos", wire.sent - sent0).into());
    }

    // 2. Hellos with valid cookies for their sources, that never go on.
    let mut srv = server(true)?;
    srv.set_cookie_generator_parameters(&params)?;
    let max = 1024; // the default max_handshakes, set again so the check below says what it checks
    srv.set_max_handshakes(max);
    let mut ev = Events::default();
    let mut rc = RealClient::new();
    let mut wire = FloodWire { sent: 0, client: rc.addr, to_client: VecDeque::new() };
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    // The datagrams first (the bench's own HMACs are not measured).
    let sources: Vec<SocketAddr> = (0..VERIFIED + WARM).map(|_| rng.source()).collect();
    let mut dgrams = Vec::with_capacity(sources.len());
    for &s in &sources {
        let mut d = second.clone();
        d[cookie_at..cookie_at + 32].copy_from_slice(&cookie(&params, s)?);
        dgrams.push(d);
    }
    for i in 0..WARM as usize {
        srv.handle_datagram(&mut wire, sources[i], &dgrams[i], &mut ev)?;
    }
    let (rss0, heap0, sent0, closed0) = (rss_bytes(), heap_bytes(), wire.sent, ev.evicted);
    let (mut max_peers, mut max_hs) = (0usize, 0usize);
    let (t0, c0) = (Instant::now(), cpu_seconds());
    for i in 0..VERIFIED {
        let k = (WARM + i) as usize;
        srv.handle_datagram(&mut wire, sources[k], &dgrams[k], &mut ev)?;
        let established = usize::from(rc.connected_after.is_some());
        max_peers = max_peers.max(srv.peer_count() - established);
        max_hs = max_hs.max(srv.handshake_count());
        if i == VERIFIED / 2 {
            rc.start(&cfg, i)?;
        }
        if i % EVERY == 0 {
            rc.exchange(&mut srv, &mut wire, &mut ev, i)?;
        }
        if i % 1024 == 0 {
            srv.handle_timeouts(&mut wire, &mut ev)?;
        }
    }
    let (wall, cpu) = (t0.elapsed().as_secs_f64(), cpu_seconds() - c0);
    let (rss1, heap1) = (rss_bytes(), heap_bytes());
    result("server_verified_flood_hellos", VERIFIED as f64 / cpu, "hello/s");
    println!("WALL server_verified_flood_hellos {IMPL} {:.6} hello/s", VERIFIED as f64 / wall);
    result("server_verified_flood_max_handshakes", max_hs as f64, "handshakes");
    result("server_verified_flood_max_peers", max_peers as f64, "peers");
    result("server_verified_flood_rss_growth", rss1 as f64 - rss0 as f64, "bytes");
    result("server_verified_flood_heap_growth", heap1 as f64 - heap0 as f64, "bytes");
    note(&format!(
        "verified flood: {VERIFIED} hellos with valid cookies after {WARM} of warm-up; max_handshakes {max}: at most {max_hs} \
         handshakes and {max_peers} peers besides the real client; {} evicted; {} datagrams sent to the flood's sources; \
         RSS {} -> {} kB, heap {} -> {} kB",
        ev.evicted - closed0,
        wire.sent - sent0,
        rss0 / 1024,
        rss1 / 1024,
        heap0 / 1024,
        heap1 / 1024
    ));
    rc.report("verified flood")?;
    Ok(())
}

/// Who reads the real-socket flood.
#[derive(Clone, Copy, PartialEq, Debug)]
enum FloodReader {
    /// `Server::receive`, `handle_timeouts` every millisecond, a real client connecting.
    Server,
    /// The control: recvmmsg, then one `sendto` of a 60-byte answer per datagram
    /// (the system calls the server makes per hello, with no DTLS at all).
    EchoEach,
    /// The control: recvmmsg, then one `sendmmsg` of the answers.
    EchoBatch,
}

/// The real-socket flood: `sendmmsg` from 1,024 bound 127.x.y.1 sockets into the server's socket.
fn flood_socket(_seconds: f64) -> BoxResult<()> {
    for (reader, metric) in [
        (FloodReader::Server, "server_socket_flood_hellos"),
        (FloodReader::EchoEach, "echo_each_socket_flood"),
        (FloodReader::EchoBatch, "echo_batch_socket_flood"),
    ] {
        if wanted(metric) {
            socket_flood(reader, metric)?;
        }
    }
    Ok(())
}

/// One datagram-per-sendto reader without DTLS (the flood's controls); how many it read.
fn echo(fd: i32, batch: bool, bufs: &mut [[u8; 2048]]) -> usize {
    const N: usize = 32;
    let answer = [0u8; 60];
    // SAFETY: all-zero headers and addresses are valid; every pointer points into
    // `bufs`, `iov`, `names` or `answer`, which outlive the calls.
    unsafe {
        let mut iov: [libc::iovec; N] = std::mem::zeroed();
        let mut names: [libc::sockaddr_storage; N] = std::mem::zeroed();
        let mut hdrs: [libc::mmsghdr; N] = std::mem::zeroed();
        for i in 0..N {
            iov[i] = libc::iovec { iov_base: bufs[i].as_mut_ptr().cast(), iov_len: 2048 };
            hdrs[i].msg_hdr.msg_iov = &mut iov[i];
            hdrs[i].msg_hdr.msg_iovlen = 1;
            hdrs[i].msg_hdr.msg_name = (&mut names[i] as *mut libc::sockaddr_storage).cast();
            hdrs[i].msg_hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as u32;
        }
        let n = libc::recvmmsg(fd, hdrs.as_mut_ptr(), N as u32, libc::MSG_DONTWAIT, std::ptr::null_mut());
        if n <= 0 {
            return 0;
        }
        let n = n as usize;
        let mut out_iov = libc::iovec { iov_base: answer.as_ptr() as *mut libc::c_void, iov_len: answer.len() };
        if batch {
            for h in &mut hdrs[..n] {
                h.msg_hdr.msg_iov = &mut out_iov;
            }
            libc::sendmmsg(fd, hdrs.as_mut_ptr(), n as u32, 0);
        } else {
            for h in &hdrs[..n] {
                libc::sendto(
                    fd,
                    answer.as_ptr().cast(),
                    answer.len(),
                    0,
                    h.msg_hdr.msg_name as *const libc::sockaddr,
                    h.msg_hdr.msg_namelen,
                );
            }
        }
        n
    }
}

fn socket_flood(reader: FloodReader, metric: &str) -> BoxResult<()> {
    const HELLOS: u64 = 1_000_000;
    const WARM: u64 = 50_000;
    const SOURCES: usize = 1024;
    const BATCH: usize = 64;
    let cfg = configuration(false)?;
    let params = GeneratorParameters::new(CookieHash::Sha256, b"qdtls bench cookie secret 32 by!");
    let (first, _, _) = hellos(&cfg, &params)?;
    let ss = local_socket(Ipv4Addr::LOCALHOST)?;
    let rcvbuf = big_receive_buffer(&ss, 8 << 20);
    let sa = ss.local_addr()?;
    let SocketAddr::V4(sa4) = sa else { unreachable!() };
    let mut srv = server(true)?;
    let mut ev = Events::default();
    let with_client = reader == FloodReader::Server;
    let stop = AtomicBool::new(false);
    let sent = AtomicU64::new(0);
    let handled_total = AtomicUsize::new(0);
    let client_result: std::sync::Mutex<Option<Result<(Duration, u32), String>>> = std::sync::Mutex::new(None);
    let client_addr = std::sync::Mutex::new(None::<SocketAddr>);
    let mut senders = Vec::with_capacity(SOURCES);
    for k in 0..SOURCES {
        let ip = Ipv4Addr::new(127, 1 + (k >> 8) as u8, (k & 255) as u8, 1);
        let s = UdpSocket::bind(SocketAddr::new(IpAddr::V4(ip), 0))?;
        s.set_nonblocking(true)?;
        senders.push(s);
    }
    let mut bufs = vec![[0u8; 2048]; 32];
    let report = std::thread::scope(|sc| -> BoxResult<String> {
        let (stop, sent, handled_total, client_result, client_addr) =
            (&stop, &sent, &handled_total, &client_result, &client_addr);
        let (senders, first, cfg) = (&senders, &first, &cfg);
        sc.spawn(move || {
            let to = sockaddr_in(sa4);
            let mut iov = libc::iovec { iov_base: first.as_ptr() as *mut libc::c_void, iov_len: first.len() };
            let mut hdrs: Vec<libc::mmsghdr> = (0..BATCH)
                .map(|_| {
                    // SAFETY: an all-zero mmsghdr is valid.
                    let mut h: libc::mmsghdr = unsafe { std::mem::zeroed() };
                    h.msg_hdr.msg_name = (&to as *const libc::sockaddr_in) as *mut libc::c_void;
                    h.msg_hdr.msg_namelen = size_of::<libc::sockaddr_in>() as u32;
                    h.msg_hdr.msg_iov = &mut iov;
                    h.msg_hdr.msg_iovlen = 1;
                    h
                })
                .collect();
            let mut k = 0;
            while !stop.load(Ordering::Relaxed) {
                let fd = senders[k % SOURCES].as_raw_fd();
                k += 1;
                // SAFETY: hdrs holds BATCH valid headers pointing at `to`, `iov` and `first`.
                let n = unsafe { libc::sendmmsg(fd, hdrs.as_mut_ptr(), BATCH as u32, 0) };
                if n > 0 {
                    sent.fetch_add(n as u64, Ordering::Relaxed);
                }
            }
        });
        if with_client {
            sc.spawn(move || {
                // The real client: starts once the server handled 300,000 flood datagrams.
                while handled_total.load(Ordering::Relaxed) < (WARM + 300_000) as usize && !stop.load(Ordering::Relaxed)
                {
                    std::thread::sleep(Duration::from_millis(1));
                }
                let r = (|| -> BoxResult<(Duration, u32)> {
                    let cs = local_socket(Ipv4Addr::LOCALHOST)?;
                    *client_addr.lock().unwrap() = Some(cs.local_addr()?);
                    let c = client(cfg, sa)?;
                    let t0 = Instant::now();
                    let mut retransmissions = 0;
                    let mut buf = vec![0u8; 2048];
                    c.do_handshake(&mut &cs, &[])?;
                    while !c.is_connection_encrypted() {
                        if t0.elapsed() > Duration::from_secs(30) {
                            return Err("no connection within 30 s".into());
                        }
                        wait_readable(&[cs.as_raw_fd()], 5);
                        feed(&c, &cs, &mut buf)?;
                        if c.next_timeout() == Some(Duration::ZERO) && c.handle_timeout(&mut &cs)? {
                            retransmissions += 1;
                        }
                    }
                    Ok((t0.elapsed(), retransmissions))
                })();
                *client_result.lock().unwrap() = Some(r.map_err(|e| e.to_string()));
            });
        }
        let mut handled = 0u64;
        let mut base = None;
        let t_start = Instant::now();
        let mut last_timers = Instant::now();
        let result_text = (|| -> BoxResult<String> {
            loop {
                let n = match reader {
                    FloodReader::Server => srv.receive(&ss, &mut ev)? as u64,
                    FloodReader::EchoEach => echo(ss.as_raw_fd(), false, &mut bufs) as u64,
                    FloodReader::EchoBatch => echo(ss.as_raw_fd(), true, &mut bufs) as u64,
                };
                handled += n;
                handled_total.store(handled as usize, Ordering::Relaxed);
                if n == 0 {
                    wait_readable(&[ss.as_raw_fd()], 1);
                }
                if with_client && last_timers.elapsed() > Duration::from_millis(1) {
                    srv.handle_timeouts(&mut &ss, &mut ev)?;
                    last_timers = Instant::now();
                }
                if base.is_none() && handled >= WARM {
                    let s0 = sent.load(Ordering::Relaxed);
                    base = Some((handled, Instant::now(), thread_cpu_seconds(), rss_bytes(), heap_bytes(), s0));
                }
                let client_done = !with_client || client_result.lock().unwrap().is_some();
                if let Some((h0, t0, c0, rss0, heap0, s0)) = base {
                    if handled - h0 >= HELLOS && client_done {
                        let (wall, cpu) = (t0.elapsed().as_secs_f64(), thread_cpu_seconds() - c0);
                        let (rss1, heap1) = (rss_bytes(), heap_bytes());
                        let n = handled - h0;
                        let s = sent.load(Ordering::Relaxed) - s0;
                        result(&format!("{metric}_wall"), n as f64 / wall, "hello/s");
                        result(&format!("{metric}_reader_cpu"), n as f64 / cpu, "hello/s");
                        if with_client {
                            result(&format!("{metric}_rss_growth"), rss1 as f64 - rss0 as f64, "bytes");
                            result(&format!("{metric}_heap_growth"), heap1 as f64 - heap0 as f64, "bytes");
                        }
                        return Ok(format!(
                            "socket flood, {reader:?}: {n} hellos handled in {wall:.2} s ({cpu:.2} CPU-s of the reading \
                             thread) of {s} sent from {SOURCES} sockets on 127.x.y.1 (the rest dropped by the kernel, \
                             SO_RCVBUF {rcvbuf}); RSS {} -> {} kB, heap {} -> {} kB",
                            rss0 / 1024,
                            rss1 / 1024,
                            heap0 / 1024,
                            heap1 / 1024
                        ));
                    }
                }
                if t_start.elapsed() > Duration::from_secs(60) {
                    return Err(format!("only {handled} hellos handled in 60 s").into());
                }
            }
        })();
        stop.store(true, Ordering::Relaxed);
        result_text
    })?;
    note(&report);
    if !with_client {
        return Ok(());
    }
    let connected_addr = *client_addr.lock().unwrap();
    match client_result.into_inner().unwrap() {
        Some(Ok((t, retransmissions))) => {
            let seen = connected_addr.is_some_and(|a| ev.connected.contains(&a));
            note(&format!(
                "socket flood: the real client connected after {:.1} ms with {retransmissions} retransmission(s); \
                 the server reported it: {seen}",
                t.as_secs_f64() * 1e3
            ));
            if !seen {
                return Err("the server did not report the real client".into());
            }
        }
        Some(Err(e)) => return Err(format!("socket flood: the real client failed: {e}").into()),
        None => return Err("socket flood: the real client did not finish".into()),
    }
    Ok(())
}

fn main() {
    let usage = "usage: bench_server idle|handshakes|reuseport|data|decrypt|flood|flood-socket [--seconds S] \
                 [--peers N (idle, default 10000)] [--only METRIC (one measurement, for profiling)]";
    let mut args = std::env::args().skip(1);
    let mut scenario = None;
    let mut seconds = 1.25;
    let mut peers = 10_000u32;
    let mut only = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--seconds" => match args.next().and_then(|v| v.parse().ok()) {
                Some(s) => seconds = s,
                None => {
                    eprintln!("bench_server: --seconds needs a number");
                    std::process::exit(2);
                }
            },
            "--peers" => match args.next().and_then(|v| v.parse().ok()) {
                Some(n) if n >= 2 => peers = n,
                _ => {
                    eprintln!("bench_server: --peers needs a number of at least 2");
                    std::process::exit(2);
                }
            },
            "--only" => only = args.next(),
            _ if scenario.is_none() => scenario = Some(a),
            _ => {
                eprintln!("{usage}");
                std::process::exit(2);
            }
        }
    }
    let Some(scenario) = scenario else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    ONLY.set(only).expect("set once");
    let r = match scenario.as_str() {
        "idle" => idle(seconds, peers),
        "handshakes" => handshakes(seconds),
        "reuseport" => reuseport(seconds),
        "data" => data(seconds),
        "decrypt" => decrypt(seconds),
        "flood" => flood(seconds),
        "flood-socket" => flood_socket(seconds),
        _ => {
            eprintln!("{usage}");
            std::process::exit(2);
        }
    };
    if let Err(e) = r {
        eprintln!("bench_server: {scenario} failed: {e}");
        std::process::exit(1);
    }
}
