// The media test of lbcheck (`lbcheck media`), the sipfarmd side of its
// wire format: which media test a probe asks for (X-Farm-Media: test |
// end), the To tag the test session's answer gets, and the headers of the
// probe's 200: X-Farm-Members (the farm Members that are up) and the
// X-Farm-Media-* headers built from rtprelayd's offer and answer replies.
//
// It does not talk to rtprelayd, place the call leg or send anything
// (sipfarmd's MediaAnchor does), and it does not judge what the test shows
// (that is lbcheck's diag/media.hpp).
#pragma once

#include "base/cidr.hpp"
#include "base/result.hpp"
#include "base/sockaddr.hpp"
#include "sip/route.hpp"
#include "sip/scanner.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace rtfarm::sip {

enum class MediaProbe { none, test, end };
// The X-Farm-Media header of a probe: "test", "end", else none.
MediaProbe media_probe_kind(std::string_view bytes, const Message& msg);

// The probe's application/sdp body (lbcheck's RTP socket), "" without one.
std::string_view media_test_sdp(std::string_view bytes, const Message& msg);

// Whether the media test of a probe from `source` (as sipfarmd saw it) may
// hold relay ports: `source` is in `allowed` (the cluster's lbcheck_sources;
// empty: any source), and the probe's SDP names only `source`'s address in
// its connection (c=) lines, at least one. Else the relay would send the
// test's media where the probe's sender says, to anyone (issue 16). Error
// codes "probe_source_not_allowed", "probe_sdp_address".
Status media_test_allowed(std::string_view sdp, const SockAddr& source,
                          const std::vector<Cidr>& allowed);

// "X-Farm-Members: f1,f2,f3": the members whose effective SIP Farm mode is
// Member and that are up (alive, not draining), in the view's order; ""
// when there is none.
std::string members_header(const FarmView& view);

// The To tag of the test session's callee side: made from the Call-ID, so a
// repeated test probe gives the same tag.
std::string media_test_to_tag(std::string_view call_id);

struct MediaTestAnswer {
    std::string member; // whose rtprelayd holds the session
    std::string caller; // ADDR:PORT the caller side sends to (the answer's SDP)
    std::string callee; // ADDR:PORT the callee side sends to (the offer's SDP)
    std::string range;  // that member's media_ports "LO-HI", "" unknown
};
// X-Farm-Media-Member, -Caller, -Callee and (when known) -Range.
std::vector<std::string> media_test_headers(const MediaTestAnswer& a);
// "X-Farm-Media-Error: <code> <message>", on one line.
std::string media_error_header(const Error& e);
// The code of that header when the member asked does not anchor media
// (lbcheck(8) tells what to set).
inline constexpr const char* MEDIA_NOT_ANCHORED = "not_anchored";

} // namespace rtfarm::sip
