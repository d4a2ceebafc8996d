// SIP over a stream (TCP, TLS): cuts the bytes of one connection into
// messages by their Content-Length (RFC 3261 18.3), with size limits checked
// before anything is kept, and recognises the keep-alives of RFC 5626 3.5.1:
// a double CRLF "ping" (to be answered with a single CRLF "pong") and a lone
// CRLF (a pong, or the CRLFs a sender may put before a start line: ignored).
//
// It does not parse the message beyond what framing needs (the scanner does
// that), own a socket, or decide what a framing error does to the
// connection (the caller closes it: the stream cannot be resynchronised).
#pragma once

#include "base/result.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace rtfarm::sip {

struct StreamLimits {
    size_t max_header_block = 16 * 1024; // start line and headers, with the empty line
    size_t max_body = 64 * 1024;
    bool operator==(const StreamLimits&) const = default;
};

// How many SIP connections a member may hold with `nofile` descriptors
// (RLIMIT_NOFILE), keeping `margin` for everything else (UDP, control,
// farm link, logs): `accepted` at most `want_accepted`, `outgoing` at most
// `want_outgoing`, both shrunk in proportion when the limit is too low, so
// a full table never ends in EMFILE (issue 17).
struct StreamCaps {
    size_t accepted = 0;
    size_t outgoing = 0;
    bool operator==(const StreamCaps&) const = default;
};
StreamCaps stream_caps(uint64_t nofile, size_t want_accepted, size_t want_outgoing, size_t margin);

class StreamFramer {
public:
    explicit StreamFramer(StreamLimits limits = {})
        : m_limits(limits) {}

    enum class Kind { message, ping };
    struct Item {
        Kind kind = Kind::message;
        // The whole message (start line through the last body byte). Valid
        // until the next append() or next().
        std::string_view bytes;
    };

    // Bytes read from the connection, in order.
    void append(std::string_view data);
    // The next complete item; nullopt when more bytes are needed. An error
    // (code "framing") is final: every later call returns it again.
    Result<std::optional<Item>> next();

    // Bytes held that are not yet a complete item.
    size_t pending() const { return m_buf.size() - m_pos; }

private:
    Error fail(std::string message);

    StreamLimits m_limits;
    std::string m_buf;
    size_t m_pos = 0; // start of what next() has not returned yet
    std::optional<Error> m_error;
};

} // namespace rtfarm::sip
