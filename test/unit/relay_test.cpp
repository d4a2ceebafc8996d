// The media relay engine on loopback: UDP peers play the caller's and the
// callee's phones (127.0.0.1, strangers on 127.0.0.2), the test drives the
// relay's loop on its own thread until what it waits for arrives (never a
// sleep for the outcome), and checks payloads, sources, latching, counters,
// and that every socket is closed when a stream, a session or the relay
// goes. The per-packet cost measurement is disabled by default:
//   build/test/unit_tests --run_test=media_relay_bench
#include "media/fd_limit.hpp"
#include "media_loopback.hpp"
#include "relay/relay.hpp"

#include "base/log.hpp"
#include "net/socket.hpp"
#include "net/udp.hpp"

#include <boost/test/unit_test.hpp>

#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <thread>
#include <vector>

using namespace rtfarm;
using namespace rtfarm::media;
using rtfarm::relay::Relay;
using rtfarm::relay::RelayCounters;
using rtfarm::relay::RelayOptions;
using namespace rtfarm::test;
using namespace std::chrono_literals;

namespace {

// `n` distinct ports free now (bound together, then closed): good enough
// on loopback in a test.
std::vector<uint16_t> free_ports(size_t n) {
    std::vector<UniqueFd> held;
    std::vector<uint16_t> ports;
    for (size_t i = 0; i < n; ++i) {
        auto fd = net::udp_bind(addr("127.0.0.1:0"));
        BOOST_REQUIRE(fd.ok());
        auto a = net::local_address(fd->get());
        BOOST_REQUIRE(a.ok());
        ports.push_back(a->port());
        held.push_back(std::move(fd.value()));
    }
    return ports;
}

struct Fixture {
    QuietMedia m_quiet;
    ev::Loop loop;
    Clock::time_point fake = Clock::time_point{} + 1000s;
    bool use_fake = false;
    Relay relay{loop, RelayOptions{}, [this] {
                    return use_fake ? fake : Clock::now();
                }};

    // Runs the relay's loop until `done`, at most `timeout`.
    bool pump_until(const std::function<bool()>& done, std::chrono::milliseconds timeout = 3000ms) {
        return test::pump_until(loop, done, timeout);
    }
    // The next datagram `e` gets through the relay.
    Received expect(Endpoint& e) {
        bool got = pump_until([&] {
            e.drain();
            return !e.inbox.empty();
        });
        BOOST_REQUIRE_MESSAGE(got, "nothing arrived at " << e.address().str());
        Received r = e.inbox.front();
        e.inbox.pop_front();
        return r;
    }
    void expect_none(Endpoint& e) {
        e.drain();
        BOOST_TEST(e.inbox.empty(), "unexpected datagram at " << e.address().str());
        e.inbox.clear();
    }
    // Pumps until the relay has seen `n` drops of `why` in all.
    void expect_dropped(Drop why, uint64_t n) {
        bool got =
            pump_until([&] { return relay.counters().dropped[static_cast<size_t>(why)] >= n; });
        BOOST_REQUIRE_MESSAGE(got, "no " << drop_name(why) << " drop");
    }
    SideInfo side(SessionId s, Leg leg, size_t stream = 0) {
        auto q = relay.query(s);
        BOOST_REQUIRE(q.ok());
        BOOST_REQUIRE(stream < q->streams.size());
        return q->streams[stream].sides[static_cast<size_t>(leg)];
    }
    // The relay's address for a side's RTP or RTCP.
    SockAddr local(SessionId s, Leg leg, Component c = Component::rtp) {
        SideInfo i = side(s, leg);
        SockAddr a = i.local;
        a.set_port(c == Component::rtp ? i.rtp_port : i.rtcp_port);
        return a;
    }
};

SideSpec loopback_side(const Peer& expected = {}, bool strict = false, bool mux = false) {
    SideSpec s;
    s.local = addr("127.0.0.1:0");
    s.expected = expected;
    s.strict = strict;
    s.rtcp_mux = mux;
    return s;
}

} // namespace

BOOST_AUTO_TEST_SUITE(media_relay)

BOOST_FIXTURE_TEST_CASE(payload_both_ways_from_the_advertised_ports, Fixture) {
    Phone a, b;
    SessionId s = relay.open_session("call-1");
    auto idx = relay.add_stream(s, {loopback_side(a.peer()), loopback_side(b.peer())});
    BOOST_REQUIRE_MESSAGE(idx.ok(), (idx.ok() ? "" : idx.error().message));
    const auto caller_port = local(s, Leg::caller);
    const auto callee_port = local(s, Leg::callee);
    BOOST_TEST(caller_port.port() != callee_port.port());

    uint64_t bytes = 0;
    const size_t sizes[] = {12, 13, 60, 172, 333, 1024, 1499, 1500};
    uint16_t seq = 0;
    for (size_t size : sizes) {
        std::string p = rtp(++seq, size);
        a.rtp.send(caller_port, p);
        Received r = expect(b.rtp);
        BOOST_TEST(r.bytes == p);
        // The callee sees the relay's callee-side port, not the caller's.
        BOOST_TEST(r.source.str() == callee_port.str());
        std::string back = rtp(uint16_t(seq + 1000), size, 8);
        b.rtp.send(callee_port, back);
        Received rb = expect(a.rtp);
        BOOST_TEST(rb.bytes == back);
        BOOST_TEST(rb.source.str() == caller_port.str());
        bytes += size;
    }
    SideInfo ci = side(s, Leg::caller);
    SideInfo ce = side(s, Leg::callee);
    BOOST_TEST(ci.counters.packets == std::size(sizes));
    BOOST_TEST(ci.counters.bytes == bytes);
    BOOST_TEST(ce.counters.packets == std::size(sizes));
    BOOST_TEST(ce.counters.bytes == bytes);
    BOOST_TEST(ci.counters.send_failed == 0u);
    BOOST_TEST(ci.last_packet_age.has_value());
    BOOST_TEST(ci.learned_rtp.has_value());
    BOOST_TEST(ci.learned_rtp->str() == a.rtp.address().str());
    BOOST_TEST(relay.counters().packets == 2 * std::size(sizes));
    BOOST_TEST(relay.counters().bytes == 2 * bytes);
    expect_none(a.rtcp);
    expect_none(b.rtcp);
}

BOOST_FIXTURE_TEST_CASE(ipv6_stream, Fixture) {
    if (!net::udp_bind(addr("[::1]:0")).ok()) {
        BOOST_TEST_MESSAGE("skipped: IPv6 loopback unavailable");
        return;
    }
    Phone a("[::1]"), b("[::1]");
    SessionId s = relay.open_session("call-v6");
    SideSpec sa = loopback_side(a.peer());
    SideSpec sb = loopback_side(b.peer());
    sa.local = sb.local = addr("[::1]:0");
    BOOST_REQUIRE(relay.add_stream(s, {sa, sb}).ok());
    a.rtp.send(local(s, Leg::caller), rtp(1));
    Received r = expect(b.rtp);
    BOOST_TEST(r.bytes == rtp(1));
    BOOST_TEST(r.source.str() == local(s, Leg::callee).str());
    b.rtp.send(local(s, Leg::callee), rtp(2));
    BOOST_TEST(expect(a.rtp).bytes == rtp(2));
    // An IPv4 peer for an IPv6 side is refused.
    BOOST_TEST(relay.set_expected(s, 0, Leg::caller, Peer::from_sdp(addr("127.0.0.1:4000")))
                   .error()
                   .code == "bad_address");
}

BOOST_FIXTURE_TEST_CASE(rtcp_both_ways, Fixture) {
    Phone a, b;
    SessionId s = relay.open_session("call-rtcp");
    BOOST_REQUIRE(relay.add_stream(s, {loopback_side(a.peer()), loopback_side(b.peer())}).ok());
    const auto caller_rtcp = local(s, Leg::caller, Component::rtcp);
    const auto callee_rtcp = local(s, Leg::callee, Component::rtcp);
    BOOST_TEST(caller_rtcp.port() != local(s, Leg::caller).port());

    std::string sr = rtcp('a', 52);
    a.rtcp.send(caller_rtcp, sr);
    Received r = expect(b.rtcp);
    BOOST_TEST(r.bytes == sr);
    BOOST_TEST(r.source.str() == callee_rtcp.str());
    std::string rr = rtcp('b', 32);
    b.rtcp.send(callee_rtcp, rr);
    Received rb = expect(a.rtcp);
    BOOST_TEST(rb.bytes == rr);
    BOOST_TEST(rb.source.str() == caller_rtcp.str());
    expect_none(a.rtp);
    expect_none(b.rtp);
    BOOST_TEST(side(s, Leg::caller).counters.rtcp_packets == 1u);
    BOOST_TEST(side(s, Leg::caller).learned_rtcp->str() == a.rtcp.address().str());
    BOOST_TEST(!side(s, Leg::caller).learned_rtp.has_value());
}

BOOST_FIXTURE_TEST_CASE(nat_latching_replies_go_to_the_real_source, Fixture) {
    // The callee's SDP names `sdp`; its NAT sends from `nat` instead.
    Phone a, sdp, nat;
    SessionId s = relay.open_session("call-nat");
    BOOST_REQUIRE(relay.add_stream(s, {loopback_side(a.peer()), loopback_side(sdp.peer())}).ok());
    const auto caller_port = local(s, Leg::caller);
    const auto callee_port = local(s, Leg::callee);

    // Before the callee sends anything: to the address its SDP names.
    a.rtp.send(caller_port, rtp(1));
    BOOST_TEST(expect(sdp.rtp).bytes == rtp(1));
    // The callee's first packet comes from elsewhere: it reaches the caller...
    nat.rtp.send(callee_port, rtp(2, 100, 8));
    BOOST_TEST(expect(a.rtp).bytes == rtp(2, 100, 8));
    BOOST_TEST(side(s, Leg::callee).learned_rtp->str() == nat.rtp.address().str());
    // ... and from then on the caller's media goes to that source.
    for (uint16_t seq = 3; seq < 8; ++seq) {
        a.rtp.send(caller_port, rtp(seq));
        BOOST_TEST(expect(nat.rtp).bytes == rtp(seq));
    }
    expect_none(sdp.rtp);
    // RTCP follows the learned RTP address, on the SDP's RTCP port, until the
    // callee's own RTCP shows where it comes from.
    a.rtcp.send(local(s, Leg::caller, Component::rtcp), rtcp('1'));
    BOOST_TEST(expect(sdp.rtcp).bytes == rtcp('1'));
    nat.rtcp.send(local(s, Leg::callee, Component::rtcp), rtcp('2'));
    BOOST_TEST(expect(a.rtcp).bytes == rtcp('2'));
    a.rtcp.send(local(s, Leg::caller, Component::rtcp), rtcp('3'));
    BOOST_TEST(expect(nat.rtcp).bytes == rtcp('3'));
    expect_none(sdp.rtcp);
    BOOST_TEST(relay.counters().latched == 4u); // caller RTP and RTCP, callee RTP and RTCP
}

BOOST_FIXTURE_TEST_CASE(reinvite_relatches, Fixture) {
    Phone a, b, b_nat, b_new, b_new_nat;
    SessionId s = relay.open_session("call-reinvite");
    BOOST_REQUIRE(relay.add_stream(s, {loopback_side(a.peer()), loopback_side(b.peer())}).ok());
    const auto caller_port = local(s, Leg::caller);
    const auto callee_port = local(s, Leg::callee);
    b_nat.rtp.send(callee_port, rtp(1));
    expect(a.rtp);
    a.rtp.send(caller_port, rtp(2));
    BOOST_TEST(expect(b_nat.rtp).bytes == rtp(2));
    uint32_t epoch = side(s, Leg::callee).epoch;

    // A re-INVITE with the same SDP changes nothing.
    BOOST_REQUIRE(relay.set_expected(s, 0, Leg::callee, b.peer()).ok());
    BOOST_TEST(side(s, Leg::callee).epoch == epoch);
    a.rtp.send(caller_port, rtp(3));
    BOOST_TEST(expect(b_nat.rtp).bytes == rtp(3));

    // A re-INVITE with a new address: to it until the callee's next packet...
    BOOST_REQUIRE(relay.set_expected(s, 0, Leg::callee, b_new.peer()).ok());
    BOOST_TEST(side(s, Leg::callee).epoch == epoch + 1);
    BOOST_TEST(!side(s, Leg::callee).learned_rtp.has_value());
    a.rtp.send(caller_port, rtp(4));
    BOOST_TEST(expect(b_new.rtp).bytes == rtp(4));
    // ... which is learned wherever it comes from.
    b_new_nat.rtp.send(callee_port, rtp(5));
    expect(a.rtp);
    a.rtp.send(caller_port, rtp(6));
    BOOST_TEST(expect(b_new_nat.rtp).bytes == rtp(6));
    expect_none(b_nat.rtp);
    expect_none(b.rtp);

    // An address of the other family is refused.
    auto bad = relay.set_expected(s, 0, Leg::callee, Peer::from_sdp(addr("[::1]:4000")));
    BOOST_TEST(!bad.ok());
    BOOST_TEST(bad.error().code == "bad_address");
    BOOST_TEST(relay.set_expected(s, 7, Leg::callee, b.peer()).error().code == "not_found");
    BOOST_TEST(relay.set_expected(999, 0, Leg::callee, b.peer()).error().code == "not_found");
}

BOOST_FIXTURE_TEST_CASE(strict_mode_drops_strangers_and_counts_them, Fixture) {
    Phone a, b;
    Endpoint stranger("127.0.0.2");
    Endpoint b_other_port; // the callee's host, another port
    Endpoint b_third_port;
    SessionId s = relay.open_session("call-strict");
    BOOST_REQUIRE(
        relay.add_stream(s, {loopback_side(a.peer()), loopback_side(b.peer(), /*strict=*/true)})
            .ok());
    const auto caller_port = local(s, Leg::caller);
    const auto callee_port = local(s, Leg::callee);

    // Another host is a stranger, before and after the callee is learned.
    stranger.send(callee_port, rtp(1));
    expect_dropped(Drop::stranger, 1);
    // The SDP's host from another port is learned (a port-moving firewall).
    b_other_port.send(callee_port, rtp(2));
    BOOST_TEST(expect(a.rtp).bytes == rtp(2));
    a.rtp.send(caller_port, rtp(3));
    BOOST_TEST(expect(b_other_port).bytes == rtp(3));
    stranger.send(callee_port, rtp(4));
    b_third_port.send(callee_port, rtp(5));
    expect_dropped(Drop::stranger, 3);
    // The learned source still passes, and the caller got nothing else.
    b_other_port.send(callee_port, rtp(6));
    BOOST_TEST(expect(a.rtp).bytes == rtp(6));
    expect_none(a.rtp);
    SideInfo ce = side(s, Leg::callee);
    BOOST_TEST(ce.strict);
    BOOST_TEST(ce.counters.dropped[static_cast<size_t>(Drop::stranger)] == 3u);
    BOOST_TEST(ce.counters.packets == 2u);
    BOOST_TEST(side(s, Leg::caller).counters.dropped[static_cast<size_t>(Drop::stranger)] == 0u);
    BOOST_TEST(relay.counters().dropped[static_cast<size_t>(Drop::stranger)] == 3u);

    // Non-strict again: a stranger is forwarded (but not learned).
    BOOST_REQUIRE(relay.set_strict(s, 0, Leg::callee, false).ok());
    stranger.send(callee_port, rtp(7));
    BOOST_TEST(expect(a.rtp).bytes == rtp(7));
    BOOST_TEST(side(s, Leg::callee).learned_rtp->str() == b_other_port.address().str());
}

BOOST_FIXTURE_TEST_CASE(rtcp_mux_side_to_a_split_side, Fixture) {
    Endpoint a; // the caller multiplexes RTP and RTCP on one port
    Phone b;
    SessionId s = relay.open_session("call-mux");
    BOOST_REQUIRE(relay
                      .add_stream(s, {loopback_side(Peer::from_sdp(a.address(), 0, true), false,
                                                    /*mux=*/true),
                                      loopback_side(b.peer())})
                      .ok());
    SideInfo ci = side(s, Leg::caller);
    BOOST_TEST(ci.rtcp_mux);
    BOOST_TEST(ci.rtcp_port == ci.rtp_port);
    const auto caller_port = local(s, Leg::caller);

    a.send(caller_port, rtp(1));
    BOOST_TEST(expect(b.rtp).bytes == rtp(1));
    a.send(caller_port, rtcp('x'));
    Received r = expect(b.rtcp);
    BOOST_TEST(r.bytes == rtcp('x'));
    BOOST_TEST(r.source.str() == local(s, Leg::callee, Component::rtcp).str());
    // Both come back on the one port.
    b.rtcp.send(local(s, Leg::callee, Component::rtcp), rtcp('y'));
    Received rb = expect(a);
    BOOST_TEST(rb.bytes == rtcp('y'));
    BOOST_TEST(rb.source.str() == caller_port.str());
    b.rtp.send(local(s, Leg::callee), rtp(2));
    BOOST_TEST(expect(a).bytes == rtp(2));
    expect_none(b.rtp);
    expect_none(b.rtcp);
}

BOOST_FIXTURE_TEST_CASE(size_limits_and_no_peer, Fixture) {
    Phone a;
    SessionId s = relay.open_session("call-sizes");
    // The callee has no SDP yet (the answer has not come).
    BOOST_REQUIRE(relay.add_stream(s, {loopback_side(a.peer()), loopback_side()}).ok());
    const auto caller_port = local(s, Leg::caller);
    a.rtp.send(caller_port, rtp(1));
    expect_dropped(Drop::no_peer, 1);
    // The caller is learned all the same, and counts as alive.
    SideInfo ci = side(s, Leg::caller);
    BOOST_TEST(ci.learned_rtp->str() == a.rtp.address().str());
    BOOST_TEST(ci.last_packet_age.has_value());
    BOOST_TEST(ci.counters.packets == 0u);

    Phone b;
    BOOST_REQUIRE(relay.set_expected(s, 0, Leg::callee, b.peer()).ok());
    a.rtp.send(caller_port, std::string(11, '\x80'));
    a.rtp.send(caller_port, rtp(2, 1501));
    a.rtcp.send(local(s, Leg::caller, Component::rtcp), std::string(7, '\x81'));
    a.rtp.send(caller_port, rtp(3, 1500));
    BOOST_TEST(expect(b.rtp).bytes == rtp(3, 1500));
    expect_none(b.rtp);
    expect_dropped(Drop::too_small, 2);
    ci = side(s, Leg::caller);
    BOOST_TEST(ci.counters.dropped[static_cast<size_t>(Drop::too_small)] == 2u);
    BOOST_TEST(ci.counters.dropped[static_cast<size_t>(Drop::oversize)] == 1u);
    BOOST_TEST(ci.counters.dropped[static_cast<size_t>(Drop::no_peer)] == 1u);
    BOOST_TEST(ci.counters.packets == 1u);
    // A datagram far above the limit is cut by the receive buffer and still
    // counts as oversize.
    a.rtp.send(caller_port, std::string(9000, '\x80'));
    expect_dropped(Drop::oversize, 2);
}

BOOST_FIXTURE_TEST_CASE(idle_sessions_by_the_clock, Fixture) {
    use_fake = true;
    Phone a, b;
    SessionId quiet = relay.open_session("quiet");
    BOOST_REQUIRE(relay.add_stream(quiet, {loopback_side(a.peer()), loopback_side(b.peer())}).ok());
    SessionId busy = relay.open_session("busy");
    BOOST_REQUIRE(relay.add_stream(busy, {loopback_side(a.peer()), loopback_side(b.peer())}).ok());
    BOOST_TEST(relay.idle_sessions(30s).empty());

    fake += 20s;
    a.rtp.send(local(busy, Leg::caller), rtp(1));
    expect(b.rtp);
    fake += 15s; // quiet: 35 s without a packet; busy: 15 s
    BOOST_TEST((relay.idle_sessions(30s) == std::vector<SessionId>{quiet}));
    BOOST_TEST((relay.idle_sessions(10s) == std::vector<SessionId>{quiet, busy}));
    BOOST_TEST((relay.idle_sessions(10s, fake - 30s).empty()));
    SideInfo ci = side(busy, Leg::caller);
    BOOST_REQUIRE(ci.last_packet_age.has_value());
    BOOST_TEST(std::chrono::duration_cast<std::chrono::seconds>(*ci.last_packet_age).count() == 15);
    BOOST_TEST(!side(quiet, Leg::caller).last_packet_age.has_value());
    // The caller closes what it found idle.
    for (SessionId id : relay.idle_sessions(30s))
        BOOST_TEST(relay.close_session(id, "timeout"));
    BOOST_TEST((relay.sessions() == std::vector<SessionId>{busy}));
    BOOST_TEST(!relay.query(quiet).ok());
}

BOOST_FIXTURE_TEST_CASE(bind_failure_releases_everything, Fixture) {
    const auto free = free_ports(4);
    const uint16_t p1 = free[0], p2 = free[1], p3 = free[2];
    Endpoint taken;
    const uint16_t busy = taken.address().port();
    const size_t fds = open_fds();
    SessionId s = relay.open_session("call-busy");
    StreamSpec spec{loopback_side(), loopback_side()};
    spec.caller.rtp_port = p1;
    spec.caller.rtcp_port = p2;
    spec.callee.rtp_port = p3;
    spec.callee.rtcp_port = busy; // the last socket fails
    auto r = relay.add_stream(s, spec);
    BOOST_REQUIRE(!r.ok());
    BOOST_TEST(r.error().code == "port_in_use");
    BOOST_TEST(r.error().message.find("callee rtcp port " + std::to_string(busy)) !=
               std::string::npos);
    BOOST_TEST(open_fds() == fds);
    BOOST_TEST(relay.counters().sockets == 0u);
    BOOST_TEST(relay.counters().streams == 0u);
    BOOST_TEST(relay.counters().bind_failures == 1u);
    BOOST_TEST(relay.query(s)->streams.empty());
    // The three ports it had bound are free again.
    BOOST_TEST(can_bind(p1));
    BOOST_TEST(can_bind(p2));
    BOOST_TEST(can_bind(p3));
    // The session is still usable with other ports.
    spec.callee.rtcp_port = free[3];
    auto ok = relay.add_stream(s, spec);
    BOOST_REQUIRE_MESSAGE(ok.ok(), (ok.ok() ? "" : ok.error().message));
    BOOST_TEST(*ok == 0u);
    BOOST_TEST(side(s, Leg::caller).rtp_port == p1);
    BOOST_TEST(side(s, Leg::callee).rtcp_port == spec.callee.rtcp_port);
    BOOST_TEST(relay.counters().sockets == 4u);

    // A bad local address fails before any socket.
    StreamSpec bad{SideSpec{}, loopback_side()};
    BOOST_TEST(relay.add_stream(s, bad).error().code == "bad_address");
    BOOST_TEST(relay.add_stream(12345, spec).error().code == "not_found");
}

BOOST_FIXTURE_TEST_CASE(close_stream_closes_its_sockets_at_once, Fixture) {
    const size_t fds = open_fds();
    SessionId s = relay.open_session("call-close");
    StreamSpec spec{loopback_side(), loopback_side()};
    const auto free = free_ports(2);
    spec.caller.rtp_port = free[0];
    spec.caller.rtcp_port = free[1];
    spec.callee.rtcp_mux = true;
    BOOST_REQUIRE(relay.add_stream(s, spec).ok());
    BOOST_REQUIRE(relay.add_stream(s, {loopback_side(), loopback_side()}).ok());
    BOOST_TEST(open_fds() == fds + 7);
    BOOST_TEST(relay.counters().sockets == 7u);
    BOOST_REQUIRE(relay.close_stream(s, 0, "rejected").ok());
    BOOST_TEST(open_fds() == fds + 4);
    BOOST_TEST(can_bind(spec.caller.rtp_port));
    BOOST_TEST(can_bind(spec.caller.rtcp_port));
    BOOST_TEST(relay.close_stream(s, 0, "again").error().code == "not_found");
    // The other stream keeps its index.
    auto q = relay.query(s);
    BOOST_REQUIRE(q->streams.size() == 1u);
    BOOST_TEST(q->streams[0].index == 1u);
    BOOST_TEST(relay.close_session(s, "bye"));
    BOOST_TEST(!relay.close_session(s, "bye"));
    BOOST_TEST(open_fds() == fds);
    const auto& c = relay.counters();
    BOOST_TEST(c.sockets == 0u);
    BOOST_TEST(c.streams == 0u);
    BOOST_TEST(c.sessions == 0u);
    BOOST_TEST(c.streams_opened == 2u);
    BOOST_TEST(c.streams_closed == 2u);
    BOOST_TEST(c.sessions_closed == 1u);
}

BOOST_AUTO_TEST_CASE(two_thousand_streams_leak_no_fd) {
    QuietMedia quiet;
    // 500 streams open at once, up to 4 sockets each.
    auto limit = ensure_fd_limit(fds_for_ports(2000));
    BOOST_REQUIRE_MESSAGE(limit.ok(), (limit.ok() ? "" : limit.error().message));
    BOOST_TEST_MESSAGE(limit->str());
    const size_t outside = open_fds();
    {
        ev::Loop loop;
        Relay relay(loop);
        Phone a, b;
        const size_t fds = open_fds(); // the loop's and the phones' own
        size_t made = 0;
        for (int round = 0; round < 4; ++round) {
            std::vector<SessionId> ids;
            for (int i = 0; i < 500; ++i, ++made) {
                SessionId s = relay.open_session("bulk-" + std::to_string(made));
                ids.push_back(s);
                bool mux = made % 2 == 1;
                auto r = relay.add_stream(
                    s, {loopback_side(a.peer()), loopback_side(b.peer(), false, mux)});
                BOOST_REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().message));
            }
            BOOST_TEST(relay.counters().sockets == 500u * 4 - 250);
            BOOST_TEST(open_fds() == fds + 500 * 4 - 250);
            // Traffic on one of them, so closing meets a live stream.
            a.rtp.send(relay.query(ids[7])->streams[0].sides[0].local, rtp(1));
            for (int i = 0; i < 20; ++i)
                event_base_loop(loop.base(), EVLOOP_NONBLOCK);
            for (SessionId s : ids)
                BOOST_REQUIRE(relay.close_session(s, "done"));
            BOOST_TEST(open_fds() == fds);
        }
        BOOST_TEST(made == 2000u);
        BOOST_TEST(relay.counters().streams_opened == 2000u);
        BOOST_TEST(relay.counters().streams_closed == 2000u);
        // The relay's destructor closes what is still open.
        for (int i = 0; i < 100; ++i) {
            SessionId s = relay.open_session("left-open");
            BOOST_REQUIRE(relay.add_stream(s, {loopback_side(), loopback_side()}).ok());
        }
        BOOST_TEST(open_fds() == fds + 400);
    }
    BOOST_TEST(open_fds() == outside);
}

BOOST_FIXTURE_TEST_CASE(closing_from_inside_a_packet_callback, Fixture) {
    // A log sink that closes the session when it is latched: the close
    // happens inside the relay's own socket callback.
    Phone a, b;
    SessionId s = relay.open_session("call-self-close");
    BOOST_REQUIRE(relay.add_stream(s, {loopback_side(a.peer()), loopback_side(b.peer())}).ok());
    const size_t fds = open_fds();
    bool closed = false;
    log::set_level("media", log::Level::info);
    log::set_sink([&](std::string_view line) {
        if (!closed && line.find("msg=\"latched\"") != std::string_view::npos) {
            closed = true;
            relay.close_session(s, "closed from a callback");
        }
    });
    a.rtp.send(local(s, Leg::caller), rtp(1));
    bool done = pump_until([&] { return closed; });
    log::reset_sink();
    BOOST_REQUIRE(done);
    // Closed at once; the objects go once the callback has returned.
    BOOST_TEST(open_fds() == fds - 4);
    BOOST_TEST(relay.counters().sockets == 0u);
    for (int i = 0; i < 5; ++i)
        event_base_loop(loop.base(), EVLOOP_NONBLOCK);
    BOOST_TEST(relay.sessions().empty());
}

// A side whose peer agreed to rtcp-mux after its stream opened (the answer
// came): its RTCP socket closes at once, and RTCP to and from it uses the
// RTP socket.
BOOST_FIXTURE_TEST_CASE(use_mux_closes_the_rtcp_socket_and_demuxes, Fixture) {
    Endpoint a; // the caller, on one port once it agreed
    Phone b;
    SessionId s = relay.open_session("call-use-mux");
    BOOST_REQUIRE(relay.add_stream(s, {loopback_side(), loopback_side(b.peer())}).ok());
    const size_t fds = open_fds();
    const SideInfo before = side(s, Leg::caller);
    BOOST_TEST(!before.rtcp_mux);
    BOOST_TEST(relay.counters().sockets == 4u);
    BOOST_REQUIRE(relay.use_mux(s, 0, Leg::caller).ok());
    BOOST_TEST(relay.counters().sockets == 3u);
    BOOST_TEST(open_fds() == fds - 1);
    BOOST_TEST(can_bind(before.rtcp_port));
    SideInfo ci = side(s, Leg::caller);
    BOOST_TEST(ci.rtcp_mux);
    BOOST_TEST(ci.rtp_port == before.rtp_port);
    BOOST_TEST(ci.rtcp_port == ci.rtp_port);
    // A side that is mux already: nothing to do.
    BOOST_REQUIRE(relay.use_mux(s, 0, Leg::caller).ok());
    BOOST_TEST(relay.counters().sockets == 3u);
    BOOST_TEST(relay.use_mux(s, 5, Leg::caller).error().code == "not_found");
    BOOST_TEST(relay.use_mux(999, 0, Leg::caller).error().code == "not_found");

    BOOST_REQUIRE(relay.set_expected(s, 0, Leg::caller, Peer::from_sdp(a.address(), 0, true)).ok());
    const auto caller_port = local(s, Leg::caller);
    // RTP and RTCP on the one port, each sent on from the callee side's
    // socket of its kind.
    a.send(caller_port, rtp(1));
    Received r = expect(b.rtp);
    BOOST_TEST(r.bytes == rtp(1));
    BOOST_TEST(r.source.str() == local(s, Leg::callee).str());
    a.send(caller_port, rtcp('m'));
    r = expect(b.rtcp);
    BOOST_TEST(r.bytes == rtcp('m'));
    BOOST_TEST(r.source.str() == local(s, Leg::callee, Component::rtcp).str());
    BOOST_TEST(side(s, Leg::caller).counters.rtcp_packets == 1u);
    // The callee's RTP and RTCP both come back on the one port.
    b.rtcp.send(local(s, Leg::callee, Component::rtcp), rtcp('n'));
    r = expect(a);
    BOOST_TEST(r.bytes == rtcp('n'));
    BOOST_TEST(r.source.str() == caller_port.str());
    b.rtp.send(local(s, Leg::callee), rtp(2));
    BOOST_TEST(expect(a).bytes == rtp(2));
    expect_none(b.rtp);
    expect_none(b.rtcp);
    BOOST_TEST(relay.close_session(s, "bye"));
    BOOST_TEST(open_fds() == fds - 4);
    BOOST_TEST(relay.counters().sockets == 0u);
}

// use_mux on its own (no new expected peer after it): RTCP toward the side
// goes to its RTP address, not to the RTCP port its SDP had named or the
// RTCP source it had shown before.
BOOST_FIXTURE_TEST_CASE(rtcp_toward_a_side_switched_to_mux_goes_to_its_rtp_address, Fixture) {
    Phone a, b;
    SessionId s = relay.open_session("call-mux-later");
    BOOST_REQUIRE(relay.add_stream(s, {loopback_side(a.peer()), loopback_side(b.peer())}).ok());
    const auto caller_port = local(s, Leg::caller);
    const auto callee_rtcp = local(s, Leg::callee, Component::rtcp);
    // Before: RTCP both ways on the RTCP ports; the caller's RTCP source is learned.
    b.rtcp.send(callee_rtcp, rtcp('1'));
    BOOST_TEST(expect(a.rtcp).bytes == rtcp('1'));
    a.rtcp.send(local(s, Leg::caller, Component::rtcp), rtcp('2'));
    BOOST_TEST(expect(b.rtcp).bytes == rtcp('2'));

    BOOST_REQUIRE(relay.use_mux(s, 0, Leg::caller).ok());
    // RTP not learned yet: to the SDP's RTP address, from the caller's one port.
    b.rtcp.send(callee_rtcp, rtcp('3'));
    Received r = expect(a.rtp);
    BOOST_TEST(r.bytes == rtcp('3'));
    BOOST_TEST(r.source.str() == caller_port.str());
    expect_none(a.rtcp);
    // The caller's RTP then comes from elsewhere (NAT): RTCP follows it there.
    Endpoint a_nat;
    a_nat.send(caller_port, rtp(4));
    BOOST_TEST(expect(b.rtp).bytes == rtp(4));
    b.rtcp.send(callee_rtcp, rtcp('5'));
    r = expect(a_nat);
    BOOST_TEST(r.bytes == rtcp('5'));
    BOOST_TEST(r.source.str() == caller_port.str());
    expect_none(a.rtp);
    expect_none(a.rtcp);
    SideInfo ci = side(s, Leg::caller);
    BOOST_REQUIRE(ci.sends_rtcp_to.has_value());
    BOOST_TEST(ci.sends_rtcp_to->str() == a_nat.address().str());
    // Its RTCP, now on the one port, is taken from there too.
    a_nat.send(caller_port, rtcp('6'));
    BOOST_TEST(expect(b.rtcp).bytes == rtcp('6'));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(media_relay_bench)

// Relay CPU time per packet: a thread sends RTP through one stream as fast
// as sendmmsg() goes; the relay runs on this thread, and its thread CPU
// time (kernel included) over the packets it forwarded is the cost.
BOOST_AUTO_TEST_CASE(per_packet_cost, *boost::unit_test::disabled()) {
    QuietMedia quiet;
    ev::Loop loop;
    Relay relay(loop);
    Endpoint sink;
    Endpoint source;
    SessionId s = relay.open_session("bench");
    BOOST_REQUIRE(
        relay.add_stream(s, {loopback_side(), loopback_side(Peer::from_sdp(sink.address()))}).ok());
    auto q = relay.query(s);
    const SockAddr target = q->streams[0].sides[0].local;
    const size_t total = 400000;
    // RTFARM_BENCH_GAP_US: the sender's pause between bursts of 32 (default 50).
    const char* gap_env = std::getenv("RTFARM_BENCH_GAP_US");
    const int gap_us = gap_env != nullptr ? std::atoi(gap_env) : 50;
    std::atomic<bool> stop{false};
    std::thread sender([&] {
        auto fd = net::udp_bind(*SockAddr::parse("127.0.0.1:0"));
        if (!fd)
            return;
        net::UdpSender tx(32);
        std::string p = rtp(1, 172);
        while (!stop.load()) {
            for (int i = 0; i < 32; ++i)
                tx.queue(target, p);
            tx.flush(fd->get());
            if (gap_us > 0)
                ::usleep(gap_us); // leave the relay's socket room
        }
    });
    timespec t0{}, t1{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
    auto w0 = std::chrono::steady_clock::now();
    while (relay.counters().packets < total)
        event_base_loop(loop.base(), EVLOOP_ONCE);
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
    auto w1 = std::chrono::steady_clock::now();
    stop = true;
    sender.join();
    double cpu_ns = double(t1.tv_sec - t0.tv_sec) * 1e9 + double(t1.tv_nsec - t0.tv_nsec);
    double wall_s = std::chrono::duration<double>(w1 - w0).count();
    uint64_t n = relay.counters().packets;
    BOOST_TEST_MESSAGE("relay: " << n << " packets, " << cpu_ns / double(n)
                                 << " ns CPU per packet, " << double(n) / wall_s
                                 << " packets/s wall; send_failed "
                                 << relay.counters().send_failed);
    std::printf("per_packet_cost: %.0f ns CPU per packet (%llu packets, %.0f packets/s)\n",
                cpu_ns / double(n), static_cast<unsigned long long>(n), double(n) / wall_s);
}

BOOST_AUTO_TEST_SUITE_END()
