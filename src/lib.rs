//! qdtls: DTLS 1.2 with the API of Qt's QDtls, QDtlsClientVerifier and
//! QSslPreSharedKeyAuthenticator, over OpenSSL 3, for Rust (this crate's
//! API: [`Dtls`], [`ClientVerifier`], [`Configuration`], [`PskAuthenticator`])
//! and for C (the `qdtls_*` functions of `qdtls.h`, in [`ffi`]).
//!
//! The engine does no I/O: the application owns its UDP socket, reads
//! datagrams and passes them in; what must be sent goes out through a
//! [`Transport`] (a `std::net::UdpSocket` is one). Timers are the
//! application's too: [`Dtls::next_timeout`] and [`Dtls::handle_timeout`].
//!
//! Layers, each knowing only the ones below it: the Rust API and [`ffi`]
//! (conversion and panic boundary only) -> `net` (the fd transport) ->
//! `engine` (sans-I/O DTLS over OpenSSL).
#![deny(missing_docs, unsafe_op_in_unsafe_fn)]

mod api;
pub(crate) mod engine;
#[allow(non_camel_case_types)] // the C names: qdtls_connection, qdtls_configuration, ...
pub mod ffi;
pub(crate) mod net;

pub use api::*;

/// Hooks for this crate's own tests (memory and trust-store checks); not
/// part of the API, and may change at any time.
#[doc(hidden)]
pub mod __private {
    pub use crate::engine::context::live_contexts;
    pub use crate::engine::psk::wipe;
    pub use crate::engine::resumption::rotate_ticket_keys;
    pub use crate::engine::trust::system_store_loaded;

    /// A client-side authenticator as OpenSSL's callback makes it, and the key it would use.
    pub fn psk_client_key(hint: &[u8], set: &[&[u8]]) -> Vec<u8> {
        let mut a = crate::engine::psk::PskAuthenticator::for_client(hint, 256, 512);
        for key in set {
            a.set_pre_shared_key(key);
        }
        a.key_to_use().to_vec()
    }
}
