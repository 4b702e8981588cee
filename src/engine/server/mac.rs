//! A keyed HMAC kept for the server's stateless cookie path. OpenSSL 3's
//! one-shot `HMAC()` fetches the algorithm and builds a context on every
//! call (locks, name lookups, allocations: most of a spoofed hello's cost);
//! a context keyed once and re-initialised per cookie does none of that.

use std::net::SocketAddr;

use openssl_sys as sys;

use crate::engine::cookie::{cookie_input, digest, CookieParams};
use crate::engine::ossl;

/// An HMAC context keyed with one secret. Used by one thread at a time.
pub struct Mac {
    ctx: *mut sys::EVP_MAC_CTX,
}

// SAFETY: the context is owned and only used through `&mut self`.
unsafe impl Send for Mac {}

impl Drop for Mac {
    fn drop(&mut self) {
        // SAFETY: our own context, freed once (OpenSSL cleanses the key).
        unsafe { sys::EVP_MAC_CTX_free(self.ctx) };
    }
}

impl Mac {
    /// A context for `params`; None if OpenSSL cannot make one (the caller
    /// then falls back to the one-shot path).
    pub fn new(params: &CookieParams) -> Option<Mac> {
        let name = std::ffi::CString::new(digest(params.hash)?.type_().short_name().ok()?).ok()?;
        // SAFETY: fetch, context and init with valid pointers; every
        // failure path frees what was made.
        unsafe {
            let mac = sys::EVP_MAC_fetch(std::ptr::null_mut(), c"HMAC".as_ptr(), std::ptr::null());
            if mac.is_null() {
                return None;
            }
            let ctx = sys::EVP_MAC_CTX_new(mac);
            sys::EVP_MAC_free(mac); // the context holds its own reference
            let this = Mac { ctx: (!ctx.is_null()).then_some(ctx)? };
            let p = [
                ossl::OSSL_PARAM_construct_utf8_string(c"digest".as_ptr(), name.as_ptr().cast_mut(), 0),
                sys::OSSL_PARAM_construct_end(),
            ];
            let ok = sys::EVP_MAC_init(this.ctx, params.secret.as_ptr(), params.secret.len(), p.as_ptr());
            (ok == 1).then_some(this)
        }
    }

    /// `peer`'s cookie into `out` (as `make_cookie` makes it).
    pub fn cookie(&mut self, peer: &SocketAddr, out: &mut [u8; 64]) -> Option<usize> {
        let mut input = [0u8; 18];
        let len = cookie_input(peer, &mut input);
        let mut n = 0usize;
        // SAFETY: our keyed context; a NULL key re-initialises it with the
        // key it has; input and out are valid for the lengths given.
        let ok = unsafe {
            sys::EVP_MAC_init(self.ctx, std::ptr::null(), 0, std::ptr::null()) == 1
                && sys::EVP_MAC_update(self.ctx, input.as_ptr(), len) == 1
                && sys::EVP_MAC_final(self.ctx, out.as_mut_ptr(), &mut n, out.len()) == 1
        };
        ok.then_some(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::cookie::{hash, make_cookie};

    #[test]
    fn makes_the_same_cookies_as_the_one_shot_path() {
        for h in [hash::SHA1, hash::SHA256, hash::SHA512, hash::SHA3_256] {
            let p = CookieParams::new(h, b"a secret").unwrap();
            let mut mac = Mac::new(&p).unwrap();
            for peer in ["192.0.2.1:1", "[2001:db8::1]:65535"] {
                let peer: SocketAddr = peer.parse().unwrap();
                let (mut a, mut b) = ([0u8; 64], [0u8; 64]);
                let n = mac.cookie(&peer, &mut a).unwrap();
                assert_eq!(make_cookie(&p, &peer, &mut b), Some(n));
                assert_eq!(a[..n], b[..n], "hash {h}");
                assert_eq!(mac.cookie(&peer, &mut a), Some(n), "reusable");
                assert_eq!(a[..n], b[..n]);
            }
        }
    }
}
