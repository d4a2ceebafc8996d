// lbcheck host's diagnosis (diag/host.hpp) from hand-made facts: a correct
// DSR frontend has no finding, and each broken variant alone gives its own;
// the kernel's max(conf/all, conf/IFACE) rule both ways; IPv6; the sockets
// on the SIP port; the ARP probe's answers; the /proc parsers.
#include "diag/host.hpp"

#include <boost/test/unit_test.hpp>

#include <bit>
#include <set>
#include <string>

using namespace rtfarm;
using diag::HostFacts;

namespace {

SockAddr host(const char* text, uint16_t port = 0) {
    auto a = SockAddr::parse_host(text, port);
    BOOST_REQUIRE_MESSAGE(a.ok(), text);
    return *a;
}

const SockAddr VIP = SockAddr::v4(0xCB007101, 0); // 203.0.113.1

// The lab's f1, set up right: VIP/32 on lo with ARP hidden, sipfarmd on
// VIP:5060 and 0.0.0.0:5060.
HostFacts good_v4() {
    HostFacts f;
    diag::Interface lo;
    lo.name = "lo";
    lo.up = true;
    lo.loopback = true;
    lo.addresses = {{host("127.0.0.1"), 8}, {host("203.0.113.1"), 32}, {host("::1"), 128}};
    lo.conf = {0, 0, 0};
    diag::Interface eth0;
    eth0.name = "eth0";
    eth0.up = true;
    eth0.addresses = {{host("10.77.0.11"), 24}, {host("fe80::77:11"), 64}};
    eth0.conf = {1, 2, 0};
    f.interfaces = {lo, eth0};
    f.all = {1, 2, 0};
    f.udp = {{host("203.0.113.1", 5060), false},
             {host("0.0.0.0", 5060), false},
             {host("10.77.0.11", 5069), false}};
    return f;
}

diag::Interface& iface(HostFacts& f, const std::string& name) {
    for (diag::Interface& i : f.interfaces)
        if (i.name == name)
            return i;
    BOOST_FAIL("no interface " + name);
    return f.interfaces.front();
}

// The ids of the findings of one severity.
std::set<std::string> ids(const diag::Report& r, Severity s = Severity::error) {
    std::set<std::string> out;
    for (const Finding& f : r.findings)
        if (f.severity == s)
            out.insert(f.id);
    return out;
}

const Finding& finding(const diag::Report& r, const std::string& id) {
    for (const Finding& f : r.findings)
        if (f.id == id)
            return f;
    BOOST_FAIL("no finding " + id);
    return r.findings.front();
}

bool contains(const std::string& s, const std::string& part) {
    return s.find(part) != std::string::npos;
}

using Ids = std::set<std::string>;

// The error of a failed Result, "" for a good one.
template <typename T> std::string why(const Result<T>& r) {
    return r.ok() ? "" : r.error().message;
}

} // namespace

BOOST_AUTO_TEST_SUITE(diag_host)

BOOST_AUTO_TEST_CASE(a_correct_dsr_host_has_no_finding) {
    auto r = diagnose_host(good_v4(), VIP, 5060);
    BOOST_TEST(r.findings.empty());
    BOOST_TEST(r.exit_status() == 0);
    // Without --arp-probe it says the segment was not probed.
    BOOST_REQUIRE(r.not_checked.size() == 1u);
    BOOST_TEST(contains(r.not_checked[0], "--arp-probe"));
    // What was seen is in observed.
    BOOST_TEST(r.observed["vip"].as_string().value_or("") == "203.0.113.1");
    BOOST_TEST(r.observed["interfaces"].size() == 2u);
    BOOST_TEST(r.observed["sip_sockets"].size() == 2u); // not the 5069 one
    BOOST_TEST(r.observed["conf_all"]["arp_announce"].as_integer().value_or(-1) == 2);
    auto lo_addrs = r.observed["interfaces"].at(0)["addresses"];
    BOOST_TEST(lo_addrs.at(1).as_string().value_or("") == "203.0.113.1/32");
}

BOOST_AUTO_TEST_CASE(vip_missing_from_every_interface) {
    auto f = good_v4();
    iface(f, "lo").addresses.erase(iface(f, "lo").addresses.begin() + 1);
    auto r = diagnose_host(f, VIP, 5060);
    BOOST_TEST(ids(r) == (Ids{"dsr-vip-missing"}));
    BOOST_TEST(contains(finding(r, "dsr-vip-missing").evidence, "on no interface"));
    BOOST_TEST(contains(finding(r, "dsr-vip-missing").fix, "ip addr add 203.0.113.1/32 dev lo"));
    BOOST_TEST(r.exit_status() == 1);
}

BOOST_AUTO_TEST_CASE(vip_on_eth0_instead_of_lo_says_where) {
    auto f = good_v4();
    iface(f, "lo").addresses.erase(iface(f, "lo").addresses.begin() + 1);
    iface(f, "eth0").addresses.push_back({host("203.0.113.1"), 32});
    auto r = diagnose_host(f, VIP, 5060);
    BOOST_TEST(ids(r) == (Ids{"dsr-vip-missing"}));
    const auto& m = finding(r, "dsr-vip-missing");
    BOOST_TEST(contains(m.evidence, "203.0.113.1/32 on eth0"));
    BOOST_TEST(contains(m.evidence, "answers ARP"));
    BOOST_TEST(contains(m.fix, "ip addr del 203.0.113.1/32 dev eth0"));
}

BOOST_AUTO_TEST_CASE(vip_on_lo_and_on_eth0_is_exposed) {
    auto f = good_v4();
    iface(f, "eth0").addresses.push_back({host("203.0.113.1"), 32});
    auto r = diagnose_host(f, VIP, 5060);
    BOOST_TEST(ids(r) == (Ids{"dsr-vip-exposed"}));
}

BOOST_AUTO_TEST_CASE(vip_on_a_loopback_that_is_down) {
    auto f = good_v4();
    iface(f, "lo").up = false;
    auto r = diagnose_host(f, VIP, 5060);
    BOOST_TEST(ids(r) == (Ids{"dsr-vip-missing"}));
    BOOST_TEST(contains(finding(r, "dsr-vip-missing").fix, "ip link set lo up"));
}

BOOST_AUTO_TEST_CASE(vip_on_lo_as_a_slash_24) {
    auto f = good_v4();
    iface(f, "lo").addresses[1].prefix_len = 24;
    auto r = diagnose_host(f, VIP, 5060);
    BOOST_TEST(ids(r) == (Ids{"dsr-vip-netmask"}));
    const auto& m = finding(r, "dsr-vip-netmask");
    BOOST_TEST(contains(m.evidence, "203.0.113.1/24 on lo"));
    BOOST_TEST(contains(m.fix, "ip addr del 203.0.113.1/24 dev lo"));
    BOOST_TEST(contains(m.fix, "ip addr add 203.0.113.1/32 dev lo"));
}

BOOST_AUTO_TEST_CASE(arp_ignore_zero_everywhere) {
    auto f = good_v4();
    f.all.arp_ignore = 0;
    iface(f, "eth0").conf.arp_ignore = 0;
    auto r = diagnose_host(f, VIP, 5060);
    BOOST_TEST(ids(r) == (Ids{"dsr-arp-ignore"}));
    const auto& m = finding(r, "dsr-arp-ignore");
    BOOST_TEST(contains(m.evidence, "net.ipv4.conf.all.arp_ignore=0"));
    BOOST_TEST(contains(m.evidence, "net.ipv4.conf.eth0.arp_ignore=0"));
    BOOST_TEST(contains(m.fix, "sysctl -w net.ipv4.conf.all.arp_ignore=1"));
    BOOST_TEST(contains(m.fix, "sysctl -w net.ipv4.conf.eth0.arp_ignore=1"));
    BOOST_TEST(contains(m.fix, "/etc/sysctl.d/"));
}

// The kernel takes max(all, iface): either one set right is enough for
// arp_ignore (1 is the smallest good value), and either one set wrong upward
// spoils it.
BOOST_AUTO_TEST_CASE(arp_ignore_takes_the_max_of_all_and_the_interface) {
    auto f = good_v4();
    f.all.arp_ignore = 0; // eth0 = 1: max 1
    BOOST_TEST(diagnose_host(f, VIP, 5060).findings.empty());
    f = good_v4();
    iface(f, "eth0").conf.arp_ignore = 0; // all = 1: max 1
    BOOST_TEST(diagnose_host(f, VIP, 5060).findings.empty());
    f = good_v4();
    f.all.arp_ignore = 8;
    iface(f, "eth0").conf.arp_ignore = 0; // max 8: replies to nothing, hides the VIP
    BOOST_TEST(diagnose_host(f, VIP, 5060).findings.empty());
    f = good_v4();
    f.all.arp_ignore = 3; // max 3: scope-host addresses only, the VIP is global
    auto r = diagnose_host(f, VIP, 5060);
    BOOST_TEST(ids(r) == (Ids{"dsr-arp-ignore"}));
    BOOST_TEST(contains(finding(r, "dsr-arp-ignore").evidence, "effective 3"));
}

// An interface that is down, or a loopback, does not face a segment.
BOOST_AUTO_TEST_CASE(only_interfaces_up_and_not_loopback_are_checked) {
    auto f = good_v4();
    diag::Interface spare;
    spare.name = "eth1";
    spare.up = false;
    spare.conf = {0, 0, 1};
    f.interfaces.push_back(spare);
    f.all.arp_ignore = 0; // lo's own 0 with all 0: lo is not checked
    iface(f, "eth0").conf.arp_ignore = 1;
    BOOST_TEST(diagnose_host(f, VIP, 5060).findings.empty());
    iface(f, "eth1").up = true;
    auto r = diagnose_host(f, VIP, 5060);
    // all.arp_announce = 2 covers eth1's 0 (max); arp_ignore 0 and rp_filter 1 do not.
    BOOST_TEST(ids(r) == (Ids{"dsr-arp-ignore", "dsr-rp-filter"}));
    BOOST_TEST(contains(finding(r, "dsr-arp-ignore").evidence, "eth1:"));
    BOOST_TEST(!contains(finding(r, "dsr-arp-ignore").evidence, "eth0:"));
}

BOOST_AUTO_TEST_CASE(arp_announce_must_be_two_in_effect) {
    auto f = good_v4();
    f.all.arp_announce = 0;
    iface(f, "eth0").conf.arp_announce = 0;
    auto r = diagnose_host(f, VIP, 5060);
    BOOST_TEST(ids(r) == (Ids{"dsr-arp-announce"}));
    BOOST_TEST(contains(finding(r, "dsr-arp-announce").fix,
                        "sysctl -w net.ipv4.conf.eth0.arp_announce=2"));
    // all = 2 is enough (max), and so is eth0 = 2 alone.
    f = good_v4();
    iface(f, "eth0").conf.arp_announce = 0;
    BOOST_TEST(diagnose_host(f, VIP, 5060).findings.empty());
    f = good_v4();
    f.all.arp_announce = 1;
    iface(f, "eth0").conf.arp_announce = 1;
    BOOST_TEST(ids(diagnose_host(f, VIP, 5060)) == (Ids{"dsr-arp-announce"}));
}

BOOST_AUTO_TEST_CASE(arp_ignore_and_announce_zero_together) {
    auto f = good_v4();
    f.all = {0, 0, 0};
    iface(f, "eth0").conf = {0, 0, 0};
    BOOST_TEST(ids(diagnose_host(f, VIP, 5060)) == (Ids{"dsr-arp-ignore", "dsr-arp-announce"}));
}

BOOST_AUTO_TEST_CASE(strict_rp_filter_is_an_error_loose_is_not) {
    auto f = good_v4();
    f.all.rp_filter = 1;
    iface(f, "eth0").conf.rp_filter = 1;
    auto r = diagnose_host(f, VIP, 5060);
    BOOST_TEST(ids(r) == (Ids{"dsr-rp-filter"}));
    const auto& m = finding(r, "dsr-rp-filter");
    BOOST_TEST(contains(m.evidence, "eth0: net.ipv4.conf.all.rp_filter=1"));
    BOOST_TEST(contains(m.fix, "sysctl -w net.ipv4.conf.all.rp_filter=2"));
    BOOST_TEST(contains(m.fix, "sysctl -w net.ipv4.conf.eth0.rp_filter=2"));
    // all strict, eth0 off: max 1, only all needs the change.
    f = good_v4();
    f.all.rp_filter = 1;
    r = diagnose_host(f, VIP, 5060);
    BOOST_TEST(ids(r) == (Ids{"dsr-rp-filter"}));
    BOOST_TEST(!contains(finding(r, "dsr-rp-filter").fix, "eth0.rp_filter"));
    // eth0 strict, all off: max 1.
    f = good_v4();
    iface(f, "eth0").conf.rp_filter = 1;
    r = diagnose_host(f, VIP, 5060);
    BOOST_TEST(ids(r) == (Ids{"dsr-rp-filter"}));
    BOOST_TEST(!contains(finding(r, "dsr-rp-filter").fix, "all.rp_filter"));
    // Loose beats strict (max 2).
    f = good_v4();
    f.all.rp_filter = 2;
    iface(f, "eth0").conf.rp_filter = 1;
    BOOST_TEST(diagnose_host(f, VIP, 5060).findings.empty());
}

BOOST_AUTO_TEST_CASE(unreadable_sysctls_are_not_checked_not_guessed) {
    auto f = good_v4();
    iface(f, "eth0").conf = {};
    auto r = diagnose_host(f, VIP, 5060);
    BOOST_TEST(r.findings.empty());
    BOOST_REQUIRE(r.not_checked.size() == 2u);
    BOOST_TEST(contains(r.not_checked[0], "eth0"));
    BOOST_TEST(r.observed["interfaces"].at(1)["conf"]["rp_filter"].get() != nullptr);
    BOOST_TEST(!r.observed["interfaces"].at(1)["conf"]["rp_filter"].is_integer());
}

BOOST_AUTO_TEST_CASE(wildcard_socket_only) {
    auto f = good_v4();
    f.udp.erase(f.udp.begin());
    auto r = diagnose_host(f, VIP, 5060);
    BOOST_TEST(ids(r) == (Ids{"dsr-no-vip-socket"}));
    const auto& m = finding(r, "dsr-no-vip-socket");
    BOOST_TEST(contains(m.evidence, "0.0.0.0:5060"));
    BOOST_TEST(contains(m.evidence, "no socket is bound to 203.0.113.1:5060"));
    // An IPv6 wildcard socket does not help either.
    f.udp = {{host("::", 5060), false}};
    BOOST_TEST(ids(diagnose_host(f, VIP, 5060)) == (Ids{"dsr-no-vip-socket"}));
}

BOOST_AUTO_TEST_CASE(nothing_listening_on_the_sip_port) {
    auto f = good_v4();
    f.udp = {{host("203.0.113.1", 5080), false}, {host("10.0.0.5", 5060), true}};
    auto r = diagnose_host(f, VIP, 5060);
    BOOST_TEST(ids(r) == (Ids{"dsr-no-vip-socket"}));
    BOOST_TEST(
        contains(finding(r, "dsr-no-vip-socket").evidence, "nothing listens on UDP port 5060"));
    // The same sockets are right for --sip-port 5080.
    BOOST_TEST(diagnose_host(f, VIP, 5080).findings.empty());
}

BOOST_AUTO_TEST_CASE(a_v4_mapped_socket_on_the_vip_counts) {
    auto f = good_v4();
    f.udp = {{host("::ffff:203.0.113.1", 5060), false}};
    BOOST_TEST(diagnose_host(f, VIP, 5060).findings.empty());
}

BOOST_AUTO_TEST_CASE(ipv6_vip_on_lo_as_128) {
    const SockAddr vip6 = host("2001:db8::1");
    HostFacts f = good_v4();
    f.all = {0, 0, 1}; // IPv4 sysctls do not apply to an IPv6 VIP
    iface(f, "eth0").conf = {0, 0, 1};
    iface(f, "lo").addresses.push_back({vip6, 128});
    f.udp = {{host("2001:db8::1", 5060), false}, {host("::", 5060), false}};
    auto r = diagnose_host(f, vip6, 5060);
    BOOST_TEST(r.findings.empty());
    BOOST_REQUIRE(r.not_checked.size() == 2u);
    BOOST_TEST(contains(r.not_checked[0], "IPv4 only"));
    BOOST_TEST(r.observed["vip"].as_string().value_or("") == "2001:db8::1");

    iface(f, "lo").addresses.back().prefix_len = 64;
    r = diagnose_host(f, vip6, 5060);
    BOOST_TEST(ids(r) == (Ids{"dsr-vip-netmask"}));
    BOOST_TEST(contains(finding(r, "dsr-vip-netmask").fix, "ip addr add 2001:db8::1/128 dev lo"));

    iface(f, "lo").addresses.pop_back();
    f.udp = {{host("::", 5060), false}};
    BOOST_TEST(ids(diagnose_host(f, vip6, 5060)) == (Ids{"dsr-vip-missing", "dsr-no-vip-socket"}));
}

BOOST_AUTO_TEST_CASE(arp_probe_answers) {
    auto f = good_v4();
    f.arp = diag::ArpProbeResult{"eth0", 3, {}};
    auto r = diagnose_host(f, VIP, 5060);
    BOOST_TEST(ids(r).empty());
    BOOST_TEST(ids(r, Severity::warning) == (Ids{"dsr-arp-no-answer"}));
    BOOST_TEST(r.exit_status() == 0);
    BOOST_TEST(r.not_checked.empty());
    BOOST_TEST(r.observed["arp_probe"]["requests"].as_integer().value_or(0) == 3);

    f.arp->macs = {"02:77:00:00:00:01"};
    r = diagnose_host(f, VIP, 5060);
    BOOST_TEST(ids(r).empty());
    BOOST_TEST(ids(r, Severity::info) == (Ids{"dsr-arp-answer"}));
    BOOST_TEST(contains(finding(r, "dsr-arp-answer").evidence, "02:77:00:00:00:01"));

    f.arp->macs = {"02:77:00:00:00:01", "02:77:00:00:00:11"};
    r = diagnose_host(f, VIP, 5060);
    BOOST_TEST(ids(r) == (Ids{"dsr-arp-conflict"}));
    const auto& m = finding(r, "dsr-arp-conflict");
    BOOST_TEST(contains(m.evidence, "02:77:00:00:00:01, 02:77:00:00:00:11"));
    BOOST_TEST(r.observed["arp_probe"]["macs"].size() == 2u);
}

BOOST_AUTO_TEST_CASE(several_findings_at_once_are_all_reported) {
    auto f = good_v4();
    iface(f, "lo").addresses.erase(iface(f, "lo").addresses.begin() + 1);
    f.all = {0, 0, 1};
    iface(f, "eth0").conf = {0, 0, 1};
    f.udp = {{host("0.0.0.0", 5060), false}};
    BOOST_TEST(ids(diagnose_host(f, VIP, 5060)) ==
               (Ids{"dsr-vip-missing", "dsr-arp-ignore", "dsr-arp-announce", "dsr-rp-filter",
                    "dsr-no-vip-socket"}));
}

// /proc/net/udp prints each 32-bit word of an address as the hex of its value
// in this host's byte order; the lines below are from a little-endian host.
BOOST_AUTO_TEST_CASE(proc_net_udp_lines) {
    if constexpr (std::endian::native != std::endian::little) {
        BOOST_TEST_MESSAGE("big-endian host: the sample lines are little-endian");
        return;
    }
    const char* v4 =
        "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  "
        "timeout inode ref pointer drops            \n"
        "  120: 017100CB:13C4 00000000:0000 07 00000000:00000000 00:00000000 00000000     0   "
        "     0 41234 2 0000000000000000 0        \n"
        "  120: 00000000:13C4 00000000:0000 07 00000000:00000000 00:00000000 00000000     0   "
        "     0 41235 2 0000000000000000 0        \n"
        "  307: 0B4D0A0A:13CD 0C4D0A0A:13CD 01 00000000:00000000 00:00000000 00000000     0   "
        "     0 41236 2 0000000000000000 0        \n";
    auto r = diag::parse_proc_net_udp(v4, AF_INET);
    BOOST_REQUIRE_MESSAGE(r.ok(), why(r));
    BOOST_REQUIRE(r->size() == 3u);
    BOOST_TEST((*r)[0].local.str() == "203.0.113.1:5060");
    BOOST_TEST(!(*r)[0].connected);
    BOOST_TEST((*r)[1].local.str() == "0.0.0.0:5060");
    BOOST_TEST((*r)[2].local.str() == "10.10.77.11:5069");
    BOOST_TEST((*r)[2].connected);

    const char* v6 =
        "  sl  local_address                         remote_address                        st "
        "tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n"
        "  50: 00000000000000000000000000000000:13C4 00000000000000000000000000000000:0000 07 "
        "00000000:00000000 00:00000000 00000000     0        0 5001 2 0000000000000000 0\n"
        "  51: B80D0120000000000000000001000000:13C4 00000000000000000000000000000000:0000 07 "
        "00000000:00000000 00:00000000 00000000     0        0 5002 2 0000000000000000 0\n"
        "  52: 0000000000000000FFFF0000017100CB:13C4 00000000000000000000000000000000:0000 07 "
        "00000000:00000000 00:00000000 00000000     0        0 5003 2 0000000000000000 0\n";
    auto r6 = diag::parse_proc_net_udp(v6, AF_INET6);
    BOOST_REQUIRE_MESSAGE(r6.ok(), why(r6));
    BOOST_REQUIRE(r6->size() == 3u);
    BOOST_TEST((*r6)[0].local.str() == "[::]:5060");
    BOOST_TEST((*r6)[1].local.str() == "[2001:db8::1]:5060");
    BOOST_TEST((*r6)[2].local.unmapped().str() == "203.0.113.1:5060");
}

BOOST_AUTO_TEST_CASE(proc_net_udp_header_only_and_bad_lines) {
    auto empty = diag::parse_proc_net_udp("   sl  local_address rem_address   st\n", AF_INET);
    BOOST_REQUIRE(empty.ok());
    BOOST_TEST(empty->empty());
    auto bad = diag::parse_proc_net_udp("header\n  1: 0100007G:13C4 00000000:0000 07\n", AF_INET);
    BOOST_REQUIRE(!bad.ok());
    BOOST_TEST(contains(bad.error().message, "line 2"));
    BOOST_TEST(!diag::parse_proc_net_udp("header\n  1: 0100007F:13C4\n", AF_INET).ok());
    // An IPv4 address where an IPv6 one is expected.
    BOOST_TEST(
        !diag::parse_proc_net_udp("header\n  1: 0100007F:13C4 00000000:0000 07\n", AF_INET6).ok());
}

BOOST_AUTO_TEST_CASE(sysctl_values_and_keys) {
    BOOST_TEST(diag::parse_sysctl_int("1\n").value_or(-9) == 1);
    BOOST_TEST(diag::parse_sysctl_int(" 2 ").value_or(-9) == 2);
    BOOST_TEST(diag::parse_sysctl_int("-1\n").value_or(-9) == -1);
    BOOST_TEST(!diag::parse_sysctl_int("").has_value());
    BOOST_TEST(!diag::parse_sysctl_int("on\n").has_value());
    BOOST_TEST(!diag::parse_sysctl_int("1 2\n").has_value());
    BOOST_TEST(diag::conf_key("eth0", "arp_ignore") == "net.ipv4.conf.eth0.arp_ignore");
    BOOST_TEST(diag::conf_key("eth0.100", "rp_filter") == "net.ipv4.conf.eth0/100.rp_filter");
}

BOOST_AUTO_TEST_SUITE_END()
