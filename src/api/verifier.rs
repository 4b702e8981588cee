//! `ClientVerifier`: the stateless cookie exchange in front of a DTLS
//! server (`QDtlsClientVerifier`).

use std::net::SocketAddr;

use super::error::{DtlsError, Error, Result};
use super::transport::{Forward, Transport};
pub use crate::engine::cookie::CookieHash;
use crate::engine::cookie::CookieParams;
use crate::engine::verifier::ClientVerifier as Engine;

/// The cookie HMAC's hash and secret (`QDtlsClientVerifier::GeneratorParameters`).
#[derive(Clone, PartialEq, Eq)]
pub struct GeneratorParameters {
    /// The hash of the HMAC.
    pub hash: CookieHash,
    /// The HMAC key; never empty.
    pub secret: Vec<u8>,
}

impl GeneratorParameters {
    /// Parameters with `hash` and `secret`.
    pub fn new(hash: CookieHash, secret: &[u8]) -> GeneratorParameters {
        GeneratorParameters { hash, secret: secret.to_vec() }
    }

    pub(crate) fn from_engine(p: &CookieParams) -> GeneratorParameters {
        GeneratorParameters {
            hash: CookieHash::from_i32(p.hash).unwrap_or(CookieHash::Sha256),
            secret: p.secret.clone(),
        }
    }
}

impl std::fmt::Debug for GeneratorParameters {
    /// The secret is not shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeneratorParameters").field("hash", &self.hash).finish_non_exhaustive()
    }
}

/// Answers ClientHellos without a valid cookie with a HelloVerifyRequest and
/// keeps no state per client, so a server creates a [`Dtls`](crate::Dtls)
/// only for clients that proved their address (RFC 6347 4.2.1).
///
/// ```
/// use std::net::UdpSocket;
/// use qdtls::{ClientVerifier, Dtls, SslMode};
///
/// let mut server_socket = UdpSocket::bind("127.0.0.1:0")?;
/// let mut client_socket = UdpSocket::bind("127.0.0.1:0")?;
/// let client = Dtls::new(SslMode::Client);
/// client.set_peer(server_socket.local_addr()?, "")?;
/// client.do_handshake(&mut client_socket, &[])?;
///
/// let verifier = ClientVerifier::new();
/// let mut buf = [0u8; 2048];
/// let (n, from) = server_socket.recv_from(&mut buf)?;
/// // The first hello has no cookie: a HelloVerifyRequest goes back.
/// assert!(!verifier.verify_client(&mut server_socket, &buf[..n], from)?);
/// let n = client_socket.recv(&mut buf)?;
/// client.do_handshake(&mut client_socket, &buf[..n])?;
/// // The second one carries the cookie.
/// let (n, from) = server_socket.recv_from(&mut buf)?;
/// assert!(verifier.verify_client(&mut server_socket, &buf[..n], from)?);
/// assert_eq!(verifier.verified_hello(), &buf[..n]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Default)]
pub struct ClientVerifier {
    inner: Engine,
}

impl std::fmt::Debug for ClientVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientVerifier").finish_non_exhaustive()
    }
}

impl ClientVerifier {
    /// A verifier with the process's default parameters (SHA-256 and a
    /// random secret made once per process, shared with every `Dtls`).
    pub fn new() -> ClientVerifier {
        ClientVerifier { inner: Engine::new() }
    }

    fn check(&self, ok: bool) -> Result<()> {
        if ok {
            return Ok(());
        }
        let e = self.inner.error();
        Err(Error::new(if e.code == DtlsError::NoError { DtlsError::InvalidOperation } else { e.code }, e.message))
    }

    /// Sets hash and secret; an empty secret is refused.
    pub fn set_cookie_generator_parameters(&self, params: &GeneratorParameters) -> Result<()> {
        let ok = self.inner.set_cookie_generator_parameters(params.hash as i32, &params.secret);
        self.check(ok)
    }

    /// The current hash and secret.
    pub fn cookie_generator_parameters(&self) -> GeneratorParameters {
        GeneratorParameters::from_engine(&self.inner.cookie_generator_parameters())
    }

    /// Checks a datagram from `peer`: Ok(true) for a ClientHello with a valid
    /// cookie (hand [`verified_hello`](Self::verified_hello) to a new server
    /// `Dtls`); Ok(false) when it was not one (a cookie-less or wrongly
    /// cookied hello got a HelloVerifyRequest through `transport`; anything
    /// else got nothing).
    pub fn verify_client<T: Transport + ?Sized>(
        &self,
        transport: &mut T,
        dgram: &[u8],
        peer: SocketAddr,
    ) -> Result<bool> {
        if self.inner.verify_client(Some(&mut Forward(transport)), dgram, Some(peer.ip()), peer.port()) {
            return Ok(true);
        }
        self.check(self.inner.error().code == DtlsError::NoError).map(|_| false)
    }

    /// The last ClientHello that verified (empty after any other result).
    pub fn verified_hello(&self) -> Vec<u8> {
        self.inner.verified_hello()
    }
}
