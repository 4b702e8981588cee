// QDtlsServerPeer (qdtls_qt_server.h): a view of one of the library
// server's peers, qdtls_connection handles owned by the server, through the
// C getters that work on any connection.
#include "qdtls_qt_server_p.h"

#include <QtNetwork/qsslcipher.h>

namespace qdtls {
namespace qt {

using namespace detail;

// ---- QDtlsServerPeer -------------------------------------------------------------------

QDtlsServerPeer::QDtlsServerPeer(QDtlsServer *server) : QObject(server), d(new QDtlsServerPeerPrivate) {}

QDtlsServerPeer::~QDtlsServerPeer()
{
    QDtlsServerPrivate *server = d->server;
    if (!server || !d->h)
        return;
    qdtls_connection *h = d->h;
    const bool closing = d->closing;
    server->detach(this, &deletedPeerMarker);
    if (closing)
        return; // deleted inside its own closed/peerClosed/handshakeFailed
    server->closeHandle(h);
}

QDtlsServer *QDtlsServerPeer::server() const
{
    return d->server ? d->server->q : nullptr;
}

QHostAddress QDtlsServerPeer::peerAddress() const
{
    return d->address;
}

quint16 QDtlsServerPeer::peerPort() const
{
    return d->port;
}

bool QDtlsServerPeer::isOpen() const
{
    return d->h;
}

bool QDtlsServerPeer::isConnectionEncrypted() const
{
    return d->h && qdtls_is_connection_encrypted(d->h);
}

QDtls::HandshakeState QDtlsServerPeer::handshakeState() const
{
    return d->h ? QDtls::HandshakeState(qdtls_handshake_state(d->h)) : d->finalState;
}

QSslCipher QDtlsServerPeer::sessionCipher() const
{
    if (!d->h)
        return {};
    const QString name = toQString(
        ::qdtls::detail::readString([this](char *b, size_t c) { return qdtls_session_cipher(d->h, b, c); }));
    return name.isEmpty() ? QSslCipher() : QSslCipher(name);
}

QSsl::SslProtocol QDtlsServerPeer::sessionProtocol() const
{
    return d->h ? fromShimProtocol(::qdtls::SslProtocol(qdtls_session_protocol(d->h))) : QSsl::UnknownProtocol;
}

QSslCertificate QDtlsServerPeer::peerCertificate() const
{
    if (!d->h)
        return QSslCertificate();
    return certificateFromDer(
        ::qdtls::detail::readBytes([this](uint8_t *b, size_t c) { return qdtls_peer_certificate(d->h, b, c); }));
}

QList<QSslCertificate> QDtlsServerPeer::peerCertificateChain() const
{
    QList<QSslCertificate> chain;
    const size_t n = d->h ? qdtls_peer_certificate_chain_count(d->h) : 0;
    for (size_t i = 0; i < n; ++i)
        chain << certificateFromDer(::qdtls::detail::readBytes(
            [this, i](uint8_t *b, size_t c) { return qdtls_peer_certificate_chain_at(d->h, i, b, c); }));
    return chain;
}

#if QT_VERSION >= QT_VERSION_CHECK(6, 0, 0)
QList<QSslError> QDtlsServerPeer::peerVerificationErrors() const
{
    QList<QSslError> errors;
#else
QVector<QSslError> QDtlsServerPeer::peerVerificationErrors() const
{
    QVector<QSslError> errors;
#endif
    const size_t n = d->h ? qdtls_peer_verification_error_count(d->h) : 0;
    for (size_t i = 0; i < n; ++i) {
        const ::qdtls::Bytes der = ::qdtls::detail::readBytes(
            [this, i](uint8_t *b, size_t c) { return qdtls_peer_verification_error_certificate(d->h, i, b, c); });
        errors << QSslError(QSslError::SslError(qdtls_peer_verification_error_code(d->h, i)), certificateFromDer(der));
    }
    return errors;
}

QByteArray QDtlsServerPeer::nextNegotiatedProtocol() const
{
    if (!d->h)
        return {};
    return toQByteArray(::qdtls::detail::readBytes(
        [this](uint8_t *b, size_t c) { return qdtls_negotiated_application_protocol(d->h, b, c); }));
}

QDtlsError QDtlsServerPeer::dtlsError() const
{
    return d->h ? peerError(d->h) : d->error;
}

QString QDtlsServerPeer::dtlsErrorString() const
{
    if (!d->h)
        return d->errorString;
    return dtlsError() == QDtlsError::NoError ? QString() : peerErrorString(d->h);
}

qint64 QDtlsServerPeer::writeDatagram(const QByteArray &datagram)
{
    QDtlsServer *s = server();
    return s ? s->writeDatagram(this, datagram) : -1;
}

bool QDtlsServerPeer::close()
{
    QDtlsServer *s = server();
    return s && s->closePeer(this);
}

} // namespace qt
} // namespace qdtls
