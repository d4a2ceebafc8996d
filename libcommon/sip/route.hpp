// Which member processes a SIP packet: the farm's routing rules as a pure
// function of what the packet says, where it came from, and the membership
// view. No sockets, no clock: sipfarmd feeds it and acts on the answer.
//
// The rules (sipfarmd(8), "DESCRIPTION"), in order:
//   1. A response belongs to the member tagged in its top Via branch; one
//      without our tag is dropped.
//   2. A request from this member's own processor is processed here (in
//      Relay mode it is handed to a Member to send out).
//   3. A request whose top Route (or Request-URI: strict routing) carries
//      our `fm` parameter belongs to that member, whatever the SIP Farm
//      settings.
//   4. An lbcheck probe may ask for a member with X-Farm-Reply-From.
//   5. Anything else: rendezvous hash of the Call-ID over the members whose
//      effective SIP Farm mode is Member and that are alive and not
//      draining; a member that is not a farm Member processes what it gets.
//
// Hand-off (zero loss when members join, drain or leave): a Call-ID this
// member processed lately (cluster/handoff.hpp: the longest a transaction
// may live, ringing included) stays here. When the view changed lately, the
// Call-ID may be in progress on its owner by any of the views since: its
// hand-off chain lists those owners, newest view first, then the owner now.
// A request goes to the first member of the chain; each member that does
// not know the Call-ID adds itself to the envelope's "asked" list and passes
// it to the first member of its own chain not asked yet; when all were
// asked, the owner now processes it. Members that started later keep fewer
// views, so chains may differ in length: the asked list lets a member with
// a longer memory still try the older owners. Hops stop at MAX_FARM_HOPS.
#pragma once

#include "base/crypto.hpp"

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rtfarm::sip {

// What routing needs to know of the cluster; the cluster layer fills it.
struct FarmView {
    struct Member {
        std::string id;
        bool farm_member = false; // effective SIP Farm mode is Member
        bool alive = true;
        bool draining = false;
        bool operator==(const Member&) const = default;
    };
    std::string self;
    // Effective SIP Farm mode of this member: true when Member.
    bool self_farm_member = false;
    // This member is a Relay backend: its processor's requests go out through a Member.
    bool self_relay = false;
    std::vector<Member> members;
    uint64_t epoch = 0;
    // The views replaced lately, newest first (cluster/handoff.hpp keeps
    // them): where Call-IDs in progress may live. Each with the routing key
    // it hashed by (a key rotation changes it: cluster/farm_keys.hpp).
    struct Past {
        std::vector<Member> members;
        std::optional<crypto::SipKey> key;
        bool operator==(const Past&) const = default;
    };
    std::vector<Past> previous;
    // The key of the Call-ID hash, from the cluster secret (route_key()):
    // an outsider who does not know it cannot choose Call-IDs that all land
    // on one member. None without a secret (the unkeyed hash).
    std::optional<crypto::SipKey> key;

    const Member* find(std::string_view id) const;
    bool operator==(const FarmView&) const = default;
};

// What a member remembers of the Call-IDs it processed (the hand-off).
class CallIdMemory {
public:
    virtual ~CallIdMemory() = default;
    virtual bool knows(std::string_view call_id) const = 0;
};

// The facts of one packet that routing looks at (from the scanner).
struct PacketFacts {
    bool is_request = false;
    std::string_view method; // requests
    std::string_view top_via_branch;
    // The Route value that says where the request goes in the farm: the
    // first one, or the first of ours (`fm`) behind Routes at the same host
    // (the processor's own Record-Route advertising the farm's address;
    // proxy.hpp farm_route_behind); "" when none.
    std::string_view top_route;
    std::string_view request_uri;
    std::string_view call_id;
    std::string_view reply_from; // X-Farm-Reply-From of a probe, "" when none
    bool probe = false;          // OPTIONS to the user "lbcheck"
    // This member processed this Call-ID lately (cluster/handoff.hpp):
    // true, or asked of `memory` only when a rule needs it (most packets
    // carry our tags and never do).
    bool known_call_id = false;
    const CallIdMemory* memory = nullptr;
    // Farm-link hops so far: 0 from outside.
    unsigned hops = 0;
    // Members that did not know the Call-ID (the envelope's), or null.
    const std::vector<std::string>* asked = nullptr;
};

// Why route() decided as it did. The names are the words of logs and
// counters (sipfarmd's stats "routed_by" and "dropped_by", its metrics, the
// `route` control operation: rtfarm-control(7)); REASONS holds them.
enum class Reason : uint8_t {
    via_tag,         // a response, by the member tag of its top Via
    route_tag,       // a request, by the `fm` tag of its top Route or Request-URI
    call_id_hash,    // a new request, by the Call-ID's owner
    processor,       // our own processor's request, processed here
    not_farm_member, // this member is not a farm Member
    no_farm_member,  // no farm Member is eligible
    reply_from,      // an lbcheck probe's X-Farm-Reply-From
    relay_mode,      // our processor's request, sent out by a Member (Relay mode)
    relayed,         // relayed here by another member
    known_call_id,   // the hand-off: a Call-ID processed here lately
    handoff,         // the hand-off: to a previous owner of the Call-ID
    handoff_passed,  // the hand-off: on along the chain
    // Drops.
    response_without_farm_via,
    processor_answered_its_own, // a response whose top Via is ours of the
                                // processor's own request
    unknown_member,
    owner_down,
    relay_loop, // the last: REASONS has one entry per value up to it
};

// A reason's name and its explanation for people (cgclusterctl(8) route).
// The explanation continues "processed on f1: ", "received on f1, relayed to
// f2: " or stands alone for a drop; explain() fills in {member} (the
// decision's member), {owner} (the Call-ID's owner now) and {here} (the
// member that routes).
struct ReasonText {
    Reason reason;
    std::string_view name;
    std::string_view explanation;
};

inline constexpr ReasonText REASONS[] = {
    {Reason::via_tag, "via_tag", "a response: its top Via carries {member}'s branch tag"},
    {Reason::route_tag, "route_tag",
     "its top Route (or Request-URI) names {member} (fm={member}), which Record-Routed the "
     "dialog"},
    {Reason::call_id_hash, "call_id_hash",
     "{member} owns the Call-ID: rendezvous hash over the farm Members that are up and not "
     "draining"},
    {Reason::processor, "processor", "a request from {here}'s own processor: it starts here"},
    {Reason::not_farm_member, "not_farm_member",
     "{here} is not a farm Member: it processes what it receives"},
    {Reason::no_farm_member, "no_farm_member", "no farm Member is up: {here} processes it"},
    {Reason::reply_from, "reply_from", "an lbcheck probe that asks {member} to answer"},
    {Reason::relay_mode, "relay_mode",
     "a request from {here}'s own processor, a Relay backend: {member}, a farm Member, sends it "
     "out"},
    {Reason::relayed, "relayed", "another member relayed it here: {here} processes it"},
    {Reason::known_call_id, "known_call_id",
     "{here} processed the Call-ID lately: the call stays here"},
    {Reason::handoff, "handoff",
     "the membership changed lately: {member} owned the Call-ID in an earlier view and is asked "
     "first whether the call is in progress there; a new call goes on to the owner now, "
     "{owner}"},
    {Reason::handoff_passed, "handoff_passed",
     "a hand-off: {here} does not have the call and passes it on to {member}, the next member "
     "that may have it (or the owner now)"},
    {Reason::response_without_farm_via, "response_without_farm_via",
     "a response without this farm's Via: dropped"},
    {Reason::processor_answered_its_own, "processor_answered_its_own",
     "the processor answered a request it sent itself (its top Via is ours): dropped"},
    {Reason::unknown_member, "unknown_member",
     "it names a member that is not in the cluster: dropped"},
    {Reason::owner_down, "owner_down", "the member it belongs to is down: dropped"},
    {Reason::relay_loop, "relay_loop",
     "another member relayed it here, but it belongs to a third: dropped, not relayed again"},
};

constexpr bool reasons_in_order() {
    for (size_t i = 0; i < std::size(REASONS); ++i)
        if (static_cast<size_t>(REASONS[i].reason) != i)
            return false;
    return std::size(REASONS) == static_cast<size_t>(Reason::relay_loop) + 1;
}
static_assert(reasons_in_order(), "REASONS: one entry per Reason, in order");

constexpr std::string_view to_string(Reason r) {
    return REASONS[static_cast<size_t>(r)].name;
}

// The reason of that name; none for a name this version does not know.
std::optional<Reason> reason_named(std::string_view name);

// The explanation of `r` with {member}, {owner} and {here} filled in.
std::string explain(Reason r, std::string_view member, std::string_view owner,
                    std::string_view here);

// Relayed packets take at most this many farm-link hops (the hand-off chain
// of the most views kept, cluster/handoff.hpp).
constexpr unsigned MAX_FARM_HOPS = 8;

enum class Origin {
    outside,   // a public SIP socket, from a client or peer
    processor, // this member's own SIP server
    farm_link, // relayed by another member
};

struct Decision {
    enum class Kind {
        local, // process on this member
        relay, // send to `member` over the farm link
        drop,  // count `reason` and forget
    };
    Kind kind = Kind::drop;
    std::string member; // relay target; the owner for local
    // Why (to_string() for logs and counters); route() always sets it.
    Reason reason;
    // A hand-off step: add this member to the envelope's "asked" list.
    bool asked_here = false;
};

// "local", "relay", "drop": the `route` op's "action".
std::string_view to_string(Decision::Kind k);
std::optional<Decision::Kind> decision_kind_named(std::string_view name);

// The owner of `call_id` among the eligible members (farm Member, alive, not
// draining) by highest random weight; "" when none is eligible. With `key`,
// the Call-ID's hash is SipHash-2-4 under it, else stable_hash.
std::string rendezvous_owner(std::string_view call_id, const std::vector<FarmView::Member>& members,
                             const crypto::SipKey* key = nullptr);
inline std::string rendezvous_owner(std::string_view call_id, const FarmView& view) {
    return rendezvous_owner(call_id, view.members, view.key ? &*view.key : nullptr);
}

// The routing key of a cluster secret: the same on every member that has the
// same secret, and nothing an outsider can compute without it.
crypto::SipKey route_key(std::string_view secret);

// The members that may hold `call_id` in progress, in the order to ask them:
// its owners by the previous views (newest first) that are still alive and
// farm Members, then its owner now; no repeats. Just the owner when nothing
// changed; empty when no member is eligible.
std::vector<std::string> handoff_chain(std::string_view call_id, const FarmView& view);

Decision route(const PacketFacts& p, Origin origin, const FarmView& view);

} // namespace rtfarm::sip
