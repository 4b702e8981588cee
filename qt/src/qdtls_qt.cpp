// The Qt adapter: qdtls::qt::QDtls and qdtls::qt::QDtlsClientVerifier over the
// C++ shim <qdtls/qdtls.hpp> (::qdtls::QDtls, ::qdtls::QDtlsClientVerifier,
// ::qdtls::DtlsConfiguration), never the C header directly. Qt values are
// converted to the shim's at this boundary; datagrams are sent by the library
// on the QUdpSocket's descriptor.
//
// Names: inside namespace qdtls::qt, QDtls, QDtlsClientVerifier, QDtlsError,
// QSslError and QSslPreSharedKeyAuthenticator are the adapter's (or Qt's,
// declared there by qdtls_qt.h); the shim's classes of the same names are
// always written ::qdtls::QDtls etc.
#include <qdtls/qdtls_qt.h>

#include <qdtls/qdtls.hpp>

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

#include <climits>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#if QDTLS_QT_PRIVATE_API
#include "qtprivatebridge.h"
#endif

namespace qdtls {
namespace qt {

namespace {

// The adapter's enums have Qt's values, and so have the shim's.
static_assert(int(QDtlsError::TlsNonFatalError) == int(::qdtls::QDtlsError::TlsNonFatalError), "QDtlsError values");
static_assert(int(QDtls::HandshakeComplete) == int(::qdtls::HandshakeState::HandshakeComplete),
              "HandshakeState values");
static_assert(int(QDtls::PeerVerificationFailed) == int(::qdtls::HandshakeState::PeerVerificationFailed),
              "HandshakeState values");
static_assert(int(QSslSocket::SslServerMode) == int(::qdtls::SslMode::SslServerMode), "SslMode values");
static_assert(int(QSslSocket::AutoVerifyPeer) == int(::qdtls::PeerVerifyMode::AutoVerifyPeer), "PeerVerifyMode values");
static_assert(int(QSslError::CertificateBlacklisted) == int(::qdtls::SslError::CertificateBlacklisted),
              "SslError values");
static_assert(int(QSslError::UnspecifiedError) == int(::qdtls::SslError::UnspecifiedError), "SslError values");
// The library takes QCryptographicHash::Algorithm numbers and refuses the
// ones it does not offer (Md4, Keccak, BLAKE2) with InvalidInputParameters.
static_assert(int(QCryptographicHash::Md5) == int(::qdtls::HashAlgorithm::Md5), "hash values");
static_assert(int(QCryptographicHash::Sha256) == int(::qdtls::HashAlgorithm::Sha256), "hash values");
static_assert(int(QCryptographicHash::Sha512) == int(::qdtls::HashAlgorithm::Sha512), "hash values");
static_assert(int(QCryptographicHash::RealSha3_224) == int(::qdtls::HashAlgorithm::Sha3_224), "hash values");
static_assert(int(QCryptographicHash::RealSha3_512) == int(::qdtls::HashAlgorithm::Sha3_512), "hash values");

// ---- between Qt's types and the shim's -----------------------------------------

// The shim reads the library's buffers (strings as UTF-8 std::string, blobs
// as ::qdtls::Bytes); these only change the container.
QString toQString(const std::string &s)
{
    return QString::fromUtf8(s.data(), qsizetype(s.size()));
}

QByteArray toQByteArray(const ::qdtls::Bytes &b)
{
    return QByteArray(reinterpret_cast<const char *>(b.data()), qsizetype(b.size()));
}

::qdtls::Bytes toBytes(const QByteArray &b)
{
    return ::qdtls::Bytes(b.constData(), b.constData() + b.size());
}

std::string_view toView(const QByteArray &b)
{
    return std::string_view(b.constData(), size_t(b.size()));
}

::qdtls::GeneratorParameters toShim(const QDtlsClientVerifier::GeneratorParameters &p)
{
    return {::qdtls::HashAlgorithm(int(p.hash)), toBytes(p.secret)};
}

QDtlsClientVerifier::GeneratorParameters fromShim(const ::qdtls::GeneratorParameters &p)
{
    return {QCryptographicHash::Algorithm(int(p.hash)), toQByteArray(p.secret)};
}

// QSsl::SslProtocol numbers differ between Qt 5 and Qt 6; the library uses Qt 6's.
::qdtls::SslProtocol toShimProtocol(QSsl::SslProtocol p)
{
    using P = ::qdtls::SslProtocol;
#if QT_VERSION >= QT_VERSION_CHECK(6, 0, 0)
    static_assert(int(QSsl::DtlsV1_2) == int(P::DtlsV1_2), "QSsl::SslProtocol values");
    static_assert(int(QSsl::DtlsV1_2OrLater) == int(P::DtlsV1_2OrLater), "QSsl::SslProtocol values");
    return P(int(p)); // DtlsV1_0 (8) and DtlsV1_0OrLater (9) are deprecated names with these numbers
#else
    switch (p) {
    case QSsl::DtlsV1_0: return P::DtlsV1_0;
    case QSsl::DtlsV1_0OrLater: return P::DtlsV1_0OrLater;
    case QSsl::DtlsV1_2: return P::DtlsV1_2;
    case QSsl::DtlsV1_2OrLater: return P::DtlsV1_2OrLater;
    case QSsl::UnknownProtocol: return P::UnknownProtocol;
    default: return P(0); // a TLS protocol: refused at handshake time, as in Qt
    }
#endif
}

QSsl::SslProtocol fromShimProtocol(::qdtls::SslProtocol p)
{
#if QT_VERSION >= QT_VERSION_CHECK(6, 0, 0)
    return QSsl::SslProtocol(int(p));
#else
    using P = ::qdtls::SslProtocol;
    switch (p) {
    case P::DtlsV1_0: return QSsl::DtlsV1_0;
    case P::DtlsV1_0OrLater: return QSsl::DtlsV1_0OrLater;
    case P::DtlsV1_2: return QSsl::DtlsV1_2;
    case P::DtlsV1_2OrLater: return QSsl::DtlsV1_2OrLater;
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

QSslCertificate certificateFromDer(const ::qdtls::Bytes &der)
{
    return der.empty() ? QSslCertificate() : QSslCertificate(toQByteArray(der), QSsl::Der);
}

// Qt's list of every cipher it knows, which a configuration carries by
// default. Built once (Qt builds a fresh list on every call); never freed, so
// that nothing of Qt's is destroyed after Qt at exit.
const QList<QSslCipher> &supportedCiphers()
{
    static const QList<QSslCipher> *const all = new QList<QSslCipher>(QSslConfiguration::supportedCiphers());
    return *all;
}

// The shim's configuration for a QSslConfiguration. What the library refuses
// is described in `problem`: Qt accepts any configuration in
// setDtlsConfiguration and fails the handshake with TlsInitializationError.
::qdtls::DtlsConfiguration toShimConfiguration(const QSslConfiguration &q, QString *problem)
{
    ::qdtls::DtlsConfiguration cfg;
    if (!cfg.nativeHandle())
        return cfg;
    auto fail = [problem](const QString &what) {
        if (problem->isEmpty())
            *problem = what;
    };

    cfg.setProtocol(toShimProtocol(q.protocol()));
    cfg.setPeerVerifyMode(::qdtls::PeerVerifyMode(int(q.peerVerifyMode())));
    cfg.setPeerVerifyDepth(qMax(0, q.peerVerifyDepth()));

    if (!cfg.setLocalCertificateChain(toView(certificatesPem(q.localCertificateChain()))))
        fail(QStringLiteral("Cannot use the local certificate chain"));

    const QSslKey key = q.privateKey();
    const QByteArray keyPem = key.isNull() ? QByteArray() : key.toPem();
    if (!key.isNull() && keyPem.isEmpty())
        fail(QStringLiteral("Cannot use the private key (only keys that can be written as PEM are supported)"));
    else if (!cfg.setPrivateKey(toView(keyPem)))
        fail(QStringLiteral("Cannot use the private key"));

    cfg.clearCaCertificates();
    const QByteArray cas = certificatesPem(q.caCertificates());
    if (!cas.isEmpty() && !cfg.addCaCertificates(toView(cas)))
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
        cfg.resetCiphers();
    } else {
        const std::string list = dtlsCiphers.join(QLatin1Char(':')).toStdString();
        if (list.empty() || !cfg.setCiphers(list))
            fail(QStringLiteral("Invalid or empty cipher list"));
    }

    cfg.setDtlsCookieVerificationEnabled(q.dtlsCookieVerificationEnabled());
    if (!cfg.setPreSharedKeyIdentityHint(toView(q.preSharedKeyIdentityHint())))
        fail(QStringLiteral("Cannot use the pre-shared key identity hint"));
    cfg.setServerCipherPreference(!q.testSslOption(QSsl::SslOptionDisableServerCipherPreference));

    const QList<QByteArray> protocols = q.allowedNextProtocols();
    std::vector<std::string> names;
    names.reserve(size_t(protocols.size()));
    for (const QByteArray &protocol : protocols)
        names.emplace_back(protocol.constData()); // up to a NUL, as C strings
    if (!cfg.setAllowedNextProtocols(names))
        fail(QStringLiteral("Invalid ALPN protocol name"));
    return cfg;
}

// A QSslConfiguration in the library's form. The library shares a
// configuration it is given (setDtlsConfiguration takes a reference to
// immutable data), so one converted configuration serves any number of
// QDtls objects, in any thread.
// (Qt's intrusive sharing rather than std::shared_ptr, whose type
// information would be exported from the library.)
struct Converted : QSharedData
{
    QSslConfiguration qt;
    ::qdtls::DtlsConfiguration shim;
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
    made->shim = toShimConfiguration(q, &made->problem);
    const ConvertedPtr fresh(made);
    if (fresh->shim.nativeHandle()) {
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
// sockaddr_in6 (the shim's sockaddr overloads keep sin6_scope_id); every
// other address as text.
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

const sockaddr *asSockaddr(const sockaddr_in6 &sa)
{
    return reinterpret_cast<const sockaddr *>(&sa);
}

std::string addressText(const QHostAddress &address)
{
    return address.isNull() ? std::string() : address.toString().toStdString();
}

} // namespace

// ---- QDtlsClientVerifier --------------------------------------------------------------

class QDtlsClientVerifierPrivate
{
public:
    ::qdtls::QDtlsClientVerifier v;
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
    return d->v.setCookieGeneratorParameters(toShim(params));
}

QDtlsClientVerifier::GeneratorParameters QDtlsClientVerifier::cookieGeneratorParameters() const
{
    return fromShim(d->v.cookieGeneratorParameters());
}

bool QDtlsClientVerifier::verifyClient(QUdpSocket *socket, const QByteArray &dgram, const QHostAddress &address,
                                       quint16 port)
{
    const int fd = socketFd(socket);
    sockaddr_in6 sa;
    if (scopedSockaddr(address, port, &sa))
        return d->v.verifyClient(fd, dgram.constData(), size_t(dgram.size()), asSockaddr(sa), sizeof sa);
    return d->v.verifyClient(fd, dgram.constData(), size_t(dgram.size()), addressText(address), port);
}

QByteArray QDtlsClientVerifier::verifiedHello() const
{
    return toQByteArray(d->v.verifiedHello());
}

QDtlsError QDtlsClientVerifier::dtlsError() const
{
    return QDtlsError(int(d->v.dtlsError()));
}

QString QDtlsClientVerifier::dtlsErrorString() const
{
    return toQString(d->v.dtlsErrorString());
}

// ---- QDtls -------------------------------------------------------------------------

class QDtlsPrivate
{
public:
    QDtlsPrivate(QDtls *q, QSslSocket::SslMode mode)
        : q(q), mode(mode), h(::qdtls::SslMode(int(mode))),
          // Qt's value at construction; handed over by configureIfNeeded.
          config(QSslConfiguration::defaultDtlsConfiguration())
    {
        h.onPskRequired([this](::qdtls::QSslPreSharedKeyAuthenticator *a) { pskRequired(*a); });
        if (!h.nativeHandle())
            syncError(); // Qt's error for an invalid mode
    }

    // Takes the library's last error (after a call Qt documents as clearing
    // or setting the error).
    void syncError()
    {
        const ::qdtls::QDtlsError code = h.dtlsError();
        error = QDtlsError(int(code));
        errorString = code == ::qdtls::QDtlsError::NoError ? QString() : toQString(h.dtlsErrorString());
        if (!h.nativeHandle() && errorString.isEmpty())
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
        const int64_t ms = h.nextTimeoutMs();
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
        const int64_t ms = h.nextTimeoutMs();
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
        const bool ok = h.setDtlsConfiguration(converted->shim);
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

    // The shim's pskRequired handler: Qt's signal with Qt's authenticator,
    // then the identity (client) and key copied back.
    void pskRequired(::qdtls::QSslPreSharedKeyAuthenticator &a)
    {
        QSslPreSharedKeyAuthenticator auth;
        const QByteArray hint = toQByteArray(a.identityHint());
        const QByteArray identity = toQByteArray(a.identity());
        const int maxKey = qMax(0, a.maximumPreSharedKeyLength());
        if (mode == QSslSocket::SslClientMode) {
#if QDTLS_QT_PRIVATE_API
            pskHint = hint; // Qt's authenticator refers to these bytes
            bridge::setupClientPsk(&auth, pskHint, qMax(0, a.maximumIdentityLength()), maxKey);
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
        if (mode == QSslSocket::SslClientMode)
            a.setIdentity(toView(auth.identity()));
        a.setPreSharedKey(toView(auth.preSharedKey()));
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
    ::qdtls::QDtls h;
    QSslConfiguration config;
    QString configurationProblem;
    QHostAddress peerAddress;
    QDtlsError error = QDtlsError::NoError;
    QString errorString;
    QByteArray pskHint;
    bool configured = false; // config was handed to the library
    QTimer *timer = nullptr; // a child of q, so that it follows q to another thread
};

QDtls::QDtls(QSslSocket::SslMode mode, QObject *parent) : QObject(parent), d(new QDtlsPrivate(this, mode)) {}

QDtls::~QDtls() = default;

bool QDtls::setPeer(const QHostAddress &address, quint16 port, const QString &verificationName)
{
    const std::string name = verificationName.toStdString();
    sockaddr_in6 sa;
    const bool ok = scopedSockaddr(address, port, &sa) ? d->h.setPeer(asSockaddr(sa), sizeof sa, name)
                                                       : d->h.setPeer(addressText(address), port, name);
    d->syncError();
    if (ok)
        d->peerAddress = address;
    return ok;
}

bool QDtls::setPeerVerificationName(const QString &name)
{
    const bool ok = d->h.setPeerVerificationName(name.toStdString());
    d->syncError();
    return ok;
}

QHostAddress QDtls::peerAddress() const
{
    return d->peerAddress;
}

quint16 QDtls::peerPort() const
{
    return d->h.peerPort();
}

QString QDtls::peerVerificationName() const
{
    return toQString(d->h.peerVerificationName());
}

QSslSocket::SslMode QDtls::sslMode() const
{
    return d->mode;
}

void QDtls::setMtuHint(quint16 mtuHint)
{
    d->h.setMtuHint(mtuHint); // Qt leaves the last error alone here
}

quint16 QDtls::mtuHint() const
{
    return d->h.mtuHint();
}

bool QDtls::setCookieGeneratorParameters(const GeneratorParameters &params)
{
    const bool ok = d->h.setCookieGeneratorParameters(toShim(params));
    d->syncError();
    return ok;
}

QDtls::GeneratorParameters QDtls::cookieGeneratorParameters() const
{
    return fromShim(d->h.cookieGeneratorParameters());
}

bool QDtls::setDtlsConfiguration(const QSslConfiguration &configuration)
{
    return d->setDtlsConfiguration(configuration);
}

QSslConfiguration QDtls::dtlsConfiguration() const
{
    QSslConfiguration configuration = d->config;
#if QDTLS_QT_PRIVATE_API
    const QSslCertificate peer = certificateFromDer(d->h.peerCertificate());
    QList<QSslCertificate> chain;
    for (const ::qdtls::Bytes &der : d->h.peerCertificateChain())
        chain << certificateFromDer(der);
    bridge::setPeerCertificates(configuration, peer, chain);
    const std::string protocol = d->h.negotiatedApplicationProtocol();
    bridge::setNegotiatedProtocol(configuration, QByteArray(protocol.data(), qsizetype(protocol.size())));
#endif
    return configuration;
}

QDtls::HandshakeState QDtls::handshakeState() const
{
    return HandshakeState(int(d->h.handshakeState()));
}

bool QDtls::doHandshake(QUdpSocket *socket, const QByteArray &dgram)
{
    d->configureIfNeeded();
    if (!d->configurationProblem.isEmpty() && handshakeState() == HandshakeNotStarted)
        return d->failInitialization(socket, dgram);
    const int fd = socketFd(socket);
    const bool ok = d->h.doHandshake(fd, dgram.constData(), size_t(dgram.size()));
    d->syncError();
    d->rearmTimer();
    return ok;
}

bool QDtls::handleTimeout(QUdpSocket *socket)
{
    const int fd = socketFd(socket);
    const bool ok = d->h.handleTimeout(fd);
    d->syncError();
    d->rearmTimer();
    return ok;
}

bool QDtls::resumeHandshake(QUdpSocket *socket)
{
    const int fd = socketFd(socket);
    const bool ok = d->h.resumeHandshake(fd);
    d->syncError();
    d->rearmTimer();
    return ok;
}

bool QDtls::abortHandshake(QUdpSocket *socket)
{
    const int fd = socketFd(socket);
    const bool ok = d->h.abortHandshake(fd);
    d->syncError();
    d->rearmTimer();
    return ok;
}

bool QDtls::shutdown(QUdpSocket *socket)
{
    const int fd = socketFd(socket);
    const bool ok = d->h.shutdown(fd);
    d->syncError();
    d->rearmTimer();
    return ok;
}

bool QDtls::isConnectionEncrypted() const
{
    return d->h.isConnectionEncrypted();
}

QSslCipher QDtls::sessionCipher() const
{
    const QString name = toQString(d->h.sessionCipher());
    return name.isEmpty() ? QSslCipher() : QSslCipher(name);
}

QSsl::SslProtocol QDtls::sessionProtocol() const
{
    return fromShimProtocol(d->h.sessionProtocol());
}

qint64 QDtls::writeDatagramEncrypted(QUdpSocket *socket, const QByteArray &dgram)
{
    const int fd = socketFd(socket);
    const int64_t n = d->h.writeDatagramEncrypted(fd, dgram.constData(), size_t(dgram.size()));
    d->syncError();
    return n;
}

QByteArray QDtls::decryptDatagram(QUdpSocket *socket, const QByteArray &dgram)
{
    const int fd = socketFd(socket);
    QByteArray plain(dgram.size(), Qt::Uninitialized);
    const int64_t n =
        d->h.decryptDatagram(fd, dgram.constData(), size_t(dgram.size()), plain.data(), size_t(plain.size()));
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
    for (const ::qdtls::QSslError &e : d->h.peerVerificationErrors())
        errors << QSslError(QSslError::SslError(int(e.error)), certificateFromDer(e.certificate));
    return errors;
}

#if QT_VERSION >= QT_VERSION_CHECK(6, 0, 0)
void QDtls::ignoreVerificationErrors(const QList<QSslError> &errorsToIgnore)
#else
void QDtls::ignoreVerificationErrors(const QVector<QSslError> &errorsToIgnore)
#endif
{
    std::vector<::qdtls::QSslError> entries;
    entries.reserve(size_t(errorsToIgnore.size()));
    for (const QSslError &e : errorsToIgnore) {
        const QSslCertificate cert = e.certificate();
        if (cert.isNull()) {
            // In Qt an error matches when code and certificate are equal, so
            // an entry without a certificate matches only errors without one
            // (NoPeerCertificate). The library would match it against any
            // certificate: leave such entries out.
            if (e.error() == QSslError::NoPeerCertificate)
                entries.push_back({::qdtls::SslError(int(e.error())), {}});
            continue;
        }
        entries.push_back({::qdtls::SslError(int(e.error())), toBytes(cert.toDer())});
    }
    // Qt's ignoreVerificationErrors leaves the last error alone.
    d->h.ignoreVerificationErrors(entries);
}

} // namespace qt
} // namespace qdtls
