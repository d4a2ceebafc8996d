// The control links from this sipfarmd to the other members' sipfarmd
// (their control_tcp, logged in with the cluster secret): one
// control::ControlLink per member, made on first use and kept while the
// member's address and the secret stay what they were. Events between tasks
// and media anchoring on another member share them.
#pragma once

#include "base/sockaddr.hpp"
#include "control/control_link.hpp"
#include "ev/loop.hpp"

#include <map>
#include <memory>
#include <optional>
#include <string>

namespace rtfarm::sipfarmd {

class PeerLinks {
public:
    explicit PeerLinks(ev::Loop& loop)
        : m_loop(loop) {}

    // The members' control_tcp addresses (none: not reachable) and the
    // secret, at start and on every reload.
    void configure(std::map<std::string, std::optional<SockAddr>> members,
                   std::vector<std::string> secrets);
    // The link to `member`; nullptr when it has no control_tcp or is unknown.
    control::ControlLink* get(const std::string& member);
    bool reachable(const std::string& member) const;
    void clear() { m_links.clear(); }

private:
    ev::Loop& m_loop;
    std::map<std::string, std::optional<SockAddr>> m_members;
    std::vector<std::string> m_secrets;
    std::map<std::string, std::unique_ptr<control::ControlLink>> m_links;
};

} // namespace rtfarm::sipfarmd
