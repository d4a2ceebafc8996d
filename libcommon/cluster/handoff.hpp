// What the farm's hand-off needs to keep calls where they started when the
// membership changes (sip/route.hpp, "Hand-off"): the Call-IDs this member
// processed lately, and the views replaced lately. Both forget after the
// longest a SIP transaction lives (HANDOFF_GRACE); dialogs outlive that by
// the member tag in our Record-Route, not by these tables. Time is passed
// in, so tests drive them with a fake clock.
#pragma once

#include "sip/route.hpp"

#include <chrono>
#include <cstdint>
#include <deque>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace rtfarm::cluster {

using HandoffClock = std::chrono::steady_clock;

// The longest a transaction without our Route tag may still see requests:
// an INVITE may ring until a proxy's Timer C (more than 3 minutes, RFC 3261
// 16.6), then its CANCEL or the ACK of its error response needs up to
// 64*T1 (32 s). Plain non-INVITE transactions end within 32 s.
constexpr std::chrono::milliseconds HANDOFF_GRACE{180000 + 32000};

// Call-IDs of the requests and responses this member processed, each kept
// until `keep` after it was last seen. Keys are 64-bit hashes of the
// Call-ID, not the string: about 90 bytes an entry with the hash table's
// own, 90 MB at the default capacity; the buckets for the capacity are
// allocated at construction (8 bytes each, 2 x 8 MB at the default), so
// that the tables never rehash on the packet path. Two tiers, each bounded
// by `capacity` (the oldest go first): Call-IDs of requests seen from
// outside, which anyone can mint by the thousand, and those of INVITEs the
// processor is ringing (it sent a provisional response), which a flood of
// new Call-IDs cannot push out.
class RecentCalls {
public:
    // Entries of each tier expire() looks at, at most, per call, and note()
    // at each call: each note() adds at most one, so expiry keeps pace with
    // the traffic in small steps, and the heartbeat's expire() is short
    // (test/bench/README.md, "Stalls").
    static constexpr size_t EXPIRE_BUDGET = 2048;
    static constexpr size_t NOTE_EXPIRES = 2;
    enum class Tier { seen, ringing };

    explicit RecentCalls(std::chrono::milliseconds keep = HANDOFF_GRACE,
                         size_t capacity = 1u << 20);

    void note(std::string_view call_id, HandoffClock::time_point now, Tier tier = Tier::seen);
    bool knows(std::string_view call_id, HandoffClock::time_point now) const;

    // For route(): asks knows() at `now` only when a rule needs it.
    class At : public sip::CallIdMemory {
    public:
        At(const RecentCalls& calls, HandoffClock::time_point now)
            : m_calls(calls)
            , m_now(now) {}
        bool knows(std::string_view call_id) const override {
            return m_calls.knows(call_id, m_now);
        }

    private:
        const RecentCalls& m_calls;
        HandoffClock::time_point m_now;
    };
    // Forgets what was last seen more than `keep` ago, looking at most at
    // EXPIRE_BUDGET entries of each tier per call so that a burst never
    // stalls the loop (the rest goes at the next call, or with the next
    // notes).
    void expire(HandoffClock::time_point now);
    size_t size() const { return m_tiers[0].seen.size() + m_tiers[1].seen.size(); }
    size_t size(Tier t) const { return tier(t).seen.size(); }
    uint64_t evicted() const { return m_tiers[0].evicted + m_tiers[1].evicted; }
    // The hash tables' buckets: fixed from construction (no rehash).
    size_t buckets() const {
        return m_tiers[0].seen.bucket_count() + m_tiers[1].seen.bucket_count();
    }

private:
    struct Due {
        HandoffClock::time_point at; // look again at this time
        uint64_t key;
    };
    struct Pool {
        std::unordered_map<uint64_t, HandoffClock::time_point> seen; // key -> last seen
        std::deque<Due> due; // one entry per key, roughly oldest first
        uint64_t evicted = 0;
    };
    Pool& tier(Tier t) { return m_tiers[t == Tier::seen ? 0 : 1]; }
    const Pool& tier(Tier t) const { return m_tiers[t == Tier::seen ? 0 : 1]; }
    void note(Pool& pool, uint64_t key, HandoffClock::time_point now);
    void expire(Pool& pool, HandoffClock::time_point now, size_t budget);

    std::chrono::milliseconds m_keep;
    size_t m_capacity;
    Pool m_tiers[2];
};

// The views this member routed by in the last `grace`, newest first, each
// with its routing key: during that window a Call-ID whose owner moved may
// still be in progress on its owner by an older view. A new routing key (a
// key rotation, cluster/farm_keys.hpp) moves Call-IDs as a new member list
// does.
class ViewHistory {
public:
    using Members = std::vector<sip::FarmView::Member>;
    using Past = sip::FarmView::Past;

    explicit ViewHistory(std::chrono::milliseconds grace = HANDOFF_GRACE, size_t max_views = 8);

    // The view changed from `before` to `after`. Nothing is kept when the
    // two give every Call-ID the same owner (same eligible members, same key).
    void replaced(const Past& before, const Past& after, HandoffClock::time_point now);
    // Drops views older than `grace`; true when one went.
    bool expire(HandoffClock::time_point now);
    // Forgets the kept views with exactly these members; true when one went.
    bool drop(const Members& members);
    std::vector<Past> views() const;
    size_t size() const { return m_views.size(); }

    // The members a farm Member would hash over (farm member, alive, not
    // draining), in order: two lists with the same ids route alike.
    static std::vector<std::string> eligible(const Members& members);

private:
    struct Kept {
        Past view;
        HandoffClock::time_point until;
    };
    std::chrono::milliseconds m_grace;
    size_t m_max;
    std::deque<Kept> m_views; // newest first
};

// A member that starts may be new to the others: until they have routed by
// a view with it for `grace`, Call-IDs in progress elsewhere may now hash
// to it. Its first view's "before" is the same list with itself not
// eligible; it drops that view once it has heard that no member up is
// older than itself (Membership::has_older_peer): a cluster that starts
// together routed with every member from the first packet.
ViewHistory::Members without_member(ViewHistory::Members members, std::string_view id);

} // namespace rtfarm::cluster
