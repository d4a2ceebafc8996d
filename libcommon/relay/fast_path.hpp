// The kernel fast path of the media relay: the XDP program of
// relay/fast_path.bpf.c, loaded and attached to the member's media
// interfaces, and its map of latched directions. relay::Relay decides what
// goes in the map (a direction once its source is learned and its
// destination known) and reads the counters back; this class only talks to
// the kernel. rtprelayd(8), "Kernel fast path", is the user's side.
//
// Life: open() loads the program and attaches it through BPF links, which
// the kernel detaches when their descriptors close, so a relay that exits
// or crashes leaves no program and no entry behind. Native XDP where the
// driver has it, else generic (skb) mode. IPv4 only: an IPv6 stream stays
// on the userspace path.
#pragma once

#include "base/result.hpp"
#include "base/sockaddr.hpp"
#include "base/unique_fd.hpp"
#include "media/latch.hpp"
#include "relay/fast_path_abi.h"

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

struct fast_path_bpf;

namespace rtfarm::relay {

struct FastPathSetup {
    // The media range: the map holds at most one entry per port.
    PortRange ports;
    // The address media sockets are bound to; the wildcard: any.
    SockAddr bind;
    // The interfaces that carry these addresses (the member's address, its
    // advertised media address) get the program; loopback never does.
    std::vector<SockAddr> addresses;
    bool operator==(const FastPathSetup&) const = default;
};

struct FastPathInterface {
    std::string name;
    int ifindex = 0;
    bool native = false; // else generic (skb) mode
};

// One direction's counters, summed over the CPUs.
struct FastPathCounters {
    uint64_t packets = 0;
    uint64_t bytes = 0;
    uint64_t rtcp_packets = 0;
    uint64_t last_seen_ns = 0; // CLOCK_MONOTONIC; 0: never
};

struct FastPathTotals {
    uint64_t forwarded = 0;
    uint64_t bytes = 0;
    uint64_t no_route = 0;
    uint64_t not_media = 0;
    FastPathTotals& operator+=(const FastPathTotals& o) {
        forwarded += o.forwarded;
        bytes += o.bytes;
        no_route += o.no_route;
        not_media += o.not_media;
        return *this;
    }
};

// What a direction forwards: per component, where to (an IPv4 peer) and
// from which of the relay's ports. nullopt: that component is left to the
// socket.
struct FastPathRule {
    struct Out {
        SockAddr to;
        uint16_t from_port = 0;
        bool operator==(const Out&) const = default;
    };
    std::array<std::optional<Out>, 2> out; // by media::Component
    bool rtcp_socket = false;
    bool mux = false;
    bool operator==(const FastPathRule&) const = default;
};

// One of the relay's sockets, as kernel_direction() needs it.
struct SocketFacts {
    uint16_t port = 0;
    media::Component component = media::Component::rtp; // ignored with mux
    bool mux = false;
};

// A direction for the map: packets from `source` to the relay's `port`.
struct KernelDirection {
    SockAddr source;
    uint16_t port = 0;
    FastPathRule rule;
};

// What the kernel may forward of the packets arriving on `socket`, a
// socket of the side whose latching is `from` (the other side's: `to`,
// whose packets leave from `to_rtp_port`, or `to_rtcp_port` for RTCP when
// it has an RTCP socket, else 0). Exactly what media/latch.hpp's decide()
// forwards as it is, without learning: packets from the source the side
// learned in this epoch, to a destination the other side has, both IPv4,
// the destination not on loopback;
// per component on a mux socket (RTCP only when it came from that same
// source). nullopt: nothing; every packet goes to the socket, which judges
// strangers, first packets (to learn) and the SDP's exact address.
std::optional<KernelDirection> kernel_direction(const media::Latch& from, const media::Latch& to,
                                                const SocketFacts& socket, uint16_t to_rtp_port,
                                                uint16_t to_rtcp_port);

class FastPath {
public:
    // Loads and attaches; errors: no_interface, unsupported (no BPF here:
    // kernel, permission), io.
    static Result<std::unique_ptr<FastPath>> open(const FastPathSetup& setup);
    FastPath(const FastPath&) = delete;
    FastPath& operator=(const FastPath&) = delete;
    // Detaches and frees the program and its maps.
    ~FastPath();

    // The map key of packets from `peer` (IPv4) to the relay's `port`;
    // nullopt for another family.
    static std::optional<rtfarm_fp_key> key(const SockAddr& peer, uint16_t port);

    // Adds a direction that is not in the map (a changed one is removed
    // first, its counters kept: remove()). Errors: io (the map full, or
    // the key there already: the caller keeps the direction in userspace).
    Status put(const rtfarm_fp_key& key, const FastPathRule& rule);
    // Removes a direction and returns its last counters (0s when absent).
    FastPathCounters remove(const rtfarm_fp_key& key);
    // The direction's counters now, or nullopt when it is not in the map.
    std::optional<FastPathCounters> read(const rtfarm_fp_key& key) const;
    // The rule in the map, or nullopt.
    std::optional<FastPathRule> rule(const rtfarm_fp_key& key) const;

    FastPathTotals totals() const;
    // Entries in the kernel's map, counted there (the audit: none may
    // outlive its call).
    size_t kernel_entries() const;
    const std::vector<FastPathInterface>& interfaces() const { return m_interfaces; }

private:
    FastPath() = default;
    Result<std::vector<uint8_t>> lookup(const rtfarm_fp_key& key) const;
    FastPathCounters sum(const std::vector<uint8_t>& values) const;

    fast_path_bpf* m_skel = nullptr;
    std::vector<UniqueFd> m_links; // BPF links: closing one detaches
    std::vector<FastPathInterface> m_interfaces;
    size_t m_cpus = 1;
    int m_streams_fd = -1;
    int m_events_fd = -1;
};

} // namespace rtfarm::relay
