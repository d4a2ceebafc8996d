#!/bin/sh
# make lint: formatting, clang-tidy, man pages, and the include layering of
# libcommon and the programs (ARCHITECTURE.md). Prints what is wrong and
# exits 1 on any finding.
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

echo "== include layering (ARCHITECTURE.md, Allowed arrows)"
# Each libcommon layer and each program may include only the layers its row
# of the table names (and its own files).
arrows=$(sed -n '/<!-- arrows: begin -->/,/<!-- arrows: end -->/p' ARCHITECTURE.md |
    grep '^| [a-z]' | grep -v '^| from ')
allowed() {
    echo "$arrows" | awk -F'|' -v who="$1" '
        { name = $2; gsub(/^ +| +$/, "", name) }
        name == who { print " " $3 " "; found = 1 }
        END { if (!found) print "MISSING" }'
}
for f in $(find libcommon cmd -name '*.cpp' -o -name '*.hpp' | sort); do
    case $f in
    libcommon/*) who=$(echo "$f" | cut -d/ -f2) ;;
    *) who=cmd/$(echo "$f" | cut -d/ -f2) ;;
    esac
    ok=$(allowed "$who")
    if [ "$ok" = MISSING ]; then
        echo "layering: $f: $who has no row in ARCHITECTURE.md"
        fail=1
        continue
    fi
    for inc in $(sed -n 's/^#include "\([a-z_]*\)\/.*/\1/p' "$f" | sort -u); do
        [ "$inc" = "$who" ] && continue
        case "$ok" in
        *" $inc "*) ;;
        *)
            echo "layering: $f ($who) includes $inc/; ARCHITECTURE.md allows: $(echo $ok)"
            fail=1
            ;;
        esac
    done
done

echo "== clang-tidy"
# relay/fast_path.cpp includes the eBPF skeleton the Makefile generates.
make --no-print-directory -s build/gen/fast_path.skel.h >/dev/null || { echo "lint: cannot make build/gen/fast_path.skel.h"; fail=1; }
flags="-std=c++20 -Ilibcommon -Ibuild/gen -DRTFARM_VERSION=\"lint\" $(pkg-config --cflags libevent libosip2 jansson libssl libcrypto libbpf)"
for f in $(find cmd libcommon -name '*.cpp' | sort); do
    # Not what bpftool generated (build/gen/): its code is libbpf's.
    out=$(clang-tidy --quiet "$f" -- $flags 2>/dev/null | grep -E 'warning:|error:' | grep -v '^build/gen/')
    [ -n "$out" ] && { echo "$out"; fail=1; }
done

[ "$fail" = 0 ] && echo "lint: clean"
exit "$fail"
