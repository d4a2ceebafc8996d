#include "ev/loop.hpp"

#include "base/assert.hpp"
#include "base/log.hpp"

#include <algorithm>
#include <exception>

namespace rtfarm::ev {
namespace {

timeval to_timeval(std::chrono::milliseconds ms) {
    timeval tv;
    tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
    return tv;
}

void libevent_log(int severity, const char* msg) {
    auto level = severity >= EVENT_LOG_ERR    ? log::Level::error
                 : severity >= EVENT_LOG_WARN ? log::Level::warn
                                              : log::Level::debug;
    if (log::enabled(level, "event"))
        log::emit(level, "event", "libevent", {{"detail", msg}});
}

thread_local CallbackStats t_callbacks;

} // namespace

const CallbackStats& callback_stats() {
    return t_callbacks;
}

void init_logging() {
    event_set_log_callback(libevent_log);
}

void guarded(const char* where, const std::function<void()>& fn) noexcept {
    const auto start = std::chrono::steady_clock::now();
    try {
        fn();
    } catch (const std::exception& e) {
        log::error("event", "callback threw", {{"where", where}, {"err", e.what()}});
    } catch (...) {
        log::error("event", "callback threw", {{"where", where}, {"err", "unknown exception"}});
    }
    const auto took = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::steady_clock::now() - start);
    if (took >= SLOW_CALLBACK)
        ++t_callbacks.slow;
    t_callbacks.longest = std::max(t_callbacks.longest, took);
}

Loop::Loop()
    : m_base(event_base_new()) {
    RTFARM_ASSERT(m_base);
    m_defer_event.reset(event_new(m_base.get(), -1, 0, on_deferred, this));
    RTFARM_ASSERT(m_defer_event);
}

bool Loop::run() {
    return event_base_dispatch(m_base.get()) >= 0;
}

void Loop::stop() {
    event_base_loopbreak(m_base.get());
}

void Loop::defer(std::function<void()> fn) {
    m_deferred.push_back(std::move(fn));
    if (!event_pending(m_defer_event.get(), EV_TIMEOUT, nullptr)) {
        timeval zero{0, 0};
        event_add(m_defer_event.get(), &zero);
    }
}

void Loop::on_deferred(evutil_socket_t, short, void* arg) noexcept {
    auto* self = static_cast<Loop*>(arg);
    auto work = std::move(self->m_deferred);
    self->m_deferred.clear();
    for (auto& fn : work)
        guarded("deferred", fn);
}

FdEvent::FdEvent(Loop& loop, int fd, short what, Callback cb)
    : m_cb(std::move(cb))
    , m_ev(event_new(loop.base(), fd, what, trampoline, this)) {
    RTFARM_ASSERT(m_ev);
}

void FdEvent::enable() {
    event_add(m_ev.get(), nullptr);
}
void FdEvent::disable() {
    event_del(m_ev.get());
}

void FdEvent::trampoline(evutil_socket_t, short what, void* arg) noexcept {
    auto* self = static_cast<FdEvent*>(arg);
    guarded("fd", [&] { self->m_cb(what); });
}

Timer::Timer(Loop& loop, Callback cb)
    : m_cb(std::move(cb))
    , m_ev(evtimer_new(loop.base(), trampoline, this)) {
    RTFARM_ASSERT(m_ev);
}

void Timer::start(std::chrono::milliseconds after) {
    timeval tv = to_timeval(after);
    evtimer_add(m_ev.get(), &tv);
}
void Timer::stop() {
    evtimer_del(m_ev.get());
}
bool Timer::pending() const {
    return evtimer_pending(m_ev.get(), nullptr);
}

void Timer::trampoline(evutil_socket_t, short, void* arg) noexcept {
    auto* self = static_cast<Timer*>(arg);
    guarded("timer", self->m_cb);
}

Ticker::Ticker(Loop& loop, std::chrono::milliseconds period, Callback cb)
    : m_cb(std::move(cb))
    , m_ev(event_new(loop.base(), -1, EV_PERSIST, trampoline, this)) {
    RTFARM_ASSERT(m_ev);
    timeval tv = to_timeval(period);
    event_add(m_ev.get(), &tv);
}

void Ticker::stop() {
    event_del(m_ev.get());
}

void Ticker::trampoline(evutil_socket_t, short, void* arg) noexcept {
    auto* self = static_cast<Ticker*>(arg);
    guarded("ticker", self->m_cb);
}

SignalEvent::SignalEvent(Loop& loop, int signo, Callback cb)
    : m_cb(std::move(cb))
    , m_ev(evsignal_new(loop.base(), signo, trampoline, this)) {
    RTFARM_ASSERT(m_ev);
    event_add(m_ev.get(), nullptr);
}

void SignalEvent::trampoline(evutil_socket_t, short, void* arg) noexcept {
    auto* self = static_cast<SignalEvent*>(arg);
    guarded("signal", self->m_cb);
}

} // namespace rtfarm::ev
