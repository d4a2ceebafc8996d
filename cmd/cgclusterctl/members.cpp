#include "members.hpp"

#include "connect.hpp"
#include "table.hpp"
#include "json/control_client.hpp"

namespace rtfarm::ctl {
namespace {

void print_members(const json::Json& result, std::ostream& out) {
    std::vector<Row> rows{{"MEMBER", "ROLE", "STATE", "SIP_FARM", "CALL_LEGS", "SIGNALS", "ADDRESS",
                           "MEDIA", "LOAD"}};
    auto members = result["members"];
    for (size_t i = 0; i < members.size(); ++i) {
        auto m = members.at(i);
        auto s = [&](const char* k) {
            return m[k].as_string().value_or("-");
        };
        rows.push_back({s("id"), s("role"), s("state"), s("sip_farm"), s("call_legs"), s("signals"),
                        s("address"), s("media_ports").empty() ? "-" : s("media_ports"),
                        std::to_string(m["load"].as_integer().value_or(0))});
    }
    out << "epoch " << result["epoch"].as_integer().value_or(0) << "\n";
    print_table(rows, out);
}

} // namespace

int run_membership_op(const std::optional<config::ClusterConfig>& cfg, const std::string& target,
                      const std::string& op, json::Json args, bool json_output,
                      std::chrono::milliseconds timeout, std::ostream& out, std::ostream& err) {
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
        auto result = client->call(op, args, timeout);
        if (!result) {
            err << "cgclusterctl: " << op << ": " << t << ": " << result.error().message << '\n';
            return 2;
        }
        if (json_output)
            out << result->dump() << '\n';
        else
            print_members(*result, out);
        return 0;
    }
    err << "cgclusterctl: " << op << ": " << last_error << '\n';
    return 2;
}

} // namespace rtfarm::ctl
