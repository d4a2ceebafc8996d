#include "media/fd_limit.hpp"

#include <sys/resource.h>

#include <cerrno>
#include <cstring>
#include <fstream>

namespace rtfarm::media {
namespace {

uint64_t from_rlim(rlim_t v) {
    return v == RLIM_INFINITY ? UINT64_MAX : static_cast<uint64_t>(v);
}

std::string num(uint64_t v) {
    return v == UINT64_MAX ? std::string("unlimited") : std::to_string(v);
}

// fs.nr_open: the ceiling of any RLIMIT_NOFILE; 0 when unreadable.
uint64_t nr_open() {
    std::ifstream in("/proc/sys/fs/nr_open");
    uint64_t v = 0;
    if (!(in >> v))
        return 0;
    return v;
}

} // namespace

uint64_t fds_for_ports(size_t ports, size_t margin) {
    return uint64_t(ports) + margin;
}

std::string FdLimit::str() const {
    std::string s = "RLIMIT_NOFILE " + num(soft_before);
    if (raised)
        s += " -> " + num(soft);
    s += " (hard " + num(hard_before);
    if (hard != hard_before)
        s += " -> " + num(hard);
    s += ") for " + std::to_string(needed) + " descriptors";
    return s;
}

Result<FdLimit> ensure_fd_limit(uint64_t needed) {
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return make_error("fd_limit",
                          std::string("getrlimit(RLIMIT_NOFILE): ") + std::strerror(errno));
    FdLimit r;
    r.needed = needed;
    r.soft_before = r.soft = from_rlim(rl.rlim_cur);
    r.hard_before = r.hard = from_rlim(rl.rlim_max);
    if (r.soft >= needed)
        return r;
    rlimit want = rl;
    want.rlim_cur = static_cast<rlim_t>(needed);
    if (r.hard < needed)
        want.rlim_max = static_cast<rlim_t>(needed);
    if (::setrlimit(RLIMIT_NOFILE, &want) != 0) {
        int err = errno;
        std::string msg = "RLIMIT_NOFILE: the media port range needs " + std::to_string(needed) +
                          " descriptors; soft limit " + num(r.soft_before) + ", hard limit " +
                          num(r.hard_before) + "; raising it failed: " + std::strerror(err);
        uint64_t ceiling = nr_open();
        if (ceiling != 0 && needed > ceiling)
            msg += " (above fs.nr_open " + std::to_string(ceiling) +
                   ": raise it with sysctl, or use a smaller media_ports range)";
        else if (r.hard_before < needed)
            msg += " (raise the hard limit: LimitNOFILE= in the systemd unit, ulimit -Hn in a "
                   "run script, or use a smaller media_ports range)";
        return make_error("fd_limit", std::move(msg));
    }
    r.soft = from_rlim(want.rlim_cur);
    r.hard = from_rlim(want.rlim_max);
    r.raised = true;
    return r;
}

} // namespace rtfarm::media
