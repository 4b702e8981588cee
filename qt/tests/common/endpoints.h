// A DTLS client and server over QUdpSocket on loopback, written once for any
// class with Qt's QDtls API: Qt's own QDtls or qdtls::qt::QDtls (and either
// verifier). The test includes whichever QDtls headers it needs before this one.
#ifndef QDTLS_QT_TESTS_ENDPOINTS_H
#define QDTLS_QT_TESTS_ENDPOINTS_H

#include <QtCore/QByteArray>
#include <QtCore/QList>
#include <QtCore/QObject>
#include <QtCore/QString>
#include <QtNetwork/QHostAddress>
#include <QtNetwork/QNetworkDatagram>
#include <QtNetwork/QSslConfiguration>
#include <QtNetwork/QSslPreSharedKeyAuthenticator>
#include <QtNetwork/QSslSocket>
#include <QtNetwork/QUdpSocket>

#include <functional>
#include <memory>
#include <optional>
#include <type_traits>

namespace endpoints {

// Qt's and the adapter's QDtlsError are distinct enums with the same values.
enum Error { NoError = 0, InvalidInputParameters, InvalidOperation, UnderlyingSocketError, RemoteClosedConnectionError,
             PeerVerificationError, TlsInitializationError, TlsFatalError, TlsNonFatalError };
template <class E>
int code(E e)
{
    return int(e);
}

struct NoVerifier
{
};

struct Psk
{
    QByteArray identity = "qdtls Qt client";
    QByteArray key = QByteArray::fromHex("0123456789abcdef0123456789abcdef");
    QByteArray hint = "qdtls Qt server hint";
};

// What a pskRequired slot saw.
struct PskSeen
{
    int calls = 0;
    QByteArray identityHint, identity;
    int maximumIdentityLength = -1, maximumPreSharedKeyLength = -1;
    void record(const QSslPreSharedKeyAuthenticator *a)
    {
        ++calls;
        identityHint = a->identityHint();
        identity = a->identity();
        maximumIdentityLength = a->maximumIdentityLength();
        maximumPreSharedKeyLength = a->maximumPreSharedKeyLength();
    }
};

template <class Dtls>
class Client
{
public:
    QUdpSocket socket;
    Dtls dtls{QSslSocket::SslClientMode};
    QList<QByteArray> received;
    QStringList failures;
    PskSeen psk;
    std::optional<Psk> pskAnswer;
    int timeouts = 0;
    int dropIncoming = 0; // datagrams to lose on purpose
    bool remoteClosed = false;

    explicit Client(const QHostAddress &bindAddress = QHostAddress(QHostAddress::LocalHost))
    {
        socket.bind(bindAddress, 0);
        QObject::connect(&socket, &QUdpSocket::readyRead, &socket, [this] { readyRead(); });
        QObject::connect(&dtls, &Dtls::handshakeTimeout, &socket, [this] {
            ++timeouts;
            dtls.handleTimeout(&socket);
        });
        QObject::connect(&dtls, &Dtls::pskRequired, &socket, [this](QSslPreSharedKeyAuthenticator *a) {
            psk.record(a);
            if (pskAnswer) {
                a->setIdentity(pskAnswer->identity);
                a->setPreSharedKey(pskAnswer->key);
            }
        });
    }

    bool start(const QSslConfiguration &conf, quint16 serverPort, const QString &name = QStringLiteral("localhost"),
               const QHostAddress &server = QHostAddress(QHostAddress::LocalHost))
    {
        return dtls.setDtlsConfiguration(conf) && dtls.setPeer(server, serverPort, name) && dtls.doHandshake(&socket);
    }

    bool encrypted() const { return dtls.isConnectionEncrypted(); }
    bool done() const { return dtls.handshakeState() != Dtls::HandshakeInProgress; }

    void readyRead()
    {
        while (socket.hasPendingDatagrams()) {
            const QNetworkDatagram dg = socket.receiveDatagram();
            if (dropIncoming > 0) {
                --dropIncoming;
                continue;
            }
            if (dtls.handshakeState() == Dtls::HandshakeInProgress) {
                if (!dtls.doHandshake(&socket, dg.data()))
                    failures << dtls.dtlsErrorString();
            } else if (dtls.isConnectionEncrypted()) {
                const QByteArray plain = dtls.decryptDatagram(&socket, dg.data());
                if (!plain.isEmpty())
                    received << plain;
                else if (code(dtls.dtlsError()) == RemoteClosedConnectionError)
                    remoteClosed = true;
            }
        }
    }
};

template <class Dtls, class Verifier = NoVerifier>
class Server
{
public:
    using Params = typename Dtls::GeneratorParameters;
    static constexpr bool hasVerifier = !std::is_same_v<Verifier, NoVerifier>;

    QUdpSocket socket;
    QSslConfiguration conf;
    std::optional<Params> cookieParams; // for the server QDtls (the verifier's are set directly)
    std::conditional_t<hasVerifier, Verifier, NoVerifier> verifier;
    std::unique_ptr<Dtls> dtls;
    QList<QByteArray> received;
    QStringList failures;
    PskSeen psk;
    std::optional<Psk> pskAnswer;
    int helloVerifyRequests = 0;
    int dropIncoming = 0;
    bool echo = true;
    bool remoteClosed = false;
    std::function<void(Dtls &)> onCreated;

    explicit Server(const QHostAddress &bindAddress = QHostAddress(QHostAddress::LocalHost))
    {
        socket.bind(bindAddress, 0);
        QObject::connect(&socket, &QUdpSocket::readyRead, &socket, [this] { readyRead(); });
    }

    quint16 port() const { return socket.localPort(); }
    bool encrypted() const { return dtls && dtls->isConnectionEncrypted(); }

    void readyRead()
    {
        while (socket.hasPendingDatagrams()) {
            const QNetworkDatagram dg = socket.receiveDatagram();
            if (dropIncoming > 0) {
                --dropIncoming;
                continue;
            }
            datagram(dg);
        }
    }

    void datagram(const QNetworkDatagram &dg)
    {
        QByteArray data = dg.data();
        if (!dtls || dtls->handshakeState() == Dtls::HandshakeNotStarted) {
            if constexpr (hasVerifier) {
                if (!verifier.verifyClient(&socket, data, dg.senderAddress(), quint16(dg.senderPort()))) {
                    if (code(verifier.dtlsError()) != NoError)
                        failures << verifier.dtlsErrorString();
                    ++helloVerifyRequests;
                    return;
                }
                data = verifier.verifiedHello();
            }
            if (!dtls) {
                dtls = std::make_unique<Dtls>(QSslSocket::SslServerMode);
                QObject::connect(dtls.get(), &Dtls::pskRequired, &socket, [this](QSslPreSharedKeyAuthenticator *a) {
                    psk.record(a);
                    if (pskAnswer)
                        a->setPreSharedKey(pskAnswer->key);
                });
                if (cookieParams)
                    dtls->setCookieGeneratorParameters(*cookieParams);
                dtls->setDtlsConfiguration(conf);
                if (onCreated)
                    onCreated(*dtls);
            }
            if (!dtls->setPeer(dg.senderAddress(), quint16(dg.senderPort())) || !dtls->doHandshake(&socket, data))
                failures << dtls->dtlsErrorString();
            return;
        }
        if (dtls->handshakeState() == Dtls::HandshakeInProgress) {
            if (!dtls->doHandshake(&socket, data))
                failures << dtls->dtlsErrorString();
        } else if (dtls->isConnectionEncrypted()) {
            const QByteArray plain = dtls->decryptDatagram(&socket, data);
            if (!plain.isEmpty()) {
                received << plain;
                if (echo)
                    dtls->writeDatagramEncrypted(&socket, QByteArrayLiteral("echo: ") + plain);
            } else if (code(dtls->dtlsError()) == RemoteClosedConnectionError) {
                remoteClosed = true;
            }
        }
    }
};

} // namespace endpoints

#endif // QDTLS_QT_TESTS_ENDPOINTS_H
