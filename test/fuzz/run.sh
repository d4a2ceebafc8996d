#!/bin/sh
# Builds the libFuzzer targets (test/fuzz/*_fuzz.cpp) with clang++, libFuzzer,
# ASan and UBSan, and runs each for a bounded time:
#   test/fuzz/run.sh [SECONDS [TARGET...]]   (default 20 seconds each, every target)
# TARGET is a file name without _fuzz.cpp: scanner, farm_link, heartbeat,
# stream, ndjson, sdp, media_seq, media_control.
#
# libcommon is compiled here with clang into build/fuzz/obj/ and an archive
# (not linked from libcommon.a, which g++ builds without the fuzzer's
# coverage); an object is rebuilt when its source, or a libcommon header it
# includes, is newer. FUZZ_JOBS (default 2) compiles that many at once.
#
# Seeds, copied into a temporary corpus per target where the new inputs go
# too (removed afterwards):
# - scanner: the RFC 4475 messages in test/data/rfc4475 (every .dat file);
# - the others: test/fuzz/seeds/<target>/ when it exists, and what the
#   target writes itself from the code's own encoders when started with
#   RTFARM_FUZZ_WRITE_SEEDS=DIR (fuzz_util.hpp).
# A target without any seed is a failure, not a reason to start from nothing.
# Prints one line per target:
#   fuzz: <target>: N runs from N seeds, no crash
# and exits 0, or exits 1 after a build failure or a crash in any target
# (the others still run), keeping the input under build/fuzz/ (replay:
# build/fuzz/<target>_fuzz build/fuzz/<target>-crash-...).
# Without clang++ or libFuzzer it prints "skipped: fuzz: <why>" and exits 0.
set -u
cd "$(dirname "$0")/../.." || exit 1
secs=${1:-20}
case "$secs" in '' | *[!0-9]*) echo "usage: test/fuzz/run.sh [SECONDS [TARGET...]]" >&2; exit 2 ;; esac
[ $# -gt 0 ] && shift
out=${RTFARM_BUILD:-build}/fuzz
cxx=${FUZZ_CXX:-clang++}
jobs=${FUZZ_JOBS:-2}
if [ $# -gt 0 ]; then
    targets=$*
else
    targets=$(cd test/fuzz && ls *_fuzz.cpp | sed 's/_fuzz\.cpp$//')
fi
for t in $targets; do
    if [ ! -f "test/fuzz/${t}_fuzz.cpp" ]; then
        echo "test/fuzz/run.sh: no target $t (test/fuzz/${t}_fuzz.cpp)" >&2
        exit 2
    fi
done

if ! command -v "$cxx" >/dev/null 2>&1; then
    echo "skipped: fuzz: $cxx not found (Debian: clang libclang-rt-14-dev)"
    exit 0
fi
mkdir -p "$out/obj" || exit 1
probe="$out/probe.cpp"
printf '%s\n' '#include <cstddef>' '#include <cstdint>' \
    'extern "C" int LLVMFuzzerTestOneInput(const uint8_t*, size_t) { return 0; }' >"$probe"
if ! "$cxx" -fsanitize=fuzzer,address,undefined "$probe" -o "$out/probe" >/dev/null 2>&1; then
    rm -f "$probe" "$out/probe"
    echo "skipped: fuzz: $cxx cannot link libFuzzer with ASan/UBSan (Debian: libclang-rt-14-dev)"
    exit 0
fi
rm -f "$probe" "$out/probe"

pkgs="libevent libosip2 jansson libssl libcrypto libbpf"
# The relay's eBPF skeleton (relay/fast_path.cpp includes it), made by the
# Makefile's rule into the build folder.
gen=${RTFARM_BUILD:-build}/gen
if ! make --no-print-directory -s BUILD="${RTFARM_BUILD:-build}" "$gen/fast_path.skel.h" >/dev/null; then
    echo "fuzz: build failed: $gen/fast_path.skel.h"
    exit 1
fi
if ! pkg_cflags=$(pkg-config --cflags $pkgs) || ! pkg_libs=$(pkg-config --libs $pkgs); then
    echo "fuzz: build failed: pkg-config $pkgs"
    exit 1
fi
flags="-std=c++20 -g -O1 -fsanitize=address,undefined -fno-sanitize-recover=all
    -fno-omit-frame-pointer -Wall -Wextra -Wshadow -Werror -Ilibcommon -I$gen $pkg_cflags"

# libcommon with coverage, as an archive: each target links what it uses.
# Not daemon/ (CLI11, the version from the Makefile): no target needs it.
# An object is stale when older than its source or a libcommon header it
# includes (its .d file, from -MMD; without one, any libcommon header).
newest_header=$(find libcommon -name '*.hpp' -exec ls -t {} + | head -n 1)
stale=""
for src in $(find libcommon -name '*.cpp' ! -path 'libcommon/daemon/*' | sort); do
    obj="$out/obj/$(echo "${src%.cpp}" | tr / _).o"
    if [ ! -f "$obj" ] || [ "$src" -nt "$obj" ]; then
        stale="$stale $src"
        continue
    fi
    deps=$newest_header
    if [ -f "${obj%.o}.d" ]; then
        deps=$(sed -e 's/^[^:]*://' -e 's/\\$//' "${obj%.o}.d" | tr ' ' '\n' | grep '^libcommon/')
    fi
    for dep in $deps; do
        if [ "$dep" -nt "$obj" ]; then
            stale="$stale $src"
            break
        fi
    done
done
lib="$out/libcommon-fuzz.a"
if [ -n "$stale" ] || [ ! -f "$lib" ]; then
    export cxx flags out
    # shellcheck disable=SC2016
    if ! printf '%s\n' $stale | xargs -r -P "$jobs" -n 1 sh -c \
        'o="$out/obj/$(echo "${1%.cpp}" | tr / _)"; exec $cxx $flags -fsanitize=fuzzer-no-link -MMD -MF "$o.d" -c "$1" -o "$o.o"' sh
    then
        echo "fuzz: build failed: libcommon"
        exit 1
    fi
    rm -f "$lib"
    if ! ar rcs "$lib" "$out"/obj/*.o; then
        echo "fuzz: build failed: $lib"
        exit 1
    fi
fi

failed=0
for t in $targets; do
    bin="$out/${t}_fuzz"
    # shellcheck disable=SC2086
    if ! "$cxx" $flags -fsanitize=fuzzer "test/fuzz/${t}_fuzz.cpp" "$lib" $pkg_libs -o "$bin"; then
        echo "fuzz: $t: build failed"
        failed=1
        continue
    fi
    corpus=$(mktemp -d "${TMPDIR:-/tmp}/rtfarm-fuzz-$t-XXXXXX") || exit 1
    trap 'rm -rf "$corpus"' EXIT INT TERM
    if [ "$t" = scanner ]; then
        for f in $(find test/data/rfc4475 -name '*.dat' -type f | sort); do
            cp "$f" "$corpus/$(echo "${f#test/data/rfc4475/}" | tr / _)" || exit 1
        done
    else
        if [ -d "test/fuzz/seeds/$t" ]; then
            cp test/fuzz/seeds/"$t"/* "$corpus/" || exit 1
        fi
        # The target's own seeds, from the encoders (it exits at once).
        if ! RTFARM_FUZZ_WRITE_SEEDS="$corpus" "$bin" >"$out/${t}_seeds.log" 2>&1; then
            cat "$out/${t}_seeds.log"
            echo "fuzz: $t: FAILED writing its seeds"
            failed=1
            rm -rf "$corpus"
            continue
        fi
    fi
    nseeds=$(ls "$corpus" | grep -c .)
    if [ "$nseeds" = 0 ]; then
        echo "fuzz: $t: FAILED: no seeds"
        failed=1
        rm -rf "$corpus"
        continue
    fi
    log="$out/${t}_fuzz.log"
    stamp="$out/$t.started"
    touch "$stamp"
    # -max_len covers the largest input limit (sip/scanner.hpp, the header
    # block: 16 KiB; media/sdp.hpp MAX_SDP_BYTES is 32 KiB) and a bit more.
    "$bin" -max_total_time="$secs" -rss_limit_mb=2048 -max_len=40000 -timeout=10 \
        -artifact_prefix="$out/$t-" -print_final_stats=1 "$corpus" >"$log" 2>&1
    rc=$?
    rm -rf "$corpus"
    runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -n 1)
    if [ "$rc" != 0 ] || [ -z "$runs" ]; then
        tail -n 40 "$log"
        crash=$(find "$out" -maxdepth 1 -name "$t-*" ! -name "$t-*.log" -newer "$stamp" | head -n 1)
        echo "fuzz: $t: FAILED (exit $rc)${crash:+, input kept in $crash}; log: $log"
        failed=1
        continue
    fi
    cov=$(sed -n 's/.*cov: \([0-9]*\) ft: \([0-9]*\).*/cov \1 ft \2/p' "$log" | tail -n 1)
    echo "fuzz: $t: $runs runs from $nseeds seeds${cov:+ ($cov)}, no crash"
done
exit "$failed"
