// A secure UDP server (on QDtlsServer) and three clients (on QDtls) in the
// style of Qt's DTLS examples, written against the adapter with
// QUdpSocket/readyRead and an event loop.
#include "secureudp/association.h"
#include "secureudp/server.h"

#include <QtTest/QtTest>

class tst_SecureUdp : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void threeClients();
};

void tst_SecureUdp::threeClients()
{
    DtlsServer server;
    QStringList serverErrors, clientErrors, closed;
    QMap<QString, QList<QByteArray>> serverGot;
    connect(&server, &DtlsServer::errorMessage, this, [&](const QString &m) { serverErrors << m; });
    connect(&server, &DtlsServer::datagramReceived, this,
            [&](const QString &peer, const QByteArray &plain) { serverGot[peer] << plain; });
    connect(&server, &DtlsServer::peerClosed, this, [&](const QString &peer) { closed << peer; });
    QVERIFY(server.listen(QHostAddress::LocalHost, 0));
    QVERIFY(server.isListening());

    const int pings = 3;
    std::vector<std::unique_ptr<DtlsAssociation>> clients;
    QMap<QString, QList<QByteArray>> answers;
    QStringList finished;
    for (const QString &name : {QStringLiteral("alice"), QStringLiteral("bob"), QStringLiteral("carol")}) {
        auto client = std::make_unique<DtlsAssociation>(QHostAddress::LocalHost, server.serverPort(), name, pings);
        connect(client.get(), &DtlsAssociation::errorMessage, this, [&](const QString &m) { clientErrors << m; });
        connect(client.get(), &DtlsAssociation::serverResponse, this,
                [&](const QString &who, const QByteArray &, const QByteArray &plain) { answers[who] << plain; });
        connect(client.get(), &DtlsAssociation::finished, this, [&](const QString &who) { finished << who; });
        client->startHandshake();
        clients.push_back(std::move(client));
    }

    QTRY_COMPARE_WITH_TIMEOUT(finished.size(), 3, 20000);
    QTRY_COMPARE_WITH_TIMEOUT(closed.size(), 3, 5000);
    QVERIFY2(serverErrors.isEmpty(), qPrintable(serverErrors.join(QStringLiteral("; "))));
    QVERIFY2(clientErrors.isEmpty(), qPrintable(clientErrors.join(QStringLiteral("; "))));
    QCOMPARE(server.peerCount(), 0);
    QCOMPARE(serverGot.size(), 3);
    for (const auto &client : clients) {
        QCOMPARE(client->answers(), pings);
        const QList<QByteArray> got = answers.value(client->name());
        QCOMPARE(got.size(), pings);
        for (const QByteArray &answer : got)
            QVERIFY2(answer.startsWith("to (127.0.0.1:") && answer.endsWith("): ACK"), answer.constData());
    }
    for (const auto &pingsSeen : std::as_const(serverGot)) {
        QCOMPARE(pingsSeen.size(), pings);
        for (int i = 0; i < pings; ++i)
            QVERIFY(pingsSeen.at(i).endsWith(", please, accept our ping " + QByteArray::number(i)));
    }
}

QTEST_GUILESS_MAIN(tst_SecureUdp)
#include "tst_secureudp.moc"
