// A DTLS client as a Qt program writes it for Qt's QDtls: only Qt's umbrella
// headers. The QDtls is a member by value, so sizeof(PingClient) depends on
// which QDtls this header sees; main.cpp allocates it, pingclient.cpp uses it.
#ifndef ONEDEFINITION_PINGCLIENT_H
#define ONEDEFINITION_PINGCLIENT_H

#include <QtCore>
#include <QtNetwork>

class PingClient
{
public:
    PingClient(const QHostAddress &server, quint16 port);
    void start();
    bool answered() const { return !answer.isEmpty(); }
    QByteArray answer;
    QString failure;
    QDtls dtls;
    QUdpSocket socket;
    int timeouts = 0;

private:
    void readPending();
};

#endif
