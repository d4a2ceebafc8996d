// The marks the farm leaves in SIP messages so that any member can tell which
// member a later packet belongs to:
//   - our Via branch: "z9hG4bK" "rtf." MEMBER "." 16 hex digits, where the
//     digits are a hash of what identifies the transaction (so a
//     retransmission forwarded by any member gets the same branch); on a
//     request the member's processor sent, "z9hG4bK" "rtf." MEMBER ".p."
//     16 hex digits: the response goes to that member's processor, whatever
//     the processor's own Via says (it may name the farm's public address).
//     Those digits are a MAC under a key from the cluster secret
//     (processor_branch_hash()), so only the farm makes them: a response
//     with the mark is the answer to a request the processor sent, or a
//     forgery that is dropped before it reaches the processor or ends a
//     call's media;
//   - our Record-Route / Route URI: "sip:HOST[:PORT];lr;fm=MEMBER", and
//     ";fc=HOLDER.ID" when the request came over a client's connection;
//   - on our Via toward the processor, ";rtfc=HOLDER.ID" for the same.
// A connection identity "HOLDER.ID" names the member that holds a client's
// TCP or TLS connection and that member's number for it (decimal, 1 up).
// Member ids are [A-Za-z0-9_-], so they sit in a branch token and a URI
// parameter without escaping. This file formats and recognises the marks;
// it decides nothing about routing.
#pragma once

#include "base/crypto.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace rtfarm::sip {

inline constexpr std::string_view MAGIC_COOKIE = "z9hG4bK";
inline constexpr std::string_view FARM_BRANCH_PREFIX = "z9hG4bKrtf.";
inline constexpr std::string_view FARM_MEMBER_PARAM = "fm";
inline constexpr std::string_view FARM_CONN_URI_PARAM = "fc";
inline constexpr std::string_view FARM_CONN_VIA_PARAM = "rtfc";

// A client connection: the member holding it and its member-local id (not 0).
struct ConnRef {
    std::string holder;
    uint64_t id = 0;
    bool operator==(const ConnRef&) const = default;
};
// "f1.42"
std::string conn_token(const ConnRef& c);
// The ConnRef of "HOLDER.ID"; nullopt for anything else (bad member id, id 0,
// not decimal, more than 20 digits).
std::optional<ConnRef> parse_conn_token(std::string_view token);
// The connection named by our ";rtfc=" parameter in one Via value, if any.
std::optional<ConnRef> via_conn(std::string_view via_value);
// The connection named by the `fc` parameter of a URI (as uri_farm_member).
std::optional<ConnRef> uri_conn(std::string_view uri);

// "z9hG4bKrtf.f2.0123456789abcdef" for member `member` and hash `h`;
// "z9hG4bKrtf.f2.p.0123456789abcdef" when the request came from the
// member's processor.
std::string farm_branch(std::string_view member, uint64_t h, bool from_processor = false);

// What a branch this farm made says.
struct FarmBranch {
    std::string_view member;
    // The request came from `member`'s processor: its responses go back there.
    bool from_processor = false;
    uint64_t hash = 0; // its 16 hex digits
};
// The marks of a branch this farm made, or nullopt for any other branch.
std::optional<FarmBranch> parse_farm_branch(std::string_view branch);

// The key of processor branches, from the cluster secret (every member
// derives the same; another key than the routing hash's).
crypto::SipKey branch_key(std::string_view secret);
// The hash of our branch on a request from a processor (SipHash-2-4 under
// `key`): over what every response to it still carries below our Via, the
// processor's own branch and the Call-ID, or, for an RFC 2543 processor
// (a branch without the magic cookie), Call-ID, From tag and CSeq number.
// Its CANCEL and the ACK of an error keep the INVITE's branch, so they get
// the same.
uint64_t processor_branch_hash(const crypto::SipKey& key, std::string_view processor_branch,
                               std::string_view call_id, std::string_view from_tag, uint32_t cseq);
// The member of a branch this farm made, or nullopt for any other branch.
std::optional<std::string_view> branch_member(std::string_view branch);

// The branch for a request forwarded statelessly (RFC 3261 §16.11): a hash
// of the incoming top Via branch (or, without an RFC 3261 branch, of the
// Call-ID, From tag, CSeq number and Request-URI), of the Request-URI, and of
// the member. The method is left out on purpose: an INVITE, its CANCEL and
// the ACK for a non-2xx answer must get the same branch.
uint64_t transaction_hash(std::string_view incoming_branch, std::string_view call_id,
                          std::string_view from_tag, uint32_t cseq, std::string_view request_uri);

// "<sip:HOST;lr;fm=MEMBER>" (HOST as written in a URI: IPv6 in brackets,
// PORT appended when not 0), with ";fc=HOLDER.ID" when `conn` is given and
// ";transport=T" when `transport` is not empty; for "tls" a SIPS URI
// instead, "<sips:HOST;lr;fm=MEMBER...>", with no transport parameter.
std::string farm_route_uri(std::string_view host, uint16_t port, std::string_view member,
                           const ConnRef* conn = nullptr, std::string_view transport = {});

// The `fm` parameter of a URI (any "sip:" / "sips:" URI, with or without
// angle brackets), if it carries one.
std::optional<std::string_view> uri_farm_member(std::string_view uri);

// True for a member id that can be used in the marks.
bool valid_member_id(std::string_view id);

} // namespace rtfarm::sip
