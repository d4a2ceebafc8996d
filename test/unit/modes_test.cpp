// Auto resolution (rtfarm.conf(5), the members' modes): every role against every
// setting, and the backend's dependence on whether some member is Member.
#include "cluster/modes.hpp"

#include <boost/test/unit_test.hpp>

#include <string>

using namespace rtfarm;
using config::Placement;
using config::Role;
using config::SipFarm;

namespace {

struct SipFarmCase {
    Role role;
    SipFarm configured;
    bool some_member;
    SipFarm want;
};

struct PlacementCase {
    Role role;
    Placement configured;
    Placement want;
};

std::string text(Role r) {
    return std::string(config::to_string(r));
}

} // namespace

BOOST_AUTO_TEST_SUITE(modes)

BOOST_AUTO_TEST_CASE(sip_farm_every_role_and_setting) {
    const SipFarmCase cases[] = {
        // auto
        {Role::standalone, SipFarm::automatic, false, SipFarm::disabled},
        {Role::standalone, SipFarm::automatic, true, SipFarm::disabled},
        {Role::frontend, SipFarm::automatic, false, SipFarm::member},
        {Role::frontend, SipFarm::automatic, true, SipFarm::member},
        {Role::backend, SipFarm::automatic, false, SipFarm::disabled},
        {Role::backend, SipFarm::automatic, true, SipFarm::relay},
        // explicit settings stay, whatever the role
        {Role::standalone, SipFarm::member, false, SipFarm::member},
        {Role::standalone, SipFarm::member, true, SipFarm::member},
        {Role::standalone, SipFarm::disabled, true, SipFarm::disabled},
        {Role::standalone, SipFarm::relay, false, SipFarm::relay},
        {Role::standalone, SipFarm::relay, true, SipFarm::relay},
        {Role::frontend, SipFarm::member, false, SipFarm::member},
        {Role::frontend, SipFarm::disabled, false, SipFarm::disabled},
        {Role::frontend, SipFarm::disabled, true, SipFarm::disabled},
        {Role::frontend, SipFarm::relay, false, SipFarm::relay},
        {Role::frontend, SipFarm::relay, true, SipFarm::relay},
        {Role::backend, SipFarm::member, false, SipFarm::member},
        {Role::backend, SipFarm::member, true, SipFarm::member},
        {Role::backend, SipFarm::disabled, false, SipFarm::disabled},
        {Role::backend, SipFarm::disabled, true, SipFarm::disabled},
        {Role::backend, SipFarm::relay, false, SipFarm::relay},
        {Role::backend, SipFarm::relay, true, SipFarm::relay},
    };
    for (const auto& c : cases)
        BOOST_TEST_CONTEXT(text(c.role) << " " << config::to_string(c.configured)
                                        << " some_member=" << c.some_member) {
            BOOST_TEST(
                (cluster::effective_sip_farm(c.role, c.configured, c.some_member) == c.want));
        }
}

BOOST_AUTO_TEST_CASE(placement_every_role_and_setting) {
    const PlacementCase cases[] = {
        {Role::standalone, Placement::automatic, Placement::locally},
        {Role::frontend, Placement::automatic, Placement::locally_for_others},
        {Role::backend, Placement::automatic, Placement::remotely},
        {Role::standalone, Placement::locally, Placement::locally},
        {Role::standalone, Placement::locally_for_others, Placement::locally_for_others},
        {Role::standalone, Placement::remotely, Placement::remotely},
        {Role::frontend, Placement::locally, Placement::locally},
        {Role::frontend, Placement::locally_for_others, Placement::locally_for_others},
        {Role::frontend, Placement::remotely, Placement::remotely},
        {Role::backend, Placement::locally, Placement::locally},
        {Role::backend, Placement::locally_for_others, Placement::locally_for_others},
        {Role::backend, Placement::remotely, Placement::remotely},
    };
    for (const auto& c : cases)
        BOOST_TEST_CONTEXT(text(c.role) << " " << config::to_string(c.configured)) {
            BOOST_TEST((cluster::effective_placement(c.role, c.configured) == c.want));
        }
}

BOOST_AUTO_TEST_CASE(resolve_all_uses_the_other_members) {
    auto member = [](std::string id, Role role, SipFarm sf) {
        config::MemberConfig m;
        m.id = std::move(id);
        m.role = role;
        m.sip_farm = sf;
        return m;
    };
    config::ClusterConfig cfg;
    cfg.members = {member("f1", Role::frontend, SipFarm::automatic),
                   member("b1", Role::backend, SipFarm::automatic),
                   member("s1", Role::standalone, SipFarm::automatic)};
    cfg.members[2].call_legs = Placement::locally_for_others;
    auto modes = cluster::resolve_all(cfg);
    BOOST_REQUIRE(modes.size() == 3u);
    BOOST_TEST(
        (modes[0] == cluster::EffectiveModes{"f1", SipFarm::member, Placement::locally_for_others,
                                             Placement::locally_for_others}));
    BOOST_TEST((modes[1] == cluster::EffectiveModes{"b1", SipFarm::relay, Placement::remotely,
                                                    Placement::remotely}));
    BOOST_TEST(
        (modes[2] == cluster::EffectiveModes{"s1", SipFarm::disabled, Placement::locally_for_others,
                                             Placement::locally}));

    // Without a Member, the auto backend processes its own SIP.
    cfg.members[0].sip_farm = SipFarm::disabled;
    modes = cluster::resolve_all(cfg);
    BOOST_TEST((modes[1].sip_farm == SipFarm::disabled));

    // An explicit member on a standalone stays as configured for itself, but a
    // standalone server is not in the Dynamic Cluster: no Member for the backend.
    cfg.members[2].sip_farm = SipFarm::member;
    modes = cluster::resolve_all(cfg);
    BOOST_TEST((modes[2].sip_farm == SipFarm::member));
    BOOST_TEST((modes[1].sip_farm == SipFarm::disabled));

    // A backend explicitly set to member is the Member another backend's
    // auto relays through.
    config::ClusterConfig lone;
    lone.members = {member("b1", Role::backend, SipFarm::member),
                    member("b2", Role::backend, SipFarm::automatic)};
    modes = cluster::resolve_all(lone);
    BOOST_TEST((modes[0].sip_farm == SipFarm::member));
    BOOST_TEST((modes[1].sip_farm == SipFarm::relay));
}

BOOST_AUTO_TEST_SUITE_END()
