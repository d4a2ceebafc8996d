// Where a message was changed on its way: a short digest of each line of
// its header block (start line included, each physical line as received,
// without its CRLF) and of its body, so that lbcheck can tell which header
// a SIP-aware load balancer rewrote by comparing the digests the farm saw
// (the probe reply's X-Farm-Lines) with those of the bytes it sent.
//
// Not a security measure: 32 bits per line are plenty to tell "changed"
// from "not changed" for a line the sender wrote itself.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rtfarm::sip {

// At most this many digests fit in a probe reply (the header block's lines
// plus one for a non-empty body); a longer message gets no X-Farm-Lines.
constexpr size_t MAX_PROBE_LINES = 40;

struct MessageLines {
    std::vector<std::string_view> lines; // header block lines, start line first
    std::string_view body;               // after the empty line; "" when none
};
// Splits `message` at CRLF (a bare LF also ends a line) up to the empty line.
MessageLines split_lines(std::string_view message);

// 8 lowercase hex digits per line, then one for the body when it is not empty.
std::vector<std::string> line_digests(std::string_view message);

// The X-Farm-Lines value: "N d1 d2 ...", N the number of header lines; "" when
// the message has more than MAX_PROBE_LINES digests.
std::string format_line_digests(std::string_view message);

struct ParsedLines {
    size_t header_lines = 0;
    std::vector<std::string> digests; // header lines, then the body's if any
};
// nullopt when `value` is not what format_line_digests() writes.
std::optional<ParsedLines> parse_line_digests(std::string_view value);

} // namespace rtfarm::sip
