// FarmService's control operations (farm.hpp; rtfarm-control(7)): members,
// drain, undrain and set (here or passed on to another member), place and
// route, and the `stats` figures.
#include "farm.hpp"

#include "queries.hpp"

namespace rtfarm::sipfarmd {

json::Json FarmService::farm_key_json() const {
    json::Json held = json::Json::array();
    for (const auto& id : m_settings.keys.ids())
        held.append(json::Json::string(id));
    const cluster::FarmKey* k = m_settings.keys.signing();
    return json::Json::object()
        .set("signing", k ? json::Json::string(k->id) : json::Json::null())
        .set("held", std::move(held));
}

void FarmService::drain(std::function<void()> done) {
    // Tell the others at once: new Call-IDs go elsewhere from now on.
    if (m_membership && m_membership->set_draining(true))
        apply_view();
    send_heartbeats();
    done();
}

bool FarmService::for_another_member(const control::Request& req, const control::Reply& reply) {
    auto named = req.body["member"];
    if (!named)
        return false;
    auto id = named.as_string();
    if (!id) {
        reply(make_error("bad_request", "\"member\" must be a member id"));
        return true;
    }
    if (*id == m_id)
        return false;
    if (!m_membership->find(*id)) {
        reply(make_error("unknown_member", "no member '" + *id + "' in the config"));
        return true;
    }
    control::ControlLink* link = m_member_links.get(*id);
    if (!link) {
        reply(make_error("unreachable", "member " + *id + " has no control_tcp, so " + m_id +
                                            " cannot pass the " + req.op +
                                            " on: use its own control socket"));
        return true;
    }
    // It changes its own state and answers; its answer is ours.
    json::Json args = json::Json::object();
    for (const char* key : {"member", "sip_farm", "call_legs", "signals"})
        if (auto v = req.body[key])
            args.set(key, v);
    log::info("farm", "passed on", {{"op", req.op}, {"member", *id}});
    link->call(req.op, args, MediaAnchor::REQUEST_TIMEOUT,
               [reply](Result<json::Json> r) { reply(std::move(r)); });
    return true;
}

void FarmService::register_ops(control::ControlServer& server) {
    server.on("members",
              [this](const control::Request&, const control::Peer&, control::Reply reply) {
                  reply(m_membership->to_json().set("farm_key", farm_key_json()));
              });
    auto drain_op = [this](bool draining) {
        return [this, draining](const control::Request& req, const control::Peer&,
                                control::Reply reply) {
            if (for_another_member(req, reply))
                return;
            if (m_membership->set_draining(draining))
                apply_view();
            send_heartbeats();
            log::info("farm", draining ? "draining" : "undrained", {{"member", m_id}});
            reply(m_membership->to_json().set("changed", m_id));
        };
    };
    server.on("drain", drain_op(true));
    server.on("undrain", drain_op(false));
    server.on("set", [this](const control::Request& req, const control::Peer&,
                            control::Reply reply) {
        if (for_another_member(req, reply))
            return;
        std::optional<config::SipFarm> sip_farm;
        std::optional<config::Placement> call_legs, signals;
        bool any = false;
        for (const char* key : {"sip_farm", "call_legs", "signals"}) {
            auto v = req.body[key];
            if (!v)
                continue;
            auto text = v.as_string();
            bool ok = false;
            if (text && std::string_view(key) == "sip_farm") {
                sip_farm = config::parse_sip_farm(*text);
                ok = sip_farm.has_value();
            } else if (text && std::string_view(key) == "call_legs") {
                call_legs = config::parse_placement(*text);
                ok = call_legs.has_value();
            } else if (text) {
                signals = config::parse_placement(*text);
                ok = signals.has_value();
            }
            if (!ok) {
                reply(make_error("bad_request", std::string("\"") + key +
                                                    "\": sip_farm is member|disabled|relay|auto; "
                                                    "call_legs and signals are locally|"
                                                    "locally-for-others|remotely|auto"));
                return;
            }
            any = true;
        }
        if (!any) {
            reply(make_error("bad_request", "set needs sip_farm, call_legs or signals"));
            return;
        }
        if (m_membership->set_modes(sip_farm, call_legs, signals))
            apply_view();
        send_heartbeats();
        reply(m_membership->to_json().set("changed", m_id));
    });
    m_events.register_ops(server);
    m_media.register_ops(server);
    // Deferred: a connection closes from inside the server's own calls.
    server.on_disconnect([this](uint64_t connection) {
        m_loop.defer([this, connection] { m_events.disconnected(connection); });
    });
    // Read-only questions about placement and routing (queries.hpp).
    server.on("place",
              [this](const control::Request& req, const control::Peer&, control::Reply reply) {
                  reply(place_query(req.body, *m_membership, m_id));
              });
    server.on("route",
              [this](const control::Request& req, const control::Peer&, control::Reply reply) {
                  reply(route_query(req.body, m_settings.view, m_recent, m_settings.proxy.rr_host));
              });
}

json::Json FarmService::stats() const {
    // The members of the view by state (every state present, 0 included).
    auto members = json::Json::object();
    for (auto st :
         {cluster::MemberState::up, cluster::MemberState::draining, cluster::MemberState::down}) {
        long long n = 0;
        if (m_membership)
            for (const auto& m : m_membership->members())
                n += m.state == st ? 1 : 0;
        members.set(std::string(cluster::to_string(st)).c_str(), n);
    }
    auto stats = json::Json::object().set("sockets", m_sockets.stats());
    m_counters.add_to(stats);
    return stats.set("epoch", static_cast<long long>(m_settings.view.epoch))
        .set("members", std::move(members))
        .set("flood", json::Json::object()
                          .set("limit", static_cast<long long>(m_flood.settings().limit))
                          .set("sources", static_cast<long long>(m_flood.sources()))
                          .set("blocked", static_cast<long long>(m_flood.blocked_sources(
                                              std::chrono::steady_clock::now())))
                          .set("dropped", static_cast<long long>(m_flood.dropped()))
                          .set("untracked", static_cast<long long>(m_flood.untracked())))
        .set("recent_call_ids", static_cast<long long>(m_recent.size()))
        .set("recent_ringing_call_ids",
             static_cast<long long>(m_recent.size(cluster::RecentCalls::Tier::ringing)))
        .set("recent_call_ids_evicted", static_cast<long long>(m_recent.evicted()))
        .set("probe_sources", static_cast<long long>(m_probe_limits.size()))
        .set("handoff_views", static_cast<long long>(m_settings.view.previous.size()))
        .set("streams", m_streams.stats())
        .set("events", m_events.stats())
        .set("media", m_media.stats());
}

} // namespace rtfarm::sipfarmd
