#!/bin/sh
# benches/run.sh PREFIX: builds the benchmarks against the qdtls installed in
# PREFIX (with its Qt adapter, QDtls::qdtls_qt), runs every scenario for qdtls's
# C ABI, raw OpenSSL, Qt's QDtls and the same Qt code on the qdtls Qt adapter
# (each scenario and implementation in its own process, from an executable
# that links only that implementation) and prints one table with absolute
# figures and ratios, then the issues' targets as met / not met. Scenarios 1,
# 1b and 3 also run, when available, for the Rust API
# (examples/bench_rust_api.rs, needs cargo) and for the Python package and
# PySide6's own QDtls (benches/bench_python.py in python/.venv, made by
# python/run-tests.sh), in a second table; "skipped: ..." says what is not.
# Then benches/server.sh runs the server benchmark (issue 11) with its own
# table and targets (BENCH_SERVER=0 skips it).
#
#   cmake -S . -B /tmp/b -DCMAKE_BUILD_TYPE=Release && cmake --build /tmp/b -j2 &&
#   cmake --install /tmp/b --prefix /tmp/p && benches/run.sh /tmp/p
#
# Rates are operations per CPU-second of the benchmark process (equal to per
# elapsed second on an idle core; see rate() in bench.hpp), which keeps them
# comparable when other jobs compete for the cores. The first handshake of a
# process (1c) is wall time from posix_spawn, with CPU time beside it.
#
# Environment: BENCH_SECONDS (measured seconds per run, default 1.25),
# BENCH_ROUNDS (default 2; rounds alternate the order of the implementations
# and the best round counts), BENCH_SESSIONS (scenario 4, default 10000),
# BENCH_PAIRS (scenario 4b, default 5000), BENCH_MEMORY_SECONDS (4 and 4b stop
# adding sessions after this long, default 20; the table notes who stopped),
# BENCH_FIRST_RUNS (scenario 1c: processes per implementation, default 20;
# the median counts), QDTLS_BENCH_BUILD_DIR (default /tmp/qdtls-bench-build),
# BENCH_RESULTS (keep the raw RESULT lines in this file), BENCH_PY_SECONDS
# (measured seconds per Python run, default BENCH_SECONDS).
# Benchmarks report; they never fail on speed: the exit status is 0 unless a
# build or a scenario breaks.
set -u

if [ $# -ne 1 ] || [ ! -d "$1" ]; then
    echo "usage: $0 PREFIX   (a qdtls install prefix)" >&2
    exit 2
fi
prefix=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
build=${QDTLS_BENCH_BUILD_DIR:-/tmp/qdtls-bench-build}
seconds=${BENCH_SECONDS:-1.25}
rounds=${BENCH_ROUNDS:-2}
sessions=${BENCH_SESSIONS:-10000}
pairs=${BENCH_PAIRS:-5000}
memory_seconds=${BENCH_MEMORY_SECONDS:-20}
first_runs=${BENCH_FIRST_RUNS:-20}
started=$(date +%s)

echo "== building the benchmarks in $build against $prefix"
# -UQDtls_DIR: a build directory reused with another PREFIX must not keep the old package.
if ! cmake -S "$here" -B "$build" -UQDtls_DIR -DCMAKE_PREFIX_PATH="$prefix" >"$build.log" 2>&1 ||
    ! cmake --build "$build" -j"$(nproc)" >>"$build.log" 2>&1; then
    cat "$build.log"
    echo "run.sh: the build failed" >&2
    exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/qdtls-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
results=${BENCH_RESULTS:-$tmp/results}
: >"$results"
failures=0

# Scenario 2's certificates, made now: a P-256 CA and a P-256 server
# certificate for "localhost" signed by it. groups.cnf makes every
# implementation's OpenSSL use P-256 for ECDHE too (OpenSSL applies the
# system_default section to every SSL_CTX; qdtls and Qt have no group setting).
certs=$tmp/certs
mkdir -p "$certs"
if ! (cd "$certs" &&
    openssl ecparam -name prime256v1 -genkey -noout -out ca.key &&
    openssl req -x509 -new -key ca.key -sha256 -days 2 -subj "/CN=qdtls bench CA" -out ca.pem &&
    openssl ecparam -name prime256v1 -genkey -noout -out server.key &&
    openssl req -new -key server.key -subj "/CN=localhost" -out server.csr &&
    printf 'subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n' >ext.cnf &&
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -sha256 \
        -extfile ext.cnf -out server.pem) >"$tmp/certs.log" 2>&1; then
    cat "$tmp/certs.log"
    echo "run.sh: cannot make the certificates" >&2
    exit 1
fi
cat >"$certs/groups.cnf" <<'EOF'
openssl_conf = openssl_init
[openssl_init]
ssl_conf = ssl_sect
[ssl_sect]
system_default = system_default_sect
[system_default_sect]
Groups = P-256
EOF

# The executable of an implementation: qdtls_bench_qdtls, _openssl, _qt, _qt_adapter.
exe() { # prefix impl
    case $2 in
    openssl-dgram) echo "$build/$1_openssl" ;;
    *) echo "$build/$1_$(echo "$2" | tr - _)" ;;
    esac
}

# One scenario for one implementation, in its own process.
bench() { # scenario impl [options]
    scenario=$1
    impl=$2
    shift 2
    bin=$(exe qdtls_bench "$impl")
    [ "$impl" = openssl-dgram ] && set -- --raw-bio dgram "$@"
    if [ "$scenario" = ecdsa ] || [ "$scenario" = resumed ]; then
        OPENSSL_CONF=$certs/groups.cnf "$bin" "$scenario" "$@" --certs "$certs" >>"$results" 2>"$tmp/err"
    else
        "$bin" "$scenario" "$@" >>"$results" 2>"$tmp/err"
    fi
    status=$?
    if [ $status -ne 0 ]; then
        echo "FAILED: $scenario $impl (exit $status):" >&2
        cat "$tmp/err" >&2
        failures=$((failures + 1))
    fi
}

echo "== machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), Linux $(uname -r)"
echo "== $(openssl version), Qt $(pkg-config --modversion Qt6Network 2>/dev/null || echo '?'), qdtls $(sed -n 's/^#define QDTLS_VERSION_STRING "\(.*\)"/\1/p' "$prefix/include/qdtls/qdtls.h")"
echo "== library: $(sed -n 's/^QDtls_DIR:PATH=//p' "$build/CMakeCache.txt")"
echo "== load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== $rounds round(s) of ${seconds} s per scenario and implementation"

impls="qdtls openssl openssl-dgram qt qt-adapter"
reversed="qt-adapter qt openssl-dgram openssl qdtls"
round=1
while [ "$round" -le "$rounds" ]; do
    order=$impls
    [ $((round % 2)) -eq 0 ] && order=$reversed
    echo "-- round $round: psk newconf ecdsa resumed data cookie batch"
    for scenario in psk newconf ecdsa resumed data cookie; do
        for impl in $order; do
            # The verifier scenario has no transport variant.
            [ "$scenario" = cookie ] && [ "$impl" = openssl-dgram ] && continue
            # Qt's QDtls has no session resumption (nor has the adapter).
            [ "$scenario" = resumed ] && { [ "$impl" = qt ] || [ "$impl" = qt-adapter ]; } && continue
            bench "$scenario" "$impl" --seconds "$seconds"
        done
    done
    bench batch qdtls --seconds "$seconds"
    round=$((round + 1))
done

# The Rust API (examples/bench_rust_api.rs) and the Python package (qdtls in
# python/.venv, beside PySide6's own QDtls), scenarios 1, 1b and 3, when
# they are available. Not linked to PREFIX: the Rust example is built from
# this tree, the Python package is the one installed in the venv.
# BENCH_PY_SECONDS: measured seconds per Python run (default BENCH_SECONDS).
root=$(cd "$here/.." && pwd)
py_seconds=${BENCH_PY_SECONDS:-$seconds}
venv_python=$root/python/.venv/bin/python
other_impls=""
if ! command -v cargo >/dev/null 2>&1; then
    echo "-- skipped: Rust API (no cargo on PATH)"
elif ! (cd "$root" && cargo build --release --quiet --example bench_rust_api) >"$tmp/cargo.log" 2>&1; then
    cat "$tmp/cargo.log" >&2
    echo "FAILED: building examples/bench_rust_api.rs" >&2
    failures=$((failures + 1))
else
    other_impls="rust-api"
fi
if [ ! -x "$venv_python" ]; then
    echo "-- skipped: Python qdtls and PySide6 QDtls (no $venv_python; python/run-tests.sh makes it)"
else
    if "$venv_python" -c 'import qdtls' >/dev/null 2>&1; then
        other_impls="$other_impls python"
    else
        echo "-- skipped: Python qdtls (not importable in python/.venv; python/run-tests.sh installs it)"
    fi
    if "$venv_python" -c 'import PySide6.QtNetwork' >/dev/null 2>&1; then
        other_impls="$other_impls pyside6"
    else
        echo "-- skipped: PySide6 QDtls (PySide6 not importable in python/.venv)"
    fi
fi
other() { # scenario impl
    case $2 in
    rust-api) (cd "$root" && cargo run --release --quiet --example bench_rust_api -- "$1" --seconds "$seconds") ;;
    *) QT_QPA_PLATFORM=${QT_QPA_PLATFORM:-offscreen} "$venv_python" "$here/bench_python.py" "$1" "$2" --seconds "$py_seconds" ;;
    esac >>"$results" 2>"$tmp/err"
    status=$?
    if [ $status -ne 0 ]; then
        echo "FAILED: $1 $2 (exit $status):" >&2
        cat "$tmp/err" >&2
        failures=$((failures + 1))
    fi
}
if [ -n "$other_impls" ]; then
    round=1
    while [ "$round" -le "$rounds" ]; do
        order=$other_impls
        [ $((round % 2)) -eq 0 ] && order=$(echo $other_impls | tr ' ' '\n' | tac | tr '\n' ' ')
        echo "-- other APIs, round $round: psk newconf data for$(printf ' %s' $order)"
        for scenario in psk newconf data; do
            for impl in $order; do
                other "$scenario" "$impl"
            done
        done
        round=$((round + 1))
    done
fi

# Scenario 1c: the launcher starts qdtls_bench_IMPL first for every
# implementation in turn, $first_runs times (after one untimed start each).
echo "-- first handshake of a process: $first_runs processes per implementation, interleaved"
if ! "$build/qdtls_first_handshake" --runs "$first_runs" --dir "$build" $impls >>"$results" 2>"$tmp/err"; then
    echo "FAILED: qdtls_first_handshake:" >&2
    cat "$tmp/err" >&2
    failures=$((failures + 1))
fi

echo "-- memory: $sessions server sessions, then $pairs client+server pairs per implementation (at most ${memory_seconds} s each)"
for impl in $impls; do
    bench memory "$impl" --sessions "$sessions" --max-seconds "$memory_seconds"
done
for impl in $impls; do
    bench pairs "$impl" --sessions "$pairs" --max-seconds "$memory_seconds"
done

echo "-- allocations per datagram"
for impl in qdtls openssl qt qt-adapter; do
    if ! "$(exe qdtls_alloc_check "$impl")" >>"$results" 2>"$tmp/err"; then
        echo "FAILED: qdtls_alloc_check $impl:" >&2
        cat "$tmp/err" >&2
        failures=$((failures + 1))
    fi
done
grep '^CHECK' "$results"
echo "== load after: $(cut -d' ' -f1-3 /proc/loadavg); $(($(date +%s) - started)) s in all"
# Rates are per CPU-second of the benchmark process; the share of a core it
# got tells how much other jobs competed (1.00 = a core to itself).
awk '$1 == "CPUSHARE" { n++; s += $4; if (min == "" || $4 < min) min = $4 }
     END { if (n) printf "== CPU share of the measured runs: mean %.2f, lowest %.2f\n", s / n, min }' "$results"
echo

awk -v rounds="$rounds" -v memory_seconds="$memory_seconds" '
function commas(x,   s, neg, out) {
    neg = x < 0; if (neg) x = -x
    s = sprintf("%.0f", x); out = ""
    while (length(s) > 3) { out = "," substr(s, length(s) - 2) out; s = substr(s, 1, length(s) - 3) }
    return (neg ? "-" : "") s out
}
function fmt(m, x) { return (m ~ /^alloc/) ? sprintf("%.3f", x) : (m ~ /^first/) ? sprintf("%.2f", x) : commas(x) }
function has(m, i) { return (m SUBSEP i) in v }
function val(m, i) { return has(m, i) ? v[m SUBSEP i] : -1 }
# Lower is better for these metrics (memory, times); higher for the rest (rates).
function lower(m) { return m ~ /^(memory|first)/ }
# Scenario 1c: the parts of the first handshake (medians).
$1 == "FIRSTDETAIL" { firstruns = $4; first = first sprintf("\n  %-14s %6.2f + %6.2f ms (exit %5.2f ms later; fastest %6.2f, slowest %6.2f)", $2, $6, $8, $10, $12, $14) }
# Memory runs the time cap stopped.
$1 == "SESSIONS" && $5 == "capped" { capped = capped sprintf("\n  %s, %s: %s %s", $3, ($2 == "memory" ? "4" : "4b"), commas($4), ($2 == "memory" ? "sessions" : "pairs")) }
# Best of the rounds: highest rate, lowest memory.
$1 == "RESULT" && $4 != "n/a" {
    k = $2 SUBSEP $3; x = $4 + 0
    if (!(k in v)) v[k] = x
    else if (lower($2)) { if (x < v[k]) v[k] = x }
    else if (x > v[k]) v[k] = x
}
# The raw OpenSSL column: the better transport variant.
function raw(m,   a, b) {
    a = has(m, "openssl"); b = has(m, "openssl-dgram")
    if (a && b) {
        if (lower(m) ? v[m SUBSEP "openssl-dgram"] < v[m SUBSEP "openssl"] : v[m SUBSEP "openssl-dgram"] > v[m SUBSEP "openssl"]) { rawvar = "dgram"; return v[m SUBSEP "openssl-dgram"] }
        rawvar = "mem"; return v[m SUBSEP "openssl"]
    }
    if (a) { rawvar = "mem"; return v[m SUBSEP "openssl"] }
    if (b) { rawvar = "dgram"; return v[m SUBSEP "openssl-dgram"] }
    rawvar = ""; return -1
}
function ratio(a, b) { return (a > 0 && b > 0) ? sprintf(a / b < 0.095 ? "%.3f" : "%.2f", a / b) : "-" }
function line(a, b, c, d, e, f, g, h, i) {
    printf "| %-46s | %12s | %24s | %18s | %18s | %9s | %7s | %10s | %15s |\n", a, b, c, d, e, f, g, h, i
}
# One row: m is the metric of the C ABI column; rm / qm the metrics shown in
# the OpenSSL / Qt and adapter columns (scenario 3b compares with their
# single-datagram throughput). Keeps the values in Q (C ABI), R (raw), T (Qt),
# A (adapter), by metric.
function row(label, m, rm, qm,   q, r, t, a, rc, tc, ac, al) {
    q = val(m, "qdtls"); r = raw(rm); t = val(qm, "qt"); a = val(qm, "qt-adapter")
    rc = (r < 0) ? "n/a" : fmt(rm, r) " (" rawvar (rm != m ? ", single" : "") ")"
    tc = (t < 0) ? "n/a" : fmt(qm, t) (qm != m ? " (single)" : "")
    ac = (a < 0) ? "n/a" : fmt(qm, a) (qm != m ? " (single)" : "")
    al = m ~ /^alloc/
    line(label, (q < 0 ? "n/a" : fmt(m, q)), rc, tc, ac, al ? "-" : ratio(q, r), al ? "-" : ratio(q, t),
         al ? "-" : ratio(a, t), al ? "-" : ratio(a, r))
    Q[m] = q; R[m] = r; T[m] = t; A[m] = a
}
function line2(a, b, c, d, e, f, g, h) {
    printf "| %-46s | %9s | %13s | %14s | %13s | %15s | %16s | %15s |\n", a, b, c, d, e, f, g, h
}
# A row of the second table: the Rust API, the Python package, PySide6.
function row2(label, m,   u, p, s, r) {
    u = val(m, "rust-api"); p = val(m, "python"); s = val(m, "pyside6"); r = raw(m)
    line2(label, (u < 0 ? "n/a" : fmt(m, u)), (p < 0 ? "n/a" : fmt(m, p)), (s < 0 ? "n/a" : fmt(m, s)),
          ratio(u, r), ratio(p, r), ratio(s, r), ratio(p, s))
}
function target(text, ok) { printf "%-80s %s\n", text, ok ? "met" : "NOT met"; }
# What raw OpenSSL reaches for a target stated against Qt: x (raw / Qt) must be
# >= goal (or <= goal when lower is better). Counts the variants that reach it
# in reached, so that beyond() can say when none does.
function reach(x, goal, low) {
    if (x == "-") return "n/a"
    x += 0 # ratio() gives a string
    if (low ? x <= goal : x >= goal) { reached++; return "meets it" }
    return "short of it"
}
function beyond() {
    if (!reached) evidence("=> this target is beyond what raw OpenSSL itself reaches in this run")
    reached = 0
}
function evidence(text) { printf "    %s\n", text }
END {
    line("scenario", "qdtls C ABI", "raw OpenSSL", "Qt QDtls", "qdtls Qt adapter", "C/OpenSSL", "C/Qt", "adapter/Qt", "adapter/OpenSSL")
    printf "|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n", "------------------------------------------------", "-------------:", "-------------------------:", "-------------------:", "-------------------:", "----------:", "--------:", "-----------:", "----------------:"
    row("1. PSK handshakes/s, one shared configuration", "psk_handshakes", "psk_handshakes", "psk_handshakes")
    row("1b. PSK handshakes/s, new configuration each", "psk_handshakes_newconf", "psk_handshakes_newconf", "psk_handshakes_newconf")
    row("1c. first handshake of a process, ms", "first_handshake", "first_handshake", "first_handshake")
    row("1c. first handshake of a process, CPU ms", "first_handshake_cpu", "first_handshake_cpu", "first_handshake_cpu")
    row("2. ECDHE-ECDSA P-256 handshakes/s", "ecdsa_handshakes", "ecdsa_handshakes", "ecdsa_handshakes")
    row("2r. the same, resuming a session, handshakes/s", "ecdsa_resumed_handshakes", "ecdsa_resumed_handshakes", "ecdsa_resumed_handshakes")
    row("3. 1200-byte datagrams/s", "datagrams", "datagrams", "datagrams")
    row("3b. batch of 32 (qdtls), datagrams/s", "datagrams_batch", "datagrams", "datagrams")
    row("4. heap per session, bytes", "memory_heap", "memory_heap", "memory_heap")
    row("4. RSS per session, bytes", "memory_rss", "memory_rss", "memory_rss")
    row("4b. heap per client+server pair, bytes", "memory_pair_heap", "memory_pair_heap", "memory_pair_heap")
    row("4b. RSS per client+server pair, bytes", "memory_pair_rss", "memory_pair_rss", "memory_pair_rss")
    row("5. verified ClientHellos/s", "cookie_verified", "cookie_verified", "cookie_verified")
    row("5. HelloVerifyRequests/s", "cookie_hvr", "cookie_hvr", "cookie_hvr")
    row("allocations per datagram, encrypt", "alloc_write", "alloc_write", "alloc_write")
    row("allocations per datagram, decrypt", "alloc_read", "alloc_read", "alloc_read")
    row("allocations per datagram, batch", "alloc_batch", "alloc_batch", "alloc_batch")
    print ""
    if (has("psk_handshakes", "rust-api") || has("psk_handshakes", "python") || has("psk_handshakes", "pyside6") ||
        has("datagrams", "rust-api") || has("datagrams", "python") || has("datagrams", "pyside6")) {
        print "The other APIs (ratios to the raw OpenSSL column above; Python also to PySide6):"
        print ""
        line2("scenario", "Rust API", "Python qdtls", "PySide6 QDtls", "Rust/OpenSSL", "Python/OpenSSL", "PySide6/OpenSSL", "Python/PySide6")
        printf "|%s|%s|%s|%s|%s|%s|%s|%s|\n", "------------------------------------------------", "----------:", "--------------:", "---------------:", "--------------:", "----------------:", "-----------------:", "----------------:"
        row2("1. PSK handshakes/s, one shared configuration", "psk_handshakes")
        row2("1b. PSK handshakes/s, new configuration each", "psk_handshakes_newconf")
        row2("3. 1200-byte datagrams/s", "datagrams")
        print ""
    }
    print "Rates: higher is better; memory and times: lower is better. Raw OpenSSL: the"
    print "better of memory BIOs (mem) and BIO_s_datagram (dgram). Qt adapter: the same"
    print "source as the Qt column, compiled against qdtls::qt::QDtls. Best of " rounds " round(s)."
    if (first != "")
        print "1c: median of " firstruns " processes each, from posix_spawn to both sides encrypted (wall);" \
              "\nCPU: CPU time of that process at that moment. Parts: spawn -> main() + main() -> complete:" first
    e = "ecdsa_handshakes"; er = "ecdsa_resumed_handshakes"
    print "2r: the client offers the session of a first full handshake (qdtls: session data with"
    print "resumption on; raw OpenSSL: SSL_set_session); Qt has no resumption. Resumed / full (2r / 2):"
    print "  qdtls C ABI " ratio(Q[er], Q[e]) "x, raw OpenSSL " ratio(R[er], R[e]) "x"
    if (capped != "")
        print "Memory runs stopped by the " memory_seconds " s cap (per-session figures over the sessions made):" capped
    print ""
    print "Targets (issue 6, C ABI):"
    d = "datagrams"
    target("throughput >= 0.95x raw OpenSSL (" ratio(Q[d], R[d]) "x)", Q[d] >= 0.95 * R[d] && R[d] > 0)
    target("throughput >= 1.6x Qt (" ratio(Q[d], T[d]) "x)", Q[d] >= 1.6 * T[d] && T[d] > 0)
    p = "psk_handshakes"
    target("PSK handshakes >= 0.9x raw OpenSSL (" ratio(Q[p], R[p]) "x)", Q[p] >= 0.9 * R[p] && R[p] > 0)
    target("PSK handshakes >= 5x Qt (" ratio(Q[p], T[p]) "x)", Q[p] >= 5 * T[p] && T[p] > 0)
    e = "ecdsa_handshakes"
    target("ECDSA handshakes >= 0.9x raw OpenSSL (" ratio(Q[e], R[e]) "x)", Q[e] >= 0.9 * R[e] && R[e] > 0)
    h = "memory_heap"
    target("heap per session <= raw OpenSSL (" ratio(Q[h], R[h]) "x)", Q[h] >= 0 && Q[h] <= R[h])
    target("heap per session <= 0.5x Qt (" ratio(Q[h], T[h]) "x)", Q[h] >= 0 && Q[h] <= 0.5 * T[h])
    c = "cookie_verified"
    target("cookie verifications >= 150,000/s (" commas(Q[c]) "/s)", Q[c] >= 150000)
    target("no allocation per datagram (" Q["alloc_write"] " + " Q["alloc_read"] ", batch " Q["alloc_batch"] ")", Q["alloc_write"] == 0 && Q["alloc_read"] == 0 && Q["alloc_batch"] <= 0)
    b = "datagrams_batch"
    target("batch >= 1.3x raw OpenSSL single-datagram (" ratio(Q[b], R[d]) "x)", Q[b] >= 1.3 * R[d] && R[d] > 0)
    print ""
    print "Targets (issue 9: a configuration per connection, the Qt adapter, the first handshake):"
    n = "psk_handshakes_newconf"
    target("adapter: PSK handshakes, new QDtls + QSslConfiguration each >= 5x Qt (" ratio(A[n], T[n]) "x)", A[n] >= 5 * T[n] && T[n] > 0)
    x1 = ratio(R[n], T[n]); x2 = ratio(R[p], T[n])
    evidence("raw OpenSSL reaches " x1 "x Qt with a new SSL_CTX per connection (" reach(x1, 5, 0) "), " x2 "x with one shared SSL_CTX (" reach(x2, 5, 0) ")")
    beyond()
    m = "memory_pair_rss"; mh = "memory_pair_heap"
    target("adapter: RSS per client+server pair <= 0.5x Qt (" ratio(A[m], T[m]) "x; heap " ratio(A[mh], T[mh]) "x)", A[m] >= 0 && T[m] > 0 && A[m] <= 0.5 * T[m])
    x1 = ratio(R[m], T[m])
    evidence("raw OpenSSL reaches " x1 "x Qt (" reach(x1, 0.5, 1) "; heap " ratio(R[mh], T[mh]) "x); the C ABI underneath " ratio(Q[m], T[m]) "x (heap " ratio(Q[mh], T[mh]) "x)")
    beyond()
    f = "first_handshake"
    target("adapter: first handshake of a process <= Qt (" ratio(A[f], T[f]) "x)", A[f] > 0 && T[f] > 0 && A[f] <= T[f])
    x1 = ratio(R[f], T[f])
    evidence("raw OpenSSL reaches " x1 "x Qt (" reach(x1, 1, 1) ")")
    beyond()
    target("C ABI: first handshake of a process <= 2x raw OpenSSL (" ratio(Q[f], R[f]) "x)", Q[f] > 0 && R[f] > 0 && Q[f] <= 2 * R[f])
    target("C ABI: PSK handshakes, new configuration each >= 0.9x raw OpenSSL (" ratio(Q[n], R[n]) "x)", Q[n] >= 0.9 * R[n] && R[n] > 0)
    target("C ABI: PSK handshakes, one shared configuration >= 0.95x raw OpenSSL (" ratio(Q[p], R[p]) "x)", Q[p] >= 0.95 * R[p] && R[p] > 0)
    print ""
    print "Targets (WebRTC and CoAP: session resumption):"
    target("C ABI: resumed handshakes/s >= 1.5x full ECDHE-ECDSA handshakes (" ratio(Q[er], Q[e]) "x)", Q[er] > 0 && Q[e] > 0 && Q[er] >= 1.5 * Q[e])
    x1 = ratio(R[er], R[e])
    evidence("raw OpenSSL reaches " x1 "x (" reach(x1, 1.5, 0) ")")
    beyond()
}' "$results"

# The server benchmark (issue 11): benches/server.sh, with its own table and
# targets, on the same build directory. BENCH_SERVER=0 skips it.
if [ "${BENCH_SERVER:-1}" != 0 ]; then
    echo
    if ! QDTLS_BENCH_BUILD_DIR=$build "$here/server.sh" "$prefix"; then
        failures=$((failures + 1))
    fi
fi

if [ "$failures" -ne 0 ]; then
    echo
    echo "run.sh: $failures run(s) failed (see above)" >&2
    exit 1
fi
exit 0
