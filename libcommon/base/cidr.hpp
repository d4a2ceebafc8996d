// Cidr: an IPv4 or IPv6 prefix ("198.51.100.0/24", "2001:db8::/32", or a
// bare address for one host), parsed from config text, and the membership
// test. No DNS, no port. An IPv4-mapped IPv6 address is tested as IPv4.
#pragma once

#include "base/result.hpp"
#include "base/sockaddr.hpp"

#include <string>
#include <string_view>

namespace rtfarm {

struct Cidr {
    SockAddr base; // port 0, the bits past `bits` zero
    unsigned bits = 0;

    // "ADDR/BITS" or "ADDR" (all bits). Error "bad_address": not an
    // address, BITS past the family's length, or host bits set ("10.0.0.1/8"
    // is refused rather than guessed).
    static Result<Cidr> parse(std::string_view text);
    bool contains(const SockAddr& a) const;
    std::string str() const;
    bool operator==(const Cidr&) const = default;
};

} // namespace rtfarm
