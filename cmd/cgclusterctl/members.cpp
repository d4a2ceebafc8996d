#include "members.hpp"

#include "control.hpp"
#include "table.hpp"

namespace rtfarm::ctl {
namespace {

// A key id as the table shows it: its first 8 hex digits.
std::string short_id(const json::Json& id) {
    return id.as_string().value_or("-").substr(0, 8);
}

std::string key_list(const json::Json& ids) {
    std::string out;
    for (size_t i = 0; i < ids.size(); ++i)
        out += (out.empty() ? "" : ",") + short_id(ids.at(i));
    return out.empty() ? "-" : out;
}

// During a key rotation (the member that answered holds two secrets):
// which one it signs with, and where the rotation stands (rtfarm.conf(5),
// "Rotating the secret").
void print_farm_key(const json::Json& result, std::ostream& out) {
    const json::Json key = result["farm_key"];
    const json::Json held = key["held"];
    if (!key || !key["signing"].as_string() || held.size() < 2)
        return;
    out << "farm key: signing " << short_id(key["signing"]) << ", holding " << key_list(held);
    const std::string newest = held.at(0).as_string().value_or("");
    if (key["signing"].as_string() == newest) {
        out << "; every member up holds the new key: remove previous_secret_file now\n";
        return;
    }
    std::string waiting;
    auto members = result["members"];
    for (size_t i = 0; i < members.size(); ++i) {
        auto m = members.at(i);
        auto keys = m["keys"];
        bool has = false;
        for (size_t k = 0; k < keys.size(); ++k)
            has = has || keys.at(k).as_string() == newest;
        if (!has && m["state"].as_string() != "down")
            waiting += (waiting.empty() ? "" : ", ") + m["id"].as_string().value_or("?");
    }
    out << "; rotating: the previous key signs until "
        << (waiting.empty() ? "the next heartbeat" : waiting) << " hold"
        << (waiting.find(',') == std::string::npos ? "s " : " ") << short_id(held.at(0)) << '\n';
}

void print_members(const json::Json& result, std::ostream& out) {
    std::vector<Row> rows{{"MEMBER", "ROLE", "STATE", "SIP_FARM", "CALL_LEGS", "SIGNALS", "ADDRESS",
                           "MEDIA", "LOAD", "KEYS"}};
    auto members = result["members"];
    for (size_t i = 0; i < members.size(); ++i) {
        auto m = members.at(i);
        auto s = [&](const char* k) {
            return m[k].as_string().value_or("-");
        };
        rows.push_back({s("id"), s("role"), s("state"), s("sip_farm"), s("call_legs"), s("signals"),
                        s("address"), s("media_ports").empty() ? "-" : s("media_ports"),
                        std::to_string(m["load"].as_integer().value_or(0)), key_list(m["keys"])});
    }
    out << "epoch " << result["epoch"].as_integer().value_or(0) << "\n";
    print_table(rows, out);
    print_farm_key(result, out);
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
