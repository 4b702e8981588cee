//! Real peers as child processes (openssl, gnutls, libcoap tools) and
//! what they need: free ports and files in a temporary directory.

use std::io::{Read, Write};
use std::net::UdpSocket;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A peer process: stdout and stderr are collected by reader threads; killed
/// and reaped on drop whatever happened.
pub struct Peer {
    pub name: String,
    pub child: Child,
    stdin: Option<ChildStdin>,
    out: Arc<Mutex<Vec<u8>>>,
    readers: Vec<JoinHandle<()>>,
}

impl Peer {
    pub fn spawn(program: &str, args: &[String]) -> Result<Peer, String> {
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run {program}: {e}"))?;
        let out = Arc::new(Mutex::new(Vec::new()));
        let mut readers = Vec::new();
        let stdout: Box<dyn Read + Send> = Box::new(child.stdout.take().unwrap());
        let stderr: Box<dyn Read + Send> = Box::new(child.stderr.take().unwrap());
        // Both streams go into one buffer: the tools print status on either.
        for mut stream in [stdout, stderr] {
            let out = out.clone();
            readers.push(std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    out.lock().unwrap().extend_from_slice(&buf[..n]);
                }
            }));
        }
        let stdin = child.stdin.take();
        Ok(Peer { name: program.to_owned(), child, stdin, out, readers })
    }

    pub fn output(&self) -> String {
        String::from_utf8_lossy(&self.out.lock().unwrap()).into_owned()
    }

    pub fn has(&self, needle: &str) -> bool {
        self.output().contains(needle)
    }

    /// Waits until the peer printed `needle`; the error shows its output.
    pub fn wait_for(&mut self, needle: &str, limit: Duration) -> Result<(), String> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self.has(needle) {
                return Ok(());
            }
            if let Ok(Some(st)) = self.child.try_wait() {
                // Let the readers catch up with what it printed last.
                std::thread::sleep(Duration::from_millis(50));
                if self.has(needle) {
                    return Ok(());
                }
                return Err(format!("{} exited ({st}) before printing {needle:?}:\n{}", self.name, self.tail()));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Err(format!("{} did not print {needle:?} within {limit:?}:\n{}", self.name, self.tail()))
    }

    pub fn send_line(&mut self, line: &str) -> Result<(), String> {
        let stdin = self.stdin.as_mut().ok_or("stdin already closed")?;
        stdin.write_all(format!("{line}\n").as_bytes()).and_then(|_| stdin.flush()).map_err(|e| e.to_string())
    }

    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    pub fn wait_exit(&mut self, limit: Duration) -> Result<ExitStatus, String> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Ok(st);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Err(format!("{} still running after {limit:?}:\n{}", self.name, self.tail()))
    }

    /// The last lines of the output, for error messages.
    pub fn tail(&self) -> String {
        let out = self.output();
        let lines: Vec<&str> = out.lines().collect();
        lines[lines.len().saturating_sub(25)..].join("\n")
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.stdin = None;
        let _ = self.child.kill();
        let _ = self.child.wait();
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
    }
}

/// A UDP port that was free a moment ago (the tools bind it themselves).
pub fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A temporary directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let p = std::env::temp_dir().join(format!("qdtls-test-{}-{tag}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn write(&self, name: &str, content: &str) -> String {
        let p = self.0.join(name);
        std::fs::write(&p, content).unwrap();
        p.to_string_lossy().into_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One cell of an interop matrix: peer, our role, case, and the check
/// (Ok: a detail to print; Err: why it failed).
pub type Cell<'a> = (&'static str, &'static str, String, Box<dyn FnOnce() -> Result<String, String> + 'a>);

/// Runs the cells one after the other, prints the matrix, and fails unless
/// every cell passed (a panicking cell is a failed one).
pub fn run_matrix(title: &str, cells: Vec<Cell>) {
    let started = Instant::now();
    let mut failed = Vec::new();
    let mut rows = Vec::new();
    for (peer, role, case, cell) in cells {
        let t = Instant::now();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(cell))
            .unwrap_or_else(|p| Err(format!("panic: {:?}", p.downcast_ref::<String>())));
        rows.push(format!(
            "{peer:<20} {role:<7} {case:<28} {:<5} {:>5}  {}",
            if r.is_ok() { "ok" } else { "FAIL" },
            t.elapsed().as_millis(),
            r.as_deref().unwrap_or("")
        ));
        if let Err(e) = r {
            failed.push(format!("{peer} {case} (we are {role}): {e}"));
        }
    }
    println!("\n{title} (peer, our role, case, result, ms, detail):\n{}", rows.join("\n"));
    println!("{} cells, {} failed, {:?}", rows.len(), failed.len(), started.elapsed());
    assert!(failed.is_empty(), "failed cells:\n{}", failed.join("\n\n"));
}
