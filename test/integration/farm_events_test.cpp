// Events between tasks on real sipfarmd daemons: three members on loopback
// with a cluster secret and control_tcp each. A task subscribes on one
// member's control socket; events sent from another member's socket reach it
// over the internal TCP control link (logged in with the secret), and its
// answer comes back the same way. Unknown handles, a task that goes away, a
// task that does not answer, a member that is down: each a clear error.
#include "cluster_fixture.hpp"
#include "harness.hpp"

#include "control/control_client.hpp"

#include <boost/test/unit_test.hpp>

#include <signal.h>

#include <future>
#include <thread>

using namespace rtfarm;
using namespace rtfarm::test;

namespace {

struct EventFarm {
    LoopbackLab lab{3};
    std::vector<std::string> tcp;

    EventFarm() {
        lab.dir.write("farm.key", "events between tasks secret");
        lab.cluster.secret_file = lab.dir.file("farm.key");
        for (auto& m : lab.cluster.members) {
            tcp.push_back(m.address + ":" + std::to_string(free_port()));
            m.extra = "\"control_tcp\": \"" + tcp.back() + "\"";
        }
        lab.write();
        for (const auto& m : lab.cluster.members)
            lab.start("sipfarmd", m.id);
        for (const auto& m : lab.cluster.members)
            BOOST_REQUIRE_MESSAGE(lab.all_up(m.id), m.id << " never saw every member up");
    }
    control::ControlClient client(const std::string& member) {
        auto c =
            control::ControlClient::connect(lab.cluster.control(lab.dir, member), scaled(2000ms));
        BOOST_REQUIRE_MESSAGE(c.ok(), (c.ok() ? "" : c.error().message));
        return std::move(c).value();
    }
};

json::Json send_args(const std::string& to, json::Json event, long long timeout_ms = 3000) {
    return json::Json::object()
        .set("to", to)
        .set("event", std::move(event))
        .set("timeout_ms", timeout_ms);
}

} // namespace

BOOST_AUTO_TEST_SUITE(farm_events)

BOOST_AUTO_TEST_CASE(an_event_reaches_a_task_on_another_member_and_its_answer_comes_back) {
    EventFarm f;
    auto task = f.client("f3");
    auto sub = task.call("event.subscribe", json::Json::object().set("task", "conference-7"));
    BOOST_REQUIRE_MESSAGE(sub.ok(), (sub.ok() ? "" : sub.error().message));
    BOOST_TEST((*sub)["handle"].as_string().value_or("") == "f3/conference-7");

    // The task answers the first event it gets, on its own thread.
    auto answered = std::async(std::launch::async, [&] {
        auto ev = task.next_event(scaled(5000ms));
        if (!ev)
            return std::string("no event: ") + ev.error().message;
        auto id = (*ev)["id"].as_string().value_or("");
        auto body = (*ev)["body"]["say"].as_string().value_or("");
        auto from = (*ev)["from"].as_string().value_or("");
        auto r =
            task.call("event.reply", json::Json::object()
                                         .set("event_id", id)
                                         .set("reply", json::Json::object().set("heard", body)));
        return r ? body + " from " + from : "reply failed: " + r.error().message;
    });
    auto sender = f.client("f1");
    auto args = send_args("f3/conference-7", json::Json::object().set("say", "hello"));
    args.set("from", "f1/caller");
    auto r = sender.call("event.send", args, scaled(5000ms));
    BOOST_REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().code + ": " + r.error().message));
    BOOST_TEST((*r)["delivered"].as_bool().value_or(false));
    BOOST_TEST((*r)["member"].as_string().value_or("") == "f3");
    BOOST_TEST((*r)["reply"]["heard"].as_string().value_or("") == "hello");
    BOOST_TEST(answered.get() == "hello from f1/caller");

    // Without waiting for an answer; and from the task's own member.
    auto no_wait = send_args("f3/conference-7", json::Json::object().set("n", 2));
    no_wait.set("reply", false);
    BOOST_TEST(f.client("f2").call("event.send", no_wait, scaled(5000ms)).ok());
    auto ev = task.next_event(scaled(3000ms));
    BOOST_REQUIRE(ev.ok());
    BOOST_TEST((*ev)["body"]["n"].as_integer().value_or(0) == 2);
    BOOST_TEST(!(*ev)["reply"].as_bool().value_or(true));
    BOOST_TEST(f.client("f3").call("event.send", no_wait, scaled(5000ms)).ok());
    BOOST_TEST(task.next_event(scaled(3000ms)).ok());

    // The link between members logged in; its counters say so.
    auto stats = (*sender.call("stats", json::Json()))["service"]["events"];
    BOOST_TEST(stats["forwarded"].as_integer().value_or(0) >= 1);
}

BOOST_AUTO_TEST_CASE(unknown_handles_and_silent_tasks_are_clear_errors) {
    EventFarm f;
    auto sender = f.client("f1");
    auto code = [&](json::Json args) {
        auto r = sender.call("event.send", std::move(args), scaled(5000ms));
        return r ? std::string("ok") : r.error().code + ": " + r.error().message;
    };
    auto ev = json::Json::object().set("x", 1);
    BOOST_TEST(
        code(send_args("f9/task", ev)).starts_with("unknown_handle: f9/task: no member 'f9'"));
    BOOST_TEST(code(send_args("f2/nobody", ev))
                   .starts_with("unknown_handle: f2/nobody: member f2 "
                                "has no task 'nobody'"));
    BOOST_TEST(code(send_args("f1/nobody", ev)).starts_with("unknown_handle"));
    BOOST_TEST(code(send_args("no-slash", ev)).starts_with("bad_request"));
    BOOST_TEST(code(json::Json::object().set("to", "f2/x")).starts_with("bad_request"));
    BOOST_TEST(code(send_args("f2/x", ev, 0)).starts_with("bad_request"));

    // Two connections cannot hold one task; the holder can.
    auto holder = f.client("f2");
    BOOST_REQUIRE(holder.call("event.subscribe", json::Json::object().set("task", "t1")).ok());
    BOOST_TEST(holder.call("event.subscribe", json::Json::object().set("task", "t1")).ok());
    auto other = f.client("f2").call("event.subscribe", json::Json::object().set("task", "t1"));
    BOOST_REQUIRE(!other.ok());
    BOOST_TEST(other.error().code == "in_use");
    BOOST_TEST(!holder.call("event.subscribe", json::Json::object().set("task", "bad/name")).ok());

    // A task that never answers: the sender hears "timeout" at its deadline.
    BOOST_TEST(code(send_args("f2/t1", ev, 300)).starts_with("timeout: f2/t1 got event"));
    BOOST_TEST(holder.next_event(scaled(1000ms)).ok());
    // An answer after the deadline, or to an event never sent: not_found.
    auto late = holder.call("event.reply", json::Json::object().set("event_id", "f2-999"));
    BOOST_REQUIRE(!late.ok());
    BOOST_TEST(late.error().code == "not_found");

    // The task goes away while an event waits for it: the sender is told.
    auto waiting =
        std::async(std::launch::async, [&] { return code(send_args("f2/t1", ev, 5000)); });
    BOOST_TEST(holder.next_event(scaled(3000ms)).ok());
    holder.close();
    BOOST_TEST(waiting.get().starts_with("unknown_handle: f2/t1: the task went away"));
    BOOST_TEST(code(send_args("f2/t1", ev)).starts_with("unknown_handle"));
    // Unsubscribe of a task this connection does not hold.
    auto unsub = sender.call("event.unsubscribe", json::Json::object().set("task", "t1"));
    BOOST_TEST(!unsub.ok());
}

BOOST_AUTO_TEST_CASE(events_to_a_member_that_is_down_fail_at_once) {
    EventFarm f;
    auto& f3 = *f.lab.processes[2];
    f3.signal(SIGKILL);
    BOOST_REQUIRE(f3.wait_exit().has_value());
    auto sender = f.client("f1");
    // Before the others notice, the link fails ("io"); after, "member_down".
    auto deadline = std::chrono::steady_clock::now() + scaled(3000ms);
    std::string last;
    while (std::chrono::steady_clock::now() < deadline) {
        auto r = sender.call("event.send", send_args("f3/x", json::Json::object()), scaled(5000ms));
        BOOST_REQUIRE(!r.ok());
        last = r.error().code;
        BOOST_TEST((last == "io" || last == "member_down"), last << ": " << r.error().message);
        if (last == "member_down")
            break;
        std::this_thread::sleep_for(50ms);
    }
    BOOST_TEST(last == "member_down");
}

BOOST_AUTO_TEST_CASE(tcp_control_needs_the_cluster_secret) {
    EventFarm f;
    auto bare = control::ControlClient::connect(f.tcp[1], scaled(2000ms));
    BOOST_REQUIRE(bare.ok());
    auto r = bare->call("members", json::Json(), scaled(2000ms));
    BOOST_REQUIRE(!r.ok());
    BOOST_TEST(r.error().code == "unauthenticated");
    // cgclusterctl logs in with the config's secret_file.
    auto ok = run({bin_path("cgclusterctl"), "--config", f.lab.config(), "--connect", f.tcp[1],
                   "--json", "members"});
    BOOST_TEST(ok.status == 0, ok.err);
    BOOST_TEST(ok.out.find("\"epoch\"") != std::string::npos);
    // Without the config it cannot, and says what to do.
    auto no = run({bin_path("cgclusterctl"), "--config", "/nonexistent/cluster.json", "--connect",
                   f.tcp[1], "members"});
    BOOST_TEST(no.status == 2);
    BOOST_TEST(no.err.find("secret") != std::string::npos, no.err);
}

BOOST_AUTO_TEST_SUITE_END()
