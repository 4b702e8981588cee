//! Measuring and reporting: the CPU clocks, RSS and heap, bench.hpp's
//! rate(), measurements taking turns (`alternating`), the `RESULT`, `WALL`,
//! `CPUSHARE` and `NOTE` lines, and `--only`.

use std::time::Instant;

use crate::BoxResult;

pub const IMPL: &str = "rust-server";

/// `--only METRIC`: run only the measurement of that metric (for profiling).
pub static ONLY: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();

pub fn wanted(metric: &str) -> bool {
    ONLY.get().and_then(|o| o.as_deref()).is_none_or(|o| o == metric)
}

pub fn clock(id: libc::clockid_t) -> f64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: ts is a valid timespec for the call to fill.
    unsafe { libc::clock_gettime(id, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

pub fn cpu_seconds() -> f64 {
    clock(libc::CLOCK_PROCESS_CPUTIME_ID)
}

pub fn thread_cpu_seconds() -> f64 {
    clock(libc::CLOCK_THREAD_CPUTIME_ID)
}

/// Resident set size from /proc/self/statm (pages in memory, second field).
pub fn rss_bytes() -> u64 {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = s.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    pages * unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64
}

/// Bytes of heap in use (glibc's mallinfo2: uordblks + hblkhd), as benches/common.cpp.
pub fn heap_bytes() -> u64 {
    // SAFETY: mallinfo2 has no preconditions.
    let m = unsafe { libc::mallinfo2() };
    (m.uordblks + m.hblkhd) as u64
}

pub struct Rate {
    pub per_cpu_second: f64,
    pub per_wall_second: f64,
    pub cpu_share: f64,
}

/// bench.hpp's rate(): a warm-up, then `op` for `seconds` of elapsed time,
/// the clocks read every `stride` calls; `op` returns how many operations it did.
pub fn rate(seconds: f64, stride: u32, mut op: impl FnMut() -> BoxResult<u64>) -> BoxResult<Rate> {
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
            n += op()?;
        }
        t = t0.elapsed().as_secs_f64();
        if t >= seconds {
            break;
        }
    }
    let c = cpu_seconds() - c0;
    Ok(Rate { per_cpu_second: n as f64 / c, per_wall_second: n as f64 / t, cpu_share: c / t })
}

pub fn result(metric: &str, value: f64, unit: &str) {
    println!("RESULT {metric} {IMPL} {value:.6} {unit}");
}

pub fn report(metric: &str, r: &Rate, unit: &str) {
    result(metric, r.per_cpu_second, unit);
    println!("WALL {metric} {IMPL} {:.6} {unit}", r.per_wall_second);
    println!("CPUSHARE {metric} {IMPL} {:.3}", r.cpu_share);
}

pub fn note(text: &str) {
    println!("NOTE {text}");
}

/// Segments of the measurements take turns: measurement `i` (of `names`)
/// runs `step(i)` (one chunk: it returns how many operations it did and the
/// CPU time of the part it timed itself, 0 if none) for a segment of
/// `seconds / 4`, whose first 15 % warm up and are not counted; then the
/// next measurement has its segment; four rounds. Each measurement runs
/// alone during its segment (its own working set, as in a process of its
/// own), and a slow phase of the machine (it shares its host) hits every
/// measurement in some round: the best segment counts. Returns, per
/// measurement, operations per process CPU-second and per CPU-second of the
/// self-timed part. `--only` keeps one measurement.
pub fn alternating(
    seconds: f64,
    names: &[&str],
    mut step: impl FnMut(usize) -> BoxResult<(u64, f64)>,
) -> BoxResult<Vec<(f64, f64)>> {
    const ROUNDS: usize = 4;
    let active: Vec<usize> = (0..names.len()).filter(|&i| wanted(names[i])).collect();
    let segment = seconds / ROUNDS as f64;
    let mut best = vec![(-1.0f64, -1.0f64); names.len()];
    let (mut total_cpu, t_all) = (0.0, Instant::now());
    for _ in 0..ROUNDS {
        for &i in &active {
            let t0 = Instant::now();
            while t0.elapsed().as_secs_f64() < segment * 0.15 {
                step(i)?;
            }
            let (mut n, mut own) = (0u64, 0.0);
            let (t0, c0) = (Instant::now(), cpu_seconds());
            while t0.elapsed().as_secs_f64() < segment {
                let (k, o) = step(i)?;
                n += k;
                own += o;
            }
            let cpu = cpu_seconds() - c0;
            total_cpu += cpu;
            let b = &mut best[i];
            b.0 = b.0.max(n as f64 / cpu);
            if own > 0.0 {
                b.1 = b.1.max(n as f64 / own);
            }
        }
    }
    let measured = t_all.elapsed().as_secs_f64() * 0.85;
    println!("CPUSHARE {} {IMPL} {:.3}", names.join("+"), (total_cpu / measured).min(1.0));
    Ok(best)
}
