// cgclusterctl media against real rtprelayd daemons: each member's sessions,
// a member whose rtprelayd is not running said so, and that is a problem
// (exit 1) only where media is anchored and the member hosts call legs.
#include "cluster_fixture.hpp"
#include "harness.hpp"

#include "json/json.hpp"

#include <boost/test/unit_test.hpp>

#include <signal.h>

using namespace rtfarm;
using namespace rtfarm::test;

namespace {

std::string str(const json::Json& j, const char* key) {
    return j[key].as_string().value_or("");
}

} // namespace

BOOST_AUTO_TEST_SUITE(cgclusterctl_media)

BOOST_AUTO_TEST_CASE(media_reports_each_members_rtprelayd) {
    LoopbackLab lab(3);
    lab.cluster.members[2].id = "b1";
    lab.cluster.members[2].role = "backend";
    lab.write();
    lab.start("rtprelayd", "f1");
    std::string cfg = lab.config();

    // Media is not anchored: a member without rtprelayd is told, not a problem.
    auto r = run({bin_path("cgclusterctl"), "--config", cfg, "--json", "media"});
    BOOST_TEST(r.status == 0, r.out << r.err);
    auto doc = parse_out(r);
    BOOST_TEST(doc["ok"].as_bool().value_or(false));
    BOOST_TEST(doc["sessions"].as_integer().value_or(-1) == 0);
    auto members = doc["members"];
    BOOST_REQUIRE(members.size() == 3u);
    BOOST_TEST(str(members.at(0), "id") == "f1");
    BOOST_TEST(str(members.at(0), "rtprelayd") == "up");
    BOOST_TEST(members.at(0)["sessions"].as_integer().value_or(-1) == 0);
    BOOST_TEST(str(members.at(0), "media_ports") == lab.cluster.members[0].media_ports);
    BOOST_TEST(str(members.at(1), "rtprelayd") == "not_running");
    BOOST_TEST(json_is_null(members.at(1)["sessions"].get()));
    BOOST_TEST(str(members.at(1), "error").find("f2-media.sock") != std::string::npos);
    BOOST_TEST(!members.at(1)["problem"].as_bool().value_or(true));
    BOOST_TEST(!members.at(2)["hosts_call_legs"].as_bool().value_or(true)); // remotely

    auto text = run({bin_path("cgclusterctl"), "--config", cfg, "media"});
    BOOST_TEST(text.status == 0, text.err);
    BOOST_TEST(text.out.find("no sessions") != std::string::npos, text.out);
    BOOST_TEST(text.out.find("not running") != std::string::npos, text.out);
    BOOST_TEST(text.out.find("0 sessions in all") != std::string::npos, text.out);

    // One rtprelayd by its socket; a socket that is not rtprelayd's, or none.
    auto one = run({bin_path("cgclusterctl"), "--socket", lab.cluster.media_control(lab.dir, "f1"),
                    "--json", "media"});
    BOOST_TEST(one.status == 0, one.err);
    BOOST_TEST(str(parse_out(one)["members"].at(0), "id") == "f1");
    auto gone = run(
        {bin_path("cgclusterctl"), "--socket", lab.cluster.media_control(lab.dir, "f2"), "media"});
    BOOST_TEST(gone.status == 2);
    BOOST_TEST(gone.err.find("f2-media.sock") != std::string::npos, gone.err);
    lab.start("sipfarmd", "f2");
    auto wrong =
        run({bin_path("cgclusterctl"), "--socket", lab.cluster.control(lab.dir, "f2"), "media"});
    BOOST_TEST(wrong.status == 2);
    BOOST_TEST(wrong.err.find("not rtprelayd's") != std::string::npos, wrong.err);

    // Media anchored: f2 hosts call legs without an rtprelayd, a problem;
    // b1 places its call legs remotely, so its missing rtprelayd is not.
    lab.cluster.extra = "\"media\": \"anchor\"";
    lab.write();
    auto anchored = run({bin_path("cgclusterctl"), "--config", cfg, "--json", "media"});
    BOOST_TEST(anchored.status == 1, anchored.out << anchored.err);
    auto ad = parse_out(anchored);
    BOOST_TEST(!ad["ok"].as_bool().value_or(true));
    BOOST_TEST(ad["members"].at(1)["problem"].as_bool().value_or(false));
    BOOST_TEST(!ad["members"].at(2)["problem"].as_bool().value_or(true));
    BOOST_TEST(anchored.err.find("f2") != std::string::npos, anchored.err);
    auto anchored_text = run({bin_path("cgclusterctl"), "--config", cfg, "media"});
    BOOST_TEST(anchored_text.status == 1);
    BOOST_TEST(anchored_text.out.find("PROBLEM") != std::string::npos, anchored_text.out);

    BOOST_TEST(
        run({bin_path("cgclusterctl"), "--config", lab.dir.file("missing.json"), "media"}).status ==
        2);
}

BOOST_AUTO_TEST_SUITE_END()
