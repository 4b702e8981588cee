// Tests of qdtls::Server and qdtls::Peer (<qdtls/server.hpp> through
// <qdtls/qdtls.hpp>): one server socket on 127.0.0.1 and clients made with
// qdtls::QDtls, driven by one poll loop. Built into shim_test and
// shim_test_noexcept (the runner is in shim_test.cpp).
#include "shim_test.hpp"

#include <fcntl.h>

#include <deque>
#include <functional>
#include <memory>
#include <stdexcept>

namespace shimtest {
namespace {

using qdtls::CloseReason;
using qdtls::Peer;
using qdtls::Server;

static_assert(std::is_nothrow_move_constructible_v<Server>);
static_assert(std::is_nothrow_move_assignable_v<Server>);
static_assert(!std::is_copy_constructible_v<Server>);
static_assert(std::is_copy_constructible_v<Peer>); // a view
static_assert(std::is_base_of_v<qdtls::DtlsConnection, Peer>);
static_assert(std::is_base_of_v<qdtls::DtlsConnection, QDtls>);
static_assert(!std::is_copy_constructible_v<qdtls::DtlsConnection>); // no slicing a QDtls into a view
static_assert(static_cast<int>(CloseReason::CloseNotify) == QDTLS_CLOSE_NOTIFY);
static_assert(static_cast<int>(CloseReason::Local) == QDTLS_CLOSE_LOCAL);
static_assert(static_cast<int>(CloseReason::ServerFreed) == QDTLS_CLOSE_SERVER_FREED);

DtlsConfiguration serverConfig() { // cookies on (the default), PSK only
    DtlsConfiguration c;
    c.setPeerVerifyMode(qdtls::PeerVerifyMode::VerifyNone);
    return c;
}

struct Client {
    QDtls dtls{SslMode::SslClientMode};
    Udp udp;
    std::string name;
    Bytes got; // the last plaintext
    bool remoteClosed = false;
};

// What the application keeps per peer (its user data).
struct Record {
    std::uint16_t port = 0;
    int datagrams = 0;
};

struct Closed {
    std::uint16_t port;
    CloseReason reason;
    bool wasConnected; // had a Record
};

// A server on a non-blocking socket with default handlers (PSK key, echo,
// bookkeeping), its clients and one loop for all.
struct World {
    Udp su;
    std::vector<std::unique_ptr<Client>> clients;
    std::deque<Record> records; // stable addresses for user data
    std::vector<Peer> live;     // established peers
    std::vector<Closed> closed; // onClosed
    std::vector<Closed> failed; // onHandshakeFailed
    int connected = 0, datagrams = 0, psk = 0;
    Server server; // last: destroyed first, while what its handlers touch is still there

    explicit World(const DtlsConfiguration &c = serverConfig()) : server(c) {
        fcntl(su.fd, F_SETFL, O_NONBLOCK);
        server.onPskRequired([this](Peer &, qdtls::QSslPreSharedKeyAuthenticator *a) {
            ++psk;
            a->setPreSharedKey(kKey);
        });
        server.onConnected([this](Peer &p) {
            ++connected;
            records.push_back(Record{p.peerPort(), 0});
            p.setUserData(&records.back());
            live.push_back(p);
        });
        server.onDatagram([this](Peer &p, const std::uint8_t *d, std::size_t n) { echo(p, d, n); });
        server.onClosed([this](Peer &p, CloseReason r) {
            closed.push_back({p.peerPort(), r, p.userData() != nullptr});
            for (auto it = live.begin(); it != live.end(); ++it)
                if (*it == p) {
                    live.erase(it);
                    break;
                }
        });
        server.onHandshakeFailed([this](Peer &p, CloseReason r) {
            failed.push_back({p.peerPort(), r, p.userData() != nullptr});
        });
    }

    void echo(Peer &p, const std::uint8_t *d, std::size_t n) {
        ++datagrams;
        if (auto *r = static_cast<Record *>(p.userData()))
            ++r->datagrams;
        p.writeDatagramEncrypted(su.fd, "echo: " + std::string(reinterpret_cast<const char *>(d), n));
    }

    Client &connect() {
        auto c = std::make_unique<Client>();
        c->name = "shim-client-" + std::to_string(clients.size());
        c->dtls.setDtlsConfiguration(pskConfig());
        c->dtls.setPeer("127.0.0.1", su.port());
        c->dtls.setInitialTimeoutMs(200);
        simplePsk(c->dtls, c->name);
        c->dtls.doHandshake(c->udp.fd);
        clients.push_back(std::move(c));
        return *clients.back();
    }

    Peer *peerOf(const Client &c) {
        for (Peer &p : live)
            if (p.peerPort() == c.udp.port())
                return &p;
        return nullptr;
    }

    void pumpOnce(int maxMs) {
        std::int64_t wait = maxMs;
        std::vector<pollfd> fds{{su.fd, POLLIN, 0}};
        auto shorter = [&](std::int64_t t) {
            if (t >= 0 && t < wait)
                wait = t;
        };
        shorter(server.nextTimeoutMs());
        for (auto &c : clients) {
            fds.push_back({c->udp.fd, POLLIN, 0});
            shorter(c->dtls.nextTimeoutMs());
        }
        poll(fds.data(), fds.size(), static_cast<int>(wait));
        server.receive(su.fd);
        server.handleTimeouts(su.fd);
        for (auto &c : clients) {
            while (auto d = recvWithin(c->udp.fd, 0)) {
                if (c->dtls.handshakeState() == HandshakeState::HandshakeInProgress) {
                    c->dtls.doHandshake(c->udp.fd, d->data);
                } else if (c->dtls.isConnectionEncrypted()) {
                    Bytes plain = c->dtls.decryptDatagram(c->udp.fd, d->data);
                    if (!plain.empty())
                        c->got = std::move(plain);
                    if (c->dtls.dtlsError() == QDtlsError::RemoteClosedConnectionError)
                        c->remoteClosed = true;
                }
            }
            if (c->dtls.handshakeState() == HandshakeState::HandshakeInProgress && c->dtls.nextTimeoutMs() == 0)
                c->dtls.handleTimeout(c->udp.fd);
        }
    }

    // Each round tests `cond` once (it may consume what it looks at).
    bool pumpUntil(const std::function<bool()> &cond, int limitMs) {
        for (const auto start = Clock::now(); !cond(); pumpOnce(20))
            if (msSince(start) >= limitMs)
                return false;
        return true;
    }

    void pumpFor(int ms) {
        const auto start = Clock::now();
        while (msSince(start) < ms)
            pumpOnce(10);
    }

    std::string state() const {
        return std::to_string(connected) + " connected, " + std::to_string(closed.size()) + " closed, " +
               std::to_string(server.peerCount()) + " peers, server error '" + server.serverErrorString() + "'";
    }

    // Sends `text` from a client; what came back ("" if nothing).
    std::string roundTrip(Client &c, const std::string &text) {
        c.got.clear();
        if (c.dtls.writeDatagramEncrypted(c.udp.fd, text) != static_cast<std::int64_t>(text.size()))
            return "";
        pumpUntil([&] { return !c.got.empty(); }, 5000);
        return std::string(c.got.begin(), c.got.end());
    }
};

#define PUMP_UNTIL(w, cond, limitMs)                                                                                   \
    CHECK_MSG((w).pumpUntil([&] { return static_cast<bool>(cond); }, (limitMs)), "not " #cond ": " + (w).state())

#define CONNECT_CLIENTS(w, n)                                                                                          \
    do {                                                                                                               \
        for (int k_ = 0; k_ < (n); ++k_)                                                                               \
            (w).connect();                                                                                             \
        PUMP_UNTIL(w, (w).connected == (n) && (w).clients.back()->dtls.isConnectionEncrypted(), 10000);                \
    } while (0)

#define CHECK_ECHO(w, c, text) CHECK_EQ((w).roundTrip((c), (text)), std::string("echo: ") + (text))

} // namespace

// Three clients through cookies and PSK; Peer's getters (shared with QDtls)
// agree with each client's; user data; echoes; the server cannot be driven
// from inside its handlers; shutdown() says goodbye to all.
void test_server_echo_and_handlers() {
    World w;
    std::int64_t reentry = 0;
    QDtlsError reentryError = QDtlsError::NoError;
    CHECK(w.server.nativeHandle() != nullptr);
    CHECK_EQ(w.server.nextTimeoutMs(), std::int64_t{-1});
    CONNECT_CLIENTS(w, 3);
    CHECK_EQ(w.server.peerCount(), std::size_t{3});
    CHECK_EQ(w.server.handshakeCount(), std::size_t{0});
    CHECK(w.psk >= 3);
    for (auto &c : w.clients) {
        Peer *p = w.peerOf(*c);
        CHECK_MSG(p != nullptr, c->name);
        CHECK_EQ(p->sslMode(), SslMode::SslServerMode);
        CHECK_EQ(p->handshakeState(), HandshakeState::HandshakeComplete);
        CHECK(p->isConnectionEncrypted());
        CHECK_EQ(p->peerAddress(), std::string("127.0.0.1"));
        CHECK_EQ(p->sessionCipher(), c->dtls.sessionCipher());
        CHECK_EQ(p->sessionProtocol(), c->dtls.sessionProtocol());
        CHECK_EQ(p->exportKeyingMaterial("EXPORTER-test", 16), c->dtls.exportKeyingMaterial("EXPORTER-test", 16));
        CHECK_EQ(static_cast<Record *>(p->userData())->port, c->udp.port());
        CHECK_ECHO(w, *c, "hello from " + c->name);
    }
    bool innerSet = true;
    CHECK(w.server.onDatagram([&](Peer &p, const std::uint8_t *d, std::size_t n) {
        reentry = w.server.receive(w.su.fd);
        reentryError = w.server.serverError();
        innerSet = w.server.onClosed(nullptr); // busy: refused, the handler stays
        w.echo(p, d, n);
    }));
    CHECK_ECHO(w, *w.clients[1], "second");
    CHECK_EQ(reentry, std::int64_t{-1});
    CHECK_EQ(reentryError, QDtlsError::InvalidOperation);
    CHECK(!innerSet);
    CHECK_EQ(w.datagrams, 4);
    CHECK_EQ(static_cast<Record *>(w.peerOf(*w.clients[1])->userData())->datagrams, 2);
    CHECK(w.closed.empty());

    CHECK_EQ(w.server.shutdown(w.su.fd), std::int64_t{3});
    CHECK_EQ(w.closed.size(), std::size_t{3});
    for (const Closed &c : w.closed)
        CHECK_EQ(c.reason, CloseReason::Local);
    CHECK(w.live.empty());
    CHECK(w.failed.empty());
    CHECK_EQ(w.server.peerCount(), std::size_t{0});
    PUMP_UNTIL(w, w.clients[0]->remoteClosed && w.clients[1]->remoteClosed && w.clients[2]->remoteClosed, 5000);
}

// close_notify from a client; closePeer() from outside; Peer::shutdown();
// closePeer() inside onDatagram, deferred until the handler returns; the
// Server's destructor with a peer left (ServerFreed, handlers still there).
void test_server_close_peer_and_reasons() {
    std::vector<Closed> afterDestruction;
    {
        World w;
        CONNECT_CLIENTS(w, 4);
        Client &c0 = *w.clients[0], &c1 = *w.clients[1], &c2 = *w.clients[2], &c3 = *w.clients[3];

        CHECK(c0.dtls.shutdown(c0.udp.fd));
        PUMP_UNTIL(w, w.closed.size() == 1, 5000);
        CHECK_EQ(w.closed[0].reason, CloseReason::CloseNotify);
        CHECK_EQ(w.closed[0].port, c0.udp.port());

        CHECK(w.peerOf(c1) != nullptr);
        CHECK(w.server.closePeer(w.su.fd, *w.peerOf(c1)));
        CHECK_EQ(w.closed.size(), std::size_t{2});
        CHECK_EQ(w.closed[1].reason, CloseReason::Local);
        CHECK_EQ(w.closed[1].port, c1.udp.port());
        PUMP_UNTIL(w, c1.remoteClosed, 5000);

        // Peer::shutdown() from inside a handler: close_notify, then onClosed(Local) when it returns
        CHECK(w.peerOf(c2) != nullptr);
        Peer p2 = *w.peerOf(c2); // a copy views the same peer
        CHECK(p2 == *w.peerOf(c2));
        CHECK(!(p2 == *w.peerOf(c3)));
        bool shutdownResult = false;
        CHECK(w.server.onDatagram([&](Peer &p, const std::uint8_t *, std::size_t) {
            if (p == p2)
                shutdownResult = p.shutdown(w.su.fd);
        }));
        CHECK_EQ(c2.dtls.writeDatagramEncrypted(c2.udp.fd, std::string_view("bye")), std::int64_t{3});
        PUMP_UNTIL(w, w.closed.size() == 3, 5000);
        CHECK(shutdownResult);
        CHECK_EQ(w.closed[2].reason, CloseReason::Local);
        CHECK_EQ(w.closed[2].port, c2.udp.port());
        PUMP_UNTIL(w, c2.remoteClosed, 5000);

        bool closedInside = false, closeResult = false;
        std::uint16_t portAfterClose = 0;
        CHECK(w.server.onDatagram([&](Peer &p, const std::uint8_t *d, std::size_t n) {
            w.echo(p, d, n);
            const std::size_t before = w.closed.size();
            closeResult = w.server.closePeer(w.su.fd, p);
            closedInside = w.closed.size() != before;
            portAfterClose = p.peerPort(); // still valid until the handler returns
        }));
        CHECK_ECHO(w, c3, "last words");
        PUMP_UNTIL(w, w.closed.size() == 4, 5000);
        CHECK(closeResult);
        CHECK(!closedInside);
        CHECK_EQ(portAfterClose, c3.udp.port());
        CHECK_EQ(w.closed[3].reason, CloseReason::Local);
        PUMP_UNTIL(w, c3.remoteClosed, 5000);
        CHECK_EQ(w.server.peerCount(), std::size_t{0});

        // One more, left to the destructor.
        Client &c4 = w.connect();
        PUMP_UNTIL(w, c4.dtls.isConnectionEncrypted() && w.connected == 5, 10000);
        CHECK(w.server.onClosed([&](Peer &p, CloseReason r) { afterDestruction.push_back({p.peerPort(), r, true}); }));
    }
    CHECK_EQ(afterDestruction.size(), std::size_t{1});
    CHECK_EQ(afterDestruction[0].reason, CloseReason::ServerFreed);
}

// Moves keep the handlers (heap slots); a moved-from Server answers every
// call with false, -1 or 0; moving onto a server with peers frees them
// (ServerFreed through that server's own handlers).
void test_server_moves_and_null_handles() {
    CHECK_EQ(std::string(qdtls::closeReasonName(CloseReason::IdleTimeout)), std::string("idle timeout"));
    CHECK_EQ(std::string(qdtls::closeReasonName(static_cast<CloseReason>(99))), std::string("unknown"));

    World w;
    CONNECT_CLIENTS(w, 1);
    Server moved(std::move(w.server));
    CHECK(w.server.nativeHandle() == nullptr);
    CHECK(moved.nativeHandle() != nullptr);
    CHECK_EQ(moved.peerCount(), std::size_t{1});
    // the handlers set before the move still run (World's loop drives w.server: this one by hand)
    Client &c = *w.clients[0];
    CHECK_EQ(c.dtls.writeDatagramEncrypted(c.udp.fd, std::string_view("after the move")), std::int64_t{14});
    for (const auto start = Clock::now(); w.datagrams == 0 && msSince(start) < 5000;) {
        pollfd p{w.su.fd, POLLIN, 0};
        poll(&p, 1, 20);
        moved.receive(w.su.fd);
    }
    CHECK_EQ(w.datagrams, 1);

    // everything on the moved-from server: no crash, false / -1 / 0
    Server &gone = w.server;
    const sockaddr_in any{};
    CHECK_EQ(gone.receive(w.su.fd), std::int64_t{-1});
    CHECK(!gone.handleDatagram(-1, reinterpret_cast<const sockaddr *>(&any), sizeof any, Bytes{1}));
    CHECK_EQ(gone.nextTimeoutMs(), std::int64_t{-1});
    CHECK_EQ(gone.handleTimeouts(-1), std::int64_t{-1});
    CHECK_EQ(gone.shutdown(-1), std::int64_t{-1});
    CHECK_EQ(gone.peerCount(), std::size_t{0});
    CHECK_EQ(gone.handshakeCount(), std::size_t{0});
    CHECK(!gone.setMaxPeers(1) && !gone.setMaxHandshakes(1) && !gone.setMaxPeersPerAddress(1));
    CHECK(!gone.setIdleTimeoutMs(1) && !gone.setHandshakeTimeoutMs(1) && !gone.rotateCookieSecret(0));
    CHECK(!gone.setCookieGeneratorParameters({qdtls::HashAlgorithm::Sha256, bytes("secret")}));
    CHECK(!gone.shareCookieSecret(moved) && !moved.shareCookieSecret(gone));
    CHECK(gone.serverError() != QDtlsError::NoError);
    gone.serverErrorString();
    CHECK(!gone.onConnected([](Peer &) {}));
    CHECK(!gone.onPskRequired(nullptr));
    CHECK(!gone.setSendCallback(nullptr));
    CHECK(!moved.closePeer(-1, Peer(nullptr)));
    CHECK_EQ(moved.serverError(), QDtlsError::InvalidInputParameters);
    CHECK(!moved.serverErrorString().empty());

    // move-assigning over a server with a peer: that server's handlers see ServerFreed
    std::vector<CloseReason> reasons;
    CHECK(moved.onClosed([&](Peer &, CloseReason r) { reasons.push_back(r); }));
    moved = Server(serverConfig());
    CHECK_EQ(reasons.size(), std::size_t{1});
    CHECK_EQ(reasons[0], CloseReason::ServerFreed);
    CHECK_EQ(moved.peerCount(), std::size_t{0});
    CHECK(moved.setMaxPeers(10) && moved.setCookieGeneratorParameters({qdtls::HashAlgorithm::Sha256, bytes("s")}));
    CHECK_EQ(moved.serverError(), QDtlsError::NoError);
    CHECK_EQ(moved.serverErrorString(), std::string());
}

// One peer per address: a stalled handshake makes room for a new client
// (Evicted, through onHandshakeFailed); a second client waits; the first
// goes idle and is dropped (IdleTimeout), then the second gets in.
void test_server_limits_and_idle_timeout() {
    World w;
    CHECK(w.server.setMaxPeersPerAddress(1));
    CHECK(w.server.setMaxPeers(100) && w.server.setMaxHandshakes(10) && w.server.setHandshakeTimeoutMs(5000));
    CHECK(w.server.setIdleTimeoutMs(600));

    // a client that stops after the cookie exchange (not one of w's: nothing drives it)
    QDtls stalled(SslMode::SslClientMode);
    Udp stalledUdp;
    CHECK(stalled.setDtlsConfiguration(pskConfig()) && stalled.setPeer("127.0.0.1", w.su.port()));
    simplePsk(stalled);
    CHECK(stalled.doHandshake(stalledUdp.fd));
    std::optional<Datagram> verify;
    PUMP_UNTIL(w, (verify = recvWithin(stalledUdp.fd, 0)).has_value(), 5000);
    CHECK(stalled.doHandshake(stalledUdp.fd, verify->data));
    PUMP_UNTIL(w, w.server.handshakeCount() == 1, 5000);
    CONNECT_CLIENTS(w, 1);
    CHECK_EQ(w.failed.size(), std::size_t{1});
    CHECK_EQ(w.failed[0].reason, CloseReason::Evicted);
    CHECK_EQ(w.failed[0].port, stalledUdp.port());

    Client &second = w.connect();
    w.pumpFor(300);
    CHECK(!second.dtls.isConnectionEncrypted());
    CHECK_EQ(w.connected, 1);
    CHECK(w.closed.empty());
    PUMP_UNTIL(w, w.closed.size() == 1, 5000);
    CHECK_EQ(w.closed[0].reason, CloseReason::IdleTimeout);
    CHECK_EQ(w.closed[0].port, w.clients[0]->udp.port());
    PUMP_UNTIL(w, second.dtls.isConnectionEncrypted() && w.connected == 2, 10000);
    CHECK_ECHO(w, second, "my turn");
}

// The sans-I/O path: the test reads the server socket itself and calls
// handleDatagram(); replies go through the send callback (socket -1). A
// cookie server `a` issued passes at `b`, which shares a's secret, and not
// at a server with a secret of its own.
void test_server_sans_io_and_shared_cookies() {
    Udp su, cu;
    Server a(serverConfig()), b(serverConfig()), stranger(serverConfig());
    int sent = 0, strangerSent = 0, connected = 0;
    std::string got;
    const auto viaSocket = [&](const std::uint8_t *d, std::size_t n, const sockaddr *to, socklen_t len) {
        ++sent;
        return sendto(su.fd, d, n, 0, to, len) == static_cast<ssize_t>(n);
    };
    CHECK(b.shareCookieSecret(a));
    CHECK(a.setSendCallback(viaSocket) && b.setSendCallback(viaSocket));
    CHECK(stranger.setSendCallback([&](const std::uint8_t *, std::size_t, const sockaddr *, socklen_t) {
        ++strangerSent;
        return true;
    }));
    CHECK(b.onPskRequired([](Peer &, qdtls::QSslPreSharedKeyAuthenticator *auth) { auth->setPreSharedKey(kKey); }));
    CHECK(b.onConnected([&](Peer &) { ++connected; }));
    CHECK(b.onDatagram([&](Peer &p, const std::uint8_t *d, std::size_t n) {
        got.assign(reinterpret_cast<const char *>(d), n);
        p.writeDatagramEncrypted(-1, std::string_view("pong"));
    }));
    QDtls client(SslMode::SslClientMode);
    CHECK(client.setDtlsConfiguration(pskConfig()) && client.setPeer("127.0.0.1", su.port()));
    simplePsk(client);
    const auto handle = [](Server &s, const Datagram &d) {
        return s.handleDatagram(-1, reinterpret_cast<const sockaddr *>(&d.from), sizeof d.from, d.data);
    };

    CHECK(client.doHandshake(cu.fd));
    auto hello = recvWithin(su.fd, 5000);
    CHECK(hello.has_value());
    CHECK(handle(a, *hello));
    CHECK_EQ(sent, 1);
    CHECK_EQ(a.peerCount(), std::size_t{0}); // stateless
    auto verify = recvWithin(cu.fd, 5000);
    CHECK(verify.has_value());
    CHECK_EQ(handshakeType(verify->data), 3); // HelloVerifyRequest
    CHECK(client.doHandshake(cu.fd, verify->data));
    auto cookieHello = recvWithin(su.fd, 5000);
    CHECK(cookieHello.has_value());
    handle(stranger, *cookieHello);
    CHECK_EQ(stranger.peerCount(), std::size_t{0});
    CHECK_EQ(strangerSent, 1); // a HelloVerifyRequest with its own cookie
    CHECK(handle(b, *cookieHello));
    CHECK_EQ(b.handshakeCount(), std::size_t{1});

    for (const auto start = Clock::now(); !(client.isConnectionEncrypted() && connected == 1);) {
        CHECK_MSG(msSince(start) < 10000, "client " + describe(client) + "; server '" + b.serverErrorString() + "'");
        if (auto d = recvWithin(su.fd, 20))
            handle(b, *d);
        if (auto d = recvWithin(cu.fd, 0))
            client.doHandshake(cu.fd, d->data);
        if (b.nextTimeoutMs() == 0)
            b.handleTimeouts(-1);
        if (client.nextTimeoutMs() == 0)
            client.handleTimeout(cu.fd);
    }
    CHECK_EQ(b.peerCount(), std::size_t{1});
    CHECK_EQ(client.writeDatagramEncrypted(cu.fd, std::string_view("ping")), std::int64_t{4});
    auto ping = recvWithin(su.fd, 5000);
    CHECK(ping.has_value());
    CHECK(handle(b, *ping));
    CHECK_EQ(got, std::string("ping"));
    auto pong = recvWithin(cu.fd, 5000);
    CHECK(pong.has_value());
    CHECK_EQ(client.decryptDatagram(cu.fd, pong->data), bytes("pong"));
    CHECK(a.rotateCookieSecret(0) && b.rotateCookieSecret(1000));
}

// A handler that throws never reaches the C library: the PSK one fails that
// handshake; the others are dropped and the server goes on.
void test_server_throwing_handlers() {
#if defined(__cpp_exceptions)
    World w;
    bool failPsk = true;
    CHECK(w.server.onPskRequired([&](Peer &, qdtls::QSslPreSharedKeyAuthenticator *a) {
        if (failPsk)
            throw std::runtime_error("psk handler failure");
        a->setPreSharedKey(kKey);
    }));
    Client &first = w.connect();
    PUMP_UNTIL(w, w.failed.size() == 1, 5000); // no key: that handshake fails
    CHECK(!first.dtls.isConnectionEncrypted());
    CHECK_EQ(w.connected, 0);
    CHECK(w.closed.empty());

    failPsk = false;
    CHECK(w.server.onConnected([](Peer &) { throw std::runtime_error("connected handler failure"); }));
    CHECK(w.server.onDatagram([](Peer &, const std::uint8_t *, std::size_t) { throw std::logic_error("datagram"); }));
    CHECK(w.server.onClosed([](Peer &, CloseReason) { throw 42; }));
    Client &second = w.connect();
    PUMP_UNTIL(w, second.dtls.isConnectionEncrypted(), 10000);
    CHECK_EQ(second.dtls.writeDatagramEncrypted(second.udp.fd, std::string_view("into the void")), std::int64_t{13});
    w.pumpFor(100);
    CHECK_EQ(w.server.peerCount(), std::size_t{1});
    // ~World: ~Server calls the throwing onClosed (ServerFreed) from a noexcept destructor
#else
    std::printf("  (built without exceptions: nothing to throw)\n");
#endif
}

} // namespace shimtest
