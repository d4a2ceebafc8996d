// `cgclusterctl check`: a static review of one cluster config, as a pure
// function. It names settings that cannot work together (overlapping media
// ranges on one address, WAN IP settings that fit no media method, placements
// nobody can host), warns about likely mistakes, and computes the media port
// capacity per member and for the cluster. It does not read files, contact
// daemons, or know which members are alive: every member counts as up.
#pragma once

#include "base/finding.hpp"
#include "cluster/modes.hpp"
#include "config/config.hpp"
#include "json/json.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rtfarm::cluster {

// How media reaches the members from outside (reference doc, "RTP Media").
//   single_ip: every media member advertises the one Cluster-wide WAN IP; the
//              load balancer forwards by port, so ranges must be disjoint.
//   multi_ip:  every media member has its own Server-wide WAN IP.
//   mixed:     some have one and some do not: fits neither method.
//   none:      no member terminates media.
enum class MediaMethod { none, single_ip, multi_ip, mixed };
std::string_view to_string(MediaMethod m);

// Media capacity of a number of ports: an audio stream takes an RTP/RTCP pair
// (2 ports), an audio+video session two pairs (4 ports).
struct Capacity {
    size_t ports = 0;
    size_t audio_streams = 0;
    size_t av_sessions = 0;
    static Capacity of_ports(size_t ports) { return {ports, ports / 2, ports / 4}; }
    bool operator==(const Capacity&) const = default;
};

// The ports of one address: 1024-65535.
constexpr size_t MAX_PORTS_PER_ADDRESS = 65535 - 1024 + 1;

struct MemberReport {
    std::string id;
    config::Role role = config::Role::frontend;
    EffectiveModes modes;
    std::optional<SockAddr> advertised; // Server-wide WAN IP, else Cluster-wide
    std::optional<PortRange> media_ports;
    Capacity capacity;
};

struct CheckReport {
    std::string cluster_name;
    MediaMethod method = MediaMethod::none;
    // In the order the checks run, members in config order. Each says what
    // is wrong and what to do in `evidence` (no `fix`), and names the member
    // it is about, if one.
    std::vector<Finding> findings;
    std::vector<MemberReport> members;
    // Ports of all members: per advertised address, the union of the ranges
    // of the members advertising it; summed over the addresses.
    Capacity cluster;

    size_t count(Severity s) const;
    bool has_errors() const { return count(Severity::error) > 0; }
};

CheckReport check(const config::ClusterConfig& cfg);

// {"ok", "cluster", "method", "errors", "warnings", "findings": [...],
//  "members": [...], "capacity": {...}}
json::Json to_json(const CheckReport& report);

} // namespace rtfarm::cluster
