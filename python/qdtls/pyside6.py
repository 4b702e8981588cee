"""QDtls and QDtlsClientVerifier as PySide6 QObjects: real Qt signals,
``QUdpSocket``, ``QByteArray``, ``QHostAddress`` and PySide6's
``QSslConfiguration``, ``QSslError``, ``QSslCipher``, so PySide6 code
switches by its import only::

    from PySide6.QtNetwork import QDtls, QDtlsClientVerifier   # before
    from qdtls.pyside6 import QDtls, QDtlsClientVerifier       # after

Needs PySide6 (PySide6-Essentials); Qt's own TLS backend is not used.
``handshakeTimeout`` is emitted from a QTimer, as in Qt: connect it and call
``handleTimeout(socket)``. ``pskRequired`` passes a
``QSslPreSharedKeyAuthenticator`` whose getters return QByteArray.
"""

from __future__ import annotations

from typing import Any, List, Optional

from PySide6.QtCore import QByteArray, QObject, QTimer, Signal
from PySide6.QtNetwork import (
    QAbstractSocket, QDtlsError, QHostAddress, QSsl, QSslCertificate, QSslCipher, QSslConfiguration, QSslError,
    QSslKey, QSslSocket,
)
from PySide6.QtNetwork import QDtls as _QtDtls
from PySide6.QtNetwork import QDtlsClientVerifier as _QtVerifier

from . import QDtls as _Dtls
from . import QDtlsClientVerifier as _Verifier
from . import GeneratorParameters as _Params
from . import QSslCertificate as _Cert
from . import QSslConfiguration as _Config
from . import QSslError as _Error
from . import QSslKey as _Key

__all__ = ["QDtls", "QDtlsClientVerifier", "QSslPreSharedKeyAuthenticator", "to_qdtls_configuration"]


def _fd(socket: Any) -> int:
    """The descriptor of a QUdpSocket (bound first if unbound, as
    QUdpSocket.writeDatagram does); -1 for None."""
    if socket is None:
        return -1
    if isinstance(socket, QAbstractSocket):
        if socket.state() == QAbstractSocket.SocketState.UnconnectedState:
            socket.bind(QHostAddress(QHostAddress.SpecialAddress.Any), 0)
        return int(socket.socketDescriptor())
    return socket  # a socket.socket or an int: the base class takes it


def _addr(address: Any) -> Any:
    if isinstance(address, QHostAddress):
        return None if address.isNull() else address.toString()
    return address


def _bytes(data: Any) -> bytes:
    if isinstance(data, QByteArray):
        return data.data()
    return data


def _enum(e: Any) -> int:
    return int(getattr(e, "value", e))


def to_qdtls_configuration(conf: QSslConfiguration) -> _Config:
    """Converts PySide6's QSslConfiguration into qdtls's (the DTLS parts)."""
    out = _Config.defaultDtlsConfiguration()
    out.setProtocol(_enum(conf.protocol()))
    out.setPeerVerifyMode(_enum(conf.peerVerifyMode()))
    out.setPeerVerifyDepth(conf.peerVerifyDepth())
    chain = conf.localCertificateChain() or ([conf.localCertificate()] if not conf.localCertificate().isNull() else [])
    if chain:
        out.setLocalCertificateChain([_Cert(c.toDer().data(), 1) for c in chain])
    key = conf.privateKey()
    if not key.isNull():
        out.setPrivateKey(_Key(key.toPem().data()))
    cas = conf.caCertificates()
    if cas and [c.toDer() for c in cas] != [c.toDer() for c in QSslConfiguration.systemCaCertificates()]:
        out.setCaCertificates([_Cert(c.toDer().data(), 1) for c in cas])
    default = [c.name() for c in QSslConfiguration.defaultDtlsConfiguration().ciphers()]
    names = [c.name() for c in conf.ciphers()]
    if names and names != default:
        out.setCiphers(":".join(names))
    out.setDtlsCookieVerificationEnabled(conf.dtlsCookieVerificationEnabled())
    hint = conf.preSharedKeyIdentityHint().data()
    if hint:
        out.setPreSharedKeyIdentityHint(hint)
    protos = [p.data() for p in conf.allowedNextProtocols()]
    if protos:
        out.setAllowedNextProtocols(protos)
    out.setSslOption(0x80, conf.testSslOption(QSsl.SslOption.SslOptionDisableServerCipherPreference))
    return out


def _qt_cert(c: Any) -> QSslCertificate:
    return QSslCertificate(QByteArray(c.toDer()), QSsl.EncodingFormat.Der)


def _qt_params(p: Any) -> _QtVerifier.GeneratorParameters:
    from PySide6.QtCore import QCryptographicHash
    return _QtVerifier.GeneratorParameters(QCryptographicHash.Algorithm(int(p.hash)), QByteArray(p.secret))


def _params(p: Any) -> _Params:
    return _Params(_enum(p.hash), _bytes(p.secret))


class QSslPreSharedKeyAuthenticator:
    """The authenticator ``pskRequired`` passes: Qt's API with QByteArray values."""

    def __init__(self, inner: Any):
        self._a = inner

    def identityHint(self) -> QByteArray:
        return QByteArray(self._a.identityHint())

    def identity(self) -> QByteArray:
        return QByteArray(self._a.identity())

    def setIdentity(self, identity: Any) -> None:
        self._a.setIdentity(_bytes(identity))

    def preSharedKey(self) -> QByteArray:
        return QByteArray(self._a.preSharedKey())

    def setPreSharedKey(self, key: Any) -> None:
        self._a.setPreSharedKey(_bytes(key))

    def maximumIdentityLength(self) -> int:
        return self._a.maximumIdentityLength()

    def maximumPreSharedKeyLength(self) -> int:
        return self._a.maximumPreSharedKeyLength()


class QDtls(QObject):
    """``QDtls`` with PySide6's types, on qdtls."""

    HandshakeState = _QtDtls.HandshakeState
    HandshakeNotStarted = _QtDtls.HandshakeState.HandshakeNotStarted
    HandshakeInProgress = _QtDtls.HandshakeState.HandshakeInProgress
    PeerVerificationFailed = _QtDtls.HandshakeState.PeerVerificationFailed
    HandshakeComplete = _QtDtls.HandshakeState.HandshakeComplete
    GeneratorParameters = _QtVerifier.GeneratorParameters

    pskRequired = Signal(object)
    handshakeTimeout = Signal()

    def __init__(self, mode: Any, parent: Optional[QObject] = None):
        super().__init__(parent)
        self._d = _Dtls(_enum(mode))
        self._config: Optional[QSslConfiguration] = None
        self._d.pskRequired.connect(lambda a: self.pskRequired.emit(QSslPreSharedKeyAuthenticator(a)))
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._expired)

    def _expired(self) -> None:
        if self._d.handshakeState() == 1:
            self.handshakeTimeout.emit()

    def _arm(self) -> None:
        ms = self._d.nextTimeoutMs()
        if ms >= 0:
            self._timer.start(ms)
        else:
            self._timer.stop()

    def sslMode(self) -> QSslSocket.SslMode:
        return QSslSocket.SslMode(int(self._d.sslMode()))

    def setPeer(self, address: Any, port: int, verificationName: str = "") -> bool:
        return self._d.setPeer(_addr(address), port, verificationName)

    def setPeerVerificationName(self, name: str) -> bool:
        return self._d.setPeerVerificationName(name)

    def peerAddress(self) -> QHostAddress:
        a = self._d.peerAddress()
        return QHostAddress(a) if a else QHostAddress()

    def peerPort(self) -> int:
        return self._d.peerPort()

    def peerVerificationName(self) -> str:
        return self._d.peerVerificationName()

    def setMtuHint(self, mtuHint: int) -> None:
        self._d.setMtuHint(mtuHint)

    def mtuHint(self) -> int:
        return self._d.mtuHint()

    def setCookieGeneratorParameters(self, params: Any) -> bool:
        return self._d.setCookieGeneratorParameters(_params(params))

    def cookieGeneratorParameters(self) -> Any:
        return _qt_params(self._d.cookieGeneratorParameters())

    def setDtlsConfiguration(self, configuration: QSslConfiguration) -> bool:
        ok = self._d.setDtlsConfiguration(to_qdtls_configuration(configuration))
        if ok:
            self._config = QSslConfiguration(configuration)
        return ok

    def dtlsConfiguration(self) -> QSslConfiguration:
        return QSslConfiguration(self._config) if self._config is not None else QSslConfiguration.defaultDtlsConfiguration()

    def handshakeState(self) -> Any:
        return _QtDtls.HandshakeState(int(self._d.handshakeState()))

    def doHandshake(self, socket: Any, dgram: Any = None) -> bool:
        ok = self._d.doHandshake(_fd(socket), _bytes(dgram) if dgram is not None else b"")
        self._arm()
        return ok

    def handleTimeout(self, socket: Any) -> bool:
        ok = self._d.handleTimeout(_fd(socket))
        self._arm()
        return ok

    def resumeHandshake(self, socket: Any) -> bool:
        ok = self._d.resumeHandshake(_fd(socket))
        self._arm()
        return ok

    def abortHandshake(self, socket: Any) -> bool:
        ok = self._d.abortHandshake(_fd(socket))
        self._arm()
        return ok

    def shutdown(self, socket: Any) -> bool:
        ok = self._d.shutdown(_fd(socket))
        self._arm()
        return ok

    def isConnectionEncrypted(self) -> bool:
        return self._d.isConnectionEncrypted()

    def sessionCipher(self) -> QSslCipher:
        name = self._d.sessionCipher().name()
        return QSslCipher(name) if name else QSslCipher()

    def sessionProtocol(self) -> Any:
        return QSsl.SslProtocol(int(self._d.sessionProtocol()))

    def writeDatagramEncrypted(self, socket: Any, dgram: Any) -> int:
        return self._d.writeDatagramEncrypted(_fd(socket), _bytes(dgram))

    def decryptDatagram(self, socket: Any, dgram: Any) -> QByteArray:
        out = QByteArray(self._d.decryptDatagram(_fd(socket), _bytes(dgram)))
        self._arm()
        return out

    def dtlsError(self) -> QDtlsError:
        return QDtlsError(int(self._d.dtlsError()))

    def dtlsErrorString(self) -> str:
        return self._d.dtlsErrorString()

    def peerVerificationErrors(self) -> List[QSslError]:
        out = []
        for e in self._d.peerVerificationErrors():
            c = e.certificate()
            code = QSslError.SslError(int(e.error()))
            out.append(QSslError(code, _qt_cert(c)) if not c.isNull() else QSslError(code))
        return out

    def ignoreVerificationErrors(self, errorsToIgnore: List[QSslError]) -> None:
        mine = []
        for e in errorsToIgnore:
            c = e.certificate()
            mine.append(_Error(_enum(e.error()), _Cert(c.toDer().data(), 1) if not c.isNull() else None))
        self._d.ignoreVerificationErrors(mine)

    def nextTimeoutMs(self) -> int:
        return self._d.nextTimeoutMs()


class QDtlsClientVerifier(QObject):
    """``QDtlsClientVerifier`` with PySide6's types, on qdtls."""

    GeneratorParameters = _QtVerifier.GeneratorParameters

    def __init__(self, parent: Optional[QObject] = None):
        super().__init__(parent)
        self._v = _Verifier()

    def setCookieGeneratorParameters(self, params: Any) -> bool:
        return self._v.setCookieGeneratorParameters(_params(params))

    def cookieGeneratorParameters(self) -> Any:
        return _qt_params(self._v.cookieGeneratorParameters())

    def verifyClient(self, socket: Any, dgram: Any, address: Any, port: int) -> bool:
        return self._v.verifyClient(_fd(socket), _bytes(dgram), _addr(address), port)

    def verifiedHello(self) -> QByteArray:
        return QByteArray(self._v.verifiedHello())

    def dtlsError(self) -> QDtlsError:
        return QDtlsError(int(self._v.dtlsError()))

    def dtlsErrorString(self) -> str:
        return self._v.dtlsErrorString()
