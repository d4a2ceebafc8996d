#include "relay/fast_path.hpp"

#include "base/log.hpp"

// Generated at build time from fast_path.bpf.c (Makefile: bpftool gen
// skeleton): the program's object, embedded, with typed accessors.
#include "fast_path.skel.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <ifaddrs.h>
#include <linux/ethtool.h>
#include <linux/if_link.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>

namespace rtfarm::relay {

namespace {

// libbpf's own messages (a verifier log, a refused attach) go to the debug
// log; what it means for the relay is logged by the caller.
int libbpf_print(enum libbpf_print_level level, const char* format, va_list args) {
    if (level == LIBBPF_DEBUG || !log::enabled(log::Level::debug, "media"))
        return 0;
    std::array<char, 512> line{};
    int n = std::vsnprintf(line.data(), line.size(), format, args);
    std::string_view text(line.data(), n < 0 ? 0 : std::min<size_t>(size_t(n), line.size() - 1));
    while (!text.empty() && text.back() == '\n')
        text.remove_suffix(1);
    log::debug("media", "libbpf", {{"msg", std::string(text)}});
    return 0;
}

std::string errno_text(int err) {
    return std::strerror(err < 0 ? -err : err);
}

uint32_t v4_net(const SockAddr& a) {
    return reinterpret_cast<const sockaddr_in*>(a.sa())->sin_addr.s_addr;
}

// The non-loopback interfaces holding one of `addresses` (IPv4).
Result<std::vector<FastPathInterface>> find_interfaces(const std::vector<SockAddr>& addresses) {
    ifaddrs* list = nullptr;
    if (getifaddrs(&list) != 0)
        return make_error("io", std::string("getifaddrs: ") + std::strerror(errno));
    std::vector<FastPathInterface> found;
    for (ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
        if (i->ifa_addr == nullptr || i->ifa_addr->sa_family != AF_INET ||
            (i->ifa_flags & IFF_LOOPBACK) != 0)
            continue;
        const auto* in = reinterpret_cast<const sockaddr_in*>(i->ifa_addr);
        bool wanted = std::any_of(addresses.begin(), addresses.end(), [&](const SockAddr& a) {
            return a.is_v4() && v4_net(a) == in->sin_addr.s_addr;
        });
        if (!wanted)
            continue;
        int index = static_cast<int>(if_nametoindex(i->ifa_name));
        if (index == 0 || std::any_of(found.begin(), found.end(),
                                      [&](const auto& f) { return f.ifindex == index; }))
            continue;
        found.push_back(FastPathInterface{i->ifa_name, index, false});
    }
    freeifaddrs(list);
    return found;
}

// The interface's driver ("veth", "virtio_net", ...), or "" when it will not say.
std::string driver_of(const std::string& name) {
    UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!fd.valid())
        return {};
    ethtool_drvinfo info{};
    info.cmd = ETHTOOL_GDRVINFO;
    ifreq req{};
    std::strncpy(req.ifr_name, name.c_str(), IFNAMSIZ - 1);
    req.ifr_data = reinterpret_cast<char*>(&info);
    if (::ioctl(fd.get(), SIOCETHTOOL, &req) != 0)
        return {};
    return std::string(info.driver, strnlen(info.driver, sizeof(info.driver)));
}

// bpf_fib_lookup(), which finds the next hop, answers only on an interface
// that forwards IPv4 (the kernel's rule for routing from XDP).
bool forwards(const std::string& name) {
    std::FILE* f = std::fopen(("/proc/sys/net/ipv4/conf/" + name + "/forwarding").c_str(), "r");
    if (f == nullptr)
        return false;
    int c = std::fgetc(f);
    std::fclose(f);
    return c == '1';
}

} // namespace

std::optional<KernelDirection> kernel_direction(const media::Latch& from, const media::Latch& to,
                                                const SocketFacts& socket, uint16_t to_rtp_port,
                                                uint16_t to_rtcp_port) {
    using media::Component;
    const Component primary = socket.mux ? Component::rtp : socket.component;
    const SockAddr* source = from.learned_peer(primary);
    if (source == nullptr || !source->is_v4())
        return std::nullopt;
    KernelDirection d;
    d.source = *source;
    d.port = socket.port;
    d.rule.mux = socket.mux;
    d.rule.rtcp_socket = !socket.mux && socket.component == Component::rtcp;
    for (Component c : {Component::rtp, Component::rtcp}) {
        if (!socket.mux && c != socket.component)
            continue;
        const SockAddr* learned = from.learned_peer(c);
        const SockAddr* dest = media::destination(to, c);
        // A destination on this host (the processor terminating media on
        // loopback) is the socket's: XDP only sends out of an interface.
        if (learned == nullptr || !(*learned == *source) || dest == nullptr || !dest->is_v4() ||
            dest->is_loopback())
            continue;
        const uint16_t out = c == Component::rtcp && to_rtcp_port != 0 ? to_rtcp_port : to_rtp_port;
        d.rule.out[static_cast<size_t>(c)] = FastPathRule::Out{*dest, out};
    }
    if (!d.rule.out[0] && !d.rule.out[1])
        return std::nullopt;
    return d;
}

Result<std::unique_ptr<FastPath>> FastPath::open(const FastPathSetup& setup) {
    if (!setup.bind.valid() || !setup.bind.is_v4())
        return make_error("unsupported", "the fast path forwards IPv4 only; media binds " +
                                             (setup.bind.valid() ? setup.bind.host() : "nothing"));
    auto interfaces = find_interfaces(setup.addresses);
    if (!interfaces)
        return interfaces.error();
    if (interfaces->empty()) {
        std::string names;
        for (const auto& a : setup.addresses)
            names += (names.empty() ? "" : ", ") + a.host();
        return make_error("no_interface", "no interface but loopback holds " + names);
    }
    for (const FastPathInterface& i : *interfaces)
        if (!forwards(i.name))
            return make_error("unsupported",
                              "interface " + i.name +
                                  " does not forward IPv4, and the XDP program finds the next "
                                  "hop through the kernel's forwarding lookup (sysctl -w "
                                  "net.ipv4.conf." +
                                  i.name + ".forwarding=1; rtprelayd(8), Kernel fast path)");
    libbpf_set_print(libbpf_print);

    std::unique_ptr<FastPath> fp(new FastPath());
    int cpus = libbpf_num_possible_cpus();
    if (cpus <= 0)
        return make_error("unsupported", "cannot count the CPUs: " + errno_text(cpus));
    fp->m_cpus = static_cast<size_t>(cpus);
    fp->m_skel = fast_path_bpf::open();
    if (fp->m_skel == nullptr)
        return make_error("unsupported", "BPF object not opened: " + errno_text(errno));
    if (int err = bpf_map__set_max_entries(
            fp->m_skel->maps.streams,
            static_cast<uint32_t>(std::max<size_t>(setup.ports.count(), 1)));
        err != 0)
        return make_error("unsupported", "BPF map not sized: " + errno_text(err));
    if (int err = fast_path_bpf::load(fp->m_skel); err != 0)
        return make_error("unsupported", "XDP program not loaded (needs root or CAP_BPF and "
                                         "CAP_NET_ADMIN, and a kernel with BTF): " +
                                             errno_text(err));
    fp->m_streams_fd = bpf_map__fd(fp->m_skel->maps.streams);
    fp->m_events_fd = bpf_map__fd(fp->m_skel->maps.events);

    rtfarm_fp_config cfg{};
    cfg.bind_addr = setup.bind.is_any() ? 0 : v4_net(setup.bind);
    cfg.port_min = setup.ports.lo;
    cfg.port_max = setup.ports.hi;
    uint32_t zero = 0;
    if (int err = bpf_map_update_elem(bpf_map__fd(fp->m_skel->maps.config), &zero, &cfg, BPF_ANY);
        err != 0)
        return make_error("io", "fast path config not written: " + errno_text(err));

    const int prog = bpf_program__fd(fp->m_skel->progs.rtfarm_fast_path);
    for (FastPathInterface& i : *interfaces) {
        // Native where the driver has it; generic (skb) mode anywhere else.
        // A link, not a netlink attach: it goes when its descriptor closes,
        // and it never replaces another program on the interface.
        // On veth, native XDP_TX reaches the far end only when that end has
        // NAPI (an XDP program or GRO of its own), which only its owner can
        // turn on: generic mode there.
        std::vector<uint32_t> modes{XDP_FLAGS_DRV_MODE, XDP_FLAGS_SKB_MODE};
        if (driver_of(i.name) == "veth")
            modes.erase(modes.begin());
        int fd = -1;
        for (uint32_t flags : modes) {
            LIBBPF_OPTS(bpf_link_create_opts, opts, .flags = flags);
            fd = bpf_link_create(prog, i.ifindex, BPF_XDP, &opts);
            if (fd >= 0) {
                i.native = flags == XDP_FLAGS_DRV_MODE;
                break;
            }
        }
        if (fd < 0)
            return make_error("unsupported", "XDP program not attached to " + i.name + ": " +
                                                 errno_text(fd) +
                                                 (fd == -EBUSY ? " (another XDP program is "
                                                                 "attached there)"
                                                               : ""));
        fp->m_links.emplace_back(fd);
    }
    fp->m_interfaces = std::move(*interfaces);
    return fp;
}

FastPath::~FastPath() {
    m_links.clear(); // detach first: no packet meets the maps as they go
    if (m_skel != nullptr)
        fast_path_bpf::destroy(m_skel);
}

std::optional<rtfarm_fp_key> FastPath::key(const SockAddr& peer, uint16_t port) {
    if (!peer.is_v4())
        return std::nullopt;
    rtfarm_fp_key k{};
    k.src_addr = v4_net(peer);
    k.src_port = htons(peer.port());
    k.dst_port = htons(port);
    return k;
}

Result<std::vector<uint8_t>> FastPath::lookup(const rtfarm_fp_key& key) const {
    std::vector<uint8_t> values(sizeof(rtfarm_fp_value) * m_cpus);
    if (int err = bpf_map_lookup_elem(m_streams_fd, &key, values.data()); err != 0)
        return make_error(err == -ENOENT ? "not_found" : "io", errno_text(err));
    return values;
}

FastPathCounters FastPath::sum(const std::vector<uint8_t>& values) const {
    FastPathCounters c;
    for (size_t i = 0; i < m_cpus; ++i) {
        rtfarm_fp_value v;
        std::memcpy(&v, values.data() + i * sizeof(v), sizeof(v));
        c.packets += v.packets;
        c.bytes += v.bytes;
        c.rtcp_packets += v.rtcp_packets;
        c.last_seen_ns = std::max<uint64_t>(c.last_seen_ns, v.last_seen_ns);
    }
    return c;
}

Status FastPath::put(const rtfarm_fp_key& key, const FastPathRule& rule) {
    rtfarm_fp_value v{};
    for (size_t c = 0; c < rule.out.size(); ++c) {
        if (!rule.out[c] || !rule.out[c]->to.is_v4())
            continue;
        v.out[c].dst_addr = v4_net(rule.out[c]->to);
        v.out[c].dst_port = htons(rule.out[c]->to.port());
        v.out[c].src_port = htons(rule.out[c]->from_port);
    }
    v.flags = (rule.rtcp_socket ? RTFARM_FP_RTCP_SOCKET : 0) | (rule.mux ? RTFARM_FP_MUX : 0);
    std::vector<uint8_t> values(sizeof(v) * m_cpus);
    for (size_t i = 0; i < m_cpus; ++i)
        std::memcpy(values.data() + i * sizeof(v), &v, sizeof(v));
    if (int err = bpf_map_update_elem(m_streams_fd, &key, values.data(), BPF_NOEXIST); err != 0)
        return make_error("io", "fast path entry not added: " + errno_text(err));
    return {};
}

FastPathCounters FastPath::remove(const rtfarm_fp_key& key) {
    std::vector<uint8_t> values(sizeof(rtfarm_fp_value) * m_cpus);
    if (bpf_map_lookup_and_delete_elem(m_streams_fd, &key, values.data()) != 0)
        return {};
    return sum(values);
}

std::optional<FastPathCounters> FastPath::read(const rtfarm_fp_key& key) const {
    auto values = lookup(key);
    if (!values)
        return std::nullopt;
    return sum(*values);
}

std::optional<FastPathRule> FastPath::rule(const rtfarm_fp_key& key) const {
    auto values = lookup(key);
    if (!values)
        return std::nullopt;
    rtfarm_fp_value v;
    std::memcpy(&v, values->data(), sizeof(v));
    FastPathRule r;
    for (size_t c = 0; c < r.out.size(); ++c) {
        if (v.out[c].dst_port == 0)
            continue;
        SockAddr to = SockAddr::v4(ntohl(v.out[c].dst_addr), ntohs(v.out[c].dst_port));
        r.out[c] = FastPathRule::Out{to, ntohs(v.out[c].src_port)};
    }
    r.rtcp_socket = (v.flags & RTFARM_FP_RTCP_SOCKET) != 0;
    r.mux = (v.flags & RTFARM_FP_MUX) != 0;
    return r;
}

FastPathTotals FastPath::totals() const {
    std::vector<uint64_t> per_cpu(m_cpus);
    auto event = [&](uint32_t index) {
        uint64_t total = 0;
        if (bpf_map_lookup_elem(m_events_fd, &index, per_cpu.data()) == 0)
            for (uint64_t n : per_cpu)
                total += n;
        return total;
    };
    return FastPathTotals{event(RTFARM_FP_FORWARDED), event(RTFARM_FP_BYTES),
                          event(RTFARM_FP_NO_ROUTE), event(RTFARM_FP_NOT_MEDIA)};
}

size_t FastPath::kernel_entries() const {
    // Bounded by the map's size; a key deleted meanwhile restarts the walk
    // from the first key (bpf(2)), which may count one twice: an audit
    // reads it when nothing changes.
    size_t n = 0;
    rtfarm_fp_key key{};
    rtfarm_fp_key next{};
    const rtfarm_fp_key* prev = nullptr;
    const size_t limit = bpf_map__max_entries(m_skel->maps.streams);
    while (n <= limit && bpf_map_get_next_key(m_streams_fd, prev, &next) == 0) {
        ++n;
        key = next;
        prev = &key;
    }
    return n;
}

} // namespace rtfarm::relay
