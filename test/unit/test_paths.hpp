// Where unit tests find the repository's files (etc/ examples, test/data/):
// $RTFARM_SRCDIR when set, else the current directory (`make check` runs from
// the repository root). Tests read nothing outside the repository; a file
// that is missing is a failure, never a reason to skip. It does not create or
// clean up anything.
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

// A path in the repository's test data, e.g. data_path("rfc4475/wsinv.dat")
// (test/data/rfc4475/README.md says what those messages are).
inline std::string data_path(std::string_view relative) {
    return repo_path("test/data/" + std::string(relative));
}

} // namespace rtfarm::test
