// The hand-off that keeps calls where they started while the membership
// changes: the tables (RecentCalls, ViewHistory) with a fake clock, the
// routing rules that use them, and whole-farm scenarios (a member joins,
// one drains, one dies, views disagree for a while) in which every packet
// of a call in progress must end on the member that had the call.
#include "cluster/handoff.hpp"
#include "sip/route.hpp"

#include <boost/test/unit_test.hpp>

#include <map>
#include <set>

using namespace rtfarm;
using namespace rtfarm::cluster;
using namespace std::chrono_literals;
using sip::Decision;
using sip::FarmView;
using Kind = Decision::Kind;

// Boost.Test prints a routing reason by its name (found by ADL).
namespace rtfarm::sip {
inline std::ostream& boost_test_print_type(std::ostream& os, Reason r) {
    return os << to_string(r);
}
} // namespace rtfarm::sip

namespace {

const HandoffClock::time_point T0 = HandoffClock::time_point{} + 1000s;

ViewHistory::Members members(std::initializer_list<const char*> eligible,
                             std::initializer_list<const char*> others = {}) {
    ViewHistory::Members out;
    for (const char* id : eligible)
        out.push_back({id, true, true, false});
    for (const char* id : others)
        out.push_back({id, true, true, true}); // draining
    return out;
}

sip::PacketFacts request(std::string_view call_id) {
    sip::PacketFacts p;
    p.is_request = true;
    p.method = "INVITE";
    p.call_id = call_id;
    p.request_uri = "sip:bob@example.com";
    p.top_via_branch = "z9hG4bKclient";
    return p;
}

// One member of a simulated farm: its own view (views may disagree while
// heartbeats travel), its history and its table of Call-IDs.
struct SimMember {
    FarmView view;
    ViewHistory history;
    RecentCalls recent;
    bool alive = true;
};

ViewHistory::Past past(const ViewHistory::Members& m) {
    return {m, {}};
}

// A farm of members routing by route() exactly as sipfarmd does, packets
// carried between them by a loop instead of sockets.
struct SimFarm {
    std::map<std::string, SimMember> m;
    HandoffClock::time_point now = T0;

    void add(const std::string& id, const ViewHistory::Members& list, bool starting = false) {
        SimMember s;
        s.view.self = id;
        s.view.self_farm_member = true;
        s.view.members = list;
        if (starting)
            s.history.replaced(past(without_member(list, id)), past(list), now);
        s.view.previous = s.history.views();
        m.emplace(id, std::move(s));
    }
    // `id` learns the new member list (a heartbeat arrived).
    void learn(const std::string& id, const ViewHistory::Members& list) {
        SimMember& s = m.at(id);
        s.history.replaced(past(s.view.members), past(list), now);
        s.view.members = list;
        s.view.previous = s.history.views();
    }
    // `id` routes by a new key (it switched its signing secret, as
    // sipfarmd does: cluster/farm_keys.hpp).
    void rekey(const std::string& id, std::optional<crypto::SipKey> key) {
        SimMember& s = m.at(id);
        s.history.replaced({s.view.members, s.view.key}, {s.view.members, key}, now);
        s.view.key = key;
        s.view.previous = s.history.views();
    }
    void advance(std::chrono::milliseconds d) {
        now += d;
        for (auto& [id, s] : m) {
            s.history.expire(now);
            s.view.previous = s.history.views();
            s.recent.expire(now);
        }
    }
    // Sends a request without our Route tag to `entry` (where the load
    // balancer put it); returns the member that processed it, "" if lost.
    std::string deliver(const std::string& entry, const std::string& call_id,
                        std::vector<std::string>* path = nullptr) {
        std::string at = entry;
        sip::Origin origin = sip::Origin::outside;
        unsigned hops = 0;
        std::vector<std::string> asked; // the envelope's
        for (unsigned guard = 0; guard <= sip::MAX_FARM_HOPS; ++guard) {
            SimMember& s = m.at(at);
            if (!s.alive)
                return "";
            if (path)
                path->push_back(at);
            auto p = request(call_id);
            p.known_call_id = s.recent.knows(call_id, now);
            p.hops = hops;
            p.asked = &asked;
            Decision d = sip::route(p, origin, s.view);
            if (d.kind == Kind::local) {
                s.recent.note(call_id, now);
                return at;
            }
            if (d.kind == Kind::drop)
                return "";
            BOOST_REQUIRE_MESSAGE(hops < sip::MAX_FARM_HOPS, "too many hops for " << call_id);
            if (d.asked_here)
                asked.push_back(at);
            at = d.member;
            origin = sip::Origin::farm_link;
            ++hops;
        }
        BOOST_FAIL("routing did not settle for " << call_id);
        return "";
    }
    std::vector<std::string> entries() const {
        std::vector<std::string> out;
        for (const auto& [id, s] : m)
            if (s.alive)
                out.push_back(id);
        return out;
    }
};

std::string cid(int i) {
    return "call-" + std::to_string(i) + "@client.example";
}

// Starts `n` calls from `first` on, each at a different entry member;
// returns where each started.
std::map<std::string, std::string> start_calls(SimFarm& f, int first, int n) {
    std::map<std::string, std::string> where;
    auto entries = f.entries();
    for (int i = first; i < first + n; ++i) {
        std::string at = f.deliver(entries[static_cast<size_t>(i) % entries.size()], cid(i));
        BOOST_REQUIRE(!at.empty());
        where[cid(i)] = at;
    }
    return where;
}

// Every entry member sends a packet of every call (a retransmission, a
// CANCEL, a non-2xx ACK); counts those that did not end where the call is.
int strays(SimFarm& f, const std::map<std::string, std::string>& where) {
    int bad = 0;
    for (const auto& [call, at] : where)
        for (const auto& entry : f.entries())
            if (f.deliver(entry, call) != at)
                ++bad;
    return bad;
}

} // namespace

BOOST_AUTO_TEST_SUITE(handoff)

BOOST_AUTO_TEST_CASE(recent_calls_remember_for_their_window_after_last_seen) {
    RecentCalls r(32s);
    r.note("a", T0);
    r.note("b", T0 + 10s);
    BOOST_TEST(r.knows("a", T0 + 31s));
    BOOST_TEST(!r.knows("c", T0));
    r.note("a", T0 + 20s); // seen again: kept longer
    r.expire(T0 + 33s);
    BOOST_TEST(r.knows("a", T0 + 33s));
    BOOST_TEST(r.knows("b", T0 + 33s));
    r.expire(T0 + 43s);
    BOOST_TEST(!r.knows("b", T0 + 43s));
    BOOST_TEST(r.knows("a", T0 + 43s));
    BOOST_TEST(r.size() == 1u);
    r.expire(T0 + 53s);
    BOOST_TEST(r.size() == 0u);
    // Not yet expired, but too old to count.
    r.note("d", T0 + 60s);
    BOOST_TEST(!r.knows("d", T0 + 92s));
}

BOOST_AUTO_TEST_CASE(recent_calls_are_bounded) {
    RecentCalls r(32s, 100);
    for (int i = 0; i < 250; ++i)
        r.note(cid(i), T0 + std::chrono::milliseconds(i));
    BOOST_TEST(r.size() == 100u);
    BOOST_TEST(r.evicted() == 150u);
    BOOST_TEST(!r.knows(cid(0), T0 + 1s)); // the oldest went first
    BOOST_TEST(r.knows(cid(249), T0 + 1s));
}

// The tables are sized for their bound at construction: filling them, and
// past it, never rehashes them on the packet path (test/bench/README.md,
// "Stalls").
BOOST_AUTO_TEST_CASE(recent_calls_never_rehash) {
    RecentCalls r(32s, 1000);
    const size_t buckets = r.buckets();
    BOOST_TEST(buckets >= 2 * 1001u);
    for (int i = 0; i < 3000; ++i) {
        r.note(cid(i), T0 + std::chrono::milliseconds(i));
        r.note(cid(i), T0 + std::chrono::milliseconds(i), RecentCalls::Tier::ringing);
    }
    BOOST_TEST(r.size() == 2000u);
    BOOST_TEST(r.buckets() == buckets);
}

// note() forgets a few of the Call-IDs whose time is up, so that expiry
// keeps pace with the traffic without one long sweep; one seen again stays.
BOOST_AUTO_TEST_CASE(recent_calls_note_expires_what_is_due_in_small_steps) {
    RecentCalls r(32s, 1000);
    for (int i = 0; i < 100; ++i)
        r.note(cid(i), T0 + std::chrono::milliseconds(i));
    r.note(cid(0), T0 + 20s); // seen again: its time is not up at T0 + 40 s
    for (int i = 0; i < 10; ++i)
        r.note("new-" + std::to_string(i), T0 + 40s);
    // 10 notes looked at 2 due entries each: cid(0) went to the back, 19 went.
    BOOST_TEST(RecentCalls::NOTE_EXPIRES == 2u);
    BOOST_TEST(r.size() == 100u - 19u + 10u);
    BOOST_TEST(r.knows(cid(0), T0 + 40s));
    BOOST_TEST(!r.knows(cid(1), T0 + 40s));
    BOOST_TEST(r.knows("new-9", T0 + 40s));
    BOOST_TEST(r.evicted() == 0u); // expired, not pushed out by the bound
    // The ringing tier is not expired by notes of the other.
    RecentCalls t(32s, 1000);
    t.note("ringing", T0, RecentCalls::Tier::ringing);
    for (int i = 0; i < 10; ++i)
        t.note(cid(i), T0 + 40s);
    BOOST_TEST(t.size(RecentCalls::Tier::ringing) == 1u);
}

// The heartbeat's expire() looks at EXPIRE_BUDGET entries of each tier at
// most: a burst of Call-IDs whose time is up goes in several short steps.
BOOST_AUTO_TEST_CASE(recent_calls_expire_is_bounded_per_call) {
    const int n = static_cast<int>(RecentCalls::EXPIRE_BUDGET) + 100;
    RecentCalls r(32s, 10 * RecentCalls::EXPIRE_BUDGET);
    for (int i = 0; i < n; ++i) {
        r.note(cid(i), T0 + std::chrono::milliseconds(i));
        r.note(cid(i), T0 + std::chrono::milliseconds(i), RecentCalls::Tier::ringing);
    }
    BOOST_TEST(r.size() == 2u * static_cast<size_t>(n));
    r.expire(T0 + 60s);
    BOOST_TEST(r.size(RecentCalls::Tier::seen) == 100u);
    BOOST_TEST(r.size(RecentCalls::Tier::ringing) == 100u);
    r.expire(T0 + 60s);
    BOOST_TEST(r.size() == 0u);
}

// A flood of fresh Call-IDs (any stranger can send INVITEs) must not push
// out the calls the processor is ringing: those stay known for the grace.
BOOST_AUTO_TEST_CASE(a_flood_of_new_call_ids_does_not_evict_ringing_calls) {
    RecentCalls r(32s, 100);
    r.note("ringing@real", T0);
    r.note("ringing@real", T0 + 1ms, RecentCalls::Tier::ringing);
    r.note("seen-only@real", T0 + 2ms);
    for (int i = 0; i < 1000; ++i)
        r.note("flood-" + std::to_string(i), T0 + std::chrono::milliseconds(10 + i));
    BOOST_TEST(r.knows("ringing@real", T0 + 5s));
    BOOST_TEST(!r.knows("seen-only@real", T0 + 5s)); // the flood's own tier cycles
    BOOST_TEST(r.knows("flood-999", T0 + 5s));
    BOOST_TEST(r.size(RecentCalls::Tier::ringing) == 1u);
    BOOST_TEST(r.size(RecentCalls::Tier::seen) == 100u);
    // Ringing calls have a bound of their own.
    for (int i = 0; i < 200; ++i)
        r.note("ring-" + std::to_string(i), T0 + 2s, RecentCalls::Tier::ringing);
    BOOST_TEST(r.size(RecentCalls::Tier::ringing) == 100u);
    // Expiry reaches both tiers.
    r.expire(T0 + 60s);
    BOOST_TEST(r.size() == 0u);
}

BOOST_AUTO_TEST_CASE(view_history_keeps_routing_changes_for_the_grace) {
    ViewHistory h(32s);
    auto three = members({"f1", "f2", "f3"});
    auto four = members({"f1", "f2", "f3", "f4"});
    // Same eligible members (only order or a non-member changed): nothing kept.
    h.replaced(past(three), past(members({"f3", "f2", "f1"})), T0);
    BOOST_TEST(h.size() == 0u);
    h.replaced(past(three), past(four), T0);
    h.replaced(past(four), past(members({"f1", "f3", "f4"}, {"f2"})), T0 + 5s);
    BOOST_REQUIRE(h.size() == 2u);
    BOOST_TEST(ViewHistory::eligible(h.views()[0].members).size() == 4u); // newest first
    BOOST_TEST(!h.expire(T0 + 31s));
    BOOST_TEST(h.expire(T0 + 32s));
    BOOST_TEST(h.size() == 1u);
    BOOST_TEST(h.expire(T0 + 37s));
    BOOST_TEST(h.size() == 0u);
    ViewHistory small(32s, 2);
    for (int i = 0; i < 5; ++i)
        small.replaced(past(i % 2 ? three : four), past(i % 2 ? four : three), T0);
    BOOST_TEST(small.size() == 2u);
    auto before = without_member(four, "f4");
    BOOST_TEST(ViewHistory::eligible(before) == ViewHistory::eligible(three));
    // A kept view can be forgotten by its members (the startup view).
    ViewHistory d(32s);
    d.replaced(past(before), past(four), T0);
    d.replaced(past(four), past(three), T0);
    BOOST_TEST(d.drop(before));
    BOOST_TEST(!d.drop(before));
    BOOST_TEST(d.size() == 1u);
    // A new routing key moves Call-IDs as new members do: kept, with the
    // key the old view hashed by.
    ViewHistory k(32s);
    crypto::SipKey old_key{1, 2}, new_key{3, 4};
    k.replaced({three, old_key}, {three, old_key}, T0);
    BOOST_TEST(k.size() == 0u);
    k.replaced({three, old_key}, {three, new_key}, T0);
    BOOST_REQUIRE(k.size() == 1u);
    BOOST_TEST((k.views()[0].key == old_key));
}

BOOST_AUTO_TEST_CASE(route_rules_of_the_handoff) {
    FarmView v;
    v.self = "f1";
    v.self_farm_member = true;
    v.members = members({"f1", "f2", "f3", "f4"});
    v.previous = {{members({"f1", "f2", "f3"}), {}}};
    // Find Call-IDs whose owner moved to f4 from f2 / from f1 (ourselves).
    std::string from_f2, from_self, stayed;
    for (int i = 0; i < 500 && (from_f2.empty() || from_self.empty() || stayed.empty()); ++i) {
        std::string now_owner = sip::rendezvous_owner(cid(i), v.members);
        std::string was = sip::rendezvous_owner(cid(i), v.previous[0].members);
        if (now_owner == "f4" && was == "f2" && from_f2.empty())
            from_f2 = cid(i);
        if (now_owner == "f4" && was == "f1" && from_self.empty())
            from_self = cid(i);
        if (now_owner == was && now_owner != "f1" && stayed.empty())
            stayed = cid(i);
    }
    BOOST_REQUIRE(!from_f2.empty());
    BOOST_REQUIRE(!from_self.empty());
    BOOST_REQUIRE(!stayed.empty());

    // Moved: to the previous owner first.
    auto d = sip::route(request(from_f2), sip::Origin::outside, v);
    BOOST_TEST((d.kind == Kind::relay));
    BOOST_TEST(d.member == "f2");
    BOOST_TEST(d.reason == sip::Reason::handoff);
    // Moved away from us and unknown here: straight to the new owner.
    d = sip::route(request(from_self), sip::Origin::outside, v);
    BOOST_TEST(d.member == "f4");
    BOOST_TEST(d.reason == sip::Reason::call_id_hash);
    // Known here: kept, whoever owns it now.
    auto p = request(from_f2);
    p.known_call_id = true;
    d = sip::route(p, sip::Origin::outside, v);
    BOOST_TEST((d.kind == Kind::local));
    BOOST_TEST(d.reason == sip::Reason::known_call_id);
    // Unmoved: plain hash.
    d = sip::route(request(stayed), sip::Origin::outside, v);
    BOOST_TEST(d.reason == sip::Reason::call_id_hash);
    // The previous owner is dead: its calls are gone; go to the owner now.
    auto dead = v;
    dead.members[1].alive = false; // f2
    d = sip::route(request(from_f2), sip::Origin::outside, dead);
    BOOST_TEST(d.member == "f4");
    BOOST_TEST(d.reason == sip::Reason::call_id_hash);

    // On the farm link, at the previous owner that does not know it: on
    // along the chain (here to the owner now), up to MAX_FARM_HOPS.
    FarmView at_f2 = v;
    at_f2.self = "f2";
    p = request(from_f2);
    p.hops = 1;
    d = sip::route(p, sip::Origin::farm_link, at_f2);
    BOOST_TEST((d.kind == Kind::relay));
    BOOST_TEST(d.member == "f4");
    BOOST_TEST(d.reason == sip::Reason::handoff_passed);
    p.known_call_id = true;
    d = sip::route(p, sip::Origin::farm_link, at_f2);
    BOOST_TEST((d.kind == Kind::local));
    BOOST_TEST(d.reason == sip::Reason::known_call_id);
    p.known_call_id = false;
    p.hops = sip::MAX_FARM_HOPS;
    d = sip::route(p, sip::Origin::farm_link, at_f2);
    BOOST_TEST((d.kind == Kind::local));
    BOOST_TEST(d.reason == sip::Reason::relayed);
    // At the owner now: the previous owner first, unless it was asked.
    FarmView at_f4 = v;
    at_f4.self = "f4";
    p.hops = 1;
    d = sip::route(p, sip::Origin::farm_link, at_f4);
    BOOST_TEST((d.kind == Kind::relay));
    BOOST_TEST(d.member == "f2");
    BOOST_TEST(d.asked_here);
    std::vector<std::string> asked = {"f1", "f2"};
    p.asked = &asked;
    d = sip::route(p, sip::Origin::farm_link, at_f4);
    BOOST_TEST((d.kind == Kind::local));
    BOOST_TEST(d.reason == sip::Reason::relayed);
}

BOOST_AUTO_TEST_CASE(the_memory_is_asked_only_when_a_rule_needs_it) {
    struct Counting : sip::CallIdMemory {
        mutable int asked = 0;
        bool answer = false;
        bool knows(std::string_view) const override {
            ++asked;
            return answer;
        }
    } memory;
    FarmView v;
    v.self = "f1";
    v.self_farm_member = true;
    v.members = members({"f1", "f2", "f3"});
    auto bye = request("call-x");
    bye.method = "BYE";
    bye.top_route = "<sip:203.0.113.1;lr;fm=f2>";
    bye.memory = &memory;
    BOOST_TEST(sip::route(bye, sip::Origin::outside, v).reason == sip::Reason::route_tag);
    auto resp = request("call-x");
    resp.is_request = false;
    resp.top_via_branch = "z9hG4bKrtf.f2.0123456789abcdef";
    resp.memory = &memory;
    BOOST_TEST(sip::route(resp, sip::Origin::outside, v).reason == sip::Reason::via_tag);
    BOOST_TEST(sip::route(bye, sip::Origin::processor, v).reason == sip::Reason::processor);
    BOOST_TEST(memory.asked == 0);
    auto invite = request("call-x");
    invite.memory = &memory;
    memory.answer = true;
    auto d = sip::route(invite, sip::Origin::outside, v);
    BOOST_TEST(memory.asked == 1);
    BOOST_TEST(d.reason == sip::Reason::known_call_id);
}

BOOST_AUTO_TEST_CASE(a_member_joins_and_calls_in_progress_stay) {
    SimFarm f;
    auto three = members({"f1", "f2", "f3"});
    auto four = members({"f1", "f2", "f3", "f4"});
    for (const char* id : {"f1", "f2", "f3"})
        f.add(id, three);
    auto before = start_calls(f, 0, 300);

    // f4 starts: it presumes the others up and knows they routed without it.
    f.add("f4", four, /*starting=*/true);
    f.advance(50ms);
    // For a while only f1 has heard f4: views disagree.
    f.learn("f1", four);
    BOOST_TEST(strays(f, before) == 0);
    auto during = start_calls(f, 300, 200);
    BOOST_TEST(strays(f, during) == 0);
    // Everyone has heard f4.
    f.advance(150ms);
    f.learn("f2", four);
    f.learn("f3", four);
    BOOST_TEST(strays(f, before) == 0);
    BOOST_TEST(strays(f, during) == 0);
    auto after = start_calls(f, 500, 300);
    BOOST_TEST(strays(f, after) == 0);
    int on_f4 = 0;
    for (const auto& [call, at] : after)
        on_f4 += at == "f4";
    BOOST_TEST(on_f4 > 30); // the new member takes its share of new calls
    // After the grace every member routes new Call-IDs by the hash alone.
    f.advance(HANDOFF_GRACE + 1s);
    for (const auto& [id, s] : f.m)
        BOOST_TEST(s.view.previous.empty());
    for (int i = 800; i < 900; ++i)
        BOOST_TEST(f.deliver("f1", cid(i)) == sip::rendezvous_owner(cid(i), four));
}

BOOST_AUTO_TEST_CASE(a_key_rotation_moves_new_calls_and_keeps_those_in_progress) {
    SimFarm f;
    auto three = members({"f1", "f2", "f3"});
    const crypto::SipKey old_key{0x1111, 0x2222}, new_key{0x3333, 0x4444};
    for (const char* id : {"f1", "f2", "f3"}) {
        f.add(id, three);
        f.m.at(id).view.key = old_key;
    }
    auto before = start_calls(f, 0, 300);
    // The members switch one heartbeat apart: for a while they hash
    // Call-IDs differently.
    f.rekey("f2", new_key);
    BOOST_TEST(strays(f, before) == 0);
    auto during = start_calls(f, 300, 200);
    BOOST_TEST(strays(f, during) == 0);
    f.advance(200ms);
    f.rekey("f1", new_key);
    f.rekey("f3", new_key);
    BOOST_TEST(strays(f, before) == 0);
    BOOST_TEST(strays(f, during) == 0);
    auto after = start_calls(f, 500, 300);
    BOOST_TEST(strays(f, after) == 0);
    // New Call-IDs go by the new key once the grace is over.
    f.advance(HANDOFF_GRACE + 1s);
    for (const auto& [id, s] : f.m)
        BOOST_TEST(s.view.previous.empty());
    int moved = 0;
    for (int i = 800; i < 900; ++i) {
        std::string owner = sip::rendezvous_owner(cid(i), three, &new_key);
        BOOST_TEST(f.deliver("f3", cid(i)) == owner);
        moved += owner != sip::rendezvous_owner(cid(i), three, &old_key);
    }
    BOOST_TEST(moved > 30); // the test means something: the key moves Call-IDs
}

BOOST_AUTO_TEST_CASE(a_member_drains_and_keeps_its_calls) {
    SimFarm f;
    auto three = members({"f1", "f2", "f3"});
    auto drained = members({"f1", "f3"}, {"f2"});
    for (const char* id : {"f1", "f2", "f3"})
        f.add(id, three);
    auto before = start_calls(f, 0, 300);
    // f2 drains itself first; the others hear it a heartbeat later.
    f.learn("f2", drained);
    BOOST_TEST(strays(f, before) == 0);
    f.advance(200ms);
    f.learn("f1", drained);
    f.learn("f3", drained);
    BOOST_TEST(strays(f, before) == 0);
    auto after = start_calls(f, 300, 300);
    for (const auto& [call, at] : after)
        BOOST_TEST(at != "f2");
    BOOST_TEST(strays(f, after) == 0);
}

BOOST_AUTO_TEST_CASE(a_member_dies_and_only_its_calls_are_lost) {
    SimFarm f;
    auto three = members({"f1", "f2", "f3"});
    for (const char* id : {"f1", "f2", "f3"})
        f.add(id, three);
    auto before = start_calls(f, 0, 300);
    f.m.at("f3").alive = false;
    f.advance(1200ms); // dead_after_ms + a heartbeat
    ViewHistory::Members without_f3 = three;
    without_f3[2].alive = false;
    f.learn("f1", without_f3);
    f.learn("f2", without_f3);
    std::map<std::string, std::string> survivors;
    for (const auto& [call, at] : before)
        if (at != "f3")
            survivors[call] = at;
    BOOST_TEST(survivors.size() < before.size());
    BOOST_TEST(strays(f, survivors) == 0);
    // New calls avoid the dead member.
    for (const auto& [call, at] : start_calls(f, 300, 100))
        BOOST_TEST(at != "f3");
}

BOOST_AUTO_TEST_CASE(two_joins_in_a_row_and_the_calls_before_both_stay) {
    // Quiet between the changes: no packet refreshes what members know, so
    // the call must be found on its owner two views back.
    SimFarm f;
    auto three = members({"f1", "f2", "f3"});
    auto four = members({"f1", "f2", "f3", "f4"});
    auto five = members({"f1", "f2", "f3", "f4", "f5"});
    for (const char* id : {"f1", "f2", "f3"})
        f.add(id, three);
    auto before = start_calls(f, 0, 300);
    f.add("f4", four, true);
    for (const char* id : {"f1", "f2", "f3"})
        f.learn(id, four);
    f.advance(2s);
    auto between = start_calls(f, 300, 200);
    f.advance(2s);
    f.add("f5", five, true);
    for (const char* id : {"f1", "f2", "f3", "f4"})
        f.learn(id, five);
    f.advance(2s);
    BOOST_TEST(strays(f, before) == 0);
    BOOST_TEST(strays(f, between) == 0);
}

BOOST_AUTO_TEST_CASE(rolling_drains_keep_the_calls_of_each) {
    SimFarm f;
    auto all = members({"f1", "f2", "f3", "f4"});
    auto one_out = members({"f2", "f3", "f4"}, {"f1"});
    auto two_out = members({"f3", "f4"}, {"f1", "f2"});
    for (const char* id : {"f1", "f2", "f3", "f4"})
        f.add(id, all);
    auto before = start_calls(f, 0, 400);
    for (const char* id : {"f1", "f2", "f3", "f4"})
        f.learn(id, one_out);
    f.advance(3s);
    auto between = start_calls(f, 400, 200);
    for (const char* id : {"f1", "f2", "f3", "f4"})
        f.learn(id, two_out);
    f.advance(3s);
    BOOST_TEST(strays(f, before) == 0);
    BOOST_TEST(strays(f, between) == 0);
}

BOOST_AUTO_TEST_CASE(a_call_ringing_for_minutes_keeps_its_member) {
    // INVITE, then 180 Ringing: no retransmission for a long while. The view
    // changes; the CANCEL (or the ACK of the 487) comes two minutes later.
    SimFarm f;
    auto three = members({"f1", "f2", "f3"});
    auto four = members({"f1", "f2", "f3", "f4"});
    for (const char* id : {"f1", "f2", "f3"})
        f.add(id, three);
    auto ringing = start_calls(f, 0, 300);
    f.advance(5s);
    f.add("f4", four, true);
    for (const char* id : {"f1", "f2", "f3"})
        f.learn(id, four);
    f.advance(120s);
    BOOST_TEST(strays(f, ringing) == 0);
    // Once a transaction can no longer be alive, the tables are empty.
    f.advance(HANDOFF_GRACE);
    for (const auto& [id, s] : f.m) {
        BOOST_TEST(s.view.previous.empty());
        BOOST_TEST(s.recent.size() == 0u);
    }
}

BOOST_AUTO_TEST_CASE(a_member_restarts_into_a_running_farm) {
    // f2 restarts before the others noticed it was gone: its table is
    // empty, its views start presumed. Calls the others hold stay there and
    // the Call-IDs f2 owns reach f2 again.
    SimFarm f;
    auto three = members({"f1", "f2", "f3"});
    for (const char* id : {"f1", "f2", "f3"})
        f.add(id, three);
    auto before = start_calls(f, 0, 300);
    f.m.erase("f2");
    f.add("f2", three, /*starting=*/true);
    std::map<std::string, std::string> elsewhere;
    for (const auto& [call, at] : before)
        if (at != "f2")
            elsewhere[call] = at;
    BOOST_TEST(strays(f, elsewhere) == 0);
    auto after = start_calls(f, 300, 300);
    BOOST_TEST(strays(f, after) == 0);
}

BOOST_AUTO_TEST_SUITE_END()
