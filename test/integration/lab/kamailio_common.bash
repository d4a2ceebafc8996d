# Sourced by kamailio.sh (bash; not a test itself: make check runs only *.sh
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
# KAM_SECRET.

PG_BIN=${RTFARM_PG_BIN:-/usr/lib/postgresql/15/bin}
KAM_CFG=$root/etc/processors/kamailio/kamailio.cfg
DB_PASSWORD=kamailiorw
KAM_SECRET="lab secret $$"
SCHEMA_DIR=/usr/share/kamailio/postgres
pg_pid=""
pg_addr=""
declare -A kpid

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
