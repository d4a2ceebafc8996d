// sipfarmd routing for real, on loopback: three members (127.0.0.1-3), each
// with a "processor" that is a socket of this test, and a client socket.
// Every request is sent to a member other than its owner at least once, so
// the farm link and the routing rules are exercised end to end. The
// namespace lab with a load balancer and SIPp builds on the same daemons.
#include "cluster_fixture.hpp"
#include "harness.hpp"
#include "sip_messages.hpp"
#include "udp_peer.hpp"

#include "control/control_client.hpp"
#include "sip/farm_link.hpp"
#include "sip/farm_tags.hpp"
#include "sip/proxy.hpp"
#include "sip/route.hpp"
#include "sip/scanner.hpp"

#include <boost/test/unit_test.hpp>

#include <openssl/evp.h>

#include <signal.h>

#include <algorithm>
#include <memory>
#include <thread>

using namespace rtfarm;
using namespace rtfarm::test;

namespace {

// Three members with processors, started; processors and a client ready.
struct Farm {
    LoopbackLab lab{3};
    std::vector<std::unique_ptr<UdpPeer>> processors;
    UdpPeer client{"127.0.0.9:0"};

    // `started`: how many of the members run from the start (the others
    // are configured but started later by the test with start_member()).
    // `extra`: more "cluster" fields as JSON text.
    explicit Farm(const std::string& secret = "", size_t started = 3,
                  const std::string& extra = "") {
        lab.cluster.extra = extra;
        for (auto& m : lab.cluster.members)
            m.processor_port = free_port();
        if (!secret.empty()) {
            lab.dir.write("farm.key", secret);
            lab.cluster.secret_file = lab.dir.file("farm.key");
        }
        lab.write();
        for (auto& m : lab.cluster.members)
            processors.push_back(
                std::make_unique<UdpPeer>(m.address + ":" + std::to_string(m.processor_port)));
        for (size_t i = 0; i < started; ++i)
            lab.start("sipfarmd", lab.cluster.members[i].id);
        for (size_t i = 0; i < started; ++i)
            BOOST_REQUIRE_MESSAGE(wait_states(i, started),
                                  lab.cluster.members[i].id << " never saw the members up");
    }
    void start_member(size_t i) {
        lab.start("sipfarmd", lab.cluster.members[i].id);
        for (size_t k = 0; k < lab.processes.size(); ++k)
            BOOST_REQUIRE_MESSAGE(wait_states(k, lab.processes.size()),
                                  lab.cluster.members[k].id << " never saw every member up");
    }
    json::Json call(size_t i, const char* op) {
        auto c = control::ControlClient::connect(
            lab.cluster.control(lab.dir, lab.cluster.members[i].id), scaled(2000ms));
        BOOST_REQUIRE(c.ok());
        auto r = c->call(op, json::Json::object(), scaled(2000ms));
        BOOST_REQUIRE(r.ok());
        return r.value();
    }
    // Heartbeats bring the first `running` members up in member i's view,
    // and the others down (bounded wait).
    bool wait_states(size_t i, size_t running) {
        auto deadline = std::chrono::steady_clock::now() + scaled(5000ms);
        while (std::chrono::steady_clock::now() < deadline) {
            auto members = call(i, "members")["members"];
            bool all = true;
            for (size_t k = 0; k < members.size(); ++k)
                all = all && members.at(k)["state"].as_string() ==
                                 std::string(k < running ? "up" : "down");
            if (all)
                return true;
            std::this_thread::sleep_for(20ms);
        }
        return false;
    }
    size_t index(const std::string& id) const { return static_cast<size_t>(id[1] - '1'); }
    std::string sip(size_t i) const {
        const auto& m = lab.cluster.members[i];
        return m.address + ":" + std::to_string(m.sip_ports[0]);
    }
    // The owner by the view in which the members in `out` are down or draining.
    std::string owner(const std::string& call_id, std::vector<std::string> out = {}) const {
        sip::FarmView v;
        for (const auto& m : lab.cluster.members)
            v.members.push_back(
                {m.id, true, true, std::find(out.begin(), out.end(), m.id) != out.end()});
        v.key = lab.cluster.route_key();
        return sip::rendezvous_owner(call_id, v);
    }
    json::Json stats(size_t i) {
        auto c = control::ControlClient::connect(
            lab.cluster.control(lab.dir, lab.cluster.members[i].id), scaled(2000ms));
        BOOST_REQUIRE(c.ok());
        auto r = c->call("stats", json::Json::object(), scaled(2000ms));
        BOOST_REQUIRE(r.ok());
        return r.value()["service"];
    }
    long long dropped(size_t i, const char* reason) {
        return stats(i)["dropped_by"][reason].as_integer().value_or(0);
    }
};

std::string sha256_hex(std::string_view data) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
    std::string out;
    char buf[3];
    for (unsigned i = 0; i < len; ++i) {
        std::snprintf(buf, sizeof buf, "%02x", md[i]);
        out += buf;
    }
    return out;
}

// One INVITE / 200 / ACK / BYE / 200 call where every client request goes to
// a member chosen by `entry` (rotating), checking each arrives on the owner.
void one_call(Farm& f, const std::string& call_id, size_t entry) {
    std::string owner = f.owner(call_id);
    size_t o = f.index(owner);
    std::string client = f.client.address().str();

    f.client.send(f.sip(entry % 3), request("INVITE", call_id, 1, client, "z9hG4bK" + call_id));
    auto inv = f.processors[o]->recv();
    BOOST_REQUIRE_MESSAGE(inv, call_id << ": INVITE did not reach " << owner << "'s processor");
    auto im = scan_ok(inv->bytes);
    BOOST_TEST(sip::branch_member(im.via[0].branch.in(inv->bytes)).value_or("") == owner);
    BOOST_TEST(sip::uri_farm_member(im.record_route.value.in(inv->bytes)).value_or("") == owner);
    BOOST_TEST(im.via[1].branch.in(inv->bytes) == "z9hG4bK" + call_id);

    // A retransmission through another member meets the same owner, same branch.
    f.client.send(f.sip((entry + 1) % 3),
                  request("INVITE", call_id, 1, client, "z9hG4bK" + call_id));
    auto again = f.processors[o]->recv();
    BOOST_REQUIRE(again);
    BOOST_TEST(again->bytes == inv->bytes);

    answer(*f.processors[o], *inv, 200, "uas-" + call_id);
    auto ok = f.client.recv();
    BOOST_REQUIRE_MESSAGE(ok, call_id << ": no 200 at the client");
    auto om = scan_ok(ok->bytes);
    BOOST_TEST(om.status == 200);
    BOOST_TEST(om.via_count == 1u);
    std::string route = "Route: " + std::string(om.record_route.value.in(ok->bytes)) + "\r\n";

    // ACK and BYE follow the Record-Route, sent to the other members.
    f.client.send(f.sip((o + 1) % 3), request("ACK", call_id, 1, client, "z9hG4bKack" + call_id,
                                              route, "uas-" + call_id));
    auto ack = f.processors[o]->recv();
    BOOST_REQUIRE_MESSAGE(ack, call_id << ": ACK did not reach " << owner);
    BOOST_TEST(!scan_ok(ack->bytes).route.line.present());

    f.client.send(f.sip((o + 2) % 3), request("BYE", call_id, 2, client, "z9hG4bKbye" + call_id,
                                              route, "uas-" + call_id));
    auto bye = f.processors[o]->recv();
    BOOST_REQUIRE_MESSAGE(bye, call_id << ": BYE did not reach " << owner);
    answer(*f.processors[o], *bye, 200, "");
    auto bye_ok = f.client.recv();
    BOOST_REQUIRE_MESSAGE(bye_ok, call_id << ": no 200 for BYE");
    BOOST_TEST(scan_ok(bye_ok->bytes).cseq == 2u);
}

} // namespace

BOOST_AUTO_TEST_SUITE(farm_loopback)

BOOST_AUTO_TEST_CASE(calls_meet_their_owner_from_any_member) {
    Farm f;
    for (int i = 0; i < 12; ++i)
        one_call(f, "call-" + std::to_string(i) + "@client", static_cast<size_t>(i));
    // Nothing reached a processor that does not own it.
    for (auto& p : f.processors)
        BOOST_TEST(!p->recv(100ms).has_value());
    long long relayed = 0;
    for (size_t i = 0; i < 3; ++i)
        relayed += f.stats(i)["relayed"].as_integer().value_or(0);
    BOOST_TEST(relayed >= 12);
    for (auto& p : f.lab.processes)
        BOOST_TEST(unexpected_errors(p->log()).empty(), p->log());
}

// A proxy processor names the farm's public address in its Via (Kamailio's
// `advertise`), not where it listens: the callee's answers, arriving at any
// member, still reach it, and so do the answers to requests it makes itself.
BOOST_AUTO_TEST_CASE(answers_reach_a_processor_whose_via_names_another_address) {
    Farm f;
    std::string target = f.client.address().str();
    for (int i = 0; i < 3; ++i) {
        std::string call_id = "adv-" + std::to_string(i) + "@proc";
        std::string inv =
            processor_request("INVITE", "sip:carol@" + target, "127.0.0.254:5060",
                              "z9hG4bKadv" + std::to_string(i), "", "p1", "", call_id, 1);
        f.processors[0]->send(f.sip(0), inv);
        auto got = f.client.recv();
        BOOST_REQUIRE_MESSAGE(got, call_id << ": the INVITE did not reach the target");
        auto gm = scan_ok(got->bytes);
        BOOST_TEST(gm.via[1].host.in(got->bytes) == "127.0.0.254");
        // Answered through another member each time (a load balancer's spray).
        f.client.send(f.sip(static_cast<size_t>(i)),
                      response_to(got->bytes, 180, "c" + std::to_string(i), target));
        auto ringing = f.processors[0]->recv();
        BOOST_REQUIRE_MESSAGE(ringing, call_id << ": the 180 did not reach the processor");
        auto rm = scan_ok(ringing->bytes);
        BOOST_TEST(rm.status == 180);
        BOOST_TEST(rm.via_count == 1u);
        BOOST_TEST(rm.via[0].host.in(ringing->bytes) == "127.0.0.254");
    }
    for (auto& p : f.processors)
        BOOST_TEST(!p->recv(100ms).has_value());
    for (auto& p : f.lab.processes)
        BOOST_TEST(unexpected_errors(p->log()).empty(), p->log());
}

// Issue 17: from a member's own farm link address (f3's, configured but not
// running, so the test can bind it), a packet signed with the secret is
// taken once; the same bytes again are a replay; one meant for another
// member, one claiming another sender, and unsigned or wrongly signed ones
// are refused. None reaches a processor.
BOOST_AUTO_TEST_CASE(farm_link_replays_and_misdirected_packets_are_refused) {
    const std::string secret = "a farm secret";
    Farm f(secret, 2);
    BOOST_REQUIRE(f.wait_states(0, 2));
    const auto& f3 = f.lab.cluster.members[2];
    UdpPeer as_f3(f3.address + ":" + std::to_string(f.lab.cluster.farm_port));
    const std::string link = "127.0.0.1:" + std::to_string(f.lab.cluster.farm_port);
    std::string cid;
    for (int i = 0; i < 1000 && cid.empty(); ++i)
        if (f.owner("replay-" + std::to_string(i), {"f3"}) == "f1")
            cid = "replay-" + std::to_string(i);
    BOOST_REQUIRE(!cid.empty());
    std::string client = f.client.address().str();
    std::string invite = request("INVITE", cid, 1, client, "z9hG4bKreplay");
    sip::FarmEnvelope env;
    env.source = f.client.address();
    env.destination = SockAddr::parse(f.sip(2)).value();
    env.receiver = "f3";
    env.sender = "f3";
    env.to = "f1";
    env.incarnation = 1;
    env.sequence = 1;
    std::string signed_packet = sip::encode_farm_packet(env, invite, secret);
    as_f3.send(link, signed_packet);
    BOOST_TEST(f.processors[0]->recv(scaled(2000ms)).has_value(),
               "the signed packet was not taken");
    as_f3.send(link, signed_packet);
    auto misdirected = env;
    misdirected.to = "f2";
    misdirected.sequence = 2;
    as_f3.send(link, sip::encode_farm_packet(misdirected, invite, secret));
    auto impostor = env;
    impostor.sender = "f2";
    impostor.sequence = 3;
    as_f3.send(link, sip::encode_farm_packet(impostor, invite, secret));
    env.sequence = 4;
    as_f3.send(link, sip::encode_farm_packet(env, invite, ""));
    as_f3.send(link, sip::encode_farm_packet(env, invite, "wrong secret"));
    auto deadline = std::chrono::steady_clock::now() + scaled(2000ms);
    while (f.dropped(0, "farm_bad_mac") == 0 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(10ms);
    BOOST_TEST(f.dropped(0, "replayed") == 1);
    BOOST_TEST(f.dropped(0, "farm_wrong_member") == 1);
    BOOST_TEST(f.dropped(0, "farm_impostor") == 1);
    BOOST_TEST(f.dropped(0, "farm_unauthenticated") == 1);
    BOOST_TEST(f.dropped(0, "farm_bad_mac") == 1);
    for (auto& p : f.processors)
        BOOST_TEST(!p->recv(100ms).has_value());
    // The members' own packets go on being taken: f1 and f2 see each other.
    std::this_thread::sleep_for(scaled(1200ms));
    BOOST_TEST(f.wait_states(0, 2));
    BOOST_TEST(f.wait_states(1, 2));
    BOOST_TEST(f.dropped(1, "replayed") == 0);
}

// One source sprays new INVITEs over the three members at up to 100/s:
// about 33/s each, under the limit of 50 that each member alone would apply
// (pike's view), but twice the limit for the farm. The members tell each
// other their counts and every one of them blocks it; another client still
// gets through, and the source is released once quiet.
BOOST_AUTO_TEST_CASE(a_flood_sprayed_over_the_members_is_blocked_farm_wide) {
    Farm f("", 3, "\"flood_limit\": 50, \"flood_quiet_s\": 2");
    UdpPeer flooder("127.0.0.10:0");
    std::string from = flooder.address().str();
    const int sent = 300;
    for (int i = 0; i < sent; ++i) {
        flooder.send(f.sip(static_cast<size_t>(i) % 3),
                     request("INVITE", "flood-" + std::to_string(i), 1, from,
                             "z9hG4bKfl" + std::to_string(i)));
        std::this_thread::sleep_for(10ms);
    }
    int reached = 0;
    for (auto& p : f.processors)
        while (p->recv(100ms))
            ++reached;
    BOOST_TEST(reached < sent / 2, reached << " of " << sent << " reached a processor");
    for (size_t i = 0; i < 3; ++i) {
        BOOST_TEST(f.dropped(i, "flood_blocked") > 0, "member " << i + 1 << " blocked nothing");
        BOOST_TEST(f.stats(i)["flood"]["blocked"].as_integer().value_or(0) >= 0);
    }
    // Another source is not blocked.
    one_call(f, "legit-during-flood@client", 0);
    // Quiet for longer than flood_quiet_s: released.
    std::this_thread::sleep_for(scaled(3000ms));
    flooder.send(f.sip(0), request("INVITE", "after-quiet", 1, from, "z9hG4bKaq"));
    std::optional<Received> got;
    for (auto& p : f.processors)
        if (!got)
            got = p->recv(scaled(500ms));
    BOOST_TEST(got.has_value(), "the source was not released after the quiet period");
}

// A trunk in flood_exempt sends the same spray: nothing of it is counted
// or blocked.
BOOST_AUTO_TEST_CASE(an_exempt_source_is_never_blocked) {
    Farm f("", 3,
           "\"flood_limit\": 50, \"flood_quiet_s\": 2, \"flood_exempt\": [\"127.0.0.11/32\"]");
    UdpPeer trunk("127.0.0.11:0");
    std::string from = trunk.address().str();
    const int sent = 300;
    int reached = 0;
    for (int i = 0; i < sent; ++i) {
        trunk.send(f.sip(static_cast<size_t>(i) % 3),
                   request("INVITE", "trunk-" + std::to_string(i), 1, from,
                           "z9hG4bKtr" + std::to_string(i)));
        std::this_thread::sleep_for(10ms);
        for (auto& p : f.processors)
            while (p->recv(0ms))
                ++reached;
    }
    for (auto& p : f.processors)
        while (p->recv(100ms))
            ++reached;
    BOOST_TEST(reached == sent);
    for (size_t i = 0; i < 3; ++i)
        BOOST_TEST(f.dropped(i, "flood_blocked") == 0);
}

BOOST_AUTO_TEST_CASE(probes_are_answered_by_the_owner_with_farm_headers) {
    Farm f;
    std::string client = f.client.address().str();
    std::string probe = request("OPTIONS", "probe-1", 1, client, "z9hG4bKp1");
    f.client.send(f.sip(0), probe);
    auto r = f.client.recv();
    BOOST_REQUIRE(r);
    auto m = scan_ok(r->bytes);
    BOOST_TEST(m.status == 200);
    BOOST_TEST(sip::header_value(r->bytes, m, "X-Farm-Received-By") == "f1");
    BOOST_TEST(sip::header_value(r->bytes, m, "X-Farm-Answered-By") == f.owner("probe-1"));
    BOOST_TEST(sip::header_value(r->bytes, m, "X-Farm-Source") == client);
    BOOST_TEST(sip::header_value(r->bytes, m, "X-Farm-Digest") == sha256_hex(probe));
    // The probe never reaches a processor.
    for (auto& p : f.processors)
        BOOST_TEST(!p->recv(50ms).has_value());

    // X-Farm-Reply-From picks the member that answers.
    std::string pick =
        request("OPTIONS", "probe-2", 1, client, "z9hG4bKp2", "X-Farm-Reply-From: f3\r\n");
    f.client.send(f.sip(1), pick);
    auto r2 = f.client.recv();
    BOOST_REQUIRE(r2);
    auto m2 = scan_ok(r2->bytes);
    BOOST_TEST(sip::header_value(r2->bytes, m2, "X-Farm-Received-By") == "f2");
    BOOST_TEST(sip::header_value(r2->bytes, m2, "X-Farm-Answered-By") == "f3");
}

BOOST_AUTO_TEST_CASE(bad_input_is_counted_and_the_farm_goes_on) {
    Farm f("a farm secret");
    std::string client = f.client.address().str();
    // Garbage, a keep-alive, a truncated request, on every member's SIP socket.
    for (size_t i = 0; i < 3; ++i) {
        f.client.send(f.sip(i), "\x01\x02garbage\xff");
        f.client.send(f.sip(i), "\r\n\r\n");
        f.client.send(f.sip(i),
                      "INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 1.2.3.4\r\n");
    }
    // A response that is not ours.
    f.client.send(f.sip(0), "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.9:5060;branch=z9hG4bKx\r\n"
                            "From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: r1\r\n"
                            "CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n");
    // Max-Forwards 0: answered 483 by the owner.
    std::string hops = request("OPTIONS", "mf-0", 1, client, "z9hG4bKmf0");
    hops.replace(hops.find("sip:lbcheck@"), 12, "sip:someone@");
    hops.replace(hops.find("Max-Forwards: 70"), 16, "Max-Forwards: 0");
    f.client.send(f.sip(0), hops);
    auto r = f.client.recv();
    BOOST_REQUIRE(r);
    BOOST_TEST(scan_ok(r->bytes).status == 483);
    BOOST_TEST(scan_ok(r->bytes).to_tag.len > 0); // a response the farm makes has a To tag

    // Forged farm link packets: from a stranger, and from another port of a
    // member's host (not its farm link socket: any process there could send
    // it; farm_link_replays_and_misdirected_packets_are_refused sends from
    // the farm port).
    std::string link = "127.0.0.1:" + std::to_string(f.lab.cluster.farm_port);
    sip::FarmEnvelope env;
    env.source = f.client.address();
    env.destination = SockAddr::parse(f.sip(1)).value();
    env.receiver = "f2";
    env.sender = "f2";
    std::string invite = request("INVITE", "forged-1", 1, client, "z9hG4bKforged");
    UdpPeer stranger("127.0.0.99:0");
    stranger.send(link, sip::encode_farm_packet(env, invite, "a farm secret"));
    UdpPeer impostor("127.0.0.2:0");
    impostor.send(link, sip::encode_farm_packet(env, invite, ""));
    impostor.send(link, sip::encode_farm_packet(env, invite, "wrong secret"));

    // The farm still carries calls, through authenticated relays.
    for (int i = 0; i < 3; ++i)
        one_call(f, "after-" + std::to_string(i), static_cast<size_t>(i));

    BOOST_TEST(f.dropped(0, "farm_stranger") == 3);
    BOOST_TEST(f.dropped(0, "response_without_farm_via") == 1);
    for (size_t i = 0; i < 3; ++i) {
        BOOST_TEST(f.dropped(i, "keepalive") == 1);
        BOOST_TEST(f.dropped(i, "truncated") + f.dropped(i, "missing_call_id") >= 1);
    }
    // The forged INVITE reached no processor.
    for (auto& p : f.processors)
        BOOST_TEST(!p->recv(100ms).has_value());
    for (auto& p : f.lab.processes) {
        BOOST_TEST(p->running());
        BOOST_TEST(unexpected_errors(p->log()).empty(), p->log());
    }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(farm_membership)

BOOST_AUTO_TEST_CASE(a_killed_member_is_down_within_dead_after_plus_a_heartbeat) {
    Farm f;
    // f3 dies without a word.
    auto& f3 = *f.lab.processes[2];
    auto killed = std::chrono::steady_clock::now();
    f3.signal(SIGKILL);
    BOOST_REQUIRE(f3.wait_exit().has_value());
    std::chrono::milliseconds detected{-1};
    auto deadline = killed + scaled(5000ms);
    while (std::chrono::steady_clock::now() < deadline) {
        auto members = f.call(0, "members")["members"];
        if (members.at(2)["state"].as_string() == std::string("down")) {
            detected = std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::steady_clock::now() - killed);
            break;
        }
        std::this_thread::sleep_for(10ms);
    }
    BOOST_TEST_MESSAGE("dead member detected after " << detected.count() << " ms");
    BOOST_TEST(detected.count() >= 0);
    // dead_after_ms 1000 + heartbeat_ms 200, with room for a slow machine.
    BOOST_TEST(detected <= scaled(1200ms) + 300ms);
    // Once f2 has seen it too (each member detects at its own tick; until
    // then a client's retransmission covers the gap), new calls meet on f1
    // and f2 only, from any member still up.
    BOOST_REQUIRE(f.wait_states(1, 2));
    for (int i = 0; i < 6; ++i) {
        std::string cid = "after-death-" + std::to_string(i);
        std::string client = f.client.address().str();
        f.client.send(f.sip(static_cast<size_t>(i % 2)),
                      request("INVITE", cid, 1, client, "z9hG4bK" + cid));
        bool arrived = false;
        for (size_t p = 0; p < 2 && !arrived; ++p)
            arrived = f.processors[p]->recv(500ms).has_value();
        BOOST_TEST(arrived, cid);
    }
    BOOST_TEST(!f.processors[2]->recv(100ms).has_value());
}

BOOST_AUTO_TEST_CASE(drain_moves_new_calls_and_undrain_brings_them_back) {
    Farm f;
    std::string cfg = f.lab.config();
    auto drain = run({bin_path("cgclusterctl"), "--config", cfg, "drain", "f2"});
    BOOST_REQUIRE_MESSAGE(drain.status == 0, drain.err);
    // Within two heartbeats every member sees it.
    auto deadline = std::chrono::steady_clock::now() + scaled(400ms) + 200ms;
    bool seen = false;
    while (!seen && std::chrono::steady_clock::now() < deadline) {
        seen =
            f.call(0, "members")["members"].at(1)["state"].as_string() == std::string("draining") &&
            f.call(2, "members")["members"].at(1)["state"].as_string() == std::string("draining");
        if (!seen)
            std::this_thread::sleep_for(10ms);
    }
    BOOST_TEST(seen);
    // New Call-IDs never go to f2's processor; f2 itself still relays them.
    std::string client = f.client.address().str();
    for (int i = 0; i < 9; ++i) {
        std::string cid = "drained-" + std::to_string(i);
        f.client.send(f.sip(1), request("INVITE", cid, 1, client, "z9hG4bK" + cid));
        bool arrived =
            f.processors[0]->recv(300ms).has_value() || f.processors[2]->recv(300ms).has_value();
        BOOST_TEST(arrived, cid);
    }
    BOOST_TEST(!f.processors[1]->recv(100ms).has_value());
    auto members = run({bin_path("cgclusterctl"), "--config", cfg, "--json", "members"});
    BOOST_TEST(members.out.find("\"draining\"") != std::string::npos, members.out);
    BOOST_TEST(run({bin_path("cgclusterctl"), "--config", cfg, "undrain", "f2"}).status == 0);
    BOOST_TEST(
        run({bin_path("cgclusterctl"), "--config", cfg, "set", "f2", "sip_farm=boss"}).status == 2);
    auto set = run(
        {bin_path("cgclusterctl"), "--config", cfg, "--json", "set", "f3", "call_legs=locally"});
    BOOST_TEST(set.status == 0, set.err);
    BOOST_TEST(set.out.find("\"call_legs\":\"locally\"") != std::string::npos, set.out);
}

// Issue 17: with --socket or --connect, drain, undrain and set went to the
// daemon of that socket, which changed its own state: `--socket f1.sock
// drain f2` drained f1. The request names its member now, and a daemon
// passes one for another member on to it over the control link.
BOOST_AUTO_TEST_CASE(drain_through_any_members_socket_changes_the_member_named) {
    LoopbackLab lab{3};
    lab.dir.write("farm.key", "a farm secret of at least thirty-two bytes, for the test");
    lab.cluster.secret_file = lab.dir.file("farm.key");
    std::vector<std::string> control_tcp;
    for (auto& m : lab.cluster.members) {
        m.processor_port = free_port();
        control_tcp.push_back(m.address + ":" + std::to_string(free_port()));
        m.extra = "\"control_tcp\": \"" + control_tcp.back() + "\"";
    }
    lab.write();
    for (auto& m : lab.cluster.members)
        lab.start("sipfarmd", m.id);
    for (auto& m : lab.cluster.members)
        BOOST_REQUIRE(lab.all_up(m.id));
    const std::string f1_sock = lab.cluster.control(lab.dir, "f1");
    auto state_of = [&](const std::string& id) {
        auto r = run({bin_path("cgclusterctl"), "--socket", f1_sock, "--json", "members"});
        json::Json members = parse_out(r)["members"];
        for (size_t i = 0; i < members.size(); ++i)
            if (members.at(i)["id"].as_string() == id)
                return members.at(i)["state"].as_string().value_or("?");
        return std::string("absent");
    };

    auto drain = run({bin_path("cgclusterctl"), "--socket", f1_sock, "drain", "f2"});
    BOOST_REQUIRE_MESSAGE(drain.status == 0, drain.err);
    BOOST_TEST(drain.out.find("f2: drain done, now draining") != std::string::npos, drain.out);
    BOOST_TEST(state_of("f1") == "up");
    auto deadline = std::chrono::steady_clock::now() + scaled(1000ms);
    while (state_of("f2") != "draining" && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(20ms);
    BOOST_TEST(state_of("f2") == "draining");

    // Through f3's control_tcp (logged in with the secret of --config).
    const std::string cfg = lab.config();
    auto undrain = run({bin_path("cgclusterctl"), "--config", cfg, "--connect", control_tcp[2],
                        "--json", "undrain", "f2"});
    BOOST_REQUIRE_MESSAGE(undrain.status == 0, undrain.err);
    BOOST_TEST(parse_out(undrain)["changed"].as_string().value_or("") == "f2");
    deadline = std::chrono::steady_clock::now() + scaled(1000ms);
    while (state_of("f2") != "up" && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(20ms);
    BOOST_TEST(state_of("f2") == "up");

    auto set = run({bin_path("cgclusterctl"), "--socket", f1_sock, "--json", "set", "f3",
                    "call_legs=remotely"});
    BOOST_REQUIRE_MESSAGE(set.status == 0, set.err);
    json::Json members = parse_out(set)["members"];
    BOOST_TEST(parse_out(set)["changed"].as_string().value_or("") == "f3");
    for (size_t i = 0; i < members.size(); ++i)
        if (members.at(i)["id"].as_string() == std::string("f3"))
            BOOST_TEST(members.at(i)["configured"]["call_legs"].as_string().value_or("") ==
                           "remotely",
                       set.out);

    // A member the config does not have: refused, nothing changes.
    auto unknown = run({bin_path("cgclusterctl"), "--socket", f1_sock, "drain", "f9"});
    BOOST_TEST(unknown.status == 2);
    BOOST_TEST(unknown.err.find("no member 'f9'") != std::string::npos, unknown.err);
    BOOST_TEST(state_of("f1") == "up");
}

// A Call-ID whose owner is `before` while `out` is out of the view, and
// `after` once it is back.
std::string moving_call_id(const Farm& f, const std::string& prefix, const std::string& out,
                           const std::string& before, const std::string& after) {
    for (int i = 0; i < 2000; ++i) {
        std::string cid = prefix + std::to_string(i);
        if (f.owner(cid, {out}) == before && f.owner(cid) == after)
            return cid;
    }
    BOOST_FAIL("no Call-ID moves from " << before << " to " << after);
    return "";
}

BOOST_AUTO_TEST_CASE(calls_in_progress_stay_where_they_started_when_a_member_joins) {
    Farm f("", 2); // f3 configured, not running: down in f1's and f2's views
    std::string client = f.client.address().str();
    // A call that f1 takes now and that hashes to f3 once f3 is up.
    std::string cid = moving_call_id(f, "joining-", "f3", "f1", "f3");
    std::string invite = request("INVITE", cid, 1, client, "z9hG4bK" + cid);
    f.client.send(f.sip(1), invite);
    auto first = f.processors[0]->recv();
    BOOST_REQUIRE_MESSAGE(first, cid << ": INVITE did not reach f1");

    f.start_member(2);
    // Retransmissions and the CANCEL, through every member, new one included,
    // still meet f1, where the transaction is.
    for (size_t entry : {2, 1, 0}) {
        f.client.send(f.sip(entry), invite);
        auto again = f.processors[0]->recv();
        BOOST_TEST(again.has_value(), cid << " via member " << entry + 1);
        if (again)
            BOOST_TEST(again->bytes == first->bytes);
    }
    f.client.send(f.sip(2), request("CANCEL", cid, 1, client, "z9hG4bK" + cid));
    auto cancel = f.processors[0]->recv();
    BOOST_REQUIRE_MESSAGE(cancel, cid << ": CANCEL did not reach f1");
    BOOST_TEST((scan_ok(cancel->bytes).method_id == sip::Method::cancel));
    BOOST_TEST(!f.processors[2]->recv(100ms).has_value());
    // A new Call-ID that hashes to f3 goes to f3, from any member.
    std::string fresh = moving_call_id(f, "after-join-", "f3", "f1", "f3");
    for (size_t entry : {0, 1, 2}) {
        std::string c = fresh;
        f.client.send(f.sip(entry), request("INVITE", c, 1, client, "z9hG4bKn" + c));
        BOOST_TEST(f.processors[2]->recv().has_value(), fresh << " via member " << entry + 1);
    }
    auto s = f.stats(1);
    BOOST_TEST_MESSAGE("f2 routed_by: " << s["routed_by"].dump());
    BOOST_TEST(f.stats(2)["routed_by"]["handoff"].as_integer().value_or(0) >= 1);
}

// During a hand-off `route` names the member asked first and, as "owner",
// the member that processes a new call: the Call-ID's owner now. f3 joins
// late, so f1 asks f2 first for a Call-ID that f2 owned without f3 and f3
// owns now (one that f1 owned before, f1 knows it does not have).
BOOST_AUTO_TEST_CASE(route_during_a_handoff_names_the_owner_now) {
    Farm f("", 2);
    f.start_member(2);
    std::string f1 = f.lab.cluster.control(f.lab.dir, "f1");
    size_t handoffs = 0;
    std::string example;
    for (int i = 0; i < 60; ++i) {
        std::string cid = "route-handoff-" + std::to_string(i);
        std::string now = f.owner(cid), before = f.owner(cid, {"f3"});
        bool handoff = now == "f3" && before == "f2";
        auto r =
            run({bin_path("cgclusterctl"), "--socket", f1, "--json", "route", "--call-id", cid});
        BOOST_REQUIRE_MESSAGE(r.status == 0, r.out << r.err);
        auto doc = parse_out(r);
        BOOST_TEST(doc["reason"].as_string().value_or("") == (handoff ? "handoff" : "call_id_hash"),
                   cid << ": " << r.out);
        BOOST_TEST(doc["member"].as_string().value_or("") == (handoff ? before : now), cid);
        BOOST_TEST(doc["owner"].as_string().value_or("") == now, cid << ": " << r.out);
        if (handoff && example.empty())
            example = cid;
        handoffs += handoff ? 1 : 0;
    }
    BOOST_REQUIRE(handoffs > 0);
    auto text = run({bin_path("cgclusterctl"), "--socket", f1, "route", "--call-id", example});
    BOOST_TEST(text.status == 0);
    BOOST_TEST(text.out.find("relayed to f2: the membership changed lately") != std::string::npos,
               text.out);
    BOOST_TEST(text.out.find("the owner now, f3") != std::string::npos, text.out);
}

BOOST_AUTO_TEST_CASE(members_started_together_route_without_a_handoff) {
    // Nobody routed without anybody: once each has heard the others are no
    // older than itself, no member keeps a view from before (no extra hops).
    Farm f;
    auto deadline = std::chrono::steady_clock::now() + scaled(3000ms);
    bool none = false;
    while (!none && std::chrono::steady_clock::now() < deadline) {
        none = true;
        for (size_t i = 0; i < 3; ++i)
            none = none && f.stats(i)["handoff_views"].as_integer().value_or(-1) == 0;
        if (!none)
            std::this_thread::sleep_for(50ms);
    }
    BOOST_TEST(none);
}

BOOST_AUTO_TEST_CASE(calls_in_progress_stay_on_a_member_that_drains) {
    Farm f;
    std::string client = f.client.address().str();
    // A call on f2 that would go to f3 once f2 is out of new work.
    std::string cid = moving_call_id(f, "draining-", "f2", "f3", "f2");
    std::string invite = request("INVITE", cid, 1, client, "z9hG4bK" + cid);
    f.client.send(f.sip(0), invite);
    BOOST_REQUIRE_MESSAGE(f.processors[1]->recv(), cid << ": INVITE did not reach f2");
    auto drain = run({bin_path("cgclusterctl"), "--config", f.lab.config(), "drain", "f2"});
    BOOST_REQUIRE_MESSAGE(drain.status == 0, drain.err);
    std::this_thread::sleep_for(scaled(500ms)); // two heartbeats and some
    for (size_t entry : {0, 1, 2}) {
        f.client.send(f.sip(entry), invite);
        BOOST_TEST(f.processors[1]->recv().has_value(), cid << " via member " << entry + 1);
    }
    f.client.send(f.sip(2), request("CANCEL", cid, 1, client, "z9hG4bK" + cid));
    BOOST_TEST(f.processors[1]->recv().has_value(), "CANCEL of " << cid);
    BOOST_TEST(!f.processors[2]->recv(100ms).has_value());
    // A new Call-ID of the same shape goes to f3.
    std::string fresh = moving_call_id(f, "new-while-draining-", "f2", "f3", "f2");
    f.client.send(f.sip(1), request("INVITE", fresh, 1, client, "z9hG4bK" + fresh));
    BOOST_TEST(f.processors[2]->recv().has_value(), fresh);
    BOOST_TEST(!f.processors[1]->recv(100ms).has_value());
}

BOOST_AUTO_TEST_SUITE_END()
