#include "tls.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

namespace rtfarm::sipfarmd {
namespace {

struct BioFree {
    void operator()(BIO* b) const noexcept { BIO_free(b); }
};
struct EvpPkeyFree {
    void operator()(EVP_PKEY* k) const noexcept { EVP_PKEY_free(k); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, EvpPkeyFree>;

} // namespace

std::string ssl_errors(std::string fallback) {
    std::string out;
    while (unsigned long e = ERR_get_error()) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof buf);
        if (!out.empty())
            out += "; ";
        out += buf;
    }
    return out.empty() ? fallback : out;
}

std::string tls_version(const SSL* ssl) {
    const char* v = ssl ? SSL_get_version(ssl) : nullptr;
    return v ? v : "";
}

namespace {

// A context for `method`: TLS 1.2 at least, the modes and options both
// sides use.
Result<SslCtxPtr> base_context(const SSL_METHOD* method) {
    SslCtxPtr ctx(SSL_CTX_new(method));
    if (!ctx)
        return make_error("tls", "cannot create a TLS context: " + ssl_errors());
    if (SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION) != 1)
        return make_error("tls", "cannot require TLS 1.2: " + ssl_errors());
    SSL_CTX_set_mode(ctx.get(), SSL_MODE_ENABLE_PARTIAL_WRITE |
                                    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
    // A peer that closes without close_notify is a closed connection (SIP
    // frames its messages itself: no truncation to detect).
    SSL_CTX_set_options(ctx.get(), SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF);
    return ctx;
}

// The certificate chain and its key into `ctx`; an Error from `fail`.
template <typename Fail>
Status use_key_pair(SSL_CTX* ctx, const config::TlsFiles& files, Fail& fail) {
    if (SSL_CTX_use_certificate_chain_file(ctx, files.certificate.c_str()) != 1)
        return fail("certificate",
                    files.certificate + " is not a usable PEM certificate chain: " + ssl_errors());
    // The key read on its own first, so a key of another certificate is
    // reported as that rather than as a missing key.
    EvpPkeyPtr key;
    if (BioPtr in{BIO_new_file(files.key.c_str(), "r")})
        key.reset(PEM_read_bio_PrivateKey(in.get(), nullptr, nullptr, nullptr));
    if (!key)
        return fail("key", files.key + " is not a usable PEM private key: " + ssl_errors());
    X509* leaf = SSL_CTX_get0_certificate(ctx);
    if (!leaf || X509_check_private_key(leaf, key.get()) != 1)
        return fail("key", files.key + " does not match the certificate " + files.certificate +
                               " (" + ssl_errors("another key pair") + ")");
    if (SSL_CTX_use_PrivateKey(ctx, key.get()) != 1 || SSL_CTX_check_private_key(ctx) != 1)
        return fail("key", files.key + " does not match the certificate " + files.certificate +
                               ": " + ssl_errors());
    return {};
}

} // namespace

Result<SslCtxPtr> make_server_context(const config::TlsFiles& files, const std::string& config_path,
                                      const std::string& where) {
    ERR_clear_error();
    auto fail = [&](const std::string& key, const std::string& what) -> Error {
        return Error{"config", config_path + ": " + where + "." + key + ": " + what};
    };
    auto made = base_context(TLS_server_method());
    if (!made)
        return made.error();
    SslCtxPtr ctx = std::move(made.value());
    SSL_CTX_set_options(ctx.get(), SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (auto st = use_key_pair(ctx.get(), files, fail); !st)
        return st.error();
    if (!files.ca.empty()) {
        if (SSL_CTX_load_verify_locations(ctx.get(), files.ca.c_str(), nullptr) != 1)
            return fail("ca", files.ca + " is not a usable PEM CA bundle: " + ssl_errors());
        if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(files.ca.c_str()))
            SSL_CTX_set_client_CA_list(ctx.get(), names);
        else
            return fail("ca", files.ca + " holds no CA certificate: " + ssl_errors());
        SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
    }
    ERR_clear_error();
    return ctx;
}

Result<SslCtxPtr> make_client_context(const config::TlsFiles* files, const std::string& config_path,
                                      const std::string& where) {
    ERR_clear_error();
    auto fail = [&](const std::string& key, const std::string& what) -> Error {
        return Error{"config", config_path + ": " + where + "." + key + ": " + what};
    };
    auto made = base_context(TLS_client_method());
    if (!made)
        return made.error();
    SslCtxPtr ctx = std::move(made.value());
    if (files) {
        if (auto st = use_key_pair(ctx.get(), *files, fail); !st)
            return st.error();
    }
    if (files && !files->ca.empty()) {
        if (SSL_CTX_load_verify_locations(ctx.get(), files->ca.c_str(), nullptr) != 1)
            return fail("ca", files->ca + " is not a usable PEM CA bundle: " + ssl_errors());
    } else if (SSL_CTX_set_default_verify_paths(ctx.get()) != 1) {
        return make_error("tls", "cannot load the system's CA certificates: " + ssl_errors());
    }
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
    ERR_clear_error();
    return ctx;
}

} // namespace rtfarm::sipfarmd
