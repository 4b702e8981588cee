"""Qt's enums with Qt's names and numeric values (no Qt needed)."""

from enum import IntEnum

__all__ = [
    "QDtlsError", "HandshakeState", "SslMode", "PeerVerifyMode", "SslProtocol",
    "SslErrorCode", "Algorithm", "EncodingFormat", "KeyAlgorithm", "KeyType",
    "SslOption", "ssl_error_string",
]


class QDtlsError(IntEnum):
    """Why a call failed (``QDtlsError``)."""
    NoError = 0
    InvalidInputParameters = 1
    InvalidOperation = 2
    UnderlyingSocketError = 3
    RemoteClosedConnectionError = 4
    PeerVerificationError = 5
    TlsInitializationError = 6
    TlsFatalError = 7
    TlsNonFatalError = 8


class HandshakeState(IntEnum):
    """Where the handshake is (``QDtls.HandshakeState``)."""
    HandshakeNotStarted = 0
    HandshakeInProgress = 1
    PeerVerificationFailed = 2
    HandshakeComplete = 3


class SslMode(IntEnum):
    """Which side of the handshake (``QSslSocket.SslMode``)."""
    UnencryptedMode = 0
    SslClientMode = 1
    SslServerMode = 2


class PeerVerifyMode(IntEnum):
    """Whether and how the peer's certificate is checked (``QSslSocket.PeerVerifyMode``)."""
    VerifyNone = 0
    QueryPeer = 1
    VerifyPeer = 2
    AutoVerifyPeer = 3


class SslProtocol(IntEnum):
    """Protocol versions (``QSsl.SslProtocol``, Qt 6's values)."""
    TlsV1_0 = 0
    TlsV1_1 = 1
    TlsV1_2 = 2
    AnyProtocol = 3
    SecureProtocols = 4
    TlsV1_0OrLater = 5
    TlsV1_1OrLater = 6
    TlsV1_2OrLater = 7
    DtlsV1_0 = 8
    DtlsV1_0OrLater = 9
    DtlsV1_2 = 10
    DtlsV1_2OrLater = 11
    TlsV1_3 = 12
    TlsV1_3OrLater = 13
    UnknownProtocol = -1


class SslErrorCode(IntEnum):
    """Peer verification errors (``QSslError.SslError``)."""
    NoError = 0
    UnableToGetIssuerCertificate = 1
    UnableToDecryptCertificateSignature = 2
    UnableToDecodeIssuerPublicKey = 3
    CertificateSignatureFailed = 4
    CertificateNotYetValid = 5
    CertificateExpired = 6
    InvalidNotBeforeField = 7
    InvalidNotAfterField = 8
    SelfSignedCertificate = 9
    SelfSignedCertificateInChain = 10
    UnableToGetLocalIssuerCertificate = 11
    UnableToVerifyFirstCertificate = 12
    CertificateRevoked = 13
    InvalidCaCertificate = 14
    PathLengthExceeded = 15
    InvalidPurpose = 16
    CertificateUntrusted = 17
    CertificateRejected = 18
    SubjectIssuerMismatch = 19
    AuthorityIssuerSerialNumberMismatch = 20
    NoPeerCertificate = 21
    HostNameMismatch = 22
    NoSslSupport = 23
    CertificateBlacklisted = 24
    CertificateStatusUnknown = 25
    OcspNoResponseFound = 26
    OcspMalformedRequest = 27
    OcspMalformedResponse = 28
    OcspInternalError = 29
    OcspTryLater = 30
    OcspSigRequred = 31
    OcspUnauthorized = 32
    OcspResponseCannotBeTrusted = 33
    OcspResponseCertIdUnknown = 34
    OcspResponseExpired = 35
    OcspStatusUnknown = 36
    UnspecifiedError = -1


class Algorithm(IntEnum):
    """Cookie HMAC hashes (``QCryptographicHash.Algorithm`` values)."""
    Md4 = 0
    Md5 = 1
    Sha1 = 2
    Sha224 = 3
    Sha256 = 4
    Sha384 = 5
    Sha512 = 6
    Keccak_224 = 7
    Keccak_256 = 8
    Keccak_384 = 9
    Keccak_512 = 10
    RealSha3_224 = 11
    RealSha3_256 = 12
    RealSha3_384 = 13
    RealSha3_512 = 14
    Sha3_224 = 11
    Sha3_256 = 12
    Sha3_384 = 13
    Sha3_512 = 14


class EncodingFormat(IntEnum):
    """``QSsl.EncodingFormat``."""
    Pem = 0
    Der = 1


class KeyAlgorithm(IntEnum):
    """``QSsl.KeyAlgorithm``."""
    Opaque = 0
    Rsa = 1
    Dsa = 2
    Ec = 3
    Dh = 4


class KeyType(IntEnum):
    """``QSsl.KeyType``."""
    PrivateKey = 0
    PublicKey = 1


class SslOption(IntEnum):
    """``QSsl.SslOption`` (only SslOptionDisableServerCipherPreference means anything for DTLS)."""
    SslOptionDisableEmptyFragments = 0x01
    SslOptionDisableSessionTickets = 0x02
    SslOptionDisableCompression = 0x04
    SslOptionDisableServerNameIndication = 0x08
    SslOptionDisableLegacyRenegotiation = 0x10
    SslOptionDisableSessionSharing = 0x20
    SslOptionDisableSessionPersistence = 0x40
    SslOptionDisableServerCipherPreference = 0x80


_SSL_ERROR_STRINGS = {
    0: "No error",
    1: "The issuer certificate could not be found",
    2: "The certificate signature could not be decrypted",
    3: "The public key in the certificate could not be read",
    4: "The signature of the certificate is invalid",
    5: "The certificate is not yet valid",
    6: "The certificate has expired",
    7: "The certificate's notBefore field contains an invalid time",
    8: "The certificate's notAfter field contains an invalid time",
    9: "The certificate is self-signed, and untrusted",
    10: "The root certificate of the certificate chain is self-signed, and untrusted",
    11: "The issuer certificate of a locally looked up certificate could not be found",
    12: "No certificates could be verified",
    13: "The certificate has been revoked",
    14: "One of the CA certificates is invalid",
    15: "The basicConstraints path length parameter has been exceeded",
    16: "The supplied certificate is unsuitable for this purpose",
    17: "The root CA certificate is not trusted for this purpose",
    18: "The root CA certificate is marked to reject the specified purpose",
    19: "The current candidate issuer certificate was rejected because its subject name did not match the issuer name of the current certificate",
    20: "The current candidate issuer certificate was rejected because its issuer name and serial number was present and did not match the authority key identifier of the current certificate",
    21: "The peer did not present any certificate",
    22: "The host name did not match any of the valid hosts for this certificate",
    24: "The peer certificate is blacklisted",
}


def ssl_error_string(code: int) -> str:
    """Qt's text for a ``QSslError.SslError`` code."""
    return _SSL_ERROR_STRINGS.get(int(code), "Unknown error")
