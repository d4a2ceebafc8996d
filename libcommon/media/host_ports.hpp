// Whether the kernel may hand a media port to someone else: the ephemeral
// port range (net.ipv4.ip_local_port_range, shared by IPv6) is where every
// unbound socket of the host gets its port. A media range that overlaps it
// and is not in net.ipv4.ip_local_reserved_ports loses ports to outgoing
// connections and queries; rtprelayd skips such a port when it meets one
// (media::Calls), but a full range then holds fewer calls. It says so at
// start, with the sysctl that fixes it.
#pragma once

#include "base/sockaddr.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace rtfarm::media {

// The warning for `range` given the two sysctls' texts ("32768\t60999",
// "10000-19999,40000"), or nullopt when they do not overlap, the range is
// reserved, or a text cannot be read.
std::optional<std::string> ephemeral_overlap(PortRange range, std::string_view local_range,
                                             std::string_view reserved);

// The same, reading /proc/sys/net/ipv4/.
std::optional<std::string> ephemeral_overlap(PortRange range);

} // namespace rtfarm::media
