#include "control/control_link.hpp"

#include "base/crypto.hpp"
#include "net/socket.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace rtfarm::control {

ControlLink::ControlLink(ev::Loop& loop, SockAddr target, std::vector<std::string> secrets)
    : m_loop(loop)
    , m_target(target)
    , m_name(target.str())
    , m_secrets(std::move(secrets))
    , m_timer(loop, [this] { on_timer(); }) {
}

ControlLink::ControlLink(ev::Loop& loop, std::string path)
    : m_loop(loop)
    , m_path(std::move(path))
    , m_name(m_path)
    , m_timer(loop, [this] { on_timer(); }) {
}

ControlLink::~ControlLink() {
    *m_alive = false;
    m_read.reset();
    m_write.reset();
    auto failed = std::move(m_failed);
    for (auto& [done, why] : failed)
        done(why);
    auto calls = std::move(m_calls);
    for (auto& [id, c] : calls)
        if (c.login.empty() && c.done)
            c.done(make_error(error_code::IO, m_name + ": control link closed"));
}

long long ControlLink::add(std::string_view op, const Json& args, Clock::time_point deadline,
                           Callback done, std::string_view login) {
    long long id = m_next_id++;
    auto line = request_line(id, op, args);
    if (!line) {
        // Answered from the loop, never from inside call().
        std::weak_ptr<bool> alive = m_alive;
        m_loop.defer([alive, done, err = line.error()] {
            if (alive.lock())
                done(err);
        });
        return 0;
    }
    m_calls.emplace(id, Call{std::move(*line), deadline, std::move(done), false, login});
    return id;
}

void ControlLink::call(std::string_view op, const Json& args, std::chrono::milliseconds timeout,
                       Callback done) {
    if (add(op, args, Clock::now() + timeout, std::move(done)) == 0)
        return;
    arm_timer();
    if (m_state == State::idle)
        start_connect();
    else if (m_state == State::ready)
        send_ready_calls();
}

void ControlLink::start_connect() {
    auto fd = m_path.empty() ? net::tcp_connect(m_target) : net::unix_connect(m_path);
    if (!fd) {
        std::weak_ptr<bool> alive = m_alive;
        m_loop.defer([this, alive, err = fd.error()] {
            if (alive.lock())
                fail_all(err);
        });
        return;
    }
    m_fd = std::move(*fd);
    m_state = State::connecting;
    m_framer = LineFramer{size_t(16) << 20};
    m_out.clear();
    m_read = std::make_unique<ev::FdEvent>(m_loop, m_fd.get(), EV_READ | EV_PERSIST,
                                           [this](short) { on_readable(); });
    m_write =
        std::make_unique<ev::FdEvent>(m_loop, m_fd.get(), EV_WRITE | EV_PERSIST, [this](short) {
            if (m_state == State::connecting)
                on_connected();
            else
                flush();
        });
    m_write->enable();
    m_write_armed = true;
}

void ControlLink::on_connected() {
    if (auto st = net::connect_error(m_fd.get(), m_name); !st) {
        fail_all(st.error());
        return;
    }
    m_write->disable();
    m_write_armed = false;
    m_read->enable();
    arm_timer(); // the login's deadline
    if (m_secrets.empty()) {
        m_state = State::ready;
        send_ready_calls();
        return;
    }
    m_state = State::login;
    m_client_nonce = crypto::random_hex(16);
    send_login(
        "auth.challenge",
        Json::object().set("client_nonce", m_client_nonce).set("keys", auth_key_ids(m_secrets)));
}

void ControlLink::send_login(std::string_view op, const Json& args) {
    long long id = add(op, args, Clock::now() + LOGIN_TIMEOUT, nullptr, op);
    if (id == 0)
        return;
    m_calls.at(id).sent = true;
    write(m_calls.at(id).line);
}

void ControlLink::on_login_reply(long long id, Result<Json> r) {
    auto it = m_calls.find(id);
    std::string_view op = it->second.login;
    m_calls.erase(it);
    if (!r) {
        fail_all(
            make_error(r.error().code, m_name + ": " + std::string(op) + ": " + r.error().message));
        return;
    }
    if (op == "auth") {
        m_state = State::ready;
        send_ready_calls();
        return;
    }
    auto nonce = (*r)["nonce"].as_string();
    if (!nonce) {
        fail_all(make_error("bad_reply", m_name + ": auth.challenge without a nonce"));
        return;
    }
    const std::string* secret = auth_named_secret(m_secrets, (*r)["key"]);
    auto proof = (*r)["proof"].as_string();
    if (!secret || !proof ||
        !crypto::equal_constant_time(*proof, auth_server_proof(*secret, m_client_nonce, *nonce))) {
        fail_all(make_error("server_unauthenticated",
                            m_name + " did not prove it knows the cluster secret"));
        return;
    }
    send_login("auth", Json::object().set("mac", auth_mac(*secret, *nonce)));
}

void ControlLink::send_ready_calls() {
    for (auto& [id, c] : m_calls) {
        if (c.sent)
            continue;
        c.sent = true;
        write(c.line);
        if (m_state != State::ready)
            return; // the write failed and reset the link
    }
}

void ControlLink::write(const std::string& bytes) {
    if (m_out.size() + bytes.size() > MAX_OUTPUT) {
        fail_all(make_error("busy", m_name + ": the peer does not read (" +
                                        std::to_string(m_out.size()) + " bytes waiting)"));
        return;
    }
    m_out += bytes;
    if (!m_write_armed)
        flush();
}

void ControlLink::flush() {
    while (!m_out.empty()) {
        ssize_t n = ::send(m_fd.get(), m_out.data(), m_out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            m_out.erase(0, size_t(n));
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!m_write_armed) {
                m_write_armed = true;
                m_write->enable();
            }
            return;
        }
        fail_all(make_error(error_code::IO, "send to " + m_name + ": " +
                                                (n < 0 ? std::strerror(errno) : "no progress")));
        return;
    }
    if (m_write_armed) {
        m_write_armed = false;
        m_write->disable();
    }
}

void ControlLink::on_readable() {
    char buf[65536];
    ssize_t n = ::read(m_fd.get(), buf, sizeof buf);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0) {
        fail_all(
            make_error(error_code::IO, m_name + ": " +
                                           (n == 0 ? std::string("connection closed by the peer")
                                                   : std::string(std::strerror(errno)))));
        return;
    }
    m_framer.feed(std::string_view(buf, size_t(n)));
    // A callback may make a new call (which may reconnect): stop reading
    // this connection's lines once it is gone.
    std::weak_ptr<bool> alive = m_alive;
    int fd = m_fd.get();
    while (alive.lock() && m_fd && m_fd.get() == fd) {
        auto frame = m_framer.next_line();
        if (!frame)
            break;
        if (frame->kind == LineFramer::Kind::oversize) {
            fail_all(make_error("bad_reply", m_name + ": reply line too long"));
            return;
        }
        std::string line(frame->text);
        on_line(line);
    }
}

void ControlLink::on_line(std::string_view line) {
    auto resp = parse_response(line);
    if (!resp) {
        // Not a reply: an event line pushed to us, or noise. Not ours to answer.
        return;
    }
    auto id = resp->id.as_integer();
    if (!id) {
        // The server refused us while we logged in (busy); later, one
        // request it could not read says nothing about the others.
        if (!resp->ok && m_state == State::login)
            fail_all(make_error(resp->error.code, m_name + ": " + resp->error.message));
        return;
    }
    auto it = m_calls.find(*id);
    if (it == m_calls.end())
        return; // answered already (timed out)
    Result<Json> r = resp->ok ? Result<Json>(resp->result) : Result<Json>(resp->error);
    if (!it->second.login.empty())
        on_login_reply(*id, std::move(r));
    else
        finish(*id, std::move(r));
}

void ControlLink::finish(long long id, Result<Json> r) {
    auto it = m_calls.find(id);
    if (it == m_calls.end())
        return;
    Callback done = std::move(it->second.done);
    m_calls.erase(it);
    if (done)
        done(std::move(r));
}

void ControlLink::fail_all(const Error& why) {
    // The events may be the ones running this: disabled now, freed later.
    if (m_read)
        m_read->disable();
    if (m_write)
        m_write->disable();
    auto graveyard =
        std::make_shared<std::pair<std::unique_ptr<ev::FdEvent>, std::unique_ptr<ev::FdEvent>>>(
            std::move(m_read), std::move(m_write));
    m_loop.defer([graveyard] {});
    m_write_armed = false;
    m_fd.reset();
    m_out.clear();
    m_state = State::idle;
    // Answered from the loop: this may run inside call().
    for (auto& [id, c] : m_calls)
        if (c.login.empty() && c.done)
            m_failed.emplace_back(std::move(c.done), why);
    m_calls.clear();
    if (m_failed.empty())
        return;
    std::weak_ptr<bool> alive = m_alive;
    m_loop.defer([this, alive] {
        if (alive.lock())
            answer_failed();
    });
}

void ControlLink::answer_failed() {
    auto failed = std::move(m_failed);
    m_failed.clear();
    std::weak_ptr<bool> alive = m_alive;
    for (auto& [done, why] : failed) {
        done(why);
        if (!alive.lock())
            return; // a callback destroyed the link (it was told not to)
    }
}

void ControlLink::arm_timer() {
    if (!m_timer.pending())
        m_timer.start(std::chrono::milliseconds(50));
}

void ControlLink::on_timer() {
    auto now = Clock::now();
    std::vector<long long> late;
    bool login_late = false;
    for (const auto& [id, c] : m_calls)
        if (c.deadline <= now) {
            late.push_back(id);
            login_late = login_late || !c.login.empty();
        }
    std::weak_ptr<bool> alive = m_alive;
    if (login_late) {
        fail_all(make_error("timeout", m_name + ": no answer to the control login"));
    } else {
        for (long long id : late) {
            if (!alive.lock())
                return;
            finish(id, make_error("timeout", m_name + ": no reply in time"));
        }
    }
    if (!alive.lock())
        return;
    if (!m_calls.empty())
        arm_timer();
    else if (m_state == State::connecting)
        fail_all(make_error("timeout", m_name + ": no connection in time"));
}

} // namespace rtfarm::control
