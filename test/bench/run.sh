#!/usr/bin/env bash
# rtfarm bench: sipfarmd against Kamailio's stateless dispatcher, same load,
# same core.  test/bench/README.md explains the method and the figures.
#
#   test/bench/run.sh            (as root; `make bench` runs it)
#
# Three proxies, one at a time, each pinned to the proxy core:
#   kamailio   Debian's kamailio with test/bench/kamailio.cfg: record_route,
#              ds_select_dst by Call-ID hash, forward(); no tm
#   sipfarmd   one member; every call goes to its processor
#   farm       three members on 127.0.0.1-3, all on the same core; the load
#              enters at member 1, which relays the calls that hash to
#              members 2 and 3 (about 2/3) over the farm link
# and three loads on the load core:
#   sipp       SIPp UAC -> proxy -> SIPp UAS(es) (test/bench/sipp_*.xml) at a
#              fixed rate SIPp sustains; it cannot saturate a proxy
#   sat        test/bench/sipstorm (built here with g++), the same 7-message
#              call flow, 64 calls in flight: the proxy's core saturates
#   latency    sipstorm in open loop at half the saturation rate, through
#              the proxy and direct UAC -> UAS in turn; kernel receive
#              timestamps, µs
# Packets/s per core = SIP messages the proxy forwarded (its own counters)
# / the proxy's CPU time (utime+stime of all its processes and threads).
#
# Environment, all optional: RTFARM_BENCH_PROXY_CPU (0), RTFARM_BENCH_LOAD_CPU
# (1), RTFARM_BENCH_ROUNDS (3), RTFARM_BENCH_LAT_ROUNDS (5),
# RTFARM_BENCH_SIPP_RATE (3000 calls/s), RTFARM_BENCH_DEADLINE (290 s),
# RTFARM_BENCH_KEEP=1 (keep the work folder with every log and result),
# RTFARM_BENCH_PROXIES (a subset of "kamailio sipfarmd farm", in that order;
# the ratios need kamailio and a sipfarmd), RTFARM_BENCH_LAT_RATE (calls/s
# of the latency phase; half the saturation rate of each proxy if unset),
# SIPFARMD (build/bin/sipfarmd).
#
# Exit status: 0 measured (the goals are printed, not enforced); 1 a proxy
# or a load failed, calls were lost, a proxy dropped or logged warnings, or
# the bench ran over its deadline; 2 cannot run on this host.
set -u -o pipefail
umask 022

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BENCH=$ROOT/test/bench
SIPFARMD=${SIPFARMD:-$ROOT/build/bin/sipfarmd}
CGCLUSTERCTL=$ROOT/build/bin/cgclusterctl
PROXY_CPU=${RTFARM_BENCH_PROXY_CPU:-0}
LOAD_CPU=${RTFARM_BENCH_LOAD_CPU:-1}
ROUNDS=${RTFARM_BENCH_ROUNDS:-3}
LAT_ROUNDS=${RTFARM_BENCH_LAT_ROUNDS:-5}
SIPP_RATE=${RTFARM_BENCH_SIPP_RATE:-3000}
SIPP_SECS=3     # SIPp: SIPP_RATE * SIPP_SECS calls
SAT_SECS=3      # saturation window
SAT_INFLIGHT=64 # calls in flight at saturation
LAT_SECS=2.5    # latency window; its first 0.5 s is not sampled
MSGS_PER_CALL=7 # INVITE 100 180 200 ACK BYE 200
DEADLINE=${RTFARM_BENCH_DEADLINE:-290} # the whole bench, seconds
PROXIES=""
for proxy in kamailio sipfarmd farm; do
    case " ${RTFARM_BENCH_PROXIES:-kamailio sipfarmd farm} " in
    *" $proxy "*) PROXIES="$PROXIES $proxy" ;;
    esac
done
PROXIES=${PROXIES# }

say() { printf 'bench: %s\n' "$*"; }
cannot() {
    printf 'bench: cannot run: %s\n' "$*" >&2
    exit 2
}

# shellcheck source=bench_common.bash
. "$BENCH/bench_common.bash"

# ------------------------------------------------------------ preflight
[ "$(id -u)" = 0 ] || cannot "not root (chrt -f for the proxies, nice -20 for the load)"
for tool in kamailio kamcmd sipp taskset chrt g++ ss awk mkfifo; do
    command -v "$tool" >/dev/null || cannot "'$tool' not found (mk/deps.sh build bench installs it)"
done
[ -x "$SIPFARMD" ] || cannot "$SIPFARMD not built (make programs)"
[ -x "$CGCLUSTERCTL" ] || cannot "$CGCLUSTERCTL not built (make programs)"
[ -n "$PROXIES" ] || cannot "RTFARM_BENCH_PROXIES names none of kamailio, sipfarmd, farm"
ncpu=$(nproc)
if [ "$PROXY_CPU" -ge "$ncpu" ] || [ "$LOAD_CPU" -ge "$ncpu" ] || [ "$PROXY_CPU" = "$LOAD_CPU" ]; then
    cannot "need two distinct CPUs (proxy $PROXY_CPU, load $LOAD_CPU; this host has $ncpu)"
fi
HZ=$(getconf CLK_TCK)

bench_priorities proxies
PROXY_PRIO=$UNDER_TEST_PRIO

W=$(mktemp -d /tmp/rtfarm-bench.XXXXXX)
cd "$W" || exit 2
T_START=$(date +%s)

# ------------------------------------------------------------ processes
DAEMONS="" # pids of the proxy processes now running
LOADS=""   # pids of the SIPp UAS now running
# shellcheck disable=SC2317 # called at exit (bench_common.bash)
bench_cleanup() {
    # shellcheck disable=SC2086 # pid lists
    stop_pids USR1 $LOADS
    # shellcheck disable=SC2086
    stop_pids TERM $DAEMONS
    LOADS="" DAEMONS=""
}
bench_start "$(basename "$0" .sh) bench" "$DEADLINE"

# ------------------------------------------------------------ ports
port_free() { [ -z "$(ss -Haun "sport = :$1" 2>/dev/null)" ]; }
pick_ports() {
    local base i ok
    for _ in $(seq 50); do
        base=$((20000 + (RANDOM % 400) * 100))
        ok=1
        for i in 0 1 2 3 4; do port_free $((base + i)) || ok=0; done
        if [ "$ok" = 1 ]; then
            echo "$base"
            return 0
        fi
    done
    return 1
}
BASE=$(pick_ports) || cannot "no free UDP ports"
P_SIP=$BASE         # sipfarmd sip_listen, on every member's address
P_FARM=$((BASE + 1)) # farm link
P_UAS=$((BASE + 2))  # the processor(s), Kamailio's dispatcher destination
P_UAC=$((BASE + 3))  # SIPp UAC
P_KAM=$((BASE + 4))  # Kamailio

wait_udp() { # IP PORT: until something is bound there, 5 s at most
    for _ in $(seq 50); do
        ss -Haun "sport = :$2" 2>/dev/null | grep -q "$1:$2" && return 0
        sleep 0.1
    done
    return 1
}

# ------------------------------------------------------------ configs
write_cluster() { # FILE N: members f1..fN on 127.0.0.1..N
    local i
    {
        printf '{\n  "cluster": {"name": "bench", "wan_ip": "127.0.0.1", "farm_port": %s},\n' "$P_FARM"
        printf '  "members": {\n'
        for i in $(seq "$2"); do
            printf '    "f%s": {"role": "frontend", "address": "127.0.0.%s", ' "$i" "$i"
            printf '"sip_listen": ["127.0.0.%s:%s"], "processor": "127.0.0.%s:%s", ' "$i" "$P_SIP" "$i" "$P_UAS"
            printf '"control": "%s/f%s.sock"}' "$W" "$i"
            if [ "$i" -lt "$2" ]; then printf ',\n'; else printf '\n'; fi
        done
        printf '  }\n}\n'
    } >"$1"
}
write_cluster "$W/single.json" 1
write_cluster "$W/farm.json" 3
printf '1 sip:127.0.0.1:%s\n' "$P_UAS" >"$W/dispatcher.list"
mkdir -p "$W/kamailio-run"

# ------------------------------------------------------------ proxies
PROXY="" # the proxy running now
start_sipfarmd() { # CONFIG MEMBERS...
    local cfg=$1 m line
    shift
    for m in "$@"; do
        rm -f "$W/ready.$m"
        mkfifo "$W/ready.$m"
        $PROXY_PRIO taskset -c "$PROXY_CPU" "$SIPFARMD" --config "$cfg" --member "$m" \
            --log-level info --notify-fd 3 3>"$W/ready.$m" 2>>"$W/sipfarmd-$m.log" &
        DAEMONS="$DAEMONS $!"
        line=""
        read -r -t 5 line <"$W/ready.$m" || fail "sipfarmd $m not ready: $(tail -3 "$W/sipfarmd-$m.log")"
    done
}
start_kamailio() {
    local main
    $PROXY_PRIO taskset -c "$PROXY_CPU" kamailio -DD -E -f "$BENCH/kamailio.cfg" -m 64 -M 8 \
        -Y "$W/kamailio-run" -l "udp:127.0.0.1:$P_KAM" \
        -A "BENCH_DSLIST=\"$W/dispatcher.list\"" -A "BENCH_CTL=\"unix:$W/kamailio.ctl\"" \
        >>"$W/kamailio.log" 2>&1 &
    main=$!
    DAEMONS="$DAEMONS $main"
    for _ in $(seq 50); do
        timeout 2 kamcmd -s "unix:$W/kamailio.ctl" core.uptime >/dev/null 2>&1 && return 0
        kill -0 "$main" 2>/dev/null || break
        sleep 0.1
    done
    fail "kamailio not ready: $(tail -5 "$W/kamailio.log")"
}
start_proxy() { # NAME
    PROXY=$1
    case $1 in
    kamailio) start_kamailio ;;
    sipfarmd) start_sipfarmd "$W/single.json" f1 ;;
    farm) start_sipfarmd "$W/farm.json" f1 f2 f3 ;;
    esac
}
stop_proxy() {
    # shellcheck disable=SC2086 # a pid list
    stop_pids TERM $DAEMONS
    DAEMONS="" PROXY=""
}
target_of() { case $1 in kamailio) echo "127.0.0.1:$P_KAM" ;; *) echo "127.0.0.1:$P_SIP" ;; esac }
uas_of() { # the processors' addresses, comma-separated
    case $1 in
    farm) echo "127.0.0.1:$P_UAS,127.0.0.2:$P_UAS,127.0.0.3:$P_UAS" ;;
    *) echo "127.0.0.1:$P_UAS" ;;
    esac
}
cluster_of() { case $1 in farm) echo "$W/farm.json" ;; *) echo "$W/single.json" ;; esac }
# Every process of the proxy: Kamailio forks its workers from the main one.
proxy_pids() {
    local p
    for p in $DAEMONS; do
        echo "$p"
        ps -o pid= --ppid "$p" 2>/dev/null
    done
}
# utime+stime of every process (all threads), in clock ticks.  The kernel
# scales these to the scheduler's exact run time, so they are exact to the
# tick even for a process that runs in short bursts.
proxy_ticks() {
    local t=0 p v
    for p in $(proxy_pids); do
        v=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{ print $12 + $13 }')
        t=$((t + ${v:-0}))
    done
    echo "$t"
}
# Busy ticks of the proxy's core, whoever ran.  Sampled at the timer tick:
# good for a busy core, blind to short bursts on a mostly idle one.
core_ticks() {
    awk -v c="cpu$PROXY_CPU" '$1 == c { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat
}
kam_stats() { timeout 3 kamcmd -s "unix:$W/kamailio.ctl" stats.get_statistics core: 2>/dev/null; }
farm_stats() { timeout 5 "$CGCLUSTERCTL" --config "$(cluster_of "$PROXY")" --json stats 2>/dev/null; }
# "FORWARDED DROPPED": messages the proxy forwarded and dropped, its own count.
proxy_counters() {
    if [ "$PROXY" = kamailio ]; then
        kam_stats | awk '
            $1 == "core:fwd_requests" || $1 == "core:fwd_replies" { f += $3 }
            $1 ~ /^core:(drop|err)_(requests|replies)$/ { d += $3 }
            END { print f + 0, d + 0 }'
    else
        farm_stats | grep -o '"to_processor":[0-9]*\|"to_outside":[0-9]*\|"dropped":[0-9]*' |
            awk -F: '/to_/ { f += $2 } /dropped/ { d += $2 } END { print f + 0, d + 0 }'
    fi
}
proxy_drops_detail() {
    if [ "$PROXY" = kamailio ]; then
        kam_stats | grep -E 'drop|err_' | tr '\n' ' '
    else
        farm_stats | grep -o '"member":"[^"]*"\|"dropped_by":{[^}]*}' | tr '\n' ' '
    fi
}

# ------------------------------------------------------------ measuring
kv() { # KEY LINE: the value of KEY=... in a line of key=value words
    printf '%s\n' "$2" | tr ' ' '\n' | awk -F= -v k="$1" '$1 == k { print $2; exit }'
}
median() {
    printf '%s\n' "$@" | grep -v '^nan$' | sort -g |
        awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print "nan" }'
}
spread() { # "min..max"
    printf '%s\n' "$@" | grep -v '^nan$' | sort -g | awk 'NR == 1 { a = $1 } { b = $1 } END { print a ".." b }'
}
us_per_msg() { awk -v t="$1" -v m="$2" -v hz="$HZ" 'BEGIN { if (m > 0) printf "%.2f", t * 1e6 / hz / m; else print "nan" }'; }
per_core() { awk -v t="$1" -v m="$2" -v hz="$HZ" 'BEGIN { if (t > 0) printf "%.0f", m * hz / t; else print "nan" }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0 && a == a + 0) printf "%.2f", a / b; else print "nan" }'; }
minus() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == a + 0 && b == b + 0) printf "%.1f", a - b; else print "nan" }'; }
nth() { printf '%s\n' "$2" | awk -F/ -v n="$1" '{ print ($n == "" ? "nan" : $n) }'; } # field N of a/b/c/d/e

# One window around a command: the proxy's CPU ticks, its core's busy ticks,
# the wall time and its counters.  Sets W_MSGS W_DROPS W_TICKS W_CORE W_MS
# (wall, ms) W_RC and W_OUT (the command's output).
measure() {
    local c0 d0 c1 d1 t0 t1 k0 k1 n0 n1
    read -r c0 d0 < <(proxy_counters)
    t0=$(proxy_ticks)
    k0=$(core_ticks)
    n0=$(date +%s%N)
    W_OUT=$("$@")
    W_RC=$?
    n1=$(date +%s%N)
    t1=$(proxy_ticks)
    k1=$(core_ticks)
    read -r c1 d1 < <(proxy_counters)
    W_MSGS=$((c1 - c0))
    W_DROPS=$((d1 - d0))
    W_TICKS=$((t1 - t0))
    W_CORE=$((k1 - k0))
    W_MS=$(((n1 - n0) / 1000000))
}
# The share of the window the proxy ran, and what else kept its core busy.
proxy_pct() { awk -v t="$W_TICKS" -v ms="$W_MS" -v hz="$HZ" 'BEGIN { printf "%.0f", (ms > 0 ? 100 * t / hz * 1000 / ms : 0) }'; }
other_pct() { awk -v t="$W_TICKS" -v c="$W_CORE" -v ms="$W_MS" -v hz="$HZ" 'BEGIN { x = ms > 0 ? 100 * (c - t) / hz * 1000 / ms : 0; printf "%.0f", x < 0 ? 0 : x }'; }

STORM=$W/sipstorm
storm() { # ARGS...: sipstorm on the load core
    $LOAD_PRIO timeout -k 2 30 taskset -c "$LOAD_CPU" "$STORM" "$@"
}

# SIPp: the UAS(es) on the processors' addresses, the UAC at SIPP_RATE.
SIPP_CALLS=""
run_sipp() { # ROUND
    local n=$((SIPP_RATE * SIPP_SECS)) uas ip i=0 stat
    LOADS=""
    for uas in $(uas_of "$PROXY" | tr ',' ' '); do
        ip=${uas%:*}
        i=$((i + 1))
        $LOAD_PRIO taskset -c "$LOAD_CPU" sipp -sf "$BENCH/sipp_uas.xml" -i "$ip" -p "$P_UAS" \
            -nostdin -default_behaviors all,-bye -timeout 60s \
            -trace_stat -stf "$W/uas-$PROXY-$1-$i.csv" -trace_err -error_file "$W/uas-$PROXY-$1-$i.err" \
            >"$W/uas-$PROXY-$1-$i.out" 2>&1 &
        LOADS="$LOADS $!"
        wait_udp "$ip" "$P_UAS" || fail "SIPp UAS on $ip:$P_UAS did not start"
    done
    stat=$W/uac-$PROXY-$1.csv
    # shellcheck disable=SC2086 # LOAD_PRIO is a command and its options
    measure $LOAD_PRIO timeout -k 2 $((SIPP_SECS + 30)) taskset -c "$LOAD_CPU" \
        sipp -sf "$BENCH/sipp_uac.xml" "$(target_of "$PROXY")" -i 127.0.0.1 -p "$P_UAC" \
        -r "$SIPP_RATE" -m "$n" -d 0 -nostdin -timeout $((SIPP_SECS + 25))s \
        -trace_stat -stf "$stat" -trace_err -error_file "$W/uac-$PROXY-$1.err" \
        2>>"$W/uac-$PROXY-$1.out"
    # shellcheck disable=SC2086
    stop_pids USR1 $LOADS # SIPp ends at once and writes its statistics
    LOADS=""
    # SIPp's own view: calls and retransmissions (the last line of its CSV).
    SIPP_CALLS=$(awk -F';' 'NR == 1 { for (i = 1; i <= NF; i++) h[$i] = i }
        END { printf "%d %d %d", $h["SuccessfulCall(C)"], $h["FailedCall(C)"], $h["Retransmissions(C)"] }' \
        "$stat" 2>/dev/null)
}

record() { printf '%s\n' "$*" >>"$W/results"; }

# ------------------------------------------------------------ the probe
g++ -O2 -std=c++20 -Wall -Wextra -Wshadow -Werror -o "$STORM" "$BENCH/sipstorm.cpp" ||
    fail "cannot build sipstorm"

say "work folder $W; proxy CPU $PROXY_CPU, load CPU $LOAD_CPU; UDP ports $BASE-$((BASE + 4))"
say "$(kamailio -v 2>/dev/null | awk 'NR == 1 { print $2, $3 }'), $(sipp -v 2>/dev/null | grep -o 'SIPp v[0-9.]*' | head -1), $("$SIPFARMD" --version 2>/dev/null | head -1)"
say "proxies run under '$PROXY_PRIO', the load under '$LOAD_PRIO'"

# ------------------------------------------------------------ throughput
order="$PROXIES"
for round in $(seq "$ROUNDS"); do
    for proxy in $order; do
        start_proxy "$proxy"

        run_sipp "$round"
        read -r ok failed retrans <<<"$SIPP_CALLS"
        record "sipp $proxy $round msgs=$W_MSGS drops=$W_DROPS ticks=$W_TICKS core=$W_CORE ms=$W_MS ok=${ok:-0} failed=${failed:-0} retrans=${retrans:-0} rc=$W_RC"
        say "round $round $proxy, SIPp: $W_MSGS msgs forwarded ($ok calls, $failed failed, $retrans retransmissions), $(us_per_msg "$W_TICKS" "$W_MSGS") µs CPU/msg"
        [ "$W_RC" = 0 ] || say "  SIPp UAC exit $W_RC: see $W/uac-$proxy-$round.err"

        measure storm --target "$(target_of "$proxy")" --uas "$(uas_of "$proxy")" \
            --inflight "$SAT_INFLIGHT" --duration "$SAT_SECS"
        record "sat $proxy $round msgs=$W_MSGS drops=$W_DROPS ticks=$W_TICKS core=$W_CORE ms=$W_MS other=$(other_pct) rc=$W_RC $W_OUT"
        say "round $round $proxy, saturated: $W_MSGS msgs forwarded ($(kv msgs_received "$W_OUT") received, $(kv lost "$W_OUT") calls lost), $(us_per_msg "$W_TICKS" "$W_MSGS") µs CPU/msg; proxy ran $(proxy_pct)% of the window, others $(other_pct)% of its core"
        [ "$W_DROPS" = 0 ] || say "  $proxy dropped $W_DROPS: $(proxy_drops_detail)"

        stop_proxy
    done
    case $order in *" "*) order="${order#* } ${order%% *}" ;; esac # rotate: each proxy goes first in turn
done

# Medians per proxy: µs of CPU per message, messages per CPU second.
declare -A SIPP_US SIPP_PPS SAT_US SAT_PPS SAT_OTHER
for proxy in $PROXIES; do
    for phase in sipp sat; do
        us="" pps="" other=""
        while read -r line; do
            us="$us $(us_per_msg "$(kv ticks "$line")" "$(kv msgs "$line")")"
            pps="$pps $(per_core "$(kv ticks "$line")" "$(kv msgs "$line")")"
            other="$other $(kv other "$line")"
        done < <(awk -v p="$phase" -v x="$proxy" '$1 == p && $2 == x' "$W/results")
        # shellcheck disable=SC2086 # lists of numbers
        if [ "$phase" = sipp ]; then
            SIPP_US[$proxy]=$(median $us)
            SIPP_PPS[$proxy]=$(median $pps)
        else
            SAT_US[$proxy]=$(median $us)
            SAT_PPS[$proxy]=$(median $pps)
            SAT_OTHER[$proxy]=$(spread $other)
        fi
    done
done

# ------------------------------------------------------------ latency
# Open loop at half the saturation rate (calls/s: half the messages per core,
# 7 messages a call), through the proxy and direct UAC -> UAS in turn.
declare -A LAT_RATE LAT_P50 LAT_P99 LAT_DIRECT_P99 LAT_ADDED LAT_ADDED_SPREAD LAT_BYE_ADDED LAT_CPU
for proxy in $PROXIES; do
    pps=${SAT_PPS[$proxy]}
    if [ "$pps" = nan ]; then
        say "no saturation figure for $proxy: latency skipped"
        continue
    fi
    rate=${RTFARM_BENCH_LAT_RATE:-$((pps / 2 / MSGS_PER_CALL))}
    LAT_RATE[$proxy]=$rate
    start_proxy "$proxy"
    # Warm-up, not counted: the first second of a fresh process is slower.
    storm --target "$(target_of "$proxy")" --uas "$(uas_of "$proxy")" --rate "$rate" \
        --duration 1 >/dev/null
    p50="" p99="" d99="" added="" bye="" cpu=""
    for round in $(seq "$LAT_ROUNDS"); do
        direct=$(storm --target "127.0.0.1:$P_UAS" --uas "127.0.0.1:$P_UAS" --rate "$rate" \
            --duration "$LAT_SECS")
        measure storm --target "$(target_of "$proxy")" --uas "$(uas_of "$proxy")" \
            --rate "$rate" --duration "$LAT_SECS"
        record "lat $proxy $round rate=$rate msgs=$W_MSGS drops=$W_DROPS ticks=$W_TICKS core=$W_CORE ms=$W_MS other=$(other_pct) rc=$W_RC $W_OUT"
        record "direct $proxy $round rate=$rate $direct"
        pi=$(kv inv200_us "$W_OUT")
        di=$(kv inv200_us "$direct")
        p50="$p50 $(nth 1 "$pi")"
        p99="$p99 $(nth 3 "$pi")"
        d99="$d99 $(nth 3 "$di")"
        added="$added $(minus "$(nth 3 "$pi")" "$(nth 3 "$di")")"
        bye="$bye $(minus "$(nth 3 "$(kv bye200_us "$W_OUT")")" "$(nth 3 "$(kv bye200_us "$direct")")")"
        cpu="$cpu $(proxy_pct)"
        say "round $round $proxy, $rate calls/s: INVITE->200 µs p50/p90/p99/p99.9/max proxy $pi, direct $di; lost $(kv lost "$W_OUT"); proxy ran $(proxy_pct)%, others $(other_pct)%"
    done
    stop_proxy
    # shellcheck disable=SC2086 # lists of numbers
    {
        LAT_P50[$proxy]=$(median $p50)
        LAT_P99[$proxy]=$(median $p99)
        LAT_DIRECT_P99[$proxy]=$(median $d99)
        LAT_ADDED[$proxy]=$(median $added)
        LAT_ADDED_SPREAD[$proxy]=$(spread $added)
        LAT_BYE_ADDED[$proxy]=$(median $bye)
        LAT_CPU[$proxy]=$(median $cpu)
    }
done

# ------------------------------------------------------------ problems
problems=0
while read -r line; do
    read -r phase proxy round _ <<<"$line"
    case $phase in
    sipp)
        if [ "$(kv failed "$line")" != 0 ] || [ "$(kv rc "$line")" != 0 ]; then
            say "problem: SIPp through $proxy, round $round: $line"
            problems=$((problems + 1))
        fi
        ;;
    sat | lat)
        if [ "$(kv lost "$line")" != 0 ] || [ "$(kv drops "$line")" != 0 ]; then
            say "problem: $phase through $proxy, round $round: $(kv lost "$line") calls lost, $(kv drops "$line") dropped by the proxy"
            problems=$((problems + 1))
        fi
        ;;
    esac
done <"$W/results"
for log in "$W"/sipfarmd-*.log; do
    [ -e "$log" ] || continue
    n=$(grep -c 'level=error\|level=warn' "$log")
    if [ "$n" != 0 ]; then
        say "problem: $n warn/error lines in $(basename "$log"); the first: $(grep -m1 'level=error\|level=warn' "$log")"
        problems=$((problems + 1))
    fi
done
n=$(grep -c 'ERROR\|CRITICAL' "$W/kamailio.log" 2>/dev/null)
if [ -n "$n" ] && [ "$n" != 0 ]; then
    say "problem: $n ERROR lines in kamailio.log; the first: $(grep -m1 'ERROR\|CRITICAL' "$W/kamailio.log")"
    problems=$((problems + 1))
fi

# ------------------------------------------------------------ summary
label() {
    case $1 in
    kamailio) echo "kamailio, stateless dispatcher" ;;
    sipfarmd) echo "sipfarmd, 1 member" ;;
    farm) echo "sipfarmd, 3 members with relays" ;;
    esac
}
cpu_model=$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)
echo
echo "rtfarm bench: packets/s per core = SIP messages forwarded / proxy CPU seconds"
echo "median of $ROUNDS rounds (latency: $LAT_ROUNDS); proxy on CPU $PROXY_CPU, load on CPU $LOAD_CPU; $ncpu CPUs, $cpu_model"
echo
printf '%-32s | %-27s | %-43s\n' "" "SIPp, $SIPP_RATE calls/s" "saturated, sipstorm, $SAT_INFLIGHT calls in flight"
printf '%-32s | %10s %16s | %10s %16s %15s\n' "proxy" "µs CPU/msg" "msgs/s per core" "µs CPU/msg" "msgs/s per core" "others on core"
for proxy in $PROXIES; do
    printf '%-32s | %10s %16s | %10s %16s %14s%%\n' "$(label "$proxy")" "${SIPP_US[$proxy]}" \
        "${SIPP_PPS[$proxy]}" "${SAT_US[$proxy]}" "${SAT_PPS[$proxy]}" "${SAT_OTHER[$proxy]}"
done
echo
echo "latency at half the saturation rate, INVITE sent -> 200 received (µs; added = proxy p99 - direct p99):"
printf '%-32s | %8s %6s | %8s %8s %8s %14s | %9s | %s\n' "proxy" "calls/s" "CPU" "p50" "p99" "direct" "added p99" "min..max" "BYE->200 added"
for proxy in $PROXIES; do
    [ -n "${LAT_RATE[$proxy]:-}" ] || continue
    printf '%-32s | %8s %5s%% | %8s %8s %8s %14s | %9s | %s\n' "$(label "$proxy")" \
        "${LAT_RATE[$proxy]}" "${LAT_CPU[$proxy]}" "${LAT_P50[$proxy]}" "${LAT_P99[$proxy]}" \
        "${LAT_DIRECT_P99[$proxy]}" "${LAT_ADDED[$proxy]}" "${LAT_ADDED_SPREAD[$proxy]}" \
        "${LAT_BYE_ADDED[$proxy]}"
done
echo
r_sat=$(ratio "${SAT_PPS[sipfarmd]:-nan}" "${SAT_PPS[kamailio]:-nan}")
r_farm=$(ratio "${SAT_PPS[farm]:-nan}" "${SAT_PPS[kamailio]:-nan}")
r_sipp=$(ratio "${SIPP_PPS[sipfarmd]:-nan}" "${SIPP_PPS[kamailio]:-nan}")
r_sipp_farm=$(ratio "${SIPP_PPS[farm]:-nan}" "${SIPP_PPS[kamailio]:-nan}")
echo "ratio sipfarmd/kamailio = $r_sat (saturated; 3-member farm with relays: $r_farm)"
echo "ratio sipfarmd/kamailio = $r_sipp (SIPp at $SIPP_RATE calls/s; farm: $r_sipp_farm)"
goal() { awk -v v="$1" -v t="$2" -v op="$3" 'BEGIN { if (v != v + 0) print "unknown"; else print ((op == ">=" ? v >= t : v < t) ? "met" : "NOT met") }'; }
echo "goal sipfarmd >= 1.5x kamailio per core (saturated): $(goal "$r_sat" 1.5 '>=')"
echo "goal p99 added latency < 200 µs at half saturation: sipfarmd $(goal "${LAT_ADDED[sipfarmd]:-nan}" 200 '<') (${LAT_ADDED[sipfarmd]:-nan} µs), farm $(goal "${LAT_ADDED[farm]:-nan}" 200 '<') (${LAT_ADDED[farm]:-nan} µs)"
echo "problems: $problems; the bench took $(($(date +%s) - T_START)) s"
echo "command: RTFARM_BENCH_PROXIES=\"$PROXIES\"${RTFARM_BENCH_LAT_RATE:+ RTFARM_BENCH_LAT_RATE=$RTFARM_BENCH_LAT_RATE} RTFARM_BENCH_ROUNDS=$ROUNDS RTFARM_BENCH_LAT_ROUNDS=$LAT_ROUNDS RTFARM_BENCH_SIPP_RATE=$SIPP_RATE RTFARM_BENCH_PROXY_CPU=$PROXY_CPU RTFARM_BENCH_LOAD_CPU=$LOAD_CPU $0"
[ "$problems" = 0 ] || exit 1
exit 0
