#include "cluster/membership.hpp"

#include <algorithm>

namespace rtfarm::cluster {

namespace {

json::Json string_array(const std::vector<std::string>& items) {
    json::Json a = json::Json::array();
    for (const auto& s : items)
        a.append(json::Json::string(s));
    return a;
}

} // namespace

std::string_view to_string(MemberState s) {
    switch (s) {
    case MemberState::up:
        return "up";
    case MemberState::draining:
        return "draining";
    case MemberState::down:
        return "down";
    }
    return "?";
}

std::string encode_heartbeat(const Heartbeat& hb) {
    json::Json j = json::Json::object()
                       .set("hb", 1)
                       .set("id", hb.id)
                       .set("inc", static_cast<long long>(hb.incarnation))
                       .set("seq", static_cast<long long>(hb.seq))
                       .set("draining", hb.draining)
                       .set("sip_farm", config::to_string(hb.sip_farm))
                       .set("call_legs", config::to_string(hb.call_legs))
                       .set("signals", config::to_string(hb.signals))
                       .set("load", static_cast<long long>(hb.load));
    if (!hb.sources.empty()) {
        json::Json flood = json::Json::array();
        for (const auto& [addr, n] : hb.sources) {
            json::Json e = json::Json::array();
            e.append(json::Json::string(addr));
            e.append(json::Json::integer(static_cast<long long>(n)));
            flood.append(std::move(e));
        }
        j.set("flood", std::move(flood));
    }
    if (!hb.keys.empty())
        j.set("keys", string_array(hb.keys));
    return j.dump();
}

Result<Heartbeat> decode_heartbeat(std::string_view text) {
    auto doc = json::parse(text, "heartbeat");
    if (!doc)
        return make_error("bad_heartbeat", doc.error().message);
    const json::Json& j = *doc;
    Heartbeat hb;
    auto id = j["id"].as_string();
    auto inc = j["inc"].as_integer();
    auto seq = j["seq"].as_integer();
    auto draining = j["draining"].as_bool();
    auto load = j["load"].as_integer();
    auto sf = j["sip_farm"].as_string();
    auto cl = j["call_legs"].as_string();
    auto sg = j["signals"].as_string();
    if (j["hb"].as_integer() != 1 || !id || !inc || !seq || !draining || !load || !sf || !cl ||
        !sg || *inc < 0 || *seq < 0 || *load < 0)
        return make_error("bad_heartbeat",
                          "heartbeat without hb=1, id, inc, seq, draining, modes or load");
    auto sip_farm = config::parse_sip_farm(*sf);
    auto call_legs = config::parse_placement(*cl);
    auto signals = config::parse_placement(*sg);
    if (!sip_farm || !call_legs || !signals)
        return make_error("bad_heartbeat", "heartbeat with an unknown mode");
    hb.id = *id;
    hb.incarnation = static_cast<uint64_t>(*inc);
    hb.seq = static_cast<uint64_t>(*seq);
    hb.draining = *draining;
    hb.sip_farm = *sip_farm;
    hb.call_legs = *call_legs;
    hb.signals = *signals;
    hb.load = static_cast<uint32_t>(std::min<long long>(*load, UINT32_MAX));
    // Optional: the sender's busiest sources, each [address, count].
    json::Json flood = j["flood"];
    if (flood) {
        if (!flood.is_array() || flood.size() > FloodGuard::MAX_REPORTED)
            return make_error("bad_heartbeat", "flood: not an array of at most " +
                                                   std::to_string(FloodGuard::MAX_REPORTED));
        for (size_t i = 0; i < flood.size(); ++i) {
            json::Json e = flood.at(i);
            auto addr = e.at(0).as_string();
            auto n = e.at(1).as_integer();
            if (!e.is_array() || e.size() != 2 || !addr || !n || *n < 0 ||
                !SockAddr::parse_host(*addr, 0))
                return make_error("bad_heartbeat", "flood: an entry is not [address, count]");
            hb.sources.emplace_back(*addr,
                                    static_cast<uint32_t>(std::min<long long>(*n, UINT32_MAX)));
        }
    }
    // Optional: the ids of the secrets the sender holds (16 hex digits each).
    json::Json keys = j["keys"];
    if (keys) {
        if (!keys.is_array() || keys.size() > MAX_HEARTBEAT_KEYS)
            return make_error("bad_heartbeat", "keys: not an array of at most " +
                                                   std::to_string(MAX_HEARTBEAT_KEYS));
        for (size_t i = 0; i < keys.size(); ++i) {
            auto k = keys.at(i).as_string();
            if (!k || k->size() != 16 ||
                k->find_first_not_of("0123456789abcdef") != std::string::npos)
                return make_error("bad_heartbeat", "keys: an entry is not 16 hex digits");
            hb.keys.push_back(*k);
        }
    }
    return hb;
}

Membership::Membership(const config::ClusterConfig& cfg, std::string self, uint64_t incarnation,
                       Clock::time_point now)
    : m_self(std::move(self))
    , m_dead_after(cfg.cluster.dead_after_ms) {
    reconfigure(cfg);
    // Presumed up, as if heard just now: the others are most likely running
    // (this member restarts into a live cluster far more often than the
    // whole cluster starts), and routing as they do from the first packet
    // keeps their calls where they are. One not heard for dead_after_ms goes
    // down as usual.
    for (auto& m : m_members) {
        m.state = MemberState::up;
        m.last_heard = now;
    }
    if (auto* me = find_mut(m_self)) {
        me->heard = true;
        me->incarnation = incarnation;
    }
    m_signature = routing_signature();
}

MemberStatus* Membership::find_mut(std::string_view id) {
    for (auto& m : m_members)
        if (m.id == id)
            return &m;
    return nullptr;
}

const MemberStatus* Membership::find(std::string_view id) const {
    for (const auto& m : m_members)
        if (m.id == id)
            return &m;
    return nullptr;
}

void Membership::reconfigure(const config::ClusterConfig& cfg) {
    m_dead_after = std::chrono::milliseconds(cfg.cluster.dead_after_ms);
    std::vector<MemberStatus> next;
    for (const auto& mc : cfg.members) {
        MemberStatus s;
        if (const MemberStatus* old = find(mc.id))
            s = *old;
        s.id = mc.id;
        s.role = mc.role;
        if (mc.id == m_self || !s.heard) {
            // Our own modes come from the file; others' from what they say.
            s.sip_farm = mc.sip_farm;
            s.call_legs = mc.call_legs;
            s.signals = mc.signals;
        }
        next.push_back(s);
    }
    m_members = std::move(next);
    m_config = cfg.members;
    bump();
}

void Membership::bump() {
    std::string sig = routing_signature();
    if (sig != m_signature) {
        m_signature = std::move(sig);
        ++m_epoch;
    }
}

std::string Membership::routing_signature() const {
    std::string sig;
    auto eff = effective();
    for (size_t i = 0; i < m_members.size(); ++i) {
        sig += m_members[i].id;
        sig += ':';
        sig += to_string(m_members[i].state);
        sig += ':';
        sig += config::to_string(eff[i].sip_farm);
        sig += config::to_string(eff[i].call_legs);
        sig += config::to_string(eff[i].signals);
        sig += ';';
    }
    return sig;
}

bool Membership::on_heartbeat(const Heartbeat& hb, Clock::time_point now, bool* changed) {
    if (changed)
        *changed = false;
    if (hb.id == m_self)
        return false;
    MemberStatus* m = find_mut(hb.id);
    if (!m)
        return false;
    // Older than what we know: a late or replayed heartbeat, unless what we
    // know has been silent for dead_after_ms (issue 17: a member restarted
    // with its clock behind has a lower incarnation, and must come back).
    const bool silent = m->state == MemberState::down || now - m->last_heard >= m_dead_after;
    if (m->heard && !silent &&
        (hb.incarnation < m->incarnation || (hb.incarnation == m->incarnation && hb.seq <= m->seq)))
        return false;
    if (m->heard && silent && hb.incarnation == m->incarnation && hb.seq <= m->seq)
        return false; // the same run, going backwards: a replay, not a restart
    uint64_t before = m_epoch;
    m->heard = true;
    m->last_heard = now;
    m->incarnation = hb.incarnation;
    m->seq = hb.seq;
    m->state = hb.draining ? MemberState::draining : MemberState::up;
    m->sip_farm = hb.sip_farm;
    m->call_legs = hb.call_legs;
    m->signals = hb.signals;
    m->load = hb.load;
    m->keys = hb.keys;
    bump();
    if (changed)
        *changed = m_epoch != before;
    return true;
}

bool Membership::tick(Clock::time_point now) {
    uint64_t before = m_epoch;
    for (auto& m : m_members) {
        if (m.id == m_self || m.state == MemberState::down)
            continue;
        if (now - m.last_heard >= m_dead_after)
            m.state = MemberState::down;
    }
    bump();
    return m_epoch != before;
}

bool Membership::has_older_peer(std::chrono::milliseconds margin) const {
    const MemberStatus* me = find(m_self);
    if (!me)
        return false;
    auto ms = static_cast<uint64_t>(margin.count());
    for (const auto& m : m_members)
        if (m.id != m_self && m.heard && m.state != MemberState::down &&
            m.incarnation + ms < me->incarnation)
            return true;
    return false;
}

bool Membership::set_draining(bool draining) {
    MemberStatus* me = find_mut(m_self);
    if (!me)
        return false;
    uint64_t before = m_epoch;
    me->state = draining ? MemberState::draining : MemberState::up;
    bump();
    return m_epoch != before;
}

bool Membership::set_modes(std::optional<config::SipFarm> sip_farm,
                           std::optional<config::Placement> call_legs,
                           std::optional<config::Placement> signals) {
    MemberStatus* me = find_mut(m_self);
    if (!me)
        return false;
    uint64_t before = m_epoch;
    if (sip_farm)
        me->sip_farm = *sip_farm;
    if (call_legs)
        me->call_legs = *call_legs;
    if (signals)
        me->signals = *signals;
    bump();
    return m_epoch != before;
}

void Membership::set_load(uint32_t load) {
    if (MemberStatus* me = find_mut(m_self))
        me->load = load;
}

void Membership::set_keys(std::vector<std::string> ids) {
    if (MemberStatus* me = find_mut(m_self))
        me->keys = std::move(ids);
}

Heartbeat Membership::self_heartbeat() {
    MemberStatus* me = find_mut(m_self);
    Heartbeat hb;
    if (!me)
        return hb;
    hb.id = me->id;
    hb.incarnation = me->incarnation;
    hb.seq = ++me->seq;
    hb.draining = me->state == MemberState::draining;
    hb.sip_farm = me->sip_farm;
    hb.call_legs = me->call_legs;
    hb.signals = me->signals;
    hb.load = me->load;
    hb.keys = me->keys;
    return hb;
}

std::vector<EffectiveModes> Membership::effective() const {
    // Auto resolution against the members that are up (or draining: they
    // still serve their dialogs), Dynamic Cluster members only.
    std::vector<bool> is_member;
    for (const auto& m : m_members)
        is_member.push_back(m.state != MemberState::down && m.role != config::Role::standalone &&
                            effective_sip_farm(m.role, m.sip_farm, false) ==
                                config::SipFarm::member);
    std::vector<EffectiveModes> out;
    for (size_t i = 0; i < m_members.size(); ++i) {
        const auto& m = m_members[i];
        bool other = false;
        for (size_t j = 0; j < m_members.size(); ++j)
            other = other || (j != i && is_member[j]);
        out.push_back({m.id, effective_sip_farm(m.role, m.sip_farm, other),
                       effective_placement(m.role, m.call_legs),
                       effective_placement(m.role, m.signals)});
    }
    return out;
}

sip::FarmView Membership::farm_view() const {
    sip::FarmView v;
    v.self = m_self;
    v.epoch = m_epoch;
    auto eff = effective();
    for (size_t i = 0; i < m_members.size(); ++i) {
        const auto& m = m_members[i];
        bool member =
            m.role != config::Role::standalone && eff[i].sip_farm == config::SipFarm::member;
        v.members.push_back(
            {m.id, member, m.state != MemberState::down, m.state == MemberState::draining});
        if (m.id == m_self) {
            v.self_farm_member = eff[i].sip_farm == config::SipFarm::member;
            v.self_relay = eff[i].sip_farm == config::SipFarm::relay;
        }
    }
    return v;
}

json::Json Membership::to_json() const {
    auto list = json::Json::array();
    auto eff = effective();
    for (size_t i = 0; i < m_members.size(); ++i) {
        const auto& m = m_members[i];
        const auto& c = m_config[i];
        auto item = json::Json::object()
                        .set("id", m.id)
                        .set("role", config::to_string(m.role))
                        .set("state", to_string(m.state))
                        .set("heard", m.heard)
                        .set("sip_farm", config::to_string(eff[i].sip_farm))
                        .set("call_legs", config::to_string(eff[i].call_legs))
                        .set("signals", config::to_string(eff[i].signals))
                        .set("address", c.address.host())
                        .set("media_ports", c.media_ports ? c.media_ports->str() : std::string())
                        .set("load", static_cast<long long>(m.load))
                        .set("keys", string_array(m.keys))
                        .set("configured", json::Json::object()
                                               .set("sip_farm", config::to_string(m.sip_farm))
                                               .set("call_legs", config::to_string(m.call_legs))
                                               .set("signals", config::to_string(m.signals)));
        list.append(std::move(item));
    }
    return json::Json::object()
        .set("epoch", static_cast<long long>(m_epoch))
        .set("members", std::move(list));
}

} // namespace rtfarm::cluster
