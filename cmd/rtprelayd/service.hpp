// rtprelayd's Service: checks that the member can carry media (a port range
// and an advertised address) at start and on every reload, and reports the
// range. Sessions and relaying are not in this file's scope yet.
#pragma once

#include "daemon/daemon.hpp"

namespace rtfarm::rtprelayd {

class RelayService : public daemon::Service {
public:
    Status validate(const config::ClusterConfig& cfg,
                    const config::MemberConfig& me) const override;
    Status start(const config::ClusterConfig& cfg, const config::MemberConfig& me) override;
    Status reload(const config::ClusterConfig& cfg, const config::MemberConfig& me) override;
    void drain(std::function<void()> done) override { done(); }
    json::Json stats() const override;

private:
    net::PortRange m_range;
    net::SockAddr m_advertised;
};

} // namespace rtfarm::rtprelayd
