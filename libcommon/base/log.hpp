// Logging: one line per event, key=value pairs, to stderr (or a sink set by
// tests), no timestamps (the supervisor adds them). Levels are per subsystem
// ("sub=") and can be changed at run time. This module does not rate-limit;
// callers use RateLimit for anything a remote peer can trigger.
#pragma once

#include <chrono>
#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace rtfarm::log {

enum class Level { debug = 0, info = 1, warn = 2, error = 3 };

std::optional<Level> parse_level(std::string_view name);
std::string_view level_name(Level level);

// The level applied to subsystems without one of their own.
void set_default_level(Level level);
// "sub=level" for one subsystem; sub "*" sets the default.
void set_level(std::string_view sub, Level level);
// A spec such as "info" or "warn,farm=debug,ctl=info". Returns false, and
// changes nothing, when the spec does not parse.
bool apply_spec(std::string_view spec);
bool enabled(Level level, std::string_view sub);

using Field = std::pair<std::string_view, std::string>;
using Fields = std::initializer_list<Field>;

// Formats one line: level=... sub=... msg="..." k=v ... (values quoted when
// they hold spaces, quotes, '=' or nothing; control bytes escaped).
std::string format_line(Level level, std::string_view sub, std::string_view msg, Fields fields);

void emit(Level level, std::string_view sub, std::string_view msg, Fields fields = {});

inline void debug(std::string_view sub, std::string_view msg, Fields f = {}) {
    if (enabled(Level::debug, sub))
        emit(Level::debug, sub, msg, f);
}
inline void info(std::string_view sub, std::string_view msg, Fields f = {}) {
    emit(Level::info, sub, msg, f);
}
inline void warn(std::string_view sub, std::string_view msg, Fields f = {}) {
    emit(Level::warn, sub, msg, f);
}
inline void error(std::string_view sub, std::string_view msg, Fields f = {}) {
    emit(Level::error, sub, msg, f);
}

// Where lines go; the default writes to stderr. Tests capture with this.
using Sink = std::function<void(std::string_view line)>;
void set_sink(Sink sink);
void reset_sink();

// A token bucket for log lines a peer can trigger: allow() is true for at most
// `burst` lines, refilled at `per_second`. Time is passed in.
class RateLimit {
public:
    RateLimit(double per_second, double burst)
        : m_rate(per_second)
        , m_burst(burst)
        , m_tokens(burst) {}
    bool allow(std::chrono::steady_clock::time_point now);
    unsigned long suppressed() const { return m_suppressed; }

private:
    double m_rate;
    double m_burst;
    double m_tokens;
    std::chrono::steady_clock::time_point m_last{};
    unsigned long m_suppressed = 0;
};

} // namespace rtfarm::log
