#include "association.h"
#include "server.h"

#include <QtNetwork/QSslCipher>
#include <QtNetwork/QSslPreSharedKeyAuthenticator>

DtlsAssociation::DtlsAssociation(const QHostAddress &address, quint16 port, const QString &connectionName,
                                 int pings)
    : connectionName(connectionName), crypto(QSslSocket::SslClientMode), maxPings(pings)
{
    auto configuration = QSslConfiguration::defaultDtlsConfiguration();
    configuration.setPeerVerifyMode(QSslSocket::VerifyNone);
    crypto.setPeer(address, port);
    crypto.setPeerVerificationName(connectionName);
    crypto.setDtlsConfiguration(configuration);

    connect(&crypto, &QDtls::handshakeTimeout, this, &DtlsAssociation::handshakeTimeout);
    connect(&crypto, &QDtls::pskRequired, this, &DtlsAssociation::pskRequired);

    socket.connectToHost(address.toString(), port);
    connect(&socket, &QUdpSocket::readyRead, this, &DtlsAssociation::readyRead);

    pingTimer.setInterval(50);
    connect(&pingTimer, &QTimer::timeout, this, &DtlsAssociation::pingTimeout);
}

DtlsAssociation::~DtlsAssociation()
{
    if (crypto.isConnectionEncrypted())
        crypto.shutdown(&socket);
}

void DtlsAssociation::startHandshake()
{
    if (socket.state() != QAbstractSocket::ConnectedState) {
        Q_EMIT infoMessage(tr("%1: connecting UDP socket first ...").arg(connectionName));
        connect(&socket, &QAbstractSocket::connected, this, &DtlsAssociation::udpSocketConnected);
        return;
    }

    if (!crypto.doHandshake(&socket))
        Q_EMIT errorMessage(tr("%1: failed to start a handshake - %2").arg(connectionName, crypto.dtlsErrorString()));
    else
        Q_EMIT infoMessage(tr("%1: starting a handshake").arg(connectionName));
}

void DtlsAssociation::udpSocketConnected()
{
    Q_EMIT infoMessage(tr("%1: UDP socket is now in ConnectedState, continue with handshake ...").arg(connectionName));
    startHandshake();
}

void DtlsAssociation::readyRead()
{
    while (socket.hasPendingDatagrams()) {
        QByteArray dgram(socket.pendingDatagramSize(), Qt::Uninitialized);
        const qint64 bytesRead = socket.readDatagram(dgram.data(), dgram.size());
        if (bytesRead <= 0) {
            Q_EMIT warningMessage(tr("%1: spurious read notification?").arg(connectionName));
            continue;
        }
        dgram.resize(bytesRead);
        if (crypto.isConnectionEncrypted()) {
            const QByteArray plainText = crypto.decryptDatagram(&socket, dgram);
            if (plainText.size()) {
                ++answerCount;
                Q_EMIT serverResponse(connectionName, dgram, plainText);
                if (answerCount == maxPings) {
                    pingTimer.stop();
                    crypto.shutdown(&socket);
                    Q_EMIT finished(connectionName);
                }
                continue;
            }
            if (crypto.dtlsError() == QDtlsError::RemoteClosedConnectionError) {
                Q_EMIT errorMessage(tr("%1: shutdown alert received").arg(connectionName));
                socket.close();
                pingTimer.stop();
                return;
            }
            Q_EMIT warningMessage(tr("%1: zero-length datagram received?").arg(connectionName));
        } else if (crypto.handshakeState() != QDtls::HandshakeInProgress) {
            // After our shutdown (the server answers close_notify with its
            // own): doHandshake would start a new handshake.
            continue;
        } else {
            if (!crypto.doHandshake(&socket, dgram)) {
                Q_EMIT errorMessage(tr("%1: handshake error - %2").arg(connectionName, crypto.dtlsErrorString()));
                return;
            }
            if (crypto.isConnectionEncrypted()) {
                Q_EMIT infoMessage(tr("%1: encrypted connection established!").arg(connectionName));
                pingTimer.start();
                pingTimeout();
            } else {
                Q_EMIT infoMessage(tr("%1: continuing with handshake ...").arg(connectionName));
            }
        }
    }
}

void DtlsAssociation::handshakeTimeout()
{
    Q_EMIT warningMessage(tr("%1: handshake timeout, trying to re-transmit").arg(connectionName));
    if (!crypto.handleTimeout(&socket))
        Q_EMIT errorMessage(tr("%1: failed to re-transmit - %2").arg(connectionName, crypto.dtlsErrorString()));
}

void DtlsAssociation::pskRequired(QSslPreSharedKeyAuthenticator *auth)
{
    Q_ASSERT(auth);
    Q_EMIT infoMessage(tr("%1: providing pre-shared key ...").arg(connectionName));
    auth->setIdentity(connectionName.toLatin1());
    auth->setPreSharedKey(DtlsServer::keyFor(connectionName.toLatin1()));
}

void DtlsAssociation::pingTimeout()
{
    if (ping >= maxPings) {
        pingTimer.stop();
        return;
    }
    static const QString message = QStringLiteral("I am %1, please, accept our ping %2");
    const qint64 written = crypto.writeDatagramEncrypted(&socket, message.arg(connectionName).arg(ping).toLatin1());
    if (written <= 0) {
        Q_EMIT errorMessage(tr("%1: failed to send a ping - %2").arg(connectionName, crypto.dtlsErrorString()));
        pingTimer.stop();
        return;
    }
    ++ping;
}
