// A UDP endpoint for integration tests: plays a SIP client, a processor or a
// forger on a loopback address, with bounded waits.
#pragma once

#include "harness.hpp"

#include "base/sockaddr.hpp"
#include "net/socket.hpp"
#include "net/udp.hpp"

#include <optional>
#include <string>

namespace rtfarm::test {

struct Received {
    std::string bytes;
    SockAddr source;
};

class UdpPeer {
public:
    explicit UdpPeer(const std::string& addr); // "127.0.0.9:0" picks a port
    const SockAddr& address() const { return m_addr; }
    void send(const SockAddr& to, std::string_view bytes) const;
    void send(const std::string& to, std::string_view bytes) const;
    // The next datagram within `timeout`, or nullopt.
    std::optional<Received> recv(std::chrono::milliseconds timeout = 3000ms);

private:
    UniqueFd m_fd;
    SockAddr m_addr;
    net::UdpReceiver m_receiver{1};
};

} // namespace rtfarm::test
