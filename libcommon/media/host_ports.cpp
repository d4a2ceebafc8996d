#include "media/host_ports.hpp"

#include "base/strings.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <vector>

namespace rtfarm::media {

namespace {

std::optional<uint16_t> port(std::string_view s) {
    auto v = parse_u64(trim(s));
    if (!v || *v > 65535)
        return std::nullopt;
    return static_cast<uint16_t>(*v);
}

std::string read(const char* path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

} // namespace

std::optional<std::string> ephemeral_overlap(PortRange range, std::string_view local_range,
                                             std::string_view reserved) {
    // "LO<whitespace>HI"
    std::string_view t = trim(local_range);
    size_t sp = t.find_first_of(" \t");
    if (sp == std::string_view::npos)
        return std::nullopt;
    auto lo = port(t.substr(0, sp));
    auto hi = port(t.substr(sp));
    if (!lo || !hi || *lo > *hi)
        return std::nullopt;
    PortRange eph{*lo, *hi};
    if (!eph.overlaps(range))
        return std::nullopt;
    // The overlap, less what is reserved ("A-B,C").
    uint32_t first = std::max(range.lo, eph.lo);
    uint32_t last = std::min(range.hi, eph.hi);
    std::vector<bool> held(last - first + 1, false);
    for (std::string_view item : split(reserved, ',')) {
        item = trim(item);
        if (item.empty())
            continue;
        size_t dash = item.find('-');
        auto a = port(item.substr(0, dash));
        auto b = dash == std::string_view::npos ? a : port(item.substr(dash + 1));
        if (!a || !b)
            return std::nullopt;
        for (uint32_t p = std::max<uint32_t>(*a, first); p <= *b && p <= last; ++p)
            held[p - first] = true;
    }
    size_t exposed = 0;
    for (bool h : held)
        exposed += h ? 0 : 1;
    if (exposed == 0)
        return std::nullopt;
    return "media range " + range.str() + " overlaps the kernel's ephemeral ports " + eph.str() +
           " (" + std::to_string(exposed) +
           " ports not reserved): other sockets of this host may take media ports; set "
           "net.ipv4.ip_local_reserved_ports=" +
           range.str() + " or move one of the ranges";
}

std::optional<std::string> ephemeral_overlap(PortRange range) {
    return ephemeral_overlap(range, read("/proc/sys/net/ipv4/ip_local_port_range"),
                             read("/proc/sys/net/ipv4/ip_local_reserved_ports"));
}

} // namespace rtfarm::media
