#include "stats.hpp"

#include "connect.hpp"
#include "control/control_client.hpp"
#include "table.hpp"

namespace rtfarm::ctl {
namespace {

struct Answer {
    StatsTarget target;
    Result<json::Json> stats;
};

std::string scalar_text(const json::Json& v) {
    if (auto s = v.as_string())
        return *s;
    return v.dump();
}

// "k=v k=v" of the scalar fields of an object.
std::string scalars(const json::Json& obj) {
    std::string out;
    const char* key;
    json_t* value;
    json_object_foreach(obj.get(), key, value) {
        auto v = json::Json::borrow(value);
        if (v.is_object() || v.is_array())
            continue;
        out += (out.empty() ? "" : " ") + std::string(key) + "=" + scalar_text(v);
    }
    return out;
}

// The service counters: scalars on one line, then one line per element of
// each array of objects (sipfarmd's sockets, for example) and one per object
// of counters (relays by transport, client connections, drops by reason).
void print_service(const json::Json& service, std::ostream& out) {
    if (auto line = scalars(service); !line.empty())
        out << "    " << line << '\n';
    const char* key;
    json_t* value;
    json_object_foreach(service.get(), key, value) {
        auto v = json::Json::borrow(value);
        if (v.is_array()) {
            for (size_t i = 0; i < v.size(); ++i)
                out << "    " << key << ": " << scalars(v.at(i)) << '\n';
        } else if (v.is_object()) {
            if (auto line = scalars(v); !line.empty())
                out << "    " << key << ": " << line << '\n';
        }
    }
}

} // namespace

std::vector<StatsTarget> stats_targets(const config::ClusterConfig& cfg) {
    std::vector<StatsTarget> out;
    for (const auto& m : cfg.members) {
        out.push_back({m.id, "sipfarmd", m.control});
        if (!m.media_control.empty())
            out.push_back({m.id, "rtprelayd", m.media_control});
    }
    return out;
}

int run_stats(const std::vector<StatsTarget>& targets, bool single, bool json_output,
              std::chrono::milliseconds timeout, std::ostream& out, std::ostream& err) {
    std::vector<Answer> answers;
    size_t failed = 0;
    for (const auto& t : targets) {
        auto client = ctl::connect(t.address, timeout);
        Result<json::Json> stats = client ? client->call("stats", json::Json::object(), timeout)
                                          : Result<json::Json>(client.error());
        if (!stats)
            ++failed;
        answers.push_back({t, std::move(stats)});
    }

    if (json_output) {
        auto list = json::Json::array();
        for (const auto& a : answers) {
            auto item = json::Json::object();
            std::string member = a.target.member;
            std::string program = a.target.program;
            if (a.stats) {
                member = a.stats.value()["member"].as_string().value_or(member);
                program = a.stats.value()["program"].as_string().value_or(program);
            }
            item.set("id", member).set("program", program).set("target", a.target.address);
            if (a.stats)
                item.set("state", "up").set("stats", a.stats.value());
            else
                item.set("state", "unreachable").set("error", a.stats.error().message);
            list.append(std::move(item));
        }
        out << json::Json::object().set("members", std::move(list)).dump() << '\n';
    } else {
        std::vector<Row> rows{{"MEMBER", "PROGRAM", "STATE", "UPTIME_S", "RELOADS", "TARGET"}};
        for (const auto& a : answers) {
            if (!a.stats) {
                rows.push_back(
                    {a.target.member, a.target.program, "unreachable", "-", "-", a.target.address});
                continue;
            }
            const auto& s = a.stats.value();
            rows.push_back({s["member"].as_string().value_or(a.target.member),
                            s["program"].as_string().value_or(a.target.program), "up",
                            std::to_string(s["uptime_ms"].as_integer().value_or(0) / 1000),
                            std::to_string(s["reloads"].as_integer().value_or(0)),
                            a.target.address});
        }
        print_table(rows, out);
        for (const auto& a : answers) {
            if (!a.stats)
                continue;
            out << a.stats.value()["member"].as_string().value_or(a.target.member) << " "
                << a.stats.value()["program"].as_string().value_or(a.target.program) << ":\n";
            print_service(a.stats.value()["service"], out);
            // The daemon's event loop (rtfarm-control(7), stats): its slow callbacks.
            if (json::Json loop = a.stats.value()["loop"]; loop.is_object())
                out << "    loop: " << scalars(loop) << '\n';
        }
    }
    for (const auto& a : answers)
        if (!a.stats)
            err << "cgclusterctl: stats: " << a.target.address << ": " << a.stats.error().message
                << '\n';
    if (failed == 0)
        return 0;
    return single ? 2 : 1;
}

} // namespace rtfarm::ctl
