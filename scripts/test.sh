#!/bin/sh
# Builds everything and runs every test: format and lint checks, the
# generated header's freshness, the Rust tests (loopback UDP, real peers),
# the installed CMake package with the C/C++ tests, the Qt adapter, the
# examples, sanitizers and a short fuzz run. Ends with "stages: N passed, 0 failed".
set -eu
cd "$(dirname "$0")/.."
./scripts/deps.sh

build=${QDTLS_BUILD_DIR:-build}
prefix=$(mktemp -d "${TMPDIR:-/tmp}/qdtls-prefix.XXXXXX")
trap 'rm -rf "$prefix"' EXIT
passed=0

stage() { # name, command...
    name=$1
    shift
    echo "==== $name"
    start=$(date +%s)
    if ! "$@"; then
        echo "==== $name: FAILED"
        echo "stages: $passed passed, 1 failed"
        exit 1
    fi
    passed=$((passed + 1))
    echo "==== $name: ok ($(($(date +%s) - start)) s)"
}

header_is_fresh() {
    cargo build --quiet --lib
    git diff --exit-code -- include/qdtls/qdtls.h || {
        echo "include/qdtls/qdtls.h is stale: commit the regenerated header"
        return 1
    }
}

cmake_install() {
    cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$build" -j"$(nproc)"
    cmake --install "$build" --prefix "$prefix" >/dev/null
    # The shared library exports the C ABI and nothing else.
    others=$(nm -D --defined-only "$prefix/lib/libqdtls.so" | awk '$2 ~ /^[TDBR]$/ && $3 !~ /^qdtls_/ {print $3}')
    [ -z "$others" ] || { echo "unexpected exported symbols: $others"; return 1; }
}

# The rust-version Cargo.toml declares is built, not just declared. Needs
# rustup to fetch that toolchain; where it cannot, the check says so and is
# skipped (every other stage still runs on the current toolchain).
msrv_build() {
    msrv=$(sed -n 's/^rust-version = "\(.*\)"/\1/p' Cargo.toml)
    if ! command -v rustup >/dev/null 2>&1 || ! rustup toolchain install "$msrv" --profile minimal >/dev/null 2>&1; then
        echo "MSRV check SKIPPED: rustup could not install Rust $msrv here"
        return 0
    fi
    cargo +"$msrv" build --quiet --lib --target-dir target/msrv
}

fuzz_smoke() {
    # Coverage-guided (libFuzzer) needs cargo-fuzz; fuzz/run.sh replays the
    # corpus with fixed-seed mutations when it cannot be had.
    command -v cargo-fuzz >/dev/null 2>&1 || cargo install --quiet --locked cargo-fuzz ||
        echo "cargo-fuzz could not be installed: fuzz/run.sh falls back to replay"
    fuzz/run.sh
}

stage "cargo fmt --check" cargo fmt --check
stage "clippy -D warnings" cargo clippy --all-targets --quiet -- -D warnings
stage "header is up to date" header_is_fresh
stage "cargo doc without warnings" env RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --quiet
stage "builds with the declared MSRV" msrv_build
stage "cargo test" cargo test --quiet
stage "CMake build and install" cmake_install
stage "C and C++ tests against the installed package" cpp_tests/run.sh "$prefix"
stage "examples smoke run" ./scripts/demo.sh
stage "Qt adapter tests" qt/run-tests.sh "$prefix"
stage "Qt's own tst_qdtls and tst_qdtlscookie against the adapter" qt/qt-autotests.sh "$prefix"
stage "Python package (pytest; PySide6 and Mbed TLS interop)" python/run-tests.sh
stage "fuzz smoke run" fuzz_smoke
echo "stages: $passed passed, 0 failed"
