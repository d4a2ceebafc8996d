#include "cluster/modes.hpp"

namespace rtfarm::cluster {

using config::Placement;
using config::Role;
using config::SipFarm;

SipFarm effective_sip_farm(Role role, SipFarm configured, bool some_member_is_member) {
    if (configured != SipFarm::automatic)
        return configured;
    switch (role) {
    case Role::standalone:
        return SipFarm::disabled;
    case Role::frontend:
        return SipFarm::member;
    case Role::backend:
        return some_member_is_member ? SipFarm::relay : SipFarm::disabled;
    }
    return SipFarm::disabled;
}

Placement effective_placement(Role role, Placement configured) {
    if (configured != Placement::automatic)
        return configured;
    switch (role) {
    case Role::standalone:
        return Placement::locally;
    case Role::frontend:
        return Placement::locally_for_others;
    case Role::backend:
        return Placement::remotely;
    }
    return Placement::locally;
}

std::vector<EffectiveModes> resolve_all(const config::ClusterConfig& cfg) {
    // A member's own effective mode never depends on others unless it is an
    // `auto` backend, and that never resolves to member: so the members that
    // are Member are known from everyone's mode resolved without the others.
    // A standalone server is not a Dynamic Cluster member: whatever it is set
    // to, it is no farm Member for the others.
    std::vector<bool> is_member;
    for (const auto& m : cfg.members)
        is_member.push_back(m.role != config::Role::standalone &&
                            effective_sip_farm(m.role, m.sip_farm, false) == SipFarm::member);

    std::vector<EffectiveModes> out;
    for (size_t i = 0; i < cfg.members.size(); ++i) {
        const auto& m = cfg.members[i];
        bool other_member = false;
        for (size_t j = 0; j < cfg.members.size(); ++j)
            if (j != i && is_member[j])
                other_member = true;
        out.push_back({m.id, effective_sip_farm(m.role, m.sip_farm, other_member),
                       effective_placement(m.role, m.call_legs),
                       effective_placement(m.role, m.signals)});
    }
    return out;
}

} // namespace rtfarm::cluster
