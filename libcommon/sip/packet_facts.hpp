// The facts sip::route() looks at, taken from a scanned message: one place
// that says which header feeds which field, for the packet path and for the
// `route` control op ("which member processes this message?"), so the two
// cannot drift apart. Views into the message's bytes; nothing is copied.
// It decides nothing (route.hpp does).
#pragma once

#include "sip/route.hpp"
#include "sip/scanner.hpp"

#include <string_view>

namespace rtfarm::sip {

// The facts of `msg`, scanned from `bytes` (which must outlive the result).
// `farm_host`: the farm's public SIP host (our Record-Route's), where a
// processor's own Route may stand before ours (proxy.hpp farm_route_behind).
PacketFacts packet_facts(std::string_view bytes, const Message& msg,
                         std::string_view farm_host = {});

// The facts of a new request (an INVITE) that carries only this Call-ID: no
// farm Via, no Route, no member in the Request-URI. Routed by the Call-ID.
PacketFacts call_id_facts(std::string_view call_id);

} // namespace rtfarm::sip
