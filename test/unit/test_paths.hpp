// Where unit tests find the repository's files (etc/ examples, test/data/):
// $RTFARM_SRCDIR when set, else the current directory (`make check` runs from
// the repository root). It does not create or clean up anything.
#pragma once

#include <cstdlib>
#include <string>
#include <string_view>

namespace rtfarm::test {

inline std::string repo_root() {
    const char* dir = std::getenv("RTFARM_SRCDIR");
    return dir && *dir ? std::string(dir) : std::string(".");
}

// A path inside the repository, e.g. repo_path("etc/dsr.json").
inline std::string repo_path(std::string_view relative) {
    return repo_root() + "/" + std::string(relative);
}

// A path in the shared data folder beside the repository (the RFC 4475
// messages, e.g. shared_path("testdata/rfc4475/wsinv.dat")): $RTFARM_SHARED
// when set, else "../shared" from the repository root.
inline std::string shared_path(std::string_view relative) {
    const char* dir = std::getenv("RTFARM_SHARED");
    std::string root = dir && *dir ? std::string(dir) : repo_root() + "/../shared";
    return root + "/" + std::string(relative);
}

} // namespace rtfarm::test
