#include "pingclient.h"

PingClient::PingClient(const QHostAddress &server, quint16 port) : dtls(QSslSocket::SslClientMode)
{
    QSslConfiguration configuration = QSslConfiguration::defaultDtlsConfiguration();
    configuration.setPeerVerifyMode(QSslSocket::VerifyNone);
    configuration.setCiphers({QSslCipher(QStringLiteral("PSK-AES128-GCM-SHA256"))});
    dtls.setDtlsConfiguration(configuration);
    dtls.setPeer(server, port);
    socket.bind(QHostAddress::LocalHost, 0);
    QObject::connect(&socket, &QUdpSocket::readyRead, &socket, [this] { readPending(); });
    QObject::connect(&dtls, &QDtls::handshakeTimeout, &socket, [this] {
        ++timeouts;
        dtls.handleTimeout(&socket);
    });
    QObject::connect(&dtls, &QDtls::pskRequired, &socket, [](QSslPreSharedKeyAuthenticator *auth) {
        auth->setIdentity("onedefinition client");
        auth->setPreSharedKey(QByteArray::fromHex("00112233445566778899aabbccddeeff"));
    });
}

void PingClient::start()
{
    if (!dtls.doHandshake(&socket))
        failure = dtls.dtlsErrorString();
}

void PingClient::readPending()
{
    while (socket.hasPendingDatagrams()) {
        const QByteArray datagram = socket.receiveDatagram().data();
        if (dtls.isConnectionEncrypted()) {
            answer = dtls.decryptDatagram(&socket, datagram);
            continue;
        }
        if (!dtls.doHandshake(&socket, datagram)) {
            failure = dtls.dtlsErrorString();
        } else if (dtls.isConnectionEncrypted()) {
            if (dtls.writeDatagramEncrypted(&socket, "ping") <= 0)
                failure = dtls.dtlsErrorString();
        }
    }
}
