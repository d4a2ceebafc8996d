#include "sip/probe_lines.hpp"

#include "base/crypto.hpp"
#include "base/strings.hpp"

namespace rtfarm::sip {

MessageLines split_lines(std::string_view message) {
    MessageLines out;
    size_t pos = 0;
    while (pos < message.size()) {
        size_t nl = message.find('\n', pos);
        if (nl == std::string_view::npos) {
            // No empty line: everything is header block.
            out.lines.push_back(message.substr(pos));
            return out;
        }
        std::string_view line = message.substr(pos, nl - pos);
        if (!line.empty() && line.back() == '\r')
            line.remove_suffix(1);
        pos = nl + 1;
        if (line.empty()) {
            out.body = message.substr(pos);
            return out;
        }
        out.lines.push_back(line);
    }
    return out;
}

std::vector<std::string> line_digests(std::string_view message) {
    MessageLines m = split_lines(message);
    std::vector<std::string> out;
    out.reserve(m.lines.size() + 1);
    for (std::string_view line : m.lines)
        out.push_back(crypto::sha256_hex(line).substr(0, 8));
    if (!m.body.empty())
        out.push_back(crypto::sha256_hex(m.body).substr(0, 8));
    return out;
}

std::string format_line_digests(std::string_view message) {
    MessageLines m = split_lines(message);
    std::vector<std::string> digests = line_digests(message);
    if (digests.size() > MAX_PROBE_LINES)
        return "";
    std::string out = std::to_string(m.lines.size());
    for (const std::string& d : digests)
        out += " " + d;
    return out;
}

std::optional<ParsedLines> parse_line_digests(std::string_view value) {
    std::vector<std::string_view> words;
    for (std::string_view w : split(trim(value), ' '))
        if (!w.empty())
            words.push_back(w);
    if (words.empty())
        return std::nullopt;
    auto n = parse_u64(words[0]);
    size_t digests = words.size() - 1;
    if (!n || *n > MAX_PROBE_LINES || (digests != *n && digests != *n + 1))
        return std::nullopt;
    ParsedLines out;
    out.header_lines = static_cast<size_t>(*n);
    for (size_t i = 1; i < words.size(); ++i) {
        std::string_view w = words[i];
        if (w.size() != 8 || w.find_first_not_of("0123456789abcdef") != std::string_view::npos)
            return std::nullopt;
        out.digests.emplace_back(w);
    }
    return out;
}

} // namespace rtfarm::sip
