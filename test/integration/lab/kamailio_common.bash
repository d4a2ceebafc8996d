# Sourced by the kamailio*.sh tests and hostile_edge.sh (bash; not a test itself: make check runs only *.sh
# here), after lab_common.bash and lab_init. Kamailio as every member's
# processor, with etc/processors/kamailio/kamailio.cfg, and the PostgreSQL
# server that holds their shared location and subscriber tables:
#   pg_start NODE ADDR      initdb in $work/pg as the postgres user, the server
#                           in NODE's namespace listening on ADDR:5432 and on a
#                           Unix socket in $work/pg/sock, pg_hba admitting the
#                           role kamailio (password) from the lab's 10.77.0.0/24;
#                           bounded wait until it accepts connections
#   pg_schema               the role and database kamailio, Kamailio's own
#                           schema files (standard, usrloc, auth_db)
#   pg_sql SQL              run SQL as kamailio on the database kamailio
#   pg_stop                 fast shutdown, bounded; SIGKILL after that
#   kam_start MEMBER        kamailio in MEMBER's namespace in the foreground
#                           (-DD -E), log $work/kam-MEMBER.log, the farm's
#                           values given with -A; pid in kpid[MEMBER]
#   kam_wait MEMBER         bounded wait until it listens on 127.0.0.1:5070
#   kam_stop                SIGTERM every Kamailio, bounded wait, SIGKILL
# Paths and values: PG_BIN (the server's binaries), KAM_CFG, DB_PASSWORD,
# KAM_SECRET. The farm around them and the SIPp users: below.

PG_BIN=${RTFARM_PG_BIN:-/usr/lib/postgresql/15/bin}
KAM_CFG=$root/etc/processors/kamailio/kamailio.cfg
DB_PASSWORD=kamailiorw
KAM_SECRET="lab secret $$"
SCHEMA_DIR=/usr/share/kamailio/postgres
pg_pid=""
pg_addr=""
declare -A kpid

# Exits 0 with "skipped: NAME: why" unless this host has the TOOLS named and
# what kam_missing checks; then sets the EXIT trap that stops Kamailio,
# PostgreSQL and the lab.
kam_require() { # TOOLS...
    local t why
    for t in "$@"; do
        command -v "$t" >/dev/null || { echo "skipped: $lab_name: $t is not installed"; exit 0; }
    done
    why=$(kam_missing)
    [ -z "$why" ] || { echo "skipped: $lab_name: $why"; exit 0; }
    trap 'kam_stop; pg_stop; cleanup' EXIT
}

# "" when this host has what the Kamailio lab needs, else the reason.
kam_missing() {
    local t
    for t in kamailio setpriv psql; do command -v "$t" >/dev/null || { echo "$t is not installed"; return; }; done
    if [ ! -x "$PG_BIN/postgres" ] || [ ! -x "$PG_BIN/initdb" ]; then
        echo "no PostgreSQL server in $PG_BIN (postgresql)"
        return
    fi
    id postgres >/dev/null 2>&1 || { echo "no postgres user (postgresql)"; return; }
    [ -r "$SCHEMA_DIR/usrloc-create.sql" ] || { echo "no $SCHEMA_DIR (kamailio-postgres-modules)"; return; }
    [ -r "$(kamailio_module_dir)/db_postgres.so" ] || { echo "no db_postgres module (kamailio-postgres-modules)"; return; }
}
kamailio_module_dir() {
    local d
    for d in /usr/lib/x86_64-linux-gnu/kamailio/modules /usr/lib/*/kamailio/modules /usr/lib/kamailio/modules \
        /usr/local/lib64/kamailio/modules /usr/local/lib/kamailio/modules; do
        [ -d "$d" ] && { echo "$d"; return; }
    done
}

as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }

pg_start() { # NODE ADDR
    local node=$1
    pg_addr=$2
    local pg=$work/pg
    # The postgres user must reach its folders inside the (root-only) work folder.
    chmod 711 "$work"
    mkdir -p "$pg/sock"
    chown -R postgres: "$pg"
    as_postgres "$PG_BIN/initdb" -D "$pg/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
        -E UTF8 --no-instructions >"$work/initdb.log" 2>&1 ||
        { cat "$work/initdb.log"; echo "$lab_name: initdb failed"; return 1; }
    echo "host kamailio kamailio 10.77.0.0/24 scram-sha-256" >>"$pg/data/pg_hba.conf"
    # A test database in a temporary folder: no fsync. Enough connections
    # for three Kamailios (each worker and timer process holds one).
    "$lab" exec "$node" setpriv --reuid=postgres --regid=postgres --init-groups \
        "$PG_BIN/postgres" -D "$pg/data" -c listen_addresses="$pg_addr" -c port=5432 \
        -c unix_socket_directories="$pg/sock" -c max_connections=120 -c shared_buffers=16MB \
        -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
        -c log_min_messages=warning -c log_connections=off >"$work/postgres.log" 2>&1 &
    pg_pid=$!
    pids="$pids $pg_pid"
    for _ in $(seq "$(($(sec 10) * 10))"); do
        "$PG_BIN/pg_isready" -q -h "$pg/sock" -U postgres && return 0
        kill -0 "$pg_pid" 2>/dev/null || break
        sleep 0.1
    done
    cat "$work/postgres.log"
    echo "$lab_name: PostgreSQL did not come up"
    return 1
}

pg_psql() { psql -X -q -v ON_ERROR_STOP=1 -h "$work/pg/sock" "$@"; }

pg_schema() {
    {
        pg_psql -U postgres -d postgres -c "CREATE ROLE kamailio LOGIN PASSWORD '$DB_PASSWORD'" &&
            pg_psql -U postgres -d postgres -c "CREATE DATABASE kamailio OWNER kamailio" &&
            for f in standard usrloc auth_db; do
                pg_psql -U kamailio -d kamailio -f "$SCHEMA_DIR/$f-create.sql" || exit 1
            done
    } >"$work/schema.log" 2>&1 || { cat "$work/schema.log"; echo "$lab_name: the schema could not be created"; return 1; }
}

pg_sql() { pg_psql -U kamailio -d kamailio -At -c "$1"; }

pg_stop() {
    [ -n "$pg_pid" ] || return 0
    kill -INT "$pg_pid" 2>/dev/null # fast shutdown
    for _ in $(seq "$(($(sec 10) * 10))"); do kill -0 "$pg_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pg_pid" 2>/dev/null
    wait "$pg_pid" 2>/dev/null
    pg_pid=""
}

kam_start() { # MEMBER
    local m=$1
    mkdir -p "$work/kam-$m"
    "$lab" exec "$m" kamailio -f "$KAM_CFG" -DD -E -m 48 -M 8 -Y "$work/kam-$m" \
        -A "FARM_ADVERTISE=$VIP:5060" -A "FARM_ALIAS=$VIP:5060" -A "FARM_REALM=\"$VIP\"" \
        -A "DBURL=\"postgres://kamailio:$DB_PASSWORD@$pg_addr/kamailio\"" \
        -A "FARM_SECRET=\"$KAM_SECRET\"" -A FARM_CHILDREN=2 -A "FARM_SERVER_ID=${m#f}" \
        >"$work/kam-$m.log" 2>&1 &
    kpid[$m]=$!
    pids="$pids $!"
}

kam_wait() { # MEMBER
    "$lab" wait-udp "$1" 5070 "$(sec 10)" >/dev/null && kill -0 "${kpid[$1]}" 2>/dev/null && return 0
    tail -n 30 "$work/kam-$1.log"
    echo "$lab_name: Kamailio on $1 did not start"
    return 1
}

kam_stop() {
    local m
    for m in "${!kpid[@]}"; do kill -TERM "${kpid[$m]}" 2>/dev/null; done
    for m in "${!kpid[@]}"; do
        for _ in $(seq "$(($(sec 5) * 10))"); do kill -0 "${kpid[$m]}" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "${kpid[$m]}" 2>/dev/null
        wait "${kpid[$m]}" 2>/dev/null
        unset "kpid[$m]"
    done
}

# ---- the farm: f1-f3 as Members behind the lab's load balancer (method
# $KAM_LB_METHOD, below), each with Kamailio as its processor
# (127.0.0.1:5070), and SIPp users in the client (198.51.100.10).
#   kam_farm_config MEDIA   $work/cluster.json (media "none" or "anchor":
#                           rtprelayd on every member; more cluster keys
#                           from $KAM_CLUSTER_MORE, e.g. ', "flood_limit": 100'),
#                           checked by cgclusterctl check; the lab up
#                           ($KAM_LB_METHOD); with KAM_MEMBER_CONFIGS=1 also
#                           a copy of it per member, $work/cluster-MEMBER.json
#   kam_config_of MEMBER    the config MEMBER's sipfarmd and rtprelayd read:
#                           $work/cluster-MEMBER.json with KAM_MEMBER_CONFIGS=1
#                           (a test that changes one member's config), else
#                           $work/cluster.json
#   kam_farm_up USERS...    PostgreSQL on b1 with the schema and USERS as
#                           subscribers (password pw-USER), then sipfarmd
#                           (and rtprelayd with media), then Kamailio, on
#                           f1-f3, each waited for
#   kam_check_call_media N  the relay sessions and media of N calls with a
#                           407 challenge each (below)
#   kam_check_media_from_vip  the client got SIP and media from the VIP only
#                           (nat)
#   kam_check_media_sources where the client got SIP and media from, as the
#                           method wants: nat, from the VIP only (the check
#                           above); dsr, SIP from VIP:5060 and media from the
#                           members' own addresses, each from its port range
#                           only, nothing else
#   kam_check_logs          stops Kamailio; no level=error in the daemons'
#                           logs, no ERROR in Kamailio's
#   kam_check_fast_path     with RTFARM_LAB_MEDIA_FAST_PATH: every member's
#                           rtprelayd ran the kernel fast path, which
#                           forwarded packets, and (the calls over) has no
#                           entry left in the kernel's map
# RTFARM_LAB_MEDIA_FAST_PATH=auto|required puts "media_fast_path" in every
# member's config (rtprelayd(8), Kernel fast path) and lets the members'
# eth0 forward IPv4, which the XDP program's next-hop lookup needs.
# KAM_LB_METHOD=nat (default) or dsr, the lab's load-balancer method:
#   nat  the VIP on the LB, which sprays SIP and forwards each member's media
#        port range to it, rewriting what the members send to come from the
#        VIP; sip_listen 0.0.0.0:5060, media advertised with the cluster's
#        wan_ip (the VIP): the single-IP method
#   dsr  the VIP on every member's loopback, the LB sprays SIP to the
#        members' MACs (IP header untouched), the members answer from the VIP
#        themselves (sip_listen VIP:5060 first, then 0.0.0.0:5060); the LB
#        forwards nothing else, so media goes straight to each member's own
#        (routable) address, its wan_ip: the multi-IP method without NAT
#        (test/lab/README.md, dsr)
frontends="f1 f2 f3"
KAM_LB_METHOD=${KAM_LB_METHOD:-nat}
case $KAM_LB_METHOD in
nat | dsr) ;;
*) echo "$lab_name: KAM_LB_METHOD must be nat or dsr, not '$KAM_LB_METHOD'"; exit 2 ;;
esac
sc=$root/test/lab/sipp
CLIENT=198.51.100.10
val() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1; }
declare -A dpid
kam_media=none
KAM_MEMBER_CONFIGS=${KAM_MEMBER_CONFIGS:-0}
KAM_FAST_PATH=${RTFARM_LAB_MEDIA_FAST_PATH:-}
kam_config_of() { # MEMBER
    if [ "$KAM_MEMBER_CONFIGS" = 1 ]; then echo "$work/cluster-$1.json"; else echo "$work/cluster.json"; fi
}

kam_farm_config() { # MEDIA
    kam_media=$1
    local media_conf="" m sep="" listen='"0.0.0.0:5060"' wan=""
    [ "$KAM_LB_METHOD" = dsr ] && listen="\"$VIP:5060\", \"0.0.0.0:5060\""
    [ "$kam_media" = anchor ] && media_conf=', "media": "anchor"'
    media_conf="$media_conf${KAM_CLUSTER_MORE:-}"
    printf 'a secret shared by every member of this lab farm, run %s\n' "$$" >"$work/farm.key"
    {
        echo '{'
        echo "  \"cluster\": {\"name\": \"lab\", \"wan_ip\": \"$VIP\", \"farm_port\": 5069, \"secret_file\": \"farm.key\","
        echo "              \"heartbeat_ms\": 200, \"dead_after_ms\": 1000$media_conf},"
        echo '  "members": {'
        for m in $frontends; do
            [ "$KAM_LB_METHOD" = dsr ] && wan=", \"wan_ip\": \"$(addr_of "$m")\""
            printf '%s    "%s": {"role": "frontend", "address": "%s"%s, "sip_listen": [%s], "processor": "127.0.0.1:5070",\n' \
                "$sep" "$m" "$(addr_of "$m")" "$wan" "$listen"
            printf '           "media_ports": "%s", "control": "%s.sock", "control_tcp": "%s:5068", "media_control": "%s-media.sock"%s}' \
                "$(range_of "$m")" "$m" "$(addr_of "$m")" "$m" "${KAM_FAST_PATH:+, \"media_fast_path\": \"$KAM_FAST_PATH\"}"
            sep=$(printf ',\n')
        done
        echo
        echo '  }'
        echo '}'
    } >"$work/cluster.json"
    "$ctl" --config "$work/cluster.json" check >"$work/check.txt" 2>&1 ||
        { cat "$work/check.txt"; echo "$lab_name: the config does not pass cgclusterctl check"; return 1; }
    if [ "$KAM_MEMBER_CONFIGS" = 1 ]; then
        for m in $frontends; do cp "$work/cluster.json" "$(kam_config_of "$m")" || return 1; done
    fi
    "$lab" up "$KAM_LB_METHOD" >"$work/lab.txt" 2>&1 || { cat "$work/lab.txt"; return 1; }
    [ "$KAM_LB_METHOD" = dsr ] && { kam_dsr_client_counters || return 1; }
    return 0
}

# dsr: counters in the client (its own table, beside lab.sh's) of where the
# UDP it gets comes from: SIP from VIP:5060, media from each member's own
# address and port range, and anything else.
kam_dsr_client_counters() {
    local m
    {
        echo 'table inet rtkam_sources {'
        echo '    counter sip_from_vip { comment "UDP from VIP:5060" }'
        for m in $frontends; do
            echo "    counter media_from_$m { comment \"UDP from $m's address, its media port range\" }"
        done
        echo '    counter udp_from_elsewhere { comment "any other UDP" }'
        echo '    chain input {'
        echo '        type filter hook input priority filter; policy accept;'
        echo "        ip saddr $VIP udp sport 5060 counter name \"sip_from_vip\" return"
        for m in $frontends; do
            echo "        ip saddr $(addr_of "$m") udp sport $(range_of "$m") counter name \"media_from_$m\" return"
        done
        echo '        meta l4proto udp counter name "udp_from_elsewhere"'
        echo '    }'
        echo '}'
    } >"$work/client-counters.nft"
    "$lab" exec client nft -f "$work/client-counters.nft" ||
        { echo "$lab_name: cannot add the client's source counters"; return 1; }
}

kam_farm_up() { # USERS...
    local u m
    pg_start b1 "$(addr_of b1)" || return 1
    pg_schema || return 1
    for u in "$@"; do
        pg_sql "INSERT INTO subscriber (username, domain, password) VALUES ('$u', '$VIP', 'pw-$u')" >/dev/null ||
            { echo "$lab_name: could not add subscriber $u"; return 1; }
    done
    for m in $frontends; do
        "$lab" exec "$m" "$bin/sipfarmd" --config "$(kam_config_of "$m")" --member "$m" 2>"$work/$m.log" &
        dpid[$m]=$!
    done
    for m in $frontends; do wait_socket "$work/$m.sock" "$work/$m.log" || return 1; done
    for m in $frontends; do wait_up "$work/$m.sock" 3 || return 1; done
    if [ "$kam_media" = anchor ]; then
        for m in $frontends; do
            if [ -n "$KAM_FAST_PATH" ] && [ "$KAM_FAST_PATH" != off ]; then
                "$lab" exec "$m" sysctl -q -w net.ipv4.conf.eth0.forwarding=1 ||
                    { echo "$lab_name: cannot let $m's eth0 forward"; return 1; }
            fi
            "$lab" exec "$m" "$bin/rtprelayd" --config "$(kam_config_of "$m")" --member "$m" 2>"$work/$m-media.log" &
            dpid[$m-media]=$!
        done
        for m in $frontends; do wait_socket "$work/$m-media.sock" "$work/$m-media.log" || return 1; done
    fi
    for m in $frontends; do kam_start "$m"; done
    for m in $frontends; do kam_wait "$m" || return 1; done
}

# ---- SIPp helpers. Each SIPp's files are $work/NAME.{csv,err,out}.
user_file() { printf 'SEQUENTIAL\n%s;\n' "$1" >"$work/user-$1.csv"; echo "$work/user-$1.csv"; }
# A SIPp in the client that ends by itself (-m): bounded by timeout(1).
sipp_run() { # NAME LIMIT_SECONDS SIPP_ARGS...
    local n=$1 limit=$2
    shift 2
    (cd "$work" && timeout -k 5 "$(sec "$limit")" "$lab" exec client sipp "$@" -nostdin -default_behaviors all,-bye \
        -trace_stat -stf "$n.csv" -fd 1 -trace_err -error_file "$n.err" >"$n.out" 2>&1)
}
register() { # USER PORT [SCENARIO]: exit status of SIPp (0: registered)
    sipp_run "reg-$1-$2" 30 -sf "$sc/${3:-register_auth.xml}" -inf "$(user_file "$1")" -au "$1" -ap "pw-$1" \
        -i "$CLIENT" -p "$2" -m 1 -recv_timeout 5000 "$VIP:5060"
}
# A callee: a SIPp UAS in the background, stopped by stop_callees.
callee_pids=""
callee() { # NAME SCENARIO PORT [ARGS...]
    local n=$1 sf=$2 port=$3
    shift 3
    (cd "$work" && exec "$lab" exec client sipp -sf "$sc/$sf" -i "$CLIENT" -p "$port" -bind_local -nostdin \
        -default_behaviors all,-bye -recv_timeout 10000 -timeout "$(sec 300)s" "$@" \
        -trace_stat -stf "$n.csv" -fd 1 -trace_err -error_file "$n.err" >"$n.out" 2>&1) &
    callee_pids="$callee_pids $!"
    pids="$pids $!"
}
stop_callees() {
    local p
    for p in $callee_pids; do kill -USR1 "$p" 2>/dev/null; done
    for p in $callee_pids; do
        for _ in $(seq "$(($(sec 20) * 10))"); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    callee_pids=""
}
# alice calls USER with SCENARIO: N calls at R/s, D ms each.
call() { # NAME SCENARIO USER N R D [ARGS...]
    local n=$1 sf=$2 u=$3 m=$4 r=$5 d=$6
    shift 6
    case $sf in /*) ;; *) sf=$sc/$sf ;; esac
    sipp_run "$n" 280 -sf "$sf" -inf "$(user_file alice)" -au alice -ap pw-alice -s "$u" \
        -i "$CLIENT" -p 5062 -m "$m" -r "$r" -d "$d" -recv_timeout 10000 \
        -timeout "$(sec 250)s" -timeout_error "$@" "$VIP:5060"
}
# "ok=N failed=N ..." of a SIPp's CSV files.
counts() { "$lab" stat "$@" 2>/dev/null; }
all_ok() { [ "$(val "$2" ok)" = "$1" ] && [ "$(val "$2" failed)" = 0 ]; } # N COUNTS
both_ok() { # WHAT N CALLER_CSV CALLEE_CSV...: every call ok on both sides
    local what=$1 n=$2 c=$3
    shift 3
    local C S
    C=$(counts "$work/$c.csv")
    S=""
    local f
    for f in "$@"; do S="$S $f: $(counts "$work/$f.csv")"; done
    echo "  $what: caller $C |$S"
    check "$what: caller $n ok, 0 failed" all_ok "$n" "$C"
    for f in "$@"; do
        local s
        s=$(counts "$work/$f.csv")
        check "$what: $f $n ok, 0 failed" all_ok "$n" "$s"
    done
}

kam_check_media_from_vip() {
    local clc
    clc=$("$lab" counters | sed -n 's/^client: //p')
    check "client: SIP and media from the VIP only ($clc)" \
        test "$(val "$clc" udp_from_vip_other_port)" -gt 0 -a "$(val "$clc" udp_from_other)" = 0
}

kam_check_media_sources() {
    [ "$KAM_LB_METHOD" = dsr ] || { kam_check_media_from_vip; return 0; }
    local c m media=0 per=""
    c=$("$lab" exec client nft list counters table inet rtkam_sources | awk '$1 == "counter" { name = $2 }
        $1 == "packets" && name != "" { printf "%s%s=%s", sep, name, $2; sep = " "; name = "" } END { print "" }')
    for m in $frontends; do
        media=$((media + $(val "$c" "media_from_$m")))
    done
    check "client: SIP from VIP:5060 only, media from the members' own addresses only, each from its range ($c)" \
        test "$(val "$c" sip_from_vip)" -gt 0 -a "$media" -gt 0 -a "$(val "$c" udp_from_elsewhere)" = 0
    # Every member that relayed packets to the client sent them from its own
    # address, in its own range.
    for m in $frontends; do
        grep 'msg="session closed"' "$work/$m-media.log" | grep -Eq 'from_(caller|callee)=[1-9]' || continue
        [ "$(val "$c" "media_from_$m")" -gt 0 ] || per="$per $m"
    done
    check "client: media from every member that relayed some${per:+ (none from$per)}" test -z "$per"
}

kam_check_fast_path() {
    [ -n "$KAM_FAST_PATH" ] || return 0
    local m line total=0 kernel=0 left=0 lines=""
    for m in $frontends; do
        line=$("$ctl" --socket "$work/$m-media.sock" stats 2>/dev/null | sed -n 's/^ *fast_path: //p')
        lines="$lines $m: $line;"
        case " $line " in *" path=kernel "*) kernel=$((kernel + 1)) ;; esac
        total=$((total + $(val "$line" packets)))
        left=$((left + $(val "$line" kernel_entries) + $(val "$line" entries)))
    done
    check "rtprelayd: the kernel fast path runs on every member ($kernel of 3)" test "$kernel" = 3
    check "rtprelayd: the kernel forwarded $total packets" test "$total" -gt 0
    check "rtprelayd: no fast path entry outlives its call ($left left)" test "$left" = 0
    [ "$kernel" = 3 ] && [ "$left" = 0 ] || echo "   $lines"
    return 0
}

kam_check_logs() {
    local logs="$work/f1.log $work/f2.log $work/f3.log" what="sipfarmd's" errs kerrs
    [ "$kam_media" = anchor ] && { logs="$logs $work/f1-media.log $work/f2-media.log $work/f3-media.log"; what="sipfarmd's and rtprelayd's"; }
    kam_stop
    # shellcheck disable=SC2086 # $logs: the file names
    errs=$(grep -h 'level=error' $logs | head -n 5)
    check "no level=error in $what logs" [ -z "$errs" ]
    [ -n "$errs" ] && echo "$errs" | sed 's/^/    /'
    kerrs=$(grep -h ' ERROR: ' "$work"/kam-f[123].log | head -n 5)
    check "no ERROR in Kamailio's logs" [ -z "$kerrs" ]
    [ -n "$kerrs" ] && echo "$kerrs" | sed 's/^/    /'
    return 0
}

# rtprelayd's sessions, from the members' media logs: kam_sessions_created
# counts "session created" lines; kam_sessions_closed prints the "session
# closed" ones; kam_both_ways counts those of its input with packets from
# the caller and from the callee.
kam_sessions_created() { cat "$work"/f*-media.log | grep -c 'msg="session created"'; }
kam_sessions_closed() { cat "$work"/f*-media.log | grep 'msg="session closed"'; }
kam_both_ways() { awk '{ x = y = 0
    for (i = 1; i <= NF; i++) { split($i, kv, "="); if (kv[1] == "from_caller") x = kv[2]; if (kv[1] == "from_callee") y = kv[2] }
    if (x > 0 && y > 0) n++ } END { print n + 0 }'; }

# The media of N calls with a 407 challenge each (kamailio_media.sh's):
# two relay sessions a call (the first INVITE's, ended by Kamailio's 407, and
# the call's), every one deleted by its BYE, each call's with packets
# relayed from the caller (the LB routed the range to the right member) and
# from the callee (bob echoed them back), none timed out, and no failed
# media exchange in any sipfarmd. Sets $created and $flowing.
kam_check_call_media() { # N
    local n=$1 deleted timed_out media_failed="" m f
    created=$(kam_sessions_created)
    deleted=$(kam_sessions_closed | grep -c 'reason=deleted')
    flowing=$(kam_sessions_closed | grep 'reason=deleted' | kam_both_ways)
    timed_out=$(kam_sessions_closed | grep -c 'reason=timeout')
    check "rtprelayd: $created sessions created (2 a call: the 407 ends the first), $deleted deleted, none left" \
        test "$created" = "$((2 * n))" -a "$deleted" = "$created"
    check "media both ways in every call: $flowing of $n sessions relayed from caller and from callee" test "$flowing" = "$n"
    check "no media session timed out ($timed_out)" test "$timed_out" = 0
    for m in $frontends; do
        f=$("$ctl" --socket "$work/$m.sock" --json stats 2>/dev/null | grep -o '"media":{[^}]*"failed":{[^}]*}' | grep -o '"failed":{[^}]*}')
        [ "$f" = '"failed":{}' ] || media_failed="$media_failed $m:$f"
    done
    check "sipfarmd: no failed media exchange${media_failed:+ ($media_failed)}" test -z "$media_failed"
}

# The last lines of a test: "figures: FIGURES" with alice's (main) and bob's
# (uas-bob) counts and the seconds since $t_start; after a failure the first
# lines of the .err file of each SIPp named, "NAME: FAILED" and exit 1, else
# "NAME: passed".
kam_finish() { # FIGURES SIPP_NAMES...
    local figures=$1 M S f
    shift
    M=$(counts "$work/main.csv")
    S=$(counts "$work/uas-bob.csv")
    echo "figures: $figures caller_ok=$(val "$M" ok) caller_failed=$(val "$M" failed)" \
        "callee_ok=$(val "$S" ok) callee_failed=$(val "$S" failed) total_s=$(($(date +%s) - t_start))"
    if [ "$fail" != 0 ]; then
        for f in "$@"; do
            [ -s "$work/$f.err" ] || continue
            echo "  $f.err:"
            tr -d '\r' <"$work/$f.err" | grep -v '^$' | head -n 8 | cut -c1-200 | sed 's/^/    /'
        done
        echo "$lab_name: FAILED"
        exit 1
    fi
    echo "$lab_name: passed"
}
