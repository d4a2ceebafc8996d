#!/bin/sh
# make check: lbcheck_media.sh with rtprelayd's kernel fast path required on
# every member (rtprelayd(8), Kernel fast path): lbcheck media finds the same,
# and no map entry outlives its test session.
RTFARM_LAB_MEDIA_FAST_PATH=required exec "$(dirname "$0")/lbcheck_media.sh" "$@"
