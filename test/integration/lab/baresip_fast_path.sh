#!/bin/sh
# make check: baresip.sh with rtprelayd's kernel fast path required on every
# member (rtprelayd(8), Kernel fast path): real phones' audio, checked tone by
# tone, forwarded by the XDP program, and no map entry left after the calls.
RTFARM_LAB_MEDIA_FAST_PATH=required exec "$(dirname "$0")/baresip.sh" "$@"
