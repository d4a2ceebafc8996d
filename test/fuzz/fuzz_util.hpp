// What the libFuzzer targets in test/fuzz/ share: check() (a broken
// invariant traps, which libFuzzer reports as a crash with the input), a
// byte cursor over the fuzz input for the targets that read operations, and
// the seed writer: run with RTFARM_FUZZ_WRITE_SEEDS=DIR, a target writes
// the seeds it makes with the code's own encoders into DIR and exits
// (test/fuzz/run.sh does this before fuzzing). Not a library: each target
// includes it once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace rtfarm::fuzz {

inline void check(bool ok) {
    if (!ok)
        __builtin_trap();
}

// Reads the fuzz input front to back; past the end it yields zeros and empty strings.
struct Cursor {
    std::string_view data;
    size_t pos = 0;

    bool done() const { return pos >= data.size(); }
    uint8_t byte() { return pos < data.size() ? static_cast<uint8_t>(data[pos++]) : 0; }
    uint16_t u16() { return static_cast<uint16_t>(byte() << 8 | byte()); }
    // Up to `max` bytes, the count taken from the next byte.
    std::string_view bytes(size_t max) {
        size_t n = byte() % (max + 1);
        n = std::min(n, data.size() - std::min(pos, data.size()));
        auto v = data.substr(std::min(pos, data.size()), n);
        pos += n;
        return v;
    }
    std::string_view rest() {
        auto v = data.substr(std::min(pos, data.size()));
        pos = data.size();
        return v;
    }
};

// When RTFARM_FUZZ_WRITE_SEEDS names a directory: write `seeds` there as
// seed-0, seed-1, ... and exit (1 when a file cannot be written). Else nothing.
inline void write_seeds_and_exit(const std::vector<std::string>& seeds) {
    const char* dir = std::getenv("RTFARM_FUZZ_WRITE_SEEDS");
    if (dir == nullptr || *dir == '\0')
        return;
    for (size_t i = 0; i < seeds.size(); ++i) {
        std::string path = std::string(dir) + "/seed-" + std::to_string(i);
        FILE* f = std::fopen(path.c_str(), "wb");
        if (f == nullptr ||
            std::fwrite(seeds[i].data(), 1, seeds[i].size(), f) != seeds[i].size()) {
            std::perror(path.c_str());
            std::exit(1);
        }
        std::fclose(f);
    }
    std::exit(0);
}

} // namespace rtfarm::fuzz
