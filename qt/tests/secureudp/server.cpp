#include "server.h"

#include <QtCore/QMessageAuthenticationCode>
#include <QtNetwork/QNetworkDatagram>
#include <QtNetwork/QSslCipher>
#include <QtNetwork/QSslPreSharedKeyAuthenticator>

#include <algorithm>

namespace {

QString peerInfo(const QHostAddress &address, quint16 port)
{
    return QStringLiteral("(%1:%2)").arg(address.toString()).arg(port);
}

QString connectionInfo(QDtls *connection)
{
    QString info = DtlsServer::tr("Session cipher: ") + connection->sessionCipher().name();
    info += DtlsServer::tr("; session protocol: ");
    info += connection->sessionProtocol() == QSsl::DtlsV1_2 ? QStringLiteral("DTLS 1.2") : QStringLiteral("other");
    return info;
}

} // namespace

DtlsServer::DtlsServer()
{
    connect(&serverSocket, &QAbstractSocket::readyRead, this, &DtlsServer::readyRead);
    serverConfiguration = QSslConfiguration::defaultDtlsConfiguration();
    serverConfiguration.setPreSharedKeyIdentityHint("qdtls secure UDP server");
    serverConfiguration.setPeerVerifyMode(QSslSocket::VerifyNone);
    serverConfiguration.setCiphers({QSslCipher(QStringLiteral("PSK-AES256-GCM-SHA384")),
                                    QSslCipher(QStringLiteral("PSK-AES128-GCM-SHA256"))});
}

DtlsServer::~DtlsServer()
{
    shutdown();
}

QByteArray DtlsServer::keyFor(const QByteArray &identity)
{
    return QMessageAuthenticationCode::hash(identity, "secure udp demo", QCryptographicHash::Sha256);
}

bool DtlsServer::listen(const QHostAddress &address, quint16 port)
{
    if (address != serverSocket.localAddress() || port != serverSocket.localPort()) {
        shutdown();
        listening = serverSocket.bind(address, port);
        if (!listening)
            Q_EMIT errorMessage(serverSocket.errorString());
    } else {
        listening = true;
    }
    return listening;
}

bool DtlsServer::isListening() const
{
    return listening;
}

quint16 DtlsServer::serverPort() const
{
    return serverSocket.localPort();
}

int DtlsServer::peerCount() const
{
    return int(knownClients.size());
}

void DtlsServer::close()
{
    listening = false;
}

void DtlsServer::readyRead()
{
    while (serverSocket.hasPendingDatagrams()) {
        const qint64 bytesToRead = serverSocket.pendingDatagramSize();
        if (bytesToRead <= 0) {
            // Spurious read notification.
            serverSocket.receiveDatagram();
            continue;
        }
        QByteArray dgram(bytesToRead, Qt::Uninitialized);
        QHostAddress peerAddress;
        quint16 peerPort = 0;
        const qint64 bytesRead = serverSocket.readDatagram(dgram.data(), dgram.size(), &peerAddress, &peerPort);
        if (bytesRead <= 0) {
            Q_EMIT warningMessage(tr("Failed to read a datagram: ") + serverSocket.errorString());
            continue;
        }
        dgram.resize(bytesRead);
        if (peerAddress.isNull() || !peerPort) {
            Q_EMIT warningMessage(tr("Failed to extract peer info (address, port)"));
            continue;
        }

        const auto client = std::find_if(knownClients.begin(), knownClients.end(),
                                         [&](const std::unique_ptr<QDtls> &connection) {
                                             return connection->peerAddress() == peerAddress
                                                    && connection->peerPort() == peerPort;
                                         });
        if (client == knownClients.end()) {
            handleNewConnection(peerAddress, peerPort, dgram);
            continue;
        }
        if ((*client)->isConnectionEncrypted()) {
            decryptDatagram(client->get(), dgram);
            if ((*client)->dtlsError() == QDtlsError::RemoteClosedConnectionError) {
                Q_EMIT peerClosed(peerInfo(peerAddress, peerPort));
                knownClients.erase(client);
            }
            continue;
        }
        doHandshake(client->get(), dgram);
    }
}

void DtlsServer::pskRequired(QSslPreSharedKeyAuthenticator *auth)
{
    Q_ASSERT(auth);
    Q_EMIT infoMessage(tr("PSK callback, received a client's identity: '%1'")
                           .arg(QString::fromLatin1(auth->identity())));
    auth->setPreSharedKey(keyFor(auth->identity()));
}

void DtlsServer::handleNewConnection(const QHostAddress &peerAddress, quint16 peerPort,
                                     const QByteArray &clientHello)
{
    if (!listening)
        return;

    const QString info = peerInfo(peerAddress, peerPort);
    if (cookieSender.verifyClient(&serverSocket, clientHello, peerAddress, peerPort)) {
        Q_EMIT infoMessage(info + tr(": verified, starting a handshake"));
        auto newConnection = std::make_unique<QDtls>(QSslSocket::SslServerMode);
        newConnection->setDtlsConfiguration(serverConfiguration);
        newConnection->setPeer(peerAddress, peerPort);
        connect(newConnection.get(), &QDtls::pskRequired, this, &DtlsServer::pskRequired);
        knownClients.push_back(std::move(newConnection));
        doHandshake(knownClients.back().get(), cookieSender.verifiedHello());
    } else if (cookieSender.dtlsError() != QDtlsError::NoError) {
        Q_EMIT errorMessage(tr("DTLS error: ") + cookieSender.dtlsErrorString());
    } else {
        Q_EMIT infoMessage(info + tr(": not verified yet"));
    }
}

void DtlsServer::doHandshake(QDtls *connection, const QByteArray &clientHello)
{
    const bool result = connection->doHandshake(&serverSocket, clientHello);
    if (!result) {
        Q_EMIT errorMessage(connection->dtlsErrorString());
        return;
    }

    const QString info = peerInfo(connection->peerAddress(), connection->peerPort());
    switch (connection->handshakeState()) {
    case QDtls::HandshakeInProgress:
        Q_EMIT infoMessage(info + tr(": handshake is in progress ..."));
        break;
    case QDtls::HandshakeComplete:
        Q_EMIT infoMessage(tr("Connection with %1 encrypted. %2").arg(info, connectionInfo(connection)));
        break;
    default:
        Q_UNREACHABLE();
    }
}

void DtlsServer::decryptDatagram(QDtls *connection, const QByteArray &clientMessage)
{
    Q_ASSERT(connection->isConnectionEncrypted());

    const QString info = peerInfo(connection->peerAddress(), connection->peerPort());
    const QByteArray dgram = connection->decryptDatagram(&serverSocket, clientMessage);
    if (dgram.size()) {
        Q_EMIT datagramReceived(info, clientMessage, dgram);
        connection->writeDatagramEncrypted(&serverSocket, tr("to %1: ACK").arg(info).toLatin1());
    } else if (connection->dtlsError() == QDtlsError::NoError) {
        Q_EMIT warningMessage(info + tr(": 0 byte dgram, could be a re-connect attempt?"));
    } else if (connection->dtlsError() == QDtlsError::RemoteClosedConnectionError) {
        Q_EMIT infoMessage(info + tr(": the peer closed the connection"));
    } else {
        Q_EMIT errorMessage(info + connection->dtlsErrorString());
    }
}

void DtlsServer::shutdown()
{
    for (const auto &connection : std::as_const(knownClients))
        connection->shutdown(&serverSocket);
    knownClients.clear();
    serverSocket.close();
}
