/* The shortest complete use of the C API: a PSK client and server in one
 * process on two loopback UDP sockets, one message echoed, then shutdown.
 * Without a verifier in front, the server disables cookie verification. */
#include <qdtls/qdtls.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void psk(void *user_data, qdtls_psk_authenticator *auth) {
    static const char key[] = "echo example key";
    (void)user_data;
    qdtls_psk_set_identity(auth, (const uint8_t *)"echo client", 11);
    qdtls_psk_set_pre_shared_key(auth, (const uint8_t *)key, sizeof key - 1);
}

static int udp_socket(struct sockaddr_in *addr) {
    socklen_t len = sizeof *addr;
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    memset(addr, 0, sizeof *addr);
    addr->sin_family = AF_INET;
    addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, (struct sockaddr *)addr, sizeof *addr);
    getsockname(fd, (struct sockaddr *)addr, &len);
    return fd;
}

/* Receives one datagram (waiting up to the handshake timer, or 1 s). */
static ssize_t receive(int fd, qdtls_connection *dtls, uint8_t *buf, size_t cap) {
    struct pollfd p = {fd, POLLIN, 0};
    int64_t t = qdtls_next_timeout_ms(dtls);
    if (poll(&p, 1, t < 0 ? 1000 : (int)t) <= 0) {
        qdtls_handle_timeout(dtls, fd);
        return 0;
    }
    return recv(fd, buf, cap, 0);
}

int main(void) {
    struct sockaddr_in caddr, saddr;
    int cfd = udp_socket(&caddr), sfd = udp_socket(&saddr);
    uint8_t buf[2048], plain[2048];
    char cipher[128];
    qdtls_configuration *cfg = qdtls_configuration_new();
    qdtls_connection *client = qdtls_new(QDTLS_SSL_CLIENT_MODE), *server = qdtls_new(QDTLS_SSL_SERVER_MODE);
    int rounds = 0;

    qdtls_configuration_set_dtls_cookie_verification_enabled(cfg, false);
    qdtls_configuration_set_peer_verify_mode(cfg, QDTLS_VERIFY_NONE);
    qdtls_set_dtls_configuration(client, cfg);
    qdtls_set_dtls_configuration(server, cfg);
    qdtls_configuration_free(cfg); /* the handles keep their copies */
    qdtls_set_psk_callback(client, psk, NULL);
    qdtls_set_psk_callback(server, psk, NULL);
    qdtls_set_peer_sockaddr(client, &saddr, sizeof saddr, NULL);
    qdtls_set_peer_sockaddr(server, &caddr, sizeof caddr, NULL);

    qdtls_do_handshake(client, cfd, NULL, 0);
    while (!(qdtls_is_connection_encrypted(client) && qdtls_is_connection_encrypted(server)) && rounds++ < 50) {
        ssize_t n = receive(sfd, server, buf, sizeof buf);
        if (n > 0 && !qdtls_do_handshake(server, sfd, buf, (size_t)n))
            break;
        n = receive(cfd, client, buf, sizeof buf);
        if (n > 0 && !qdtls_do_handshake(client, cfd, buf, (size_t)n))
            break;
    }
    if (!qdtls_is_connection_encrypted(client)) {
        qdtls_dtls_error_string(client, cipher, sizeof cipher);
        fprintf(stderr, "echo: handshake failed: %s\n", cipher);
        return 1;
    }
    qdtls_session_cipher(client, cipher, sizeof cipher);
    printf("echo: handshake complete, cipher %s\n", cipher);

    qdtls_write_datagram_encrypted(client, cfd, (const uint8_t *)"hello, DTLS", 11);
    ssize_t n = recv(sfd, buf, sizeof buf, 0);
    int64_t len = qdtls_decrypt_datagram(server, sfd, buf, (size_t)n, plain, sizeof plain);
    qdtls_write_datagram_encrypted(server, sfd, plain, (size_t)len);
    n = recv(cfd, buf, sizeof buf, 0);
    len = qdtls_decrypt_datagram(client, cfd, buf, (size_t)n, plain, sizeof plain);
    printf("echo: client got back '%.*s'\n", (int)len, (const char *)plain);

    qdtls_shutdown(client, cfd);
    n = recv(sfd, buf, sizeof buf, 0);
    len = qdtls_decrypt_datagram(server, sfd, buf, (size_t)n, plain, sizeof plain);
    printf("echo: server saw close_notify: %s\n",
           qdtls_dtls_error(server) == QDTLS_ERROR_REMOTE_CLOSED_CONNECTION_ERROR ? "yes" : "no");
    qdtls_free(client);
    qdtls_free(server);
    close(cfd);
    close(sfd);
    return len == -1 ? 0 : 1;
}
