//! `handshakes`: PSK handshakes through one server socket, and the one-pair
//! loop of the Rust API; `reuseport`: one server thread against two on
//! SO_REUSEPORT sockets of one port.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use qdtls::{Configuration, Dtls, Server, SslMode};

use crate::endpoints::{client, configuration, feed, psk, server, server_handshake, Events, Null, MTU};
use crate::measure::{note, rate, report, result, thread_cpu_seconds, wanted};
use crate::sockets::{local_socket, reuseport_socket, wait_readable};
use crate::BoxResult;

pub fn handshakes(seconds: f64) -> BoxResult<()> {
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
pub fn reuseport(seconds: f64) -> BoxResult<()> {
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
