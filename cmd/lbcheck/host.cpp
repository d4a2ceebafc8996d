// lbcheck host: the DSR set-up of this frontend. Gathers the facts of this
// network namespace (interfaces and addresses by getifaddrs(3), the ARP and
// rp_filter sysctls from /proc/sys, the UDP sockets from /proc/net/udp and
// udp6, optionally an ARP probe) and hands them to diag::diagnose_host().
#include "arp_probe.hpp"
#include "checks.hpp"

#include "diag/host.hpp"

#include <ifaddrs.h>
#include <net/if.h>

#include <bit>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>

namespace rtfarm::lbcheck {

namespace {

// A /proc file's text; nullopt if it cannot be opened.
std::optional<std::string> read_file(const std::string& path) {
    std::ifstream in(path);
    if (!in)
        return std::nullopt;
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

diag::ConfValues read_conf(const std::string& name) {
    const std::string dir = "/proc/sys/net/ipv4/conf/" + name + "/";
    auto one = [&](const char* key) -> std::optional<int> {
        auto t = read_file(dir + key);
        return t ? diag::parse_sysctl_int(*t) : std::nullopt;
    };
    return {one("arp_ignore"), one("arp_announce"), one("rp_filter")};
}

unsigned prefix_len(const sockaddr* mask) {
    if (!mask)
        return 0;
    unsigned bits = 0;
    const unsigned char* b = nullptr;
    size_t n = 0;
    if (mask->sa_family == AF_INET) {
        b = reinterpret_cast<const unsigned char*>(
            &reinterpret_cast<const sockaddr_in*>(mask)->sin_addr);
        n = 4;
    } else if (mask->sa_family == AF_INET6) {
        b = reinterpret_cast<const sockaddr_in6*>(mask)->sin6_addr.s6_addr;
        n = 16;
    }
    for (size_t i = 0; i < n; ++i)
        bits += static_cast<unsigned>(std::popcount(b[i]));
    return bits;
}

Result<std::vector<diag::Interface>> read_interfaces() {
    ifaddrs* list = nullptr;
    if (getifaddrs(&list) != 0)
        return make_error("io", std::string("getifaddrs: ") + std::strerror(errno));
    std::unique_ptr<ifaddrs, void (*)(ifaddrs*)> owner(list, freeifaddrs);
    std::vector<diag::Interface> out;
    std::map<std::string, size_t> at;
    for (const ifaddrs* i = list; i; i = i->ifa_next) {
        if (!i->ifa_name)
            continue;
        // An IPv4 address with a label ("lo:1") belongs to the interface
        // before the colon (a colon is not allowed in interface names).
        std::string name = i->ifa_name;
        name = name.substr(0, name.find(':'));
        auto [it, fresh] = at.emplace(name, out.size());
        if (fresh) {
            diag::Interface n;
            n.name = name;
            out.push_back(std::move(n));
        }
        diag::Interface& iface = out[it->second];
        iface.up = iface.up || (i->ifa_flags & IFF_UP);
        iface.loopback = iface.loopback || (i->ifa_flags & IFF_LOOPBACK);
        if (!i->ifa_addr ||
            (i->ifa_addr->sa_family != AF_INET && i->ifa_addr->sa_family != AF_INET6))
            continue;
        socklen_t len =
            i->ifa_addr->sa_family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
        auto a = SockAddr::from_sockaddr(i->ifa_addr, len);
        if (!a)
            continue;
        iface.addresses.push_back({*a, prefix_len(i->ifa_netmask)});
    }
    for (diag::Interface& i : out)
        i.conf = read_conf(i.name);
    return out;
}

Result<std::vector<diag::UdpSocket>> read_udp(uint16_t sip_port) {
    std::vector<diag::UdpSocket> out;
    for (auto [path, family] :
         {std::pair{"/proc/net/udp", AF_INET}, {"/proc/net/udp6", AF_INET6}}) {
        auto text = read_file(path);
        if (!text) {
            if (family == AF_INET6)
                continue; // IPv6 disabled in this kernel
            return make_error("io", std::string("cannot read ") + path);
        }
        auto socks = diag::parse_proc_net_udp(*text, family);
        if (!socks)
            return socks.error();
        for (const diag::UdpSocket& s : *socks)
            if (s.local.port() == sip_port)
                out.push_back(s);
    }
    return out;
}

} // namespace

Result<diag::Report> run_host(const HostOptions& o) {
    const SockAddr vip = o.vip.unmapped();
    if (!vip.valid() || vip.is_any() || vip.is_loopback())
        return make_error("usage", "--vip " + vip.host() + ": not a usable VIP");
    diag::HostFacts facts;
    auto ifs = read_interfaces();
    if (!ifs)
        return ifs.error();
    facts.interfaces = std::move(*ifs);
    if (!read_file("/proc/sys/net/ipv4/conf/all/arp_ignore"))
        return make_error("io", "cannot read /proc/sys/net/ipv4/conf/all (is /proc mounted?)");
    facts.all = read_conf("all");
    auto udp = read_udp(o.sip_port);
    if (!udp)
        return udp.error();
    facts.udp = std::move(*udp);

    if (!o.arp_interface.empty() && vip.is_v4()) {
        ArpProbeOptions p;
        p.interface = o.arp_interface;
        std::memcpy(&p.vip, &reinterpret_cast<const sockaddr_in*>(vip.sa())->sin_addr, 4);
        for (const diag::Interface& i : facts.interfaces)
            if (i.name == o.arp_interface)
                for (const diag::IfAddress& a : i.addresses)
                    if (a.addr.is_v4() && !a.addr.same_host(vip) && p.source == 0)
                        std::memcpy(&p.source,
                                    &reinterpret_cast<const sockaddr_in*>(a.addr.sa())->sin_addr,
                                    4);
        auto r = arp_probe(p);
        if (!r)
            return r.error();
        facts.arp = std::move(*r);
    }
    return diag::diagnose_host(facts, vip, o.sip_port);
}

} // namespace rtfarm::lbcheck
