#include "control.hpp"

#include "connect.hpp"

#include "control/control_client.hpp"

#include <vector>

namespace rtfarm::ctl {

Result<FarmAnswer> ask_farm(const std::optional<config::ClusterConfig>& cfg,
                            const std::string& target, std::string_view op, json::Json args,
                            std::chrono::milliseconds timeout) {
    std::vector<std::string> targets;
    if (!target.empty())
        targets.push_back(target);
    else if (cfg)
        for (const auto& m : cfg->members)
            targets.push_back(m.control);
    std::string last_error = "no control socket to ask (give --config, --socket or --connect)";
    for (const auto& t : targets) {
        auto client = ctl::connect(t, timeout);
        if (!client) {
            last_error = t + ": " + client.error().message;
            continue;
        }
        return FarmAnswer{t, client->call(op, args, timeout)};
    }
    return make_error("unreachable", last_error);
}

} // namespace rtfarm::ctl
