#!/bin/sh
# Runs every Boost.Test binary (and test script, *.sh) given, then prints the skipped count and, as
# the last line:
#   N passed, N failed
# counted over test cases (from each binary's XML report). A binary that dies
# without a report counts as one failed test. Exit status 1 if any failed.
# RTFARM_TEST_ARGS adds arguments to every binary (e.g. --run_test=config*).
set -u
build=${RTFARM_BUILD:-build}
mkdir -p "$build/test/reports"
passed=0 failed=0 skipped=0
for bin in "$@"; do
    name=$(basename "$bin")
    # A script test: exit 0 passed (skipped when it printed "skipped: ..."),
    # 77 skipped, anything else failed.
    case "$bin" in
    *.sh)
        echo "== $name"
        out=$("$bin" 2>&1)
        rc=$?
        # The failures, wherever they are, and the end.
        echo "$out" | grep -E 'FAIL' | head -n 20
        echo "$out" | tail -n 25
        if [ "$rc" = 77 ]; then
            skipped=$((skipped + 1))
        elif [ "$rc" != 0 ]; then
            failed=$((failed + 1))
        elif echo "$out" | grep -q '^skipped:'; then
            skipped=$((skipped + 1))
        else
            passed=$((passed + 1))
        fi
        continue
        ;;
    esac
    report="$build/test/reports/$name.xml"
    rm -f "$report"
    echo "== $name"
    # shellcheck disable=SC2086
    "$bin" --report_format=XML --report_level=detailed --report_sink="$report" \
        --log_level=warning ${RTFARM_TEST_ARGS:-}
    rc=$?
    top=$(grep -o '<TestSuite [^>]*>' "$report" 2>/dev/null | head -n 1)
    if [ -z "$top" ]; then
        echo "$name: exited $rc without a report: counted as 1 failed"
        failed=$((failed + 1))
        continue
    fi
    attr() { echo "$top" | sed -n "s/.* $1=\"\([0-9]*\)\".*/\1/p"; }
    p=$(attr test_cases_passed) f=$(attr test_cases_failed) s=$(attr test_cases_skipped)
    echo "$name: ${p:-0} passed, ${f:-0} failed, ${s:-0} skipped (exit $rc)"
    if [ "$rc" != 0 ] && [ "${f:-0}" = 0 ]; then
        f=1
    fi
    passed=$((passed + ${p:-0})) failed=$((failed + f)) skipped=$((skipped + ${s:-0}))
done
echo "skipped: $skipped (each says why above)"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
