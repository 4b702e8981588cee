#!/bin/sh
# Builds qdtls and runs the example DTLS server with three clients on
# loopback, through the C++ API: first with pre-shared keys, then with
# certificates (a throwaway CA and server certificate made here).
set -eu
cd "$(dirname "$0")/.."
./scripts/deps.sh

build=build
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null
bin="$build/examples"
demo="$build/demo"
mkdir -p "$demo"

# Test certificates for the demo only: a CA and a server certificate for localhost.
if [ ! -f "$demo/server.pem" ]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj "/CN=qdtls demo CA" \
        -keyout "$demo/ca.key" -out "$demo/ca.pem" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
        -keyout "$demo/server.key" -out "$demo/server.csr" 2>/dev/null
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$demo/ext.cnf"
    openssl x509 -req -in "$demo/server.csr" -CA "$demo/ca.pem" -CAkey "$demo/ca.key" -CAcreateserial \
        -days 30 -extfile "$demo/ext.cnf" -out "$demo/server.pem" 2>/dev/null
fi

run() { # mode, then extra server and client arguments
    mode=$1 server_args=$2 client_args=$3
    echo "== $mode: one server, three clients =="
    rm -f "$demo/port"
    # shellcheck disable=SC2086
    "$bin/dtls_server" --mode "$mode" --exit-after 3 --port-file "$demo/port" $server_args &
    server=$!
    i=0
    while [ ! -s "$demo/port" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    port=$(cat "$demo/port")
    pids=""
    for name in alice bob carol; do
        # shellcheck disable=SC2086
        "$bin/dtls_client" --mode "$mode" --port "$port" --name "$name-$mode" --count 3 $client_args &
        pids="$pids $!"
    done
    status=0
    for p in $pids; do wait "$p" || status=1; done
    wait "$server" || status=1
    return $status
}

run psk "" ""
run cert "--cert $demo/server.pem --key $demo/server.key" "--ca $demo/ca.pem"
echo "== demo finished: all clients served =="
