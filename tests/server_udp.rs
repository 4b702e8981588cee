//! The server over real loopback UDP: many clients at once, echo, close
//! reasons, a client restarted on the same port.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use qdtls::{CloseReason, Configuration, Dtls, HandshakeState, PeerVerifyMode, Server, ServerEvents, SslMode};

const KEY: &[u8] = b"server test pre-shared key";

fn psk_config() -> Configuration {
    let mut c = Configuration::new();
    c.set_peer_verify_mode(PeerVerifyMode::VerifyNone);
    c
}

/// What the server saw, shared with the test thread.
#[derive(Default)]
struct Seen {
    connected: Vec<SocketAddr>,
    closed: Vec<(SocketAddr, CloseReason)>,
    datagrams: usize,
}

fn addr(peer: &Dtls) -> SocketAddr {
    peer.peer_address().expect("a peer has an address")
}

struct Echo<'a> {
    socket: &'a UdpSocket,
    seen: &'a Mutex<Seen>,
}

impl ServerEvents for Echo<'_> {
    fn connected(&mut self, peer: &Dtls) {
        self.seen.lock().unwrap().connected.push(addr(peer));
    }
    fn datagram(&mut self, peer: &Dtls, data: &[u8]) {
        self.seen.lock().unwrap().datagrams += 1;
        peer.write_datagram_encrypted(&mut &*self.socket, data).expect("echo");
    }
    fn closed(&mut self, peer: &Dtls, reason: CloseReason) {
        self.seen.lock().unwrap().closed.push((addr(peer), reason));
    }
}

/// A server on its own thread until `stop`; returns its address.
struct Running {
    addr: SocketAddr,
    seen: Arc<Mutex<Seen>>,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Running {
    fn start(setup: impl FnOnce(&mut Server) + Send + 'static) -> Running {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_nonblocking(true).unwrap();
        let addr = socket.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen2, stop2) = (seen.clone(), stop.clone());
        let thread = thread::spawn(move || {
            let mut server = Server::new(&psk_config()).unwrap();
            server.set_psk_callback(|_, a| a.set_pre_shared_key(KEY));
            setup(&mut server);
            let mut ev = Echo { socket: &socket, seen: &seen2 };
            while !stop2.load(Ordering::Relaxed) {
                let wait = server.next_timeout().map_or(20, |d| d.as_millis().min(20) as i32);
                let mut pfd = libc::pollfd { fd: socket.as_raw_fd(), events: libc::POLLIN, revents: 0 };
                // SAFETY: one valid pollfd.
                unsafe { libc::poll(&mut pfd, 1, wait) };
                server.receive(&socket, &mut ev).unwrap();
                server.handle_timeouts(&mut &socket, &mut ev).unwrap();
            }
        });
        Running { addr, seen, stop, thread: Some(thread) }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Client {
    dtls: Dtls,
    socket: UdpSocket,
    /// Application data received so far.
    received: Vec<Vec<u8>>,
}

impl Client {
    fn new(server: SocketAddr) -> Client {
        Client::on(UdpSocket::bind("127.0.0.1:0").unwrap(), server)
    }

    fn on(socket: UdpSocket, server: SocketAddr) -> Client {
        socket.set_nonblocking(true).unwrap();
        let dtls = Dtls::new(SslMode::Client);
        dtls.set_dtls_configuration(&psk_config()).unwrap();
        dtls.set_psk_callback(|a| {
            a.set_identity(b"client");
            a.set_pre_shared_key(KEY);
        });
        dtls.set_peer(server, "").unwrap();
        Client { dtls, socket, received: Vec::new() }
    }

    /// Reads what arrived, keeping decrypted application data in `received`.
    fn poll(&mut self) {
        let mut buf = [0u8; 4096];
        let out = &mut self.received;
        while let Ok(n) = self.socket.recv(&mut buf) {
            match self.dtls.handshake_state() {
                HandshakeState::InProgress => {
                    let _ = self.dtls.do_handshake(&mut self.socket, &buf[..n]);
                }
                HandshakeState::Complete => {
                    if let Ok(p) = self.dtls.decrypt_datagram(&mut self.socket, &buf[..n]) {
                        if !p.is_empty() {
                            out.push(p);
                        }
                    }
                }
                _ => {}
            }
        }
        if self.dtls.next_timeout() == Some(Duration::ZERO) {
            let _ = self.dtls.handle_timeout(&mut self.socket);
        }
    }
}

/// Drives `clients` until `done` or 30 s.
fn drive(clients: &mut [Client], mut done: impl FnMut(&mut [Client], usize) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut round = 0;
    while !done(clients, round) {
        assert!(Instant::now() < deadline, "not done within 30 s");
        for c in clients.iter_mut() {
            c.poll();
        }
        thread::sleep(Duration::from_millis(1));
        round += 1;
    }
}

fn start_all(clients: &mut [Client]) {
    for c in clients.iter_mut() {
        c.dtls.do_handshake(&mut c.socket, &[]).unwrap();
    }
}

fn all_complete(clients: &[Client]) -> bool {
    clients.iter().all(|c| c.dtls.handshake_state() == HandshakeState::Complete)
}

#[test]
fn many_clients_complete_and_echo() {
    let server = Running::start(|_| {});
    let mut clients: Vec<Client> = (0..50).map(|_| Client::new(server.addr)).collect();
    start_all(&mut clients);
    drive(&mut clients, |c, _| all_complete(c));
    for (i, c) in clients.iter_mut().enumerate() {
        let msg = format!("hello {i}");
        c.dtls.write_datagram_encrypted(&mut c.socket, msg.as_bytes()).unwrap();
    }
    drive(&mut clients, |cs, _| cs.iter().all(|c| !c.received.is_empty()));
    for (i, c) in clients.iter().enumerate() {
        assert_eq!(c.received, [format!("hello {i}").into_bytes()]);
    }
    let seen = server.seen.lock().unwrap();
    assert_eq!(seen.connected.len(), 50);
    assert_eq!(seen.datagrams, 50);
}
