// The Qt adapter: qdtls::qt::QDtls and qdtls::qt::QDtlsClientVerifier over the
// qdtls C ABI. Qt values are converted to the C library's at this boundary;
// datagrams are sent by the library on the QUdpSocket's descriptor.
#include <qdtls/qdtls_qt.h>

#include <QtCore/qmutex.h>
#include <QtCore/qshareddata.h>
#include <QtCore/qstringlist.h>
#include <QtCore/qtimer.h>
#include <QtNetwork/qhostaddress.h>
#include <QtNetwork/qnetworkinterface.h>
#include <QtNetwork/qsslcertificate.h>
#include <QtNetwork/qsslcipher.h>
#include <QtNetwork/qsslconfiguration.h>
#include <QtNetwork/qsslkey.h>
#include <QtNetwork/qudpsocket.h>

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <climits>
#include <cstring>
#include <memory>
#include <vector>

#if QDTLS_QT_PRIVATE_API
#include "qtprivatebridge.h"
#endif

// The C header declares structs named QDtls, QDtlsClientVerifier and
// QSslPreSharedKeyAuthenticator. Included inside a namespace of its own they
// cannot clash with Qt's classes (the functions keep their C linkage). It is
// included by path, never through the include path, where Qt's QtNetwork
// directory also has a qdtls.h.
namespace qdtls {
namespace c {
#include "../../include/qdtls.h"
} // namespace c
} // namespace qdtls
#ifndef QDTLS_VERSION_STRING
#error "the qdtls C header was not read"
#endif

namespace qdtls {
namespace qt {

namespace {

static_assert(int(QDtlsError::TlsNonFatalError) == QDTLS_ERROR_TLS_NON_FATAL_ERROR, "QDtlsError values");
static_assert(int(QDtls::HandshakeComplete) == QDTLS_HANDSHAKE_COMPLETE, "HandshakeState values");
static_assert(int(QSslSocket::SslServerMode) == QDTLS_SSL_SERVER_MODE, "SslMode values");
static_assert(int(QSslSocket::AutoVerifyPeer) == QDTLS_AUTO_VERIFY_PEER, "PeerVerifyMode values");
static_assert(int(QSslError::CertificateBlacklisted) == QDTLS_SSL_ERROR_CERTIFICATE_BLACKLISTED, "SslError values");
static_assert(int(QSslError::UnspecifiedError) == QDTLS_SSL_ERROR_UNSPECIFIED_ERROR, "SslError values");

// ---- reading the C library's buffers ---------------------------------------

// Most values the library hands back (names, hints, error texts, small
// secrets) are short: the first call offers this much room, so that one call
// usually suffices; a longer value is read with a second call.
constexpr size_t firstTry = 128;

// A byte blob getter: written only when len <= cap; returns the full length.
template <class Get>
QByteArray readBytes(Get get)
{
    QByteArray buf(qsizetype(firstTry), Qt::Uninitialized);
    size_t cap = firstTry;
    for (;;) {
        const size_t len = get(reinterpret_cast<uint8_t *>(buf.data()), cap);
        if (len <= cap) {
            buf.truncate(qsizetype(len));
            return buf;
        }
        cap = len; // did not fit (or grew in between): room for all of it
        buf.resize(qsizetype(cap));
    }
}

// A string getter: NUL-terminated when len + 1 <= cap; returns the full length.
template <class Get>
QString readString(Get get)
{
    char first[firstTry];
    size_t len = get(first, sizeof first);
    if (len < sizeof first)
        return QString::fromUtf8(first, qsizetype(len));
    QByteArray buf;
    for (;;) {
        buf.resize(qsizetype(len + 1));
        const size_t now = get(buf.data(), len + 1);
        if (now <= len) {
            buf.truncate(qsizetype(now));
            return QString::fromUtf8(buf);
        }
        len = now;
    }
}

// ---- conversions ------------------------------------------------------------

int32_t toCHash(QCryptographicHash::Algorithm a)
{
    switch (a) {
    case QCryptographicHash::Md5: return QDTLS_HASH_MD5;
    case QCryptographicHash::Sha1: return QDTLS_HASH_SHA1;
    case QCryptographicHash::Sha224: return QDTLS_HASH_SHA224;
    case QCryptographicHash::Sha256: return QDTLS_HASH_SHA256;
    case QCryptographicHash::Sha384: return QDTLS_HASH_SHA384;
    case QCryptographicHash::Sha512: return QDTLS_HASH_SHA512;
    case QCryptographicHash::RealSha3_224: return QDTLS_HASH_SHA3_224;
    case QCryptographicHash::RealSha3_256: return QDTLS_HASH_SHA3_256;
    case QCryptographicHash::RealSha3_384: return QDTLS_HASH_SHA3_384;
    case QCryptographicHash::RealSha3_512: return QDTLS_HASH_SHA3_512;
    default: return -1; // Md4, Keccak, BLAKE2: not offered by the library
    }
}

QCryptographicHash::Algorithm fromCHash(int32_t h)
{
    switch (h) {
    case QDTLS_HASH_MD5: return QCryptographicHash::Md5;
    case QDTLS_HASH_SHA1: return QCryptographicHash::Sha1;
    case QDTLS_HASH_SHA224: return QCryptographicHash::Sha224;
    case QDTLS_HASH_SHA384: return QCryptographicHash::Sha384;
    case QDTLS_HASH_SHA512: return QCryptographicHash::Sha512;
    case QDTLS_HASH_SHA3_224: return QCryptographicHash::RealSha3_224;
    case QDTLS_HASH_SHA3_256: return QCryptographicHash::RealSha3_256;
    case QDTLS_HASH_SHA3_384: return QCryptographicHash::RealSha3_384;
    case QDTLS_HASH_SHA3_512: return QCryptographicHash::RealSha3_512;
    default: return QCryptographicHash::Sha256;
    }
}

// QSsl::SslProtocol numbers differ between Qt 5 and Qt 6; the library uses Qt 6's.
int32_t toCProtocol(QSsl::SslProtocol p)
{
#if QT_VERSION >= QT_VERSION_CHECK(6, 0, 0)
    static_assert(int(QSsl::DtlsV1_2) == QDTLS_PROTOCOL_DTLS_V1_2, "QSsl::SslProtocol values");
    static_assert(int(QSsl::DtlsV1_2OrLater) == QDTLS_PROTOCOL_DTLS_V1_2_OR_LATER, "QSsl::SslProtocol values");
    return int32_t(p); // DtlsV1_0 (8) and DtlsV1_0OrLater (9) are deprecated names with these numbers
#else
    switch (p) {
    case QSsl::DtlsV1_0: return QDTLS_PROTOCOL_DTLS_V1_0;
    case QSsl::DtlsV1_0OrLater: return QDTLS_PROTOCOL_DTLS_V1_0_OR_LATER;
    case QSsl::DtlsV1_2: return QDTLS_PROTOCOL_DTLS_V1_2;
    case QSsl::DtlsV1_2OrLater: return QDTLS_PROTOCOL_DTLS_V1_2_OR_LATER;
    case QSsl::UnknownProtocol: return QDTLS_PROTOCOL_UNKNOWN;
    default: return 0; // a TLS protocol: refused at handshake time, as in Qt
    }
#endif
}

QSsl::SslProtocol fromCProtocol(int32_t p)
{
#if QT_VERSION >= QT_VERSION_CHECK(6, 0, 0)
    return QSsl::SslProtocol(p);
#else
    switch (p) {
    case QDTLS_PROTOCOL_DTLS_V1_0: return QSsl::DtlsV1_0;
    case QDTLS_PROTOCOL_DTLS_V1_0_OR_LATER: return QSsl::DtlsV1_0OrLater;
    case QDTLS_PROTOCOL_DTLS_V1_2: return QSsl::DtlsV1_2;
    case QDTLS_PROTOCOL_DTLS_V1_2_OR_LATER: return QSsl::DtlsV1_2OrLater;
    default: return QSsl::UnknownProtocol;
    }
#endif
}

QByteArray certificatesPem(const QList<QSslCertificate> &certificates)
{
    QByteArray pem;
    for (const QSslCertificate &cert : certificates) {
        if (!cert.isNull())
            pem += cert.toPem();
    }
    return pem;
}

QSslCertificate certificateFromDer(const QByteArray &der)
{
    return der.isEmpty() ? QSslCertificate() : QSslCertificate(der, QSsl::Der);
}

// Qt's list of every cipher it knows, which a configuration carries by
// default. Built once (Qt builds a fresh list on every call); never freed, so
// that nothing of Qt's is destroyed after Qt at exit.
const QList<QSslCipher> &supportedCiphers()
{
    static const QList<QSslCipher> *const all = new QList<QSslCipher>(QSslConfiguration::supportedCiphers());
    return *all;
}

struct ConfigurationDeleter
{
    void operator()(c::QDtlsConfiguration *cfg) const { c::qdtls_configuration_free(cfg); }
};
using CConfiguration = std::unique_ptr<c::QDtlsConfiguration, ConfigurationDeleter>;

// The C configuration for a QSslConfiguration. What the library refuses is
// described in `problem`: Qt accepts any configuration in
// setDtlsConfiguration and fails the handshake with TlsInitializationError.
CConfiguration toCConfiguration(const QSslConfiguration &q, QString *problem)
{
    CConfiguration cfg(c::qdtls_configuration_new());
    if (!cfg)
        return cfg;
    c::QDtlsConfiguration *p = cfg.get();
    auto fail = [problem](const QString &what) {
        if (problem->isEmpty())
            *problem = what;
    };

    c::qdtls_configuration_set_protocol(p, toCProtocol(q.protocol()));
    c::qdtls_configuration_set_peer_verify_mode(p, int32_t(q.peerVerifyMode()));
    c::qdtls_configuration_set_peer_verify_depth(p, int32_t(qMax(0, q.peerVerifyDepth())));

    const QByteArray chain = certificatesPem(q.localCertificateChain());
    if (!c::qdtls_configuration_set_local_certificate_chain(p, chain.constData(), size_t(chain.size())))
        fail(QStringLiteral("Cannot use the local certificate chain"));

    const QSslKey key = q.privateKey();
    const QByteArray keyPem = key.isNull() ? QByteArray() : key.toPem();
    if (!key.isNull() && keyPem.isEmpty())
        fail(QStringLiteral("Cannot use the private key (only keys that can be written as PEM are supported)"));
    else if (!c::qdtls_configuration_set_private_key(p, keyPem.constData(), size_t(keyPem.size()), nullptr))
        fail(QStringLiteral("Cannot use the private key"));

    c::qdtls_configuration_clear_ca_certificates(p);
    const QByteArray cas = certificatesPem(q.caCertificates());
    if (!cas.isEmpty() && !c::qdtls_configuration_add_ca_certificates(p, cas.constData(), size_t(cas.size())))
        fail(QStringLiteral("Cannot use the CA certificates"));

    // As Qt builds the DTLS context: no ciphers means the defaults; TLS 1.3
    // suites are not DTLS ciphers and are left out (a list of nothing else
    // leaves OpenSSL's default); nothing usable at all is an error. Qt's own
    // default is every cipher Qt knows: that means "no restriction", the
    // library's DTLS default.
    const QList<QSslCipher> ciphers = q.ciphers();
    QStringList dtlsCiphers;
    bool tls13 = false;
    const bool everything = ciphers.isEmpty() || ciphers == supportedCiphers();
    for (qsizetype i = 0; !everything && i < ciphers.size(); ++i) {
        const QSslCipher &cipher = ciphers[i];
        if (cipher.isNull())
            continue;
        if (cipher.protocol() == QSsl::TlsV1_3)
            tls13 = true;
        else
            dtlsCiphers << cipher.name();
    }
    if (everything || (dtlsCiphers.isEmpty() && tls13)) {
        c::qdtls_configuration_set_ciphers(p, nullptr);
    } else {
        const QByteArray list = dtlsCiphers.join(QLatin1Char(':')).toLatin1();
        if (list.isEmpty() || !c::qdtls_configuration_set_ciphers(p, list.constData()))
            fail(QStringLiteral("Invalid or empty cipher list"));
    }

    c::qdtls_configuration_set_dtls_cookie_verification_enabled(p, q.dtlsCookieVerificationEnabled());
    const QByteArray hint = q.preSharedKeyIdentityHint();
    if (!c::qdtls_configuration_set_pre_shared_key_identity_hint(p, reinterpret_cast<const uint8_t *>(hint.constData()),
                                                                 size_t(hint.size())))
        fail(QStringLiteral("Cannot use the pre-shared key identity hint"));
    c::qdtls_configuration_set_server_cipher_preference(
        p, !q.testSslOption(QSsl::SslOptionDisableServerCipherPreference));

    const QList<QByteArray> protocols = q.allowedNextProtocols();
    std::vector<const char *> names(size_t(protocols.size()));
    for (qsizetype i = 0; i < protocols.size(); ++i)
        names[size_t(i)] = protocols[i].constData();
    if (!c::qdtls_configuration_set_allowed_next_protocols(p, names.data(), names.size()))
        fail(QStringLiteral("Invalid ALPN protocol name"));
    return cfg;
}

// A QSslConfiguration in the library's form. The library shares a
// configuration it is given (qdtls_set_dtls_configuration takes a reference
// to immutable data), so one converted configuration serves any number of
// QDtls objects, in any thread.
// (Qt's intrusive sharing rather than std::shared_ptr, whose type
// information would be exported from the library.)
struct Converted : QSharedData
{
    QSslConfiguration qt;
    CConfiguration c;
    QString problem; // what the library refused, reported at handshake time
};

// Converting costs far more than comparing (the library checks a cipher list
// by building an SSL context), and servers typically give every connection
// an equal configuration. So the last few distinct configurations converted
// are kept, and an equal one (QSslConfiguration::operator==, which compares
// every field converted here, and is immediate for copies of one
// configuration) is not converted again. The cache is never freed (see
// supportedCiphers); it keeps at most `cacheSize` configurations alive.
using ConvertedPtr = QExplicitlySharedDataPointer<const Converted>;

ConvertedPtr convert(const QSslConfiguration &q)
{
    constexpr size_t cacheSize = 4;
    struct Cache
    {
        QMutex mutex;
        ConvertedPtr recent[cacheSize];
        size_t next = 0;
    };
    static Cache *const cache = new Cache;
    {
        QMutexLocker lock(&cache->mutex);
        for (const auto &entry : cache->recent) {
            if (entry && entry->qt == q)
                return entry;
        }
    }
    Converted *made = new Converted;
    made->qt = q;
    made->c = toCConfiguration(q, &made->problem);
    const ConvertedPtr fresh(made);
    if (fresh->c) {
        QMutexLocker lock(&cache->mutex);
        cache->recent[cache->next] = fresh;
        cache->next = (cache->next + 1) % cacheSize;
    }
    return fresh;
}

// ---- sockets and addresses -------------------------------------------------------

// The descriptor the library sends on; -1 is Qt's null socket. An unbound
// socket is bound first, exactly as QUdpSocket::writeDatagram binds it:
// QHostAddress::Any, port 0, whatever the peer. That is a dual-stack IPv6
// socket (Qt falls back to IPv4 where IPv6 is unavailable), from which the
// library reaches IPv4 peers both as 127.0.0.1 and as ::ffff:127.0.0.1. An
// IPv4-only socket (AnyIPv4) could not send to a v4-mapped address, which is
// how a dual-stack server sees its IPv4 clients.
int socketFd(QUdpSocket *socket)
{
    if (!socket)
        return -1;
    if (socket->state() == QAbstractSocket::UnconnectedState)
        socket->bind(QHostAddress(QHostAddress::Any), 0);
    const qintptr fd = socket->socketDescriptor();
    return fd < 0 || fd > INT_MAX ? -1 : int(fd);
}

// An IPv6 address with a scope (fe80::1%eth0) is handed over as a
// sockaddr_in6; every other address as text.
bool scopedSockaddr(const QHostAddress &address, quint16 port, sockaddr_in6 *sa)
{
    if (address.protocol() != QAbstractSocket::IPv6Protocol || address.scopeId().isEmpty())
        return false;
    std::memset(sa, 0, sizeof *sa);
    sa->sin6_family = AF_INET6;
    sa->sin6_port = htons(port);
    const Q_IPV6ADDR bytes = address.toIPv6Address();
    std::memcpy(&sa->sin6_addr, bytes.c, sizeof bytes.c);
    bool numeric = false;
    const uint index = address.scopeId().toUInt(&numeric);
    sa->sin6_scope_id = numeric ? index : uint(QNetworkInterface::interfaceIndexFromName(address.scopeId()));
    return true;
}

QByteArray addressText(const QHostAddress &address)
{
    return address.isNull() ? QByteArray() : address.toString().toLatin1();
}

const uint8_t *u8(const QByteArray &b)
{
    return reinterpret_cast<const uint8_t *>(b.constData());
}

} // namespace

// ---- QDtlsClientVerifier --------------------------------------------------------------

class QDtlsClientVerifierPrivate
{
public:
    c::QDtlsClientVerifier *v = c::qdtls_client_verifier_new();
    ~QDtlsClientVerifierPrivate() { c::qdtls_client_verifier_free(v); }
};

QDtlsClientVerifier::GeneratorParameters::GeneratorParameters() = default;

QDtlsClientVerifier::GeneratorParameters::GeneratorParameters(QCryptographicHash::Algorithm a, const QByteArray &s)
    : hash(a), secret(s)
{
}

QDtlsClientVerifier::QDtlsClientVerifier(QObject *parent) : QObject(parent), d(new QDtlsClientVerifierPrivate) {}

QDtlsClientVerifier::~QDtlsClientVerifier() = default;

bool QDtlsClientVerifier::setCookieGeneratorParameters(const GeneratorParameters &params)
{
    return c::qdtls_client_verifier_set_cookie_generator_parameters(d->v, toCHash(params.hash), u8(params.secret),
                                                                    size_t(params.secret.size()));
}

QDtlsClientVerifier::GeneratorParameters QDtlsClientVerifier::cookieGeneratorParameters() const
{
    int32_t hash = QDTLS_HASH_SHA256;
    const QByteArray secret = readBytes([this, &hash](uint8_t *buf, size_t cap) {
        return c::qdtls_client_verifier_cookie_generator_parameters(d->v, &hash, buf, cap);
    });
    return {fromCHash(hash), secret};
}

bool QDtlsClientVerifier::verifyClient(QUdpSocket *socket, const QByteArray &dgram, const QHostAddress &address,
                                       quint16 port)
{
    const int fd = socketFd(socket);
    sockaddr_in6 sa;
    if (scopedSockaddr(address, port, &sa))
        return c::qdtls_client_verifier_verify_client_sockaddr(d->v, fd, u8(dgram), size_t(dgram.size()), &sa,
                                                               sizeof sa);
    const QByteArray text = addressText(address);
    return c::qdtls_client_verifier_verify_client(d->v, fd, u8(dgram), size_t(dgram.size()), text.constData(), port);
}

QByteArray QDtlsClientVerifier::verifiedHello() const
{
    return readBytes([this](uint8_t *buf, size_t cap) {
        return c::qdtls_client_verifier_verified_hello(d->v, buf, cap);
    });
}

QDtlsError QDtlsClientVerifier::dtlsError() const
{
    return QDtlsError(c::qdtls_client_verifier_dtls_error(d->v));
}

QString QDtlsClientVerifier::dtlsErrorString() const
{
    return readString([this](char *buf, size_t cap) {
        return c::qdtls_client_verifier_dtls_error_string(d->v, buf, cap);
    });
}

// ---- QDtls -------------------------------------------------------------------------

class QDtlsPrivate
{
public:
    QDtlsPrivate(QDtls *q, QSslSocket::SslMode mode)
        : q(q), mode(mode), h(c::qdtls_new(int32_t(mode))),
          // Qt's value at construction; handed over by configureIfNeeded.
          config(QSslConfiguration::defaultDtlsConfiguration())
    {
    }
    ~QDtlsPrivate() { c::qdtls_free(h); }

    // Takes the library's last error (after a call Qt documents as clearing
    // or setting the error).
    void syncError()
    {
        const int32_t code = c::qdtls_dtls_error(h);
        error = QDtlsError(code);
        errorString = code == QDTLS_ERROR_NO_ERROR
                          ? QString()
                          : readString([this](char *buf, size_t cap) { return c::qdtls_dtls_error_string(h, buf, cap); });
        if (!h && errorString.isEmpty())
            errorString = QStringLiteral("QDtls was created in a mode other than SslClientMode or SslServerMode");
    }

    void setError(QDtlsError e, const QString &text)
    {
        error = e;
        errorString = text;
    }

    // Qt's handshakeTimeout signal: the timer follows the library's
    // retransmission timer after every call that drives the handshake.
    void rearmTimer()
    {
        const int64_t ms = c::qdtls_next_timeout_ms(h);
        if (ms >= 0)
            startTimer(ms);
        else if (timer)
            timer->stop();
    }

    // The QTimer is made when a handshake first needs it (a child of q,
    // made in q's thread, like every call that drives the handshake).
    void startTimer(int64_t ms)
    {
        if (!timer) {
            timer = new QTimer(q);
            timer->setSingleShot(true);
            timer->setTimerType(Qt::PreciseTimer);
            QObject::connect(timer, &QTimer::timeout, q, [this] { timerFired(); });
        }
        timer->start(int(qMin<int64_t>(ms, INT_MAX)));
    }

    void timerFired()
    {
        const int64_t ms = c::qdtls_next_timeout_ms(h);
        if (ms < 0)
            return;
        if (ms > 0) { // woke early: wait for the rest
            startTimer(ms);
            return;
        }
        Q_EMIT q->handshakeTimeout();
    }

    bool setDtlsConfiguration(const QSslConfiguration &configuration)
    {
        const ConvertedPtr converted = convert(configuration);
        const bool ok = c::qdtls_set_dtls_configuration(h, converted->c.get());
        syncError();
        if (ok) {
            config = configuration;
            configurationProblem = converted->problem;
            configured = true;
        }
        return ok;
    }

    // Qt's QDtls starts with QSslConfiguration::defaultDtlsConfiguration().
    // It is kept as Qt's value at construction and handed to the library
    // only when a handshake starts without setDtlsConfiguration having been
    // called: most applications set their own, and then the default is
    // never converted.
    void configureIfNeeded()
    {
        if (!configured)
            setDtlsConfiguration(config);
    }

    static void pskCallback(void *user, c::QSslPreSharedKeyAuthenticator *a)
    {
        static_cast<QDtlsPrivate *>(user)->pskRequired(a);
    }

    void pskRequired(c::QSslPreSharedKeyAuthenticator *a)
    {
        QSslPreSharedKeyAuthenticator auth;
        const QByteArray hint = readBytes([a](uint8_t *buf, size_t cap) { return c::qdtls_psk_identity_hint(a, buf, cap); });
        const QByteArray identity = readBytes([a](uint8_t *buf, size_t cap) { return c::qdtls_psk_identity(a, buf, cap); });
        const int maxKey = qMax(0, int(c::qdtls_psk_maximum_pre_shared_key_length(a)));
        if (mode == QSslSocket::SslClientMode) {
#if QDTLS_QT_PRIVATE_API
            pskHint = hint; // Qt's authenticator refers to these bytes
            bridge::setupClientPsk(&auth, pskHint, qMax(0, int(c::qdtls_psk_maximum_identity_length(a))), maxKey);
#endif
        } else {
#if QDTLS_QT_PRIVATE_API
            bridge::setupServerPsk(&auth, identity, hint, maxKey);
#else
            auth.setIdentity(identity);
#endif
        }
        Q_UNUSED(hint);
        Q_UNUSED(maxKey);
        Q_EMIT q->pskRequired(&auth);
        if (mode == QSslSocket::SslClientMode) {
            const QByteArray id = auth.identity();
            c::qdtls_psk_set_identity(a, u8(id), size_t(id.size()));
        }
        const QByteArray key = auth.preSharedKey();
        c::qdtls_psk_set_pre_shared_key(a, u8(key), size_t(key.size()));
    }

    // Qt's checks before the TLS context is built, for a configuration the
    // library refused: then TlsInitializationError, as Qt reports it.
    bool failInitialization(QUdpSocket *socket, const QByteArray &dgram)
    {
        if (!socket)
            setError(QDtlsError::InvalidInputParameters, QStringLiteral("Invalid (nullptr) socket"));
        else if (peerAddress.isNull())
            setError(QDtlsError::InvalidOperation, QStringLiteral("To start a handshake you must set the peer's address and port first"));
        else if (mode == QSslSocket::SslServerMode && dgram.isEmpty())
            setError(QDtlsError::InvalidInputParameters, QStringLiteral("To start a handshake, DTLS server requires non-empty datagram (client hello)"));
        else
            setError(QDtlsError::TlsInitializationError, configurationProblem);
        return false;
    }

    QDtls *q;
    QSslSocket::SslMode mode;
    c::QDtls *h;
    QSslConfiguration config;
    QString configurationProblem;
    QHostAddress peerAddress;
    QDtlsError error = QDtlsError::NoError;
    QString errorString;
    QByteArray pskHint;
    bool configured = false; // config was handed to the library
    QTimer *timer = nullptr; // a child of q, so that it follows q to another thread
};

QDtls::QDtls(QSslSocket::SslMode mode, QObject *parent) : QObject(parent), d(new QDtlsPrivate(this, mode))
{
    c::qdtls_set_psk_callback(d->h, &QDtlsPrivate::pskCallback, d.data());
    if (!d->h)
        d->syncError(); // Qt's error for an invalid mode
}

QDtls::~QDtls() = default;

bool QDtls::setPeer(const QHostAddress &address, quint16 port, const QString &verificationName)
{
    const QByteArray name = verificationName.toUtf8();
    sockaddr_in6 sa;
    bool ok;
    if (scopedSockaddr(address, port, &sa)) {
        ok = c::qdtls_set_peer_sockaddr(d->h, &sa, sizeof sa, name.constData());
    } else {
        const QByteArray text = addressText(address);
        ok = c::qdtls_set_peer(d->h, text.constData(), port, name.constData());
    }
    d->syncError();
    if (ok)
        d->peerAddress = address;
    return ok;
}

bool QDtls::setPeerVerificationName(const QString &name)
{
    const QByteArray utf8 = name.toUtf8();
    const bool ok = c::qdtls_set_peer_verification_name(d->h, utf8.constData());
    d->syncError();
    return ok;
}

QHostAddress QDtls::peerAddress() const
{
    return d->peerAddress;
}

quint16 QDtls::peerPort() const
{
    return c::qdtls_peer_port(d->h);
}

QString QDtls::peerVerificationName() const
{
    return readString([this](char *buf, size_t cap) { return c::qdtls_peer_verification_name(d->h, buf, cap); });
}

QSslSocket::SslMode QDtls::sslMode() const
{
    return d->mode;
}

void QDtls::setMtuHint(quint16 mtuHint)
{
    c::qdtls_set_mtu_hint(d->h, mtuHint); // Qt leaves the last error alone here
}

quint16 QDtls::mtuHint() const
{
    return c::qdtls_mtu_hint(d->h);
}

bool QDtls::setCookieGeneratorParameters(const GeneratorParameters &params)
{
    const bool ok = c::qdtls_set_cookie_generator_parameters(d->h, toCHash(params.hash), u8(params.secret),
                                                             size_t(params.secret.size()));
    d->syncError();
    return ok;
}

QDtls::GeneratorParameters QDtls::cookieGeneratorParameters() const
{
    int32_t hash = QDTLS_HASH_SHA256;
    const QByteArray secret = readBytes([this, &hash](uint8_t *buf, size_t cap) {
        return c::qdtls_cookie_generator_parameters(d->h, &hash, buf, cap);
    });
    return {fromCHash(hash), secret};
}

bool QDtls::setDtlsConfiguration(const QSslConfiguration &configuration)
{
    return d->setDtlsConfiguration(configuration);
}

QSslConfiguration QDtls::dtlsConfiguration() const
{
    QSslConfiguration configuration = d->config;
#if QDTLS_QT_PRIVATE_API
    const QSslCertificate peer = certificateFromDer(
        readBytes([this](uint8_t *buf, size_t cap) { return c::qdtls_peer_certificate(d->h, buf, cap); }));
    QList<QSslCertificate> chain;
    const size_t n = c::qdtls_peer_certificate_chain_count(d->h);
    for (size_t i = 0; i < n; ++i) {
        chain << certificateFromDer(readBytes(
            [this, i](uint8_t *buf, size_t cap) { return c::qdtls_peer_certificate_chain_at(d->h, i, buf, cap); }));
    }
    bridge::setPeerCertificates(configuration, peer, chain);
#endif
    return configuration;
}

QDtls::HandshakeState QDtls::handshakeState() const
{
    return HandshakeState(c::qdtls_handshake_state(d->h));
}

bool QDtls::doHandshake(QUdpSocket *socket, const QByteArray &dgram)
{
    d->configureIfNeeded();
    if (!d->configurationProblem.isEmpty() && handshakeState() == HandshakeNotStarted)
        return d->failInitialization(socket, dgram);
    const int fd = socketFd(socket);
    const bool ok = c::qdtls_do_handshake(d->h, fd, u8(dgram), size_t(dgram.size()));
    d->syncError();
    d->rearmTimer();
    return ok;
}

bool QDtls::handleTimeout(QUdpSocket *socket)
{
    const int fd = socketFd(socket);
    const bool ok = c::qdtls_handle_timeout(d->h, fd);
    d->syncError();
    d->rearmTimer();
    return ok;
}

bool QDtls::resumeHandshake(QUdpSocket *socket)
{
    const int fd = socketFd(socket);
    const bool ok = c::qdtls_resume_handshake(d->h, fd);
    d->syncError();
    d->rearmTimer();
    return ok;
}

bool QDtls::abortHandshake(QUdpSocket *socket)
{
    const int fd = socketFd(socket);
    const bool ok = c::qdtls_abort_handshake(d->h, fd);
    d->syncError();
    d->rearmTimer();
    return ok;
}

bool QDtls::shutdown(QUdpSocket *socket)
{
    const int fd = socketFd(socket);
    const bool ok = c::qdtls_shutdown(d->h, fd);
    d->syncError();
    d->rearmTimer();
    return ok;
}

bool QDtls::isConnectionEncrypted() const
{
    return c::qdtls_is_connection_encrypted(d->h);
}

QSslCipher QDtls::sessionCipher() const
{
    const QString name = readString([this](char *buf, size_t cap) { return c::qdtls_session_cipher(d->h, buf, cap); });
    return name.isEmpty() ? QSslCipher() : QSslCipher(name);
}

QSsl::SslProtocol QDtls::sessionProtocol() const
{
    return fromCProtocol(c::qdtls_session_protocol(d->h));
}

qint64 QDtls::writeDatagramEncrypted(QUdpSocket *socket, const QByteArray &dgram)
{
    const int fd = socketFd(socket);
    const int64_t n = c::qdtls_write_datagram_encrypted(d->h, fd, u8(dgram), size_t(dgram.size()));
    d->syncError();
    return n;
}

QByteArray QDtls::decryptDatagram(QUdpSocket *socket, const QByteArray &dgram)
{
    const int fd = socketFd(socket);
    QByteArray plain(dgram.size(), Qt::Uninitialized);
    const int64_t n = c::qdtls_decrypt_datagram(d->h, fd, u8(dgram), size_t(dgram.size()),
                                                reinterpret_cast<uint8_t *>(plain.data()), size_t(plain.size()));
    d->syncError();
    d->rearmTimer();
    if (n <= 0)
        return {};
    plain.truncate(qsizetype(n));
    return plain;
}

QDtlsError QDtls::dtlsError() const
{
    return d->error;
}

QString QDtls::dtlsErrorString() const
{
    return d->errorString;
}

#if QT_VERSION >= QT_VERSION_CHECK(6, 0, 0)
QList<QSslError> QDtls::peerVerificationErrors() const
#else
QVector<QSslError> QDtls::peerVerificationErrors() const
#endif
{
#if QT_VERSION >= QT_VERSION_CHECK(6, 0, 0)
    QList<QSslError> errors;
#else
    QVector<QSslError> errors;
#endif
    const size_t n = c::qdtls_peer_verification_error_count(d->h);
    for (size_t i = 0; i < n; ++i) {
        const auto code = QSslError::SslError(c::qdtls_peer_verification_error_code(d->h, i));
        const QByteArray der = readBytes(
            [this, i](uint8_t *buf, size_t cap) { return c::qdtls_peer_verification_error_certificate(d->h, i, buf, cap); });
        errors << QSslError(code, certificateFromDer(der));
    }
    return errors;
}

#if QT_VERSION >= QT_VERSION_CHECK(6, 0, 0)
void QDtls::ignoreVerificationErrors(const QList<QSslError> &errorsToIgnore)
#else
void QDtls::ignoreVerificationErrors(const QVector<QSslError> &errorsToIgnore)
#endif
{
    std::vector<QByteArray> ders;
    std::vector<c::QDtlsSslError> entries;
    ders.reserve(size_t(errorsToIgnore.size()));
    entries.reserve(size_t(errorsToIgnore.size()));
    for (const QSslError &e : errorsToIgnore) {
        const QSslCertificate cert = e.certificate();
        if (cert.isNull()) {
            // In Qt an error matches when code and certificate are equal, so
            // an entry without a certificate matches only errors without one
            // (NoPeerCertificate). The library would match it against any
            // certificate: leave such entries out.
            if (e.error() == QSslError::NoPeerCertificate)
                entries.push_back({int32_t(e.error()), nullptr, 0});
            continue;
        }
        ders.push_back(cert.toDer());
        entries.push_back({int32_t(e.error()), u8(ders.back()), size_t(ders.back().size())});
    }
    // Qt's ignoreVerificationErrors leaves the last error alone.
    c::qdtls_ignore_verification_errors(d->h, entries.data(), entries.size());
}

} // namespace qt
} // namespace qdtls
