// Qt code as written for Qt's QDtls; only the include differs. And the
// adapter's own QDtlsServer, from the installed <qdtls/QDtlsServer>.
#include <qdtls/QDtls>
#include <qdtls/QDtlsServer>

#include <QtCore/QCoreApplication>
#include <QtNetwork/QHostAddress>
#include <QtNetwork/QSslConfiguration>
#include <QtNetwork/QUdpSocket>

#include <cstdio>

int main(int argc, char **argv)
{
    QCoreApplication app(argc, argv);
    QDtlsClientVerifier verifier;
    QDtls dtls(QSslSocket::SslClientMode);
    const bool ok = dtls.setPeer(QHostAddress::LocalHost, 4433, QStringLiteral("localhost"))
                    && dtls.dtlsError() == QDtlsError::NoError
                    && dtls.handshakeState() == QDtls::HandshakeNotStarted
                    && dtls.dtlsConfiguration() == QSslConfiguration::defaultDtlsConfiguration()
                    && verifier.cookieGeneratorParameters().secret.size() == 32;
    std::printf("%s: %s\n", dtls.metaObject()->className(), ok ? "ok" : "FAILED");

    QUdpSocket socket;
    QDtlsServer server(&socket, QSslConfiguration::defaultDtlsConfiguration());
    const bool serverOk = socket.bind(QHostAddress::LocalHost, 0) && server.dtlsError() == QDtlsError::NoError
                          && server.peerCount() == 0 && server.setMaxPeersPerAddress(4);
    std::printf("%s: %s\n", server.metaObject()->className(), serverOk ? "ok" : "FAILED");
    return ok && serverOk ? 0 : 1;
}
