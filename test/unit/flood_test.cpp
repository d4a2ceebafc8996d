// Farm-wide flood protection (cluster/flood.hpp) with a fake clock: three
// members that each see a third of one source's flood block it together.
#include "cluster/flood.hpp"

#include <boost/test/unit_test.hpp>

#include <string>

using namespace rtfarm::cluster;
using namespace std::chrono_literals;

namespace {

const FloodGuard::Clock::time_point T0{std::chrono::hours(1000)};

struct Farm {
    FloodGuard m[3];
    explicit Farm(unsigned limit) {
        for (auto& g : m)
            g.configure({limit, 10s});
    }
    // Every member tells the others its report (a heartbeat round).
    void heartbeats(FloodGuard::Clock::time_point now) {
        for (int i = 0; i < 3; ++i) {
            FloodReport r = m[i].report(now);
            for (int j = 0; j < 3; ++j)
                if (j != i)
                    m[j].on_report("f" + std::to_string(i + 1), r, now);
        }
    }
};

} // namespace

BOOST_AUTO_TEST_SUITE(flood)

BOOST_AUTO_TEST_CASE(off_by_default) {
    FloodGuard g;
    for (int i = 0; i < 10000; ++i)
        BOOST_TEST(g.admit("198.51.100.66", T0));
    BOOST_TEST(g.sources() == 0u);
    BOOST_TEST(g.report(T0).empty());
}

// 150 new requests a second from one source, sprayed over three members:
// 50 each, under a limit of 100 on any one member (what pike would see),
// over it for the farm. Blocked on every member within a second.
BOOST_AUTO_TEST_CASE(a_sprayed_flood_is_blocked_on_every_member) {
    Farm f(100);
    std::string flooder = "198.51.100.66", caller = "198.51.100.10";
    int admitted_after_1s = 0;
    // Two seconds: a request every 6.7 ms, round robin; heartbeats every 200 ms.
    for (int k = 0; k < 300; ++k) {
        auto now = T0 + std::chrono::microseconds(k * 6667);
        if (k % 30 == 0)
            f.heartbeats(now);
        bool ok = f.m[k % 3].admit(flooder, now);
        if (now >= T0 + 1s && ok)
            ++admitted_after_1s;
        // A caller at 5/s passes all along.
        if (k % 60 == 0)
            BOOST_TEST(f.m[(k / 60) % 3].admit(caller, now));
    }
    BOOST_TEST(admitted_after_1s == 0);
    auto t = T0 + 2s;
    for (auto& g : f.m) {
        BOOST_TEST(g.blocked(flooder, t));
        BOOST_TEST(!g.blocked(caller, t));
        BOOST_TEST(g.dropped() > 0u);
    }
    // Without the reports, no member alone would have blocked it.
    FloodGuard alone;
    alone.configure({100, 10s});
    bool ever_blocked = false;
    for (int k = 0; k < 100; ++k)
        ever_blocked |= !alone.admit(flooder, T0 + std::chrono::microseconds(k * 20000));
    BOOST_TEST(!ever_blocked);
}

BOOST_AUTO_TEST_CASE(released_after_a_quiet_period) {
    FloodGuard g;
    g.configure({10, 10s});
    for (int k = 0; k < 50; ++k)
        g.admit("198.51.100.66", T0 + std::chrono::milliseconds(k * 10));
    BOOST_TEST(g.blocked("198.51.100.66", T0 + 1s));
    BOOST_TEST(g.blocked_sources(T0 + 1s) == 1u);
    // Quiet: released once the quiet period has passed.
    BOOST_TEST(g.blocked("198.51.100.66", T0 + 9s));
    BOOST_TEST(!g.blocked("198.51.100.66", T0 + 11s));
    BOOST_TEST(g.admit("198.51.100.66", T0 + 11s));
}

BOOST_AUTO_TEST_CASE(reports_are_bounded_and_go_stale) {
    FloodGuard g;
    g.configure({100, 10s});
    for (int a = 0; a < 100; ++a)
        for (int k = 0; k < 20; ++k)
            g.admit("192.0.2." + std::to_string(a), T0 + std::chrono::milliseconds(k));
    FloodReport r = g.report(T0 + 10ms);
    BOOST_TEST(r.size() == FloodGuard::MAX_REPORTED);
    // A peer's report of 150 from one source blocks it here too, while fresh.
    FloodGuard h;
    h.configure({100, 10s});
    h.on_report("f2", {{"198.51.100.66", 150}}, T0);
    BOOST_TEST(h.blocked("198.51.100.66", T0 + 100ms));
    BOOST_TEST(!h.admit("198.51.100.66", T0 + 100ms));
    // A stale report counts no more (the block itself lasts the quiet period).
    FloodGuard k;
    k.configure({100, 10s});
    k.on_report("f2", {{"198.51.100.66", 150}}, T0);
    BOOST_TEST(!k.blocked("198.51.100.66", T0 + 2s));
}

BOOST_AUTO_TEST_CASE(the_table_of_sources_is_bounded) {
    FloodGuard g;
    g.configure({1000, 10s});
    for (size_t a = 0; a < FloodGuard::MAX_SOURCES + 100; ++a)
        g.admit("s" + std::to_string(a), T0);
    BOOST_TEST(g.sources() == FloodGuard::MAX_SOURCES);
    BOOST_TEST(g.untracked() == 100u);
    // Idle ones make room later.
    BOOST_TEST(g.admit("new", T0 + 5s));
    BOOST_TEST(g.sources() == 1u);
}

BOOST_AUTO_TEST_SUITE_END()
