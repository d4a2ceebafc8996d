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
#   farm_tcp.sh kill [CALLS]   (default 300 calls of 2 s at 10/s per
#                              caller) the holder of a connection dies: LB
#                              nat-sticky (conntrack keeps a connection on
#                              the frontend its SYN went to, so lab.sh
#                              spread steers new connections only). Caller
#                              A's connection is held by f1, caller B's by
#                              f2, each with CALLS calls; at a third of B's
#                              load f1's sipfarmd gets SIGKILL and the LB
#                              stops picking it; once the survivors see f1
#                              down, caller C opens a new connection (the
#                              client reconnecting) for CALLS/3 calls.
#                              Before the load the farm is asked (route)
#                              which member processes each of B's Call-IDs.
#                              Expect: every call of B ended, and each one
#                              B lost was processed on f1 (its connection
#                              lived on; the calls processed on the dead
#                              member died with it); every call of C ok;
#                              every survivor saw f1 down and sent nothing
#                              more to it; no level=error in the survivors'
#                              logs. A's calls die with its connection.
#                              (SIPp's own -max_reconnect is not used: its
#                              3.6.1 sometimes sends nothing more on the new
#                              connection and hangs until its timeout.)
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
[ "$mode" = kill ] && method=nat-sticky
lab_init "farm_tcp $mode" rtft
tools="sipp ip nft"
[ "$mode" = tls ] && tools="$tools stunnel4 openssl"
for t in $tools; do
    command -v "$t" >/dev/null || { echo "skipped: farm_tcp $mode: $t is not installed"; exit 0; }
done
if [ "$mode" = kill ]; then
    calls=${2:-300}
    rate=${RTFARM_FARM_RATE:-10}
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
printf 'a secret shared by every member of this lab farm, run %s\n' "$$" >"$work/farm.key"
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

# A caller: SIPp over TCP with one connection for all its calls (-t t1),
# scenario uac_rr.xml (its Via and Contact use [transport], TCP here; ACK and
# BYE follow the route set on the same connection). Its Call-IDs are
# N-NAME@ADDRESS (-cid_str), known before the calls exist. Files NAME.csv,
# NAME.err and NAME.out in the work folder.
declare -A cpid crc uac
start_caller() { # NAME LOCAL_PORT CALLS RATE CALL_MS
    (cd "$work" && exec timeout -k 5 "$(sec 280)" "$lab" exec client sipp -sf "$sc/uac_rr.xml" "$target" -t t1 \
        -i "$sipp_ip" -p "$2" -nostdin -m "$3" -r "$4" -d "$5" -recv_timeout 10000 -cid_str "%u-$1@%s" \
        -default_behaviors all,-bye -timeout "$(sec 260)s" -timeout_error \
        -trace_stat -stf "$1.csv" -fd 1 -trace_err -error_file "$1.err" >"$1.out" 2>&1) &
    cpid[$1]=$!
    pids="$pids $!"
}

# Connections accepted, from "streams" of one or more stats documents: its
# own "accepted", after the listeners (each has one) and before the next
# object (the control socket has an "accepted" of its own), wherever it
# stands among the other counters.
conns_accepted() { grep -o '"streams":{"listeners":\[[^]]*\],[^{}]*' | sed 's/^.*\]//' | grep -o '"accepted":[0-9]*' |
    cut -d: -f2 | awk '{ s += $1 } END { print s + 0 }'; }
accepted_on() { "$ctl" --socket "$work/$1.sock" --json stats 2>/dev/null | conns_accepted; }
# The holder: the one frontend with an open (or ever accepted) connection.
holder_of() {
    local m
    for m in $frontends; do
        [ -n "${dpid[$m]:-}" ] || continue
        [ "$(accepted_on "$m")" -gt 0 ] && { echo "$m"; return 0; }
    done
    return 1
}
wait_accepted() { # MEMBER N: bounded wait until MEMBER accepted N connections
    for _ in $(seq "$(($(sec 5) * 20))"); do
        [ "$(accepted_on "$1")" -ge "$2" ] && return 0
        sleep 0.05
    done
    return 1
}
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
spread() { "$lab" spread "$@" >"$work/spread.txt" 2>&1 || { cat "$work/spread.txt"; exit 1; }; }
# The Call-IDs of the calls a caller aborted (SIPp's error file: CR between
# its events, each aborted call named once or more).
aborted_ids() { tr '\r' '\n' <"$work/$1.err" | grep -i 'aborting call' | grep -o "[0-9]*-$1@[0-9.]*" | sort -u; }

holder="" killed="" t_kill=0 survivors=$frontends seen_down=0 to_dead_at_down=0
if [ "$mode" != kill ]; then
    echo "== farm_tcp $mode: $calls calls at $rate/s, ${call_ms} ms each, over $over, LB $method"
    start_caller caller 5062 "$calls" "$rate" "$call_ms"
    for _ in $(seq "$(($(sec 5) * 20))"); do holder=$(holder_of) && break; sleep 0.05; done
    echo "  the client's connection is held by ${holder:-(none seen)}"
    wait "${cpid[caller]}"
    crc[caller]=$?
    callers=caller
else
    # Three callers in the client, each on a connection of its own, through
    # the nat-sticky LB (conntrack keeps a connection on the frontend its SYN
    # went to, so lab.sh spread steers only the connections that follow):
    #   A is held by f1, whose sipfarmd is killed at a third of the load;
    #   B is held by f2 and lives on; its calls are processed by all three;
    #   C connects after the kill (the client reconnecting), to a survivor.
    holder=f1 keeper=f2 calls_c=$((calls / 3))
    echo "== farm_tcp kill: callers A and B, $calls calls each at $rate/s, ${call_ms} ms each, one TCP connection each (held by $holder and $keeper), LB $method; $holder's sipfarmd killed at a third; then caller C, $calls_c calls on a new connection"
    # Which member processes each of B's calls while all are up: the farm's
    # own answer (route's "owner": a member that started a little late
    # leaves a hand-off behind, where the member asked first is another),
    # asked before the load.
    declare -A owner
    for i in $(seq "$calls"); do
        owner[$i-B@$sipp_ip]=$("$ctl" --socket "$work/$keeper.sock" --json route --call-id "$i-B@$sipp_ip" 2>/dev/null |
            sed -n 's/.*"owner":"\([^"]*\)".*/\1/p')
    done
    for id in "${!owner[@]}"; do echo "$id ${owner[$id]}"; done | sort -n >"$work/owners.txt"
    on_holder=$(grep -c " $holder\$" "$work/owners.txt")
    spread "$holder"
    start_caller A 5062 "$calls" "$rate" "$call_ms"
    wait_accepted "$holder" 1 || { echo "farm_tcp kill: caller A's connection did not reach $holder"; exit 1; }
    spread "$keeper"
    t_load=$(now_ms)
    start_caller B 5063 "$calls" "$rate" "$call_ms"
    wait_accepted "$keeper" 1 || { echo "farm_tcp kill: caller B's connection did not reach $keeper"; exit 1; }
    # shellcheck disable=SC2086 # word list on purpose
    spread $frontends
    until=$((t_load + calls * 1000 / 3 / rate))
    while [ "$(now_ms)" -lt "$until" ]; do sleep 0.1; done
    survivors=""
    for f in $frontends; do [ "$f" = "$holder" ] || survivors="$survivors $f"; done
    t_kill=$(now_ms)
    kill -KILL "${dpid[$holder]}"
    wait "${dpid[$holder]}" 2>/dev/null
    unset "dpid[$holder]"
    killed=$holder
    # shellcheck disable=SC2086 # word list on purpose
    spread $survivors
    echo "  t=+$(((t_kill - t_load) / 1000))s $holder's sipfarmd killed (SIGKILL), lab.sh spread$survivors"
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
    start_caller C 5065 "$calls_c" "$rate" "$call_ms"
    wait "${cpid[C]}"
    crc[C]=$?
    wait "${cpid[B]}"
    crc[B]=$?
    # A lost its connection with its holder; SIPp gives up on it by itself
    # (no reconnection asked), else it is stopped here.
    a_ended=1
    for _ in $(seq "$(($(sec 10) * 10))"); do kill -0 "${cpid[A]}" 2>/dev/null || break; sleep 0.1; done
    kill -0 "${cpid[A]}" 2>/dev/null && { a_ended=0; kill -TERM "${cpid[A]}"; }
    wait "${cpid[A]}" 2>/dev/null
    callers="B C"
fi
to_dead_at_end=0
[ -n "$killed" ] && to_dead_at_end=$(relayed_to_dead)
stop_uas
UAS=$("$lab" stat "$work"/uas-f*.csv)

stats=""
for m in $members; do
    [ -n "${dpid[$m]:-}" ] && stats="$stats$("$ctl" --socket "$work/$m.sock" --json stats 2>/dev/null)"
done
echo "$stats" >"$work/stats.json"
sum_of() { echo "$stats" | tr '{},' '\n' | sed -n "s/^\"$1\":\([0-9]*\)\$/\1/p" | awk '{ s += $1 } END { print s + 0 }'; }
for c in $callers; do
    uac[$c]=$("$lab" stat "$work/$c.csv")
    echo "  $c$(printf '%*s' $((7 - ${#c})) ''): ${uac[$c]} (sipp exit ${crc[$c]})"
done
[ "$mode" = kill ] && echo "  A      : $("$lab" stat "$work/A.csv") (ended by itself: $a_ended)"
echo "  callee : $UAS"
echo "  lb     : $("$lab" counters | sed -n 's/^lb: //p')"
figures="figures: mode=$mode calls=$calls rate=$rate call_ms=$call_ms holder=${holder:-none}"
for c in $callers; do
    figures="$figures ${c}_ok=$(val "${uac[$c]}" ok) ${c}_failed=$(val "${uac[$c]}" failed)"
done
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

if [ "$mode" != kill ]; then
    check "the client's connection has a holder ($holder)" test -n "$holder"
    check "caller: $calls calls ok, 0 failed" test "$(val "${uac[caller]}" ok)" = "$calls" -a "$(val "${uac[caller]}" failed)" = 0
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
    # B's aborted calls, and those of them that a survivor processed.
    lost=$(aborted_ids B)
    n_lost=$(echo "$lost" | grep -c .)
    lost_elsewhere=0
    for id in $lost; do [ "${owner[$id]:-?}" = "$holder" ] || lost_elsewhere=$((lost_elsewhere + 1)); done
    b_ok=$(val "${uac[B]}" ok) b_failed=$(val "${uac[B]}" failed) c_ok=$(val "${uac[C]}" ok) c_failed=$(val "${uac[C]}" failed)
    figures="$figures B_calls_on_$holder=$on_holder B_lost=$n_lost B_lost_elsewhere=$lost_elsewhere processors_ok=$(val "$UAS" ok)"
    check "the farm knew the owner of each of B's calls before the load (${#owner[@]} asked, $on_holder on $holder)" \
        test "$(printf '%s\n' "${owner[@]}" | grep -c '^f[123]$')" = "$calls"
    check "$holder's sipfarmd was killed mid-load, holding connection A" test -n "$killed"
    check "caller B: every call ended ($b_ok ok + $b_failed failed = $calls)" test $((b_ok + b_failed)) = "$calls"
    check "caller B (its connection on $keeper): every call it lost was processed on the killed $holder ($n_lost lost of $b_failed failed, $lost_elsewhere processed elsewhere)" \
        test "$n_lost" = "$b_failed" -a "$lost_elsewhere" = 0
    check "caller C, a new connection after the kill: $calls_c calls ok, 0 failed ($c_ok ok, $c_failed failed)" \
        test "$c_ok" = "$calls_c" -a "$c_failed" = 0
    check "the survivors accepted B's and C's connections ($(echo "$stats" | conns_accepted))" \
        test "$(echo "$stats" | conns_accepted)" = 2
    check "every call ok at B and C was completed by a processor ($((b_ok + c_ok)) <= processors $(val "$UAS" ok))" \
        test $((b_ok + c_ok)) -le "$(val "$UAS" ok)"
    check "every survivor saw $holder down" test "$seen_down" = 1
    check "nothing sent to the dead holder once the survivors saw it down ($to_dead_at_down then, $to_dead_at_end at the end; conn_gone $(sum_of conn_gone))" \
        test "$to_dead_at_end" = "$to_dead_at_down"
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
