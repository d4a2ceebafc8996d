// Auto resolution of a member's SIP Farm, Call Legs and Signals settings
// (rtfarm.conf(5), the members' modes): what `auto` means for a standalone
// server, a frontend and a backend. Pure functions over the config; they do not know
// which members are alive (the membership view passes that in through
// `some_member_is_member`), and they do not choose a member for placement.
#pragma once

#include "config/config.hpp"

#include <string>
#include <vector>

namespace rtfarm::cluster {

// SIP Farm `auto`: standalone -> disabled, frontend -> member, backend -> relay
// when some other member's effective mode is member, else disabled. An explicit
// setting stays as configured, whatever the role.
config::SipFarm effective_sip_farm(config::Role role, config::SipFarm configured,
                                   bool some_member_is_member);

// Call Legs / Signals `auto`: standalone -> locally, frontend ->
// locally-for-others, backend -> remotely. An explicit setting stays.
config::Placement effective_placement(config::Role role, config::Placement configured);

struct EffectiveModes {
    std::string id;
    config::SipFarm sip_farm = config::SipFarm::disabled;
    config::Placement call_legs = config::Placement::locally;
    config::Placement signals = config::Placement::locally;

    bool operator==(const EffectiveModes&) const = default;
};

// Every member's effective modes, in config order, as if all were alive.
std::vector<EffectiveModes> resolve_all(const config::ClusterConfig& cfg);

} // namespace rtfarm::cluster
