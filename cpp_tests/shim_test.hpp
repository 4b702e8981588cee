// The C++ tests' shared part: the assertion framework, files, clocks,
// loopback UDP sockets and PSK helpers. One binary, shim_test (and
// shim_test_noexcept), runs the tests of shim_test.cpp and shim_server_test.cpp.
#ifndef QDTLS_SHIM_TEST_HPP
#define QDTLS_SHIM_TEST_HPP

#include <qdtls/qdtls.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace shimtest {

// The shim's names, as a program that uses them unqualified brings them in.
// The shim's names, as a program that uses them unqualified brings them in.
using qdtls::Bytes;
using qdtls::DtlsConfiguration;
using qdtls::HandshakeState;
using qdtls::QDtls;
using qdtls::QDtlsClientVerifier;
using qdtls::QDtlsError;
using qdtls::SslError;
using qdtls::SslMode;

// ---- a tiny assertion framework --------------------------------------------

inline bool g_failed = false;       // the running test failed
inline std::string g_certdir = "."; // where gen_certs.sh wrote the certificates

inline void fail(const char *file, int line, const std::string &what) {
    std::fprintf(stderr, "  %s:%d: %s\n", file, line, what.c_str());
    g_failed = true;
}

template <class T> std::string show(const T &v) {
    if constexpr (std::is_same_v<T, bool>) {
        return v ? "true" : "false";
    } else if constexpr (std::is_enum_v<T>) {
        return std::to_string(static_cast<long long>(v));
    } else if constexpr (std::is_integral_v<T>) {
        return std::to_string(v);
    } else if constexpr (std::is_same_v<T, Bytes>) {
        std::string s = std::to_string(v.size()) + " bytes [";
        char hex[4];
        for (std::size_t i = 0; i < v.size() && i < 24; ++i) {
            std::snprintf(hex, sizeof hex, "%02x", v[i]);
            s += hex;
        }
        return s + (v.size() > 24 ? "...]" : "]");
    } else if constexpr (std::is_convertible_v<const T &, std::string_view>) {
        return "\"" + std::string(std::string_view(v)) + "\"";
    } else {
        return "(value)";
    }
}

// Each check returns from the test function on failure; RAII cleans up.
#define CHECK(cond)                                                                                                    \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            fail(__FILE__, __LINE__, "CHECK(" #cond ") failed");                                                       \
            return;                                                                                                    \
        }                                                                                                              \
    } while (0)

#define CHECK_MSG(cond, msg)                                                                                           \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            fail(__FILE__, __LINE__, std::string("CHECK(" #cond ") failed: ") + (msg));                                \
            return;                                                                                                    \
        }                                                                                                              \
    } while (0)

#define CHECK_EQ(actual, expected)                                                                                     \
    do {                                                                                                               \
        const auto &a_ = (actual);                                                                                     \
        const auto &e_ = (expected);                                                                                   \
        if (!(a_ == e_)) {                                                                                             \
            fail(__FILE__, __LINE__, std::string(#actual " == ") + show(a_) + ", expected " #expected " == " + show(e_)); \
            return;                                                                                                    \
        }                                                                                                              \
    } while (0)

// The error of a QDtls or verifier, and that its string agrees (empty iff NoError).
#define CHECK_ERR(obj, code)                                                                                           \
    do {                                                                                                               \
        const auto err_ = (obj).dtlsError();                                                                           \
        const std::string str_ = (obj).dtlsErrorString();                                                              \
        if (err_ != (code) || str_.empty() != ((code) == QDtlsError::NoError)) {                                       \
            fail(__FILE__, __LINE__,                                                                                   \
                 std::string(#obj ": expected " #code ", got ") + show(err_) + " '" + str_ + "'");                     \
            return;                                                                                                    \
        }                                                                                                              \
    } while (0)

inline std::string describe(const QDtls &d) {
    return "state " + show(d.handshakeState()) + " error " + show(d.dtlsError()) + " '" + d.dtlsErrorString() + "'";
}

inline Bytes bytes(std::string_view s) { return Bytes(s.begin(), s.end()); }

inline std::string readFile(const std::string &name) {
    std::ifstream in(g_certdir + "/" + name, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    if (s.str().empty())
        std::fprintf(stderr, "  cannot read %s/%s (run gen_certs.sh CERTDIR)\n", g_certdir.c_str(), name.c_str());
    return s.str();
}

using Clock = std::chrono::steady_clock;

inline long long msSince(Clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
}

// ---- sockets ------------------------------------------------------------------

struct Udp {
    int fd = -1;
    sockaddr_in addr{};

    Udp() {
        fd = socket(AF_INET, SOCK_DGRAM, 0);
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof addr;
        if (fd < 0 || bind(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0 ||
            getsockname(fd, reinterpret_cast<sockaddr *>(&addr), &len) != 0)
            std::perror("udp socket");
    }
    ~Udp() {
        if (fd >= 0)
            close(fd);
    }
    Udp(const Udp &) = delete;
    Udp &operator=(const Udp &) = delete;
    std::uint16_t port() const { return ntohs(addr.sin_port); }
    const sockaddr *sa() const { return reinterpret_cast<const sockaddr *>(&addr); }
};

struct Datagram {
    Bytes data;
    sockaddr_in from{};
};

inline std::optional<Datagram> recvWithin(int fd, int ms) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, ms) <= 0)
        return std::nullopt;
    Datagram d;
    d.data.resize(65536);
    socklen_t len = sizeof d.from;
    ssize_t n = recvfrom(fd, d.data.data(), d.data.size(), 0, reinterpret_cast<sockaddr *>(&d.from), &len);
    if (n < 0)
        return std::nullopt;
    d.data.resize(static_cast<std::size_t>(n));
    return d;
}

// DTLS record byte 13 of a handshake record: the handshake message type.
inline int handshakeType(const Bytes &d) { return d.size() > 13 && d[0] == 22 ? d[13] : -1; }

// ---- PSK on both sides ------------------------------------------------------------------

inline const std::string kKey = "shim pre-shared key";

inline DtlsConfiguration pskConfig(std::string_view hint = {}) {
    DtlsConfiguration c;
    c.setDtlsCookieVerificationEnabled(false);
    c.setPeerVerifyMode(qdtls::PeerVerifyMode::VerifyNone);
    if (!hint.empty())
        c.setPreSharedKeyIdentityHint(hint);
    return c;
}

inline void simplePsk(QDtls &d, const std::string &identity = "shim") {
    d.onPskRequired([identity](qdtls::QSslPreSharedKeyAuthenticator *a) {
        if (a->maximumIdentityLength() > 0)
            a->setIdentity(identity);
        a->setPreSharedKey(kKey);
    });
}

// ---- the server tests (shim_server_test.cpp) ------------------------------------------

void test_server_echo_and_handlers();
void test_server_close_peer_and_reasons();
void test_server_moves_and_null_handles();
void test_server_limits_and_idle_timeout();
void test_server_sans_io_and_shared_cookies();
void test_server_throwing_handlers();

} // namespace shimtest

using namespace shimtest;

#endif // QDTLS_SHIM_TEST_HPP
