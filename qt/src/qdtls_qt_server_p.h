// Internal to the Qt adapter (not installed): the private parts of
// QDtlsServer and QDtlsServerPeer, shared by qdtls_qt_server.cpp and
// qdtls_qt_server_peer.cpp. They use the library's server through the C++
// shim's qdtls::Server and qdtls::Peer (<qdtls/server.hpp>, which
// <qdtls/qdtls.hpp> includes), written ::qdtls::Server and ::qdtls::Peer.
#ifndef QDTLS_QT_QDTLS_QT_SERVER_P_H
#define QDTLS_QT_QDTLS_QT_SERVER_P_H

#include <qdtls/qdtls_qt_server.h>

#include "qdtls_qt_p.h"

#include <QtCore/qabstracteventdispatcher.h>
#include <QtCore/qelapsedtimer.h>
#include <QtCore/qmetaobject.h>
#include <QtCore/qpointer.h>
#include <QtCore/qset.h>
#include <QtCore/qtimer.h>
#include <QtNetwork/qhostaddress.h>
#include <QtNetwork/qsslconfiguration.h>
#include <QtNetwork/qudpsocket.h>

#include <climits>
#include <cstdint>
#include <memory>

namespace qdtls {
namespace qt {

namespace detail {

// The user data of a peer whose object the application deleted: nothing
// more is reported for it, and no new object is made for it.
extern char deletedPeerMarker;

} // namespace detail

class QDtlsServerPeerPrivate
{
public:
    QDtlsServerPrivate *server = nullptr; // null once the server is gone
    ::qdtls::Peer peer{nullptr};          // a null handle once the peer is gone
    QHostAddress address;
    quint16 port = 0;
    bool connected = false; // peerConnected was emitted
    bool closing = false;   // inside its onClosed/onHandshakeFailed
    QDtls::HandshakeState finalState = QDtls::HandshakeNotStarted;
    QDtlsError error = QDtlsError::NoError; // kept when it closed
    QString errorString;

    bool open() const { return peer.nativeHandle() != nullptr; }
};

class QDtlsServerPrivate
{
public:
    QDtlsServerPrivate(QDtlsServer *q, QUdpSocket *socket, const QSslConfiguration &configuration)
        : q(q), socket(socket), configuration(configuration)
    {
    }

    ~QDtlsServerPrivate()
    {
        s.reset(); // onClosed for each peer left: q is null, nothing is reported
    }

    void start();

    int fd() const
    {
        const qintptr d = socket ? socket->socketDescriptor() : -1;
        return d < 0 || d > INT_MAX ? -1 : int(d);
    }

    // False, with the error, when there is no server to work with.
    bool ready();

    void setError(QDtlsError e, const QString &text)
    {
        error = e;
        errorString = text;
    }

    // The library's last error on the server.
    void syncError();

    // The peer's handle if it is an open peer of this server, else null with the error set.
    ::qdtls::Peer *handleOf(QDtlsServerPeer *peer);

    // The object of a peer, if it has one.
    static QDtlsServerPeer *peerOf(const ::qdtls::Peer &peer)
    {
        void *user = peer.userData();
        return user == &detail::deletedPeerMarker ? nullptr : static_cast<QDtlsServerPeer *>(user);
    }

    // The object of a peer, made when the peer is first reported; null for
    // a peer whose object the application deleted.
    QDtlsServerPeer *objectFor(const ::qdtls::Peer &peer);

    // The object no longer stands for a live peer (closed, or the server is going).
    void detach(QDtlsServerPeer *p, void *marker);

    // ---- the library's callbacks ----

    void onConnected(::qdtls::Peer &peer);

    void onDatagram(::qdtls::Peer &peer, const uint8_t *data, size_t len);

    // onClosed (wasConnected) and onHandshakeFailed.
    void onGone(::qdtls::Peer &peer, ::qdtls::CloseReason reason, bool wasConnected);

    void onPsk(::qdtls::Peer &peer, ::qdtls::QSslPreSharedKeyAuthenticator *a);

    static QMetaMethod handshakeFailedSignal();

    // ---- driving ----

    // After a call into the library: false when the server was deleted
    // meanwhile (`this` is then gone too). Re-arms the timer (at least 1 ms
    // ahead right after handling timeouts, so that a timer the library
    // keeps due cannot spin).
    bool endDrive(bool afterTimeouts = false);

    // A read pass: on readyRead, once at the start, and when one was put off.
    void readSocket(bool fromReadyRead);
    // Counts the passes of the thread's event loop (nested ones included);
    // returns the count so far.
    quint64 watchEventLoop();

    // One datagram through QUdpSocket, whatever else reads the socket:
    // QUdpSocket emits readyRead once and then waits for a read of its own
    // (it turns its notification off at the next one otherwise). On an
    // empty socket the read fails with TemporaryError, which is not for the
    // application: the socket's signals are blocked meanwhile.
    void readOneThroughQt(int sock);

    // The timer fired.
    void handleTimeouts();

    // Server::closePeer (from the peer's destructor or QDtlsServer::closePeer);
    // `this` may be gone afterwards (see endDrive).
    bool closeHandle(const ::qdtls::Peer &peer);

    // One QTimer follows the library's earliest deadline. It is restarted
    // only when the deadline moves earlier; firing early costs one call that
    // finds nothing due, then the timer is set for the rest.
    void rearm(bool afterTimeouts);

    QDtlsServer *q; // null once the server object is gone
    QPointer<QUdpSocket> socket;
    QSslConfiguration configuration;
    std::unique_ptr<::qdtls::Server> s; // null when it could not be made
    QTimer *timer = nullptr; // a child of q
    QElapsedTimer clock;
    qint64 scheduledAt = -1; // clock time the timer fires at
    QSet<QDtlsServerPeer *> objects;        // every peer object standing for a live peer
    QSet<QDtlsServerPeer *> connectedPeers; // those that completed the handshake
    QDtlsError error = QDtlsError::NoError;
    QString errorString;
    int depth = 0;             // calls into the library on the stack
    bool orphaned = false;     // q was deleted inside one of them
    bool readDeferred = false; // readyRead came while depth > 0
    QByteArray readBuffer;
    QPointer<QAbstractEventDispatcher> dispatcher; // watched by watchEventLoop
    quint64 loopTicks = 0;
};


} // namespace qt
} // namespace qdtls

#endif // QDTLS_QT_QDTLS_QT_SERVER_P_H
