#!/usr/bin/env bash
# rtfarm media bench: rtprelayd against rtpengine (userspace, one worker
# thread) and a trivial batched relay, same load, same core.
# test/bench/README.md explains the method and the figures.
#
#   test/bench/media.sh          (as root; `make bench` runs it after run.sh)
#
# Three relays, one at a time, each pinned to the relay core:
#   rtprelayd  one standalone member, a 10000-port media range
#   rtpengine  Debian's rtpengine, --table=-1 (no kernel forwarding),
#              --num-threads=1, driven over its ng protocol
#   trivial    test/bench/trivial_relay (built here with g++): recvmmsg and
#              sendmmsg between fixed port pairs, no signalling, no latching
# and one load on the load core: test/bench/rtpstorm (built here), 200 calls
# set up through the relay's control protocol, then RTP both ways, 172-byte
# packets, in a closed loop that keeps the relay's core busy; every packet
# is checked at the far end.
# Packets/s per core = packets the relay forwarded in the window (counted
# where they arrive) / the relay's CPU time in it (utime+stime of the
# process, all threads).  Then rtprelayd's memory per session: VmRSS before
# and after 2500 sessions (4 ports each: the whole range).
#
# Environment, all optional: RTFARM_BENCH_PROXY_CPU (0: the relay core),
# RTFARM_BENCH_LOAD_CPU (1), RTFARM_MEDIA_ROUNDS (3), RTFARM_MEDIA_DEADLINE
# (150 s), RTFARM_BENCH_KEEP=1 (keep the work folder with every log and
# result), RTPRELAYD (build/bin/rtprelayd).
#
# Exit status: 0 measured (the goals are printed, not enforced); 1 a relay or
# the load failed, packets were lost or damaged, a relay logged warnings or
# errors, or the bench ran over its deadline; 2 cannot run on this host.
set -u -o pipefail
umask 022

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BENCH=$ROOT/test/bench
RTPRELAYD=${RTPRELAYD:-$ROOT/build/bin/rtprelayd}
RELAY_CPU=${RTFARM_BENCH_PROXY_CPU:-0}
LOAD_CPU=${RTFARM_BENCH_LOAD_CPU:-1}
ROUNDS=${RTFARM_MEDIA_ROUNDS:-3}
DEADLINE=${RTFARM_MEDIA_DEADLINE:-150} # the whole bench, seconds
CALLS=200       # one audio stream each, RTP both ways
INFLIGHT=16     # packets in flight per call and direction ...
BURST=16        # ... sent in bursts of this many (see README: rtpengine)
WARMUP=0.5      # load before the window, not counted
WINDOW=3        # the measured window, seconds
MEM_SESSIONS=2500
MEM_PACKETS=2   # RTP packets each way per session (and one RTCP each way)
RANGE=10000     # rtprelayd's media ports: MEM_SESSIONS * 4
RELAYS="rtprelayd rtpengine trivial"

say() { printf 'media bench: %s\n' "$*"; }
cannot() {
    printf 'media bench: cannot run: %s\n' "$*" >&2
    exit 2
}

# shellcheck source=bench_common.bash
. "$BENCH/bench_common.bash"

# ------------------------------------------------------------ preflight
[ "$(id -u)" = 0 ] || cannot "not root (chrt -f for the relays, nice -20 for the load)"
for tool in rtpengine taskset chrt g++ ss awk mkfifo timeout; do
    command -v "$tool" >/dev/null || cannot "'$tool' not found (mk/deps.sh build bench installs it)"
done
[ -x "$RTPRELAYD" ] || cannot "$RTPRELAYD not built (make programs)"
ncpu=$(nproc)
if [ "$RELAY_CPU" -ge "$ncpu" ] || [ "$LOAD_CPU" -ge "$ncpu" ] || [ "$RELAY_CPU" = "$LOAD_CPU" ]; then
    cannot "need two distinct CPUs (relay $RELAY_CPU, load $LOAD_CPU; this host has $ncpu)"
fi
HZ=$(getconf CLK_TCK)

bench_priorities relays
RELAY_PRIO=$UNDER_TEST_PRIO

W=$(mktemp -d /tmp/rtfarm-media.XXXXXX)
cd "$W" || exit 2
T_START=$(date +%s)

# ------------------------------------------------------------ processes
RELAY_PID="" # the relay now running
# shellcheck disable=SC2317 # called at exit (bench_common.bash)
bench_cleanup() {
    # shellcheck disable=SC2086 # empty or one pid
    stop_pids TERM $RELAY_PID
    RELAY_PID=""
}
bench_start "$(basename "$0" .sh) bench" "$DEADLINE"

# ------------------------------------------------------------ ports
# Two stretches of UDP ports with nothing bound in them when chosen:
# rtprelayd's range (10000), and 2000 for the trivial relay's pairs,
# rtpengine's range, the load's sockets and the ng port.  Other programs on
# the host may bind a port meanwhile: rtprelayd then takes another, and the
# memory measurement, which needs every port of the range, tries a second
# range.
range_free() { [ -z "$(ss -Haun "( sport >= :$1 and sport <= :$2 )" 2>/dev/null)" ]; }
pick_range() { # SIZE [AVOID_LO AVOID_HI]: the first of SIZE free ports in 10000-60999
    local b
    for _ in $(seq 40); do
        b=$((10000 + (RANDOM % 100) * 500))
        [ $((b + $1 - 1)) -le 60999 ] || continue
        if [ $# -ge 3 ] && [ "$b" -le "$3" ] && [ $((b + $1 - 1)) -ge "$2" ]; then continue; fi
        if range_free "$b" $((b + $1 - 1)); then
            echo "$b"
            return 0
        fi
    done
    return 1
}
RELAY_LO=$(pick_range "$RANGE") || cannot "no $RANGE free UDP ports in a row between 10000 and 60999"
SMALL=$(pick_range 2000 "$RELAY_LO" $((RELAY_LO + RANGE - 1))) ||
    cannot "no 2000 free UDP ports in a row between 10000 and 60999 besides $RELAY_LO-$((RELAY_LO + RANGE - 1))"
TRIVIAL_BASE=$SMALL              # trivial_relay: 2 ports per call
RTPE_LO=$((SMALL + 400))         # rtpengine: 4 ports per call and some spare
RTPE_HI=$((RTPE_LO + 999))
GEN_PORTS=$((SMALL + 1400))      # the load: caller RTP, RTCP, callee RTP, RTCP
MEM_PORTS=$((GEN_PORTS + 4))     # the same for the memory measurement
NG_PORT=$((GEN_PORTS + 10))      # rtpengine's ng control
SIP_PORT=$((GEN_PORTS + 12))     # in rtprelayd's config only (a member must have them)

# ------------------------------------------------------------ configs
write_config() { # FILE RANGE_LO: one standalone member, media_ports RANGE_LO and the next 9999;
    # the load runs on loopback, which rtprelayd refuses in an SDP unless media_allow lists it
    cat >"$1" <<EOF
{
  "cluster": {"name": "media-bench", "wan_ip": "127.0.0.1", "media_allow": ["127.0.0.0/8"]},
  "members": {
    "f1": {
      "role": "standalone",
      "address": "127.0.0.1",
      "sip_listen": ["127.0.0.1:$SIP_PORT"],
      "processor": "127.0.0.1:$((SIP_PORT + 1))",
      "media_ports": "$2-$(($2 + RANGE - 1))",
      "control": "$W/f1.sock",
      "media_control": "$W/f1-media.sock"
    }
  }
}
EOF
    out=$("$RTPRELAYD" --config "$1" --member f1 --check-config 2>&1) ||
        fail "rtprelayd refuses the bench's config: $out"
}
write_config "$W/cluster.json" "$RELAY_LO"

# ------------------------------------------------------------ relays
# The command of each relay (for the summary), and what starts it.
declare -A RELAY_CMD
RELAY_CMD[rtprelayd]="$RTPRELAYD --config $W/cluster.json --member f1 --log-level info"
RELAY_CMD[rtprelayd-memory]="$RTPRELAYD --config $W/memory.json --member f1 --log-level info"
RELAY_CMD[rtpengine]="rtpengine --config-file=none --table=-1 --foreground --log-stderr --log-level=6 --interface=127.0.0.1 --listen-ng=127.0.0.1:$NG_PORT --port-min=$RTPE_LO --port-max=$RTPE_HI --num-threads=1"
RELAY_CMD[trivial]="$W/trivial_relay --listen 127.0.0.1:$TRIVIAL_BASE --pairs $CALLS --caller 127.0.0.1:$GEN_PORTS --callee 127.0.0.1:$((GEN_PORTS + 2))"
relay_cmd() { echo "${RELAY_CMD[$1]}"; }

# Waits for the readiness line on a fifo that the relay writes to fd 3.
wait_ready() { # NAME FIFO LOG
    local line=""
    read -r -t 5 line <"$2" || fail "$1 not ready: $(tail -3 "$3")"
}
start_relay() { # NAME LOGNAME: the log is $W/LOGNAME.log, a new one each time
    local log=$W/$2.log cmd
    cmd=$(relay_cmd "$1")
    rm -f "$W/ready"
    mkfifo "$W/ready"
    case $1 in
    rtprelayd | rtprelayd-memory | trivial)
        # shellcheck disable=SC2086 # a command and its options
        $RELAY_PRIO taskset -c "$RELAY_CPU" $cmd --notify-fd 3 3>"$W/ready" 2>>"$log" &
        RELAY_PID=$!
        wait_ready "$1" "$W/ready" "$log"
        ;;
    rtpengine)
        # shellcheck disable=SC2086
        $RELAY_PRIO taskset -c "$RELAY_CPU" $cmd 2>>"$log" &
        RELAY_PID=$!
        # Its readiness: the log line after every socket is bound.
        for _ in $(seq 100); do
            grep -q 'Startup complete' "$log" 2>/dev/null && return 0
            kill -0 "$RELAY_PID" 2>/dev/null || break
            sleep 0.05
        done
        fail "rtpengine not ready: $(tail -3 "$log")"
        ;;
    esac
}
stop_relay() {
    # shellcheck disable=SC2086 # empty or one pid
    stop_pids TERM $RELAY_PID
    RELAY_PID=""
}
control_of() { # how rtpstorm reaches the relay's control
    case $1 in
    rtprelayd) echo "--control $W/f1-media.sock" ;;
    rtpengine) echo "--ng 127.0.0.1:$NG_PORT" ;;
    trivial) echo "--trivial 127.0.0.1:$TRIVIAL_BASE" ;;
    esac
}
STORM=$W/rtpstorm
storm() { # ARGS...: rtpstorm on the load core
    $LOAD_PRIO timeout -k 2 60 taskset -c "$LOAD_CPU" "$STORM" "$@"
}
storm_args() { # RELAY: the throughput load (the relay's pid and core added by the caller)
    # shellcheck disable=SC2046 # options
    echo $(control_of "$1") --ports "$GEN_PORTS" --calls "$CALLS" --inflight "$INFLIGHT" \
        --burst "$BURST" --warmup "$WARMUP" --duration "$WINDOW" --timeout-ms 2000
}
relayd_stats() { "$STORM" --control "$W/f1-media.sock" --stats --timeout-ms 2000 2>/dev/null; }
json_num() { # KEY JSON: the first number under "KEY"
    printf '%s\n' "$2" | grep -o "\"$1\":[0-9]*" | head -1 | cut -d: -f2
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
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == b + 0 && b > 0 && a == a + 0) printf "%.2f", a / b; else print "nan" }'; }
record() { printf '%s\n' "$*" >>"$W/results"; }

# ------------------------------------------------------------ build
g++ -O2 -std=c++20 -Wall -Wextra -Wshadow -Werror -o "$STORM" "$BENCH/rtpstorm.cpp" 2>"$W/build-rtpstorm.log" &
b1=$!
g++ -O2 -std=c++20 -Wall -Wextra -Wshadow -Werror -o "$W/trivial_relay" "$BENCH/trivial_relay.cpp" 2>"$W/build-trivial.log" &
b2=$!
wait "$b1" || fail "cannot build rtpstorm: $(head -5 "$W/build-rtpstorm.log")"
wait "$b2" || fail "cannot build trivial_relay: $(head -5 "$W/build-trivial.log")"

say "work folder $W; relay CPU $RELAY_CPU, load CPU $LOAD_CPU; UDP ports $RELAY_LO-$((RELAY_LO + RANGE - 1)) (rtprelayd), $SMALL-$((SMALL + 1999))"
say "$("$RTPRELAYD" --version 2>/dev/null | head -1); $(rtpengine --version 2>&1 | head -1)"
say "relays run under '$RELAY_PRIO', the load under '$LOAD_PRIO'"

# ------------------------------------------------------------ throughput
declare -A NOT_MEASURABLE # relay -> why it could not be driven
problems=0
problem() {
    say "problem: $*"
    problems=$((problems + 1))
}
order="$RELAYS"
for round in $(seq "$ROUNDS"); do
    for relay in $order; do
        [ -z "${NOT_MEASURABLE[$relay]:-}" ] || continue
        start_relay "$relay" "$relay-$round"
        # shellcheck disable=SC2046 # options
        out=$(storm $(storm_args "$relay") --relay-pid "$RELAY_PID" --relay-cpu "$RELAY_CPU" \
            2>"$W/storm-$relay-$round.err")
        rc=$?
        err=$(head -3 "$W/storm-$relay-$round.err" | tr '\n' ' ' | sed 's/ *$//')
        extra=""
        if [ "$relay" = rtprelayd ]; then
            # Its own count of packets relayed over the whole run.
            st=$(relayd_stats)
            extra="relayd_packets=$(json_num packets "$st") relayd_send_failed=$(json_num send_failed "$st")"
        fi
        stop_relay
        if [ -z "$out" ] || [ -z "$(kv window_pkts "$out")" ]; then
            # Nothing measured: the calls could not be set up (the reason is
            # on rtpstorm's stderr).
            why=${err#rtpstorm: }
            say "round $round $relay: not measurable: ${why:-rtpstorm exit $rc}"
            NOT_MEASURABLE[$relay]=${why:-rtpstorm exit $rc}
            continue
        fi
        record "tp $relay $round rc=$rc $out $extra"
        ticks=$(kv relay_ticks "$out")
        pkts=$(kv window_pkts "$out")
        secs=$(kv window_s "$out")
        say "round $round $relay: $pkts packets relayed in ${secs}s, $(per_core "$ticks" "$pkts") pkts/s per core ($(us_per_pkt "$ticks" "$pkts") µs CPU/pkt); relay ran $(share "$ticks" "$secs")% of the window, the load idled $(kv gen_idle_pct "$out")%; lost $(kv lost "$out"), damaged $(kv corrupt "$out"), misrouted $(kv misrouted "$out")"
        [ "$rc" = 0 ] || problem "round $round $relay: rtpstorm exit $rc: $err"
        if [ -n "$extra" ] && [ "$(kv relayd_packets "$extra")" != "$(kv received "$out")" ]; then
            problem "round $round rtprelayd counted $(kv relayd_packets "$extra") packets relayed, the load received $(kv received "$out")"
        fi
    done
    order="${order#* } ${order%% *}" # rotate: each relay goes first in turn
done

declare -A PPS US SHARE IDLE
for relay in $RELAYS; do
    pps="" sh="" idle=""
    while read -r line; do
        pps="$pps $(per_core "$(kv relay_ticks "$line")" "$(kv window_pkts "$line")")"
        sh="$sh $(share "$(kv relay_ticks "$line")" "$(kv window_s "$line")")"
        idle="$idle $(kv gen_idle_pct "$line")"
    done < <(awk -v r="$relay" '$1 == "tp" && $2 == r' "$W/results" 2>/dev/null)
    # shellcheck disable=SC2086 # lists of numbers
    {
        PPS[$relay]=$(median $pps)
        US[$relay]=$(awk -v p="${PPS[$relay]}" 'BEGIN { if (p == p + 0 && p > 0) printf "%.2f", 1e6 / p; else print "nan" }')
        SHARE[$relay]=$(median $sh)
        IDLE[$relay]=$(median $idle)
    }
done

# ------------------------------------------------------------ memory
# The sessions take the whole range, so a port that another program binds
# meanwhile leaves the last one without a pair: then once more, in another
# free range.
MEM_LINE=""
MEM_BYTES=nan
MEM_CMD=""
memory_attempt() { # N RANGE_LO GEN_PORTS: 0 measured, 1 failed, 3 a port was taken by another program
    local log=rtprelayd-memory-$1 err=$W/storm-memory-$1.err rc rss0 rss1 st sessions out
    write_config "$W/memory.json" "$2"
    start_relay rtprelayd-memory "$log"
    MEM_CMD="rtpstorm --control $W/f1-media.sock --ports $3 --calls $MEM_SESSIONS --packets $MEM_PACKETS --keep --timeout-ms 2000"
    rss0=$(awk '/^VmRSS:/ { print $2 }' "/proc/$RELAY_PID/status")
    out=$(storm --control "$W/f1-media.sock" --ports "$3" --calls "$MEM_SESSIONS" \
        --packets "$MEM_PACKETS" --keep --timeout-ms 2000 2>"$err")
    rc=$?
    rss1=$(awk '/^VmRSS:/ { print $2 }' "/proc/$RELAY_PID/status")
    st=$(relayd_stats)
    stop_relay
    sessions=$(json_num sessions "$st")
    record "mem rtprelayd $1 rc=$rc rss0_kb=$rss0 rss1_kb=$rss1 sessions=$sessions $out"
    if [ "$rc" != 0 ] && grep -q ports_exhausted "$err" &&
        grep -q 'port refused by the kernel' "$W/$log.log"; then
        say "memory: another program bound a port of $2-$(($2 + RANGE - 1)) meanwhile: $(grep -m1 'port refused by the kernel' "$W/$log.log" | grep -o 'err=.*')"
        return 3
    fi
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
if [ -n "${NOT_MEASURABLE[rtprelayd]:-}" ]; then
    say "memory: skipped (rtprelayd not measurable)"
else
    memory_attempt 1 "$RELAY_LO" "$MEM_PORTS"
    if [ $? = 3 ]; then
        if lo2=$(pick_range "$RANGE" "$SMALL" $((SMALL + 1999))); then
            memory_attempt 2 "$lo2" "$MEM_PORTS"
            [ $? != 3 ] || problem "memory: ports of the range taken by another program, twice"
        else
            problem "memory: no other $RANGE free UDP ports in a row"
        fi
    fi
fi

# ------------------------------------------------------------ problems
for relay in "${!NOT_MEASURABLE[@]}"; do
    problem "$relay: not measurable: ${NOT_MEASURABLE[$relay]}"
done
# Not problems of rtprelayd: the drain deadline when it is stopped with its
# 2500 sessions on purpose, ports that another program had bound, and the
# start-up warning that the range (picked where ports are free on this host)
# is among the kernel's ephemeral ports.
expected='drain deadline passed\|port refused by the kernel\|ephemeral ports'
for log in "$W"/rtprelayd*.log; do
    [ -f "$log" ] || continue
    n=$(grep 'level=error\|level=warn' "$log" | grep -vc "$expected")
    if [ "$n" != 0 ]; then
        problem "$n warn/error lines in $(basename "$log"); the first: $(grep 'level=error\|level=warn' "$log" | grep -v "$expected" | head -1)"
    fi
    n=$(grep -c 'port refused by the kernel' "$log")
    [ "$n" = 0 ] || say "note: $(basename "$log" .log): the kernel refused $n binds (a port in use by another program); rtprelayd took other ports"
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
    rtprelayd) echo "rtprelayd" ;;
    rtpengine) echo "rtpengine, userspace, 1 thread" ;;
    trivial) echo "trivial relay (recvmmsg/sendmmsg)" ;;
    esac
}
cpu_model=$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)
echo
echo "rtfarm media bench: packets/s per core = RTP packets relayed / relay CPU seconds"
echo "$CALLS calls, RTP both ways, 172-byte packets, $INFLIGHT in flight per call and direction (bursts of $BURST); ${WINDOW}s windows, median of $ROUNDS rounds"
echo "relay on CPU $RELAY_CPU, load on CPU $LOAD_CPU; $ncpu CPUs, $cpu_model"
echo
printf '%-36s | %15s | %10s | %9s | %9s\n' "relay" "pkts/s per core" "µs CPU/pkt" "relay CPU" "load idle"
for relay in $RELAYS; do
    if [ -n "${NOT_MEASURABLE[$relay]:-}" ]; then
        printf '%-36s | not measurable: %s\n' "$(label "$relay")" "${NOT_MEASURABLE[$relay]}"
    else
        printf '%-36s | %15s | %10s | %8s%% | %8s%%\n' "$(label "$relay")" "${PPS[$relay]}" \
            "${US[$relay]}" "${SHARE[$relay]}" "${IDLE[$relay]}"
    fi
done
echo
goal() { awk -v v="$1" -v t="$2" -v op="$3" 'BEGIN { if (v != v + 0) print "unknown"; else print ((op == ">=" ? v >= t : v <= t) ? "met" : "NOT met") }'; }
r_engine=$(ratio "${PPS[rtprelayd]}" "${PPS[rtpengine]}")
r_trivial=$(ratio "${PPS[rtprelayd]}" "${PPS[trivial]}")
echo "ratio rtprelayd/rtpengine = $r_engine; goal >= 2: $(goal "$r_engine" 2 '>=')"
echo "ratio rtprelayd/trivial = $r_trivial; goal >= 0.6: $(goal "$r_trivial" 0.6 '>=')"
echo "memory: rtprelayd ${MEM_LINE:-not measured}: $MEM_BYTES bytes/session; goal <= 2048: $(goal "$MEM_BYTES" 2048 '<=')"
echo "problems: $problems; the bench took $elapsed s"
echo "commands (the relays under '$RELAY_PRIO taskset -c $RELAY_CPU', the load under '$LOAD_PRIO taskset -c $LOAD_CPU'):"
for relay in $RELAYS; do
    echo "  $(relay_cmd "$relay")"
    echo "    load: rtpstorm $(storm_args "$relay") --relay-pid PID --relay-cpu $RELAY_CPU"
done
echo "  $(relay_cmd rtprelayd-memory)"
echo "    memory: ${MEM_CMD:-not run}"
echo "  this bench: RTFARM_MEDIA_ROUNDS=$ROUNDS RTFARM_BENCH_PROXY_CPU=$RELAY_CPU RTFARM_BENCH_LOAD_CPU=$LOAD_CPU $0"
[ "$problems" = 0 ] || exit 1
exit 0
