//! `Dtls`: one DTLS connection with QDtls's API and semantics, for Rust.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::certificate::Certificate;
use super::configuration::{Configuration, Protocol};
use super::error::{DtlsError, Error, Result};
use super::transport::{Forward, Transport};
use super::verifier::GeneratorParameters;
pub use crate::engine::psk::PskAuthenticator;
use crate::engine::session::Session;
use crate::engine::verify::{SslErrorCode, VerificationError};
pub use crate::engine::{HandshakeState, SslMode};

/// One peer verification error (`QSslError`): the code and the certificate
/// it concerns, if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SslError {
    /// What is wrong.
    pub code: SslErrorCode,
    /// The certificate it is about (None for `NoPeerCertificate`).
    pub certificate: Option<Certificate>,
}

/// One DTLS connection: the client or server side of a session with one
/// peer, driven by the application (`QDtls`).
///
/// The application owns the socket and reads datagrams itself; it passes
/// each one in ([`do_handshake`](Self::do_handshake) until the handshake is
/// complete, then [`decrypt_datagram`](Self::decrypt_datagram)), and the
/// connection sends what it must through the [`Transport`] given with the
/// call (a `std::net::UdpSocket`, or any transport of the application's).
/// Timers are the application's too: after [`next_timeout`](Self::next_timeout)
/// elapses, call [`handle_timeout`](Self::handle_timeout).
///
/// A `Dtls` may be shared between threads; calls on one object are
/// serialized. Calls fail with Qt's error kinds and messages, so a
/// `Result` carries what `dtlsError()`/`dtlsErrorString()` would say.
///
/// A PSK handshake between two objects over two loopback sockets:
///
/// ```
/// use std::net::UdpSocket;
/// use qdtls::{Configuration, Dtls, HandshakeState, PeerVerifyMode, SslMode};
///
/// let (mut cs, mut ss) = (UdpSocket::bind("127.0.0.1:0")?, UdpSocket::bind("127.0.0.1:0")?);
/// let mut cfg = Configuration::new();
/// cfg.set_peer_verify_mode(PeerVerifyMode::VerifyNone);
/// cfg.set_dtls_cookie_verification_enabled(false); // no ClientVerifier in front in this example
///
/// let psk = |a: &mut qdtls::PskAuthenticator| {
///     a.set_identity(b"client");
///     a.set_pre_shared_key(b"secret key");
/// };
/// let client = Dtls::new(SslMode::Client);
/// let server = Dtls::new(SslMode::Server);
/// for (d, peer) in [(&client, ss.local_addr()?), (&server, cs.local_addr()?)] {
///     d.set_dtls_configuration(&cfg)?;
///     d.set_psk_callback(psk);
///     d.set_peer(peer, "")?;
/// }
///
/// client.do_handshake(&mut cs, &[])?; // sends the ClientHello
/// let mut buf = [0u8; 2048];
/// while client.handshake_state() != HandshakeState::Complete {
///     let n = ss.recv(&mut buf)?;
///     server.do_handshake(&mut ss, &buf[..n])?;
///     let n = cs.recv(&mut buf)?;
///     client.do_handshake(&mut cs, &buf[..n])?;
/// }
/// client.write_datagram_encrypted(&mut cs, b"hello")?;
/// let n = ss.recv(&mut buf)?;
/// assert_eq!(server.decrypt_datagram(&mut ss, &buf[..n])?, b"hello");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Dtls {
    pub(crate) session: Session,
}

impl std::fmt::Debug for Dtls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dtls")
            .field("mode", &self.ssl_mode())
            .field("peer", &self.peer_address())
            .field("state", &self.handshake_state())
            .finish_non_exhaustive()
    }
}

impl Dtls {
    /// A connection in client or server mode, with the default configuration.
    pub fn new(mode: SslMode) -> Dtls {
        Dtls { session: Session::new(mode) }
    }

    /// The result of the engine call just made: Ok, or the error it left.
    pub(crate) fn check(&self, ok: bool) -> Result<()> {
        if ok {
            return Ok(());
        }
        let e = &self.session.info().error;
        Err(Error::new(
            if e.code == DtlsError::NoError { DtlsError::InvalidOperation } else { e.code },
            e.message.clone(),
        ))
    }

    /// Client or server.
    pub fn ssl_mode(&self) -> SslMode {
        self.session.info().mode
    }

    /// Sets the peer's address and port, and the name its certificate is
    /// verified against (empty: the address). Only before the handshake.
    pub fn set_peer(&self, address: SocketAddr, verification_name: &str) -> Result<()> {
        let ok = self.session.set_peer(Some(address.ip()), address.port(), verification_name);
        self.check(ok)
    }

    /// The peer's address and port, once set.
    pub fn peer_address(&self) -> Option<SocketAddr> {
        let i = self.session.info();
        i.peer.map(|ip| SocketAddr::new(ip, i.port))
    }

    /// The name the peer's certificate is verified against.
    pub fn peer_verification_name(&self) -> String {
        self.session.info().verification_name.clone()
    }

    /// Sets the name the peer's certificate is verified against. Only before the handshake.
    pub fn set_peer_verification_name(&self, name: &str) -> Result<()> {
        let ok = self.session.set_peer_verification_name(name);
        self.check(ok)
    }

    /// The MTU hint (0: not set; then the socket's path MTU, else 576).
    pub fn mtu_hint(&self) -> u16 {
        self.session.info().mtu_hint
    }

    /// Sets the MTU used for handshake messages and the largest datagram.
    pub fn set_mtu_hint(&self, mtu: u16) {
        self.session.set_mtu_hint(mtu)
    }

    /// The configuration in use.
    pub fn dtls_configuration(&self) -> Configuration {
        Configuration { inner: self.session.info().config.clone() }
    }

    /// Uses `configuration` (a copy) from the next handshake on. Only before the handshake.
    pub fn set_dtls_configuration(&self, configuration: &Configuration) -> Result<()> {
        let ok = self.session.set_dtls_configuration(configuration.inner.clone());
        self.check(ok)
    }

    /// The server's cookie parameters (used when cookie verification is on).
    pub fn cookie_generator_parameters(&self) -> GeneratorParameters {
        GeneratorParameters::from_engine(&self.session.info().cookie)
    }

    /// Sets the server's cookie parameters; an empty secret is refused.
    pub fn set_cookie_generator_parameters(&self, params: &GeneratorParameters) -> Result<()> {
        let ok = self.session.set_cookie_generator_parameters(params.hash as i32, &params.secret);
        self.check(ok)
    }

    /// Sets the first retransmission timeout (Qt: fixed at 1 s), 1 to 60000 ms.
    pub fn set_initial_timeout(&self, timeout: Duration) -> Result<()> {
        let ms = u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX);
        let ok = self.session.set_initial_timeout_ms(ms);
        self.check(ok)
    }

    /// Sets the handler that supplies PSK identity and key
    /// (`QDtls::pskRequired`). It runs on the thread that drives the
    /// handshake; a panic in it fails the handshake instead of unwinding.
    pub fn set_psk_callback<F>(&self, callback: F)
    where
        F: Fn(&mut PskAuthenticator) + Send + Sync + 'static,
    {
        self.session.set_psk_callback(Some(Arc::new(callback)))
    }

    /// Removes the PSK handler.
    pub fn clear_psk_callback(&self) {
        self.session.set_psk_callback(None)
    }

    /// Starts (client: `dgram` empty; server: the ClientHello) or continues
    /// the handshake with a datagram from the peer.
    pub fn do_handshake<T: Transport + ?Sized>(&self, transport: &mut T, dgram: &[u8]) -> Result<()> {
        let ok = self.session.do_handshake(Some(&mut Forward(transport)), dgram);
        self.check(ok)
    }

    /// Where the handshake is.
    pub fn handshake_state(&self) -> HandshakeState {
        self.session.info().state
    }

    /// Time until [`handle_timeout`](Self::handle_timeout) is due; None when
    /// no retransmission timer runs, zero when it is due now.
    pub fn next_timeout(&self) -> Option<Duration> {
        self.session.next_timeout()
    }

    /// Retransmits the last flight if its timer is due; Ok(true) if it did.
    /// Fails with `TlsFatalError` after OpenSSL's retransmission limit.
    pub fn handle_timeout<T: Transport + ?Sized>(&self, transport: &mut T) -> Result<bool> {
        let sent = self.session.handle_timeout(Some(&mut Forward(transport)));
        match self.session.info().error.code {
            DtlsError::NoError => Ok(sent),
            _ => self.check(false).map(|_| false),
        }
    }

    /// After `PeerVerificationFailed`: completes the handshake when every
    /// error was ignored. Otherwise the state stays `PeerVerificationFailed`
    /// and the error is `PeerVerificationError` (Qt returns false and reports
    /// no error).
    pub fn resume_handshake<T: Transport + ?Sized>(&self, transport: &mut T) -> Result<()> {
        let ok = self.session.resume_handshake(Some(&mut Forward(transport)));
        if !ok && self.session.info().error.code == DtlsError::NoError {
            let why = "Cannot resume: not every peer verification error was ignored";
            return Err(Error::new(DtlsError::PeerVerificationError, why));
        }
        self.check(ok)
    }

    /// Ends a handshake in progress or one that failed verification.
    pub fn abort_handshake<T: Transport + ?Sized>(&self, transport: &mut T) -> Result<()> {
        let ok = self.session.abort_handshake(Some(&mut Forward(transport)));
        self.check(ok)
    }

    /// Sends close_notify and ends the session.
    pub fn shutdown<T: Transport + ?Sized>(&self, transport: &mut T) -> Result<()> {
        let ok = self.session.shutdown(Some(&mut Forward(transport)));
        self.check(ok)
    }

    /// Whether the handshake completed and the session is open.
    pub fn is_connection_encrypted(&self) -> bool {
        self.session.is_encrypted()
    }

    /// The negotiated cipher suite (OpenSSL's name), once encrypted.
    pub fn session_cipher(&self) -> Option<&'static str> {
        self.session.info().cipher
    }

    /// The negotiated protocol version, once encrypted.
    pub fn session_protocol(&self) -> Protocol {
        Protocol::from_i32(self.session.info().protocol).unwrap_or(Protocol::Unknown)
    }

    /// The largest plaintext one datagram can carry (0 unless encrypted).
    pub fn max_payload_size(&self) -> usize {
        self.session.info().max_payload
    }

    /// Encrypts `data` into one datagram and sends it; returns `data.len()`.
    pub fn write_datagram_encrypted<T: Transport + ?Sized>(&self, transport: &mut T, data: &[u8]) -> Result<usize> {
        let n = self.session.write_datagram_encrypted(Some(&mut Forward(transport)), data);
        self.check(n >= 0).map(|_| n as usize)
    }

    /// Decrypts a datagram from the peer. Empty for a duplicate, a replay,
    /// or a datagram without application data; a close_notify from the peer
    /// is `RemoteClosedConnectionError`.
    pub fn decrypt_datagram<T: Transport + ?Sized>(&self, transport: &mut T, dgram: &[u8]) -> Result<Vec<u8>> {
        let mut out = vec![0u8; dgram.len()];
        let n = self.decrypt_datagram_into(transport, dgram, &mut out)?;
        out.truncate(n);
        Ok(out)
    }

    /// [`decrypt_datagram`](Self::decrypt_datagram) into `out` (at least as
    /// long as `dgram`); returns the plaintext length. Allocates nothing.
    pub fn decrypt_datagram_into<T: Transport + ?Sized>(
        &self,
        transport: &mut T,
        dgram: &[u8],
        out: &mut [u8],
    ) -> Result<usize> {
        let n = self.session.decrypt_datagram(Some(&mut Forward(transport)), dgram, out);
        self.check(n >= 0).map(|_| n as usize)
    }

    /// The verification errors of the last handshake, in Qt's order.
    pub fn peer_verification_errors(&self) -> Vec<SslError> {
        self.session.info().verification_errors.iter().map(to_ssl_error).collect()
    }

    /// Errors to accept: a handshake that failed verification only with
    /// errors on this list completes on [`resume_handshake`](Self::resume_handshake)
    /// (and later handshakes with them complete directly). Matching is Qt's:
    /// equal code and equal certificate; an entry without a certificate
    /// matches that code for any certificate. Replaces the previous list.
    pub fn ignore_verification_errors(&self, errors: &[SslError]) {
        let list = errors
            .iter()
            .map(|e| VerificationError {
                code: e.code as i32,
                certificate: e.certificate.as_ref().map(|c| c.0.clone()),
            })
            .collect();
        self.session.ignore_verification_errors(list)
    }

    /// The peer's certificate, once the handshake got that far.
    pub fn peer_certificate(&self) -> Option<Certificate> {
        self.session.info().peer_chain.first().cloned().map(Certificate)
    }

    /// The peer's certificate chain, leaf first.
    pub fn peer_certificate_chain(&self) -> Vec<Certificate> {
        self.session.info().peer_chain.iter().cloned().map(Certificate).collect()
    }
}

fn to_ssl_error(e: &VerificationError) -> SslError {
    SslError {
        code: SslErrorCode::from_i32(e.code).unwrap_or(SslErrorCode::UnspecifiedError),
        certificate: e.certificate.clone().map(Certificate),
    }
}
