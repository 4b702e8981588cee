// The Qt adapter's conversions (see qdtls_qt_p.h): QSslConfiguration to the
// shim's DtlsConfiguration (with a cache of recent ones), protocols,
// certificates, and the socket and address helpers.
#include "qdtls_qt_p.h"

#include <QtCore/qmutex.h>
#include <QtCore/qstringlist.h>
#include <QtNetwork/qhostaddress.h>
#include <QtNetwork/qnetworkinterface.h>
#include <QtNetwork/qsslcipher.h>
#include <QtNetwork/qsslkey.h>
#include <QtNetwork/qudpsocket.h>

#include <climits>
#include <cstring>
#include <vector>

namespace qdtls {
namespace qt {
namespace detail {

namespace {

QByteArray certificatesPem(const QList<QSslCertificate> &certificates)
{
    QByteArray pem;
    for (const QSslCertificate &cert : certificates) {
        if (!cert.isNull())
            pem += cert.toPem();
    }
    return pem;
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

} // namespace

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

QSslCertificate certificateFromDer(const ::qdtls::Bytes &der)
{
    return der.empty() ? QSslCertificate() : QSslCertificate(toQByteArray(der), QSsl::Der);
}

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


std::string addressText(const QHostAddress &address)
{
    return address.isNull() ? std::string() : address.toString().toStdString();
}

} // namespace detail
} // namespace qt
} // namespace qdtls
