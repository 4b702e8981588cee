#include "echoserver.h"

namespace {
const QByteArray pskHint = "onedefinition hint";
const QByteArray psk = QByteArray::fromHex("00112233445566778899aabbccddeeff");
} // namespace

EchoServer::EchoServer()
{
    configuration = QSslConfiguration::defaultDtlsConfiguration();
    configuration.setPreSharedKeyIdentityHint(pskHint);
    configuration.setPeerVerifyMode(QSslSocket::VerifyNone);
    configuration.setCiphers({QSslCipher(QStringLiteral("PSK-AES128-GCM-SHA256"))});
    QObject::connect(&socket, &QUdpSocket::readyRead, &socket, [this] { readPending(); });
}

bool EchoServer::listen()
{
    return socket.bind(QHostAddress::LocalHost, 0);
}

PeerSession *EchoServer::session(const QHostAddress &address, quint16 port)
{
    for (PeerSession &s : sessions) {
        if (s.address == address && s.port == port)
            return &s;
    }
    return nullptr;
}

void EchoServer::readPending()
{
    while (socket.hasPendingDatagrams())
        handle(socket.receiveDatagram());
}

void EchoServer::handle(const QNetworkDatagram &datagram)
{
    const QHostAddress from = datagram.senderAddress();
    const quint16 fromPort = quint16(datagram.senderPort());
    PeerSession *s = session(from, fromPort);
    if (!s) {
        if (!verifier.verifyClient(&socket, datagram.data(), from, fromPort))
            return; // a HelloVerifyRequest went out, or garbage
        PeerSession fresh;
        fresh.address = from;
        fresh.port = fromPort;
        fresh.dtls.reset(new QDtls(QSslSocket::SslServerMode));
        fresh.dtls->setDtlsConfiguration(configuration);
        fresh.dtls->setPeer(from, fromPort);
        QObject::connect(fresh.dtls.get(), &QDtls::pskRequired, &socket, [](QSslPreSharedKeyAuthenticator *auth) {
            auth->setPreSharedKey(psk);
        });
        sessions.push_back(std::move(fresh));
        s = &sessions.back();
    }
    QDtls &dtls = *s->dtls;
    if (dtls.isConnectionEncrypted()) {
        const QByteArray plain = dtls.decryptDatagram(&socket, datagram.data());
        if (!plain.isEmpty()) {
            received << plain;
            dtls.writeDatagramEncrypted(&socket, "echo: " + plain);
        }
        return;
    }
    dtls.doHandshake(&socket, datagram.data());
}
