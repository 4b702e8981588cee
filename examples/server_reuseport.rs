//! A DTLS echo server on every core: N threads, each with its own UDP
//! socket bound to the same port with SO_REUSEPORT and its own
//! `qdtls::Server`. The kernel spreads clients over the sockets by address
//! and port, so a client always reaches the same thread; the servers share
//! one cookie secret (`share_cookie_secret`) so a cookie made by one thread
//! is still good if a client lands on another (when the set of sockets
//! changes, or cookies are rotated).
//!
//! cargo run --example server_reuseport -- [--port P] [--threads N] [--seconds S]
//!
//! PSK as examples/server.rs (key "qdtls demo key"), so `cargo run --example
//! client -- --port P` talks to it. Prints each thread's peer count when it
//! changes, and what every thread served at the end. --threads defaults to
//! the number of cores; --seconds (default: forever) stops it.
//!
//! tests/server_udp.rs compiles this file as a module and calls [`start`].
#![allow(dead_code)] // as a module of a test, `main` is not called

use std::io;
use std::net::{SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use qdtls::{CloseReason, Configuration, Dtls, PeerVerifyMode, Server, ServerEvents, Transport};

/// A non-blocking UDP socket bound to `addr` with SO_REUSEPORT, so that
/// several sockets (threads, processes of one user) share the port. std's
/// `UdpSocket` cannot set the option before binding, so the socket is made
/// with libc.
pub fn reuseport_socket(addr: SocketAddrV4) -> io::Result<UdpSocket> {
    // SAFETY: plain system calls on a descriptor owned here from the start
    // (OwnedFd closes it on every error path).
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let fd = OwnedFd::from_raw_fd(fd);
        let on: libc::c_int = 1;
        let len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        if libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_REUSEPORT,
            (&on as *const libc::c_int).cast(),
            len,
        ) != 0
        {
            return Err(io::Error::last_os_error());
        }
        let sin = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: addr.port().to_be(),
            sin_addr: libc::in_addr { s_addr: u32::from(*addr.ip()).to_be() },
            sin_zero: [0; 8],
        };
        let sin_len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        if libc::bind(fd.as_raw_fd(), (&sin as *const libc::sockaddr_in).cast(), sin_len) != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(UdpSocket::from(fd))
    }
}

/// What one thread did, readable from the others while it runs.
#[derive(Default, Debug)]
pub struct ThreadStats {
    /// Peers now (handshaking ones included).
    pub peers: AtomicUsize,
    /// Handshakes completed.
    pub connected: AtomicUsize,
    /// Datagrams echoed.
    pub echoed: AtomicUsize,
    /// Peers closed, for any reason.
    pub closed: AtomicUsize,
}

struct Echo<'a> {
    socket: &'a UdpSocket,
    stats: &'a ThreadStats,
}

impl ServerEvents for Echo<'_> {
    fn connected(&mut self, _peer: &Dtls, _: &mut dyn Transport) {
        self.stats.connected.fetch_add(1, Ordering::Relaxed);
    }
    fn datagram(&mut self, peer: &Dtls, data: &[u8], transport: &mut dyn Transport) {
        if peer.write_datagram_encrypted(transport, data).is_ok() {
            self.stats.echoed.fetch_add(1, Ordering::Relaxed);
        }
    }
    fn closed(&mut self, _peer: &Dtls, _reason: CloseReason) {
        self.stats.closed.fetch_add(1, Ordering::Relaxed);
    }
}

/// The server threads, running until [`Pool::stop`].
pub struct Pool {
    pub addr: SocketAddr,
    pub stats: Vec<Arc<ThreadStats>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

/// The configuration of every thread: PSK, no client certificates.
pub fn configuration() -> Configuration {
    let mut cfg = Configuration::new();
    cfg.set_peer_verify_mode(PeerVerifyMode::VerifyNone);
    cfg
}

/// Binds `threads` sockets to 127.0.0.1:`port` (0: a free port, the same for
/// all) and starts a server thread on each.
pub fn start(port: u16, threads: usize, cfg: &Configuration) -> Result<Pool, Box<dyn std::error::Error>> {
    let first = reuseport_socket(SocketAddrV4::new([127, 0, 0, 1].into(), port))?;
    let addr = first.local_addr()?;
    let SocketAddr::V4(v4) = addr else { unreachable!("bound to IPv4") };
    let mut sockets = vec![first];
    for _ in 1..threads.max(1) {
        sockets.push(reuseport_socket(v4)?);
    }
    // Every server is made here, so that all can share the first one's cookie secret.
    let mut servers = Vec::new();
    for i in 0..sockets.len() {
        let mut s = Server::new(cfg)?;
        s.set_psk_callback(|_, auth| auth.set_pre_shared_key(b"qdtls demo key"));
        s.set_idle_timeout(Some(Duration::from_secs(60)));
        if i > 0 {
            s.share_cookie_secret(&servers[0]);
        }
        servers.push(s);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let mut stats = Vec::new();
    let mut handles = Vec::new();
    for (socket, mut server) in sockets.into_iter().zip(servers) {
        let (st, stop) = (Arc::new(ThreadStats::default()), stop.clone());
        stats.push(st.clone());
        handles.push(std::thread::spawn(move || {
            let mut ev = Echo { socket: &socket, stats: &st };
            while !stop.load(Ordering::Relaxed) {
                let wait =
                    server.next_timeout().map_or(Duration::from_millis(50), |t| t.min(Duration::from_millis(50)));
                let mut pfd = libc::pollfd { fd: socket.as_raw_fd(), events: libc::POLLIN, revents: 0 };
                // SAFETY: one valid pollfd for the length of the call.
                unsafe { libc::poll(&mut pfd, 1, wait.as_millis() as i32) };
                if let Err(e) = server.receive(&socket, &mut ev) {
                    eprintln!("server_reuseport: {e}");
                }
                if let Err(e) = server.handle_timeouts(&mut &socket, &mut ev) {
                    eprintln!("server_reuseport: {e}");
                }
                st.peers.store(server.peer_count(), Ordering::Relaxed);
            }
            server.shutdown(&mut &socket, &mut ev);
            st.peers.store(server.peer_count(), Ordering::Relaxed);
        }));
    }
    Ok(Pool { addr, stats, stop, threads: handles })
}

impl Pool {
    /// Each thread's peer count now.
    pub fn peer_counts(&self) -> Vec<usize> {
        self.stats.iter().map(|s| s.peers.load(Ordering::Relaxed)).collect()
    }

    /// Stops every thread (each closes its peers) and waits for them.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            t.join().expect("a server thread panicked");
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (mut port, mut threads, mut seconds) = (0u16, None, None);
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--port" => port = value.parse()?,
            "--threads" => threads = Some(value.parse::<usize>()?),
            "--seconds" => seconds = Some(Duration::from_secs(value.parse()?)),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let threads = threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let pool = start(port, threads, &configuration())?;
    println!("server_reuseport: listening on {} with {threads} threads", pool.addr);
    let started = Instant::now();
    let mut last = vec![0; threads];
    while seconds.is_none_or(|s| started.elapsed() < s) {
        std::thread::sleep(Duration::from_millis(500));
        let now = pool.peer_counts();
        if now != last {
            println!("server_reuseport: peers per thread {now:?}");
            last = now;
        }
    }
    for (i, s) in pool.stats.iter().enumerate() {
        println!(
            "server_reuseport: thread {i}: {} connected, {} echoed, {} closed",
            s.connected.load(Ordering::Relaxed),
            s.echoed.load(Ordering::Relaxed),
            s.closed.load(Ordering::Relaxed)
        );
    }
    pool.stop();
    Ok(())
}
