#!/bin/sh
# Installs the Debian packages a make target needs, once, on a fresh machine.
#   mk/deps.sh build|check|demo|lint|fuzz|bench ...
# As root, missing packages are installed with apt-get; otherwise the exact
# apt-get line is printed and the script fails, so make stops.
set -eu

pkgs=""
for group in "$@"; do
    case "$group" in
    build) pkgs="$pkgs g++ make pkg-config libevent-dev libosip2-dev libjansson-dev libcli11-dev libboost-test-dev libssl-dev clang libbpf-dev bpftool" ;;
    check) pkgs="$pkgs mandoc iproute2 nftables sip-tester procps stunnel4 openssl kamailio kamailio-postgres-modules postgresql tshark baresip-core sox kamailio-sqlite-modules sqlite3" ;;
    demo) pkgs="$pkgs iproute2 nftables sip-tester procps kamailio kamailio-postgres-modules postgresql" ;;
    lint) pkgs="$pkgs mandoc clang-format clang-tidy" ;;
    fuzz) pkgs="$pkgs clang libclang-rt-14-dev" ;;
    bench) pkgs="$pkgs kamailio sip-tester rtpengine-daemon util-linux iproute2 procps ethtool" ;;
    *) echo "mk/deps.sh: unknown group '$group' (build, check, demo, lint, fuzz, bench)" >&2; exit 2 ;;
    esac
done

missing=""
for p in $pkgs; do
    case " $missing " in *" $p "*) continue ;; esac
    status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [ "$status" = "installed" ] || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
    echo "rtfarm needs these Debian packages:$missing" >&2
    echo "run as root:  apt-get update && apt-get install -y --no-install-recommends$missing" >&2
    exit 1
fi

echo "installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
# Package lists on a fresh machine may be empty or stale.
if ! apt-get install -y --no-install-recommends $missing >/dev/null 2>&1; then
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends $missing
fi
