// The `stats` subcommand: asks the daemons of the cluster for their counters
// over their control sockets and prints them, per member and program, as a
// table or as one JSON document. Which sockets to ask comes from the config
// (every member's sipfarmd `control` and rtprelayd `media_control`), or
// from --socket / --connect for one daemon. It changes nothing anywhere.
#pragma once

#include "config/config.hpp"

#include <chrono>
#include <ostream>
#include <string>
#include <vector>

namespace rtfarm::ctl {

struct StatsTarget {
    std::string member;  // as configured; "" when asked by address only
    std::string program; // expected program; "" when unknown
    std::string address; // Unix socket path or HOST:PORT
};

// Every daemon socket the config names, member by member.
std::vector<StatsTarget> stats_targets(const config::ClusterConfig& cfg);

// Asks each target; prints the answers. Returns the exit status: 0 every
// target answered, 1 some did not, 2 a single named target did not.
int run_stats(const std::vector<StatsTarget>& targets, bool single, bool json_output,
              std::chrono::milliseconds timeout, std::ostream& out, std::ostream& err);

} // namespace rtfarm::ctl
