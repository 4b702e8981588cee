// The raw OpenSSL 3 reference: what a competent engineer writes directly
// against libssl for the same job. One SSL_CTX per role shared by every
// session, the same cipher, protocol, MTU and verification as the others.
//
// Two transports (--raw-bio):
//  - "mem" (default): memory BIOs. The application reads datagrams from its
//    socket into the read BIO and sends what SSL writes, packing whole
//    records into datagrams up to the MTU, so a flight usually leaves as one
//    datagram (OpenSSL's datagram BIO sends one per handshake message).
//  - "dgram": BIO_s_datagram on the socket (OpenSSL does recvfrom/sendto).
// run.sh measures both and the table uses the faster one per scenario.
#include "bench.hpp"

#include <arpa/inet.h>

#include <cstring>
#include <vector>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

namespace bench {
namespace {

unsigned psk_client(SSL *, const char *, char *identity, unsigned max_identity, unsigned char *psk, unsigned max_psk) {
    std::size_t id = std::strlen(kPskIdentity), key = std::strlen(kPskKey);
    if (id + 1 > max_identity || key > max_psk)
        return 0;
    std::memcpy(identity, kPskIdentity, id + 1);
    std::memcpy(psk, kPskKey, key);
    return static_cast<unsigned>(key);
}

unsigned psk_server(SSL *, const char *identity, unsigned char *psk, unsigned max_psk) {
    std::size_t key = std::strlen(kPskKey);
    if (identity == nullptr || std::strcmp(identity, kPskIdentity) != 0 || key > max_psk)
        return 0;
    std::memcpy(psk, kPskKey, key);
    return static_cast<unsigned>(key);
}

std::string ssl_errors() {
    std::string s;
    char buf[256];
    while (unsigned long e = ERR_get_error()) {
        ERR_error_string_n(e, buf, sizeof buf);
        s += buf;
        s += "; ";
    }
    return s;
}

bool retry(SSL *ssl, int ret) {
    int e = SSL_get_error(ssl, ret);
    return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE;
}

// One side of a connection: the SSL, its BIOs and where its datagrams go.
struct Endpoint {
    SSL *ssl = nullptr;
    BIO *rbio = nullptr; // mem mode only (owned by ssl)
    BIO *wbio = nullptr;
    int fd = -1;
    sockaddr_in peer{};
    int done = 0;

    Endpoint() = default;
    Endpoint(const Endpoint &) = delete;
    Endpoint &operator=(const Endpoint &) = delete;
    ~Endpoint() { SSL_free(ssl); }
};

class OpensslImpl final : public Impl {
public:
    ~OpensslImpl() override {
        data_client_.reset();
        data_server_.reset();
        servers_.clear();
        clients_.clear();
        SSL_free(listen_ssl_);
        BIO_ADDR_free(listen_addr_);
        EVP_MAC_CTX_free(cookie_mac_);
        EVP_MAC_free(hmac_);
        SSL_SESSION_free(session_);
        SSL_CTX_free(client_ctx_);
        SSL_CTX_free(server_ctx_);
        SSL_CTX_free(listen_ctx_);
    }
    const char *name() const override { return "openssl"; }

    bool handshake_setup(Kind kind, const Options &o) override {
        mem_ = o.raw_bio != "dgram";
        kind_ = kind;
        SSL_CTX_free(client_ctx_);
        SSL_CTX_free(server_ctx_);
        client_ctx_ = SSL_CTX_new(DTLS_client_method());
        server_ctx_ = SSL_CTX_new(DTLS_server_method());
        for (SSL_CTX *c : {client_ctx_, server_ctx_}) {
            SSL_CTX_set_min_proto_version(c, DTLS1_2_VERSION);
            SSL_CTX_set_max_proto_version(c, DTLS1_2_VERSION);
            SSL_CTX_set_options(c, SSL_OP_NO_QUERY_MTU | SSL_OP_NO_RENEGOTIATION);
            BENCH_CHECK(SSL_CTX_set_cipher_list(c, kind == Kind::Psk ? kPskCipher : kEcdsaCipher) == 1, "ciphers");
        }
        if (kind == Kind::Psk) {
            SSL_CTX_set_psk_client_callback(client_ctx_, psk_client);
            SSL_CTX_set_psk_server_callback(server_ctx_, psk_server);
        } else {
            std::string dir = o.cert_dir;
            BENCH_CHECK(SSL_CTX_load_verify_locations(client_ctx_, (dir + "/ca.pem").c_str(), nullptr) == 1, "CA: %s",
                        ssl_errors().c_str());
            SSL_CTX_set_verify(client_ctx_, SSL_VERIFY_PEER, nullptr);
            BENCH_CHECK(SSL_CTX_use_certificate_chain_file(server_ctx_, (dir + "/server.pem").c_str()) == 1, "cert");
            BENCH_CHECK(SSL_CTX_use_PrivateKey_file(server_ctx_, (dir + "/server.key").c_str(), SSL_FILETYPE_PEM) == 1,
                        "key");
        }
        return true;
    }

    bool handshake_once() override {
        UdpSocket cs, ss;
        Endpoint c, s;
        open(c, true, cs, ss);
        open(s, false, ss, cs);
        return handshake(c, s);
    }

    // Scenario 2r: OpenSSL's defaults resume (session tickets and the
    // server's session cache are on): the client's session from one full
    // handshake, given to every new client with SSL_set_session. Each
    // connection is marked closed before SSL_free, as after close_notify:
    // SSL_free of an unclosed SSL makes its session non-resumable.
    bool resumed_setup(const Options &o) override {
        if (!handshake_setup(Kind::Ecdsa, o))
            return false;
        UdpSocket cs, ss;
        Endpoint c, s;
        open(c, true, cs, ss);
        open(s, false, ss, cs);
        BENCH_CHECK(handshake(c, s), "first handshake");
        SSL_SESSION_free(session_);
        session_ = SSL_get1_session(c.ssl);
        closed(c);
        closed(s);
        BENCH_CHECK(session_ != nullptr && SSL_SESSION_is_resumable(session_), "no resumable session");
        return true;
    }

    bool resumed_once() override {
        UdpSocket cs, ss;
        Endpoint c, s;
        open(c, true, cs, ss);
        open(s, false, ss, cs);
        BENCH_CHECK(SSL_set_session(c.ssl, session_) == 1, "SSL_set_session");
        bool ok = handshake(c, s);
        bool reused = ok && SSL_session_reused(c.ssl) == 1 && SSL_session_reused(s.ssl) == 1;
        closed(c);
        closed(s);
        BENCH_CHECK(reused, "the handshake was not resumed");
        return true;
    }

    bool data_setup(const Options &o) override {
        if (!handshake_setup(Kind::Psk, o))
            return false;
        dcs_ = std::make_unique<UdpSocket>();
        dss_ = std::make_unique<UdpSocket>();
        data_client_ = std::make_unique<Endpoint>();
        data_server_ = std::make_unique<Endpoint>();
        open(*data_client_, true, *dcs_, *dss_);
        open(*data_server_, false, *dss_, *dcs_);
        std::memset(payload_, 'x', sizeof payload_);
        return handshake(*data_client_, *data_server_);
    }

    bool data_write() override {
        Endpoint &c = *data_client_;
        BENCH_CHECK(SSL_write(c.ssl, payload_, kPayload) == static_cast<int>(kPayload), "SSL_write");
        if (mem_) {
            // One SSL_write is one record is one datagram.
            int n = BIO_read(c.wbio, buf_, sizeof buf_);
            BENCH_CHECK(n > 0, "no record");
            BENCH_CHECK(sendto(c.fd, buf_, static_cast<std::size_t>(n), MSG_NOSIGNAL,
                               reinterpret_cast<const sockaddr *>(&c.peer), sizeof c.peer) == n,
                        "sendto");
        }
        return true;
    }

    bool data_read() override {
        Endpoint &s = *data_server_;
        if (mem_) {
            long n = recv_dgram(s.fd, buf_, sizeof buf_);
            BENCH_CHECK(n > 0, "no datagram");
            BIO_write(s.rbio, buf_, static_cast<int>(n));
        }
        int len = SSL_read(s.ssl, out_, sizeof out_);
        BENCH_CHECK(len == static_cast<int>(kPayload), "SSL_read %d", len);
        return true;
    }

    bool memory_setup(const Options &o) override {
        if (!handshake_setup(Kind::Psk, o))
            return false;
        mcs_ = std::make_unique<UdpSocket>();
        mss_ = std::make_unique<UdpSocket>();
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
        auto c = std::make_unique<Endpoint>();
        auto s = std::make_unique<Endpoint>();
        open(*c, true, *mcs_, *mss_);
        open(*s, false, *mss_, *mcs_);
        bool ok = handshake(*c, *s);
        servers_.push_back(std::move(s));
        if (keep_clients_)
            clients_.push_back(std::move(c));
        return ok;
    }

    // DTLSv1_listen on one reused SSL with memory BIOs; cookies are
    // HMAC-SHA256(secret, port || address) with a MAC context keyed once.
    bool cookie_setup(std::uint16_t client_port) override {
        vs_ = std::make_unique<UdpSocket>();
        client_ = vs_->addr;
        client_.sin_port = htons(client_port);
        listen_ctx_ = SSL_CTX_new(DTLS_server_method());
        SSL_CTX_set_min_proto_version(listen_ctx_, DTLS1_VERSION);
        SSL_CTX_set_cookie_generate_cb(listen_ctx_, cookie_generate);
        SSL_CTX_set_cookie_verify_cb(listen_ctx_, cookie_verify_cb);
        unsigned char secret[32];
        RAND_bytes(secret, sizeof secret);
        hmac_ = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
        cookie_mac_ = EVP_MAC_CTX_new(hmac_);
        char digest[] = "SHA256";
        OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                               OSSL_PARAM_construct_end()};
        BENCH_CHECK(EVP_MAC_init(cookie_mac_, secret, sizeof secret, params) == 1, "HMAC init");
        listen_addr_ = BIO_ADDR_new();
        listen_ssl_ = new_listen_ssl();
        return listen_ssl_ != nullptr;
    }
    std::uint16_t cookie_server_port() const override { return vs_->port(); }

    bool cookie_verify(const std::uint8_t *hello, std::size_t len) override {
        // DTLSv1_listen starts with SSL_clear, so the SSL is reused as is.
        BIO_write(SSL_get_rbio(listen_ssl_), hello, static_cast<int>(len));
        int r = DTLSv1_listen(listen_ssl_, listen_addr_);
        BIO *w = SSL_get_wbio(listen_ssl_);
        int n = BIO_read(w, buf_, sizeof buf_);
        if (n > 0)
            sendto(vs_->fd, buf_, static_cast<std::size_t>(n), MSG_NOSIGNAL,
                   reinterpret_cast<const sockaddr *>(&client_), sizeof client_);
        (void)BIO_reset(SSL_get_rbio(listen_ssl_));
        ERR_clear_error();
        return r > 0;
    }

private:
    // A connection the application closed (as after close_notify both ways).
    static void closed(Endpoint &e) { SSL_set_shutdown(e.ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN); }

    void open(Endpoint &e, bool client, const UdpSocket &self, const UdpSocket &peer) {
        e.ssl = SSL_new(client ? client_ctx_ : server_ctx_);
        e.fd = self.fd;
        e.peer = peer.addr;
        if (mem_) {
            e.rbio = BIO_new(BIO_s_mem());
            e.wbio = BIO_new(BIO_s_mem());
            BIO_set_mem_eof_return(e.rbio, -1);
            SSL_set_bio(e.ssl, e.rbio, e.wbio);
        } else {
            BIO *b = BIO_new_dgram(self.fd, BIO_NOCLOSE);
            BIO_ctrl(b, BIO_CTRL_DGRAM_SET_PEER, 0, const_cast<sockaddr_in *>(&peer.addr));
            SSL_set_bio(e.ssl, b, b);
        }
        DTLS_set_link_mtu(e.ssl, kMtu);
        if (client) {
            if (kind_ == Kind::Ecdsa) {
                SSL_set_tlsext_host_name(e.ssl, kServerName);
                SSL_set1_host(e.ssl, kServerName);
            }
            SSL_set_connect_state(e.ssl);
        } else {
            SSL_set_accept_state(e.ssl);
        }
    }

    // mem mode: sends what SSL wrote, whole records packed up to the MTU.
    bool flush(Endpoint &e) {
        std::size_t pending = BIO_ctrl_pending(e.wbio);
        if (pending == 0)
            return true;
        if (flight_.size() < pending)
            flight_.resize(pending);
        BIO_read(e.wbio, flight_.data(), static_cast<int>(pending));
        const std::size_t room = kMtu - 28;
        std::size_t start = 0, i = 0;
        while (i < pending) {
            std::size_t rec = 13 + (std::size_t(flight_[i + 11]) << 8 | flight_[i + 12]);
            if (i > start && i + rec - start > room) {
                send(e, start, i);
                start = i;
            }
            i += rec;
        }
        send(e, start, pending);
        return true;
    }

    void send(Endpoint &e, std::size_t from, std::size_t to) {
        sendto(e.fd, flight_.data() + from, to - from, MSG_NOSIGNAL, reinterpret_cast<const sockaddr *>(&e.peer),
               sizeof e.peer);
    }

    // One handshake step: SSL_do_handshake unless done; false on a real error.
    bool step(Endpoint &e) {
        if (e.done == 1)
            return true;
        int r = SSL_do_handshake(e.ssl);
        if (mem_)
            flush(e);
        if (r == 1) {
            e.done = 1;
            return true;
        }
        if (!retry(e.ssl, r)) {
            std::fprintf(stderr, "openssl handshake: %s\n", ssl_errors().c_str());
            return false;
        }
        return true;
    }

    // mem mode: every queued datagram into the read BIO, one SSL call each.
    int feed(Endpoint &e) {
        long n;
        int count = 0;
        while ((n = recv_dgram(e.fd, buf_, sizeof buf_)) >= 0) {
            ++count;
            if (e.done)
                continue;
            BIO_write(e.rbio, buf_, static_cast<int>(n));
            if (!step(e))
                return -1;
        }
        return count;
    }

    bool handshake(Endpoint &c, Endpoint &s) {
        BENCH_CHECK(step(c), "client start");
        int rounds = 0;
        for (int idle = 0; !(c.done && s.done);) {
            bool progress;
            if (mem_) {
                int a = feed(s), b = feed(c);
                BENCH_CHECK(a >= 0 && b >= 0, "handshake failed");
                progress = a + b > 0;
            } else {
                // OpenSSL reads the socket itself; wait only after many empty rounds.
                BENCH_CHECK(step(s) && step(c), "handshake failed");
                progress = ++rounds % 64 != 0;
            }
            if (!progress) {
                BENCH_CHECK(++idle < 100, "handshake stuck");
                wait_readable(c.fd, s.fd, 20);
                DTLSv1_handle_timeout(c.ssl);
                DTLSv1_handle_timeout(s.ssl);
                if (mem_) {
                    flush(c);
                    flush(s);
                }
            }
        }
        handshake_completed();
        return true;
    }

    SSL *new_listen_ssl() {
        SSL *ssl = SSL_new(listen_ctx_);
        BIO *r = BIO_new(BIO_s_mem()), *w = BIO_new(BIO_s_mem());
        BIO_set_mem_eof_return(r, -1);
        SSL_set_bio(ssl, r, w);
        SSL_set_app_data(ssl, this);
        return ssl;
    }

    bool make_cookie(unsigned char *out, unsigned *len) {
        unsigned char input[6];
        std::memcpy(input, &client_.sin_port, 2);
        std::memcpy(input + 2, &client_.sin_addr, 4);
        std::size_t n = 0;
        // Re-initialising with no key keeps the key: no per-cookie key setup.
        if (EVP_MAC_init(cookie_mac_, nullptr, 0, nullptr) != 1 || EVP_MAC_update(cookie_mac_, input, 6) != 1 ||
            EVP_MAC_final(cookie_mac_, out, &n, DTLS1_COOKIE_LENGTH) != 1)
            return false;
        *len = static_cast<unsigned>(n);
        return true;
    }

    static int cookie_generate(SSL *ssl, unsigned char *cookie, unsigned *len) {
        auto *self = static_cast<OpensslImpl *>(SSL_get_app_data(ssl));
        return self->make_cookie(cookie, len) ? 1 : 0;
    }

    static int cookie_verify_cb(SSL *ssl, const unsigned char *cookie, unsigned len) {
        auto *self = static_cast<OpensslImpl *>(SSL_get_app_data(ssl));
        unsigned char expected[EVP_MAX_MD_SIZE];
        unsigned n = 0;
        return self->make_cookie(expected, &n) && n == len && CRYPTO_memcmp(expected, cookie, n) == 0 ? 1 : 0;
    }

    bool mem_ = true;
    Kind kind_ = Kind::Psk;
    SSL_CTX *client_ctx_ = nullptr, *server_ctx_ = nullptr, *listen_ctx_ = nullptr;
    SSL_SESSION *session_ = nullptr; // scenario 2r
    std::uint8_t buf_[2048];
    std::uint8_t out_[2048];
    std::uint8_t payload_[kPayload];
    std::vector<std::uint8_t> flight_;
    std::unique_ptr<UdpSocket> dcs_, dss_, mcs_, mss_, vs_;
    std::unique_ptr<Endpoint> data_client_, data_server_;
    std::vector<std::unique_ptr<Endpoint>> servers_, clients_;
    bool keep_clients_ = false;
    SSL *listen_ssl_ = nullptr;
    BIO_ADDR *listen_addr_ = nullptr;
    EVP_MAC *hmac_ = nullptr;
    EVP_MAC_CTX *cookie_mac_ = nullptr;
    sockaddr_in client_{};
};

} // namespace

std::unique_ptr<Impl> make_impl(int &, char **) { return std::make_unique<OpensslImpl>(); }

} // namespace bench
