//! Qt's certificate blacklist: certificates known to be fraudulent (the
//! Comodo and DigiNotar compromises, mis-issued intermediates), which Qt
//! reports as `QSslError::CertificateBlacklisted` whatever the trust store
//! says.
//!
//! Qt's rule, followed exactly: a certificate is blacklisted when its serial
//! number (written as Qt writes it: lower-case hex bytes joined by colons)
//! is on the list and one of its subject or issuer common names equals the
//! name listed with that serial.

use openssl::nid::Nid;
use openssl::x509::{X509NameRef, X509Ref};

/// (serial number, common name) of each blacklisted certificate.
const BLACKLIST: &[(&str, &str)] = &[
    // Fraudulent certificates of the Comodo compromise (March 2011).
    ("04:7e:cb:e9:fc:a5:5f:7b:d0:9e:ae:36:e1:0c:ae:1e", "mail.google.com"),
    ("f5:c8:6a:f3:61:62:f1:3a:64:f5:4f:6d:c9:58:7c:06", "www.google.com"),
    ("d7:55:8f:da:f5:f1:10:5b:b2:13:28:2b:70:77:29:a3", "login.yahoo.com"),
    ("39:2a:43:4f:0e:07:df:1f:8a:a3:05:de:34:e0:c2:29", "login.yahoo.com"),
    ("3e:75:ce:d4:6b:69:30:21:21:88:30:ae:86:a8:2a:71", "login.yahoo.com"),
    ("e9:02:8b:95:78:e4:15:dc:1a:71:0a:2b:88:15:44:47", "login.skype.com"),
    ("92:39:d5:34:8f:40:d1:69:5a:74:54:70:e1:f2:3f:43", "addons.mozilla.org"),
    ("b0:b7:13:3e:d0:96:f9:b5:6f:ae:91:c8:74:bd:3a:c0", "login.live.com"),
    ("d8:f3:5f:4e:b7:87:2b:2d:ab:06:92:e3:15:38:2f:b0", "global trustee"),
    // DigiNotar (2011): a fraudulent leaf, its roots and intermediates.
    ("05:e2:e6:a4:cd:09:ea:54:d6:65:b0:75:fe:22:a2:56", "*.google.com"),
    ("0c:76:da:9c:91:0c:4e:2c:9e:fe:15:d0:58:93:3c:4c", "DigiNotar Root CA"),
    ("f1:4a:13:f4:87:2b:56:dc:39:df:84:ca:7a:a1:06:49", "DigiNotar Services CA"),
    ("36:16:71:55:43:42:1b:9d:e6:cb:a3:64:41:df:24:38", "DigiNotar Services 1024 CA"),
    ("0a:82:bd:1e:14:4e:88:14:d7:5b:1a:55:27:be:bf:3e", "DigiNotar Root CA G2"),
    ("a4:b6:ce:e3:2e:d3:35:46:26:3c:b3:55:3a:a8:92:21", "CertiID Enterprise Certificate Authority"),
    ("5b:d5:60:9c:64:17:68:cf:21:0e:35:fd:fb:05:ad:41", "DigiNotar Qualified CA"),
    ("46:9c:2c:b0", "DigiNotar Services 1024 CA"),
    ("07:27:10:0d", "DigiNotar Cyber CA"),
    ("07:27:0f:f9", "DigiNotar Cyber CA"),
    ("07:27:10:03", "DigiNotar Cyber CA"),
    ("01:31:69:b0", "DigiNotar PKIoverheid CA Overheid en Bedrijven"),
    ("01:31:34:bf", "DigiNotar PKIoverheid CA Organisatie - G2"),
    ("d6:d0:29:77:f1:49:fd:1a:83:f2:b9:ea:94:8c:5c:b4", "DigiNotar Extended Validation CA"),
    ("1e:7d:7a:53:3d:45:30:41:96:40:0f:71:48:1f:45:04", "DigiNotar Public CA 2025"),
    ("46:9c:2c:af", "DigiNotar Root CA"),
    ("46:9c:3c:c9", "DigiNotar Root CA"),
    // Malaysian Digicert Sdn. Bhd. intermediates (weak keys, 2011).
    ("07:27:14:a9", "Digisign Server ID (Enrich)"),
    ("4c:0e:63:6a", "Digisign Server ID - (Enrich)"),
    // The "comodogate" test certificate and the MD5-collision rogue CA (2008).
    ("72:03:21:05:c5:0c:08:57:3d:8e:a5:30:4e:fe:e8:b0", "UTN-USERFirst-Hardware"),
    ("41", "MD5 Collisions Inc. (http://www.phreedom.org/md5)"),
    // TURKTRUST mis-issued intermediates (2012).
    ("08:27", "*.EGO.GOV.TR"),
    ("08:64", "e-islem.kktcmerkezbankasi.org"),
    // ANSSI (2013) and NIC India (2014) intermediates.
    ("03:1d:a7", "AC DG Tr\u{e9}sor SSL"),
    ("27:83", "NIC Certifying Authority"),
    ("27:92", "NIC CA 2011"),
    ("27:b1", "NIC CA 2014"),
];

/// Whether Qt would report `cert` as CertificateBlacklisted.
pub fn is_blacklisted(cert: &X509Ref) -> bool {
    let Some(serial) = serial_text(cert) else { return false };
    let listed: Vec<&str> = BLACKLIST.iter().filter(|(s, _)| *s == serial).map(|(_, cn)| *cn).collect();
    if listed.is_empty() {
        return false;
    }
    let names = common_names(cert.subject_name()).chain(common_names(cert.issuer_name()));
    names.into_iter().any(|cn| listed.contains(&cn.as_str()))
}

/// The serial number's bytes as Qt writes them: "0a:82:bd".
fn serial_text(cert: &X509Ref) -> Option<String> {
    let bytes = cert.serial_number().to_bn().ok()?.to_vec();
    let hex: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Some(hex.join(":"))
}

fn common_names(name: &X509NameRef) -> impl Iterator<Item = String> + '_ {
    name.entries_by_nid(Nid::COMMONNAME).filter_map(|e| e.data().to_string().ok().map(|s| s.to_string()))
}

#[cfg(test)]
mod tests {
    use openssl::asn1::{Asn1Integer, Asn1Time};
    use openssl::bn::BigNum;
    use openssl::ec::{EcGroup, EcKey};
    use openssl::hash::MessageDigest;
    use openssl::nid::Nid;
    use openssl::pkey::PKey;
    use openssl::x509::{X509NameBuilder, X509};

    use super::is_blacklisted;

    fn cert(serial_hex: &str, cn: &str, issuer_cn: &str) -> X509 {
        let key =
            PKey::from_ec_key(EcKey::generate(&EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap()).unwrap())
                .unwrap();
        let name = |cn: &str| {
            let mut n = X509NameBuilder::new().unwrap();
            n.append_entry_by_text("CN", cn).unwrap();
            n.build()
        };
        let mut b = X509::builder().unwrap();
        let serial = Asn1Integer::from_bn(&BigNum::from_hex_str(serial_hex).unwrap()).unwrap();
        b.set_serial_number(&serial).unwrap();
        b.set_subject_name(&name(cn)).unwrap();
        b.set_issuer_name(&name(issuer_cn)).unwrap();
        b.set_pubkey(&key).unwrap();
        b.set_not_before(&Asn1Time::days_from_now(0).unwrap()).unwrap();
        b.set_not_after(&Asn1Time::days_from_now(1).unwrap()).unwrap();
        b.sign(&key, MessageDigest::sha256()).unwrap();
        b.build()
    }

    #[test]
    fn serial_and_a_common_name_must_both_match() {
        assert!(is_blacklisted(&cert("b0b7133ed096f9b56fae91c874bd3ac0", "login.live.com", "test CA")));
        assert!(is_blacklisted(&cert("41", "x", "MD5 Collisions Inc. (http://www.phreedom.org/md5)")));
        assert!(is_blacklisted(&cert("031da7", "AC DG Trésor SSL", "x")));
        // The right name with another serial, the right serial with another name.
        assert!(!is_blacklisted(&cert("b0b7133ed096f9b56fae91c874bd3ac1", "login.live.com", "test CA")));
        assert!(!is_blacklisted(&cert("b0b7133ed096f9b56fae91c874bd3ac0", "www.live.com", "test CA")));
        // Qt compares whole names, not substrings.
        assert!(!is_blacklisted(&cert("b0b7133ed096f9b56fae91c874bd3ac0", "login.live.com.evil", "test CA")));
    }
}
