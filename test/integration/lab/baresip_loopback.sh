#!/usr/bin/env bash
# Real user agents on 127.0.0.1, no farm: the proof of baresip_common.bash
# (and of kamailio_registrar.cfg) that baresip.sh builds on. Two baresip
# agents, alice (sends a 440 Hz tone) and bob (1000 Hz), register with
# digest authentication to Kamailio (kamailio_registrar.cfg, SQLite file in
# the work folder), then:
#   call 1: alice calls bob, bob answers, alice (the caller) hangs up;
#   call 2: bob calls alice, alice answers, alice (the callee) hangs up.
# Each call lasts RTFARM_BARESIP_TALK_S seconds (default 3) once both sides
# are up. Expect, per call: established and closed on both sides; each way
# (bs_check_audio): the sender's tone sent for at least half the talk time,
# at least 95% of its RTP packets received, the receiver's recording
# carrying a tone for at least 90% of the seconds sent, at -20 dBFS or
# louder, at the SENDER's frequency (+-3%).
#
# No root needed: ports are picked free on 127.0.0.1. Exit status: 0 passed,
# 1 failed; 0 with a "skipped: ..." line when baresip, sox, Kamailio or its
# SQLite module is missing. RTFARM_KEEP_LOGS=1 keeps the work folder;
# RTFARM_TEST_TIMEOUT_SCALE scales the time limits.
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=baresip_common.bash
. "$here/baresip_common.bash"
name=baresip_loopback
talk_s=${RTFARM_BARESIP_TALK_S:-3}

why=$(bs_missing)
[ -z "$why" ] && ! command -v kamailio >/dev/null && why="kamailio is not installed"
[ -z "$why" ] && [ ! -e /usr/lib/x86_64-linux-gnu/kamailio/modules/db_sqlite.so ] && why="kamailio-sqlite-modules is not installed"
[ -n "$why" ] && { echo "skipped: $name: $why"; exit 0; }

work=$(mktemp -d /tmp/rtfarm-baresip-XXXXXX)
kpid=""
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
    bs_stop_all
    [ -n "$kpid" ] && { kill -TERM "$kpid" 2>/dev/null; wait "$kpid" 2>/dev/null; }
    if [ "${RTFARM_KEEP_LOGS:-0}" = 1 ]; then echo "logs kept in $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM
bs_init "$work/ua"
fail=0
check() { # DESCRIPTION CONDITION...
    local what=$1
    shift
    if "$@"; then echo "  ok    $what"; else echo "  FAIL  $what"; fail=1; fi
}

# Free ports: a block of 8 (registrar, two agents with their TLS port + 1,
# two ctrl ports) nobody holds on this host, UDP or TCP.
base=""
for _ in $(seq 50); do
    b=$((20000 + RANDOM % 20000))
    used=$(ss -Hantu | awk '{ n = split($5, a, ":"); print a[n] }' | awk -v b="$b" '$1 >= b && $1 < b + 8' | wc -l)
    [ "$used" = 0 ] && { base=$b; break; }
done
[ -n "$base" ] || { echo "$name: no free block of ports"; exit 1; }
kport=$base

echo "== $name: alice (440 Hz) and bob (1000 Hz) register to Kamailio on 127.0.0.1:$kport and call each other, ${talk_s} s each"
why=$(bs_registrar_db "$work/registrar.sqlite" alice:alice-pw bob:bob-pw) || { echo "$name: $why"; exit 1; }
kamailio -f "$here/kamailio_registrar.cfg" -DD -E -m 32 -M 8 -Y "$work" -w "$work" \
    -l "udp:127.0.0.1:$kport" -A "DBURL=\"sqlite:///$work/registrar.sqlite\"" >"$work/kamailio.log" 2>&1 &
kpid=$!
for _ in $(seq "$(($(bs_sec 5) * 20))"); do
    ss -Hlun "sport = :$kport" | grep -q . && break
    kill -0 "$kpid" 2>/dev/null || break
    sleep 0.05
done
ss -Hlun "sport = :$kport" | grep -q . || { echo "$name: Kamailio did not start:"; tail -n 20 "$work/kamailio.log"; exit 1; }

bs_ua alice aor=sip:alice@127.0.0.1 addr=127.0.0.1 port=$((base + 2)) \
    registrar="sip:127.0.0.1:$kport" password=alice-pw tone=440 ctrl=$((base + 6))
bs_ua bob aor=sip:bob@127.0.0.1 addr=127.0.0.1 port=$((base + 4)) \
    registrar="sip:127.0.0.1:$kport" password=bob-pw tone=1000 ctrl=$((base + 7))
declare -A tone=([alice]=440 [bob]=1000)
for u in alice bob; do bs_start "$u" || exit 1; done
for u in alice bob; do check "$u registered" bs_wait_registered "$u"; done
[ "$fail" = 0 ] || { tail -n 20 "$work/kamailio.log"; exit 1; }

# within PERCENT VALUE TARGET: VALUE is TARGET +- PERCENT %

# call N CALLER CALLEE HANGS_UP
call() {
    local n=$1 caller=$2 callee=$3 closer=$4 other u why_closed
    echo "-- call $n: $caller calls $callee, $closer hangs up"
    bs_dial "$caller" "sip:$callee@127.0.0.1" || { check "call $n: $caller dials" false; return; }
    check "call $n: $callee answers" bs_answer "$callee"
    check "call $n: $caller established" bs_wait_established "$caller"
    check "call $n: $callee established" bs_wait_established "$callee"
    sleep "$talk_s"
    check "call $n: $closer hangs up" bs_hangup "$closer"
    for u in "$caller" "$callee"; do
        why_closed=$(bs_wait_closed "$u") || { check "call $n: $u closed ($why_closed)" false; continue; }
        echo "  call $n $u closed: $why_closed"
    done
    local -A got
    for u in "$caller" "$callee"; do
        got[$u]=$(bs_report "$u")
        echo "  call $n $u: ${got[$u]}"
    done
    for u in "$caller" "$callee"; do
        other=$caller
        [ "$u" = "$caller" ] && other=$callee
        bs_check_audio "call $n, $other to $u" "$u" "${got[$u]}" "$other" "${got[$other]}" "${tone[$other]}" "$talk_s"
    done
}
call 1 alice bob alice
call 2 bob alice alice

bs_stop_all
kill -TERM "$kpid" 2>/dev/null
wait "$kpid" 2>/dev/null
kpid=""
check "Kamailio: no ERROR in its log" test "$(grep -c 'ERROR' "$work/kamailio.log")" = 0
[ "$fail" = 0 ] || { grep ERROR "$work/kamailio.log" | head -n 5; }
[ "$fail" = 0 ] && echo "$name: passed" || echo "$name: FAILED"
exit "$fail"
