//! QDtlsClientVerifier: stateless cookie exchange before any per-client
//! state exists. One scratch SSL per verifier is reused for every datagram;
//! nothing about a client outlives the call.

use std::net::{IpAddr, SocketAddr};

use once_cell::sync::Lazy;
use openssl::ssl::{Ssl, SslContext, SslContextBuilder, SslMethod, SslVersion};
use openssl_sys as sys;
use parking_lot::Mutex;

use super::bio::Wired;
use super::cookie::{install_callbacks, CookieParams};
use super::error::{describe, DtlsError, LastError};
use std::sync::atomic::AtomicU32;

use super::hooks::{set_hooks, Hooks, RetransmitPolicy};
use super::record::is_fragmented_client_hello;
use super::{flush, is_broadcast_or_multicast, ossl, Transport};

/// Context for DTLSv1_listen only: any DTLS version, our cookie callbacks.
static LISTEN_CTX: Lazy<Result<SslContext, String>> = Lazy::new(|| {
    let mut b = SslContextBuilder::new(SslMethod::dtls()).map_err(describe("SSL_CTX_new failed"))?;
    b.set_min_proto_version(Some(SslVersion::DTLS1)).map_err(describe("version"))?;
    install_callbacks(&mut b);
    Ok(b.build())
});

struct Scratch {
    ssl: Wired,
}

struct State {
    params: CookieParams,
    error: LastError,
    verified_hello: Vec<u8>,
    scratch: Option<Scratch>,
}

pub struct ClientVerifier {
    state: Mutex<State>,
}

impl Default for ClientVerifier {
    fn default() -> Self {
        Self::new()
    }
}

impl ClientVerifier {
    /// Default parameters: SHA-256 and the process-wide secret.
    pub fn new() -> Self {
        ClientVerifier {
            state: Mutex::new(State {
                params: CookieParams::default(),
                error: LastError::default(),
                verified_hello: Vec::new(),
                scratch: None,
            }),
        }
    }

    /// Empty secret or unknown hash: false, InvalidInputParameters, old parameters kept.
    pub fn set_cookie_generator_parameters(&self, hash: i32, secret: &[u8]) -> bool {
        let mut s = self.state.lock();
        match CookieParams::new(hash, secret) {
            Ok(p) => {
                s.params = p;
                s.error.clear();
                true
            }
            Err(msg) => {
                s.error.set(DtlsError::InvalidInputParameters, msg);
                false
            }
        }
    }

    pub fn cookie_generator_parameters(&self) -> CookieParams {
        self.state.lock().params.clone()
    }

    pub fn verified_hello(&self) -> Vec<u8> {
        self.state.lock().verified_hello.clone()
    }

    /// Records an error found before the engine was reached (bad arguments at the ABI).
    pub fn set_error(&self, code: DtlsError, msg: &str) {
        let mut s = self.state.lock();
        s.verified_hello.clear();
        s.error.set(code, msg);
    }

    pub fn error(&self) -> LastError {
        self.state.lock().error.clone()
    }

    /// QDtlsClientVerifier::verifyClient. True when `dgram` is a ClientHello
    /// with a valid cookie for address:port; otherwise false, and a
    /// HelloVerifyRequest goes to address:port when the datagram deserved one.
    pub fn verify_client(
        &self,
        t: Option<&mut dyn Transport>,
        dgram: &[u8],
        address: Option<IpAddr>,
        port: u16,
    ) -> bool {
        let mut s = self.state.lock();
        s.verified_hello.clear();
        let (Some(t), Some(addr), false) = (t, address, dgram.is_empty()) else {
            s.error.set(
                DtlsError::InvalidInputParameters,
                "A valid UDP socket, non-empty datagram, valid address/port were expected",
            );
            return false;
        };
        if is_broadcast_or_multicast(addr) {
            s.error.set(DtlsError::InvalidInputParameters, "Multicast and broadcast addresses are not supported");
            return false;
        }
        let peer = SocketAddr::new(addr, port);
        let params = s.params.clone();
        let scratch = match s.scratch.take() {
            Some(x) => Ok(x),
            None => new_scratch(),
        };
        let mut scratch = match scratch {
            Ok(x) => x,
            Err(msg) => {
                s.error.set(DtlsError::TlsInitializationError, msg);
                return false;
            }
        };
        // DTLSv1_listen judges a hello by its first fragment; fragments get nothing.
        let verified = !is_fragmented_client_hello(dgram) && listen(&mut scratch, params, peer, dgram);
        // A cookie-less or wrongly cookied hello gets a HelloVerifyRequest;
        // garbage and fragments get nothing (OpenSSL writes nothing for them).
        let sent = flush(scratch.ssl.bio(), t, peer);
        s.scratch = Some(scratch);
        match (verified, sent) {
            (true, _) => {
                s.verified_hello = dgram.to_vec();
                s.error.clear();
                true
            }
            (false, Err(e)) => {
                s.error.set(DtlsError::UnderlyingSocketError, e.to_string());
                false
            }
            (false, Ok(())) => {
                s.error.clear();
                false
            }
        }
    }
}

fn new_scratch() -> Result<Scratch, String> {
    let ctx = LISTEN_CTX.as_ref().map_err(Clone::clone)?;
    let ssl = Ssl::new(ctx).map_err(describe("SSL_new failed"))?;
    Ok(Scratch { ssl: Wired::new(ssl, false)? })
}

/// One DTLSv1_listen pass over `dgram` on a cleared SSL.
fn listen(x: &mut Scratch, cookie: CookieParams, peer: SocketAddr, dgram: &[u8]) -> bool {
    // DTLSv1_listen starts with SSL_clear, so nothing of the previous client is left.
    // SAFETY: no stale errors may be blamed on this hello.
    unsafe { sys::ERR_clear_error() };
    set_hooks(
        x.ssl.ssl_mut(),
        Hooks {
            peer: Some(peer),
            cookie,
            cookie_preverified: false,
            psk: None,
            psk_hint: Vec::new(),
            policy: RetransmitPolicy::default(),
            retransmissions: AtomicU32::new(0),
        },
    );
    x.ssl.bio().clear_outgoing();
    x.ssl.bio().offer(dgram);
    let ret = ossl::dtls_listen(&x.ssl);
    x.ssl.bio().discard_incoming();
    // SAFETY: errors of a rejected hello are expected; do not leak them.
    unsafe { sys::ERR_clear_error() };
    ret > 0
}
