// The `members`, `drain`, `undrain` and `set` subcommands: membership as a
// running sipfarmd sees it, and changes to one member's own state. They talk
// to one daemon: the one named by --socket / --connect, else (members) the
// first member of the config whose control socket answers, or (drain,
// undrain, set) the member named on the command line, at its control socket.
#pragma once

#include "config/config.hpp"
#include "json/json.hpp"

#include <chrono>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace rtfarm::ctl {

// Calls `op` with `args` at `target`, or at the first answering member of
// `cfg` when target is empty. Prints the membership (table or JSON) and
// returns the exit status: 0, or 2 when no daemon answered / it refused.
int run_membership_op(const std::optional<config::ClusterConfig>& cfg, const std::string& target,
                      const std::string& op, json::Json args, bool json_output,
                      std::chrono::milliseconds timeout, std::ostream& out, std::ostream& err);

} // namespace rtfarm::ctl
