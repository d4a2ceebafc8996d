#include "udp_peer.hpp"

#include <poll.h>

#include <stdexcept>

namespace rtfarm::test {

UdpPeer::UdpPeer(const std::string& addr) {
    auto a = SockAddr::parse(addr);
    if (!a)
        throw std::runtime_error(a.error().message);
    auto fd = net::udp_bind(*a);
    if (!fd)
        throw std::runtime_error(fd.error().message);
    m_fd = std::move(fd.value());
    m_addr = net::local_address(m_fd.get()).value();
}

void UdpPeer::send(const SockAddr& to, std::string_view bytes) const {
    auto st = net::send_datagram(m_fd.get(), bytes, to);
    if (!st)
        throw std::runtime_error("send to " + to.str() + ": " + st.error().message);
}

void UdpPeer::send(const std::string& to, std::string_view bytes) const {
    send(SockAddr::parse(to).value(), bytes);
}

std::optional<Received> UdpPeer::recv(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + scaled(timeout);
    for (;;) {
        auto got = m_receiver.receive(m_fd.get(), m_addr.port());
        if (got && !got->empty())
            return Received{std::string(got->front().bytes), got->front().source};
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0)
            return std::nullopt;
        pollfd p{m_fd.get(), POLLIN, 0};
        ::poll(&p, 1, static_cast<int>(left.count()));
    }
}

} // namespace rtfarm::test
