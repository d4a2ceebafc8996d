// Batched UDP I/O for the packet paths: UdpReceiver reads a batch of
// datagrams with one recvmmsg() into buffers it owns and reports, per
// datagram, the source, the destination it was sent to (IP_PKTINFO /
// IPV6_PKTINFO, so a socket on 0.0.0.0 tells the VIP from a member address)
// and the interface. send_datagram() and UdpSender (sendmmsg) can choose the
// source address of what they send, so a reply leaves from the address the
// request came to. Every call is non-blocking (MSG_DONTWAIT).
// This module does not create sockets (socket.hpp), wait for readiness (the
// caller's event loop) or retry: a datagram that cannot go now is dropped,
// which is what UDP would do a hop later anyway.
#pragma once

#include "base/result.hpp"
#include "base/sockaddr.hpp"

#include <sys/socket.h>

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace rtfarm::net {

// The largest UDP payload; a receive buffer of this size never truncates.
constexpr size_t MAX_DATAGRAM = 65535;
// Datagrams per recvmmsg()/sendmmsg() call unless the caller says otherwise:
// the work budget of one loop wakeup.
constexpr size_t DEFAULT_BATCH = 32;

struct Datagram {
    // The payload, a view into the receiver's buffer: valid until the next
    // receive() on the same UdpReceiver.
    std::string_view bytes;
    SockAddr source;
    // The address the datagram was sent to, with the socket's local port.
    // Not valid() when the socket was made without UdpOptions::recv_pktinfo.
    SockAddr destination;
    // The interface it arrived on (0 without PKTINFO).
    int ifindex = 0;
    // The datagram was longer than the buffer; `bytes` holds its start only.
    bool truncated = false;
};

class UdpReceiver {
public:
    // `batch` datagrams of up to `buffer_size` bytes each (both > 0). One
    // receiver serves any number of sockets of one thread: it holds no fd.
    explicit UdpReceiver(size_t batch = DEFAULT_BATCH, size_t buffer_size = MAX_DATAGRAM);
    UdpReceiver(const UdpReceiver&) = delete;
    UdpReceiver& operator=(const UdpReceiver&) = delete;
    ~UdpReceiver();

    // Reads what is queued on `fd`, at most batch() datagrams, with one
    // recvmmsg(). Nothing queued (EAGAIN, EINTR) gives an empty span.
    // `local_port` is the destination port to report; 0 asks the kernel
    // (one getsockname() per call that got PKTINFO), so hot paths pass it.
    // The span and the views it holds are valid until the next receive().
    Result<std::span<const Datagram>> receive(int fd, uint16_t local_port = 0);

    size_t batch() const { return m_batch; }
    size_t buffer_size() const { return m_buffer_size; }

private:
    struct Slots;
    size_t m_batch;
    size_t m_buffer_size;
    std::unique_ptr<Slots> m_slots;
    std::vector<Datagram> m_out;
};

// Sends one datagram to `dest`. With `source`, an IP_PKTINFO / IPV6_PKTINFO
// control message picks the source address (same family as `dest`; the
// source port is always the socket's own). Errors: "would_block" when the
// socket buffer is full (the datagram is dropped), "bad_address" for a
// family mismatch, "io" otherwise.
Status send_datagram(int fd, std::string_view bytes, const SockAddr& dest,
                     const SockAddr* source = nullptr);

// Datagrams queued for one sendmmsg() per flush. The bytes are copied at
// queue() time, so they may come from a receive buffer about to be reused.
// After flush() the queue is empty whatever happened: a datagram the kernel
// would not take now (EAGAIN) is dropped and counted, never kept for later.
class UdpSender {
public:
    struct FlushResult {
        size_t sent = 0;
        // Datagrams dropped, would_block ones included.
        size_t failed = 0;
        // Of `failed`, those dropped because the socket buffer was full.
        size_t would_block = 0;
        // errno of the last failure other than EAGAIN (0: none).
        int last_errno = 0;
    };

    explicit UdpSender(size_t capacity = DEFAULT_BATCH);
    UdpSender(const UdpSender&) = delete;
    UdpSender& operator=(const UdpSender&) = delete;
    ~UdpSender();

    // False, and nothing queued, when the queue is full (flush first) or the
    // source's family differs from dest's.
    bool queue(const SockAddr& dest, std::string_view bytes, const SockAddr* source = nullptr);
    // Sends everything queued on `fd`, in order.
    FlushResult flush(int fd);

    size_t queued() const { return m_count; }
    size_t capacity() const { return m_capacity; }

private:
    struct Slots;
    size_t m_capacity;
    size_t m_count = 0;
    std::unique_ptr<Slots> m_slots;
};

} // namespace rtfarm::net
