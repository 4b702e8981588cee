//! `flood`: cookie-less and cookie-verified ClientHellos from random sources
//! through `handle_datagram`; `flood-socket`: the cookie-less flood over
//! real sockets, and its controls without DTLS.

use std::collections::VecDeque;
use std::io;
use std::mem::size_of;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use qdtls::{Configuration, CookieHash, Dtls, GeneratorParameters, Server, Transport};

use crate::endpoints::{client, configuration, feed, server, Events, Wire, PAYLOAD, SANS_IO_SERVER};
use crate::measure::{cpu_seconds, heap_bytes, note, result, rss_bytes, thread_cpu_seconds, wanted, IMPL};
use crate::sockets::{big_receive_buffer, local_socket, sockaddr_in, wait_readable};
use crate::BoxResult;

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

pub fn flood(_seconds: f64) -> BoxResult<()> {
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
pub fn flood_socket(_seconds: f64) -> BoxResult<()> {
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
