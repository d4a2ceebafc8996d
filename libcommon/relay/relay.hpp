// The media relay engine (media::Engine, for the calls table of media/calls.hpp):
// sessions of streams on one ev::Loop. A stream has
// two sides, caller and callee; each side owns its UDP socket(s) bound on
// the ports it was given (RTP and RTCP, or one rtcp-mux port). A packet
// that arrives on side A's socket is sent from side B's socket to B's peer,
// so the far end sees the port the relay advertised; where it goes and
// whether it goes at all is media/latch.hpp's decision. RTCP likewise, from and
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
// Not here: port allocation (media/ports.hpp: the ports come in as numbers), SDP
// (media/sdp.hpp: expected peers come in as addresses), the control protocol,
// timers (the caller polls idle_sessions()), threads (one Relay per loop
// thread; shard by port range), RTP inspection, SRTP, transcoding.
#pragma once

#include "base/result.hpp"
#include "base/sockaddr.hpp"
#include "base/unique_fd.hpp"
#include "ev/loop.hpp"
#include "media/engine.hpp"
#include "media/latch.hpp"
#include "net/socket.hpp"
#include "net/udp.hpp"
#include "relay/fast_path.hpp"

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

namespace rtfarm::relay {

// The values the calls table hands over and gets back (media/engine.hpp).
using media::Clock;
using media::Component;
using media::Leg;
using media::Peer;
using media::SessionId;
using media::SessionInfo;
using media::SideCounters;
using media::SideInfo;
using media::SideSpec;
using media::StreamInfo;
using media::StreamSpec;

struct RelayCounters {
    uint64_t packets = 0;
    uint64_t bytes = 0;
    std::array<uint64_t, media::DROP_SLOTS> dropped{};
    uint64_t send_failed = 0;
    uint64_t receive_errors = 0;
    uint64_t latched = 0; // sources learned
    uint64_t sessions_opened = 0;
    uint64_t sessions_closed = 0;
    uint64_t streams_opened = 0;
    uint64_t streams_closed = 0;
    uint64_t bind_failures = 0;
    // Directions the kernel fast path refused to take (its map full): they
    // stay on the socket.
    uint64_t fast_path_refused = 0;
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

class Relay final : public media::Engine {
public:
    using Now = std::function<Clock::time_point()>;

    // `now` defaults to steady_clock::now; tests pass a fake clock.
    explicit Relay(ev::Loop& loop, RelayOptions options = {}, Now now = {});
    Relay(const Relay&) = delete;
    Relay& operator=(const Relay&) = delete;
    // Closes every socket.
    ~Relay() override;

    // The kernel fast path (relay/fast_path.hpp), or none (nullptr): every
    // latched direction goes into its map, or comes out, at once. The relay
    // owns it; its entries go before the sockets they name.
    void set_fast_path(std::unique_ptr<FastPath> fast_path);
    const FastPath* fast_path() const { return m_fast_path.get(); }
    // Directions in the fast path's map now, as the relay put them there.
    size_t fast_path_entries() const { return m_fast_path_entries; }
    // What the kernel forwarded since the relay started, through every
    // program it had (a reload may drop or replace one).
    FastPathTotals fast_path_totals() const;

    // A session without streams yet; `label` (the Call-ID) names it in logs.
    SessionId open_session(std::string label) override;
    // Binds the stream's sockets (caller RTP, RTCP, then callee) and starts
    // relaying; returns the stream's index in the session. Errors: not_found
    // (no such session), bad_address, port_in_use, io; nothing stays open.
    Result<size_t> add_stream(SessionId session, const StreamSpec& spec) override;
    // A new offer or answer for one side: relatches if its address changed
    // (media/latch.hpp). Errors: not_found, bad_address (family differs from the
    // side's socket).
    Status set_expected(SessionId session, size_t stream, Leg leg, const Peer& expected) override;
    Status set_strict(SessionId session, size_t stream, Leg leg, bool strict);
    // The side's peer agreed to rtcp-mux: its RTCP socket is closed (the
    // caller gives the port back), RTCP to and from it uses the RTP socket
    // and goes to its RTP address (media/latch.hpp use_mux()). Nothing to do on a
    // side that is mux already. Errors: not_found.
    Status use_mux(SessionId session, size_t stream, Leg leg) override;
    // The label of a session (its Call-ID), or nullptr.
    const std::string* label(SessionId session) const override;
    // Forgets what the side learned (media/latch.hpp relatch()).
    Status relatch(SessionId session, size_t stream, Leg leg);

    // Close the sockets now; false / not_found when there is no such thing.
    Status close_stream(SessionId session, size_t stream, std::string_view reason) override;
    bool close_session(SessionId session, std::string_view reason) override;
    void close_all(std::string_view reason);

    Result<SessionInfo> query(SessionId session) const override;
    Result<SessionInfo> query(SessionId session, Clock::time_point now) const override;
    std::vector<SessionId> sessions() const;
    // Sessions whose last packet (or creation, without packets) is at least
    // `idle_for` before `now`, oldest activity first.
    std::vector<SessionId> idle_sessions(Clock::duration idle_for,
                                         Clock::time_point now) const override;
    std::vector<SessionId> idle_sessions(Clock::duration idle_for) const;
    // A packet from a party (not a stranger: media/latch.hpp) has arrived on some
    // stream of the session since it opened; false for no such session.
    bool heard(SessionId session) const override;

    // Packets and bytes include those the fast path forwarded.
    RelayCounters counters() const;
    Clock::time_point now() const override { return m_now(); }

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
    void dispatch();
    void on_readable(Socket& socket);
    void on_learned(const Side& side, Component c, const SockAddr& source);
    void free_later(std::unique_ptr<Stream> stream);
    void free_later(std::unique_ptr<Session> session);
    void shut(Stream& stream, std::string_view reason);
    Clock::time_point last_activity(const Session& session, Clock::duration idle_for,
                                    Clock::time_point now) const;
    SideInfo side_info(const Side& side, Clock::time_point now) const;
    // The fast path: each socket's direction put in the map, replaced or
    // taken out as the stream's latching now says (kernel_direction()).
    void sync(Stream& stream);
    void fast_path_remove(Socket& socket);
    void fold(Side& side, const FastPathCounters& c);
    // The socket's live entry's counters, added to `c`.
    void add_live(const Socket& socket, SideCounters& c) const;

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
    // The loop's watch on m_epoll (ev::FdEvent: guarded like every other
    // callback). After m_epoll, so destroyed first: libevent forgets the fd
    // before it is closed.
    std::optional<ev::FdEvent> m_epoll_event;
    std::unique_ptr<FastPath> m_fast_path;
    size_t m_fast_path_entries = 0;
    FastPathTotals m_fast_path_past; // of the programs dropped
};

} // namespace rtfarm::relay
