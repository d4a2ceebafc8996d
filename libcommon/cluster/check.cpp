#include "cluster/check.hpp"

#include <algorithm>

namespace rtfarm::cluster {

using config::Media;
using config::MemberConfig;
using config::Placement;
using config::Role;
using config::SipFarm;

std::string_view to_string(MediaMethod m) {
    switch (m) {
    case MediaMethod::none:
        return "none";
    case MediaMethod::single_ip:
        return "single-ip";
    case MediaMethod::multi_ip:
        return "multi-ip";
    case MediaMethod::mixed:
        return "mixed";
    }
    return "?";
}

size_t CheckReport::count(Severity s) const {
    return static_cast<size_t>(std::count_if(findings.begin(), findings.end(),
                                             [s](const Finding& f) { return f.severity == s; }));
}

namespace {

bool same_address(const std::optional<SockAddr>& a, const std::optional<SockAddr>& b) {
    if (!a || !b)
        return !a && !b;
    return a->same_host(*b);
}

std::string address_text(const std::optional<SockAddr>& a) {
    return a ? a->host() : "no address";
}

// The number of ports covered by a set of ranges, overlaps counted once.
size_t union_ports(std::vector<PortRange> ranges) {
    std::sort(ranges.begin(), ranges.end(),
              [](const PortRange& a, const PortRange& b) { return a.lo < b.lo; });
    size_t total = 0;
    size_t next = 0; // first port not yet counted
    for (const auto& r : ranges) {
        size_t lo = std::max<size_t>(r.lo, next);
        if (lo <= r.hi)
            total += r.hi - lo + 1;
        next = std::max<size_t>(next, size_t(r.hi) + 1);
    }
    return total;
}

std::string join(const std::vector<std::string>& items) {
    std::string out;
    for (size_t i = 0; i < items.size(); ++i) {
        if (i > 0)
            out += ", ";
        out += items[i];
    }
    return out;
}

class Checker {
public:
    Checker(const config::ClusterConfig& cfg)
        : m_cfg(cfg)
        , m_modes(resolve_all(cfg)) {}

    CheckReport run() {
        m_report.cluster_name = m_cfg.cluster.name;
        media_method();
        media_ranges();
        media_addresses();
        modes();
        media_per_source();
        farm_link();
        build_capacity();
        return std::move(m_report);
    }

private:
    void add(Severity s, std::string id, std::string member, std::string message) {
        m_report.findings.push_back({std::move(id), s, std::move(message), "", std::move(member)});
    }

    // Issue 17: the farm link's trust (config::farm_link_trust()): what
    // sipfarmd refuses is an error here, and the operator's choice to run
    // without a secret a warning.
    void farm_link() {
        if (Status st = config::farm_link_trust(m_cfg); !st) {
            add(Severity::error,
                m_cfg.cluster.secret.empty() ? "farm-link-no-secret" : "farm-link-short-secret", "",
                st.error().message);
            return;
        }
        if (m_cfg.cluster.secret.empty() && !config::all_on_loopback(m_cfg))
            add(Severity::warning, "farm-link-insecure", "",
                "insecure_farm_link is true: the farm link trusts any packet from a member's "
                "address, so anyone who can send from one forges heartbeats (drain a member, "
                "change its modes) and relayed requests; set a secret_file on every member");
        if (!m_cfg.cluster.previous_secret.empty())
            add(Severity::info, "farm-key-rotation", "",
                "previous_secret_file is set: a key rotation is under way (rtfarm.conf(5), "
                "\"Rotating the secret\"); once cgclusterctl members shows every member signing "
                "with the new key, remove previous_secret_file from every member's file and "
                "reload each");
    }

    // Issue 16: the per-source cap is off by default (one SBC, trunk or
    // source-NATting load balancer carries every call from one address);
    // say which way it is, where a relay runs.
    void media_per_source() {
        bool relays = false;
        for (const MemberConfig& m : m_cfg.members)
            relays = relays || m.media_ports.has_value();
        if (!relays)
            return;
        const unsigned limit = m_cfg.cluster.media_max_sessions_per_source;
        if (limit == 0)
            add(Severity::info, "media-per-source", "",
                "media_max_sessions_per_source is 0: one source address may hold every call a "
                "relay carries; set it when clients reach the farm directly (an SBC, trunk or "
                "source-NATting load balancer in front sends every call from one address)");
        else
            add(Severity::info, "media-per-source", "",
                "a relay takes at most " + std::to_string(limit) +
                    " calls at once from one source address (media_max_sessions_per_source); "
                    "an SBC, trunk or source-NATting load balancer in front sends every call "
                    "from one address and gets 503 beyond that");
    }

    // A member terminates media when it has a media range, or anchors media
    // and creates its own call legs.
    bool hosts_media(size_t i) const {
        const MemberConfig& m = m_cfg.members[i];
        return m.media_ports ||
               (m_cfg.media_of(m) == Media::anchor && m_modes[i].call_legs != Placement::remotely);
    }

    // The members whose addresses decide the media method: the frontends;
    // in a cluster without frontends, the members that terminate media.
    std::vector<size_t> media_members() const {
        std::vector<size_t> out;
        for (size_t i = 0; i < m_cfg.members.size(); ++i)
            if (m_cfg.members[i].role == Role::frontend)
                out.push_back(i);
        if (!out.empty())
            return out;
        for (size_t i = 0; i < m_cfg.members.size(); ++i)
            if (hosts_media(i))
                out.push_back(i);
        return out;
    }

    void media_method() {
        m_media_members = media_members();
        const std::vector<size_t>& mm = m_media_members;
        std::vector<std::string> with, without;
        for (size_t i : mm)
            (m_cfg.members[i].wan_ip ? with : without).push_back(m_cfg.members[i].id);
        const auto& vip = m_cfg.cluster.wan_ip;
        bool any_media = false;
        for (size_t i = 0; i < m_cfg.members.size(); ++i)
            any_media |= hosts_media(i);
        if (mm.empty() || !any_media) {
            m_report.method = MediaMethod::none;
            add(Severity::info, "media-method", "",
                "no member terminates media (no media_ports, no media anchor): the WAN IP "
                "settings are not checked");
        } else if (with.empty()) {
            m_report.method = MediaMethod::single_ip;
            if (!vip) {
                m_single_ip_without_vip = true;
                add(Severity::error, "single-ip-no-cluster-wan-ip", "",
                    "no member has a Server-wide WAN IP (" + join(without) +
                        "), so this is the single-IP method, which needs the load balancer's "
                        "address as cluster.wan_ip; set it, or give every frontend its own "
                        "wan_ip (multi-IP method)");
            } else {
                add(Severity::info, "media-method", "",
                    "single-IP method: every member advertises " + vip->host() +
                        " and the load balancer forwards media by port range, so the ranges "
                        "must not overlap");
                Capacity cap = Capacity::of_ports(MAX_PORTS_PER_ADDRESS);
                add(Severity::info, "single-ip-limit", "",
                    "one address has at most " + std::to_string(cap.ports) +
                        " media ports (1024-65535): the whole cluster can never hold more than " +
                        std::to_string(cap.audio_streams) + " audio streams or " +
                        std::to_string(cap.av_sessions) +
                        " audio+video sessions; larger installations need the multi-IP method");
            }
        } else if (without.empty()) {
            m_report.method = MediaMethod::multi_ip;
            add(Severity::info, "media-method", "",
                "multi-IP method: each of " + join(with) +
                    " advertises its own Server-wide WAN IP, so the members may use the same "
                    "media ports");
            for (size_t a = 0; a < mm.size(); ++a)
                for (size_t b = 0; b < a; ++b) {
                    const MemberConfig& ma = m_cfg.members[mm[a]];
                    const MemberConfig& mb = m_cfg.members[mm[b]];
                    if (ma.wan_ip->same_host(*mb.wan_ip)) {
                        add(Severity::error, "wan-ip-duplicate", ma.id,
                            ma.id + " has the same Server-wide WAN IP " + ma.wan_ip->host() +
                                " as " + mb.id +
                                ": with the multi-IP method every member needs its own");
                        break;
                    }
                }
        } else {
            m_report.method = MediaMethod::mixed;
            add(Severity::error, "wan-ip-mixed", "",
                join(without) + (without.size() == 1 ? " has" : " have") +
                    " no Server-wide WAN IP while " + join(with) +
                    (with.size() == 1 ? " has one" : " have one") +
                    ": use the single-IP method (every wan_ip empty, cluster.wan_ip set) or the "
                    "multi-IP method (every frontend its own wan_ip)");
        }
    }

    void media_ranges() {
        const auto& members = m_cfg.members;
        for (size_t i = 0; i < members.size(); ++i) {
            const MemberConfig& m = members[i];
            if (!m.media_ports)
                continue;
            if (m.media_ports->lo < 1024)
                add(Severity::error, "media-range-privileged", m.id,
                    "media_ports " + m.media_ports->str() +
                        " reaches below 1024: a media range must fit 1024-65535");
            auto adv = m_cfg.advertised_ip(m);
            for (size_t j = 0; j < i; ++j) {
                const MemberConfig& o = members[j];
                if (!o.media_ports || !m.media_ports->overlaps(*o.media_ports) ||
                    !same_address(adv, m_cfg.advertised_ip(o)))
                    continue;
                add(Severity::error, "media-range-overlap", m.id,
                    "media_ports " + m.media_ports->str() + " overlap " + o.id + "'s " +
                        o.media_ports->str() + " and both advertise " + address_text(adv) +
                        ": members sharing one address (single-IP method) need disjoint "
                        "ranges, so the load balancer can forward each port to its owner");
            }
        }
    }

    void media_addresses() {
        bool anchored = false;
        std::string anchoring;
        for (const auto& m : m_cfg.members)
            if (m_cfg.media_of(m) == Media::anchor && !anchored) {
                anchored = true;
                anchoring = m.id;
            }
        for (size_t i = 0; i < m_cfg.members.size(); ++i) {
            const MemberConfig& m = m_cfg.members[i];
            // Already said by single-ip-no-cluster-wan-ip.
            bool covered = m_single_ip_without_vip &&
                           std::find(m_media_members.begin(), m_media_members.end(), i) !=
                               m_media_members.end();
            if (hosts_media(i) && !m_cfg.advertised_ip(m) && !covered)
                add(Severity::error, "media-no-address", m.id,
                    m.id + " terminates media but has no address to advertise in SDP: set its "
                           "wan_ip or cluster.wan_ip");
            if (anchored && m.role == Role::frontend && !m.media_ports &&
                m_modes[i].call_legs != Placement::remotely)
                add(Severity::warning, "frontend-no-media-ports", m.id,
                    m.id + " hosts call legs (" +
                        std::string(config::to_string(m_modes[i].call_legs)) +
                        ") but has no media_ports while media is anchored (" + anchoring +
                        "): calls placed on it cannot be anchored");
        }
    }

    void modes() {
        bool any_member = false, legs_host = false, signals_host = false;
        // Only Dynamic Cluster members (not standalone servers) serve others.
        for (size_t i = 0; i < m_modes.size(); ++i) {
            const auto& e = m_modes[i];
            if (m_cfg.members[i].role == config::Role::standalone)
                continue;
            any_member |= e.sip_farm == SipFarm::member;
            legs_host |= e.call_legs == Placement::locally_for_others;
            signals_host |= e.signals == Placement::locally_for_others;
        }
        for (size_t i = 0; i < m_cfg.members.size(); ++i) {
            const MemberConfig& m = m_cfg.members[i];
            const EffectiveModes& e = m_modes[i];
            if (e.sip_farm == SipFarm::relay && !any_member)
                add(Severity::error, "relay-without-member", m.id,
                    m.id + "'s SIP Farm mode is relay, but no member's mode is member: there is "
                           "no member to relay its SIP requests through");
            if (e.call_legs == Placement::remotely && !legs_host)
                add(Severity::error, "call-legs-without-host", m.id,
                    m.id + " creates call legs remotely, but no member's call_legs is "
                           "locally-for-others: there is no member to create them on");
            if (e.signals == Placement::remotely && !signals_host)
                add(Severity::error, "signals-without-host", m.id,
                    m.id + " creates signals remotely, but no member's signals is "
                           "locally-for-others: there is no member to create them on");
            bool processes_sip = e.sip_farm == SipFarm::member || e.sip_farm == SipFarm::disabled;
            if (processes_sip && !m.processor)
                add(Severity::warning, "no-processor", m.id,
                    m.id + " processes SIP requests (sip_farm " +
                        std::string(config::to_string(e.sip_farm)) +
                        ") but has no processor to hand them to");
        }
    }

    void build_capacity() {
        const auto& members = m_cfg.members;
        for (size_t i = 0; i < members.size(); ++i) {
            const MemberConfig& m = members[i];
            MemberReport r;
            r.id = m.id;
            r.role = m.role;
            r.modes = m_modes[i];
            r.advertised = m_cfg.advertised_ip(m);
            r.media_ports = m.media_ports;
            r.capacity = Capacity::of_ports(m.media_ports ? m.media_ports->count() : 0);
            m_report.members.push_back(std::move(r));
        }
        // Group the ranges by advertised address: one address, one port space.
        std::vector<bool> done(members.size(), false);
        size_t ports = 0;
        for (size_t i = 0; i < members.size(); ++i) {
            if (done[i] || !members[i].media_ports)
                continue;
            std::vector<PortRange> ranges;
            auto adv = m_cfg.advertised_ip(members[i]);
            for (size_t j = i; j < members.size(); ++j)
                if (!done[j] && members[j].media_ports &&
                    same_address(adv, m_cfg.advertised_ip(members[j]))) {
                    done[j] = true;
                    ranges.push_back(*members[j].media_ports);
                }
            ports += union_ports(std::move(ranges));
        }
        m_report.cluster = Capacity::of_ports(ports);
    }

    const config::ClusterConfig& m_cfg;
    std::vector<EffectiveModes> m_modes;
    CheckReport m_report;
    std::vector<size_t> m_media_members;
    bool m_single_ip_without_vip = false;
};

json::Json capacity_json(const Capacity& c) {
    json::Json o = json::Json::object();
    o.set("ports", static_cast<unsigned long>(c.ports));
    o.set("audio_streams", static_cast<unsigned long>(c.audio_streams));
    o.set("audio_video_sessions", static_cast<unsigned long>(c.av_sessions));
    return o;
}

} // namespace

CheckReport check(const config::ClusterConfig& cfg) {
    return Checker(cfg).run();
}

json::Json to_json(const CheckReport& r) {
    using json::Json;
    Json findings = Json::array();
    for (const auto& f : r.findings) {
        Json o = Json::object();
        o.set("severity", to_string(f.severity));
        o.set("id", f.id);
        if (!f.member.empty())
            o.set("member", f.member);
        o.set("message", f.evidence);
        findings.append(std::move(o));
    }
    Json members = Json::array();
    for (const auto& m : r.members) {
        Json o = Json::object();
        o.set("id", m.id);
        o.set("role", config::to_string(m.role));
        o.set("sip_farm", config::to_string(m.modes.sip_farm));
        o.set("call_legs", config::to_string(m.modes.call_legs));
        o.set("signals", config::to_string(m.modes.signals));
        o.set("advertised", m.advertised ? Json::string(m.advertised->host()) : Json::null());
        o.set("media_ports", m.media_ports ? Json::string(m.media_ports->str()) : Json::null());
        Json cap = capacity_json(m.capacity);
        o.set("ports", cap["ports"]);
        o.set("audio_streams", cap["audio_streams"]);
        o.set("audio_video_sessions", cap["audio_video_sessions"]);
        members.append(std::move(o));
    }
    Json out = Json::object();
    out.set("ok", !r.has_errors());
    out.set("cluster", r.cluster_name);
    out.set("method", to_string(r.method));
    out.set("errors", static_cast<unsigned long>(r.count(Severity::error)));
    out.set("warnings", static_cast<unsigned long>(r.count(Severity::warning)));
    out.set("findings", std::move(findings));
    out.set("members", std::move(members));
    out.set("capacity", capacity_json(r.cluster));
    return out;
}

} // namespace rtfarm::cluster
