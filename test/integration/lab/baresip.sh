#!/usr/bin/env bash
# Real user agents and audio through the farm: three Debian baresip agents
# (baresip_common.bash) in the lab's client namespace register through the
# VIP, call each other and hang up, with their media anchored by rtprelayd
# (media: anchor). The farm is kamailio_media.sh's: the lab's nat load
# balancer spraying every SIP packet to f1-f3 and forwarding each member's
# media port range to it, sipfarmd and rtprelayd on f1-f3, Kamailio
# (etc/processors/kamailio/kamailio.cfg) as every member's processor, one
# PostgreSQL on b1 holding their shared location and subscriber tables.
#
#   baresip.sh            (about a minute)
#
# Agents (198.51.100.10, each on its own port, ctrl_tcp on the namespace's
# 127.0.0.1; digest passwords pw-USER, realm the VIP), each sending its own
# tone (baresip's ausine, PCMU):
#   alice 5080  440 Hz    bob 5082  1000 Hz    carol 5084  1700 Hz
# Calls, one after another, each RTFARM_BARESIP_TALK_S seconds (default 3)
# once both sides are up:
#   1  alice calls bob,   alice (the caller) hangs up
#   2  bob calls carol,   carol (the callee) hangs up
#   3  carol calls alice, carol (the caller) hangs up
# Expect, for every call: established and closed on both sides, one
# Call-ID; each way (bs_check_audio): the sender's tone sent for at least
# half the talk time, at least 95% of its RTP packets received by the other
# side, whose recording carries a tone for at least 90% of the seconds sent,
# at -20 dBFS or louder, at the SENDER's frequency (+-3%). Mid-call,
# cgclusterctl media lists the call (its Call-ID) on one member's
# rtprelayd, packets flowing (the last under 500 ms ago). After the call,
# that rtprelayd has one session with packets for the Call-ID, deleted by
# the farm, that relayed from each side at least 95% of what it sent and at
# least what the far side received. And: every binding in the
# location table, no media session timed out, media back to the client from
# the VIP only, no level=error in sipfarmd's and rtprelayd's logs, no ERROR
# in Kamailio's.
# KAM_LB_METHOD=dsr: the same behind the lab's dsr load balancer, media
# straight to the members' own addresses (kamailio_media.sh, and
# kamailio_common.bash's kam_check_media_sources for what the client must
# get then; baresip_dsr_fast_path.sh).
# Prints one "figures:" line (per call and side: RTP packets, seconds of
# tone, level, frequency; the relaying member and its counts).
#
# Exit status: 0 passed; 1 failed; 0 with a "skipped: ..." line when the
# host cannot run it (not root, no namespaces, no baresip or sox, no
# Kamailio with its PostgreSQL module, no PostgreSQL). RTFARM_KEEP_LOGS=1
# keeps the work folder (every log, each agent's recordings in
# ua/NAME/calls/); RTFARM_TEST_TIMEOUT_SCALE scales the time limits.
set -u
# shellcheck source=lab_common.bash
. "$(dirname "$0")/lab_common.bash"
lab_init baresip rtbs
# shellcheck source=kamailio_common.bash
. "$(dirname "$0")/kamailio_common.bash"
# shellcheck source=baresip_common.bash
. "$(dirname "$0")/baresip_common.bash"
for t in ip nft; do
    command -v "$t" >/dev/null || { echo "skipped: baresip: $t is not installed"; exit 0; }
done
why=$(kam_missing)
[ -z "$why" ] && why=$(bs_missing)
[ -z "$why" ] || { echo "skipped: baresip: $why"; exit 0; }
trap 'bs_stop_all; kam_stop; pg_stop; cleanup' EXIT
talk_s=${RTFARM_BARESIP_TALK_S:-3}
t_start=$(date +%s)

kam_farm_config anchor || exit 1
echo "== baresip: alice (440 Hz), bob (1000 Hz), carol (1700 Hz) register through the VIP and call each other," \
    "${talk_s} s a call, media anchored by rtprelayd; LB $KAM_LB_METHOD${KAM_FAST_PATH:+; fast path $KAM_FAST_PATH}"
kam_farm_up alice bob carol || exit 1

bs_init "$work/ua"
declare -A tone=([alice]=440 [bob]=1000 [carol]=1700) port=([alice]=5080 [bob]=5082 [carol]=5084)
ctrl_port=4441
for u in alice bob carol; do
    bs_ua "$u" ns="$RTFARM_LAB-client" addr="$CLIENT" port="${port[$u]}" aor="sip:$u@$VIP" \
        registrar="sip:$VIP:5060" password="pw-$u" tone="${tone[$u]}" ctrl=$ctrl_port life="$(sec 300)"
    ctrl_port=$((ctrl_port + 1))
done
for u in alice bob carol; do bs_start "$u" || exit 1; done
for u in alice bob carol; do check "$u registered through the VIP" bs_wait_registered "$u" "$(sec 10)"; done
bindings=$(pg_sql "SELECT username || ' ' || contact FROM location ORDER BY username" | tr '\n' ' ')
check "3 bindings in the location table ($bindings)" test "$(pg_sql "SELECT count(*) FROM location")" = 3
[ "$fail" = 0 ] || exit 1

# Where cgclusterctl media lists call $2 (a Call-ID): "MEMBER PACKETS
# LAST_PACKET_AGE_MS" a line, one line per member that has it.
media_call() { # TAG CALL_ID
    "$ctl" --config "$work/cluster.json" --json media 2>/dev/null >"$work/media-$1.json"
    sed 's/{"id":"/\n&/g' "$work/media-$1.json" | grep "\"call_id\":\"$2\"" | while read -r l; do
        echo "$(echo "$l" | sed -n 's/^{"id":"\([^"]*\)".*/\1/p')" \
            "$(echo "$l" | grep -o "{\"call_id\":\"$2\"[^}]*}" | tr ',{}' '\n' | sed -n 's/^"packets"://p')" \
            "$(echo "$l" | grep -o "{\"call_id\":\"$2\"[^}]*}" | tr ',{}' '\n' | sed -n 's/^"last_packet_age_ms"://p')"
    done
}

figures=""
declare -A cids got
call() { # N CALLER CALLEE WHO_HANGS_UP
    local n=$1 caller=$2 callee=$3 closer=$4 u other r why_closed
    echo "-- call $n: $caller calls $callee, $closer hangs up"
    bs_dial "$caller" "sip:$callee@$VIP" || { check "call $n: $caller dials" false; return; }
    check "call $n: $callee answers" bs_answer "$callee" "$(sec 10)"
    check "call $n: $caller established" bs_wait_established "$caller" "$(sec 10)"
    check "call $n: $callee established" bs_wait_established "$callee" "$(sec 10)"
    sleep "$talk_s"
    local cid live
    cid=$(bs_call_id "$caller")
    cids[$n]=$cid
    check "call $n: both sides name one Call-ID ($cid)" test -n "$cid" -a "$cid" = "$(bs_call_id "$callee")"
    # Mid-call, one member's rtprelayd has the call, its packets flowing.
    live=$(media_call "call$n" "$cid")
    check "call $n: cgclusterctl media: one member relays it mid-call, packets flowing (member packets last_ms: $live)" \
        awk -v l="$live" -v min="$((talk_s * 50))" 'BEGIN { exit !(split(l, f, " ") == 3 && f[2] >= min && f[3] < 500) }'
    check "call $n: $closer hangs up" bs_hangup "$closer"
    for u in "$caller" "$callee"; do
        if why_closed=$(bs_wait_closed "$u" "$(sec 10)"); then
            echo "   $u: closed ($why_closed)"
        else
            check "call $n: $u closed ($why_closed)" false
        fi
    done
    for u in "$caller" "$callee"; do
        r=$(bs_report "$u")
        got[$n:$u]=$r
        echo "   $u: $r"
    done
    for u in "$caller" "$callee"; do
        other=$caller
        [ "$u" = "$caller" ] && other=$callee
        r=${got[$n:$u]}
        bs_check_audio "call $n, $other to $u" "$u" "$r" "$other" "${got[$n:$other]}" "${tone[$other]}" "$talk_s"
        figures="$figures c${n}_${u}_rx=$(bs_val "$r" rtp_rx) c${n}_${u}_tone_s=$(bs_val "$r" rx_tone_s)"
        figures="$figures c${n}_${u}_db=$(bs_val "$r" rx_db) c${n}_${u}_hz=$(bs_val "$r" rx_hz)"
    done
}
call 1 alice bob alice
call 2 bob carol carol
call 3 carol alice carol

echo "results:"
bs_stop_all
# The relay sessions: every call has one that relayed both ways (a call's
# first INVITE is challenged, 407, and that ends its own session at once).
closed() { cat "$work"/f*-media.log | grep 'msg="session closed"'; }
field() { tr ' ' '\n' | sed -n "s/^$1=//p" | tr -d '"' | head -n 1; }
created=$(cat "$work"/f*-media.log | grep -c 'msg="session created"')
deleted=$(closed | grep -c 'reason=deleted')
timed_out=$(closed | grep -c 'reason=timeout')
check "rtprelayd: $created sessions created, $deleted deleted by the farm, none timed out" \
    test "$created" = "$deleted" -a "$timed_out" = 0 -a "$created" -ge 3
for n in 1 2 3; do
    case $n in 1) caller=alice callee=bob ;; 2) caller=bob callee=carol ;; 3) caller=carol callee=alice ;; esac
    # The call's session (its Call-ID), the one with packets: the other of
    # that Call-ID was made by the challenged INVITE and ended by its 407.
    cid=${cids[$n]:-none}
    sessions=$(grep -H "msg=\"session closed\" session=$cid " "$work"/f*-media.log | grep -v ' packets=0 ')
    member=$(echo "$sessions" | sed -n 's|.*/\(f[0-9]\)-media.log:.*|\1|p' | tr '\n' ' ' | sed 's/ $//')
    line=$(echo "$sessions" | head -n 1)
    check "call $n: one rtprelayd session with packets for Call-ID $cid (on ${member:-none}), deleted by the farm" \
        test "$(echo "$sessions" | grep -c 'reason=deleted')" = 1 -a "$(echo "$sessions" | grep -c .)" = 1
    fc=$(echo "$line" | field from_caller)
    fe=$(echo "$line" | field from_callee)
    rx_callee=$(bs_val "${got[$n:$callee]}" rtp_rx)
    rx_caller=$(bs_val "${got[$n:$caller]}" rtp_rx)
    tx_callee=$(bs_val "${got[$n:$callee]}" rtp_tx)
    tx_caller=$(bs_val "${got[$n:$caller]}" rtp_tx)
    figures="$figures c${n}_relay=${member:-none} c${n}_from_caller=${fc:-0} c${n}_from_callee=${fe:-0}"
    # What it relayed: at least 95% of what the sender sent (its RTCP counts
    # too), and at least what the far side received.
    check "call $n: ${member:-no member}'s rtprelayd relayed ${fc:-0} packets from $caller (>= 95% of the $tx_caller it sent, >= the $rx_callee $callee received)" \
        bs_num_test "${fc:-0}" -ge "$tx_caller" 0.95 -a "${fc:-0}" -ge "$rx_callee" 1
    check "call $n: and ${fe:-0} from $callee (>= 95% of the $tx_callee it sent, >= the $rx_caller $caller received)" \
        bs_num_test "${fe:-0}" -ge "$tx_callee" 0.95 -a "${fe:-0}" -ge "$rx_caller" 1
done
kam_check_media_sources
kam_check_fast_path
kam_check_logs

echo "figures: talk_s=$talk_s$figures total_s=$(($(date +%s) - t_start))"
[ "$fail" = 0 ] && echo "baresip: passed" || echo "baresip: FAILED"
exit "$fail"
