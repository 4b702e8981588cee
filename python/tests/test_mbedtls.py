"""Interop with a different DTLS stack: python-mbedtls (Mbed TLS), PSK, both roles."""

from __future__ import annotations

import select
import socket
import threading
from contextlib import suppress

import pytest

tls = pytest.importorskip("mbedtls.tls")

import qdtls  # noqa: E402
from qdtls import QDtls, QDtlsClientVerifier  # noqa: E402
from conftest import PSK_ID, PSK_KEY, psk_config, psk_handler, recv, udp  # noqa: E402

CIPHERS = ("TLS-PSK-WITH-AES-128-GCM-SHA256", "TLS-PSK-WITH-AES-128-CBC-SHA256")


def block(f, *a):
    while True:
        with suppress(tls.WantReadError, tls.WantWriteError):
            return f(*a)


def test_mbedtls_client_qdtls_server():
    ss = udp()
    port = ss.getsockname()[1]
    result = {}

    def client():
        try:
            conf = tls.DTLSConfiguration(pre_shared_key=(PSK_ID.decode(), PSK_KEY), validate_certificates=False,
                                         ciphers=CIPHERS)
            s = tls.ClientContext(conf).wrap_socket(socket.socket(socket.AF_INET, socket.SOCK_DGRAM),
                                                    server_hostname=None)
            s.settimeout(5)
            s.connect(("127.0.0.1", port))
            block(s.do_handshake)
            s.send(b"from mbedtls")
            result["reply"] = block(s.recv, 4096)
            s.close()
        except BaseException as e:  # noqa: BLE001
            result["error"] = e

    t = threading.Thread(target=client)
    t.start()
    verifier = QDtlsClientVerifier()
    server = QDtls(qdtls.SslServerMode)
    server.setDtlsConfiguration(psk_config())
    server.pskRequired.connect(psk_handler())
    while True:
        d, addr = recv(ss, 5)
        if verifier.verifyClient(ss, d, addr[0], addr[1]):
            break
    server.setPeer(addr[0], addr[1])
    assert server.doHandshake(ss, verifier.verifiedHello()), server.dtlsErrorString()
    while server.handshakeState() == QDtls.HandshakeInProgress:
        assert server.doHandshake(ss, recv(ss, 5)[0]), server.dtlsErrorString()
    assert server.handshakeState() == QDtls.HandshakeComplete
    plain = b""
    while not plain:
        plain = server.decryptDatagram(ss, recv(ss, 5)[0])
    assert plain == b"from mbedtls"
    assert server.writeDatagramEncrypted(ss, b"from qdtls") == 10
    t.join(10)
    assert result.get("reply") == b"from qdtls", result
    ss.close()


def test_qdtls_client_mbedtls_server():
    raw = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # mbedtls's accept rebinds the port
    conf = tls.DTLSConfiguration(pre_shared_key_store={PSK_ID.decode(): PSK_KEY}, validate_certificates=False,
                                 ciphers=CIPHERS)
    srv = tls.ServerContext(conf).wrap_socket(raw)
    srv.bind(("127.0.0.1", 0))
    port = srv.getsockname()[1]
    result = {}

    def server():
        try:
            conn, addr = srv.accept()
            conn.setcookieparam(addr[0].encode("ascii"))
            with suppress(tls.HelloVerifyRequest):
                block(conn.do_handshake)
            conn, addr = conn.accept()
            conn.setcookieparam(addr[0].encode("ascii"))
            block(conn.do_handshake)
            data = block(conn.recv, 4096)
            conn.send(data.upper())
            result["got"] = data
        except BaseException as e:  # noqa: BLE001
            result["error"] = e

    t = threading.Thread(target=server, daemon=True)
    t.start()
    cs = udp()
    client = QDtls(qdtls.SslClientMode)
    client.setDtlsConfiguration(psk_config())
    client.pskRequired.connect(psk_handler())
    client.setPeer("127.0.0.1", port)
    assert client.doHandshake(cs)
    while client.handshakeState() == QDtls.HandshakeInProgress:
        r, _, _ = select.select([cs], [], [], 5)
        assert r, result
        assert client.doHandshake(cs, cs.recv(65536)), client.dtlsErrorString()
    assert client.handshakeState() == QDtls.HandshakeComplete, client.dtlsErrorString()
    assert client.writeDatagramEncrypted(cs, b"hello mbedtls") == 13
    reply = client.decryptDatagram(cs, recv(cs, 5)[0])
    t.join(10)
    assert result.get("got") == b"hello mbedtls", result
    assert reply == b"HELLO MBEDTLS"
    cs.close()
