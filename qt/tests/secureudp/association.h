// A DTLS client association in the style of Qt's DTLS example client, written
// against the qdtls Qt adapter: a connected QUdpSocket, handshakeTimeout ->
// handleTimeout, PSK identity = the association's name, pings once
// encrypted, shutdown() when done and before destruction.
#ifndef SECUREUDP_ASSOCIATION_H
#define SECUREUDP_ASSOCIATION_H

#include <qdtls/QDtls>

#include <QtCore/QObject>
#include <QtCore/QTimer>
#include <QtNetwork/QHostAddress>
#include <QtNetwork/QUdpSocket>

class DtlsAssociation : public QObject
{
    Q_OBJECT

public:
    DtlsAssociation(const QHostAddress &address, quint16 port, const QString &connectionName, int pings);
    ~DtlsAssociation() override;
    void startHandshake();
    QString name() const { return connectionName; }
    int answers() const { return answerCount; }

Q_SIGNALS:
    void errorMessage(const QString &message);
    void warningMessage(const QString &message);
    void infoMessage(const QString &message);
    void serverResponse(const QString &clientInfo, const QByteArray &datagram, const QByteArray &plainText);
    void finished(const QString &clientInfo);

private Q_SLOTS:
    void udpSocketConnected();
    void readyRead();
    void handshakeTimeout();
    void pskRequired(QSslPreSharedKeyAuthenticator *auth);
    void pingTimeout();

private:
    QString connectionName;
    QUdpSocket socket;
    QDtls crypto;
    QTimer pingTimer;
    int ping = 0;
    int maxPings;
    int answerCount = 0;
};

#endif // SECUREUDP_ASSOCIATION_H
