// PortPool: the media ports of one member's range (PortRange), handed out
// per relayed stream side: an even RTP port with RTCP on the next (odd) port,
// or a single port when the stream multiplexes RTCP on the RTP port
// (rtcp-mux, RFC 5761). Allocation and release are O(1): free whole pairs and
// free single ports sit in two intrusive FIFO lists, so the port handed out is
// always the one freed longest ago (a just-freed port is the last to be
// reused, so late packets of an old call do not reach a new one). A pair
// whose two halves are free again is whole again (no fragmentation leak);
// single-port streams take an unpairable or half-used port before breaking a
// whole pair.
//
// Errors are values: exhaustion is code "ports_exhausted" naming the range and
// the ports in use; releasing a port outside the range is "foreign_port", one
// that is not allocated in that shape (double free, RTCP half, wrong shape) is
// "not_allocated", and the pool is left unchanged.
//
// It deliberately does not open sockets (rtprelayd binds the ports it gets; a
// port the kernel refuses is released and another taken), know about calls,
// or read a clock. Port 0 is never handed out (it means "stream disabled" in
// SDP). One pool belongs to one thread.
#pragma once

#include "base/result.hpp"
#include "base/sockaddr.hpp"

#include <cstddef>
#include <cstdint>
#include <vector>

namespace rtfarm::media {

// How a stream side carries RTCP.
enum class Rtcp {
    separate, // RTP on an even port, RTCP on RTP + 1
    mux,      // RTP and RTCP on one port (a=rtcp-mux)
};

// The ports of one stream side.
struct StreamPorts {
    uint16_t rtp = 0;
    uint16_t rtcp = 0; // rtp + 1, or 0 with rtcp-mux
    bool mux() const { return rtcp == 0; }
    bool operator==(const StreamPorts&) const = default;
};

struct PortCounters {
    size_t capacity_ports = 0; // usable ports: most rtcp-mux stream sides at once
    size_t capacity_pairs = 0; // even/odd pairs in the range: most RTP+RTCP stream sides
    size_t in_use = 0;         // ports allocated now
    size_t free = 0;           // capacity_ports - in_use
    size_t free_pairs = 0;     // whole pairs free now
    size_t streams = 0;        // allocations live now (pairs + singles)
    size_t high_water = 0;     // most ports in use at once since construction
    size_t exhausted = 0;      // allocations refused for lack of ports
    bool operator==(const PortCounters&) const = default;
};

class PortPool {
public:
    // Every port of `range` except port 0; an empty range gives an empty pool.
    explicit PortPool(PortRange range);

    PortPool(const PortPool&) = delete;
    PortPool& operator=(const PortPool&) = delete;
    PortPool(PortPool&&) = default;
    PortPool& operator=(PortPool&&) = default;

    // The ports for one stream side, freed longest ago first. Error
    // "ports_exhausted" when none fit (a pair may be missing while single
    // ports are free: the message says so).
    Result<StreamPorts> allocate(Rtcp rtcp);
    // Gives back what allocate() returned. Error "foreign_port" or
    // "not_allocated"; the pool is unchanged then.
    Status release(StreamPorts ports);
    // A pair whose side agreed to rtcp-mux keeps its RTP port as a single
    // port and gives back the RTCP half; returns {rtp, 0}. Error
    // "not_allocated" (not a pair allocated now: free, a single port, or
    // given as one), "foreign_port" (outside the range); the pool is
    // unchanged then.
    Result<StreamPorts> shrink_to_mux(StreamPorts pair);

    bool allocated(uint16_t port) const;
    const PortRange& range() const { return m_range; }
    PortCounters counters() const;

    // Walks every list and checks every invariant (each free port listed
    // exactly once, in the right list; counts agree). O(range); for tests and
    // a debug query, never on the packet path. Error "pool_corrupt".
    Status audit() const;

private:
    enum State : uint8_t { FREE, SINGLE, PAIR_RTP, PAIR_RTCP };
    static constexpr int32_t NIL = -1;

    // An intrusive FIFO over port indexes (port - m_base); the links live in
    // m_prev/m_next, shared by both lists since a port is in one at most.
    struct List {
        int32_t head = NIL;
        int32_t tail = NIL;
        size_t size = 0;
    };

    uint16_t port_of(int32_t i) const { return static_cast<uint16_t>(m_base + i); }
    bool in_pool(uint16_t port) const;
    // The other half of a port's even/odd pair, or NIL when it has none.
    int32_t partner(int32_t i) const;
    void push_back(List& l, int32_t i);
    int32_t pop_front(List& l);
    void unlink(List& l, int32_t i);
    void took(size_t ports);
    Error exhausted(Rtcp rtcp);
    Error not_allocated(StreamPorts ports, const char* verb = "release") const;

    PortRange m_range;
    uint32_t m_base = 0;  // first usable port (index 0)
    uint32_t m_count = 0; // usable ports
    std::vector<uint8_t> m_state;
    std::vector<int32_t> m_prev;
    std::vector<int32_t> m_next;
    List m_pairs;   // even ports of whole free pairs
    List m_singles; // free ports without a free partner
    size_t m_capacity_pairs = 0;
    size_t m_in_use = 0;
    size_t m_streams = 0;
    size_t m_high_water = 0;
    size_t m_exhausted = 0;
};

} // namespace rtfarm::media
