#include "service.hpp"

#include "base/log.hpp"
#include "media/control_messages.hpp"
#include "media/host_ports.hpp"
#include "media/offer_errors.hpp"
#include "net/socket.hpp"

#include <algorithm>
#include <chrono>

namespace rtfarm::rtprelayd {

namespace {

using namespace std::chrono_literals;

constexpr auto TICK = 1000ms;

long long ms(media::Clock::duration d) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

std::string addr_or_empty(const std::optional<SockAddr>& a) {
    return a ? a->str() : std::string();
}

std::string addr_or_empty(const SockAddr& a) {
    return a.valid() ? a.str() : std::string();
}

media::SideReply side_reply(const media::SideInfo& s, const SockAddr& advertised) {
    SockAddr adv = advertised;
    adv.set_port(s.rtp_port);
    const auto& c = s.counters;
    media::SideReply out;
    out.local_port = s.rtp_port;
    out.rtcp_port = s.rtcp_port;
    out.rtcp_mux = s.rtcp_mux;
    out.advertised = adv.str();
    out.strict = s.strict;
    out.expected = addr_or_empty(s.expected.rtp);
    out.learned = addr_or_empty(s.learned_rtp);
    out.learned_rtcp = addr_or_empty(s.learned_rtcp);
    out.sends_to = addr_or_empty(s.sends_rtp_to);
    out.packets = static_cast<long long>(c.packets);
    out.bytes = static_cast<long long>(c.bytes);
    out.rtcp_packets = static_cast<long long>(c.rtcp_packets);
    out.send_failed = static_cast<long long>(c.send_failed);
    for (size_t i = 0; i < out.dropped.size(); ++i)
        out.dropped[i] = static_cast<long long>(c.dropped[i]);
    if (s.last_packet_age)
        out.last_packet_age_ms = ms(*s.last_packet_age);
    return out;
}

// The bind address: the advertised one when this host has it (multi-IP,
// DSR with the VIP on loopback), else the wildcard of its family (a load
// balancer or 1:1 NAT in front forwards to this host's own address).
SockAddr bind_address(const SockAddr& advertised) {
    SockAddr probe = advertised;
    probe.set_port(0);
    if (net::udp_bind(probe))
        return probe;
    auto any = SockAddr::parse_host(advertised.is_v4() ? "0.0.0.0" : "::", 0);
    return *any;
}

// What an SDP may name (media/address_policy.hpp): the members' internal
// addresses are refused, the farm's public and SIP addresses outside the
// members' media ports, unless cluster.media_allow lists them.
media::AddressPolicy address_policy(const config::ClusterConfig& cfg) {
    media::AddressPolicy p;
    p.allow = cfg.cluster.media_allow;
    auto farm = [&p](const SockAddr& a) {
        if (a.valid() && !a.is_any())
            p.farm.push_back(a);
    };
    if (cfg.cluster.wan_ip)
        farm(*cfg.cluster.wan_ip);
    for (const auto& m : cfg.members) {
        p.internal.push_back(m.address);
        if (m.wan_ip)
            farm(*m.wan_ip);
        for (const auto& l : m.sip_listen)
            farm(l);
        for (const auto& l : m.sip_stream_listen)
            farm(l.addr);
        if (m.processor)
            farm(*m.processor);
        if (m.control_tcp)
            farm(*m.control_tcp);
        if (m.media_ports)
            p.media_ports.push_back(*m.media_ports);
    }
    return p;
}

} // namespace

RelayService::RelayService(ev::Loop& loop)
    : m_loop(loop) {
}

RelayService::~RelayService() {
    // Calls gives its ports back to the pool and closes its relay sessions.
    m_calls.reset();
    m_relay.reset();
}

Status RelayService::validate(const config::ClusterConfig& cfg,
                              const config::MemberConfig& me) const {
    if (!me.media_ports)
        return make_error("config", cfg.path + ": members." + me.id +
                                        ".media_ports: rtprelayd needs a media port range");
    if (!cfg.advertised_ip(me))
        return make_error("config", cfg.path + ": members." + me.id +
                                        ".wan_ip: no advertised media address (set the member's "
                                        "wan_ip or cluster.wan_ip)");
    return {};
}

media::CallsOptions RelayService::options_for(const config::ClusterConfig& cfg,
                                              const config::MemberConfig& me) const {
    media::CallsOptions o;
    o.advertised = *cfg.advertised_ip(me);
    o.advertised.set_port(0);
    o.bind = bind_address(o.advertised);
    o.strict = cfg.cluster.media_strict;
    o.timeout = std::chrono::seconds(cfg.cluster.media_timeout_s);
    o.unlatched_timeout = std::chrono::seconds(cfg.cluster.media_unlatched_timeout_s);
    o.max_streams = cfg.cluster.media_max_streams;
    o.max_sessions = cfg.cluster.media_max_sessions;
    o.max_sessions_per_source = cfg.cluster.media_max_sessions_per_source;
    o.policy = address_policy(cfg);
    return o;
}

Status RelayService::start(const config::ClusterConfig& cfg, const config::MemberConfig& me) {
    m_id = me.id;
    m_range = *me.media_ports;
    // One descriptor per port of the range, besides the daemon's own.
    auto limit = media::ensure_fd_limit(media::fds_for_ports(m_range.count()));
    if (limit) {
        m_fd_limit = *limit;
        log::info("media", "descriptor limit",
                  {{"limit", limit->str()}, {"raised", limit->raised ? "yes" : "no"}});
    } else {
        log::warn("media", "descriptor limit too low for the whole media range",
                  {{"err", limit.error().message}});
    }
    if (auto overlap = media::ephemeral_overlap(m_range))
        log::warn("media", "media range shared with the kernel's ephemeral ports",
                  {{"detail", *overlap}});
    m_pool = std::make_unique<media::PortPool>(m_range);
    m_relay = std::make_unique<relay::Relay>(m_loop);
    auto options = options_for(cfg, me);
    log::info("media", "media relay",
              {{"member", m_id},
               {"ports", m_range.str()},
               {"advertised", options.advertised.host()},
               {"bind", options.bind.host()},
               {"strict", options.strict ? "yes" : "no"},
               {"timeout_s", std::to_string(cfg.cluster.media_timeout_s)}});
    if (auto st = setup_fast_path(cfg, me, options); !st)
        return st;
    m_calls = std::make_unique<media::Calls>(*m_relay, *m_pool, options);
    m_ticker = std::make_unique<ev::Ticker>(m_loop, TICK, [this] { on_tick(); });
    return {};
}

Status RelayService::setup_fast_path(const config::ClusterConfig& cfg,
                                     const config::MemberConfig& me,
                                     const media::CallsOptions& options) {
    relay::FastPathSetup setup;
    setup.ports = *me.media_ports;
    setup.bind = options.bind;
    setup.addresses = {options.advertised, me.address};
    if (m_fast_mode == me.media_fast_path && m_fast_setup == setup)
        return {};
    // What runs now, and why not the kernel ("": it is the kernel).
    auto settled = [&](std::string reason) {
        m_fast_mode = me.media_fast_path;
        m_fast_setup = setup;
        m_fast_reason = std::move(reason);
        return Status{};
    };
    if (me.media_fast_path == config::MediaFastPath::off) {
        if (m_relay->fast_path() != nullptr)
            log::info("media", "kernel fast path off: media in userspace");
        m_relay->set_fast_path(nullptr);
        return settled("media_fast_path is off");
    }
    // The old program goes first: two cannot share an interface.
    m_relay->set_fast_path(nullptr);
    auto fp = relay::FastPath::open(setup);
    if (!fp) {
        const std::string why = fp.error().message;
        if (me.media_fast_path == config::MediaFastPath::required) {
            // At start: no start. At a reload: refused, and the old program
            // is gone already (two cannot share an interface): userspace
            // until a reload loads one.
            m_fast_setup.reset();
            m_fast_reason = why;
            return make_error("config", cfg.path + ": members." + me.id +
                                            ".media_fast_path is \"required\": " + why);
        }
        log::warn("media", "kernel fast path not available: media in userspace", {{"err", why}});
        return settled(why);
    }
    std::string names;
    for (const auto& i : (*fp)->interfaces())
        names += (names.empty() ? "" : " ") + i.name + (i.native ? "(native)" : "(generic)");
    log::info("media", "kernel fast path", {{"interfaces", names}, {"ports", setup.ports.str()}});
    m_relay->set_fast_path(std::move(*fp));
    return settled("");
}

Status RelayService::reload(const config::ClusterConfig& cfg, const config::MemberConfig& me) {
    // What may refuse the reload comes first: a refused one changes nothing.
    if (*me.media_ports != m_range && m_calls->size() > 0)
        return make_error("config", cfg.path + ": members." + me.id + ".media_ports: " +
                                        me.media_ports->str() + " differs from " + m_range.str() +
                                        " while " + std::to_string(m_calls->size()) +
                                        " calls hold ports; restart rtprelayd to change it");
    if (auto st = setup_fast_path(cfg, me, options_for(cfg, me)); !st)
        return st;
    if (*me.media_ports != m_range) {
        m_range = *me.media_ports;
        m_pool = std::make_unique<media::PortPool>(m_range);
        m_calls = std::make_unique<media::Calls>(*m_relay, *m_pool, options_for(cfg, me));
        auto limit = media::ensure_fd_limit(media::fds_for_ports(m_range.count()));
        if (limit)
            m_fd_limit = *limit;
        else
            log::warn("media", "descriptor limit too low for the whole media range",
                      {{"err", limit.error().message}});
    } else {
        m_calls->set_options(options_for(cfg, me));
    }
    const auto& o = m_calls->options();
    log::info("media", "media relay reloaded",
              {{"ports", m_range.str()},
               {"advertised", o.advertised.host()},
               {"bind", o.bind.host()},
               {"strict", o.strict ? "yes" : "no"}});
    return {};
}

void RelayService::on_tick() {
    m_calls->expire(m_relay->now());
    check_drained();
}

void RelayService::drain(std::function<void()> done) {
    m_draining = true;
    m_drained = std::move(done);
    log::info("media", "draining", {{"calls", std::to_string(m_calls ? m_calls->size() : 0)}});
    check_drained();
}

void RelayService::check_drained() {
    if (!m_draining || !m_drained || (m_calls && m_calls->size() > 0))
        return;
    auto done = std::move(m_drained);
    m_drained = nullptr;
    done();
}

Result<json::Json> RelayService::sdp_op(const control::Request& req, media::SdpOp op) {
    auto q = media::SdpRequest::parse(req.body, op);
    if (!q)
        return q.error();
    // sdp only: offer, answer or auto, and where the SIP dialog stands
    // when the client says (media::Dialog).
    media::Exchange as = media::Exchange::automatic;
    if (q->as == sip::SdpRole::offer)
        as = media::Exchange::offer;
    else if (q->as == sip::SdpRole::answer)
        as = media::Exchange::answer;
    media::Dialog dialog = media::Dialog::unknown;
    if (q->answered)
        dialog = *q->answered ? media::Dialog::answered : media::Dialog::early;
    const bool creates = !m_calls->query(q->call_id);
    if (m_draining && creates)
        return media::offer_error(media::OfferError::draining,
                                  "member " + m_id + " is draining: no new media sessions");
    Result<media::SdpOut> out = make_error("internal", "no op");
    if (op == media::SdpOp::sdp)
        out = m_calls->exchange(q->call_id, q->from_tag, q->to_tag, q->sdp, as, dialog, q->source);
    else if (op == media::SdpOp::offer)
        out = m_calls->offer(q->call_id, q->from_tag, q->to_tag, q->sdp, q->source);
    else
        out = m_calls->answer(q->call_id, q->from_tag, q->to_tag, q->sdp);
    if (!out) {
        log::info("media", "sdp refused",
                  {{"op", req.op},
                   {"call_id", q->call_id},
                   {"code", out.error().code},
                   {"source", q->source},
                   {"err", out.error().message}});
        return out.error();
    }
    if (out->created)
        log::info("media", "session created", {{"call_id", q->call_id}});
    media::SdpReply a;
    a.sdp = out->sdp;
    a.member = m_id;
    a.address = m_calls->options().advertised.host();
    a.to = out->to == media::Leg::caller ? media::Party::caller : media::Party::callee;
    a.created = out->created;
    a.answer = out->answer;
    a.unchanged = out->unchanged;
    for (size_t i = 0; i < out->ports.size(); ++i)
        a.ports.push_back(media::StreamPortsReply{static_cast<long long>(i), out->ports[i].rtp,
                                                  out->ports[i].rtcp});
    return a.to_json();
}

void RelayService::register_ops(control::ControlServer& server) {
    // Offers, answers and deletes change state: a client's retry (same
    // connection, same line) is answered from the server's cache.
    const control::OpOptions once{.retry_cache = true};
    for (media::SdpOp op : {media::SdpOp::offer, media::SdpOp::answer, media::SdpOp::sdp})
        server.on(
            std::string(media::op_name(op)),
            [this, op](const control::Request& req, const control::Peer&, control::Reply reply) {
                reply(sdp_op(req, op));
            },
            once);
    server.on(
        media::OP_DELETE,
        [this](const control::Request& req, const control::Peer&, control::Reply reply) {
            auto q = media::DeleteRequest::parse(req.body);
            if (!q) {
                reply(q.error());
                return;
            }
            // A CANCEL or an error response ends a call only before it
            // was answered (not a failed re-INVITE).
            if (q->if_unanswered) {
                auto info = m_calls->query(q->call_id);
                if (info && info->answered) {
                    reply(media::DeleteReply{q->call_id, false}.to_json());
                    return;
                }
            }
            if (!m_calls->remove(q->call_id, media::CallEnd::deleted)) {
                reply(media::offer_error(media::OfferError::not_found,
                                         "no media session for call " + q->call_id));
                return;
            }
            reply(media::DeleteReply{q->call_id, true}.to_json());
            check_drained();
        },
        once);
    server.on(media::OP_QUERY, [this](const control::Request& req, const control::Peer&,
                                      control::Reply reply) {
        auto q = media::QueryRequest::parse(req.body);
        if (!q) {
            reply(q.error());
            return;
        }
        auto info = m_calls->query(q->call_id);
        if (!info) {
            reply(info.error());
            return;
        }
        const auto now = m_relay->now();
        const auto& adv = m_calls->options().advertised;
        media::QueryReply a;
        a.call_id = info->call_id;
        a.member = m_id;
        a.caller_tag = info->tags[0];
        a.callee_tag = info->tags[1];
        a.answered = info->answered;
        a.age_ms = ms(now - info->created);
        a.signal_age_ms = ms(now - info->last_signal);
        for (const auto& s : info->streams)
            a.streams.push_back(media::StreamReply{static_cast<long long>(s.index), s.media,
                                                   side_reply(s.relay.sides[0], adv),
                                                   side_reply(s.relay.sides[1], adv)});
        reply(a.to_json());
    });
    server.on(media::OP_LIST,
              [this](const control::Request&, const control::Peer&, control::Reply reply) {
                  const auto now = m_relay->now();
                  media::ListReply a;
                  a.member = m_id;
                  a.count = static_cast<long long>(m_calls->size());
                  for (const auto& c : m_calls->list()) {
                      uint64_t packets = 0;
                      std::optional<media::Clock::duration> idle;
                      for (const auto& s : c.streams)
                          for (const auto& side : s.relay.sides) {
                              packets += side.counters.packets;
                              if (side.last_packet_age)
                                  idle = idle ? std::min(*idle, *side.last_packet_age)
                                              : *side.last_packet_age;
                          }
                      a.sessions.push_back(media::SessionSummary{
                          c.call_id, static_cast<long long>(c.streams.size()), c.answered,
                          ms(now - c.created), static_cast<long long>(packets),
                          idle ? std::optional<long long>(ms(*idle)) : std::nullopt});
                  }
                  reply(a.to_json());
              });
}

json::Json RelayService::stats() const {
    media::RelayStats out;
    out.member = m_id;
    out.media_ports = m_range.str();
    out.draining = m_draining;
    if (!m_calls)
        return out.to_json();
    const auto& o = m_calls->options();
    const auto p = m_pool->counters();
    const auto r = m_relay->counters();
    const auto& c = m_calls->counters();
    auto n = [](auto v) {
        return static_cast<long long>(v);
    };
    auto seconds = [](media::Clock::duration d) {
        return static_cast<long long>(std::chrono::duration_cast<std::chrono::seconds>(d).count());
    };
    media::RelayStats::Running run;
    for (const auto& [code, count] : c.failed)
        run.failed[code] = n(count);
    auto source_refused =
        c.failed.find(std::string(to_string(media::OfferError::source_sessions_exhausted)));
    run.advertised_ip = o.advertised.host();
    run.bind = o.bind.host();
    run.strict = o.strict;
    run.timeout_s = seconds(o.timeout);
    run.unlatched_timeout_s = seconds(o.unlatched_timeout);
    run.max_streams = n(o.max_streams);
    run.max_sessions = n(o.max_sessions);
    run.max_sessions_per_source = n(o.max_sessions_per_source);
    run.sources = n(m_calls->sources());
    run.source_refused = source_refused == c.failed.end() ? 0 : n(source_refused->second);
    for (const auto& prefix : o.policy.allow)
        run.media_allow.push_back(prefix.str());
    run.sessions = n(m_calls->size());
    run.streams = n(r.streams);
    run.sockets = n(r.sockets);
    run.ports = {n(p.capacity_ports), n(p.in_use),     n(p.free),
                 n(p.free_pairs),     n(p.high_water), n(p.exhausted)};
    run.packets = n(r.packets);
    run.bytes = n(r.bytes);
    for (size_t i = 0; i < run.dropped.size(); ++i)
        run.dropped[i] = n(r.dropped[i]);
    run.send_failed = n(r.send_failed);
    run.receive_errors = n(r.receive_errors);
    run.latched = n(r.latched);
    run.offers = n(c.offers);
    run.answers = n(c.answers);
    run.created = n(c.created);
    run.deleted = n(c.deleted);
    run.expired = n(c.expired);
    run.unlatched = n(c.unlatched);
    run.relatched = n(c.relatched);
    run.bind_retries = n(c.bind_retries);
    if (m_fd_limit)
        run.fd_limit = n(m_fd_limit->soft);
    {
        media::RelayStats::Running::FastPath fp;
        fp.mode = std::string(config::to_string(m_fast_mode));
        const relay::FastPath* kernel = m_relay->fast_path();
        fp.path = kernel != nullptr ? "kernel" : "userspace";
        fp.reason = m_fast_reason;
        fp.entries = n(m_relay->fast_path_entries());
        fp.refused = n(r.fast_path_refused);
        if (kernel != nullptr) {
            for (const auto& i : kernel->interfaces())
                fp.interfaces.push_back({i.name, i.native ? "native" : "generic"});
            fp.kernel_entries = n(kernel->kernel_entries());
        }
        // Since start, through every program a reload dropped or loaded.
        const auto t = m_relay->fast_path_totals();
        fp.packets = n(t.forwarded);
        fp.bytes = n(t.bytes);
        fp.no_route = n(t.no_route);
        fp.not_media = n(t.not_media);
        run.fast_path = std::move(fp);
    }
    out.running = std::move(run);
    return out.to_json();
}

} // namespace rtfarm::rtprelayd
