"""Interop with PySide6's own QDtls (Qt's OpenSSL backend), in both roles,
PSK and certificates, with either side's verifier; and qdtls.pyside6 as a
drop-in for PySide6 code."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
QtCore = pytest.importorskip("PySide6.QtCore")
QtNetwork = pytest.importorskip("PySide6.QtNetwork")

from PySide6.QtCore import QByteArray, QCoreApplication, QCryptographicHash  # noqa: E402
from PySide6.QtNetwork import (  # noqa: E402
    QDtls as QtDtls, QDtlsClientVerifier as QtVerifier, QDtlsError, QHostAddress, QSsl, QSslCertificate,
    QSslConfiguration, QSslError, QSslKey, QSslSocket, QUdpSocket,
)

import qdtls.pyside6 as ours  # noqa: E402
from conftest import PSK_ID, PSK_KEY  # noqa: E402

app = QCoreApplication.instance() or QCoreApplication([])
if "openssl" not in QSslSocket.availableBackends() or not QSslSocket.supportsSsl():
    pytest.skip("PySide6 has no OpenSSL TLS backend here", allow_module_level=True)

IMPLS = {"qt": (QtDtls, QtVerifier), "qdtls": (ours.QDtls, ours.QDtlsClientVerifier)}
LOCAL = QHostAddress(QHostAddress.SpecialAddress.LocalHost)


def qsock() -> QUdpSocket:
    s = QUdpSocket()
    assert s.bind(LOCAL, 0)
    return s


def next_dgram(sock: QUdpSocket, ms: int = 2000):
    if not sock.hasPendingDatagrams():
        sock.waitForReadyRead(ms)
    if not sock.hasPendingDatagrams():
        return None
    return sock.receiveDatagram()


def psk_conf(hint=b""):
    c = QSslConfiguration.defaultDtlsConfiguration()
    c.setPeerVerifyMode(QSslSocket.PeerVerifyMode.VerifyNone)
    if hint:
        c.setPreSharedKeyIdentityHint(QByteArray(hint))
    return c


def cert_conf(certs, name, mode):
    c = QSslConfiguration.defaultDtlsConfiguration()
    if name:
        c.setLocalCertificate(QSslCertificate.fromPath(str(certs / f"{name}.pem"))[0])
        c.setPrivateKey(QSslKey((certs / f"{name}.key").read_bytes(), QSsl.KeyAlgorithm.Ec))
    c.setCaCertificates(QSslCertificate.fromPath(str(certs / "ca.pem")))
    c.setPeerVerifyMode(mode)
    return c


def handshake(client_impl, server_impl, verifier_impl, cconf, sconf, name="", psk=True):
    CDtls, _ = IMPLS[client_impl]
    SDtls, _ = IMPLS[server_impl]
    _, Verifier = IMPLS[verifier_impl]
    cs, ss = qsock(), qsock()
    client = CDtls(QSslSocket.SslMode.SslClientMode)
    server = SDtls(QSslSocket.SslMode.SslServerMode)
    seen = []

    def cpsk(auth):
        seen.append(("client", auth.identityHint().data()))
        auth.setIdentity(QByteArray(PSK_ID))
        auth.setPreSharedKey(QByteArray(PSK_KEY))

    def spsk(auth):
        seen.append(("server", auth.identity().data()))
        auth.setPreSharedKey(QByteArray(PSK_KEY))
    if psk:
        client.pskRequired.connect(cpsk)
        server.pskRequired.connect(spsk)
    assert client.setDtlsConfiguration(cconf)
    assert server.setDtlsConfiguration(sconf)
    assert client.setPeer(LOCAL, ss.localPort(), name)
    verifier = Verifier()
    params = Verifier.GeneratorParameters(QCryptographicHash.Algorithm.Sha256, QByteArray(b"interop secret"))
    assert verifier.setCookieGeneratorParameters(params)
    server.setCookieGeneratorParameters(params)  # Qt's returns False even on success
    assert client.doHandshake(cs), client.dtlsErrorString()
    while True:
        d = next_dgram(ss)
        assert d is not None, "no ClientHello"
        if verifier.verifyClient(ss, d.data(), d.senderAddress(), d.senderPort()):
            break
        assert verifier.dtlsError() == QDtlsError.NoError
        r = next_dgram(cs)
        assert r is not None, "no HelloVerifyRequest"
        assert client.doHandshake(cs, r.data()), client.dtlsErrorString()
    assert server.setPeer(d.senderAddress(), d.senderPort())
    assert server.doHandshake(ss, verifier.verifiedHello()), server.dtlsErrorString()
    for _ in range(50):
        if client.handshakeState() != QtDtls.HandshakeState.HandshakeInProgress and \
                server.handshakeState() != QtDtls.HandshakeState.HandshakeInProgress:
            break
        moved = False
        for sock, dtls in ((cs, client), (ss, server)):
            d = next_dgram(sock, 50)
            if d is not None and dtls.handshakeState() == QtDtls.HandshakeState.HandshakeInProgress:
                dtls.doHandshake(sock, d.data())
                moved = True
        assert moved or _ < 49
    return client, server, cs, ss, seen


def exchange(client, server, cs, ss):
    assert client.writeDatagramEncrypted(cs, QByteArray(b"ping")) == 4
    d = next_dgram(ss)
    assert server.decryptDatagram(ss, d.data()) == QByteArray(b"ping")
    assert server.writeDatagramEncrypted(ss, QByteArray(b"pong")) == 4
    d = next_dgram(cs)
    assert client.decryptDatagram(cs, d.data()) == QByteArray(b"pong")
    assert client.shutdown(cs)
    d = next_dgram(ss)
    assert server.decryptDatagram(ss, d.data()).isEmpty()
    assert server.dtlsError() == QDtlsError.RemoteClosedConnectionError


ROLES = [("qt", "qdtls"), ("qdtls", "qt"), ("qdtls", "qdtls"), ("qt", "qt")]


@pytest.mark.parametrize("verifier", ["qt", "qdtls"])
@pytest.mark.parametrize("client_impl,server_impl", ROLES)
def test_psk_interop(client_impl, server_impl, verifier):
    client, server, cs, ss, seen = handshake(client_impl, server_impl, verifier, psk_conf(), psk_conf(b"qdtls hint"))
    Complete = QtDtls.HandshakeState.HandshakeComplete
    assert client.handshakeState() == Complete, client.dtlsErrorString()
    assert server.handshakeState() == Complete, server.dtlsErrorString()
    assert ("server", PSK_ID) in seen and ("client", b"qdtls hint") in seen
    assert client.sessionCipher().name() == server.sessionCipher().name()
    assert client.sessionProtocol() == QSsl.SslProtocol.DtlsV1_2
    exchange(client, server, cs, ss)


@pytest.mark.parametrize("verifier", ["qt", "qdtls"])
@pytest.mark.parametrize("client_impl,server_impl", ROLES)
def test_certificate_interop(certs, client_impl, server_impl, verifier):
    client, server, cs, ss, _ = handshake(
        client_impl, server_impl, verifier,
        cert_conf(certs, "client", QSslSocket.PeerVerifyMode.VerifyPeer),
        cert_conf(certs, "server", QSslSocket.PeerVerifyMode.VerifyPeer), name="localhost", psk=False)
    Complete = QtDtls.HandshakeState.HandshakeComplete
    assert client.handshakeState() == Complete, (client.dtlsErrorString(), client.peerVerificationErrors())
    assert server.handshakeState() == Complete, (server.dtlsErrorString(), server.peerVerificationErrors())
    exchange(client, server, cs, ss)


@pytest.mark.parametrize("client_impl,server_impl", [("qt", "qdtls"), ("qdtls", "qt")])
def test_verification_errors_interop(certs, client_impl, server_impl):
    client, server, cs, ss, _ = handshake(
        client_impl, server_impl, "qt", cert_conf(certs, None, QSslSocket.PeerVerifyMode.VerifyPeer),
        cert_conf(certs, "self", QSslSocket.PeerVerifyMode.VerifyNone), name="localhost", psk=False)
    assert client.handshakeState() == QtDtls.HandshakeState.PeerVerificationFailed
    assert client.dtlsError() == QDtlsError.PeerVerificationError
    errors = client.peerVerificationErrors()
    assert [e.error() for e in errors] == [QSslError.SslError.SelfSignedCertificate]
    client.ignoreVerificationErrors(errors)
    assert client.resumeHandshake(cs)
    assert client.handshakeState() == QtDtls.HandshakeState.HandshakeComplete
    for _ in range(5):  # the server may still wait for the final flight
        d = next_dgram(ss, 100)
        if d is None:
            break
        if server.handshakeState() == QtDtls.HandshakeState.HandshakeInProgress:
            server.doHandshake(ss, d.data())
    assert server.handshakeState() == QtDtls.HandshakeState.HandshakeComplete
    exchange(client, server, cs, ss)


def test_same_answers_as_qt_for_bad_input():
    """The same calls on both classes give the same results and errors."""
    for cls in (QtDtls, ours.QDtls):
        d = cls(QSslSocket.SslMode.SslClientMode)
        s = qsock()
        assert d.handshakeState() == QtDtls.HandshakeState.HandshakeNotStarted
        assert d.dtlsError() == QDtlsError.NoError
        assert not d.doHandshake(s) and d.dtlsError() == QDtlsError.InvalidOperation, cls
        assert not d.setPeer(QHostAddress(), 1) and d.dtlsError() == QDtlsError.InvalidInputParameters, cls
        assert not d.setPeer(QHostAddress("224.0.0.1"), 1) and d.dtlsError() == QDtlsError.InvalidInputParameters
        assert d.setPeer(LOCAL, 1) and d.dtlsError() == QDtlsError.NoError
        assert d.peerAddress() == LOCAL and d.peerPort() == 1
        assert d.writeDatagramEncrypted(s, QByteArray(b"x")) == -1 and d.dtlsError() == QDtlsError.InvalidOperation
        assert d.decryptDatagram(s, QByteArray(b"x")).isEmpty() and d.dtlsError() == QDtlsError.InvalidOperation
        assert not d.shutdown(s) and d.dtlsError() == QDtlsError.InvalidOperation
        assert not d.resumeHandshake(s) and d.dtlsError() == QDtlsError.InvalidOperation
        assert not d.abortHandshake(s) and d.dtlsError() == QDtlsError.InvalidOperation
        assert d.sessionCipher().isNull() and d.sessionProtocol() == QSsl.SslProtocol.UnknownProtocol
        assert d.mtuHint() == 0 and d.peerVerificationName() == ""
        d.setMtuHint(1200)
        assert d.mtuHint() == 1200


def test_handshake_timeout_signal_from_qtimer():
    d = ours.QDtls(QSslSocket.SslMode.SslClientMode)
    d.setDtlsConfiguration(psk_conf())
    silent = qsock()
    d.setPeer(LOCAL, silent.localPort())
    d._d.setInitialTimeoutMs(20)
    s = qsock()
    fired = []

    def on_timeout():
        fired.append(1)
        d.handleTimeout(s)
    d.handshakeTimeout.connect(on_timeout)
    d.doHandshake(s)
    deadline = QtCore.QDeadlineTimer(2000)
    while len(fired) < 2 and not deadline.hasExpired():
        app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 50)
    assert len(fired) >= 2
    assert next_dgram(silent) is not None


def test_pyside_documentation_snippets():
    """The Python snippets of PySide's QDtls page, with the import changed."""
    from qdtls.pyside6 import QDtls  # the only change
    address, port, peerName = LOCAL, 4433, "localhost"
    # A client initiates a handshake:
    clientSocket = QUdpSocket()
    clientDtls = QDtls(QSslSocket.SslClientMode)
    config = QSslConfiguration.defaultDtlsConfiguration()
    config.setDtlsCookieVerificationEnabled(False)
    clientDtls.setDtlsConfiguration(config)
    clientDtls.setPeer(address, port, peerName)
    assert clientDtls.doHandshake(clientSocket)  # an unbound QUdpSocket is bound, as writeDatagram does
    assert clientDtls.handshakeState() == QDtls.HandshakeInProgress
    # handshakeTimeout -> handleTimeout
    clientDtls.handshakeTimeout.connect(lambda: clientDtls.handleTimeout(clientSocket))
    # Sending before the handshake completed is Qt's error, not an exception:
    assert clientDtls.writeDatagramEncrypted(clientSocket, "Hello DTLS server!") == -1
    # Shutdown before destruction:
    assert not clientDtls.shutdown(clientSocket)
    assert clientDtls.abortHandshake(clientSocket)
