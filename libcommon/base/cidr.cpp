#include "base/cidr.hpp"

#include <array>
#include <charconv>
#include <cstring>

namespace rtfarm {

namespace {

// The address bytes in network order, and how many there are (4 or 16).
size_t bytes_of(const SockAddr& a, std::array<uint8_t, 16>& out) {
    if (a.is_v4()) {
        std::memcpy(out.data(), &reinterpret_cast<const sockaddr_in*>(a.sa())->sin_addr, 4);
        return 4;
    }
    if (a.is_v6()) {
        std::memcpy(out.data(), &reinterpret_cast<const sockaddr_in6*>(a.sa())->sin6_addr, 16);
        return 16;
    }
    return 0;
}

bool prefix_equal(const std::array<uint8_t, 16>& a, const std::array<uint8_t, 16>& b,
                  unsigned bits) {
    size_t whole = bits / 8;
    if (std::memcmp(a.data(), b.data(), whole) != 0)
        return false;
    unsigned rest = bits % 8;
    if (rest == 0)
        return true;
    auto mask = static_cast<uint8_t>(0xff << (8 - rest));
    return (a[whole] & mask) == (b[whole] & mask);
}

} // namespace

Result<Cidr> Cidr::parse(std::string_view text) {
    auto slash = text.find('/');
    auto host = SockAddr::parse_host(text.substr(0, slash));
    if (!host)
        return make_error("bad_address", "'" + std::string(text) + "' is not an address or prefix");
    Cidr c;
    c.base = host->unmapped();
    std::array<uint8_t, 16> b{};
    const size_t len = bytes_of(c.base, b);
    c.bits = static_cast<unsigned>(len * 8);
    if (slash != std::string_view::npos) {
        std::string_view n = text.substr(slash + 1);
        unsigned bits = 0;
        auto [end, ec] = std::from_chars(n.data(), n.data() + n.size(), bits);
        if (n.empty() || ec != std::errc() || end != n.data() + n.size() || bits > len * 8)
            return make_error("bad_address", "'" + std::string(text) +
                                                 "': the prefix length must be 0-" +
                                                 std::to_string(len * 8));
        c.bits = bits;
    }
    std::array<uint8_t, 16> masked = b;
    for (size_t i = 0; i < len; ++i) {
        unsigned from = static_cast<unsigned>(i * 8);
        if (from >= c.bits)
            masked[i] = 0;
        else if (c.bits - from < 8)
            masked[i] = static_cast<uint8_t>(b[i] & (0xff << (8 - (c.bits - from))));
    }
    if (masked != b)
        return make_error("bad_address",
                          "'" + std::string(text) + "' has host bits set past the prefix length");
    return c;
}

bool Cidr::contains(const SockAddr& a) const {
    SockAddr u = a.unmapped();
    if (!u.valid() || u.family() != base.family())
        return false;
    std::array<uint8_t, 16> x{};
    std::array<uint8_t, 16> y{};
    bytes_of(u, x);
    bytes_of(base, y);
    return prefix_equal(x, y, bits);
}

std::string Cidr::str() const {
    return base.host() + "/" + std::to_string(bits);
}

} // namespace rtfarm
