// The transports SIP names (a Via's sent-protocol, a URI's transport
// parameter, a sip_listen entry): one type for every layer. The farm speaks
// UDP, TCP and TLS; the scanner reads the others so that a message naming
// them can be refused by name.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace rtfarm {

enum class Transport : uint8_t { udp, tcp, tls, sctp, ws, wss, other };

// "udp", "tcp", "tls", "sctp", "ws", "wss", "other": as the config, the
// counters and the logs write them.
constexpr std::string_view to_string(Transport t) {
    switch (t) {
    case Transport::udp:
        return "udp";
    case Transport::tcp:
        return "tcp";
    case Transport::tls:
        return "tls";
    case Transport::sctp:
        return "sctp";
    case Transport::ws:
        return "ws";
    case Transport::wss:
        return "wss";
    case Transport::other:
        break;
    }
    return "other";
}

// A transport over a stream the farm opens or accepts (TCP or TLS).
constexpr bool is_stream(Transport t) {
    return t == Transport::tcp || t == Transport::tls;
}

} // namespace rtfarm
