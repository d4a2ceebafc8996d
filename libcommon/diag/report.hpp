// lbcheck's report: its findings (base/finding.hpp: what is wrong, the
// evidence (numbers, addresses), and the fix in an operator's words) ordered
// by severity, what was observed and what could not be checked; it prints as
// text or JSON and gives the exit status (0 no error, 1 an error finding).
// The checks themselves are in probe.hpp, host.hpp and media (lbcheck
// media); this file only carries their results.
#pragma once

#include "base/finding.hpp"
#include "json/json.hpp"

#include <string>
#include <vector>

namespace rtfarm::diag {

struct Report {
    std::vector<Finding> findings;
    // What was seen, for --json's "observed" (and the text summary).
    json::Json observed = json::Json::object();
    // Checks that could not be made, and why ("no X-Farm headers: ...").
    std::vector<std::string> not_checked;
    // What was seen, for people: lines of a table printed before the findings.
    std::vector<std::string> summary;

    void add(Finding f) { findings.push_back(std::move(f)); }
    bool has(const std::string& id) const;
    bool has_error() const;
    // Errors first, then warnings, then notes; stable within a severity.
    void sort();
    int exit_status() const { return has_error() ? 1 : 0; }
    // {"ok", "findings": [...], "observed": {...}, "not_checked": [...]}
    json::Json to_json() const;
    // For people: the summary, one block per finding, then what was not checked.
    std::string text() const;
};

} // namespace rtfarm::diag
