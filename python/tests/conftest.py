"""Shared helpers: loopback UDP sockets, test certificates made with the
openssl command, and a handshake pump that never sleeps for timers."""

from __future__ import annotations

import select
import socket
import subprocess
from pathlib import Path

import pytest

import qdtls
from qdtls import QDtls, QDtlsClientVerifier, QSslConfiguration, QSslSocket

PSK_ID = b"client-identity"
PSK_KEY = b"\x1a\x2b\x3c\x4d\x5e\x6f"


def udp(family: int = socket.AF_INET) -> socket.socket:
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.bind(("::1" if family == socket.AF_INET6 else "127.0.0.1", 0))
    return s


@pytest.fixture
def pair():
    a, b = udp(), udp()
    yield a, b
    a.close()
    b.close()


def recv(s: socket.socket, timeout: float = 2.0) -> tuple[bytes, tuple]:
    r, _, _ = select.select([s], [], [], timeout)
    assert r, "no datagram arrived"
    return s.recvfrom(65536)


def pending(s: socket.socket) -> list[bytes]:
    out = []
    while select.select([s], [], [], 0)[0]:
        out.append(s.recv(65536))
    return out


def psk_config(**kw) -> QSslConfiguration:
    cfg = QSslConfiguration.defaultDtlsConfiguration()
    cfg.setPeerVerifyMode(QSslSocket.VerifyNone)
    for k, v in kw.items():
        getattr(cfg, k)(v)
    return cfg


def psk_handler(identity=PSK_ID, key=PSK_KEY, seen=None):
    def h(auth):
        if seen is not None:
            seen.append((bytes(auth.identity()), bytes(auth.identityHint()), auth.maximumIdentityLength()))
        auth.setIdentity(identity)
        auth.setPreSharedKey(key)
    return h


def make_pair(cs, ss, client_cfg, server_cfg, client_name="", psk=True):
    client = QDtls(qdtls.SslClientMode)
    server = QDtls(qdtls.SslServerMode)
    assert client.setDtlsConfiguration(client_cfg)
    assert server.setDtlsConfiguration(server_cfg)
    if psk:
        client.pskRequired.connect(psk_handler())
        server.pskRequired.connect(psk_handler())
    host, port = ss.getsockname()[:2]
    assert client.setPeer(host, port, client_name)
    return client, server


def verify_and_start(client, cs, server, ss, verifier=None):
    """Client hello, cookie exchange through a verifier, server started on the verified hello."""
    verifier = verifier or QDtlsClientVerifier()
    assert client.doHandshake(cs), client.dtlsErrorString()
    while True:
        dgram, addr = recv(ss)
        if verifier.verifyClient(ss, dgram, addr[0], addr[1]):
            break
        assert verifier.dtlsError() == qdtls.QDtlsError.NoError
        assert client.doHandshake(cs, recv(cs)[0]), client.dtlsErrorString()
    assert server.setPeer(addr[0], addr[1])
    assert server.doHandshake(ss, verifier.verifiedHello()), server.dtlsErrorString()


def pump(client, cs, server, ss, until=lambda c, s: c.handshakeState() != QDtls.HandshakeInProgress
         and s.handshakeState() != QDtls.HandshakeInProgress, stall_ok=False):
    """Moves datagrams between the two until `until` holds; returns (client ok, server ok)."""
    ok_c = ok_s = True
    for _ in range(200):
        if until(client, server):
            break
        r, _, _ = select.select([cs, ss], [], [], 0.3 if stall_ok else 2.0)
        if stall_ok and not r:
            break
        assert r, "handshake stalled"
        for s in r:
            d = s.recv(65536)
            if s is cs and client.handshakeState() == QDtls.HandshakeInProgress:
                ok_c = client.doHandshake(cs, d) and ok_c
            elif s is ss and server.handshakeState() == QDtls.HandshakeInProgress:
                ok_s = server.doHandshake(ss, d) and ok_s
    return ok_c, ok_s


def connect_psk(cs, ss, client_cfg=None, server_cfg=None):
    client, server = make_pair(cs, ss, client_cfg or psk_config(), server_cfg or psk_config())
    verify_and_start(client, cs, server, ss)
    pump(client, cs, server, ss)
    assert client.handshakeState() == QDtls.HandshakeComplete, client.dtlsErrorString()
    assert server.handshakeState() == QDtls.HandshakeComplete, server.dtlsErrorString()
    return client, server


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="session")
def certs(tmp_path_factory):
    """A CA, a server certificate it signed (localhost, 127.0.0.1), a client
    certificate it signed, and a self-signed certificate; PEM paths."""
    d = tmp_path_factory.mktemp("certs")
    (d / "ext.cnf").write_text(
        "[srv]\nsubjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
        "[cli]\nbasicConstraints=CA:FALSE\n"
        "[ca]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=keyCertSign,cRLSign\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl("req", "-new", *ec, "-keyout", "ca.key", "-out", "ca.csr", "-subj", "/CN=qdtls test CA", cwd=d)
    _openssl("x509", "-req", "-in", "ca.csr", "-signkey", "ca.key", "-out", "ca.pem", "-days", "30",
             "-extfile", "ext.cnf", "-extensions", "ca", cwd=d)
    for name, ext, cn in (("server", "srv", "localhost"), ("client", "cli", "qdtls client")):
        _openssl("req", "-new", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={cn}", cwd=d)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                 "-out", f"{name}.pem", "-days", "30", "-extfile", "ext.cnf", "-extensions", ext, cwd=d)
    _openssl("req", "-new", *ec, "-keyout", "self.key", "-out", "self.csr", "-subj", "/CN=localhost", cwd=d)
    _openssl("x509", "-req", "-in", "self.csr", "-signkey", "self.key", "-out", "self.pem", "-days", "30",
             "-extfile", "ext.cnf", "-extensions", "srv", cwd=d)
    return d


def cert_config(certs: Path, name: str | None, ca: bool = True, mode=QSslSocket.VerifyPeer) -> QSslConfiguration:
    cfg = QSslConfiguration.defaultDtlsConfiguration()
    if name:
        cfg.setLocalCertificate(qdtls.QSslCertificate.fromPath(str(certs / f"{name}.pem"))[0])
        cfg.setPrivateKey(qdtls.QSslKey((certs / f"{name}.key").read_bytes()))
    if ca:
        cfg.setCaCertificates(qdtls.QSslCertificate.fromPath(str(certs / "ca.pem")))
    cfg.setPeerVerifyMode(mode)
    return cfg
