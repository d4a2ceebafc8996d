// A strict reader of the Prometheus text format (0.0.4) for tests: every
// line must be a "# HELP", a "# TYPE" or a sample; HELP and TYPE come once
// per family, before its samples; names and label names are valid, label
// values use only the escapes the format knows, values parse as numbers,
// counters end in _total, no sample repeats. It is not a full client: no
// histograms or summaries (rtfarm has none), no timestamps.
#pragma once

#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace rtfarm::test {

struct PromSample {
    std::string name;
    std::map<std::string, std::string> labels;
    double value = 0;
};

struct PromText {
    std::map<std::string, std::string> types; // family -> counter|gauge
    std::map<std::string, std::string> help;
    std::vector<PromSample> samples;
    std::string error; // "line N: why"; empty when the text is valid

    // The value of the sample with this name and exactly these labels.
    std::optional<double> value(const std::string& name,
                                const std::map<std::string, std::string>& labels = {}) const {
        for (const auto& s : samples)
            if (s.name == name && s.labels == labels)
                return s.value;
        return std::nullopt;
    }
};

namespace prom_detail {

inline bool name_ok(std::string_view n, bool label) {
    if (n.empty())
        return false;
    for (size_t i = 0; i < n.size(); ++i) {
        char c = n[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                  (!label && c == ':') || (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return true;
}

inline std::optional<double> number(const std::string& s) {
    if (s == "NaN")
        return 0.0;
    if (s == "+Inf" || s == "-Inf")
        return s[0] == '+' ? 1e308 : -1e308;
    if (s.empty())
        return std::nullopt;
    char* end = nullptr;
    double v = std::strtod(s.c_str(), &end);
    if (end != s.c_str() + s.size())
        return std::nullopt;
    return v;
}

// Reads `{a="x",b="y"}` from text[pos] on; pos ends after '}'.
inline std::optional<std::string> labels(std::string_view text, size_t& pos,
                                         std::map<std::string, std::string>& out) {
    ++pos; // '{'
    while (pos < text.size() && text[pos] != '}') {
        size_t eq = text.find('=', pos);
        if (eq == std::string_view::npos)
            return "label without '='";
        std::string name(text.substr(pos, eq - pos));
        if (!name_ok(name, true))
            return "bad label name '" + name + "'";
        pos = eq + 1;
        if (pos >= text.size() || text[pos] != '"')
            return "label value not quoted";
        ++pos;
        std::string value;
        for (;;) {
            if (pos >= text.size())
                return "unterminated label value";
            char c = text[pos++];
            if (c == '"')
                break;
            if (c == '\\') {
                if (pos >= text.size())
                    return "unterminated escape";
                char e = text[pos++];
                if (e == 'n')
                    value += '\n';
                else if (e == '\\' || e == '"')
                    value += e;
                else
                    return std::string("bad escape \\") + e;
            } else if (c == '\n') {
                return "raw newline in a label value";
            } else {
                value += c;
            }
        }
        if (!out.emplace(name, value).second)
            return "label '" + name + "' twice";
        if (pos < text.size() && text[pos] == ',')
            ++pos;
        else if (pos < text.size() && text[pos] != '}')
            return "expected ',' or '}' after a label";
    }
    if (pos >= text.size())
        return "unterminated label set";
    ++pos; // '}'
    return std::nullopt;
}

} // namespace prom_detail

inline PromText parse_prometheus(std::string_view text) {
    using namespace prom_detail;
    PromText out;
    std::set<std::string> seen; // name + labels
    std::set<std::string> with_samples;
    size_t line_no = 0;
    auto fail = [&](const std::string& why) {
        out.error = "line " + std::to_string(line_no) + ": " + why;
        return out;
    };
    if (!text.empty() && text.back() != '\n')
        return fail("the text does not end with a newline");
    size_t start = 0;
    while (start < text.size()) {
        size_t nl = text.find('\n', start);
        std::string_view line = text.substr(start, nl - start);
        start = nl + 1;
        ++line_no;
        if (line.empty())
            return fail("empty line");
        if (line.starts_with("# HELP ") || line.starts_with("# TYPE ")) {
            bool is_help = line[2] == 'H';
            std::string_view rest = line.substr(7);
            size_t sp = rest.find(' ');
            if (sp == std::string_view::npos)
                return fail("HELP or TYPE without text");
            std::string name(rest.substr(0, sp));
            std::string what(rest.substr(sp + 1));
            if (!name_ok(name, false))
                return fail("bad metric name '" + name + "'");
            if (with_samples.count(name))
                return fail("HELP or TYPE of " + name + " after its samples");
            auto& map = is_help ? out.help : out.types;
            if (!map.emplace(name, what).second)
                return fail(std::string(is_help ? "HELP" : "TYPE") + " of " + name + " twice");
            if (!is_help) {
                if (what != "counter" && what != "gauge" && what != "untyped")
                    return fail("type '" + what + "' of " + name);
                if (what == "counter" && !name.ends_with("_total"))
                    return fail("counter " + name + " does not end in _total");
            }
            continue;
        }
        if (line.starts_with("#"))
            continue; // a comment
        size_t pos = 0;
        while (pos < line.size() && line[pos] != '{' && line[pos] != ' ')
            ++pos;
        PromSample s;
        s.name = std::string(line.substr(0, pos));
        if (!name_ok(s.name, false))
            return fail("bad metric name '" + s.name + "'");
        if (!out.types.count(s.name) || !out.help.count(s.name))
            return fail(s.name + " has a sample before its HELP and TYPE");
        if (pos < line.size() && line[pos] == '{')
            if (auto why = labels(line, pos, s.labels))
                return fail(*why);
        if (pos >= line.size() || line[pos] != ' ')
            return fail("no value");
        std::string value(line.substr(pos + 1));
        auto v = number(value);
        if (!v)
            return fail("value '" + value + "' is not a number");
        s.value = *v;
        std::string key = s.name;
        for (const auto& [k, val] : s.labels)
            key += "\x1f" + k + "=" + val;
        if (!seen.insert(key).second)
            return fail("sample " + s.name + " repeats");
        with_samples.insert(s.name);
        out.samples.push_back(std::move(s));
    }
    return out;
}

} // namespace rtfarm::test
