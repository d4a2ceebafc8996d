#include "sip/farm_link.hpp"

#include <boost/test/unit_test.hpp>

using namespace rtfarm;
using namespace rtfarm::sip;

namespace {

FarmEnvelope sample() {
    FarmEnvelope e;
    e.flags = FARM_FLAG_OUTBOUND;
    e.hops = 1;
    e.source = SockAddr::parse("198.51.100.10:40312").value();
    e.destination = SockAddr::parse("[2001:db8::1]:5060").value();
    e.receiver = "f1";
    e.sender = "f1";
    e.to = "f2";
    e.incarnation = 1796591911233;
    e.sequence = 0x0102030405060708ULL;
    return e;
}

const std::string_view SIP = "OPTIONS sip:lbcheck@203.0.113.1 SIP/2.0\r\n\r\n";

} // namespace

BOOST_AUTO_TEST_SUITE(farm_link)

BOOST_AUTO_TEST_CASE(round_trip_with_and_without_secret) {
    for (std::string_view secret : {std::string_view(), std::string_view("s3cret key")}) {
        std::string wire = encode_farm_packet(sample(), SIP, secret);
        BOOST_TEST(looks_like_farm_packet(wire));
        auto p = decode_farm_packet(wire, secret);
        BOOST_REQUIRE_MESSAGE(p.ok(), (p.ok() ? "" : p.error().message));
        BOOST_TEST((p->envelope == sample()));
        BOOST_TEST(p->payload == SIP);
    }
    BOOST_TEST(!looks_like_farm_packet(SIP));
}

BOOST_AUTO_TEST_CASE(secret_is_enforced) {
    std::string plain = encode_farm_packet(sample(), SIP, "");
    auto r = decode_farm_packet(plain, "key");
    BOOST_REQUIRE(!r.ok());
    BOOST_TEST(r.error().code == "farm_unauthenticated");

    std::string signed_ = encode_farm_packet(sample(), SIP, "other key");
    r = decode_farm_packet(signed_, "key");
    BOOST_REQUIRE(!r.ok());
    BOOST_TEST(r.error().code == "farm_bad_mac");

    // Any flipped byte, in the envelope or the SIP message, breaks the MAC.
    std::string good = encode_farm_packet(sample(), SIP, "key");
    for (size_t i = 4; i < good.size(); i += 7) {
        std::string bad = good;
        bad[i] ^= 0x20;
        BOOST_TEST(!decode_farm_packet(bad, "key").ok(), "byte " << i);
    }
}

BOOST_AUTO_TEST_CASE(the_members_asked_in_a_handoff_travel_with_the_packet) {
    auto e = sample();
    e.asked = {"f2", "f4"};
    auto r = decode_farm_packet(encode_farm_packet(e, SIP, "key"), "key");
    BOOST_REQUIRE(r.ok());
    BOOST_TEST((r->envelope == e));
    // More names than hops allowed: refused.
    std::string wire = encode_farm_packet(sample(), SIP, "");
    size_t at = wire.size() - SIP.size() - 2; // the asked count, before the MAC length
    BOOST_REQUIRE(wire[at] == 0);
    wire[at] = static_cast<char>(FARM_LINK_MAX_HOPS + 1);
    BOOST_TEST(decode_farm_packet(wire, "").error().code == "farm_malformed");
}

BOOST_AUTO_TEST_CASE(malformed_envelopes_are_refused) {
    std::string good = encode_farm_packet(sample(), SIP, "");
    size_t envelope = good.size() - SIP.size();
    for (size_t n = 0; n < envelope; ++n) // every truncation inside the envelope
        BOOST_TEST(!decode_farm_packet(good.substr(0, n), "").ok(), "length " << n);
    for (char version : {'\x03', '\x05'}) {
        std::string other = good;
        other[4] = version;
        BOOST_TEST(decode_farm_packet(other, "").error().code == "farm_malformed");
    }
    auto e = sample();
    e.hops = FARM_LINK_MAX_HOPS + 1;
    BOOST_TEST(decode_farm_packet(encode_farm_packet(e, SIP, ""), "").error().code == "farm_hops");
    e.hops = 0;
    BOOST_TEST(decode_farm_packet(encode_farm_packet(e, SIP, ""), "").error().code == "farm_hops");
    std::string fam = good;
    fam[16] = 5; // source family, after the 8 connection bytes
    BOOST_TEST(!decode_farm_packet(fam, "").ok());
}

BOOST_AUTO_TEST_CASE(a_client_connection_travels_with_the_packet) {
    auto e = sample();
    e.flags = 0;
    e.transport = Transport::tcp;
    e.connection = 0x0102030405060708ULL;
    auto r = decode_farm_packet(encode_farm_packet(e, SIP, "key"), "key");
    BOOST_REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().message));
    BOOST_TEST((r->envelope == e));
    // The way back: write on the receiver's connection.
    e.flags = FARM_FLAG_TO_CONNECTION;
    e.transport = Transport::tls;
    r = decode_farm_packet(encode_farm_packet(e, SIP, ""), "");
    BOOST_REQUIRE(r.ok());
    BOOST_TEST(r->envelope.connection == 0x0102030405060708ULL);
    BOOST_TEST(r->envelope.flags == FARM_FLAG_TO_CONNECTION);
}

BOOST_AUTO_TEST_CASE(connection_fields_are_checked) {
    auto code = [](const FarmEnvelope& e) {
        auto r = decode_farm_packet(encode_farm_packet(e, SIP, ""), "");
        return r.ok() ? std::string("ok") : r.error().code;
    };
    auto e = sample();
    e.connection = 7; // UDP naming a connection
    BOOST_TEST(code(e) == "farm_malformed");
    e.transport = Transport::tcp;
    e.connection = 0; // TCP without one
    BOOST_TEST(code(e) == "farm_malformed");
    e.connection = 7;
    e.transport = Transport::sctp; // not carried: written as '?', refused
    BOOST_TEST(code(e) == "farm_malformed");
    e.transport = Transport::tcp;
    std::string wire = encode_farm_packet(e, SIP, "");
    wire[7] = 'X'; // the transport byte, after magic, version, flags and hops
    BOOST_TEST(decode_farm_packet(wire, "").error().code == "farm_malformed");
    e.flags = FARM_FLAG_TO_CONNECTION | FARM_FLAG_OUTBOUND;
    BOOST_TEST(code(e) == "farm_malformed");
    e.flags = FARM_FLAG_TO_CONNECTION | FARM_FLAG_HEARTBEAT;
    BOOST_TEST(code(e) == "farm_malformed");
    e.flags = FARM_FLAG_TO_CONNECTION;
    BOOST_TEST(code(e) == "ok");
}

// Issue 17: a captured packet, replayed, is refused; so is one older than
// the window; a restart (higher incarnation) starts afresh, and a lower
// incarnation only once the known run has been silent for dead_after.
BOOST_AUTO_TEST_CASE(replays_are_refused) {
    using namespace std::chrono_literals;
    FarmReplayGuard g;
    const auto t0 = FarmReplayGuard::Clock::time_point{} + 1000s;
    const auto dead = 1000ms;
    BOOST_TEST(g.accept("f2", 100, 1, t0, dead));
    BOOST_TEST(!g.accept("f2", 100, 1, t0, dead)); // the same packet again
    BOOST_TEST(g.accept("f2", 100, 3, t0, dead));
    BOOST_TEST(g.accept("f2", 100, 2, t0, dead)); // late, not seen: taken
    BOOST_TEST(!g.accept("f2", 100, 2, t0, dead));
    BOOST_TEST(g.accept("f2", 100, 3 + FarmReplayGuard::WINDOW, t0, dead));
    BOOST_TEST(!g.accept("f2", 100, 3, t0, dead)); // slid out of the window
    BOOST_TEST(g.accept("f2", 100, 4 + FarmReplayGuard::WINDOW, t0, dead));
    BOOST_TEST(!g.accept("f2", 100, 4 + FarmReplayGuard::WINDOW, t0, dead));
    // Another sender has its own numbers.
    BOOST_TEST(g.accept("f3", 7, 1, t0, dead));
    // f2 restarts: a higher incarnation starts again at 1.
    BOOST_TEST(g.accept("f2", 200, 1, t0 + 1s, dead));
    BOOST_TEST(!g.accept("f2", 100, 5 + FarmReplayGuard::WINDOW, t0 + 1s, dead)); // old run
    // Restarted with its clock behind: refused while 200 speaks, taken
    // once it has been silent for dead_after.
    BOOST_TEST(!g.accept("f2", 150, 1, t0 + 1500ms, dead));
    BOOST_TEST(g.accept("f2", 150, 1, t0 + 2s, dead));
    BOOST_TEST(!g.accept("f2", 150, 1, t0 + 2s, dead));
    // A jump far ahead clears the window.
    BOOST_TEST(g.accept("f2", 150, 1'000'000, t0 + 2s, dead));
    BOOST_TEST(!g.accept("f2", 150, 1'000'000 - FarmReplayGuard::WINDOW, t0 + 2s, dead));
    BOOST_TEST(g.accept("f2", 150, 999'999, t0 + 2s, dead));
    g.keep_only({"f2"});
    BOOST_TEST(g.size() == 1u);
}

BOOST_AUTO_TEST_SUITE_END()
