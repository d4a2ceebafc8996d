/* rtprelayd's kernel fast path: an XDP program that forwards the packets of
 * latched media streams without waking the relay. rtprelayd latches in
 * userspace as always (relay/relay.hpp, media/latch.hpp) and, once a
 * direction's source and destination are known, puts it in `streams`:
 * key (peer address, peer port, relay port) -> where the packet goes. Per
 * packet, the program:
 *   1. passes (to the socket, as without it) anything that is not IPv4/UDP
 *      to a port of the media range on the relay's address, unfragmented,
 *      with a plain 20-byte header;
 *   2. looks the direction up; no entry: to the socket;
 *   3. passes what userspace must judge: a size outside the media limits
 *      or a first byte that is not RTP/RTCP, STUN or DTLS (RFC 7983), or a
 *      component with nowhere to go;
 *   4. asks the kernel's routing (bpf_fib_lookup, from the relay's own
 *      point of view, out of the interface the packet came in by) for the
 *      next hop; no route that way, or no neighbour yet: to the socket
 *      (whose send resolves it);
 *   5. rewrites the Ethernet addresses, the IP source (the address the
 *      packet came to) and destination, the UDP ports (the relay's other
 *      port and the peer's), TTL 64, both checksums; the payload is not
 *      touched;
 *   6. counts the packet and its bytes on this CPU's copy of the entry,
 *      stamps the time, and sends it back out of the interface it came in
 *      by (XDP_TX): media leaves the way it came, towards the load
 *      balancer or the router.
 */
#include "fast_path_abi.h"

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#ifndef AF_INET
#define AF_INET 2
#endif

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_HASH);
    __type(key, struct rtfarm_fp_key);
    __type(value, struct rtfarm_fp_value);
    __uint(max_entries, 1); /* set by the loader: the media range's ports */
    /* Memory as entries come (one copy per CPU each), not for the whole
     * range up front. */
    __uint(map_flags, BPF_F_NO_PREALLOC);
} streams SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __type(key, __u32);
    __type(value, struct rtfarm_fp_config);
    __uint(max_entries, 1);
} config SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __type(key, __u32);
    __type(value, __u64);
    __uint(max_entries, RTFARM_FP_EVENTS);
} events SEC(".maps");

static __always_inline void count(__u32 event, __u64 n) {
    __u64* total = bpf_map_lookup_elem(&events, &event);
    if (total)
        *total += n;
}

static __always_inline __u16 fold(__u64 sum) {
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    return (__u16)sum;
}

static __always_inline int relayable(__u8 b) {
    return (b >= 128 && b <= 191) || b <= 3 || (b >= 20 && b <= 63);
}

SEC("xdp")
int rtfarm_fast_path(struct xdp_md* ctx) {
    void* data = (void*)(long)ctx->data;
    void* data_end = (void*)(long)ctx->data_end;

    struct ethhdr* eth = data;
    if ((void*)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
        return XDP_PASS;
    struct iphdr* ip = (void*)(eth + 1);
    if ((void*)(ip + 1) > data_end || ip->ihl != 5 || ip->protocol != IPPROTO_UDP ||
        (ip->frag_off & bpf_htons(0x3fff)) != 0)
        return XDP_PASS;
    struct udphdr* udp = (void*)(ip + 1);
    if ((void*)(udp + 1) > data_end)
        return XDP_PASS;

    __u32 zero = 0;
    struct rtfarm_fp_config* cfg = bpf_map_lookup_elem(&config, &zero);
    if (!cfg)
        return XDP_PASS;
    __u16 port = bpf_ntohs(udp->dest);
    if (port < cfg->port_min || port > cfg->port_max)
        return XDP_PASS;
    if (cfg->bind_addr != 0 && ip->daddr != cfg->bind_addr)
        return XDP_PASS;

    struct rtfarm_fp_key key = {
        .src_addr = ip->saddr,
        .src_port = udp->source,
        .dst_port = udp->dest,
    };
    struct rtfarm_fp_value* v = bpf_map_lookup_elem(&streams, &key);
    if (!v)
        return XDP_PASS;

    /* The payload: as long as the UDP header says, all of it in the frame. */
    __u32 udp_len = bpf_ntohs(udp->len);
    if (udp_len < sizeof(*udp) + 2 || udp_len > sizeof(*udp) + RTFARM_FP_MAX_PAYLOAD ||
        (void*)udp + udp_len > data_end || bpf_ntohs(ip->tot_len) != sizeof(*ip) + udp_len) {
        count(RTFARM_FP_NOT_MEDIA, 1);
        return XDP_PASS;
    }
    __u8* payload = (void*)(udp + 1);
    if ((void*)(payload + 2) > data_end)
        return XDP_PASS;
    __u32 len = udp_len - sizeof(*udp);
    __u32 c = (v->flags & RTFARM_FP_RTCP_SOCKET) ? 1 : 0;
    if (v->flags & RTFARM_FP_MUX)
        c = (payload[1] >= 192 && payload[1] <= 223) ? 1 : 0;
    if (!relayable(payload[0]) || len < (c ? RTFARM_FP_MIN_RTCP : RTFARM_FP_MIN_RTP)) {
        count(RTFARM_FP_NOT_MEDIA, 1);
        return XDP_PASS;
    }
    struct rtfarm_fp_out* out = &v->out[c & 1];
    if (out->dst_port == 0)
        return XDP_PASS;

    /* The next hop, as if the relay's socket sent it. */
    struct bpf_fib_lookup fib = {};
    fib.family = AF_INET;
    fib.l4_protocol = IPPROTO_UDP;
    fib.sport = out->src_port;
    fib.dport = out->dst_port;
    fib.tot_len = bpf_ntohs(ip->tot_len);
    fib.ipv4_src = ip->daddr;
    fib.ipv4_dst = out->dst_addr;
    fib.ifindex = ctx->ingress_ifindex;
    long rc = bpf_fib_lookup(ctx, &fib, sizeof(fib), BPF_FIB_LOOKUP_OUTPUT);
    if (rc != BPF_FIB_LKUP_RET_SUCCESS || fib.ifindex != ctx->ingress_ifindex) {
        count(RTFARM_FP_NO_ROUTE, 1);
        return XDP_PASS;
    }

    /* The UDP checksum, updated for the new addresses and ports (0: none). */
    __u32 before[3] = {ip->saddr, ip->daddr, 0};
    __u32 after[3] = {ip->daddr, out->dst_addr, 0};
    __builtin_memcpy(&before[2], &udp->source, 4);
    udp->source = out->src_port;
    udp->dest = out->dst_port;
    __builtin_memcpy(&after[2], &udp->source, 4);
    if (udp->check != 0) {
        __s64 sum = bpf_csum_diff(before, sizeof(before), after, sizeof(after),
                                  (__u16)~udp->check);
        __u16 check = (__u16)~fold((__u64)sum);
        udp->check = check ? check : 0xffff;
    }

    ip->saddr = after[0];
    ip->daddr = after[1];
    ip->ttl = 64;
    ip->check = 0;
    ip->check = (__u16)~fold((__u64)bpf_csum_diff(0, 0, (__be32*)ip, sizeof(*ip), 0));

    __builtin_memcpy(eth->h_dest, fib.dmac, ETH_ALEN);
    __builtin_memcpy(eth->h_source, fib.smac, ETH_ALEN);

    v->packets += 1;
    v->bytes += len;
    if (c)
        v->rtcp_packets += 1;
    v->last_seen_ns = bpf_ktime_get_ns();
    count(RTFARM_FP_FORWARDED, 1);
    count(RTFARM_FP_BYTES, len);

    return XDP_TX;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
