#include "base/crypto.hpp"
#include "base/log.hpp"
#include "base/result.hpp"
#include "base/strings.hpp"
#include "base/unique_fd.hpp"

#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <string>
#include <vector>

using namespace rtfarm;

BOOST_AUTO_TEST_SUITE(base)

BOOST_AUTO_TEST_CASE(result_holds_value_or_error) {
    Result<int> good = 7;
    BOOST_TEST(good.ok());
    BOOST_TEST(*good == 7);
    Result<int> bad = make_error("io", "disk gone");
    BOOST_TEST(!bad.ok());
    BOOST_TEST(bad.error().code == "io");
    Status s;
    BOOST_TEST(s.ok());
    Status f = make_error("x", "y");
    BOOST_TEST(!f.ok());
    BOOST_TEST(f.error().message == "y");
}

BOOST_AUTO_TEST_CASE(unique_fd_closes_once) {
    int raw = ::open("/dev/null", O_RDONLY);
    BOOST_REQUIRE(raw >= 0);
    {
        UniqueFd fd(raw);
        UniqueFd moved(std::move(fd));
        BOOST_TEST(!fd.valid());
        BOOST_TEST(moved.get() == raw);
    }
    BOOST_TEST(::fcntl(raw, F_GETFD) == -1);
}

BOOST_AUTO_TEST_CASE(log_line_is_key_value) {
    std::string line =
        log::format_line(log::Level::warn, "farm", "relay failed",
                         {{"peer", "10.0.0.7:5060"}, {"err", "no route"}, {"n", ""}});
    BOOST_TEST(line ==
               R"(level=warn sub=farm msg="relay failed" peer=10.0.0.7:5060 err="no route" n="")");
    std::string esc = log::format_line(log::Level::info, "x", "a\"b\n", {{"k", "a=b"}});
    BOOST_TEST(esc == R"(level=info sub=x msg="a\"b\n" k="a=b")");
}

BOOST_AUTO_TEST_CASE(log_levels_per_subsystem) {
    std::vector<std::string> lines;
    log::set_sink([&](std::string_view l) { lines.emplace_back(l); });
    BOOST_TEST(log::apply_spec("warn,farm=debug"));
    log::info("ctl", "hidden");
    log::debug("farm", "shown");
    log::error("ctl", "shown too");
    BOOST_TEST(!log::apply_spec("loud"));
    BOOST_TEST(!log::apply_spec("farm=loud"));
    log::set_level("farm", log::Level::info);
    log::set_default_level(log::Level::info);
    log::reset_sink();
    BOOST_REQUIRE(lines.size() == 2u);
    BOOST_TEST(lines[0].find("sub=farm") != std::string::npos);
    BOOST_TEST(lines[1].find("level=error") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(rate_limit_refills_with_time) {
    log::RateLimit rl(1.0, 2.0);
    auto t0 = std::chrono::steady_clock::time_point{} + std::chrono::seconds(100);
    BOOST_TEST(rl.allow(t0));
    BOOST_TEST(rl.allow(t0));
    BOOST_TEST(!rl.allow(t0));
    BOOST_TEST(rl.allow(t0 + std::chrono::seconds(1)));
    BOOST_TEST(rl.suppressed() == 1u);
}

BOOST_AUTO_TEST_CASE(strict_number_parsing) {
    BOOST_TEST(parse_u64("5060").value() == 5060u);
    BOOST_TEST(!parse_u64("").has_value());
    BOOST_TEST(!parse_u64("-1").has_value());
    BOOST_TEST(!parse_u64("12a").has_value());
    BOOST_TEST(!parse_u64("99999999999999999999999").has_value());
    BOOST_TEST(trim("  a b \r\n") == "a b");
    BOOST_TEST(split("a,,b", ',').size() == 3u);
    BOOST_TEST(equals_icase("Via", "VIA"));
}

// SipHash-2-4's reference vectors (the paper's appendix and the reference
// implementation's table): key 00 01 .. 0f, message 00 01 .. (n-1).
BOOST_AUTO_TEST_CASE(siphash24_reference_vectors) {
    crypto::SipKey key{0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL};
    std::string msg;
    for (char c = 0; c < 15; ++c)
        msg += c;
    BOOST_TEST(crypto::siphash24(key, "") == 0x726fdb47dd0e0e31ULL);
    BOOST_TEST(crypto::siphash24(key, msg) == 0xa129ca6149be45e5ULL);
    // Another key, another hash; the same key, the same hash.
    crypto::SipKey other{1, 2};
    BOOST_TEST(crypto::siphash24(other, msg) != crypto::siphash24(key, msg));
    BOOST_TEST(crypto::siphash24(key, msg) == crypto::siphash24(key, msg));
    BOOST_TEST(crypto::sha256("abc")[0] == 0xba); // ba7816bf...
}

BOOST_AUTO_TEST_SUITE_END()
