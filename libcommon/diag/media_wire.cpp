#include "diag/media_wire.hpp"

#include "base/strings.hpp"
#include "sip/proxy.hpp"
#include "sip/scanner.hpp"

namespace rtfarm::diag {

std::string probe_request(const ProbeRequest& p) {
    std::string vip = p.vip.uri_host() + ":" + std::to_string(p.vip.port());
    std::string local = p.local.uri_host() + ":" + std::to_string(p.local.port());
    std::string out = "OPTIONS sip:lbcheck@" + vip + " SIP/2.0\r\n";
    out += "Via: SIP/2.0/UDP " + local + ";branch=z9hG4bK" + p.branch + ";rport\r\n";
    out += "Max-Forwards: 70\r\n";
    out += "From: <sip:lbcheck@" + p.local.uri_host() + ">;tag=" + p.from_tag + "\r\n";
    out += "To: <sip:lbcheck@" + p.vip.uri_host() + ">\r\n";
    out += "Call-ID: " + p.call_id + "\r\n";
    out += "CSeq: " + std::to_string(p.cseq) + " OPTIONS\r\n";
    out += "Contact: <sip:lbcheck@" + local + ">\r\n";
    if (!p.reply_from.empty())
        out += "X-Farm-Reply-From: " + p.reply_from + "\r\n";
    if (!p.media.empty())
        out += "X-Farm-Media: " + p.media + "\r\n";
    if (!p.sdp.empty())
        out += "Content-Type: application/sdp\r\n";
    out += "Content-Length: " + std::to_string(p.sdp.size()) + "\r\n\r\n";
    out += p.sdp;
    return out;
}

std::string test_sdp(const SockAddr& rtp) {
    std::string ip = rtp.is_v6() ? "IP6 " : "IP4 ";
    std::string host = rtp.host();
    return "v=0\r\no=lbcheck 1 1 IN " + ip + host + "\r\ns=lbcheck media\r\nc=IN " + ip + host +
           "\r\nt=0 0\r\nm=audio " + std::to_string(rtp.port()) +
           " RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
}

Result<ProbeAnswer> parse_probe_answer(std::string_view bytes) {
    auto scanned = sip::scan(bytes);
    if (!scanned)
        return scanned.error();
    const sip::Message& m = *scanned;
    if (m.is_request())
        return make_error("not_response", "a request, not a response");
    ProbeAnswer a;
    a.status = m.status;
    a.call_id = std::string(m.call_id.in(bytes));
    auto header = [&](std::string_view name) {
        return std::string(sip::header_value(bytes, m, name));
    };
    a.received_by = header("X-Farm-Received-By");
    a.answered_by = header("X-Farm-Answered-By");
    std::string members = header("X-Farm-Members");
    for (size_t at = 0; at < members.size();) {
        size_t comma = members.find(',', at);
        if (comma == std::string::npos)
            comma = members.size();
        std::string id(trim(std::string_view(members).substr(at, comma - at)));
        if (!id.empty())
            a.members.push_back(std::move(id));
        at = comma + 1;
    }
    a.media_member = header("X-Farm-Media-Member");
    a.media_caller = header("X-Farm-Media-Caller");
    a.media_callee = header("X-Farm-Media-Callee");
    a.media_range = header("X-Farm-Media-Range");
    a.media_error = header("X-Farm-Media-Error");
    a.farm = !a.received_by.empty() || !a.answered_by.empty() || !header("X-Farm-Source").empty() ||
             !header("X-Farm-Digest").empty();
    return a;
}

namespace {

uint8_t pattern(uint32_t ssrc, uint16_t seq, size_t i) {
    return static_cast<uint8_t>((ssrc >> (8 * (i % 4))) + seq * 7u + i * 13u);
}

void put16(std::string& s, size_t at, uint16_t v) {
    s[at] = static_cast<char>(v >> 8);
    s[at + 1] = static_cast<char>(v & 0xff);
}

void put32(std::string& s, size_t at, uint32_t v) {
    put16(s, at, static_cast<uint16_t>(v >> 16));
    put16(s, at + 2, static_cast<uint16_t>(v & 0xffff));
}

uint32_t get32(std::string_view s, size_t at) {
    uint32_t v = 0;
    for (size_t i = 0; i < 4; ++i)
        v = (v << 8) | static_cast<uint8_t>(s[at + i]);
    return v;
}

} // namespace

std::string test_rtp(uint32_t ssrc, uint16_t seq) {
    std::string p(TEST_RTP_SIZE, '\0');
    p[0] = static_cast<char>(0x80); // version 2, no padding, extension or CSRC
    p[1] = 0;                       // no marker, PT 0 (PCMU)
    put16(p, 2, seq);
    put32(p, 4, static_cast<uint32_t>(seq) * TEST_RTP_PAYLOAD);
    put32(p, 8, ssrc);
    for (size_t i = 0; i < TEST_RTP_PAYLOAD; ++i)
        p[12 + i] = static_cast<char>(pattern(ssrc, seq, i));
    return p;
}

std::optional<TestRtp> parse_test_rtp(std::string_view bytes) {
    if (bytes.size() < 12 || (static_cast<uint8_t>(bytes[0]) >> 6) != 2)
        return std::nullopt;
    TestRtp t;
    t.seq = static_cast<uint16_t>((static_cast<uint8_t>(bytes[2]) << 8) |
                                  static_cast<uint8_t>(bytes[3]));
    t.ssrc = get32(bytes, 8);
    t.intact = bytes == test_rtp(t.ssrc, t.seq);
    return t;
}

} // namespace rtfarm::diag
