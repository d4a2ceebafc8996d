// The life cycle every rtfarm daemon shares, so sipfarmd and rtprelayd differ
// only in their Service: command line (CLI11), config load for --member,
// --check-config, the control socket with the ops every daemon answers
// (ping, stats, reload, log_level) on the Unix socket and, when the member
// has `control_tcp`, on TCP, SIGHUP reload (a bad new config keeps the
// old one and says why), two-phase SIGTERM (drain with a deadline; a second
// SIGTERM stops at once), readiness notification, and the Prometheus
// metrics endpoint when the member has one for this daemon. Exit status: 0 after a
// clean stop, 2 when the daemon cannot start, 1 on a run-time failure.
// It does not know what the daemon does with its sockets.
#pragma once

#include "base/result.hpp"
#include "config/config.hpp"
#include "control/control_server.hpp"
#include "ev/loop.hpp"
#include "json/json.hpp"

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace rtfarm::daemon {

// What a daemon plugs into the shell. Calls come from the loop's thread.
class Service {
public:
    virtual ~Service() = default;
    // What this daemon needs of its member beyond what config::load checks
    // (rtprelayd: a media port range). Pure: used by --check-config too, and
    // by the shell before start() and reload().
    virtual Status validate(const config::ClusterConfig& cfg,
                            const config::MemberConfig& me) const {
        (void)cfg;
        (void)me;
        return {};
    }
    // Opens the daemon's own sockets. An error here means the daemon cannot
    // start (exit 2): say what and why ("bind 10.0.0.1:5060 (udp): in use").
    virtual Status start(const config::ClusterConfig& cfg, const config::MemberConfig& me) = 0;
    // Applies a new, already validated config. On error nothing may have
    // changed: the shell keeps the old config and logs the reason.
    virtual Status reload(const config::ClusterConfig& cfg, const config::MemberConfig& me) = 0;
    // A reload whose config is unchanged: files the config names may have
    // new contents (certificates). Same rule: on error nothing changed.
    virtual Status reload_files(const config::ClusterConfig& cfg, const config::MemberConfig& me) {
        (void)cfg;
        (void)me;
        return {};
    }
    // Stop taking new work and call `done` once in-flight work is finished
    // (or at once when there is none). The shell enforces a deadline.
    virtual void drain(std::function<void()> done) = 0;
    // Counters for the `stats` op, merged under "service".
    virtual json::Json stats() const = 0;
    // Adds the daemon's own control ops.
    virtual void register_ops(control::ControlServer& server) { (void)server; }
};

struct DaemonInfo {
    const char* program;     // "sipfarmd"
    const char* description; // one line for --help
    // Which control socket path the daemon listens on by default.
    std::function<std::string(const config::MemberConfig&)> default_control;
    // Whether it also listens on the member's control_tcp (sipfarmd: the
    // members' link to each other). One daemon per member may: rtprelayd
    // is reached from other members through its sipfarmd.
    bool control_tcp = false;
    // The member's address on which the daemon serves Prometheus metrics
    // (sipfarmd: `metrics`, rtprelayd: `media_metrics`); unset: none.
    std::function<std::optional<SockAddr>(const config::MemberConfig&)> metrics = {};
    std::chrono::milliseconds drain_deadline{5000};
};

using ServiceFactory = std::function<std::unique_ptr<Service>(ev::Loop& loop)>;

// Parses argv, loads the config, runs the service until stopped. Returns the
// exit status for main().
int run_daemon(int argc, char** argv, const DaemonInfo& info, const ServiceFactory& make);

} // namespace rtfarm::daemon
