#include "control/control_server.hpp"

#include "base/assert.hpp"
#include "base/crypto.hpp"
#include "net/socket.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <utility>

namespace rtfarm::control {
namespace {

using Clock = std::chrono::steady_clock;

// Bytes read per wakeup and connection, and connections accepted per
// wakeup and listener: the work budget before returning to the loop.
constexpr size_t READ_CHUNK = 65536;
constexpr int ACCEPTS_PER_WAKEUP = 32;
// Out of fds: stop accepting this long instead of spinning on the listener.
constexpr std::chrono::milliseconds ACCEPT_PAUSE{100};
// How much of an unknown op name an error message repeats.
constexpr size_t OP_IN_MESSAGE = 64;
constexpr int EINTR_RETRIES = 8;

// A request to an op with OpOptions::retry_cache, remembered to answer its
// retries. Kept until retry_ttl after its reply; never dropped while pending.
struct RetryEntry {
    std::string request;              // the request line, id included
    std::optional<std::string> reply; // nullopt while the handler has not answered
    Clock::time_point at;             // when the reply came
    size_t waiting = 0;               // retries that came while it was pending
};

std::string short_op(std::string_view op) {
    if (op.size() <= OP_IN_MESSAGE)
        return std::string(op);
    return std::string(op.substr(0, OP_IN_MESSAGE)) + "...";
}

} // namespace

struct ControlServer::Listener {
    UniqueFd fd;
    std::unique_ptr<ev::FdEvent> event;
    PeerTransport transport = PeerTransport::unix_socket;
    std::string where; // the path or the address
    std::optional<SockAddr> addr;
    // The socket file we made, so close() never removes another's.
    dev_t dev = 0;
    ino_t ino = 0;
};

struct ControlServer::Connection {
    ControlServer* server = nullptr;
    uint64_t id = 0;
    UniqueFd fd;
    Peer peer;
    LineFramer framer;
    std::string out;
    size_t out_pos = 0;
    std::unique_ptr<ev::FdEvent> read_event;
    std::unique_ptr<ev::FdEvent> write_event;
    bool write_armed = false;
    bool read_done = false; // the client half-closed: finish, then close
    bool closed = false;
    bool authenticated = true;                      // false: a TCP client that must log in first
    std::string nonce;                              // the challenge it was given, "" = none
    size_t secret = 0;                              // which one it proves (m_tcp_secrets)
    std::unique_ptr<ev::Timer> login_timer;         // TCP clients that must log in
    std::unique_ptr<ev::Timer> failed_login;        // answers a failed login, late
    std::string host;                               // TCP: the peer's address, no port
    size_t in_flight = 0;                           // handlers that have not replied yet
    std::vector<std::shared_ptr<RetryEntry>> retry; // oldest first
};

struct ControlServer::PendingReply {
    std::weak_ptr<Connection> conn;
    Json id;
    std::string op;
    std::shared_ptr<RetryEntry> cached; // null: not cached
    bool done = false;
};

ControlServer::ControlServer(ev::Loop& loop, ControlServerOptions options)
    : m_loop(loop)
    , m_options(options)
    , m_accept_pause(loop, [this] {
        for (auto& l : m_listeners)
            if (l->fd)
                l->event->enable();
    }) {
    m_read_buf.resize(READ_CHUNK);
}

ControlServer::~ControlServer() {
    close();
    for (auto& [id, c] : m_conns) {
        c->closed = true;
        c->read_event->disable();
        c->write_event->disable();
        c->fd.reset();
    }
    m_conns.clear();
}

Status ControlServer::listen_unix(const std::string& path) {
    auto fd = net::unix_listen(path);
    if (!fd)
        return fd.error();
    auto l = std::make_unique<Listener>();
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0) {
        l->dev = st.st_dev;
        l->ino = st.st_ino;
    }
    l->fd = std::move(*fd);
    l->transport = PeerTransport::unix_socket;
    l->where = path;
    Listener* raw = l.get();
    l->event = std::make_unique<ev::FdEvent>(m_loop, l->fd.get(), EV_READ | EV_PERSIST,
                                             [this, raw](short) { on_accept(*raw); });
    l->event->enable();
    m_listeners.push_back(std::move(l));
    log::info("ctl", "listening", {{"transport", "unix"}, {"path", path}});
    return {};
}

Status ControlServer::listen_tcp(const SockAddr& addr) {
    auto fd = net::tcp_listen(addr);
    if (!fd)
        return fd.error();
    auto bound = net::local_address(fd->get());
    if (!bound)
        return make_error("io", "listen " + addr.str() + " (tcp): " + bound.error().message);
    auto l = std::make_unique<Listener>();
    l->fd = std::move(*fd);
    l->transport = PeerTransport::tcp;
    l->where = bound->str();
    l->addr = *bound;
    Listener* raw = l.get();
    l->event = std::make_unique<ev::FdEvent>(m_loop, l->fd.get(), EV_READ | EV_PERSIST,
                                             [this, raw](short) { on_accept(*raw); });
    l->event->enable();
    m_listeners.push_back(std::move(l));
    log::info("ctl", "listening", {{"transport", "tcp"}, {"address", bound->str()}});
    return {};
}

std::optional<SockAddr> ControlServer::tcp_address() const {
    for (const auto& l : m_listeners)
        if (l->addr)
            return l->addr;
    return std::nullopt;
}

void ControlServer::on(std::string op, Handler handler, OpOptions options) {
    RTFARM_ASSERT(handler);
    RTFARM_ASSERT(m_ops.find(op) == m_ops.end());
    m_ops.emplace(std::move(op), Op{std::move(handler), options});
}

void ControlServer::close() {
    m_accept_pause.stop();
    for (auto& l : m_listeners) {
        l->event->disable();
        l->fd.reset();
        if (l->transport == PeerTransport::unix_socket) {
            struct stat st {};
            if (::lstat(l->where.c_str(), &st) == 0 && st.st_dev == l->dev && st.st_ino == l->ino)
                ::unlink(l->where.c_str());
        }
        log::info("ctl", "stopped listening",
                  {{"transport", std::string(to_string(l->transport))}, {"address", l->where}});
    }
    // Never called from a listener's own callback (on_accept calls no handler).
    m_listeners.clear();
}

Json ControlServer::stats() const {
    Json requests = Json::object();
    for (const auto& [op, n] : m_counters.requests)
        requests.set(op.c_str(), static_cast<unsigned long>(n));
    Json errors = Json::object();
    for (const auto& [code, n] : m_counters.errors)
        errors.set(code.c_str(), static_cast<unsigned long>(n));
    Json results = Json::object();
    for (const auto& [op, by] : m_counters.results) {
        Json o = Json::object();
        for (const auto& [r, n] : by)
            o.set(r.c_str(), static_cast<unsigned long>(n));
        results.set(op.c_str(), std::move(o));
    }
    Json out = Json::object();
    out.set("clients", static_cast<unsigned long>(m_conns.size()));
    out.set("accepted", static_cast<unsigned long>(m_counters.accepted));
    out.set("rejected", static_cast<unsigned long>(m_counters.rejected));
    out.set("slow_readers", static_cast<unsigned long>(m_counters.slow_readers));
    out.set("retries", static_cast<unsigned long>(m_counters.retries));
    out.set("requests", std::move(requests));
    out.set("errors", std::move(errors));
    out.set("results", std::move(results));
    return out;
}

void ControlServer::pause_accepting() {
    for (auto& l : m_listeners)
        l->event->disable();
    m_accept_pause.start(ACCEPT_PAUSE);
}

void ControlServer::on_accept(Listener& l) {
    for (int i = 0; i < ACCEPTS_PER_WAKEUP; ++i) {
        int fd = ::accept4(l.fd.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            adopt(UniqueFd(fd), l.transport);
            continue;
        }
        int err = errno;
        if (err == EAGAIN || err == EWOULDBLOCK)
            return;
        if (err == EINTR || err == ECONNABORTED)
            continue;
        if (m_log_limit.allow(Clock::now()))
            log::warn("ctl", "accept failed",
                      {{"transport", std::string(to_string(l.transport))},
                       {"address", l.where},
                       {"err", std::strerror(err)}});
        if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM)
            pause_accepting();
        return;
    }
}

void ControlServer::adopt(UniqueFd fd, PeerTransport transport) {
    // TCP clients may not take the last slots: the local daemons and
    // cgclusterctl reach us on the Unix socket even when TCP is flooded.
    size_t reserve = std::max<size_t>(1, m_options.max_clients / 8);
    auto tcp =
        static_cast<size_t>(std::count_if(m_conns.begin(), m_conns.end(), [](const auto& kv) {
            return kv.second->peer.transport == PeerTransport::tcp;
        }));
    // One address holds a few places; strangers leave a quarter of the TCP
    // places to the members (their links carry events and media).
    std::optional<SockAddr> peer;
    if (transport == PeerTransport::tcp) {
        if (auto p = net::peer_address(fd.get()))
            peer = *p;
    }
    const std::string host = peer ? peer->unmapped().host() : "-";
    const size_t tcp_places = m_options.max_clients - std::min(reserve, m_options.max_clients);
    const bool member =
        std::find(m_member_hosts.begin(), m_member_hosts.end(), host) != m_member_hosts.end();
    const size_t same_host = transport != PeerTransport::tcp
                                 ? 0
                                 : static_cast<size_t>(std::count_if(
                                       m_conns.begin(), m_conns.end(),
                                       [&](const auto& kv) { return kv.second->host == host; }));
    if (m_conns.size() >= m_options.max_clients ||
        (transport == PeerTransport::tcp && tcp + reserve >= m_options.max_clients) ||
        (transport == PeerTransport::tcp && same_host >= m_options.max_per_address) ||
        (transport == PeerTransport::tcp && !member && !m_member_hosts.empty() &&
         tcp >= tcp_places - tcp_places / 4)) {
        ++m_counters.rejected;
        ++m_counters.errors[error_code::BUSY];
        std::string line = error_reply(Json::null(), error_code::BUSY,
                                       "too many control connections (limit " +
                                           std::to_string(m_options.max_clients) + ")");
        // Best effort: a fresh socket has room for one short line.
        [[maybe_unused]] auto n =
            ::send(fd.get(), line.data(), line.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (m_log_limit.allow(Clock::now()))
            log::warn("ctl", "connection refused: too many clients",
                      {{"transport", std::string(to_string(transport))},
                       {"limit", std::to_string(m_options.max_clients)}});
        return;
    }
    auto c = std::make_shared<Connection>();
    c->server = this;
    c->id = m_next_id++;
    c->fd = std::move(fd);
    c->peer.connection = c->id;
    c->peer.transport = transport;
    if (transport == PeerTransport::tcp) {
        c->peer.address = peer ? peer->str() : "-";
        c->host = host;
        c->authenticated = m_tcp_secrets.empty();
        if (!c->authenticated) {
            // Log in in time or go: an idle stranger holds no slot.
            std::weak_ptr<Connection> weak_c = c;
            c->login_timer = std::make_unique<ev::Timer>(m_loop, [this, weak_c] {
                auto s = weak_c.lock();
                if (s && !s->closed && !s->authenticated)
                    close_connection(s, "no login in time");
            });
            c->login_timer->start(m_options.login_deadline);
        }
    } else {
        ucred cred{};
        socklen_t len = sizeof cred;
        if (::getsockopt(c->fd.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
            c->peer.uid = static_cast<int>(cred.uid);
            c->peer.pid = static_cast<int>(cred.pid);
            c->peer.address = "pid=" + std::to_string(cred.pid);
        } else {
            c->peer.address = "unix";
        }
    }
    std::weak_ptr<Connection> weak = c;
    c->read_event = std::make_unique<ev::FdEvent>(m_loop, c->fd.get(), EV_READ | EV_PERSIST,
                                                  [this, weak](short) {
                                                      auto s = weak.lock();
                                                      if (s && !s->closed)
                                                          on_readable(s);
                                                  });
    c->write_event = std::make_unique<ev::FdEvent>(m_loop, c->fd.get(), EV_WRITE | EV_PERSIST,
                                                   [this, weak](short) {
                                                       auto s = weak.lock();
                                                       if (s && !s->closed)
                                                           on_writable(s);
                                                   });
    c->read_event->enable();
    ++m_counters.accepted;
    log::debug("ctl", "client connected",
               {{"conn", std::to_string(c->id)},
                {"transport", std::string(to_string(transport))},
                {"peer", c->peer.address}});
    m_conns.emplace(c->id, std::move(c));
}

void ControlServer::on_readable(const std::shared_ptr<Connection>& c) {
    ssize_t n = -1;
    for (int i = 0; i < EINTR_RETRIES; ++i) {
        n = ::read(c->fd.get(), m_read_buf.data(), m_read_buf.size());
        if (n >= 0 || errno != EINTR)
            break;
    }
    if (n == 0) {
        c->read_done = true;
        c->read_event->disable();
        finish_if_done(c);
        return;
    }
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return;
        close_connection(c, std::string("read failed: ") + std::strerror(errno));
        return;
    }
    c->framer.feed(std::string_view(m_read_buf.data(), size_t(n)));
    while (!c->closed) {
        auto frame = c->framer.next_line();
        if (!frame)
            break;
        if (frame->kind == LineFramer::Kind::oversize)
            send_error(c, Json::null(), error_code::LINE_TOO_LONG,
                       "line longer than " + std::to_string(c->framer.max_line()) +
                           " bytes: discarded");
        else
            on_line(c, frame->text);
    }
}

void ControlServer::on_writable(const std::shared_ptr<Connection>& c) {
    flush(c);
}

void ControlServer::on_line(const std::shared_ptr<Connection>& c, std::string_view line) {
    auto message = json::parse(line, "request");
    if (!message) {
        send_error(c, Json::null(), error_code::BAD_JSON, message.error().message);
        return;
    }
    auto req = to_request(*message);
    if (!req) {
        send_error(c, id_of(*message), error_code::BAD_REQUEST, req.error().message);
        return;
    }
    dispatch(c, std::move(req).value(), line);
}

bool ControlServer::login(const std::shared_ptr<Connection>& c, const Request& req) {
    if (req.op == "auth.challenge") {
        c->nonce = crypto::random_hex(16);
        Json reply = Json::object()
                         .set("nonce", c->nonce)
                         .set("mac", "hmac-sha256")
                         .set("needed", !c->authenticated);
        c->secret = auth_pick_secret(m_tcp_secrets, req.body["keys"]);
        if (!m_tcp_secrets.empty())
            reply.set("key", crypto::key_id(m_tcp_secrets[c->secret]));
        // The client's own challenge: we prove the secret first.
        auto client_nonce = req.body["client_nonce"].as_string();
        if (client_nonce && !client_nonce->empty() && client_nonce->size() <= 128 &&
            !m_tcp_secrets.empty())
            reply.set("proof",
                      auth_server_proof(m_tcp_secrets[c->secret], *client_nonce, c->nonce));
        send(c, ok_reply(req.id, std::move(reply)));
        return true;
    }
    if (req.op != "auth")
        return false;
    auto mac = req.body["mac"].as_string();
    bool ok = !c->nonce.empty() && mac && c->secret < m_tcp_secrets.size() &&
              crypto::equal_constant_time(*mac, auth_mac(m_tcp_secrets[c->secret], c->nonce));
    c->nonce.clear(); // one attempt per challenge
    if (m_tcp_secrets.empty() && c->peer.transport == PeerTransport::tcp) {
        c->authenticated = true; // the secret went at a reload: TCP is open
        send(c, ok_reply(req.id, Json::object().set("authenticated", true)));
        return true;
    }
    if (!ok) {
        if (m_log_limit.allow(Clock::now()))
            log::warn("ctl", "control login failed",
                      {{"conn", std::to_string(c->id)}, {"peer", c->peer.address}});
        // Answered late: guessing costs a second a try.
        std::weak_ptr<Connection> weak = c;
        c->failed_login = std::make_unique<ev::Timer>(m_loop, [this, weak, id = req.id] {
            auto s = weak.lock();
            if (s && !s->closed)
                send_error(s, id, error_code::UNAUTHENTICATED,
                           "login failed: \"mac\" must be the hex HMAC-SHA256 of the nonce of "
                           "the last auth.challenge under the cluster secret");
        });
        c->failed_login->start(FAILED_LOGIN_DELAY);
        return true;
    }
    c->authenticated = true;
    if (c->login_timer)
        c->login_timer->stop();
    log::info("ctl", "control login", {{"conn", std::to_string(c->id)}, {"peer", c->peer.address}});
    send(c, ok_reply(req.id, Json::object().set("authenticated", true)));
    return true;
}

bool ControlServer::push(uint64_t connection, const Json& message) {
    auto it = m_conns.find(connection);
    if (it == m_conns.end() || it->second->closed)
        return false;
    auto c = it->second;
    send(c, message.dump() + "\n");
    return !c->closed;
}

void ControlServer::dispatch(const std::shared_ptr<Connection>& c, Request req,
                             std::string_view line) {
    if (login(c, req))
        return;
    if (!c->authenticated) {
        send_error(c, req.id, error_code::UNAUTHENTICATED,
                   "this control port needs the cluster secret: log in first (ops "
                   "auth.challenge, then auth with the MAC of the nonce)");
        return;
    }
    auto it = m_ops.find(req.op);
    if (it == m_ops.end()) {
        send_error(c, req.id, error_code::UNKNOWN_OP, "unknown op '" + short_op(req.op) + "'");
        return;
    }
    ++m_counters.requests[req.op];
    const Op& op = it->second;

    std::shared_ptr<RetryEntry> entry;
    if (op.options.retry_cache && !json_is_null(req.id.get()) && m_options.retry_entries > 0) {
        auto now = Clock::now();
        std::erase_if(c->retry, [&](const std::shared_ptr<RetryEntry>& e) {
            return e->reply && now - e->at > m_options.retry_ttl;
        });
        for (auto& e : c->retry) {
            if (e->request != line)
                continue;
            ++m_counters.retries;
            log::debug("ctl", "retry answered from cache",
                       {{"conn", std::to_string(c->id)}, {"op", req.op}, {"id", req.id.dump()}});
            if (e->reply)
                send(c, *e->reply);
            else
                ++e->waiting;
            return;
        }
        if (c->retry.size() >= m_options.retry_entries) {
            // Make room by forgetting the oldest answered request; one still
            // pending stays, or its retries would never be answered.
            auto answered = std::find_if(c->retry.begin(), c->retry.end(),
                                         [](const auto& e) { return e->reply.has_value(); });
            if (answered == c->retry.end()) {
                send_error(c, req.id, error_code::BUSY,
                           "too many requests pending on this connection (limit " +
                               std::to_string(m_options.retry_entries) + ")");
                return;
            }
            c->retry.erase(answered);
        }
        entry = std::make_shared<RetryEntry>();
        entry->request = std::string(line);
        c->retry.push_back(entry);
    }

    ++c->in_flight;
    auto pending = std::make_shared<PendingReply>();
    pending->conn = c;
    pending->id = req.id;
    pending->op = req.op;
    pending->cached = std::move(entry);
    Reply reply = [pending](Result<Json> result) {
        if (pending->done)
            return;
        pending->done = true;
        auto conn = pending->conn.lock();
        if (!conn || conn->closed)
            return;
        conn->server->deliver(*pending, std::move(result));
    };
    try {
        op.handler(req, c->peer, reply);
    } catch (const std::exception& e) {
        log::error("ctl", "handler threw", {{"op", req.op}, {"err", e.what()}});
        reply(make_error(error_code::INTERNAL, "op '" + req.op + "' failed: " + e.what()));
    } catch (...) {
        log::error("ctl", "handler threw", {{"op", req.op}, {"err", "unknown exception"}});
        reply(make_error(error_code::INTERNAL, "op '" + req.op + "' failed"));
    }
}

void ControlServer::deliver(PendingReply& pending, Result<Json> result) {
    auto c = pending.conn.lock();
    RTFARM_ASSERT(c && !c->closed && c->in_flight > 0);
    --c->in_flight;
    std::string text;
    auto& by_result = m_counters.results[pending.op];
    if (result) {
        ++by_result["ok"];
        text = ok_reply(pending.id, std::move(result).value());
    } else {
        ++by_result[result.error().code];
        ++m_counters.errors[result.error().code];
        text = error_reply(pending.id, result.error().code, result.error().message);
    }
    // The original and the retries that came while it was pending.
    size_t copies = 1;
    if (pending.cached) {
        pending.cached->reply = text;
        pending.cached->at = Clock::now();
        copies += std::exchange(pending.cached->waiting, 0);
    }
    for (size_t i = 0; i < copies && !c->closed; ++i)
        send(c, text);
    finish_if_done(c);
}

void ControlServer::send_error(const std::shared_ptr<Connection>& c, const Json& id,
                               const char* code, const std::string& message) {
    ++m_counters.errors[code];
    log::debug("ctl", "request refused",
               {{"conn", std::to_string(c->id)}, {"code", code}, {"err", message}});
    send(c, error_reply(id, code, message));
}

void ControlServer::send(const std::shared_ptr<Connection>& c, const std::string& text) {
    if (c->closed)
        return;
    // Output already waiting means the client is behind; one reply of any
    // size is accepted on an idle connection.
    size_t waiting = c->out.size() - c->out_pos;
    if (waiting > 0 && waiting + text.size() > m_options.max_output) {
        ++m_counters.slow_readers;
        if (m_log_limit.allow(Clock::now()))
            log::warn("ctl", "client not reading: disconnected",
                      {{"conn", std::to_string(c->id)},
                       {"peer", c->peer.address},
                       {"pending_bytes", std::to_string(waiting + text.size())},
                       {"limit", std::to_string(m_options.max_output)}});
        close_connection(c, "pending output over the limit");
        return;
    }
    if (c->out_pos > 0 && c->out_pos == c->out.size()) {
        c->out.clear();
        c->out_pos = 0;
    }
    c->out += text;
    if (!c->write_armed)
        flush(c);
}

void ControlServer::flush(const std::shared_ptr<Connection>& c) {
    int interrupts = 0;
    while (c->out_pos < c->out.size()) {
        ssize_t n = ::send(c->fd.get(), c->out.data() + c->out_pos, c->out.size() - c->out_pos,
                           MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            c->out_pos += size_t(n);
            continue;
        }
        if (n < 0 && errno == EINTR && ++interrupts < EINTR_RETRIES)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (c->out_pos > c->out.size() / 2) {
                c->out.erase(0, c->out_pos);
                c->out_pos = 0;
            }
            if (!c->write_armed) {
                c->write_armed = true;
                c->write_event->enable();
            }
            return;
        }
        close_connection(c, std::string("write failed: ") +
                                (n < 0 ? std::strerror(errno) : "no progress"));
        return;
    }
    c->out.clear();
    c->out_pos = 0;
    if (c->write_armed) {
        c->write_armed = false;
        c->write_event->disable();
    }
    finish_if_done(c);
}

void ControlServer::finish_if_done(const std::shared_ptr<Connection>& c) {
    if (!c->closed && c->read_done && c->in_flight == 0 && c->out_pos == c->out.size())
        close_connection(c, "client closed");
}

void ControlServer::close_connection(std::shared_ptr<Connection> c, const std::string& reason) {
    // `c` is a copy: the caller's may be the map's own, erased below.
    if (c->closed)
        return;
    c->closed = true;
    c->read_event->disable();
    c->write_event->disable();
    c->fd.reset();
    m_conns.erase(c->id);
    if (m_on_disconnect)
        m_on_disconnect(c->id);
    log::debug("ctl", "client gone",
               {{"conn", std::to_string(c->id)}, {"peer", c->peer.address}, {"reason", reason}});
    // Freed after the current callback returns: it may be this connection's.
    m_loop.defer([c] {});
}

} // namespace rtfarm::control
