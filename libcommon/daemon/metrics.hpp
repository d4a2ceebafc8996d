// Prometheus text exposition (format 0.0.4) of a daemon's counters: the
// families (name, HELP, TYPE, labelled samples), their rendering with label
// values and HELP text escaped as the format says, and the mapping from the
// reply of the `stats` control op (the shell's fields, and the "service"
// fields of sipfarmd or rtprelayd) to families named rtfarm_..., counters
// ending in _total, in base units (seconds, bytes). Pure functions: the same
// numbers `stats` reports, nothing counted here. It does not serve HTTP
// (metrics_server.hpp does) and does not know how the counters came about.
#pragma once

#include "json/json.hpp"

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rtfarm::daemon::metrics {

enum class Type { counter, gauge };

struct Sample {
    std::vector<std::pair<std::string, std::string>> labels; // name, value
    double value = 0;
};

struct Family {
    std::string name; // [a-zA-Z_:][a-zA-Z0-9_:]*, counters end in _total
    std::string help;
    Type type = Type::gauge;
    std::vector<Sample> samples; // may be empty: HELP and TYPE only
};

// A label value as it goes between the quotes: \ " and newline escaped.
std::string escape_label_value(std::string_view v);
// HELP text: \ and newline escaped.
std::string escape_help(std::string_view v);
// "# HELP", "# TYPE" and one line per sample for each family, in order;
// every line ends with '\n'. Names are ours: a bad one is a bug (asserted).
std::string render(const std::vector<Family>& families);

// The families for one `stats` reply (its "program" decides which service
// fields are read). A field missing from the reply gives no sample.
std::vector<Family> from_stats(const json::Json& stats);

// The Content-Type of render()'s output.
inline constexpr const char* CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

} // namespace rtfarm::daemon::metrics
