// SIGHUP changes who is in the farm, on real sipfarmd daemons on loopback
// (members 127.0.0.1-3, each with a processor that is a socket of this test):
// a member added to the file and started joins every member's view and takes
// its share of new calls; a member stopped and removed from the file leaves
// every view and the farm link; a broken file changes nothing. In every case
// a call in progress before the change stays on the member it started on.
#include "cluster_fixture.hpp"
#include "harness.hpp"
#include "sip_messages.hpp"
#include "udp_peer.hpp"

#include "base/crypto.hpp"
#include "cluster/membership.hpp"
#include "control/control_client.hpp"
#include "sip/farm_link.hpp"
#include "sip/route.hpp"
#include "sip/scanner.hpp"

#include <boost/test/unit_test.hpp>

#include <signal.h>

#include <memory>
#include <thread>

using namespace rtfarm;
using namespace rtfarm::test;

namespace {

const std::string OLD_SECRET = "the secret this farm had, thirty-two bytes or more";
const std::string NEW_SECRET = "the secret it rotates to, thirty-two bytes or more";

// Three members f1..f3 with processors; the file names the first
// `configured` of them, and those are started.
struct ReloadFarm {
    LoopbackLab lab{3};
    LoopbackCluster all; // the three members; lab.cluster is what the file says
    std::vector<std::unique_ptr<UdpPeer>> processors;
    UdpPeer client{"127.0.0.9:0"};

    // `own_files`: each member reads a file of its own (a key rotation goes
    // member by member), the farm has the secret OLD_SECRET (old.key), and
    // new.key holds NEW_SECRET.
    // `started`: how many of them run (the others are the test's); all by default.
    explicit ReloadFarm(size_t configured, bool own_files = false, size_t started = 0) {
        for (auto& m : lab.cluster.members)
            m.processor_port = free_port();
        if (own_files) {
            lab.dir.write("old.key", OLD_SECRET);
            lab.dir.write("new.key", NEW_SECRET);
            lab.cluster.secret_file = lab.dir.file("old.key");
            for (const auto& m : lab.cluster.members)
                lab.own_config.push_back(m.id);
        }
        all = lab.cluster;
        for (auto& m : all.members)
            processors.push_back(
                std::make_unique<UdpPeer>(m.address + ":" + std::to_string(m.processor_port)));
        configure(configured);
        if (started == 0)
            started = configured;
        for (size_t i = 0; i < started; ++i)
            lab.start("sipfarmd", id(i));
        if (started < configured)
            return;
        std::string up = expected_view(configured, configured);
        for (size_t i = 0; i < configured; ++i)
            BOOST_REQUIRE_MESSAGE(wait_view(i, up), id(i) << " sees " << view(i));
    }
    // Writes a file with the first `n` members.
    void configure(size_t n) {
        lab.cluster = all;
        lab.cluster.members.resize(n);
        lab.write();
        for (const auto& id : lab.own_config)
            lab.write_own(id, lab.cluster);
    }
    std::string id(size_t i) const { return all.members[i].id; }
    std::string sip(size_t i) const {
        const auto& m = all.members[i];
        return m.address + ":" + std::to_string(m.sip_ports[0]);
    }
    // Members are started in order, so process i is member i.
    Process& process(size_t i) { return *lab.processes.at(i); }
    // SIGHUP, and the reload is over (RELOADING=1, then READY=1).
    void reload(size_t i) {
        process(i).signal(SIGHUP);
        BOOST_REQUIRE_MESSAGE(process(i).wait_notify("RELOADING=1"), id(i) << " did not reload");
        BOOST_REQUIRE_MESSAGE(process(i).wait_notify("READY=1"), id(i) << " did not reload");
    }
    json::Json ask(size_t i, const char* op) {
        auto c =
            control::ControlClient::connect(lab.cluster.control(lab.dir, id(i)), scaled(2000ms));
        BOOST_REQUIRE(c.ok());
        auto r = c->call(op, json::Json::object(), scaled(2000ms));
        BOOST_REQUIRE(r.ok());
        return r.value();
    }
    long long counter(size_t i, const char* key) {
        return ask(i, "stats")[key].as_integer().value_or(-1);
    }
    long long dropped(size_t i, const char* reason) {
        return ask(i, "stats")["service"]["dropped_by"][reason].as_integer().value_or(0);
    }
    // Views the hand-off keeps (sip/route.hpp, "Hand-off").
    long long handoff_views(size_t i) {
        return ask(i, "stats")["service"]["handoff_views"].as_integer().value_or(-1);
    }
    // Member i's view, e.g. "f1:up,f2:up,f3:down".
    std::string view(size_t i) {
        auto members = ask(i, "members")["members"];
        std::string out;
        for (size_t k = 0; k < members.size(); ++k)
            out += (k ? "," : "") + members.at(k)["id"].as_string().value_or("?") + ":" +
                   members.at(k)["state"].as_string().value_or("?");
        return out;
    }
    // The first `listed` members, the first `up` of them up, the others down.
    std::string expected_view(size_t listed, size_t up) const {
        std::string out;
        for (size_t k = 0; k < listed; ++k)
            out += (k ? "," : "") + id(k) + (k < up ? ":up" : ":down");
        return out;
    }
    bool wait_view(size_t i, const std::string& want) {
        auto deadline = std::chrono::steady_clock::now() + scaled(3000ms);
        while (std::chrono::steady_clock::now() < deadline) {
            if (view(i) == want)
                return true;
            std::this_thread::sleep_for(20ms);
        }
        return false;
    }
    // The owner of a Call-ID when the first `n` members are up.
    std::string owner(const std::string& call_id, size_t n) const {
        sip::FarmView v;
        for (size_t k = 0; k < n; ++k)
            v.members.push_back({id(k), true, true, false});
        return sip::rendezvous_owner(call_id, v);
    }
    // A Call-ID owned by `with2` among f1, f2 and by `with3` among f1..f3.
    std::string call_id(const std::string& prefix, const std::string& with2,
                        const std::string& with3) const {
        for (int i = 0; i < 2000; ++i) {
            std::string cid = prefix + std::to_string(i);
            if (owner(cid, 2) == with2 && owner(cid, 3) == with3)
                return cid;
        }
        BOOST_FAIL("no Call-ID owned by " << with2 << " then " << with3);
        return "";
    }
    // The processor that receives the next datagram, and what it got.
    std::optional<std::pair<size_t, Received>> arrival() {
        auto deadline = std::chrono::steady_clock::now() + scaled(2000ms);
        while (std::chrono::steady_clock::now() < deadline)
            for (size_t i = 0; i < processors.size(); ++i)
                if (auto r = processors[i]->recv(5ms))
                    return std::make_pair(i, *r);
        return std::nullopt;
    }
    // `bytes` sent to member `entry` reaches processor `want` (and only it).
    std::optional<Received> expect_at(size_t entry, const std::string& bytes, size_t want,
                                      const std::string& what) {
        client.send(sip(entry), bytes);
        auto got = arrival();
        BOOST_TEST(got.has_value(), what << " via " << id(entry) << " reached no processor");
        if (!got)
            return std::nullopt;
        BOOST_TEST(got->first == want,
                   what << " via " << id(entry) << " reached " << id(got->first));
        return got->second;
    }
    bool processors_quiet() {
        bool quiet = true;
        for (auto& p : processors)
            quiet = !p->recv(50ms).has_value() && quiet;
        return quiet;
    }
    void no_unexpected_errors(const std::vector<std::string>& expected = {}) {
        for (auto& p : lab.processes)
            BOOST_TEST(unexpected_errors(p->log(), expected).empty(), p->log());
    }
};

// A farm-link heartbeat of `id` as its daemon would send it (by default
// from a run newer than any real one).
std::string heartbeat_packet(const std::string& id, const std::string& link,
                             uint64_t incarnation = 1ull << 50, uint64_t seq = 1) {
    cluster::Heartbeat hb;
    hb.id = id;
    hb.incarnation = incarnation;
    hb.seq = seq;
    sip::FarmEnvelope env;
    env.flags = sip::FARM_FLAG_HEARTBEAT;
    env.source = SockAddr::parse(link).value();
    env.destination = env.source;
    env.receiver = id;
    env.sender = id;
    env.to = "f1";
    env.incarnation = hb.incarnation;
    env.sequence = seq;
    return sip::encode_farm_packet(env, cluster::encode_heartbeat(hb), "");
}

} // namespace

BOOST_AUTO_TEST_SUITE(farm_reload)

BOOST_AUTO_TEST_CASE(a_member_added_by_sighup_joins_and_calls_in_progress_stay) {
    ReloadFarm f(2);
    std::string client = f.client.address().str();
    // Two calls in progress, on f1 and on f2, whose Call-IDs hash to f3
    // once f3 is in; each INVITE enters through the other member.
    struct InProgress {
        std::string call_id;
        size_t member;
        std::string invite;
        std::string first; // as the processor got it
    };
    std::vector<InProgress> calls;
    for (size_t m : {0, 1}) {
        InProgress c{f.call_id("before-join-", f.id(m), "f3"), m, "", ""};
        c.invite = request("INVITE", c.call_id, 1, client, "z9hG4bK" + c.call_id);
        auto got = f.expect_at(1 - m, c.invite, m, c.call_id);
        BOOST_REQUIRE(got);
        c.first = got->bytes;
        calls.push_back(c);
    }

    long long handoff_views[2] = {f.handoff_views(0), f.handoff_views(1)};
    f.configure(3);
    f.reload(0);
    f.reload(1);
    // f3 is in the view at once, down until heard (it is not running yet).
    // No member that new calls hash over came or went: the hand-off keeps
    // no view for it.
    for (size_t i : {0, 1}) {
        BOOST_TEST(f.view(i) == f.expected_view(3, 2));
        BOOST_TEST(f.handoff_views(i) == handoff_views[i], f.id(i));
    }
    f.lab.start("sipfarmd", "f3");
    for (size_t i = 0; i < 3; ++i)
        BOOST_REQUIRE_MESSAGE(f.wait_view(i, f.expected_view(3, 3)), f.id(i) << ": " << f.view(i));
    auto ctl = run({bin_path("cgclusterctl"), "--config", f.lab.config(), "--json", "members"});
    BOOST_TEST(ctl.status == 0, ctl.err);
    BOOST_TEST(ctl.out.find("\"id\":\"f3\"") != std::string::npos, ctl.out);

    // Retransmissions through every member, the new one included, and the
    // CANCEL through f3 still meet the processor where the INVITE went.
    for (const auto& c : calls) {
        for (size_t entry : {0, 1, 2}) {
            auto again = f.expect_at(entry, c.invite, c.member, c.call_id + " retransmission");
            if (again)
                BOOST_TEST(again->bytes == c.first);
        }
        auto cancel = f.expect_at(2, request("CANCEL", c.call_id, 1, client, "z9hG4bK" + c.call_id),
                                  c.member, c.call_id + " CANCEL");
        if (cancel)
            BOOST_TEST((scan_ok(cancel->bytes).method_id == sip::Method::cancel));
    }
    // New Call-IDs that hash to f3 go to f3's processor, from any member.
    for (size_t entry : {0, 1, 2}) {
        std::string cid = f.call_id("after-join-" + f.id(entry) + "-", f.id(entry % 2), "f3");
        f.expect_at(entry, request("INVITE", cid, 1, client, "z9hG4bK" + cid), 2, cid);
    }
    BOOST_TEST(f.processors_quiet());
    for (size_t i : {0, 1}) {
        BOOST_TEST(f.counter(i, "reloads") == 1);
        BOOST_TEST(f.counter(i, "reload_failures") == 0);
    }
    f.no_unexpected_errors();
}

BOOST_AUTO_TEST_CASE(a_member_removed_by_sighup_leaves_and_calls_in_progress_stay) {
    ReloadFarm f(3);
    std::string client = f.client.address().str();
    // A call in progress on f1, its INVITE entered through f3.
    std::string cid = f.call_id("before-leave-", "f1", "f1");
    std::string invite = request("INVITE", cid, 1, client, "z9hG4bK" + cid);
    auto inv = f.expect_at(2, invite, 0, cid);
    BOOST_REQUIRE(inv);

    f.process(2).signal(SIGTERM);
    BOOST_REQUIRE(f.process(2).wait_exit().value_or(-1) == 0);
    f.configure(2);
    f.reload(0);
    f.reload(1);
    BOOST_TEST(f.view(0) == f.expected_view(2, 2));
    BOOST_TEST(f.view(1) == f.expected_view(2, 2));
    auto ctl = run({bin_path("cgclusterctl"), "--socket", f.lab.cluster.control(f.lab.dir, "f2"),
                    "--json", "members"});
    BOOST_TEST(ctl.status == 0, ctl.err);
    BOOST_TEST(ctl.out.find("\"f3\"") == std::string::npos, ctl.out);

    // The call completes on f1: a retransmission, the 200, ACK and BYE by
    // the Record-Route through f2, and the BYE's 200.
    f.expect_at(1, invite, 0, cid + " retransmission");
    answer(*f.processors[0], *inv, 200, "uas");
    auto ok = f.client.recv();
    BOOST_REQUIRE_MESSAGE(ok, cid << ": no 200 at the client");
    auto om = scan_ok(ok->bytes);
    BOOST_TEST(om.status == 200);
    std::string route = "Route: " + std::string(om.record_route.value.in(ok->bytes)) + "\r\n";
    f.expect_at(1, request("ACK", cid, 1, client, "z9hG4bKack" + cid, route, "uas"), 0,
                cid + " ACK");
    auto bye = f.expect_at(1, request("BYE", cid, 2, client, "z9hG4bKbye" + cid, route, "uas"), 0,
                           cid + " BYE");
    BOOST_REQUIRE(bye);
    answer(*f.processors[0], *bye, 200, "");
    auto bye_ok = f.client.recv();
    BOOST_REQUIRE_MESSAGE(bye_ok, cid << ": no 200 for the BYE");
    BOOST_TEST(scan_ok(bye_ok->bytes).cseq == 2u);

    // New calls meet on f1 and f2 only, by the two-member view.
    for (int i = 0; i < 6; ++i) {
        std::string fresh = "after-leave-" + std::to_string(i);
        f.expect_at(static_cast<size_t>(i % 2),
                    request("INVITE", fresh, 1, client, "z9hG4bK" + fresh),
                    f.owner(fresh, 2) == "f1" ? 0 : 1, fresh);
    }
    BOOST_TEST(f.processors_quiet());

    // f3's address is a stranger on the farm link now, even from its farm
    // port: its heartbeat is dropped and does not bring it back.
    std::string link = "127.0.0.1:" + std::to_string(f.all.farm_port);
    long long strangers = f.dropped(0, "farm_stranger");
    UdpPeer forger("127.0.0.3:" + std::to_string(f.all.farm_port));
    forger.send(link, heartbeat_packet("f3", "127.0.0.3:" + std::to_string(f.all.farm_port)));
    auto deadline = std::chrono::steady_clock::now() + scaled(2000ms);
    while (f.dropped(0, "farm_stranger") == strangers &&
           std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(10ms);
    BOOST_TEST(f.dropped(0, "farm_stranger") == strangers + 1);
    BOOST_TEST(f.view(0) == f.expected_view(2, 2));

    for (size_t i : {0, 1}) {
        BOOST_TEST(f.counter(i, "reloads") == 1);
        BOOST_TEST(f.counter(i, "reload_failures") == 0);
    }
    f.no_unexpected_errors();
}

BOOST_AUTO_TEST_CASE(a_broken_config_on_sighup_keeps_the_members_and_the_routing) {
    ReloadFarm f(3);
    std::string client = f.client.address().str();
    std::string cid = f.call_id("broken-", "f1", "f3");
    std::string invite = request("INVITE", cid, 1, client, "z9hG4bK" + cid);
    BOOST_REQUIRE(f.expect_at(0, invite, 2, cid));
    std::string three_up = f.expected_view(3, 3);

    // Each file removes f3 and has a fault: it is not JSON; f2's media range
    // is empty; f1 would listen on a port that somebody else holds.
    auto half = f.all;
    half.members.resize(2);
    auto empty_range = half;
    empty_range.members[1].media_ports = "30000-20000";
    auto busy_port = half;
    uint16_t taken = free_port();
    auto holder = net::udp_bind(SockAddr::parse("127.0.0.1:" + std::to_string(taken)).value());
    BOOST_REQUIRE(holder.ok());
    busy_port.members[0].sip_ports.push_back(taken);
    std::vector<std::string> files = {half.json(f.lab.dir).substr(0, 40),
                                      empty_range.json(f.lab.dir), busy_port.json(f.lab.dir)};
    for (size_t k = 0; k < files.size(); ++k) {
        f.lab.dir.write("cluster.json", files[k]);
        f.reload(0);
        BOOST_TEST(f.counter(0, "reload_failures") == static_cast<long long>(k + 1));
        BOOST_TEST(f.counter(0, "reloads") == 0);
        BOOST_TEST(f.view(0) == three_up, "broken file " << k);
        // f1 still routes by the old config: a retransmission and a new
        // call that hash to f3 go there.
        f.expect_at(0, invite, 2, cid + " after broken file " + std::to_string(k));
        std::string fresh = f.call_id("broken-" + std::to_string(k) + "-", "f1", "f3");
        f.expect_at(0, request("INVITE", fresh, 1, client, "z9hG4bK" + fresh), 2, fresh);
    }
    BOOST_TEST(f.process(0).log().find("reload failed, keeping the old config") !=
               std::string::npos);
    BOOST_TEST(f.process(0).log().find("members.f2.media_ports") != std::string::npos);
    // The others never saw a change.
    for (size_t i : {1, 2})
        BOOST_TEST(f.view(i) == three_up);
    BOOST_TEST(f.processors_quiet());
    f.no_unexpected_errors({"reload failed"});
}

// Issue 17: a reload is all or nothing. A file that adds a UDP port and a
// TCP listener whose port somebody holds is refused, and the new UDP
// socket must not stay open either (it did: the UDP sockets were switched
// before the TCP listeners failed, with the old settings kept).
BOOST_AUTO_TEST_CASE(a_reload_that_cannot_open_everything_opens_nothing) {
    ReloadFarm f(3);
    auto more = f.all;
    uint16_t new_udp = free_port();
    uint16_t busy_tcp = free_port();
    auto holder = net::tcp_listen(SockAddr::parse("127.0.0.1:" + std::to_string(busy_tcp)).value());
    BOOST_REQUIRE(holder.ok());
    more.members[0].sip_ports.push_back(new_udp);
    more.members[0].tcp_ports.push_back(busy_tcp);
    f.lab.dir.write("cluster.json", more.json(f.lab.dir));
    f.reload(0);
    BOOST_TEST(f.counter(0, "reload_failures") == 1);
    BOOST_TEST(f.counter(0, "reloads") == 0);
    // The new UDP port is not ours: somebody else may bind it.
    auto probe = net::udp_bind(SockAddr::parse("127.0.0.1:" + std::to_string(new_udp)).value());
    BOOST_TEST(probe.ok(), "sipfarmd kept 127.0.0.1:" << new_udp << " open after a failed reload");
    BOOST_TEST(f.ask(0, "stats")["sockets"].dump().find(":" + std::to_string(new_udp) + "\"") ==
               std::string::npos);
    // The old config works whole: f1 still routes.
    std::string client = f.client.address().str();
    std::string cid = f.call_id("atomic-", "f1", "f3");
    f.expect_at(0, request("INVITE", cid, 1, client, "z9hG4bK" + cid), 2, cid);
    f.no_unexpected_errors({"reload failed"});
}

// Issue 17, item 4: the secret changes member by member (rtfarm.conf(5),
// "Rotating the secret"). Step 1 gives each member the new secret and the
// old one as previous_secret_file, one reload at a time; step 2 drops the
// old one, one reload at a time. No member is ever seen down, the farm
// signs with the new key once the last member holds it, and new calls
// reach a processor at every step. Then one member gets a secret nobody
// else holds: it is cut off within dead_after_ms, as every member was at
// any change of the secret before (the check above can see a split).
BOOST_AUTO_TEST_CASE(a_key_rotation_member_by_member_splits_nothing) {
    ReloadFarm f(3, /*own_files=*/true);
    const std::string client = f.client.address().str();
    const std::string old_id = crypto::key_id(OLD_SECRET), new_id = crypto::key_id(NEW_SECRET);
    const std::string all_up = f.expected_view(3, 3);
    auto farm_key = [&](size_t i) {
        return f.ask(i, "members")["farm_key"];
    };
    auto signing = [&](size_t i) {
        return farm_key(i)["signing"].as_string().value_or("?");
    };
    // Every member up in every view, now and a dead_after_ms later.
    auto nobody_down = [&](const std::string& when) {
        std::this_thread::sleep_for(scaled(1200ms));
        for (size_t i = 0; i < 3; ++i)
            BOOST_TEST(f.view(i) == all_up, when << ": " << f.id(i) << " sees " << f.view(i));
    };
    // A new call enters at each member and reaches one processor once.
    int calls = 0;
    auto calls_go_through = [&](const std::string& when) {
        for (size_t entry = 0; entry < 3; ++entry) {
            std::string cid = "rotation-" + std::to_string(++calls);
            f.client.send(f.sip(entry), request("INVITE", cid, 1, client, "z9hG4bK" + cid));
            auto got = f.arrival();
            BOOST_TEST(got.has_value(), when << ": " << cid << " via " << f.id(entry) << " lost");
        }
        BOOST_TEST(f.processors_quiet(), when << ": a call reached two processors");
    };
    for (size_t i = 0; i < 3; ++i)
        BOOST_TEST(signing(i) == old_id);
    calls_go_through("before");

    // Step 1: the new secret, the old one kept.
    LoopbackCluster both = f.lab.cluster;
    both.secret_file = f.lab.dir.file("new.key");
    both.previous_secret_file = f.lab.dir.file("old.key");
    for (size_t i = 0; i < 3; ++i) {
        f.lab.write_own(f.id(i), both);
        f.reload(i);
        std::string when = "step 1 after " + f.id(i);
        if (i < 2) {
            nobody_down(when);
            // Someone still lacks the new secret: the old one signs.
            for (size_t k = 0; k < 3; ++k)
                BOOST_TEST(signing(k) == old_id, when << ": " << f.id(k));
            BOOST_TEST(farm_key(i)["held"].size() == 2u);
        }
        if (i == 0) {
            // The operator's view of the rotation.
            auto shown = run({bin_path("cgclusterctl"), "--socket",
                              f.lab.cluster.control(f.lab.dir, "f1"), "members"});
            BOOST_TEST(shown.out.find("rotating: the previous key signs until f2, f3 hold " +
                                      new_id.substr(0, 8)) != std::string::npos,
                       shown.out);
        }
        calls_go_through(when);
    }
    // The last reload: everyone holds it, everyone signs with it.
    auto deadline = std::chrono::steady_clock::now() + scaled(3000ms);
    for (size_t k = 0; k < 3; ++k) {
        while (signing(k) != new_id && std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(20ms);
        BOOST_TEST(signing(k) == new_id, f.id(k) << " signs with " << signing(k));
    }
    nobody_down("step 1 done");
    auto shown = run(
        {bin_path("cgclusterctl"), "--socket", f.lab.cluster.control(f.lab.dir, "f2"), "members"});
    BOOST_TEST(shown.out.find("farm key: signing " + new_id.substr(0, 8)) != std::string::npos,
               shown.out);
    BOOST_TEST(shown.out.find("remove previous_secret_file now") != std::string::npos, shown.out);
    calls_go_through("step 1 done");

    // Step 2: the old secret goes.
    LoopbackCluster fresh = f.lab.cluster;
    fresh.secret_file = f.lab.dir.file("new.key");
    for (size_t i = 0; i < 3; ++i) {
        f.lab.write_own(f.id(i), fresh);
        f.reload(i);
        nobody_down("step 2 after " + f.id(i));
        BOOST_TEST(signing(i) == new_id);
        BOOST_TEST(farm_key(i)["held"].size() == 1u);
    }
    calls_go_through("step 2 done");
    for (size_t i = 0; i < 3; ++i) {
        for (const char* reason : {"farm_bad_mac", "farm_unauthenticated", "replayed"})
            BOOST_TEST(f.dropped(i, reason) == 0, f.id(i) << " dropped " << reason);
        // Not even for a moment: every view sipfarmd logged had all up.
        BOOST_TEST(f.process(i).log().find(":down") == std::string::npos, f.process(i).log());
    }

    // A member with a secret nobody else holds is cut off, both ways.
    f.lab.dir.write("other.key", "a third secret, thirty-two bytes or more, alone");
    LoopbackCluster alone = f.lab.cluster;
    alone.secret_file = f.lab.dir.file("other.key");
    f.lab.write_own(f.id(2), alone);
    f.reload(2);
    BOOST_TEST(f.wait_view(0, "f1:up,f2:up,f3:down"), "f1 sees " << f.view(0));
    BOOST_TEST(f.wait_view(2, "f1:down,f2:down,f3:up"), "f3 sees " << f.view(2));
    BOOST_TEST(f.dropped(0, "farm_bad_mac") > 0);
    f.no_unexpected_errors();
}

// Issue 17, item 5: the incarnation is the wall clock at start. A member
// that restarts with its clock behind (booted before NTP, a VM snapshot
// restored) announces a lower one; once it has been silent for
// dead_after_ms that is a restart, not a replay, and it comes back up
// (before, every peer ignored it until they restarted themselves). Here f2
// is this test, sending f2's heartbeats from f2's farm link address.
BOOST_AUTO_TEST_CASE(a_member_restarted_with_its_clock_behind_comes_back) {
    ReloadFarm f(2, false, /*started=*/1);
    const std::string link = "127.0.0.1:" + std::to_string(f.all.farm_port);
    UdpPeer f2("127.0.0.2:" + std::to_string(f.all.farm_port));
    const uint64_t first_run = 1796591911233; // ms since 1970: in 2026
    const uint64_t behind = first_run - 3600 * 1000;
    uint64_t seq = 0;
    // Heartbeats of one run, every 200 ms, until f1 sees `state` (bounded).
    auto beat_until = [&](uint64_t incarnation, const std::string& want) {
        auto deadline = std::chrono::steady_clock::now() + scaled(3000ms);
        while (std::chrono::steady_clock::now() < deadline) {
            f2.send(link, heartbeat_packet("f2", f2.address().str(), incarnation, ++seq));
            if (f.view(0) == want)
                return true;
            std::this_thread::sleep_for(200ms);
        }
        return false;
    };
    BOOST_TEST(beat_until(first_run, "f1:up,f2:up"), "f1 sees " << f.view(0));
    // f2 stops; f1 sees it down.
    BOOST_TEST(f.wait_view(0, "f1:up,f2:down"), "f1 sees " << f.view(0));
    // f2 starts again, its clock an hour behind: a lower incarnation, from 1.
    seq = 0;
    BOOST_TEST(beat_until(behind, "f1:up,f2:up"), "f1 sees " << f.view(0));
    BOOST_TEST(f.ask(0, "members")["members"].at(1)["heard"].as_bool().value_or(false));
    // A packet of the new run seen before is still a replay.
    long long replays = f.dropped(0, "replayed");
    f2.send(link, heartbeat_packet("f2", f2.address().str(), behind, 1));
    auto deadline = std::chrono::steady_clock::now() + scaled(2000ms);
    while (f.dropped(0, "replayed") == replays && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(10ms);
    BOOST_TEST(f.dropped(0, "replayed") == replays + 1);
    BOOST_TEST(beat_until(behind, "f1:up,f2:up"));
    f.no_unexpected_errors();
}

BOOST_AUTO_TEST_SUITE_END()
