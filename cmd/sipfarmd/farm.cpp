// FarmService (farm.hpp): start and reload, and the packet path, in the
// order a message takes it:
//   on_datagram, on_stream_message, on_farm_link (where it came from)
//   -> handle (scanned once; identifiers, flood, route())
//   -> relay (to the member that owns it) or process_local (a probe is
//      answered; else forward, then anchor_media when the relay must see its
//      SDP) -> send (egress.hpp).
// The farm's own replies: made_reply -> send; to a request our processor
// sent, route_made_reply -> relay or deliver_made_reply. Membership is in
// farm_membership.cpp, the control operations in farm_ops.cpp.
#include "farm.hpp"

#include "base/crypto.hpp"
#include "base/hash.hpp"
#include "cluster/placement.hpp"
#include "media/fd_limit.hpp"
#include "media/offer_errors.hpp"
#include "sip/farm_tags.hpp"
#include "sip/media_action.hpp"
#include "sip/media_probe.hpp"
#include "sip/packet_facts.hpp"
#include "sip/probe_lines.hpp"
#include "sip/proxy.hpp"
#include "sip/route.hpp"

#include <sys/resource.h>

namespace rtfarm::sipfarmd {
namespace {

constexpr size_t MAX_PROBE_SOURCES = 4096;
static_assert(sip::MAX_FARM_HOPS <= sip::FARM_LINK_MAX_HOPS,
              "the farm link must carry the hand-off chain's hops");
// A probe reply may exceed its request by at most this much (no amplification).
constexpr size_t PROBE_REPLY_SLACK = 512;

std::vector<SocketSet::Key> wanted_sockets(const config::MemberConfig& me,
                                           const cluster::FarmSettings& s) {
    std::vector<SocketSet::Key> keys;
    bool inner_covered = false;
    for (const auto& a : me.sip_listen) {
        keys.emplace_back(SocketKind::sip, a);
        if (a.port() == s.inner.port() && a.family() == s.inner.family() &&
            (a.is_any() || a.same_host(s.inner)))
            inner_covered = true;
    }
    keys.emplace_back(SocketKind::farm_link, s.farm_link);
    if (s.processor && !inner_covered)
        keys.emplace_back(SocketKind::inner, s.inner);
    return keys;
}

// What the farm answers a request from a processor that it cannot send out
// (forward_from_processor's error `code`): 483 with no hops left, 477 for a
// transport it does not speak; nothing to an ACK, nor for other errors.
std::optional<std::pair<int, std::string_view>> send_failure_answer(const sip::Message& msg,
                                                                    std::string_view code) {
    if (msg.method_id == sip::Method::ack)
        return std::nullopt;
    if (code == sip::proxy_error::MAX_FORWARDS)
        return std::make_pair(483, std::string_view("Too Many Hops"));
    if (code == sip::proxy_error::UNSUPPORTED_TRANSPORT)
        return std::make_pair(477, std::string_view("Send Failed"));
    return std::nullopt;
}

} // namespace

FarmService::FarmService(ev::Loop& loop)
    : m_loop(loop)
    , m_sockets(loop, [this](Socket& s, const net::Datagram& d) { on_datagram(s, d); })
    , m_streams(
          loop, [this](StreamConn& c, std::string_view bytes) { on_stream_message(c, bytes); },
          [this](std::string_view bytes) {
              m_egress.count_gone();
              undelivered(bytes);
          })
    , m_events(loop,
               [this](const std::string& id) {
                   const auto* m = m_membership ? m_membership->find(id) : nullptr;
                   return m && m->state != cluster::MemberState::down;
               })
    , m_member_links(loop)
    , m_egress(m_sockets, m_streams, m_settings, m_id, m_counters)
    , m_media(loop, [this](std::string_view call_id) -> Result<std::string> {
        cluster::PlacementRequest req{cluster::ObjectKind::call_leg, m_id, std::string(call_id)};
        auto d = cluster::place(req, cluster::placement_view(*m_membership));
        if (!d)
            return d.error();
        return d->member;
    }) {
}
Status FarmService::start(const config::ClusterConfig& cfg, const config::MemberConfig& me) {
    return reload(cfg, me);
}

Status FarmService::validate(const config::ClusterConfig& cfg,
                             const config::MemberConfig& me) const {
    // A farm link anyone on the members' network could forge is refused,
    // unless the config says so (at start: exit 2; on a reload: the old
    // config stays).
    if (Status st = config::farm_link_trust(cfg); !st)
        return st.error();
    auto tls = tls_context(cfg, me, true);
    if (!tls)
        return tls.error();
    auto client = tls_client_context(cfg, me);
    if (!client)
        return client.error();
    return {};
}

Result<SslCtxPtr> FarmService::tls_client_context(const config::ClusterConfig& cfg,
                                                  const config::MemberConfig& me) {
    return make_client_context(me.tls ? &*me.tls : nullptr, cfg.path, "members." + me.id + ".tls");
}

Result<SslCtxPtr> FarmService::tls_context(const config::ClusterConfig& cfg,
                                           const config::MemberConfig& me, bool quiet) {
    bool wants_tls = false;
    for (const auto& l : me.sip_stream_listen)
        wants_tls = wants_tls || l.transport == Transport::tls;
    if (!wants_tls)
        return SslCtxPtr{};
    if (!me.tls)
        return make_error("config", cfg.path + ": members." + me.id +
                                        ".tls: missing (a tls: sip_listen entry needs it)");
    auto ctx = make_server_context(*me.tls, cfg.path, "members." + me.id + ".tls");
    if (!ctx)
        return ctx.error();
    if (!quiet)
        log::info("farm", "tls context",
                  {{"certificate", me.tls->certificate},
                   {"key", me.tls->key},
                   {"ca", me.tls->ca.empty() ? "none" : me.tls->ca}});
    return ctx;
}

Status FarmService::reload_files(const config::ClusterConfig& cfg, const config::MemberConfig& me) {
    auto tls = tls_context(cfg, me);
    if (!tls)
        return tls.error();
    auto client = tls_client_context(cfg, me);
    if (!client)
        return client.error();
    if (tls.value())
        m_streams.set_tls(std::move(tls.value()));
    m_streams.set_tls_client(std::move(client.value()));
    return {};
}

Status FarmService::reload(const config::ClusterConfig& cfg, const config::MemberConfig& me) {
    if (cfg.cluster.secret.empty() && !config::all_on_loopback(cfg))
        log::warn("farm", "farm link without a secret",
                  {{"why", "insecure_farm_link is true: members are trusted by address alone"}});
    auto settings = cluster::derive_farm_settings(cfg, me);
    if (!settings)
        return settings.error();
    // The TLS files first: a bad one changes nothing (at start: exit 2; on
    // a reload: the old context, and the old config, stay).
    auto tls = tls_context(cfg, me);
    if (!tls)
        return tls.error();
    auto client = tls_client_context(cfg, me);
    if (!client)
        return client.error();
    // Every new socket and listener first; then all of them, or none
    // (a plan dropped closes what it opened, the old ones stay).
    auto udp = m_sockets.prepare(wanted_sockets(me, *settings));
    if (!udp)
        return udp.error();
    auto streams = m_streams.prepare(me.sip_stream_listen, tls.value() != nullptr);
    if (!streams)
        return streams.error();
    m_sockets.commit(std::move(udp.value()));
    m_streams.commit(std::move(streams.value()), stream_settings(), std::move(tls.value()));
    m_streams.set_tls_client(std::move(client.value()));
    // The view routed by so far is the "before" of the next change, not
    // the config's picture of the cluster (every member up); its key too
    // (apply_keys() hands a new one off).
    sip::FarmView routed_by = std::move(m_settings.view);
    auto now = std::chrono::steady_clock::now();
    if (!m_first_view) {
        // Branches made under a secret this config drops may still be
        // answered for a while.
        auto kept = settings->proxy.earlier_branch_keys;
        kept.push_back(settings->proxy.branch_key);
        auto before = m_settings.proxy.earlier_branch_keys;
        before.push_back(m_settings.proxy.branch_key);
        for (const auto& k : before)
            if (std::find(kept.begin(), kept.end(), k) == kept.end())
                m_retired_branch_keys.push_back({k, now + cluster::HANDOFF_GRACE});
    }
    m_settings = std::move(settings.value());
    if (!m_first_view)
        m_settings.view = std::move(routed_by);
    set_branch_keys(now);
    m_id = me.id;
    if (!m_membership) {
        // A restart is a new incarnation: the wall clock in ms.
        auto inc = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
        m_incarnation = static_cast<uint64_t>(inc);
        m_egress.set_incarnation(m_incarnation);
        m_membership.emplace(cfg, me.id, m_incarnation, now);
    } else {
        m_membership->reconfigure(cfg);
    }
    std::vector<std::string> ids;
    for (const auto& mc : cfg.members)
        ids.push_back(mc.id);
    m_replays.keep_only(ids);
    // Where each member's control links go: events, member ops, media.
    std::map<std::string, EventHub::Member> reach;
    std::map<std::string, std::optional<SockAddr>> control_tcp;
    for (const auto& mc : cfg.members) {
        reach[mc.id] = EventHub::Member{mc.control_tcp};
        control_tcp[mc.id] = mc.control_tcp;
    }
    m_events.configure(me.id, std::move(reach), cfg.cluster.secrets());
    m_member_links.configure(control_tcp, cfg.cluster.secrets());
    MediaAnchor::Settings media;
    media.self = me.id;
    media.anchor = cfg.media_of(me) == config::Media::anchor;
    media.media_control = me.media_control;
    media.control_tcp = std::move(control_tcp);
    media.secrets = cfg.cluster.secrets();
    media.media_timeout = std::chrono::seconds(cfg.cluster.media_timeout_s);
    media.media_unlatched_timeout = std::chrono::seconds(cfg.cluster.media_unlatched_timeout_s);
    for (const auto& mc : cfg.members)
        if (mc.media_ports)
            media.media_ports[mc.id] = mc.media_ports->str();
    m_media.configure(std::move(media));
    m_flood.configure({cfg.cluster.flood_limit, std::chrono::seconds(cfg.cluster.flood_quiet_s)});
    m_lbcheck_sources = cfg.cluster.lbcheck_sources;
    m_flood_exempt = cfg.cluster.flood_exempt;
    m_heartbeat_period = std::chrono::milliseconds(cfg.cluster.heartbeat_ms);
    m_dead_after = std::chrono::milliseconds(cfg.cluster.dead_after_ms);
    m_heartbeat =
        std::make_unique<ev::Ticker>(m_loop, m_heartbeat_period, [this] { on_heartbeat_timer(); });
    apply_view();
    m_membership->set_keys(m_settings.keys.ids());
    apply_keys();
    send_heartbeats();
    // The view itself is logged by apply_view().
    log::info("farm", "processor",
              {{"member", m_id},
               {"processor", m_settings.processor ? m_settings.processor->str() : "none"}});
    return {};
}

void FarmService::drop(std::string_view reason, const Arrival& a, std::string_view detail) {
    m_egress.drop(reason, a.source, detail);
}

void FarmService::on_datagram(Socket& s, const net::Datagram& d) {
    ++m_counters.received;
    if (s.kind == SocketKind::farm_link) {
        on_farm_link(d);
        return;
    }
    Arrival a;
    a.source = d.source.unmapped();
    a.destination = d.destination.valid() ? d.destination : s.addr;
    a.origin = m_settings.processor && a.source == *m_settings.processor ? sip::Origin::processor
                                                                         : sip::Origin::outside;
    handle(d.bytes, a);
}

void FarmService::on_stream_message(StreamConn& c, std::string_view bytes) {
    ++m_counters.received;
    Arrival a;
    a.origin = sip::Origin::outside;
    a.source = c.peer;
    a.destination = c.local;
    a.transport = c.tls() ? Transport::tls : Transport::tcp;
    a.conn = sip::ConnRef{m_id, c.id};
    handle(bytes, a);
}

StreamSettings FarmService::stream_settings() {
    StreamSettings s;
    if (!m_fd_limit) {
        // Room for every connection the defaults allow, if the hard limit
        // lets us; else the caps shrink to what fits (sip::stream_caps).
        auto limit = media::ensure_fd_limit(s.max_connections + s.max_outgoing + media::FD_MARGIN);
        m_fd_limit = limit ? limit->soft : 0;
        if (!limit) {
            rlimit rl{};
            if (::getrlimit(RLIMIT_NOFILE, &rl) == 0)
                m_fd_limit = rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : rl.rlim_cur;
        }
    }
    auto caps = sip::stream_caps(m_fd_limit, s.max_connections, s.max_outgoing, media::FD_MARGIN);
    if (caps.accepted < s.max_connections)
        log::warn("farm", "SIP connections capped by the descriptor limit",
                  {{"nofile", std::to_string(m_fd_limit)},
                   {"accepted", std::to_string(caps.accepted)},
                   {"outgoing", std::to_string(caps.outgoing)}});
    s.max_connections = caps.accepted;
    s.max_outgoing = caps.outgoing;
    return s;
}

void FarmService::on_farm_link(const net::Datagram& d) {
    Arrival a;
    a.origin = sip::Origin::farm_link;
    a.source = d.source;
    // Only the configured members may relay to us.
    auto peer = cluster::member_at(m_settings, d.source);
    if (!peer || *peer == m_id) {
        drop("farm_stranger", a, d.source.str());
        return;
    }
    auto packet = sip::decode_farm_packet(d.bytes, m_settings.keys.check_order());
    if (!packet) {
        drop(packet.error().code, a, packet.error().message);
        return;
    }
    // From that member, for us, and not seen before (under the MAC, a
    // captured packet can be neither replayed nor sent to another member).
    if (packet->envelope.sender != *peer) {
        drop("farm_impostor", a, packet->envelope.sender + " from " + *peer + "'s address");
        return;
    }
    if (packet->envelope.to != m_id) {
        drop("farm_wrong_member", a, "meant for " + packet->envelope.to);
        return;
    }
    if (!m_replays.accept(*peer, packet->envelope.incarnation, packet->envelope.sequence,
                          std::chrono::steady_clock::now(), m_dead_after)) {
        drop("replayed", a,
             *peer + " " + std::to_string(packet->envelope.incarnation) + "/" +
                 std::to_string(packet->envelope.sequence));
        return;
    }
    if (packet->envelope.flags & sip::FARM_FLAG_HEARTBEAT) {
        on_peer_heartbeat(packet->payload, *peer);
        return;
    }
    ++m_counters.relayed_in;
    const sip::FarmEnvelope& env = packet->envelope;
    if (env.flags & sip::FARM_FLAG_TO_CONNECTION) {
        // Another member's result for a client on our connection.
        if (env.receiver != m_id) {
            drop("farm_wrong_holder", a, env.receiver);
            return;
        }
        if (m_egress.to_connection(env.connection, packet->payload) == Egress::Sent::gone)
            undelivered(packet->payload);
        return;
    }
    a.source = env.source;
    a.destination = env.destination;
    a.envelope = &env;
    a.transport = env.transport;
    if (env.connection != 0)
        a.conn = sip::ConnRef{env.receiver, env.connection};
    handle(packet->payload, a);
}

void FarmService::handle(std::string_view bytes, const Arrival& a) {
    auto scanned = sip::scan(bytes);
    if (!scanned) {
        drop(scanned.error().code, a, scanned.error().message);
        return;
    }
    const sip::Message& msg = *scanned;
    // Before any table keeps them (hand-off memory, media placement): no
    // real client's Call-ID or tag is this long.
    if (auto st = sip::check_identifiers(msg); !st) {
        drop(st.error().code, a, st.error().message);
        return;
    }
    // A new request from outside counts against its source's rate to the
    // whole farm; a source over the limit is dropped on every member
    // (cluster/flood.hpp). Relayed ones were counted where they came in;
    // exempt sources (flood_exempt) are not counted at all.
    if (m_flood.enabled() && a.origin == sip::Origin::outside && !a.envelope && msg.is_request() &&
        !msg.to_tag.present() && msg.method_id != sip::Method::ack &&
        msg.method_id != sip::Method::cancel &&
        std::none_of(m_flood_exempt.begin(), m_flood_exempt.end(),
                     [&](const Cidr& c) { return c.contains(a.source); }) &&
        !m_flood.admit(a.source.host(), std::chrono::steady_clock::now())) {
        drop("flood_blocked", a);
        return;
    }
    // A Relay backend's request that a Member sends out for it.
    if (a.envelope && (a.envelope->flags & sip::FARM_FLAG_OUTBOUND)) {
        if (!msg.is_request()) {
            drop("outbound_not_request", a);
            return;
        }
        sip::ProxyContext ctx = m_settings.proxy;
        ctx.via_member = a.envelope->sender;
        auto out = sip::forward_from_processor(bytes, msg, ctx);
        if (!out) {
            drop(out.error().code, a, out.error().message);
            if (auto answer = send_failure_answer(msg, out.error().code))
                reply_for_backend(bytes, msg, ctx, answer->first, answer->second);
            return;
        }
        ++m_counters.processed;
        ++m_counters.outbound_for_relay;
        send(*out);
        return;
    }

    sip::PacketFacts facts = sip::packet_facts(bytes, msg, m_settings.proxy.rr_host);
    facts.hops = a.envelope ? a.envelope->hops : 0;
    facts.asked = a.envelope ? &a.envelope->asked : nullptr;
    // Asked only by the rules that need it (untagged requests).
    auto memory_now = std::chrono::steady_clock::now();
    cluster::RecentCalls::At memory(m_recent, memory_now);
    facts.memory = &memory;
    auto d = sip::route(facts, a.origin, m_settings.view);
    switch (d.kind) {
    case sip::Decision::Kind::drop:
        drop(sip::to_string(d.reason), a);
        return;
    case sip::Decision::Kind::relay:
        m_counters.count_routed(d.reason);
        relay(bytes, a, d.member, d.reason == sip::Reason::relay_mode ? sip::FARM_FLAG_OUTBOUND : 0,
              d.asked_here);
        return;
    case sip::Decision::Kind::local:
        m_counters.count_routed(d.reason);
        // A transaction without our tag lives here now: its other requests
        // (retransmissions, CANCEL, the ACK of an error) stay here while the
        // view changes (the hand-off). Tagged ones find us by the tag.
        if (facts.is_request && a.origin != sip::Origin::processor && !facts.probe &&
            d.reason != sip::Reason::route_tag)
            m_recent.note(facts.call_id, memory_now);
        process_local(bytes, msg, a, facts.probe);
        return;
    }
}

void FarmService::relay(std::string_view bytes, const Arrival& a, const std::string& member,
                        uint8_t flags, bool asked_here) {
    sip::FarmEnvelope env;
    env.flags = flags;
    env.hops = a.envelope ? static_cast<uint8_t>(a.envelope->hops + 1) : 1;
    env.source = a.source;
    env.destination = a.destination;
    env.receiver = a.envelope ? a.envelope->receiver : m_id;
    env.sender = m_id;
    env.transport = a.transport;
    env.connection = a.conn ? a.conn->id : 0;
    if (a.envelope)
        env.asked = a.envelope->asked;
    if (asked_here && env.asked.size() < sip::FARM_LINK_MAX_HOPS)
        env.asked.push_back(m_id);
    if (auto st = m_egress.to_member(member, env, bytes); !st)
        drop(st.error().code, a, st.error().message);
}

void FarmService::process_local(std::string_view bytes, const sip::Message& msg, const Arrival& a,
                                bool probe) {
    ++m_counters.processed;
    if (probe && msg.is_request() && a.origin != sip::Origin::processor) {
        answer_probe(bytes, msg, a);
        return;
    }
    sip::MediaAction media;
    if (!probe && m_media.enabled()) {
        media = sip::media_action(bytes, msg, a.origin, m_id, m_settings.proxy.branch_key,
                                  m_settings.proxy.earlier_branch_keys);
        if (media.kind == sip::MediaAction::Kind::end)
            m_media.end(media);
    }
    auto out = forward(bytes, msg, a);
    if (!out) {
        // Answered or dropped here, it never reaches the processor: its SDP
        // must not hold relay ports.
        if (media.kind == sip::MediaAction::Kind::exchange)
            m_media.count_refused();
        return;
    }
    if (media.kind == sip::MediaAction::Kind::exchange) {
        anchor_media(bytes, msg, a, media, std::move(*out));
        return;
    }
    send(*out);
}

std::optional<sip::Outgoing> FarmService::forward(std::string_view bytes, const sip::Message& msg,
                                                  const Arrival& a) {
    if (!msg.is_request()) {
        // A ringing INVITE may go on past the hand-off's window if its UAS
        // refreshes it with provisional responses (RFC 3261 13.3.1.1): they
        // keep its Call-ID known here.
        if (a.origin == sip::Origin::processor && msg.status > 100 && msg.status < 200 &&
            msg.cseq_method.in(bytes) == "INVITE")
            m_recent.note(msg.call_id.in(bytes), std::chrono::steady_clock::now(),
                          cluster::RecentCalls::Tier::ringing);
        auto out = sip::forward_response(bytes, msg, &m_settings.proxy);
        if (!out) {
            drop(out.error().code, a, out.error().message);
            return std::nullopt;
        }
        return std::move(*out);
    }
    if (a.origin == sip::Origin::processor) {
        auto out = sip::forward_from_processor(bytes, msg, m_settings.proxy);
        if (!out) {
            auto answer = send_failure_answer(msg, out.error().code);
            // Too many hops is the processor's doing, answered, not dropped.
            if (!answer || answer->first != 483)
                drop(out.error().code, a, out.error().message);
            if (answer)
                reply(bytes, msg, a, answer->first, answer->second);
            return std::nullopt;
        }
        return std::move(*out);
    }
    if (!m_settings.processor) {
        drop("no_processor", a);
        return std::nullopt;
    }
    auto out = sip::forward_to_processor(bytes, msg, a.source, *m_settings.processor,
                                         m_settings.proxy, a.conn ? &*a.conn : nullptr);
    if (!out) {
        if (out.error().code == sip::proxy_error::MAX_FORWARDS && msg.method_id != sip::Method::ack)
            reply(bytes, msg, a, 483, "Too Many Hops");
        else
            drop(out.error().code, a, out.error().message);
        return std::nullopt;
    }
    return std::move(*out);
}

void FarmService::anchor_media(std::string_view bytes, const sip::Message& msg, const Arrival& a,
                               sip::MediaAction action, sip::Outgoing out) {
    // The message waits for the relay's SDP: the request as it came (for a
    // refusal) and its arrival are copied, the envelope is not needed past
    // routing. The scan's spans are offsets from the message's first byte:
    // they hold for the copy.
    Arrival later = a;
    later.envelope = nullptr;
    // The client's address, for the relay's media_max_sessions_per_source.
    action.source = sip::media_source(msg, a.origin, a.source);
    m_media.exchange(action, [this, original = std::string(bytes.substr(0, msg.end)), first = msg,
                              later, out = std::move(out)](Result<std::string> sdp) mutable {
        if (!sdp) {
            // Refused by the relay's policy or capacity: answered here, not
            // passed on with media nobody anchors (an ACK or a response
            // cannot be refused, and goes on as it was).
            auto refusal = media::media_refusal(sdp.error().code);
            if (refusal && first.is_request() && first.method_id != sip::Method::ack) {
                FarmCounters::count(m_counters.dropped, "media_refused");
                reply(original, first, later, refusal->code, refusal->reason);
                return;
            }
            send(out);
            return;
        }
        // The relay's SDP in the message as it leaves.
        auto leaving = sip::scan(out.bytes);
        if (!leaving) {
            drop("media_rewrite_failed", later, leaving.error().message);
        } else if (auto rewritten = sip::replace_body(out.bytes, *leaving, *sdp); !rewritten) {
            drop(rewritten.error().code, later, rewritten.error().message);
        } else {
            out.bytes = std::move(*rewritten);
            send(out);
            return;
        }
        // Anchored but not sent on: a call never answered loses its session
        // (an answered one keeps its media, as after a failed re-INVITE).
        sip::MediaAction undo;
        undo.kind = sip::MediaAction::Kind::end;
        undo.call_id = first.call_id.in(original);
        undo.if_unanswered = true;
        m_media.end(undo);
    });
}

void FarmService::answer_probe(std::string_view bytes, const sip::Message& msg, const Arrival& a) {
    auto now = std::chrono::steady_clock::now();
    std::string key = a.source.host();
    auto it = m_probe_limits.find(key);
    if (it == m_probe_limits.end()) {
        if (m_probe_limits.size() >= MAX_PROBE_SOURCES)
            m_probe_limits.clear();
        it = m_probe_limits.emplace(key, log::RateLimit(50.0, 100.0)).first;
    }
    if (!it->second.allow(now)) {
        drop("probe_rate_limited", a);
        return;
    }
    std::string received_by = a.envelope ? a.envelope->receiver : m_id;
    std::vector<std::string> headers = {
        "X-Farm-Received-By: " + received_by,
        "X-Farm-Answered-By: " + m_id,
        "X-Farm-Source: " + a.source.str(),
        "X-Farm-Digest: " + crypto::sha256_hex(bytes),
    };
    // Which line a SIP-aware load balancer changed, if any (lbcheck compares).
    if (std::string lines = sip::format_line_digests(bytes.substr(0, msg.end)); !lines.empty())
        headers.push_back("X-Farm-Lines: " + lines);
    if (media_probe(bytes, msg, a, headers))
        return;
    send_probe_reply(bytes, msg, a, std::move(headers));
}

// The To tag of a response the farm makes itself (RFC 3261 8.2.6.2): from
// the Call-ID, so that a retransmitted request gets the same one (8.2.7).
std::string FarmService::reply_tag(std::string_view bytes, const sip::Message& msg) const {
    return sip::farm_branch(m_id, stable_hash(msg.call_id.in(bytes))).substr(7);
}

sip::Outgoing FarmService::made_reply(std::string_view request, const sip::Message& msg,
                                      const SockAddr& to, int code, std::string_view reason,
                                      const std::vector<std::string>& headers) const {
    return sip::make_reply(request, msg, to, code, reason, reply_tag(request, msg), headers);
}

void FarmService::send_probe_reply(std::string_view bytes, const sip::Message& msg,
                                   const Arrival& a, std::vector<std::string> headers) {
    std::string members = sip::members_header(m_settings.view);
    std::vector<std::string> with_members = headers;
    if (!members.empty())
        with_members.push_back(members);
    auto out = made_reply(bytes, msg, a.source, 200, "OK", with_members);
    if (out.bytes.size() > msg.end + PROBE_REPLY_SLACK && !members.empty())
        out = made_reply(bytes, msg, a.source, 200, "OK", headers);
    if (out.bytes.size() > msg.end + PROBE_REPLY_SLACK) {
        drop("probe_reply_too_large", a);
        return;
    }
    ++m_counters.replies;
    out.conn = a.conn;
    send(out);
}

void FarmService::reply(std::string_view bytes, const sip::Message& msg, const Arrival& a, int code,
                        std::string_view reason) {
    auto out = made_reply(bytes, msg, a.source, code, reason);
    ++m_counters.replies;
    if (a.origin != sip::Origin::processor)
        out.conn = a.conn;
    send(out);
}

// A Relay backend's request that this member cannot send out: the answer a
// processor of our own would get, to the request as it would have left (our
// Via for the backend on top), routed by that Via back to the backend and
// on to the backend's processor.
void FarmService::reply_for_backend(std::string_view bytes, const sip::Message& msg,
                                    const sip::ProxyContext& ctx, int code,
                                    std::string_view reason) {
    std::string request = sip::with_our_via(bytes, msg, ctx);
    auto scanned = sip::scan(request);
    if (!scanned) {
        m_egress.drop(scanned.error().code, "reply for " + ctx.via_member, scanned.error().message);
        return;
    }
    route_made_reply(request, *scanned, code, reason);
}

void FarmService::route_made_reply(std::string_view request, const sip::Message& msg, int code,
                                   std::string_view reason) {
    Arrival a;
    a.origin = sip::Origin::outside;
    a.source = m_settings.farm_link;
    a.destination = m_settings.farm_link;
    auto out = made_reply(request, msg, a.source, code, reason);
    ++m_counters.replies;
    auto response = sip::scan(out.bytes);
    if (!response) {
        drop(response.error().code, a, response.error().message);
        return;
    }
    sip::PacketFacts facts = sip::packet_facts(out.bytes, *response, m_settings.proxy.rr_host);
    auto d = sip::route(facts, a.origin, m_settings.view);
    switch (d.kind) {
    case sip::Decision::Kind::drop:
        drop(sip::to_string(d.reason), a);
        return;
    case sip::Decision::Kind::relay:
        m_counters.count_routed(d.reason);
        relay(out.bytes, a, d.member, 0);
        return;
    case sip::Decision::Kind::local:
        m_counters.count_routed(d.reason);
        deliver_made_reply(out.bytes, *response, a);
        return;
    }
}

// Our own response to a request our processor sent: it ends the call's
// media if the call was never answered, and goes to the processor by the
// Via below ours. Not answered again if it cannot leave.
void FarmService::deliver_made_reply(std::string_view bytes, const sip::Message& msg,
                                     const Arrival& a) {
    ++m_counters.processed;
    if (m_media.enabled()) {
        sip::MediaAction action =
            sip::media_action(bytes, msg, a.origin, m_id, m_settings.proxy.branch_key,
                              m_settings.proxy.earlier_branch_keys);
        if (action.kind == sip::MediaAction::Kind::end)
            m_media.end(action);
    }
    auto out = sip::forward_response(bytes, msg, &m_settings.proxy);
    if (!out) {
        drop(out.error().code, a, out.error().message);
        return;
    }
    m_egress.send(*out);
}

void FarmService::send(const sip::Outgoing& out) {
    if (m_egress.send(out) == Egress::Sent::gone)
        undelivered(out.bytes);
}

// A response for a client that is gone is dropped (RFC 3261 18.2.2 has
// nowhere else to send it). A request other than ACK is answered 477 Send
// Failed, as a proxy does when its transport fails (RFC 3261 16.9 has it act
// as if the next hop answered; 477 says which way, as Kamailio's tm does, and
// arrives at once rather than as a 408 after Timer B or F). The answer's top
// Via is the farm's: it goes to the member whose processor sent the request.
void FarmService::undelivered(std::string_view bytes) {
    auto msg = sip::scan(bytes);
    if (!msg || !msg->is_request() || msg->method_id == sip::Method::ack)
        return;
    ++m_counters.conn_gone_replies;
    route_made_reply(bytes, *msg, 477, "Send Failed");
}

} // namespace rtfarm::sipfarmd
