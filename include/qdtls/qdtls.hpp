// <qdtls/qdtls.hpp>: a header-only C++17 shim over the qdtls C ABI (qdtls.h) with the
// names and semantics of Qt's QDtls, QDtlsClientVerifier and
// QSslPreSharedKeyAuthenticator, over native UDP sockets and standard types.
//
// - RAII and move-only handles; no exceptions are thrown (usable with
//   -fno-exceptions); errors are reported exactly as in Qt: return values
//   plus dtlsError() / dtlsErrorString().
// - A "socket" is the application's own UDP socket descriptor; -1 is Qt's
//   null socket. The application reads datagrams; the library sends.
// - Qt's handshakeTimeout signal becomes nextTimeoutMs(): wait that long (or
//   until a datagram arrives), then call handleTimeout().
// - Qt's pskRequired signal becomes a handler set with onPskRequired().
// - Beyond Qt (WebRTC, CoAP): the RFC 5705 exporter, DTLS-SRTP, the
//   negotiated ALPN protocol, session resumption, a retransmission policy and
//   a send callback for connections without a socket (socket -1).
// - Beyond Qt: qdtls::Server (<qdtls/server.hpp>, included here), one server
//   for every peer of a socket; its peers are qdtls::Peer views. QDtls and
//   Peer share their getters through qdtls::DtlsConnection.
// - The C handles behind the classes (nativeHandle()) are the C API's
//   qdtls_connection, qdtls_client_verifier, qdtls_configuration and
//   qdtls_server.
#ifndef QDTLS_HPP
#define QDTLS_HPP

#include "qdtls.h"

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace qdtls {

/// Raw bytes (datagrams, keys, DER certificates).
using Bytes = std::vector<std::uint8_t>;

/// QDtlsError, with Qt's values.
enum class QDtlsError : int {
    NoError = QDTLS_ERROR_NO_ERROR,
    InvalidInputParameters = QDTLS_ERROR_INVALID_INPUT_PARAMETERS,
    InvalidOperation = QDTLS_ERROR_INVALID_OPERATION,
    UnderlyingSocketError = QDTLS_ERROR_UNDERLYING_SOCKET_ERROR,
    RemoteClosedConnectionError = QDTLS_ERROR_REMOTE_CLOSED_CONNECTION_ERROR,
    PeerVerificationError = QDTLS_ERROR_PEER_VERIFICATION_ERROR,
    TlsInitializationError = QDTLS_ERROR_TLS_INITIALIZATION_ERROR,
    TlsFatalError = QDTLS_ERROR_TLS_FATAL_ERROR,
    TlsNonFatalError = QDTLS_ERROR_TLS_NON_FATAL_ERROR,
};

/// QDtls::HandshakeState.
enum class HandshakeState : int {
    HandshakeNotStarted = QDTLS_HANDSHAKE_NOT_STARTED,
    HandshakeInProgress = QDTLS_HANDSHAKE_IN_PROGRESS,
    PeerVerificationFailed = QDTLS_PEER_VERIFICATION_FAILED,
    HandshakeComplete = QDTLS_HANDSHAKE_COMPLETE,
};

/// QSslSocket::SslMode.
enum class SslMode : int {
    UnencryptedMode = QDTLS_UNENCRYPTED_MODE,
    SslClientMode = QDTLS_SSL_CLIENT_MODE,
    SslServerMode = QDTLS_SSL_SERVER_MODE,
};

/// QSsl::SslProtocol (the DTLS values; others are refused at handshake time).
enum class SslProtocol : int {
    UnknownProtocol = QDTLS_PROTOCOL_UNKNOWN,
    DtlsV1_0 = QDTLS_PROTOCOL_DTLS_V1_0,
    DtlsV1_0OrLater = QDTLS_PROTOCOL_DTLS_V1_0_OR_LATER,
    DtlsV1_2 = QDTLS_PROTOCOL_DTLS_V1_2,
    DtlsV1_2OrLater = QDTLS_PROTOCOL_DTLS_V1_2_OR_LATER,
};

/// QSslSocket::PeerVerifyMode.
enum class PeerVerifyMode : int {
    VerifyNone = QDTLS_VERIFY_NONE,
    QueryPeer = QDTLS_QUERY_PEER,
    VerifyPeer = QDTLS_VERIFY_PEER,
    AutoVerifyPeer = QDTLS_AUTO_VERIFY_PEER,
};

/// QCryptographicHash::Algorithm values accepted for cookies.
enum class HashAlgorithm : int {
    Md5 = QDTLS_HASH_MD5,
    Sha1 = QDTLS_HASH_SHA1,
    Sha224 = QDTLS_HASH_SHA224,
    Sha256 = QDTLS_HASH_SHA256,
    Sha384 = QDTLS_HASH_SHA384,
    Sha512 = QDTLS_HASH_SHA512,
    Sha3_224 = QDTLS_HASH_SHA3_224,
    Sha3_256 = QDTLS_HASH_SHA3_256,
    Sha3_384 = QDTLS_HASH_SHA3_384,
    Sha3_512 = QDTLS_HASH_SHA3_512,
};

/// QSslError::SslError, with Qt's values.
enum class SslError : int {
    NoError = QDTLS_SSL_ERROR_NO_ERROR,
    UnableToGetIssuerCertificate = QDTLS_SSL_ERROR_UNABLE_TO_GET_ISSUER_CERTIFICATE,
    UnableToDecryptCertificateSignature = QDTLS_SSL_ERROR_UNABLE_TO_DECRYPT_CERTIFICATE_SIGNATURE,
    UnableToDecodeIssuerPublicKey = QDTLS_SSL_ERROR_UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY,
    CertificateSignatureFailed = QDTLS_SSL_ERROR_CERTIFICATE_SIGNATURE_FAILED,
    CertificateNotYetValid = QDTLS_SSL_ERROR_CERTIFICATE_NOT_YET_VALID,
    CertificateExpired = QDTLS_SSL_ERROR_CERTIFICATE_EXPIRED,
    InvalidNotBeforeField = QDTLS_SSL_ERROR_INVALID_NOT_BEFORE_FIELD,
    InvalidNotAfterField = QDTLS_SSL_ERROR_INVALID_NOT_AFTER_FIELD,
    SelfSignedCertificate = QDTLS_SSL_ERROR_SELF_SIGNED_CERTIFICATE,
    SelfSignedCertificateInChain = QDTLS_SSL_ERROR_SELF_SIGNED_CERTIFICATE_IN_CHAIN,
    UnableToGetLocalIssuerCertificate = QDTLS_SSL_ERROR_UNABLE_TO_GET_LOCAL_ISSUER_CERTIFICATE,
    UnableToVerifyFirstCertificate = QDTLS_SSL_ERROR_UNABLE_TO_VERIFY_FIRST_CERTIFICATE,
    CertificateRevoked = QDTLS_SSL_ERROR_CERTIFICATE_REVOKED,
    InvalidCaCertificate = QDTLS_SSL_ERROR_INVALID_CA_CERTIFICATE,
    PathLengthExceeded = QDTLS_SSL_ERROR_PATH_LENGTH_EXCEEDED,
    InvalidPurpose = QDTLS_SSL_ERROR_INVALID_PURPOSE,
    CertificateUntrusted = QDTLS_SSL_ERROR_CERTIFICATE_UNTRUSTED,
    CertificateRejected = QDTLS_SSL_ERROR_CERTIFICATE_REJECTED,
    NoPeerCertificate = QDTLS_SSL_ERROR_NO_PEER_CERTIFICATE,
    HostNameMismatch = QDTLS_SSL_ERROR_HOST_NAME_MISMATCH,
    CertificateBlacklisted = QDTLS_SSL_ERROR_CERTIFICATE_BLACKLISTED,
    UnspecifiedError = QDTLS_SSL_ERROR_UNSPECIFIED_ERROR,
};

/// A DTLS-SRTP protection profile (RFC 5764, RFC 7714), with the C values.
enum class SrtpProfile : int {
    /// None negotiated (or not encrypted).
    NoProfile = 0,
    Aes128CmSha1_80 = QDTLS_SRTP_AES128_CM_SHA1_80,
    Aes128CmSha1_32 = QDTLS_SRTP_AES128_CM_SHA1_32,
    AeadAes128Gcm = QDTLS_SRTP_AEAD_AES_128_GCM,
    AeadAes256Gcm = QDTLS_SRTP_AEAD_AES_256_GCM,
};

/// DTLS-SRTP keying material (RFC 5764 4.2): the negotiated profile and both
/// sides' master keys and salts. Secret: keep it like a key.
struct SrtpKeyingMaterial {
    SrtpProfile profile = SrtpProfile::NoProfile;
    Bytes clientKey;  ///< protects what the client sends
    Bytes serverKey;  ///< protects what the server sends
    Bytes clientSalt;
    Bytes serverSalt;
};

/// QSslError: a code and the (DER) certificate it concerns; an empty
/// certificate in an ignore list matches any certificate.
struct QSslError {
    SslError error = SslError::NoError;
    Bytes certificate;
};

/// QDtlsClientVerifier::GeneratorParameters.
struct GeneratorParameters {
    HashAlgorithm hash = HashAlgorithm::Sha256;
    Bytes secret;
};

namespace detail {
// The C getters' buffer rules (see qdtls.h): a getter returns the full length
// of the value and writes it only when it fits. Most values (names, hints,
// error texts, secrets) are short: the first call offers this much room on
// the stack, so one call usually suffices; a longer value is read with a
// second call into storage of its size, and again if it grew in between.
constexpr std::size_t kFirstTry = 128;

/// A string getter, `std::size_t get(char *buf, std::size_t cap)`:
/// NUL-terminated when len + 1 <= cap.
template <class Get> std::string readString(Get &&get) {
    char first[kFirstTry];
    std::size_t len = get(first, sizeof first);
    if (len < sizeof first)
        return std::string(first, len);
    std::string s;
    for (;;) {
        s.resize(len + 1);
        const std::size_t now = get(s.data(), s.size());
        if (now <= len) {
            s.resize(now);
            return s;
        }
        len = now;
    }
}

/// A byte getter, `std::size_t get(std::uint8_t *buf, std::size_t cap)`:
/// written only when len <= cap.
template <class Get> Bytes readBytes(Get &&get) {
    std::uint8_t first[kFirstTry];
    std::size_t len = get(first, sizeof first);
    if (len <= sizeof first)
        return Bytes(first, first + len);
    Bytes b;
    for (;;) {
        b.resize(len);
        const std::size_t now = get(b.data(), b.size());
        if (now <= len) {
            b.resize(now);
            return b;
        }
        len = now;
    }
}

inline const std::uint8_t *u8(const void *p) { return static_cast<const std::uint8_t *>(p); }

/// Overwrites secrets the compiler may not optimise away.
inline void wipe(void *p, std::size_t n) {
    volatile unsigned char *v = static_cast<volatile unsigned char *>(p);
    while (n--)
        *v++ = 0;
}
} // namespace detail

/// QSslPreSharedKeyAuthenticator: a view of the authenticator handed to the
/// pskRequired handler; valid only during that call.
class QSslPreSharedKeyAuthenticator {
public:
    explicit QSslPreSharedKeyAuthenticator(::qdtls_psk_authenticator *a) : a_(a) {}

    Bytes identityHint() const {
        return detail::readBytes([&](std::uint8_t *b, std::size_t c) { return qdtls_psk_identity_hint(a_, b, c); });
    }
    Bytes identity() const {
        return detail::readBytes([&](std::uint8_t *b, std::size_t c) { return qdtls_psk_identity(a_, b, c); });
    }
    void setIdentity(std::string_view id) {
        qdtls_psk_set_identity(a_, reinterpret_cast<const std::uint8_t *>(id.data()), id.size());
    }
    void setIdentity(const Bytes &id) { qdtls_psk_set_identity(a_, id.data(), id.size()); }
    Bytes preSharedKey() const {
        return detail::readBytes([&](std::uint8_t *b, std::size_t c) { return qdtls_psk_pre_shared_key(a_, b, c); });
    }
    void setPreSharedKey(std::string_view key) {
        qdtls_psk_set_pre_shared_key(a_, reinterpret_cast<const std::uint8_t *>(key.data()), key.size());
    }
    void setPreSharedKey(const Bytes &key) { qdtls_psk_set_pre_shared_key(a_, key.data(), key.size()); }
    int maximumIdentityLength() const { return qdtls_psk_maximum_identity_length(a_); }
    int maximumPreSharedKeyLength() const { return qdtls_psk_maximum_pre_shared_key_length(a_); }

private:
    ::qdtls_psk_authenticator *a_;
};

/// The DTLS part of QSslConfiguration. A value type: copies are independent;
/// configurations with equal content share one OpenSSL context.
class DtlsConfiguration {
public:
    /// A copy of the current default DTLS configuration.
    DtlsConfiguration() : c_(qdtls_configuration_new()) {}
    static DtlsConfiguration defaultDtlsConfiguration() { return DtlsConfiguration(); }
    static void setDefaultDtlsConfiguration(const DtlsConfiguration &c) { qdtls_set_default_dtls_configuration(c.c_); }

    DtlsConfiguration(const DtlsConfiguration &o) : c_(qdtls_configuration_clone(o.c_)) {}
    DtlsConfiguration(DtlsConfiguration &&o) noexcept : c_(std::exchange(o.c_, nullptr)) {}
    DtlsConfiguration &operator=(DtlsConfiguration o) noexcept {
        std::swap(c_, o.c_);
        return *this;
    }
    ~DtlsConfiguration() { qdtls_configuration_free(c_); }

    /// Takes ownership of a C handle (e.g. from qdtls_dtls_configuration).
    static DtlsConfiguration fromNative(qdtls_configuration *c) { return DtlsConfiguration(c, 0); }
    const qdtls_configuration *nativeHandle() const { return c_; }

    bool setProtocol(SslProtocol p) { return qdtls_configuration_set_protocol(c_, static_cast<int>(p)); }
    SslProtocol protocol() const { return static_cast<SslProtocol>(qdtls_configuration_protocol(c_)); }
    bool setPeerVerifyMode(PeerVerifyMode m) { return qdtls_configuration_set_peer_verify_mode(c_, static_cast<int>(m)); }
    PeerVerifyMode peerVerifyMode() const {
        return static_cast<PeerVerifyMode>(qdtls_configuration_peer_verify_mode(c_));
    }
    bool setPeerVerifyDepth(int depth) { return qdtls_configuration_set_peer_verify_depth(c_, depth); }
    int peerVerifyDepth() const { return qdtls_configuration_peer_verify_depth(c_); }
    /// PEM, leaf first. Invalid PEM is refused.
    bool setLocalCertificateChain(std::string_view pem) {
        return qdtls_configuration_set_local_certificate_chain(c_, pem.data(), pem.size());
    }
    std::string localCertificateChain() const {
        return detail::readString(
            [&](char *b, std::size_t c) { return qdtls_configuration_local_certificate_chain(c_, b, c); });
    }
    /// PEM; `passphrase` decrypts an encrypted key.
    bool setPrivateKey(std::string_view pem, const char *passphrase = nullptr) {
        return qdtls_configuration_set_private_key(c_, pem.data(), pem.size(), passphrase);
    }
    bool hasPrivateKey() const { return qdtls_configuration_has_private_key(c_); }
    /// Adds the CAs of a PEM bundle (then only added CAs are trusted).
    bool addCaCertificates(std::string_view pem) {
        return qdtls_configuration_add_ca_certificates(c_, pem.data(), pem.size());
    }
    /// Removes every added CA (back to the system's trust store, as Qt with no CAs).
    bool clearCaCertificates() { return qdtls_configuration_clear_ca_certificates(c_); }
    std::size_t caCertificateCount() const { return qdtls_configuration_ca_certificate_count(c_); }
    /// Colon-separated OpenSSL cipher names.
    bool setCiphers(const std::string &list) { return qdtls_configuration_set_ciphers(c_, list.c_str()); }
    /// Back to the library's DTLS default cipher list (Qt: setCiphers() with an empty list).
    bool resetCiphers() { return qdtls_configuration_set_ciphers(c_, nullptr); }
    std::string ciphers() const {
        return detail::readString([&](char *b, std::size_t c) { return qdtls_configuration_ciphers(c_, b, c); });
    }
    bool setDtlsCookieVerificationEnabled(bool on) {
        return qdtls_configuration_set_dtls_cookie_verification_enabled(c_, on);
    }
    bool dtlsCookieVerificationEnabled() const { return qdtls_configuration_dtls_cookie_verification_enabled(c_); }
    bool setPreSharedKeyIdentityHint(std::string_view hint) {
        return qdtls_configuration_set_pre_shared_key_identity_hint(
            c_, reinterpret_cast<const std::uint8_t *>(hint.data()), hint.size());
    }
    Bytes preSharedKeyIdentityHint() const {
        return detail::readBytes([&](std::uint8_t *b, std::size_t c) {
            return qdtls_configuration_pre_shared_key_identity_hint(c_, b, c);
        });
    }
    bool setServerCipherPreference(bool on) { return qdtls_configuration_set_server_cipher_preference(c_, on); }
    bool serverCipherPreference() const { return qdtls_configuration_server_cipher_preference(c_); }
    bool setAllowedNextProtocols(const std::vector<std::string> &protocols) {
        std::vector<const char *> ptrs;
        for (const auto &p : protocols)
            ptrs.push_back(p.c_str());
        return qdtls_configuration_set_allowed_next_protocols(c_, ptrs.data(), ptrs.size());
    }
    std::vector<std::string> allowedNextProtocols() const {
        std::vector<std::string> out;
        for (std::size_t i = 0; i < qdtls_configuration_allowed_next_protocol_count(c_); ++i)
            out.push_back(detail::readString(
                [&](char *b, std::size_t c) { return qdtls_configuration_allowed_next_protocol_at(c_, i, b, c); }));
        return out;
    }
    /// The DTLS-SRTP profiles, preferred first: a client offers them, a
    /// server picks the first of its list the client offers. Empty turns
    /// DTLS-SRTP off (the default); an unknown or repeated profile is refused.
    bool setSrtpProfiles(const std::vector<SrtpProfile> &profiles) {
        std::vector<std::int32_t> ids;
        for (SrtpProfile p : profiles)
            ids.push_back(static_cast<std::int32_t>(p));
        return qdtls_configuration_set_srtp_profiles(c_, ids.data(), ids.size());
    }
    std::vector<SrtpProfile> srtpProfiles() const {
        std::vector<std::int32_t> ids(qdtls_configuration_srtp_profiles(c_, nullptr, 0));
        ids.resize(qdtls_configuration_srtp_profiles(c_, ids.data(), ids.size()));
        std::vector<SrtpProfile> out;
        for (std::int32_t id : ids)
            out.push_back(static_cast<SrtpProfile>(id));
        return out;
    }
    /// Session resumption (off by default, as in Qt): a server issues
    /// tickets and keeps a cache; a client keeps its session for sessionData().
    bool setSessionResumption(bool on) { return qdtls_configuration_set_session_resumption(c_, on); }
    bool sessionResumption() const { return qdtls_configuration_session_resumption(c_); }

private:
    DtlsConfiguration(qdtls_configuration *c, int) : c_(c) {}
    qdtls_configuration *c_;
};

/// Sends one datagram to `addr` (a sockaddr_in or sockaddr_in6 of `addrLen`
/// bytes); true when it was sent (or queued). Used by QDtls and Server when a
/// call passes socket -1.
using SendCallback =
    std::function<bool(const std::uint8_t *data, std::size_t len, const sockaddr *addr, socklen_t addrLen)>;

namespace detail {
/// Runs `f`, which must not let an exception unwind through the C library
/// that called us: false when it threw (the exception is dropped).
template <class F> bool guarded(F &&f) noexcept {
#if defined(__cpp_exceptions)
    try {
        f();
        return true;
    } catch (...) {
        return false;
    }
#else
    f();
    return true;
#endif
}

/// The C send callback over a SendCallback (`user`); a throw is a failed send.
inline int sendTrampoline(void *user, const std::uint8_t *data, std::size_t len, const void *addr,
                          std::size_t addrLen) {
    const auto &callback = *static_cast<const SendCallback *>(user);
    bool sent = false;
    // Empty: a connection made while it was set may still call after its removal.
    if (!callback || !guarded([&] {
            sent = callback(data, len, static_cast<const sockaddr *>(addr), static_cast<socklen_t>(addrLen));
        }))
        return -1;
    return sent ? 0 : -1;
}
} // namespace detail

/// What QDtls and a server's Peer share: the getters of a DTLS connection and
/// what it sends, over a qdtls_connection it does NOT own (QDtls adds the
/// ownership, Peer is a plain view).
class DtlsConnection {
public:
    /// The C handle, e.g. to check it is not NULL.
    ::qdtls_connection *nativeHandle() const { return h_; }

    std::string peerAddress() const {
        return detail::readString([&](char *b, std::size_t c) { return qdtls_peer_address(h_, b, c); });
    }
    std::uint16_t peerPort() const { return qdtls_peer_port(h_); }
    std::string peerVerificationName() const {
        return detail::readString([&](char *b, std::size_t c) { return qdtls_peer_verification_name(h_, b, c); });
    }
    SslMode sslMode() const { return static_cast<SslMode>(qdtls_ssl_mode(h_)); }
    std::uint16_t mtuHint() const { return qdtls_mtu_hint(h_); }
    GeneratorParameters cookieGeneratorParameters() const {
        int hash = 0;
        GeneratorParameters p;
        p.secret = detail::readBytes(
            [&](std::uint8_t *b, std::size_t c) { return qdtls_cookie_generator_parameters(h_, &hash, b, c); });
        p.hash = static_cast<HashAlgorithm>(hash);
        return p;
    }
    DtlsConfiguration dtlsConfiguration() const {
        return DtlsConfiguration::fromNative(qdtls_dtls_configuration(h_));
    }

    HandshakeState handshakeState() const { return static_cast<HandshakeState>(qdtls_handshake_state(h_)); }
    /// Milliseconds until handleTimeout() is due; 0 = now; -1 = no timer.
    std::int64_t nextTimeoutMs() const { return qdtls_next_timeout_ms(h_); }
    /// Sends close_notify and ends the connection (a server's Peer: see Peer).
    bool shutdown(int socket) { return qdtls_shutdown(h_, socket); }

    bool isConnectionEncrypted() const { return qdtls_is_connection_encrypted(h_); }
    std::string sessionCipher() const {
        return detail::readString([&](char *b, std::size_t c) { return qdtls_session_cipher(h_, b, c); });
    }
    SslProtocol sessionProtocol() const { return static_cast<SslProtocol>(qdtls_session_protocol(h_)); }
    std::size_t maxPayloadSize() const { return qdtls_max_payload_size(h_); }

    /// Bytes written, or -1.
    std::int64_t writeDatagramEncrypted(int socket, const void *data, std::size_t len) {
        return qdtls_write_datagram_encrypted(h_, socket, detail::u8(data), len);
    }
    std::int64_t writeDatagramEncrypted(int socket, std::string_view data) {
        return writeDatagramEncrypted(socket, data.data(), data.size());
    }
    std::int64_t writeDatagramEncrypted(int socket, const Bytes &data) {
        return writeDatagramEncrypted(socket, data.data(), data.size());
    }

    QDtlsError dtlsError() const { return static_cast<QDtlsError>(qdtls_dtls_error(h_)); }
    std::string dtlsErrorString() const {
        return detail::readString([&](char *b, std::size_t c) { return qdtls_dtls_error_string(h_, b, c); });
    }

    std::vector<QSslError> peerVerificationErrors() const {
        std::vector<QSslError> out;
        for (std::size_t i = 0; i < qdtls_peer_verification_error_count(h_); ++i) {
            QSslError e;
            e.error = static_cast<SslError>(qdtls_peer_verification_error_code(h_, i));
            e.certificate = detail::readBytes([&](std::uint8_t *b, std::size_t c) {
                return qdtls_peer_verification_error_certificate(h_, i, b, c);
            });
            out.push_back(std::move(e));
        }
        return out;
    }
    /// DER of the peer's certificate; empty when there is none.
    Bytes peerCertificate() const {
        return detail::readBytes([&](std::uint8_t *b, std::size_t c) { return qdtls_peer_certificate(h_, b, c); });
    }
    std::vector<Bytes> peerCertificateChain() const {
        std::vector<Bytes> out;
        for (std::size_t i = 0; i < qdtls_peer_certificate_chain_count(h_); ++i)
            out.push_back(detail::readBytes(
                [&](std::uint8_t *b, std::size_t c) { return qdtls_peer_certificate_chain_at(h_, i, b, c); }));
        return out;
    }

    /// RFC 5705 keying material: `length` bytes for `label` without a
    /// context (which differs from an empty context). Empty on error (see
    /// dtlsError(); InvalidOperation before the handshake completes).
    Bytes exportKeyingMaterial(std::string_view label, std::size_t length) const {
        return exportKeyingMaterial(label, nullptr, 0, length);
    }
    /// The same with a context.
    Bytes exportKeyingMaterial(std::string_view label, const Bytes &context, std::size_t length) const {
        static const std::uint8_t empty = 0;
        return exportKeyingMaterial(label, context.empty() ? &empty : context.data(), context.size(), length);
    }
    Bytes exportKeyingMaterial(std::string_view label, std::string_view context, std::size_t length) const {
        static const std::uint8_t empty = 0;
        return exportKeyingMaterial(label, context.empty() ? &empty : detail::u8(context.data()), context.size(),
                                    length);
    }
    /// The negotiated DTLS-SRTP profile; NoProfile when none.
    SrtpProfile selectedSrtpProfile() const { return static_cast<SrtpProfile>(qdtls_selected_srtp_profile(h_)); }
    /// DTLS-SRTP's master keys and salts; profile NoProfile and empty keys on
    /// error (see dtlsError()).
    SrtpKeyingMaterial srtpKeyingMaterial() const {
        SrtpKeyingMaterial m;
        ::qdtls_srtp_keys k{};
        if (qdtls_srtp_keying_material(h_, &k) && k.key_len <= sizeof k.client_key &&
            k.salt_len <= sizeof k.client_salt) {
            m.profile = static_cast<SrtpProfile>(k.profile);
            m.clientKey.assign(k.client_key, k.client_key + k.key_len);
            m.serverKey.assign(k.server_key, k.server_key + k.key_len);
            m.clientSalt.assign(k.client_salt, k.client_salt + k.salt_len);
            m.serverSalt.assign(k.server_salt, k.server_salt + k.salt_len);
        }
        detail::wipe(&k, sizeof k);
        return m;
    }
    /// The ALPN protocol negotiated in the handshake (QSslConfiguration::
    /// nextNegotiatedProtocol); empty when none.
    std::string negotiatedApplicationProtocol() const {
        const Bytes b = detail::readBytes(
            [&](std::uint8_t *buf, std::size_t c) { return qdtls_negotiated_application_protocol(h_, buf, c); });
        return std::string(b.begin(), b.end());
    }
    /// Client side, with session resumption on: the session of the last
    /// handshake, for setSessionData() on a later connection to the same
    /// server; empty when there is none. Secret: it holds the master secret.
    Bytes sessionData() const {
        return detail::readBytes([&](std::uint8_t *b, std::size_t c) { return qdtls_session_data(h_, b, c); });
    }
    /// Whether the last handshake resumed an earlier session.
    bool sessionResumed() const { return qdtls_session_resumed(h_); }

    /// The application's pointer for this connection (a server's peers
    /// included), nullptr until set; the library never touches it.
    bool setUserData(void *user) { return qdtls_set_user_data(h_, user); }
    void *userData() const { return qdtls_user_data(h_); }

protected:
    explicit DtlsConnection(::qdtls_connection *h) noexcept : h_(h) {}
    // Protected: a DtlsConnection is only ever a QDtls or a Peer (no slicing
    // a QDtls into a view that outlives it).
    DtlsConnection(const DtlsConnection &) = default;
    DtlsConnection &operator=(const DtlsConnection &) = default;
    ~DtlsConnection() = default;

    ::qdtls_connection *h_;

private:
    Bytes exportKeyingMaterial(std::string_view label, const std::uint8_t *context, std::size_t contextLen,
                               std::size_t length) const {
        Bytes out(length);
        if (!qdtls_export_keying_material(h_, label.data(), label.size(), context, contextLen, out.data(),
                                          out.size()))
            out.clear();
        return out;
    }
};

/// QDtls over a native UDP socket: a DtlsConnection that owns its handle.
class QDtls : public DtlsConnection {
public:
    using PskHandler = std::function<void(QSslPreSharedKeyAuthenticator *)>;
    using SendCallback = qdtls::SendCallback;

    explicit QDtls(SslMode mode)
        : DtlsConnection(qdtls_new(static_cast<int>(mode))), psk_(std::make_unique<PskHandler>()),
          send_(std::make_unique<SendCallback>()) {}
    QDtls(QDtls &&o) noexcept
        : DtlsConnection(std::exchange(o.h_, nullptr)), psk_(std::move(o.psk_)), send_(std::move(o.send_)) {}
    QDtls &operator=(QDtls &&o) noexcept {
        if (this != &o) {
            // The old handle goes first: its callbacks point into the old slots.
            qdtls_free(std::exchange(h_, std::exchange(o.h_, nullptr)));
            psk_ = std::move(o.psk_);
            send_ = std::move(o.send_);
        }
        return *this;
    }
    QDtls(const QDtls &) = delete;
    QDtls &operator=(const QDtls &) = delete;
    ~QDtls() { qdtls_free(h_); }

    bool setPeer(const std::string &address, std::uint16_t port, const std::string &verificationName = {}) {
        return qdtls_set_peer(h_, address.c_str(), port, verificationName.c_str());
    }
    /// setPeer from the sockaddr recvfrom() filled in: a sockaddr_in, or a
    /// sockaddr_in6 (whose sin6_scope_id selects the interface of a link-local peer).
    bool setPeer(const sockaddr *sockaddr, socklen_t len, const std::string &verificationName = {}) {
        return qdtls_set_peer_sockaddr(h_, sockaddr, len, verificationName.c_str());
    }
    bool setPeerVerificationName(const std::string &name) { return qdtls_set_peer_verification_name(h_, name.c_str()); }
    void setMtuHint(std::uint16_t mtu) { qdtls_set_mtu_hint(h_, mtu); }

    /// Returns true on success (Qt returns false even then).
    bool setCookieGeneratorParameters(const GeneratorParameters &p) {
        return qdtls_set_cookie_generator_parameters(h_, static_cast<int>(p.hash), p.secret.data(), p.secret.size());
    }
    bool setDtlsConfiguration(const DtlsConfiguration &c) { return qdtls_set_dtls_configuration(h_, c.nativeHandle()); }

    bool doHandshake(int socket, const Bytes &dgram = {}) {
        return qdtls_do_handshake(h_, socket, dgram.data(), dgram.size());
    }
    bool doHandshake(int socket, const void *dgram, std::size_t len) {
        return qdtls_do_handshake(h_, socket, detail::u8(dgram), len);
    }
    /// Retransmits when due; true if it did.
    bool handleTimeout(int socket) { return qdtls_handle_timeout(h_, socket); }
    bool setInitialTimeoutMs(std::uint32_t ms) { return qdtls_set_initial_timeout_ms(h_, ms); }
    bool resumeHandshake(int socket) { return qdtls_resume_handshake(h_, socket); }
    bool abortHandshake(int socket) { return qdtls_abort_handshake(h_, socket); }

    /// The plaintext; empty on error (see dtlsError()) or for replayed/non-data datagrams.
    Bytes decryptDatagram(int socket, const void *dgram, std::size_t len) {
        Bytes out(len);
        std::int64_t n = qdtls_decrypt_datagram(h_, socket, detail::u8(dgram), len, out.data(), len);
        out.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
        return out;
    }
    Bytes decryptDatagram(int socket, const Bytes &dgram) { return decryptDatagram(socket, dgram.data(), dgram.size()); }
    /// decryptDatagram into the caller's buffer (`cap` >= `len` always
    /// suffices): the plaintext length, 0 for replayed/non-data datagrams,
    /// -1 on error (see dtlsError()).
    std::int64_t decryptDatagram(int socket, const void *dgram, std::size_t len, void *plain, std::size_t cap) {
        return qdtls_decrypt_datagram(h_, socket, detail::u8(dgram), len, static_cast<std::uint8_t *>(plain), cap);
    }

    bool ignoreVerificationErrors(const std::vector<QSslError> &errors) {
        std::vector<qdtls_ssl_error> list;
        for (const auto &e : errors)
            list.push_back({static_cast<int>(e.error), e.certificate.empty() ? nullptr : e.certificate.data(),
                            e.certificate.size()});
        return qdtls_ignore_verification_errors(h_, list.data(), list.size());
    }
    /// Client side: offers a session from sessionData() in the next
    /// handshake (empty clears it). Only before the handshake.
    bool setSessionData(const Bytes &data) { return qdtls_set_session_data(h_, data.data(), data.size()); }
    /// The ceiling of the doubling retransmission timeout, 1..600000 ms
    /// (default 60000). Only before the handshake.
    bool setMaxTimeoutMs(std::uint32_t ms) { return qdtls_set_max_timeout_ms(h_, ms); }
    /// Retransmissions of one flight before the handshake fails with
    /// TlsFatalError, 0..12 (default 12). Only before the handshake.
    bool setMaxRetransmissions(std::uint32_t n) { return qdtls_set_max_retransmissions(h_, n); }
    /// The whole handshake must complete within `ms` of its start (0, the
    /// default: no deadline); nextTimeoutMs() counts down to it, and
    /// handleTimeout() fails the handshake there. Only before the handshake.
    bool setHandshakeDeadlineMs(std::uint32_t ms) { return qdtls_set_handshake_deadline_ms(h_, ms); }

    /// Sends through `callback` whenever a call passes socket -1 (ICE, TURN,
    /// user-space stacks); datagrams from the peer are passed in as usual.
    /// An empty function removes it. It runs on the thread driving the
    /// connection; an exception it throws counts as a failed send.
    bool setSendCallback(SendCallback callback) {
        if (!send_) // a moved-from object gets a fresh slot rather than a crash
            send_ = std::make_unique<SendCallback>();
        *send_ = std::move(callback);
        return qdtls_set_send_callback(h_, *send_ ? &detail::sendTrampoline : nullptr, send_.get());
    }

    /// The pskRequired signal: `handler` fills in the authenticator. It runs on
    /// the thread driving the handshake and may call this object's getters.
    /// An exception it throws is dropped: no key is set, the handshake fails.
    void onPskRequired(PskHandler handler) {
        if (!psk_) // a moved-from object gets a fresh slot rather than a crash
            psk_ = std::make_unique<PskHandler>();
        *psk_ = std::move(handler);
        qdtls_set_psk_callback(h_, *psk_ ? &QDtls::pskTrampoline : nullptr, psk_.get());
    }

private:
    static void pskTrampoline(void *user, ::qdtls_psk_authenticator *a) {
        QSslPreSharedKeyAuthenticator view(a);
        detail::guarded([&] { (*static_cast<PskHandler *>(user))(&view); });
    }

    // Heap-allocated so the addresses given to the C callbacks survive moves.
    std::unique_ptr<PskHandler> psk_;
    std::unique_ptr<SendCallback> send_;
};

/// QDtlsClientVerifier over a native UDP socket.
class QDtlsClientVerifier {
public:
    QDtlsClientVerifier() : v_(qdtls_client_verifier_new()) {}

    ::qdtls_client_verifier *nativeHandle() const { return v_.get(); }

    bool setCookieGeneratorParameters(const GeneratorParameters &p) {
        return qdtls_client_verifier_set_cookie_generator_parameters(v_.get(), static_cast<int>(p.hash),
                                                                     p.secret.data(), p.secret.size());
    }
    GeneratorParameters cookieGeneratorParameters() const {
        int hash = 0;
        GeneratorParameters p;
        p.secret = detail::readBytes([&](std::uint8_t *b, std::size_t c) {
            return qdtls_client_verifier_cookie_generator_parameters(v_.get(), &hash, b, c);
        });
        p.hash = static_cast<HashAlgorithm>(hash);
        return p;
    }
    bool verifyClient(int socket, const Bytes &dgram, const std::string &address, std::uint16_t port) {
        return verifyClient(socket, dgram.data(), dgram.size(), address, port);
    }
    bool verifyClient(int socket, const void *dgram, std::size_t len, const std::string &address, std::uint16_t port) {
        return qdtls_client_verifier_verify_client(v_.get(), socket, detail::u8(dgram), len, address.c_str(), port);
    }
    /// verifyClient with the sockaddr recvfrom() filled in (an IPv6 address
    /// keeps its sin6_scope_id).
    bool verifyClient(int socket, const Bytes &dgram, const sockaddr *sockaddr, socklen_t len) {
        return verifyClient(socket, dgram.data(), dgram.size(), sockaddr, len);
    }
    bool verifyClient(int socket, const void *dgram, std::size_t len, const sockaddr *sockaddr, socklen_t sockaddrLen) {
        return qdtls_client_verifier_verify_client_sockaddr(v_.get(), socket, detail::u8(dgram), len, sockaddr,
                                                            sockaddrLen);
    }
    Bytes verifiedHello() const {
        return detail::readBytes(
            [&](std::uint8_t *b, std::size_t c) { return qdtls_client_verifier_verified_hello(v_.get(), b, c); });
    }
    QDtlsError dtlsError() const { return static_cast<QDtlsError>(qdtls_client_verifier_dtls_error(v_.get())); }
    std::string dtlsErrorString() const {
        return detail::readString(
            [&](char *b, std::size_t c) { return qdtls_client_verifier_dtls_error_string(v_.get(), b, c); });
    }

private:
    struct Deleter {
        void operator()(::qdtls_client_verifier *v) const { qdtls_client_verifier_free(v); }
    };
    std::unique_ptr<::qdtls_client_verifier, Deleter> v_;
};

/// The library version ("MAJOR.MINOR.PATCH").
inline const char *version() { return qdtls_version(); }

/// Starts a new session ticket key now (they also rotate every 12 hours):
/// tickets under the previous key still resume; older ones do not.
inline void rotateSessionTicketKeys() { qdtls_rotate_session_ticket_keys(); }

} // namespace qdtls

// qdtls::Server and qdtls::Peer (a header of its own, for size).
#include "server.hpp"

#endif // QDTLS_HPP
