// The farm's routing rules, driven through route() with hand-made facts and
// views: no sockets, no scanner.
#include "base/hash.hpp"
#include "sip/farm_tags.hpp"
#include "sip/route.hpp"

#include <boost/test/unit_test.hpp>

#include <iterator>
#include <map>
#include <set>
#include <string>
#include <string_view>

using namespace rtfarm::sip;
using Kind = Decision::Kind;

// Boost.Test prints a routing reason by its name (found by ADL).
namespace rtfarm::sip {
inline std::ostream& boost_test_print_type(std::ostream& os, Reason r) {
    return os << to_string(r);
}
} // namespace rtfarm::sip

namespace {

FarmView three(std::string self = "f1") {
    FarmView v;
    v.self = std::move(self);
    v.self_farm_member = true;
    v.members = {{"f1", true, true, false},
                 {"f2", true, true, false},
                 {"f3", true, true, false},
                 {"b1", false, true, false}};
    return v;
}

PacketFacts request(std::string_view method, std::string_view call_id) {
    PacketFacts p;
    p.is_request = true;
    p.method = method;
    p.call_id = call_id;
    p.request_uri = "sip:bob@example.com";
    p.top_via_branch = "z9hG4bK776asdhds";
    return p;
}

} // namespace

BOOST_AUTO_TEST_SUITE(farm_tags)

BOOST_AUTO_TEST_CASE(branch_round_trip_and_foreign_branches) {
    std::string b = farm_branch("f2", 0x0123456789abcdefULL);
    BOOST_TEST(b == "z9hG4bKrtf.f2.0123456789abcdef");
    BOOST_TEST(branch_member(b).value_or("") == "f2");
    BOOST_TEST(!branch_member("z9hG4bK776asdhds").has_value());
    BOOST_TEST(!branch_member("z9hG4bKrtf.f2.0123").has_value());              // short hash
    BOOST_TEST(!branch_member("z9hG4bKrtf.f 2.0123456789abcdef").has_value()); // bad id
    BOOST_TEST(!branch_member("").has_value());
    BOOST_TEST(!branch_member("rtf.f2.0123456789abcdef").has_value());        // no cookie
    BOOST_TEST(!branch_member("z9hG4bKrtf.f2.0123456789abcdeg").has_value()); // not hex

    // From the processor: the same member, and the mark.
    std::string p = farm_branch("f2", 0x0123456789abcdefULL, true);
    BOOST_TEST(p == "z9hG4bKrtf.f2.p.0123456789abcdef");
    BOOST_TEST(branch_member(p).value_or("") == "f2");
    BOOST_TEST(parse_farm_branch(p)->from_processor);
    BOOST_TEST(!parse_farm_branch(b)->from_processor);
    BOOST_TEST(!parse_farm_branch("z9hG4bKrtf.f2.q.0123456789abcdef").has_value());
    BOOST_TEST(!parse_farm_branch("z9hG4bKrtf.f2.p0123456789abcdef").has_value());
}

BOOST_AUTO_TEST_CASE(transaction_hash_ignores_the_method_and_is_stable) {
    auto invite = transaction_hash("z9hG4bKabc", "c1", "t1", 1, "sip:bob@example.com");
    auto cancel = transaction_hash("z9hG4bKabc", "c1", "t1", 1, "sip:bob@example.com");
    BOOST_TEST(invite == cancel);
    BOOST_TEST(invite != transaction_hash("z9hG4bKabd", "c1", "t1", 1, "sip:bob@example.com"));
    BOOST_TEST(invite != transaction_hash("z9hG4bKabc", "c1", "t1", 1, "sip:carol@example.com"));
    // RFC 2543 clients: Call-ID, From tag and CSeq make the transaction.
    auto old1 = transaction_hash("", "c1", "t1", 1, "sip:bob@example.com");
    BOOST_TEST(old1 != transaction_hash("", "c1", "t1", 2, "sip:bob@example.com"));
    BOOST_TEST(old1 == transaction_hash("1234", "c1", "t1", 1, "sip:bob@example.com"));
    // The same on every member and every build: a fixed value.
    BOOST_TEST(rtfarm::stable_hash("rtfarm") == rtfarm::stable_hash("rtfarm"));
    BOOST_TEST(rtfarm::stable_hash("rtfarm") != rtfarm::stable_hash("rtfarm", 1));
}

BOOST_AUTO_TEST_CASE(route_uri_and_member_parameter) {
    BOOST_TEST(farm_route_uri("203.0.113.1", 0, "f2") == "<sip:203.0.113.1;lr;fm=f2>");
    BOOST_TEST(farm_route_uri("[2001:db8::1]", 5062, "f3") == "<sip:[2001:db8::1]:5062;lr;fm=f3>");
    BOOST_TEST(uri_farm_member("<sip:203.0.113.1;lr;fm=f2>").value_or("") == "f2");
    BOOST_TEST(uri_farm_member("sip:203.0.113.1;fm=f2;lr").value_or("") == "f2");
    BOOST_TEST(uri_farm_member("\"Farm\" <sip:203.0.113.1;lr;FM=f2>;x=y").value_or("") == "f2");
    BOOST_TEST(uri_farm_member("sips:[2001:db8::1]:5061;fm=f3").value_or("") == "f3");
    BOOST_TEST(!uri_farm_member("<sip:203.0.113.1;lr>;fm=f2").has_value()); // header param, not URI
    BOOST_TEST(!uri_farm_member("sip:x@h?fm=f2").has_value());              // URI header
    BOOST_TEST(!uri_farm_member("tel:+15551234;fm=f2").has_value());
    BOOST_TEST(!uri_farm_member("sip:h;fm=f 2").has_value());
    BOOST_TEST(!uri_farm_member("sip:h;xfm=f2").has_value());
}

BOOST_AUTO_TEST_CASE(connection_identity_tokens) {
    BOOST_TEST(conn_token({"f1", 42}) == "f1.42");
    BOOST_TEST((parse_conn_token("f1.42") == ConnRef{"f1", 42}));
    BOOST_TEST((parse_conn_token("a-b_c.18446744073709551615") ==
                ConnRef{"a-b_c", 18446744073709551615ULL}));
    for (std::string_view bad : {"f1", "f1.", ".42", "f1.0", "f1.4x2", "f 1.42", "f1.-4",
                                 "f1.18446744073709551616", "f1.000000000000000000042"})
        BOOST_TEST(!parse_conn_token(bad).has_value(), bad);
    // In a Via value, and in a Route URI (not as a header parameter).
    BOOST_TEST((via_conn("SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKrtf.f2.0123456789abcdef;"
                         "rtfc=f1.7") == ConnRef{"f1", 7}));
    BOOST_TEST((via_conn("SIP/2.0/UDP 127.0.0.1;RTFC=f3.9;branch=z9hG4bKx") == ConnRef{"f3", 9}));
    BOOST_TEST(!via_conn("SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKx").has_value());
    BOOST_TEST(!via_conn("SIP/2.0/UDP 127.0.0.1;rtfc=f1").has_value());
    ConnRef c{"f1", 42};
    std::string rr = farm_route_uri("203.0.113.1", 0, "f2", &c);
    BOOST_TEST(rr == "<sip:203.0.113.1;lr;fm=f2;fc=f1.42>");
    BOOST_TEST(uri_farm_member(rr).value_or("") == "f2");
    BOOST_TEST((uri_conn(rr) == c));
    BOOST_TEST(!uri_conn("<sip:203.0.113.1;lr;fm=f2>;fc=f1.42").has_value());
    BOOST_TEST(!uri_conn("<sip:203.0.113.1;lr;fm=f2>").has_value());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(farm_route)

// A connection held by f1 changes nothing in who owns a packet: responses
// follow the member tag of their Via, in-dialog requests the `fm` of their
// Route, new requests their Call-ID. Only where the owner's result goes
// (sip::send_path, proxy_test) follows the connection.
BOOST_AUTO_TEST_CASE(connection_identities_do_not_change_the_owner) {
    PacketFacts r;
    r.is_request = false;
    r.top_via_branch = "z9hG4bKrtf.f2.0123456789abcdef";
    auto d = route(r, Origin::outside, three("f1"));
    BOOST_TEST((d.kind == Kind::relay));
    BOOST_TEST(d.member == "f2");
    BOOST_TEST(d.reason == Reason::via_tag);
    // The processor's response on f2, for a request that came over f1's connection.
    BOOST_TEST((route(r, Origin::processor, three("f2")).kind == Kind::local));
    auto bye = request("BYE", "call-1");
    bye.top_route = "<sip:203.0.113.1;lr;fm=f3;fc=f1.42>";
    d = route(bye, Origin::outside, three("f1"));
    BOOST_TEST((d.kind == Kind::relay));
    BOOST_TEST(d.member == "f3");
    BOOST_TEST(d.reason == Reason::route_tag);
    BOOST_TEST((route(bye, Origin::farm_link, three("f3")).kind == Kind::local));
    // A request from f3's processor toward the client: processed on f3.
    BOOST_TEST((route(bye, Origin::processor, three("f3")).kind == Kind::local));
}

// An attacker who knows the member ids but not the cluster secret picks
// Call-IDs that the unkeyed hash gives to f1, to load one member: with the
// secret's key they spread over the farm like any others.
BOOST_AUTO_TEST_CASE(the_keyed_hash_cannot_be_aimed) {
    FarmView v = three();
    std::vector<std::string> aimed;
    for (int i = 0; aimed.size() < 600; ++i) {
        std::string cid = "aim-" + std::to_string(i);
        if (rendezvous_owner(cid, v) == "f1")
            aimed.push_back(cid);
    }
    v.key = route_key("the cluster secret");
    std::map<std::string, int> got;
    for (const auto& cid : aimed)
        ++got[rendezvous_owner(cid, v)];
    for (const char* m : {"f1", "f2", "f3"})
        BOOST_TEST((got[m] > 120 && got[m] < 280), m << " got " << got[m] << " of 600");
    // Every member derives the same key from the same secret, another from another.
    BOOST_TEST((route_key("the cluster secret") == *v.key));
    BOOST_TEST((route_key("another secret") != *v.key));
    // Routing and the hand-off chain use it.
    PacketFacts p;
    p.is_request = true;
    p.method = "INVITE";
    p.call_id = aimed[0];
    BOOST_TEST(route(p, Origin::outside, v).member == rendezvous_owner(aimed[0], v));
    BOOST_TEST(handoff_chain(aimed[0], v).back() == rendezvous_owner(aimed[0], v));
}

BOOST_AUTO_TEST_CASE(responses_follow_the_via_tag) {
    PacketFacts r;
    r.is_request = false;
    r.top_via_branch = "z9hG4bKrtf.f2.0123456789abcdef";
    auto d = route(r, Origin::outside, three());
    BOOST_TEST((d.kind == Kind::relay));
    BOOST_TEST(d.member == "f2");
    BOOST_TEST(d.reason == Reason::via_tag);
    // On the owner: processed here, whatever the origin.
    BOOST_TEST((route(r, Origin::farm_link, three("f2")).kind == Kind::local));
    // Ours of a request the processor sent: from outside, to that member;
    // from the processor itself, a made-up bounce, dropped.
    r.top_via_branch = "z9hG4bKrtf.f2.p.0123456789abcdef";
    BOOST_TEST(route(r, Origin::outside, three()).member == "f2");
    BOOST_TEST((route(r, Origin::farm_link, three("f2")).kind == Kind::local));
    d = route(r, Origin::processor, three("f2"));
    BOOST_TEST((d.kind == Kind::drop));
    BOOST_TEST(d.reason == Reason::processor_answered_its_own);
    // Not ours: dropped.
    r.top_via_branch = "z9hG4bKclient1";
    d = route(r, Origin::outside, three());
    BOOST_TEST((d.kind == Kind::drop));
    BOOST_TEST(d.reason == Reason::response_without_farm_via);
    // Tagged for a member we do not know, or one that is down.
    r.top_via_branch = "z9hG4bKrtf.f9.0123456789abcdef";
    BOOST_TEST(route(r, Origin::outside, three()).reason == Reason::unknown_member);
    auto v = three();
    v.members[1].alive = false;
    r.top_via_branch = "z9hG4bKrtf.f2.0123456789abcdef";
    BOOST_TEST(route(r, Origin::outside, v).reason == Reason::owner_down);
    // A backend's tag (Relay mode responses) goes to the backend.
    r.top_via_branch = "z9hG4bKrtf.b1.0123456789abcdef";
    BOOST_TEST(route(r, Origin::outside, three()).member == "b1");
}

BOOST_AUTO_TEST_CASE(in_dialog_requests_follow_the_route_tag) {
    auto bye = request("BYE", "call-1");
    bye.top_route = "<sip:203.0.113.1;lr;fm=f3>";
    auto d = route(bye, Origin::outside, three());
    BOOST_TEST((d.kind == Kind::relay));
    BOOST_TEST(d.member == "f3");
    BOOST_TEST(d.reason == Reason::route_tag);
    // Strict routing: the farm URI in the Request-URI, no Route.
    auto ack = request("ACK", "call-1");
    ack.request_uri = "sip:203.0.113.1;lr;fm=f2";
    BOOST_TEST(route(ack, Origin::outside, three()).member == "f2");
    // A strict router: our URI in the Request-URI, the next hop in Route.
    auto strict = request("BYE", "call-1");
    strict.request_uri = "sip:203.0.113.1;lr;fm=f2";
    strict.top_route = "<sip:192.0.2.7;lr>";
    BOOST_TEST(route(strict, Origin::outside, three()).member == "f2");
    // On the owner itself.
    BOOST_TEST((route(bye, Origin::outside, three("f3")).kind == Kind::local));
    // Regardless of SIP Farm settings: a member that is not a farm Member
    // (a draining one too) still gets its dialogs.
    auto v = three();
    v.members[2].farm_member = false;
    v.members[2].draining = true;
    BOOST_TEST(route(bye, Origin::outside, v).member == "f3");
    // The route tag wins over the Call-ID.
    for (auto m : {"INVITE", "UPDATE", "INFO", "NOTIFY", "PRACK", "MESSAGE"}) {
        auto r = request(m, "call-1");
        r.top_route = "<sip:203.0.113.1;lr;fm=f3>";
        BOOST_TEST(route(r, Origin::outside, three()).member == "f3", m);
    }
}

BOOST_AUTO_TEST_CASE(transaction_requests_meet_on_the_call_id_owner) {
    auto v = three();
    for (int i = 0; i < 200; ++i) {
        std::string cid = "call-" + std::to_string(i) + "@client";
        std::string owner = rendezvous_owner(cid, v);
        BOOST_TEST((owner == "f1" || owner == "f2" || owner == "f3"));
        // INVITE, its retransmission, CANCEL and the non-2xx ACK share the
        // Call-ID and carry no route tag: one owner, from any member.
        for (auto m : {"INVITE", "INVITE", "CANCEL", "ACK"})
            for (auto self : {"f1", "f2", "f3"}) {
                auto d = route(request(m, cid), Origin::outside, three(self));
                std::string got = d.kind == Kind::local ? std::string(self) : d.member;
                BOOST_TEST(got == owner);
            }
    }
}

BOOST_AUTO_TEST_CASE(rendezvous_spreads_and_moves_little) {
    auto v = three();
    std::map<std::string, int> count;
    std::map<std::string, std::string> before;
    for (int i = 0; i < 3000; ++i) {
        std::string cid = std::to_string(i) + "x@host";
        before[cid] = rendezvous_owner(cid, v);
        ++count[before[cid]];
    }
    for (auto id : {"f1", "f2", "f3"})
        BOOST_TEST((count[id] > 850 && count[id] < 1150), id << " got " << count[id]);
    BOOST_TEST(count["b1"] == 0); // not a farm Member
    // f2 draining: only its Call-IDs move; the others stay where they were.
    v.members[1].draining = true;
    int moved = 0;
    for (auto& [cid, owner] : before) {
        std::string now = rendezvous_owner(cid, v);
        BOOST_TEST(now != "f2");
        if (owner != "f2")
            BOOST_TEST(now == owner);
        else
            ++moved;
    }
    BOOST_TEST(moved == count["f2"]);
    // Nobody eligible: no owner.
    for (auto& m : v.members)
        m.alive = false;
    BOOST_TEST(rendezvous_owner("x", v).empty());
}

BOOST_AUTO_TEST_CASE(modes_and_origins) {
    auto inv = request("INVITE", "abc");
    // Disabled (not a farm Member): everything it gets is processed here.
    auto v = three("b1");
    v.self_farm_member = false;
    auto d = route(inv, Origin::outside, v);
    BOOST_TEST((d.kind == Kind::local));
    BOOST_TEST(d.reason == Reason::not_farm_member);
    // The processor's own requests start here ...
    BOOST_TEST(route(inv, Origin::processor, three()).reason == Reason::processor);
    // ... unless this is a Relay backend: a Member sends them out.
    v.self_relay = true;
    d = route(inv, Origin::processor, v);
    BOOST_TEST((d.kind == Kind::relay));
    BOOST_TEST(d.member == rendezvous_owner("abc", v));
    BOOST_TEST(d.reason == Reason::relay_mode);
    // No Member anywhere: a relay backend does it itself.
    for (auto& m : v.members)
        m.farm_member = false;
    BOOST_TEST(route(inv, Origin::processor, v).reason == Reason::no_farm_member);
    // A relayed request is processed where it was sent when this member's
    // view agrees, or has taken the most hops already; else it takes one
    // more hop (the hand-off: handoff_test.cpp).
    auto other = three("f1");
    std::string owner = rendezvous_owner("abc", other);
    inv.hops = 1;
    d = route(inv, Origin::farm_link, three(owner));
    BOOST_TEST((d.kind == Kind::local));
    BOOST_TEST(d.reason == Reason::relayed);
    // Sent by a plain hash to a member whose view names another owner: the
    // sender's view is the newer one, so it stays.
    std::string self = owner == "f1" ? "f2" : "f1";
    d = route(inv, Origin::farm_link, three(self));
    BOOST_TEST((d.kind == Kind::local));
    BOOST_TEST(d.reason == Reason::relayed);
    // Part of a hand-off (someone asked already): on to the owner.
    std::vector<std::string> asked = {"f3"};
    inv.asked = &asked;
    d = route(inv, Origin::farm_link, three(self));
    BOOST_TEST((d.kind == Kind::relay));
    BOOST_TEST(d.member == owner);
    inv.hops = MAX_FARM_HOPS;
    d = route(inv, Origin::farm_link, three(self));
    BOOST_TEST((d.kind == Kind::local));
    BOOST_TEST(d.reason == Reason::relayed);
    auto bye = request("BYE", "abc");
    bye.top_route = "<sip:h;lr;fm=f3>";
    BOOST_TEST(route(bye, Origin::farm_link, three("f1")).reason == Reason::relay_loop);
}

BOOST_AUTO_TEST_CASE(probes_can_name_the_answering_member) {
    auto p = request("OPTIONS", "probe-1");
    p.probe = true;
    p.reply_from = "f3";
    auto d = route(p, Origin::outside, three());
    BOOST_TEST(d.member == "f3");
    BOOST_TEST(d.reason == Reason::reply_from);
    // A dead or unknown member: the usual owner answers.
    auto v = three();
    v.members[2].alive = false;
    BOOST_TEST(route(p, Origin::outside, v).reason == Reason::call_id_hash);
    p.reply_from = "nobody";
    BOOST_TEST(route(p, Origin::outside, three()).reason == Reason::call_id_hash);
}

BOOST_AUTO_TEST_SUITE_END()

// The reasons' names are the words of counters, metrics and the route
// operation (rtfarm-control(7)): one table gives each its name and its
// explanation, and cgclusterctl route explains a reason only from it.
BOOST_AUTO_TEST_SUITE(route_reasons)

BOOST_AUTO_TEST_CASE(every_reason_has_its_own_name_and_explanation) {
    std::set<std::string_view> names;
    std::set<std::string_view> explanations;
    for (size_t i = 0; i < std::size(REASONS); ++i) {
        auto r = static_cast<Reason>(i);
        std::string_view name = to_string(r);
        BOOST_TEST(!name.empty());
        BOOST_TEST(name.find_first_not_of("abcdefghijklmnopqrstuvwxyz_") == std::string_view::npos,
                   name);
        BOOST_TEST(names.insert(name).second, name << " named twice");
        BOOST_TEST(!REASONS[i].explanation.empty(), name);
        BOOST_TEST(explanations.insert(REASONS[i].explanation).second, name);
        BOOST_TEST((reason_named(name) == r), name);
        std::string why = explain(r, "f2", "f3", "f1");
        BOOST_TEST(!why.empty(), name);
        BOOST_TEST(why.find_first_of("{}") == std::string::npos, name << ": " << why);
    }
    BOOST_TEST(!reason_named("").has_value());
    BOOST_TEST(!reason_named("locally").has_value());
    BOOST_TEST(!reason_named("Via_tag").has_value());
    // The route op's "action", both ways.
    for (auto k : {Decision::Kind::local, Decision::Kind::relay, Decision::Kind::drop})
        BOOST_TEST((decision_kind_named(to_string(k)) == k), to_string(k));
    BOOST_TEST(to_string(Decision::Kind::relay) == "relay");
    BOOST_TEST(!decision_kind_named("Relay").has_value());
}

BOOST_AUTO_TEST_CASE(names_are_the_words_of_the_counters) {
    const std::map<Reason, std::string_view> words = {
        {Reason::via_tag, "via_tag"},
        {Reason::route_tag, "route_tag"},
        {Reason::call_id_hash, "call_id_hash"},
        {Reason::processor, "processor"},
        {Reason::not_farm_member, "not_farm_member"},
        {Reason::no_farm_member, "no_farm_member"},
        {Reason::reply_from, "reply_from"},
        {Reason::relay_mode, "relay_mode"},
        {Reason::relayed, "relayed"},
        {Reason::known_call_id, "known_call_id"},
        {Reason::handoff, "handoff"},
        {Reason::handoff_passed, "handoff_passed"},
        {Reason::response_without_farm_via, "response_without_farm_via"},
        {Reason::processor_answered_its_own, "processor_answered_its_own"},
        {Reason::unknown_member, "unknown_member"},
        {Reason::owner_down, "owner_down"},
        {Reason::relay_loop, "relay_loop"},
    };
    BOOST_TEST(words.size() == std::size(REASONS));
    for (const auto& [r, word] : words)
        BOOST_TEST(to_string(r) == word);
}

BOOST_AUTO_TEST_CASE(explanations_fill_in_the_members) {
    // Word for word what cgclusterctl route printed before the table.
    const std::map<Reason, std::string> said = {
        {Reason::call_id_hash, "f2 owns the Call-ID: rendezvous hash over the farm Members that "
                               "are up and not draining"},
        {Reason::handoff, "the membership changed lately: f2 owned the Call-ID in an earlier view "
                          "and is asked first whether the call is in progress there; a new call "
                          "goes on to the owner now, f3"},
        {Reason::route_tag,
         "its top Route (or Request-URI) names f2 (fm=f2), which Record-Routed the dialog"},
        {Reason::via_tag, "a response: its top Via carries f2's branch tag"},
        {Reason::reply_from, "an lbcheck probe that asks f2 to answer"},
        {Reason::not_farm_member, "f1 is not a farm Member: it processes what it receives"},
        {Reason::no_farm_member, "no farm Member is up: f1 processes it"},
        {Reason::response_without_farm_via, "a response without this farm's Via: dropped"},
        {Reason::owner_down, "the member it belongs to is down: dropped"},
        {Reason::unknown_member, "it names a member that is not in the cluster: dropped"},
    };
    for (const auto& [r, text] : said)
        BOOST_TEST(explain(r, "f2", "f3", "f1") == text);
}

BOOST_AUTO_TEST_SUITE_END()
