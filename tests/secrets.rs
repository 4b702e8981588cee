//! Secrets: error strings never contain key material, and the library wipes
//! its own copies of pre-shared keys and cookie secrets before freeing them.
//!
//! How the wiping is observed without reading freed memory (undefined
//! behaviour): this test binary installs
//! - a global allocator that, while a test watches, scans every block the
//!   Rust side frees (or moves on realloc) for the known secret bytes, and
//! - OpenSSL memory functions (CRYPTO_set_mem_functions, installed before
//!   OpenSSL's first allocation) that do the same for everything OpenSSL frees.
//!
//! A hit means a copy of the secret was freed without being wiped. The
//! library's own copies (Rust heap) must never hit; OpenSSL's are reported.
//! Each test checks that its detector works on a deliberately unwiped copy.
//!
//! What the library wipes (src/engine/psk.rs `wipe`, a volatile write):
//! - the PSK in the authenticator: on replacement (`set_pre_shared_key` wipes
//!   the old copy) and when the authenticator is dropped after the callback;
//! - cookie secrets (`CookieParams` wipes on drop): replaced parameters, the
//!   copies handed to each SSL's callback data and returned by the getters.
//!
//! What it does not copy: private keys (the PEM is parsed in place by OpenSSL).
//!
//! What it cannot wipe: OpenSSL's internal copies (the PSK in OpenSSL's own
//! buffers, the HMAC key of the cookie, the parsed private key). Measured
//! here with OpenSSL 3.0: it cleanses every copy of the PSK and of the cookie
//! secret it frees, but its PEM/PKCS#8 decoder frees about 20 blocks holding
//! the EC private scalar without cleansing them while
//! `qdtls_configuration_set_private_key` parses the key (none during
//! handshakes, copies or freeing). Nobody can wipe: stack copies, memory the
//! application keeps (its own key buffers), swapped-out pages, core dumps.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, Once};
use std::time::Duration;

use common::certs::{encrypted_key_pem, Ca, KeyKind, LeafSpec};
use common::harness::*;
use libc::{c_char, c_int, c_void};
use qdtls::ffi::config::*;
use qdtls::ffi::dtls::*;
use qdtls::ffi::psk::*;
use qdtls::ffi::verifier::*;
use qdtls::ffi::*;

// ---- freed-memory scanner ---------------------------------------------------------------

const SLOTS: usize = 8;

/// The byte strings looked for in freed blocks (leaked, so never freed themselves).
static NEEDLE_PTR: [AtomicPtr<u8>; SLOTS] = [const { AtomicPtr::new(std::ptr::null_mut()) }; SLOTS];
static NEEDLE_LEN: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];
/// Unwiped frees seen per needle: by the Rust allocator, by OpenSSL.
static RUST_HITS: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];
static OSSL_HITS: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];
static WATCHING: AtomicBool = AtomicBool::new(false);
static OSSL_HOOKED: AtomicBool = AtomicBool::new(false);

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.len() >= needle.len() && hay.windows(needle.len()).any(|w| w == needle)
}

/// Scans a block about to be freed. Allocation-free (it runs inside the allocator).
unsafe fn scan(p: *const u8, len: usize, hits: &[AtomicUsize; SLOTS]) {
    if !WATCHING.load(Ordering::Relaxed) || p.is_null() || len == 0 {
        return;
    }
    let block = std::slice::from_raw_parts(p, len);
    for i in 0..SLOTS {
        let n = NEEDLE_LEN[i].load(Ordering::Relaxed);
        let np = NEEDLE_PTR[i].load(Ordering::Relaxed);
        if n > 0 && !np.is_null() && contains(block, std::slice::from_raw_parts(np, n)) {
            hits[i].fetch_add(1, Ordering::Relaxed);
        }
    }
}

struct ScanningAllocator;

unsafe impl GlobalAlloc for ScanningAllocator {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        System.alloc(l)
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        System.alloc_zeroed(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        scan(p, l.size(), &RUST_HITS);
        System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new_size: usize) -> *mut u8 {
        // Always move, so the old block is scanned like any freed one.
        let n = System.alloc(Layout::from_size_align_unchecked(new_size, l.align()));
        if !n.is_null() {
            std::ptr::copy_nonoverlapping(p, n, l.size().min(new_size));
            self.dealloc(p, l);
        }
        n
    }
}

#[global_allocator]
static ALLOC: ScanningAllocator = ScanningAllocator;

// OpenSSL's allocator hooks: a 16-byte header keeps the size for the scan.
const HDR: usize = 16;

unsafe extern "C" fn ossl_malloc(n: usize, _f: *const c_char, _l: c_int) -> *mut c_void {
    let p = libc::malloc(n + HDR).cast::<u8>();
    if p.is_null() {
        return std::ptr::null_mut();
    }
    p.cast::<usize>().write(n);
    p.add(HDR).cast()
}

unsafe extern "C" fn ossl_free(p: *mut c_void, _f: *const c_char, _l: c_int) {
    if p.is_null() {
        return;
    }
    let base = p.cast::<u8>().sub(HDR);
    scan(p.cast(), base.cast::<usize>().read(), &OSSL_HITS);
    libc::free(base.cast())
}

unsafe extern "C" fn ossl_realloc(p: *mut c_void, n: usize, f: *const c_char, l: c_int) -> *mut c_void {
    if p.is_null() {
        return ossl_malloc(n, f, l);
    }
    if n == 0 {
        ossl_free(p, f, l);
        return std::ptr::null_mut();
    }
    let old = p.cast::<u8>().sub(HDR).cast::<usize>().read();
    let q = ossl_malloc(n, f, l);
    if !q.is_null() {
        std::ptr::copy_nonoverlapping(p.cast::<u8>(), q.cast::<u8>(), old.min(n));
        ossl_free(p, f, l);
    }
    q
}

type MallocFn = unsafe extern "C" fn(usize, *const c_char, c_int) -> *mut c_void;
type ReallocFn = unsafe extern "C" fn(*mut c_void, usize, *const c_char, c_int) -> *mut c_void;
type FreeFn = unsafe extern "C" fn(*mut c_void, *const c_char, c_int);

extern "C" {
    fn CRYPTO_set_mem_functions(m: Option<MallocFn>, r: Option<ReallocFn>, f: Option<FreeFn>) -> c_int;
}

/// Every test starts here: the OpenSSL hooks go in before OpenSSL allocates
/// anything, and the tests of this file run one at a time (the counters are global).
fn start() -> MutexGuard<'static, ()> {
    static ONCE: Once = Once::new();
    static SERIAL: Mutex<()> = Mutex::new(());
    ONCE.call_once(|| {
        let ok = unsafe { CRYPTO_set_mem_functions(Some(ossl_malloc), Some(ossl_realloc), Some(ossl_free)) };
        OSSL_HOOKED.store(ok == 1, Ordering::SeqCst);
    });
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Watches for unwiped frees of `secrets` (each looked for as its first and
/// last 16 bytes, so a partial copy is caught too) while `f` runs.
/// Returns (Rust-side hits, OpenSSL-side hits) per secret.
fn watch(secrets: &[&[u8]], f: impl FnOnce()) -> Vec<(usize, usize)> {
    assert!(secrets.len() * 2 <= SLOTS);
    for (i, s) in secrets.iter().enumerate() {
        assert!(s.len() >= 16);
        for (j, part) in [&s[..16], &s[s.len() - 16..]].into_iter().enumerate() {
            let leaked: &'static mut [u8] = Box::leak(part.to_vec().into_boxed_slice());
            NEEDLE_PTR[2 * i + j].store(leaked.as_mut_ptr(), Ordering::SeqCst);
            NEEDLE_LEN[2 * i + j].store(16, Ordering::SeqCst);
        }
    }
    for i in 0..SLOTS {
        RUST_HITS[i].store(0, Ordering::SeqCst);
        OSSL_HITS[i].store(0, Ordering::SeqCst);
    }
    WATCHING.store(true, Ordering::SeqCst);
    f();
    WATCHING.store(false, Ordering::SeqCst);
    let r = (0..secrets.len())
        .map(|i| {
            let rust = RUST_HITS[2 * i].load(Ordering::SeqCst) + RUST_HITS[2 * i + 1].load(Ordering::SeqCst);
            let ossl = OSSL_HITS[2 * i].load(Ordering::SeqCst) + OSSL_HITS[2 * i + 1].load(Ordering::SeqCst);
            (rust, ossl)
        })
        .collect();
    for n in &NEEDLE_LEN {
        n.store(0, Ordering::SeqCst);
    }
    r
}

/// Frees a copy of `secret` without wiping it: the detector must see it.
fn unwiped_copy(secret: &[u8]) {
    let v = std::hint::black_box(secret.to_vec());
    drop(v);
}

// ---- secrets -----------------------------------------------------------------------------------

/// 32 bytes no test data would contain by chance.
static PSK: [u8; 32] = *b"\x9f\x13\xc7\x5a\xe0\x44\xb2\x8d\x61\x0f\xd9\x36\xa8\x7b\xc2\x55\
                          \x1e\xf4\x83\x27\x6c\xbd\x90\x4a\x3f\xe6\x58\x02\x99\x7d\xc1\x3b";
static WRONG_PSK: [u8; 32] = *b"\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\xcc\xdd\xee\xff\x01\
                                \x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x21";
static COOKIE_SECRET: [u8; 32] = *b"\xc0\x0c\x1e\x5e\xc7\xe7\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\
                                    \xfa\xfb\xfc\xfd\xfe\xff\x5a\x5b\x5c\x5d\x5e\x5f\x60\x61\x62\x63";

/// The PSK callback of these tests: the key comes from static memory, so the
/// only heap copies are the library's.
struct KeySource {
    key: &'static [u8],
    /// Set a decoy key first, then the real one (exercises the wipe on replacement).
    replace: bool,
}

unsafe extern "C" fn static_key_callback(user: *mut c_void, a: *mut qdtls_psk_authenticator) {
    let k = &*(user as *const KeySource);
    if qdtls_psk_maximum_identity_length(a) > 0 {
        assert!(qdtls_psk_set_identity(a, b"secrets".as_ptr(), 7));
    }
    if k.replace {
        assert!(qdtls_psk_set_pre_shared_key(a, WRONG_PSK.as_ptr(), WRONG_PSK.len()));
    }
    assert!(qdtls_psk_set_pre_shared_key(a, k.key.as_ptr(), k.key.len()));
}

fn with_key(d: Dtls, k: &KeySource) -> Dtls {
    assert!(unsafe { qdtls_set_psk_callback(d.0, Some(static_key_callback), k as *const KeySource as *mut c_void) });
    d
}

// ---- scanning text for secrets -------------------------------------------------------------------

fn hex(b: &[u8], upper: bool) -> String {
    b.iter().map(|x| if upper { format!("{x:02X}") } else { format!("{x:02x}") }).collect()
}

fn base64(b: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for c in b.chunks(3) {
        let n =
            (u32::from(c[0]) << 16) | (u32::from(*c.get(1).unwrap_or(&0)) << 8) | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..=c.len() {
            s.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    s
}

/// Where in `text` a piece of `secret` shows: any 6 bytes raw, any 12 hex
/// digits (either case, with or without ':' separators), or 12 characters of
/// its base64 (at any of the three alignments).
fn leak_in(text: &str, secret: &[u8]) -> Option<String> {
    let t = text.as_bytes();
    if let Some(w) = secret.windows(6).find(|w| contains(t, w)) {
        return Some(format!("raw bytes {w:02x?}"));
    }
    let squashed: String = text.chars().filter(|c| *c != ':' && *c != ' ').collect::<String>().to_lowercase();
    let h = hex(secret, false);
    if let Some(i) = (0..h.len().saturating_sub(12)).step_by(2).find(|&i| squashed.contains(&h[i..i + 12])) {
        return Some(format!("hex {}", &h[i..i + 12]));
    }
    for skip in 0..3 {
        let b = base64(&secret[skip..]);
        if let Some(i) = (0..b.len().saturating_sub(16)).find(|&i| text.contains(&b[i + 2..i + 14])) {
            return Some(format!("base64 {}", &b[i + 2..i + 14]));
        }
    }
    None
}

/// Every error string seen, with where it came from.
#[derive(Default)]
struct Strings(Vec<(String, String)>);

impl Strings {
    fn dtls(&mut self, what: &str, d: &Dtls) {
        self.0.push((format!("{what} (error {})", d.error()), d.error_string()));
    }
    fn verifier(&mut self, what: &str, v: &Verifier) {
        let s = read_str(|b, c| unsafe { qdtls_client_verifier_dtls_error_string(v.0, b, c) });
        self.0.push((what.to_owned(), s));
    }
    fn check(&self, secrets: &[(&str, &[u8])], pem_bodies: &[(&str, &str)]) {
        let mut leaks = Vec::new();
        for (what, s) in &self.0 {
            for (name, secret) in secrets {
                if let Some(l) = leak_in(s, secret) {
                    leaks.push(format!("{what}: {name} as {l} in {s:?}"));
                }
            }
            for (name, pem) in pem_bodies {
                for line in pem.lines().filter(|l| !l.starts_with("-----")) {
                    for i in 0..line.len().saturating_sub(12) {
                        if s.contains(&line[i..i + 12]) {
                            leaks.push(format!("{what}: {name} PEM text {:?} in {s:?}", &line[i..i + 12]));
                        }
                    }
                }
            }
        }
        assert!(leaks.is_empty(), "key material in error strings:\n{}", leaks.join("\n"));
    }
}

/// Drives `l` like Link::handshake, with short timers.
fn run(l: &mut Link, limit: Duration) -> bool {
    for d in [&l.client, &l.server] {
        assert!(unsafe { qdtls_set_initial_timeout_ms(d.0, 20) });
    }
    l.handshake(limit)
}

// ---- tests ---------------------------------------------------------------------------------------

/// Failing handshakes of every kind with a known PSK, private key and cookie
/// secret: no error string (client, server, verifier) shows any of them, in
/// raw, hex or base64 form. The scanner itself is checked on a planted leak.
#[test]
fn error_strings_never_contain_key_material() {
    let _g = start();
    // The detector works.
    let planted = format!("Handshake failed: psk {} ({})", hex(&PSK[3..12], true), base64(&PSK[..20]));
    assert!(leak_in(&planted, &PSK).is_some());
    assert!(leak_in(&format!("x{}y", base64(&PSK[1..])), &PSK).is_some());
    assert!(leak_in("Handshake failed: sslv3 alert bad record mac", &PSK).is_none());

    let ca = Ca::new("secrets root", KeyKind::EcP256);
    let server_id = ca.issue(&LeafSpec { dns: &["secrets.test"], ..LeafSpec::server("secrets.test") });
    let other = Ca::new("other root", KeyKind::EcP256).issue(&LeafSpec::server("secrets.test"));
    let key_der =
        openssl::pkey::PKey::private_key_from_pem(server_id.key.as_bytes()).unwrap().private_key_to_der().unwrap();
    let mut strings = Strings::default();
    let right = KeySource { key: &PSK, replace: true };
    let wrong = KeySource { key: &WRONG_PSK, replace: false };
    let empty = KeySource { key: &[], replace: false };

    // PSK: wrong key (a bad Finished is dropped: the handshake times out), empty
    // key, a server without a callback. (A C callback cannot unwind, so there is
    // no "callback panics" case at this level.)
    let cfg = Cfg::psk();
    for (what, ck, sk) in [
        ("wrong key", Some(&right), Some(&wrong)),
        ("empty client key", Some(&empty), Some(&right)),
        ("empty server key", Some(&right), Some(&empty)),
        ("no server callback", Some(&right), None),
    ] {
        let c = Dtls::client().with_config(&cfg);
        let c = match ck {
            Some(k) => with_key(c, k),
            None => c,
        };
        let s = Dtls::server().with_config(&cfg);
        let s = match sk {
            Some(k) => with_key(s, k),
            None => s,
        };
        let mut l = Link::new(c, s);
        for d in [&l.client, &l.server] {
            assert!(unsafe { qdtls_set_initial_timeout_ms(d.0, 1) });
        }
        assert!(!l.handshake(Duration::from_secs(60)), "{what}: the handshake must fail");
        assert_ne!(l.client.error(), QDTLS_ERROR_NO_ERROR, "{what}");
        strings.dtls(&format!("{what}: client"), &l.client);
        strings.dtls(&format!("{what}: server"), &l.server);
        // Data calls on the failed handles.
        assert_eq!(l.client.write(&l.csock, &PSK), -1);
        strings.dtls(&format!("{what}: client write"), &l.client);
    }

    // A working PSK session: errors of the data path (garbage, oversize, close).
    let mut l = Link::new(
        with_key(Dtls::client().with_config(&cfg), &right),
        with_key(Dtls::server().with_config(&cfg), &right),
    );
    assert!(run(&mut l, Duration::from_secs(10)));
    assert_eq!(l.client.write(&l.csock, &vec![0x42; 20000]), -1);
    strings.dtls("oversized write", &l.client);
    let mut g = vec![23u8, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 9, 0, 40];
    g.extend_from_slice(&PSK);
    g.extend_from_slice(&PSK[..8]);
    let _ = l.server.decrypt(&l.ssock, &g);
    strings.dtls("garbage made of the key", &l.server);
    assert!(l.client.shutdown(&l.csock));
    let d = recv(&l.ssock).unwrap().0;
    assert!(l.server.decrypt(&l.ssock, &d).is_none());
    strings.dtls("remote close", &l.server);

    // Certificates: untrusted server, key that does not match the certificate,
    // protocol mismatch.
    let scfg = Cfg::new();
    scfg.cookies(false).verify_mode(QDTLS_VERIFY_NONE).identity(&other.cert, &other.key);
    let ccfg = Cfg::new();
    ccfg.ca(&ca.pem.cert);
    let mut l = Link::new(Dtls::client().with_config(&ccfg), Dtls::server().with_config(&scfg));
    assert!(run(&mut l, Duration::from_secs(10)));
    assert_eq!(l.client.error(), QDTLS_ERROR_PEER_VERIFICATION_ERROR);
    strings.dtls("untrusted server: client", &l.client);
    let mismatched = Cfg::new();
    mismatched.cookies(false).verify_mode(QDTLS_VERIFY_NONE).identity(&server_id.cert, &other.key);
    let mut l = Link::new(Dtls::client().with_config(&ccfg), Dtls::server().with_config(&mismatched));
    // The server fails on the first ClientHello; the client would retry for minutes.
    assert!(!run(&mut l, Duration::from_secs(1)));
    // The server failed to initialise on the ClientHello; the client then gave up or got an alert.
    strings.dtls("mismatched key: server", &l.server);
    strings.dtls("mismatched key: client", &l.client);
    let v10 = Cfg::new();
    v10.cookies(false).verify_mode(QDTLS_VERIFY_NONE).identity(&server_id.cert, &server_id.key);
    v10.protocol(QDTLS_PROTOCOL_DTLS_V1_0);
    let c12 = Cfg::new();
    c12.ca(&ca.pem.cert).protocol(QDTLS_PROTOCOL_DTLS_V1_2);
    let mut l = Link::new(Dtls::client().with_config(&c12), Dtls::server().with_config(&v10));
    assert!(!run(&mut l, Duration::from_secs(5)));
    strings.dtls("protocol mismatch: client", &l.client);
    strings.dtls("protocol mismatch: server", &l.server);
    // Wrong passphrase and broken key PEM are refused without an error string;
    // the handshake of a configuration left without a key then fails.
    let encrypted = encrypted_key_pem(&server_id.key, "open sesame");
    let nokey = Cfg::new();
    let chain = &server_id.cert;
    assert!(unsafe { qdtls_configuration_set_local_certificate_chain(nokey.0, chain.as_ptr().cast(), chain.len()) });
    let pass = std::ffi::CString::new("wrong").unwrap();
    assert!(!unsafe {
        qdtls_configuration_set_private_key(nokey.0, encrypted.as_ptr().cast(), encrypted.len(), pass.as_ptr())
    });
    let broken = server_id.key.replace('A', "B");
    assert!(!unsafe {
        qdtls_configuration_set_private_key(nokey.0, broken.as_ptr().cast(), broken.len(), std::ptr::null())
    });
    nokey.cookies(false);
    let mut l = Link::new(Dtls::client().with_config(&ccfg), Dtls::server().with_config(&nokey));
    assert!(!run(&mut l, Duration::from_secs(1)));
    assert_eq!(l.server.error(), QDTLS_ERROR_TLS_INITIALIZATION_ERROR);
    strings.dtls("no key after a wrong passphrase: server", &l.server);

    // The verifier and cookie checks with a known secret.
    let v = Verifier::new();
    assert!(!unsafe { qdtls_client_verifier_set_cookie_generator_parameters(v.0, 99, COOKIE_SECRET.as_ptr(), 32) });
    strings.verifier("verifier: unknown hash", &v);
    assert!(unsafe {
        qdtls_client_verifier_set_cookie_generator_parameters(v.0, QDTLS_HASH_SHA256, COOKIE_SECRET.as_ptr(), 32)
    });
    let s = udp();
    assert!(!v.verify(&s, &[], s.local_addr().unwrap()));
    strings.verifier("verifier: empty datagram", &v);
    let cookie_server = Dtls::server().with_config(&Cfg::new());
    assert!(unsafe {
        qdtls_set_cookie_generator_parameters(cookie_server.0, QDTLS_HASH_SHA256, COOKIE_SECRET.as_ptr(), 32)
    });
    assert!(cookie_server.set_peer(s.local_addr().unwrap(), ""));
    let client = Dtls::client().with_config(&Cfg::psk());
    let cs = udp();
    assert!(client.set_peer(s.local_addr().unwrap(), ""));
    assert!(client.handshake(&cs, &[]));
    let hello = recv(&s).unwrap().0;
    assert!(!cookie_server.handshake(&s, &hello));
    strings.dtls("cookie server: hello without cookie", &cookie_server);
    assert!(!unsafe { qdtls_set_cookie_generator_parameters(cookie_server.0, 77, COOKIE_SECRET.as_ptr(), 32) });
    strings.dtls("cookie server: unknown hash", &cookie_server);

    let n = strings.0.len();
    strings.check(
        &[
            ("PSK", &PSK[..]),
            ("the other PSK", &WRONG_PSK[..]),
            ("cookie secret", &COOKIE_SECRET[..]),
            ("private key DER", &key_der[..]),
        ],
        &[("server key", &server_id.key), ("other key", &other.key), ("encrypted key", &encrypted)],
    );
    println!("{n} error strings, none with key material:");
    for (what, s) in &strings.0 {
        println!("  {what}: {s:?}");
    }
}

/// The PSK (set twice per callback, so the replaced copy counts too) is
/// wiped by the library before its memory is freed, on both sides.
#[test]
fn psk_copies_are_wiped_before_their_memory_is_freed() {
    let _g = start();
    let right = KeySource { key: &PSK, replace: true };
    let hits = watch(&[&PSK, &WRONG_PSK], || {
        let cfg = Cfg::psk();
        let mut l = Link::new(
            with_key(Dtls::client().with_config(&cfg), &right),
            with_key(Dtls::server().with_config(&cfg), &right),
        );
        assert!(run(&mut l, Duration::from_secs(10)), "{}", l.client.error_string());
        assert_eq!(l.send(true, b"wiped?").as_deref(), Some(&b"wiped?"[..]));
        assert!(l.client.shutdown(&l.csock));
        drop(l);
        drop(cfg);
    });
    let (rust, ossl) = hits[0];
    let (rust_decoy, ossl_decoy) = hits[1];
    println!("PSK: unwiped frees, library (Rust heap) {rust}, OpenSSL {ossl}");
    println!("replaced PSK: unwiped frees, library {rust_decoy}, OpenSSL {ossl_decoy}");
    println!("OpenSSL allocations observed: {}", OSSL_HOOKED.load(Ordering::SeqCst));
    assert_eq!(rust, 0, "the library freed a copy of the PSK without wiping it");
    assert_eq!(rust_decoy, 0, "the library freed a replaced PSK without wiping it");
    // The detector sees an unwiped copy.
    let control = watch(&[&PSK], || unwiped_copy(&PSK));
    assert!(control[0].0 >= 1, "the scanner must see a planted unwiped copy");
}

/// The engine's authenticator directly: a replaced key and a dropped
/// authenticator leave no unwiped copy (the building block of the test above).
#[test]
fn the_authenticator_wipes_on_replacement_and_on_drop() {
    let _g = start();
    let hits = watch(&[&PSK, &WRONG_PSK], || {
        let key = qdtls::__private::psk_client_key(b"hint", &[&WRONG_PSK, &PSK]);
        assert_eq!(key, &PSK[..]);
        qdtls::__private::wipe(&mut { key });
        let mut buf = PSK.to_vec();
        qdtls::__private::wipe(&mut buf);
        assert!(buf.iter().all(|&b| b == 0));
    });
    assert_eq!(hits[0].0, 0, "dropped authenticator");
    assert_eq!(hits[1].0, 0, "replaced key");
}

/// Cookie secrets set on a verifier and on a QDtls, used for a cookie
/// exchange, read back, replaced and freed: never freed unwiped by the library.
#[test]
fn cookie_secrets_are_wiped_before_their_memory_is_freed() {
    let _g = start();
    let hits = watch(&[&COOKIE_SECRET], || {
        let v = Verifier::new();
        assert!(unsafe {
            qdtls_client_verifier_set_cookie_generator_parameters(v.0, QDTLS_HASH_SHA256, COOKIE_SECRET.as_ptr(), 32)
        });
        let scfg = Cfg::psk();
        scfg.cookies(true);
        let right = KeySource { key: &PSK, replace: false };
        let server = with_key(Dtls::server().with_config(&scfg), &right);
        assert!(unsafe {
            qdtls_set_cookie_generator_parameters(server.0, QDTLS_HASH_SHA256, COOKIE_SECRET.as_ptr(), 32)
        });
        let client = with_key(Dtls::client().with_config(&Cfg::psk()), &right);
        let (cs, ss) = (udp(), udp());
        let caddr = cs.local_addr().unwrap();
        assert!(client.set_peer(ss.local_addr().unwrap(), ""));
        assert!(server.set_peer(caddr, ""));
        assert!(client.handshake(&cs, &[]));
        let hello = recv(&ss).unwrap().0;
        assert!(!v.verify(&ss, &hello, caddr));
        let hvr = recv(&cs).unwrap().0;
        assert!(client.handshake(&cs, &hvr));
        let hello2 = recv(&ss).unwrap().0;
        assert!(v.verify(&ss, &hello2, caddr));
        assert!(server.handshake(&ss, &v.verified_hello()), "{}", server.error_string());
        // Read back (into stack buffers), then replace with other secrets.
        let mut buf = [0u8; 64];
        let mut hash = 0;
        assert_eq!(
            unsafe { qdtls_client_verifier_cookie_generator_parameters(v.0, &mut hash, buf.as_mut_ptr(), 64) },
            32
        );
        assert_eq!(unsafe { qdtls_cookie_generator_parameters(server.0, &mut hash, buf.as_mut_ptr(), 64) }, 32);
        assert_eq!(&buf[..32], &COOKIE_SECRET[..]);
        buf.fill(0);
        assert!(unsafe {
            qdtls_client_verifier_set_cookie_generator_parameters(v.0, QDTLS_HASH_SHA256, b"x".as_ptr(), 1)
        });
        drop(server);
        drop(client);
        drop(v);
    });
    let (rust, ossl) = hits[0];
    println!("cookie secret: unwiped frees, library {rust}, OpenSSL (HMAC key copies) {ossl}");
    assert_eq!(rust, 0, "the library freed a cookie secret without wiping it");
    let control = watch(&[&COOKIE_SECRET], || unwiped_copy(&COOKIE_SECRET));
    assert!(control[0].0 >= 1, "the scanner must see a planted unwiped copy");
}

/// A private key given as PEM is parsed by OpenSSL in place: the library
/// makes no copy of the PEM text or the key on its own heap. What OpenSSL
/// does with its parsed copy is reported (it cleanses private key numbers
/// when it frees them).
#[test]
fn private_keys_are_not_copied_by_the_library() {
    let _g = start();
    let ca = Ca::new("key root", KeyKind::EcP256);
    let id = ca.issue(&LeafSpec { dns: &["secrets.test"], ..LeafSpec::server("secrets.test") });
    // The private scalar and a line of the PEM body, found before watching.
    let pkey = openssl::pkey::PKey::private_key_from_pem(id.key.as_bytes()).unwrap();
    let mut scalar = pkey.ec_key().unwrap().private_key().to_vec_padded(32).unwrap();
    let mut d = [0u8; 32];
    d.copy_from_slice(&scalar);
    qdtls::__private::wipe(&mut scalar);
    drop(scalar);
    drop(pkey);
    let pem_line: Vec<u8> = id.key.lines().nth(2).unwrap().as_bytes().to_vec();
    let ccfg = Cfg::new();
    ccfg.ca(&ca.pem.cert);
    let cfg = Cfg::new();
    let handshake = |cfg: &Cfg| {
        let mut l = Link::new(Dtls::client().with_config(&ccfg), Dtls::server().with_config(cfg));
        let name = std::ffi::CString::new("secrets.test").unwrap();
        assert!(unsafe { qdtls_set_peer_verification_name(l.client.0, name.as_ptr()) });
        assert!(run(&mut l, Duration::from_secs(10)), "{}", l.client.error_string());
        assert!(l.client.encrypted(), "{:?}", l.client.verification_errors());
    };
    // Phase by phase, to show where copies are freed.
    let phases = [
        (
            "qdtls_configuration_set_private_key (PEM parsed by OpenSSL)",
            watch(&[&d, &pem_line], || {
                cfg.cookies(false).verify_mode(QDTLS_VERIFY_NONE).identity(&id.cert, &id.key);
                assert!(unsafe { qdtls_configuration_has_private_key(cfg.0) });
            }),
        ),
        ("first handshake (builds the OpenSSL context, signs)", watch(&[&d, &pem_line], || handshake(&cfg))),
        ("second handshake (signs)", watch(&[&d, &pem_line], || handshake(&cfg))),
        (
            "configuration copied and freed",
            watch(&[&d, &pem_line], || {
                let copy = unsafe { qdtls_configuration_clone(cfg.0) };
                unsafe { qdtls_configuration_free(copy) };
                drop(cfg);
            }),
        ),
    ];
    for (what, hits) in &phases {
        println!("{what}: unwiped frees of the EC private scalar: library {}, OpenSSL {}", hits[0].0, hits[0].1);
        println!("{what}: unwiped frees of the key's PEM text: library {}, OpenSSL {}", hits[1].0, hits[1].1);
        assert_eq!(hits[0].0, 0, "{what}: the library copied and freed the private scalar");
        assert_eq!(hits[1].0, 0, "{what}: the library copied and freed the private key PEM");
    }
    let control = watch(&[&d], || unwiped_copy(&d));
    assert!(control[0].0 >= 1, "the scanner must see a planted unwiped copy");
}

/// No getter hands key material back: the configuration (and its copies)
/// only says whether a key is set, the certificate chain getter returns
/// certificates only, and the PSK is readable only inside the callback.
#[test]
fn getters_never_hand_back_key_material() {
    let _g = start();
    let ca = Ca::new("getter root", KeyKind::Rsa2048);
    let id = ca.issue(&LeafSpec { kind: KeyKind::Rsa2048, ..LeafSpec::server("secrets.test") });
    let cfg = Cfg::new();
    cfg.identity(&id.cert, &id.key);
    let copy = Cfg(unsafe { qdtls_configuration_clone(cfg.0) });
    let d = Dtls::client().with_config(&cfg);
    let from_handle = Cfg(unsafe { qdtls_dtls_configuration(d.0) });
    for (what, c) in [("original", &cfg), ("copy", &copy), ("from the handle", &from_handle)] {
        assert!(unsafe { qdtls_configuration_has_private_key(c.0) }, "{what}");
        let chain = read_str(|b, n| unsafe { qdtls_configuration_local_certificate_chain(c.0, b, n) });
        assert!(chain.contains("BEGIN CERTIFICATE") && !chain.contains("PRIVATE KEY"), "{what}: {chain}");
        for line in id.key.lines().filter(|l| !l.starts_with("-----")) {
            assert!(!chain.contains(line), "{what}: the chain getter shows key text");
        }
    }
}
