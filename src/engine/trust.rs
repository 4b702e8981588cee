//! The system's trust store: one `X509_STORE` for the whole process, made on
//! the first context that may verify a certificate against it and shared by
//! every such context.
//!
//! `SSL_CTX_set_default_verify_paths` parses the whole CA bundle (about 140
//! certificates, 20-35 ms and over 1 MB) into every context that calls it.
//! Like Qt, we look system roots up on demand instead: a hashed certificate
//! directory (`c_rehash` layout, as Debian's ca-certificates keeps
//! /etc/ssl/certs) is searched by subject hash when a chain is built, and only
//! the certificates found are parsed (and then cached in the shared store).
//! The bundle file is read, once per process, only when no such directory
//! exists or `SSL_CERT_FILE` names a file explicitly.

use std::ffi::CStr;
use std::path::Path;

use foreign_types::ForeignType;
use once_cell::sync::Lazy;
use openssl::ssl::{SslContextBuilder, SslFiletype};
use openssl::x509::store::{X509Lookup, X509Store, X509StoreBuilder};

use super::error::describe;
use super::ossl;

static SYSTEM: Lazy<Result<X509Store, String>> = Lazy::new(load);

/// Makes `b` verify against the system's trust store (made on first use).
pub fn attach_system_store(b: &mut SslContextBuilder) -> Result<(), String> {
    let store = SYSTEM.as_ref().map_err(Clone::clone)?;
    // SAFETY: both pointers are live; set1 takes its own reference, so the
    // store outlives every context that uses it.
    unsafe { ossl::SSL_CTX_set1_cert_store(b.as_ptr(), store.as_ptr()) };
    Ok(())
}

/// Whether this process has made the system trust store (for tests: PSK-only
/// and VerifyNone configurations must never make it).
#[doc(hidden)]
pub fn system_store_loaded() -> bool {
    Lazy::get(&SYSTEM).is_some()
}

/// Where OpenSSL looks: `SSL_CERT_DIR` / `SSL_CERT_FILE` if set, else its
/// compiled-in defaults.
fn locations() -> (String, Option<String>) {
    let default = |f: unsafe extern "C" fn() -> *const libc::c_char| {
        // SAFETY: OpenSSL returns a static NUL-terminated string.
        unsafe { CStr::from_ptr(f()) }.to_string_lossy().into_owned()
    };
    let dirs = std::env::var("SSL_CERT_DIR").unwrap_or_else(|_| default(openssl_sys::X509_get_default_cert_dir));
    let explicit_file = std::env::var("SSL_CERT_FILE").ok();
    let file = explicit_file.clone().unwrap_or_else(|| default(openssl_sys::X509_get_default_cert_file));
    let hashed = dirs.split(':').any(|d| has_hashed_certificates(Path::new(d)));
    // The bundle holds what the directory holds; read it only when the
    // directory cannot serve, or when the user asked for a file.
    let file = (explicit_file.is_some() || !hashed).then_some(file);
    (dirs, file)
}

/// True when `dir` has at least one `c_rehash` link (`0123abcd.0`).
fn has_hashed_certificates(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else { return false };
    entries.flatten().any(|e| {
        let name = e.file_name();
        let name = name.to_string_lossy();
        matches!(name.split_once('.'), Some((h, n))
            if h.len() == 8 && h.bytes().all(|b| b.is_ascii_hexdigit()) && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    })
}

fn load() -> Result<X509Store, String> {
    let (dirs, file) = locations();
    let mut b = X509StoreBuilder::new().map_err(describe("Cannot create the system trust store"))?;
    let lookup = b.add_lookup(X509Lookup::hash_dir()).map_err(describe("Cannot use the system CA directory"))?;
    lookup.add_dir(&dirs, SslFiletype::PEM).map_err(describe("Cannot use the system CA directory"))?;
    if let Some(file) = file.filter(|f| Path::new(f).exists()) {
        let lookup = b.add_lookup(X509Lookup::file()).map_err(describe("Cannot load the system CA certificates"))?;
        lookup.load_cert_file(&file, SslFiletype::PEM).map_err(describe("Cannot load the system CA certificates"))?;
    }
    Ok(b.build())
}

#[cfg(test)]
mod tests {
    use super::has_hashed_certificates;

    #[test]
    fn recognises_rehash_links_only() {
        let dir = std::env::temp_dir().join(format!("qdtls-trust-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("ca.pem"), b"").unwrap();
        std::fs::write(dir.join("0123abcd.txt"), b"").unwrap();
        assert!(!has_hashed_certificates(&dir));
        std::fs::write(dir.join("0123abcd.0"), b"").unwrap();
        assert!(has_hashed_certificates(&dir));
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(!has_hashed_certificates(&dir));
    }
}
