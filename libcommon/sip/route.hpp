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
// member processed in the last 32 s stays here. When the view changed in the
// last 32 s and the Call-ID's owner then differs from its owner now, the
// request goes first to the previous owner; that member keeps it if it knows
// the Call-ID and otherwise passes it on to the owner of its own view. So a
// relayed request may take a second hop, never a third.
#pragma once

#include <cstdint>
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
    // The member lists of views replaced in the last 32 s, newest first
    // (cluster/handoff.hpp keeps them): where Call-IDs in progress may live.
    std::vector<std::vector<Member>> previous;

    const Member* find(std::string_view id) const;
    bool operator==(const FarmView&) const = default;
};

// The facts of one packet that routing looks at (from the scanner).
struct PacketFacts {
    bool is_request = false;
    std::string_view method; // requests
    std::string_view top_via_branch;
    std::string_view top_route; // first Route value, "" when none
    std::string_view request_uri;
    std::string_view call_id;
    std::string_view reply_from; // X-Farm-Reply-From of a probe, "" when none
    bool probe = false;          // OPTIONS to the user "lbcheck"
    // This member processed a request with this Call-ID in the last 32 s.
    bool known_call_id = false;
    // Farm-link hops so far: 0 from outside, 1 relayed once, 2 the most.
    unsigned hops = 0;
};

// Relayed packets take at most this many farm-link hops.
constexpr unsigned MAX_FARM_HOPS = 2;

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
    // "handoff" (to the previous owner) and "handoff_passed" (on to the
    // owner now), and for drops "response_without_farm_via",
    // "unknown_member", "owner_down", "relay_loop".
    std::string_view reason;
};

// The owner of `call_id` among the eligible members (farm Member, alive, not
// draining) by highest random weight; "" when none is eligible.
std::string rendezvous_owner(std::string_view call_id,
                             const std::vector<FarmView::Member>& members);
inline std::string rendezvous_owner(std::string_view call_id, const FarmView& view) {
    return rendezvous_owner(call_id, view.members);
}

Decision route(const PacketFacts& p, Origin origin, const FarmView& view);

} // namespace rtfarm::sip
