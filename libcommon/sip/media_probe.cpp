#include "sip/media_probe.hpp"

#include "base/strings.hpp"
#include "net/address.hpp"
#include "sip/farm_tags.hpp"
#include "sip/proxy.hpp"

#include <cstdio>

namespace rtfarm::sip {

MediaProbe media_probe_kind(std::string_view bytes, const Message& msg) {
    std::string_view v = header_value(bytes, msg, "X-Farm-Media");
    if (v == "test")
        return MediaProbe::test;
    if (v == "end")
        return MediaProbe::end;
    return MediaProbe::none;
}

std::string_view media_test_sdp(std::string_view bytes, const Message& msg) {
    if (!msg.body.present() || msg.body.len == 0 || !msg.content_type.present())
        return {};
    std::string_view type = msg.content_type.in(bytes);
    type = trim(type.substr(0, type.find(';')));
    return equals_icase(type, "application/sdp") ? msg.body.in(bytes) : std::string_view();
}

std::string members_header(const FarmView& view) {
    std::string list;
    for (const auto& m : view.members)
        if (m.farm_member && m.alive && !m.draining)
            list += (list.empty() ? "" : ",") + m.id;
    return list.empty() ? std::string() : "X-Farm-Members: " + list;
}

std::string media_test_to_tag(std::string_view call_id) {
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx",
                  static_cast<unsigned long long>(stable_hash(call_id, 0x6c62636b)));
    return std::string("lbm") + hex;
}

Result<std::string> relay_endpoint(const json::Json& reply) {
    auto address = reply["address"].as_string();
    auto port = reply["ports"].at(0)["rtp"].as_integer();
    if (!address || !port || *port <= 0 || *port > 65535)
        return make_error("bad_reply", "rtprelayd's reply has no address and RTP port");
    auto a = net::SockAddr::parse_host(*address, static_cast<uint16_t>(*port));
    if (!a)
        return make_error("bad_reply", "rtprelayd's reply names the address '" + *address +
                                           "', not an IP address");
    return a->str();
}

std::vector<std::string> media_test_headers(const MediaTestAnswer& a) {
    std::vector<std::string> h = {
        "X-Farm-Media-Member: " + a.member,
        "X-Farm-Media-Caller: " + a.caller,
        "X-Farm-Media-Callee: " + a.callee,
    };
    if (!a.range.empty())
        h.push_back("X-Farm-Media-Range: " + a.range);
    return h;
}

std::string media_error_header(const Error& e) {
    std::string line = "X-Farm-Media-Error: " + e.code + " " + e.message;
    // One header line: no CR, LF or other control bytes from an error text.
    for (char& c : line)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
            c = ' ';
    constexpr size_t MAX = 200;
    if (line.size() > MAX)
        line.resize(MAX);
    return line;
}

} // namespace rtfarm::sip
