#!/bin/sh
# Generates the test PKI into OUTDIR with the openssl command line (nothing is
# checked in, so nothing can expire in the repository):
#   ca.pem ca.key           "qdtls test CA" (EC P-256, CA:TRUE)
#   server.pem server.key   leaf "qdtls test server", SAN DNS:localhost, IP:127.0.0.1,
#                           serverAuth, signed by ca (server.der: its DER form)
#   server.enc.key          server.key encrypted (AES-256, passphrase "qdtls-pass")
#   other.pem other.key     self-signed leaf "other", SAN DNS:localhost (other.der)
# usage: gen_certs.sh OUTDIR
set -eu
out=${1:?usage: gen_certs.sh OUTDIR}
mkdir -p "$out"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/qdtls-certs.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

cat >"$tmp/ext.cnf" <<'CNF'
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[other]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = DNS:localhost
subjectKeyIdentifier = hash
CNF

ec_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

# CA (self-signed, ten years).
ec_key "$tmp/ca.key"
openssl req -new -x509 -key "$tmp/ca.key" -subj "/CN=qdtls test CA" -days 3650 -sha256 \
    -extensions ca -config "$tmp/ext.cnf" -out "$tmp/ca.pem" 2>/dev/null

# Server leaf signed by the CA (30 days).
ec_key "$tmp/server.key"
openssl req -new -key "$tmp/server.key" -subj "/CN=qdtls test server" -config "$tmp/ext.cnf" \
    -out "$tmp/server.csr" 2>/dev/null
openssl x509 -req -in "$tmp/server.csr" -CA "$tmp/ca.pem" -CAkey "$tmp/ca.key" -CAcreateserial \
    -days 30 -sha256 -extfile "$tmp/ext.cnf" -extensions server -out "$tmp/server.pem" 2>/dev/null
openssl x509 -in "$tmp/server.pem" -outform DER -out "$tmp/server.der"
openssl pkey -in "$tmp/server.key" -aes256 -passout pass:qdtls-pass -out "$tmp/server.enc.key"

# A self-signed leaf nobody trusts.
ec_key "$tmp/other.key"
openssl req -new -x509 -key "$tmp/other.key" -subj "/CN=other" -days 30 -sha256 \
    -extensions other -config "$tmp/ext.cnf" -out "$tmp/other.pem" 2>/dev/null
openssl x509 -in "$tmp/other.pem" -outform DER -out "$tmp/other.der"

# The chain checks out before anyone relies on it.
openssl verify -CAfile "$tmp/ca.pem" "$tmp/server.pem" >/dev/null

for f in ca.pem ca.key server.pem server.key server.der server.enc.key other.pem other.key other.der; do
    cp "$tmp/$f" "$out/$f"
done
echo "gen_certs: test PKI written to $out"
