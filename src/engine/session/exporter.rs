//! Keying material of an established session: the RFC 5705 exporter and
//! DTLS-SRTP's keys, read from the live connection.

use super::*;

impl Session {
    /// RFC 5705: fills `out` with keying material for `label` and, if given,
    /// `context`. Only in the encrypted state (InvalidOperation otherwise).
    pub fn export_keying_material(&self, label: &str, context: Option<&[u8]>, out: &mut [u8]) -> bool {
        self.with_conn(false, |conn| {
            let Some(c) = conn.as_ref().filter(|_| self.info.read().state == Complete) else {
                return self.fail(InvalidOperation, "Cannot export keying material, not in encrypted state", false);
            };
            match keys::export(&c.ssl, label, context, out) {
                Ok(()) => self.succeed(true),
                Err(e) => self.fail(InvalidInputParameters, e, false),
            }
        })
    }

    /// DTLS-SRTP: the negotiated profile with both sides' master keys and
    /// salts (RFC 5764 4.2). Only in the encrypted state, and only when a
    /// profile was negotiated.
    pub fn srtp_keys(&self) -> Option<SrtpKeys> {
        self.with_conn(None, |conn| {
            let Some(c) = conn.as_ref().filter(|_| self.info.read().state == Complete) else {
                return self.fail(InvalidOperation, "No SRTP keys, not in encrypted state", None);
            };
            match keys::srtp_keys(&c.ssl) {
                Ok(keys) => self.succeed(Some(keys)),
                Err(e) => self.fail(InvalidOperation, e, None),
            }
        })
    }
}
