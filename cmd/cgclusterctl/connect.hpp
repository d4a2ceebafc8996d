// How cgclusterctl reaches a daemon: a Unix socket as it is, a TCP control
// port with a login by the cluster secret (from the config file, when it
// loads), so `--connect` works against a cluster that has a secret.
#pragma once

#include "base/result.hpp"
#include "control/control_client.hpp"

#include <chrono>
#include <string>
#include <vector>

namespace rtfarm::ctl {

// The secrets TCP connections log in with, newest first; none = no login.
void set_control_secrets(std::vector<std::string> secrets);

Result<control::ControlClient> connect(const std::string& target,
                                       std::chrono::milliseconds timeout);

} // namespace rtfarm::ctl
