#!/usr/bin/env bash
# SIP over TCP through the farm behind a real load balancer: the namespace lab
# of test/lab (nat method: TCP to VIP:5060 goes to the frontend picked by a
# hash of the client's address and port, so one connection stays on one
# frontend, its holder), sipfarmd on f1-f3 and b1 with
# sip_listen ["tcp:0.0.0.0:5060", "0.0.0.0:5060"], a SIPp UAS
# (test/lab/sipp/uas.xml) over UDP as each frontend's processor on
# 127.0.0.1:5070, as in farm_lab.sh, and a SIPp caller in the client over
# TCP with ONE connection for every call (`-t t1`), scenario
# test/lab/sipp/uac_rr.xml (its [transport] fields say TCP; ACK and BYE
# follow the route set, on the same connection).
#
#   farm_tcp.sh calls [CALLS]  (default, 300 calls) expect: the caller got
#                              every call ok, the processors agree (their ok
#                              sum = CALLS, 0 failed), calls landed on all
#                              three processors (the holder relayed the
#                              requests owned elsewhere, and the owners'
#                              responses came back through the holder onto
#                              the connection), no level=error in any log.
#   farm_tcp.sh dsr [CALLS]    the same with the dsr method (the LB picks
#                              the frontend's MAC by the same hash; replies
#                              leave the frontends from the VIP directly).
#   farm_tcp.sh tls [CALLS]    the same as calls over TLS (farm_tls.sh): the
#                              frontends listen on "tls:0.0.0.0:5061" (no
#                              tcp: listener) with one certificate for the
#                              VIP (an IP SAN) signed by a CA, both made with
#                              openssl in the work folder. Debian's SIPp has
#                              no TLS, so stunnel4 in client mode in the
#                              client namespace takes SIPp's one TCP
#                              connection on 127.0.0.1:5064 and carries it
#                              over one TLS connection to VIP:5061 (TLS 1.2
#                              at least, the farm's certificate verified
#                              against the CA and the VIP). Expect, beside
#                              the calls checks: one TLS handshake and none
#                              failed, the holder relayed the connection's
#                              requests with transport tls (the owners' way
#                              back to the holder counts as tcp: they do not
#                              know it is TLS), stunnel verified the
#                              certificate and logged no error.
#   farm_tcp.sh kill [CALLS]   (default 600 calls of 2 s at 20/s) at 33% of
#                              the load the holder's sipfarmd gets SIGKILL
#                              and the LB drops it (lab.sh spread without
#                              it). The connection dies with it; SIPp
#                              reconnects (-max_reconnect, -reconnect_close
#                              false: the calls of the dead connection are
#                              not all aborted at once) through the LB to a
#                              surviving frontend. Expect, modestly: every
#                              call ended, later calls work (calls ok on the
#                              survivors' processors after the kill), the
#                              survivors' sipfarmd logs have no level=error,
#                              and the caller lost no more calls than were in
#                              progress at the kill (rate x (call length +
#                              a few seconds of SIPp's reconnect)).
#
# Each prints one "figures:" line: caller and per-processor counts, and the
# sipfarmd counters relayed (sum), to_connection (the holder wrote on the
# client's connection), to_holder (owners sent back to the holder), and the
# holder's connections accepted (tls: also handshakes and relayed_tls).
#
# Exit status: 0 passed; 1 failed; 0 with a "skipped: ..." line when the host
# cannot run the lab (not root, no namespaces, no SIPp; tls: no stunnel4 or
# openssl). RTFARM_KEEP_LOGS=1
# keeps the work folder; RTFARM_TEST_TIMEOUT_SCALE scales the time limits;
# RTFARM_FARM_RATE and RTFARM_FARM_CALL_MS change the load.
set -u
# shellcheck source=lab_common.bash
. "$(dirname "$0")/lab_common.bash"
mode=${1:-calls}
case "$mode" in calls | dsr | kill | tls) ;; *) echo "usage: $0 calls|dsr|kill|tls [CALLS]" >&2; exit 2 ;; esac
method=nat
[ "$mode" = dsr ] && method=dsr
lab_init "farm_tcp $mode" rtft
tools="sipp ip nft"
[ "$mode" = tls ] && tools="$tools stunnel4 openssl"
for t in $tools; do
    command -v "$t" >/dev/null || { echo "skipped: farm_tcp $mode: $t is not installed"; exit 0; }
done
if [ "$mode" = kill ]; then
    calls=${2:-600}
    rate=${RTFARM_FARM_RATE:-20}
    call_ms=${RTFARM_FARM_CALL_MS:-2000}
else
    calls=${2:-300}
    rate=${RTFARM_FARM_RATE:-50}
    call_ms=${RTFARM_FARM_CALL_MS:-200}
fi
recv_timeout_ms=$((call_ms + 6000))
[ "$recv_timeout_ms" -ge 10000 ] || recv_timeout_ms=10000
sc=$root/test/lab/sipp
val() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
declare -A dpid

frontends="f1 f2 f3"
members="$frontends b1"
# dsr: UDP must leave from the VIP (a socket bound to it); an accepted TCP
# connection answers from the address its SYN was sent to, so 0.0.0.0 does.
listen='"tcp:0.0.0.0:5060", "0.0.0.0:5060"'
[ "$method" = dsr ] && listen="\"tcp:0.0.0.0:5060\", \"$VIP:5060\", \"0.0.0.0:5060\""
# tls: the SIPS port instead of the tcp: listener; the frontends share one
# certificate (the clients see only the VIP).
tls_files=""
if [ "$mode" = tls ]; then
    listen='"tls:0.0.0.0:5061", "0.0.0.0:5060"'
    tls_files=', "tls": {"certificate": "tls.crt", "key": "tls.key"}'
fi
member() { # ID ROLE ADDRESS LISTEN RANGE [EXTRA]
    printf '    "%s": {"role": "%s", "address": "%s", "sip_listen": [%s], "processor": "127.0.0.1:5070",\n' "$1" "$2" "$3" "$4"
    printf '           "media_ports": "%s", "control": "%s.sock", "control_tcp": "%s:5068"%s}' "$5" "$1" "$3" "${6:-}"
}
# A CA and a server certificate for the VIP signed by it, P-256 keys
# without a passphrase, in the work folder (tls-ca.crt, tls.crt, tls.key).
make_tls_files() {
    (
        cd "$work" || exit 1
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 -days 2 \
            -subj "/CN=rtfarm lab CA" -addext "basicConstraints=critical,CA:TRUE" \
            -addext "keyUsage=critical,keyCertSign,cRLSign" -keyout tls-ca.key -out tls-ca.crt &&
            openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$VIP" \
                -keyout tls.key -out tls.csr &&
            printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:%s\n' \
                "$VIP" >tls.ext &&
            openssl x509 -req -in tls.csr -CA tls-ca.crt -CAkey tls-ca.key -set_serial 2 -days 2 -sha256 \
                -extfile tls.ext -out tls.crt
    ) >"$work/openssl.txt" 2>&1 || { cat "$work/openssl.txt"; echo "farm_tcp $mode: openssl could not make the certificates"; exit 1; }
}
[ "$mode" = tls ] && make_tls_files
printf 'a secret shared by the farm %s\n' "$$" >"$work/farm.key"
{
    echo '{'
    echo "  \"cluster\": {\"name\": \"lab\", \"wan_ip\": \"$VIP\", \"farm_port\": 5069, \"secret_file\": \"farm.key\","
    echo '              "heartbeat_ms": 200, "dead_after_ms": 1000},'
    echo '  "members": {'
    for m in $frontends; do
        member "$m" frontend "$(addr_of "$m")" "$listen" "$(range_of "$m")" "$tls_files"
        echo ','
    done
    member b1 backend "$(addr_of b1)" "" "$(range_of b1)"
    echo
    echo '  }'
    echo '}'
} >"$work/cluster.json"
"$ctl" --config "$work/cluster.json" check >"$work/check.txt" 2>&1 ||
    { cat "$work/check.txt"; echo "farm_tcp: the config does not pass cgclusterctl check"; exit 1; }
"$lab" up "$method" >"$work/lab.txt" 2>&1 || { cat "$work/lab.txt"; exit 1; }

for m in $members; do
    "$lab" exec "$m" "$bin/sipfarmd" --config "$work/cluster.json" --member "$m" 2>"$work/$m.log" &
    dpid[$m]=$!
done
for m in $members; do wait_socket "$work/$m.sock" "$work/$m.log" || exit 1; done
for m in $members; do wait_up "$work/$m.sock" 4 || exit 1; done

uas_pids=""
for f in $frontends; do
    (cd "$work" && exec "$lab" exec "$f" sipp -sf "$sc/uas.xml" -i 127.0.0.1 -p 5070 -bind_local -nostdin \
        -default_behaviors all,-bye -recv_timeout "$recv_timeout_ms" -timeout "$(sec 300)s" \
        -trace_stat -stf "uas-$f.csv" -fd 1 -trace_err -error_file "uas-$f.err" >"uas-$f.out" 2>&1) &
    uas_pids="$uas_pids $!"
    pids="$pids $!"
done
for f in $frontends; do "$lab" wait-udp "$f" 5070 "$(sec 5)" >/dev/null || exit 1; done
stop_uas() {
    local p
    for p in $uas_pids; do kill -USR1 "$p" 2>/dev/null; done
    for p in $uas_pids; do
        for _ in $(seq "$(($(sec $((recv_timeout_ms / 1000 + 10))) * 10))"); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
}

# tls: stunnel in the client, in the foreground, between SIPp's TCP on the
# client's loopback and TLS to the VIP; one TLS connection per TCP one.
target=$VIP:5060 sipp_ip=198.51.100.10 over="one TCP connection (sipp -t t1)"
stunnel_pid=""
if [ "$mode" = tls ]; then
    cat >"$work/stunnel.conf" <<EOF
foreground = yes
pid = $work/stunnel.pid
debug = info
[sip-tls]
client = yes
accept = 127.0.0.1:5064
connect = $VIP:5061
CAfile = $work/tls-ca.crt
verifyChain = yes
checkIP = $VIP
sslVersionMin = TLSv1.2
EOF
    "$lab" exec client stunnel4 "$work/stunnel.conf" 2>"$work/stunnel.log" &
    stunnel_pid=$!
    pids="$pids $stunnel_pid"
    "$lab" wait-tcp client 5064 "$(sec 5)" >/dev/null || { cat "$work/stunnel.log"; exit 1; }
    target=127.0.0.1:5064 sipp_ip=127.0.0.1 over="one TLS connection (sipp -t t1 through stunnel to $VIP:5061)"
fi

# The caller: TCP, one connection for all calls (-t t1). uac_rr.xml's Via
# and Contact use [transport] (TCP here): nothing to change. kill: SIPp
# reconnects when the connection breaks (-max_reconnect), and does not abort
# every call in progress on it at once (-reconnect_close false): those of
# the dead holder's dialogs fail by their own timeouts, the others may go on.
reconnect=""
[ "$mode" = kill ] && reconnect="-max_reconnect 10 -reconnect_sleep 200 -reconnect_close false"
echo "== farm_tcp $mode: $calls calls at $rate/s, ${call_ms} ms each, over $over, LB $method"
t_load=$(now_ms)
# shellcheck disable=SC2086 # $reconnect: words on purpose
(cd "$work" && exec timeout -k 5 "$(sec 280)" "$lab" exec client sipp -sf "$sc/uac_rr.xml" "$target" -t t1 \
    -i "$sipp_ip" -p 5062 -nostdin -m "$calls" -r "$rate" -d "$call_ms" -recv_timeout 10000 \
    -default_behaviors all,-bye $reconnect -timeout "$(sec 260)s" -timeout_error \
    -trace_stat -stf caller.csv -fd 1 -trace_err -error_file caller.err >caller.out 2>&1) &
uac_pid=$!
pids="$pids $uac_pid"

# Connections accepted, from "streams" of one or more stats documents: its
# own "accepted", after the listeners (each has one) and before the next
# object (the control socket has an "accepted" of its own), wherever it
# stands among the other counters.
conns_accepted() { grep -o '"streams":{"listeners":\[[^]]*\],[^{}]*' | sed 's/^.*\]//' | grep -o '"accepted":[0-9]*' |
    cut -d: -f2 | awk '{ s += $1 } END { print s + 0 }'; }
# The holder: the one frontend with an open (or ever accepted) connection.
holder_of() {
    local m n
    for m in $frontends; do
        [ -n "${dpid[$m]:-}" ] || continue
        n=$("$ctl" --socket "$work/$m.sock" --json stats 2>/dev/null | conns_accepted)
        [ "${n:-0}" -gt 0 ] && { echo "$m"; return 0; }
    done
    return 1
}
holder=""
for _ in $(seq "$(($(sec 5) * 20))"); do holder=$(holder_of) && break; sleep 0.05; done
echo "  the client's connection is held by ${holder:-(none seen)}"
# The state member $1 sees member $2 in.
state_of() {
    "$ctl" --socket "$work/$1.sock" --json members 2>/dev/null | grep -o '"id":"[^"]*"\|"state":"[^"]*"' |
        awk -F'"' -v id="$2" '$2 == "id" { cur = $4 } $2 == "state" && cur == id { print $4; exit }'
}
# What the survivors sent to the dead holder over the farm link, in all.
relayed_to_dead() {
    local f n=0 r
    for f in $survivors; do
        r=$("$ctl" --socket "$work/$f.sock" --json stats 2>/dev/null | grep -o '"relayed_to":{[^}]*}' |
            grep -o "\"$holder\":[0-9]*" | cut -d: -f2)
        n=$((n + ${r:-0}))
    done
    echo "$n"
}
killed="" t_kill=0 survivors=$frontends seen_down=0 to_dead_at_down=0
if [ "$mode" = kill ] && [ -n "$holder" ]; then
    until=$((t_load + calls * 1000 * 33 / 100 / rate))
    while [ "$(now_ms)" -lt "$until" ]; do sleep 0.1; done
    p=${dpid[$holder]}
    survivors=""
    for f in $frontends; do [ "$f" = "$holder" ] || survivors="$survivors $f"; done
    t_kill=$(now_ms)
    kill -KILL "$p"
    wait "$p" 2>/dev/null
    unset "dpid[$holder]"
    killed=$holder
    # shellcheck disable=SC2086 # word list on purpose
    "$lab" spread $survivors >"$work/spread.txt" 2>&1 || { cat "$work/spread.txt"; fail=1; }
    echo "  t=+$(((t_kill - t_load) / 1000))s the holder $holder's sipfarmd killed (SIGKILL), lab.sh spread$survivors"
    # Once every survivor sees it down, nothing more goes to the dead holder
    # (what its connection would have carried counts as conn_gone).
    seen_down=1
    for f in $survivors; do
        st=""
        for _ in $(seq "$(($(sec 5) * 20))"); do
            st=$(state_of "$f" "$holder")
            [ "$st" = down ] && break
            sleep 0.05
        done
        [ "$st" = down ] || seen_down=0
    done
    to_dead_at_down=$(relayed_to_dead)
fi

wait "$uac_pid"
uac_rc=$?
to_dead_at_end=0
[ -n "$killed" ] && to_dead_at_end=$(relayed_to_dead)
stop_uas
UAC=$("$lab" stat "$work/caller.csv")
UAS=$("$lab" stat "$work"/uas-f*.csv)

stats=""
for m in $members; do
    [ -n "${dpid[$m]:-}" ] && stats="$stats$("$ctl" --socket "$work/$m.sock" --json stats 2>/dev/null)"
done
echo "$stats" >"$work/stats.json"
sum_of() { echo "$stats" | tr '{},' '\n' | sed -n "s/^\"$1\":\([0-9]*\)\$/\1/p" | awk '{ s += $1 } END { print s + 0 }'; }
echo "  caller : $UAC (sipp exit $uac_rc)"
echo "  callee : $UAS"
echo "  lb     : $("$lab" counters | sed -n 's/^lb: //p')"
figures="figures: mode=$mode calls=$calls rate=$rate call_ms=$call_ms holder=${holder:-none} caller_ok=$(val "$UAC" ok) caller_failed=$(val "$UAC" failed)"
hit=0
for f in $frontends; do
    P=$("$lab" stat "$work/uas-$f.csv")
    figures="$figures ${f}_ok=$(val "$P" ok) ${f}_failed=$(val "$P" failed)"
    [ "$(val "$P" ok)" -gt 0 ] && hit=$((hit + 1))
done
figures="$figures relayed=$(sum_of relayed) to_connection=$(sum_of to_connection) to_holder=$(sum_of to_holder) conn_gone=$(sum_of conn_gone) accepted=$(echo "$stats" | conns_accepted)"
# Requests relayed over the farm link with transport $1, all members.
by_transport() { echo "$stats" | grep -o '"relayed_by_transport":{[^}]*}' | grep -o "\"$1\":[0-9]*" |
    cut -d: -f2 | awk '{ s += $1 } END { print s + 0 }'; }
[ "$mode" = tls ] && figures="$figures tls=$(sed -n 's/.*: \(TLSv[0-9.]*\) ciphersuite.*/\1/p' "$work/stunnel.log" | head -n 1) handshakes=$(sum_of handshakes) handshake_failures=$(sum_of handshake_failures) relayed_tls=$(by_transport tls) relayed_tcp=$(by_transport tcp)"

check "the client's connection has a holder ($holder)" test -n "$holder"
if [ "$mode" != kill ]; then
    check "caller: $calls calls ok, 0 failed" test "$(val "$UAC" ok)" = "$calls" -a "$(val "$UAC" failed)" = 0
    check "processors: $calls calls ok, 0 failed (INVITE, ACK and BYE met)" \
        test "$(val "$UAS" ok)" = "$calls" -a "$(val "$UAS" failed)" = 0
    check "calls landed on all three processors ($hit)" test "$hit" = 3
    lbc=$("$lab" counters | sed -n 's/^lb: //p')
    others=0
    for f in $frontends; do [ "$f" = "$holder" ] || others=$((others + $(val "$lbc" "tcp_to_$f"))); done
    check "the LB kept the connection on its holder (tcp_to_$holder=$(val "$lbc" "tcp_to_$holder"), to the others $others)" \
        test "$(val "$lbc" "tcp_to_$holder")" -gt 0 -a "$others" = 0
    check "one connection: the farm accepted 1 ($(echo "$stats" | conns_accepted))" test "$(echo "$stats" | conns_accepted)" = 1
    check "the holder wrote the other members' answers on the connection (to_holder $(sum_of to_holder) > 0)" \
        test "$(sum_of to_holder)" -gt 0
    if [ "$mode" = tls ]; then
        check "TLS: one handshake, none failed ($(sum_of handshakes), $(sum_of handshake_failures))" \
            test "$(sum_of handshakes)" = 1 -a "$(sum_of handshake_failures)" = 0
        # The owners' answers and requests back to the holder count as tcp:
        # only the holder knows its connection is TLS.
        check "the holder relayed the connection's requests as TLS ($(by_transport tls)), tcp only to the holder ($(by_transport tcp) = to_holder $(sum_of to_holder))" \
            test "$(by_transport tls)" -gt 0 -a "$(by_transport tcp)" = "$(sum_of to_holder)"
    fi
else
    inprog=$((rate * (call_ms / 1000 + 5)))
    after=0
    for f in $survivors; do
        a=$(awk -F';' -v t="$((t_kill + 3000))" 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
            { split($c["LastResetTime"], x, "\t"); if (x[3] * 1000 >= t) n += $c["SuccessfulCall(P)"] } END { print n + 0 }' "$work/uas-$f.csv")
        after=$((after + a))
    done
    # Why the caller aborted: no answer to its INVITE (step 1, the first
    # optional recv: the INVITE or its answers were on the dead connection,
    # or the owner was the dead member) or no 200 for its BYE (step 8).
    inv_to=$(tr -d '\r' <"$work/caller.err" | grep -o 'route set:1 without label' | wc -l)
    bye_to=$(tr -d '\r' <"$work/caller.err" | grep -o 'route set:8 without label' | wc -l)
    figures="$figures ok_after_kill=$after caller_no_invite_answer=$inv_to caller_no_bye_answer=$bye_to processors_ok=$(val "$UAS" ok)"
    check "the holder was killed mid-load ($killed)" test -n "$killed"
    check "caller: every call ended ($(val "$UAC" ok) ok + $(val "$UAC" failed) failed = $calls)" \
        test $(($(val "$UAC" ok) + $(val "$UAC" failed))) = "$calls"
    check "caller lost at most the calls in progress at the kill ($(val "$UAC" failed) <= $inprog)" \
        test "$(val "$UAC" failed)" -le "$inprog"
    check "every call ok at the caller was completed by a processor (caller $(val "$UAC" ok) <= processors $(val "$UAS" ok))" \
        test "$(val "$UAC" ok)" -le "$(val "$UAS" ok)"
    check "every survivor saw the holder down" test "$seen_down" = 1
    check "nothing sent to the dead holder once the survivors saw it down ($to_dead_at_down then, $to_dead_at_end at the end; conn_gone $(sum_of conn_gone))" \
        test "$to_dead_at_end" = "$to_dead_at_down"
    check "calls worked after the kill: SIPp reconnected ($after ok on$survivors from 3 s after it)" test "$after" -gt 0
    check "SIPp opened a new connection (accepted on the survivors: $(echo "$stats" | conns_accepted))" \
        test "$(echo "$stats" | conns_accepted)" -ge 1
    for f in $survivors; do
        P=$("$lab" stat "$work/uas-$f.csv")
        check "processor in $f: some calls ok ($(val "$P" ok))" test "$(val "$P" ok)" -gt 0
    done
fi

if [ -n "$stunnel_pid" ]; then
    kill -TERM "$stunnel_pid" 2>/dev/null
    for _ in $(seq "$(($(sec 5) * 10))"); do kill -0 "$stunnel_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$stunnel_pid" 2>/dev/null
    wait "$stunnel_pid"
    rc=$?
    check "stunnel: SIGTERM, exit $rc" test "$rc" = 0
    check "stunnel verified the farm's certificate (signed by the CA, for IP $VIP)" \
        test "$(grep -c -e 'Certificate accepted at depth=0' -e "IP address \"$VIP\" matched" "$work/stunnel.log")" = 2
    check "stunnel: no error in its log" test "$(grep -c 'LOG[0-3]\[' "$work/stunnel.log")" = 0
    grep 'LOG[0-3]\[' "$work/stunnel.log" | head -n 5
fi
for m in $members; do
    [ -n "${dpid[$m]:-}" ] || continue
    kill -TERM "${dpid[$m]}" 2>/dev/null
done
for m in $members; do
    [ -n "${dpid[$m]:-}" ] || continue
    p=${dpid[$m]}
    for _ in $(seq "$(($(sec 10) * 10))"); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$p" 2>/dev/null; then
        check "sipfarmd $m: exits on SIGTERM (still running after $(sec 10) s)" false
    else
        wait "$p"
        rc=$?
        check "sipfarmd $m: SIGTERM, exit $rc" test "$rc" = 0
    fi
    unset "dpid[$m]"
done
for m in $members; do
    [ "$m" = "$killed" ] && continue
    errs=$(grep -c 'level=error' "$work/$m.log")
    check "sipfarmd $m: no level=error in its log" test "$errs" = 0
    [ "$errs" = 0 ] || grep 'level=error' "$work/$m.log" | head -n 5
done
if [ "$fail" != 0 ]; then
    echo "$stats"
    for e in "$work"/*.err; do [ -s "$e" ] && { echo "--- $e"; head -c 1500 "$e"; echo; }; done
fi
echo "$figures"
[ "$fail" = 0 ] && echo "farm_tcp $mode: passed" || echo "farm_tcp $mode: FAILED"
exit "$fail"
