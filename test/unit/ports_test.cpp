// media/ports: PortPool allocation until exhaustion over ranges with odd
// bounds, the order ports come back in (freed longest ago first), refused
// releases, random churn against the pool's own audit, and the capacity
// figures rtfarm.conf(5) and `cgclusterctl check` state.
#include "cluster/check.hpp"
#include "media/ports.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <ostream>
#include <random>
#include <set>
#include <vector>

using namespace rtfarm;
using namespace rtfarm::media;

namespace rtfarm::media {
// How a failed check prints the ports: "10000/10001" or "10000".
inline std::ostream& boost_test_print_type(std::ostream& os, const StreamPorts& p) {
    os << p.rtp;
    if (!p.mux())
        os << "/" << p.rtcp;
    return os;
}
} // namespace rtfarm::media

namespace {

StreamPorts take(PortPool& pool, Rtcp rtcp) {
    auto p = pool.allocate(rtcp);
    BOOST_REQUIRE_MESSAGE(p.ok(), (p.ok() ? "" : p.error().message));
    return *p;
}

void give(PortPool& pool, StreamPorts p) {
    Status s = pool.release(p);
    BOOST_REQUIRE_MESSAGE(s.ok(), (s.ok() ? "" : s.error().message));
}

void require_audit(const PortPool& pool) {
    Status s = pool.audit();
    BOOST_REQUIRE_MESSAGE(s.ok(), (s.ok() ? "" : s.error().message));
}

// Allocates until refused; returns what it got.
std::vector<StreamPorts> drain(PortPool& pool, Rtcp rtcp) {
    std::vector<StreamPorts> got;
    for (;;) {
        auto p = pool.allocate(rtcp);
        if (!p) {
            BOOST_TEST(p.error().code == "ports_exhausted");
            return got;
        }
        got.push_back(*p);
    }
}

StreamPorts pair(uint16_t rtp) {
    return {rtp, static_cast<uint16_t>(rtp + 1)};
}
StreamPorts single(uint16_t port) {
    return {port, 0};
}

} // namespace

BOOST_AUTO_TEST_SUITE(port_pool)

BOOST_AUTO_TEST_CASE(even_range_pairs_in_order_until_exhausted) {
    PortPool pool({10000, 10007});
    BOOST_TEST(pool.counters().capacity_pairs == 4u);
    BOOST_TEST(pool.counters().capacity_ports == 8u);
    auto got = drain(pool, Rtcp::separate);
    BOOST_TEST(
        (got == std::vector<StreamPorts>{pair(10000), pair(10002), pair(10004), pair(10006)}));
    auto refused = pool.allocate(Rtcp::separate);
    BOOST_REQUIRE(!refused);
    BOOST_TEST(refused.error().message ==
               "media port range 10000-10007 has no free RTP/RTCP port pair (8 of 8 ports in use)");
    BOOST_TEST(!pool.allocate(Rtcp::mux));
    PortCounters c = pool.counters();
    BOOST_TEST(c.in_use == 8u);
    BOOST_TEST(c.free == 0u);
    BOOST_TEST(c.streams == 4u);
    BOOST_TEST(c.high_water == 8u);
    BOOST_TEST(c.exhausted == 3u); // drain's refusal and the two above
    require_audit(pool);
}

BOOST_AUTO_TEST_CASE(odd_first_port_is_a_single_only) {
    // 10001 and 10006 have no partner in the range: pairs 10002/3, 10004/5.
    PortPool pool({10001, 10006});
    BOOST_TEST(pool.counters().capacity_pairs == 2u);
    BOOST_TEST(pool.counters().capacity_ports == 6u);
    auto pairs = drain(pool, Rtcp::separate);
    BOOST_TEST((pairs == std::vector<StreamPorts>{pair(10002), pair(10004)}));
    auto refused = pool.allocate(Rtcp::separate);
    BOOST_REQUIRE(!refused);
    BOOST_TEST(refused.error().message ==
               "media port range 10001-10006 has no free RTP/RTCP port pair (4 of 6 ports in use; "
               "the 2 free ports are not even/odd pairs)");
    auto singles = drain(pool, Rtcp::mux);
    BOOST_TEST((singles == std::vector<StreamPorts>{single(10001), single(10006)}));
    BOOST_TEST(pool.counters().in_use == 6u);
    require_audit(pool);
}

BOOST_AUTO_TEST_CASE(one_port_range) {
    PortPool pool({20000, 20000});
    BOOST_TEST(pool.counters().capacity_pairs == 0u);
    BOOST_TEST(pool.counters().capacity_ports == 1u);
    BOOST_TEST(!pool.allocate(Rtcp::separate));
    BOOST_TEST(take(pool, Rtcp::mux) == single(20000));
    BOOST_TEST(!pool.allocate(Rtcp::mux));
    give(pool, single(20000));
    BOOST_TEST(take(pool, Rtcp::mux) == single(20000));
    require_audit(pool);
}

BOOST_AUTO_TEST_CASE(two_port_ranges) {
    PortPool even({20000, 20001});
    BOOST_TEST(even.counters().capacity_pairs == 1u);
    BOOST_TEST(take(even, Rtcp::separate) == pair(20000));
    BOOST_TEST(!even.allocate(Rtcp::separate));
    BOOST_TEST(!even.allocate(Rtcp::mux));

    // 20001/20002 straddle two pairs: two singles, no pair.
    PortPool odd({20001, 20002});
    BOOST_TEST(odd.counters().capacity_pairs == 0u);
    BOOST_TEST(odd.counters().capacity_ports == 2u);
    BOOST_TEST(!odd.allocate(Rtcp::separate));
    BOOST_TEST((drain(odd, Rtcp::mux) == std::vector<StreamPorts>{single(20001), single(20002)}));
    require_audit(even);
    require_audit(odd);
}

BOOST_AUTO_TEST_CASE(range_edges) {
    // The top port pairs with 65534; port 0 is never handed out.
    PortPool top({65534, 65535});
    BOOST_TEST(take(top, Rtcp::separate) == pair(65534));
    PortPool last({65535, 65535});
    BOOST_TEST(!last.allocate(Rtcp::separate));
    BOOST_TEST(take(last, Rtcp::mux) == single(65535));
    PortPool zero({0, 3});
    BOOST_TEST(zero.counters().capacity_ports == 3u);
    BOOST_TEST(zero.counters().capacity_pairs == 1u);
    BOOST_TEST(
        (drain(zero, Rtcp::mux) == std::vector<StreamPorts>{single(1), single(2), single(3)}));
    PortPool empty({20000, 10000});
    BOOST_TEST(empty.counters().capacity_ports == 0u);
    BOOST_TEST(!empty.allocate(Rtcp::mux));
    BOOST_TEST(!empty.allocated(20000));
    require_audit(zero);
    require_audit(empty);
}

BOOST_AUTO_TEST_CASE(reuse_takes_the_port_freed_longest_ago) {
    PortPool pool({10000, 10007});
    StreamPorts a = take(pool, Rtcp::separate); // 10000
    give(pool, a);
    // The just-freed pair goes to the back.
    BOOST_TEST(take(pool, Rtcp::separate) == pair(10002));
    BOOST_TEST(take(pool, Rtcp::separate) == pair(10004));
    BOOST_TEST(take(pool, Rtcp::separate) == pair(10006));
    give(pool, pair(10004));
    give(pool, pair(10002));
    BOOST_TEST(take(pool, Rtcp::separate) == pair(10000));
    BOOST_TEST(take(pool, Rtcp::separate) == pair(10004));
    BOOST_TEST(take(pool, Rtcp::separate) == pair(10002));
    require_audit(pool);
}

BOOST_AUTO_TEST_CASE(singles_fill_half_pairs_before_breaking_whole_ones) {
    PortPool pool({10000, 10007});
    BOOST_TEST(take(pool, Rtcp::mux) == single(10000)); // breaks 10000/1
    BOOST_TEST(take(pool, Rtcp::mux) == single(10001)); // its other half
    BOOST_TEST(take(pool, Rtcp::separate) == pair(10002));
    BOOST_TEST(pool.counters().free_pairs == 2u);
    // Freeing one half leaves a single; freeing both makes the pair whole,
    // at the back of the pairs.
    give(pool, single(10000));
    BOOST_TEST(pool.counters().free_pairs == 2u);
    give(pool, single(10001));
    BOOST_TEST(pool.counters().free_pairs == 3u);
    BOOST_TEST(take(pool, Rtcp::separate) == pair(10004));
    BOOST_TEST(take(pool, Rtcp::separate) == pair(10006));
    BOOST_TEST(take(pool, Rtcp::separate) == pair(10000));
    require_audit(pool);
}

BOOST_AUTO_TEST_CASE(refused_releases_leave_the_pool_unchanged) {
    PortPool pool({10000, 10007});
    StreamPorts p = take(pool, Rtcp::separate); // 10000/10001
    StreamPorts s = take(pool, Rtcp::mux);      // 10002
    PortCounters before = pool.counters();

    Status foreign = pool.release(pair(20000));
    BOOST_REQUIRE(!foreign);
    BOOST_TEST(foreign.error().code == "foreign_port");
    BOOST_TEST(foreign.error().message ==
               "cannot release ports 20000/20001: not in media range 10000-10007");
    BOOST_TEST(pool.release(pair(10007)).error().code == "foreign_port"); // RTCP 10008 outside
    BOOST_TEST(pool.release(single(0)).error().code == "foreign_port");

    Status never = pool.release(pair(10004));
    BOOST_TEST(never.error().code == "not_allocated");
    BOOST_TEST(never.error().message ==
               "cannot release ports 10004/10005 in media range 10000-10007: port 10004 is free");
    // The wrong shape, the RTCP half, a bad RTCP port.
    BOOST_TEST(pool.release(single(10000)).error().message ==
               "cannot release port 10000 in media range 10000-10007: port 10000 is the RTP port "
               "of pair 10000/10001");
    BOOST_TEST(pool.release(single(10001)).error().message ==
               "cannot release port 10001 in media range 10000-10007: port 10001 is the RTCP port "
               "of pair 10000/10001");
    BOOST_TEST(pool.release(pair(10002)).error().message ==
               "cannot release ports 10002/10003 in media range 10000-10007: port 10002 is a "
               "single (rtcp-mux) port");
    BOOST_TEST(pool.release(StreamPorts{10000, 10003}).error().code == "not_allocated");
    BOOST_TEST((pool.counters() == before));
    require_audit(pool);

    give(pool, p);
    give(pool, s);
    BOOST_TEST(pool.release(p).error().code == "not_allocated"); // double free
    BOOST_TEST(pool.release(s).error().code == "not_allocated");
    BOOST_TEST(pool.counters().in_use == 0u);
    BOOST_TEST(pool.counters().free_pairs == 4u);
    require_audit(pool);
}

// An answerer that agreed to rtcp-mux keeps its RTP port; the RTCP half
// goes back and comes out as a single, and the pair is whole again once
// the RTP port is released too.
BOOST_AUTO_TEST_CASE(shrink_to_mux_gives_back_the_rtcp_half) {
    PortPool pool({10000, 10007});
    StreamPorts p = take(pool, Rtcp::separate); // 10000/10001
    StreamPorts q = take(pool, Rtcp::separate); // 10002/10003
    auto shrunk = pool.shrink_to_mux(p);
    BOOST_REQUIRE_MESSAGE(shrunk.ok(), (shrunk.ok() ? "" : shrunk.error().message));
    BOOST_TEST(*shrunk == single(10000));
    PortCounters c = pool.counters();
    BOOST_TEST(c.in_use == 3u);
    BOOST_TEST(c.free == 5u);
    BOOST_TEST(c.streams == 2u);
    BOOST_TEST(c.free_pairs == 2u);
    BOOST_TEST(c.high_water == 4u);
    BOOST_TEST(pool.allocated(10000));
    BOOST_TEST(!pool.allocated(10001));
    require_audit(pool);
    // It is released as what it is now: a single port.
    BOOST_TEST(pool.release(p).error().code == "not_allocated");
    // The free half is the first single handed out.
    BOOST_TEST(take(pool, Rtcp::mux) == single(10001));
    give(pool, single(10001));
    give(pool, *shrunk);
    c = pool.counters();
    BOOST_TEST(c.in_use == 2u);
    BOOST_TEST(c.streams == 1u);
    BOOST_TEST(c.free_pairs == 3u); // 10000/10001 whole again
    require_audit(pool);
    give(pool, q);
    BOOST_TEST(pool.counters().free_pairs == 4u);
    // Whole pairs come back in the order they were freed.
    BOOST_TEST((drain(pool, Rtcp::separate) ==
                std::vector<StreamPorts>{pair(10004), pair(10006), pair(10000), pair(10002)}));
    require_audit(pool);
}

BOOST_AUTO_TEST_CASE(shrink_to_mux_released_first_half_then_rtp) {
    // The RTP port goes back while its RTCP half is still a single elsewhere.
    PortPool pool({10000, 10003});
    StreamPorts p = take(pool, Rtcp::separate); // 10000/10001
    BOOST_TEST(*pool.shrink_to_mux(p) == single(10000));
    BOOST_TEST(take(pool, Rtcp::mux) == single(10001));
    give(pool, single(10000));
    BOOST_TEST(pool.counters().free_pairs == 1u); // only 10002/10003
    require_audit(pool);
    give(pool, single(10001));
    BOOST_TEST(pool.counters().free_pairs == 2u);
    BOOST_TEST(pool.counters().in_use == 0u);
    require_audit(pool);
}

BOOST_AUTO_TEST_CASE(shrink_to_mux_refuses_what_is_not_an_allocated_pair) {
    PortPool pool({10000, 10007});
    StreamPorts p = take(pool, Rtcp::separate); // 10000/10001
    StreamPorts s = take(pool, Rtcp::mux);      // 10002
    const PortCounters before = pool.counters();
    auto code = [&](StreamPorts x) {
        auto r = pool.shrink_to_mux(x);
        BOOST_REQUIRE(!r.ok());
        return r.error().code;
    };
    BOOST_TEST(code(pair(20000)) == "foreign_port");
    BOOST_TEST(code(pair(10007)) == "foreign_port");  // RTCP 10008 outside
    BOOST_TEST(code(pair(10004)) == "not_allocated"); // free
    BOOST_TEST(code(StreamPorts{10000, 10003}) == "not_allocated");
    BOOST_TEST(code(single(10000)) == "not_allocated"); // a pair given as a single
    BOOST_TEST(code(s) == "not_allocated");             // a single: nothing to shrink
    BOOST_TEST(code(single(20000)) == "foreign_port");
    BOOST_TEST(pool.shrink_to_mux(s).error().message ==
               "cannot shrink port 10002 in media range 10000-10007: only an RTP/RTCP port pair "
               "shrinks");
    BOOST_TEST(pool.shrink_to_mux(pair(20000)).error().message ==
               "cannot shrink ports 20000/20001: not in media range 10000-10007");
    BOOST_TEST(pool.shrink_to_mux(pair(10004)).error().message ==
               "cannot shrink ports 10004/10005 in media range 10000-10007: port 10004 is free");
    BOOST_TEST((pool.counters() == before));
    require_audit(pool);
    // Shrunk once: a second time is refused, the pool unchanged.
    BOOST_REQUIRE(pool.shrink_to_mux(p).ok());
    const PortCounters after = pool.counters();
    BOOST_TEST(code(p) == "not_allocated");
    BOOST_TEST((pool.counters() == after));
    require_audit(pool);
}

BOOST_AUTO_TEST_CASE(churn_keeps_invariants_and_leaks_nothing) {
    // A small range with odd bounds, so exhaustion and half-used pairs are
    // frequent; a fixed seed, so a failure replays.
    PortPool pool({10001, 10098});
    std::mt19937 rng(4475);
    std::vector<StreamPorts> live;
    std::set<uint16_t> used;
    size_t refused = 0;
    size_t most = 0;
    for (int step = 0; step < 100000; ++step) {
        unsigned dice = rng() % 10;
        if (dice < 5 || live.empty()) {
            Rtcp rtcp = dice % 2 ? Rtcp::mux : Rtcp::separate;
            auto p = pool.allocate(rtcp);
            if (!p) {
                BOOST_REQUIRE(p.error().code == "ports_exhausted");
                ++refused;
            } else {
                BOOST_REQUIRE(used.insert(p->rtp).second);
                if (!p->mux()) {
                    BOOST_REQUIRE(p->rtp % 2 == 0);
                    BOOST_REQUIRE(p->rtcp == p->rtp + 1);
                    BOOST_REQUIRE(used.insert(p->rtcp).second);
                }
                BOOST_REQUIRE(pool.range().contains(p->rtp));
                BOOST_REQUIRE(p->mux() || pool.range().contains(p->rtcp));
                BOOST_REQUIRE(p->mux() == (rtcp == Rtcp::mux));
                live.push_back(*p);
                most = std::max(most, used.size());
            }
        } else {
            size_t k = rng() % live.size();
            StreamPorts p = live[k];
            live[k] = live.back();
            live.pop_back();
            give(pool, p);
            used.erase(p.rtp);
            if (!p.mux())
                used.erase(p.rtcp);
        }
        PortCounters c = pool.counters();
        BOOST_REQUIRE_EQUAL(c.in_use, used.size());
        BOOST_REQUIRE_EQUAL(c.streams, live.size());
        BOOST_REQUIRE_EQUAL(c.in_use + c.free, c.capacity_ports);
        if (step % 97 == 0)
            require_audit(pool);
    }
    BOOST_TEST(refused > 0u); // the range did fill up
    BOOST_TEST(pool.counters().exhausted == refused);
    for (StreamPorts p : live)
        give(pool, p);
    PortCounters c = pool.counters();
    BOOST_TEST(c.in_use == 0u);
    BOOST_TEST(c.streams == 0u);
    BOOST_TEST(c.free == c.capacity_ports);
    BOOST_TEST(c.free_pairs == c.capacity_pairs); // every pair whole again
    BOOST_TEST(c.high_water == most);
    require_audit(pool);
}

BOOST_AUTO_TEST_CASE(large_range_fills_and_empties) {
    // 64000 ports, the most a single-IP cluster has.
    PortPool pool({1536, 65535});
    BOOST_TEST(pool.counters().capacity_pairs == 32000u);
    auto got = drain(pool, Rtcp::separate);
    BOOST_TEST(got.size() == 32000u);
    BOOST_TEST(got.front() == pair(1536));
    BOOST_TEST(got.back() == pair(65534));
    require_audit(pool);
    for (StreamPorts p : got)
        give(pool, p);
    BOOST_TEST(pool.counters().free_pairs == 32000u);
    // Next in line: the pair freed first.
    BOOST_TEST(take(pool, Rtcp::separate) == pair(1536));
    require_audit(pool);
}

// A call's audio takes a port pair on each side (caller and callee)
// or one port per side with rtcp-mux; `cgclusterctl check` counts stream sides
// ("audio streams" = pairs). A 10000-port range: 5000 pairs, so 2500 audio
// calls, or 5000 with rtcp-mux; a 64000-port range: 32000 audio streams,
// 16000 audio+video.
BOOST_AUTO_TEST_CASE(capacity_matches_design) {
    auto calls = [](PortRange range, Rtcp rtcp, int streams_per_side) {
        PortPool pool(range);
        size_t n = 0;
        for (;;) {
            for (int i = 0; i < 2 * streams_per_side; ++i)
                if (!pool.allocate(rtcp))
                    return n;
            ++n;
        }
    };
    BOOST_TEST(calls({10000, 19999}, Rtcp::separate, 1) == 2500u);
    BOOST_TEST(calls({10000, 19999}, Rtcp::mux, 1) == 5000u);
    BOOST_TEST(calls({10000, 19999}, Rtcp::separate, 2) == 1250u);

    PortPool ten({10000, 19999});
    cluster::Capacity cap = cluster::Capacity::of_ports(ten.range().count());
    BOOST_TEST(ten.counters().capacity_pairs == cap.audio_streams);
    BOOST_TEST(ten.counters().capacity_pairs / 2 == cap.av_sessions);

    PortPool big({1536, 65535});
    BOOST_TEST(big.counters().capacity_pairs == 32000u);     // audio streams
    BOOST_TEST(big.counters().capacity_pairs / 2 == 16000u); // audio+video streams
}

BOOST_AUTO_TEST_SUITE_END()
