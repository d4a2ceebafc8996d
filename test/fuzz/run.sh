#!/bin/sh
# Builds the SIP fuzzer (test/fuzz/scanner_fuzz.cpp: scanner, edits, route() and
# the stateless proxy) with clang++,
# libFuzzer, ASan and UBSan, and runs it for a bounded time:
#   test/fuzz/run.sh [SECONDS]        (default 20)
# Seeds: the RFC 4475 messages in test/data/rfc4475 (every .dat file there,
# extra/ included), copied into a temporary corpus directory where the new
# inputs go too; it is removed afterwards. Missing seeds are a failure, not a
# reason to start from nothing. Prints one line:
#   fuzz: scanner, route and proxy: N runs from N seeds, no crash
# and exits 0, or exits 1 without its seeds or after a crash, keeping the
# input under build/fuzz/ (replay: build/fuzz/scanner_fuzz build/fuzz/crash-...).
# Without clang++ or libFuzzer it prints "skipped: fuzz: <why>" and exits 0.
# The sources are compiled here, not linked from libcommon.a (built by g++).
set -u
cd "$(dirname "$0")/../.." || exit 1
secs=${1:-20}
case "$secs" in '' | *[!0-9]*) echo "usage: test/fuzz/run.sh [SECONDS]" >&2; exit 2 ;; esac
out=${RTFARM_BUILD:-build}/fuzz
seeds=test/data/rfc4475
cxx=${FUZZ_CXX:-clang++}

seed_files=$(find "$seeds" -name '*.dat' -type f 2>/dev/null | sort)
nseeds=$(echo "$seed_files" | grep -c .)
if [ "$nseeds" = 0 ]; then
    echo "fuzz: scanner: FAILED: no seeds in $seeds (the RFC 4475 messages)"
    exit 1
fi

if ! command -v "$cxx" >/dev/null 2>&1; then
    echo "skipped: fuzz: $cxx not found (Debian: clang libclang-rt-14-dev)"
    exit 0
fi
mkdir -p "$out" || exit 1
probe="$out/probe.cpp"
printf '%s\n' '#include <cstddef>' '#include <cstdint>' \
    'extern "C" int LLVMFuzzerTestOneInput(const uint8_t*, size_t) { return 0; }' >"$probe"
if ! "$cxx" -fsanitize=fuzzer,address,undefined "$probe" -o "$out/probe" >/dev/null 2>&1; then
    rm -f "$probe" "$out/probe"
    echo "skipped: fuzz: $cxx cannot link libFuzzer with ASan/UBSan (Debian: libclang-rt-14-dev)"
    exit 0
fi
rm -f "$probe" "$out/probe"

bin="$out/scanner_fuzz"
if ! "$cxx" -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
    -fno-omit-frame-pointer -Wall -Wextra -Wshadow -Werror -Ilibcommon \
    test/fuzz/scanner_fuzz.cpp libcommon/sip/scanner.cpp libcommon/sip/edit.cpp \
    libcommon/sip/route.cpp libcommon/sip/proxy.cpp libcommon/sip/farm_tags.cpp \
    libcommon/sip/packet_facts.cpp libcommon/sip/media_action.cpp \
    libcommon/net/address.cpp libcommon/base/strings.cpp libcommon/base/assert.cpp -o "$bin"; then
    echo "fuzz: scanner: build failed"
    exit 1
fi

corpus=$(mktemp -d "${TMPDIR:-/tmp}/rtfarm-fuzz-XXXXXX") || exit 1
trap 'rm -rf "$corpus"' EXIT INT TERM
for f in $seed_files; do
    cp "$f" "$corpus/$(echo "${f#"$seeds"/}" | tr / _)" || exit 1
done
log="$out/scanner_fuzz.log"
# -max_len covers the header-block limit (16 KiB) and a bit more.
"$bin" -max_total_time="$secs" -rss_limit_mb=2048 -max_len=17000 -timeout=10 \
    -artifact_prefix="$out/" -print_final_stats=1 "$corpus" >"$log" 2>&1
rc=$?
runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -n 1)
if [ "$rc" != 0 ] || [ -z "$runs" ]; then
    tail -n 40 "$log"
    crash=$(ls -t "$out"/crash-* "$out"/leak-* "$out"/timeout-* "$out"/oom-* 2>/dev/null | head -n 1)
    echo "fuzz: scanner: FAILED (exit $rc)${crash:+, input kept in $crash}; log: $log"
    exit 1
fi
echo "fuzz: scanner, route and proxy: $runs runs from $nseeds seeds, no crash"
