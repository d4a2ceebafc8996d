// `place` on real sipfarmd daemons on loopback: three frontends (call legs
// and signals auto -> locally-for-others) and a backend b1 (auto ->
// remotely). The op, then cgclusterctl place, including the frontend chosen
// for a Call-ID killed with SIGKILL and the next call placed on another.
#include "cluster_fixture.hpp"
#include "harness.hpp"

#include "control/control_client.hpp"
#include "sip/route.hpp"

#include <boost/test/unit_test.hpp>

#include <signal.h>

#include <thread>

using namespace rtfarm;
using namespace rtfarm::test;

namespace {

struct PlaceFarm {
    LoopbackLab lab{4};

    PlaceFarm() {
        auto& b = lab.cluster.members[3];
        b.id = "b1";
        b.role = "backend";
        lab.write();
        for (const auto& m : lab.cluster.members)
            lab.start("sipfarmd", m.id);
        for (const auto& m : lab.cluster.members)
            BOOST_REQUIRE_MESSAGE(lab.all_up(m.id), m.id << " never saw every member up");
    }
    Result<json::Json> ask(const std::string& member, const char* op, json::Json args) {
        auto c =
            control::ControlClient::connect(lab.cluster.control(lab.dir, member), scaled(2000ms));
        if (!c)
            return c.error();
        return c->call(op, std::move(args), scaled(2000ms));
    }
    json::Json ok(const std::string& member, const char* op, json::Json args) {
        auto r = ask(member, op, std::move(args));
        BOOST_REQUIRE_MESSAGE(r.ok(),
                              op << " at " << member << ": " << (r.ok() ? "" : r.error().message));
        return r.value();
    }
    RunResult ctl(std::vector<std::string> args) {
        args.insert(args.begin(), {bin_path("cgclusterctl"), "--config", lab.config()});
        return run(std::move(args));
    }
    Process& process(const std::string& id) {
        for (size_t i = 0; i < lab.cluster.members.size(); ++i)
            if (lab.cluster.members[i].id == id)
                return *lab.processes[i];
        BOOST_FAIL("no member " + id);
        return *lab.processes[0];
    }
};

// The frontend the rendezvous hash gives `key` among `hosts`.
std::string hash_owner(const std::string& key, const std::vector<std::string>& hosts) {
    sip::FarmView v;
    for (const auto& h : hosts) {
        sip::FarmView::Member m;
        m.id = h;
        m.farm_member = true;
        v.members.push_back(m);
    }
    return sip::rendezvous_owner(key, v);
}

json::Json place_args(const char* kind, const std::string& from, const std::string& key = "") {
    auto a = json::Json::object().set("kind", kind).set("from", from);
    if (!key.empty())
        a.set("key", key);
    return a;
}

} // namespace

BOOST_AUTO_TEST_SUITE(farm_place)

BOOST_AUTO_TEST_CASE(place_op_answers_locally_and_remotely) {
    PlaceFarm f;
    // A frontend creates its own call legs (auto -> locally-for-others).
    auto own = f.ok("f1", "place", place_args("callleg", "f2"));
    BOOST_TEST(own["member"].as_string().value_or("") == "f2");
    BOOST_TEST(own["mode"].as_string().value_or("") == "locally-for-others");
    BOOST_TEST(own["reason"].as_string().value_or("") == "locally");
    BOOST_TEST(own["candidates"].size() == 0u);

    // A backend's signal goes to the Call-ID's frontend, whoever is asked.
    std::string key = "place-op-1@example.com";
    std::string owner = hash_owner(key, {"f1", "f2", "f3"});
    for (const char* asked : {"f1", "f3", "b1"}) {
        auto r = f.ok(asked, "place", place_args("signal", "b1", key));
        BOOST_TEST(r["member"].as_string().value_or("") == owner, asked);
        BOOST_TEST(r["from"].as_string().value_or("") == "b1");
        BOOST_TEST(r["kind"].as_string().value_or("") == "signal");
        BOOST_TEST(r["mode"].as_string().value_or("") == "remotely");
        BOOST_TEST(r["reason"].as_string().value_or("") == "hash");
        BOOST_TEST(r["key"].as_string().value_or("") == key);
        BOOST_TEST(r["candidates"].size() == 3u);
        BOOST_TEST(r["epoch"].as_integer().value_or(0) > 0);
    }
    // No key: the least loaded frontend.
    auto any = f.ok("b1", "place", json::Json::object().set("kind", "callleg"));
    BOOST_TEST(any["from"].as_string().value_or("") == "b1"); // "from" defaults to the asked
    BOOST_TEST(any["reason"].as_string().value_or("") == "least_load");
    BOOST_TEST(any["member"].as_string().value_or("").front() == 'f');

    // Bad requests say what is wrong.
    auto bad_kind = f.ask("f1", "place", place_args("leg", "b1"));
    BOOST_REQUIRE(!bad_kind.ok());
    BOOST_TEST(bad_kind.error().code == "bad_request");
    BOOST_TEST(bad_kind.error().message.find("callleg") != std::string::npos,
               bad_kind.error().message);
    auto stranger = f.ask("f1", "place", place_args("callleg", "zz"));
    BOOST_REQUIRE(!stranger.ok());
    BOOST_TEST(stranger.error().code == "bad_request");
    BOOST_TEST(stranger.error().message.find("'zz'") != std::string::npos,
               stranger.error().message);
    auto no_kind = f.ask("f1", "place", json::Json::object());
    BOOST_TEST((!no_kind.ok() && no_kind.error().code == "bad_request"));
}

BOOST_AUTO_TEST_CASE(a_backend_in_remotely_mode_places_a_call_leg_on_a_frontend_and_falls_back) {
    PlaceFarm f;
    std::string key = "remote-leg-7@example.com";
    auto first = f.ctl({"--json", "place", "callleg", "--from", "b1", "--call-id", key});
    BOOST_REQUIRE_MESSAGE(first.status == 0, first.out << first.err);
    auto doc = parse_out(first);
    std::string chosen = doc["member"].as_string().value_or("");
    BOOST_TEST(chosen == hash_owner(key, {"f1", "f2", "f3"}));
    BOOST_TEST(doc["mode"].as_string().value_or("") == "remotely");
    BOOST_TEST(doc["reason"].as_string().value_or("") == "hash");
    // For people: a table and why.
    auto text = f.ctl({"place", "callleg", "--from", "b1", "--call-id", key});
    BOOST_TEST(text.status == 0);
    BOOST_TEST(text.out.find("MEMBER") != std::string::npos, text.out);
    BOOST_TEST(text.out.find("b1 creates call legs remotely") != std::string::npos, text.out);

    // The chosen frontend dies without a word. Within dead_after_ms (1000)
    // and a heartbeat (200) the next call leg goes to another frontend,
    // whichever member cgclusterctl finds up to ask.
    auto& victim = f.process(chosen);
    auto killed = std::chrono::steady_clock::now();
    victim.signal(SIGKILL);
    BOOST_REQUIRE(victim.wait_exit().has_value());
    std::vector<std::string> left;
    for (const char* id : {"f1", "f2", "f3"})
        if (id != chosen)
            left.push_back(id);
    std::string next;
    auto deadline = killed + scaled(5000ms);
    while (std::chrono::steady_clock::now() < deadline) {
        auto r = f.ctl({"--json", "place", "callleg", "--from", "b1", "--call-id", key});
        BOOST_REQUIRE_MESSAGE(r.status == 0, r.out << r.err);
        next = parse_out(r)["member"].as_string().value_or("");
        if (next != chosen)
            break;
        std::this_thread::sleep_for(20ms);
    }
    auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - killed);
    BOOST_TEST_MESSAGE("placement moved off the dead frontend after " << took.count() << " ms");
    BOOST_TEST(next != chosen);
    BOOST_TEST(next == hash_owner(key, left));
    BOOST_TEST(took <= scaled(1200ms) + 500ms);
    // Every member still up agrees, and so does b1 itself, each once its
    // own clock has passed dead_after_ms (within a heartbeat of the first).
    for (const auto& id : {left[0], left[1], std::string("b1")}) {
        json::Json r;
        auto until = std::chrono::steady_clock::now() + scaled(1000ms);
        do {
            r = f.ok(id, "place", place_args("callleg", "b1", key));
            if (r["member"].as_string().value_or("") == next)
                break;
            std::this_thread::sleep_for(10ms);
        } while (std::chrono::steady_clock::now() < until);
        BOOST_TEST(r["member"].as_string().value_or("") == next, id);
        BOOST_TEST(r["candidates"].size() == 2u, id);
    }

    // The two frontends left drain: nobody can host b1's call legs. That is
    // the answer, exit 1; b1 does not take them itself.
    for (const auto& id : left)
        BOOST_REQUIRE(f.ctl({"drain", id}).status == 0);
    RunResult none;
    deadline = std::chrono::steady_clock::now() + scaled(3000ms);
    do {
        none = f.ctl({"--json", "place", "callleg", "--from", "b1", "--call-id", key});
        if (none.status != 0)
            break;
        std::this_thread::sleep_for(20ms);
    } while (std::chrono::steady_clock::now() < deadline);
    BOOST_TEST(none.status == 1, none.out << none.err);
    auto nd = parse_out(none);
    BOOST_TEST(nd["member"].get() != nullptr);
    BOOST_TEST(json_is_null(nd["member"].get()));
    BOOST_TEST(nd["reason"].as_string().value_or("") == "no_placement");
    BOOST_TEST(nd["error"]["code"].as_string().value_or("") == "no_placement");
    BOOST_TEST(nd["error"]["message"].as_string().value_or("").find("is draining") !=
                   std::string::npos,
               none.out);
    auto none_text = f.ctl({"place", "callleg", "--from", "b1"});
    BOOST_TEST(none_text.status == 1);
    BOOST_TEST(none_text.out.find("no placement: b1 creates call legs remotely") !=
                   std::string::npos,
               none_text.out);
    // A draining frontend still hosts what it creates itself.
    auto own = f.ctl({"--json", "place", "signal", "--from", left[0]});
    BOOST_TEST(own.status == 0, own.err);
    BOOST_TEST(parse_out(own)["member"].as_string().value_or("") == left[0]);
}

BOOST_AUTO_TEST_CASE(place_usage_errors_exit_2) {
    PlaceFarm f;
    auto bad_kind = f.ctl({"place", "leg", "--from", "b1"});
    BOOST_TEST(bad_kind.status == 2);
    BOOST_TEST(bad_kind.err.find("leg") != std::string::npos, bad_kind.err);
    BOOST_TEST(f.ctl({"place", "callleg"}).status == 2); // --from is required
    auto stranger = f.ctl({"place", "callleg", "--from", "zz"});
    BOOST_TEST(stranger.status == 2);
    BOOST_TEST(stranger.err.find("no member 'zz'") != std::string::npos, stranger.err);
    BOOST_TEST(stranger.out.empty());
    auto gone = run({bin_path("cgclusterctl"), "--socket", f.lab.dir.file("nobody.sock"), "place",
                     "callleg", "--from", "b1"});
    BOOST_TEST(gone.status == 2);
    BOOST_TEST(gone.err.find("nobody.sock") != std::string::npos, gone.err);
    // --socket names the member to ask.
    auto direct = run({bin_path("cgclusterctl"), "--socket", f.lab.cluster.control(f.lab.dir, "f3"),
                       "--json", "place", "signal", "--from", "f3"});
    BOOST_TEST(direct.status == 0, direct.err);
    BOOST_TEST(parse_out(direct)["member"].as_string().value_or("") == "f3");
}

BOOST_AUTO_TEST_SUITE_END()
