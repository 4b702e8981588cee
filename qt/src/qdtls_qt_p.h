// Internal to the Qt adapter (not installed): conversions between Qt's types
// and the shim's, the cache of converted configurations, and the socket and
// address helpers, shared by qdtls_qt.cpp (QDtls, QDtlsClientVerifier) and
// qdtls_qt_server.cpp (QDtlsServer). Everything here is compiled with hidden
// visibility, so none of it is exported (see qdtls_qt.map).
#ifndef QDTLS_QT_QDTLS_QT_P_H
#define QDTLS_QT_QDTLS_QT_P_H

#include <qdtls/qdtls_qt.h>

#include <qdtls/qdtls.hpp>

#include <QtCore/qshareddata.h>
#include <QtNetwork/qsslcertificate.h>
#include <QtNetwork/qsslconfiguration.h>

#include <netinet/in.h>

#include <string>
#include <string_view>

namespace qdtls {
namespace qt {
namespace detail {

// ---- between Qt's types and the shim's -----------------------------------------

// The shim reads the library's buffers (strings as UTF-8 std::string, blobs
// as ::qdtls::Bytes); these only change the container.
inline QString toQString(const std::string &s)
{
    return QString::fromUtf8(s.data(), qsizetype(s.size()));
}

inline QByteArray toQByteArray(const ::qdtls::Bytes &b)
{
    return QByteArray(reinterpret_cast<const char *>(b.data()), qsizetype(b.size()));
}

inline ::qdtls::Bytes toBytes(const QByteArray &b)
{
    return ::qdtls::Bytes(b.constData(), b.constData() + b.size());
}

inline std::string_view toView(const QByteArray &b)
{
    return std::string_view(b.constData(), size_t(b.size()));
}

inline ::qdtls::GeneratorParameters toShim(const QDtlsClientVerifier::GeneratorParameters &p)
{
    return {::qdtls::HashAlgorithm(int(p.hash)), toBytes(p.secret)};
}

inline QDtlsClientVerifier::GeneratorParameters fromShim(const ::qdtls::GeneratorParameters &p)
{
    return {QCryptographicHash::Algorithm(int(p.hash)), toQByteArray(p.secret)};
}


// QSsl::SslProtocol numbers differ between Qt 5 and Qt 6; the library uses Qt 6's.
::qdtls::SslProtocol toShimProtocol(QSsl::SslProtocol p);
QSsl::SslProtocol fromShimProtocol(::qdtls::SslProtocol p);

// A DER certificate from the library; null for an empty one.
QSslCertificate certificateFromDer(const ::qdtls::Bytes &der);

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

// The library's form of `q`, converted once per distinct configuration.
ConvertedPtr convert(const QSslConfiguration &q);

// ---- sockets and addresses -------------------------------------------------------

// The descriptor the library sends on; -1 is Qt's null socket. An unbound
// socket is bound first, as QUdpSocket::writeDatagram binds it.
int socketFd(QUdpSocket *socket);

// An IPv6 address with a scope (fe80::1%eth0) as a sockaddr_in6; false for
// every other address, which is handed over as text.
bool scopedSockaddr(const QHostAddress &address, quint16 port, sockaddr_in6 *sa);

inline const sockaddr *asSockaddr(const sockaddr_in6 &sa)
{
    return reinterpret_cast<const sockaddr *>(&sa);
}

std::string addressText(const QHostAddress &address);

} // namespace detail
} // namespace qt
} // namespace qdtls

#endif // QDTLS_QT_QDTLS_QT_P_H
