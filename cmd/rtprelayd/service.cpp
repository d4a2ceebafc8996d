#include "service.hpp"

#include "base/log.hpp"
#include "media/host_ports.hpp"
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

json::Json addr_or_null(const std::optional<net::SockAddr>& a) {
    return a ? json::Json::string(a->str()) : json::Json::null();
}

json::Json addr_or_null(const net::SockAddr& a) {
    return a.valid() ? json::Json::string(a.str()) : json::Json::null();
}

template <typename Count>
json::Json dropped_json(const std::array<Count, media::DROP_SLOTS>& dropped) {
    json::Json out = json::Json::object();
    for (media::Drop d : media::DROP_REASONS)
        out.set(std::string(media::drop_name(d)).c_str(),
                static_cast<long long>(dropped[static_cast<size_t>(d)]));
    return out;
}

json::Json side_json(const media::SideInfo& s, const net::SockAddr& advertised) {
    net::SockAddr adv = advertised;
    adv.set_port(s.rtp_port);
    const auto& c = s.counters;
    return json::Json::object()
        .set("local_port", static_cast<long long>(s.rtp_port))
        .set("rtcp_port", static_cast<long long>(s.rtcp_port))
        .set("rtcp_mux", s.rtcp_mux)
        .set("advertised", adv.str())
        .set("strict", s.strict)
        .set("expected", addr_or_null(s.expected.rtp))
        .set("learned", addr_or_null(s.learned_rtp))
        .set("learned_rtcp", addr_or_null(s.learned_rtcp))
        .set("sends_to", addr_or_null(s.sends_rtp_to))
        .set("packets", static_cast<long long>(c.packets))
        .set("bytes", static_cast<long long>(c.bytes))
        .set("rtcp_packets", static_cast<long long>(c.rtcp_packets))
        .set("send_failed", static_cast<long long>(c.send_failed))
        .set("dropped", dropped_json(c.dropped))
        .set("last_packet_age_ms",
             s.last_packet_age ? json::Json::integer(ms(*s.last_packet_age)) : json::Json::null());
}

// The bind address: the advertised one when this host has it (multi-IP,
// DSR with the VIP on loopback), else the wildcard of its family (a load
// balancer or 1:1 NAT in front forwards to this host's own address).
net::SockAddr bind_address(const net::SockAddr& advertised) {
    net::SockAddr probe = advertised;
    probe.set_port(0);
    if (net::udp_bind(probe))
        return probe;
    auto any = net::SockAddr::parse_host(advertised.is_v4() ? "0.0.0.0" : "::", 0);
    return *any;
}

// What an SDP may name (media/address_policy.hpp): the members' internal
// addresses are refused, the farm's public and SIP addresses outside the
// members' media ports, unless cluster.media_allow lists them.
media::AddressPolicy address_policy(const config::ClusterConfig& cfg) {
    media::AddressPolicy p;
    p.allow = cfg.cluster.media_allow;
    auto farm = [&p](const net::SockAddr& a) {
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

json::Json prefixes_json(const std::vector<net::Cidr>& list) {
    json::Json out = json::Json::array();
    for (const auto& c : list)
        out.append(json::Json::string(c.str()));
    return out;
}

Result<std::string> text_field(const json::Request& req, const char* key, bool required) {
    auto v = req.body[key];
    if (!v) {
        if (required)
            return make_error("bad_request", std::string("\"") + key + "\" is missing");
        return std::string();
    }
    auto s = v.as_string();
    if (!s)
        return make_error("bad_request", std::string("\"") + key + "\" must be a string");
    return *s;
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
    m_calls = std::make_unique<media::Calls>(*m_relay, *m_pool, options);
    m_ticker = std::make_unique<ev::Ticker>(m_loop, TICK, [this] { on_tick(); });
    return {};
}

Status RelayService::reload(const config::ClusterConfig& cfg, const config::MemberConfig& me) {
    if (*me.media_ports != m_range) {
        if (m_calls->size() > 0)
            return make_error("config", cfg.path + ": members." + me.id +
                                            ".media_ports: " + me.media_ports->str() +
                                            " differs from " + m_range.str() + " while " +
                                            std::to_string(m_calls->size()) +
                                            " calls hold ports; restart rtprelayd to change it");
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

Result<json::Json> RelayService::sdp_op(const json::Request& req,
                                        std::optional<media::Exchange> as) {
    const bool is_offer = !as && req.op == "offer";
    auto call_id = text_field(req, "call_id", true);
    if (!call_id)
        return call_id.error();
    auto from_tag = text_field(req, "from_tag", true);
    if (!from_tag)
        return from_tag.error();
    // An answer names its answerer; the other ops may not know it yet.
    auto to_tag = text_field(req, "to_tag", !as && !is_offer);
    if (!to_tag)
        return to_tag.error();
    auto sdp = text_field(req, "sdp", true);
    if (!sdp)
        return sdp.error();
    // Where the SIP request that made the offer came from (sipfarmd), for
    // media_max_sessions_per_source; written the one way, so that
    // "::ffff:198.51.100.10" and "198.51.100.10" are one source.
    auto source = text_field(req, "source", false);
    if (!source)
        return source.error();
    if (!source->empty()) {
        auto host = net::SockAddr::parse_host(*source, 0);
        if (!host)
            return make_error("bad_request",
                              "\"source\" must be an IP address, not '" + *source + "'");
        *source = host->unmapped().host();
    }
    if (as) {
        auto how = text_field(req, "as", false);
        if (!how)
            return how.error();
        if (*how == "offer")
            as = media::Exchange::offer;
        else if (*how == "answer")
            as = media::Exchange::answer;
        else if (how->empty() || *how == "auto")
            as = media::Exchange::automatic;
        else
            return make_error("bad_request",
                              "\"as\" must be offer, answer or auto, not '" + *how + "'");
    }
    // Where the SIP dialog stands, when the client says (media::Dialog).
    media::Dialog dialog = media::Dialog::unknown;
    if (as) {
        if (auto v = req.body["answered"]) {
            auto b = v.as_bool();
            if (!b)
                return make_error("bad_request", "\"answered\" must be true or false");
            dialog = *b ? media::Dialog::answered : media::Dialog::early;
        }
    }
    const bool creates = !m_calls->query(*call_id);
    if (m_draining && creates)
        return make_error("draining", "member " + m_id + " is draining: no new media sessions");
    Result<media::SdpOut> out = make_error("internal", "no op");
    if (as)
        out = m_calls->exchange(*call_id, *from_tag, *to_tag, *sdp, *as, dialog, *source);
    else if (is_offer)
        out = m_calls->offer(*call_id, *from_tag, *to_tag, *sdp, *source);
    else
        out = m_calls->answer(*call_id, *from_tag, *to_tag, *sdp);
    if (!out) {
        log::info("media", "sdp refused",
                  {{"op", req.op},
                   {"call_id", *call_id},
                   {"code", out.error().code},
                   {"source", *source},
                   {"err", out.error().message}});
        return out.error();
    }
    json::Json ports = json::Json::array();
    for (size_t i = 0; i < out->ports.size(); ++i)
        ports.append(json::Json::object()
                         .set("index", static_cast<long long>(i))
                         .set("rtp", static_cast<long long>(out->ports[i].rtp))
                         .set("rtcp", static_cast<long long>(out->ports[i].rtcp)));
    if (out->created)
        log::info("media", "session created", {{"call_id", *call_id}});
    return json::Json::object()
        .set("sdp", out->sdp)
        .set("member", m_id)
        .set("address", m_calls->options().advertised.host())
        .set("to", std::string(media::leg_name(out->to)))
        .set("created", out->created)
        .set("as", out->answer ? "answer" : "offer")
        .set("unchanged", out->unchanged)
        .set("ports", std::move(ports));
}

void RelayService::register_ops(json::ControlServer& server) {
    // Offers, answers and deletes change state: a client's retry (same
    // connection, same line) is answered from the server's cache.
    const json::OpOptions once{.retry_cache = true};
    server.on(
        "offer",
        [this](const json::Request& req, const json::Peer&, json::Reply reply) {
            reply(sdp_op(req, std::nullopt));
        },
        once);
    server.on(
        "answer",
        [this](const json::Request& req, const json::Peer&, json::Reply reply) {
            reply(sdp_op(req, std::nullopt));
        },
        once);
    server.on(
        "sdp",
        [this](const json::Request& req, const json::Peer&, json::Reply reply) {
            reply(sdp_op(req, media::Exchange::automatic));
        },
        once);
    server.on(
        "delete",
        [this](const json::Request& req, const json::Peer&, json::Reply reply) {
            auto call_id = text_field(req, "call_id", true);
            if (!call_id) {
                reply(call_id.error());
                return;
            }
            // A CANCEL or an error response ends a call only before it
            // was answered (not a failed re-INVITE).
            if (req.body["if_unanswered"].as_bool().value_or(false)) {
                auto info = m_calls->query(*call_id);
                if (info && info->answered) {
                    reply(json::Json::object().set("call_id", *call_id).set("deleted", false));
                    return;
                }
            }
            if (!m_calls->remove(*call_id, "deleted")) {
                reply(make_error("not_found", "no media session for call " + *call_id));
                return;
            }
            reply(json::Json::object().set("call_id", *call_id).set("deleted", true));
            check_drained();
        },
        once);
    server.on("query", [this](const json::Request& req, const json::Peer&, json::Reply reply) {
        auto call_id = text_field(req, "call_id", true);
        if (!call_id) {
            reply(call_id.error());
            return;
        }
        auto info = m_calls->query(*call_id);
        if (!info) {
            reply(info.error());
            return;
        }
        const auto now = m_relay->now();
        const auto& adv = m_calls->options().advertised;
        json::Json streams = json::Json::array();
        for (const auto& s : info->streams)
            streams.append(json::Json::object()
                               .set("index", static_cast<long long>(s.index))
                               .set("media", s.media)
                               .set("caller", side_json(s.relay.sides[0], adv))
                               .set("callee", side_json(s.relay.sides[1], adv)));
        reply(json::Json::object()
                  .set("call_id", info->call_id)
                  .set("member", m_id)
                  .set("caller_tag", info->tags[0])
                  .set("callee_tag", info->tags[1])
                  .set("answered", info->answered)
                  .set("age_ms", ms(now - info->created))
                  .set("signal_age_ms", ms(now - info->last_signal))
                  .set("streams", std::move(streams)));
    });
    server.on("list", [this](const json::Request&, const json::Peer&, json::Reply reply) {
        const auto now = m_relay->now();
        json::Json sessions = json::Json::array();
        for (const auto& c : m_calls->list()) {
            uint64_t packets = 0;
            std::optional<media::Clock::duration> idle;
            for (const auto& s : c.streams)
                for (const auto& side : s.relay.sides) {
                    packets += side.counters.packets;
                    if (side.last_packet_age)
                        idle =
                            idle ? std::min(*idle, *side.last_packet_age) : *side.last_packet_age;
                }
            sessions.append(json::Json::object()
                                .set("call_id", c.call_id)
                                .set("streams", static_cast<long long>(c.streams.size()))
                                .set("answered", c.answered)
                                .set("age_ms", ms(now - c.created))
                                .set("packets", static_cast<long long>(packets))
                                .set("last_packet_age_ms",
                                     idle ? json::Json::integer(ms(*idle)) : json::Json::null()));
        }
        reply(json::Json::object()
                  .set("member", m_id)
                  .set("count", static_cast<long long>(m_calls->size()))
                  .set("sessions", std::move(sessions)));
    });
}

json::Json RelayService::stats() const {
    json::Json out = json::Json::object()
                         .set("member", m_id)
                         .set("media_ports", m_range.str())
                         .set("draining", m_draining);
    if (!m_calls)
        return out;
    const auto& o = m_calls->options();
    const auto p = m_pool->counters();
    const auto& r = m_relay->counters();
    const auto& c = m_calls->counters();
    json::Json failed = json::Json::object();
    for (const auto& [code, n] : c.failed)
        failed.set(code.c_str(), static_cast<long long>(n));
    auto source_refused = c.failed.find("source_sessions_exhausted");
    out.set("advertised_ip", o.advertised.host())
        .set("bind", o.bind.host())
        .set("strict", o.strict)
        .set("timeout_s", static_cast<long long>(
                              std::chrono::duration_cast<std::chrono::seconds>(o.timeout).count()))
        .set("unlatched_timeout_s",
             static_cast<long long>(
                 std::chrono::duration_cast<std::chrono::seconds>(o.unlatched_timeout).count()))
        .set("max_streams", static_cast<long long>(o.max_streams))
        .set("max_sessions", static_cast<long long>(o.max_sessions))
        .set("max_sessions_per_source", static_cast<long long>(o.max_sessions_per_source))
        .set("sources", static_cast<long long>(m_calls->sources()))
        .set("source_refused",
             static_cast<long long>(source_refused == c.failed.end() ? 0 : source_refused->second))
        .set("media_allow", prefixes_json(o.policy.allow))
        .set("sessions", static_cast<long long>(m_calls->size()))
        .set("streams", static_cast<long long>(r.streams))
        .set("sockets", static_cast<long long>(r.sockets))
        .set("ports", json::Json::object()
                          .set("capacity", static_cast<long long>(p.capacity_ports))
                          .set("in_use", static_cast<long long>(p.in_use))
                          .set("free", static_cast<long long>(p.free))
                          .set("free_pairs", static_cast<long long>(p.free_pairs))
                          .set("high_water", static_cast<long long>(p.high_water))
                          .set("exhausted", static_cast<long long>(p.exhausted)))
        .set("packets", static_cast<long long>(r.packets))
        .set("bytes", static_cast<long long>(r.bytes))
        .set("dropped", dropped_json(r.dropped))
        .set("send_failed", static_cast<long long>(r.send_failed))
        .set("receive_errors", static_cast<long long>(r.receive_errors))
        .set("latched", static_cast<long long>(r.latched))
        .set("offers", static_cast<long long>(c.offers))
        .set("answers", static_cast<long long>(c.answers))
        .set("created", static_cast<long long>(c.created))
        .set("deleted", static_cast<long long>(c.deleted))
        .set("expired", static_cast<long long>(c.expired))
        .set("unlatched", static_cast<long long>(c.unlatched))
        .set("relatched", static_cast<long long>(c.relatched))
        .set("bind_retries", static_cast<long long>(c.bind_retries))
        .set("failed", std::move(failed));
    if (m_fd_limit)
        out.set("fd_limit", static_cast<long long>(m_fd_limit->soft));
    return out;
}

} // namespace rtfarm::rtprelayd
