#include "base/crypto.hpp"

#include "base/assert.hpp"
#include "base/strings.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <vector>

namespace rtfarm::crypto {

std::string hmac_sha256(std::string_view key, std::initializer_list<std::string_view> parts) {
    // Fetched once per process; EVP_MAC objects are safe to share.
    static EVP_MAC* hmac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                           OSSL_PARAM_construct_end()};
    unsigned char out[EVP_MAX_MD_SIZE];
    size_t len = 0;
    EVP_MAC_CTX* ctx = hmac ? EVP_MAC_CTX_new(hmac) : nullptr;
    bool ok = ctx && EVP_MAC_init(ctx, reinterpret_cast<const unsigned char*>(key.data()),
                                  key.size(), params) == 1;
    for (std::string_view p : parts)
        ok = ok &&
             EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(p.data()), p.size()) == 1;
    ok = ok && EVP_MAC_final(ctx, out, &len, sizeof out) == 1;
    EVP_MAC_CTX_free(ctx);
    RTFARM_ASSERT(ok && len == HMAC_SHA256_BYTES);
    return std::string(reinterpret_cast<const char*>(out), len);
}

std::string sha256_hex(std::string_view data) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    bool ok = EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr) == 1;
    RTFARM_ASSERT(ok);
    return to_hex(md, len);
}

std::string random_hex(size_t n) {
    std::vector<unsigned char> buf(n);
    bool ok = RAND_bytes(buf.data(), static_cast<int>(n)) == 1;
    RTFARM_ASSERT(ok);
    return to_hex(buf.data(), n);
}

bool equal_constant_time(std::string_view a, std::string_view b) {
    return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

} // namespace rtfarm::crypto
