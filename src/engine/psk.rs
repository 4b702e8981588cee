//! QSslPreSharedKeyAuthenticator: what the PSK callback sees and fills in.

use std::sync::atomic::{compiler_fence, Ordering};

/// The application's PSK handler. It runs on the thread that drives the
/// handshake, from inside OpenSSL.
pub type PskCallback = dyn Fn(&mut PskAuthenticator) + Send + Sync;

/// Identity hint, identity and key for one PSK negotiation
/// (`QSslPreSharedKeyAuthenticator`), handed to the PSK callback. The key is
/// wiped when it is replaced and when the authenticator is dropped.
#[derive(Default)]
pub struct PskAuthenticator {
    identity_hint: Vec<u8>,
    identity: Vec<u8>,
    key: Vec<u8>,
    max_identity: usize,
    max_key: usize,
}

impl PskAuthenticator {
    /// Client side: OpenSSL gives the hint and the room for identity (which
    /// needs a terminating NUL, hence the `- 1`) and key.
    pub fn for_client(hint: &[u8], identity_room: usize, key_room: usize) -> Self {
        PskAuthenticator {
            identity_hint: hint.to_vec(),
            identity: Vec::new(),
            key: Vec::new(),
            max_identity: identity_room.saturating_sub(1),
            max_key: key_room,
        }
    }

    /// Server side: the identity the client sent and our configured hint; the
    /// server never sends an identity, so its maximum is 0.
    pub fn for_server(identity: &[u8], hint: &[u8], key_room: usize) -> Self {
        PskAuthenticator {
            identity_hint: hint.to_vec(),
            identity: identity.to_vec(),
            key: Vec::new(),
            max_identity: 0,
            max_key: key_room,
        }
    }

    /// The server's identity hint (client side), or the configured hint (server side).
    pub fn identity_hint(&self) -> &[u8] {
        &self.identity_hint
    }
    /// The identity: the one the client set (client side), or the one the client sent (server side).
    pub fn identity(&self) -> &[u8] {
        &self.identity
    }
    /// Client side: the identity to send (at most [`maximum_identity_length`](Self::maximum_identity_length)
    /// bytes are sent). Ignored on the server side.
    pub fn set_identity(&mut self, identity: &[u8]) {
        self.identity = identity.to_vec();
    }
    /// The key set so far.
    pub fn pre_shared_key(&self) -> &[u8] {
        &self.key
    }
    /// The key (at most [`maximum_pre_shared_key_length`](Self::maximum_pre_shared_key_length)
    /// bytes are used). No key fails the handshake. The previous key is wiped.
    pub fn set_pre_shared_key(&mut self, key: &[u8]) {
        wipe(&mut self.key);
        self.key = key.to_vec();
    }
    /// The longest identity OpenSSL can send (0 on the server side).
    pub fn maximum_identity_length(&self) -> usize {
        self.max_identity
    }
    /// The longest key OpenSSL can use.
    pub fn maximum_pre_shared_key_length(&self) -> usize {
        self.max_key
    }

    /// The identity as OpenSSL will send it: truncated to the maximum.
    pub fn identity_to_send(&self) -> &[u8] {
        &self.identity[..self.identity.len().min(self.max_identity)]
    }

    /// The key as OpenSSL will use it: truncated to the maximum.
    pub fn key_to_use(&self) -> &[u8] {
        &self.key[..self.key.len().min(self.max_key)]
    }
}

impl Drop for PskAuthenticator {
    fn drop(&mut self) {
        wipe(&mut self.key);
    }
}

/// Overwrites secret bytes in a way the optimiser may not remove.
pub fn wipe(buf: &mut [u8]) {
    for b in buf.iter_mut() {
        // SAFETY: b is a valid, exclusive reference.
        unsafe { std::ptr::write_volatile(b, 0) };
    }
    compiler_fence(Ordering::SeqCst);
}
