#!/usr/bin/env bash
# rtfarm network lab: the load-balancer methods of the reference docs
# (single-IP NAT without session binding, the same with conntrack session
# binding, DSR) rebuilt from network namespaces, veth, a Linux bridge and
# nftables, so that sipfarmd, lbcheck and SIPp run against the real kernel.
# It only builds and inspects the network; it starts no daemon.  See
# test/lab/README.md for the topology, the rules and how tests use it.
#
#   lab.sh check                      can this host run the lab? (exit 77 if not)
#   lab.sh up METHOD [FRONTENDS...]   METHOD: nat | nat-sticky | dsr; the LB
#                                     picks among FRONTENDS (default f1 f2 f3)
#   lab.sh spread FRONTENDS...        the frontends the LB picks from (e.g. f1,
#                                     or f1 f2 f3 f4 to bring the spare f4 in)
#   lab.sh exec NODE CMD...           run CMD inside NODE's namespace
#   lab.sh counters | reset           nft packet counters (LB per frontend, client)
#   lab.sh wait-udp NODE PORT [SECS]  wait until something listens on UDP PORT
#   lab.sh wait-tcp NODE PORT [SECS]  the same for a TCP listener
#   lab.sh stat CSV...                sum SIPp -trace_stat files: ok and failed calls
#   lab.sh status | list | down
#
# Namespaces are "$RTFARM_LAB-<node>", nodes: client lb sw f1 f2 f3 f4 b1.
# f4 is a spare frontend: built like the others (address, VIP on lo for dsr,
# media range, counter), but the LB does not pick it unless told to (`up`
# with FRONTENDS naming it, or `spread`): a member that joins the farm later.
# `up` uses $RTFARM_LAB or makes "rtf<pid>" and prints the line to export;
# every other command needs RTFARM_LAB set.  `down` removes that lab's
# namespaces (after stopping the processes still running inside them) and is
# always safe to run again.
#
# Exit status: 0 ok; 1 failed; 2 usage; 77 this host cannot run the lab
# (not root, no `ip netns`, no nftables features): tests skip on 77.
set -eu
umask 022

VIP=203.0.113.1
# The TCP ports the LB hands out per connection: SIP over TCP (5060) and SIP
# over TLS (5061, the SIPS port); an nft anonymous set.
SIP_TCP_PORTS="{ 5060, 5061 }"
NODES="client lb sw f1 f2 f3 f4 b1"
FRONTENDS="f1 f2 f3 f4"  # every frontend the lab has
DEFAULT_PICK="f1 f2 f3"  # the ones the LB picks among unless told otherwise
# Internal addresses and fixed MACs (locally administered; every lab lives in
# its own namespaces, so two labs never see each other's MACs).
addr_of() {
    case $1 in
    client) echo 198.51.100.10 ;; lb) echo 10.77.0.1 ;;
    f1) echo 10.77.0.11 ;; f2) echo 10.77.0.12 ;; f3) echo 10.77.0.13 ;; f4) echo 10.77.0.14 ;;
    b1) echo 10.77.0.21 ;; *) return 1 ;;
    esac
}
mac_of() {
    case $1 in
    client) echo 02:51:00:00:00:10 ;; lb-pub) echo 02:51:00:00:00:01 ;;
    lb) echo 02:77:00:00:00:01 ;;
    f1) echo 02:77:00:00:00:11 ;; f2) echo 02:77:00:00:00:12 ;; f3) echo 02:77:00:00:00:13 ;;
    f4) echo 02:77:00:00:00:14 ;;
    b1) echo 02:77:00:00:00:21 ;; *) return 1 ;;
    esac
}
# Single-IP media method: each frontend's own media port range on the VIP
# (f1, f2: those of the example config in rtfarm.conf(5), f3 the next; f4 the next
# free block: b1, a backend, uses 40000-49999 in the farm tests' configs).
media_range_of() {
    case $1 in
    f1) echo 10000-19999 ;; f2) echo 20000-29999 ;; f3) echo 30000-39999 ;; f4) echo 50000-59999 ;;
    esac
}

say() { printf 'lab: %s\n' "$*"; }
die() { printf 'lab.sh: %s\n' "$*" >&2; exit 1; }
usage() {
    cat >&2 <<'EOF'
usage: lab.sh check
       lab.sh up nat|nat-sticky|dsr [FRONTENDS...]
       lab.sh spread FRONTENDS...
       lab.sh exec NODE CMD...          (nodes: client lb sw f1 f2 f3 f4 b1)
       lab.sh counters | reset
       lab.sh wait-udp|wait-tcp NODE PORT [SECS]
       lab.sh stat SIPP_STAT_CSV...
       lab.sh status | list | down
The LB picks among f1 f2 f3 unless FRONTENDS are given (f4 is a spare).
RTFARM_LAB names the lab (up makes one and prints it).
EOF
    exit 2
}
cannot() { printf 'lab.sh: cannot run here: %s\n' "$*" >&2; exit 77; }

prefix_ok() { [[ $1 =~ ^[A-Za-z][A-Za-z0-9_]{0,15}$ ]]; }
need_prefix() {
    [ -n "${RTFARM_LAB:-}" ] || { echo "lab.sh: set RTFARM_LAB (the prefix 'lab.sh up' printed)" >&2; exit 2; }
    prefix_ok "$RTFARM_LAB" || { echo "lab.sh: bad RTFARM_LAB '$RTFARM_LAB' (letters, digits, _; 16 at most)" >&2; exit 2; }
    P=$RTFARM_LAB
}
ns() { echo "$P-$1"; }
in_ns() { local n=$1; shift; ip netns exec "$(ns "$n")" "$@"; }
has_ns() { [ -e "/run/netns/$(ns "$1")" ]; }

# ---------------------------------------------------------------- check
# Everything the lab needs, tried for real in a throw-away namespace.
check() {
    [ "$(id -u)" = 0 ] || cannot "not root (network namespaces need CAP_SYS_ADMIN)"
    command -v ip >/dev/null || cannot "iproute2 ('ip') is not installed"
    command -v nft >/dev/null || cannot "nftables ('nft') is not installed"
    command -v ss >/dev/null || cannot "iproute2's 'ss' is not installed"
    local probe="rtfchk$$"
    probe_fail() { ip netns del "$probe" 2>/dev/null || true; cannot "$@"; }
    ip netns add "$probe" 2>/dev/null || cannot "'ip netns add' fails (no network namespaces here)"
    ip -n "$probe" link add name va type veth peer name vb 2>/dev/null || probe_fail "cannot create veth pairs"
    ip -n "$probe" link add name br0 type bridge 2>/dev/null || probe_fail "cannot create a Linux bridge"
    ip netns exec "$probe" nft -f - 2>/dev/null <<'EOF' || probe_fail "nftables lacks netdev ingress/fwd, numgen, notrack or nat"
table netdev t {
    chain c {
        type filter hook ingress device "va" priority filter; policy accept;
        udp dport 5060 ether daddr set numgen random mod 2 map { 0 : 02:00:00:00:00:01, 1 : 02:00:00:00:00:02 } fwd to "vb"
    }
}
table ip n {
    chain raw {
        type filter hook prerouting priority raw; policy accept;
        udp dport 5060 notrack ip daddr set numgen random mod 2 map { 0 : 10.0.0.1, 1 : 10.0.0.2 }
    }
    chain pre {
        type nat hook prerouting priority dstnat; policy accept;
        udp dport 5061 dnat to numgen random mod 2 map { 0 : 10.0.0.1, 1 : 10.0.0.2 }
    }
    chain post {
        type nat hook postrouting priority srcnat; policy accept;
        ip saddr 10.0.0.0/24 snat to 192.0.2.1
    }
}
EOF
    ip netns del "$probe"
    echo "lab: this host can run the lab (root, ip netns, veth, bridge, nftables netdev fwd/numgen/notrack/nat)"
}

# ---------------------------------------------------------------- down
stop_processes() { # stop what still runs in our namespaces (by pid), bounded
    local n pids="" p
    for n in $NODES; do
        has_ns "$n" || continue
        pids="$pids $(ip netns pids "$(ns "$n")" 2>/dev/null || true)"
    done
    # shellcheck disable=SC2086 # word lists on purpose
    set -- $pids
    pids="$*"
    [ -n "$pids" ] || return 0
    say "stopping processes still running in the lab: $pids"
    # shellcheck disable=SC2086
    kill -TERM $pids 2>/dev/null || true
    for _ in $(seq 20); do # at most 2 s
        local alive=""
        for p in $pids; do kill -0 "$p" 2>/dev/null && alive="$alive $p"; done
        [ -n "$alive" ] || return 0
        sleep 0.1
    done
    # shellcheck disable=SC2086
    kill -KILL $alive 2>/dev/null || true
}

down() {
    need_prefix
    stop_processes
    local n removed=""
    for n in $NODES; do
        if has_ns "$n"; then
            ip netns del "$(ns "$n")" && removed="$removed $n"
        fi
    done
    # Anything else carrying our prefix (a node list from another version).
    for n in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$P-" || true); do
        ip netns del "$n" && removed="$removed ${n#"$P"-}"
    done
    if [ -n "$removed" ]; then say "removed lab $P:$removed"; else say "lab $P: nothing to remove"; fi
}

# ---------------------------------------------------------------- up
# One veth pair: $1 node, $2 its interface, $3 its MAC, $4 peer node, $5 peer
# interface, $6 peer MAC (optional: the bridge ports in sw keep random ones).
# Created inside the namespaces: the root namespace never sees a lab interface.
veth() {
    ip -n "$(ns "$1")" link add name "$2" address "$3" type veth \
        peer name "$5" ${6:+address "$6"} netns "$(ns "$4")"
}

sysctl_in() { local n=$1; shift; in_ns "$n" sysctl -qw "$@"; }

build_common() {
    local n
    for n in $NODES; do
        ip netns add "$(ns "$n")"
        ip -n "$(ns "$n")" link set lo up
    done
    # sw: the internal L2 segment (a Linux bridge); no address, no rules.
    ip -n "$(ns sw)" link add name br0 type bridge stp_state 0 forward_delay 0
    ip -n "$(ns sw)" link set br0 up
    # client <-> lb public side: one point-to-point veth.
    veth client eth0 "$(mac_of client)" lb pub "$(mac_of lb-pub)"
    # lb internal side and every internal host: a port on sw's bridge.
    veth lb int "$(mac_of lb)" sw lb
    for n in $FRONTENDS b1; do
        veth "$n" eth0 "$(mac_of "$n")" sw "$n"
    done
    for n in lb $FRONTENDS b1; do
        ip -n "$(ns sw)" link set "$n" master br0 up
    done

    ip -n "$(ns client)" addr add 198.51.100.10/24 dev eth0
    ip -n "$(ns client)" link set eth0 up
    ip -n "$(ns client)" route add "$VIP/32" via 198.51.100.1
    # The client must see replies from wrong sources too (lbcheck reports them).
    sysctl_in client net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.eth0.rp_filter=0

    ip -n "$(ns lb)" addr add 198.51.100.1/24 dev pub
    ip -n "$(ns lb)" addr add 10.77.0.1/24 dev int
    ip -n "$(ns lb)" link set pub up
    ip -n "$(ns lb)" link set int up
    sysctl_in lb net.ipv4.ip_forward=1 \
        net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.pub.rp_filter=0 net.ipv4.conf.int.rp_filter=0 \
        net.ipv4.conf.all.send_redirects=0 net.ipv4.conf.int.send_redirects=0

    for n in $FRONTENDS; do
        ip -n "$(ns "$n")" addr add "$(addr_of "$n")/24" dev eth0
        ip -n "$(ns "$n")" link set eth0 up
        # The frontends reach the outside only through the lb.
        ip -n "$(ns "$n")" route add default via 10.77.0.1
    done
    # b1 is a backend without internet access: no default route at all.
    ip -n "$(ns b1)" addr add "$(addr_of b1)/24" dev eth0
    ip -n "$(ns b1)" link set eth0 up
    wait_links_up
}

# A veth is usable once the kernel's link watcher has marked it operationally
# up (until then its queue drops what is sent): wait for that, bounded.
wait_links_up() {
    local i n down
    for i in $(seq 100); do # at most 5 s
        down=""
        for n in $NODES; do
            down="$down$(ip -n "$(ns "$n")" -br link show | awk '$1 != "lo" && $2 != "UP" { printf " %s:%s", n, $1 }' n="$n")"
        done
        [ -n "$down" ] || return 0
        sleep 0.05
    done
    die "links still not up after 5 s:$down"
}

# Client-side counters: where the replies the client gets come from.
client_rules() {
    in_ns client nft -f - <<EOF
table inet rtfarm_client {
    counter udp_from_vip_5060 { comment "UDP from VIP:5060 (what a SIP client expects)" }
    counter udp_from_vip_other_port { comment "UDP from VIP:<not 5060> (NAT rewrote the port, or media)" }
    counter udp_from_other { comment "UDP from another source than the VIP" }
    chain input {
        type filter hook input priority filter; policy accept;
        ip saddr $VIP udp sport 5060 counter name "udp_from_vip_5060"
        ip saddr $VIP udp sport != 5060 counter name "udp_from_vip_other_port"
        ip saddr != $VIP meta l4proto udp counter name "udp_from_other"
    }
}
EOF
}

# The frontends the LB picks from, as an nft map body and its size.
pick_map() { # $1: "addr" or "mac"; frontends in $PICK
    local i=0 out="" f
    for f in $PICK; do
        if [ "$1" = addr ]; then out="$out${out:+, }$i : $(addr_of "$f")"; else out="$out${out:+, }$i : $(mac_of "$f")"; fi
        i=$((i + 1))
    done
    echo "$out"
}
# shellcheck disable=SC2086
count_pick() { set -- $PICK; echo $#; }

per_frontend_counters() {
    local f
    for f in $FRONTENDS; do echo "    counter to_$f { comment \"packets the lb sent to $f (UDP 5060)\" }"; done
    for f in $FRONTENDS; do echo "    counter tcp_to_$f { comment \"packets the lb sent to $f (TCP 5060 and 5061)\" }"; done
}
# SIP over TCP: a connection must stay on one frontend, so the pick is a hash
# of the client's address and port (the same for every packet of one
# connection, stateless), never numgen.
tcp_pick() { echo "jhash ip saddr . tcp sport mod $(count_pick) map { $(pick_map "$1") }"; }

# nat: stateless single-IP NAT, no session binding (the reference's method).
rules_nat() {
    local f media=""
    for f in $FRONTENDS; do
        media="$media
        iifname \"pub\" ip daddr $VIP udp dport $(media_range_of "$f") notrack ip daddr set $(addr_of "$f")"
    done
    cat <<EOF
table ip rtfarm_lb {
$(per_frontend_counters)
    counter from_frontends { comment "frontend packets sent out with source VIP" }
    chain raw_pre {
        type filter hook prerouting priority raw; policy accept;
        # SIP to the VIP: no conntrack, a frontend picked at random per packet.
        iifname "pub" ip daddr $VIP udp dport 5060 notrack ip daddr set numgen random mod $(count_pick) map { $(pick_map addr) }
        # SIP over TCP and TLS to the VIP: no conntrack either, a frontend per connection.
        iifname "pub" ip daddr $VIP tcp dport $SIP_TCP_PORTS notrack ip daddr set $(tcp_pick addr)
        # Media (single-IP method): each frontend's port range, same port.$media
        # The frontends' own traffic out: no conntrack either.
        iifname "int" ip saddr 10.77.0.0/24 ip daddr != 10.77.0.0/24 notrack
    }
    chain forward {
        type filter hook forward priority filter; policy accept;
$(for f in $FRONTENDS; do echo "        oifname \"int\" ip daddr $(addr_of "$f") udp dport 5060 counter name \"to_$f\""; done)
$(for f in $FRONTENDS; do echo "        oifname \"int\" ip daddr $(addr_of "$f") tcp dport $SIP_TCP_PORTS counter name \"tcp_to_$f\""; done)
    }
    chain raw_post {
        type filter hook postrouting priority srcnat; policy accept;
        # Stateless source rewrite: whatever a frontend sends out leaves from
        # the VIP, same port (F2:5060 -> VIP:5060), whichever frontend it is.
        oifname "pub" ip saddr 10.77.0.0/24 counter name "from_frontends" ip saddr set $VIP
    }
}
EOF
}

# nat-sticky: the broken variant, conntrack NAT with UDP session binding.
rules_nat_sticky() {
    local f media=""
    for f in $FRONTENDS; do
        media="$media
        iifname \"pub\" ip daddr $VIP udp dport $(media_range_of "$f") dnat to $(addr_of "$f")"
    done
    cat <<EOF
table ip rtfarm_lb {
$(per_frontend_counters)
    counter from_frontends { comment "frontend packets sent out (source NAT to the VIP)" }
    chain pre {
        type nat hook prerouting priority dstnat; policy accept;
        # The first packet of a flow picks a frontend; conntrack binds the
        # flow (client addr:port <-> frontend) and later packets follow it.
        iifname "pub" ip daddr $VIP udp dport 5060 dnat to numgen random mod $(count_pick) map { $(pick_map addr) }$media
        # TCP: conntrack binds each connection to the frontend its SYN got.
        iifname "pub" ip daddr $VIP tcp dport $SIP_TCP_PORTS dnat to numgen random mod $(count_pick) map { $(pick_map addr) }
    }
    chain forward {
        type filter hook forward priority filter; policy accept;
$(for f in $FRONTENDS; do echo "        oifname \"int\" ip daddr $(addr_of "$f") udp dport 5060 counter name \"to_$f\""; done)
$(for f in $FRONTENDS; do echo "        oifname \"int\" ip daddr $(addr_of "$f") tcp dport $SIP_TCP_PORTS counter name \"tcp_to_$f\""; done)
        oifname "pub" ip saddr 10.77.0.0/24 counter name "from_frontends"
    }
    chain post {
        type nat hook postrouting priority srcnat; policy accept;
        # Replies of the bound frontend are un-NATed to VIP:5060 by conntrack;
        # a packet from another frontend is a new flow whose source VIP:5060
        # clashes with the binding, so it leaves from VIP:<another port>.
        oifname "pub" ip saddr 10.77.0.0/24 snat to $VIP
    }
}
EOF
}

# dsr: frames for VIP:5060 go to a frontend's MAC, the IP header untouched.
rules_dsr() {
    local f
    cat <<EOF
table netdev rtfarm_lb {
$(per_frontend_counters)
    chain ingress_pub {
        type filter hook ingress device "pub" priority filter; policy accept;
        # Pick a frontend per packet: rewrite only the Ethernet header ...
        ip daddr $VIP udp dport 5060 ether saddr set $(mac_of lb) ether daddr set numgen random mod $(count_pick) map { $(pick_map mac) }
        # ... and put the frame on the internal segment (the bridge delivers it).
$(for f in $FRONTENDS; do echo "        ip daddr $VIP udp dport 5060 ether daddr $(mac_of "$f") counter name \"to_$f\" fwd to \"int\""; done)
        # SIP over TCP: the frontend per connection (a hash of the client's
        # address and port), so that every segment of it reaches the same one.
        ip daddr $VIP tcp dport $SIP_TCP_PORTS ether saddr set $(mac_of lb) ether daddr set $(tcp_pick mac)
$(for f in $FRONTENDS; do echo "        ip daddr $VIP tcp dport $SIP_TCP_PORTS ether daddr $(mac_of "$f") counter name \"tcp_to_$f\" fwd to \"int\""; done)
    }
}
EOF
}

lb_rules() { # method, frontends in $PICK
    local body
    case $1 in
    nat) body=$(rules_nat) ;; nat-sticky) body=$(rules_nat_sticky) ;; dsr) body=$(rules_dsr) ;;
    esac
    local family=ip
    [ "$1" = dsr ] && family=netdev
    # Replace the table in one transaction (counters restart at 0).
    printf 'table %s rtfarm_lb\ndelete table %s rtfarm_lb\n%s\n' "$family" "$family" "$body" |
        in_ns lb nft -f -
}

# The method a running lab was built with, read back from the lb's rules
# (no state outside the namespaces).
get_method() {
    has_ns lb || return 1
    local t
    t=$(in_ns lb nft list tables 2>/dev/null) || return 1
    case $t in
    *"table netdev rtfarm_lb"*) echo dsr ;;
    *"table ip rtfarm_lb"*)
        if in_ns lb nft list chain ip rtfarm_lb pre >/dev/null 2>&1; then echo nat-sticky; else echo nat; fi ;;
    *) return 1 ;;
    esac
}
lb_family() { if [ "$(get_method)" = dsr ]; then echo netdev; else echo ip; fi; }

up() {
    local method=${1:-}
    case $method in nat | nat-sticky | dsr) ;; *) usage ;; esac
    shift
    PICK=${*:-$DEFAULT_PICK}
    check_pick
    if [ -z "${RTFARM_LAB:-}" ]; then RTFARM_LAB="rtf$$"; fi
    need_prefix
    (check >/dev/null) || exit $?
    if has_ns lb || has_ns client; then
        say "lab $P exists: rebuilding it"
        down >/dev/null
    fi
    # Any failure from here on (set -e) removes the half-built lab.
    # shellcheck disable=SC2154 # rc is set inside the trap
    trap 'rc=$?; if [ $rc != 0 ]; then echo "lab.sh: up failed (status $rc): removing the half-built lab" >&2; down >&2 || true; fi' EXIT
    build_common
    client_rules
    case $method in
    nat | nat-sticky)
        # The VIP belongs to the load balancer.
        ip -n "$(ns lb)" addr add "$VIP/32" dev pub
        ;;
    dsr)
        # The VIP on every frontend's loopback, /32, hidden from ARP.
        for f in $FRONTENDS; do
            ip -n "$(ns "$f")" addr add "$VIP/32" dev lo
            sysctl_in "$f" net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.eth0.arp_ignore=1 \
                net.ipv4.conf.all.arp_announce=2 net.ipv4.conf.eth0.arp_announce=2
        done
        # Frontends have routable addresses of their own (multi-IP, no NAT):
        # the client can reach them, and what they send is not rewritten.
        ip -n "$(ns client)" route add 10.77.0.0/24 via 198.51.100.1
        ;;
    esac
    lb_rules "$method"
    trap - EXIT
    describe "$method"
    echo "RTFARM_LAB=$P"
}

check_pick() {
    local f
    [ -n "$PICK" ] || die "no frontend to spread to"
    for f in $PICK; do
        case " $FRONTENDS " in *" $f "*) ;; *) die "unknown frontend '$f' (have: $FRONTENDS)" ;; esac
    done
}

spread() {
    need_prefix
    PICK="$*"
    check_pick
    local method
    method=$(get_method) || die "lab $P is not up"
    lb_rules "$method"
    in_ns client nft reset counters table inet rtfarm_client >/dev/null
    say "lb ($method) now picks per packet among: $PICK (counters reset)"
    if [ "$method" = nat-sticky ]; then
        say "note: existing conntrack bindings stay until they time out; a client port that already has one keeps its frontend"
    fi
}

describe() {
    local m=$1
    say "built lab $P, method $m"
    say "  client  198.51.100.10/24 on eth0; route $VIP via 198.51.100.1 (lb)"
    case $m in
    nat) say "  lb      pub 198.51.100.1/24 + VIP $VIP/32, int 10.77.0.1/24; stateless NAT, notrack, random frontend per packet" ;;
    nat-sticky) say "  lb      pub 198.51.100.1/24 + VIP $VIP/32, int 10.77.0.1/24; conntrack NAT: UDP session binding (broken on purpose)" ;;
    dsr) say "  lb      pub 198.51.100.1/24, int 10.77.0.1/24; netdev ingress: random frontend MAC per packet, IP header untouched" ;;
    esac
    say "  sw      bridge br0: lb, ${FRONTENDS// /, }, b1"
    local f spare
    for f in $FRONTENDS; do
        spare=""
        case " $PICK " in *" $f "*) ;; *) spare=" (not picked by the lb: lab.sh spread ... $f)" ;; esac
        if [ "$m" = dsr ]; then
            say "  $f      $(addr_of "$f")/24, VIP $VIP/32 on lo, arp_ignore=1 arp_announce=2, default via 10.77.0.1$spare"
        else
            say "  $f      $(addr_of "$f")/24, default via 10.77.0.1, media $(media_range_of "$f") on the VIP$spare"
        fi
    done
    say "  b1      10.77.0.21/24, no default route (backend without internet access)"
    say "  lb picks among: $PICK"
}

# ---------------------------------------------------------------- inspect
# "name=packets" for every named counter in an `nft list counters` output.
parse_counters() {
    awk '$1 == "counter" { name = $2 } $1 == "packets" && name != "" { printf "%s%s=%s", sep, name, $2; sep = " "; name = "" } END { print "" }'
}

counters() {
    need_prefix
    has_ns lb || die "lab $P is not up"
    local fam
    fam=$(lb_family)
    echo "lb: $(in_ns lb nft list counters table "$fam" rtfarm_lb | parse_counters)"
    echo "client: $(in_ns client nft list counters table inet rtfarm_client | parse_counters)"
}

reset_counters() {
    need_prefix
    has_ns lb || die "lab $P is not up"
    local fam
    fam=$(lb_family)
    in_ns lb nft reset counters table "$fam" rtfarm_lb >/dev/null
    in_ns client nft reset counters table inet rtfarm_client >/dev/null
    say "counters reset"
}

status() {
    need_prefix
    local n any=0
    for n in $NODES; do
        has_ns "$n" || continue
        any=1
        echo "== $n ($(ns "$n"))"
        ip -n "$(ns "$n")" -br addr show | sed 's/^/   /'
        ip -n "$(ns "$n")" route show | sed 's/^/   route: /'
    done
    [ $any = 1 ] || { say "lab $P is not up"; exit 1; }
    echo "== method: $(get_method || echo unknown)"
    echo "== lb ruleset"
    in_ns lb nft list ruleset | sed 's/^/   /'
    counters
}

list() {
    ip netns list 2>/dev/null | awk '{print $1}' | sed -n 's/^\([A-Za-z][A-Za-z0-9_]*\)-lb$/\1/p' | sort -u
}

exec_in() {
    need_prefix
    local n=${1:-}
    if [ -z "$n" ] || [ $# -lt 2 ]; then usage; fi
    shift
    case " $NODES " in *" $n "*) ;; *) die "unknown node '$n' (have: $NODES)" ;; esac
    has_ns "$n" || die "lab $P has no node $n (is it up?)"
    exec ip netns exec "$(ns "$n")" "$@"
}

wait_listen() { # udp|tcp NODE PORT [SECS]: bounded wait for a listening socket on PORT
    need_prefix
    local proto=$1 n=${2:?node} port=${3:?port} secs=${4:-5}
    local tries=$((secs * 20)) flag=-Hlun
    [ "$proto" = tcp ] && flag=-Hltn
    for _ in $(seq "$tries"); do
        if in_ns "$n" ss "$flag" "sport = :$port" | grep -q .; then return 0; fi
        sleep 0.05
    done
    die "nothing listens on ${proto^^} port $port in $n after ${secs}s"
}

# Sum the last row of SIPp -trace_stat CSV files: "ok=N failed=N created=N".
stat_files() {
    [ $# -ge 1 ] || usage
    local f ok=0 failed=0 created=0 unexp=0 recvto=0 retrans=0 a b c d e g
    for f in "$@"; do
        [ -s "$f" ] || die "no SIPp statistics in $f"
        eval "$(awk -F';' 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
            { last = $0 } END { n = split(last, v, ";");
              printf "a=%d b=%d c=%d d=%d e=%d g=%d\n", v[col["SuccessfulCall(C)"]], v[col["FailedCall(C)"]],
                  v[col["TotalCallCreated"]], v[col["FailedUnexpectedMessage(C)"]],
                  v[col["FailedTimeoutOnRecv(C)"]], v[col["FailedMaxUDPRetrans(C)"]] }' "$f")"
        ok=$((ok + a)) failed=$((failed + b)) created=$((created + c))
        unexp=$((unexp + d)) recvto=$((recvto + e)) retrans=$((retrans + g))
    done
    echo "ok=$ok failed=$failed created=$created unexpected_msg=$unexp recv_timeout=$recvto max_retrans=$retrans"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case $cmd in
check) check ;;
up) up "$@" ;;
down) down ;;
spread) spread "$@" ;;
exec) exec_in "$@" ;;
counters) counters ;;
reset) reset_counters ;;
wait-udp) wait_listen udp "$@" ;;
wait-tcp) wait_listen tcp "$@" ;;
stat) stat_files "$@" ;;
status) status ;;
list) list ;;
*) usage ;;
esac
