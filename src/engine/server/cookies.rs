//! The server's cookie secret: the current parameters, and the previous
//! ones during a grace period after a rotation, so a client that got its
//! cookie just before the rotation still gets in. Servers on several
//! threads (one SO_REUSEPORT socket each) share one secret.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;

use super::mac::Mac;
use crate::engine::cookie::{make_cookie, CookieParams};
use crate::engine::ossl;

struct Secrets {
    /// Changes with every change of the secrets (unique across all servers'
    /// secrets), so a server's keyed contexts know when they are stale.
    generation: u64,
    current: CookieParams,
    /// The parameters before the last rotation, and until when (µs on
    /// OpenSSL's clock) their cookies are still accepted.
    previous: Option<(CookieParams, u64)>,
}

fn next_generation() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// One server's keyed HMAC contexts for the current and previous secrets,
/// rebuilt when the secrets change.
#[derive(Default)]
pub struct Keyed {
    generation: u64,
    current: Option<Mac>,
    previous: Option<Mac>,
}

/// A cookie secret, shared by clones.
#[derive(Clone)]
pub struct Cookies {
    secrets: Arc<RwLock<Secrets>>,
}

impl Default for Cookies {
    fn default() -> Self {
        Self::new()
    }
}

impl Cookies {
    /// SHA-256 and a fresh random secret of this server's own (not the
    /// process-wide one the verifiers share, so rotating it affects only
    /// the servers that share it).
    pub fn new() -> Cookies {
        let mut secret = [0u8; 32];
        openssl::rand::rand_bytes(&mut secret).expect("OpenSSL's RNG failed");
        let current = CookieParams::new(CookieParams::default().hash, &secret).expect("SHA-256 is supported");
        crate::engine::psk::wipe(&mut secret);
        Cookies { secrets: Arc::new(RwLock::new(Secrets { generation: next_generation(), current, previous: None })) }
    }

    /// Replaces the parameters at once (cookies of the old ones are refused).
    pub fn set(&self, params: CookieParams) {
        let mut s = self.secrets.write();
        s.current = params;
        s.previous = None;
        s.generation = next_generation();
    }

    /// A new random secret with the same hash; cookies of the old one stay
    /// valid for `grace_ms`.
    pub fn rotate(&self, grace_ms: u32) {
        let mut secret = [0u8; 32];
        openssl::rand::rand_bytes(&mut secret).expect("OpenSSL's RNG failed");
        let mut s = self.secrets.write();
        let next = CookieParams::new(s.current.hash, &secret).expect("the current hash is supported");
        crate::engine::psk::wipe(&mut secret);
        let old = std::mem::replace(&mut s.current, next);
        s.previous = (grace_ms > 0).then(|| (old, ossl::now_us() + u64::from(grace_ms) * 1000));
        s.generation = next_generation();
    }

    /// Makes `peer`'s cookie under the current secret into `out`.
    pub fn make(&self, peer: &SocketAddr, out: &mut [u8]) -> Option<usize> {
        make_cookie(&self.secrets.read().current, peer, out)
    }

    fn refresh<'k>(&self, k: &'k mut Keyed) -> (&'k mut Keyed, Option<u64>) {
        let s = self.secrets.read();
        if k.generation != s.generation {
            k.current = Mac::new(&s.current);
            k.previous = s.previous.as_ref().and_then(|(p, _)| Mac::new(p));
            k.generation = s.generation;
        }
        (k, s.previous.as_ref().map(|(_, until)| *until))
    }

    /// As [`make`](Self::make), with the server's keyed contexts.
    pub fn make_keyed(&self, k: &mut Keyed, peer: &SocketAddr, out: &mut [u8; 64]) -> Option<usize> {
        match self.refresh(k).0.current.as_mut() {
            Some(mac) => mac.cookie(peer, out),
            None => self.make(peer, out),
        }
    }

    /// As [`verify`](Self::verify), with the server's keyed contexts.
    pub fn verify_keyed(&self, k: &mut Keyed, peer: &SocketAddr, cookie: &[u8]) -> bool {
        let (k, until) = self.refresh(k);
        let (Some(cur), true) = (k.current.as_mut(), until.is_none() || k.previous.is_some()) else {
            return self.verify(peer, cookie);
        };
        let mut expected = [0u8; 64];
        let matches = |n: Option<usize>, e: &[u8; 64]| matches!(n, Some(n) if n == cookie.len() && openssl::memcmp::eq(&e[..n], cookie));
        if matches(cur.cookie(peer, &mut expected), &expected) {
            return true;
        }
        match (k.previous.as_mut(), until) {
            (Some(prev), Some(until)) if ossl::now_us() < until => matches(prev.cookie(peer, &mut expected), &expected),
            _ => false,
        }
    }

    /// Whether `cookie` is `peer`'s under the current secret, or under the
    /// previous one while its grace period lasts. Constant time in the
    /// cookie's content.
    pub fn verify(&self, peer: &SocketAddr, cookie: &[u8]) -> bool {
        let s = self.secrets.read();
        let matches = |p: &CookieParams| {
            let mut expected = [0u8; 64];
            matches!(make_cookie(p, peer, &mut expected), Some(n) if n == cookie.len() && openssl::memcmp::eq(&expected[..n], cookie))
        };
        matches(&s.current) || s.previous.as_ref().is_some_and(|(p, until)| ossl::now_us() < *until && matches(p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_keeps_the_old_secret_for_the_grace_period() {
        let c = Cookies::new();
        let peer: SocketAddr = "192.0.2.1:1".parse().unwrap();
        let mut old = [0u8; 64];
        let n = c.make(&peer, &mut old).unwrap();
        c.rotate(60_000);
        assert!(c.verify(&peer, &old[..n]));
        c.rotate(0);
        assert!(!c.verify(&peer, &old[..n]));
    }
}
