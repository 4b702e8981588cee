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
#include "qdtls_qt_p.h"

#include <QtCore/qtimer.h>
#include <QtNetwork/qhostaddress.h>
#include <QtNetwork/qsslcertificate.h>
#include <QtNetwork/qsslcipher.h>
#include <QtNetwork/qsslconfiguration.h>
#include <QtNetwork/qudpsocket.h>

#include <climits>
#include <cstdint>
#include <string>
#include <vector>

#if QDTLS_QT_PRIVATE_API
#include "qtprivatebridge.h"
#endif

namespace qdtls {
namespace qt {

using namespace detail;

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
