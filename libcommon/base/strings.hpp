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
bool starts_with_icase(std::string_view s, std::string_view prefix);
bool equals_icase(std::string_view a, std::string_view b);
std::string to_hex(const unsigned char* data, size_t len);

} // namespace rtfarm
