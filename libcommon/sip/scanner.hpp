// The per-packet SIP scanner: one forward pass over a received
// datagram that finds what sipfarmd routes by (start line, the first two Via
// values, top Route, first Record-Route, Call-ID, CSeq, Max-Forwards,
// Content-Length, the From/To tags, first Contact, Content-Type) and records
// it as offsets into the datagram. Nothing is copied and nothing is allocated
// unless the datagram is rejected (the Error carries strings).
//
// It deliberately does not: validate the whole grammar (unknown headers,
// display names, Contact and SDP pass through unread), decode %-escapes,
// compare URIs, or decide anything about routing. Full semantics (building
// replies, validation beyond the fields above) belong to libosip2 (osip.hpp);
// edits to the bytes go through EditList (edit.hpp).
//
// Decisions a reader should know:
// - Lines end in CRLF. A bare LF or a bare CR anywhere in the start line or
//   the header block is refused ("bad_line_end"): a proxy that guessed
//   differently from the server behind it about where a header ends could
//   be made to forward a header it never saw. The body is not looked at.
// - CR/LF bytes before the start line are skipped (RFC 3261 §7.5); a
//   datagram of nothing but CR/LF (or nothing) is a keep-alive ("keepalive").
// - A line starting with SP/HT continues the header above it (folding). The
//   value Spans of a folded header include the inner CRLF + whitespace, as
//   written; the field parsers treat them as whitespace.
// - The header block must end with an empty line, even in a datagram
//   ("truncated" otherwise).
// - The body is framed by Content-Length when present: bytes after it in the
//   datagram are not part of the message (`Message::end`), fewer bytes than
//   it says is "truncated_body". Without Content-Length the body is the rest
//   of the datagram (RFC 3261 §18.3, UDP).
// - Call-ID, CSeq, From, To, Max-Forwards and Content-Length must appear at
//   most once ("duplicate_header"); Via, Call-ID, CSeq, From and To must be
//   there ("missing_..."). For requests the CSeq method must equal the
//   request method, byte for byte ("cseq_method_mismatch").
// - Only "SIP/2.0" is accepted (case-insensitive) in the start line
//   ("bad_version", so the caller can answer 505) and in Via ("bad_via").
// - A sip:/sips: Request-URI is parsed shallowly and must be well formed,
//   without a "?headers" part ("bad_request_uri"); other schemes are kept
//   opaque (the proxy answers 416 if it cannot route them).
//
// Limits, checked as the pass reaches them and before the bytes concerned
// are parsed (code "too_large" / "too_many_headers"): see MAX_* below.
#pragma once

#include "base/result.hpp"
#include "base/transport.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace rtfarm::sip {

// The largest datagram scanned (the largest UDP payload).
inline constexpr size_t MAX_DATAGRAM = 65535;
// The largest header block: start line through the empty line's CRLF.
inline constexpr size_t MAX_HEADER_BLOCK = 16 * 1024;
// The most physical header lines (continuation lines count; the start line
// and the empty line do not).
inline constexpr size_t MAX_HEADER_LINES = 256;
// The longest physical line (start line or header line), CRLF included.
inline constexpr size_t MAX_LINE = 8 * 1024;
// The longest Call-ID and From or To tag that a daemon keeps as a key in its
// tables (check_identifiers()); real clients' are well under 100 bytes.
inline constexpr size_t MAX_CALL_ID = 256;
inline constexpr size_t MAX_TAG = 256;

// A byte range of the scanned datagram. A default Span is absent (the thing
// was not found); Span(off, len) is present, possibly empty (e.g. ";rport"
// without a value, an empty reason phrase).
struct Span {
    uint32_t off = 0, len = 0;
    bool found = false;

    constexpr Span() = default;
    constexpr Span(uint32_t offset, uint32_t length)
        : off(offset)
        , len(length)
        , found(true) {}

    constexpr bool present() const { return found; }
    constexpr uint32_t end() const { return off + len; }
    // The bytes in buf; empty when absent. The Span must lie inside buf.
    std::string_view in(std::string_view buf) const;

    bool operator==(const Span&) const = default;
};

enum class Kind : uint8_t { request, response };

// Request methods sipfarmd tells apart (RFC 3261, 3262, 3265, 3311, 3428,
// 3515, 3903, 6086). Method names are case-sensitive: "invite" is `other`.
enum class Method : uint8_t {
    invite,
    ack,
    bye,
    cancel,
    options,
    register_, // REGISTER ("register" is a C++ keyword)
    update,
    info,
    prack,
    subscribe,
    notify,
    refer,
    message,
    publish,
    other,
};
Method method_from_token(std::string_view token);
// "INVITE", ...; "" for `other`.
std::string_view method_name(Method m);

// Header names the scanner recognises, full or compact (RFC 3261 §7.3.3 and
// §20, RFC 3265, 3515, 3841, 3892, 4028, 4474): a Accept-Contact,
// b Referred-By, c Content-Type, d Request-Disposition, e Content-Encoding,
// f From, i Call-ID, j Reject-Contact, k Supported, l Content-Length,
// m Contact, n Identity-Info, o Event, r Refer-To, s Subject, t To,
// u Allow-Events, v Via, x Session-Expires, y Identity.
enum class HeaderId : uint8_t {
    other,
    via,
    route,
    record_route,
    call_id,
    cseq,
    max_forwards,
    content_length,
    from,
    to,
    contact,
    content_type,
    accept_contact,
    referred_by,
    request_disposition,
    content_encoding,
    reject_contact,
    supported,
    identity_info,
    event,
    refer_to,
    subject,
    allow_events,
    session_expires,
    identity,
};
// Case-insensitive; `other` for names it does not know.
HeaderId header_id(std::string_view name);

// A Via's sent-protocol (base/transport.hpp).
using Transport = rtfarm::Transport;

// A URI taken apart shallowly, as Spans of the buffer it was parsed from.
// For sip:/sips: the parts below; for any other scheme only `scheme` and
// `opaque` (everything after the colon). Nothing is unescaped.
struct Uri {
    Span scheme;       // "sip", "sips", "tel", ... (without the colon)
    Span opaque;       // after "scheme:" (all schemes)
    Span user;         // before '@' and before any ":password"; absent without '@'
    Span host;         // as written: a name, IPv4, or "[IPv6]" with brackets
    uint16_t port = 0; // 0 when absent
    Span params;       // after the ';' that follows hostport, without it; up to '?'
    Span headers;      // after '?', without it
    bool lr = false;   // the ";lr" parameter is present
    bool sip = false;  // scheme is sip or sips (so user/host/port/params apply)
};

// Parses the URI text at `where` in buf (a bare URI, no <> and no header
// parameters). nullopt when it has no scheme, or is sip:/sips: with an
// empty or malformed host, a bad port or an empty user before '@'.
std::optional<Uri> parse_uri(std::string_view buf, Span where);

// The value of URI parameter `name` (case-insensitive) in any URI text: a
// bare URI or one in <...>. Parameters are those after hostport (or, for a
// URI without '@', after the scheme); the user part is never searched. A
// parameter without "=value" gives an empty view; nullopt when absent.
std::optional<std::string_view> uri_param(std::string_view uri, std::string_view name);

// One Via value (via-parm).
struct Via {
    Span value;         // the value, without surrounding whitespace
    Span line;          // its header line: name through the final CRLF, folds included
    Span erase;         // the bytes to erase to remove this value: `line` when
                        // it is alone, else the value and one comma beside it
    bool alone = false; // the only value in its line
    Span transport;     // "UDP", "TCP", ...
    Transport transport_id = Transport::other;
    Span host;           // sent-by host as written ("[2001:db8::1]" keeps brackets)
    uint16_t port = 0;   // sent-by port, 0 when absent
    Span branch;         // ;branch=VALUE
    bool cookie = false; // branch starts with the RFC 3261 magic cookie "z9hG4bK"
    Span received;       // ;received=VALUE
    Span rport;          // ;rport (present, empty) or ;rport=VALUE
    Span maddr;          // ;maddr=VALUE
};

// The first value of a Route or Record-Route header line.
struct RouteRef {
    Span line;         // the first such header line, name through CRLF
    Span value;        // its first value (name-addr or addr-spec)
    Span uri;          // the URI inside <...>, or the whole addr-spec
    Uri parts;         // uri taken apart (absent Spans if it is not a URI)
    bool more = false; // the line holds further values after this one
    Span erase;        // bytes to erase to remove this value (the line when alone)
};

struct Message {
    Kind kind = Kind::request;
    Span start_line; // first byte of the start line through its CRLF

    // Requests.
    Span method;
    Method method_id = Method::other;
    Span request_uri;
    Uri ruri;

    // Responses.
    int status = 0;
    Span reason; // may be empty; absent when the status line ends after the code

    std::array<Via, 2> via; // [0] is the top Via, [1] the next one (if any)
    uint32_t via_count = 0; // all Via values in the message

    RouteRef route;        // top Route
    RouteRef record_route; // first Record-Route

    Span call_id;
    uint32_t cseq = 0;
    Span cseq_method;
    int max_forwards = -1; // -1 when absent
    Span max_forwards_value;
    int content_length = -1; // -1 when absent
    Span content_length_value;
    Span from; // whole From value
    Span from_tag;
    Span to; // whole To value
    Span to_tag;
    Span contact; // first Contact value
    Span content_type;

    uint32_t headers_end = 0; // offset of the CRLF of the empty line
    Span body;
    uint32_t end = 0; // one past the message's last byte (trailing datagram bytes excluded)

    bool is_request() const { return kind == Kind::request; }
};

// Error codes of scan(); each Error's message says what and where (byte
// offset, header name).
namespace scan_error {
inline constexpr const char* KEEPALIVE = "keepalive"; // only CR/LF (or nothing)
inline constexpr const char* TOO_LARGE = "too_large"; // datagram, header block or a line
inline constexpr const char* TOO_MANY_HEADERS = "too_many_headers";
inline constexpr const char* TRUNCATED = "truncated";       // no end of line / of header block
inline constexpr const char* BAD_LINE_END = "bad_line_end"; // bare CR or LF
inline constexpr const char* BAD_START_LINE = "bad_start_line";
inline constexpr const char* BAD_VERSION = "bad_version"; // SIP/x.y other than 2.0
inline constexpr const char* BAD_REQUEST_URI = "bad_request_uri";
inline constexpr const char* BAD_HEADER = "bad_header"; // name, colon, From/To/Route/Call-ID form
inline constexpr const char* DUPLICATE_HEADER = "duplicate_header";
inline constexpr const char* BAD_VIA = "bad_via";
inline constexpr const char* BAD_CSEQ = "bad_cseq";
inline constexpr const char* BAD_MAX_FORWARDS = "bad_max_forwards";
inline constexpr const char* BAD_CONTENT_LENGTH = "bad_content_length";
inline constexpr const char* MISSING_VIA = "missing_via";
inline constexpr const char* MISSING_CALL_ID = "missing_call_id";
inline constexpr const char* MISSING_CSEQ = "missing_cseq";
inline constexpr const char* MISSING_FROM = "missing_from";
inline constexpr const char* MISSING_TO = "missing_to";
inline constexpr const char* CSEQ_METHOD_MISMATCH = "cseq_method_mismatch";
inline constexpr const char* TRUNCATED_BODY = "truncated_body";
} // namespace scan_error

// Whether the identifiers a table may keep are short enough: error
// "call_id_too_long" (longer than MAX_CALL_ID) or "tag_too_long" (a From or
// To tag longer than MAX_TAG). Not part of scan(): the scan is about SIP's
// syntax, this about what a daemon keeps; it checks before storing.
Status check_identifiers(const Message& msg);

// Scans one datagram. The Spans of the result refer to `datagram`, which
// must stay where it is while they are used.
Result<Message> scan(std::string_view datagram);

} // namespace rtfarm::sip
