// Shared pieces of the qdtls benchmark: timing, loopback UDP sockets, the
// interface every implementation (qdtls, raw OpenSSL, Qt's QDtls) provides,
// and result lines.
#ifndef QDTLS_BENCH_HPP
#define QDTLS_BENCH_HPP

#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>

namespace bench {

// ---- settings shared by every implementation ------------------------------

// The datagram size of scenario 3.
constexpr std::size_t kPayload = 1200;
// Every implementation gets the same MTU: Ethernet. (Loopback's 64 KiB would
// let each implementation pick a different record size.)
constexpr unsigned kMtu = 1500;
constexpr const char *kPskCipher = "PSK-AES128-GCM-SHA256";
constexpr const char *kEcdsaCipher = "ECDHE-ECDSA-AES128-GCM-SHA256";
constexpr const char *kPskIdentity = "bench client";
constexpr const char *kPskKey = "0123456789abcdef"; // 16 bytes
constexpr const char *kServerName = "localhost";    // the server certificate's SAN

enum class Kind { Psk, Ecdsa };

struct Options {
    double seconds = 1.25;   // measured time of one scenario run
    std::string cert_dir;    // ca.pem, server.pem, server.key (scenario 2)
    int sessions = 10000;    // scenario 4
    double max_seconds = 0;  // scenario 4: stop adding sessions after this long (0: never)
    bool keep_clients = false; // scenario 4b: keep each client too (client+server pairs)
    bool verbose = false;
    // Raw OpenSSL reference: "mem" (memory BIOs; the application does the
    // socket I/O, as with qdtls and Qt) or "dgram" (BIO_s_datagram on the socket).
    std::string raw_bio = "mem";
};

// ---- time -----------------------------------------------------------------

using Clock = std::chrono::steady_clock;

inline double since(Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

// CLOCK_MONOTONIC in nanoseconds: one clock for every process on the machine
// (the first-handshake launcher and its children compare readings).
std::int64_t monotonic_ns();

// Every implementation calls this the moment a handshake's both sides are
// encrypted, before anything is freed; the first-handshake scenario reads it.
void handshake_completed();
std::int64_t last_handshake_completed_ns(); // 0: none yet
// With this on, handshake_completed() also reads the process's CPU time
// (a system call: only the first-handshake scenario turns it on).
void record_cpu_at_handshake(bool on);
std::int64_t last_handshake_completed_cpu_ns();

// CPU time of this process (user + system, softirq work done on its behalf
// included), in seconds.
double cpu_seconds();

// What rate() measured.
struct Rate {
    double per_cpu_second = -1;  // operations per second of CPU time (-1: failed)
    double per_wall_second = -1; // operations per second of elapsed time
    double cpu_share = 0;        // CPU time / elapsed time (1 = the process had a core to itself)
};

// Runs `op` (one operation, returns false on failure) for a short warm-up,
// then for `seconds` of elapsed time. Every scenario is single-threaded and
// never waits (loopback delivers a datagram before sendto returns), so
// operations per CPU-second equal operations per second on an idle core, and
// stay comparable while other jobs compete for the cores; both are returned.
// The clocks are read every `stride` operations.
template <class F>
Rate rate(double seconds, F &&op, int stride = 1) {
    Rate r;
    auto t0 = Clock::now();
    while (since(t0) < seconds * 0.15)
        for (int i = 0; i < stride; ++i)
            if (!op())
                return r;
    long n = 0;
    t0 = Clock::now();
    double c0 = cpu_seconds(), t = 0;
    do {
        for (int i = 0; i < stride; ++i)
            if (!op())
                return r;
        n += stride;
        t = since(t0);
    } while (t < seconds);
    double c = cpu_seconds() - c0;
    r.per_cpu_second = n / c;
    r.per_wall_second = n / t;
    r.cpu_share = c / t;
    return r;
}

// ---- sockets --------------------------------------------------------------

// A non-blocking UDP socket bound to 127.0.0.1 on an ephemeral port.
struct UdpSocket {
    int fd = -1;
    sockaddr_in addr{};
    UdpSocket();
    ~UdpSocket();
    UdpSocket(const UdpSocket &) = delete;
    UdpSocket &operator=(const UdpSocket &) = delete;
    std::uint16_t port() const;
};

// recv() of one datagram; -1 when none is queued (EAGAIN).
long recv_dgram(int fd, std::uint8_t *buf, std::size_t cap);
// Waits up to `ms` for either descriptor to become readable.
void wait_readable(int fd1, int fd2, int ms);
// Reads and drops every queued datagram.
void drain(int fd);

// ---- memory ---------------------------------------------------------------

struct MemSample {
    long long heap = 0; // mallinfo2: uordblks + hblkhd
    long long rss = 0;  // VmRSS, bytes
};
MemSample mem_sample();

// ---- the implementations ----------------------------------------------------

// What every implementation provides. Each scenario calls setup once, then the
// timed operation; nothing is shared between implementations.
class Impl {
public:
    virtual ~Impl() = default;
    virtual const char *name() const = 0;

    // Scenarios 1 and 2: configurations are made once (shared by every
    // session); each call is one complete handshake on a fresh socket pair
    // with fresh client and server sessions. handshake_setup builds the
    // configuration(s) of both roles from scratch and frees the previous
    // ones.
    virtual bool handshake_setup(Kind kind, const Options &o) = 0;
    virtual bool handshake_once() = 0;

    // Scenario 2r: ECDHE-ECDSA handshakes that resume a session. resumed_setup
    // builds the configurations of scenario 2 with session resumption on and
    // does one full handshake whose client session it keeps; each
    // resumed_once is a handshake on a fresh socket pair with fresh sessions,
    // the client offering that session, and fails unless it was resumed.
    // resumed_setup returns false when the implementation has no resumption.
    virtual bool resumed_setup(const Options &) { return false; }
    virtual bool resumed_once() { return false; }

    // Scenario 3: one established PSK pair; write encrypts one datagram and
    // sends it, read receives it on the other socket and decrypts it.
    virtual bool data_setup(const Options &o) = 0;
    virtual bool data_write() = 0;
    virtual bool data_read() = 0;
    // Scenario 3b (qdtls only): the same pair on connected sockets, `count`
    // datagrams written with one batch call and received+decrypted with the
    // other. data_batch_setup returns false when there is no batch API.
    virtual bool data_batch_setup(const Options &) { return false; }
    virtual bool data_batch(int /*count*/) { return false; }
    // Whether the allocation counter sees allocations made inside the
    // library (an error path that formats a message); for alloc_check.
    virtual bool provoke_allocation() { return false; }

    // Scenario 4: server-side sessions established one after another (the
    // client of each is freed once its handshake completes, unless
    // o.keep_clients: scenario 4b keeps client+server pairs). memory_setup
    // establishes (and frees) one session or pair first, so one-time costs
    // are not counted.
    virtual bool memory_setup(const Options &o) = 0;
    virtual bool memory_add_session() = 0;

    // Scenario 5: a verifier bound to a server socket; hellos come from
    // 127.0.0.1:client_port. verify returns whether the hello was verified
    // (a cookie-less hello is answered with a HelloVerifyRequest).
    virtual bool cookie_setup(std::uint16_t client_port) = 0;
    virtual std::uint16_t cookie_server_port() const = 0;
    virtual bool cookie_verify(const std::uint8_t *hello, std::size_t len) = 0;
};

// The implementation this executable was built with: every executable
// (qdtls_bench_qdtls, _openssl, _qt, _qt_adapter) links exactly one impl_*.cpp,
// so a process loads only the libraries of the implementation it measures,
// and the Qt adapter never shares a process with Qt's own QDtls. Qt's impls
// create the QCoreApplication on their first call; a second call returns a
// new Impl in the same application.
std::unique_ptr<Impl> make_impl(int &argc, char **argv);

// A ClientHello source for scenario 5: a plain OpenSSL DTLS 1.2 client (the
// same bytes for every verifier, apart from the cookie).
class HelloSource {
public:
    HelloSource();
    ~HelloSource();
    HelloSource(const HelloSource &) = delete;
    HelloSource &operator=(const HelloSource &) = delete;
    // The first, cookie-less ClientHello.
    std::string first_hello();
    // The ClientHello answering `hvr` (a HelloVerifyRequest): it carries the cookie.
    std::string answer(const std::uint8_t *hvr, std::size_t len);

private:
    struct State;
    std::unique_ptr<State> s_;
};

// Reads a whole file ("" if it cannot).
std::string read_file(const std::string &path);

#define BENCH_CHECK(cond, ...)                                                                                       \
    do {                                                                                                             \
        if (!(cond)) {                                                                                               \
            std::fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                                                     \
            std::fprintf(stderr, __VA_ARGS__);                                                                       \
            std::fprintf(stderr, "\n");                                                                              \
            return false;                                                                                            \
        }                                                                                                            \
    } while (0)

} // namespace bench

#endif
