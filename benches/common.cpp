// Clocks, sockets and memory sampling shared by the scenarios (no TLS library:
// every implementation's executable links this).
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

namespace bench {

std::int64_t monotonic_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

namespace {
std::int64_t g_handshake_completed_ns = 0, g_handshake_completed_cpu_ns = 0;
bool g_record_cpu = false;
} // namespace

void handshake_completed() {
    g_handshake_completed_ns = monotonic_ns();
    if (g_record_cpu) {
        timespec ts{};
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
        g_handshake_completed_cpu_ns = static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
    }
}
std::int64_t last_handshake_completed_ns() { return g_handshake_completed_ns; }
void record_cpu_at_handshake(bool on) { g_record_cpu = on; }
std::int64_t last_handshake_completed_cpu_ns() { return g_handshake_completed_cpu_ns; }

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

} // namespace bench
