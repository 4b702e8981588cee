//! QDtlsError and the message that goes with it.

pub use super::values::DtlsError;

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
    reasons(&openssl::error::ErrorStack::get())
}

/// The reasons in an error stack, as OpenSSL words them ("ee key too small").
fn reasons(stack: &openssl::error::ErrorStack) -> String {
    stack
        .errors()
        .iter()
        .map(|e| e.reason().map(str::to_owned).unwrap_or_else(|| e.to_string()))
        .collect::<Vec<_>>()
        .join("; ")
}

/// For `map_err` on a call of the `openssl` crate, which has already taken
/// OpenSSL's error queue into the `ErrorStack`: `what` plus its reasons.
pub fn describe(what: &str) -> impl FnOnce(openssl::error::ErrorStack) -> String + '_ {
    move |stack| join(what, reasons(&stack))
}

/// `what` plus the reasons left in OpenSSL's error queue, if any (after raw
/// OpenSSL calls, which leave the queue alone).
pub fn with_openssl_errors(what: &str) -> String {
    join(what, openssl_errors())
}

fn join(what: &str, reasons: String) -> String {
    if reasons.is_empty() {
        what.to_owned()
    } else {
        format!("{what}: {reasons}")
    }
}
