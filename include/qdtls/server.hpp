// <qdtls/server.hpp> (also included by <qdtls/qdtls.hpp>): qdtls::Server, a
// DTLS server for many peers on one UDP socket, over the C API's
// qdtls_server; and qdtls::Peer, the view of one of its connections.
//
// - The server owns its peers: it demultiplexes datagrams by address, checks
//   cookies statelessly, runs the handshakes, decrypts, and keeps one timer
//   for all peers. The application only reads the socket (receive() or
//   handleDatagram()) and waits nextTimeoutMs() before handleTimeouts().
// - Events are handlers, called from inside those calls on the thread that
//   makes them: onConnected, onDatagram, onClosed, onHandshakeFailed,
//   onPskRequired. An
//   exception a handler throws never reaches the C library: it is dropped
//   (a PSK handler that throws sets no key, so that handshake fails).
// - A Peer is valid until the onClosed handler (connected peers) or the
//   onHandshakeFailed handler (the others) for it returns; then it must not
//   be used. Never keep a Peer past that (key maps by nativeHandle() and
//   erase in onClosed, or hang your state on setUserData()).
// - No exceptions are thrown (usable with -fno-exceptions); errors are
//   return values plus serverError() / serverErrorString().
#ifndef QDTLS_SERVER_HPP
#define QDTLS_SERVER_HPP

#include "qdtls.hpp"

namespace qdtls {

/// Why a server's peer went away (onClosed's and onHandshakeFailed's reason), with the C values.
enum class CloseReason : int {
    /// The peer sent close_notify.
    CloseNotify = QDTLS_CLOSE_NOTIFY,
    /// A fatal alert, sent or received: handshake failure, bad record, verification failure.
    FatalAlert = QDTLS_CLOSE_FATAL_ALERT,
    /// Idle too long, handshake not complete in time, or no answer to retransmissions.
    IdleTimeout = QDTLS_CLOSE_IDLE_TIMEOUT,
    /// Dropped to make room under a limit.
    Evicted = QDTLS_CLOSE_EVICTED,
    /// The same address and port completed a new handshake (the client restarted).
    Replaced = QDTLS_CLOSE_REPLACED,
    /// Any other error.
    Error = QDTLS_CLOSE_ERROR,
    /// The application closed it: Server::closePeer(), Peer::shutdown(), Server::shutdown().
    Local = QDTLS_CLOSE_LOCAL,
    /// The Server was destroyed while the peer was there (nothing was sent).
    ServerFreed = QDTLS_CLOSE_SERVER_FREED,
};

/// A short English name of a close reason ("close_notify", "idle timeout"...).
inline const char *closeReasonName(CloseReason r) {
    switch (r) {
    case CloseReason::CloseNotify: return "close_notify";
    case CloseReason::FatalAlert: return "fatal alert";
    case CloseReason::IdleTimeout: return "idle timeout";
    case CloseReason::Evicted: return "evicted";
    case CloseReason::Replaced: return "replaced";
    case CloseReason::Error: return "error";
    case CloseReason::Local: return "closed locally";
    case CloseReason::ServerFreed: return "server destroyed";
    }
    return "unknown";
}

/// One of a Server's peers: a non-owning view of a connection the Server
/// owns, with QDtls's getters, writeDatagramEncrypted() and shutdown()
/// (the server then closes the peer with CloseReason::Local: at once inside
/// its handlers, else at its next call, which nextTimeoutMs() asks for at
/// once; Server::closePeer() does both in one step). Copies
/// view the same peer. Valid until the onClosed (or, for a peer that never
/// connected, onHandshakeFailed) handler for the peer returns.
class Peer : public DtlsConnection {
public:
    explicit Peer(::qdtls_connection *h) noexcept : DtlsConnection(h) {}
    Peer(const Peer &) = default;
    Peer &operator=(const Peer &) = default;
    ~Peer() = default;

    friend bool operator==(const Peer &a, const Peer &b) { return a.nativeHandle() == b.nativeHandle(); }
    friend bool operator!=(const Peer &a, const Peer &b) { return !(a == b); }
};

/// A DTLS server: every peer of one UDP socket (or of several sockets, or of
/// a send callback), driven by the application's poll loop:
///
///     qdtls::Server server(config);
///     server.onDatagram([&](qdtls::Peer &p, const std::uint8_t *d, std::size_t n) {
///         p.writeDatagramEncrypted(fd, d, n); });
///     for (;;) {  // fd: a non-blocking UDP socket
///         pollfd pfd{fd, POLLIN, 0};
///         poll(&pfd, 1, static_cast<int>(std::min<std::int64_t>(server.nextTimeoutMs(), 60000)));
///         server.receive(fd);
///         server.handleTimeouts(fd);
///     }
///
/// Move-only; used from one thread at a time (one Server per thread for
/// several cores, sharing a cookie secret with shareCookieSecret()).
class Server {
public:
    using Peer = qdtls::Peer;
    /// A handshake completed.
    using ConnectedHandler = std::function<void(Peer &peer)>;
    /// A decrypted datagram (valid during the call only).
    using DatagramHandler = std::function<void(Peer &peer, const std::uint8_t *data, std::size_t len)>;
    /// A connected peer is gone (once for every onConnected); `peer` is
    /// invalid once this returns. Also the type of onHandshakeFailed: a
    /// peer gone before its handshake completed.
    using ClosedHandler = std::function<void(Peer &peer, CloseReason reason)>;
    /// A handshaking peer needs its pre-shared key (pskRequired).
    using PskHandler = std::function<void(Peer &peer, QSslPreSharedKeyAuthenticator *authenticator)>;
    using SendCallback = qdtls::SendCallback;

    /// A server with a copy of `configuration` (cookies per its
    /// dtlsCookieVerificationEnabled(), on by default).
    explicit Server(const DtlsConfiguration &configuration = DtlsConfiguration())
        : h_(qdtls_server_new(configuration.nativeHandle())), handlers_(std::make_unique<Handlers>()) {}
    Server(Server &&o) noexcept : h_(std::exchange(o.h_, nullptr)), handlers_(std::move(o.handlers_)) {}
    Server &operator=(Server &&o) noexcept {
        if (this != &o) {
            // Ours goes first, while the handlers its onClosed(ServerFreed) calls are still here.
            qdtls_server_free(std::exchange(h_, std::exchange(o.h_, nullptr)));
            handlers_ = std::move(o.handlers_);
        }
        return *this;
    }
    Server(const Server &) = delete;
    Server &operator=(const Server &) = delete;
    /// Calls onClosed (or onHandshakeFailed) with ServerFreed for every peer
    /// left (nothing is sent: call shutdown() first to say goodbye).
    ~Server() { qdtls_server_free(h_); }

    /// The C handle (owned by this object), e.g. to check it is not NULL.
    ::qdtls_server *nativeHandle() const { return h_; }

    // ---- events. Setting one from inside a handler fails (the server is busy). ----

    /// False, and the handler unchanged, for a moved-from server or from
    /// inside a handler (the one running may be the one being replaced).
    bool onConnected(ConnectedHandler handler) { return setHandler(&Handlers::connected, std::move(handler)); }
    bool onDatagram(DatagramHandler handler) { return setHandler(&Handlers::datagram, std::move(handler)); }
    bool onClosed(ClosedHandler handler) { return setHandler(&Handlers::closed, std::move(handler)); }
    /// A peer gone before its handshake completed (failed, timed out,
    /// evicted, replaced by a newer handshake of the same client; onConnected
    /// never came for it).
    bool onHandshakeFailed(ClosedHandler handler) {
        return setHandler(&Handlers::handshakeFailed, std::move(handler));
    }
    /// The pskRequired signal, per peer: `handler` fills in the key (it may
    /// read the peer's address and the client's identity). Peers made from
    /// now on use it.
    bool onPskRequired(PskHandler handler) {
        if (!handlers_ || handlers_->running ||
            !qdtls_server_set_psk_callback(h_, handler ? &Server::pskTrampoline : nullptr, handlers_.get()))
            return false;
        handlers_->psk = std::move(handler);
        return true;
    }
    /// Sends through `callback` whenever a call passes socket -1 (the
    /// server's and its peers'); an empty function removes it. An exception
    /// it throws counts as a failed send. Not from inside the callback itself.
    bool setSendCallback(SendCallback callback) {
        if (!handlers_ ||
            !qdtls_server_set_send_callback(h_, callback ? &detail::sendTrampoline : nullptr, &handlers_->send))
            return false;
        handlers_->send = std::move(callback);
        return true;
    }

    // ---- driving it ----

    /// Reads and handles every datagram waiting on the non-blocking `socket`:
    /// how many, or -1 (see serverError()).
    std::int64_t receive(int socket) { return qdtls_server_receive(h_, socket); }
    /// Sans-I/O: handles one datagram that came from `from`; replies go to
    /// `socket` (or the send callback when it is -1).
    bool handleDatagram(int socket, const sockaddr *from, socklen_t fromLen, const void *dgram, std::size_t len) {
        return qdtls_server_handle_datagram(h_, socket, from, fromLen, detail::u8(dgram), len);
    }
    bool handleDatagram(int socket, const sockaddr *from, socklen_t fromLen, const Bytes &dgram) {
        return handleDatagram(socket, from, fromLen, dgram.data(), dgram.size());
    }
    /// Milliseconds until handleTimeouts() is due; 0 = now; -1 = no timer.
    std::int64_t nextTimeoutMs() const { return qdtls_server_next_timeout_ms(h_); }
    /// Retransmissions, handshake and idle timeouts that are due: how many
    /// peers were handled, or -1.
    std::int64_t handleTimeouts(int socket) { return qdtls_server_handle_timeouts(h_, socket); }
    /// Sends close_notify to `peer` (if connected) and removes it: onClosed
    /// (onHandshakeFailed for a handshaking peer) with CloseReason::Local.
    /// From inside a handler it takes effect when the handler returns.
    bool closePeer(int socket, const Peer &peer) { return qdtls_server_close_peer(h_, socket, peer.nativeHandle()); }
    /// Closes every peer (close_notify to the established ones): how many, or -1.
    std::int64_t shutdown(int socket) { return qdtls_server_shutdown(h_, socket); }

    /// Established and handshaking peers.
    std::size_t peerCount() const { return qdtls_server_peer_count(h_); }
    /// Handshaking peers only.
    std::size_t handshakeCount() const { return qdtls_server_handshake_count(h_); }

    // ---- limits (0 = unlimited / never) ----

    /// Default 65536.
    bool setMaxPeers(std::size_t n) { return qdtls_server_set_max_peers(h_, n); }
    /// Default 1024.
    bool setMaxHandshakes(std::size_t n) { return qdtls_server_set_max_handshakes(h_, n); }
    /// Peers from one IP address (any port); default unlimited.
    bool setMaxPeersPerAddress(std::size_t n) { return qdtls_server_set_max_peers_per_address(h_, n); }
    /// Established peers silent this long go away (IdleTimeout); default never.
    bool setIdleTimeoutMs(std::uint32_t ms) { return qdtls_server_set_idle_timeout_ms(h_, ms); }
    /// A handshake must complete within this; default 30000.
    bool setHandshakeTimeoutMs(std::uint32_t ms) { return qdtls_server_set_handshake_timeout_ms(h_, ms); }
    std::size_t maxPeers() const { return qdtls_server_max_peers(h_); }
    std::size_t maxHandshakes() const { return qdtls_server_max_handshakes(h_); }
    std::size_t maxPeersPerAddress() const { return qdtls_server_max_peers_per_address(h_); }
    std::uint32_t idleTimeoutMs() const { return qdtls_server_idle_timeout_ms(h_); }
    std::uint32_t handshakeTimeoutMs() const { return qdtls_server_handshake_timeout_ms(h_); }

    // ---- cookies (QDtlsClientVerifier's, built in) ----

    bool setCookieGeneratorParameters(const GeneratorParameters &p) {
        return qdtls_server_set_cookie_generator_parameters(h_, static_cast<int>(p.hash), p.secret.data(),
                                                            p.secret.size());
    }
    /// A new random secret; cookies of the old one still pass for `graceMs`.
    bool rotateCookieSecret(std::uint32_t graceMs) { return qdtls_server_rotate_cookie_secret(h_, graceMs); }
    /// Uses `from`'s secret (and its rotations) from now on: servers on
    /// SO_REUSEPORT sockets accept each other's cookies.
    bool shareCookieSecret(const Server &from) { return qdtls_server_share_cookie_secret(h_, from.h_); }

    /// The error of the last call on this server (InvalidInputParameters
    /// for a moved-from one).
    QDtlsError serverError() const { return static_cast<QDtlsError>(qdtls_server_error(h_)); }
    std::string serverErrorString() const {
        return detail::readString([&](char *b, std::size_t c) { return qdtls_server_error_string(h_, b, c); });
    }

private:
    // Heap-allocated so the address given to the C library survives moves.
    struct Handlers {
        ConnectedHandler connected;
        DatagramHandler datagram;
        ClosedHandler closed;
        ClosedHandler handshakeFailed;
        PskHandler psk;
        SendCallback send;
        int running = 0; // handlers running now (nested: a handler may close a peer)
    };

    // Registers the callbacks as they will be with `handler` in `slot` (only
    // the handlers that are set: the library skips the others), and stores
    // it only if the library took them.
    template <class H> bool setHandler(H Handlers::*slot, H handler) {
        if (!handlers_ || handlers_->running)
            return false;
        Handlers &h = *handlers_;
        const void *changing = &(h.*slot);
        auto willBeSet = [&](const auto &current) { return &current == changing ? bool(handler) : bool(current); };
        ::qdtls_server_callbacks cb{};
        cb.on_connected = willBeSet(h.connected) ? &Server::connectedTrampoline : nullptr;
        cb.on_datagram = willBeSet(h.datagram) ? &Server::datagramTrampoline : nullptr;
        cb.on_closed = willBeSet(h.closed) ? &Server::closedTrampoline : nullptr;
        cb.on_handshake_failed = willBeSet(h.handshakeFailed) ? &Server::handshakeFailedTrampoline : nullptr;
        if (!qdtls_server_set_callbacks(h_, &cb, handlers_.get()))
            return false;
        h.*slot = std::move(handler);
        return true;
    }

    // Runs a handler of `user` (a Handlers) with `peer`, if it is set: no
    // exception gets out to the C library.
    template <class H, class... Args> static void run(void *user, H Handlers::*slot, Args &&...args) {
        Handlers &h = *static_cast<Handlers *>(user);
        if (!(h.*slot))
            return; // removed while the library was running with the callbacks of before
        ++h.running;
        detail::guarded([&] { (h.*slot)(std::forward<Args>(args)...); });
        --h.running;
    }

    static void connectedTrampoline(void *user, ::qdtls_connection *c) {
        Peer peer(c);
        run(user, &Handlers::connected, peer);
    }
    static void datagramTrampoline(void *user, ::qdtls_connection *c, const std::uint8_t *data, std::size_t len) {
        Peer peer(c);
        run(user, &Handlers::datagram, peer, data, len);
    }
    static void closedTrampoline(void *user, ::qdtls_connection *c, std::int32_t reason) {
        Peer peer(c);
        run(user, &Handlers::closed, peer, static_cast<CloseReason>(reason));
    }
    static void handshakeFailedTrampoline(void *user, ::qdtls_connection *c, std::int32_t reason) {
        Peer peer(c);
        run(user, &Handlers::handshakeFailed, peer, static_cast<CloseReason>(reason));
    }
    static void pskTrampoline(void *user, ::qdtls_connection *c, ::qdtls_psk_authenticator *a) {
        Peer peer(c);
        QSslPreSharedKeyAuthenticator view(a);
        run(user, &Handlers::psk, peer, &view);
    }

    ::qdtls_server *h_;
    std::unique_ptr<Handlers> handlers_;
};

} // namespace qdtls

#endif // QDTLS_SERVER_HPP
