#include "media/latch.hpp"

namespace rtfarm::media {
namespace {

// The source has the SDP's IP address (strict learning), for RTCP that of
// the RTCP or the RTP line (a=rtcp may name another address).
bool signalled_host(const Latch& side, Component c, const SockAddr& source) {
    auto matches = [&](const SockAddr& e) {
        return e.valid() && !e.is_any() && e.same_host(source);
    };
    if (matches(side.expected.of(c)))
        return true;
    return c == Component::rtcp && matches(side.expected.rtp);
}

void refresh_rtcp_guess(Latch& side) {
    const SockAddr* rtp = side.learned_peer(Component::rtp);
    if (rtp == nullptr) {
        side.rtcp_from_rtp = SockAddr();
        return;
    }
    side.rtcp_from_rtp = *rtp;
    if (side.mux)
        return;
    uint16_t port = side.expected.rtcp.valid() ? side.expected.rtcp.port() : 0;
    if (port == 0)
        port = static_cast<uint16_t>(rtp->port() + 1); // 65535 wraps to 0: unusable
    side.rtcp_from_rtp.set_port(port);
}

} // namespace

std::string_view component_name(Component c) {
    return c == Component::rtp ? "rtp" : "rtcp";
}

std::string_view drop_name(Drop d) {
    switch (d) {
    case Drop::none:
        return "none";
    case Drop::stranger:
        return "stranger";
    case Drop::no_peer:
        return "no_peer";
    case Drop::too_small:
        return "too_small";
    case Drop::not_rtp:
        return "not_rtp";
    case Drop::oversize:
        return "oversize";
    }
    return "?";
}

bool usable(const SockAddr& a) {
    return a.valid() && !a.is_any() && a.port() != 0;
}

Peer Peer::from_sdp(const SockAddr& rtp, uint16_t rtcp_port, bool rtcp_mux) {
    Peer p;
    p.rtp = rtp;
    p.rtcp = rtp;
    if (!rtp.valid() || rtcp_mux)
        return p;
    if (rtcp_port == 0)
        rtcp_port = rtp.port() == 0 ? 0 : static_cast<uint16_t>(rtp.port() + 1);
    p.rtcp.set_port(rtcp_port);
    return p;
}

Decision decide(const Latch& from, const Latch& to, Component c, const SockAddr& source,
                size_t size) {
    Decision d;
    if (size > MAX_MEDIA_PACKET) {
        d.drop = Drop::oversize;
        return d;
    }
    if (size < (c == Component::rtp ? MIN_RTP_PACKET : MIN_RTCP_PACKET)) {
        d.drop = Drop::too_small;
        return d;
    }
    const SockAddr& expected = from.expected.of(c);
    const SockAddr* learned = from.learned_peer(c);
    if (usable(expected) && source == expected) {
        d.learn = learned == nullptr || !(*learned == source);
        d.active = true;
    } else if (learned != nullptr) {
        d.active = *learned == source;
        if (from.strict && !d.active) {
            d.drop = Drop::stranger;
            return d;
        }
    } else if (!from.strict || signalled_host(from, c, source)) {
        d.learn = true;
        d.active = true;
    } else {
        d.drop = Drop::stranger;
        return d;
    }
    d.to = destination(to, c);
    if (d.to == nullptr)
        d.drop = Drop::no_peer;
    return d;
}

void learn(Latch& side, Component c, const SockAddr& source) {
    auto i = static_cast<size_t>(c);
    side.learned[i] = source;
    side.learned_epoch[i] = side.epoch;
    if (c == Component::rtp)
        refresh_rtcp_guess(side);
}

const SockAddr* destination(const Latch& side, Component c) {
    if (const SockAddr* l = side.learned_peer(c))
        return l;
    if (c == Component::rtcp && side.learned_peer(Component::rtp) != nullptr &&
        usable(side.rtcp_from_rtp))
        return &side.rtcp_from_rtp;
    const SockAddr& e = side.expected.of(c);
    return usable(e) ? &e : nullptr;
}

bool set_expected(Latch& side, const Peer& expected) {
    Peer p = expected;
    if (side.mux)
        p.rtcp = p.rtp;
    if (side.expected == p)
        return false;
    bool had = side.expected.rtp.valid();
    side.expected = p;
    if (had)
        ++side.epoch;
    refresh_rtcp_guess(side);
    return had;
}

void relatch(Latch& side) {
    ++side.epoch;
    refresh_rtcp_guess(side);
}

void use_mux(Latch& side) {
    if (side.mux)
        return;
    side.mux = true;
    side.expected.rtcp = side.expected.rtp;
    side.learned_epoch[static_cast<size_t>(Component::rtcp)] = 0; // epochs start at 1
    refresh_rtcp_guess(side);
}

bool relayable(std::string_view packet) {
    if (packet.empty())
        return false;
    auto b = static_cast<unsigned char>(packet[0]);
    return b <= 3 || (b >= 20 && b <= 63) || (b >= 128 && b <= 191);
}

Component mux_component(std::string_view packet) {
    if (packet.size() < 2)
        return Component::rtp;
    auto b = static_cast<unsigned char>(packet[1]);
    return b >= 192 && b <= 223 ? Component::rtcp : Component::rtp;
}

} // namespace rtfarm::media
