#include "cluster/farm_settings.hpp"

#include "cluster/modes.hpp"

namespace rtfarm::cluster {

Result<FarmSettings> derive_farm_settings(const config::ClusterConfig& cfg,
                                          const config::MemberConfig& me) {
    FarmSettings s;
    auto modes = resolve_all(cfg);
    s.view.self = me.id;
    for (size_t i = 0; i < cfg.members.size(); ++i) {
        const auto& m = cfg.members[i];
        bool farm_member =
            m.role != config::Role::standalone && modes[i].sip_farm == config::SipFarm::member;
        s.view.members.push_back({m.id, farm_member, true, false});
        if (m.id == me.id) {
            s.view.self_farm_member = modes[i].sip_farm == config::SipFarm::member;
            s.view.self_relay = modes[i].sip_farm == config::SipFarm::relay;
        }
        SockAddr link = m.address;
        link.set_port(cfg.cluster.farm_port);
        s.peers[m.id] = link;
    }
    s.farm_link = s.peers[me.id];
    s.keys = FarmKeys(cfg.cluster.secrets());
    // The Call-ID hash keyed by the signing secret (sip::route_key).
    if (const FarmKey* k = s.keys.signing())
        s.view.key = k->route;
    s.proxy.branch_key = s.keys.empty() ? sip::branch_key("") : s.keys.held().front().branch;
    for (size_t i = 1; i < s.keys.held().size(); ++i)
        s.proxy.earlier_branch_keys.push_back(s.keys.held()[i].branch);
    s.processor = me.processor;

    uint16_t sip_port = me.sip_listen.empty() ? 5060 : me.sip_listen.front().port();
    if (me.processor && me.processor->is_loopback()) {
        // A loopback address of our own listen sockets, else the usual one.
        auto lo = SockAddr::parse_host(me.processor->is_v6() ? "::1" : "127.0.0.1", sip_port);
        s.inner = lo.value();
        for (const auto& l : me.sip_listen)
            if (l.is_loopback() && l.family() == me.processor->family()) {
                s.inner = l;
                break;
            }
    } else {
        s.inner = me.address;
        s.inner.set_port(sip_port);
    }

    // The farm's public SIP address: the Cluster-wide WAN IP (the VIP),
    // else the member's first specific listen address, else its address.
    SockAddr pub = me.address;
    pub.set_port(sip_port);
    for (const auto& l : me.sip_listen)
        if (!l.is_any() && !l.is_loopback()) {
            pub = l;
            break;
        }
    if (cfg.cluster.wan_ip) {
        pub = *cfg.cluster.wan_ip;
        pub.set_port(sip_port);
        for (const auto& l : me.sip_listen)
            if (l.same_host(*cfg.cluster.wan_ip))
                s.public_source = l;
    }
    s.proxy.self = me.id;
    s.proxy.via_member = me.id;
    s.proxy.processor = me.processor;
    s.proxy.outer_sent_by = pub;
    s.proxy.rr_host = pub.uri_host();
    s.proxy.rr_port = pub.port() == 5060 ? 0 : pub.port();
    // Facing TCP or TLS, the port of the member's first listener for it not
    // on loopback (the load balancer keeps ports, as for UDP); without one,
    // TCP shares the UDP port and TLS is left at its default.
    // Not a loopback one: the outside cannot come back there.
    auto listener_port = [&](Transport t) -> std::optional<uint16_t> {
        for (const auto& l : me.sip_stream_listen)
            if (l.transport == t && !l.addr.is_loopback())
                return l.addr.port();
        return std::nullopt;
    };
    auto tcp = listener_port(Transport::tcp);
    auto tls = listener_port(Transport::tls);
    s.proxy.rr_tcp_port = !tcp ? s.proxy.rr_port : *tcp == 5060 ? 0 : *tcp;
    s.proxy.rr_tls_port = !tls || *tls == 5061 ? 0 : *tls;
    return s;
}

std::optional<std::string> member_at(const FarmSettings& s, const SockAddr& host) {
    for (const auto& [id, addr] : s.peers)
        if (addr.same_host(host) && addr.port() == host.port())
            return id;
    return std::nullopt;
}

} // namespace rtfarm::cluster
