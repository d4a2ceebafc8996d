#!/bin/sh
# The fuzzers as one test of `make check`: every target of test/fuzz/run.sh
# for FUZZ_SECONDS each (default 20), from the repository root.
cd "$(dirname "$0")/../.." || exit 1
exec test/fuzz/run.sh "${FUZZ_SECONDS:-20}"
