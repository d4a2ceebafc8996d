// Finding: one thing a check of a set-up found, in the one shape that
// `cgclusterctl check` (cluster/check.hpp: a cluster config) and lbcheck
// (diag/report.hpp: a load balancer and its frontends) report: a stable id
// for scripts, a severity, and the words for people. Only the data: each
// program orders and prints its findings its own way, and neither output
// changes with this type.
#pragma once

#include <string>
#include <utility>

namespace rtfarm {

enum class Severity { error, warning, info };

// "error", "warning", "info"
inline const char* to_string(Severity s) {
    switch (s) {
    case Severity::error:
        return "error";
    case Severity::warning:
        return "warning";
    case Severity::info:
        return "info";
    }
    return "error";
}

struct Finding {
    std::string id; // stable: "media-range-overlap", "udp-session-binding", ...
    Severity severity = Severity::error;
    // What is wrong, with the evidence (numbers, addresses, settings).
    // cgclusterctl check says what to do here too; lbcheck says it in `fix`.
    std::string evidence;
    std::string fix;    // "" when `evidence` says what to do
    std::string member; // cgclusterctl check: the member it is about; "" the whole cluster

    Finding() = default;
    // lbcheck writes {id, severity, evidence, fix}; a constructor rather than
    // an aggregate, so that leaving out the member is no missing initializer.
    Finding(std::string id_in, Severity severity_in, std::string evidence_in,
            std::string fix_in = {}, std::string member_in = {})
        : id(std::move(id_in))
        , severity(severity_in)
        , evidence(std::move(evidence_in))
        , fix(std::move(fix_in))
        , member(std::move(member_in)) {}
    bool operator==(const Finding&) const = default;
};

} // namespace rtfarm
