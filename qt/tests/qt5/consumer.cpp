// Qt 5 code (QVector<QSslError>, Qt 5's QSsl::SslProtocol numbers) using the
// adapter through <qdtls/QDtls>, with Qt's signals. Built and run by
// qt5-compile-check.sh.
#include <qdtls/QDtls>

#include <QtCore/QCoreApplication>
#include <QtCore/QTimer>
#include <QtCore/QVector>
#include <QtNetwork/QHostAddress>
#include <QtNetwork/QSslCipher>
#include <QtNetwork/QSslConfiguration>
#include <QtNetwork/QSslPreSharedKeyAuthenticator>
#include <QtNetwork/QUdpSocket>

#include <cstdio>
#include <type_traits>

static_assert(QT_VERSION < QT_VERSION_CHECK(6, 0, 0), "built against Qt 5");
static_assert(std::is_same<QDtls, qdtls::qt::QDtls>::value, "the global aliases");
static_assert(std::is_same<decltype(std::declval<QDtls &>().peerVerificationErrors()), QVector<QSslError>>::value,
              "Qt 5's type");

static int failures = 0;
#define CHECK(cond)                                                                                                     \
    do {                                                                                                                \
        if (!(cond)) {                                                                                                  \
            std::fprintf(stderr, "FAIL: %s (line %d)\n", #cond, __LINE__);                                              \
            ++failures;                                                                                                 \
        }                                                                                                               \
    } while (false)

int main(int argc, char **argv)
{
    QCoreApplication app(argc, argv);
    QDtls dtls(QSslSocket::SslClientMode);
    QObject::connect(&dtls, &QDtls::pskRequired, [](QSslPreSharedKeyAuthenticator *a) { a->setPreSharedKey("k"); });
    QObject::connect(&dtls, &QDtls::handshakeTimeout, [] {});
    CHECK(dtls.handshakeState() == QDtls::HandshakeNotStarted);
    CHECK(dtls.dtlsError() == QDtlsError::NoError);
    CHECK(dtls.sessionProtocol() == QSsl::UnknownProtocol);
    CHECK(dtls.dtlsConfiguration() == QSslConfiguration::defaultDtlsConfiguration());
    CHECK(dtls.cookieGeneratorParameters().hash == QCryptographicHash::Sha256);
    CHECK(!dtls.setPeer(QHostAddress(), 1));
    CHECK(dtls.dtlsError() == QDtlsError::InvalidInputParameters);
    CHECK(dtls.setPeer(QHostAddress::LocalHost, 4433, QStringLiteral("localhost")));
    QSslConfiguration conf = QSslConfiguration::defaultDtlsConfiguration();
    conf.setProtocol(QSsl::DtlsV1_2); // Qt 5 numbers DtlsV1_2 differently from Qt 6
    CHECK(dtls.setDtlsConfiguration(conf));
    CHECK(dtls.dtlsConfiguration().protocol() == QSsl::DtlsV1_2);
    QVector<QSslError> ignore;
    ignore << QSslError(QSslError::HostNameMismatch);
    dtls.ignoreVerificationErrors(ignore);
    CHECK(dtls.peerVerificationErrors().isEmpty());

    // A PSK handshake between two adapters, through Qt 5's event loop.
    QUdpSocket serverSocket, clientSocket;
    const QHostAddress local(QHostAddress::LocalHost);
    CHECK(serverSocket.bind(local, 0) && clientSocket.bind(local, 0));
    QSslConfiguration psk = QSslConfiguration::defaultDtlsConfiguration();
    psk.setCiphers({QSslCipher(QStringLiteral("PSK-AES128-GCM-SHA256"))});
    psk.setPeerVerifyMode(QSslSocket::VerifyNone);
    psk.setDtlsCookieVerificationEnabled(false);
    QDtls client(QSslSocket::SslClientMode), server(QSslSocket::SslServerMode);
    for (QDtls *d : {&client, &server}) {
        QObject::connect(d, &QDtls::pskRequired, [](QSslPreSharedKeyAuthenticator *a) {
            a->setIdentity("qt5");
            a->setPreSharedKey("0123456789abcdef");
        });
        CHECK(d->setDtlsConfiguration(psk));
    }
    CHECK(client.setPeer(QHostAddress::LocalHost, serverSocket.localPort()));
    QObject::connect(&serverSocket, &QUdpSocket::readyRead, [&] {
        while (serverSocket.hasPendingDatagrams()) {
            QByteArray d(int(serverSocket.pendingDatagramSize()), Qt::Uninitialized);
            QHostAddress from;
            quint16 port = 0;
            serverSocket.readDatagram(d.data(), d.size(), &from, &port);
            if (server.handshakeState() == QDtls::HandshakeNotStarted)
                server.setPeer(from, port);
            server.doHandshake(&serverSocket, d);
        }
    });
    QObject::connect(&clientSocket, &QUdpSocket::readyRead, [&] {
        while (clientSocket.hasPendingDatagrams()) {
            QByteArray d(int(clientSocket.pendingDatagramSize()), Qt::Uninitialized);
            clientSocket.readDatagram(d.data(), d.size());
            client.doHandshake(&clientSocket, d);
            if (client.isConnectionEncrypted())
                app.quit();
        }
    });
    QTimer::singleShot(10000, &app, [&] { app.exit(1); });
    CHECK(client.doHandshake(&clientSocket));
    CHECK(app.exec() == 0);
    CHECK(client.isConnectionEncrypted());
    CHECK(client.sessionProtocol() == QSsl::DtlsV1_2);
    CHECK(client.sessionCipher().name() == QStringLiteral("PSK-AES128-GCM-SHA256"));

    std::printf("Qt %s: %s\n", qVersion(), failures ? "FAILED" : "the adapter builds and works");
    return failures ? 1 : 0;
}
