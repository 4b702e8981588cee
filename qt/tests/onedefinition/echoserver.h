// A DTLS echo server as a Qt program writes it for Qt's QDtls: only Qt's
// umbrella headers, no adapter header. One QUdpSocket, a cookie verifier in
// front, one QDtls per peer (created with new in echoserver.cpp).
#ifndef ONEDEFINITION_ECHOSERVER_H
#define ONEDEFINITION_ECHOSERVER_H

#include <QtCore>
#include <QtNetwork>

#include <memory>
#include <vector>

struct PeerSession
{
    QHostAddress address;
    quint16 port = 0;
    std::unique_ptr<QDtls> dtls;
};

class EchoServer
{
public:
    EchoServer();
    bool listen();
    quint16 port() const { return socket.localPort(); }
    const QList<QByteArray> &echoed() const { return received; }
    // The session of a peer, or nullptr (used by main.cpp).
    PeerSession *session(const QHostAddress &address, quint16 port);

private:
    void readPending();
    void handle(const QNetworkDatagram &datagram);

    QUdpSocket socket;
    QSslConfiguration configuration;
    QDtlsClientVerifier verifier;
    std::vector<PeerSession> sessions;
    QList<QByteArray> received;
};

#endif
