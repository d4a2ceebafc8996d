// What the kernel fast path may forward (relay/fast_path.hpp,
// kernel_direction()): a table of latching states, then the property the
// table stands for, checked over every state the table's parts make: the
// kernel forwards a packet exactly when media/latch.hpp's decide() would
// forward it as it is, from the same source, to the same destination, and
// without learning. No BPF: the map and the program are the lab's
// (test/integration/lab/media_fast_path.sh).
#include "relay/fast_path.hpp"

#include "latch_setup.hpp"

#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

using namespace rtfarm;
using namespace rtfarm::media;
using rtfarm::relay::kernel_direction;
using rtfarm::relay::SocketFacts;
using rtfarm::test::latching::make;
using rtfarm::test::latching::SideSetup;

namespace {

// Strict or not, mux or not, the SDP's address, what was learned.
SideSetup side(bool strict, bool mux, std::string sdp, std::string learned_rtp = "",
               std::string learned_rtcp = "") {
    return SideSetup{strict, std::move(sdp), std::move(learned_rtp), std::move(learned_rtcp), mux};
}

std::string out_text(const std::optional<relay::FastPathRule::Out>& o) {
    return o ? o->to.str() + " from " + std::to_string(o->from_port) : "-";
}

const char* NAT = "203.0.113.7:61000";
const char* PHONE = "192.168.1.5:4000";
const char* TRUNK = "198.51.100.20:5000";
const char* TRUNK_RTCP = "198.51.100.20:5001";
const char* OTHER = "198.51.100.99:7000";

} // namespace

BOOST_AUTO_TEST_SUITE(relay_fast_path)

struct Row {
    const char* name;
    SideSetup from;
    SideSetup to;
    SocketFacts socket;
    // "" no direction; else the source, then RTP's and RTCP's out.
    const char* source;
    const char* rtp_out;
    const char* rtcp_out;
};

BOOST_AUTO_TEST_CASE(directions_from_latching_states) {
    const SocketFacts RTP{10000, Component::rtp, false};
    const SocketFacts RTCP{10001, Component::rtcp, false};
    const SocketFacts MUX{10000, Component::rtp, true};
    const std::vector<Row> rows = {
        {"nothing learned yet: the socket learns first", side(false, false, PHONE),
         side(false, false, TRUNK), RTP, "", "", ""},
        {"learned, the other side has its SDP", side(false, false, PHONE, NAT),
         side(false, false, TRUNK), RTP, NAT, "198.51.100.20:5000 from 20000", "-"},
        {"learned, the other side learned too", side(false, false, PHONE, NAT),
         side(false, false, TRUNK, OTHER), RTP, NAT, "198.51.100.99:7000 from 20000", "-"},
        {"learned, nowhere to send (no SDP on the other side)", side(false, false, PHONE, NAT),
         side(false, false, ""), RTP, "", "", ""},
        {"learned, the other side on hold (0.0.0.0)", side(false, false, PHONE, NAT),
         side(false, false, "0.0.0.0:5000"), RTP, "", "", ""},
        {"strict and learned: the learned source only", side(true, false, PHONE, PHONE),
         side(false, false, TRUNK), RTP, PHONE, "198.51.100.20:5000 from 20000", "-"},
        {"RTCP socket, RTCP learned", side(false, false, PHONE, NAT, "203.0.113.7:61001"),
         side(false, false, TRUNK), RTCP, "203.0.113.7:61001", "-",
         "198.51.100.20:5001 from 20001"},
        {"RTCP socket, only RTP learned: RTCP's first packet is learned in userspace",
         side(false, false, PHONE, NAT), side(false, false, TRUNK), RTCP, "", "", ""},
        {"mux socket, RTP learned: RTP only (RTCP is still to learn)",
         side(false, true, PHONE, NAT), side(false, false, TRUNK), MUX, NAT,
         "198.51.100.20:5000 from 20000", "-"},
        {"mux socket, both learned from one source", side(false, true, PHONE, NAT, NAT),
         side(false, false, TRUNK), MUX, NAT, "198.51.100.20:5000 from 20000",
         "198.51.100.20:5001 from 20001"},
        {"mux socket, RTCP learned elsewhere: RTP only", side(false, true, PHONE, NAT, OTHER),
         side(false, false, TRUNK), MUX, NAT, "198.51.100.20:5000 from 20000", "-"},
        {"mux to mux: RTCP leaves from the RTP port", side(false, true, PHONE, NAT, NAT),
         side(false, true, TRUNK), MUX, NAT, "198.51.100.20:5000 from 20000",
         "198.51.100.20:5000 from 20000"},
        {"RTCP towards a side whose RTP is learned: its address with the SDP's RTCP port",
         side(false, false, PHONE, NAT, "203.0.113.7:61001"), side(false, false, TRUNK, OTHER),
         RTCP, "203.0.113.7:61001", "-", "198.51.100.99:5001 from 20001"},
        {"a destination on loopback (a processor terminating media): userspace",
         side(false, false, PHONE, NAT), side(false, false, "127.0.0.1:5000"), RTP, "", "", ""},
        {"IPv6 source: userspace", side(false, false, "[2001:db8::5]:4000", "[2001:db8::5]:4000"),
         side(false, false, TRUNK), RTP, "", "", ""},
        {"IPv6 destination: userspace", side(false, false, PHONE, NAT),
         side(false, false, "[2001:db8::9]:5000"), RTP, "", "", ""},
    };
    for (const Row& r : rows) {
        BOOST_TEST_CONTEXT(r.name) {
            Latch from = make(r.from);
            Latch to = make(r.to);
            const uint16_t to_rtcp = r.to.mux ? 0 : 20001;
            auto d = kernel_direction(from, to, r.socket, 20000, to_rtcp);
            if (std::string(r.source).empty()) {
                BOOST_TEST(!d.has_value());
                continue;
            }
            BOOST_REQUIRE(d.has_value());
            BOOST_TEST(d->source.str() == r.source);
            BOOST_TEST(d->port == r.socket.port);
            BOOST_TEST(out_text(d->rule.out[0]) == r.rtp_out);
            BOOST_TEST(out_text(d->rule.out[1]) == r.rtcp_out);
            BOOST_TEST(d->rule.mux == r.socket.mux);
            BOOST_TEST(d->rule.rtcp_socket ==
                       (!r.socket.mux && r.socket.component == Component::rtcp));
        }
    }
}

// Every combination of the table's parts: whatever the kernel forwards,
// decide() forwards the same way, from the side's party (activity: the
// kernel stamps the time) and without learning; whatever decide() forwards
// so from the learned source (IPv4), the kernel has. A non-strict side's
// stranger, forwarded but not activity, stays with the socket.
BOOST_AUTO_TEST_CASE(kernel_forwards_exactly_what_decide_forwards_as_is) {
    const std::vector<std::string> sdps = {"", PHONE, "0.0.0.0:4000", "[2001:db8::5]:4000"};
    const std::vector<std::string> learned = {"", NAT, PHONE, OTHER, "[2001:db8::5]:4000"};
    const std::vector<std::string> to_sdps = {"", TRUNK, "0.0.0.0:5000"};
    const std::vector<std::string> to_learned = {"", OTHER, TRUNK_RTCP};
    size_t cases = 0, forwarded = 0;
    for (bool strict : {false, true})
        for (bool mux : {false, true})
            for (bool to_mux : {false, true})
                for (const auto& sdp : sdps)
                    for (const auto& lr : learned)
                        for (const auto& lc : learned)
                            for (const auto& tsdp : to_sdps)
                                for (const auto& tl : to_learned) {
                                    if (sdp.find('[') != std::string::npos &&
                                        ((!lr.empty() && lr.find('[') == std::string::npos) ||
                                         (!lc.empty() && lc.find('[') == std::string::npos)))
                                        continue; // one family per side
                                    if (sdp.find('[') == std::string::npos &&
                                        (lr.find('[') != std::string::npos ||
                                         lc.find('[') != std::string::npos))
                                        continue;
                                    Latch from = make(side(strict, mux, sdp, lr, lc));
                                    Latch to = make(side(false, to_mux, tsdp, tl));
                                    const uint16_t to_rtcp = to_mux ? 0 : 20001;
                                    std::vector<SocketFacts> sockets = {
                                        {10000, Component::rtp, mux}};
                                    if (!mux)
                                        sockets.push_back({10001, Component::rtcp, false});
                                    for (const SocketFacts& s : sockets) {
                                        auto d = kernel_direction(from, to, s, 20000, to_rtcp);
                                        for (Component c : {Component::rtp, Component::rtcp}) {
                                            if (!s.mux && c != s.component)
                                                continue;
                                            ++cases;
                                            const SockAddr* src = from.learned_peer(
                                                s.mux ? Component::rtp : s.component);
                                            const auto& out =
                                                d ? d->rule.out[static_cast<size_t>(c)]
                                                  : std::nullopt;
                                            if (src == nullptr) {
                                                BOOST_TEST(!d.has_value());
                                                continue;
                                            }
                                            Decision dec = decide(from, to, c, *src, 172);
                                            const bool as_is = dec.drop == Drop::none &&
                                                               !dec.learn && dec.active &&
                                                               src->is_v4() && dec.to->is_v4();
                                            BOOST_TEST_CONTEXT(
                                                "strict " << strict << " mux " << mux << " to_mux "
                                                          << to_mux << " sdp " << sdp << " learned "
                                                          << lr << "/" << lc << " to " << tsdp
                                                          << "/" << tl << " c " << int(c)) {
                                                BOOST_TEST(out.has_value() == as_is);
                                                if (out && as_is) {
                                                    ++forwarded;
                                                    BOOST_TEST(d->source.str() == src->str());
                                                    BOOST_TEST(out->to.str() == dec.to->str());
                                                    const uint16_t want =
                                                        c == Component::rtcp && to_rtcp ? to_rtcp
                                                                                        : 20000;
                                                    BOOST_TEST(out->from_port == want);
                                                }
                                            }
                                        }
                                    }
                                }
    BOOST_TEST(cases > 1000u);
    BOOST_TEST(forwarded > 100u);
}

BOOST_AUTO_TEST_SUITE_END()
