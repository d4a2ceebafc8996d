#include "sip/media_probe.hpp"

#include "base/hash.hpp"
#include "base/sockaddr.hpp"
#include "base/strings.hpp"
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

Status media_test_allowed(std::string_view sdp, const SockAddr& source,
                          const std::vector<Cidr>& allowed) {
    const SockAddr from = source.unmapped();
    bool listed = allowed.empty();
    for (const auto& p : allowed)
        listed = listed || p.contains(from);
    if (!listed)
        return make_error("probe_source_not_allowed",
                          from.host() + " is not in the cluster's lbcheck_sources");
    size_t connections = 0;
    while (!sdp.empty()) {
        auto eol = sdp.find('\n');
        std::string_view line = sdp.substr(0, eol);
        sdp = eol == std::string_view::npos ? std::string_view() : sdp.substr(eol + 1);
        if (!line.empty() && line.back() == '\r')
            line.remove_suffix(1);
        if (line.substr(0, 2) != "c=")
            continue;
        ++connections;
        // c=IN IP4 ADDR (no TTL or count: not multicast).
        std::string_view rest = line.substr(2);
        std::string_view host;
        if (rest.substr(0, 7) == "IN IP4 " || rest.substr(0, 7) == "IN IP6 ")
            host = trim(rest.substr(7));
        auto addr = SockAddr::parse_host(host);
        if (!addr || !addr->unmapped().same_host(from))
            return make_error("probe_sdp_address", "the probe's SDP names '" +
                                                       std::string(line.substr(0, 80)) +
                                                       "', not its own source " + from.host());
    }
    if (connections == 0)
        return make_error("probe_sdp_address", "the probe's SDP has no connection (c=) line");
    return {};
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
