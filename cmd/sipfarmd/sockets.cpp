#include "sockets.hpp"

#include "base/log.hpp"
#include "net/socket.hpp"
#include "json/json.hpp"

namespace rtfarm::sipfarmd {

const char* kind_name(SocketKind k) {
    switch (k) {
    case SocketKind::sip:
        return "sip";
    case SocketKind::farm_link:
        return "farm_link";
    case SocketKind::inner:
        return "inner";
    }
    return "?";
}

Result<std::unique_ptr<Socket>> SocketSet::open(const Key& key) {
    net::UdpOptions opts;
    opts.recv_pktinfo = true;
    // A VIP socket and a wildcard socket on the same port (DSR) need it.
    opts.reuse_addr = true;
    opts.rcvbuf = 4 << 20;
    opts.sndbuf = 4 << 20;
    auto fd = net::udp_bind(key.second, opts);
    if (!fd)
        return fd.error();
    auto s = std::make_unique<Socket>();
    s->kind = key.first;
    s->addr = key.second;
    s->fd = std::move(fd.value());
    Socket* raw = s.get();
    s->event = std::make_unique<ev::FdEvent>(m_loop, s->fd.get(), EV_READ | EV_PERSIST,
                                             [this, raw](short) { on_readable(*raw); });
    s->event->enable();
    log::info("farm", "listening", {{"kind", kind_name(key.first)}, {"addr", key.second.str()}});
    return s;
}

Result<SocketSet::Plan> SocketSet::prepare(const std::vector<Key>& keys) {
    Plan plan;
    for (const auto& key : keys) {
        if (plan.next.count(key))
            continue;
        if (m_sockets.count(key)) {
            plan.next.emplace(key, nullptr); // kept: moved in at commit()
            continue;
        }
        auto s = open(key);
        if (!s)
            return s.error(); // what this plan opened closes with it
        plan.next.emplace(key, std::move(s.value()));
    }
    return plan;
}

void SocketSet::commit(Plan plan) {
    for (auto& [key, s] : plan.next)
        if (!s)
            s = std::move(m_sockets[key]);
    for (auto& [key, s] : m_sockets)
        if (s)
            log::info("farm", "closed",
                      {{"kind", kind_name(key.first)}, {"addr", key.second.str()}});
    m_sockets = std::move(plan.next);
}

Socket* SocketSet::find(SocketKind kind, const SockAddr& addr) {
    auto it = m_sockets.find({kind, addr});
    return it == m_sockets.end() ? nullptr : it->second.get();
}

Socket* SocketSet::first(SocketKind kind, int family) {
    for (auto& [key, s] : m_sockets)
        if (key.first == kind && key.second.family() == family)
            return s.get();
    return nullptr;
}

void SocketSet::on_readable(Socket& s) {
    // One batch per wakeup; the loop calls again while data is queued.
    auto got = m_receiver.receive(s.fd.get(), s.addr.port());
    if (!got) {
        ++s.errors;
        log::warn("farm", "receive failed", {{"addr", s.addr.str()}, {"err", got.error().message}});
        return;
    }
    for (const auto& d : *got) {
        ++s.packets;
        s.bytes += d.bytes.size();
        if (d.truncated) {
            ++s.truncated;
            continue;
        }
        m_on_datagram(s, d);
    }
}

json::Json SocketSet::stats() const {
    auto sockets = json::Json::array();
    for (const auto& [key, s] : m_sockets)
        sockets.append(json::Json::object()
                           .set("kind", kind_name(key.first))
                           .set("listen", key.second.str())
                           .set("packets", static_cast<long long>(s->packets))
                           .set("bytes", static_cast<long long>(s->bytes))
                           .set("truncated", static_cast<long long>(s->truncated))
                           .set("errors", static_cast<long long>(s->errors)));
    return sockets;
}

} // namespace rtfarm::sipfarmd
