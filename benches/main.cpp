// qdtls_bench_IMPL SCENARIO [options]: runs one scenario for the
// implementation IMPL this executable was built with (qdtls_bench_qdtls,
// qdtls_bench_openssl, qdtls_bench_qt, qdtls_bench_qt_adapter: one impl_*.cpp
// each) and prints "RESULT <metric> <impl> <value> <unit>" lines (run.sh runs
// every pair, each in its own process, and makes the table).
// Rates are per CPU-second of this process (see rate() in bench.hpp); WALL
// lines give the same per elapsed second, CPUSHARE the share of a core the
// process got.
//
// SCENARIO  psk     PSK handshakes per second (fresh sockets and sessions each time,
//                   one configuration per role shared by all)
//           newconf PSK handshakes per second, each building the configuration
//                   of both roles from scratch first (scenario 1b)
//           ecdsa   ECDHE-ECDSA P-256 certificate handshakes per second
//           resumed the same handshakes resuming a session from a first one
//                   (scenario 2r; "n/a" where there is no resumption)
//           data    1200-byte datagrams per second: encrypt+send, recv, decrypt
//           batch   the same through qdtls's batch calls, 32 datagrams per call
//                   (scenario 3b; "n/a" for the others)
//           memory  heap and RSS per established server session (scenario 4)
//           pairs   heap and RSS per established client+server pair (scenario 4b)
//           cookie  verified ClientHellos per second and HelloVerifyRequests per second
//           first   the first handshake of this process, set-up included (scenario
//                   1c): prints one FIRST line for qdtls_first_handshake, which
//                   starts this executable many times and reports the medians
// options   --seconds S (measured time per metric, default 1.25)
//           --certs DIR (ca.pem, server.pem, server.key; ecdsa, resumed)
//           --sessions N (memory, pairs: default 10000)
//           --max-seconds S (memory, pairs: stop adding sessions after S seconds)
//           --raw-bio mem|dgram (openssl's transport, default mem)
//           -v (details on stderr)
#include "bench.hpp"

#include <cstdlib>
#include <cstring>
#include <string>

using namespace bench;

namespace {

// The label in result lines: the implementation, plus the raw transport variant.
std::string g_label;

void result(const char *metric, const Impl &, double value, const char *unit) {
    std::printf("RESULT %s %s %.6g %s\n", metric, g_label.c_str(), value, unit);
    std::fflush(stdout);
}

// A measured rate: RESULT is per CPU-second; WALL (per elapsed second) and
// CPUSHARE (how much of a core the process got) show how busy the machine was.
bool report(const char *metric, const Impl &impl, const Rate &r, const char *unit, double scale = 1) {
    if (r.per_cpu_second < 0)
        return false;
    result(metric, impl, r.per_cpu_second * scale, unit);
    std::printf("WALL %s %s %.6g %s\nCPUSHARE %s %s %.3f\n", metric, g_label.c_str(), r.per_wall_second * scale, unit,
                metric, g_label.c_str(), r.cpu_share);
    std::fflush(stdout);
    return true;
}

int usage() {
    std::fprintf(stderr, "usage: qdtls_bench_IMPL psk|newconf|ecdsa|resumed|data|batch|memory|pairs|cookie|first "
                         "[--seconds S] "
                         "[--certs DIR] [--sessions N] [--max-seconds S] [--raw-bio mem|dgram] [-v]\n");
    return 2;
}

bool run_handshakes(Impl &impl, Kind kind, const Options &o) {
    if (!impl.handshake_setup(kind, o))
        return false;
    Rate r = rate(o.seconds, [&] { return impl.handshake_once(); });
    return report(kind == Kind::Psk ? "psk_handshakes" : "ecdsa_handshakes", impl, r, "hs/s");
}

// Scenario 2r: resumed ECDHE-ECDSA handshakes (the full handshake of the
// set-up is not measured).
bool run_resumed(Impl &impl, const Options &o) {
    if (!impl.resumed_setup(o)) {
        std::printf("RESULT ecdsa_resumed_handshakes %s n/a hs/s\n", g_label.c_str());
        return true;
    }
    Rate r = rate(o.seconds, [&] { return impl.resumed_once(); });
    return report("ecdsa_resumed_handshakes", impl, r, "hs/s");
}

// Scenario 1b: what a program pays that gives every connection its own
// configuration: each operation builds the client's and the server's
// configuration from scratch (handshake_setup: C ABI qdtls_configuration_new
// and setters; raw OpenSSL SSL_CTX_new and setters; Qt and the adapter a
// QSslConfiguration from defaultDtlsConfiguration() with the PSK settings),
// then does the handshake of scenario 1 with them (new sockets and sessions);
// the previous connection's configurations are freed by the next setup.
bool run_handshakes_new_config(Impl &impl, const Options &o) {
    Rate r = rate(o.seconds, [&] { return impl.handshake_setup(Kind::Psk, o) && impl.handshake_once(); });
    return report("psk_handshakes_newconf", impl, r, "hs/s");
}

bool run_data(Impl &impl, const Options &o) {
    if (!impl.data_setup(o))
        return false;
    Rate r = rate(o.seconds, [&] { return impl.data_write() && impl.data_read(); }, 64);
    return report("datagrams", impl, r, "dgram/s");
}

// Datagrams per batch call in scenario 3b.
constexpr int kBatch = 32;

bool run_batch(Impl &impl, const Options &o) {
    if (!impl.data_batch_setup(o)) {
        std::printf("RESULT datagrams_batch %s n/a dgram/s\n", g_label.c_str());
        return true;
    }
    Rate r = rate(o.seconds, [&] { return impl.data_batch(kBatch); }, 2);
    return report("datagrams_batch", impl, r, "dgram/s", kBatch);
}

// Scenario 4 (server sessions) and 4b (client+server pairs): o.sessions
// sessions, or as many as o.max_seconds allows; per session = growth of heap
// and RSS divided by the sessions actually added (a SESSIONS line says how
// many, and whether the time cap stopped it).
bool run_memory(Impl &impl, const Options &o) {
    if (!impl.memory_setup(o))
        return false;
    MemSample before = mem_sample();
    auto t0 = Clock::now();
    int n = 0;
    bool capped = false;
    for (; n < o.sessions; ++n) {
        if (o.max_seconds > 0 && since(t0) >= o.max_seconds) {
            capped = true;
            break;
        }
        if (!impl.memory_add_session())
            return false;
    }
    MemSample after = mem_sample();
    BENCH_CHECK(n > 0, "no session within %.1f s", o.max_seconds);
    if (o.verbose)
        std::fprintf(stderr, "%s: %d %s in %.2f s; heap %lld -> %lld, RSS %lld -> %lld\n", impl.name(), n,
                     o.keep_clients ? "pairs" : "sessions", since(t0), before.heap, after.heap, before.rss,
                     after.rss);
    const char *prefix = o.keep_clients ? "memory_pair" : "memory";
    std::printf("SESSIONS %s %s %d %s\n", prefix, g_label.c_str(), n, capped ? "capped" : "all");
    result((std::string(prefix) + "_heap").c_str(), impl, double(after.heap - before.heap) / n,
           o.keep_clients ? "B/pair" : "B/session");
    result((std::string(prefix) + "_rss").c_str(), impl, double(after.rss - before.rss) / n,
           o.keep_clients ? "B/pair" : "B/session");
    return true;
}

bool run_cookie(Impl &impl, const Options &o) {
    UdpSocket client;
    if (!impl.cookie_setup(client.port()))
        return false;
    HelloSource source;
    std::string hello = source.first_hello();
    BENCH_CHECK(!hello.empty(), "no ClientHello");
    auto h1 = reinterpret_cast<const std::uint8_t *>(hello.data());
    BENCH_CHECK(!impl.cookie_verify(h1, hello.size()), "a cookie-less hello was verified");
    std::uint8_t hvr[2048];
    wait_readable(client.fd, client.fd, 1000);
    long n = recv_dgram(client.fd, hvr, sizeof hvr);
    BENCH_CHECK(n > 0, "no HelloVerifyRequest");
    std::string cookied = source.answer(hvr, static_cast<std::size_t>(n));
    BENCH_CHECK(!cookied.empty(), "no second ClientHello");
    auto h2 = reinterpret_cast<const std::uint8_t *>(cookied.data());
    BENCH_CHECK(impl.cookie_verify(h2, cookied.size()), "the hello with a cookie was not verified");

    Rate ok = rate(o.seconds, [&] { return impl.cookie_verify(h2, cookied.size()); }, 16);
    if (!report("cookie_verified", impl, ok, "hello/s"))
        return false;

    // Cookie-less hellos: each is answered with a HelloVerifyRequest on the
    // socket; the receiving side is drained every 32 (part of the measured time).
    long count = 0;
    Rate hvrs = rate(o.seconds, [&] {
        if (impl.cookie_verify(h1, hello.size()))
            return false;
        if (++count % 32 == 0)
            drain(client.fd);
        return true;
    });
    return report("cookie_hvr", impl, hvrs, "hello/s");
}

} // namespace

// Scenario 1c, in a process started for it: everything a program does to make
// its first connection, in the order it would: the implementation's global
// set-up (Qt: the QCoreApplication), configurations for both roles, sockets,
// client and server, one PSK handshake (handshake_setup + handshake_once, the
// operation of scenario 1b). Prints
//   FIRST <impl> <spawn> <main entry> <handshake complete> <CPU at complete>
// (CLOCK_MONOTONIC ns; spawn is the launcher's reading just before it started
// this process, from QDTLS_BENCH_SPAWN_NS, -1 without; CPU time of this
// process in ns).
bool run_first(std::int64_t main_ns, int &argc, char **argv, const Options &o) {
    record_cpu_at_handshake(true);
    std::unique_ptr<Impl> impl = make_impl(argc, argv);
    std::string which = impl->name();
    g_label = which == "openssl" && o.raw_bio == "dgram" ? "openssl-dgram" : which;
    if (!impl->handshake_setup(Kind::Psk, o) || !impl->handshake_once())
        return false;
    const char *spawn = std::getenv("QDTLS_BENCH_SPAWN_NS");
    std::printf("FIRST %s %lld %lld %lld %lld\n", g_label.c_str(), spawn ? std::atoll(spawn) : -1LL,
                static_cast<long long>(main_ns), static_cast<long long>(last_handshake_completed_ns()),
                static_cast<long long>(last_handshake_completed_cpu_ns()));
    std::fflush(stdout);
    return true;
}

int main(int argc, char **argv) {
    const std::int64_t main_ns = monotonic_ns();
    if (argc < 2)
        return usage();
    std::string scenario = argv[1];
    Options o;
    for (int i = 2; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&]() -> const char * { return i + 1 < argc ? argv[++i] : ""; };
        if (a == "--seconds")
            o.seconds = std::atof(value());
        else if (a == "--certs")
            o.cert_dir = value();
        else if (a == "--sessions")
            o.sessions = std::atoi(value());
        else if (a == "--max-seconds")
            o.max_seconds = std::atof(value());
        else if (a == "--raw-bio")
            o.raw_bio = value();
        else if (a == "-v")
            o.verbose = true;
        else
            return usage();
    }
    if (scenario == "first") {
        if (run_first(main_ns, argc, argv, o))
            return 0;
        std::fprintf(stderr, "qdtls_bench: first/%s failed\n", g_label.c_str());
        return 1;
    }
    std::unique_ptr<Impl> impl = make_impl(argc, argv);
    std::string which = impl->name();
    g_label = which == "openssl" && o.raw_bio == "dgram" ? "openssl-dgram" : which;
    bool ok = false;
    if (scenario == "psk")
        ok = run_handshakes(*impl, Kind::Psk, o);
    else if (scenario == "newconf")
        ok = run_handshakes_new_config(*impl, o);
    else if (scenario == "ecdsa")
        ok = run_handshakes(*impl, Kind::Ecdsa, o);
    else if (scenario == "resumed")
        ok = run_resumed(*impl, o);
    else if (scenario == "data")
        ok = run_data(*impl, o);
    else if (scenario == "batch")
        ok = run_batch(*impl, o);
    else if (scenario == "memory")
        ok = run_memory(*impl, o);
    else if (scenario == "pairs") {
        o.keep_clients = true;
        ok = run_memory(*impl, o);
    }
    else if (scenario == "cookie")
        ok = run_cookie(*impl, o);
    else
        return usage();
    if (!ok) {
        std::fprintf(stderr, "qdtls_bench: %s/%s failed\n", scenario.c_str(), which.c_str());
        return 1;
    }
    return 0;
}
