// media::Calls over a real Relay on loopback: the phones are UDP endpoints
// on 127.0.0.1 that write their own SDP, the relay runs on this thread's
// loop (pumped until what a case waits for arrives, bounded), its clock is
// a fake one the expiry cases move, and the pool is a small range of ports
// that are free on this host when the case starts. Each case checks what
// the SDP says against the sockets bound, the pool's and the relay's
// counters, and that nothing leaks; the pool's audit runs after every case.
#include "media/calls.hpp"
#include "media_loopback.hpp"
#include "relay/relay.hpp"

#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <algorithm>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

using namespace rtfarm;
using namespace rtfarm::media;
using rtfarm::relay::Relay;
using rtfarm::relay::RelayCounters;
using rtfarm::relay::RelayOptions;
using namespace rtfarm::test;
using namespace std::chrono_literals;

namespace rtfarm::media {
inline std::ostream& boost_test_print_type(std::ostream& os, const StreamPorts& p) {
    os << p.rtp;
    if (!p.mux())
        os << "/" << p.rtcp;
    return os;
}
inline std::ostream& boost_test_print_type(std::ostream& os, Leg leg) {
    return os << leg_name(leg);
}
} // namespace rtfarm::media

namespace {

// `n` consecutive ports from an even one, all bindable on 127.0.0.1 now,
// below the kernel's ephemeral range (the phones' ports come from there).
PortRange free_range(uint32_t n) {
    const uint32_t lo = 24000, hi = 32000;
    uint32_t start = lo + (static_cast<uint32_t>(::getpid()) * 64) % (hi - lo);
    for (uint32_t tried = 0; tried < hi - lo; tried += 2) {
        uint32_t base = lo + ((start - lo + tried) % (hi - lo - n)) / 2 * 2;
        std::vector<UniqueFd> held;
        for (uint32_t p = base; p < base + n; ++p) {
            auto fd = net::udp_bind(addr("127.0.0.1:" + std::to_string(p)));
            if (!fd)
                break;
            held.push_back(std::move(fd.value()));
        }
        if (held.size() == n)
            return PortRange{static_cast<uint16_t>(base), static_cast<uint16_t>(base + n - 1)};
    }
    BOOST_FAIL("no " << n << " free consecutive ports on 127.0.0.1");
    return {};
}

// One m= line of a phone's SDP.
struct M {
    SockAddr at;       // c= and the m= port (port 0: a disabled stream)
    uint16_t rtcp = 0; // a=rtcp:PORT; 0: none (RTCP on RTP + 1)
    bool mux = false;  // a=rtcp-mux
    std::string media = "audio";
    std::string proto = "RTP/AVP";
    std::string rtcp_address; // a=rtcp:PORT IN IPx ADDR
};

M audio(const Phone& p) {
    M m;
    m.at = p.rtp.address();
    m.rtcp = p.rtcp.port();
    return m;
}
M video(const Phone& p) {
    M m = audio(p);
    m.media = "video";
    return m;
}
M mux(const Endpoint& e) {
    M m;
    m.at = e.address();
    m.mux = true;
    return m;
}
M as(M m, const std::string& media) {
    m.media = media;
    return m;
}
M disabled(M m) {
    m.at.set_port(0);
    return m;
}

std::string sdp(const std::string& user, unsigned version, const std::vector<M>& ms) {
    std::string s = "v=0\r\no=" + user + " 1000 " + std::to_string(version) +
                    " IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n";
    for (const M& m : ms) {
        s += "m=" + m.media + " " + std::to_string(m.at.port()) + " " + m.proto + " " +
             (m.media == "video" ? "96" : "0") + "\r\n";
        s += std::string("c=IN ") + (m.at.is_v6() ? "IP6 " : "IP4 ") + m.at.host() + "\r\n";
        if (m.media == "video")
            s += "a=rtpmap:96 H264/90000\r\n";
        if (m.rtcp != 0)
            s += "a=rtcp:" + std::to_string(m.rtcp) +
                 (m.rtcp_address.empty() ? "" : " IN IP6 " + m.rtcp_address) + "\r\n";
        if (m.mux)
            s += "a=rtcp-mux\r\n";
        s += "a=sendrecv\r\n";
    }
    return s;
}

// The o= session version an SDP body carries.
std::string origin_version(const std::string& body) {
    auto d = parse_sdp(body);
    BOOST_REQUIRE(d.ok());
    return d->origin_version;
}

struct Options {
    uint32_t ports = 64;
    bool strict = false;
};

struct Fixture {
    QuietMedia quiet;
    ev::Loop loop;
    const Clock::time_point t0 = Clock::time_point{} + 1000s;
    Clock::time_point fake = t0;
    Relay relay{loop, RelayOptions{}, [this] {
                    return fake;
                }};
    PortPool pool;
    Calls calls;

    explicit Fixture(Options o = {})
        : pool(free_range(o.ports))
        , calls(relay, pool, options(o)) {}
    ~Fixture() {
        Status st = pool.audit();
        BOOST_TEST(st.ok(), (st.ok() ? "" : st.error().message));
    }

    static CallsOptions options(const Options& o) {
        CallsOptions c;
        c.advertised = addr("127.0.0.1:0");
        c.bind = addr("127.0.0.1:0");
        c.strict = o.strict;
        c.timeout = 60s;
        c.unanswered_timeout = 212s;
        // The phones are on loopback, which the address policy refuses.
        c.policy.allow = {Cidr::parse("127.0.0.0/8").value()};
        return c;
    }

    SdpOut offer(const std::string& id, const std::string& from, const std::string& to,
                 const std::string& body) {
        auto r = calls.offer(id, from, to, body);
        BOOST_REQUIRE_MESSAGE(r.ok(), "offer: " << (r.ok() ? "" : r.error().message));
        check_written(*r);
        return *r;
    }
    SdpOut answer(const std::string& id, const std::string& from, const std::string& to,
                  const std::string& body) {
        auto r = calls.answer(id, from, to, body);
        BOOST_REQUIRE_MESSAGE(r.ok(), "answer: " << (r.ok() ? "" : r.error().message));
        check_written(*r);
        return *r;
    }
    Error offer_error(const std::string& id, const std::string& from, const std::string& to,
                      const std::string& body) {
        auto r = calls.offer(id, from, to, body);
        BOOST_REQUIRE_MESSAGE(!r.ok(), "the offer was taken");
        return r.error();
    }
    Error answer_error(const std::string& id, const std::string& from, const std::string& to,
                       const std::string& body) {
        auto r = calls.answer(id, from, to, body);
        BOOST_REQUIRE_MESSAGE(!r.ok(), "the answer was taken");
        return r.error();
    }

    // The SDP written names the relay's address and exactly the ports
    // reported, and those ports are the ones bound for the party it goes to.
    void check_written(const SdpOut& out) {
        auto d = parse_sdp(out.sdp);
        BOOST_REQUIRE_MESSAGE(d.ok(), out.sdp);
        BOOST_REQUIRE(d->media.size() == out.ports.size());
        for (size_t i = 0; i < out.ports.size(); ++i) {
            const MediaDesc& m = d->media[i];
            BOOST_TEST(m.port == out.ports[i].rtp);
            if (m.disabled())
                continue;
            BOOST_TEST(m.rtp_peer.host() == calls.options().advertised.host());
            BOOST_TEST(m.rtcp_mux == out.ports[i].mux());
            if (!out.ports[i].mux())
                BOOST_TEST(m.rtcp_peer.port() == out.ports[i].rtcp);
            BOOST_TEST(pool.allocated(out.ports[i].rtp));
        }
    }

    CallInfo info(const std::string& id) {
        auto q = calls.query(id);
        BOOST_REQUIRE_MESSAGE(q.ok(), id);
        return *q;
    }
    // A side of an active stream (by m= line) of a call.
    SideInfo side(const std::string& id, size_t line, Leg leg) {
        CallInfo c = info(id);
        for (const auto& s : c.streams)
            if (s.index == line)
                return s.relay.sides[static_cast<size_t>(leg)];
        BOOST_FAIL("call " << id << " has no active m= line " << line);
        return {};
    }
    // The ports a side has bound, as StreamPorts.
    StreamPorts bound(const std::string& id, size_t line, Leg leg) {
        SideInfo s = side(id, line, leg);
        return s.rtcp_mux ? StreamPorts{s.rtp_port, 0} : StreamPorts{s.rtp_port, s.rtcp_port};
    }
    // Where a party sends its media for m= line `line`, as an SDP told it.
    static SockAddr relay_at(const SdpOut& out, size_t line, Component c = Component::rtp) {
        SockAddr a = addr("127.0.0.1:0");
        const StreamPorts& p = out.ports.at(line);
        a.set_port(c == Component::rtcp && !p.mux() ? p.rtcp : p.rtp);
        return a;
    }

    Received expect(Endpoint& e) {
        bool got = pump_until(loop, [&] {
            e.drain();
            return !e.inbox.empty();
        });
        BOOST_REQUIRE_MESSAGE(got, "nothing arrived at " << e.address().str());
        Received r = e.inbox.front();
        e.inbox.pop_front();
        return r;
    }
    // Sends `bytes` from `from` to `to` and requires it at `at`, from `source`.
    void through(const Endpoint& from, const SockAddr& to, Endpoint& at, const SockAddr& source,
                 const std::string& bytes) {
        from.send(to, bytes);
        Received r = expect(at);
        BOOST_TEST(r.bytes == bytes);
        BOOST_TEST(r.source.str() == source.str());
    }
    // Lets the loop run a while, then requires that nothing came to `e`.
    void expect_none(Endpoint& e) {
        pump_until(
            loop, [] { return false; }, 30ms);
        e.drain();
        BOOST_TEST(e.inbox.empty(), "unexpected datagram at " << e.address().str());
        e.inbox.clear();
    }
    void expect_dropped(Drop why, uint64_t n) {
        bool got = pump_until(
            loop, [&] { return relay.counters().dropped[static_cast<size_t>(why)] >= n; });
        BOOST_REQUIRE_MESSAGE(got, "no " << drop_name(why) << " drop");
    }
    // What must be back to where it was after a failed operation.
    struct Held {
        size_t in_use, free_pairs, pool_streams, sessions, streams, sockets, calls;
        bool operator==(const Held&) const = default;
    };
    Held held() const {
        PortCounters p = pool.counters();
        const RelayCounters& r = relay.counters();
        return {p.in_use, p.free_pairs, p.streams, r.sessions, r.streams, r.sockets, calls.size()};
    }
};

std::ostream& operator<<(std::ostream& os, const Fixture::Held& h) {
    return os << "ports " << h.in_use << ", free pairs " << h.free_pairs << ", pool streams "
              << h.pool_streams << ", sessions " << h.sessions << ", streams " << h.streams
              << ", sockets " << h.sockets << ", calls " << h.calls;
}

struct FourPorts : Fixture {
    FourPorts()
        : Fixture(Options{4}) {}
};
struct EightPorts : Fixture {
    EightPorts()
        : Fixture(Options{8}) {}
};

} // namespace

BOOST_AUTO_TEST_SUITE(media_calls)

BOOST_FIXTURE_TEST_CASE(offer_answer_then_media_both_ways, Fixture) {
    Phone a, b;
    SdpOut o = offer("c1", "ta", "", sdp("alice", 1, {audio(a)}));
    BOOST_TEST(o.created);
    BOOST_TEST(o.to == Leg::callee);
    BOOST_REQUIRE(o.ports.size() == 1u);
    BOOST_TEST(!o.ports[0].mux());
    // The callee is told the callee side's ports; the caller's side is a
    // pair of its own (no rtcp-mux offered).
    BOOST_TEST(bound("c1", 0, Leg::callee) == o.ports[0]);
    StreamPorts caller_side = bound("c1", 0, Leg::caller);
    BOOST_TEST(!caller_side.mux());
    BOOST_TEST(caller_side.rtp != o.ports[0].rtp);
    BOOST_TEST(pool.counters().in_use == 4u);
    BOOST_TEST(relay.counters().sockets == 4u);
    BOOST_TEST(!info("c1").answered);

    SdpOut an = answer("c1", "ta", "tb", sdp("bob", 7, {audio(b)}));
    BOOST_TEST(!an.created);
    BOOST_TEST(an.to == Leg::caller);
    BOOST_REQUIRE(an.ports.size() == 1u);
    BOOST_TEST(an.ports[0] == caller_side);
    CallInfo ci = info("c1");
    BOOST_TEST(ci.answered);
    BOOST_TEST(ci.tags[0] == "ta");
    BOOST_TEST(ci.tags[1] == "tb");
    BOOST_REQUIRE(ci.streams.size() == 1u);
    BOOST_TEST(ci.streams[0].media == "audio");
    BOOST_TEST(origin_version(an.sdp) == "7");

    // RTP each way, from the port the receiving party was told.
    for (uint16_t seq = 1; seq <= 20; ++seq) {
        through(a.rtp, relay_at(an, 0), b.rtp, relay_at(o, 0), rtp(seq));
        through(b.rtp, relay_at(o, 0), a.rtp, relay_at(an, 0), rtp(uint16_t(seq + 100), 160, 8));
    }
    // RTCP each way on the RTCP ports.
    through(a.rtcp, relay_at(an, 0, Component::rtcp), b.rtcp, relay_at(o, 0, Component::rtcp),
            rtcp('a'));
    through(b.rtcp, relay_at(o, 0, Component::rtcp), a.rtcp, relay_at(an, 0, Component::rtcp),
            rtcp('b', 52));
    SideInfo caller = side("c1", 0, Leg::caller);
    BOOST_TEST(caller.counters.packets == 21u);
    BOOST_TEST(caller.counters.rtcp_packets == 1u);
    BOOST_TEST(side("c1", 0, Leg::callee).counters.packets == 21u);
    BOOST_TEST(calls.counters().offers == 1u);
    BOOST_TEST(calls.counters().answers == 1u);
    BOOST_TEST(calls.counters().created == 1u);

    auto all = calls.list();
    BOOST_REQUIRE(all.size() == 1u);
    BOOST_TEST(all[0].call_id == "c1");
    BOOST_TEST(calls.remove("c1", CallEnd::deleted));
    BOOST_TEST(pool.counters().in_use == 0u);
    BOOST_TEST(relay.counters().sockets == 0u);
}

BOOST_FIXTURE_TEST_CASE(answerer_agreeing_to_rtcp_mux_shrinks_to_one_port, Fixture) {
    Endpoint a, b; // both phones multiplex
    SdpOut o = offer("c1", "ta", "", sdp("alice", 1, {mux(a)}));
    // The caller's side is one port; the callee's a pair, proposed as mux.
    BOOST_TEST(o.ports[0].mux());
    BOOST_TEST(bound("c1", 0, Leg::caller).mux());
    SideInfo callee = side("c1", 0, Leg::callee);
    BOOST_TEST(!callee.rtcp_mux);
    BOOST_TEST(callee.rtp_port == o.ports[0].rtp);
    BOOST_TEST(callee.rtcp_port == o.ports[0].rtp + 1);
    BOOST_TEST(pool.counters().in_use == 3u);
    BOOST_TEST(pool.counters().streams == 2u);
    BOOST_TEST(relay.counters().sockets == 3u);

    SdpOut an = answer("c1", "ta", "tb", sdp("bob", 1, {mux(b)}));
    BOOST_TEST(an.ports[0].mux());
    BOOST_TEST(an.ports[0] == bound("c1", 0, Leg::caller));
    BOOST_TEST(bound("c1", 0, Leg::callee) == (StreamPorts{o.ports[0].rtp, 0}));
    BOOST_TEST(pool.counters().in_use == 2u);
    BOOST_TEST(pool.counters().streams == 2u);
    BOOST_TEST(relay.counters().sockets == 2u);
    BOOST_TEST(!pool.allocated(static_cast<uint16_t>(o.ports[0].rtp + 1)));
    BOOST_TEST(can_bind(static_cast<uint16_t>(o.ports[0].rtp + 1)));

    // RTP and RTCP each way, all on the two single ports.
    through(a, relay_at(an, 0), b, relay_at(o, 0), rtp(1));
    through(b, relay_at(o, 0), a, relay_at(an, 0), rtp(2));
    through(a, relay_at(an, 0), b, relay_at(o, 0), rtcp('x'));
    through(b, relay_at(o, 0), a, relay_at(an, 0), rtcp('y'));
    BOOST_TEST(side("c1", 0, Leg::callee).counters.rtcp_packets == 1u);

    BOOST_TEST(calls.remove("c1", CallEnd::deleted));
    BOOST_TEST(pool.counters().in_use == 0u);
    BOOST_TEST(pool.counters().free_pairs == pool.counters().capacity_pairs);
    BOOST_TEST(relay.counters().sockets == 0u);
}

BOOST_FIXTURE_TEST_CASE(answerer_refusing_rtcp_mux_keeps_its_pair, Fixture) {
    Endpoint a; // the caller multiplexes, the callee does not
    Phone b;
    SdpOut o = offer("c1", "ta", "", sdp("alice", 1, {mux(a)}));
    SdpOut an = answer("c1", "ta", "tb", sdp("bob", 1, {audio(b)}));
    // The caller keeps its one port (the answer it gets accepts mux).
    BOOST_TEST(an.ports[0].mux());
    StreamPorts callee = bound("c1", 0, Leg::callee);
    BOOST_TEST(!callee.mux());
    BOOST_TEST(callee.rtp == o.ports[0].rtp);
    BOOST_TEST(pool.counters().in_use == 3u);
    BOOST_TEST(relay.counters().sockets == 3u);

    SockAddr callee_rtcp = addr("127.0.0.1:0");
    callee_rtcp.set_port(callee.rtcp);
    through(a, relay_at(an, 0), b.rtp, relay_at(o, 0), rtp(1));
    through(a, relay_at(an, 0), b.rtcp, callee_rtcp, rtcp('x'));
    // The callee's RTCP to RTP + 1 reaches the caller's one port.
    through(b.rtcp, callee_rtcp, a, relay_at(an, 0), rtcp('y'));
    through(b.rtp, relay_at(o, 0), a, relay_at(an, 0), rtp(2));
}

BOOST_FIXTURE_TEST_CASE(reoffer_with_the_same_body_is_a_refresh, Fixture) {
    Phone a, b;
    Endpoint ma, mb;
    const std::string offer_body = sdp("alice", 3, {audio(a)});
    const std::string answer_body = sdp("bob", 9, {audio(b)});
    SdpOut o1 = offer("c1", "ta", "", offer_body);
    SdpOut a1 = answer("c1", "ta", "tb", answer_body);
    // A mux call too: the callee's side was shrunk at the answer.
    SdpOut mo1 = offer("c2", "ta", "", sdp("alice", 3, {mux(ma)}));
    SdpOut ma1 = answer("c2", "ta", "tb", sdp("bob", 9, {mux(mb)}));
    through(a.rtp, relay_at(a1, 0), b.rtp, relay_at(o1, 0), rtp(1));
    through(b.rtp, relay_at(o1, 0), a.rtp, relay_at(a1, 0), rtp(2));
    const uint32_t epoch = side("c1", 0, Leg::caller).epoch;
    const Held before = held();

    SdpOut o2 = offer("c1", "ta", "tb", offer_body);
    BOOST_TEST(!o2.created);
    BOOST_TEST(o2.sdp == o1.sdp);
    BOOST_TEST(o2.ports == o1.ports);
    SdpOut a2 = answer("c1", "ta", "tb", answer_body);
    BOOST_TEST(a2.sdp == a1.sdp);
    BOOST_TEST(a2.ports == a1.ports);
    SdpOut mo2 = offer("c2", "ta", "tb", sdp("alice", 3, {mux(ma)}));
    BOOST_TEST(mo2.sdp == mo1.sdp);
    SdpOut ma2 = answer("c2", "ta", "tb", sdp("bob", 9, {mux(mb)}));
    BOOST_TEST(ma2.sdp == ma1.sdp);

    BOOST_TEST((held() == before));
    BOOST_TEST(calls.counters().relatched == 0u);
    BOOST_TEST(side("c1", 0, Leg::caller).epoch == epoch);
    through(a.rtp, relay_at(a2, 0), b.rtp, relay_at(o2, 0), rtp(3));
    through(mb, relay_at(mo2, 0), ma, relay_at(ma2, 0), rtp(4));
}

BOOST_FIXTURE_TEST_CASE(callee_reoffer_relatches_the_callee, Fixture) {
    Phone a, b, b2;
    SdpOut o = offer("c1", "ta", "", sdp("alice", 1, {audio(a)}));
    SdpOut an = answer("c1", "ta", "tb", sdp("bob", 1, {audio(b)}));
    through(b.rtp, relay_at(o, 0), a.rtp, relay_at(an, 0), rtp(1)); // b is learned
    through(a.rtp, relay_at(an, 0), b.rtp, relay_at(o, 0), rtp(2));

    // The callee's re-INVITE (From tag = its tag) moves it to b2.
    SdpOut ro = offer("c1", "tb", "ta", sdp("bob", 2, {audio(b2)}));
    BOOST_TEST(ro.to == Leg::caller);
    BOOST_TEST(!ro.created);
    BOOST_TEST(ro.ports == an.ports); // the caller's side, kept
    BOOST_TEST(calls.counters().relatched == 1u);
    SideInfo callee = side("c1", 0, Leg::callee);
    BOOST_TEST(callee.expected.rtp.str() == b2.rtp.address().str());
    BOOST_TEST(!callee.learned_rtp.has_value());
    // Media to the callee goes to the new address at once.
    through(a.rtp, relay_at(an, 0), b2.rtp, relay_at(o, 0), rtp(3));
    expect_none(b.rtp);

    // The caller answers it with its SDP unchanged: nothing moves.
    SdpOut ra = answer("c1", "tb", "ta", sdp("alice", 1, {audio(a)}));
    BOOST_TEST(ra.to == Leg::callee);
    BOOST_TEST(ra.ports == o.ports);
    BOOST_TEST(calls.counters().relatched == 1u);
    through(b2.rtp, relay_at(o, 0), a.rtp, relay_at(an, 0), rtp(4));
    CallInfo ci = info("c1");
    BOOST_TEST(ci.tags[0] == "ta");
    BOOST_TEST(ci.tags[1] == "tb");
    BOOST_TEST((held().in_use == 4u));
}

BOOST_FIXTURE_TEST_CASE(reoffer_with_a_new_address_relatches_the_offerer, Fixture) {
    Phone a, a2, b;
    Endpoint a2_nat;
    SdpOut o = offer("c1", "ta", "", sdp("alice", 1, {audio(a)}));
    SdpOut an = answer("c1", "ta", "tb", sdp("bob", 1, {audio(b)}));
    through(a.rtp, relay_at(an, 0), b.rtp, relay_at(o, 0), rtp(1)); // a is learned
    through(b.rtp, relay_at(o, 0), a.rtp, relay_at(an, 0), rtp(2));

    SdpOut ro = offer("c1", "ta", "tb", sdp("alice", 2, {audio(a2)}));
    BOOST_TEST(ro.ports == o.ports);
    BOOST_TEST(calls.counters().relatched == 1u);
    BOOST_TEST(side("c1", 0, Leg::caller).expected.rtp.str() == a2.rtp.address().str());
    // To the new SDP address until the caller's next packet...
    through(b.rtp, relay_at(o, 0), a2.rtp, relay_at(an, 0), rtp(3));
    expect_none(a.rtp);
    // ... which is learned wherever it comes from (here a NAT's port).
    through(a2_nat, relay_at(an, 0), b.rtp, relay_at(o, 0), rtp(4));
    through(b.rtp, relay_at(o, 0), a2_nat, relay_at(an, 0), rtp(5));
    // The old address is now a stranger that is forwarded, not learned.
    through(a.rtp, relay_at(an, 0), b.rtp, relay_at(o, 0), rtp(6));
    through(b.rtp, relay_at(o, 0), a2_nat, relay_at(an, 0), rtp(7));
    SdpOut ra = answer("c1", "ta", "tb", sdp("bob", 1, {audio(b)}));
    BOOST_TEST(ra.ports == an.ports);
}

// The callee agreed to rtcp-mux (its side shrank to one port), then
// re-offers without it: one port cannot serve that, so the stream is
// opened again on new ports for both sides and the old ones go back.
BOOST_FIXTURE_TEST_CASE(reoffer_dropping_rtcp_mux_reopens_the_stream, Fixture) {
    Endpoint ma, mb;
    Phone a, b;
    SdpOut o = offer("c1", "ta", "", sdp("alice", 1, {mux(ma)}));
    SdpOut an = answer("c1", "ta", "tb", sdp("bob", 1, {mux(mb)}));
    BOOST_TEST(pool.counters().in_use == 2u);
    SdpOut ro = offer("c1", "tb", "ta", sdp("bob", 2, {audio(b)}));
    BOOST_TEST(ro.to == Leg::caller);
    BOOST_TEST(!ro.ports[0].mux());
    BOOST_TEST(ro.ports[0].rtp != an.ports[0].rtp);
    BOOST_TEST(!bound("c1", 0, Leg::callee).mux());
    BOOST_TEST(bound("c1", 0, Leg::callee).rtp != o.ports[0].rtp);
    BOOST_TEST(!pool.allocated(o.ports[0].rtp));
    BOOST_TEST(!pool.allocated(an.ports[0].rtp));
    BOOST_TEST(pool.counters().in_use == 4u);
    BOOST_TEST(relay.counters().sockets == 4u);
    SdpOut ra = answer("c1", "tb", "ta", sdp("alice", 2, {audio(a)}));
    BOOST_TEST(ra.to == Leg::callee);
    BOOST_TEST(!ra.ports[0].mux());
    through(a.rtp, relay_at(ro, 0), b.rtp, relay_at(ra, 0), rtp(1));
    through(b.rtp, relay_at(ra, 0), a.rtp, relay_at(ro, 0), rtp(2));
    through(b.rtcp, relay_at(ra, 0, Component::rtcp), a.rtcp, relay_at(ro, 0, Component::rtcp),
            rtcp('b'));
    BOOST_TEST(relay.counters().streams == 1u);
}

BOOST_FIXTURE_TEST_CASE(stream_set_to_port_zero_frees_its_ports, Fixture) {
    Phone a, av, b, bv;
    SdpOut o = offer("c1", "ta", "", sdp("alice", 1, {audio(a), video(av)}));
    SdpOut an = answer("c1", "ta", "tb", sdp("bob", 1, {audio(b), video(bv)}));
    BOOST_TEST(pool.counters().in_use == 8u);
    BOOST_TEST(relay.counters().sockets == 8u);
    through(av.rtp, relay_at(an, 1), bv.rtp, relay_at(o, 1), rtp(1, 900, 96));

    SdpOut ro = offer("c1", "ta", "tb", sdp("alice", 2, {audio(a), disabled(video(av))}));
    BOOST_TEST(ro.ports[0] == o.ports[0]);
    BOOST_TEST(ro.ports[1] == (StreamPorts{0, 0}));
    BOOST_TEST(pool.counters().in_use == 4u);
    BOOST_TEST(relay.counters().sockets == 4u);
    BOOST_TEST(!pool.allocated(o.ports[1].rtp));
    BOOST_TEST(!pool.allocated(an.ports[1].rtp));
    BOOST_TEST(info("c1").streams.size() == 1u);
    SdpOut ra = answer("c1", "ta", "tb", sdp("bob", 2, {audio(b), disabled(video(bv))}));
    BOOST_TEST(ra.ports[1] == (StreamPorts{0, 0}));
    through(a.rtp, relay_at(ra, 0), b.rtp, relay_at(ro, 0), rtp(2));

    // Enabled again: new ports (the old ones went back to the pool's end).
    SdpOut back = offer("c1", "ta", "tb", sdp("alice", 3, {audio(a), video(av)}));
    BOOST_TEST(back.ports[0] == o.ports[0]);
    BOOST_TEST(back.ports[1].rtp != 0);
    BOOST_TEST(back.ports[1] != o.ports[1]);
    SdpOut ba = answer("c1", "ta", "tb", sdp("bob", 3, {audio(b), video(bv)}));
    BOOST_TEST(pool.counters().in_use == 8u);
    through(av.rtp, relay_at(ba, 1), bv.rtp, relay_at(back, 1), rtp(3, 900, 96));
    through(bv.rtp, relay_at(back, 1), av.rtp, relay_at(ba, 1), rtp(4, 900, 96));
}

BOOST_FIXTURE_TEST_CASE(new_m_line_in_a_reoffer_gets_new_ports, Fixture) {
    Phone a, av, b, bv;
    SdpOut o = offer("c1", "ta", "", sdp("alice", 1, {audio(a)}));
    SdpOut an = answer("c1", "ta", "tb", sdp("bob", 1, {audio(b)}));
    SdpOut ro = offer("c1", "ta", "tb", sdp("alice", 2, {audio(a), video(av)}));
    BOOST_REQUIRE(ro.ports.size() == 2u);
    BOOST_TEST(ro.ports[0] == o.ports[0]);
    BOOST_TEST(ro.ports[1].rtp != 0);
    BOOST_TEST(pool.counters().in_use == 8u);
    SdpOut ra = answer("c1", "ta", "tb", sdp("bob", 2, {audio(b), video(bv)}));
    BOOST_TEST(ra.ports[0] == an.ports[0]);
    CallInfo ci = info("c1");
    BOOST_REQUIRE(ci.streams.size() == 2u);
    BOOST_TEST(ci.streams[1].media == "video");
    through(av.rtp, relay_at(ra, 1), bv.rtp, relay_at(ro, 1), rtp(1, 900, 96));
    through(bv.rtp, relay_at(ro, 1), av.rtp, relay_at(ra, 1), rtp(2, 900, 96));
    through(a.rtp, relay_at(ra, 0), b.rtp, relay_at(ro, 0), rtp(3));
}

BOOST_FIXTURE_TEST_CASE(removing_m_lines_is_bad_sdp, Fixture) {
    Phone a, av, b, bv;
    offer("c1", "ta", "", sdp("alice", 1, {audio(a), video(av)}));
    answer("c1", "ta", "tb", sdp("bob", 1, {audio(b), video(bv)}));
    const Held before = held();
    Error e = offer_error("c1", "ta", "tb", sdp("alice", 2, {audio(a)}));
    BOOST_TEST(e.code == "bad_sdp");
    BOOST_TEST(e.message.find("m= lines are never removed") != std::string::npos, e.message);
    BOOST_TEST((held() == before));
    BOOST_TEST(info("c1").streams.size() == 2u);
    BOOST_TEST(calls.counters().failed.at("bad_sdp") == 1u);
}

BOOST_FIXTURE_TEST_CASE(answer_errors_leave_the_call_as_it_was, Fixture) {
    Phone a, av, b, bv;
    const std::string one = sdp("bob", 1, {audio(b)});
    Error e = answer_error("c1", "ta", "tb", one);
    BOOST_TEST(e.code == "not_found");
    BOOST_TEST(calls.size() == 0u);

    offer("c1", "ta", "", sdp("alice", 1, {audio(a)}));
    const Held before = held();
    BOOST_TEST(offer_error("c1", "tx", "", sdp("mallory", 1, {audio(a)})).code == "unknown_tag");
    BOOST_TEST(answer_error("c1", "tx", "tb", one).code == "unknown_tag");
    BOOST_TEST(answer_error("c1", "ta", "", one).code == "bad_request");
    e = answer_error("c1", "ta", "tb", sdp("bob", 1, {audio(b), video(bv)}));
    BOOST_TEST(e.code == "bad_sdp");
    BOOST_TEST(e.message.find("2 m= lines, the offer had 1") != std::string::npos, e.message);
    BOOST_TEST(answer_error("c1", "ta", "tb", "v=0\r\nbroken\r\n").code == "bad_sdp");
    BOOST_TEST((held() == before));
    BOOST_TEST(!info("c1").answered);
    BOOST_TEST(info("c1").tags[1] == "");

    // A stream the offer disabled cannot be accepted by the answer.
    offer("c2", "ta", "", sdp("alice", 1, {audio(a), disabled(video(av))}));
    const Held before2 = held();
    e = answer_error("c2", "ta", "tb", sdp("bob", 1, {audio(b), video(bv)}));
    BOOST_TEST(e.code == "bad_sdp");
    BOOST_TEST(e.message.find("m= line 2") != std::string::npos, e.message);
    BOOST_TEST((held() == before2));

    // The right answers still work.
    answer("c1", "ta", "tb", one);
    answer("c2", "ta", "tb", sdp("bob", 1, {audio(b), disabled(video(bv))}));
    BOOST_TEST(calls.counters().failed.at("unknown_tag") == 2u);
    BOOST_TEST(calls.counters().failed.at("not_found") == 1u);
}

BOOST_FIXTURE_TEST_CASE(bad_ids_unsupported_streams_and_bad_addresses, Fixture) {
    Phone a;
    const std::string good = sdp("alice", 1, {audio(a)});
    const Held before = held();
    BOOST_TEST(offer_error("", "ta", "", good).code == "bad_request");
    BOOST_TEST(offer_error("c1", "", "", good).code == "bad_request");
    BOOST_TEST(offer_error(std::string(MAX_CALL_ID + 1, 'c'), "ta", "", good).code ==
               "bad_request");
    BOOST_TEST(offer_error("c1", std::string(MAX_TAG + 1, 't'), "", good).code == "bad_request");

    M tcp = audio(a);
    tcp.proto = "TCP/RTP/AVP";
    Error e = offer_error("c1", "ta", "", sdp("alice", 1, {tcp}));
    BOOST_TEST(e.code == "unsupported");
    BOOST_TEST(e.message.find("m= line 1") != std::string::npos, e.message);

    M v6 = audio(a);
    v6.at = addr("[::1]:4000");
    e = offer_error("c1", "ta", "", sdp("alice", 1, {v6}));
    BOOST_TEST(e.code == "bad_address");
    BOOST_TEST(e.message.find("::1") != std::string::npos, e.message);
    BOOST_TEST((held() == before));
    BOOST_TEST(calls.size() == 0u);

    // In an answer too; the call stays unanswered.
    offer("c1", "ta", "", good);
    const Held offered = held();
    BOOST_TEST(answer_error("c1", "ta", "tb", sdp("bob", 1, {v6})).code == "bad_address");
    BOOST_TEST(answer_error("c1", "ta", "tb", sdp("bob", 1, {tcp})).code == "unsupported");
    BOOST_TEST((held() == offered));
    BOOST_TEST(!info("c1").answered);
}

// a=rtcp may name an address of its own (RFC 3605): one of the other
// family is refused like a c= of the other family, in an offer, a re-offer
// and an answer, and never reaches the relay.
BOOST_FIXTURE_TEST_CASE(rtcp_address_of_the_other_family_is_bad_address, Fixture) {
    Phone a, b;
    M v6_rtcp = audio(a);
    v6_rtcp.rtcp_address = "::1";
    const Held before = held();
    BOOST_TEST(offer_error("c1", "ta", "", sdp("alice", 1, {v6_rtcp})).code == "bad_address");
    BOOST_TEST((held() == before));
    SdpOut o = offer("c1", "ta", "", sdp("alice", 1, {audio(a)}));
    const Held offered = held();
    M b_v6_rtcp = audio(b);
    b_v6_rtcp.rtcp_address = "::1";
    Error e = answer_error("c1", "ta", "tb", sdp("bob", 1, {b_v6_rtcp}));
    BOOST_TEST(e.code == "bad_address");
    BOOST_TEST(e.message.find("::1") != std::string::npos, e.message);
    BOOST_TEST(!info("c1").answered);
    SdpOut an = answer("c1", "ta", "tb", sdp("bob", 1, {audio(b)}));
    BOOST_TEST(offer_error("c1", "ta", "tb", sdp("alice", 2, {v6_rtcp})).code == "bad_address");
    BOOST_TEST((held() == offered));
    through(a.rtcp, relay_at(an, 0, Component::rtcp), b.rtcp, relay_at(o, 0, Component::rtcp),
            rtcp('a'));
}

// The callee offers before its answer named it (a late offer in a 2xx, the
// tags swapped by the caller of offer()): its tag is learned from that
// offer, and the caller's answer to it is taken.
BOOST_FIXTURE_TEST_CASE(callee_offer_before_its_answer_names_it, Fixture) {
    Phone a, b;
    SdpOut o = offer("c1", "ta", "", sdp("alice", 1, {audio(a)}));
    SdpOut ro = offer("c1", "tb", "ta", sdp("bob", 1, {audio(b)}));
    BOOST_TEST(ro.to == Leg::caller);
    BOOST_TEST(info("c1").tags[1] == "tb");
    SdpOut ra = answer("c1", "tb", "ta", sdp("alice", 1, {audio(a)}));
    BOOST_TEST(ra.to == Leg::callee);
    BOOST_TEST(ra.ports == o.ports);
    BOOST_TEST(info("c1").answered);
    through(a.rtp, relay_at(ro, 0), b.rtp, relay_at(ra, 0), rtp(1));
    through(b.rtp, relay_at(ra, 0), a.rtp, relay_at(ro, 0), rtp(2));
    // Another party's tag is still unknown.
    BOOST_TEST(offer_error("c1", "tx", "ta", sdp("mallory", 1, {audio(a)})).code == "unknown_tag");
}

BOOST_FIXTURE_TEST_CASE(ports_exhausted_mid_offer_leaves_nothing, FourPorts) {
    // Room for one stream (a pair per side), and the offer has two.
    Phone a, av;
    const Held before = held();
    const RelayCounters r0 = relay.counters();
    Error e = offer_error("c1", "ta", "", sdp("alice", 1, {audio(a), video(av)}));
    BOOST_TEST(e.code == "ports_exhausted");
    BOOST_TEST(e.message.find(pool.range().str()) != std::string::npos, e.message);
    BOOST_TEST((held() == before), held());
    BOOST_TEST(pool.counters().free == 4u);
    BOOST_TEST(calls.size() == 0u);
    BOOST_TEST(calls.query("c1").error().code == "not_found");
    BOOST_TEST(calls.counters().created == 0u);
    BOOST_TEST(calls.counters().failed.at("ports_exhausted") == 1u);
    // The first stream had been opened: it was closed again, with its session.
    BOOST_TEST(relay.counters().streams_opened == r0.streams_opened + 1);
    BOOST_TEST(relay.counters().streams_closed == r0.streams_closed + 1);
    BOOST_TEST(relay.counters().sessions_closed == r0.sessions_closed + 1);
    // Its ports are all there for the next offer.
    Phone b;
    SdpOut o = offer("c2", "ta", "", sdp("alice", 1, {audio(a)}));
    answer("c2", "ta", "tb", sdp("bob", 1, {audio(b)}));
    BOOST_TEST(pool.counters().free == 0u);
}

BOOST_FIXTURE_TEST_CASE(failed_reoffer_leaves_the_call_unchanged, EightPorts) {
    Phone a, av, ax, b;
    const std::string body = sdp("alice", 1, {audio(a)});
    SdpOut o = offer("c1", "ta", "", body);
    SdpOut an = answer("c1", "ta", "tb", sdp("bob", 1, {audio(b)}));
    const Held before = held();
    // Two more streams fit only one: the offer fails having opened one.
    M extra = video(ax);
    Error e = offer_error("c1", "ta", "tb", sdp("alice", 2, {audio(a), video(av), extra}));
    BOOST_TEST(e.code == "ports_exhausted");
    BOOST_TEST((held() == before), held());
    CallInfo ci = info("c1");
    BOOST_TEST(ci.streams.size() == 1u);
    BOOST_TEST(bound("c1", 0, Leg::callee) == o.ports[0]);
    BOOST_TEST(bound("c1", 0, Leg::caller) == an.ports[0]);
    // And a moved address in a failed re-offer did not relatch.
    Phone a2;
    BOOST_TEST(offer_error("c1", "ta", "tb", sdp("alice", 2, {audio(a2), video(av), extra})).code ==
               "ports_exhausted");
    BOOST_TEST(side("c1", 0, Leg::caller).expected.rtp.str() == a.rtp.address().str());
    BOOST_TEST(calls.counters().relatched == 0u);
    through(a.rtp, relay_at(an, 0), b.rtp, relay_at(o, 0), rtp(1));
    through(b.rtp, relay_at(o, 0), a.rtp, relay_at(an, 0), rtp(2));
    // Its state for the next offer is as before too: the same body, the same SDP.
    BOOST_TEST(offer("c1", "ta", "tb", body).sdp == o.sdp);
}

BOOST_FIXTURE_TEST_CASE(port_held_by_another_socket_is_skipped, Fixture) {
    // Something else holds the pool's first port: the first pair fails to
    // bind, goes back, and the next pairs are taken.
    const uint16_t first = pool.range().lo;
    auto busy = net::udp_bind(addr("127.0.0.1:" + std::to_string(first)));
    BOOST_REQUIRE(busy.ok());
    log::set_level("media", log::Level::error); // its warning is expected
    Phone a, b;
    SdpOut o = offer("c1", "ta", "", sdp("alice", 1, {audio(a)}));
    SdpOut an = answer("c1", "ta", "tb", sdp("bob", 1, {audio(b)}));
    BOOST_TEST(calls.counters().bind_retries == 1u);
    BOOST_TEST(relay.counters().bind_failures == 1u);
    BOOST_TEST(!pool.allocated(first));
    BOOST_TEST(!pool.allocated(static_cast<uint16_t>(first + 1)));
    for (const StreamPorts& p : {o.ports[0], an.ports[0]}) {
        BOOST_TEST(p.rtp != first);
        BOOST_TEST(p.rtcp != first + 1);
    }
    BOOST_TEST(pool.counters().in_use == 4u);
    BOOST_TEST(relay.counters().sockets == 4u);
    through(a.rtp, relay_at(an, 0), b.rtp, relay_at(o, 0), rtp(1));
    through(b.rtp, relay_at(o, 0), a.rtp, relay_at(an, 0), rtp(2));
}

BOOST_FIXTURE_TEST_CASE(origin_version_raised_when_our_part_changes, Fixture) {
    Phone a, av, b, bv;
    SdpOut o = offer("c1", "ta", "", sdp("alice", 5, {audio(a), video(av)}));
    BOOST_TEST(origin_version(o.sdp) == "5");
    answer("c1", "ta", "tb", sdp("bob", 1, {audio(b), video(bv)}));
    // The offerer's version unchanged, but our ports changed (the video
    // stream went): the version written grows.
    SdpOut r1 = offer("c1", "ta", "tb", sdp("alice", 5, {audio(a), disabled(video(av))}));
    BOOST_TEST(origin_version(r1.sdp) == "6");
    // The same again is a refresh: no new raise.
    SdpOut r2 = offer("c1", "ta", "tb", sdp("alice", 5, {audio(a), disabled(video(av))}));
    BOOST_TEST(origin_version(r2.sdp) == "6");
    BOOST_TEST(r2.sdp == r1.sdp);
    // The offerer's next version keeps the offset.
    SdpOut r3 = offer("c1", "ta", "tb", sdp("alice", 6, {audio(a), video(av)}));
    BOOST_TEST(origin_version(r3.sdp) == "7");
    // Our address changed (a reload) under the same body: raised again.
    CallsOptions moved = calls.options();
    moved.advertised = addr("127.0.0.2:0");
    calls.set_options(moved);
    SdpOut r4 = calls.offer("c1", "ta", "tb", sdp("alice", 6, {audio(a), video(av)})).value();
    BOOST_TEST(origin_version(r4.sdp) == "8");
    BOOST_TEST(parse_sdp(r4.sdp)->media[0].rtp_peer.host() == "127.0.0.2");
    BOOST_TEST(r4.ports == r3.ports);
    // The answer's direction has its own count: the callee's answer, its
    // version unchanged, is raised since the caller's video ports are new.
    SdpOut ra = answer("c1", "ta", "tb", sdp("bob", 1, {audio(b), video(bv)}));
    BOOST_TEST(origin_version(ra.sdp) == "2");
    SdpOut ra2 = answer("c1", "ta", "tb", sdp("bob", 1, {audio(b), video(bv)}));
    BOOST_TEST(ra2.sdp == ra.sdp);
}

BOOST_FIXTURE_TEST_CASE(a_strangers_packets_keep_no_call_alive, Fixture) {
    // Issue 16: packets from a stranger (neither the party's learned source
    // nor the address its SDP names) are forwarded when not strict, but never
    // count as activity, so a stranger cannot keep a call's ports.
    Phone a, b;
    Endpoint stranger("127.0.0.2");
    SdpOut o = offer("c", "ta", "", sdp("alice", 1, {audio(a)}));
    SdpOut an = answer("c", "ta", "tb", sdp("bob", 1, {audio(b)}));
    through(a.rtp, relay_at(an, 0), b.rtp, relay_at(o, 0), rtp(1));
    through(b.rtp, relay_at(o, 0), a.rtp, relay_at(an, 0), rtp(2));
    for (auto at : {20s, 40s, 60s}) {
        fake = t0 + at;
        through(stranger, relay_at(an, 0), b.rtp, relay_at(o, 0), rtp(3));
    }
    fake = t0 + 59s;
    BOOST_TEST(calls.expire(fake).empty());
    fake = t0 + 60s;
    BOOST_TEST((calls.expire(fake) == std::vector<std::string>{"c"}));
    BOOST_TEST(pool.counters().in_use == 0u);
}

BOOST_FIXTURE_TEST_CASE(an_answered_call_without_media_expires_fast, Fixture) {
    // Issue 16: a call answered whose parties never sent a packet is closed
    // unlatched_timeout (10 s by default) after its last offer or answer; a
    // ringing call has no media yet and keeps unanswered_timeout.
    Phone a, b;
    const std::string ob = sdp("alice", 1, {audio(a)});
    const std::string ab = sdp("bob", 1, {audio(b)});
    offer("silent", "ta", "", ob);
    answer("silent", "ta", "tb", ab);
    offer("ringing", "ta", "", ob);
    SdpOut to = offer("talking", "ta", "", ob);
    SdpOut ta = answer("talking", "ta", "tb", ab);
    fake = t0 + 1s;
    through(a.rtp, relay_at(ta, 0), b.rtp, relay_at(to, 0), rtp(1));
    fake = t0 + 9s;
    BOOST_TEST(calls.expire(fake).empty());
    fake = t0 + 10s;
    BOOST_TEST((calls.expire(fake) == std::vector<std::string>{"silent"}));
    fake = t0 + 60s;
    BOOST_TEST(calls.expire(fake).empty());
    fake = t0 + 61s;
    BOOST_TEST((calls.expire(fake) == std::vector<std::string>{"talking"}));
    fake = t0 + 212s;
    BOOST_TEST((calls.expire(fake) == std::vector<std::string>{"ringing"}));
    BOOST_TEST(pool.counters().in_use == 0u);
}

BOOST_FIXTURE_TEST_CASE(sdp_naming_a_refused_address_changes_nothing, Fixture) {
    // Issue 16: an SDP naming loopback (the processor's port) made the relay
    // send a stranger's datagrams into the member.
    CallsOptions o = calls.options();
    o.policy.allow = {Cidr::parse("127.0.0.2/32").value()};
    o.policy.internal = {addr("127.0.0.3:0")};
    calls.set_options(o);
    Phone a, b;
    Endpoint allowed("127.0.0.2");
    Error e = offer_error("c1", "ta", "", sdp("alice", 1, {audio(a)}));
    BOOST_TEST(e.code == "sdp_address_refused");
    BOOST_TEST(e.message.find("127.0.0.1") != std::string::npos, e.message);
    BOOST_TEST(e.message.find("loopback") != std::string::npos, e.message);
    BOOST_TEST(calls.size() == 0u);
    BOOST_TEST(pool.counters().in_use == 0u);
    BOOST_TEST(calls.counters().failed.at("sdp_address_refused") == 1u);
    // An allowed address passes; a refused one in the answer changes nothing.
    M m;
    m.at = allowed.address();
    SdpOut out = offer("c2", "ta", "", sdp("alice", 1, {m}));
    const size_t in_use = pool.counters().in_use;
    M internal;
    internal.at = addr("127.0.0.3:7000");
    Error ea = answer_error("c2", "ta", "tb", sdp("bob", 1, {internal}));
    BOOST_TEST(ea.code == "sdp_address_refused");
    BOOST_TEST(ea.message.find("127.0.0.3:7000") != std::string::npos, ea.message);
    BOOST_TEST(!info("c2").answered);
    BOOST_TEST(pool.counters().in_use == in_use);
    // Hold (c=0.0.0.0) is not an address the policy refuses.
    M hold;
    hold.at = addr("0.0.0.0:7000");
    auto held = calls.answer("c2", "ta", "tb", sdp("bob", 1, {hold}));
    BOOST_TEST(held.ok(), (held.ok() ? "" : held.error().message));
    BOOST_TEST(info("c2").answered);
    (void)out;
}

BOOST_FIXTURE_TEST_CASE(caps_on_streams_and_sessions, Fixture) {
    CallsOptions o = calls.options();
    o.max_streams = 2;
    o.max_sessions = 2;
    calls.set_options(o);
    Phone a, b, c;
    Error e = offer_error("many", "ta", "", sdp("alice", 1, {audio(a), video(b), audio(c)}));
    BOOST_TEST(e.code == "too_many_streams");
    BOOST_TEST(pool.counters().in_use == 0u);
    offer("one", "ta", "", sdp("alice", 1, {audio(a), video(b)}));
    offer("two", "ta", "", sdp("alice", 1, {audio(a)}));
    Error full = offer_error("three", "ta", "", sdp("alice", 1, {audio(a)}));
    BOOST_TEST(full.code == "sessions_exhausted");
    // A re-offer of a call that exists is not a new session.
    offer("two", "ta", "", sdp("alice", 2, {audio(c)}));
    calls.remove("one", CallEnd::deleted);
    offer("three", "ta", "", sdp("alice", 1, {audio(a)}));
    BOOST_TEST(calls.counters().failed.at("too_many_streams") == 1u);
    BOOST_TEST(calls.counters().failed.at("sessions_exhausted") == 1u);
}

BOOST_FIXTURE_TEST_CASE(one_source_cannot_hold_every_session, Fixture) {
    // Issue 16: one address must not hold the relay's whole port range.
    CallsOptions o = calls.options();
    o.max_sessions_per_source = 2;
    calls.set_options(o);
    Phone a;
    const std::string body = sdp("alice", 1, {audio(a)});
    auto taken = [&](const std::string& id, std::string_view source) {
        auto r = calls.offer(id, "ta", "", body, source);
        BOOST_TEST(r.ok(), id << ": " << (r.ok() ? "" : r.error().message));
    };
    taken("s1", "198.51.100.10");
    taken("s2", "198.51.100.10");
    BOOST_TEST(calls.sources() == 1u);
    auto third = calls.offer("s3", "ta", "", body, "198.51.100.10");
    BOOST_REQUIRE(!third.ok());
    BOOST_TEST(third.error().code == "source_sessions_exhausted");
    BOOST_TEST(third.error().message.find("cluster.media_max_sessions_per_source") !=
                   std::string::npos,
               third.error().message);
    BOOST_TEST(third.error().message.find("198.51.100.10") != std::string::npos,
               third.error().message);
    BOOST_TEST(calls.size() == 2u);
    // The same refusal through exchange() (sipfarmd's op).
    auto via =
        calls.exchange("s3", "ta", "", body, Exchange::automatic, Dialog::unknown, "198.51.100.10");
    BOOST_REQUIRE(!via.ok());
    BOOST_TEST(via.error().code == "source_sessions_exhausted");
    // A re-offer of a call it holds is not a new session.
    auto again = calls.offer("s2", "ta", "", sdp("alice", 2, {audio(a)}), "198.51.100.10");
    BOOST_TEST(again.ok());
    // Another source, and no source (the processor's own leg), are not held back.
    taken("other", "198.51.100.11");
    taken("mine1", "");
    taken("mine2", "");
    taken("mine3", "");
    BOOST_TEST(calls.sources() == 2u);
    // A deleted call frees a place for its source.
    BOOST_TEST(calls.remove("s1", CallEnd::deleted));
    taken("s3", "198.51.100.10");
    BOOST_TEST(!calls.offer("s4", "ta", "", body, "198.51.100.10").ok());
    BOOST_TEST(calls.counters().failed.at("source_sessions_exhausted") == 3u);
    // Sources without calls are forgotten (the table is bounded by the calls).
    BOOST_TEST(calls.remove("other", CallEnd::deleted));
    BOOST_TEST(calls.sources() == 1u);
}

BOOST_FIXTURE_TEST_CASE(an_expired_call_frees_its_sources_place, Fixture) {
    CallsOptions o = calls.options();
    o.max_sessions_per_source = 1;
    calls.set_options(o);
    Phone a;
    const std::string body = sdp("alice", 1, {audio(a)});
    BOOST_TEST(calls.offer("ringing", "ta", "", body, "2001:db8::1").ok());
    BOOST_TEST(!calls.offer("next", "ta", "", body, "2001:db8::1").ok());
    fake = t0 + 212s;
    BOOST_TEST((calls.expire(fake) == std::vector<std::string>{"ringing"}));
    BOOST_TEST(calls.sources() == 0u);
    BOOST_TEST(calls.offer("next", "ta", "", body, "2001:db8::1").ok());
    // 0: no limit per source.
    o.max_sessions_per_source = 0;
    calls.set_options(o);
    BOOST_TEST(calls.offer("more", "ta", "", body, "2001:db8::1").ok());
    BOOST_TEST(calls.sources() == 1u);
}

BOOST_FIXTURE_TEST_CASE(identifiers_are_checked_before_any_lookup, Fixture) {
    Phone a;
    const std::string long_id(MAX_CALL_ID + 1, 'x');
    auto r = calls.exchange(long_id, "ta", "", sdp("alice", 1, {audio(a)}), Exchange::automatic);
    BOOST_REQUIRE(!r.ok());
    BOOST_TEST(r.error().code == "bad_request");
    auto t = calls.exchange("c", std::string(MAX_TAG + 1, 't'), "", sdp("alice", 1, {audio(a)}),
                            Exchange::automatic);
    BOOST_REQUIRE(!t.ok());
    BOOST_TEST(t.error().code == "bad_request");
    BOOST_TEST(calls.size() == 0u);
}

BOOST_FIXTURE_TEST_CASE(expiry_by_media_and_signalling, Fixture) {
    Phone a, b;
    const std::string ob = sdp("alice", 1, {audio(a)});
    const std::string ab = sdp("bob", 1, {audio(b)});
    SdpOut idle = offer("idle", "ta", "", ob);
    SdpOut idle_a = answer("idle", "ta", "tb", ab);
    offer("ringing", "ta", "", ob); // never answered
    SdpOut busy_o = offer("busy", "ta", "", ob);
    SdpOut busy_a = answer("busy", "ta", "tb", ab);
    SdpOut sig_o = offer("signalled", "ta", "", ob);
    SdpOut sig_a = answer("signalled", "ta", "tb", ab);
    // Media at the start (else the fast expiry of answered calls without
    // any packet would close them: an_answered_call_without_media_...).
    through(a.rtp, relay_at(idle_a, 0), b.rtp, relay_at(idle, 0), rtp(1));
    through(a.rtp, relay_at(sig_a, 0), b.rtp, relay_at(sig_o, 0), rtp(1));
    BOOST_TEST(calls.expire(fake).empty());

    fake = t0 + 50s;
    through(a.rtp, relay_at(busy_a, 0), b.rtp, relay_at(busy_o, 0), rtp(1)); // media
    offer("signalled", "ta", "tb", ob);                                      // a refresh
    fake = t0 + 59s;
    BOOST_TEST(calls.expire(fake).empty());
    fake = t0 + 61s;
    BOOST_TEST((calls.expire(fake) == std::vector<std::string>{"idle"}));
    BOOST_TEST(calls.query("idle").error().code == "not_found");
    BOOST_TEST(calls.size() == 3u);
    fake = t0 + 109s;
    BOOST_TEST(calls.expire(fake).empty());
    fake = t0 + 111s;
    auto gone = calls.expire(fake);
    BOOST_TEST((std::set<std::string>(gone.begin(), gone.end()) ==
                std::set<std::string>{"busy", "signalled"}));
    // Unanswered: kept until unanswered_timeout after its offer.
    fake = t0 + 211s;
    BOOST_TEST(calls.expire(fake).empty());
    fake = t0 + 212s;
    BOOST_TEST((calls.expire(fake) == std::vector<std::string>{"ringing"}));
    BOOST_TEST(calls.size() == 0u);
    BOOST_TEST(calls.counters().expired == 4u);
    BOOST_TEST(calls.counters().deleted == 0u);
    BOOST_TEST(pool.counters().in_use == 0u);
    BOOST_TEST(relay.counters().sessions == 0u);
    BOOST_TEST(relay.counters().sockets == 0u);
}

BOOST_FIXTURE_TEST_CASE(remove_frees_every_port, Fixture) {
    Endpoint a, av, b, bv;
    SdpOut o = offer("c1", "ta", "", sdp("alice", 1, {mux(a), as(mux(av), "video")}));
    SdpOut an = answer("c1", "ta", "tb", sdp("bob", 1, {mux(b), as(mux(bv), "video")}));
    BOOST_TEST(pool.counters().in_use == 4u);
    std::vector<uint16_t> ports;
    for (const SdpOut* out : {&o, &an})
        for (const StreamPorts& p : out->ports)
            ports.push_back(p.rtp);
    BOOST_TEST(calls.remove("c1", CallEnd::deleted));
    BOOST_TEST(!calls.remove("c1", CallEnd::deleted));
    BOOST_TEST(calls.query("c1").error().code == "not_found");
    BOOST_TEST(pool.counters().in_use == 0u);
    BOOST_TEST(pool.counters().streams == 0u);
    BOOST_TEST(pool.counters().free_pairs == pool.counters().capacity_pairs);
    BOOST_TEST(relay.counters().sessions == 0u);
    BOOST_TEST(relay.counters().sockets == 0u);
    for (uint16_t p : ports)
        BOOST_TEST(can_bind(p), p);
    BOOST_TEST(calls.counters().deleted == 1u);
    BOOST_TEST(calls.list().empty());
}

BOOST_FIXTURE_TEST_CASE(list_is_sorted_and_query_tells_the_streams, Fixture) {
    Phone a, b;
    for (const char* id : {"c3", "c1", "c2"})
        offer(id, "ta", "", sdp("alice", 1, {audio(a)}));
    answer("c2", "ta", "tb", sdp("bob", 1, {audio(b)}));
    auto all = calls.list();
    BOOST_REQUIRE(all.size() == 3u);
    BOOST_TEST(all[0].call_id == "c1");
    BOOST_TEST(all[1].call_id == "c2");
    BOOST_TEST(all[2].call_id == "c3");
    BOOST_TEST(all[1].answered);
    BOOST_TEST(!all[0].answered);
    BOOST_TEST(all[1].streams.size() == 1u);
    BOOST_TEST((all[1].created == t0));
    BOOST_TEST(calls.query("c9").error().code == "not_found");
}

BOOST_FIXTURE_TEST_CASE(two_thousand_calls_leave_nothing_behind, Fixture) {
    Phone a, b;
    Endpoint ma, mb;
    const std::string plain_o = sdp("alice", 1, {audio(a)});
    const std::string plain_a = sdp("bob", 1, {audio(b)});
    const std::string mux_o = sdp("alice", 1, {mux(ma)});
    const std::string mux_a = sdp("bob", 1, {mux(mb)});
    const size_t fds = open_fds();
    for (int i = 0; i < 2000; ++i) {
        const std::string id = "bulk-" + std::to_string(i);
        const bool m = i % 2 == 1;
        SdpOut o = offer(id, "ta", "", m ? mux_o : plain_o);
        SdpOut an = answer(id, "ta", "tb", m ? mux_a : plain_a);
        if (i % 250 == 0) // traffic on some, so closing meets a live stream
            through(m ? mb : b.rtp, relay_at(o, 0), m ? ma : a.rtp, relay_at(an, 0), rtp(1));
        BOOST_REQUIRE(calls.remove(id, CallEnd::deleted));
        if (i % 500 == 0) {
            Status st = pool.audit();
            BOOST_REQUIRE_MESSAGE(st.ok(), (st.ok() ? "" : st.error().message));
        }
    }
    BOOST_TEST(calls.size() == 0u);
    BOOST_TEST(calls.counters().created == 2000u);
    BOOST_TEST(calls.counters().deleted == 2000u);
    BOOST_TEST(calls.counters().failed.empty());
    PortCounters p = pool.counters();
    BOOST_TEST(p.in_use == 0u);
    BOOST_TEST(p.streams == 0u);
    BOOST_TEST(p.free_pairs == p.capacity_pairs);
    const RelayCounters& r = relay.counters();
    BOOST_TEST(r.sessions == 0u);
    BOOST_TEST(r.streams == 0u);
    BOOST_TEST(r.sockets == 0u);
    BOOST_TEST(r.sessions_opened == 2000u);
    BOOST_TEST(r.sessions_closed == 2000u);
    for (int i = 0; i < 5; ++i)
        event_base_loop(loop.base(), EVLOOP_NONBLOCK);
    BOOST_TEST(open_fds() == fds);
}

// A proxy in front of the relay sends our rewritten offer and answer on:
// they come back naming the call's own relay ports and pass unchanged.
BOOST_FIXTURE_TEST_CASE(our_own_sdp_coming_back_passes_unchanged, Fixture) {
    Phone a, b;
    SdpOut o = offer("own", "ta", "", sdp("alice", 1, {audio(a)}));
    const Held before = held();
    auto again = calls.offer("own", "ta", "", o.sdp);
    BOOST_REQUIRE(again.ok());
    BOOST_TEST(again->unchanged);
    BOOST_TEST(again->sdp == o.sdp);
    BOOST_TEST(held() == before);
    // The caller's side still expects the caller, not the relay.
    BOOST_TEST(side("own", 0, Leg::caller).expected.rtp.str() == a.rtp.address().str());

    SdpOut an = answer("own", "ta", "tb", sdp("bob", 3, {audio(b)}));
    auto back = calls.answer("own", "ta", "tb", an.sdp);
    BOOST_REQUIRE(back.ok());
    BOOST_TEST(back->unchanged);
    BOOST_TEST(back->answer);
    BOOST_TEST(side("own", 0, Leg::callee).expected.rtp.str() == b.rtp.address().str());
    through(a.rtp, relay_at(an, 0), b.rtp, relay_at(o, 0), rtp(1));
}

// exchange(): what a SIP-level client sends; `automatic` (SDP in a
// response) is the answer when the peer made the last offer, else an offer.
BOOST_FIXTURE_TEST_CASE(exchange_takes_responses_as_answers_or_late_offers, Fixture) {
    Phone a, b;
    auto o = calls.exchange("x1", "ta", "", sdp("alice", 1, {audio(a)}), Exchange::offer);
    BOOST_REQUIRE(o.ok());
    BOOST_TEST(!o->answer);
    // 183 then 200, both with the callee's SDP: both answers.
    for (int i = 0; i < 2; ++i) {
        auto r = calls.exchange("x1", "tb", "ta", sdp("bob", 1, {audio(b)}), Exchange::automatic);
        BOOST_REQUIRE(r.ok());
        BOOST_TEST(r->answer);
        BOOST_TEST(r->to == Leg::caller);
    }
    BOOST_TEST(info("x1").tags[1] == "tb");
    // A late offer: the 2xx to an INVITE without SDP (no call yet) offers,
    // and the ACK's SDP answers it.
    auto late = calls.exchange("x2", "tb", "ta", sdp("bob", 1, {audio(b)}), Exchange::automatic);
    BOOST_REQUIRE(late.ok());
    BOOST_TEST(!late->answer);
    BOOST_TEST(late->created);
    auto ack = calls.exchange("x2", "ta", "tb", sdp("alice", 1, {audio(a)}), Exchange::answer);
    BOOST_REQUIRE(ack.ok());
    BOOST_TEST(ack->answer);
    BOOST_TEST(ack->to == Leg::caller); // the late offerer is the "caller" side of this call
    BOOST_TEST(info("x2").answered);
}

// exchange() told where the dialog stands (sipfarmd: a 2xx to the INVITE or
// its ACK answers the call, a provisional response or PRACK does not).
// Found by the hostile-edge lab test: a stranger's INVITE without SDP whose
// callee answered 200 with a late offer, never ACKed, held its ports for
// unanswered_timeout (212 s), since no SDP answer ever came.
BOOST_FIXTURE_TEST_CASE(a_late_offer_never_acked_expires_fast, Fixture) {
    Phone a, b;
    auto late = calls.exchange("late", "tb", "ta", sdp("bob", 1, {audio(b)}), Exchange::automatic,
                               Dialog::answered);
    BOOST_REQUIRE(late.ok());
    BOOST_TEST(!late->answer);
    BOOST_TEST(info("late").answered);
    fake = t0 + 9s;
    BOOST_TEST(calls.expire(fake).empty());
    fake = t0 + 10s;
    BOOST_TEST((calls.expire(fake) == std::vector<std::string>{"late"}));
    BOOST_TEST(pool.counters().in_use == 0u);
    (void)a;
}

BOOST_FIXTURE_TEST_CASE(an_answer_in_early_media_keeps_the_call_ringing, Fixture) {
    // A 183 with the callee's SDP and no early media: the call rings on,
    // without a packet, until the 200 (the unanswered timeout, not the
    // unlatched one).
    Phone a, b;
    auto o = calls.exchange("early", "ta", "", sdp("alice", 1, {audio(a)}), Exchange::offer,
                            Dialog::early);
    BOOST_REQUIRE(o.ok());
    auto p = calls.exchange("early", "tb", "ta", sdp("bob", 1, {audio(b)}), Exchange::automatic,
                            Dialog::early);
    BOOST_REQUIRE(p.ok());
    BOOST_TEST(p->answer);
    BOOST_TEST(!info("early").answered);
    fake = t0 + 30s;
    BOOST_TEST(calls.expire(fake).empty());
    // The 200 answers the call: from then on it needs media within seconds.
    auto ok = calls.exchange("early", "tb", "ta", sdp("bob", 1, {audio(b)}), Exchange::automatic,
                             Dialog::answered);
    BOOST_REQUIRE(ok.ok());
    BOOST_TEST(info("early").answered);
    fake = t0 + 39s;
    BOOST_TEST(calls.expire(fake).empty());
    fake = t0 + 40s;
    BOOST_TEST((calls.expire(fake) == std::vector<std::string>{"early"}));
    // Without word on the dialog (offer and answer ops), an answer answers.
    offer("plain", "ta", "", sdp("alice", 1, {audio(a)}));
    answer("plain", "ta", "tb", sdp("bob", 1, {audio(b)}));
    BOOST_TEST(info("plain").answered);
}

BOOST_AUTO_TEST_CASE(call_ends_by_name_and_how_they_count) {
    BOOST_TEST(to_string(CallEnd::deleted) == "deleted");
    BOOST_TEST(to_string(CallEnd::timeout) == "timeout");
    BOOST_TEST(to_string(CallEnd::unlatched) == "unlatched");
    BOOST_TEST(to_string(CallEnd::shutdown) == "shutdown");
    for (const auto& e : CALL_ENDS)
        BOOST_TEST(e.expired == (e.end == CallEnd::timeout || e.end == CallEnd::unlatched), e.name);
}

BOOST_AUTO_TEST_SUITE_END()
