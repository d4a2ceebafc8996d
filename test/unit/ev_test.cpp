#include "base/log.hpp"
#include "ev/loop.hpp"

#include <boost/test/unit_test.hpp>

#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace rtfarm;
using namespace std::chrono_literals;

BOOST_AUTO_TEST_SUITE(event_loop)

BOOST_AUTO_TEST_CASE(timer_fires_once_and_can_be_stopped) {
    ev::Loop loop;
    int fired = 0, never = 0;
    ev::Timer t(loop, [&] { ++fired; });
    ev::Timer s(loop, [&] { ++never; });
    t.start(1ms);
    s.start(2ms);
    BOOST_TEST(s.pending());
    s.stop();
    BOOST_TEST(!s.pending());
    BOOST_TEST(loop.run());
    BOOST_TEST(fired == 1);
    BOOST_TEST(never == 0);
}

// A callback that holds the loop SLOW_CALLBACK or longer is counted, and the
// longest is kept (every daemon's stats "loop").
BOOST_AUTO_TEST_CASE(slow_callbacks_are_counted) {
    ev::Loop loop;
    const ev::CallbackStats before = ev::callback_stats();
    ev::Timer t(loop, [] { std::this_thread::sleep_for(ev::SLOW_CALLBACK * 3); });
    t.start(1ms);
    BOOST_TEST(loop.run());
    BOOST_TEST(ev::callback_stats().slow == before.slow + 1);
    BOOST_TEST(ev::callback_stats().longest >= ev::SLOW_CALLBACK * 3);
}

BOOST_AUTO_TEST_CASE(ticker_repeats_until_stopped) {
    ev::Loop loop;
    int ticks = 0;
    std::unique_ptr<ev::Ticker> ticker;
    ticker = std::make_unique<ev::Ticker>(loop, 1ms, [&] {
        if (++ticks == 3)
            ticker->stop();
    });
    BOOST_TEST(loop.run());
    BOOST_TEST(ticks == 3);
}

BOOST_AUTO_TEST_CASE(fd_event_sees_readable_socket) {
    int sv[2];
    BOOST_REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    ev::Loop loop;
    std::string got;
    ev::FdEvent e(loop, sv[0], EV_READ | EV_PERSIST, [&](short what) {
        BOOST_TEST((what & EV_READ) != 0);
        char buf[16];
        ssize_t n = ::read(sv[0], buf, sizeof buf);
        got.append(buf, static_cast<size_t>(n));
        loop.stop();
    });
    e.enable();
    BOOST_REQUIRE(::write(sv[1], "hi", 2) == 2);
    BOOST_TEST(loop.run());
    BOOST_TEST(got == "hi");
    e.disable();
    ::close(sv[0]);
    ::close(sv[1]);
}

BOOST_AUTO_TEST_CASE(deferred_work_runs_after_the_callback) {
    ev::Loop loop;
    std::vector<std::string> order;
    ev::Timer t(loop, [&] {
        loop.defer([&] { order.push_back("deferred"); });
        order.push_back("callback");
    });
    t.start(0ms);
    BOOST_TEST(loop.run());
    BOOST_REQUIRE(order.size() == 2u);
    BOOST_TEST(order[0] == "callback");
    BOOST_TEST(order[1] == "deferred");
}

BOOST_AUTO_TEST_CASE(signal_arrives_as_an_event) {
    ev::Loop loop;
    int got = 0;
    ev::SignalEvent s(loop, SIGUSR1, [&] {
        ++got;
        loop.stop();
    });
    ev::Timer t(loop, [] { ::raise(SIGUSR1); });
    t.start(0ms);
    BOOST_TEST(loop.run());
    BOOST_TEST(got == 1);
}

BOOST_AUTO_TEST_CASE(exception_in_a_callback_is_logged_not_propagated) {
    std::vector<std::string> lines;
    log::set_sink([&](std::string_view l) { lines.emplace_back(l); });
    ev::Loop loop;
    int after = 0;
    ev::Timer bad(loop, [] { throw std::runtime_error("boom"); });
    ev::Timer good(loop, [&] { ++after; });
    bad.start(0ms);
    good.start(1ms);
    BOOST_TEST(loop.run());
    log::reset_sink();
    BOOST_TEST(after == 1);
    BOOST_REQUIRE(!lines.empty());
    BOOST_TEST(lines[0].find("err=boom") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
