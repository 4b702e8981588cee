#!/bin/sh
# Makes sure the system packages qdtls builds and tests with are present.
# As root with apt-get, installs what is missing; otherwise says what to install.
set -eu

missing=""
have() { command -v "$1" >/dev/null 2>&1; }
need() { missing="$missing $1"; }

have cmake || need cmake
have g++ || need g++
have pkg-config || need pkg-config
pkg-config --exists openssl 2>/dev/null || need libssl-dev
have openssl || need openssl
[ -f /usr/lib/x86_64-linux-gnu/cmake/Qt6Network/Qt6NetworkConfig.cmake ] ||
    ls /usr/lib/*/cmake/Qt6Network/Qt6NetworkConfig.cmake >/dev/null 2>&1 || need qt6-base-dev
have gnutls-serv || need gnutls-bin
# CoAP interop (tests/coap_interop.rs): libcoap's OpenSSL and GnuTLS clients and servers.
have coap-client-openssl && have coap-client-gnutls || need libcoap3-bin
# The Qt adapter's tests: a compile check against Qt 5.15, and Qt's private
# TLS-backend API, which lets the adapter fill in peer certificates exactly as Qt does.
ls /usr/lib/*/cmake/Qt5Network/Qt5NetworkConfig.cmake >/dev/null 2>&1 || need qtbase5-dev
ls /usr/include/*/qt6/QtNetwork/*/QtNetwork/private/qtlsbackend_p.h >/dev/null 2>&1 || need qt6-base-private-dev
have valgrind || need valgrind
# The Python package's tests build it in a virtual environment (pip, maturin).
have python3 || need python3
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need python3-venv

if [ -z "$missing" ]; then
    exit 0
fi
if [ "$(id -u)" = 0 ] && have apt-get; then
    echo "qdtls: installing$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
    exit 0
fi
echo "qdtls: missing system packages. Install them with:" >&2
echo "    sudo apt-get install$missing" >&2
exit 1
