//! Other DTLS 1.2 stacks against `qdtls::Server`: OpenSSL's `s_client
//! -dtls1_2` and GnuTLS's `gnutls-cli --udp`, run as child processes, connect
//! to examples/server.rs (compiled in as a module and run on a thread, so the
//! example itself is what is tested), with PSK and with a certificate, send a
//! line and must get it back; then close (stdin EOF makes both tools send
//! close_notify), which the server must see as CloseNotify. The example
//! client (examples/client.rs) does the same, and in the last cell all of
//! them are on one server at once.
//!
//! Quirk (see tests/interop.rs): gnutls-cli 3.7.9 segfaults right after any
//! ECDHE-PSK handshake, so its PSK cells offer plain PSK key exchange only.
//!
//! A tool that is not installed skips its cells with a message
//! (scripts/deps.sh installs both); every cell that runs must pass.

mod common;
#[path = "../examples/client.rs"]
mod example_client;
#[path = "../examples/server.rs"]
mod example_server;

use std::net::{SocketAddr, UdpSocket};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::certs::{Ca, KeyKind, LeafSpec};
use common::harness::check;
use common::peer::{run_matrix, Cell, Peer, TempDir};
use example_server::{Stats, PSK_KEY};

/// Limit for every wait on a peer.
const STEP: Duration = Duration::from_secs(10);
const SERVER_NAME: &str = "dtls.test";
const IDENTITY: &str = "qdtls interop";
/// gnutls-cli 3.7.9 crashes after ECDHE-PSK handshakes: plain PSK only.
const GNUTLS_PSK_PRIORITY: &str = "NORMAL:-VERS-ALL:+VERS-DTLS1.2:-KX-ALL:+PSK";
const GNUTLS_CERT_PRIORITY: &str = "NORMAL:-VERS-ALL:+VERS-DTLS1.2";

fn psk_hex() -> String {
    PSK_KEY.iter().map(|b| format!("{b:02x}")).collect()
}

/// A CA and the server's certificate (for SERVER_NAME and 127.0.0.1), as files.
struct Pki {
    ca: String,
    cert: String,
    key: String,
    _dir: TempDir,
}

impl Pki {
    fn new() -> Pki {
        let ca = Ca::new("qdtls server interop CA", KeyKind::EcP256);
        let leaf = ca.issue(&LeafSpec { dns: &[SERVER_NAME], ips: &["127.0.0.1"], ..LeafSpec::server(SERVER_NAME) });
        let dir = TempDir::new("server-interop");
        Pki {
            ca: dir.write("ca.pem", &ca.pem.cert),
            cert: dir.write("server.pem", &leaf.cert),
            key: dir.write("server.key", &leaf.key),
            _dir: dir,
        }
    }
}

/// examples/server.rs on a thread, until `clients` clients closed their
/// session (its --exit-after) or it is dropped.
struct ExampleServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<Stats, String>>>,
}

impl ExampleServer {
    fn start(pki: Option<&Pki>, clients: usize) -> ExampleServer {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = socket.local_addr().unwrap();
        let args = example_server::Args {
            port: addr.port(),
            cert: pki.map(|p| (p.cert.clone(), p.key.clone())),
            exit_after: Some(clients),
            idle_timeout: Some(Duration::from_secs(60)),
        };
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let thread =
            std::thread::spawn(move || example_server::serve(&args, &socket, &stop2).map_err(|e| e.to_string()));
        ExampleServer { addr, stop, thread: Some(thread) }
    }

    /// Waits until the server ended by itself (every client closed).
    fn finish(mut self) -> Result<Stats, String> {
        let t = self.thread.take().unwrap();
        let deadline = Instant::now() + STEP;
        while !t.is_finished() {
            if Instant::now() > deadline {
                self.stop.store(true, Ordering::Relaxed);
                let stats = t.join();
                return Err(format!("the server still waited for close_notify after {STEP:?}: {stats:?}"));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        t.join().map_err(|_| "the server thread panicked".to_string())?
    }
}

impl Drop for ExampleServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A tool connected to the server, waiting for lines.
struct Tool {
    peer: Peer,
    /// What the tool prints once its handshake is complete.
    ready: &'static str,
    /// What it prints when it verified our certificate.
    trusted: &'static str,
}

fn s_client(server: SocketAddr, pki: Option<&Pki>) -> Result<Tool, String> {
    let mut args: Vec<String> = ["s_client", "-dtls1_2", "-connect", &server.to_string()].map(String::from).to_vec();
    match pki {
        None => args.extend(["-psk", &psk_hex(), "-psk_identity", IDENTITY].map(String::from)),
        Some(p) => args.extend(
            ["-CAfile", &p.ca, "-verify", "2", "-verify_return_error", "-verify_hostname", SERVER_NAME]
                .map(String::from),
        ),
    }
    let peer = Peer::spawn("openssl", &args)?;
    // s_client prints the session summary ("Cipher is ...") after the handshake.
    Ok(Tool { peer, ready: "Cipher is", trusted: "Verify return code: 0 (ok)" })
}

fn gnutls_cli(server: SocketAddr, pki: Option<&Pki>) -> Result<Tool, String> {
    let priority = if pki.is_none() { GNUTLS_PSK_PRIORITY } else { GNUTLS_CERT_PRIORITY };
    let mut args: Vec<String> =
        ["--udp", "-p", &server.port().to_string(), "--priority", priority].map(String::from).to_vec();
    match pki {
        None => args.extend(["--pskusername", IDENTITY, "--pskkey", &psk_hex()].map(String::from)),
        Some(p) => args.extend(["--x509cafile", &p.ca, "--verify-hostname", SERVER_NAME].map(String::from)),
    }
    args.push(server.ip().to_string());
    let peer = Peer::spawn("gnutls-cli", &args)?;
    Ok(Tool { peer, ready: "Handshake was completed", trusted: "The certificate is trusted" })
}

impl Tool {
    /// Handshake done (and our certificate verified, with one), a line sent
    /// and echoed.
    fn talk(&mut self, pki: Option<&Pki>, line: &str) -> Result<(), String> {
        self.peer.wait_for(self.ready, STEP)?;
        if pki.is_some() {
            check(self.peer.has(self.trusted), || {
                format!("{} did not trust us:\n{}", self.peer.name, self.peer.tail())
            })?;
        }
        self.peer.send_line(line)?;
        // Neither tool prints what it reads from stdin: the line comes from the server.
        self.peer.wait_for(line, STEP)
    }

    /// stdin EOF: the tool sends close_notify and exits.
    fn close(mut self) -> Result<(), String> {
        self.peer.close_stdin();
        self.exited()
    }

    /// The tool exited, successfully. gnutls-cli takes 2 s after its
    /// close_notify: it waits for one in return, which qdtls does not send
    /// (nor did Qt); s_client takes 0.5 s whoever it talks to.
    fn exited(mut self) -> Result<(), String> {
        let st = self.peer.wait_exit(STEP)?;
        check(st.success(), || format!("{} exited with {st}:\n{}", self.peer.name, self.peer.tail()))
    }
}

type Connect = fn(SocketAddr, Option<&Pki>) -> Result<Tool, String>;

/// One tool against a fresh server: connect, echo a line, close.
fn tool_cell(connect: Connect, pki: Option<&Pki>, line: &str) -> Result<String, String> {
    let server = ExampleServer::start(pki, 1);
    let mut tool = connect(server.addr, pki)?;
    tool.talk(pki, line)?;
    tool.close()?;
    let stats = server.finish()?;
    check(stats == Stats { connected: 1, echoed: 1, served: 1 }, || format!("server: {stats:?}"))?;
    Ok(format!("{stats:?}"))
}

fn example_client_args(server: SocketAddr, pki: Option<&Pki>, count: usize) -> example_client::Args {
    example_client::Args {
        server,
        ca: pki.map(|p| p.ca.clone()),
        name: if pki.is_some() { SERVER_NAME.into() } else { String::new() },
        count,
    }
}

/// The example client against the example server.
fn example_cell(pki: Option<&Pki>) -> Result<String, String> {
    let server = ExampleServer::start(pki, 1);
    let echoes = example_client::run(&example_client_args(server.addr, pki, 3)).map_err(|e| e.to_string())?;
    check(echoes.len() == 3, || format!("echoes {echoes:?}"))?;
    let stats = server.finish()?;
    check(stats == Stats { connected: 1, echoed: 3, served: 1 }, || format!("server: {stats:?}"))?;
    Ok(format!("{stats:?}"))
}

/// Every available tool twice and the example client, on one server at once.
fn everyone_cell(tools: &[(&str, Connect)], pki: Option<&Pki>) -> Result<String, String> {
    let n = 2 * tools.len() + 1;
    let server = ExampleServer::start(pki, n);
    let mut running = Vec::new();
    for (name, connect) in tools {
        for i in 0..2 {
            running.push((format!("<{name} {i} at once>"), connect(server.addr, pki)?));
        }
    }
    let args = example_client_args(server.addr, pki, 2);
    let ours = std::thread::spawn(move || example_client::run(&args).map(|e| e.len()).map_err(|e| e.to_string()));
    for (line, tool) in &mut running {
        tool.talk(pki, line)?;
    }
    check(ours.join().map_err(|_| "the example client panicked")?? == 2, || "example client echoes".into())?;
    // All close at once (each tool takes its time to exit, see Tool::exited).
    for (_, tool) in &mut running {
        tool.peer.close_stdin();
    }
    for (_, tool) in running {
        tool.exited()?;
    }
    let stats = server.finish()?;
    let want = Stats { connected: n, echoed: 2 * tools.len() + 2, served: n };
    check(stats == want, || format!("server: {stats:?}, expected {want:?}"))?;
    Ok(format!("{stats:?}"))
}

/// Whether `program` runs (`version_arg` prints its version).
fn installed(program: &str, version_arg: &str) -> bool {
    Command::new(program).arg(version_arg).stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok()
}

#[test]
fn tools_and_the_example_client_against_the_example_server() {
    let pki = Pki::new();
    let mut tools: Vec<(&str, Connect)> = Vec::new();
    if installed("openssl", "version") {
        tools.push(("openssl s_client", s_client));
    } else {
        println!("SKIPPED: openssl is not installed (scripts/deps.sh installs it): no s_client cells");
    }
    if installed("gnutls-cli", "--version") {
        tools.push(("gnutls-cli", gnutls_cli));
    } else {
        println!("SKIPPED: gnutls-cli is not installed (scripts/deps.sh installs gnutls-bin): no gnutls-cli cells");
    }
    let mut cells: Vec<Cell> = Vec::new();
    for &(name, connect) in &tools {
        for (mode, p) in [("psk", None), ("certificate", Some(&pki))] {
            let line = format!("<{name} {mode}>");
            cells.push((name, "server", mode.to_string(), Box::new(move || tool_cell(connect, p, &line))));
        }
    }
    for (mode, p) in [("psk", None), ("certificate", Some(&pki))] {
        cells.push(("examples/client.rs", "server", mode.to_string(), Box::new(move || example_cell(p))));
    }
    let all = tools.clone();
    cells.push(("everyone at once", "server", "psk".into(), Box::new(move || everyone_cell(&all, None))));
    let all = tools.clone();
    let p = &pki;
    cells.push(("everyone at once", "server", "certificate".into(), Box::new(move || everyone_cell(&all, Some(p)))));
    run_matrix("qdtls::Server (examples/server.rs) against other clients", cells);
}
