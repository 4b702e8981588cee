/* benches/server_openssl.c: raw OpenSSL 3 controls for the server benchmark
 * (benches/server.sh, examples/bench_server/), with the same settings:
 * DTLS 1.2, PSK-AES128-GCM-SHA256, link MTU 1500, one SSL_CTX per role.
 * Each server session has memory BIOs, as a server that reads one socket
 * itself and hands each datagram to its session does.
 *
 *   cc -O2 -o qdtls_server_openssl benches/server_openssl.c -lssl -lcrypto
 *   qdtls_server_openssl data [SECONDS]   1200-byte datagrams/s, client to server over loopback
 *                                         UDP: one session, and 1,000 sessions round-robin
 *                                         (each client on its own socket, one server socket,
 *                                         the session of a datagram known by its index), in
 *                                         alternating segments, the best of four each
 *   qdtls_server_openssl decrypt [SECONDS] the receive side alone, without system calls: 80
 *                                         datagrams per session and second encrypted first
 *                                         (round-robin over 1,000 sessions, or all by one),
 *                                         then decrypted (BIO_write + SSL_read), a quarter
 *                                         of each at a time in turn, the best quarter each
 *   qdtls_server_openssl idle [N]         RSS and heap per established server session: N
 *   qdtls_server_openssl idle-free [N]    sessions (default 10,000), each client freed when its
 *                                         handshake completed; idle-free calls SSL_free_buffers
 *                                         on each server session once established
 *
 * Prints `RESULT <metric> openssl <value> <unit>` lines, as benches/main.cpp.
 * Rates are per CPU-second of the process after a warm-up of 15 % of the
 * measured time (benches/bench.hpp's rate()).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PAYLOAD 1200
#define MTU 1500
#define PEERS 1000

static const char *kIdentity = "bench client";
static const char *kKey = "0123456789abcdef";

static void die(const char *what) {
    fprintf(stderr, "qdtls_server_openssl: %s\n", what);
    ERR_print_errors_fp(stderr);
    exit(1);
}

static double clock_s(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static long rss_bytes(void) {
    long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL || fscanf(f, "%ld %ld", &size, &resident) != 2)
        die("cannot read /proc/self/statm");
    fclose(f);
    return resident * sysconf(_SC_PAGESIZE);
}

static long heap_bytes(void) {
    struct mallinfo2 m = mallinfo2();
    return (long)(m.uordblks + m.hblkhd);
}

static unsigned psk_client(SSL *ssl, const char *hint, char *identity, unsigned max_identity, unsigned char *psk,
                           unsigned max_psk) {
    size_t id = strlen(kIdentity), key = strlen(kKey);
    (void)ssl;
    (void)hint;
    if (id + 1 > max_identity || key > max_psk)
        return 0;
    memcpy(identity, kIdentity, id + 1);
    memcpy(psk, kKey, key);
    return (unsigned)key;
}

static unsigned psk_server(SSL *ssl, const char *identity, unsigned char *psk, unsigned max_psk) {
    size_t key = strlen(kKey);
    (void)ssl;
    if (identity == NULL || strcmp(identity, kIdentity) != 0 || key > max_psk)
        return 0;
    memcpy(psk, kKey, key);
    return (unsigned)key;
}

static SSL_CTX *cctx, *sctx;

static void contexts(void) {
    cctx = SSL_CTX_new(DTLS_client_method());
    sctx = SSL_CTX_new(DTLS_server_method());
    if (cctx == NULL || sctx == NULL)
        die("SSL_CTX_new");
    SSL_CTX *both[2] = {cctx, sctx};
    for (int i = 0; i < 2; i++) {
        SSL_CTX_set_min_proto_version(both[i], DTLS1_2_VERSION);
        SSL_CTX_set_max_proto_version(both[i], DTLS1_2_VERSION);
        SSL_CTX_set_options(both[i], SSL_OP_NO_QUERY_MTU | SSL_OP_NO_RENEGOTIATION);
        if (SSL_CTX_set_cipher_list(both[i], "PSK-AES128-GCM-SHA256") != 1)
            die("cipher list");
    }
    SSL_CTX_set_psk_client_callback(cctx, psk_client);
    SSL_CTX_set_psk_server_callback(sctx, psk_server);
}

static SSL *session(int client) {
    SSL *ssl = SSL_new(client ? cctx : sctx);
    BIO *r = BIO_new(BIO_s_mem()), *w = BIO_new(BIO_s_mem());
    if (ssl == NULL || r == NULL || w == NULL)
        die("SSL_new");
    BIO_set_mem_eof_return(r, -1);
    SSL_set_bio(ssl, r, w);
    DTLS_set_link_mtu(ssl, MTU);
    if (client)
        SSL_set_connect_state(ssl);
    else
        SSL_set_accept_state(ssl);
    return ssl;
}

/* Moves what `from` wrote into `to`'s read BIO. */
static void pump(SSL *from, SSL *to) {
    static unsigned char buf[16384];
    int n;
    while ((n = BIO_read(SSL_get_wbio(from), buf, sizeof buf)) > 0)
        BIO_write(SSL_get_rbio(to), buf, n);
}

static void handshake(SSL *c, SSL *s) {
    for (int round = 0; round < 32; round++) {
        SSL_do_handshake(c);
        pump(c, s);
        SSL_do_handshake(s);
        pump(s, c);
        if (SSL_is_init_finished(c) && SSL_is_init_finished(s))
            return;
    }
    die("handshake did not complete");
}

static int udp_socket(struct sockaddr_in *bound) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || getsockname(fd, (struct sockaddr *)bound, &len))
        die("socket");
    return fd;
}

struct pair {
    SSL *c, *s;
    int fd;
};

/* One datagram: client `p` encrypts and sends, the server socket reads it, `p`'s server session decrypts it. */
static void one_datagram(struct pair *p, int sfd, const unsigned char *payload) {
    unsigned char buf[2048], plain[2048];
    if (SSL_write(p->c, payload, PAYLOAD) != PAYLOAD)
        die("SSL_write");
    int len = BIO_read(SSL_get_wbio(p->c), buf, sizeof buf);
    if (len <= 0 || send(p->fd, buf, (size_t)len, 0) != len)
        die("send");
    ssize_t got = recv(sfd, buf, sizeof buf, 0);
    if (got <= 0)
        die("recv");
    BIO_write(SSL_get_rbio(p->s), buf, (int)got);
    if (SSL_read(p->s, plain, sizeof plain) != PAYLOAD)
        die("SSL_read");
}

/* As alternating() in examples/bench_server/measure.rs: segments of seconds / 4, the two
 * measurements in turn, the first 15 % of each segment not counted, four
 * rounds; the best segment counts. */
static void data(double seconds) {
    static struct pair pairs[PEERS + 1];
    struct sockaddr_in server;
    int sfd = udp_socket(&server);
    int big = 4 << 20;
    setsockopt(sfd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    for (int i = 0; i <= PEERS; i++) {
        struct sockaddr_in self;
        pairs[i].fd = udp_socket(&self);
        if (connect(pairs[i].fd, (struct sockaddr *)&server, sizeof server) != 0)
            die("connect");
        pairs[i].c = session(1);
        pairs[i].s = session(0);
        handshake(pairs[i].c, pairs[i].s);
    }
    unsigned char payload[PAYLOAD];
    memset(payload, 'x', sizeof payload);
    double best[2] = {0, 0}, segment = seconds / 4;
    long next = 0;
    for (int round = 0; round < 4; round++) {
        for (int k = 0; k < 2; k++) {
            double t0 = clock_s(CLOCK_MONOTONIC), c0 = 0;
            long done = 0;
            int measuring = 0;
            for (;;) {
                for (int j = 0; j < 64; j++, next++)
                    one_datagram(k == 0 ? &pairs[PEERS] : &pairs[next % PEERS], sfd, payload);
                double t = clock_s(CLOCK_MONOTONIC);
                if (!measuring && t - t0 >= segment * 0.15) {
                    measuring = 1;
                    c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
                } else if (measuring) {
                    done += 64;
                    if (t - t0 >= segment) {
                        double rate = (double)done / (clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0);
                        if (rate > best[k])
                            best[k] = rate;
                        break;
                    }
                }
            }
        }
    }
    printf("RESULT openssl_sessions_datagrams_1 openssl %.6f dgram/s\n", best[0]);
    printf("RESULT openssl_sessions_datagrams_%d openssl %.6f dgram/s\n", PEERS, best[1]);
}

/* examples/bench_server/ decrypt, in raw OpenSSL: both streams encrypted
 * first (the single session is its own pair, so its datagrams never fall
 * behind its replay window), then decrypted a quarter of each at a time, in
 * turn, the first 15 % of each quarter not timed; the best quarter counts. */
static void decrypt(double seconds) {
    static struct pair pairs[PEERS + 1];
    long per_peer = (long)(seconds * 80);
    if (per_peer < 10)
        per_peer = 10;
    long total = per_peer * PEERS;
    for (int i = 0; i <= PEERS; i++) {
        pairs[i].c = session(1);
        pairs[i].s = session(0);
        handshake(pairs[i].c, pairs[i].s);
    }
    unsigned char payload[PAYLOAD], plain[2048];
    memset(payload, 'x', sizeof payload);
    unsigned char *dgrams[2];
    int *lens[2];
    for (int k = 0; k < 2; k++) {
        dgrams[k] = malloc((size_t)total * 1300);
        lens[k] = malloc((size_t)total * sizeof *lens[k]);
        if (dgrams[k] == NULL || lens[k] == NULL)
            die("out of memory");
        for (long i = 0; i < total; i++) {
            struct pair *p = k == 0 ? &pairs[PEERS] : &pairs[i % PEERS];
            if (SSL_write(p->c, payload, PAYLOAD) != PAYLOAD)
                die("SSL_write");
            lens[k][i] = BIO_read(SSL_get_wbio(p->c), dgrams[k] + i * 1300, 1300);
            if (lens[k][i] <= 0)
                die("BIO_read");
        }
    }
    double best[2] = {0, 0};
    for (int round = 0; round < 4; round++) {
        for (int k = 0; k < 2; k++) {
            long from = round * total / 4, to = (round + 1) * total / 4, warm = from + (to - from) * 15 / 100;
            double c0 = 0;
            for (long i = from; i < to; i++) {
                if (i == warm)
                    c0 = clock_s(CLOCK_THREAD_CPUTIME_ID);
                struct pair *p = k == 0 ? &pairs[PEERS] : &pairs[i % PEERS];
                BIO_write(SSL_get_rbio(p->s), dgrams[k] + i * 1300, lens[k][i]);
                if (SSL_read(p->s, plain, sizeof plain) != PAYLOAD)
                    die("SSL_read");
            }
            double rate = (double)(to - warm) / (clock_s(CLOCK_THREAD_CPUTIME_ID) - c0);
            if (rate > best[k])
                best[k] = rate;
        }
    }
    printf("RESULT openssl_sansio_decrypt_1 openssl %.6f dgram/s\n", best[0]);
    printf("RESULT openssl_sansio_decrypt_%d openssl %.6f dgram/s\n", PEERS, best[1]);
    for (int k = 0; k < 2; k++) {
        free(dgrams[k]);
        free(lens[k]);
    }
}

static void idle(long n, int free_buffers) {
    const char *suffix = free_buffers ? "_free_buffers" : "";
    /* One session first: the contexts and lazy allocations do not count. */
    SSL *c = session(1), *s = session(0);
    handshake(c, s);
    SSL_free(c);
    SSL **kept = calloc((size_t)n, sizeof *kept);
    kept[0] = s;
    long rss0 = rss_bytes(), heap0 = heap_bytes();
    for (long i = 1; i < n; i++) {
        c = session(1);
        s = session(0);
        handshake(c, s);
        SSL_free(c);
        if (free_buffers)
            SSL_free_buffers(s);
        kept[i] = s;
    }
    long rss1 = rss_bytes(), heap1 = heap_bytes();
    printf("RESULT openssl_idle_rss_per_session%s openssl %.6f bytes\n", suffix, (double)(rss1 - rss0) / (n - 1));
    printf("RESULT openssl_idle_heap_per_session%s openssl %.6f bytes\n", suffix, (double)(heap1 - heap0) / (n - 1));
    for (long i = 0; i < n; i++)
        SSL_free(kept[i]);
    free(kept);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: qdtls_server_openssl data|decrypt [SECONDS] | idle|idle-free [N]\n");
        return 2;
    }
    contexts();
    if (strcmp(argv[1], "data") == 0)
        data(argc > 2 ? atof(argv[2]) : 1.25);
    else if (strcmp(argv[1], "decrypt") == 0)
        decrypt(argc > 2 ? atof(argv[2]) : 1.25);
    else if (strcmp(argv[1], "idle") == 0 || strcmp(argv[1], "idle-free") == 0)
        idle(argc > 2 ? atol(argv[2]) : 10000, strcmp(argv[1], "idle-free") == 0);
    else {
        fprintf(stderr, "qdtls_server_openssl: unknown scenario %s\n", argv[1]);
        return 2;
    }
    SSL_CTX_free(cctx);
    SSL_CTX_free(sctx);
    return 0;
}
