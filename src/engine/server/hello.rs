//! The server's stateless cookie exchange (RFC 6347 4.2.1): a ClientHello
//! from an unknown source is read here, without OpenSSL and without any
//! per-source state, and answered with a HelloVerifyRequest until it
//! carries the cookie for its address. Only then does a session exist.
//!
//! OpenSSL's DTLSv1_listen does the same but costs a cleared SSL per
//! datagram; this path is a parse, one HMAC and one small write, so a flood
//! of spoofed hellos costs little and allocates nothing.

use std::net::SocketAddr;

use super::cookies::{Cookies, Keyed};

const HEADER: usize = 13;
const HS_HEADER: usize = 12;
const CONTENT_HANDSHAKE: u8 = 22;
const CLIENT_HELLO: u8 = 1;
const HELLO_VERIFY_REQUEST: u8 = 3;
/// RFC 6347 4.2.1: a HelloVerifyRequest carries DTLS 1.0's version whatever
/// version is negotiated later.
const DTLS1_0: [u8; 2] = [0xfe, 0xff];

/// What the first record of a datagram from an unknown source is.
#[derive(Debug, PartialEq, Eq)]
pub enum Hello<'a> {
    /// Not an unfragmented epoch-0 ClientHello: dropped.
    Other,
    /// A ClientHello: the cookie it carries (empty for none), its record
    /// sequence number, and the client's random (the same in a handshake's
    /// every ClientHello, new when a client starts over).
    ClientHello { cookie: &'a [u8], record_seq: [u8; 8], random: [u8; 32] },
}

fn u16_at(b: &[u8], i: usize) -> usize {
    usize::from(b[i]) << 8 | usize::from(b[i + 1])
}

fn u24_at(b: &[u8], i: usize) -> usize {
    usize::from(b[i]) << 16 | u16_at(b, i + 1)
}

/// Reads the datagram's first record as a ClientHello: epoch 0, the whole
/// message in one fragment, a DTLS version, the cookie within the message.
pub fn parse(dgram: &[u8]) -> Hello<'_> {
    parse_hello(dgram).unwrap_or(Hello::Other)
}

fn parse_hello(d: &[u8]) -> Option<Hello<'_>> {
    if d.len() < HEADER + HS_HEADER || d[0] != CONTENT_HANDSHAKE || d[1] != 0xfe || u16_at(d, 3) != 0 {
        return None;
    }
    let record_len = u16_at(d, 11);
    let record = d.get(HEADER..HEADER + record_len)?;
    let (hs, body) = record.split_at_checked(HS_HEADER)?;
    let msg_len = u24_at(hs, 1);
    let unfragmented = u24_at(hs, 6) == 0 && u24_at(hs, 9) == msg_len;
    if hs[0] != CLIENT_HELLO || !unfragmented || body.len() < msg_len {
        return None;
    }
    // client_version(2) random(32) session_id<0..32> cookie<0..255>
    let body = &body[..msg_len];
    let sid_len = usize::from(*body.get(34)?);
    let cookie_at = 35 + sid_len;
    let cookie_len = usize::from(*body.get(cookie_at)?);
    let cookie = body.get(cookie_at + 1..cookie_at + 1 + cookie_len)?;
    if sid_len > 32 {
        return None;
    }
    let mut record_seq = [0u8; 8];
    record_seq.copy_from_slice(&d[3..11]);
    let mut random = [0u8; 32];
    random.copy_from_slice(&body[2..34]);
    Some(Hello::ClientHello { cookie, record_seq, random })
}

/// Writes the HelloVerifyRequest for `peer` into `out`, as OpenSSL's
/// DTLSv1_listen does: the client's record sequence number, version DTLS
/// 1.0, message sequence 0. Returns its length, or None when no cookie can
/// be made.
pub fn hello_verify_request(
    cookies: &Cookies,
    keyed: &mut Keyed,
    peer: &SocketAddr,
    record_seq: [u8; 8],
    out: &mut [u8; 128],
) -> Option<usize> {
    let mut cookie = [0u8; 64];
    let n = cookies.make_keyed(keyed, peer, &mut cookie)?;
    let body = 2 + 1 + n;
    let total = HEADER + HS_HEADER + body;
    let rec_len = (HS_HEADER + body) as u16;
    out[0] = CONTENT_HANDSHAKE;
    out[1..3].copy_from_slice(&DTLS1_0);
    out[3..11].copy_from_slice(&record_seq); // epoch 0 and the client's sequence number
    out[11..13].copy_from_slice(&rec_len.to_be_bytes());
    let hs = &mut out[HEADER..];
    hs[0] = HELLO_VERIFY_REQUEST;
    let b = (body as u32).to_be_bytes();
    hs[1..4].copy_from_slice(&b[1..]); // length
    hs[4..6].copy_from_slice(&[0, 0]); // message_seq
    hs[6..9].copy_from_slice(&[0, 0, 0]); // fragment_offset
    hs[9..12].copy_from_slice(&b[1..]); // fragment_length
    let v = &mut hs[HS_HEADER..];
    v[..2].copy_from_slice(&DTLS1_0);
    v[2] = n as u8;
    v[3..3 + n].copy_from_slice(&cookie[..n]);
    Some(total)
}

/// Whether the datagram's first record is a ClientHello of epoch 0 (a
/// client starting over on the same address), fragmented or not.
pub fn is_client_hello(d: &[u8]) -> bool {
    d.len() > HEADER && d[0] == CONTENT_HANDSHAKE && u16_at(d, 3) == 0 && d[HEADER] == CLIENT_HELLO
}

/// Whether a datagram belongs to a handshake rather than to an established
/// session's traffic: its first record is a handshake message or a
/// ChangeCipherSpec, or it is unprotected (epoch 0).
pub fn is_handshake_traffic(d: &[u8]) -> bool {
    d.len() >= HEADER && (d[0] == CONTENT_HANDSHAKE || d[0] == 20 || u16_at(d, 3) == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello(cookie: &[u8]) -> Vec<u8> {
        let mut body = vec![0xfe, 0xfd];
        body.extend_from_slice(&[7u8; 32]);
        body.push(0); // session id
        body.push(cookie.len() as u8);
        body.extend_from_slice(cookie);
        body.extend_from_slice(&[0, 2, 0xc0, 0x2b, 1, 0]); // one suite, null compression
        let mut hs = vec![CLIENT_HELLO];
        let l = (body.len() as u32).to_be_bytes();
        hs.extend_from_slice(&l[1..]);
        hs.extend_from_slice(&[0, 0, 0, 0, 0]);
        hs.extend_from_slice(&l[1..]);
        hs.extend_from_slice(&body);
        let mut rec = vec![CONTENT_HANDSHAKE, 0xfe, 0xff, 0, 0, 0, 0, 0, 0, 0, 5];
        rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
        rec.extend_from_slice(&hs);
        rec
    }

    #[test]
    fn reads_the_cookie() {
        let expected = Hello::ClientHello { cookie: b"", record_seq: [0, 0, 0, 0, 0, 0, 0, 5], random: [7; 32] };
        assert_eq!(parse(&hello(b"")), expected);
        assert!(matches!(parse(&hello(b"abc")), Hello::ClientHello { cookie: b"abc", .. }));
    }

    #[test]
    fn refuses_everything_else() {
        let h = hello(b"abc");
        for cut in 0..h.len() {
            assert_eq!(parse(&h[..cut]), Hello::Other, "truncated at {cut}");
        }
        let mut epoch1 = h.clone();
        epoch1[4] = 1;
        assert_eq!(parse(&epoch1), Hello::Other);
        let mut fragment = h.clone();
        fragment[HEADER + 11] -= 1; // fragment_length short of the message
        assert_eq!(parse(&fragment), Hello::Other);
        let mut long_sid = h.clone();
        long_sid[HEADER + HS_HEADER + 34] = 33;
        assert_eq!(parse(&long_sid), Hello::Other);
    }

    #[test]
    fn the_smallest_hello_is_larger_than_the_largest_answer() {
        // A forged ClientHello this small is dropped by the server, not
        // answered (no amplification); the check is against the real answer.
        let p = crate::engine::cookie::CookieParams::new(crate::engine::cookie::hash::SHA512, b"k").unwrap();
        let cookies = Cookies::new();
        cookies.set(p);
        let mut out = [0u8; 128];
        let peer: SocketAddr = "192.0.2.1:1".parse().unwrap();
        let n = hello_verify_request(&cookies, &mut Keyed::default(), &peer, [0; 8], &mut out).unwrap();
        assert_eq!(n, 13 + 12 + 3 + 64);
        assert!(hello(b"").len() < n, "so a minimal forged hello is dropped under SHA-512 cookies");
    }

    #[test]
    fn answers_with_the_cookie_of_the_address() {
        let cookies = Cookies::new();
        let peer: SocketAddr = "192.0.2.1:4433".parse().unwrap();
        let mut out = [0u8; 128];
        let n =
            hello_verify_request(&cookies, &mut Keyed::default(), &peer, [0, 0, 0, 0, 0, 0, 0, 9], &mut out).unwrap();
        assert_eq!(&out[..3], &[22, 0xfe, 0xff]);
        assert_eq!(out[10], 9);
        let cookie = &out[HEADER + HS_HEADER + 3..n];
        assert!(cookies.verify(&peer, cookie));
        assert!(!cookies.verify(&"192.0.2.1:4434".parse().unwrap(), cookie));
    }
}
