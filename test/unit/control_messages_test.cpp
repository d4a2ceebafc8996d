// media/control_messages: each message of rtprelayd(8)'s control ops goes
// through to_json() and parse() unchanged, parse() reads the keys
// rtfarm-control(7) names, and every field that is missing, of the wrong
// type, too long or out of range is refused with the field's name.
#include "media/control_messages.hpp"

#include <boost/test/unit_test.hpp>

#include <functional>
#include <string>

using namespace rtfarm;
using namespace rtfarm::media;

namespace {

json::Json parsed(const std::string& text) {
    auto j = json::parse(text, "test");
    BOOST_REQUIRE_MESSAGE(j.ok(), text);
    return j.value();
}

// `base` with `key` set to `value` (a JSON text), or removed when value is "".
json::Json with(json::Json base, const char* key, const std::string& value) {
    json::Json copy = parsed(base.dump());
    if (value.empty())
        json_object_del(copy.get(), key);
    else
        copy.set(key, parsed(value));
    return copy;
}

// The error `r` must be: its code, and a message that contains `part`.
template <typename T>
void refused(const Result<T>& r, const std::string& code, const std::string& part) {
    BOOST_REQUIRE_MESSAGE(!r.ok(), "accepted, expected " + code + ": " + part);
    BOOST_TEST(r.error().code == code);
    BOOST_TEST(r.error().message.find(part) != std::string::npos,
               r.error().message + " lacks " + part);
}

const std::string SDP = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 "
                        "0\r\nm=audio 4000 RTP/AVP 0\r\n";

SdpReply sdp_reply() {
    SdpReply a;
    a.sdp = SDP;
    a.member = "f2";
    a.address = "203.0.113.7";
    a.to = Party::caller;
    a.created = true;
    a.answer = true;
    a.unchanged = false;
    a.ports = {{0, 20000, 20001}, {1, 0, 0}};
    return a;
}

SideReply side(const std::string& learned) {
    SideReply s;
    s.local_port = 20000;
    s.rtcp_port = 20001;
    s.rtcp_mux = false;
    s.advertised = "203.0.113.7:20000";
    s.strict = true;
    s.expected = "192.0.2.1:4000";
    s.learned = learned;
    s.learned_rtcp = "";
    s.sends_to = "192.0.2.2:5000";
    s.packets = 10;
    s.bytes = 1720;
    s.rtcp_packets = 1;
    s.send_failed = 0;
    s.dropped[static_cast<size_t>(Drop::stranger)] = 3;
    s.dropped[static_cast<size_t>(Drop::not_rtp)] = 1;
    s.last_packet_age_ms = 20;
    return s;
}

QueryReply query_reply(const std::string& learned = "192.0.2.1:4000") {
    QueryReply q;
    q.call_id = "c1";
    q.member = "f1";
    q.caller_tag = "A";
    q.callee_tag = "B";
    q.answered = true;
    q.age_ms = 5000;
    q.signal_age_ms = 1000;
    q.streams.push_back(StreamReply{0, "audio", side(learned), side("")});
    return q;
}

} // namespace

BOOST_AUTO_TEST_SUITE(control_messages)

BOOST_AUTO_TEST_CASE(sdp_request_round_trip_in_the_keys_of_the_protocol) {
    SdpRequest q;
    q.call_id = "c1";
    q.from_tag = "A";
    q.to_tag = "B";
    q.sdp = SDP;
    q.source = "198.51.100.10";
    q.as = sip::SdpRole::automatic;
    q.answered = true;
    const json::Json j = q.to_json();
    BOOST_TEST(j.dump() == R"({"call_id":"c1","from_tag":"A","to_tag":"B","sdp":")" +
                               std::string("v=0\\r\\no=- 1 1 IN IP4 192.0.2.1\\r\\ns=-\\r\\nc=IN "
                                           "IP4 192.0.2.1\\r\\nt=0 0\\r\\nm=audio 4000 RTP/AVP "
                                           "0\\r\\n") +
                               R"(","as":"auto","answered":true,"source":"198.51.100.10"})");
    auto back = SdpRequest::parse(j, SdpOp::sdp);
    BOOST_REQUIRE(back.ok());
    BOOST_TEST(back->to_json().dump() == j.dump());

    // Without the optional fields, none is written.
    SdpRequest bare;
    bare.call_id = "c2";
    bare.from_tag = "A";
    bare.sdp = SDP;
    BOOST_TEST(!bare.to_json()["as"]);
    BOOST_TEST(!bare.to_json()["answered"]);
    BOOST_TEST(!bare.to_json()["source"]);
    auto offer = SdpRequest::parse(bare.to_json(), SdpOp::offer);
    BOOST_REQUIRE(offer.ok());
    BOOST_TEST(offer->to_json().dump() == bare.to_json().dump());
}

BOOST_AUTO_TEST_CASE(sdp_request_reads_as_and_answered_only_for_sdp) {
    const json::Json base =
        parsed(R"({"call_id":"c1","from_tag":"A","sdp":"v=0","as":"answer","answered":false})");
    auto sdp = SdpRequest::parse(base, SdpOp::sdp);
    BOOST_REQUIRE(sdp.ok());
    BOOST_TEST((sdp->as == sip::SdpRole::answer));
    BOOST_TEST((sdp->answered == false));
    auto offer = SdpRequest::parse(base, SdpOp::offer);
    BOOST_REQUIRE(offer.ok());
    BOOST_TEST(!offer->as.has_value());
    BOOST_TEST(!offer->answered.has_value());
    // Absent, "" and "auto" are auto.
    for (const char* how : {"", R"("")", R"("auto")"}) {
        auto r = SdpRequest::parse(with(base, "as", how), SdpOp::sdp);
        BOOST_REQUIRE(r.ok());
        BOOST_TEST((r->as == sip::SdpRole::automatic), how);
    }
    auto unknown = SdpRequest::parse(with(base, "answered", ""), SdpOp::sdp);
    BOOST_REQUIRE(unknown.ok());
    BOOST_TEST(!unknown->answered.has_value());
    // A mapped address is written as IPv4.
    auto mapped = SdpRequest::parse(with(base, "source", R"("::ffff:198.51.100.10")"), SdpOp::sdp);
    BOOST_REQUIRE(mapped.ok());
    BOOST_TEST(mapped->source == "198.51.100.10");
}

BOOST_AUTO_TEST_CASE(sdp_request_refusals) {
    const json::Json base = parsed(R"({"call_id":"c1","from_tag":"A","to_tag":"B","sdp":"v=0"})");
    BOOST_REQUIRE(SdpRequest::parse(base, SdpOp::answer).ok());
    const std::string bad = "bad_request";
    refused(SdpRequest::parse(parsed("[]"), SdpOp::offer), bad, "must be an object");
    refused(SdpRequest::parse(with(base, "call_id", ""), SdpOp::offer), bad,
            "\"call_id\" is missing");
    refused(SdpRequest::parse(with(base, "call_id", "7"), SdpOp::offer), bad,
            "\"call_id\" must be a string");
    refused(
        SdpRequest::parse(with(base, "call_id", "\"" + std::string(257, 'x') + "\""), SdpOp::offer),
        bad, "\"call_id\" must be at most 256 bytes");
    refused(SdpRequest::parse(with(base, "from_tag", ""), SdpOp::offer), bad,
            "\"from_tag\" is missing");
    refused(SdpRequest::parse(with(base, "from_tag", "null"), SdpOp::offer), bad,
            "\"from_tag\" must be a string");
    refused(SdpRequest::parse(with(base, "from_tag", "\"" + std::string(257, 't') + "\""),
                              SdpOp::offer),
            bad, "\"from_tag\" must be at most 256 bytes");
    // An answer names its answerer; an offer need not.
    BOOST_TEST(SdpRequest::parse(with(base, "to_tag", ""), SdpOp::offer).ok());
    refused(SdpRequest::parse(with(base, "to_tag", ""), SdpOp::answer), bad,
            "\"to_tag\" is missing");
    refused(SdpRequest::parse(with(base, "to_tag", "1"), SdpOp::offer), bad,
            "\"to_tag\" must be a string");
    refused(
        SdpRequest::parse(with(base, "to_tag", "\"" + std::string(257, 't') + "\""), SdpOp::sdp),
        bad, "\"to_tag\" must be at most 256 bytes");
    refused(SdpRequest::parse(with(base, "sdp", ""), SdpOp::offer), bad, "\"sdp\" is missing");
    refused(SdpRequest::parse(with(base, "sdp", "{}"), SdpOp::offer), bad,
            "\"sdp\" must be a string");
    refused(SdpRequest::parse(with(base, "source", "1"), SdpOp::offer), bad,
            "\"source\" must be a string");
    refused(SdpRequest::parse(with(base, "source", R"("198.51.100.10:5060")"), SdpOp::offer), bad,
            "\"source\" must be an IP address, not '198.51.100.10:5060'");
    refused(
        SdpRequest::parse(with(base, "source", "\"" + std::string(65, '1') + "\""), SdpOp::offer),
        bad, "\"source\" must be at most 64 bytes");
    refused(SdpRequest::parse(with(base, "as", R"("both")"), SdpOp::sdp), bad,
            "\"as\" must be offer, answer or auto, not 'both'");
    refused(SdpRequest::parse(with(base, "as", "true"), SdpOp::sdp), bad,
            "\"as\" must be a string");
    refused(SdpRequest::parse(with(base, "answered", R"("yes")"), SdpOp::sdp), bad,
            "\"answered\" must be true or false");
}

BOOST_AUTO_TEST_CASE(sdp_reply_round_trip_and_endpoint) {
    const SdpReply a = sdp_reply();
    const json::Json j = a.to_json();
    BOOST_TEST(j["to"].as_string().value() == "caller");
    BOOST_TEST(j["as"].as_string().value() == "answer");
    BOOST_TEST(j["ports"].at(0)["rtcp"].as_integer().value() == 20001);
    auto back = SdpReply::parse(j);
    BOOST_REQUIRE(back.ok());
    BOOST_TEST(back->to_json().dump() == j.dump());
    BOOST_TEST(back->endpoint().value() == "203.0.113.7:20000");

    SdpReply v6 = a;
    v6.address = "2001:db8::1";
    v6.ports = {{0, 20004, 20005}};
    BOOST_TEST(v6.endpoint().value() == "[2001:db8::1]:20004");
    SdpReply none = a;
    none.ports.clear();
    BOOST_TEST(none.endpoint().error().code == "bad_reply");
    none.ports = {{0, 0, 0}};
    BOOST_TEST(none.endpoint().error().code == "bad_reply");
}

BOOST_AUTO_TEST_CASE(sdp_reply_refusals) {
    const json::Json base = sdp_reply().to_json();
    const std::string bad = "bad_reply";
    refused(SdpReply::parse(parsed("\"x\"")), bad, "must be an object, not string");
    for (const char* key :
         {"sdp", "member", "address", "to", "as", "created", "unchanged", "ports"})
        refused(SdpReply::parse(with(base, key, "")), bad,
                "\"" + std::string(key) + "\" is missing");
    refused(SdpReply::parse(with(base, "sdp", "1")), bad, "\"sdp\" must be a string");
    refused(SdpReply::parse(with(base, "sdp", "\"" + std::string(65537, 'v') + "\"")), bad,
            "\"sdp\" must be at most 65536 bytes");
    refused(SdpReply::parse(with(base, "member", R"("")")), bad, "\"member\" must not be empty");
    refused(SdpReply::parse(with(base, "address", R"("relay.example.com")")), bad,
            "\"address\" must be an IP address");
    refused(SdpReply::parse(with(base, "to", R"("bob")")), bad,
            "\"to\" must be caller or callee, not 'bob'");
    refused(SdpReply::parse(with(base, "as", R"("auto")")), bad,
            "\"as\" must be offer or answer, not 'auto'");
    refused(SdpReply::parse(with(base, "created", "1")), bad, "\"created\" must be true or false");
    refused(SdpReply::parse(with(base, "unchanged", "null")), bad,
            "\"unchanged\" must be true or false");
    refused(SdpReply::parse(with(base, "ports", "{}")), bad, "\"ports\" must be an array");
    std::string many = "[";
    for (int i = 0; i < 17; ++i)
        many += std::string(i ? "," : "") + R"({"index":0,"rtp":1,"rtcp":2})";
    refused(SdpReply::parse(with(base, "ports", many + "]")), bad,
            "\"ports\" must have at most 16 streams");
    refused(SdpReply::parse(with(base, "ports", "[7]")), bad, "\"ports[0]\" must be an object");
    refused(SdpReply::parse(with(base, "ports", R"([{"index":0,"rtp":65536,"rtcp":0}])")), bad,
            "\"ports[0].rtp\" must be an integer from 0 to 65535");
    refused(SdpReply::parse(with(base, "ports", R"([{"index":0,"rtp":4000,"rtcp":-1}])")), bad,
            "\"ports[0].rtcp\" must be an integer from 0 to 65535");
    refused(SdpReply::parse(with(base, "ports", R"([{"index":16,"rtp":4000,"rtcp":4001}])")), bad,
            "\"ports[0].index\" must be an integer from 0 to 15");
    refused(SdpReply::parse(with(base, "ports", R"([{"index":0,"rtp":"4000","rtcp":4001}])")), bad,
            "\"ports[0].rtp\" must be an integer");
    refused(SdpReply::parse(with(base, "ports", R"([{"rtp":4000,"rtcp":4001}])")), bad,
            "\"ports[0].index\" is missing");
}

BOOST_AUTO_TEST_CASE(delete_round_trip_and_refusals) {
    DeleteRequest d{"c1", false};
    BOOST_TEST(d.to_json().dump() == R"({"call_id":"c1"})");
    d.if_unanswered = true;
    BOOST_TEST(d.to_json().dump() == R"({"call_id":"c1","if_unanswered":true})");
    auto back = DeleteRequest::parse(d.to_json());
    BOOST_REQUIRE(back.ok());
    BOOST_TEST(back->call_id == "c1");
    BOOST_TEST(back->if_unanswered);
    BOOST_TEST(!DeleteRequest::parse(parsed(R"({"call_id":"c1"})"))->if_unanswered);
    refused(DeleteRequest::parse(parsed("{}")), "bad_request", "\"call_id\" is missing");
    refused(DeleteRequest::parse(parsed(R"({"call_id":1})")), "bad_request",
            "\"call_id\" must be a string");
    refused(DeleteRequest::parse(parsed(R"({"call_id":"c1","if_unanswered":"yes"})")),
            "bad_request", "\"if_unanswered\" must be true or false");
    refused(DeleteRequest::parse(parsed("null")), "bad_request", "must be an object");

    DeleteReply r{"c1", true};
    BOOST_TEST(r.to_json().dump() == R"({"call_id":"c1","deleted":true})");
    auto rb = DeleteReply::parse(r.to_json());
    BOOST_REQUIRE(rb.ok());
    BOOST_TEST(rb->deleted);
    refused(DeleteReply::parse(parsed(R"({"call_id":"c1"})")), "bad_reply",
            "\"deleted\" is missing");
    refused(DeleteReply::parse(parsed(R"({"call_id":"c1","deleted":0})")), "bad_reply",
            "\"deleted\" must be true or false");
    refused(DeleteReply::parse(parsed(R"({"deleted":true})")), "bad_reply",
            "\"call_id\" is missing");
}

BOOST_AUTO_TEST_CASE(query_round_trip) {
    QueryRequest q{"c1"};
    BOOST_TEST(q.to_json().dump() == R"({"call_id":"c1"})");
    BOOST_TEST(QueryRequest::parse(q.to_json())->call_id == "c1");
    refused(QueryRequest::parse(parsed("{}")), "bad_request", "\"call_id\" is missing");
    refused(QueryRequest::parse(parsed(R"({"call_id":[]})")), "bad_request",
            "\"call_id\" must be a string");

    const json::Json j = query_reply().to_json();
    const json::Json caller = j["streams"].at(0)["caller"];
    BOOST_TEST(caller["learned"].as_string().value() == "192.0.2.1:4000");
    BOOST_TEST(json_is_null(caller["learned_rtcp"].get()));
    BOOST_TEST(caller["dropped"]["stranger"].as_integer().value() == 3);
    BOOST_TEST(caller["dropped"]["not_rtp"].as_integer().value() == 1);
    BOOST_TEST(caller["dropped"]["no_peer"].as_integer().value() == 0);
    BOOST_TEST(!caller["dropped"]["none"]);
    auto back = QueryReply::parse(j);
    BOOST_REQUIRE(back.ok());
    BOOST_TEST(back->to_json().dump() == j.dump());
}

BOOST_AUTO_TEST_CASE(query_reply_refusals) {
    const json::Json base = query_reply().to_json();
    const std::string bad = "bad_reply";
    for (const char* key : {"call_id", "member", "caller_tag", "callee_tag", "answered", "age_ms",
                            "signal_age_ms", "streams"})
        refused(QueryReply::parse(with(base, key, "")), bad,
                "\"" + std::string(key) + "\" is missing");
    refused(QueryReply::parse(with(base, "age_ms", "-1")), bad,
            "\"age_ms\" must be an integer from 0");
    refused(QueryReply::parse(with(base, "answered", "\"true\"")), bad,
            "\"answered\" must be true or false");
    refused(QueryReply::parse(with(base, "caller_tag", "\"" + std::string(257, 't') + "\"")), bad,
            "\"caller_tag\" must be at most 256 bytes");
    refused(QueryReply::parse(with(base, "streams", "{}")), bad, "\"streams\" must be an array");

    // One field of the first stream, or of its caller side, changed.
    auto stream = [&](const char* key, const std::string& value) {
        json::Json s = with(base["streams"].at(0), key, value);
        return QueryReply::parse(with(base, "streams", "[" + s.dump() + "]"));
    };
    auto caller = [&](const char* key, const std::string& value) {
        json::Json c = with(base["streams"].at(0)["caller"], key, value);
        return stream("caller", c.dump());
    };
    refused(stream("index", "99"), bad, "\"streams[0].index\" must be an integer from 0 to 15");
    refused(stream("media", "\"\""), bad, "\"streams[0].media\" must not be empty");
    refused(stream("callee", ""), bad, "\"streams[0].callee\" is missing");
    refused(stream("caller", "[]"), bad, "\"streams[0].caller\" must be an object, not array");
    for (const char* key :
         {"local_port", "rtcp_port", "rtcp_mux", "advertised", "strict", "packets", "bytes",
          "rtcp_packets", "send_failed", "dropped", "last_packet_age_ms", "expected", "learned",
          "learned_rtcp", "sends_to"})
        refused(caller(key, ""), bad, "\"streams[0].caller." + std::string(key) + "\"");
    refused(caller("local_port", "70000"), bad,
            "\"streams[0].caller.local_port\" must be an integer from 0 to 65535");
    refused(caller("learned", "\"192.0.2.1\""), bad,
            "\"streams[0].caller.learned\" must be an IP address and port, not '192.0.2.1'");
    refused(caller("advertised", "null"), bad, "\"streams[0].caller.advertised\"");
    refused(caller("packets", "1.5"), bad, "\"streams[0].caller.packets\" must be an integer");
    refused(caller("last_packet_age_ms", "-3"), bad,
            "\"streams[0].caller.last_packet_age_ms\" must be an integer");
    refused(caller("dropped", R"({"stranger":1})"), bad,
            "\"streams[0].caller.dropped.no_peer\" is missing");
    refused(caller("dropped", "7"), bad, "\"streams[0].caller.dropped\" must be an object");
    // Null where the protocol allows it.
    BOOST_TEST(caller("last_packet_age_ms", "null").ok());
    BOOST_TEST(caller("expected", "null").ok());
}

BOOST_AUTO_TEST_CASE(query_reply_heard_needs_an_answered_call_and_a_learned_party) {
    BOOST_TEST(query_reply().heard());
    QueryReply callee_only = query_reply("");
    BOOST_TEST(!callee_only.heard());
    callee_only.streams[0].callee.learned = "192.0.2.2:5000";
    BOOST_TEST(callee_only.heard());
    // A second stream with a learned party counts.
    QueryReply two = query_reply("");
    two.streams.push_back(StreamReply{1, "video", side("192.0.2.1:5002"), side("")});
    BOOST_TEST(two.heard());
    // Ringing with early media: not answered yet.
    QueryReply ringing = query_reply();
    ringing.answered = false;
    BOOST_TEST(!ringing.heard());
    QueryReply none = query_reply();
    none.streams.clear();
    BOOST_TEST(!none.heard());
}

BOOST_AUTO_TEST_CASE(list_round_trip_and_refusals) {
    ListReply l;
    l.member = "f3";
    l.count = 2;
    l.sessions = {{"c1", 1, true, 4000, 100, 20}, {"c2", 2, false, 10, 0, std::nullopt}};
    const json::Json j = l.to_json();
    BOOST_TEST(json_is_null(j["sessions"].at(1)["last_packet_age_ms"].get()));
    auto back = ListReply::parse(j);
    BOOST_REQUIRE(back.ok());
    BOOST_TEST(back->to_json().dump() == j.dump());
    BOOST_TEST((back->sessions[1].last_packet_age_ms == std::nullopt));
    BOOST_TEST(back->sessions[0].to_json().dump() == j["sessions"].at(0).dump());

    const std::string bad = "bad_reply";
    for (const char* key : {"member", "count", "sessions"})
        refused(ListReply::parse(with(j, key, "")), bad, "\"" + std::string(key) + "\" is missing");
    refused(ListReply::parse(with(j, "count", "-1")), bad, "\"count\" must be an integer");
    refused(ListReply::parse(with(j, "sessions", "{}")), bad, "\"sessions\" must be an array");
    auto session = [&](const char* key, const std::string& value) {
        json::Json s = with(j["sessions"].at(0), key, value);
        return ListReply::parse(with(j, "sessions", "[" + s.dump() + "]"));
    };
    for (const char* key :
         {"call_id", "streams", "answered", "age_ms", "packets", "last_packet_age_ms"})
        refused(session(key, ""), bad, "\"sessions[0]." + std::string(key) + "\" is missing");
    refused(session("streams", "17"), bad,
            "\"sessions[0].streams\" must be an integer from 0 to 16");
    refused(session("call_id", "\"" + std::string(257, 'c') + "\""), bad,
            "\"sessions[0].call_id\" must be at most 256 bytes");
    refused(session("answered", "1"), bad, "\"sessions[0].answered\" must be true or false");
    refused(ListReply::parse(with(j, "sessions", "[1]")), bad, "\"sessions[0]\" must be an object");
}

BOOST_AUTO_TEST_CASE(relay_stats_round_trip_and_refusals) {
    RelayStats idle{"f1", "20000-20099", false, std::nullopt};
    BOOST_TEST(idle.to_json().dump() ==
               R"({"member":"f1","media_ports":"20000-20099","draining":false})");
    auto back_idle = RelayStats::parse(idle.to_json());
    BOOST_REQUIRE(back_idle.ok());
    BOOST_TEST(!back_idle->running.has_value());

    RelayStats s = idle;
    RelayStats::Running run;
    run.advertised_ip = "203.0.113.7";
    run.bind = "0.0.0.0";
    run.timeout_s = 60;
    run.max_sessions_per_source = 40;
    run.media_allow = {"192.0.2.0/24", "2001:db8::/32"};
    run.sessions = 2;
    run.ports.capacity = 100;
    run.ports.in_use = 8;
    run.dropped[static_cast<size_t>(Drop::too_small)] = 5;
    run.failed = {{"bad_sdp", 1}, {"source_sessions_exhausted", 3}};
    run.source_refused = 3;
    run.fd_limit = 1024;
    s.running = run;
    const json::Json j = s.to_json();
    BOOST_TEST(j["failed"]["source_sessions_exhausted"].as_integer().value() == 3);
    BOOST_TEST(j["ports"]["in_use"].as_integer().value() == 8);
    BOOST_TEST(j["dropped"]["too_small"].as_integer().value() == 5);
    BOOST_TEST(j["fd_limit"].as_integer().value() == 1024);
    auto back = RelayStats::parse(j);
    BOOST_REQUIRE(back.ok());
    BOOST_TEST(back->to_json().dump() == j.dump());
    s.running->fd_limit.reset();
    BOOST_TEST(!s.to_json()["fd_limit"]);
    BOOST_TEST(RelayStats::parse(s.to_json()).ok());

    // The kernel fast path's block: absent from an older relay, else read
    // back as written.
    BOOST_TEST(!s.to_json()["fast_path"]);
    RelayStats::Running::FastPath fp;
    fp.mode = "required";
    fp.path = "kernel";
    fp.interfaces = {{"eth0", "native"}, {"veth1", "generic"}};
    fp.entries = 4;
    fp.kernel_entries = 4;
    fp.packets = 1000;
    fp.bytes = 172000;
    fp.no_route = 2;
    s.running->fast_path = fp;
    const json::Json jf = s.to_json();
    BOOST_TEST(jf["fast_path"]["interfaces"].at(1)["xdp"].as_string().value() == "generic");
    auto back_fast = RelayStats::parse(jf);
    BOOST_REQUIRE(back_fast.ok());
    BOOST_TEST(back_fast->to_json().dump() == jf.dump());
    json::Json broken = s.to_json();
    broken["fast_path"].set("entries", -1);
    BOOST_TEST(!RelayStats::parse(broken).ok());
    json::Json no_path = s.to_json();
    no_path["fast_path"].set("path", json::Json::array());
    BOOST_TEST(!RelayStats::parse(no_path).ok());

    const std::string bad = "bad_reply";
    for (const char* key : {"member", "media_ports", "draining"})
        refused(RelayStats::parse(with(idle.to_json(), key, "")), bad,
                "\"" + std::string(key) + "\" is missing");
    for (const char* key : {"bind", "strict", "timeout_s", "sessions", "ports", "dropped", "failed",
                            "media_allow", "bind_retries"})
        refused(RelayStats::parse(with(j, key, "")), bad, "\"" + std::string(key) + "\"");
    refused(RelayStats::parse(with(j, "advertised_ip", R"("relay")")), bad,
            "\"advertised_ip\" must be an IP address");
    refused(RelayStats::parse(with(j, "bind", R"("*")")), bad, "\"bind\" must be an IP address");
    refused(RelayStats::parse(with(j, "sessions", "-2")), bad, "\"sessions\" must be an integer");
    refused(RelayStats::parse(with(j, "media_allow", R"(["192.0.2.0/33"])")), bad,
            "\"media_allow[0]\" must be a CIDR prefix");
    refused(RelayStats::parse(with(j, "ports", R"({"capacity":1})")), bad,
            "\"ports.in_use\" is missing");
    refused(RelayStats::parse(with(j, "failed", R"({"bad_sdp":"1"})")), bad,
            "\"failed.bad_sdp\" must be an integer");
    refused(RelayStats::parse(with(j, "failed", R"({"":1})")), bad, "names a code of 0 bytes");
    refused(RelayStats::parse(with(j, "fd_limit", "null")), bad, "\"fd_limit\" must be an integer");
    refused(RelayStats::parse(with(j, "dropped", R"({"stranger":1})")), bad,
            "\"dropped.no_peer\" is missing");
}

BOOST_AUTO_TEST_CASE(names_of_ops_and_parties) {
    BOOST_TEST(op_name(SdpOp::offer) == "offer");
    BOOST_TEST(op_name(SdpOp::answer) == "answer");
    BOOST_TEST(op_name(SdpOp::sdp) == "sdp");
    BOOST_TEST(party_name(Party::caller) == "caller");
    BOOST_TEST(party_name(Party::callee) == "callee");
}

BOOST_AUTO_TEST_SUITE_END()
