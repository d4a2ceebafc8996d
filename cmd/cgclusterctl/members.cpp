#include "members.hpp"

#include "control.hpp"
#include "table.hpp"

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
    auto answer = ask_farm(cfg, target, op, std::move(args), timeout);
    if (!answer) {
        err << "cgclusterctl: " << op << ": " << answer.error().message << '\n';
        return 2;
    }
    if (!answer->result) {
        err << "cgclusterctl: " << op << ": " << answer->target << ": "
            << answer->result.error().message << '\n';
        return 2;
    }
    if (json_output) {
        out << answer->result->dump() << '\n';
        return 0;
    }
    // Which member changed (drain, undrain, set): it says so itself.
    if (auto changed = (*answer->result)["changed"].as_string()) {
        const json::Json members = (*answer->result)["members"];
        for (size_t i = 0; i < members.size(); ++i)
            if (members.at(i)["id"].as_string() == *changed)
                out << *changed << ": " << op << " done, now "
                    << members.at(i)["state"].as_string().value_or("?") << '\n';
    }
    print_members(*answer->result, out);
    return 0;
}

} // namespace rtfarm::ctl
