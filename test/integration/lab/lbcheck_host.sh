#!/usr/bin/env bash
# lbcheck host on a DSR frontend of the namespace lab (test/lab, method dsr):
# sipfarmd runs on f1 and f2 with the DSR config (sip_listen VIP:5060 and
# 0.0.0.0:5060), and `lbcheck host --vip 203.0.113.1 --json` runs inside f1
# for each variant below; each variant asserts the exact set of error
# findings (and the exit status), then puts the correct state back.
#
#   correct DSR                          {}                                  exit 0
#   VIP on lo as /24                     {dsr-vip-netmask}                   exit 1
#   arp_ignore 0, arp_announce 0         {dsr-arp-ignore, dsr-arp-announce}  exit 1
#     (all and eth0)
#   rp_filter 1 (all and eth0)           {dsr-rp-filter}                     exit 1
#   sipfarmd on 0.0.0.0:5060 only        {dsr-no-vip-socket}                 exit 1
#   VIP removed from lo (sipfarmd on     {dsr-vip-missing, dsr-no-vip-socket} exit 1
#     0.0.0.0:5060 only: it cannot bind the VIP any more)
#   correct DSR again                    {}                                  exit 0
#
# ARP on the internal segment, probed from f2 (--arp-probe eth0). In this
# lab's DSR method nobody on the frontends' segment owns the VIP: the client
# routes it to the lb's public side, and the lb's ingress hook forwards by MAC
# without holding it. So with every frontend right no host answers (the
# warning dsr-arp-no-answer, no error, exit 0); with f1's ARP not hidden f1's
# MAC alone answers (dsr-arp-answer, info: lbcheck cannot tell f1 from a load
# balancer); with f1's and f3's not hidden both answer: {dsr-arp-conflict}.
# Bad input exits 2: a --vip that is not an address, an unknown
# --arp-probe interface.
#
# Exit status: 0 passed; 1 failed; 0 with a "skipped: ..." line when the host
# cannot run the lab (not root, no namespaces). RTFARM_KEEP_LOGS=1 keeps the
# work folder; RTFARM_TEST_TIMEOUT_SCALE scales the time limits.
set -u
# shellcheck source=lab_common.bash
. "$(dirname "$0")/lab_common.bash"
lab_init lbcheck_host lbh
for b in sipfarmd lbcheck cgclusterctl; do
    [ -x "$bin/$b" ] || { echo "lbcheck_host: $bin/$b is not built (make)"; exit 1; }
done

declare -A dpid # member -> its sipfarmd's pid, while it runs
starts=0        # sipfarmd starts so far: each one logs to $work/MEMBER-N.log

# Two configs, the same cluster: dsr.json (every frontend on VIP:5060 and
# 0.0.0.0:5060) and wild.json (f1 on 0.0.0.0:5060 only: the broken variant).
write_config() { # FILE F1_LISTEN
    local m listen sep=""
    {
        echo '{'
        echo "  \"cluster\": {\"name\": \"lbh\", \"wan_ip\": \"$VIP\", \"farm_port\": 5069, \"secret_file\": \"farm.key\"},"
        echo '  "members": {'
        for m in f1 f2 f3; do
            listen="\"$VIP:5060\", \"0.0.0.0:5060\""
            [ "$m" = f1 ] && listen=$2
            printf '%s    "%s": {"role": "frontend", "address": "%s", "sip_listen": [%s], "processor": "127.0.0.1:5070",\n' \
                "$sep" "$m" "$(addr_of "$m")" "$listen"
            printf '           "media_ports": "%s", "control": "%s.sock", "control_tcp": "%s:5068"}' \
                "$(range_of "$m")" "$m" "$(addr_of "$m")"
            sep=$(printf ',\n')
        done
        echo
        echo '  }'
        echo '}'
    } >"$1"
}
printf 'a secret shared by every member of this lab farm, run %s\n' "$$" >"$work/farm.key"
write_config "$work/dsr.json" "\"$VIP:5060\", \"0.0.0.0:5060\""
write_config "$work/wild.json" '"0.0.0.0:5060"'
for c in dsr wild; do
    "$bin/cgclusterctl" --config "$work/$c.json" check >"$work/check-$c.txt" 2>&1 ||
        { cat "$work/check-$c.txt"; echo "lbcheck_host: $c.json does not pass cgclusterctl check"; exit 1; }
done

"$lab" up dsr >"$work/lab.txt" 2>&1 || { cat "$work/lab.txt"; exit 1; }

# sipfarmd on member $1 with config $2 (dsr or wild); waits for its control
# socket and its UDP port 5060.
start_daemon() {
    local m=$1 c=$2 n
    rm -f "$work/$m.sock"
    starts=$((starts + 1))
    n=$starts
    "$lab" exec "$m" "$bin/sipfarmd" --config "$work/$c.json" --member "$m" 2>"$work/$m-$n.log" &
    dpid[$m]=$!
    wait_socket "$work/$m.sock" "$work/$m-$n.log" || exit 1
    "$lab" wait-udp "$m" 5060 "$(sec 5)" || exit 1
}
# SIGTERM, and a bounded wait for exit status 0 (SIGKILL and a failure if not).
stop_daemon() {
    local m=$1 p=${dpid[$1]} rc
    kill -TERM "$p" 2>/dev/null
    for _ in $(seq "$(($(sec 10) * 10))"); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$p" 2>/dev/null; then
        kill -KILL "$p" 2>/dev/null
        wait "$p" 2>/dev/null
        check "sipfarmd $m: exits on SIGTERM (still running after $(sec 10) s: killed)" false
    else
        wait "$p"
        rc=$?
        [ "$rc" = 0 ] || check "sipfarmd $m: SIGTERM, exit $rc" false
    fi
    unset "dpid[$m]"
}

# lbcheck host in node $1 (more options after it); sets out (the JSON), rc,
# errors (the sorted error ids, comma-separated) and others (the ids of the
# other findings, "id(severity)").
run_lbcheck() {
    local n=$1
    shift
    out=$("$lab" exec "$n" timeout "$(sec 10)" "$bin/lbcheck" host --vip "$VIP" --json "$@" 2>"$work/lbcheck.err")
    rc=$?
    errors=$(echo "$out" | grep -o '"id":"[^"]*","severity":"error"' | sed 's/"id":"\([^"]*\)".*/\1/' | sort | paste -sd, -)
    others=$(echo "$out" | grep -o '"id":"[^"]*","severity":"[a-z]*"' | grep -v '"error"' |
        sed 's/"id":"\([^"]*\)","severity":"\([a-z]*\)"/\1(\2)/' | sort | paste -sd, -)
}
# The MACs that answered the ARP probe, comma-separated.
arp_macs() { echo "$out" | grep -o '"macs":\[[^]]*\]' | sed 's/"macs":\[//; s/\]//; s/"//g'; }

# One variant: NAME, the expected sorted error ids (comma-separated, "" for
# none), the expected exit status; lbcheck runs in f1.
variant() {
    local name=$1 want=$2 want_rc=$3
    run_lbcheck f1
    printf '%-34s errors={%s} others={%s} exit %s\n' "$name" "$errors" "$others" "$rc"
    check "$name: error findings {$want}" test "$errors" = "$want"
    check "$name: exit $want_rc" test "$rc" = "$want_rc"
    if [ "$errors" != "$want" ] || [ "$rc" != "$want_rc" ]; then
        echo "$out" | head -c 3000
        echo
        cat "$work/lbcheck.err"
    fi
}
sysctls() { # NODE VALUE-OF-arp_ignore VALUE-OF-arp_announce VALUE-OF-rp_filter (all and eth0)
    "$lab" exec "$1" sysctl -qw net.ipv4.conf.all.arp_ignore="$2" net.ipv4.conf.eth0.arp_ignore="$2" \
        net.ipv4.conf.all.arp_announce="$3" net.ipv4.conf.eth0.arp_announce="$3" \
        net.ipv4.conf.all.rp_filter="$4" net.ipv4.conf.eth0.rp_filter="$4"
}
# The lab's own frontend settings (lab.sh up dsr): rp_filter 0 in a new namespace.
good_sysctls() { sysctls "$1" 1 2 0; }
f1_ip() { "$lab" exec f1 ip "$@"; }

start_daemon f1 dsr
start_daemon f2 dsr
good_sysctls f1
good_sysctls f2
good_sysctls f3

echo "lbcheck host in f1 (sipfarmd on f1 and f2):"
variant "correct DSR" "" 0
run_lbcheck f1
check "correct DSR: observed lists the VIP socket" \
    grep -q "\"local\":\"$VIP:5060\"" <<<"$out"
check "correct DSR: observed lists lo with $VIP/32" grep -q "\"$VIP/32\"" <<<"$out"
text=$("$lab" exec f1 "$bin/lbcheck" host --vip "$VIP")
check "correct DSR, text output: \"No problem found.\"" grep -q '^No problem found\.$' <<<"$text"

f1_ip addr del "$VIP/32" dev lo
f1_ip addr add "$VIP/24" dev lo
variant "VIP on lo as /24" dsr-vip-netmask 1
f1_ip addr del "$VIP/24" dev lo
f1_ip addr add "$VIP/32" dev lo

sysctls f1 0 0 0
variant "arp_ignore=0 arp_announce=0" dsr-arp-announce,dsr-arp-ignore 1
good_sysctls f1

sysctls f1 1 2 1
variant "rp_filter=1" dsr-rp-filter 1
good_sysctls f1

stop_daemon f1
start_daemon f1 wild
variant "sipfarmd on 0.0.0.0:5060 only" dsr-no-vip-socket 1

f1_ip addr del "$VIP/32" dev lo
variant "VIP removed from lo" dsr-no-vip-socket,dsr-vip-missing 1
f1_ip addr add "$VIP/32" dev lo
stop_daemon f1
start_daemon f1 dsr
variant "correct DSR again" "" 0

echo "ARP for the VIP on the internal segment, probed from f2 (--arp-probe eth0):"
arp_variant() { # NAME WANT_ERRORS WANT_OTHERS WANT_MACS WANT_RC
    run_lbcheck f2 --arp-probe eth0
    local macs
    macs=$(arp_macs)
    printf '%-34s errors={%s} others={%s} macs={%s} exit %s\n' "$1" "$errors" "$others" "$macs" "$rc"
    check "$1: error findings {$2}" test "$errors" = "$2"
    check "$1: other findings {$3}" test "$others" = "$3"
    check "$1: answering MACs {$4}" test "$macs" = "$4"
    check "$1: exit $5" test "$rc" = "$5"
}
arp_variant "every frontend right" "" "dsr-arp-no-answer(warning)" "" 0
sysctls f1 0 0 0
arp_variant "f1 arp_ignore=0" "" "dsr-arp-answer(info)" "02:77:00:00:00:11" 0
sysctls f3 0 0 0
arp_variant "f1 and f3 arp_ignore=0" dsr-arp-conflict "" "02:77:00:00:00:11,02:77:00:00:00:13" 1
good_sysctls f1
good_sysctls f3

echo "bad input:"
"$lab" exec f1 "$bin/lbcheck" host --vip not-an-address >/dev/null 2>"$work/bad.err"
rc=$?
check "--vip not-an-address: exit 2 ($(head -n 1 "$work/bad.err"))" test "$rc" = 2
"$lab" exec f1 "$bin/lbcheck" host --vip "$VIP" --arp-probe nosuch0 >/dev/null 2>"$work/bad.err"
rc=$?
check "--arp-probe nosuch0: exit 2 ($(head -n 1 "$work/bad.err"))" test "$rc" = 2

for m in "${!dpid[@]}"; do stop_daemon "$m"; done
for l in "$work"/f*.log; do
    errs=$(grep -c 'level=error' "$l")
    check "$(basename "$l"): no level=error" test "$errs" = 0
    [ "$errs" = 0 ] || grep 'level=error' "$l" | head -n 5
done
[ "$fail" = 0 ] && echo "lbcheck_host: passed" || echo "lbcheck_host: FAILED"
exit "$fail"
