#include "diag/probe.hpp"

#include "base/crypto.hpp"
#include "base/strings.hpp"
#include "sip/probe_lines.hpp"
#include "sip/proxy.hpp"
#include "sip/scanner.hpp"

#include <boost/math/special_functions/gamma.hpp>

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>

namespace rtfarm::diag {

const char* to_string(ProbePhase p) {
    switch (p) {
    case ProbePhase::one_port:
        return "one_port";
    case ProbePhase::many_ports:
        return "many_ports";
    case ProbePhase::reply_from:
        return "reply_from";
    }
    return "one_port";
}

double chi_square_uniform_p(const std::vector<uint64_t>& counts, double* statistic) {
    uint64_t n = 0;
    for (uint64_t c : counts)
        n += c;
    if (statistic)
        *statistic = 0;
    if (counts.size() < 2 || n == 0)
        return 1.0;
    double expected = static_cast<double>(n) / static_cast<double>(counts.size());
    double x = 0;
    for (uint64_t c : counts) {
        double d = static_cast<double>(c) - expected;
        x += d * d / expected;
    }
    if (statistic)
        *statistic = x;
    double df = static_cast<double>(counts.size() - 1);
    return boost::math::gamma_q(df / 2, x / 2);
}

namespace {

// Where a reply came from, against the VIP the probe went to.
enum class Source { vip, port_rewritten, other_address };

Source classify(const SockAddr& from, const SockAddr& vip) {
    if (!from.unmapped().same_host(vip.unmapped()))
        return Source::other_address;
    return from.port() == vip.port() ? Source::vip : Source::port_rewritten;
}

using Counts = std::map<std::string, uint64_t>;

// "a (3), b (1)": the largest first, at most `limit` names.
std::string list(const Counts& c, size_t limit = 4) {
    std::vector<std::pair<std::string, uint64_t>> v(c.begin(), c.end());
    std::stable_sort(v.begin(), v.end(), [](auto& a, auto& b) { return a.second > b.second; });
    std::string out;
    for (size_t i = 0; i < v.size() && i < limit; ++i)
        out += (i ? ", " : "") + v[i].first + " (" + std::to_string(v[i].second) + ")";
    if (v.size() > limit)
        out += ", and " + std::to_string(v.size() - limit) + " more";
    return out;
}

std::string of(uint64_t part, uint64_t whole) {
    return std::to_string(part) + " of " + std::to_string(whole);
}

std::string fixed(double v, int digits) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", digits, v);
    return buf;
}

std::string p_text(double p) {
    char buf[64];
    std::snprintf(buf, sizeof buf, p < 0.0001 ? "%.1e" : "%.4f", p);
    return buf;
}

// Replies of one kind: the receiving member answered itself, or another did.
struct Tally {
    uint64_t vip = 0;
    uint64_t rewritten = 0;
    uint64_t other = 0;
    uint64_t answered() const { return vip + rewritten + other; }
    uint64_t bad() const { return rewritten + other; }
    void add(Source s) {
        if (s == Source::vip)
            ++vip;
        else if (s == Source::port_rewritten)
            ++rewritten;
        else
            ++other;
    }
};

// The value of `param` removed from a header value ("...;tag=x;y" -> "...;y").
std::string without_param(std::string_view value, std::string_view param) {
    std::string out;
    for (std::string_view part : split(value, ';')) {
        std::string_view t = trim(part);
        size_t eq = t.find('=');
        std::string_view name = eq == std::string_view::npos ? t : trim(t.substr(0, eq));
        if (!out.empty() && equals_icase(name, param))
            continue;
        if (!out.empty())
            out += ';';
        out += std::string(t);
    }
    return out;
}

// The name of line `i` of a message: "the start line", a header name, "the body".
std::string line_name(const sip::MessageLines& m, size_t i) {
    if (i == 0)
        return "the request line";
    if (i >= m.lines.size())
        return "the body";
    std::string_view line = m.lines[i];
    if (!line.empty() && (line[0] == ' ' || line[0] == '\t'))
        return "a folded line";
    return std::string(trim(line.substr(0, line.find(':'))));
}

struct Echoed {
    std::string via, from, to, call_id, cseq;
};

Echoed sent_headers(std::string_view sent) {
    Echoed e;
    auto msg = sip::scan(sent);
    if (!msg)
        return e;
    e.via = std::string(sip::header_value(sent, *msg, "Via"));
    e.from = std::string(sip::header_value(sent, *msg, "From"));
    e.to = std::string(sip::header_value(sent, *msg, "To"));
    e.call_id = std::string(sip::header_value(sent, *msg, "Call-ID"));
    e.cseq = std::string(sip::header_value(sent, *msg, "CSeq"));
    return e;
}

// Per member: what the load balancer handed it, what it answered, and how
// the probes that asked it to answer fared.
struct PerMember {
    uint64_t received = 0, answered = 0, asked = 0, asked_answered = 0;
};

// What the probes and their replies add up to, counted once for all checks.
struct Tallies {
    uint64_t total = 0, answered = 0, lost = 0;
    bool farm = false;                    // a reply said which member answered (X-Farm-*)
    std::set<std::string> members;        // those that received or answered a probe
    std::map<std::string, PerMember> per; // the members, and those asked to answer
    // Reply sources: the receiving member answered itself (same), another did
    // (cross), no X-Farm-* headers (plain); all three (all).
    Tally same, cross, plain, all;
    std::map<std::string, Tally> same_by, cross_by; // by the answering member
    Counts sources, bad_sources, bad_answerers;
    Counts lost_by_phase, sent_by_phase;
    std::map<uint16_t, std::set<std::string>> receivers_by_port;
    std::map<uint16_t, uint64_t> answered_by_port;
    std::vector<int64_t> rtts; // sorted
};

Tallies tally(const ProbeObservations& o) {
    Tallies t;
    t.total = o.probes.size();
    for (const Probe& p : o.probes) {
        if (!p.reply)
            continue;
        ++t.answered;
        if (!p.reply->answered_by.empty()) {
            t.farm = true;
            t.members.insert(p.reply->answered_by);
        }
        if (!p.reply->received_by.empty())
            t.members.insert(p.reply->received_by);
    }
    t.lost = t.total - t.answered;

    for (const std::string& m : t.members)
        t.per[m];
    for (const Probe& p : o.probes) {
        t.sent_by_phase[to_string(p.phase)]++;
        if (!p.reply_from.empty())
            t.per[p.reply_from].asked++;
        if (!p.reply) {
            t.lost_by_phase[to_string(p.phase)]++;
            continue;
        }
        const ProbeReply& rep = *p.reply;
        t.rtts.push_back(rep.rtt.count());
        Source s = classify(rep.source, o.vip);
        t.sources[rep.source.str()]++;
        if (s != Source::vip) {
            t.bad_sources[rep.source.str()]++;
            if (!rep.answered_by.empty())
                t.bad_answerers[rep.answered_by]++;
        }
        if (rep.answered_by.empty()) {
            t.plain.add(s);
            continue;
        }
        t.per[rep.answered_by].answered++;
        if (!rep.received_by.empty()) {
            t.per[rep.received_by].received++;
            t.receivers_by_port[p.local_port].insert(rep.received_by);
            t.answered_by_port[p.local_port]++;
        }
        if (!p.reply_from.empty())
            t.per[p.reply_from].asked_answered += rep.answered_by == p.reply_from;
        bool own = rep.received_by == rep.answered_by;
        (own ? t.same : t.cross).add(s);
        (own ? t.same_by[rep.answered_by] : t.cross_by[rep.answered_by]).add(s);
    }
    t.all = t.same;
    t.all.vip += t.cross.vip + t.plain.vip;
    t.all.rewritten += t.cross.rewritten + t.plain.rewritten;
    t.all.other += t.cross.other + t.plain.other;
    std::sort(t.rtts.begin(), t.rtts.end());
    return t;
}

// "observed" for --json, and the summary lines of the text: totals, round
// trips, reply sources, and a table of the members.
void describe(const ProbeObservations& o, const Tallies& t, Report& report) {
    json::Json jm = json::Json::object();
    for (const auto& [id, m] : t.per)
        jm.set(id.c_str(), json::Json::object()
                               .set("received", static_cast<long long>(m.received))
                               .set("answered", static_cast<long long>(m.answered))
                               .set("asked", static_cast<long long>(m.asked))
                               .set("asked_answered", static_cast<long long>(m.asked_answered)));
    json::Json js = json::Json::object();
    for (const auto& [src, n] : t.sources)
        js.set(src.c_str(), static_cast<long long>(n));
    const std::vector<int64_t>& rtts = t.rtts;
    double median_ms = rtts.empty() ? 0 : static_cast<double>(rtts[rtts.size() / 2]) / 1000.0;
    double max_ms = rtts.empty() ? 0 : static_cast<double>(rtts.back()) / 1000.0;
    report.observed = json::Json::object()
                          .set("vip", o.vip.str())
                          .set("local", o.local.host())
                          .set("farm", t.farm)
                          .set("probes", static_cast<long long>(t.total))
                          .set("answered", static_cast<long long>(t.answered))
                          .set("lost", static_cast<long long>(t.lost))
                          .set("cross_member_replies", static_cast<long long>(t.cross.answered()))
                          .set("median_rtt_ms", json::Json::real(median_ms))
                          .set("max_rtt_ms", json::Json::real(max_ms))
                          .set("reply_sources", std::move(js))
                          .set("members", std::move(jm));
    report.summary.push_back("probes: " + std::to_string(t.total) + " sent to " + o.vip.str() +
                             ", " + std::to_string(t.answered) + " answered, " +
                             std::to_string(t.lost) + " lost; round trip median " +
                             fixed(median_ms, 2) + " ms, max " + fixed(max_ms, 2) + " ms");
    report.summary.push_back("replies from: " +
                             (t.sources.empty() ? std::string("none") : list(t.sources)));
    if (!t.farm)
        return;
    char line[160];
    std::snprintf(line, sizeof line, "%-10s %9s %9s %7s %15s", "member", "received", "answered",
                  "asked", "asked,answered");
    report.summary.push_back(line);
    for (const auto& [id, m] : t.per) {
        std::snprintf(line, sizeof line, "%-10s %9llu %9llu %7llu %15llu", id.c_str(),
                      static_cast<unsigned long long>(m.received),
                      static_cast<unsigned long long>(m.answered),
                      static_cast<unsigned long long>(m.asked),
                      static_cast<unsigned long long>(m.asked_answered));
        report.summary.push_back(line);
    }
}

// No probe got a reply: nothing else can be judged.
void add_none_answered(const ProbeObservations& o, const Tallies& t, Report& report) {
    report.add({"probes-lost", Severity::error,
                "none of " + std::to_string(t.total) + " SIP OPTIONS probes to " + o.vip.str() +
                    " got a reply",
                "Check that the load balancer forwards UDP " + std::to_string(o.vip.port()) +
                    " on " + o.vip.host() +
                    " to the frontends and that sipfarmd runs on them (cgclusterctl members)."});
}

void check_reply_source_not_vip(const ProbeObservations& o, const Tallies& t, Report& report) {
    if (t.all.other == 0)
        return;
    std::string ev = of(t.all.other, t.answered) +
                     " replies came from another address than the VIP " + o.vip.host() + ": " +
                     list(t.bad_sources);
    if (!t.bad_answerers.empty())
        ev += "; answered by " + list(t.bad_answerers);
    report.add({"reply-source-not-vip", Severity::error, ev,
                "Every reply must leave from " + o.vip.str() +
                    ", or clients drop it. Direct server return: on every frontend put the VIP "
                    "on a loopback interface and list \"" +
                    o.vip.str() +
                    "\" in the member's sip_listen beside the wildcard, so sipfarmd sends "
                    "from a socket bound to it (run lbcheck host on each frontend). NAT: the "
                    "load balancer must rewrite the source of everything the frontends send "
                    "from port " +
                    std::to_string(o.vip.port()) + " to " + o.vip.str() + "."});
}

void check_reply_source_rewritten(const ProbeObservations& o, const Tallies& t, Report& report) {
    if (t.all.rewritten == 0)
        return;
    std::string ev = of(t.all.rewritten, t.answered) +
                     " replies came from the VIP but from another port than " +
                     std::to_string(o.vip.port()) + ": " + list(t.bad_sources);
    if (t.farm)
        ev += "; of the replies a member sent for a probe another member received: " +
              of(t.cross.rewritten, t.cross.answered()) +
              ", of the replies the receiving member sent itself: " +
              of(t.same.rewritten, t.same.answered());
    report.add({"reply-source-rewritten", Severity::error, ev,
                "The load balancer translated the source port of replies (" + o.vip.str() +
                    " became another port), so SIP clients that match replies by address "
                    "drop them. Rewrite the frontends' source to " +
                    o.vip.str() +
                    " statelessly, keeping the port, and keep no UDP session table for port " +
                    std::to_string(o.vip.port()) + "."});
}

// The replies a member sent for a probe another member received are the
// lost ones (session binding drops them): many probes lost, none of the
// replies that came back crossed members, and enough came back to tell.
bool cross_member_replies_lost(const Tallies& t) {
    return t.farm && t.members.size() >= 2 && t.lost >= 3 && t.lost * 4 >= t.total &&
           t.cross.answered() == 0 && t.same.answered() >= 5;
}

// Enough probes lost (whoever answered) to be a finding, and to leave the
// spread unknown.
bool many_lost(const Tallies& t) {
    return t.lost >= 2 && t.lost * 20 >= t.total;
}

// "one_port 3 of 48, many_ports 0 of 42, ..."
std::string lost_per_phase(const Tallies& t) {
    std::string out;
    for (const auto& [phase, n] : t.sent_by_phase) {
        auto lost = t.lost_by_phase.find(phase);
        out += (out.empty() ? "" : ", ") + phase + " " +
               of(lost == t.lost_by_phase.end() ? 0 : lost->second, n);
    }
    return out;
}

void check_reply_lost(const Tallies& t, Report& report) {
    if (!cross_member_replies_lost(t))
        return;
    report.add({"reply-lost", Severity::error,
                of(t.lost, t.total) +
                    " probes got no reply, and every reply that came back was sent by the "
                    "member that received the probe (" +
                    std::to_string(t.same.answered()) + "): with " +
                    std::to_string(t.members.size()) + " members about " +
                    fixed(100.0 * (1.0 - 1.0 / static_cast<double>(t.members.size())), 0) +
                    "% of the replies come from another member, and none of those arrived (by "
                    "phase: " +
                    lost_per_phase(t) + ")",
                "The load balancer drops packets a frontend sends to a client that another "
                "frontend received from (a UDP session bound to the first one). Switch off UDP "
                "session binding (connection tracking, persistence) for SIP: any frontend must "
                "be able to reply."});
}

// Probes lost whoever answered; reply-lost says it better when it applies.
void check_probes_lost(const Tallies& t, Report& report) {
    if (cross_member_replies_lost(t) || !many_lost(t))
        return;
    std::string ev =
        of(t.lost, t.total) + " probes got no reply (by phase: " + lost_per_phase(t) + ")";
    std::string silent;
    for (const auto& [id, m] : t.per)
        if (m.received == 0 && m.answered > 0)
            silent += (silent.empty() ? "" : ", ") + id;
    if (!silent.empty())
        ev += "; " + silent +
              " answered probes other members passed on but never received one from the "
              "load balancer: the probes the load balancer sent there were lost";
    report.add({"probes-lost", Severity::error, ev,
                silent.empty()
                    ? "Probes are lost on the way to the farm or back. Check the load "
                      "balancer's pool (every frontend up, sipfarmd running: cgclusterctl "
                      "members) and the network between."
                    : "Check " + silent +
                          ": the load balancer sends it probes it does not take (direct server "
                          "return: the VIP on its loopback, ARP and rp_filter, lbcheck host on "
                          "that frontend), or take it out of the load balancer's pool."});
}

// Without the farm's digests: a plain SIP server echoes Via, From, To,
// Call-ID and CSeq, so a SIP ALG that rewrote them on the way in shows there
// (when it does not undo it on the way back).
void check_sip_alg_by_echo(const ProbeObservations& o, Report& report) {
    Counts changed;
    uint64_t compared = 0;
    for (const Probe& p : o.probes) {
        if (!p.reply)
            continue;
        ++compared;
        Echoed s = sent_headers(p.sent);
        const ProbeReply& rep = *p.reply;
        auto via_core = [](std::string_view v) {
            return without_param(without_param(v, "received"), "rport");
        };
        if (!rep.via.empty() && via_core(rep.via) != via_core(s.via))
            changed["Via"]++;
        if (rep.from != s.from)
            changed["From"]++;
        if (without_param(rep.to, "tag") != without_param(s.to, "tag"))
            changed["To"]++;
        if (rep.call_id != s.call_id)
            changed["Call-ID"]++;
        if (rep.cseq != s.cseq)
            changed["CSeq"]++;
    }
    if (changed.empty())
        return;
    report.add({"sip-alg-rewrite", Severity::error,
                "the headers the server copied into its replies differ from those sent, in " +
                    std::to_string(compared) + " replies: " + list(changed, 5),
                "A SIP-aware device on the way (a SIP ALG, 'SIP inspection', Linux "
                "nf_conntrack_sip) rewrites the messages: switch it off for the farm's "
                "traffic."});
}

// Flows that stick: every source port with 8 or more answered probes met one
// member only, while the probes as a whole met several.
struct Stickiness {
    bool sticky = false;
    std::string evidence; // the last such port: "N probes from source port P all went to M"
    size_t receivers = 0; // the members that received probes
};

Stickiness stickiness(const Tallies& t) {
    Stickiness out;
    std::set<std::string> receivers;
    for (const auto& [port, set] : t.receivers_by_port)
        receivers.insert(set.begin(), set.end());
    out.receivers = receivers.size();
    if (receivers.size() < 2)
        return out;
    uint64_t ports_tested = 0;
    bool all_one = true;
    for (const auto& [port, set] : t.receivers_by_port) {
        const uint64_t answered = t.answered_by_port.at(port);
        if (answered < 8)
            continue;
        ++ports_tested;
        if (set.size() != 1)
            all_one = false;
        else
            out.evidence = std::to_string(answered) + " probes from source port " +
                           std::to_string(port) + " all went to " + *set.begin();
    }
    out.sticky = ports_tested > 0 && all_one;
    return out;
}

// Replies a member sent for probes another member received were changed
// while that member's own replies were not. (A member whose every reply is
// changed says nothing of binding: its replies leave with the wrong source
// whoever received the probe.)
bool cross_member_replies_changed(const Tallies& t) {
    for (const auto& [id, c] : t.cross_by) {
        auto own = t.same_by.find(id);
        if (c.bad() > 0 && own != t.same_by.end() && own->second.answered() >= 3 &&
            own->second.bad() == 0)
            return true;
    }
    return false;
}

// Session binding: replies from a member other than the one that got the
// probe are rewritten or lost while the receiver's own are not, or one
// source port always meets the same member.
void check_session_binding(const ProbeObservations& o, const Tallies& t, const Stickiness& sticky,
                           Report& report) {
    const bool cross_rewritten = cross_member_replies_changed(t);
    const bool cross_lost = cross_member_replies_lost(t);
    if (!cross_rewritten && !cross_lost && !sticky.sticky)
        return;
    std::string ev;
    if (cross_rewritten)
        ev = "replies a member sent for probes another member received were changed (" +
             of(t.cross.bad(), t.cross.answered()) +
             ") while the receiving members' own replies were not (" +
             of(t.same.bad(), t.same.answered()) + ")";
    if (cross_lost)
        ev += std::string(ev.empty() ? "" : "; ") +
              "replies from a member other than the receiving one were lost";
    if (sticky.sticky)
        ev += std::string(ev.empty() ? "" : "; ") + sticky.evidence +
              ", while probes from other ports went to " + std::to_string(sticky.receivers) +
              " members";
    bool harmful = cross_rewritten || cross_lost;
    if (!harmful)
        ev += "; replies from the other members still came back unchanged";
    report.add({"udp-session-binding", harmful ? Severity::error : Severity::warning, ev,
                "The load balancer keeps UDP sessions for SIP. A SIP farm needs a stateless "
                "one for UDP " +
                    std::to_string(o.vip.port()) +
                    ": any packet may go to any frontend, and what any frontend sends from "
                    "port " +
                    std::to_string(o.vip.port()) + " must leave from " + o.vip.str() +
                    " unchanged in port (NAT: a stateless source rewrite; Linux nftables: "
                    "notrack for the SIP port, 'ip saddr set' in postrouting; appliances: "
                    "switch off UDP persistence / session binding for the virtual server)."});
}

// Spread: a chi-square test over independent flows only (one probe per
// source port when flows stick); its p-value goes to "observed".
void check_spread(const ProbeObservations& o, const Tallies& t, const Stickiness& sticky,
                  Report& report) {
    Counts spread;
    for (const std::string& m : t.members)
        spread[m] = 0;
    uint64_t samples = 0;
    if (sticky.sticky) {
        std::set<uint16_t> seen;
        for (const Probe& p : o.probes)
            if (p.reply && !p.reply->received_by.empty() && seen.insert(p.local_port).second) {
                spread[p.reply->received_by]++;
                ++samples;
            }
    } else {
        for (const auto& [id, m] : t.per) {
            spread[id] = m.received;
            samples += m.received;
        }
    }
    const size_t members = t.members.size();
    if (many_lost(t)) {
        report.not_checked.push_back("spread: " + of(t.lost, t.total) +
                                     " probes were lost, so where the load balancer sent them "
                                     "is not known");
        return;
    }
    if (members < 2) {
        report.not_checked.push_back(
            "spread: only one member (" +
            (t.members.empty() ? std::string("none") : *t.members.begin()) +
            ") received or answered probes");
        return;
    }
    if (samples < 5 * members) {
        report.not_checked.push_back("spread: " + std::to_string(samples) +
                                     " independent samples for " + std::to_string(members) +
                                     " members are too few (" + std::to_string(5 * members) +
                                     " needed)");
        return;
    }
    std::vector<uint64_t> counts;
    for (const auto& [id, n] : spread)
        counts.push_back(n);
    double x = 0;
    double p = chi_square_uniform_p(counts, &x);
    report.observed.set("spread_p", json::Json::real(p));
    if (p >= 0.001)
        return;
    std::string zero;
    for (const auto& [id, n] : spread)
        if (n == 0)
            zero += (zero.empty() ? "" : ", ") + id;
    report.add({"uneven-distribution", Severity::warning,
                "the load balancer handed " + std::to_string(samples) + " probes " +
                    list(spread, 16) + " (expected " +
                    fixed(static_cast<double>(samples) / static_cast<double>(members), 1) +
                    " each); chi-square " + fixed(x, 1) + " with " + std::to_string(members - 1) +
                    " degrees of freedom, p = " + p_text(p) +
                    (zero.empty() ? "" : "; " + zero + " got none"),
                "Check the load balancer's pool and weights: each frontend that runs "
                "sipfarmd should get an equal share of new flows (a frontend missing from "
                "the pool still answers what other members pass on, but takes none of the "
                "load)."});
}

// SIP ALG: the farm's digest of the bytes it received against ours, and
// from its line digests (X-Farm-Lines) which lines changed.
void check_sip_alg_by_digest(const ProbeObservations& o, Report& report) {
    Counts changed;
    uint64_t altered = 0, with_digest = 0;
    bool lines_unknown = false;
    for (const Probe& p : o.probes) {
        if (!p.reply || p.reply->digest.empty())
            continue;
        ++with_digest;
        if (p.reply->digest == crypto::sha256_hex(p.sent))
            continue;
        ++altered;
        auto theirs = sip::parse_line_digests(p.reply->lines);
        if (!theirs) {
            lines_unknown = true;
            continue;
        }
        sip::MessageLines mine_lines = sip::split_lines(p.sent);
        std::vector<std::string> mine = sip::line_digests(p.sent);
        if (theirs->header_lines != mine_lines.lines.size()) {
            changed["header lines added or removed (sent " +
                    std::to_string(mine_lines.lines.size()) + ", received " +
                    std::to_string(theirs->header_lines) + ")"]++;
            continue;
        }
        for (size_t i = 0; i < mine.size() && i < theirs->digests.size(); ++i)
            if (mine[i] != theirs->digests[i])
                changed[line_name(mine_lines, i)]++;
        if (mine.size() != theirs->digests.size())
            changed["the body"]++;
    }
    if (altered == 0)
        return;
    std::string ev = "the farm received " + of(altered, with_digest) +
                     " answered probes with other bytes than were sent";
    if (!changed.empty())
        ev += "; changed: " + list(changed, 8);
    if (lines_unknown)
        ev += "; the farm did not say which lines changed in some (no X-Farm-Lines)";
    report.add({"sip-alg-rewrite", Severity::error, ev,
                "A SIP-aware device between the clients and the farm (a SIP ALG, 'SIP "
                "inspection' or 'SIP fixup' on the load balancer or a firewall, Linux "
                "nf_conntrack_sip/nf_nat_sip) rewrites SIP messages. Switch it off for the "
                "farm's traffic: the farm handles NAT itself (received/rport, media latching)."});
}

// Source NAT: the address the farm saw against the one this host sent from.
void check_source_nat(const ProbeObservations& o, Report& report) {
    Counts seen_other;
    uint64_t port_changed = 0, with_source = 0;
    for (const Probe& p : o.probes) {
        if (!p.reply || p.reply->farm_source.empty())
            continue;
        auto seen = SockAddr::parse(p.reply->farm_source);
        if (!seen)
            continue;
        ++with_source;
        if (o.local.valid() && !seen->unmapped().same_host(o.local.unmapped()))
            seen_other[seen->host()]++;
        else if (seen->port() != p.local_port)
            ++port_changed;
    }
    if (seen_other.empty() && port_changed == 0)
        return;
    std::string ev;
    if (!seen_other.empty())
        ev = "the farm saw probes from " + list(seen_other) + " while this host sent them from " +
             o.local.host();
    if (port_changed > 0)
        ev += std::string(ev.empty() ? "" : "; ") + "the source port was changed on " +
              of(port_changed, with_source) + " probes";
    ev += " (if this host is itself behind a NAT, that NAT did it, not the load balancer)";
    report.add({"source-nat", Severity::warning, ev,
                "The load balancer rewrites the clients' source address: the farm then sees "
                "every client as the load balancer, per-source limits and NAT handling "
                "(rport, media latching) apply to all clients at once, and replies depend on "
                "the load balancer's session table. Forward SIP to the frontends with the "
                "client's own source address (destination NAT only, or direct server return)."});
}

} // namespace

// The checks run in the order their findings are printed (Report::sort()
// keeps it within a severity), which is part of lbcheck's output: reply
// sources, lost replies or probes, then what only the farm's X-Farm-*
// headers tell (session binding, spread, SIP ALG, source NAT), or for a
// plain SIP server what its echoed headers tell.
Report diagnose_probe(const ProbeObservations& o) {
    Report report;
    const Tallies t = tally(o);
    describe(o, t, report);
    if (t.answered == 0) {
        add_none_answered(o, t, report);
        return report;
    }
    check_reply_source_not_vip(o, t, report);
    check_reply_source_rewritten(o, t, report);
    check_reply_lost(t, report);
    check_probes_lost(t, report);
    if (!t.farm) {
        report.not_checked.push_back(
            "session binding, spread, SIP ALG by digest and source NAT: the replies carry no "
            "X-Farm-* headers (the server is not an rtfarm farm, or sipfarmd does not answer "
            "probes to the user lbcheck)");
        check_sip_alg_by_echo(o, report);
        return report;
    }
    const Stickiness sticky = stickiness(t);
    check_session_binding(o, t, sticky, report);
    check_spread(o, t, sticky, report);
    check_sip_alg_by_digest(o, report);
    check_source_nat(o, report);
    return report;
}

} // namespace rtfarm::diag
