# Sourced by the lab scripts of this folder (bash; not a test itself: make
# check runs only *.sh here). What every one of them does the same way:
#   lab_init NAME PREFIX   paths, the time scale, the lab check (prints
#                          "skipped: NAME: why" and exits 0 when this host
#                          cannot run the lab), RTFARM_LAB=PREFIX<pid>, a
#                          work folder, and the EXIT trap (cleanup)
#   check WHAT CMD...      one "ok"/"FAIL" line; a FAIL sets fail=1
#   sec N                  N seconds times RTFARM_TEST_TIMEOUT_SCALE (>= 1)
#   addr_of / range_of M   the lab's member addresses and media ranges
#   wait_socket PATH LOG   bounded wait for a daemon's control socket
#   wait_up SOCKET N       bounded wait until that member sees N members up
# Processes started in the background go into $pids (or the associative
# array dpid): cleanup kills them, removes the lab, and keeps the work folder
# with RTFARM_KEEP_LOGS=1.

lab_init() {
    lab_name=$1
    root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
    lab=$root/test/lab/lab.sh
    bin=$root/${RTFARM_BUILD:-build}/bin
    ctl=$bin/cgclusterctl
    VIP=203.0.113.1
    scale=${RTFARM_TEST_TIMEOUT_SCALE:-1}
    "$lab" check >/dev/null 2>&1
    case $? in
    0) ;;
    77) echo "skipped: $lab_name: $("$lab" check 2>&1 | tail -n 1)"; exit 0 ;;
    *) echo "$lab_name: lab.sh check failed"; exit 1 ;;
    esac
    export RTFARM_LAB=$2$$
    work=$(mktemp -d "/tmp/rtfarm-$2-XXXXXX")
    pids=""
    fail=0
    trap cleanup EXIT
    trap 'exit 1' INT TERM
}

# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
    local p all="$pids"
    if declare -p dpid >/dev/null 2>&1; then all="$all ${dpid[*]}"; fi
    for p in $all; do kill -KILL "$p" 2>/dev/null; done
    for p in $all; do wait "$p" 2>/dev/null; done
    "$lab" down >/dev/null 2>&1
    if [ "${RTFARM_KEEP_LOGS:-0}" = 1 ]; then echo "logs kept in $work"; else rm -rf "$work"; fi
}

check() { # DESCRIPTION CONDITION...
    local what=$1
    shift
    if "$@"; then echo "  ok    $what"; else echo "  FAIL  $what"; fail=1; fi
}

sec() { awk -v s="$1" -v k="$scale" 'BEGIN { v = int(s * k + 0.5); print (v < 1 ? 1 : v) }'; }

addr_of() { case $1 in f1) echo 10.77.0.11 ;; f2) echo 10.77.0.12 ;; f3) echo 10.77.0.13 ;; f4) echo 10.77.0.14 ;; b1) echo 10.77.0.21 ;; esac; }
range_of() { case $1 in f1) echo 10000-19999 ;; f2) echo 20000-29999 ;; f3) echo 30000-39999 ;; f4) echo 50000-59999 ;; b1) echo 40000-49999 ;; esac; }

wait_socket() { # PATH LOG...: 0 once PATH is a socket, else prints the logs, 1
    local path=$1
    shift
    for _ in $(seq "$(($(sec 5) * 20))"); do [ -S "$path" ] && return 0; sleep 0.05; done
    echo "$lab_name: $path did not appear:"
    cat "$@"
    return 1
}

wait_up() { # CONTROL_SOCKET N: 0 once that member sees N members up, else 1
    local up=0
    for _ in $(seq "$(($(sec 5) * 20))"); do
        up=$("$ctl" --socket "$1" --json members 2>/dev/null | grep -o '"state":"up"' | wc -l)
        [ "$up" = "$2" ] && return 0
        sleep 0.05
    done
    echo "$lab_name: $1 sees $up of $2 members up"
    return 1
}
