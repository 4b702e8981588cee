//! Test support: safe wrappers over the C ABI (the tests exercise exactly what
//! a C caller uses), real UDP sockets on loopback, and a pump that moves
//! datagrams between two endpoints, with optional loss, driven by
//! qdtls_next_timeout_ms / qdtls_handle_timeout.

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use libc::{c_char, c_void};
use qdtls::ffi::config::*;
use qdtls::ffi::dtls::*;
use qdtls::ffi::psk::*;
use qdtls::ffi::verifier::*;
use qdtls::ffi::*;

pub use qdtls::ffi::dtls::qdtls_ssl_error;

/// A UDP socket on 127.0.0.1 with a short read timeout.
pub fn udp() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(5))).unwrap();
    s
}

/// A non-blocking UDP socket on 127.0.0.1.
pub fn nb_udp() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_nonblocking(true).unwrap();
    s
}

/// qdtls_set_initial_timeout_ms, which must succeed.
pub fn set_first_timeout(d: &Dtls, ms: u32) {
    assert!(unsafe { qdtls_set_initial_timeout_ms(d.0, ms) }, "{}", d.error_string());
}

pub fn udp6() -> UdpSocket {
    let s = UdpSocket::bind("[::1]:0").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(5))).unwrap();
    s
}

/// One datagram, if one arrives within the socket's read timeout.
pub fn recv(s: &UdpSocket) -> Option<(Vec<u8>, SocketAddr)> {
    let mut buf = vec![0u8; 65536];
    match s.recv_from(&mut buf) {
        Ok((n, from)) => {
            buf.truncate(n);
            Some((buf, from))
        }
        Err(_) => None,
    }
}

/// Reads a string getter of the C ABI (checks the NUL-termination rule too).
pub fn read_str(f: impl Fn(*mut c_char, usize) -> usize) -> String {
    let len = f(std::ptr::null_mut(), 0);
    let mut buf = vec![0x7fu8; len + 1];
    assert_eq!(f(buf.as_mut_ptr().cast(), buf.len()), len);
    assert_eq!(buf[len], 0, "string getter must NUL-terminate");
    buf.truncate(len);
    String::from_utf8(buf).unwrap()
}

/// Reads a byte getter of the C ABI.
pub fn read_bytes(f: impl Fn(*mut u8, usize) -> usize) -> Vec<u8> {
    let len = f(std::ptr::null_mut(), 0);
    let mut buf = vec![0u8; len];
    assert_eq!(f(buf.as_mut_ptr(), buf.len()), len);
    buf
}

// ---- configuration ------------------------------------------------------

pub struct Cfg(pub *mut qdtls_configuration);

impl Drop for Cfg {
    fn drop(&mut self) {
        unsafe { qdtls_configuration_free(self.0) }
    }
}

impl Default for Cfg {
    fn default() -> Self {
        Self::new()
    }
}

impl Cfg {
    pub fn new() -> Cfg {
        Cfg(qdtls_configuration_new())
    }
    /// No cookies (no verifier in front), VerifyNone: the PSK setup of Qt's tests.
    pub fn psk() -> Cfg {
        let c = Cfg::new();
        c.cookies(false).verify_mode(QDTLS_VERIFY_NONE);
        c
    }
    pub fn cookies(&self, on: bool) -> &Self {
        assert!(unsafe { qdtls_configuration_set_dtls_cookie_verification_enabled(self.0, on) });
        self
    }
    pub fn verify_mode(&self, m: i32) -> &Self {
        assert!(unsafe { qdtls_configuration_set_peer_verify_mode(self.0, m) });
        self
    }
    pub fn protocol(&self, p: i32) -> &Self {
        assert!(unsafe { qdtls_configuration_set_protocol(self.0, p) });
        self
    }
    pub fn ciphers(&self, list: &str) -> &Self {
        let c = std::ffi::CString::new(list).unwrap();
        assert!(unsafe { qdtls_configuration_set_ciphers(self.0, c.as_ptr()) }, "cipher list {list}");
        self
    }
    pub fn server_preference(&self, on: bool) -> &Self {
        assert!(unsafe { qdtls_configuration_set_server_cipher_preference(self.0, on) });
        self
    }
    pub fn hint(&self, hint: &[u8]) -> &Self {
        assert!(unsafe { qdtls_configuration_set_pre_shared_key_identity_hint(self.0, hint.as_ptr(), hint.len()) });
        self
    }
    pub fn identity(&self, chain_pem: &str, key_pem: &str) -> &Self {
        assert!(unsafe {
            qdtls_configuration_set_local_certificate_chain(self.0, chain_pem.as_ptr().cast(), chain_pem.len())
        });
        assert!(unsafe {
            qdtls_configuration_set_private_key(self.0, key_pem.as_ptr().cast(), key_pem.len(), std::ptr::null())
        });
        self
    }
    pub fn ca(&self, pem: &str) -> &Self {
        assert!(unsafe { qdtls_configuration_add_ca_certificates(self.0, pem.as_ptr().cast(), pem.len()) });
        self
    }
}

// ---- PSK ------------------------------------------------------------------

/// What a PSK callback answers, and what it saw.
#[derive(Default)]
pub struct Psk {
    pub identity: Vec<u8>,
    pub key: Vec<u8>,
    pub calls: AtomicUsize,
    pub seen_hint: Mutex<Vec<u8>>,
    pub seen_identity: Mutex<Vec<u8>>,
    pub seen_max_identity: Mutex<i32>,
    pub seen_max_key: Mutex<i32>,
}

impl Psk {
    pub fn new(identity: &[u8], key: &[u8]) -> Box<Psk> {
        Box::new(Psk { identity: identity.to_vec(), key: key.to_vec(), ..Default::default() })
    }
}

pub unsafe extern "C" fn psk_callback(user: *mut c_void, a: *mut qdtls_psk_authenticator) {
    let p = &*(user as *const Psk);
    p.calls.fetch_add(1, Ordering::SeqCst);
    *p.seen_hint.lock().unwrap() = read_bytes(|b, c| qdtls_psk_identity_hint(a, b, c));
    *p.seen_identity.lock().unwrap() = read_bytes(|b, c| qdtls_psk_identity(a, b, c));
    *p.seen_max_identity.lock().unwrap() = qdtls_psk_maximum_identity_length(a);
    *p.seen_max_key.lock().unwrap() = qdtls_psk_maximum_pre_shared_key_length(a);
    if qdtls_psk_maximum_identity_length(a) > 0 {
        assert!(qdtls_psk_set_identity(a, p.identity.as_ptr(), p.identity.len()));
    }
    assert!(qdtls_psk_set_pre_shared_key(a, p.key.as_ptr(), p.key.len()));
}

// ---- QDtls ------------------------------------------------------------------

pub struct Dtls(pub *mut qdtls_connection);

impl Drop for Dtls {
    fn drop(&mut self) {
        unsafe { qdtls_free(self.0) }
    }
}

impl Dtls {
    pub fn client() -> Dtls {
        Dtls(qdtls_new(QDTLS_SSL_CLIENT_MODE))
    }
    pub fn server() -> Dtls {
        Dtls(qdtls_new(QDTLS_SSL_SERVER_MODE))
    }
    pub fn with_config(self, cfg: &Cfg) -> Dtls {
        assert!(unsafe { qdtls_set_dtls_configuration(self.0, cfg.0) });
        self
    }
    /// Installs `psk` as this handle's PSK callback; keep `psk` alive meanwhile.
    pub fn with_psk(self, psk: &Psk) -> Dtls {
        assert!(unsafe { qdtls_set_psk_callback(self.0, Some(psk_callback), psk as *const Psk as *mut c_void) });
        self
    }
    pub fn set_peer(&self, addr: SocketAddr, name: &str) -> bool {
        let a = std::ffi::CString::new(addr.ip().to_string()).unwrap();
        let n = std::ffi::CString::new(name).unwrap();
        unsafe { qdtls_set_peer(self.0, a.as_ptr(), addr.port(), n.as_ptr()) }
    }
    pub fn state(&self) -> i32 {
        unsafe { qdtls_handshake_state(self.0) }
    }
    pub fn error(&self) -> i32 {
        unsafe { qdtls_dtls_error(self.0) }
    }
    pub fn error_string(&self) -> String {
        read_str(|b, c| unsafe { qdtls_dtls_error_string(self.0, b, c) })
    }
    pub fn encrypted(&self) -> bool {
        unsafe { qdtls_is_connection_encrypted(self.0) }
    }
    pub fn cipher(&self) -> String {
        read_str(|b, c| unsafe { qdtls_session_cipher(self.0, b, c) })
    }
    pub fn protocol(&self) -> i32 {
        unsafe { qdtls_session_protocol(self.0) }
    }
    pub fn handshake(&self, s: &UdpSocket, dgram: &[u8]) -> bool {
        unsafe { qdtls_do_handshake(self.0, s.as_raw_fd(), dgram.as_ptr(), dgram.len()) }
    }
    pub fn write(&self, s: &UdpSocket, data: &[u8]) -> i64 {
        unsafe { qdtls_write_datagram_encrypted(self.0, s.as_raw_fd(), data.as_ptr(), data.len()) }
    }
    /// Decrypts; None on -1.
    pub fn decrypt(&self, s: &UdpSocket, dgram: &[u8]) -> Option<Vec<u8>> {
        let mut out = vec![0u8; dgram.len()];
        let n = unsafe {
            qdtls_decrypt_datagram(self.0, s.as_raw_fd(), dgram.as_ptr(), dgram.len(), out.as_mut_ptr(), out.len())
        };
        (n >= 0).then(|| {
            out.truncate(n as usize);
            out
        })
    }
    pub fn next_timeout_ms(&self) -> i64 {
        unsafe { qdtls_next_timeout_ms(self.0) }
    }
    pub fn handle_timeout(&self, s: &UdpSocket) -> bool {
        unsafe { qdtls_handle_timeout(self.0, s.as_raw_fd()) }
    }
    pub fn resume(&self, s: &UdpSocket) -> bool {
        unsafe { qdtls_resume_handshake(self.0, s.as_raw_fd()) }
    }
    pub fn abort(&self, s: &UdpSocket) -> bool {
        unsafe { qdtls_abort_handshake(self.0, s.as_raw_fd()) }
    }
    pub fn shutdown(&self, s: &UdpSocket) -> bool {
        unsafe { qdtls_shutdown(self.0, s.as_raw_fd()) }
    }
    pub fn verification_errors(&self) -> Vec<i32> {
        let n = unsafe { qdtls_peer_verification_error_count(self.0) };
        (0..n).map(|i| unsafe { qdtls_peer_verification_error_code(self.0, i) }).collect()
    }
    pub fn verification_error_cert(&self, i: usize) -> Vec<u8> {
        read_bytes(|b, c| unsafe { qdtls_peer_verification_error_certificate(self.0, i, b, c) })
    }
    pub fn peer_certificate(&self) -> Vec<u8> {
        read_bytes(|b, c| unsafe { qdtls_peer_certificate(self.0, b, c) })
    }
    pub fn peer_chain_len(&self) -> usize {
        unsafe { qdtls_peer_certificate_chain_count(self.0) }
    }
    /// Ignores the given (code, DER certificate or empty for any).
    pub fn ignore(&self, errors: &[(i32, Vec<u8>)]) -> bool {
        let list: Vec<qdtls_ssl_error> = errors
            .iter()
            .map(|(code, der)| qdtls_ssl_error {
                code: *code,
                certificate_der: if der.is_empty() { std::ptr::null() } else { der.as_ptr() },
                certificate_der_len: der.len(),
            })
            .collect();
        unsafe { qdtls_ignore_verification_errors(self.0, list.as_ptr(), list.len()) }
    }
    pub fn max_payload(&self) -> usize {
        unsafe { qdtls_max_payload_size(self.0) }
    }
}

// ---- verifier ---------------------------------------------------------------

pub struct Verifier(pub *mut qdtls_client_verifier);

impl Drop for Verifier {
    fn drop(&mut self) {
        unsafe { qdtls_client_verifier_free(self.0) }
    }
}

impl Default for Verifier {
    fn default() -> Self {
        Self::new()
    }
}

impl Verifier {
    pub fn new() -> Verifier {
        Verifier(qdtls_client_verifier_new())
    }
    pub fn verify(&self, s: &UdpSocket, dgram: &[u8], from: SocketAddr) -> bool {
        let a = std::ffi::CString::new(from.ip().to_string()).unwrap();
        unsafe {
            qdtls_client_verifier_verify_client(
                self.0,
                s.as_raw_fd(),
                dgram.as_ptr(),
                dgram.len(),
                a.as_ptr(),
                from.port(),
            )
        }
    }
    pub fn error(&self) -> i32 {
        unsafe { qdtls_client_verifier_dtls_error(self.0) }
    }
    pub fn verified_hello(&self) -> Vec<u8> {
        read_bytes(|b, c| unsafe { qdtls_client_verifier_verified_hello(self.0, b, c) })
    }
}

// ---- two endpoints and a pump ----------------------------------------------------

/// A client and a server, each with its own socket, peers set to each other.
pub struct Link {
    pub client: Dtls,
    pub csock: UdpSocket,
    pub server: Dtls,
    pub ssock: UdpSocket,
    /// Datagrams dropped on their way: (from_client, index among that side's sends) -> drop?
    pub drop_rule: Box<dyn FnMut(bool, usize) -> bool>,
    sent: [usize; 2],
}

impl Link {
    pub fn new(client: Dtls, server: Dtls) -> Link {
        let (csock, ssock) = (udp(), udp());
        Self::with_sockets(client, csock, server, ssock)
    }

    pub fn with_sockets(client: Dtls, csock: UdpSocket, server: Dtls, ssock: UdpSocket) -> Link {
        assert!(client.set_peer(ssock.local_addr().unwrap(), ""));
        assert!(server.set_peer(csock.local_addr().unwrap(), ""));
        Link { client, csock, server, ssock, drop_rule: Box::new(|_, _| false), sent: [0, 0] }
    }

    /// A PSK pair with Qt-test settings (no cookies, VerifyNone).
    pub fn psk(client_psk: &Psk, server_psk: &Psk) -> Link {
        let cfg = Cfg::psk();
        Link::new(
            Dtls::client().with_config(&cfg).with_psk(client_psk),
            Dtls::server().with_config(&cfg).with_psk(server_psk),
        )
    }

    fn done(d: &Dtls) -> bool {
        d.state() == QDTLS_HANDSHAKE_COMPLETE || d.state() == QDTLS_PEER_VERIFICATION_FAILED
    }

    /// Moves one datagram from `from` (if any) into the other side's handshake
    /// or decrypt. Returns whether something arrived.
    fn step(&mut self, from_client: bool) -> bool {
        let (sock, dtls) = if from_client { (&self.ssock, &self.server) } else { (&self.csock, &self.client) };
        let Some((d, _)) = recv(sock) else { return false };
        let idx = self.sent[from_client as usize];
        self.sent[from_client as usize] += 1;
        if (self.drop_rule)(from_client, idx) {
            return true;
        }
        match dtls.state() {
            QDTLS_HANDSHAKE_COMPLETE => {
                dtls.decrypt(sock, &d);
            }
            QDTLS_HANDSHAKE_NOT_STARTED if from_client => {
                dtls.handshake(sock, &d);
            }
            QDTLS_HANDSHAKE_IN_PROGRESS => {
                dtls.handshake(sock, &d);
            }
            _ => {}
        }
        true
    }

    /// Starts the client's handshake and pumps until both sides stop
    /// progressing (complete, verification failed, or failed) or `limit` passes.
    pub fn handshake(&mut self, limit: Duration) -> bool {
        assert!(self.client.handshake(&self.csock, &[]), "client start: {}", self.client.error_string());
        self.pump(limit)
    }

    /// Pumps until both sides are done (or the client fails) or `limit` passes.
    pub fn pump(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if Self::done(&self.client) && Self::done(&self.server) {
                return true;
            }
            if self.client.state() == QDTLS_HANDSHAKE_NOT_STARTED && self.client.error() != QDTLS_ERROR_NO_ERROR {
                return false;
            }
            let a = self.step(true);
            let b = self.step(false);
            if !a && !b {
                for (d, s) in [(&self.client, &self.csock), (&self.server, &self.ssock)] {
                    if d.next_timeout_ms() == 0 {
                        d.handle_timeout(s);
                    }
                }
            }
        }
        Self::done(&self.client) && Self::done(&self.server)
    }

    /// Sends `data` from one side and returns what the other side decrypted.
    pub fn send(&self, from_client: bool, data: &[u8]) -> Option<Vec<u8>> {
        let (tx, txs, rx, rxs) = if from_client {
            (&self.client, &self.csock, &self.server, &self.ssock)
        } else {
            (&self.server, &self.ssock, &self.client, &self.csock)
        };
        assert_eq!(tx.write(txs, data), data.len() as i64, "write: {}", tx.error_string());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Some((d, _)) = recv(rxs) {
                match rx.decrypt(rxs, &d) {
                    // A retransmitted handshake flight (short timers, a
                    // loaded machine) may arrive first: it decrypts to nothing.
                    Some(plain) if plain.is_empty() && !data.is_empty() => continue,
                    other => return other,
                }
            }
        }
        None
    }
}

/// `Ok` when `ok`, else the message `what` makes (for checks that gather
/// every failure of a matrix instead of stopping at the first).
pub fn check(ok: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(what())
    }
}
