#!/bin/sh
# make check: the SIP farm in the namespace lab, "join-drain" (see farm_lab.sh).
exec "$(dirname "$0")/farm_lab.sh" join-drain
