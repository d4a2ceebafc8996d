#include "base/log.hpp"

#include <cstdio>
#include <map>
#include <mutex>

namespace rtfarm::log {
namespace {

struct State {
    std::mutex mutex;
    Level default_level = Level::info;
    std::map<std::string, Level, std::less<>> subs;
    Sink sink;
};

State& state() {
    static State s;
    return s;
}

bool needs_quotes(std::string_view v) {
    if (v.empty())
        return true;
    for (unsigned char c : v)
        if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c >= 0x7f)
            return true;
    return false;
}

void append_value(std::string& out, std::string_view v) {
    if (!needs_quotes(v)) {
        out += v;
        return;
    }
    out += '"';
    for (unsigned char c : v) {
        switch (c) {
        case '"':
            out += "\\\"";
            break;
        case '\\':
            out += "\\\\";
            break;
        case '\n':
            out += "\\n";
            break;
        case '\r':
            out += "\\r";
            break;
        case '\t':
            out += "\\t";
            break;
        default:
            if (c < 0x20 || c == 0x7f) {
                char buf[8];
                std::snprintf(buf, sizeof buf, "\\x%02x", c);
                out += buf;
            } else {
                out += static_cast<char>(c);
            }
        }
    }
    out += '"';
}

} // namespace

std::optional<Level> parse_level(std::string_view name) {
    if (name == "debug")
        return Level::debug;
    if (name == "info")
        return Level::info;
    if (name == "warn" || name == "warning")
        return Level::warn;
    if (name == "error")
        return Level::error;
    return std::nullopt;
}

std::string_view level_name(Level level) {
    switch (level) {
    case Level::debug:
        return "debug";
    case Level::info:
        return "info";
    case Level::warn:
        return "warn";
    case Level::error:
        return "error";
    }
    return "?";
}

void set_default_level(Level level) {
    std::lock_guard lock(state().mutex);
    state().default_level = level;
}

void set_level(std::string_view sub, Level level) {
    if (sub == "*") {
        set_default_level(level);
        return;
    }
    std::lock_guard lock(state().mutex);
    state().subs[std::string(sub)] = level;
}

bool apply_spec(std::string_view spec) {
    std::optional<Level> def;
    std::map<std::string, Level> subs;
    while (!spec.empty()) {
        auto comma = spec.find(',');
        std::string_view item = spec.substr(0, comma);
        spec = comma == std::string_view::npos ? std::string_view{} : spec.substr(comma + 1);
        auto eq = item.find('=');
        if (eq == std::string_view::npos) {
            def = parse_level(item);
            if (!def)
                return false;
        } else {
            auto lvl = parse_level(item.substr(eq + 1));
            if (!lvl || eq == 0)
                return false;
            subs[std::string(item.substr(0, eq))] = *lvl;
        }
    }
    if (def)
        set_default_level(*def);
    for (auto& [sub, lvl] : subs)
        set_level(sub, lvl);
    return true;
}

bool enabled(Level level, std::string_view sub) {
    std::lock_guard lock(state().mutex);
    auto it = state().subs.find(sub);
    Level min = it == state().subs.end() ? state().default_level : it->second;
    return level >= min;
}

std::string format_line(Level level, std::string_view sub, std::string_view msg, Fields fields) {
    std::string out;
    out.reserve(96);
    out += "level=";
    out += level_name(level);
    out += " sub=";
    append_value(out, sub);
    out += " msg=";
    out += '"';
    // msg is always quoted so lines read the same whatever the text.
    std::string quoted;
    append_value(quoted, msg);
    if (!quoted.empty() && quoted.front() == '"')
        out += std::string_view(quoted).substr(1, quoted.size() - 2);
    else
        out += quoted;
    out += '"';
    for (const auto& [key, value] : fields) {
        out += ' ';
        out += key;
        out += '=';
        append_value(out, value);
    }
    return out;
}

void emit(Level level, std::string_view sub, std::string_view msg, Fields fields) {
    if (!enabled(level, sub))
        return;
    std::string line = format_line(level, sub, msg, fields);
    Sink sink;
    {
        std::lock_guard lock(state().mutex);
        sink = state().sink;
    }
    if (sink) {
        sink(line);
        return;
    }
    line += '\n';
    std::fwrite(line.data(), 1, line.size(), stderr);
    std::fflush(stderr);
}

void set_sink(Sink sink) {
    std::lock_guard lock(state().mutex);
    state().sink = std::move(sink);
}

void reset_sink() {
    set_sink(nullptr);
}

bool RateLimit::allow(std::chrono::steady_clock::time_point now) {
    if (m_last != std::chrono::steady_clock::time_point{}) {
        double secs = std::chrono::duration<double>(now - m_last).count();
        if (secs > 0)
            m_tokens = std::min(m_burst, m_tokens + secs * m_rate);
    }
    m_last = now;
    if (m_tokens >= 1.0) {
        m_tokens -= 1.0;
        return true;
    }
    ++m_suppressed;
    return false;
}

} // namespace rtfarm::log
