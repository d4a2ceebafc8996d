#!/bin/sh
# make check: SIP over TLS in the namespace lab, SIPp's TCP wrapped by stunnel4 (see farm_tcp.sh).
exec "$(dirname "$0")/farm_tcp.sh" tls
