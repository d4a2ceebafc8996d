#include "base/sockaddr.hpp"

#include "base/strings.hpp"

#include <arpa/inet.h>

#include <cstring>

namespace rtfarm {
namespace {

Result<uint16_t> parse_port(std::string_view text, std::string_view whole) {
    auto v = parse_u64(text);
    if (!v)
        return make_error("bad_address", "'" + std::string(whole) + "': port '" +
                                             std::string(text) + "' is not a number");
    if (*v > 65535)
        return make_error("bad_address", "'" + std::string(whole) + "': port " + std::string(text) +
                                             " is out of 0-65535");
    return static_cast<uint16_t>(*v);
}

} // namespace

Result<SockAddr> SockAddr::from_sockaddr(const sockaddr* sa, socklen_t len) {
    SockAddr out;
    if (sa->sa_family == AF_INET && len >= socklen_t(sizeof(sockaddr_in)))
        std::memcpy(&out.m_ss, sa, sizeof(sockaddr_in));
    else if (sa->sa_family == AF_INET6 && len >= socklen_t(sizeof(sockaddr_in6)))
        std::memcpy(&out.m_ss, sa, sizeof(sockaddr_in6));
    else
        return make_error("bad_address", "not an IPv4 or IPv6 socket address");
    return out;
}

SockAddr SockAddr::v4(uint32_t host_order_addr, uint16_t port) {
    SockAddr out;
    auto* in = reinterpret_cast<sockaddr_in*>(&out.m_ss);
    in->sin_family = AF_INET;
    in->sin_addr.s_addr = htonl(host_order_addr);
    in->sin_port = htons(port);
    return out;
}

Result<SockAddr> SockAddr::parse_host(std::string_view text, uint16_t port) {
    std::string host(text);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
    else if (host.find(':') != std::string::npos && text.find('[') != std::string_view::npos)
        return make_error("bad_address", "'" + std::string(text) + "': unbalanced brackets");
    SockAddr out;
    auto* in4 = reinterpret_cast<sockaddr_in*>(&out.m_ss);
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&out.m_ss);
    if (host.find(':') == std::string::npos &&
        inet_pton(AF_INET, host.c_str(), &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons(port);
        return out;
    }
    if (inet_pton(AF_INET6, host.c_str(), &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(port);
        return out;
    }
    return make_error("bad_address", "'" + std::string(text) + "' is not an IPv4 or IPv6 address");
}

Result<SockAddr> SockAddr::parse(std::string_view text) {
    if (text.empty())
        return make_error("bad_address", "empty address");
    std::string_view host, port;
    if (text.front() == '[') {
        auto close = text.find(']');
        if (close == std::string_view::npos)
            return make_error("bad_address", "'" + std::string(text) + "': missing ']'");
        if (close + 1 >= text.size() || text[close + 1] != ':')
            return make_error("bad_address", "'" + std::string(text) + "': missing ':PORT'");
        host = text.substr(0, close + 1);
        port = text.substr(close + 2);
    } else {
        auto colon = text.rfind(':');
        if (colon == std::string_view::npos)
            return make_error("bad_address", "'" + std::string(text) + "': missing ':PORT'");
        if (text.find(':') != colon)
            return make_error("bad_address", "'" + std::string(text) +
                                                 "': IPv6 addresses need brackets: [ADDR]:PORT");
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
    }
    auto p = parse_port(port, text);
    if (!p)
        return p.error();
    return parse_host(host, *p);
}

uint16_t SockAddr::port() const {
    if (is_v4())
        return ntohs(reinterpret_cast<const sockaddr_in*>(&m_ss)->sin_port);
    if (is_v6())
        return ntohs(reinterpret_cast<const sockaddr_in6*>(&m_ss)->sin6_port);
    return 0;
}

void SockAddr::set_port(uint16_t port) {
    if (is_v4())
        reinterpret_cast<sockaddr_in*>(&m_ss)->sin_port = htons(port);
    else if (is_v6())
        reinterpret_cast<sockaddr_in6*>(&m_ss)->sin6_port = htons(port);
}

bool SockAddr::is_any() const {
    if (is_v4())
        return reinterpret_cast<const sockaddr_in*>(&m_ss)->sin_addr.s_addr == htonl(INADDR_ANY);
    if (is_v6())
        return IN6_IS_ADDR_UNSPECIFIED(&reinterpret_cast<const sockaddr_in6*>(&m_ss)->sin6_addr);
    return false;
}

bool SockAddr::is_loopback() const {
    if (is_v4())
        return (ntohl(reinterpret_cast<const sockaddr_in*>(&m_ss)->sin_addr.s_addr) >> 24) == 127;
    if (is_v6())
        return IN6_IS_ADDR_LOOPBACK(&reinterpret_cast<const sockaddr_in6*>(&m_ss)->sin6_addr);
    return false;
}

SockAddr SockAddr::unmapped() const {
    if (!is_v6())
        return *this;
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&m_ss);
    if (!IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
        return *this;
    uint32_t a;
    std::memcpy(&a, in6->sin6_addr.s6_addr + 12, 4);
    return v4(ntohl(a), port());
}

socklen_t SockAddr::len() const {
    if (is_v4())
        return sizeof(sockaddr_in);
    if (is_v6())
        return sizeof(sockaddr_in6);
    return 0;
}

std::string SockAddr::host() const {
    char buf[INET6_ADDRSTRLEN] = "";
    if (is_v4())
        inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&m_ss)->sin_addr, buf, sizeof buf);
    else if (is_v6())
        inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&m_ss)->sin6_addr, buf,
                  sizeof buf);
    else
        return "-";
    return buf;
}

std::string SockAddr::uri_host() const {
    return is_v6() ? "[" + host() + "]" : host();
}

std::string SockAddr::str() const {
    return uri_host() + ":" + std::to_string(port());
}

bool SockAddr::same_host(const SockAddr& o) const {
    if (family() != o.family())
        return false;
    if (is_v4())
        return reinterpret_cast<const sockaddr_in*>(&m_ss)->sin_addr.s_addr ==
               reinterpret_cast<const sockaddr_in*>(&o.m_ss)->sin_addr.s_addr;
    if (is_v6())
        return std::memcmp(&reinterpret_cast<const sockaddr_in6*>(&m_ss)->sin6_addr,
                           &reinterpret_cast<const sockaddr_in6*>(&o.m_ss)->sin6_addr, 16) == 0;
    return true;
}

bool SockAddr::operator==(const SockAddr& o) const {
    return same_host(o) && port() == o.port();
}

bool SockAddr::operator<(const SockAddr& o) const {
    if (family() != o.family())
        return family() < o.family();
    int c = 0;
    if (is_v4())
        c = std::memcmp(&reinterpret_cast<const sockaddr_in*>(&m_ss)->sin_addr,
                        &reinterpret_cast<const sockaddr_in*>(&o.m_ss)->sin_addr, 4);
    else if (is_v6())
        c = std::memcmp(&reinterpret_cast<const sockaddr_in6*>(&m_ss)->sin6_addr,
                        &reinterpret_cast<const sockaddr_in6*>(&o.m_ss)->sin6_addr, 16);
    if (c != 0)
        return c < 0;
    return port() < o.port();
}

size_t SockAddr::hash() const {
    size_t h = std::hash<int>()(family()) ^ (size_t(port()) << 1);
    const unsigned char* p = nullptr;
    size_t n = 0;
    if (is_v4()) {
        p = reinterpret_cast<const unsigned char*>(
            &reinterpret_cast<const sockaddr_in*>(&m_ss)->sin_addr);
        n = 4;
    } else if (is_v6()) {
        p = reinterpret_cast<const unsigned char*>(
            &reinterpret_cast<const sockaddr_in6*>(&m_ss)->sin6_addr);
        n = 16;
    }
    for (size_t i = 0; i < n; ++i)
        h = h * 131 + p[i];
    return h;
}

Result<PortRange> parse_port_range(std::string_view text) {
    auto dash = text.find('-');
    if (dash == std::string_view::npos)
        return make_error("bad_range", "'" + std::string(text) + "' is not a range LO-HI");
    auto lo = parse_u64(text.substr(0, dash));
    auto hi = parse_u64(text.substr(dash + 1));
    if (!lo || !hi)
        return make_error("bad_range", "'" + std::string(text) + "' is not a range LO-HI");
    for (auto v : {*lo, *hi})
        if (v < 1 || v > 65535)
            return make_error("bad_range", "port " + std::to_string(v) + " is out of 1-65535");
    if (*lo > *hi)
        return make_error("bad_range", "range " + std::string(text) + " is empty");
    return PortRange{static_cast<uint16_t>(*lo), static_cast<uint16_t>(*hi)};
}

} // namespace rtfarm
