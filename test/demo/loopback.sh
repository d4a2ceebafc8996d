#!/usr/bin/env bash
# make demo: a three-member rtfarm cluster on this machine's loopback
# addresses. It writes a config, checks it with cgclusterctl, starts sipfarmd
# and rtprelayd for every member, sends SIP datagrams at each member's socket,
# shows every daemon's counters, reloads one member with a broken and then a
# fixed config, and stops everything. The namespace lab with a load balancer
# and SIPp calls builds on this once sipfarmd routes.
set -eu
cd "$(dirname "$0")/../.."
bin=${RTFARM_BUILD:-build}/bin
dir=$(mktemp -d /tmp/rtfarm-demo-XXXXXX)
pids=""
cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null || true; done
    for p in $pids; do wait "$p" 2>/dev/null || true; done
    rm -rf "$dir"
}
trap cleanup EXIT INT TERM

say() { printf '\n== %s\n' "$*"; }

base=$((20000 + $$ % 20000))
write_config() {
    extra=$1
    cat > "$dir/cluster.json" <<JSON
{
  "cluster": {"name": "demo", "wan_ip": "127.0.0.1", "farm_port": $((base + 9))},
  "members": {
    "f1": {"role": "frontend", "address": "127.0.0.1", "sip_listen": ["127.0.0.1:$((base + 1))"$extra],
           "processor": "127.0.0.1:$((base + 11))", "media_ports": "30000-30999",
           "control": "f1.sock", "media_control": "f1-media.sock"},
    "f2": {"role": "frontend", "address": "127.0.0.2", "sip_listen": ["127.0.0.2:$((base + 2))"],
           "processor": "127.0.0.2:$((base + 11))", "media_ports": "31000-31999",
           "control": "f2.sock", "media_control": "f2-media.sock"},
    "f3": {"role": "frontend", "address": "127.0.0.3", "sip_listen": ["127.0.0.3:$((base + 3))"],
           "processor": "127.0.0.3:$((base + 11))", "media_ports": "32000-32999",
           "control": "f3.sock", "media_control": "f3-media.sock"}
  }
}
JSON
}
write_config ""

say "cgclusterctl check"
"$bin/cgclusterctl" --config "$dir/cluster.json" check || true

wait_for() { # wait up to 5 s for a socket file
    i=0
    while [ ! -S "$1" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
    [ -S "$1" ] || { echo "demo: $1 did not appear; logs:"; cat "$dir"/*.log; exit 1; }
}

say "starting sipfarmd and rtprelayd for f1, f2, f3"
for m in f1 f2 f3; do
    "$bin/sipfarmd" --config "$dir/cluster.json" --member $m 2>"$dir/$m.log" &
    pids="$pids $!"
    "$bin/rtprelayd" --config "$dir/cluster.json" --member $m 2>"$dir/$m-media.log" &
    pids="$pids $!"
done
for m in f1 f2 f3; do wait_for "$dir/$m.sock"; wait_for "$dir/$m-media.sock"; done
head -n 3 "$dir/f1.log"

say "sending 5 SIP OPTIONS datagrams to each member"
for i in 1 2 3; do
    for n in 1 2 3 4 5; do
        # One write, so one datagram.
        msg="OPTIONS sip:demo@127.0.0.$i SIP/2.0"$'\r\n'"Call-ID: demo-$i-$n"$'\r\n\r\n'
        printf '%s' "$msg" >/dev/udp/127.0.0.$i/$((base + i))
    done
done
sleep 0.2

say "cgclusterctl stats"
"$bin/cgclusterctl" --config "$dir/cluster.json" stats

say "SIGHUP to f1 with a broken config: refused, the old one stays"
cp "$dir/cluster.json" "$dir/good.json"
sed 's/"30000-30999"/"30999-30000"/' "$dir/good.json" > "$dir/cluster.json"
f1=$(echo $pids | cut -d' ' -f1)
kill -HUP "$f1"
sleep 0.3
grep 'reload failed' "$dir/f1.log" || true

say "SIGHUP to f1 with a second SIP port: applied"
write_config ", \"127.0.0.1:$((base + 4))\""
kill -HUP "$f1"
sleep 0.3
grep -E 'listening|config reloaded' "$dir/f1.log" | tail -n 2

say "stopping (SIGTERM)"
for p in $pids; do kill "$p"; done
status=0
for p in $pids; do wait "$p" || status=1; done
pids=""
tail -n 2 "$dir/f1.log"
[ $status = 0 ] && echo "demo: every daemon stopped cleanly (exit 0)"
exit $status
