// Small string helpers shared by the config loader, the CLI and the control
// plane: trimming, splitting and strict number parsing. No allocation on the
// parse paths beyond what the caller asks for.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rtfarm {

std::string_view trim(std::string_view s);
std::vector<std::string_view> split(std::string_view s, char sep);
// Whole-string decimal parse; nullopt on sign, junk, empty or overflow.
std::optional<uint64_t> parse_u64(std::string_view s);
// ASCII lower case; other bytes unchanged.
constexpr char ascii_lower(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
}
// ASCII case-insensitive equality; inline, it runs on the per-packet path.
inline bool equals_icase(std::string_view a, std::string_view b) {
    if (a.size() != b.size())
        return false;
    for (size_t i = 0; i < a.size(); ++i)
        if (ascii_lower(a[i]) != ascii_lower(b[i]))
            return false;
    return true;
}
bool starts_with_icase(std::string_view s, std::string_view prefix);
std::string to_hex(const unsigned char* data, size_t len);

} // namespace rtfarm
