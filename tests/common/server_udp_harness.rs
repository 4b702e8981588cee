//! Scaffolding of tests/server_udp.rs: a `qdtls::Server` on its own thread
//! over loopback UDP (`Running`: an echo server whose events the test thread
//! reads, and to which it hands work between two rounds), qdtls clients on
//! non-blocking sockets (`Client`) and the loops that drive them with
//! deadlines (`drive`, `connect`, `roundtrip`, `connect_all`, `echo_all`),
//! and ClientHellos taken apart and forged by hand.

use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixDatagram;
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use qdtls::{
    CloseReason, Configuration, Dtls, DtlsError, HandshakeState, PeerVerifyMode, Server, ServerEvents, SslMode,
    Transport,
};

pub const KEY: &[u8] = b"server test pre-shared key";
/// The longest any single wait may take before the test fails.
pub const LIMIT: Duration = Duration::from_secs(30);

pub fn psk_config() -> Configuration {
    let mut c = Configuration::new();
    c.set_peer_verify_mode(PeerVerifyMode::VerifyNone);
    c
}

/// So many sockets need more descriptors than the usual soft limit of 1,024.
pub fn raise_fd_limit() {
    // SAFETY: getrlimit/setrlimit on a valid struct.
    unsafe {
        let mut r: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) == 0 && r.rlim_cur < r.rlim_max {
            r.rlim_cur = r.rlim_max.min(65536);
            libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        }
    }
}

/// A larger receive buffer (the kernel caps it at rmem_max): bursts of
/// handshakes must not overflow the server's socket.
pub fn big_receive_buffer(s: &UdpSocket) {
    let size: libc::c_int = 4 << 20;
    // SAFETY: setsockopt with a c_int option on a valid descriptor.
    unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&size as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

// ---- the server thread ----------------------------------------------------------------------

/// What the server reported, shared with the test thread.
#[derive(Default)]
pub struct Seen {
    /// Handshakes completed, by address.
    pub connected: Vec<SocketAddr>,
    /// Peers gone: address, reason, and whether that peer had connected
    /// (true: `closed`; false: `handshake_failed`).
    pub closed: Vec<(SocketAddr, CloseReason, bool)>,
    pub datagrams: usize,
    /// Peers connected and not yet closed (by the address of their value).
    pub live: HashMap<usize, SocketAddr>,
}

impl Seen {
    pub fn closed_at(&self, a: SocketAddr) -> Vec<(CloseReason, bool)> {
        self.closed.iter().filter(|c| c.0 == a).map(|c| (c.1, c.2)).collect()
    }
}

fn addr(peer: &Dtls) -> SocketAddr {
    peer.peer_address().expect("a peer has an address")
}

fn key(peer: &Dtls) -> usize {
    peer as *const Dtls as usize
}

pub struct Echo<'a> {
    pub socket: &'a UdpSocket,
    seen: &'a Mutex<Seen>,
}

impl ServerEvents for Echo<'_> {
    fn connected(&mut self, peer: &Dtls, _: &mut dyn Transport) {
        let mut s = self.seen.lock().unwrap();
        s.connected.push(addr(peer));
        s.live.insert(key(peer), addr(peer));
    }
    fn datagram(&mut self, peer: &Dtls, data: &[u8], transport: &mut dyn Transport) {
        self.seen.lock().unwrap().datagrams += 1;
        peer.write_datagram_encrypted(transport, data).expect("echo");
    }
    fn closed(&mut self, peer: &Dtls, reason: CloseReason) {
        let mut s = self.seen.lock().unwrap();
        let was_live = s.live.remove(&key(peer)).is_some();
        assert!(was_live, "closed for a peer that never connected");
        s.closed.push((addr(peer), reason, true));
    }
    fn handshake_failed(&mut self, peer: &Dtls, reason: CloseReason) {
        let mut s = self.seen.lock().unwrap();
        assert!(!s.live.contains_key(&key(peer)), "handshake_failed for a connected peer");
        s.closed.push((addr(peer), reason, false));
    }
}

type Job = Box<dyn FnOnce(&mut Server, &mut Echo) + Send>;

/// A server on its own thread until dropped. Work for it (reading its
/// counts, closing a peer) goes through [`Running::with`].
pub struct Running {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Seen>>,
    jobs: Option<mpsc::Sender<Job>>,
    /// Wakes the server thread for a job (its other end is in its poll set).
    wake: UnixDatagram,
    thread: Option<thread::JoinHandle<()>>,
}

impl Running {
    pub fn start(cfg: Configuration, setup: impl FnOnce(&mut Server) + Send + 'static) -> Running {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_nonblocking(true).unwrap();
        big_receive_buffer(&socket);
        let addr = socket.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let (wake, woken) = UnixDatagram::pair().unwrap();
        woken.set_nonblocking(true).unwrap();
        let (jobs, queue) = mpsc::channel::<Job>();
        let seen2 = seen.clone();
        let thread = thread::spawn(move || {
            let mut server = Server::new(&cfg).unwrap();
            server.set_psk_callback(|_, a| a.set_pre_shared_key(KEY));
            setup(&mut server);
            let mut ev = Echo { socket: &socket, seen: &seen2 };
            loop {
                let wait = server.next_timeout().map_or(1000, |d| d.as_micros().div_ceil(1000).min(1000) as i32);
                let mut fds = [
                    libc::pollfd { fd: socket.as_raw_fd(), events: libc::POLLIN, revents: 0 },
                    libc::pollfd { fd: woken.as_raw_fd(), events: libc::POLLIN, revents: 0 },
                ];
                // SAFETY: two valid pollfds.
                unsafe { libc::poll(fds.as_mut_ptr(), 2, wait) };
                while woken.recv(&mut [0u8; 16]).is_ok() {}
                loop {
                    match queue.try_recv() {
                        Ok(job) => job(&mut server, &mut ev),
                        Err(mpsc::TryRecvError::Empty) => break,
                        Err(mpsc::TryRecvError::Disconnected) => return,
                    }
                }
                server.receive(&socket, &mut ev).expect("receive");
                server.handle_timeouts(&mut &socket, &mut ev).expect("handle_timeouts");
            }
        });
        Running { addr, seen, jobs: Some(jobs), wake, thread: Some(thread) }
    }

    pub fn psk(setup: impl FnOnce(&mut Server) + Send + 'static) -> Running {
        Running::start(psk_config(), setup)
    }

    /// Runs `f` on the server thread, between two of its rounds.
    pub fn with<R: Send + 'static>(&self, f: impl FnOnce(&mut Server, &mut Echo) -> R + Send + 'static) -> R {
        let (tx, rx) = mpsc::channel();
        let job: Job = Box::new(move |s, e| {
            let _ = tx.send(f(s, e));
        });
        self.jobs.as_ref().unwrap().send(job).expect("the server thread is gone");
        let _ = self.wake.send(&[1]);
        rx.recv_timeout(LIMIT).expect("the server thread did not answer")
    }

    /// (peers, handshakes) on the server now.
    pub fn counts(&self) -> (usize, usize) {
        self.with(|s, _| (s.peer_count(), s.handshake_count()))
    }

    pub fn seen(&self) -> MutexGuard<'_, Seen> {
        self.seen.lock().unwrap()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.jobs = None;
        let _ = self.wake.send(&[1]);
        if let Some(t) = self.thread.take() {
            if t.join().is_err() && !thread::panicking() {
                panic!("the server thread panicked");
            }
        }
    }
}

// ---- clients ------------------------------------------------------------------------------

/// Counts what a client sends.
pub struct Counting<'a> {
    pub socket: &'a UdpSocket,
    pub sent: &'a mut usize,
}

impl Transport for Counting<'_> {
    fn send(&mut self, dgram: &[u8], peer: SocketAddr) -> io::Result<()> {
        *self.sent += 1;
        Transport::send(&mut &*self.socket, dgram, peer)
    }
    fn path_mtu(&mut self) -> Option<u32> {
        None
    }
}

pub struct Client {
    pub dtls: Dtls,
    pub socket: UdpSocket,
    /// Application data received so far.
    pub received: Vec<Vec<u8>>,
    /// Datagrams that arrived, of any kind.
    pub arrived: usize,
    /// Datagrams sent (retransmissions included).
    pub sent: usize,
    /// The server sent close_notify.
    pub remote_closed: bool,
}

impl Client {
    pub fn new(server: SocketAddr) -> Client {
        Client::on(UdpSocket::bind("127.0.0.1:0").unwrap(), server)
    }

    pub fn on(socket: UdpSocket, server: SocketAddr) -> Client {
        Client::with_config(socket, server, &psk_config(), "", KEY)
    }

    pub fn with_config(socket: UdpSocket, server: SocketAddr, cfg: &Configuration, name: &str, key: &[u8]) -> Client {
        socket.set_nonblocking(true).unwrap();
        let dtls = Dtls::new(SslMode::Client);
        dtls.set_dtls_configuration(cfg).unwrap();
        let key = key.to_vec();
        dtls.set_psk_callback(move |a| {
            a.set_identity(b"client");
            a.set_pre_shared_key(&key);
        });
        dtls.set_peer(server, name).unwrap();
        Client { dtls, socket, received: Vec::new(), arrived: 0, sent: 0, remote_closed: false }
    }

    pub fn local(&self) -> SocketAddr {
        self.socket.local_addr().unwrap()
    }

    /// The session and the counting socket, borrowed together.
    pub fn parts(&mut self) -> (&Dtls, Counting<'_>) {
        (&self.dtls, Counting { socket: &self.socket, sent: &mut self.sent })
    }

    pub fn start(&mut self) {
        let (dtls, mut out) = self.parts();
        dtls.do_handshake(&mut out, &[]).unwrap();
    }

    pub fn send(&mut self, data: &[u8]) {
        let (dtls, mut out) = self.parts();
        dtls.write_datagram_encrypted(&mut out, data).unwrap();
    }

    pub fn shutdown(&mut self) {
        let (dtls, mut out) = self.parts();
        dtls.shutdown(&mut out).unwrap();
    }

    pub fn complete(&self) -> bool {
        self.dtls.handshake_state() == HandshakeState::Complete
    }

    /// Reads what arrived, keeping decrypted application data in
    /// `received`, and retransmits when the timer is due.
    pub fn poll(&mut self) {
        let mut buf = [0u8; 4096];
        while let Ok(n) = self.socket.recv(&mut buf) {
            self.arrived += 1;
            let (dtls, mut out) = (&self.dtls, Counting { socket: &self.socket, sent: &mut self.sent });
            match dtls.handshake_state() {
                HandshakeState::InProgress => {
                    let _ = dtls.do_handshake(&mut out, &buf[..n]);
                }
                HandshakeState::Complete => match dtls.decrypt_datagram(&mut out, &buf[..n]) {
                    Ok(p) if !p.is_empty() => self.received.push(p),
                    Err(e) if e.kind() == DtlsError::RemoteClosedConnectionError => self.remote_closed = true,
                    _ => {}
                },
                _ => {}
            }
        }
        if self.dtls.handshake_state() == HandshakeState::InProgress && self.dtls.next_timeout() == Some(Duration::ZERO)
        {
            let (dtls, mut out) = self.parts();
            let _ = dtls.handle_timeout(&mut out);
        }
    }
}

/// Drives `clients` (reading every socket that has something, running due
/// timers) until `done`; fails after LIMIT.
pub fn drive(clients: &mut [&mut Client], what: &str, mut done: impl FnMut(&mut [&mut Client]) -> bool) {
    let deadline = Instant::now() + LIMIT;
    let mut fds = Vec::new();
    while !done(clients) {
        assert!(Instant::now() < deadline, "{what}: not done within {LIMIT:?}");
        fds.clear();
        fds.extend(clients.iter().map(|c| libc::pollfd { fd: c.socket.as_raw_fd(), events: libc::POLLIN, revents: 0 }));
        // SAFETY: a vector of valid pollfds.
        unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 5) };
        for (c, f) in clients.iter_mut().zip(&fds) {
            if f.revents != 0 || c.dtls.handshake_state() == HandshakeState::InProgress {
                c.poll();
            }
        }
    }
}

pub fn connect(clients: &mut [&mut Client]) {
    for c in clients.iter_mut() {
        c.start();
    }
    drive(clients, "handshakes", |cs| cs.iter().all(|c| c.complete()));
}

/// Each client sends "{tag} {i}" and must get exactly that back.
pub fn roundtrip(clients: &mut [&mut Client], tag: &str) {
    for (i, c) in clients.iter_mut().enumerate() {
        c.received.clear();
        c.send(format!("{tag} {i}").as_bytes());
    }
    drive(clients, tag, |cs| cs.iter().all(|c| !c.received.is_empty()));
    for (i, c) in clients.iter().enumerate() {
        assert_eq!(c.received, [format!("{tag} {i}").into_bytes()], "client {i}");
    }
}

/// Waits (driving `clients`) until the server's record satisfies `cond`.
pub fn wait_seen(server: &Running, clients: &mut [&mut Client], what: &str, cond: impl Fn(&Seen) -> bool) {
    drive(clients, what, |_| cond(&server.seen()));
}

/// Runs the handshakes of all `clients`, at most `window` at a time; every
/// client stays connected until the end.
pub fn connect_all(clients: &mut [Client], window: usize) {
    let deadline = Instant::now() + LIMIT;
    let (mut next, mut busy) = (0, Vec::<usize>::new());
    let mut fds = Vec::new();
    while next < clients.len() || !busy.is_empty() {
        assert!(Instant::now() < deadline, "{} of {} handshakes not done within {LIMIT:?}", busy.len(), clients.len());
        while busy.len() < window && next < clients.len() {
            clients[next].start();
            busy.push(next);
            next += 1;
        }
        fds.clear();
        fds.extend(busy.iter().map(|&i| libc::pollfd {
            fd: clients[i].socket.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }));
        // SAFETY: a vector of valid pollfds.
        unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 5) };
        for &i in &busy {
            clients[i].poll();
        }
        busy.retain(|&i| match clients[i].dtls.handshake_state() {
            HandshakeState::InProgress => true,
            HandshakeState::Complete => false,
            s => panic!("client {i}: handshake ended in {s:?}"),
        });
    }
}

/// Every client sends one datagram, at most `window` waiting for their
/// echo at a time, and must get exactly it back.
pub fn echo_all(clients: &mut [Client], window: usize, message: impl Fn(usize) -> String) {
    let deadline = Instant::now() + LIMIT;
    let (mut next, mut busy) = (0, Vec::<usize>::new());
    let mut fds = Vec::new();
    while next < clients.len() || !busy.is_empty() {
        assert!(Instant::now() < deadline, "{} echoes missing after {LIMIT:?}", busy.len());
        while busy.len() < window && next < clients.len() {
            clients[next].received.clear();
            clients[next].send(message(next).as_bytes());
            busy.push(next);
            next += 1;
        }
        fds.clear();
        fds.extend(busy.iter().map(|&i| libc::pollfd {
            fd: clients[i].socket.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }));
        // SAFETY: a vector of valid pollfds.
        unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 5) };
        for (&i, f) in busy.iter().zip(&fds) {
            if f.revents != 0 {
                clients[i].poll();
            }
        }
        busy.retain(|&i| clients[i].received.is_empty());
    }
    for (i, c) in clients.iter().enumerate() {
        assert_eq!(c.received, [message(i).into_bytes()], "client {i}");
    }
}

// ---- datagrams by hand --------------------------------------------------------------------

/// Collects what a session sends instead of sending it.
#[derive(Default)]
pub struct Capture(pub Vec<Vec<u8>>);

impl Transport for Capture {
    fn send(&mut self, dgram: &[u8], _peer: SocketAddr) -> io::Result<()> {
        self.0.push(dgram.to_vec());
        Ok(())
    }
    fn path_mtu(&mut self) -> Option<u32> {
        None
    }
}

/// A real ClientHello (no cookie) of a fresh PSK client.
pub fn client_hello(server: SocketAddr) -> Vec<u8> {
    let d = Dtls::new(SslMode::Client);
    d.set_dtls_configuration(&psk_config()).unwrap();
    d.set_psk_callback(|a| a.set_pre_shared_key(KEY));
    d.set_peer(server, "").unwrap();
    let mut cap = Capture::default();
    d.do_handshake(&mut cap, &[]).unwrap();
    assert_eq!(cap.0.len(), 1);
    cap.0.remove(0)
}

/// Offsets in a DTLS handshake datagram: record header, handshake header.
pub const RECORD: usize = 13;
pub const BODY: usize = RECORD + 12;

/// `hello` with `cookie` in it, and `tail` instead of what followed the
/// cookie when given; lengths adjusted, message_seq 1 as a second ClientHello.
pub fn with_cookie(hello: &[u8], cookie: &[u8], tail: Option<&[u8]>) -> Vec<u8> {
    let sid = usize::from(hello[BODY + 34]);
    let at = BODY + 35 + sid;
    let old = usize::from(hello[at]);
    let rest = tail.unwrap_or(&hello[at + 1 + old..]);
    let mut out = hello[..at].to_vec();
    out.push(cookie.len() as u8);
    out.extend_from_slice(cookie);
    out.extend_from_slice(rest);
    let rec_len = (out.len() - RECORD) as u16;
    out[11..13].copy_from_slice(&rec_len.to_be_bytes());
    let hs_len = ((out.len() - BODY) as u32).to_be_bytes();
    out[RECORD + 1..RECORD + 4].copy_from_slice(&hs_len[1..]);
    out[RECORD + 4..RECORD + 6].copy_from_slice(&[0, 1]);
    out[RECORD + 9..RECORD + 12].copy_from_slice(&hs_len[1..]);
    out[10] = 1; // record sequence number
    out
}

/// The handshake message type of an epoch-0 handshake datagram (3: HelloVerifyRequest, 2: ServerHello).
pub fn handshake_type(d: &[u8]) -> Option<u8> {
    (d.len() > BODY && d[0] == 22 && d[3] == 0 && d[4] == 0).then(|| d[RECORD])
}

pub fn hvr_cookie(d: &[u8]) -> Vec<u8> {
    assert_eq!(handshake_type(d), Some(3), "not a HelloVerifyRequest: {d:?}");
    let n = usize::from(d[BODY + 2]);
    d[BODY + 3..BODY + 3 + n].to_vec()
}

pub fn wait_readable(s: &UdpSocket, limit: Duration) -> bool {
    let mut pfd = libc::pollfd { fd: s.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    // SAFETY: one valid pollfd.
    unsafe { libc::poll(&mut pfd, 1, limit.as_millis() as i32) == 1 }
}

/// The next datagram on a non-blocking socket, waiting at most LIMIT.
pub fn recv_raw(s: &UdpSocket) -> Vec<u8> {
    assert!(wait_readable(s, LIMIT), "nothing arrived within {LIMIT:?}");
    let mut buf = vec![0u8; 65536];
    let n = s.recv(&mut buf).unwrap();
    buf.truncate(n);
    buf
}

pub fn fresh_socket() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_nonblocking(true).unwrap();
    s
}
