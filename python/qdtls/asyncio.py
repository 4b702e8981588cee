"""DTLS over an asyncio event loop: a client and a server on datagram
endpoints, retransmission timers on ``loop.call_later``, an awaitable
handshake and awaitable receive.

    client = await qdtls.asyncio.connect("127.0.0.1", 4433, psk=(b"id", b"key"))
    await client.send(b"hello")
    reply = await client.recv()
    await client.close()

    server = await qdtls.asyncio.serve("127.0.0.1", 4433, psk=lambda auth: auth.setPreSharedKey(b"key"))
    conn = await server.accept()           # a peer that completed its handshake
    data = await conn.recv()
    await conn.send(data)

Each side is a :class:`qdtls.QDtls` underneath (``.dtls``): its
``handshakeTimeout`` signal is emitted when the timer expires, just before
the retransmission. Failures raise :class:`DtlsError` with Qt's error.
"""

from __future__ import annotations

import asyncio as _asyncio
import socket as _socket
from typing import Any, Callable, Dict, Iterable, Optional, Tuple, Union

from . import (
    HandshakeState, QDtls, QDtlsClientVerifier, QDtlsError, QSslConfiguration, QSslError,
    QSslPreSharedKeyAuthenticator, SslMode,
)

__all__ = ["DtlsError", "DtlsClient", "DtlsServer", "DtlsConnection", "connect", "serve"]

PskArg = Union[None, Tuple[bytes, bytes], bytes, Callable[[QSslPreSharedKeyAuthenticator], None]]


class DtlsError(ConnectionError):
    """A DTLS call failed: ``error`` is the QDtlsError, ``errorString`` Qt's text."""

    def __init__(self, error: QDtlsError, errorString: str, verificationErrors=()):
        super().__init__(f"{QDtlsError(error).name}: {errorString}")
        self.error = QDtlsError(error)
        self.errorString = errorString
        self.verificationErrors = list(verificationErrors)


def _psk_slot(psk: PskArg) -> Optional[Callable[[QSslPreSharedKeyAuthenticator], None]]:
    if psk is None or callable(psk):
        return psk
    if isinstance(psk, (bytes, bytearray)):
        key = bytes(psk)

        def slot(a: QSslPreSharedKeyAuthenticator) -> None:
            a.setPreSharedKey(key)
        return slot
    identity, key = psk

    def slot2(a: QSslPreSharedKeyAuthenticator) -> None:
        a.setIdentity(identity)
        a.setPreSharedKey(key)
    return slot2


class _Link:
    """One QDtls on one socket: drives its handshake, its timer and its receive queue."""

    def __init__(self, loop: _asyncio.AbstractEventLoop, dtls: QDtls, sock: Any):
        self.loop = loop
        self.dtls = dtls
        self.sock = sock
        self.timer: Optional[_asyncio.TimerHandle] = None
        self.handshake: _asyncio.Future = loop.create_future()
        self.queue: _asyncio.Queue = _asyncio.Queue()
        self.closed = False
        self.on_done: Callable[[_Link], None] = lambda link: None

    def fail(self) -> None:
        err = DtlsError(self.dtls.dtlsError(), self.dtls.dtlsErrorString(), self.dtls.peerVerificationErrors())
        self.cancel_timer()
        if not self.handshake.done():
            self.handshake.set_exception(err)
            self.on_done(self)

    def settle(self) -> None:
        state = self.dtls.handshakeState()
        if state == HandshakeState.HandshakeComplete:
            self.cancel_timer()
            if not self.handshake.done():
                self.handshake.set_result(None)
                self.on_done(self)
        elif state == HandshakeState.PeerVerificationFailed:
            self.fail()
        elif state == HandshakeState.HandshakeInProgress:
            self.arm()

    def start(self, dgram: bytes = b"") -> None:
        if not self.dtls.doHandshake(self.sock, dgram):
            return self.fail()
        self.settle()

    def arm(self) -> None:
        self.cancel_timer()
        ms = self.dtls.nextTimeoutMs()
        if ms >= 0:
            self.timer = self.loop.call_later(ms / 1000.0, self.expired)

    def cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def expired(self) -> None:
        self.timer = None
        if self.dtls.handshakeState() != HandshakeState.HandshakeInProgress:
            return
        self.dtls.handshakeTimeout.emit()
        self.dtls.handleTimeout(self.sock)
        if self.dtls.dtlsError() != QDtlsError.NoError:
            return self.fail()
        self.arm()

    def datagram(self, data: bytes) -> None:
        state = self.dtls.handshakeState()
        if state == HandshakeState.HandshakeInProgress:
            if not self.dtls.doHandshake(self.sock, data):
                # A stray or damaged datagram is not fatal; a fatal error resets the state.
                if self.dtls.handshakeState() != HandshakeState.HandshakeInProgress:
                    return self.fail()
            return self.settle()
        if state != HandshakeState.HandshakeComplete:
            return
        plain = self.dtls.decryptDatagram(self.sock, data)
        if plain:
            self.queue.put_nowait(plain)
        elif self.dtls.dtlsError() == QDtlsError.RemoteClosedConnectionError:
            self.mark_closed()

    def mark_closed(self) -> None:
        if not self.closed:
            self.closed = True
            self.cancel_timer()
            self.queue.put_nowait(b"")

    async def recv(self) -> bytes:
        if self.closed and self.queue.empty():
            return b""
        data = await self.queue.get()
        if data == b"":
            self.queue.put_nowait(b"")  # every later recv() sees the end too
        return data

    def send(self, data: bytes) -> int:
        n = self.dtls.writeDatagramEncrypted(self.sock, data)
        if n < 0:
            raise DtlsError(self.dtls.dtlsError(), self.dtls.dtlsErrorString())
        return n

    def shutdown(self) -> None:
        self.cancel_timer()
        if self.dtls.isConnectionEncrypted():
            self.dtls.shutdown(self.sock)
        elif self.dtls.handshakeState() in (HandshakeState.HandshakeInProgress, HandshakeState.PeerVerificationFailed):
            self.dtls.abortHandshake(self.sock)
        self.mark_closed()


class _Protocol(_asyncio.DatagramProtocol):
    def __init__(self, on_datagram: Callable[[bytes, Any], None]):
        self.on_datagram = on_datagram

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.on_datagram(data, addr)

    def error_received(self, exc: Exception) -> None:  # ICMP errors: DTLS retransmits
        pass


class _Linked:
    """What a client and a server's connection share: the QDtls, send, recv."""

    _link: _Link

    @property
    def dtls(self) -> QDtls:
        """The QDtls underneath."""
        return self._link.dtls

    async def send(self, data: bytes) -> int:
        """Encrypts and sends one datagram to the peer; returns the plaintext length."""
        return self._link.send(data)

    async def recv(self) -> bytes:
        """The next datagram's plaintext; b"" once the peer closed the session."""
        return await self._link.recv()


class DtlsClient(_Linked):
    """A DTLS client on its own connected UDP socket. Use :func:`connect`."""

    def __init__(self, link: _Link, transport: _asyncio.DatagramTransport):
        self._link = link
        self._transport = transport

    async def close(self) -> None:
        """Sends close_notify (or aborts a handshake) and closes the socket."""
        self._link.shutdown()
        self._transport.close()

    async def __aenter__(self) -> "DtlsClient":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()


async def connect(host: str, port: int, *, configuration: Optional[QSslConfiguration] = None,
                  psk: PskArg = None, verificationName: str = "",
                  ignoreErrors: Iterable[QSslError] = (), timeout: Optional[float] = 30.0,
                  initialTimeoutMs: Optional[int] = None, mtuHint: int = 0) -> DtlsClient:
    """Opens a UDP socket to host:port and completes a DTLS handshake.

    ``psk``: (identity, key), or a pskRequired slot. ``ignoreErrors``:
    verification errors to accept. Raises :class:`DtlsError` if the handshake
    fails, :class:`asyncio.TimeoutError` after ``timeout`` seconds.
    """
    loop = _asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=_socket.SOCK_DGRAM)
    family, _, _, _, addr = infos[0]
    link_box: Dict[str, _Link] = {}
    transport, _ = await loop.create_datagram_endpoint(
        lambda: _Protocol(lambda d, a: link_box["link"].datagram(d)), remote_addr=addr[:2], family=family)
    sock = transport.get_extra_info("socket")
    dtls = QDtls(SslMode.SslClientMode)
    link = _Link(loop, dtls, sock)
    link_box["link"] = link
    try:
        if configuration is not None and not dtls.setDtlsConfiguration(configuration):
            raise DtlsError(dtls.dtlsError(), dtls.dtlsErrorString())
        slot = _psk_slot(psk)
        if slot is not None:
            dtls.pskRequired.connect(slot)
        ignore = list(ignoreErrors)
        if ignore:
            dtls.ignoreVerificationErrors(ignore)
        if initialTimeoutMs is not None:
            dtls.setInitialTimeoutMs(initialTimeoutMs)
        if mtuHint:
            dtls.setMtuHint(mtuHint)
        if not dtls.setPeer(addr[0], addr[1], verificationName or ""):
            raise DtlsError(dtls.dtlsError(), dtls.dtlsErrorString())
        link.start()
        await _asyncio.wait_for(_asyncio.shield(link.handshake), timeout)
    except BaseException:
        link.shutdown()
        transport.close()
        raise
    return DtlsClient(link, transport)


class DtlsConnection(_Linked):
    """One client of a :class:`DtlsServer`, after its handshake completed."""

    def __init__(self, server: "DtlsServer", link: _Link, peer: Tuple[str, int]):
        self._server = server
        self._link = link
        self.peer = peer

    async def close(self) -> None:
        """Sends close_notify and forgets the client."""
        self._link.shutdown()
        self._server._forget(self.peer)


class DtlsServer:
    """A DTLS server on one UDP socket: unknown peers go through a
    QDtlsClientVerifier first, then get a server QDtls each. Use :func:`serve`."""

    def __init__(self, loop: _asyncio.AbstractEventLoop, configuration: QSslConfiguration, psk: PskArg,
                 handler: Optional[Callable[[DtlsConnection], Any]]):
        self._loop = loop
        self._configuration = configuration
        self._psk = _psk_slot(psk)
        self._handler = handler
        self.verifier = QDtlsClientVerifier()
        self._links: Dict[Tuple[str, int], _Link] = {}
        self._conns: Dict[Tuple[str, int], DtlsConnection] = {}
        self._accepted: _asyncio.Queue = _asyncio.Queue()
        self._transport: Optional[_asyncio.DatagramTransport] = None
        self._sock: Any = None
        self._tasks: set = set()

    @property
    def address(self) -> Tuple[str, int]:
        """The (host, port) the server is bound to."""
        return self._sock.getsockname()[:2]

    def _datagram(self, data: bytes, addr: Any) -> None:
        peer = (addr[0], addr[1])
        link = self._links.get(peer)
        if link is not None:
            return link.datagram(data)
        if not self.verifier.verifyClient(self._sock, data, peer[0], peer[1]):
            return
        dtls = QDtls(SslMode.SslServerMode)
        dtls.setDtlsConfiguration(self._configuration)
        if self._psk is not None:
            dtls.pskRequired.connect(self._psk)
        dtls.setCookieGeneratorParameters(self.verifier.cookieGeneratorParameters())
        if not dtls.setPeer(peer[0], peer[1]):
            return
        link = _Link(self._loop, dtls, self._sock)
        link.on_done = lambda lk, peer=peer: self._handshake_done(peer, lk)
        self._links[peer] = link
        link.handshake.add_done_callback(lambda f: f.exception() if not f.cancelled() else None)
        link.start(self.verifier.verifiedHello())

    def _handshake_done(self, peer: Tuple[str, int], link: _Link) -> None:
        if link.handshake.exception() is not None:
            self._links.pop(peer, None)
            return
        conn = DtlsConnection(self, link, peer)
        self._conns[peer] = conn
        if self._handler is not None:
            r = self._handler(conn)
            if _asyncio.iscoroutine(r):
                t = self._loop.create_task(r)
                self._tasks.add(t)
                t.add_done_callback(self._tasks.discard)
        else:
            self._accepted.put_nowait(conn)

    def _forget(self, peer: Tuple[str, int]) -> None:
        self._links.pop(peer, None)
        self._conns.pop(peer, None)

    async def accept(self) -> DtlsConnection:
        """The next client whose handshake completed (without a handler)."""
        return await self._accepted.get()

    async def close(self) -> None:
        """Shuts every session down and closes the socket."""
        for link in list(self._links.values()):
            link.shutdown()
        self._links.clear()
        self._conns.clear()
        for t in list(self._tasks):
            t.cancel()
        if self._transport is not None:
            self._transport.close()

    async def __aenter__(self) -> "DtlsServer":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()


async def serve(host: str, port: int, *, configuration: Optional[QSslConfiguration] = None,
                psk: PskArg = None, handler: Optional[Callable[[DtlsConnection], Any]] = None) -> DtlsServer:
    """Binds a UDP socket to host:port and serves DTLS on it.

    Each client that completes its handshake is passed to ``handler`` (a
    function or coroutine function), or queued for :meth:`DtlsServer.accept`.
    The configuration keeps cookie verification on (the server runs a
    QDtlsClientVerifier).
    """
    loop = _asyncio.get_running_loop()
    server = DtlsServer(loop, configuration or QSslConfiguration.defaultDtlsConfiguration(), psk, handler)
    transport, _ = await loop.create_datagram_endpoint(lambda: _Protocol(server._datagram), local_addr=(host, port))
    server._transport = transport
    server._sock = transport.get_extra_info("socket")
    return server
