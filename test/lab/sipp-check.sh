#!/usr/bin/env bash
# Checks the lab's SIPp scenarios back to back on 127.0.0.1 (no root, no
# namespaces): uac_rr.xml calls uas.xml directly.
#
#   1. 50 calls: 50 ok and 0 failed on BOTH sides.
#   2. Route set: the INVITE carries a Record-Route (as a farm member would
#      add); the UAS copies it into its 200, and uac_rr's ACK and BYE must go
#      to the UAS Contact with the reversed route set as Route headers.
#   3. Broken on purpose: a UAS that loses every ACK (lost="100" on the ACK
#      receive of a copy of uas.xml) must report every call FAILED.
#   4. For contrast: SIPp's built-in 'uas', losing every ACK the same way,
#      reports every call successful (the ACK is optional there): this is why
#      farm tests use uas.xml.
#
# RTFARM_TEST_TIMEOUT_SCALE scales time limits; RTFARM_KEEP_LOGS=1 keeps logs.
# Exit status: 0 all checks passed; 1 a check failed; 77 sipp not installed.

# expect() evaluates its condition later: single quotes on purpose.
# shellcheck disable=SC2016
set -u
here=$(cd "$(dirname "$0")" && pwd)
sc="$here/sipp"
lab="$here/lab.sh"
scale=${RTFARM_TEST_TIMEOUT_SCALE:-1}
sec() { awk -v s="$1" -v k="$scale" 'BEGIN { v = s * k; if (v < 1) v = 1; printf "%d", v + 0.5 }'; }

command -v sipp >/dev/null || { echo "sipp-check: skipped: sipp (Debian package sip-tester) is not installed"; exit 77; }
command -v ss >/dev/null || { echo "sipp-check: skipped: ss (iproute2) is not installed"; exit 77; }

work=$(mktemp -d /tmp/rtfarm-sipp-XXXXXX)
uas_pid=""
cleanup() {
    local rc=$?
    [ -n "$uas_pid" ] && kill -KILL "$uas_pid" 2>/dev/null
    if [ "${RTFARM_KEEP_LOGS:-}" = 1 ]; then echo "sipp-check: logs kept in $work"; else rm -rf "$work"; fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

passed=0 failed=0
expect() { # WHAT CONDITION (shell code)
    if eval "$2"; then passed=$((passed + 1)); echo "  ok    $1"; else failed=$((failed + 1)); echo "  FAIL  $1"; fi
}
val() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1; }

# Two free UDP ports on 127.0.0.1.  SIPp binds with SO_REUSEADDR, so a port
# another SIPp already holds would NOT fail: it would silently share the
# traffic.  Check with ss first (bounded number of tries).
udp_free() { ! ss -Hlun "sport = :$1" | grep -q .; }
pick_ports() {
    local p
    for _ in $(seq 50); do
        p=$((20000 + (RANDOM % 20000) * 2))
        if udp_free "$p" && udp_free $((p + 1)); then
            UAS_PORT=$p UAC_PORT=$((p + 1))
            return 0
        fi
    done
    echo "sipp-check: no two free UDP ports found" >&2
    exit 1
}

# run NAME UAS_SCENARIO UAC_SCENARIO CALLS CALL_MS [extra UAS args...]
run() {
    local name=$1 uas=$2 uac=$3 calls=$4 ms=$5
    shift 5
    local dir="$work/$name"
    mkdir -p "$dir"
    pick_ports
    local rt=$((ms + 5000))
    (cd "$dir" && exec sipp -sf "$uas" -i 127.0.0.1 -p "$UAS_PORT" -bind_local -nostdin \
        -default_behaviors all,-bye -recv_timeout "$rt" -m "$calls" \
        -timeout "$(sec 60)s" -timeout_error -trace_stat -stf uas.csv -fd 1 \
        -trace_msg -message_file uas.msg "$@" >uas.out 2>&1) &
    uas_pid=$!
    for _ in $(seq $(($(sec 5) * 20))); do
        ss -Hlun "sport = :$UAS_PORT" | grep -q . && break
        sleep 0.05
    done
    (cd "$dir" && timeout -k 5 "$(sec 60)" sipp -sf "$uac" "127.0.0.1:$UAS_PORT" -i 127.0.0.1 \
        -p "$UAC_PORT" -nostdin -m "$calls" -r 20 -d "$ms" -recv_timeout "$rt" \
        -timeout "$(sec 50)s" -timeout_error -trace_stat -stf uac.csv -fd 1 \
        -trace_msg -message_file uac.msg >uac.out 2>&1)
    UAC_RC=$?
    # The UAS ends by itself after `calls` calls (-m); bounded wait.
    for _ in $(seq $(($(sec 30) * 10))); do
        kill -0 "$uas_pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$uas_pid" 2>/dev/null; then
        kill -USR1 "$uas_pid"
        sleep 1
        kill -KILL "$uas_pid" 2>/dev/null
    fi
    wait "$uas_pid"
    UAS_RC=$?
    uas_pid=""
    UAC=$("$lab" stat "$dir/uac.csv")
    UAS=$("$lab" stat "$dir/uas.csv")
    DIR=$dir
    echo "  UAC: $UAC (exit $UAC_RC)"
    echo "  UAS: $UAS (exit $UAS_RC)"
}

echo "== $(sipp -v 2>/dev/null | grep -o 'SIPp v[^ ]*' | head -n 1): uac_rr.xml -> uas.xml, 50 calls on 127.0.0.1"
run good "$sc/uas.xml" "$sc/uac_rr.xml" 50 200
expect "UAC: 50 ok, 0 failed" '[ "$(val "$UAC" ok)" = 50 ] && [ "$(val "$UAC" failed)" = 0 ] && [ $UAC_RC = 0 ]'
expect "UAS: 50 ok, 0 failed" '[ "$(val "$UAS" ok)" = 50 ] && [ "$(val "$UAS" failed)" = 0 ] && [ $UAS_RC = 0 ]'

echo "== route set: the INVITE carries Record-Route (as a farm member adds it)"
rr_uac="$work/uac_rr_with_rr.xml"
# The Record-Route entries, in order: the "farm" nearest the UAS first.
sed 's|^      Subject: rtfarm lab call$|&\n      Record-Route: <sip:127.0.0.2:5060;lr;fm=f2>, <sip:farm.test;lr;fm=f1>|' \
    "$sc/uac_rr.xml" >"$rr_uac"
grep -q '^      Record-Route: <sip:127.0.0.2' "$rr_uac" || { echo "sipp-check: could not derive $rr_uac"; exit 1; }
run route-set "$sc/uas.xml" "$rr_uac" 5 100
expect "5 calls ok on both sides" '[ "$(val "$UAC" ok)" = 5 ] && [ "$(val "$UAS" ok)" = 5 ]'
# SIPp's message logs keep the CRLF line ends: strip them.
tr -d '\r' <"$DIR/uac.msg" >"$DIR/uac.txt"
tr -d '\r' <"$DIR/uas.msg" >"$DIR/uas.txt"
n_rr=$(awk '/^SIP\/2.0 (180|200) / { r = 1; next } /^(SIP|[A-Z]+ sip:)/ { r = 0 }
    r && $0 == "Record-Route: <sip:127.0.0.2:5060;lr;fm=f2>, <sip:farm.test;lr;fm=f1>" { n++ } END { print n + 0 }' \
    "$DIR/uac.txt")
expect "the UAS copied Record-Route into its 180 and 200 ($n_rr at the UAC, want >= 10)" '[ "$n_rr" -ge 10 ]'
in_dialog=$(awk '/^(ACK|BYE) / { m = $1; uri = $2 } /^Route:/ && m != "" { print m, uri, $0; m = "" }' "$DIR/uas.txt")
n_ok=$(printf '%s\n' "$in_dialog" | grep -c "^\(ACK\|BYE\) sip:uas@127.0.0.1:$UAS_PORT;transport=UDP Route: <sip:farm.test;lr;fm=f1>, <sip:127.0.0.2:5060;lr;fm=f2>$")
n_all=$(grep -c '^\(ACK\|BYE\) ' "$DIR/uas.txt")
expect "every ACK and BYE went to the Contact with Route: (reversed route set) ($n_ok of $n_all, want >= 10)" \
    '[ "$n_ok" = "$n_all" ] && [ "$n_all" -ge 10 ]'

echo "== broken on purpose: uas.xml losing every ACK"
sed 's/<recv request="ACK" /<recv request="ACK" lost="100" /' "$sc/uas.xml" >"$work/uas_noack.xml"
grep -q 'lost="100"' "$work/uas_noack.xml" || { echo "sipp-check: could not derive uas_noack.xml"; exit 1; }
run uas-noack "$work/uas_noack.xml" "$sc/uac_rr.xml" 5 300
expect "UAS: every call FAILED (5 failed, 0 ok)" '[ "$(val "$UAS" failed)" = 5 ] && [ "$(val "$UAS" ok)" = 0 ] && [ $UAS_RC != 0 ]'
expect "UAC: every call failed too (its BYE is not answered)" '[ "$(val "$UAC" failed)" = 5 ]'

echo "== contrast: SIPp's built-in uas losing every ACK the same way"
sipp -sd uas | sed 's/<recv request="ACK"/<recv request="ACK" lost="100"/' >"$work/builtin_uas_noack.xml"
run builtin-noack "$work/builtin_uas_noack.xml" "$sc/uac_rr.xml" 5 300
expect "built-in uas counts the calls as successful anyway (ok=$(val "$UAS" ok)): it cannot catch a lost ACK" \
    '[ "$(val "$UAS" ok)" = 5 ]'

echo "sipp-check: $passed checks passed, $failed failed"
[ "$failed" = 0 ]
