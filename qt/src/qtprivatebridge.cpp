// See qtprivatebridge.h. The only file of the adapter that sees Qt's private
// headers; it needs nothing of qdtls.
#include "qtprivatebridge.h"

#include <QtNetwork/private/qsslconfiguration_p.h>
#include <QtNetwork/private/qtlsbackend_p.h>

namespace qdtls {
namespace qt {
namespace bridge {

namespace {
// QSslConfiguration's data pointer. Qt writes nextNegotiatedProtocol only
// through QSslSocketPrivate (QTlsBackend::setNegotiatedProtocol); a
// configuration's fields are reachable only by its friends. An explicit
// instantiation may name a private member ([temp.spec.general]/6), so this
// template hands out the pointer to member `d`, whose type, like the
// QSslConfigurationPrivate fields written below, is fixed by the exact Qt
// version this file is built against (as for every use of Qt's private API).
using DataPointer = QSharedDataPointer<QSslConfigurationPrivate> QSslConfiguration::*;

DataPointer configurationData();

template <DataPointer Member> struct ConfigurationDataAccess {
    friend DataPointer configurationData() { return Member; }
};
template struct ConfigurationDataAccess<&QSslConfiguration::d>;
} // namespace

void setNegotiatedProtocol(QSslConfiguration &configuration, const QByteArray &protocol)
{
    // Non-const access detaches: copies of the configuration keep their values.
    QSslConfigurationPrivate *p = (configuration.*configurationData()).data();
    p->nextNegotiatedProtocol = protocol;
    p->nextProtocolNegotiationStatus = protocol.isEmpty() ? QSslConfiguration::NextProtocolNegotiationNone
                                                          : QSslConfiguration::NextProtocolNegotiationNegotiated;
}

void setPeerCertificates(QSslConfiguration &configuration, const QSslCertificate &peer,
                         const QList<QSslCertificate> &chain)
{
    QTlsBackend::clearPeerCertificates(configuration);
    if (!peer.isNull())
        QTlsBackend::storePeerCertificate(configuration, peer);
    if (!chain.isEmpty())
        QTlsBackend::storePeerCertificateChain(configuration, chain);
}

void setupClientPsk(QSslPreSharedKeyAuthenticator *auth, const QByteArray &hint, int maxIdentityLength,
                    int maxPreSharedKeyLength)
{
    // Qt stores maxIdentityLen - 1 (room for OpenSSL's terminating NUL).
    QTlsBackend::setupClientPskAuth(auth, hint.isEmpty() ? nullptr : hint.constData(), int(hint.size()),
                                    unsigned(maxIdentityLength + 1), unsigned(maxPreSharedKeyLength));
}

void setupServerPsk(QSslPreSharedKeyAuthenticator *auth, const QByteArray &identity, const QByteArray &hint,
                    int maxPreSharedKeyLength)
{
    QTlsBackend::setupServerPskAuth(auth, identity.constData(), hint, unsigned(maxPreSharedKeyLength));
}

} // namespace bridge
} // namespace qt
} // namespace qdtls
