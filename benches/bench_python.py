"""benches/run.sh's Python benchmark: the qdtls package (impl "python", over
plain non-blocking socket.socket) and PySide6's own QDtls over PySide6's
QUdpSocket (impl "pyside6"), with the settings of benches/main.cpp:
PSK-AES128-GCM-SHA256, DTLS 1.2, MTU hint 1500, cookie verification off,
VerifyNone, loopback sockets, a new socket pair per handshake. Rates are per
CPU-second of this process (CLOCK_PROCESS_CPUTIME_ID) after a warm-up of 15 %
of the measured time, as rate() in benches/bench.hpp does.

    python/.venv/bin/python benches/bench_python.py psk|newconf|data python|pyside6 [--seconds S]

Prints benches/main.cpp's lines: "RESULT <metric> <impl> <value> <unit>",
"WALL ..." (per elapsed second) and "CPUSHARE <metric> <impl> <share>".
Each implementation runs in its own process (PySide6's Qt is loaded only for
"pyside6").
"""

from __future__ import annotations

import select
import sys
import time

PAYLOAD = 1200
MTU = 1500
PSK_CIPHER = "PSK-AES128-GCM-SHA256"
PSK_IDENTITY = b"bench client"
PSK_KEY = b"0123456789abcdef"


def cpu_seconds() -> float:
    return time.clock_gettime(time.CLOCK_PROCESS_CPUTIME_ID)


def rate(seconds, op, stride=1):
    """bench.hpp's rate(): (per CPU-second, per elapsed second, CPU share)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds * 0.15:
        for _ in range(stride):
            op()
    n = 0
    t0 = time.monotonic()
    c0 = cpu_seconds()
    while True:
        for _ in range(stride):
            op()
        n += stride
        t = time.monotonic() - t0
        if t >= seconds:
            break
    c = cpu_seconds() - c0
    return n / c, n / t, c / t


def report(metric, impl, r, unit):
    print(f"RESULT {metric} {impl} {r[0]:.6g} {unit}")
    print(f"WALL {metric} {impl} {r[1]:.6g} {unit}")
    print(f"CPUSHARE {metric} {impl} {r[2]:.3f}", flush=True)


def psk(auth):
    auth.setIdentity(PSK_IDENTITY)
    auth.setPreSharedKey(PSK_KEY)


class QdtlsImpl:
    """The qdtls package over socket.socket."""

    name = "python"

    def __init__(self):
        import socket

        import qdtls

        self.qdtls = qdtls
        self.socket = socket

    def configurations(self):
        q = self.qdtls
        cfg = q.QSslConfiguration.defaultDtlsConfiguration()
        cfg.setProtocol(q.QSsl.DtlsV1_2)
        cfg.setDtlsCookieVerificationEnabled(False)
        cfg.setCiphers(PSK_CIPHER)
        cfg.setPeerVerifyMode(q.QSslSocket.VerifyNone)
        return cfg, cfg  # setDtlsConfiguration copies it (benches/impl_qt.cpp shares one too)

    def sock(self):
        s = self.socket.socket(self.socket.AF_INET, self.socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        s.setblocking(False)
        return s

    def session(self, mode, cfg, peer):
        d = self.qdtls.QDtls(mode)
        d.setDtlsConfiguration(cfg)
        d.setPeer("127.0.0.1", peer.getsockname()[1])
        d.setMtuHint(MTU)
        d.pskRequired.connect(psk)
        return d

    def pair(self, client_cfg, server_cfg):
        cs, ss = self.sock(), self.sock()
        c = self.session(self.qdtls.SslClientMode, client_cfg, ss)
        s = self.session(self.qdtls.SslServerMode, server_cfg, cs)
        return c, cs, s, ss

    def feed(self, d, sock):
        count = 0
        while True:
            try:
                dgram = sock.recv(2048)
            except BlockingIOError:
                return count
            count += 1
            if d.handshakeState() != self.qdtls.QDtls.HandshakeComplete and not d.doHandshake(sock, dgram):
                raise RuntimeError(f"handshake: {d.dtlsErrorString()}")

    def handshake(self, c, cs, s, ss):
        if not c.doHandshake(cs):
            raise RuntimeError(f"client start: {c.dtlsErrorString()}")
        idle = 0
        while not (c.isConnectionEncrypted() and s.isConnectionEncrypted()):
            if self.feed(s, ss) + self.feed(c, cs) == 0:
                idle += 1
                if idle >= 100:
                    raise RuntimeError("handshake stuck")
                select.select([cs, ss], [], [], 0.02)

    def close(self, *socks):
        for s in socks:
            s.close()

    def data(self, c, cs, s, ss):
        payload = b"x" * PAYLOAD

        def op():
            if c.writeDatagramEncrypted(cs, payload) != PAYLOAD:
                raise RuntimeError(f"write: {c.dtlsErrorString()}")
            if len(s.decryptDatagram(ss, ss.recv(2048))) != PAYLOAD:
                raise RuntimeError(f"decrypt: {s.dtlsErrorString()}")

        return op


class PySide6Impl:
    """PySide6's own QDtls over QUdpSocket; the event loop never runs (as in
    benches/impl_qt.cpp)."""

    name = "pyside6"

    def __init__(self):
        from PySide6 import QtCore, QtNetwork

        self.app = QtCore.QCoreApplication.instance() or QtCore.QCoreApplication([])
        self.core = QtCore
        self.n = QtNetwork
        if not QtNetwork.QSslSocket.supportsSsl():
            raise RuntimeError("PySide6's Qt has no TLS backend")
        self.local = QtNetwork.QHostAddress(QtNetwork.QHostAddress.SpecialAddress.LocalHost)

    def configurations(self):
        n = self.n
        cfg = n.QSslConfiguration.defaultDtlsConfiguration()
        cfg.setProtocol(n.QSsl.SslProtocol.DtlsV1_2)
        cfg.setDtlsCookieVerificationEnabled(False)
        cipher = n.QSslCipher(PSK_CIPHER)
        if cipher.isNull():
            raise RuntimeError("Qt does not know the cipher")
        cfg.setCiphers([cipher])
        cfg.setPeerVerifyMode(n.QSslSocket.PeerVerifyMode.VerifyNone)
        return cfg, cfg

    def sock(self):
        s = self.n.QUdpSocket()
        if not s.bind(self.local, 0):
            raise RuntimeError("bind")
        return s

    def session(self, mode, cfg, peer):
        d = self.n.QDtls(mode)
        d.setDtlsConfiguration(cfg)
        d.setPeer(self.local, peer.localPort())
        d.setMtuHint(MTU)
        d.pskRequired.connect(psk)
        return d

    def pair(self, client_cfg, server_cfg):
        cs, ss = self.sock(), self.sock()
        mode = self.n.QSslSocket.SslMode
        c = self.session(mode.SslClientMode, client_cfg, ss)
        s = self.session(mode.SslServerMode, server_cfg, cs)
        return c, cs, s, ss

    def feed(self, d, sock):
        count = 0
        while sock.hasPendingDatagrams():
            dgram = sock.readDatagram(2048)[0]
            count += 1
            if d.handshakeState() != self.n.QDtls.HandshakeState.HandshakeComplete and not d.doHandshake(sock, dgram):
                raise RuntimeError(f"handshake: {d.dtlsErrorString()}")
        return count

    def handshake(self, c, cs, s, ss):
        if not c.doHandshake(cs):
            raise RuntimeError(f"client start: {c.dtlsErrorString()}")
        idle = 0
        while not (c.isConnectionEncrypted() and s.isConnectionEncrypted()):
            if self.feed(s, ss) + self.feed(c, cs) == 0:
                idle += 1
                if idle >= 100:
                    raise RuntimeError("handshake stuck")
                select.select([cs.socketDescriptor(), ss.socketDescriptor()], [], [], 0.02)

    def close(self, *socks):
        for s in socks:
            s.close()

    def data(self, c, cs, s, ss):
        payload = self.core.QByteArray(b"x" * PAYLOAD)

        def op():
            if c.writeDatagramEncrypted(cs, payload) != PAYLOAD:
                raise RuntimeError(f"write: {c.dtlsErrorString()}")
            if len(s.decryptDatagram(ss, ss.readDatagram(2048)[0])) != PAYLOAD:
                raise RuntimeError(f"decrypt: {s.dtlsErrorString()}")

        return op


def handshake_once(impl, client_cfg, server_cfg):
    c, cs, s, ss = impl.pair(client_cfg, server_cfg)
    try:
        impl.handshake(c, cs, s, ss)
    finally:
        impl.close(cs, ss)


def main(argv):
    usage = "usage: bench_python.py psk|newconf|data python|pyside6 [--seconds S]"
    seconds = 1.25
    args = []
    i = 0
    while i < len(argv):
        if argv[i] == "--seconds" and i + 1 < len(argv):
            seconds = float(argv[i + 1])
            i += 2
        else:
            args.append(argv[i])
            i += 1
    if len(args) != 2 or args[0] not in ("psk", "newconf", "data") or args[1] not in ("python", "pyside6"):
        print(usage, file=sys.stderr)
        return 2
    scenario, which = args
    impl = QdtlsImpl() if which == "python" else PySide6Impl()
    if scenario == "psk":
        client_cfg, server_cfg = impl.configurations()
        report("psk_handshakes", impl.name, rate(seconds, lambda: handshake_once(impl, client_cfg, server_cfg)), "hs/s")
    elif scenario == "newconf":
        r = rate(seconds, lambda: handshake_once(impl, *impl.configurations()))
        report("psk_handshakes_newconf", impl.name, r, "hs/s")
    else:
        c, cs, s, ss = impl.pair(*impl.configurations())
        impl.handshake(c, cs, s, ss)
        report("datagrams", impl.name, rate(seconds, impl.data(c, cs, s, ss), 64), "dgram/s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
