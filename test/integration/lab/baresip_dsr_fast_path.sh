#!/bin/sh
# make check: baresip.sh behind the lab's dsr load balancer (media straight to
# each member's own address, its wan_ip) with rtprelayd's kernel fast path
# required on every member: real phones' audio, checked tone by tone,
# forwarded by the XDP program, SIP back from the VIP and media from the
# members' own addresses only, and no map entry left after the calls.
KAM_LB_METHOD=dsr RTFARM_LAB_MEDIA_FAST_PATH=required exec "$(dirname "$0")/baresip.sh" "$@"
