#!/bin/sh
# make lint: formatting, clang-tidy, man pages, and the include layering of
# libcommon (STYLE.md §2). Prints what is wrong and exits 1 on any finding.
set -u
cd "$(dirname "$0")/.."
fail=0

srcs=$(find cmd libcommon test -name '*.cpp' -o -name '*.hpp' | sort)

echo "== clang-format"
for f in $srcs; do
    clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || { echo "not formatted: $f"; fail=1; }
done

echo "== mandoc -Tlint"
out=$(mandoc -Tlint -Wwarning man/*.[0-9] 2>&1)
[ -n "$out" ] && { echo "$out"; fail=1; }

echo "== include layering"
# Each libcommon layer may include only layers to its left.
order="base ev net json sip config cluster media daemon diag"
rank() { i=0; for l in $order; do [ "$l" = "$1" ] && { echo $i; return; }; i=$((i + 1)); done; echo 99; }
for f in $(find libcommon -name '*.cpp' -o -name '*.hpp'); do
    layer=$(echo "$f" | cut -d/ -f2)
    mine=$(rank "$layer")
    for inc in $(sed -n 's/^#include "\([a-z]*\)\/.*/\1/p' "$f" | sort -u); do
        theirs=$(rank "$inc")
        if [ "$theirs" -gt "$mine" ]; then
            echo "layering: $f ($layer) includes $inc/"
            fail=1
        fi
    done
done

echo "== clang-tidy"
flags="-std=c++20 -Ilibcommon -DRTFARM_VERSION=\"lint\" $(pkg-config --cflags libevent libosip2 jansson libssl libcrypto)"
for f in $(find cmd libcommon -name '*.cpp' | sort); do
    out=$(clang-tidy --quiet "$f" -- $flags 2>/dev/null | grep -E 'warning:|error:')
    [ -n "$out" ] && { echo "$out"; fail=1; }
done

[ "$fail" = 0 ] && echo "lint: clean"
exit "$fail"
