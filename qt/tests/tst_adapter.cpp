// Qt's QDtls scenarios (QDTLS-BEHAVIOUR.md) through the adapter, written as
// unchanged Qt code: after <qdtls/QDtls>, QDtls, QDtlsClientVerifier and
// QDtlsError are the adapter's classes, with Qt's signals and types.
//
// Built a second time with QDTLS_QT_TEST_REFERENCE defined, the same test runs
// against Qt's own QDtls: that run proves the expectations are Qt's, except
// where the adapter differs on purpose (marked with REFERENCE_DIFFERS).
#ifdef QDTLS_QT_TEST_REFERENCE
#include <QtNetwork/QDtls>
#define REFERENCE_DIFFERS(why) QEXPECT_FAIL("", why, Abort)
constexpr bool reference = true;
#else
#include <qdtls/QDtls>
#define REFERENCE_DIFFERS(why) (void)0
constexpr bool reference = false;
#endif

// The umbrella header includes Qt's qdtls.h, which <qdtls/QDtls> has turned
// into a no-op: Qt code that includes <QtNetwork> still compiles.
#include <QtNetwork/QtNetwork>
#include <QtTest/QtTest>

#include <type_traits>

#include "common/endpoints.h"
#include "common/testcerts.h"

#ifndef QDTLS_QT_TEST_REFERENCE
static_assert(QDTLS_QT_GLOBAL_ALIASES == 1, "<qdtls/QDtls> declares the global aliases");
static_assert(std::is_same_v<QDtls, qdtls::qt::QDtls>, "QDtls is the adapter");
static_assert(std::is_same_v<QDtlsClientVerifier, qdtls::qt::QDtlsClientVerifier>, "QDtlsClientVerifier is the adapter");
static_assert(std::is_same_v<QDtlsError, qdtls::qt::QDtlsError>, "QDtlsError is the adapter's");
#endif
static_assert(std::is_same_v<QDtls::GeneratorParameters, QDtlsClientVerifier::GeneratorParameters>, "as in Qt");
static_assert(std::is_base_of_v<QObject, QDtls> && std::is_base_of_v<QObject, QDtlsClientVerifier>, "QObjects");
static_assert(!std::is_copy_constructible_v<QDtls> && !std::is_move_constructible_v<QDtls>, "as in Qt");
#if QT_VERSION >= QT_VERSION_CHECK(6, 0, 0)
static_assert(std::is_same_v<decltype(std::declval<QDtls &>().peerVerificationErrors()), QList<QSslError>>, "Qt 6 types");
#endif
static_assert(std::is_same_v<std::underlying_type_t<QDtlsError>, unsigned char>, "as in Qt");

// Set by the build: whether the adapter fills in what needs Qt's private API.
constexpr bool fullAdapter = reference || QDTLS_QT_TEST_PRIVATE_API;

using Client = endpoints::Client<QDtls>;
using Server = endpoints::Server<QDtls, QDtlsClientVerifier>;
using endpoints::Psk;

namespace {

QSslConfiguration pskConfiguration(bool server)
{
    QSslConfiguration conf = QSslConfiguration::defaultDtlsConfiguration();
    conf.setCiphers({QSslCipher(QStringLiteral("PSK-AES128-GCM-SHA256"))});
    if (server)
        conf.setPreSharedKeyIdentityHint(Psk().hint);
    else
        conf.setPeerVerifyMode(QSslSocket::VerifyNone);
    return conf;
}

} // namespace

class tst_Adapter : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void constructionDefaults_data();
    void constructionDefaults();
    void generatorParameters();
    void verifierDefaults();
    void configuration();
    void defaultConfigurationFollowsQt();
    void setPeer_data();
    void setPeer();
    void mtuHint();
    void doHandshakeChecks();
    void invalidOperationsDuringHandshake();
    void configurationErrorsAtHandshake();
    void serverRequiresCookie();
    void pskHandshake();
    void pskWithoutKeyFails();
    void certificates();
    void negotiatedProtocol();
    void verificationFailureAbort();
    void verificationFailureIgnoreResume();
    void presetIgnoredErrors();
    void ignoreEntryWithoutCertificate();
    void verifyNone();
    void handshakeTimeoutSignal();
    void retransmission();
    void handleTimeoutWithoutHandshake();
    void shutdownAndRehandshake();
    void shutdownChecks();
    void oversizedWriteFails();
    void notEncrypted();
    void replayedDatagram();
    void verifier();
    void unboundSocketIsBound();
    void unboundSocketBoundAsWriteDatagram();
    void addressFamilies_data();
    void addressFamilies();

private:
    // A client and a server (with the adapter's verifier) on loopback; PSK.
    void connectPsk(Client &client, Server &server);
    void connectCertificates(Client &client, Server &server, const QString &name,
                             const QList<QSslCertificate> &chain, const QSslKey &key,
                             const QList<QSslCertificate> &cas);
    TestCerts certs;
};

void tst_Adapter::initTestCase()
{
    QVERIFY2(certs.generate(), qPrintable(certs.error));
}

void tst_Adapter::connectPsk(Client &client, Server &server)
{
    server.conf = pskConfiguration(true);
    server.pskAnswer = Psk();
    client.pskAnswer = Psk();
    QVERIFY(client.start(pskConfiguration(false), server.port()));
    QTRY_VERIFY_WITH_TIMEOUT(client.done() && server.encrypted(), 10000);
    QVERIFY2(client.encrypted(), qPrintable(client.dtls.dtlsErrorString()));
    QVERIFY(client.failures.isEmpty() && server.failures.isEmpty());
}

void tst_Adapter::connectCertificates(Client &client, Server &server, const QString &name,
                                      const QList<QSslCertificate> &chain, const QSslKey &key,
                                      const QList<QSslCertificate> &cas)
{
    server.conf = QSslConfiguration::defaultDtlsConfiguration();
    server.conf.setLocalCertificateChain(chain);
    server.conf.setPrivateKey(key);
    QSslConfiguration conf = QSslConfiguration::defaultDtlsConfiguration();
    conf.setCaCertificates(cas);
    QVERIFY(client.start(conf, server.port(), name));
    QTRY_VERIFY_WITH_TIMEOUT(client.done(), 10000);
}

void tst_Adapter::constructionDefaults_data()
{
    QTest::addColumn<QSslSocket::SslMode>("mode");
    QTest::newRow("client") << QSslSocket::SslClientMode;
    QTest::newRow("server") << QSslSocket::SslServerMode;
}

void tst_Adapter::constructionDefaults()
{
    QFETCH(QSslSocket::SslMode, mode);
    QDtls dtls(mode);
    QVERIFY(dtls.peerAddress().isNull());
    QCOMPARE(dtls.peerPort(), quint16(0));
    QVERIFY(dtls.peerVerificationName().isEmpty());
    QCOMPARE(dtls.sslMode(), mode);
    QCOMPARE(dtls.mtuHint(), quint16(0));
    QCOMPARE(dtls.handshakeState(), QDtls::HandshakeNotStarted);
    QVERIFY(!dtls.isConnectionEncrypted());
    QVERIFY(dtls.sessionCipher().isNull());
    QCOMPARE(dtls.sessionProtocol(), QSsl::UnknownProtocol);
    QCOMPARE(dtls.dtlsError(), QDtlsError::NoError);
    QVERIFY(dtls.dtlsErrorString().isEmpty());
    QVERIFY(dtls.peerVerificationErrors().isEmpty());
    QCOMPARE(dtls.dtlsConfiguration(), QSslConfiguration::defaultDtlsConfiguration());
    const QDtls::GeneratorParameters params = dtls.cookieGeneratorParameters();
    QCOMPARE(params.hash, QCryptographicHash::Sha256);
    QCOMPARE(params.secret.size(), 32);
    // The process-wide default secret, shared with every verifier.
    QCOMPARE(params.secret, QDtlsClientVerifier().cookieGeneratorParameters().secret);
}

void tst_Adapter::generatorParameters()
{
    const QDtlsClientVerifier::GeneratorParameters defaults;
    QCOMPARE(defaults.hash, QCryptographicHash::Sha1); // as Qt's struct
    QVERIFY(defaults.secret.isEmpty());
    const QDtls::GeneratorParameters p(QCryptographicHash::Sha512, "s");
    QCOMPARE(p.hash, QCryptographicHash::Sha512);
    QCOMPARE(p.secret, QByteArray("s"));

    QDtls dtls(QSslSocket::SslServerMode);
    QVERIFY(!dtls.setCookieGeneratorParameters({QCryptographicHash::Sha256, {}}));
    QCOMPARE(dtls.dtlsError(), QDtlsError::InvalidInputParameters);
    // Qt returns false here even on success (a Qt defect the library fixes).
    REFERENCE_DIFFERS("Qt's QDtls::setCookieGeneratorParameters returns false on success");
    QVERIFY(dtls.setCookieGeneratorParameters({QCryptographicHash::Sha384, "secret"}));
    QCOMPARE(dtls.dtlsError(), QDtlsError::NoError);
    QCOMPARE(dtls.cookieGeneratorParameters().hash, QCryptographicHash::Sha384);
    QCOMPARE(dtls.cookieGeneratorParameters().secret, QByteArray("secret"));
}

void tst_Adapter::verifierDefaults()
{
    QDtlsClientVerifier verifier;
    QCOMPARE(verifier.cookieGeneratorParameters().hash, QCryptographicHash::Sha256);
    QCOMPARE(verifier.cookieGeneratorParameters().secret.size(), 32);
    QVERIFY(verifier.verifiedHello().isEmpty());
    QCOMPARE(verifier.dtlsError(), QDtlsError::NoError);
    QVERIFY(verifier.dtlsErrorString().isEmpty());

    const QByteArray before = verifier.cookieGeneratorParameters().secret;
    QVERIFY(!verifier.setCookieGeneratorParameters({QCryptographicHash::Sha1, {}}));
    QCOMPARE(verifier.dtlsError(), QDtlsError::InvalidInputParameters);
    QVERIFY(!verifier.dtlsErrorString().isEmpty());
    QCOMPARE(verifier.cookieGeneratorParameters().secret, before); // old parameters kept

    for (auto hash : {QCryptographicHash::Md5, QCryptographicHash::Sha1, QCryptographicHash::Sha224,
                      QCryptographicHash::Sha256, QCryptographicHash::Sha384, QCryptographicHash::Sha512,
                      QCryptographicHash::Sha3_224, QCryptographicHash::Sha3_256, QCryptographicHash::Sha3_384,
                      QCryptographicHash::Sha3_512}) {
        QVERIFY(verifier.setCookieGeneratorParameters({hash, "k"}));
        QCOMPARE(verifier.dtlsError(), QDtlsError::NoError);
        QCOMPARE(verifier.cookieGeneratorParameters().hash, hash);
    }
    // Hashes the library does not offer (documented difference: Qt takes any).
    REFERENCE_DIFFERS("Qt accepts every QCryptographicHash algorithm");
    QVERIFY(!verifier.setCookieGeneratorParameters({QCryptographicHash::Md4, "k"}));
    QCOMPARE(verifier.dtlsError(), QDtlsError::InvalidInputParameters);
}

void tst_Adapter::configuration()
{
    QDtls dtls(QSslSocket::SslServerMode);
    QSslConfiguration conf = QSslConfiguration::defaultDtlsConfiguration();
    conf.setProtocol(QSsl::DtlsV1_2);
    conf.setPeerVerifyMode(QSslSocket::VerifyPeer);
    conf.setPeerVerifyDepth(3);
    conf.setLocalCertificateChain(certs.serverChain());
    conf.setPrivateKey(certs.serverKey);
    conf.setCaCertificates({certs.root});
    conf.setCiphers({QSslCipher(QStringLiteral("ECDHE-ECDSA-AES128-GCM-SHA256")),
                     QSslCipher(QStringLiteral("PSK-AES128-GCM-SHA256"))});
    conf.setDtlsCookieVerificationEnabled(false);
    conf.setPreSharedKeyIdentityHint("hint");
    conf.setAllowedNextProtocols({"proto-a", "proto-b"});
    conf.setSslOption(QSsl::SslOptionDisableServerCipherPreference, true);
    QVERIFY(dtls.setDtlsConfiguration(conf));
    QCOMPARE(dtls.dtlsError(), QDtlsError::NoError);
    QCOMPARE(dtls.dtlsConfiguration(), conf);
    const QSslConfiguration back = dtls.dtlsConfiguration();
    QCOMPARE(back.protocol(), QSsl::DtlsV1_2);
    QCOMPARE(back.peerVerifyMode(), QSslSocket::VerifyPeer);
    QCOMPARE(back.peerVerifyDepth(), 3);
    QCOMPARE(back.localCertificateChain(), certs.serverChain());
    QCOMPARE(back.privateKey(), certs.serverKey);
    QCOMPARE(back.caCertificates(), QList<QSslCertificate>{certs.root});
    QCOMPARE(back.ciphers().size(), 2);
    QVERIFY(!back.dtlsCookieVerificationEnabled());
    QCOMPARE(back.preSharedKeyIdentityHint(), QByteArray("hint"));
    QCOMPARE(back.allowedNextProtocols(), (QList<QByteArray>{"proto-a", "proto-b"}));
    QVERIFY(back.testSslOption(QSsl::SslOptionDisableServerCipherPreference));
}

void tst_Adapter::defaultConfigurationFollowsQt()
{
    const QSslConfiguration saved = QSslConfiguration::defaultDtlsConfiguration();
    QSslConfiguration changed = saved;
    changed.setPeerVerifyDepth(7);
    changed.setPreSharedKeyIdentityHint("default hint");
    QSslConfiguration::setDefaultDtlsConfiguration(changed);
    QDtls dtls(QSslSocket::SslClientMode);
    QSslConfiguration::setDefaultDtlsConfiguration(saved);
    QCOMPARE(dtls.dtlsConfiguration().peerVerifyDepth(), 7);
    QCOMPARE(dtls.dtlsConfiguration().preSharedKeyIdentityHint(), QByteArray("default hint"));
}

void tst_Adapter::setPeer_data()
{
    QTest::addColumn<QHostAddress>("address");
    QTest::addColumn<quint16>("port");
    QTest::addColumn<bool>("ok");
    QTest::newRow("null") << QHostAddress() << quint16(1234) << false;
    QTest::newRow("broadcast") << QHostAddress(QHostAddress::Broadcast) << quint16(1234) << false;
    QTest::newRow("IPv4 multicast") << QHostAddress(QStringLiteral("224.0.0.1")) << quint16(1234) << false;
    QTest::newRow("IPv6 multicast") << QHostAddress(QStringLiteral("ff02::1")) << quint16(1234) << false;
    QTest::newRow("IPv4") << QHostAddress(QHostAddress::LocalHost) << quint16(1234) << true;
    QTest::newRow("IPv6") << QHostAddress(QHostAddress::LocalHostIPv6) << quint16(4321) << true;
    QTest::newRow("port 0") << QHostAddress(QStringLiteral("192.0.2.1")) << quint16(0) << true;
}

void tst_Adapter::setPeer()
{
    QFETCH(QHostAddress, address);
    QFETCH(quint16, port);
    QFETCH(bool, ok);
    QDtls dtls(QSslSocket::SslClientMode);
    QCOMPARE(dtls.setPeer(address, port, QStringLiteral("name.example")), ok);
    if (!ok) {
        QCOMPARE(dtls.dtlsError(), QDtlsError::InvalidInputParameters);
        QVERIFY(!dtls.dtlsErrorString().isEmpty());
        QVERIFY(dtls.peerAddress().isNull());
        QCOMPARE(dtls.peerPort(), quint16(0));
        return;
    }
    QCOMPARE(dtls.dtlsError(), QDtlsError::NoError);
    QVERIFY(dtls.dtlsErrorString().isEmpty());
    QCOMPARE(dtls.peerAddress(), address);
    QCOMPARE(dtls.peerPort(), port);
    QCOMPARE(dtls.peerVerificationName(), QStringLiteral("name.example"));
    QVERIFY(dtls.setPeerVerificationName(QStringLiteral("other.example")));
    QCOMPARE(dtls.peerVerificationName(), QStringLiteral("other.example"));
}

void tst_Adapter::mtuHint()
{
    QDtls dtls(QSslSocket::SslClientMode);
    QVERIFY(!dtls.setPeer(QHostAddress(), 1)); // leaves an error
    dtls.setMtuHint(1200);
    QCOMPARE(dtls.mtuHint(), quint16(1200));
    QCOMPARE(dtls.dtlsError(), QDtlsError::InvalidInputParameters); // setMtuHint leaves the error alone
}

void tst_Adapter::doHandshakeChecks()
{
    QUdpSocket socket;
    QVERIFY(socket.bind(QHostAddress::LocalHost, 0));
    QDtls client(QSslSocket::SslClientMode);
    QVERIFY(!client.doHandshake(nullptr));
    QCOMPARE(client.dtlsError(), QDtlsError::InvalidInputParameters);
    QVERIFY(!client.doHandshake(&socket));
    QCOMPARE(client.dtlsError(), QDtlsError::InvalidOperation); // no peer
    QDtls server(QSslSocket::SslServerMode);
    QVERIFY(server.setPeer(QHostAddress::LocalHost, 1234));
    QVERIFY(!server.doHandshake(&socket, {}));
    QCOMPARE(server.dtlsError(), QDtlsError::InvalidInputParameters); // a server needs the ClientHello
    QCOMPARE(server.handshakeState(), QDtls::HandshakeNotStarted);
}

void tst_Adapter::invalidOperationsDuringHandshake()
{
    QUdpSocket silent, socket; // nobody answers on `silent`
    QVERIFY(silent.bind(QHostAddress::LocalHost, 0));
    QVERIFY(socket.bind(QHostAddress::LocalHost, 0));
    QDtls dtls(QSslSocket::SslClientMode);
    QVERIFY(dtls.setPeer(QHostAddress::LocalHost, silent.localPort()));
    QVERIFY(dtls.doHandshake(&socket));
    QCOMPARE(dtls.handshakeState(), QDtls::HandshakeInProgress);
    QCOMPARE(dtls.dtlsError(), QDtlsError::NoError);
    QVERIFY(!dtls.setPeer(QHostAddress::LocalHost, 1));
    QCOMPARE(dtls.dtlsError(), QDtlsError::InvalidOperation);
    QVERIFY(!dtls.setPeerVerificationName(QStringLiteral("x")));
    QCOMPARE(dtls.dtlsError(), QDtlsError::InvalidOperation);
    QVERIFY(!dtls.setDtlsConfiguration(QSslConfiguration::defaultDtlsConfiguration()));
    QCOMPARE(dtls.dtlsError(), QDtlsError::InvalidOperation);
    QVERIFY(!dtls.doHandshake(&socket, {}));
    QCOMPARE(dtls.dtlsError(), QDtlsError::InvalidInputParameters); // continuing needs a datagram
    QVERIFY(!dtls.doHandshake(nullptr, "x"));
    QCOMPARE(dtls.dtlsError(), QDtlsError::InvalidInputParameters);
    QVERIFY(!dtls.resumeHandshake(&socket));
    QCOMPARE(dtls.dtlsError(), QDtlsError::InvalidOperation);
    QVERIFY(!dtls.abortHandshake(nullptr));
    QCOMPARE(dtls.dtlsError(), QDtlsError::InvalidInputParameters);
    QVERIFY(dtls.abortHandshake(&socket));
    QCOMPARE(dtls.dtlsError(), QDtlsError::NoError);
    QCOMPARE(dtls.handshakeState(), QDtls::HandshakeNotStarted);
    QVERIFY(!dtls.abortHandshake(&socket));
    QCOMPARE(dtls.dtlsError(), QDtlsError::InvalidOperation);
    QVERIFY(dtls.setPeer(QHostAddress::LocalHost, silent.localPort())); // allowed again
}

void tst_Adapter::configurationErrorsAtHandshake()
{
    QUdpSocket silent, socket;
    QVERIFY(silent.bind(QHostAddress::LocalHost, 0));
    QVERIFY(socket.bind(QHostAddress::LocalHost, 0));
    {
        // A TLS protocol is stored, and refused when the handshake starts.
        QDtls dtls(QSslSocket::SslClientMode);
        QSslConfiguration conf = QSslConfiguration::defaultDtlsConfiguration();
        conf.setProtocol(QSsl::TlsV1_2);
        QVERIFY(dtls.setDtlsConfiguration(conf));
        QCOMPARE(dtls.dtlsConfiguration().protocol(), QSsl::TlsV1_2);
        QVERIFY(dtls.setPeer(QHostAddress::LocalHost, silent.localPort()));
        QVERIFY(!dtls.doHandshake(&socket));
        QCOMPARE(dtls.dtlsError(), QDtlsError::TlsInitializationError);
        QCOMPARE(dtls.handshakeState(), QDtls::HandshakeNotStarted);
    }
    {
        // A certificate without its private key.
        QDtls dtls(QSslSocket::SslClientMode);
        QSslConfiguration conf = QSslConfiguration::defaultDtlsConfiguration();
        conf.setLocalCertificate(certs.client);
        QVERIFY(dtls.setDtlsConfiguration(conf));
        QVERIFY(dtls.setPeer(QHostAddress::LocalHost, silent.localPort()));
        QVERIFY(!dtls.doHandshake(&socket));
        QCOMPARE(dtls.dtlsError(), QDtlsError::TlsInitializationError);
    }
    {
        // A certificate with somebody else's key.
        QDtls dtls(QSslSocket::SslClientMode);
        QSslConfiguration conf = QSslConfiguration::defaultDtlsConfiguration();
        conf.setLocalCertificate(certs.client);
        conf.setPrivateKey(certs.serverKey);
        QVERIFY(dtls.setDtlsConfiguration(conf));
        QVERIFY(dtls.setPeer(QHostAddress::LocalHost, silent.localPort()));
        QVERIFY(!dtls.doHandshake(&socket));
        QCOMPARE(dtls.dtlsError(), QDtlsError::TlsInitializationError);
    }
    {
        // A cipher list with nothing usable: accepted by setDtlsConfiguration,
        // refused when the handshake starts, after Qt's own checks.
        QDtls dtls(QSslSocket::SslClientMode);
        QSslConfiguration conf = QSslConfiguration::defaultDtlsConfiguration();
        conf.setCiphers({QSslCipher()});
        QCOMPARE(conf.ciphers().size(), 1);
        QVERIFY(dtls.setDtlsConfiguration(conf));
        QVERIFY(!dtls.doHandshake(nullptr));
        QCOMPARE(dtls.dtlsError(), QDtlsError::InvalidInputParameters);
        QVERIFY(!dtls.doHandshake(&socket));
        QCOMPARE(dtls.dtlsError(), QDtlsError::InvalidOperation);
        QVERIFY(dtls.setPeer(QHostAddress::LocalHost, silent.localPort()));
        QVERIFY(!dtls.doHandshake(&socket));
        QCOMPARE(dtls.dtlsError(), QDtlsError::TlsInitializationError);
        QVERIFY(!dtls.dtlsErrorString().isEmpty());
    }
    {
        // TLS 1.3 suites are not DTLS ciphers: with nothing else in the
        // list, OpenSSL's default DTLS ciphers are used, as in Qt.
        QDtls dtls(QSslSocket::SslClientMode);
        QSslConfiguration conf = QSslConfiguration::defaultDtlsConfiguration();
        conf.setCiphers({QSslCipher(QStringLiteral("TLS_AES_128_GCM_SHA256"))});
        QVERIFY(!conf.ciphers().first().isNull());
        QVERIFY(dtls.setDtlsConfiguration(conf));
        QVERIFY(dtls.setPeer(QHostAddress::LocalHost, silent.localPort()));
        QVERIFY2(dtls.doHandshake(&socket), qPrintable(dtls.dtlsErrorString()));
        QCOMPARE(dtls.handshakeState(), QDtls::HandshakeInProgress);
        QVERIFY(dtls.abortHandshake(&socket));
    }
}

void tst_Adapter::serverRequiresCookie()
{
    // Cookie verification on (the default) and no verifier: a ClientHello
    // without a cookie is refused.
    QUdpSocket serverSocket, clientSocket;
    QVERIFY(serverSocket.bind(QHostAddress::LocalHost, 0));
    QVERIFY(clientSocket.bind(QHostAddress::LocalHost, 0));
    QDtls client(QSslSocket::SslClientMode);
    QVERIFY(client.setPeer(QHostAddress::LocalHost, serverSocket.localPort()));
    QVERIFY(client.doHandshake(&clientSocket));
    QVERIFY(serverSocket.waitForReadyRead(5000));
    const QNetworkDatagram hello = serverSocket.receiveDatagram();
    QDtls server(QSslSocket::SslServerMode);
    QVERIFY(server.setPeer(hello.senderAddress(), quint16(hello.senderPort())));
    QVERIFY(!server.doHandshake(&serverSocket, hello.data()));
    QCOMPARE(server.dtlsError(), QDtlsError::TlsFatalError);
    QCOMPARE(server.handshakeState(), QDtls::HandshakeNotStarted);
    QVERIFY(client.abortHandshake(&clientSocket));
}

void tst_Adapter::pskHandshake()
{
    Server server;
    Client client;
    connectPsk(client, server);
    QCOMPARE(client.dtls.handshakeState(), QDtls::HandshakeComplete);
    QCOMPARE(client.dtls.sessionProtocol(), QSsl::DtlsV1_2);
    QCOMPARE(client.dtls.sessionCipher().name(), QStringLiteral("PSK-AES128-GCM-SHA256"));
    QCOMPARE(client.dtls.sessionCipher().protocolString(), QStringLiteral("TLSv1.2"));
    QCOMPARE(server.dtls->sessionCipher(), client.dtls.sessionCipher());
    QVERIFY(server.helloVerifyRequests >= 1);
    // The authenticators the slots saw (Qt's QSslPreSharedKeyAuthenticator).
    QCOMPARE(client.psk.calls, 1);
    QCOMPARE(server.psk.calls, 1);
    QCOMPARE(server.psk.identity, Psk().identity);
    QCOMPARE(server.psk.maximumIdentityLength, 0);
    if (fullAdapter) {
        QCOMPARE(client.psk.identityHint, Psk().hint);
        QCOMPARE(server.psk.identityHint, Psk().hint);
        QCOMPARE(client.psk.maximumIdentityLength, 255);
        QCOMPARE(client.psk.maximumPreSharedKeyLength, 512);
        QCOMPARE(server.psk.maximumPreSharedKeyLength, 512);
    }
    QCOMPARE(client.dtls.writeDatagramEncrypted(&client.socket, "hello"), qint64(5));
    QTRY_COMPARE(client.received, QList<QByteArray>{"echo: hello"});
}

void tst_Adapter::pskWithoutKeyFails()
{
    Server server;
    Client client;
    server.conf = pskConfiguration(true);
    server.pskAnswer = Psk();
    QVERIFY(client.start(pskConfiguration(false), server.port())); // the client's slot sets nothing
    QTRY_VERIFY_WITH_TIMEOUT(client.done(), 10000);
    QCOMPARE(client.psk.calls, 1);
    QVERIFY(!client.encrypted());
    QCOMPARE(client.dtls.handshakeState(), QDtls::HandshakeNotStarted);
    QCOMPARE(client.dtls.dtlsError(), QDtlsError::TlsFatalError);
}

void tst_Adapter::certificates()
{
    Server server;
    Client client;
    connectCertificates(client, server, QStringLiteral("localhost"), certs.serverChain(), certs.serverKey, {certs.root});
    QVERIFY2(client.encrypted(), qPrintable(client.dtls.dtlsErrorString()));
    QTRY_VERIFY(server.encrypted());
    QCOMPARE(client.dtls.peerVerificationName(), QStringLiteral("localhost"));
    QVERIFY(client.dtls.peerVerificationErrors().isEmpty());
    QVERIFY(!client.dtls.sessionCipher().isNull());
    QCOMPARE(client.dtls.sessionProtocol(), QSsl::DtlsV1_2);
    if (!fullAdapter)
        QSKIP("built without Qt's private API: dtlsConfiguration() carries no peer certificate");
    QCOMPARE(client.dtls.dtlsConfiguration().peerCertificate(), certs.server);
    QCOMPARE(client.dtls.dtlsConfiguration().peerCertificateChain(), certs.serverChain());
    QVERIFY(server.dtls->dtlsConfiguration().peerCertificate().isNull()); // no client certificate
}

void tst_Adapter::negotiatedProtocol()
{
    Server server;
    Client client;
    server.conf = pskConfiguration(true);
    server.conf.setAllowedNextProtocols({"webrtc", "coap"});
    server.pskAnswer = Psk();
    client.pskAnswer = Psk();
    QSslConfiguration conf = pskConfiguration(false);
    conf.setAllowedNextProtocols({"coap", "webrtc"});
    QCOMPARE(client.dtls.dtlsConfiguration().nextProtocolNegotiationStatus(),
             QSslConfiguration::NextProtocolNegotiationNone);
    QVERIFY(client.start(conf, server.port()));
    QTRY_VERIFY_WITH_TIMEOUT(client.done() && server.encrypted(), 10000);
    QVERIFY2(client.encrypted(), qPrintable(client.dtls.dtlsErrorString()));
    if (!fullAdapter)
        QSKIP("built without Qt's private API: dtlsConfiguration() carries no negotiated protocol");
    REFERENCE_DIFFERS("Qt's QDtls does not record the negotiated ALPN protocol in dtlsConfiguration()");
    // The server's preference, on both sides.
    QCOMPARE(client.dtls.dtlsConfiguration().nextNegotiatedProtocol(), QByteArray("webrtc"));
    QCOMPARE(client.dtls.dtlsConfiguration().nextProtocolNegotiationStatus(),
             QSslConfiguration::NextProtocolNegotiationNegotiated);
    QCOMPARE(server.dtls->dtlsConfiguration().nextNegotiatedProtocol(), QByteArray("webrtc"));
    QCOMPARE(server.dtls->dtlsConfiguration().nextProtocolNegotiationStatus(),
             QSslConfiguration::NextProtocolNegotiationNegotiated);
    // Still what was configured.
    QCOMPARE(client.dtls.dtlsConfiguration().allowedNextProtocols(), (QList<QByteArray>{"coap", "webrtc"}));
}

void tst_Adapter::verificationFailureAbort()
{
    Server server;
    Client client;
    connectCertificates(client, server, QStringLiteral("wrong.example"), certs.serverChain(), certs.serverKey,
                        {certs.root});
    QCOMPARE(client.dtls.handshakeState(), QDtls::PeerVerificationFailed);
    QCOMPARE(client.dtls.dtlsError(), QDtlsError::PeerVerificationError);
    QVERIFY(!client.encrypted());
    const QList<QSslError> errors = client.dtls.peerVerificationErrors();
    QCOMPARE(errors.size(), 1);
    QCOMPARE(errors.first().error(), QSslError::HostNameMismatch);
    QCOMPARE(errors.first().certificate(), certs.server);
    if (fullAdapter) // Qt stores the peer's certificate before verifying it
        QCOMPARE(client.dtls.dtlsConfiguration().peerCertificate(), certs.server);

    // Nothing ignored: resume fails with NoError and the state stays.
    QVERIFY(!client.dtls.resumeHandshake(&client.socket));
    QCOMPARE(client.dtls.dtlsError(), QDtlsError::NoError);
    QCOMPARE(client.dtls.handshakeState(), QDtls::PeerVerificationFailed);
    QVERIFY(!client.dtls.doHandshake(&client.socket, "x"));
    QCOMPARE(client.dtls.dtlsError(), QDtlsError::InvalidOperation);

    QVERIFY(client.dtls.abortHandshake(&client.socket));
    QCOMPARE(client.dtls.handshakeState(), QDtls::HandshakeNotStarted);
    QVERIFY(client.dtls.peerVerificationErrors().isEmpty());
    QVERIFY(client.dtls.sessionCipher().isNull());
    QCOMPARE(client.dtls.sessionProtocol(), QSsl::UnknownProtocol);
    // The library tells the server (Qt sends nothing): it drops the association.
    REFERENCE_DIFFERS("Qt sends no alert when it aborts after a verification failure");
    QTRY_VERIFY_WITH_TIMEOUT(server.remoteClosed, 5000);
}

void tst_Adapter::verificationFailureIgnoreResume()
{
    Server server;
    Client client;
    connectCertificates(client, server, QStringLiteral("wrong.example"), certs.serverChain(), certs.serverKey,
                        {certs.root});
    QCOMPARE(client.dtls.handshakeState(), QDtls::PeerVerificationFailed);
    client.dtls.ignoreVerificationErrors(client.dtls.peerVerificationErrors());
    QCOMPARE(client.dtls.dtlsError(), QDtlsError::PeerVerificationError); // untouched until resumed
    QVERIFY(client.dtls.resumeHandshake(&client.socket));
    QCOMPARE(client.dtls.dtlsError(), QDtlsError::NoError);
    QCOMPARE(client.dtls.handshakeState(), QDtls::HandshakeComplete);
    QVERIFY(client.encrypted());
    QVERIFY(client.dtls.peerVerificationErrors().isEmpty());
    QTRY_VERIFY(server.encrypted());
    QCOMPARE(client.dtls.writeDatagramEncrypted(&client.socket, "after resume"), qint64(12));
    QTRY_COMPARE(client.received, QList<QByteArray>{"echo: after resume"});
}

void tst_Adapter::presetIgnoredErrors()
{
    // A self-signed server certificate; the client trusts nothing but the
    // root, and knows in advance which error to expect.
    Server server;
    Client client;
    const QList<QSslError> expected = {QSslError(QSslError::SelfSignedCertificate, certs.selfSigned)};
    client.dtls.ignoreVerificationErrors(expected);
    connectCertificates(client, server, QStringLiteral("localhost"), {certs.selfSigned}, certs.selfSignedKey,
                        {certs.root});
    QVERIFY2(client.encrypted(), qPrintable(client.dtls.dtlsErrorString()));
    QCOMPARE(client.dtls.handshakeState(), QDtls::HandshakeComplete);
}

void tst_Adapter::ignoreEntryWithoutCertificate()
{
    // In Qt an error matches only with the same certificate: an entry without
    // one does not cover the server's certificate.
    Server server;
    Client client;
    client.dtls.ignoreVerificationErrors({QSslError(QSslError::SelfSignedCertificate)});
    connectCertificates(client, server, QStringLiteral("localhost"), {certs.selfSigned}, certs.selfSignedKey,
                        {certs.root});
    QCOMPARE(client.dtls.handshakeState(), QDtls::PeerVerificationFailed);
    const QList<QSslError> errors = client.dtls.peerVerificationErrors();
    QVERIFY(!errors.isEmpty());
    bool selfSigned = false;
    for (const QSslError &e : errors)
        selfSigned |= e.error() == QSslError::SelfSignedCertificate && e.certificate() == certs.selfSigned;
    QVERIFY(selfSigned);
    QVERIFY(client.dtls.abortHandshake(&client.socket));
}

void tst_Adapter::verifyNone()
{
    Server server;
    Client client;
    server.conf = QSslConfiguration::defaultDtlsConfiguration();
    server.conf.setLocalCertificate(certs.selfSigned);
    server.conf.setPrivateKey(certs.selfSignedKey);
    QSslConfiguration conf = QSslConfiguration::defaultDtlsConfiguration();
    conf.setPeerVerifyMode(QSslSocket::VerifyNone);
    QVERIFY(client.start(conf, server.port(), QStringLiteral("not.the.name")));
    QTRY_VERIFY_WITH_TIMEOUT(client.done(), 10000);
    QVERIFY2(client.encrypted(), qPrintable(client.dtls.dtlsErrorString()));
    QVERIFY(client.dtls.peerVerificationErrors().isEmpty());
}

void tst_Adapter::handshakeTimeoutSignal()
{
    // Nobody answers: handshakeTimeout() fires after the initial 1 s, and
    // handleTimeout() retransmits.
    QUdpSocket silent, socket;
    QVERIFY(silent.bind(QHostAddress::LocalHost, 0));
    QVERIFY(socket.bind(QHostAddress::LocalHost, 0));
    QDtls dtls(QSslSocket::SslClientMode);
    QSignalSpy spy(&dtls, &QDtls::handshakeTimeout);
    QVERIFY(dtls.setPeer(QHostAddress::LocalHost, silent.localPort()));
    QElapsedTimer elapsed;
    elapsed.start();
    QVERIFY(dtls.doHandshake(&socket));
    QTRY_COMPARE_WITH_TIMEOUT(spy.count(), 1, 5000);
    QVERIFY2(elapsed.elapsed() >= 950, QByteArray::number(elapsed.elapsed()).constData());
    QVERIFY(silent.hasPendingDatagrams());
    while (silent.hasPendingDatagrams())
        silent.receiveDatagram();
    QVERIFY(dtls.handleTimeout(&socket));
    QTRY_VERIFY(silent.hasPendingDatagrams()); // the ClientHello again
    QCOMPARE(spy.count(), 1);
    QVERIFY(dtls.abortHandshake(&socket));
    QTest::qWait(2200); // the timer stopped with the handshake
    REFERENCE_DIFFERS("Qt's timer keeps running after abortHandshake (and handleTimeout would then crash)");
    QCOMPARE(spy.count(), 1);

    // handleTimeout() tells whether it retransmitted.
    QVERIFY(dtls.setPeer(QHostAddress::LocalHost, silent.localPort()));
    QVERIFY(dtls.doHandshake(&socket));
    REFERENCE_DIFFERS("Qt's handleTimeout always returns true");
    QVERIFY(!dtls.handleTimeout(&socket)); // nothing due yet
    QCOMPARE(dtls.dtlsError(), QDtlsError::NoError);
}

void tst_Adapter::retransmission()
{
    // The client loses the server's first answer and recovers through
    // handshakeTimeout() -> handleTimeout(), as in Qt's examples.
    Server server;
    Client client;
    client.dropIncoming = 1;
    connectPsk(client, server);
    QVERIFY(client.timeouts >= 1);
}

void tst_Adapter::handleTimeoutWithoutHandshake()
{
    QUdpSocket socket;
    QVERIFY(socket.bind(QHostAddress::LocalHost, 0));
    if (reference)
        QSKIP("Qt's QDtls::handleTimeout crashes without a handshake");
    QDtls dtls(QSslSocket::SslClientMode);
    // Qt asserts here; the library answers false.
    QVERIFY(!dtls.handleTimeout(&socket));
    QCOMPARE(dtls.handshakeState(), QDtls::HandshakeNotStarted);
}

void tst_Adapter::shutdownAndRehandshake()
{
    Server server;
    Client client;
    connectPsk(client, server);
    const QHostAddress peer = client.dtls.peerAddress();
    const quint16 port = client.dtls.peerPort();
    QVERIFY(client.dtls.shutdown(&client.socket));
    QCOMPARE(client.dtls.dtlsError(), QDtlsError::NoError);
    QCOMPARE(client.dtls.handshakeState(), QDtls::HandshakeNotStarted);
    QVERIFY(!client.encrypted());
    QCOMPARE(client.dtls.peerAddress(), peer); // peer and configuration are kept
    QCOMPARE(client.dtls.peerPort(), port);
    QTRY_VERIFY(server.remoteClosed);
    QCOMPARE(server.dtls->dtlsError(), QDtlsError::RemoteClosedConnectionError);
    QCOMPARE(server.dtls->handshakeState(), QDtls::HandshakeNotStarted);

    // The same objects handshake again.
    server.remoteClosed = false;
    QVERIFY(client.dtls.doHandshake(&client.socket));
    QTRY_VERIFY_WITH_TIMEOUT(client.encrypted() && server.encrypted(), 10000);
    QCOMPARE(client.dtls.writeDatagramEncrypted(&client.socket, "again"), qint64(5));
    QTRY_VERIFY(client.received.contains("echo: again"));
}

void tst_Adapter::shutdownChecks()
{
    QUdpSocket socket;
    QVERIFY(socket.bind(QHostAddress::LocalHost, 0));
    QDtls dtls(QSslSocket::SslClientMode);
    QVERIFY(!dtls.shutdown(nullptr));
    QCOMPARE(dtls.dtlsError(), QDtlsError::InvalidInputParameters);
    QVERIFY(!dtls.shutdown(&socket));
    QCOMPARE(dtls.dtlsError(), QDtlsError::InvalidOperation);
}

void tst_Adapter::oversizedWriteFails()
{
    Server server;
    Client client;
    connectPsk(client, server);
    const QByteArray big(17 * 1024, 'x');
    QCOMPARE(client.dtls.writeDatagramEncrypted(&client.socket, big), qint64(-1));
    QVERIFY(client.dtls.dtlsError() != QDtlsError::NoError);
    QVERIFY(!client.dtls.dtlsErrorString().isEmpty());
    QVERIFY(client.encrypted()); // the connection stays up
    QCOMPARE(client.dtls.writeDatagramEncrypted(&client.socket, "small"), qint64(5));
    QCOMPARE(client.dtls.dtlsError(), QDtlsError::NoError);
    QTRY_COMPARE(client.received, QList<QByteArray>{"echo: small"});
}

void tst_Adapter::notEncrypted()
{
    QUdpSocket socket;
    QVERIFY(socket.bind(QHostAddress::LocalHost, 0));
    QDtls dtls(QSslSocket::SslClientMode);
    QCOMPARE(dtls.writeDatagramEncrypted(&socket, "x"), qint64(-1));
    QCOMPARE(dtls.dtlsError(), QDtlsError::InvalidOperation);
    QCOMPARE(dtls.writeDatagramEncrypted(nullptr, "x"), qint64(-1));
    QCOMPARE(dtls.dtlsError(), QDtlsError::InvalidInputParameters);
    QVERIFY(dtls.decryptDatagram(&socket, "x").isEmpty());
    QCOMPARE(dtls.dtlsError(), QDtlsError::InvalidOperation);
    QVERIFY(dtls.decryptDatagram(nullptr, "x").isEmpty());
    QCOMPARE(dtls.dtlsError(), QDtlsError::InvalidInputParameters);
}

void tst_Adapter::replayedDatagram()
{
    Server server;
    Client client;
    connectPsk(client, server);
    // Intercept one encrypted datagram on the server side.
    QObject::disconnect(&server.socket, &QUdpSocket::readyRead, nullptr, nullptr);
    QCOMPARE(client.dtls.writeDatagramEncrypted(&client.socket, "once"), qint64(4));
    QVERIFY(server.socket.waitForReadyRead(5000));
    const QByteArray encrypted = server.socket.receiveDatagram().data();
    QCOMPARE(server.dtls->decryptDatagram(&server.socket, encrypted), QByteArray("once"));
    QCOMPARE(server.dtls->dtlsError(), QDtlsError::NoError);
    QVERIFY(server.dtls->decryptDatagram(&server.socket, encrypted).isEmpty()); // replayed
    QCOMPARE(server.dtls->dtlsError(), QDtlsError::NoError);
    QVERIFY(server.dtls->decryptDatagram(&server.socket, "garbage").isEmpty());
    QVERIFY(server.dtls->isConnectionEncrypted());
}

void tst_Adapter::verifier()
{
    QUdpSocket serverSocket, clientSocket, otherSocket;
    QVERIFY(serverSocket.bind(QHostAddress::LocalHost, 0));
    QVERIFY(clientSocket.bind(QHostAddress::LocalHost, 0));
    QVERIFY(otherSocket.bind(QHostAddress::LocalHost, 0));
    QDtlsClientVerifier verifier;
    const QHostAddress local(QHostAddress::LocalHost);
    const quint16 port = clientSocket.localPort();

    QVERIFY(!verifier.verifyClient(nullptr, "x", local, port));
    QCOMPARE(verifier.dtlsError(), QDtlsError::InvalidInputParameters);
    QVERIFY(!verifier.verifyClient(&serverSocket, {}, local, port));
    QCOMPARE(verifier.dtlsError(), QDtlsError::InvalidInputParameters);
    QVERIFY(!verifier.verifyClient(&serverSocket, "x", QHostAddress(), port));
    QCOMPARE(verifier.dtlsError(), QDtlsError::InvalidInputParameters);
    QVERIFY(!verifier.verifyClient(&serverSocket, "x", QHostAddress(QHostAddress::Broadcast), port));
    QCOMPARE(verifier.dtlsError(), QDtlsError::InvalidInputParameters);
    QVERIFY(!verifier.verifyClient(&serverSocket, "x", QHostAddress(QStringLiteral("239.1.2.3")), port));
    QCOMPARE(verifier.dtlsError(), QDtlsError::InvalidInputParameters);
    QVERIFY(!verifier.verifyClient(&serverSocket, "garbage", local, port));
    QCOMPARE(verifier.dtlsError(), QDtlsError::NoError);
    QVERIFY(!clientSocket.waitForReadyRead(200)); // nothing sent for garbage

    QDtls client(QSslSocket::SslClientMode);
    QVERIFY(client.setPeer(local, serverSocket.localPort()));
    QVERIFY(client.doHandshake(&clientSocket));
    QVERIFY(serverSocket.waitForReadyRead(5000));
    const QByteArray hello = serverSocket.receiveDatagram().data();
    QVERIFY(!verifier.verifyClient(&serverSocket, hello, local, port));
    QCOMPARE(verifier.dtlsError(), QDtlsError::NoError);
    QVERIFY(verifier.verifiedHello().isEmpty());
    QVERIFY(clientSocket.waitForReadyRead(5000)); // the HelloVerifyRequest
    QVERIFY(client.doHandshake(&clientSocket, clientSocket.receiveDatagram().data()));
    QVERIFY(serverSocket.waitForReadyRead(5000));
    const QByteArray withCookie = serverSocket.receiveDatagram().data();
    QVERIFY(verifier.verifyClient(&serverSocket, withCookie, local, port));
    QCOMPARE(verifier.dtlsError(), QDtlsError::NoError);
    QCOMPARE(verifier.verifiedHello(), withCookie);
    QVERIFY(verifier.verifyClient(&serverSocket, withCookie, local, port)); // stateless
    QVERIFY(QDtlsClientVerifier().verifyClient(&serverSocket, withCookie, local, port)); // process-wide secret
    QVERIFY(!verifier.verifyClient(&serverSocket, withCookie, local, otherSocket.localPort()));
    QVERIFY(verifier.verifiedHello().isEmpty());
    QVERIFY(client.abortHandshake(&clientSocket));
}

void tst_Adapter::unboundSocketIsBound()
{
    // As QUdpSocket::writeDatagram would, the adapter binds a socket that
    // is not bound yet before the library sends on it.
    Server server;
    server.conf = pskConfiguration(true);
    server.pskAnswer = Psk();
    QUdpSocket socket;
    QCOMPARE(socket.state(), QAbstractSocket::UnconnectedState);
    QDtls client(QSslSocket::SslClientMode);
    connect(&client, &QDtls::pskRequired, this, [](QSslPreSharedKeyAuthenticator *a) {
        a->setIdentity(Psk().identity);
        a->setPreSharedKey(Psk().key);
    });
    QVERIFY(client.setDtlsConfiguration(pskConfiguration(false)));
    QVERIFY(client.setPeer(QHostAddress::LocalHost, server.port()));
    QVERIFY(client.doHandshake(&socket));
    QCOMPARE(socket.state(), QAbstractSocket::BoundState);
    connect(&socket, &QUdpSocket::readyRead, this, [&] {
        while (socket.hasPendingDatagrams())
            client.doHandshake(&socket, socket.receiveDatagram().data());
    });
    QTRY_VERIFY_WITH_TIMEOUT(client.isConnectionEncrypted(), 10000);
}

void tst_Adapter::unboundSocketBoundAsWriteDatagram()
{
    // QUdpSocket::writeDatagram binds an unbound socket to QHostAddress::Any
    // (dual-stack), whatever the destination. The adapter binds the same way,
    // so that one socket can then reach IPv4 peers in both spellings, plain
    // (127.0.0.1) and v4-mapped (::ffff:127.0.0.1, as a dual-stack server
    // sees its IPv4 clients). Qt's tst_qdtls relies on it: it hands the
    // client's socket to the server's handleTimeout.
    QUdpSocket silent;
    QVERIFY(silent.bind(QHostAddress::LocalHost, 0));
    QUdpSocket viaQt;
    QCOMPARE(viaQt.writeDatagram("x", 1, QHostAddress(QHostAddress::LocalHost), silent.localPort()), qint64(1));
    if (viaQt.localAddress() != QHostAddress(QHostAddress::Any))
        QSKIP("no dual-stack sockets here");

    QUdpSocket socket;
    QDtls v4(QSslSocket::SslClientMode);
    QVERIFY(v4.setPeer(QHostAddress::LocalHost, silent.localPort()));
    QVERIFY(v4.doHandshake(&socket));
    QCOMPARE(socket.state(), QAbstractSocket::BoundState);
    QCOMPARE(socket.localAddress(), viaQt.localAddress());
    QVERIFY(silent.waitForReadyRead(5000));
    while (silent.hasPendingDatagrams())
        silent.receiveDatagram();

    QDtls mapped(QSslSocket::SslClientMode);
    QVERIFY(mapped.setPeer(QHostAddress(QStringLiteral("::ffff:127.0.0.1")), silent.localPort()));
    QVERIFY2(mapped.doHandshake(&socket), qPrintable(mapped.dtlsErrorString()));
    QVERIFY(silent.waitForReadyRead(5000));
    QCOMPARE(silent.receiveDatagram().senderPort(), int(socket.localPort()));
    QVERIFY(v4.abortHandshake(&socket));
    QVERIFY(mapped.abortHandshake(&socket));
}

void tst_Adapter::addressFamilies_data()
{
    QTest::addColumn<QHostAddress>("serverBind");
    QTest::addColumn<QHostAddress>("clientBind");
    QTest::addColumn<QHostAddress>("target");
    const QHostAddress v4(QHostAddress::LocalHost), v6(QHostAddress::LocalHostIPv6), any(QHostAddress::Any);
    QTest::newRow("IPv4") << v4 << v4 << v4;
    QTest::newRow("IPv6") << v6 << v6 << v6;
    // A dual-stack server sees IPv4 clients as ::ffff:127.0.0.1.
    QTest::newRow("dual-stack server, IPv4 client") << any << v4 << v4;
    QTest::newRow("dual-stack both, IPv4 peer") << any << any << v4;
    QTest::newRow("dual-stack both, IPv6 peer") << any << any << v6;
    QTest::newRow("IPv4 server, dual-stack client") << v4 << any << v4;
}

void tst_Adapter::addressFamilies()
{
    QFETCH(QHostAddress, serverBind);
    QFETCH(QHostAddress, clientBind);
    QFETCH(QHostAddress, target);
    Server server(serverBind);
    Client client(clientBind);
    if (server.socket.state() != QAbstractSocket::BoundState || client.socket.state() != QAbstractSocket::BoundState)
        QSKIP("this address family is not available here");
    server.conf = pskConfiguration(true);
    server.pskAnswer = Psk();
    client.pskAnswer = Psk();
    QVERIFY(client.start(pskConfiguration(false), server.port(), QString(), target));
    QTRY_VERIFY_WITH_TIMEOUT(client.done() && server.encrypted(), 10000);
    QVERIFY2(client.encrypted(), qPrintable(client.failures.join(QStringLiteral("; "))));
    QVERIFY(server.helloVerifyRequests >= 1);
    QCOMPARE(client.dtls.writeDatagramEncrypted(&client.socket, "ping"), qint64(4));
    QTRY_COMPARE(client.received, QList<QByteArray>{"echo: ping"});
    QVERIFY(client.dtls.shutdown(&client.socket));
    QTRY_VERIFY(server.remoteClosed);
}

QTEST_GUILESS_MAIN(tst_Adapter)
#include "tst_adapter.moc"
