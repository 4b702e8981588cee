#!/bin/sh
# Builds and runs the C and C++ consumer tests against an installed qdtls
# prefix (cmake --install ... --prefix PREFIX), in temporary build directories:
#   1. shared      find_package(QDtls), QDtls::qdtls
#   2. static      find_package(QDtls), QDtls::qdtls_static
#   3. pkgconfig   pkg_check_modules(qdtls) with PKG_CONFIG_PATH=PREFIX/lib/pkgconfig
#   4. sanitize    shared, tests built with -fsanitize=address,undefined
#   5. valgrind    the C test binary of (1) under valgrind (definite leaks and errors fail)
# Every step runs; the exit status is non-zero if any failed.
#
# usage: cpp_tests/run.sh PREFIX
set -u

if [ $# -ne 1 ] || [ ! -d "$1" ]; then
    echo "usage: $0 PREFIX   (an installed qdtls prefix)" >&2
    exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
prefix=$(cd "$1" && pwd)
if [ ! -f "$prefix/lib/cmake/QDtls/QDtlsConfig.cmake" ]; then
    echo "$0: $prefix has no lib/cmake/QDtls/QDtlsConfig.cmake: not an installed qdtls prefix" >&2
    exit 2
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/qdtls-cpp-tests.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
jobs=2
passed=0
failed=0
failed_steps=""
run_start=$(date +%s)

step() { # name, command...: runs one step, records its outcome
    name=$1
    shift
    echo "==== cpp_tests: $name"
    start=$(date +%s)
    if "$@"; then
        passed=$((passed + 1))
        echo "==== cpp_tests: $name: ok ($(($(date +%s) - start)) s)"
    else
        failed=$((failed + 1))
        failed_steps="$failed_steps [$name]"
        echo "==== cpp_tests: $name: FAILED ($(($(date +%s) - start)) s)"
    fi
}

# dir, build type, cmake options...: configure, build, ctest. Logs are shown on failure only.
build_and_test() {
    dir=$1
    type=$2
    shift 2
    mkdir -p "$dir"
    if ! cmake -S "$here" -B "$dir" -DCMAKE_BUILD_TYPE="$type" "$@" >"$dir/configure.log" 2>&1; then
        cat "$dir/configure.log"
        return 1
    fi
    grep 'qdtls tests:' "$dir/configure.log"
    if ! cmake --build "$dir" -j"$jobs" >"$dir/build.log" 2>&1; then
        cat "$dir/build.log"
        return 1
    fi
    (cd "$dir" && ctest --output-on-failure -j"$jobs")
}

shared() {
    build_and_test "$work/shared" RelWithDebInfo -DCMAKE_PREFIX_PATH="$prefix" -DQDTLS_TEST_EXPECT_LIBDIR="$prefix/lib"
}

static() {
    build_and_test "$work/static" RelWithDebInfo -DCMAKE_PREFIX_PATH="$prefix" -DQDTLS_TEST_STATIC=ON \
        -DQDTLS_TEST_EXPECT_LIBDIR="$prefix/lib"
}

pkgconfig() {
    command -v pkg-config >/dev/null 2>&1 || { echo "pkg-config is not installed"; return 1; }
    # Only the .pc file tells where qdtls is: no CMake prefix path.
    (
        PKG_CONFIG_PATH="$prefix/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
        export PKG_CONFIG_PATH
        unset CMAKE_PREFIX_PATH
        build_and_test "$work/pkgconfig" RelWithDebInfo -DQDTLS_TEST_PKGCONFIG=ON -DQDTLS_TEST_EXPECT_LIBDIR="$prefix/lib"
    )
}

sanitize() {
    (
        # LeakSanitizer reports only unreachable memory, so OpenSSL's and the
        # library's process-lifetime allocations (still reachable) pass.
        ASAN_OPTIONS=detect_leaks=1
        UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
        export ASAN_OPTIONS UBSAN_OPTIONS
        build_and_test "$work/sanitize" Debug -DCMAKE_PREFIX_PATH="$prefix" -DQDTLS_TEST_SANITIZE=ON \
            -DQDTLS_TEST_EXPECT_LIBDIR="$prefix/lib"
    )
}

have_valgrind() {
    command -v valgrind >/dev/null 2>&1 && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "installing valgrind with apt-get"
        { DEBIAN_FRONTEND=noninteractive apt-get install -y -q valgrind >/dev/null 2>&1 ||
            { apt-get update -q >/dev/null 2>&1 &&
                DEBIAN_FRONTEND=noninteractive apt-get install -y -q valgrind >/dev/null 2>&1; }; } || true
    fi
    command -v valgrind >/dev/null 2>&1
}

valgrind_c() {
    exe="$work/shared/c_api_test"
    [ -x "$exe" ] || { echo "the shared build did not produce $exe"; return 1; }
    # ctest's fixture generated the certificates; make them again if that run failed early.
    [ -f "$work/shared/certs/server.pem" ] || sh "$here/gen_certs.sh" "$work/shared/certs" || return 1
    # Only definite leaks count: OpenSSL keeps process-lifetime allocations (still reachable).
    valgrind --quiet --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite \
        "$exe" "$work/shared/certs"
}

step "shared (QDtls::qdtls)" shared
step "static (QDtls::qdtls_static)" static
step "pkg-config" pkgconfig
step "ASan+UBSan (shared)" sanitize
if have_valgrind; then
    step "valgrind (C tests, shared)" valgrind_c
else
    echo "==== cpp_tests: valgrind: SKIPPED (valgrind is not installed and cannot be installed as $(id -un))"
fi

echo "==== cpp_tests: done in $(($(date +%s) - run_start)) s"
[ -z "$failed_steps" ] || echo "==== cpp_tests: failed steps:$failed_steps"
echo "cpp_tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
