// Qt's numeric values (and the few protocol numbers the API adds), in one place. This file is one invocation of
// `qt_values!`: the crate expands it into the Rust enums (src/engine/values.rs)
// and build.rs into the C enums of qdtls.h; the C++ shim uses those.
// Each entry: the Rust enum `as` its C type name, then each variant with its
// value `=>` its C constant.
qt_values! {
    /// Qt's `QDtlsError`: why a call failed.
    #[derive(Default)]
    pub enum DtlsError as qdtls_error {
        /// No error.
        #[default]
        NoError = 0 => QDTLS_ERROR_NO_ERROR,
        /// A bad argument: no socket, an empty datagram, an unusable address, a bad value.
        InvalidInputParameters = 1 => QDTLS_ERROR_INVALID_INPUT_PARAMETERS,
        /// Not allowed in the current state (e.g. writing before the handshake completed).
        InvalidOperation = 2 => QDTLS_ERROR_INVALID_OPERATION,
        /// The socket refused to send a datagram.
        UnderlyingSocketError = 3 => QDTLS_ERROR_UNDERLYING_SOCKET_ERROR,
        /// The peer closed the session (close_notify).
        RemoteClosedConnectionError = 4 => QDTLS_ERROR_REMOTE_CLOSED_CONNECTION_ERROR,
        /// The peer's certificate failed verification.
        PeerVerificationError = 5 => QDTLS_ERROR_PEER_VERIFICATION_ERROR,
        /// The configuration cannot be used (bad certificate, key, ciphers or protocol).
        TlsInitializationError = 6 => QDTLS_ERROR_TLS_INITIALIZATION_ERROR,
        /// The handshake or session failed for good (fatal alert, retransmission limit).
        TlsFatalError = 7 => QDTLS_ERROR_TLS_FATAL_ERROR,
        /// A recoverable TLS error.
        TlsNonFatalError = 8 => QDTLS_ERROR_TLS_NON_FATAL_ERROR,
    }

    /// `QDtls::HandshakeState`: where the handshake is.
    #[derive(Default)]
    pub enum HandshakeState as qdtls_handshake {
        /// Nothing happened yet, or the last handshake failed or was aborted.
        #[default]
        NotStarted = 0 => QDTLS_HANDSHAKE_NOT_STARTED,
        /// Handshake messages are being exchanged.
        InProgress = 1 => QDTLS_HANDSHAKE_IN_PROGRESS,
        /// The handshake finished but the peer's certificate failed
        /// verification: ignore the errors and resume, or abort.
        PeerVerificationFailed = 2 => QDTLS_PEER_VERIFICATION_FAILED,
        /// The session is encrypted.
        Complete = 3 => QDTLS_HANDSHAKE_COMPLETE,
    }

    /// `QSslSocket::SslMode`: which side of the handshake.
    pub enum SslMode as qdtls_mode {
        /// The side that sends the ClientHello.
        Client = 1 => QDTLS_SSL_CLIENT_MODE,
        /// The side that answers it.
        Server = 2 => QDTLS_SSL_SERVER_MODE,
    }

    /// `QSslSocket::PeerVerifyMode`: whether and how the peer's certificate is
    /// requested and verified.
    pub enum VerifyMode as qdtls_peer_verify_mode {
        /// Do not request a certificate; a client does not verify the server.
        VerifyNone = 0 => QDTLS_VERIFY_NONE,
        /// Request a certificate but do not verify it.
        QueryPeer = 1 => QDTLS_QUERY_PEER,
        /// Request a certificate; the handshake fails verification without a valid one.
        VerifyPeer = 2 => QDTLS_VERIFY_PEER,
        /// VerifyPeer for clients, QueryPeer for servers: the default.
        AutoVerifyPeer = 3 => QDTLS_AUTO_VERIFY_PEER,
    }

    /// `QSsl::SslProtocol`: the DTLS versions (Qt 6's values).
    pub enum Protocol as qdtls_protocol {
        /// Not known (no session yet, or not a DTLS protocol).
        Unknown = -1 => QDTLS_PROTOCOL_UNKNOWN,
        /// DTLS 1.0 only (deprecated in Qt).
        DtlsV1_0 = 8 => QDTLS_PROTOCOL_DTLS_V1_0,
        /// DTLS 1.0 or later (deprecated in Qt).
        DtlsV1_0OrLater = 9 => QDTLS_PROTOCOL_DTLS_V1_0_OR_LATER,
        /// DTLS 1.2 only.
        DtlsV1_2 = 10 => QDTLS_PROTOCOL_DTLS_V1_2,
        /// DTLS 1.2 or later: the default.
        DtlsV1_2OrLater = 11 => QDTLS_PROTOCOL_DTLS_V1_2_OR_LATER,
    }

    /// The hash of the cookie HMAC: the `QCryptographicHash::Algorithm`
    /// values this library accepts.
    pub enum CookieHash as qdtls_hash {
        /// MD5.
        Md5 = 1 => QDTLS_HASH_MD5,
        /// SHA-1.
        Sha1 = 2 => QDTLS_HASH_SHA1,
        /// SHA-224.
        Sha224 = 3 => QDTLS_HASH_SHA224,
        /// SHA-256, the default.
        Sha256 = 4 => QDTLS_HASH_SHA256,
        /// SHA-384.
        Sha384 = 5 => QDTLS_HASH_SHA384,
        /// SHA-512.
        Sha512 = 6 => QDTLS_HASH_SHA512,
        /// SHA3-224 (Qt's `RealSha3_224`).
        Sha3_224 = 11 => QDTLS_HASH_SHA3_224,
        /// SHA3-256 (Qt's `RealSha3_256`).
        Sha3_256 = 12 => QDTLS_HASH_SHA3_256,
        /// SHA3-384 (Qt's `RealSha3_384`).
        Sha3_384 = 13 => QDTLS_HASH_SHA3_384,
        /// SHA3-512 (Qt's `RealSha3_512`).
        Sha3_512 = 14 => QDTLS_HASH_SHA3_512,
    }

    /// `QSslError::SslError`: why a peer failed verification (the codes this
    /// library reports).
    pub enum SslErrorCode as qdtls_ssl_error_code {
        /// No error.
        NoError = 0 => QDTLS_SSL_ERROR_NO_ERROR,
        /// The issuer certificate of a looked-up certificate could not be found.
        UnableToGetIssuerCertificate = 1 => QDTLS_SSL_ERROR_UNABLE_TO_GET_ISSUER_CERTIFICATE,
        /// The certificate signature could not be decrypted.
        UnableToDecryptCertificateSignature = 2 => QDTLS_SSL_ERROR_UNABLE_TO_DECRYPT_CERTIFICATE_SIGNATURE,
        /// The public key in the certificate could not be read.
        UnableToDecodeIssuerPublicKey = 3 => QDTLS_SSL_ERROR_UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY,
        /// The signature of the certificate is invalid.
        CertificateSignatureFailed = 4 => QDTLS_SSL_ERROR_CERTIFICATE_SIGNATURE_FAILED,
        /// The certificate is not yet valid.
        CertificateNotYetValid = 5 => QDTLS_SSL_ERROR_CERTIFICATE_NOT_YET_VALID,
        /// The certificate has expired.
        CertificateExpired = 6 => QDTLS_SSL_ERROR_CERTIFICATE_EXPIRED,
        /// The certificate's notBefore field contains an invalid time.
        InvalidNotBeforeField = 7 => QDTLS_SSL_ERROR_INVALID_NOT_BEFORE_FIELD,
        /// The certificate's notAfter field contains an invalid time.
        InvalidNotAfterField = 8 => QDTLS_SSL_ERROR_INVALID_NOT_AFTER_FIELD,
        /// The certificate is self-signed, and untrusted.
        SelfSignedCertificate = 9 => QDTLS_SSL_ERROR_SELF_SIGNED_CERTIFICATE,
        /// The root certificate of the chain is self-signed, and untrusted.
        SelfSignedCertificateInChain = 10 => QDTLS_SSL_ERROR_SELF_SIGNED_CERTIFICATE_IN_CHAIN,
        /// The issuer certificate of a locally looked-up certificate could not be found.
        UnableToGetLocalIssuerCertificate = 11 => QDTLS_SSL_ERROR_UNABLE_TO_GET_LOCAL_ISSUER_CERTIFICATE,
        /// No certificates could be verified.
        UnableToVerifyFirstCertificate = 12 => QDTLS_SSL_ERROR_UNABLE_TO_VERIFY_FIRST_CERTIFICATE,
        /// The certificate has been revoked.
        CertificateRevoked = 13 => QDTLS_SSL_ERROR_CERTIFICATE_REVOKED,
        /// A CA certificate is invalid.
        InvalidCaCertificate = 14 => QDTLS_SSL_ERROR_INVALID_CA_CERTIFICATE,
        /// The basicConstraints path length was exceeded.
        PathLengthExceeded = 15 => QDTLS_SSL_ERROR_PATH_LENGTH_EXCEEDED,
        /// The certificate may not be used for this purpose.
        InvalidPurpose = 16 => QDTLS_SSL_ERROR_INVALID_PURPOSE,
        /// The root CA is not trusted for this purpose.
        CertificateUntrusted = 17 => QDTLS_SSL_ERROR_CERTIFICATE_UNTRUSTED,
        /// The root CA rejects this purpose.
        CertificateRejected = 18 => QDTLS_SSL_ERROR_CERTIFICATE_REJECTED,
        /// The peer did not present any certificate.
        NoPeerCertificate = 21 => QDTLS_SSL_ERROR_NO_PEER_CERTIFICATE,
        /// The certificate is not valid for the peer's verification name.
        HostNameMismatch = 22 => QDTLS_SSL_ERROR_HOST_NAME_MISMATCH,
        /// The certificate is on Qt's blacklist of fraudulent certificates.
        CertificateBlacklisted = 24 => QDTLS_SSL_ERROR_CERTIFICATE_BLACKLISTED,
        /// Any other verification error.
        UnspecifiedError = -1 => QDTLS_SSL_ERROR_UNSPECIFIED_ERROR,
    }

    /// A DTLS-SRTP protection profile (RFC 5764 4.1.2, RFC 7714), with its
    /// number from the IANA registry.
    pub enum SrtpProfile as qdtls_srtp_profile {
        /// AES-128 counter mode, HMAC-SHA1 with an 80-bit tag.
        Aes128CmSha1_80 = 1 => QDTLS_SRTP_AES128_CM_SHA1_80,
        /// AES-128 counter mode, HMAC-SHA1 with a 32-bit tag.
        Aes128CmSha1_32 = 2 => QDTLS_SRTP_AES128_CM_SHA1_32,
        /// AEAD AES-128-GCM (RFC 7714).
        AeadAes128Gcm = 7 => QDTLS_SRTP_AEAD_AES_128_GCM,
        /// AEAD AES-256-GCM (RFC 7714).
        AeadAes256Gcm = 8 => QDTLS_SRTP_AEAD_AES_256_GCM,
    }

    /// Why a server dropped a peer (the reason its `closed` event carries).
    pub enum CloseReason as qdtls_close_reason {
        /// The peer sent close_notify.
        CloseNotify = 1 => QDTLS_CLOSE_NOTIFY,
        /// A fatal alert was sent or received: a failed handshake, a failed
        /// certificate verification, a record the session could not take.
        FatalAlert = 2 => QDTLS_CLOSE_FATAL_ALERT,
        /// Idle too long, a handshake not complete in time, or a peer that
        /// stopped answering retransmissions.
        IdleTimeout = 3 => QDTLS_CLOSE_IDLE_TIMEOUT,
        /// Dropped to make room under a limit (the oldest handshake first).
        Evicted = 4 => QDTLS_CLOSE_EVICTED,
        /// The same address and port completed a new handshake (a client
        /// restarted on the same port, RFC 6347 4.2.8).
        Replaced = 5 => QDTLS_CLOSE_REPLACED,
        /// Any other error.
        Error = 6 => QDTLS_CLOSE_ERROR,
        /// The application closed it (close_peer, shutdown on the peer, or
        /// the server's shutdown).
        Local = 7 => QDTLS_CLOSE_LOCAL,
        /// The server was dropped while the peer was still there (nothing is sent).
        ServerFreed = 8 => QDTLS_CLOSE_SERVER_FREED,
    }
}
