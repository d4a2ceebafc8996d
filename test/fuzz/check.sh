#!/bin/sh
# The fuzzer as one test of `make check`: FUZZ_SECONDS (default 30) of
# test/fuzz/run.sh, from the repository root.
cd "$(dirname "$0")/../.." || exit 1
exec test/fuzz/run.sh "${FUZZ_SECONDS:-30}"
