#include "diag/media.hpp"

#include "sip/media_probe.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

namespace rtfarm::diag {

namespace {

std::string join(const std::vector<std::string>& v) {
    std::string out;
    for (const std::string& s : v)
        out += (out.empty() ? "" : ", ") + s;
    return out;
}

unsigned came_back(const MediaLeg& l) {
    return l.back + l.back_elsewhere + l.changed;
}

unsigned score(const MediaTrial& t) {
    return came_back(t.to_caller) + came_back(t.to_callee);
}

bool anchored(const MediaTrial& t) {
    return !t.answered_by.empty() && t.media_error.empty() && !t.media_member.empty();
}

std::string host_of(const std::string& endpoint) {
    auto colon = endpoint.rfind(':');
    std::string h = colon == std::string::npos ? endpoint : endpoint.substr(0, colon);
    if (h.size() > 2 && h.front() == '[' && h.back() == ']')
        h = h.substr(1, h.size() - 2);
    return h;
}

std::string range_words(const MediaTrial& t) {
    return t.range.empty() ? "its media port range" : "range " + t.range;
}

std::string leg_words(const MediaLeg& l) {
    std::string s = "to " + l.to + ": " + std::to_string(l.sent) + " sent, " +
                    std::to_string(came_back(l)) + " came back";
    if (l.back > 0)
        s += " (" + std::to_string(l.back) + " from " + l.expect_from + ")";
    if (l.back_elsewhere > 0) {
        s += " (" + std::to_string(l.back_elsewhere) + " from";
        for (const auto& src : l.other_sources)
            s += " " + src;
        s += ")";
    }
    if (l.changed > 0)
        s += " (" + std::to_string(l.changed) + " changed)";
    return s;
}

double round1(double v) {
    return std::round(v * 10.0) / 10.0;
}

json::Json leg_json(const MediaLeg& l) {
    json::Json sources = json::Json::array();
    for (const auto& s : l.other_sources)
        sources.append(json::Json::string(s));
    json::Json j = json::Json::object()
                       .set("to", l.to)
                       .set("expect_from", l.expect_from)
                       .set("sent", l.sent)
                       .set("back", l.back)
                       .set("back_elsewhere", l.back_elsewhere)
                       .set("changed", l.changed)
                       .set("other_sources", std::move(sources));
    if (l.rtt_ms >= 0)
        j.set("rtt_ms", json::Json::real(round1(l.rtt_ms)));
    return j;
}

json::Json trial_json(const MediaTrial& t) {
    json::Json j = json::Json::object()
                       .set("asked", t.asked)
                       .set("probes", t.probes)
                       .set("answered_by", t.answered_by);
    if (!t.media_error.empty())
        j.set("media_error", t.media_error);
    if (!t.media_member.empty()) {
        j.set("media_member", t.media_member)
            .set("range", t.range)
            .set("caller", t.caller)
            .set("callee", t.callee)
            .set("to_caller", leg_json(t.to_caller))
            .set("to_callee", leg_json(t.to_callee));
    }
    return j;
}

json::Json strings(const std::vector<std::string>& v) {
    json::Json a = json::Json::array();
    for (const auto& s : v)
        a.append(json::Json::string(s));
    return a;
}

void not_anchored(Report& r, const MediaTrial& t) {
    std::string code = t.media_error.substr(0, t.media_error.find(' '));
    Finding f;
    f.id = "media-not-anchored";
    f.severity = Severity::warning;
    f.evidence = t.answered_by + " answered the media test (asked of " + t.asked +
                 ") without a relay session: X-Farm-Media-Error: " + t.media_error;
    if (code == sip::MEDIA_NOT_ANCHORED)
        f.fix = "if media should go through the farm's relay, set \"media\": \"anchor\" for " +
                t.answered_by +
                " (or in \"cluster\") and run rtprelayd there; until then the "
                "calls it processes keep their own SDP and the load balancer's media mapping "
                "is not used for them";
    else
        f.fix = "make " + t.answered_by +
                "'s relay reachable: rtprelayd running on the "
                "member its call legs are placed on, with the media_control socket of the "
                "config (control_tcp and the cluster secret when placed on another "
                "member); its sipfarmd log says more (sub=media)";
    r.add(std::move(f));
}

// The best trial of one media member, judged.
void judge(Report& r, const MediaTrial& t, const std::string& local) {
    std::vector<const MediaLeg*> lost;
    for (const MediaLeg* l : {&t.to_caller, &t.to_callee})
        if (l->sent > 0 && came_back(*l) == 0)
            lost.push_back(l);
    std::string both = leg_words(t.to_caller) + "; " + leg_words(t.to_callee);
    if (!lost.empty()) {
        Finding f;
        f.id = "media-range-misrouted";
        std::string ports;
        for (const MediaLeg* l : lost)
            ports += (ports.empty() ? "" : " and ") + l->to;
        f.evidence = "RTP to " + ports + ", advertised by " + t.media_member + " (" +
                     range_words(t) + "), did not come back through " + t.media_member +
                     "'s relay: " + both + " (lbcheck at " + local + ")";
        std::string range = t.range.empty() ? t.media_member + "'s media port range" : t.range;
        f.fix = "in the load balancer, forward UDP " + range + " on " + host_of(lost[0]->to) +
                " to " + t.media_member +
                ", keeping the port (single-IP method: each "
                "member's own range to that member; multi-IP: that address to that member)";
        r.add(std::move(f));
    }
    std::vector<std::string> sources;
    unsigned elsewhere = 0;
    for (const MediaLeg* l : {&t.to_caller, &t.to_callee}) {
        elsewhere += l->back_elsewhere;
        for (const auto& s : l->other_sources)
            if (std::find(sources.begin(), sources.end(), s) == sources.end())
                sources.push_back(s);
    }
    if (elsewhere > 0) {
        Finding f;
        f.id = "media-reply-source";
        std::string list;
        for (const auto& s : sources)
            list += (list.empty() ? "" : ", ") + s;
        f.evidence = "RTP relayed by " + t.media_member + " came back from " + list +
                     ", not from the endpoint it advertised (" + t.caller + " / " + t.callee +
                     "): " + both;
        f.fix = "the load balancer must send what " + t.media_member +
                "'s relay sends out from the advertised address and the same port (stateless "
                "source NAT to the VIP, no port rewriting, or DSR from the member's own "
                "advertised address): a party that checks or latches onto the source loses "
                "the media otherwise";
        r.add(std::move(f));
    }
    if (t.to_caller.changed + t.to_callee.changed > 0) {
        Finding f;
        f.id = "media-payload-changed";
        f.evidence = "RTP relayed by " + t.media_member + " came back with other bytes: " + both;
        f.fix = "remove what rewrites RTP between lbcheck and the farm (a media-aware ALG, "
                "transcoding, a broken NAT): the relay forwards RTP unchanged";
        r.add(std::move(f));
    }
}

} // namespace

Report diagnose_media(const MediaObservations& o) {
    Report r;
    json::Json trials = json::Json::array();
    for (const auto& t : o.trials)
        trials.append(trial_json(t));

    // The best trial of each media member, in the order first seen.
    std::vector<std::string> order;
    std::map<std::string, const MediaTrial*> best;
    std::vector<std::string> covered;    // members asked whose test said something
    std::vector<std::string> unanchored; // members that answered without a session
    for (const auto& t : o.trials) {
        if (t.answered_by.empty())
            continue;
        covered.push_back(t.asked);
        if (!t.media_error.empty()) {
            // One warning per member that answered so.
            if (std::find(unanchored.begin(), unanchored.end(), t.answered_by) ==
                unanchored.end()) {
                unanchored.push_back(t.answered_by);
                not_anchored(r, t);
            }
            continue;
        }
        if (!anchored(t))
            continue;
        auto it = best.find(t.media_member);
        if (it == best.end()) {
            order.push_back(t.media_member);
            best.emplace(t.media_member, &t);
        } else if (score(t) > score(*it->second)) {
            it->second = &t;
        }
    }
    for (const auto& m : order)
        judge(r, *best[m], o.local);

    json::Json per_member = json::Json::object();
    r.summary.push_back("media test from " + o.local + " through " + o.vip + ", members " +
                        (o.members.empty() ? std::string("none") : join(o.members)));
    if (!order.empty()) {
        char line[200];
        std::snprintf(line, sizeof line, "%-10s %-12s %-20s %-6s %-20s %s", "member", "range",
                      "to caller", "back", "to callee", "back");
        r.summary.push_back(line);
    }
    for (const auto& m : order) {
        const MediaTrial& t = *best[m];
        char line[200];
        std::string back_caller =
            std::to_string(came_back(t.to_caller)) + "/" + std::to_string(t.to_caller.sent);
        std::string back_callee =
            std::to_string(came_back(t.to_callee)) + "/" + std::to_string(t.to_callee.sent);
        std::snprintf(line, sizeof line, "%-10s %-12s %-20s %-6s %-20s %s", m.c_str(),
                      t.range.empty() ? "?" : t.range.c_str(), t.caller.c_str(),
                      back_caller.c_str(), t.callee.c_str(), back_callee.c_str());
        r.summary.push_back(line);
    }
    for (const auto& m : order) {
        const MediaTrial& t = *best[m];
        double rtt = -1;
        for (const MediaLeg* l : {&t.to_caller, &t.to_callee})
            rtt = std::max(rtt, l->rtt_ms);
        json::Json j = json::Json::object()
                           .set("range", t.range)
                           .set("caller", t.caller)
                           .set("callee", t.callee)
                           .set("to_caller_sent", t.to_caller.sent)
                           .set("to_caller_back", came_back(t.to_caller))
                           .set("to_callee_sent", t.to_callee.sent)
                           .set("to_callee_back", came_back(t.to_callee));
        if (rtt >= 0)
            j.set("rtt_ms", json::Json::real(round1(rtt)));
        per_member.set(m.c_str(), std::move(j));
    }

    // What could not be tried.
    for (const auto& t : o.trials)
        if (t.answered_by.empty() &&
            std::find(covered.begin(), covered.end(), t.asked) == covered.end())
            r.not_checked.push_back(t.asked + ": no answer to " + std::to_string(t.probes) +
                                    " media test probes (X-Farm-Reply-From: " + t.asked + ")");
    for (const auto& m : o.not_tried)
        r.not_checked.push_back(m + ": not tried, the run's time bound was reached");
    for (const auto& m : o.members) {
        bool media_member = best.count(m) > 0;
        auto asked = std::find_if(o.trials.begin(), o.trials.end(),
                                  [&](const MediaTrial& t) { return t.asked == m && anchored(t); });
        if (!media_member && asked != o.trials.end())
            r.not_checked.push_back(m + "'s range: the media test asked of " + m +
                                    " was relayed by " + asked->media_member +
                                    " (its call legs are placed there)");
    }
    if (order.empty())
        r.not_checked.push_back("RTP through the load balancer: no member set up a media test "
                                "session, so no media port range was tried");

    r.observed = json::Json::object()
                     .set("vip", o.vip)
                     .set("rtp_socket", o.local)
                     .set("members", strings(o.members))
                     .set("members_from", o.members_from)
                     .set("media_members", std::move(per_member))
                     .set("trials", std::move(trials));
    return r;
}

} // namespace rtfarm::diag
