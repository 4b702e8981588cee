// A secure UDP server in the style of Qt's DTLS example server, written
// against the qdtls Qt adapter: one QUdpSocket, peers looked up by address
// and port, unknown peers verified by QDtlsClientVerifier first, PSK with an
// identity hint, every decrypted datagram answered, closed peers removed.
#ifndef SECUREUDP_SERVER_H
#define SECUREUDP_SERVER_H

#include <qdtls/QDtls>

#include <QtCore/QObject>
#include <QtNetwork/QHostAddress>
#include <QtNetwork/QSslConfiguration>
#include <QtNetwork/QUdpSocket>

#include <memory>
#include <vector>

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
    void close();

    // The key a client with this identity shares with the server.
    static QByteArray keyFor(const QByteArray &identity);

Q_SIGNALS:
    void errorMessage(const QString &message);
    void warningMessage(const QString &message);
    void infoMessage(const QString &message);
    void datagramReceived(const QString &peerInfo, const QByteArray &cipherText, const QByteArray &plainText);
    void peerClosed(const QString &peerInfo);

private Q_SLOTS:
    void readyRead();
    void pskRequired(QSslPreSharedKeyAuthenticator *auth);

private:
    void handleNewConnection(const QHostAddress &peerAddress, quint16 peerPort, const QByteArray &clientHello);
    void doHandshake(QDtls *connection, const QByteArray &clientHello);
    void decryptDatagram(QDtls *connection, const QByteArray &clientMessage);
    void shutdown();

    bool listening = false;
    QUdpSocket serverSocket;
    QSslConfiguration serverConfiguration;
    QDtlsClientVerifier cookieSender;
    std::vector<std::unique_ptr<QDtls>> knownClients;
};

#endif // SECUREUDP_SERVER_H
