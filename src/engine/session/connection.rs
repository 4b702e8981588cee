//! One OpenSSL connection: made for the current settings, then verified
//! and recorded as Qt does once OpenSSL finishes its handshake.

use super::*;

impl Session {
    /// Creates the OpenSSL connection for the current settings.
    pub(super) fn open(&self, t: &mut dyn Transport) -> Result<Conn, String> {
        let i = self.info.read();
        let ctx = context(&i.config)?;
        let peer = SocketAddr::new(i.peer.ok_or("no peer")?, i.port);
        let mut ssl = Ssl::new(&ctx).map_err(describe("SSL_new failed"))?;
        let (mtu, mtu_known) = match (i.mtu_hint, t.path_mtu()) {
            (h, _) if h > 0 => (u32::from(h), true),
            (_, Some(p)) => (p, true),
            _ => (FALLBACK_MTU, false),
        };
        // OpenSSL refuses values below its minimum and then keeps its own.
        ossl::dtls_set_link_mtu(&ssl, mtu);
        let psk_hint = i.config.data.psk_identity_hint.clone().unwrap_or_default();
        if i.mode == SslMode::Server && !psk_hint.is_empty() {
            let hint = std::ffi::CString::new(psk_hint.clone()).map_err(|_| "Invalid PSK identity hint")?;
            // SAFETY: live SSL, NUL-terminated hint copied by OpenSSL.
            if unsafe { ossl::SSL_use_psk_identity_hint(ssl.as_ptr(), hint.as_ptr()) } != 1 {
                return Err(with_openssl_errors("Cannot set the PSK identity hint"));
            }
        }
        set_hooks(
            &mut ssl,
            Hooks {
                peer: Some(peer),
                cookie: i.cookie.clone(),
                cookie_preverified: i.hello_verified,
                psk: self.psk.lock().clone(),
                psk_hint,
                policy: i.policy,
                retransmissions: AtomicU32::new(0),
            },
        );
        if i.mode == SslMode::Client {
            if let Some(der) = &i.resume_from {
                let session = SslSession::from_der(der).map_err(describe("Invalid session data"))?;
                // SAFETY: the session is a complete, parsed SSL_SESSION; OpenSSL
                // resumes it only when the server agrees, else does a full handshake.
                unsafe { ssl.set_session(&session) }.map_err(describe("Cannot resume the session"))?;
            }
        }
        // SAFETY: live SSL; the callback only reads our hooks.
        unsafe { ossl::DTLS_set_timer_cb(ssl.as_ptr(), Some(timer_cb)) };
        let x509_errors = Arc::new(Mutex::new(Vec::new()));
        if requests_certificate(i.config.data.verify_mode) {
            let sink = x509_errors.clone();
            // Collect every chain error and go on: Qt decides after the handshake.
            ssl.set_verify_callback(SslVerifyMode::PEER, move |ok, store| {
                // A panic must not unwind into OpenSSL: it fails verification instead.
                no_unwind(false, || {
                    if !ok {
                        sink.lock().push(VerificationError {
                            code: from_x509_error(store.error().as_raw()),
                            certificate: store.current_cert().map(|c| c.to_owned()),
                        });
                    }
                    true
                })
            });
        } else {
            ssl.set_verify(SslVerifyMode::NONE);
        }
        match i.mode {
            SslMode::Server => ssl.set_accept_state(),
            SslMode::Client => {
                if !i.verification_name.is_empty() && i.verification_name.parse::<IpAddr>().is_err() {
                    // SNI; a name OpenSSL refuses just goes without it.
                    let _ = ssl.set_hostname(&i.verification_name);
                }
                ssl.set_connect_state();
            }
        }
        let ssl = Wired::new(ssl, peer.is_ipv6())?;
        let deadline_us = (i.policy.deadline_ms > 0).then(|| ossl::now_us() + u64::from(i.policy.deadline_ms) * 1000);
        Ok(Conn { ssl, peer, x509_errors, mtu_known, min_body: 0, version: 0, buffers_released: false, deadline_us })
    }

    /// OpenSSL finished the handshake: record what was negotiated, then verify
    /// the peer as Qt does (after the handshake, collecting every error).
    pub(super) fn finish(&self, c: &mut Conn) -> bool {
        let chain = peer_chain(&c.ssl);
        let x509 = std::mem::take(&mut *c.x509_errors.lock());
        let mut info = self.info.write();
        info.peer_chain = chain;
        let mode = info.config.data.verify_mode;
        let verify =
            mode == VerifyMode::VerifyPeer || (mode == VerifyMode::AutoVerifyPeer && info.mode == SslMode::Client);
        if verify {
            let errors = verification_errors(&info, x509);
            let ignored = all_ignored(&errors, &info.ignored);
            info.verification_errors = errors;
            if !ignored {
                info.state = PeerVerificationFailed;
                info.error.set(PeerVerificationError, "Peer verification failed");
                return false;
            }
        }
        drop(info);
        self.complete(c);
        true
    }

    pub(super) fn complete(&self, c: &mut Conn) {
        let mut info = self.info.write();
        info.state = Complete;
        info.cipher = c.ssl.current_cipher().map(|x| x.name());
        info.protocol = match c.ssl.version2() {
            Some(v) if v == SslVersion::DTLS1_2 => protocol::DTLS_V1_2,
            Some(v) if v == SslVersion::DTLS1 => protocol::DTLS_V1_0,
            _ => protocol::UNKNOWN,
        };
        // SAFETY: live SSL.
        info.max_payload = unsafe { ossl::DTLS_get_data_mtu(c.ssl.as_ptr()) };
        info.alpn = c.ssl.selected_alpn_protocol().map(<[u8]>::to_vec);
        info.srtp_profile = keys::selected_profile(&c.ssl);
        info.resumed = c.ssl.session_reused();
        if info.mode == SslMode::Client && info.config.data.session_resumption {
            info.session_data = c.ssl.session().and_then(|s| s.to_der().ok());
        }
        info.error.clear();
        drop(info);
        c.min_body = min_protected_body(&c.ssl);
        // SAFETY: live SSL.
        c.version = unsafe { ossl::SSL_version(c.ssl.as_ptr()) } as u16;
        c.release_buffers();
    }

    /// Back to NotStarted: peer, name and configuration stay.
    pub(super) fn reset(&self) {
        let mut info = self.info.write();
        info.state = NotStarted;
        info.cipher = None;
        info.protocol = protocol::UNKNOWN;
        info.peer_chain.clear();
        info.verification_errors.clear();
        info.max_payload = 0;
        info.alpn = None;
        info.srtp_profile = None;
        info.resumed = false;
    }
}

/// The peer's chain, leaf first (OpenSSL leaves the leaf out on the server side).
fn peer_chain(ssl: &Ssl) -> Vec<X509> {
    let mut chain: Vec<X509> =
        ssl.peer_cert_chain().map(|s| s.iter().map(|c| c.to_owned()).collect()).unwrap_or_default();
    if let Some(leaf) = ssl.peer_certificate() {
        let same = chain.first().is_some_and(|c| c.to_der().ok() == leaf.to_der().ok());
        if !same {
            chain.insert(0, leaf);
        }
    }
    chain
}

/// The peer's verification errors as Qt reports them.
fn verification_errors(info: &Info, x509: Vec<VerificationError>) -> Vec<VerificationError> {
    let name = match info.mode {
        SslMode::Server => None,
        _ if !info.verification_name.is_empty() => Some(info.verification_name.clone()),
        _ => Some(info.peer.map(|a| a.to_string()).unwrap_or_default()),
    };
    peer_errors(&info.peer_chain, name.as_deref(), x509)
}
