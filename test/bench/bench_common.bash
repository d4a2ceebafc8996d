# shellcheck shell=bash
# What the bench scripts (run.sh, tcp.sh, media.sh) share: the priorities
# the programs under test and the load run at, stopping processes, the
# deadline watchdog, and the work folder's fate at exit.
#
# The script defines say() (its own prefix) and bench_cleanup() (stops the
# processes it started: called at exit, before the watchdog goes), then
# calls bench_priorities, makes its work folder W, and calls
# bench_start NAME DEADLINE (the traps, and the watchdog that stops the
# script after DEADLINE seconds). RTFARM_BENCH_KEEP=1 keeps W; so does a
# failure.

# The programs under test run SCHED_FIFO (UNDER_TEST_PRIO), so that one
# woken by a packet preempts whatever else shares its core; the load
# busy-polls, so it cannot be RT (throttling would stall it) and runs at
# nice -20 (LOAD_PRIO). $1 names them in the message when chrt is refused.
# shellcheck disable=SC2034 # the scripts use them
bench_priorities() {
    UNDER_TEST_PRIO="chrt -f 10"
    LOAD_PRIO="nice -n -20"
    if ! chrt -f 10 true 2>/dev/null; then
        UNDER_TEST_PRIO="nice -n -20"
        say "chrt -f refused here: the $1 run at nice -20 instead of SCHED_FIFO"
    fi
}

stop_pids() { # SIGNAL PIDS...: signal, wait at most 3 s, then SIGKILL
    local sig=$1 p i alive=""
    shift
    [ $# -gt 0 ] || return 0
    kill "-$sig" "$@" 2>/dev/null
    for i in $(seq 30); do
        alive=""
        for p in "$@"; do kill -0 "$p" 2>/dev/null && alive="$alive $p"; done
        [ -n "$alive" ] || break
        # The daemons drain up to 5 s after one SIGTERM; a second one skips that.
        if [ "$i" = 2 ] && [ "$sig" = TERM ]; then
            # shellcheck disable=SC2086 # a pid list
            kill -TERM $alive 2>/dev/null
        fi
        sleep 0.1
    done
    # shellcheck disable=SC2086
    [ -z "$alive" ] || kill -KILL $alive 2>/dev/null
    for p in "$@"; do wait "$p" 2>/dev/null; done
    return 0
}

BENCH_WATCHDOG=""
bench_stop_watchdog() {
    [ -n "$BENCH_WATCHDOG" ] || return 0
    # Its sleep first: the watchdog then ends by itself, without a
    # "Terminated" from the shell.
    pkill -TERM -P "$BENCH_WATCHDOG" 2>/dev/null
    for _ in $(seq 10); do
        kill -0 "$BENCH_WATCHDOG" 2>/dev/null || break
        sleep 0.1
    done
    kill "$BENCH_WATCHDOG" 2>/dev/null
    wait "$BENCH_WATCHDOG" 2>/dev/null
    BENCH_WATCHDOG=""
}

# shellcheck disable=SC2317 # called from the EXIT trap
bench_on_exit() {
    local rc=$?
    bench_cleanup
    bench_stop_watchdog
    if [ "${RTFARM_BENCH_KEEP:-0}" = 1 ] || [ "$rc" != 0 ]; then
        say "logs and results kept in $W"
    else
        rm -rf "$W"
    fi
    exit "$rc"
}

bench_start() { # NAME DEADLINE
    trap bench_on_exit EXIT
    trap 'say "interrupted"; exit 1' INT TERM
    # Its own stderr to /dev/null (no "Terminated" when cleanup kills its sleep).
    (sleep "$2" && echo "$1: over ${2}s, stopping" >&3 && kill -TERM $$) 3>&2 2>/dev/null &
    BENCH_WATCHDOG=$!
}

fail() {
    say "FAILED: $*"
    exit 1
}
