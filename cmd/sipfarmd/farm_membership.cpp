// FarmService's membership (farm.hpp): heartbeats sent and taken, the view
// they make and the farm key it signs with (cluster/membership.hpp,
// cluster/farm_keys.hpp). The packet path routes by m_settings.view, which
// only these functions change.
#include "farm.hpp"

namespace rtfarm::sipfarmd {

void FarmService::apply_view() {
    sip::FarmView view = m_membership->farm_view();
    view.previous = m_settings.view.previous;
    view.key = m_settings.view.key;
    if (view == m_settings.view)
        return;
    auto now = std::chrono::steady_clock::now();
    if (m_first_view) {
        // New to the others: until they have routed with us for the grace,
        // their calls in progress may hash to us now.
        m_startup_view = cluster::without_member(view.members, m_id);
        m_history.replaced({*m_startup_view, view.key}, {view.members, view.key}, now);
        m_started = now;
        m_first_view = false;
    } else {
        m_history.replaced({m_settings.view.members, view.key}, {view.members, view.key}, now);
    }
    view.previous = m_history.views();
    std::string states;
    for (const auto& m : m_membership->members())
        states +=
            (states.empty() ? "" : ",") + m.id + ":" + std::string(cluster::to_string(m.state));
    log::info("farm", "view",
              {{"epoch", std::to_string(view.epoch)},
               {"members", states},
               {"handoff_views", std::to_string(view.previous.size())},
               {"farm_member", view.self_farm_member ? "yes" : "no"},
               {"relay", view.self_relay ? "yes" : "no"}});
    m_settings.view = std::move(view);
}

void FarmService::on_heartbeat_timer() {
    auto now = std::chrono::steady_clock::now();
    if (m_membership->tick(now))
        apply_view();
    apply_keys();
    if (!m_retired_branch_keys.empty() && m_retired_branch_keys.front().until <= now)
        set_branch_keys(now);
    m_recent.expire(now);
    if (m_startup_view && now - m_started >= m_dead_after) {
        // Everyone up has been heard by now: did anyone route without us?
        if (!m_membership->has_older_peer(m_dead_after / 2) && m_history.drop(*m_startup_view)) {
            m_settings.view.previous = m_history.views();
            log::info("farm", "started with the cluster: no hand-off from before us",
                      {{"member", m_id}});
        }
        m_startup_view.reset();
    }
    // Our load, for placement by least load: Call-IDs in progress here.
    m_membership->set_load(static_cast<uint32_t>(m_recent.size()));
    if (m_history.expire(now))
        m_settings.view.previous = m_history.views();
    send_heartbeats();
}

void FarmService::send_heartbeats() {
    Socket* link = m_sockets.first(SocketKind::farm_link, m_settings.farm_link.family());
    if (!link)
        return;
    sip::FarmEnvelope env;
    env.flags = sip::FARM_FLAG_HEARTBEAT;
    env.source = m_settings.farm_link;
    env.destination = m_settings.farm_link;
    env.receiver = m_id;
    env.sender = m_id;
    cluster::Heartbeat hb = m_membership->self_heartbeat();
    hb.sources = m_flood.report(std::chrono::steady_clock::now());
    std::string payload = cluster::encode_heartbeat(hb);
    for (const auto& [id, addr] : m_settings.peers) {
        if (id == m_id || addr.family() != link->addr.family())
            continue;
        // A peer that is not running answers with ICMP; nothing to do about it.
        if (m_egress.to_member(id, env, payload))
            ++m_counters.heartbeats_out;
    }
}

void FarmService::on_peer_heartbeat(std::string_view payload, const std::string& peer) {
    Arrival a;
    a.origin = sip::Origin::farm_link;
    auto hb = cluster::decode_heartbeat(payload);
    if (!hb) {
        drop(hb.error().code, a, hb.error().message);
        return;
    }
    if (hb->id != peer) {
        drop("heartbeat_impostor", a, hb->id + " from " + peer + "'s address");
        return;
    }
    ++m_counters.heartbeats_in;
    bool changed = false;
    auto now = std::chrono::steady_clock::now();
    if (m_flood.enabled())
        m_flood.on_report(hb->id, std::move(hb->sources), now);
    m_membership->on_heartbeat(*hb, now, &changed);
    if (changed)
        apply_view();
    apply_keys();
}

void FarmService::apply_keys() {
    cluster::FarmKeys& keys = m_settings.keys;
    keys.choose(m_membership->members(), m_id);
    std::optional<crypto::SipKey> key;
    if (const cluster::FarmKey* k = keys.signing())
        key = k->route;
    if (key == m_settings.view.key)
        return;
    // New Call-IDs hash by the new key; those in progress are found on
    // their owner by the old one (sip/route.hpp, hand-off).
    auto now = std::chrono::steady_clock::now();
    m_history.replaced({m_settings.view.members, m_settings.view.key},
                       {m_settings.view.members, key}, now);
    m_settings.view.key = key;
    m_settings.view.previous = m_history.views();
    std::string held;
    for (const auto& id : keys.ids())
        held += (held.empty() ? "" : ",") + id;
    log::info("farm", "farm key",
              {{"signing", keys.signing() ? keys.signing()->id : "none"},
               {"held", held.empty() ? "none" : held},
               {"handoff_views", std::to_string(m_settings.view.previous.size())}});
}

void FarmService::set_branch_keys(std::chrono::steady_clock::time_point now) {
    std::erase_if(m_retired_branch_keys, [&](const RetiredKey& r) { return r.until <= now; });
    auto& earlier = m_settings.proxy.earlier_branch_keys;
    earlier.clear();
    for (size_t i = 1; i < m_settings.keys.held().size(); ++i)
        earlier.push_back(m_settings.keys.held()[i].branch);
    for (const auto& r : m_retired_branch_keys)
        earlier.push_back(r.key);
}

} // namespace rtfarm::sipfarmd
