#include "cluster/handoff.hpp"

#include "base/hash.hpp"

#include <algorithm>

namespace rtfarm::cluster {

RecentCalls::RecentCalls(std::chrono::milliseconds keep, size_t capacity)
    : m_keep(keep)
    , m_capacity(std::max<size_t>(capacity, 1)) {
    // Buckets for the bound at once (note() holds capacity + 1 for a moment):
    // a table that grew on the packet path would rehash all its entries in
    // one step, tens of milliseconds near the bound (test/bench/README.md,
    // "Stalls").
    for (Pool& pool : m_tiers)
        pool.seen.reserve(m_capacity + 1);
}

void RecentCalls::note(std::string_view call_id, HandoffClock::time_point now, Tier t) {
    uint64_t key = stable_hash(call_id);
    note(tier(t), key, now);
}

void RecentCalls::note(Pool& pool, uint64_t key, HandoffClock::time_point now) {
    expire(pool, now, NOTE_EXPIRES);
    auto [it, added] = pool.seen.try_emplace(key, now);
    if (!added) {
        it->second = now; // its Due entry looks again when it comes up
        return;
    }
    pool.due.push_back({now + m_keep, key});
    while (pool.seen.size() > m_capacity && !pool.due.empty()) {
        pool.seen.erase(pool.due.front().key);
        pool.due.pop_front();
        ++pool.evicted;
    }
}

bool RecentCalls::knows(std::string_view call_id, HandoffClock::time_point now) const {
    uint64_t key = stable_hash(call_id);
    for (const Pool& pool : m_tiers) {
        auto it = pool.seen.find(key);
        if (it != pool.seen.end() && now - it->second < m_keep)
            return true;
    }
    return false;
}

void RecentCalls::expire(HandoffClock::time_point now) {
    for (Pool& pool : m_tiers)
        expire(pool, now, EXPIRE_BUDGET);
}

void RecentCalls::expire(Pool& pool, HandoffClock::time_point now, size_t budget) {
    // Each key has one Due entry; one seen again meanwhile goes to the back
    // with its new time, so the front stays (nearly) the oldest.
    budget = std::min(pool.due.size(), budget);
    while (!pool.due.empty() && pool.due.front().at <= now && budget-- > 0) {
        Due d = pool.due.front();
        pool.due.pop_front();
        auto it = pool.seen.find(d.key);
        if (it == pool.seen.end())
            continue;
        if (now - it->second >= m_keep)
            pool.seen.erase(it);
        else
            pool.due.push_back({it->second + m_keep, d.key});
    }
}

ViewHistory::ViewHistory(std::chrono::milliseconds grace, size_t max_views)
    : m_grace(grace)
    , m_max(std::max<size_t>(max_views, 1)) {
}

std::vector<std::string> ViewHistory::eligible(const Members& members) {
    std::vector<std::string> ids;
    for (const auto& m : members)
        if (m.farm_member && m.alive && !m.draining)
            ids.push_back(m.id);
    std::sort(ids.begin(), ids.end());
    return ids;
}

void ViewHistory::replaced(const Past& before, const Past& after, HandoffClock::time_point now) {
    if (before.key == after.key && eligible(before.members) == eligible(after.members))
        return;
    m_views.push_front({before, now + m_grace});
    if (m_views.size() > m_max)
        m_views.pop_back();
}

bool ViewHistory::expire(HandoffClock::time_point now) {
    bool gone = false;
    while (!m_views.empty() && m_views.back().until <= now) {
        m_views.pop_back();
        gone = true;
    }
    return gone;
}

bool ViewHistory::drop(const Members& members) {
    return std::erase_if(m_views, [&](const Kept& k) { return k.view.members == members; }) > 0;
}

std::vector<ViewHistory::Past> ViewHistory::views() const {
    std::vector<Past> out;
    out.reserve(m_views.size());
    for (const auto& k : m_views)
        out.push_back(k.view);
    return out;
}

ViewHistory::Members without_member(ViewHistory::Members members, std::string_view id) {
    for (auto& m : members)
        if (m.id == id)
            m.farm_member = false;
    return members;
}

} // namespace rtfarm::cluster
