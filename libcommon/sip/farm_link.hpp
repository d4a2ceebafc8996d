// The farm link envelope: how one member hands a SIP datagram to another.
// It keeps what the receiving member saw (original source and destination,
// transport, which member received it), counts hops, and carries an
// HMAC-SHA256 (truncated to 16 bytes) over everything when the cluster has a
// secret. Wire format, all integers big-endian:
//   "RTF1" version(1)=4 flags(1) hops(1) transport(1) connection(8)
//   source: family(1: 4|6) port(2) address(16, IPv4 in the first 4)
//   destination: the same
//   receiver: length(1) id   sender: length(1) id   to: length(1) id
//   incarnation(8) sequence(8)
//   asked: count(1) then length(1) id each
//   mac length(1: 0|16) mac   then the SIP datagram, unchanged.
// `connection` is the receiver's id of the client connection the packet
// came over (0 for UDP), or, with FARM_FLAG_TO_CONNECTION, the sender asks
// the receiving member to write the payload on its own connection of that
// id: the way back to a client that only that member can reach.
// `to` is the member the packet is meant for and `incarnation`/`sequence`
// the sender's run and its packet number (FarmReplayGuard): under the MAC,
// a captured packet cannot be replayed, nor sent to another member.
// This module encodes and checks envelopes; which addresses may send them is
// the daemon's business (only configured members, from their farm port).
#pragma once

#include "base/result.hpp"
#include "base/sockaddr.hpp"
#include "base/transport.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace rtfarm::sip {

inline constexpr std::string_view FARM_LINK_MAGIC = "RTF1";
inline constexpr uint8_t FARM_LINK_VERSION = 4;
inline constexpr size_t FARM_LINK_MAC_BYTES = 16;
// The hand-off chain's longest path (sip/route.hpp, MAX_FARM_HOPS).
inline constexpr uint8_t FARM_LINK_MAX_HOPS = 8;

enum : uint8_t {
    // A Relay backend's request for a Member to send out on its behalf.
    FARM_FLAG_OUTBOUND = 1,
    // Not SIP: the sender's heartbeat (cluster/membership.hpp), as JSON.
    FARM_FLAG_HEARTBEAT = 2,
    // Write the payload on the receiving member's client connection `connection`.
    FARM_FLAG_TO_CONNECTION = 4,
};

struct FarmEnvelope {
    uint8_t flags = 0;
    uint8_t hops = 1;
    Transport transport = Transport::udp; // udp, tcp or tls (one byte U, T, S on the wire)
    uint64_t connection = 0;              // the client connection (T and S only, not 0 then)
    SockAddr source;                      // where the packet came from originally
    SockAddr destination;                 // the address it was sent to (VIP, member)
    std::string receiver;                 // member that took it from the outside
    std::string sender;                   // member that sent this envelope
    std::string to;                       // member it is meant for
    uint64_t incarnation = 0;             // the sender's run (its start, wall-clock ms)
    uint64_t sequence = 0;                // the sender's packet number in that run
    // The hand-off (sip/route.hpp): members that did not know the Call-ID.
    std::vector<std::string> asked;
    bool operator==(const FarmEnvelope&) const = default;
};

// The envelope followed by `payload`, authenticated with `secret` when not empty.
std::string encode_farm_packet(const FarmEnvelope& env, std::string_view payload,
                               std::string_view secret);

struct FarmPacket {
    FarmEnvelope envelope;
    std::string_view payload; // a view into the datagram
};

// Checks and reads an envelope. With secrets, a packet without a MAC or with
// one that none of them makes is refused (during a key rotation a member
// holds two: cluster/farm_keys.hpp; the likeliest first). A transport other than U, T, S, a
// connection with U or none with T/S, or FARM_FLAG_TO_CONNECTION with the heartbeat or outbound
// flag is "farm_malformed". Error codes: "farm_malformed", "farm_unauthenticated", "farm_bad_mac",
// "farm_hops".
Result<FarmPacket> decode_farm_packet(std::string_view datagram,
                                      std::span<const std::string> secrets);
Result<FarmPacket> decode_farm_packet(std::string_view datagram, std::string_view secret);

// True when the datagram starts like an envelope (a SIP message never does).
bool looks_like_farm_packet(std::string_view datagram);

// Which packets of each sender a member has taken (issue 17): within the
// sender's incarnation, a sequence number seen before, or more than WINDOW
// behind the highest, is a replay; a higher incarnation starts afresh; a
// lower one only once the known one has been silent for `dead_after` (the
// sender restarted with its clock behind, as cluster::Membership allows).
// Keyed by sender id: the daemon asks only for configured members.
class FarmReplayGuard {
public:
    using Clock = std::chrono::steady_clock;
    static constexpr uint64_t WINDOW = 1024;

    // True when the packet may be taken (and it is noted); false for a replay.
    bool accept(const std::string& sender, uint64_t incarnation, uint64_t sequence,
                Clock::time_point now, Clock::duration dead_after);
    // Senders no longer in the config.
    void keep_only(const std::vector<std::string>& senders);
    size_t size() const { return m_senders.size(); }

private:
    struct Window {
        uint64_t incarnation = 0;
        uint64_t highest = 0;
        std::vector<uint64_t> seen; // WINDOW bits, bit (seq % WINDOW)
        Clock::time_point last{};
    };
    std::map<std::string, Window> m_senders;
};

} // namespace rtfarm::sip
