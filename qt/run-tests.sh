#!/bin/sh
# Builds and tests the Qt adapter (qt/): configures the whole project in a
# build directory of its own with the adapter's tests on, builds, runs the Qt
# tests with ctest (interop with Qt's own QDtls, Qt's scenarios through the
# adapter, the secure UDP example with three clients, exported symbols, the
# Qt 5.15 compile check), installs into PREFIX, builds and runs a tiny
# consumer of the installed package, and checks that linking QDtls::qdtls_qt
# (or pkg-config qdtls_qt) switches a program written for Qt's QDtls to the
# adapter with one definition of QDtls, and that a program mixing both does
# not link (tests/one-definition-check.sh). Exits non-zero on any failure.
#
# Usage: qt/run-tests.sh PREFIX
# Environment: QDTLS_QT_BUILD_DIR (default: a temporary directory, removed
# afterwards); QDTLS_QT_PRIVATE_API (AUTO, ON, OFF; default AUTO).
set -eu

[ $# -eq 1 ] || {
    echo "usage: $0 PREFIX" >&2
    exit 2
}
mkdir -p "$1"
prefix=$(cd "$1" && pwd)
cd "$(dirname "$0")/.."

# Qt 6 (qt6-base-dev, also installed by scripts/deps.sh), Qt 5.15 for the
# compile check (qtbase5-dev), and, when it can be had, Qt 6's private headers
# (qt6-base-private-dev), with which the adapter fills in what Qt's public API
# cannot set (see qt/README.md).
missing=""
ls /usr/lib/*/cmake/Qt6Network/Qt6NetworkConfig.cmake >/dev/null 2>&1 || missing="$missing qt6-base-dev"
ls /usr/lib/*/cmake/Qt5Network/Qt5NetworkConfig.cmake >/dev/null 2>&1 || missing="$missing qtbase5-dev"
command -v openssl >/dev/null 2>&1 || missing="$missing openssl"
command -v pkg-config >/dev/null 2>&1 || missing="$missing pkg-config"
optional=""
ls /usr/include/*/qt6/QtNetwork/*/QtNetwork/private/qtlsbackend_p.h >/dev/null 2>&1 ||
    optional="qt6-base-private-dev"
if [ -n "$missing$optional" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        export DEBIAN_FRONTEND=noninteractive
        echo "qt/run-tests.sh: installing$missing $optional"
        apt-get update -qq
        if [ -n "$missing" ]; then
            # shellcheck disable=SC2086
            apt-get install -y -qq --no-install-recommends $missing >/dev/null
        fi
        if [ -n "$optional" ]; then
            apt-get install -y -qq --no-install-recommends "$optional" >/dev/null ||
                echo "qt/run-tests.sh: $optional not installed; testing without Qt's private API"
        fi
    elif [ -n "$missing" ]; then
        echo "qt/run-tests.sh: missing system packages:$missing" >&2
        exit 1
    fi
fi

if [ -n "${QDTLS_QT_BUILD_DIR:-}" ]; then
    build=$QDTLS_QT_BUILD_DIR
    mkdir -p "$build"
else
    build=$(mktemp -d "${TMPDIR:-/tmp}/qdtls-qt-build.XXXXXX")
    trap 'rm -rf "$build"' EXIT
fi

echo "== configure and build ($build)"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DQDTLS_BUILD_EXAMPLES=OFF -DQDTLS_QT_BUILD_TESTS=ON \
    -DQDTLS_QT_PRIVATE_API="${QDTLS_QT_PRIVATE_API:-AUTO}" >"$build/configure.log" 2>&1 || {
    cat "$build/configure.log"
    exit 1
}
grep "qdtls:" "$build/configure.log" || true
[ -f "$build/qt/CTestTestfile.cmake" ] || {
    echo "the Qt adapter was not configured (Qt not found?)"
    exit 1
}
cmake --build "$build" -j"$(nproc)"

echo "== Qt adapter tests (ctest)"
(cd "$build/qt" && QDTLS_QT_REQUIRE_QT5=1 ctest --output-on-failure -j"$(nproc)")

echo "== install into $prefix and build a consumer of the package"
cmake --install "$build" --prefix "$prefix" >/dev/null
consumer="$build/consumer"
cmake -S qt/tests/consumer -B "$consumer" -DCMAKE_PREFIX_PATH="$prefix" >"$build/consumer.log" 2>&1 &&
    cmake --build "$consumer" >>"$build/consumer.log" 2>&1 || {
    cat "$build/consumer.log"
    exit 1
}
"$consumer/qdtls_qt_consumer"

echo "== one definition of QDtls: the switch by the link line alone (CMake and pkg-config)"
sh qt/tests/one-definition-check.sh "$prefix" "$build/onedefinition"
echo "qt: all Qt adapter checks passed"
