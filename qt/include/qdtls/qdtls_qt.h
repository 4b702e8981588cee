// qdtls_qt.h: the Qt adapter of qdtls. qdtls::qt::QDtls and
// qdtls::qt::QDtlsClientVerifier have exactly the public API of Qt's QDtls and
// QDtlsClientVerifier (Qt 6, and Qt 5.15 where Qt 5's API differs), implemented
// over the qdtls library (through its C++ shim, <qdtls/qdtls.hpp>) instead of
// Qt's own DTLS backend.
//
// This header declares everything inside namespace qdtls::qt and includes
// nothing of the library: the shim's classes (qdtls::QDtls, ...) are an
// implementation detail. Include <qdtls/QDtls> instead to make unchanged Qt
// code use the adapter through global aliases.
//
// Differences from Qt that an application can observe are listed in the
// adapter's README.md.
#ifndef QDTLS_QT_QDTLS_QT_H
#define QDTLS_QT_QDTLS_QT_H

#include <QtCore/qbytearray.h>
#include <QtCore/qcryptographichash.h>
#include <QtCore/qglobal.h>
#include <QtCore/qlist.h>
#include <QtCore/qobject.h>
#include <QtCore/qscopedpointer.h>
#include <QtCore/qstring.h>
#include <QtNetwork/qssl.h>
#include <QtNetwork/qsslerror.h>
#include <QtNetwork/qsslpresharedkeyauthenticator.h>
#include <QtNetwork/qsslsocket.h>
#if QT_VERSION < QT_VERSION_CHECK(6, 0, 0)
#include <QtCore/qvector.h>
#endif

#if defined(QDTLS_QT_BUILDING_LIBRARY)
#define QDTLS_QT_EXPORT Q_DECL_EXPORT
#else
#define QDTLS_QT_EXPORT Q_DECL_IMPORT
#endif

QT_BEGIN_NAMESPACE
class QHostAddress;
class QUdpSocket;
class QSslCipher;
class QSslConfiguration;
QT_END_NAMESPACE

namespace qdtls {
namespace qt {

// Qt's types, also under the adapter's namespace (Qt may live in QT_NAMESPACE).
using QT_PREPEND_NAMESPACE(QByteArray);
using QT_PREPEND_NAMESPACE(QCryptographicHash);
using QT_PREPEND_NAMESPACE(QHostAddress);
using QT_PREPEND_NAMESPACE(QObject);
using QT_PREPEND_NAMESPACE(QSslCipher);
using QT_PREPEND_NAMESPACE(QSslConfiguration);
using QT_PREPEND_NAMESPACE(QSslError);
using QT_PREPEND_NAMESPACE(QSslPreSharedKeyAuthenticator);
using QT_PREPEND_NAMESPACE(QSslSocket);
using QT_PREPEND_NAMESPACE(QString);
using QT_PREPEND_NAMESPACE(QUdpSocket);
namespace QSsl = QT_PREPEND_NAMESPACE(QSsl);

// Qt's QDtlsError, with Qt's values.
enum class QDtlsError : unsigned char
{
    NoError,
    InvalidInputParameters,
    InvalidOperation,
    UnderlyingSocketError,
    RemoteClosedConnectionError,
    PeerVerificationError,
    TlsInitializationError,
    TlsFatalError,
    TlsNonFatalError
};

class QDtlsClientVerifierPrivate;
class QDTLS_QT_EXPORT QDtlsClientVerifier : public QObject
{
    Q_OBJECT

public:

    explicit QDtlsClientVerifier(QObject *parent = nullptr);
    ~QDtlsClientVerifier() override;

    struct QDTLS_QT_EXPORT GeneratorParameters
    {
        GeneratorParameters();
        GeneratorParameters(QCryptographicHash::Algorithm a, const QByteArray &s);
        QCryptographicHash::Algorithm hash = QCryptographicHash::Sha1;
        QByteArray secret;
    };

    bool setCookieGeneratorParameters(const GeneratorParameters &params);
    GeneratorParameters cookieGeneratorParameters() const;

    bool verifyClient(QUdpSocket *socket, const QByteArray &dgram,
                      const QHostAddress &address, quint16 port);
    QByteArray verifiedHello() const;

    QDtlsError dtlsError() const;
    QString dtlsErrorString() const;

private:

    QScopedPointer<QDtlsClientVerifierPrivate> d;
    Q_DISABLE_COPY(QDtlsClientVerifier)
};

class QDtlsPrivate;
class QDTLS_QT_EXPORT QDtls : public QObject
{
    Q_OBJECT

public:

    enum HandshakeState
    {
        HandshakeNotStarted,
        HandshakeInProgress,
        PeerVerificationFailed,
        HandshakeComplete
    };

    explicit QDtls(QSslSocket::SslMode mode, QObject *parent = nullptr);
    ~QDtls() override;

    bool setPeer(const QHostAddress &address, quint16 port,
                 const QString &verificationName = {});
    bool setPeerVerificationName(const QString &name);
    QHostAddress peerAddress() const;
    quint16 peerPort() const;
    QString peerVerificationName() const;
    QSslSocket::SslMode sslMode() const;

    void setMtuHint(quint16 mtuHint);
    quint16 mtuHint() const;

    using GeneratorParameters = QDtlsClientVerifier::GeneratorParameters;
    bool setCookieGeneratorParameters(const GeneratorParameters &params);
    GeneratorParameters cookieGeneratorParameters() const;

    bool setDtlsConfiguration(const QSslConfiguration &configuration);
    QSslConfiguration dtlsConfiguration() const;

    HandshakeState handshakeState() const;

    bool doHandshake(QUdpSocket *socket, const QByteArray &dgram = {});
    bool handleTimeout(QUdpSocket *socket);
    bool resumeHandshake(QUdpSocket *socket);
    bool abortHandshake(QUdpSocket *socket);
    bool shutdown(QUdpSocket *socket);

    bool isConnectionEncrypted() const;
    QSslCipher sessionCipher() const;
    QSsl::SslProtocol sessionProtocol() const;

    qint64 writeDatagramEncrypted(QUdpSocket *socket, const QByteArray &dgram);
    QByteArray decryptDatagram(QUdpSocket *socket, const QByteArray &dgram);

    QDtlsError dtlsError() const;
    QString dtlsErrorString() const;

#if QT_VERSION >= QT_VERSION_CHECK(6, 0, 0)
    QList<QSslError> peerVerificationErrors() const;
    void ignoreVerificationErrors(const QList<QSslError> &errorsToIgnore);
#else
    QVector<QSslError> peerVerificationErrors() const;
    void ignoreVerificationErrors(const QVector<QSslError> &errorsToIgnore);
#endif

Q_SIGNALS:

    void pskRequired(QSslPreSharedKeyAuthenticator *authenticator);
    void handshakeTimeout();

private:

    friend class QDtlsPrivate;
    QScopedPointer<QDtlsPrivate> d;
    Q_DISABLE_COPY_MOVE(QDtls)
};

} // namespace qt
} // namespace qdtls

#endif // QDTLS_QT_QDTLS_QT_H
