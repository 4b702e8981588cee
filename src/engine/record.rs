//! DTLS record framing, checked before OpenSSL sees a datagram, where
//! OpenSSL 3.0 would otherwise turn harmless garbage into a fatal error.

use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::ssl::SslRef;

const HEADER: usize = 13;
const CONTENT_HANDSHAKE: u8 = 22;
const CLIENT_HELLO: u8 = 1;

fn u16_at(b: &[u8], i: usize) -> usize {
    usize::from(b[i]) << 8 | usize::from(b[i + 1])
}

fn u24_at(b: &[u8], i: usize) -> usize {
    usize::from(b[i]) << 16 | u16_at(b, i + 1)
}

/// The shortest body a protected record can have with the negotiated cipher
/// (0 before one is negotiated). OpenSSL 3.0 answers a shorter one with a
/// fatal alert (AEAD "internal error", ETM "length too short") instead of
/// dropping it as RFC 6347 4.1.2.7 asks, so anyone could kill a session
/// with one forged datagram.
pub fn min_protected_body(ssl: &SslRef) -> usize {
    let Some(c) = ssl.current_cipher() else { return 0 };
    let name = c.name();
    if name.contains("CHACHA20") || name.contains("CCM8") {
        16 // tag (+ 8-byte explicit nonce for CCM8, whose tag is 8)
    } else if name.contains("GCM") || name.contains("CCM") {
        24 // 8-byte explicit nonce + 16-byte tag
    } else {
        // CBC: explicit IV, at least one byte, and the MAC.
        let mac = mac_size(name).unwrap_or(20);
        16 + mac + 1
    }
}

fn mac_size(cipher: &str) -> Option<usize> {
    let nid = if cipher.ends_with("SHA384") {
        Nid::SHA384
    } else if cipher.ends_with("SHA256") {
        Nid::SHA256
    } else {
        Nid::SHA1
    };
    MessageDigest::from_nid(nid).map(|d| d.size())
}

/// Largest record body OpenSSL accepts (SSL3_RT_MAX_ENCRYPTED_LENGTH).
const MAX_BODY: usize = 16384 + 2048;
const CONTENT_ALERT: u8 = 21;
const DTLS1_0: u16 = 0xfeff;
const DTLS1_2: u16 = 0xfefd;

/// Copies `dgram` into `out` without the protected records (epoch > 0) that
/// are shorter than `min_body`. Once a cipher is negotiated (`min_body > 0`)
/// the copy also ends at the first record OpenSSL would not frame as we do
/// (unknown content type, a version other than the session's `version`,
/// an oversized or truncated body): OpenSSL skips only such a header and
/// reads on from the next byte, so a short record hidden behind it would
/// otherwise reach OpenSSL. Genuine datagrams never contain such records,
/// with one exception: unprotected handshake records of a handshake that
/// resumes a session (which has a cipher before it starts) may carry DTLS
/// 1.0's version, as a HelloVerifyRequest must (RFC 6347 4.2.1).
pub fn copy_without_short_records(dgram: &[u8], min_body: usize, version: u16, out: &mut Vec<u8>) {
    out.clear();
    if min_body == 0 {
        out.extend_from_slice(dgram);
        return;
    }
    let mut rest = dgram;
    while rest.len() >= HEADER {
        let (ty, ver, len) = (rest[0], u16_at(rest, 1) as u16, u16_at(rest, 11));
        let epoch = u16_at(rest, 3);
        let dtls_version = ver == DTLS1_0 || ver == DTLS1_2;
        let version_alike = ver == version || ty == CONTENT_ALERT || (epoch == 0 && dtls_version);
        let framed_alike = (20..=25).contains(&ty) && version_alike && len <= MAX_BODY;
        let Some(record) = rest.get(..HEADER + len).filter(|_| framed_alike) else { return };
        if epoch == 0 || len >= min_body {
            out.extend_from_slice(record);
        }
        rest = &rest[HEADER + len..];
    }
    // A tail shorter than a header is left out: OpenSSL would drop it too.
}

/// True when `dgram` starts with a complete handshake record carrying a
/// ClientHello (or a fragment of one): what a server's first datagram must be.
pub fn starts_with_client_hello(dgram: &[u8]) -> bool {
    let Some(len) = dgram.get(11..HEADER).map(|b| u16_at(b, 0)) else { return false };
    let complete = dgram.len() >= HEADER + len && len >= 12;
    complete && dgram[0] == CONTENT_HANDSHAKE && dgram[HEADER] == CLIENT_HELLO
}

/// True for a datagram whose first record carries only a fragment of a
/// ClientHello. DTLSv1_listen would answer (or accept) it on the strength of
/// its first fragment; Qt's contract is that fragmented hellos get nothing.
pub fn is_fragmented_client_hello(dgram: &[u8]) -> bool {
    let Some(body) = dgram.get(HEADER..) else { return false };
    if dgram[0] != CONTENT_HANDSHAKE || body.len() < 12 || body[0] != CLIENT_HELLO {
        return false;
    }
    let (length, frag_off, frag_len) = (u24_at(body, 1), u24_at(body, 6), u24_at(body, 9));
    frag_off != 0 || frag_len != length
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(epoch: u16, body: &[u8]) -> Vec<u8> {
        let mut r = vec![23, 0xfe, 0xfd];
        r.extend_from_slice(&epoch.to_be_bytes());
        r.extend_from_slice(&[0; 6]);
        r.extend_from_slice(&(body.len() as u16).to_be_bytes());
        r.extend_from_slice(body);
        r
    }

    #[test]
    fn short_protected_records_are_removed_and_others_kept() {
        let good = record(1, &[7; 40]);
        let short = record(1, &[7; 3]);
        let plain = record(0, &[1; 2]);
        let dgram = [short.clone(), good.clone(), plain.clone(), vec![9, 9]].concat();
        let mut out = Vec::new();
        copy_without_short_records(&dgram, 24, 0xfefd, &mut out);
        assert_eq!(out, [good.clone(), plain.clone()].concat());
        // Behind a header OpenSSL frames differently, nothing goes through.
        let mut bad_version = record(0, &[0]);
        bad_version[1] = 0;
        let dgram = [good.clone(), bad_version, short].concat();
        copy_without_short_records(&dgram, 24, 0xfefd, &mut out);
        assert_eq!(out, good);
        // An unprotected handshake record with DTLS 1.0's version (a
        // HelloVerifyRequest to a client resuming a DTLS 1.2 session) goes through.
        let mut hvr = record(0, &[3; 20]);
        hvr[0] = 22;
        hvr[2] = 0xff;
        copy_without_short_records(&hvr, 24, 0xfefd, &mut out);
        assert_eq!(out, hvr);
        let mut protected_old = record(1, &[3; 40]);
        protected_old[2] = 0xff;
        copy_without_short_records(&[good.clone(), protected_old].concat(), 24, 0xfefd, &mut out);
        assert_eq!(out, good);
        // Before a cipher is negotiated everything goes through.
        copy_without_short_records(&dgram, 0, 0, &mut out);
        assert_eq!(out, dgram);
    }

    #[test]
    fn fragment_detection() {
        let mut hello = vec![22, 0xfe, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 12];
        hello.extend_from_slice(&[1, 0, 0, 100, 0, 0, 0, 0, 0, 0, 0, 100]);
        assert!(!is_fragmented_client_hello(&hello));
        hello[13 + 11] = 50; // fragment length 50 of 100
        assert!(is_fragmented_client_hello(&hello));
        hello[13 + 11] = 100;
        hello[13 + 8] = 1; // offset 1
        assert!(is_fragmented_client_hello(&hello));
    }
}
