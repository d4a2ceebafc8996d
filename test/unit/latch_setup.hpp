// A side's latching state from a line of a test table (latch_test.cpp,
// fast_path_test.cpp): strict or not, its SDP address, what it learned.
#pragma once

#include "media/latch.hpp"

#include <boost/test/unit_test.hpp>

#include <string>

namespace rtfarm::test::latching {

inline SockAddr addr(const std::string& text) {
    if (text.empty())
        return SockAddr();
    auto a = SockAddr::parse(text);
    BOOST_REQUIRE_MESSAGE(a.ok(), text);
    return *a;
}

struct SideSetup {
    bool strict = false;
    std::string sdp;          // "" none yet; the RTCP port is the RTP port + 1
    std::string learned_rtp;  // "" none
    std::string learned_rtcp; // "" none
    bool mux = false;
};

inline media::Latch make(const SideSetup& s) {
    media::Latch l;
    l.strict = s.strict;
    l.mux = s.mux;
    media::set_expected(l, media::Peer::from_sdp(addr(s.sdp), 0, s.mux));
    if (!s.learned_rtp.empty())
        media::learn(l, media::Component::rtp, addr(s.learned_rtp));
    if (!s.learned_rtcp.empty())
        media::learn(l, media::Component::rtcp, addr(s.learned_rtcp));
    return l;
}

} // namespace rtfarm::test::latching
