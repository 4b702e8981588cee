//! The Rust API: QDtls, QDtlsClientVerifier and QSslPreSharedKeyAuthenticator
//! with Rust types, `Result` for every call that can fail, and any
//! [`Transport`] (a `std::net::UdpSocket` works as it is).

mod certificate;
mod configuration;
mod dtls;
mod error;
mod keying;
mod server;
mod transport;
mod verifier;

pub use crate::engine::verify::SslErrorCode;
pub use certificate::Certificate;
pub use configuration::{Configuration, PeerVerifyMode, Protocol};
pub use dtls::{Dtls, HandshakeState, PskAuthenticator, SslError, SslMode};
pub use error::{DtlsError, Error, Result};
pub use keying::{SrtpKeys, SrtpProfile};
pub use server::{CloseReason, Server, ServerEvents};
pub use transport::Transport;
pub use verifier::{ClientVerifier, CookieHash, GeneratorParameters};
