#include "server.h"

#include <QtCore/QMessageAuthenticationCode>
#include <QtCore/QMetaEnum>
#include <QtNetwork/QSslCipher>
#include <QtNetwork/QSslPreSharedKeyAuthenticator>

namespace {

QString peerInfo(const QDtlsServerPeer *peer)
{
    return QStringLiteral("(%1:%2)").arg(peer->peerAddress().toString()).arg(peer->peerPort());
}

QString connectionInfo(const QDtlsServerPeer *peer)
{
    QString info = DtlsServer::tr("Session cipher: ") + peer->sessionCipher().name();
    info += DtlsServer::tr("; session protocol: ");
    info += peer->sessionProtocol() == QSsl::DtlsV1_2 ? QStringLiteral("DTLS 1.2") : QStringLiteral("other");
    return info;
}

QString reasonText(QDtlsServer::CloseReason reason)
{
    return QString::fromLatin1(QMetaEnum::fromType<QDtlsServer::CloseReason>().valueToKey(reason));
}

} // namespace

DtlsServer::DtlsServer()
{
    serverConfiguration = QSslConfiguration::defaultDtlsConfiguration();
    serverConfiguration.setPreSharedKeyIdentityHint("qdtls secure UDP server");
    serverConfiguration.setPeerVerifyMode(QSslSocket::VerifyNone);
    serverConfiguration.setCiphers({QSslCipher(QStringLiteral("PSK-AES256-GCM-SHA384")),
                                    QSslCipher(QStringLiteral("PSK-AES128-GCM-SHA256"))});
}

DtlsServer::~DtlsServer()
{
    close();
}

QByteArray DtlsServer::keyFor(const QByteArray &identity)
{
    return QMessageAuthenticationCode::hash(identity, "secure udp demo", QCryptographicHash::Sha256);
}

bool DtlsServer::listen(const QHostAddress &address, quint16 port)
{
    if (server && address == serverSocket.localAddress() && port == serverSocket.localPort())
        return true;
    close();
    if (!serverSocket.bind(address, port)) {
        Q_EMIT errorMessage(serverSocket.errorString());
        return false;
    }
    server = std::make_unique<QDtlsServer>(&serverSocket, serverConfiguration);
    if (server->dtlsError() != QDtlsError::NoError) {
        Q_EMIT errorMessage(tr("DTLS error: ") + server->dtlsErrorString());
        close();
        return false;
    }
    connect(server.get(), &QDtlsServer::peerConnected, this, &DtlsServer::peerConnected);
    connect(server.get(), &QDtlsServer::datagramReceived, this, &DtlsServer::decryptedDatagram);
    connect(server.get(), &QDtlsServer::peerClosed, this, &DtlsServer::connectionClosed);
    connect(server.get(), &QDtlsServer::handshakeFailed, this, &DtlsServer::handshakeFailed);
    connect(server.get(), &QDtlsServer::pskRequired, this, &DtlsServer::pskRequired);
    connect(server.get(), &QDtlsServer::errorOccurred, this,
            [this](QDtlsError, const QString &text) { Q_EMIT errorMessage(tr("DTLS error: ") + text); });
    return true;
}

bool DtlsServer::isListening() const
{
    return server != nullptr;
}

quint16 DtlsServer::serverPort() const
{
    return serverSocket.localPort();
}

int DtlsServer::peerCount() const
{
    return server ? server->peerCount() : 0;
}

void DtlsServer::close()
{
    if (server) {
        server->disconnect(this); // no messages while shutting down
        server->shutdown();
        server.reset();
    }
    serverSocket.close();
}

void DtlsServer::peerConnected(QDtlsServerPeer *peer)
{
    Q_EMIT infoMessage(tr("Connection with %1 encrypted. %2").arg(peerInfo(peer), connectionInfo(peer)));
}

void DtlsServer::decryptedDatagram(QDtlsServerPeer *peer, const QByteArray &plainText)
{
    const QString info = peerInfo(peer);
    Q_EMIT datagramReceived(info, plainText);
    if (peer->writeDatagram(tr("to %1: ACK").arg(info).toLatin1()) < 0)
        Q_EMIT errorMessage(info + tr(": cannot answer - ") + server->dtlsErrorString());
}

void DtlsServer::connectionClosed(QDtlsServerPeer *peer, QDtlsServer::CloseReason reason)
{
    const QString info = peerInfo(peer);
    Q_EMIT infoMessage(info + tr(": connection closed (%1)").arg(reasonText(reason)));
    Q_EMIT peerClosed(info);
}

void DtlsServer::handshakeFailed(QDtlsServerPeer *peer, QDtlsServer::CloseReason reason)
{
    Q_EMIT errorMessage(peerInfo(peer) + tr(": handshake failed (%1) - %2").arg(reasonText(reason), peer->dtlsErrorString()));
}

void DtlsServer::pskRequired(QDtlsServerPeer *peer, QSslPreSharedKeyAuthenticator *auth)
{
    Q_EMIT infoMessage(tr("%1: PSK callback, received a client's identity: '%2'")
                           .arg(peerInfo(peer), QString::fromLatin1(auth->identity())));
    auth->setPreSharedKey(keyFor(auth->identity()));
}
