// stable_hash: a 64-bit hash that is the same on every member and build, for
// the farm's Via branches and the rendezvous hash. Not for secrets (those use
// base/crypto.hpp).
#pragma once

#include <cstdint>
#include <string_view>

namespace rtfarm {

// FNV-1a, then a final mix.
uint64_t stable_hash(std::string_view data, uint64_t seed = 0);

} // namespace rtfarm
