// cluster::FarmKeys: which secret a member signs its farm link packets with
// during a key rotation (rtfarm.conf(5), "Rotating the secret"), and the
// heartbeat field that tells the others what it holds.
#include "base/crypto.hpp"
#include "cluster/farm_keys.hpp"
#include "cluster/membership.hpp"
#include "sip/farm_link.hpp"
#include "sip/route.hpp"

#include <boost/test/unit_test.hpp>

using namespace rtfarm;
using namespace rtfarm::cluster;

namespace {

const std::string OLD = "the secret every member had, 32 bytes or more";
const std::string NEW = "the secret the farm moves to, as long as that";

MemberStatus member(std::string id, MemberState state, std::vector<std::string> keys) {
    MemberStatus m;
    m.id = std::move(id);
    m.state = state;
    m.heard = !keys.empty();
    m.keys = std::move(keys);
    return m;
}

} // namespace

BOOST_AUTO_TEST_SUITE(farm_keys)

BOOST_AUTO_TEST_CASE(one_secret_signs_and_checks_alone) {
    FarmKeys none;
    BOOST_TEST(none.empty());
    BOOST_TEST(!none.signing());
    BOOST_TEST(none.check_order().empty());
    FarmKeys one({OLD});
    BOOST_REQUIRE(one.signing());
    BOOST_TEST(one.signing()->id == crypto::key_id(OLD));
    BOOST_TEST((one.signing()->route == sip::route_key(OLD)));
    BOOST_TEST(!one.choose({member("f2", MemberState::up, {})}, "f1"));
    BOOST_TEST(one.signing()->secret == OLD);
    BOOST_TEST(one.check_order() == std::vector<std::string>{OLD});
}

BOOST_AUTO_TEST_CASE(the_new_secret_signs_once_every_member_up_holds_it) {
    const std::string old_id = crypto::key_id(OLD), new_id = crypto::key_id(NEW);
    BOOST_TEST(old_id != new_id);
    BOOST_TEST(old_id.size() == 16u);
    FarmKeys keys({NEW, OLD});
    BOOST_TEST(keys.ids() == (std::vector<std::string>{new_id, old_id}));
    // Until told otherwise: the previous secret, which every member checks.
    BOOST_TEST(keys.signing()->secret == OLD);
    BOOST_TEST(keys.check_order() == (std::vector<std::string>{OLD, NEW}));
    std::vector<MemberStatus> farm = {member("f1", MemberState::up, {new_id, old_id}),
                                      member("f2", MemberState::up, {old_id}),
                                      member("f3", MemberState::up, {})};
    // f2 has not reloaded, f3 was not heard yet: the old secret still.
    BOOST_TEST(!keys.choose(farm, "f1"));
    farm[1].keys = {new_id, old_id};
    BOOST_TEST(!keys.choose(farm, "f1"));
    // f3 is down: it does not hold the rotation back.
    farm[2].state = MemberState::down;
    BOOST_TEST(keys.choose(farm, "f1"));
    BOOST_TEST(keys.signing()->secret == NEW);
    BOOST_TEST(keys.check_order() == (std::vector<std::string>{NEW, OLD}));
    BOOST_TEST(!keys.choose(farm, "f1")); // no change, no news
    // f3 comes back with the old secret alone: back to the old one, which
    // it can check (and whose heartbeats we still take).
    farm[2] = member("f3", MemberState::up, {old_id});
    BOOST_TEST(keys.choose(farm, "f1"));
    BOOST_TEST(keys.signing()->secret == OLD);
    // A draining member counts: it still serves calls over the farm link.
    farm[2] = member("f3", MemberState::draining, {new_id});
    BOOST_TEST(keys.choose(farm, "f1"));
    BOOST_TEST(keys.signing()->secret == NEW);
}

BOOST_AUTO_TEST_CASE(heartbeats_carry_the_ids_of_the_secrets_held) {
    Heartbeat hb;
    hb.id = "f1";
    hb.incarnation = 7;
    hb.seq = 3;
    hb.keys = {crypto::key_id(NEW), crypto::key_id(OLD)};
    auto back = decode_heartbeat(encode_heartbeat(hb));
    BOOST_REQUIRE(back.ok());
    BOOST_TEST((*back == hb));
    // Without the field (no secret): none.
    hb.keys.clear();
    BOOST_TEST(encode_heartbeat(hb).find("keys") == std::string::npos);
    BOOST_TEST(decode_heartbeat(encode_heartbeat(hb))->keys.empty());
    // Bounded and checked: a sender cannot make us store what it likes.
    std::string base = encode_heartbeat(hb);
    base.pop_back(); // the closing brace
    for (
        const char* bad :
        {R"("keys":"0123456789abcdef")", R"("keys":["0123456789ABCDEF"])", R"("keys":["0123"])",
         R"("keys":[1])",
         R"("keys":["0123456789abcdef","0123456789abcdef","0123456789abcdef","0123456789abcdef","0123456789abcdef"])"}) {
        auto r = decode_heartbeat(base + "," + bad + "}");
        BOOST_TEST(!r.ok(), bad);
    }
}

BOOST_AUTO_TEST_CASE(membership_remembers_what_each_member_holds) {
    auto cfg = config::parse(R"({"cluster": {"name": "c"}, "members": {
        "f1": {"role": "frontend", "address": "127.0.0.1", "sip_listen": ["0.0.0.0:5060"], "control": "/r/f1"},
        "f2": {"role": "frontend", "address": "127.0.0.2", "sip_listen": ["0.0.0.0:5060"], "control": "/r/f2"}}})",
                             "/tmp/farm-keys-test.json");
    BOOST_REQUIRE_MESSAGE(cfg.ok(), (cfg.ok() ? "" : cfg.error().message));
    auto now = Clock::now();
    Membership m(*cfg, "f1", 1, now);
    m.set_keys({crypto::key_id(NEW)});
    BOOST_TEST(m.self_heartbeat().keys == std::vector<std::string>{crypto::key_id(NEW)});
    Heartbeat hb;
    hb.id = "f2";
    hb.incarnation = 5;
    hb.seq = 1;
    hb.keys = {crypto::key_id(OLD)};
    BOOST_REQUIRE(m.on_heartbeat(hb, now));
    BOOST_TEST(m.find("f2")->keys == hb.keys);
    auto j = m.to_json();
    BOOST_TEST(j["members"].at(1)["keys"].at(0).as_string().value_or("") == crypto::key_id(OLD));
}

BOOST_AUTO_TEST_CASE(the_farm_link_takes_a_packet_under_any_secret_held) {
    sip::FarmEnvelope env;
    env.source = SockAddr::parse("198.51.100.10:5060").value();
    env.destination = SockAddr::parse("203.0.113.1:5060").value();
    env.sender = "f2";
    env.to = "f1";
    env.receiver = "f2";
    std::string under_old = sip::encode_farm_packet(env, "SIP/2.0 200 OK\r\n\r\n", OLD);
    std::string under_new = sip::encode_farm_packet(env, "SIP/2.0 200 OK\r\n\r\n", NEW);
    std::string under_other = sip::encode_farm_packet(env, "SIP/2.0 200 OK\r\n\r\n", "another");
    const std::vector<std::string> both = {NEW, OLD};
    BOOST_TEST(sip::decode_farm_packet(under_old, both).ok());
    BOOST_TEST(sip::decode_farm_packet(under_new, both).ok());
    auto r = sip::decode_farm_packet(under_other, both);
    BOOST_REQUIRE(!r.ok());
    BOOST_TEST(r.error().code == "farm_bad_mac");
    // One secret: the other's packets are refused.
    BOOST_TEST(sip::decode_farm_packet(under_new, OLD).error().code == "farm_bad_mac");
}

BOOST_AUTO_TEST_SUITE_END()
