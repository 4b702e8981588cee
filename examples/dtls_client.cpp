// A secure UDP client in the style of Qt's DTLS client example, over qdtls's
// C++ API: one connected socket; handshake timeouts handled with
// nextTimeoutMs()/handleTimeout(); PSK identity = the client's name; a few
// messages once encrypted; shutdown() at the end.
//
// usage: dtls_client --port P --name NAME [--mode psk|cert --ca CA.pem] [--count N] [--interval-ms MS]
#include "common.hpp"

#include <qdtls/qdtls.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>

namespace {

// One datagram within `timeoutMs`, or an empty vector.
qdtls::Bytes receive(int sock, int timeoutMs) {
    pollfd pfd{sock, POLLIN, 0};
    if (poll(&pfd, 1, timeoutMs) <= 0)
        return {};
    qdtls::Bytes dgram(65536);
    ssize_t n = recv(sock, dgram.data(), dgram.size(), 0);
    dgram.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
    return dgram;
}

const char *protocolName(qdtls::SslProtocol p) {
    switch (p) {
    case qdtls::SslProtocol::DtlsV1_2: return "DTLS 1.2";
    case qdtls::SslProtocol::DtlsV1_0: return "DTLS 1.0";
    default: return "unknown";
    }
}

bool handshake(qdtls::QDtls &dtls, int sock, const std::string &name) {
    if (!dtls.doHandshake(sock))
        return false;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (dtls.handshakeState() == qdtls::HandshakeState::HandshakeInProgress) {
        if (std::chrono::steady_clock::now() > deadline)
            return false;
        std::int64_t t = dtls.nextTimeoutMs();
        qdtls::Bytes dgram = receive(sock, t < 0 ? 1000 : static_cast<int>(t));
        if (dgram.empty()) {
            if (dtls.handleTimeout(sock))
                std::printf("%s: handshake timeout, retransmitted\n", name.c_str());
            continue;
        }
        if (!dtls.doHandshake(sock, dgram))
            return false;
    }
    return dtls.isConnectionEncrypted();
}

} // namespace

int main(int argc, char **argv) {
    auto args = demo::parseArgs(argc, argv);
    const std::string name = demo::arg(args, "name", "client");
    const std::string mode = demo::arg(args, "mode", "psk");
    const int port = std::atoi(demo::arg(args, "port", "0").c_str());
    const int count = std::atoi(demo::arg(args, "count", "3").c_str());
    const int interval = std::atoi(demo::arg(args, "interval-ms", "200").c_str());

    int sock = socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in server{};
    server.sin_family = AF_INET;
    server.sin_port = htons(static_cast<std::uint16_t>(port));
    server.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(sock, reinterpret_cast<sockaddr *>(&server), sizeof server) != 0) {
        std::perror("client: connect");
        return 1;
    }

    qdtls::DtlsConfiguration config;
    if (mode == "cert") {
        if (!config.addCaCertificates(demo::readFile(demo::arg(args, "ca", "")))) {
            std::fprintf(stderr, "%s: cannot load --ca\n", name.c_str());
            return 1;
        }
    } else {
        config.setPeerVerifyMode(qdtls::PeerVerifyMode::VerifyNone); // PSK: no certificates
    }
    qdtls::QDtls dtls(qdtls::SslMode::SslClientMode);
    dtls.setDtlsConfiguration(config);
    dtls.setPeer("127.0.0.1", static_cast<std::uint16_t>(port), "localhost");
    dtls.onPskRequired([&name](qdtls::QSslPreSharedKeyAuthenticator *auth) {
        const qdtls::Bytes hintBytes = auth->identityHint();
        std::string hint(hintBytes.begin(), hintBytes.end());
        std::printf("%s: PSK requested, server hint '%s'\n", name.c_str(), hint.c_str());
        auth->setIdentity(name);
        auth->setPreSharedKey(demo::preSharedKey);
    });

    if (!handshake(dtls, sock, name)) {
        std::printf("%s: handshake failed: %s\n", name.c_str(), dtls.dtlsErrorString().c_str());
        return 1;
    }
    std::printf("%s: handshake complete, cipher %s, protocol %s\n", name.c_str(), dtls.sessionCipher().c_str(),
                protocolName(dtls.sessionProtocol()));

    int answered = 0;
    for (int i = 1; i <= count; ++i) {
        std::string msg = "ping " + std::to_string(i) + " from " + name;
        if (dtls.writeDatagramEncrypted(sock, msg) < 0) {
            std::printf("%s: write failed: %s\n", name.c_str(), dtls.dtlsErrorString().c_str());
            break;
        }
        qdtls::Bytes reply;
        for (int tries = 0; tries < 10 && reply.empty(); ++tries) {
            qdtls::Bytes dgram = receive(sock, 500);
            if (!dgram.empty())
                reply = dtls.decryptDatagram(sock, dgram);
        }
        if (!reply.empty()) {
            ++answered;
            std::printf("%s: received '%s'\n", name.c_str(), std::string(reply.begin(), reply.end()).c_str());
        }
        usleep(static_cast<useconds_t>(interval) * 1000);
    }
    dtls.shutdown(sock);
    close(sock);
    std::printf("%s: %d/%d answered, shut down\n", name.c_str(), answered, count);
    return answered == count ? 0 : 1;
}
