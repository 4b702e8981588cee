#!/bin/sh
# The switch from Qt's QDtls to the adapter is safe by construction: checks
# it on the program in onedefinition/ (sources written for Qt's QDtls, only
# <QtCore> and <QtNetwork>, several translation units, a class with a QDtls
# member allocated in one and used in another), against an installed prefix.
#
# 1. CMake, linked with Qt6::Network only: Qt's own QDtls runs the handshake
#    (the program is ordinary Qt code).
# 2. CMake, QDtls::qdtls_qt added to the link line and nothing else, built
#    with -flto -Wodr -Werror: the adapter runs the handshake, no ODR warning.
# 3. CMake, echoserver.cpp compiled in a static library that links only Qt
#    (no force-include): the link fails on __wrap_ references to Qt's QDtls.
# 4. and 5. The same two builds without CMake, with `pkg-config qdtls_qt`.
#
# Usage: one-definition-check.sh PREFIX BUILD_DIR
set -eu
prefix=$1 build=$2
src=$(cd "$(dirname "$0")/onedefinition" && pwd)
rm -rf "$build"
mkdir -p "$build"
flags="-flto=auto -Wodr -Wall -Wextra -Werror"
fail() {
    echo "one-definition-check: $*" >&2
    exit 1
}

cmake_build() { # NAME CMAKE_ARGS...: configures and builds into $build/NAME
    name=$1
    shift
    cmake -S "$src" -B "$build/$name" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_CXX_FLAGS="$flags" "$@" >"$build/$name.log" 2>&1 &&
        cmake --build "$build/$name" -j2 >>"$build/$name.log" 2>&1
}

run() { # BINARY EXPECTED_CLASS
    out=$(QT_QPA_PLATFORM=offscreen "$1") || fail "$1 failed: $out"
    echo "  $out"
    case $out in
    "$2, "*) ;;
    *) fail "$1 ran with the wrong QDtls (expected $2)" ;;
    esac
}

expect_link_failure() { # NAME LOG
    if grep -q "undefined reference to \`__wrap__Z.*QDtls" "$2"; then
        echo "  $1: refused at link time, as it must be:"
        grep -m 2 "undefined reference to \`__wrap_" "$2" | sed 's/^/    /'
    else
        cat "$2"
        fail "$1: expected the link to fail on __wrap_ references to Qt's QDtls"
    fi
}

echo "1. Qt's own QDtls (Qt6::Network only)"
cmake_build qt -DQDTLS=OFF || {
    cat "$build/qt.log"
    fail "the program does not build with Qt alone"
}
run "$build/qt/onedefinition" QDtls

echo "2. the adapter: QDtls::qdtls_qt on the link line, -flto -Wodr -Werror"
cmake_build adapter -DQDTLS=ON || {
    cat "$build/adapter.log"
    fail "the program does not build against QDtls::qdtls_qt"
}
! grep -q "Wodr\|violates the C++ One Definition Rule" "$build/adapter.log" ||
    fail "ODR warnings with the adapter: $(cat "$build/adapter.log")"
run "$build/adapter/onedefinition" qdtls::qt::QDtls

echo "3. mixed: echoserver.cpp compiled without the adapter"
flags="-Wall -Wextra -Werror" # without LTO: the link guard alone
if cmake_build mixed -DQDTLS=ON -DMIXED=ON; then
    fail "a program that mixes Qt's QDtls and the adapter linked"
fi
expect_link_failure mixed "$build/mixed.log"

echo "4. pkg-config qdtls_qt, -flto -Wodr -Werror"
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
cflags=$(pkg-config --cflags qdtls_qt) libs=$(pkg-config --libs qdtls_qt) ||
    fail "pkg-config does not know qdtls_qt"
mkdir -p "$build/pc"
# shellcheck disable=SC2086
c++ -std=c++17 -fPIC -O2 -flto=auto -Wodr -Wall -Wextra -Werror $cflags \
    "$src/main.cpp" "$src/pingclient.cpp" "$src/echoserver.cpp" $libs -Wl,-rpath,"$prefix/lib" -o "$build/pc/onedefinition" \
    >"$build/pc.log" 2>&1 || {
    cat "$build/pc.log"
    fail "the program does not build with pkg-config qdtls_qt"
}
run "$build/pc/onedefinition" qdtls::qt::QDtls

echo "5. pkg-config, echoserver.cpp compiled with Qt's flags only"
# shellcheck disable=SC2086
{
    c++ -std=c++17 -fPIC -O2 -Wall -Wextra -Werror $(pkg-config --cflags Qt6Network) \
        -c "$src/echoserver.cpp" -o "$build/pc/echoserver.o" &&
        c++ -std=c++17 -fPIC -O2 -Wall -Wextra -Werror $cflags "$src/main.cpp" "$src/pingclient.cpp" \
            "$build/pc/echoserver.o" $libs -o "$build/pc/mixed"
} >"$build/pc-mixed.log" 2>&1 && fail "a program that mixes Qt's QDtls and the adapter linked (pkg-config)"
expect_link_failure "pkg-config mixed" "$build/pc-mixed.log"
echo "one-definition-check: passed"
