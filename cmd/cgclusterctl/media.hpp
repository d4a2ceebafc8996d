// The `media` subcommand: media sessions per member, from each member's
// rtprelayd (the config's `media_control` socket, asked for `stats`), or
// from the one rtprelayd named by --socket / --connect. A member whose
// rtprelayd is not running is said to be so; that is a problem (exit 1)
// only where media is anchored (`media: anchor`) and the member hosts call
// legs itself, since calls placed there cannot be anchored.
#pragma once

#include "config/config.hpp"

#include <chrono>
#include <ostream>
#include <string>

namespace rtfarm::ctl {

// Every member of `cfg`. Exit status: 0, or 1 when an anchoring member that
// hosts call legs has no rtprelayd answering.
int run_media(const config::ClusterConfig& cfg, bool json_output, std::chrono::milliseconds timeout,
              std::ostream& out, std::ostream& err);

// The one rtprelayd at `target`. Exit status: 0, or 2 when it does not answer
// or is not an rtprelayd.
int run_media_one(const std::string& target, bool json_output, std::chrono::milliseconds timeout,
                  std::ostream& out, std::ostream& err);

} // namespace rtfarm::ctl
