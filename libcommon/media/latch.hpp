// Latching: where the media relay sends each packet, decided from what the
// signalling said (each side's expected peer, from its SDP) and what the
// packets showed (the learned peer: the source a side really sends from,
// which behind NAT is not the address its SDP names). Pure functions over a
// small state per side of a stream: no sockets, no clock, no logging. The
// relay engine (relay/relay.hpp) applies the decisions; tests drive them from
// tables.
//
// The rules (rtprelayd(8), Latching): media goes to the address each side's SDP names
// until a packet arrives from that side, and from then on to the source it
// actually came from:
// - Size first: RTP shorter than its 12-byte fixed header, RTCP shorter than
//   8 bytes (header and sender SSRC) is "too_small"; more than
//   MAX_MEDIA_PACKET bytes is "oversize". Such packets never latch.
// - A side learns once per epoch and per component (RTP, RTCP): the first
//   acceptable packet's source. Later packets from another source are
//   forwarded (non-strict) or dropped as "stranger" (strict) but never
//   learned, so a stray packet cannot take a call's media away. One
//   exception: a packet from exactly the SDP's address and port is learned
//   whenever the learned source differs (it is the best match there is).
// - Non-strict (default; symmetric RTP behind NAT): any source is learned.
// - Activity: a packet from the side's party (its learned source, the SDP's
//   exact address, or a source learned now) counts as a sign of life; one
//   from a stranger never does, even when a non-strict side forwards it, so
//   a stranger cannot keep a call's ports (issue 16).
// - Kind: only what RFC 7983 demultiplexes as RTP or RTCP version 2 (first
//   byte 128-191), STUN (0-3) or DTLS (20-63) is relayed (relayable()); the
//   rest is dropped as "not_rtp" before it is learned or forwarded.
// - Strict: only a source with the SDP's IP address is learned, from any
//   port (a firewall or NAT in front of a public address may still move the
//   port); after that only the learned address:port and the SDP's exact
//   address:port pass, everything else is a stranger. A strict side without
//   an SDP address (none yet, or 0.0.0.0 for hold) accepts nothing new.
//   This is rtpengine's strict-source (drop what does not come from the
//   learned peer) with learning restricted to the signalled address, which
//   also closes the race where a stranger's first packet would be learned.
// - Forwarding to a side: its learned source of that component; for RTCP
//   not learned yet, the learned RTP address with the SDP's RTCP port
//   (rtcp-mux: the learned RTP address and port); else the SDP's address.
//   Nothing usable (no SDP yet, 0.0.0.0 hold, port 0) drops as "no_peer".
// - Relatch: an offer/answer that changes a side's expected peer (a
//   re-INVITE) starts a new epoch; what the side learned before no longer
//   counts, its media goes to the new SDP address until its next packet,
//   which is learned. The first SDP of a side (nothing expected before) does
//   not relatch: a source learned from early media stays.
// Not here: sockets, counters, timeouts (relay/relay.hpp), SDP (sdp.hpp), ports
// (ports.hpp), ICE/STUN, SRTP, and any RTP header check beyond the length
// and the first byte.
#pragma once

#include "base/sockaddr.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace rtfarm::media {

// The largest media datagram relayed, in bytes of UDP payload: above what
// a 1500-byte MTU carries unfragmented, so only reassembled fragments or
// jumbo frames exceed it, and RTP stacks send neither.
constexpr size_t MAX_MEDIA_PACKET = 1500;
// The RTP fixed header (RFC 3550 5.1).
constexpr size_t MIN_RTP_PACKET = 12;
// An RTCP common header and the sender's SSRC: the smallest packet (an empty RR).
constexpr size_t MIN_RTCP_PACKET = 8;

enum class Component : uint8_t { rtp = 0, rtcp = 1 };
std::string_view component_name(Component c);

// Why a packet was not forwarded. The values index counter arrays.
enum class Drop : uint8_t { none = 0, stranger, no_peer, too_small, oversize, not_rtp };
constexpr size_t DROP_SLOTS = 6;
constexpr std::array<Drop, 5> DROP_REASONS = {Drop::stranger, Drop::no_peer, Drop::too_small,
                                              Drop::oversize, Drop::not_rtp};
// "none", "stranger", "no_peer", "too_small", "oversize", "not_rtp"
std::string_view drop_name(Drop d);

// Usable as a destination: a valid address, not the wildcard (hold), port not 0.
bool usable(const SockAddr& a);

// Where one side's SDP says it receives. An invalid address: not known yet.
struct Peer {
    SockAddr rtp;
    SockAddr rtcp;

    // From an SDP's connection address and media port: RTCP on `rtcp_port`
    // (a=rtcp), else on the RTP port + 1, or on the RTP port itself with
    // rtcp-mux.
    static Peer from_sdp(const SockAddr& rtp, uint16_t rtcp_port = 0, bool rtcp_mux = false);
    const SockAddr& of(Component c) const { return c == Component::rtp ? rtp : rtcp; }
    bool operator==(const Peer&) const = default;
};

// The latching state of one side of a stream.
struct Latch {
    Peer expected;
    // Drop strangers; learn only from the SDP's address.
    bool strict = false;
    // This side's RTCP shares its RTP port (rtcp-mux).
    bool mux = false;
    // Bumped by a relatch; a learned source counts only in its own epoch.
    uint32_t epoch = 1;
    std::array<SockAddr, 2> learned{};
    std::array<uint32_t, 2> learned_epoch{0, 0};
    // Where RTCP goes once RTP is learned and RTCP is not: kept by learn()
    // and set_expected(), read through destination().
    SockAddr rtcp_from_rtp;

    // The source learned for `c` in the current epoch, or nullptr.
    const SockAddr* learned_peer(Component c) const {
        auto i = static_cast<size_t>(c);
        return learned_epoch[i] == epoch ? &learned[i] : nullptr;
    }
};

struct Decision {
    // Why the packet is not forwarded; Drop::none: forward it to `to`.
    Drop drop = Drop::none;
    // Call learn(from, c, source): set even when the packet is then dropped
    // as no_peer (the source is right, the other side has no address yet).
    bool learn = false;
    // From the side's party (not a stranger): counts as activity.
    bool active = false;
    // Into the other side's Latch; valid until that Latch changes.
    const SockAddr* to = nullptr;
};

// A packet of `size` bytes, component `c`, from `source`, arrived on the
// socket of side `from`: forward it (to side `to`'s peer), and learn?
Decision decide(const Latch& from, const Latch& to, Component c, const SockAddr& source,
                size_t size);

// Records `source` as the side's peer for `c` in the current epoch.
void learn(Latch& side, Component c, const SockAddr& source);

// Where packets for this side's component `c` go now, or nullptr (no_peer).
const SockAddr* destination(const Latch& side, Component c);

// A new offer or answer for this side (on an rtcp-mux side, RTCP is taken
// to be on the RTP address whatever `expected.rtcp` says). Returns true
// when it relatched: the side had an expected peer and this one differs.
bool set_expected(Latch& side, const Peer& expected);

// Forgets what the side learned: its next packet is learned again.
void relatch(Latch& side);

// The side's peer agreed to rtcp-mux after the side was set up (its answer
// came): RTCP goes to and comes from its RTP address from now on, and an
// RTCP source learned before (its old RTCP port) is forgotten. Not a
// relatch: the learned RTP source stays.
void use_mux(Latch& side);

// The first byte is RTP or RTCP version 2 (128-191), STUN (0-3) or DTLS
// (20-63), the kinds RFC 7983 tells apart on a media port; an empty packet
// is not.
bool relayable(std::string_view packet);

// On an rtcp-mux port: RTCP when the second byte is 192-223 (RFC 5761 4),
// else RTP (STUN and DTLS, whose second byte is lower, pass as RTP).
Component mux_component(std::string_view packet);

} // namespace rtfarm::media
