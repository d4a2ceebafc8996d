// sip::media_test_allowed(): which lbcheck media test probes may hold relay
// ports (their source, and the address their SDP names).
#include "sip/media_probe.hpp"

#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

using namespace rtfarm;
using namespace rtfarm::sip;

namespace {

std::string sdp(const std::string& session_c, const std::string& media_c = "") {
    std::string s = "v=0\r\no=lbcheck 1 1 IN IP4 192.0.2.7\r\ns=-\r\n";
    if (!session_c.empty())
        s += "c=" + session_c + "\r\n";
    s += "t=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
    if (!media_c.empty())
        s += "c=" + media_c + "\r\n";
    return s;
}

std::string code(const Status& st) {
    return st ? "" : st.error().code;
}

SockAddr at(const char* text) {
    return SockAddr::parse(text).value();
}

} // namespace

BOOST_AUTO_TEST_SUITE(media_probe_rules)

BOOST_AUTO_TEST_CASE(the_sdp_may_name_only_the_probes_own_source) {
    const auto from = at("192.0.2.7:40000");
    const std::vector<Cidr> any;
    BOOST_TEST(code(media_test_allowed(sdp("IN IP4 192.0.2.7"), from, any)) == "");
    BOOST_TEST(code(media_test_allowed(sdp("", "IN IP4 192.0.2.7"), from, any)) == "");
    BOOST_TEST(code(media_test_allowed(sdp("IN IP4 192.0.2.7", "IN IP4 192.0.2.7"),
                                       at("[::ffff:192.0.2.7]:5060"), any)) == "");
    // The attack of issue 16: the relay's ports sending into the member.
    for (const char* c : {"IN IP4 127.0.0.1", "IN IP4 10.0.0.5", "IN IP4 0.0.0.0",
                          "IN IP4 224.0.0.1/127", "IN IP4 example.com", "IN IP6 ::1", "garbage"})
        BOOST_TEST(code(media_test_allowed(sdp(c), from, any)) == "probe_sdp_address", c);
    // Every c= line counts: one good one does not excuse another.
    BOOST_TEST(code(media_test_allowed(sdp("IN IP4 192.0.2.7", "IN IP4 127.0.0.1"), from, any)) ==
               "probe_sdp_address");
    BOOST_TEST(code(media_test_allowed(sdp(""), from, any)) == "probe_sdp_address");
    BOOST_TEST(code(media_test_allowed(sdp("IN IP6 2001:db8::7"), at("[2001:db8::7]:5060"), any)) ==
               "");
}

BOOST_AUTO_TEST_CASE(lbcheck_sources_limit_who_may_test) {
    std::vector<Cidr> allowed = {Cidr::parse("198.51.100.0/24").value(),
                                 Cidr::parse("192.0.2.7").value()};
    BOOST_TEST(code(media_test_allowed(sdp("IN IP4 192.0.2.7"), at("192.0.2.7:1"), allowed)) == "");
    BOOST_TEST(
        code(media_test_allowed(sdp("IN IP4 198.51.100.9"), at("198.51.100.9:1"), allowed)) == "");
    BOOST_TEST(code(media_test_allowed(sdp("IN IP4 192.0.2.8"), at("192.0.2.8:1"), allowed)) ==
               "probe_source_not_allowed");
}

BOOST_AUTO_TEST_SUITE_END()
