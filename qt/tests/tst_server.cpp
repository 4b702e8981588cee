// QDtlsServer (<qdtls/QDtlsServer>) with the adapter's QDtls as clients, over
// loopback QUdpSockets and the event loop: handshakes and echo, every way a
// peer goes away (close_notify, closePeer, deleting its object, idle and
// handshake timeouts, a client restarted on the same port), limits, PSK and
// certificates, garbage, a nested event loop in a slot, a closed socket, and
// a server deleted from one of its own slots.
#include <qdtls/QDtls>
#include <qdtls/QDtlsServer>

#include <QtNetwork/QtNetwork>
#include <QtTest/QtTest>

#include <memory>
#include <type_traits>

#include "common/serverfixture.h"
#include "common/testcerts.h"

static_assert(std::is_same_v<QDtlsServer, qdtls::qt::QDtlsServer>, "the global alias");
static_assert(std::is_base_of_v<QObject, QDtlsServerPeer>, "peers are QObjects");

using namespace serverfixture;

class tst_Server : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void invalidArguments();
    void handshakeAndEcho();
    void dualStackSocket();
    void burstOfDatagrams();
    void datagramsBeforeTheServer();
    void closeNotify();
    void closePeer();
    void deletingThePeerObjectClosesIt();
    void shutdown();
    void maxPeersPerAddress();
    void idleTimeout();
    void handshakeTimeout();
    void maxHandshakesEvicts();
    void garbageDoesNotDisturbOthers();
    void restartedClientReplacesOldPeer();
    void psk();
    void wrongPskKey();
    void certificates();
    void missingClientCertificate();
    void cookieParameters();
    void deleteServerInsideSlot();
    void nestedEventLoopInSlot();
    void socketClosedUnderTheServer();

private:
    TestCerts certs;
    QSslConfiguration certServer(bool requireClient) const;
    QSslConfiguration certClient(bool withCertificate) const;
};

void tst_Server::initTestCase()
{
    QVERIFY2(certs.generate(), qPrintable(certs.error));
}

QSslConfiguration tst_Server::certServer(bool requireClient) const
{
    QSslConfiguration conf = QSslConfiguration::defaultDtlsConfiguration();
    conf.setLocalCertificateChain(certs.serverChain());
    conf.setPrivateKey(certs.serverKey);
    conf.setCaCertificates({certs.root});
    conf.setPeerVerifyMode(requireClient ? QSslSocket::VerifyPeer : QSslSocket::VerifyNone);
    return conf;
}

QSslConfiguration tst_Server::certClient(bool withCertificate) const
{
    QSslConfiguration conf = QSslConfiguration::defaultDtlsConfiguration();
    conf.setCaCertificates({certs.root});
    conf.setPeerVerifyMode(QSslSocket::VerifyPeer);
    if (withCertificate) {
        conf.setLocalCertificate(certs.client);
        conf.setPrivateKey(certs.clientKey);
    }
    return conf;
}

void tst_Server::invalidArguments()
{
    QDtlsServer none(nullptr, pskConfiguration(true));
    QCOMPARE(none.dtlsError(), QDtlsError::InvalidInputParameters);
    QVERIFY(!none.setMaxPeers(10));
    QCOMPARE(none.peerCount(), 0);

    QUdpSocket socket;
    QVERIFY(socket.bind(QHostAddress::LocalHost, 0));
    QSslConfiguration keyless = QSslConfiguration::defaultDtlsConfiguration();
    keyless.setLocalCertificate(certs.server); // without its private key
    QDtlsServer refused(&socket, keyless);
    QCOMPARE(refused.dtlsError(), QDtlsError::TlsInitializationError);
    QVERIFY(!refused.dtlsErrorString().isEmpty());

    QDtlsServer server(&socket, pskConfiguration(true));
    QCOMPARE(server.dtlsError(), QDtlsError::NoError);
    QCOMPARE(server.socket(), &socket);
    QCOMPARE(server.dtlsConfiguration(), pskConfiguration(true));
    QCOMPARE(server.writeDatagram(nullptr, "x"), qint64(-1));
    QCOMPARE(server.dtlsError(), QDtlsError::InvalidInputParameters);
    QVERIFY(!server.closePeer(nullptr));
    QVERIFY(!server.setMaxPeers(-1));
    QCOMPARE(server.dtlsError(), QDtlsError::InvalidInputParameters);
    QCOMPARE(server.maxPeers(), 65536);
    QVERIFY(server.setMaxPeers(5));
    QCOMPARE(server.maxPeers(), 5);
    QCOMPARE(server.dtlsError(), QDtlsError::NoError);
    QCOMPARE(server.maxHandshakes(), 1024);
    QCOMPARE(server.handshakeTimeout(), 30000);
    QVERIFY(server.peers().isEmpty());
}

void tst_Server::handshakeAndEcho()
{
    Fixture f;
    std::vector<std::unique_ptr<Client>> clients;
    for (int i = 0; i < 3; ++i)
        clients.push_back(pskClient(f.port()));
    for (auto &c : clients)
        QTRY_VERIFY_WITH_TIMEOUT(c->encrypted(), 10000);
    QTRY_COMPARE(f.connected.size(), 3);
    QCOMPARE(f.server->peerCount(), 3);
    QCOMPARE(f.server->handshakeCount(), 0);
    QCOMPARE(f.server->peers().size(), 3);
    QCOMPARE(f.pskCalls, 3);

    QSet<quint16> ports;
    for (const auto &p : std::as_const(f.connected)) {
        QVERIFY(p);
        QVERIFY(p->isOpen());
        QVERIFY(p->isConnectionEncrypted());
        QCOMPARE(p->handshakeState(), QDtls::HandshakeComplete);
        QCOMPARE(p->server(), f.server.get());
        QCOMPARE(p->peerAddress(), QHostAddress(QHostAddress::LocalHost));
        QCOMPARE(p->sessionCipher().name(), QStringLiteral("PSK-AES128-GCM-SHA256"));
        QCOMPARE(p->sessionProtocol(), QSsl::DtlsV1_2);
        QVERIFY(p->peerCertificate().isNull());
        ports << p->peerPort();
    }
    for (auto &c : clients)
        QVERIFY(ports.contains(c->socket.localPort()));

    for (int round = 0; round < 3; ++round) {
        for (size_t i = 0; i < clients.size(); ++i)
            QVERIFY(send(*clients[i], "ping " + QByteArray::number(int(i)) + "/" + QByteArray::number(round)));
    }
    for (size_t i = 0; i < clients.size(); ++i) {
        QTRY_COMPARE(clients[i]->received.size(), 3);
        for (int round = 0; round < 3; ++round)
            QCOMPARE(clients[i]->received.at(round),
                     "echo: ping " + QByteArray::number(int(i)) + "/" + QByteArray::number(round));
    }
    QCOMPARE(f.received.size(), 9);
    QVERIFY(f.closed.isEmpty());
    QVERIFY(f.failed.isEmpty());

    // The peer's own signal, before the server's.
    QList<QByteArray> order;
    QDtlsServerPeer *first = f.connected.first();
    connect(first, &QDtlsServerPeer::datagramReceived, this, [&](const QByteArray &d) { order << "peer:" + d; });
    connect(f.server.get(), &QDtlsServer::datagramReceived, this,
            [&](QDtlsServerPeer *, const QByteArray &d) { order << "server:" + d; });
    for (auto &c : clients) {
        if (c->socket.localPort() == first->peerPort())
            QVERIFY(send(*c, "order"));
    }
    QTRY_COMPARE(order, (QList<QByteArray>{"peer:order", "server:order"}));
}

void tst_Server::dualStackSocket()
{
    // An IPv4 client of a dual-stack server is ::ffff:127.0.0.1 to it, for
    // the datagram QUdpSocket reads and for those the library reads alike.
    Fixture f(pskConfiguration(true), QHostAddress(QHostAddress::Any));
    if (f.socket.localAddress().protocol() == QAbstractSocket::IPv4Protocol)
        QSKIP("no IPv6: the socket is IPv4 only");
    auto c = pskClient(f.port());
    QTRY_VERIFY_WITH_TIMEOUT(c->encrypted(), 10000);
    QTRY_COMPARE(f.connected.size(), 1);
    // As QUdpSocket and recvmmsg both see it.
    QCOMPARE(f.connected.first()->peerAddress(), QHostAddress(QStringLiteral("::ffff:127.0.0.1")));
    for (int i = 0; i < 5; ++i) {
        QVERIFY(send(*c, QByteArray::number(i)));
        QTRY_COMPARE(c->received.size(), i + 1);
    }
    // Several per read pass: the first read by QUdpSocket, the others by
    // recvmmsg, all from the same peer.
    f.echo = false;
    f.received.clear();
    for (int i = 0; i < 50; ++i)
        QVERIFY(send(*c, QByteArray::number(i)));
    QTRY_COMPARE(f.received.size(), 50);
    for (int i = 0; i < 50; ++i)
        QCOMPARE(f.received.at(i), QByteArray::number(i));
    QCOMPARE(f.server->peerCount(), 1);
}

void tst_Server::burstOfDatagrams()
{
    Fixture f;
    auto c = pskClient(f.port());
    QTRY_VERIFY_WITH_TIMEOUT(c->encrypted(), 10000);
    f.echo = false;
    // Bursts the kernel's receive buffer holds even if nobody read meanwhile.
    const int bursts = 3, perBurst = 100;
    for (int b = 0; b < bursts; ++b) {
        for (int i = 0; i < perBurst; ++i)
            QVERIFY(send(*c, QByteArray::number(b * perBurst + i)));
        QTRY_COMPARE(f.received.size(), (b + 1) * perBurst);
    }
    const int count = bursts * perBurst;
    for (int i = 0; i < count; ++i)
        QCOMPARE(f.received.at(i), QByteArray::number(i));
    // And later ones still arrive (QUdpSocket's read notification is on).
    QTest::qWait(50);
    QVERIFY(send(*c, "after"));
    QTRY_COMPARE(f.received.size(), count + 1);
}

void tst_Server::datagramsBeforeTheServer()
{
    // The client's hello is queued on the socket (and QUdpSocket has
    // emitted readyRead for it) before the server exists.
    QUdpSocket socket;
    QVERIFY(socket.bind(QHostAddress::LocalHost, 0));
    auto c = pskClient(socket.localPort());
    QTRY_VERIFY(socket.hasPendingDatagrams());
    QTest::qWait(100);
    QDtlsServer server(&socket, pskConfiguration(true));
    connect(&server, &QDtlsServer::pskRequired, this,
            [](QDtlsServerPeer *, QSslPreSharedKeyAuthenticator *a) { a->setPreSharedKey(Psk().key); });
    QElapsedTimer t;
    t.start();
    QTRY_VERIFY_WITH_TIMEOUT(c->encrypted(), 10000);
    QVERIFY2(t.elapsed() < 900, "handled at once, not after the client's retransmission");
}

void tst_Server::closeNotify()
{
    Fixture f;
    auto c = pskClient(f.port());
    QTRY_VERIFY_WITH_TIMEOUT(c->encrypted(), 10000);
    QTRY_COMPARE(f.connected.size(), 1);
    QPointer<QDtlsServerPeer> peer = f.connected.first();
    QSignalSpy peerClosed(peer.data(), &QDtlsServerPeer::closed);
    QVERIFY(c->dtls.shutdown(&c->socket));
    QTRY_COMPARE(f.closed.size(), 1);
    QCOMPARE(f.closed.first(), qMakePair(c->socket.localPort(), QDtlsServer::RemoteClosed));
    QCOMPARE(peerClosed.size(), 1);
    QCOMPARE(peerClosed.first().first().value<QDtlsServer::CloseReason>(), QDtlsServer::RemoteClosed);
    QCOMPARE(f.server->peerCount(), 0);
    QVERIFY(f.server->peers().isEmpty());
    // Closed, then deleted by the event loop; the address stays readable until then.
    if (peer) {
        QVERIFY(!peer->isOpen());
        QCOMPARE(peer->peerPort(), c->socket.localPort());
        QCOMPARE(peer->writeDatagram("late"), qint64(-1));
        QVERIFY(peer->server() == nullptr);
    }
    QTRY_VERIFY(peer.isNull());
    QVERIFY(f.failed.isEmpty());
}

void tst_Server::closePeer()
{
    Fixture f;
    auto a = pskClient(f.port());
    auto b = pskClient(f.port());
    QTRY_VERIFY_WITH_TIMEOUT(a->encrypted() && b->encrypted(), 10000);
    QTRY_COMPARE(f.connected.size(), 2);
    QDtlsServerPeer *pa = f.connected.at(0)->peerPort() == a->socket.localPort() ? f.connected.at(0) : f.connected.at(1);
    QVERIFY(f.server->closePeer(pa));
    // Reported before closePeer returns.
    QCOMPARE(f.closed.size(), 1);
    QCOMPARE(f.closed.first(), qMakePair(a->socket.localPort(), QDtlsServer::ClosedLocally));
    QCOMPARE(f.server->peerCount(), 1);
    QTRY_VERIFY(a->remoteClosed);
    QVERIFY(!f.server->closePeer(pa)); // already closed
    QVERIFY(send(*b, "still here"));
    QTRY_COMPARE(b->received.size(), 1);
    QVERIFY(!b->remoteClosed);
}

void tst_Server::deletingThePeerObjectClosesIt()
{
    Fixture f;
    auto c = pskClient(f.port());
    QTRY_VERIFY_WITH_TIMEOUT(c->encrypted(), 10000);
    QTRY_COMPARE(f.connected.size(), 1);
    delete f.connected.first().data();
    QTRY_VERIFY(c->remoteClosed);
    QCOMPARE(f.server->peerCount(), 0);
    QVERIFY(f.closed.isEmpty()); // nothing reported for a deleted object

    // Deleting it from its own datagram signal.
    auto d = pskClient(f.port());
    QTRY_VERIFY_WITH_TIMEOUT(d->encrypted(), 10000);
    QTRY_COMPARE(f.connected.size(), 2);
    QDtlsServerPeer *peer = f.connected.last();
    connect(peer, &QDtlsServerPeer::datagramReceived, this, [peer] { delete peer; });
    QVERIFY(send(*d, "bye"));
    QTRY_VERIFY(d->remoteClosed);
    QCOMPARE(f.received.size(), 0); // the server's signal is not emitted for a deleted peer
    QCOMPARE(f.server->peerCount(), 0);
}

void tst_Server::shutdown()
{
    Fixture f;
    auto a = pskClient(f.port());
    auto b = pskClient(f.port());
    QTRY_VERIFY_WITH_TIMEOUT(a->encrypted() && b->encrypted(), 10000);
    QVERIFY(f.server->shutdown());
    QCOMPARE(f.closed.size(), 2);
    QCOMPARE(f.closed.at(0).second, QDtlsServer::ClosedLocally);
    QCOMPARE(f.closed.at(1).second, QDtlsServer::ClosedLocally);
    QCOMPARE(f.server->peerCount(), 0);
    QTRY_VERIFY(a->remoteClosed && b->remoteClosed);
}

void tst_Server::maxPeersPerAddress()
{
    Fixture f;
    QVERIFY(f.server->setMaxPeersPerAddress(1));
    QCOMPARE(f.server->maxPeersPerAddress(), 1);
    auto a = pskClient(f.port());
    QTRY_VERIFY_WITH_TIMEOUT(a->encrypted(), 10000);

    // A second client from 127.0.0.1 is refused; one from 127.0.0.2 is not.
    auto b = pskClient(f.port());
    QUdpSocket probe;
    const bool otherAddress = probe.bind(QHostAddress(QStringLiteral("127.0.0.2")), 0);
    probe.close();
    std::unique_ptr<Client> c;
    if (otherAddress) {
        c = pskClient(f.port(), QHostAddress(QStringLiteral("127.0.0.2")));
        QTRY_VERIFY_WITH_TIMEOUT(c->encrypted(), 10000);
    }
    QTest::qWait(1500); // past b's first retransmission
    QVERIFY(!b->encrypted());
    QCOMPARE(f.server->peerCount(), otherAddress ? 2 : 1);

    // Room again once the first one leaves: b's next retransmission gets in.
    QVERIFY(a->dtls.shutdown(&a->socket));
    QTRY_VERIFY_WITH_TIMEOUT(b->encrypted(), 10000);
    QCOMPARE(f.server->peerCount(), otherAddress ? 2 : 1);
}

void tst_Server::idleTimeout()
{
    Fixture f;
    QVERIFY(f.server->setIdleTimeout(400));
    QCOMPARE(f.server->idleTimeout(), 400);
    auto quiet = pskClient(f.port());
    auto talker = pskClient(f.port());
    QTRY_VERIFY_WITH_TIMEOUT(quiet->encrypted() && talker->encrypted(), 10000);
    QElapsedTimer t;
    t.start();
    // The talker keeps sending, so only the quiet one goes.
    while (f.closed.isEmpty() && t.elapsed() < 5000) {
        QVERIFY(send(*talker, "tick"));
        QTest::qWait(100);
    }
    QCOMPARE(f.closed.size(), 1);
    QCOMPARE(f.closed.first(), qMakePair(quiet->socket.localPort(), QDtlsServer::Timeout));
    QVERIFY2(t.elapsed() >= 300, qPrintable(QString::number(t.elapsed())));
    QTRY_VERIFY(quiet->remoteClosed); // with close_notify
    QCOMPARE(f.server->peerCount(), 1);
    QVERIFY(!talker->remoteClosed);
}

void tst_Server::handshakeTimeout()
{
    // Without cookies the first hello makes a peer; the client then loses
    // everything the server sends, and the handshake runs out of time.
    QSslConfiguration conf = pskConfiguration(true);
    conf.setDtlsCookieVerificationEnabled(false);
    Fixture f(conf);
    QVERIFY(f.server->setHandshakeTimeout(300));
    Client c;
    c.pskAnswer = Psk();
    c.dropIncoming = 1000000;
    QVERIFY(c.start(pskConfiguration(false), f.port()));
    QTRY_COMPARE(f.server->handshakeCount(), 1);
    QTRY_COMPARE_WITH_TIMEOUT(f.failed.size(), 1, 5000);
    QCOMPARE(f.failed.first(), qMakePair(c.socket.localPort(), QDtlsServer::Timeout));
    QCOMPARE(f.server->handshakeCount(), 0);
    QVERIFY(f.connected.isEmpty());
    QVERIFY(f.closed.isEmpty());
}

void tst_Server::maxHandshakesEvicts()
{
    // Two stalled handshakes (cookies off, clients deaf) under a limit of one.
    QSslConfiguration conf = pskConfiguration(true);
    conf.setDtlsCookieVerificationEnabled(false);
    Fixture f(conf);
    QVERIFY(f.server->setMaxHandshakes(1));
    Client first, second;
    for (Client *c : {&first, &second}) {
        c->pskAnswer = Psk();
        c->dropIncoming = 1000000;
    }
    QVERIFY(first.start(pskConfiguration(false), f.port()));
    QTRY_COMPARE(f.server->handshakeCount(), 1);
    QVERIFY(second.start(pskConfiguration(false), f.port()));
    QTRY_COMPARE(f.failed.size(), 1);
    QCOMPARE(f.failed.first(), qMakePair(first.socket.localPort(), QDtlsServer::Evicted));
    QCOMPARE(f.server->handshakeCount(), 1);
}

void tst_Server::garbageDoesNotDisturbOthers()
{
    Fixture f;
    auto a = pskClient(f.port());
    auto b = pskClient(f.port());
    QTRY_VERIFY_WITH_TIMEOUT(a->encrypted() && b->encrypted(), 10000);
    QUdpSocket stranger;
    QVERIFY(stranger.bind(QHostAddress::LocalHost, 0));
    const QHostAddress server(QHostAddress::LocalHost);
    // Junk, a fake application-data record of epoch 1, a fake handshake record.
    const QList<QByteArray> junk = {QByteArray(50, 'x'),
                                    QByteArray::fromHex("17fefd000100000000000500100123456789abcdef0123456789abcdef"),
                                    QByteArray::fromHex("16fefd0000000000000000000c010000000000000000000000"), QByteArray(1, '\0')};
    for (int round = 0; round < 5; ++round) {
        for (const QByteArray &j : junk) {
            a->socket.writeDatagram(j, server, f.port());
            stranger.writeDatagram(j, server, f.port());
        }
        QVERIFY(send(*b, "b" + QByteArray::number(round)));
        QTRY_COMPARE(b->received.size(), round + 1);
        QCOMPARE(b->received.last(), "echo: b" + QByteArray::number(round));
    }
    QVERIFY(!b->remoteClosed);
    for (const auto &c : std::as_const(f.closed))
        QVERIFY(c.first != b->socket.localPort());
    // The stranger never became a peer (a may have been dropped for its junk).
    QVERIFY(f.server->peerCount() <= 2);
    QCOMPARE(f.connected.size(), 2);
    QVERIFY(f.failed.isEmpty());
}

void tst_Server::restartedClientReplacesOldPeer()
{
    Fixture f;
    auto first = pskClient(f.port());
    QTRY_VERIFY_WITH_TIMEOUT(first->encrypted(), 10000);
    QTRY_COMPARE(f.connected.size(), 1);
    const quint16 port = first->socket.localPort();
    first.reset(); // gone without close_notify

    QElapsedTimer t;
    t.start();
    Client second;
    second.socket.close();
    QVERIFY(second.socket.bind(QHostAddress::LocalHost, port));
    second.pskAnswer = Psk();
    QVERIFY(second.start(pskConfiguration(false), f.port()));
    QTRY_VERIFY_WITH_TIMEOUT(second.encrypted(), 10000);
    QTRY_COMPARE(f.closed.size(), 1);
    QCOMPARE(f.closed.first(), qMakePair(port, QDtlsServer::Replaced));
    QVERIFY2(t.elapsed() < 900, "replaced by the new handshake, not after a timeout or retransmission");
    QCOMPARE(f.connected.size(), 2);
    QCOMPARE(f.server->peerCount(), 1);
    QVERIFY(send(second, "new"));
    QTRY_COMPARE(second.received.size(), 1);
    QCOMPARE(second.received.first(), QByteArray("echo: new"));
}

void tst_Server::psk()
{
    Fixture f;
    auto c = pskClient(f.port());
    QTRY_VERIFY_WITH_TIMEOUT(c->encrypted(), 10000);
    QCOMPARE(f.pskCalls, 1);
    QCOMPARE(f.pskIdentity, Psk().identity);
    QCOMPARE(f.pskPeerPort, c->socket.localPort());
    if (QDTLS_QT_TEST_PRIVATE_API)
        QCOMPARE(f.pskHint, Psk().hint);
    QCOMPARE(c->psk.identityHint, QDTLS_QT_TEST_PRIVATE_API ? Psk().hint : QByteArray());
}

void tst_Server::wrongPskKey()
{
    // A wrong key shows as a bad MAC on the client's Finished, which DTLS
    // drops silently (RFC 6347 4.1.2.7): the handshake stalls until the
    // server's handshake timeout.
    Fixture f;
    QVERIFY(f.server->setHandshakeTimeout(1000));
    f.key = "not the key";
    auto c = pskClient(f.port());
    QTRY_COMPARE_WITH_TIMEOUT(f.failed.size(), 1, 10000);
    QCOMPARE(f.failed.first(), qMakePair(c->socket.localPort(), QDtlsServer::Timeout));
    QCOMPARE(f.pskCalls, 1);
    QVERIFY(!c->encrypted());
    QVERIFY(f.connected.isEmpty());
    QCOMPARE(f.server->peerCount(), 0);
}

void tst_Server::certificates()
{
    Fixture f(certServer(true));
    Client c;
    QVERIFY(c.start(certClient(true), f.port()));
    QTRY_VERIFY_WITH_TIMEOUT(c.encrypted(), 10000);
    QTRY_COMPARE(f.connected.size(), 1);
    QDtlsServerPeer *peer = f.connected.first();
    QCOMPARE(peer->peerCertificate(), certs.client);
    QVERIFY(!peer->peerCertificateChain().isEmpty());
    QCOMPARE(peer->peerCertificateChain().first(), certs.client);
    QVERIFY(peer->peerVerificationErrors().isEmpty());
    QVERIFY(!peer->sessionCipher().isNull());
    QCOMPARE(f.pskCalls, 0);
    QVERIFY(send(c, "cert"));
    QTRY_COMPARE(c.received.size(), 1);
}

void tst_Server::missingClientCertificate()
{
    Fixture f(certServer(true));
    Client c;
    QVERIFY(c.start(certClient(false), f.port()));
    QTRY_VERIFY_WITH_TIMEOUT(c.done(), 10000);
    QVERIFY(!c.encrypted());
    QTRY_COMPARE(f.failed.size(), 1);
    QCOMPARE(f.failed.first(), qMakePair(c.socket.localPort(), QDtlsServer::FatalAlert));
    QVERIFY(f.connected.isEmpty());
}

void tst_Server::cookieParameters()
{
    Fixture f;
    QVERIFY(!f.server->setCookieGeneratorParameters({QCryptographicHash::Md4, "secret"}));
    QCOMPARE(f.server->dtlsError(), QDtlsError::InvalidInputParameters);
    QVERIFY(!f.server->setCookieGeneratorParameters({QCryptographicHash::Sha256, QByteArray()}));
    QVERIFY(f.server->setCookieGeneratorParameters({QCryptographicHash::Sha256, "a secret of ours"}));
    QCOMPARE(f.server->dtlsError(), QDtlsError::NoError);
    QVERIFY(!f.server->rotateCookieSecret(-1));
    QVERIFY(f.server->rotateCookieSecret(1000));
    QUdpSocket other;
    QVERIFY(other.bind(QHostAddress::LocalHost, 0));
    QDtlsServer second(&other, pskConfiguration(true));
    QVERIFY(second.shareCookieSecret(f.server.get()));
    QVERIFY(!second.shareCookieSecret(nullptr));
    // Still a working server.
    auto c = pskClient(f.port());
    QTRY_VERIFY_WITH_TIMEOUT(c->encrypted(), 10000);
}

void tst_Server::deleteServerInsideSlot()
{
    Fixture f;
    auto c = pskClient(f.port());
    QTRY_VERIFY_WITH_TIMEOUT(c->encrypted(), 10000);
    QPointer<QDtlsServerPeer> peer = f.connected.first();
    connect(f.server.get(), &QDtlsServer::datagramReceived, this, [&f] { f.server.reset(); });
    QVERIFY(send(*c, "last"));
    QTRY_VERIFY(!f.server);
    QTRY_VERIFY(peer.isNull());
    // The socket is still there, and nobody reads it any more.
    QVERIFY(send(*c, "unheard"));
    QTRY_VERIFY(f.socket.hasPendingDatagrams());
    QCOMPARE(c->received.size(), 1); // the echo of "last", written before the deletion
}

void tst_Server::nestedEventLoopInSlot()
{
    // A slot that runs an event loop: datagrams arriving meanwhile are read
    // once it returns (the library cannot be driven from inside its call).
    Fixture f;
    auto c = pskClient(f.port());
    QTRY_VERIFY_WITH_TIMEOUT(c->encrypted(), 10000);
    QSignalSpy errors(f.server.get(), &QDtlsServer::errorOccurred);
    bool waited = false;
    int receivedDuringWait = -1;
    connect(f.server.get(), &QDtlsServer::datagramReceived, this, [&] {
        if (waited)
            return;
        waited = true;
        QVERIFY(send(*c, "during 1"));
        QVERIFY(send(*c, "during 2"));
        QTest::qWait(200);
        receivedDuringWait = int(f.received.size());
    });
    QVERIFY(send(*c, "first"));
    QTRY_COMPARE(f.received.size(), 3);
    QCOMPARE(receivedDuringWait, 1);
    QCOMPARE(f.received, (QList<QByteArray>{"first", "during 1", "during 2"}));
    QTRY_COMPARE(c->received.size(), 3);
    QVERIFY(errors.isEmpty());
    QVERIFY(send(*c, "after"));
    QTRY_COMPARE(f.received.size(), 4);
}

void tst_Server::socketClosedUnderTheServer()
{
    // Timers due with no socket to send on: reported once, not retried in a loop.
    Fixture f;
    QVERIFY(f.server->setIdleTimeout(100));
    auto c = pskClient(f.port());
    QTRY_VERIFY_WITH_TIMEOUT(c->encrypted(), 10000);
    QSignalSpy errors(f.server.get(), &QDtlsServer::errorOccurred);
    f.socket.close();
    QTest::qWait(500);
    QCOMPARE(errors.size(), 1);
    QCOMPARE(errors.first().first().value<QDtlsError>(), QDtlsError::UnderlyingSocketError);
    QCOMPARE(f.server->dtlsError(), QDtlsError::UnderlyingSocketError);
    QCOMPARE(f.server->peerCount(), 1);
}

QTEST_GUILESS_MAIN(tst_Server)
#include "tst_server.moc"
