// The few cryptographic operations rtfarm needs, over OpenSSL's libcrypto:
// HMAC-SHA256 for the farm link and the control plane's TCP login, random
// challenges, and a comparison that takes the same time whatever differs.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <string>
#include <string_view>

namespace rtfarm::crypto {

constexpr size_t HMAC_SHA256_BYTES = 32;

// HMAC-SHA256 of the concatenated `parts` under `key`: 32 raw bytes.
std::string hmac_sha256(std::string_view key, std::initializer_list<std::string_view> parts);

// SHA-256 of `data`, as 64 lowercase hex digits.
std::string sha256_hex(std::string_view data);

// `n` bytes from the system's random source, as 2n lowercase hex digits.
std::string random_hex(size_t n);

// a == b, in time that depends only on the lengths.
bool equal_constant_time(std::string_view a, std::string_view b);

} // namespace rtfarm::crypto
