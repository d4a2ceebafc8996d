// cgclusterctl as an operator runs it: `check` over the shipped example
// configs and broken ones, and `stats` against running daemons.
#include "cluster_fixture.hpp"
#include "harness.hpp"

#include "json/json.hpp"

#include <boost/test/unit_test.hpp>

#include <signal.h>

using namespace rtfarm;
using namespace rtfarm::test;

BOOST_AUTO_TEST_SUITE(cgclusterctl_cli)

BOOST_AUTO_TEST_CASE(every_example_config_passes_check) {
    // As an operator uses them (etc/README.md): copied, with a key made.
    TempDir dir;
    dir.write("farm.key", "a key made for the test with head -c 32 /dev/urandom | base64\n");
    for (const char* name : {"etc/single-ip-nat.json", "etc/multi-ip-nat.json", "etc/dsr.json"}) {
        dir.write("cluster.json", read_file(src_path(name)));
        const std::string cfg = dir.file("cluster.json");
        auto r = run({bin_path("cgclusterctl"), "--config", cfg, "check"});
        BOOST_TEST(r.status == 0, name << ": " << r.out << r.err);
        // Without the key it names the file it cannot read.
        auto missing = run({bin_path("cgclusterctl"), "--config", src_path(name), "check"});
        BOOST_TEST(missing.status != 0);
        BOOST_TEST(missing.out.find("farm.key") != std::string::npos, missing.out << missing.err);
        auto j = run({bin_path("cgclusterctl"), "--config", cfg, "--json", "check"});
        BOOST_TEST(j.status == 0, name);
        auto doc = json::parse(j.out, "stdout");
        BOOST_REQUIRE_MESSAGE(doc.ok(), name << ": not one JSON document: " << j.out);
        BOOST_TEST(doc->is_object());
        BOOST_TEST(doc.value()["ok"].as_bool().value_or(false), name);
    }
}

BOOST_AUTO_TEST_CASE(check_reports_overlapping_ranges_with_exit_1) {
    TempDir dir;
    auto cluster = LoopbackCluster::make(2);
    cluster.members[1].media_ports = cluster.members[0].media_ports;
    dir.write("cluster.json", cluster.json(dir));
    auto r =
        run({bin_path("cgclusterctl"), "--config", dir.file("cluster.json"), "--json", "check"});
    BOOST_TEST(r.status == 1, r.out << r.err);
    BOOST_TEST(r.out.find("media-range-overlap") != std::string::npos, r.out);
    // A file that reads but does not validate: one error finding, still one JSON document.
    dir.write("invalid.json",
              "{\"cluster\": {\"name\": \"x\"}, \"members\": {\"f1\": {\"role\": \"boss\"}}}");
    auto invalid =
        run({bin_path("cgclusterctl"), "--config", dir.file("invalid.json"), "--json", "check"});
    BOOST_TEST(invalid.status == 1, invalid.out << invalid.err);
    auto doc = json::parse(invalid.out, "stdout");
    BOOST_REQUIRE_MESSAGE(doc.ok(), invalid.out);
    BOOST_TEST(doc.value()["findings"].at(0)["id"].as_string().value_or("") == "config-invalid");
    BOOST_TEST(invalid.out.find("members.f1.role") != std::string::npos, invalid.out);
    auto usage = run({bin_path("cgclusterctl"), "--config", dir.file("missing.json"), "check"});
    BOOST_TEST(usage.status == 2);
    BOOST_TEST(usage.err.find("missing.json") != std::string::npos, usage.err);
    BOOST_TEST(run({bin_path("cgclusterctl"), "frobnicate"}).status == 2);
}

BOOST_AUTO_TEST_CASE(stats_asks_every_daemon) {
    TempDir dir;
    auto cluster = LoopbackCluster::make(2);
    dir.write("cluster.json", cluster.json(dir));
    std::string cfg = dir.file("cluster.json");
    Process f1(dir, "f1", {bin_path("sipfarmd"), "--config", cfg, "--member", "f1"});
    Process m1(dir, "f1-media", {bin_path("rtprelayd"), "--config", cfg, "--member", "f1"});
    Process f2(dir, "f2", {bin_path("sipfarmd"), "--config", cfg, "--member", "f2"});
    BOOST_REQUIRE_MESSAGE(f1.wait_ready(), f1.log());
    BOOST_REQUIRE_MESSAGE(m1.wait_ready(), m1.log());
    BOOST_REQUIRE_MESSAGE(f2.wait_ready(), f2.log());

    // f2's rtprelayd is not running: reported unreachable, exit 1.
    auto all = run({bin_path("cgclusterctl"), "--config", cfg, "--json", "stats"});
    BOOST_TEST(all.status == 1, all.out << all.err);
    auto doc = json::parse(all.out, "stdout");
    BOOST_REQUIRE_MESSAGE(doc.ok(), all.out);
    auto members = doc.value()["members"];
    BOOST_REQUIRE(members.size() == 4u);
    BOOST_TEST(members.at(0)["id"].as_string().value_or("") == "f1");
    BOOST_TEST(members.at(0)["state"].as_string().value_or("") == "up");
    BOOST_TEST(members.at(1)["program"].as_string().value_or("") == "rtprelayd");
    BOOST_TEST(members.at(1)["state"].as_string().value_or("") == "up");
    BOOST_TEST(members.at(3)["state"].as_string().value_or("") == "unreachable");
    BOOST_TEST(all.err.find(cluster.media_control(dir, "f2")) != std::string::npos, all.err);

    auto one = run({bin_path("cgclusterctl"), "--socket", cluster.control(dir, "f2"), "stats"});
    BOOST_TEST(one.status == 0, one.err);
    BOOST_TEST(one.out.find("f2") != std::string::npos, one.out);
    BOOST_TEST(one.out.find("sipfarmd") != std::string::npos, one.out);
    // Objects of counters get a line each (client connections), an empty one
    // none (no relay by transport yet).
    BOOST_TEST(one.out.find("    streams: connections=0 outgoing=0 accepted=0") !=
                   std::string::npos,
               one.out);
    BOOST_TEST(one.out.find("    relayed_by_transport:") == std::string::npos, one.out);

    auto gone = run({bin_path("cgclusterctl"), "--socket", dir.file("nobody.sock"), "stats"});
    BOOST_TEST(gone.status == 2);

    for (Process* p : {&f1, &m1, &f2})
        p->signal(SIGTERM);
    for (Process* p : {&f1, &m1, &f2})
        BOOST_TEST(p->wait_exit().value_or(-1) == 0);
}

BOOST_AUTO_TEST_SUITE_END()
