#!/usr/bin/env bash
# Calls between users registered on Kamailio, behind the farm, with their
# media anchored (media: anchor): kamailio.sh's farm (Kamailio with
# etc/processors/kamailio/kamailio.cfg on f1-f3, one PostgreSQL on b1, the
# lab's nat load balancer spraying every SIP packet and forwarding each
# member's media port range to it) plus rtprelayd on every member.
#
#   kamailio_media.sh [CALLS]        (default 60 calls at 10/s, 2 s each)
#   kamailio_media.sh demo [CALLS]   the same, telling what happens and
#                                    printing the per-member table (make demo)
#
# bob (SIPp, 198.51.100.10:5081) registers through the VIP with digest
# authentication and echoes every RTP packet he gets (-rtp_echo); alice
# authenticates her INVITEs (407) and, after the ACK, plays G.711 RTP (SIPp's
# sample) to where the 200's SDP says: the relay of the member the Call Legs
# placement picked, at the VIP, on that member's port range. Each message
# crosses the farm twice (in to Kamailio, and out again); the relay rewrites
# the SDP once, and passes its own SDP coming back through Kamailio as it is.
# Expect: every call ok on both sides; two relay sessions a call (the first
# INVITE's, ended by Kamailio's 407, and the call's), every one deleted,
# each call's with packets relayed from the caller and from the callee; no
# session timed out; no failed media exchange in sipfarmd; media back to the
# client from the VIP only; no error in any log.
#
# KAM_LB_METHOD=dsr (kamailio_common.bash) builds the farm behind the lab's
# dsr load balancer instead: SIP to the members' MACs, the VIP on their
# loopback, each member advertising and binding its own address (its wan_ip)
# for media, which goes straight there; then expect SIP back from VIP:5060,
# media from the members' own addresses and ranges only
# (kamailio_media_dsr_fast_path.sh, with the kernel fast path).
#
# Exit status: 0 passed; 1 failed; 0 with a "skipped: ..." line when the
# host cannot run it (as kamailio.sh). RTFARM_KEEP_LOGS=1 keeps the work
# folder; RTFARM_TEST_TIMEOUT_SCALE scales the time limits.
set -u
# shellcheck source=lab_common.bash
. "$(dirname "$0")/lab_common.bash"
lab_init kamailio_media rtkmm
# shellcheck source=kamailio_common.bash
. "$(dirname "$0")/kamailio_common.bash"
demo=0
[ "${1:-}" = demo ] && { demo=1; shift; }
kam_require sipp ip nft
pcap=/usr/share/sip-tester/g711a.pcap
[ -r "$pcap" ] || { echo "skipped: kamailio_media: $pcap (sip-tester) is missing"; exit 0; }

calls=${1:-60}
rate=10
call_ms=2000
t_start=$(date +%s)
say() { [ "$demo" = 1 ] && echo "$@"; return 0; }

kam_farm_config anchor || exit 1
lb_says="LB nat (SIP sprayed, media by port range)"
[ "$KAM_LB_METHOD" = dsr ] && lb_says="LB dsr (SIP sprayed to the members' MACs, media straight to their own addresses)"
echo "== kamailio_media: $calls calls between users registered on Kamailio, media anchored by rtprelayd;" \
    "$lb_says${KAM_FAST_PATH:+; fast path $KAM_FAST_PATH}"
say "   f1, f2, f3: sipfarmd on port 5060, rtprelayd, Kamailio on 127.0.0.1:5070 (registrar and proxy);"
say "   one PostgreSQL on b1 holds the location and subscriber tables of all three"
kam_farm_up alice bob || exit 1

# alice plays RTP after her ACK, until her BYE.
sed "s|^  <pause/>|  <nop><action><exec play_pcap_audio=\"$pcap\"/></action></nop>\n  <pause/>|" \
    "$sc/uac_auth.xml" >"$work/uac_auth_media.xml"
grep -q play_pcap_audio "$work/uac_auth_media.xml" || { echo "kamailio_media: could not derive the caller's scenario"; exit 1; }

register bob 5081 || { echo "kamailio_media: bob could not register"; tail -n 5 "$work/reg-bob-5081.err"; exit 1; }
saver=f$(pg_sql "SELECT server_id FROM location WHERE username = 'bob'")
say "   bob registered through the VIP (digest): his binding was saved by $saver's Kamailio"
callee uas-bob uas.xml 5081 -rtp_echo
"$lab" wait-udp client 5081 "$(sec 5)" >/dev/null || exit 1
say "   alice calls bob $calls times ($rate/s, $call_ms ms each, G.711 both ways)"
# RTFARM_LAB_FAST_PATH_RELOAD=1 (with RTFARM_LAB_MEDIA_FAST_PATH and
# KAM_MEMBER_CONFIGS=1): mid-load, every rtprelayd reloads with the fast path
# off, then on again, calls in progress (rtprelayd(8), Kernel fast path:
# entries out with their counters, media on through the sockets, back in).
fast_path_flip() { # MODE: each member's config says it; SIGHUP; wait for the reload
    local m cfg log want
    for m in $frontends; do
        cfg=$(kam_config_of "$m")
        sed "s|\"media_fast_path\": \"[a-z]*\"|\"media_fast_path\": \"$1\"|" "$cfg" >"$cfg.new" && mv "$cfg.new" "$cfg"
        log=$work/$m-media.log
        want=$(($(grep -c 'msg="config reloaded"' "$log") + 1))
        kill -HUP "${dpid[$m-media]}"
        for _ in $(seq "$(($(sec 5) * 20))"); do
            [ "$(grep -c 'msg="config reloaded"' "$log")" -ge "$want" ] && break
            grep -q 'msg="reload failed' "$log" && break
            sleep 0.05
        done
    done
}
flipper=""
if [ "${RTFARM_LAB_FAST_PATH_RELOAD:-0}" = 1 ]; then
    (sleep 2; fast_path_flip off; sleep 2; fast_path_flip "$KAM_FAST_PATH") &
    flipper=$!
fi
t_load=$(date +%s.%N)
call main "$work/uac_auth_media.xml" bob "$calls" "$rate" "$call_ms"
[ -n "$flipper" ] && wait "$flipper"
t_main=$(awk -v a="$t_load" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
stop_callees

echo "results:"
both_ok "alice calls bob, media anchored" "$calls" main uas-bob

kam_check_call_media "$calls"
kam_check_media_sources
kam_check_fast_path
if [ -n "$flipper" ]; then
    for m in $frontends; do
        offs=$(grep -c 'msg="kernel fast path off: media in userspace"' "$work/$m-media.log")
        ons=$(grep -c 'msg="kernel fast path"' "$work/$m-media.log")
        bad=$(grep -c 'msg="reload failed' "$work/$m-media.log")
        check "$m: rtprelayd reloaded mid-load, fast path off then on again ($offs off, $ons on, $bad failed)" \
            test "$offs" = 1 -a "$ons" = 2 -a "$bad" = 0
    done
fi
kam_check_logs

if [ "$demo" = 1 ] || [ "${RTFARM_VERBOSE:-0}" = 1 ]; then
    echo
    echo "Per member: SIP datagrams sipfarmd received from the LB and the farm link, relayed to the"
    echo "member that owns them, processed here, handed to Kamailio; the calls whose media this"
    echo "member's rtprelayd relayed, and the RTP packets it relayed:"
    printf '  %-4s %9s %9s %10s %13s %14s %13s\n' member received relayed processed to_processor media_sessions rtp_relayed
    for m in $frontends; do
        s=$("$ctl" --socket "$work/$m.sock" --json stats 2>/dev/null | tr '{},' '\n\n\n')
        g() { echo "$s" | sed -n "s/^\"$1\":\([0-9]*\)\$/\1/p" | head -n 1; }
        sessions=$(grep 'msg="session closed"' "$work/$m-media.log" | grep -c 'reason=deleted')
        pkts=$(grep 'msg="session closed"' "$work/$m-media.log" | awk '{ for (i = 1; i <= NF; i++) {
            split($i, kv, "="); if (kv[1] == "from_caller" || kv[1] == "from_callee") n += kv[2] } } END { print n + 0 }')
        printf '  %-4s %9s %9s %10s %13s %14s %13s\n' "$m" "$(g received)" "$(g relayed)" "$(g processed)" \
            "$(g to_processor)" "$sessions" "$pkts"
    done
    echo "  load balancer: $("$lab" counters | sed -n 's/^lb: //p')"
    echo
fi

kam_finish "calls=$calls rate=$rate call_ms=$call_ms sessions=$created both_ways=$flowing main_s=$t_main" main uas-bob
