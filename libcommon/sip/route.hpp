// Which member processes a SIP packet: the farm's routing rules as a pure
// function of what the packet says, where it came from, and the membership
// view. No sockets, no clock: sipfarmd feeds it and acts on the answer.
//
// The rules (DESIGN.md, "SIP farm routing"), in order:
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

#include <cstdint>
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
    // Why, in a word for logs and counters: "via_tag", "route_tag",
    // "call_id_hash", "processor", "not_farm_member", "no_farm_member",
    // "reply_from", "relay_mode", "relayed", the hand-off's "known_call_id",
    // "handoff" (to a previous owner) and "handoff_passed" (on along the
    // chain), and for drops "response_without_farm_via",
    // "processor_answered_its_own" (the processor sent a response whose top
    // Via is ours of a request it sent itself),
    // "unknown_member", "owner_down", "relay_loop".
    std::string_view reason;
    // A hand-off step: add this member to the envelope's "asked" list.
    bool asked_here = false;
};

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
