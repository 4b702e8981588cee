"""qdtls: DTLS 1.2 with the API of Qt's QDtls, QDtlsClientVerifier and
QSslPreSharedKeyAuthenticator, over OpenSSL 3, without Qt.

Names, arguments and numeric values are PySide6's. Failures are Qt's: a call
returns False (or -1, or b"") and ``dtlsError()`` / ``dtlsErrorString()``
tell why; Python exceptions are raised only for arguments of the wrong type.
A ``socket`` argument is a ``socket.socket`` (anything with ``fileno()``);
None or a closed socket is Qt's null socket. The object never reads the
socket: the application receives datagrams and passes them in.

``qdtls.asyncio`` has a client and a server over an asyncio event loop;
``qdtls.pyside6`` has QObject classes taking PySide6's types.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any, Callable, List

from ._enums import (
    Algorithm, EncodingFormat, HandshakeState, KeyAlgorithm, KeyType, PeerVerifyMode,
    QDtlsError, SslErrorCode, SslMode, SslOption, SslProtocol,
)
from ._qdtls import (
    GeneratorParameters, QDtlsClientVerifier as _QDtlsClientVerifier, QSslCertificate, QSslCipher,
    QSslConfiguration, QSslError, QSslKey, QSslPreSharedKeyAuthenticator, _QDtls,
)

__all__ = [
    "QDtls", "QDtlsClientVerifier", "QSslPreSharedKeyAuthenticator", "QSslConfiguration",
    "QSslCertificate", "QSslKey", "QSslCipher", "QSslError", "QDtlsError", "HandshakeState",
    "SslMode", "PeerVerifyMode", "SslProtocol", "QSsl", "QSslSocket", "QCryptographicHash",
    "GeneratorParameters", "Signal", "SslClientMode", "SslServerMode",
]

SslClientMode = SslMode.SslClientMode
SslServerMode = SslMode.SslServerMode


class BoundSignal:
    """A signal of one object: ``connect(slot)``, ``disconnect(slot=None)``,
    ``emit(*args)``. Slots run on the thread that emits, in connection order."""

    __slots__ = ("_slots", "_lock", "__weakref__")

    def __init__(self) -> None:
        self._slots: List[Callable[..., Any]] = []
        self._lock = threading.Lock()

    def connect(self, slot: Callable[..., Any]) -> None:
        if not callable(slot):
            raise TypeError("slot must be callable")
        with self._lock:
            self._slots.append(slot)

    def disconnect(self, slot: Callable[..., Any] | None = None) -> bool:
        with self._lock:
            if slot is None:
                had = bool(self._slots)
                self._slots.clear()
                return had
            try:
                self._slots.remove(slot)
                return True
            except ValueError:
                return False

    def emit(self, *args: Any) -> None:
        with self._lock:
            slots = list(self._slots)
        for s in slots:
            s(*args)


class Signal:
    """A class attribute that gives each instance its own :class:`BoundSignal`."""

    def __init__(self, *types: Any) -> None:
        self.types = types
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        if obj is None:
            return self
        bound = BoundSignal()
        # A non-data descriptor: later lookups find the instance's own.
        return obj.__dict__.setdefault(self.name, bound)


class QDtls(_QDtls):
    """One DTLS connection (``QDtls``): ``QDtls(mode, parent=None)`` with
    ``mode`` SslClientMode or SslServerMode.

    Signals: ``pskRequired(authenticator)``, emitted from inside doHandshake
    when a PSK cipher suite is negotiated (set the identity and key on the
    authenticator there), and ``handshakeTimeout()``, emitted by whatever runs
    the retransmission timer (``qdtls.asyncio``); code that drives the object
    itself waits ``nextTimeoutMs()`` and calls ``handleTimeout(socket)``.
    """

    HandshakeState = HandshakeState
    HandshakeNotStarted = HandshakeState.HandshakeNotStarted
    HandshakeInProgress = HandshakeState.HandshakeInProgress
    PeerVerificationFailed = HandshakeState.PeerVerificationFailed
    HandshakeComplete = HandshakeState.HandshakeComplete
    GeneratorParameters = GeneratorParameters

    pskRequired = Signal(QSslPreSharedKeyAuthenticator)
    handshakeTimeout = Signal()

    def __init__(self, mode: Any, parent: Any = None) -> None:
        ref = weakref.ref(self)

        def psk(authenticator: QSslPreSharedKeyAuthenticator) -> None:
            me = ref()
            if me is not None:
                me.pskRequired.emit(authenticator)

        self._setPskHandler(psk)

    def __repr__(self) -> str:
        return (f"<qdtls.QDtls {self.sslMode().name} peer={self.peerAddress()}:{self.peerPort()} "
                f"{self.handshakeState().name}>")


class QDtlsClientVerifier(_QDtlsClientVerifier):
    """The stateless cookie exchange in front of a DTLS server (``QDtlsClientVerifier``)."""

    GeneratorParameters = GeneratorParameters


class QSsl:
    """The ``QSsl`` namespace: SslProtocol, EncodingFormat, KeyAlgorithm, KeyType, SslOption."""

    SslProtocol = SslProtocol
    EncodingFormat = EncodingFormat
    KeyAlgorithm = KeyAlgorithm
    KeyType = KeyType
    SslOption = SslOption


class QSslSocket:
    """The enums of ``QSslSocket`` that DTLS uses: SslMode and PeerVerifyMode."""

    SslMode = SslMode
    PeerVerifyMode = PeerVerifyMode


class QCryptographicHash:
    """``QCryptographicHash.Algorithm``, for cookie generator parameters."""

    Algorithm = Algorithm


for _ns, _enums in ((QSsl, (SslProtocol, EncodingFormat, KeyAlgorithm, KeyType, SslOption)),
                    (QSslSocket, (SslMode, PeerVerifyMode)), (QCryptographicHash, (Algorithm,))):
    for _e in _enums:
        for _m in _e:
            setattr(_ns, _m.name, _m)
for _m in SslErrorCode:
    try:
        setattr(QSslError, _m.name, _m)
    except (TypeError, AttributeError):  # an immutable native type: SslError below suffices
        break
try:
    QSslError.SslError = SslErrorCode  # type: ignore[attr-defined]
except (TypeError, AttributeError):
    pass
del _ns, _enums, _e, _m
