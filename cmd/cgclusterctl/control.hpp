// Which sipfarmd cgclusterctl asks, and asking it: the daemon named by
// --socket / --connect, else the first member of the config whose control
// socket accepts a connection (a member that is down is skipped, so any
// member that is up can answer for the cluster). One request, one answer;
// what the answer means is the caller's business.
#pragma once

#include "base/result.hpp"
#include "config/config.hpp"
#include "json/json.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace rtfarm::ctl {

struct FarmAnswer {
    std::string target;        // the socket or address that answered
    Result<json::Json> result; // the result, or the daemon's error (or a timeout)
};

// Error "unreachable" (the message names the last target tried) when no
// daemon accepted the connection.
Result<FarmAnswer> ask_farm(const std::optional<config::ClusterConfig>& cfg,
                            const std::string& target, std::string_view op, json::Json args,
                            std::chrono::milliseconds timeout);

} // namespace rtfarm::ctl
