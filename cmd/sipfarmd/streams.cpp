#include "streams.hpp"

#include "net/socket.hpp"

#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509_vfy.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <memory>
#include <random>

namespace rtfarm::sipfarmd {

namespace {

constexpr std::string_view PONG = "\r\n";
constexpr std::chrono::seconds SWEEP_PERIOD{1};

} // namespace

StreamSet::StreamSet(ev::Loop& loop, OnMessage on_message, OnUndelivered on_undelivered)
    : m_loop(loop)
    , m_on_message(std::move(on_message))
    , m_on_undelivered(std::move(on_undelivered)) {
}

Result<std::unique_ptr<StreamSet::Listener>> StreamSet::listen_on(const SockAddr& addr) {
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
    return l;
}

Result<StreamSet::Plan> StreamSet::prepare(const std::vector<config::StreamListen>& listen,
                                           bool have_tls) {
    Plan plan;
    for (const auto& entry : listen) {
        const SockAddr& addr = entry.addr;
        if (plan.next.count(addr))
            continue;
        plan.is_tls[addr] = entry.transport == Transport::tls;
        if (plan.is_tls[addr] && !have_tls)
            return make_error("tls", "tls:" + addr.str() + ": no TLS context");
        if (m_listeners.count(addr)) {
            plan.next.emplace(addr, nullptr); // kept: moved in at commit()
            continue;
        }
        auto l = listen_on(addr);
        if (!l)
            return l.error(); // what this plan opened closes with it
        plan.next.emplace(addr, std::move(l.value()));
    }
    return plan;
}

void StreamSet::commit(Plan plan, const StreamSettings& settings, SslCtxPtr tls) {
    for (auto& [addr, l] : plan.next) {
        bool fresh = l != nullptr;
        if (!l)
            l = std::move(m_listeners[addr]);
        if (fresh || l->tls != plan.is_tls[addr])
            log::info("farm", "listening",
                      {{"kind", plan.is_tls[addr] ? "sip_tls" : "sip_tcp"}, {"addr", addr.str()}});
        l->tls = plan.is_tls[addr];
    }
    for (auto& [addr, l] : m_listeners)
        if (l)
            log::info("farm", "closed",
                      {{"kind", l->tls ? "sip_tls" : "sip_tcp"}, {"addr", addr.str()}});
    m_listeners = std::move(plan.next);
    m_settings = settings;
    m_tls = std::move(tls);
    if (!m_sweep)
        m_sweep = std::make_unique<ev::Ticker>(m_loop, SWEEP_PERIOD, [this] { on_sweep(); });
}

void StreamSet::on_accept(Listener& l) {
    for (int i = 0; i < ACCEPTS_PER_WAKEUP; ++i) {
        sockaddr_storage ss{};
        socklen_t len = sizeof ss;
        int fd = ::accept4(l.fd.get(), reinterpret_cast<sockaddr*>(&ss), &len,
                           SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            const int err = errno;
            if (err != EAGAIN && err != EWOULDBLOCK && err != EINTR && err != ECONNABORTED &&
                m_log.allow(std::chrono::steady_clock::now()))
                log::warn("farm", "accept failed",
                          {{"addr", l.addr.str()}, {"err", std::strerror(err)}});
            if (err == EMFILE || err == ENFILE) {
                // The connection stays queued and the listener readable: without
                // a pause the loop would spin on it.
                ++m_accept_paused;
                l.event->disable();
                if (!l.resume)
                    l.resume = std::make_unique<ev::Timer>(m_loop, [&l] { l.event->enable(); });
                l.resume->start(ACCEPT_PAUSE);
            }
            return;
        }
        UniqueFd owned(fd);
        if (m_conns.size() - m_outgoing.size() >= m_settings.max_connections) {
            ++m_refused;
            if (m_log.allow(std::chrono::steady_clock::now()))
                log::warn(
                    "farm", "connection refused: too many connections",
                    {{"addr", l.addr.str()}, {"max", std::to_string(m_settings.max_connections)}});
            continue; // closed by `owned`
        }
        auto peer = SockAddr::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
        auto local = net::local_address(fd);
        if (!peer || !local)
            continue;
        const std::string host = peer->unmapped().host();
        if (auto it = m_per_address.find(host);
            it != m_per_address.end() && it->second >= m_settings.max_per_address) {
            ++m_refused_address;
            if (m_log.allow(std::chrono::steady_clock::now()))
                log::warn("farm", "connection refused: too many from one address",
                          {{"addr", l.addr.str()},
                           {"peer", host},
                           {"max", std::to_string(m_settings.max_per_address)}});
            continue; // closed by `owned`
        }
        int one = 1;
        (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        SslPtr ssl;
        if (l.tls) {
            ERR_clear_error();
            ssl.reset(m_tls ? SSL_new(m_tls.get()) : nullptr);
            if (!ssl || SSL_set_fd(ssl.get(), fd) != 1) {
                if (m_log.allow(std::chrono::steady_clock::now()))
                    log::warn("farm", "connection refused: no TLS session",
                              {{"addr", l.addr.str()}, {"err", ssl_errors()}});
                continue;
            }
            SSL_set_accept_state(ssl.get());
        }
        auto c = std::make_unique<StreamConn>();
        c->id = new_id();
        c->peer = peer->unmapped();
        c->local = local->unmapped();
        c->fd = std::move(owned);
        c->handshaking = ssl != nullptr;
        c->ssl = std::move(ssl);
        ++m_per_address[host];
        watch(*c);
        c->read_event->enable();
        ++l.accepted;
        ++m_accepted;
        log::debug("farm", "connection",
                   {{"conn", std::to_string(c->id)},
                    {"peer", c->peer.str()},
                    {"local", c->local.str()},
                    {"transport", c->tls() ? "tls" : "tcp"}});
        m_conns.emplace(c->id, std::move(c));
    }
}

void StreamSet::watch(StreamConn& c) {
    c.framer = sip::StreamFramer(m_settings.framing);
    c.last_read = std::chrono::steady_clock::now();
    c.accepted_at = c.last_read;
    StreamConn* raw = &c;
    int fd = c.fd.get();
    c.read_event = std::make_unique<ev::FdEvent>(m_loop, fd, EV_READ | EV_PERSIST,
                                                 [this, raw](short) { on_readable(*raw); });
    c.write_event = std::make_unique<ev::FdEvent>(m_loop, fd, EV_WRITE | EV_PERSIST,
                                                  [this, raw](short) { on_writable(*raw); });
}

Result<uint64_t> StreamSet::connect(const StreamTarget& key) {
    const SockAddr& peer = key.to;
    const bool tls = key.transport == Transport::tls;
    if (auto it = m_outgoing.find(key); it != m_outgoing.end())
        return it->second;
    if (auto it = m_failed.find(key); it != m_failed.end()) {
        auto since = std::chrono::steady_clock::now() - it->second;
        if (since < m_settings.failed_target_hold) {
            ++m_held_back;
            return make_error(
                "recently_failed",
                "no connection to " + peer.str() + ": the last attempt failed " +
                    std::to_string(
                        std::chrono::duration_cast<std::chrono::milliseconds>(since).count()) +
                    " ms ago");
        }
        m_failed.erase(it);
    }
    if (m_outgoing.size() >= m_settings.max_outgoing) {
        ++m_connect_failures;
        return make_error("too_many", "no connection to " + peer.str() + ": " +
                                          std::to_string(m_outgoing.size()) +
                                          " outgoing connections open, the limit");
    }
    if (tls && !m_tls_client) {
        ++m_connect_failures;
        return make_error("no_tls", "no TLS client context for " + peer.str());
    }
    auto fd = net::tcp_connect(peer);
    if (!fd) {
        ++m_connect_failures;
        note_failed(key);
        return fd.error();
    }
    SslPtr ssl;
    if (tls) {
        ERR_clear_error();
        ssl.reset(SSL_new(m_tls_client.get()));
        // The server's certificate must name the address we connect to (no
        // DNS here: targets are IP literals).
        if (!ssl || SSL_set_fd(ssl.get(), fd->get()) != 1 ||
            X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl.get()), peer.host().c_str()) != 1) {
            ++m_connect_failures;
            return make_error("connect", "no TLS session for " + peer.str() + ": " + ssl_errors());
        }
        SSL_set_connect_state(ssl.get());
    }
    auto c = std::make_unique<StreamConn>();
    c->id = new_id();
    c->peer = peer;
    c->fd = std::move(fd.value());
    c->ssl = std::move(ssl);
    c->outgoing = true;
    c->connecting = true;
    watch(*c);
    // Writable when the connect is done, either way.
    c->write_event->enable();
    ++m_connects;
    log::debug("farm", "connecting",
               {{"conn", std::to_string(c->id)},
                {"peer", peer.str()},
                {"transport", tls ? "tls" : "tcp"}});
    uint64_t id = c->id;
    m_outgoing.emplace(key, id);
    m_conns.emplace(id, std::move(c));
    return id;
}

uint64_t StreamSet::new_id() const {
    for (;;) {
        uint64_t id = 0;
        if (RAND_bytes(reinterpret_cast<unsigned char*>(&id), sizeof id) != 1) {
            ERR_clear_error();
            std::random_device rd; // the kernel's, as OpenSSL's would have been
            id = (static_cast<uint64_t>(rd()) << 32) ^ rd();
        }
        // 63 bits: a JSON integer everywhere; never 0 (no connection).
        id &= 0x7fffffffffffffffULL;
        if (id != 0 && !m_conns.contains(id))
            return id;
    }
}

void StreamSet::note_failed(const StreamTarget& target) {
    auto now = std::chrono::steady_clock::now();
    if (m_failed.size() >= MAX_FAILED_TARGETS)
        std::erase_if(m_failed, [&](const auto& f) {
            return now - f.second >= m_settings.failed_target_hold;
        });
    if (m_failed.size() >= MAX_FAILED_TARGETS)
        m_failed.erase(m_failed.begin());
    m_failed[target] = now;
}

void StreamSet::connected(StreamConn& c) {
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(c.fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        err = errno;
    if (err != 0) {
        ++m_connect_failures;
        close(c, close_reason::CONNECT_FAILED, std::strerror(err));
        return;
    }
    c.connecting = false;
    if (auto local = net::local_address(c.fd.get()))
        c.local = local->unmapped();
    c.last_read = std::chrono::steady_clock::now();
    c.read_event->enable();
    if (c.ssl) {
        c.handshaking = true;
        handshake(c);
        return;
    }
    established(c);
}

void StreamSet::established(StreamConn& c) {
    log::debug("farm", "connected",
               {{"conn", std::to_string(c.id)},
                {"peer", c.peer.str()},
                {"local", c.local.str()},
                {"transport", c.tls() ? "tls" : "tcp"}});
    auto waiting = std::move(c.pending);
    c.pending.clear();
    for (auto& m : waiting) {
        c.out.append(m);
        ++c.messages_out;
    }
    flush(c);
}

StreamSet::IoResult StreamSet::read_some(StreamConn& c, char* buf, size_t size) {
    if (!c.ssl) {
        ssize_t n = ::recv(c.fd.get(), buf, size, 0);
        if (n > 0)
            return {Io::data, static_cast<size_t>(n), {}};
        if (n == 0)
            return {Io::eof, 0, {}};
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return {};
        return {Io::error, 0, std::strerror(errno), "read_error"};
    }
    ERR_clear_error();
    int n = SSL_read(c.ssl.get(), buf, static_cast<int>(size));
    if (n > 0)
        return {Io::data, static_cast<size_t>(n), {}};
    int err = SSL_get_error(c.ssl.get(), n);
    switch (err) {
    case SSL_ERROR_WANT_READ:
        return {};
    case SSL_ERROR_WANT_WRITE:
        c.read_wants_write = true;
        c.write_event->enable();
        return {};
    case SSL_ERROR_ZERO_RETURN:
        return {Io::eof, 0, {}};
    case SSL_ERROR_SYSCALL:
        if (errno == 0)
            return {Io::eof, 0, {}};
        return {Io::error, 0, std::strerror(errno), "read_error"};
    default:
        return {Io::error, 0, ssl_errors()};
    }
}

StreamSet::IoResult StreamSet::write_some(StreamConn& c, std::string_view bytes) {
    if (!c.ssl) {
        ssize_t n = ::send(c.fd.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n >= 0)
            return {Io::data, static_cast<size_t>(n), {}};
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return {};
        return {Io::error, 0, std::strerror(errno), "write_error"};
    }
    if (c.handshaking || bytes.empty())
        return {};
    ERR_clear_error();
    int n = SSL_write(c.ssl.get(), bytes.data(), static_cast<int>(bytes.size()));
    if (n > 0)
        return {Io::data, static_cast<size_t>(n), {}};
    switch (SSL_get_error(c.ssl.get(), n)) {
    case SSL_ERROR_WANT_WRITE:
        return {};
    case SSL_ERROR_WANT_READ:
        c.write_wants_read = true;
        return {};
    case SSL_ERROR_SYSCALL:
        return {Io::error, 0, errno ? std::strerror(errno) : "connection closed", "write_error"};
    default:
        return {Io::error, 0, ssl_errors()};
    }
}

void StreamSet::handshake(StreamConn& c) {
    ERR_clear_error();
    int r = SSL_do_handshake(c.ssl.get());
    if (r == 1) {
        c.handshaking = false;
        ++m_tls_handshakes;
        log::debug("farm", "tls handshake",
                   {{"conn", std::to_string(c.id)},
                    {"peer", c.peer.str()},
                    {"version", tls_version(c.ssl.get())},
                    {"cipher", SSL_get_cipher_name(c.ssl.get())}});
        if (c.outgoing)
            established(c);
        else
            flush(c);
        // Application data may have come with the handshake's last flight.
        if (!c.closed)
            on_readable(c);
        return;
    }
    int err = SSL_get_error(c.ssl.get(), r);
    if (err == SSL_ERROR_WANT_READ) {
        c.write_event->disable();
        return;
    }
    if (err == SSL_ERROR_WANT_WRITE) {
        c.write_event->enable();
        return;
    }
    std::string why = err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0
                          ? (errno ? std::string(std::strerror(errno))
                                   : std::string("peer closed during the handshake"))
                          : ssl_errors();
    ++m_tls_failures;
    close(c, close_reason::TLS_HANDSHAKE, why);
}

void StreamSet::on_readable(StreamConn& c) {
    if (c.closed)
        return;
    if (c.handshaking) {
        handshake(c);
        return;
    }
    if (c.write_wants_read) {
        c.write_wants_read = false;
        flush(c);
        if (c.closed)
            return;
    }
    static thread_local std::array<char, READ_CHUNK> buf;
    size_t total = 0;
    // Plain TCP: one recv. TLS: records until READ_CHUNK bytes or nothing
    // more to decrypt (the socket being readable says nothing about what
    // OpenSSL holds already).
    while (!c.closed && total < READ_CHUNK) {
        auto r = read_some(c, buf.data(), buf.size() - total);
        if (r.kind == Io::eof) {
            close(c, "peer_closed");
            return;
        }
        if (r.kind == Io::error) {
            close(c, r.reason, r.detail);
            return;
        }
        if (r.kind == Io::again)
            break;
        total += r.n;
        deliver(c, std::string_view(buf.data(), r.n));
        if (!c.ssl)
            break;
    }
    if (!c.closed && c.ssl && SSL_has_pending(c.ssl.get())) {
        uint64_t id = c.id;
        m_loop.defer([this, id] {
            auto it = m_conns.find(id);
            if (it != m_conns.end())
                on_readable(*it->second);
        });
    }
}

void StreamSet::deliver(StreamConn& c, std::string_view bytes) {
    auto now = std::chrono::steady_clock::now();
    m_bytes_in += bytes.size();
    c.bytes_in += bytes.size();
    c.last_read = now;
    c.framer.append(bytes);
    // Everything complete in what was read: bounded by READ_CHUNK.
    while (!c.closed) {
        auto item = c.framer.next();
        if (!item) {
            ++m_framing_errors;
            close(c, close_reason::FRAMING, item.error().message);
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
    if (c.outgoing && (c.connecting || c.handshaking)) {
        size_t waiting = bytes.size();
        for (const auto& m : c.pending)
            waiting += m.size();
        if (waiting > m_settings.max_output)
            return false; // this one only: the connection may still come up
        c.pending.emplace_back(bytes);
        return true;
    }
    size_t done = 0;
    if (c.out.size() == c.out_pos) {
        auto r = write_some(c, bytes);
        if (r.kind == Io::error) {
            close(c, r.reason, r.detail);
            return false;
        }
        done = r.n;
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
        // A handshake in progress or a write waiting for a read drive it.
        if (!c.handshaking && !c.write_wants_read)
            c.write_event->enable();
    }
    ++c.messages_out;
    return true;
}

void StreamSet::flush(StreamConn& c) {
    if (c.out_pos == c.out.size()) {
        c.out.clear();
        c.out_pos = 0;
        if (!c.read_wants_write)
            c.write_event->disable();
        return;
    }
    auto r = write_some(c, std::string_view(c.out).substr(c.out_pos));
    if (r.kind == Io::error) {
        close(c, r.reason, r.detail);
        return;
    }
    m_bytes_out += r.n;
    c.out_pos += r.n;
    if (c.out_pos == c.out.size()) {
        c.out.clear();
        c.out_pos = 0;
    }
    bool more = c.out_pos < c.out.size() && !c.write_wants_read;
    if (more || c.read_wants_write)
        c.write_event->enable();
    else
        c.write_event->disable();
}

void StreamSet::on_writable(StreamConn& c) {
    if (c.closed)
        return;
    if (c.connecting) {
        connected(c);
        return;
    }
    if (c.handshaking) {
        handshake(c);
        return;
    }
    if (c.read_wants_write) {
        c.read_wants_write = false;
        on_readable(c);
        if (c.closed)
            return;
    }
    flush(c);
}

bool StreamSet::open(uint64_t id) const {
    auto it = m_conns.find(id);
    return it != m_conns.end() && !it->second->closed;
}

std::optional<StreamTarget> StreamSet::closed_outgoing(uint64_t id) const {
    auto it = m_closed_outgoing.find(id);
    if (it == m_closed_outgoing.end())
        return std::nullopt;
    return it->second;
}

bool StreamSet::tls(uint64_t id) const {
    auto it = m_conns.find(id);
    return it != m_conns.end() && !it->second->closed && it->second->tls();
}

void StreamSet::on_sweep() {
    auto now = std::chrono::steady_clock::now();
    std::vector<std::pair<StreamConn*, std::string_view>> expired;
    for (auto& [id, c] : m_conns) {
        if (c->connecting && now - c->accepted_at >= m_settings.handshake_timeout)
            expired.emplace_back(c.get(), close_reason::CONNECT_TIMEOUT);
        else if (c->handshaking && now - c->accepted_at >= m_settings.handshake_timeout)
            expired.emplace_back(c.get(), close_reason::TLS_HANDSHAKE_TIMEOUT);
        else if (now - c->last_read >= m_settings.idle)
            expired.emplace_back(c.get(), "idle");
        else if (!c->outgoing && c->messages_in == 0 &&
                 now - c->accepted_at >= m_settings.first_message)
            expired.emplace_back(c.get(), "no_first_message");
        else if (c->partial && now - c->partial_since >= m_settings.read_timeout)
            expired.emplace_back(c.get(), "read_timeout");
    }
    for (auto& [c, reason] : expired) {
        if (reason == close_reason::TLS_HANDSHAKE_TIMEOUT)
            ++m_tls_failures;
        if (reason == close_reason::CONNECT_TIMEOUT)
            ++m_connect_failures;
        close(*c, reason);
    }
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
    if (c.ssl && !c.handshaking && !reason.ends_with("_error")) {
        // A close_notify when the socket takes it; no waiting for the peer's.
        ERR_clear_error();
        (void)SSL_shutdown(c.ssl.get());
        ERR_clear_error();
    }
    c.fd.reset();
    count_close(reason);
    if (!c.outgoing) {
        auto it = m_per_address.find(c.peer.host());
        if (it != m_per_address.end() && --it->second == 0)
            m_per_address.erase(it);
    }
    if (c.outgoing) {
        StreamTarget target{c.peer, c.tls() ? Transport::tls : Transport::tcp};
        m_outgoing.erase(target);
        // Closed before it was up, or by an error before the target said a
        // word (a TLS 1.3 server refusing our certificate alerts after our
        // side of the handshake is done; a server that resets what it
        // accepted): the target is not tried again at once. Closed after,
        // or cleanly: messages that name it may go on a new one.
        bool refused = c.bytes_in == 0 && reason.ends_with("_error");
        if (c.connecting || c.handshaking || refused) {
            note_failed(target);
        } else {
            m_closed_outgoing[c.id] = target;
            m_closed_order.push_back(c.id);
            if (m_closed_order.size() > MAX_CLOSED_OUTGOING) {
                m_closed_outgoing.erase(m_closed_order.front());
                m_closed_order.pop_front();
            }
        }
    }
    if (!c.pending.empty()) {
        // Never sent: the farm answers the requests among them, from the
        // loop (not from inside whoever is closing us).
        m_undelivered += c.pending.size();
        auto waiting = std::make_shared<std::vector<std::string>>(std::move(c.pending));
        c.pending.clear();
        if (m_on_undelivered)
            m_loop.defer([this, waiting] {
                for (const auto& m : *waiting)
                    m_on_undelivered(m);
            });
    }
    // Peers trigger these: rate-limited; a framing error is worth a warning.
    if (m_log.allow(std::chrono::steady_clock::now())) {
        log::Fields fields = {{"conn", std::to_string(c.id)},
                              {"peer", c.peer.str()},
                              {"reason", std::string(reason)},
                              {"detail", std::string(detail)},
                              {"messages_in", std::to_string(c.messages_in)},
                              {"direction", c.outgoing ? "out" : "in"}};
        if (reason == close_reason::FRAMING || reason == close_reason::TLS_HANDSHAKE ||
            reason == close_reason::CONNECT_FAILED || reason == close_reason::CONNECT_TIMEOUT)
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
                             .set("transport", l->tls ? "tls" : "tcp")
                             .set("accepted", static_cast<long long>(l->accepted)));
    auto closed = json::Json::object();
    for (const auto& [k, v] : m_closed)
        closed.set(k.c_str(), static_cast<long long>(v));
    return json::Json::object()
        .set("listeners", listeners)
        .set("connections", static_cast<long long>(m_conns.size()))
        .set("outgoing", static_cast<long long>(m_outgoing.size()))
        .set("accepted", static_cast<long long>(m_accepted))
        .set("connects", static_cast<long long>(m_connects))
        .set("connect_failures", static_cast<long long>(m_connect_failures))
        .set("undelivered", static_cast<long long>(m_undelivered))
        .set("held_back", static_cast<long long>(m_held_back))
        .set("refused", static_cast<long long>(m_refused))
        .set("refused_per_address", static_cast<long long>(m_refused_address))
        .set("max_per_address", static_cast<long long>(m_settings.max_per_address))
        .set("addresses", static_cast<long long>(m_per_address.size()))
        .set("accept_paused", static_cast<long long>(m_accept_paused))
        .set("messages", static_cast<long long>(m_messages))
        .set("pings", static_cast<long long>(m_pings))
        .set("framing_errors", static_cast<long long>(m_framing_errors))
        .set("bytes_in", static_cast<long long>(m_bytes_in))
        .set("bytes_out", static_cast<long long>(m_bytes_out))
        .set("tls", json::Json::object()
                        .set("handshakes", static_cast<long long>(m_tls_handshakes))
                        .set("handshake_failures", static_cast<long long>(m_tls_failures)))
        .set("closed_by", closed);
}

} // namespace rtfarm::sipfarmd
