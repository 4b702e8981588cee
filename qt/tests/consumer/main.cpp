// Qt code as written for Qt's QDtls; only the include differs.
#include <qdtls/QDtls>

#include <QtCore/QCoreApplication>
#include <QtNetwork/QHostAddress>
#include <QtNetwork/QSslConfiguration>

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
    return ok ? 0 : 1;
}
