// QDtlsServerPeer (qdtls_qt_server.h): one of the library server's peers,
// through the shim's qdtls::Peer (a view of a connection the server owns,
// with QDtls's getters), as long as the peer is there.
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
    if (!server || !d->open())
        return;
    const ::qdtls::Peer peer = d->peer;
    const bool closing = d->closing;
    server->detach(this, &deletedPeerMarker);
    if (closing)
        return; // deleted inside its own closed/peerClosed/handshakeFailed
    server->closeHandle(peer);
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
    return d->open();
}

bool QDtlsServerPeer::isConnectionEncrypted() const
{
    return d->open() && d->peer.isConnectionEncrypted();
}

QDtls::HandshakeState QDtlsServerPeer::handshakeState() const
{
    return d->open() ? QDtls::HandshakeState(int(d->peer.handshakeState())) : d->finalState;
}

QSslCipher QDtlsServerPeer::sessionCipher() const
{
    const QString name = d->open() ? toQString(d->peer.sessionCipher()) : QString();
    return name.isEmpty() ? QSslCipher() : QSslCipher(name);
}

QSsl::SslProtocol QDtlsServerPeer::sessionProtocol() const
{
    return d->open() ? fromShimProtocol(d->peer.sessionProtocol()) : QSsl::UnknownProtocol;
}

QSslCertificate QDtlsServerPeer::peerCertificate() const
{
    return d->open() ? certificateFromDer(d->peer.peerCertificate()) : QSslCertificate();
}

QList<QSslCertificate> QDtlsServerPeer::peerCertificateChain() const
{
    QList<QSslCertificate> chain;
    if (d->open()) {
        for (const ::qdtls::Bytes &der : d->peer.peerCertificateChain())
            chain << certificateFromDer(der);
    }
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
    if (d->open()) {
        for (const ::qdtls::QSslError &e : d->peer.peerVerificationErrors())
            errors << QSslError(QSslError::SslError(int(e.error)), certificateFromDer(e.certificate));
    }
    return errors;
}

QByteArray QDtlsServerPeer::nextNegotiatedProtocol() const
{
    if (!d->open())
        return QByteArray();
    const std::string protocol = d->peer.negotiatedApplicationProtocol();
    return QByteArray(protocol.data(), qsizetype(protocol.size()));
}

QDtlsError QDtlsServerPeer::dtlsError() const
{
    return d->open() ? QDtlsError(int(d->peer.dtlsError())) : d->error;
}

QString QDtlsServerPeer::dtlsErrorString() const
{
    if (!d->open())
        return d->errorString;
    return dtlsError() == QDtlsError::NoError ? QString() : toQString(d->peer.dtlsErrorString());
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
