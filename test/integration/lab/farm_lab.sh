#!/usr/bin/env bash
# SIP farm calls through a real load balancer: the namespace lab of
# test/lab (nftables spraying every UDP packet to a random frontend), sipfarmd
# on every member, a SIPp UAS (test/lab/sipp/uas.xml) as each member's
# processor on 127.0.0.1:5070, and SIPp calls. A call passes only when both
# sides count it: the caller got every answer, and the processor that got
# the INVITE also got its ACK and BYE.
#
#   farm_lab.sh nat   [CALLS]  calls from the client through the VIP, NAT LB
#   farm_lab.sh dsr   [CALLS]  the same with direct server return
#   farm_lab.sh relay [CALLS]  a Relay backend (b1, no internet) calls a UAS in
#                              the client through the farm's Members
#   farm_lab.sh chaos [CALLS]  nat, with a forged farm-link packet and garbage
#                              on every socket in the middle of the calls
#   farm_lab.sh demo  [CALLS]  nat, printing what happened per member
#
# Exit status: 0 passed; 1 failed; 0 with a "skipped: ..." line when the host
# cannot run the lab (not root, no namespaces). RTFARM_KEEP_LOGS=1 keeps the
# work folder; RTFARM_TEST_TIMEOUT_SCALE scales the time limits.
set -u
cd "$(dirname "$0")/../../.." || exit 1
root=$PWD
mode=${1:-nat}
case "$mode" in nat | dsr | relay | chaos | demo) ;; *) echo "usage: $0 nat|dsr|relay|chaos|demo [CALLS]" >&2; exit 2 ;; esac
calls=${2:-}
[ -n "$calls" ] || case "$mode" in relay) calls=100 ;; demo) calls=200 ;; *) calls=500 ;; esac
rate=${RTFARM_FARM_RATE:-50}
call_ms=${RTFARM_FARM_CALL_MS:-200}
scale=${RTFARM_TEST_TIMEOUT_SCALE:-1}
sec() { awk -v s="$1" -v k="$scale" 'BEGIN { v = int(s * k + 0.5); print (v < 1 ? 1 : v) }'; }

lab=$root/test/lab/lab.sh
sc=$root/test/lab/sipp
bin=$root/${RTFARM_BUILD:-build}/bin
VIP=203.0.113.1
method=nat
[ "$mode" = dsr ] && method=dsr

"$lab" check >/dev/null 2>&1
case $? in
0) ;;
77) echo "skipped: farm_lab $mode: $("$lab" check 2>&1 | tail -n 1)"; exit 0 ;;
*) echo "farm_lab $mode: lab.sh check failed"; exit 1 ;;
esac
for t in sipp ip nft; do
    command -v "$t" >/dev/null || { echo "skipped: farm_lab $mode: $t is not installed"; exit 0; }
done

export RTFARM_LAB=rtfm$$
work=$(mktemp -d /tmp/rtfarm-farm-XXXXXX)
pids=""
cleanup() {
    for p in $pids; do kill -KILL "$p" 2>/dev/null; done
    for p in $pids; do wait "$p" 2>/dev/null; done
    "$lab" down >/dev/null 2>&1
    if [ "${RTFARM_KEEP_LOGS:-0}" = 1 ]; then echo "logs kept in $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fail=0
check() { # DESCRIPTION CONDITION...
    local what=$1
    shift
    if "$@"; then echo "  ok    $what"; else echo "  FAIL  $what"; fail=1; fi
}
val() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1; }

# The cluster: three frontends and the backend b1, on the lab's addresses.
listen='"0.0.0.0:5060"'
[ "$method" = dsr ] && listen="\"$VIP:5060\", \"0.0.0.0:5060\""
member() { # ID ROLE ADDRESS LISTEN RANGE
    printf '    "%s": {"role": "%s", "address": "%s", "sip_listen": [%s], "processor": "127.0.0.1:5070",\n' "$1" "$2" "$3" "$4"
    printf '           "media_ports": "%s", "control": "%s.sock", "control_tcp": "%s:5068"}' "$5" "$1" "$3"
}
printf 'a secret shared by the farm %s\n' "$$" >"$work/farm.key"
{
    echo '{'
    echo "  \"cluster\": {\"name\": \"lab\", \"wan_ip\": \"$VIP\", \"farm_port\": 5069, \"secret_file\": \"farm.key\"},"
    echo '  "members": {'
    member f1 frontend 10.77.0.11 "$listen" 10000-19999
    echo ','
    member f2 frontend 10.77.0.12 "$listen" 20000-29999
    echo ','
    member f3 frontend 10.77.0.13 "$listen" 30000-39999
    echo ','
    member b1 backend 10.77.0.21 "" 40000-49999
    echo
    echo '  }'
    echo '}'
} >"$work/cluster.json"
"$bin/cgclusterctl" --config "$work/cluster.json" check >"$work/check.txt" 2>&1 ||
    { cat "$work/check.txt"; echo "farm_lab: the lab config does not pass cgclusterctl check"; exit 1; }

"$lab" up "$method" >"$work/lab.txt" 2>&1 || { cat "$work/lab.txt"; exit 1; }

for m in f1 f2 f3 b1; do
    "$lab" exec "$m" "$bin/sipfarmd" --config "$work/cluster.json" --member "$m" 2>"$work/$m.log" &
    pids="$pids $!"
done
for m in f1 f2 f3 b1; do
    for _ in $(seq 100); do [ -S "$work/$m.sock" ] && break; sleep 0.05; done
    [ -S "$work/$m.sock" ] || { echo "farm_lab: sipfarmd $m did not start:"; cat "$work/$m.log"; exit 1; }
done

# Heartbeats on the farm link: every member sees every member up (bounded).
for m in f1 f2 f3 b1; do
    up=0
    for _ in $(seq "$(($(sec 5) * 20))"); do
        up=$("$bin/cgclusterctl" --socket "$work/$m.sock" --json members 2>/dev/null | grep -o '"state":"up"' | wc -l)
        [ "$up" = 4 ] && break
        sleep 0.05
    done
    [ "$up" = 4 ] || { echo "farm_lab: $m sees $up of 4 members up:"; "$bin/cgclusterctl" --socket "$work/$m.sock" members; exit 1; }
done
[ "$mode" = demo ] && { echo "Membership as f1 sees it:"; "$bin/cgclusterctl" --socket "$work/f1.sock" members | sed 's/^/  /'; }

# SIPp UAS: the processors (one per frontend), or the callee in the client.
uas_pids=""
start_uas() { # NODE IP PORT NAME
    (cd "$work" && exec "$lab" exec "$1" sipp -sf "$sc/uas.xml" -i "$2" -p "$3" -bind_local -nostdin \
        -default_behaviors all,-bye -recv_timeout 10000 -timeout "$(sec 300)s" \
        -trace_stat -stf "$4.csv" -fd 1 -trace_err -error_file "$4.err" >"$4.out" 2>&1) &
    uas_pids="$uas_pids $!"
    pids="$pids $!"
}
stop_uas() {
    for p in $uas_pids; do kill -USR1 "$p" 2>/dev/null; done
    for p in $uas_pids; do
        for _ in $(seq "$(($(sec 20) * 10))"); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
}
uac_scenario=$sc/uac_rr.xml
uac() { # NODE IP PORT REMOTE NAME
    (cd "$work" && timeout -k 5 "$(sec 300)" "$lab" exec "$1" sipp -sf "$uac_scenario" "$4" \
        -i "$2" -p "$3" -nostdin -m "$calls" -r "$rate" -d "$call_ms" -recv_timeout 10000 \
        -timeout "$(sec 280)s" -timeout_error \
        -trace_stat -stf "$5.csv" -fd 1 -trace_err -error_file "$5.err" >"$5.out" 2>&1)
}

# Garbage on every socket and a forged farm-link packet, mid-call.
chaos() {
    sleep 2
    local f
    for f in f1 f2 f3; do
        printf 'garbage\001\002' | "$lab" exec client timeout 2 bash -c "cat >/dev/udp/$VIP/5060"
        printf '\r\n\r\n' | "$lab" exec client timeout 2 bash -c "cat >/dev/udp/$VIP/5060"
    done
    # A farm-link envelope without the cluster's MAC, from a member address
    # (b1 forging) and from a stranger (the lb), to every frontend.
    for f in 10.77.0.11 10.77.0.12 10.77.0.13; do
        printf 'RTF1\001\000\001U garbage after a plausible header' |
            "$lab" exec b1 timeout 2 bash -c "cat >/dev/udp/$f/5069"
        printf 'RTF1\001\000\001U from a stranger' |
            "$lab" exec lb timeout 2 bash -c "cat >/dev/udp/$f/5069"
        printf 'not even sip' | "$lab" exec lb timeout 2 bash -c "cat >/dev/udp/$f/5068"
    done
}

echo "== farm_lab $mode: $calls calls at $rate/s, ${call_ms} ms each, LB method $method"
if [ "$mode" = relay ]; then
    # b1's processor is a caller: it calls a UAS in the client, through a
    # Member. It sends everything to sipfarmd (its outbound proxy), so the
    # Request-URI must name the callee, not the remote address SIPp sends to.
    sed 's/sip:\[service\]@\[remote_ip\]:\[remote_port\]/sip:[service]@198.51.100.10:5060/g' \
        "$sc/uac_rr.xml" >"$work/uac_outbound.xml"
    uac_scenario=$work/uac_outbound.xml
    start_uas client 198.51.100.10 5060 callee
    "$lab" wait-udp client 5060 "$(sec 5)" >/dev/null
    uac b1 127.0.0.1 5070 127.0.0.1:5060 caller
    uac_rc=$?
    stop_uas
    UAC=$("$lab" stat "$work/caller.csv")
    UAS=$("$lab" stat "$work/callee.csv")
else
    for f in f1 f2 f3; do start_uas "$f" 127.0.0.1 5070 "uas-$f"; done
    for f in f1 f2 f3; do "$lab" wait-udp "$f" 5070 "$(sec 5)" >/dev/null; done
    [ "$mode" = chaos ] && { chaos & pids="$pids $!"; }
    uac client 198.51.100.10 5062 "$VIP:5060" caller
    uac_rc=$?
    stop_uas
    UAC=$("$lab" stat "$work/caller.csv")
    UAS=$("$lab" stat "$work/uas-f1.csv" "$work/uas-f2.csv" "$work/uas-f3.csv")
fi

stats=$("$bin/cgclusterctl" --config "$work/cluster.json" --json stats 2>/dev/null)
relayed() { echo "$stats" | tr '{},' '\n\n\n' | sed -n 's/^"relayed":\([0-9]*\)$/\1/p' | awk '{ s += $1 } END { print s + 0 }'; }
dropped_by() { echo "$stats" | tr '{},' '\n\n\n' | sed -n "s/^\"$1\":\([0-9]*\)\$/\1/p" | awk '{ s += $1 } END { print s + 0 }'; }

echo "  caller : $UAC (sipp exit $uac_rc)"
echo "  callee : $UAS"
echo "  lb     : $("$lab" counters | sed -n 's/^lb: //p')"
if [ "$mode" = demo ] || [ "${RTFARM_VERBOSE:-0}" = 1 ]; then
    echo
    echo "Per member (sipfarmd stats: datagrams received, relayed to another member,"
    echo "received over the farm link, processed here, handed to the processor):"
    printf '  %-4s %9s %9s %11s %10s %13s %9s\n' member received relayed relayed_in processed to_processor dropped
    for m in f1 f2 f3 b1; do
        s=$("$bin/cgclusterctl" --socket "$work/$m.sock" --json stats 2>/dev/null | tr '{},' '\n\n\n')
        g() { echo "$s" | sed -n "s/^\"$1\":\([0-9]*\)\$/\1/p" | head -n 1; }
        printf '  %-4s %9s %9s %11s %10s %13s %9s\n' "$m" "$(g received)" "$(g relayed)" "$(g relayed_in)" \
            "$(g processed)" "$(g to_processor)" "$(g dropped)"
    done
    for f in f1 f2 f3; do
        [ -f "$work/uas-$f.csv" ] && echo "  processor in $f: $("$lab" stat "$work/uas-$f.csv")"
    done
    echo
fi

check "caller: $calls calls ok, 0 failed" \
    test "$(val "$UAC" ok)" = "$calls" -a "$(val "$UAC" failed)" = 0
check "callee side: $calls calls ok, 0 failed (INVITE, ACK and BYE met)" \
    test "$(val "$UAS" ok)" = "$calls" -a "$(val "$UAS" failed)" = 0
check "the farm relayed packets between members ($(relayed))" test "$(relayed)" -gt 0
if [ "$mode" != relay ]; then
    # Every reply reached the client from VIP:5060, never from a member's own
    # address (DSR: sent from the VIP socket) or another port (NAT).
    clc=$("$lab" counters | sed -n 's/^client: //p')
    check "client: every reply from VIP:5060 ($clc)" \
        test "$(val "$clc" udp_from_vip_other_port)" = 0 -a "$(val "$clc" udp_from_other)" = 0 \
        -a "$(val "$clc" udp_from_vip_5060)" -ge $((4 * calls))
fi
if [ "$mode" = chaos ]; then
    check "forged farm-link packets dropped ($(($(dropped_by farm_malformed) + $(dropped_by farm_unauthenticated) + $(dropped_by farm_stranger))))" \
        test $(($(dropped_by farm_malformed) + $(dropped_by farm_unauthenticated) + $(dropped_by farm_stranger))) -ge 3
    check "garbage dropped ($(($(dropped_by bad_start_line) + $(dropped_by keepalive))))" \
        test $(($(dropped_by bad_start_line) + $(dropped_by keepalive))) -ge 1
fi
for m in f1 f2 f3 b1; do
    errs=$(grep -c 'level=error' "$work/$m.log")
    check "sipfarmd $m: no level=error in its log" test "$errs" = 0
    [ "$errs" = 0 ] || grep 'level=error' "$work/$m.log" | head -n 5
done
for p in $pids; do :; done
if [ "$fail" != 0 ]; then
    for m in f1 f2 f3 b1; do echo "--- $m stats"; "$bin/cgclusterctl" --socket "$work/$m.sock" --json stats; done
    for e in "$work"/*.err; do [ -s "$e" ] && { echo "--- $e"; head -c 1500 "$e"; echo; }; done
fi
# Stop the daemons: each must exit 0 on SIGTERM.
for p in $pids; do kill -TERM "$p" 2>/dev/null; done
for p in $pids; do wait "$p" 2>/dev/null; done
pids=""
[ "$fail" = 0 ] && echo "farm_lab $mode: passed" || echo "farm_lab $mode: FAILED"
exit "$fail"
