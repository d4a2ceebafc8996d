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
#   farm_lab.sh media [CALLS]  nat with media anchored (media: anchor): rtprelayd
#                              on every frontend, the caller plays RTP (SIPp
#                              play_pcap_audio) to the address and port of the
#                              200's SDP, the LB forwards each frontend's port
#                              range to it (single-IP method), the processors
#                              echo it (-rtp_echo). Expect: every call ok, and
#                              every call's session relayed packets both ways
#                              (rtprelayd's "session closed" lines).
#
# Membership under load (issue 4): 600 calls of 4 s at 20 calls/s (30 s of
# load), so that every change meets calls in all their phases.
#
#   farm_lab.sh join-drain [CALLS]  the config has f1..f4 + b1, f4 not started;
#                              at 20% of the load f4 starts (processor, then
#                              sipfarmd), and once every member sees 5 up the
#                              LB takes it in (lab.sh spread f1 f2 f3 f4); at
#                              45% f2 is drained (cgclusterctl drain f2).
#                              Expect: no call fails anywhere, f4 processed
#                              calls, f2's processor took no new call once
#                              every member saw it draining.
#   farm_lab.sh kill  [CALLS]  f1..f3 + b1; at 33% of the load f3's sipfarmd
#                              gets SIGKILL and, at once, the LB drops it
#                              (lab.sh spread f1 f2, as a health check would).
#                              Expect: f1 sees f3 down within dead_after_ms +
#                              heartbeat_ms (+ 200 ms of polling slack), no
#                              call fails on f1's and f2's processors, and the
#                              caller lost no more calls than f3's processor
#                              (only calls that lived on f3 may fail).
#   Both print a "figures:" line (caller and processor counts, times) and
#   the reasons SIPp gave for the calls it aborted (from its .err files).
#   With instant answers no INVITE is retransmitted, so only in-dialog
#   requests (routed by our Record-Route) cross a change; join_drain_slow.sh
#   runs join-drain with RTFARM_FARM_ANSWER_MS=1700 so that INVITE
#   retransmissions of calls in progress arrive after the join and the drain.
#
# Exit status: 0 passed; 1 failed; 0 with a "skipped: ..." line when the host
# cannot run the lab (not root, no namespaces). RTFARM_KEEP_LOGS=1 keeps the
# work folder; RTFARM_TEST_TIMEOUT_SCALE scales the time limits;
# RTFARM_FARM_RATE (calls/s) and RTFARM_FARM_CALL_MS (call length) change the
# load (defaults: 50/s and 200 ms; join-drain and kill 20/s and 4000 ms);
# RTFARM_FARM_ANSWER_MS makes the processors answer INVITEs that late, without
# 100 Trying (default 0: at once), so that the caller's INVITE
# retransmissions meet a membership change (join_drain_slow.sh).
set -u
cd "$(dirname "$0")/../../.." || exit 1
root=$PWD
mode=${1:-nat}
case "$mode" in
nat | dsr | relay | chaos | demo | join-drain | kill | media) ;;
*) echo "usage: $0 nat|dsr|relay|chaos|demo|join-drain|kill|media [CALLS]" >&2; exit 2 ;;
esac
membership=0
case "$mode" in join-drain | kill) membership=1 ;; esac
calls=${2:-}
[ -n "$calls" ] || case "$mode" in relay) calls=100 ;; demo) calls=200 ;; join-drain | kill) calls=600 ;; media) calls=200 ;; *) calls=500 ;; esac
if [ "$mode" = media ]; then
    # Long enough for a few hundred RTP packets per call each way.
    rate=${RTFARM_FARM_RATE:-20}
    call_ms=${RTFARM_FARM_CALL_MS:-3000}
elif [ "$membership" = 1 ]; then
    rate=${RTFARM_FARM_RATE:-20}
    call_ms=${RTFARM_FARM_CALL_MS:-4000}
else
    rate=${RTFARM_FARM_RATE:-50}
    call_ms=${RTFARM_FARM_CALL_MS:-200}
fi
answer_ms=${RTFARM_FARM_ANSWER_MS:-0}
case "$answer_ms" in '' | *[!0-9]*) echo "farm_lab: RTFARM_FARM_ANSWER_MS must be a number of ms" >&2; exit 2 ;; esac
# The processor waits this long for the BYE (after the ACK): longer than a call.
recv_timeout_ms=$((call_ms + 6000))
[ "$recv_timeout_ms" -ge 10000 ] || recv_timeout_ms=10000
scale=${RTFARM_TEST_TIMEOUT_SCALE:-1}
sec() { awk -v s="$1" -v k="$scale" 'BEGIN { v = int(s * k + 0.5); print (v < 1 ? 1 : v) }'; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

lab=$root/test/lab/lab.sh
sc=$root/test/lab/sipp
bin=$root/${RTFARM_BUILD:-build}/bin
ctl=$bin/cgclusterctl
VIP=203.0.113.1
method=nat
[ "$mode" = dsr ] && method=dsr
# The cluster's timing (written into the config below; the defaults).
heartbeat_ms=200
dead_after_ms=1000

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
pids=""         # every background process (daemons, SIPp, helpers)
declare -A dpid # member -> its sipfarmd's pid, while it runs
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

# The cluster: the frontends and the backend b1, on the lab's addresses.
# join-drain also lists the lab's spare frontend f4, started mid-load.
frontends="f1 f2 f3"
[ "$mode" = join-drain ] && frontends="f1 f2 f3 f4"
members="$frontends b1"
late="" # configured, started mid-load
[ "$mode" = join-drain ] && late=f4
range_of() { case $1 in f1) echo 10000-19999 ;; f2) echo 20000-29999 ;; f3) echo 30000-39999 ;; f4) echo 50000-59999 ;; b1) echo 40000-49999 ;; esac; }
addr_of() { case $1 in f1) echo 10.77.0.11 ;; f2) echo 10.77.0.12 ;; f3) echo 10.77.0.13 ;; f4) echo 10.77.0.14 ;; b1) echo 10.77.0.21 ;; esac; }
listen='"0.0.0.0:5060"'
[ "$method" = dsr ] && listen="\"$VIP:5060\", \"0.0.0.0:5060\""
media_conf=""
# The processors here are SIPp on each member's loopback that answer with
# their own SDP (c=127.0.0.1) and echo the media: a processor terminating
# media itself, which rtprelayd refuses unless media_allow lists it
# (rtprelayd(8), Admission).
[ "$mode" = media ] && media_conf=', "media": "anchor", "media_allow": ["127.0.0.0/8"]'
member() { # ID ROLE ADDRESS LISTEN RANGE
    printf '    "%s": {"role": "%s", "address": "%s", "sip_listen": [%s], "processor": "127.0.0.1:5070",\n' "$1" "$2" "$3" "$4"
    printf '           "media_ports": "%s", "control": "%s.sock", "control_tcp": "%s:5068", "media_control": "%s-media.sock"}' "$5" "$1" "$3" "$1"
}
printf 'a secret shared by every member of this lab farm, run %s\n' "$$" >"$work/farm.key"
{
    echo '{'
    echo "  \"cluster\": {\"name\": \"lab\", \"wan_ip\": \"$VIP\", \"farm_port\": 5069, \"secret_file\": \"farm.key\","
    echo "              \"heartbeat_ms\": $heartbeat_ms, \"dead_after_ms\": $dead_after_ms$media_conf},"
    echo '  "members": {'
    sep=""
    for m in $frontends; do
        printf '%s' "$sep"
        member "$m" frontend "$(addr_of "$m")" "$listen" "$(range_of "$m")"
        sep=$(printf ',\n')
    done
    echo ','
    member b1 backend "$(addr_of b1)" "" "$(range_of b1)"
    echo
    echo '  }'
    echo '}'
} >"$work/cluster.json"
"$ctl" --config "$work/cluster.json" check >"$work/check.txt" 2>&1 ||
    { cat "$work/check.txt"; echo "farm_lab: the lab config does not pass cgclusterctl check"; exit 1; }

"$lab" up "$method" >"$work/lab.txt" 2>&1 || { cat "$work/lab.txt"; exit 1; }

# sipfarmd on member $1, its log in $work/$1.log; waits for its control socket.
start_daemon() {
    local m=$1
    "$lab" exec "$m" "$bin/sipfarmd" --config "$work/cluster.json" --member "$m" 2>"$work/$m.log" &
    dpid[$m]=$!
    pids="$pids $!"
}
wait_daemon() {
    local m=$1
    for _ in $(seq "$(($(sec 5) * 20))"); do [ -S "$work/$m.sock" ] && return 0; sleep 0.05; done
    echo "farm_lab: sipfarmd $m did not start:"
    cat "$work/$m.log"
    exit 1
}
# How many members $1 sees in state $2 (up, draining, down).
count_state() { "$ctl" --socket "$work/$1.sock" --json members 2>/dev/null | grep -o "\"state\":\"$2\"" | wc -l; }
# The state member $1 sees member $2 in ("" if it cannot say).
state_of() {
    "$ctl" --socket "$work/$1.sock" --json members 2>/dev/null |
        grep -o '"id":"[^"]*"\|"state":"[^"]*"' |
        awk -F'"' -v id="$2" '$2 == "id" { cur = $4 } $2 == "state" && cur == id { print $4; exit }'
}
# Bounded wait until every member of $2 sees $1 members up (exit 1 if not).
wait_all_up() {
    local n=$1 m up
    for m in $2; do
        up=0
        for _ in $(seq "$(($(sec 5) * 20))"); do
            up=$(count_state "$m" up)
            [ "$up" = "$n" ] && break
            sleep 0.05
        done
        [ "$up" = "$n" ] || { echo "farm_lab: $m sees $up of $n members up:"; "$ctl" --socket "$work/$m.sock" members; exit 1; }
    done
}
# Bounded wait until every member of $3 sees member $1 in state $2 (1 if not).
wait_state() {
    local who=$1 want=$2 m st
    for m in $3; do
        st=""
        for _ in $(seq "$(($(sec 5) * 50))"); do
            st=$(state_of "$m" "$who")
            [ "$st" = "$want" ] && break
            sleep 0.02
        done
        [ "$st" = "$want" ] || { echo "  $m sees $who '$st', not '$want'"; return 1; }
    done
}

early=""
for m in $members; do case " $late " in *" $m "*) ;; *) early="$early $m" ;; esac; done
for m in $early; do start_daemon "$m"; done
for m in $early; do wait_daemon "$m"; done
# media: rtprelayd on every frontend, its log in $work/$m-media.log.
declare -A mpid # frontend -> its rtprelayd's pid
if [ "$mode" = media ]; then
    for m in $frontends; do
        "$lab" exec "$m" "$bin/rtprelayd" --config "$work/cluster.json" --member "$m" 2>"$work/$m-media.log" &
        mpid[$m]=$!
        pids="$pids $!"
    done
    for m in $frontends; do
        for _ in $(seq "$(($(sec 5) * 20))"); do [ -S "$work/$m-media.sock" ] && break; sleep 0.05; done
        [ -S "$work/$m-media.sock" ] || { echo "farm_lab: rtprelayd $m did not start:"; cat "$work/$m-media.log"; exit 1; }
    done
fi
# Heartbeats on the farm link: every member sees every running member up.
# shellcheck disable=SC2086 # word lists on purpose
set -- $early
wait_all_up $# "$early"
[ "$mode" = demo ] && { echo "Membership as f1 sees it:"; "$ctl" --socket "$work/f1.sock" members | sed 's/^/  /'; }

# SIPp UAS: the processors (one per frontend), or the callee in the client.
# With RTFARM_FARM_ANSWER_MS the processors are slow: no 100 Trying, 180 and
# 200 after that many ms, so the caller retransmits its INVITE (after 500 ms,
# 1.5 s, ...) and INVITE transactions span a change of the membership.
uas_scenario=$sc/uas.xml
if [ "$answer_ms" -gt 0 ]; then
    uas_scenario=$work/uas_slow.xml
    awk -v ms="$answer_ms" '
        /<send>/ { buf = $0 "\n"; inblock = 1; next }
        inblock { buf = buf $0 "\n"
                  if (/<\/send>/) { inblock = 0
                      if (buf ~ /100 Trying/) printf "  <pause milliseconds=\"%d\"/>\n", ms; else printf "%s", buf }
                  next }
        { print }' "$sc/uas.xml" >"$uas_scenario"
    grep -q "<pause milliseconds=\"$answer_ms\"/>" "$uas_scenario" || { echo "farm_lab: could not derive uas_slow.xml"; exit 1; }
fi
uas_pids=""
# media: the processors send back every RTP packet they get (to its source).
uas_media=""
[ "$mode" = media ] && uas_media="-rtp_echo"
start_uas() { # NODE IP PORT NAME
    # shellcheck disable=SC2086 # $uas_media: no word or one
    (cd "$work" && exec "$lab" exec "$1" sipp -sf "$uas_scenario" -i "$2" -p "$3" -bind_local -nostdin $uas_media \
        -default_behaviors all,-bye -recv_timeout "$recv_timeout_ms" -timeout "$(sec 300)s" \
        -trace_stat -stf "$4.csv" -fd 1 -trace_err -error_file "$4.err" >"$4.out" 2>&1) &
    uas_pids="$uas_pids $!"
    pids="$pids $!"
}
stop_uas() {
    for p in $uas_pids; do kill -USR1 "$p" 2>/dev/null; done
    for p in $uas_pids; do
        for _ in $(seq "$(($(sec $((recv_timeout_ms / 1000 + 10))) * 10))"); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
}
uac_scenario=$sc/uac_rr.xml
if [ "$mode" = media ]; then
    # After the ACK the caller plays G.711 RTP (SIPp's sample, about 8 s of
    # it, cut by the BYE) to where the 200's SDP says: the relay.
    pcap=/usr/share/sip-tester/g711a.pcap
    [ -r "$pcap" ] || { echo "skipped: farm_lab media: $pcap (sip-tester) is missing"; exit 0; }
    sed "s|^  <pause/>|  <nop><action><exec play_pcap_audio=\"$pcap\"/></action></nop>\n  <pause/>|" \
        "$sc/uac_rr.xml" >"$work/uac_media.xml"
    grep -q play_pcap_audio "$work/uac_media.xml" || { echo "farm_lab: could not derive uac_media.xml"; exit 1; }
    uac_scenario=$work/uac_media.xml
fi
# -default_behaviors all,-bye: SIPp sends no BYE of its own for a call it
# aborts. That BYE carries no Route (it does not follow the route set), so the
# farm routes it by Call-ID to some member whose processor never saw the call
# and counts a failed call there: after a member died with its calls (kill),
# every call the caller gave up on would show up again as a failure on a
# surviving processor.
uac() { # NODE IP PORT REMOTE NAME
    (cd "$work" && timeout -k 5 "$(sec 300)" "$lab" exec "$1" sipp -sf "$uac_scenario" "$4" \
        -i "$2" -p "$3" -nostdin -m "$calls" -r "$rate" -d "$call_ms" -recv_timeout 10000 \
        -default_behaviors all,-bye \
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

# ---- membership under load (join-drain, kill)
# The scenario's own clock (what happens when), not a readiness wait: sleep
# until the load has run $1 per cent of its length (calls / rate), so the
# changes stay mid-load whatever CALLS and RTFARM_FARM_RATE are.
t_load=0
load_ms=$((calls * 1000 / rate))
at_load_percent() {
    local until=$((t_load + load_ms * $1 / 100)) now
    now=$(now_ms)
    [ "$now" -lt "$until" ] || return 0
    sleep "$(awk -v d=$((until - now)) 'BEGIN { printf "%.3f", d / 1000 }')"
}
say_at() { echo "  t=+$(awk -v d=$(($(now_ms) - t_load)) 'BEGIN { printf "%.1f", d / 1000 }')s $*"; }
# Calls a UAS took (IncomingCall) in the statistics periods that began at or
# after $2 (ms since the epoch), and how many such periods: "CALLS PERIODS".
# SIPp resets the (P) counters at every -fd row; a row's LastResetTime is
# "date<TAB>time<TAB>epoch", the start of its period.
incoming_since() {
    awk -F';' -v t="$2" 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
        { split($c["LastResetTime"], a, "\t"); if (a[3] * 1000 >= t) { n += $c["IncomingCall(P)"]; rows++ } }
        END { printf "%d %d\n", n, rows }' "$1"
}

# A summary of a SIPp -trace_err file: why calls were aborted, counted. $2
# names the scenario's steps by index ("4=ACK 5=BYE") for the timeouts.
err_summary() {
    tr -d '\r' <"$1" |
        awk '{ gsub(/[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]\t[0-9:.]+\t[0-9.]+: /, "\n@"); print }' |
        awk -v steps="$2" '
        BEGIN { k = split(steps, s, " "); for (i = 1; i <= k; i++) { split(s[i], kv, "="); step[kv[1]] = kv[2] } }
        function flush(   r, i) {
            if (rec == "") return
            r = rec
            if (match(r, /while [a-z]+ \(index [0-9]+\), received .*/)) {
                r = "unexpected " substr(r, RSTART, RLENGTH); sub(/received \047/, "got ", r)
            } else if (match(r, /unexpected [A-Z]+/)) {
                r = substr(r, RSTART, RLENGTH)
            } else if (match(r, /receive timeout on message [^:]*:[0-9]+/)) {
                i = substr(r, RSTART, RLENGTH); sub(/.*:/, "", i)
                r = "receive timeout at step " i (i in step ? " (" step[i] " never came)" : "")
            } else if (r ~ /^Discarding message/) {
                r = "discarded (no call for it): " first
            } else if (match(r, /Dead call .*/)) {
                r = substr(r, RSTART, RLENGTH); gsub(/[0-9]+-[0-9]+@[0-9.]+ /, "", r); sub(/received \047/, "got ", r)
            } else {
                gsub(/[0-9]+-[0-9]+@[0-9.]+/, "CALL", r); r = substr(r, 1, 100)
            }
            if (fm != "") r = r " (Record-Route " fm ")"
            n[r]++; rec = ""
        }
        /^@/ { flush(); rec = substr($0, 2); fm = ""; first = ""; next }
        rec != "" && first == "" && NF { first = $0 }
        rec != "" && fm == "" && /^Record-Route:/ && match($0, /fm=[A-Za-z0-9_]+/) { fm = substr($0, RSTART, RLENGTH) }
        END { flush(); for (r in n) printf "%6d  %s\n", n[r], r }' | sort -rn
}

join_ms="" drain_ms="" t_drained=0
join_drain() {
    at_load_percent 20
    say_at "f4 joins: its processor, then its sipfarmd"
    start_uas f4 127.0.0.1 5070 uas-f4
    "$lab" wait-udp f4 5070 "$(sec 5)" >/dev/null
    local t
    t=$(now_ms)
    start_daemon f4
    wait_daemon f4
    # Every member (f4 too) sees all 5 up before the LB sends f4 anything:
    # f4 must know the owners of the dialogs it will be handed.
    wait_all_up 5 "$members"
    join_ms=$(($(now_ms) - t))
    say_at "every member sees 5 members up (${join_ms} ms after f4's sipfarmd started); lab.sh spread f1 f2 f3 f4"
    "$lab" spread f1 f2 f3 f4 >"$work/spread.txt" 2>&1 || { cat "$work/spread.txt"; fail=1; }
    at_load_percent 45
    say_at "drain f2 (cgclusterctl --socket f2.sock drain f2)"
    t=$(now_ms)
    "$ctl" --socket "$work/f2.sock" drain f2 >"$work/drain.txt" 2>&1 || { cat "$work/drain.txt"; fail=1; }
    if wait_state f2 draining "$members"; then
        t_drained=$(now_ms)
        drain_ms=$((t_drained - t))
        say_at "every member sees f2 draining (${drain_ms} ms after the drain)"
    else
        echo "  FAIL  not every member sees f2 draining"
        fail=1
    fi
}

detect_ms="" t_kill=0
kill_f3() {
    at_load_percent 33
    local p=${dpid[f3]} sp t q rest=""
    [ "$(cat "/proc/$p/comm" 2>/dev/null)" = sipfarmd ] || { echo "  FAIL  pid $p is not f3's sipfarmd"; fail=1; return; }
    # Out of the job table first (bash would print "Killed" for it), and out
    # of the cleanup list (its pid may be reused once it is gone).
    disown "$p"
    for q in $pids; do [ "$q" = "$p" ] || rest="$rest $q"; done
    pids=$rest
    t_kill=$(now_ms)
    kill -KILL "$p"
    # The LB's health check drops f3 at the same moment (in the background:
    # the detection clock runs meanwhile).
    "$lab" spread f1 f2 >"$work/spread.txt" 2>&1 &
    sp=$!
    while :; do
        t=$(now_ms)
        if [ "$(state_of f1 f3)" = down ]; then
            detect_ms=$((t - t_kill))
            break
        fi
        [ $((t - t_kill)) -lt $(($(sec 5) * 1000)) ] || break
        sleep 0.01
    done
    echo "  t=+$(awk -v d=$((t_kill - t_load)) 'BEGIN { printf "%.1f", d / 1000 }')s f3's sipfarmd killed (SIGKILL), lab.sh spread f1 f2; f1 sees f3 down after ${detect_ms:-(never)} ms"
    wait "$sp" || { cat "$work/spread.txt"; fail=1; }
    # A killed daemon has no exit status to check; bash reaps it (disowned).
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.02; done
    unset 'dpid[f3]'
}

answered=""
[ "$answer_ms" -gt 0 ] && answered=", processors answer after ${answer_ms} ms (no 100 Trying)"
echo "== farm_lab $mode: $calls calls at $rate/s, ${call_ms} ms each, LB method $method$answered"
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
    for f in $early; do [ "$f" = b1 ] || start_uas "$f" 127.0.0.1 5070 "uas-$f"; done
    for f in $early; do [ "$f" = b1 ] || "$lab" wait-udp "$f" 5070 "$(sec 5)" >/dev/null; done
    [ "$mode" = chaos ] && { chaos & pids="$pids $!"; }
    t_load=$(now_ms)
    uac client 198.51.100.10 5062 "$VIP:5060" caller &
    uac_pid=$!
    pids="$pids $uac_pid"
    case "$mode" in join-drain) join_drain ;; kill) kill_f3 ;; esac
    wait "$uac_pid"
    uac_rc=$?
    [ "$membership" = 1 ] && say_at "the caller ended (exit $uac_rc)"
    stop_uas
    UAC=$("$lab" stat "$work/caller.csv")
    UAS=$("$lab" stat "$work"/uas-f*.csv)
fi

# Counters of the members whose sipfarmd still runs.
stats=""
for m in $members; do
    [ -n "${dpid[$m]:-}" ] && stats="$stats$("$ctl" --socket "$work/$m.sock" --json stats 2>/dev/null)"
done
relayed() { echo "$stats" | tr '{},' '\n\n\n' | sed -n 's/^"relayed":\([0-9]*\)$/\1/p' | awk '{ s += $1 } END { print s + 0 }'; }
dropped_by() { echo "$stats" | tr '{},' '\n\n\n' | sed -n "s/^\"$1\":\([0-9]*\)\$/\1/p" | awk '{ s += $1 } END { print s + 0 }'; }

echo "  caller : $UAC (sipp exit $uac_rc)"
echo "  callee : $UAS"
echo "  lb     : $("$lab" counters | sed -n 's/^lb: //p')"
if [ "$membership" = 1 ]; then
    for f in $frontends; do
        [ -f "$work/uas-$f.csv" ] && echo "  processor in $f: $("$lab" stat "$work/uas-$f.csv")"
    done
    # Where packets went and why they were dropped (evidence for hand-off work).
    for m in $members; do
        [ -n "${dpid[$m]:-}" ] || { echo "  sipfarmd $m: not running (no stats)"; continue; }
        s=$("$ctl" --socket "$work/$m.sock" --json stats 2>/dev/null)
        echo "  sipfarmd $m: $(echo "$s" | grep -o '"routed_by":{[^}]*}') $(echo "$s" | grep -o '"dropped_by":{[^}]*}')"
    done
fi
if [ "$mode" = demo ] || [ "${RTFARM_VERBOSE:-0}" = 1 ]; then
    echo
    echo "Per member (sipfarmd stats: datagrams received, relayed to another member,"
    echo "received over the farm link, processed here, handed to the processor):"
    printf '  %-4s %9s %9s %11s %10s %13s %9s\n' member received relayed relayed_in processed to_processor dropped
    for m in $members; do
        [ -n "${dpid[$m]:-}" ] || continue
        s=$("$ctl" --socket "$work/$m.sock" --json stats 2>/dev/null | tr '{},' '\n\n\n')
        g() { echo "$s" | sed -n "s/^\"$1\":\([0-9]*\)\$/\1/p" | head -n 1; }
        printf '  %-4s %9s %9s %11s %10s %13s %9s\n' "$m" "$(g received)" "$(g relayed)" "$(g relayed_in)" \
            "$(g processed)" "$(g to_processor)" "$(g dropped)"
    done
    for f in $frontends; do
        [ -f "$work/uas-$f.csv" ] && echo "  processor in $f: $("$lab" stat "$work/uas-$f.csv")"
    done
    echo
fi

figures="figures: mode=$mode calls=$calls rate=$rate call_ms=$call_ms answer_ms=$answer_ms caller_ok=$(val "$UAC" ok) caller_failed=$(val "$UAC" failed)"
case "$mode" in
join-drain)
    check "caller: $calls calls ok, 0 failed" \
        test "$(val "$UAC" ok)" = "$calls" -a "$(val "$UAC" failed)" = 0
    for f in $frontends; do
        P=$("$lab" stat "$work/uas-$f.csv")
        figures="$figures ${f}_ok=$(val "$P" ok) ${f}_failed=$(val "$P" failed)"
        check "processor in $f: 0 failed ($P)" test "$(val "$P" failed)" = 0
    done
    check "processors: $calls calls ok in all (INVITE, ACK and BYE met)" test "$(val "$UAS" ok)" = "$calls"
    P=$("$lab" stat "$work/uas-f4.csv")
    check "f4 joined and processed calls (its processor: $(val "$P" ok) ok)" test "$(val "$P" ok)" -gt 0
    if [ "$t_drained" != 0 ]; then
        read -r f2_new f2_periods <<<"$(incoming_since "$work/uas-f2.csv" "$t_drained")"
        others_new=0
        for f in f1 f3 f4; do others_new=$((others_new + $(incoming_since "$work/uas-$f.csv" "$t_drained" | cut -d' ' -f1))); done
        figures="$figures join_ms=$join_ms drain_ms=$drain_ms f2_new_after_drain=$f2_new others_new_after_drain=$others_new"
        check "drained f2 took no new call: 0 INVITEs at its processor in the $f2_periods s after every member saw it draining (got $f2_new)" \
            test "$f2_new" = 0 -a "$f2_periods" -ge 3
        check "the load went on after the drain: f1, f3, f4 took $others_new new calls" test "$others_new" -gt 0
    fi
    ;;
kill)
    F1=$("$lab" stat "$work/uas-f1.csv")
    F2=$("$lab" stat "$work/uas-f2.csv")
    F3=$("$lab" stat "$work/uas-f3.csv")
    bound=$((dead_after_ms + heartbeat_ms + $(sec 200)))
    figures="$figures f1_ok=$(val "$F1" ok) f1_failed=$(val "$F1" failed) f2_ok=$(val "$F2" ok) f2_failed=$(val "$F2" failed)"
    figures="$figures f3_ok=$(val "$F3" ok) f3_failed=$(val "$F3" failed) detect_ms=${detect_ms:-none}"
    check "f1 saw f3 down ${detect_ms:-never} ms after the kill (<= dead_after_ms $dead_after_ms + heartbeat_ms $heartbeat_ms + $(sec 200))" \
        test -n "$detect_ms" -a "${detect_ms:-0}" -le "$bound"
    check "f2 and b1 see f3 down too" wait_state f3 down "f2 b1"
    check "processor in f1: 0 failed ($F1)" test "$(val "$F1" failed)" = 0
    check "processor in f2: 0 failed ($F2)" test "$(val "$F2" failed)" = 0
    check "caller: every call ended ($(val "$UAC" ok) ok + $(val "$UAC" failed) failed = $calls)" \
        test $(($(val "$UAC" ok) + $(val "$UAC" failed))) = "$calls"
    check "caller lost only calls that lived on f3 (caller failed $(val "$UAC" failed) <= f3's processor failed $(val "$F3" failed))" \
        test "$(val "$UAC" failed)" -le "$(val "$F3" failed)"
    check "f3 processed calls before the kill ($(val "$F3" ok) ok)" test "$(val "$F3" ok)" -gt 0
    n=0
    for f in f1 f2; do n=$((n + $(incoming_since "$work/uas-$f.csv" "$((t_kill + 2000))" | cut -d' ' -f1))); done
    check "the load went on after the kill: f1 and f2 took $n new calls" test "$n" -gt 0
    ;;
*)
    check "caller: $calls calls ok, 0 failed" \
        test "$(val "$UAC" ok)" = "$calls" -a "$(val "$UAC" failed)" = 0
    check "callee side: $calls calls ok, 0 failed (INVITE, ACK and BYE met)" \
        test "$(val "$UAS" ok)" = "$calls" -a "$(val "$UAS" failed)" = 0
    ;;
esac
check "the farm relayed packets between members ($(relayed))" test "$(relayed)" -gt 0
if [ "$mode" = media ]; then
    # One "session closed" line per call: deleted by its BYE, with packets
    # relayed from the caller (the LB routed the range to the right member)
    # and from the callee (the processor echoed them back through the relay).
    closed() { cat "$work"/f*-media.log | grep 'msg="session closed"'; }
    field_gt0() { awk -v a="$1" -v b="$2" '{ x = y = 0
        for (i = 1; i <= NF; i++) { split($i, kv, "="); if (kv[1] == a) x = kv[2]; if (kv[1] == b) y = kv[2] }
        if (x > 0 && y > 0) n++ } END { print n + 0 }'; }
    both=$(closed | grep -c 'reason=deleted' | tr -d ' ')
    flowing=$(closed | grep 'reason=deleted' | field_gt0 from_caller from_callee)
    created=$(cat "$work"/f*-media.log | grep -c 'msg="session created"')
    timed_out=$(closed | grep -c 'reason=timeout')
    failed=$(echo "$stats" | grep -o '"media":{[^}]*"failed":{[^}]*}' | grep -o '"failed":{[^}]*}' | sort | uniq -c | tr '\n' ' ')
    per=""
    for f in $frontends; do per="$per $f=$(grep 'msg="session closed"' "$work/$f-media.log" | grep -c 'reason=deleted')"; done
    check "rtprelayd: $created sessions created, $both deleted by BYE ($per)" test "$created" = "$calls" -a "$both" = "$calls"
    check "media both ways in every call: $flowing of $calls sessions relayed from caller and from callee" test "$flowing" = "$calls"
    check "no media session timed out ($timed_out)" test "$timed_out" = 0
    check "sipfarmd: no failed media exchange ($failed)" test -z "$(echo "$stats" | grep -o '"media":{[^}]*"failed":{[^}]' )"
fi
if [ "$mode" != relay ]; then
    # Every reply reached the client from VIP:5060, never from a member's own
    # address (DSR: sent from the VIP socket) or another port (NAT). (lab.sh
    # spread restarts the counters: in join-drain and kill they count only
    # since the last one.)
    clc=$("$lab" counters | sed -n 's/^client: //p')
    least=$((4 * calls))
    [ "$membership" = 1 ] && least=1
    if [ "$mode" = media ]; then
        # Media comes back from the VIP too, from the relay's ports.
        check "client: SIP from VIP:5060, media from the VIP, nothing from elsewhere ($clc)" \
            test "$(val "$clc" udp_from_vip_other_port)" -gt 0 -a "$(val "$clc" udp_from_other)" = 0 \
            -a "$(val "$clc" udp_from_vip_5060)" -ge "$least"
    else
        check "client: every reply from VIP:5060 ($clc)" \
            test "$(val "$clc" udp_from_vip_other_port)" = 0 -a "$(val "$clc" udp_from_other)" = 0 \
            -a "$(val "$clc" udp_from_vip_5060)" -ge "$least"
    fi
fi
if [ "$mode" = chaos ]; then
    check "forged farm-link packets dropped ($(($(dropped_by farm_malformed) + $(dropped_by farm_unauthenticated) + $(dropped_by farm_stranger))))" \
        test $(($(dropped_by farm_malformed) + $(dropped_by farm_unauthenticated) + $(dropped_by farm_stranger))) -ge 3
    check "garbage dropped ($(($(dropped_by bad_start_line) + $(dropped_by keepalive))))" \
        test $(($(dropped_by bad_start_line) + $(dropped_by keepalive))) -ge 1
fi

# Stop the daemons: each must exit 0 on SIGTERM (after its drain, bounded by
# its 5 s deadline). A daemon killed by the scenario has no status to check.
for m in $members; do [ -n "${dpid[$m]:-}" ] && kill -TERM "${dpid[$m]}" 2>/dev/null; done
# Waits (bounded) for daemon $1 (e.g. "sipfarmd f1"), pid $2, sent SIGTERM,
# to exit 0; SIGKILL and a failed check if it does not.
check_stopped() {
    local what=$1 p=$2 rc
    for _ in $(seq "$(($(sec 10) * 10))"); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$p" 2>/dev/null; then
        kill -KILL "$p" 2>/dev/null
        wait "$p" 2>/dev/null
        check "$what: exits on SIGTERM (still running after $(sec 10) s: killed)" false
    else
        wait "$p"
        rc=$?
        check "$what: SIGTERM, exit $rc" test "$rc" = 0
    fi
}
for m in $members; do
    if [ -z "${dpid[$m]:-}" ]; then
        [ "$mode" = kill ] && [ "$m" = f3 ] && echo "  --    sipfarmd $m: killed by the scenario (SIGKILL), no exit status"
        continue
    fi
    check_stopped "sipfarmd $m" "${dpid[$m]}"
done
for m in "${!mpid[@]}"; do
    kill -TERM "${mpid[$m]}" 2>/dev/null
    check_stopped "rtprelayd $m" "${mpid[$m]}"
    errs=$(grep -c 'level=error' "$work/$m-media.log")
    check "rtprelayd $m: no level=error in its log" test "$errs" = 0
done
for m in $members; do
    [ -f "$work/$m.log" ] || continue
    errs=$(grep -c 'level=error' "$work/$m.log")
    check "sipfarmd $m: no level=error in its log" test "$errs" = 0
    [ "$errs" = 0 ] || grep 'level=error' "$work/$m.log" | head -n 5
done
if [ "$fail" != 0 ] && [ "$membership" = 0 ]; then
    echo "$stats"
    for e in "$work"/*.err; do [ -s "$e" ] && { echo "--- $e"; head -c 1500 "$e"; echo; }; done
fi
if [ "$membership" = 1 ]; then
    # What the SIPp side saw go wrong, per process: the aborted calls by
    # reason (unexpected message and the member in its Record-Route, or the
    # step that timed out).
    for e in "$work"/*.err; do
        [ -s "$e" ] || continue
        n=$(err_summary "$e" "4=200(INVITE) 8=200(BYE)")
        case "$e" in */uas-*) n=$(err_summary "$e" "4=ACK 5=BYE") ;; esac
        [ -n "$n" ] && { echo "  $(basename "$e" .err) errors:"; echo "$n" | head -n 8; }
    done
fi
[ "$membership" = 1 ] && echo "$figures"
pids=""
[ "$fail" = 0 ] && echo "farm_lab $mode: passed" || echo "farm_lab $mode: FAILED"
exit "$fail"
