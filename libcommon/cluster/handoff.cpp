#include "cluster/handoff.hpp"

#include "sip/farm_tags.hpp"

#include <algorithm>

namespace rtfarm::cluster {

RecentCalls::RecentCalls(std::chrono::milliseconds keep, size_t capacity)
    : m_keep(keep)
    , m_capacity(std::max<size_t>(capacity, 1)) {
}

void RecentCalls::note(std::string_view call_id, HandoffClock::time_point now) {
    uint64_t key = sip::stable_hash(call_id);
    auto [it, added] = m_seen.try_emplace(key, now);
    if (!added) {
        it->second = now; // its Due entry looks again when it comes up
        return;
    }
    m_due.push_back({now + m_keep, key});
    while (m_seen.size() > m_capacity && !m_due.empty()) {
        m_seen.erase(m_due.front().key);
        m_due.pop_front();
        ++m_evicted;
    }
}

bool RecentCalls::knows(std::string_view call_id, HandoffClock::time_point now) const {
    auto it = m_seen.find(sip::stable_hash(call_id));
    return it != m_seen.end() && now - it->second < m_keep;
}

void RecentCalls::expire(HandoffClock::time_point now) {
    // Each key has one Due entry; one seen again meanwhile goes to the back
    // with its new time, so the front stays (nearly) the oldest.
    size_t budget = std::min(m_due.size(), EXPIRE_BUDGET);
    while (!m_due.empty() && m_due.front().at <= now && budget-- > 0) {
        Due d = m_due.front();
        m_due.pop_front();
        auto it = m_seen.find(d.key);
        if (it == m_seen.end())
            continue;
        if (now - it->second >= m_keep)
            m_seen.erase(it);
        else
            m_due.push_back({it->second + m_keep, d.key});
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

void ViewHistory::replaced(const Members& before, const Members& after,
                           HandoffClock::time_point now) {
    if (eligible(before) == eligible(after))
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
    return std::erase_if(m_views, [&](const Kept& k) { return k.members == members; }) > 0;
}

std::vector<ViewHistory::Members> ViewHistory::views() const {
    std::vector<Members> out;
    out.reserve(m_views.size());
    for (const auto& k : m_views)
        out.push_back(k.members);
    return out;
}

ViewHistory::Members without_member(ViewHistory::Members members, std::string_view id) {
    for (auto& m : members)
        if (m.id == id)
            m.farm_member = false;
    return members;
}

} // namespace rtfarm::cluster
