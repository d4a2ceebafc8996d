#include "arp_probe.hpp"

#include "base/unique_fd.hpp"

#include <arpa/inet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/if_ether.h>
#include <netpacket/packet.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace rtfarm::lbcheck {

namespace {

// The ARP payload for IPv4 over Ethernet (RFC 826), without the Ethernet
// header (the kernel writes it for a SOCK_DGRAM packet socket).
constexpr size_t ARP_LEN = 28;
// Frames read per probe at most: a bound if the segment is flooded.
constexpr int MAX_FRAMES = 1000;

std::string mac_str(const unsigned char* m) {
    char buf[18];
    std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4],
                  m[5]);
    return buf;
}

Error sys_error(const std::string& what) {
    return make_error("io", "--arp-probe: " + what + ": " + std::strerror(errno));
}

} // namespace

Result<diag::ArpProbeResult> arp_probe(const ArpProbeOptions& o) {
    if (o.interface.empty() || o.interface.size() >= IFNAMSIZ)
        return make_error("usage", "--arp-probe " + o.interface + ": not an interface name");
    unsigned index = if_nametoindex(o.interface.c_str());
    if (index == 0)
        return make_error("usage", "--arp-probe " + o.interface + ": no such interface here");
    UniqueFd fd(socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, htons(ETH_P_ARP)));
    if (!fd)
        return sys_error("AF_PACKET socket (needs root or CAP_NET_RAW)");

    ifreq ifr{};
    std::memcpy(ifr.ifr_name, o.interface.c_str(), o.interface.size());
    if (ioctl(fd.get(), SIOCGIFFLAGS, &ifr) != 0)
        return sys_error(o.interface + ": flags");
    if (!(ifr.ifr_flags & IFF_UP))
        return make_error("usage", "--arp-probe " + o.interface + ": the interface is down");
    if (ioctl(fd.get(), SIOCGIFHWADDR, &ifr) != 0)
        return sys_error(o.interface + ": hardware address");
    if (ifr.ifr_hwaddr.sa_family != ARPHRD_ETHER)
        return make_error("usage", "--arp-probe " + o.interface + ": not an Ethernet interface");
    unsigned char own_mac[ETH_ALEN];
    std::memcpy(own_mac, ifr.ifr_hwaddr.sa_data, ETH_ALEN);

    sockaddr_ll local{};
    local.sll_family = AF_PACKET;
    local.sll_protocol = htons(ETH_P_ARP);
    local.sll_ifindex = static_cast<int>(index);
    if (bind(fd.get(), reinterpret_cast<const sockaddr*>(&local), sizeof local) != 0)
        return sys_error("bind to " + o.interface);

    // Who-has VIP, tell SOURCE; broadcast.
    std::array<unsigned char, ARP_LEN> req{};
    auto* arp = reinterpret_cast<ether_arp*>(req.data());
    arp->arp_hrd = htons(ARPHRD_ETHER);
    arp->arp_pro = htons(ETH_P_IP);
    arp->arp_hln = ETH_ALEN;
    arp->arp_pln = 4;
    arp->arp_op = htons(ARPOP_REQUEST);
    std::memcpy(arp->arp_sha, own_mac, ETH_ALEN);
    std::memcpy(arp->arp_spa, &o.source, 4);
    std::memcpy(arp->arp_tpa, &o.vip, 4);
    sockaddr_ll to = local;
    to.sll_halen = ETH_ALEN;
    std::memset(to.sll_addr, 0xff, ETH_ALEN);

    diag::ArpProbeResult out;
    out.interface = o.interface;
    using Clock = std::chrono::steady_clock;
    const auto start = Clock::now();
    const auto end = start + o.duration;
    const unsigned requests = std::max(1u, o.requests);
    const auto gap = o.duration / requests;
    auto next_send = start;
    int frames = 0;
    while (frames < MAX_FRAMES) {
        auto now = Clock::now();
        if (now >= end)
            break;
        if (out.requests < requests && now >= next_send) {
            if (sendto(fd.get(), req.data(), req.size(), 0, reinterpret_cast<const sockaddr*>(&to),
                       sizeof to) != static_cast<ssize_t>(req.size()))
                return sys_error("send on " + o.interface);
            ++out.requests;
            next_send += gap;
            continue;
        }
        auto wake = out.requests < requests ? std::min(next_send, end) : end;
        auto ms = std::chrono::ceil<std::chrono::milliseconds>(wake - now).count();
        pollfd p{fd.get(), POLLIN, 0};
        int n = poll(&p, 1, static_cast<int>(std::max<long long>(ms, 1)));
        if (n < 0 && errno != EINTR)
            return sys_error("poll");
        if (n <= 0)
            continue;
        for (; frames < MAX_FRAMES; ++frames) {
            std::array<unsigned char, 128> buf{};
            sockaddr_ll from{};
            socklen_t flen = sizeof from;
            ssize_t got = recvfrom(fd.get(), buf.data(), buf.size(), 0,
                                   reinterpret_cast<sockaddr*>(&from), &flen);
            if (got < 0)
                break; // EAGAIN: read all there was
            if (from.sll_pkttype == PACKET_OUTGOING || got < static_cast<ssize_t>(ARP_LEN))
                continue;
            const auto* a = reinterpret_cast<const ether_arp*>(buf.data());
            if (ntohs(a->arp_hrd) != ARPHRD_ETHER || ntohs(a->arp_pro) != ETH_P_IP ||
                a->arp_hln != ETH_ALEN || a->arp_pln != 4 || ntohs(a->arp_op) != ARPOP_REPLY ||
                std::memcmp(a->arp_spa, &o.vip, 4) != 0)
                continue;
            std::string mac = mac_str(a->arp_sha);
            if (std::find(out.macs.begin(), out.macs.end(), mac) == out.macs.end())
                out.macs.push_back(mac);
        }
    }
    std::sort(out.macs.begin(), out.macs.end());
    return out;
}

} // namespace rtfarm::lbcheck
