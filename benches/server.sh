#!/bin/sh
# benches/server.sh [PREFIX]: the server benchmark (issue 11). Runs
# examples/bench_server/ (qdtls::Server, release build) and its raw OpenSSL
# controls, each scenario in its own process, for BENCH_ROUNDS rounds, and
# prints one table with every round's figure, then issue 11's targets as
# met / not met with what raw OpenSSL or the machine reaches beside each.
#
#   benches/server.sh /tmp/bench-prefix     (PREFIX: a qdtls install, as for run.sh)
#
# Raw OpenSSL: benches/server_openssl.c (compiled here with cc: 1,000
# sessions round-robin, memory per idle session) and, when PREFIX is given,
# scenario 1 of benches/impl_openssl.cpp (qdtls_bench_openssl psk, the
# one-pair PSK handshake loop, both transports), built as run.sh builds it.
# Without PREFIX that comparison is skipped and says so. benches/run.sh runs
# this script at its end (BENCH_SERVER=0 skips it there).
#
# Environment: BENCH_SECONDS (measured seconds per rate, default 1.25),
# BENCH_ROUNDS (default 2), QDTLS_BENCH_BUILD_DIR (default
# /tmp/qdtls-bench-build), BENCH_SERVER_RESULTS (keep the raw lines in this
# file). Rates are per CPU-second of the process unless the row says wall
# or server-only (see BENCHMARKS.md, "Server (issue 11)"). Speed never fails
# it: the exit status is 0 unless a build or a scenario breaks.
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
build=${QDTLS_BENCH_BUILD_DIR:-/tmp/qdtls-bench-build}
seconds=${BENCH_SECONDS:-1.25}
rounds=${BENCH_ROUNDS:-2}
prefix=""
if [ $# -ge 1 ]; then
    if [ ! -d "$1" ]; then
        echo "usage: $0 [PREFIX]   (a qdtls install prefix, for raw OpenSSL's handshake loop)" >&2
        exit 2
    fi
    prefix=$(cd "$1" && pwd)
fi
started=$(date +%s)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/qdtls-server-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
failures=0

echo "== server benchmark (issue 11)"
echo "== machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), Linux $(uname -r), $(openssl version)"
echo "== qdtls commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$root" diff --quiet HEAD -- src 2>/dev/null || echo ' (src/ modified)')"
echo "== load before: $(cut -d' ' -f1-3 /proc/loadavg)"

if ! (cd "$root" && cargo build --release --quiet --example bench_server) >"$tmp/cargo.log" 2>&1; then
    cat "$tmp/cargo.log" >&2
    echo "server.sh: building examples/bench_server/ failed" >&2
    exit 1
fi
bench_server=$(cd "$root" && cargo metadata --format-version 1 --no-deps 2>/dev/null |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/release/examples/bench_server
mkdir -p "$build"
raw=$build/qdtls_server_openssl
if ! cc -O2 -Wall -Wextra -Werror -o "$raw" "$here/server_openssl.c" -lssl -lcrypto 2>"$tmp/cc.log"; then
    cat "$tmp/cc.log" >&2
    echo "server.sh: building benches/server_openssl.c failed" >&2
    exit 1
fi
loop=""
if [ -n "$prefix" ]; then
    if cmake -S "$here" -B "$build" -UQDtls_DIR -DCMAKE_PREFIX_PATH="$prefix" >"$tmp/cmake.log" 2>&1 &&
        cmake --build "$build" -j"$(nproc)" --target qdtls_bench_openssl >>"$tmp/cmake.log" 2>&1; then
        loop=$build/qdtls_bench_openssl
    else
        cat "$tmp/cmake.log" >&2
        echo "FAILED: building qdtls_bench_openssl (benches/CMakeLists.txt)" >&2
        failures=$((failures + 1))
    fi
else
    echo "-- skipped: raw OpenSSL's one-pair handshake loop (no PREFIX; qdtls_bench_openssl needs benches/CMakeLists.txt)"
fi

# One process; its lines go to the round's file.
one() { # file command...
    out=$1
    shift
    "$@" >>"$out" 2>"$tmp/err"
    status=$?
    if [ $status -ne 0 ]; then
        echo "FAILED: $* (exit $status):" >&2
        cat "$tmp/err" >&2
        failures=$((failures + 1))
    fi
}

# Each qdtls measurement runs next to its raw OpenSSL counterpart (this host's
# speed drifts within minutes), the two in the other order in even rounds.
pair() { # file round qdtls-scenario raw-command...
    file=$1 r=$2 scenario=$3
    shift 3
    if [ $((r % 2)) -eq 1 ]; then
        one "$file" "$bench_server" "$scenario" --seconds "$seconds"
        [ $# -gt 0 ] && one "$file" "$@"
    else
        [ $# -gt 0 ] && one "$file" "$@"
        one "$file" "$bench_server" "$scenario" --seconds "$seconds"
    fi
}
round=1
while [ "$round" -le "$rounds" ]; do
    out=$tmp/round$round
    : >"$out"
    echo "-- round $round: idle, handshakes + raw psk loop, reuseport, data + raw data, decrypt + raw decrypt, flood, flood-socket"
    pair "$out" "$round" idle "$raw" idle
    one "$out" "$raw" idle-free
    if [ -n "$loop" ]; then
        pair "$out" "$round" handshakes "$loop" psk --seconds "$seconds"
        one "$out" "$loop" psk --seconds "$seconds" --raw-bio dgram
    else
        one "$out" "$bench_server" handshakes --seconds "$seconds"
    fi
    one "$out" "$bench_server" reuseport --seconds "$seconds"
    pair "$out" "$round" data "$raw" data "$seconds"
    pair "$out" "$round" decrypt "$raw" decrypt "$seconds"
    one "$out" "$bench_server" flood --seconds "$seconds"
    one "$out" "$bench_server" flood-socket --seconds "$seconds"
    round=$((round + 1))
done
echo "== load after: $(cut -d' ' -f1-3 /proc/loadavg); $(($(date +%s) - started)) s in all"
if [ -n "${BENCH_SERVER_RESULTS:-}" ]; then
    for f in "$tmp"/round*; do
        echo "# $(basename "$f")"
        cat "$f"
    done >"$BENCH_SERVER_RESULTS"
fi
awk '$1 == "CPUSHARE" { n++; s += $4; if (min == "" || $4 < min) min = $4 }
     END { if (n) printf "== CPU share of the single-threaded rates: mean %.2f, lowest %.2f\n", s / n, min }' "$tmp"/round*
echo
for f in "$tmp"/round*; do
    echo "$(basename "$f" | sed 's/round/round /'):"
    grep -h '^NOTE' "$f" | sed 's/^NOTE /  /'
done
echo

awk -v rounds="$rounds" '
function commas(x,   s, neg, out) {
    neg = x < 0; if (neg) x = -x
    s = sprintf("%.0f", x); out = ""
    while (length(s) > 3) { out = "," substr(s, length(s) - 2) out; s = substr(s, 1, length(s) - 3) }
    return (neg ? "-" : "") s out
}
FNR == 1 { r = FILENAME; sub(/.*round/, "", r); r += 0 }
$1 == "RESULT" { k = ($3 == "openssl-dgram" ? $2 "@dgram" : $2); v[k, r] = $4 + 0; seen[k] = 1 }
function has(k, r) { return (k, r) in v }
function at(k, r) { return has(k, r) ? v[k, r] : -1 }
# Best of the rounds: higher is better unless low says otherwise.
function best(k, low,   i, b) {
    b = -1
    for (i = 1; i <= rounds; i++)
        if (has(k, i) && (b < 0 || (low ? v[k, i] < b : v[k, i] > b))) b = v[k, i]
    return b
}
function fmt(x, d) { return x < 0 ? "n/a" : (d ? sprintf("%." d "f", x) : commas(x)) }
function cells(k, d,   i, s) {
    s = ""
    for (i = 1; i <= rounds; i++) s = s sprintf(" %14s |", fmt(at(k, i), d))
    return s
}
function row(label, k, unit, d) {
    if (!(k in seen)) return
    printf "| %-62s |%s %-9s |\n", label, cells(k, d), unit
}
# A ratio per round, from two metrics.
function rrow(label, a, b,   i, s) {
    s = ""
    for (i = 1; i <= rounds; i++)
        s = s sprintf(" %14s |", (at(a, i) > 0 && at(b, i) > 0) ? sprintf("%.2fx", v[a, i] / v[b, i]) : "n/a")
    printf "| %-62s |%s %-9s |\n", label, s, ""
}
# The better raw OpenSSL transport of a round (psk loop).
function rawpsk(i,   a, b) { a = at("psk_handshakes", i); b = at("psk_handshakes@dgram", i); return a > b ? a : b }
function target(text, ok) { printf "%-92s %s\n", text, ok ? "met" : "NOT met" }
function evidence(text) { printf "    %s\n", text }
function ratio(a, b) { return (a > 0 && b > 0) ? sprintf("%.2f", a / b) : "-" }
END {
    h = ""; sep = ""
    for (i = 1; i <= rounds; i++) { h = h sprintf(" %14s |", "round " i); sep = sep "---------------:|" }
    printf "| %-62s |%s %-9s |\n", "measurement", h, "unit"
    printf "|%s|%s%s|\n", "----------------------------------------------------------------", sep, "-----------"
    print "| **1. 10,000 idle peers** | | | |"
    row("RSS per idle peer (statm; clients dropped)", "server_idle_rss_per_peer", "bytes")
    row("heap per idle peer (mallinfo2)", "server_idle_heap_per_peer", "bytes")
    row("raw OpenSSL: RSS per idle server session", "openssl_idle_rss_per_session", "bytes")
    row("raw OpenSSL: the same after SSL_free_buffers", "openssl_idle_rss_per_session_free_buffers", "bytes")
    row("raw OpenSSL: heap per idle session, after SSL_free_buffers", "openssl_idle_heap_per_session_free_buffers", "bytes")
    row("next_timeout + handle_timeouts, 100 idle peers", "server_timer_ns_100", "ns", 1)
    row("next_timeout + handle_timeouts, 1,000 idle peers", "server_timer_ns_1000", "ns", 1)
    row("next_timeout + handle_timeouts, 10,000 idle peers", "server_timer_ns_10000", "ns", 1)
    print "| **2. PSK handshakes** | | | |"
    row("server, many client ports, cookie exchange off", "server_psk_handshakes", "hs/s")
    row("server, cookie exchange on", "server_psk_handshakes_cookie", "hs/s")
    row("raw OpenSSL one-pair loop, memory BIOs (impl_openssl.cpp)", "psk_handshakes", "hs/s")
    row("raw OpenSSL one-pair loop, BIO_s_datagram", "psk_handshakes@dgram", "hs/s")
    row("Rust API one-pair loop (Dtls on both sides)", "pair_psk_handshakes", "hs/s")
    row("server CPU per handshake (cookies off), thread clock", "server_cpu_us_per_handshake", "us", 1)
    row("client CPU per handshake (cookies off)", "client_cpu_us_per_handshake", "us", 1)
    row("SO_REUSEPORT, 1 server thread: wall (2 client threads)", "server_reuseport_wall_1", "hs/s")
    row("SO_REUSEPORT, 2 server threads: wall (2 client threads)", "server_reuseport_wall_2", "hs/s")
    row("1 server thread: per server-thread CPU-second", "server_reuseport_capacity_1", "hs/s")
    row("2 server threads: sum of per-thread CPU-second rates", "server_reuseport_capacity_2", "hs/s")
    print "| **3. 1200-byte datagrams** | | | |"
    row("one session (Dtls pair)", "session_datagrams", "dgram/s")
    row("server, 1 peer", "server_datagrams_1", "dgram/s")
    row("server, 1,000 peers round-robin", "server_datagrams_1000", "dgram/s")
    row("1,000 Dtls pairs round-robin, no server", "sessions_datagrams_1000", "dgram/s")
    row("raw OpenSSL, one session", "openssl_sessions_datagrams_1", "dgram/s")
    row("raw OpenSSL, 1,000 sessions round-robin", "openssl_sessions_datagrams_1000", "dgram/s")
    row("receive side only, no sockets: one Dtls session", "sansio_sessions_decrypt_1", "dgram/s")
    row("  1,000 Dtls sessions round-robin", "sansio_sessions_decrypt_1000", "dgram/s")
    row("  server (handle_datagram), 1 peer", "sansio_server_decrypt_1", "dgram/s")
    row("  server (handle_datagram), 1,000 peers round-robin", "sansio_server_decrypt_1000", "dgram/s")
    row("  raw OpenSSL (BIO_write + SSL_read), one session", "openssl_sansio_decrypt_1", "dgram/s")
    row("  raw OpenSSL, 1,000 sessions round-robin", "openssl_sansio_decrypt_1000", "dgram/s")
    row("bursts of 32, 1,000 peers: recv_from + handle_datagram", "server_burst_single_1000", "dgram/s")
    row("bursts of 32, 1,000 peers: Server::receive (recvmmsg)", "server_burst_batch_1000", "dgram/s")
    row("  the same, server side only: one by one", "server_burst_single_1000_server_only", "dgram/s")
    row("  the same, server side only: Server::receive", "server_burst_batch_1000_server_only", "dgram/s")
    row("  server side only, 1 peer: one by one", "server_burst_single_1_server_only", "dgram/s")
    row("  server side only, 1 peer: Server::receive", "server_burst_batch_1_server_only", "dgram/s")
    row("  control: recv_from only, not handled", "server_burst_recvfrom_only_server_only", "dgram/s")
    row("  control: recvmmsg only, not handled", "server_burst_recvmmsg_only_server_only", "dgram/s")
    print "| **4. Floods** | | | |"
    row("cookie-less hellos, handle_datagram, per CPU-second", "server_flood_hellos", "hello/s")
    row("  RSS growth over 1,000,000 (real client included)", "server_flood_rss_growth", "bytes")
    row("  heap growth over 1,000,000 (real client included)", "server_flood_heap_growth", "bytes")
    row("real sockets, Server::receive: wall", "server_socket_flood_hellos_wall", "hello/s")
    row("real sockets: per CPU-second of the server thread", "server_socket_flood_hellos_reader_cpu", "hello/s")
    row("  RSS growth (real sockets)", "server_socket_flood_hellos_rss_growth", "bytes")
    row("control, no DTLS: recvmmsg + sendto each: wall", "echo_each_socket_flood_wall", "hello/s")
    row("control, no DTLS: recvmmsg + sendto each: reader CPU", "echo_each_socket_flood_reader_cpu", "hello/s")
    row("control, no DTLS: recvmmsg + sendmmsg: wall", "echo_batch_socket_flood_wall", "hello/s")
    row("control, no DTLS: recvmmsg + sendmmsg: reader CPU", "echo_batch_socket_flood_reader_cpu", "hello/s")
    row("verified hellos that never finish, per CPU-second", "server_verified_flood_hellos", "hello/s")
    row("  most handshakes at once (max_handshakes 1,024)", "server_verified_flood_max_handshakes", "")
    row("  most peers at once, the real client not counted", "server_verified_flood_max_peers", "")
    row("  RSS growth over 100,000 (after 50,000 of warm-up)", "server_verified_flood_rss_growth", "bytes")
    print ""
    print "Best of " rounds " round(s) in the targets below (lowest for memory and times)."
    print ""
    print "Targets (issue 11, the server):"
    m = best("server_idle_rss_per_peer", 1); o = best("openssl_idle_rss_per_session_free_buffers", 1)
    target("RSS per idle peer <= 32 KiB (" commas(m) " bytes)", m > 0 && m <= 32768)
    evidence("raw OpenSSL: " commas(best("openssl_idle_rss_per_session", 1)) " bytes per idle session, " commas(o) " after SSL_free_buffers (" (o > 0 && o <= 32768 ? "meets it" : "short of it") ")")
    a = best("server_timer_ns_100", 1); b = best("server_timer_ns_10000", 1)
    target("timer cost flat in idle peers: 10,000 within 1.5x of 100 (" sprintf("%.0f", a) " -> " sprintf("%.0f", b) " ns, " ratio(b, a) "x)", a > 0 && b > 0 && b <= 1.5 * a)
    s = best("server_psk_handshakes"); r = -1
    for (i = 1; i <= rounds; i++) if (rawpsk(i) > r) r = rawpsk(i)
    if (r > 0)
        target("PSK handshakes through the server >= 0.9x raw OpenSSL one-pair loop (" ratio(s, r) "x)", s > 0 && s >= 0.9 * r)
    else
        printf "%-92s %s\n", "PSK handshakes through the server >= 0.9x raw OpenSSL one-pair loop (not measured: no PREFIX)", "n/a"
    c1 = best("server_reuseport_capacity_1"); c2 = best("server_reuseport_capacity_2")
    w1 = best("server_reuseport_wall_1"); w2 = best("server_reuseport_wall_2")
    target("2 SO_REUSEPORT threads >= 1.8x one, server CPU only (" ratio(c2, c1) "x; wall " ratio(w2, w1) "x)", c1 > 0 && c2 >= 1.8 * c1)
    evidence("wall: 2 cores for servers and clients together; per server-thread CPU-second is what each server would do with a core of its own")
    d = best("server_datagrams_1000"); o1 = best("session_datagrams")
    target("datagrams round-robin over 1,000 peers >= 0.9x one session (" ratio(d, o1) "x)", d > 0 && o1 > 0 && d >= 0.9 * o1)
    x = ratio(best("openssl_sessions_datagrams_1000"), best("openssl_sessions_datagrams_1"))
    y = ratio(best("sessions_datagrams_1000"), o1)
    evidence("raw OpenSSL, 1,000 sessions vs one: " x "x (" (x != "-" && x + 0 >= 0.9 ? "meets it" : "short of it") "); 1,000 Dtls pairs without the server: " y "x")
    evidence("server 1,000 peers vs server 1 peer: " ratio(d, best("server_datagrams_1")) "x; vs 1,000 Dtls pairs without the server: " ratio(d, best("sessions_datagrams_1000")) "x")
    x = ratio(best("openssl_sansio_decrypt_1000"), best("openssl_sansio_decrypt_1"))
    evidence("receive side only, no sockets: raw OpenSSL 1,000 sessions vs one " x "x (" (x != "-" && x + 0 >= 0.9 ? "meets it" : "short of it") "); Dtls sessions " ratio(best("sansio_sessions_decrypt_1000"), best("sansio_sessions_decrypt_1")) "x; server 1,000 peers vs one session " ratio(best("sansio_server_decrypt_1000"), best("sansio_sessions_decrypt_1")) "x, vs 1 peer " ratio(best("sansio_server_decrypt_1000"), best("sansio_server_decrypt_1")) "x")
    b1 = best("server_burst_batch_1000"); s1 = best("server_burst_single_1000")
    b2 = best("server_burst_batch_1000_server_only"); s2 = best("server_burst_single_1000_server_only")
    target("Server::receive (recvmmsg) >= 1.3x handle_datagram one by one (" ratio(b1, s1) "x; server side only " ratio(b2, s2) "x)", s1 > 0 && b1 >= 1.3 * s1)
    rf = best("server_burst_recvfrom_only_server_only"); rm = best("server_burst_recvmmsg_only_server_only")
    if (rf > 0 && rm > 0 && s2 > 0) {
        # Server-side time per datagram one by one, minus what recvmmsg saves on the receive calls.
        t1 = 1e9 / s2; save = 1e9 / rf - 1e9 / rm
        evidence(sprintf("receive calls alone: recv_from %.0f ns, recvmmsg %.0f ns per datagram; handled one by one %.0f ns: recvmmsg can save at most %.2fx", 1e9 / rf, 1e9 / rm, t1, (t1 - save > 0) ? t1 / (t1 - save) : 0))
    }
    f = best("server_flood_hellos"); g = best("server_flood_rss_growth", 1)
    target("cookie-less hellos >= 300,000/s, handle_datagram (" commas(f) "/s)", f >= 300000)
    target("  with flat memory: RSS growth < 1 MiB over 1,000,000 (" commas(g) " bytes)", g >= 0 && g < 1048576)
    fw = best("server_socket_flood_hellos_wall"); fc = best("server_socket_flood_hellos_reader_cpu")
    target("cookie-less hellos >= 300,000/s, real sockets, wall (" commas(fw) "/s; per server CPU-second " commas(fc) "/s)", fw >= 300000)
    evidence("no DTLS at all, the same sockets: recvmmsg + one sendto each " commas(best("echo_each_socket_flood_wall")) "/s wall (" commas(best("echo_each_socket_flood_reader_cpu")) "/s per reader CPU-second), recvmmsg + sendmmsg " commas(best("echo_batch_socket_flood_wall")) "/s wall (" commas(best("echo_batch_socket_flood_reader_cpu")) ")")
    mh = -1; mp = -1
    for (i = 1; i <= rounds; i++) { if (at("server_verified_flood_max_handshakes", i) > mh) mh = at("server_verified_flood_max_handshakes", i); if (at("server_verified_flood_max_peers", i) > mp) mp = at("server_verified_flood_max_peers", i) }
    target("100,000 verified hellos: handshakes and peers never above max_handshakes 1,024 (" mh ", " mp ")", mh >= 0 && mh <= 1024 && mp <= 1024)
    print "A real client connects during every flood (the run fails otherwise): see the NOTE lines above."
}' "$tmp"/round*

if [ "$failures" -ne 0 ]; then
    echo
    echo "server.sh: $failures run(s) failed (see above)" >&2
    exit 1
fi
exit 0
