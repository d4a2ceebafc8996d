#include "media/address_policy.hpp"

#include <array>
#include <cstring>

namespace rtfarm::media {

namespace {

std::optional<std::string> special(const SockAddr& a) {
    if (a.is_v4()) {
        uint32_t x = 0;
        std::memcpy(&x, &reinterpret_cast<const sockaddr_in*>(a.sa())->sin_addr, 4);
        x = ntohl(x);
        if ((x >> 24) == 0)
            return "unspecified";
        if ((x >> 24) == 127)
            return "loopback";
        if ((x >> 16) == 0xa9fe)
            return "link-local";
        if ((x >> 28) == 0xe)
            return "multicast";
        if (x == 0xffffffffu)
            return "broadcast";
        return std::nullopt;
    }
    const auto* in6 = &reinterpret_cast<const sockaddr_in6*>(a.sa())->sin6_addr;
    if (IN6_IS_ADDR_UNSPECIFIED(in6))
        return "unspecified";
    if (IN6_IS_ADDR_LOOPBACK(in6))
        return "loopback";
    if (IN6_IS_ADDR_LINKLOCAL(in6))
        return "link-local";
    if (IN6_IS_ADDR_MULTICAST(in6))
        return "multicast";
    return std::nullopt;
}

} // namespace

std::optional<std::string> refusal(const AddressPolicy& policy, const SockAddr& address) {
    const SockAddr a = address.unmapped();
    if (!a.valid())
        return "not an address";
    for (const Cidr& c : policy.allow)
        if (c.contains(a))
            return std::nullopt;
    if (auto why = special(a))
        return why;
    for (const SockAddr& m : policy.internal)
        if (m.unmapped().same_host(a))
            return "a member's internal address";
    for (const SockAddr& f : policy.farm) {
        if (!f.unmapped().same_host(a))
            continue;
        for (const PortRange& r : policy.media_ports)
            if (r.contains(a.port()))
                return std::nullopt;
        return "a farm address outside the members' media ports";
    }
    return std::nullopt;
}

} // namespace rtfarm::media
