// media::ephemeral_overlap(): the start-up warning about media ports the
// kernel may give to other sockets.
#include "media/host_ports.hpp"

#include <boost/test/unit_test.hpp>

using namespace rtfarm;

BOOST_AUTO_TEST_SUITE(host_ports)

BOOST_AUTO_TEST_CASE(a_range_inside_the_ephemeral_ports_is_reported_with_the_fix) {
    auto w = media::ephemeral_overlap({40000, 49999}, "32768\t60999\n", "\n");
    BOOST_REQUIRE(w.has_value());
    BOOST_TEST(w->find("10000 ports not reserved") != std::string::npos, *w);
    BOOST_TEST(w->find("net.ipv4.ip_local_reserved_ports=40000-49999") != std::string::npos, *w);
}

BOOST_AUTO_TEST_CASE(a_range_below_or_reserved_is_fine) {
    BOOST_TEST(!media::ephemeral_overlap({10000, 19999}, "32768\t60999\n", "").has_value());
    BOOST_TEST(
        !media::ephemeral_overlap({40000, 49999}, "32768 60999", "40000-49999\n").has_value());
    auto partly = media::ephemeral_overlap({30000, 39999}, "32768 60999", "32768-39000");
    BOOST_REQUIRE(partly.has_value());
    BOOST_TEST(partly->find("999 ports not reserved") != std::string::npos, *partly);
}

BOOST_AUTO_TEST_CASE(unreadable_sysctls_say_nothing) {
    BOOST_TEST(!media::ephemeral_overlap({40000, 49999}, "", "").has_value());
    BOOST_TEST(!media::ephemeral_overlap({40000, 49999}, "garbage", "").has_value());
    BOOST_TEST(!media::ephemeral_overlap({40000, 49999}, "32768 60999", "x-y").has_value());
}

BOOST_AUTO_TEST_SUITE_END()
