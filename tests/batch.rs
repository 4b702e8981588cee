//! The batch calls: many datagrams encrypted and sent with sendmmsg, many
//! received with recvmmsg and decrypted in place.

mod common;

use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use common::harness::*;
use qdtls::ffi::dtls::*;
use qdtls::ffi::*;

fn established() -> (Link, Box<Psk>, Box<Psk>) {
    let (cp, sp) = (Psk::new(b"batch", b"batch key"), Psk::new(b"", b"batch key"));
    let mut l = Link::psk(&cp, &sp);
    assert!(l.handshake(Duration::from_secs(10)), "{}", l.client.error_string());
    // Batch receive needs connected sockets.
    l.ssock.connect(l.csock.local_addr().unwrap()).unwrap();
    l.csock.connect(l.ssock.local_addr().unwrap()).unwrap();
    (l, cp, sp)
}

fn payload(i: usize) -> Vec<u8> {
    format!("datagram {i:04} ").repeat(1 + i % 50).into_bytes()
}

/// Receives until `n` datagrams arrived (or a generous deadline), in batches.
fn receive_all(d: &Dtls, s: &std::net::UdpSocket, n: usize) -> Vec<Vec<u8>> {
    let mut storage = vec![vec![0u8; 2048]; 16];
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while got.len() < n && Instant::now() < deadline {
        let mut bufs: Vec<qdtls_receive_buffer> = storage
            .iter_mut()
            .map(|b| qdtls_receive_buffer { data: b.as_mut_ptr(), capacity: b.len(), result: 99 })
            .collect();
        let k = unsafe { qdtls_receive_datagrams_decrypted(d.0, s.as_raw_fd(), bufs.as_mut_ptr(), bufs.len()) };
        assert!(k >= 0, "{}", d.error_string());
        for (b, store) in bufs.iter().zip(&storage).take(k as usize) {
            assert!(b.result >= 0, "{}", d.error_string());
            got.push(store[..b.result as usize].to_vec());
        }
        assert!(bufs[k as usize..].iter().all(|b| b.result == 99), "untouched beyond what arrived");
        if k == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    got
}

#[test]
fn a_batch_is_sent_and_received_in_order() {
    let (l, _cp, _sp) = established();
    let data: Vec<Vec<u8>> = (0..150).map(payload).collect();
    let list: Vec<qdtls_datagram> = data.iter().map(|d| qdtls_datagram { data: d.as_ptr(), len: d.len() }).collect();
    let n = unsafe { qdtls_write_datagrams_encrypted(l.client.0, l.csock.as_raw_fd(), list.as_ptr(), list.len()) };
    assert_eq!(n, 150, "{}", l.client.error_string());
    assert_eq!(receive_all(&l.server, &l.ssock, 150), data);
    // And the other way, mixed with a single write.
    assert_eq!(l.server.write(&l.ssock, b"single"), 6);
    let n = unsafe { qdtls_write_datagrams_encrypted(l.server.0, l.ssock.as_raw_fd(), list.as_ptr(), 3) };
    assert_eq!(n, 3);
    let got = receive_all(&l.client, &l.csock, 4);
    assert_eq!(got[0], b"single");
    assert_eq!(&got[1..], &data[..3]);
}

#[test]
fn a_batch_with_one_oversized_datagram_sends_nothing() {
    let (l, _cp, _sp) = established();
    let big = vec![0u8; 17 * 1024];
    let list = [qdtls_datagram { data: b"ok".as_ptr(), len: 2 }, qdtls_datagram { data: big.as_ptr(), len: big.len() }];
    let n = unsafe { qdtls_write_datagrams_encrypted(l.client.0, l.csock.as_raw_fd(), list.as_ptr(), 2) };
    assert_eq!(n, -1);
    assert_eq!(l.client.error(), QDTLS_ERROR_TLS_FATAL_ERROR);
    assert!(l.client.encrypted());
    assert!(recv(&l.ssock).is_none(), "nothing of a refused batch is sent");
    // NULL entries are refused too, and an empty batch is fine.
    let null = [qdtls_datagram { data: std::ptr::null(), len: 3 }];
    assert_eq!(unsafe { qdtls_write_datagrams_encrypted(l.client.0, l.csock.as_raw_fd(), null.as_ptr(), 1) }, -1);
    assert_eq!(l.client.error(), QDTLS_ERROR_INVALID_INPUT_PARAMETERS);
    assert_eq!(unsafe { qdtls_write_datagrams_encrypted(l.client.0, l.csock.as_raw_fd(), std::ptr::null(), 0) }, 0);
    assert_eq!(l.client.error(), QDTLS_ERROR_NO_ERROR);
}

#[test]
fn batch_receive_checks_socket_state_and_buffer_sizes() {
    let (l, _cp, _sp) = established();
    let mut small = [0u8; 16];
    let mut buf = [qdtls_receive_buffer { data: small.as_mut_ptr(), capacity: small.len(), result: 0 }];
    assert_eq!(unsafe { qdtls_receive_datagrams_decrypted(l.server.0, -1, buf.as_mut_ptr(), 1) }, -1);
    assert_eq!(l.server.error(), QDTLS_ERROR_INVALID_INPUT_PARAMETERS);
    // An unconnected socket could deliver other peers' datagrams: refused.
    let loose = udp();
    assert_eq!(unsafe { qdtls_receive_datagrams_decrypted(l.server.0, loose.as_raw_fd(), buf.as_mut_ptr(), 1) }, -1);
    assert_eq!(l.server.error(), QDTLS_ERROR_INVALID_OPERATION);
    // Nothing queued: 0 at once.
    assert_eq!(unsafe { qdtls_receive_datagrams_decrypted(l.server.0, l.ssock.as_raw_fd(), buf.as_mut_ptr(), 1) }, 0);
    // A datagram larger than its buffer is refused, and the next one is fine.
    assert_eq!(l.client.write(&l.csock, &[7u8; 100]), 100);
    assert_eq!(l.client.write(&l.csock, b"tiny"), 4);
    std::thread::sleep(Duration::from_millis(50));
    let mut big = [0u8; 256];
    let mut bufs = [
        qdtls_receive_buffer { data: small.as_mut_ptr(), capacity: small.len(), result: 0 },
        qdtls_receive_buffer { data: big.as_mut_ptr(), capacity: big.len(), result: 0 },
    ];
    assert_eq!(unsafe { qdtls_receive_datagrams_decrypted(l.server.0, l.ssock.as_raw_fd(), bufs.as_mut_ptr(), 2) }, 2);
    assert_eq!(bufs[0].result, -1);
    assert_eq!(bufs[1].result, 4);
    assert_eq!(&big[..4], b"tiny");
    // Not encrypted: refused before anything is read.
    let fresh = Dtls::client();
    assert_eq!(unsafe { qdtls_receive_datagrams_decrypted(fresh.0, l.csock.as_raw_fd(), bufs.as_mut_ptr(), 2) }, -1);
    assert_eq!(fresh.error(), QDTLS_ERROR_INVALID_OPERATION);
}

#[test]
fn equal_sized_batches_arrive_as_separate_datagrams() {
    // Equal sizes take the UDP GSO path where the kernel has it: the kernel
    // must cut the run at exactly the record boundaries.
    let (l, _cp, _sp) = established();
    let data: Vec<Vec<u8>> = (0..100u8).map(|i| vec![i; 1000]).collect();
    let mut list: Vec<qdtls_datagram> =
        data.iter().map(|d| qdtls_datagram { data: d.as_ptr(), len: d.len() }).collect();
    list.push(qdtls_datagram { data: b"short tail".as_ptr(), len: 10 });
    let n = unsafe { qdtls_write_datagrams_encrypted(l.client.0, l.csock.as_raw_fd(), list.as_ptr(), list.len()) };
    assert_eq!(n, 101, "{}", l.client.error_string());
    let mut sizes = Vec::new();
    for (i, want) in data.iter().enumerate() {
        let (d, _) = recv(&l.ssock).unwrap_or_else(|| panic!("datagram {i} missing"));
        sizes.push(d.len());
        assert_eq!(l.server.decrypt(&l.ssock, &d).as_ref(), Some(want), "datagram {i}");
    }
    let (tail, _) = recv(&l.ssock).expect("the short tail");
    assert_eq!(l.server.decrypt(&l.ssock, &tail).as_deref(), Some(&b"short tail"[..]));
    assert!(sizes.iter().all(|s| *s == sizes[0]), "one record per datagram: {sizes:?}");
}
