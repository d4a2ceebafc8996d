#!/bin/sh
# make check: SIP over TCP in the namespace lab, the holder killed mid-load (see farm_tcp.sh).
exec "$(dirname "$0")/farm_tcp.sh" kill
