#include "sockets.hpp"

#include "base/log.hpp"
#include "net/socket.hpp"

namespace rtfarm::sipfarmd {

namespace {

const char* kind_name(SocketKind k) {
    return k == SocketKind::sip ? "sip" : "farm_link";
}

} // namespace

std::vector<FarmService::Key> FarmService::wanted(const config::ClusterConfig& cfg,
                                                  const config::MemberConfig& me) {
    std::vector<Key> keys;
    for (const auto& a : me.sip_listen)
        keys.emplace_back(SocketKind::sip, a);
    net::SockAddr link = me.address;
    link.set_port(cfg.cluster.farm_port);
    keys.emplace_back(SocketKind::farm_link, link);
    return keys;
}

Result<std::unique_ptr<FarmService::Socket>> FarmService::open(const Key& key) {
    net::UdpOptions opts;
    opts.recv_pktinfo = true;
    // A VIP socket and a wildcard socket on the same port (DSR) need it.
    opts.reuse_addr = true;
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

Status FarmService::start(const config::ClusterConfig& cfg, const config::MemberConfig& me) {
    return reload(cfg, me);
}

Status FarmService::reload(const config::ClusterConfig& cfg, const config::MemberConfig& me) {
    // Open every new socket before touching the old set, so that a failure
    // leaves the running set as it was.
    SocketMap next;
    for (const auto& key : wanted(cfg, me)) {
        if (next.count(key))
            continue;
        if (auto it = m_sockets.find(key); it != m_sockets.end()) {
            next.emplace(key, nullptr); // kept: moved below once all opened
            continue;
        }
        auto s = open(key);
        if (!s)
            return s.error();
        next.emplace(key, std::move(s.value()));
    }
    for (auto& [key, s] : next)
        if (!s)
            s = std::move(m_sockets[key]);
    for (auto& [key, s] : m_sockets)
        if (s)
            log::info("farm", "closed",
                      {{"kind", kind_name(key.first)}, {"addr", key.second.str()}});
    m_sockets = std::move(next);
    return {};
}

void FarmService::on_readable(Socket& s) {
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
        if (d.truncated)
            ++s.truncated;
        log::debug("farm", "datagram",
                   {{"on", s.addr.str()},
                    {"from", d.source.str()},
                    {"to", d.destination.str()},
                    {"len", std::to_string(d.bytes.size())}});
    }
}

json::Json FarmService::stats() const {
    auto sockets = json::Json::array();
    for (const auto& [key, s] : m_sockets) {
        sockets.append(json::Json::object()
                           .set("kind", kind_name(key.first))
                           .set("listen", key.second.str())
                           .set("packets", static_cast<long long>(s->packets))
                           .set("bytes", static_cast<long long>(s->bytes))
                           .set("truncated", static_cast<long long>(s->truncated))
                           .set("errors", static_cast<long long>(s->errors)));
    }
    return json::Json::object().set("sockets", std::move(sockets));
}

} // namespace rtfarm::sipfarmd
