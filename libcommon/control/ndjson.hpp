// The control plane's wire format (rtfarm-control(7)): one JSON
// object per line. LineFramer cuts a byte stream into lines under a size
// limit; parse_request / ok_reply / error_reply are the envelope
//   request  {"id": 7, "op": "members", ...fields}
//   reply    {"id": 7, "ok": true, "result": {...}}
//            {"id": 7, "ok": false, "error": {"code": "...", "message": "..."}}
// and parse_response reads a reply back (for clients).
// Pure: no I/O, no sockets, no event loop (see control_server.hpp and
// control_client.hpp). It does not know any op.
#pragma once

#include "base/result.hpp"
#include "json/error_code.hpp"
#include "json/json.hpp"

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace rtfarm::control {

using json::Json;

// The longest request line, in bytes, not counting its "\n" (nor a "\r"
// before it). Longer lines are discarded and answered "line_too_long".
constexpr size_t MAX_LINE = 65536;

// The error codes of the control plane (json/error_code.hpp).
namespace error_code = json::error_code;

// Splits a byte stream into lines. Lines end at '\n'; a '\r' before it is
// dropped. Blank lines (empty, or spaces and tabs only) are skipped, not
// reported: people type at these sockets with nc. A line longer than the
// limit is reported once as an oversize frame and its bytes are discarded
// up to and including the next '\n'; framing then resumes. Buffered bytes
// never exceed the limit plus what one feed() brought.
class LineFramer {
public:
    enum class Kind { line, oversize };
    struct Frame {
        Kind kind = Kind::line;
        // The line without its end (empty for oversize): a view into the
        // framer, valid until the next feed().
        std::string_view text;
    };

    explicit LineFramer(size_t max_line = MAX_LINE)
        : m_max(max_line) {}

    void feed(std::string_view bytes);
    // The next complete line or oversize event; nullopt when more bytes are needed.
    std::optional<Frame> next_line();

    // Bytes held that are not yet a complete line.
    size_t buffered() const { return m_buf.size() - m_pos; }
    size_t max_line() const { return m_max; }

private:
    size_t m_max;
    std::string m_buf;
    size_t m_pos = 0;     // start of the unconsumed bytes in m_buf
    size_t m_scanned = 0; // bytes after m_pos known to hold no '\n'
    bool m_discarding = false;
};

struct Request {
    // A scalar (number, string, boolean) or null when absent; echoed in the reply.
    Json id;
    std::string op;
    // The whole request object, "id" and "op" included.
    Json body;
};

// Errors: "bad_json" (not JSON) or "bad_request" (not an object, no
// non-empty string "op", an object or array id).
Result<Request> parse_request(std::string_view line);
// The same from an already parsed value.
Result<Request> to_request(Json message);
// The id to answer a message with, even a bad one: its scalar "id", else null.
Json id_of(const Json& message);

// {"id":..,"ok":true,"result":{..}}\n ; an empty id or result becomes null / {}.
// TCP control login (control_server.hpp): what a client MACs before the
// server's nonce, and the hex HMAC-SHA256 it sends with op "auth".
inline constexpr std::string_view AUTH_CONTEXT = "rtfarm control auth\n";
std::string auth_mac(std::string_view secret, std::string_view nonce);
// The server's side (issue 17): a client that sends its own "client_nonce"
// with auth.challenge gets "proof", the hex HMAC-SHA256 under the secret of
// AUTH_SERVER_CONTEXT, that nonce and the server's, and checks it before it
// logs in: a server that does not know the secret cannot pass for a member.
inline constexpr std::string_view AUTH_SERVER_CONTEXT = "rtfarm control server\n";
std::string auth_server_proof(std::string_view secret, std::string_view client_nonce,
                              std::string_view nonce);
// During a key rotation (rtfarm.conf(5)) each side may hold two secrets,
// newest first. The client lists the ids of its own (crypto::key_id) as
// "keys" in auth.challenge; the server proves with the newest of its
// secrets the client holds (its newest when none or no list), names it as
// "key", and takes the login's MAC under that one. The index in `secrets`.
size_t auth_pick_secret(std::span<const std::string> secrets, const Json& client_keys);
// The client's side: its secret whose id the server named, or null. A
// server that names none (an older one) means the newest.
const std::string* auth_named_secret(std::span<const std::string> secrets, const Json& key);
// The "keys" list a client with `secrets` sends.
Json auth_key_ids(std::span<const std::string> secrets);

std::string ok_reply(const Json& id, Json result);
// {"id":..,"ok":false,"error":{"code":"..","message":".."}}\n
std::string error_reply(const Json& id, std::string_view code, std::string_view message);

// A request line {"id":id,"op":op,...args} with its '\n', for clients.
// Errors: "bad_request" when args is not an object or holds "id" / "op".
Result<std::string> request_line(long long id, std::string_view op, const Json& args);

struct Response {
    Json id;
    bool ok = false;
    Json result; // when ok
    Error error; // when not ok
};
// Reads a reply line. Errors: "bad_json", or "bad_reply" when it is not an
// envelope (no boolean "ok", an error without a string code).
Result<Response> parse_response(std::string_view line);

} // namespace rtfarm::control
