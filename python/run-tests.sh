#!/usr/bin/env bash
# Builds the qdtls Python package and runs its tests (API over loopback,
# asyncio, interop with PySide6's own QDtls and with python-mbedtls).
# Reuses the virtual environment $QDTLS_PY_VENV (default python/.venv).
# Ends with pytest's summary line; exits non-zero on failure.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${QDTLS_PY_VENV:-$here/.venv}"
python="${PYTHON:-python3}"

if ! command -v openssl >/dev/null; then
    echo "run-tests.sh: the tests make certificates with the openssl command (apt-get install openssl)" >&2
    exit 1
fi
if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip --disable-pip-version-check -q)
# PySide6-Essentials 6.12.0 aborts the interpreter ("deallocating None") after
# any QTimer -> Python slot on CPython 3.11; 6.11.3 does not.
"${pip[@]}" install 'maturin>=1.5,<2' pytest 'PySide6-Essentials==6.11.3' 'python-mbedtls>=2.9'
"${pip[@]}" install --force-reinstall --no-deps "$here"
cd "$here"
export QT_QPA_PLATFORM="${QT_QPA_PLATFORM:-offscreen}"
exec "$venv/bin/pytest" -q -p no:cacheprovider tests "$@"
