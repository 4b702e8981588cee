//! The C API contract: Qt's defaults, configuration values, check orders,
//! error codes, NULL safety and the buffer rules, over real UDP sockets.

mod common;

use std::ffi::CString;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::ptr::{null, null_mut};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use common::certs::{self, KeyKind};
use common::harness::*;
use libc::{c_char, c_void};
use qdtls::ffi::config::*;
use qdtls::ffi::dtls::*;
use qdtls::ffi::psk::*;
use qdtls::ffi::verifier::*;
use qdtls::ffi::*;

// ---- helpers ------------------------------------------------------------------

/// Tests that read or change the process-wide default configuration hold this.
static DEFAULTS: Mutex<()> = Mutex::new(());

fn defaults_lock() -> MutexGuard<'static, ()> {
    DEFAULTS.lock().unwrap_or_else(|e| e.into_inner())
}

fn peer_address(d: &Dtls) -> String {
    read_str(|b, c| unsafe { qdtls_peer_address(d.0, b, c) })
}

fn peer_port(d: &Dtls) -> u16 {
    unsafe { qdtls_peer_port(d.0) }
}

fn verification_name(d: &Dtls) -> String {
    read_str(|b, c| unsafe { qdtls_peer_verification_name(d.0, b, c) })
}

fn set_peer_raw(d: &Dtls, address: Option<&str>, port: u16, name: Option<&str>) -> bool {
    let a = address.map(|a| CString::new(a).unwrap());
    let n = name.map(|n| CString::new(n).unwrap());
    unsafe {
        qdtls_set_peer(d.0, a.as_ref().map_or(null(), |a| a.as_ptr()), port, n.as_ref().map_or(null(), |n| n.as_ptr()))
    }
}

fn set_name(d: &Dtls, name: Option<&str>) -> bool {
    let n = name.map(|n| CString::new(n).unwrap());
    unsafe { qdtls_set_peer_verification_name(d.0, n.as_ref().map_or(null(), |n| n.as_ptr())) }
}

fn handshake_fd(d: &Dtls, fd: i32, dgram: &[u8]) -> bool {
    unsafe { qdtls_do_handshake(d.0, fd, if dgram.is_empty() { null() } else { dgram.as_ptr() }, dgram.len()) }
}

fn write_fd(d: &Dtls, fd: i32, data: &[u8]) -> i64 {
    unsafe { qdtls_write_datagram_encrypted(d.0, fd, data.as_ptr(), data.len()) }
}

fn decrypt_fd(d: &Dtls, fd: i32, dgram: &[u8]) -> i64 {
    let mut out = vec![0u8; dgram.len().max(1)];
    unsafe { qdtls_decrypt_datagram(d.0, fd, dgram.as_ptr(), dgram.len(), out.as_mut_ptr(), out.len()) }
}

/// Makes `d` carry an error (InvalidInputParameters from a null-socket call),
/// so a following success can be seen clearing it.
fn dirty(d: &Dtls) {
    assert!(!unsafe { qdtls_resume_handshake(d.0, -1) });
    assert_eq!(d.error(), QDTLS_ERROR_INVALID_INPUT_PARAMETERS);
    assert_ne!(d.error_string(), "");
}

/// The error is NoError with an empty description.
#[track_caller]
fn assert_clean(d: &Dtls) {
    assert_eq!(d.error(), QDTLS_ERROR_NO_ERROR, "{}", d.error_string());
    assert_eq!(d.error_string(), "");
}

#[track_caller]
fn assert_err(d: &Dtls, code: i32) {
    assert_eq!(d.error(), code, "{}", d.error_string());
    assert_ne!(d.error_string(), "", "a failing call sets a description");
}

fn cfg_protocol(c: &Cfg) -> i32 {
    unsafe { qdtls_configuration_protocol(c.0) }
}
fn cfg_verify_mode(c: &Cfg) -> i32 {
    unsafe { qdtls_configuration_peer_verify_mode(c.0) }
}
fn cfg_depth(c: &Cfg) -> i32 {
    unsafe { qdtls_configuration_peer_verify_depth(c.0) }
}
fn cfg_cookies(c: &Cfg) -> bool {
    unsafe { qdtls_configuration_dtls_cookie_verification_enabled(c.0) }
}
fn cfg_server_pref(c: &Cfg) -> bool {
    unsafe { qdtls_configuration_server_cipher_preference(c.0) }
}
fn cfg_has_key(c: &Cfg) -> bool {
    unsafe { qdtls_configuration_has_private_key(c.0) }
}
fn cfg_ca_count(c: &Cfg) -> usize {
    unsafe { qdtls_configuration_ca_certificate_count(c.0) }
}
fn cfg_chain(c: &Cfg) -> String {
    read_str(|b, n| unsafe { qdtls_configuration_local_certificate_chain(c.0, b, n) })
}
fn cfg_ciphers(c: &Cfg) -> String {
    read_str(|b, n| unsafe { qdtls_configuration_ciphers(c.0, b, n) })
}
fn cfg_hint(c: &Cfg) -> Vec<u8> {
    read_bytes(|b, n| unsafe { qdtls_configuration_pre_shared_key_identity_hint(c.0, b, n) })
}
fn cfg_alpn(c: &Cfg) -> Vec<String> {
    let n = unsafe { qdtls_configuration_allowed_next_protocol_count(c.0) };
    (0..n).map(|i| read_str(|b, cap| unsafe { qdtls_configuration_allowed_next_protocol_at(c.0, i, b, cap) })).collect()
}
fn set_alpn(c: &Cfg, names: &[&str]) -> bool {
    let owned: Vec<CString> = names.iter().map(|n| CString::new(*n).unwrap()).collect();
    let ptrs: Vec<*const c_char> = owned.iter().map(|n| n.as_ptr()).collect();
    unsafe { qdtls_configuration_set_allowed_next_protocols(c.0, ptrs.as_ptr(), ptrs.len()) }
}
fn set_chain(c: &Cfg, pem: &str) -> bool {
    unsafe { qdtls_configuration_set_local_certificate_chain(c.0, pem.as_ptr().cast(), pem.len()) }
}
fn set_key(c: &Cfg, pem: &str, pass: Option<&str>) -> bool {
    let p = pass.map(|p| CString::new(p).unwrap());
    unsafe {
        qdtls_configuration_set_private_key(
            c.0,
            pem.as_ptr().cast(),
            pem.len(),
            p.as_ref().map_or(null(), |p| p.as_ptr()),
        )
    }
}
fn add_ca(c: &Cfg, pem: &str) -> bool {
    unsafe { qdtls_configuration_add_ca_certificates(c.0, pem.as_ptr().cast(), pem.len()) }
}
fn set_ciphers(c: &Cfg, list: Option<&str>) -> bool {
    let l = list.map(|l| CString::new(l).unwrap());
    unsafe { qdtls_configuration_set_ciphers(c.0, l.as_ref().map_or(null(), |l| l.as_ptr())) }
}
fn set_hint(c: &Cfg, hint: &[u8]) -> bool {
    unsafe { qdtls_configuration_set_pre_shared_key_identity_hint(c.0, hint.as_ptr(), hint.len()) }
}

/// The configuration a handle uses (a copy).
fn config_of(d: &Dtls) -> Cfg {
    let c = unsafe { qdtls_dtls_configuration(d.0) };
    assert!(!c.is_null());
    Cfg(c)
}

/// A summary of every readable field of a configuration.
fn summary(c: &Cfg) -> String {
    format!(
        "protocol {} mode {} depth {} cookies {} pref {} key {} cas {} chain {:?} ciphers {:?} hint {:?} alpn {:?}",
        cfg_protocol(c),
        cfg_verify_mode(c),
        cfg_depth(c),
        cfg_cookies(c),
        cfg_server_pref(c),
        cfg_has_key(c),
        cfg_ca_count(c),
        cfg_chain(c),
        cfg_ciphers(c),
        cfg_hint(c),
        cfg_alpn(c)
    )
}

/// Waits up to `limit` for a datagram.
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

fn silent(s: &UdpSocket) -> bool {
    recv_within(s, Duration::from_millis(100)).is_none()
}

/// A PSK link; the keys are boxed and dropped after the link.
struct Pair {
    l: Link,
    _cp: Box<Psk>,
    _sp: Box<Psk>,
}

fn psk_pair() -> Pair {
    let (cp, sp) = (Psk::new(b"api client", b"api shared key"), Psk::new(b"", b"api shared key"));
    Pair { l: Link::psk(&cp, &sp), _cp: cp, _sp: sp }
}

fn completed_pair() -> Pair {
    let mut p = psk_pair();
    assert!(p.l.handshake(Duration::from_secs(10)), "{} / {}", p.l.client.error_string(), p.l.server.error_string());
    assert!(p.l.client.encrypted() && p.l.server.encrypted());
    p
}

/// A client (AutoVerifyPeer, system CAs) that rejected a self-signed server:
/// client PeerVerificationFailed, server Complete.
fn verification_failed_link() -> Link {
    let pem = certs::self_signed("api.test", &["api.test"], KeyKind::EcP256);
    let scfg = Cfg::new();
    scfg.cookies(false).identity(&pem.cert, &pem.key);
    let mut l = Link::new(Dtls::client().with_config(&Cfg::new()), Dtls::server().with_config(&scfg));
    assert!(l.handshake(Duration::from_secs(10)));
    assert_eq!(l.client.state(), QDTLS_PEER_VERIFICATION_FAILED, "{}", l.client.error_string());
    assert_eq!(l.client.error(), QDTLS_ERROR_PEER_VERIFICATION_ERROR);
    l
}

/// A sentinel-filled buffer: checks the "write nothing unless it fits" rule.
fn sentinel(n: usize) -> Vec<u8> {
    vec![0xA5u8; n]
}

/// Checks a string getter against the buffer rules, with `expected` as value.
#[track_caller]
fn check_str_rules(expected: &str, f: impl Fn(*mut c_char, usize) -> usize) {
    let len = expected.len();
    assert_eq!(f(null_mut(), 0), len, "cap 0 gives the length");
    let mut buf = sentinel(len + 2);
    assert_eq!(f(buf.as_mut_ptr().cast(), 0), len);
    assert!(buf.iter().all(|&b| b == 0xA5), "cap 0 writes nothing");
    if len > 0 {
        assert_eq!(f(buf.as_mut_ptr().cast(), len), len);
        assert!(buf.iter().all(|&b| b == 0xA5), "no room for the NUL: nothing written");
        assert_eq!(f(buf.as_mut_ptr().cast(), 1), len);
        assert!(buf.iter().all(|&b| b == 0xA5), "too small: nothing written");
    }
    assert_eq!(f(buf.as_mut_ptr().cast(), len + 1), len);
    assert_eq!(&buf[..len], expected.as_bytes());
    assert_eq!(buf[len], 0, "NUL-terminated");
    assert_eq!(buf[len + 1], 0xA5, "nothing beyond the NUL");
}

/// Checks a byte getter against the buffer rules, with `expected` as value.
#[track_caller]
fn check_bytes_rules(expected: &[u8], f: impl Fn(*mut u8, usize) -> usize) {
    let len = expected.len();
    assert!(len > 0, "use a non-empty value");
    assert_eq!(f(null_mut(), 0), len, "cap 0 gives the length");
    let mut buf = sentinel(len + 1);
    assert_eq!(f(buf.as_mut_ptr(), 0), len);
    assert!(buf.iter().all(|&b| b == 0xA5), "cap 0 writes nothing");
    assert_eq!(f(buf.as_mut_ptr(), len - 1), len);
    assert!(buf.iter().all(|&b| b == 0xA5), "too small by one: nothing written");
    assert_eq!(f(buf.as_mut_ptr(), len), len);
    assert_eq!(&buf[..len], expected);
    assert_eq!(buf[len], 0xA5, "no terminator for bytes");
}

/// A sockaddr_in for `ip:port`, built by hand.
fn sockaddr_v4(ip: [u8; 4], port: u16) -> libc::sockaddr_in {
    let mut sin: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    sin.sin_family = libc::AF_INET as libc::sa_family_t;
    sin.sin_port = port.to_be();
    sin.sin_addr.s_addr = u32::from_ne_bytes(ip);
    sin
}

fn sockaddr_v6(ip: [u8; 16], port: u16) -> libc::sockaddr_in6 {
    let mut sin6: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
    sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
    sin6.sin6_port = port.to_be();
    sin6.sin6_addr.s6_addr = ip;
    sin6
}

fn set_peer_sa<T>(d: &Dtls, sa: &T, len: usize, name: Option<&str>) -> bool {
    let n = name.map(|n| CString::new(n).unwrap());
    unsafe {
        qdtls_set_peer_sockaddr(d.0, (sa as *const T).cast::<c_void>(), len, n.as_ref().map_or(null(), |n| n.as_ptr()))
    }
}

// ---- construction ------------------------------------------------------------------

#[test]
fn construction_defaults_are_qt_s() {
    let _g = defaults_lock();
    let default_cfg = Cfg::new();
    for (mode, d) in [(QDTLS_SSL_CLIENT_MODE, Dtls::client()), (QDTLS_SSL_SERVER_MODE, Dtls::server())] {
        assert!(!d.0.is_null());
        assert_eq!(unsafe { qdtls_ssl_mode(d.0) }, mode);
        assert_eq!(peer_address(&d), "");
        assert_eq!(peer_port(&d), 0);
        assert_eq!(verification_name(&d), "");
        assert_eq!(unsafe { qdtls_mtu_hint(d.0) }, 0);
        assert_eq!(d.state(), QDTLS_HANDSHAKE_NOT_STARTED);
        assert!(!d.encrypted());
        assert_eq!(d.cipher(), "");
        assert_eq!(d.protocol(), QDTLS_PROTOCOL_UNKNOWN);
        assert_clean(&d);
        assert!(d.verification_errors().is_empty());
        assert_eq!(d.max_payload(), 0);
        assert_eq!(d.next_timeout_ms(), -1);
        assert!(d.peer_certificate().is_empty());
        assert_eq!(d.peer_chain_len(), 0);
        // The configuration is the default one; cookies are SHA-256 with a 32-byte secret.
        assert_eq!(summary(&config_of(&d)), summary(&default_cfg));
        let mut hash = 0;
        assert_eq!(unsafe { qdtls_cookie_generator_parameters(d.0, &mut hash, null_mut(), 0) }, 32);
        assert_eq!(hash, QDTLS_HASH_SHA256);
    }
}

#[test]
fn qdtls_new_refuses_other_modes_and_version_matches_the_crate() {
    for mode in [QDTLS_UNENCRYPTED_MODE, 3, -1, 100, i32::MIN] {
        assert!(qdtls_new(mode).is_null(), "mode {mode}");
    }
    let v = unsafe { std::ffi::CStr::from_ptr(qdtls_version()) };
    assert_eq!(v.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
    // The same static string every time.
    assert_eq!(qdtls_version(), qdtls_version());
}

#[test]
fn mtu_hint_and_initial_timeout_setters() {
    let target = udp();
    let s = udp();
    let d = Dtls::client().with_config(&Cfg::psk());
    for mtu in [1200u16, 576, 65535, 1, 0] {
        unsafe { qdtls_set_mtu_hint(d.0, mtu) };
        assert_eq!(unsafe { qdtls_mtu_hint(d.0) }, mtu, "no checks on the hint");
    }
    for bad in [0u32, 60_001, u32::MAX] {
        assert!(!unsafe { qdtls_set_initial_timeout_ms(d.0, bad) }, "{bad} ms");
        assert_err(&d, QDTLS_ERROR_INVALID_INPUT_PARAMETERS);
    }
    for ok in [1u32, 60_000, 250] {
        assert!(unsafe { qdtls_set_initial_timeout_ms(d.0, ok) }, "{ok} ms");
        assert_clean(&d);
    }
    assert!(d.set_peer(target.local_addr().unwrap(), ""));
    assert!(d.handshake(&s, &[]));
    let t = d.next_timeout_ms();
    assert!((1..=250).contains(&t), "the initial timeout is used: {t} ms");
    // The hint has no state check (Qt): it may change during the handshake.
    unsafe { qdtls_set_mtu_hint(d.0, 1400) };
    assert_eq!(unsafe { qdtls_mtu_hint(d.0) }, 1400);
}

// ---- configuration ------------------------------------------------------------------

#[test]
fn configuration_defaults() {
    let _g = defaults_lock();
    let c = Cfg::new();
    assert!(!c.0.is_null());
    assert_eq!(cfg_protocol(&c), QDTLS_PROTOCOL_DTLS_V1_2_OR_LATER);
    assert_eq!(cfg_protocol(&c), 11);
    assert_eq!(cfg_verify_mode(&c), QDTLS_AUTO_VERIFY_PEER);
    assert_eq!(cfg_verify_mode(&c), 3);
    assert_eq!(cfg_depth(&c), 0);
    assert!(cfg_cookies(&c));
    assert!(cfg_server_pref(&c));
    assert!(!cfg_has_key(&c));
    assert_eq!(cfg_ca_count(&c), 0);
    assert_eq!(cfg_chain(&c), "");
    assert!(cfg_hint(&c).is_empty());
    assert!(cfg_alpn(&c).is_empty());
    assert!(!cfg_ciphers(&c).is_empty(), "the default list is reported");
}

#[test]
fn configuration_setters_round_trip() {
    let c = Cfg::new();
    for p in [QDTLS_PROTOCOL_DTLS_V1_0, 9, 10, 11, 2, 13, QDTLS_PROTOCOL_UNKNOWN] {
        assert!(unsafe { qdtls_configuration_set_protocol(c.0, p) }, "protocol {p}");
        assert_eq!(cfg_protocol(&c), p);
    }
    for m in [QDTLS_VERIFY_NONE, QDTLS_QUERY_PEER, QDTLS_VERIFY_PEER, QDTLS_AUTO_VERIFY_PEER] {
        assert!(unsafe { qdtls_configuration_set_peer_verify_mode(c.0, m) });
        assert_eq!(cfg_verify_mode(&c), m);
    }
    for d in [5, 1, 0, 100] {
        assert!(unsafe { qdtls_configuration_set_peer_verify_depth(c.0, d) });
        assert_eq!(cfg_depth(&c), d);
    }
    assert!(!unsafe { qdtls_configuration_set_peer_verify_depth(c.0, -1) }, "negative depth refused");
    assert_eq!(cfg_depth(&c), 100, "old depth kept");
    for on in [false, true, false] {
        assert!(unsafe { qdtls_configuration_set_dtls_cookie_verification_enabled(c.0, on) });
        assert_eq!(cfg_cookies(&c), on);
        assert!(unsafe { qdtls_configuration_set_server_cipher_preference(c.0, on) });
        assert_eq!(cfg_server_pref(&c), on);
    }
    // Certificate chain and key.
    let a = certs::self_signed("a.test", &["a.test"], KeyKind::EcP256);
    let ca = certs::Ca::new("API CA", KeyKind::EcP256);
    let leaf = ca.issue(&certs::LeafSpec::server("leaf.test"));
    assert!(set_chain(&c, &a.cert));
    assert_eq!(cfg_chain(&c), a.cert);
    let chain = certs::chain_pem(&[&leaf.cert, &ca.pem.cert]);
    assert!(set_chain(&c, &chain));
    assert_eq!(cfg_chain(&c), chain, "leaf first, then the rest, as given");
    assert!(set_chain(&c, ""));
    assert_eq!(cfg_chain(&c), "", "len 0 clears");
    assert!(set_key(&c, &a.key, None));
    assert!(cfg_has_key(&c));
    assert!(set_key(&c, "", None));
    assert!(!cfg_has_key(&c), "len 0 clears");
    // CAs.
    assert!(add_ca(&c, &ca.pem.cert));
    assert_eq!(cfg_ca_count(&c), 1);
    assert!(add_ca(&c, &certs::chain_pem(&[&a.cert, &leaf.cert])));
    assert_eq!(cfg_ca_count(&c), 3);
    assert!(unsafe { qdtls_configuration_clear_ca_certificates(c.0) });
    assert_eq!(cfg_ca_count(&c), 0);
    // Ciphers.
    assert!(set_ciphers(&c, Some("PSK-AES128-GCM-SHA256")));
    assert_eq!(cfg_ciphers(&c), "PSK-AES128-GCM-SHA256");
    assert!(set_ciphers(&c, Some("PSK-AES256-GCM-SHA384:PSK-AES128-CCM")));
    assert_eq!(cfg_ciphers(&c), "PSK-AES256-GCM-SHA384:PSK-AES128-CCM");
    assert!(set_ciphers(&c, None));
    assert_eq!(cfg_ciphers(&c), cfg_ciphers(&Cfg::new()), "NULL restores the default");
    // PSK identity hint.
    assert!(set_hint(&c, b"server hint"));
    assert_eq!(cfg_hint(&c), b"server hint");
    assert!(!set_hint(&c, b"bad\0hint"), "a NUL byte is refused");
    assert_eq!(cfg_hint(&c), b"server hint", "old hint kept");
    assert!(set_hint(&c, b""));
    assert!(cfg_hint(&c).is_empty(), "len 0 clears");
    // ALPN.
    assert!(set_alpn(&c, &["h2", "coap"]));
    assert_eq!(cfg_alpn(&c), ["h2", "coap"]);
    assert_eq!(unsafe { qdtls_configuration_allowed_next_protocol_at(c.0, 2, null_mut(), 0) }, 0, "out of range");
    let long = "x".repeat(255);
    assert!(set_alpn(&c, &[&long]));
    assert_eq!(cfg_alpn(&c), std::slice::from_ref(&long));
    assert!(!set_alpn(&c, &["ok", ""]), "an empty name is refused");
    assert!(!set_alpn(&c, &[&"y".repeat(256)]), "256 bytes is too long");
    assert_eq!(cfg_alpn(&c), [long], "old list kept");
    assert!(!unsafe { qdtls_configuration_set_allowed_next_protocols(c.0, null(), 2) });
    let with_null = [c"a".as_ptr(), null()];
    assert!(!unsafe { qdtls_configuration_set_allowed_next_protocols(c.0, with_null.as_ptr(), 2) });
    assert!(set_alpn(&c, &[]));
    assert!(cfg_alpn(&c).is_empty(), "count 0 clears");
    assert!(unsafe { qdtls_configuration_set_allowed_next_protocols(c.0, null(), 0) });
}

#[test]
fn invalid_pem_is_refused_and_the_old_value_kept() {
    let a = certs::self_signed("a.test", &[], KeyKind::EcP256);
    let b = certs::self_signed("b.test", &[], KeyKind::EcP256);
    let c = Cfg::new();
    assert!(set_chain(&c, &a.cert));
    assert!(set_key(&c, &a.key, None));
    assert!(add_ca(&c, &b.cert));
    let mut truncated = a.cert.clone();
    truncated.truncate(a.cert.len() / 2);
    let corrupted = a.cert.replacen("MII", "MIX", 1);
    for bad in
        ["not pem at all", "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n", &truncated, &corrupted]
    {
        assert!(!set_chain(&c, bad), "{bad:?}");
        assert_eq!(cfg_chain(&c), a.cert);
        assert!(!add_ca(&c, bad), "{bad:?}");
        assert_eq!(cfg_ca_count(&c), 1);
    }
    // A key is not a certificate and a certificate is not a key.
    assert!(!set_chain(&c, &b.key));
    assert!(!add_ca(&c, &b.key));
    assert!(!add_ca(&c, ""), "an empty bundle adds nothing and is refused");
    assert_eq!(cfg_ca_count(&c), 1);
    for bad in ["garbage", &b.cert, &b.key[..b.key.len() / 2]] {
        assert!(!set_key(&c, bad, None), "{bad:?}");
        assert!(cfg_has_key(&c), "old key kept");
    }
    // The old key is really kept: the configuration still starts a handshake.
    let d = Dtls::client().with_config(&c);
    let s = udp();
    assert!(d.set_peer(udp().local_addr().unwrap(), ""));
    assert!(d.handshake(&s, &[]), "{}", d.error_string());
}

#[test]
fn encrypted_key_needs_the_right_passphrase() {
    let a = certs::self_signed("enc.test", &[], KeyKind::EcP256);
    let enc = certs::encrypted_key_pem(&a.key, "correct horse");
    let c = Cfg::new();
    assert!(set_chain(&c, &a.cert));
    for wrong in ["wrong", "", "correct horse "] {
        assert!(!set_key(&c, &enc, Some(wrong)), "{wrong:?}");
        assert!(!cfg_has_key(&c));
    }
    assert!(set_key(&c, &enc, Some("correct horse")));
    assert!(cfg_has_key(&c));
    // A later wrong passphrase leaves the decrypted key in place.
    assert!(!set_key(&c, &enc, Some("nope")));
    assert!(cfg_has_key(&c));
    // The decrypted key matches the certificate: the handshake can start.
    let d = Dtls::client().with_config(&c);
    let s = udp();
    assert!(d.set_peer(udp().local_addr().unwrap(), ""));
    assert!(d.handshake(&s, &[]), "{}", d.error_string());
}

#[test]
fn invalid_cipher_list_and_verify_mode_are_refused() {
    let c = Cfg::new();
    assert!(set_ciphers(&c, Some("PSK-AES128-GCM-SHA256")));
    for bad in ["NOT-A-CIPHER", "", "!ALL"] {
        assert!(!set_ciphers(&c, Some(bad)), "{bad:?}");
        assert_eq!(cfg_ciphers(&c), "PSK-AES128-GCM-SHA256", "old list kept");
    }
    assert!(unsafe { qdtls_configuration_set_peer_verify_mode(c.0, QDTLS_VERIFY_PEER) });
    for bad in [7, 4, -1] {
        assert!(!unsafe { qdtls_configuration_set_peer_verify_mode(c.0, bad) }, "mode {bad}");
        assert_eq!(cfg_verify_mode(&c), QDTLS_VERIFY_PEER);
    }
}

#[test]
fn configuration_clone_is_independent() {
    let a = Cfg::new();
    a.protocol(QDTLS_PROTOCOL_DTLS_V1_2).verify_mode(QDTLS_VERIFY_NONE).hint(b"original");
    let b = Cfg(unsafe { qdtls_configuration_clone(a.0) });
    assert!(!b.0.is_null());
    assert_eq!(summary(&a), summary(&b));
    b.protocol(QDTLS_PROTOCOL_DTLS_V1_0).verify_mode(QDTLS_VERIFY_PEER).hint(b"changed").cookies(false);
    assert_eq!(cfg_protocol(&a), QDTLS_PROTOCOL_DTLS_V1_2);
    assert_eq!(cfg_verify_mode(&a), QDTLS_VERIFY_NONE);
    assert_eq!(cfg_hint(&a), b"original");
    assert!(cfg_cookies(&a));
    a.ciphers("PSK-AES128-GCM-SHA256");
    assert_ne!(cfg_ciphers(&b), "PSK-AES128-GCM-SHA256");
    // Freeing the original leaves the clone intact.
    drop(a);
    assert_eq!(cfg_hint(&b), b"changed");
    assert!(unsafe { qdtls_configuration_clone(null()) }.is_null());
}

#[test]
fn dtls_configuration_returns_a_copy() {
    let cfg = Cfg::psk();
    cfg.hint(b"session hint");
    let d = Dtls::server().with_config(&cfg);
    let copy = config_of(&d);
    assert_eq!(summary(&copy), summary(&cfg));
    copy.cookies(true).verify_mode(QDTLS_VERIFY_PEER).hint(b"modified copy");
    let again = config_of(&d);
    assert_eq!(summary(&again), summary(&cfg), "the session's configuration is unchanged");
    // And the session does not follow later changes of the configuration it was given.
    cfg.hint(b"changed after set");
    assert_eq!(cfg_hint(&config_of(&d)), b"session hint");
    assert!(unsafe { qdtls_dtls_configuration(null()) }.is_null());
}

#[test]
fn default_dtls_configuration_affects_handles_created_later() {
    let _g = defaults_lock();
    struct Restore(Cfg);
    impl Drop for Restore {
        fn drop(&mut self) {
            assert!(unsafe { qdtls_set_default_dtls_configuration(self.0 .0) });
        }
    }
    let saved = Restore(Cfg::new());
    let original = summary(&saved.0);
    let before = Dtls::client();
    let cfg_before = Cfg::new();
    let custom = Cfg::new();
    assert!(unsafe { qdtls_configuration_set_peer_verify_depth(custom.0, 5) });
    custom.server_preference(false).hint(b"default hint");
    assert!(unsafe { qdtls_set_default_dtls_configuration(custom.0) });
    // A copy was taken: changing `custom` now does not change the default.
    assert!(unsafe { qdtls_configuration_set_peer_verify_depth(custom.0, 6) });
    let after = Dtls::server();
    let cfg_after = Cfg::new();
    for c in [&config_of(&after), &cfg_after] {
        assert_eq!(cfg_depth(c), 5);
        assert!(!cfg_server_pref(c));
        assert_eq!(cfg_hint(c), b"default hint");
    }
    // Earlier handles and configurations keep what they had.
    assert_eq!(summary(&config_of(&before)), original);
    assert_eq!(summary(&cfg_before), original);
    assert!(!unsafe { qdtls_set_default_dtls_configuration(null()) });
    drop(saved);
    assert_eq!(summary(&Cfg::new()), original, "restored");
    assert_eq!(summary(&config_of(&Dtls::client())), original);
}

// ---- state checks -------------------------------------------------------------------------

#[test]
fn setters_are_refused_once_the_handshake_started() {
    let server = udp();
    let s = udp();
    let psk_cfg = Cfg::psk();
    let d = Dtls::client().with_config(&psk_cfg);
    assert!(set_peer_raw(&d, Some("127.0.0.1"), server.local_addr().unwrap().port(), Some("before.test")));
    assert!(d.handshake(&s, &[]));
    assert_eq!(d.state(), QDTLS_HANDSHAKE_IN_PROGRESS);
    let other = Cfg::new();
    assert!(!unsafe { qdtls_set_dtls_configuration(d.0, other.0) });
    assert_err(&d, QDTLS_ERROR_INVALID_OPERATION);
    assert_eq!(summary(&config_of(&d)), summary(&psk_cfg), "configuration unchanged");
    assert!(!set_peer_raw(&d, Some("127.0.0.2"), 9, Some("after.test")));
    assert_err(&d, QDTLS_ERROR_INVALID_OPERATION);
    assert!(!set_name(&d, Some("after.test")));
    assert_err(&d, QDTLS_ERROR_INVALID_OPERATION);
    assert!(!set_name(&d, None));
    assert_err(&d, QDTLS_ERROR_INVALID_OPERATION);
    assert!(!unsafe { qdtls_set_initial_timeout_ms(d.0, 100) });
    assert_err(&d, QDTLS_ERROR_INVALID_OPERATION);
    let sa = sockaddr_v4([127, 0, 0, 3], 7);
    assert!(!set_peer_sa(&d, &sa, std::mem::size_of_val(&sa), None));
    assert_err(&d, QDTLS_ERROR_INVALID_OPERATION);
    assert_eq!(peer_address(&d), "127.0.0.1");
    assert_eq!(peer_port(&d), server.local_addr().unwrap().port());
    assert_eq!(verification_name(&d), "before.test");
    assert_eq!(d.state(), QDTLS_HANDSHAKE_IN_PROGRESS);
    // Once aborted (NotStarted again), the setters work.
    assert!(d.abort(&s));
    assert_eq!(d.state(), QDTLS_HANDSHAKE_NOT_STARTED);
    assert!(set_name(&d, Some("after.test")));
    assert_eq!(verification_name(&d), "after.test");
    assert!(unsafe { qdtls_set_dtls_configuration(d.0, other.0) });
    assert_clean(&d);
}

#[test]
fn setters_are_refused_when_complete_too() {
    let p = completed_pair();
    for d in [&p.l.client, &p.l.server] {
        assert!(!set_peer_raw(d, Some("127.0.0.1"), 1, None));
        assert_err(d, QDTLS_ERROR_INVALID_OPERATION);
        assert!(!set_name(d, Some("x")));
        assert_err(d, QDTLS_ERROR_INVALID_OPERATION);
        assert!(!unsafe { qdtls_set_dtls_configuration(d.0, Cfg::psk().0) });
        assert_err(d, QDTLS_ERROR_INVALID_OPERATION);
        assert!(d.encrypted());
    }
}

#[test]
fn tls_protocols_fail_at_handshake_with_tls_initialization_error() {
    let target = udp();
    target.set_read_timeout(Some(Duration::from_millis(10))).unwrap();
    let s = udp();
    for p in [0, 1, 2, 3, 4, 5, 6, 7, 12, 13, QDTLS_PROTOCOL_UNKNOWN, 99] {
        let cfg = Cfg::psk();
        assert!(unsafe { qdtls_configuration_set_protocol(cfg.0, p) }, "the setter accepts {p}");
        assert_eq!(cfg_protocol(&cfg), p);
        let d = Dtls::client().with_config(&cfg);
        assert_clean(&d);
        assert!(d.set_peer(target.local_addr().unwrap(), ""));
        assert!(!d.handshake(&s, &[]), "protocol {p}");
        assert_err(&d, QDTLS_ERROR_TLS_INITIALIZATION_ERROR);
        assert_eq!(d.state(), QDTLS_HANDSHAKE_NOT_STARTED, "protocol {p}");
        assert_eq!(d.next_timeout_ms(), -1);
        // The server side the same (its start needs a datagram).
        let sv = Dtls::server().with_config(&cfg);
        assert!(sv.set_peer(target.local_addr().unwrap(), ""));
        assert!(!sv.handshake(&s, b"\x16\xfe\xfd not really a hello"), "protocol {p}");
        assert_err(&sv, QDTLS_ERROR_TLS_INITIALIZATION_ERROR);
        assert_eq!(sv.state(), QDTLS_HANDSHAKE_NOT_STARTED);
    }
    assert!(silent(&target), "nothing is sent");
    // The DTLS values start.
    for p in [QDTLS_PROTOCOL_DTLS_V1_0, 9, QDTLS_PROTOCOL_DTLS_V1_2, 11] {
        let cfg = Cfg::psk();
        cfg.protocol(p);
        let d = Dtls::client().with_config(&cfg);
        assert!(d.set_peer(target.local_addr().unwrap(), ""));
        assert!(d.handshake(&s, &[]), "protocol {p}: {}", d.error_string());
        assert_eq!(d.state(), QDTLS_HANDSHAKE_IN_PROGRESS);
        assert!(recv_within(&target, Duration::from_secs(1)).is_some(), "protocol {p}: a ClientHello");
    }
}

#[test]
fn certificate_without_key_or_with_a_foreign_key_fails_at_handshake() {
    let a = certs::self_signed("a.test", &[], KeyKind::EcP256);
    let b = certs::self_signed("b.test", &[], KeyKind::EcP256);
    let without_key = Cfg::psk();
    assert!(set_chain(&without_key, &a.cert));
    let foreign_key = Cfg::psk();
    assert!(set_chain(&foreign_key, &a.cert));
    assert!(set_key(&foreign_key, &b.key, None), "the setter does not pair them");
    let good = Cfg::psk();
    good.identity(&a.cert, &a.key);
    let target = udp();
    let s = udp();
    for (what, cfg) in [("no key", &without_key), ("foreign key", &foreign_key)] {
        for d in [Dtls::client(), Dtls::server()] {
            let d = d.with_config(cfg);
            assert!(d.set_peer(target.local_addr().unwrap(), ""));
            assert!(!d.handshake(&s, b"\x16\xfe\xfd"), "{what}");
            assert_err(&d, QDTLS_ERROR_TLS_INITIALIZATION_ERROR);
            assert_eq!(d.state(), QDTLS_HANDSHAKE_NOT_STARTED, "{what}");
        }
    }
    let d = Dtls::client().with_config(&good);
    assert!(d.set_peer(target.local_addr().unwrap(), ""));
    assert!(d.handshake(&s, &[]), "{}", d.error_string());
}

#[test]
fn set_peer_checks_in_qt_s_order() {
    let d = Dtls::client();
    assert!(set_peer_raw(&d, Some("127.0.0.1"), 1234, Some("first.test")));
    assert_clean(&d);
    let bad: [Option<&str>; 13] = [
        None,
        Some(""),
        Some("not an address"),
        Some("127.0.0.1:80"),
        Some("1.2.3"),
        Some("256.1.1.1"),
        Some("255.255.255.255"),
        Some("224.0.0.1"),
        Some("239.255.255.250"),
        Some("ff02::1"),
        Some("ff0e::1234"),
        Some("::ffff:255.255.255.255x"),
        Some("localhost"),
    ];
    for a in bad {
        assert!(set_peer_raw(&d, Some("127.0.0.1"), 1234, Some("first.test")));
        assert!(!set_peer_raw(&d, a, 4321, Some("second.test")), "{a:?}");
        assert_err(&d, QDTLS_ERROR_INVALID_INPUT_PARAMETERS);
        assert_eq!(peer_address(&d), "127.0.0.1", "{a:?}: old peer kept");
        assert_eq!(peer_port(&d), 1234);
        assert_eq!(verification_name(&d), "first.test");
    }
    // Port 0 is accepted; a NULL name is an empty one.
    assert!(set_peer_raw(&d, Some("127.0.0.1"), 0, None));
    assert_clean(&d);
    assert_eq!(peer_port(&d), 0);
    assert_eq!(verification_name(&d), "");
    assert!(set_peer_raw(&d, Some("::1"), 443, Some("v6.test")));
    assert_eq!(peer_address(&d), "::1");
    assert_eq!(peer_port(&d), 443);
    assert_eq!(verification_name(&d), "v6.test");
    assert!(set_peer_raw(&d, Some("10.1.2.3"), 65535, Some("")));
    assert_eq!(peer_address(&d), "10.1.2.3");
    assert_eq!(peer_port(&d), 65535);
    // setPeerVerificationName alone.
    assert!(set_name(&d, Some("name.test")));
    assert_eq!(verification_name(&d), "name.test");
    assert!(set_name(&d, None));
    assert_eq!(verification_name(&d), "");
    // After the start: InvalidOperation comes first, whatever the address.
    let server = udp();
    let s = udp();
    assert!(d.set_peer(server.local_addr().unwrap(), ""));
    let d = d.with_config(&Cfg::psk());
    assert!(d.handshake(&s, &[]));
    for a in [None, Some("garbage"), Some("255.255.255.255"), Some("ff02::1"), Some("127.0.0.1")] {
        assert!(!set_peer_raw(&d, a, 1, None), "{a:?}");
        assert_err(&d, QDTLS_ERROR_INVALID_OPERATION);
    }
    assert_eq!(peer_port(&d), server.local_addr().unwrap().port());
}

#[test]
fn set_peer_sockaddr_reads_sockaddr_in_and_in6() {
    let d = Dtls::server();
    let sin = sockaddr_v4([127, 0, 0, 1], 4433);
    let sin_len = std::mem::size_of::<libc::sockaddr_in>();
    assert!(set_peer_sa(&d, &sin, sin_len, Some("v4.test")));
    assert_clean(&d);
    assert_eq!(peer_address(&d), "127.0.0.1");
    assert_eq!(peer_port(&d), 4433);
    assert_eq!(verification_name(&d), "v4.test");
    let mut v6 = [0u8; 16];
    v6[15] = 1;
    let sin6 = sockaddr_v6(v6, 5544);
    let sin6_len = std::mem::size_of::<libc::sockaddr_in6>();
    assert!(set_peer_sa(&d, &sin6, sin6_len, None));
    assert_eq!(peer_address(&d), "::1");
    assert_eq!(peer_port(&d), 5544);
    assert_eq!(verification_name(&d), "");
    // A sockaddr_storage holding a sockaddr_in, with the storage's length, is fine too.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    unsafe { std::ptr::write((&mut ss as *mut libc::sockaddr_storage).cast(), sockaddr_v4([10, 0, 0, 7], 7)) };
    assert!(set_peer_sa(&d, &ss, std::mem::size_of_val(&ss), None));
    assert_eq!(peer_address(&d), "10.0.0.7");
    // Too short, NULL, unknown family, broadcast/multicast: InvalidInputParameters, old kept.
    let mut unix = ss;
    unix.ss_family = libc::AF_UNIX as libc::sa_family_t;
    let mut mc6 = [0u8; 16];
    mc6[0] = 0xff;
    mc6[1] = 0x02;
    mc6[15] = 1;
    let cases: Vec<(&str, bool)> = vec![
        ("short v4", set_peer_sa(&d, &sin, sin_len - 1, None)),
        ("short v6", set_peer_sa(&d, &sin6, sin6_len - 1, None)),
        ("two bytes", set_peer_sa(&d, &sin, 2, None)),
        ("zero", set_peer_sa(&d, &sin, 0, None)),
        ("AF_UNIX", set_peer_sa(&d, &unix, std::mem::size_of_val(&unix), None)),
        ("broadcast", set_peer_sa(&d, &sockaddr_v4([255; 4], 1), sin_len, None)),
        ("multicast v4", set_peer_sa(&d, &sockaddr_v4([224, 0, 0, 1], 1), sin_len, None)),
        ("multicast v6", set_peer_sa(&d, &sockaddr_v6(mc6, 1), sin6_len, None)),
        ("NULL", unsafe { qdtls_set_peer_sockaddr(d.0, null(), sin_len, null()) }),
    ];
    for (what, ok) in cases {
        assert!(!ok, "{what}");
    }
    // (Each of those set the error; check the last one and that nothing changed.)
    assert_err(&d, QDTLS_ERROR_INVALID_INPUT_PARAMETERS);
    assert_eq!(peer_address(&d), "10.0.0.7");
    assert_eq!(peer_port(&d), 7);
    // Each one individually sets InvalidInputParameters.
    for len in [sin_len - 1, 2, 0] {
        assert!(set_peer_sa(&d, &sin, sin_len, None));
        assert_clean(&d);
        assert!(!set_peer_sa(&d, &sin, len, None), "len {len}");
        assert_err(&d, QDTLS_ERROR_INVALID_INPUT_PARAMETERS);
    }
}

#[test]
fn do_handshake_start_checks_in_qt_s_order() {
    let target = udp();
    target.set_read_timeout(Some(Duration::from_millis(10))).unwrap();
    let s = udp();
    let fd = s.as_raw_fd();
    let hello = b"\x16\xfe\xfd\x00\x00 something".to_vec();
    // Client without a peer: the null socket is reported before the missing peer.
    let c = Dtls::client().with_config(&Cfg::psk());
    assert!(!handshake_fd(&c, -1, &[]));
    assert_err(&c, QDTLS_ERROR_INVALID_INPUT_PARAMETERS);
    assert!(!handshake_fd(&c, fd, &[]));
    assert_err(&c, QDTLS_ERROR_INVALID_OPERATION);
    assert_eq!(c.state(), QDTLS_HANDSHAKE_NOT_STARTED);
    // Server without a peer: the peer is checked before the datagram.
    let sv = Dtls::server().with_config(&Cfg::psk());
    assert!(!handshake_fd(&sv, -1, &[]));
    assert_err(&sv, QDTLS_ERROR_INVALID_INPUT_PARAMETERS);
    assert!(!handshake_fd(&sv, fd, &[]));
    assert_err(&sv, QDTLS_ERROR_INVALID_OPERATION);
    assert!(!handshake_fd(&sv, fd, &hello));
    assert_err(&sv, QDTLS_ERROR_INVALID_OPERATION);
    // With peers set.
    assert!(c.set_peer(target.local_addr().unwrap(), ""));
    assert!(sv.set_peer(target.local_addr().unwrap(), ""));
    assert!(!handshake_fd(&c, -1, &[]));
    assert_err(&c, QDTLS_ERROR_INVALID_INPUT_PARAMETERS);
    assert!(!handshake_fd(&sv, -1, &hello));
    assert_err(&sv, QDTLS_ERROR_INVALID_INPUT_PARAMETERS);
    assert!(!handshake_fd(&sv, fd, &[]));
    assert_err(&sv, QDTLS_ERROR_INVALID_INPUT_PARAMETERS);
    assert!(!unsafe { qdtls_do_handshake(sv.0, fd, null(), 5) });
    assert_err(&sv, QDTLS_ERROR_INVALID_INPUT_PARAMETERS);
    assert!(!unsafe { qdtls_do_handshake(c.0, fd, null(), 5) });
    assert_err(&c, QDTLS_ERROR_INVALID_INPUT_PARAMETERS);
    for d in [&c, &sv] {
        assert_eq!(d.state(), QDTLS_HANDSHAKE_NOT_STARTED);
        assert_eq!(d.next_timeout_ms(), -1);
    }
    assert!(silent(&target), "nothing sent by refused calls");
    // A client may start with an empty datagram (NULL pointer too); success clears the error.
    assert!(unsafe { qdtls_do_handshake(c.0, fd, null(), 0) }, "{}", c.error_string());
    assert_clean(&c);
    assert_eq!(c.state(), QDTLS_HANDSHAKE_IN_PROGRESS);
    let (d, _) = recv_within(&target, Duration::from_secs(1)).expect("ClientHello");
    assert_eq!((d[0], d[13]), (22, 1));
}

#[test]
fn do_handshake_continue_and_after_completion() {
    let mut p = psk_pair();
    let (c, cs) = (&p.l.client, &p.l.csock);
    assert!(c.handshake(cs, &[]));
    // In progress: null socket or empty datagram.
    assert!(!handshake_fd(c, -1, b"\x16\xfe\xfd whatever"));
    assert_err(c, QDTLS_ERROR_INVALID_INPUT_PARAMETERS);
    assert!(!handshake_fd(c, cs.as_raw_fd(), &[]));
    assert_err(c, QDTLS_ERROR_INVALID_INPUT_PARAMETERS);
    assert!(!unsafe { qdtls_do_handshake(c.0, cs.as_raw_fd(), null(), 3) });
    assert_err(c, QDTLS_ERROR_INVALID_INPUT_PARAMETERS);
    assert_eq!(c.state(), QDTLS_HANDSHAKE_IN_PROGRESS, "refused calls do not end the handshake");
    // It still completes.
    assert!(p.l.pump(Duration::from_secs(10)), "{} / {}", p.l.client.error_string(), p.l.server.error_string());
    for (d, sock) in [(&p.l.client, &p.l.csock), (&p.l.server, &p.l.ssock)] {
        assert_clean(d);
        assert_eq!(d.state(), QDTLS_HANDSHAKE_COMPLETE);
        assert!(!d.handshake(sock, b"\x16\xfe\xfd again"));
        assert_err(d, QDTLS_ERROR_INVALID_OPERATION);
        assert!(!handshake_fd(d, -1, &[]));
        // Qt checks the state first here: Complete -> InvalidOperation even with a null socket.
        assert_err(d, QDTLS_ERROR_INVALID_OPERATION);
        assert_eq!(d.state(), QDTLS_HANDSHAKE_COMPLETE);
        assert!(d.encrypted());
    }
    assert_eq!(p.l.send(true, b"still fine").as_deref(), Some(&b"still fine"[..]));
}

#[test]
fn operations_check_the_socket_then_the_state() {
    let mut p = psk_pair();
    let (c, cs) = (&p.l.client, &p.l.csock);
    let fd = cs.as_raw_fd();
    // ---- NotStarted
    let check_null_socket = |d: &Dtls| {
        assert!(!unsafe { qdtls_resume_handshake(d.0, -1) });
        assert_err(d, QDTLS_ERROR_INVALID_INPUT_PARAMETERS);
        assert!(!unsafe { qdtls_abort_handshake(d.0, -1) });
        assert_err(d, QDTLS_ERROR_INVALID_INPUT_PARAMETERS);
        assert!(!unsafe { qdtls_shutdown(d.0, -1) });
        assert_err(d, QDTLS_ERROR_INVALID_INPUT_PARAMETERS);
        assert_eq!(write_fd(d, -1, b"data"), -1);
        assert_err(d, QDTLS_ERROR_INVALID_INPUT_PARAMETERS);
        assert_eq!(decrypt_fd(d, -1, b"data"), -1);
        assert_err(d, QDTLS_ERROR_INVALID_INPUT_PARAMETERS);
        assert!(!unsafe { qdtls_handle_timeout(d.0, -1) });
        assert_err(d, QDTLS_ERROR_INVALID_INPUT_PARAMETERS);
    };
    check_null_socket(c);
    assert!(!unsafe { qdtls_resume_handshake(c.0, fd) });
    assert_err(c, QDTLS_ERROR_INVALID_OPERATION);
    assert!(!unsafe { qdtls_abort_handshake(c.0, fd) });
    assert_err(c, QDTLS_ERROR_INVALID_OPERATION);
    assert!(!unsafe { qdtls_shutdown(c.0, fd) });
    assert_err(c, QDTLS_ERROR_INVALID_OPERATION);
    assert_eq!(write_fd(c, fd, b"data"), -1);
    assert_err(c, QDTLS_ERROR_INVALID_OPERATION);
    assert_eq!(decrypt_fd(c, fd, b"data"), -1);
    assert_err(c, QDTLS_ERROR_INVALID_OPERATION);
    // handle_timeout is safe in every state: false, and no error.
    dirty(c);
    assert!(!unsafe { qdtls_handle_timeout(c.0, fd) });
    assert_clean(c);
    assert_eq!(c.state(), QDTLS_HANDSHAKE_NOT_STARTED);
    // ---- InProgress
    assert!(c.handshake(cs, &[]));
    check_null_socket(c);
    assert!(!unsafe { qdtls_resume_handshake(c.0, fd) });
    assert_err(c, QDTLS_ERROR_INVALID_OPERATION);
    assert!(!unsafe { qdtls_shutdown(c.0, fd) });
    assert_err(c, QDTLS_ERROR_INVALID_OPERATION);
    assert_eq!(write_fd(c, fd, b"data"), -1);
    assert_err(c, QDTLS_ERROR_INVALID_OPERATION);
    assert_eq!(decrypt_fd(c, fd, b"data"), -1);
    assert_err(c, QDTLS_ERROR_INVALID_OPERATION);
    assert_eq!(c.state(), QDTLS_HANDSHAKE_IN_PROGRESS);
    // Abort from InProgress works and resets.
    assert!(c.abort(cs));
    assert_clean(c);
    assert_eq!(c.state(), QDTLS_HANDSHAKE_NOT_STARTED);
    assert_eq!(c.next_timeout_ms(), -1);
    // Drop the aborted ClientHello, then a full handshake.
    while recv(&p.l.ssock).is_some() {}
    assert!(p.l.handshake(Duration::from_secs(10)), "{} / {}", p.l.client.error_string(), p.l.server.error_string());
    let (c, cs) = (&p.l.client, &p.l.csock);
    // ---- Complete
    check_null_socket(c);
    assert!(!unsafe { qdtls_resume_handshake(c.0, fd) });
    assert_err(c, QDTLS_ERROR_INVALID_OPERATION);
    assert!(!unsafe { qdtls_abort_handshake(c.0, fd) });
    assert_err(c, QDTLS_ERROR_INVALID_OPERATION);
    dirty(c);
    assert!(!unsafe { qdtls_handle_timeout(c.0, fd) });
    assert_clean(c);
    assert!(c.encrypted(), "the refused calls changed nothing");
    assert_eq!(p.l.send(true, b"after refusals").as_deref(), Some(&b"after refusals"[..]));
    // Shutdown works, then write/decrypt are InvalidOperation again.
    dirty(c);
    assert!(c.shutdown(cs));
    assert_clean(c);
    assert_eq!(c.state(), QDTLS_HANDSHAKE_NOT_STARTED);
    assert!(!c.encrypted());
    assert_eq!(c.cipher(), "");
    assert_eq!(c.protocol(), QDTLS_PROTOCOL_UNKNOWN);
    assert_eq!(c.max_payload(), 0);
    assert!(!c.shutdown(cs), "close_notify only once");
    assert_err(c, QDTLS_ERROR_INVALID_OPERATION);
    assert_eq!(write_fd(c, fd, b"x"), -1);
    assert_err(c, QDTLS_ERROR_INVALID_OPERATION);
    // Peer and configuration are kept.
    assert_eq!(peer_port(c), p.l.ssock.local_addr().unwrap().port());
}

#[test]
fn peer_verification_failed_state_checks() {
    let l = verification_failed_link();
    let (c, cs) = (&l.client, &l.csock);
    let fd = cs.as_raw_fd();
    assert!(!c.encrypted());
    assert!(!c.verification_errors().is_empty());
    // do_handshake: InvalidOperation (state first).
    assert!(!c.handshake(cs, b"\x16\xfe\xfd"));
    assert_err(c, QDTLS_ERROR_INVALID_OPERATION);
    assert!(!handshake_fd(c, -1, &[]));
    assert_err(c, QDTLS_ERROR_INVALID_OPERATION);
    // Null socket first for the others.
    assert!(!unsafe { qdtls_resume_handshake(c.0, -1) });
    assert_err(c, QDTLS_ERROR_INVALID_INPUT_PARAMETERS);
    assert!(!unsafe { qdtls_abort_handshake(c.0, -1) });
    assert_err(c, QDTLS_ERROR_INVALID_INPUT_PARAMETERS);
    // Not encrypted: shutdown / write / decrypt refused.
    assert!(!unsafe { qdtls_shutdown(c.0, fd) });
    assert_err(c, QDTLS_ERROR_INVALID_OPERATION);
    assert_eq!(write_fd(c, fd, b"x"), -1);
    assert_err(c, QDTLS_ERROR_INVALID_OPERATION);
    assert_eq!(decrypt_fd(c, fd, b"x"), -1);
    assert_err(c, QDTLS_ERROR_INVALID_OPERATION);
    // Resume with errors not ignored: false, NoError.
    dirty(c);
    assert!(!c.resume(cs));
    assert_clean(c);
    assert_eq!(c.state(), QDTLS_PEER_VERIFICATION_FAILED);
    // Abort: back to NotStarted, everything reset.
    dirty(c);
    assert!(c.abort(cs));
    assert_clean(c);
    assert_eq!(c.state(), QDTLS_HANDSHAKE_NOT_STARTED);
    assert!(c.verification_errors().is_empty());
    assert!(c.peer_certificate().is_empty());
    assert_eq!(c.cipher(), "");
    assert_eq!(c.protocol(), QDTLS_PROTOCOL_UNKNOWN);
}

#[test]
fn every_successful_call_clears_the_error() {
    let server = udp();
    let s = udp();
    let d = Dtls::client();
    dirty(&d);
    assert!(d.set_peer(server.local_addr().unwrap(), "x"));
    assert_clean(&d);
    dirty(&d);
    assert!(set_name(&d, Some("y")));
    assert_clean(&d);
    dirty(&d);
    assert!(unsafe { qdtls_set_dtls_configuration(d.0, Cfg::psk().0) });
    assert_clean(&d);
    dirty(&d);
    let secret = b"secret";
    assert!(unsafe { qdtls_set_cookie_generator_parameters(d.0, QDTLS_HASH_SHA1, secret.as_ptr(), secret.len()) });
    assert_clean(&d);
    dirty(&d);
    assert!(unsafe { qdtls_set_initial_timeout_ms(d.0, 500) });
    assert_clean(&d);
    let sa = sockaddr_v4([127, 0, 0, 1], server.local_addr().unwrap().port());
    dirty(&d);
    assert!(set_peer_sa(&d, &sa, std::mem::size_of_val(&sa), None));
    assert_clean(&d);
    dirty(&d);
    assert!(d.handshake(&s, &[]));
    assert_clean(&d);
    dirty(&d);
    assert!(!d.handle_timeout(&s), "not due yet");
    assert_clean(&d);
    dirty(&d);
    assert!(d.abort(&s));
    assert_clean(&d);
    // Complete side: write, decrypt, shutdown.
    let p = completed_pair();
    let (c, cs, sv, ss) = (&p.l.client, &p.l.csock, &p.l.server, &p.l.ssock);
    dirty(c);
    assert_eq!(c.write(cs, b"hello"), 5);
    assert_clean(c);
    let (dg, _) = recv_within(ss, Duration::from_secs(2)).unwrap();
    dirty(sv);
    assert_eq!(sv.decrypt(ss, &dg).as_deref(), Some(&b"hello"[..]));
    assert_clean(sv);
    // A replayed datagram: empty with NoError.
    dirty(sv);
    assert_eq!(sv.decrypt(ss, &dg).as_deref(), Some(&b""[..]));
    assert_clean(sv);
    dirty(c);
    assert!(c.shutdown(cs));
    assert_clean(c);
    // The verifier too.
    let v = Verifier::new();
    assert!(!unsafe { qdtls_client_verifier_set_cookie_generator_parameters(v.0, 0, secret.as_ptr(), 6) });
    assert_eq!(v.error(), QDTLS_ERROR_INVALID_INPUT_PARAMETERS);
    assert!(unsafe { qdtls_client_verifier_set_cookie_generator_parameters(v.0, 2, secret.as_ptr(), 6) });
    assert_eq!(v.error(), QDTLS_ERROR_NO_ERROR);
    assert_eq!(read_str(|b, n| unsafe { qdtls_client_verifier_dtls_error_string(v.0, b, n) }), "");
}

#[test]
fn successful_list_and_callback_setters_clear_the_error_too() {
    let d = Dtls::client();
    dirty(&d);
    assert!(d.ignore(&[(QDTLS_SSL_ERROR_HOST_NAME_MISMATCH, Vec::new())]));
    assert_clean(&d);
    dirty(&d);
    assert!(d.ignore(&[]));
    assert_clean(&d);
    dirty(&d);
    assert!(unsafe { qdtls_set_psk_callback(d.0, None, null_mut()) });
    assert_clean(&d);
}

// ---- NULL safety and buffers ----------------------------------------------------------------

#[test]
fn null_handles_give_the_documented_error_values() {
    let n: *mut qdtls_connection = null_mut();
    let cn: *mut qdtls_configuration = null_mut();
    let vn: *mut qdtls_client_verifier = null_mut();
    let an: *mut qdtls_psk_authenticator = null_mut();
    let s = udp();
    let fd = s.as_raw_fd();
    let mut buf = sentinel(64);
    let bp = buf.as_mut_ptr();
    let sin = sockaddr_v4([127, 0, 0, 1], 1);
    let sa = (&sin as *const libc::sockaddr_in).cast::<c_void>();
    let sal = std::mem::size_of_val(&sin);
    let err = qdtls_ssl_error { code: 22, certificate_der: null(), certificate_der_len: 0 };
    unsafe {
        // Release functions.
        qdtls_free(n);
        qdtls_configuration_free(cn);
        qdtls_client_verifier_free(vn);
        // QDtls.
        assert!(!qdtls_set_peer(n, c"127.0.0.1".as_ptr(), 1, null()));
        assert!(!qdtls_set_peer_sockaddr(n, sa, sal, null()));
        assert_eq!(qdtls_peer_address(n, bp.cast(), 64), 0);
        assert_eq!(qdtls_peer_port(n), 0);
        assert_eq!(qdtls_peer_verification_name(n, bp.cast(), 64), 0);
        assert!(!qdtls_set_peer_verification_name(n, c"x".as_ptr()));
        assert_eq!(qdtls_ssl_mode(n), QDTLS_UNENCRYPTED_MODE);
        qdtls_set_mtu_hint(n, 1200);
        assert_eq!(qdtls_mtu_hint(n), 0);
        assert!(!qdtls_set_cookie_generator_parameters(n, QDTLS_HASH_SHA1, b"s".as_ptr(), 1));
        let mut hash = 77;
        assert_eq!(qdtls_cookie_generator_parameters(n, &mut hash, bp, 64), 0);
        assert_eq!(hash, 77, "not written for NULL");
        let cfg = Cfg::new();
        assert!(!qdtls_set_dtls_configuration(n, cfg.0));
        assert!(qdtls_dtls_configuration(n).is_null());
        assert_eq!(qdtls_handshake_state(n), QDTLS_HANDSHAKE_NOT_STARTED);
        assert!(!qdtls_do_handshake(n, fd, b"x".as_ptr(), 1));
        assert!(!qdtls_handle_timeout(n, fd));
        assert_eq!(qdtls_next_timeout_ms(n), -1);
        assert!(!qdtls_set_initial_timeout_ms(n, 100));
        assert!(!qdtls_resume_handshake(n, fd));
        assert!(!qdtls_abort_handshake(n, fd));
        assert!(!qdtls_shutdown(n, fd));
        assert!(!qdtls_is_connection_encrypted(n));
        assert_eq!(qdtls_session_cipher(n, bp.cast(), 64), 0);
        assert_eq!(qdtls_session_protocol(n), QDTLS_PROTOCOL_UNKNOWN);
        assert_eq!(qdtls_write_datagram_encrypted(n, fd, b"x".as_ptr(), 1), -1);
        let mut out = [0u8; 8];
        assert_eq!(qdtls_decrypt_datagram(n, fd, b"x".as_ptr(), 1, out.as_mut_ptr(), 8), -1);
        assert_eq!(qdtls_dtls_error(n), QDTLS_ERROR_INVALID_INPUT_PARAMETERS);
        assert_eq!(qdtls_dtls_error_string(n, bp.cast(), 64), 0);
        assert_eq!(qdtls_peer_verification_error_count(n), 0);
        assert_eq!(qdtls_peer_verification_error_code(n, 0), QDTLS_SSL_ERROR_NO_ERROR);
        assert_eq!(qdtls_peer_verification_error_certificate(n, 0, bp, 64), 0);
        assert!(!qdtls_ignore_verification_errors(n, &err, 1));
        assert_eq!(qdtls_peer_certificate(n, bp, 64), 0);
        assert_eq!(qdtls_peer_certificate_chain_count(n), 0);
        assert_eq!(qdtls_peer_certificate_chain_at(n, 0, bp, 64), 0);
        assert!(!qdtls_set_psk_callback(n, Some(psk_callback), null_mut()));
        assert_eq!(qdtls_max_payload_size(n), 0);
        // Configuration.
        assert!(qdtls_configuration_clone(cn).is_null());
        assert!(!qdtls_set_default_dtls_configuration(cn));
        assert!(!qdtls_configuration_set_protocol(cn, 11));
        assert_eq!(qdtls_configuration_protocol(cn), QDTLS_PROTOCOL_UNKNOWN);
        assert!(!qdtls_configuration_set_peer_verify_mode(cn, 0));
        assert_eq!(qdtls_configuration_peer_verify_mode(cn), -1);
        assert!(!qdtls_configuration_set_peer_verify_depth(cn, 1));
        assert_eq!(qdtls_configuration_peer_verify_depth(cn), -1);
        assert!(!qdtls_configuration_set_local_certificate_chain(cn, c"x".as_ptr(), 1));
        assert_eq!(qdtls_configuration_local_certificate_chain(cn, bp.cast(), 64), 0);
        assert!(!qdtls_configuration_set_private_key(cn, c"x".as_ptr(), 1, null()));
        assert!(!qdtls_configuration_has_private_key(cn));
        assert!(!qdtls_configuration_add_ca_certificates(cn, c"x".as_ptr(), 1));
        assert!(!qdtls_configuration_clear_ca_certificates(cn));
        assert_eq!(qdtls_configuration_ca_certificate_count(cn), 0);
        assert!(!qdtls_configuration_set_ciphers(cn, c"PSK-AES128-GCM-SHA256".as_ptr()));
        assert!(!qdtls_configuration_set_ciphers(cn, null()));
        assert_eq!(qdtls_configuration_ciphers(cn, bp.cast(), 64), 0);
        assert!(!qdtls_configuration_set_dtls_cookie_verification_enabled(cn, true));
        assert!(!qdtls_configuration_dtls_cookie_verification_enabled(cn));
        assert!(!qdtls_configuration_set_pre_shared_key_identity_hint(cn, b"h".as_ptr(), 1));
        assert_eq!(qdtls_configuration_pre_shared_key_identity_hint(cn, bp, 64), 0);
        assert!(!qdtls_configuration_set_server_cipher_preference(cn, true));
        assert!(!qdtls_configuration_server_cipher_preference(cn));
        let names = [c"h2".as_ptr()];
        assert!(!qdtls_configuration_set_allowed_next_protocols(cn, names.as_ptr(), 1));
        assert_eq!(qdtls_configuration_allowed_next_protocol_count(cn), 0);
        assert_eq!(qdtls_configuration_allowed_next_protocol_at(cn, 0, bp.cast(), 64), 0);
        // Verifier.
        assert!(!qdtls_client_verifier_set_cookie_generator_parameters(vn, 2, b"s".as_ptr(), 1));
        let mut hash = 77;
        assert_eq!(qdtls_client_verifier_cookie_generator_parameters(vn, &mut hash, bp, 64), 0);
        assert_eq!(hash, 77);
        assert!(!qdtls_client_verifier_verify_client(vn, fd, b"x".as_ptr(), 1, c"127.0.0.1".as_ptr(), 1));
        assert!(!qdtls_client_verifier_verify_client_sockaddr(vn, fd, b"x".as_ptr(), 1, sa, sal));
        assert_eq!(qdtls_client_verifier_verified_hello(vn, bp, 64), 0);
        assert_eq!(qdtls_client_verifier_dtls_error(vn), QDTLS_ERROR_INVALID_INPUT_PARAMETERS);
        assert_eq!(qdtls_client_verifier_dtls_error_string(vn, bp.cast(), 64), 0);
        // Authenticator.
        assert_eq!(qdtls_psk_identity_hint(an, bp, 64), 0);
        assert_eq!(qdtls_psk_identity(an, bp, 64), 0);
        assert!(!qdtls_psk_set_identity(an, b"id".as_ptr(), 2));
        assert_eq!(qdtls_psk_pre_shared_key(an, bp, 64), 0);
        assert!(!qdtls_psk_set_pre_shared_key(an, b"k".as_ptr(), 1));
        assert_eq!(qdtls_psk_maximum_identity_length(an), -1);
        assert_eq!(qdtls_psk_maximum_pre_shared_key_length(an), -1);
    }
    assert!(buf.iter().all(|&b| b == 0xA5), "nothing was written through a NULL handle");
    assert!(silent(&s));
}

#[test]
fn null_pointer_arguments_on_live_handles() {
    let s = udp();
    let fd = s.as_raw_fd();
    let d = Dtls::client().with_config(&Cfg::psk());
    let peer = udp();
    assert!(d.set_peer(peer.local_addr().unwrap(), ""));
    unsafe {
        // Data pointers NULL with a length: InvalidInputParameters.
        assert!(!qdtls_set_cookie_generator_parameters(d.0, QDTLS_HASH_SHA1, null(), 4));
        assert_err(&d, QDTLS_ERROR_INVALID_INPUT_PARAMETERS);
        assert!(!qdtls_set_dtls_configuration(d.0, null()));
        assert_err(&d, QDTLS_ERROR_INVALID_INPUT_PARAMETERS);
        assert!(!qdtls_do_handshake(d.0, fd, null(), 4));
        assert_err(&d, QDTLS_ERROR_INVALID_INPUT_PARAMETERS);
        assert_eq!(qdtls_write_datagram_encrypted(d.0, fd, null(), 4), -1);
        assert_err(&d, QDTLS_ERROR_INVALID_INPUT_PARAMETERS);
        let mut out = [0u8; 8];
        assert_eq!(qdtls_decrypt_datagram(d.0, fd, null(), 4, out.as_mut_ptr(), 8), -1);
        assert_err(&d, QDTLS_ERROR_INVALID_INPUT_PARAMETERS);
        assert_eq!(qdtls_decrypt_datagram(d.0, fd, b"abcd".as_ptr(), 4, null_mut(), 8), -1);
        assert_err(&d, QDTLS_ERROR_INVALID_INPUT_PARAMETERS);
        assert!(!qdtls_ignore_verification_errors(d.0, null(), 1));
        assert_err(&d, QDTLS_ERROR_INVALID_INPUT_PARAMETERS);
        let bad_cert = qdtls_ssl_error { code: 22, certificate_der: null(), certificate_der_len: 10 };
        assert!(!qdtls_ignore_verification_errors(d.0, &bad_cert, 1));
        assert_err(&d, QDTLS_ERROR_INVALID_INPUT_PARAMETERS);
        let junk = [1u8, 2, 3];
        let not_der = qdtls_ssl_error { code: 22, certificate_der: junk.as_ptr(), certificate_der_len: 3 };
        assert!(!qdtls_ignore_verification_errors(d.0, &not_der, 1));
        assert_err(&d, QDTLS_ERROR_INVALID_INPUT_PARAMETERS);
        // NULL out-pointers of getters are fine.
        assert_eq!(qdtls_cookie_generator_parameters(d.0, null_mut(), null_mut(), 0), 32);
        assert_eq!(qdtls_cookie_generator_parameters(d.0, null_mut(), null_mut(), 100), 32, "NULL buf, cap > 0");
        assert_eq!(qdtls_peer_address(d.0, null_mut(), 100), "127.0.0.1".len());
        // Configuration setters with NULL data and a length.
        let c = Cfg::new();
        let pristine = summary(&c);
        assert!(!qdtls_configuration_set_local_certificate_chain(c.0, null(), 5));
        assert!(!qdtls_configuration_set_private_key(c.0, null(), 5, null()));
        assert!(!qdtls_configuration_add_ca_certificates(c.0, null(), 5));
        assert!(!qdtls_configuration_set_pre_shared_key_identity_hint(c.0, null(), 5));
        assert!(!qdtls_configuration_set_allowed_next_protocols(c.0, null(), 1));
        // NULL data with length 0 is an empty value (clears).
        assert!(qdtls_configuration_set_local_certificate_chain(c.0, null(), 0));
        assert!(qdtls_configuration_set_private_key(c.0, null(), 0, null()));
        assert!(qdtls_configuration_set_pre_shared_key_identity_hint(c.0, null(), 0));
        assert_eq!(summary(&c), pristine);
        // Verifier.
        let v = Verifier::new();
        assert!(!qdtls_client_verifier_set_cookie_generator_parameters(v.0, 2, null(), 5));
        assert_eq!(v.error(), QDTLS_ERROR_INVALID_INPUT_PARAMETERS);
        assert!(!qdtls_client_verifier_verify_client(v.0, fd, null(), 5, c"127.0.0.1".as_ptr(), 1));
        assert_eq!(v.error(), QDTLS_ERROR_INVALID_INPUT_PARAMETERS);
        assert!(!qdtls_client_verifier_verify_client(v.0, fd, b"x".as_ptr(), 1, null(), 1));
        assert_eq!(v.error(), QDTLS_ERROR_INVALID_INPUT_PARAMETERS);
        assert!(!qdtls_client_verifier_verify_client_sockaddr(v.0, fd, b"x".as_ptr(), 1, null(), 16));
        assert_eq!(v.error(), QDTLS_ERROR_INVALID_INPUT_PARAMETERS);
        assert_eq!(qdtls_client_verifier_cookie_generator_parameters(v.0, null_mut(), null_mut(), 0), 32);
    }
    assert_eq!(d.state(), QDTLS_HANDSHAKE_NOT_STARTED);
    assert!(silent(&peer));
}

#[test]
fn buffer_getters_follow_the_buffer_rules() {
    // Strings.
    let d = Dtls::client();
    assert!(set_peer_raw(&d, Some("127.0.0.1"), 5, Some("verify.example")));
    check_str_rules("127.0.0.1", |b, c| unsafe { qdtls_peer_address(d.0, b, c) });
    check_str_rules("verify.example", |b, c| unsafe { qdtls_peer_verification_name(d.0, b, c) });
    check_str_rules("", |b, c| unsafe { qdtls_session_cipher(d.0, b, c) });
    check_str_rules("", |b, c| unsafe { qdtls_dtls_error_string(d.0, b, c) });
    dirty(&d);
    let e = d.error_string();
    check_str_rules(&e, |b, c| unsafe { qdtls_dtls_error_string(d.0, b, c) });
    let cfg = Cfg::new();
    cfg.ciphers("PSK-AES128-GCM-SHA256");
    check_str_rules("PSK-AES128-GCM-SHA256", |b, c| unsafe { qdtls_configuration_ciphers(cfg.0, b, c) });
    assert!(set_alpn(&cfg, &["first", "second"]));
    check_str_rules("second", |b, c| unsafe { qdtls_configuration_allowed_next_protocol_at(cfg.0, 1, b, c) });
    let pem = certs::self_signed("buf.test", &[], KeyKind::EcP256);
    assert!(set_chain(&cfg, &pem.cert));
    check_str_rules(&pem.cert, |b, c| unsafe { qdtls_configuration_local_certificate_chain(cfg.0, b, c) });
    // Bytes.
    let secret = b"0123456789abcdef".to_vec();
    assert!(unsafe { qdtls_set_cookie_generator_parameters(d.0, QDTLS_HASH_SHA1, secret.as_ptr(), secret.len()) });
    check_bytes_rules(&secret, |b, c| unsafe { qdtls_cookie_generator_parameters(d.0, null_mut(), b, c) });
    let v = Verifier::new();
    assert!(unsafe { qdtls_client_verifier_set_cookie_generator_parameters(v.0, 2, secret.as_ptr(), secret.len()) });
    check_bytes_rules(&secret, |b, c| unsafe {
        qdtls_client_verifier_cookie_generator_parameters(v.0, null_mut(), b, c)
    });
    cfg.hint(b"identity hint");
    check_bytes_rules(b"identity hint", |b, c| unsafe {
        qdtls_configuration_pre_shared_key_identity_hint(cfg.0, b, c)
    });
    // Verifier error string (after a refusal) and the verified hello (empty: 0).
    assert_eq!(unsafe { qdtls_client_verifier_verified_hello(v.0, null_mut(), 0) }, 0);
    assert!(!unsafe { qdtls_client_verifier_verify_client(v.0, -1, b"x".as_ptr(), 1, null(), 0) });
    let ve = read_str(|b, c| unsafe { qdtls_client_verifier_dtls_error_string(v.0, b, c) });
    assert!(!ve.is_empty());
    check_str_rules(&ve, |b, c| unsafe { qdtls_client_verifier_dtls_error_string(v.0, b, c) });
    // After a handshake: cipher (string) and the peer certificate (bytes).
    let l = verification_failed_link();
    let cipher = l.server.cipher();
    assert!(!cipher.is_empty());
    check_str_rules(&cipher, |b, c| unsafe { qdtls_session_cipher(l.server.0, b, c) });
    let der = l.client.peer_certificate();
    assert!(der.len() > 100);
    check_bytes_rules(&der, |b, c| unsafe { qdtls_peer_certificate(l.client.0, b, c) });
    check_bytes_rules(&der, |b, c| unsafe { qdtls_peer_certificate_chain_at(l.client.0, 0, b, c) });
    let i = (0..l.client.verification_errors().len())
        .find(|&i| !l.client.verification_error_cert(i).is_empty())
        .expect("an error with a certificate");
    let ecert = l.client.verification_error_cert(i);
    check_bytes_rules(&ecert, |b, c| unsafe { qdtls_peer_verification_error_certificate(l.client.0, i, b, c) });
    // Out of range: 0 and nothing written.
    let mut buf = sentinel(16);
    assert_eq!(unsafe { qdtls_peer_certificate_chain_at(l.client.0, 99, buf.as_mut_ptr(), 16) }, 0);
    assert_eq!(unsafe { qdtls_peer_verification_error_certificate(l.client.0, 99, buf.as_mut_ptr(), 16) }, 0);
    assert_eq!(unsafe { qdtls_peer_verification_error_code(l.client.0, 99) }, QDTLS_SSL_ERROR_NO_ERROR);
    assert!(buf.iter().all(|&b| b == 0xA5));
}

/// What the probing PSK callback observed (bool results as 0/1, lengths, sentinel checks).
#[derive(Default)]
struct Probe {
    log: Mutex<Vec<(&'static str, i64)>>,
}

unsafe extern "C" fn probe_callback(user: *mut c_void, a: *mut qdtls_psk_authenticator) {
    let p = &*(user as *const Probe);
    let mut log = p.log.lock().unwrap();
    let server = qdtls_psk_maximum_identity_length(a) == 0;
    log.push(("server", server as i64));
    log.push(("set_identity NULL len 3", qdtls_psk_set_identity(a, null(), 3) as i64));
    log.push(("set_key NULL len 3", qdtls_psk_set_pre_shared_key(a, null(), 3) as i64));
    // Buffer rules on the hint ("probe hint", 10 bytes).
    let mut buf = [0xA5u8; 16];
    log.push(("hint len", qdtls_psk_identity_hint(a, null_mut(), 0) as i64));
    log.push(("hint small", qdtls_psk_identity_hint(a, buf.as_mut_ptr(), 9) as i64));
    log.push(("hint small untouched", buf.iter().all(|&b| b == 0xA5) as i64));
    log.push(("hint fits", qdtls_psk_identity_hint(a, buf.as_mut_ptr(), 10) as i64));
    log.push(("hint written", (&buf[..10] == b"probe hint" && buf[10] == 0xA5) as i64));
    if !server {
        log.push(("set_identity", qdtls_psk_set_identity(a, b"probe-id".as_ptr(), 8) as i64));
        let mut id = [0xA5u8; 8];
        log.push(("identity small", qdtls_psk_identity(a, id.as_mut_ptr(), 7) as i64));
        log.push(("identity small untouched", id.iter().all(|&b| b == 0xA5) as i64));
    }
    log.push(("set_key", qdtls_psk_set_pre_shared_key(a, b"probe key".as_ptr(), 9) as i64));
    let mut k = [0xA5u8; 9];
    log.push(("key small", qdtls_psk_pre_shared_key(a, k.as_mut_ptr(), 8) as i64));
    log.push(("key small untouched", k.iter().all(|&b| b == 0xA5) as i64));
    log.push(("key fits", qdtls_psk_pre_shared_key(a, k.as_mut_ptr(), 9) as i64));
    log.push(("key written", (&k == b"probe key") as i64));
}

#[test]
fn psk_authenticator_null_arguments_and_buffers() {
    let (cp, sp) = (Box::new(Probe::default()), Box::new(Probe::default()));
    let cfg = Cfg::psk();
    cfg.hint(b"probe hint");
    let client = Dtls::client().with_config(&cfg);
    let server = Dtls::server().with_config(&cfg);
    assert!(unsafe { qdtls_set_psk_callback(client.0, Some(probe_callback), &*cp as *const Probe as *mut c_void) });
    assert!(unsafe { qdtls_set_psk_callback(server.0, Some(probe_callback), &*sp as *const Probe as *mut c_void) });
    let mut l = Link::new(client, server);
    assert!(l.handshake(Duration::from_secs(10)), "{} / {}", l.client.error_string(), l.server.error_string());
    let expect = |p: &Probe, server: bool| {
        let log = p.log.lock().unwrap();
        let get = |k: &str| log.iter().find(|(n, _)| *n == k).map(|(_, v)| *v);
        assert_eq!(get("server"), Some(server as i64));
        assert_eq!(get("set_identity NULL len 3"), Some(0));
        assert_eq!(get("set_key NULL len 3"), Some(0));
        assert_eq!(get("hint len"), Some(10));
        assert_eq!(get("hint small"), Some(10));
        assert_eq!(get("hint small untouched"), Some(1));
        assert_eq!(get("hint fits"), Some(10));
        assert_eq!(get("hint written"), Some(1));
        if !server {
            assert_eq!(get("set_identity"), Some(1));
            assert_eq!(get("identity small"), Some(8));
            assert_eq!(get("identity small untouched"), Some(1));
        }
        assert_eq!(get("set_key"), Some(1));
        assert_eq!(get("key small"), Some(9));
        assert_eq!(get("key small untouched"), Some(1));
        assert_eq!(get("key fits"), Some(9));
        assert_eq!(get("key written"), Some(1));
    };
    expect(&cp, false);
    expect(&sp, true);
    drop(l);
}

// ---- sockets and garbage ------------------------------------------------------------------

/// The lowest free fd at or above a number no other test in this process reaches,
/// so a closed one cannot be reused by a parallel test while we use it.
fn dup_high(fd: i32) -> i32 {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    let floor = (lim.rlim_cur.min(4096) as i32 - 64).max(200);
    let high = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, floor) };
    assert!(high >= floor, "F_DUPFD failed");
    high
}

#[test]
fn a_closed_fd_gives_underlying_socket_error_and_the_session_stays_usable() {
    let p = completed_pair();
    let (c, cs) = (&p.l.client, &p.l.csock);
    let dead = dup_high(cs.as_raw_fd());
    assert_eq!(unsafe { libc::close(dead) }, 0);
    assert_eq!(write_fd(c, dead, b"lost"), -1);
    assert_err(c, QDTLS_ERROR_UNDERLYING_SOCKET_ERROR);
    assert!(c.encrypted());
    assert_eq!(c.state(), QDTLS_HANDSHAKE_COMPLETE);
    // The good socket still works, both ways; the server saw nothing from the failed write.
    assert_eq!(p.l.send(true, b"after the bad fd").as_deref(), Some(&b"after the bad fd"[..]));
    assert_clean(c);
    assert_eq!(p.l.send(false, b"reply").as_deref(), Some(&b"reply"[..]));
    // A shutdown through the closed fd reports the failed send.
    assert!(!unsafe { qdtls_shutdown(c.0, dead) });
    assert_err(c, QDTLS_ERROR_UNDERLYING_SOCKET_ERROR);
}

#[test]
fn garbage_into_a_client_in_progress_is_discarded() {
    let mut p = psk_pair();
    let (c, cs) = (&p.l.client, &p.l.csock);
    assert!(c.handshake(cs, &[]));
    let mut garbage: Vec<Vec<u8>> = vec![
        vec![0u8],
        vec![0xff; 13],
        b"\x16\xfe\xfd\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00".to_vec(),
        b"\x16\xfe\xfd\x00\x00\x00\x00\x00\x00\x00\x00\x00\x40short".to_vec(),
        b"\x17\xfe\xfd\x00\x01\x00\x00\x00\x00\x00\x01\x00\x05hello".to_vec(),
    ];
    garbage.push((0..1000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect());
    for g in &garbage {
        assert!(c.handshake(cs, g), "{g:02x?}: {}", c.error_string());
        assert_clean(c);
        assert_eq!(c.state(), QDTLS_HANDSHAKE_IN_PROGRESS, "garbage does not end the handshake");
    }
    // The handshake still completes.
    assert!(p.l.pump(Duration::from_secs(10)), "{} / {}", p.l.client.error_string(), p.l.server.error_string());
    assert!(p.l.client.encrypted() && p.l.server.encrypted());
}

#[test]
fn garbage_as_a_server_s_first_datagram() {
    let client = udp();
    client.set_read_timeout(Some(Duration::from_millis(10))).unwrap();
    let ss = udp();
    let garbage: [&[u8]; 4] = [
        b"\x01",
        b"\x16\xfe\xfd\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",
        b"\x16\xfe\xfd\x00\x00\x00\x00\x00\x00\x00\x00\x00\x05\x01\x00\x00\x00\x00",
        b"definitely not a DTLS record at all, but long enough to look like one",
    ];
    // With cookie verification (the default): TlsFatalError, NotStarted, nothing sent.
    for g in garbage {
        let cfg = Cfg::new();
        cfg.verify_mode(QDTLS_VERIFY_NONE);
        let s = Dtls::server().with_config(&cfg);
        assert!(s.set_peer(client.local_addr().unwrap(), ""));
        assert!(!s.handshake(&ss, g), "{g:02x?}");
        assert_err(&s, QDTLS_ERROR_TLS_FATAL_ERROR);
        assert_eq!(s.state(), QDTLS_HANDSHAKE_NOT_STARTED);
    }
    // Without cookies too: a first datagram that is not a ClientHello is
    // refused at once (OpenSSL would drop it and wait, with no timer, for a
    // ClientHello that may never come).
    let (cp, sp) = (Psk::new(b"id", b"key"), Psk::new(b"", b"key"));
    for g in [garbage[0], garbage[1], garbage[3]] {
        let s = Dtls::server().with_config(&Cfg::psk()).with_psk(&sp);
        assert!(s.set_peer(client.local_addr().unwrap(), ""));
        assert!(!s.handshake(&ss, g), "{g:02x?}");
        assert_err(&s, QDTLS_ERROR_TLS_FATAL_ERROR);
        assert_eq!(s.state(), QDTLS_HANDSHAKE_NOT_STARTED);
    }
    assert!(silent(&client), "no answer to garbage");
    // A well-formed record carrying a malformed handshake message is a fatal
    // handshake error: TlsFatalError with OpenSSL's reason, back to NotStarted.
    let s = Dtls::server().with_config(&Cfg::psk()).with_psk(&sp);
    assert!(s.set_peer(client.local_addr().unwrap(), ""));
    assert!(!s.handshake(&ss, garbage[2]));
    assert_err(&s, QDTLS_ERROR_TLS_FATAL_ERROR);
    assert_eq!(s.state(), QDTLS_HANDSHAKE_NOT_STARTED);
    assert!(!s.encrypted());
    while recv_within(&client, Duration::from_millis(50)).is_some() {} // an alert, if any
                                                                       // ... and a real ClientHello afterwards completes the handshake.
    let s = Dtls::server().with_config(&Cfg::psk()).with_psk(&sp);
    let c = Dtls::client().with_config(&Cfg::psk()).with_psk(&cp);
    let mut l = Link::with_sockets(c, client, s, ss);
    assert!(l.handshake(Duration::from_secs(10)), "{} / {}", l.client.error_string(), l.server.error_string());
}
