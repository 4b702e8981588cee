//! Application data: encrypting datagrams out, decrypting datagrams in.

use super::*;

impl Session {
    /// QDtls::writeDatagramEncrypted: the plaintext length, or -1.
    pub fn write_datagram_encrypted(&self, t: Option<&mut dyn Transport>, data: &[u8]) -> i64 {
        match self.write_datagrams_encrypted(t, &[data]) {
            1 => data.len() as i64,
            n => n.min(0),
        }
    }

    /// Encrypts each datagram into one record and sends them all, with as few
    /// system calls as the transport allows. Returns the number of datagrams,
    /// or -1. Every size is checked before anything is encrypted, so a
    /// refused batch sends nothing.
    pub fn write_datagrams_encrypted(&self, t: Option<&mut dyn Transport>, datagrams: &[&[u8]]) -> i64 {
        let Some(t) = t else { return self.fail(InvalidInputParameters, "Invalid (nullptr) socket", -1) };
        self.with_conn(-1, |conn| {
            let Some(c) = conn.as_mut().filter(|_| self.info.read().state == Complete) else {
                return self.fail(InvalidOperation, "Cannot write a datagram, not in encrypted state", -1);
            };
            let room = self.info.read().max_payload;
            for data in datagrams {
                if let Err((code, msg)) = check_size(data.len(), c.mtu_known, room) {
                    return self.fail(code, msg, -1);
                }
            }
            c.ensure_buffers();
            for data in datagrams.iter().filter(|d| !d.is_empty()) {
                // SAFETY: data is valid for its length, which fits an int (checked above).
                let (ret, _) =
                    ssl_call(&c.ssl, |s| unsafe { sys::SSL_write(s, data.as_ptr().cast(), data.len() as i32) });
                if ret <= 0 {
                    // Whatever was encrypted before still goes out, in order.
                    let _ = flush(c.ssl.bio(), t, c.peer);
                    return self.fail(TlsFatalError, with_openssl_errors("Error while writing"), -1);
                }
            }
            match flush(c.ssl.bio(), t, c.peer) {
                Ok(()) => self.succeed(datagrams.len() as i64),
                Err(e) => self.fail(UnderlyingSocketError, e.to_string(), -1),
            }
        })
    }

    /// QDtls::decryptDatagram into `out`: the plaintext length (0 for a
    /// replayed, duplicate or non-data datagram), or -1 on error.
    pub fn decrypt_datagram(&self, t: Option<&mut dyn Transport>, dgram: &[u8], out: &mut [u8]) -> i64 {
        self.decrypt(t, Input::Separate(dgram), out)
    }

    /// Receives the datagrams already queued on `rx` (a connected socket)
    /// into `bufs` and decrypts each in place, its result (as
    /// `decrypt_in_place`) in `results`. Returns how many arrived, or -1:
    /// not encrypted or not connected (InvalidOperation), the receive failed
    /// (UnderlyingSocketError). `results` is at least as long as `bufs`.
    pub fn receive_datagrams_decrypted(
        &self,
        t: Option<&mut dyn Transport>,
        rx: &mut dyn BatchReceiver,
        bufs: &mut [&mut [u8]],
        results: &mut [i64],
    ) -> i64 {
        let Some(t) = t else { return self.fail(InvalidInputParameters, "Invalid (nullptr) socket", -1) };
        if !self.is_encrypted() {
            return self.fail(InvalidOperation, "Cannot read a datagram, not in encrypted state", -1);
        }
        if !rx.is_connected() {
            return self.fail(InvalidOperation, "Batch receive needs a connected socket", -1);
        }
        let mut next = results.iter_mut();
        let got = rx.receive(bufs, &mut |buf, received| {
            let result = match received {
                Some(len) => self.decrypt_in_place(Some(&mut *t), buf, len),
                None => self.fail(InvalidInputParameters, "Datagram larger than its receive buffer", -1),
            };
            if let Some(slot) = next.next() {
                *slot = result;
            }
        });
        match got {
            Ok(n) => n as i64,
            Err(e) => self.fail(UnderlyingSocketError, e.to_string(), -1),
        }
    }

    /// decrypt_datagram for a datagram in `buf[..len]`, whose plaintext
    /// replaces it (it is never longer). `len <= buf.len()`.
    pub fn decrypt_in_place(&self, t: Option<&mut dyn Transport>, buf: &mut [u8], len: usize) -> i64 {
        self.decrypt(t, Input::InPlace(len.min(buf.len())), buf)
    }

    fn decrypt(&self, t: Option<&mut dyn Transport>, input: Input<'_>, out: &mut [u8]) -> i64 {
        let Some(t) = t else { return self.fail(InvalidInputParameters, "Invalid (nullptr) socket", -1) };
        self.with_conn(-1, |conn| {
            let Some(c) = conn.as_mut().filter(|_| self.info.read().state == Complete) else {
                return self.fail(InvalidOperation, "Cannot read a datagram, not in encrypted state", -1);
            };
            let min = c.min_body;
            match input {
                Input::Separate(dgram) if out.len() < dgram.len() => {
                    let msg = format!(
                        "Output buffer of {} bytes is smaller than the datagram ({} bytes)",
                        out.len(),
                        dgram.len()
                    );
                    return self.fail(InvalidInputParameters, msg, -1);
                }
                Input::Separate([]) | Input::InPlace(0) => return self.succeed(0),
                Input::Separate(dgram) => c.ssl.bio().offer_protected(dgram, min, c.version),
                // The BIO takes a copy, so the plaintext may overwrite the datagram.
                Input::InPlace(len) => c.ssl.bio().offer_protected(&out[..len], min, c.version),
            }
            c.ensure_buffers();
            let (total, end) = read_records(c, out);
            c.ssl.bio().discard_incoming();
            // Reading may have produced retransmissions of our last flight.
            let sent = flush(c.ssl.bio(), t, c.peer);
            match end {
                ReadEnd::Closed => {
                    if self.info.read().server_peer {
                        // RFC 5246 7.2.1: answer close_notify with our own (Qt's
                        // QDtls does not; peers such as gnutls-cli wait for it).
                        // SAFETY: live SSL.
                        ssl_call(&c.ssl, |s| unsafe { sys::SSL_shutdown(s) });
                        let _ = flush(c.ssl.bio(), t, c.peer);
                    }
                    *conn = None;
                    self.reset();
                    self.fail(RemoteClosedConnectionError, "The DTLS connection has been closed", -1)
                }
                ReadEnd::Failed(msg) => self.fail(TlsNonFatalError, msg, -1),
                ReadEnd::Fatal(msg) => {
                    // OpenSSL cannot go on with this connection; do not claim it is encrypted.
                    *conn = None;
                    self.reset();
                    self.fail(TlsFatalError, msg, -1)
                }
                ReadEnd::Drained => match sent {
                    Err(e) if total == 0 => self.fail(UnderlyingSocketError, e.to_string(), -1),
                    // The data is delivered; a failed retransmission is reported alongside.
                    Err(e) => self.fail(UnderlyingSocketError, e.to_string(), total as i64),
                    Ok(()) => self.succeed(total as i64),
                },
            }
        })
    }
}

/// Why a payload cannot go out as one datagram, if it cannot.
fn check_size(len: usize, mtu_known: bool, room: usize) -> Result<(), (DtlsError, String)> {
    if len > MAX_RECORD_PLAINTEXT {
        let msg = format!("Error while writing: {len} bytes exceed the maximum record size of {MAX_RECORD_PLAINTEXT}");
        return Err((TlsFatalError, msg));
    }
    if mtu_known && len > room {
        let msg = format!("Datagram of {len} bytes does not fit the MTU: at most {room} bytes of payload");
        return Err((InvalidInputParameters, msg));
    }
    Ok(())
}

/// Where the datagram to decrypt is.
enum Input<'a> {
    Separate(&'a [u8]),
    /// The first n bytes of the output buffer.
    InPlace(usize),
}

enum ReadEnd {
    Drained,
    Closed,
    Failed(String),
    Fatal(String),
}

/// Reads every record of the offered datagram into `out`. The plaintext of a
/// datagram is never longer than the datagram, so `out` has room for all of it.
fn read_records(c: &mut Conn, out: &mut [u8]) -> (usize, ReadEnd) {
    let mut total = 0;
    loop {
        let room = &mut out[total..];
        let len = room.len().min(i32::MAX as usize) as i32;
        // SAFETY: room is valid for len bytes.
        let (ret, err) = ssl_call(&c.ssl, |s| unsafe { sys::SSL_read(s, room.as_mut_ptr().cast(), len) });
        if ret > 0 {
            total += ret as usize;
            // Datagram consumed and nothing buffered: no second SSL_read
            // just to hear "want read".
            // SAFETY: live SSL.
            if !c.ssl.bio().has_incoming() && unsafe { ossl::SSL_has_pending(c.ssl.as_ptr()) } == 0 {
                return (total, ReadEnd::Drained);
            }
            continue;
        }
        return match err {
            e if is_retry(e) => (total, ReadEnd::Drained),
            sys::SSL_ERROR_ZERO_RETURN => (total, ReadEnd::Closed),
            // After SSLfatal OpenSSL is back "in init" for good: that
            // connection is over, whatever SSL_get_error called it.
            // SAFETY: live SSL.
            e if e == sys::SSL_ERROR_SSL || unsafe { ossl::SSL_is_init_finished(c.ssl.as_ptr()) } == 0 => {
                (total, ReadEnd::Fatal(with_openssl_errors("Error while reading")))
            }
            _ => (total, ReadEnd::Failed(with_openssl_errors("Error while reading"))),
        };
    }
}
