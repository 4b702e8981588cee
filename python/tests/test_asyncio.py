"""qdtls.asyncio: a client and a server on one event loop."""

from __future__ import annotations

import asyncio

import pytest

import qdtls
import qdtls.asyncio as qa
from qdtls import QSslSocket
from conftest import PSK_ID, PSK_KEY, cert_config, psk_config, udp


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 20))


def test_psk_echo():
    async def main():
        async def echo(conn):
            while (data := await conn.recv()):
                await conn.send(data.upper())
        server = await qa.serve("127.0.0.1", 0, configuration=psk_config(), psk=PSK_KEY, handler=echo)
        host, port = server.address
        timeouts = []
        async with server:
            clients = [await qa.connect(host, port, configuration=psk_config(), psk=(PSK_ID, PSK_KEY))
                       for _ in range(3)]
            clients[0].dtls.handshakeTimeout.connect(lambda: timeouts.append(1))
            for i, c in enumerate(clients):
                assert await c.send(b"hello %d" % i) == 7
            for i, c in enumerate(clients):
                assert await c.recv() == b"HELLO %d" % i
                assert c.dtls.isConnectionEncrypted()
            for c in clients:
                await c.close()
        return timeouts
    assert run(main()) == []


def test_accept_and_close_by_peer(certs):
    async def main():
        server = await qa.serve("127.0.0.1", 0, configuration=cert_config(certs, "server", mode=QSslSocket.VerifyNone))
        client = await qa.connect("127.0.0.1", server.address[1], configuration=cert_config(certs, None),
                                  verificationName="localhost")
        conn = await server.accept()
        assert conn.peer[1] == client.dtls.peerPort() or conn.peer[0] == "127.0.0.1"
        await conn.send(b"from server")
        assert await client.recv() == b"from server"
        await client.close()
        assert await conn.recv() == b""  # close_notify
        assert await conn.recv() == b""
        await server.close()
    run(main())


def test_verification_failure_raises(certs):
    async def main():
        server = await qa.serve("127.0.0.1", 0,
                                configuration=cert_config(certs, "self", ca=False, mode=QSslSocket.VerifyNone))
        with pytest.raises(qa.DtlsError) as e:
            await qa.connect("127.0.0.1", server.address[1], configuration=cert_config(certs, None),
                             verificationName="localhost")
        assert e.value.error == qdtls.QDtlsError.PeerVerificationError
        assert e.value.verificationErrors
        # The same server with the error ignored.
        errs = e.value.verificationErrors
        client = await qa.connect("127.0.0.1", server.address[1], configuration=cert_config(certs, None),
                                  verificationName="localhost", ignoreErrors=errs)
        await client.close()
        await server.close()
    run(main())


def test_retransmission_on_the_loop():
    """A server that drops the first ClientHello: the client's timer on the loop retransmits."""
    async def main():
        loop = asyncio.get_running_loop()
        server = await qa.serve("127.0.0.1", 0, configuration=psk_config(), psk=PSK_KEY)
        real = server._datagram
        dropped = []

        def lossy(data, addr):
            if not dropped:
                dropped.append(data)
                return
            real(data, addr)
        server._transport.get_protocol().on_datagram = lossy
        fired = []
        t0 = loop.time()
        client = await qa.connect("127.0.0.1", server.address[1], configuration=psk_config(),
                                  psk=(PSK_ID, PSK_KEY), initialTimeoutMs=20)
        assert dropped and loop.time() - t0 >= 0.02
        await client.close()
        await server.close()
    run(main())


def test_handshake_timeout_error():
    async def main():
        silent = udp()  # nobody answers
        with pytest.raises(asyncio.TimeoutError):
            await qa.connect("127.0.0.1", silent.getsockname()[1], configuration=psk_config(),
                             psk=(PSK_ID, PSK_KEY), timeout=0.2, initialTimeoutMs=10)
        silent.close()
    run(main())
