# Sourced by the tests that use real SIP user agents (bash; not a test
# itself): Debian's baresip (baresip-core), headless, one process per user
# agent, driven through its ctrl_tcp command interface (netstring JSON), and
# what each side received measured after every call. It does not build a
# network: give it a namespace (the lab's client) or none (loopback).
#
#   bs_init DIR               folder for the agents' configs, logs, recordings
#   bs_missing                prints why this host cannot run the agents
#                             (a missing program or module), nothing if it can
#   bs_ua NAME KEY=VALUE...   writes the agent's config folder DIR/NAME:
#       aor=sip:USER@DOMAIN   its address of record (required)
#       addr=IP port=N        its SIP socket (UDP and TCP on N; baresip also
#                             takes N+1 for TLS, so space agents by 2 or more)
#       ns=NETNS              network namespace (ip netns exec), default none
#       registrar=URI         register (baresip 1.0 sends REGISTER to the
#                             AOR's domain, through the outbound proxy: URI
#                             is that proxy unless outbound= is given);
#                             none: no registration
#       outbound=URI          send every request there (the farm's VIP)
#       password=PW           digest password (user = the AOR's user)
#       tone=HZ               the sine it sends (ausine), default 440
#       ctrl=PORT             ctrl_tcp on 127.0.0.1 of its namespace (required)
#       life=S                baresip quits by itself after S s (default 300)
#   bs_start NAME             starts baresip and connects to its ctrl_tcp
#   bs_cmd NAME CMD [PARAMS]  one command; prints its answer's data; 1 if not ok
#   bs_wait_registered NAME   bounded wait until reginfo says OK (1 at once on
#                             a REGISTER_FAIL event)
#   bs_dial NAME URI          dials URI (the call becomes the current one)
#   bs_answer NAME            waits for an incoming call and accepts it
#   bs_wait_established NAME  the current call is up (CALL_ESTABLISHED)
#   bs_hangup NAME            hangs up the current call
#   bs_call_id NAME           the SIP Call-ID of its last established call
#   bs_wait_closed NAME       the call ended (CALL_CLOSED); prints the reason
#   bs_report NAME            after bs_wait_closed: what this agent received
#                             and sent in that call, one line of KEY=VALUE:
#       rtp_rx rtp_tx           RTP packets received and sent (baresip's
#                               rtp_stats at the call's end)
#       rx_s rx_tone_s rx_db rx_hz  the decoded audio it received (sndfile's
#                               recording): length, seconds of it carrying a
#                               tone, the tone's RMS level (dBFS) and
#                               frequency (zero crossings)
#       tx_s tx_tone_s tx_db tx_hz  the same for what it encoded and sent
#   bs_val LINE KEY           a value from such a line
#   bs_check_audio ...        the checks on what one agent received from
#                             another in one call (below)
#   bs_registrar_db FILE USER:PW...  the SQLite file of kamailio_registrar.cfg
#   bs_stop NAME, bs_stop_all quit (TERM, then KILL), bounded
#
# Every wait is bounded, scaled by RTFARM_TEST_TIMEOUT_SCALE like the other
# tests. The baresip and ctrl connection pids are appended to $pids, which
# lab_common.bash's cleanup kills; without lab_common, call bs_stop_all on
# exit. Each call's recordings are kept as DIR/NAME/calls/call-N-{dec,enc}.wav,
# baresip's output as DIR/NAME/baresip.log, its events as DIR/NAME/events.
#
# The baresip 1.0 settings that matter (see bs_ua): ausine needs a 48000 Hz
# stereo source (ausrc_srate, ausrc_channels) and is resampled to the codec;
# the player is ALSA's null device (no sound card); the sndfile audio filter
# records, per call, what was encoded (sent) and decoded (received) at the
# codec's rate; rtp_stats prints the packet counts when a call ends; PCMU
# only, so both sides and any relay agree on one codec. test/lab/README.md
# ("baresip") says what else these tests rely on.

bs_init() {
    bs_root=$1
    bs_scale=${RTFARM_TEST_TIMEOUT_SCALE:-1}
    mkdir -p "$bs_root"
    declare -gA bs_ns bs_ctrl bs_pid bs_cpid bs_fd bs_life
    bs_names=""
    : "${pids:=}"
}

bs_missing() {
    local t m
    for t in baresip sox ip ss; do
        command -v "$t" >/dev/null 2>&1 || { echo "$t is not installed"; return 0; }
    done
    for m in ctrl_tcp ausine sndfile g711 alsa account menu; do
        [ -e "/usr/lib/baresip/modules/$m.so" ] || { echo "baresip module $m is missing"; return 0; }
    done
}

# Seconds times the scale, at least 1 (as lab_common's sec).
bs_sec() { awk -v s="$1" -v k="$bs_scale" 'BEGIN { v = int(s * k + 0.5); print (v < 1 ? 1 : v) }'; }

# Runs a command in the agent's namespace (or here).
bs_exec() {
    local n=$1
    shift
    if [ -n "${bs_ns[$n]}" ]; then ip netns exec "${bs_ns[$n]}" "$@"; else "$@"; fi
}

bs_ua() {
    local name=$1 kv k v
    shift
    local aor="" addr=127.0.0.1 port=5060 ns="" registrar="" outbound="" password=""
    local tone=440 ctrl="" life=300
    for kv in "$@"; do
        k=${kv%%=*}
        v=${kv#*=}
        case $k in
        aor) aor=$v ;; addr) addr=$v ;; port) port=$v ;; ns) ns=$v ;;
        registrar) registrar=$v ;; outbound) outbound=$v ;; password) password=$v ;;
        tone) tone=$v ;; ctrl) ctrl=$v ;; life) life=$v ;;
        *) echo "bs_ua $name: unknown setting $k" >&2; return 2 ;;
        esac
    done
    if [ -z "$aor" ] || [ -z "$ctrl" ]; then echo "bs_ua $name: aor= and ctrl= are required" >&2; return 2; fi
    local d=$bs_root/$name
    rm -rf "$d"
    mkdir -p "$d/snd" "$d/calls"
    bs_ns[$name]=$ns
    bs_ctrl[$name]=$ctrl
    bs_life[$name]=$life
    bs_names="$bs_names $name"
    {
        echo "# baresip 1.0 config written by baresip_common.bash for $name"
        echo "poll_method		epoll"
        echo "sip_listen		$addr:$port"
        # Its address everywhere (Via, Contact, SDP), not the default route's.
    echo "net_interface		$addr"
        echo "call_local_timeout	30"
        echo "call_max_calls		2"
        # ausine: a 48000 Hz stereo source (what the module produces),
        # resampled by baresip to the codec's 8000 Hz mono.
        echo "audio_source		ausine,$tone"
        echo "ausrc_srate		48000"
        echo "ausrc_channels		2"
        # No sound card: ALSA's null device plays and rings.
        echo "audio_player		alsa,null"
        echo "audio_alert		alsa,null"
        echo "audio_level		no"
        echo "audio_buffer		20-160"
        echo "jitter_buffer_delay	5-10"
        echo "rtcp_mux		no"
        # The RTP packet counts of each call, printed when it ends.
        echo "rtp_stats		yes"
        echo "module_path		/usr/lib/baresip/modules"
        echo "module			g711.so"
        echo "module			ausine.so"
        echo "module			alsa.so"
        # The sndfile filter records each call: dump-TIME-enc.wav (what
        # was sent) and dump-TIME-dec.wav (what was received, decoded).
        echo "module			sndfile.so"
        echo "snd_path		$d/snd"
        echo "module_tmp		account.so"
        echo "module_app		menu.so"
        echo "module_app		ctrl_tcp.so"
        echo "ctrl_tcp_listen		127.0.0.1:$ctrl"
    } >"$d/config"
    # One account: PCMU only; registration only with a registrar, which
    # is also the outbound proxy unless one is given.
    [ -z "$outbound" ] && outbound=$registrar
    local acc="<$aor>;audio_codecs=PCMU;answermode=manual"
    [ -n "$password" ] && acc="$acc;auth_pass=$password"
    [ -n "$outbound" ] && acc="$acc;outbound=\"$outbound\""
    if [ -n "$registrar" ]; then acc="$acc;regint=600"; else acc="$acc;regint=0"; fi
    echo "$acc" >"$d/accounts"
    : >"$d/contacts"
    return 0
}

bs_start() {
    local n=$1 d=$bs_root/$1 fd
    # Started directly, not through a shell function, so that $! is baresip
    # itself (ip netns exec execs it): a function in the background is a
    # subshell, and killing that would leave baresip running.
    if [ -n "${bs_ns[$n]}" ]; then
        ip netns exec "${bs_ns[$n]}" baresip -f "$d" -t "${bs_life[$n]}" </dev/null >"$d/baresip.log" 2>&1 &
    else
        baresip -f "$d" -t "${bs_life[$n]}" </dev/null >"$d/baresip.log" 2>&1 &
    fi
    bs_pid[$n]=$!
    pids="$pids $!"
    # ctrl_tcp listening (checked with ss, not by connecting: it serves one
    # connection at a time and a probe would replace ours).
    for _ in $(seq "$(($(bs_sec 5) * 20))"); do
        bs_exec "$n" ss -Hltn "sport = :${bs_ctrl[$n]}" 2>/dev/null | grep -q . && break
        kill -0 "${bs_pid[$n]}" 2>/dev/null || break
        sleep 0.05
    done
    bs_exec "$n" ss -Hltn "sport = :${bs_ctrl[$n]}" 2>/dev/null | grep -q . || {
        echo "bs_start $n: baresip did not open its ctrl_tcp port ${bs_ctrl[$n]}:"
        tail -n 20 "$d/baresip.log"
        return 1
    }
    # One connection for the agent's life: commands in through a FIFO (held
    # open here, read-write so that this open does not wait for a reader),
    # answers and events out to DIR/NAME/events. It ends when baresip
    # closes the connection; were it killed instead, its writing cat would
    # still end when this shell exits (the FIFO's only writer).
    rm -f "$d/ctrl.in"
    mkfifo "$d/ctrl.in"
    exec {fd}<>"$d/ctrl.in"
    bs_fd[$n]=$fd
    : >"$d/events"
    local ns_exec=()
    [ -n "${bs_ns[$n]}" ] && ns_exec=(ip netns exec "${bs_ns[$n]}")
    # shellcheck disable=SC2016 # expanded by that bash
    "${ns_exec[@]}" bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
        cat <&0 >&3 & w=$!
        cat <&3 >>"$2"
        kill "$w" 2>/dev/null' bs-ctrl "${bs_ctrl[$n]}" "$d/events" <"$d/ctrl.in" &
    bs_cpid[$n]=$!
    pids="$pids $!"
    # The connection is up once a first command is answered.
    bs_cmd "$n" about >/dev/null || { echo "bs_start $n: no answer on ctrl_tcp"; return 1; }
}

# Counters that change during calls (command tokens, events consumed, calls
# reported) live in files of the agent's folder, not in shell variables, so
# that the functions also work in $(...) and pipelines.
bs_get() { cat "$bs_root/$1/state.$2" 2>/dev/null || echo 0; }
bs_set() { echo "$3" >"$bs_root/$1/state.$2"; }

# The events and answers of agent $1 as one JSON object a line.
bs_events() { sed 's/,[0-9]*:{/,\n{/g; s/^[0-9]*:{/{/' "$bs_root/$1/events"; }

bs_cmd() {
    local n=$1 cmd=$2 prm=${3:-} t json line
    t=$(($(bs_get "$n" token) + 1))
    bs_set "$n" token "$t"
    json="{\"command\":\"$cmd\",\"params\":\"$prm\",\"token\":\"$t\"}"
    LC_ALL=C printf '%d:%s,' "${#json}" "$json" >&"${bs_fd[$n]}"
    for _ in $(seq "$(($(bs_sec 5) * 20))"); do
        line=$(bs_events "$n" | grep "\"response\":true.*\"token\":\"$t\"}")
        [ -n "$line" ] && break
        sleep 0.05
    done
    [ -n "$line" ] || { echo "bs_cmd $n $cmd: no answer"; return 1; }
    printf '%s\n' "$line" | sed 's/.*"data":"\(.*\)","token".*/\1/; s/\\n/\n/g'
    case $line in *'"ok":true'*) return 0 ;; *) return 1 ;; esac
}

# How many events of type $2 agent $1 has had.
bs_count() { bs_events "$1" | grep -c "\"event\":true,\"type\":\"$2\""; }

# Bounded wait (S seconds, scaled) for the next event of type $2 that this
# function has not returned yet; a CALL_CLOSED or REGISTER_FAIL meanwhile
# (types $4, space separated) ends the wait with 1 and prints that event.
# Prints the event's line.
bs_wait_event() {
    local n=$1 type=$2 s=$3 abort=${4:-} want have a line
    want=$(($(bs_get "$n" "seen.$type") + 1))
    for _ in $(seq "$(($(bs_sec "$s") * 20))"); do
        have=$(bs_count "$n" "$type")
        if [ "$have" -ge "$want" ]; then
            bs_set "$n" "seen.$type" "$want"
            bs_events "$n" | grep "\"event\":true,\"type\":\"$type\"" | sed -n "${want}p"
            return 0
        fi
        for a in $abort; do
            if [ "$(bs_count "$n" "$a")" -gt "$(bs_get "$n" "seen.$a")" ]; then
                line=$(bs_events "$n" | grep "\"event\":true,\"type\":\"$a\"" | tail -n 1)
                echo "$n: $a while waiting for $type: $line"
                return 1
            fi
        done
        sleep 0.05
    done
    echo "$n: no $type within $(bs_sec "$s") s"
    return 1
}

bs_wait_registered() {
    local n=$1
    # By reginfo, not only by the REGISTER_OK event: the first registration
    # may end before bs_start has connected.
    for _ in $(seq "$(($(bs_sec "${2:-10}") * 10))"); do
        bs_cmd "$n" reginfo | grep -q "OK" && return 0
        if [ "$(bs_count "$n" REGISTER_FAIL)" -gt 0 ]; then
            echo "$n: $(bs_events "$n" | grep "REGISTER_FAIL" | tail -n 1)"
            return 1
        fi
        sleep 0.1
    done
    echo "$n: not registered within $(bs_sec "${2:-10}") s: $(bs_cmd "$n" reginfo)"
    return 1
}

bs_dial() { bs_cmd "$1" dial "$2" >/dev/null; }

bs_answer() {
    local out
    out=$(bs_wait_event "$1" CALL_INCOMING "${2:-10}") || { echo "$out"; return 1; }
    bs_cmd "$1" accept >/dev/null
}

bs_wait_established() {
    local out
    out=$(bs_wait_event "$1" CALL_ESTABLISHED "${2:-10}" CALL_CLOSED) || { echo "$out"; return 1; }
}

bs_hangup() { bs_cmd "$1" hangup >/dev/null; }

# The SIP Call-ID of the agent's last established call.
bs_call_id() {
    bs_events "$1" | grep '"event":true,"type":"CALL_ESTABLISHED"' | tail -n 1 | sed -n 's/.*"id":"\([^"]*\)".*/\1/p'
}

bs_wait_closed() {
    local out
    out=$(bs_wait_event "$1" CALL_CLOSED "${2:-10}") || { echo "$out"; return 1; }
    printf '%s\n' "$out" | sed -n 's/.*"param":"\([^"]*\)".*/\1/p'
}

# Length, tone seconds, tone level (dBFS) and frequency of a WAV file, as
# "s=.. tone_s=.. db=.. hz=..": per 20 ms frame, a frame whose RMS is above
# -40 dBFS carries the tone; the frequency is the zero crossings of those
# frames over their time (a pure tone crosses zero twice a period).
bs_analyse() {
    sox "$1" -t dat -c 1 - 2>/dev/null | awk '
        /^;/ { if ($2 == "Sample" && $3 == "Rate") rate = $4; next }
        { v = $2 + 0; n++; fs++; fsq += v * v
          if (n > 1 && ((prev < 0 && v >= 0) || (prev >= 0 && v < 0))) fz++
          prev = v
          if (fs == int(rate * 0.02)) frame() }
        function frame() {
            if (fs > 0 && sqrt(fsq / fs) > 0.01) { tone += fs; sq += fsq; z += fz }
            fs = 0; fsq = 0; fz = 0 }
        END { frame()
            if (rate == 0) { print "s=0 tone_s=0 db=-999 hz=0"; exit }
            db = -999; hz = 0
            if (tone > 0 && sq > 0) { db = 10 * log(sq / tone) / log(10); hz = int(z / 2 / (tone / rate) + 0.5) }
            printf "s=%.2f tone_s=%.2f db=%.1f hz=%d\n", n / rate, tone / rate, db, hz }'
}

bs_report() {
    local n=$1 d=$bs_root/$1 c open f pkts rtp_rx="" rtp_tx="" rx tx
    c=$(($(bs_get "$n" calls) + 1))
    # rtp_stats: one "packets: TX RX" line per ended call.
    for _ in $(seq "$(($(bs_sec 5) * 20))"); do
        [ "$(grep -c '^packets:' "$d/baresip.log")" -ge "$c" ] && break
        sleep 0.05
    done
    pkts=$(grep '^packets:' "$d/baresip.log" | sed -n "${c}p")
    if [ -n "$pkts" ]; then
        rtp_tx=$(echo "$pkts" | awk '{ print $2 }')
        rtp_rx=$(echo "$pkts" | awk '{ print $3 }')
    fi
    # The recordings are complete once baresip has closed them (libsndfile
    # writes the WAV header's length on close).
    for _ in $(seq "$(($(bs_sec 5) * 20))"); do
        open=0
        for f in /proc/"${bs_pid[$n]}"/fd/*; do
            case $(readlink "$f" 2>/dev/null) in "$d"/snd/*) open=1 ;; esac
        done
        [ "$open" = 0 ] && break
        sleep 0.05
    done
    bs_set "$n" calls "$c"
    rx="s=0 tone_s=0 db=-999 hz=0"
    tx=$rx
    for f in "$d"/snd/*-dec.wav; do [ -e "$f" ] && mv "$f" "$d/calls/call-$c-dec.wav"; done
    for f in "$d"/snd/*-enc.wav; do [ -e "$f" ] && mv "$f" "$d/calls/call-$c-enc.wav"; done
    [ -e "$d/calls/call-$c-dec.wav" ] && rx=$(bs_analyse "$d/calls/call-$c-dec.wav")
    [ -e "$d/calls/call-$c-enc.wav" ] && tx=$(bs_analyse "$d/calls/call-$c-enc.wav")
    echo "rtp_rx=${rtp_rx:-none} rtp_tx=${rtp_tx:-none} rx_${rx// / rx_} tx_${tx// / tx_}"
}

bs_val() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1; }

bs_stop() {
    local n=$1 p
    p=${bs_pid[$n]:-}
    [ -n "$p" ] || return 0
    kill -TERM "$p" 2>/dev/null
    for _ in $(seq "$(($(bs_sec 3) * 20))"); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$p" 2>/dev/null
    wait "$p" 2>/dev/null
    # Its ctrl connection ends with it.
    p=${bs_cpid[$n]:-}
    if [ -n "$p" ]; then
        for _ in $(seq 20); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
        kill -KILL "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    fi
    local fd=${bs_fd[$n]:-}
    [ -n "$fd" ] && exec {fd}>&-
    bs_pid[$n]=""
    bs_cpid[$n]=""
    bs_fd[$n]=""
}

bs_stop_all() {
    local n
    for n in $bs_names; do bs_stop "$n"; done
}

# The registrar of these tests (kamailio_registrar.cfg) keeps its users and
# contacts in one SQLite file: bs_registrar_db FILE USER:PASSWORD... creates
# it with Kamailio's own schema (Debian's kamailio-sqlite-modules) and those
# subscribers. 1 and a reason when it cannot.
bs_registrar_db() {
    local db=$1 s u
    shift
    local schema=/usr/share/kamailio/db_sqlite
    command -v sqlite3 >/dev/null || { echo "sqlite3 is not installed"; return 1; }
    for s in standard usrloc auth_db; do
        [ -r "$schema/$s-create.sql" ] || { echo "$schema/$s-create.sql is missing (kamailio-sqlite-modules)"; return 1; }
    done
    rm -f "$db"
    {
        cat "$schema/standard-create.sql" "$schema/usrloc-create.sql" "$schema/auth_db-create.sql"
        for u in "$@"; do
            echo "INSERT INTO subscriber (username, domain, password) VALUES ('${u%%:*}', '', '${u#*:}');"
        done
    } | sqlite3 "$db" || { echo "sqlite3 could not create $db"; return 1; }
}

# bs_check_audio LABEL U REPORT_U O REPORT_O HZ_O TALK_S: the checks on what
# agent U received from agent O in one call (REPORT_*: their bs_report
# lines, HZ_O: O's tone, TALK_S: the seconds the test held the call up), as
# "check" lines (the caller's check function, as lab_common.bash's):
#   O's source sent its tone (HZ_O +-3%) for at least half of TALK_S (so
#     that there is something to receive; a loaded host delays the source);
#   U received at least 95% of the RTP packets O sent, and a tone for at
#     least 90% of the seconds of tone O sent (U's recording starts with
#     its decoder and loses the jitter buffer's last frames: about 0.1 s);
#   at -20 dBFS or louder, at HZ_O +-3%: O's tone, not U's own echoed.
bs_check_audio() {
    local what=$1 u=$2 ru=$3 o=$4 ro=$5 hz=$6 talk=$7
    local tx rx txs rxs
    tx=$(bs_val "$ro" rtp_tx)
    rx=$(bs_val "$ru" rtp_rx)
    txs=$(bs_val "$ro" tx_tone_s)
    rxs=$(bs_val "$ru" rx_tone_s)
    check "$what: $o sent $hz Hz ($(bs_val "$ro" tx_hz) Hz) for $txs s (>= half of $talk s), $tx RTP packets" \
        bs_num_test "$(bs_val "$ro" tx_hz)" -ge "$hz" 0.97 -a "$(bs_val "$ro" tx_hz)" -le "$hz" 1.03 -a "$txs" -ge "$talk" 0.5
    check "$what: $u received $rx of the $tx RTP packets $o sent (>= 95%)" bs_num_test "$rx" -ge "$tx" 0.95
    check "$what: $u received a tone for $rxs s of the $txs s $o sent (>= 90%)" bs_num_test "$rxs" -ge "$txs" 0.9
    check "$what: $u received it at $(bs_val "$ru" rx_db) dBFS (>= -20)" bs_num_test "$(bs_val "$ru" rx_db)" -ge -20 1
    check "$what: $u received $o's $hz Hz ($(bs_val "$ru" rx_hz) Hz)" \
        bs_num_test "$(bs_val "$ru" rx_hz)" -ge "$hz" 0.97 -a "$(bs_val "$ru" rx_hz)" -le "$hz" 1.03
}

# bs_num_test A OP B K [-a A OP B K]...: A OP B times K for numbers (OP -ge
# or -le); false when A or B is not a number.
bs_num_test() {
    awk -v args="$*" 'BEGIN {
        n = split(args, a, " ")
        for (i = 1; i <= n; i += 5) {
            if (i > 1 && a[i - 1] != "-a") exit 1
            x = a[i]; op = a[i + 1]; y = a[i + 2]; k = a[i + 3]
            if (x !~ /^-?[0-9.]+$/ || y !~ /^-?[0-9.]+$/ || k !~ /^-?[0-9.]+$/) exit 1
            if (op == "-ge" && !(x + 0 >= y * k)) exit 1
            if (op == "-le" && !(x + 0 <= y * k)) exit 1
            if (op != "-ge" && op != "-le") exit 1
        }
        exit 0 }'
}
