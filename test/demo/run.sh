#!/bin/sh
# make demo: the SIP farm in a namespace lab, with a real SIP server behind
# it. A stateless NAT load balancer sprays every SIP packet from the client
# to a random one of three frontends and forwards each frontend's media port
# range to it; on every frontend sipfarmd gets each packet to the member
# that owns it, Kamailio (etc/processors/kamailio/kamailio.cfg) is the
# registrar and proxy behind it, with the users' bindings in one PostgreSQL
# server, and rtprelayd anchors the media. bob registers through the VIP,
# alice calls him, RTP goes both ways through the relays; the demo prints
# both sides' results and what each member received, relayed, processed and
# relayed of the media. Needs root (network namespaces); without it, it says
# so and shows the daemons on loopback instead. DEMO_CALLS sets the calls.
cd "$(dirname "$0")/../.." || exit 1
if test/lab/lab.sh check >/dev/null 2>&1; then
    exec test/integration/lab/kamailio_media.sh demo "${DEMO_CALLS:-60}"
fi
echo "demo: the namespace lab cannot run here: $(test/lab/lab.sh check 2>&1 | tail -n 1)"
echo "demo: showing the daemons on loopback instead"
exec test/demo/loopback.sh
