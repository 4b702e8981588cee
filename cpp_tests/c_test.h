/* The C tests' shared part: the assertion framework, files, clocks and
 * loopback UDP sockets. One binary, c_api_test, runs the tests of
 * c_api_test.c and c_server_test.c (its table lists both). */
#ifndef QDTLS_C_TEST_H
#define QDTLS_C_TEST_H

#define _POSIX_C_SOURCE 200809L

#include <qdtls/qdtls.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---- a tiny assertion framework ------------------------------------------ */

extern int g_failed;         /* the running test failed (defined in c_api_test.c) */
extern const char *g_certdir; /* where gen_certs.sh wrote the certificates */

#define FAIL_AT(...)                                                                                                   \
    do {                                                                                                               \
        fprintf(stderr, "  %s:%d: ", __FILE__, __LINE__);                                                              \
        fprintf(stderr, __VA_ARGS__);                                                                                  \
        fputc('\n', stderr);                                                                                           \
        g_failed = 1;                                                                                                  \
    } while (0)

/* Every check jumps to the test's `out:` label on failure. */
#define CHECK(cond)                                                                                                    \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            FAIL_AT("CHECK(%s) failed", #cond);                                                                        \
            goto out;                                                                                                  \
        }                                                                                                              \
    } while (0)

#define CHECK_MSG(cond, ...)                                                                                           \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            FAIL_AT("CHECK(%s) failed", #cond);                                                                        \
            fprintf(stderr, "    ");                                                                                   \
            fprintf(stderr, __VA_ARGS__);                                                                              \
            fputc('\n', stderr);                                                                                       \
            goto out;                                                                                                  \
        }                                                                                                              \
    } while (0)

#define CHECK_INT(actual, expected)                                                                                    \
    do {                                                                                                               \
        long long a_ = (long long)(actual), e_ = (long long)(expected);                                                \
        if (a_ != e_) {                                                                                                \
            FAIL_AT("%s == %lld, expected %s == %lld", #actual, a_, #expected, e_);                                    \
            goto out;                                                                                                  \
        }                                                                                                              \
    } while (0)

#define CHECK_STR(actual, expected)                                                                                    \
    do {                                                                                                               \
        const char *a_ = (actual), *e_ = (expected);                                                                   \
        if (strcmp(a_, e_) != 0) {                                                                                     \
            FAIL_AT("%s == \"%s\", expected \"%s\"", #actual, a_, e_);                                                 \
            goto out;                                                                                                  \
        }                                                                                                              \
    } while (0)

#define CHECK_MEM(actual, actual_len, expected, expected_len)                                                          \
    do {                                                                                                               \
        size_t al_ = (size_t)(actual_len), el_ = (size_t)(expected_len);                                               \
        if (al_ != el_ || memcmp((actual), (expected), el_) != 0) {                                                    \
            FAIL_AT("%s (%zu bytes) differs from %s (%zu bytes)", #actual, al_, #expected, el_);                       \
            goto out;                                                                                                  \
        }                                                                                                              \
    } while (0)

/* The last error of a qdtls_connection, as "code 'text'" (for messages). */
static inline const char *err_of(const qdtls_connection *h) {
    static char text[512], out[600];
    text[0] = '\0';
    qdtls_dtls_error_string(h, text, sizeof text);
    snprintf(out, sizeof out, "error %d '%s' state %d", (int)qdtls_dtls_error(h), text, (int)qdtls_handshake_state(h));
    return out;
}

/* Asserts the last error code of a qdtls_connection (and that the string agrees: empty iff NoError). */
#define CHECK_ERR(h, code)                                                                                             \
    do {                                                                                                               \
        int32_t c_ = qdtls_dtls_error(h);                                                                              \
        size_t sl_ = qdtls_dtls_error_string(h, NULL, 0);                                                              \
        if (c_ != (code) || (sl_ == 0) != ((code) == QDTLS_ERROR_NO_ERROR)) {                                          \
            FAIL_AT("%s: expected error %s (%d), got %s", #h, #code, (int)(code), err_of(h));                          \
            goto out;                                                                                                  \
        }                                                                                                              \
    } while (0)

#define CHECK_VERR(v, code)                                                                                            \
    do {                                                                                                               \
        int32_t c_ = qdtls_client_verifier_dtls_error(v);                                                              \
        size_t sl_ = qdtls_client_verifier_dtls_error_string(v, NULL, 0);                                              \
        if (c_ != (code) || (sl_ == 0) != ((code) == QDTLS_ERROR_NO_ERROR)) {                                          \
            FAIL_AT("%s: expected error %s (%d), got %d (message length %zu)", #v, #code, (int)(code), (int)c_, sl_);  \
            goto out;                                                                                                  \
        }                                                                                                              \
    } while (0)

/* ---- files, clocks, sockets ------------------------------------------------- */

typedef struct {
    char *data; /* NUL-terminated */
    size_t len;
} Blob;

static inline void blob_free(Blob *b) {
    free(b->data);
    b->data = NULL;
    b->len = 0;
}

/* Reads CERTDIR/name; 0 on success. */
static inline int load(Blob *b, const char *name) {
    char path[2048];
    FILE *f;
    long n;
    snprintf(path, sizeof path, "%s/%s", g_certdir, name);
    f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "  cannot open %s (run gen_certs.sh CERTDIR first)\n", path);
        return -1;
    }
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    b->data = malloc((size_t)n + 1);
    b->len = b->data ? fread(b->data, 1, (size_t)n, f) : 0;
    fclose(f);
    if (!b->data || b->len != (size_t)n)
        return -1;
    b->data[b->len] = '\0';
    return 0;
}

static inline int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

typedef struct {
    int fd;
    struct sockaddr_in addr;
} Sock;

#define SOCK_INIT {-1, {0}}

/* A UDP socket bound to 127.0.0.1 on an ephemeral port; 0 on success. */
static inline int sock_open(Sock *s) {
    socklen_t len = sizeof s->addr;
    s->fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (s->fd < 0)
        return -1;
    memset(&s->addr, 0, sizeof s->addr);
    s->addr.sin_family = AF_INET;
    s->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(s->fd, (struct sockaddr *)&s->addr, sizeof s->addr) != 0 ||
        getsockname(s->fd, (struct sockaddr *)&s->addr, &len) != 0)
        return -1;
    return 0;
}

static inline void sock_close(Sock *s) {
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
}

static inline uint16_t sock_port(const Sock *s) { return ntohs(s->addr.sin_port); }

/* One datagram, waiting up to `ms`; -1 when none arrived. */
static inline long recv_wait(int fd, uint8_t *buf, size_t cap, int ms, struct sockaddr_in *from) {
    struct pollfd p;
    socklen_t flen = sizeof *from;
    ssize_t n;
    p.fd = fd;
    p.events = POLLIN;
    p.revents = 0;
    if (poll(&p, 1, ms) <= 0)
        return -1;
    n = from ? recvfrom(fd, buf, cap, 0, (struct sockaddr *)from, &flen) : recv(fd, buf, cap, 0);
    return n < 0 ? -1 : (long)n;
}

/* True when nothing arrives within `ms`. */
static inline int silent(int fd, int ms) {
    uint8_t buf[2048];
    return recv_wait(fd, buf, sizeof buf, ms, NULL) < 0;
}

/* ---- the server tests (c_server_test.c) ---------------------------------------- */

void test_server_handshake_and_echo(void);
void test_server_close_reasons(void);
void test_server_null_handles(void);
void test_server_free_with_live_peers(void);
void test_server_limits(void);
void test_server_idle_timeout(void);

#endif /* QDTLS_C_TEST_H */
