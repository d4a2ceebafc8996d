// lbcheck probe's diagnosis over recorded observations: a healthy farm, each
// broken load balancer of the lab (reply source, session binding, lost
// replies, a member that drops its share, uneven spread, a SIP ALG, source
// NAT), and a SIP server that is not a farm. Plus the line digests the farm
// sends (X-Farm-Lines) and the chi-square test.
#include "diag/probe.hpp"

#include "base/crypto.hpp"
#include "sip/probe_lines.hpp"

#include <boost/test/unit_test.hpp>

#include <cmath>
#include <functional>
#include <set>

using namespace rtfarm;
using namespace rtfarm::diag;

namespace {

const SockAddr VIP = *SockAddr::parse("203.0.113.1:5060");
const SockAddr CLIENT = *SockAddr::parse_host("198.51.100.10");
const std::vector<std::string> MEMBERS = {"f1", "f2", "f3"};

std::string probe_bytes(size_t n, uint16_t port, const std::string& reply_from) {
    std::string here = "198.51.100.10:" + std::to_string(port);
    std::string m = "OPTIONS sip:lbcheck@203.0.113.1:5060 SIP/2.0\r\n"
                    "Via: SIP/2.0/UDP " +
                    here + ";branch=z9hG4bK-lbc-t-" + std::to_string(n) +
                    ";rport\r\n"
                    "Max-Forwards: 70\r\n"
                    "From: <sip:lbcheck@198.51.100.10>;tag=t\r\n"
                    "To: <sip:lbcheck@203.0.113.1:5060>\r\n"
                    "Call-ID: lbc-t-" +
                    std::to_string(n) +
                    "@198.51.100.10\r\n"
                    "CSeq: 1 OPTIONS\r\n"
                    "Contact: <sip:lbcheck@" +
                    here + ">\r\n";
    if (!reply_from.empty())
        m += "X-Farm-Reply-From: " + reply_from + "\r\n";
    return m + "Content-Length: 0\r\n\r\n";
}

// What happens to probe n: who receives it, who answers, where the reply
// comes from (nullopt: lost), and what the farm received.
struct Fate {
    std::string received_by;
    std::string answered_by;
    std::optional<SockAddr> source = VIP;
    std::function<std::string(const std::string&)> on_the_way; // a SIP ALG
    std::string farm_saw = "198.51.100.10";
};

// A run like lbcheck's: 48 probes from one port, 42 from ports of their own,
// 30 asking f1, f2, f3 in turn (half of them from the one port). `fate` says
// what the load balancer and the farm do with each.
using Lb = std::function<Fate(size_t n, ProbePhase phase, uint16_t port, const std::string& asked)>;

ProbeObservations run(const Lb& lb) {
    ProbeObservations o;
    o.vip = VIP;
    o.local = CLIENT;
    for (size_t n = 0; n < 120; ++n) {
        Probe p;
        p.phase = n < 48   ? ProbePhase::one_port
                  : n < 90 ? ProbePhase::many_ports
                           : ProbePhase::reply_from;
        p.local_port =
            (p.phase == ProbePhase::one_port || (p.phase == ProbePhase::reply_from && n % 2 == 0))
                ? 40000
                : static_cast<uint16_t>(41000 + n);
        if (p.phase == ProbePhase::reply_from)
            p.reply_from = MEMBERS[n % 3];
        p.sent = probe_bytes(n, p.local_port, p.reply_from);
        Fate f = lb(n, p.phase, p.local_port, p.reply_from);
        if (f.source) {
            std::string received = f.on_the_way ? f.on_the_way(p.sent) : p.sent;
            ProbeReply r;
            r.source = *f.source;
            r.status = 200;
            r.received_by = f.received_by;
            r.answered_by = f.answered_by;
            r.farm_source = f.farm_saw + ":" + std::to_string(p.local_port);
            r.digest = crypto::sha256_hex(received);
            r.lines = sip::format_line_digests(received);
            r.rtt = std::chrono::microseconds(400);
            p.reply = r;
        }
        o.probes.push_back(std::move(p));
    }
    return o;
}

// A stateless spraying load balancer in front of a healthy farm: receiver
// n % 3, owner (by "hash") (n / 3) % 3 unless a member was asked.
Fate healthy(size_t n, ProbePhase, uint16_t, const std::string& asked) {
    Fate f;
    f.received_by = MEMBERS[n % 3];
    f.answered_by = asked.empty() ? MEMBERS[(n / 3 + n / 7) % 3] : asked;
    return f;
}

std::set<std::string> ids(const Report& r, Severity s) {
    std::set<std::string> out;
    for (const Finding& f : r.findings)
        if (f.severity == s)
            out.insert(f.id);
    return out;
}
std::set<std::string> errors(const Report& r) {
    return ids(r, Severity::error);
}
std::set<std::string> warnings(const Report& r) {
    return ids(r, Severity::warning);
}

const Finding& finding(const Report& r, const std::string& id) {
    for (const Finding& f : r.findings)
        if (f.id == id)
            return f;
    BOOST_FAIL("no finding " + id);
    return r.findings.front();
}

bool contains(const std::string& s, const std::string& part) {
    return s.find(part) != std::string::npos;
}

} // namespace

BOOST_AUTO_TEST_SUITE(diag_probe)

BOOST_AUTO_TEST_CASE(healthy_farm_has_no_finding) {
    Report r = diagnose_probe(run(healthy));
    BOOST_TEST(r.findings.empty(), r.text());
    BOOST_TEST(r.not_checked.empty(), r.text());
    BOOST_TEST(r.observed["answered"].as_integer().value_or(-1) == 120LL);
    BOOST_TEST(r.observed["farm"].as_bool().value_or(false));
    BOOST_TEST(contains(r.text(), "f2"));
}

BOOST_AUTO_TEST_CASE(replies_from_a_members_own_address) {
    // DSR with f2's sipfarmd on 0.0.0.0 only: its replies leave from 10.77.0.12.
    Report r = diagnose_probe(run([](size_t n, ProbePhase ph, uint16_t p, const std::string& a) {
        Fate f = healthy(n, ph, p, a);
        if (f.answered_by == "f2")
            f.source = *SockAddr::parse("10.77.0.12:5060");
        return f;
    }));
    BOOST_TEST(errors(r) == std::set<std::string>{"reply-source-not-vip"}, r.text());
    const Finding& f = finding(r, "reply-source-not-vip");
    BOOST_TEST(contains(f.evidence, "10.77.0.12:5060"));
    BOOST_TEST(contains(f.evidence, "answered by f2"));
    BOOST_TEST(contains(f.fix, "sip_listen"));
}

// conntrack NAT: a flow sticks to the first member it met; a reply from any
// other member leaves from VIP:<another port>.
Fate sticky_nat(size_t n, ProbePhase ph, uint16_t port, const std::string& asked) {
    Fate f = healthy(n, ph, port, asked);
    f.received_by = MEMBERS[(port / 7) % 3];
    if (f.answered_by != f.received_by)
        f.source = *SockAddr::parse("203.0.113.1:1024");
    return f;
}

BOOST_AUTO_TEST_CASE(session_binding_rewrites_cross_member_replies) {
    Report r = diagnose_probe(run(sticky_nat));
    BOOST_TEST(errors(r) ==
                   (std::set<std::string>{"reply-source-rewritten", "udp-session-binding"}),
               r.text());
    const Finding& b = finding(r, "udp-session-binding");
    BOOST_TEST(contains(b.evidence, "from source port 40000 all went to"));
    BOOST_TEST(contains(b.evidence, "were changed"));
    BOOST_TEST(contains(finding(r, "reply-source-rewritten").evidence, "203.0.113.1:1024"));
    // The spread is judged on one probe per flow, not on the stuck port.
    BOOST_TEST(warnings(r).empty(), r.text());
}

BOOST_AUTO_TEST_CASE(session_binding_that_drops_cross_member_replies) {
    Report r = diagnose_probe(run([](size_t n, ProbePhase ph, uint16_t p, const std::string& a) {
        Fate f = sticky_nat(n, ph, p, a);
        if (f.answered_by != f.received_by)
            f.source = std::nullopt;
        return f;
    }));
    BOOST_TEST(errors(r) == (std::set<std::string>{"reply-lost", "udp-session-binding"}), r.text());
    BOOST_TEST(contains(finding(r, "reply-lost").evidence, "none of those arrived"));
}

BOOST_AUTO_TEST_CASE(sticky_flows_with_intact_replies_are_a_warning) {
    // A per-flow hash without any reply rewriting: harmless to the farm.
    Report r = diagnose_probe(run([](size_t n, ProbePhase ph, uint16_t p, const std::string& a) {
        Fate f = healthy(n, ph, p, a);
        f.received_by = MEMBERS[(p / 7) % 3];
        return f;
    }));
    BOOST_TEST(errors(r).empty(), r.text());
    BOOST_TEST(warnings(r) == std::set<std::string>{"udp-session-binding"}, r.text());
    BOOST_TEST(contains(finding(r, "udp-session-binding").evidence, "unchanged"));
}

BOOST_AUTO_TEST_CASE(a_member_that_drops_what_it_is_sent) {
    // DSR with the VIP missing on f1: what the LB hands f1 is lost, and f1's
    // answers to probes relayed to it leave from its own address.
    Report r = diagnose_probe(run([](size_t n, ProbePhase ph, uint16_t p, const std::string& a) {
        Fate f = healthy(n, ph, p, a);
        if (f.received_by == "f1")
            f.source = std::nullopt;
        else if (f.answered_by == "f1")
            f.source = *SockAddr::parse("10.77.0.11:5060");
        return f;
    }));
    BOOST_TEST(errors(r) == (std::set<std::string>{"probes-lost", "reply-source-not-vip"}),
               r.text());
    BOOST_TEST(contains(finding(r, "probes-lost").evidence, "f1 answered probes"));
    BOOST_TEST(contains(finding(r, "probes-lost").fix, "Check f1"));
    // With a third of the probes lost the spread cannot be judged.
    BOOST_TEST(warnings(r).empty(), r.text());
    BOOST_TEST(r.not_checked.size() == 1u);
}

BOOST_AUTO_TEST_CASE(a_few_lost_probes_are_not_a_finding) {
    Report r = diagnose_probe(run([](size_t n, ProbePhase ph, uint16_t p, const std::string& a) {
        Fate f = healthy(n, ph, p, a);
        if (n == 17 || n == 70)
            f.source = std::nullopt;
        return f;
    }));
    BOOST_TEST(r.findings.empty(), r.text());
}

BOOST_AUTO_TEST_CASE(uneven_spread_is_a_warning) {
    // The LB sends 2/3 of the flows to f1.
    Report r = diagnose_probe(run([](size_t n, ProbePhase ph, uint16_t p, const std::string& a) {
        Fate f = healthy(n, ph, p, a);
        f.received_by = n % 6 < 4 ? "f1" : MEMBERS[1 + n % 2];
        return f;
    }));
    BOOST_TEST(errors(r).empty(), r.text());
    BOOST_TEST(warnings(r) == std::set<std::string>{"uneven-distribution"}, r.text());
    BOOST_TEST(contains(finding(r, "uneven-distribution").evidence, "f1 (80)"));
}

BOOST_AUTO_TEST_CASE(a_member_missing_from_the_pool) {
    Report r = diagnose_probe(run([](size_t n, ProbePhase ph, uint16_t p, const std::string& a) {
        Fate f = healthy(n, ph, p, a);
        f.received_by = n % 2 ? "f1" : "f2";
        return f;
    }));
    BOOST_TEST(warnings(r) == std::set<std::string>{"uneven-distribution"}, r.text());
    BOOST_TEST(contains(finding(r, "uneven-distribution").evidence, "f3 got none"));
}

BOOST_AUTO_TEST_CASE(sip_alg_names_the_changed_lines) {
    // An ALG rewrites the Contact host (and so the Via's, here) on the way in.
    Report r = diagnose_probe(run([](size_t n, ProbePhase ph, uint16_t p, const std::string& a) {
        Fate f = healthy(n, ph, p, a);
        f.on_the_way = [](const std::string& s) {
            std::string out = s;
            size_t at = out.find("Contact: <sip:lbcheck@198.51.100.10");
            out.replace(at + 22, 13, "192.0.2.99");
            return out;
        };
        return f;
    }));
    BOOST_TEST(errors(r) == std::set<std::string>{"sip-alg-rewrite"}, r.text());
    const Finding& f = finding(r, "sip-alg-rewrite");
    BOOST_TEST(contains(f.evidence, "120 of 120"));
    BOOST_TEST(contains(f.evidence, "Contact (120)"));
    BOOST_TEST(!contains(f.evidence, "Via"));
}

BOOST_AUTO_TEST_CASE(sip_alg_that_adds_a_line) {
    Report r = diagnose_probe(run([](size_t n, ProbePhase ph, uint16_t p, const std::string& a) {
        Fate f = healthy(n, ph, p, a);
        if (n % 2)
            f.on_the_way = [](const std::string& s) {
                return s.substr(0, s.size() - 2) + "X-Inspected: yes\r\n\r\n";
            };
        return f;
    }));
    BOOST_TEST(errors(r) == std::set<std::string>{"sip-alg-rewrite"}, r.text());
    BOOST_TEST(contains(finding(r, "sip-alg-rewrite").evidence, "added or removed"));
}

BOOST_AUTO_TEST_CASE(source_nat_is_a_warning) {
    Report r = diagnose_probe(run([](size_t n, ProbePhase ph, uint16_t p, const std::string& a) {
        Fate f = healthy(n, ph, p, a);
        f.farm_saw = "10.77.0.1";
        return f;
    }));
    BOOST_TEST(errors(r).empty(), r.text());
    BOOST_TEST(warnings(r) == std::set<std::string>{"source-nat"}, r.text());
    BOOST_TEST(contains(finding(r, "source-nat").evidence, "10.77.0.1 (120)"));
}

BOOST_AUTO_TEST_CASE(nothing_answered) {
    Report r = diagnose_probe(run([](size_t, ProbePhase, uint16_t, const std::string&) {
        Fate f;
        f.source = std::nullopt;
        return f;
    }));
    BOOST_TEST(errors(r) == std::set<std::string>{"probes-lost"}, r.text());
}

// A SIP server that is no farm: no X-Farm-* headers, the echoed headers only.
ProbeObservations plain_server(bool alg) {
    ProbeObservations o = run(healthy);
    for (Probe& p : o.probes) {
        ProbeReply& r = *p.reply;
        r.received_by = r.answered_by = r.farm_source = r.digest = r.lines = "";
        size_t b = p.sent.find("Via: ") + 5;
        std::string via = p.sent.substr(b, p.sent.find("\r\n", b) - b);
        if (alg)
            via.replace(via.find("198.51.100.10"), 13, "192.0.2.99");
        r.via = via + ";received=198.51.100.10";
        r.from = "<sip:lbcheck@198.51.100.10>;tag=t";
        r.to = "<sip:lbcheck@203.0.113.1:5060>;tag=srv";
        size_t c = p.sent.find("Call-ID: ") + 9;
        r.call_id = p.sent.substr(c, p.sent.find("\r\n", c) - c);
        r.cseq = "1 OPTIONS";
    }
    return o;
}

BOOST_AUTO_TEST_CASE(plain_sip_server_checks_what_it_can) {
    Report r = diagnose_probe(plain_server(false));
    BOOST_TEST(r.findings.empty(), r.text());
    BOOST_TEST(r.not_checked.size() == 1u);
    BOOST_TEST(contains(r.not_checked[0], "X-Farm-*"));
    BOOST_TEST(!r.observed["farm"].as_bool().value_or(true));
}

BOOST_AUTO_TEST_CASE(plain_sip_server_behind_an_alg) {
    Report r = diagnose_probe(plain_server(true));
    BOOST_TEST(errors(r) == std::set<std::string>{"sip-alg-rewrite"}, r.text());
    BOOST_TEST(contains(finding(r, "sip-alg-rewrite").evidence, "Via (120)"));
}

BOOST_AUTO_TEST_CASE(chi_square_p_values) {
    double x = 0;
    BOOST_TEST(chi_square_uniform_p({10, 10, 10}, &x) == 1.0);
    BOOST_TEST(x == 0.0);
    // x = 60 with 2 degrees of freedom: p = exp(-30).
    BOOST_TEST(std::abs(chi_square_uniform_p({30, 0, 0}, &x) - std::exp(-30.0)) < 1e-15);
    BOOST_TEST(x == 60.0);
    // 1 degree of freedom, x = 3.841: the textbook 5% point.
    BOOST_TEST(std::abs(chi_square_uniform_p({60, 40}, &x) - 0.0455) < 0.0005);
    BOOST_TEST(chi_square_uniform_p({5}) == 1.0);
    BOOST_TEST(chi_square_uniform_p({0, 0}) == 1.0);
}

BOOST_AUTO_TEST_CASE(line_digests_round_trip) {
    std::string m = probe_bytes(1, 40000, "f2");
    std::string v = sip::format_line_digests(m);
    auto parsed = sip::parse_line_digests(v);
    BOOST_REQUIRE(parsed);
    BOOST_TEST(parsed->header_lines == 10u);
    BOOST_TEST(parsed->digests == sip::line_digests(m));
    // A body gets one more digest.
    std::string with_body = m + "v=0\r\n";
    auto pb = sip::parse_line_digests(sip::format_line_digests(with_body));
    BOOST_REQUIRE(pb);
    BOOST_TEST(pb->digests.size() == 11u);
    BOOST_TEST(sip::split_lines(with_body).body == "v=0\r\n");
    // Bare LF ends lines too.
    BOOST_TEST(sip::split_lines("A\nB: c\n\nbody").lines.size() == 2u);
}

BOOST_AUTO_TEST_CASE(line_digests_refuse_what_they_did_not_write) {
    for (const char* bad : {"", "x", "2 0011aabb", "1 0011aabb 0011aabb 0011aabb", "1 0011AABB",
                            "1 0011aab", "41 0011aabb", "-1 0011aabb"})
        BOOST_TEST(!sip::parse_line_digests(bad), bad);
    std::string many = "OPTIONS sip:x SIP/2.0\r\n";
    for (int i = 0; i < 45; ++i)
        many += "X-H: " + std::to_string(i) + "\r\n";
    BOOST_TEST(sip::format_line_digests(many + "\r\n").empty());
}

BOOST_AUTO_TEST_SUITE_END()
