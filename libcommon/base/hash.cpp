#include "base/hash.hpp"

namespace rtfarm {

uint64_t stable_hash(std::string_view data, uint64_t seed) {
    uint64_t h = 0xcbf29ce484222325ULL ^ (seed * 0x9e3779b97f4a7c15ULL);
    for (unsigned char c : data) {
        h ^= c;
        h *= 0x100000001b3ULL;
    }
    // splitmix64 finaliser: spreads FNV's weak low bits.
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    h ^= h >> 31;
    return h;
}

} // namespace rtfarm
