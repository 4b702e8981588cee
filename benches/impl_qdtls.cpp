// qdtls through its C ABI (include/qdtls/qdtls.h), as a C or C++ server would use it:
// the application reads datagrams from its own sockets and passes them in;
// the library sends on the descriptor. One configuration per role, shared by
// every session (qdtls builds one SSL_CTX per configuration).
#include "bench.hpp"

#include <qdtls/qdtls.h>

#include <arpa/inet.h>

#include <cstring>
#include <vector>

namespace bench {
namespace {

void psk_callback(void *, qdtls_psk_authenticator *a) {
    qdtls_psk_set_identity(a, reinterpret_cast<const std::uint8_t *>(kPskIdentity), std::strlen(kPskIdentity));
    qdtls_psk_set_pre_shared_key(a, reinterpret_cast<const std::uint8_t *>(kPskKey), std::strlen(kPskKey));
}

std::string error_of(const qdtls_connection *h) {
    char buf[512];
    qdtls_dtls_error_string(h, buf, sizeof buf);
    return buf;
}

class QdtlsImpl final : public Impl {
public:
    ~QdtlsImpl() override {
        qdtls_free(data_client_);
        qdtls_free(data_server_);
        for (qdtls_connection *s : servers_)
            qdtls_free(s);
        for (qdtls_connection *c : clients_)
            qdtls_free(c);
        qdtls_client_verifier_free(verifier_);
        qdtls_configuration_free(client_cfg_);
        qdtls_configuration_free(server_cfg_);
    }
    const char *name() const override { return "qdtls"; }

    bool handshake_setup(Kind kind, const Options &o) override {
        kind_ = kind;
        qdtls_configuration_free(client_cfg_);
        qdtls_configuration_free(server_cfg_);
        client_cfg_ = qdtls_configuration_new();
        server_cfg_ = qdtls_configuration_new();
        for (qdtls_configuration *c : {client_cfg_, server_cfg_}) {
            qdtls_configuration_set_protocol(c, QDTLS_PROTOCOL_DTLS_V1_2);
            qdtls_configuration_set_dtls_cookie_verification_enabled(c, false);
            BENCH_CHECK(qdtls_configuration_set_ciphers(c, kind == Kind::Psk ? kPskCipher : kEcdsaCipher), "ciphers");
        }
        qdtls_configuration_set_peer_verify_mode(server_cfg_, QDTLS_VERIFY_NONE);
        if (kind == Kind::Psk) {
            qdtls_configuration_set_peer_verify_mode(client_cfg_, QDTLS_VERIFY_NONE);
        } else {
            std::string ca = read_file(o.cert_dir + "/ca.pem"), cert = read_file(o.cert_dir + "/server.pem"),
                        key = read_file(o.cert_dir + "/server.key");
            BENCH_CHECK(!ca.empty() && !cert.empty() && !key.empty(), "certificates missing in '%s'",
                        o.cert_dir.c_str());
            qdtls_configuration_set_peer_verify_mode(client_cfg_, QDTLS_VERIFY_PEER);
            BENCH_CHECK(qdtls_configuration_add_ca_certificates(client_cfg_, ca.data(), ca.size()), "CA");
            BENCH_CHECK(qdtls_configuration_set_local_certificate_chain(server_cfg_, cert.data(), cert.size()), "cert");
            BENCH_CHECK(qdtls_configuration_set_private_key(server_cfg_, key.data(), key.size(), nullptr), "key");
        }
        return true;
    }

    bool handshake_once() override {
        UdpSocket cs, ss;
        qdtls_connection *c = make(QDTLS_SSL_CLIENT_MODE, ss);
        qdtls_connection *s = make(QDTLS_SSL_SERVER_MODE, cs);
        bool ok = handshake(c, cs.fd, s, ss.fd);
        qdtls_free(c);
        qdtls_free(s);
        return ok;
    }

    // Scenario 2r: resumption on in both configurations; the client's
    // session from one full handshake, offered by every new client.
    bool resumed_setup(const Options &o) override {
        if (!handshake_setup(Kind::Ecdsa, o))
            return false;
        BENCH_CHECK(qdtls_configuration_set_session_resumption(client_cfg_, true) &&
                        qdtls_configuration_set_session_resumption(server_cfg_, true),
                    "session resumption");
        UdpSocket cs, ss;
        qdtls_connection *c = make(QDTLS_SSL_CLIENT_MODE, ss);
        qdtls_connection *s = make(QDTLS_SSL_SERVER_MODE, cs);
        bool ok = handshake(c, cs.fd, s, ss.fd);
        session_.resize(qdtls_session_data(c, nullptr, 0));
        qdtls_session_data(c, session_.data(), session_.size());
        qdtls_free(c);
        qdtls_free(s);
        BENCH_CHECK(ok && !session_.empty(), "no session data after the first handshake");
        return true;
    }

    bool resumed_once() override {
        UdpSocket cs, ss;
        qdtls_connection *c = make(QDTLS_SSL_CLIENT_MODE, ss);
        qdtls_connection *s = make(QDTLS_SSL_SERVER_MODE, cs);
        bool ok = qdtls_set_session_data(c, session_.data(), session_.size()) && handshake(c, cs.fd, s, ss.fd);
        bool resumed = ok && qdtls_session_resumed(c) && qdtls_session_resumed(s);
        qdtls_free(c);
        qdtls_free(s);
        BENCH_CHECK(resumed, "the handshake was not resumed");
        return true;
    }

    bool data_setup(const Options &o) override {
        if (!handshake_setup(Kind::Psk, o))
            return false;
        dcs_ = std::make_unique<UdpSocket>();
        dss_ = std::make_unique<UdpSocket>();
        data_client_ = make(QDTLS_SSL_CLIENT_MODE, *dss_);
        data_server_ = make(QDTLS_SSL_SERVER_MODE, *dcs_);
        std::memset(payload_, 'x', sizeof payload_);
        return handshake(data_client_, dcs_->fd, data_server_, dss_->fd);
    }

    bool data_write() override {
        return qdtls_write_datagram_encrypted(data_client_, dcs_->fd, payload_, kPayload) ==
               static_cast<std::int64_t>(kPayload);
    }

    bool data_read() override {
        long n = recv_dgram(dss_->fd, buf_, sizeof buf_);
        BENCH_CHECK(n > 0, "no datagram");
        std::int64_t len =
            qdtls_decrypt_datagram(data_server_, dss_->fd, buf_, static_cast<std::size_t>(n), out_, sizeof out_);
        BENCH_CHECK(len == static_cast<std::int64_t>(kPayload), "decrypt: %lld %s", static_cast<long long>(len),
                    error_of(data_server_).c_str());
        return true;
    }

    // Scenario 3b: qdtls_write_datagrams_encrypted (sendmmsg) and
    // qdtls_receive_datagrams_decrypted (recvmmsg, in-place decryption),
    // which insists on a connected socket: both sockets are connected to
    // each other once the handshake is done.
    bool data_batch_setup(const Options &o) override {
        if (!data_setup(o))
            return false;
        BENCH_CHECK(connect(dss_->fd, reinterpret_cast<const sockaddr *>(&dcs_->addr), sizeof dcs_->addr) == 0 &&
                        connect(dcs_->fd, reinterpret_cast<const sockaddr *>(&dss_->addr), sizeof dss_->addr) == 0,
                    "connect");
        for (int i = 0; i < kMaxBatch; ++i) {
            batch_out_[i] = qdtls_datagram{payload_, kPayload};
            batch_in_[i].data = batch_buf_[i];
            batch_in_[i].capacity = sizeof batch_buf_[i];
        }
        return true;
    }

    bool data_batch(int count) override {
        BENCH_CHECK(count <= kMaxBatch, "batch too large");
        std::int64_t w = qdtls_write_datagrams_encrypted(data_client_, dcs_->fd, batch_out_, count);
        BENCH_CHECK(w == count, "batch write: %lld %s", static_cast<long long>(w), error_of(data_client_).c_str());
        for (int got = 0, idle = 0; got < count;) {
            std::int64_t n = qdtls_receive_datagrams_decrypted(data_server_, dss_->fd, batch_in_ + got,
                                                               static_cast<std::size_t>(count - got));
            BENCH_CHECK(n >= 0, "batch receive: %s", error_of(data_server_).c_str());
            for (std::int64_t i = 0; i < n; ++i)
                BENCH_CHECK(batch_in_[got + i].result == static_cast<std::int64_t>(kPayload), "batch decrypt: %lld",
                            static_cast<long long>(batch_in_[got + i].result));
            got += static_cast<int>(n);
            if (n == 0) {
                BENCH_CHECK(++idle < 100, "batch: datagrams missing");
                wait_readable(dss_->fd, dss_->fd, 10);
            }
        }
        return true;
    }

    // An output buffer smaller than the datagram: the error message is
    // formatted on the heap inside libqdtls.
    bool provoke_allocation() override {
        std::uint8_t small[1];
        return qdtls_decrypt_datagram(data_server_, dss_->fd, payload_, sizeof payload_, small, sizeof small) == -1;
    }

    bool memory_setup(const Options &o) override {
        if (!handshake_setup(Kind::Psk, o))
            return false;
        mcs_ = std::make_unique<UdpSocket>();
        mss_ = std::make_unique<UdpSocket>();
        keep_clients_ = o.keep_clients;
        // One session first, so one-time costs (the SSL_CTX, lazy statics)
        // are not counted per session.
        bool ok = memory_add_session();
        for (qdtls_connection *h : servers_)
            qdtls_free(h);
        for (qdtls_connection *h : clients_)
            qdtls_free(h);
        servers_.clear();
        clients_.clear();
        servers_.reserve(static_cast<std::size_t>(o.sessions));
        if (keep_clients_)
            clients_.reserve(static_cast<std::size_t>(o.sessions));
        return ok;
    }

    bool memory_add_session() override {
        qdtls_connection *c = make(QDTLS_SSL_CLIENT_MODE, *mss_);
        qdtls_connection *s = make(QDTLS_SSL_SERVER_MODE, *mcs_);
        bool ok = handshake(c, mcs_->fd, s, mss_->fd);
        if (keep_clients_)
            clients_.push_back(c);
        else
            qdtls_free(c);
        servers_.push_back(s);
        return ok;
    }

    bool cookie_setup(std::uint16_t client_port) override {
        verifier_ = qdtls_client_verifier_new();
        vs_ = std::make_unique<UdpSocket>();
        client_ = vs_->addr;
        client_.sin_port = htons(client_port);
        return verifier_ != nullptr;
    }
    std::uint16_t cookie_server_port() const override { return vs_->port(); }
    bool cookie_verify(const std::uint8_t *hello, std::size_t len) override {
        return qdtls_client_verifier_verify_client_sockaddr(verifier_, vs_->fd, hello, len, &client_, sizeof client_);
    }

private:
    // A session for `mode` whose peer is `peer`, with the shared configuration.
    qdtls_connection *make(int mode, const UdpSocket &peer) {
        qdtls_connection *h = qdtls_new(mode);
        qdtls_set_dtls_configuration(h, mode == QDTLS_SSL_CLIENT_MODE ? client_cfg_ : server_cfg_);
        qdtls_set_psk_callback(h, psk_callback, nullptr);
        qdtls_set_mtu_hint(h, kMtu);
        qdtls_set_peer_sockaddr(h, &peer.addr, sizeof peer.addr,
                                mode == QDTLS_SSL_CLIENT_MODE && kind_ == Kind::Ecdsa ? kServerName : nullptr);
        return h;
    }

    bool feed(qdtls_connection *h, int fd) {
        long n;
        bool any = false;
        while ((n = recv_dgram(fd, buf_, sizeof buf_)) >= 0) {
            any = true;
            if (qdtls_handshake_state(h) == QDTLS_HANDSHAKE_COMPLETE)
                continue;
            if (!qdtls_do_handshake(h, fd, buf_, static_cast<std::size_t>(n))) {
                std::fprintf(stderr, "qdtls handshake: %s\n", error_of(h).c_str());
                failed_ = true;
            }
        }
        return any;
    }

    bool handshake(qdtls_connection *c, int cfd, qdtls_connection *s, int sfd) {
        BENCH_CHECK(qdtls_do_handshake(c, cfd, nullptr, 0), "client start: %s", error_of(c).c_str());
        failed_ = false;
        for (int idle = 0; !(qdtls_is_connection_encrypted(c) && qdtls_is_connection_encrypted(s));) {
            bool progress = feed(s, sfd);
            progress = feed(c, cfd) || progress;
            BENCH_CHECK(!failed_, "handshake failed");
            if (!progress) {
                BENCH_CHECK(++idle < 100, "handshake stuck");
                wait_readable(cfd, sfd, 20);
                qdtls_handle_timeout(c, cfd);
                qdtls_handle_timeout(s, sfd);
            }
        }
        handshake_completed();
        return true;
    }

    Kind kind_ = Kind::Psk;
    qdtls_configuration *client_cfg_ = nullptr, *server_cfg_ = nullptr;
    std::vector<std::uint8_t> session_; // scenario 2r
    bool failed_ = false;
    std::uint8_t buf_[2048];
    std::uint8_t out_[2048];
    std::uint8_t payload_[kPayload];
    static constexpr int kMaxBatch = 64;
    qdtls_datagram batch_out_[kMaxBatch];
    qdtls_receive_buffer batch_in_[kMaxBatch];
    std::uint8_t batch_buf_[kMaxBatch][2048];
    std::unique_ptr<UdpSocket> dcs_, dss_, mcs_, mss_, vs_;
    qdtls_connection *data_client_ = nullptr, *data_server_ = nullptr;
    std::vector<qdtls_connection *> servers_, clients_;
    bool keep_clients_ = false;
    qdtls_client_verifier *verifier_ = nullptr;
    sockaddr_in client_{};
};

} // namespace

std::unique_ptr<Impl> make_impl(int &, char **) { return std::make_unique<QdtlsImpl>(); }

} // namespace bench
