// A secure UDP server in the style of Qt's DTLS server example, over qdtls's
// C++ API: one socket and one qdtls::Server, which demultiplexes peers by
// address and port, checks cookies before keeping any per-peer state, runs
// the handshakes and timers, and calls back with completed handshakes,
// decrypted datagrams (each answered encrypted), peers that went away and
// handshakes that failed.
//
// usage: dtls_server --port-file F [--mode psk|cert] [--cert C --key K] [--exit-after N]
//   --exit-after N: exit once N clients that completed a handshake have gone.
#include "common.hpp"

#include <qdtls/qdtls.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>

namespace {

std::string nameOf(const qdtls::Peer &peer) { return peer.peerAddress() + ":" + std::to_string(peer.peerPort()); }

// What the application keeps per established peer, hung on the peer with setUserData().
struct Client {
    std::string name;
    int messages = 0;
};

} // namespace

int main(int argc, char **argv) {
    auto args = demo::parseArgs(argc, argv);
    const std::string mode = demo::arg(args, "mode", "psk");
    const int exitAfter = std::atoi(demo::arg(args, "exit-after", "0").c_str());

    qdtls::DtlsConfiguration config;
    config.setPeerVerifyMode(qdtls::PeerVerifyMode::VerifyNone);
    if (mode == "cert") {
        if (!config.setLocalCertificateChain(demo::readFile(demo::arg(args, "cert", ""))) ||
            !config.setPrivateKey(demo::readFile(demo::arg(args, "key", "")))) {
            std::fprintf(stderr, "server: cannot load --cert/--key\n");
            return 1;
        }
    } else {
        config.setPreSharedKeyIdentityHint("qdtls example server");
    }

    const int sock = socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (sock < 0 || bind(sock, reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0 ||
        getsockname(sock, reinterpret_cast<sockaddr *>(&addr), &len) != 0 ||
        fcntl(sock, F_SETFL, fcntl(sock, F_GETFL) | O_NONBLOCK) != 0) { // receive() reads until EAGAIN
        std::perror("server: socket");
        return 1;
    }

    int served = 0; // before the server: its destructor may still call onClosed
    qdtls::Server server(config);
    if (!server.nativeHandle()) {
        std::fprintf(stderr, "server: cannot create the server\n");
        return 1;
    }
    server.setHandshakeTimeoutMs(10000); // a handshake gets 10 s
    server.setIdleTimeoutMs(60000);      // a silent peer is dropped after a minute

    server.onPskRequired([](qdtls::Peer &peer, qdtls::QSslPreSharedKeyAuthenticator *auth) {
        const qdtls::Bytes identity = auth->identity();
        std::printf("server: PSK requested by %s (identity '%s')\n", nameOf(peer).c_str(),
                    std::string(identity.begin(), identity.end()).c_str());
        auth->setPreSharedKey(demo::preSharedKey);
    });
    server.onConnected([](qdtls::Peer &peer) {
        auto *client = new Client{nameOf(peer)};
        peer.setUserData(client);
        std::printf("server: handshake with %s complete, cipher %s\n", client->name.c_str(),
                    peer.sessionCipher().c_str());
    });
    server.onDatagram([sock](qdtls::Peer &peer, const std::uint8_t *data, std::size_t size) {
        auto *client = static_cast<Client *>(peer.userData());
        const std::string msg(reinterpret_cast<const char *>(data), size);
        ++client->messages;
        std::printf("server: received '%s' from %s\n", msg.c_str(), client->name.c_str());
        const std::string reply = "to " + client->name + ": I received your '" + msg + "'";
        if (peer.writeDatagramEncrypted(sock, reply) < 0)
            std::printf("server: reply failed: %s\n", peer.dtlsErrorString().c_str());
    });
    server.onHandshakeFailed([](qdtls::Peer &peer, qdtls::CloseReason reason) {
        std::printf("server: handshake with %s failed (%s): %s\n", nameOf(peer).c_str(), qdtls::closeReasonName(reason),
                    peer.dtlsErrorString().c_str());
    });
    server.onClosed([&served](qdtls::Peer &peer, qdtls::CloseReason reason) { // the peers onConnected saw
        auto *client = static_cast<Client *>(peer.userData());
        if (reason == qdtls::CloseReason::CloseNotify)
            std::printf("server: %s closed the connection after %d messages\n", client->name.c_str(),
                        client->messages);
        else
            std::printf("server: %s gone (%s)\n", client->name.c_str(), qdtls::closeReasonName(reason));
        ++served;
        delete client;
    });

    std::printf("server: listening on %s:%d (%s), qdtls %s\n", inet_ntoa(addr.sin_addr), ntohs(addr.sin_port),
                mode.c_str(), qdtls::version());
    std::fflush(stdout);
    if (FILE *f = std::fopen(demo::arg(args, "port-file", "/dev/null").c_str(), "w")) {
        std::fprintf(f, "%d\n", ntohs(addr.sin_port));
        std::fclose(f);
    }

    while (exitAfter == 0 || served < exitAfter) {
        const std::int64_t timeout = server.nextTimeoutMs(); // -1: no timer
        pollfd pfd{sock, POLLIN, 0};
        poll(&pfd, 1, static_cast<int>(timeout < 0 ? 1000 : std::min<std::int64_t>(timeout, 1000)));
        if (server.receive(sock) < 0)
            std::printf("server: receive failed: %s\n", server.serverErrorString().c_str());
        server.handleTimeouts(sock);
        std::fflush(stdout);
    }
    server.shutdown(sock); // close_notify to whoever is left
    std::printf("server: %d clients served, bye\n", served);
    close(sock);
    return 0;
}
