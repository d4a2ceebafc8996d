#!/usr/bin/env bash
# rtfarm bench, SIP over TCP: sipfarmd against Kamailio, one client
# connection, same load, same core.  test/bench/README.md ("SIP over TCP")
# explains the method and the figures.
#
#   test/bench/tcp.sh            (as root; `make bench` runs it after run.sh
#                                 and media.sh)
#
# Two proxies, one at a time, each pinned to the proxy core:
#   kamailio   Debian's kamailio with test/bench/kamailio.cfg made TCP-able
#              (a copy with disable_tcp=no, tcp_children=1): the same
#              record_route, ds_select_dst by Call-ID hash, forward(); it
#              listens on TCP for the client and on UDP toward the UAS
#   sipfarmd   one member, sip_listen ["tcp:127.0.0.1:P", "127.0.0.1:P2"],
#              its processor the UAS
# The load on the load core: SIPp UAC over TCP with ONE connection (-t t1)
# -> proxy -> SIPp UAS over UDP (test/bench/sipp_*.xml), at a fixed rate.
# Messages/s per core = SIP messages the proxy forwarded (its own counters)
# / the proxy's CPU time (utime+stime of all its processes and threads).
#
# Environment, all optional: RTFARM_BENCH_PROXY_CPU (0), RTFARM_BENCH_LOAD_CPU
# (1), RTFARM_BENCH_ROUNDS (3), RTFARM_BENCH_TCP_RATE (2000 calls/s),
# RTFARM_BENCH_DEADLINE (120 s), RTFARM_BENCH_KEEP=1 (keep the work folder),
# SIPFARMD (build/bin/sipfarmd).
#
# Exit status: 0 measured (the goal is printed, not enforced); 1 a proxy or
# SIPp failed, calls failed, a proxy dropped or logged warnings/errors, or
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
SIPP_RATE=${RTFARM_BENCH_TCP_RATE:-2000}
SIPP_SECS=3     # SIPp: SIPP_RATE * SIPP_SECS calls
MSGS_PER_CALL=7 # INVITE 100 180 200 ACK BYE 200
DEADLINE=${RTFARM_BENCH_DEADLINE:-120}
PROXIES="kamailio sipfarmd"

say() { printf 'bench-tcp: %s\n' "$*"; }
cannot() {
    printf 'bench-tcp: cannot run: %s\n' "$*" >&2
    exit 2
}

# shellcheck source=bench_common.bash
. "$BENCH/bench_common.bash"

# ------------------------------------------------------------ preflight
[ "$(id -u)" = 0 ] || cannot "not root (chrt -f for the proxies, nice -20 for the load)"
for tool in kamailio kamcmd sipp taskset chrt ss awk sed mkfifo; do
    command -v "$tool" >/dev/null || cannot "'$tool' not found (mk/deps.sh build bench installs it)"
done
[ -x "$SIPFARMD" ] || cannot "$SIPFARMD not built (make programs)"
[ -x "$CGCLUSTERCTL" ] || cannot "$CGCLUSTERCTL not built (make programs)"
ncpu=$(nproc)
if [ "$PROXY_CPU" -ge "$ncpu" ] || [ "$LOAD_CPU" -ge "$ncpu" ] || [ "$PROXY_CPU" = "$LOAD_CPU" ]; then
    cannot "need two distinct CPUs (proxy $PROXY_CPU, load $LOAD_CPU; this host has $ncpu)"
fi
HZ=$(getconf CLK_TCK)

bench_priorities proxies
PROXY_PRIO=$UNDER_TEST_PRIO

W=$(mktemp -d /tmp/rtfarm-bench-tcp.XXXXXX)
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
port_free() { [ -z "$(ss -Hatun "sport = :$1" 2>/dev/null)" ]; }
pick_ports() {
    local base i ok
    for _ in $(seq 50); do
        base=$((20000 + (RANDOM % 400) * 100 + 50))
        ok=1
        for i in 0 1 2 3 4; do port_free $((base + i)) || ok=0; done
        if [ "$ok" = 1 ]; then
            echo "$base"
            return 0
        fi
    done
    return 1
}
BASE=$(pick_ports) || cannot "no free ports"
P_SIP=$BASE          # the proxy's TCP listener (the client's connection)
P_SIPU=$((BASE + 1)) # the proxy's UDP socket (toward the UAS)
P_UAS=$((BASE + 2))  # the SIPp UAS (processor, dispatcher destination), UDP
P_UAC=$((BASE + 3))  # SIPp UAC, TCP
P_FARM=$((BASE + 4)) # sipfarmd's farm link

wait_port() { # ss-OPTION IP PORT: until something listens/is bound there, 5 s at most
    for _ in $(seq 50); do
        ss -Hn"$1" "sport = :$3" 2>/dev/null | grep -q "$2:$3" && return 0
        sleep 0.1
    done
    return 1
}

# ------------------------------------------------------------ configs
cat >"$W/single.json" <<JSON
{
  "cluster": {"name": "bench", "wan_ip": "127.0.0.1", "farm_port": $P_FARM},
  "members": {
    "f1": {"role": "frontend", "address": "127.0.0.1",
           "sip_listen": ["tcp:127.0.0.1:$P_SIP", "127.0.0.1:$P_SIPU"],
           "processor": "127.0.0.1:$P_UAS", "control": "$W/f1.sock"}
  }
}
JSON
printf '1 sip:127.0.0.1:%s\n' "$P_UAS" >"$W/dispatcher.list"
# Kamailio: kamailio.cfg with TCP on, one TCP worker; the routing untouched.
sed -e 's/^disable_tcp=yes$/disable_tcp=no\ntcp_children=1/' "$BENCH/kamailio.cfg" >"$W/kamailio-tcp.cfg"
grep -q '^tcp_children=1$' "$W/kamailio-tcp.cfg" || cannot "kamailio.cfg has no 'disable_tcp=yes' line to turn into TCP"
mkdir -p "$W/kamailio-run"

# ------------------------------------------------------------ proxies
PROXY=""
start_sipfarmd() {
    local line
    rm -f "$W/ready.f1"
    mkfifo "$W/ready.f1"
    $PROXY_PRIO taskset -c "$PROXY_CPU" "$SIPFARMD" --config "$W/single.json" --member f1 \
        --log-level info --notify-fd 3 3>"$W/ready.f1" 2>>"$W/sipfarmd-f1.log" &
    DAEMONS="$DAEMONS $!"
    line=""
    read -r -t 5 line <"$W/ready.f1" || fail "sipfarmd not ready: $(tail -3 "$W/sipfarmd-f1.log")"
    wait_port lt 127.0.0.1 "$P_SIP" || fail "sipfarmd does not listen on tcp:127.0.0.1:$P_SIP"
}
start_kamailio() {
    local main
    $PROXY_PRIO taskset -c "$PROXY_CPU" kamailio -DD -E -f "$W/kamailio-tcp.cfg" -m 64 -M 8 \
        -Y "$W/kamailio-run" -l "tcp:127.0.0.1:$P_SIP" -l "udp:127.0.0.1:$P_SIPU" \
        -A "BENCH_DSLIST=\"$W/dispatcher.list\"" -A "BENCH_CTL=\"unix:$W/kamailio.ctl\"" \
        >>"$W/kamailio.log" 2>&1 &
    main=$!
    DAEMONS="$DAEMONS $main"
    for _ in $(seq 50); do
        if timeout 2 kamcmd -s "unix:$W/kamailio.ctl" core.uptime >/dev/null 2>&1; then
            wait_port lt 127.0.0.1 "$P_SIP" && return 0
        fi
        kill -0 "$main" 2>/dev/null || break
        sleep 0.1
    done
    fail "kamailio not ready: $(tail -5 "$W/kamailio.log")"
}
start_proxy() {
    PROXY=$1
    case $1 in
    kamailio) start_kamailio ;;
    sipfarmd) start_sipfarmd ;;
    esac
}
stop_proxy() {
    # shellcheck disable=SC2086 # a pid list
    stop_pids TERM $DAEMONS
    DAEMONS="" PROXY=""
}
# Every process of the proxy: Kamailio forks its workers (UDP, TCP main,
# TCP worker, timers, ctl) from the main one.
proxy_pids() {
    local p
    for p in $DAEMONS; do
        echo "$p"
        ps -o pid= --ppid "$p" 2>/dev/null
    done
}
# utime+stime of every process (all threads), in clock ticks.
proxy_ticks() {
    local t=0 p v
    for p in $(proxy_pids); do
        v=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{ print $12 + $13 }')
        t=$((t + ${v:-0}))
    done
    echo "$t"
}
kam_stats() { timeout 3 kamcmd -s "unix:$W/kamailio.ctl" stats.get_statistics core: 2>/dev/null; }
farm_stats() { timeout 5 "$CGCLUSTERCTL" --config "$W/single.json" --json stats 2>/dev/null; }
# "FORWARDED DROPPED": the proxy's own count.  sipfarmd: to_processor +
# to_outside; to_connection (written on a client connection) is a part of
# to_outside (farm.cpp counts both), so it is not added again.
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
# sipfarmd's to_connection alone: the messages written on the client's
# connection (the 100/180/200 and 200 to BYE: 4 a call).
conn_counter() {
    if [ "$PROXY" = sipfarmd ]; then
        farm_stats | grep -o '"to_connection":[0-9]*' | awk -F: '{ f += $2 } END { print f + 0 }'
    else
        echo 0
    fi
}
# Client connections the proxy accepted so far: Kamailio's tcp:passive_open,
# sipfarmd's "accepted" of its TCP listener (not the control socket's).
# One a round: SIPp -t t1.
accepted() {
    if [ "$PROXY" = kamailio ]; then
        timeout 3 kamcmd -s "unix:$W/kamailio.ctl" stats.get_statistics tcp: 2>/dev/null |
            awk '$1 == "tcp:passive_open" { print $3 + 0; f = 1 } END { if (!f) print 0 }'
    else
        farm_stats | grep -o '"transport":"tcp","accepted":[0-9]*' | awk -F: '{ n += $NF } END { print n + 0 }'
    fi
}
proxy_drops_detail() {
    if [ "$PROXY" = kamailio ]; then
        kam_stats | grep -E 'drop|err_' | tr '\n' ' '
    else
        farm_stats | grep -o '"dropped_by":{[^}]*}\|"closed_by":{[^}]*}' | tr '\n' ' '
    fi
}

# ------------------------------------------------------------ measuring
kv() { printf '%s\n' "$2" | tr ' ' '\n' | awk -F= -v k="$1" '$1 == k { print $2; exit }'; }
median() {
    printf '%s\n' "$@" | grep -v '^nan$' | sort -g |
        awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print "nan" }'
}
spread() { printf '%s\n' "$@" | grep -v '^nan$' | sort -g | awk 'NR == 1 { a = $1 } { b = $1 } END { print a ".." b }'; }
us_per_msg() { awk -v t="$1" -v m="$2" -v hz="$HZ" 'BEGIN { if (m > 0) printf "%.2f", t * 1e6 / hz / m; else print "nan" }'; }
per_core() { awk -v t="$1" -v m="$2" -v hz="$HZ" 'BEGIN { if (t > 0) printf "%.0f", m * hz / t; else print "nan" }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0 && a == a + 0) printf "%.2f", a / b; else print "nan" }'; }

# SIPp: the UAS over UDP on the processor's address, the UAC over TCP with
# one connection at SIPP_RATE; the window is the UAC's run.  Sets W_MSGS
# W_DROPS W_CONN W_CONNS (connections accepted) W_TICKS W_MS W_RC and SIPP_UAC SIPP_UAS ("ok failed retrans").
sipp_calls() { # CSV: SIPp's own view, the last line of its statistics
    awk -F';' 'NR == 1 { for (i = 1; i <= NF; i++) h[$i] = i }
        END { printf "%d %d %d", $h["SuccessfulCall(C)"], $h["FailedCall(C)"], $h["Retransmissions(C)"] }' "$1" 2>/dev/null
}
run_round() { # ROUND
    local n=$((SIPP_RATE * SIPP_SECS)) c0 d0 c1 d1 t0 t1 x0 x1 n0 n1 uas
    $LOAD_PRIO taskset -c "$LOAD_CPU" sipp -sf "$BENCH/sipp_uas.xml" -t u1 -i 127.0.0.1 -p "$P_UAS" \
        -nostdin -default_behaviors all,-bye -timeout 60s \
        -trace_stat -stf "$W/uas-$PROXY-$1.csv" -trace_err -error_file "$W/uas-$PROXY-$1.err" \
        >"$W/uas-$PROXY-$1.out" 2>&1 &
    uas=$!
    LOADS=$uas
    wait_port lu 127.0.0.1 "$P_UAS" || fail "SIPp UAS on 127.0.0.1:$P_UAS did not start"
    read -r c0 d0 < <(proxy_counters)
    x0=$(conn_counter)
    t0=$(proxy_ticks)
    n0=$(date +%s%N)
    $LOAD_PRIO timeout -k 2 $((SIPP_SECS + 30)) taskset -c "$LOAD_CPU" \
        sipp -sf "$BENCH/sipp_uac.xml" "127.0.0.1:$P_SIP" -t t1 -i 127.0.0.1 -p "$P_UAC" \
        -r "$SIPP_RATE" -m "$n" -d 0 -nostdin -timeout $((SIPP_SECS + 25))s \
        -trace_stat -stf "$W/uac-$PROXY-$1.csv" -trace_err -error_file "$W/uac-$PROXY-$1.err" \
        >"$W/uac-$PROXY-$1.out" 2>&1
    W_RC=$?
    n1=$(date +%s%N)
    t1=$(proxy_ticks)
    x1=$(conn_counter)
    read -r c1 d1 < <(proxy_counters)
    W_CONNS=$(accepted)
    stop_pids USR1 "$uas" # SIPp ends at once and writes its statistics
    LOADS=""
    W_MSGS=$((c1 - c0))
    W_DROPS=$((d1 - d0))
    W_CONN=$((x1 - x0))
    W_TICKS=$((t1 - t0))
    W_MS=$(((n1 - n0) / 1000000))
    SIPP_UAC=$(sipp_calls "$W/uac-$PROXY-$1.csv")
    SIPP_UAS=$(sipp_calls "$W/uas-$PROXY-$1.csv")
}
record() { printf '%s\n' "$*" >>"$W/results"; }

say "work folder $W; proxy CPU $PROXY_CPU, load CPU $LOAD_CPU; ports $BASE-$((BASE + 4))"
say "$(kamailio -v 2>/dev/null | awk 'NR == 1 { print $2, $3 }'), $(sipp -v 2>/dev/null | grep -o 'SIPp v[0-9.]*' | head -1), $("$SIPFARMD" --version 2>/dev/null | head -1)"
say "proxies run under '$PROXY_PRIO', the load under '$LOAD_PRIO'; SIPp UAC over TCP, one connection, $SIPP_RATE calls/s for $SIPP_SECS s"

# ------------------------------------------------------------ rounds
order="$PROXIES"
for round in $(seq "$ROUNDS"); do
    for proxy in $order; do
        start_proxy "$proxy"
        run_round "$round"
        read -r ok failed retrans <<<"$SIPP_UAC"
        read -r uok ufailed uretrans <<<"$SIPP_UAS"
        record "tcp $proxy $round msgs=$W_MSGS conn=$W_CONN conns=$W_CONNS drops=$W_DROPS ticks=$W_TICKS ms=$W_MS ok=${ok:-0} failed=${failed:-0} retrans=${retrans:-0} uas_ok=${uok:-0} uas_failed=${ufailed:-0} uas_retrans=${uretrans:-0} rc=$W_RC"
        say "round $round $proxy: $W_MSGS msgs forwarded (UAC $ok calls ok, $failed failed, $retrans retrans; UAS $uok ok, $ufailed failed; $W_CONNS TCP connection(s)), $(us_per_msg "$W_TICKS" "$W_MSGS") µs CPU/msg, $(per_core "$W_TICKS" "$W_MSGS") msgs/s per core"
        [ "$W_RC" = 0 ] || say "  SIPp UAC exit $W_RC: see $W/uac-$proxy-$round.err"
        [ "$W_DROPS" = 0 ] || say "  $proxy dropped $W_DROPS: $(proxy_drops_detail)"
        stop_proxy
    done
    order="${order#* } ${order%% *}"
done

# ------------------------------------------------------------ problems
problems=0
while read -r line; do
    read -r _ proxy round _ <<<"$line"
    calls=$((SIPP_RATE * SIPP_SECS))
    if [ "$(kv failed "$line")" != 0 ] || [ "$(kv uas_failed "$line")" != 0 ] || [ "$(kv rc "$line")" != 0 ] ||
        [ "$(kv ok "$line")" != "$calls" ] || [ "$(kv drops "$line")" != 0 ] || [ "$(kv conns "$line")" != 1 ]; then
        say "problem: $proxy, round $round: $line"
        problems=$((problems + 1))
    fi
    expect=$((calls * MSGS_PER_CALL + $(kv retrans "$line") + $(kv uas_retrans "$line")))
    if [ "$(kv msgs "$line")" != "$expect" ]; then
        say "note: $proxy, round $round counted $(kv msgs "$line") messages, SIPp says $expect (7 a call + retransmissions)"
    fi
done <"$W/results"
if [ -f "$W/sipfarmd-f1.log" ]; then
    n=$(grep -c 'level=error\|level=warn' "$W/sipfarmd-f1.log")
    if [ "$n" != 0 ]; then
        say "problem: $n warn/error lines in sipfarmd-f1.log; the first: $(grep -m1 'level=error\|level=warn' "$W/sipfarmd-f1.log")"
        problems=$((problems + 1))
    fi
fi
if [ -f "$W/kamailio.log" ]; then
    n=$(grep -c 'ERROR\|CRITICAL' "$W/kamailio.log")
    if [ "$n" != 0 ]; then
        say "problem: $n ERROR lines in kamailio.log; the first: $(grep -m1 'ERROR\|CRITICAL' "$W/kamailio.log")"
        problems=$((problems + 1))
    fi
fi

# ------------------------------------------------------------ summary
declare -A US PPS CPS SPREAD
for proxy in $PROXIES; do
    us="" pps="" cps=""
    while read -r line; do
        us="$us $(us_per_msg "$(kv ticks "$line")" "$(kv msgs "$line")")"
        pps="$pps $(per_core "$(kv ticks "$line")" "$(kv msgs "$line")")"
        cps="$cps $(per_core "$(kv ticks "$line")" "$(kv ok "$line")")"
    done < <(awk -v x="$proxy" '$1 == "tcp" && $2 == x' "$W/results")
    # shellcheck disable=SC2086 # lists of numbers
    {
        US[$proxy]=$(median $us)
        PPS[$proxy]=$(median $pps)
        CPS[$proxy]=$(median $cps)
        SPREAD[$proxy]=$(spread $pps)
    }
done
label() {
    case $1 in
    kamailio) echo "kamailio, TCP in, UDP out" ;;
    sipfarmd) echo "sipfarmd, 1 member, TCP in" ;;
    esac
}
cpu_model=$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)
echo
echo "rtfarm bench, SIP over TCP: SIPp UAC over one TCP connection -> proxy -> SIPp UAS over UDP"
echo "$SIPP_RATE calls/s for $SIPP_SECS s; median of $ROUNDS rounds; proxy on CPU $PROXY_CPU, load on CPU $LOAD_CPU; $ncpu CPUs, $cpu_model"
echo
printf '%-28s | %10s | %16s | %15s | %16s\n' "proxy" "µs CPU/msg" "msgs/s per core" "min..max" "calls/s per core"
for proxy in $PROXIES; do
    printf '%-28s | %10s | %16s | %15s | %16s\n' "$(label "$proxy")" "${US[$proxy]}" "${PPS[$proxy]}" \
        "${SPREAD[$proxy]}" "${CPS[$proxy]}"
done
echo
r=$(ratio "${PPS[sipfarmd]}" "${PPS[kamailio]}")
echo "ratio sipfarmd/kamailio over TCP = $r (messages per CPU second)"
goal() { awk -v v="$1" -v t="$2" 'BEGIN { if (v != v + 0) print "unknown"; else print (v >= t ? "met" : "NOT met") }'; }
echo "goal sipfarmd >= 1.5x kamailio per core over TCP: $(goal "$r" 1.5)"
echo "problems: $problems; the bench took $(($(date +%s) - T_START)) s"
echo "command: RTFARM_BENCH_ROUNDS=$ROUNDS RTFARM_BENCH_TCP_RATE=$SIPP_RATE RTFARM_BENCH_PROXY_CPU=$PROXY_CPU RTFARM_BENCH_LOAD_CPU=$LOAD_CPU $0"
[ "$problems" = 0 ] || exit 1
exit 0
