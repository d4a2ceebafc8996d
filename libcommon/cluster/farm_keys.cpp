#include "cluster/farm_keys.hpp"

#include "sip/farm_tags.hpp"

#include <algorithm>

namespace rtfarm::cluster {

FarmKeys::FarmKeys(const std::vector<std::string>& secrets) {
    for (const auto& s : secrets) {
        if (m_held.size() == MAX_HEARTBEAT_KEYS)
            break;
        m_held.push_back({s, crypto::key_id(s), sip::route_key(s), sip::branch_key(s)});
    }
    m_signing = m_held.empty() ? 0 : m_held.size() - 1;
    order();
}

std::vector<std::string> FarmKeys::ids() const {
    std::vector<std::string> out;
    out.reserve(m_held.size());
    for (const auto& k : m_held)
        out.push_back(k.id);
    return out;
}

void FarmKeys::order() {
    m_check_order.clear();
    if (m_held.empty())
        return;
    m_check_order.push_back(m_held[m_signing].secret);
    for (size_t i = 0; i < m_held.size(); ++i)
        if (i != m_signing)
            m_check_order.push_back(m_held[i].secret);
}

bool FarmKeys::choose(const std::vector<MemberStatus>& members, std::string_view self) {
    if (m_held.size() < 2)
        return false;
    const std::string& newest = m_held.front().id;
    bool everyone = true;
    for (const auto& m : members) {
        if (m.id == self || m.state == MemberState::down)
            continue;
        everyone = everyone && std::find(m.keys.begin(), m.keys.end(), newest) != m.keys.end();
    }
    size_t want = everyone ? 0 : m_held.size() - 1;
    if (want == m_signing)
        return false;
    m_signing = want;
    order();
    return true;
}

} // namespace rtfarm::cluster
