// lbcheck media: the diagnosis from recorded observations (all good, a range
// lost one way and both ways, a rewritten reply source, a changed payload,
// a member that does not anchor media, a partial run), and the wire helpers
// of both sides: lbcheck's probes, answers and test RTP (diag/media_wire),
// sipfarmd's X-Farm-Members and X-Farm-Media-* (sip/media_probe).
#include "diag/media.hpp"
#include "diag/media_wire.hpp"
#include "media/sdp.hpp"
#include "sip/media_probe.hpp"
#include "sip/proxy.hpp"
#include "sip/scanner.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <string>
#include <vector>

using namespace rtfarm;
using diag::MediaLeg;
using diag::MediaObservations;
using diag::MediaTrial;

namespace {

// A trial of member `id` whose relay is at VIP:base and VIP:base+2, every
// packet back from where it should.
MediaTrial good(const std::string& id, const std::string& range, int base) {
    MediaTrial t;
    t.asked = id;
    t.probes = 1;
    t.answered_by = id;
    t.media_member = id;
    t.range = range;
    t.caller = "203.0.113.1:" + std::to_string(base);
    t.callee = "203.0.113.1:" + std::to_string(base + 2);
    t.to_caller = MediaLeg{t.caller, t.callee, 10, 10, 0, 0, {}, 0.4};
    t.to_callee = MediaLeg{t.callee, t.caller, 5, 5, 0, 0, {}, 0.5};
    return t;
}

MediaObservations farm(std::vector<MediaTrial> trials) {
    MediaObservations o;
    o.vip = "203.0.113.1:5060";
    o.local = "198.51.100.10:40000";
    o.members = {"f1", "f2", "f3"};
    o.members_from = "X-Farm-Members";
    o.trials = std::move(trials);
    return o;
}

std::vector<std::string> ids(const diag::Report& r) {
    std::vector<std::string> v;
    for (const auto& f : r.findings)
        v.push_back(f.id);
    return v;
}

const Finding& only(const diag::Report& r) {
    BOOST_REQUIRE_EQUAL(r.findings.size(), 1u);
    return r.findings[0];
}

bool has(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

} // namespace

BOOST_AUTO_TEST_SUITE(diag_media)

BOOST_AUTO_TEST_CASE(every_range_back_both_ways_is_no_finding) {
    auto r = diag::diagnose_media(
        farm({good("f1", "10000-19999", 10000), good("f2", "20000-29999", 20000),
              good("f3", "30000-39999", 30000)}));
    BOOST_TEST(r.findings.empty());
    BOOST_TEST(r.not_checked.empty());
    BOOST_TEST(r.exit_status() == 0);
    auto per = r.observed["media_members"];
    BOOST_TEST(per.size() == 3u);
    BOOST_TEST(per["f2"]["to_caller_back"].as_integer().value_or(0) == 10);
    BOOST_TEST(per["f2"]["range"].as_string().value_or("") == "20000-29999");
    BOOST_TEST(json_is_real(per["f2"]["rtt_ms"].get()));
}

BOOST_AUTO_TEST_CASE(a_range_lost_both_ways_is_misrouted_naming_member_and_range) {
    auto f2 = good("f2", "20000-29999", 20000);
    f2.to_caller.back = 0;
    f2.to_callee.back = 0;
    auto r = diag::diagnose_media(
        farm({good("f1", "10000-19999", 10000), f2, good("f3", "30000-39999", 30000)}));
    const auto& f = only(r);
    BOOST_TEST(f.id == "media-range-misrouted");
    BOOST_TEST((f.severity == Severity::error));
    BOOST_TEST(has(f.evidence, "advertised by f2 (range 20000-29999)"), f.evidence);
    BOOST_TEST(has(f.evidence, "203.0.113.1:20000 and 203.0.113.1:20002"), f.evidence);
    BOOST_TEST(has(f.evidence, "10 sent, 0 came back"), f.evidence);
    BOOST_TEST(has(f.fix, "forward UDP 20000-29999 on 203.0.113.1 to f2"), f.fix);
    BOOST_TEST(r.exit_status() == 1);
}

BOOST_AUTO_TEST_CASE(a_range_lost_one_way_names_the_port_that_failed) {
    auto f1 = good("f1", "10000-19999", 10000);
    f1.to_callee.back = 0; // packets to the callee port never reach f1
    auto r = diag::diagnose_media(farm({f1}));
    const auto& f = r.findings.at(0);
    BOOST_TEST(ids(r) == std::vector<std::string>{"media-range-misrouted"});
    BOOST_TEST(has(f.evidence, "RTP to 203.0.113.1:10002, advertised by f1"), f.evidence);
    // The way that worked is evidence too.
    BOOST_TEST(has(f.evidence, "to 203.0.113.1:10000: 10 sent, 10 came back"), f.evidence);
}

BOOST_AUTO_TEST_CASE(a_good_retry_outweighs_a_lost_attempt) {
    auto lost = good("f2", "20000-29999", 20000);
    lost.to_caller.back = lost.to_callee.back = 0;
    auto r = diag::diagnose_media(farm({lost, good("f2", "20000-29999", 20004)}));
    BOOST_TEST(r.findings.empty());
    BOOST_TEST(r.observed["trials"].size() == 2u);
}

BOOST_AUTO_TEST_CASE(a_rewritten_reply_source_is_media_reply_source) {
    auto f3 = good("f3", "30000-39999", 30000);
    f3.to_caller.back = 0;
    f3.to_caller.back_elsewhere = 10;
    f3.to_caller.other_sources = {"203.0.113.1:61002"};
    auto r = diag::diagnose_media(farm({f3}));
    const auto& f = only(r);
    BOOST_TEST(f.id == "media-reply-source");
    BOOST_TEST((f.severity == Severity::error));
    BOOST_TEST(has(f.evidence, "came back from 203.0.113.1:61002"), f.evidence);
    BOOST_TEST(has(f.fix, "same port"), f.fix);
}

BOOST_AUTO_TEST_CASE(a_changed_payload_is_reported) {
    auto f1 = good("f1", "10000-19999", 10000);
    f1.to_callee.back = 3;
    f1.to_callee.changed = 2;
    auto r = diag::diagnose_media(farm({f1}));
    BOOST_TEST(only(r).id == "media-payload-changed");
}

BOOST_AUTO_TEST_CASE(a_member_without_anchoring_is_a_warning_saying_why) {
    MediaTrial t;
    t.asked = "f2";
    t.probes = 1;
    t.answered_by = "f2";
    t.media_error = "not_anchored member f2 does not anchor media (media: none)";
    auto r = diag::diagnose_media(farm({good("f1", "10000-19999", 10000), t}));
    const auto& f = only(r);
    BOOST_TEST(f.id == "media-not-anchored");
    BOOST_TEST((f.severity == Severity::warning));
    BOOST_TEST(has(f.evidence, "f2 answered"), f.evidence);
    BOOST_TEST(has(f.evidence, "not_anchored member f2"), f.evidence);
    BOOST_TEST(has(f.fix, "\"media\": \"anchor\""), f.fix);
    BOOST_TEST(r.exit_status() == 0);
    // A relay that fails gets the other fix.
    t.media_error = "io cannot connect to /run/rtfarm/f2-media.sock";
    auto r2 = diag::diagnose_media(farm({t}));
    BOOST_TEST(has(only(r2).fix, "rtprelayd running"), only(r2).fix);
    BOOST_TEST(!r2.not_checked.empty()); // no range tried at all
}

BOOST_AUTO_TEST_CASE(a_partial_run_says_what_was_not_checked) {
    MediaTrial silent;
    silent.asked = "f3";
    silent.probes = 3;
    // f2's call legs are placed on f1: its test was relayed there.
    auto via_f1 = good("f1", "10000-19999", 10010);
    via_f1.asked = "f2";
    via_f1.answered_by = "f2";
    auto o = farm({good("f1", "10000-19999", 10000), via_f1, silent});
    o.members.push_back("f4");
    o.not_tried = {"f4"};
    auto r = diag::diagnose_media(o);
    BOOST_TEST(r.findings.empty());
    std::string all;
    for (const auto& s : r.not_checked)
        all += s + "\n";
    BOOST_TEST(has(all, "f3: no answer to 3 media test probes"), all);
    BOOST_TEST(has(all, "f2's range: the media test asked of f2 was relayed by f1"), all);
    BOOST_TEST(has(all, "f4: not tried"), all);
    BOOST_TEST(r.not_checked.size() == 3u);
}

BOOST_AUTO_TEST_CASE(observed_lists_every_trial) {
    auto r = diag::diagnose_media(farm({good("f1", "10000-19999", 10000)}));
    auto t = r.observed["trials"].at(0);
    BOOST_TEST(t["to_caller"]["sent"].as_integer().value_or(0) == 10);
    BOOST_TEST(t["to_callee"]["expect_from"].as_string().value_or("") == "203.0.113.1:10000");
    BOOST_TEST(r.observed["rtp_socket"].as_string().value_or("") == "198.51.100.10:40000");
    BOOST_TEST(r.to_json()["ok"].as_bool().value_or(false));
}

BOOST_AUTO_TEST_CASE(probe_requests_scan_and_carry_the_media_test) {
    diag::ProbeRequest p;
    p.vip = *SockAddr::parse("203.0.113.1:5060");
    p.local = *SockAddr::parse("198.51.100.10:40312");
    p.call_id = "lbm-1";
    p.branch = "lbm42";
    p.from_tag = "t1";
    p.reply_from = "f2";
    p.media = "test";
    p.sdp = diag::test_sdp(*SockAddr::parse("198.51.100.10:40314"));
    std::string bytes = diag::probe_request(p);
    auto m = sip::scan(bytes);
    BOOST_REQUIRE(m.ok());
    BOOST_TEST(sip::is_probe(bytes, *m));
    BOOST_TEST(m->from_tag.in(bytes) == "t1");
    BOOST_TEST(sip::header_value(bytes, *m, "X-Farm-Reply-From") == "f2");
    BOOST_TEST((sip::media_probe_kind(bytes, *m) == sip::MediaProbe::test));
    auto sdp = sip::media_test_sdp(bytes, *m);
    BOOST_TEST(sdp == p.sdp);
    auto desc = media::parse_sdp(sdp);
    BOOST_REQUIRE(desc.ok());
    BOOST_REQUIRE_EQUAL(desc->media.size(), 1u);
    BOOST_TEST(desc->media[0].rtp_peer.str() == "198.51.100.10:40314");

    p.media = "end";
    p.sdp.clear();
    std::string end = diag::probe_request(p);
    auto e = sip::scan(end);
    BOOST_REQUIRE(e.ok());
    BOOST_TEST((sip::media_probe_kind(end, *e) == sip::MediaProbe::end));
    BOOST_TEST(sip::media_test_sdp(end, *e).empty());
    p.media.clear();
    std::string plain = diag::probe_request(p);
    auto pl = sip::scan(plain);
    BOOST_REQUIRE(pl.ok());
    BOOST_TEST((sip::media_probe_kind(plain, *pl) == sip::MediaProbe::none));
}

BOOST_AUTO_TEST_CASE(probe_answers_give_the_farm_and_media_headers) {
    std::string reply = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 198.51.100.10:40312;branch=z9hG4bKx\r\n"
                        "From: <sip:lbcheck@x>;tag=t1\r\nTo: <sip:lbcheck@y>;tag=z\r\n"
                        "Call-ID: lbm-1\r\nCSeq: 1 OPTIONS\r\nX-Farm-Received-By: f1\r\n"
                        "X-Farm-Answered-By: f2\r\nX-Farm-Media-Member: f2\r\n"
                        "X-Farm-Media-Caller: 203.0.113.1:20000\r\n"
                        "X-Farm-Media-Callee: 203.0.113.1:20002\r\n"
                        "X-Farm-Media-Range: 20000-29999\r\nX-Farm-Members: f1, f2,f3\r\n"
                        "Content-Length: 0\r\n\r\n";
    auto a = diag::parse_probe_answer(reply);
    BOOST_REQUIRE(a.ok());
    BOOST_TEST(a->status == 200);
    BOOST_TEST(a->farm);
    BOOST_TEST(a->call_id == "lbm-1");
    BOOST_TEST(a->answered_by == "f2");
    BOOST_TEST(a->members == (std::vector<std::string>{"f1", "f2", "f3"}));
    BOOST_TEST(a->media_caller == "203.0.113.1:20000");
    BOOST_TEST(a->media_callee == "203.0.113.1:20002");
    BOOST_TEST(a->media_range == "20000-29999");
    BOOST_TEST(a->media_error.empty());

    std::string plain = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 1.2.3.4:5;branch=z9hG4bKx\r\n"
                        "From: <sip:a@x>;tag=t1\r\nTo: <sip:b@y>\r\nCall-ID: c\r\n"
                        "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    auto p = diag::parse_probe_answer(plain);
    BOOST_REQUIRE(p.ok());
    BOOST_TEST(!p->farm); // not an rtfarm farm
    BOOST_TEST(!diag::parse_probe_answer("OPTIONS sip:a@b SIP/2.0\r\n").ok());
}

BOOST_AUTO_TEST_CASE(test_rtp_is_rtp_v2_pt0_and_checked_byte_for_byte) {
    std::string p = diag::test_rtp(0xdeadbeef, 65535);
    BOOST_TEST(p.size() == diag::TEST_RTP_SIZE);
    BOOST_TEST(static_cast<uint8_t>(p[0]) == 0x80);
    BOOST_TEST(static_cast<uint8_t>(p[1]) == 0);
    auto t = diag::parse_test_rtp(p);
    BOOST_REQUIRE(t.has_value());
    BOOST_TEST(t->ssrc == 0xdeadbeefu);
    BOOST_TEST(t->seq == 65535);
    BOOST_TEST(t->intact);
    BOOST_TEST(diag::test_rtp(0xdeadbeef, 1) != diag::test_rtp(0xdeadbeef, 2));
    p[100] = static_cast<char>(p[100] ^ 1);
    BOOST_TEST(!diag::parse_test_rtp(p)->intact);
    BOOST_TEST(!diag::parse_test_rtp(p.substr(0, 150))->intact);
    BOOST_TEST(!diag::parse_test_rtp("short").has_value());
    BOOST_TEST(!diag::parse_test_rtp(std::string(20, '\0')).has_value()); // version 0
}

BOOST_AUTO_TEST_CASE(members_header_lists_the_farm_members_up) {
    sip::FarmView v;
    auto add = [&](const char* id, bool member, bool alive, bool draining) {
        sip::FarmView::Member m;
        m.id = id;
        m.farm_member = member;
        m.alive = alive;
        m.draining = draining;
        v.members.push_back(m);
    };
    add("f1", true, true, false);
    add("f2", true, false, false); // down
    add("f3", true, true, true);   // draining
    add("b1", false, true, false); // a Relay backend
    add("f4", true, true, false);
    BOOST_TEST(sip::members_header(v) == "X-Farm-Members: f1,f4");
    BOOST_TEST(sip::members_header(sip::FarmView{}).empty());
}

BOOST_AUTO_TEST_CASE(media_test_headers) {
    sip::MediaTestAnswer a{"f2", "203.0.113.1:20006", "203.0.113.1:20004", "20000-29999"};
    auto h = sip::media_test_headers(a);
    BOOST_TEST(h == (std::vector<std::string>{"X-Farm-Media-Member: f2",
                                              "X-Farm-Media-Caller: 203.0.113.1:20006",
                                              "X-Farm-Media-Callee: 203.0.113.1:20004",
                                              "X-Farm-Media-Range: 20000-29999"}));
    a.range.clear();
    BOOST_TEST(sip::media_test_headers(a).size() == 3u);

    auto err = sip::media_error_header(make_error("io", "line one\r\nX-Evil: 1"));
    BOOST_TEST(err == "X-Farm-Media-Error: io line one  X-Evil: 1");
    BOOST_TEST(sip::media_error_header(make_error("io", std::string(500, 'x'))).size() <= 200u);
    // The To tag of a test session is the Call-ID's, and differs between Call-IDs.
    BOOST_TEST(sip::media_test_to_tag("a") == sip::media_test_to_tag("a"));
    BOOST_TEST(sip::media_test_to_tag("a") != sip::media_test_to_tag("b"));
}

BOOST_AUTO_TEST_SUITE_END()
