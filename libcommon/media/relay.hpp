// The media relay engine: sessions of streams on one ev::Loop. A stream has
// two sides, caller and callee; each side owns its UDP socket(s) bound on
// the ports it was given (RTP and RTCP, or one rtcp-mux port). A packet
// that arrives on side A's socket is sent from side B's socket to B's peer,
// so the far end sees the port the relay advertised; where it goes and
// whether it goes at all is latch.hpp's decision. RTCP likewise, from and
// to the RTCP sockets (a mux side's packets are told apart by RFC 5761).
//
// Packet path: one recvmmsg() batch per wakeup (net::UdpReceiver, buffers
// of MAX_MEDIA_PACKET + 1 bytes so a longer datagram shows as oversize),
// one decision per datagram, one sendmmsg() per outgoing socket
// (net::UdpSender); no allocation per packet; the clock is read once per
// batch. Counters per side and for the engine.
//
// Life cycle: add_stream() binds every socket first and fails with
// "port_in_use" (or "io", "bad_address") having closed whatever it opened;
// close_stream(), close_session() and the destructor close the sockets at
// once (an object whose callback is running is freed after it returns).
// Idle detection lists sessions without a packet for a while; the caller
// decides to close them. Time comes from the clock given (steady_clock by
// default), or is passed in.
//
// Not here: port allocation (ports.hpp: the ports come in as numbers), SDP
// (sdp.hpp: expected peers come in as addresses), the control protocol,
// timers (the caller polls idle_sessions()), threads (one Relay per loop
// thread; shard by port range), RTP inspection, SRTP, transcoding.
#pragma once

#include "base/result.hpp"
#include "base/sockaddr.hpp"
#include "base/unique_fd.hpp"
#include "ev/loop.hpp"
#include "media/latch.hpp"
#include "net/socket.hpp"
#include "net/udp.hpp"

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace rtfarm::media {

using Clock = std::chrono::steady_clock;
using SessionId = uint64_t;

enum class Leg : uint8_t { caller = 0, callee = 1 };
std::string_view leg_name(Leg leg);

// One side's sockets and latching, as created.
struct SideSpec {
    // The address to bind (its port is ignored): the member's media address
    // or the wildcard. Its family is the side's: expected peers must match.
    net::SockAddr local;
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
    net::SockAddr local; // with the RTP port
    uint16_t rtp_port = 0;
    uint16_t rtcp_port = 0; // == rtp_port with rtcp_mux
    bool rtcp_mux = false;
    bool strict = false;
    Peer expected;
    std::optional<net::SockAddr> learned_rtp;
    std::optional<net::SockAddr> learned_rtcp;
    // Where packets for this side go now (nullopt: no_peer).
    std::optional<net::SockAddr> sends_rtp_to;
    std::optional<net::SockAddr> sends_rtcp_to;
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

struct RelayCounters {
    uint64_t packets = 0;
    uint64_t bytes = 0;
    std::array<uint64_t, DROP_SLOTS> dropped{};
    uint64_t send_failed = 0;
    uint64_t receive_errors = 0;
    uint64_t latched = 0; // sources learned
    uint64_t sessions_opened = 0;
    uint64_t sessions_closed = 0;
    uint64_t streams_opened = 0;
    uint64_t streams_closed = 0;
    uint64_t bind_failures = 0;
    // Now open.
    size_t sessions = 0;
    size_t streams = 0;
    size_t sockets = 0;
};

struct RelayOptions {
    // Datagrams per recvmmsg() and per sendmmsg(): the work of one wakeup.
    size_t batch = net::DEFAULT_BATCH;
    // For every media socket (buffers; freebind for an address not up yet).
    net::UdpOptions socket;
};

class Relay {
public:
    using Now = std::function<Clock::time_point()>;

    // `now` defaults to steady_clock::now; tests pass a fake clock.
    explicit Relay(ev::Loop& loop, RelayOptions options = {}, Now now = {});
    Relay(const Relay&) = delete;
    Relay& operator=(const Relay&) = delete;
    // Closes every socket.
    ~Relay();

    // A session without streams yet; `label` (the Call-ID) names it in logs.
    SessionId open_session(std::string label);
    // Binds the stream's sockets (caller RTP, RTCP, then callee) and starts
    // relaying; returns the stream's index in the session. Errors: not_found
    // (no such session), bad_address, port_in_use, io; nothing stays open.
    Result<size_t> add_stream(SessionId session, const StreamSpec& spec);
    // A new offer or answer for one side: relatches if its address changed
    // (latch.hpp). Errors: not_found, bad_address (family differs from the
    // side's socket).
    Status set_expected(SessionId session, size_t stream, Leg leg, const Peer& expected);
    Status set_strict(SessionId session, size_t stream, Leg leg, bool strict);
    // The side's peer agreed to rtcp-mux: its RTCP socket is closed (the
    // caller gives the port back), RTCP to and from it uses the RTP socket
    // and goes to its RTP address (latch.hpp use_mux()). Nothing to do on a
    // side that is mux already. Errors: not_found.
    Status use_mux(SessionId session, size_t stream, Leg leg);
    // The label of a session (its Call-ID), or nullptr.
    const std::string* label(SessionId session) const;
    // Forgets what the side learned (latch.hpp relatch()).
    Status relatch(SessionId session, size_t stream, Leg leg);

    // Close the sockets now; false / not_found when there is no such thing.
    Status close_stream(SessionId session, size_t stream, std::string_view reason);
    bool close_session(SessionId session, std::string_view reason);
    void close_all(std::string_view reason);

    Result<SessionInfo> query(SessionId session) const;
    Result<SessionInfo> query(SessionId session, Clock::time_point now) const;
    std::vector<SessionId> sessions() const;
    // Sessions whose last packet (or creation, without packets) is at least
    // `idle_for` before `now`, oldest activity first.
    std::vector<SessionId> idle_sessions(Clock::duration idle_for, Clock::time_point now) const;
    std::vector<SessionId> idle_sessions(Clock::duration idle_for) const;
    // A packet from a party (not a stranger: latch.hpp) has arrived on some
    // stream of the session since it opened; false for no such session.
    bool heard(SessionId session) const;

    const RelayCounters& counters() const { return m_counters; }
    Clock::time_point now() const { return m_now(); }

private:
    struct Socket;
    struct Side;
    struct Stream;
    struct Session;

    Result<std::unique_ptr<Stream>> open_stream(Session& session, size_t index,
                                                const StreamSpec& spec);
    Status open_side(Side& side, const SideSpec& spec, std::string_view leg);
    Result<Side*> find_side(SessionId session, size_t stream, Leg leg);
    // The media sockets are watched by an epoll set of the relay's own,
    // which the loop watches as one descriptor: no libevent event per
    // socket (a relay holds thousands), one epoll_wait() per wake-up.
    static constexpr size_t EPOLL_BATCH = 64;
    Status open_epoll();
    Status watch(Socket& s);
    void unwatch(Socket& s);
    static void on_epoll(evutil_socket_t fd, short what, void* arg) noexcept;
    void dispatch();
    void on_readable(Socket& socket);
    void on_learned(const Side& side, Component c, const net::SockAddr& source);
    void free_later(std::unique_ptr<Stream> stream);
    void free_later(std::unique_ptr<Session> session);
    void shut(Stream& stream, std::string_view reason);
    static Clock::time_point last_activity(const Session& session);
    static SideInfo side_info(const Side& side, Clock::time_point now);

    ev::Loop& m_loop;
    RelayOptions m_options;
    Now m_now;
    net::UdpReceiver m_receiver;
    // One per outgoing socket of a batch: the other side's RTP and RTCP socket.
    net::UdpSender m_send_rtp;
    net::UdpSender m_send_rtcp;
    std::unordered_map<SessionId, std::unique_ptr<Session>> m_sessions;
    SessionId m_next_id = 1;
    RelayCounters m_counters;
    // Set while a socket callback runs: what closes then is freed later.
    bool m_dispatching = false;
    UniqueFd m_epoll;
    // After m_epoll, so destroyed first: libevent forgets the fd before it
    // is closed.
    ev::EventPtr m_epoll_event;
};

} // namespace rtfarm::media
