// libFuzzer target for the media control messages
// (media/control_messages.hpp). The first byte picks the message (for an
// SdpRequest the op too), the rest is a JSON text. What parse() takes must
// come back the same through to_json() and parse() again; what it refuses
// is refused with bad_request (a request) or bad_reply (an answer) and a
// message. Seeds: each message's to_json(), written by the target itself
// (fuzz_util.hpp).
#include "fuzz_util.hpp"

#include "media/control_messages.hpp"
#include "media/offer_errors.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

using namespace rtfarm;
using namespace rtfarm::media;
using rtfarm::fuzz::check;

namespace {

template <typename Message, typename... Op>
void round_trip(const json::Json& j, const char* code, Op... op) {
    auto m = Message::parse(j, op...);
    if (!m.ok()) {
        check(m.error().code == code && !m.error().message.empty());
        return;
    }
    const json::Json once = m->to_json();
    auto again = Message::parse(once, op...);
    check(again.ok());
    check(again->to_json().dump() == once.dump());
}

void exercise(uint8_t which, const json::Json& j) {
    const char* bad_request = "bad_request";
    const char* bad_reply = "bad_reply";
    switch (which % 10) {
    case 0:
        round_trip<SdpRequest>(j, bad_request, SdpOp::offer);
        break;
    case 1:
        round_trip<SdpRequest>(j, bad_request, SdpOp::answer);
        break;
    case 2:
        round_trip<SdpRequest>(j, bad_request, SdpOp::sdp);
        break;
    case 3: {
        round_trip<SdpReply>(j, bad_reply);
        auto r = SdpReply::parse(j);
        if (r.ok()) {
            auto e = r->endpoint();
            check(e.ok() || e.error().code == bad_reply);
        }
        break;
    }
    case 4:
        round_trip<DeleteRequest>(j, bad_request);
        break;
    case 5:
        round_trip<DeleteReply>(j, bad_reply);
        break;
    case 6:
        round_trip<QueryRequest>(j, bad_request);
        break;
    case 7: {
        round_trip<QueryReply>(j, bad_reply);
        auto q = QueryReply::parse(j);
        if (q.ok() && q->heard())
            check(q->answered && !q->streams.empty());
        break;
    }
    case 8:
        round_trip<ListReply>(j, bad_reply);
        break;
    default:
        round_trip<RelayStats>(j, bad_reply);
        break;
    }
}

SideReply side(const std::string& learned) {
    SideReply s;
    s.local_port = 20000;
    s.rtcp_port = 20001;
    s.advertised = "203.0.113.7:20000";
    s.expected = "192.0.2.1:4000";
    s.learned = learned;
    s.sends_to = "[2001:db8::2]:5000";
    s.packets = 10;
    s.bytes = 1720;
    s.dropped[static_cast<size_t>(Drop::stranger)] = 3;
    s.last_packet_age_ms = 20;
    return s;
}

std::vector<std::string> seeds() {
    SdpRequest offer;
    offer.call_id = "c1";
    offer.from_tag = "A";
    offer.sdp = "v=0\r\nc=IN IP4 192.0.2.1\r\nm=audio 4000 RTP/AVP 0\r\n";
    offer.source = "198.51.100.10";
    SdpRequest sdp = offer;
    sdp.to_tag = "B";
    sdp.as = sip::SdpRole::automatic;
    sdp.answered = true;
    SdpReply reply;
    reply.sdp = offer.sdp;
    reply.member = "f2";
    reply.address = "2001:db8::1";
    reply.ports = {{0, 20000, 20001}, {1, 0, 0}};
    QueryReply query;
    query.call_id = "c1";
    query.member = "f1";
    query.caller_tag = "A";
    query.answered = true;
    query.streams = {{0, "audio", side("192.0.2.1:4000"), side("")}};
    ListReply list;
    list.member = "f3";
    list.count = 1;
    list.sessions = {{"c1", 1, true, 4000, 100, std::nullopt}};
    RelayStats stats{"f1", "20000-20099", false, RelayStats::Running{}};
    stats.running->advertised_ip = "203.0.113.7";
    stats.running->bind = "::";
    stats.running->media_allow = {"192.0.2.0/24"};
    stats.running->failed = {{"bad_sdp", 2}};
    return {
        std::string(1, '\11') + stats.to_json().dump(),
        std::string(1, '\0') + offer.to_json().dump(),
        std::string(1, '\1') + sdp.to_json().dump(),
        std::string(1, '\2') + sdp.to_json().dump(),
        std::string(1, '\3') + reply.to_json().dump(),
        std::string(1, '\4') + DeleteRequest{"c1", true}.to_json().dump(),
        std::string(1, '\5') + DeleteReply{"c1", true}.to_json().dump(),
        std::string(1, '\6') + QueryRequest{"c1"}.to_json().dump(),
        std::string(1, '\7') + query.to_json().dump(),
        std::string(1, '\10') + list.to_json().dump(),
        std::string(1, '\2') + R"({"call_id":"c","from_tag":"a","sdp":"","as":"x"})",
    };
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    fuzz::write_seeds_and_exit(seeds());
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    fuzz::Cursor in{std::string_view(reinterpret_cast<const char*>(data), size)};
    const uint8_t which = in.byte();
    auto j = json::parse(in.rest(), "fuzz");
    if (!j.ok())
        return 0;
    exercise(which, *j);
    // The relay's error codes by name, from the same bytes.
    if (auto code = j->as_string()) {
        auto e = offer_error_named(*code);
        check(!e || to_string(*e) == *code);
        auto r = media_refusal(*code);
        check(!r || (e && (r->code == 488 || r->code == 503)));
    }
    return 0;
}
