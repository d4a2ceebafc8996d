#include "egress.hpp"

#include "net/socket.hpp"

namespace rtfarm::sipfarmd {

void FarmCounters::count(ByName& m, std::string_view key) {
    auto it = m.find(key);
    if (it == m.end())
        m.emplace(std::string(key), 1);
    else
        ++it->second;
}

uint64_t FarmCounters::relayed() const {
    uint64_t n = 0;
    for (const auto& [member, v] : relayed_out)
        n += v;
    return n;
}

uint64_t FarmCounters::dropped_total() const {
    uint64_t n = 0;
    for (const auto& [reason, v] : dropped)
        n += v;
    return n;
}

void FarmCounters::add_to(json::Json& stats) const {
    auto by = [](const ByName& m) {
        auto o = json::Json::object();
        for (const auto& [k, v] : m)
            o.set(k.c_str(), static_cast<long long>(v));
        return o;
    };
    auto n = [](uint64_t v) {
        return static_cast<long long>(v);
    };
    auto by_transport = json::Json::object();
    for (size_t i = 0; i < relayed_by.size(); ++i)
        if (relayed_by[i])
            by_transport.set(std::string(to_string(static_cast<Transport>(i))).c_str(),
                             n(relayed_by[i]));
    auto routed_by = json::Json::object();
    for (const auto& r : sip::REASONS)
        if (uint64_t v = routed[static_cast<size_t>(r.reason)])
            routed_by.set(std::string(r.name).c_str(), n(v));
    if (outbound_for_relay)
        routed_by.set("outbound_for_relay", n(outbound_for_relay));
    stats.set("received", n(received))
        .set("processed", n(processed))
        .set("relayed", n(relayed()))
        .set("relayed_in", n(relayed_in))
        .set("to_processor", n(to_processor))
        .set("to_outside", n(to_outside))
        .set("replies", n(replies))
        .set("heartbeats_in", n(heartbeats_in))
        .set("heartbeats_out", n(heartbeats_out))
        .set("dropped", n(dropped_total()))
        .set("to_connection", n(to_connection))
        .set("to_target_connection", n(to_target_connection))
        .set("redialed", n(redialed))
        .set("to_holder", n(to_holder))
        .set("conn_gone", n(conn_gone))
        .set("conn_gone_replies", n(conn_gone_replies))
        .set("relayed_by_transport", std::move(by_transport))
        .set("relayed_to", by(relayed_out))
        .set("routed_by", std::move(routed_by))
        .set("dropped_by", by(dropped));
}

Egress::Egress(SocketSet& sockets, StreamSet& streams, const cluster::FarmSettings& settings,
               const std::string& self, FarmCounters& counters)
    : m_sockets(sockets)
    , m_streams(streams)
    , m_settings(settings)
    , m_self(self)
    , m_counters(counters) {
}

std::string_view Egress::signing_secret() const {
    const cluster::FarmKey* k = m_settings.keys.signing();
    return k ? std::string_view(k->secret) : std::string_view();
}

Status Egress::to_member(const std::string& member, sip::FarmEnvelope env,
                         std::string_view payload) {
    auto peer = m_settings.peers.find(member);
    Socket* link = m_sockets.first(SocketKind::farm_link, m_settings.farm_link.family());
    if (peer == m_settings.peers.end() || !link || peer->second.family() != link->addr.family())
        return make_error(egress_error::NO_FARM_LINK, member);
    // Numbered for that member only: under the MAC, a captured packet can
    // be neither replayed nor sent to another member.
    env.to = member;
    env.incarnation = m_incarnation;
    env.sequence = ++m_sequence;
    std::string wire = sip::encode_farm_packet(env, payload, signing_secret());
    if (auto st = net::send_datagram(link->fd.get(), wire, peer->second); !st)
        return make_error(egress_error::RELAY_SEND_FAILED, st.error().message);
    if (!(env.flags & sip::FARM_FLAG_HEARTBEAT)) {
        FarmCounters::count(m_counters.relayed_out, member);
        ++m_counters.relayed_by[static_cast<size_t>(env.transport)];
    }
    return {};
}

Egress::Sent Egress::send(const sip::Outgoing& out) {
    switch (sip::send_path(out, m_self, m_settings.processor)) {
    case sip::SendPath::processor:
        return to_processor(out);
    case sip::SendPath::datagram:
        return to_address(out);
    case sip::SendPath::target_connection:
        return to_target(out);
    case sip::SendPath::connection_here:
        return to_connection(out.conn->id, out.bytes);
    case sip::SendPath::holder:
        return to_holder(out);
    }
    return Sent::dropped;
}

Egress::Sent Egress::to_processor(const sip::Outgoing& out) {
    Socket* s = m_sockets.find(SocketKind::inner, m_settings.inner);
    if (!s)
        s = m_sockets.find(SocketKind::sip, m_settings.inner);
    if (!s) {
        auto wildcard = SockAddr::parse_host(m_settings.inner.is_v6() ? "::" : "0.0.0.0",
                                             m_settings.inner.port());
        if (wildcard)
            s = m_sockets.find(SocketKind::sip, *wildcard);
    }
    if (!s) {
        drop("no_inner_socket", m_settings.inner);
        return Sent::dropped;
    }
    if (auto st = net::send_datagram(s->fd.get(), out.bytes, out.to); !st) {
        drop("send_failed", out.to, st.error().message);
        return Sent::dropped;
    }
    ++m_counters.to_processor;
    return Sent::sent;
}

// A datagram to the outside: from the VIP in DSR (public_source).
Egress::Sent Egress::to_address(const sip::Outgoing& out) {
    Socket* s = nullptr;
    const SockAddr* source = nullptr;
    if (m_settings.public_source && m_settings.public_source->family() == out.to.family()) {
        s = m_sockets.find(SocketKind::sip, *m_settings.public_source);
        source = &*m_settings.public_source;
    }
    if (!s)
        s = m_sockets.first(SocketKind::sip, out.to.family());
    if (!s) {
        drop("no_socket_for_family", out.to);
        return Sent::dropped;
    }
    // A socket bound to the VIP sends from the VIP by itself; PKTINFO is for
    // a wildcard socket.
    if (source && !s->addr.is_any())
        source = nullptr;
    if (auto st = net::send_datagram(s->fd.get(), out.bytes, out.to, source); !st) {
        drop("send_failed", out.to, st.error().message);
        return Sent::dropped;
    }
    ++m_counters.to_outside;
    return Sent::sent;
}

// A request for a target that asked for TCP or TLS: on the connection this
// member has open to it, or a new one.
Egress::Sent Egress::to_target(const sip::Outgoing& out) {
    auto id = connect({out.to, out.transport});
    if (!id || !m_streams.send(*id, out.bytes))
        return gone();
    ++m_counters.to_target_connection;
    ++m_counters.to_outside;
    return Sent::sent;
}

// Over the farm link to the member that holds the client's connection, for
// it to write there.
Egress::Sent Egress::to_holder(const sip::Outgoing& out) {
    const std::string& holder = out.conn->holder;
    const sip::FarmView::Member* m = m_settings.view.find(holder);
    if (!m || !m->alive) {
        // A holder we do not know (any more), or one we see down: its
        // connections died with it, so the connection is gone for us (a
        // request gets its 477 now rather than vanishing on the farm link).
        return gone();
    }
    sip::FarmEnvelope env;
    env.flags = sip::FARM_FLAG_TO_CONNECTION;
    env.transport = Transport::tcp;
    env.connection = out.conn->id;
    env.source = m_settings.farm_link;
    env.destination = m_settings.farm_link;
    env.receiver = holder;
    env.sender = m_self;
    if (auto st = to_member(holder, env, out.bytes); !st) {
        if (st.error().code == egress_error::NO_FARM_LINK)
            return gone();
        drop(st.error().code, holder, st.error().message);
        return Sent::dropped;
    }
    ++m_counters.to_holder;
    return Sent::sent;
}

Egress::Sent Egress::to_connection(uint64_t id, std::string_view bytes) {
    // A connection this member opened to a target, closed since (idle, or
    // by the target) while a dialog or transaction still names it: on a new
    // one to the same target, as RFC 3261 18.2.2 has a server open one for
    // a response whose connection is gone. A client's connection cannot be
    // opened again: gone.
    uint64_t on = id;
    if (!m_streams.open(id)) {
        if (auto target = m_streams.closed_outgoing(id)) {
            auto fresh = connect(*target);
            if (!fresh)
                return gone();
            on = *fresh;
            ++m_counters.redialed;
        }
    }
    // Only the holder knows a connection is TLS: what the member that made
    // the message wrote as TCP says TLS here (same length for the Via).
    std::string tls_bytes;
    if (m_streams.tls(on)) {
        auto msg = sip::scan(bytes);
        if (!msg) {
            drop(msg.error().code, "connection " + std::to_string(id), msg.error().message);
            return Sent::dropped;
        }
        auto tls = sip::for_tls_connection(bytes, *msg, sip::ConnRef{m_self, id}, m_settings.proxy);
        if (!tls) {
            drop(tls.error().code, "connection " + std::to_string(id), tls.error().message);
            return Sent::dropped;
        }
        tls_bytes = std::move(*tls);
        bytes = tls_bytes;
    }
    if (!m_streams.send(on, bytes))
        return gone();
    ++m_counters.to_connection;
    ++m_counters.to_outside;
    return Sent::sent;
}

std::optional<uint64_t> Egress::connect(const StreamTarget& target) {
    auto id = m_streams.connect(target);
    if (id)
        return *id;
    if (m_drop_log.allow(std::chrono::steady_clock::now()))
        log::warn("farm", "no connection to target",
                  {{"to", target.to.str()},
                   {"transport", std::string(to_string(target.transport))},
                   {"err", id.error().message}});
    return std::nullopt;
}

void Egress::count_gone() {
    ++m_counters.conn_gone;
    FarmCounters::count(m_counters.dropped, "conn_gone");
}

Egress::Sent Egress::gone() {
    count_gone();
    return Sent::gone;
}

bool Egress::count_drop(std::string_view reason) {
    FarmCounters::count(m_counters.dropped, reason);
    return m_drop_log.allow(std::chrono::steady_clock::now());
}

void Egress::drop(std::string_view reason, const SockAddr& from, std::string_view detail) {
    if (count_drop(reason))
        log::debug("farm", "dropped",
                   {{"reason", std::string(reason)},
                    {"from", from.str()},
                    {"detail", std::string(detail)}});
}

void Egress::drop(std::string_view reason, std::string_view from, std::string_view detail) {
    if (count_drop(reason))
        log::debug("farm", "dropped",
                   {{"reason", std::string(reason)},
                    {"from", std::string(from)},
                    {"detail", std::string(detail)}});
}

} // namespace rtfarm::sipfarmd
