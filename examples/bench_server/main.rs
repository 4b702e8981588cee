//! benches/server.sh's benchmark of `qdtls::Server` (issue 11): many peers
//! on one socket. Settings as benches/main.cpp: PSK-AES128-GCM-SHA256, DTLS
//! 1.2, client MTU hint 1500, VerifyNone, loopback UDP on 127.0.0.0/8 or no
//! sockets at all (the server's sans-I/O `handle_datagram`). Rates are per
//! CPU-second of this process (CLOCK_PROCESS_CPUTIME_ID) unless the line
//! says otherwise, after a warm-up of 15 % of the measured time, as rate()
//! in benches/bench.hpp does.
//!
//! cargo run --release --example bench_server -- SCENARIO [--seconds S] [--peers N] [--only METRIC]
//!
//! `--peers`: idle peers (default 10,000); `--only`: one measurement (for profiling).
//!
//! Scenarios (each prints `RESULT <metric> rust-server <value> <unit>` lines
//! and `NOTE ...` lines with what was checked):
//!
//! - `idle`: 10,000 peers established through `handle_datagram` (cookie
//!   exchange on, the default), each client `Dtls` dropped as soon as its
//!   handshake completed, so only the server's side stays; RSS
//!   (/proc/self/statm) and heap (mallinfo2) per peer over the 10,000, and
//!   the cost of `next_timeout()` + `handle_timeouts()` with 100, 1,000 and
//!   10,000 idle peers, each with an idle-timeout entry in the timer heap.
//! - `handshakes`: PSK handshakes through one server socket, a new client
//!   socket (port) and `Dtls` per handshake, client and server in this
//!   thread, the peer closed (its close_notify to a null transport) once
//!   connected; cookie exchange off (as raw OpenSSL's loop) and on; beside
//!   it the one-pair loop of the Rust API (`Dtls` on both sides, new socket
//!   pair each); and the split of CPU time between the server's calls and
//!   the clients' (CLOCK_THREAD_CPUTIME_ID around every server call).
//! - `reuseport`: 1 and then 2 server threads, each with its own `Server`
//!   on its own SO_REUSEPORT socket of one port (cookie secret shared), fed
//!   by 2 client threads keeping 16 handshakes each in flight; handshakes
//!   per wall second, and per CPU-second of the server threads alone (their
//!   CLOCK_THREAD_CPUTIME_ID), which is what the servers would do with a
//!   core each; three alternations, the best of each counts.
//! - `data`: 1200-byte datagrams, client to server: one `Dtls` pair (the
//!   one-session figure), the server with 1 peer and with 1,000 peers
//!   round-robin (`recv_from` + `handle_datagram` per datagram); then bursts
//!   of 32 datagrams from 32 consecutive peers, drained by the server one by
//!   one (`recv_from` + `handle_datagram`) or with `Server::receive`
//!   (recvmmsg), with the server's own CPU time measured per burst; and,
//!   as controls, the same bursts only received (recv_from or recvmmsg).
//!   The measurements run in alternating segments, the best of four each
//!   (see `alternating`).
//! - `decrypt`: the receive side alone, without sockets: datagrams
//!   encrypted beforehand, then decrypted by plain `Dtls` sessions (1 or
//!   1,000 round-robin, the benchmark knowing which) or handed to
//!   `Server::handle_datagram` (1 or 1,000 peers); CPU time of that loop,
//!   a quarter of each stream at a time in turn, the best quarter each.
//! - `flood`: 1,000,000 cookie-less ClientHellos from random IPv4 sources
//!   through `handle_datagram` (a counting transport), then 100,000 with
//!   valid cookies for their sources (known cookie parameters, the HMAC
//!   computed here as the server does, with the `openssl` crate) that never
//!   finish; a real client connects in the middle of each; RSS and heap
//!   before and after, and the largest peer and handshake counts seen.
//! - `flood-socket`: the same cookie-less flood over real sockets: a sender
//!   thread with `sendmmsg` from 1,024 sockets bound to 127.x.y.1 into the
//!   server's socket, the server on this thread with `Server::receive`, a
//!   real client thread connecting after the first 300,000; then, as
//!   controls without DTLS, the same flood read with recvmmsg and answered
//!   with one `sendto` each, or one `sendmmsg` per batch.

mod data;
mod endpoints;
mod floods;
mod handshakes;
mod idle;
mod measure;
mod sockets;

use data::{data, decrypt};
use floods::{flood, flood_socket};
use handshakes::{handshakes, reuseport};
use idle::idle;
use measure::ONLY;

type BoxResult<T> = Result<T, Box<dyn std::error::Error>>;

fn main() {
    let usage = "usage: bench_server idle|handshakes|reuseport|data|decrypt|flood|flood-socket [--seconds S] \
                 [--peers N (idle, default 10000)] [--only METRIC (one measurement, for profiling)]";
    let mut args = std::env::args().skip(1);
    let mut scenario = None;
    let mut seconds = 1.25;
    let mut peers = 10_000u32;
    let mut only = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--seconds" => match args.next().and_then(|v| v.parse().ok()) {
                Some(s) => seconds = s,
                None => {
                    eprintln!("bench_server: --seconds needs a number");
                    std::process::exit(2);
                }
            },
            "--peers" => match args.next().and_then(|v| v.parse().ok()) {
                Some(n) if n >= 2 => peers = n,
                _ => {
                    eprintln!("bench_server: --peers needs a number of at least 2");
                    std::process::exit(2);
                }
            },
            "--only" => only = args.next(),
            _ if scenario.is_none() => scenario = Some(a),
            _ => {
                eprintln!("{usage}");
                std::process::exit(2);
            }
        }
    }
    let Some(scenario) = scenario else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    ONLY.set(only).expect("set once");
    let r = match scenario.as_str() {
        "idle" => idle(seconds, peers),
        "handshakes" => handshakes(seconds),
        "reuseport" => reuseport(seconds),
        "data" => data(seconds),
        "decrypt" => decrypt(seconds),
        "flood" => flood(seconds),
        "flood-socket" => flood_socket(seconds),
        _ => {
            eprintln!("{usage}");
            std::process::exit(2);
        }
    };
    if let Err(e) = r {
        eprintln!("bench_server: {scenario} failed: {e}");
        std::process::exit(1);
    }
}
