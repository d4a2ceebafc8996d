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

std::array<uint8_t, 32> sha256(std::string_view data) {
    std::array<uint8_t, 32> out{};
    unsigned int len = 0;
    bool ok = EVP_Digest(data.data(), data.size(), out.data(), &len, EVP_sha256(), nullptr) == 1;
    RTFARM_ASSERT(ok && len == out.size());
    return out;
}

namespace {

constexpr uint64_t rotl(uint64_t x, int b) {
    return (x << b) | (x >> (64 - b));
}

struct SipState {
    uint64_t v0, v1, v2, v3;
    void round() {
        v0 += v1;
        v1 = rotl(v1, 13);
        v1 ^= v0;
        v0 = rotl(v0, 32);
        v2 += v3;
        v3 = rotl(v3, 16);
        v3 ^= v2;
        v0 += v3;
        v3 = rotl(v3, 21);
        v3 ^= v0;
        v2 += v1;
        v1 = rotl(v1, 17);
        v1 ^= v2;
        v2 = rotl(v2, 32);
    }
    // One message word, with SipHash-2-4's two compression rounds.
    void absorb(uint64_t m) {
        v3 ^= m;
        round();
        round();
        v0 ^= m;
    }
};

uint64_t load_le(const unsigned char* p, size_t n) {
    uint64_t w = 0;
    for (size_t i = 0; i < n; ++i)
        w |= static_cast<uint64_t>(p[i]) << (8 * i);
    return w;
}

} // namespace

SipKey derive_sip_key(std::string_view label, std::string_view secret) {
    std::string in(label);
    in += '\n';
    in += secret;
    auto d = sha256(in);
    SipKey k{0, 0};
    for (size_t i = 0; i < 16; ++i)
        k[i / 8] |= static_cast<uint64_t>(d[i]) << (8 * (i % 8));
    return k;
}

std::string key_id(std::string_view secret) {
    std::string in("rtfarm key id\n");
    in += secret;
    return sha256_hex(in).substr(0, 16);
}

uint64_t siphash24(const SipKey& key, std::string_view data) {
    SipState s{key[0] ^ 0x736f6d6570736575ULL, key[1] ^ 0x646f72616e646f6dULL,
               key[0] ^ 0x6c7967656e657261ULL, key[1] ^ 0x7465646279746573ULL};
    const auto* p = reinterpret_cast<const unsigned char*>(data.data());
    size_t n = data.size();
    size_t whole = n - n % 8;
    for (size_t i = 0; i < whole; i += 8)
        s.absorb(load_le(p + i, 8));
    // The last word: the remaining bytes, and the length's low byte on top.
    s.absorb(load_le(p + whole, n - whole) | (static_cast<uint64_t>(n & 0xff) << 56));
    s.v2 ^= 0xff;
    for (int i = 0; i < 4; ++i)
        s.round();
    return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
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
