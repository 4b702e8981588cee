//! QDtlsClientVerifier: the stateless cookie exchange (RFC 6347 4.2.1) in
//! front of a server QDtls, over real UDP sockets on loopback.

mod common;

use std::cell::Cell;
use std::collections::HashSet;
use std::ffi::CString;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use common::harness::*;
use qdtls::ffi::config::qdtls_configuration_dtls_cookie_verification_enabled;
use qdtls::ffi::dtls::*;
use qdtls::ffi::verifier::*;
use qdtls::ffi::*;

// ---- helpers ------------------------------------------------------------------

/// Record content type "handshake" and the handshake message types we look at.
const CT_HANDSHAKE: u8 = 22;
const MT_CLIENT_HELLO: u8 = 1;
const MT_HELLO_VERIFY_REQUEST: u8 = 3;

/// A PSK pair that lives as long as the test process (handles keep a raw pointer to it).
fn psk_client() -> &'static Psk {
    Box::leak(Psk::new(b"verifier client", b"\x01\x02\x03\x04\x05\x06\x07\x08"))
}

fn psk_server() -> &'static Psk {
    Box::leak(Psk::new(b"", b"\x01\x02\x03\x04\x05\x06\x07\x08"))
}

/// Waits up to `limit` for one datagram on `s`.
fn recv_within(s: &UdpSocket, limit: Duration) -> Option<(Vec<u8>, SocketAddr)> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(d) = recv(s) {
            return Some(d);
        }
        if Instant::now() >= deadline {
            return None;
        }
    }
}

/// True if nothing arrives on `s` within ~100 ms.
fn silent(s: &UdpSocket) -> bool {
    recv_within(s, Duration::from_millis(100)).is_none()
}

fn is_handshake_msg(d: &[u8], msg_type: u8) -> bool {
    d.len() > 25 && d[0] == CT_HANDSHAKE && d[13] == msg_type
}

/// The cookie of a HelloVerifyRequest: record header (13), handshake header
/// (12), server_version (2), then a length byte and the cookie.
fn hvr_cookie(d: &[u8]) -> Vec<u8> {
    assert!(is_handshake_msg(d, MT_HELLO_VERIFY_REQUEST), "not a HelloVerifyRequest: {d:02x?}");
    let len = d[27] as usize;
    d[28..28 + len].to_vec()
}

fn verifier_params(v: &Verifier) -> (i32, Vec<u8>) {
    let hash = Cell::new(-7);
    let secret =
        read_bytes(|b, c| unsafe { qdtls_client_verifier_cookie_generator_parameters(v.0, hash.as_ptr(), b, c) });
    (hash.get(), secret)
}

fn dtls_params(d: &Dtls) -> (i32, Vec<u8>) {
    let hash = Cell::new(-7);
    let secret = read_bytes(|b, c| unsafe { qdtls_cookie_generator_parameters(d.0, hash.as_ptr(), b, c) });
    (hash.get(), secret)
}

fn set_verifier_params(v: &Verifier, hash: i32, secret: &[u8]) -> bool {
    unsafe { qdtls_client_verifier_set_cookie_generator_parameters(v.0, hash, secret.as_ptr(), secret.len()) }
}

fn set_dtls_params(d: &Dtls, hash: i32, secret: &[u8]) -> bool {
    unsafe { qdtls_set_cookie_generator_parameters(d.0, hash, secret.as_ptr(), secret.len()) }
}

fn verifier_error_string(v: &Verifier) -> String {
    read_str(|b, c| unsafe { qdtls_client_verifier_dtls_error_string(v.0, b, c) })
}

/// verify_client with raw arguments (fd, datagram pointer/length, address text or NULL).
fn verify_raw(v: &Verifier, fd: i32, dgram: &[u8], address: Option<&str>, port: u16) -> bool {
    let a = address.map(|a| CString::new(a).unwrap());
    let ap = a.as_ref().map_or(std::ptr::null(), |a| a.as_ptr());
    let dp = if dgram.is_empty() { std::ptr::null() } else { dgram.as_ptr() };
    unsafe { qdtls_client_verifier_verify_client(v.0, fd, dp, dgram.len(), ap, port) }
}

/// A client that has sent its first (cookie-less) ClientHello to `ssock`.
struct Client {
    dtls: Dtls,
    sock: UdpSocket,
}

impl Client {
    /// The retransmission timer is set to its maximum: these tests move every
    /// datagram themselves, and a retransmitted cookie-less hello (OpenSSL
    /// retransmits from inside do_handshake once the timer expired, which a
    /// loaded machine can reach) would be taken for the cookie hello.
    fn start(cfg: &Cfg, server: SocketAddr, sock: UdpSocket) -> Client {
        Self::start_with_timeout(cfg, server, sock, 60_000)
    }

    fn start_with_timeout(cfg: &Cfg, server: SocketAddr, sock: UdpSocket, initial_timeout_ms: u32) -> Client {
        let dtls = Dtls::client().with_config(cfg).with_psk(psk_client());
        assert!(unsafe { qdtls_set_initial_timeout_ms(dtls.0, initial_timeout_ms) });
        assert!(dtls.set_peer(server, ""));
        assert!(dtls.handshake(&sock, &[]), "client start: {}", dtls.error_string());
        assert_eq!(dtls.state(), QDTLS_HANDSHAKE_IN_PROGRESS);
        Client { dtls, sock }
    }

    fn addr(&self) -> SocketAddr {
        self.sock.local_addr().unwrap()
    }
}

/// Receives the next ClientHello on the server socket, from `from`.
fn next_hello(ssock: &UdpSocket, from: SocketAddr) -> Vec<u8> {
    let (d, src) = recv_within(ssock, Duration::from_secs(2)).expect("a ClientHello");
    assert_eq!(src, from);
    assert!(is_handshake_msg(&d, MT_CLIENT_HELLO), "not a ClientHello: {d:02x?}");
    d
}

/// Runs the cookie exchange for `c` against `v` on `ssock`: the first hello
/// is refused with a HelloVerifyRequest, the client answers with a cookie
/// hello, which verifies. Returns (first hello, HVR, cookie hello).
fn cookie_exchange(v: &Verifier, ssock: &UdpSocket, c: &Client) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let hello = next_hello(ssock, c.addr());
    assert!(!v.verify(ssock, &hello, c.addr()), "a hello without cookie must not verify");
    assert_eq!(v.error(), QDTLS_ERROR_NO_ERROR, "{}", verifier_error_string(v));
    assert!(v.verified_hello().is_empty());
    let (hvr, from) = recv_within(&c.sock, Duration::from_secs(2)).expect("a HelloVerifyRequest");
    assert_eq!(from, ssock.local_addr().unwrap(), "the HVR comes from the socket given to verify_client");
    assert!(is_handshake_msg(&hvr, MT_HELLO_VERIFY_REQUEST), "not a HelloVerifyRequest: {hvr:02x?}");
    assert!(c.dtls.handshake(&c.sock, &hvr), "client fed the HVR: {}", c.dtls.error_string());
    assert_eq!(c.dtls.state(), QDTLS_HANDSHAKE_IN_PROGRESS);
    let hello2 = next_hello(ssock, c.addr());
    assert_ne!(hello, hello2, "the second hello carries the cookie");
    assert!(v.verify(ssock, &hello2, c.addr()), "cookie hello must verify: {}", verifier_error_string(v));
    assert_eq!(v.error(), QDTLS_ERROR_NO_ERROR);
    assert_eq!(verifier_error_string(v), "");
    assert_eq!(v.verified_hello(), hello2);
    (hello, hvr, hello2)
}

/// A server QDtls (default configuration: cookies on) with VerifyNone and PSK, peer `client`.
fn cookie_server(client: SocketAddr) -> Dtls {
    let cfg = Cfg::new();
    cfg.verify_mode(QDTLS_VERIFY_NONE);
    assert!(unsafe { qdtls_configuration_dtls_cookie_verification_enabled(cfg.0) });
    let s = Dtls::server().with_config(&cfg).with_psk(psk_server());
    assert!(s.set_peer(client, ""));
    s
}

/// Moves datagrams between an already started client and server until both
/// are complete (or `limit` passes).
fn finish_handshake(c: &Client, s: &Dtls, ssock: &UdpSocket, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        let done = |d: &Dtls| d.state() == QDTLS_HANDSHAKE_COMPLETE;
        if done(&c.dtls) && done(s) {
            return true;
        }
        if c.dtls.state() == QDTLS_HANDSHAKE_NOT_STARTED || s.state() == QDTLS_HANDSHAKE_NOT_STARTED {
            return false;
        }
        let mut moved = false;
        if let Some((d, _)) = recv(ssock) {
            moved = true;
            if s.state() == QDTLS_HANDSHAKE_IN_PROGRESS {
                s.handshake(ssock, &d);
            }
        }
        if let Some((d, _)) = recv(&c.sock) {
            moved = true;
            if c.dtls.state() == QDTLS_HANDSHAKE_IN_PROGRESS {
                c.dtls.handshake(&c.sock, &d);
            }
        }
        if !moved {
            for (d, sock) in [(&c.dtls, &c.sock), (s, ssock)] {
                if d.next_timeout_ms() == 0 {
                    d.handle_timeout(sock);
                }
            }
        }
    }
    false
}

/// The ClientHello `hello` split into two correct-looking fragments (offset, datagram).
fn fragments(hello: &[u8]) -> Vec<(usize, Vec<u8>)> {
    let body = &hello[25..];
    let half = body.len() / 2;
    [(0usize, &body[..half]), (half, &body[half..])]
        .into_iter()
        .map(|(off, frag)| {
            let mut g = hello[..25].to_vec();
            g[19..22].copy_from_slice(&(off as u32).to_be_bytes()[1..]);
            g[22..25].copy_from_slice(&(frag.len() as u32).to_be_bytes()[1..]);
            g.extend_from_slice(frag);
            let rec = (g.len() - 13) as u16;
            g[11..13].copy_from_slice(&rec.to_be_bytes());
            (off, g)
        })
        .collect()
}

/// A tiny deterministic PRNG (xorshift64*), so failures are reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

// ---- defaults and parameters ------------------------------------------------------

#[test]
fn defaults_are_sha256_and_the_process_wide_secret() {
    let v = Verifier::new();
    assert!(!v.0.is_null());
    let (hash, secret) = verifier_params(&v);
    assert_eq!(hash, QDTLS_HASH_SHA256);
    assert_eq!(secret.len(), 32);
    assert_ne!(secret, vec![0u8; 32], "the secret is random");
    // Shared with every verifier and every QDtls of the process.
    assert_eq!(verifier_params(&Verifier::new()), (QDTLS_HASH_SHA256, secret.clone()));
    assert_eq!(dtls_params(&Dtls::server()), (QDTLS_HASH_SHA256, secret.clone()));
    assert_eq!(dtls_params(&Dtls::client()), (QDTLS_HASH_SHA256, secret));
    assert_eq!(v.error(), QDTLS_ERROR_NO_ERROR);
    assert_eq!(verifier_error_string(&v), "");
    assert!(v.verified_hello().is_empty());
}

#[test]
fn verifier_set_cookie_generator_parameters_checks_its_input() {
    let v = Verifier::new();
    let old = verifier_params(&v);
    // Empty secret (NULL and non-NULL pointer): refused, old parameters kept.
    assert!(!unsafe {
        qdtls_client_verifier_set_cookie_generator_parameters(v.0, QDTLS_HASH_SHA1, std::ptr::null(), 0)
    });
    assert_eq!(v.error(), QDTLS_ERROR_INVALID_INPUT_PARAMETERS);
    assert_ne!(verifier_error_string(&v), "");
    assert_eq!(verifier_params(&v), old);
    assert!(!set_verifier_params(&v, QDTLS_HASH_SHA1, &[]));
    assert_eq!(v.error(), QDTLS_ERROR_INVALID_INPUT_PARAMETERS);
    assert_eq!(verifier_params(&v), old);
    // NULL secret with a length.
    assert!(!unsafe {
        qdtls_client_verifier_set_cookie_generator_parameters(v.0, QDTLS_HASH_SHA1, std::ptr::null(), 4)
    });
    assert_eq!(v.error(), QDTLS_ERROR_INVALID_INPUT_PARAMETERS);
    assert_eq!(verifier_params(&v), old);
    // Unknown hashes.
    for bad in [0, 7, 10, 15, 99, -1] {
        assert!(set_verifier_params(&v, QDTLS_HASH_SHA1, b"reset the error"));
        assert_eq!(v.error(), QDTLS_ERROR_NO_ERROR);
        assert!(!set_verifier_params(&v, bad, b"some secret"), "hash {bad}");
        assert_eq!(v.error(), QDTLS_ERROR_INVALID_INPUT_PARAMETERS, "hash {bad}");
        assert_ne!(verifier_error_string(&v), "");
        assert_eq!(verifier_params(&v), (QDTLS_HASH_SHA1, b"reset the error".to_vec()), "hash {bad}");
    }
    // Every known hash is accepted and read back; success clears the error.
    for hash in [
        QDTLS_HASH_MD5,
        QDTLS_HASH_SHA1,
        QDTLS_HASH_SHA224,
        QDTLS_HASH_SHA256,
        QDTLS_HASH_SHA384,
        QDTLS_HASH_SHA512,
        QDTLS_HASH_SHA3_224,
        QDTLS_HASH_SHA3_256,
        QDTLS_HASH_SHA3_384,
        QDTLS_HASH_SHA3_512,
    ] {
        assert!(!set_verifier_params(&v, 0, b"x"));
        let secret = format!("secret for {hash}").into_bytes();
        assert!(set_verifier_params(&v, hash, &secret), "hash {hash}");
        assert_eq!(v.error(), QDTLS_ERROR_NO_ERROR);
        assert_eq!(verifier_error_string(&v), "");
        assert_eq!(verifier_params(&v), (hash, secret));
    }
    // A one-byte secret is fine.
    assert!(set_verifier_params(&v, QDTLS_HASH_SHA256, b"k"));
    assert_eq!(verifier_params(&v), (QDTLS_HASH_SHA256, b"k".to_vec()));
    // Another verifier is not affected.
    assert_eq!(verifier_params(&Verifier::new()), old);
}

#[test]
fn qdtls_set_cookie_generator_parameters_returns_true_on_success() {
    for d in [Dtls::client(), Dtls::server()] {
        let old = dtls_params(&d);
        assert!(!set_dtls_params(&d, QDTLS_HASH_SHA1, &[]));
        assert_eq!(d.error(), QDTLS_ERROR_INVALID_INPUT_PARAMETERS);
        assert_ne!(d.error_string(), "");
        assert_eq!(dtls_params(&d), old);
        assert!(!unsafe { qdtls_set_cookie_generator_parameters(d.0, QDTLS_HASH_SHA1, std::ptr::null(), 3) });
        assert_eq!(d.error(), QDTLS_ERROR_INVALID_INPUT_PARAMETERS);
        assert_eq!(dtls_params(&d), old);
        for bad in [0, 99] {
            assert!(!set_dtls_params(&d, bad, b"secret"), "hash {bad}");
            assert_eq!(d.error(), QDTLS_ERROR_INVALID_INPUT_PARAMETERS);
            assert_eq!(dtls_params(&d), old);
        }
        // Qt returns false here even on success; qdtls returns true (documented fix).
        assert!(set_dtls_params(&d, QDTLS_HASH_SHA512, b"a custom secret"));
        assert_eq!(d.error(), QDTLS_ERROR_NO_ERROR);
        assert_eq!(d.error_string(), "");
        assert_eq!(dtls_params(&d), (QDTLS_HASH_SHA512, b"a custom secret".to_vec()));
    }
}

// ---- invalid input --------------------------------------------------------------

#[test]
fn verify_client_refuses_invalid_parameters_and_sends_nothing() {
    let ssock = udp();
    let c = Client::start(&Cfg::psk(), ssock.local_addr().unwrap(), udp());
    let hello = next_hello(&ssock, c.addr());
    c.sock.set_read_timeout(Some(Duration::from_millis(10))).unwrap();
    let v = Verifier::new();
    let port = c.addr().port();
    let fd = ssock.as_raw_fd();
    let (default_hash, default_secret) = verifier_params(&v);
    let reset = |v: &Verifier| {
        // A successful call clears the error, so each refusal below is its own.
        assert!(set_verifier_params(v, default_hash, &default_secret));
        assert_eq!(v.error(), QDTLS_ERROR_NO_ERROR);
    };
    let mut cases: Vec<(i32, Vec<u8>, Option<&str>, String)> = Vec::new();
    for fd_ in [-1, fd] {
        for dgram in [Vec::new(), hello.clone()] {
            for addr in [None, Some("not an address"), Some("127.0.0.1")] {
                if fd_ == fd && !dgram.is_empty() && addr.is_some_and(|a| a == "127.0.0.1") {
                    continue; // the valid combination
                }
                let what = format!("fd {fd_}, dgram {} bytes, address {addr:?}", dgram.len());
                cases.push((fd_, dgram.clone(), addr, what));
            }
        }
    }
    for bad in ["255.255.255.255", "224.0.0.1", "ff02::1", "", "127.0.0.1:1234", "::ffff:1.2.3.4.5", "localhost"] {
        cases.push((fd, hello.clone(), Some(bad), format!("address {bad:?}")));
    }
    assert_eq!(cases.len(), 18);
    for (fd_, dgram, addr, what) in &cases {
        reset(&v);
        assert!(!verify_raw(&v, *fd_, dgram, *addr, port), "{what}");
        assert_eq!(v.error(), QDTLS_ERROR_INVALID_INPUT_PARAMETERS, "{what}");
        assert_ne!(verifier_error_string(&v), "", "{what}");
        assert!(v.verified_hello().is_empty(), "{what}");
    }
    // NULL datagram with a non-zero length.
    reset(&v);
    let a = CString::new("127.0.0.1").unwrap();
    assert!(!unsafe { qdtls_client_verifier_verify_client(v.0, fd, std::ptr::null(), 10, a.as_ptr(), port) });
    assert_eq!(v.error(), QDTLS_ERROR_INVALID_INPUT_PARAMETERS);
    // The sockaddr form: NULL, too short, unknown family.
    let mut sin: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    sin.sin_family = libc::AF_INET as libc::sa_family_t;
    sin.sin_port = c.addr().port().to_be();
    sin.sin_addr.s_addr = u32::from_ne_bytes([127, 0, 0, 1]);
    let len = std::mem::size_of::<libc::sockaddr_in>();
    let sp = (&sin as *const libc::sockaddr_in).cast::<libc::c_void>();
    for (p, l, what) in [(std::ptr::null(), len, "NULL sockaddr"), (sp, len - 1, "short sockaddr"), (sp, 1, "one byte")]
    {
        reset(&v);
        assert!(
            !unsafe { qdtls_client_verifier_verify_client_sockaddr(v.0, fd, hello.as_ptr(), hello.len(), p, l) },
            "{what}"
        );
        assert_eq!(v.error(), QDTLS_ERROR_INVALID_INPUT_PARAMETERS, "{what}");
    }
    let mut unix: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    unix.ss_family = libc::AF_UNIX as libc::sa_family_t;
    reset(&v);
    let up = (&unix as *const libc::sockaddr_storage).cast::<libc::c_void>();
    let ul = std::mem::size_of::<libc::sockaddr_storage>();
    assert!(!unsafe { qdtls_client_verifier_verify_client_sockaddr(v.0, fd, hello.as_ptr(), hello.len(), up, ul) });
    assert_eq!(v.error(), QDTLS_ERROR_INVALID_INPUT_PARAMETERS);
    // Nothing reached the client.
    assert!(silent(&c.sock), "an invalid call must not send anything");
    // And the valid call still works: a HelloVerifyRequest to the client.
    assert!(!v.verify(&ssock, &hello, c.addr()));
    assert_eq!(v.error(), QDTLS_ERROR_NO_ERROR);
    let (hvr, _) = recv_within(&c.sock, Duration::from_secs(2)).expect("HVR");
    assert!(is_handshake_msg(&hvr, MT_HELLO_VERIFY_REQUEST));
    // The sockaddr form with a real sockaddr_in does the same.
    assert!(!unsafe { qdtls_client_verifier_verify_client_sockaddr(v.0, fd, hello.as_ptr(), hello.len(), sp, len) });
    assert_eq!(v.error(), QDTLS_ERROR_NO_ERROR);
    let (hvr2, _) = recv_within(&c.sock, Duration::from_secs(2)).expect("HVR (sockaddr form)");
    assert_eq!(hvr_cookie(&hvr2), hvr_cookie(&hvr));
}

#[test]
fn a_hello_verify_request_that_cannot_be_sent_is_an_underlying_socket_error() {
    let ssock = udp();
    let c = Client::start(&Cfg::psk(), ssock.local_addr().unwrap(), udp());
    let hello = next_hello(&ssock, c.addr());
    // A closed fd, far above the fds other tests of this process get, so it cannot be reused meanwhile.
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    let floor = (lim.rlim_cur.min(4096) as i32 - 64).max(300);
    let dead = unsafe { libc::fcntl(ssock.as_raw_fd(), libc::F_DUPFD_CLOEXEC, floor) };
    assert!(dead >= floor);
    assert_eq!(unsafe { libc::close(dead) }, 0);
    let v = Verifier::new();
    assert!(!verify_raw(&v, dead, &hello, Some("127.0.0.1"), c.addr().port()));
    assert_eq!(v.error(), QDTLS_ERROR_UNDERLYING_SOCKET_ERROR);
    assert_ne!(verifier_error_string(&v), "");
    // A good socket afterwards: the HVR goes out and the error is cleared.
    assert!(!v.verify(&ssock, &hello, c.addr()));
    assert_eq!(v.error(), QDTLS_ERROR_NO_ERROR);
    assert_eq!(verifier_error_string(&v), "");
    assert!(recv_within(&c.sock, Duration::from_secs(2)).is_some());
}

// ---- the cookie exchange -------------------------------------------------------------

#[test]
fn hello_without_cookie_gets_a_hello_verify_request_and_the_cookie_hello_verifies() {
    let ssock = udp();
    let c = Client::start(&Cfg::psk(), ssock.local_addr().unwrap(), udp());
    let v = Verifier::new();
    let (hello, hvr, hello2) = cookie_exchange(&v, &ssock, &c);
    assert_eq!(hvr_cookie(&hvr).len(), 32, "SHA-256 cookie");
    // Stateless: the same datagram verifies again, and a fresh verifier accepts it.
    assert!(v.verify(&ssock, &hello2, c.addr()));
    assert_eq!(v.verified_hello(), hello2);
    let fresh = Verifier::new();
    assert!(fresh.verify(&ssock, &hello2, c.addr()));
    assert_eq!(fresh.error(), QDTLS_ERROR_NO_ERROR);
    assert_eq!(fresh.verified_hello(), hello2);
    // Nothing was sent for a verified hello.
    assert!(silent(&c.sock));
    // The same hello claimed from another port: refused, and the HVR goes to that port.
    let other = udp();
    assert!(!v.verify(&ssock, &hello2, other.local_addr().unwrap()));
    assert_eq!(v.error(), QDTLS_ERROR_NO_ERROR);
    assert!(v.verified_hello().is_empty(), "empty unless the last verification succeeded");
    let (hvr_other, from) = recv_within(&other, Duration::from_secs(2)).expect("HVR to the other port");
    assert_eq!(from, ssock.local_addr().unwrap());
    assert!(is_handshake_msg(&hvr_other, MT_HELLO_VERIFY_REQUEST));
    assert_ne!(hvr_cookie(&hvr_other), hvr_cookie(&hvr), "the cookie is bound to the port");
    assert!(silent(&c.sock), "the real client gets nothing");
    // From another address, same port: refused too.
    let moved = SocketAddr::new("127.0.0.2".parse().unwrap(), c.addr().port());
    assert!(!v.verify(&ssock, &hello2, moved));
    assert_eq!(v.error(), QDTLS_ERROR_NO_ERROR);
    // The first (cookie-less) hello still gets a HelloVerifyRequest with the same cookie.
    assert!(!v.verify(&ssock, &hello, c.addr()));
    let (hvr_again, _) = recv_within(&c.sock, Duration::from_secs(2)).expect("HVR again");
    assert_eq!(hvr_cookie(&hvr_again), hvr_cookie(&hvr));
    // After that failure the verified hello is gone; the cookie hello still verifies.
    assert!(v.verified_hello().is_empty());
    assert!(v.verify(&ssock, &hello2, c.addr()));
    assert_eq!(v.verified_hello(), hello2);
}

#[test]
fn cookie_lengths_follow_the_hash_and_every_hash_round_trips() {
    for (hash, len) in [
        (QDTLS_HASH_MD5, 16),
        (QDTLS_HASH_SHA1, 20),
        (QDTLS_HASH_SHA224, 28),
        (QDTLS_HASH_SHA256, 32),
        (QDTLS_HASH_SHA384, 48),
        (QDTLS_HASH_SHA512, 64),
        (QDTLS_HASH_SHA3_224, 28),
        (QDTLS_HASH_SHA3_256, 32),
        (QDTLS_HASH_SHA3_384, 48),
        (QDTLS_HASH_SHA3_512, 64),
    ] {
        let ssock = udp();
        let c = Client::start(&Cfg::psk(), ssock.local_addr().unwrap(), udp());
        let v = Verifier::new();
        assert!(set_verifier_params(&v, hash, b"per-hash secret"));
        let (_, hvr, hello2) = cookie_exchange(&v, &ssock, &c);
        assert_eq!(hvr_cookie(&hvr).len(), len, "hash {hash}");
        // A verifier with the default parameters does not accept it.
        let default = Verifier::new();
        assert!(!default.verify(&ssock, &hello2, c.addr()), "hash {hash}");
        assert_eq!(default.error(), QDTLS_ERROR_NO_ERROR);
    }
}

#[test]
fn full_flow_verifier_then_server_with_cookie_verification_completes() {
    let ssock = udp();
    let c = Client::start(&Cfg::psk(), ssock.local_addr().unwrap(), udp());
    let v = Verifier::new();
    let (_, _, hello2) = cookie_exchange(&v, &ssock, &c);
    assert_eq!(v.verified_hello(), hello2);
    let s = cookie_server(c.addr());
    assert!(s.handshake(&ssock, &v.verified_hello()), "server start: {}", s.error_string());
    assert_eq!(s.error(), QDTLS_ERROR_NO_ERROR);
    assert_eq!(s.state(), QDTLS_HANDSHAKE_IN_PROGRESS);
    assert!(
        finish_handshake(&c, &s, &ssock, Duration::from_secs(10)),
        "client {} / server {}",
        c.dtls.error_string(),
        s.error_string()
    );
    assert!(c.dtls.encrypted() && s.encrypted());
    assert_eq!(c.dtls.cipher(), s.cipher());
    assert!(s.cipher().contains("PSK"), "{}", s.cipher());
    // Application data both ways.
    assert_eq!(c.dtls.write(&c.sock, b"ping"), 4);
    let (d, _) = recv_within(&ssock, Duration::from_secs(2)).unwrap();
    assert_eq!(s.decrypt(&ssock, &d).as_deref(), Some(&b"ping"[..]));
    assert_eq!(s.write(&ssock, b"pong"), 4);
    let (d, _) = recv_within(&c.sock, Duration::from_secs(2)).unwrap();
    assert_eq!(c.dtls.decrypt(&c.sock, &d).as_deref(), Some(&b"pong"[..]));
}

#[test]
fn server_with_cookie_verification_refuses_a_hello_without_cookie() {
    let ssock = udp();
    let c = Client::start(&Cfg::psk(), ssock.local_addr().unwrap(), udp());
    let hello = next_hello(&ssock, c.addr());
    let s = cookie_server(c.addr());
    assert!(!s.handshake(&ssock, &hello));
    assert_eq!(s.error(), QDTLS_ERROR_TLS_FATAL_ERROR);
    assert_ne!(s.error_string(), "");
    assert_eq!(s.state(), QDTLS_HANDSHAKE_NOT_STARTED);
    assert!(!s.encrypted());
    // The server issues no cookie itself (that is the verifier's job): nothing is sent.
    c.sock.set_read_timeout(Some(Duration::from_millis(10))).unwrap();
    assert!(silent(&c.sock));
    // Still NotStarted, so it can be given a verified hello afterwards.
    let v = Verifier::new();
    assert!(!v.verify(&ssock, &hello, c.addr()));
    let (hvr, _) = recv_within(&c.sock, Duration::from_secs(2)).unwrap();
    assert!(c.dtls.handshake(&c.sock, &hvr));
    let hello2 = next_hello(&ssock, c.addr());
    assert!(v.verify(&ssock, &hello2, c.addr()));
    assert!(s.handshake(&ssock, &hello2), "{}", s.error_string());
    assert_eq!(s.error(), QDTLS_ERROR_NO_ERROR);
    assert_eq!(s.error_string(), "");
    assert!(finish_handshake(&c, &s, &ssock, Duration::from_secs(10)));
}

// ---- garbage --------------------------------------------------------------------------

#[test]
fn garbage_and_fragments_get_no_answer() {
    let ssock = udp();
    let c = Client::start(&Cfg::psk(), ssock.local_addr().unwrap(), udp());
    let hello = next_hello(&ssock, c.addr());
    assert!(hello.len() > 60);
    let victim = udp();
    let to = victim.local_addr().unwrap();
    let v = Verifier::new();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut cases: Vec<(String, Vec<u8>)> = Vec::new();
    for n in [1usize, 12, 13, 25, 100, 600, 1400] {
        let mut g = rng.bytes(n);
        g[0] = 0x17; // not a handshake record, whatever the rest is
        cases.push((format!("random {n} bytes"), g));
    }
    // Random bytes behind a plausible record header.
    let mut g = hello[..13].to_vec();
    g.extend(rng.bytes(200));
    let body = (g.len() - 13) as u16;
    g[11..13].copy_from_slice(&body.to_be_bytes());
    cases.push(("handshake record header + random body".into(), g));
    // Truncations.
    for n in [1, 12, 13, 20, 25, 40, hello.len() - 1] {
        cases.push((format!("hello truncated to {n}"), hello[..n].to_vec()));
    }
    // Structural bit flips.
    for (i, bit, what) in [
        (0usize, 0x01u8, "content type"),
        (1, 0x01, "version major"),
        (11, 0x01, "record length"),
        (12, 0x01, "record length"),
        (13, 0x01, "handshake type"),
        (13, 0x02, "handshake type"),
    ] {
        let mut g = hello.clone();
        g[i] ^= bit;
        cases.push((format!("bit 0x{bit:02x} flipped in byte {i} ({what})"), g));
    }
    // A non-initial fragment (the first one has its own test below).
    let (_, second) = fragments(&hello).pop().unwrap();
    cases.push(("second fragment of a hello".into(), second));
    for (what, g) in &cases {
        assert!(!v.verify(&ssock, g, to), "{what}");
        assert_eq!(v.error(), QDTLS_ERROR_NO_ERROR, "{what}: {}", verifier_error_string(&v));
        assert!(v.verified_hello().is_empty(), "{what}");
        if let Some((d, _)) = recv_within(&victim, Duration::from_millis(100)) {
            panic!("{what}: nothing may be sent, got {d:02x?}");
        }
    }
    // The untouched hello from the same address does get a HelloVerifyRequest.
    assert!(!v.verify(&ssock, &hello, to));
    assert_eq!(v.error(), QDTLS_ERROR_NO_ERROR);
    let (hvr, _) = recv_within(&victim, Duration::from_secs(2)).expect("HVR");
    assert!(is_handshake_msg(&hvr, MT_HELLO_VERIFY_REQUEST));
}

#[test]
fn a_first_fragment_of_a_client_hello_gets_no_answer() {
    let ssock = udp();
    let c = Client::start(&Cfg::psk(), ssock.local_addr().unwrap(), udp());
    let v = Verifier::new();
    let (hello, _, hello2) = cookie_exchange(&v, &ssock, &c);
    let victim = udp();
    for (what, h) in [("cookie-less hello", &hello), ("cookie hello", &hello2)] {
        for (off, frag) in fragments(h) {
            // The cookie hello's fragments are claimed from the client, where its cookie is valid.
            let from = if h == &hello2 { c.addr() } else { victim.local_addr().unwrap() };
            assert!(!v.verify(&ssock, &frag, from), "{what}: fragment at {off} must not verify");
            assert_eq!(v.error(), QDTLS_ERROR_NO_ERROR, "{what}: fragment at {off}");
            assert!(v.verified_hello().is_empty(), "{what}: fragment at {off}");
            assert!(silent(&victim) && silent(&c.sock), "{what}: fragment at {off}: nothing may be sent");
        }
    }
}

#[test]
fn a_hundred_clients_verified_amid_garbage_and_spam() {
    const N: usize = 100;
    let started = Instant::now();
    let ssock = udp();
    ssock.set_nonblocking(true).unwrap();
    let server = ssock.local_addr().unwrap();
    let cfg = Cfg::psk();
    let v = Verifier::new();
    let spam = udp();
    spam.set_nonblocking(true).unwrap();
    let junk = udp();
    let mut rng = Rng(42);
    let mut clients: Vec<Client> = Vec::with_capacity(N);
    let mut fed_hvr = [false; N];
    let mut verified: HashSet<SocketAddr> = HashSet::new();
    let mut verified_count = 0usize;
    let mut hvrs_to_spam = 0usize;
    let mut real: HashSet<SocketAddr> = HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while verified.len() < N && Instant::now() < deadline {
        if clients.len() < N {
            let sock = udp();
            sock.set_nonblocking(true).unwrap();
            // Qt's 1 s timer here: a lost datagram is retransmitted (the loop calls handle_timeout).
            let c = Client::start_with_timeout(&cfg, server, sock, 1000);
            real.insert(c.addr());
            clients.push(c);
            // Garbage and a fresh cookie-less hello from the spam socket.
            let n = 1 + (rng.next() % 300) as usize;
            junk.send_to(&rng.bytes(n), server).unwrap();
            let spammer = Dtls::client().with_config(&cfg).with_psk(psk_client());
            assert!(spammer.set_peer(server, ""));
            assert!(spammer.handshake(&spam, &[]));
        }
        // The server side: everything that arrived goes through the verifier.
        while let Some((d, from)) = recv(&ssock) {
            if v.verify(&ssock, &d, from) {
                assert!(real.contains(&from), "only real clients verify, not {from}");
                assert_eq!(v.verified_hello(), d);
                verified_count += 1;
                verified.insert(from);
            } else {
                assert_eq!(v.error(), QDTLS_ERROR_NO_ERROR, "{}", verifier_error_string(&v));
                assert!(v.verified_hello().is_empty());
            }
        }
        while let Some((d, _)) = recv(&spam) {
            assert!(is_handshake_msg(&d, MT_HELLO_VERIFY_REQUEST));
            hvrs_to_spam += 1;
        }
        // The clients: a HelloVerifyRequest makes them send the cookie hello.
        for (i, c) in clients.iter().enumerate() {
            if let Some((d, _)) = recv(&c.sock) {
                assert!(is_handshake_msg(&d, MT_HELLO_VERIFY_REQUEST), "client {i} got {d:02x?}");
                if !fed_hvr[i] {
                    assert!(c.dtls.handshake(&c.sock, &d), "client {i}: {}", c.dtls.error_string());
                    fed_hvr[i] = true;
                }
            } else if !verified.contains(&c.addr()) && c.dtls.next_timeout_ms() == 0 {
                c.dtls.handle_timeout(&c.sock);
            }
        }
    }
    assert_eq!(verified.len(), N, "every real client verified within {:?}", started.elapsed());
    assert!(verified_count >= N);
    assert!(clients.iter().all(|c| c.dtls.state() == QDTLS_HANDSHAKE_IN_PROGRESS));
    assert_eq!(hvrs_to_spam, N, "every spam hello was answered with a HelloVerifyRequest");
}

// ---- custom parameters and IPv6 -----------------------------------------------------------

#[test]
fn custom_parameters_interoperate_and_mismatched_secret_fails() {
    let secret = b"a custom, non-default secret".to_vec();
    for (server_secret, ok) in [(secret.clone(), true), (b"another secret".to_vec(), false)] {
        let ssock = udp();
        let c = Client::start(&Cfg::psk(), ssock.local_addr().unwrap(), udp());
        let v = Verifier::new();
        assert!(set_verifier_params(&v, QDTLS_HASH_SHA1, &secret));
        let (_, hvr, hello2) = cookie_exchange(&v, &ssock, &c);
        assert_eq!(hvr_cookie(&hvr).len(), 20, "SHA-1 cookie");
        let s = cookie_server(c.addr());
        assert!(set_dtls_params(&s, QDTLS_HASH_SHA1, &server_secret));
        if ok {
            assert!(s.handshake(&ssock, &hello2), "{}", s.error_string());
            assert!(finish_handshake(&c, &s, &ssock, Duration::from_secs(10)), "{}", s.error_string());
            assert!(s.encrypted());
        } else {
            assert!(!s.handshake(&ssock, &hello2));
            assert_eq!(s.error(), QDTLS_ERROR_TLS_FATAL_ERROR);
            assert_eq!(s.state(), QDTLS_HANDSHAKE_NOT_STARTED);
        }
    }
    // Same secret, different hash: the server refuses too.
    let ssock = udp();
    let c = Client::start(&Cfg::psk(), ssock.local_addr().unwrap(), udp());
    let v = Verifier::new();
    assert!(set_verifier_params(&v, QDTLS_HASH_SHA1, &secret));
    let (_, _, hello2) = cookie_exchange(&v, &ssock, &c);
    let s = cookie_server(c.addr());
    assert!(set_dtls_params(&s, QDTLS_HASH_SHA256, &secret));
    assert!(!s.handshake(&ssock, &hello2));
    assert_eq!(s.error(), QDTLS_ERROR_TLS_FATAL_ERROR);
    assert_eq!(s.state(), QDTLS_HANDSHAKE_NOT_STARTED);
    // A default server does not accept a custom verifier's cookie either.
    let d = cookie_server(c.addr());
    assert!(!d.handshake(&ssock, &hello2));
    assert_eq!(d.error(), QDTLS_ERROR_TLS_FATAL_ERROR);
}

#[test]
fn ipv6_verification_works() {
    let ssock = udp6();
    let c = Client::start(&Cfg::psk(), ssock.local_addr().unwrap(), udp6());
    assert!(c.addr().is_ipv6());
    let v = Verifier::new();
    let (_, hvr, hello2) = cookie_exchange(&v, &ssock, &c);
    assert_eq!(hvr_cookie(&hvr).len(), 32);
    // Other spellings of the same address work too.
    for text in ["::1", "0:0:0:0:0:0:0:1"] {
        assert!(verify_raw(&v, ssock.as_raw_fd(), &hello2, Some(text), c.addr().port()), "{text}");
    }
    // An IPv6 hello claimed from another port gets its HVR there.
    let other = udp6();
    assert!(!v.verify(&ssock, &hello2, other.local_addr().unwrap()));
    assert_eq!(v.error(), QDTLS_ERROR_NO_ERROR);
    let (d, _) = recv_within(&other, Duration::from_secs(2)).expect("HVR over IPv6");
    assert!(is_handshake_msg(&d, MT_HELLO_VERIFY_REQUEST));
    // And the server completes with the verified hello.
    let s = cookie_server(c.addr());
    assert!(s.handshake(&ssock, &hello2), "{}", s.error_string());
    assert!(finish_handshake(&c, &s, &ssock, Duration::from_secs(10)), "{}", s.error_string());
    assert!(c.dtls.encrypted() && s.encrypted());
}
