#include "peer_links.hpp"

namespace rtfarm::sipfarmd {

void PeerLinks::configure(std::map<std::string, std::optional<net::SockAddr>> members,
                          std::string secret) {
    // A link whose address or secret changed starts again.
    for (auto it = m_links.begin(); it != m_links.end();) {
        auto m = members.find(it->first);
        bool keep = m != members.end() && m->second && *m->second == it->second->target() &&
                    secret == m_secret;
        it = keep ? std::next(it) : m_links.erase(it);
    }
    m_members = std::move(members);
    m_secret = std::move(secret);
}

bool PeerLinks::reachable(const std::string& member) const {
    auto m = m_members.find(member);
    return m != m_members.end() && m->second.has_value();
}

json::ControlLink* PeerLinks::get(const std::string& member) {
    if (!reachable(member))
        return nullptr;
    auto& link = m_links[member];
    if (!link)
        link = std::make_unique<json::ControlLink>(m_loop, *m_members.at(member), m_secret);
    return link.get();
}

} // namespace rtfarm::sipfarmd
