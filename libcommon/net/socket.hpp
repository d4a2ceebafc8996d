// Socket creation: UDP, TCP and Unix-domain sockets, every one non-blocking
// and close-on-exec, returned as a UniqueFd or an Error that says what, where
// and why ("bind 127.0.0.1:5060 (udp): Address already in use"). EADDRINUSE
// gets the code "in_use" (callers exit 2 with a clear message); other system
// errors get "io"; a bad argument (path too long) gets "bad_address".
// This module does no I/O on the sockets it makes (see udp.hpp for datagrams)
// and knows nothing of event loops. No DNS, no abstract Unix namespace.
#pragma once

#include "base/result.hpp"
#include "base/sockaddr.hpp"
#include "base/unique_fd.hpp"

#include <string>

namespace rtfarm::net {

struct UdpOptions {
    // IP_PKTINFO / IPV6_RECVPKTINFO: learn the address each datagram was sent
    // to (the VIP, on a socket bound to 0.0.0.0), and its interface.
    bool recv_pktinfo = false;
    // IP_FREEBIND: bind an address not configured (yet) on this host.
    bool freebind = false;
    // SO_REUSEPORT: several sockets share one address (one per worker).
    bool reuse_port = false;
    // SO_REUSEADDR: lets a socket on a specific address (the VIP) and one on
    // the wildcard share a port, as sipfarmd's `sip_listen` does. Every
    // socket of the group needs it; one bound without it still refuses the
    // port to us. Linux also lets two sockets that both set it bind the same
    // address and port, so a daemon must hold another lock against a second
    // copy of itself (sipfarmd's is its control socket).
    bool reuse_addr = false;
    // SO_RCVBUF / SO_SNDBUF in bytes; 0 keeps the kernel default. Without
    // CAP_NET_ADMIN the kernel caps them at net.core.rmem_max / wmem_max.
    int rcvbuf = 0;
    int sndbuf = 0;

    bool operator==(const UdpOptions&) const = default;
};

// A UDP socket bound to `addr` (port 0: the kernel picks one). IPv6 sockets
// are IPV6_V6ONLY: [::] does not take IPv4 traffic.
Result<UniqueFd> udp_bind(const SockAddr& addr, const UdpOptions& options = {});

// A listening TCP socket with SO_REUSEADDR (IPv6: IPV6_V6ONLY).
Result<UniqueFd> tcp_listen(const SockAddr& addr, int backlog = 128);

// A TCP connection to `addr`, with TCP_NODELAY. The connect may still be in
// progress: wait for the fd to become writable and read SO_ERROR (see
// connect_error()).
Result<UniqueFd> tcp_connect(const SockAddr& addr);

// A listening Unix stream socket at `path`, mode 0660. An existing path is
// handled so that a crashed daemon can restart but two cannot share a path:
// a socket something accepts on → "in_use"; a stale socket (connection
// refused) → removed and replaced; anything that is not a socket → "io".
// The mode is set right after bind: put the socket in a directory that
// only its users can reach if the short window matters.
Result<UniqueFd> unix_listen(const std::string& path, int backlog = 128);

// A connection to the Unix socket at `path`. A full listen backlog is an
// error (code "busy"), not a connect in progress.
Result<UniqueFd> unix_connect(const std::string& path);

// The address a socket is bound to (getsockname); IPv4/IPv6 sockets only.
Result<SockAddr> local_address(int fd);
// The address a connected socket talks to (getpeername); IPv4/IPv6 only.
Result<SockAddr> peer_address(int fd);

// The result of a non-blocking connect once the fd is writable (SO_ERROR):
// ok, or an error naming `where`.
Status connect_error(int fd, const std::string& where);

// The longest Unix socket path the kernel takes, in bytes (sun_path less the NUL).
size_t max_unix_path();

} // namespace rtfarm::net
