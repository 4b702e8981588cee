// Helpers over Qt's private QTlsBackend API (Qt 6 only, optional). Qt has no
// public way to put the peer's certificates into a QSslConfiguration or to
// fill in a QSslPreSharedKeyAuthenticator's identity hint and maximum
// lengths; Qt's own TLS backends use these QTlsBackend statics. They are
// compiled in a translation unit of their own (qtprivatebridge.cpp), the only
// one that sees Qt's private headers: those pull in Qt's internals and Qt's
// own qdtls.h (the global class QDtls), which the adapter's implementation
// keeps out of its sight, and this way the private API the adapter depends
// on is these five calls, plus one field write (setNegotiatedProtocol: Qt has
// no helper for it outside QSslSocket). Built only with QDTLS_QT_PRIVATE_API=ON, which ties
// the adapter to the exact Qt version it was built with.
#ifndef QDTLS_QT_QTPRIVATEBRIDGE_H
#define QDTLS_QT_QTPRIVATEBRIDGE_H

#include <QtCore/qbytearray.h>
#include <QtCore/qlist.h>
#include <QtNetwork/qsslcertificate.h>
#include <QtNetwork/qsslconfiguration.h>
#include <QtNetwork/qsslpresharedkeyauthenticator.h>

namespace qdtls {
namespace qt {
namespace bridge {

// Replaces the peer certificate and chain that `configuration` carries.
void setPeerCertificates(QSslConfiguration &configuration, const QSslCertificate &peer,
                         const QList<QSslCertificate> &chain);

// Records the ALPN protocol negotiated in the handshake: nextNegotiatedProtocol()
// becomes `protocol` and nextProtocolNegotiationStatus() Negotiated, or, for
// an empty `protocol`, empty and None (as a configuration that negotiated nothing).
void setNegotiatedProtocol(QSslConfiguration &configuration, const QByteArray &protocol);

// Client side: the server's identity hint (`hint` must outlive `auth`: Qt
// keeps a reference to its bytes) and the maxima.
void setupClientPsk(QSslPreSharedKeyAuthenticator *auth, const QByteArray &hint, int maxIdentityLength,
                    int maxPreSharedKeyLength);

// Server side: the identity the client sent, the configured hint, the key maximum.
void setupServerPsk(QSslPreSharedKeyAuthenticator *auth, const QByteArray &identity, const QByteArray &hint,
                    int maxPreSharedKeyLength);

} // namespace bridge
} // namespace qt
} // namespace qdtls

#endif // QDTLS_QT_QTPRIVATEBRIDGE_H
