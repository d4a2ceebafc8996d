// test_data: the repository's test data is what its checksums say.
// test/data/rfc4475/SHA256SUMS (sha256sum format) lists every RFC 4475
// message; each listed file must match its SHA-256 (base/crypto.hpp), and
// every .dat file in the folder, extra/ included, must be listed, so a file
// changed by an editor or by git's line-end conversion, or added without its
// checksum, fails here rather than as an odd scanner result.
#include "base/crypto.hpp"
#include "test_paths.hpp"

#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

using namespace rtfarm;

namespace {

// A missing file fails the test (test_paths.hpp).
using test::read_file;

// The lines of a SHA256SUMS file: relative name -> 64 lowercase hex digits.
// "HASH  NAME" (text mode) and "HASH *NAME" (binary mode) are both sha256sum's.
std::map<std::string, std::string> read_sums(const std::string& path) {
    std::map<std::string, std::string> sums;
    std::istringstream in(read_file(path));
    std::string line;
    size_t number = 0;
    while (std::getline(in, line)) {
        ++number;
        BOOST_TEST_CONTEXT(path << " line " << number) {
            BOOST_REQUIRE(line.size() > 66u);
            std::string hash = line.substr(0, 64);
            BOOST_TEST(hash.find_first_not_of("0123456789abcdef") == std::string::npos);
            BOOST_TEST(line[64] == ' ');
            BOOST_TEST((line[65] == ' ' || line[65] == '*'));
            std::string name = line.substr(66);
            BOOST_TEST(sums.emplace(name, hash).second, "listed twice: " << name);
        }
    }
    return sums;
}

} // namespace

BOOST_AUTO_TEST_SUITE(test_data)

BOOST_AUTO_TEST_CASE(rfc4475_files_match_their_checksums) {
    auto sums = read_sums(test::data_path("rfc4475/SHA256SUMS"));
    // The RFC's archive holds 50 files: 49 messages and extra/test.dat.
    BOOST_TEST(sums.size() == 50u);
    for (const auto& [name, hash] : sums) {
        BOOST_TEST_CONTEXT("rfc4475/" << name) {
            BOOST_TEST(crypto::sha256_hex(read_file(test::data_path("rfc4475/" + name))) == hash);
        }
    }
}

BOOST_AUTO_TEST_CASE(rfc4475_every_message_is_listed) {
    namespace fs = std::filesystem;
    auto sums = read_sums(test::data_path("rfc4475/SHA256SUMS"));
    fs::path dir = test::data_path("rfc4475");
    BOOST_REQUIRE_MESSAGE(fs::is_directory(dir), "cannot read " << dir);
    size_t files = 0;
    for (const auto& e : fs::recursive_directory_iterator(dir)) {
        if (!e.is_regular_file() || e.path().extension() != ".dat")
            continue;
        ++files;
        std::string name = e.path().lexically_relative(dir).generic_string();
        BOOST_TEST(sums.count(name) == 1u, name << " is not in SHA256SUMS");
    }
    BOOST_TEST(files == sums.size());
}

BOOST_AUTO_TEST_SUITE_END()
