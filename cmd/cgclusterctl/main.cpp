// cgclusterctl: the administrator's view of an rtfarm cluster: `check`
// reviews the cluster config file alone; `members`, `drain`, `undrain`,
// `set`, `place` and `route` talk to a running sipfarmd; `media` and `stats`
// ask every daemon the config names. Options and dispatch only: each
// command lives in its own file.
#include "check.hpp"
#include "connect.hpp"
#include "media.hpp"
#include "members.hpp"
#include "query.hpp"
#include "stats.hpp"

#include "base/sockaddr.hpp"
#include "config/config.hpp"

#include <CLI/CLI.hpp>

#include <iostream>
#include <string>

namespace {

constexpr int EXIT_USAGE = 2;

} // namespace

int main(int argc, char** argv) {
    using namespace rtfarm;

    CLI::App app{"Inspect and check an rtfarm SIP farm cluster.", "cgclusterctl"};
    std::string config_path = "/etc/rtfarm/cluster.json";
    std::string socket_path;
    std::string connect_to;
    bool json_output = false;

    app.add_option("--config", config_path, "the cluster config file")
        ->capture_default_str()
        ->type_name("FILE");
    auto* socket_opt =
        app.add_option("--socket", socket_path, "control socket of the local sipfarmd")
            ->type_name("PATH");
    auto* connect_opt = app.add_option("--connect", connect_to, "control_tcp address of a sipfarmd")
                            ->type_name("HOST:PORT")
                            ->check(
                                [](const std::string& s) -> std::string {
                                    auto a = SockAddr::parse(s);
                                    return a ? std::string() : a.error().message;
                                },
                                "");
    socket_opt->excludes(connect_opt);
    app.add_flag("--json", json_output, "print exactly one JSON document on stdout");
    app.set_version_flag("--version", "cgclusterctl " RTFARM_VERSION);
    app.require_subcommand(1);
    app.fallthrough();

    auto* check_cmd = app.add_subcommand(
        "check", "validate the config: media ranges, WAN IP settings, modes, port capacity");

    auto* stats_cmd = app.add_subcommand("stats", "counters of every member's daemons");
    auto* members_cmd =
        app.add_subcommand("members", "every member: role, state, effective modes, address, load");
    std::string member_id;
    auto* drain_cmd = app.add_subcommand("drain", "take member ID out of new work");
    drain_cmd->add_option("ID", member_id, "member id")->required();
    auto* undrain_cmd = app.add_subcommand("undrain", "put member ID back into new work");
    undrain_cmd->add_option("ID", member_id, "member id")->required();
    auto* set_cmd = app.add_subcommand("set", "change a member's sip_farm, call_legs or signals");
    std::vector<std::string> assignments;
    set_cmd->add_option("ID", member_id, "member id")->required();
    set_cmd->add_option("KEY=VALUE", assignments, "sip_farm=..., call_legs=..., signals=...")
        ->required();
    auto* place_cmd = app.add_subcommand(
        "place", "which member hosts a new call leg or signal created on member ID, and why");
    std::string place_kind, place_from, place_key;
    place_cmd->add_option("KIND", place_kind, "callleg or signal")
        ->required()
        ->check(CLI::IsMember({"callleg", "signal"}));
    place_cmd->add_option("--from", place_from, "the member that creates it")
        ->required()
        ->type_name("ID");
    place_cmd->add_option("--call-id", place_key, "the Call-ID it belongs to (hashed)")
        ->type_name("X");
    auto* route_cmd = app.add_subcommand(
        "route", "which member processes a SIP message (by Call-ID or from FILE), and why");
    std::string route_call_id, route_file;
    auto* route_cid_opt =
        route_cmd->add_option("--call-id", route_call_id, "a new request with this Call-ID")
            ->type_name("X");
    auto* route_file_opt =
        route_cmd->add_option("FILE", route_file, "one SIP message; - for standard input");
    route_cid_opt->excludes(route_file_opt);
    auto* media_cmd = app.add_subcommand("media", "media sessions per member (rtprelayd)");
    int timeout_ms = 2000;
    app.add_option("--timeout", timeout_ms, "milliseconds to wait for each daemon")
        ->capture_default_str()
        ->check(CLI::Range(1, 600000));

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        int rc = app.exit(e);
        return rc == 0 ? 0 : EXIT_USAGE;
    }

    auto cfg = config::load(config_path);
    if (cfg)
        ctl::set_control_secrets(cfg->cluster.secrets());
    if (check_cmd->parsed()) {
        // A file that reads but does not validate is the answer "errors".
        if (!cfg && cfg.error().code == "config")
            return ctl::run_check_invalid(cfg.error(), json_output, std::cout);
        if (!cfg) {
            std::cerr << "cgclusterctl: " << cfg.error().message << '\n';
            return EXIT_USAGE;
        }
        return ctl::run_check(*cfg, json_output, std::cout);
    }
    auto timeout_of = [&] {
        return std::chrono::milliseconds(timeout_ms);
    };
    std::string direct = socket_path.empty() ? connect_to : socket_path;
    if (!socket_path.empty() && socket_path.find('/') == std::string::npos)
        direct = "./" + socket_path;
    if (members_cmd->parsed()) {
        std::optional<config::ClusterConfig> c;
        if (cfg)
            c = cfg.value();
        return ctl::run_membership_op(c, direct, "members", json::Json::object(), json_output,
                                      timeout_of(), std::cout, std::cerr);
    }
    if (drain_cmd->parsed() || undrain_cmd->parsed() || set_cmd->parsed()) {
        // A member changes its own state: talk to that member.
        std::string target = direct;
        if (target.empty()) {
            if (!cfg) {
                std::cerr << "cgclusterctl: " << cfg.error().message << '\n';
                return EXIT_USAGE;
            }
            const auto* m = cfg->find(member_id);
            if (!m) {
                std::cerr << "cgclusterctl: no member '" << member_id << "' in " << cfg->path
                          << '\n';
                return EXIT_USAGE;
            }
            target = m->control;
        }
        // The request names the member: a daemon passes one for another
        // member on to it (sipfarmd(8)), so --socket and --connect may name
        // any member's daemon.
        auto args = json::Json::object().set("member", member_id);
        std::string op = drain_cmd->parsed() ? "drain" : undrain_cmd->parsed() ? "undrain" : "set";
        for (const auto& a : assignments) {
            auto eq = a.find('=');
            std::string key = a.substr(0, eq);
            if (eq == std::string::npos ||
                (key != "sip_farm" && key != "call_legs" && key != "signals")) {
                std::cerr << "cgclusterctl: set: '" << a
                          << "': expected sip_farm=..., call_legs=... or signals=...\n";
                return EXIT_USAGE;
            }
            args.set(key.c_str(), a.substr(eq + 1));
        }
        return ctl::run_membership_op(std::nullopt, target, op, std::move(args), json_output,
                                      timeout_of(), std::cout, std::cerr);
    }
    if (place_cmd->parsed() || route_cmd->parsed()) {
        ctl::QueryContext ctx;
        if (cfg)
            ctx.cfg = cfg.value();
        else if (direct.empty()) {
            std::cerr << "cgclusterctl: " << cfg.error().message << '\n';
            return EXIT_USAGE;
        }
        ctx.target = direct;
        ctx.json_output = json_output;
        ctx.timeout = timeout_of();
        if (place_cmd->parsed())
            return ctl::run_place(ctx, place_kind, place_from, place_key, std::cout, std::cerr);
        if (!route_cid_opt->count() && !route_file_opt->count()) {
            std::cerr << "cgclusterctl: route: give --call-id X or a FILE (- for standard input)\n";
            return EXIT_USAGE;
        }
        std::optional<std::string> call_id;
        if (route_cid_opt->count())
            call_id = route_call_id;
        return ctl::run_route(ctx, call_id, route_file, std::cin, std::cout, std::cerr);
    }
    if (media_cmd->parsed()) {
        if (!direct.empty())
            return ctl::run_media_one(direct, json_output, timeout_of(), std::cout, std::cerr);
        if (!cfg) {
            std::cerr << "cgclusterctl: " << cfg.error().message << '\n';
            return EXIT_USAGE;
        }
        return ctl::run_media(*cfg, json_output, timeout_of(), std::cout, std::cerr);
    }
    if (stats_cmd->parsed()) {
        auto timeout = std::chrono::milliseconds(timeout_ms);
        if (!socket_path.empty() || !connect_to.empty()) {
            std::string target = socket_path.empty() ? connect_to : socket_path;
            // A Unix path without a '/' would read as HOST:PORT.
            if (!socket_path.empty() && socket_path.find('/') == std::string::npos)
                target = "./" + socket_path;
            return ctl::run_stats({{"", "", target}}, true, json_output, timeout, std::cout,
                                  std::cerr);
        }
        if (!cfg) {
            std::cerr << "cgclusterctl: " << cfg.error().message << '\n';
            return EXIT_USAGE;
        }
        return ctl::run_stats(ctl::stats_targets(*cfg), false, json_output, timeout, std::cout,
                              std::cerr);
    }
    return EXIT_USAGE;
}
