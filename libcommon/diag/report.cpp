#include "diag/report.hpp"

#include <algorithm>

namespace rtfarm::diag {

bool Report::has(const std::string& id) const {
    return std::any_of(findings.begin(), findings.end(),
                       [&](const Finding& f) { return f.id == id; });
}

bool Report::has_error() const {
    return std::any_of(findings.begin(), findings.end(),
                       [](const Finding& f) { return f.severity == Severity::error; });
}

void Report::sort() {
    std::stable_sort(findings.begin(), findings.end(), [](const Finding& a, const Finding& b) {
        return static_cast<int>(a.severity) < static_cast<int>(b.severity);
    });
}

json::Json Report::to_json() const {
    json::Json list = json::Json::array();
    for (const Finding& f : findings)
        list.append(json::Json::object()
                        .set("id", f.id)
                        .set("severity", to_string(f.severity))
                        .set("evidence", f.evidence)
                        .set("fix", f.fix));
    json::Json skipped = json::Json::array();
    for (const std::string& s : not_checked)
        skipped.append(json::Json::string(s));
    return json::Json::object()
        .set("ok", !has_error())
        .set("findings", std::move(list))
        .set("observed", observed)
        .set("not_checked", std::move(skipped));
}

std::string Report::text() const {
    std::string out;
    for (const std::string& line : summary)
        out += line + "\n";
    if (!summary.empty())
        out += "\n";
    if (findings.empty())
        out += "No problem found.\n";
    for (const Finding& f : findings) {
        out += std::string(to_string(f.severity)) + ": " + f.id + "\n";
        out += "  evidence: " + f.evidence + "\n";
        out += "  fix:      " + f.fix + "\n";
    }
    for (const std::string& s : not_checked)
        out += "not checked: " + s + "\n";
    return out;
}

} // namespace rtfarm::diag
