// lbcheck host's diagnosis (lbcheck(8)): is this frontend set up
// for direct server return? From facts gathered on the host (interfaces and
// their addresses, the ARP and reverse-path sysctls, the UDP sockets on the
// SIP port, optionally who answers ARP for the VIP on a segment) it decides
// the findings: the VIP on a loopback interface as /32 (/128), ARP hidden
// (arp_ignore, arp_announce), no strict rp_filter, a socket bound to
// VIP:SIP_PORT. It does no I/O: cmd/lbcheck/host.cpp gathers the facts; the
// parsers here take the text of /proc files, so tests feed them by hand.
#pragma once

#include "base/result.hpp"
#include "base/sockaddr.hpp"
#include "diag/report.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rtfarm::diag {

// net.ipv4.conf.<name>.{arp_ignore,arp_announce,rp_filter}; nullopt when the
// file could not be read (no IPv4 on that interface, or no /proc/sys).
struct ConfValues {
    std::optional<int> arp_ignore;
    std::optional<int> arp_announce;
    std::optional<int> rp_filter;
};

struct IfAddress {
    SockAddr addr; // port 0
    unsigned prefix_len = 0;
};

struct Interface {
    std::string name;
    bool up = false;
    bool loopback = false;
    std::vector<IfAddress> addresses;
    ConfValues conf;
};

// One line of /proc/net/udp or /proc/net/udp6.
struct UdpSocket {
    SockAddr local;
    bool connected = false; // a remote address is set: it receives from that peer only
};

// Who answered ARP requests for the VIP on one interface's segment.
struct ArpProbeResult {
    std::string interface;
    unsigned requests = 0;         // sent
    std::vector<std::string> macs; // distinct answering MACs, "02:77:00:00:00:11"
};

struct HostFacts {
    std::vector<Interface> interfaces;
    ConfValues all; // net.ipv4.conf.all
    // The UDP sockets of this network namespace (all of them, or only those
    // on the SIP port: diagnose_host() looks at the SIP port only).
    std::vector<UdpSocket> udp;
    std::optional<ArpProbeResult> arp; // only with --arp-probe
};

// The findings for `vip` (port ignored) and `sip_port`: dsr-vip-missing,
// dsr-vip-exposed, dsr-vip-netmask, dsr-arp-ignore, dsr-arp-announce,
// dsr-rp-filter, dsr-no-vip-socket, and with an ARP probe dsr-arp-conflict,
// dsr-arp-answer, dsr-arp-no-answer; the facts under "observed".
Report diagnose_host(const HostFacts& facts, const SockAddr& vip, uint16_t sip_port);

// The sockets of a /proc/net/udp (family AF_INET) or /proc/net/udp6
// (AF_INET6) text: the header line is skipped; a line that does not parse is
// an error naming it. Addresses are in the byte order the kernel prints them
// (this host's), as read on this host.
Result<std::vector<UdpSocket>> parse_proc_net_udp(std::string_view text, int family);

// The integer in a /proc/sys file's text ("1\n"); nullopt if it is not one.
std::optional<int> parse_sysctl_int(std::string_view text);

// The sysctl(8) key of net.ipv4.conf.<iface>.<name>: a dot in an interface
// name is written as a slash ("eth0.100" -> "net.ipv4.conf.eth0/100.rp_filter").
std::string conf_key(std::string_view iface, std::string_view name);

} // namespace rtfarm::diag
