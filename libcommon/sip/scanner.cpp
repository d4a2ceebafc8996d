#include "sip/scanner.hpp"

#include "base/assert.hpp"
#include "base/strings.hpp"

#include <algorithm>
#include <cstring>
#include <string>

namespace rtfarm::sip {

std::string_view Span::in(std::string_view buf) const {
    if (!found)
        return {};
    RTFARM_ASSERT(static_cast<size_t>(off) + len <= buf.size());
    return buf.substr(off, len);
}

namespace {

using u32 = uint32_t;

constexpr bool is_ws(char c) {
    return c == ' ' || c == '\t';
}
// Whitespace inside a value: SP, HT, and the CRLF of a folded line (bare CR
// and LF never reach the field parsers).
constexpr bool is_lws(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}
constexpr bool is_digit(char c) {
    return c >= '0' && c <= '9';
}
constexpr bool is_alpha(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
constexpr bool is_alnum(char c) {
    return is_alpha(c) || is_digit(c);
}
constexpr bool is_hex(char c) {
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// RFC 3261 token: alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~"
struct TokenTable {
    bool t[256] = {};
    constexpr TokenTable() {
        for (int c = 0; c < 256; ++c)
            t[c] = is_alnum(static_cast<char>(c));
        for (char c : std::string_view("-.!%*_+`'~"))
            t[static_cast<unsigned char>(c)] = true;
    }
};
constexpr TokenTable TOKEN;
constexpr bool is_token(char c) {
    return TOKEN.t[static_cast<unsigned char>(c)];
}
// Host names and IPv4 addresses; '_' is not in RFC 3261 but is seen in the
// wild and cannot confuse a parser.
constexpr bool is_host_char(char c) {
    return is_alnum(c) || c == '-' || c == '.' || c == '_';
}
constexpr bool is_v6_char(char c) {
    return is_hex(c) || c == ':' || c == '.';
}

bool eq_icase(const char* s, u32 b, u32 e, std::string_view lit) {
    return equals_icase(std::string_view(s + b, e - b), lit);
}

u32 skip_lws(const char* s, u32 p, u32 e) {
    while (p < e && is_lws(s[p]))
        ++p;
    return p;
}
u32 token_end(const char* s, u32 p, u32 e) {
    while (p < e && is_token(s[p]))
        ++p;
    return p;
}
// [b, e) without whitespace at either end.
void trim_span(const char* s, u32& b, u32& e) {
    while (b < e && is_lws(s[b]))
        ++b;
    while (e > b && is_lws(s[e - 1]))
        --e;
}

// A quoted string starting at p (s[p] == '"'): the offset after its closing
// quote, or 0 when it is not closed before e.
u32 quoted_end(const char* s, u32 p, u32 e) {
    for (u32 q = p + 1; q < e; ++q) {
        if (s[q] == '\\')
            ++q;
        else if (s[q] == '"')
            return q + 1;
    }
    return 0;
}

// The bytes element_end() stops at.
struct ByteSet {
    bool t[256] = {};
    constexpr explicit ByteSet(std::string_view chars) {
        for (char c : chars)
            t[static_cast<unsigned char>(c)] = true;
    }
};
constexpr ByteSet LIST_SPECIAL("\"<>,");

// The end of the comma-separated element that starts at p: the offset of the
// separating comma, or e. Quoted strings and <...> hide commas.
u32 element_end(const char* s, u32 p, u32 e) {
    bool angle = false;
    while (p < e) {
        while (p < e && !LIST_SPECIAL.t[static_cast<unsigned char>(s[p])])
            ++p;
        if (p >= e)
            break;
        char c = s[p];
        if (c == '"') {
            u32 q = quoted_end(s, p, e);
            if (q == 0)
                return e;
            p = q;
            continue;
        }
        if (c == '<')
            angle = true;
        else if (c == '>')
            angle = false;
        else if (c == ',' && !angle)
            return p;
        ++p;
    }
    return e;
}

// Decimal digits [b, e) (all of them digits, at least one) into v, saturating
// at limit + 1 so that callers can tell "too big". False if not all digits.
bool digits(const char* s, u32 b, u32 e, uint64_t limit, uint64_t& v) {
    if (b == e)
        return false;
    v = 0;
    for (u32 p = b; p < e; ++p) {
        if (!is_digit(s[p]))
            return false;
        if (v <= limit)
            v = v * 10 + static_cast<uint64_t>(s[p] - '0');
    }
    if (v > limit)
        v = limit + 1;
    return true;
}

// A host at p: "[IPv6]" or host-name characters. Its end, or 0 on failure.
u32 host_end(const char* s, u32 p, u32 e) {
    if (p >= e)
        return 0;
    if (s[p] == '[') {
        u32 q = p + 1;
        while (q < e && is_v6_char(s[q]))
            ++q;
        if (q == p + 1 || q >= e || s[q] != ']')
            return 0;
        return q + 1;
    }
    u32 q = p;
    while (q < e && is_host_char(s[q]))
        ++q;
    return q == p ? 0 : q;
}

// A port of 1..5 digits in 1..65535 at p: its end, or 0 on failure.
u32 port_end(const char* s, u32 p, u32 e, uint16_t& port) {
    u32 q = p;
    while (q < e && is_digit(s[q]))
        ++q;
    uint64_t v = 0;
    if (q == p || q - p > 5 || !digits(s, p, q, 65535, v) || v == 0 || v > 65535)
        return 0;
    port = static_cast<uint16_t>(v);
    return q;
}

// Walks ";name[=value]" parameters from p to e, LWS allowed around ';' and
// '=' (RFC 3261 SEMI, EQUAL). Values are a quoted string or a run of bytes
// up to LWS, ';' or ','. Calls f(name_b, name_e, value) for each. Returns a
// reason on malformed input, nullptr when all of [p, e) was parameters.
template <typename F> const char* walk_params(const char* s, u32 p, u32 e, F&& f) {
    for (;;) {
        p = skip_lws(s, p, e);
        if (p >= e)
            return nullptr;
        if (s[p] != ';')
            return "expected ';' before a parameter";
        p = skip_lws(s, p + 1, e);
        u32 nb = p;
        p = token_end(s, p, e);
        if (p == nb)
            return "empty parameter name";
        u32 ne = p;
        p = skip_lws(s, p, e);
        Span value;
        if (p < e && s[p] == '=') {
            p = skip_lws(s, p + 1, e);
            u32 vb = p;
            if (p < e && s[p] == '"') {
                p = quoted_end(s, p, e);
                if (p == 0)
                    return "unterminated quoted parameter value";
            } else {
                while (p < e && !is_lws(s[p]) && s[p] != ';' && s[p] != ',' && s[p] != '"')
                    ++p;
            }
            value = Span(vb, p - vb);
        } else {
            value = Span(ne, 0);
        }
        f(nb, ne, value);
    }
}

// Lookup in a parameter list "a=b;lr;c" (no leading ';') given as text.
std::optional<std::string_view> params_lookup(std::string_view params, std::string_view name) {
    size_t start = 0;
    while (start <= params.size()) {
        size_t semi = params.find(';', start);
        size_t stop = semi == std::string_view::npos ? params.size() : semi;
        std::string_view param = params.substr(start, stop - start);
        size_t eq = param.find('=');
        std::string_view pname = trim(param.substr(0, eq));
        if (equals_icase(pname, name)) {
            if (eq == std::string_view::npos)
                return params.substr(stop, 0);
            return trim(param.substr(eq + 1));
        }
        if (semi == std::string_view::npos)
            break;
        start = semi + 1;
    }
    return std::nullopt;
}

struct AddrParts {
    u32 uri_b = 0, uri_e = 0; // the URI
    u32 params_b = 0;         // where header parameters start (may be the end)
};

// A name-addr or addr-spec value [b, e), already trimmed. With <...> the URI
// is inside the brackets and parameters follow '>'; an addr-spec runs to the
// first ';' (the rest are header parameters, RFC 3261 §20), or, when
// whole_addr_spec (Route, Record-Route), to the end.
const char* parse_addr(const char* s, u32 b, u32 e, bool whole_addr_spec, AddrParts& out) {
    u32 p = b;
    while (p < e) {
        if (s[p] == '"') {
            p = quoted_end(s, p, e);
            if (p == 0)
                return "unterminated quoted string";
            continue;
        }
        if (s[p] == '<') {
            const void* gt = std::memchr(s + p + 1, '>', e - p - 1);
            if (!gt)
                return "'<' without '>'";
            out.uri_b = p + 1;
            out.uri_e = static_cast<u32>(static_cast<const char*>(gt) - s);
            out.params_b = out.uri_e + 1;
            return nullptr;
        }
        ++p;
    }
    out.uri_b = b;
    if (whole_addr_spec) {
        out.uri_e = e;
    } else {
        const void* semi = std::memchr(s + b, ';', e - b);
        out.uri_e = semi ? static_cast<u32>(static_cast<const char*>(semi) - s) : e;
    }
    out.params_b = out.uri_e;
    return nullptr;
}

Error fail(const char* code, std::string_view what, size_t at) {
    std::string msg(what);
    msg += " (byte ";
    msg += std::to_string(at);
    msg += ")";
    return make_error(code, std::move(msg));
}

Error fail_header(const char* code, std::string_view header, std::string_view what, size_t at) {
    std::string msg(header);
    msg += ": ";
    msg += what;
    return fail(code, msg, at);
}

const char* parse_via_value(const char* s, u32 b, u32 e, Via& v) {
    u32 p = token_end(s, b, e);
    if (!eq_icase(s, b, p, "SIP"))
        return "protocol is not SIP";
    p = skip_lws(s, p, e);
    if (p >= e || s[p] != '/')
        return "expected '/' after SIP";
    u32 vb = skip_lws(s, p + 1, e);
    p = token_end(s, vb, e);
    if (!eq_icase(s, vb, p, "2.0"))
        return "version is not 2.0";
    p = skip_lws(s, p, e);
    if (p >= e || s[p] != '/')
        return "expected '/' before the transport";
    u32 tb = skip_lws(s, p + 1, e);
    p = token_end(s, tb, e);
    if (p == tb)
        return "no transport";
    v.transport = Span(tb, p - tb);
    std::string_view t(s + tb, p - tb);
    v.transport_id = equals_icase(t, "UDP")    ? Transport::udp
                     : equals_icase(t, "TCP")  ? Transport::tcp
                     : equals_icase(t, "TLS")  ? Transport::tls
                     : equals_icase(t, "SCTP") ? Transport::sctp
                     : equals_icase(t, "WS")   ? Transport::ws
                     : equals_icase(t, "WSS")  ? Transport::wss
                                               : Transport::other;
    u32 hb = skip_lws(s, p, e);
    if (hb == p)
        return "no whitespace before sent-by";
    u32 he = host_end(s, hb, e);
    if (he == 0)
        return "bad sent-by host";
    v.host = Span(hb, he - hb);
    p = skip_lws(s, he, e);
    if (p < e && s[p] == ':') {
        p = port_end(s, skip_lws(s, p + 1, e), e, v.port);
        if (p == 0)
            return "bad sent-by port";
    }
    const char* why = walk_params(s, p, e, [&](u32 nb, u32 ne, Span value) {
        Span* slot = nullptr;
        if (eq_icase(s, nb, ne, "branch"))
            slot = &v.branch;
        else if (eq_icase(s, nb, ne, "received"))
            slot = &v.received;
        else if (eq_icase(s, nb, ne, "rport"))
            slot = &v.rport;
        else if (eq_icase(s, nb, ne, "maddr"))
            slot = &v.maddr;
        if (slot && !slot->present())
            *slot = value;
    });
    v.cookie = v.branch.len >= 7 && std::memcmp(s + v.branch.off, "z9hG4bK", 7) == 0;
    return why;
}

// The tag parameter after a From/To URI; a reason on malformed parameters.
const char* find_tag(const char* s, u32 p, u32 e, Span& tag) {
    return walk_params(s, p, e, [&](u32 nb, u32 ne, Span value) {
        if (!tag.present() && eq_icase(s, nb, ne, "tag"))
            tag = value;
    });
}

// Everything the scanner needs to know about one logical header.
struct Line {
    u32 start = 0; // first byte of the name
    u32 name_end = 0;
    u32 value_b = 0; // after the colon
    u32 value_e = 0; // before the final CRLF
    u32 end = 0;     // after the final CRLF
};

class Scanner {
public:
    explicit Scanner(std::string_view dg)
        : m_s(dg.data())
        , m_n(static_cast<u32>(dg.size())) {}

    Result<Message> run();

private:
    // The LF ending the physical line at p, searched no further than the
    // line and header-block limits; sets m_err when there is none.
    bool line_end(u32 p, u32& lf);
    bool start_line(u32 b, u32 e);
    bool header(const Line& h);
    bool via_line(const Line& h);
    bool route_line(const Line& h, RouteRef& r, const char* name);
    bool addr(const Line& h, const char* name, Span& value, Span& tag);
    bool body();
    bool set_error(Error e) {
        m_err = std::move(e);
        return false;
    }

    const char* m_s;
    u32 m_n;
    u32 m_block_limit = 0; // one past the last byte the header block may use
    Message m_msg;
    Error m_err;
};

bool Scanner::line_end(u32 p, u32& lf) {
    u32 limit = p + static_cast<u32>(MAX_LINE);
    if (limit > m_block_limit)
        limit = m_block_limit;
    const void* hit = std::memchr(m_s + p, '\n', limit - p);
    if (!hit) {
        if (limit == p + MAX_LINE && limit <= m_n)
            return set_error(fail(scan_error::TOO_LARGE, "line longer than 8192 bytes", p));
        if (limit < m_n)
            return set_error(
                fail(scan_error::TOO_LARGE, "header block longer than 16384 bytes", limit));
        return set_error(fail(scan_error::TRUNCATED, "datagram ends inside the header block", m_n));
    }
    lf = static_cast<u32>(static_cast<const char*>(hit) - m_s);
    const void* cr = std::memchr(m_s + p, '\r', lf - p);
    if (lf == p || cr != m_s + lf - 1) {
        u32 at = cr ? static_cast<u32>(static_cast<const char*>(cr) - m_s) : lf;
        return set_error(fail(scan_error::BAD_LINE_END, "bare CR or LF in the header block", at));
    }
    return true;
}

bool Scanner::start_line(u32 b, u32 e) {
    const char* s = m_s;
    Message& m = m_msg;
    if (e - b >= 4 && eq_icase(s, b, b + 4, "SIP/")) {
        m.kind = Kind::response;
        const void* sp = std::memchr(s + b, ' ', e - b);
        if (!sp)
            return set_error(fail(scan_error::BAD_START_LINE, "status line without a code", b));
        u32 p = static_cast<u32>(static_cast<const char*>(sp) - s);
        if (!eq_icase(s, b, p, "SIP/2.0"))
            return set_error(fail(scan_error::BAD_VERSION, "SIP version is not 2.0", b));
        u32 cb = p + 1;
        u32 ce = cb;
        while (ce < e && is_digit(s[ce]))
            ++ce;
        if (ce - cb != 3 || (ce < e && s[ce] != ' ') || s[cb] < '1' || s[cb] > '6')
            return set_error(fail(scan_error::BAD_START_LINE,
                                  "status code is not three digits from 100 to 699", cb));
        m.status = (s[cb] - '0') * 100 + (s[cb + 1] - '0') * 10 + (s[cb + 2] - '0');
        if (ce < e)
            m.reason = Span(ce + 1, e - ce - 1);
        return true;
    }
    m.kind = Kind::request;
    u32 me = token_end(s, b, e);
    if (me == b || me >= e || s[me] != ' ')
        return set_error(
            fail(scan_error::BAD_START_LINE, "method is not a token followed by SP", b));
    m.method = Span(b, me - b);
    m.method_id = method_from_token(std::string_view(s + b, me - b));
    u32 ub = me + 1;
    const void* sp = std::memchr(s + ub, ' ', e - ub);
    if (!sp)
        return set_error(fail(scan_error::BAD_START_LINE, "request line without SIP version", ub));
    u32 ue = static_cast<u32>(static_cast<const char*>(sp) - s);
    if (ue == ub)
        return set_error(fail(scan_error::BAD_START_LINE, "two SP after the method", ub));
    u32 vb = ue + 1;
    std::string_view version(s + vb, e - vb);
    if (!equals_icase(version, "SIP/2.0")) {
        bool looks_like_version = starts_with_icase(version, "SIP/") &&
                                  version.find_first_of(" \t") == std::string_view::npos;
        if (looks_like_version)
            return set_error(fail(scan_error::BAD_VERSION, "SIP version is not 2.0", vb));
        return set_error(fail(scan_error::BAD_START_LINE,
                              "request line does not end in SP SIP/2.0 (extra SP?)", vb));
    }
    for (u32 p = ub; p < ue; ++p)
        if (static_cast<unsigned char>(s[p]) <= 0x20 || s[p] == 0x7f)
            return set_error(
                fail(scan_error::BAD_REQUEST_URI, "control byte in the Request-URI", p));
    m.request_uri = Span(ub, ue - ub);
    auto uri = parse_uri(std::string_view(s, m_n), m.request_uri);
    if (!uri)
        return set_error(fail(scan_error::BAD_REQUEST_URI, "malformed Request-URI", ub));
    if (uri->sip && uri->headers.present())
        return set_error(
            fail(scan_error::BAD_REQUEST_URI, "Request-URI with headers ('?')", uri->headers.off));
    m.ruri = *uri;
    return true;
}

bool Scanner::via_line(const Line& h) {
    const char* s = m_s;
    Message& m = m_msg;
    u32 p = h.value_b;
    u32 prev_end = 0;
    bool first = true;
    for (;;) {
        u32 ee = element_end(s, p, h.value_e);
        u32 tb = p, te = ee;
        trim_span(s, tb, te);
        ++m.via_count;
        if (m.via_count <= 2) {
            Via& v = m.via[m.via_count - 1];
            v.value = Span(tb, te - tb);
            v.line = Span(h.start, h.end - h.start);
            v.alone = first && ee == h.value_e;
            if (v.alone)
                v.erase = v.line;
            else if (first)
                v.erase = Span(tb, skip_lws(s, ee + 1, h.value_e) - tb);
            else
                v.erase = Span(prev_end, te - prev_end);
            if (tb == te)
                return set_error(fail_header(scan_error::BAD_VIA, "Via", "empty value", tb));
            if (const char* why = parse_via_value(s, tb, te, v))
                return set_error(fail_header(scan_error::BAD_VIA, "Via", why, tb));
        }
        prev_end = te;
        first = false;
        if (ee >= h.value_e)
            return true;
        p = ee + 1;
    }
}

bool Scanner::route_line(const Line& h, RouteRef& r, const char* name) {
    if (r.line.present())
        return true;
    const char* s = m_s;
    u32 ee = element_end(s, h.value_b, h.value_e);
    u32 tb = h.value_b, te = ee;
    trim_span(s, tb, te);
    r.line = Span(h.start, h.end - h.start);
    r.value = Span(tb, te - tb);
    r.more = ee < h.value_e;
    r.erase = r.more ? Span(tb, skip_lws(s, ee + 1, h.value_e) - tb) : r.line;
    if (tb == te)
        return set_error(fail_header(scan_error::BAD_HEADER, name, "empty value", tb));
    AddrParts a;
    if (const char* why = parse_addr(s, tb, te, true, a))
        return set_error(fail_header(scan_error::BAD_HEADER, name, why, tb));
    r.uri = Span(a.uri_b, a.uri_e - a.uri_b);
    auto uri = parse_uri(std::string_view(s, m_n), r.uri);
    if (!uri)
        return set_error(fail_header(scan_error::BAD_HEADER, name, "malformed URI", a.uri_b));
    r.parts = *uri;
    return true;
}

bool Scanner::addr(const Line& h, const char* name, Span& value, Span& tag) {
    if (value.present())
        return set_error(
            fail_header(scan_error::DUPLICATE_HEADER, name, "appears more than once", h.start));
    u32 tb = h.value_b, te = h.value_e;
    trim_span(m_s, tb, te);
    value = Span(tb, te - tb);
    if (tb == te)
        return set_error(fail_header(scan_error::BAD_HEADER, name, "empty value", tb));
    AddrParts a;
    if (const char* why = parse_addr(m_s, tb, te, false, a))
        return set_error(fail_header(scan_error::BAD_HEADER, name, why, tb));
    if (const char* why = find_tag(m_s, a.params_b, te, tag))
        return set_error(fail_header(scan_error::BAD_HEADER, name, why, a.params_b));
    return true;
}

bool Scanner::header(const Line& h) {
    const char* s = m_s;
    Message& m = m_msg;
    HeaderId id = header_id(std::string_view(s + h.start, h.name_end - h.start));
    auto value = [&] {
        u32 tb = h.value_b, te = h.value_e;
        trim_span(s, tb, te);
        return Span(tb, te - tb);
    };
    auto once = [&](const Span& seen, const char* name) {
        if (!seen.present())
            return true;
        return set_error(
            fail_header(scan_error::DUPLICATE_HEADER, name, "appears more than once", h.start));
    };
    switch (id) {
    case HeaderId::via:
        return via_line(h);
    case HeaderId::route:
        return route_line(h, m.route, "Route");
    case HeaderId::record_route:
        return route_line(h, m.record_route, "Record-Route");
    case HeaderId::call_id: {
        if (!once(m.call_id, "Call-ID"))
            return false;
        Span v = value();
        if (v.len == 0)
            return set_error(fail_header(scan_error::BAD_HEADER, "Call-ID", "empty", v.off));
        for (u32 p = v.off; p < v.end(); ++p)
            if (static_cast<unsigned char>(s[p]) <= 0x20 || s[p] == 0x7f)
                return set_error(fail_header(scan_error::BAD_HEADER, "Call-ID",
                                             "whitespace or control byte", p));
        m.call_id = v;
        return true;
    }
    case HeaderId::cseq: {
        if (!once(m.cseq_method, "CSeq"))
            return false;
        Span v = value();
        u32 p = v.off, e = v.end();
        u32 ne = p;
        while (ne < e && is_digit(s[ne]))
            ++ne;
        uint64_t n = 0;
        if (!digits(s, p, ne, 0x7fffffff, n) || n > 0x7fffffff)
            return set_error(
                fail_header(scan_error::BAD_CSEQ, "CSeq", "number missing or not below 2**31", p));
        u32 mb = skip_lws(s, ne, e);
        u32 me = token_end(s, mb, e);
        if (mb == ne || me == mb || me != e)
            return set_error(
                fail_header(scan_error::BAD_CSEQ, "CSeq", "expected number LWS method", p));
        m.cseq = static_cast<uint32_t>(n);
        m.cseq_method = Span(mb, me - mb);
        return true;
    }
    case HeaderId::max_forwards: {
        if (!once(m.max_forwards_value, "Max-Forwards"))
            return false;
        Span v = value();
        uint64_t n = 0;
        if (!digits(s, v.off, v.end(), 255, n) || n > 255)
            return set_error(fail_header(scan_error::BAD_MAX_FORWARDS, "Max-Forwards",
                                         "not a number from 0 to 255", v.off));
        m.max_forwards = static_cast<int>(n);
        m.max_forwards_value = v;
        return true;
    }
    case HeaderId::content_length: {
        if (!once(m.content_length_value, "Content-Length"))
            return false;
        Span v = value();
        uint64_t n = 0;
        if (!digits(s, v.off, v.end(), 0x7fffffff, n) || n > 0x7fffffff)
            return set_error(fail_header(scan_error::BAD_CONTENT_LENGTH, "Content-Length",
                                         "not a number below 2**31", v.off));
        m.content_length = static_cast<int>(n);
        m.content_length_value = v;
        return true;
    }
    case HeaderId::from:
        return addr(h, "From", m.from, m.from_tag);
    case HeaderId::to:
        return addr(h, "To", m.to, m.to_tag);
    case HeaderId::contact:
        if (!m.contact.present()) {
            u32 tb = h.value_b, te = element_end(s, h.value_b, h.value_e);
            trim_span(s, tb, te);
            m.contact = Span(tb, te - tb);
        }
        return true;
    case HeaderId::content_type:
        if (!m.content_type.present())
            m.content_type = value();
        return true;
    default:
        return true;
    }
}

bool Scanner::body() {
    Message& m = m_msg;
    u32 b = m.headers_end + 2;
    u32 available = m_n - b;
    if (m.content_length < 0) {
        m.body = Span(b, available);
    } else {
        if (static_cast<u32>(m.content_length) > available)
            return set_error(fail(scan_error::TRUNCATED_BODY,
                                  "Content-Length " + std::to_string(m.content_length) +
                                      " but only " + std::to_string(available) + " body bytes",
                                  b));
        m.body = Span(b, static_cast<u32>(m.content_length));
    }
    m.end = m.body.end();
    return true;
}

Result<Message> Scanner::run() {
    const char* s = m_s;
    Message& m = m_msg;
    u32 p = 0;
    while (p < m_n && (s[p] == '\r' || s[p] == '\n'))
        ++p;
    if (p == m_n)
        return fail(scan_error::KEEPALIVE, "datagram holds only CR/LF", 0);
    u32 block_limit = p + static_cast<u32>(MAX_HEADER_BLOCK);
    m_block_limit = block_limit < m_n ? block_limit : m_n;

    u32 lf = 0;
    if (!line_end(p, lf))
        return m_err;
    m.start_line = Span(p, lf + 1 - p);
    if (!start_line(p, lf - 1))
        return m_err;
    p = lf + 1;

    u32 lines = 0;
    for (;;) {
        if (p >= m_block_limit) {
            if (m_block_limit < m_n)
                return fail(scan_error::TOO_LARGE, "header block longer than 16384 bytes", p);
            return fail(scan_error::TRUNCATED, "no empty line ends the header block", p);
        }
        char c = s[p];
        if (c == '\r') {
            if (p + 1 >= m_n || s[p + 1] != '\n')
                return fail(scan_error::BAD_LINE_END, "bare CR in the header block", p);
            if (p + 2 > m_block_limit)
                return fail(scan_error::TOO_LARGE, "header block longer than 16384 bytes", p);
            m.headers_end = p;
            break;
        }
        if (c == '\n')
            return fail(scan_error::BAD_LINE_END, "bare LF in the header block", p);
        if (is_ws(c))
            return fail(scan_error::BAD_HEADER, "continuation line without a header above", p);
        Line h;
        h.start = p;
        h.name_end = token_end(s, p, m_block_limit);
        if (!line_end(p, lf))
            return m_err;
        if (++lines > MAX_HEADER_LINES)
            return fail(scan_error::TOO_MANY_HEADERS, "more than 256 header lines", p);
        u32 colon = h.name_end;
        while (colon < lf && is_ws(s[colon]))
            ++colon;
        if (h.name_end == p || s[colon] != ':')
            return fail(scan_error::BAD_HEADER, "header line without 'name:'", p);
        h.value_b = colon + 1;
        // Continuation lines.
        while (lf + 1 < m_block_limit && is_ws(s[lf + 1])) {
            if (!line_end(lf + 1, lf))
                return m_err;
            if (++lines > MAX_HEADER_LINES)
                return fail(scan_error::TOO_MANY_HEADERS, "more than 256 header lines", p);
        }
        h.value_e = lf - 1;
        h.end = lf + 1;
        if (!header(h))
            return m_err;
        p = h.end;
    }

    if (m.via_count == 0)
        return fail(scan_error::MISSING_VIA, "no Via header", m.headers_end);
    if (!m.call_id.present())
        return fail(scan_error::MISSING_CALL_ID, "no Call-ID header", m.headers_end);
    if (!m.cseq_method.present())
        return fail(scan_error::MISSING_CSEQ, "no CSeq header", m.headers_end);
    if (!m.from.present())
        return fail(scan_error::MISSING_FROM, "no From header", m.headers_end);
    if (!m.to.present())
        return fail(scan_error::MISSING_TO, "no To header", m.headers_end);
    if (m.kind == Kind::request && std::string_view(s + m.method.off, m.method.len) !=
                                       std::string_view(s + m.cseq_method.off, m.cseq_method.len))
        return fail(scan_error::CSEQ_METHOD_MISMATCH, "CSeq method differs from the request method",
                    m.cseq_method.off);
    if (!body())
        return m_err;
    return m;
}

} // namespace

Method method_from_token(std::string_view t) {
    switch (t.size()) {
    case 3:
        if (t == "ACK")
            return Method::ack;
        if (t == "BYE")
            return Method::bye;
        break;
    case 4:
        if (t == "INFO")
            return Method::info;
        break;
    case 5:
        if (t == "PRACK")
            return Method::prack;
        if (t == "REFER")
            return Method::refer;
        break;
    case 6:
        if (t == "INVITE")
            return Method::invite;
        if (t == "CANCEL")
            return Method::cancel;
        if (t == "UPDATE")
            return Method::update;
        if (t == "NOTIFY")
            return Method::notify;
        break;
    case 7:
        if (t == "OPTIONS")
            return Method::options;
        if (t == "MESSAGE")
            return Method::message;
        if (t == "PUBLISH")
            return Method::publish;
        break;
    case 8:
        if (t == "REGISTER")
            return Method::register_;
        break;
    case 9:
        if (t == "SUBSCRIBE")
            return Method::subscribe;
        break;
    default:
        break;
    }
    return Method::other;
}

std::string_view method_name(Method m) {
    switch (m) {
    case Method::invite:
        return "INVITE";
    case Method::ack:
        return "ACK";
    case Method::bye:
        return "BYE";
    case Method::cancel:
        return "CANCEL";
    case Method::options:
        return "OPTIONS";
    case Method::register_:
        return "REGISTER";
    case Method::update:
        return "UPDATE";
    case Method::info:
        return "INFO";
    case Method::prack:
        return "PRACK";
    case Method::subscribe:
        return "SUBSCRIBE";
    case Method::notify:
        return "NOTIFY";
    case Method::refer:
        return "REFER";
    case Method::message:
        return "MESSAGE";
    case Method::publish:
        return "PUBLISH";
    case Method::other:
        break;
    }
    return "";
}

HeaderId header_id(std::string_view n) {
    switch (n.size()) {
    case 1:
        switch (ascii_lower(n[0])) {
        case 'a':
            return HeaderId::accept_contact;
        case 'b':
            return HeaderId::referred_by;
        case 'c':
            return HeaderId::content_type;
        case 'd':
            return HeaderId::request_disposition;
        case 'e':
            return HeaderId::content_encoding;
        case 'f':
            return HeaderId::from;
        case 'i':
            return HeaderId::call_id;
        case 'j':
            return HeaderId::reject_contact;
        case 'k':
            return HeaderId::supported;
        case 'l':
            return HeaderId::content_length;
        case 'm':
            return HeaderId::contact;
        case 'n':
            return HeaderId::identity_info;
        case 'o':
            return HeaderId::event;
        case 'r':
            return HeaderId::refer_to;
        case 's':
            return HeaderId::subject;
        case 't':
            return HeaderId::to;
        case 'u':
            return HeaderId::allow_events;
        case 'v':
            return HeaderId::via;
        case 'x':
            return HeaderId::session_expires;
        case 'y':
            return HeaderId::identity;
        default:
            return HeaderId::other;
        }
    case 2:
        return equals_icase(n, "To") ? HeaderId::to : HeaderId::other;
    case 3:
        return equals_icase(n, "Via") ? HeaderId::via : HeaderId::other;
    case 4:
        if (equals_icase(n, "CSeq"))
            return HeaderId::cseq;
        if (equals_icase(n, "From"))
            return HeaderId::from;
        return HeaderId::other;
    case 5:
        if (equals_icase(n, "Route"))
            return HeaderId::route;
        if (equals_icase(n, "Event"))
            return HeaderId::event;
        return HeaderId::other;
    case 7:
        if (equals_icase(n, "Call-ID"))
            return HeaderId::call_id;
        if (equals_icase(n, "Contact"))
            return HeaderId::contact;
        if (equals_icase(n, "Subject"))
            return HeaderId::subject;
        return HeaderId::other;
    case 8:
        if (equals_icase(n, "Identity"))
            return HeaderId::identity;
        if (equals_icase(n, "Refer-To"))
            return HeaderId::refer_to;
        return HeaderId::other;
    case 9:
        return equals_icase(n, "Supported") ? HeaderId::supported : HeaderId::other;
    case 11:
        return equals_icase(n, "Referred-By") ? HeaderId::referred_by : HeaderId::other;
    case 12:
        if (equals_icase(n, "Record-Route"))
            return HeaderId::record_route;
        if (equals_icase(n, "Max-Forwards"))
            return HeaderId::max_forwards;
        if (equals_icase(n, "Content-Type"))
            return HeaderId::content_type;
        if (equals_icase(n, "Allow-Events"))
            return HeaderId::allow_events;
        return HeaderId::other;
    case 13:
        return equals_icase(n, "Identity-Info") ? HeaderId::identity_info : HeaderId::other;
    case 14:
        if (equals_icase(n, "Content-Length"))
            return HeaderId::content_length;
        if (equals_icase(n, "Accept-Contact"))
            return HeaderId::accept_contact;
        if (equals_icase(n, "Reject-Contact"))
            return HeaderId::reject_contact;
        return HeaderId::other;
    case 15:
        return equals_icase(n, "Session-Expires") ? HeaderId::session_expires : HeaderId::other;
    case 16:
        return equals_icase(n, "Content-Encoding") ? HeaderId::content_encoding : HeaderId::other;
    case 19:
        return equals_icase(n, "Request-Disposition") ? HeaderId::request_disposition
                                                      : HeaderId::other;
    default:
        return HeaderId::other;
    }
}

std::optional<Uri> parse_uri(std::string_view buf, Span where) {
    if (!where.present())
        return std::nullopt;
    RTFARM_ASSERT(static_cast<size_t>(where.off) + where.len <= buf.size());
    const char* s = buf.data();
    u32 b = where.off, e = where.end();
    u32 p = b;
    if (p >= e || !is_alpha(s[p]))
        return std::nullopt;
    while (p < e && (is_alnum(s[p]) || s[p] == '+' || s[p] == '-' || s[p] == '.'))
        ++p;
    if (p >= e || s[p] != ':')
        return std::nullopt;
    Uri u;
    u.scheme = Span(b, p - b);
    u.opaque = Span(p + 1, e - p - 1);
    u.sip = eq_icase(s, b, p, "sip") || eq_icase(s, b, p, "sips");
    if (!u.sip)
        return u;
    for (u32 q = p + 1; q < e; ++q)
        if (static_cast<unsigned char>(s[q]) <= 0x20 || s[q] == 0x7f)
            return std::nullopt;
    u32 r = p + 1;
    u32 hp = r;
    if (const void* at = std::memchr(s + r, '@', e - r)) {
        u32 a = static_cast<u32>(static_cast<const char*>(at) - s);
        const void* colon = std::memchr(s + r, ':', a - r);
        u32 ue = colon ? static_cast<u32>(static_cast<const char*>(colon) - s) : a;
        if (ue == r)
            return std::nullopt;
        u.user = Span(r, ue - r);
        hp = a + 1;
    }
    u32 he = host_end(s, hp, e);
    if (he == 0)
        return std::nullopt;
    u.host = Span(hp, he - hp);
    p = he;
    if (p < e && s[p] == ':') {
        p = port_end(s, p + 1, e, u.port);
        if (p == 0)
            return std::nullopt;
    }
    if (p < e && s[p] == ';') {
        const void* q = std::memchr(s + p, '?', e - p);
        u32 pe = q ? static_cast<u32>(static_cast<const char*>(q) - s) : e;
        u.params = Span(p + 1, pe - p - 1);
        u.lr = params_lookup(u.params.in(buf), "lr").has_value();
        p = pe;
    }
    if (p < e && s[p] == '?') {
        u.headers = Span(p + 1, e - p - 1);
        p = e;
    }
    if (p != e)
        return std::nullopt;
    return u;
}

std::optional<std::string_view> uri_param(std::string_view uri, std::string_view name) {
    std::string_view s = trim(uri);
    if (!s.empty() && s.front() == '<') {
        size_t gt = s.find('>');
        s = s.substr(1, gt == std::string_view::npos ? std::string_view::npos : gt - 1);
    }
    size_t colon = s.find(':');
    if (colon == std::string_view::npos)
        return std::nullopt;
    size_t at = s.find('@', colon + 1);
    size_t hp = at == std::string_view::npos ? colon + 1 : at + 1;
    if (hp < s.size() && s[hp] == '[') {
        size_t close = s.find(']', hp);
        if (close != std::string_view::npos)
            hp = close;
    }
    size_t semi = s.find(';', hp);
    if (semi == std::string_view::npos)
        return std::nullopt;
    size_t q = s.find('?', hp);
    if (q != std::string_view::npos && q < semi)
        return std::nullopt;
    size_t pe = q == std::string_view::npos ? s.size() : q;
    return params_lookup(s.substr(semi + 1, pe - semi - 1), name);
}

Status check_identifiers(const Message& msg) {
    if (msg.call_id.len > MAX_CALL_ID)
        return make_error("call_id_too_long", "Call-ID of " + std::to_string(msg.call_id.len) +
                                                  " bytes (at most " + std::to_string(MAX_CALL_ID) +
                                                  ")");
    if (msg.from_tag.len > MAX_TAG || msg.to_tag.len > MAX_TAG)
        return make_error("tag_too_long",
                          std::string(msg.from_tag.len > MAX_TAG ? "From" : "To") + " tag of " +
                              std::to_string(std::max(msg.from_tag.len, msg.to_tag.len)) +
                              " bytes (at most " + std::to_string(MAX_TAG) + ")");
    return {};
}

Result<Message> scan(std::string_view datagram) {
    if (datagram.size() > MAX_DATAGRAM)
        return fail(scan_error::TOO_LARGE, "datagram longer than 65535 bytes", MAX_DATAGRAM);
    return Scanner(datagram).run();
}

} // namespace rtfarm::sip
