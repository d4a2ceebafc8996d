#!/bin/sh
# make demo: the SIP farm in a namespace lab. A client calls the VIP of a
# stateless NAT load balancer that sprays every UDP packet to a random one of
# three frontends; sipfarmd on every member gets each packet to the member
# that owns it, in front of a SIPp UAS per member; the demo prints the call
# results on both sides and what each member received, relayed and
# processed. Needs root (network namespaces); without it, it says so and
# shows the loopback demo instead.
cd "$(dirname "$0")/../.." || exit 1
if test/lab/lab.sh check >/dev/null 2>&1; then
    exec test/integration/lab/farm_lab.sh demo "${DEMO_CALLS:-200}"
fi
echo "demo: the namespace lab cannot run here: $(test/lab/lab.sh check 2>&1 | tail -n 1)"
echo "demo: showing the daemons on loopback instead"
exec test/demo/loopback.sh
