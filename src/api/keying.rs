//! WebRTC and CoAP features of the Rust API: the RFC 5705 exporter,
//! DTLS-SRTP, the negotiated ALPN protocol, session resumption and the
//! retransmission policy.

use std::time::Duration;

use super::configuration::Configuration;
use super::dtls::Dtls;
use super::error::{DtlsError, Error, Result};
use crate::engine::config::Config;
pub use crate::engine::keying::{SrtpKeys, SrtpProfile};

fn ms(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
}

impl Dtls {
    /// RFC 5705: `out.len()` bytes of keying material for `label` and, if
    /// given, `context` (no context and an empty one give different output).
    /// Only once encrypted.
    pub fn export_keying_material(&self, label: &str, context: Option<&[u8]>, out: &mut [u8]) -> Result<()> {
        let ok = self.session.export_keying_material(label, context, out);
        self.check(ok)
    }

    /// The negotiated DTLS-SRTP profile, once encrypted.
    pub fn selected_srtp_profile(&self) -> Option<SrtpProfile> {
        self.session.info().srtp_profile
    }

    /// DTLS-SRTP's master keys and salts (RFC 5764 4.2), once encrypted with
    /// a negotiated profile.
    ///
    /// ```no_run
    /// # fn f(dtls: &qdtls::Dtls) -> qdtls::Result<()> {
    /// let keys = dtls.srtp_keying_material()?;
    /// println!("{:?}: client key {} bytes", keys.profile, keys.client_key.len());
    /// # Ok(()) }
    /// ```
    pub fn srtp_keying_material(&self) -> Result<SrtpKeys> {
        self.session.srtp_keys().ok_or_else(|| self.check(false).unwrap_err())
    }

    /// The ALPN protocol negotiated in the handshake, if any.
    pub fn negotiated_application_protocol(&self) -> Option<Vec<u8>> {
        self.session.info().alpn.clone()
    }

    /// Client side, with session resumption on in the configuration: the
    /// session of the last handshake, for [`set_session_data`](Self::set_session_data)
    /// on a later connection to the same server. Secret: it holds the
    /// session's master secret.
    pub fn session_data(&self) -> Option<Vec<u8>> {
        self.session.info().session_data.clone()
    }

    /// Client side: offers a session from [`session_data`](Self::session_data)
    /// for resumption in the next handshake (empty clears it). Only before
    /// the handshake.
    pub fn set_session_data(&self, data: &[u8]) -> Result<()> {
        let ok = self.session.set_session_data(data);
        self.check(ok)
    }

    /// Whether the last handshake resumed an earlier session.
    pub fn session_resumed(&self) -> bool {
        self.session.info().resumed
    }

    /// The ceiling of the doubling retransmission timeout (default 60 s),
    /// 1 ms to 600 s. Only before the handshake.
    pub fn set_max_timeout(&self, timeout: Duration) -> Result<()> {
        let ok = self.session.set_max_timeout_ms(ms(timeout));
        self.check(ok)
    }

    /// Retransmissions of one flight before the handshake fails with
    /// `TlsFatalError`: 0 to 12 (the default, OpenSSL's limit).
    pub fn set_max_retransmissions(&self, n: u32) -> Result<()> {
        let ok = self.session.set_max_retransmissions(n);
        self.check(ok)
    }

    /// The whole handshake must complete within `deadline` from its start
    /// (None: no deadline, the default). Only before the handshake.
    pub fn set_handshake_deadline(&self, deadline: Option<Duration>) -> Result<()> {
        let ok = self.session.set_handshake_deadline_ms(deadline.map_or(0, |d| ms(d).max(1)));
        self.check(ok)
    }
}

impl Configuration {
    /// The DTLS-SRTP protection profiles, preferred first (empty: off).
    pub fn srtp_profiles(&self) -> Vec<SrtpProfile> {
        self.inner.data.srtp_profiles.clone()
    }

    /// Sets the DTLS-SRTP protection profiles, preferred first: a client
    /// offers them, a server picks the first of its list the client offers.
    /// Empty turns DTLS-SRTP off; a repeated profile is refused.
    pub fn set_srtp_profiles(&mut self, profiles: &[SrtpProfile]) -> Result<()> {
        let ids: Vec<i32> = profiles.iter().map(|p| *p as i32).collect();
        Config::update(&mut self.inner, |d| d.set_srtp_profiles(&ids))
            .map_err(|e| Error::new(DtlsError::InvalidInputParameters, e))
    }

    /// Whether session resumption is on (off by default, as in Qt).
    pub fn session_resumption(&self) -> bool {
        self.inner.data.session_resumption
    }

    /// Turns session resumption on: a server issues session tickets (keys
    /// rotate every 12 hours) and keeps a session cache; a client keeps its
    /// session for [`Dtls::session_data`].
    pub fn set_session_resumption(&mut self, on: bool) {
        Config::make_mut(&mut self.inner).session_resumption = on;
    }
}
