// An NDJSON control client that lives in a daemon's event loop: one TCP
// connection to another daemon's control port (member to member: events
// between tasks, media ops), logged in with the cluster secret, or one Unix
// connection to a daemon on this host (sipfarmd to its rtprelayd), many calls in flight
// matched by id, each answered exactly once: with the reply, or with an
// error ("io" when the connection fails, "timeout" at its deadline).
// It connects on the first call and again on the first call after a
// failure; calls made while it connects and logs in wait in order.
//
// Callbacks run on the loop's thread, never from inside call(); they must
// not destroy the link (defer that). Destroying it answers what is pending
// with "io".
#pragma once

#include "base/result.hpp"
#include "base/sockaddr.hpp"
#include "base/unique_fd.hpp"
#include "control/ndjson.hpp"
#include "ev/loop.hpp"
#include "json/json.hpp"

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace rtfarm::control {

class ControlLink {
public:
    using Callback = std::function<void(Result<Json>)>;

    // Logs in with `secrets` (newest first; none: no login).
    ControlLink(ev::Loop& loop, SockAddr target, std::vector<std::string> secrets);
    // The secrets of the next login (a reload); a connection up stays.
    void set_secrets(std::vector<std::string> secrets) { m_secrets = std::move(secrets); }
    // To the Unix socket at `path` (no login: the socket's mode is the lock).
    ControlLink(ev::Loop& loop, std::string path);
    ControlLink(const ControlLink&) = delete;
    ControlLink& operator=(const ControlLink&) = delete;
    ~ControlLink();

    void call(std::string_view op, const Json& args, std::chrono::milliseconds timeout,
              Callback done);

    const SockAddr& target() const { return m_target; }
    // "10.0.0.2:5068" or the Unix path, for messages.
    const std::string& name() const { return m_name; }
    size_t pending() const { return m_calls.size(); }
    bool connected() const { return m_state == State::ready; }

private:
    enum class State { idle, connecting, login, ready };
    // Requests waiting for a peer that does not read, before giving up.
    static constexpr size_t MAX_OUTPUT = size_t(4) << 20;
    // Each login step's answer must come within this.
    static constexpr std::chrono::seconds LOGIN_TIMEOUT{5};
    using Clock = std::chrono::steady_clock;
    struct Call {
        std::string line;
        Clock::time_point deadline;
        Callback done;
        bool sent = false;
        // The login step this is ("auth.challenge", "auth"); empty for the
        // user's calls.
        std::string_view login;
    };

    void start_connect();
    void on_connected();
    void on_readable();
    void on_line(std::string_view line);
    void on_login_reply(long long id, Result<Json> r);
    void send_ready_calls();
    void write(const std::string& bytes);
    void flush();
    void fail_all(const Error& why);
    void arm_timer();
    void on_timer();
    long long add(std::string_view op, const Json& args, Clock::time_point deadline, Callback done,
                  std::string_view login = {});
    // Sends one login step now, ahead of the waiting calls.
    void send_login(std::string_view op, const Json& args);
    // Answers call `id` (removed first, so a callback may call again).
    void finish(long long id, Result<Json> r);
    void answer_failed();

    ev::Loop& m_loop;
    SockAddr m_target;
    std::string m_path; // Unix socket, when not TCP
    std::string m_name;
    std::vector<std::string> m_secrets;
    std::string m_client_nonce; // our challenge to the server, this login
    State m_state = State::idle;
    UniqueFd m_fd;
    std::unique_ptr<ev::FdEvent> m_read;
    std::unique_ptr<ev::FdEvent> m_write;
    bool m_write_armed = false;
    std::string m_out;
    LineFramer m_framer{size_t(16) << 20};
    std::map<long long, Call> m_calls; // by id, so oldest first
    long long m_next_id = 1;
    ev::Timer m_timer;
    std::vector<std::pair<Callback, Error>> m_failed; // to answer from the loop
    std::shared_ptr<bool> m_alive = std::make_shared<bool>(true);
};

} // namespace rtfarm::control
