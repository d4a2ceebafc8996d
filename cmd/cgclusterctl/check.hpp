// The `check` subcommand of cgclusterctl: runs cluster::check over a loaded
// config and prints the report, as a table for people or as one JSON document.
// It decides nothing itself (the findings come from libcommon/cluster/check)
// and talks to no daemon.
#pragma once

#include "config/config.hpp"

#include <ostream>

namespace rtfarm::ctl {

// Prints the report to `out`; returns the exit status: 0 no error finding,
// 1 at least one.
int run_check(const config::ClusterConfig& cfg, bool json_output, std::ostream& out);

// The report for a file that was read but does not validate: one error
// finding `config-invalid` with the loader's message; returns 1.
int run_check_invalid(const Error& error, bool json_output, std::ostream& out);

} // namespace rtfarm::ctl
