//! QDtlsError and the message that goes with it.

/// Qt's `QDtlsError`, with Qt's numeric values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[repr(i32)]
pub enum DtlsError {
    #[default]
    NoError = 0,
    InvalidInputParameters = 1,
    InvalidOperation = 2,
    UnderlyingSocketError = 3,
    RemoteClosedConnectionError = 4,
    PeerVerificationError = 5,
    TlsInitializationError = 6,
    TlsFatalError = 7,
    TlsNonFatalError = 8,
}

/// The last error of a session or verifier: a code and a human-readable text.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LastError {
    pub code: DtlsError,
    pub message: String,
}

impl LastError {
    pub fn set(&mut self, code: DtlsError, message: impl Into<String>) {
        self.code = code;
        self.message = message.into();
    }

    pub fn clear(&mut self) {
        self.code = DtlsError::NoError;
        self.message.clear();
    }
}

/// OpenSSL's error queue as text (drains it), for appending to messages.
pub fn openssl_errors() -> String {
    let stack = openssl::error::ErrorStack::get();
    stack
        .errors()
        .iter()
        .map(|e| e.reason().map(str::to_owned).unwrap_or_else(|| e.to_string()))
        .collect::<Vec<_>>()
        .join("; ")
}

/// `what` plus OpenSSL's reasons, if any.
pub fn with_openssl_errors(what: &str) -> String {
    let reasons = openssl_errors();
    if reasons.is_empty() {
        what.to_owned()
    } else {
        format!("{what}: {reasons}")
    }
}
