// A secure UDP server in the style of Qt's DTLS example server, written on
// the adapter's QDtlsServer: one QUdpSocket, PSK with an identity hint,
// every decrypted datagram answered, closed peers reported. What Qt's example
// does by hand (a QDtls per client looked up by address and port, a
// QDtlsClientVerifier in front, a handshake timer per client) is the
// QDtlsServer's job.
#ifndef SECUREUDP_SERVER_H
#define SECUREUDP_SERVER_H

#include <qdtls/QDtls>
#include <qdtls/QDtlsServer>

#include <QtCore/QObject>
#include <QtNetwork/QHostAddress>
#include <QtNetwork/QSslConfiguration>
#include <QtNetwork/QUdpSocket>

#include <memory>

class DtlsServer : public QObject
{
    Q_OBJECT

public:
    DtlsServer();
    ~DtlsServer() override;

    bool listen(const QHostAddress &address, quint16 port);
    bool isListening() const;
    quint16 serverPort() const;
    int peerCount() const;
    void close(); // closes every connection (close_notify) and stops listening

    // The key a client with this identity shares with the server.
    static QByteArray keyFor(const QByteArray &identity);

Q_SIGNALS:
    void errorMessage(const QString &message);
    void warningMessage(const QString &message);
    void infoMessage(const QString &message);
    void datagramReceived(const QString &peerInfo, const QByteArray &plainText);
    void peerClosed(const QString &peerInfo);

private Q_SLOTS:
    void peerConnected(QDtlsServerPeer *peer);
    void decryptedDatagram(QDtlsServerPeer *peer, const QByteArray &plainText);
    void connectionClosed(QDtlsServerPeer *peer, QDtlsServer::CloseReason reason);
    void handshakeFailed(QDtlsServerPeer *peer, QDtlsServer::CloseReason reason);
    void pskRequired(QDtlsServerPeer *peer, QSslPreSharedKeyAuthenticator *auth);

private:
    QUdpSocket serverSocket;
    QSslConfiguration serverConfiguration;
    std::unique_ptr<QDtlsServer> server; // while listening
};

#endif // SECUREUDP_SERVER_H
