// A Qt DTLS program in several translation units, written for Qt's QDtls
// (only <QtCore> and <QtNetwork>): a PingClient (QDtls member by value) is
// allocated here and used in pingclient.cpp; the server creates its QDtls
// objects with new in echoserver.cpp. Prints which QDtls class ran.
#include "echoserver.h"
#include "pingclient.h"

#include <cstdio>
#include <memory>

int main(int argc, char **argv)
{
    QCoreApplication app(argc, argv);
    EchoServer server;
    if (!server.listen())
        return 2;
    std::unique_ptr<PingClient> client(new PingClient(QHostAddress::LocalHost, server.port()));
    client->start();
    QElapsedTimer timer;
    timer.start();
    while (!client->answered() && client->failure.isEmpty() && timer.elapsed() < 10000)
        QCoreApplication::processEvents(QEventLoop::WaitForMoreEvents, 100);
    PeerSession *session = server.session(QHostAddress::LocalHost, client->socket.localPort());
    const bool ok = client->answer == "echo: ping" && server.echoed() == QList<QByteArray>{"ping"} && session
                    && session->dtls->isConnectionEncrypted() && client->dtls.sessionCipher() == session->dtls->sessionCipher();
    std::printf("%s, %s: %s%s%s\n", client->dtls.metaObject()->className(),
                qPrintable(client->dtls.sessionCipher().name()), ok ? "handshake and echo ok" : "FAILED",
                client->failure.isEmpty() ? "" : " - ", qPrintable(client->failure));
    return ok ? 0 : 1;
}
