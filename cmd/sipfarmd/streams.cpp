#include "streams.hpp"

#include "net/socket.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <cstring>

namespace rtfarm::sipfarmd {

namespace {

constexpr std::string_view PONG = "\r\n";
constexpr std::chrono::seconds SWEEP_PERIOD{1};

} // namespace

StreamSet::StreamSet(ev::Loop& loop, OnMessage on_message)
    : m_loop(loop)
    , m_on_message(std::move(on_message)) {
}

Result<std::unique_ptr<StreamSet::Listener>> StreamSet::listen_on(const net::SockAddr& addr) {
    auto fd = net::tcp_listen(addr, 512);
    if (!fd)
        return fd.error();
    auto l = std::make_unique<Listener>();
    l->addr = addr;
    l->fd = std::move(fd.value());
    Listener* raw = l.get();
    l->event = std::make_unique<ev::FdEvent>(m_loop, l->fd.get(), EV_READ | EV_PERSIST,
                                             [this, raw](short) { on_accept(*raw); });
    l->event->enable();
    log::info("farm", "listening", {{"kind", "sip_tcp"}, {"addr", addr.str()}});
    return l;
}

Status StreamSet::apply(const std::vector<net::SockAddr>& listen, const StreamSettings& settings) {
    std::map<net::SockAddr, std::unique_ptr<Listener>> next;
    for (const auto& addr : listen) {
        if (next.count(addr))
            continue;
        if (m_listeners.count(addr)) {
            next.emplace(addr, nullptr); // kept: moved below once all are open
            continue;
        }
        auto l = listen_on(addr);
        if (!l)
            return l.error();
        next.emplace(addr, std::move(l.value()));
    }
    for (auto& [addr, l] : next)
        if (!l)
            l = std::move(m_listeners[addr]);
    for (auto& [addr, l] : m_listeners)
        if (l)
            log::info("farm", "closed", {{"kind", "sip_tcp"}, {"addr", addr.str()}});
    m_listeners = std::move(next);
    m_settings = settings;
    if (!m_sweep)
        m_sweep = std::make_unique<ev::Ticker>(m_loop, SWEEP_PERIOD, [this] { on_sweep(); });
    return {};
}

void StreamSet::on_accept(Listener& l) {
    for (int i = 0; i < ACCEPTS_PER_WAKEUP; ++i) {
        sockaddr_storage ss{};
        socklen_t len = sizeof ss;
        int fd = ::accept4(l.fd.get(), reinterpret_cast<sockaddr*>(&ss), &len,
                           SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
                errno != ECONNABORTED && m_log.allow(std::chrono::steady_clock::now()))
                log::warn("farm", "accept failed",
                          {{"addr", l.addr.str()}, {"err", std::strerror(errno)}});
            return;
        }
        UniqueFd owned(fd);
        if (m_conns.size() >= m_settings.max_connections) {
            ++m_refused;
            if (m_log.allow(std::chrono::steady_clock::now()))
                log::warn(
                    "farm", "connection refused: too many connections",
                    {{"addr", l.addr.str()}, {"max", std::to_string(m_settings.max_connections)}});
            continue; // closed by `owned`
        }
        auto peer = net::SockAddr::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
        auto local = net::local_address(fd);
        if (!peer || !local)
            continue;
        int one = 1;
        (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        auto c = std::make_unique<StreamConn>();
        c->id = m_next_id++;
        c->peer = peer->unmapped();
        c->local = local->unmapped();
        c->fd = std::move(owned);
        c->framer = sip::StreamFramer(m_settings.framing);
        c->last_read = std::chrono::steady_clock::now();
        StreamConn* raw = c.get();
        c->read_event = std::make_unique<ev::FdEvent>(m_loop, fd, EV_READ | EV_PERSIST,
                                                      [this, raw](short) { on_readable(*raw); });
        c->write_event = std::make_unique<ev::FdEvent>(m_loop, fd, EV_WRITE | EV_PERSIST,
                                                       [this, raw](short) { on_writable(*raw); });
        c->read_event->enable();
        ++l.accepted;
        ++m_accepted;
        log::debug(
            "farm", "connection",
            {{"conn", std::to_string(c->id)}, {"peer", c->peer.str()}, {"local", c->local.str()}});
        m_conns.emplace(c->id, std::move(c));
    }
}

void StreamSet::on_readable(StreamConn& c) {
    if (c.closed)
        return;
    static thread_local std::array<char, READ_CHUNK> buf;
    ssize_t n = ::recv(c.fd.get(), buf.data(), buf.size(), 0);
    if (n == 0) {
        close(c, "peer_closed");
        return;
    }
    if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            close(c, "read_error", std::strerror(errno));
        return;
    }
    auto now = std::chrono::steady_clock::now();
    m_bytes_in += static_cast<uint64_t>(n);
    c.last_read = now;
    c.framer.append(std::string_view(buf.data(), static_cast<size_t>(n)));
    // Everything complete in what was read: bounded by READ_CHUNK.
    while (!c.closed) {
        auto item = c.framer.next();
        if (!item) {
            ++m_framing_errors;
            close(c, "framing", item.error().message);
            return;
        }
        if (!*item)
            break;
        if ((*item)->kind == sip::StreamFramer::Kind::ping) {
            ++m_pings;
            send(c.id, PONG);
            continue;
        }
        ++c.messages_in;
        ++m_messages;
        m_on_message(c, (*item)->bytes);
    }
    if (c.closed)
        return;
    if (c.framer.pending() == 0) {
        c.partial = false;
    } else if (!c.partial) {
        c.partial = true;
        c.partial_since = now;
    }
}

bool StreamSet::send(uint64_t id, std::string_view bytes) {
    auto it = m_conns.find(id);
    if (it == m_conns.end() || it->second->closed)
        return false;
    StreamConn& c = *it->second;
    size_t done = 0;
    if (c.out.size() == c.out_pos) {
        ssize_t n = ::send(c.fd.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            close(c, "write_error", std::strerror(errno));
            return false;
        }
        done = n > 0 ? static_cast<size_t>(n) : 0;
        m_bytes_out += done;
    }
    if (done < bytes.size()) {
        if (c.out.size() - c.out_pos + bytes.size() - done > m_settings.max_output) {
            close(c, "output_full",
                  std::to_string(c.out.size() - c.out_pos) + " bytes waiting, limit " +
                      std::to_string(m_settings.max_output));
            return false;
        }
        if (c.out_pos == c.out.size()) {
            c.out.clear();
            c.out_pos = 0;
        }
        c.out.append(bytes.substr(done));
        c.write_event->enable();
    }
    ++c.messages_out;
    return true;
}

void StreamSet::on_writable(StreamConn& c) {
    if (c.closed)
        return;
    std::string_view rest = std::string_view(c.out).substr(c.out_pos);
    ssize_t n = ::send(c.fd.get(), rest.data(), rest.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            close(c, "write_error", std::strerror(errno));
        return;
    }
    m_bytes_out += static_cast<uint64_t>(n);
    c.out_pos += static_cast<size_t>(n);
    if (c.out_pos == c.out.size()) {
        c.out.clear();
        c.out_pos = 0;
        c.write_event->disable();
    }
}

bool StreamSet::open(uint64_t id) const {
    auto it = m_conns.find(id);
    return it != m_conns.end() && !it->second->closed;
}

void StreamSet::on_sweep() {
    auto now = std::chrono::steady_clock::now();
    std::vector<std::pair<StreamConn*, std::string_view>> expired;
    for (auto& [id, c] : m_conns) {
        if (now - c->last_read >= m_settings.idle)
            expired.emplace_back(c.get(), "idle");
        else if (c->partial && now - c->partial_since >= m_settings.read_timeout)
            expired.emplace_back(c.get(), "read_timeout");
    }
    for (auto& [c, reason] : expired)
        close(*c, reason);
}

void StreamSet::count_close(std::string_view reason) {
    auto it = m_closed.find(reason);
    if (it == m_closed.end())
        m_closed.emplace(std::string(reason), 1);
    else
        ++it->second;
}

void StreamSet::close(StreamConn& c, std::string_view reason, std::string_view detail) {
    if (c.closed)
        return;
    c.closed = true;
    c.read_event->disable();
    c.write_event->disable();
    c.fd.reset();
    count_close(reason);
    // Peers trigger these: rate-limited; a framing error is worth a warning.
    if (m_log.allow(std::chrono::steady_clock::now())) {
        log::Fields fields = {{"conn", std::to_string(c.id)},
                              {"peer", c.peer.str()},
                              {"reason", std::string(reason)},
                              {"detail", std::string(detail)},
                              {"messages_in", std::to_string(c.messages_in)}};
        if (reason == "framing")
            log::warn("farm", "connection closed", fields);
        else
            log::info("farm", "connection closed", fields);
    }
    auto it = m_conns.find(c.id);
    if (it == m_conns.end())
        return;
    m_dead.push_back(std::move(it->second));
    m_conns.erase(it);
    if (m_dead.size() == 1)
        m_loop.defer([this] { m_dead.clear(); });
}

json::Json StreamSet::stats() const {
    auto listeners = json::Json::array();
    for (const auto& [addr, l] : m_listeners)
        listeners.append(json::Json::object()
                             .set("listen", addr.str())
                             .set("accepted", static_cast<long long>(l->accepted)));
    auto closed = json::Json::object();
    for (const auto& [k, v] : m_closed)
        closed.set(k.c_str(), static_cast<long long>(v));
    return json::Json::object()
        .set("listeners", listeners)
        .set("connections", static_cast<long long>(m_conns.size()))
        .set("accepted", static_cast<long long>(m_accepted))
        .set("refused", static_cast<long long>(m_refused))
        .set("messages", static_cast<long long>(m_messages))
        .set("pings", static_cast<long long>(m_pings))
        .set("framing_errors", static_cast<long long>(m_framing_errors))
        .set("bytes_in", static_cast<long long>(m_bytes_in))
        .set("bytes_out", static_cast<long long>(m_bytes_out))
        .set("closed_by", closed);
}

} // namespace rtfarm::sipfarmd
