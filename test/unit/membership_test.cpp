// The membership view with a fake clock: join, death, return, drain, split
// and heal, Auto re-resolution, and the heartbeat codec.
#include "cluster/membership.hpp"

#include <boost/test/unit_test.hpp>

using namespace rtfarm;
using namespace rtfarm::cluster;
using namespace std::chrono_literals;

namespace {

config::ClusterConfig four_members() {
    auto c = config::parse(R"({
      "cluster": {"name": "t", "heartbeat_ms": 200, "dead_after_ms": 1000},
      "members": {
        "f1": {"role": "frontend", "address": "10.0.0.1", "sip_listen": ["0.0.0.0:5060"], "control": "/r/f1"},
        "f2": {"role": "frontend", "address": "10.0.0.2", "sip_listen": ["0.0.0.0:5060"], "control": "/r/f2"},
        "f3": {"role": "frontend", "address": "10.0.0.3", "sip_listen": ["0.0.0.0:5060"], "control": "/r/f3"},
        "b1": {"role": "backend", "address": "10.0.0.21", "sip_listen": [], "control": "/r/b1"}
      }})",
                           "/tmp/membership-test.json");
    BOOST_REQUIRE_MESSAGE(c.ok(), (c.ok() ? "" : c.error().message));
    return c.value();
}

const Clock::time_point T0 = Clock::time_point{} + 1000s;

Heartbeat hb(const std::string& id, uint64_t seq, uint64_t inc = 1, bool draining = false) {
    Heartbeat h;
    h.id = id;
    h.seq = seq;
    h.incarnation = inc;
    h.draining = draining;
    return h;
}

MemberState state(const Membership& m, const char* id) {
    return m.find(id)->state;
}

bool eligible(const Membership& m, const char* id) {
    for (const auto& x : m.farm_view().members)
        if (x.id == id)
            return x.farm_member && x.alive && !x.draining;
    return false;
}

} // namespace

BOOST_AUTO_TEST_SUITE(membership)

BOOST_AUTO_TEST_CASE(members_are_presumed_up_until_silent_for_dead_after) {
    Membership m(four_members(), "f1", 7, T0);
    BOOST_TEST((state(m, "f1") == MemberState::up));
    // Presumed up at start: route as the running cluster does.
    BOOST_TEST((state(m, "f2") == MemberState::up));
    BOOST_TEST(!m.find("f2")->heard);
    uint64_t e0 = m.epoch();
    bool changed = true;
    BOOST_TEST(m.on_heartbeat(hb("f2", 1), T0 + 100ms, &changed));
    BOOST_TEST(!changed); // heard, as presumed: nothing routing cares about
    BOOST_TEST(m.find("f2")->heard);
    BOOST_TEST(m.epoch() == e0);
    // The ones never heard go down after dead_after_ms from the start.
    BOOST_TEST(!m.tick(T0 + 999ms));
    BOOST_TEST(m.tick(T0 + 1000ms));
    BOOST_TEST((state(m, "f3") == MemberState::down));
    BOOST_TEST((state(m, "b1") == MemberState::down));
    BOOST_TEST((state(m, "f2") == MemberState::up)); // heard at 100 ms
    BOOST_TEST(m.epoch() > e0);
    // Heard again after being down: up, a new epoch.
    uint64_t e1 = m.epoch();
    BOOST_TEST(m.on_heartbeat(hb("f3", 1), T0 + 1100ms, &changed));
    BOOST_TEST(changed);
    BOOST_TEST((state(m, "f3") == MemberState::up));
    BOOST_TEST(m.epoch() > e1);
    // Stale, from ourselves, from strangers: ignored.
    BOOST_TEST(!m.on_heartbeat(hb("f2", 1), T0 + 1200ms));
    BOOST_TEST(!m.on_heartbeat(hb("f1", 99), T0 + 1200ms));
    BOOST_TEST(!m.on_heartbeat(hb("zz", 1), T0 + 1200ms));
}

BOOST_AUTO_TEST_CASE(a_silent_member_dies_and_comes_back) {
    Membership m(four_members(), "f1", 1, T0 - 5s);
    m.tick(T0 - 1s); // f2, f3, b1 never heard: down
    m.on_heartbeat(hb("f2", 1), T0);
    m.on_heartbeat(hb("f2", 2), T0 + 200ms);
    BOOST_TEST(!m.tick(T0 + 1100ms)); // 900 ms since the last: still up
    BOOST_TEST((state(m, "f2") == MemberState::up));
    BOOST_TEST(m.tick(T0 + 1200ms)); // dead_after_ms (1000) of silence
    BOOST_TEST((state(m, "f2") == MemberState::down));
    BOOST_TEST(!eligible(m, "f2"));
    // It restarts: a new incarnation starts its seq again.
    BOOST_TEST(m.on_heartbeat(hb("f2", 1, 2), T0 + 5s));
    BOOST_TEST((state(m, "f2") == MemberState::up));
    // The old incarnation's late heartbeats are stale.
    BOOST_TEST(!m.on_heartbeat(hb("f2", 50, 1), T0 + 5100ms));
}

// Issue 17: the incarnation is the wall clock at start. A member restarted
// with its clock behind (boot before NTP, a VM snapshot restored) has a
// lower one, which every peer ignored for ever: it stayed down until they
// restarted. Now a lower incarnation counts once the member has been silent
// for dead_after_ms under the one known, which its restart takes anyway.
BOOST_AUTO_TEST_CASE(a_member_restarted_with_its_clock_behind_comes_back) {
    Membership m(four_members(), "f1", 1, T0 - 5s);
    m.tick(T0 - 1s);
    BOOST_TEST(m.on_heartbeat(hb("f2", 1, 5000), T0));
    BOOST_TEST(m.on_heartbeat(hb("f2", 2, 5000), T0 + 200ms));
    // While the known incarnation still speaks, a lower one is stale (a
    // late or replayed heartbeat of an earlier run).
    BOOST_TEST(!m.on_heartbeat(hb("f2", 1, 4000), T0 + 300ms));
    BOOST_TEST(!m.on_heartbeat(hb("f2", 2, 4000), T0 + 1100ms));
    // Restarted with incarnation 4000: its heartbeats are ignored until
    // the one known has been silent for dead_after_ms, then it is back.
    BOOST_TEST(m.tick(T0 + 1200ms));
    BOOST_TEST((state(m, "f2") == MemberState::down));
    bool changed = false;
    BOOST_TEST(m.on_heartbeat(hb("f2", 3, 4000), T0 + 1300ms, &changed));
    BOOST_TEST(changed);
    BOOST_TEST((state(m, "f2") == MemberState::up));
    BOOST_TEST(m.find("f2")->incarnation == 4000u);
    // From then on, the new run's order holds.
    BOOST_TEST(!m.on_heartbeat(hb("f2", 3, 4000), T0 + 1400ms));
    BOOST_TEST(m.on_heartbeat(hb("f2", 4, 4000), T0 + 1500ms));
    // Silent long enough without a tick in between counts the same.
    BOOST_TEST(m.on_heartbeat(hb("f2", 1, 3000), T0 + 2600ms));
    BOOST_TEST(m.find("f2")->incarnation == 3000u);
}

BOOST_AUTO_TEST_CASE(drain_keeps_dialogs_but_takes_no_new_call_ids) {
    Membership m(four_members(), "f1", 1, T0);
    m.on_heartbeat(hb("f2", 1), T0);
    BOOST_TEST(eligible(m, "f2"));
    m.on_heartbeat(hb("f2", 2, 1, true), T0 + 200ms);
    BOOST_TEST((state(m, "f2") == MemberState::draining));
    BOOST_TEST(!eligible(m, "f2"));
    auto v = m.farm_view();
    BOOST_TEST(v.find("f2")->alive); // still reachable for its dialogs
    // Ourselves.
    BOOST_TEST(m.set_draining(true));
    BOOST_TEST(m.self_heartbeat().draining);
    BOOST_TEST(!eligible(m, "f1"));
    BOOST_TEST(m.set_draining(false));
    BOOST_TEST(eligible(m, "f1"));
}

BOOST_AUTO_TEST_CASE(backend_auto_follows_the_members_that_are_up) {
    Membership m(four_members(), "b1", 1, T0 - 5s);
    // Frontends presumed up at start: Relay.
    BOOST_TEST((m.effective()[3].sip_farm == config::SipFarm::relay));
    m.tick(T0 - 1s);
    // Alone: no Member up, so the backend's auto SIP Farm is Disabled.
    BOOST_TEST((m.effective()[3].sip_farm == config::SipFarm::disabled));
    BOOST_TEST(!m.farm_view().self_relay);
    // The first Member appears: Relay.
    m.on_heartbeat(hb("f2", 1), T0 + 100ms);
    BOOST_TEST((m.effective()[3].sip_farm == config::SipFarm::relay));
    BOOST_TEST(m.farm_view().self_relay);
    // It dies: Disabled again.
    m.tick(T0 + 1200ms);
    BOOST_TEST((m.effective()[3].sip_farm == config::SipFarm::disabled));
    // A frontend set to disabled at run time is no Member either.
    Heartbeat h = hb("f3", 1);
    h.sip_farm = config::SipFarm::disabled;
    m.on_heartbeat(h, T0 + 1300ms);
    BOOST_TEST((m.effective()[3].sip_farm == config::SipFarm::disabled));
    h.seq = 2;
    h.sip_farm = config::SipFarm::automatic;
    m.on_heartbeat(h, T0 + 1400ms);
    BOOST_TEST((m.effective()[3].sip_farm == config::SipFarm::relay));
}

BOOST_AUTO_TEST_CASE(split_and_heal) {
    // f1 and f2 hear each other; f3 hears nobody for a while.
    Membership a(four_members(), "f1", 1, T0), c(four_members(), "f3", 1, T0);
    for (int i = 0; i < 3; ++i) {
        auto t = T0 + std::chrono::milliseconds(200 * i);
        a.on_heartbeat(hb("f2", static_cast<uint64_t>(i + 1)), t);
        a.on_heartbeat(hb("f3", static_cast<uint64_t>(i + 1)), t);
        c.on_heartbeat(hb("f1", static_cast<uint64_t>(i + 1)), t);
        c.on_heartbeat(hb("f2", static_cast<uint64_t>(i + 1)), t);
    }
    // The split: from t=400ms on, nothing crosses between {f1,f2} and {f3}.
    for (int i = 3; i < 10; ++i) {
        auto t = T0 + std::chrono::milliseconds(200 * i);
        a.on_heartbeat(hb("f2", static_cast<uint64_t>(i + 1)), t);
        a.tick(t);
        c.tick(t);
    }
    BOOST_TEST((state(a, "f3") == MemberState::down));
    BOOST_TEST((state(c, "f1") == MemberState::down));
    BOOST_TEST((state(c, "f2") == MemberState::down));
    // Each side routes new Call-IDs among what it sees.
    BOOST_TEST(sip::rendezvous_owner("x", c.farm_view()) == "f3");
    // Heal.
    auto t = T0 + 3s;
    a.on_heartbeat(hb("f3", 20), t);
    c.on_heartbeat(hb("f1", 20), t);
    c.on_heartbeat(hb("f2", 20), t);
    BOOST_TEST((state(a, "f3") == MemberState::up));
    BOOST_TEST((state(c, "f1") == MemberState::up));
    // Healed views agree on every owner.
    for (int i = 0; i < 50; ++i) {
        std::string cid = "call-" + std::to_string(i);
        BOOST_TEST(sip::rendezvous_owner(cid, a.farm_view()) ==
                   sip::rendezvous_owner(cid, c.farm_view()));
    }
}

BOOST_AUTO_TEST_CASE(reconfigure_adds_and_removes_members) {
    Membership m(four_members(), "f1", 1, T0);
    m.on_heartbeat(hb("f2", 1), T0);
    auto cfg = four_members();
    cfg.members.erase(cfg.members.begin() + 2); // f3 goes
    m.reconfigure(cfg);
    BOOST_TEST(m.find("f3") == nullptr);
    BOOST_TEST((state(m, "f2") == MemberState::up)); // kept what was heard
    BOOST_TEST(m.members().size() == 3u);
}

BOOST_AUTO_TEST_CASE(older_peers_are_told_apart_by_their_incarnation) {
    // We started at wall-clock 10000 ms.
    Membership m(four_members(), "f1", 10000, T0);
    BOOST_TEST(!m.has_older_peer(500ms));   // nobody heard yet
    m.on_heartbeat(hb("f2", 1, 9800), T0);  // started 200 ms before us
    m.on_heartbeat(hb("f3", 1, 12000), T0); // after us
    BOOST_TEST(!m.has_older_peer(500ms));
    m.on_heartbeat(hb("b1", 1, 4000), T0); // 6 s before us: it ran without us
    BOOST_TEST(m.has_older_peer(500ms));
    m.tick(T0 + 5s); // all silent: down ones do not count
    BOOST_TEST(!m.has_older_peer(500ms));
}

BOOST_AUTO_TEST_CASE(heartbeat_codec) {
    Heartbeat h = hb("f2", 42, 1700000000123ULL, true);
    h.sip_farm = config::SipFarm::member;
    h.call_legs = config::Placement::locally_for_others;
    h.load = 17;
    auto back = decode_heartbeat(encode_heartbeat(h));
    BOOST_REQUIRE(back.ok());
    BOOST_TEST((back.value() == h));
    // With the busiest sources of new requests (flood.hpp).
    h.sources = {{"198.51.100.66", 150}, {"2001:db8::1", 20}};
    back = decode_heartbeat(encode_heartbeat(h));
    BOOST_REQUIRE(back.ok());
    BOOST_TEST((back.value() == h));
    const std::string base = "{\"hb\":1,\"id\":\"f2\",\"inc\":1,\"seq\":1,\"draining\":false,"
                             "\"sip_farm\":\"auto\",\"call_legs\":\"auto\",\"signals\":\"auto\","
                             "\"load\":0";
    BOOST_TEST(decode_heartbeat(base + "}").ok());
    std::string many = ",\"flood\":[";
    for (size_t i = 0; i <= FloodGuard::MAX_REPORTED; ++i)
        many += std::string(i ? "," : "") + "[\"192.0.2.1\",1]";
    for (const std::string& bad :
         {base + ",\"flood\":{}}", base + ",\"flood\":[[\"no address\",1]]}",
          base + ",\"flood\":[[\"192.0.2.1\",-1]]}", base + ",\"flood\":[[\"192.0.2.1\"]]}",
          base + many + "]}"})
        BOOST_TEST(!decode_heartbeat(bad).ok(), bad);
    for (const char* bad :
         {"", "{}", "[1]", "{\"hb\":1,\"id\":\"f2\"}", "not json",
          "{\"hb\":1,\"id\":\"f2\",\"inc\":1,\"seq\":1,\"draining\":false,"
          "\"sip_farm\":\"boss\",\"call_legs\":\"auto\",\"signals\":\"auto\",\"load\":0}",
          "{\"hb\":1,\"id\":\"f2\",\"inc\":-1,\"seq\":1,\"draining\":false,"
          "\"sip_farm\":\"auto\",\"call_legs\":\"auto\",\"signals\":\"auto\",\"load\":0}"}) {
        auto r = decode_heartbeat(bad);
        BOOST_TEST(!r.ok(), bad);
        if (!r.ok())
            BOOST_TEST(r.error().code == "bad_heartbeat");
    }
}

BOOST_AUTO_TEST_CASE(members_json_has_the_contract_fields) {
    Membership m(four_members(), "f1", 1, T0 - 500ms);
    m.on_heartbeat(hb("f2", 1), T0);
    m.tick(T0 + 500ms); // f3 and b1 never heard: down
    auto j = m.to_json();
    BOOST_TEST(j["epoch"].as_integer().value_or(0) >= 1);
    auto f2 = j["members"].at(1);
    BOOST_TEST(f2["id"].as_string().value_or("") == "f2");
    BOOST_TEST(f2["state"].as_string().value_or("") == "up");
    BOOST_TEST(f2["heard"].as_bool().value_or(false));
    BOOST_TEST(f2["sip_farm"].as_string().value_or("") == "member");
    BOOST_TEST(f2["call_legs"].as_string().value_or("") == "locally-for-others");
    BOOST_TEST(f2["configured"]["sip_farm"].as_string().value_or("") == "auto");
    BOOST_TEST(j["members"].at(2)["state"].as_string().value_or("") == "down");
}

BOOST_AUTO_TEST_SUITE_END()
