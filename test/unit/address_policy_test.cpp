// The SDP address policy (issue 16, item 2): a table of addresses named by
// an offer or answer and whether the relay may send media there, and the
// prefixes of the allow list. No sockets.
#include "base/cidr.hpp"
#include "media/address_policy.hpp"

#include <boost/test/unit_test.hpp>

#include <string>

using namespace rtfarm;
using namespace rtfarm::media;

namespace {

SockAddr addr(const std::string& text) {
    auto a = SockAddr::parse(text);
    BOOST_REQUIRE_MESSAGE(a.ok(), text);
    return *a;
}

Cidr cidr(const std::string& text) {
    auto c = Cidr::parse(text);
    BOOST_REQUIRE_MESSAGE(c.ok(), text);
    return *c;
}

// A farm like the shipped examples: members 10.77.0.11-12, WAN 203.0.113.1,
// media ports 10000-19999 on f1 and 20000-29999 on f2.
AddressPolicy farm() {
    AddressPolicy p;
    p.internal = {addr("10.77.0.11:0"), addr("10.77.0.12:0")};
    p.farm = {addr("203.0.113.1:0")};
    p.media_ports = {PortRange{10000, 19999}, PortRange{20000, 29999}};
    return p;
}

std::string why(const AddressPolicy& p, const std::string& a) {
    return refusal(p, addr(a)).value_or("");
}

} // namespace

BOOST_AUTO_TEST_SUITE(address_policy)

BOOST_AUTO_TEST_CASE(cidr_parse_and_contains) {
    BOOST_TEST(cidr("198.51.100.0/24").contains(addr("198.51.100.7:4000")));
    BOOST_TEST(!cidr("198.51.100.0/24").contains(addr("198.51.101.7:4000")));
    BOOST_TEST(cidr("10.0.0.0/8").contains(addr("[::ffff:10.1.2.3]:1")));
    BOOST_TEST(cidr("0.0.0.0/0").contains(addr("1.2.3.4:1")));
    BOOST_TEST(!cidr("0.0.0.0/0").contains(addr("[2001:db8::1]:1")));
    BOOST_TEST(cidr("2001:db8::/32").contains(addr("[2001:db8:1::5]:1")));
    BOOST_TEST(cidr("127.0.0.1").bits == 32u);
    BOOST_TEST(cidr("127.0.0.1").contains(addr("127.0.0.1:9")));
    BOOST_TEST(!cidr("127.0.0.1").contains(addr("127.0.0.2:9")));
    BOOST_TEST(cidr("10.77.0.0/25").str() == "10.77.0.0/25");
    for (const char* bad :
         {"10.0.0.1/8", "10.0.0.0/33", "10.0.0.0/", "10.0.0.0/x", "host/8", "", "::1/129"}) {
        auto c = Cidr::parse(bad);
        BOOST_TEST(!c.ok(), bad);
        if (!c.ok())
            BOOST_TEST(c.error().code == "bad_address");
    }
}

BOOST_AUTO_TEST_CASE(special_addresses_are_refused) {
    const AddressPolicy p = farm();
    BOOST_TEST(why(p, "127.0.0.1:5070") == "loopback");
    BOOST_TEST(why(p, "127.8.9.1:4000") == "loopback");
    BOOST_TEST(why(p, "[::1]:4000") == "loopback");
    BOOST_TEST(why(p, "[::ffff:127.0.0.1]:4000") == "loopback");
    BOOST_TEST(why(p, "0.0.0.0:4000") == "unspecified");
    BOOST_TEST(why(p, "0.1.2.3:4000") == "unspecified");
    BOOST_TEST(why(p, "[::]:4000") == "unspecified");
    BOOST_TEST(why(p, "169.254.1.1:4000") == "link-local");
    BOOST_TEST(why(p, "[fe80::1]:4000") == "link-local");
    BOOST_TEST(why(p, "224.0.0.1:4000") == "multicast");
    BOOST_TEST(why(p, "239.255.255.250:1900") == "multicast");
    BOOST_TEST(why(p, "[ff02::1]:4000") == "multicast");
    BOOST_TEST(why(p, "255.255.255.255:4000") == "broadcast");
    // Clients on the Internet and on private networks pass.
    BOOST_TEST(why(p, "198.51.100.10:6000") == "");
    BOOST_TEST(why(p, "192.168.1.20:6000") == "");
    BOOST_TEST(why(p, "[2001:db8::7]:6000") == "");
}

BOOST_AUTO_TEST_CASE(the_farms_own_addresses) {
    const AddressPolicy p = farm();
    BOOST_TEST(why(p, "10.77.0.11:5070") == "a member's internal address");
    BOOST_TEST(why(p, "10.77.0.12:30000") == "a member's internal address");
    BOOST_TEST(why(p, "10.77.0.13:30000") == ""); // not a member
    // The farm's public address: a relay port of a member is media; the SIP,
    // farm-link and control ports are not.
    BOOST_TEST(why(p, "203.0.113.1:10002") == "");
    BOOST_TEST(why(p, "203.0.113.1:29998") == "");
    BOOST_TEST(why(p, "203.0.113.1:5060") == "a farm address outside the members' media ports");
    BOOST_TEST(why(p, "203.0.113.1:5069") == "a farm address outside the members' media ports");
}

BOOST_AUTO_TEST_CASE(the_allow_list_overrides_every_class) {
    AddressPolicy p = farm();
    p.allow = {cidr("127.0.0.0/8"), cidr("10.77.0.11")};
    BOOST_TEST(why(p, "127.0.0.1:5070") == "");
    BOOST_TEST(why(p, "10.77.0.11:5070") == "");
    BOOST_TEST(why(p, "10.77.0.12:5070") == "a member's internal address");
    BOOST_TEST(why(p, "[::1]:4000") == "loopback");
    BOOST_TEST(why(p, "169.254.1.1:4000") == "link-local");
}

BOOST_AUTO_TEST_SUITE_END()
