#!/usr/bin/env bash
# Farm-link secret rotation under call load, without a split:
# kamailio_media.sh's farm (Kamailio with etc/processors/kamailio/kamailio.cfg
# on f1-f3, PostgreSQL on b1, rtprelayd anchoring media, the lab's nat load
# balancer), except that each member's sipfarmd and rtprelayd read their own
# config, $work/cluster-MEMBER.json (KAM_MEMBER_CONFIGS=1), next to
# cluster.json so that its relative paths (f1.sock, farm.key) still hold.
#
#   kamailio_rotate.sh [CALLS]        (default 180 calls at 10/s, 3 s each)
#   kamailio_rotate.sh split [CALLS]  the wrong way, expected to FAIL: step 1
#                                     swaps secret_file without
#                                     previous_secret_file (a split), and
#                                     there is no step 2
#
# alice calls bob through the VIP (G.711 both ways, bob echoes, as in
# kamailio_media.sh); while she is still calling, the operator's procedure:
#   1. a new secret (32 random bytes as 64 hex digits) in farm-new.key; on
#      f1, f2, f3 in turn (1.5 s apart) "secret_file": "farm-new.key",
#      "previous_secret_file": "farm.key", then SIGHUP to that member's
#      sipfarmd and rtprelayd; then (bounded) wait until every member reports
#      (cgclusterctl --json members: farm_key.signing) that it signs with the
#      same new key id, other than the one before;
#   2. on f1, f2, f3 in turn, previous_secret_file removed, SIGHUP to both.
# Each step is printed with its time since the load started.
# Expect: the rotation over before the caller's last call starts; every
# call ok on both sides, two relay sessions a call, every one deleted, each
# call's with media both ways, none timed out, no failed media exchange;
# every member signing with the new key and holding only it, and announcing
# only it to the others (members[].keys); no member ever seen not up by any
# sipfarmd once all three were up (its msg="view" lines); no farm-link
# packet dropped for a bad MAC, as unauthenticated or as an impostor
# (stats dropped_by); control logins over TCP (cgclusterctl --connect from
# b1) after every step, with the old secret only to each member that holds
# it and with the new one only to each member that holds that, all in, no
# failed login logged, and at the end no login anywhere with the old secret
# only; every SIGHUP logged as "config reloaded" by its daemon, no "reload
# failed"; media back to the client from the VIP only; no error in any log.
#
# Exit status: 0 passed; 1 failed; 0 with a "skipped: ..." line when the
# host cannot run it (as kamailio_media.sh). RTFARM_KEEP_LOGS=1 keeps the
# work folder; RTFARM_TEST_TIMEOUT_SCALE scales the time limits.
set -u
# shellcheck source=lab_common.bash
. "$(dirname "$0")/lab_common.bash"
lab_init kamailio_rotate rtkmr
KAM_MEMBER_CONFIGS=1
# shellcheck source=kamailio_common.bash
. "$(dirname "$0")/kamailio_common.bash"
mode=rotate
[ "${1:-}" = split ] && { mode="split"; shift; }
kam_require sipp ip nft
pcap=/usr/share/sip-tester/g711a.pcap
[ -r "$pcap" ] || { echo "skipped: kamailio_rotate: $pcap (sip-tester) is missing"; exit 0; }

calls=${1:-180}
rate=10
call_ms=3000
# Between two members' reloads, and from the load's start to the first.
gap=1.5
first_at_ms=2000
t_start=$(date +%s)

kam_farm_config anchor || exit 1
grep -q '"secret_file": "farm.key",' "$work/cluster.json" || { echo "kamailio_rotate: no secret_file in cluster.json"; exit 1; }
echo "== kamailio_rotate ($mode): $calls calls with media anchored ($rate/s, $call_ms ms each);" \
    "the farm-link secret rotated member by member in the middle of them"
kam_farm_up alice bob || exit 1
for m in $frontends; do
    [ "$(cat "/proc/${dpid[$m]}/comm" 2>/dev/null)" = sipfarmd ] || { echo "kamailio_rotate: pid ${dpid[$m]} is not $m's sipfarmd"; exit 1; }
    [ "$(cat "/proc/${dpid[$m-media]}/comm" 2>/dev/null)" = rtprelayd ] ||
        { echo "kamailio_rotate: pid ${dpid[$m-media]} is not $m's rtprelayd"; exit 1; }
done

sed "s|^  <pause/>|  <nop><action><exec play_pcap_audio=\"$pcap\"/></action></nop>\n  <pause/>|" \
    "$sc/uac_auth.xml" >"$work/uac_auth_media.xml"
grep -q play_pcap_audio "$work/uac_auth_media.xml" || { echo "kamailio_rotate: could not derive the caller's scenario"; exit 1; }
register bob 5081 || { echo "kamailio_rotate: bob could not register"; tail -n 5 "$work/reg-bob-5081.err"; exit 1; }
callee uas-bob uas.xml 5081 -rtp_echo
"$lab" wait-udp client 5081 "$(sec 5)" >/dev/null || exit 1

now_ms() { echo $(($(date +%s%N) / 1000000)); }
t_load=0
say_at() { echo "  t=+$(awk -v d=$(($(now_ms) - t_load)) 'BEGIN { printf "%.1f", d / 1000 }')s $*"; }
members_json() { "$ctl" --socket "$work/$1.sock" --json members 2>/dev/null; }
farm_key() { members_json "$1" | grep -o '"farm_key":{[^}]*}'; } # MEMBER
signing_of() { farm_key "$1" | grep -o '"signing":"[0-9a-f]*"' | cut -d'"' -f4; }
held_of() { farm_key "$1" | grep -o '"held":\[[^]]*\]' | sed 's/^"held":\[//; s/\]$//; s/"//g'; }
# The key ids M announced to the member asked, comma-separated: the text
# from M's "id" to the next member's (a member's object has objects inside).
keys_seen() { # ASKED M
    members_json "$1" | sed 's/"id":"/\n&/g' | grep "^\"id\":\"$2\"" | grep -o '"keys":\[[^]]*\]' |
        head -n 1 | sed 's/^"keys":\[//; s/\]$//; s/"//g'
}
# "M:ID M:ID M:ID", every member's signing key id.
all_signing() { local m s=""; for m in $frontends; do s="$s $m:$(signing_of "$m")"; done; echo "${s# }"; }
reloads_logged() { grep -c 'msg="config reloaded"' "$1"; } # LOG

# Write M's config with secret_file NEW (and previous_secret_file PREV
# unless empty), check it, SIGHUP its sipfarmd and rtprelayd, and wait
# (bounded) until each logs the reload (or its failure).
reconfigure() { # MEMBER NEW [PREV]
    local m=$1 new=$2 prev=${3:-} cfg d log n want
    cfg=$(kam_config_of "$m")
    sed "s|\"secret_file\": \"farm.key\",|\"secret_file\": \"$new\",${prev:+ \"previous_secret_file\": \"$prev\",}|" \
        "$work/cluster.json" >"$cfg.new" && mv "$cfg.new" "$cfg"
    "$ctl" --config "$cfg" check >"$work/check-$m-$new-${prev:-none}.txt" 2>&1 ||
        { echo "  FAIL  $m's new config does not pass cgclusterctl check: $(tail -n 1 "$work/check-$m-$new-${prev:-none}.txt")"; fail=1; }
    for d in "$m" "$m-media"; do
        log=$work/$d.log
        want=$(($(reloads_logged "$log") + 1))
        kill -HUP "${dpid[$d]}"
        for _ in $(seq "$(($(sec 5) * 20))"); do
            n=$(reloads_logged "$log")
            [ "$n" -ge "$want" ] && break
            grep -q 'msg="reload failed' "$log" && break
            sleep 0.05
        done
    done
}

# Control logins over TCP (cgclusterctl --connect, from b1) while the key
# changes: after each step, a client with only the old secret (cluster.json)
# logs in to every member that holds farm.key, and one with only the new
# secret (client-new.json) to every member that holds farm-new.key; each
# must get its answer. At the end the old secret must be refused everywhere.
sed 's|"secret_file": "farm.key",|"secret_file": "farm-new.key",|' "$work/cluster.json" >"$work/client-new.json"
declare -A has_old has_new
for m in $frontends; do has_old[$m]=1; has_new[$m]=0; done
logins_tried=0
logins_bad=""
login() { # CONFIG MEMBER OUT
    timeout -k 2 "$(sec 10)" "$lab" exec b1 "$ctl" --config "$1" --connect "$(addr_of "$2"):5068" --timeout 3000 \
        --json members >"$3" 2>&1 &&
        grep -q '"members":\[' "$3"
}
probe_logins() { # STEP
    local m
    for m in $frontends; do
        if [ "${has_old[$m]}" = 1 ]; then
            logins_tried=$((logins_tried + 1))
            login "$work/cluster.json" "$m" "$work/login.out" || logins_bad="$logins_bad $1:old->$m($(tail -n 1 "$work/login.out" | cut -c1-80))"
        fi
        if [ "${has_new[$m]}" = 1 ]; then
            logins_tried=$((logins_tried + 1))
            login "$work/client-new.json" "$m" "$work/login.out" || logins_bad="$logins_bad $1:new->$m($(tail -n 1 "$work/login.out" | cut -c1-80))"
        fi
    done
}

key_before=$(signing_of f1)
s_before=$(all_signing)
echo "  before: signing $s_before; f1 holds [$(held_of f1)]"

# ---- the calls, and the rotation in the middle of them
load_ms=$((calls * 1000 / rate))
t_load=$(now_ms)
call main "$work/uac_auth_media.xml" bob "$calls" "$rate" "$call_ms" &
main_pid=$!
pids="$pids $main_pid"
sleep "$(awk -v d="$first_at_ms" 'BEGIN { printf "%.3f", d / 1000 }')"

head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$work/farm-new.key"
echo >>"$work/farm-new.key"
say_at "a new secret ($(($(wc -c <"$work/farm-new.key") - 1)) bytes) in farm-new.key"
first=1
for m in $frontends; do
    [ "$first" = 1 ] || sleep "$gap"
    first=0
    if [ "$mode" = split ]; then
        reconfigure "$m" farm-new.key
        has_old[$m]=0
        has_new[$m]=1
        probe_logins "1$m"
        say_at "step 1 (split) on $m: secret_file farm-new.key, no previous_secret_file; SIGHUP sipfarmd and rtprelayd;" \
            "$m holds [$(held_of "$m")], signs $(signing_of "$m")"
    else
        reconfigure "$m" farm-new.key farm.key
        has_new[$m]=1
        probe_logins "1$m"
        say_at "step 1 on $m: secret_file farm-new.key, previous_secret_file farm.key; SIGHUP sipfarmd and rtprelayd;" \
            "$m holds [$(held_of "$m")], signs $(signing_of "$m")"
    fi
done

switched=0
key_after=""
if [ "$mode" = rotate ]; then
    deadline=$(($(now_ms) + $(sec 10) * 1000))
    for _ in $(seq "$(($(sec 10) * 20))"); do
        [ "$(now_ms)" -lt "$deadline" ] || break
        s=$(all_signing)
        key_after=$(signing_of f1)
        if [ -n "$key_after" ] && [ "$key_after" != "$key_before" ] &&
            [ "$s" = "f1:$key_after f2:$key_after f3:$key_after" ]; then
            switched=1
            break
        fi
        sleep 0.05
    done
    if [ "$switched" = 1 ]; then
        say_at "every member signs with the new key ($s)"
        for m in $frontends; do
            sleep "$gap"
            reconfigure "$m" farm-new.key
            has_old[$m]=0
            probe_logins "2$m"
            say_at "step 2 on $m: previous_secret_file removed; SIGHUP sipfarmd and rtprelayd;" \
                "$m holds [$(held_of "$m")], signs $(signing_of "$m")"
        done
    else
        say_at "not every member signs with a new key after $(sec 10) s ($(all_signing)); no step 2"
    fi
fi
# split: no switch to wait for; the members hold only the new key.
[ "$mode" = split ] && key_after=$(signing_of f1)
t_done=$(($(now_ms) - t_load))
running=no
kill -0 "$main_pid" 2>/dev/null && running=yes
say_at "rotation over (the caller starts its last call at t=+$((load_ms / 1000))s; still running: $running)"

wait "$main_pid"
t_main=$(awk -v d=$(($(now_ms) - t_load)) 'BEGIN { printf "%.1f", d / 1000 }')
stop_callees

echo "results:"
check "the rotation was over before the caller's last call started (+$((t_done / 1000)).$((t_done % 1000 / 100))s < +$((load_ms / 1000))s)" \
    test "$t_done" -lt "$load_ms" -a "$running" = yes
both_ok "alice calls bob while the secret rotates" "$calls" main uas-bob

kam_check_call_media "$calls"

# The keys at the end: the last heartbeats (every 200 ms) after the last
# reload may still be on their way; bounded wait for the settled state.
final_ok() {
    local m o
    for m in $frontends; do
        [ "$(signing_of "$m")" = "$key_after" ] && [ "$(held_of "$m")" = "$key_after" ] || return 1
        for o in $frontends; do
            [ "$o" = "$m" ] || [ "$(keys_seen "$m" "$o")" = "$key_after" ] || return 1
        done
    done
}
if [ -n "$key_after" ]; then
    deadline=$(($(now_ms) + $(sec 5) * 1000))
    for _ in $(seq "$(($(sec 5) * 20))"); do
        final_ok && break
        [ "$(now_ms)" -lt "$deadline" ] || break
        sleep 0.05
    done
fi
echo "  key ids: before $key_before, after ${key_after:-(none)}"
for m in $frontends; do
    seen=""
    for o in $frontends; do [ "$o" = "$m" ] || seen="$seen $o:[$(keys_seen "$m" "$o")]"; done
    echo "  $m: signing $(signing_of "$m"), holds [$(held_of "$m")], heard$seen"
done
check "before the rotation every member signed with one key ($s_before)" \
    test -n "$key_before" -a "$s_before" = "f1:$key_before f2:$key_before f3:$key_before"
check "the key id before ($key_before) and after (${key_after:-none}) differ" \
    test -n "$key_before" -a -n "$key_after" -a "$key_before" != "$key_after"
for m in $frontends; do
    check "$m signs with the new key and holds only it" \
        test -n "$key_after" -a "$(signing_of "$m")" = "$key_after" -a "$(held_of "$m")" = "$key_after"
    bad=""
    for o in $frontends; do
        [ "$o" = "$m" ] || [ "$(keys_seen "$m" "$o")" = "$key_after" ] || bad="$bad $o:[$(keys_seen "$m" "$o")]"
    done
    check "$m heard every other member announce only the new key${bad:+ (not:$bad)}" test -n "$key_after" -a -z "$bad"
done

# Never a split: once a sipfarmd's view had all three up, every later view
# of it has all three up.
for m in $frontends; do
    awk '/msg="view"/ {
            s = ""; for (i = 1; i <= NF; i++) if ($i ~ /^members=/) s = substr($i, 9)
            k = split(s, a, ","); up = 0
            for (j = 1; j <= k; j++) if (a[j] ~ /:up$/) up++
            if (!armed) { if (k == 3 && up == 3) armed = 1; next }
            if (up != k || k != 3) print
        }
        END { if (!armed) print "never saw all three up" }' "$work/$m.log" >"$work/$m-notup.txt"
    check "$m's sipfarmd never saw a member down once all three were up ($(grep -c . "$work/$m-notup.txt") views otherwise)" \
        test ! -s "$work/$m-notup.txt"
    head -n 3 "$work/$m-notup.txt" | cut -c1-200 | sed 's/^/    /'
done

# No farm-link packet refused for its MAC or sender, no control login refused.
for m in $frontends; do
    st=$("$ctl" --socket "$work/$m.sock" --json stats 2>/dev/null)
    by=$(echo "$st" | grep -o '"dropped_by":{[^}]*}')
    bad=$(echo "$by" | grep -o '"[a-z_]*\(bad_mac\|unauthenticated\|impostor\)":[0-9]*' | tr '\n' ' ')
    echo "  $m: ${by:-no dropped_by}"
    check "$m: no farm-link packet dropped for a bad MAC, unauthenticated or an impostor${bad:+ ($bad)}" \
        test -n "$by" -a -z "$bad"
done
check "$logins_tried control logins over TCP during the rotation, each with a secret the member held, all in${logins_bad:+ (not:$logins_bad)}" \
    test "$logins_tried" -gt 0 -a -z "$logins_bad"
logins=$(for m in $frontends; do grep -h 'msg="control login failed"' "$work/$m.log" "$work/$m-media.log"; done | head -n 3)
check "no failed control login in any daemon's log" test -z "$logins"
[ -n "$logins" ] && echo "$logins" | cut -c1-200 | sed 's/^/    /'

# The old secret is gone: a client that has only it logs in nowhere (all
# three at once: a member answers a failed login a second late).
declare -A lpid
for m in $frontends; do
    login "$work/cluster.json" "$m" "$work/login-old-$m.out" &
    lpid[$m]=$!
    pids="$pids $!"
done
refused=""
for m in $frontends; do
    # The member proves the newest secret the client lists, its own newest
    # when none: the client gives up (server_unauthenticated), or the
    # member refuses the client's MAC (unauthenticated).
    if wait "${lpid[$m]}" || ! grep -q 'unauthenticated\|did not prove it knows the cluster secret' "$work/login-old-$m.out"; then
        refused="$refused $m($(tail -n 1 "$work/login-old-$m.out" | cut -c1-80))"
    fi
done
check "no control login with the old secret only at the end, on any member${refused:+ (not refused:$refused)}" \
    test -z "$refused"

# Every SIGHUP accepted: steps 1 and 2 (split: one) are as many reloads.
want=2
[ "$mode" = split ] && want=1
[ "$switched" = 1 ] || want=1
for m in $frontends; do
    for d in "$m" "$m-media"; do
        r=$(reloads_logged "$work/$d.log")
        f=$(grep -c 'msg="reload failed' "$work/$d.log")
        check "$d: $r reloads logged as accepted (config reloaded) of $want, $f failed" test "$r" = "$want" -a "$f" = 0
        grep -h 'msg="reload failed' "$work/$d.log" | head -n 2 | cut -c1-240 | sed 's/^/    /'
    done
done
kam_check_media_from_vip
kam_check_logs

kam_finish "mode=$mode calls=$calls rate=$rate call_ms=$call_ms sessions=$created both_ways=$flowing rotated_ms=$t_done main_s=$t_main" main uas-bob
