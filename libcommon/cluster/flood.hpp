// Farm-wide flood protection: how many new requests each source address
// sends to the farm as a whole, and which sources are over the limit. With
// a load balancer that sprays every packet, each member sees 1/N of one
// source's flood, so a per-member limit (Kamailio's and OpenSIPS's pike) is
// N times too lenient: here each member counts what it receives, tells the
// others its busiest sources with every heartbeat, and blocks a source when
// the sum of the latest counts of all members passes the limit. A blocked
// source stays blocked until it has stayed under the limit for `quiet`.
//
// Pure logic with time passed in (sipfarmd feeds it the new requests it
// receives from outside and the reports in the heartbeats, and drops what
// blocked() says). Every table is bounded: the sources counted here (the
// quietest go first when it is full), the sources in a report, the reports
// kept per member. It does not decide what a "new request" is, nor send
// anything.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace rtfarm::cluster {

struct FloodSettings {
    // New requests per second from one source address, farm-wide; 0: off.
    unsigned limit = 0;
    // A blocked source is released after this long under the limit.
    std::chrono::seconds quiet{10};
    bool operator==(const FloodSettings&) const = default;
};

// One member's busiest sources: address -> new requests in its last second.
using FloodReport = std::vector<std::pair<std::string, uint32_t>>;

class FloodGuard {
public:
    using Clock = std::chrono::steady_clock;
    // Sources counted at once by one member.
    static constexpr size_t MAX_SOURCES = 65536;
    // Sources in one member's report (its busiest).
    static constexpr size_t MAX_REPORTED = 32;
    // A report counts for this long after it arrived (a few heartbeats).
    static constexpr std::chrono::milliseconds REPORT_FRESH{1500};

    // When enabled, the table of sources gets its buckets for MAX_SOURCES
    // at once: grown on the packet path, it would rehash all its entries in
    // one admit() (test/bench/README.md, "Stalls").
    void configure(const FloodSettings& s);
    bool enabled() const { return m_settings.limit > 0; }
    const FloodSettings& settings() const { return m_settings; }

    // A new request from `source` (an address without port) reached this
    // member from outside. True when it may go on; false when the source
    // is blocked (counted here either way).
    bool admit(std::string_view source, Clock::time_point now);
    // What this member tells the others: its sources with at least a tenth
    // of the limit in their last second, busiest first, at most MAX_REPORTED.
    FloodReport report(Clock::time_point now);
    // Another member's report (from its heartbeat).
    void on_report(const std::string& member, FloodReport report, Clock::time_point now);

    bool blocked(std::string_view source, Clock::time_point now) const;
    size_t sources() const { return m_sources.size(); }
    size_t blocked_sources(Clock::time_point now) const;
    uint64_t dropped() const { return m_dropped; }
    // New sources not counted because the table was full of active ones.
    uint64_t untracked() const { return m_untracked; }

private:
    struct Source {
        // New requests in the current and the previous second.
        int64_t second = 0;
        uint32_t now = 0;
        uint32_t before = 0;
        Clock::time_point blocked_until{};
        Clock::time_point last{};
    };
    struct Report {
        std::map<std::string, uint32_t, std::less<>> counts;
        Clock::time_point at;
    };
    // This member's count for `s` over the last second, at `now`.
    static uint32_t last_second(const Source& s, Clock::time_point now);
    uint32_t farm_wide(std::string_view source, uint32_t local, Clock::time_point now) const;
    void make_room(Clock::time_point now);

    FloodSettings m_settings;
    std::unordered_map<std::string, Source> m_sources;
    std::map<std::string, Report, std::less<>> m_reports; // by member
    Clock::time_point m_last_sweep{};
    uint64_t m_dropped = 0;
    uint64_t m_untracked = 0;
};

} // namespace rtfarm::cluster
