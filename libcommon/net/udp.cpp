#include "net/udp.hpp"

#include "base/assert.hpp"
#include "net/socket.hpp"

#include <netinet/in.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace rtfarm::net {
namespace {

// Room for one PKTINFO of either family, with slack for a timestamp or two.
constexpr size_t CONTROL_BYTES =
    CMSG_SPACE(sizeof(in6_pktinfo)) + CMSG_SPACE(sizeof(in_pktinfo)) + 64;

struct alignas(cmsghdr) Control {
    unsigned char bytes[CONTROL_BYTES];
};

// Reads the destination address and interface out of a received message's
// control data; false when there is no PKTINFO.
bool read_pktinfo(msghdr& hdr, SockAddr& dest, int& ifindex) {
    for (cmsghdr* c = CMSG_FIRSTHDR(&hdr); c != nullptr; c = CMSG_NXTHDR(&hdr, c)) {
        if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
            in_pktinfo info;
            std::memcpy(&info, CMSG_DATA(c), sizeof info);
            sockaddr_in sin{};
            sin.sin_family = AF_INET;
            sin.sin_addr = info.ipi_addr;
            auto a = SockAddr::from_sockaddr(reinterpret_cast<const sockaddr*>(&sin), sizeof sin);
            if (!a)
                return false;
            dest = *a;
            ifindex = info.ipi_ifindex;
            return true;
        }
        if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
            in6_pktinfo info;
            std::memcpy(&info, CMSG_DATA(c), sizeof info);
            sockaddr_in6 sin6{};
            sin6.sin6_family = AF_INET6;
            sin6.sin6_addr = info.ipi6_addr;
            if (IN6_IS_ADDR_LINKLOCAL(&info.ipi6_addr))
                sin6.sin6_scope_id = info.ipi6_ifindex;
            auto a = SockAddr::from_sockaddr(reinterpret_cast<const sockaddr*>(&sin6), sizeof sin6);
            if (!a)
                return false;
            dest = *a;
            ifindex = static_cast<int>(info.ipi6_ifindex);
            return true;
        }
    }
    return false;
}

// Puts a PKTINFO choosing `source` into `control` and points `hdr` at it.
void write_pktinfo(msghdr& hdr, Control& control, const SockAddr& source) {
    std::memset(control.bytes, 0, sizeof control.bytes);
    hdr.msg_control = control.bytes;
    cmsghdr* c = nullptr;
    if (source.is_v4()) {
        hdr.msg_controllen = CMSG_SPACE(sizeof(in_pktinfo));
        c = CMSG_FIRSTHDR(&hdr);
        c->cmsg_level = IPPROTO_IP;
        c->cmsg_type = IP_PKTINFO;
        c->cmsg_len = CMSG_LEN(sizeof(in_pktinfo));
        in_pktinfo info{};
        info.ipi_spec_dst = reinterpret_cast<const sockaddr_in*>(source.sa())->sin_addr;
        std::memcpy(CMSG_DATA(c), &info, sizeof info);
    } else {
        hdr.msg_controllen = CMSG_SPACE(sizeof(in6_pktinfo));
        c = CMSG_FIRSTHDR(&hdr);
        c->cmsg_level = IPPROTO_IPV6;
        c->cmsg_type = IPV6_PKTINFO;
        c->cmsg_len = CMSG_LEN(sizeof(in6_pktinfo));
        const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(source.sa());
        in6_pktinfo info{};
        info.ipi6_addr = sin6->sin6_addr;
        info.ipi6_ifindex = sin6->sin6_scope_id;
        std::memcpy(CMSG_DATA(c), &info, sizeof info);
    }
}

bool source_fits(const SockAddr& dest, const SockAddr* source) {
    return source == nullptr || (source->valid() && source->family() == dest.family());
}

} // namespace

struct UdpReceiver::Slots {
    std::vector<char> data;
    std::vector<mmsghdr> msgs;
    std::vector<iovec> iov;
    std::vector<sockaddr_storage> names;
    std::vector<Control> control;
};

UdpReceiver::UdpReceiver(size_t batch, size_t buffer_size)
    : m_batch(batch)
    , m_buffer_size(buffer_size)
    , m_slots(std::make_unique<Slots>()) {
    RTFARM_ASSERT(batch > 0 && buffer_size > 0);
    auto& s = *m_slots;
    s.data.resize(batch * buffer_size);
    s.msgs.resize(batch);
    s.iov.resize(batch);
    s.names.resize(batch);
    s.control.resize(batch);
    m_out.resize(batch);
}

UdpReceiver::~UdpReceiver() = default;

Result<std::span<const Datagram>> UdpReceiver::receive(int fd, uint16_t local_port) {
    auto& s = *m_slots;
    for (size_t i = 0; i < m_batch; ++i) {
        s.iov[i].iov_base = s.data.data() + i * m_buffer_size;
        s.iov[i].iov_len = m_buffer_size;
        msghdr& h = s.msgs[i].msg_hdr;
        h.msg_name = &s.names[i];
        h.msg_namelen = sizeof(sockaddr_storage);
        h.msg_iov = &s.iov[i];
        h.msg_iovlen = 1;
        h.msg_control = s.control[i].bytes;
        h.msg_controllen = sizeof s.control[i].bytes;
        h.msg_flags = 0;
        s.msgs[i].msg_len = 0;
    }
    int n = ::recvmmsg(fd, s.msgs.data(), static_cast<unsigned>(m_batch), MSG_DONTWAIT, nullptr);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return std::span<const Datagram>();
        return make_error("io", std::string("recvmmsg: ") + std::strerror(errno));
    }
    size_t got = 0;
    bool need_port = false;
    for (int i = 0; i < n; ++i) {
        msghdr& h = s.msgs[i].msg_hdr;
        Datagram& d = m_out[got];
        auto src = SockAddr::from_sockaddr(static_cast<const sockaddr*>(h.msg_name), h.msg_namelen);
        if (!src)
            continue; // not an IP datagram: nothing we could answer
        size_t len = std::min<size_t>(s.msgs[i].msg_len, m_buffer_size);
        d.bytes = std::string_view(s.data.data() + size_t(i) * m_buffer_size, len);
        d.source = *src;
        d.destination = SockAddr();
        d.ifindex = 0;
        d.truncated = (h.msg_flags & MSG_TRUNC) != 0;
        if (read_pktinfo(h, d.destination, d.ifindex)) {
            if (local_port != 0)
                d.destination.set_port(local_port);
            else
                need_port = true;
        }
        ++got;
    }
    if (need_port) {
        auto local = local_address(fd);
        if (local) {
            for (size_t i = 0; i < got; ++i)
                if (m_out[i].destination.valid())
                    m_out[i].destination.set_port(local->port());
        }
    }
    return std::span<const Datagram>(m_out.data(), got);
}

Status send_datagram(int fd, std::string_view bytes, const SockAddr& dest, const SockAddr* source) {
    if (!dest.valid())
        return make_error("bad_address", "send (udp): no destination address");
    if (!source_fits(dest, source))
        return make_error("bad_address", "send to " + dest.str() + " (udp): source " +
                                             (source->valid() ? source->host() : "-") +
                                             " is not of the destination's family");
    iovec iov{const_cast<char*>(bytes.data()), bytes.size()};
    msghdr hdr{};
    hdr.msg_name = const_cast<sockaddr*>(dest.sa());
    hdr.msg_namelen = dest.len();
    hdr.msg_iov = &iov;
    hdr.msg_iovlen = 1;
    Control control;
    if (source)
        write_pktinfo(hdr, control, *source);
    for (int attempt = 0; attempt < 3; ++attempt) {
        if (::sendmsg(fd, &hdr, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0)
            return {};
        if (errno != EINTR)
            break;
    }
    int err = errno;
    std::string msg = "send to " + dest.str() + " (udp)";
    if (source)
        msg += " from " + source->host();
    msg += ": ";
    msg += std::strerror(err);
    return make_error(err == EAGAIN || err == EWOULDBLOCK ? "would_block" : "io", std::move(msg));
}

struct UdpSender::Slots {
    std::vector<std::string> data;
    std::vector<SockAddr> dest;
    std::vector<SockAddr> source;
    std::vector<bool> has_source;
    std::vector<mmsghdr> msgs;
    std::vector<iovec> iov;
    std::vector<Control> control;
};

UdpSender::UdpSender(size_t capacity)
    : m_capacity(capacity)
    , m_slots(std::make_unique<Slots>()) {
    RTFARM_ASSERT(capacity > 0);
    auto& s = *m_slots;
    s.data.resize(capacity);
    s.dest.resize(capacity);
    s.source.resize(capacity);
    s.has_source.resize(capacity);
    s.msgs.resize(capacity);
    s.iov.resize(capacity);
    s.control.resize(capacity);
}

UdpSender::~UdpSender() = default;

bool UdpSender::queue(const SockAddr& dest, std::string_view bytes, const SockAddr* source) {
    if (m_count == m_capacity || !dest.valid() || !source_fits(dest, source))
        return false;
    auto& s = *m_slots;
    s.data[m_count].assign(bytes.data(), bytes.size());
    s.dest[m_count] = dest;
    s.has_source[m_count] = source != nullptr;
    if (source)
        s.source[m_count] = *source;
    ++m_count;
    return true;
}

UdpSender::FlushResult UdpSender::flush(int fd) {
    FlushResult r;
    auto& s = *m_slots;
    for (size_t i = 0; i < m_count; ++i) {
        s.iov[i].iov_base = s.data[i].data();
        s.iov[i].iov_len = s.data[i].size();
        msghdr& h = s.msgs[i].msg_hdr;
        h = msghdr{};
        h.msg_name = const_cast<sockaddr*>(s.dest[i].sa());
        h.msg_namelen = s.dest[i].len();
        h.msg_iov = &s.iov[i];
        h.msg_iovlen = 1;
        if (s.has_source[i])
            write_pktinfo(h, s.control[i], s.source[i]);
        s.msgs[i].msg_len = 0;
    }
    size_t next = 0;
    // Each pass sends at least one datagram or drops at least one, so this
    // ends within m_count passes (plus a few EINTR retries).
    int interrupts = 0;
    while (next < m_count) {
        int n = ::sendmmsg(fd, s.msgs.data() + next, static_cast<unsigned>(m_count - next),
                           MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
            r.sent += size_t(n);
            next += size_t(n);
            continue;
        }
        int err = n < 0 ? errno : EIO;
        if (err == EINTR && ++interrupts < 3)
            continue;
        if (err == EAGAIN || err == EWOULDBLOCK) {
            // The socket buffer is full: the rest would meet the same.
            r.would_block += m_count - next;
            r.failed += m_count - next;
            break;
        }
        // This one datagram is refused (unreachable, too big): drop it, go on.
        r.last_errno = err;
        ++r.failed;
        ++next;
    }
    m_count = 0;
    return r;
}

} // namespace rtfarm::net
