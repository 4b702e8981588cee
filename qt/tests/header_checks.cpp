// Compile-time checks of the public headers (built, never run).
//
// 1. <qdtls/qdtls_qt.h> is self-contained and declares no global names.
// 2. With QDTLS_NO_GLOBAL_ALIASES, <qdtls/QDtls> declares no aliases and
//    leaves QDTLS_H alone, so Qt's own header can follow in the same file.
// 3. <qdtls/QDtlsServer> goes with Qt's own QDtls in one file.
#include <qdtls/qdtls_qt.h>

#define QDTLS_NO_GLOBAL_ALIASES
#include <qdtls/QDtls>
#include <qdtls/QDtlsClientVerifier>

#ifdef QDTLS_QT_GLOBAL_ALIASES
#error "QDTLS_NO_GLOBAL_ALIASES must suppress the global aliases"
#endif
#ifdef QDTLS_H
#error "without aliases, <qdtls/QDtls> must not define QDTLS_H"
#endif

#include <QtNetwork/QDtls> // Qt's classes, side by side with the adapter's

#include <type_traits>

static_assert(!std::is_same_v<::QDtls, qdtls::qt::QDtls>, "two distinct classes");
static_assert(!std::is_same_v<::QDtlsError, qdtls::qt::QDtlsError>, "two distinct enums");
static_assert(int(::QDtlsError::TlsNonFatalError) == int(qdtls::qt::QDtlsError::TlsNonFatalError), "same values");
static_assert(int(::QDtls::HandshakeComplete) == int(qdtls::qt::QDtls::HandshakeComplete), "same values");
static_assert(std::is_same_v<decltype(&::QDtls::doHandshake), bool (::QDtls::*)(QUdpSocket *, const QByteArray &)>
                  && std::is_same_v<decltype(&qdtls::qt::QDtls::doHandshake),
                                    bool (qdtls::qt::QDtls::*)(QUdpSocket *, const QByteArray &)>,
              "the same signature");
static_assert(std::is_same_v<decltype(&::QDtls::pskRequired), void (::QDtls::*)(QSslPreSharedKeyAuthenticator *)>
                  && std::is_same_v<decltype(&qdtls::qt::QDtls::pskRequired),
                                    void (qdtls::qt::QDtls::*)(QSslPreSharedKeyAuthenticator *)>,
              "pskRequired takes Qt's own authenticator");

// 3. <qdtls/QDtlsServer> with QDTLS_NO_GLOBAL_ALIASES: the namespaced classes,
//    with Qt's types in their signals.
#include <qdtls/QDtlsServer>

static_assert(std::is_base_of_v<QObject, qdtls::qt::QDtlsServer>
                  && std::is_base_of_v<QObject, qdtls::qt::QDtlsServerPeer>, "QObjects");
static_assert(std::is_same_v<decltype(&qdtls::qt::QDtlsServer::pskRequired),
                             void (qdtls::qt::QDtlsServer::*)(qdtls::qt::QDtlsServerPeer *,
                                                              QSslPreSharedKeyAuthenticator *)>,
              "pskRequired takes Qt's own authenticator");
static_assert(std::is_same_v<decltype(&qdtls::qt::QDtlsServer::setCookieGeneratorParameters),
                             bool (qdtls::qt::QDtlsServer::*)(
                                 const qdtls::qt::QDtlsClientVerifier::GeneratorParameters &)>,
              "the adapter's GeneratorParameters");
