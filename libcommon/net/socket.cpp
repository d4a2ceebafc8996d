#include "net/socket.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace rtfarm::net {
namespace {

constexpr int SOCK_FLAGS = SOCK_NONBLOCK | SOCK_CLOEXEC;

// "bind 127.0.0.1:5060 (udp): Address already in use"
Error sys_error(int err, std::string_view what, std::string_view where, std::string_view proto) {
    std::string msg(what);
    msg += ' ';
    msg += where;
    msg += " (";
    msg += proto;
    msg += "): ";
    msg += std::strerror(err);
    return make_error(err == EADDRINUSE ? "in_use" : "io", std::move(msg));
}

Status set_int_option(int fd, int level, int name, int value, std::string_view opt_name,
                      std::string_view where, std::string_view proto) {
    if (::setsockopt(fd, level, name, &value, sizeof value) != 0)
        return sys_error(errno, std::string("setsockopt ") + std::string(opt_name), where, proto);
    return {};
}

// SO_RCVBUFFORCE passes net.core.rmem_max with CAP_NET_ADMIN; without it we
// fall back to the capped SO_RCVBUF.
Status set_buffer(int fd, int force_name, int name, int bytes, std::string_view opt_name,
                  std::string_view where) {
    if (bytes <= 0)
        return {};
    if (::setsockopt(fd, SOL_SOCKET, force_name, &bytes, sizeof bytes) == 0)
        return {};
    return set_int_option(fd, SOL_SOCKET, name, bytes, opt_name, where, "udp");
}

Result<UniqueFd> make_socket(int family, int type, std::string_view where, std::string_view proto) {
    int fd = ::socket(family, type | SOCK_FLAGS, 0);
    if (fd < 0)
        return sys_error(errno, "socket", where, proto);
    return UniqueFd(fd);
}

Result<sockaddr_un> unix_address(const std::string& path) {
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    if (path.empty())
        return make_error("bad_address", "unix socket path is empty");
    if (path.size() > max_unix_path())
        return make_error("bad_address", "unix socket path '" + path + "' is " +
                                             std::to_string(path.size()) +
                                             " bytes, longer than the limit of " +
                                             std::to_string(max_unix_path()));
    if (path.find('\0') != std::string::npos)
        return make_error("bad_address", "unix socket path holds a NUL byte");
    std::memcpy(sun.sun_path, path.data(), path.size());
    return sun;
}

Result<SockAddr> name_of(int fd, bool peer) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    int rc = peer ? ::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len)
                  : ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
    if (rc != 0)
        return make_error("io", std::string(peer ? "getpeername" : "getsockname") + ": " +
                                    std::strerror(errno));
    return SockAddr::from_sockaddr(reinterpret_cast<const sockaddr*>(&ss), len);
}

// What is at `path` now: nothing (ok), a stale socket (removed, ok), or a
// reason not to bind there.
Status clear_unix_path(const std::string& path, const sockaddr_un& sun) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) {
        if (errno == ENOENT)
            return {};
        return sys_error(errno, "stat", path, "unix");
    }
    if (!S_ISSOCK(st.st_mode))
        return make_error("io", "listen " + path + " (unix): the path exists and is not a socket");
    int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_FLAGS, 0);
    if (probe < 0)
        return sys_error(errno, "socket", path, "unix");
    UniqueFd guard(probe);
    if (::connect(probe, reinterpret_cast<const sockaddr*>(&sun), sizeof sun) == 0 ||
        errno == EAGAIN || errno == EINPROGRESS)
        return make_error("in_use",
                          "listen " + path +
                              " (unix): address in use: another process accepts connections there");
    if (errno != ECONNREFUSED)
        return sys_error(errno, "probe", path, "unix");
    if (::unlink(path.c_str()) != 0 && errno != ENOENT)
        return sys_error(errno, "remove stale socket", path, "unix");
    return {};
}

} // namespace

size_t max_unix_path() {
    return sizeof(sockaddr_un::sun_path) - 1;
}

Result<UniqueFd> udp_bind(const SockAddr& addr, const UdpOptions& options) {
    std::string where = addr.str();
    if (!addr.valid())
        return make_error("bad_address", "bind (udp): no address");
    auto fd = make_socket(addr.family(), SOCK_DGRAM, where, "udp");
    if (!fd)
        return fd;
    int s = fd->get();
    if (addr.is_v6()) {
        if (auto st = set_int_option(s, IPPROTO_IPV6, IPV6_V6ONLY, 1, "IPV6_V6ONLY", where, "udp");
            !st)
            return st.error();
    }
    if (options.recv_pktinfo) {
        Status st = addr.is_v4()
                        ? set_int_option(s, IPPROTO_IP, IP_PKTINFO, 1, "IP_PKTINFO", where, "udp")
                        : set_int_option(s, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1, "IPV6_RECVPKTINFO",
                                         where, "udp");
        if (!st)
            return st.error();
    }
    if (options.freebind) {
        // IP_FREEBIND at SOL_IP covers IPv6 sockets as well.
        if (auto st = set_int_option(s, IPPROTO_IP, IP_FREEBIND, 1, "IP_FREEBIND", where, "udp");
            !st)
            return st.error();
    }
    if (options.reuse_port) {
        if (auto st = set_int_option(s, SOL_SOCKET, SO_REUSEPORT, 1, "SO_REUSEPORT", where, "udp");
            !st)
            return st.error();
    }
    if (options.reuse_addr) {
        if (auto st = set_int_option(s, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR", where, "udp");
            !st)
            return st.error();
    }
    if (auto st = set_buffer(s, SO_RCVBUFFORCE, SO_RCVBUF, options.rcvbuf, "SO_RCVBUF", where); !st)
        return st.error();
    if (auto st = set_buffer(s, SO_SNDBUFFORCE, SO_SNDBUF, options.sndbuf, "SO_SNDBUF", where); !st)
        return st.error();
    if (::bind(s, addr.sa(), addr.len()) != 0)
        return sys_error(errno, "bind", where, "udp");
    return fd;
}

Result<UniqueFd> tcp_listen(const SockAddr& addr, int backlog) {
    std::string where = addr.str();
    if (!addr.valid())
        return make_error("bad_address", "listen (tcp): no address");
    auto fd = make_socket(addr.family(), SOCK_STREAM, where, "tcp");
    if (!fd)
        return fd;
    int s = fd->get();
    if (addr.is_v6()) {
        if (auto st = set_int_option(s, IPPROTO_IPV6, IPV6_V6ONLY, 1, "IPV6_V6ONLY", where, "tcp");
            !st)
            return st.error();
    }
    if (auto st = set_int_option(s, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR", where, "tcp"); !st)
        return st.error();
    if (::bind(s, addr.sa(), addr.len()) != 0)
        return sys_error(errno, "bind", where, "tcp");
    if (::listen(s, backlog) != 0)
        return sys_error(errno, "listen", where, "tcp");
    return fd;
}

Result<UniqueFd> tcp_connect(const SockAddr& addr) {
    std::string where = addr.str();
    if (!addr.valid())
        return make_error("bad_address", "connect (tcp): no address");
    auto fd = make_socket(addr.family(), SOCK_STREAM, where, "tcp");
    if (!fd)
        return fd;
    int s = fd->get();
    if (auto st = set_int_option(s, IPPROTO_TCP, TCP_NODELAY, 1, "TCP_NODELAY", where, "tcp"); !st)
        return st.error();
    if (::connect(s, addr.sa(), addr.len()) != 0 && errno != EINPROGRESS)
        return sys_error(errno, "connect", where, "tcp");
    return fd;
}

Result<UniqueFd> unix_listen(const std::string& path, int backlog) {
    auto sun = unix_address(path);
    if (!sun)
        return sun.error();
    if (auto st = clear_unix_path(path, *sun); !st)
        return st.error();
    auto fd = make_socket(AF_UNIX, SOCK_STREAM, path, "unix");
    if (!fd)
        return fd;
    int s = fd->get();
    if (::bind(s, reinterpret_cast<const sockaddr*>(&*sun), sizeof(sockaddr_un)) != 0)
        return sys_error(errno, "bind", path, "unix");
    if (::chmod(path.c_str(), 0660) != 0) {
        int err = errno;
        ::unlink(path.c_str());
        return sys_error(err, "chmod 0660", path, "unix");
    }
    if (::listen(s, backlog) != 0) {
        int err = errno;
        ::unlink(path.c_str());
        return sys_error(err, "listen", path, "unix");
    }
    return fd;
}

Result<UniqueFd> unix_connect(const std::string& path) {
    auto sun = unix_address(path);
    if (!sun)
        return sun.error();
    auto fd = make_socket(AF_UNIX, SOCK_STREAM, path, "unix");
    if (!fd)
        return fd;
    if (::connect(fd->get(), reinterpret_cast<const sockaddr*>(&*sun), sizeof(sockaddr_un)) != 0) {
        if (errno == EAGAIN)
            return make_error("busy", "connect " + path + " (unix): the listen backlog is full");
        return sys_error(errno, "connect", path, "unix");
    }
    return fd;
}

Result<SockAddr> local_address(int fd) {
    return name_of(fd, false);
}

Result<SockAddr> peer_address(int fd) {
    return name_of(fd, true);
}

Status connect_error(int fd, const std::string& where) {
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        err = errno;
    if (err != 0)
        return sys_error(err, "connect", where, "tcp");
    return {};
}

} // namespace rtfarm::net
