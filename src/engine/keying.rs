//! Keying material from an established session: the RFC 5705 exporter and
//! DTLS-SRTP's master keys and salts (RFC 5764 4.2).

use openssl::ssl::SslRef;

use super::error::describe;
pub use super::values::SrtpProfile;

impl SrtpProfile {
    /// OpenSSL's name of the profile, as `SSL_CTX_set_tlsext_use_srtp` takes it.
    pub fn openssl_name(self) -> &'static str {
        match self {
            SrtpProfile::Aes128CmSha1_80 => "SRTP_AES128_CM_SHA1_80",
            SrtpProfile::Aes128CmSha1_32 => "SRTP_AES128_CM_SHA1_32",
            SrtpProfile::AeadAes128Gcm => "SRTP_AEAD_AES_128_GCM",
            SrtpProfile::AeadAes256Gcm => "SRTP_AEAD_AES_256_GCM",
        }
    }

    /// Master key and master salt lengths in bytes (RFC 3711, RFC 7714).
    pub fn key_and_salt_len(self) -> (usize, usize) {
        match self {
            SrtpProfile::Aes128CmSha1_80 | SrtpProfile::Aes128CmSha1_32 => (16, 14),
            SrtpProfile::AeadAes128Gcm => (16, 12),
            SrtpProfile::AeadAes256Gcm => (32, 12),
        }
    }

    /// The profile with this IANA number.
    pub fn from_id(id: u64) -> Option<Self> {
        i32::try_from(id).ok().and_then(Self::from_i32)
    }
}

/// The SRTP master keys and salts of both sides.
#[derive(Clone, PartialEq, Eq)]
pub struct SrtpKeys {
    /// The negotiated profile.
    pub profile: SrtpProfile,
    /// The client's master key (protects what the client sends).
    pub client_key: Vec<u8>,
    /// The server's master key.
    pub server_key: Vec<u8>,
    /// The client's master salt.
    pub client_salt: Vec<u8>,
    /// The server's master salt.
    pub server_salt: Vec<u8>,
}

impl Drop for SrtpKeys {
    fn drop(&mut self) {
        for k in [&mut self.client_key, &mut self.server_key, &mut self.client_salt, &mut self.server_salt] {
            super::psk::wipe(k);
        }
    }
}

/// The label RFC 5764 4.2 gives DTLS-SRTP's exporter.
pub const SRTP_EXPORTER_LABEL: &str = "EXTRACTOR-dtls_srtp";

/// RFC 5705: `out.len()` bytes for `label` and, if given, `context`.
pub fn export(ssl: &SslRef, label: &str, context: Option<&[u8]>, out: &mut [u8]) -> Result<(), String> {
    ssl.export_keying_material(out, label, context).map_err(describe("Cannot export keying material"))
}

/// The negotiated SRTP profile, if the peers agreed on one.
pub fn selected_profile(ssl: &SslRef) -> Option<SrtpProfile> {
    ssl.selected_srtp_profile().and_then(|p| SrtpProfile::from_id(p.id().as_raw()))
}

/// RFC 5764 4.2: the exporter's output cut into client key, server key,
/// client salt, server salt.
pub fn srtp_keys(ssl: &SslRef) -> Result<SrtpKeys, String> {
    let profile = selected_profile(ssl).ok_or("No SRTP profile was negotiated")?;
    let (key, salt) = profile.key_and_salt_len();
    let mut material = vec![0u8; 2 * (key + salt)];
    export(ssl, SRTP_EXPORTER_LABEL, None, &mut material)?;
    let keys = SrtpKeys {
        profile,
        client_key: material[..key].to_vec(),
        server_key: material[key..2 * key].to_vec(),
        client_salt: material[2 * key..2 * key + salt].to_vec(),
        server_salt: material[2 * key + salt..].to_vec(),
    };
    super::psk::wipe(&mut material);
    Ok(keys)
}
