// What the calls table (calls.hpp) asks of a media engine, and the values
// it hands over and gets back: sessions of streams, a stream with two sides
// (caller and callee), each side with its sockets' ports, its expected and
// learned peers (latch.hpp) and its counters. rtprelayd's engine is
// relay::Relay (relay/relay.hpp), which binds the sockets and forwards the
// packets; the calls table knows it only through this interface, so the
// pure media logic does not depend on the I/O.
#pragma once

#include "base/result.hpp"
#include "base/sockaddr.hpp"
#include "media/latch.hpp"

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rtfarm::media {

using Clock = std::chrono::steady_clock;
using SessionId = uint64_t;

enum class Leg : uint8_t { caller = 0, callee = 1 };
inline std::string_view leg_name(Leg leg) {
    return leg == Leg::caller ? "caller" : "callee";
}

// One side's sockets and latching, as created.
struct SideSpec {
    // The address to bind (its port is ignored): the member's media address
    // or the wildcard. Its family is the side's: expected peers must match.
    SockAddr local;
    // 0: the kernel picks one (tests); rtprelayd passes the pool's ports.
    uint16_t rtp_port = 0;
    // Ignored with rtcp_mux; 0: the kernel picks one.
    uint16_t rtcp_port = 0;
    // One socket carries RTP and RTCP.
    bool rtcp_mux = false;
    bool strict = false;
    // From the SDP if already known; may stay unset until the answer.
    Peer expected;
};

struct StreamSpec {
    SideSpec caller;
    SideSpec callee;
};

struct SideCounters {
    // Received from this side's peer and sent on to the other side.
    uint64_t packets = 0;
    uint64_t bytes = 0;
    // Of `packets`, RTCP.
    uint64_t rtcp_packets = 0;
    // Received on this side's sockets and not sent on, by latch.hpp's Drop
    // (32 bits per side: a relay holds thousands of sides; the engine's
    // totals are 64 bits).
    std::array<uint32_t, DROP_SLOTS> dropped{};
    // Sent on, but refused by the kernel (socket buffer full, unreachable).
    uint32_t send_failed = 0;
    // The last packet from this side's peer: forwarded, or dropped as
    // no_peer (the peer is alive, the other side has no address). Strangers
    // and malformed packets do not count. Clock::time_point{}: none yet.
    Clock::time_point last_packet{};
};

struct SideInfo {
    SockAddr local; // with the RTP port
    uint16_t rtp_port = 0;
    uint16_t rtcp_port = 0; // == rtp_port with rtcp_mux
    bool rtcp_mux = false;
    bool strict = false;
    Peer expected;
    std::optional<SockAddr> learned_rtp;
    std::optional<SockAddr> learned_rtcp;
    // Where packets for this side go now (nullopt: no_peer).
    std::optional<SockAddr> sends_rtp_to;
    std::optional<SockAddr> sends_rtcp_to;
    uint32_t epoch = 0;
    SideCounters counters;
    // Time since the last packet; nullopt: none yet.
    std::optional<Clock::duration> last_packet_age;
};

struct StreamInfo {
    size_t index = 0;
    std::array<SideInfo, 2> sides; // by Leg
};

struct SessionInfo {
    SessionId id = 0;
    std::string label;
    Clock::time_point created{};
    std::vector<StreamInfo> streams; // open ones, by index
};

// The operations, as relay::Relay documents them (relay/relay.hpp).
class Engine {
public:
    virtual ~Engine() = default;

    virtual SessionId open_session(std::string label) = 0;
    virtual Result<size_t> add_stream(SessionId session, const StreamSpec& spec) = 0;
    virtual Status set_expected(SessionId session, size_t stream, Leg leg,
                                const Peer& expected) = 0;
    virtual Status use_mux(SessionId session, size_t stream, Leg leg) = 0;
    virtual const std::string* label(SessionId session) const = 0;
    virtual Status close_stream(SessionId session, size_t stream, std::string_view reason) = 0;
    virtual bool close_session(SessionId session, std::string_view reason) = 0;
    virtual Result<SessionInfo> query(SessionId session) const = 0;
    virtual Result<SessionInfo> query(SessionId session, Clock::time_point now) const = 0;
    virtual std::vector<SessionId> idle_sessions(Clock::duration idle_for,
                                                 Clock::time_point now) const = 0;
    virtual bool heard(SessionId session) const = 0;
    virtual Clock::time_point now() const = 0;
};

} // namespace rtfarm::media
