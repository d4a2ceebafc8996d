#!/usr/bin/env bash
# The lab's self-test, without sipfarmd: SIPp UAS (test/lab/sipp/uas.xml) in
# every frontend, SIPp UAC in the client calling the VIP, for each method:
#
#   spray   the LB picks among f1 f2 f3 per packet: INVITE, ACK and BYE of a
#           call land on different frontends, so most calls FAIL on the UAS
#           side (proof that the lab sprays per packet; sipfarmd's job is to
#           make these pass).  nat-sticky instead binds the client's flow to
#           one frontend: every call passes, all on one frontend, and a packet
#           from another frontend reaches the client from VIP:<other port>.
#           Run with the built-in UAC (its count hides most failures) and
#           with uac_rr.xml (whose count agrees with the UAS side).
#   single  the LB picks among one frontend (mod 1): every call passes, on
#           both sides, with the built-in UAC and with uac_rr.xml.
#
#   test/lab/selftest.sh [nat|dsr|nat-sticky ...]     (default: all three)
#
# RTFARM_LAB_CALLS (30), RTFARM_LAB_RATE (10 calls/s), RTFARM_LAB_CALL_MS (300)
# set the calls; RTFARM_TEST_TIMEOUT_SCALE scales every time limit;
# RTFARM_KEEP_LOGS=1 keeps the SIPp logs and statistics.
# Exit status: 0 every check passed; 1 a check failed; 77 skipped (the host
# cannot run the lab: not root, no namespaces); 2 usage.

# expect() evaluates its condition later: single quotes on purpose.
# shellcheck disable=SC2016
set -u
here=$(cd "$(dirname "$0")" && pwd)
lab="$here/lab.sh"
sc="$here/sipp"
CALLS=${RTFARM_LAB_CALLS:-30}
RATE=${RTFARM_LAB_RATE:-10}
CALL_MS=${RTFARM_LAB_CALL_MS:-300}
scale=${RTFARM_TEST_TIMEOUT_SCALE:-1}
VIP=203.0.113.1

methods=${*:-nat dsr nat-sticky}
for m in $methods; do
    case $m in nat | dsr | nat-sticky) ;; *) echo "usage: selftest.sh [nat|dsr|nat-sticky ...]" >&2; exit 2 ;; esac
done

# Seconds scaled by RTFARM_TEST_TIMEOUT_SCALE (at least 1).
sec() { awk -v s="$1" -v k="$scale" 'BEGIN { v = s * k; if (v < 1) v = 1; printf "%d", v + 0.5 }'; }

why=$("$lab" check 2>&1)
rc=$?
if [ $rc = 77 ]; then
    echo "selftest: skipped: ${why#lab.sh: cannot run here: }"
    exit 77
elif [ $rc != 0 ]; then
    echo "selftest: lab.sh check failed: $why"
    exit 1
fi
command -v sipp >/dev/null || { echo "selftest: skipped: sipp (Debian package sip-tester) is not installed"; exit 77; }

export RTFARM_LAB=${RTFARM_LAB:-rtfst$$}
work=$(mktemp -d /tmp/rtfarm-lab-XXXXXX)
uas_pids=""
cleanup() {
    local rc=$?
    local p
    for p in $uas_pids; do kill -KILL "$p" 2>/dev/null || true; done
    "$lab" down >/dev/null 2>&1 || "$lab" down || true
    if [ "${RTFARM_KEEP_LOGS:-}" = 1 ]; then echo "selftest: logs kept in $work"; else rm -rf "$work"; fi
    exit $rc
}
trap cleanup EXIT
trap 'echo "selftest: interrupted"; exit 130' INT TERM

passed=0 failed=0
expect() { # WHAT CONDITION: one check; CONDITION is shell code, evaluated
    local what=$1
    if eval "$2"; then
        passed=$((passed + 1))
        echo "  ok    $what"
    else
        failed=$((failed + 1))
        echo "  FAIL  $what"
    fi
}
# The value of KEY in a "k=v k=v" line.
val() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1; }
addr_of() { case $1 in f1) echo 10.77.0.11 ;; f2) echo 10.77.0.12 ;; f3) echo 10.77.0.13 ;; esac; }

RECV_TIMEOUT_MS=$((CALL_MS + 8000))

# SIPp UAS in frontend $2 for method $1, statistics in $3/<f>.csv; its pid
# (sipp itself: lab.sh exec and ip netns exec both exec) goes to uas_pids.
start_uas() {
    local method=$1 f=$2 dir=$3 ip bind=""
    ip=$(addr_of "$f")
    if [ "$method" = dsr ]; then
        # DSR: reply from the VIP, so listen on VIP:5060 explicitly (the
        # reference's "VIP socket"); 0.0.0.0 would answer from 10.77.0.x.
        ip=$VIP bind=-bind_local
    fi
    (cd "$dir" && exec "$lab" exec "$f" sipp -sf "$sc/uas.xml" -i "$ip" -p 5060 $bind -nostdin \
        -default_behaviors all,-bye -recv_timeout "$RECV_TIMEOUT_MS" \
        -timeout "$(sec 150)s" -timeout_error \
        -trace_stat -stf "$f.csv" -fd 1 -trace_err -error_file "$f.err" \
        -trace_screen -screen_file "$f.screen" >"$f.out" 2>&1) &
    uas_pids="$uas_pids $!"
}

# SIGUSR1: SIPp stops taking calls and ends when the calls in progress end
# (their ACK or BYE timeouts bound that).  Bounded wait, then SIGKILL.
stop_uas() {
    local p limit rc=0
    limit=$(($(sec $((RECV_TIMEOUT_MS / 1000 + 15))) * 10))
    for p in $uas_pids; do kill -USR1 "$p" 2>/dev/null || true; done
    for p in $uas_pids; do
        for _ in $(seq "$limit"); do
            kill -0 "$p" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$p" 2>/dev/null; then
            echo "  (UAS pid $p did not end after SIGUSR1: killed)"
            kill -KILL "$p" 2>/dev/null || true
            rc=1
        fi
        wait "$p" 2>/dev/null || true
    done
    uas_pids=""
    return $rc
}

# The UAC in the client: $1 is the scenario ("-sn uac" or "-sf FILE").
# Each run calls from a new source port: nat-sticky's conntrack bindings
# (client addr:port <-> frontend) outlive a change of the LB's rules.
uac_port=5060
run_uac() {
    local dir=$1
    shift
    uac_port=$((uac_port + 2))
    (cd "$dir" && timeout -k 5 "$(sec 120)" "$lab" exec client sipp "$@" "$VIP:5060" \
        -i 198.51.100.10 -p "$uac_port" -nostdin -m "$CALLS" -r "$RATE" -d "$CALL_MS" \
        -recv_timeout "$RECV_TIMEOUT_MS" -timeout "$(sec 100)s" -timeout_error \
        -trace_stat -stf uac.csv -fd 1 -trace_err -error_file uac.err \
        -trace_screen -screen_file uac.screen >uac.out 2>&1)
}

# One configuration: METHOD LABEL "FRONTENDS" UAC-ARGS...; leaves the
# results in UAC, UAS, LBC (lb counters), CLC (client counters).
run_config() {
    local method=$1 label=$2 pick=$3 dir f
    shift 3
    dir="$work/$method-$label"
    mkdir -p "$dir"
    # shellcheck disable=SC2086 # a list of frontends
    "$lab" spread $pick >/dev/null
    for f in f1 f2 f3; do start_uas "$method" "$f" "$dir"; done
    for f in f1 f2 f3; do "$lab" wait-udp "$f" 5060 "$(sec 5)" || return 1; done
    run_uac "$dir" "$@"
    UAC_RC=$?
    stop_uas
    # shellcheck disable=SC2034 # read by expect conditions
    UAS_STOP=$?
    UAC=$("$lab" stat "$dir/uac.csv")
    UAS=$("$lab" stat "$dir/f1.csv" "$dir/f2.csv" "$dir/f3.csv")
    local c
    c=$("$lab" counters)
    LBC=$(printf '%s\n' "$c" | sed -n 's/^lb: //p')
    CLC=$(printf '%s\n' "$c" | sed -n 's/^client: //p')
    echo "  UAC (client)   : $UAC (exit $UAC_RC)"
    echo "  UAS (f1+f2+f3) : $UAS"
    for f in f1 f2 f3; do
        echo "    $f           : $("$lab" stat "$dir/$f.csv")"
    done
    echo "  lb counters    : $LBC"
    echo "  client counters: $CLC"
}

n_frontends_hit() { # how many to_fN counters are > 0
    local n=0 f
    for f in f1 f2 f3; do [ "$(val "$LBC" "to_$f")" -gt 0 ] && n=$((n + 1)); done
    echo $n
}

summary=""
note() { summary="$summary$(printf '%-11s %-18s UAC ok=%-3s failed=%-3s | UAS ok=%-3s failed=%-3s | %s' \
    "$1" "$2" "$(val "$UAC" ok)" "$(val "$UAC" failed)" "$(val "$UAS" ok)" "$(val "$UAS" failed)" "$LBC")
"; }

check_single() { # METHOD LABEL FRONTEND: every call passes on both sides, one frontend
    local f=$3
    expect "UAC: $CALLS calls ok, 0 failed" \
        '[ "$(val "$UAC" ok)" = "$CALLS" ] && [ "$(val "$UAC" failed)" = 0 ]'
    expect "UAS: $CALLS calls ok, 0 failed (both sides agree)" \
        '[ "$(val "$UAS" ok)" = "$CALLS" ] && [ "$(val "$UAS" failed)" = 0 ]'
    expect "UAS processes ended cleanly" \
        '[ "$UAS_STOP" = 0 ]'
    expect "lb sent everything to $f only (to_$f >= $((3 * CALLS)))" \
        '[ "$(val "$LBC" "to_$f")" -ge $((3 * CALLS)) ] && [ "$(n_frontends_hit)" = 1 ]'
    expect "client got every reply from VIP:5060 and nothing else" \
        '[ "$(val "$CLC" udp_from_vip_5060)" -ge $((4 * CALLS)) ] &&
            [ "$(val "$CLC" udp_from_vip_other_port)" = 0 ] && [ "$(val "$CLC" udp_from_other)" = 0 ]'
}

for method in $methods; do
    echo
    echo "== $method: lab.sh up $method"
    "$lab" up "$method" | sed 's/^/  /'
    [ "${PIPESTATUS[0]}" = 0 ] || { failed=$((failed + 1)); echo "  FAIL  lab.sh up $method"; continue; }

    echo "-- $method, spray (f1 f2 f3, random per packet), built-in UAC"
    run_config "$method" spray "f1 f2 f3" -sn uac
    note "$method" "spray f1,f2,f3"
    if [ "$method" = nat-sticky ]; then
        expect "session binding: every call passes (UAC and UAS ok=$CALLS)" \
            '[ "$(val "$UAC" ok)" = "$CALLS" ] && [ "$(val "$UAS" ok)" = "$CALLS" ] &&
                [ "$(val "$UAS" failed)" = 0 ]'
        expect "session binding: all packets of the client's flow went to one frontend" \
            '[ "$(n_frontends_hit)" = 1 ]'
        # A packet from each frontend's port 5060 to the client's bound
        # address: the bound frontend's leaves as VIP:5060, the two others
        # clash with the binding and leave as VIP:<another port>.
        "$lab" reset >/dev/null
        for f in f1 f2 f3; do
            (cd "$work/$method-spray" && timeout -k 2 "$(sec 10)" "$lab" exec "$f" sipp -sf "$sc/options_once.xml" \
                "198.51.100.10:$uac_port" -i "$(addr_of "$f")" -p 5060 -m 1 -nostdin >"once-$f.out" 2>&1)
        done
        CLC=$("$lab" counters | sed -n 's/^client: //p')
        echo "  one packet from each frontend's :5060 to the client: $CLC"
        expect "replies from the 2 unbound frontends arrive from VIP:<not 5060> (the reference's VIP:5061 problem)" \
            '[ "$(val "$CLC" udp_from_vip_other_port)" = 2 ] && [ "$(val "$CLC" udp_from_vip_5060)" = 1 ]'
    else
        uas_ok=$(val "$UAS" ok)
        expect "the lb spread INVITE/ACK/BYE over all 3 frontends" \
            '[ "$(n_frontends_hit)" = 3 ]'
        expect "calls fail on the UAS side (UAS ok=$uas_ok of $CALLS, failed=$(val "$UAS" failed) > 0)" \
            '[ "$uas_ok" -lt "$CALLS" ] && [ "$(val "$UAS" failed)" -gt 0 ]'
        expect "most calls fail on the UAS side (UAS ok=$uas_ok <= $((CALLS * 3 / 4)))" \
            '[ "$uas_ok" -le $((CALLS * 3 / 4)) ]'
        expect "client got every reply from VIP:5060 and nothing else" \
            '[ "$(val "$CLC" udp_from_vip_other_port)" = 0 ] && [ "$(val "$CLC" udp_from_other)" = 0 ]'
        if [ "$method" = nat ]; then
            ct=$("$lab" exec lb sh -c 'cat /proc/net/nf_conntrack 2>/dev/null | grep -c "port=5060" || true')
            expect "no conntrack entry for SIP in the lb (notrack; found $ct)" \
                '[ "$ct" = 0 ]'
        fi
        echo "  (the built-in UAC counted $(val "$UAC" ok) ok where the UAS side counted $uas_ok:" \
            "it takes a retransmitted 200 for the INVITE as the BYE's answer)"

        echo "-- $method, spray (f1 f2 f3), uac_rr.xml (answers matched by transaction)"
        run_config "$method" spray-rr "f1 f2 f3" -sf "$sc/uac_rr.xml"
        note "$method" "spray f1,f2,f3 rr"
        expect "calls fail (UAC failed=$(val "$UAC" failed) > 0)" '[ "$(val "$UAC" failed)" -gt 0 ]'
        # Nearly: a call whose BYE's 200 is sprayed late ends on the UAS
        # side just as the UAC gives up on it (its receive timeout), the
        # more often the busier the machine; so every call the UAS side
        # completed and the UAC did not must be one of its receive timeouts,
        # and the UAC counts at most 2 that the UAS side did not complete.
        expect "uac_rr and the UAS side agree on the calls that completed (UAC ok=$(val "$UAC" ok), UAS ok=$(val "$UAS" ok), UAC receive timeouts=$(val "$UAC" recv_timeout))" \
            'u=$(val "$UAC" ok); s=$(val "$UAS" ok); [ "$u" -le $((s + 2)) ] && [ $((s - u)) -le "$(val "$UAC" recv_timeout)" ]'
    fi

    single=f1
    [ "$method" = dsr ] && single=f2
    echo "-- $method, single ($single only: numgen mod 1), built-in UAC"
    run_config "$method" single "$single" -sn uac
    note "$method" "single $single"
    check_single "$method" single "$single"

    echo "-- $method, single ($single only), uac_rr.xml (route set; no Record-Route without sipfarmd)"
    run_config "$method" single-rr "$single" -sf "$sc/uac_rr.xml"
    note "$method" "single $single rr"
    check_single "$method" single-rr "$single"

    "$lab" down | sed 's/^/  /'
done

echo
echo "== summary (calls: $CALLS at $RATE/s, ${CALL_MS} ms long)"
printf '%s' "$summary"
echo "selftest: $passed checks passed, $failed failed"
[ "$failed" = 0 ]
