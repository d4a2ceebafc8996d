#!/bin/sh
# make check: kamailio_media.sh with rtprelayd's kernel fast path required on
# every member (rtprelayd(8), Kernel fast path): the same calls and checks,
# and the kernel forwarded their media, leaving no map entry behind.
RTFARM_LAB_MEDIA_FAST_PATH=required exec "$(dirname "$0")/kamailio_media.sh" "$@"
