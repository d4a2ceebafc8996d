#!/bin/sh
# make check: the SIP farm in the namespace lab with media anchored, "media" (see farm_lab.sh).
exec "$(dirname "$0")/farm_lab.sh" media
