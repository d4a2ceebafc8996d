#include "peer_links.hpp"

namespace rtfarm::sipfarmd {

void PeerLinks::configure(std::map<std::string, std::optional<SockAddr>> members,
                          std::vector<std::string> secrets) {
    // A link whose address changed starts again. One logged in stays so
    // when the secrets change (a key rotation, rtfarm.conf(5)), as the
    // server keeps it: its next login uses the new ones.
    for (auto it = m_links.begin(); it != m_links.end();) {
        auto m = members.find(it->first);
        bool keep = m != members.end() && m->second && *m->second == it->second->target();
        if (keep)
            it->second->set_secrets(secrets);
        it = keep ? std::next(it) : m_links.erase(it);
    }
    m_members = std::move(members);
    m_secrets = std::move(secrets);
}

bool PeerLinks::reachable(const std::string& member) const {
    auto m = m_members.find(member);
    return m != m_members.end() && m->second.has_value();
}

control::ControlLink* PeerLinks::get(const std::string& member) {
    if (!reachable(member))
        return nullptr;
    auto& link = m_links[member];
    if (!link)
        link = std::make_unique<control::ControlLink>(m_loop, *m_members.at(member), m_secrets);
    return link.get();
}

} // namespace rtfarm::sipfarmd
