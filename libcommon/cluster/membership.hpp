// The membership view every sipfarmd keeps: which members are up, draining
// or down, with the modes each announces, learned from heartbeats on the
// farm link. Pure logic with time passed in: the daemon feeds it heartbeats
// and clock ticks and sends what self_heartbeat() returns; tests drive it
// with a fake clock. Every member computes the same view from the same
// heartbeats; there is no controller. The epoch counts changes of the view
// that routing cares about (state and effective modes of any member).
#pragma once

#include "base/result.hpp"
#include "cluster/flood.hpp"
#include "cluster/modes.hpp"
#include "config/config.hpp"
#include "sip/route.hpp"
#include "json/json.hpp"

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace rtfarm::cluster {

using Clock = std::chrono::steady_clock;

// What a member says about itself, every heartbeat_ms.
struct Heartbeat {
    std::string id;
    uint64_t incarnation = 0; // grows when the member restarts
    uint64_t seq = 0;
    bool draining = false;
    config::SipFarm sip_farm = config::SipFarm::automatic; // configured or set at run time
    config::Placement call_legs = config::Placement::automatic;
    config::Placement signals = config::Placement::automatic;
    uint32_t load = 0;
    // Its busiest sources of new requests (flood.hpp), at most
    // FloodGuard::MAX_REPORTED.
    FloodReport sources;
    // The ids of the cluster secrets it holds (crypto::key_id), newest
    // first: at most MAX_HEARTBEAT_KEYS (cluster/farm_keys.hpp).
    std::vector<std::string> keys;

    bool operator==(const Heartbeat&) const = default;
};

constexpr size_t MAX_HEARTBEAT_KEYS = 4;

std::string encode_heartbeat(const Heartbeat& hb);
// Errors: "bad_heartbeat" with what is wrong.
Result<Heartbeat> decode_heartbeat(std::string_view text);

enum class MemberState { up, draining, down };
std::string_view to_string(MemberState s);

struct MemberStatus {
    std::string id;
    config::Role role = config::Role::frontend;
    MemberState state = MemberState::down;
    bool heard = false; // a heartbeat ever arrived (always true for self)
    Clock::time_point last_heard{};
    uint64_t incarnation = 0;
    uint64_t seq = 0;
    config::SipFarm sip_farm = config::SipFarm::automatic;
    config::Placement call_legs = config::Placement::automatic;
    config::Placement signals = config::Placement::automatic;
    uint32_t load = 0;
    std::vector<std::string> keys; // the secrets it announced holding
};

class Membership {
public:
    // Every configured member starts up, presumed so until dead_after_ms
    // passes without a heartbeat from it (see the constructor).
    Membership(const config::ClusterConfig& cfg, std::string self, uint64_t incarnation,
               Clock::time_point now);

    // A heartbeat from another member. False (and nothing changes) for one
    // from an unknown member, from ourselves, or older than what we know
    // (a lower incarnation counts once the member has been silent for
    // dead_after_ms: restarted with its clock behind).
    // `changed` tells whether the view changed (the epoch moved).
    bool on_heartbeat(const Heartbeat& hb, Clock::time_point now, bool* changed = nullptr);
    // Members not heard for dead_after_ms go down. True when the view changed.
    bool tick(Clock::time_point now);

    // This member's own state, announced with the next heartbeat.
    bool set_draining(bool draining);
    bool set_modes(std::optional<config::SipFarm> sip_farm,
                   std::optional<config::Placement> call_legs,
                   std::optional<config::Placement> signals);
    void set_load(uint32_t load);
    // The ids of the secrets this member holds, newest first.
    void set_keys(std::vector<std::string> ids);
    Heartbeat self_heartbeat();

    // A new config (SIGHUP): members added start down until heard (they
    // are likely not running yet), removed ones go,
    // kept ones keep what was heard. This member's configured modes are
    // taken from the file again.
    void reconfigure(const config::ClusterConfig& cfg);

    // Whether a member that is up started more than `margin` before this
    // one (by the incarnations, wall-clock ms): it may have routed without
    // us. A member that started later, or less than dead_after_ms before
    // us, presumed us up from its start (see the constructor) and never did.
    bool has_older_peer(std::chrono::milliseconds margin) const;

    uint64_t epoch() const { return m_epoch; }
    const std::vector<MemberStatus>& members() const { return m_members; }
    const MemberStatus* find(std::string_view id) const;
    // Effective modes (Auto resolved against the members that are up).
    std::vector<EffectiveModes> effective() const;
    // What routing needs.
    sip::FarmView farm_view() const;
    // The `members` control op's result (cgclusterctl(8), members).
    json::Json to_json() const;

private:
    void bump();
    std::string routing_signature() const;
    MemberStatus* find_mut(std::string_view id);

    std::string m_self;
    std::chrono::milliseconds m_dead_after;
    std::vector<MemberStatus> m_members;
    std::vector<config::MemberConfig> m_config; // per member, same order
    uint64_t m_epoch = 1;
    std::string m_signature;
};

} // namespace rtfarm::cluster
