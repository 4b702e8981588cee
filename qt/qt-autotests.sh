#!/bin/sh
# Runs Qt's own DTLS autotests (tst_qdtls and tst_qdtlscookie from Debian's
# qt6-base source package, the version of the installed Qt) against the qdtls
# Qt adapter installed in PREFIX, and reports the result.
#
# Usage: qt/qt-autotests.sh PREFIX
#   PREFIX: a qdtls install prefix with the adapter (lib/cmake/QDtls, QDtls::qdtls_qt).
#
# What it does:
# 1. Gets the source package qt6-base with `apt-get source --download-only`
#    (adding a deb-src entry for bookworm when apt has none, which needs root)
#    into a cache directory, and extracts from the upstream tarball only
#    tests/auto/network/ssl/{qdtls,qdtlscookie,shared} (the tests, their
#    certificates and the header tlshelpers.h). Reruns use the cache.
#    Nothing of Qt's is copied into the qdtls repository.
# 2. Writes a CMakeLists.txt into a temporary directory that builds the two
#    tests unchanged with find_package(QDtls COMPONENTS qdtls_qt) and
#    find_package(Qt6 COMPONENTS Network Test), linking QDtls::qdtls_qt,
#    Qt6::Network and Qt6::Test. Linking QDtls::qdtls_qt is all that makes the
#    tests use the adapter (the target force-includes <qdtls/QDtls>, see
#    qt/README.md). The script checks afterwards that the binaries construct
#    the adapter's classes and never Qt's.
#    Nothing Qt-internal is needed: the tests use only public headers plus
#    qt_ForceTlsSecurityLevel(), a test-only hook that QtNetwork exports
#    (symbol version Qt_6) and that lowers Qt's own OpenSSL security level.
#    It links as it is and has no effect on the adapter, hence step 3.
#    QT_TESTCASE_BUILDDIR / QT_TESTCASE_SOURCEDIR are defined as Qt's own
#    qt_internal_add_test does, so that QFINDTESTDATA("certs") finds the
#    certificates.
# 3. Runs each test with OPENSSL_CONF pointing at a file whose system_default
#    section sets CipherString = DEFAULT@SECLEVEL=1: the tests' server
#    certificate (ss-srv-cert.pem) has an RSA-1024 key, which Debian's default
#    security level 2 refuses.
# 4. Prints Qt's test output, the failing test functions, and a last line
#    "qt-autotests: N passed, M failed, K skipped" (QtTest's totals summed
#    over both tests; a test that crashes or times out counts one failure).
#    Exits 1 when anything failed.
#
# Environment:
#   QDTLS_QT_SOURCE_CACHE  where the source package is kept
#                          (default /var/cache/qdtls/qt6-base)
#   QDTLS_QT_AUTOTESTS_DIR build directory (default: a temporary directory,
#                          removed afterwards)
#   QDTLS_QT_AUTOTESTS_TIMEOUT  seconds per test binary (default 900)
#   CXXFLAGS               read by CMake as usual
#   Arguments for QtTest (e.g. a function name) can be given in
#   QDTLS_QT_AUTOTESTS_ARGS_tst_qdtls / QDTLS_QT_AUTOTESTS_ARGS_tst_qdtlscookie.
set -eu

[ $# -eq 1 ] || {
    echo "usage: $0 PREFIX" >&2
    exit 2
}
[ -d "$1/lib/cmake/QDtls" ] || [ -d "$1/lib64/cmake/QDtls" ] || {
    echo "qt-autotests: $1 is not a qdtls install prefix (no lib/cmake/QDtls)" >&2
    exit 2
}
prefix=$(cd "$1" && pwd)
cache=${QDTLS_QT_SOURCE_CACHE:-/var/cache/qdtls/qt6-base}
timeout_s=${QDTLS_QT_AUTOTESTS_TIMEOUT:-900}

say() { echo "qt-autotests: $*"; }
die() {
    echo "qt-autotests: $*" >&2
    exit 1
}

# ---- 1. Qt's tests, from the source package of the installed Qt ------------
version=$(dpkg-query -W -f='${source:Version}' qt6-base-dev 2>/dev/null) ||
    die "qt6-base-dev is not installed"
upstream=${version%-*}  # 6.4.2+dfsg
upstream=${upstream#*:} # no epoch
tests="$cache/$version"
if [ ! -f "$tests/.complete" ]; then
    mkdir -p "$cache/download"
    cd "$cache/download"
    if ! apt-get source --print-uris -qq "qt6-base=$version" >/dev/null 2>&1; then
        [ "$(id -u)" = 0 ] || die "apt has no deb-src entry for qt6-base; as root this script adds one"
        # Debian's own archive, signed by the keyring every Debian system has.
        say "adding /etc/apt/sources.list.d/qdtls-deb-src.sources (deb-src bookworm) and running apt-get update"
        cat >/etc/apt/sources.list.d/qdtls-deb-src.sources <<'EOF'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
        apt-get update -qq
    fi
    orig="qt6-base_${upstream}.orig.tar.xz"
    if [ ! -f "$orig" ]; then
        say "downloading the source package qt6-base $version into $cache/download"
        # apt checks the files against the signed Sources index.
        apt-get source --download-only -qq "qt6-base=$version" 2>&1 | grep -v "unsandboxed as root" || true
        [ -f "$orig" ] || die "apt-get source did not fetch $orig"
    fi
    say "extracting Qt's DTLS tests from $orig"
    rm -rf "$tests.tmp"
    mkdir -p "$tests.tmp"
    top=$(tar -tJf "$orig" | head -n 1 | cut -d/ -f1)
    tar -xJf "$orig" -C "$tests.tmp" --strip-components=1 \
        "$top/tests/auto/network/ssl/qdtls" \
        "$top/tests/auto/network/ssl/qdtlscookie" \
        "$top/tests/auto/network/ssl/shared" \
        "$top/LICENSES"
    # The Debian patches of this version leave these files alone (checked
    # when the script was written for 6.4.2+dfsg-10); say so if that changes.
    deb="qt6-base_${version#*:}.debian.tar.xz"
    if [ -f "$deb" ] && tar -xJOf "$deb" --wildcards 'debian/patches/*' 2>/dev/null |
        grep -q '^+++ .*tests/auto/network/ssl/'; then
        say "note: a Debian patch of $version changes the SSL tests; they are run unpatched"
    fi
    touch "$tests.tmp/.complete"
    rm -rf "$tests"
    mv "$tests.tmp" "$tests"
fi
ssl="$tests/tests/auto/network/ssl"
[ -f "$ssl/qdtls/tst_qdtls.cpp" ] && [ -f "$ssl/qdtlscookie/tst_qdtlscookie.cpp" ] ||
    die "the cache $tests is incomplete: remove it and rerun"

# ---- 2. build them against the adapter --------------------------------------
if [ -n "${QDTLS_QT_AUTOTESTS_DIR:-}" ]; then
    work=$QDTLS_QT_AUTOTESTS_DIR
    mkdir -p "$work"
else
    work=$(mktemp -d "${TMPDIR:-/tmp}/qdtls-qt-autotests.XXXXXX")
    trap 'rm -rf "$work"' EXIT
fi
mkdir -p "$work/project"
cat >"$work/project/CMakeLists.txt" <<EOF
# Generated by qdtls's qt/qt-autotests.sh: Qt's DTLS autotests, unchanged,
# built against the qdtls Qt adapter only by linking QDtls::qdtls_qt.
cmake_minimum_required(VERSION 3.16)
project(qdtls_qt_autotests LANGUAGES CXX)
find_package(QDtls REQUIRED COMPONENTS qdtls_qt)
find_package(Qt6 REQUIRED COMPONENTS Network Test)
set(QT_TESTS "$ssl")
foreach(test qdtls qdtlscookie)
    add_executable(tst_\${test} "\${QT_TESTS}/\${test}/tst_\${test}.cpp")
    set_target_properties(tst_\${test} PROPERTIES AUTOMOC ON CXX_STANDARD 17 CXX_STANDARD_REQUIRED ON)
    # As qt_internal_add_test: where QFINDTESTDATA looks.
    target_compile_definitions(tst_\${test} PRIVATE
        QT_TESTCASE_BUILDDIR="\${CMAKE_CURRENT_BINARY_DIR}"
        QT_TESTCASE_SOURCEDIR="\${QT_TESTS}/\${test}")
    target_link_libraries(tst_\${test} PRIVATE QDtls::qdtls_qt Qt6::Network Qt6::Test)
endforeach()
EOF
say "building tst_qdtls and tst_qdtlscookie in $work/build"
cmake -S "$work/project" -B "$work/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_PREFIX_PATH="$prefix" >"$work/configure.log" 2>&1 || {
    cat "$work/configure.log"
    die "configuring failed"
}
cmake --build "$work/build" -j2 >"$work/build.log" 2>&1 || {
    cat "$work/build.log"
    die "building Qt's tests against the adapter failed"
}

# The binaries must construct the adapter's QDtls, never Qt's.
for t in tst_qdtls tst_qdtlscookie; do
    syms=$(nm -C --undefined-only "$work/build/$t")
    echo "$syms" | grep -q 'qdtls::qt::QDtls::QDtls(' ||
        die "$t does not use the adapter (no qdtls::qt::QDtls constructor referenced)"
    if echo "$syms" | grep -v 'qdtls::qt::' | grep -q ' QDtls::QDtls('; then
        die "$t constructs Qt's own QDtls"
    fi
done

# ---- 3. run them -----------------------------------------------------------
cat >"$work/openssl.cnf" <<'EOF'
# Qt's test certificate ss-srv-cert.pem has an RSA-1024 key: security level 1.
openssl_conf = openssl_init
[openssl_init]
ssl_conf = ssl_sect
[ssl_sect]
system_default = system_default_sect
[system_default_sect]
CipherString = DEFAULT@SECLEVEL=1
EOF

passed=0
failed=0
skipped=0
: >"$work/failures"
for t in tst_qdtls tst_qdtlscookie; do
    echo "==== $t"
    eval "args=\${QDTLS_QT_AUTOTESTS_ARGS_$t:-}"
    rc=0
    # shellcheck disable=SC2086
    (cd "$work/build" && OPENSSL_CONF="$work/openssl.cnf" QT_QPA_PLATFORM=offscreen \
        timeout "$timeout_s" "./$t" $args) >"$work/$t.log" 2>&1 || rc=$?
    cat "$work/$t.log"
    totals=$(grep '^Totals: ' "$work/$t.log" | tail -n 1)
    if [ -z "$totals" ]; then
        failed=$((failed + 1))
        if [ "$rc" = 124 ]; then
            echo "  $t: timed out after ${timeout_s}s" >>"$work/failures"
        else
            echo "  $t: ended without totals (exit status $rc)" >>"$work/failures"
        fi
        continue
    fi
    # Totals: 41 passed, 2 failed, 0 skipped, 0 blacklisted, 1234ms
    p=$(echo "$totals" | sed -n 's/.* \([0-9]*\) passed.*/\1/p')
    f=$(echo "$totals" | sed -n 's/.* \([0-9]*\) failed.*/\1/p')
    s=$(echo "$totals" | sed -n 's/.* \([0-9]*\) skipped.*/\1/p')
    passed=$((passed + p))
    failed=$((failed + f))
    skipped=$((skipped + s))
    # "FAIL!  : tst_QDtls::f(a row) why": the function and its row.
    grep '^FAIL!  : ' "$work/$t.log" | sed 's/^FAIL!  : \([^(]*([^)]*)\).*/  \1/' >>"$work/failures" || true
    if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
        failed=$((failed + 1))
        echo "  $t: exit status $rc" >>"$work/failures"
    fi
done

echo "===="
if [ -s "$work/failures" ]; then
    say "failing:"
    cat "$work/failures"
fi
say "$passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
