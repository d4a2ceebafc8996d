#!/bin/sh
# make check: kamailio_media.sh behind the lab's dsr load balancer (SIP to the
# members' MACs, the VIP on their loopback; media straight to each member's
# own address, its wan_ip), with rtprelayd's kernel fast path required on
# every member: the same calls and checks, SIP back from the VIP and media
# from the members' own addresses only, and the kernel forwarded the media,
# leaving no map entry behind.
KAM_LB_METHOD=dsr RTFARM_LAB_MEDIA_FAST_PATH=required exec "$(dirname "$0")/kamailio_media.sh" "$@"
