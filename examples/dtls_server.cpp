// A secure UDP server in the style of Qt's DTLS server example, over qdtls's
// C++ API: one socket; peers demultiplexed by address and port; unknown
// peers go through QDtlsClientVerifier before any per-peer state exists;
// decrypted datagrams are answered encrypted; peers that close are dropped.
//
// usage: dtls_server --port-file F [--mode psk|cert] [--cert C --key K] [--exit-after N]
#include "common.hpp"

#include <qdtls/qdtls.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <memory>

namespace {

std::string peerName(const sockaddr_in &a) {
    char ip[INET_ADDRSTRLEN] = {};
    inet_ntop(AF_INET, &a.sin_addr, ip, sizeof ip);
    return std::string(ip) + ":" + std::to_string(ntohs(a.sin_port));
}

struct Server {
    int sock = -1;
    qdtls::DtlsConfiguration config;
    qdtls::QDtlsClientVerifier verifier;
    std::map<std::string, std::unique_ptr<qdtls::QDtls>> peers;
    int closed = 0;

    void newPeer(const sockaddr_in &from, const std::string &name) {
        auto dtls = std::make_unique<qdtls::QDtls>(qdtls::SslMode::SslServerMode);
        dtls->setPeer(reinterpret_cast<const sockaddr *>(&from), sizeof from);
        dtls->setDtlsConfiguration(config);
        dtls->onPskRequired([name](qdtls::QSslPreSharedKeyAuthenticator *auth) {
            const qdtls::Bytes identity = auth->identity();
            std::string id(identity.begin(), identity.end());
            std::printf("server: PSK requested by %s (identity '%s')\n", name.c_str(), id.c_str());
            auth->setPreSharedKey(demo::preSharedKey);
        });
        if (!dtls->doHandshake(sock, verifier.verifiedHello())) {
            std::printf("server: handshake with %s failed: %s\n", name.c_str(), dtls->dtlsErrorString().c_str());
            return;
        }
        peers[name] = std::move(dtls);
    }

    void handshake(qdtls::QDtls &dtls, const std::string &name, const qdtls::Bytes &dgram) {
        if (!dtls.doHandshake(sock, dgram)) {
            std::printf("server: handshake with %s failed: %s\n", name.c_str(), dtls.dtlsErrorString().c_str());
            peers.erase(name);
            return;
        }
        if (dtls.handshakeState() == qdtls::HandshakeState::HandshakeComplete)
            std::printf("server: handshake with %s complete, cipher %s\n", name.c_str(), dtls.sessionCipher().c_str());
    }

    void decrypt(qdtls::QDtls &dtls, const std::string &name, const qdtls::Bytes &dgram) {
        qdtls::Bytes plain = dtls.decryptDatagram(sock, dgram);
        if (dtls.dtlsError() == qdtls::QDtlsError::RemoteClosedConnectionError) {
            std::printf("server: %s closed the connection\n", name.c_str());
            peers.erase(name);
            ++closed;
            return;
        }
        if (plain.empty())
            return;
        std::string msg(plain.begin(), plain.end());
        std::printf("server: received '%s' from %s\n", msg.c_str(), name.c_str());
        std::string reply = "to " + name + ": I received your '" + msg + "'";
        if (dtls.writeDatagramEncrypted(sock, reply) < 0)
            std::printf("server: reply failed: %s\n", dtls.dtlsErrorString().c_str());
    }

    void onDatagram(const qdtls::Bytes &dgram, const sockaddr_in &from) {
        std::string name = peerName(from);
        auto it = peers.find(name);
        if (it == peers.end()) {
            // Stateless cookie check first: nothing is kept for unverified clients.
            if (verifier.verifyClient(sock, dgram, reinterpret_cast<const sockaddr *>(&from), sizeof from))
                newPeer(from, name);
            return;
        }
        qdtls::QDtls &dtls = *it->second;
        if (dtls.isConnectionEncrypted())
            decrypt(dtls, name, dgram);
        else
            handshake(dtls, name, dgram);
    }

    int nextTimeout() const {
        std::int64_t t = 1000;
        for (const auto &p : peers) {
            std::int64_t n = p.second->nextTimeoutMs();
            if (n >= 0)
                t = std::min(t, n);
        }
        return static_cast<int>(t);
    }

    void handleTimeouts() {
        for (auto &p : peers)
            if (p.second->nextTimeoutMs() == 0)
                p.second->handleTimeout(sock);
    }
};

} // namespace

int main(int argc, char **argv) {
    auto args = demo::parseArgs(argc, argv);
    Server server;
    const std::string mode = demo::arg(args, "mode", "psk");
    const int exitAfter = std::atoi(demo::arg(args, "exit-after", "0").c_str());

    server.config.setPeerVerifyMode(qdtls::PeerVerifyMode::VerifyNone);
    if (mode == "cert") {
        if (!server.config.setLocalCertificateChain(demo::readFile(demo::arg(args, "cert", ""))) ||
            !server.config.setPrivateKey(demo::readFile(demo::arg(args, "key", "")))) {
            std::fprintf(stderr, "server: cannot load --cert/--key\n");
            return 1;
        }
    } else {
        server.config.setPreSharedKeyIdentityHint("qdtls example server");
    }

    server.sock = socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (bind(server.sock, reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0 ||
        getsockname(server.sock, reinterpret_cast<sockaddr *>(&addr), &len) != 0) {
        std::perror("server: bind");
        return 1;
    }
    std::printf("server: listening on %s (%s), qdtls %s\n", peerName(addr).c_str(), mode.c_str(), qdtls::version());
    std::fflush(stdout);
    if (FILE *f = std::fopen(demo::arg(args, "port-file", "/dev/null").c_str(), "w")) {
        std::fprintf(f, "%d\n", ntohs(addr.sin_port));
        std::fclose(f);
    }

    while (exitAfter == 0 || server.closed < exitAfter) {
        pollfd pfd{server.sock, POLLIN, 0};
        if (poll(&pfd, 1, server.nextTimeout()) > 0) {
            qdtls::Bytes dgram(65536);
            sockaddr_in from{};
            socklen_t fromLen = sizeof from;
            ssize_t n = recvfrom(server.sock, dgram.data(), dgram.size(), 0, reinterpret_cast<sockaddr *>(&from),
                                 &fromLen);
            if (n > 0) {
                dgram.resize(static_cast<std::size_t>(n));
                server.onDatagram(dgram, from);
            }
        }
        server.handleTimeouts();
        std::fflush(stdout);
    }
    std::printf("server: %d clients served, bye\n", server.closed);
    close(server.sock);
    return 0;
}
