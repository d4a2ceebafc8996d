// `cgclusterctl check` as a function: each finding from a small config made to
// trigger it, none of them from the etc/ examples, and the capacity numbers.
#include "cluster/check.hpp"

#include "test_paths.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <string>
#include <vector>

using namespace rtfarm;

namespace {

// The error of a failed Result, "" for a good one (for REQUIRE messages,
// which Boost.Test builds even when the check passes).
template <typename T> std::string why(const Result<T>& r) {
    return r.ok() ? "" : r.error().message;
}

// A member object: the required keys plus `extra` (raw JSON, ", "-joined).
std::string member(const std::string& role, int n, const std::string& extra = "") {
    std::string id = role.substr(0, 1) + std::to_string(n);
    std::string out = R"({"role": ")" + role + R"(", "address": "10.77.0.)" +
                      std::to_string((role == "frontend"  ? 10
                                      : role == "backend" ? 20
                                                          : 30) +
                                     n) +
                      R"(", "control": "/run/rtfarm/)" + id + R"(.sock")";
    if (role != "backend")
        out += R"(, "sip_listen": ["0.0.0.0:5060"], "processor": "127.0.0.1:5070")";
    if (!extra.empty())
        out += ", " + extra;
    return out + "}";
}

config::ClusterConfig make(const std::string& cluster_extra,
                           const std::vector<std::pair<std::string, std::string>>& members) {
    std::string text = R"({"cluster": {"name": "t")";
    if (!cluster_extra.empty())
        text += ", " + cluster_extra;
    text += R"(}, "members": {)";
    for (size_t i = 0; i < members.size(); ++i)
        text += (i ? ", \"" : "\"") + members[i].first + "\": " + members[i].second;
    text += "}}";
    auto r = config::parse(text, "/x/cfg.json");
    BOOST_REQUIRE_MESSAGE(r.ok(), why(r) + "\n" + text);
    // A farm has its secret (farm_link_without_a_secret checks what it
    // is without one); these tests are about everything else.
    if (!r->cluster.insecure_farm_link)
        r->cluster.secret = std::string(config::MIN_SECRET_BYTES, 's');
    return std::move(r).value();
}

std::vector<const Finding*> with_id(const cluster::CheckReport& r, const std::string& id) {
    std::vector<const Finding*> out;
    for (const auto& f : r.findings)
        if (f.id == id)
            out.push_back(&f);
    return out;
}

// Exactly one finding `id`, of `severity`, about `member`.
void expect_one(const cluster::CheckReport& r, const std::string& id, Severity severity,
                const std::string& member_id, const std::string& text = "") {
    BOOST_TEST_CONTEXT("finding " << id) {
        auto found = with_id(r, id);
        BOOST_REQUIRE_EQUAL(found.size(), 1u);
        BOOST_TEST((found[0]->severity == severity));
        BOOST_TEST(found[0]->member == member_id);
        BOOST_TEST(found[0]->evidence.find(text) != std::string::npos, found[0]->evidence);
    }
}

const char* const PROBLEM_IDS[] = {
    "media-range-overlap",  "media-range-privileged", "single-ip-no-cluster-wan-ip",
    "wan-ip-mixed",         "wan-ip-duplicate",       "media-no-address",
    "relay-without-member", "call-legs-without-host", "signals-without-host",
    "no-processor",         "frontend-no-media-ports"};

const char* const EXAMPLES[] = {"etc/single-ip-nat.json", "etc/multi-ip-nat.json", "etc/dsr.json"};

} // namespace

BOOST_AUTO_TEST_SUITE(check)

BOOST_AUTO_TEST_CASE(examples_are_clean) {
    for (const char* name : EXAMPLES) {
        BOOST_TEST_CONTEXT(name) {
            auto cfg = config::parse(test::example_text(name), test::repo_path(name));
            BOOST_REQUIRE_MESSAGE(cfg.ok(), why(cfg));
            auto r = cluster::check(*cfg);
            BOOST_TEST(!r.has_errors());
            BOOST_TEST(r.count(Severity::warning) == 0u);
            for (const char* id : PROBLEM_IDS)
                BOOST_TEST(with_id(r, id).empty(), id);
        }
    }
    auto method = [](const char* name) {
        return cluster::check(
                   config::parse(test::example_text(name), test::repo_path(name)).value())
            .method;
    };
    BOOST_TEST((method("etc/single-ip-nat.json") == cluster::MediaMethod::single_ip));
    BOOST_TEST((method("etc/multi-ip-nat.json") == cluster::MediaMethod::multi_ip));
    BOOST_TEST((method("etc/dsr.json") == cluster::MediaMethod::single_ip));
}

// Issue 17: what sipfarmd refuses about the farm link is an error, and
// running without a secret on purpose a warning.
BOOST_AUTO_TEST_CASE(farm_link_without_a_secret) {
    auto with = [](const std::string& find, const std::string& replace) {
        std::string text = test::example_text("etc/dsr.json");
        auto at = text.find(find);
        BOOST_REQUIRE(at != std::string::npos);
        text.replace(at, find.size(), replace);
        return cluster::check(config::parse(text, test::repo_path("etc/dsr.json")).value());
    };
    const std::string secret_line =
        "\"secret_file\": \"" + std::filesystem::absolute(test::data_path("farm.key")).string() +
        "\"";
    auto none = with(secret_line, "\"flood_quiet_s\": 10");
    BOOST_TEST(with_id(none, "farm-link-no-secret").size() == 1u);
    BOOST_TEST(none.has_errors());
    auto insecure = with(secret_line, "\"insecure_farm_link\": true");
    BOOST_TEST(!insecure.has_errors());
    BOOST_TEST(with_id(insecure, "farm-link-insecure").size() == 1u);
    BOOST_TEST((with_id(insecure, "farm-link-insecure")[0]->severity == Severity::warning));
    // A key rotation under way: said, so that it is finished.
    BOOST_TEST(with_id(none, "farm-key-rotation").empty());
    auto rotating =
        with(secret_line,
             secret_line + ", \"previous_secret_file\": \"" +
                 std::filesystem::absolute(test::data_path("farm-previous.key")).string() + "\"");
    BOOST_TEST(!rotating.has_errors());
    BOOST_REQUIRE(with_id(rotating, "farm-key-rotation").size() == 1u);
    BOOST_TEST((with_id(rotating, "farm-key-rotation")[0]->severity == Severity::info));
}

BOOST_AUTO_TEST_CASE(capacity_of_a_range) {
    auto c = cluster::Capacity::of_ports(PortRange{10000, 19999}.count());
    BOOST_TEST(c.ports == 10000u);
    BOOST_TEST(c.audio_streams == 5000u);
    BOOST_TEST(c.av_sessions == 2500u);
    auto full = cluster::Capacity::of_ports(64000);
    BOOST_TEST(full.audio_streams == 32000u);
    BOOST_TEST(full.av_sessions == 16000u);
}

BOOST_AUTO_TEST_CASE(single_ip_capacity_is_the_sum_of_the_ranges) {
    auto cfg = make(R"("wan_ip": "203.0.113.10")",
                    {{"f1", member("frontend", 1, R"("media_ports": "10000-19999")")},
                     {"f2", member("frontend", 2, R"("media_ports": "20000-29999")")},
                     {"b1", member("backend", 1)}});
    auto r = cluster::check(cfg);
    BOOST_TEST(!r.has_errors());
    BOOST_TEST((r.method == cluster::MediaMethod::single_ip));
    BOOST_REQUIRE(r.members.size() == 3u);
    BOOST_TEST(r.members[0].capacity.ports == 10000u);
    BOOST_TEST(r.members[0].capacity.audio_streams == 5000u);
    BOOST_TEST(r.members[0].capacity.av_sessions == 2500u);
    BOOST_TEST(r.members[2].capacity.ports == 0u);
    BOOST_TEST(r.cluster.ports == 20000u);
    BOOST_TEST(r.cluster.audio_streams == 10000u);
    BOOST_TEST(r.cluster.av_sessions == 5000u);
    expect_one(r, "media-method", Severity::info, "", "single-IP");
    expect_one(r, "single-ip-limit", Severity::info, "", "32256 audio streams");
}

BOOST_AUTO_TEST_CASE(multi_ip_capacity_is_per_member) {
    auto cfg = make(
        R"("wan_ip": "203.0.113.10")",
        {{"f1", member("frontend", 1, R"("wan_ip": "203.0.113.11", "media_ports": "10000-59999")")},
         {"f2",
          member("frontend", 2, R"("wan_ip": "203.0.113.12", "media_ports": "10000-59999")")}});
    auto r = cluster::check(cfg);
    BOOST_TEST(!r.has_errors());
    BOOST_TEST((r.method == cluster::MediaMethod::multi_ip));
    BOOST_TEST(with_id(r, "media-range-overlap").empty());
    BOOST_TEST(r.members[0].capacity.ports == 50000u);
    BOOST_TEST(r.cluster.ports == 100000u);
    BOOST_TEST(r.cluster.audio_streams == 50000u);
    BOOST_TEST(r.cluster.av_sessions == 25000u);
}

BOOST_AUTO_TEST_CASE(overlapping_ranges_on_one_address) {
    auto cfg = make(R"("wan_ip": "203.0.113.10")",
                    {{"f1", member("frontend", 1, R"("media_ports": "10000-19999")")},
                     {"f2", member("frontend", 2, R"("media_ports": "15000-24999")")}});
    auto r = cluster::check(cfg);
    BOOST_TEST(r.has_errors());
    expect_one(r, "media-range-overlap", Severity::error, "f2", "f1's 10000-19999");
    BOOST_TEST(r.cluster.ports == 15000u); // overlapping ports counted once
}

BOOST_AUTO_TEST_CASE(range_below_1024) {
    auto cfg = make(R"("wan_ip": "203.0.113.10")",
                    {{"f1", member("frontend", 1, R"("media_ports": "1000-1999")")}});
    auto r = cluster::check(cfg);
    expect_one(r, "media-range-privileged", Severity::error, "f1", "1024-65535");
}

BOOST_AUTO_TEST_CASE(single_ip_without_cluster_wan_ip) {
    auto cfg = make("", {{"f1", member("frontend", 1, R"("media_ports": "10000-19999")")},
                         {"f2", member("frontend", 2, R"("media_ports": "20000-29999")")}});
    auto r = cluster::check(cfg);
    expect_one(r, "single-ip-no-cluster-wan-ip", Severity::error, "", "cluster.wan_ip");
    BOOST_TEST(with_id(r, "media-no-address").empty()); // said once, not per member
}

BOOST_AUTO_TEST_CASE(some_frontends_with_wan_ip_and_some_without) {
    auto cfg = make(
        R"("wan_ip": "203.0.113.10")",
        {{"f1", member("frontend", 1, R"("wan_ip": "203.0.113.11", "media_ports": "10000-19999")")},
         {"f2", member("frontend", 2, R"("media_ports": "20000-29999")")},
         {"f3", member("frontend", 3, R"("media_ports": "30000-39999")")}});
    auto r = cluster::check(cfg);
    BOOST_TEST((r.method == cluster::MediaMethod::mixed));
    expect_one(r, "wan-ip-mixed", Severity::error, "", "f2, f3 have no Server-wide WAN IP");
}

BOOST_AUTO_TEST_CASE(multi_ip_needs_distinct_wan_ips) {
    auto cfg = make(
        "",
        {{"f1", member("frontend", 1, R"("wan_ip": "203.0.113.11", "media_ports": "10000-19999")")},
         {"f2",
          member("frontend", 2, R"("wan_ip": "203.0.113.11", "media_ports": "20000-29999")")}});
    auto r = cluster::check(cfg);
    expect_one(r, "wan-ip-duplicate", Severity::error, "f2", "as f1");
}

BOOST_AUTO_TEST_CASE(media_without_an_address) {
    // Multi-IP frontends, no cluster wan_ip: the backend with a media range
    // has nothing to advertise.
    auto cfg = make(
        "",
        {{"f1", member("frontend", 1, R"("wan_ip": "203.0.113.11")")},
         {"b1", member("backend", 1, R"("media_ports": "10000-19999", "call_legs": "locally")")}});
    auto r = cluster::check(cfg);
    expect_one(r, "media-no-address", Severity::error, "b1", "no address to advertise");

    // media anchor on a member that creates its own call legs.
    auto anchor =
        make(R"("media": "anchor")", {{"f1", member("frontend", 1, R"("wan_ip": "203.0.113.11")")},
                                      {"s1", member("standalone", 1)}});
    expect_one(cluster::check(anchor), "media-no-address", Severity::error, "s1");
}

BOOST_AUTO_TEST_CASE(relay_without_a_member) {
    auto cfg = make("", {{"f1", member("frontend", 1, R"("sip_farm": "disabled")")},
                         {"b1", member("backend", 1, R"("sip_farm": "relay")")}});
    auto r = cluster::check(cfg);
    expect_one(r, "relay-without-member", Severity::error, "b1");
    // With auto the backend falls back to disabled: no finding.
    auto fallback = make("", {{"f1", member("frontend", 1, R"("sip_farm": "disabled")")},
                              {"b1", member("backend", 1)}});
    BOOST_TEST(with_id(cluster::check(fallback), "relay-without-member").empty());
}

BOOST_AUTO_TEST_CASE(remote_placement_without_a_host) {
    auto cfg = make("", {{"s1", member("standalone", 1, R"("call_legs": "remotely")")},
                         {"s2", member("standalone", 2, R"("signals": "remotely")")}});
    auto r = cluster::check(cfg);
    expect_one(r, "call-legs-without-host", Severity::error, "s1");
    expect_one(r, "signals-without-host", Severity::error, "s2");
    // A backend's auto remotely is fine once a frontend hosts for others.
    auto ok = make("", {{"f1", member("frontend", 1)}, {"b1", member("backend", 1)}});
    auto r2 = cluster::check(ok);
    BOOST_TEST(with_id(r2, "call-legs-without-host").empty());
    BOOST_TEST(with_id(r2, "signals-without-host").empty());
    // Without the frontend it is not.
    auto lone = make("", {{"b1", member("backend", 1)}});
    auto r3 = cluster::check(lone);
    expect_one(r3, "call-legs-without-host", Severity::error, "b1");
    expect_one(r3, "signals-without-host", Severity::error, "b1");
    // A standalone server set to host for others is not in the Dynamic
    // Cluster, so it hosts nothing for the backend.
    auto standalone_host =
        make("", {{"s1", member("standalone", 1, R"("call_legs": "locally-for-others")")},
                  {"b1", member("backend", 1)}});
    expect_one(cluster::check(standalone_host), "call-legs-without-host", Severity::error, "b1");
}

BOOST_AUTO_TEST_CASE(sip_processing_member_without_processor) {
    auto cfg = make("", {{"f1", R"({"role": "frontend", "address": "10.77.0.11",
                              "sip_listen": ["0.0.0.0:5060"], "control": "/run/f1.sock"})"},
                         {"b1", member("backend", 1)}});
    auto r = cluster::check(cfg);
    expect_one(r, "no-processor", Severity::warning, "f1", "sip_farm member");
    BOOST_TEST(!r.has_errors()); // a warning only; the relay backend needs none
    // Nobody terminates media, so no WAN IP is needed.
    BOOST_TEST((r.method == cluster::MediaMethod::none));
    BOOST_TEST(with_id(r, "single-ip-no-cluster-wan-ip").empty());
}

BOOST_AUTO_TEST_CASE(frontend_without_media_ports_while_media_is_anchored) {
    auto cfg = make(R"("wan_ip": "203.0.113.10")",
                    {{"f1", member("frontend", 1, R"("media_ports": "10000-19999")")},
                     {"f2", member("frontend", 2)},
                     {"b1", member("backend", 1, R"("media": "anchor")")}});
    auto r = cluster::check(cfg);
    expect_one(r, "frontend-no-media-ports", Severity::warning, "f2", "(b1)");
    // Nobody anchors: no warning.
    auto quiet = make(R"("wan_ip": "203.0.113.10")",
                      {{"f1", member("frontend", 1, R"("media_ports": "10000-19999")")},
                       {"f2", member("frontend", 2)}});
    BOOST_TEST(with_id(cluster::check(quiet), "frontend-no-media-ports").empty());
}

BOOST_AUTO_TEST_CASE(the_per_source_media_limit_is_named) {
    const std::vector<std::pair<std::string, std::string>> members = {
        {"f1", member("frontend", 1, R"("media_ports": "10000-19999")")}};
    expect_one(cluster::check(make(R"("wan_ip": "203.0.113.10")", members)), "media-per-source",
               Severity::info, "", "media_max_sessions_per_source is 0");
    expect_one(cluster::check(make(
                   R"("wan_ip": "203.0.113.10", "media_max_sessions_per_source": 50)", members)),
               "media-per-source", Severity::info, "", "at most 50 calls at once from one source");
    // No relay, nothing to say.
    BOOST_TEST(
        with_id(cluster::check(make("", {{"f1", member("frontend", 1)}})), "media-per-source")
            .empty());
}

BOOST_AUTO_TEST_CASE(json_form) {
    auto cfg = make(R"("wan_ip": "203.0.113.10")",
                    {{"f1", member("frontend", 1, R"("media_ports": "10000-19999")")},
                     {"f2", member("frontend", 2, R"("media_ports": "15000-24999")")},
                     {"b1", member("backend", 1)}});
    auto j = cluster::to_json(cluster::check(cfg));
    BOOST_TEST(j["ok"].as_bool().value_or(true) == false);
    BOOST_TEST(j["cluster"].as_string().value_or("-") == "t");
    BOOST_TEST(j["method"].as_string().value_or("-") == "single-ip");
    BOOST_TEST(j["errors"].as_integer().value_or(-1) == 1);
    BOOST_TEST(j["warnings"].as_integer().value_or(-1) == 0);
    BOOST_REQUIRE(j["findings"].is_array());
    bool found = false;
    for (size_t i = 0; i < j["findings"].size(); ++i) {
        auto f = j["findings"].at(i);
        if (f["id"].as_string().value_or("-") == "media-range-overlap") {
            found = true;
            BOOST_TEST(f["severity"].as_string().value_or("-") == "error");
            BOOST_TEST(f["member"].as_string().value_or("-") == "f2");
            BOOST_TEST(f["message"].is_string());
        }
    }
    BOOST_TEST(found);
    auto f1 = j["members"].at(0);
    BOOST_TEST(f1["id"].as_string().value_or("-") == "f1");
    BOOST_TEST(f1["sip_farm"].as_string().value_or("-") == "member");
    BOOST_TEST(f1["call_legs"].as_string().value_or("-") == "locally-for-others");
    BOOST_TEST(f1["advertised"].as_string().value_or("-") == "203.0.113.10");
    BOOST_TEST(f1["media_ports"].as_string().value_or("-") == "10000-19999");
    BOOST_TEST(f1["ports"].as_integer().value_or(-1) == 10000);
    BOOST_TEST(f1["audio_streams"].as_integer().value_or(-1) == 5000);
    BOOST_TEST(f1["audio_video_sessions"].as_integer().value_or(-1) == 2500);
    auto b1 = j["members"].at(2);
    BOOST_TEST(b1["sip_farm"].as_string().value_or("-") == "relay");
    BOOST_TEST(json_is_null(b1["media_ports"].get()));
    BOOST_TEST(j["capacity"]["ports"].as_integer().value_or(-1) == 15000);
    // One document, parseable again.
    BOOST_TEST(json::parse(j.dump_pretty(), "report").ok());
}

BOOST_AUTO_TEST_SUITE_END()
