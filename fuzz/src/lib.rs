//! The bodies of the fuzz targets, shared by the cargo-fuzz targets
//! (fuzz_targets/*.rs) and the stable replay runner (src/bin/replay.rs).
//! Everything goes through the C ABI, as a C caller would use it, on real
//! UDP sockets on 127.0.0.1. Each body checks the documented outcome of its
//! entry point and panics (a libFuzzer crash) on anything else.
//!
//! Input formats (the seed corpus in corpus/ is written by
//! `cargo test --test flood write_fuzz_corpus -- --ignored` from real traffic):
//! - `decrypt`: byte 0 even: the rest is one datagram for an established
//!   server session. Byte 0 odd: byte 1 picks one of the session's own
//!   encrypted records (written by its client, never delivered), the rest is
//!   (offset, xor) pairs applied to it, so the fuzzer reaches the record
//!   layer and the MAC check with real keys.
//! - `server_first`: byte 0 flags (bit 0 cookie verification, bit 1 a
//!   certificate configuration instead of PSK), bytes 1-2 the client's port
//!   (big-endian), the rest the first datagram of a new server session whose
//!   peer is 127.0.0.1:port. Cookies use [`COOKIE_SECRET`], so the corpus
//!   carries ClientHellos with valid cookies.
//! - `verify_client`: bytes 0-1 the client's port, the rest a datagram for
//!   a verifier with [`COOKIE_SECRET`], client address 127.0.0.1:port.
//!
//! Ports outside 32768..61000 are mapped into it: whatever a session or the
//! verifier sends goes to an ephemeral port on loopback, never to a service.

use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::sync::{Mutex, OnceLock};

use libc::c_void;
use qdtls::ffi::config::*;
use qdtls::ffi::dtls::*;
use qdtls::ffi::psk::*;
use qdtls::ffi::verifier::*;
use qdtls::ffi::*;

/// The cookie secret of the corpus (tests/flood.rs has the same bytes).
pub const COOKIE_SECRET: &[u8] = b"qdtls fuzz cookie secret, fixed.";
const KEY: &[u8] = b"qdtls fuzz pre-shared key 012345";

struct Handle(*mut qdtls_connection);
impl Drop for Handle {
    fn drop(&mut self) {
        unsafe { qdtls_free(self.0) }
    }
}
unsafe impl Send for Handle {}

struct Config(*mut qdtls_configuration);
unsafe impl Send for Config {}
unsafe impl Sync for Config {}

struct Verifier(*mut qdtls_client_verifier);
unsafe impl Send for Verifier {}

fn socket() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    s.set_nonblocking(true).unwrap();
    s
}

fn drain(s: &UdpSocket) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 65536];
    while let Ok(n) = s.recv(&mut buf) {
        out.push(buf[..n].to_vec());
    }
    out
}

fn port_of(hi: u8, lo: u8) -> u16 {
    let p = u16::from_be_bytes([hi, lo]);
    if (32768..61000).contains(&p) {
        p
    } else {
        32768 + p % 28232
    }
}

unsafe extern "C" fn psk_callback(_user: *mut c_void, a: *mut qdtls_psk_authenticator) {
    if qdtls_psk_maximum_identity_length(a) > 0 {
        qdtls_psk_set_identity(a, b"fuzz".as_ptr(), 4);
    }
    qdtls_psk_set_pre_shared_key(a, KEY.as_ptr(), KEY.len());
}

fn new_handle(mode: i32, cfg: &Config) -> Handle {
    let h = Handle(qdtls_new(mode));
    unsafe {
        assert!(qdtls_set_dtls_configuration(h.0, cfg.0));
        assert!(qdtls_set_psk_callback(h.0, Some(psk_callback), std::ptr::null_mut()));
    }
    h
}

fn set_peer(h: &Handle, port: u16) {
    unsafe { assert!(qdtls_set_peer(h.0, c"127.0.0.1".as_ptr(), port, std::ptr::null())) }
}

/// A self-signed ECDSA certificate and key, made at start (nothing on disk can expire).
fn self_signed() -> (String, String) {
    use openssl::{asn1::Asn1Time, ec, hash::MessageDigest, nid::Nid, pkey::PKey, x509};
    let key =
        PKey::from_ec_key(ec::EcKey::generate(&ec::EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap()).unwrap())
            .unwrap();
    let mut name = x509::X509NameBuilder::new().unwrap();
    name.append_entry_by_nid(Nid::COMMONNAME, "fuzz.test").unwrap();
    let name = name.build();
    let mut b = x509::X509Builder::new().unwrap();
    b.set_version(2).unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(&key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap()).unwrap();
    b.set_not_after(&Asn1Time::days_from_now(30).unwrap()).unwrap();
    b.sign(&key, MessageDigest::sha256()).unwrap();
    let cert = String::from_utf8(b.build().to_pem().unwrap()).unwrap();
    (cert, String::from_utf8(key.private_key_to_pem_pkcs8().unwrap()).unwrap())
}

/// Server configurations by flags: bit 0 cookies, bit 1 certificate.
fn configs() -> &'static [Config; 4] {
    static C: OnceLock<[Config; 4]> = OnceLock::new();
    C.get_or_init(|| {
        let (cert, key) = self_signed();
        std::array::from_fn(|flags| unsafe {
            let c = qdtls_configuration_new();
            assert!(qdtls_configuration_set_dtls_cookie_verification_enabled(c, flags & 1 != 0));
            assert!(qdtls_configuration_set_peer_verify_mode(c, QDTLS_VERIFY_NONE));
            // A CA of our own, so the system trust store is never loaded.
            assert!(qdtls_configuration_add_ca_certificates(c, cert.as_ptr().cast(), cert.len()));
            if flags & 2 != 0 {
                assert!(qdtls_configuration_set_local_certificate_chain(c, cert.as_ptr().cast(), cert.len()));
                assert!(qdtls_configuration_set_private_key(c, key.as_ptr().cast(), key.len(), std::ptr::null()));
            }
            Config(c)
        })
    })
}

fn shared_socket() -> &'static UdpSocket {
    static S: OnceLock<UdpSocket> = OnceLock::new();
    S.get_or_init(socket)
}

// ---- server_first --------------------------------------------------------------------------

/// Server do_handshake with its first datagram: true means InProgress with
/// no error; false means TlsFatalError (NotStarted), or InvalidInputParameters
/// for an empty datagram. Returns what happened.
pub fn server_first(data: &[u8]) -> &'static str {
    let [flags, hi, lo, dgram @ ..] = data else { return "too short" };
    let cfg = &configs()[usize::from(flags & 3)];
    let h = new_handle(QDTLS_SSL_SERVER_MODE, cfg);
    unsafe {
        assert!(qdtls_set_cookie_generator_parameters(
            h.0,
            QDTLS_HASH_SHA256,
            COOKIE_SECRET.as_ptr(),
            COOKIE_SECRET.len()
        ));
    }
    set_peer(&h, port_of(*hi, *lo));
    let fd = shared_socket().as_raw_fd();
    let ok = unsafe { qdtls_do_handshake(h.0, fd, dgram.as_ptr(), dgram.len()) };
    let (e, st) = unsafe { (qdtls_dtls_error(h.0), qdtls_handshake_state(h.0)) };
    if ok {
        assert_eq!(e, QDTLS_ERROR_NO_ERROR);
        assert_eq!(st, QDTLS_HANDSHAKE_IN_PROGRESS);
        // The timer runs once the server's flight went out.
        if unsafe { qdtls_next_timeout_ms(h.0) } >= 0 {
            "accepted: flight sent"
        } else {
            // A handle InProgress with no timer would never end by itself
            // (found by the flood tests, fixed in 59cb21d and 197688a).
            panic!("server InProgress with no timer and nothing sent")
        }
    } else if dgram.is_empty() {
        assert_eq!(e, QDTLS_ERROR_INVALID_INPUT_PARAMETERS);
        "empty"
    } else if e == QDTLS_ERROR_UNDERLYING_SOCKET_ERROR {
        assert_eq!(st, QDTLS_HANDSHAKE_IN_PROGRESS, "the flight could not be sent");
        "send failed"
    } else {
        assert_eq!(e, QDTLS_ERROR_TLS_FATAL_ERROR);
        assert_eq!(st, QDTLS_HANDSHAKE_NOT_STARTED);
        "refused: TlsFatalError"
    }
}

// ---- verify_client ---------------------------------------------------------------------------

/// verify_client: true only for a ClientHello with a valid cookie (then
/// verified_hello is the datagram); otherwise false with NoError (or
/// UnderlyingSocketError if the HelloVerifyRequest could not be sent).
pub fn verify_client(data: &[u8]) -> &'static str {
    static V: OnceLock<Mutex<Verifier>> = OnceLock::new();
    let [hi, lo, dgram @ ..] = data else { return "too short" };
    let v = V
        .get_or_init(|| {
            let v = qdtls_client_verifier_new();
            let ok = unsafe {
                qdtls_client_verifier_set_cookie_generator_parameters(
                    v,
                    QDTLS_HASH_SHA256,
                    COOKIE_SECRET.as_ptr(),
                    COOKIE_SECRET.len(),
                )
            };
            assert!(ok);
            Mutex::new(Verifier(v))
        })
        .lock()
        .unwrap();
    let fd = shared_socket().as_raw_fd();
    let port = port_of(*hi, *lo);
    let ok = unsafe {
        qdtls_client_verifier_verify_client(v.0, fd, dgram.as_ptr(), dgram.len(), c"127.0.0.1".as_ptr(), port)
    };
    let e = unsafe { qdtls_client_verifier_dtls_error(v.0) };
    if ok {
        assert_eq!(e, QDTLS_ERROR_NO_ERROR);
        assert_eq!(dgram.first(), Some(&22), "only a handshake record verifies");
        let mut buf = vec![0u8; dgram.len()];
        let n = unsafe { qdtls_client_verifier_verified_hello(v.0, buf.as_mut_ptr(), buf.len()) };
        assert_eq!(&buf[..n], dgram);
        "verified"
    } else if dgram.is_empty() {
        assert_eq!(e, QDTLS_ERROR_INVALID_INPUT_PARAMETERS);
        "empty"
    } else {
        assert!(e == QDTLS_ERROR_NO_ERROR || e == QDTLS_ERROR_UNDERLYING_SOCKET_ERROR, "error {e}");
        "not verified"
    }
}

// ---- decrypt --------------------------------------------------------------------------------

struct Established {
    client: Handle,
    server: Handle,
    csock: UdpSocket,
    ssock: UdpSocket,
    /// The client's encrypted records (never delivered) and their plaintexts.
    own: Vec<(Vec<u8>, Vec<u8>)>,
    _cfg: Config,
}

fn establish() -> Established {
    let cfg = unsafe {
        let c = qdtls_configuration_new();
        assert!(qdtls_configuration_set_dtls_cookie_verification_enabled(c, false));
        assert!(qdtls_configuration_set_peer_verify_mode(c, QDTLS_VERIFY_NONE));
        Config(c)
    };
    let client = new_handle(QDTLS_SSL_CLIENT_MODE, &cfg);
    let server = new_handle(QDTLS_SSL_SERVER_MODE, &cfg);
    let (csock, ssock) = (socket(), socket());
    set_peer(&client, ssock.local_addr().unwrap().port());
    set_peer(&server, csock.local_addr().unwrap().port());
    let (cfd, sfd) = (csock.as_raw_fd(), ssock.as_raw_fd());
    unsafe {
        assert!(qdtls_do_handshake(client.0, cfd, std::ptr::null(), 0));
        for _ in 0..10 {
            for d in drain(&ssock) {
                qdtls_do_handshake(server.0, sfd, d.as_ptr(), d.len());
            }
            for d in drain(&csock) {
                qdtls_do_handshake(client.0, cfd, d.as_ptr(), d.len());
            }
            if qdtls_is_connection_encrypted(client.0) && qdtls_is_connection_encrypted(server.0) {
                break;
            }
        }
        assert!(qdtls_is_connection_encrypted(client.0) && qdtls_is_connection_encrypted(server.0));
    }
    let mut own = Vec::new();
    for (i, len) in [1usize, 16, 100, 500, 1200].into_iter().enumerate() {
        let plain: Vec<u8> = (0..len).map(|j| (i * 31 + j) as u8).collect();
        let n = unsafe { qdtls_write_datagram_encrypted(client.0, cfd, plain.as_ptr(), plain.len()) };
        assert_eq!(n, len as i64);
        let mut d = drain(&ssock);
        assert_eq!(d.len(), 1);
        own.push((d.remove(0), plain));
    }
    Established { client, server, csock, ssock, own, _cfg: cfg }
}

/// decrypt_datagram on an established server session: 0 or more bytes with
/// NoError, or -1 with TlsNonFatalError; plaintext only for one of the
/// session's own records, unmodified and intact; the session always
/// survives: after every input it still decrypts a fresh record of its peer.
pub fn decrypt(data: &[u8]) -> &'static str {
    static E: OnceLock<Mutex<Established>> = OnceLock::new();
    static ALIVE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let e = E.get_or_init(|| Mutex::new(establish())).lock().unwrap_or_else(|p| p.into_inner());
    let Some((&mode, rest)) = data.split_first() else { return "too short" };
    let dgram = if mode & 1 == 0 {
        rest.to_vec()
    } else {
        let Some((&k, edits)) = rest.split_first() else { return "too short" };
        let mut d = e.own[usize::from(k) % e.own.len()].0.clone();
        for pair in edits.chunks_exact(2) {
            let i = usize::from(pair[0]) * 7 % d.len();
            d[i] ^= pair[1];
        }
        d
    };
    let mut out = vec![0u8; dgram.len()];
    let n = unsafe {
        qdtls_decrypt_datagram(
            e.server.0,
            e.ssock.as_raw_fd(),
            dgram.as_ptr(),
            dgram.len(),
            out.as_mut_ptr(),
            out.len(),
        )
    };
    let err = unsafe { qdtls_dtls_error(e.server.0) };
    let outcome = if n < 0 {
        assert_eq!(err, QDTLS_ERROR_TLS_NON_FATAL_ERROR, "decrypt -1");
        "-1, TlsNonFatalError"
    } else {
        assert!(err == QDTLS_ERROR_NO_ERROR || err == QDTLS_ERROR_UNDERLYING_SOCKET_ERROR, "error {err}");
        if n > 0 {
            let plain = &out[..n as usize];
            let own = e.own.iter().find(|(d, _)| *d == dgram);
            assert_eq!(own.map(|(_, p)| p.as_slice()), Some(plain), "plaintext from a datagram that is not ours");
            "plaintext (one of our records, first delivery)"
        } else {
            "0 bytes (dropped, replayed or not data)"
        }
    };
    unsafe {
        assert_eq!(qdtls_handshake_state(e.server.0), QDTLS_HANDSHAKE_COMPLETE, "the session died");
        assert!(qdtls_is_connection_encrypted(e.server.0));
    }
    // Whatever the server answered (retransmissions) goes to the client's socket.
    let _ = drain(&e.csock);
    // Still alive: a fresh record of the peer decrypts.
    let n = ALIVE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let msg = format!("alive {n}");
    let (cfd, sfd) = (e.csock.as_raw_fd(), e.ssock.as_raw_fd());
    assert_eq!(unsafe { qdtls_write_datagram_encrypted(e.client.0, cfd, msg.as_ptr(), msg.len()) }, msg.len() as i64);
    let fresh = drain(&e.ssock).remove(0);
    let mut out = vec![0u8; fresh.len()];
    let r =
        unsafe { qdtls_decrypt_datagram(e.server.0, sfd, fresh.as_ptr(), fresh.len(), out.as_mut_ptr(), out.len()) };
    assert!(
        r == msg.len() as i64 && &out[..msg.len()] == msg.as_bytes(),
        "the session no longer decrypts its peer's records (decrypt {r}) after a {}-byte datagram",
        dgram.len()
    );
    outcome
}
