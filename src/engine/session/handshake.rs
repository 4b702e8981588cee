//! Driving the handshake: start (client or verified server), datagrams in,
//! retransmission timer, resume after verification, abort, shutdown.

use super::*;

impl Session {
    /// QDtls::doHandshake. `t` is None for Qt's null socket.
    pub fn do_handshake(&self, t: Option<&mut dyn Transport>, dgram: &[u8]) -> bool {
        self.with_conn(false, |conn| {
            let state = self.info.read().state;
            match state {
                NotStarted => self.start(conn, t, dgram),
                InProgress => match t {
                    None => self.fail(InvalidInputParameters, "Invalid (nullptr) socket", false),
                    Some(_) if dgram.is_empty() => self.fail(InvalidInputParameters, "Invalid (empty) datagram", false),
                    Some(t) => self.drive(conn, t, Some(dgram)),
                },
                PeerVerificationFailed | Complete => {
                    self.fail(InvalidOperation, "Cannot start/continue handshake, invalid handshake state", false)
                }
            }
        })
    }

    fn start(&self, conn: &mut Option<Conn>, t: Option<&mut dyn Transport>, dgram: &[u8]) -> bool {
        let Some(t) = t else { return self.fail(InvalidInputParameters, "Invalid (nullptr) socket", false) };
        let (mode, cookies) = {
            let i = self.info.read();
            (i.mode, i.config.data.cookie_verification)
        };
        if self.info.read().peer.is_none() {
            return self.fail(
                InvalidOperation,
                "To start a handshake you must set peer's address and port first",
                false,
            );
        }
        if mode == SslMode::Server && dgram.is_empty() {
            return self.fail(
                InvalidInputParameters,
                "To start a handshake, DTLS server requires non-empty datagram (client hello)",
                false,
            );
        }
        let mut c = match self.open(t) {
            Ok(c) => c,
            Err(msg) => return self.fail(TlsInitializationError, msg, false),
        };
        if mode == SslMode::Server {
            if !starts_with_client_hello(dgram) {
                // OpenSSL would drop it silently and wait, with no timer, for a
                // ClientHello that may never come: one stuck session per forged datagram.
                return self.fail(TlsFatalError, "The first datagram is not a ClientHello", false);
            }
            c.ssl.bio().offer(dgram);
            if cookies && (is_fragmented_client_hello(dgram) || !listen(&mut c)) {
                let msg = with_openssl_errors(
                    "Cookie verification failed: the first datagram is not a ClientHello with a valid cookie",
                );
                return self.fail(TlsFatalError, msg, false);
            }
        }
        self.info.write().state = InProgress;
        *conn = Some(c);
        // A server's ClientHello is already in the BIO; a client sends first.
        let ok = self.drive(conn, t, None);
        if ok && mode == SslMode::Server && conn.as_ref().is_some_and(|c| ossl::dtls_get_timeout(&c.ssl).is_none()) {
            // OpenSSL dropped the hello (a record version or message sequence
            // it does not take, or a fragment) and waits with no timer: a
            // session that would never end by itself. Qt requires a complete
            // ClientHello in the first datagram with cookies; so do we always.
            *conn = None;
            self.reset();
            return self.fail(
                TlsFatalError,
                "The first datagram did not start a handshake: not a complete ClientHello",
                false,
            );
        }
        ok
    }

    /// Continues the handshake with one datagram (or none, to start a client).
    fn drive(&self, conn: &mut Option<Conn>, t: &mut dyn Transport, dgram: Option<&[u8]>) -> bool {
        let Some(c) = conn.as_mut() else { return self.fail(InvalidOperation, "No connection", false) };
        if let Some(why) = self.past_deadline(c) {
            // A datagram after the deadline does not revive the handshake.
            *conn = None;
            self.reset();
            return self.fail(TlsFatalError, why, false);
        }
        let ok = self.drive_conn(c, t, dgram);
        if self.info.read().state == NotStarted {
            *conn = None; // a fatal error reset us
        }
        ok
    }

    fn drive_conn(&self, c: &mut Conn, t: &mut dyn Transport, dgram: Option<&[u8]>) -> bool {
        if let Some(d) = dgram {
            // SAFETY: live SSL.
            let version = unsafe { ossl::SSL_version(c.ssl.as_ptr()) } as u16;
            let min = min_protected_body(&c.ssl);
            c.ssl.bio().offer_protected(d, min, version);
        }
        // SAFETY: SSL_do_handshake on our live SSL.
        let (ret, err) = ssl_call(&c.ssl, |s| unsafe { sys::SSL_do_handshake(s) });
        c.ssl.bio().discard_incoming();
        let reason = if ret == 1 || is_retry(err) { String::new() } else { with_openssl_errors("") };
        // Whatever OpenSSL produced goes out, alerts of a failed handshake included.
        let sent = flush(c.ssl.bio(), t, c.peer);
        if ret == 1 {
            if let Err(e) = sent {
                // The final flight did not leave; the peer will retransmit and we answer then.
                self.finish(c);
                return self.fail(UnderlyingSocketError, e.to_string(), false);
            }
            return self.finish(c);
        }
        if is_retry(err) {
            return match sent {
                Ok(()) => self.succeed(true),
                Err(e) => self.fail(UnderlyingSocketError, e.to_string(), false),
            };
        }
        self.reset();
        let reason = reason.trim_start_matches(": ");
        let msg = if reason.is_empty() { "Handshake failed".to_owned() } else { format!("Handshake failed: {reason}") };
        self.fail(TlsFatalError, msg, false)
    }

    /// QDtls::handleTimeout: retransmits when the timer is due; returns
    /// whether it did. Safe in every state (Qt asserts).
    pub fn handle_timeout(&self, t: Option<&mut dyn Transport>) -> bool {
        let Some(t) = t else { return self.fail(InvalidInputParameters, "Invalid (nullptr) socket", false) };
        self.with_conn(false, |conn| {
            let Some(c) = conn.as_mut().filter(|_| self.info.read().state == InProgress) else {
                return self.succeed(false);
            };
            let policy = self.info.read().policy;
            let why = if let Some(why) = self.past_deadline(c) {
                Some(why)
            } else if ossl::dtls_get_timeout(&c.ssl) == Some(Duration::ZERO)
                && hooks(&c.ssl)
                    .is_some_and(|h| h.retransmissions.load(Ordering::Relaxed) >= policy.max_retransmissions)
            {
                Some(format!(
                    "Handshake timed out: no answer from the peer after {} retransmissions",
                    policy.max_retransmissions
                ))
            } else {
                None
            };
            if let Some(why) = why {
                *conn = None;
                self.reset();
                return self.fail(TlsFatalError, why, false);
            }
            let r = ossl::dtls_handle_timeout(&c.ssl);
            if r < 0 {
                let why = with_openssl_errors(
                    "Handshake timed out: no answer from the peer after the maximum number of retransmissions",
                );
                let _ = flush(c.ssl.bio(), t, c.peer);
                *conn = None;
                self.reset();
                return self.fail(TlsFatalError, why, false);
            }
            match flush(c.ssl.bio(), t, c.peer) {
                Err(e) => self.fail(UnderlyingSocketError, e.to_string(), false),
                Ok(()) => self.succeed(r > 0),
            }
        })
    }

    /// Why the handshake must end now, if its deadline has passed.
    fn past_deadline(&self, c: &Conn) -> Option<String> {
        let d = c.deadline_us?;
        (ossl::now_us() >= d).then(|| {
            let ms = self.info.read().policy.deadline_ms;
            format!("Handshake timed out: not complete within the deadline of {ms} ms")
        })
    }

    /// Time until handle_timeout is due: None when no timer runs, zero when due.
    pub fn next_timeout(&self) -> Option<Duration> {
        let guard = self.conn.lock();
        let conn = guard.try_borrow().ok()?;
        let c = conn.as_ref().filter(|_| self.info.read().state == InProgress)?;
        let timer = ossl::dtls_get_timeout(&c.ssl);
        match c.deadline_us {
            None => timer,
            Some(d) => {
                let left = Duration::from_micros(d.saturating_sub(ossl::now_us()));
                Some(timer.map_or(left, |t| t.min(left)))
            }
        }
    }

    /// QDtls::resumeHandshake.
    pub fn resume_handshake(&self, t: Option<&mut dyn Transport>) -> bool {
        if t.is_none() {
            return self.fail(InvalidInputParameters, "Invalid (nullptr) socket", false);
        }
        self.with_conn(false, |conn| {
            let (state, ok) = {
                let i = self.info.read();
                (i.state, all_ignored(&i.verification_errors, &i.ignored))
            };
            match conn.as_mut() {
                Some(c) if state == PeerVerificationFailed => {
                    if !ok {
                        return self.succeed(false);
                    }
                    self.info.write().verification_errors.clear();
                    self.complete(c);
                    true
                }
                _ => self.fail(InvalidOperation, "Cannot resume, not in VerificationError state", false),
            }
        })
    }

    /// QDtls::abortHandshake. After a verification failure the peer is told
    /// (Qt promises an alert but sends none).
    pub fn abort_handshake(&self, t: Option<&mut dyn Transport>) -> bool {
        let Some(t) = t else { return self.fail(InvalidInputParameters, "Invalid (nullptr) socket", false) };
        self.with_conn(false, |conn| {
            let state = self.info.read().state;
            if state != InProgress && state != PeerVerificationFailed {
                return self.fail(InvalidOperation, "No handshake in progress, nothing to abort", false);
            }
            let mut sent = Ok(());
            if let (Some(c), PeerVerificationFailed) = (conn.as_mut(), state) {
                // OpenSSL has finished its handshake, so the only alert it can
                // still send is close_notify; it ends the peer's session.
                c.ensure_buffers();
                // SAFETY: live SSL.
                ssl_call(&c.ssl, |s| unsafe { sys::SSL_shutdown(s) });
                sent = flush(c.ssl.bio(), t, c.peer);
            }
            *conn = None;
            self.reset();
            self.tell_ended();
            match sent {
                Ok(()) => self.succeed(true),
                Err(e) => self.fail(UnderlyingSocketError, e.to_string(), false),
            }
        })
    }

    /// QDtls::shutdown: close_notify once, then NotStarted (peer and
    /// configuration kept, so the object can handshake again).
    pub fn shutdown(&self, t: Option<&mut dyn Transport>) -> bool {
        let Some(t) = t else { return self.fail(InvalidInputParameters, "Invalid (nullptr) socket", false) };
        self.with_conn(false, |conn| {
            let Some(c) = conn.as_mut().filter(|_| self.info.read().state == Complete) else {
                return self.fail(InvalidOperation, "Cannot send shutdown alert, not encrypted", false);
            };
            c.ensure_buffers();
            // SAFETY: live SSL.
            ssl_call(&c.ssl, |s| unsafe { sys::SSL_shutdown(s) });
            let sent = flush(c.ssl.bio(), t, c.peer);
            *conn = None;
            self.reset();
            self.tell_ended();
            match sent {
                Ok(()) => self.succeed(true),
                Err(e) => self.fail(UnderlyingSocketError, e.to_string(), false),
            }
        })
    }
}

/// Runs DTLSv1_listen on the offered ClientHello: true when it carries a
/// valid cookie (it then stays in the BIO for SSL_accept). A
/// HelloVerifyRequest it may have produced is dropped: issuing cookies is the
/// verifier's job, and a server session stays stateless until verified.
fn listen(c: &mut Conn) -> bool {
    let ret = ossl::dtls_listen(&c.ssl);
    c.ssl.bio().clear_outgoing();
    ret > 0
}
