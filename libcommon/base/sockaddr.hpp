// SockAddr: an IPv4 or IPv6 address with a port, parsed from and formatted to
// the forms the config and logs use: "10.0.0.1:5060", "[2001:db8::1]:5060",
// and bare hosts ("10.0.0.1", "2001:db8::1", "[2001:db8::1]"). No DNS: names
// are not addresses here. Comparison and hashing make it usable as a map key.
#pragma once

#include "base/result.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace rtfarm {

class SockAddr {
public:
    SockAddr() = default;
    // From a kernel-filled sockaddr (recvfrom, getsockname); len is checked.
    static Result<SockAddr> from_sockaddr(const sockaddr* sa, socklen_t len);
    static SockAddr v4(uint32_t host_order_addr, uint16_t port);

    // "HOST:PORT" with HOST a dotted quad or a bracketed IPv6 literal.
    static Result<SockAddr> parse(std::string_view text);
    // A host alone (optionally bracketed IPv6), port set to `port`.
    static Result<SockAddr> parse_host(std::string_view text, uint16_t port = 0);

    int family() const { return m_ss.sa.sa_family; }
    bool is_v4() const { return family() == AF_INET; }
    bool is_v6() const { return family() == AF_INET6; }
    bool valid() const { return is_v4() || is_v6(); }
    uint16_t port() const;
    void set_port(uint16_t port);
    bool is_any() const;      // 0.0.0.0 or ::
    bool is_loopback() const; // 127/8 or ::1
    // An IPv4-mapped IPv6 address turned into plain IPv4; others unchanged.
    SockAddr unmapped() const;

    const sockaddr* sa() const { return reinterpret_cast<const sockaddr*>(&m_ss); }
    sockaddr* sa_mut() { return reinterpret_cast<sockaddr*>(&m_ss); }
    socklen_t len() const;

    // "10.0.0.1:5060" / "[::1]:5060"
    std::string str() const;
    // "10.0.0.1" / "::1" (no brackets)
    std::string host() const;
    // "10.0.0.1" / "[::1]": the form for a SIP URI host or a Via sent-by.
    std::string uri_host() const;

    bool same_host(const SockAddr& other) const;
    bool operator==(const SockAddr& other) const;
    bool operator<(const SockAddr& other) const;
    size_t hash() const;

private:
    // Room for the two families only (28 bytes, not sockaddr_storage's 128):
    // the media relay keeps several per stream side.
    // The largest member first: `{}` zeroes all of it.
    union Storage {
        sockaddr_in6 v6;
        sockaddr_in v4;
        sockaddr sa;
    };
    Storage m_ss{};
};

// "LO-HI" port range, inclusive, e.g. "10000-19999".
struct PortRange {
    uint16_t lo = 0;
    uint16_t hi = 0;
    size_t count() const { return hi >= lo ? size_t(hi) - lo + 1 : 0; }
    bool overlaps(const PortRange& o) const { return lo <= o.hi && o.lo <= hi; }
    bool contains(uint16_t p) const { return p >= lo && p <= hi; }
    std::string str() const { return std::to_string(lo) + "-" + std::to_string(hi); }
    bool operator==(const PortRange&) const = default;
};
// Parses "LO-HI"; errors say why ("range 20000-10000 is empty", "port 70000 is out of 1-65535").
Result<PortRange> parse_port_range(std::string_view text);

} // namespace rtfarm

template <> struct std::hash<rtfarm::SockAddr> {
    size_t operator()(const rtfarm::SockAddr& a) const { return a.hash(); }
};
