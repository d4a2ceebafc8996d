#!/usr/bin/env bash
# Kamailio as every member's processor, behind the farm, behind a load
# balancer that sprays every packet (the lab's nat method): the setup of
# README.md "Your SIP server as the processor", with
# etc/processors/kamailio/kamailio.cfg on f1, f2 and f3 (registrar and
# stateful proxy, digest authentication, location and subscriber tables in
# one PostgreSQL server that the test starts on b1, 10.77.0.21), sipfarmd on
# f1-f3, and SIPp users in the client namespace that register through the
# VIP and call each other. A REGISTER saved by one member's Kamailio must be
# seen by an INVITE that another member's Kamailio processes.
#
#   kamailio.sh [CALLS]   (default 300 calls at 25/s, 200 ms each)
#
# Users (SIPp in the client, 198.51.100.10, each callee on its own port,
# registered with register_auth.xml from that port before its UAS starts
# there; the caller alice authenticates every initial request, 407):
#   bob    5081  uas.xml           CALLS calls, the caller hangs up (uac_auth.xml)
#   carl   5082  uas_bye.xml       the callee hangs up (uac_auth_hangup_recv.xml)
#   cindy  5083  uas_cancel.xml    CANCEL after 180: 487 and its ACK (uac_auth_cancel.xml)
#   rita   5084  uas_reinvite.xml  a re-INVITE from each side (uac_auth_reinvite.xml)
#   fred   5085  uas.xml           forking: fred registered twice; 5085 answers,
#          5086  uas_cancel.xml    5086 rings and must get the proxy's CANCEL
#   mary   5088  uas_message.xml   MESSAGE (message_auth.xml)
#   nora   5089  uas_notify.xml    SUBSCRIBE, NOTIFY, unsubscribe (subscribe_auth.xml)
#   dave   5087  register_cycle.xml: register, refresh, unregister; then
#                calls to dave get 404 (uac_auth_fail.xml)
#   OPTIONS to the registrar (options_registrar.xml): 200
# Expect, for every shape: the caller's calls all ok, the callee's side as
# many ok (both forked contacts), none failed anywhere; every binding in
# the location table after the registrations, none of dave's after the
# unregistration; no level=error in sipfarmd's logs, no ERROR in Kamailio's;
# and nothing internal in what the client received (tshark on its eth0): no
# Via, Record-Route, Route, Path or Contact naming 127.0.0.1, 10.77.0.x or
# port 5070.
# Prints one "figures:" line (calls, rate, both sides' counts, seconds).
#
# Exit status: 0 passed; 1 failed; 0 with a "skipped: ..." line when the
# host cannot run it (not root, no namespaces, no SIPp, tshark, Kamailio
# with its PostgreSQL module, or PostgreSQL). RTFARM_KEEP_LOGS=1 keeps the
# work folder (every log, SIPp's CSVs and errors, client.pcap);
# RTFARM_TEST_TIMEOUT_SCALE scales the time limits; RTFARM_KAM_RATE (calls/s)
# and RTFARM_KAM_CALL_MS change the main load.
set -u
# shellcheck source=lab_common.bash
. "$(dirname "$0")/lab_common.bash"
lab_init kamailio rtkm
# shellcheck source=kamailio_common.bash
. "$(dirname "$0")/kamailio_common.bash"
kam_require sipp ip nft tshark

calls=${1:-300}
rate=${RTFARM_KAM_RATE:-25}
call_ms=${RTFARM_KAM_CALL_MS:-200}
shape_calls=20
t_start=$(date +%s)

# ---- the farm: f1-f3, Members, Kamailio as each one's processor
kam_farm_config none || exit 1

echo "== kamailio: Kamailio behind sipfarmd on f1-f3, LB nat (every packet sprayed), PostgreSQL on b1"
kam_farm_up alice bob carl cindy rita fred mary nora dave || exit 1

# ---- what the client receives, for the leak check
"$lab" exec client tshark -i eth0 -f "udp port 5060" -w "$work/client.pcap" -q >"$work/tshark.log" 2>&1 &
tshark_pid=$!
pids="$pids $tshark_pid"
for _ in $(seq "$(($(sec 10) * 10))"); do grep -q "Capturing on" "$work/tshark.log" && break; sleep 0.1; done
grep -q "Capturing on" "$work/tshark.log" || { cat "$work/tshark.log"; echo "kamailio: tshark did not start"; exit 1; }


# ---- registrations through the VIP, then the callees on the same ports
declare -A port_of=([bob]=5081 [carl]=5082 [cindy]=5083 [rita]=5084 [mary]=5088 [nora]=5089)
reg_fail=0
for u in bob carl cindy rita mary nora; do register "$u" "${port_of[$u]}" || { echo "  REGISTER of $u failed:"; tail -n 5 "$work/reg-$u-${port_of[$u]}.err"; reg_fail=1; }; done
for p in 5085 5086; do register fred "$p" || { echo "  REGISTER of fred:$p failed"; reg_fail=1; }; done
check "9 REGISTERs with digest authentication through the VIP, each 200 with its binding" [ "$reg_fail" = 0 ]
bindings=$(pg_sql "SELECT username || ' ' || contact FROM location ORDER BY username, contact")
n_bind=$(echo "$bindings" | grep -c . || true)
expected_bind=$(printf '%s\n' "bob 5081" "carl 5082" "cindy 5083" "fred 5085" "fred 5086" "mary 5088" "nora 5089" "rita 5084" |
    while read -r u p; do echo "$u sip:$u@$CLIENT:$p;transport=UDP"; done)
check "the shared location table holds the 8 bindings ($n_bind rows)" [ "$bindings" = "$expected_bind" ]
# The member whose Kamailio saved bob's binding (kam_start gives fN server_id N).
bob_saver=f$(pg_sql "SELECT server_id FROM location WHERE username = 'bob'")

callee uas-bob uas.xml 5081
callee uas-carl uas_bye.xml 5082 -d 300
callee uas-cindy uas_cancel.xml 5083
callee uas-rita uas_reinvite.xml 5084
callee uas-fred-a uas.xml 5085
callee uas-fred-b uas_cancel.xml 5086
callee uas-mary uas_message.xml 5088
callee uas-nora uas_notify.xml 5089
for p in 5081 5082 5083 5084 5085 5086 5088 5089; do "$lab" wait-udp client "$p" "$(sec 5)" >/dev/null || exit 1; done

# ---- the calls
t_load=$(date +%s.%N)
call main uac_auth.xml bob "$calls" "$rate" "$call_ms"
t_main=$(awk -v a="$t_load" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
call hangup uac_auth_hangup_recv.xml carl "$shape_calls" 10 0
call cancel uac_auth_cancel.xml cindy "$shape_calls" 10 0
call reinvite uac_auth_reinvite.xml rita "$shape_calls" 10 0
call fork uac_auth.xml fred "$shape_calls" 10 200
call message message_auth.xml mary 30 15 0
call subscribe subscribe_auth.xml nora "$shape_calls" 10 0
sipp_run options 60 -sf "$sc/options_registrar.xml" -i "$CLIENT" -p 5063 -m 20 -r 20 -recv_timeout 5000 "$VIP:5060"
# dave: register, refresh, unregister; then nobody answers for him.
register dave 5087 register_cycle.xml
dave_rc=$?
dave_rows=$(pg_sql "SELECT count(*) FROM location WHERE username = 'dave'")
call gone uac_auth_fail.xml dave 5 5 0
stop_callees

echo "results:"
both_ok "caller hangs up ($calls calls at $rate/s)" "$calls" main uas-bob
both_ok "callee hangs up" "$shape_calls" hangup uas-carl
both_ok "CANCEL before the answer (487, ACK)" "$shape_calls" cancel uas-cindy
both_ok "re-INVITE from each side" "$shape_calls" reinvite uas-rita
both_ok "forking to two contacts (one answers, the other is cancelled)" "$shape_calls" fork uas-fred-a uas-fred-b
both_ok "MESSAGE" 30 message uas-mary
both_ok "SUBSCRIBE, NOTIFY, unsubscribe, NOTIFY" "$shape_calls" subscribe uas-nora
O=$(counts "$work/options.csv")
echo "  OPTIONS: $O"
check "OPTIONS to the registrar: 20 answered 200" all_ok 20 "$O"
check "register, refresh, unregister (dave): every step answered as expected" [ "$dave_rc" = 0 ]
check "no binding of dave left in the location table ($dave_rows)" [ "$dave_rows" = 0 ]
G=$(counts "$work/gone.csv")
echo "  calls to dave: $G"
check "calls to the unregistered dave: 5 answered 404 (or 480)" all_ok 5 "$G"

# ---- what sipfarmd did with it
relayed=0
for m in $frontends; do
    s=$("$ctl" --socket "$work/$m.sock" --json stats 2>/dev/null)
    r=$(echo "$s" | tr '{},' '\n\n\n' | sed -n 's/^"relayed":\([0-9]*\)$/\1/p' | head -n 1)
    relayed=$((relayed + ${r:-0}))
done
lbc=$("$lab" counters | sed -n 's/^lb: //p')
echo "  lb: $lbc; sipfarmd relayed $relayed datagrams between members"
for m in $frontends; do
    check "the LB sent $m packets" [ "$(val "$lbc" "to_$m")" -gt 0 ]
done
check "packets were relayed between members" [ "$relayed" -gt 0 ]

# ---- the leak check: what the client received
kill -INT "$tshark_pid" 2>/dev/null
for _ in $(seq "$(($(sec 10) * 10))"); do kill -0 "$tshark_pid" 2>/dev/null || break; sleep 0.1; done
wait "$tshark_pid" 2>/dev/null
tshark -r "$work/client.pcap" -Y "sip && ip.src == $VIP" -T fields -E separator='|' -e frame.number -e sip.Method -e sip.Status-Code \
    -e sip.Via -e sip.Record-Route -e sip.Route -e sip.Path -e sip.Contact >"$work/client-headers.txt" 2>"$work/tshark-read.log"
n_msgs=$(grep -c . "$work/client-headers.txt" || true)
n_invites=$(awk -F'|' '$2 == "INVITE"' "$work/client-headers.txt" | wc -l)
leaks=$(awk -F'|' '{ for (i = 4; i <= NF; i++) if ($i ~ /127\.0\.0\.1|10\.77\.0\.[0-9]|:5070([^0-9]|$)/) { print; break } }' \
    "$work/client-headers.txt")
n_leaks=$(echo "$leaks" | grep -c . || true)
echo "  client received $n_msgs SIP messages from the VIP ($n_invites INVITEs to callees); $n_leaks name an internal address"
[ -n "$leaks" ] && echo "$leaks" | head -n 5 | sed 's/^/    leak: /'
captured() { [ "$n_msgs" -gt "$((calls * 5))" ] && [ "$n_invites" -ge "$calls" ]; }
check "the client captured the farm's messages" captured
# Which member's Kamailio relayed each INVITE bob got: the farm's branch on
# the request from a processor names the member (z9hG4bKrtf.MEMBER.p.HASH).
tshark -r "$work/client.pcap" -Y "sip.Method == \"INVITE\" && udp.dstport == 5081" -T fields -e sip.Via.branch \
    2>/dev/null | cut -d, -f1 | sed -n 's/^z9hG4bKrtf\.\([a-z0-9]*\)\.p\..*/\1/p' | sort | uniq -c >"$work/bob-invites.txt"
by_member=$(awk '{ printf "%s%s=%s", sep, $2, $1; sep = " " }' "$work/bob-invites.txt")
others=$(awk -v s="$bob_saver" '$2 != s { n += $1 } END { print n + 0 }' "$work/bob-invites.txt")
echo "  bob's binding saved by $bob_saver's Kamailio; INVITEs to bob relayed by: $by_member"
check "INVITEs to bob looked up and relayed by every member ($by_member), $others by members other than $bob_saver" \
    [ "$(wc -l <"$work/bob-invites.txt")" = 3 ]
check "no Via, Record-Route, Route, Path or Contact the client received names 127.0.0.1, 10.77.0.x or port 5070" [ "$n_leaks" = 0 ]

# ---- the logs
kam_check_logs

kam_finish "calls=$calls rate=$rate call_ms=$call_ms main_s=$t_main relayed=$relayed client_msgs=$n_msgs leaks=$n_leaks" \
    main hangup cancel reinvite fork message subscribe gone \
    uas-bob uas-carl uas-cindy uas-rita uas-fred-a uas-fred-b uas-mary uas-nora
