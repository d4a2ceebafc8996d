// A blocking client of the NDJSON control plane, for cgclusterctl and the
// tests: connect to a daemon's Unix socket or TCP address, send a request,
// wait (poll, bounded by a timeout) for the reply that carries its id.
// Every wait is bounded; nothing is retried behind the caller's back.
// It does not run an event loop, reconnect, or pipeline calls: one call at
// a time. Not for use inside a daemon's loop (it blocks).
#pragma once

#include "base/result.hpp"
#include "base/unique_fd.hpp"
#include "control/ndjson.hpp"
#include "json/json.hpp"

#include <chrono>
#include <cstddef>
#include <deque>
#include <span>
#include <string>
#include <string_view>

namespace rtfarm::control {

class ControlClient {
public:
    using Clock = std::chrono::steady_clock;
    static constexpr std::chrono::milliseconds DEFAULT_TIMEOUT{5000};
    // Replies (a member list, a call list) may be far longer than requests.
    static constexpr size_t MAX_REPLY_LINE = size_t(16) << 20;

    // `target` is a Unix socket path (it holds a '/') or ADDRESS:PORT for
    // TCP ("127.0.0.1:7070", "[::1]:7070"; no DNS). Errors: "bad_address",
    // "timeout", "io", "busy" (listen backlog full).
    // With a `secret`, a TCP connection logs in at once (auth.challenge,
    // auth; "unauthenticated" when refused; "server_unauthenticated" when the
    // server does not prove it knows the secret first); a Unix one needs no login.
    static Result<ControlClient> connect(std::string target,
                                         std::chrono::milliseconds timeout = DEFAULT_TIMEOUT,
                                         std::string_view secret = {});
    // The same with every secret the client holds, newest first (a key
    // rotation: ndjson.hpp auth_pick_secret); none = no login.
    static Result<ControlClient> connect(std::string target, std::chrono::milliseconds timeout,
                                         std::span<const std::string> secrets);

    // Proves knowledge of the cluster secret to a TCP control port.
    Status authenticate(std::span<const std::string> secrets,
                        std::chrono::milliseconds timeout = DEFAULT_TIMEOUT);

    ControlClient(ControlClient&&) noexcept = default;
    ControlClient& operator=(ControlClient&&) noexcept = default;

    // Sends {"id":N,"op":op, ...fields of args} and waits for the reply with
    // id N (replies to earlier calls that timed out are skipped). On "ok" the
    // result; otherwise the reply's {code, message} as the Error. An error
    // reply with a null id (the server could not read the request, or it
    // refused the connection) is returned too. Other errors: "bad_request"
    // (args not an object, or holding "id"/"op"), "timeout", "io" (connection
    // closed or failed), "bad_reply" / "bad_json" (not an envelope).
    Result<Json> call(std::string_view op, Json args = Json(),
                      std::chrono::milliseconds timeout = DEFAULT_TIMEOUT);

    // The next event pushed to this connection (a task subscribed with
    // event.subscribe): the object under "event". Events that came while a
    // call() waited for its reply were kept for this. Errors: "timeout",
    // "io".
    Result<Json> next_event(std::chrono::milliseconds timeout = DEFAULT_TIMEOUT);

    // Sends `bytes` exactly as given and returns the next reply line, without
    // its '\n'. For tests that send garbage or split lines.
    Result<std::string> call_raw(std::string_view bytes,
                                 std::chrono::milliseconds timeout = DEFAULT_TIMEOUT);
    // The two halves of call_raw.
    Status send_raw(std::string_view bytes, std::chrono::milliseconds timeout = DEFAULT_TIMEOUT);
    Result<std::string> read_line(std::chrono::milliseconds timeout = DEFAULT_TIMEOUT);

    const std::string& target() const { return m_target; }
    int fd() const { return m_fd.get(); }
    void close() { m_fd.reset(); }

private:
    ControlClient(UniqueFd fd, std::string target);
    static Result<ControlClient> connect_only(std::string target,
                                              std::chrono::milliseconds timeout);
    Status send_until(std::string_view bytes, Clock::time_point deadline);
    Result<std::string> read_until(Clock::time_point deadline);

    UniqueFd m_fd;
    std::string m_target;
    LineFramer m_framer{MAX_REPLY_LINE};
    std::deque<Json> m_events; // pushed while a call waited
    long long m_next_id = 1;
};

} // namespace rtfarm::control
