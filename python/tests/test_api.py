"""The Python API over loopback UDP: what the C tests cover, through Python."""

from __future__ import annotations

import gc
import socket
import threading
import time

import pytest

import qdtls
from qdtls import (
    QDtls, QDtlsClientVerifier, QDtlsError, QSslCertificate, QSslConfiguration, QSslError,
    QSslPreSharedKeyAuthenticator, QSslSocket, QSsl, QCryptographicHash,
)
from conftest import (
    PSK_ID, PSK_KEY, cert_config, connect_psk, make_pair, pending, psk_config, psk_handler, pump, recv,
    udp, verify_and_start,
)

E = QDtlsError
Complete = QDtls.HandshakeComplete


# --- values ----------------------------------------------------------------

def test_qt_numeric_values():
    assert [int(x) for x in QDtlsError] == list(range(9))
    assert [int(x) for x in QDtls.HandshakeState] == [0, 1, 2, 3]
    assert (int(qdtls.SslClientMode), int(qdtls.SslServerMode)) == (1, 2)
    assert (QSslSocket.VerifyNone, QSslSocket.QueryPeer, QSslSocket.VerifyPeer, QSslSocket.AutoVerifyPeer) == (0, 1, 2, 3)
    assert (QSsl.DtlsV1_0, QSsl.DtlsV1_0OrLater, QSsl.DtlsV1_2, QSsl.DtlsV1_2OrLater, QSsl.UnknownProtocol) == (8, 9, 10, 11, -1)
    assert (QSslError.SslError.SelfSignedCertificate, QSslError.SslError.HostNameMismatch, QSslError.SslError.NoPeerCertificate) == (9, 22, 21)
    assert QCryptographicHash.Sha256 == 4


def test_defaults():
    d = QDtls(qdtls.SslClientMode)
    assert d.handshakeState() == QDtls.HandshakeNotStarted
    assert d.dtlsError() == E.NoError and d.dtlsErrorString() == ""
    assert (d.peerAddress(), d.peerPort(), d.peerVerificationName(), d.mtuHint()) == ("", 0, "", 0)
    assert d.sessionCipher().isNull() and d.sessionProtocol() == QSsl.UnknownProtocol
    assert d.nextTimeoutMs() == -1 and not d.isConnectionEncrypted()
    assert d.sslMode() == qdtls.SslClientMode
    cfg = d.dtlsConfiguration()
    assert cfg.protocol() == QSsl.DtlsV1_2OrLater and cfg.peerVerifyMode() == QSslSocket.AutoVerifyPeer
    assert cfg.dtlsCookieVerificationEnabled() and cfg.peerVerifyDepth() == 0
    p = d.cookieGeneratorParameters()
    assert p.hash == QCryptographicHash.Sha256 and len(p.secret) > 0
    assert QDtlsClientVerifier().cookieGeneratorParameters() == p  # one process-wide secret


# --- PSK -------------------------------------------------------------------

def test_psk_handshake_and_data(pair):
    cs, ss = pair
    seen_c, seen_s = [], []
    client, server = make_pair(cs, ss, psk_config(), psk_config(setPreSharedKeyIdentityHint=b"hint"), psk=False)
    client.pskRequired.connect(psk_handler(seen=seen_c))
    server.pskRequired.connect(psk_handler(seen=seen_s))
    verify_and_start(client, cs, server, ss)
    assert client.nextTimeoutMs() > 0
    pump(client, cs, server, ss)
    assert client.handshakeState() == Complete and server.handshakeState() == Complete
    assert client.isConnectionEncrypted() and client.dtlsError() == E.NoError
    assert seen_c[0][:2] == (b"", b"hint") and seen_c[0][2] >= 127  # OpenSSL's room, less the NUL
    assert seen_s == [(PSK_ID, b"hint", 0)]
    assert "PSK" in client.sessionCipher().name() and client.sessionProtocol() == QSsl.DtlsV1_2
    assert client.nextTimeoutMs() == -1
    assert client.writeDatagramEncrypted(cs, b"ping") == 4
    assert server.decryptDatagram(ss, recv(ss)[0]) == b"ping"
    assert server.writeDatagramEncrypted(ss, bytearray(b"pong")) == 4
    assert client.decryptDatagram(cs, memoryview(recv(cs)[0])) == b"pong"
    assert client.writeDatagramEncrypted(cs, "text is UTF-8") == 13


def test_wrong_psk_fails_without_crash(pair):
    cs, ss = pair
    client, server = make_pair(cs, ss, psk_config(), psk_config(), psk=False)
    client.pskRequired.connect(psk_handler(key=b"one key"))
    server.pskRequired.connect(psk_handler(key=b"another key"))
    verify_and_start(client, cs, server, ss)
    # A wrong key shows as a bad Finished MAC, which DTLS drops silently: no side completes.
    pump(client, cs, server, ss, stall_ok=True)
    assert client.handshakeState() != Complete and server.handshakeState() != Complete


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_psk_handler_exception_fails_handshake(pair):
    cs, ss = pair
    client, server = make_pair(cs, ss, psk_config(), psk_config())
    client.pskRequired.disconnect()

    def boom(auth):
        raise RuntimeError("handler failed")
    client.pskRequired.connect(boom)
    verify_and_start(client, cs, server, ss)
    pump(client, cs, server, ss, stall_ok=True)  # pytest reports the unraisable exception
    assert client.handshakeState() != Complete


def test_no_psk_handler_fails(pair):
    cs, ss = pair
    client, server = make_pair(cs, ss, psk_config(), psk_config())
    client.pskRequired.disconnect()
    verify_and_start(client, cs, server, ss)
    pump(client, cs, server, ss)
    assert client.handshakeState() == QDtls.HandshakeNotStarted
    assert client.dtlsError() == E.TlsFatalError


def test_authenticator_value():
    a = QSslPreSharedKeyAuthenticator()
    a.setIdentity(b"id")
    a.setPreSharedKey(b"key")
    assert (a.identity(), a.preSharedKey(), a.identityHint()) == (b"id", b"key", b"")
    assert a == a and a != QSslPreSharedKeyAuthenticator()


# --- certificates ----------------------------------------------------------

def test_certificate_handshake(pair, certs):
    cs, ss = pair
    client, server = make_pair(cs, ss, cert_config(certs, None), cert_config(certs, "server", mode=QSslSocket.VerifyNone),
                               client_name="localhost", psk=False)
    verify_and_start(client, cs, server, ss)
    pump(client, cs, server, ss)
    assert client.handshakeState() == Complete, (client.dtlsErrorString(), client.peerVerificationErrors())
    assert server.handshakeState() == Complete
    leaf = QSslCertificate.fromPath(str(certs / "server.pem"))[0]
    assert client.peerCertificate() == leaf
    assert client.dtlsConfiguration().peerCertificate() == leaf
    assert client.peerVerificationErrors() == []
    assert "PSK" not in client.sessionCipher().name()


def test_mutual_certificates(pair, certs):
    cs, ss = pair
    client, server = make_pair(cs, ss, cert_config(certs, "client"), cert_config(certs, "server"),
                               client_name="127.0.0.1", psk=False)
    verify_and_start(client, cs, server, ss)
    pump(client, cs, server, ss)
    assert client.handshakeState() == Complete and server.handshakeState() == Complete
    assert server.peerCertificate() == QSslCertificate.fromPath(str(certs / "client.pem"))[0]
    assert client.dtlsConfiguration().privateKey().isNull() is False


def test_verification_errors_ignore_and_resume(pair, certs):
    cs, ss = pair
    client, server = make_pair(cs, ss, cert_config(certs, None), cert_config(certs, "self", ca=False, mode=QSslSocket.VerifyNone),
                               client_name="wrong.example", psk=False)
    verify_and_start(client, cs, server, ss)
    pump(client, cs, server, ss, until=lambda c, s: c.handshakeState() != QDtls.HandshakeInProgress)
    assert client.handshakeState() == QDtls.PeerVerificationFailed
    assert client.dtlsError() == E.PeerVerificationError
    errors = client.peerVerificationErrors()
    codes = [e.error() for e in errors]
    assert QSslError.SslError.HostNameMismatch in codes
    assert QSslError.SslError.SelfSignedCertificate in codes
    assert all(isinstance(e, QSslError) for e in errors)
    assert errors[0].errorString()
    # Not all ignored: False, and as in Qt no error.
    client.ignoreVerificationErrors(errors[:1])
    assert client.resumeHandshake(cs) is False
    assert client.dtlsError() == E.NoError
    assert client.handshakeState() == QDtls.PeerVerificationFailed
    assert not client.doHandshake(None) and client.dtlsError() == E.InvalidOperation
    client.ignoreVerificationErrors(errors)
    assert client.resumeHandshake(cs), client.dtlsErrorString()
    assert client.handshakeState() == Complete
    pump(client, cs, server, ss)
    assert client.writeDatagramEncrypted(cs, b"x") == 1
    got = server.decryptDatagram(ss, recv(ss)[0])
    assert got == b"x", (server.handshakeState(), server.dtlsError(), server.dtlsErrorString(), pending(ss))


def test_preset_ignore_and_abort(pair, certs):
    cs, ss = pair
    self_cert = QSslCertificate.fromPath(str(certs / "self.pem"))[0]
    client, server = make_pair(cs, ss, cert_config(certs, None), cert_config(certs, "self", ca=False, mode=QSslSocket.VerifyNone),
                               client_name="localhost", psk=False)
    client.ignoreVerificationErrors([QSslError(QSslError.SslError.SelfSignedCertificate, self_cert)])
    verify_and_start(client, cs, server, ss)
    pump(client, cs, server, ss)
    assert client.handshakeState() == Complete, client.peerVerificationErrors()

    # Without ignoring: abort from PeerVerificationFailed.
    cs2, ss2 = udp(), udp()
    c2, s2 = make_pair(cs2, ss2, cert_config(certs, None), cert_config(certs, "self", ca=False, mode=QSslSocket.VerifyNone),
                       client_name="localhost", psk=False)
    verify_and_start(c2, cs2, s2, ss2)
    pump(c2, cs2, s2, ss2, until=lambda c, s: c.handshakeState() != QDtls.HandshakeInProgress)
    assert c2.handshakeState() == QDtls.PeerVerificationFailed
    assert c2.abortHandshake(cs2)
    assert c2.handshakeState() == QDtls.HandshakeNotStarted and c2.peerVerificationErrors() == []
    assert not c2.abortHandshake(cs2) and c2.dtlsError() == E.InvalidOperation
    cs2.close(), ss2.close()


def test_missing_key_is_tls_initialization_error(pair, certs):
    cs, ss = pair
    cfg = cert_config(certs, None)
    cfg.setLocalCertificate(QSslCertificate.fromPath(str(certs / "server.pem"))[0])
    client = QDtls(qdtls.SslClientMode)
    client.setDtlsConfiguration(cfg)
    client.setPeer("127.0.0.1", ss.getsockname()[1])
    assert not client.doHandshake(cs)
    assert client.dtlsError() == E.TlsInitializationError


# --- verifier --------------------------------------------------------------

def test_verifier(pair):
    cs, ss = pair
    client = QDtls(qdtls.SslClientMode)
    client.setDtlsConfiguration(psk_config())
    client.setPeer("127.0.0.1", ss.getsockname()[1])
    client.doHandshake(cs)
    v = QDtlsClientVerifier()
    hello, addr = recv(ss)
    assert not v.verifyClient(ss, hello, addr[0], addr[1]) and v.dtlsError() == E.NoError
    assert v.verifiedHello() == b""
    hvr = recv(cs)[0]
    assert hvr[0] == 22  # a handshake record: HelloVerifyRequest
    client.doHandshake(cs, hvr)
    hello2, addr = recv(ss)
    assert v.verifyClient(ss, hello2, addr[0], addr[1]) and v.verifiedHello() == hello2
    assert v.verifyClient(ss, hello2, addr[0], addr[1])          # stateless
    assert not v.verifyClient(ss, hello2, addr[0], addr[1] + 1)  # another port
    assert not v.verifyClient(ss, b"\x00garbage", addr[0], addr[1]) and v.dtlsError() == E.NoError
    assert pending(cs) == []  # the HelloVerifyRequest went to the other port, garbage got nothing
    other = QDtlsClientVerifier()
    assert other.verifyClient(ss, hello2, addr[0], addr[1])  # one default secret per process
    p = QDtlsClientVerifier.GeneratorParameters(QCryptographicHash.Sha512, b"another secret")
    assert other.setCookieGeneratorParameters(p) and other.cookieGeneratorParameters() == p
    assert not other.verifyClient(ss, hello2, addr[0], addr[1])
    assert not other.setCookieGeneratorParameters(QDtlsClientVerifier.GeneratorParameters(QCryptographicHash.Sha256, b""))
    assert other.dtlsError() == E.InvalidInputParameters and other.cookieGeneratorParameters() == p
    for args in ((None, hello2, addr[0], addr[1]), (ss, b"", addr[0], addr[1]), (ss, hello2, "", 1),
                 (ss, hello2, "not an address", 1), (ss, hello2, "224.0.0.1", 1), (ss, hello2, "255.255.255.255", 1)):
        assert not v.verifyClient(*args) and v.dtlsError() == E.InvalidInputParameters, args
        assert v.dtlsErrorString()


def test_server_without_verifier_needs_cookies_disabled(pair):
    cs, ss = pair
    client, server = make_pair(cs, ss, psk_config(), psk_config())
    client.doHandshake(cs)
    hello, addr = recv(ss)
    server.setPeer(addr[0], addr[1])
    assert not server.doHandshake(ss, hello) and server.dtlsError() == E.TlsFatalError
    assert server.handshakeState() == QDtls.HandshakeNotStarted
    cfg = psk_config(setDtlsCookieVerificationEnabled=False)
    server2 = QDtls(qdtls.SslServerMode)
    server2.setDtlsConfiguration(cfg)
    server2.pskRequired.connect(psk_handler())
    server2.setPeer(addr[0], addr[1])
    assert server2.doHandshake(ss, hello)
    pump(client, cs, server2, ss)
    assert client.handshakeState() == Complete and server2.handshakeState() == Complete


# --- timers ----------------------------------------------------------------

def test_timeout_and_retransmission(pair):
    cs, ss = pair
    client = QDtls(qdtls.SslClientMode)
    client.setDtlsConfiguration(psk_config())
    client.setPeer("127.0.0.1", ss.getsockname()[1])
    fired = []
    client.handshakeTimeout.connect(lambda: fired.append(1))
    assert client.handleTimeout(cs) is False  # no handshake: nothing to do, no error
    assert client.dtlsError() == E.NoError
    assert client.doHandshake(cs)
    first = recv(ss)[0]
    t = client.nextTimeoutMs()
    assert 900 <= t <= 1000
    assert client.handleTimeout(cs) is False and pending(ss) == []  # not due yet
    client2 = QDtls(qdtls.SslClientMode)
    client2.setDtlsConfiguration(psk_config())
    client2.setPeer("127.0.0.1", ss.getsockname()[1])
    assert client2.setInitialTimeoutMs(5)
    assert not client2.setInitialTimeoutMs(0) and client2.dtlsError() == E.InvalidInputParameters
    assert not client2.setInitialTimeoutMs(60001)
    client2.doHandshake(cs)
    assert recv(ss)[0][:3] == first[:3]
    deadline = time.monotonic() + 2
    while client2.nextTimeoutMs() > 0 and time.monotonic() < deadline:
        time.sleep(client2.nextTimeoutMs() / 1000)
    assert client2.nextTimeoutMs() == 0
    assert client2.handleTimeout(cs) is True
    assert recv(ss)[0][:3] == first[:3]  # the ClientHello again
    assert client2.nextTimeoutMs() > 5  # doubled
    assert not client2.handleTimeout(None) and client2.dtlsError() == E.InvalidInputParameters
    client2.handshakeTimeout.emit()
    assert fired == []  # each object has its own signal


# --- shutdown, replay ------------------------------------------------------

def test_shutdown_and_rehandshake(pair):
    cs, ss = pair
    client, server = connect_psk(cs, ss)
    assert client.shutdown(cs)
    assert client.handshakeState() == QDtls.HandshakeNotStarted
    assert server.decryptDatagram(ss, recv(ss)[0]) == b""
    assert server.dtlsError() == E.RemoteClosedConnectionError
    assert server.handshakeState() == QDtls.HandshakeNotStarted
    assert not client.shutdown(cs) and client.dtlsError() == E.InvalidOperation
    assert client.writeDatagramEncrypted(cs, b"x") == -1 and client.dtlsError() == E.InvalidOperation
    # The same objects can handshake again.
    server2 = QDtls(qdtls.SslServerMode)
    server2.setDtlsConfiguration(psk_config())
    server2.pskRequired.connect(psk_handler())
    verify_and_start(client, cs, server2, ss)
    pump(client, cs, server2, ss)
    assert client.handshakeState() == Complete and server2.handshakeState() == Complete


def test_replay_and_duplicates(pair):
    cs, ss = pair
    client, server = connect_psk(cs, ss)
    client.writeDatagramEncrypted(cs, b"once")
    d = recv(ss)[0]
    assert server.decryptDatagram(ss, d) == b"once"
    assert server.decryptDatagram(ss, d) == b""
    assert server.dtlsError() == E.NoError
    client.writeDatagramEncrypted(cs, b"twice")
    assert server.decryptDatagram(ss, recv(ss)[0]) == b"twice"


# --- bad input -------------------------------------------------------------

def test_wrong_types_raise():
    d = QDtls(qdtls.SslClientMode)
    with pytest.raises(TypeError):
        QDtls("client")
    with pytest.raises(TypeError):
        QDtls(7)
    with pytest.raises(TypeError):
        d.setPeer(1234, 1)
    with pytest.raises(OverflowError):
        d.setPeer("127.0.0.1", 70000)
    with pytest.raises(TypeError):
        d.doHandshake("not a socket")
    with pytest.raises(TypeError):
        d.doHandshake(True)
    with pytest.raises(TypeError):
        d.doHandshake(None, 12)
    with pytest.raises(TypeError):
        d.writeDatagramEncrypted(None, object())
    with pytest.raises(TypeError):
        d.decryptDatagram(None, None)
    with pytest.raises(TypeError):
        d.ignoreVerificationErrors([1, 2])
    with pytest.raises(TypeError):
        d.setDtlsConfiguration("config")
    with pytest.raises(TypeError):
        d.setCookieGeneratorParameters(b"secret")
    with pytest.raises(TypeError):
        d.pskRequired.connect(42)
    with pytest.raises(TypeError):
        QSslConfiguration().setPeerVerifyMode("none")


def test_qt_errors_not_exceptions(pair):
    cs, ss = pair
    d = QDtls(qdtls.SslClientMode)
    assert not d.doHandshake(cs) and d.dtlsError() == E.InvalidOperation  # no peer
    assert not d.setPeer("", 1) and d.dtlsError() == E.InvalidInputParameters
    assert not d.setPeer("239.1.2.3", 1) and d.dtlsError() == E.InvalidInputParameters
    assert not d.setPeer("255.255.255.255", 1) and d.dtlsError() == E.InvalidInputParameters
    assert not d.setPeer(None, 1) and d.dtlsError() == E.InvalidInputParameters
    assert d.setPeer("127.0.0.1", 0) and d.dtlsError() == E.NoError
    assert d.setPeer("::1", 1) and d.peerAddress() == "::1"
    assert d.writeDatagramEncrypted(cs, b"x") == -1 and d.dtlsError() == E.InvalidOperation
    assert d.decryptDatagram(cs, b"x") == b"" and d.dtlsError() == E.InvalidOperation
    assert not d.resumeHandshake(cs) and d.dtlsError() == E.InvalidOperation
    assert not d.abortHandshake(cs) and d.dtlsError() == E.InvalidOperation
    assert not d.shutdown(cs) and d.dtlsError() == E.InvalidOperation
    for call in (lambda: d.doHandshake(None), lambda: d.shutdown(None), lambda: d.abortHandshake(None),
                 lambda: d.resumeHandshake(None), lambda: d.handleTimeout(None)):
        assert call() is False and d.dtlsError() == E.InvalidInputParameters
    assert d.writeDatagramEncrypted(None, b"x") == -1 and d.dtlsError() == E.InvalidInputParameters
    assert d.decryptDatagram(None, b"x") == b"" and d.dtlsError() == E.InvalidInputParameters
    s = QDtls(qdtls.SslServerMode)
    s.setPeer("127.0.0.1", 1)
    assert not s.doHandshake(ss) and s.dtlsError() == E.InvalidInputParameters  # no ClientHello
    assert not s.setCookieGeneratorParameters(qdtls.GeneratorParameters(QCryptographicHash.Sha256, b""))
    assert s.dtlsError() == E.InvalidInputParameters


def test_closed_sockets(pair):
    cs, ss = pair
    client, server = connect_psk(cs, ss)
    dead = udp()
    dead.close()
    assert dead.fileno() == -1
    assert client.writeDatagramEncrypted(dead, b"x") == -1 and client.dtlsError() == E.InvalidInputParameters
    assert client.isConnectionEncrypted()
    # A descriptor number that is no longer open: the send fails, no crash.
    s = udp()
    fd = s.fileno()
    s.close()
    assert client.writeDatagramEncrypted(fd, b"x") == -1
    assert client.dtlsError() == E.UnderlyingSocketError
    assert client.writeDatagramEncrypted(cs, b"still fine") == 10


def test_garbage_datagrams(pair):
    cs, ss = pair
    client, server = make_pair(cs, ss, psk_config(), psk_config(setDtlsCookieVerificationEnabled=False))
    server.setPeer(*cs.getsockname())
    garbage = [b"\x00", b"\x16\xfe\xfd" + b"\xff" * 20, bytes(range(256)) * 4, b"\x17\xfe\xfd" + b"\x00" * 100]
    for g in garbage:
        s = QDtls(qdtls.SslServerMode)
        s.setDtlsConfiguration(psk_config(setDtlsCookieVerificationEnabled=False))
        s.setPeer(*cs.getsockname())
        s.doHandshake(ss, g)  # fails or waits; never crashes
        assert s.handshakeState() in (QDtls.HandshakeNotStarted, QDtls.HandshakeInProgress)
    cs2, ss2 = udp(), udp()
    c, s = connect_psk(cs2, ss2)
    for g in garbage:
        assert s.decryptDatagram(ss2, g) == b""
    assert s.isConnectionEncrypted()
    c.writeDatagramEncrypted(cs2, b"after garbage")
    assert s.decryptDatagram(ss2, recv(ss2)[0]) == b"after garbage"
    cs2.close(), ss2.close()


def test_huge_buffers(pair):
    cs, ss = pair
    client, server = connect_psk(cs, ss)
    assert client.writeDatagramEncrypted(cs, b"x" * 100_000) == -1
    assert client.dtlsError() != E.NoError and client.isConnectionEncrypted()
    assert server.decryptDatagram(ss, b"\x17\xfe\xfd" + b"\x00" * (16 * 1024 * 1024)) == b""
    assert server.isConnectionEncrypted()
    assert client.writeDatagramEncrypted(cs, b"y" * 1000) == 1000
    assert server.decryptDatagram(ss, recv(ss)[0]) == b"y" * 1000
    client.setMtuHint(10**9)
    assert client.mtuHint() == 65535
    client.setMtuHint(-5)
    assert client.mtuHint() == 0


def test_setters_after_start(pair):
    cs, ss = pair
    client, server = connect_psk(cs, ss)
    assert not client.setPeer("127.0.0.1", 1) and client.dtlsError() == E.InvalidOperation
    assert not client.setPeer("", 1) and client.dtlsError() == E.InvalidOperation  # state is checked first
    assert not client.setPeerVerificationName("x") and client.dtlsError() == E.InvalidOperation
    assert not client.setDtlsConfiguration(psk_config()) and client.dtlsError() == E.InvalidOperation
    assert not client.doHandshake(cs) and client.dtlsError() == E.InvalidOperation


def test_ipv6(certs):
    cs, ss = udp(socket.AF_INET6), udp(socket.AF_INET6)
    client, server = connect_psk(cs, ss)
    client.writeDatagramEncrypted(cs, b"v6")
    assert server.decryptDatagram(ss, recv(ss)[0]) == b"v6"
    cs.close(), ss.close()


def test_configuration_value():
    cfg = QSslConfiguration.defaultDtlsConfiguration()
    cfg2 = cfg.__copy__()
    cfg2.setPeerVerifyMode(QSslSocket.VerifyNone)
    cfg2.setProtocol(QSsl.DtlsV1_2)
    cfg2.setCiphers("PSK-AES128-GCM-SHA256")
    cfg2.setAllowedNextProtocols([b"coap"])
    cfg2.setSslOption(QSsl.SslOptionDisableServerCipherPreference, True)
    assert cfg.peerVerifyMode() == QSslSocket.AutoVerifyPeer  # a value: the copy changed alone
    assert cfg2.protocol() == QSsl.DtlsV1_2
    assert [c.name() for c in cfg2.ciphers()] == ["PSK-AES128-GCM-SHA256"]
    assert cfg2.allowedNextProtocols() == [b"coap"]
    assert cfg2.testSslOption(QSsl.SslOptionDisableServerCipherPreference)
    with pytest.warns(RuntimeWarning):
        cfg2.setCiphers("NO-SUCH-CIPHER")
    assert [c.name() for c in cfg2.ciphers()] == ["PSK-AES128-GCM-SHA256"]
    d = QDtls(qdtls.SslClientMode)
    d.setDtlsConfiguration(cfg2)
    assert d.dtlsConfiguration().protocol() == QSsl.DtlsV1_2


def test_tls_protocol_fails_at_handshake(pair):
    cs, ss = pair
    cfg = psk_config()
    cfg.setProtocol(QSsl.TlsV1_2)
    d = QDtls(qdtls.SslClientMode)
    assert d.setDtlsConfiguration(cfg)
    d.setPeer("127.0.0.1", ss.getsockname()[1])
    assert not d.doHandshake(cs) and d.dtlsError() == E.TlsInitializationError


def test_cipher_choice(pair):
    cs, ss = pair
    c_cfg = psk_config(setCiphers="PSK-AES128-GCM-SHA256")
    client, server = connect_psk(cs, ss, c_cfg, psk_config())
    assert client.sessionCipher() == qdtls.QSslCipher("PSK-AES128-GCM-SHA256")


# --- threads ---------------------------------------------------------------

def test_handshakes_in_threads():
    errors = []

    def one(i):
        try:
            cs, ss = udp(), udp()
            c, s = connect_psk(cs, ss)
            for k in range(20):
                c.writeDatagramEncrypted(cs, b"%d-%d" % (i, k))
                assert s.decryptDatagram(ss, recv(ss)[0]) == b"%d-%d" % (i, k)
            c.shutdown(cs)
            cs.close(), ss.close()
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors


def test_one_object_from_many_threads(pair):
    cs, ss = pair
    client, server = connect_psk(cs, ss)
    n, per = 4, 50

    def writer(i):
        for k in range(per):
            assert client.writeDatagramEncrypted(cs, b"%d:%d" % (i, k)) > 0
            client.handshakeState(), client.dtlsError(), client.sessionCipher()

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    got = set()
    while len(got) < n * per:
        got.add(server.decryptDatagram(ss, recv(ss)[0]))
    for t in threads:
        t.join()
    assert len(got) == n * per


def test_objects_are_collected():
    import weakref
    d = QDtls(qdtls.SslClientMode)
    d.pskRequired.connect(lambda a: d)  # a cycle through a slot
    r = weakref.ref(d)
    del d
    gc.collect()
    assert r() is None
