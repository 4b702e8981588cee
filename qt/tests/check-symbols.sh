#!/bin/sh
# Fails when the Qt adapter library exports a symbol outside namespace
# qdtls::qt, which could clash with QtNetwork's own QDtls in one process.
set -eu
lib=$1
command -v nm >/dev/null 2>&1 && command -v c++filt >/dev/null 2>&1 || {
    echo "nm or c++filt not found"
    exit 77
}
symbols=$(nm -D --defined-only "$lib" | awk 'NF >= 3 {print $3}' | c++filt)
outside=$(printf '%s\n' "$symbols" |
    grep -v -E '^((typeinfo|typeinfo name|vtable|non-virtual thunk to) (for )?)?qdtls::qt::' || true)
if [ -n "$outside" ]; then
    echo "symbols exported outside qdtls::qt::"
    printf '%s\n' "$outside"
    exit 1
fi
count=$(printf '%s\n' "$symbols" | grep -c .)
[ "$count" -gt 0 ] || { echo "no exported symbols at all?"; exit 1; }
echo "$count exported symbols, all in namespace qdtls::qt"
