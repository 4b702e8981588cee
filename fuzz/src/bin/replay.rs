//! Replay smoke test for machines without cargo-fuzz or a nightly toolchain:
//! runs each fuzz target's body (src/lib.rs) over every file of its seed
//! corpus, then over deterministic mutations of them (xorshift, fixed seed)
//! for a bounded time. Same checks as under libFuzzer, no coverage guidance.
//!
//! Usage: replay [--seconds N] CORPUS_DIR [TARGET...]
//! A failing input is written to artifacts/replay-TARGET-crash and the run
//! exits non-zero.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

type Target = fn(&[u8]) -> &'static str;

/// What the seed corpus alone must reach (a stale corpus, e.g. cookies made
/// with another secret, would not).
const SEEDS_MUST_REACH: [(&str, &str); 4] = [
    ("decrypt", "plaintext (one of our records, first delivery)"),
    ("server_first", "accepted: flight sent"),
    ("server", "peer created"),
    ("verify_client", "verified"),
];

const TARGETS: [(&str, Target); 4] = [
    ("decrypt", qdtls_fuzz::decrypt),
    ("server_first", qdtls_fuzz::server_first),
    ("server", qdtls_fuzz::server),
    ("verify_client", qdtls_fuzz::verify_client),
];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One to four edits of the kinds libFuzzer uses most: bit flips, byte
/// sets (also to interesting values), truncation, insertion, duplication of
/// a slice, and splicing with another corpus file. Bytes 0..header (the
/// targets' selector bytes) are mutated too, but less often.
fn mutate(rng: &mut Rng, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut d = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        if d.is_empty() {
            d.push(rng.next() as u8);
        }
        let i = rng.below(d.len());
        match rng.below(8) {
            0 => d[i] ^= 1 << rng.below(8),
            1 => d[i] = [0u8, 1, 0x7f, 0x80, 0xff, 22, 23, 0xfe, 0xfd][rng.below(9)],
            2 => d[i] = rng.next() as u8,
            3 => d.truncate(i),
            4 => {
                let b = rng.next() as u8;
                d.insert(i, b)
            }
            5 => {
                let end = (i + 1 + rng.below(32)).min(d.len());
                let chunk = d[i..end].to_vec();
                let at = rng.below(d.len() + 1);
                d.splice(at..at, chunk);
            }
            6 if !other.is_empty() => {
                let from = rng.below(other.len());
                let take = (rng.below(64) + 1).min(other.len() - from);
                d.truncate(i);
                d.extend_from_slice(&other[from..from + take]);
            }
            _ => {
                // A 16-bit length field somewhere gets a lie.
                if i + 1 < d.len() {
                    let v = (rng.next() as u16).to_be_bytes();
                    d[i] = v[0];
                    d[i + 1] = v[1];
                }
            }
        }
    }
    d
}

thread_local! {
    static CURRENT: RefCell<(String, Vec<u8>)> = const { RefCell::new((String::new(), Vec::new())) };
}

fn run(name: &str, f: Target, input: &[u8]) -> &'static str {
    CURRENT.with(|c| {
        let mut c = c.borrow_mut();
        c.0.clear();
        c.0.push_str(name);
        c.1.clear();
        c.1.extend_from_slice(input);
    });
    f(input)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut seconds = 10u64;
    let mut corpus = None;
    let mut only = Vec::new();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--seconds" => seconds = args.next().and_then(|s| s.parse().ok()).expect("--seconds N"),
            _ if corpus.is_none() => corpus = Some(PathBuf::from(a)),
            _ => only.push(a),
        }
    }
    let corpus = corpus.expect("usage: replay [--seconds N] CORPUS_DIR [TARGET...]");
    let artifacts = corpus.parent().unwrap_or(Path::new(".")).join("artifacts");
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        CURRENT.with(|c| {
            let c = c.borrow();
            let _ = std::fs::create_dir_all(&artifacts);
            let path = artifacts.join(format!("replay-{}-crash", c.0));
            let _ = std::fs::write(&path, &c.1);
            eprintln!("replay: {} failed on a {}-byte input, written to {}", c.0, c.1.len(), path.display());
        });
        default_hook(info);
    }));
    for (i, (name, f)) in TARGETS.iter().enumerate() {
        if !only.is_empty() && !only.iter().any(|o| o == name) {
            continue;
        }
        let dir = corpus.join(name);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        let seeds: Vec<Vec<u8>> = files.iter().map(|p| std::fs::read(p).unwrap()).collect();
        assert!(!seeds.is_empty(), "{}: empty corpus", dir.display());
        let started = Instant::now();
        let mut outcomes = std::collections::BTreeMap::<&str, u64>::new();
        for s in &seeds {
            *outcomes.entry(run(name, *f, s)).or_default() += 1;
        }
        for (target, must) in SEEDS_MUST_REACH {
            if target == *name {
                assert!(outcomes.contains_key(must), "{name}: the seed corpus never reaches {must:?}: {outcomes:?}");
            }
        }
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (i as u64 + 1));
        let deadline = started + Duration::from_secs(seconds);
        let mut mutated = 0u64;
        while Instant::now() < deadline {
            for _ in 0..64 {
                let a = &seeds[rng.below(seeds.len())];
                let b = &seeds[rng.below(seeds.len())];
                let m = mutate(&mut rng, a, b);
                *outcomes.entry(run(name, *f, &m)).or_default() += 1;
                mutated += 1;
            }
        }
        println!(
            "replay {name}: {} corpus files and {mutated} mutated inputs in {:.1} s: ok",
            seeds.len(),
            started.elapsed().as_secs_f64()
        );
        for (o, n) in &outcomes {
            println!("  {n:>9}  {o}");
        }
    }
}
