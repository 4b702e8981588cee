/* Tests of the C ABI's server (qdtls_server_*): one server socket on
 * 127.0.0.1 and several clients made with the client API (qdtls_new, PSK),
 * all driven by one poll loop in this process. Built into c_api_test (the
 * runner and its table are in c_api_test.c).
 *
 * Every peer gets a malloc'd PeerData as its user data in the server's PSK
 * callback, freed in on_closed (on_handshake_failed for a peer that never
 * connected): under valgrind and LeakSanitizer a peer whose last event never
 * came shows up as a leak. */
#include "c_test.h"

#include <fcntl.h>

#define MAX_CLIENTS 4
#define SERVER_KEY "c server test key"

/* ---- what the server's callbacks saw ------------------------------------------ */

typedef struct {
    uint16_t port;     /* the client's port, as the PSK callback saw it */
    char identity[32]; /* the client's PSK identity */
    int connected;     /* on_connected came */
} PeerData;

typedef struct {
    qdtls_server *server;
    int fd; /* the server's socket */
    int psk_calls, connected, datagrams, closed, failed;
    int reasons[QDTLS_CLOSE_SERVER_FREED + 1];        /* on_closed per reason */
    int failed_reasons[QDTLS_CLOSE_SERVER_FREED + 1]; /* on_handshake_failed per reason */
    uint16_t last_closed_port;
    qdtls_connection *peer[MAX_CLIENTS]; /* established peers, by client index */
    /* on_datagram's behaviour and findings */
    int close_in_datagram; /* close_peer the sender from inside on_datagram */
    int in_datagram;       /* inside on_datagram right now */
    int closed_inside;     /* on_closed ran while on_datagram was running (must not happen) */
    int close_peer_result, port_after_close, reentry_result, reentry_error;
    size_t count_inside;
    int bad_user_data; /* a peer's user data was not what its PSK callback set, or the wrong event came */
} Events;

typedef struct {
    qdtls_connection *h;
    Sock s;
    char name[16];
    uint8_t got[512]; /* the last plaintext */
    int64_t got_len;
    int remote_closed; /* close_notify arrived */
    int paused;        /* the loop does not drive this client */
} Client;

typedef struct {
    Events ev;
    Sock ss;
    Client c[MAX_CLIENTS];
    int n;
} World;

static int client_of(const World *w, uint16_t port) {
    int i;
    for (i = 0; i < w->n; i++)
        if (sock_port(&w->c[i].s) == port)
            return i;
    return -1;
}

static void server_psk(void *user, qdtls_connection *peer, qdtls_psk_authenticator *a) {
    World *w = user;
    PeerData *d = calloc(1, sizeof *d);
    w->ev.psk_calls++;
    if (!d)
        return;
    d->port = qdtls_peer_port(peer);
    qdtls_psk_identity(a, (uint8_t *)d->identity, sizeof d->identity - 1);
    free(qdtls_user_data(peer)); /* a second ClientHello of the same handshake */
    qdtls_set_user_data(peer, d);
    qdtls_psk_set_pre_shared_key(a, (const uint8_t *)SERVER_KEY, strlen(SERVER_KEY));
}

static void on_connected(void *user, qdtls_connection *peer) {
    World *w = user;
    PeerData *d = qdtls_user_data(peer);
    int i = client_of(w, qdtls_peer_port(peer));
    w->ev.connected++;
    if (!d || d->port != qdtls_peer_port(peer) || i < 0 || strcmp(d->identity, w->c[i].name) != 0 ||
        qdtls_handshake_state(peer) != QDTLS_HANDSHAKE_COMPLETE || qdtls_ssl_mode(peer) != QDTLS_SSL_SERVER_MODE) {
        w->ev.bad_user_data++;
        return;
    }
    d->connected = 1;
    w->ev.peer[i] = peer;
}

/* Echoes "echo: " + the datagram; optionally closes the sender from inside. */
static void on_datagram(void *user, qdtls_connection *peer, const uint8_t *data, size_t len) {
    World *w = user;
    PeerData *d = qdtls_user_data(peer);
    uint8_t reply[600];
    w->ev.in_datagram = 1;
    w->ev.datagrams++;
    if (!d || !d->connected || d->port != qdtls_peer_port(peer))
        w->ev.bad_user_data++;
    /* the server itself cannot be driven from inside its callbacks; counts can be read */
    w->ev.reentry_result = (int)qdtls_server_receive(w->ev.server, w->ev.fd);
    w->ev.reentry_error = qdtls_server_error(w->ev.server);
    w->ev.count_inside = qdtls_server_peer_count(w->ev.server);
    if (len <= sizeof reply - 6) {
        memcpy(reply, "echo: ", 6);
        memcpy(reply + 6, data, len);
        qdtls_write_datagram_encrypted(peer, w->ev.fd, reply, len + 6);
    }
    if (w->ev.close_in_datagram) {
        w->ev.close_peer_result = qdtls_server_close_peer(w->ev.server, w->ev.fd, peer);
        w->ev.port_after_close = qdtls_peer_port(peer); /* still valid: the close is deferred */
    }
    w->ev.in_datagram = 0;
}

static void on_closed(void *user, qdtls_connection *peer, int32_t reason) {
    World *w = user;
    PeerData *d = qdtls_user_data(peer);
    int i = client_of(w, qdtls_peer_port(peer));
    w->ev.closed++;
    if (reason >= 0 && reason <= QDTLS_CLOSE_SERVER_FREED)
        w->ev.reasons[reason]++;
    if (w->ev.in_datagram)
        w->ev.closed_inside++;
    if (!d || !d->connected) /* on_closed is for connected peers only */
        w->ev.bad_user_data++;
    w->ev.last_closed_port = qdtls_peer_port(peer);
    if (i >= 0 && w->ev.peer[i] == peer)
        w->ev.peer[i] = NULL;
    free(d);
    qdtls_set_user_data(peer, NULL);
}

/* A peer that never connected: its PeerData, if the PSK callback made one, goes here. */
static void on_handshake_failed(void *user, qdtls_connection *peer, int32_t reason) {
    World *w = user;
    PeerData *d = qdtls_user_data(peer);
    w->ev.failed++;
    if (reason >= 0 && reason <= QDTLS_CLOSE_SERVER_FREED)
        w->ev.failed_reasons[reason]++;
    if (d && d->connected)
        w->ev.bad_user_data++;
    free(d);
    qdtls_set_user_data(peer, NULL);
}

/* ---- the world: a server and its clients, one loop --------------------------------- */

static void client_psk(void *user, qdtls_psk_authenticator *a) {
    const Client *c = user;
    qdtls_psk_set_identity(a, (const uint8_t *)c->name, strlen(c->name));
    qdtls_psk_set_pre_shared_key(a, (const uint8_t *)SERVER_KEY, strlen(SERVER_KEY));
}

/* A server (cookies on, the default) on a non-blocking socket, with every callback. */
static int world_open(World *w) {
    static const qdtls_server_callbacks cb = {on_connected, on_datagram, on_closed, on_handshake_failed};
    qdtls_configuration *cfg = qdtls_configuration_new();
    int ok;
    memset(w, 0, sizeof *w);
    w->ss.fd = -1;
    if (!cfg || sock_open(&w->ss) != 0 || fcntl(w->ss.fd, F_SETFL, O_NONBLOCK) != 0) {
        qdtls_configuration_free(cfg);
        return -1;
    }
    qdtls_configuration_set_peer_verify_mode(cfg, QDTLS_VERIFY_NONE);
    w->ev.server = qdtls_server_new(cfg);
    w->ev.fd = w->ss.fd;
    qdtls_configuration_free(cfg); /* the server keeps its own copy */
    ok = w->ev.server && qdtls_server_set_callbacks(w->ev.server, &cb, w) &&
         qdtls_server_set_psk_callback(w->ev.server, server_psk, w);
    return ok ? 0 : -1;
}

/* Adds a client and starts its handshake; its index, or -1. */
static int world_connect(World *w) {
    Client *c = &w->c[w->n];
    qdtls_configuration *cfg = qdtls_configuration_new();
    int ok;
    c->s.fd = -1;
    if (w->n == MAX_CLIENTS || !cfg || sock_open(&c->s) != 0) {
        qdtls_configuration_free(cfg);
        return -1;
    }
    snprintf(c->name, sizeof c->name, "client-%d", w->n);
    qdtls_configuration_set_peer_verify_mode(cfg, QDTLS_VERIFY_NONE);
    c->h = qdtls_new(QDTLS_SSL_CLIENT_MODE);
    ok = c->h && qdtls_set_dtls_configuration(c->h, cfg) &&
         qdtls_set_peer(c->h, "127.0.0.1", sock_port(&w->ss), NULL) && qdtls_set_psk_callback(c->h, client_psk, c) &&
         qdtls_set_initial_timeout_ms(c->h, 200) && qdtls_do_handshake(c->h, c->s.fd, NULL, 0);
    qdtls_configuration_free(cfg);
    w->n++;
    return ok ? w->n - 1 : -1;
}

/* Frees the server first (its on_closed frees the peers' data), then the clients. */
static void world_close(World *w) {
    int i;
    qdtls_server_free(w->ev.server);
    w->ev.server = NULL;
    for (i = 0; i < w->n; i++) {
        qdtls_free(w->c[i].h);
        w->c[i].h = NULL;
        sock_close(&w->c[i].s);
    }
    sock_close(&w->ss);
}

static void client_step(Client *c) {
    static uint8_t buf[65536];
    long n;
    while ((n = recv_wait(c->s.fd, buf, sizeof buf, 0, NULL)) >= 0) {
        if (qdtls_handshake_state(c->h) == QDTLS_HANDSHAKE_IN_PROGRESS) {
            qdtls_do_handshake(c->h, c->s.fd, buf, (size_t)n);
        } else if (qdtls_handshake_state(c->h) == QDTLS_HANDSHAKE_COMPLETE) {
            int64_t got = qdtls_decrypt_datagram(c->h, c->s.fd, buf, (size_t)n, c->got, sizeof c->got);
            if (got > 0)
                c->got_len = got;
            if (qdtls_dtls_error(c->h) == QDTLS_ERROR_REMOTE_CLOSED_CONNECTION_ERROR)
                c->remote_closed = 1;
        }
    }
}

/* One round: waits up to `max_ms` (less when a timer is due), then lets the
 * server read and run its timers and the clients handle what they got. */
static void pump_once(World *w, int max_ms) {
    struct pollfd p[MAX_CLIENTS + 1];
    int64_t wait = max_ms, t = qdtls_server_next_timeout_ms(w->ev.server);
    int i;
    if (t >= 0 && t < wait)
        wait = t;
    p[0].fd = w->ss.fd;
    for (i = 0; i < w->n; i++) {
        p[i + 1].fd = w->c[i].paused ? -1 : w->c[i].s.fd;
        t = qdtls_next_timeout_ms(w->c[i].h);
        if (!w->c[i].paused && t >= 0 && t < wait)
            wait = t;
    }
    for (i = 0; i <= w->n; i++) {
        p[i].events = POLLIN;
        p[i].revents = 0;
    }
    poll(p, (nfds_t)w->n + 1, (int)wait);
    qdtls_server_receive(w->ev.server, w->ss.fd);
    qdtls_server_handle_timeouts(w->ev.server, w->ss.fd);
    for (i = 0; i < w->n; i++) {
        Client *c = &w->c[i];
        if (c->paused)
            continue;
        client_step(c);
        if (qdtls_handshake_state(c->h) == QDTLS_HANDSHAKE_IN_PROGRESS && qdtls_next_timeout_ms(c->h) == 0)
            qdtls_handle_timeout(c->h, c->s.fd);
    }
}

/* Runs the loop until `cond` holds (a failed CHECK after `limit_ms`). */
#define PUMP_UNTIL(w, cond, limit_ms)                                                                                  \
    do {                                                                                                               \
        int64_t dl_ = now_ms() + (limit_ms);                                                                           \
        while (!(cond) && now_ms() < dl_)                                                                              \
            pump_once((w), 20);                                                                                        \
        CHECK_MSG((cond), "still not true after %d ms; server: %d connected, %d closed, %zu peers", (int)(limit_ms),   \
                  (w)->ev.connected, (w)->ev.closed, qdtls_server_peer_count((w)->ev.server));                         \
    } while (0)

/* Runs the loop for `ms` whatever happens. */
static void pump_for(World *w, int ms) {
    int64_t dl = now_ms() + ms;
    while (now_ms() < dl)
        pump_once(w, 10);
}

static int complete(const World *w, int i) { return qdtls_handshake_state(w->c[i].h) == QDTLS_HANDSHAKE_COMPLETE; }

/* `n` clients, all connected. */
#define CONNECT_CLIENTS(w, count)                                                                                      \
    do {                                                                                                               \
        int k_;                                                                                                        \
        for (k_ = 0; k_ < (count); k_++)                                                                               \
            CHECK(world_connect(w) == k_);                                                                             \
        PUMP_UNTIL(w, (w)->ev.connected == (count) && complete(w, (count) - 1) && complete(w, 0), 10000);              \
    } while (0)

/* Client i sends `text`; its reply must be "echo: " + text. */
#define CHECK_ECHO(w, i, text)                                                                                         \
    do {                                                                                                               \
        Client *c_ = &(w)->c[i];                                                                                       \
        c_->got_len = 0;                                                                                               \
        CHECK_INT(qdtls_write_datagram_encrypted(c_->h, c_->s.fd, (const uint8_t *)(text), strlen(text)),              \
                  (int64_t)strlen(text));                                                                              \
        PUMP_UNTIL(w, c_->got_len > 0, 5000);                                                                          \
        CHECK_INT(c_->got_len, 6 + strlen(text));                                                                      \
        CHECK(memcmp(c_->got, "echo: ", 6) == 0 && memcmp(c_->got + 6, (text), strlen(text)) == 0);                   \
    } while (0)

/* ==== the tests ====================================================================== */

/* Three clients through the cookie exchange and PSK; each echo comes back
 * through on_datagram; a server shutdown says goodbye to all. */
void test_server_handshake_and_echo(void) {
    World w;
    int i;
    CHECK(world_open(&w) == 0);
    CHECK_INT(qdtls_server_peer_count(w.ev.server), 0);
    CHECK_INT(qdtls_server_next_timeout_ms(w.ev.server), -1);
    CONNECT_CLIENTS(&w, 3);
    CHECK_INT(w.ev.bad_user_data, 0);
    CHECK_INT(qdtls_server_peer_count(w.ev.server), 3);
    CHECK_INT(qdtls_server_handshake_count(w.ev.server), 0);
    CHECK(w.ev.psk_calls >= 3);
    for (i = 0; i < 3; i++) {
        char text[64];
        size_t len = qdtls_session_cipher(w.ev.peer[i], NULL, 0);
        CHECK(w.ev.peer[i] != NULL);
        CHECK(len > 0 && len == qdtls_session_cipher(w.c[i].h, NULL, 0));
        snprintf(text, sizeof text, "hello from %s", w.c[i].name);
        CHECK_ECHO(&w, i, text);
    }
    CHECK_ECHO(&w, 1, "second datagram");
    CHECK_INT(w.ev.datagrams, 4);
    CHECK_INT(w.ev.bad_user_data, 0);
    /* inside on_datagram: receive refused, counts readable */
    CHECK_INT(w.ev.reentry_result, -1);
    CHECK_INT(w.ev.reentry_error, QDTLS_ERROR_INVALID_OPERATION);
    CHECK_INT(w.ev.count_inside, 3);
    CHECK_INT(w.ev.closed, 0);

    CHECK_INT(qdtls_server_shutdown(w.ev.server, w.ss.fd), 3);
    CHECK_INT(w.ev.reasons[QDTLS_CLOSE_LOCAL], 3);
    CHECK_INT(qdtls_server_peer_count(w.ev.server), 0);
    PUMP_UNTIL(&w, w.c[0].remote_closed && w.c[1].remote_closed && w.c[2].remote_closed, 5000);
out:
    world_close(&w);
}

/* close_notify from a client; close_peer from outside the callbacks; and
 * close_peer from inside on_datagram, which waits until the callback returns. */
void test_server_close_reasons(void) {
    World w;
    uint16_t port2;
    CHECK(world_open(&w) == 0);
    CONNECT_CLIENTS(&w, 3);

    /* the client says goodbye */
    CHECK(qdtls_shutdown(w.c[0].h, w.c[0].s.fd));
    PUMP_UNTIL(&w, w.ev.closed == 1, 5000);
    CHECK_INT(w.ev.reasons[QDTLS_CLOSE_NOTIFY], 1);
    CHECK_INT(w.ev.last_closed_port, sock_port(&w.c[0].s));
    CHECK_INT(qdtls_server_peer_count(w.ev.server), 2);

    /* the application closes a peer: on_closed at once, close_notify to the client */
    CHECK(w.ev.peer[1] != NULL);
    CHECK(qdtls_server_close_peer(w.ev.server, w.ss.fd, w.ev.peer[1]));
    CHECK_INT(w.ev.closed, 2);
    CHECK_INT(w.ev.reasons[QDTLS_CLOSE_LOCAL], 1);
    CHECK_INT(w.ev.last_closed_port, sock_port(&w.c[1].s));
    CHECK(w.ev.peer[1] == NULL);
    PUMP_UNTIL(&w, w.c[1].remote_closed, 5000);

    /* closed from inside on_datagram: deferred, the echo still goes out */
    w.ev.close_in_datagram = 1;
    port2 = sock_port(&w.c[2].s);
    CHECK_ECHO(&w, 2, "last words");
    PUMP_UNTIL(&w, w.ev.closed == 3, 5000);
    CHECK(w.ev.close_peer_result);
    CHECK_INT(w.ev.port_after_close, port2);
    CHECK_INT(w.ev.closed_inside, 0);
    CHECK_INT(w.ev.reasons[QDTLS_CLOSE_LOCAL], 2);
    CHECK_INT(w.ev.last_closed_port, port2);
    PUMP_UNTIL(&w, w.c[2].remote_closed, 5000);

    CHECK_INT(qdtls_server_peer_count(w.ev.server), 0);
    CHECK_INT(w.ev.failed, 0);
    CHECK_INT(w.ev.bad_user_data, 0);
out:
    world_close(&w);
}

/* NULL servers, peers and arguments: false, -1 or 0, never a crash. */
void test_server_null_handles(void) {
    static const qdtls_server_callbacks cb = {NULL, NULL, NULL, NULL};
    qdtls_configuration *cfg = qdtls_configuration_new();
    qdtls_server *s = qdtls_server_new(NULL), *t = qdtls_server_new(cfg);
    struct sockaddr_in from;
    const uint8_t byte = 0;
    memset(&from, 0, sizeof from);
    from.sin_family = AF_INET;
    CHECK(s != NULL && t != NULL); /* NULL configuration: the default one */

    qdtls_server_free(NULL);
    CHECK(!qdtls_server_set_callbacks(NULL, &cb, NULL));
    CHECK(!qdtls_server_set_psk_callback(NULL, NULL, NULL));
    CHECK(!qdtls_server_set_send_callback(NULL, NULL, NULL));
    CHECK_INT(qdtls_server_receive(NULL, 0), -1);
    CHECK(!qdtls_server_handle_datagram(NULL, -1, (const struct sockaddr *)&from, sizeof from, &byte, 1));
    CHECK_INT(qdtls_server_next_timeout_ms(NULL), -1);
    CHECK_INT(qdtls_server_handle_timeouts(NULL, -1), -1);
    CHECK(!qdtls_server_close_peer(NULL, -1, NULL));
    CHECK_INT(qdtls_server_shutdown(NULL, -1), -1);
    CHECK_INT(qdtls_server_peer_count(NULL), 0);
    CHECK_INT(qdtls_server_handshake_count(NULL), 0);
    CHECK(!qdtls_server_set_max_peers(NULL, 1));
    CHECK(!qdtls_server_set_max_handshakes(NULL, 1));
    CHECK(!qdtls_server_set_max_peers_per_address(NULL, 1));
    CHECK(!qdtls_server_set_idle_timeout_ms(NULL, 1));
    CHECK(!qdtls_server_set_handshake_timeout_ms(NULL, 1));
    CHECK(!qdtls_server_set_cookie_generator_parameters(NULL, QDTLS_HASH_SHA256, &byte, 1));
    CHECK(!qdtls_server_rotate_cookie_secret(NULL, 0));
    CHECK(!qdtls_server_share_cookie_secret(NULL, s));
    CHECK(!qdtls_server_share_cookie_secret(s, NULL));
    CHECK_INT(qdtls_server_error(NULL), QDTLS_ERROR_INVALID_INPUT_PARAMETERS);
    CHECK_INT(qdtls_server_error_string(NULL, NULL, 0), 0); /* as qdtls_dtls_error_string */
    CHECK(!qdtls_set_user_data(NULL, &from));
    CHECK(qdtls_user_data(NULL) == NULL);

    /* NULL arguments on a live server */
    CHECK(!qdtls_server_close_peer(s, -1, NULL));
    CHECK_INT(qdtls_server_error(s), QDTLS_ERROR_INVALID_INPUT_PARAMETERS);
    CHECK(!qdtls_server_handle_datagram(s, -1, NULL, 0, &byte, 1));
    CHECK_INT(qdtls_server_error(s), QDTLS_ERROR_INVALID_INPUT_PARAMETERS);
    CHECK(qdtls_server_error_string(s, NULL, 0) > 0);
    /* working calls reset the error */
    CHECK(qdtls_server_set_max_peers(s, 10) && qdtls_server_set_max_handshakes(s, 10) &&
          qdtls_server_set_max_peers_per_address(s, 0) && qdtls_server_set_idle_timeout_ms(s, 0) &&
          qdtls_server_set_handshake_timeout_ms(s, 1000) && qdtls_server_rotate_cookie_secret(s, 100) &&
          qdtls_server_share_cookie_secret(t, s) && qdtls_server_set_callbacks(s, &cb, NULL));
    CHECK(qdtls_server_set_cookie_generator_parameters(s, QDTLS_HASH_SHA256, (const uint8_t *)"secret", 6));
    CHECK_INT(qdtls_server_error(s), QDTLS_ERROR_NO_ERROR);
    CHECK_INT(qdtls_server_error_string(s, NULL, 0), 0);
    CHECK(qdtls_server_set_callbacks(s, NULL, NULL)); /* NULL: none */
    CHECK_INT(qdtls_server_shutdown(s, -1), 0);
    CHECK_INT(qdtls_server_peer_count(s), 0);
out:
    qdtls_server_free(s);
    qdtls_server_free(t);
    qdtls_configuration_free(cfg);
}

/* Freeing a server with peers: on_closed(SERVER_FREED) for each (which
 * frees their data: valgrind sees a leak otherwise), nothing sent. */
void test_server_free_with_live_peers(void) {
    World w;
    int i;
    CHECK(world_open(&w) == 0);
    CONNECT_CLIENTS(&w, 2);
    CHECK_INT(qdtls_server_peer_count(w.ev.server), 2);
    qdtls_server_free(w.ev.server);
    w.ev.server = NULL;
    CHECK_INT(w.ev.closed, 2);
    CHECK_INT(w.ev.reasons[QDTLS_CLOSE_SERVER_FREED], 2);
    CHECK(w.ev.peer[0] == NULL && w.ev.peer[1] == NULL);
    for (i = 0; i < 2; i++)
        CHECK(silent(w.c[i].s.fd, 50));
out:
    world_close(&w);
}

/* max_peers_per_address 2: a third client from 127.0.0.1 gets no session
 * until one of the two leaves. */
void test_server_limits(void) {
    World w;
    CHECK(world_open(&w) == 0);
    CHECK(qdtls_server_set_max_peers_per_address(w.ev.server, 2));
    CONNECT_CLIENTS(&w, 2);
    CHECK_INT(world_connect(&w), 2);
    pump_for(&w, 700); /* the third client retransmits (200 ms, 400 ms) in vain */
    CHECK(!complete(&w, 2));
    CHECK_INT(w.ev.connected, 2);
    CHECK_INT(qdtls_server_peer_count(w.ev.server), 2);

    /* one leaves: the third one's next retransmission gets through */
    CHECK(qdtls_shutdown(w.c[0].h, w.c[0].s.fd));
    PUMP_UNTIL(&w, w.ev.closed == 1, 5000);
    PUMP_UNTIL(&w, complete(&w, 2) && w.ev.connected == 3, 10000);
    CHECK_INT(qdtls_server_peer_count(w.ev.server), 2);
    CHECK_ECHO(&w, 2, "finally in");
    CHECK_INT(w.ev.bad_user_data, 0);
out:
    world_close(&w);
}

/* An idle established peer, and a handshake that stalls, both end with
 * IDLE_TIMEOUT while a chatty peer stays. */
void test_server_idle_timeout(void) {
    World w;
    int64_t start;
    uint8_t hvr[2048];
    long n;
    CHECK(world_open(&w) == 0);
    /* long enough for two handshakes under valgrind */
    CHECK(qdtls_server_set_idle_timeout_ms(w.ev.server, 500));
    CHECK(qdtls_server_set_handshake_timeout_ms(w.ev.server, 500));
    CONNECT_CLIENTS(&w, 2);
    {
        int64_t t = qdtls_server_next_timeout_ms(w.ev.server);
        CHECK_MSG(t >= 0 && t <= 500, "next timeout %lld", (long long)t);
    }
    /* client 0 talks every 100 ms; client 1 says nothing */
    start = now_ms();
    while (w.ev.closed == 0 && now_ms() - start < 3000) {
        CHECK_ECHO(&w, 0, "still here");
        pump_for(&w, 100);
    }
    CHECK_INT(w.ev.closed, 1);
    CHECK_INT(w.ev.reasons[QDTLS_CLOSE_IDLE_TIMEOUT], 1);
    CHECK_INT(w.ev.last_closed_port, sock_port(&w.c[1].s));
    CHECK(w.ev.peer[0] != NULL);

    /* a client that stops after its cookie exchange: the server's
     * handshake times out (client 0 keeps talking meanwhile) */
    CHECK_INT(world_connect(&w), 2);
    w.c[2].paused = 1;
    n = -1;
    for (start = now_ms(); n < 0 && now_ms() - start < 5000;) {
        pump_once(&w, 20); /* the server answers the ClientHello with a HelloVerifyRequest */
        n = recv_wait(w.c[2].s.fd, hvr, sizeof hvr, 0, NULL);
    }
    CHECK(n > 0);
    CHECK(qdtls_do_handshake(w.c[2].h, w.c[2].s.fd, hvr, (size_t)n)); /* the ClientHello with the cookie */
    PUMP_UNTIL(&w, qdtls_server_handshake_count(w.ev.server) == 1, 5000);
    start = now_ms();
    while (w.ev.failed == 0 && now_ms() - start < 3000) {
        CHECK_ECHO(&w, 0, "still here");
        pump_for(&w, 100);
    }
    CHECK_INT(w.ev.failed, 1); /* on_handshake_failed, not on_closed */
    CHECK_INT(w.ev.failed_reasons[QDTLS_CLOSE_IDLE_TIMEOUT], 1);
    CHECK_INT(w.ev.closed, 1);
    CHECK_INT(w.ev.bad_user_data, 0);
    CHECK_INT(qdtls_server_handshake_count(w.ev.server), 0);
    CHECK_INT(qdtls_server_peer_count(w.ev.server), 1);
    CHECK_INT(w.ev.connected, 2);
out:
    world_close(&w);
}
