//! The error of a failed call: Qt's `QDtlsError` kind and the message.

use std::fmt;

pub use crate::engine::error::DtlsError;

/// Why a call failed: the `QDtlsError` Qt would report and a human-readable
/// message (OpenSSL's reason included where OpenSSL gave one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    kind: DtlsError,
    message: String,
}

impl Error {
    pub(crate) fn new(kind: DtlsError, message: impl Into<String>) -> Error {
        Error { kind, message: message.into() }
    }

    /// The `QDtlsError` value (never `NoError`).
    pub fn kind(&self) -> DtlsError {
        self.kind
    }

    /// The message, as `QDtls::dtlsErrorString()` gives it.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.kind, self.message)
    }
}

impl std::error::Error for Error {}

/// The result of a qdtls call.
pub type Result<T> = std::result::Result<T, Error>;
