#include "service.hpp"

#include "base/log.hpp"

namespace rtfarm::rtprelayd {

Status RelayService::start(const config::ClusterConfig& cfg, const config::MemberConfig& me) {
    return reload(cfg, me);
}

Status RelayService::validate(const config::ClusterConfig& cfg,
                              const config::MemberConfig& me) const {
    if (!me.media_ports)
        return make_error("config", cfg.path + ": members." + me.id +
                                        ".media_ports: rtprelayd needs a media port range");
    if (!cfg.advertised_ip(me))
        return make_error("config", cfg.path + ": members." + me.id +
                                        ".wan_ip: no advertised media address (set the member's "
                                        "wan_ip or cluster.wan_ip)");
    return {};
}

Status RelayService::reload(const config::ClusterConfig& cfg, const config::MemberConfig& me) {
    // The shell has run validate() on this config.
    m_range = *me.media_ports;
    m_advertised = *cfg.advertised_ip(me);
    log::info("media", "media range",
              {{"ports", m_range.str()}, {"advertised", m_advertised.host()}});
    return {};
}

json::Json RelayService::stats() const {
    return json::Json::object()
        .set("media_ports", m_range.str())
        .set("ports", static_cast<long long>(m_range.count()))
        .set("advertised_ip", m_advertised.host())
        .set("sessions", 0);
}

} // namespace rtfarm::rtprelayd
