#!/bin/sh
# Bounded fuzz smoke run of the four targets (see README.md): under two
# minutes including the build, exit status 0 when nothing failed.
#
# - With cargo-fuzz: libFuzzer (ASan) on each target for FUZZ_SECONDS
#   (default 20), seeded with corpus/<target> (left unchanged: new inputs go
#   to a temporary directory). Nightly is used when rustup has it; otherwise
#   the stable compiler is allowed cargo-fuzz's -Z flags with RUSTC_BOOTSTRAP=1.
# - Without cargo-fuzz: the same target bodies replayed on stable over the
#   corpus and deterministic mutations of it (src/bin/replay.rs).
# FUZZ_BUDGET (default 110 s) bounds the whole script; the per-target time
# shrinks when the build was slow. FUZZ_MODE=replay forces the replay.
set -eu
cd "$(dirname "$0")"
start=$(date +%s)
budget=${FUZZ_BUDGET:-110}
per_max=${FUZZ_SECONDS:-20}
targets="decrypt server_first server verify_client"
work=$(mktemp -d "${TMPDIR:-/tmp}/qdtls-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT

seconds_left() { echo $((budget - ($(date +%s) - start))); }
per_target() { # seconds for each of the targets still to run, 3..per_max
    n=$(($(seconds_left) / $1))
    [ "$n" -gt "$per_max" ] && n=$per_max
    [ "$n" -lt 3 ] && n=3
    echo "$n"
}

fuzz=""
if [ "${FUZZ_MODE:-}" != replay ] && cargo fuzz --version >/dev/null 2>&1; then
    if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
        fuzz="cargo +nightly fuzz"
    else
        export RUSTC_BOOTSTRAP=1
        fuzz="cargo fuzz"
    fi
fi

if [ -n "$fuzz" ]; then
    echo "fuzz: libFuzzer with '$fuzz' ($(cargo fuzz --version))"
    (cd .. && $fuzz build -O)
    left=4
    for t in $targets; do
        s=$(per_target $left)
        left=$((left - 1))
        echo "fuzz: $t for $s s"
        mkdir -p "$work/$t"
        if ! (cd .. && timeout $((s + 60)) $fuzz run -O "$t" "$work/$t" "fuzz/corpus/$t" -- \
            -max_total_time="$s" -timeout=10 -print_final_stats=1) >"$work/$t.log" 2>&1; then
            tail -n 60 "$work/$t.log"
            echo "fuzz: $t FAILED (inputs in fuzz/artifacts/$t)"
            exit 1
        fi
        grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)|^stat::number_of_executed_units' "$work/$t.log" || true
    done
else
    if [ "${FUZZ_MODE:-}" = replay ]; then
        echo "fuzz: replay mode requested"
    else
        echo "fuzz: cargo-fuzz not available (cargo install cargo-fuzz), replaying on stable instead"
    fi
    cargo build --release --no-default-features --bin replay
    s=$(per_target 4)
    ./target/release/replay --seconds "$s" corpus
fi
echo "fuzz: ok in $(($(date +%s) - start)) s"
