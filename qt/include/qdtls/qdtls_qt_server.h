// qdtls_qt_server.h: a DTLS server for Qt programs, qdtls::qt::QDtlsServer.
//
// Qt has no DTLS server class: with Qt's QDtls an application keeps one QDtls
// per client, looks clients up by address and port, runs a
// QDtlsClientVerifier in front, and drives every handshake and its timer
// itself. QDtlsServer does all of that over one bound QUdpSocket, with the
// library's server (peer table, cookies, limits, timeouts, datagrams read in
// batches) underneath, and reports with Qt's types and signals:
//
//     auto *server = new QDtlsServer(socket, configuration, this);
//     connect(server, &QDtlsServer::datagramReceived, this,
//             [server](QDtlsServerPeer *peer, const QByteArray &data) {
//                 peer->writeDatagram("echo: " + data);
//             });
//
// Each client is a QDtlsServerPeer, a QObject owned by the server and deleted
// (deleteLater) after it went away; hold on to one with QPointer.
//
// Include <qdtls/QDtlsServer> for the global names QDtlsServer and
// QDtlsServerPeer. See the adapter's README.md.
#ifndef QDTLS_QT_QDTLS_QT_SERVER_H
#define QDTLS_QT_QDTLS_QT_SERVER_H

#include "qdtls_qt.h"

#include <QtCore/qlist.h>
#include <QtNetwork/qsslcertificate.h>
#if QT_VERSION < QT_VERSION_CHECK(6, 0, 0)
#include <QtCore/qvector.h>
#endif

namespace qdtls {
namespace qt {

using QT_PREPEND_NAMESPACE(QSslCertificate);

class QDtlsServerPeer;
class QDtlsServerPrivate;

class QDTLS_QT_EXPORT QDtlsServer : public QObject
{
    Q_OBJECT

public:

    // Why a peer went away (peerClosed, handshakeFailed, QDtlsServerPeer::closed).
    enum CloseReason
    {
        RemoteClosed = 1,    // the client sent close_notify
        FatalAlert = 2,      // a fatal alert, sent or received: handshake failure, verification failure, bad record
        Timeout = 3,         // idle too long, the handshake took too long, or the client stopped answering
        Evicted = 4,         // dropped to make room under a limit
        Replaced = 5,        // the same address and port completed a new handshake (a restarted client)
        OtherError = 6,      // any other error
        ClosedLocally = 7    // closePeer(), QDtlsServerPeer::close(), shutdown()
    };
    Q_ENUM(CloseReason)

    // `socket` must be bound (QUdpSocket::bind); the server reads every
    // datagram from it from then on (do not read it yourself) and sends on
    // it. It is not owned, and must live in the server's thread.
    QDtlsServer(QUdpSocket *socket, const QSslConfiguration &configuration, QObject *parent = nullptr);
    ~QDtlsServer() override; // closes no peer (call shutdown() first to tell the clients)

    QUdpSocket *socket() const;
    QSslConfiguration dtlsConfiguration() const;

    // Cookies (HelloVerifyRequest) are on when the configuration's
    // dtlsCookieVerificationEnabled() is (Qt's default), with a random secret.
    bool setCookieGeneratorParameters(const QDtlsClientVerifier::GeneratorParameters &params);
    // A new random secret; cookies made with the old one stay valid for graceMsecs.
    bool rotateCookieSecret(int graceMsecs);
    // This server uses other's cookie secret, and follows its rotations
    // (several servers on one port with SO_REUSEPORT, one per thread).
    bool shareCookieSecret(const QDtlsServer *other);

    // Limits; 0 means unlimited. Handshakes count towards peers.
    bool setMaxPeers(int max); // default 65536
    int maxPeers() const;
    bool setMaxHandshakes(int max); // default 1024
    int maxHandshakes() const;
    bool setMaxPeersPerAddress(int max); // default 0
    int maxPeersPerAddress() const;
    bool setIdleTimeout(int msecs); // connected peers; default 0 (never)
    int idleTimeout() const;
    bool setHandshakeTimeout(int msecs); // a handshake must complete within; default 30000
    int handshakeTimeout() const;

    int peerCount() const;      // connected and handshaking
    int handshakeCount() const; // handshaking only
    QList<QDtlsServerPeer *> peers() const; // the connected ones, in no particular order

    // Encrypts and sends to a connected peer: the bytes written, or -1.
    qint64 writeDatagram(QDtlsServerPeer *peer, const QByteArray &datagram);
    // Sends close_notify and removes the peer: peerClosed(ClosedLocally)
    // before it returns (from a slot of this server, once the slot returns).
    bool closePeer(QDtlsServerPeer *peer);
    // closePeer for every peer (handshakes are dropped without a word).
    bool shutdown();

    // The last error, as QDtls keeps it; TlsInitializationError from the
    // constructor when the library refused the configuration.
    QDtlsError dtlsError() const;
    QString dtlsErrorString() const;

Q_SIGNALS:

    // A handshake completed.
    void peerConnected(QDtlsServerPeer *peer);
    // A decrypted datagram from a connected peer.
    void datagramReceived(QDtlsServerPeer *peer, const QByteArray &datagram);
    // A connected peer went away; `peer` is deleted (deleteLater) afterwards.
    void peerClosed(QDtlsServerPeer *peer, QDtlsServer::CloseReason reason);
    // A handshake ended without completing; `peer` tells why (dtlsError(),
    // peerVerificationErrors()) during the call and is deleted afterwards.
    void handshakeFailed(QDtlsServerPeer *peer, QDtlsServer::CloseReason reason);
    // A PSK handshake needs the key for authenticator->identity(): set it
    // with setPreSharedKey (direct connections only, as QDtls::pskRequired).
    void pskRequired(QDtlsServerPeer *peer, QSslPreSharedKeyAuthenticator *authenticator);
    // Reading the socket or handling timers failed.
    void errorOccurred(QDtlsError error, const QString &errorString);

private:

    friend class QDtlsServerPrivate;
    friend class QDtlsServerPeer;
    QDtlsServerPrivate *d; // not a QScopedPointer: it may outlive the server (see the destructor)
    Q_DISABLE_COPY_MOVE(QDtlsServer)
};

class QDtlsServerPeerPrivate;
class QDTLS_QT_EXPORT QDtlsServerPeer : public QObject
{
    Q_OBJECT

public:

    ~QDtlsServerPeer() override; // deleting an open peer closes it (close_notify), without signals

    QDtlsServer *server() const; // nullptr once the server is gone

    // Valid as long as the object exists.
    QHostAddress peerAddress() const;
    quint16 peerPort() const;

    // While the peer is open (until closed/peerClosed/handshakeFailed return).
    bool isOpen() const;
    bool isConnectionEncrypted() const;
    QDtls::HandshakeState handshakeState() const;
    QSslCipher sessionCipher() const;
    QSsl::SslProtocol sessionProtocol() const;
    QSslCertificate peerCertificate() const;
    QList<QSslCertificate> peerCertificateChain() const;
#if QT_VERSION >= QT_VERSION_CHECK(6, 0, 0)
    QList<QSslError> peerVerificationErrors() const;
#else
    QVector<QSslError> peerVerificationErrors() const;
#endif
    QByteArray nextNegotiatedProtocol() const; // ALPN; empty when none

    // The peer's last error (kept after it closed).
    QDtlsError dtlsError() const;
    QString dtlsErrorString() const;

    // server()->writeDatagram(this, datagram) and server()->closePeer(this).
    qint64 writeDatagram(const QByteArray &datagram);
    bool close();

Q_SIGNALS:

    // Emitted before the server's signals of the same name.
    void datagramReceived(const QByteArray &datagram);
    void closed(QDtlsServer::CloseReason reason); // also for a failed handshake

private:

    friend class QDtlsServerPrivate;
    friend class QDtlsServer;
    explicit QDtlsServerPeer(QDtlsServer *server);
    QScopedPointer<QDtlsServerPeerPrivate> d;
    Q_DISABLE_COPY_MOVE(QDtlsServerPeer)
};

} // namespace qt
} // namespace qdtls

#endif // QDTLS_QT_QDTLS_QT_SERVER_H
