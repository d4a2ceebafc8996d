// What sipfarmd on one member needs to know to route and proxy, derived from
// the cluster config: the membership view (every configured member taken as
// alive until heartbeats say otherwise), the addresses it proxies with, and
// who may talk to it over the farm link. Plain data, a pure function of the
// config; sipfarmd rebuilds it on every reload.
#pragma once

#include "base/result.hpp"
#include "base/sockaddr.hpp"
#include "cluster/farm_keys.hpp"
#include "config/config.hpp"
#include "sip/proxy.hpp"
#include "sip/route.hpp"

#include <map>
#include <optional>
#include <string>

namespace rtfarm::cluster {

struct FarmSettings {
    sip::FarmView view;
    sip::ProxyContext proxy; // via_member = this member
    std::optional<SockAddr> processor;
    // The address sipfarmd talks to the processor from (and the processor
    // sends to): 127.0.0.1 (::1) for a processor on loopback, else the
    // member's address; the port is the first sip_listen port.
    SockAddr inner;
    // Source address for packets to the outside: the VIP when a sip_listen
    // socket is bound to the Cluster-wide WAN IP (DSR), else none (the
    // kernel chooses; a NAT load balancer rewrites it).
    std::optional<SockAddr> public_source;
    SockAddr farm_link; // this member's farm link address
    // Farm link peers: member id -> its farm link address.
    std::map<std::string, SockAddr> peers;
    // The cluster secrets (empty: none). view.key is the routing key of
    // the signing one, proxy.branch_key the branch key of the newest
    // (only this member checks its branches), the others' in
    // proxy.earlier_branch_keys.
    FarmKeys keys;

    bool operator==(const FarmSettings&) const = default;
};

Result<FarmSettings> derive_farm_settings(const config::ClusterConfig& cfg,
                                          const config::MemberConfig& me);

// The member whose farm link address (internal address and farm_port) is
// `host`, if any: members send from their farm link socket, so another
// port of a member host is a stranger (any process there could use it).
std::optional<std::string> member_at(const FarmSettings& s, const SockAddr& host);

} // namespace rtfarm::cluster
