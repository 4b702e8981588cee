//! QDtls's setters: each in Qt's check order, most only before a handshake starts.

use super::*;

impl Session {
    /// QDtls::setPeer, in Qt's check order.
    pub fn set_peer(&self, address: Option<IpAddr>, port: u16, name: &str) -> bool {
        let _serialized = self.conn.lock();
        let mut info = self.info.write();
        let err = if info.state != NotStarted {
            Some((InvalidOperation, "Cannot set peer after handshake started"))
        } else if address.is_none() {
            Some((InvalidInputParameters, "Invalid address"))
        } else if address.is_some_and(is_broadcast_or_multicast) {
            Some((InvalidInputParameters, "Invalid address: broadcast or multicast"))
        } else {
            None
        };
        if let Some((code, msg)) = err {
            info.error.set(code, msg);
            return false;
        }
        info.peer = address;
        info.port = port;
        info.verification_name = name.to_owned();
        info.error.clear();
        true
    }

    pub fn set_peer_verification_name(&self, name: &str) -> bool {
        self.set_before_start("verification name", |i| i.verification_name = name.to_owned())
    }

    pub fn set_dtls_configuration(&self, cfg: Arc<Config>) -> bool {
        self.set_before_start("configuration", |i| i.config = cfg)
    }

    /// No checks, as in Qt; 0 means "not set".
    pub fn set_mtu_hint(&self, mtu: u16) {
        let _serialized = self.conn.lock();
        self.info.write().mtu_hint = mtu;
    }

    /// Our extension: the first retransmission timeout (Qt: fixed 1 s).
    pub fn set_initial_timeout_ms(&self, ms: u32) -> bool {
        if ms == 0 || ms > 60_000 {
            return self.fail(InvalidInputParameters, "Initial timeout must be 1..=60000 ms", false);
        }
        self.set_before_start("initial timeout", |i| i.policy.initial_ms = ms)
    }

    /// The ceiling of the doubling timeout (default 60 s, RFC 6347's), 1..=600000 ms.
    pub fn set_max_timeout_ms(&self, ms: u32) -> bool {
        if ms == 0 || ms > 600_000 {
            return self.fail(InvalidInputParameters, "Maximum timeout must be 1..=600000 ms", false);
        }
        self.set_before_start("maximum timeout", |i| i.policy.max_timeout_ms = ms)
    }

    /// Retransmissions of one flight before the handshake fails: 0 to
    /// OpenSSL's own limit of 12 (the default).
    pub fn set_max_retransmissions(&self, n: u32) -> bool {
        if n > OPENSSL_MAX_RETRANSMISSIONS {
            let msg = format!("Maximum retransmissions must be 0..={OPENSSL_MAX_RETRANSMISSIONS} (OpenSSL's limit)");
            return self.fail(InvalidInputParameters, msg, false);
        }
        self.set_before_start("maximum retransmissions", |i| i.policy.max_retransmissions = n)
    }

    /// The whole handshake must complete within `ms` (0: no deadline, the default).
    pub fn set_handshake_deadline_ms(&self, ms: u32) -> bool {
        self.set_before_start("handshake deadline", |i| i.policy.deadline_ms = ms)
    }

    /// Client side: the session (from `session_data`) the next handshake
    /// offers to resume; empty clears it. Only before the handshake.
    pub fn set_session_data(&self, der: &[u8]) -> bool {
        if !der.is_empty() && SslSession::from_der(der).is_err() {
            return self.fail(InvalidInputParameters, "Invalid session data", false);
        }
        self.set_before_start("session data", |i| i.resume_from = (!der.is_empty()).then(|| der.to_vec()))
    }

    /// QDtls::setCookieGeneratorParameters; returns true on success (Qt returns false).
    pub fn set_cookie_generator_parameters(&self, hash: i32, secret: &[u8]) -> bool {
        let _serialized = self.conn.lock();
        match CookieParams::new(hash, secret) {
            Ok(p) => {
                self.info.write().cookie = p;
                self.succeed(true)
            }
            Err(msg) => self.fail(InvalidInputParameters, msg, false),
        }
    }

    /// QDtls::ignoreVerificationErrors: replaces the list (empty clears it).
    pub fn ignore_verification_errors(&self, list: Vec<VerificationError>) {
        let _serialized = self.conn.lock();
        let mut info = self.info.write();
        info.ignored = list;
        info.error.clear();
    }

    /// Takes effect at the next handshake start.
    /// A server's stateless exchange already verified the cookie of the
    /// ClientHello this session starts with.
    pub(crate) fn set_hello_verified(&self) {
        let _serialized = self.conn.lock();
        self.info.write().hello_verified = true;
    }

    /// What to tell when the application ends the session itself (None: nobody).
    pub(crate) fn set_ended_hook(&self, f: Option<Arc<dyn Fn() + Send + Sync>>) {
        *self.ended.lock() = f;
    }

    /// Tells the ended hook, if any (never under our own locks' contention:
    /// the hook only records the request).
    pub(super) fn tell_ended(&self) {
        let hook = self.ended.lock().clone();
        if let Some(f) = hook {
            f();
        }
    }

    /// The session is a server's peer (see `Info::server_peer`).
    pub(crate) fn set_server_peer(&self) {
        let _serialized = self.conn.lock();
        self.info.write().server_peer = true;
    }

    pub fn set_psk_callback(&self, cb: Option<Arc<PskCallback>>) {
        *self.psk.lock() = cb;
        self.info.write().error.clear();
    }
}
