//! Cookies of the stateless client verification (RFC 6347 4.2.1): generator
//! parameters, the process-wide default secret, the HMAC and its
//! constant-time check, and the callbacks OpenSSL calls to make and verify them.

use std::net::SocketAddr;

use once_cell::sync::Lazy;
use openssl::hash::MessageDigest;
use openssl::ssl::{SslContextBuilder, SslRef};

use super::hooks::{hooks, no_unwind};
use super::ossl;

pub use super::values::CookieHash;

/// The same values as plain integers.
pub(crate) mod hash {
    use super::CookieHash as H;
    pub const MD5: i32 = H::Md5 as i32;
    pub const SHA1: i32 = H::Sha1 as i32;
    pub const SHA224: i32 = H::Sha224 as i32;
    pub const SHA256: i32 = H::Sha256 as i32;
    pub const SHA384: i32 = H::Sha384 as i32;
    pub const SHA512: i32 = H::Sha512 as i32;
    pub const SHA3_224: i32 = H::Sha3_224 as i32;
    pub const SHA3_256: i32 = H::Sha3_256 as i32;
    pub const SHA3_384: i32 = H::Sha3_384 as i32;
    pub const SHA3_512: i32 = H::Sha3_512 as i32;
}

/// QDtlsClientVerifier::GeneratorParameters.
#[derive(Clone, PartialEq, Eq)]
pub struct CookieParams {
    pub hash: i32,
    pub secret: Vec<u8>,
}

/// 32 random bytes made once per process and shared by every verifier and
/// session, so a cookie issued by one verifier is accepted by another.
static DEFAULT_SECRET: Lazy<Vec<u8>> = Lazy::new(|| {
    let mut s = vec![0u8; 32];
    openssl::rand::rand_bytes(&mut s).expect("OpenSSL's RNG failed");
    s
});

impl Default for CookieParams {
    fn default() -> Self {
        CookieParams { hash: hash::SHA256, secret: DEFAULT_SECRET.clone() }
    }
}

impl CookieParams {
    /// Checks and builds parameters; the error text is for the caller's error string.
    pub fn new(hash: i32, secret: &[u8]) -> Result<CookieParams, &'static str> {
        if secret.is_empty() {
            return Err("Invalid (empty) secret");
        }
        if digest(hash).is_none() {
            return Err("Unsupported hash algorithm");
        }
        Ok(CookieParams { hash, secret: secret.to_vec() })
    }
}

impl Drop for CookieParams {
    fn drop(&mut self) {
        super::psk::wipe(&mut self.secret);
    }
}

/// The HMAC input for `peer`, laid out as Qt lays it out: the port and an
/// IPv4 address as host-order integers, an IPv6 address as its 16 bytes.
/// Returns its length.
pub fn cookie_input(peer: &SocketAddr, input: &mut [u8; 18]) -> usize {
    input[..2].copy_from_slice(&peer.port().to_ne_bytes());
    match peer {
        SocketAddr::V4(a) => {
            input[2..6].copy_from_slice(&u32::from(*a.ip()).to_ne_bytes());
            6
        }
        SocketAddr::V6(a) => {
            input[2..18].copy_from_slice(&a.ip().octets());
            18
        }
    }
}

pub(crate) fn digest(hash: i32) -> Option<MessageDigest> {
    Some(match hash {
        hash::MD5 => MessageDigest::md5(),
        hash::SHA1 => MessageDigest::sha1(),
        hash::SHA224 => MessageDigest::sha224(),
        hash::SHA256 => MessageDigest::sha256(),
        hash::SHA384 => MessageDigest::sha384(),
        hash::SHA512 => MessageDigest::sha512(),
        hash::SHA3_224 => MessageDigest::sha3_224(),
        hash::SHA3_256 => MessageDigest::sha3_256(),
        hash::SHA3_384 => MessageDigest::sha3_384(),
        hash::SHA3_512 => MessageDigest::sha3_512(),
        _ => return None,
    })
}

/// HMAC(hash, secret, port || address) into `out`, laid out as Qt lays it
/// out (port and IPv4 address as host-order integers, IPv6 as its 16
/// bytes), so Qt's QDtlsClientVerifier and ours accept each other's cookies
/// under equal parameters. Returns the cookie length (at most 64 bytes,
/// well under DTLS's 255).
pub fn make_cookie(params: &CookieParams, peer: &SocketAddr, out: &mut [u8]) -> Option<usize> {
    let md = digest(params.hash)?;
    let mut input = [0u8; 18];
    let len = cookie_input(peer, &mut input);
    let mut mac = [0u8; 64];
    let mut mac_len: libc::c_uint = 0;
    // SAFETY: all pointers are valid for the given lengths; mac has room for
    // the largest digest we allow (64 bytes).
    let ok = unsafe {
        ossl::HMAC(
            md.as_ptr(),
            params.secret.as_ptr().cast(),
            params.secret.len() as libc::c_int,
            input.as_ptr(),
            len,
            mac.as_mut_ptr(),
            &mut mac_len,
        )
    };
    let n = mac_len as usize;
    if ok.is_null() || n > out.len() {
        return None;
    }
    out[..n].copy_from_slice(&mac[..n]);
    Some(n)
}

fn cookie_for(ssl: &SslRef, out: &mut [u8]) -> Option<usize> {
    let h = hooks(ssl)?;
    make_cookie(&h.cookie, &h.peer?, out)
}

fn generate(ssl: &mut SslRef, out: &mut [u8]) -> Result<usize, openssl::error::ErrorStack> {
    no_unwind(None, || cookie_for(ssl, out)).ok_or_else(openssl::error::ErrorStack::get)
}

fn verify(ssl: &mut SslRef, cookie: &[u8]) -> bool {
    no_unwind(false, || {
        if hooks(ssl).is_some_and(|h| h.cookie_preverified) {
            return true;
        }
        let mut expected = [0u8; 64];
        // Constant time, so the compare does not leak how much of a forged cookie was right.
        matches!(cookie_for(ssl, &mut expected), Some(n) if n == cookie.len() && openssl::memcmp::eq(&expected[..n], cookie))
    })
}

/// Lets OpenSSL make and check cookies from the SSL's hooks.
pub fn install_callbacks(builder: &mut SslContextBuilder) {
    builder.set_cookie_generate_cb(generate);
    builder.set_cookie_verify_cb(verify);
}
