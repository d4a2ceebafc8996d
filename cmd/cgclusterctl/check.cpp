#include "check.hpp"
#include "table.hpp"

#include "cluster/check.hpp"
#include "json/json.hpp"

#include <algorithm>
#include <string>
#include <vector>

namespace rtfarm::ctl {
namespace {

std::string plural(size_t n, const char* word) {
    return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
}

void print_human(const config::ClusterConfig& cfg, const cluster::CheckReport& r,
                 std::ostream& out) {
    out << "cluster " << r.cluster_name << ": " << plural(r.members.size(), "member")
        << ", media method " << cluster::to_string(r.method) << " (" << cfg.path << ")\n\n";

    std::vector<Row> rows;
    rows.push_back({"MEMBER", "ROLE", "SIP FARM", "CALL LEGS", "SIGNALS", "ADVERTISED",
                    "MEDIA PORTS", "PORTS", "AUDIO", "AUDIO+VIDEO"});
    for (const auto& m : r.members)
        rows.push_back({m.id, std::string(config::to_string(m.role)),
                        std::string(config::to_string(m.modes.sip_farm)),
                        std::string(config::to_string(m.modes.call_legs)),
                        std::string(config::to_string(m.modes.signals)),
                        m.advertised ? m.advertised->host() : "-",
                        m.media_ports ? m.media_ports->str() : "-",
                        std::to_string(m.capacity.ports), std::to_string(m.capacity.audio_streams),
                        std::to_string(m.capacity.av_sessions)});
    rows.push_back({"(cluster)", "", "", "", "", "", "", std::to_string(r.cluster.ports),
                    std::to_string(r.cluster.audio_streams),
                    std::to_string(r.cluster.av_sessions)});
    print_table(rows, out);

    // Errors first, then warnings, then notes; each group in check order.
    if (!r.findings.empty())
        out << '\n';
    for (auto sev : {Severity::error, Severity::warning, Severity::info})
        for (const auto& f : r.findings) {
            if (f.severity != sev)
                continue;
            out << to_string(f.severity) << ": " << f.id;
            if (!f.member.empty())
                out << " (" << f.member << ")";
            out << ": " << f.evidence << '\n';
        }
    out << '\n'
        << plural(r.count(Severity::error), "error") << ", "
        << plural(r.count(Severity::warning), "warning") << '\n';
}

} // namespace

int run_check(const config::ClusterConfig& cfg, bool json_output, std::ostream& out) {
    cluster::CheckReport report = cluster::check(cfg);
    if (json_output)
        out << cluster::to_json(report).dump_pretty() << '\n';
    else
        print_human(cfg, report, out);
    return report.has_errors() ? 1 : 0;
}

int run_check_invalid(const Error& error, bool json_output, std::ostream& out) {
    if (json_output) {
        auto finding = json::Json::object()
                           .set("severity", "error")
                           .set("id", "config-invalid")
                           .set("message", error.message);
        out << json::Json::object()
                   .set("ok", false)
                   .set("errors", 1)
                   .set("warnings", 0)
                   .set("findings", json::Json::array().append(std::move(finding)))
                   .dump_pretty()
            << '\n';
    } else {
        out << "error: config-invalid: " << error.message << "\n\n1 error, 0 warnings\n";
    }
    return 1;
}

} // namespace rtfarm::ctl
