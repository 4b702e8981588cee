#!/bin/sh
# Builds the adapter's sources and a Qt 5 style consumer against Qt 5.15
# (-Wall -Wextra -Werror, linked with --no-undefined against libqdtls) and
# runs the consumer. Exit 77 (skipped) when Qt 5.15 is not installed, unless
# QDTLS_QT_REQUIRE_QT5=1.
# Usage: qt5-compile-check.sh SOURCE_DIR BUILD_DIR CMAKE LIBQDTLS
set -eu
src=$1 build=$2 cmake=$3 lib=$4
rm -rf "$build"
"$cmake" -S "$src" -B "$build" -DQDTLS_LIBRARY="$lib" >"$build.log" 2>&1 || {
    cat "$build.log"
    exit 1
}
if [ -f "$build/qt5-not-found" ]; then
    echo "Qt 5.15 Network not found (install qtbase5-dev)"
    [ "${QDTLS_QT_REQUIRE_QT5:-0}" = 1 ] && exit 1
    exit 77
fi
"$cmake" --build "$build" -j2 >>"$build.log" 2>&1 || {
    cat "$build.log"
    exit 1
}
QT_QPA_PLATFORM=offscreen "$build/qt5_consumer"
