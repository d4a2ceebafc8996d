#include "control/control_client.hpp"

#include "base/crypto.hpp"
#include "base/sockaddr.hpp"
#include "net/socket.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

namespace rtfarm::control {
namespace {

// A pushed event line {"event":{...}}, not a reply: its object.
std::optional<Json> event_of(std::string_view line) {
    auto doc = json::parse(line, "event");
    if (!doc || !doc->is_object() || !(*doc)["event"].is_object() || (*doc)["ok"])
        return std::nullopt;
    return (*doc)["event"];
}

using Clock = ControlClient::Clock;

int remaining_ms(Clock::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0)
        return 0;
    return static_cast<int>(std::min<long long>(left.count(), 1 << 30));
}

// Waits for `events` on fd until the deadline: 1 ready, 0 timed out, -1 error.
int wait_for(int fd, short events, Clock::time_point deadline) {
    for (;;) {
        pollfd p{fd, events, 0};
        int rc = ::poll(&p, 1, remaining_ms(deadline));
        if (rc > 0)
            return 1;
        if (rc == 0)
            return 0;
        if (errno != EINTR)
            return -1;
        if (Clock::now() >= deadline)
            return 0;
    }
}

Error timeout_error(const std::string& target, std::string_view what) {
    return make_error("timeout", std::string(what) + " " + target + ": timed out");
}

} // namespace

ControlClient::ControlClient(UniqueFd fd, std::string target)
    : m_fd(std::move(fd))
    , m_target(std::move(target)) {
}

Result<ControlClient> ControlClient::connect(std::string target, std::chrono::milliseconds timeout,
                                             std::string_view secret) {
    if (secret.empty())
        return connect(std::move(target), timeout, std::span<const std::string>{});
    const std::string one(secret);
    return connect(std::move(target), timeout, std::span<const std::string>(&one, 1));
}

Result<ControlClient> ControlClient::connect(std::string target, std::chrono::milliseconds timeout,
                                             std::span<const std::string> secrets) {
    auto start = Clock::now();
    auto client = connect_only(std::move(target), timeout);
    if (!client || secrets.empty() || client->m_target.find('/') != std::string::npos)
        return client;
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(timeout - (Clock::now() - start));
    if (auto st = client->authenticate(secrets, std::max(left, std::chrono::milliseconds(1))); !st)
        return st.error();
    return client;
}

Status ControlClient::authenticate(std::span<const std::string> secrets,
                                   std::chrono::milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    const std::string client_nonce = crypto::random_hex(16);
    auto challenge =
        call("auth.challenge",
             Json::object().set("client_nonce", client_nonce).set("keys", auth_key_ids(secrets)),
             timeout);
    if (!challenge)
        return challenge.error();
    auto nonce = (*challenge)["nonce"].as_string();
    if (!nonce)
        return make_error("bad_reply", m_target + ": auth.challenge without a nonce");
    // The server first proves it knows the secret (a stranger at a
    // member's address gets nothing from us).
    const std::string* secret = auth_named_secret(secrets, (*challenge)["key"]);
    auto proof = (*challenge)["proof"].as_string();
    if (!secret || !proof ||
        !crypto::equal_constant_time(*proof, auth_server_proof(*secret, client_nonce, *nonce)))
        return make_error("server_unauthenticated",
                          m_target + " did not prove it knows the cluster secret");
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    auto login = call("auth", Json::object().set("mac", auth_mac(*secret, *nonce)),
                      std::max(left, std::chrono::milliseconds(1)));
    if (!login)
        return login.error();
    return {};
}

Result<ControlClient> ControlClient::connect_only(std::string target,
                                                  std::chrono::milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    if (target.find('/') != std::string::npos) {
        // A full backlog clears as the server accepts: retry until the deadline.
        for (;;) {
            auto fd = net::unix_connect(target);
            if (fd)
                return ControlClient(std::move(*fd), std::move(target));
            if (fd.error().code != error_code::BUSY)
                return fd.error();
            if (Clock::now() >= deadline)
                return timeout_error(target, "connect");
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
    }
    auto addr = SockAddr::parse(target);
    if (!addr)
        return make_error(
            "bad_address",
            "'" + target + "' is neither a socket path nor ADDRESS:PORT: " + addr.error().message);
    auto fd = net::tcp_connect(*addr);
    if (!fd)
        return fd.error();
    int ready = wait_for(fd->get(), POLLOUT, deadline);
    if (ready == 0)
        return timeout_error(target, "connect");
    if (ready < 0)
        return make_error(error_code::IO, "connect " + target + ": poll: " + std::strerror(errno));
    if (auto st = net::connect_error(fd->get(), target); !st)
        return st.error();
    return ControlClient(std::move(*fd), std::move(target));
}

Status ControlClient::send_until(std::string_view bytes, Clock::time_point deadline) {
    if (!m_fd)
        return make_error(error_code::IO, "send to " + m_target + ": not connected");
    size_t done = 0;
    while (done < bytes.size()) {
        ssize_t n = ::send(m_fd.get(), bytes.data() + done, bytes.size() - done,
                           MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            done += size_t(n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int ready = wait_for(m_fd.get(), POLLOUT, deadline);
            if (ready == 0)
                return timeout_error(m_target, "send to");
            if (ready < 0)
                return make_error(error_code::IO,
                                  "send to " + m_target + ": poll: " + std::strerror(errno));
            continue;
        }
        return make_error(error_code::IO, "send to " + m_target + ": " +
                                              (n < 0 ? std::strerror(errno) : "no progress"));
    }
    return {};
}

Result<std::string> ControlClient::read_until(Clock::time_point deadline) {
    if (!m_fd)
        return make_error(error_code::IO, "read from " + m_target + ": not connected");
    char buf[16384];
    for (;;) {
        if (auto frame = m_framer.next_line()) {
            if (frame->kind == LineFramer::Kind::oversize)
                return make_error("bad_reply", "reply from " + m_target + " longer than " +
                                                   std::to_string(m_framer.max_line()) + " bytes");
            return std::string(frame->text);
        }
        ssize_t n = ::recv(m_fd.get(), buf, sizeof buf, MSG_DONTWAIT);
        if (n > 0) {
            m_framer.feed(std::string_view(buf, size_t(n)));
            continue;
        }
        if (n == 0)
            return make_error(error_code::IO, "connection closed by " + m_target);
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return make_error(error_code::IO,
                              "read from " + m_target + ": " + std::strerror(errno));
        int ready = wait_for(m_fd.get(), POLLIN, deadline);
        if (ready == 0)
            return timeout_error(m_target, "no reply from");
        if (ready < 0)
            return make_error(error_code::IO,
                              "read from " + m_target + ": poll: " + std::strerror(errno));
    }
}

Status ControlClient::send_raw(std::string_view bytes, std::chrono::milliseconds timeout) {
    return send_until(bytes, Clock::now() + timeout);
}

Result<std::string> ControlClient::read_line(std::chrono::milliseconds timeout) {
    return read_until(Clock::now() + timeout);
}

Result<std::string> ControlClient::call_raw(std::string_view bytes,
                                            std::chrono::milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    if (auto st = send_until(bytes, deadline); !st)
        return st.error();
    return read_until(deadline);
}

Result<Json> ControlClient::next_event(std::chrono::milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    while (m_events.empty()) {
        auto line = read_until(deadline);
        if (!line)
            return line.error();
        if (auto event = event_of(*line))
            m_events.push_back(std::move(*event));
        // Anything else is a late reply to a call that timed out.
    }
    Json e = std::move(m_events.front());
    m_events.pop_front();
    return e;
}

Result<Json> ControlClient::call(std::string_view op, Json args,
                                 std::chrono::milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    long long id = m_next_id++;
    auto request = request_line(id, op, args);
    if (!request)
        return request.error();
    if (auto st = send_until(*request, deadline); !st)
        return st.error();
    // Bounded by the deadline: each turn reads a line or fails.
    for (;;) {
        auto line = read_until(deadline);
        if (!line)
            return line.error();
        auto resp = parse_response(*line);
        if (!resp) {
            if (auto event = event_of(*line)) {
                m_events.push_back(std::move(*event));
                continue;
            }
            return resp.error();
        }
        bool mine = resp->id.as_integer() == id;
        bool unaddressed = json_is_null(resp->id.get()) && !resp->ok;
        if (!mine && !unaddressed)
            continue; // the late reply to an earlier call that timed out
        if (resp->ok)
            return resp->result;
        return resp->error;
    }
}

} // namespace rtfarm::control
