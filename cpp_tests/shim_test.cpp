// Tests of the C++17 shim (qdtls.hpp, and nothing else of qdtls) walking Qt's
// QDtls scenarios over real UDP sockets on 127.0.0.1. The same file is also
// built with -fno-exceptions (QDTLS_TEST_EXPECT_NO_EXCEPTIONS) to prove the
// shim works without exceptions.
//
// usage: shim_test CERTDIR [TEST] | --list | --check-list "a,b,..."
#include "shim_test.hpp"

#include <qdtls/qdtls.hpp>

#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#if defined(QDTLS_TEST_EXPECT_NO_EXCEPTIONS) && defined(__cpp_exceptions)
#error "this translation unit must be compiled with -fno-exceptions"
#endif

namespace {

static_assert(std::is_nothrow_move_constructible_v<QDtls>);
static_assert(std::is_nothrow_move_assignable_v<QDtls>);
static_assert(!std::is_copy_constructible_v<QDtls>);
static_assert(!std::is_copy_assignable_v<QDtls>);
static_assert(std::is_move_constructible_v<QDtlsClientVerifier>);
static_assert(std::is_move_assignable_v<QDtlsClientVerifier>);
static_assert(!std::is_copy_constructible_v<QDtlsClientVerifier>);
static_assert(std::is_copy_constructible_v<DtlsConfiguration>);
static_assert(std::is_nothrow_move_constructible_v<DtlsConfiguration>);
static_assert(static_cast<int>(QDtlsError::RemoteClosedConnectionError) == 4);
static_assert(static_cast<int>(HandshakeState::PeerVerificationFailed) == 2);
static_assert(static_cast<int>(SslError::HostNameMismatch) == 22);

// ---- two endpoints and a pump (Qt's test pattern, without an event loop) -------------

struct Pair {
    QDtls client{SslMode::SslClientMode};
    QDtls server{SslMode::SslServerMode};
    Udp cs, ss;
    // Drops the index-th datagram sent by one side when it returns true.
    std::function<bool(bool fromClient, int index)> drop;
    // The client passes socket -1 (it sends through its send callback).
    bool clientViaCallback = false;
    int sent[2] = {0, 0};        // [1] by the client, [0] by the server
    int retransmits[2] = {0, 0}; // handleTimeout() that returned true, same indexing
    bool failed[2] = {false, false};

    bool connect(const DtlsConfiguration &c, const DtlsConfiguration &s, const std::string &name = {}) {
        return client.setDtlsConfiguration(c) && server.setDtlsConfiguration(s) &&
               client.setPeer("127.0.0.1", ss.port(), name) && server.setPeer(cs.sa(), sizeof cs.addr);
    }

    // The socket a side's calls pass.
    int fd(bool ofClient) const { return !ofClient ? ss.fd : clientViaCallback ? -1 : cs.fd; }

    static bool done(const QDtls &d) {
        return d.handshakeState() == HandshakeState::HandshakeComplete ||
               d.handshakeState() == HandshakeState::PeerVerificationFailed;
    }

    bool step(bool fromClient) {
        Udp &rs = fromClient ? ss : cs;
        QDtls &rx = fromClient ? server : client;
        auto d = recvWithin(rs.fd, 0);
        if (!d)
            return false;
        int index = sent[fromClient]++;
        if (drop && drop(fromClient, index))
            return true;
        const int rxFd = fd(!fromClient);
        switch (rx.handshakeState()) {
        case HandshakeState::HandshakeComplete:
            rx.decryptDatagram(rxFd, d->data);
            break;
        case HandshakeState::HandshakeNotStarted:
            if (fromClient && !rx.doHandshake(rxFd, d->data))
                failed[0] = true;
            break;
        case HandshakeState::HandshakeInProgress:
            if (!rx.doHandshake(rxFd, d->data))
                failed[!fromClient] = true;
            break;
        default:
            break;
        }
        return true;
    }

    // Until both sides are done, one failed, or `limitMs` passed; timers drive retransmission.
    bool pump(int limitMs) {
        const auto start = Clock::now();
        while (msSince(start) < limitMs) {
            if (done(client) && done(server))
                return true;
            if (failed[0] || failed[1])
                return false;
            if (client.handshakeState() == HandshakeState::HandshakeNotStarted &&
                client.dtlsError() != QDtlsError::NoError)
                return false;
            std::int64_t wait = 20;
            for (const QDtls *d : {&client, &server}) {
                std::int64_t t = d->nextTimeoutMs();
                if (t >= 0 && t < wait)
                    wait = t;
            }
            pollfd p[2] = {{cs.fd, POLLIN, 0}, {ss.fd, POLLIN, 0}};
            poll(p, 2, static_cast<int>(wait));
            bool a = step(true);
            bool b = step(false);
            if (!a && !b) {
                if (client.nextTimeoutMs() == 0 && client.handleTimeout(fd(true)))
                    ++retransmits[1];
                if (server.nextTimeoutMs() == 0 && server.handleTimeout(ss.fd))
                    ++retransmits[0];
            }
        }
        return done(client) && done(server);
    }

    bool handshake(int limitMs = 10000) {
        failed[0] = failed[1] = false;
        return client.doHandshake(fd(true)) && pump(limitMs);
    }

    // Sends `data` from one side; what the other side decrypted (nullopt if nothing arrived).
    std::optional<Bytes> send(bool fromClient, std::string_view data) {
        QDtls &tx = fromClient ? client : server;
        QDtls &rx = fromClient ? server : client;
        Udp &rs = fromClient ? ss : cs;
        if (tx.writeDatagramEncrypted(fd(fromClient), data) != static_cast<std::int64_t>(data.size()))
            return std::nullopt;
        auto d = recvWithin(rs.fd, 5000);
        if (!d)
            return std::nullopt;
        return rx.decryptDatagram(fd(!fromClient), d->data);
    }
};

#define CHECK_SEND(pair, fromClient, text)                                                                             \
    do {                                                                                                               \
        auto got_ = (pair).send((fromClient), (text));                                                                 \
        CHECK_MSG(got_.has_value(), std::string("nothing arrived for ") + (text) + "; client " +                      \
                                        describe((pair).client) + "; server " + describe((pair).server));             \
        CHECK_EQ(*got_, bytes(text));                                                                                  \
    } while (0)

#define CHECK_COMPLETE(pair)                                                                                           \
    do {                                                                                                               \
        CHECK_MSG((pair).client.handshakeState() == HandshakeState::HandshakeComplete,                                 \
                  "client " + describe((pair).client));                                                                \
        CHECK_MSG((pair).server.handshakeState() == HandshakeState::HandshakeComplete,                                 \
                  "server " + describe((pair).server));                                                                \
        CHECK((pair).client.isConnectionEncrypted() && (pair).server.isConnectionEncrypted());                         \
        CHECK_EQ((pair).client.sessionCipher(), (pair).server.sessionCipher());                                        \
        CHECK_EQ((pair).client.sessionProtocol(), qdtls::SslProtocol::DtlsV1_2);                                       \
    } while (0)

// ==== the tests ==========================================================================

// Qt's pskRequired: the client sees the server's hint and sets identity and key;
// the server sees the identity and its own hint, and sets the key.
void test_psk_handshake_with_identity_hint() {
    struct Seen {
        int calls = 0;
        Bytes hint, identityBefore, identityAfter, keyAfter;
        int maxIdentity = -2, maxKey = -2;
    } client, server;
    const std::string hint = "qdtls shim hint";
    Pair p;
    CHECK(p.connect(pskConfig(), pskConfig(hint)));
    CHECK_EQ(p.server.dtlsConfiguration().preSharedKeyIdentityHint(), bytes(hint));
    p.client.onPskRequired([&](qdtls::QSslPreSharedKeyAuthenticator *a) {
        ++client.calls;
        client.hint = a->identityHint();
        client.identityBefore = a->identity();
        client.maxIdentity = a->maximumIdentityLength();
        client.maxKey = a->maximumPreSharedKeyLength();
        a->setIdentity("shim-client");
        a->setPreSharedKey(kKey);
        client.identityAfter = a->identity();
        client.keyAfter = a->preSharedKey();
    });
    p.server.onPskRequired([&](qdtls::QSslPreSharedKeyAuthenticator *a) {
        ++server.calls;
        server.hint = a->identityHint();
        server.identityBefore = a->identity();
        server.maxIdentity = a->maximumIdentityLength();
        server.maxKey = a->maximumPreSharedKeyLength();
        // The server may choose the key by identity.
        a->setPreSharedKey(a->identity() == bytes("shim-client") ? bytes(kKey) : bytes("wrong"));
        server.keyAfter = a->preSharedKey();
    });
    CHECK_MSG(p.handshake(), "client " + describe(p.client) + "; server " + describe(p.server));
    CHECK_COMPLETE(p);
    CHECK_EQ(p.client.dtlsError(), QDtlsError::NoError);
    CHECK_EQ(p.client.dtlsErrorString(), "");
    CHECK(p.client.sessionCipher().find("PSK") != std::string::npos);

    CHECK_EQ(client.calls, 1);
    CHECK_EQ(client.hint, bytes(hint));
    CHECK(client.identityBefore.empty());
    CHECK_EQ(client.maxIdentity, 255);
    CHECK_EQ(client.maxKey, 512);
    CHECK_EQ(client.identityAfter, bytes("shim-client"));
    CHECK_EQ(client.keyAfter, bytes(kKey));

    CHECK_EQ(server.calls, 1);
    CHECK_EQ(server.hint, bytes(hint));
    CHECK_EQ(server.identityBefore, bytes("shim-client"));
    CHECK_EQ(server.maxIdentity, 0);
    CHECK_EQ(server.keyAfter, bytes(kKey));

    CHECK_SEND(p, true, "ping through the shim");
    CHECK_SEND(p, false, "pong through the shim");
    CHECK(p.client.maxPayloadSize() > 0);
}

// A handler that sets a key the server does not share: the handshake fails on both sides.
void test_psk_mismatched_key_fails() {
    Pair p;
    CHECK(p.connect(pskConfig(), pskConfig()));
    CHECK(p.client.setInitialTimeoutMs(100));
    simplePsk(p.client);
    p.server.onPskRequired([](qdtls::QSslPreSharedKeyAuthenticator *a) { a->setPreSharedKey("another key"); });
    // DTLS drops records that fail to authenticate, so the handshake simply never completes.
    CHECK(!p.handshake(1500));
    CHECK(!p.client.isConnectionEncrypted());
    CHECK(p.client.handshakeState() != HandshakeState::HandshakeComplete);
    CHECK(p.server.handshakeState() != HandshakeState::HandshakeComplete);
}

// Qt's certificate scenario: a CA-issued server certificate, the client
// verifying it against a verification name.
void test_certificate_handshake_with_verification_name() {
    const std::string ca = readFile("ca.pem"), cert = readFile("server.pem"), key = readFile("server.key");
    const std::string derText = readFile("server.der");
    const Bytes der(derText.begin(), derText.end());
    CHECK(!ca.empty() && !cert.empty() && !key.empty() && !der.empty());
    DtlsConfiguration scfg;
    CHECK(scfg.setDtlsCookieVerificationEnabled(false));
    CHECK(scfg.setLocalCertificateChain(cert));
    CHECK(scfg.setPrivateKey(key));
    CHECK(scfg.hasPrivateKey());
    CHECK_EQ(scfg.localCertificateChain(), cert);
    DtlsConfiguration ccfg;
    CHECK(ccfg.addCaCertificates(ca));
    CHECK_EQ(ccfg.caCertificateCount(), std::size_t{1});

    {   // the name given with setPeer
        Pair p;
        CHECK(p.connect(ccfg, scfg, "localhost"));
        CHECK_EQ(p.client.peerVerificationName(), "localhost");
        CHECK_MSG(p.handshake(), "client " + describe(p.client) + "; server " + describe(p.server));
        CHECK_COMPLETE(p);
        CHECK(p.client.peerVerificationErrors().empty());
        CHECK_EQ(p.client.peerCertificate(), der);
        const auto chain = p.client.peerCertificateChain();
        CHECK(!chain.empty());
        CHECK_EQ(chain.front(), der);
        CHECK_EQ(p.client.sessionCipher().rfind("ECDHE-ECDSA-", 0), std::size_t{0});
        CHECK(p.server.peerCertificate().empty()); // the client sent none
        CHECK_SEND(p, true, "certificate ping");
        CHECK_SEND(p, false, "certificate pong");
    }
    {   // setPeerVerificationName replaces it: an IP literal matches the SAN IP entry
        Pair p;
        CHECK(p.connect(ccfg, scfg, "wrong.example.com"));
        CHECK(p.client.setPeerVerificationName("127.0.0.1"));
        CHECK_EQ(p.client.peerVerificationName(), "127.0.0.1");
        CHECK_MSG(p.handshake(), "client " + describe(p.client));
        CHECK_COMPLETE(p);
    }
    {   // a wrong name: PeerVerificationFailed with HostNameMismatch; ignore exactly that, resume
        Pair p;
        CHECK(p.connect(ccfg, scfg, "wrong.example.com"));
        CHECK_MSG(p.handshake(), "client " + describe(p.client));
        CHECK_EQ(p.client.handshakeState(), HandshakeState::PeerVerificationFailed);
        CHECK_ERR(p.client, QDtlsError::PeerVerificationError);
        CHECK(!p.client.isConnectionEncrypted());
        const auto errors = p.client.peerVerificationErrors();
        CHECK_EQ(errors.size(), std::size_t{1});
        CHECK_EQ(errors[0].error, SslError::HostNameMismatch);
        CHECK_EQ(errors[0].certificate, der);
        CHECK(!p.client.resumeHandshake(p.cs.fd)); // nothing ignored yet
        CHECK_ERR(p.client, QDtlsError::NoError);
        CHECK(p.client.ignoreVerificationErrors({{SslError::HostNameMismatch, bytes("not DER")}}) == false);
        CHECK_ERR(p.client, QDtlsError::InvalidInputParameters);
        CHECK(p.client.ignoreVerificationErrors(errors));
        CHECK_MSG(p.client.resumeHandshake(p.cs.fd), describe(p.client));
        CHECK_COMPLETE(p);
        CHECK(p.client.peerVerificationErrors().empty());
        CHECK_SEND(p, true, "name error ignored");
    }
    {   // the same errors ignored before the handshake (Qt's preset list)
        Pair p;
        CHECK(p.connect(ccfg, scfg, "wrong.example.com"));
        CHECK(p.client.ignoreVerificationErrors({{SslError::HostNameMismatch, der}}));
        CHECK_MSG(p.handshake(), "client " + describe(p.client));
        CHECK_COMPLETE(p);
    }
}

// Qt's server pattern: QDtlsClientVerifier in front, a server QDtls only for verified hellos.
void test_verifier_in_front_of_server() {
    Udp serverSock;
    QDtlsClientVerifier verifier;
    Pair p; // its server and server socket stay unused
    CHECK(p.client.setDtlsConfiguration(pskConfig()));
    simplePsk(p.client, "verified");
    CHECK(p.client.setPeer("127.0.0.1", serverSock.port()));
    CHECK(p.client.doHandshake(p.cs.fd));

    auto hello = recvWithin(serverSock.fd, 5000);
    CHECK(hello.has_value());
    CHECK_EQ(handshakeType(hello->data), 1);
    const sockaddr *from = reinterpret_cast<const sockaddr *>(&hello->from);
    CHECK(!verifier.verifyClient(serverSock.fd, hello->data, from, sizeof hello->from));
    CHECK_ERR(verifier, QDtlsError::NoError);
    CHECK(verifier.verifiedHello().empty());
    auto hvr = recvWithin(p.cs.fd, 5000);
    CHECK(hvr.has_value());
    CHECK_EQ(handshakeType(hvr->data), 3);
    CHECK(p.client.doHandshake(p.cs.fd, hvr->data));

    auto hello2 = recvWithin(serverSock.fd, 5000);
    CHECK(hello2.has_value());
    CHECK(verifier.verifyClient(serverSock.fd, hello2->data, reinterpret_cast<const sockaddr *>(&hello2->from),
                                sizeof hello2->from));
    CHECK_ERR(verifier, QDtlsError::NoError);
    CHECK_EQ(verifier.verifiedHello(), hello2->data);
    CHECK(verifier.verifyClient(serverSock.fd, hello2->data, "127.0.0.1", p.cs.port())); // stateless

    // The server keeps cookie verification on (the default) and the default parameters.
    QDtls server(SslMode::SslServerMode);
    DtlsConfiguration scfg;
    CHECK(scfg.dtlsCookieVerificationEnabled());
    CHECK(scfg.setPeerVerifyMode(qdtls::PeerVerifyMode::VerifyNone));
    CHECK(server.setDtlsConfiguration(scfg));
    CHECK(server.setPeer(reinterpret_cast<const sockaddr *>(&hello2->from), sizeof hello2->from));
    CHECK_EQ(server.peerPort(), p.cs.port());
    CHECK_EQ(server.peerAddress(), "127.0.0.1");
    Bytes identity;
    server.onPskRequired([&](qdtls::QSslPreSharedKeyAuthenticator *a) {
        identity = a->identity();
        a->setPreSharedKey(kKey);
    });
    CHECK_EQ(server.cookieGeneratorParameters().secret, verifier.cookieGeneratorParameters().secret);
    CHECK_MSG(server.doHandshake(serverSock.fd, verifier.verifiedHello()), describe(server));
    CHECK_EQ(server.handshakeState(), HandshakeState::HandshakeInProgress);

    // Hand the server and its socket to the pump.
    p.server = std::move(server);
    const int fd = serverSock.fd;
    serverSock.fd = p.ss.fd;
    p.ss.fd = fd;
    CHECK_MSG(p.pump(10000), "client " + describe(p.client) + "; server " + describe(p.server));
    CHECK_COMPLETE(p);
    CHECK_EQ(identity, bytes("verified"));
    CHECK_SEND(p, true, "verified client says hi");
    CHECK_SEND(p, false, "server answers");
}

// Lossy network: the first datagram of each side is lost; nextTimeoutMs() /
// handleTimeout() recover (Qt's handshakeTimeout -> handleTimeout).
void test_retransmission_with_first_datagrams_dropped() {
    Pair p;
    CHECK(p.connect(pskConfig(), pskConfig()));
    simplePsk(p.client);
    simplePsk(p.server);
    CHECK(p.client.setInitialTimeoutMs(100));
    CHECK(p.server.setInitialTimeoutMs(100));
    int dropped[2] = {0, 0};
    p.drop = [&](bool fromClient, int index) {
        if (index != 0)
            return false;
        ++dropped[fromClient];
        return true;
    };
    CHECK_EQ(p.client.nextTimeoutMs(), std::int64_t{-1});
    CHECK(p.client.doHandshake(p.cs.fd));
    const std::int64_t first = p.client.nextTimeoutMs();
    CHECK_MSG(first > 0 && first <= 100, show(first));
    CHECK_MSG(p.pump(10000), "client " + describe(p.client) + "; server " + describe(p.server));
    CHECK_COMPLETE(p);
    CHECK_EQ(dropped[1], 1);
    CHECK_EQ(dropped[0], 1);
    // The lost ClientHello can only have come back through the client's timer.
    CHECK(p.retransmits[1] >= 1);
    CHECK(p.sent[1] >= 3); // hello, its retransmission, the final flight
    CHECK(p.sent[0] >= 2);
    CHECK_EQ(p.client.nextTimeoutMs(), std::int64_t{-1});
    CHECK(!p.client.handleTimeout(p.cs.fd)); // nothing to retransmit once complete
    CHECK_SEND(p, true, "after the losses");
    CHECK_SEND(p, false, "all good");
}

// shutdown() from each side: close_notify, RemoteClosedConnectionError on the
// peer, both objects reusable for a new handshake.
void test_shutdown_from_each_side() {
    Pair p;
    CHECK(p.connect(pskConfig(), pskConfig()));
    simplePsk(p.client);
    simplePsk(p.server);
    CHECK(p.handshake());
    CHECK_COMPLETE(p);

    CHECK(!p.client.shutdown(-1));
    CHECK_ERR(p.client, QDtlsError::InvalidInputParameters);
    CHECK(p.client.shutdown(p.cs.fd));
    CHECK_ERR(p.client, QDtlsError::NoError);
    CHECK_EQ(p.client.handshakeState(), HandshakeState::HandshakeNotStarted);
    CHECK(!p.client.isConnectionEncrypted());
    CHECK_EQ(p.client.sessionCipher(), "");
    CHECK_EQ(p.client.peerPort(), p.ss.port()); // the peer is kept
    auto d = recvWithin(p.ss.fd, 5000);
    CHECK(d.has_value());
    CHECK(p.server.decryptDatagram(p.ss.fd, d->data).empty());
    CHECK_ERR(p.server, QDtlsError::RemoteClosedConnectionError);
    CHECK_EQ(p.server.handshakeState(), HandshakeState::HandshakeNotStarted);
    CHECK(!p.server.isConnectionEncrypted());
    CHECK(!p.client.shutdown(p.cs.fd)); // nothing left to shut down
    CHECK_ERR(p.client, QDtlsError::InvalidOperation);

    // Again, and this time the server closes.
    CHECK_MSG(p.handshake(), "second handshake: client " + describe(p.client) + "; server " + describe(p.server));
    CHECK_COMPLETE(p);
    CHECK_SEND(p, true, "second association");
    CHECK(p.server.shutdown(p.ss.fd));
    CHECK_EQ(p.server.handshakeState(), HandshakeState::HandshakeNotStarted);
    d = recvWithin(p.cs.fd, 5000);
    CHECK(d.has_value());
    CHECK(p.client.decryptDatagram(p.cs.fd, d->data).empty());
    CHECK_ERR(p.client, QDtlsError::RemoteClosedConnectionError);
    CHECK_EQ(p.client.handshakeState(), HandshakeState::HandshakeNotStarted);
    CHECK_EQ(p.client.writeDatagramEncrypted(p.cs.fd, "too late"), std::int64_t{-1});
    CHECK_ERR(p.client, QDtlsError::InvalidOperation);
}

// Qt's InvalidOperation / InvalidInputParameters cases, through the shim.
void test_errors() {
    Udp sock, other;
    QDtls client(SslMode::SslClientMode);
    QDtls server(SslMode::SslServerMode);
    CHECK(client.nativeHandle() != nullptr);
    CHECK_EQ(client.sslMode(), SslMode::SslClientMode);
    CHECK_EQ(server.sslMode(), SslMode::SslServerMode);
    CHECK_ERR(client, QDtlsError::NoError);

    // not encrypted
    CHECK_EQ(client.writeDatagramEncrypted(sock.fd, "x"), std::int64_t{-1});
    CHECK_ERR(client, QDtlsError::InvalidOperation);
    CHECK_EQ(client.writeDatagramEncrypted(-1, "x"), std::int64_t{-1});
    CHECK_ERR(client, QDtlsError::InvalidInputParameters);
    CHECK(client.decryptDatagram(sock.fd, bytes("abc")).empty());
    CHECK_ERR(client, QDtlsError::InvalidOperation);
    CHECK(!client.shutdown(sock.fd));
    CHECK_ERR(client, QDtlsError::InvalidOperation);
    CHECK(!client.abortHandshake(sock.fd));
    CHECK_ERR(client, QDtlsError::InvalidOperation);
    CHECK(!client.resumeHandshake(sock.fd));
    CHECK_ERR(client, QDtlsError::InvalidOperation);
    CHECK(!client.resumeHandshake(-1));
    CHECK_ERR(client, QDtlsError::InvalidInputParameters);
    // no peer yet
    CHECK(!client.doHandshake(sock.fd));
    CHECK_ERR(client, QDtlsError::InvalidOperation);
    CHECK(!client.doHandshake(-1));
    CHECK_ERR(client, QDtlsError::InvalidInputParameters);
    // setPeer validation
    CHECK(!client.setPeer("not an address", 1));
    CHECK_ERR(client, QDtlsError::InvalidInputParameters);
    CHECK(!client.setPeer("255.255.255.255", 1));
    CHECK_ERR(client, QDtlsError::InvalidInputParameters);
    CHECK(!client.setPeer("ff02::1", 1));
    CHECK_ERR(client, QDtlsError::InvalidInputParameters);
    CHECK(client.setPeer("127.0.0.1", other.port(), "name.example"));
    CHECK_ERR(client, QDtlsError::NoError);
    CHECK_EQ(client.peerAddress(), "127.0.0.1");
    CHECK_EQ(client.peerPort(), other.port());
    CHECK_EQ(client.peerVerificationName(), "name.example");
    // a server needs the ClientHello
    CHECK(server.setPeer(sock.sa(), sizeof sock.addr));
    CHECK(!server.doHandshake(other.fd));
    CHECK_ERR(server, QDtlsError::InvalidInputParameters);
    // cookie parameters: an empty secret is refused (true on success, unlike Qt)
    CHECK(!server.setCookieGeneratorParameters({qdtls::HashAlgorithm::Sha256, {}}));
    CHECK_ERR(server, QDtlsError::InvalidInputParameters);
    CHECK(server.setCookieGeneratorParameters({qdtls::HashAlgorithm::Sha512, bytes("secret")}));
    CHECK_ERR(server, QDtlsError::NoError);
    CHECK_EQ(server.cookieGeneratorParameters().hash, qdtls::HashAlgorithm::Sha512);
    CHECK_EQ(server.cookieGeneratorParameters().secret, bytes("secret"));
    // a TLS protocol fails at handshake time
    DtlsConfiguration tls = pskConfig();
    CHECK(tls.setProtocol(static_cast<qdtls::SslProtocol>(2)));
    CHECK(client.setDtlsConfiguration(tls));
    CHECK(!client.doHandshake(sock.fd));
    CHECK_ERR(client, QDtlsError::TlsInitializationError);
    CHECK_EQ(client.handshakeState(), HandshakeState::HandshakeNotStarted);

    // in progress: no reconfiguration
    CHECK(client.setDtlsConfiguration(pskConfig()));
    CHECK(client.doHandshake(sock.fd));
    CHECK_EQ(client.handshakeState(), HandshakeState::HandshakeInProgress);
    CHECK(!client.setPeer("127.0.0.1", 1));
    CHECK_ERR(client, QDtlsError::InvalidOperation);
    CHECK(!client.setPeerVerificationName("late.example"));
    CHECK_ERR(client, QDtlsError::InvalidOperation);
    CHECK(!client.setDtlsConfiguration(pskConfig()));
    CHECK_ERR(client, QDtlsError::InvalidOperation);
    CHECK(!client.setInitialTimeoutMs(50));
    CHECK_ERR(client, QDtlsError::InvalidOperation);
    CHECK(!client.doHandshake(sock.fd, Bytes{}));
    CHECK_ERR(client, QDtlsError::InvalidInputParameters);
    CHECK(!client.shutdown(sock.fd));
    CHECK_ERR(client, QDtlsError::InvalidOperation);
    CHECK(!client.resumeHandshake(sock.fd));
    CHECK_ERR(client, QDtlsError::InvalidOperation);
    CHECK(!client.abortHandshake(-1));
    CHECK_ERR(client, QDtlsError::InvalidInputParameters);
    CHECK(client.abortHandshake(sock.fd));
    CHECK_ERR(client, QDtlsError::NoError);
    CHECK_EQ(client.handshakeState(), HandshakeState::HandshakeNotStarted);
    CHECK_EQ(client.nextTimeoutMs(), std::int64_t{-1});

    // a QDtls in UnencryptedMode has no handle: every call is safe and fails
    QDtls none(SslMode::UnencryptedMode);
    CHECK(none.nativeHandle() == nullptr);
    CHECK_EQ(none.sslMode(), SslMode::UnencryptedMode);
    CHECK_EQ(none.handshakeState(), HandshakeState::HandshakeNotStarted);
    CHECK(!none.setPeer("127.0.0.1", 1));
    CHECK(!none.doHandshake(sock.fd));
    CHECK_EQ(none.dtlsError(), QDtlsError::InvalidInputParameters);
    CHECK_EQ(none.peerAddress(), "");
    CHECK(none.dtlsConfiguration().nativeHandle() == nullptr);

    // the verifier's errors
    QDtlsClientVerifier v;
    const auto before = v.cookieGeneratorParameters();
    CHECK_EQ(before.hash, qdtls::HashAlgorithm::Sha256);
    CHECK_EQ(before.secret.size(), std::size_t{32});
    CHECK(!v.setCookieGeneratorParameters({qdtls::HashAlgorithm::Sha1, {}}));
    CHECK_ERR(v, QDtlsError::InvalidInputParameters);
    CHECK_EQ(v.cookieGeneratorParameters().secret, before.secret);
    CHECK_EQ(v.cookieGeneratorParameters().hash, qdtls::HashAlgorithm::Sha256);
    CHECK(!v.verifyClient(-1, bytes("hello"), "127.0.0.1", 1));
    CHECK_ERR(v, QDtlsError::InvalidInputParameters);
    CHECK(!v.verifyClient(sock.fd, Bytes{}, "127.0.0.1", 1));
    CHECK_ERR(v, QDtlsError::InvalidInputParameters);
    CHECK(!v.verifyClient(sock.fd, bytes("hello"), "224.0.0.1", 1));
    CHECK_ERR(v, QDtlsError::InvalidInputParameters);
    Udp quiet;
    CHECK(!v.verifyClient(sock.fd, bytes("garbage"), "127.0.0.1", quiet.port()));
    CHECK_ERR(v, QDtlsError::NoError);
    CHECK(!recvWithin(quiet.fd, 30).has_value()); // garbage gets no HelloVerifyRequest
}

// The data path's limits through the shim's overloads.
void test_payload_limits() {
    Pair p;
    CHECK(p.connect(pskConfig(), pskConfig()));
    simplePsk(p.client);
    simplePsk(p.server);
    CHECK(p.handshake());
    CHECK_COMPLETE(p);
    // over one record: TlsFatalError, the connection stays up (as in Qt)
    const Bytes huge(17000, 0x42);
    CHECK_EQ(p.client.writeDatagramEncrypted(p.cs.fd, huge), std::int64_t{-1});
    CHECK_ERR(p.client, QDtlsError::TlsFatalError);
    CHECK(p.client.isConnectionEncrypted());
    CHECK_SEND(p, true, "still encrypted");
    // with a known MTU (a hint given before the handshake), larger datagrams are
    // refused and the largest allowed one arrives
    Pair q;
    CHECK(q.connect(pskConfig(), pskConfig()));
    simplePsk(q.client);
    simplePsk(q.server);
    q.client.setMtuHint(600);
    CHECK_EQ(q.client.mtuHint(), std::uint16_t{600});
    CHECK(q.handshake());
    CHECK_COMPLETE(q);
    const std::size_t max = q.client.maxPayloadSize();
    CHECK_MSG(max > 400 && max < 600, show(max));
    const Bytes tooBig(max + 1, 0x43);
    CHECK_EQ(q.client.writeDatagramEncrypted(q.cs.fd, tooBig), std::int64_t{-1});
    CHECK_ERR(q.client, QDtlsError::InvalidInputParameters);
    CHECK(q.client.isConnectionEncrypted());
    const std::string fits(max, 'f');
    CHECK_SEND(q, true, fits);
    const char raw[] = {'r', 'a', 'w'};
    CHECK_EQ(p.client.writeDatagramEncrypted(p.cs.fd, raw, sizeof raw), std::int64_t{3});
    auto d = recvWithin(p.ss.fd, 5000);
    CHECK(d.has_value());
    CHECK_EQ(p.server.decryptDatagram(p.ss.fd, d->data.data(), d->data.size()), bytes("raw"));
}

// A moved-from QDtls / QDtlsClientVerifier / DtlsConfiguration is safe to
// destroy; the moved-to object works, including its PSK handler.
void test_move_semantics() {
    int calls = 0;
    std::optional<QDtls> a;
    a.emplace(SslMode::SslClientMode);
    ::qdtls_connection *const handle = a->nativeHandle();
    CHECK(a->setInitialTimeoutMs(200));
    a->onPskRequired([&calls](qdtls::QSslPreSharedKeyAuthenticator *auth) {
        ++calls;
        auth->setIdentity("moved identity");
        auth->setPreSharedKey(kKey);
    });
    QDtls b(std::move(*a));
    CHECK(a->nativeHandle() == nullptr);
    CHECK(b.nativeHandle() == handle);
    CHECK_EQ(a->handshakeState(), HandshakeState::HandshakeNotStarted); // NULL-safe getters
    CHECK_EQ(a->dtlsError(), QDtlsError::InvalidInputParameters);
    a.reset(); // destroy the moved-from object now

    // Move assignment into a live object releases the target's old handle.
    Pair p;
    p.client = std::move(b);
    CHECK(p.client.nativeHandle() == handle);
    CHECK(b.nativeHandle() == nullptr);
    Bytes seenIdentity;
    p.server.onPskRequired([&](qdtls::QSslPreSharedKeyAuthenticator *auth) {
        seenIdentity = auth->identity();
        auth->setPreSharedKey(kKey);
    });
    CHECK(p.connect(pskConfig(), pskConfig()));
    CHECK(p.client.doHandshake(p.cs.fd));
    const std::int64_t t = p.client.nextTimeoutMs();
    CHECK_MSG(t > 0 && t <= 200, "the initial timeout (not the default 1000 ms) moved along: " + show(t));
    CHECK_MSG(p.pump(10000), "client " + describe(p.client) + "; server " + describe(p.server));
    CHECK_COMPLETE(p);
    CHECK_EQ(calls, 1);
    CHECK_EQ(seenIdentity, bytes("moved identity"));
    CHECK_SEND(p, true, "moved and working");

    // Handlers survive a vector's reallocations.
    std::vector<QDtls> many;
    int vcalls = 0;
    many.emplace_back(SslMode::SslClientMode);
    many[0].onPskRequired([&vcalls](qdtls::QSslPreSharedKeyAuthenticator *auth) {
        ++vcalls;
        auth->setIdentity("from a vector");
        auth->setPreSharedKey(kKey);
    });
    for (int i = 0; i < 40; ++i)
        many.emplace_back(SslMode::SslServerMode);
    Pair q;
    q.client = std::move(many[0]);
    many.clear();
    simplePsk(q.server);
    CHECK(q.connect(pskConfig(), pskConfig()));
    CHECK_MSG(q.handshake(), "client " + describe(q.client));
    CHECK_COMPLETE(q);
    CHECK_EQ(vcalls, 1);

    // The verifier: moved-from is null and safe; moved-to keeps its parameters and works.
    std::optional<QDtlsClientVerifier> v1;
    v1.emplace();
    CHECK(v1->setCookieGeneratorParameters({qdtls::HashAlgorithm::Sha384, bytes("moved verifier secret")}));
    QDtlsClientVerifier v2(std::move(*v1));
    CHECK(v1->nativeHandle() == nullptr);
    CHECK_EQ(v1->dtlsError(), QDtlsError::InvalidInputParameters);
    CHECK(v1->verifiedHello().empty());
    v1.reset();
    QDtlsClientVerifier v3;
    v3 = std::move(v2);
    CHECK(v2.nativeHandle() == nullptr);
    CHECK_EQ(v3.cookieGeneratorParameters().hash, qdtls::HashAlgorithm::Sha384);
    CHECK_EQ(v3.cookieGeneratorParameters().secret, bytes("moved verifier secret"));
    Udp vs, vc;
    QDtls client(SslMode::SslClientMode);
    CHECK(client.setPeer("127.0.0.1", vs.port()));
    CHECK(client.doHandshake(vc.fd));
    auto hello = recvWithin(vs.fd, 5000);
    CHECK(hello.has_value());
    CHECK(!v3.verifyClient(vs.fd, hello->data, "127.0.0.1", vc.port()));
    CHECK_ERR(v3, QDtlsError::NoError);
    auto hvr = recvWithin(vc.fd, 5000);
    CHECK(hvr.has_value());
    CHECK_EQ(handshakeType(hvr->data), 3);
    CHECK(client.doHandshake(vc.fd, hvr->data));
    auto hello2 = recvWithin(vs.fd, 5000);
    CHECK(hello2.has_value());
    CHECK(v3.verifyClient(vs.fd, hello2->data, "127.0.0.1", vc.port()));

    // DtlsConfiguration: moved-from is safe, reassignable.
    DtlsConfiguration c1;
    CHECK(c1.setPeerVerifyDepth(4));
    DtlsConfiguration c2(std::move(c1));
    CHECK(c1.nativeHandle() == nullptr);
    CHECK_EQ(c2.peerVerifyDepth(), 4);
    c1 = c2; // copy into the moved-from object
    CHECK(c1.nativeHandle() != nullptr && c1.nativeHandle() != c2.nativeHandle());
    CHECK_EQ(c1.peerVerifyDepth(), 4);
}

// DtlsConfiguration is a value type: copies never share state.
void test_configuration_copy_independence() {
    const std::string ca = readFile("ca.pem"), other = readFile("other.pem");
    CHECK(!ca.empty() && !other.empty());
    DtlsConfiguration a;
    CHECK_EQ(a.protocol(), qdtls::SslProtocol::DtlsV1_2OrLater);
    CHECK_EQ(a.peerVerifyMode(), qdtls::PeerVerifyMode::AutoVerifyPeer);
    CHECK(a.setProtocol(qdtls::SslProtocol::DtlsV1_2));
    CHECK(a.setPeerVerifyMode(qdtls::PeerVerifyMode::VerifyNone));
    CHECK(a.setPeerVerifyDepth(3));
    CHECK(a.setPreSharedKeyIdentityHint("hint a"));
    CHECK(a.setCiphers("PSK-AES128-GCM-SHA256"));
    CHECK(a.setAllowedNextProtocols({"a1"}));
    CHECK(a.addCaCertificates(ca));
    CHECK(a.setServerCipherPreference(false));

    DtlsConfiguration b = a; // copy construction
    CHECK(b.nativeHandle() != a.nativeHandle());
    CHECK_EQ(b.protocol(), qdtls::SslProtocol::DtlsV1_2);
    CHECK_EQ(b.peerVerifyMode(), qdtls::PeerVerifyMode::VerifyNone);
    CHECK_EQ(b.peerVerifyDepth(), 3);
    CHECK_EQ(b.preSharedKeyIdentityHint(), bytes("hint a"));
    CHECK_EQ(b.ciphers(), "PSK-AES128-GCM-SHA256");
    CHECK(b.allowedNextProtocols() == std::vector<std::string>{"a1"});
    CHECK_EQ(b.caCertificateCount(), std::size_t{1});
    CHECK(!b.serverCipherPreference());

    CHECK(b.setProtocol(qdtls::SslProtocol::DtlsV1_0OrLater));
    CHECK(b.setPeerVerifyMode(qdtls::PeerVerifyMode::VerifyPeer));
    CHECK(b.setPeerVerifyDepth(9));
    CHECK(b.setPreSharedKeyIdentityHint("hint b"));
    CHECK(b.setCiphers("PSK-AES256-GCM-SHA384"));
    CHECK(b.setAllowedNextProtocols({"b1", "b2"}));
    CHECK(b.addCaCertificates(other));
    CHECK(b.setServerCipherPreference(true));
    CHECK(b.setDtlsCookieVerificationEnabled(false));
    CHECK_EQ(b.caCertificateCount(), std::size_t{2});

    CHECK_EQ(a.protocol(), qdtls::SslProtocol::DtlsV1_2);
    CHECK_EQ(a.peerVerifyMode(), qdtls::PeerVerifyMode::VerifyNone);
    CHECK_EQ(a.peerVerifyDepth(), 3);
    CHECK_EQ(a.preSharedKeyIdentityHint(), bytes("hint a"));
    CHECK_EQ(a.ciphers(), "PSK-AES128-GCM-SHA256");
    CHECK(a.allowedNextProtocols() == std::vector<std::string>{"a1"});
    CHECK_EQ(a.caCertificateCount(), std::size_t{1});
    CHECK(!a.serverCipherPreference());
    CHECK(a.dtlsCookieVerificationEnabled());

    DtlsConfiguration c; // copy assignment
    c = a;
    CHECK(a.setPeerVerifyDepth(5));
    CHECK_EQ(c.peerVerifyDepth(), 3);
    CHECK_EQ(c.preSharedKeyIdentityHint(), bytes("hint a"));

    // QDtls keeps a copy, and dtlsConfiguration() hands out copies
    QDtls d(SslMode::SslServerMode);
    CHECK(d.setDtlsConfiguration(a));
    CHECK(a.setPeerVerifyDepth(6));
    DtlsConfiguration fromD = d.dtlsConfiguration();
    CHECK_EQ(fromD.peerVerifyDepth(), 5);
    CHECK(fromD.setPeerVerifyDepth(7));
    CHECK_EQ(d.dtlsConfiguration().peerVerifyDepth(), 5);

    // the default configuration: a copy, seen by objects created afterwards
    const DtlsConfiguration original = DtlsConfiguration::defaultDtlsConfiguration();
    DtlsConfiguration custom;
    CHECK(custom.setPeerVerifyDepth(11));
    DtlsConfiguration::setDefaultDtlsConfiguration(custom);
    CHECK(custom.setPeerVerifyDepth(12));
    const int seen = DtlsConfiguration().peerVerifyDepth();
    const int seenByQDtls = QDtls(SslMode::SslClientMode).dtlsConfiguration().peerVerifyDepth();
    DtlsConfiguration::setDefaultDtlsConfiguration(original);
    CHECK_EQ(seen, 11);
    CHECK_EQ(seenByQDtls, 11);
    CHECK_EQ(DtlsConfiguration().peerVerifyDepth(), 0);
}

// The PSK handler's exception does not unwind through the C library: no key
// is set and the handshake fails cleanly.
void test_throwing_psk_handler() {
#if defined(__cpp_exceptions)
    Pair p;
    CHECK(p.connect(pskConfig(), pskConfig()));
    CHECK(p.client.setInitialTimeoutMs(100));
    int calls = 0;
    p.client.onPskRequired([&calls](qdtls::QSslPreSharedKeyAuthenticator *) {
        ++calls;
        throw std::runtime_error("handler failure");
    });
    simplePsk(p.server);
    CHECK(!p.handshake(3000));
    CHECK_EQ(calls, 1);
    CHECK(!p.client.isConnectionEncrypted());
    CHECK(p.client.dtlsError() != QDtlsError::NoError);
#else
    std::printf("  (built without exceptions: nothing to throw)\n");
#endif
}

// The binary really uses the installed library of its flavour.
void test_linkage() {
    Dl_info info{};
    CHECK(dladdr(reinterpret_cast<void *>(&qdtls_version), &info) != 0 && info.dli_fname != nullptr);
    char found[PATH_MAX] = {}, expected[PATH_MAX] = {};
    CHECK(realpath(info.dli_fname, found) != nullptr);
#if QDTLS_TEST_STATIC_LINK
    CHECK(realpath("/proc/self/exe", expected) != nullptr);
#else
    CHECK(realpath(QDTLS_TEST_LIBDIR "/libqdtls.so.0", expected) != nullptr);
#endif
    CHECK_EQ(std::string(found), std::string(expected));
    CHECK_EQ(std::string(qdtls::version()), QDTLS_VERSION_STRING);
    CHECK_EQ(std::string(qdtls::version()), QDTLS_TEST_PACKAGE_VERSION);
}

// What the Qt adapter converts a QSslConfiguration with: CAs can be cleared
// (back to the system store) and the cipher list reset to the default.
void test_configuration_clear_and_reset() {
    const std::string ca = readFile("ca.pem");
    CHECK(!ca.empty());
    const std::string defaultCiphers = DtlsConfiguration().ciphers();
    CHECK(!defaultCiphers.empty());
    DtlsConfiguration c;
    CHECK(c.addCaCertificates(ca));
    CHECK_EQ(c.caCertificateCount(), std::size_t{1});
    DtlsConfiguration copy = c;
    CHECK(c.clearCaCertificates());
    CHECK_EQ(c.caCertificateCount(), std::size_t{0});
    CHECK_EQ(copy.caCertificateCount(), std::size_t{1});
    CHECK(c.clearCaCertificates()); // nothing to clear: still fine
    CHECK(c.setCiphers("PSK-AES128-GCM-SHA256"));
    CHECK_EQ(c.ciphers(), "PSK-AES128-GCM-SHA256");
    CHECK(!c.setCiphers("NO-SUCH-CIPHER"));
    CHECK_EQ(c.ciphers(), "PSK-AES128-GCM-SHA256");
    CHECK(c.resetCiphers());
    CHECK_EQ(c.ciphers(), defaultCiphers);
    // a configuration with reset ciphers and cleared CAs still runs a PSK handshake
    DtlsConfiguration s = pskConfig();
    CHECK(s.setCiphers("PSK-AES256-GCM-SHA384"));
    CHECK(s.resetCiphers());
    CHECK(s.clearCaCertificates());
    Pair p;
    CHECK(p.connect(pskConfig(), s));
    simplePsk(p.client);
    simplePsk(p.server);
    CHECK_MSG(p.handshake(), "client " + describe(p.client) + "; server " + describe(p.server));
    CHECK_COMPLETE(p);
}

// The getters read values of every length around the first buffer the shim
// offers (one call below it, two above), strings and bytes alike.
void test_long_values() {
    QDtls d(SslMode::SslClientMode);
    for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{126}, std::size_t{127}, std::size_t{128},
                          std::size_t{129}, std::size_t{255}, std::size_t{1000}}) {
        std::string name(n, 'n');
        for (std::size_t i = 0; i < n; ++i)
            name[i] = static_cast<char>('a' + i % 26);
        CHECK_MSG(d.setPeerVerificationName(name), show(n));
        CHECK_EQ(d.peerVerificationName(), name);
        if (n == 0)
            continue;
        Bytes secret(n);
        for (std::size_t i = 0; i < n; ++i)
            secret[i] = static_cast<std::uint8_t>(i * 7);
        CHECK_MSG(d.setCookieGeneratorParameters({qdtls::HashAlgorithm::Sha384, secret}), show(n));
        const qdtls::GeneratorParameters got = d.cookieGeneratorParameters();
        CHECK_EQ(got.hash, qdtls::HashAlgorithm::Sha384);
        CHECK_EQ(got.secret, secret);
        QDtlsClientVerifier v;
        CHECK(v.setCookieGeneratorParameters({qdtls::HashAlgorithm::Sha3_256, secret}));
        CHECK_EQ(v.cookieGeneratorParameters().secret, secret);
        CHECK_EQ(v.cookieGeneratorParameters().hash, qdtls::HashAlgorithm::Sha3_256);
    }
    // a cipher list and a PEM chain longer than the first buffer
    DtlsConfiguration c;
    const std::string list = "PSK-AES128-GCM-SHA256:PSK-AES256-GCM-SHA384:PSK-CHACHA20-POLY1305:"
                             "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384";
    CHECK(list.size() > qdtls::detail::kFirstTry);
    CHECK(c.setCiphers(list));
    CHECK_EQ(c.ciphers(), list);
    const std::string chain = readFile("server.pem");
    CHECK(chain.size() > qdtls::detail::kFirstTry);
    CHECK(c.setLocalCertificateChain(chain));
    CHECK(c.localCertificateChain().find("-----BEGIN CERTIFICATE-----") == 0);
    // an error text (long enough to need the second call or not: it round-trips)
    CHECK(!d.setPeer("not an address", 1));
    CHECK(!d.dtlsErrorString().empty());
    CHECK_ERR(d, QDtlsError::InvalidInputParameters);
}

// The pointer and length overloads the Qt adapter uses for its QByteArrays:
// verifyClient from raw bytes (text and sockaddr addresses) and
// decryptDatagram into the caller's buffer.
void test_raw_buffer_overloads() {
    Udp serverSock;
    QDtlsClientVerifier verifier;
    Pair p;
    CHECK(p.client.setDtlsConfiguration(pskConfig()));
    simplePsk(p.client, "raw");
    CHECK(p.client.setPeer("127.0.0.1", serverSock.port()));
    CHECK(p.client.doHandshake(p.cs.fd));
    auto hello = recvWithin(serverSock.fd, 5000);
    CHECK(hello.has_value());
    CHECK(!verifier.verifyClient(serverSock.fd, hello->data.data(), hello->data.size(), "127.0.0.1", p.cs.port()));
    CHECK_ERR(verifier, QDtlsError::NoError);
    CHECK(!verifier.verifyClient(serverSock.fd, hello->data.data(), 0, "127.0.0.1", p.cs.port()));
    CHECK_ERR(verifier, QDtlsError::InvalidInputParameters);
    auto hvr = recvWithin(p.cs.fd, 5000);
    CHECK(hvr.has_value());
    CHECK(p.client.doHandshake(p.cs.fd, hvr->data.data(), hvr->data.size()));
    auto hello2 = recvWithin(serverSock.fd, 5000);
    CHECK(hello2.has_value());
    CHECK(verifier.verifyClient(serverSock.fd, hello2->data.data(), hello2->data.size(),
                                reinterpret_cast<const sockaddr *>(&hello2->from), sizeof hello2->from));
    CHECK_EQ(verifier.verifiedHello(), hello2->data);
    CHECK(verifier.verifyClient(serverSock.fd, hello2->data.data(), hello2->data.size(), "127.0.0.1", p.cs.port()));

    QDtls server(SslMode::SslServerMode);
    DtlsConfiguration scfg = pskConfig();
    CHECK(scfg.setDtlsCookieVerificationEnabled(true));
    CHECK(server.setDtlsConfiguration(scfg));
    CHECK(server.setPeer(reinterpret_cast<const sockaddr *>(&hello2->from), sizeof hello2->from));
    simplePsk(server);
    const Bytes verified = verifier.verifiedHello();
    CHECK_MSG(server.doHandshake(serverSock.fd, verified.data(), verified.size()), describe(server));
    p.server = std::move(server);
    const int fd = serverSock.fd;
    serverSock.fd = p.ss.fd;
    p.ss.fd = fd;
    CHECK_MSG(p.pump(10000), "client " + describe(p.client) + "; server " + describe(p.server));
    CHECK_COMPLETE(p);

    CHECK_EQ(p.client.writeDatagramEncrypted(p.cs.fd, std::string_view("into a buffer")), std::int64_t{13});
    auto d = recvWithin(p.ss.fd, 5000);
    CHECK(d.has_value());
    std::vector<char> plain(d->data.size(), '\0');
    const std::int64_t n = p.server.decryptDatagram(p.ss.fd, d->data.data(), d->data.size(), plain.data(), plain.size());
    CHECK_EQ(n, std::int64_t{13});
    CHECK_EQ(std::string(plain.data(), 13), "into a buffer");
    CHECK_ERR(p.server, QDtlsError::NoError);
    // replayed: 0 bytes, not an error
    CHECK_EQ(p.server.decryptDatagram(p.ss.fd, d->data.data(), d->data.size(), plain.data(), plain.size()),
             std::int64_t{0});
    // a buffer too small for the plaintext: -1 and an error
    CHECK_EQ(p.client.writeDatagramEncrypted(p.cs.fd, std::string_view("too long for four")), std::int64_t{17});
    d = recvWithin(p.ss.fd, 5000);
    CHECK(d.has_value());
    CHECK_EQ(p.server.decryptDatagram(p.ss.fd, d->data.data(), d->data.size(), plain.data(), 4), std::int64_t{-1});
    CHECK(p.server.dtlsError() != QDtlsError::NoError);
    CHECK(p.server.isConnectionEncrypted());
}

// setPeer from a sockaddr_in6 with a scope id (a link-local peer, as Qt's
// QHostAddress("fe80::1%lo") gives it), and sockaddrs that are not addresses.
void test_peer_from_scoped_sockaddr() {
    QDtls d(SslMode::SslClientMode);
    sockaddr_in6 sa{};
    sa.sin6_family = AF_INET6;
    sa.sin6_port = htons(4433);
    CHECK(inet_pton(AF_INET6, "fe80::1", &sa.sin6_addr) == 1);
    sa.sin6_scope_id = 1; // the loopback interface's index on Linux
    CHECK_MSG(d.setPeer(reinterpret_cast<const sockaddr *>(&sa), sizeof sa, "scoped.example"), describe(d));
    CHECK_ERR(d, QDtlsError::NoError);
    CHECK_EQ(d.peerAddress(), "fe80::1");
    CHECK_EQ(d.peerPort(), std::uint16_t{4433});
    CHECK_EQ(d.peerVerificationName(), "scoped.example");
    // a truncated sockaddr_in6 and an unknown family are null addresses
    CHECK(!d.setPeer(reinterpret_cast<const sockaddr *>(&sa), sizeof sa - 4));
    CHECK_ERR(d, QDtlsError::InvalidInputParameters);
    sockaddr_storage other{};
    other.ss_family = AF_UNIX;
    CHECK(!d.setPeer(reinterpret_cast<const sockaddr *>(&other), sizeof other));
    CHECK_ERR(d, QDtlsError::InvalidInputParameters);
    CHECK_EQ(d.peerAddress(), "fe80::1"); // a refused setPeer keeps the old peer
}

// ---- beyond Qt: exporter, DTLS-SRTP, ALPN, resumption, policy, send callback ----------

static_assert(static_cast<int>(qdtls::SrtpProfile::AeadAes256Gcm) == QDTLS_SRTP_AEAD_AES_256_GCM);
static_assert(static_cast<int>(qdtls::SrtpProfile::NoProfile) == 0);

struct CertConfigs {
    DtlsConfiguration client, server;
    bool ok = false;
    CertConfigs() {
        const std::string ca = readFile("ca.pem"), cert = readFile("server.pem"), key = readFile("server.key");
        ok = server.setDtlsCookieVerificationEnabled(false) && server.setLocalCertificateChain(cert) &&
             server.setPrivateKey(key) && client.addCaCertificates(ca);
    }
};

void test_keying_material_srtp_and_alpn() {
    using qdtls::SrtpProfile;
    CertConfigs cfg;
    CHECK(cfg.ok);
    CHECK(cfg.client.srtpProfiles().empty());
    CHECK(cfg.client.setSrtpProfiles({SrtpProfile::Aes128CmSha1_32, SrtpProfile::AeadAes256Gcm}));
    CHECK(cfg.server.setSrtpProfiles(
        {SrtpProfile::AeadAes256Gcm, SrtpProfile::Aes128CmSha1_80, SrtpProfile::Aes128CmSha1_32}));
    // a repeated or unknown profile is refused and changes nothing
    CHECK(!cfg.client.setSrtpProfiles({SrtpProfile::AeadAes128Gcm, SrtpProfile::AeadAes128Gcm}));
    CHECK(!cfg.client.setSrtpProfiles({static_cast<SrtpProfile>(3)}));
    CHECK((cfg.client.srtpProfiles() == std::vector<SrtpProfile>{SrtpProfile::Aes128CmSha1_32,
                                                                 SrtpProfile::AeadAes256Gcm}));
    CHECK(cfg.client.setAllowedNextProtocols({"coap", "webrtc"}));
    CHECK(cfg.server.setAllowedNextProtocols({"webrtc", "coap"}));

    Pair p;
    CHECK(p.connect(cfg.client, cfg.server, "localhost"));
    // nothing before the handshake
    CHECK(p.client.exportKeyingMaterial("EXPERIMENTAL shim", 32).empty());
    CHECK_ERR(p.client, QDtlsError::InvalidOperation);
    CHECK_EQ(p.client.srtpKeyingMaterial().profile, SrtpProfile::NoProfile);
    CHECK_ERR(p.client, QDtlsError::InvalidOperation);
    CHECK_EQ(p.client.selectedSrtpProfile(), SrtpProfile::NoProfile);
    CHECK_EQ(p.client.negotiatedApplicationProtocol(), "");
    CHECK_MSG(p.handshake(), "client " + describe(p.client) + "; server " + describe(p.server));
    CHECK_COMPLETE(p);

    // RFC 5705: equal on both sides; no context differs from an empty one
    const Bytes a = p.client.exportKeyingMaterial("EXPERIMENTAL shim", bytes("ctx"), 48);
    CHECK_ERR(p.client, QDtlsError::NoError);
    CHECK_EQ(a.size(), std::size_t{48});
    CHECK_EQ(p.server.exportKeyingMaterial("EXPERIMENTAL shim", std::string_view("ctx"), 48), a);
    CHECK(a != Bytes(48, 0));
    const Bytes none = p.client.exportKeyingMaterial("EXPERIMENTAL shim", 32);
    const Bytes empty = p.client.exportKeyingMaterial("EXPERIMENTAL shim", Bytes{}, 32);
    CHECK_EQ(none.size(), std::size_t{32});
    CHECK_EQ(empty.size(), std::size_t{32});
    CHECK(none != empty);
    CHECK_EQ(p.server.exportKeyingMaterial("EXPERIMENTAL shim", 32), none);
    CHECK_EQ(p.server.exportKeyingMaterial("EXPERIMENTAL shim", std::string_view(), 32), empty);

    // DTLS-SRTP: the server's preference among the client's offer, equal keys
    CHECK_EQ(p.client.selectedSrtpProfile(), SrtpProfile::AeadAes256Gcm);
    CHECK_EQ(p.server.selectedSrtpProfile(), SrtpProfile::AeadAes256Gcm);
    const qdtls::SrtpKeyingMaterial kc = p.client.srtpKeyingMaterial(), ks = p.server.srtpKeyingMaterial();
    CHECK_EQ(kc.profile, SrtpProfile::AeadAes256Gcm);
    CHECK_EQ(kc.clientKey.size(), std::size_t{32});
    CHECK_EQ(kc.clientSalt.size(), std::size_t{12});
    CHECK_EQ(ks.profile, kc.profile);
    CHECK_EQ(ks.clientKey, kc.clientKey);
    CHECK_EQ(ks.serverKey, kc.serverKey);
    CHECK_EQ(ks.clientSalt, kc.clientSalt);
    CHECK_EQ(ks.serverSalt, kc.serverSalt);
    CHECK(kc.clientKey != kc.serverKey);
    Bytes raw = kc.clientKey;
    raw.insert(raw.end(), kc.serverKey.begin(), kc.serverKey.end());
    raw.insert(raw.end(), kc.clientSalt.begin(), kc.clientSalt.end());
    raw.insert(raw.end(), kc.serverSalt.begin(), kc.serverSalt.end());
    CHECK_EQ(p.client.exportKeyingMaterial("EXTRACTOR-dtls_srtp", 88), raw);

    // ALPN: the server's preference on both sides
    CHECK_EQ(p.client.negotiatedApplicationProtocol(), "webrtc");
    CHECK_EQ(p.server.negotiatedApplicationProtocol(), "webrtc");
    CHECK_SEND(p, true, "keys agreed");
}

void test_session_resumption() {
    CertConfigs cfg;
    CHECK(cfg.ok);
    CHECK(!cfg.client.sessionResumption());
    CHECK(cfg.client.setSessionResumption(true));
    CHECK(cfg.server.setSessionResumption(true));
    CHECK(DtlsConfiguration(cfg.client).sessionResumption()); // copies keep it
    Bytes session;
    {
        Pair p;
        CHECK(p.connect(cfg.client, cfg.server, "localhost"));
        CHECK_MSG(p.handshake(), "client " + describe(p.client));
        CHECK_COMPLETE(p);
        CHECK(!p.client.sessionResumed());
        session = p.client.sessionData();
        CHECK(!session.empty());
        CHECK(!p.client.setSessionData(session)); // not once started
        CHECK_ERR(p.client, QDtlsError::InvalidOperation);
    }
    {
        Pair p;
        CHECK(p.connect(cfg.client, cfg.server, "localhost"));
        CHECK(!p.client.setSessionData(bytes("not a session")));
        CHECK_ERR(p.client, QDtlsError::InvalidInputParameters);
        CHECK(p.client.setSessionData(session));
        CHECK_ERR(p.client, QDtlsError::NoError);
        CHECK_MSG(p.handshake(), "client " + describe(p.client));
        CHECK_COMPLETE(p);
        CHECK(p.client.sessionResumed());
        CHECK(p.server.sessionResumed());
        CHECK_SEND(p, true, "resumed");
        CHECK_SEND(p, false, "resumed too");
    }
    qdtls::rotateSessionTicketKeys();
    {
        Pair p;
        CHECK(p.connect(cfg.client, cfg.server, "localhost"));
        CHECK(p.client.setSessionData(session));
        CHECK_MSG(p.handshake(), "client " + describe(p.client));
        CHECK(p.client.sessionResumed()); // the previous ticket key still opens it
    }
    {   // resumption off: a full handshake and no session data
        CertConfigs off;
        Pair p;
        CHECK(p.connect(off.client, off.server, "localhost"));
        CHECK(p.client.setSessionData(session)); // offered, but the server issues and takes no tickets
        CHECK_MSG(p.handshake(), "client " + describe(p.client));
        CHECK(!p.server.sessionResumed());
        CHECK(p.client.sessionData().empty());
    }
}

// Lets the client's flight time out against silence; the waits and how many retransmitted.
std::pair<std::vector<std::int64_t>, int> timeOutCompletely(QDtls &d, int fd) {
    std::vector<std::int64_t> waits;
    int retransmitted = 0;
    const auto start = Clock::now();
    while (msSince(start) < 10000) {
        const std::int64_t t = d.nextTimeoutMs();
        if (t < 0)
            break;
        waits.push_back(t);
        std::this_thread::sleep_for(std::chrono::milliseconds(t));
        while (d.nextTimeoutMs() > 0)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        if (d.handleTimeout(fd))
            ++retransmitted;
        else if (d.handshakeState() == HandshakeState::HandshakeNotStarted)
            break;
    }
    return {waits, retransmitted};
}

void test_retransmission_policy() {
    Udp cs, silentPeer;
    QDtls d(SslMode::SslClientMode);
    CHECK(d.setDtlsConfiguration(pskConfig()));
    CHECK(d.setPeer("127.0.0.1", silentPeer.port()));
    CHECK(!d.setMaxTimeoutMs(0));
    CHECK_ERR(d, QDtlsError::InvalidInputParameters);
    CHECK(!d.setMaxTimeoutMs(600001));
    CHECK(!d.setMaxRetransmissions(13));
    CHECK_ERR(d, QDtlsError::InvalidInputParameters);
    CHECK(d.setInitialTimeoutMs(40));
    CHECK(d.setMaxTimeoutMs(50));
    CHECK(d.setMaxRetransmissions(3));
    CHECK(d.setHandshakeDeadlineMs(0));
    CHECK(d.doHandshake(cs.fd));
    CHECK(!d.setMaxTimeoutMs(100));
    CHECK_ERR(d, QDtlsError::InvalidOperation);
    CHECK(!d.setMaxRetransmissions(1));
    CHECK(!d.setHandshakeDeadlineMs(100));
    CHECK_ERR(d, QDtlsError::InvalidOperation);
    auto [waits, retransmitted] = timeOutCompletely(d, cs.fd);
    CHECK_EQ(retransmitted, 3);
    CHECK_EQ(waits.size(), std::size_t{4});
    CHECK_MSG(waits[0] <= 40 && waits[1] <= 50 && waits[2] <= 50 && waits[3] <= 50 && waits[1] > 40,
              "waits " + show(waits[0]) + " " + show(waits[1]) + " " + show(waits[2]) + " " + show(waits[3]));
    CHECK_ERR(d, QDtlsError::TlsFatalError);
    int got = 0;
    while (recvWithin(silentPeer.fd, 50))
        ++got;
    CHECK_EQ(got, 4);

    // a deadline before the first timer
    CHECK(d.setInitialTimeoutMs(1000));
    CHECK(d.setHandshakeDeadlineMs(80));
    CHECK(d.doHandshake(cs.fd));
    const std::int64_t t = d.nextTimeoutMs();
    CHECK_MSG(t > 60 && t <= 80, show(t));
    auto [waits2, retransmitted2] = timeOutCompletely(d, cs.fd);
    CHECK_EQ(retransmitted2, 0);
    CHECK_ERR(d, QDtlsError::TlsFatalError);
    CHECK_MSG(d.dtlsErrorString().find("deadline") != std::string::npos, d.dtlsErrorString());
}

void test_send_callback() {
    Pair p;
    CHECK(p.connect(pskConfig(), pskConfig()));
    simplePsk(p.server);
    // Set on another object, then moved in: the callback's address survives moves.
    QDtls client(SslMode::SslClientMode);
    CHECK(client.setDtlsConfiguration(pskConfig()));
    CHECK(client.setPeer("127.0.0.1", p.ss.port()));
    simplePsk(client);
    int calls = 0;
    socklen_t lastLen = 0;
    sockaddr_in lastTo{};
    const int fd = p.cs.fd;
    bool failNext = false;
    CHECK(client.setSendCallback([&](const std::uint8_t *data, std::size_t len, const sockaddr *to, socklen_t toLen) {
        ++calls;
        lastLen = toLen;
        if (toLen == sizeof lastTo)
            std::memcpy(&lastTo, to, sizeof lastTo);
        if (failNext)
            return false;
        return sendto(fd, data, len, 0, to, toLen) == static_cast<ssize_t>(len);
    }));
    p.client = std::move(client);
    p.clientViaCallback = true;
    CHECK_MSG(p.handshake(), "client " + describe(p.client) + "; server " + describe(p.server));
    CHECK_COMPLETE(p);
    CHECK(calls >= 2);
    CHECK_EQ(lastLen, static_cast<socklen_t>(sizeof(sockaddr_in)));
    CHECK_EQ(ntohs(lastTo.sin_port), p.ss.port());
    const int before = calls;
    CHECK_SEND(p, true, "through the callback");
    CHECK_EQ(calls, before + 1);
    CHECK_SEND(p, false, "to the socket");
    failNext = true;
    CHECK_EQ(p.client.writeDatagramEncrypted(-1, std::string_view("lost")), std::int64_t{-1});
    CHECK_ERR(p.client, QDtlsError::UnderlyingSocketError);
    failNext = false;
#if defined(__cpp_exceptions)
    CHECK(p.client.setSendCallback([](const std::uint8_t *, std::size_t, const sockaddr *, socklen_t) -> bool {
        throw std::runtime_error("send failure");
    }));
    CHECK_EQ(p.client.writeDatagramEncrypted(-1, std::string_view("thrown")), std::int64_t{-1});
    CHECK_ERR(p.client, QDtlsError::UnderlyingSocketError);
#endif
    CHECK(p.client.setSendCallback(nullptr)); // removed: -1 is Qt's null socket again
    CHECK_EQ(p.client.writeDatagramEncrypted(-1, std::string_view("x")), std::int64_t{-1});
    CHECK_ERR(p.client, QDtlsError::InvalidInputParameters);
    CHECK(!recvWithin(p.ss.fd, 20));
}

struct Test {
    const char *name;
    void (*fn)();
};

const Test tests[] = {
    {"psk_handshake_with_identity_hint", test_psk_handshake_with_identity_hint},
    {"psk_mismatched_key_fails", test_psk_mismatched_key_fails},
    {"certificate_handshake_with_verification_name", test_certificate_handshake_with_verification_name},
    {"verifier_in_front_of_server", test_verifier_in_front_of_server},
    {"retransmission_with_first_datagrams_dropped", test_retransmission_with_first_datagrams_dropped},
    {"shutdown_from_each_side", test_shutdown_from_each_side},
    {"errors", test_errors},
    {"payload_limits", test_payload_limits},
    {"move_semantics", test_move_semantics},
    {"configuration_copy_independence", test_configuration_copy_independence},
    {"throwing_psk_handler", test_throwing_psk_handler},
    {"linkage", test_linkage},
    {"configuration_clear_and_reset", test_configuration_clear_and_reset},
    {"long_values", test_long_values},
    {"raw_buffer_overloads", test_raw_buffer_overloads},
    {"peer_from_scoped_sockaddr", test_peer_from_scoped_sockaddr},
    {"keying_material_srtp_and_alpn", test_keying_material_srtp_and_alpn},
    {"session_resumption", test_session_resumption},
    {"retransmission_policy", test_retransmission_policy},
    {"send_callback", test_send_callback},
    {"server_echo_and_handlers", test_server_echo_and_handlers},
    {"server_close_peer_and_reasons", test_server_close_peer_and_reasons},
    {"server_moves_and_null_handles", test_server_moves_and_null_handles},
    {"server_limits_and_idle_timeout", test_server_limits_and_idle_timeout},
    {"server_sans_io_and_shared_cookies", test_server_sans_io_and_shared_cookies},
    {"server_throwing_handlers", test_server_throwing_handlers},
};

int checkList(std::string_view list) {
    std::string expected;
    for (const Test &t : tests)
        expected += std::string(expected.empty() ? "" : ",") + t.name;
    if (list != expected) {
        std::fprintf(stderr, "registered tests:\n  %s\ndiffer from the binary's:\n  %s\n", std::string(list).c_str(),
                     expected.c_str());
        return 1;
    }
    std::printf("all %zu tests are registered\n", sizeof tests / sizeof tests[0]);
    return 0;
}

} // namespace

int main(int argc, char **argv) {
    std::setvbuf(stdout, nullptr, _IONBF, 0);
    if (argc == 2 && std::strcmp(argv[1], "--list") == 0) {
        for (const Test &t : tests)
            std::printf("%s\n", t.name);
        return 0;
    }
    if (argc == 3 && std::strcmp(argv[1], "--check-list") == 0)
        return checkList(argv[2]);
    if (argc < 2 || argc > 3) {
        std::fprintf(stderr, "usage: %s CERTDIR [TEST] | --list | --check-list LIST\n", argv[0]);
        return 2;
    }
    g_certdir = argv[1];
    int passed = 0, failed = 0;
    for (const Test &t : tests) {
        if (argc == 3 && std::strcmp(argv[2], t.name) != 0)
            continue;
        g_failed = false;
        const auto start = Clock::now();
        t.fn();
        std::printf("%-50s %s (%lld ms)\n", t.name, g_failed ? "FAILED" : "ok", msSince(start));
        (g_failed ? failed : passed)++;
    }
    if (passed + failed == 0) {
        std::fprintf(stderr, "no test named \"%s\"\n", argv[2]);
        return 2;
    }
    std::printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
