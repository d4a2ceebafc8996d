// The few cryptographic operations rtfarm needs, over OpenSSL's libcrypto:
// HMAC-SHA256 for the farm link and the control plane's TCP login, random
// challenges, and a comparison that takes the same time whatever differs;
// and SipHash-2-4 (Aumasson and Bernstein, 2012), a keyed hash fast enough
// for every new SIP request: the farm's routing hash of Call-IDs.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

namespace rtfarm::crypto {

constexpr size_t HMAC_SHA256_BYTES = 32;

// HMAC-SHA256 of the concatenated `parts` under `key`: 32 raw bytes.
std::string hmac_sha256(std::string_view key, std::initializer_list<std::string_view> parts);

// SHA-256 of `data`, as 64 lowercase hex digits.
std::string sha256_hex(std::string_view data);

// SHA-256 of `data`: 32 raw bytes.
std::array<uint8_t, 32> sha256(std::string_view data);

// SipHash-2-4 of `data` under the 128-bit `key` (its bytes 0-7 and 8-15,
// little-endian: key[0] and key[1]).
using SipKey = std::array<uint64_t, 2>;
uint64_t siphash24(const SipKey& key, std::string_view data);
// A SipHash key for one use (`label`, one line) derived from `secret`: the
// first 16 bytes of SHA-256 of "label\nsecret". Every member derives the same.
SipKey derive_sip_key(std::string_view label, std::string_view secret);

// The public name of a secret: 16 lowercase hex digits, the first 8 bytes
// of SHA-256 of "rtfarm key id\nsecret". Members announce the ids of the
// secrets they hold (a key rotation, rtfarm.conf(5)); an id tells nothing
// of the secret.
std::string key_id(std::string_view secret);

// `n` bytes from the system's random source, as 2n lowercase hex digits.
std::string random_hex(size_t n);

// a == b, in time that depends only on the lengths.
bool equal_constant_time(std::string_view a, std::string_view b);

} // namespace rtfarm::crypto
