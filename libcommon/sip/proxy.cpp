#include "sip/proxy.hpp"

#include "base/assert.hpp"
#include "base/strings.hpp"
#include "sip/edit.hpp"
#include "sip/farm_tags.hpp"

#include <algorithm>

namespace rtfarm::sip {
namespace {

constexpr int DEFAULT_MAX_FORWARDS = 70;
constexpr uint16_t SIP_PORT = 5060;
constexpr uint16_t SIPS_PORT = 5061;

// An edit the EditList refused (it overlaps one listed before, or names a
// part of the message that is absent): the message must not go out without
// it, half edited. `what` names the edit.
Error edit_clash(std::string_view what, const Error& e) {
    return make_error("edit_clash", std::string(what) + ": " + e.message);
}

std::string strip_brackets(std::string_view host) {
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
    return std::string(host);
}

// An IP-literal host and port as an address; nullopt for names (no DNS here).
std::optional<SockAddr> literal(std::string_view host, uint16_t port,
                                uint16_t default_port = SIP_PORT) {
    auto a = SockAddr::parse_host(strip_brackets(host), port ? port : default_port);
    if (!a)
        return std::nullopt;
    return a.value();
}

// Our Via; `conn` names the client connection the request came over (to
// the processor) and `transport` is the one the request leaves by; `rport`
// asks for the answer at the source (RFC 3581).
std::string via_line(const SockAddr& sent_by, std::string_view branch,
                     const ConnRef* conn = nullptr, std::string_view transport = "UDP",
                     bool rport = false) {
    std::string v = "Via: SIP/2.0/";
    v += transport;
    v += ' ';
    v += sent_by.str();
    v += ";branch=";
    v += branch;
    if (rport)
        v += ";rport";
    if (conn) {
        v += ';';
        v += FARM_CONN_VIA_PARAM;
        v += '=';
        v += conn_token(*conn);
    }
    v += "\r\n";
    return v;
}

// received / rport for the top Via of a request that came from `source`
// (RFC 3261 §18.2.1, RFC 3581 §4).
Status stamp_via(std::string_view buf, const Via& via, const SockAddr& source, EditList& edits) {
    bool rport = via.rport.present();
    bool differs = strip_brackets(via.host.in(buf)) != source.host();
    // rport's value first: when ";rport" ends the Via both edits share an
    // offset, and same-offset inserts keep their order.
    if (rport && via.rport.len == 0)
        if (auto st = edits.insert(via.rport.end(), "=" + std::to_string(source.port())); !st)
            return edit_clash("the rport value of the top Via", st.error());
    if ((differs || rport) && !via.received.present())
        if (auto st = edits.insert(via.value.end(), ";received=" + source.host()); !st)
            return edit_clash("received on the top Via", st.error());
    return {};
}

bool creates_dialog(const Message& msg) {
    if (msg.to_tag.present())
        return false;
    return msg.method_id == Method::invite || msg.method_id == Method::subscribe ||
           msg.method_id == Method::refer;
}

// Max-Forwards: decremented, or added (RFC 3261 §16.6 step 3). Error
// "max_forwards" at 0.
Status max_forwards(const Message& msg, EditList& edits, uint32_t insert_at) {
    if (msg.max_forwards == 0)
        return make_error(proxy_error::MAX_FORWARDS, "Max-Forwards is 0");
    Status st = msg.max_forwards < 0
                    ? edits.insert(insert_at,
                                   "Max-Forwards: " + std::to_string(DEFAULT_MAX_FORWARDS) + "\r\n")
                    : edits.replace(msg.max_forwards_value, std::to_string(msg.max_forwards - 1));
    if (!st)
        return edit_clash("Max-Forwards", st.error());
    return {};
}

// Where our own new header lines go: before the top Via (and before the
// first Record-Route when that comes earlier, so ours is the top one).
uint32_t header_insert_point(const Message& msg) {
    uint32_t at = msg.via[0].line.off;
    if (msg.record_route.line.present() && msg.record_route.line.off < at)
        at = msg.record_route.line.off;
    return at;
}

bool route_is_ours(std::string_view buf, const Message& msg, std::string_view self) {
    if (!msg.route.value.present())
        return false;
    auto member = uri_farm_member(msg.route.value.in(buf));
    return member && *member == self;
}

// The top Route is a farm URI (our public host, an `fm` member) that
// names a client connection.
bool route_names_our_connection(std::string_view buf, const Message& msg, const ProxyContext& ctx) {
    if (!msg.route.value.present() || !msg.route.parts.sip)
        return false;
    std::string_view value = msg.route.value.in(buf);
    return uri_farm_member(value) && uri_conn(value) &&
           strip_brackets(msg.route.parts.host.in(buf)) == strip_brackets(ctx.rr_host);
}

std::string branch_for(std::string_view buf, const Message& msg, std::string_view member) {
    uint64_t h = transaction_hash(msg.via[0].branch.in(buf), msg.call_id.in(buf),
                                  msg.from_tag.in(buf), msg.cseq, msg.request_uri.in(buf));
    return farm_branch(member, h);
}

// Our branch on a request the processor sent (its Via on top): marked, and
// keyed so that only the farm makes one (processor_branch_hash()).
std::string processor_branch_for(std::string_view buf, const Message& msg,
                                 const ProxyContext& ctx) {
    uint64_t h = processor_branch_hash(ctx.branch_key, msg.via[0].branch.in(buf),
                                       msg.call_id.in(buf), msg.from_tag.in(buf), msg.cseq);
    return farm_branch(ctx.via_member, h, true);
}

} // namespace

namespace {

// Calls fn(name, value, whole_line) for every header line (folds joined).
template <typename Fn> void each_header(std::string_view buf, const Message& msg, Fn fn) {
    size_t pos = msg.start_line.end();
    size_t end = msg.headers_end;
    while (pos < end) {
        size_t line_end = buf.find("\r\n", pos);
        if (line_end == std::string_view::npos || line_end > end)
            line_end = end;
        // Folded continuation lines belong to this header.
        while (line_end + 2 < end && (buf[line_end + 2] == ' ' || buf[line_end + 2] == '\t')) {
            size_t next = buf.find("\r\n", line_end + 2);
            line_end = next == std::string_view::npos || next > end ? end : next;
        }
        std::string_view line = buf.substr(pos, line_end - pos);
        auto colon = line.find(':');
        if (colon != std::string_view::npos)
            fn(trim(line.substr(0, colon)), trim(line.substr(colon + 1)), line);
        pos = line_end + 2;
    }
}

// Calls fn(value) for every value of the header lines `id` in order (values
// split at commas outside <> and quotes, trimmed) until fn returns false.
template <typename Fn>
void each_value(std::string_view buf, const Message& msg, HeaderId id, Fn fn) {
    bool more = true;
    each_header(buf, msg, [&](std::string_view name, std::string_view value, std::string_view) {
        if (!more || header_id(name) != id)
            return;
        size_t start = 0;
        bool quoted = false;
        int angle = 0;
        for (size_t i = 0; i <= value.size() && more; ++i) {
            char c = i < value.size() ? value[i] : ',';
            if (c == '"')
                quoted = !quoted;
            else if (!quoted && c == '<')
                ++angle;
            else if (!quoted && c == '>')
                --angle;
            else if ((!quoted && angle == 0 && c == ',') || i == value.size()) {
                more = fn(trim(value.substr(start, i - start)));
                start = i + 1;
            }
        }
    });
}

// The URI of a name-addr or addr-spec value, parsed; nullopt when it is not one.
std::optional<Uri> value_uri(std::string_view buf, std::string_view value) {
    std::string_view uri = value;
    if (auto lt = value.find('<'); lt != std::string_view::npos) {
        auto gt = value.find('>', lt);
        if (gt == std::string_view::npos)
            return std::nullopt;
        uri = value.substr(lt + 1, gt - lt - 1);
    }
    auto off = static_cast<uint32_t>(uri.data() - buf.data());
    auto parsed = parse_uri(buf, Span(off, static_cast<uint32_t>(uri.size())));
    if (!parsed || !parsed->sip)
        return std::nullopt;
    return parsed;
}

} // namespace

namespace {

// RFC 3261 §16.4: a request whose Request-URI is our own Record-Route value
// came from a strict router. Its real target is the last Route value: put it
// in the Request-URI and remove it from the Route set.
Status undo_strict_routing(std::string_view buf, const Message& msg, std::string_view member,
                           EditList& edits) {
    auto ours = uri_farm_member(msg.request_uri.in(buf));
    if (!ours || *ours != member || !msg.route.value.present())
        return {};
    std::string_view last_line;
    each_header(buf, msg, [&](std::string_view name, std::string_view, std::string_view line) {
        if (header_id(name) == HeaderId::route)
            last_line = line;
    });
    if (last_line.empty())
        return {};
    // The last value of that line: after the last comma outside <> and quotes.
    size_t colon = last_line.find(':');
    size_t start = colon + 1, cut = std::string_view::npos;
    bool quoted = false;
    int angle = 0;
    for (size_t i = start; i < last_line.size(); ++i) {
        char c = last_line[i];
        if (c == '"')
            quoted = !quoted;
        else if (!quoted && c == '<')
            ++angle;
        else if (!quoted && c == '>')
            --angle;
        else if (!quoted && angle == 0 && c == ',')
            cut = i;
    }
    std::string_view value =
        trim(last_line.substr(cut == std::string_view::npos ? start : cut + 1));
    std::string_view uri = value;
    if (auto lt = value.find('<'); lt != std::string_view::npos) {
        auto gt = value.find('>', lt);
        uri = value.substr(lt + 1,
                           gt == std::string_view::npos ? std::string_view::npos : gt - lt - 1);
    }
    auto off = [&](std::string_view part) {
        return static_cast<uint32_t>(part.data() - buf.data());
    };
    if (auto st = edits.replace(msg.request_uri, uri); !st)
        return edit_clash("the Request-URI from the last Route", st.error());
    // The whole line with its CRLF, or the value with the comma before it.
    uint32_t from = off(last_line);
    uint32_t len = static_cast<uint32_t>(last_line.size() + 2);
    if (cut != std::string_view::npos) {
        from += static_cast<uint32_t>(cut);
        len = off(value) + static_cast<uint32_t>(value.size()) - from;
    }
    if (auto st = edits.erase(Span(from, len)); !st)
        return edit_clash("removing the last Route", st.error());
    return {};
}

} // namespace

namespace {

// Each Record-Route value that is a farm URI of ours ("<sip:HOST...;fm=M...>"
// at our public host): fn(span of the value, member, connection named).
template <typename Fn>
void each_farm_rr(std::string_view buf, const Message& msg, const ProxyContext& ctx, Fn fn) {
    auto off = [&](std::string_view part) {
        return static_cast<uint32_t>(part.data() - buf.data());
    };
    each_value(buf, msg, HeaderId::record_route, [&](std::string_view value) {
        if (value.size() < 3 || value.front() != '<' || value.back() != '>')
            return true;
        auto member = uri_farm_member(value);
        if (!member)
            return true;
        auto uri = parse_uri(buf, Span(off(value) + 1, static_cast<uint32_t>(value.size() - 2)));
        if (!uri || !uri->sip || strip_brackets(uri->host.in(buf)) != strip_brackets(ctx.rr_host))
            return true;
        fn(Span(off(value), static_cast<uint32_t>(value.size())), *member, uri_conn(value));
        return true;
    });
}

// The port of our Record-Route facing `transport` ("", "tcp", "tls").
uint16_t rr_port_for(const ProxyContext& ctx, std::string_view transport) {
    if (equals_icase(transport, "tcp"))
        return ctx.rr_tcp_port;
    if (equals_icase(transport, "tls"))
        return ctx.rr_tls_port;
    return ctx.rr_port;
}

// Our Record-Route for member `member` says `transport` (none: "") to the
// side the message goes to: in-dialog requests come to the farm the way
// they should (RFC 3261 16.7 step 9 lets a proxy rewrite its Record-Route
// in responses). The processor only ever speaks UDP to us; a client on a
// connection, or a target reached by TCP or TLS, gets that transport.
Status rr_transport(std::string_view buf, const Message& msg, const ProxyContext& ctx,
                    std::string_view member, std::string_view transport, EditList& edits) {
    Status result;
    each_farm_rr(buf, msg, ctx,
                 [&](Span value, std::string_view m, const std::optional<ConnRef>& conn) {
                     if (m != member || !result)
                         return;
                     std::string want = farm_route_uri(ctx.rr_host, rr_port_for(ctx, transport), m,
                                                       conn ? &*conn : nullptr, transport);
                     if (want == value.in(buf))
                         return;
                     if (auto st = edits.replace(value, want); !st)
                         result = edit_clash("our Record-Route's transport", st.error());
                 });
    return result;
}

} // namespace

Result<Outgoing> forward_to_processor(std::string_view buf, const Message& msg,
                                      const SockAddr& source, const SockAddr& processor,
                                      const ProxyContext& ctx, const ConnRef* conn) {
    if (msg.via_count == 0)
        return make_error("no_via", "request without Via");
    EditList edits;
    uint32_t at = header_insert_point(msg);
    if (auto st = max_forwards(msg, edits, at); !st)
        return st.error();
    if (auto st = stamp_via(buf, msg.via[0], source, edits); !st)
        return st.error();
    if (route_is_ours(buf, msg, ctx.self)) {
        if (auto st = edits.erase(msg.route.erase); !st)
            return edit_clash("popping our Route", st.error());
    } else if (auto st = undo_strict_routing(buf, msg, ctx.self, edits); !st) {
        return st.error();
    }
    if (auto st = edits.insert(at, via_line(ctx.outer_sent_by, branch_for(buf, msg, ctx.via_member),
                                            conn, "UDP", true));
        !st)
        return edit_clash("our Via", st.error());
    if (creates_dialog(msg)) {
        std::string rr = farm_route_uri(ctx.rr_host, ctx.rr_port, ctx.via_member, conn);
        if (auto st = edits.insert(at, "Record-Route: " + rr + "\r\n"); !st)
            return edit_clash("our Record-Route", st.error());
    }
    // A registration over a connection: the client is reachable over it
    // only (behind NAT, or not listening), so our Path (RFC 3327) names it,
    // first of the Path values; the registrar routes requests for the
    // client through it, and the farm takes them to the holder. As edge
    // proxies do: RFC 5626 5.1 (the registrar decides whether to use it).
    if (conn && msg.method_id == Method::register_) {
        std::string path = farm_route_uri(ctx.rr_host, ctx.rr_port, ctx.via_member, conn);
        if (auto st = edits.insert(at, "Path: " + path + "\r\n"); !st)
            return edit_clash("our Path", st.error());
    }
    auto bytes = edits.edited(buf.substr(0, msg.end));
    if (!bytes)
        return bytes.error();
    return Outgoing{std::move(*bytes), processor, std::nullopt};
}

bool processor_branch_verified(std::string_view buf, const Message& msg, const FarmBranch& ours,
                               const crypto::SipKey& key, std::span<const crypto::SipKey> earlier) {
    if (msg.is_request() || msg.via_count < 2 || !ours.from_processor)
        return false;
    auto made_with = [&](const crypto::SipKey& k) {
        return ours.hash == processor_branch_hash(k, msg.via[1].branch.in(buf), msg.call_id.in(buf),
                                                  msg.from_tag.in(buf), msg.cseq);
    };
    return made_with(key) || std::any_of(earlier.begin(), earlier.end(), made_with);
}

bool processor_branch_verified(std::string_view buf, const Message& msg, const crypto::SipKey& key,
                               std::span<const crypto::SipKey> earlier) {
    if (msg.via_count == 0)
        return false;
    auto ours = parse_farm_branch(msg.via[0].branch.in(buf));
    return ours && processor_branch_verified(buf, msg, *ours, key, earlier);
}

Result<Outgoing> forward_response(std::string_view buf, const Message& msg,
                                  const ProxyContext* ctx) {
    if (msg.via_count < 2)
        return make_error("no_next_via", "response with no Via below ours");
    const Via& next = msg.via[1];
    uint16_t port = next.port;
    if (next.rport.present() && next.rport.len > 0) {
        auto p = parse_u64(next.rport.in(buf));
        if (p && *p > 0 && *p <= 65535)
            port = static_cast<uint16_t>(*p);
    }
    std::string_view host = next.received.present() ? next.received.in(buf) : next.host.in(buf);
    auto to = literal(host, port);
    auto conn = via_conn(msg.via[0].value.in(buf));
    auto ours = parse_farm_branch(msg.via[0].branch.in(buf));
    if (ours && ours->from_processor && ctx && ctx->processor && !conn) {
        // Below our Via stands the processor's own, never one of ours: a
        // response that says otherwise was made up to bounce between the
        // farm and the processor.
        if (parse_farm_branch(next.branch.in(buf)))
            return make_error("bad_next_via", "a farm Via below ours of a processor's request");
        if (!processor_branch_verified(buf, msg, *ours, ctx->branch_key, ctx->earlier_branch_keys))
            return make_error("forged_branch",
                              "our processor mark without the MAC of the Via below it");
        to = *ctx->processor;
    }
    if (!to && !conn)
        return make_error("unresolvable_via",
                          "next Via host '" + std::string(host) + "' is not an IP address");
    EditList edits;
    if (auto st = edits.erase(msg.via[0].erase); !st)
        return edit_clash("removing our Via", st.error());
    if (ctx && msg.record_route.line.present()) {
        if (auto member = branch_member(msg.via[0].branch.in(buf)))
            if (auto st = rr_transport(buf, msg, *ctx, *member, conn ? "tcp" : "", edits); !st)
                return st.error();
    }
    auto bytes = edits.edited(buf.substr(0, msg.end));
    if (!bytes)
        return bytes.error();
    return Outgoing{std::move(*bytes), to.value_or(SockAddr{}), conn};
}

namespace {

// The processor relays a request that came to it from us: our Via of the
// way in is its next one, stamped with received/rport (the member's own
// address, as the processor saw it). Those stamps are internal and served
// only the processor's answer: off they come, so that the Via reads as we
// wrote it (the public address, ";rport").
Status unstamp_inner_via(std::string_view buf, const Message& msg, const ProxyContext& ctx,
                         EditList& edits) {
    if (msg.via_count < 2)
        return {};
    const Via& inner = msg.via[1];
    auto ours = parse_farm_branch(inner.branch.in(buf));
    if (!ours || ours->from_processor || ours->member != ctx.via_member)
        return {};
    // The parameter from its ';' through its value, whatever the spacing
    // around '=' (RFC 3261 25.1 allows it).
    auto param = [&](Span value) -> std::optional<Span> {
        size_t semi = buf.rfind(';', value.off);
        if (semi == std::string_view::npos || semi < inner.value.off)
            return std::nullopt;
        return Span(static_cast<uint32_t>(semi), value.end() - static_cast<uint32_t>(semi));
    };
    if (inner.received.present())
        if (auto p = param(inner.received))
            if (auto st = edits.erase(*p); !st)
                return edit_clash("received off our inner Via", st.error());
    if (inner.rport.present() && inner.rport.len > 0)
        if (auto p = param(inner.rport))
            if (auto st = edits.replace(*p, ";rport"); !st)
                return edit_clash("the rport value off our inner Via", st.error());
    return {};
}

// The request already has Record-Route value `rr` (ours, as we would add
// it now), and only values at the farm's public host stand before it.
bool has_our_record_route(std::string_view buf, const Message& msg, const ProxyContext& ctx,
                          std::string_view rr) {
    if (!msg.record_route.line.present())
        return false;
    bool found = false;
    each_value(buf, msg, HeaderId::record_route, [&](std::string_view value) {
        if (value == rr) {
            found = true;
            return false;
        }
        auto uri = value_uri(buf, value);
        return uri && equals_icase(strip_brackets(uri->host.in(buf)), strip_brackets(ctx.rr_host));
    });
    return found;
}

// A processor's request, our own Routes popped (forward_from_processor),
// to its target: by the client connection `conn` when the route set named
// one, else as the target's URI says.
Result<Outgoing> from_processor(std::string_view buf, const Message& msg, const ProxyContext& ctx,
                                const std::optional<ConnRef>& conn) {
    std::string_view target_host;
    std::string_view target_uri;
    uint16_t target_port = 0;
    if (msg.route.uri.present()) {
        if (!msg.route.parts.sip)
            return make_error("bad_target", "top Route is not a sip: URI");
        target_host = msg.route.parts.host.in(buf);
        target_port = msg.route.parts.port;
        target_uri = msg.route.uri.in(buf);
    } else {
        if (!msg.ruri.sip)
            return make_error("bad_target", "Request-URI is not a sip: URI");
        target_host = msg.ruri.host.in(buf);
        target_port = msg.ruri.port;
        target_uri = msg.request_uri.in(buf);
    }
    // A client connection named by our Route wins: the client is reachable
    // over it only. Otherwise the target says how.
    Transport transport = Transport::tcp;
    if (!conn) {
        auto t = target_transport(target_uri);
        if (!t)
            return make_error(proxy_error::UNSUPPORTED_TRANSPORT,
                              "target '" + std::string(target_uri) +
                                  "' asks for a transport the farm does not speak");
        transport = *t;
    }
    auto to = literal(target_host, target_port,
                      !conn && transport == Transport::tls ? SIPS_PORT : SIP_PORT);
    if (!to && !conn)
        return make_error("unresolvable_target",
                          "target host '" + std::string(target_host) + "' is not an IP address");
    EditList edits;
    uint32_t at = header_insert_point(msg);
    if (auto st = max_forwards(msg, edits, at); !st)
        return st.error();
    // Our Via names the transport the request leaves by (RFC 3261 18.1.1;
    // on a client's TLS connection the holder makes it "TLS").
    std::string_view via_transport = transport == Transport::udp   ? "UDP"
                                     : transport == Transport::tls ? "TLS"
                                                                   : "TCP";
    // The same in the parameter's words ("" for UDP), for our listener's port.
    std::string_view param = transport == Transport::udp   ? ""
                             : transport == Transport::tls ? "tls"
                                                           : "tcp";
    // To a target over TCP or TLS, the sent-by port is our listener's for
    // that transport: where the target opens a connection for a response
    // when ours is gone (RFC 3261 18.2.2).
    SockAddr sent_by = ctx.outer_sent_by;
    if (!conn && transport != Transport::udp) {
        uint16_t p = rr_port_for(ctx, param);
        sent_by.set_port(p != 0 ? p : transport == Transport::tls ? SIPS_PORT : SIP_PORT);
    }
    if (auto st = edits.insert(
            at, via_line(sent_by, processor_branch_for(buf, msg, ctx), nullptr, via_transport));
        !st)
        return edit_clash("our Via", st.error());
    if (auto st = unstamp_inner_via(buf, msg, ctx, edits); !st)
        return st.error();
    // Our Record-Route faces the target: its transport, and the client
    // connection when it goes over one (so the processor's later requests
    // in the dialog do too; the response takes the transport off again).
    // Not twice the same: the one of the way in serves when it reads alike.
    if (creates_dialog(msg)) {
        std::string rr = farm_route_uri(ctx.rr_host, rr_port_for(ctx, param), ctx.via_member,
                                        conn ? &*conn : nullptr, param);
        if (!has_our_record_route(buf, msg, ctx, rr))
            if (auto st = edits.insert(at, "Record-Route: " + rr + "\r\n"); !st)
                return edit_clash("our Record-Route", st.error());
    }
    auto bytes = edits.edited(buf.substr(0, msg.end));
    if (!bytes)
        return bytes.error();
    return Outgoing{std::move(*bytes), to.value_or(SockAddr{}), conn,
                    conn ? Transport::udp : transport};
}

} // namespace

std::optional<Transport> target_transport(std::string_view uri) {
    std::string_view bare = trim(uri);
    if (!bare.empty() && bare.front() == '<')
        bare = bare.substr(1);
    bool sips = bare.size() >= 5 && equals_icase(bare.substr(0, 5), "sips:");
    auto param = uri_param(uri, "transport");
    if (!param)
        return sips ? Transport::tls : Transport::udp;
    if (equals_icase(*param, "tls"))
        return Transport::tls;
    if (equals_icase(*param, "tcp"))
        return sips ? Transport::tls : Transport::tcp; // sips: over TCP is TLS (RFC 3261 26.2.2)
    if (equals_icase(*param, "udp") && !sips)
        return Transport::udp;
    return std::nullopt;
}

Result<std::string> for_tls_connection(std::string_view buf, const Message& msg,
                                       const ConnRef& conn, const ProxyContext& ctx) {
    EditList edits;
    // The member that built a request for a client's connection wrote
    // "TCP" in its Via: only the holder knows the connection is TLS (RFC
    // 3261 18.1.1: the Via names the transport the request goes by).
    if (msg.is_request() && msg.via_count > 0 && msg.via[0].transport_id == Transport::tcp &&
        branch_member(msg.via[0].branch.in(buf)))
        if (auto st = edits.replace(msg.via[0].transport, "TLS"); !st)
            return edit_clash("TLS in our Via", st.error());
    Status result;
    each_farm_rr(buf, msg, ctx,
                 [&](Span value, std::string_view m, const std::optional<ConnRef>& named) {
                     if (!named || *named != conn || !result)
                         return;
                     auto t = uri_param(value.in(buf), "transport");
                     if (!t || !equals_icase(*t, "tcp"))
                         return;
                     std::string sips =
                         farm_route_uri(ctx.rr_host, rr_port_for(ctx, "tls"), m, &conn, "tls");
                     if (auto st = edits.replace(value, sips); !st)
                         result = edit_clash("our Record-Route made SIPS", st.error());
                 });
    if (!result)
        return result.error();
    if (edits.empty())
        return std::string(buf);
    return edits.edited(buf.substr(0, msg.end));
}

std::string with_our_via(std::string_view buf, const Message& msg, const ProxyContext& ctx) {
    EditList edits;
    // One insertion into an empty list: nothing for it to clash with.
    Status added = edits.insert(header_insert_point(msg),
                                via_line(ctx.outer_sent_by, processor_branch_for(buf, msg, ctx)));
    RTFARM_ASSERT(added.ok());
    return edits.apply(buf.substr(0, msg.end));
}

SendPath send_path(const Outgoing& out, std::string_view self,
                   const std::optional<SockAddr>& processor) {
    if (out.conn)
        return out.conn->holder == self ? SendPath::connection_here : SendPath::holder;
    if (out.transport != Transport::udp)
        return SendPath::target_connection;
    return processor && out.to == *processor ? SendPath::processor : SendPath::datagram;
}

Result<Outgoing> forward_from_processor(std::string_view buf, const Message& msg,
                                        const ProxyContext& ctx) {
    if (msg.via_count == 0)
        return make_error("no_via", "request without Via");
    // Our own Route on top (the processor uses the farm as its outbound
    // proxy, or follows a route set that starts with us): popped, and the
    // request routed on what is left. Ours is the member we send for: a
    // Relay backend's dialogs carry its id. A Route that names a client
    // connection (a Path of ours, or another member's Record-Route) is the
    // farm's, whichever member it names: the farm is the processor's next
    // hop, and the request goes on over that connection. Each pop makes a
    // new message, read again for the Route it now starts with (the scanner
    // reads the top one only); a message has at most MAX_HEADER_LINES lines.
    std::string popped;
    std::string_view at = buf;
    Message top = msg;
    std::optional<ConnRef> conn;
    while (route_is_ours(at, top, ctx.via_member) || route_names_our_connection(at, top, ctx)) {
        // The connection a route set leads over is the one its first (our) entry names.
        if (!conn)
            conn = uri_conn(top.route.value.in(at));
        EditList pop;
        if (auto st = pop.erase(top.route.erase); !st)
            return edit_clash("popping our Route", st.error());
        auto next = pop.edited(at.substr(0, top.end));
        if (!next)
            return next.error();
        auto again = scan(*next);
        if (!again)
            return make_error("bad_target", "request unreadable after popping our Route: " +
                                                again.error().message);
        popped = std::move(*next);
        at = popped;
        top = *again;
    }
    return from_processor(at, top, ctx, conn);
}

std::string_view farm_route_behind(std::string_view buf, const Message& msg,
                                   std::string_view farm_host) {
    if (!msg.route.value.present() || farm_host.empty())
        return {};
    std::string host = strip_brackets(farm_host);
    std::string_view found;
    unsigned seen = 0;
    each_value(buf, msg, HeaderId::route, [&](std::string_view value) {
        auto uri = value_uri(buf, value);
        if (!uri || !equals_icase(strip_brackets(uri->host.in(buf)), host))
            return false;
        if (uri_farm_member(value)) {
            found = value;
            return false;
        }
        return ++seen < MAX_ROUTES_AHEAD;
    });
    return found;
}

std::string_view header_value(std::string_view buf, const Message& msg, std::string_view name) {
    std::string_view found;
    bool done = false;
    each_header(buf, msg, [&](std::string_view n, std::string_view v, std::string_view) {
        if (!done && equals_icase(n, name)) {
            found = v;
            done = true;
        }
    });
    return found;
}

bool is_probe(std::string_view buf, const Message& msg) {
    return msg.is_request() && msg.method_id == Method::options && msg.ruri.sip &&
           msg.ruri.user.present() && msg.ruri.user.in(buf) == "lbcheck";
}

Outgoing make_reply(std::string_view buf, const Message& msg, const SockAddr& source, int code,
                    std::string_view reason, std::string_view to_tag,
                    const std::vector<std::string>& extra_headers) {
    std::string out = "SIP/2.0 " + std::to_string(code) + " " + std::string(reason) + "\r\n";
    bool top = true;
    each_header(buf, msg, [&](std::string_view name, std::string_view, std::string_view line) {
        HeaderId id = header_id(name);
        if (id == HeaderId::via) {
            if (top) {
                // The top Via value gets received/rport; the rest as written.
                EditList edits;
                // Two insertions into an empty list: nothing for them to clash with.
                Status stamped = stamp_via(buf, msg.via[0], source, edits);
                RTFARM_ASSERT(stamped.ok());
                out +=
                    edits.apply(buf.substr(0, msg.via[0].line.end())).substr(msg.via[0].line.off);
                top = false;
            } else {
                out += line;
                out += "\r\n";
            }
        } else if (id == HeaderId::from || id == HeaderId::call_id || id == HeaderId::cseq) {
            out += line;
            out += "\r\n";
        } else if (id == HeaderId::to) {
            out += line;
            if (!msg.to_tag.present() && !to_tag.empty()) {
                out += ";tag=";
                out += to_tag;
            }
            out += "\r\n";
        }
    });
    for (const auto& h : extra_headers) {
        out += h;
        out += "\r\n";
    }
    out += "Content-Length: 0\r\n\r\n";
    return Outgoing{std::move(out), source, std::nullopt};
}

} // namespace rtfarm::sip
