// Which addresses an offer or answer may name as a party's media address:
// the relay sends that party's media there, so an SDP from anyone must not
// aim it at this host, the members' internal network, or the farm's own
// SIP, farm-link and control ports (issue 16: an SDP naming 127.0.0.1 and
// the processor's port turned the relay into a way past sipfarmd). A pure
// function of the address and the policy: no sockets, no config reading
// (rtprelayd builds the policy from the cluster config).
//
// Refused, unless an `allow` prefix holds the address (labs, a processor
// that terminates media itself on a member's address):
// - loopback (127/8, ::1), unspecified (0.0.0.0/8, ::) outside a hold
//   (the caller skips held streams: c=0.0.0.0 stays hold), link-local
//   (169.254/16, fe80::/10), multicast (224/4, ff00::/8), the IPv4
//   broadcast address 255.255.255.255;
// - a member's internal address (the config's `address`), at any port;
// - a farm address (a member's wan_ip, a SIP listening address, the
//   processor's) at a port outside every member's media range: the relay
//   chaining to another member's relay port is media, anything else there
//   is a service.
// Not here: the SDP (sdp.hpp), whether the address is reachable, DNS.
#pragma once

#include "base/cidr.hpp"
#include "base/sockaddr.hpp"

#include <optional>
#include <string>
#include <vector>

namespace rtfarm::media {

struct AddressPolicy {
    std::vector<Cidr> allow;
    std::vector<SockAddr> internal;     // ports ignored
    std::vector<SockAddr> farm;         // ports ignored
    std::vector<PortRange> media_ports; // every member's
    bool operator==(const AddressPolicy&) const = default;
};

// Why `a` may not be named as media address, as a few words ("loopback",
// "a member's internal address", ...), or nullopt when it may.
std::optional<std::string> refusal(const AddressPolicy& policy, const SockAddr& a);

} // namespace rtfarm::media
