#!/bin/sh
# make check: kamailio_media.sh with rtprelayd's kernel fast path, switched off
# and on again by a reload (SIGHUP) of every member's rtprelayd in the middle
# of the calls: every call ok, media both ways, counts kept, no entry left.
KAM_MEMBER_CONFIGS=1 RTFARM_LAB_MEDIA_FAST_PATH=required RTFARM_LAB_FAST_PATH_RELOAD=1 \
    exec "$(dirname "$0")/kamailio_media.sh" "$@"
