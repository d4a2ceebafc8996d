/* The kernel fast path's maps, as the XDP program (fast_path.bpf.c) and its
 * loader (fast_path.cpp) both see them. C, for both compilers: fixed-width
 * types, no padding the two could disagree on. Addresses and ports are in
 * network byte order, as they sit in the packet. rtprelayd(8), "Kernel fast
 * path", tells what the program does with them. */
#ifndef RTFARM_RELAY_FAST_PATH_ABI_H
#define RTFARM_RELAY_FAST_PATH_ABI_H

#include <linux/types.h>

/* One latched direction: a packet from the peer at src_addr:src_port to the
 * relay's port dst_port. */
struct rtfarm_fp_key {
    __u32 src_addr;
    __u16 src_port;
    __u16 dst_port;
};

/* Where a packet of one component goes: from the relay's port src_port to
 * the peer at dst_addr:dst_port. dst_port 0: not forwarded here (the
 * packet goes to the socket). */
struct rtfarm_fp_out {
    __u32 dst_addr;
    __u16 dst_port;
    __u16 src_port;
};

/* The socket the key's port belongs to carries RTCP (else RTP). */
#define RTFARM_FP_RTCP_SOCKET 1u
/* The socket carries RTP and RTCP (rtcp-mux): told apart by the second byte
 * (RFC 5761 4). */
#define RTFARM_FP_MUX 2u

/* The value, one copy per CPU (a per-CPU hash): the rule is the same in
 * every copy, the counters are that CPU's. */
struct rtfarm_fp_value {
    struct rtfarm_fp_out out[2]; /* by component: 0 RTP, 1 RTCP */
    __u32 flags;
    __u32 reserved;
    __u64 packets;
    __u64 bytes; /* UDP payload */
    __u64 rtcp_packets;
    __u64 last_seen_ns; /* CLOCK_MONOTONIC (bpf_ktime_get_ns) */
};

/* The one entry of the config array. */
struct rtfarm_fp_config {
    __u32 bind_addr; /* 0: any local address */
    __u16 port_min;  /* host byte order: the member's media range */
    __u16 port_max;
};

/* The program's own counters, a per-CPU array indexed by these. */
enum rtfarm_fp_event {
    RTFARM_FP_FORWARDED = 0,
    RTFARM_FP_BYTES = 1,     /* of those forwarded: UDP payload */
    RTFARM_FP_NO_ROUTE = 2,  /* no next hop out of the way it came: to the socket */
    RTFARM_FP_NOT_MEDIA = 3, /* matched, but size or kind is the socket's to judge */
    RTFARM_FP_EVENTS = 4,
};

/* Entries: at most one per port of the media range (a socket has one
 * learned peer); the loader sizes the map to the range. */
#define RTFARM_FP_MAX_PAYLOAD 1500u
#define RTFARM_FP_MIN_RTP 12u
#define RTFARM_FP_MIN_RTCP 8u

#endif
