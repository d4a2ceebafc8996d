#!/usr/bin/env bash
# lbcheck probe against the load balancers of the namespace lab (test/lab):
# sipfarmd on f1, f2, f3, `lbcheck probe --vip 203.0.113.1 --json` from the
# client, and the exact set of error findings it must report per set-up:
#
#   nat              stateless single-IP NAT (the reference's method)   none
#   nat-sticky       NAT with conntrack: UDP session binding            udp-session-binding,
#                                                                       reply-source-rewritten
#   nat-alg          nat-sticky with Linux's SIP ALG (the conntrack SIP   reply-source-rewritten,
#                    helper, nf_nat_sip, rewriting the messages)        sip-alg-rewrite,
#                                                                       udp-session-binding
#   dsr              direct server return                               none
#   dsr-own-source   DSR, f1's sipfarmd on 0.0.0.0:5060 only            reply-source-not-vip
#   dsr-vip-missing  DSR, the VIP not on f1's loopback                  probes-lost,
#                                                                       reply-source-not-vip
#   plain            nat, a plain SIP server (SIPp answering OPTIONS, no    none; says what it
#                    X-Farm-* headers) on f1-f3 instead of sipfarmd      could not check
#   silent           nothing answers on the VIP                         exit status 2
#
# Exit status: 0 passed; 1 failed; 0 with a "skipped: ..." line when the host
# cannot run the lab. RTFARM_KEEP_LOGS=1 keeps the work folder;
# RTFARM_TEST_TIMEOUT_SCALE scales the waits. One set-up: lbcheck_probe.sh NAME.
set -u
# shellcheck source=lab_common.bash
. "$(dirname "$0")/lab_common.bash"
lab_init lbcheck_probe lbp
setups=${1:-"nat nat-sticky nat-alg dsr dsr-own-source dsr-vip-missing plain silent"}

printf 'a secret shared by every member of this lab farm, run %s\n' "$$" >"$work/farm.key"
# config FILE LISTEN [F1_LISTEN]: members f1-f3; f1 may listen elsewhere.
config() {
    local m listen sep=""
    {
        echo '{'
        echo "  \"cluster\": {\"name\": \"lab\", \"wan_ip\": \"$VIP\", \"farm_port\": 5069, \"secret_file\": \"farm.key\"},"
        echo '  "members": {'
        for m in f1 f2 f3; do
            listen=$2
            [ "$m" = f1 ] && [ -n "${3:-}" ] && listen=$3
            printf '%s    "%s": {"role": "frontend", "address": "%s", "sip_listen": [%s], "processor": "127.0.0.1:5070",\n' "$sep" "$m" "$(addr_of "$m")" "$listen"
            printf '           "media_ports": "%s", "control": "%s.sock", "control_tcp": "%s:5068"}' "$(range_of "$m")" "$m" "$(addr_of "$m")"
            sep=$(printf ',\n')
        done
        echo
        echo '  }'
        echo '}'
    } >"$1"
}

start_farm() { # CONFIG
    local m
    rm -f "$work"/f?.sock
    for m in f1 f2 f3; do
        "$lab" exec "$m" "$bin/sipfarmd" --config "$1" --member "$m" 2>"$work/$setup-$m.log" &
        pids="$pids $!"
    done
    for m in f1 f2 f3; do
        wait_socket "$work/$m.sock" "$work/$setup-$m.log" || return 1
    done
    # Every member sees the three up (heartbeats), so they route alike.
    for m in f1 f2 f3; do
        wait_up "$work/$m.sock" 3 || return 1
    done
}
stop_farm() {
    local p
    for p in $pids; do kill -TERM "$p" 2>/dev/null; done
    for p in $pids; do wait "$p" 2>/dev/null; done
    pids=""
}

# The error findings of a JSON report, sorted, one line.
errors_of() { grep -o '"id":"[^"]*","severity":"error"' "$1" | sed 's/"id":"\([^"]*\)".*/\1/' | sort | tr '\n' ' ' | sed 's/ $//'; }

probe() { # SETUP EXPECTED_ERRORS EXPECTED_STATUS
    local out=$work/$1.json st got
    "$lab" exec client "$bin/lbcheck" probe --vip "$VIP" --count 120 --timeout "$(($(sec 1) * 1000))" --json >"$out" 2>"$work/$1.err"
    st=$?
    got=$(errors_of "$out")
    echo "$1: exit $st, errors: ${got:-none}"
    check "$1: error findings are exactly '${2:-none}'" test "$got" = "$2"
    check "$1: exit status $3" test "$st" = "$3"
    if [ "$st" != "$3" ] || [ "$got" != "$2" ]; then
        cat "$work/$1.err"
        "$lab" exec client "$bin/lbcheck" probe --vip "$VIP" --count 60 --timeout 500 | sed 's/^/    /'
    fi
}

for setup in $setups; do
    echo "== $setup"
    method=$setup
    listen='"0.0.0.0:5060"'
    case $setup in
    dsr | dsr-own-source | dsr-vip-missing) method=dsr; listen="\"$VIP:5060\", \"0.0.0.0:5060\"" ;;
    silent | plain) method=nat ;;
    nat-alg) method=nat-sticky ;;
    esac
    "$lab" up "$method" >"$work/$setup-lab.txt" 2>&1 || { cat "$work/$setup-lab.txt"; exit 1; }
    f1_listen=""
    case $setup in
    nat-alg)
        # The kernel's SIP helper on the load balancer's SIP flows: with NAT
        # it rewrites the addresses in the messages (a SIP ALG).
        "$lab" exec lb nft -f - <<'NFT' || { echo "lbcheck_probe: cannot attach the SIP helper"; exit 1; }
table ip rtfarm_alg {
    ct helper sip { type "sip" protocol udp; }
    chain pre {
        type filter hook prerouting priority filter; policy accept;
        iifname "pub" udp dport 5060 ct helper set "sip"
    }
}
NFT
        ;;
    dsr-own-source) f1_listen='"0.0.0.0:5060"' ;;
    dsr-vip-missing)
        f1_listen='"0.0.0.0:5060"'
        "$lab" exec f1 ip addr del "$VIP/32" dev lo
        ;;
    esac
    config "$work/$setup.json" "$listen" "$f1_listen"
    case $setup in
    silent) ;;
    plain)
        for m in f1 f2 f3; do
            (cd "$work" && exec "$lab" exec "$m" sipp -sf "$root/test/lab/sipp/options_uas.xml" -p 5060 \
                -nostdin >/dev/null 2>"$work/plain-$m.err") &
            pids="$pids $!"
        done
        for m in f1 f2 f3; do "$lab" wait-udp "$m" 5060 "$(sec 5)" || fail=1; done
        ;;
    *) start_farm "$work/$setup.json" || { fail=1; continue; } ;;
    esac
    case $setup in
    nat | dsr)
        probe "$setup" "" 0
        # What an operator reads (text output), for the log.
        "$lab" exec client "$bin/lbcheck" probe --vip "$VIP" --count 60 2>&1 | sed 's/^/    /'
        ;;
    nat-sticky) probe "$setup" "reply-source-rewritten udp-session-binding" 1 ;;
    nat-alg) probe "$setup" "reply-source-rewritten sip-alg-rewrite udp-session-binding" 1 ;;
    dsr-own-source) probe "$setup" "reply-source-not-vip" 1 ;;
    dsr-vip-missing) probe "$setup" "probes-lost reply-source-not-vip" 1 ;;
    plain)
        probe "$setup" "" 0
        check "plain: says what it could not check without X-Farm-* headers" grep -q 'not_checked":\["session binding' "$work/plain.json"
        check "plain: reports the server as no farm" grep -q '"farm":false' "$work/plain.json"
        ;;
    silent)
        "$lab" exec client "$bin/lbcheck" probe --vip "$VIP" --timeout 200 --json >"$work/silent.json" 2>"$work/silent.err"
        st=$?
        echo "silent: exit $st: $(cat "$work/silent.err")"
        check "silent: exit status 2" test "$st" = 2
        check "silent: says the VIP does not answer" grep -q "does not answer" "$work/silent.err"
        ;;
    esac
    stop_farm
done

if [ "$fail" = 0 ]; then echo "lbcheck_probe: passed"; else echo "lbcheck_probe: FAILED"; fi
exit "$fail"
