//! `idle`: memory per idle peer, and the timer calls' cost with 100 to 10,000 idle peers.

use std::time::{Duration, Instant};

use crate::endpoints::{configuration, peer_addr, sans_io_connect, server, Events, Null};
use crate::measure::{cpu_seconds, heap_bytes, note, rate, result, rss_bytes};
use crate::BoxResult;

pub fn idle(seconds: f64, peers: u32) -> BoxResult<()> {
    let stages: Vec<u32> = [100, 1_000, 10_000].into_iter().filter(|&s| s < peers).chain([peers]).collect();
    let cfg = configuration(true)?;
    let mut server = server(true)?;
    server.set_idle_timeout(Some(Duration::from_secs(3600)));
    let mut ev = Events::default();
    let mut sink = Null;
    // One peer first, so the context, the table's first allocations and lazy statics do not count.
    drop(sans_io_connect(&mut server, &cfg, peer_addr(0), &mut ev)?);
    server.next_timeout();
    server.handle_timeouts(&mut sink, &mut ev)?;
    let (rss0, heap0) = (rss_bytes(), heap_bytes());
    let t0 = Instant::now();
    let c0 = cpu_seconds();
    let mut made = 1u32;
    let mut build_cpu = 0.0;
    for &stage in &stages {
        let c1 = cpu_seconds();
        while made < stage {
            // The client's Dtls is dropped here: only the server's side of the peer stays.
            drop(sans_io_connect(&mut server, &cfg, peer_addr(made), &mut ev)?);
            made += 1;
        }
        build_cpu += cpu_seconds() - c1;
        if server.peer_count() != stage as usize || server.handshake_count() != 0 {
            return Err(format!("{} peers, {} handshaking", server.peer_count(), server.handshake_count()).into());
        }
        if stage == peers {
            let (rss1, heap1) = (rss_bytes(), heap_bytes());
            let n = f64::from(peers - 1);
            result("server_idle_rss_per_peer", (rss1 as f64 - rss0 as f64) / n, "bytes");
            result("server_idle_heap_per_peer", (heap1 as f64 - heap0 as f64) / n, "bytes");
            note(&format!(
                "idle: RSS {} -> {} kB, heap {} -> {} kB for {} more peers (clients dropped after each handshake)",
                rss0 / 1024,
                rss1 / 1024,
                heap0 / 1024,
                heap1 / 1024,
                peers - 1
            ));
        }
        // next_timeout() + handle_timeouts() with nothing due: every peer has an idle entry.
        let mut handled = 0usize;
        let r = rate(seconds / 3.0, 1000, || {
            std::hint::black_box(server.next_timeout());
            handled += server.handle_timeouts(&mut sink, &mut ev)?;
            Ok(1)
        })?;
        if handled != 0 || server.next_timeout().is_none() {
            return Err("a timer ran or none was set".into());
        }
        result(&format!("server_timer_ns_{stage}"), 1e9 / r.per_cpu_second, "ns");
    }
    let _ = (t0, c0);
    result("server_sans_io_handshakes", f64::from(peers - 1) / build_cpu, "hs/s");
    note(&format!(
        "idle: {} peers, {} closed, {} handshakes failed, idle timeout 3600 s",
        server.peer_count(),
        ev.closed,
        ev.failed
    ));
    Ok(())
}
