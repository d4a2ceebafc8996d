#!/usr/bin/env bash
# rtfarm media bench: rtprelayd (userspace, and its kernel fast path when it
# has one) against rtpengine (userspace, one worker thread) and a trivial
# batched relay, same load, same core, over a veth pair between two network
# namespaces.  test/bench/README.md explains the method and the figures.
#
#   test/bench/media.sh          (as root; `make bench` runs it after run.sh)
#
# Topology: namespace "load" (10.77.0.1/24) runs rtpstorm, both ends of
# every call; namespace "relay" (10.77.0.2/24) runs the relay under test;
# one veth pair joins them, GRO on and TSO off at both ends (so that every
# packet goes through the receiving end's NAPI, where an XDP program runs;
# native XDP on veth transmits only to a peer with NAPI), each end's NAPI
# threaded and its thread pinned to its side's CPU; RPS to the side's CPU
# only where threaded NAPI is refused (the README: where the kernel's work
# on each packet runs).
#
# Four relays, one at a time, each pinned to the relay core:
#   rtprelayd         one standalone member, a 10000-port media range,
#                     "media_fast_path": "off"
#   rtprelayd-kernel  the same with "media_fast_path": "required"; skipped,
#                     with the reason, when rtprelayd refuses that config or
#                     to start, or its stats do not say running.fast_path
#                     path "kernel"
#   rtpengine         Debian's rtpengine, --table=-1 (no kernel forwarding),
#                     --num-threads=1, driven over its ng protocol
#   trivial           test/bench/trivial_relay (built here with g++): recvmmsg
#                     and sendmmsg between fixed port pairs, no signalling
# Two loads from the load core, test/bench/rtpstorm (built here), 200 calls
# set up through the relay's control protocol, RTP both ways, 172-byte
# packets, every packet checked at the far end:
#   saturation  a closed loop that keeps the relay's core busy
#   rate        an open loop at 40 000 packets/s in all (100/s per call and
#               direction)
# CPU: the relay core's busy time from /proc/stat (user, nice, system, irq,
# softirq, steal) over the window, which holds the kernel's work on the
# packets too; relay+kernel, the relay process's utime+stime plus the relay
# end's NAPI threads' plus the core's irq and softirq (what other work on a
# shared core does not inflate); and the relay process's utime+stime.  The relay core's busy
# time with nothing running is measured first and printed (subtracted from
# nothing).  Then rtprelayd's memory per session: VmRSS before and after
# 2500 sessions (4 ports each: the whole range).
#
# Environment, all optional: RTFARM_BENCH_PROXY_CPU (0: the relay core),
# RTFARM_BENCH_LOAD_CPU (1), RTFARM_MEDIA_ROUNDS (3), RTFARM_MEDIA_RATE
# (40000 packets/s), RTFARM_MEDIA_COALESCE_US (0: every packet wakes its
# veth end; T: the ends coalesce wake-ups over T µs, as NIC interrupt
# moderation does), RTFARM_MEDIA_DEADLINE (300 s), RTFARM_MEDIA_RELAYS
# (all four: "rtprelayd rtprelayd-kernel rtpengine trivial"),
# RTFARM_BENCH_KEEP=1 (keep the work folder with every log and result),
# RTPRELAYD (build/bin/rtprelayd).
#
# Exit status: 0 measured (the goals are printed, not enforced; a kernel
# path that is not available is printed and skipped); 1 a relay or the load
# failed, packets were lost or damaged, a relay logged warnings or errors,
# or the bench ran over its deadline; 2 cannot run on this host.
set -u -o pipefail
umask 022

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BENCH=$ROOT/test/bench
RTPRELAYD=${RTPRELAYD:-$ROOT/build/bin/rtprelayd}
RELAY_CPU=${RTFARM_BENCH_PROXY_CPU:-0}
LOAD_CPU=${RTFARM_BENCH_LOAD_CPU:-1}
ROUNDS=${RTFARM_MEDIA_ROUNDS:-3}
RATE=${RTFARM_MEDIA_RATE:-40000} # packets/s in all, the fixed-rate load
DEADLINE=${RTFARM_MEDIA_DEADLINE:-300} # the whole bench, seconds
RELAYS=${RTFARM_MEDIA_RELAYS:-rtprelayd rtprelayd-kernel rtpengine trivial}
CALLS=200       # one audio stream each, RTP both ways
INFLIGHT=16     # saturation: packets in flight per call and direction ...
BURST=16        # ... sent in bursts of this many (see README: rtpengine)
OUTSTANDING=240 # ... and at most this many in flight in all (README: veth's rings)
WARMUP=0.5      # load before the window, not counted
WINDOW=3        # the measured window, seconds
MEM_SESSIONS=2500
MEM_PACKETS=2   # RTP packets each way per session (and one RTCP each way)
RANGE=10000     # rtprelayd's media ports: MEM_SESSIONS * 4
LOADS="sat rate"

# The topology: names carry this shell's pid, so that a second run or the
# leftovers of a killed one do not collide.
NS_LOAD=rtfarm-media-load-$$
NS_RELAY=rtfarm-media-relay-$$
DEV_LOAD=rtfm-l # each in its own namespace
DEV_RELAY=rtfm-r
QUEUES=1 # per end and direction
LOAD_IP=10.77.0.1
RELAY_IP=10.77.0.2

say() { printf 'media bench: %s\n' "$*"; }
cannot() {
    printf 'media bench: cannot run: %s\n' "$*" >&2
    exit 2
}

# shellcheck source=bench_common.bash
. "$BENCH/bench_common.bash"

# ------------------------------------------------------------ preflight
[ "$(id -u)" = 0 ] || cannot "not root (network namespaces, chrt -f for the relays, nice -20 for the load)"
for tool in rtpengine taskset chrt g++ awk mkfifo timeout ip nsenter ethtool ps getconf; do
    command -v "$tool" >/dev/null || cannot "'$tool' not found (mk/deps.sh build bench installs it)"
done
[ -x "$RTPRELAYD" ] || cannot "$RTPRELAYD not built (make programs)"
ncpu=$(nproc)
if [ "$RELAY_CPU" -ge "$ncpu" ] || [ "$LOAD_CPU" -ge "$ncpu" ] || [ "$RELAY_CPU" = "$LOAD_CPU" ]; then
    cannot "need two distinct CPUs (relay $RELAY_CPU, load $LOAD_CPU; this host has $ncpu)"
fi
for relay in $RELAYS; do
    case $relay in rtprelayd | rtprelayd-kernel | rtpengine | trivial) ;;
    *) cannot "RTFARM_MEDIA_RELAYS: unknown relay '$relay'" ;;
    esac
done
HZ=$(getconf CLK_TCK)

bench_priorities relays
RELAY_PRIO=$UNDER_TEST_PRIO
NAPI_PRIO=50 # SCHED_FIFO of the NAPI threads: above the relay, as softirq is

W=$(mktemp -d /tmp/rtfarm-media.XXXXXX)
cd "$W" || exit 2
T_START=$(date +%s)

# ------------------------------------------------------------ processes
RELAY_PID="" # the relay now running
NET_UP=""
# shellcheck disable=SC2317 # called at exit (bench_common.bash)
bench_cleanup() {
    # shellcheck disable=SC2086 # empty or one pid
    stop_pids TERM $RELAY_PID
    RELAY_PID=""
    [ -n "$NET_UP" ] || return 0
    local ns pids
    for ns in $NS_LOAD $NS_RELAY; do
        # Whatever of ours still runs in them (a load the deadline cut short).
        pids=$(ip netns pids "$ns" 2>/dev/null)
        # shellcheck disable=SC2086 # a pid list
        [ -z "$pids" ] || stop_pids TERM $pids
        ip netns del "$ns" 2>/dev/null
    done
    NET_UP=""
}
bench_start "$(basename "$0" .sh) bench" "$DEADLINE"

# ------------------------------------------------------------ topology
# Commands, not functions: a function run in the background is a subshell,
# and $! would be its pid, not the relay's (nsenter and chrt exec).
IN_LOAD="nsenter --net=/run/netns/$NS_LOAD"
IN_RELAY="nsenter --net=/run/netns/$NS_RELAY"
in_load() { $IN_LOAD "$@"; }
in_relay() { $IN_RELAY "$@"; }
mask_of() { printf '%x' $((1 << $1)); }
napi_threads() { # DEV: the pids of its NAPI threads (named napi/DEV-ID)
    ps -e -o pid=,comm= | awk -v p="napi/$1-" 'index($2, p) == 1 { print $1 }'
}
# Pins each end's NAPI threads to its side's CPU, SCHED_FIFO: the kernel's
# receive work of an end (the XDP program of the relay's end among it) runs
# there.  Again before each relay: attaching XDP may make new ones.
pin_napi() {
    local p n=0
    for p in $(napi_threads "$DEV_RELAY"); do
        taskset -pc "$RELAY_CPU" "$p" >/dev/null && chrt -f -p "$NAPI_PRIO" "$p" || return 1
        n=$((n + 1))
    done
    for p in $(napi_threads "$DEV_LOAD"); do
        taskset -pc "$LOAD_CPU" "$p" >/dev/null && chrt -f -p "$NAPI_PRIO" "$p" || return 1
        n=$((n + 1))
    done
    [ "$n" -ge 2 ]
}
net_stats() { # WHEN: both ends' counters (drops among them) into the work folder
    {
        echo "== $1"
        in_load ip -s link show "$DEV_LOAD"
        in_load ethtool -S "$DEV_LOAD"
        in_relay ip -s link show "$DEV_RELAY"
        in_relay ethtool -S "$DEV_RELAY"
    } >>"$W/net-stats.txt" 2>&1
}
NAPI_NOTE=""
net_up() {
    ip netns add "$NS_LOAD" && ip netns add "$NS_RELAY" || return 1
    NET_UP=1
    # QUEUES queues each way: veth's ring per queue holds 256 packets and
    # drops what does not fit; the load keeps fewer in flight (OUTSTANDING).
    ip link add "$DEV_LOAD" netns "$NS_LOAD" numtxqueues "$QUEUES" numrxqueues "$QUEUES" type veth \
        peer name "$DEV_RELAY" netns "$NS_RELAY" numtxqueues "$QUEUES" numrxqueues "$QUEUES" &&
        ip -n "$NS_LOAD" addr add "$LOAD_IP/24" dev "$DEV_LOAD" &&
        ip -n "$NS_RELAY" addr add "$RELAY_IP/24" dev "$DEV_RELAY" &&
        ip -n "$NS_LOAD" link set lo up && ip -n "$NS_RELAY" link set lo up &&
        ip -n "$NS_LOAD" link set "$DEV_LOAD" up && ip -n "$NS_RELAY" link set "$DEV_RELAY" up ||
        return 1
    # Each end knows the other's MAC address from the start: packets sent
    # while ARP resolves wait in the neighbour's queue (GSO bursts whole),
    # then leave at once, more than the peer's ring holds.
    local mac_load mac_relay
    mac_load=$(ip -n "$NS_LOAD" -br link show "$DEV_LOAD" | awk '{ print $3 }')
    mac_relay=$(ip -n "$NS_RELAY" -br link show "$DEV_RELAY" | awk '{ print $3 }')
    ip -n "$NS_LOAD" neigh replace "$RELAY_IP" lladdr "$mac_relay" dev "$DEV_LOAD" nud permanent &&
        ip -n "$NS_RELAY" neigh replace "$LOAD_IP" lladdr "$mac_load" dev "$DEV_RELAY" nud permanent ||
        return 1
    # GRO on gives each end NAPI (native XDP's XDP_TX needs it at the peer).
    in_load ethtool -K "$DEV_LOAD" gro on >/dev/null 2>&1 &&
        in_relay ethtool -K "$DEV_RELAY" gro on >/dev/null 2>&1 || return 1
    # veth hands a packet to the peer's NAPI (GRO, XDP) only if the sending
    # end cannot make TSO packets (or XDP is attached, which turns TSO off at
    # the peer); else it goes the backlog way, in softirq on the sending CPU
    # or where RPS sends it.  TSO off at both ends: every packet takes the
    # NAPI way, with an XDP program or without.
    tso_off() { # IN_NS DEV (tx-tcp-accecn-segmentation: on newer kernels only)
        $1 ethtool -K "$2" tso off tx-tcp-accecn-segmentation off >/dev/null 2>&1 ||
            $1 ethtool -K "$2" tso off >/dev/null 2>&1
    }
    tso_off "$IN_LOAD" "$DEV_LOAD" && tso_off "$IN_RELAY" "$DEV_RELAY" || return 1
    # The load's GSO bursts (see the README) are split into datagrams before
    # they leave its end, by the load's core, whatever the relay does: else
    # veth hands the relay's end one skb per burst and the relay's core
    # splits it (not with XDP attached, which turns GSO off at the peer).
    in_load ethtool -K "$DEV_LOAD" tx-udp-segmentation off >/dev/null 2>&1 || return 1
    # Where an end's receive work runs (see the README): in its NAPI
    # thread, pinned to its side's CPU; else (no threaded NAPI) NAPI runs in
    # softirq on the CPU that sent to the end, the relay end's GRO and XDP on
    # the load core, and RPS moves the rest of the stack to the side's CPU.
    # Not both: RPS to the CPU NAPI already runs on queues every packet once
    # more (the backlog, a NET_RX softirq) for nothing.
    if ip netns exec "$NS_LOAD" sh -c "echo 1 > /sys/class/net/$DEV_LOAD/threaded" 2>/dev/null &&
        ip netns exec "$NS_RELAY" sh -c "echo 1 > /sys/class/net/$DEV_RELAY/threaded" 2>/dev/null &&
        pin_napi; then
        NAPI_NOTE="threaded NAPI, the relay end's thread on CPU $RELAY_CPU, the load end's on CPU $LOAD_CPU (SCHED_FIFO $NAPI_PRIO), no RPS"
    else
        ip netns exec "$NS_LOAD" sh -c "for q in /sys/class/net/$DEV_LOAD/queues/rx-*; do echo $(mask_of "$LOAD_CPU") > \$q/rps_cpus || exit 1; done" &&
            ip netns exec "$NS_RELAY" sh -c "for q in /sys/class/net/$DEV_RELAY/queues/rx-*; do echo $(mask_of "$RELAY_CPU") > \$q/rps_cpus || exit 1; done" ||
            return 1
        NAPI_NOTE="no threaded NAPI here: NAPI (GRO; XDP at the relay's end) runs on the CPU that sent to an end, RPS moves the rest to the end's side's CPU"
    fi
    return 0
}
# The relay's end forwards IPv4: rtprelayd's kernel fast path finds the next
# hop through the kernel's forwarding lookup (rtprelayd(8), Kernel fast path).
# The userspace relays do not notice.
net_forward() { ip netns exec "$NS_RELAY" sysctl -q -w "net.ipv4.conf.$DEV_RELAY.forwarding=1"; }
# RTFARM_MEDIA_COALESCE_US=T: both ends coalesce their receive wake-ups in
# software, as a NIC's interrupt moderation does (NAPI's napi_defer_hard_irqs
# and gro_flush_timeout: after a poll the end stays masked and polls again T
# µs later, twice, before a packet must wake it): at the fixed rate one
# wake-up then serves the packets of up to T µs. 0 (the default): every
# packet wakes its end. test/bench/README.md has figures of both.
COALESCE_US=${RTFARM_MEDIA_COALESCE_US:-0}
net_coalesce() {
    [ "$COALESCE_US" -gt 0 ] || return 0
    ip netns exec "$NS_LOAD" sh -c "echo 2 > /sys/class/net/$DEV_LOAD/napi_defer_hard_irqs && echo $((COALESCE_US * 1000)) > /sys/class/net/$DEV_LOAD/gro_flush_timeout" &&
        ip netns exec "$NS_RELAY" sh -c "echo 2 > /sys/class/net/$DEV_RELAY/napi_defer_hard_irqs && echo $((COALESCE_US * 1000)) > /sys/class/net/$DEV_RELAY/gro_flush_timeout"
}
net_up && net_forward && net_coalesce || cannot "cannot set up the namespaces and veth pair: $(ip netns 2>&1 | head -2)"

# ------------------------------------------------------------ ports
# Fresh namespaces: nothing else binds there.  rtprelayd's range lies below
# the kernel's ephemeral ports.
RELAY_LO=20000
TRIVIAL_BASE=30000          # trivial_relay: 2 ports per call
RTPE_LO=31000               # rtpengine: 4 ports per call, for both loads
RTPE_HI=$((RTPE_LO + 2999)) # (the first load's ports are not free at once)
NG_PORT=35000               # rtpengine's ng control
SIP_PORT=35100              # in rtprelayd's config only (a member must have them)
GEN_PORTS=40000             # the load: caller RTP, RTCP, callee RTP, RTCP
MEM_PORTS=$((GEN_PORTS + 4)) # the same for the memory measurement

# ------------------------------------------------------------ configs
write_config() { # FILE FAST_PATH ("" leaves the key out): one standalone member in the relay namespace
    local fp=""
    [ -z "$2" ] || fp="\"media_fast_path\": \"$2\","
    cat >"$1" <<EOF
{
  "cluster": {"name": "media-bench", "wan_ip": "$RELAY_IP"},
  "members": {
    "f1": {
      "role": "standalone",
      "address": "$RELAY_IP",
      "sip_listen": ["$RELAY_IP:$SIP_PORT"],
      "processor": "$RELAY_IP:$((SIP_PORT + 1))",
      "media_ports": "$RELAY_LO-$((RELAY_LO + RANGE - 1))",
      $fp
      "control": "$W/f1.sock",
      "media_control": "$W/f1-media.sock"
    }
  }
}
EOF
}
check_config() { "$RTPRELAYD" --config "$1" --member f1 --check-config 2>&1; }

# The userspace row: "off" where rtprelayd knows the key, else without it
# (off is its default).
declare -A SKIPPED        # relay -> why it was not measured (not a failure)
declare -A NOT_MEASURABLE # relay -> why it could not be driven (a failure)
FAST_KEY=known
write_config "$W/user.json" off
if ! out=$(check_config "$W/user.json"); then
    if printf '%s' "$out" | grep -q 'media_fast_path.*unknown key'; then
        FAST_KEY=unknown
        write_config "$W/user.json" ""
        out=$(check_config "$W/user.json") || fail "rtprelayd refuses the bench's config: $out"
    else
        fail "rtprelayd refuses the bench's config: $out"
    fi
fi
write_config "$W/kernel.json" required
if [ "$FAST_KEY" = unknown ]; then
    SKIPPED[rtprelayd-kernel]="not available: this rtprelayd has no fast path (its config check: $(check_config "$W/kernel.json" | grep -o 'members[.a-z0-9_]*media_fast_path: unknown key'))"
elif ! out=$(check_config "$W/kernel.json"); then
    SKIPPED[rtprelayd-kernel]="not available: rtprelayd refuses \"media_fast_path\": \"required\": $(printf '%s' "$out" | head -1)"
fi

# ------------------------------------------------------------ relays
# The command of each relay (for the summary), and what starts it; each runs
# in the relay namespace.
declare -A RELAY_CMD
RELAY_CMD[rtprelayd]="$RTPRELAYD --config $W/user.json --member f1 --log-level info"
RELAY_CMD[rtprelayd-kernel]="$RTPRELAYD --config $W/kernel.json --member f1 --log-level info"
RELAY_CMD[rtprelayd-memory]="$RTPRELAYD --config $W/user.json --member f1 --log-level info"
RELAY_CMD[rtpengine]="rtpengine --config-file=none --table=-1 --foreground --log-stderr --log-level=6 --interface=$RELAY_IP --listen-ng=$RELAY_IP:$NG_PORT --port-min=$RTPE_LO --port-max=$RTPE_HI --num-threads=1"
RELAY_CMD[trivial]="$W/trivial_relay --listen $RELAY_IP:$TRIVIAL_BASE --pairs $CALLS --caller $LOAD_IP:$GEN_PORTS --callee $LOAD_IP:$((GEN_PORTS + 2))"
relay_cmd() { echo "${RELAY_CMD[$1]}"; }

# Waits for the readiness line on a fifo that the relay writes to fd 3.
wait_ready() { # FIFO
    local line=""
    read -r -t 5 line <"$1"
}
start_relay() { # NAME LOGNAME: 0 ready, 1 not (the reason in $W/LOGNAME.log)
    local log=$W/$2.log cmd
    cmd=$(relay_cmd "$1")
    pin_napi >/dev/null 2>&1
    rm -f "$W/ready"
    mkfifo "$W/ready"
    case $1 in
    rtprelayd | rtprelayd-kernel | rtprelayd-memory | trivial)
        # nsenter, chrt and taskset exec: $! is the relay.
        # shellcheck disable=SC2086 # a command and its options
        $IN_RELAY $RELAY_PRIO taskset -c "$RELAY_CPU" $cmd --notify-fd 3 3>"$W/ready" 2>>"$log" &
        RELAY_PID=$!
        wait_ready "$W/ready" || return 1
        ;;
    rtpengine)
        # shellcheck disable=SC2086
        $IN_RELAY $RELAY_PRIO taskset -c "$RELAY_CPU" $cmd 2>>"$log" &
        RELAY_PID=$!
        # Its readiness: the log line after every socket is bound.
        for _ in $(seq 100); do
            grep -q 'Startup complete' "$log" 2>/dev/null && break
            kill -0 "$RELAY_PID" 2>/dev/null || return 1
            sleep 0.05
        done
        grep -q 'Startup complete' "$log" 2>/dev/null || return 1
        ;;
    esac
    pin_napi >/dev/null 2>&1 # attaching XDP may have made new NAPI threads
    return 0
}
stop_relay() {
    # shellcheck disable=SC2086 # empty or one pid
    stop_pids TERM $RELAY_PID
    RELAY_PID=""
}
control_of() { # how rtpstorm reaches the relay's control
    case $1 in
    rtprelayd | rtprelayd-kernel) echo "--control $W/f1-media.sock" ;;
    rtpengine) echo "--ng $RELAY_IP:$NG_PORT" ;;
    trivial) echo "--trivial $RELAY_IP:$TRIVIAL_BASE" ;;
    esac
}
STORM=$W/rtpstorm
storm() { # ARGS...: rtpstorm in the load namespace, on the load core
    # shellcheck disable=SC2086 # a command and its options
    $IN_LOAD $LOAD_PRIO timeout -k 2 60 taskset -c "$LOAD_CPU" "$STORM" "$@"
}
storm_args() { # RELAY LOAD: the load (the relay's pid and core added by the caller)
    local how
    case $2 in
    sat) how="--inflight $INFLIGHT --burst $BURST --max-outstanding $OUTSTANDING" ;;
    rate) how="--rate $RATE" ;;
    esac
    # shellcheck disable=SC2046,SC2086 # options
    echo $(control_of "$1") --ip "$LOAD_IP" --ports "$GEN_PORTS" --calls "$CALLS" $how \
        --warmup "$WARMUP" --duration "$WINDOW" --timeout-ms 2000
}
relayd_stats() { "$STORM" --control "$W/f1-media.sock" --stats --timeout-ms 2000 2>/dev/null; }
json_num() { # KEY JSON: the first number under "KEY"
    printf '%s\n' "$2" | grep -o "\"$1\":[0-9]*" | head -1 | cut -d: -f2
}
# running.fast_path's "path" (and "mode") in rtprelayd's stats: a string
# member of the fast_path object before any object nested in it; empty when
# the stats have no fast_path (an rtprelayd without one), so the kernel row
# is skipped rather than measured on a guess.
fast_path_of() { # KEY JSON
    printf '%s\n' "$2" | grep -o '"fast_path":{[^{}]*' | head -1 | grep -o "\"$1\":\"[^\"]*\"" | head -1 | cut -d'"' -f4
}

# ------------------------------------------------------------ measuring
kv() { # KEY LINE: the value of KEY=... in a line of key=value words
    printf '%s\n' "$2" | tr ' ' '\n' | awk -F= -v k="$1" '$1 == k { print $2; exit }'
}
median() {
    printf '%s\n' "$@" | grep -v '^nan$' | sort -g |
        awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print "nan" }'
}
per_core() { awk -v t="$1" -v m="$2" -v hz="$HZ" 'BEGIN { if (t > 0 && m > 0) printf "%.0f", m * hz / t; else print "nan" }'; }
us_per_pkt() { awk -v t="$1" -v m="$2" -v hz="$HZ" 'BEGIN { if (m > 0 && t > 0) printf "%.2f", t * 1e6 / hz / m; else print "nan" }'; }
share() { awk -v t="$1" -v s="$2" -v hz="$HZ" 'BEGIN { if (s > 0) printf "%.0f", 100 * t / hz / s; else print "nan" }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "nan" && b != "nan" && b > 0) printf "%.2f", a / b; else print "nan" }'; }
record() { printf '%s\n' "$*" >>"$W/results"; }
core_busy() { # the relay core's busy ticks so far, and its nice ticks
    awk -v c="cpu$RELAY_CPU" '$1 == c { print $2 + $3 + $4 + $7 + $8 + $9, $3; exit }' /proc/stat
}

# ------------------------------------------------------------ build
g++ -O2 -std=c++20 -Wall -Wextra -Wshadow -Werror -o "$STORM" "$BENCH/rtpstorm.cpp" 2>"$W/build-rtpstorm.log" &
b1=$!
g++ -O2 -std=c++20 -Wall -Wextra -Wshadow -Werror -o "$W/trivial_relay" "$BENCH/trivial_relay.cpp" 2>"$W/build-trivial.log" &
b2=$!
wait "$b1" || fail "cannot build rtpstorm: $(head -5 "$W/build-rtpstorm.log")"
wait "$b2" || fail "cannot build trivial_relay: $(head -5 "$W/build-trivial.log")"

say "work folder $W; relay CPU $RELAY_CPU, load CPU $LOAD_CPU"
say "namespaces $NS_LOAD ($DEV_LOAD $LOAD_IP/24) and $NS_RELAY ($DEV_RELAY $RELAY_IP/24), veth, GRO on; $NAPI_NOTE"
say "$("$RTPRELAYD" --version 2>/dev/null | head -1); $(rtpengine --version 2>&1 | head -1)"
say "relays run under '$RELAY_PRIO', the load under '$LOAD_PRIO'"

# ------------------------------------------------------------ idle baseline
# The relay core's busy time with no relay and no load: what the machine
# does there anyway (other work, timers).  Printed, subtracted from nothing.
read -r b0 n0 < <(core_busy)
sleep 1
read -r b1 n1 < <(core_busy)
BASE_TICKS=$((b1 - b0))
BASE_PCT=$(share "$BASE_TICKS" 1)
BASE_NICE_PCT=$(share $((n1 - n0)) 1)
say "relay core idle baseline: $BASE_TICKS ticks busy in 1 s (${BASE_PCT}%, of which ${BASE_NICE_PCT}% nice; $HZ ticks/s)"

# ------------------------------------------------------------ kernel path probe
problems=0
problem() {
    say "problem: $*"
    problems=$((problems + 1))
}
case " $RELAYS " in *" rtprelayd-kernel "*) ;; *) SKIPPED[rtprelayd-kernel]="not asked for (RTFARM_MEDIA_RELAYS)" ;; esac
if [ -z "${SKIPPED[rtprelayd-kernel]:-}" ]; then
    # Does rtprelayd start with "required", and do its stats say the kernel
    # path?  The probe's log is not scanned for warnings: a refusal is one.
    if ! start_relay rtprelayd-kernel probe-kernel; then
        SKIPPED[rtprelayd-kernel]="not available: rtprelayd with \"media_fast_path\": \"required\" does not start: $(grep -m1 'level=error' "$W/probe-kernel.log" || tail -1 "$W/probe-kernel.log")"
    else
        st=$(relayd_stats)
        path=$(fast_path_of path "$st")
        if [ -z "$path" ]; then
            SKIPPED[rtprelayd-kernel]="not available: rtprelayd's stats have no running.fast_path"
        elif [ "$path" != kernel ]; then
            SKIPPED[rtprelayd-kernel]="not available: rtprelayd's stats say fast_path path \"$path\" (mode \"$(fast_path_of mode "$st")\")"
        fi
    fi
    stop_relay
fi
[ -z "${SKIPPED[rtprelayd-kernel]:-}" ] || say "rtprelayd kernel path: skipped: ${SKIPPED[rtprelayd-kernel]}"

# ------------------------------------------------------------ throughput
order=""
for relay in $RELAYS; do
    [ -z "${SKIPPED[$relay]:-}" ] && order="$order $relay"
done
order=${order# }
for round in $(seq "$ROUNDS"); do
    for relay in $order; do
        [ -z "${NOT_MEASURABLE[$relay]:-}" ] || continue
        if ! start_relay "$relay" "$relay-$round"; then
            NOT_MEASURABLE[$relay]="does not start: $(tail -1 "$W/$relay-$round.log")"
            stop_relay
            continue
        fi
        for load in $LOADS; do
            st0=""
            case $relay in rtprelayd | rtprelayd-kernel) st0=$(relayd_stats) ;; esac
            # shellcheck disable=SC2046 # options
            kt=""
            for p in $(napi_threads "$DEV_RELAY"); do kt="$kt --kthread-pid $p"; done
            # shellcheck disable=SC2046,SC2086 # options
            out=$(storm $(storm_args "$relay" "$load") --relay-pid "$RELAY_PID" --relay-cpu "$RELAY_CPU" $kt \
                2>"$W/storm-$relay-$load-$round.err")
            rc=$?
            net_stats "round $round $relay $load"
            err=$(head -3 "$W/storm-$relay-$load-$round.err" | tr '\n' ' ' | sed 's/ *$//')
            extra=""
            if [ -n "$st0" ]; then
                # Its own count of packets relayed, over this load's run.
                st=$(relayd_stats)
                p0=$(json_num packets "$st0") p1=$(json_num packets "$st")
                extra="relayd_packets=$((${p1:-0} - ${p0:-0})) relayd_send_failed=$(json_num send_failed "$st") fast_path=$(fast_path_of path "$st")"
                if [ "$relay" = rtprelayd-kernel ] && [ "$(fast_path_of path "$st")" != kernel ]; then
                    problem "round $round $relay $load: stats say fast_path path \"$(fast_path_of path "$st")\" after the load"
                fi
            fi
            if [ -z "$out" ] || [ -z "$(kv window_pkts "$out")" ]; then
                # Nothing measured: the calls could not be set up (the reason
                # is on rtpstorm's stderr).
                why=${err#rtpstorm: }
                say "round $round $relay $load: not measurable: ${why:-rtpstorm exit $rc}"
                NOT_MEASURABLE[$relay]=${why:-rtpstorm exit $rc}
                break
            fi
            record "tp $relay $load $round rc=$rc $out $extra"
            ticks=$(kv relay_ticks "$out")
            core=$(kv core_ticks "$out")
            nice_t=$(kv core_nice_ticks "$out")
            attr=$((ticks + $(kv kthread_ticks "$out") + $(kv core_irq_ticks "$out")))
            pkts=$(kv window_pkts "$out")
            secs=$(kv window_s "$out")
            say "round $round $relay $load: $pkts packets relayed in ${secs}s ($(kv window_pps "$out")/s); relay core $(per_core "$core" "$pkts") pkts/CPU-s ($(us_per_pkt "$core" "$pkts") µs/pkt, busy $(share "$core" "$secs")%, nice $(share "$nice_t" "$secs")%), relay+kernel $(per_core "$attr" "$pkts") pkts/CPU-s ($(us_per_pkt "$attr" "$pkts") µs/pkt), process $(per_core "$ticks" "$pkts") pkts/CPU-s ($(share "$ticks" "$secs")%); load idle $(kv gen_idle_pct "$out")%; lost $(kv lost "$out"), damaged $(kv corrupt "$out"), misrouted $(kv misrouted "$out")"
            if [ -n "$kt" ] && [ "$(kv kthread_ticks "$out")" = 0 ] && [ "$load" = sat ]; then
                say "note: round $round $relay sat: the relay end's NAPI threads got no CPU in the window: the kernel's receive work ran elsewhere (not on the relay core)"
            fi
            if [ "$rc" != 0 ]; then
                problem "round $round $relay $load: rtpstorm exit $rc (packets lost or damaged, or a request failed): $err"
            fi
            if [ "$load" = rate ]; then
                sent=$(kv window_sent_pps "$out")
                awk -v s="$sent" -v r="$RATE" 'BEGIN { exit !(s < 0.95 * r) }' &&
                    say "note: round $round $relay rate: the load sent only $sent packets/s of $RATE (fell behind its clock by up to $(kv max_lag_ms "$out") ms)"
            fi
            if [ "$relay" = rtprelayd ] && [ -n "$extra" ] && [ "$(kv relayd_packets "$extra")" != "$(kv received "$out")" ]; then
                problem "round $round rtprelayd $load counted $(kv relayd_packets "$extra") packets relayed, the load received $(kv received "$out")"
            fi
        done
        stop_relay
    done
    order="${order#* } ${order%% *}" # rotate: each relay goes first in turn
done

# Medians per relay and load: PPS (per relay-core CPU second), US (core
# CPU-µs per packet), PPS_A/US_A the same for relay+kernel (the process,
# the relay end's NAPI threads, the core's irq and softirq), PPS_P/US_P for
# the process, SHARE_C/SHARE_N/SHARE_P (busy, nice and process share of the
# window), IDLE (the load's), RECV (packets/s received).
declare -A PPS US US_A PPS_A PPS_P US_P SHARE_C SHARE_N SHARE_P IDLE RECV
for relay in $RELAYS; do
    for load in $LOADS; do
        k=$relay/$load
        pps="" usl="" usa="" ppsa="" ppsp="" sc="" sn="" sp="" idle="" recv=""
        while read -r line; do
            t=$(kv relay_ticks "$line") c=$(kv core_ticks "$line") n=$(kv core_nice_ticks "$line")
            a=$((t + $(kv kthread_ticks "$line") + $(kv core_irq_ticks "$line")))
            p=$(kv window_pkts "$line") s=$(kv window_s "$line")
            pps="$pps $(per_core "$c" "$p")"
            usl="$usl $(us_per_pkt "$c" "$p")"
            usa="$usa $(us_per_pkt "$a" "$p")"
            ppsa="$ppsa $(per_core "$a" "$p")"
            sn="$sn $(share "$n" "$s")"
            ppsp="$ppsp $(per_core "$t" "$p")"
            sc="$sc $(share "$c" "$s")"
            sp="$sp $(share "$t" "$s")"
            idle="$idle $(kv gen_idle_pct "$line")"
            recv="$recv $(kv window_pps "$line")"
        done < <(awk -v r="$relay" -v l="$load" '$1 == "tp" && $2 == r && $3 == l' "$W/results" 2>/dev/null)
        # shellcheck disable=SC2086 # lists of numbers
        {
            PPS[$k]=$(median $pps)
            US[$k]=$(median $usl)
            US_A[$k]=$(median $usa)
            PPS_A[$k]=$(median $ppsa)
            SHARE_N[$k]=$(median $sn)
            PPS_P[$k]=$(median $ppsp)
            US_P[$k]=$(awk -v p="${PPS_P[$k]}" 'BEGIN { if (p == p + 0 && p > 0) printf "%.2f", 1e6 / p; else print "nan" }')
            SHARE_C[$k]=$(median $sc)
            SHARE_P[$k]=$(median $sp)
            IDLE[$k]=$(median $idle)
            RECV[$k]=$(median $recv)
        }
    done
done

# ------------------------------------------------------------ memory
MEM_LINE=""
MEM_BYTES=nan
MEM_CMD="rtpstorm --control $W/f1-media.sock --ip $LOAD_IP --ports $MEM_PORTS --calls $MEM_SESSIONS --packets $MEM_PACKETS --max-outstanding $OUTSTANDING --keep --timeout-ms 2000"
memory() {
    local log=rtprelayd-memory err=$W/storm-memory.err rc rss0 rss1 st sessions out
    start_relay rtprelayd-memory "$log" || {
        problem "memory: rtprelayd does not start: $(tail -1 "$W/$log.log")"
        return 1
    }
    rss0=$(awk '/^VmRSS:/ { print $2 }' "/proc/$RELAY_PID/status")
    out=$(storm --control "$W/f1-media.sock" --ip "$LOAD_IP" --ports "$MEM_PORTS" --calls "$MEM_SESSIONS" \
        --packets "$MEM_PACKETS" --max-outstanding "$OUTSTANDING" --keep --timeout-ms 2000 2>"$err")
    rc=$?
    rss1=$(awk '/^VmRSS:/ { print $2 }' "/proc/$RELAY_PID/status")
    st=$(relayd_stats)
    stop_relay
    printf '%s\n' "$st" >"$W/memory-stats.json"
    net_stats memory
    sessions=$(json_num sessions "$st")
    record "mem rtprelayd rc=$rc rss0_kb=$rss0 rss1_kb=$rss1 sessions=$sessions $out"
    MEM_LINE="VmRSS $rss0 kB -> $rss1 kB with ${sessions:-?} sessions ($((MEM_SESSIONS * 4)) ports of $RANGE)"
    say "memory: rtprelayd $MEM_LINE; $MEM_PACKETS RTP packets and 1 RTCP each way per session, $(kv received "$out") + $(kv rtcp_received "$out") back"
    if [ "$rc" != 0 ]; then
        problem "memory: rtpstorm exit $rc: $(head -3 "$err" | tr '\n' ' ')"
        return 1
    fi
    if [ "$sessions" != "$MEM_SESSIONS" ]; then
        problem "memory: rtprelayd holds ${sessions:-?} sessions, not $MEM_SESSIONS"
        return 1
    fi
    MEM_BYTES=$(awk -v a="$rss0" -v b="$rss1" -v n="$MEM_SESSIONS" 'BEGIN { printf "%.0f", (b - a) * 1024 / n }')
    return 0
}
case " $RELAYS " in
*" rtprelayd "*)
    if [ -n "${NOT_MEASURABLE[rtprelayd]:-}" ]; then
        say "memory: skipped (rtprelayd not measurable)"
    else
        memory
    fi
    ;;
*) say "memory: skipped (rtprelayd not asked for)" ;;
esac

# ------------------------------------------------------------ problems
for relay in "${!NOT_MEASURABLE[@]}"; do
    problem "$relay: not measurable: ${NOT_MEASURABLE[$relay]}"
done
# Not problems of rtprelayd: the drain deadline when it is stopped with its
# 2500 sessions on purpose.
expected='drain deadline passed'
for log in "$W"/rtprelayd*.log; do
    [ -f "$log" ] || continue
    n=$(grep 'level=error\|level=warn' "$log" | grep -vc "$expected")
    if [ "$n" != 0 ]; then
        problem "$n warn/error lines in $(basename "$log"); the first: $(grep 'level=error\|level=warn' "$log" | grep -v "$expected" | head -1)"
    fi
done
for log in "$W"/rtpengine*.log; do
    [ -f "$log" ] || continue
    n=$(grep -c 'WARNING:\|ERR:\|CRIT:\|ALERT:\|EMERG:' "$log")
    if [ "$n" != 0 ]; then
        problem "$n warning/error lines in $(basename "$log"); the first: $(grep -m1 'WARNING:\|ERR:\|CRIT:\|ALERT:\|EMERG:' "$log")"
    fi
done
elapsed=$(($(date +%s) - T_START))

# ------------------------------------------------------------ summary
label() {
    case $1 in
    rtprelayd) echo "rtprelayd, userspace" ;;
    rtprelayd-kernel) echo "rtprelayd, kernel fast path (XDP)" ;;
    rtpengine) echo "rtpengine, userspace, 1 thread" ;;
    trivial) echo "trivial relay (recvmmsg/sendmmsg)" ;;
    esac
}
load_label() {
    case $1 in
    sat) echo "saturation: closed loop, $INFLIGHT in flight per call and direction (GSO bursts of $BURST)" ;;
    rate) echo "fixed rate: $RATE packets/s in all ($(awk -v r="$RATE" -v c="$CALLS" 'BEGIN { printf "%.0f", r / c / 2 }')/s per call and direction), one datagram per send" ;;
    esac
}
cpu_model=$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)
echo
echo "rtfarm media bench: veth between two network namespaces; relay core CPU = busy jiffies of cpu$RELAY_CPU in /proc/stat (user+nice+system+irq+softirq+steal), process CPU = the relay's utime+stime"
echo "$CALLS calls, RTP both ways, 172-byte packets; ${WINDOW}s windows, median of $ROUNDS rounds"
echo "relay on CPU $RELAY_CPU, load on CPU $LOAD_CPU; $ncpu CPUs, $cpu_model; $NAPI_NOTE$([ "$COALESCE_US" -gt 0 ] && echo "; receive wake-ups coalesced over $COALESCE_US µs (RTFARM_MEDIA_COALESCE_US)")"
echo "relay core idle baseline: ${BASE_PCT}% busy ($BASE_TICKS of $HZ ticks in 1 s; ${BASE_NICE_PCT}% nice), included in every figure (nothing subtracted)"
echo "'nice': the relay core's time in tasks at nice > 0 (none of the bench's: other work on the host); 'r+k µs/pkt': the relay process + the relay end's NAPI threads + the core's irq and softirq, which other work on the core does not inflate"
for load in $LOADS; do
    echo
    load_label "$load"
    printf '%-34s | %8s | %11s | %11s | %9s | %5s | %10s | %9s | %11s | %9s\n' "relay" "recv/s" "pkts/core-s" "core µs/pkt" "core busy" "nice" "r+k µs/pkt" "proc busy" "proc µs/pkt" "load idle"
    for relay in $RELAYS; do
        k=$relay/$load
        if [ -n "${SKIPPED[$relay]:-}" ]; then
            printf '%-34s | skipped: %s\n' "$(label "$relay")" "${SKIPPED[$relay]}"
        elif [ -n "${NOT_MEASURABLE[$relay]:-}" ]; then
            printf '%-34s | not measurable: %s\n' "$(label "$relay")" "${NOT_MEASURABLE[$relay]}"
        else
            printf '%-34s | %8s | %11s | %11s | %8s%% | %4s%% | %10s | %8s%% | %11s | %8s%%\n' "$(label "$relay")" \
                "${RECV[$k]}" "${PPS[$k]}" "${US[$k]}" "${SHARE_C[$k]}" "${SHARE_N[$k]}" "${US_A[$k]}" "${SHARE_P[$k]}" "${US_P[$k]}" "${IDLE[$k]}"
        fi
    done
done
echo
goal() { awk -v v="$1" -v t="$2" -v op="$3" 'BEGIN { if (v == "nan" || v == "") print "unknown"; else print ((op == ">=" ? v >= t : v <= t) ? "met" : "NOT met") }'; }
echo "ratios of packets per relay-core CPU second (at the fixed rate: the inverse ratio of core CPU-µs per packet); goals printed, not enforced:"
for load in $LOADS; do
    for pair in "rtprelayd-kernel rtpengine 5" "rtprelayd-kernel trivial 3" "rtprelayd rtpengine 2" "rtprelayd trivial 0.6"; do
        # shellcheck disable=SC2086 # three words
        set -- $pair
        r=$(ratio "${PPS[$1/$load]:-nan}" "${PPS[$2/$load]:-nan}")
        ra=$(ratio "${PPS_A[$1/$load]:-nan}" "${PPS_A[$2/$load]:-nan}")
        printf '  %-4s %-16s / %-9s = %5s; goal >= %s: %-7s (relay+kernel: %5s, %s)\n' "$load" "$1" "$2" \
            "$r" "$3" "$(goal "$r" "$3" '>=')" "$ra" "$(goal "$ra" "$3" '>=')"
    done
done
echo "memory: rtprelayd ${MEM_LINE:-not measured}: $MEM_BYTES bytes/session, $(awk -v b="$MEM_BYTES" 'BEGIN { if (b == b + 0 && b > 0) printf "%.0f", 1073741824 / b; else print "nan" }') sessions/GiB; goal <= 2048 bytes: $(goal "$MEM_BYTES" 2048 '<=')"
echo "problems: $problems; the bench took $elapsed s"
echo "commands (in namespace $NS_RELAY: the relays under '$RELAY_PRIO taskset -c $RELAY_CPU'; in $NS_LOAD: the load under '$LOAD_PRIO taskset -c $LOAD_CPU'):"
for relay in $RELAYS; do
    echo "  $(relay_cmd "$relay")"
    for load in $LOADS; do
        echo "    $load: rtpstorm $(storm_args "$relay" "$load") --relay-pid PID --relay-cpu $RELAY_CPU"
    done
done
echo "  $(relay_cmd rtprelayd-memory)"
echo "    memory: $MEM_CMD"
echo "  this bench: RTFARM_MEDIA_ROUNDS=$ROUNDS RTFARM_MEDIA_RATE=$RATE RTFARM_MEDIA_COALESCE_US=$COALESCE_US RTFARM_BENCH_PROXY_CPU=$RELAY_CPU RTFARM_BENCH_LOAD_CPU=$LOAD_CPU $0"
[ "$problems" = 0 ] || exit 1
exit 0
