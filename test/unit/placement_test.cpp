// Call Leg and Signal placement: FROM's mode decides, Remotely picks a host
// among the members up with locally-for-others (by the key's rendezvous hash
// or by least load), and a host that dies hands its keys to the next one.
// Tables over modes and states, and a fake clock for death and return.
#include "cluster/placement.hpp"

#include "sip/route.hpp"

#include <boost/test/unit_test.hpp>

#include <map>

using namespace rtfarm;
using namespace rtfarm::cluster;
using namespace std::chrono_literals;
using config::Placement;
using config::Role;

namespace {

PlacementMember member(const std::string& id, Role role, MemberState state, Placement legs,
                       Placement signals, uint32_t load = 0) {
    return {id, role, state, legs, signals, load};
}

// Three frontends serving others, a backend that creates remotely.
PlacementView farm() {
    PlacementView v;
    v.epoch = 3;
    for (const char* id : {"f1", "f2", "f3"})
        v.members.push_back(member(id, Role::frontend, MemberState::up,
                                   Placement::locally_for_others, Placement::locally_for_others));
    v.members.push_back(
        member("b1", Role::backend, MemberState::up, Placement::remotely, Placement::remotely));
    return v;
}

PlacementMember* find(PlacementView& v, const std::string& id) {
    for (auto& m : v.members)
        if (m.id == id)
            return &m;
    BOOST_FAIL("no member " + id);
    return nullptr;
}

PlacementRequest leg(const std::string& from, const std::string& key = "") {
    return {ObjectKind::call_leg, from, key};
}

config::ClusterConfig four_members() {
    auto c = config::parse(R"({
      "cluster": {"name": "t", "heartbeat_ms": 200, "dead_after_ms": 1000},
      "members": {
        "f1": {"role": "frontend", "address": "10.0.0.1", "sip_listen": ["0.0.0.0:5060"], "control": "/r/f1"},
        "f2": {"role": "frontend", "address": "10.0.0.2", "sip_listen": ["0.0.0.0:5060"], "control": "/r/f2"},
        "f3": {"role": "frontend", "address": "10.0.0.3", "sip_listen": ["0.0.0.0:5060"], "control": "/r/f3"},
        "b1": {"role": "backend", "address": "10.0.0.21", "sip_listen": [], "control": "/r/b1"}
      }})",
                           "/tmp/placement-test.json");
    BOOST_REQUIRE_MESSAGE(c.ok(), (c.ok() ? "" : c.error().message));
    return c.value();
}

const Clock::time_point T0 = Clock::time_point{} + 1000s;

Heartbeat hb(const std::string& id, uint64_t seq, uint64_t inc = 1) {
    Heartbeat h;
    h.id = id;
    h.seq = seq;
    h.incarnation = inc;
    return h;
}

} // namespace

BOOST_AUTO_TEST_SUITE(placement)

BOOST_AUTO_TEST_CASE(from_mode_decides_local_or_remote) {
    // FROM's own mode, whatever FROM's state: locally and locally-for-others
    // keep the object on FROM; remotely sends it to a frontend.
    struct Row {
        Placement mode;
        MemberState state;
        bool local;
    };
    const Row rows[] = {
        {Placement::locally, MemberState::up, true},
        {Placement::locally, MemberState::draining, true},
        {Placement::locally, MemberState::down, true},
        {Placement::locally_for_others, MemberState::up, true},
        {Placement::locally_for_others, MemberState::draining, true},
        {Placement::remotely, MemberState::up, false},
        {Placement::remotely, MemberState::draining, false},
        {Placement::remotely, MemberState::down, false},
    };
    for (const auto& r : rows) {
        for (ObjectKind kind : {ObjectKind::call_leg, ObjectKind::signal}) {
            auto v = farm();
            auto* b1 = find(v, "b1");
            b1->state = r.state;
            (kind == ObjectKind::call_leg ? b1->call_legs : b1->signals) = r.mode;
            for (const std::string key : {"", "call-1"}) {
                auto d = place({kind, "b1", key}, v);
                std::string what = std::string(config::to_string(r.mode)) + "/" +
                                   std::string(to_string(r.state)) + "/" +
                                   std::string(to_string(kind)) + "/key=" + key;
                BOOST_REQUIRE_MESSAGE(d.ok(), what << ": " << (d.ok() ? "" : d.error().message));
                BOOST_TEST((d->mode == r.mode), what);
                BOOST_TEST(d->from == "b1");
                BOOST_TEST((d->kind == kind));
                BOOST_TEST(d->key == key);
                if (r.local) {
                    BOOST_TEST(d->member == "b1", what);
                    BOOST_TEST((d->reason == PlacementReason::locally), what);
                    BOOST_TEST(d->candidates.empty(), what);
                } else {
                    BOOST_TEST(d->member != "b1", what);
                    BOOST_TEST(d->member.front() == 'f', what);
                    BOOST_TEST((d->reason == (key.empty() ? PlacementReason::least_load
                                                          : PlacementReason::hash)),
                               what);
                    BOOST_TEST(d->candidates.size() == 3u, what);
                }
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(a_host_must_be_up_serve_others_and_not_be_standalone) {
    // One possible host h1 in every combination of role, state and mode: it
    // is chosen exactly when it is a frontend or backend, up, and
    // locally-for-others for the kind asked.
    const Role roles[] = {Role::frontend, Role::backend, Role::standalone};
    const MemberState states[] = {MemberState::up, MemberState::draining, MemberState::down};
    const Placement modes[] = {Placement::locally, Placement::locally_for_others,
                               Placement::remotely};
    for (Role role : roles)
        for (MemberState state : states)
            for (Placement mode : modes)
                for (ObjectKind kind : {ObjectKind::call_leg, ObjectKind::signal}) {
                    PlacementView v;
                    // h1's mode for the other kind is always locally-for-others:
                    // the kinds are placed independently.
                    Placement legs =
                        kind == ObjectKind::call_leg ? mode : Placement::locally_for_others;
                    Placement signals =
                        kind == ObjectKind::signal ? mode : Placement::locally_for_others;
                    v.members.push_back(member("h1", role, state, legs, signals));
                    v.members.push_back(member("b1", Role::backend, MemberState::up,
                                               Placement::remotely, Placement::remotely));
                    bool host = role != Role::standalone && state == MemberState::up &&
                                mode == Placement::locally_for_others;
                    std::string what = std::string(config::to_string(role)) + "/" +
                                       std::string(to_string(state)) + "/" +
                                       std::string(config::to_string(mode)) + "/" +
                                       std::string(to_string(kind));
                    for (const std::string key : {"", "k"}) {
                        auto d = place({kind, "b1", key}, v);
                        if (host) {
                            BOOST_REQUIRE_MESSAGE(d.ok(), what);
                            BOOST_TEST(d->member == "h1", what);
                        } else {
                            BOOST_REQUIRE_MESSAGE(!d.ok(), what);
                            BOOST_TEST(d.error().code == "no_placement", what);
                        }
                    }
                }
}

BOOST_AUTO_TEST_CASE(no_host_is_an_error_that_says_why) {
    auto v = farm();
    find(v, "f1")->state = MemberState::down;
    find(v, "f2")->state = MemberState::draining;
    find(v, "f3")->call_legs = Placement::locally;
    auto d = place(leg("b1", "c"), v);
    BOOST_REQUIRE(!d.ok());
    BOOST_TEST(d.error().code == "no_placement");
    BOOST_TEST(d.error().message.find("b1 creates call legs remotely") != std::string::npos,
               d.error().message);
    BOOST_TEST(d.error().message.find("f1 is down, f2 is draining") != std::string::npos,
               d.error().message);
    // f3 hosts signals still.
    auto s = place({ObjectKind::signal, "b1", "c"}, v);
    BOOST_REQUIRE(s.ok());
    BOOST_TEST(s->member == "f3");

    // Nobody serves others at all: the config's mistake, said as check says it.
    for (auto& m : v.members)
        if (m.id != "b1")
            m.call_legs = Placement::locally;
    auto none = place(leg("b1"), v);
    BOOST_REQUIRE(!none.ok());
    BOOST_TEST(none.error().message.find("no member's call_legs is locally-for-others") !=
                   std::string::npos,
               none.error().message);
    // Not even FROM itself is a fallback.
    BOOST_TEST(none.error().message.find("b1 creates call legs remotely") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(unknown_from_is_a_bad_request) {
    auto d = place(leg("zz"), farm());
    BOOST_REQUIRE(!d.ok());
    BOOST_TEST(d.error().code == "bad_request");
    BOOST_TEST(d.error().message.find("'zz'") != std::string::npos, d.error().message);
    BOOST_TEST(d.error().message.find("f1 f2 f3 b1") != std::string::npos, d.error().message);
}

BOOST_AUTO_TEST_CASE(hash_agrees_with_sip_routing_and_spreads) {
    // With the same members, a Call-ID's call leg goes where its SIP goes.
    auto v = farm();
    sip::FarmView fv;
    for (const char* id : {"f1", "f2", "f3"}) {
        sip::FarmView::Member m;
        m.id = id;
        m.farm_member = true;
        fv.members.push_back(m);
    }
    std::map<std::string, int> count;
    for (int i = 0; i < 900; ++i) {
        std::string cid = "call-" + std::to_string(i) + "@example.com";
        auto d = place(leg("b1", cid), v);
        BOOST_REQUIRE(d.ok());
        BOOST_TEST(d->member == sip::rendezvous_owner(cid, fv), cid);
        ++count[d->member];
        // The same question, the same answer.
        BOOST_TEST(place(leg("b1", cid), v)->member == d->member);
    }
    for (const char* id : {"f1", "f2", "f3"})
        BOOST_TEST(count[id] > 200, id << " got " << count[id]);
}

BOOST_AUTO_TEST_CASE(least_load_without_a_key) {
    auto v = farm();
    find(v, "f1")->load = 5;
    find(v, "f2")->load = 3;
    find(v, "f3")->load = 7;
    auto d = place(leg("b1"), v);
    BOOST_REQUIRE(d.ok());
    BOOST_TEST(d->member == "f2");
    BOOST_TEST((d->reason == PlacementReason::least_load));
    // f2 goes down: the next least loaded.
    find(v, "f2")->state = MemberState::down;
    BOOST_TEST(place(leg("b1"), v)->member == "f1");

    // Equal loads: ranked by the rendezvous hash of FROM, so the answer is
    // stable, and is among the least loaded.
    auto tie = farm();
    find(tie, "f3")->load = 1;
    auto a = place(leg("b1"), tie);
    BOOST_REQUIRE(a.ok());
    BOOST_TEST((a->member == "f1" || a->member == "f2"), a->member);
    BOOST_TEST(place(leg("b1"), tie)->member == a->member);
    // Two backends do not all pile on one frontend when loads are equal.
    auto many = farm();
    std::map<std::string, int> preferred;
    for (int i = 0; i < 30; ++i) {
        std::string id = "b" + std::to_string(i + 10);
        many.members.push_back(
            member(id, Role::backend, MemberState::up, Placement::remotely, Placement::remotely));
        ++preferred[place(leg(id), many)->member];
    }
    BOOST_TEST(preferred.size() == 3u);
}

BOOST_AUTO_TEST_CASE(the_chosen_host_dies_and_the_next_call_picks_another) {
    // b1's own view, with a fake clock: f1-f3 heartbeat, then the host chosen
    // for a Call-ID stops answering.
    Membership m(four_members(), "b1", 1, T0);
    for (const char* id : {"f1", "f2", "f3"})
        m.on_heartbeat(hb(id, 1), T0);
    std::vector<std::string> keys;
    std::map<std::string, std::string> before;
    for (int i = 0; i < 30; ++i) {
        keys.push_back("cid-" + std::to_string(i));
        auto d = place(leg("b1", keys.back()), placement_view(m));
        BOOST_REQUIRE_MESSAGE(d.ok(), (d.ok() ? "" : d.error().message));
        BOOST_TEST((d->mode == Placement::remotely)); // auto on a backend
        before[keys.back()] = d->member;
    }
    std::string dead = before["cid-0"];
    uint64_t epoch = placement_view(m).epoch;

    // Everyone but `dead` goes on; at dead_after_ms `dead` is down.
    for (const char* id : {"f1", "f2", "f3"})
        if (id != dead)
            m.on_heartbeat(hb(id, 2), T0 + 800ms);
    m.tick(T0 + 900ms);
    BOOST_TEST(place(leg("b1", "cid-0"), placement_view(m))->member == dead); // not yet
    BOOST_TEST(m.tick(T0 + 1000ms));
    BOOST_TEST(placement_view(m).epoch > epoch);
    for (const auto& key : keys) {
        auto d = place(leg("b1", key), placement_view(m));
        BOOST_REQUIRE(d.ok());
        BOOST_TEST(d->member != dead, key);
        BOOST_TEST(d->candidates.size() == 2u);
        // Only the dead host's keys move.
        if (before[key] != dead)
            BOOST_TEST(d->member == before[key], key);
    }
    // No key: least load among the two left.
    auto any = place(leg("b1"), placement_view(m));
    BOOST_REQUIRE(any.ok());
    BOOST_TEST(any->member != dead);

    // It comes back (a restart: a new incarnation) and takes its keys back.
    m.on_heartbeat(hb(dead, 1, 2), T0 + 1500ms);
    for (const auto& key : keys)
        BOOST_TEST(place(leg("b1", key), placement_view(m))->member == before[key], key);

    // All frontends gone: no placement, and b1 does not take them itself.
    m.tick(T0 + 5000ms);
    auto none = place(leg("b1", "cid-0"), placement_view(m));
    BOOST_REQUIRE(!none.ok());
    BOOST_TEST(none.error().code == "no_placement");
    // A frontend places on itself, whatever the others do.
    BOOST_TEST(place(leg("f1", "cid-0"), placement_view(m))->member == "f1");
}

BOOST_AUTO_TEST_CASE(request_parsing_and_json) {
    auto body = json::parse(R"({"kind":"signal","from":"b1","key":"abc"})", "t");
    BOOST_REQUIRE(body.ok());
    auto req = parse_place_request(*body, "f1");
    BOOST_REQUIRE(req.ok());
    BOOST_TEST((*req == PlacementRequest{ObjectKind::signal, "b1", "abc"}));
    // "from" defaults to the member asked.
    auto self = parse_place_request(*json::parse(R"({"kind":"callleg"})", "t"), "f1");
    BOOST_REQUIRE(self.ok());
    BOOST_TEST(self->from == "f1");
    BOOST_TEST(self->key.empty());

    for (const char* bad :
         {R"({})", R"({"kind":"leg"})", R"({"kind":7})", R"({"kind":"callleg","from":""})",
          R"({"kind":"callleg","from":3})", R"({"kind":"callleg","key":1})"}) {
        auto r = parse_place_request(*json::parse(bad, "t"), "f1");
        BOOST_TEST(!r.ok(), bad);
        if (!r.ok())
            BOOST_TEST(r.error().code == "bad_request", bad);
    }
    auto leg_kind = parse_place_request(*json::parse(R"({"kind":"leg"})", "t"), "f1");
    BOOST_TEST(leg_kind.error().message.find("\"leg\"") != std::string::npos);

    auto d = place(leg("b1", "abc"), farm());
    BOOST_REQUIRE(d.ok());
    auto j = to_json(*d, 9);
    BOOST_TEST(j["member"].as_string().value_or("") == d->member);
    BOOST_TEST(j["from"].as_string().value_or("") == "b1");
    BOOST_TEST(j["kind"].as_string().value_or("") == "callleg");
    BOOST_TEST(j["mode"].as_string().value_or("") == "remotely");
    BOOST_TEST(j["reason"].as_string().value_or("") == "hash");
    BOOST_TEST(j["key"].as_string().value_or("") == "abc");
    BOOST_TEST(j["candidates"].size() == 3u);
    BOOST_TEST(j["epoch"].as_integer().value_or(0) == 9);
    auto local = to_json(*place(leg("f1"), farm()), 1);
    BOOST_TEST(!local["key"]);
    BOOST_TEST(local["mode"].as_string().value_or("") == "locally-for-others");
    BOOST_TEST(local["reason"].as_string().value_or("") == "locally");
    // cgclusterctl place reads the reason back by its name.
    for (auto r : {PlacementReason::locally, PlacementReason::hash, PlacementReason::least_load})
        BOOST_TEST((parse_placement_reason(to_string(r)) == r), to_string(r));
    BOOST_TEST(!parse_placement_reason("least load").has_value());
}

BOOST_AUTO_TEST_SUITE_END()
