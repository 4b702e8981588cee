//! Writes the fuzz targets' seed corpus from real captured traffic (an
//! ignored test, run by hand). Part of the flood tests (tests/common/flood.rs).

mod common;

use common::flood::*;
use qdtls::ffi::*;

// ---- the fuzz corpus ----------------------------------------------------------------------

/// The cookie secret the fuzz targets use (fuzz/src/lib.rs has the same bytes).
const FUZZ_COOKIE_SECRET: &[u8] = b"qdtls fuzz cookie secret, fixed.";

/// Writes the seed corpus of fuzz/ from real captured traffic:
/// `cargo test --test flood_corpus write_fuzz_corpus -- --ignored`. The input formats
/// are those of fuzz/src/lib.rs.
#[test]
#[ignore = "writes fuzz/corpus; run by hand when the formats change"]
fn write_fuzz_corpus() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz").join("corpus");
    let params = Some((QDTLS_HASH_SHA256, FUZZ_COOKIE_SECRET));
    let captures = [("psk", capture(Flavour::Psk, params)), ("cert", capture(Flavour::Cert, params))];
    let write = |target: &str, name: &str, bytes: &[u8]| {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), bytes).unwrap();
    };
    let mut count = 0;
    for (flavour, cap) in &captures {
        let port = cap.client_addr.port().to_be_bytes();
        for c in &cap.dgrams {
            let name = format!("{flavour}-{}", c.name);
            // verify_client: port, datagram (cookies bound to 127.0.0.1:port).
            write("verify_client", &name, &[&port[..], &c.data].concat());
            // server_first: flags (bit 0 cookies, bit 1 certificate), port, datagram.
            if c.to_server {
                let cert = u8::from(*flavour == "cert") << 1;
                let cookies = u8::from(c.name.starts_with("client-hello-cookie"));
                write("server_first", &name, &[&[cert | cookies], &port[..], &c.data].concat());
                // server: the same format.
                write("server", &name, &[&[cert | cookies], &port[..], &c.data].concat());
            }
            // decrypt: mode 0 = the raw datagram.
            write("decrypt", &name, &[&[0u8], &c.data[..]].concat());
            count += 1;
        }
    }
    // decrypt, mode 1: the fuzz target's own record k, then (offset, xor) edits.
    for (k, edits) in
        [(0u8, vec![]), (1, vec![]), (2, vec![20u8, 0x01]), (3, vec![5, 0xff, 30, 0x80]), (0, vec![11, 0x40])]
    {
        write("decrypt", &format!("own-record-{k}-{}", edits.len() / 2), &[&[1u8, k], &edits[..]].concat());
        count += 1;
    }
    println!("wrote {count} corpus files to {}", root.display());
}
