//! `data`: 1200-byte datagrams over loopback sockets, to `Dtls` sessions and
//! to the server, one by one and in bursts (`Server::receive`); `decrypt`:
//! the receive side alone, without sockets.

use std::io;
use std::mem::size_of;
use std::net::{Ipv4Addr, UdpSocket};
use std::os::fd::AsRawFd;

use qdtls::{Configuration, Dtls, SslMode};

use crate::endpoints::{
    client, configuration, feed, peer_addr, psk, sans_io_connect, server, server_handshake, Events, Null, Wire, MTU,
    PAYLOAD, SANS_IO_SERVER,
};
use crate::measure::{alternating, result, thread_cpu_seconds, wanted};
use crate::sockets::{big_receive_buffer, local_socket, wait_readable};
use crate::BoxResult;

/// A client and a server-mode `Dtls` established over `cs` and the server socket `ss`.
fn dtls_pair(cfg: &Configuration, cs: &UdpSocket, ss: &UdpSocket, buf: &mut [u8]) -> BoxResult<(Dtls, Dtls)> {
    let c = client(cfg, ss.local_addr()?)?;
    let s = Dtls::new(SslMode::Server);
    s.set_dtls_configuration(cfg)?;
    s.set_peer(cs.local_addr()?, "")?;
    s.set_mtu_hint(MTU);
    s.set_psk_callback(psk);
    c.do_handshake(&mut &*cs, &[])?;
    let mut idle = 0;
    while !(c.is_connection_encrypted() && s.is_connection_encrypted()) {
        let a = feed(&s, ss, buf)?;
        let b = feed(&c, cs, buf)?;
        if a + b == 0 {
            idle += 1;
            if idle >= 100 {
                return Err("pair handshake stuck".into());
            }
            wait_readable(&[cs.as_raw_fd(), ss.as_raw_fd()], 20);
        }
    }
    Ok((c, s))
}

/// Receives `n` queued datagrams with recvmmsg, without handling them (the control of the batch path).
fn recvmmsg_only(fd: i32, bufs: &mut [[u8; 2048]], n: usize) -> BoxResult<()> {
    let mut got = 0;
    while got < n {
        let want = (n - got).min(bufs.len());
        // SAFETY: all-zero headers and addresses are valid; every iovec points into `bufs`.
        let r = unsafe {
            let mut iov: Vec<libc::iovec> = bufs[..want]
                .iter_mut()
                .map(|b| libc::iovec { iov_base: b.as_mut_ptr().cast(), iov_len: b.len() })
                .collect();
            let mut names: Vec<libc::sockaddr_storage> = vec![std::mem::zeroed(); want];
            let mut hdrs: Vec<libc::mmsghdr> = (0..want).map(|_| std::mem::zeroed()).collect();
            for i in 0..want {
                hdrs[i].msg_hdr.msg_iov = &mut iov[i];
                hdrs[i].msg_hdr.msg_iovlen = 1;
                hdrs[i].msg_hdr.msg_name = (&mut names[i] as *mut libc::sockaddr_storage).cast();
                hdrs[i].msg_hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as u32;
            }
            libc::recvmmsg(fd, hdrs.as_mut_ptr(), want as u32, libc::MSG_DONTWAIT, std::ptr::null_mut())
        };
        if r <= 0 {
            return Err(format!("recvmmsg: {}", io::Error::last_os_error()).into());
        }
        got += r as usize;
    }
    Ok(())
}

pub fn data(seconds: f64) -> BoxResult<()> {
    const PEERS: usize = 1000;
    const BURST: usize = 32;
    const CHUNK: usize = 64;
    let lo = Ipv4Addr::LOCALHOST;
    let cfg = configuration(false)?;
    let payload = vec![b'x'; PAYLOAD];
    let mut buf = vec![0u8; 2048];
    let mut plain = vec![0u8; 2048];

    // Sessions without a server: Dtls pairs, their server sides on one socket, the
    // benchmark knowing which session each datagram is for (examples/bench_rust_api.rs
    // data; over 1,000 pairs, what 1,000 sessions cost without the server's lookup).
    let ps = local_socket(lo)?;
    big_receive_buffer(&ps, 4 << 20);
    let mut pairs = Vec::with_capacity(PEERS);
    for _ in 0..PEERS {
        let cs = local_socket(lo)?;
        let (c, s) = dtls_pair(&cfg, &cs, &ps, &mut buf)?;
        pairs.push((cs, c, s));
    }
    // The server with 1,000 established peers, each on its own client socket.
    let ss = local_socket(lo)?;
    big_receive_buffer(&ss, 4 << 20);
    let sa = ss.local_addr()?;
    let mut srv = server(false)?;
    let mut ev = Events::default();
    let mut clients = Vec::with_capacity(PEERS);
    for _ in 0..PEERS {
        let cs = local_socket(lo)?;
        let c = client(&cfg, sa)?;
        server_handshake(&mut srv, &ss, &c, &cs, &mut ev, &mut buf, None)?;
        clients.push((cs, c));
    }
    if srv.peer_count() != PEERS || srv.handshake_count() != 0 {
        return Err(format!("{} peers, {} handshaking", srv.peer_count(), srv.handshake_count()).into());
    }

    // One datagram at a time: a client encrypts and sends, the receiving side reads it
    // and decrypts it (a Dtls) or hands it to the server.
    let names = ["session_datagrams", "sessions_datagrams_1000", "server_datagrams_1", "server_datagrams_1000"];
    let mut next = [0usize; 4];
    let before = ev.datagrams;
    let mut sent = 0u64;
    let rates = alternating(seconds, &names, |i| {
        for _ in 0..CHUNK {
            let k = next[i];
            next[i] += 1;
            if i < 2 {
                let (cs, c, s) = &pairs[if i == 0 { 0 } else { k % PEERS }];
                c.write_datagram_encrypted(&mut &*cs, &payload)?;
                let n = ps.recv(&mut buf)?;
                let m = s.decrypt_datagram_into(&mut &ps, &buf[..n], &mut plain)?;
                if m != PAYLOAD {
                    return Err(format!("decrypted {m} bytes").into());
                }
            } else {
                let (cs, c) = &clients[if i == 2 { 0 } else { k % PEERS }];
                c.write_datagram_encrypted(&mut &*cs, &payload)?;
                let (n, from) = ss.recv_from(&mut buf)?;
                srv.handle_datagram(&mut &ss, from, &buf[..n], &mut ev)?;
                sent += 1;
            }
        }
        Ok((CHUNK as u64, 0.0))
    })?;
    if ev.datagrams - before != sent || ev.bad_datagrams != 0 {
        return Err(format!("{} datagrams reported for {sent} sent", ev.datagrams - before).into());
    }
    for (name, (r, _)) in names.iter().zip(&rates) {
        if *r > 0.0 {
            result(name, *r, "dgram/s");
        }
    }

    // Bursts: 32 consecutive peers send one each, then the server drains them: one by one
    // (recv_from + handle_datagram) or with Server::receive (recvmmsg); and, as the control
    // of what the receive calls cost, only received (recv_from, or recvmmsg), not handled.
    // The server side (the drain) is timed on this thread's clock.
    let names = [
        "server_burst_single_1",
        "server_burst_batch_1",
        "server_burst_single_1000",
        "server_burst_batch_1000",
        "server_burst_recvfrom_only",
        "server_burst_recvmmsg_only",
    ];
    let mut mbufs = vec![[0u8; 2048]; BURST];
    let mut next = 0usize;
    let before = ev.datagrams;
    let mut handled = 0u64;
    let rates = alternating(seconds, &names, |i| {
        let peers = if i < 2 { 1 } else { PEERS };
        for _ in 0..BURST {
            let (cs, c) = &clients[next % peers];
            next += 1;
            c.write_datagram_encrypted(&mut &*cs, &payload)?;
        }
        let t0 = thread_cpu_seconds();
        let mut got = 0;
        match i {
            1 | 3 => {
                while got < BURST {
                    got += srv.receive(&ss, &mut ev)?;
                }
                handled += BURST as u64;
            }
            0 | 2 => {
                while got < BURST {
                    let (n, from) = ss.recv_from(&mut buf)?;
                    srv.handle_datagram(&mut &ss, from, &buf[..n], &mut ev)?;
                    got += 1;
                }
                handled += BURST as u64;
            }
            4 => {
                while got < BURST {
                    std::hint::black_box(ss.recv_from(&mut buf)?);
                    got += 1;
                }
            }
            _ => recvmmsg_only(ss.as_raw_fd(), &mut mbufs, BURST)?,
        }
        Ok((BURST as u64, thread_cpu_seconds() - t0))
    })?;
    if ev.datagrams - before != handled || ev.bad_datagrams != 0 {
        return Err(format!("{} datagrams reported for {handled} sent", ev.datagrams - before).into());
    }
    for (name, (whole, own)) in names.iter().zip(&rates) {
        if *whole > 0.0 {
            result(name, *whole, "dgram/s");
            // The receiving side only: datagrams per CPU-second spent draining.
            result(&format!("{name}_server_only"), *own, "dgram/s");
        }
    }
    Ok(())
}

// ---- decrypt: the server's receive side without sockets -------------------------------------------

/// A client and a server-mode `Dtls` established through in-memory wires.
fn sans_io_pair(cfg: &Configuration, i: u32) -> BoxResult<(Dtls, Dtls)> {
    let c = client(cfg, SANS_IO_SERVER)?;
    let s = Dtls::new(SslMode::Server);
    s.set_dtls_configuration(cfg)?;
    s.set_peer(peer_addr(i), "")?;
    s.set_psk_callback(psk);
    let (mut cout, mut sout) = (Wire::default(), Wire::default());
    c.do_handshake(&mut cout, &[])?;
    for _ in 0..32 {
        while let Some((d, _)) = cout.0.pop_front() {
            if !s.is_connection_encrypted() {
                s.do_handshake(&mut sout, &d)?;
            }
        }
        while let Some((d, _)) = sout.0.pop_front() {
            if !c.is_connection_encrypted() {
                c.do_handshake(&mut cout, &d)?;
            }
        }
        if c.is_connection_encrypted() && s.is_connection_encrypted() {
            return Ok((c, s));
        }
    }
    Err("sans-I/O pair handshake did not complete".into())
}

/// The receive side alone, without system calls: datagrams encrypted
/// beforehand by the clients (round-robin over the peers, or all from the
/// first), then decrypted by plain server-mode `Dtls` sessions (the
/// benchmark knowing which) or handed to `Server::handle_datagram`. Every
/// measurement reads as many datagrams, so all stream through the same
/// amount of memory (`--seconds` scales their number: 80 per peer and
/// second), and the four take turns, a quarter of each at a time.
pub fn decrypt(seconds: f64) -> BoxResult<()> {
    const PEERS: u32 = 1000;
    // 100 datagrams per peer with the default 1.25 s (123 MB of datagrams).
    let per_peer = ((seconds * 80.0) as usize).max(10);
    let cfg = configuration(false)?;
    let payload = vec![b'x'; PAYLOAD];
    let mut plain = vec![0u8; 2048];
    let total = PEERS as usize * per_peer;
    let mut pairs = Vec::new();
    if wanted("sansio_sessions_decrypt_1") || wanted("sansio_sessions_decrypt_1000") {
        // One more than PEERS: the last one is the single session's (its datagrams,
        // decrypted between the others', must not fall behind its replay window).
        for i in 0..=PEERS {
            pairs.push(sans_io_pair(&cfg, i)?);
        }
    }
    let mut srv = server(false)?;
    let mut ev = Events::default();
    let mut clients = Vec::new();
    if wanted("sansio_server_decrypt_1") || wanted("sansio_server_decrypt_1000") {
        for i in 0..=PEERS {
            clients.push(sans_io_connect(&mut srv, &cfg, peer_addr(i), &mut ev)?);
        }
    }
    // Datagrams of `who`: round-robin over the first PEERS, or all from the last one.
    let encrypt = |who: &[&Dtls], peers: usize| -> BoxResult<Vec<(usize, Vec<u8>)>> {
        let mut out = Vec::with_capacity(total);
        let mut w = Wire::default();
        for k in 0..total {
            let i = if peers == 1 { PEERS as usize } else { k % peers };
            who[i].write_datagram_encrypted(&mut w, &payload)?;
            out.push((i, w.0.pop_front().ok_or("no datagram")?.0));
        }
        Ok(out)
    };
    let names = [
        "sansio_sessions_decrypt_1",
        "sansio_sessions_decrypt_1000",
        "sansio_server_decrypt_1",
        "sansio_server_decrypt_1000",
    ];
    let pair_clients: Vec<&Dtls> = pairs.iter().map(|p| &p.0).collect();
    let server_clients: Vec<&Dtls> = clients.iter().collect();
    let mut streams = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let who = if i < 2 { &pair_clients } else { &server_clients };
        streams.push(if wanted(name) {
            encrypt(who, if i % 2 == 0 { 1 } else { PEERS as usize })?
        } else {
            Vec::new()
        });
    }
    // The four decrypt in turn, a quarter of each stream at a time (its first 15 % not
    // timed, as a warm-up), on this thread's clock; the best quarter counts.
    const ROUNDS: usize = 4;
    let mut best = [0f64; 4];
    let before = ev.datagrams;
    for round in 0..ROUNDS {
        for i in 0..4 {
            let len = streams[i].len();
            let slice = &streams[i][round * len / ROUNDS..(round + 1) * len / ROUNDS];
            let warm = slice.len() * 15 / 100;
            let mut c0 = thread_cpu_seconds();
            for (j, (k, d)) in slice.iter().enumerate() {
                if j == warm {
                    c0 = thread_cpu_seconds();
                }
                if i < 2 {
                    let n = pairs[*k].1.decrypt_datagram_into(&mut Null, d, &mut plain)?;
                    if n != PAYLOAD {
                        return Err(format!("decrypted {n} bytes").into());
                    }
                } else {
                    srv.handle_datagram(&mut Null, peer_addr(*k as u32), d, &mut ev)?;
                }
            }
            if slice.len() > warm {
                best[i] = best[i].max((slice.len() - warm) as f64 / (thread_cpu_seconds() - c0));
            }
        }
    }
    let to_server = (streams[2].len() + streams[3].len()) as u64;
    if ev.datagrams - before != to_server || ev.bad_datagrams != 0 {
        return Err(format!("{} datagrams reported for {to_server}", ev.datagrams - before).into());
    }
    for i in 0..4 {
        if !streams[i].is_empty() {
            result(names[i], best[i], "dgram/s");
        }
    }
    Ok(())
}
