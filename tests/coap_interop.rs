//! CoAP over DTLS against libcoap 4.3 (Debian package libcoap3-bin), with
//! the examples' CoAP code (examples/coap/mod.rs, compiled into this test):
//! - libcoap's clients, `coap-client-openssl` and `coap-client-gnutls`, get
//!   responses from the example server (run here on a thread), with PSK and
//!   with certificates (mutual: the server verifies the client too). Each
//!   cell starts three clients at once (CON GET /hello, NON GET /hello, CON
//!   GET /missing), so the server serves several peers by address; 2.05 with
//!   the payload and 4.04 must come back (libcoap drops a response whose
//!   token or, for CON, message id does not match its request);
//! - the example client gets responses from `coap-server-openssl` and
//!   `coap-server-gnutls`, with PSK and with certificates (mutual).
//!
//! libcoap3-bin is installed when missing and we are root (as
//! scripts/deps.sh does); otherwise the test fails naming the package, as
//! tests/interop.rs fails for a missing peer.

#[path = "../examples/coap/mod.rs"]
mod coap;
mod common;

use std::net::{SocketAddr, UdpSocket};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use coap::{Client, Message, Psk, Resources, Server, Type};
use common::certs::{Ca, KeyKind, LeafSpec, Usage};
use common::harness::check;
use common::peer::{free_port, run_matrix, Cell, Peer, TempDir};
use qdtls::{Configuration, PeerVerifyMode};

const PACKAGE: &str = "libcoap3-bin";
const STEP: Duration = Duration::from_secs(10);
const SERVER_NAME: &str = "coap.test";
const IDENTITY: &str = "qdtls-coap";
const KEY: &str = "qdtls-coap-secret";
const HELLO: &str = "Hello from qdtls over CoAP/DTLS";

// ---- libcoap present ----------------------------------------------------------------------------

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
}

/// libcoap's tools, installed first if missing and we may (root, apt-get).
fn libcoap() -> Result<(), String> {
    static INSTALL: Mutex<()> = Mutex::new(());
    let _one_at_a_time = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    let tools = ["coap-client-openssl", "coap-client-gnutls", "coap-server-openssl", "coap-server-gnutls"];
    if tools.iter().all(|t| on_path(t)) {
        return Ok(());
    }
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !root || !on_path("apt-get") {
        return Err(format!(
            "libcoap's tools are missing: install the Debian package {PACKAGE} (scripts/deps.sh does, as root)"
        ));
    }
    let apt = |args: &[&str]| {
        Command::new("apt-get").args(args).env("DEBIAN_FRONTEND", "noninteractive").output().map_err(|e| e.to_string())
    };
    apt(&["update", "-qq"])?;
    let out = apt(&["install", "-y", "-qq", "--no-install-recommends", PACKAGE])?;
    if out.status.success() && tools.iter().all(|t| on_path(t)) {
        Ok(())
    } else {
        Err(format!("apt-get install {PACKAGE} failed: {}", String::from_utf8_lossy(&out.stderr)))
    }
}

// ---- certificates -----------------------------------------------------------------------------------

/// A CA, a server and a client identity (ECDSA P-256), as PEM and as files.
struct Pki {
    ca_pem: String,
    server: (String, String),
    client: (String, String),
    ca: String,
    server_cert: String,
    server_key: String,
    client_cert: String,
    client_key: String,
    _dir: TempDir,
}

fn pki() -> Pki {
    let ca = Ca::new("qdtls CoAP interop CA", KeyKind::EcP256);
    let server = ca.issue(&LeafSpec { dns: &[SERVER_NAME], ips: &["127.0.0.1"], ..LeafSpec::server(SERVER_NAME) });
    let client = ca.issue(&LeafSpec { usage: Usage::Client, ..LeafSpec::client("qdtls CoAP client") });
    let dir = TempDir::new("coap");
    Pki {
        ca: dir.write("ca.pem", &ca.pem.cert),
        server_cert: dir.write("server.pem", &server.cert),
        server_key: dir.write("server.key", &server.key),
        client_cert: dir.write("client.pem", &client.cert),
        client_key: dir.write("client.key", &client.key),
        ca_pem: ca.pem.cert,
        server: (server.cert, server.key),
        client: (client.cert, client.key),
        _dir: dir,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Psk,
    Cert,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Psk => "psk",
            Mode::Cert => "certificates",
        }
    }
}

// ---- libcoap's clients against the example server ----------------------------------------------

/// The example server on a thread until dropped; `answered` counts responses.
struct ServerThread {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<usize>>,
}

impl ServerThread {
    fn start(mode: Mode, pki: &Pki) -> ServerThread {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = socket.local_addr().unwrap();
        let mut config = Configuration::new();
        let psk = match mode {
            Mode::Psk => {
                config.set_peer_verify_mode(PeerVerifyMode::VerifyNone);
                config.set_ciphers(Some(coap::PSK_CIPHERS)).unwrap();
                Some(Psk { identity: IDENTITY.into(), key: KEY.into() })
            }
            Mode::Cert => {
                config.set_local_certificate_chain_pem(pki.server.0.as_bytes()).unwrap();
                config.set_private_key_pem(pki.server.1.as_bytes(), None).unwrap();
                config.add_ca_certificates_pem(pki.ca_pem.as_bytes()).unwrap();
                config.set_peer_verify_mode(PeerVerifyMode::VerifyPeer);
                None
            }
        };
        let mut resources = Resources::new();
        resources.insert("hello".into(), HELLO.into());
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut server = Server::new(socket, config, psk, resources);
            server.run(|_| stop2.load(Ordering::SeqCst)).unwrap();
            server.answered
        });
        ServerThread { addr, stop, thread: Some(thread) }
    }

    fn stop(mut self) -> usize {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.take().unwrap().join().unwrap()
    }
}

impl Drop for ServerThread {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One libcoap client run: `extra` flags, then the URI for `path`.
fn libcoap_client(
    tool: &str,
    mode: Mode,
    pki: &Pki,
    to: SocketAddr,
    extra: &[&str],
    path: &str,
) -> Result<Peer, String> {
    // -B: give up after 5 s; -w: a newline after the payload.
    let mut args: Vec<String> = ["-B", "5", "-w"].map(String::from).to_vec();
    match mode {
        Mode::Psk => args.extend(["-u", IDENTITY, "-k", KEY].map(String::from)),
        Mode::Cert => {
            args.extend(["-c", &pki.client_cert, "-j", &pki.client_key, "-C", &pki.ca].map(String::from));
        }
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    args.push(format!("coaps://{to}/{path}"));
    Peer::spawn(tool, &args)
}

fn libcoap_clients_cell(tool: &str, mode: Mode, pki: &Pki) -> Result<String, String> {
    libcoap()?;
    let server = ServerThread::start(mode, pki);
    // Three peers at once: the server keeps them apart by address.
    let mut runs = [
        ("CON GET /hello", libcoap_client(tool, mode, pki, server.addr, &[], "hello")?),
        ("NON GET /hello", libcoap_client(tool, mode, pki, server.addr, &["-N"], "hello")?),
        ("CON GET /missing", libcoap_client(tool, mode, pki, server.addr, &[], "missing")?),
    ];
    for (what, peer) in &mut runs {
        let st = peer.wait_exit(STEP)?;
        let want = if what.ends_with("missing") { "4.04" } else { HELLO };
        // Let the reader threads take the last output.
        std::thread::sleep(Duration::from_millis(20));
        check(st.success() && peer.has(want), || format!("{what}: exit {st}, no {want:?} in:\n{}", peer.tail()))?;
        check(!peer.has("WARN") && !peer.has("EMRG"), || format!("{what}: libcoap complained:\n{}", peer.tail()))?;
    }
    let answered = server.stop();
    check(answered == 3, || format!("the server answered {answered} requests, not 3"))?;
    Ok("2.05 CON + NON, 4.04, 3 peers at once".into())
}

// ---- the example client against libcoap's servers ---------------------------------------------------

fn our_client_cell(tool: &str, mode: Mode, pki: &Pki) -> Result<String, String> {
    libcoap()?;
    // coap-server listens on -p for coap and on the next port for coaps.
    let port = free_port();
    let mut args: Vec<String> = ["-A", "127.0.0.1", "-p", &port.to_string()].map(String::from).to_vec();
    let mut config = Configuration::new();
    let psk = match mode {
        Mode::Psk => {
            args.extend(["-k", KEY].map(String::from));
            config.set_peer_verify_mode(PeerVerifyMode::VerifyNone);
            config.set_ciphers(Some(coap::PSK_CIPHERS)).unwrap();
            Some(Psk { identity: IDENTITY.into(), key: KEY.into() })
        }
        Mode::Cert => {
            args.extend(["-c", &pki.server_cert, "-j", &pki.server_key, "-C", &pki.ca].map(String::from));
            config.add_ca_certificates_pem(pki.ca_pem.as_bytes()).unwrap();
            config.set_local_certificate_chain_pem(pki.client.0.as_bytes()).unwrap();
            config.set_private_key_pem(pki.client.1.as_bytes(), None).unwrap();
            None
        }
    };
    let peer = Peer::spawn(tool, &args)?;
    let to = SocketAddr::from(([127, 0, 0, 1], port + 1));
    let name = if mode == Mode::Cert { SERVER_NAME } else { "" };
    let mut results = Vec::new();
    for (ty, path) in [(Type::Con, ""), (Type::Non, "time"), (Type::Con, "missing")] {
        let client =
            Client::connect(to, name, &config, psk.clone(), STEP).map_err(|e| format!("{e}\n{}", peer.tail()))?;
        let (id, token) = coap::fresh_id_and_token();
        let req = Message::get(ty, id, &token, path);
        let res = client.request(&req, STEP).map_err(|e| format!("GET /{path}: {e}\n{}", peer.tail()))?;
        client.close()?;
        check(res.token == token, || format!("GET /{path}: token {:02x?}, sent {token:02x?}", res.token))?;
        if ty == Type::Con {
            check(res.ty == Type::Ack && res.id == id, || {
                format!("GET /{path}: {:?} id {}, sent CON id {id}", res.ty, res.id)
            })?;
        }
        let want = if path == "missing" { coap::NOT_FOUND } else { coap::CONTENT };
        check(res.code == want, || format!("GET /{path}: {}", coap::code_name(res.code)))?;
        let text = String::from_utf8_lossy(&res.payload).into_owned();
        if path.is_empty() {
            check(text.contains("libcoap"), || format!("GET /: {text:?}"))?;
        }
        results.push(format!("{:?} /{path} {}", ty, coap::code_name(res.code)));
    }
    Ok(results.join(", "))
}

// ---- the matrix --------------------------------------------------------------------------------------

#[test]
fn coap_over_dtls_with_libcoap() {
    let pki = pki();
    let pki = &pki;
    let mut cells: Vec<Cell> = Vec::new();
    for mode in [Mode::Psk, Mode::Cert] {
        for tool in ["coap-client-openssl", "coap-client-gnutls"] {
            cells.push((tool, "server", mode.name().into(), Box::new(move || libcoap_clients_cell(tool, mode, pki))));
        }
        for tool in ["coap-server-openssl", "coap-server-gnutls"] {
            cells.push((tool, "client", mode.name().into(), Box::new(move || our_client_cell(tool, mode, pki))));
        }
    }
    run_matrix("CoAP over DTLS with libcoap", cells);
}

// ---- the codec and the server's answers, without a network ---------------------------------------

#[test]
fn the_codec_encodes_as_rfc_7252_says() {
    // CON GET, id 0x1234, token 01 02, Uri-Path "a" then "b".
    let m = Message::get(Type::Con, 0x1234, &[1, 2], "/a/b");
    let bytes = m.encode();
    assert_eq!(bytes, [0x42, 0x01, 0x12, 0x34, 0x01, 0x02, 0xb1, b'a', 0x01, b'b']);
    assert_eq!(Message::decode(&bytes).unwrap(), m);
    assert_eq!(m.path(), "a/b");
    // Extended deltas and lengths (13 and 14 nibbles) and a payload survive.
    let mut big = Message::new(Type::Non, coap::CONTENT, 7, &[9; 8]);
    big.options = vec![(coap::URI_PATH, vec![b'x'; 20]), (300, vec![b'y'; 300]), (2000, vec![])];
    big.payload = b"payload".to_vec();
    assert_eq!(Message::decode(&big.encode()).unwrap(), big);
    // Malformed input is refused, not misread.
    for bad in [
        &[0x42, 0x01, 0x12][..],
        &[0x82, 0x01, 0, 0],
        &[0x49, 0x01, 0, 0],
        &[0x40, 0x01, 0, 0, 0xff],
        &[0x40, 1, 0, 0, 0xf0],
    ] {
        assert!(Message::decode(bad).is_err(), "{bad:02x?}");
    }
}

#[test]
fn the_server_answers_with_the_request_id_and_token() {
    let mut resources = Resources::new();
    resources.insert("hello".into(), HELLO.into());
    let mut next = 100;
    // CON: piggybacked on the ACK, same id and token.
    let res = coap::respond(&Message::get(Type::Con, 42, b"tok", "hello"), &resources, &mut next).unwrap();
    assert_eq!(
        (res.ty, res.code, res.id, &res.token[..], &res.payload[..]),
        (Type::Ack, coap::CONTENT, 42, &b"tok"[..], HELLO.as_bytes())
    );
    // NON: a NON response with the token and an id of its own.
    let res = coap::respond(&Message::get(Type::Non, 42, b"tok", "hello"), &resources, &mut next).unwrap();
    assert_eq!((res.ty, res.code, &res.token[..]), (Type::Non, coap::CONTENT, &b"tok"[..]));
    assert_ne!(res.id, 42);
    // Unknown path, unknown critical option, other methods, pings, ACKs.
    let res = coap::respond(&Message::get(Type::Con, 1, b"t", "nope"), &resources, &mut next).unwrap();
    assert_eq!((res.code, res.payload.len()), (coap::NOT_FOUND, 0));
    let mut odd = Message::get(Type::Con, 2, b"t", "hello");
    odd.options.push((9, vec![])); // critical, unknown
    assert_eq!(coap::respond(&odd, &resources, &mut next).unwrap().code, coap::BAD_OPTION);
    let mut post = Message::get(Type::Con, 3, b"t", "hello");
    post.code = 0x02;
    assert_eq!(coap::respond(&post, &resources, &mut next).unwrap().code, coap::METHOD_NOT_ALLOWED);
    let ping = coap::respond(&Message::new(Type::Con, coap::EMPTY, 5, &[]), &resources, &mut next).unwrap();
    assert_eq!((ping.ty, ping.id), (Type::Rst, 5));
    assert!(coap::respond(&Message::new(Type::Ack, coap::EMPTY, 6, &[]), &resources, &mut next).is_none());
}
