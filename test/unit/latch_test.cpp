// Latching decisions: a table of one packet arriving on a side whose state is
// given (strict or not, SDP address, what it learned), towards a side whose
// state is given; then the relatch rules over a sequence of offers, answers
// and packets. No sockets.
#include "media/latch.hpp"

#include "latch_setup.hpp"

#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

using namespace rtfarm;
using namespace rtfarm::media;
using rtfarm::test::latching::addr;
using rtfarm::test::latching::make;
using rtfarm::test::latching::SideSetup;

namespace {

std::string str(const SockAddr* a) {
    return a == nullptr ? "" : a->str();
}

// The caller's phone is behind NAT: its SDP says 192.168.1.5:4000, its
// packets come from 203.0.113.7:61000. The callee is a public trunk.
const char* PHONE_SDP = "192.168.1.5:4000";
const char* PHONE_NAT = "203.0.113.7:61000";
const char* TRUNK_SDP = "198.51.100.20:5000";

struct Row {
    const char* name;
    SideSetup from;
    SideSetup to;
    Component c;
    const char* source;
    size_t size;
    Drop drop;
    bool learn;
    const char* dest; // "" when dropped
};

const std::vector<Row>& rows() {
    const auto rtp = Component::rtp;
    const auto rtcp = Component::rtcp;
    const SideSetup trunk{false, TRUNK_SDP, "", "", false};
    static const std::vector<Row> table = {
        // Non-strict: the first source is learned, whatever it is.
        {"first packet from behind NAT is learned",
         {false, PHONE_SDP, "", ""},
         trunk,
         rtp,
         PHONE_NAT,
         172,
         Drop::none,
         true,
         TRUNK_SDP},
        {"learned source again",
         {false, PHONE_SDP, PHONE_NAT, ""},
         trunk,
         rtp,
         PHONE_NAT,
         172,
         Drop::none,
         false,
         TRUNK_SDP},
        {"another source is forwarded, not learned",
         {false, PHONE_SDP, PHONE_NAT, ""},
         trunk,
         rtp,
         "192.0.2.99:7000",
         172,
         Drop::none,
         false,
         TRUNK_SDP},
        {"the SDP's exact address replaces what was learned",
         {false, PHONE_SDP, PHONE_NAT, ""},
         trunk,
         rtp,
         PHONE_SDP,
         172,
         Drop::none,
         true,
         TRUNK_SDP},
        {"no SDP yet: learned anyway",
         {false, "", "", ""},
         trunk,
         rtp,
         PHONE_NAT,
         172,
         Drop::none,
         true,
         TRUNK_SDP},
        {"hold side still sending: learned",
         {false, "0.0.0.0:4000", "", ""},
         trunk,
         rtp,
         PHONE_NAT,
         172,
         Drop::none,
         true,
         TRUNK_SDP},
        // Strict: learned only from the SDP's host, any port; then locked.
        {"strict: SDP host, other port, learned",
         {true, TRUNK_SDP, "", ""},
         trunk,
         rtp,
         "198.51.100.20:5100",
         172,
         Drop::none,
         true,
         TRUNK_SDP},
        {"strict: other host is a stranger",
         {true, TRUNK_SDP, "", ""},
         trunk,
         rtp,
         PHONE_NAT,
         172,
         Drop::stranger,
         false,
         ""},
        {"strict: learned source passes",
         {true, TRUNK_SDP, "198.51.100.20:5100", ""},
         trunk,
         rtp,
         "198.51.100.20:5100",
         172,
         Drop::none,
         false,
         TRUNK_SDP},
        {"strict: SDP host, another port once learned, is a stranger",
         {true, TRUNK_SDP, "198.51.100.20:5100", ""},
         trunk,
         rtp,
         "198.51.100.20:5200",
         172,
         Drop::stranger,
         false,
         ""},
        {"strict: the SDP's exact address replaces what was learned",
         {true, TRUNK_SDP, "198.51.100.20:5100", ""},
         trunk,
         rtp,
         TRUNK_SDP,
         172,
         Drop::none,
         true,
         TRUNK_SDP},
        {"strict: the SDP's exact address learned first",
         {true, TRUNK_SDP, "", ""},
         trunk,
         rtp,
         TRUNK_SDP,
         172,
         Drop::none,
         true,
         TRUNK_SDP},
        {"strict: no SDP yet, everything is a stranger",
         {true, "", "", ""},
         trunk,
         rtp,
         TRUNK_SDP,
         172,
         Drop::stranger,
         false,
         ""},
        {"strict: on hold (0.0.0.0), everything is a stranger",
         {true, "0.0.0.0:5000", "", ""},
         trunk,
         rtp,
         TRUNK_SDP,
         172,
         Drop::stranger,
         false,
         ""},
        {"strict: RTCP from the SDP host, learned",
         {true, TRUNK_SDP, "", ""},
         trunk,
         rtcp,
         "198.51.100.20:5101",
         80,
         Drop::none,
         true,
         "198.51.100.20:5001"},
        {"strict: RTCP from another host is a stranger",
         {true, TRUNK_SDP, "", ""},
         trunk,
         rtcp,
         PHONE_NAT,
         80,
         Drop::stranger,
         false,
         ""},
        {"strict: RTP learned does not lock RTCP's port",
         {true, TRUNK_SDP, TRUNK_SDP, ""},
         trunk,
         rtcp,
         "198.51.100.20:5999",
         80,
         Drop::none,
         true,
         "198.51.100.20:5001"},
        // Where packets go: the other side's learned source, else its SDP.
        {"to the other side's learned source",
         {false, TRUNK_SDP, "", ""},
         {false, PHONE_SDP, PHONE_NAT, ""},
         rtp,
         TRUNK_SDP,
         172,
         Drop::none,
         true,
         PHONE_NAT},
        {"other side without SDP or packet: no_peer, still learned",
         {false, TRUNK_SDP, "", ""},
         {false, "", "", ""},
         rtp,
         TRUNK_SDP,
         172,
         Drop::no_peer,
         true,
         ""},
        {"other side on hold: no_peer",
         {false, TRUNK_SDP, TRUNK_SDP, ""},
         {false, "0.0.0.0:4000", "", ""},
         rtp,
         TRUNK_SDP,
         172,
         Drop::no_peer,
         false,
         ""},
        {"other side's stream rejected (port 0): no_peer",
         {false, TRUNK_SDP, TRUNK_SDP, ""},
         {false, "192.168.1.5:0", "", ""},
         rtp,
         TRUNK_SDP,
         172,
         Drop::no_peer,
         false,
         ""},
        {"other side learned while on hold: sent there",
         {false, TRUNK_SDP, TRUNK_SDP, ""},
         {false, "0.0.0.0:4000", PHONE_NAT, ""},
         rtp,
         TRUNK_SDP,
         172,
         Drop::none,
         false,
         PHONE_NAT},
        // RTCP follows RTP's learned address with its own port.
        {"RTCP: nothing learned, to the SDP's RTCP port",
         {false, TRUNK_SDP, "", ""},
         {false, PHONE_SDP, "", ""},
         rtcp,
         "198.51.100.20:5001",
         80,
         Drop::none,
         true,
         "192.168.1.5:4001"},
        {"RTCP: RTP learned, to its address and the SDP's RTCP port",
         {false, TRUNK_SDP, "", ""},
         {false, PHONE_SDP, PHONE_NAT, ""},
         rtcp,
         "198.51.100.20:5001",
         80,
         Drop::none,
         true,
         "203.0.113.7:4001"},
        {"RTCP: RTCP learned, to it",
         {false, TRUNK_SDP, "", ""},
         {false, PHONE_SDP, PHONE_NAT, "203.0.113.7:61001"},
         rtcp,
         "198.51.100.20:5001",
         80,
         Drop::none,
         true,
         "203.0.113.7:61001"},
        {"RTCP: no SDP, RTP learned: its port + 1",
         {false, TRUNK_SDP, "", ""},
         {false, "", PHONE_NAT, ""},
         rtcp,
         "198.51.100.20:5001",
         80,
         Drop::none,
         true,
         "203.0.113.7:61001"},
        {"RTCP: rtcp-mux side, RTP learned: the same address and port",
         {false, TRUNK_SDP, "", ""},
         {false, PHONE_SDP, PHONE_NAT, "", true},
         rtcp,
         "198.51.100.20:5001",
         80,
         Drop::none,
         true,
         PHONE_NAT},
        {"RTCP: rtcp-mux side, nothing learned: the SDP's RTP port",
         {false, TRUNK_SDP, "", ""},
         {false, PHONE_SDP, "", "", true},
         rtcp,
         "198.51.100.20:5001",
         80,
         Drop::none,
         true,
         PHONE_SDP},
        // Sizes: checked before the source, never learned.
        {"RTP of 11 bytes: too_small",
         {false, PHONE_SDP, "", ""},
         trunk,
         rtp,
         PHONE_NAT,
         11,
         Drop::too_small,
         false,
         ""},
        {"RTP of 12 bytes passes",
         {false, PHONE_SDP, "", ""},
         trunk,
         rtp,
         PHONE_NAT,
         12,
         Drop::none,
         true,
         TRUNK_SDP},
        {"RTCP of 7 bytes: too_small",
         {false, PHONE_SDP, "", ""},
         trunk,
         rtcp,
         PHONE_NAT,
         7,
         Drop::too_small,
         false,
         ""},
        {"RTCP of 8 bytes passes",
         {false, PHONE_SDP, "", ""},
         trunk,
         rtcp,
         PHONE_NAT,
         8,
         Drop::none,
         true,
         "198.51.100.20:5001"},
        {"1500 bytes pass",
         {false, PHONE_SDP, "", ""},
         trunk,
         rtp,
         PHONE_NAT,
         1500,
         Drop::none,
         true,
         TRUNK_SDP},
        {"1501 bytes: oversize",
         {false, PHONE_SDP, "", ""},
         trunk,
         rtp,
         PHONE_NAT,
         1501,
         Drop::oversize,
         false,
         ""},
        {"strict stranger too small: too_small first",
         {true, TRUNK_SDP, "", ""},
         trunk,
         rtp,
         PHONE_NAT,
         3,
         Drop::too_small,
         false,
         ""},
        // IPv6.
        {"IPv6: first packet learned",
         {false, "[2001:db8::5]:4000", "", ""},
         {false, "[2001:db8::20]:5000", "", ""},
         rtp,
         "[2001:db8::7]:61000",
         172,
         Drop::none,
         true,
         "[2001:db8::20]:5000"},
        {"IPv6 strict: SDP host, other port",
         {true, "[2001:db8::5]:4000", "", ""},
         {false, "[2001:db8::20]:5000", "", ""},
         rtp,
         "[2001:db8::5]:4444",
         172,
         Drop::none,
         true,
         "[2001:db8::20]:5000"},
    };
    return table;
}

} // namespace

BOOST_AUTO_TEST_SUITE(media_latch)

BOOST_AUTO_TEST_CASE(decision_table) {
    for (const Row& r : rows()) {
        BOOST_TEST_CONTEXT(r.name) {
            Latch from = make(r.from);
            Latch to = make(r.to);
            Decision d = decide(from, to, r.c, addr(r.source), r.size);
            BOOST_TEST(drop_name(d.drop) == drop_name(r.drop));
            BOOST_TEST(d.learn == r.learn);
            BOOST_TEST(str(d.to) == std::string(r.dest));
        }
    }
}

BOOST_AUTO_TEST_CASE(forward_to_sdp_until_a_packet_then_to_its_source) {
    // The contract's sentence, step by step.
    Latch phone = make({false, PHONE_SDP, "", ""});
    Latch trunk = make({false, TRUNK_SDP, "", ""});
    BOOST_TEST(str(destination(phone, Component::rtp)) == PHONE_SDP);
    Decision d = decide(phone, trunk, Component::rtp, addr(PHONE_NAT), 172);
    BOOST_REQUIRE(d.learn);
    learn(phone, Component::rtp, addr(PHONE_NAT));
    BOOST_TEST(str(destination(phone, Component::rtp)) == PHONE_NAT);
    BOOST_TEST(str(destination(phone, Component::rtcp)) == "203.0.113.7:4001");
    // A stray source later neither moves the phone's media nor is dropped.
    d = decide(phone, trunk, Component::rtp, addr("192.0.2.99:7000"), 172);
    BOOST_TEST(!d.learn);
    BOOST_TEST(drop_name(d.drop) == drop_name(Drop::none));
    BOOST_TEST(str(destination(phone, Component::rtp)) == PHONE_NAT);
}

BOOST_AUTO_TEST_CASE(reinvite_with_new_address_relatches) {
    Latch phone = make({false, PHONE_SDP, PHONE_NAT, "203.0.113.7:61001"});
    uint32_t epoch = phone.epoch;
    // The same SDP again (a session refresh): nothing changes.
    BOOST_TEST(!set_expected(phone, Peer::from_sdp(addr(PHONE_SDP))));
    BOOST_TEST(phone.epoch == epoch);
    BOOST_TEST(str(destination(phone, Component::rtp)) == PHONE_NAT);
    // A new address (the phone moved to another network): back to the SDP.
    BOOST_TEST(set_expected(phone, Peer::from_sdp(addr("10.1.1.9:4010"))));
    BOOST_TEST(phone.epoch == epoch + 1);
    BOOST_TEST(phone.learned_peer(Component::rtp) == nullptr);
    BOOST_TEST(phone.learned_peer(Component::rtcp) == nullptr);
    BOOST_TEST(str(destination(phone, Component::rtp)) == "10.1.1.9:4010");
    BOOST_TEST(str(destination(phone, Component::rtcp)) == "10.1.1.9:4011");
    // Its next packet, from a new NAT binding, is learned.
    Latch trunk = make({false, TRUNK_SDP, "", ""});
    Decision d = decide(phone, trunk, Component::rtp, addr("198.18.0.1:30000"), 172);
    BOOST_TEST(d.learn);
    learn(phone, Component::rtp, addr("198.18.0.1:30000"));
    BOOST_TEST(str(destination(phone, Component::rtp)) == "198.18.0.1:30000");
    BOOST_TEST(str(destination(phone, Component::rtcp)) == "198.18.0.1:4011");
}

BOOST_AUTO_TEST_CASE(first_sdp_keeps_what_early_media_taught) {
    Latch callee = make({false, "", PHONE_NAT, ""});
    BOOST_TEST(!set_expected(callee, Peer::from_sdp(addr(PHONE_SDP))));
    BOOST_TEST(str(destination(callee, Component::rtp)) == PHONE_NAT);
    // The RTCP guess takes the port the SDP now names.
    BOOST_TEST(str(destination(callee, Component::rtcp)) == "203.0.113.7:4001");
}

BOOST_AUTO_TEST_CASE(hold_and_resume) {
    Latch phone = make({false, PHONE_SDP, PHONE_NAT, ""});
    Latch trunk = make({false, TRUNK_SDP, TRUNK_SDP, ""});
    // Hold with c=0.0.0.0: nothing goes to the phone.
    BOOST_TEST(set_expected(phone, Peer::from_sdp(addr("0.0.0.0:4000"))));
    BOOST_TEST(drop_name(decide(trunk, phone, Component::rtp, addr(TRUNK_SDP), 172).drop) ==
               drop_name(Drop::no_peer));
    // Resume with the old address: a relatch, media goes to the SDP again
    // until the phone's next packet.
    BOOST_TEST(set_expected(phone, Peer::from_sdp(addr(PHONE_SDP))));
    BOOST_TEST(str(decide(trunk, phone, Component::rtp, addr(TRUNK_SDP), 172).to) == PHONE_SDP);
}

BOOST_AUTO_TEST_CASE(strict_relatch_learns_only_the_new_host) {
    Latch trunk = make({true, TRUNK_SDP, TRUNK_SDP, ""});
    Latch phone = make({false, PHONE_SDP, "", ""});
    set_expected(trunk, Peer::from_sdp(addr("198.51.100.30:6000")));
    // The old trunk address is a stranger now.
    BOOST_TEST(drop_name(decide(trunk, phone, Component::rtp, addr(TRUNK_SDP), 172).drop) ==
               drop_name(Drop::stranger));
    Decision d = decide(trunk, phone, Component::rtp, addr("198.51.100.30:6002"), 172);
    BOOST_TEST(drop_name(d.drop) == drop_name(Drop::none));
    BOOST_TEST(d.learn);
}

BOOST_AUTO_TEST_CASE(explicit_relatch_forgets_rtp_and_rtcp) {
    Latch phone = make({false, PHONE_SDP, PHONE_NAT, "203.0.113.7:61001"});
    relatch(phone);
    BOOST_TEST(phone.learned_peer(Component::rtp) == nullptr);
    BOOST_TEST(str(destination(phone, Component::rtcp)) == "192.168.1.5:4001");
    // RTCP learned in the new epoch while RTP is not: each on its own.
    learn(phone, Component::rtcp, addr("203.0.113.7:61003"));
    BOOST_TEST(str(destination(phone, Component::rtcp)) == "203.0.113.7:61003");
    BOOST_TEST(str(destination(phone, Component::rtp)) == PHONE_SDP);
}

BOOST_AUTO_TEST_CASE(rtcp_mux_side_takes_rtcp_on_the_rtp_address) {
    Latch side;
    side.mux = true;
    set_expected(side, Peer::from_sdp(addr(PHONE_SDP))); // RTCP on 4001 as given
    BOOST_TEST(str(destination(side, Component::rtcp)) == PHONE_SDP);
    BOOST_TEST(!set_expected(side, Peer::from_sdp(addr(PHONE_SDP), 0, true)));
}

BOOST_AUTO_TEST_CASE(use_mux_sends_rtcp_to_the_rtp_address) {
    // Set up with RTCP on its own port, then the answer agreed to rtcp-mux.
    Latch phone = make({false, PHONE_SDP, "", ""});
    use_mux(phone);
    BOOST_TEST(phone.mux);
    BOOST_TEST(str(destination(phone, Component::rtcp)) == PHONE_SDP);
    BOOST_TEST(!set_expected(phone, Peer::from_sdp(addr(PHONE_SDP), 0, true)));
    // Learned before: RTP stays (not a relatch), the old RTCP source goes.
    Latch nat = make({false, PHONE_SDP, PHONE_NAT, "203.0.113.7:61001"});
    uint32_t epoch = nat.epoch;
    use_mux(nat);
    BOOST_TEST(nat.epoch == epoch);
    BOOST_TEST(str(destination(nat, Component::rtp)) == PHONE_NAT);
    BOOST_TEST(nat.learned_peer(Component::rtcp) == nullptr);
    BOOST_TEST(str(destination(nat, Component::rtcp)) == PHONE_NAT);
    // Strict: its RTCP, now from its RTP source, is no stranger.
    Latch strict = make({true, PHONE_SDP, "192.168.1.5:4444", "192.168.1.5:4445"});
    Latch trunk = make({false, TRUNK_SDP, "", ""});
    use_mux(strict);
    Decision d = decide(strict, trunk, Component::rtcp, addr("192.168.1.5:4444"), 32);
    BOOST_TEST(drop_name(d.drop) == drop_name(Drop::none));
    BOOST_TEST(d.learn);
}

BOOST_AUTO_TEST_CASE(peer_from_sdp) {
    BOOST_TEST(Peer::from_sdp(addr("192.0.2.1:4000")).rtcp.str() == "192.0.2.1:4001");
    BOOST_TEST(Peer::from_sdp(addr("192.0.2.1:4000"), 4100).rtcp.str() == "192.0.2.1:4100");
    BOOST_TEST(Peer::from_sdp(addr("192.0.2.1:4000"), 0, true).rtcp.str() == "192.0.2.1:4000");
    BOOST_TEST(Peer::from_sdp(addr("192.0.2.1:0")).rtcp.port() == 0);
    BOOST_TEST(!Peer::from_sdp(SockAddr()).rtcp.valid());
}

BOOST_AUTO_TEST_CASE(mux_demultiplexing) {
    struct Case {
        std::string bytes;
        Component c;
    };
    const std::vector<Case> cases = {
        {std::string("\x80\x00", 2), Component::rtp},         // PT 0 (PCMU)
        {std::string("\x80\xe0", 2), Component::rtp},         // PT 96 with marker
        {std::string("\x80\xc8", 2), Component::rtcp},        // SR (200)
        {std::string("\x81\xc9", 2), Component::rtcp},        // RR (201)
        {std::string("\x80\xc0", 2), Component::rtcp},        // 192, the lowest
        {std::string("\x80\xdf", 2), Component::rtcp},        // 223, the highest
        {std::string("\x80\xbf", 2), Component::rtp},         // 191: PT 63 with marker
        {std::string("\x00\x01\x00\x00", 4), Component::rtp}, // STUN binding request
        {std::string("\x80", 1), Component::rtp},             // too short to tell
    };
    for (const auto& k : cases)
        BOOST_TEST((mux_component(k.bytes) == k.c));
}

BOOST_AUTO_TEST_CASE(only_the_party_counts_as_activity) {
    // Issue 16: a stranger's packets, even forwarded, are no sign of life.
    const Latch trunk = make({false, TRUNK_SDP, "", ""});
    const Latch latched = make({false, PHONE_SDP, PHONE_NAT, ""});
    const Latch fresh = make({false, PHONE_SDP, "", ""});
    const Latch strict = make({true, PHONE_SDP, "", ""});
    struct Case {
        const char* name;
        const Latch& from;
        const char* source;
        Drop drop;
        bool active;
    };
    const Case cases[] = {
        {"the learned source", latched, PHONE_NAT, Drop::none, true},
        {"the SDP's exact address", latched, PHONE_SDP, Drop::none, true},
        {"a stranger, forwarded when not strict", latched, "192.0.2.66:7000", Drop::none, false},
        {"the first source of a non-strict side", fresh, "192.0.2.66:7000", Drop::none, true},
        {"the SDP's host on a strict side", strict, "192.168.1.5:4002", Drop::none, true},
        {"a stranger on a strict side", strict, "192.0.2.66:7000", Drop::stranger, false},
    };
    for (const Case& k : cases) {
        BOOST_TEST_CONTEXT(k.name) {
            Decision d = decide(k.from, trunk, Component::rtp, addr(k.source), 172);
            BOOST_TEST(drop_name(d.drop) == drop_name(k.drop));
            BOOST_TEST(d.active == k.active);
        }
    }
}

BOOST_AUTO_TEST_CASE(relayable_by_the_first_byte) {
    // RFC 7983: STUN 0-3, DTLS 20-63, RTP/RTCP 128-191.
    for (int b = 0; b < 256; ++b) {
        std::string p(20, static_cast<char>(b));
        bool want = b <= 3 || (b >= 20 && b <= 63) || (b >= 128 && b <= 191);
        BOOST_TEST(relayable(p) == want, "first byte " << b);
    }
    BOOST_TEST(!relayable(""));
}

BOOST_AUTO_TEST_CASE(drop_names) {
    BOOST_TEST(drop_name(Drop::not_rtp) == "not_rtp");
    BOOST_TEST(drop_name(Drop::stranger) == "stranger");
    BOOST_TEST(drop_name(Drop::no_peer) == "no_peer");
    BOOST_TEST(drop_name(Drop::too_small) == "too_small");
    BOOST_TEST(drop_name(Drop::oversize) == "oversize");
    BOOST_TEST(DROP_REASONS.size() + 1 == DROP_SLOTS);
}

BOOST_AUTO_TEST_SUITE_END()
