//! The server's C ABI where Rust tests reach it best: timers without a
//! socket, and the send callback.

mod common;

use std::ffi::c_void;
use std::sync::Mutex;
use std::time::Duration;

use common::clock::VirtualClock;

use qdtls::ffi::config::*;
use qdtls::ffi::server::*;
use qdtls::ffi::*;

/// What the send callback saw: datagrams, and whether to refuse them.
struct Sink {
    sent: Mutex<Vec<Vec<u8>>>,
}

unsafe extern "C" fn collect(user: *mut c_void, data: *const u8, len: usize, _: *const c_void, _: usize) -> i32 {
    // SAFETY: user is the test's Sink; data is valid for len bytes.
    let sink = unsafe { &*(user as *const Sink) };
    sink.sent.lock().unwrap().push(unsafe { std::slice::from_raw_parts(data, len) }.to_vec());
    0
}

fn sockaddr(port: u16) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes([127, 0, 0, 1]) },
        sin_zero: [0; 8],
    }
}

/// A real client's ClientHello (cookie verification is off for the server).
fn client_hello() -> Vec<u8> {
    use qdtls::{Configuration, Dtls, PeerVerifyMode, SslMode, Transport};
    struct Cap(Vec<Vec<u8>>);
    impl Transport for Cap {
        fn send(&mut self, d: &[u8], _: std::net::SocketAddr) -> std::io::Result<()> {
            self.0.push(d.to_vec());
            Ok(())
        }
        fn path_mtu(&mut self) -> Option<u32> {
            None
        }
    }
    let mut cfg = Configuration::new();
    cfg.set_peer_verify_mode(PeerVerifyMode::VerifyNone);
    let c = Dtls::new(SslMode::Client);
    c.set_dtls_configuration(&cfg).unwrap();
    c.set_peer("127.0.0.1:4433".parse().unwrap(), "").unwrap();
    let mut cap = Cap(Vec::new());
    c.do_handshake(&mut cap, &[]).unwrap();
    cap.0.remove(0)
}

#[test]
fn timers_run_without_a_socket_and_say_what_could_not_be_sent() {
    let clock = VirtualClock::install();
    unsafe {
        let cfg = qdtls_configuration_new();
        assert!(qdtls_configuration_set_dtls_cookie_verification_enabled(cfg, false));
        let s = qdtls_server_new(cfg);
        qdtls_configuration_free(cfg);
        let sink = Sink { sent: Mutex::new(Vec::new()) };
        assert!(qdtls_server_set_send_callback(s, Some(collect), &sink as *const Sink as *mut c_void));
        let from = sockaddr(40000);
        let hello = client_hello();
        let ok = qdtls_server_handle_datagram(
            s,
            -1,
            (&from as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>(),
            hello.as_ptr(),
            hello.len(),
        );
        assert!(ok, "error {}", qdtls_server_error(s));
        assert_eq!(qdtls_server_handshake_count(s), 1);
        assert!(!sink.sent.lock().unwrap().is_empty(), "the server's flight went through the callback");
        // No socket and no callback any more: the retransmission timer still runs.
        assert!(qdtls_server_set_send_callback(s, None, std::ptr::null_mut()));
        let before = qdtls_server_next_timeout_ms(s);
        assert!(before > 0, "{before}");
        clock.advance(Duration::from_millis(before as u64));
        assert_eq!(qdtls_server_next_timeout_ms(s), 0);
        assert_eq!(qdtls_server_handle_timeouts(s, -1), -1, "the retransmission could not be sent");
        assert_eq!(qdtls_server_error(s), QDTLS_ERROR_UNDERLYING_SOCKET_ERROR);
        assert!(qdtls_server_next_timeout_ms(s) > 0, "the timer moved on: no busy loop");
        qdtls_server_free(s);
    }
}

#[test]
fn limits_read_back_as_set_with_the_documented_defaults() {
    unsafe {
        let s = qdtls_server_new(std::ptr::null());
        assert!(!s.is_null());
        let read = |s| {
            (
                qdtls_server_max_peers(s),
                qdtls_server_max_handshakes(s),
                qdtls_server_max_peers_per_address(s),
                qdtls_server_idle_timeout_ms(s),
                qdtls_server_handshake_timeout_ms(s),
            )
        };
        assert_eq!(read(s), (65_536, 1024, 0, 0, 30_000));
        assert!(qdtls_server_set_max_peers(s, 10));
        assert!(qdtls_server_set_max_handshakes(s, 3));
        assert!(qdtls_server_set_max_peers_per_address(s, 2));
        assert!(qdtls_server_set_idle_timeout_ms(s, 60_000));
        assert!(qdtls_server_set_handshake_timeout_ms(s, 0));
        assert_eq!(read(s), (10, 3, 2, 60_000, 0));
        assert_eq!(read(std::ptr::null()), (0, 0, 0, 0, 0));
        qdtls_server_free(s);
    }
}

#[test]
fn the_rust_api_reads_its_limits_back() {
    let mut cfg = qdtls::Configuration::new();
    cfg.set_peer_verify_mode(qdtls::PeerVerifyMode::VerifyNone);
    let mut s = qdtls::Server::new(&cfg).unwrap();
    assert_eq!((s.max_peers(), s.max_handshakes(), s.max_peers_per_address()), (65_536, 1024, 0));
    assert_eq!((s.idle_timeout(), s.handshake_timeout()), (None, Some(Duration::from_secs(30))));
    s.set_idle_timeout(Some(Duration::from_secs(5)));
    s.set_handshake_timeout(None);
    s.set_max_peers_per_address(4);
    assert_eq!((s.idle_timeout(), s.handshake_timeout()), (Some(Duration::from_secs(5)), None));
    assert_eq!(s.max_peers_per_address(), 4);
}
