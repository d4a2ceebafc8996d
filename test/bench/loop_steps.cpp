// loop_steps: the worst single call of the steps sipfarmd's loop takes per
// packet or per tick on its tables, as they fill to their bounds
// (test/bench/README.md, "Stalls"). Not a test: it prints the figures.
//
//   make programs
//   g++ -O2 -std=c++20 -Ilibcommon -o build/loop_steps test/bench/loop_steps.cpp
//       build/lib/libcommon.a -lcrypto
//   build/loop_steps
//
// Each line: the step, how many calls, the worst one by this thread's CPU
// time (µs; preemption by other work on a shared machine does not count) and
// where, the worst by the wall clock, the mean. Not under chrt -f: a
// SCHED_FIFO busy loop is throttled for 50 ms a second.
#include "cluster/flood.hpp"
#include "cluster/handoff.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <time.h>

namespace {

using namespace rtfarm;
using Clock = std::chrono::steady_clock;

double thread_cpu_us() {
    timespec ts{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) / 1e3;
}

// The worst call by the CPU time of this thread (a preemption does not
// count; a page fault does) and by the wall clock.
struct Worst {
    const char* what;
    double worst_us = 0;
    size_t worst_at = 0;
    size_t size_then = 0;
    double worst_wall_us = 0;
    double total_us = 0;
    size_t calls = 0;

    template <class F> void time(size_t at, size_t size, F&& f) {
        auto w0 = Clock::now();
        double c0 = thread_cpu_us();
        f();
        double us = thread_cpu_us() - c0;
        double wall = std::chrono::duration<double, std::micro>(Clock::now() - w0).count();
        total_us += us;
        ++calls;
        worst_wall_us = std::max(worst_wall_us, wall);
        if (us > worst_us) {
            worst_us = us;
            worst_at = at;
            size_then = size;
        }
    }
    void print() const {
        std::printf("%-46s %7zu calls  worst CPU %8.1f µs (call %zu, %zu entries), wall %8.1f µs;"
                    " mean CPU %.3f µs\n",
                    what, calls, worst_us, worst_at, size_then, worst_wall_us,
                    calls ? total_us / static_cast<double>(calls) : 0.0);
    }
};

std::string call_id(size_t i) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%016llx-bench@127.0.0.1",
                  static_cast<unsigned long long>(i) * 0x9e3779b97f4a7c15ull);
    return buf;
}

// RecentCalls at its default bound: a call's INVITE (seen), its 180 (ringing),
// 5000 calls/s of fake time: past the bound, and past the grace (note()
// expires as it goes); then everything due at once.
void recent_calls() {
    cluster::RecentCalls recent;
    constexpr size_t CALLS = (1u << 20) + (1u << 18);
    const auto t0 = Clock::now();
    Worst seen{"RecentCalls::note, seen (to the bound + 1/4)"};
    Worst ringing{"RecentCalls::note, ringing"};
    Worst knows{"RecentCalls::knows"};
    for (size_t i = 0; i < CALLS; ++i) {
        auto now = t0 + std::chrono::microseconds(200 * i);
        std::string id = call_id(i);
        knows.time(i, recent.size(), [&] { (void)recent.knows(id, now); });
        seen.time(i, recent.size(), [&] { recent.note(id, now); });
        ringing.time(i, recent.size(),
                     [&] { recent.note(id, now, cluster::RecentCalls::Tier::ringing); });
    }
    Worst expire{"RecentCalls::expire, all due"};
    auto later = t0 + std::chrono::microseconds(200 * CALLS) + cluster::HANDOFF_GRACE;
    for (size_t i = 0; recent.size() > 0 && i < 100000; ++i)
        expire.time(i, recent.size(), [&] { recent.expire(later); });
    for (const Worst* w : {&knows, &seen, &ringing, &expire})
        w->print();
}

// FloodGuard with a limit: a flood from more addresses than it counts, then
// the heartbeat's report of the busiest.
void flood() {
    cluster::FloodGuard guard;
    guard.configure({1000, std::chrono::seconds(10)});
    constexpr size_t SOURCES = 4 * cluster::FloodGuard::MAX_SOURCES;
    const auto t0 = Clock::now();
    Worst admit{"FloodGuard::admit (4 x MAX_SOURCES addresses)"};
    Worst report{"FloodGuard::report (every 1000th admit)"};
    for (size_t i = 0; i < SOURCES; ++i) {
        auto now = t0 + std::chrono::microseconds(20 * i);
        std::string src = "10." + std::to_string(i >> 16 & 255) + "." +
                          std::to_string(i >> 8 & 255) + "." + std::to_string(i & 255);
        admit.time(i, guard.sources(), [&] { (void)guard.admit(src, now); });
        if (i % 1000 == 999)
            report.time(i, guard.sources(), [&] { (void)guard.report(now); });
    }
    admit.print();
    report.print();
}

} // namespace

int main() {
    recent_calls();
    flood();
    return 0;
}
