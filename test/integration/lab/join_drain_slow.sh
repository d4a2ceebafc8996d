#!/bin/sh
# make check: the SIP farm in the namespace lab, "join-drain" with slow
# processors (INVITE answered after 1.7 s, no 100 Trying): the caller's INVITE
# retransmissions meet the join and the drain, so a Call-ID in progress must
# stay with the member that has it (see farm_lab.sh).
RTFARM_FARM_ANSWER_MS=${RTFARM_FARM_ANSWER_MS:-1700} exec "$(dirname "$0")/farm_lab.sh" join-drain
