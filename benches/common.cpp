// Sockets, memory sampling and the ClientHello source shared by the scenarios.
#include "bench.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <openssl/bio.h>
#include <openssl/ssl.h>

namespace bench {

double cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

UdpSocket::UdpSocket() {
    fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;
    if (fd < 0 || bind(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0 ||
        getsockname(fd, reinterpret_cast<sockaddr *>(&addr), &len) != 0) {
        std::perror("udp socket");
        std::abort();
    }
}

UdpSocket::~UdpSocket() {
    if (fd >= 0)
        close(fd);
}

std::uint16_t UdpSocket::port() const { return ntohs(addr.sin_port); }

long recv_dgram(int fd, std::uint8_t *buf, std::size_t cap) {
    for (;;) {
        ssize_t n = recv(fd, buf, cap, 0);
        if (n >= 0)
            return static_cast<long>(n);
        if (errno != EINTR)
            return -1;
    }
}

void wait_readable(int fd1, int fd2, int ms) {
    pollfd p[2] = {{fd1, POLLIN, 0}, {fd2, POLLIN, 0}};
    poll(p, 2, ms);
}

void drain(int fd) {
    std::uint8_t buf[2048];
    while (recv_dgram(fd, buf, sizeof buf) >= 0) {
    }
}

MemSample mem_sample() {
    MemSample s;
    struct mallinfo2 mi = mallinfo2();
    s.heap = static_cast<long long>(mi.uordblks + mi.hblkhd);
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line))
        if (line.rfind("VmRSS:", 0) == 0) {
            std::istringstream in(line.substr(6));
            long long kb = 0;
            in >> kb;
            s.rss = kb * 1024;
        }
    return s;
}

std::string read_file(const std::string &path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

// ---- HelloSource ----------------------------------------------------------

// Only so that OpenSSL offers the PSK suite; the handshake never gets that far.
static unsigned hello_psk(SSL *, const char *, char *identity, unsigned max_identity, unsigned char *psk,
                          unsigned max_psk) {
    std::size_t id = std::strlen(kPskIdentity), key = std::strlen(kPskKey);
    if (id + 1 > max_identity || key > max_psk)
        return 0;
    std::memcpy(identity, kPskIdentity, id + 1);
    std::memcpy(psk, kPskKey, key);
    return static_cast<unsigned>(key);
}

struct HelloSource::State {
    SSL_CTX *ctx = nullptr;
    SSL *ssl = nullptr;
    BIO *rbio = nullptr; // owned by ssl
    BIO *wbio = nullptr; // owned by ssl
};

HelloSource::HelloSource() : s_(std::make_unique<State>()) {
    s_->ctx = SSL_CTX_new(DTLS_client_method());
    SSL_CTX_set_min_proto_version(s_->ctx, DTLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(s_->ctx, DTLS1_2_VERSION);
    SSL_CTX_set_cipher_list(s_->ctx, kPskCipher);
    SSL_CTX_set_options(s_->ctx, SSL_OP_NO_QUERY_MTU);
    SSL_CTX_set_psk_client_callback(s_->ctx, hello_psk);
    s_->ssl = SSL_new(s_->ctx);
    s_->rbio = BIO_new(BIO_s_mem());
    s_->wbio = BIO_new(BIO_s_mem());
    BIO_set_mem_eof_return(s_->rbio, -1);
    SSL_set_bio(s_->ssl, s_->rbio, s_->wbio);
    DTLS_set_link_mtu(s_->ssl, kMtu);
    SSL_set_connect_state(s_->ssl);
}

HelloSource::~HelloSource() {
    SSL_free(s_->ssl);
    SSL_CTX_free(s_->ctx);
}

static std::string take(BIO *b) {
    std::string out(static_cast<std::size_t>(BIO_ctrl_pending(b)), '\0');
    if (!out.empty())
        BIO_read(b, out.data(), static_cast<int>(out.size()));
    return out;
}

std::string HelloSource::first_hello() {
    SSL_do_handshake(s_->ssl);
    return take(s_->wbio);
}

std::string HelloSource::answer(const std::uint8_t *hvr, std::size_t len) {
    BIO_write(s_->rbio, hvr, static_cast<int>(len));
    SSL_do_handshake(s_->ssl);
    return take(s_->wbio);
}

} // namespace bench
