//! Application data over established PSK sessions: write/decrypt, replay,
//! reordering, shutdown, record and MTU limits, connected and IPv6 sockets,
//! garbage input, buffer rules, threads and re-entrancy from the PSK callback.
//! Everything runs over real UDP sockets on loopback, through the C ABI.

mod common;

use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

use common::harness::*;
use libc::c_void;
use qdtls::ffi::config::*;
use qdtls::ffi::dtls::*;
use qdtls::ffi::psk::*;
use qdtls::ffi::*;

const KEY: &[u8] = b"\x12\x34\x56\x78\x9a\xbc\xde\xf0 data tests";
const LONG: Duration = Duration::from_secs(20);

// ---- helpers ----------------------------------------------------------------

fn psks() -> (Box<Psk>, Box<Psk>) {
    (Psk::new(b"data-client", KEY), Psk::new(b"", KEY))
}

/// Runs the handshake of `l` and checks both sides are encrypted.
fn establish(l: &mut Link) {
    assert!(l.handshake(LONG), "client {} / server {}", l.client.error_string(), l.server.error_string());
    assert_eq!(l.client.state(), QDTLS_HANDSHAKE_COMPLETE);
    assert_eq!(l.server.state(), QDTLS_HANDSHAKE_COMPLETE);
    assert!(l.client.encrypted() && l.server.encrypted());
}

/// The next datagram on `s`, waiting up to 5 s.
fn capture(s: &UdpSocket) -> Vec<u8> {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Some((d, _)) = recv(s) {
            return d;
        }
    }
    panic!("no datagram arrived on {:?}", s.local_addr());
}

/// Whether a datagram arrives on `s` within `wait`.
fn arrives_within(s: &UdpSocket, wait: Duration) -> Option<Vec<u8>> {
    let deadline = Instant::now() + wait;
    while Instant::now() < deadline {
        if let Some((d, _)) = recv(s) {
            return Some(d);
        }
    }
    None
}

/// qdtls_decrypt_datagram with an explicit output capacity: (return value, output).
fn decrypt_cap(d: &Dtls, fd: i32, dgram: &[u8], cap: usize) -> (i64, Vec<u8>) {
    let mut out = vec![0u8; cap];
    let n = unsafe { qdtls_decrypt_datagram(d.0, fd, dgram.as_ptr(), dgram.len(), out.as_mut_ptr(), cap) };
    if n >= 0 {
        out.truncate(n as usize);
    }
    (n, out)
}

fn write_fd(d: &Dtls, fd: i32, data: &[u8]) -> i64 {
    unsafe { qdtls_write_datagram_encrypted(d.0, fd, data.as_ptr(), data.len()) }
}

fn pattern(len: usize, salt: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(salt)).collect()
}

fn peer_port(d: &Dtls) -> u16 {
    unsafe { qdtls_peer_port(d.0) }
}

fn peer_address(d: &Dtls) -> String {
    read_str(|b, c| unsafe { qdtls_peer_address(d.0, b, c) })
}

/// A fresh PSK server for `cfg`, its peer set to the client's socket.
fn fresh_server(cfg: &Cfg, psk: &Psk, csock: &UdpSocket) -> Dtls {
    let s = Dtls::server().with_config(cfg).with_psk(psk);
    assert!(s.set_peer(csock.local_addr().unwrap(), ""));
    s
}

/// Sets an error on `d` with a call that certainly fails (write on fd -1), so
/// that a following "NoError" really comes from the call under test.
fn dirty_error(d: &Dtls) {
    assert_eq!(write_fd(d, -1, b"x"), -1);
    assert_eq!(d.error(), QDTLS_ERROR_INVALID_INPUT_PARAMETERS);
}

/// A raw pointer that may cross threads (the C ABI promises handles and a
/// shared configuration are usable from any thread).
struct SendPtr<T>(*mut T);
impl<T> Clone for SendPtr<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for SendPtr<T> {}
unsafe impl<T> Send for SendPtr<T> {}
unsafe impl<T> Sync for SendPtr<T> {}

/// Runs `f` on its own thread and fails if it does not finish within `limit`
/// (a deadlock shows up as a failure instead of a hung test run).
fn with_watchdog(limit: Duration, f: impl FnOnce() + Send + 'static) {
    let (tx, rx) = mpsc::channel();
    let t = std::thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    match rx.recv_timeout(limit) {
        Ok(()) => t.join().unwrap(),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            if let Err(p) = t.join() {
                std::panic::resume_unwind(p);
            }
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("did not finish within {limit:?}: deadlock?"),
    }
}

/// xorshift64*: a fixed-seed PRNG so the garbage cases are reproducible.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

// ---- write / decrypt ----------------------------------------------------------

#[test]
fn write_and_decrypt_both_ways_in_several_sizes() {
    let (cp, sp) = psks();
    let mut l = Link::psk(&cp, &sp);
    establish(&mut l);
    for (i, len) in [1usize, 100, 1200].into_iter().enumerate() {
        let c2s = pattern(len, i as u8);
        assert_eq!(l.send(true, &c2s), Some(c2s.clone()), "client -> server, {len} bytes");
        assert_eq!(l.server.error(), QDTLS_ERROR_NO_ERROR);
        assert_eq!(l.client.error(), QDTLS_ERROR_NO_ERROR);
        let s2c = pattern(len, 100 + i as u8);
        assert_eq!(l.send(false, &s2c), Some(s2c.clone()), "server -> client, {len} bytes");
        assert_eq!(l.client.error(), QDTLS_ERROR_NO_ERROR);
        assert_eq!(l.server.error(), QDTLS_ERROR_NO_ERROR);
    }
}

#[test]
fn empty_payload_writes_zero_and_empty_datagram_decrypts_to_nothing() {
    let (cp, sp) = psks();
    let mut l = Link::psk(&cp, &sp);
    establish(&mut l);
    dirty_error(&l.client);
    assert_eq!(l.client.write(&l.csock, &[]), 0);
    assert_eq!(l.client.error(), QDTLS_ERROR_NO_ERROR, "{}", l.client.error_string());
    assert!(l.client.encrypted());
    // Nothing is required on the wire; whatever came must not carry data.
    if let Some(d) = arrives_within(&l.ssock, Duration::from_millis(200)) {
        assert_eq!(l.server.decrypt(&l.ssock, &d), Some(Vec::new()));
    }
    dirty_error(&l.server);
    assert_eq!(l.server.decrypt(&l.ssock, &[]), Some(Vec::new()));
    assert_eq!(l.server.error(), QDTLS_ERROR_NO_ERROR, "{}", l.server.error_string());
    assert_eq!(l.server.error_string(), "");
    assert!(l.server.encrypted());
    // The session is unaffected.
    assert_eq!(l.send(true, b"after empty").as_deref(), Some(&b"after empty"[..]));
    assert_eq!(l.send(false, b"back").as_deref(), Some(&b"back"[..]));
}

#[test]
fn replayed_datagram_decrypts_to_empty_with_no_error() {
    let (cp, sp) = psks();
    let mut l = Link::psk(&cp, &sp);
    establish(&mut l);
    assert_eq!(l.client.write(&l.csock, b"replay me"), 9);
    let d = capture(&l.ssock);
    assert_eq!(l.server.decrypt(&l.ssock, &d).as_deref(), Some(&b"replay me"[..]));
    dirty_error(&l.server);
    assert_eq!(l.server.decrypt(&l.ssock, &d), Some(Vec::new()), "a replay yields no data");
    assert_eq!(l.server.error(), QDTLS_ERROR_NO_ERROR, "{}", l.server.error_string());
    assert_eq!(l.server.state(), QDTLS_HANDSHAKE_COMPLETE);
    // And again, still nothing; fresh data still arrives.
    assert_eq!(l.server.decrypt(&l.ssock, &d), Some(Vec::new()));
    assert_eq!(l.send(true, b"fresh").as_deref(), Some(&b"fresh"[..]));
}

#[test]
fn reordered_datagrams_are_all_delivered() {
    let (cp, sp) = psks();
    let mut l = Link::psk(&cp, &sp);
    establish(&mut l);
    let msgs: [&[u8]; 3] = [b"first", b"second", b"third"];
    let mut wire = Vec::new();
    for m in msgs {
        assert_eq!(l.client.write(&l.csock, m), m.len() as i64);
        wire.push(capture(&l.ssock));
    }
    for i in [2usize, 0, 1] {
        assert_eq!(l.server.decrypt(&l.ssock, &wire[i]).as_deref(), Some(msgs[i]), "datagram {}", i + 1);
        assert_eq!(l.server.error(), QDTLS_ERROR_NO_ERROR);
    }
    // Same the other way.
    let mut wire = Vec::new();
    for m in msgs {
        assert_eq!(l.server.write(&l.ssock, m), m.len() as i64);
        wire.push(capture(&l.csock));
    }
    for i in [2usize, 0, 1] {
        assert_eq!(l.client.decrypt(&l.csock, &wire[i]).as_deref(), Some(msgs[i]), "datagram {}", i + 1);
    }
}

// ---- shutdown -------------------------------------------------------------------

fn check_client_config_kept(l: &Link) {
    assert_eq!(peer_port(&l.client), l.ssock.local_addr().unwrap().port());
    assert_eq!(peer_address(&l.client), "127.0.0.1");
    let cfg = unsafe { qdtls_dtls_configuration(l.client.0) };
    assert!(!cfg.is_null());
    let cookies = unsafe { qdtls_configuration_dtls_cookie_verification_enabled(cfg) };
    let mode = unsafe { qdtls_configuration_peer_verify_mode(cfg) };
    unsafe { qdtls_configuration_free(cfg) };
    assert!(!cookies, "configuration kept (cookies off)");
    assert_eq!(mode, QDTLS_VERIFY_NONE, "configuration kept (VerifyNone)");
}

#[test]
fn shutdown_from_the_client_then_the_client_handshakes_again() {
    let (cp, sp) = psks();
    let mut l = Link::psk(&cp, &sp);
    establish(&mut l);
    assert!(l.client.shutdown(&l.csock), "{}", l.client.error_string());
    assert_eq!(l.client.error(), QDTLS_ERROR_NO_ERROR);
    assert_eq!(l.client.state(), QDTLS_HANDSHAKE_NOT_STARTED);
    assert!(!l.client.encrypted());
    assert_eq!(l.client.cipher(), "");
    assert_eq!(l.client.protocol(), QDTLS_PROTOCOL_UNKNOWN);
    let close_notify = capture(&l.ssock);
    assert_eq!(l.server.decrypt(&l.ssock, &close_notify), None);
    assert_eq!(l.server.error(), QDTLS_ERROR_REMOTE_CLOSED_CONNECTION_ERROR, "{}", l.server.error_string());
    assert_eq!(l.server.state(), QDTLS_HANDSHAKE_NOT_STARTED);
    assert!(!l.server.encrypted());
    // The same client handle, peer and configuration kept, with a fresh server.
    check_client_config_kept(&l);
    let sp2 = Psk::new(b"", KEY);
    l.server = fresh_server(&Cfg::psk(), &sp2, &l.csock);
    establish(&mut l);
    assert_eq!(cp.calls.load(Ordering::SeqCst), 2, "client asked for the key again");
    assert_eq!(l.send(true, b"second life").as_deref(), Some(&b"second life"[..]));
    assert_eq!(l.send(false, b"welcome back").as_deref(), Some(&b"welcome back"[..]));
}

#[test]
fn shutdown_from_the_server_then_the_client_handshakes_again() {
    let (cp, sp) = psks();
    let mut l = Link::psk(&cp, &sp);
    establish(&mut l);
    assert!(l.server.shutdown(&l.ssock), "{}", l.server.error_string());
    assert_eq!(l.server.error(), QDTLS_ERROR_NO_ERROR);
    assert_eq!(l.server.state(), QDTLS_HANDSHAKE_NOT_STARTED);
    assert!(!l.server.encrypted());
    let close_notify = capture(&l.csock);
    assert_eq!(l.client.decrypt(&l.csock, &close_notify), None);
    assert_eq!(l.client.error(), QDTLS_ERROR_REMOTE_CLOSED_CONNECTION_ERROR, "{}", l.client.error_string());
    assert_eq!(l.client.state(), QDTLS_HANDSHAKE_NOT_STARTED);
    assert!(!l.client.encrypted());
    assert_eq!(l.client.cipher(), "");
    check_client_config_kept(&l);
    let sp2 = Psk::new(b"", KEY);
    l.server = fresh_server(&Cfg::psk(), &sp2, &l.csock);
    establish(&mut l);
    assert_eq!(l.send(true, b"again").as_deref(), Some(&b"again"[..]));
    assert_eq!(l.send(false, b"again back").as_deref(), Some(&b"again back"[..]));
}

#[test]
fn shutdown_twice_or_when_not_encrypted_is_an_invalid_operation() {
    let (cp, sp) = psks();
    let mut l = Link::psk(&cp, &sp);
    // Not started yet.
    assert!(!l.client.shutdown(&l.csock));
    assert_eq!(l.client.error(), QDTLS_ERROR_INVALID_OPERATION);
    assert!(!l.server.shutdown(&l.ssock));
    assert_eq!(l.server.error(), QDTLS_ERROR_INVALID_OPERATION);
    establish(&mut l);
    // Null socket first: InvalidInputParameters, still encrypted.
    assert!(!unsafe { qdtls_shutdown(l.client.0, -1) });
    assert_eq!(l.client.error(), QDTLS_ERROR_INVALID_INPUT_PARAMETERS);
    assert!(l.client.encrypted());
    assert!(l.client.shutdown(&l.csock));
    assert!(!l.client.shutdown(&l.csock), "second shutdown");
    assert_eq!(l.client.error(), QDTLS_ERROR_INVALID_OPERATION);
    assert_eq!(l.client.state(), QDTLS_HANDSHAKE_NOT_STARTED);
    // close_notify was sent once.
    let close_notify = capture(&l.ssock);
    assert_eq!(l.server.decrypt(&l.ssock, &close_notify), None);
    assert_eq!(l.server.error(), QDTLS_ERROR_REMOTE_CLOSED_CONNECTION_ERROR);
    assert_eq!(arrives_within(&l.ssock, Duration::from_millis(200)), None, "only one close_notify");
    // The closed server is not encrypted any more either.
    assert!(!l.server.shutdown(&l.ssock));
    assert_eq!(l.server.error(), QDTLS_ERROR_INVALID_OPERATION);
}

// ---- limits -------------------------------------------------------------------------

#[test]
fn payload_over_one_record_fails_and_the_connection_stays_up() {
    let (cp, sp) = psks();
    let mut l = Link::psk(&cp, &sp);
    establish(&mut l);
    let big = pattern(17 * 1024, 7);
    assert_eq!(l.client.write(&l.csock, &big), -1);
    assert_eq!(l.client.error(), QDTLS_ERROR_TLS_FATAL_ERROR, "{}", l.client.error_string());
    assert!(!l.client.error_string().is_empty());
    assert!(l.client.encrypted());
    assert_eq!(l.client.state(), QDTLS_HANDSHAKE_COMPLETE);
    assert_eq!(l.send(true, b"normal").as_deref(), Some(&b"normal"[..]));
    assert_eq!(l.client.error(), QDTLS_ERROR_NO_ERROR);
    // The server side too.
    assert_eq!(l.server.write(&l.ssock, &big), -1);
    assert_eq!(l.server.error(), QDTLS_ERROR_TLS_FATAL_ERROR);
    assert!(l.server.encrypted());
    assert_eq!(l.send(false, b"normal back").as_deref(), Some(&b"normal back"[..]));
}

#[test]
fn mtu_hint_bounds_application_datagrams() {
    let (cp, sp) = psks();
    let mut l = Link::psk(&cp, &sp);
    unsafe { qdtls_set_mtu_hint(l.client.0, 600) };
    assert_eq!(unsafe { qdtls_mtu_hint(l.client.0) }, 600);
    assert_eq!(l.client.max_payload(), 0, "0 unless encrypted");
    establish(&mut l);
    let max = l.client.max_payload();
    assert!(max > 0 && max < 600, "max payload {max}");
    let data = pattern(max, 3);
    assert_eq!(l.client.write(&l.csock, &data), max as i64, "{}", l.client.error_string());
    let d = capture(&l.ssock);
    assert!(d.len() <= 600 - 28, "datagram of {} bytes for MTU 600", d.len());
    assert_eq!(arrives_within(&l.ssock, Duration::from_millis(200)), None, "exactly one datagram");
    assert_eq!(l.server.decrypt(&l.ssock, &d), Some(data));
    let over = pattern(max + 1, 4);
    assert_eq!(l.client.write(&l.csock, &over), -1);
    assert_eq!(l.client.error(), QDTLS_ERROR_INVALID_INPUT_PARAMETERS, "{}", l.client.error_string());
    assert!(l.client.encrypted());
    assert_eq!(arrives_within(&l.ssock, Duration::from_millis(200)), None, "nothing sent");
    assert_eq!(l.send(true, b"fits").as_deref(), Some(&b"fits"[..]));
    // The server has no hint and an unconnected socket: Qt's 576 is used for
    // the computation but not enforced.
    let smax = l.server.max_payload();
    assert!(smax > 0 && smax < 576, "server max payload {smax}");
    let big = pattern(1200, 5);
    assert_eq!(l.send(false, &big), Some(big.clone()));
}

#[test]
fn without_a_hint_on_unconnected_sockets_1200_bytes_pass() {
    let (cp, sp) = psks();
    let mut l = Link::psk(&cp, &sp);
    establish(&mut l);
    // Computed from Qt's fallback MTU of 576, but not enforced.
    let max = l.client.max_payload();
    assert!(max > 0 && max < 576, "max payload {max}");
    let big = pattern(1200, 9);
    assert_eq!(l.send(true, &big), Some(big.clone()));
    assert_eq!(l.send(false, &big), Some(big.clone()));
}

// ---- sockets ----------------------------------------------------------------------------

#[test]
fn connected_client_socket_handshake_and_data() {
    let (cp, sp) = psks();
    let (csock, ssock) = (udp(), udp());
    csock.connect(ssock.local_addr().unwrap()).unwrap();
    let cfg = Cfg::psk();
    let mut l = Link::with_sockets(
        Dtls::client().with_config(&cfg).with_psk(&cp),
        csock,
        Dtls::server().with_config(&cfg).with_psk(&sp),
        ssock,
    );
    establish(&mut l);
    // Loopback's path MTU (65536) is known on a connected socket.
    assert!(l.client.max_payload() >= 1200, "client max payload {}", l.client.max_payload());
    for len in [1usize, 100, 1200] {
        let d = pattern(len, 11);
        assert_eq!(l.send(true, &d), Some(d.clone()), "{len} bytes client -> server");
        assert_eq!(l.send(false, &d), Some(d.clone()), "{len} bytes server -> client");
    }
    assert!(l.client.shutdown(&l.csock));
    assert_eq!(l.server.decrypt(&l.ssock, &capture(&l.ssock)), None);
    assert_eq!(l.server.error(), QDTLS_ERROR_REMOTE_CLOSED_CONNECTION_ERROR);
}

#[test]
fn ipv6_loopback_handshake_and_data() {
    let (cp, sp) = psks();
    let cfg = Cfg::psk();
    let mut l = Link::with_sockets(
        Dtls::client().with_config(&cfg).with_psk(&cp),
        udp6(),
        Dtls::server().with_config(&cfg).with_psk(&sp),
        udp6(),
    );
    assert_eq!(peer_address(&l.client), "::1");
    establish(&mut l);
    assert_eq!(l.client.protocol(), QDTLS_PROTOCOL_DTLS_V1_2);
    assert_eq!(*sp.seen_identity.lock().unwrap(), b"data-client");
    for len in [1usize, 100, 1200] {
        let d = pattern(len, 13);
        assert_eq!(l.send(true, &d), Some(d.clone()), "{len} bytes client -> server");
        assert_eq!(l.send(false, &d), Some(d.clone()), "{len} bytes server -> client");
    }
    assert!(l.server.shutdown(&l.ssock));
    assert_eq!(l.client.decrypt(&l.csock, &capture(&l.csock)), None);
    assert_eq!(l.client.error(), QDTLS_ERROR_REMOTE_CLOSED_CONNECTION_ERROR);
}

// ---- hostile input ---------------------------------------------------------------------

/// A datagram already queued on `s`, without waiting (loopback delivers
/// during the sender's sendto, so an answer to a call is there when it returns).
fn pending(s: &UdpSocket) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 65536];
    let n = unsafe { libc::recv(s.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) };
    (n >= 0).then(|| {
        buf.truncate(n as usize);
        buf
    })
}

/// Feeds one garbage datagram; it must give no data, send nothing to the
/// peer and leave the session up.
fn feed_garbage(d: &Dtls, s: &UdpSocket, peer: &UdpSocket, g: &[u8], what: &str) {
    match d.decrypt(s, g) {
        Some(v) => {
            assert!(v.is_empty(), "{what}: garbage produced {} bytes of data", v.len());
            assert_eq!(d.error(), QDTLS_ERROR_NO_ERROR, "{what}: {}", d.error_string());
        }
        None => assert_eq!(d.error(), QDTLS_ERROR_TLS_NON_FATAL_ERROR, "{what}: {}", d.error_string()),
    }
    assert_eq!(d.state(), QDTLS_HANDSHAKE_COMPLETE, "{what}");
    assert!(d.encrypted(), "{what}");
    if let Some(answer) = pending(peer) {
        panic!("{what}: garbage {g:02x?} was answered with {answer:02x?}");
    }
}

#[derive(Clone, Copy, Debug)]
enum Garbage {
    /// Random bytes of random length (0..1500).
    Random,
    /// A plausible DTLS 1.2 record header (any content type, epoch 0..2)
    /// with a consistent length and a random body.
    RecordHeader,
    /// A real encrypted datagram cut short.
    Truncated,
    /// A real encrypted datagram with one bit flipped.
    BitFlipped,
    /// A real encrypted datagram with 1..8 bytes replaced.
    BytesChanged,
}

/// `per_side` garbage datagrams of `kind` into each side of an established
/// PSK session; afterwards nothing was answered and data flows both ways.
fn garbage_run(kind: Garbage, seed: u64, per_side: usize) {
    let (cp, sp) = psks();
    let mut l = Link::psk(&cp, &sp);
    establish(&mut l);
    // Real encrypted datagrams of each side, never delivered as such.
    let mut real = [Vec::new(), Vec::new()]; // [to server, to client]
    for len in [1usize, 40, 300, 1200] {
        assert_eq!(l.client.write(&l.csock, &pattern(len, 1)), len as i64);
        real[0].push(capture(&l.ssock));
        assert_eq!(l.server.write(&l.ssock, &pattern(len, 2)), len as i64);
        real[1].push(capture(&l.csock));
    }
    let mut rng = XorShift(seed);
    let mut cases = 0;
    for _ in 0..per_side {
        let sides = [(&l.server, &l.ssock, &l.csock), (&l.client, &l.csock, &l.ssock)];
        for (side, (d, s, peer)) in sides.into_iter().enumerate() {
            let base = &real[side][rng.below(real[side].len())];
            let g = match kind {
                Garbage::Random => {
                    let n = rng.below(1500);
                    rng.bytes(n)
                }
                Garbage::RecordHeader => {
                    let n = 13 + rng.below(200);
                    let mut g = rng.bytes(n);
                    g[0] = [20u8, 21, 22, 23][rng.below(4)];
                    g[1] = 0xfe;
                    g[2] = 0xfd;
                    g[3] = 0;
                    g[4] = rng.below(3) as u8;
                    let body = (g.len() - 13) as u16;
                    g[11..13].copy_from_slice(&body.to_be_bytes());
                    g
                }
                Garbage::Truncated => base[..rng.below(base.len())].to_vec(),
                Garbage::BitFlipped => {
                    let mut g = base.clone();
                    let bit = rng.below(g.len() * 8);
                    g[bit / 8] ^= 1 << (bit % 8);
                    g
                }
                Garbage::BytesChanged => {
                    let mut g = base.clone();
                    for _ in 0..1 + rng.below(8) {
                        let i = rng.below(g.len());
                        // XOR with a non-zero byte: the byte really changes, or
                        // the "garbage" could be the valid original.
                        g[i] ^= 1 + rng.below(255) as u8;
                    }
                    g
                }
            };
            let what = format!("case {cases} ({kind:?} into the {}, {} bytes)", ["server", "client"][side], g.len());
            feed_garbage(d, s, peer, &g, &what);
            cases += 1;
        }
    }
    assert_eq!(cases, 2 * per_side);
    // Nothing was answered to the garbage, and data still flows both ways.
    assert_eq!(arrives_within(&l.ssock, Duration::from_millis(100)), None);
    assert_eq!(arrives_within(&l.csock, Duration::from_millis(100)), None);
    assert_eq!(l.send(true, b"still here").as_deref(), Some(&b"still here"[..]));
    assert_eq!(l.send(false, b"me too").as_deref(), Some(&b"me too"[..]));
    // The captured originals were never consumed: they still decrypt.
    assert_eq!(l.server.decrypt(&l.ssock, &real[0][2]), Some(pattern(300, 1)));
    assert_eq!(l.client.decrypt(&l.csock, &real[1][3]), Some(pattern(1200, 2)));
}

#[test]
fn garbage_random_bytes_are_dropped() {
    garbage_run(Garbage::Random, 0x9e37_79b9_7f4a_7c15, 1000);
}

#[test]
fn garbage_record_headers_with_random_bodies_are_dropped() {
    garbage_run(Garbage::RecordHeader, 0x2545_f491_4f6c_dd1d, 1000);
}

#[test]
fn garbage_truncated_datagrams_are_dropped() {
    garbage_run(Garbage::Truncated, 0x0123_4567_89ab_cdef, 1000);
}

#[test]
fn garbage_bit_flipped_datagrams_are_dropped() {
    garbage_run(Garbage::BitFlipped, 0xdead_beef_cafe_f00d, 1000);
}

#[test]
fn garbage_datagrams_with_changed_bytes_are_dropped() {
    garbage_run(Garbage::BytesChanged, 0x0f1e_2d3c_4b5a_6978, 1000);
}

/// The minimal case the garbage runs found: one unauthenticated datagram, a
/// current-epoch record whose body is shorter than the AEAD tag / CBC block.
/// RFC 6347 4.1.2.7 and the header ("garbage ... 0, NoError") say drop it;
/// the session must survive whatever the cipher.
#[test]
fn short_record_in_the_current_epoch_is_dropped_silently() {
    let (cp, sp) = psks();
    for cipher in ["PSK-AES128-GCM-SHA256", "PSK-AES128-CBC-SHA256", "ECDHE-PSK-CHACHA20-POLY1305"] {
        let cfg = Cfg::psk();
        cfg.ciphers(cipher);
        let mut l =
            Link::new(Dtls::client().with_config(&cfg).with_psk(&cp), Dtls::server().with_config(&cfg).with_psk(&sp));
        establish(&mut l);
        assert_eq!(l.client.cipher(), cipher);
        // application_data, DTLS 1.2, epoch 1, sequence 0x4000_0000, 11-byte body.
        let mut g = vec![23u8, 0xfe, 0xfd, 0, 1, 0, 0, 0x40, 0, 0, 0, 0, 11];
        g.extend_from_slice(&[0x55; 11]);
        feed_garbage(&l.client, &l.csock, &l.ssock, &g, cipher);
        assert_eq!(l.send(true, b"survived").as_deref(), Some(&b"survived"[..]), "{cipher}");
        assert_eq!(l.send(false, b"survived too").as_deref(), Some(&b"survived too"[..]), "{cipher}");
    }
}

#[test]
fn too_small_output_buffer_is_refused_and_the_datagram_not_consumed() {
    let (cp, sp) = psks();
    let mut l = Link::psk(&cp, &sp);
    establish(&mut l);
    let data = pattern(100, 21);
    assert_eq!(l.client.write(&l.csock, &data), 100);
    let d = capture(&l.ssock);
    assert!(d.len() > 100);
    let fd = l.ssock.as_raw_fd();
    for cap in [d.len() - 1, 100, 1] {
        assert_eq!(decrypt_cap(&l.server, fd, &d, cap).0, -1, "out_cap {cap}");
        assert_eq!(l.server.error(), QDTLS_ERROR_INVALID_INPUT_PARAMETERS, "out_cap {cap}");
        assert!(l.server.encrypted());
    }
    // NULL output with capacity 0.
    let n = unsafe { qdtls_decrypt_datagram(l.server.0, fd, d.as_ptr(), d.len(), std::ptr::null_mut(), 0) };
    assert_eq!(n, -1);
    assert_eq!(l.server.error(), QDTLS_ERROR_INVALID_INPUT_PARAMETERS);
    // Exactly the datagram's length suffices, and the data was not consumed.
    assert_eq!(decrypt_cap(&l.server, fd, &d, d.len()), (100, data));
    assert_eq!(l.server.error(), QDTLS_ERROR_NO_ERROR);
    assert_eq!(decrypt_cap(&l.server, fd, &d, d.len()), (0, Vec::new()), "now it is a replay");
}

// ---- threads ------------------------------------------------------------------------------

#[test]
fn eight_threads_share_one_configuration() {
    let cfg = Cfg::psk();
    let shared = SendPtr(cfg.0);
    let threads: Vec<_> = (0..8u8)
        .map(|t| {
            std::thread::spawn(move || {
                let cfg = shared;
                let id = format!("thread-{t}");
                let (cp, sp) = (Psk::new(id.as_bytes(), KEY), Psk::new(b"", KEY));
                let (c, s) = (Dtls::client().with_psk(&cp), Dtls::server().with_psk(&sp));
                assert!(unsafe { qdtls_set_dtls_configuration(c.0, cfg.0) });
                assert!(unsafe { qdtls_set_dtls_configuration(s.0, cfg.0) });
                let mut l = Link::new(c, s);
                establish(&mut l);
                assert_eq!(*sp.seen_identity.lock().unwrap(), id.as_bytes());
                for i in 0..50u32 {
                    let msg = format!("{id} ping {i}").into_bytes();
                    assert_eq!(l.send(true, &msg), Some(msg.clone()), "{id} round {i}");
                    let reply = format!("{id} pong {i}").into_bytes();
                    assert_eq!(l.send(false, &reply), Some(reply.clone()), "{id} round {i}");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    // The shared configuration is untouched.
    assert!(!unsafe { qdtls_configuration_dtls_cookie_verification_enabled(cfg.0) });
}

#[test]
fn one_handle_written_and_inspected_from_two_threads() {
    let (cp, sp) = psks();
    let mut l = Link::psk(&cp, &sp);
    establish(&mut l);
    let cipher = l.client.cipher();
    const WRITES: u32 = 1000;
    let h = SendPtr(l.client.0);
    let fd = l.csock.as_raw_fd();
    let writing = AtomicBool::new(true);
    let received = Mutex::new(Vec::new());
    std::thread::scope(|sc| {
        let writing = &writing;
        sc.spawn(move || {
            let h = h;
            for i in 0..WRITES {
                let msg = format!("datagram {i:04}").into_bytes();
                let n = unsafe { qdtls_write_datagram_encrypted(h.0, fd, msg.as_ptr(), msg.len()) };
                assert_eq!(n, msg.len() as i64, "write {i}");
            }
            writing.store(false, Ordering::SeqCst);
        });
        sc.spawn(move || {
            let h = h;
            let mut rounds = 0u64;
            while writing.load(Ordering::SeqCst) || rounds < 100 {
                rounds += 1;
                assert_eq!(unsafe { qdtls_handshake_state(h.0) }, QDTLS_HANDSHAKE_COMPLETE);
                assert!(unsafe { qdtls_is_connection_encrypted(h.0) });
                assert_eq!(read_str(|b, c| unsafe { qdtls_session_cipher(h.0, b, c) }), cipher);
                assert_eq!(read_str(|b, c| unsafe { qdtls_dtls_error_string(h.0, b, c) }), "");
                assert_eq!(unsafe { qdtls_dtls_error(h.0) }, QDTLS_ERROR_NO_ERROR);
                assert_eq!(unsafe { qdtls_next_timeout_ms(h.0) }, -1);
                assert_eq!(unsafe { qdtls_session_protocol(h.0) }, QDTLS_PROTOCOL_DTLS_V1_2);
                assert!(unsafe { qdtls_max_payload_size(h.0) } > 0);
            }
        });
        // Meanwhile the server decrypts what arrives (loss on a full socket
        // buffer is possible; wrong or duplicated data is not).
        let (server, ssock, received) = (&l.server, &l.ssock, &received);
        let mut quiet_since = Instant::now();
        while writing.load(Ordering::SeqCst) || quiet_since.elapsed() < Duration::from_millis(300) {
            if let Some((d, _)) = recv(ssock) {
                quiet_since = Instant::now();
                let p = server.decrypt(ssock, &d).expect("server decrypt");
                received.lock().unwrap().push(p);
            }
        }
    });
    let received = received.into_inner().unwrap();
    assert!(!received.is_empty());
    let mut seen = std::collections::HashSet::new();
    for p in &received {
        let s = std::str::from_utf8(p).unwrap();
        let i: u32 = s.strip_prefix("datagram ").expect("payload").parse().unwrap();
        assert!(i < WRITES);
        assert!(seen.insert(i), "duplicate {i}");
    }
    assert_eq!(l.send(true, b"after the storm").as_deref(), Some(&b"after the storm"[..]));
    assert_eq!(l.send(false, b"calm").as_deref(), Some(&b"calm"[..]));
}

// ---- re-entrancy from the PSK callback ----------------------------------------------------------

/// What the re-entrant callback saw.
struct Reentrant {
    handle: AtomicUsize,
    fd: i32,
    key: Vec<u8>,
    identity: Vec<u8>,
    calls: AtomicUsize,
    port: AtomicI32,
    state: AtomicI32,
    address: Mutex<String>,
    nested_handshake: AtomicI32,
    nested_error: AtomicI32,
}

impl Reentrant {
    fn new(fd: i32, identity: &[u8]) -> Box<Reentrant> {
        Box::new(Reentrant {
            handle: AtomicUsize::new(0),
            fd,
            key: KEY.to_vec(),
            identity: identity.to_vec(),
            calls: AtomicUsize::new(0),
            port: AtomicI32::new(-1),
            state: AtomicI32::new(-1),
            address: Mutex::new(String::new()),
            nested_handshake: AtomicI32::new(-1),
            nested_error: AtomicI32::new(-1),
        })
    }
}

unsafe extern "C" fn reentrant_psk(user: *mut c_void, a: *mut qdtls_psk_authenticator) {
    let r = &*(user as *const Reentrant);
    let h = r.handle.load(Ordering::SeqCst) as *mut qdtls_connection;
    r.calls.fetch_add(1, Ordering::SeqCst);
    r.port.store(i32::from(qdtls_peer_port(h)), Ordering::SeqCst);
    r.state.store(qdtls_handshake_state(h), Ordering::SeqCst);
    *r.address.lock().unwrap() = read_str(|b, c| qdtls_peer_address(h, b, c));
    let dgram = [0x16u8; 32];
    let ok = qdtls_do_handshake(h, r.fd, dgram.as_ptr(), dgram.len());
    r.nested_handshake.store(i32::from(ok), Ordering::SeqCst);
    r.nested_error.store(qdtls_dtls_error(h), Ordering::SeqCst);
    if qdtls_psk_maximum_identity_length(a) > 0 {
        assert!(qdtls_psk_set_identity(a, r.identity.as_ptr(), r.identity.len()));
    }
    assert!(qdtls_psk_set_pre_shared_key(a, r.key.as_ptr(), r.key.len()));
}

#[test]
fn psk_callback_may_call_getters_but_not_operations_of_its_own_handle() {
    with_watchdog(Duration::from_secs(60), || {
        let (csock, ssock) = (udp(), udp());
        let (caddr, saddr) = (csock.local_addr().unwrap(), ssock.local_addr().unwrap());
        let cr = Reentrant::new(csock.as_raw_fd(), b"reentrant");
        let sr = Reentrant::new(ssock.as_raw_fd(), b"");
        let cfg = Cfg::psk();
        let (c, s) = (Dtls::client().with_config(&cfg), Dtls::server().with_config(&cfg));
        for (d, r) in [(&c, &cr), (&s, &sr)] {
            r.handle.store(d.0 as usize, Ordering::SeqCst);
            let user = &**r as *const Reentrant as *mut c_void;
            assert!(unsafe { qdtls_set_psk_callback(d.0, Some(reentrant_psk), user) });
        }
        let mut l = Link::with_sockets(c, csock, s, ssock);
        establish(&mut l);
        for (who, r, port) in [("client", &cr, saddr.port()), ("server", &sr, caddr.port())] {
            assert_eq!(r.calls.load(Ordering::SeqCst), 1, "{who}");
            assert_eq!(r.port.load(Ordering::SeqCst), i32::from(port), "{who} peer port");
            assert_eq!(r.state.load(Ordering::SeqCst), QDTLS_HANDSHAKE_IN_PROGRESS, "{who} state");
            assert_eq!(*r.address.lock().unwrap(), "127.0.0.1", "{who} peer address");
            assert_eq!(r.nested_handshake.load(Ordering::SeqCst), 0, "{who}: nested do_handshake refused");
            assert_eq!(r.nested_error.load(Ordering::SeqCst), QDTLS_ERROR_INVALID_OPERATION, "{who}");
        }
        // The refused nested call did not disturb the handshake.
        assert_eq!(l.client.error(), QDTLS_ERROR_NO_ERROR);
        assert_eq!(l.send(true, b"reentrant ok").as_deref(), Some(&b"reentrant ok"[..]));
        assert_eq!(l.send(false, b"reentrant back").as_deref(), Some(&b"reentrant back"[..]));
    });
}

// ---- argument and state checks ------------------------------------------------------------------

#[test]
fn null_socket_and_not_encrypted_are_refused() {
    let (cp, sp) = psks();
    let mut l = Link::psk(&cp, &sp);
    let (cfd, sfd) = (l.csock.as_raw_fd(), l.ssock.as_raw_fd());
    let junk = [0x17u8, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 1, 0, 1, 0];
    // Before the handshake: the null socket is checked first, then the state.
    assert_eq!(write_fd(&l.client, -1, b"x"), -1);
    assert_eq!(l.client.error(), QDTLS_ERROR_INVALID_INPUT_PARAMETERS);
    assert_eq!(decrypt_cap(&l.client, -1, &junk, 64).0, -1);
    assert_eq!(l.client.error(), QDTLS_ERROR_INVALID_INPUT_PARAMETERS);
    assert_eq!(write_fd(&l.client, cfd, b"x"), -1);
    assert_eq!(l.client.error(), QDTLS_ERROR_INVALID_OPERATION);
    assert_eq!(decrypt_cap(&l.client, cfd, &junk, 64).0, -1);
    assert_eq!(l.client.error(), QDTLS_ERROR_INVALID_OPERATION);
    assert_eq!(decrypt_cap(&l.server, sfd, &junk, 64).0, -1);
    assert_eq!(l.server.error(), QDTLS_ERROR_INVALID_OPERATION);
    // During the handshake: still not encrypted.
    assert!(l.client.handshake(&l.csock, &[]));
    assert_eq!(l.client.state(), QDTLS_HANDSHAKE_IN_PROGRESS);
    assert_eq!(decrypt_cap(&l.client, cfd, &junk, 64).0, -1);
    assert_eq!(l.client.error(), QDTLS_ERROR_INVALID_OPERATION);
    assert_eq!(write_fd(&l.client, cfd, b"x"), -1);
    assert_eq!(l.client.error(), QDTLS_ERROR_INVALID_OPERATION);
    assert!(l.pump(LONG), "client {} / server {}", l.client.error_string(), l.server.error_string());
    assert!(l.client.encrypted() && l.server.encrypted());
    // Established: fd -1 is refused and consumes nothing.
    assert_eq!(write_fd(&l.client, -1, b"x"), -1);
    assert_eq!(l.client.error(), QDTLS_ERROR_INVALID_INPUT_PARAMETERS);
    assert_eq!(arrives_within(&l.ssock, Duration::from_millis(200)), None, "nothing sent");
    assert_eq!(l.client.write(&l.csock, b"kept"), 4);
    let d = capture(&l.ssock);
    assert_eq!(decrypt_cap(&l.server, -1, &d, d.len()).0, -1);
    assert_eq!(l.server.error(), QDTLS_ERROR_INVALID_INPUT_PARAMETERS);
    assert!(l.server.encrypted());
    assert_eq!(decrypt_cap(&l.server, sfd, &d, d.len()), (4, b"kept".to_vec()));
    assert_eq!(l.server.error(), QDTLS_ERROR_NO_ERROR);
}
