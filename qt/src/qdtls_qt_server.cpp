// QDtlsServer (qdtls_qt_server.h) over the library's server, through the C++
// shim's qdtls::Server (see qdtls_qt_server_p.h); QDtlsServerPeer is in
// qdtls_qt_server_peer.cpp.
//
// Reading: after it emitted readyRead, QUdpSocket turns its read
// notification off at the next one unless it was read through its own
// readDatagram/receiveDatagram meanwhile. So every read pass starts with one
// QUdpSocket::readDatagram (handed over with Server::handleDatagram), and
// the rest are read in batches by Server::receive (recvmmsg).
//
// Re-entrancy: the library calls back (peerConnected, datagramReceived, ...)
// from inside receive/handleTimeouts/closePeer, where driving the same
// server again fails. `depth` counts those calls: a readyRead or timer that
// fires in a nested event loop inside a slot is put off until the outermost
// call returns, and a server deleted inside a slot hands its private part
// over to that call, which frees it (`orphaned`).
#include "qdtls_qt_server_p.h"

#include <QtCore/qabstracteventdispatcher.h>
#include <QtCore/qobject.h>

#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>

#if QDTLS_QT_PRIVATE_API
#include "qtprivatebridge.h"
#endif

namespace qdtls {
namespace qt {

using namespace detail;

namespace detail {

char deletedPeerMarker;

} // namespace detail

namespace {

// The adapter's CloseReason has the shim's values (ServerFreed is never
// reported: the server object is gone by then).
using R = ::qdtls::CloseReason;
static_assert(int(QDtlsServer::RemoteClosed) == int(R::CloseNotify), "CloseReason values");
static_assert(int(QDtlsServer::FatalAlert) == int(R::FatalAlert), "CloseReason values");
static_assert(int(QDtlsServer::Timeout) == int(R::IdleTimeout), "CloseReason values");
static_assert(int(QDtlsServer::Evicted) == int(R::Evicted), "CloseReason values");
static_assert(int(QDtlsServer::Replaced) == int(R::Replaced), "CloseReason values");
static_assert(int(QDtlsServer::OtherError) == int(R::Error), "CloseReason values");
static_assert(int(QDtlsServer::ClosedLocally) == int(R::Local), "CloseReason values");

QDtlsServer::CloseReason closeReason(R reason)
{
    const int r = int(reason);
    return r >= int(R::CloseNotify) && r <= int(R::Local) ? QDtlsServer::CloseReason(r) : QDtlsServer::OtherError;
}

// The socket's address family (the kernel's; QUdpSocket's Any is an IPv6 socket).
int socketFamily(int sock)
{
    sockaddr_storage ss;
    socklen_t len = sizeof ss;
    return getsockname(sock, reinterpret_cast<sockaddr *>(&ss), &len) == 0 ? ss.ss_family : AF_UNSPEC;
}

// The sender of a datagram QUdpSocket read, as the kernel gives it to
// recvmmsg on the same socket: the server knows a peer by that address, so
// an IPv4 sender on a dual-stack socket must be its v4-mapped IPv6 address.
socklen_t senderSockaddr(int family, const QHostAddress &address, quint16 port, sockaddr_storage *ss)
{
    std::memset(ss, 0, sizeof *ss);
    if (family == AF_INET) {
        bool ok = false;
        const quint32 v4 = address.toIPv4Address(&ok); // also from ::ffff:a.b.c.d
        if (!ok)
            return 0;
        auto *sin = reinterpret_cast<sockaddr_in *>(ss);
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        sin->sin_addr.s_addr = htonl(v4);
        return sizeof *sin;
    }
    if (family != AF_INET6)
        return 0;
    auto *sin6 = reinterpret_cast<sockaddr_in6 *>(ss);
    if (scopedSockaddr(address, port, sin6))
        return sizeof *sin6;
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    if (address.protocol() == QAbstractSocket::IPv4Protocol) {
        const quint32 v4 = htonl(address.toIPv4Address());
        sin6->sin6_addr.s6_addr[10] = 0xff;
        sin6->sin6_addr.s6_addr[11] = 0xff;
        std::memcpy(&sin6->sin6_addr.s6_addr[12], &v4, sizeof v4);
    } else {
        const Q_IPV6ADDR bytes = address.toIPv6Address();
        std::memcpy(&sin6->sin6_addr, bytes.c, sizeof bytes.c);
    }
    return sizeof *sin6;
}

} // namespace

// ---- QDtlsServerPrivate ----------------------------------------------------------------

bool QDtlsServerPrivate::ready()
{
    if (s)
        return true;
    if (error == QDtlsError::NoError)
        setError(QDtlsError::InvalidOperation, QStringLiteral("The server could not be created"));
    return false;
}

void QDtlsServerPrivate::syncError()
{
    error = QDtlsError(int(s->serverError()));
    errorString = error == QDtlsError::NoError ? QString() : toQString(s->serverErrorString());
}

::qdtls::Peer *QDtlsServerPrivate::handleOf(QDtlsServerPeer *peer)
{
    if (peer && peer->d->server == this && peer->d->open())
        return &peer->d->peer;
    setError(QDtlsError::InvalidInputParameters,
             peer ? QStringLiteral("The peer is closed, or belongs to another server")
                  : QStringLiteral("Invalid (nullptr) peer"));
    return nullptr;
}

QDtlsServerPeer *QDtlsServerPrivate::objectFor(const ::qdtls::Peer &peer)
{
    if (peer.userData() == &deletedPeerMarker)
        return nullptr;
    if (QDtlsServerPeer *p = peerOf(peer))
        return p;
    auto *p = new QDtlsServerPeer(q);
    p->d->server = this;
    p->d->peer = peer;
    p->d->address = QHostAddress(toQString(peer.peerAddress()));
    p->d->port = peer.peerPort();
    p->d->peer.setUserData(p);
    objects.insert(p);
    return p;
}

void QDtlsServerPrivate::detach(QDtlsServerPeer *p, void *marker)
{
    if (p->d->open()) {
        p->d->finalState = QDtls::HandshakeState(int(p->d->peer.handshakeState()));
        p->d->peer.setUserData(marker);
    }
    p->d->peer = ::qdtls::Peer(nullptr);
    p->d->server = nullptr;
    objects.remove(p);
    connectedPeers.remove(p);
}

void QDtlsServerPrivate::onConnected(::qdtls::Peer &peer)
{
    if (!q)
        return;
    QDtlsServerPeer *p = objectFor(peer);
    if (!p)
        return;
    p->d->connected = true;
    connectedPeers.insert(p);
    Q_EMIT q->peerConnected(p);
}

void QDtlsServerPrivate::onDatagram(::qdtls::Peer &peer, const uint8_t *data, size_t len)
{
    QDtlsServerPeer *p = q ? peerOf(peer) : nullptr;
    if (!p || !p->d->connected)
        return;
    const QByteArray datagram(reinterpret_cast<const char *>(data), qsizetype(len));
    Q_EMIT p->datagramReceived(datagram);
    if (q && peerOf(peer) == p) // a slot may have deleted the peer or the server
        Q_EMIT q->datagramReceived(p, datagram);
}

void QDtlsServerPrivate::onGone(::qdtls::Peer &peer, ::qdtls::CloseReason reason, bool wasConnected)
{
    if (!q)
        return;
    QDtlsServerPeer *p = peerOf(peer);
    if (!p && !wasConnected && peer.userData() != &deletedPeerMarker
        && q->isSignalConnected(handshakeFailedSignal()))
        p = objectFor(peer); // a failed handshake nobody has seen yet
    if (!p)
        return;
    const QDtlsServer::CloseReason why = closeReason(reason);
    p->d->closing = true;
    p->d->error = QDtlsError(int(peer.dtlsError()));
    p->d->errorString = p->d->error == QDtlsError::NoError ? QString() : toQString(peer.dtlsErrorString());
    Q_EMIT p->closed(why);
    if (q && peerOf(peer) == p) { // a slot may have deleted the peer or the server
        if (wasConnected)
            Q_EMIT q->peerClosed(p, why);
        else
            Q_EMIT q->handshakeFailed(p, why);
    }
    if (q && peerOf(peer) == p) {
        detach(p, nullptr);
        p->deleteLater();
    }
}

void QDtlsServerPrivate::onPsk(::qdtls::Peer &peer, ::qdtls::QSslPreSharedKeyAuthenticator *a)
{
    QDtlsServerPeer *p = q ? objectFor(peer) : nullptr;
    if (!p)
        return;
    QSslPreSharedKeyAuthenticator auth;
    const QByteArray identity = toQByteArray(a->identity());
#if QDTLS_QT_PRIVATE_API
    bridge::setupServerPsk(&auth, identity, toQByteArray(a->identityHint()), qMax(0, a->maximumPreSharedKeyLength()));
#else
    auth.setIdentity(identity);
#endif
    Q_EMIT q->pskRequired(p, &auth);
    a->setPreSharedKey(toView(auth.preSharedKey()));
}

QMetaMethod QDtlsServerPrivate::handshakeFailedSignal()
{
    static const QMetaMethod m = QMetaMethod::fromSignal(&QDtlsServer::handshakeFailed);
    return m;
}

bool QDtlsServerPrivate::endDrive(bool afterTimeouts)
{
    if (depth > 0)
        return true;
    if (orphaned) {
        delete this;
        return false;
    }
    if (readDeferred) {
        readDeferred = false;
        QMetaObject::invokeMethod(q, [this] { readSocket(false); }, Qt::QueuedConnection);
    }
    rearm(afterTimeouts);
    return true;
}

void QDtlsServerPrivate::readSocket(bool fromReadyRead)
{
    if (!s || !q || !socket)
        return;
    if (depth > 0) {
        readDeferred = true; // readyRead in a nested event loop inside one of our signals
        return;
    }
    const int sock = fd();
    if (sock < 0)
        return;
    const quint64 ticks = watchEventLoop();
    ++depth;
    readOneThroughQt(sock);
    const bool failed = s->receive(sock) < 0;
    if (failed)
        syncError();
    // A slot ran an event loop inside this readyRead: QUdpSocket did not
    // emit readyRead again (it does not recurse) but counts it as emitted,
    // and turns its notification off at the next one: read through it again.
    if (fromReadyRead && loopTicks != ticks)
        readDeferred = true;
    --depth;
    if (!endDrive())
        return;
    if (failed)
        Q_EMIT q->errorOccurred(error, errorString);
}

quint64 QDtlsServerPrivate::watchEventLoop()
{
    QAbstractEventDispatcher *current = QAbstractEventDispatcher::instance();
    if (current != dispatcher) {
        if (dispatcher)
            QObject::disconnect(dispatcher, nullptr, q, nullptr);
        dispatcher = current;
        if (current) {
            // Every processEvents starts with one of these (Qt's dispatchers).
            QObject::connect(current, &QAbstractEventDispatcher::awake, q, [this] { ++loopTicks; });
            QObject::connect(current, &QAbstractEventDispatcher::aboutToBlock, q, [this] { ++loopTicks; });
        }
    }
    return loopTicks;
}

void QDtlsServerPrivate::readOneThroughQt(int sock)
{
    if (readBuffer.isEmpty())
        readBuffer.resize(65536);
    QHostAddress address;
    quint16 port = 0;
    qint64 n;
    {
        const QSignalBlocker blocker(socket.data());
        n = socket->readDatagram(readBuffer.data(), readBuffer.size(), &address, &port);
    }
    sockaddr_storage from;
    const socklen_t len = n >= 0 ? senderSockaddr(socketFamily(sock), address, port, &from) : 0;
    if (len > 0)
        s->handleDatagram(sock, reinterpret_cast<const sockaddr *>(&from), len, readBuffer.constData(), size_t(n));
}

void QDtlsServerPrivate::handleTimeouts()
{
    if (!s || !q)
        return;
    scheduledAt = -1;
    if (depth > 0)
        return; // in a nested event loop inside one of our signals: the outer call re-arms
    const int sock = fd();
    if (sock < 0) {
        // The socket was closed: the library runs no timer without one, and
        // they would stay due. The next read pass (on a socket bound again) re-arms.
        setError(QDtlsError::UnderlyingSocketError, QStringLiteral("The socket is not open"));
        Q_EMIT q->errorOccurred(error, errorString);
        return;
    }
    ++depth;
    const bool failed = s->handleTimeouts(sock) < 0;
    if (failed)
        syncError();
    --depth;
    if (!endDrive(true))
        return;
    if (failed)
        Q_EMIT q->errorOccurred(error, errorString);
}

void QDtlsServerPrivate::rearm(bool afterTimeouts)
{
    if (!s || !timer)
        return;
    int64_t ms = s->nextTimeoutMs();
    if (ms < 0) {
        timer->stop();
        scheduledAt = -1;
        return;
    }
    if (afterTimeouts && ms == 0)
        ms = 1; // still due right after handling: do not spin
    const qint64 at = clock.elapsed() + ms;
    if (timer->isActive() && scheduledAt >= 0 && scheduledAt <= at)
        return;
    scheduledAt = at;
    timer->start(int(qMin<int64_t>(ms, INT_MAX)));
}

bool QDtlsServerPrivate::closeHandle(const ::qdtls::Peer &peer)
{
    ++depth;
    const bool ok = s->closePeer(fd(), peer);
    syncError();
    --depth;
    endDrive();
    return ok;
}

void QDtlsServerPrivate::start()
{
    clock.start();
    if (!socket) {
        setError(QDtlsError::InvalidInputParameters, QStringLiteral("Invalid (nullptr) socket"));
        return;
    }
    const ConvertedPtr converted = convert(configuration);
    if (!converted->problem.isEmpty() || !converted->shim.nativeHandle()) {
        setError(QDtlsError::TlsInitializationError, converted->problem);
        return;
    }
    auto server = std::make_unique<::qdtls::Server>(converted->shim);
    if (!server->nativeHandle()) {
        setError(QDtlsError::TlsInitializationError, QStringLiteral("The library refused the configuration"));
        return;
    }
    server->onConnected([this](::qdtls::Peer &peer) { onConnected(peer); });
    server->onDatagram([this](::qdtls::Peer &peer, const uint8_t *data, size_t len) { onDatagram(peer, data, len); });
    server->onClosed([this](::qdtls::Peer &peer, ::qdtls::CloseReason why) { onGone(peer, why, true); });
    server->onHandshakeFailed([this](::qdtls::Peer &peer, ::qdtls::CloseReason why) { onGone(peer, why, false); });
    server->onPskRequired(
        [this](::qdtls::Peer &peer, ::qdtls::QSslPreSharedKeyAuthenticator *a) { onPsk(peer, a); });
    s = std::move(server);

    timer = new QTimer(q);
    timer->setSingleShot(true);
    timer->setTimerType(Qt::PreciseTimer);
    QObject::connect(timer, &QTimer::timeout, q, [this] { handleTimeouts(); });
    QObject::connect(socket.data(), &QUdpSocket::readyRead, q, [this] { readSocket(true); });
    // Datagrams that came before: QUdpSocket may already have emitted
    // readyRead for them, and then waits for a read before it tells again.
    QMetaObject::invokeMethod(q, [this] { readSocket(false); }, Qt::QueuedConnection);
}

// ---- QDtlsServer -----------------------------------------------------------------------

QDtlsServer::QDtlsServer(QUdpSocket *socket, const QSslConfiguration &configuration, QObject *parent)
    : QObject(parent), d(new QDtlsServerPrivate(this, socket, configuration))
{
    d->start();
}

QDtlsServer::~QDtlsServer()
{
    d->q = nullptr;
    d->timer = nullptr; // deleted with this object
    const QSet<QDtlsServerPeer *> objects = d->objects;
    for (QDtlsServerPeer *p : objects)
        d->detach(p, &deletedPeerMarker);
    if (d->depth > 0)
        d->orphaned = true; // deleted inside a slot: the library's call on the stack frees d
    else
        delete d;
}

QUdpSocket *QDtlsServer::socket() const
{
    return d->socket;
}

QSslConfiguration QDtlsServer::dtlsConfiguration() const
{
    return d->configuration;
}

bool QDtlsServer::setCookieGeneratorParameters(const QDtlsClientVerifier::GeneratorParameters &params)
{
    if (!d->ready())
        return false;
    const bool ok = d->s->setCookieGeneratorParameters(toShim(params));
    d->syncError();
    return ok;
}

bool QDtlsServer::rotateCookieSecret(int graceMsecs)
{
    if (!d->ready())
        return false;
    if (graceMsecs < 0) {
        d->setError(QDtlsError::InvalidInputParameters, QStringLiteral("Negative grace period"));
        return false;
    }
    const bool ok = d->s->rotateCookieSecret(uint32_t(graceMsecs));
    d->syncError();
    return ok;
}

bool QDtlsServer::shareCookieSecret(const QDtlsServer *other)
{
    if (!d->ready())
        return false;
    if (!other || !other->d->s) {
        d->setError(QDtlsError::InvalidInputParameters, QStringLiteral("Invalid server"));
        return false;
    }
    const bool ok = d->s->shareCookieSecret(*other->d->s);
    d->syncError();
    return ok;
}

namespace {
enum Limit { MaxPeers, MaxHandshakes, MaxPeersPerAddress, IdleTimeout, HandshakeTimeout };
}

static bool setLimit(QDtlsServerPrivate *d, Limit which, int value)
{
    if (!d->ready())
        return false;
    if (value < 0) {
        d->setError(QDtlsError::InvalidInputParameters, QStringLiteral("Negative limit"));
        return false;
    }
    bool ok = false;
    switch (which) {
    case MaxPeers: ok = d->s->setMaxPeers(size_t(value)); break;
    case MaxHandshakes: ok = d->s->setMaxHandshakes(size_t(value)); break;
    case MaxPeersPerAddress: ok = d->s->setMaxPeersPerAddress(size_t(value)); break;
    case IdleTimeout: ok = d->s->setIdleTimeoutMs(uint32_t(value)); break;
    case HandshakeTimeout: ok = d->s->setHandshakeTimeoutMs(uint32_t(value)); break;
    }
    d->syncError();
    if (ok)
        d->rearm(false); // a new timeout may be due earlier
    return ok;
}

// The library keeps the limits; a server that could not be made has none (0).
template <class Get> static int limit(const QDtlsServerPrivate *d, Get get)
{
    return d->s ? int(std::min<std::size_t>(std::size_t(get(*d->s)), std::size_t(INT_MAX))) : 0;
}

bool QDtlsServer::setMaxPeers(int max) { return setLimit(d, MaxPeers, max); }
int QDtlsServer::maxPeers() const { return limit(d, [](const ::qdtls::Server &s) { return s.maxPeers(); }); }
bool QDtlsServer::setMaxHandshakes(int max) { return setLimit(d, MaxHandshakes, max); }
int QDtlsServer::maxHandshakes() const { return limit(d, [](const ::qdtls::Server &s) { return s.maxHandshakes(); }); }
bool QDtlsServer::setMaxPeersPerAddress(int max) { return setLimit(d, MaxPeersPerAddress, max); }
int QDtlsServer::maxPeersPerAddress() const
{
    return limit(d, [](const ::qdtls::Server &s) { return s.maxPeersPerAddress(); });
}
bool QDtlsServer::setIdleTimeout(int msecs) { return setLimit(d, IdleTimeout, msecs); }
int QDtlsServer::idleTimeout() const { return limit(d, [](const ::qdtls::Server &s) { return s.idleTimeoutMs(); }); }
bool QDtlsServer::setHandshakeTimeout(int msecs) { return setLimit(d, HandshakeTimeout, msecs); }
int QDtlsServer::handshakeTimeout() const
{
    return limit(d, [](const ::qdtls::Server &s) { return s.handshakeTimeoutMs(); });
}

int QDtlsServer::peerCount() const
{
    return d->s ? int(qMin<size_t>(d->s->peerCount(), INT_MAX)) : 0;
}

int QDtlsServer::handshakeCount() const
{
    return d->s ? int(qMin<size_t>(d->s->handshakeCount(), INT_MAX)) : 0;
}

QList<QDtlsServerPeer *> QDtlsServer::peers() const
{
    return QList<QDtlsServerPeer *>(d->connectedPeers.cbegin(), d->connectedPeers.cend());
}

qint64 QDtlsServer::writeDatagram(QDtlsServerPeer *peer, const QByteArray &datagram)
{
    ::qdtls::Peer *p = d->handleOf(peer);
    if (!p)
        return -1;
    const int64_t n = p->writeDatagramEncrypted(d->fd(), datagram.constData(), size_t(datagram.size()));
    d->error = QDtlsError(int(p->dtlsError()));
    d->errorString = d->error == QDtlsError::NoError ? QString() : toQString(p->dtlsErrorString());
    return n;
}

bool QDtlsServer::closePeer(QDtlsServerPeer *peer)
{
    const ::qdtls::Peer *p = d->handleOf(peer);
    if (!p)
        return false;
    return d->closeHandle(*p); // this object may be deleted by a slot of peerClosed meanwhile
}

bool QDtlsServer::shutdown()
{
    if (!d->ready())
        return false;
    QDtlsServerPrivate *dd = d;
    ++dd->depth;
    const bool ok = dd->s->shutdown(dd->fd()) >= 0;
    dd->syncError();
    --dd->depth;
    dd->endDrive();
    return ok;
}

QDtlsError QDtlsServer::dtlsError() const
{
    return d->error;
}

QString QDtlsServer::dtlsErrorString() const
{
    return d->errorString;
}

} // namespace qt
} // namespace qdtls
