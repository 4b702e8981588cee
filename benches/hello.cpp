// The ClientHello source of scenario 5: a plain OpenSSL DTLS 1.2 client.
#include "bench.hpp"

#include <cstring>

#include <openssl/bio.h>
#include <openssl/ssl.h>

namespace bench {

// ---- HelloSource ----------------------------------------------------------

// Only so that OpenSSL offers the PSK suite; the handshake never gets that far.
static unsigned hello_psk(SSL *, const char *, char *identity, unsigned max_identity, unsigned char *psk,
                          unsigned max_psk) {
    std::size_t id = std::strlen(kPskIdentity), key = std::strlen(kPskKey);
    if (id + 1 > max_identity || key > max_psk)
        return 0;
    std::memcpy(identity, kPskIdentity, id + 1);
    std::memcpy(psk, kPskKey, key);
    return static_cast<unsigned>(key);
}

struct HelloSource::State {
    SSL_CTX *ctx = nullptr;
    SSL *ssl = nullptr;
    BIO *rbio = nullptr; // owned by ssl
    BIO *wbio = nullptr; // owned by ssl
};

HelloSource::HelloSource() : s_(std::make_unique<State>()) {
    s_->ctx = SSL_CTX_new(DTLS_client_method());
    SSL_CTX_set_min_proto_version(s_->ctx, DTLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(s_->ctx, DTLS1_2_VERSION);
    SSL_CTX_set_cipher_list(s_->ctx, kPskCipher);
    SSL_CTX_set_options(s_->ctx, SSL_OP_NO_QUERY_MTU);
    SSL_CTX_set_psk_client_callback(s_->ctx, hello_psk);
    s_->ssl = SSL_new(s_->ctx);
    s_->rbio = BIO_new(BIO_s_mem());
    s_->wbio = BIO_new(BIO_s_mem());
    BIO_set_mem_eof_return(s_->rbio, -1);
    SSL_set_bio(s_->ssl, s_->rbio, s_->wbio);
    DTLS_set_link_mtu(s_->ssl, kMtu);
    SSL_set_connect_state(s_->ssl);
}

HelloSource::~HelloSource() {
    SSL_free(s_->ssl);
    SSL_CTX_free(s_->ctx);
}

static std::string take(BIO *b) {
    std::string out(static_cast<std::size_t>(BIO_ctrl_pending(b)), '\0');
    if (!out.empty())
        BIO_read(b, out.data(), static_cast<int>(out.size()));
    return out;
}

std::string HelloSource::first_hello() {
    SSL_do_handshake(s_->ssl);
    return take(s_->wbio);
}

std::string HelloSource::answer(const std::uint8_t *hvr, std::size_t len) {
    BIO_write(s_->rbio, hvr, static_cast<int>(len));
    SSL_do_handshake(s_->ssl);
    return take(s_->wbio);
}

} // namespace bench
