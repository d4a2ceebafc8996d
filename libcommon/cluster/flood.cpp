#include "cluster/flood.hpp"

#include <algorithm>

namespace rtfarm::cluster {
namespace {

int64_t second_of(FloodGuard::Clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

// How far into its second `t` is, 0 to 1.
double fraction_of(FloodGuard::Clock::time_point t) {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
    return static_cast<double>(ms % 1000) / 1000.0;
}

// Sources that sent nothing for this long may make room for others.
constexpr std::chrono::seconds IDLE{2};

} // namespace

void FloodGuard::configure(const FloodSettings& s) {
    m_settings = s;
    if (enabled())
        m_sources.reserve(MAX_SOURCES);
}

uint32_t FloodGuard::last_second(const Source& s, Clock::time_point now) {
    // The current second's count and the part of the previous one that
    // still lies within the last second (a sliding window, evenly spread).
    int64_t sec = second_of(now);
    double rest = 1.0 - fraction_of(now);
    if (s.second == sec)
        return s.now + static_cast<uint32_t>(s.before * rest);
    if (s.second == sec - 1)
        return static_cast<uint32_t>(s.now * rest);
    return 0;
}

uint32_t FloodGuard::farm_wide(std::string_view source, uint32_t local,
                               Clock::time_point now) const {
    uint64_t total = local;
    for (const auto& [member, r] : m_reports) {
        if (now - r.at > REPORT_FRESH)
            continue;
        auto it = r.counts.find(source);
        if (it != r.counts.end())
            total += it->second;
    }
    return static_cast<uint32_t>(std::min<uint64_t>(total, UINT32_MAX));
}

void FloodGuard::make_room(Clock::time_point now) {
    // Idle sources that are not blocked go; a flood from more addresses
    // than this holds leaves the newest ones uncounted until room is made.
    std::erase_if(m_sources, [&](const auto& kv) {
        return now - kv.second.last > IDLE && now >= kv.second.blocked_until;
    });
}

bool FloodGuard::admit(std::string_view source, Clock::time_point now) {
    if (!enabled())
        return true;
    auto it = m_sources.find(std::string(source));
    if (it == m_sources.end()) {
        if (m_sources.size() >= MAX_SOURCES) {
            // At most one sweep a second: a flood of new addresses must not
            // make every packet pay for it.
            if (now - m_last_sweep >= std::chrono::seconds(1)) {
                m_last_sweep = now;
                make_room(now);
            }
            if (m_sources.size() >= MAX_SOURCES) {
                ++m_untracked;
                return !blocked(source, now);
            }
        }
        it = m_sources.emplace(std::string(source), Source{}).first;
    }
    Source& s = it->second;
    int64_t sec = second_of(now);
    if (s.second == sec) {
        ++s.now;
    } else {
        s.before = s.second == sec - 1 ? s.now : 0;
        s.now = 1;
        s.second = sec;
    }
    s.last = now;
    if (farm_wide(source, last_second(s, now), now) > m_settings.limit)
        s.blocked_until = now + m_settings.quiet;
    if (now < s.blocked_until) {
        ++m_dropped;
        return false;
    }
    return true;
}

bool FloodGuard::blocked(std::string_view source, Clock::time_point now) const {
    if (!enabled())
        return false;
    auto it = m_sources.find(std::string(source));
    uint32_t local = it == m_sources.end() ? 0 : last_second(it->second, now);
    if (it != m_sources.end() && now < it->second.blocked_until)
        return true;
    return farm_wide(source, local, now) > m_settings.limit;
}

size_t FloodGuard::blocked_sources(Clock::time_point now) const {
    size_t n = 0;
    for (const auto& [addr, s] : m_sources)
        n += now < s.blocked_until ? 1 : 0;
    return n;
}

FloodReport FloodGuard::report(Clock::time_point now) {
    FloodReport out;
    if (!enabled())
        return out;
    // Worth telling: a tenth of the limit or more here.
    uint32_t floor = std::max(1u, m_settings.limit / 10);
    for (const auto& [addr, s] : m_sources) {
        uint32_t n = last_second(s, now);
        if (n >= floor)
            out.emplace_back(addr, n);
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
        return a.second != b.second ? a.second > b.second : a.first < b.first;
    });
    if (out.size() > MAX_REPORTED)
        out.resize(MAX_REPORTED);
    return out;
}

void FloodGuard::on_report(const std::string& member, FloodReport report, Clock::time_point now) {
    Report& r = m_reports[member];
    r.counts.clear();
    if (report.size() > MAX_REPORTED)
        report.resize(MAX_REPORTED);
    for (auto& [addr, n] : report)
        r.counts[std::move(addr)] = n;
    r.at = now;
}

} // namespace rtfarm::cluster
