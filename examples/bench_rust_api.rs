//! benches/run.sh's benchmark of the Rust API (`qdtls::Dtls` over
//! `std::net::UdpSocket`), with the settings of benches/main.cpp: PSK-AES128-GCM-SHA256,
//! DTLS 1.2, MTU hint 1500, cookie verification off, VerifyNone, non-blocking
//! loopback sockets, a new socket pair per handshake. Rates are per CPU-second
//! of this process (CLOCK_PROCESS_CPUTIME_ID), after a warm-up of 15 % of the
//! measured time, as rate() in benches/bench.hpp does.
//!
//! cargo run --release --quiet --example bench_rust_api -- psk|newconf|data [--seconds S]
//!
//! Prints benches/main.cpp's lines: `RESULT <metric> rust-api <value> <unit>`,
//! `WALL ...` (per elapsed second) and `CPUSHARE <metric> rust-api <share>`.

use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::Instant;

use qdtls::{Configuration, Dtls, HandshakeState, PeerVerifyMode, Protocol, SslMode};

type BoxResult<T> = Result<T, Box<dyn std::error::Error>>;

const IMPL: &str = "rust-api";
const PAYLOAD: usize = 1200;
const MTU: u16 = 1500;
const PSK_CIPHER: &str = "PSK-AES128-GCM-SHA256";
const PSK_IDENTITY: &[u8] = b"bench client";
const PSK_KEY: &[u8] = b"0123456789abcdef";

fn cpu_seconds() -> f64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: ts is a valid timespec for the call to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

struct Rate {
    per_cpu_second: f64,
    per_wall_second: f64,
    cpu_share: f64,
}

/// bench.hpp's rate(): a warm-up, then `op` for `seconds` of elapsed time,
/// the clocks read every `stride` operations.
fn rate(seconds: f64, stride: u32, mut op: impl FnMut() -> BoxResult<()>) -> BoxResult<Rate> {
    let t0 = Instant::now();
    while t0.elapsed().as_secs_f64() < seconds * 0.15 {
        for _ in 0..stride {
            op()?;
        }
    }
    let mut n = 0u64;
    let t0 = Instant::now();
    let c0 = cpu_seconds();
    let mut t;
    loop {
        for _ in 0..stride {
            op()?;
        }
        n += u64::from(stride);
        t = t0.elapsed().as_secs_f64();
        if t >= seconds {
            break;
        }
    }
    let c = cpu_seconds() - c0;
    Ok(Rate { per_cpu_second: n as f64 / c, per_wall_second: n as f64 / t, cpu_share: c / t })
}

fn report(metric: &str, r: &Rate, unit: &str) {
    println!("RESULT {metric} {IMPL} {:.6} {unit}", r.per_cpu_second);
    println!("WALL {metric} {IMPL} {:.6} {unit}", r.per_wall_second);
    println!("CPUSHARE {metric} {IMPL} {:.3}", r.cpu_share);
}

/// The client's and the server's configuration, built from scratch.
fn configurations() -> BoxResult<(Configuration, Configuration)> {
    let mut base = Configuration::new();
    base.set_protocol(Protocol::DtlsV1_2);
    base.set_dtls_cookie_verification_enabled(false);
    base.set_ciphers(Some(PSK_CIPHER))?;
    base.set_peer_verify_mode(PeerVerifyMode::VerifyNone);
    Ok((base.clone(), base))
}

fn local_socket() -> BoxResult<UdpSocket> {
    let s = UdpSocket::bind("127.0.0.1:0")?;
    s.set_nonblocking(true)?;
    Ok(s)
}

fn session(mode: SslMode, cfg: &Configuration, peer: SocketAddr) -> BoxResult<Dtls> {
    let d = Dtls::new(mode);
    d.set_dtls_configuration(cfg)?;
    d.set_peer(peer, "")?;
    d.set_mtu_hint(MTU);
    d.set_psk_callback(|auth| {
        auth.set_identity(PSK_IDENTITY);
        auth.set_pre_shared_key(PSK_KEY);
    });
    Ok(d)
}

/// Every queued datagram of `sock` to `d`'s handshake; how many there were.
fn feed(d: &Dtls, sock: &UdpSocket, buf: &mut [u8]) -> BoxResult<usize> {
    let mut count = 0;
    loop {
        let n = match sock.recv(buf) {
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(count),
            Err(e) => return Err(e.into()),
        };
        count += 1;
        if d.handshake_state() != HandshakeState::Complete {
            let mut s = sock;
            d.do_handshake(&mut s, &buf[..n])?;
        }
    }
}

fn wait_readable(a: &UdpSocket, b: &UdpSocket, ms: i32) {
    let mut fds = [
        libc::pollfd { fd: a.as_raw_fd(), events: libc::POLLIN, revents: 0 },
        libc::pollfd { fd: b.as_raw_fd(), events: libc::POLLIN, revents: 0 },
    ];
    // SAFETY: fds is a valid array of two pollfd.
    unsafe { libc::poll(fds.as_mut_ptr(), 2, ms) };
}

/// One handshake between a client on `cs` and a server on `ss`.
fn handshake(c: &Dtls, cs: &UdpSocket, s: &Dtls, ss: &UdpSocket, buf: &mut [u8]) -> BoxResult<()> {
    let mut csock = cs;
    c.do_handshake(&mut csock, &[])?;
    let mut idle = 0;
    while !(c.is_connection_encrypted() && s.is_connection_encrypted()) {
        let a = feed(s, ss, buf)?;
        let b = feed(c, cs, buf)?;
        if a + b == 0 {
            idle += 1;
            if idle >= 100 {
                return Err("handshake stuck".into());
            }
            wait_readable(cs, ss, 20);
        }
    }
    Ok(())
}

/// Scenario 1's operation: fresh sockets and sessions, one handshake.
fn handshake_once(client: &Configuration, server: &Configuration, buf: &mut [u8]) -> BoxResult<()> {
    let cs = local_socket()?;
    let ss = local_socket()?;
    let c = session(SslMode::Client, client, ss.local_addr()?)?;
    let s = session(SslMode::Server, server, cs.local_addr()?)?;
    handshake(&c, &cs, &s, &ss, buf)
}

fn run(scenario: &str, seconds: f64) -> BoxResult<()> {
    let mut buf = vec![0u8; 2048];
    match scenario {
        "psk" => {
            let (client, server) = configurations()?;
            let r = rate(seconds, 1, || handshake_once(&client, &server, &mut buf))?;
            report("psk_handshakes", &r, "hs/s");
        }
        "newconf" => {
            let r = rate(seconds, 1, || {
                let (client, server) = configurations()?;
                handshake_once(&client, &server, &mut buf)
            })?;
            report("psk_handshakes_newconf", &r, "hs/s");
        }
        "data" => {
            let (client, server) = configurations()?;
            let cs = local_socket()?;
            let ss = local_socket()?;
            let c = session(SslMode::Client, &client, ss.local_addr()?)?;
            let s = session(SslMode::Server, &server, cs.local_addr()?)?;
            handshake(&c, &cs, &s, &ss, &mut buf)?;
            let payload = vec![b'x'; PAYLOAD];
            let mut plain = vec![0u8; 2048];
            let r = rate(seconds, 64, || {
                let mut csock = &cs;
                c.write_datagram_encrypted(&mut csock, &payload)?;
                let n = ss.recv(&mut buf)?;
                let mut ssock = &ss;
                let m = s.decrypt_datagram_into(&mut ssock, &buf[..n], &mut plain)?;
                if m != PAYLOAD {
                    return Err(format!("decrypted {m} bytes").into());
                }
                Ok(())
            })?;
            report("datagrams", &r, "dgram/s");
        }
        other => return Err(format!("unknown scenario {other} (psk, newconf or data)").into()),
    }
    Ok(())
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut scenario = None;
    let mut seconds = 1.25;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--seconds" => match args.next().and_then(|v| v.parse().ok()) {
                Some(s) => seconds = s,
                None => {
                    eprintln!("bench_rust_api: --seconds needs a number");
                    std::process::exit(2);
                }
            },
            _ if scenario.is_none() => scenario = Some(a),
            _ => {
                eprintln!("usage: bench_rust_api psk|newconf|data [--seconds S]");
                std::process::exit(2);
            }
        }
    }
    let Some(scenario) = scenario else {
        eprintln!("usage: bench_rust_api psk|newconf|data [--seconds S]");
        std::process::exit(2);
    };
    if let Err(e) = run(&scenario, seconds) {
        eprintln!("bench_rust_api: {scenario} failed: {e}");
        std::process::exit(1);
    }
}
