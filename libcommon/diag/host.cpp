#include "diag/host.hpp"

#include "base/strings.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <iterator>

namespace rtfarm::diag {

namespace {

const char* const SYSCTL_FILE = "/etc/sysctl.d/90-rtfarm-dsr.conf";

std::string with_prefix(const IfAddress& a) {
    return a.addr.host() + "/" + std::to_string(a.prefix_len);
}

std::string join(const std::vector<std::string>& items, const char* sep) {
    std::string out;
    for (const std::string& s : items)
        out += (out.empty() ? "" : sep) + s;
    return out;
}

json::Json conf_json(const ConfValues& c) {
    auto v = [](const std::optional<int>& x) {
        return x ? json::Json::integer(*x) : json::Json::null();
    };
    return json::Json::object()
        .set("arp_ignore", v(c.arp_ignore))
        .set("arp_announce", v(c.arp_announce))
        .set("rp_filter", v(c.rp_filter));
}

// An interface where the sysctls decide what the host does on a segment.
bool faces_segment(const Interface& i) {
    return i.up && !i.loopback;
}

// The kernel applies max(conf/all, conf/IFACE) to arp_ignore, arp_announce and
// rp_filter. One interface whose effective value is wrong.
struct Bad {
    std::string iface;
    int all;
    int own;
};

// The interfaces facing a segment whose effective value of `field` fails
// `good`; those whose value could not be read go to `unknown`.
std::vector<Bad> check_conf(const HostFacts& facts, std::optional<int> ConfValues::*field,
                            bool (*good)(int), std::vector<std::string>& unknown) {
    std::vector<Bad> bad;
    for (const Interface& i : facts.interfaces) {
        if (!faces_segment(i))
            continue;
        const std::optional<int>& all = facts.all.*field;
        const std::optional<int>& own = i.conf.*field;
        if (!all || !own) {
            unknown.push_back(i.name);
            continue;
        }
        if (!good(std::max(*all, *own)))
            bad.push_back({i.name, *all, *own});
    }
    return bad;
}

std::string bad_evidence(const std::vector<Bad>& bad, const char* name) {
    std::vector<std::string> parts;
    for (const Bad& b : bad)
        parts.push_back(b.iface + ": " + conf_key("all", name) + "=" + std::to_string(b.all) +
                        ", " + conf_key(b.iface, name) + "=" + std::to_string(b.own) +
                        ", effective " + std::to_string(std::max(b.all, b.own)));
    return join(parts, "; ");
}

// "sysctl -w K=V" for conf/all and each bad interface, then the file advice.
std::string sysctl_fix(const std::vector<Bad>& bad, const char* name, int value, bool all_too) {
    std::vector<std::string> keys;
    if (all_too)
        keys.push_back(conf_key("all", name));
    for (const Bad& b : bad)
        keys.push_back(conf_key(b.iface, name));
    std::string lines;
    std::string conf;
    for (const std::string& k : keys) {
        lines += (lines.empty() ? "" : "; ") + ("sysctl -w " + k + "=" + std::to_string(value));
        conf += (conf.empty() ? "" : ", ") + ("\"" + k + " = " + std::to_string(value) + "\"");
    }
    return lines + "; to keep it across reboots put the lines " + conf + " (and " +
           conf_key("default", name) + " = " + std::to_string(value) +
           ", for interfaces created later) in " + SYSCTL_FILE;
}

bool arp_ignore_ok(int v) {
    return v == 1 || v == 2 || v == 8;
}
bool arp_announce_ok(int v) {
    return v == 2;
}
bool rp_filter_ok(int v) {
    return v != 1;
}

// The VIP on one interface.
struct Held {
    const Interface* iface;
    IfAddress addr;
    std::string str() const {
        return with_prefix(addr) + " on " + iface->name + (iface->up ? "" : " (down)");
    }
    std::string del() const { return "ip addr del " + with_prefix(addr) + " dev " + iface->name; }
};

void check_vip_address(const HostFacts& facts, const SockAddr& vip, Report& report) {
    const unsigned full = vip.is_v4() ? 32 : 128;
    std::vector<Held> on_lo;     // on a loopback interface
    std::vector<Held> elsewhere; // on an interface that is not loopback
    for (const Interface& i : facts.interfaces)
        for (const IfAddress& a : i.addresses)
            if (a.addr.unmapped().same_host(vip))
                (i.loopback ? on_lo : elsewhere).push_back({&i, a});
    auto strs = [](const std::vector<Held>& hs) {
        std::vector<std::string> out;
        for (const Held& h : hs)
            out.push_back(h.str());
        return join(out, ", ");
    };
    const std::string v = vip.host();
    const std::string want = v + "/" + std::to_string(full);
    const char* const steals = ": on an interface that faces a segment the host answers ARP "
                               "(neighbour discovery) for the VIP whatever arp_ignore says, and "
                               "takes the load balancer's traffic";
    bool lo_up = std::any_of(on_lo.begin(), on_lo.end(), [](const Held& h) { return h.iface->up; });
    if (!lo_up) {
        std::string ev = "the VIP " + v + " is not on any loopback interface that is up";
        std::string fix;
        if (!on_lo.empty()) {
            ev += "; it is " + strs(on_lo);
            fix = "ip link set " + on_lo.front().iface->name + " up";
        } else {
            fix = "ip addr add " + want + " dev lo";
        }
        if (!elsewhere.empty())
            ev += "; it is " + strs(elsewhere) + " instead" + steals;
        else if (on_lo.empty())
            ev += "; it is on no interface of this host: the kernel drops what the load balancer "
                  "delivers to it (not a local address)";
        for (const Held& h : elsewhere)
            fix += "; " + h.del();
        report.add({"dsr-vip-missing", Severity::error, ev,
                    fix + " (and the same in the system's network configuration, so it survives "
                          "a reboot)"});
    } else if (!elsewhere.empty()) {
        std::string fix;
        for (const Held& h : elsewhere)
            fix += (fix.empty() ? "" : "; ") + h.del();
        report.add({"dsr-vip-exposed", Severity::error,
                    "the VIP " + v + " is " + strs(on_lo) + " but also " + strs(elsewhere) + steals,
                    fix + " (keep it on lo only)"});
    }
    std::vector<Held> wrong;
    std::copy_if(on_lo.begin(), on_lo.end(), std::back_inserter(wrong),
                 [&](const Held& h) { return h.addr.prefix_len != full; });
    if (!wrong.empty()) {
        std::string fix;
        for (const Held& h : wrong)
            fix += h.del() + "; ";
        report.add({"dsr-vip-netmask", Severity::error,
                    "the VIP is " + strs(wrong) + "; a loopback alias must be " + want +
                        ": with a shorter prefix on lo the kernel takes the whole network for "
                        "addresses of this host, so it cannot reach the other hosts in it",
                    fix + "ip addr add " + want + " dev " + wrong.front().iface->name +
                        " (and the same in the system's network configuration)"});
    }
}

void check_sysctls(const HostFacts& facts, Report& report) {
    std::vector<std::string> unknown;
    auto bad = check_conf(facts, &ConfValues::arp_ignore, arp_ignore_ok, unknown);
    if (!bad.empty())
        report.add({"dsr-arp-ignore", Severity::error,
                    "the kernel uses max(conf/all, conf/IFACE) and that is not 1, 2 or 8 on " +
                        bad_evidence(bad, "arp_ignore") +
                        ": the host answers ARP requests for the VIP (on lo) on that segment and "
                        "takes the load balancer's traffic",
                    sysctl_fix(bad, "arp_ignore", 1, true)});
    bad = check_conf(facts, &ConfValues::arp_announce, arp_announce_ok, unknown);
    if (!bad.empty())
        report.add({"dsr-arp-announce", Severity::error,
                    "the kernel uses max(conf/all, conf/IFACE) and that is not 2 on " +
                        bad_evidence(bad, "arp_announce") +
                        ": the host may send ARP requests with the VIP as source address, and "
                        "its neighbours (the router, the load balancer) then map the VIP to "
                        "this host's MAC",
                    sysctl_fix(bad, "arp_announce", 2, true)});
    bad = check_conf(facts, &ConfValues::rp_filter, rp_filter_ok, unknown);
    if (!bad.empty()) {
        bool all_strict =
            std::any_of(bad.begin(), bad.end(), [](const Bad& b) { return b.all == 1; });
        std::vector<Bad> own_strict;
        std::copy_if(bad.begin(), bad.end(), std::back_inserter(own_strict),
                     [](const Bad& b) { return b.own == 1; });
        report.add({"dsr-rp-filter", Severity::error,
                    "the kernel uses max(conf/all, conf/IFACE) and that is 1 (strict reverse-path "
                    "filtering) on " +
                        bad_evidence(bad, "rp_filter") +
                        ": a packet to the VIP is dropped unless the route back to its source "
                        "leaves by the interface it came in on (several interfaces, a load "
                        "balancer on another segment, policy routing); lbcheck does not check "
                        "the routes",
                    sysctl_fix(own_strict, "rp_filter", 2, all_strict) +
                        " (2 is loose: the source must be reachable by some interface; 0 turns "
                        "the check off)"});
    }
    std::sort(unknown.begin(), unknown.end());
    unknown.erase(std::unique(unknown.begin(), unknown.end()), unknown.end());
    if (!unknown.empty())
        report.not_checked.push_back("arp_ignore, arp_announce, rp_filter of " +
                                     join(unknown, ", ") +
                                     ": net.ipv4.conf values could not be read");
}

void check_socket(const HostFacts& facts, const SockAddr& vip, uint16_t sip_port, Report& report) {
    bool explicit_vip = false;
    std::vector<std::string> others;
    for (const UdpSocket& s : facts.udp) {
        if (s.local.port() != sip_port || s.connected)
            continue;
        SockAddr local = s.local.unmapped();
        if (local.same_host(vip))
            explicit_vip = true;
        else
            others.push_back(s.local.str());
    }
    if (explicit_vip)
        return;
    std::sort(others.begin(), others.end());
    others.erase(std::unique(others.begin(), others.end()), others.end());
    SockAddr at = vip;
    at.set_port(sip_port);
    std::string ev;
    if (others.empty())
        ev = "nothing listens on UDP port " + std::to_string(sip_port) +
             " on this host (no unconnected socket on it in /proc/net/udp or /proc/net/udp6): the "
             "SIP server is not running here, or uses another port (--sip-port)";
    else
        ev = "UDP port " + std::to_string(sip_port) + " is held by " + join(others, ", ") +
             " but no socket is bound to " + at.str() +
             ": a reply to what the load balancer delivers to the VIP leaves a wildcard socket "
             "with the source address the kernel picks for the route back (this host's own), and "
             "the client drops it or sends the next request elsewhere";
    report.add({"dsr-no-vip-socket", Severity::error, ev,
                "make the SIP server bind " + at.str() + " explicitly (sipfarmd: put \"" +
                    at.str() +
                    "\" in the member's sip_listen, before a wildcard entry) and restart it; "
                    "the VIP must be on lo first"});
}

void check_arp_probe(const ArpProbeResult& p, const SockAddr& vip, Report& report) {
    const std::string on = " for " + vip.host() + " on " + p.interface + " (" +
                           std::to_string(p.requests) + " requests)";
    if (p.macs.size() > 1)
        report.add({"dsr-arp-conflict", Severity::error,
                    std::to_string(p.macs.size()) + " hosts answer ARP" + on + ": " +
                        join(p.macs, ", ") +
                        ": in DSR at most one host, the load balancer, may answer; the segment "
                        "sends the VIP's traffic to whichever answered last",
                    "find the hosts with these MACs (ip -br link) and run lbcheck host on each: "
                    "the VIP on lo only, arp_ignore 1, arp_announce 2; only the load balancer "
                    "keeps the VIP on an interface of this segment"});
    else if (p.macs.size() == 1)
        report.add({"dsr-arp-answer", Severity::info,
                    "one host answers ARP" + on + ": " + p.macs.front() +
                        ": right if it is the load balancer's MAC on this segment; a frontend "
                        "answering takes the whole farm's traffic",
                    "compare with the load balancer's MAC; if it is another host's, run lbcheck "
                    "host there"});
    else
        report.add({"dsr-arp-no-answer", Severity::warning,
                    "nobody answers ARP" + on +
                        ": no host of this segment shows the VIP; right when the load balancer "
                        "gets the VIP's traffic by a route on another segment (the frontends' "
                        "segment only carries frames it forwards by MAC), wrong when the load "
                        "balancer should own the VIP on this segment",
                    "if the load balancer should own the VIP on this segment, give it the VIP "
                    "there; otherwise nothing to do"});
}

json::Json observed(const HostFacts& facts, const SockAddr& vip, uint16_t sip_port) {
    json::Json ifs = json::Json::array();
    for (const Interface& i : facts.interfaces) {
        json::Json addrs = json::Json::array();
        for (const IfAddress& a : i.addresses)
            addrs.append(json::Json::string(with_prefix(a)));
        ifs.append(json::Json::object()
                       .set("name", i.name)
                       .set("up", i.up)
                       .set("loopback", i.loopback)
                       .set("addresses", std::move(addrs))
                       .set("conf", conf_json(i.conf)));
    }
    json::Json socks = json::Json::array();
    for (const UdpSocket& s : facts.udp)
        if (s.local.port() == sip_port)
            socks.append(
                json::Json::object().set("local", s.local.str()).set("connected", s.connected));
    json::Json out = json::Json::object()
                         .set("vip", vip.host())
                         .set("sip_port", unsigned{sip_port})
                         .set("interfaces", std::move(ifs))
                         .set("conf_all", conf_json(facts.all))
                         .set("sip_sockets", std::move(socks));
    if (facts.arp) {
        json::Json macs = json::Json::array();
        for (const std::string& m : facts.arp->macs)
            macs.append(json::Json::string(m));
        out.set("arp_probe", json::Json::object()
                                 .set("interface", facts.arp->interface)
                                 .set("requests", facts.arp->requests)
                                 .set("macs", std::move(macs)));
    }
    return out;
}

// 8 hex digits, as the kernel prints a 32-bit word: the word's value in this
// host's byte order, so its bytes in memory are the address bytes.
bool hex_word(std::string_view s, uint32_t& out) {
    if (s.size() != 8)
        return false;
    uint32_t v = 0;
    for (char c : s) {
        int d = (c >= '0' && c <= '9')   ? c - '0'
                : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                                         : -1;
        if (d < 0)
            return false;
        v = (v << 4) | static_cast<uint32_t>(d);
    }
    out = v;
    return true;
}

// "0100007F:13C4" or the IPv6 form (32 hex digits) with its port.
std::optional<SockAddr> proc_addr(std::string_view s, int family) {
    size_t colon = s.find(':');
    if (colon == std::string_view::npos || colon + 5 != s.size())
        return std::nullopt;
    std::string_view hex = s.substr(0, colon);
    uint32_t port = 0;
    if (!hex_word("0000" + std::string(s.substr(colon + 1)), port))
        return std::nullopt;
    if (family == AF_INET) {
        sockaddr_in in{};
        in.sin_family = AF_INET;
        in.sin_port = htons(static_cast<uint16_t>(port));
        if (!hex_word(hex, in.sin_addr.s_addr))
            return std::nullopt;
        auto r = SockAddr::from_sockaddr(reinterpret_cast<const sockaddr*>(&in), sizeof in);
        return r ? std::optional(*r) : std::nullopt;
    }
    if (hex.size() != 32)
        return std::nullopt;
    sockaddr_in6 in6{};
    in6.sin6_family = AF_INET6;
    in6.sin6_port = htons(static_cast<uint16_t>(port));
    for (size_t w = 0; w < 4; ++w) {
        uint32_t word = 0;
        if (!hex_word(hex.substr(w * 8, 8), word))
            return std::nullopt;
        std::memcpy(in6.sin6_addr.s6_addr + w * 4, &word, 4);
    }
    auto r = SockAddr::from_sockaddr(reinterpret_cast<const sockaddr*>(&in6), sizeof in6);
    return r ? std::optional(*r) : std::nullopt;
}

// The whitespace-separated fields of a line.
std::vector<std::string_view> fields(std::string_view line) {
    std::vector<std::string_view> out;
    size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && (line[i] == ' ' || line[i] == '\t'))
            ++i;
        size_t j = i;
        while (j < line.size() && line[j] != ' ' && line[j] != '\t')
            ++j;
        if (j > i)
            out.push_back(line.substr(i, j - i));
        i = j;
    }
    return out;
}

} // namespace

Report diagnose_host(const HostFacts& facts, const SockAddr& vip_in, uint16_t sip_port) {
    Report report;
    const SockAddr vip = vip_in.unmapped();
    check_vip_address(facts, vip, report);
    if (vip.is_v4())
        check_sysctls(facts, report);
    else
        report.not_checked.push_back(
            "arp_ignore, arp_announce, rp_filter: IPv4 only (IPv6 answers neighbour "
            "solicitations only for addresses of the receiving interface, so a /128 on lo is "
            "hidden without them; IPv6 has no rp_filter)");
    check_socket(facts, vip, sip_port, report);
    if (facts.arp)
        check_arp_probe(*facts.arp, vip, report);
    else if (vip.is_v4())
        report.not_checked.push_back(
            "who answers ARP for the VIP on the segment: not probed (--arp-probe IFACE)");
    else
        report.not_checked.push_back(
            "who answers neighbour solicitations for the VIP on the segment: not probed "
            "(--arp-probe is IPv4 only)");
    report.observed = observed(facts, vip, sip_port);
    return report;
}

Result<std::vector<UdpSocket>> parse_proc_net_udp(std::string_view text, int family) {
    if (family != AF_INET && family != AF_INET6)
        return make_error("usage", "parse_proc_net_udp: family must be AF_INET or AF_INET6");
    std::vector<UdpSocket> out;
    const char* file = family == AF_INET ? "/proc/net/udp" : "/proc/net/udp6";
    size_t n = 0;
    for (std::string_view line : split(text, '\n')) {
        ++n;
        if (n == 1 || trim(line).empty())
            continue; // the header
        auto f = fields(line);
        // sl local_address rem_address st ...
        if (f.size() < 4 || f[0].empty() || f[0].back() != ':')
            return make_error("io", std::string(file) + " line " + std::to_string(n) +
                                        ": not a socket line: " + std::string(trim(line)));
        auto local = proc_addr(f[1], family);
        auto remote = proc_addr(f[2], family);
        if (!local || !remote)
            return make_error("io", std::string(file) + " line " + std::to_string(n) +
                                        ": bad address in: " + std::string(trim(line)));
        out.push_back({*local, !remote->is_any() || remote->port() != 0});
    }
    return out;
}

std::optional<int> parse_sysctl_int(std::string_view text) {
    std::string_view t = trim(text);
    bool neg = !t.empty() && t.front() == '-';
    auto v = parse_u64(neg ? t.substr(1) : t);
    if (!v || *v > 1000000)
        return std::nullopt;
    return neg ? -static_cast<int>(*v) : static_cast<int>(*v);
}

std::string conf_key(std::string_view iface, std::string_view name) {
    std::string i(iface);
    std::replace(i.begin(), i.end(), '.', '/');
    return "net.ipv4.conf." + i + "." + std::string(name);
}

} // namespace rtfarm::diag
