// What media anchoring (sipfarmd `media: anchor`) does with one SIP message
// of a call processed here, decided from the message alone: nothing; hand
// its SDP to the relay as one party's offer or answer and put the relay's
// SDP in its place; or end the call's media. RFC 3264 over SIP (RFC 6337):
//   - a request with an SDP body (INVITE, UPDATE, PRACK): an offer from the
//     From party to the To party; in an ACK: the answer to an offer the
//     2xx made (a late offer);
//   - a 1xx (not 100) or 2xx response with SDP to INVITE, UPDATE or PRACK:
//     the To party's answer when the From party made the last offer, else
//     its offer (a 2xx to an INVITE without SDP); the relay knows which
//     (SdpRole::automatic);
//   - the media ends on the processor's decision, never on a request: a
//     2xx to BYE ends the call's media, and a final error response (>= 300,
//     the 487 after CANCEL included) to an INVITE ends it if the call was
//     never answered (a failed re-INVITE leaves the call as it was), when
//     that response comes from the processor (it accepted the BYE or
//     refused the INVITE: a proxy relays the far end's answer, a B2BUA
//     makes its own) or answers a request the processor sent (the top Via
//     is this member's branch with the processor mark, sip/farm_tags.hpp:
//     the far end answers the BYE the processor relayed or made). A BYE,
//     CANCEL or error response from anyone else proves nothing: a stranger
//     could send it (issue 16).
// Only a body whose Content-Type is application/sdp counts (a multipart
// body passes untouched). replace_body() writes the message with another
// body and the matching Content-Length.
//
// It does not talk to the relay, keep state, or look inside the SDP.
#pragma once

#include "base/sockaddr.hpp"
#include "sip/proxy.hpp"
#include "sip/route.hpp"
#include "sip/scanner.hpp"

#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace rtfarm::sip {

enum class SdpRole { offer, answer, automatic };
// "offer", "answer", "auto": the words of rtprelayd's `sdp` op.
std::string_view to_string(SdpRole r);

struct MediaAction {
    enum class Kind { none, exchange, end };
    Kind kind = Kind::none;
    SdpRole role = SdpRole::offer;
    std::string_view call_id;
    // Exchange: the party whose SDP this is, and the other one ("" when the
    // To tag is not known yet).
    std::string_view author_tag;
    std::string_view peer_tag;
    std::string_view sdp;
    // Exchange: this message answers the call (a 2xx to the INVITE, or the
    // ACK); else the dialog is early or the call was answered before.
    bool answers_call = false;
    // Exchange: the address the relay counts it against, media_source()
    // ("" none); the caller sets it.
    std::string source;
    // End: only when the call was never answered.
    bool if_unanswered = false;
};

// Views into `bytes`, which must outlive the result. `origin`: where the
// message came from (route.hpp); `self`: this member's id (whose processor
// branches count, when they carry their MAC under `branch_key` or one of
// `earlier`: processor_branch_verified()).
MediaAction media_action(std::string_view bytes, const Message& msg, Origin origin,
                         std::string_view self, const crypto::SipKey& branch_key,
                         std::span<const crypto::SipKey> earlier = {});

// The source address an exchange of `msg` is counted against in the relay
// (cluster.media_max_sessions_per_source), as its host ("198.51.100.10"):
// for a request from outside the farm, the address it came from
// (`source`: for a request relayed over the farm link, the outside source
// its envelope carries, not the member that relayed it); "" for a request
// of a processor (this member's own, and another member's, whose outgoing
// requests reach this one only through sipfarmd's outbound relay and are
// never anchored here) and for a response: the offer the relay counts is
// the caller's. A response cannot be refused anyway (it goes on as it was).
std::string media_source(const Message& msg, Origin origin, const SockAddr& source);

// The message `msg` of `bytes` with `body` instead of its body and a
// Content-Length that says so (added when it had none); bytes after the
// message in the datagram are left out. Error "edit_clash" when the two
// edits overlap (Spans scan() never makes), rather than the old body.
Result<std::string> replace_body(std::string_view bytes, const Message& msg, std::string_view body);

} // namespace rtfarm::sip
