#!/bin/sh
# make check: SIP over TCP in the namespace lab, dsr method (see farm_tcp.sh).
exec "$(dirname "$0")/farm_tcp.sh" dsr
