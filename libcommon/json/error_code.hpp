// The error codes of rtfarm's control messages (rtfarm-control(7)), here
// so that the codecs of the messages (media/control_messages.hpp) and the
// control plane (control/ndjson.hpp) name them alike.
#pragma once

namespace rtfarm::json {

// The error codes of the control plane, shared by every daemon:
namespace error_code {
// The line is not JSON (the message is jansson's, with line:column).
inline constexpr const char* BAD_JSON = "bad_json";
// JSON, but not a request: not an object, no string "op", an id that is
// not a scalar, or a field of the wrong type or value for the op.
inline constexpr const char* BAD_REQUEST = "bad_request";
// No handler for this op on this daemon (the message names the op).
inline constexpr const char* UNKNOWN_OP = "unknown_op";
// The line was longer than control::MAX_LINE; it was discarded unread.
inline constexpr const char* LINE_TOO_LONG = "line_too_long";
// The thing the request names (call, member, session) does not exist.
inline constexpr const char* NOT_FOUND = "not_found";
// Out of a resource (connections, ports, pending work): retry later.
inline constexpr const char* BUSY = "busy";
// A TCP control connection that has not proved it knows the cluster secret
// (ops "auth.challenge" then "auth"; see control_server.hpp).
inline constexpr const char* UNAUTHENTICATED = "unauthenticated";
// A client's side: the connection failed or closed (never sent by a daemon).
inline constexpr const char* IO = "io";
// A bug or an unexpected failure on the daemon's side; the log says more.
inline constexpr const char* INTERNAL = "internal";
} // namespace error_code

} // namespace rtfarm::json
