// Qt's own QDtls / QDtlsClientVerifier (QtNetwork, OpenSSL backend) over
// QUdpSocket. A QCoreApplication exists (QUdpSocket and QDtls need one), but
// the event loop never runs: the benchmark drives everything synchronously.
// Datagrams are read with QUdpSocket::readDatagram (hasPendingDatagrams to
// find the end of a flight during handshakes; on the data path the reader
// knows a datagram is queued and reads it directly), QDtls writes through
// QUdpSocket::writeDatagram as it always does, and pskRequired is a direct
// connection that runs inside the handshake call. No signal needs the loop.
//
// This file is compiled twice, into two executables: as Qt code against Qt's
// own QDtls (qdtls_bench_qt, "qt"), and with BENCH_QT_ADAPTER defined against
// the qdtls Qt adapter (qdtls_bench_qt_adapter, "qt-adapter"), whose
// <qdtls/QDtls> makes QDtls and QDtlsClientVerifier name qdtls::qt::QDtls and
// qdtls::qt::QDtlsClientVerifier, as a Qt program switched to the adapter
// would. Everything below the includes is the same code for both columns.
#ifdef BENCH_QT_ADAPTER
// First, before any Qt header that might pull in Qt's own qdtls.h.
#include <qdtls/QDtls>
#include <qdtls/QDtlsClientVerifier>

#include <type_traits>
// Otherwise the adapter column would measure Qt's QDtls.
static_assert(std::is_same_v<QDtls, ::qdtls::qt::QDtls> &&
                  std::is_same_v<QDtlsClientVerifier, ::qdtls::qt::QDtlsClientVerifier>,
              "<qdtls/QDtls> did not make QDtls the adapter's");
#define BENCH_QT_LABEL "qt-adapter"
#else
#include <QDtls>
#include <QDtlsClientVerifier>
#define BENCH_QT_LABEL "qt"
#endif

#include "bench.hpp"

#include <QCoreApplication>
#include <QHostAddress>
#include <QSslCertificate>
#include <QSslCipher>
#include <QSslConfiguration>
#include <QSslKey>
#include <QSslPreSharedKeyAuthenticator>
#include <QSslSocket>
#include <QUdpSocket>

#include <cstring>
#include <vector>

namespace bench {
namespace {

void psk(QSslPreSharedKeyAuthenticator *a) {
    a->setIdentity(QByteArray(kPskIdentity));
    a->setPreSharedKey(QByteArray(kPskKey));
}

bool bind_local(QUdpSocket &s) { return s.bind(QHostAddress(QHostAddress::LocalHost), 0); }

class QtImpl final : public Impl {
public:
    const char *name() const override { return BENCH_QT_LABEL; }

    bool handshake_setup(Kind kind, const Options &o) override {
        if (!checked_) {
            BENCH_CHECK(QSslSocket::supportsSsl(), "Qt has no TLS backend");
            checked_ = true;
        }
        kind_ = kind;
        QSslConfiguration base = QSslConfiguration::defaultDtlsConfiguration();
        base.setProtocol(QSsl::DtlsV1_2);
        base.setDtlsCookieVerificationEnabled(false);
        QSslCipher cipher(QString::fromLatin1(kind == Kind::Psk ? kPskCipher : kEcdsaCipher));
        BENCH_CHECK(!cipher.isNull(), "Qt does not know the cipher");
        base.setCiphers(QList<QSslCipher>{cipher});
        client_ = server_ = base;
        server_.setPeerVerifyMode(QSslSocket::VerifyNone);
        if (kind == Kind::Psk) {
            client_.setPeerVerifyMode(QSslSocket::VerifyNone);
        } else {
            auto ca = QSslCertificate::fromData(QByteArray::fromStdString(read_file(o.cert_dir + "/ca.pem")));
            auto cert = QSslCertificate::fromData(QByteArray::fromStdString(read_file(o.cert_dir + "/server.pem")));
            QSslKey key(QByteArray::fromStdString(read_file(o.cert_dir + "/server.key")), QSsl::Ec);
            BENCH_CHECK(!ca.isEmpty() && !cert.isEmpty() && !key.isNull(), "certificates");
            client_.setPeerVerifyMode(QSslSocket::VerifyPeer);
            client_.setCaCertificates(ca);
            server_.setLocalCertificateChain(cert);
            server_.setPrivateKey(key);
        }
        return true;
    }

    bool handshake_once() override {
        QUdpSocket cs, ss;
        BENCH_CHECK(bind_local(cs) && bind_local(ss), "bind");
        auto c = make(QSslSocket::SslClientMode, ss);
        auto s = make(QSslSocket::SslServerMode, cs);
        return handshake(*c, cs, *s, ss);
    }

    bool data_setup(const Options &o) override {
        if (!handshake_setup(Kind::Psk, o))
            return false;
        dcs_ = std::make_unique<QUdpSocket>();
        dss_ = std::make_unique<QUdpSocket>();
        BENCH_CHECK(bind_local(*dcs_) && bind_local(*dss_), "bind");
        dc_ = make(QSslSocket::SslClientMode, *dss_);
        ds_ = make(QSslSocket::SslServerMode, *dcs_);
        payload_ = QByteArray(static_cast<int>(kPayload), 'x');
        return handshake(*dc_, *dcs_, *ds_, *dss_);
    }

    bool data_write() override {
        return dc_->writeDatagramEncrypted(dcs_.get(), payload_) == static_cast<qint64>(kPayload);
    }

    bool data_read() override {
        qint64 n = dss_->readDatagram(buf_, sizeof buf_);
        BENCH_CHECK(n > 0, "no datagram");
        QByteArray plain = ds_->decryptDatagram(dss_.get(), QByteArray::fromRawData(buf_, static_cast<int>(n)));
        BENCH_CHECK(plain.size() == static_cast<int>(kPayload), "decrypt: %s",
                    ds_->dtlsErrorString().toLocal8Bit().constData());
        return true;
    }

    bool memory_setup(const Options &o) override {
        if (!handshake_setup(Kind::Psk, o))
            return false;
        mcs_ = std::make_unique<QUdpSocket>();
        mss_ = std::make_unique<QUdpSocket>();
        BENCH_CHECK(bind_local(*mcs_) && bind_local(*mss_), "bind");
        keep_clients_ = o.keep_clients;
        bool ok = memory_add_session();
        servers_.clear();
        clients_.clear();
        servers_.reserve(static_cast<std::size_t>(o.sessions));
        if (keep_clients_)
            clients_.reserve(static_cast<std::size_t>(o.sessions));
        return ok;
    }

    bool memory_add_session() override {
        auto c = make(QSslSocket::SslClientMode, *mss_);
        auto s = make(QSslSocket::SslServerMode, *mcs_);
        bool ok = handshake(*c, *mcs_, *s, *mss_);
        servers_.push_back(std::move(s));
        if (keep_clients_)
            clients_.push_back(std::move(c));
        return ok;
    }

    bool cookie_setup(std::uint16_t client_port) override {
        vs_ = std::make_unique<QUdpSocket>();
        BENCH_CHECK(bind_local(*vs_), "bind");
        client_port_ = client_port;
        return true;
    }
    std::uint16_t cookie_server_port() const override { return vs_->localPort(); }
    bool cookie_verify(const std::uint8_t *hello, std::size_t len) override {
        return verifier_.verifyClient(
            vs_.get(), QByteArray::fromRawData(reinterpret_cast<const char *>(hello), static_cast<int>(len)),
            QHostAddress(QHostAddress::LocalHost), client_port_);
    }

private:
    std::unique_ptr<QDtls> make(QSslSocket::SslMode mode, const QUdpSocket &peer) {
        auto d = std::make_unique<QDtls>(mode);
        bool client = mode == QSslSocket::SslClientMode;
        d->setDtlsConfiguration(client ? client_ : server_);
        d->setPeer(QHostAddress(QHostAddress::LocalHost), peer.localPort(),
                   client && kind_ == Kind::Ecdsa ? QString::fromLatin1(kServerName) : QString());
        d->setMtuHint(kMtu);
        QObject::connect(d.get(), &QDtls::pskRequired, psk);
        return d;
    }

    // Every queued datagram to `d`; -1 on a handshake error.
    int feed(QDtls &d, QUdpSocket &sock) {
        int count = 0;
        while (sock.hasPendingDatagrams()) {
            qint64 n = sock.readDatagram(buf_, sizeof buf_);
            if (n < 0)
                break;
            ++count;
            if (d.handshakeState() == QDtls::HandshakeComplete)
                continue;
            if (!d.doHandshake(&sock, QByteArray::fromRawData(buf_, static_cast<int>(n)))) {
                std::fprintf(stderr, "Qt handshake: %s\n", d.dtlsErrorString().toLocal8Bit().constData());
                return -1;
            }
        }
        return count;
    }

    bool handshake(QDtls &c, QUdpSocket &cs, QDtls &s, QUdpSocket &ss) {
        BENCH_CHECK(c.doHandshake(&cs), "client start: %s", c.dtlsErrorString().toLocal8Bit().constData());
        for (int idle = 0; !(c.isConnectionEncrypted() && s.isConnectionEncrypted());) {
            int a = feed(s, ss), b = feed(c, cs);
            BENCH_CHECK(a >= 0 && b >= 0, "handshake failed");
            if (a + b == 0) {
                BENCH_CHECK(++idle < 100, "handshake stuck");
                wait_readable(static_cast<int>(cs.socketDescriptor()), static_cast<int>(ss.socketDescriptor()), 20);
            }
        }
        handshake_completed();
        return true;
    }

    Kind kind_ = Kind::Psk;
    bool checked_ = false;
    QSslConfiguration client_, server_;
    char buf_[2048];
    QByteArray payload_;
    std::unique_ptr<QUdpSocket> dcs_, dss_, mcs_, mss_, vs_;
    std::unique_ptr<QDtls> dc_, ds_;
    std::vector<std::unique_ptr<QDtls>> servers_, clients_;
    bool keep_clients_ = false;
    QDtlsClientVerifier verifier_;
    quint16 client_port_ = 0;
};

} // namespace

std::unique_ptr<Impl> make_impl(int &argc, char **argv) {
    static QCoreApplication app(argc, argv);
    return std::make_unique<QtImpl>();
}

} // namespace bench
