// A QDtlsServer on a loopback socket that records what it reports, and
// PSK clients (the adapter's QDtls) for it: shared by tst_server's tests.
// Include <qdtls/QDtls> and <qdtls/QDtlsServer> first.
#ifndef QDTLS_QT_TESTS_SERVERFIXTURE_H
#define QDTLS_QT_TESTS_SERVERFIXTURE_H

#include <QtCore/QPointer>
#include <QtNetwork/QSslCipher>
#include <QtNetwork/QSslConfiguration>
#include <QtNetwork/QUdpSocket>

#include <memory>

#include "endpoints.h"

namespace serverfixture {

using Client = endpoints::Client<QDtls>;
using endpoints::Psk;

inline QSslConfiguration pskConfiguration(bool server)
{
    QSslConfiguration conf = QSslConfiguration::defaultDtlsConfiguration();
    conf.setCiphers({QSslCipher(QStringLiteral("PSK-AES128-GCM-SHA256"))});
    if (server)
        conf.setPreSharedKeyIdentityHint(Psk().hint);
    else
        conf.setPeerVerifyMode(QSslSocket::VerifyNone);
    return conf;
}

// A server on a loopback socket that records what it reports and, by
// default, answers every datagram with "echo: " + datagram.
struct Fixture
{
    QUdpSocket socket;
    std::unique_ptr<QDtlsServer> server;
    QList<QPointer<QDtlsServerPeer>> connected;
    QList<QPair<quint16, QDtlsServer::CloseReason>> closed, failed;
    QList<QByteArray> received;
    QStringList failureTexts;
    int pskCalls = 0;
    QByteArray pskIdentity, pskHint;
    quint16 pskPeerPort = 0;
    QByteArray key = Psk().key;
    bool echo = true;

    explicit Fixture(const QSslConfiguration &conf = pskConfiguration(true),
                     const QHostAddress &bindAddress = QHostAddress(QHostAddress::LocalHost))
    {
        socket.bind(bindAddress, 0);
        server = std::make_unique<QDtlsServer>(&socket, conf);
        QDtlsServer *s = server.get();
        QObject::connect(s, &QDtlsServer::peerConnected, s, [this](QDtlsServerPeer *p) { connected << p; });
        QObject::connect(s, &QDtlsServer::datagramReceived, s, [this](QDtlsServerPeer *p, const QByteArray &d) {
            received << d;
            if (echo)
                p->writeDatagram("echo: " + d);
        });
        QObject::connect(s, &QDtlsServer::peerClosed, s, [this](QDtlsServerPeer *p, QDtlsServer::CloseReason r) {
            closed << qMakePair(p->peerPort(), r);
        });
        QObject::connect(s, &QDtlsServer::handshakeFailed, s, [this](QDtlsServerPeer *p, QDtlsServer::CloseReason r) {
            failed << qMakePair(p->peerPort(), r);
            failureTexts << p->dtlsErrorString();
        });
        QObject::connect(s, &QDtlsServer::pskRequired, s, [this](QDtlsServerPeer *p, QSslPreSharedKeyAuthenticator *a) {
            ++pskCalls;
            pskIdentity = a->identity();
            pskHint = a->identityHint();
            pskPeerPort = p->peerPort();
            a->setPreSharedKey(key);
        });
    }

    quint16 port() const { return socket.localPort(); }
};

inline std::unique_ptr<Client> pskClient(quint16 port, const QHostAddress &bindAddress = QHostAddress(QHostAddress::LocalHost))
{
    auto c = std::make_unique<Client>(bindAddress);
    c->pskAnswer = Psk();
    c->start(pskConfiguration(false), port);
    return c;
}

inline bool send(Client &c, const QByteArray &data)
{
    return c.dtls.writeDatagramEncrypted(&c.socket, data) == data.size();
}

} // namespace serverfixture

#endif // QDTLS_QT_TESTS_SERVERFIXTURE_H
