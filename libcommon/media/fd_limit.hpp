// The descriptor budget of a media relay: one UDP socket per port of the
// media range (RTP and RTCP each have their own), so a 10000-port range
// needs 10000 descriptors besides the daemon's own. ensure_fd_limit()
// raises RLIMIT_NOFILE at start to what the range needs, and says what it
// did, or why it cannot (a hard limit it may not raise, fs.nr_open).
// This module does not count open descriptors or lower any limit.
#pragma once

#include "base/result.hpp"

#include <cstddef>
#include <cstdint>
#include <string>

namespace rtfarm::media {

// Descriptors beyond the media sockets: listening and control sockets,
// clients, the event loop, logs.
constexpr size_t FD_MARGIN = 256;

// What a range of `ports` media ports needs, margin included.
uint64_t fds_for_ports(size_t ports, size_t margin = FD_MARGIN);

struct FdLimit {
    uint64_t needed = 0;
    // RLIMIT_NOFILE before and after (RLIM_INFINITY as UINT64_MAX).
    uint64_t soft_before = 0;
    uint64_t hard_before = 0;
    uint64_t soft = 0;
    uint64_t hard = 0;
    bool raised = false;

    // "RLIMIT_NOFILE 1024 -> 10256 (hard 524288) for 10256 descriptors"
    std::string str() const;
};

// Raises the soft limit (and the hard one, which needs CAP_SYS_RESOURCE)
// to `needed` when it is lower; never lowers either. Error "fd_limit" with
// the numbers and what to change when the kernel refuses.
Result<FdLimit> ensure_fd_limit(uint64_t needed);

} // namespace rtfarm::media
