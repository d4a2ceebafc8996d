#include "daemon/daemon.hpp"

#include "base/log.hpp"
#include "daemon/metrics.hpp"
#include "daemon/metrics_server.hpp"
#include "daemon/notify.hpp"

#include <CLI/CLI.hpp>

#include <signal.h>
#include <unistd.h>

#include <iostream>

namespace rtfarm::daemon {
namespace {

// The members' internal addresses, as the control server sees TCP peers.
std::vector<std::string> member_hosts(const config::ClusterConfig& cfg) {
    std::vector<std::string> out;
    for (const auto& m : cfg.members)
        out.push_back(m.address.unmapped().host());
    return out;
}

} // namespace
namespace {

using Clock = std::chrono::steady_clock;

// The signals the shell handles. They are blocked from the start of
// run_daemon until the loop's handlers exist, so a SIGTERM or SIGHUP sent
// while the daemon starts is handled, not fatal.
sigset_t handled_signals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    return set;
}

void block_signals() {
    sigset_t set = handled_signals();
    ::sigprocmask(SIG_BLOCK, &set, nullptr);
}

void unblock_signals() {
    sigset_t set = handled_signals();
    ::sigprocmask(SIG_UNBLOCK, &set, nullptr);
}

struct CommandLine {
    std::string config_path = "/etc/rtfarm/cluster.json";
    std::string member;
    std::string control;
    std::string log_level = "info";
    bool check_only = false;
    int notify_fd = -1;
};

// Finds `id` in cfg, or explains which members there are.
Result<const config::MemberConfig*> find_member(const config::ClusterConfig& cfg,
                                                const std::string& id) {
    if (const auto* m = cfg.find(id))
        return m;
    std::string known;
    for (const auto& m : cfg.members)
        known += (known.empty() ? "" : ", ") + m.id;
    return make_error("config", cfg.path + ": member '" + id +
                                    "' is not in the file (members: " + known + ")");
}

// The running daemon: owns the loop's objects and the current config.
class Shell {
public:
    Shell(const DaemonInfo& info, CommandLine cl, config::ClusterConfig cfg,
          const ServiceFactory& make)
        : m_info(info)
        , m_cl(std::move(cl))
        , m_cfg(std::move(cfg))
        , m_notifier(m_cl.notify_fd)
        , m_service(make(m_loop))
        , m_server(m_loop)
        , m_metrics(m_loop, [this] { return metrics::render(metrics::from_stats(stats())); })
        , m_started(Clock::now())
        , m_drain_timer(m_loop, [this] { on_drain_deadline(); })
        , m_sighup(m_loop, SIGHUP, [this] { (void)reload("SIGHUP"); })
        , m_sigterm(m_loop, SIGTERM, [this] { on_stop_signal("SIGTERM"); })
        , m_sigint(m_loop, SIGINT, [this] { on_stop_signal("SIGINT"); }) {}

    int run() {
        const auto* me = m_cfg.find(m_cl.member);
        // The control socket first: it is also the lock that keeps a second
        // copy of this daemon for the same member from starting.
        m_control_path = m_cl.control.empty() ? m_info.default_control(*me) : m_cl.control;
        if (m_control_path.empty())
            return cannot_start("no control socket for member '" + me->id +
                                "' (set it in the config or use --control)");
        if (auto st = m_server.listen_unix(m_control_path); !st)
            return cannot_start("control socket: " + st.error().message);
        // With a cluster secret, TCP control clients must log in with it;
        // the members' addresses keep places of their own.
        m_server.set_tcp_secrets(m_cfg.cluster.secrets());
        m_server.set_member_hosts(member_hosts(m_cfg));
        if (me->control_tcp && m_info.control_tcp) {
            if (auto st = m_server.listen_tcp(*me->control_tcp); !st)
                return cannot_start("control_tcp: " + st.error().message);
        }
        if (auto st = m_service->validate(m_cfg, *me); !st)
            return cannot_start(st.error().message);
        if (auto st = m_service->start(m_cfg, *me); !st)
            return cannot_start(st.error().message);
        m_metrics_address = metrics_address(*me);
        if (m_metrics_address) {
            if (auto st = m_metrics.listen(*m_metrics_address); !st)
                return cannot_start("metrics: " + st.error().message);
        }
        register_ops();
        log::info("daemon", "started",
                  {{"program", m_info.program},
                   {"version", RTFARM_VERSION},
                   {"member", me->id},
                   {"config", m_cfg.path},
                   {"control", m_control_path},
                   {"pid", std::to_string(::getpid())}});
        m_notifier.ready(std::string("member ") + me->id + " up");
        // Signals held back since start-up are delivered from here on.
        unblock_signals();
        if (!m_loop.run()) {
            log::error("daemon", "event loop failed");
            return 1;
        }
        m_server.close();
        m_metrics.close();
        log::info("daemon", "stopped", {{"program", m_info.program}, {"member", m_cl.member}});
        return 0;
    }

private:
    int cannot_start(const std::string& why) {
        m_server.close();
        std::cerr << m_info.program << ": cannot start: " << why << "\n";
        return 2;
    }

    void register_ops() {
        m_server.on("ping",
                    [this](const control::Request&, const control::Peer&, control::Reply reply) {
                        reply(json::Json::object()
                                  .set("pong", true)
                                  .set("program", m_info.program)
                                  .set("member", m_cl.member)
                                  .set("version", RTFARM_VERSION)
                                  .set("pid", static_cast<long long>(::getpid())));
                    });
        m_server.on("stats", [this](const control::Request&, const control::Peer&,
                                    control::Reply reply) { reply(stats()); });
        m_server.on(
            "reload", [this](const control::Request&, const control::Peer&, control::Reply reply) {
                auto st = reload("control");
                if (st)
                    reply(json::Json::object().set("config", m_cfg.path).set("reloads", m_reloads));
                else
                    reply(make_error("reload_failed", st.error().message));
            });
        m_server.on("log_level", [](const control::Request& req, const control::Peer&,
                                    control::Reply reply) {
            auto spec = req.body["spec"].as_string();
            if (!spec || !log::apply_spec(*spec)) {
                reply(make_error("bad_request",
                                 "\"spec\" must be a level (debug|info|warn|error) optionally "
                                 "followed by ,SUB=LEVEL items"));
                return;
            }
            reply(json::Json::object().set("spec", *spec));
        });
        m_service->register_ops(m_server);
    }

    // The `stats` op's result; the metrics endpoint renders the same.
    json::Json stats() const {
        auto uptime =
            std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - m_started);
        return json::Json::object()
            .set("program", m_info.program)
            .set("member", m_cl.member)
            .set("version", RTFARM_VERSION)
            .set("uptime_ms", static_cast<long long>(uptime.count()))
            .set("reloads", m_reloads)
            .set("reload_failures", m_reload_failures)
            .set("control", m_server.stats())
            .set("loop",
                 json::Json::object()
                     .set("slow_callbacks", static_cast<long long>(ev::callback_stats().slow))
                     .set("longest_callback_us",
                          static_cast<long long>(ev::callback_stats().longest.count())))
            .set("service", m_service->stats());
    }

    std::optional<SockAddr> metrics_address(const config::MemberConfig& me) const {
        return m_info.metrics ? m_info.metrics(me) : std::nullopt;
    }

    Status reload(const char* why) {
        m_notifier.reloading();
        auto st = try_reload();
        if (st) {
            ++m_reloads;
        } else {
            ++m_reload_failures;
            log::error("daemon", "reload failed, keeping the old config",
                       {{"trigger", why}, {"err", st.error().message}});
        }
        m_notifier.reloaded();
        return st;
    }

    Status try_reload() {
        auto loaded = config::load(m_cfg.path);
        if (!loaded)
            return loaded.error();
        auto me = find_member(*loaded, m_cl.member);
        if (!me)
            return me.error();
        if (*loaded == m_cfg) {
            log::info("daemon", "config unchanged", {{"config", m_cfg.path}});
            return m_service->reload_files(m_cfg, **me);
        }
        std::string new_control =
            m_cl.control.empty() ? m_info.default_control(**me) : m_cl.control;
        if (auto st = m_service->validate(*loaded, **me); !st)
            return st;
        if (new_control != m_control_path)
            log::warn("daemon", "control socket path changed; it takes effect at the next start",
                      {{"old", m_control_path}, {"new", new_control}});
        if (auto addr = metrics_address(**me); addr != m_metrics_address)
            log::warn("daemon", "metrics address changed; it takes effect at the next start",
                      {{"old", m_metrics_address ? m_metrics_address->str() : "none"},
                       {"new", addr ? addr->str() : "none"}});
        if (auto st = m_service->reload(*loaded, **me); !st)
            return st;
        m_cfg = std::move(loaded.value());
        m_server.set_tcp_secrets(m_cfg.cluster.secrets());
        m_server.set_member_hosts(member_hosts(m_cfg));
        log::info("daemon", "config reloaded", {{"config", m_cfg.path}});
        return {};
    }

    void on_stop_signal(const char* name) {
        if (m_stopping) {
            log::info("daemon", "second stop signal, stopping now", {{"signal", name}});
            m_loop.stop();
            return;
        }
        m_stopping = true;
        m_notifier.stopping();
        log::info(
            "daemon", "draining",
            {{"signal", name}, {"deadline_ms", std::to_string(m_info.drain_deadline.count())}});
        m_drain_timer.start(m_info.drain_deadline);
        m_service->drain([this] {
            m_loop.defer([this] {
                m_drain_timer.stop();
                m_loop.stop();
            });
        });
    }

    void on_drain_deadline() {
        log::warn("daemon", "drain deadline passed, stopping with work in flight");
        m_loop.stop();
    }

    const DaemonInfo& m_info;
    CommandLine m_cl;
    config::ClusterConfig m_cfg;
    Notifier m_notifier;
    ev::Loop m_loop;
    std::unique_ptr<Service> m_service;
    control::ControlServer m_server;
    MetricsServer m_metrics;
    std::optional<SockAddr> m_metrics_address;
    Clock::time_point m_started;
    std::string m_control_path;
    long long m_reloads = 0;
    long long m_reload_failures = 0;
    bool m_stopping = false;
    ev::Timer m_drain_timer;
    ev::SignalEvent m_sighup;
    ev::SignalEvent m_sigterm;
    ev::SignalEvent m_sigint;
};

} // namespace

int run_daemon(int argc, char** argv, const DaemonInfo& info, const ServiceFactory& make) {
    CommandLine cl;
    CLI::App app{info.description, info.program};
    app.add_option("--config", cl.config_path, "cluster config file")->capture_default_str();
    app.add_option("--member", cl.member, "this member's id in the config")->required();
    app.add_option("--control", cl.control, "control socket path (default: from the config)");
    app.add_option("--log-level", cl.log_level, "LEVEL[,SUB=LEVEL...]: debug, info, warn, error")
        ->capture_default_str();
    app.add_flag("--check-config", cl.check_only, "validate the config for --member and exit");
    app.add_option("--notify-fd", cl.notify_fd,
                   "s6 readiness: write a newline to this fd when ready");
    app.set_version_flag("--version", std::string(info.program) + " " + RTFARM_VERSION);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : 2;
    }
    if (!log::apply_spec(cl.log_level)) {
        std::cerr
            << info.program << ": --log-level '" << cl.log_level
            << "': expected LEVEL[,SUB=LEVEL...] with LEVEL one of debug, info, warn, error\n";
        return 2;
    }
    ev::init_logging();
    ::signal(SIGPIPE, SIG_IGN);
    block_signals();

    auto cfg = config::load(cl.config_path);
    if (!cfg) {
        std::cerr << info.program << ": " << cfg.error().message << "\n";
        return 2;
    }
    auto me = find_member(*cfg, cl.member);
    if (!me) {
        std::cerr << info.program << ": " << me.error().message << "\n";
        return 2;
    }
    if (cl.check_only) {
        ev::Loop loop;
        auto service = make(loop);
        if (auto st = service->validate(*cfg, **me); !st) {
            std::cerr << info.program << ": " << st.error().message << "\n";
            return 2;
        }
        std::cout << cfg->path << ": ok (member " << cl.member << ")\n";
        return 0;
    }
    Shell shell(info, std::move(cl), std::move(cfg.value()), make);
    return shell.run();
}

} // namespace rtfarm::daemon
