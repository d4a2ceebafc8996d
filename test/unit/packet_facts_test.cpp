// The facts route() reads, taken from scanned messages: the fields map to
// the right headers, and a bare Call-ID routes like a new request.
#include "sip/farm_tags.hpp"
#include "sip/packet_facts.hpp"
#include "sip/route.hpp"
#include "sip/scanner.hpp"

#include <boost/test/unit_test.hpp>

#include <string>

using namespace rtfarm::sip;

// Boost.Test prints a routing reason by its name (found by ADL).
namespace rtfarm::sip {
inline std::ostream& boost_test_print_type(std::ostream& os, Reason r) {
    return os << to_string(r);
}
} // namespace rtfarm::sip

namespace {

FarmView three() {
    FarmView v;
    v.self = "f1";
    v.self_farm_member = true;
    v.epoch = 4;
    for (const char* id : {"f1", "f2", "f3"}) {
        FarmView::Member m;
        m.id = id;
        m.farm_member = true;
        v.members.push_back(m);
    }
    return v;
}

const std::string BYE = "BYE sip:bob@192.0.2.4 SIP/2.0\r\n"
                        "Via: SIP/2.0/UDP 198.51.100.10:5060;branch=z9hG4bKbye1\r\n"
                        "Route: <sip:203.0.113.1;lr;fm=f3>, <sip:proxy.example.com;lr>\r\n"
                        "Max-Forwards: 70\r\n"
                        "From: <sip:alice@example.com>;tag=a\r\n"
                        "To: <sip:bob@example.com>;tag=b\r\n"
                        "Call-ID: facts-1@example.com\r\n"
                        "CSeq: 2 BYE\r\n"
                        "Content-Length: 0\r\n\r\n";

} // namespace

BOOST_AUTO_TEST_SUITE(packet_facts)

// The target's BYE when the processor Record-Routed with the farm's
// address and the farm kept one Record-Route (its own, of the way in):
// routed to the member our Route behind the processor's names.
BOOST_AUTO_TEST_CASE(our_route_behind_the_processors_decides) {
    std::string bye = BYE;
    bye.replace(bye.find("<sip:203.0.113.1;lr;fm=f3>, <sip:proxy.example.com;lr>"),
                std::string("<sip:203.0.113.1;lr;fm=f3>, <sip:proxy.example.com;lr>").size(),
                "<sip:203.0.113.1;lr;ftag=x>, <sip:203.0.113.1;lr;fm=f3>");
    auto m = scan(bye);
    BOOST_REQUIRE(m.ok());
    auto f = rtfarm::sip::packet_facts(bye, *m, "203.0.113.1");
    BOOST_TEST(f.top_route == "<sip:203.0.113.1;lr;fm=f3>");
    // Without the farm's host, or at another one: the top Route, as it is.
    BOOST_TEST(rtfarm::sip::packet_facts(bye, *m).top_route == "<sip:203.0.113.1;lr;ftag=x>");
    BOOST_TEST(rtfarm::sip::packet_facts(bye, *m, "192.0.2.1").top_route ==
               "<sip:203.0.113.1;lr;ftag=x>");
    auto d = route(f, Origin::outside, three());
    BOOST_TEST((d.kind == Decision::Kind::relay));
    BOOST_TEST(d.member == "f3");
    BOOST_TEST(d.reason == Reason::route_tag);
}

BOOST_AUTO_TEST_CASE(fields_come_from_their_headers) {
    auto m = scan(BYE);
    BOOST_REQUIRE(m.ok());
    auto f = rtfarm::sip::packet_facts(BYE, *m);
    BOOST_TEST(f.is_request);
    BOOST_TEST(f.method == "BYE");
    BOOST_TEST(f.top_via_branch == "z9hG4bKbye1");
    BOOST_TEST(f.top_route == "<sip:203.0.113.1;lr;fm=f3>");
    BOOST_TEST(f.request_uri == "sip:bob@192.0.2.4");
    BOOST_TEST(f.call_id == "facts-1@example.com");
    BOOST_TEST(!f.probe);
    auto d = route(f, Origin::outside, three());
    BOOST_TEST((d.kind == Decision::Kind::relay));
    BOOST_TEST(d.member == "f3");
    BOOST_TEST(d.reason == Reason::route_tag);
}

BOOST_AUTO_TEST_CASE(a_probe_and_its_reply_from) {
    std::string probe = "OPTIONS sip:lbcheck@203.0.113.1 SIP/2.0\r\n"
                        "Via: SIP/2.0/UDP 198.51.100.10:5060;branch=z9hG4bKp1\r\n"
                        "From: <sip:lbcheck@example.com>;tag=a\r\n"
                        "To: <sip:lbcheck@203.0.113.1>\r\n"
                        "Call-ID: probe-1\r\n"
                        "CSeq: 1 OPTIONS\r\n"
                        "X-Farm-Reply-From: f2\r\n"
                        "Content-Length: 0\r\n\r\n";
    auto m = scan(probe);
    BOOST_REQUIRE(m.ok());
    auto f = rtfarm::sip::packet_facts(probe, *m);
    BOOST_TEST(f.probe);
    BOOST_TEST(f.reply_from == "f2");
    BOOST_TEST(route(f, Origin::outside, three()).reason == Reason::reply_from);
}

BOOST_AUTO_TEST_CASE(a_bare_call_id_routes_by_its_hash) {
    auto v = three();
    for (int i = 0; i < 50; ++i) {
        std::string cid = "bare-" + std::to_string(i);
        auto d = route(call_id_facts(cid), Origin::outside, v);
        BOOST_TEST(d.reason == Reason::call_id_hash);
        BOOST_TEST(d.member == rendezvous_owner(cid, v));
        BOOST_TEST((d.kind == (d.member == "f1" ? Decision::Kind::local : Decision::Kind::relay)));
    }
}

BOOST_AUTO_TEST_SUITE_END()
