// RAII over libevent: one Loop (event_base) per thread, and the events that
// belong to it: fd readiness, timers and signals, each owning its `struct
// event`. Callbacks are std::function run through noexcept trampolines that
// catch and log anything thrown: no exception crosses into libevent.
// An event object must not be destroyed from its own callback (the
// trampoline still uses it): close from the callback, free with Loop::defer.
// This module knows nothing of sockets or protocols.
#pragma once

#include <event2/event.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

namespace rtfarm::ev {

struct EventBaseFree {
    void operator()(event_base* b) const { event_base_free(b); }
};
struct EventFree {
    void operator()(event* e) const { event_free(e); }
};
using EventBasePtr = std::unique_ptr<event_base, EventBaseFree>;
using EventPtr = std::unique_ptr<event, EventFree>;

// Routes libevent's own warnings into our log (sub=event). Call once in main().
void init_logging();

class Loop {
public:
    Loop();
    Loop(const Loop&) = delete;
    Loop& operator=(const Loop&) = delete;

    event_base* base() const { return m_base.get(); }
    // Runs until stop() or until no event is left. Returns false on a libevent error.
    bool run();
    void stop();
    // Runs `fn` from the loop after the current callback returns: the place to
    // free an object whose own callback decided to close it.
    void defer(std::function<void()> fn);

private:
    static void on_deferred(evutil_socket_t, short, void* arg) noexcept;
    EventBasePtr m_base;
    EventPtr m_defer_event;
    std::vector<std::function<void()>> m_deferred;
};

// Readiness of one fd (EV_READ and/or EV_WRITE, persistent by default).
class FdEvent {
public:
    using Callback = std::function<void(short what)>;
    FdEvent(Loop& loop, int fd, short what, Callback cb);
    FdEvent(const FdEvent&) = delete;
    FdEvent& operator=(const FdEvent&) = delete;
    void enable();
    void disable();

private:
    static void trampoline(evutil_socket_t, short what, void* arg) noexcept;
    Callback m_cb;
    EventPtr m_ev;
};

class Timer {
public:
    using Callback = std::function<void()>;
    Timer(Loop& loop, Callback cb);
    Timer(const Timer&) = delete;
    Timer& operator=(const Timer&) = delete;
    void start(std::chrono::milliseconds after);
    void stop();
    bool pending() const;

private:
    static void trampoline(evutil_socket_t, short, void* arg) noexcept;
    Callback m_cb;
    EventPtr m_ev;
};

// Periodic timer: fires every `period` until destroyed or stopped.
class Ticker {
public:
    using Callback = std::function<void()>;
    Ticker(Loop& loop, std::chrono::milliseconds period, Callback cb);
    Ticker(const Ticker&) = delete;
    Ticker& operator=(const Ticker&) = delete;
    void stop();

private:
    static void trampoline(evutil_socket_t, short, void* arg) noexcept;
    Callback m_cb;
    EventPtr m_ev;
};

// A signal delivered as an event on the loop (no work in signal context).
class SignalEvent {
public:
    using Callback = std::function<void()>;
    SignalEvent(Loop& loop, int signo, Callback cb);
    SignalEvent(const SignalEvent&) = delete;
    SignalEvent& operator=(const SignalEvent&) = delete;

private:
    static void trampoline(evutil_socket_t, short, void* arg) noexcept;
    Callback m_cb;
    EventPtr m_ev;
};

// Calls fn, catching and logging any exception (sub=event, with `where`),
// and times it for callback_stats().
void guarded(const char* where, const std::function<void()>& fn) noexcept;

// This thread's loop callbacks that ran SLOW_CALLBACK or longer by the wall
// clock (preempted or busy: either way every event behind one waited), and
// the longest (test/bench/README.md, "Stalls"). Two clock reads a callback.
constexpr std::chrono::milliseconds SLOW_CALLBACK{1};
struct CallbackStats {
    uint64_t slow = 0;
    std::chrono::microseconds longest{0};
};
const CallbackStats& callback_stats();

} // namespace rtfarm::ev
