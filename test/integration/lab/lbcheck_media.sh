#!/usr/bin/env bash
# lbcheck media against a real load balancer: the namespace lab of test/lab
# (nat: stateless single-IP NAT, each frontend's media port range on the VIP,
# f1 10000-19999, f2 20000-29999, f3 30000-39999), sipfarmd and rtprelayd on
# f1-f3 with "media": "anchor" and the cluster's wan_ip the VIP, and
# `lbcheck media --vip 203.0.113.1 --json` from the client:
#   1. the lab's mapping: no error finding, exit 0, every frontend's range
#      tried with packets back both ways;
#   2. the lb forwards f2's range to f3's address (one nft rule replaced):
#      exactly {media-range-misrouted}, naming f2 and 20000-29999, exit 1;
#      and every test session was deleted by lbcheck's end probes.
#
# Exit status: 0 passed; 1 failed; 0 with a "skipped: ..." line when the host
# cannot run the lab (not root, no namespaces). RTFARM_KEEP_LOGS=1 keeps the
# work folder; RTFARM_TEST_TIMEOUT_SCALE scales the time limits.
set -u
# shellcheck source=lab_common.bash
. "$(dirname "$0")/lab_common.bash"
lab_init lbcheck_media lbm

# RTFARM_LAB_MEDIA_FAST_PATH=auto|required: rtprelayd's kernel fast path on
# every member (their eth0 forward IPv4, as its next-hop lookup needs).
fast_path=${RTFARM_LAB_MEDIA_FAST_PATH:-}
# The cluster (farm_lab.sh's conventions): f1-f3 on the lab's addresses.
frontends="f1 f2 f3"
member() { # ID ADDRESS RANGE
    printf '    "%s": {"role": "frontend", "address": "%s", "sip_listen": ["0.0.0.0:5060"], "processor": "127.0.0.1:5070",\n' "$1" "$2"
    printf '           "media_ports": "%s", "control": "%s.sock", "media_control": "%s-media.sock"%s}' "$3" "$1" "$1" \
        "${fast_path:+, \"media_fast_path\": \"$fast_path\"}"
}
printf 'a secret shared by every member of this lab farm, run %s\n' "$$" >"$work/farm.key"
{
    echo '{'
    echo "  \"cluster\": {\"name\": \"lab\", \"wan_ip\": \"$VIP\", \"farm_port\": 5069, \"secret_file\": \"farm.key\","
    echo '              "heartbeat_ms": 200, "dead_after_ms": 1000, "media": "anchor"},'
    echo '  "members": {'
    sep=""
    for m in $frontends; do
        printf '%s' "$sep"
        member "$m" "$(addr_of "$m")" "$(range_of "$m")"
        sep=$(printf ',\n')
    done
    echo
    echo '  }'
    echo '}'
} >"$work/cluster.json"
"$ctl" --config "$work/cluster.json" check >"$work/check.txt" 2>&1 ||
    { cat "$work/check.txt"; echo "lbcheck_media: the lab config does not pass cgclusterctl check"; exit 1; }

"$lab" up nat >"$work/lab.txt" 2>&1 || { cat "$work/lab.txt"; exit 1; }

declare -A dpid mpid
for m in $frontends; do
    "$lab" exec "$m" "$bin/sipfarmd" --config "$work/cluster.json" --member "$m" 2>"$work/$m.log" &
    dpid[$m]=$!
    pids="$pids $!"
    if [ -n "$fast_path" ] && [ "$fast_path" != off ]; then
        "$lab" exec "$m" sysctl -q -w net.ipv4.conf.eth0.forwarding=1 || { echo "lbcheck_media: cannot let $m's eth0 forward"; exit 1; }
    fi
    "$lab" exec "$m" "$bin/rtprelayd" --config "$work/cluster.json" --member "$m" 2>"$work/$m-media.log" &
    mpid[$m]=$!
    pids="$pids $!"
done
for m in $frontends; do
    for s in "$m.sock" "$m-media.sock"; do
        wait_socket "$work/$s" "$work/$m.log" "$work/$m-media.log" || exit 1
    done
done
# Every member sees the three up (heartbeats), bounded.
for m in $frontends; do wait_up "$work/$m.sock" 3 || exit 1; done

ids() { grep -o '"id":"[^"]*"' "$1" | cut -d'"' -f4 | sort | tr '\n' ' ' | sed 's/ $//'; }
# rtprelayd sessions left on the frontends, in all ("x" if cgclusterctl cannot say).
sessions() {
    local n
    n=$("$ctl" --config "$work/cluster.json" --json media 2>/dev/null | grep -o '"sessions":[0-9]*' | head -n 1 | cut -d: -f2)
    echo "${n:-x}"
}
# lbcheck media from the client, bounded; $1 names the run.
lbcheck_media() {
    local t0 t1
    t0=$(date +%s%N)
    "$lab" exec client timeout -k 2 "$(sec 60)" "$bin/lbcheck" media --vip "$VIP" --json \
        >"$work/$1.json" 2>"$work/$1.err"
    rc=$?
    t1=$(date +%s%N)
    ms=$(((t1 - t0) / 1000000))
    echo "  lbcheck media ($1): exit $rc in $ms ms, findings: {$(ids "$work/$1.json")}"
}

echo "== lbcheck_media: nat lab, media: anchor on f1 f2 f3, lbcheck media from the client"
lbcheck_media good
# What an operator reads (text output), for the log.
"$lab" exec client timeout -k 2 "$(sec 60)" "$bin/lbcheck" media --vip "$VIP" 2>&1 | sed 's/^/    /'
check "correct mapping: exit 0 ($(cat "$work/good.err"))" test "$rc" = 0
check "correct mapping: no finding at all ({$(ids "$work/good.json")})" test -z "$(ids "$work/good.json")"
check "correct mapping: \"ok\":true" grep -q '^{"ok":true' "$work/good.json"
for m in $frontends; do
    # Every frontend's range tried, with packets back both ways.
    got=$(grep -o "\"$m\":{\"range\":\"$(range_of "$m")\"[^}]*}" "$work/good.json")
    back_c=$(echo "$got" | grep -o '"to_caller_back":[0-9]*' | cut -d: -f2)
    back_e=$(echo "$got" | grep -o '"to_callee_back":[0-9]*' | cut -d: -f2)
    check "correct mapping: $m's range $(range_of "$m") tried, RTP back both ways (${back_c:-0}, ${back_e:-0})" \
        test "${back_c:-0}" -gt 0 -a "${back_e:-0}" -gt 0
done
check "correct mapping: lbcheck ended every test session (rtprelayd sessions left: $(sessions))" test "$(sessions)" = 0

# The wrong mapping: the lb forwards f2's range to f3's address.
handle=$("$lab" exec lb nft -a list chain ip rtfarm_lb raw_pre | grep 'udp dport 20000-29999' | sed -n 's/.*# handle \([0-9]*\)$/\1/p')
[ -n "$handle" ] || { echo "lbcheck_media: no rule for 20000-29999 in the lb"; exit 1; }
"$lab" exec lb nft replace rule ip rtfarm_lb raw_pre handle "$handle" \
    iifname '"pub"' ip daddr "$VIP" udp dport 20000-29999 notrack ip daddr set "$(addr_of f3)" ||
    { echo "lbcheck_media: could not change the lb's rule"; exit 1; }
"$lab" exec lb nft list chain ip rtfarm_lb raw_pre | grep -q "dport 20000-29999 notrack ip daddr set $(addr_of f3)" ||
    { echo "lbcheck_media: the lb's rule did not change"; exit 1; }
echo "  lb: UDP 20000-29999 on the VIP now goes to f3 ($(addr_of f3))"
lbcheck_media misrouted
check "f2's range to f3: exit 1 ($(cat "$work/misrouted.err"))" test "$rc" = 1
check "f2's range to f3: exactly {media-range-misrouted}" test "$(ids "$work/misrouted.json")" = media-range-misrouted
ev=$(grep -o '"evidence":"[^"]*"' "$work/misrouted.json")
fix=$(grep -o '"fix":"[^"]*"' "$work/misrouted.json")
check "the finding names f2 and 20000-29999" sh -c 'echo "$1" | grep -q "advertised by f2 (range 20000-29999)"' _ "$ev"
check "the fix: forward 20000-29999 on the VIP to f2" sh -c 'echo "$1" | grep -q "forward UDP 20000-29999 on 203.0.113.1 to f2"' _ "$fix"
check "f2's range to f3: lbcheck ended every test session (left: $(sessions))" test "$(sessions)" = 0
echo "  evidence: $ev"
check "both runs well under the time bound (last: $ms ms)" test "$ms" -lt 30000
val() { echo "$1" | tr " " "\n" | sed -n "s/^$2=//p" | head -n 1; }
if [ -n "$fast_path" ]; then
    for m in $frontends; do
        line=$("$ctl" --socket "$work/$m-media.sock" stats 2>/dev/null | sed -n 's/^ *fast_path: //p')
        left=$(( $(val "$line" entries) + $(val "$line" kernel_entries) ))
        check "$m: rtprelayd's kernel fast path runs (kernel forwarded $(val "$line" packets)), no entry left ($left)" \
            sh -c 'case " $1 " in *" path=kernel "*) test "$2" = 0 ;; *) false ;; esac' _ "$line" "$left"
    done
fi

for m in $frontends; do
    kill -TERM "${dpid[$m]}" "${mpid[$m]}" 2>/dev/null
done
for m in $frontends; do
    for p in "${dpid[$m]}" "${mpid[$m]}"; do
        for _ in $(seq "$(($(sec 10) * 10))"); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$p" 2>/dev/null && kill -KILL "$p"
        wait "$p"
        st=$?
        check "$m: pid $p exits 0 on SIGTERM ($st)" test "$st" = 0
    done
    errs=$(cat "$work/$m.log" "$work/$m-media.log" | grep -c 'level=error')
    check "$m: no level=error in sipfarmd's and rtprelayd's logs" test "$errs" = 0
done
pids=""
if [ "$fail" != 0 ]; then
    for f in "$work"/*.json; do echo "--- $f"; cat "$f"; done
fi
[ "$fail" = 0 ] && echo "lbcheck_media: passed" || echo "lbcheck_media: FAILED"
exit "$fail"
