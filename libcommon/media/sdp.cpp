#include "media/sdp.hpp"

#include "base/strings.hpp"
#include "media/offer_errors.hpp"
#include "sip/osip.hpp"

#include <osipparser2/osip_port.h>
#include <osipparser2/sdp_message.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstdint>
#include <memory>

namespace rtfarm::media {

namespace {

constexpr const char* BAD_REWRITE = "bad_rewrite";
// How much of an offending line an error message quotes.
constexpr size_t QUOTE_CHARS = 80;

Error bad(std::string message) {
    return offer_error(OfferError::bad_sdp, std::move(message));
}

std::string quote(std::string_view line) {
    if (line.size() > QUOTE_CHARS)
        return "'" + std::string(line.substr(0, QUOTE_CHARS)) + "...'";
    return "'" + std::string(line) + "'";
}

std::string str(const char* s) {
    return s ? std::string(s) : std::string();
}

// A view of an osip-owned string, valid as long as the tree.
std::string_view view(const char* s) {
    return s ? std::string_view(s) : std::string_view();
}

// Whitespace-separated fields of an SDP value (RFC 4566 uses single spaces;
// tabs and runs are tolerated).
std::vector<std::string_view> fields(std::string_view s) {
    std::vector<std::string_view> out;
    size_t i = 0;
    while (i < s.size()) {
        while (i < s.size() && (s[i] == ' ' || s[i] == '\t'))
            ++i;
        size_t start = i;
        while (i < s.size() && s[i] != ' ' && s[i] != '\t')
            ++i;
        if (i > start)
            out.push_back(s.substr(start, i - start));
    }
    return out;
}

std::optional<uint16_t> parse_port(std::string_view s) {
    std::optional<uint64_t> v = parse_u64(s);
    if (!v || *v > 65535)
        return std::nullopt;
    return static_cast<uint16_t>(*v);
}

bool is_multicast(const SockAddr& a) {
    if (a.is_v4()) {
        uint32_t ip = ntohl(reinterpret_cast<const sockaddr_in*>(a.sa())->sin_addr.s_addr);
        return (ip >> 28) == 0xe;
    }
    return a.is_v6() &&
           IN6_IS_ADDR_MULTICAST(&reinterpret_cast<const sockaddr_in6*>(a.sa())->sin6_addr);
}

// "IN IP4 192.0.2.1" (split already): an IP literal of the named type, never
// a name or a multicast group. `where` starts the message ("m= line 2 (video)
// c=").
Result<SockAddr> parse_address(std::string_view nettype, std::string_view addrtype,
                               std::string_view addr, const std::string& where) {
    if (nettype != "IN")
        return bad(where + ": network type " + quote(nettype) + " is not IN");
    bool v6 = addrtype == "IP6";
    if (!v6 && addrtype != "IP4")
        return bad(where + ": address type " + quote(addrtype) + " is not IP4 or IP6");
    if (addr.find('/') != std::string_view::npos)
        return bad(where + ": " + quote(addr) +
                   " is a multicast group (TTL or count), not supported");
    auto a = SockAddr::parse_host(addr);
    if (!a || addr.find('[') != std::string_view::npos)
        return bad(where + ": " + quote(addr) + " is not an " + (v6 ? "IPv6" : "IPv4") +
                   " address (names are not resolved)");
    if (a->is_v6() != v6)
        return bad(where + ": " + quote(addr) + " is not an " + (v6 ? "IPv6" : "IPv4") +
                   " address, as " + std::string(addrtype) + " says");
    if (is_multicast(*a))
        return bad(where + ": " + quote(addr) + " is a multicast group, not supported");
    return *a;
}

// Session-level type letters in RFC 4566 order, and which may repeat; then
// the media-level ones. t= and r= alternate.
constexpr std::string_view SESSION_ORDER = "vosiuepcbtrzka";
constexpr std::string_view SESSION_REPEAT = "epbtra";
constexpr std::string_view MEDIA_ORDER = "micbka";
constexpr std::string_view MEDIA_REPEAT = "cba";

// A line scan before libosip2, which refuses without saying why: line shape,
// order and the fields of c= and m=. Addresses and port values are checked
// on libosip2's tree (describe()).
Status scan_lines(std::string_view body) {
    if (body.empty())
        return bad("the body is empty");
    if (body.size() > MAX_SDP_BYTES)
        return bad("the body has " + std::to_string(body.size()) + " bytes, more than " +
                   std::to_string(MAX_SDP_BYTES));
    if (body.find('\0') != std::string_view::npos)
        return bad("the body contains a NUL byte");

    size_t lineno = 0;
    size_t media = 0;
    bool seen_o = false;
    bool seen_t = false;
    char last = 0; // the type of the previous line in this section
    size_t pos = 0;
    while (pos < body.size()) {
        size_t nl = body.find('\n', pos);
        std::string_view line = body.substr(pos, nl == std::string_view::npos ? nl : nl - pos);
        pos = nl == std::string_view::npos ? body.size() : nl + 1;
        if (!line.empty() && line.back() == '\r')
            line.remove_suffix(1);
        ++lineno;
        std::string at = "line " + std::to_string(lineno);
        // libosip2 ends a line at a lone CR too: the lines it would see are
        // not the ones checked here, and its output may not parse again.
        if (line.find('\r') != std::string_view::npos)
            return bad(at + " has a CR that does not end it (RFC 4566: no CR or LF inside a "
                            "line)");

        if (lineno == 1 && line != "v=0")
            return bad(at + " is " + quote(line) + ", not v=0: not an SDP body");
        if (line.size() < 2 || line[1] != '=' || line[0] < 'a' || line[0] > 'z')
            return bad(at + " (" + quote(line) + ") is not TYPE=VALUE");
        char type = line[0];
        std::string_view value = line.substr(2);
        if (value.empty())
            return bad(at + ": " + std::string(1, type) + "= has no value");

        std::string_view order = media ? MEDIA_ORDER : SESSION_ORDER;
        std::string_view repeat = media ? MEDIA_REPEAT : SESSION_REPEAT;
        if (type == 'm') {
            if (!seen_o || !seen_t)
                return bad(at + ": m= line, but the session part has no " +
                           std::string(seen_o ? "t=" : "o=") + " line");
            if (++media > MAX_SDP_MEDIA)
                return bad(at + ": more than " + std::to_string(MAX_SDP_MEDIA) + " m= lines");
            std::vector<std::string_view> f = fields(value);
            if (f.size() < 3)
                return bad(at + " (" + quote(line) + "): m= needs media, port and protocol");
            std::string_view port = f[1].substr(0, f[1].find('/'));
            std::string_view count =
                f[1].find('/') == std::string_view::npos ? "1" : f[1].substr(f[1].find('/') + 1);
            std::optional<uint64_t> n = parse_u64(count);
            if (!parse_port(port) || !n || *n == 0 || *n > 65535)
                return bad(at + " (" + quote(line) + "): port " + quote(f[1]) +
                           " is not PORT or PORT/COUNT with PORT 0-65535");
            last = 'm';
            continue;
        }
        size_t rank = order.find(type);
        if (rank == std::string_view::npos)
            return bad(at + ": " + std::string(1, type) + "= is not a " +
                       (media ? "media" : "session") + "-level line (RFC 4566 says to refuse " +
                       "a description with a type it does not know)");
        size_t last_rank = last ? order.find(last) : 0;
        bool alternate = !media && ((type == 't' && last == 'r') || (type == 'r' && last == 't'));
        if (last && !alternate &&
            (rank < last_rank ||
             (rank == last_rank && repeat.find(type) == std::string_view::npos)))
            return bad(at + ": " + std::string(1, type) + "= after " + std::string(1, last) +
                       "= is out of RFC 4566 order (" +
                       (media ? "m i c b k a" : "v o s i u e p c b t r z k a") + ")");
        if (type == 'r' && last != 't' && last != 'r')
            return bad(at + ": r= without a t= before it");
        if (type == 'o')
            seen_o = true;
        if (type == 't')
            seen_t = true;
        if (type == 'c') {
            std::vector<std::string_view> f = fields(value);
            if (f.size() != 3)
                return bad(at + " (" + quote(line) + "): c= needs network type, address type and " +
                           "address");
            std::string where = at + " c=";
            if (f[0] != "IN")
                return bad(where + ": network type " + quote(f[0]) + " is not IN");
            if (f[1] != "IP4" && f[1] != "IP6")
                return bad(where + ": address type " + quote(f[1]) + " is not IP4 or IP6");
        }
        last = type;
    }
    if (!media)
        return bad(seen_t ? "no m= line: nothing to relay" : "no t= and no m= line");
    return {};
}

struct SdpFree {
    void operator()(sdp_message_t* s) const noexcept { sdp_message_free(s); }
};
using SdpPtr = std::unique_ptr<sdp_message_t, SdpFree>;

Result<SdpPtr> parse_tree(std::string_view body) {
    // Empty lines at the end (some senders count one more CRLF in
    // Content-Length) and a missing last line end are forgiven; libosip2
    // wants exactly one line end after the last line.
    while (!body.empty() && (body.back() == '\n' || body.back() == '\r'))
        body.remove_suffix(1);
    if (Status s = scan_lines(body); !s)
        return s.error();
    sip::osip_init_once();
    std::string text(body);
    text += "\r\n";
    sdp_message_t* raw = nullptr;
    if (sdp_message_init(&raw) != 0)
        return make_error("osip", "cannot allocate an SDP message");
    SdpPtr sdp(raw);
    if (sdp_message_parse(sdp.get(), text.c_str()) != 0)
        return bad("libosip2 refuses the body");
    return sdp;
}

template <typename T> T* list_at(const osip_list_t* l, int pos) {
    return static_cast<T*>(osip_list_get(l, pos));
}

std::optional<Direction> direction_of(std::string_view field) {
    if (field == "sendrecv")
        return Direction::sendrecv;
    if (field == "sendonly")
        return Direction::sendonly;
    if (field == "recvonly")
        return Direction::recvonly;
    if (field == "inactive")
        return Direction::inactive;
    return std::nullopt;
}

bool is_ice(std::string_view field) {
    return field == "candidate" || field == "remote-candidates" || field == "end-of-candidates" ||
           starts_with_icase(field, "ice-");
}

// The first direction attribute of a list, if any.
std::optional<Direction> list_direction(const osip_list_t* attrs) {
    for (int i = 0; i < osip_list_size(attrs); ++i) {
        auto* a = list_at<sdp_attribute_t>(attrs, i);
        if (auto d = direction_of(trim(view(a->a_att_field))))
            return d;
    }
    return std::nullopt;
}

Result<SockAddr> connection_address(const sdp_connection_t* c, const std::string& where) {
    if (c->c_addr_multicast_ttl || c->c_addr_multicast_int)
        return bad(where + ": a multicast group (TTL or count) is not supported");
    return parse_address(str(c->c_nettype), str(c->c_addrtype), str(c->c_addr), where);
}

struct RtcpAttr {
    uint16_t port = 0;
    std::optional<SockAddr> address;
};

// a=rtcp:PORT [IN IP4 ADDR] (RFC 3605).
Result<RtcpAttr> parse_rtcp(std::string_view value, const std::string& where) {
    std::vector<std::string_view> f = fields(value);
    std::optional<uint16_t> port = f.empty() ? std::nullopt : parse_port(f[0]);
    if (!port || *port == 0 || (f.size() != 1 && f.size() != 4))
        return bad(where + ": a=rtcp:" + std::string(value) +
                   " is not PORT or PORT IN IP4|IP6 ADDRESS with PORT 1-65535");
    RtcpAttr out{*port, std::nullopt};
    if (f.size() == 4) {
        auto a = parse_address(f[1], f[2], f[3], where + " a=rtcp");
        if (!a)
            return a.error();
        out.address = *a;
    }
    return out;
}

std::string media_where(size_t i, const char* media) {
    return "m= line " + std::to_string(i + 1) + " (" + str(media) + ")";
}

// `digits` (a decimal number of any length) plus `n`, in decimal.
std::string add_decimal(std::string_view digits, uint64_t n) {
    std::string out(digits);
    for (size_t i = out.size(); i-- > 0 && n > 0;) {
        uint64_t d = static_cast<uint64_t>(out[i] - '0') + n % 10;
        n /= 10;
        if (d >= 10) {
            d -= 10;
            ++n; // the carry joins what is left of n at the next digit
        }
        out[i] = static_cast<char>('0' + d);
    }
    if (n > 0)
        out.insert(0, std::to_string(n));
    return out;
}

Result<SdpDesc> describe(sdp_message_t* sdp) {
    SdpDesc d;
    d.origin_version = str(sdp->o_sess_version);
    // RFC 4566 5.2: digits, of any length. A later offer raises it
    // (rewrite_sdp's version_offset), which only a number allows.
    if (d.origin_version.empty() ||
        d.origin_version.find_first_not_of("0123456789") != std::string::npos)
        return bad("o= session version " + quote(d.origin_version) + " is not a number");
    if (sdp->c_connection) {
        auto a = connection_address(sdp->c_connection, "session c=");
        if (!a)
            return a.error();
        d.connection = *a;
    }
    Direction session_dir = list_direction(&sdp->a_attributes).value_or(Direction::sendrecv);

    int n = osip_list_size(&sdp->m_medias);
    if (n <= 0)
        return bad("no m= line: nothing to relay");
    for (int i = 0; i < n; ++i) {
        auto* m = list_at<sdp_media_t>(&sdp->m_medias, i);
        MediaDesc md;
        md.media = str(m->m_media);
        md.proto = str(m->m_proto);
        std::string where = media_where(static_cast<size_t>(i), m->m_media);
        std::optional<uint16_t> port = parse_port(str(m->m_port));
        if (!port)
            return bad(where + ": port " + quote(str(m->m_port)) + " is not a number 0-65535");
        md.port = *port;
        if (m->m_number_of_port) {
            std::optional<uint64_t> count = parse_u64(str(m->m_number_of_port));
            if (!count || *count == 0 || *count > 65535)
                return bad(where + ": port count " + quote(str(m->m_number_of_port)) +
                           " is not a number 1-65535");
            md.port_count = static_cast<unsigned>(*count);
        }
        for (int k = 0; k < osip_list_size(&m->m_payloads); ++k)
            md.formats.push_back(str(list_at<char>(&m->m_payloads, k)));

        int conns = osip_list_size(&m->c_connections);
        if (conns > 1)
            return bad(where + ": " + std::to_string(conns) +
                       " c= lines (multicast layers) are not supported");
        if (conns == 1) {
            auto a =
                connection_address(list_at<sdp_connection_t>(&m->c_connections, 0), where + " c=");
            if (!a)
                return a.error();
            md.connection = *a;
        }

        std::optional<Direction> dir;
        RtcpAttr rtcp;
        bool have_rtcp = false;
        for (int k = 0; k < osip_list_size(&m->a_attributes); ++k) {
            auto* a = list_at<sdp_attribute_t>(&m->a_attributes, k);
            std::string_view field = trim(view(a->a_att_field));
            if (!dir)
                dir = direction_of(field);
            if (field == "rtcp-mux")
                md.rtcp_mux = true;
            if (is_ice(field))
                md.ice = true;
            if (field == "rtcp" && !have_rtcp) {
                auto r = parse_rtcp(str(a->a_att_value), where);
                if (!r)
                    return r.error();
                rtcp = *r;
                have_rtcp = true;
            }
        }
        md.direction = dir.value_or(session_dir);
        if (have_rtcp) {
            md.rtcp_port = rtcp.port;
            md.rtcp_address = rtcp.address;
        }

        if (!md.disabled()) {
            if (md.port_count > 1)
                return bad(where + ": " + std::to_string(md.port_count) +
                           " ports (layered encoding) on an active stream are not supported");
            std::optional<SockAddr> addr = md.connection ? md.connection : d.connection;
            if (!addr)
                return bad(where + " is active (port " + std::to_string(md.port) +
                           ") but has no c= line and the session has none");
            md.rtp_peer = *addr;
            md.rtp_peer.set_port(md.port);
            if (have_rtcp) {
                md.rtcp_peer = rtcp.address ? *rtcp.address : *addr;
                md.rtcp_peer.set_port(rtcp.port);
            } else if (md.port < 65535) {
                md.rtcp_peer = *addr;
                md.rtcp_peer.set_port(static_cast<uint16_t>(md.port + 1));
            } else if (md.rtcp_mux) {
                md.rtcp_peer = md.rtp_peer;
            } else {
                return bad(where + ": RTP port 65535 leaves no port for RTCP and there is no " +
                           "a=rtcp or a=rtcp-mux");
            }
        }
        d.media.push_back(std::move(md));
    }
    return d;
}

// Replaces an osip-owned string.
void set_text(char*& field, const std::string& text) {
    osip_free(field);
    field = osip_strdup(text.c_str());
}

void remove_attribute(osip_list_t* attrs, int pos) {
    auto* a = list_at<sdp_attribute_t>(attrs, pos);
    osip_list_remove(attrs, pos);
    sdp_attribute_free(a);
}

// Removes the ICE attributes of a list.
void drop_ice(osip_list_t* attrs) {
    for (int k = 0; k < osip_list_size(attrs);) {
        if (is_ice(trim(view(list_at<sdp_attribute_t>(attrs, k)->a_att_field))))
            remove_attribute(attrs, k);
        else
            ++k;
    }
}

// The relay's side of the rewrite: an address in SDP's words.
struct RelayAddress {
    std::string addrtype; // "IP4" / "IP6"
    std::string addr;     // the advertised address
    std::string any;      // "0.0.0.0" / "::"

    // The address that replaces `old`: the unspecified one stays unspecified.
    const std::string& for_old(const SockAddr& old) const { return old.is_any() ? any : addr; }
};

void rewrite_connection(sdp_connection_t* c, const SockAddr& old, const RelayAddress& r) {
    set_text(c->c_addrtype, r.addrtype);
    set_text(c->c_addr, r.for_old(old));
}

void add_attribute(sdp_message_t* sdp, int pos_media, const char* field,
                   const std::optional<std::string>& value) {
    sdp_message_a_attribute_add(sdp, pos_media, osip_strdup(field),
                                value ? osip_strdup(value->c_str()) : nullptr);
}

// a=rtcp, a=rtcp-mux(-only) and ICE of one active m= section.
void rewrite_media_attributes(sdp_message_t* sdp, int i, const MediaDesc& md, StreamPorts ports,
                              const RelayAddress& r) {
    auto* m = list_at<sdp_media_t>(&sdp->m_medias, i);
    osip_list_t* attrs = &m->a_attributes;
    bool have_mux = false;
    bool wrote_rtcp = false;
    for (int k = 0; k < osip_list_size(attrs);) {
        auto* a = list_at<sdp_attribute_t>(attrs, k);
        std::string_view field = trim(view(a->a_att_field));
        bool drop = is_ice(field);
        if (field == "rtcp") {
            if (ports.mux() || wrote_rtcp) {
                drop = true;
            } else {
                std::string value = std::to_string(ports.rtcp);
                if (md.rtcp_address)
                    value += " IN " + r.addrtype + " " + r.for_old(*md.rtcp_address);
                set_text(a->a_att_value, value);
                wrote_rtcp = true;
            }
        } else if (field == "rtcp-mux" || field == "rtcp-mux-only") {
            drop = !ports.mux();
            have_mux = have_mux || field == "rtcp-mux";
        }
        if (drop)
            remove_attribute(attrs, k);
        else
            ++k;
    }
    if (ports.mux() && !have_mux)
        add_attribute(sdp, i, "rtcp-mux", std::nullopt);
    if (!ports.mux() && !wrote_rtcp && ports.rtcp != ports.rtp + 1)
        add_attribute(sdp, i, "rtcp", std::to_string(ports.rtcp));
}

Status check_plan(const SdpDesc& d, const SdpRewrite& plan) {
    auto wrong = [](std::string msg) {
        return make_error(BAD_REWRITE, std::move(msg));
    };
    if (!plan.address.valid())
        return wrong("no relay address to advertise");
    if (plan.streams.size() != d.media.size())
        return wrong("the body has " + std::to_string(d.media.size()) + " m= lines, the plan " +
                     std::to_string(plan.streams.size()));
    for (size_t i = 0; i < d.media.size(); ++i) {
        const MediaDesc& md = d.media[i];
        StreamPorts p = plan.streams[i];
        std::string where = media_where(i, md.media.c_str());
        if (md.disabled() && (p.rtp || p.rtcp))
            return wrong(where + " is disabled (port 0) but was given ports");
        if (!md.disabled() && !p.rtp)
            return wrong(where + " is active but was given no port");
        if (!md.disabled() && !p.mux() && p.rtcp == p.rtp)
            return wrong(where + ": RTCP port " + std::to_string(p.rtcp) + " is the RTP port");
    }
    return {};
}

} // namespace

const char* direction_name(Direction d) {
    switch (d) {
    case Direction::sendrecv:
        return "sendrecv";
    case Direction::sendonly:
        return "sendonly";
    case Direction::recvonly:
        return "recvonly";
    case Direction::inactive:
        return "inactive";
    }
    return "?";
}

bool MediaDesc::over_udp() const {
    return starts_with_icase(proto, "RTP/") || starts_with_icase(proto, "UDP/") ||
           equals_icase(proto, "udptl") || equals_icase(proto, "udp");
}

size_t SdpDesc::active() const {
    size_t n = 0;
    for (const MediaDesc& m : media)
        n += m.disabled() ? 0 : 1;
    return n;
}

Result<SdpDesc> parse_sdp(std::string_view body) {
    auto sdp = parse_tree(body);
    if (!sdp)
        return sdp.error();
    return describe(sdp->get());
}

Result<std::string> rewrite_sdp(std::string_view body, const SdpRewrite& plan) {
    auto tree = parse_tree(body);
    if (!tree)
        return tree.error();
    sdp_message_t* sdp = tree->get();
    auto desc = describe(sdp);
    if (!desc)
        return desc.error();
    if (Status s = check_plan(*desc, plan); !s)
        return s.error();

    RelayAddress r;
    r.addrtype = plan.address.is_v6() ? "IP6" : "IP4";
    r.addr = plan.address.host();
    r.any = plan.address.is_v6() ? "::" : "0.0.0.0";

    if (plan.version_offset)
        set_text(sdp->o_sess_version, add_decimal(desc->origin_version, plan.version_offset));
    if (sdp->c_connection)
        rewrite_connection(sdp->c_connection, *desc->connection, r);
    drop_ice(&sdp->a_attributes);

    for (size_t i = 0; i < desc->media.size(); ++i) {
        const MediaDesc& md = desc->media[i];
        auto* m = list_at<sdp_media_t>(&sdp->m_medias, static_cast<int>(i));
        if (md.connection)
            rewrite_connection(list_at<sdp_connection_t>(&m->c_connections, 0), *md.connection, r);
        if (md.disabled()) {
            drop_ice(&m->a_attributes);
            continue;
        }
        set_text(m->m_port, std::to_string(plan.streams[i].rtp));
        rewrite_media_attributes(sdp, static_cast<int>(i), md, plan.streams[i], r);
    }

    char* out = nullptr;
    if (sdp_message_to_str(sdp, &out) != 0 || !out)
        return make_error("osip", "libosip2 cannot serialise the rewritten SDP");
    std::string text(out);
    osip_free(out);
    return text;
}

} // namespace rtfarm::media
