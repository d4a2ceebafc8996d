// lbcheck host --arp-probe: who on an interface's segment answers ARP for the
// VIP. Sends a few broadcast ARP requests with an AF_PACKET socket (needs
// CAP_NET_RAW) and collects the distinct MACs of the replies, within a fixed
// time. It decides nothing: diag::diagnose_host() judges the answers.
#pragma once

#include "base/result.hpp"
#include "diag/host.hpp"

#include <chrono>
#include <string>

namespace rtfarm::lbcheck {

struct ArpProbeOptions {
    std::string interface;
    uint32_t vip = 0;    // IPv4, network byte order
    uint32_t source = 0; // our IPv4 on that interface (network order), 0 = an RFC 5227 probe
    unsigned requests = 3;
    std::chrono::milliseconds duration{1000}; // from the first request to the end
};

// An Error when the interface does not exist or is down, or the socket cannot
// be opened (not root) or used.
Result<diag::ArpProbeResult> arp_probe(const ArpProbeOptions& o);

} // namespace rtfarm::lbcheck
