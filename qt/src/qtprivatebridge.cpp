// See qtprivatebridge.h. The only file of the adapter that sees Qt's private
// headers; it needs nothing of qdtls.
#include "qtprivatebridge.h"

#include <QtNetwork/private/qtlsbackend_p.h>

namespace qdtls {
namespace qt {
namespace bridge {

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
