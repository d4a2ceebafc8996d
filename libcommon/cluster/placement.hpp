// Where a new Call Leg or Signal is hosted (the reference's "Call Legs
// Processing" and "Signal Processing" settings), decided from the member
// that creates it (FROM) and the membership view. Pure: no clock, no I/O;
// sipfarmd's `place` control op and the tests call it with a view.
//
// The rule, from FROM's effective mode for the kind (Auto resolved):
//   - locally, locally-for-others: FROM hosts it, whatever FROM's state (a
//     member creating its own object is not taking new work from others).
//   - remotely: one of the *hosts*, the members other than standalone
//     servers (they are not Dynamic Cluster members) whose state is up (not
//     draining, not down) and whose effective mode for the kind is
//     locally-for-others:
//       with a key (the Call-ID): the rendezvous (highest random weight)
//         hash of the key over the hosts, the same hash SIP routing uses,
//         so a call leg for a Call-ID lands on the member that processes
//         that Call-ID whenever it is a host; when the chosen host dies or
//         drains, the next one in the key's ranking takes over and no other
//         key moves (reason "hash");
//       without a key: the host with the least load announced in its
//         heartbeats; equal loads are ranked by the rendezvous hash of
//         FROM's id, so each member spreads to its own preferred host
//         (reason "least_load").
//     No host: the error "no_placement". There is no fallback to FROM: a
//     member set to Remotely is one that must not create these objects
//     itself (a backend without access to the Internet), so an object
//     created there anyway would have no working media or signalling.
//
// It does not create anything, remember earlier answers, or count what each
// member hosts (that is the load the members announce).
#pragma once

#include "base/result.hpp"
#include "cluster/membership.hpp"
#include "config/config.hpp"
#include "json/json.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rtfarm::cluster {

enum class ObjectKind { call_leg, signal };
// "callleg", "signal" (the words of the control op and of cgclusterctl).
std::string_view to_string(ObjectKind k);
std::optional<ObjectKind> parse_object_kind(std::string_view s);

// Why place() chose its member (the `place` op's "reason"): FROM's mode is
// locally (or locally-for-others); the rendezvous hash of the key; the least
// loaded host.
enum class PlacementReason : uint8_t { locally, hash, least_load };
std::string_view to_string(PlacementReason r);
std::optional<PlacementReason> parse_placement_reason(std::string_view s);

// One member as placement sees it: its effective modes and what it announces.
struct PlacementMember {
    std::string id;
    config::Role role = config::Role::frontend;
    MemberState state = MemberState::down;
    config::Placement call_legs = config::Placement::locally; // effective
    config::Placement signals = config::Placement::locally;   // effective
    uint32_t load = 0;

    config::Placement mode(ObjectKind k) const {
        return k == ObjectKind::call_leg ? call_legs : signals;
    }
    bool operator==(const PlacementMember&) const = default;
};

struct PlacementView {
    std::vector<PlacementMember> members; // config order
    uint64_t epoch = 0;

    const PlacementMember* find(std::string_view id) const;
};

// The view of a running member.
PlacementView placement_view(const Membership& m);

struct PlacementRequest {
    ObjectKind kind = ObjectKind::call_leg;
    std::string from; // the member that creates the object
    std::string key;  // e.g. the Call-ID; "" for none

    bool operator==(const PlacementRequest&) const = default;
};

struct PlacementDecision {
    std::string member; // the host
    std::string from;
    ObjectKind kind = ObjectKind::call_leg;
    std::string key;                                     // as asked
    config::Placement mode = config::Placement::locally; // FROM's effective mode
    PlacementReason reason = PlacementReason::locally;
    std::vector<std::string> candidates; // the hosts considered (remotely), config order

    bool operator==(const PlacementDecision&) const = default;
};

// Error codes of place() and parse_place_request().
namespace placement_error {
// FROM is not a member, a kind is not callleg|signal, a field has the wrong type.
inline constexpr const char* BAD_REQUEST = "bad_request";
// FROM's mode is remotely and no member can host the object now.
inline constexpr const char* NO_PLACEMENT = "no_placement";
} // namespace placement_error

Result<PlacementDecision> place(const PlacementRequest& req, const PlacementView& view);

// The `place` op's fields: "kind" (required), "from" (default `self`), "key"
// (optional string).
Result<PlacementRequest> parse_place_request(const json::Json& body, std::string_view self);

// {"member","from","kind","mode","reason","key" (when given),"candidates":[...],"epoch"}.
json::Json to_json(const PlacementDecision& d, uint64_t epoch);

} // namespace rtfarm::cluster
