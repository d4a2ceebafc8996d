// lbcheck's media test on real daemons on loopback (sipfarmd.8 "lbcheck
// media"): a probe with X-Farm-Media: test gets a relay session on the
// member's rtprelayd whose two sides send to lbcheck's socket, and the
// X-Farm-Media-* headers that say where; RTP sent there comes back from the
// other endpoint; X-Farm-Media: end deletes the session. Without anchoring,
// X-Farm-Media-Error says why. Then lbcheck media itself, on the same farm.
#include "cluster_fixture.hpp"
#include "harness.hpp"
#include "sip_messages.hpp"
#include "udp_peer.hpp"

#include "control/control_client.hpp"
#include "diag/media_wire.hpp"
#include "sip/proxy.hpp"

#include <boost/test/unit_test.hpp>

#include <thread>

using namespace rtfarm;
using namespace rtfarm::test;

namespace {

json::Json ask(const std::string& socket, const char* op) {
    auto c = control::ControlClient::connect(socket, scaled(2000ms));
    BOOST_REQUIRE_MESSAGE(c.ok(), (c.ok() ? "" : c.error().message));
    auto r = c->call(op, json::Json::object(), scaled(2000ms));
    BOOST_REQUIRE_MESSAGE(r.ok(), op << ": " << (r.ok() ? "" : r.error().message));
    return r.value();
}

long long sessions(const std::string& socket) {
    return ask(socket, "list")["count"].as_integer().value_or(-1);
}

bool sessions_become(const std::string& socket, long long count) {
    auto deadline = std::chrono::steady_clock::now() + scaled(3000ms);
    while (std::chrono::steady_clock::now() < deadline) {
        if (sessions(socket) == count)
            return true;
        std::this_thread::sleep_for(20ms);
    }
    return false;
}

struct Prober {
    UdpPeer sip{"127.0.0.9:0"};
    UdpPeer rtp{"127.0.0.9:0"};
    SockAddr vip;

    diag::ProbeRequest request(const std::string& call_id, const std::string& media) const {
        diag::ProbeRequest p;
        p.vip = vip;
        p.local = sip.address();
        p.call_id = call_id;
        p.branch = "lbm" + call_id;
        p.from_tag = "caller1";
        p.reply_from = "f1";
        p.media = media;
        if (media == "test")
            p.sdp = diag::test_sdp(rtp.address());
        return p;
    }
    // The probe's 200, parsed; its size against the request's.
    diag::ProbeAnswer send(const diag::ProbeRequest& p, size_t* reply_size = nullptr) {
        std::string bytes = diag::probe_request(p);
        sip.send(vip, bytes);
        auto got = sip.recv(scaled(3000ms));
        BOOST_REQUIRE_MESSAGE(got, "no answer to the probe " << p.call_id);
        auto a = diag::parse_probe_answer(got->bytes);
        BOOST_REQUIRE_MESSAGE(a.ok(), got->bytes);
        BOOST_REQUIRE_EQUAL(a->call_id, p.call_id);
        BOOST_TEST(got->bytes.size() <= bytes.size() + 512, got->bytes);
        BOOST_TEST(got->bytes.find("\r\n\r\n") + 4 == got->bytes.size(), "a body: " << got->bytes);
        if (reply_size)
            *reply_size = got->bytes.size();
        return *a;
    }
};

// RTP from `p.rtp` to `to` comes back to it, intact, from `from`.
void comes_back(Prober& p, const std::string& to, const std::string& from, uint16_t seq) {
    auto dest = SockAddr::parse(to);
    BOOST_REQUIRE(dest.ok());
    std::string pkt = diag::test_rtp(0x1234, seq);
    p.rtp.send(*dest, pkt);
    auto got = p.rtp.recv(scaled(2000ms));
    BOOST_REQUIRE_MESSAGE(got, "RTP sent to " << to << " did not come back");
    BOOST_TEST(got->bytes == pkt);
    BOOST_TEST(got->source.str() == from);
}

// One member anchoring media (rtprelayd and sipfarmd), and a prober aimed
// at its SIP port; `more` adds cluster keys to "media": "anchor".
struct ProbedMember {
    LoopbackLab lab{1};
    Prober p;
    std::string media_sock;

    explicit ProbedMember(const std::string& more = "") {
        lab.cluster.extra = "\"media\": \"anchor\"" + (more.empty() ? "" : ", " + more);
        lab.write();
        lab.start("rtprelayd", "f1");
        lab.start("sipfarmd", "f1");
        media_sock = lab.cluster.media_control(lab.dir, "f1");
        p.vip =
            *SockAddr::parse("127.0.0.1:" + std::to_string(lab.cluster.members[0].sip_ports[0]));
    }
};
struct ProbedMemberWithSources : ProbedMember {
    ProbedMemberWithSources()
        : ProbedMember("\"lbcheck_sources\": [\"192.0.2.0/24\"]") {}
};

} // namespace

BOOST_AUTO_TEST_SUITE(farm_media_probe)

BOOST_FIXTURE_TEST_CASE(a_media_test_probe_gets_a_relay_session_that_the_end_probe_deletes,
                        ProbedMember) {

    // Every probe names the farm's members.
    auto plain = p.send(p.request("plain-1", ""));
    BOOST_TEST(plain.members == std::vector<std::string>{"f1"});
    BOOST_TEST(plain.media_member.empty());
    BOOST_TEST(sessions(media_sock) == 0);

    auto a = p.send(p.request("media-1", "test"));
    BOOST_TEST(a.answered_by == "f1");
    BOOST_TEST(a.media_error.empty(), a.media_error);
    BOOST_TEST(a.media_member == "f1");
    BOOST_TEST(a.media_range == "21000-21999");
    BOOST_TEST(a.members == std::vector<std::string>{"f1"});
    for (const auto* e : {&a.media_caller, &a.media_callee}) {
        auto addr = SockAddr::parse(*e);
        BOOST_REQUIRE_MESSAGE(addr.ok(), *e);
        BOOST_TEST(addr->host() == "127.0.0.1");
        BOOST_TEST((addr->port() >= 21000 && addr->port() <= 21999), *e);
    }
    BOOST_TEST(a.media_caller != a.media_callee);
    BOOST_TEST(sessions(media_sock) == 1);
    // A repeated test probe (a retransmission) is the same session.
    auto again = p.send(p.request("media-1", "test"));
    BOOST_TEST(again.media_caller == a.media_caller);
    BOOST_TEST(sessions(media_sock) == 1);

    // Both sides of the session send to lbcheck's one socket.
    comes_back(p, a.media_caller, a.media_callee, 1);
    comes_back(p, a.media_callee, a.media_caller, 2);
    comes_back(p, a.media_caller, a.media_callee, 3);

    auto end = p.send(p.request("media-1", "end"));
    BOOST_TEST(end.media_member.empty());
    BOOST_TEST(sessions_become(media_sock, 0));
    auto farm = ask(lab.cluster.control(lab.dir, "f1"), "stats")["service"]["media"];
    BOOST_TEST(farm["tests"].as_integer().value_or(0) == 2);
    BOOST_TEST(farm["tested"].as_integer().value_or(0) == 2);
    BOOST_TEST(farm["ended"].as_integer().value_or(0) == 1);

    // lbcheck media on the same farm: no finding; the VIP's wrong port: exit 2.
    auto r = run({bin_path("lbcheck"), "media", "--vip", p.vip.str(), "--json"}, scaled(20000ms));
    BOOST_TEST(r.status == 0, r.err);
    auto doc = parse_out(r);
    BOOST_TEST(doc["findings"].size() == 0u, r.out);
    BOOST_TEST(doc["observed"]["media_members"]["f1"]["to_callee_back"].as_integer().value_or(0) >
               0);
    BOOST_TEST(sessions_become(media_sock, 0));
    auto silent = run({bin_path("lbcheck"), "media", "--vip",
                       "127.0.0.1:" + std::to_string(free_port()), "--timeout", "100"});
    BOOST_TEST(silent.status == 2);
    BOOST_TEST(silent.err.find("does not answer") != std::string::npos, silent.err);
}

BOOST_AUTO_TEST_CASE(without_anchoring_the_probe_says_why) {
    LoopbackLab lab{1};
    lab.start("sipfarmd", "f1"); // media: none (the default)
    Prober p;
    p.vip = *SockAddr::parse("127.0.0.1:" + std::to_string(lab.cluster.members[0].sip_ports[0]));
    auto a = p.send(p.request("media-2", "test"));
    BOOST_TEST(a.media_member.empty());
    BOOST_TEST(a.media_error.rfind("not_anchored ", 0) == 0, a.media_error);

    auto r = run({bin_path("lbcheck"), "media", "--vip", p.vip.str(), "--json"}, scaled(20000ms));
    BOOST_TEST(r.status == 0, r.err);
    auto doc = parse_out(r);
    BOOST_TEST(doc["findings"].at(0)["id"].as_string().value_or("") == "media-not-anchored", r.out);
    BOOST_TEST(doc["not_checked"].size() == 1u, r.out);
}

BOOST_AUTO_TEST_CASE(anchoring_without_rtprelayd_gives_the_relays_error) {
    LoopbackLab lab{1};
    lab.cluster.extra = "\"media\": \"anchor\"";
    lab.write();
    lab.start("sipfarmd", "f1");
    Prober p;
    p.vip = *SockAddr::parse("127.0.0.1:" + std::to_string(lab.cluster.members[0].sip_ports[0]));
    auto a = p.send(p.request("media-3", "test"));
    BOOST_TEST(a.media_member.empty());
    BOOST_TEST(a.media_error.rfind("io ", 0) == 0, a.media_error);
}

BOOST_FIXTURE_TEST_CASE(media_test_sessions_are_bounded_per_member, ProbedMember) {
    for (int i = 0; i < 64; ++i) {
        auto a = p.send(p.request("bounded-" + std::to_string(i), "test"));
        BOOST_REQUIRE_MESSAGE(a.media_error.empty(), i << ": " << a.media_error);
        // Under the probe rate limit (50/s, burst 100).
        if (i % 16 == 15)
            std::this_thread::sleep_for(200ms);
    }
    auto full = p.send(p.request("bounded-64", "test"));
    BOOST_TEST(full.media_error.rfind("busy ", 0) == 0, full.media_error);
    BOOST_TEST(sessions(lab.cluster.media_control(lab.dir, "f1")) == 64);
    p.send(p.request("bounded-0", "end"));
    auto again = p.send(p.request("bounded-64", "test"));
    BOOST_TEST(again.media_error.empty(), again.media_error);
}

// Issue 16: a probe whose SDP names another address (the processor on
// loopback) would have the relay send strangers' datagrams there; it is
// answered without media. With lbcheck_sources, only those sources test.
BOOST_FIXTURE_TEST_CASE(a_probe_may_name_only_its_own_address_from_an_allowed_source,
                        ProbedMember) {
    auto req = p.request("aimed-1", "test");
    req.sdp = diag::test_sdp(*SockAddr::parse("127.0.0.1:5070"));
    auto a = p.send(req);
    BOOST_TEST(a.media_member.empty());
    BOOST_TEST(a.media_error.rfind("probe_sdp_address ", 0) == 0, a.media_error);
    BOOST_TEST(sessions(media_sock) == 0);
    auto farm = ask(lab.cluster.control(lab.dir, "f1"), "stats")["service"]["media"];
    BOOST_TEST(farm["failed"]["probe_sdp_address"].as_integer().value_or(0) == 1);
    // Its own address: a session.
    auto own = p.send(p.request("own-1", "test"));
    BOOST_TEST(own.media_error.empty(), own.media_error);
    BOOST_TEST(sessions(media_sock) == 1);
}

BOOST_FIXTURE_TEST_CASE(lbcheck_sources_name_who_may_test_media, ProbedMemberWithSources) {
    auto a = p.send(p.request("stranger-1", "test"));
    BOOST_TEST(a.media_member.empty());
    BOOST_TEST(a.media_error.rfind("probe_source_not_allowed ", 0) == 0, a.media_error);
    BOOST_TEST(a.members == std::vector<std::string>{"f1"}); // the probe itself is answered
    BOOST_TEST(sessions(media_sock) == 0);
}

BOOST_AUTO_TEST_SUITE_END()
