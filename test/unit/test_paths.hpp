// Where unit tests find the repository's files (etc/ examples, test/data/):
// $RTFARM_SRCDIR when set, else the current directory (`make check` runs from
// the repository root). Tests read nothing outside the repository; a file
// that is missing is a failure, never a reason to skip. It does not create or
// clean up anything.
#pragma once

#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
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

// The bytes of a file; a file that cannot be read fails the test.
inline std::string read_file(const std::string& path);

// The text of an etc/ example (e.g. "etc/dsr.json") whose "secret_file"
// names test/data/farm.key: the examples name a farm.key that each operator
// makes (etc/README.md), which the repository does not ship. Parse it with
// config::parse(text, repo_path(name)).
inline std::string example_text(std::string_view name) {
    std::string text = read_file(repo_path(name));
    const std::string named = "\"secret_file\": \"farm.key\"";
    auto at = text.find(named);
    BOOST_REQUIRE_MESSAGE(at != std::string::npos, name << " names no farm.key");
    text.replace(at, named.size(),
                 "\"secret_file\": \"" + std::filesystem::absolute(data_path("farm.key")).string() +
                     "\"");
    return text;
}

// The bytes of a file; a file that cannot be read fails the test.
inline std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    BOOST_REQUIRE_MESSAGE(in, "cannot read " << path);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

} // namespace rtfarm::test
