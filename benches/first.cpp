// qdtls_first_handshake [--runs N] [--dir DIR] IMPL...: scenario 1c, the first
// handshake of a process, set-up included.
//
// For each run and each IMPL (qdtls, openssl, openssl-dgram, qt, qt-adapter),
// starts DIR/qdtls_bench_IMPL first with posix_spawn and waits for it. The
// child does what a program does to make its first connection (see run_first
// in main.cpp) and reports when its handshake completed. Measured per process:
//   spawn -> handshake complete  CLOCK_MONOTONIC just before posix_spawn (passed
//                                to the child in QDTLS_BENCH_SPAWN_NS) to the
//                                child's reading when both sides are encrypted:
//                                exec, dynamic loading, static initialisers,
//                                main, set-up and handshake; not the teardown.
//                                The table's figure (the median).
//   CPU                          the child's CPU time (all threads) at that moment.
//   spawn -> main, main -> handshake complete, handshake complete -> exit
//                                (the launcher's reading after waitpid): the
//                                parts, reported as medians on a DETAIL line.
// One untimed process per IMPL comes first (page cache, loader); then N runs,
// the implementations interleaved (their order rotating from run to run) so
// that all see the same machine load. Prints per IMPL
//   RESULT first_handshake IMPL <median ms> ms
//   RESULT first_handshake_cpu IMPL <median ms> ms
//   FIRSTDETAIL IMPL runs N spawn_main <ms> main_done <ms> done_exit <ms> min <ms> max <ms>
// Single-threaded children never wait for anything but loopback datagrams, so
// on an idle machine the wall time is CPU time plus page faults; under load
// the CPU figure is the steadier one.
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

extern char **environ;

namespace {

std::int64_t monotonic_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

struct Sample {
    double spawn_done = 0, cpu = 0, spawn_main = 0, main_done = 0, done_exit = 0; // ms
};

// Starts one child and reads its FIRST line; false if it failed.
bool run_once(const std::string &dir, const std::string &impl, Sample &out) {
    std::string exe = dir + "/qdtls_bench_" + (impl == "openssl-dgram" ? std::string("openssl") : impl);
    std::replace(exe.begin() + static_cast<std::ptrdiff_t>(dir.size()), exe.end(), '-', '_');
    std::vector<std::string> args = {exe, "first"};
    if (impl == "openssl-dgram") {
        args.emplace_back("--raw-bio");
        args.emplace_back("dgram");
    }
    std::vector<char *> argv;
    for (std::string &a : args)
        argv.push_back(a.data());
    argv.push_back(nullptr);

    int pipefd[2];
    if (pipe(pipefd) != 0) {
        std::perror("pipe");
        return false;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, pipefd[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, pipefd[0]);
    posix_spawn_file_actions_addclose(&actions, pipefd[1]);

    // The environment with QDTLS_BENCH_SPAWN_NS: built before the clock is
    // read, the value written into its reserved room afterwards.
    std::vector<char *> env;
    for (char **e = environ; *e != nullptr; ++e)
        if (std::strncmp(*e, "QDTLS_BENCH_SPAWN_NS=", 21) != 0)
            env.push_back(*e);
    char spawn_var[64] = "QDTLS_BENCH_SPAWN_NS=";
    env.push_back(spawn_var);
    env.push_back(nullptr);

    std::int64_t t0 = monotonic_ns();
    std::snprintf(spawn_var + 21, sizeof spawn_var - 21, "%lld", static_cast<long long>(t0));
    pid_t pid = 0;
    int err = posix_spawn(&pid, exe.c_str(), &actions, nullptr, argv.data(), env.data());
    posix_spawn_file_actions_destroy(&actions);
    close(pipefd[1]);
    if (err != 0) {
        std::fprintf(stderr, "qdtls_first_handshake: cannot start %s: %s\n", exe.c_str(), std::strerror(err));
        close(pipefd[0]);
        return false;
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
    }
    std::int64_t t_exit = monotonic_ns();
    std::string text;
    char buf[512];
    for (ssize_t n; (n = read(pipefd[0], buf, sizeof buf)) > 0;)
        text.append(buf, static_cast<std::size_t>(n));
    close(pipefd[0]);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        std::fprintf(stderr, "qdtls_first_handshake: %s failed (status %d)\n", impl.c_str(), status);
        return false;
    }
    char label[64];
    long long spawn = 0, main_ns = 0, done = 0, cpu = 0;
    std::size_t at = text.find("FIRST ");
    if (at == std::string::npos ||
        std::sscanf(text.c_str() + at, "FIRST %63s %lld %lld %lld %lld", label, &spawn, &main_ns, &done, &cpu) != 5 ||
        impl != label || spawn != t0 || done <= main_ns) {
        std::fprintf(stderr, "qdtls_first_handshake: %s: unexpected output: %s\n", impl.c_str(), text.c_str());
        return false;
    }
    out.spawn_done = double(done - t0) / 1e6;
    out.cpu = double(cpu) / 1e6;
    out.spawn_main = double(main_ns - t0) / 1e6;
    out.main_done = double(done - main_ns) / 1e6;
    out.done_exit = double(t_exit - done) / 1e6;
    return true;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    std::size_t n = v.size();
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

} // namespace

int main(int argc, char **argv) {
    int runs = 20;
    std::string dir;
    std::vector<std::string> impls;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--runs" && i + 1 < argc)
            runs = std::atoi(argv[++i]);
        else if (a == "--dir" && i + 1 < argc)
            dir = argv[++i];
        else
            impls.push_back(a);
    }
    if (dir.empty()) { // the directory of this executable
        std::string self = argv[0];
        std::size_t slash = self.rfind('/');
        dir = slash == std::string::npos ? "." : self.substr(0, slash);
    }
    if (impls.empty() || runs < 1) {
        std::fprintf(stderr, "usage: qdtls_first_handshake [--runs N] [--dir DIR] IMPL...\n");
        return 2;
    }
    std::vector<std::vector<Sample>> samples(impls.size());
    Sample s;
    for (const std::string &impl : impls)
        if (!run_once(dir, impl, s))
            return 1;
    for (int r = 0; r < runs; ++r)
        for (std::size_t k = 0; k < impls.size(); ++k) {
            std::size_t i = (k + static_cast<std::size_t>(r)) % impls.size();
            if (!run_once(dir, impls[i], s))
                return 1;
            samples[i].push_back(s);
        }
    for (std::size_t i = 0; i < impls.size(); ++i) {
        auto pick = [&](double Sample::*f) {
            std::vector<double> v;
            for (const Sample &x : samples[i])
                v.push_back(x.*f);
            return v;
        };
        std::vector<double> total = pick(&Sample::spawn_done);
        const char *label = impls[i].c_str();
        std::printf("RESULT first_handshake %s %.4f ms\n", label, median(total));
        std::printf("RESULT first_handshake_cpu %s %.4f ms\n", label, median(pick(&Sample::cpu)));
        std::printf("FIRSTDETAIL %s runs %d spawn_main %.3f main_done %.3f done_exit %.3f min %.3f max %.3f\n", label,
                    runs, median(pick(&Sample::spawn_main)), median(pick(&Sample::main_done)),
                    median(pick(&Sample::done_exit)), *std::min_element(total.begin(), total.end()),
                    *std::max_element(total.begin(), total.end()));
    }
    std::fflush(stdout);
    return 0;
}
