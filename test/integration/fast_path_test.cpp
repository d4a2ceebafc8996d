// rtprelayd's kernel fast path against the real kernel (rtprelayd(8), Kernel
// fast path): two network namespaces of the test's own joined by a veth
// pair, rtprelayd with "media_fast_path": "required" in one, the phones'
// sockets in the other (made there by switching this thread's namespace
// for the moment of their creation), offers and answers over rtprelayd's
// control socket. Each case sends enough packets after latching that the
// kernel must carry them, and checks what userspace would have done: the
// payload and the relay's source port at the far end, the counters of
// query and stats (kernel and socket packets together), re-offers,
// rtcp-mux, delete and the media timeout, and that no map entry outlives
// its call. Needs root; skipped with the reason otherwise.
#include "harness.hpp"
#include "udp_peer.hpp"

#include "control/control_client.hpp"
#include "media/sdp.hpp"

#include <boost/test/unit_test.hpp>

#include <csignal>
#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

using namespace rtfarm;
using namespace rtfarm::test;

namespace {

const char* PEER_IP = "10.99.0.1";
const char* RELAY_IP = "10.99.0.2";
const char* STRANGER_IP = "10.99.0.3";

// iproute2's ip(8), by its path (run() takes one).
std::string ip_tool() {
    for (const char* p : {"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"})
        if (::access(p, X_OK) == 0)
            return p;
    return "ip";
}
const std::string IP = ip_tool();

std::string requires_netns() {
    if (::geteuid() != 0)
        return "not root (network namespaces, XDP)";
    if (run({IP, "netns", "list"}).status != 0)
        return "no `ip netns` (iproute2)";
    return "";
}

// Runs `argv`, failing the test with its output when it fails.
void must(std::vector<std::string> argv) {
    auto r = run(argv);
    std::string cmd;
    for (const auto& a : argv)
        cmd += a + " ";
    BOOST_REQUIRE_MESSAGE(r.status == 0, cmd << ": " << r.out << r.err);
}

// This thread in namespace `name` while the object lives.
class InNetns {
public:
    explicit InNetns(const std::string& name)
        : m_home(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)) {
        UniqueFd there(::open(("/var/run/netns/" + name).c_str(), O_RDONLY | O_CLOEXEC));
        BOOST_REQUIRE(m_home.valid() && there.valid());
        BOOST_REQUIRE(::setns(there.get(), CLONE_NEWNET) == 0);
    }
    ~InNetns() { (void)::setns(m_home.get(), CLONE_NEWNET); }
    InNetns(const InNetns&) = delete;
    InNetns& operator=(const InNetns&) = delete;

private:
    UniqueFd m_home;
};

// The two namespaces, the veth pair, and rtprelayd in the relay's.
struct VethRelay {
    explicit VethRelay(const std::string& extra_cluster = "") {
        const std::string tag = std::to_string(::getpid());
        relay_ns = "rtfp" + tag + "r";
        peer_ns = "rtfp" + tag + "p";
        must({IP, "netns", "add", relay_ns});
        must({IP, "netns", "add", peer_ns});
        must({IP, "link", "add", "fpr" + tag, "type", "veth", "peer", "name", "fpp" + tag});
        must({IP, "link", "set", "fpr" + tag, "netns", relay_ns, "name", "eth0"});
        must({IP, "link", "set", "fpp" + tag, "netns", peer_ns, "name", "eth0"});
        must({IP, "-n", relay_ns, "addr", "add", std::string(RELAY_IP) + "/24", "dev", "eth0"});
        must({IP, "-n", peer_ns, "addr", "add", std::string(PEER_IP) + "/24", "dev", "eth0"});
        must({IP, "-n", peer_ns, "addr", "add", std::string(STRANGER_IP) + "/24", "dev", "eth0"});
        for (const auto& ns : {relay_ns, peer_ns}) {
            must({IP, "-n", ns, "link", "set", "lo", "up"});
            must({IP, "-n", ns, "link", "set", "eth0", "up"});
        }
        // The XDP program's next-hop lookup answers only on an interface
        // that forwards (rtprelayd(8)).
        must({IP, "netns", "exec", relay_ns, "sysctl", "-q", "-w",
              "net.ipv4.conf.eth0.forwarding=1"});
        dir.write("cluster.json",
                  std::string("{\"cluster\": {\"name\": \"fp\", \"wan_ip\": \"") + RELAY_IP + "\"" +
                      extra_cluster + "},\n \"members\": {\"f1\": {\"role\": \"standalone\", " +
                      "\"address\": \"" + RELAY_IP + "\", \"sip_listen\": [\"" + RELAY_IP +
                      ":5060\"], \"media_ports\": \"20000-20099\", \"control\": \"" +
                      dir.file("f1.sock") + "\", \"media_control\": \"" +
                      dir.file("f1-media.sock") + "\", \"media_fast_path\": \"required\"}}}\n");
        process.emplace(dir, "f1-media",
                        std::vector<std::string>{IP, "netns", "exec", relay_ns,
                                                 bin_path("rtprelayd"), "--config",
                                                 dir.file("cluster.json"), "--member", "f1"});
        BOOST_REQUIRE_MESSAGE(process->wait_ready(), process->log());
        auto c = control::ControlClient::connect(dir.file("f1-media.sock"), scaled(2000ms));
        BOOST_REQUIRE(c.ok());
        ctl.emplace(std::move(c.value()));
    }
    ~VethRelay() {
        // The calls go first (a SIGTERM drains: rtprelayd(8)), and with
        // them every entry of the kernel's map.
        if (ctl) {
            auto open = ctl->call("list", json::Json::object(), scaled(3000ms));
            if (open.ok())
                for (size_t i = 0; i < open.value()["sessions"].size(); ++i)
                    (void)ctl->call("delete",
                                    json::Json::object().set(
                                        "call_id", open.value()["sessions"].at(i)["call_id"]),
                                    scaled(3000ms));
            auto st = ctl->call("stats", json::Json::object(), scaled(3000ms));
            BOOST_TEST((st.ok() &&
                        st.value()["service"]["fast_path"]["kernel_entries"].as_integer() == 0));
        }
        ctl.reset();
        if (process) {
            process->signal(SIGTERM);
            BOOST_TEST(process->wait_exit().value_or(-1) == 0);
            BOOST_TEST(unexpected_errors(process->log()).empty(), process->log());
        }
        process.reset();
        (void)run({IP, "netns", "del", relay_ns});
        (void)run({IP, "netns", "del", peer_ns});
    }

    // A socket of the peers' namespace.
    UdpPeer peer(uint16_t port, const char* ip = PEER_IP) {
        InNetns there(peer_ns);
        return UdpPeer(std::string(ip) + ":" + std::to_string(port));
    }
    json::Json call(const char* op, json::Json args = json::Json::object()) {
        auto r = ctl->call(op, std::move(args), scaled(3000ms));
        BOOST_REQUIRE_MESSAGE(r.ok(), op << ": " << (r.ok() ? "" : r.error().message));
        return r.value();
    }
    json::Json sdp_op(const char* op, const std::string& id, const std::string& to_tag,
                      const std::string& body) {
        auto args = json::Json::object().set("call_id", id).set("from_tag", "a").set("sdp", body);
        if (!to_tag.empty())
            args.set("to_tag", to_tag);
        return call(op, std::move(args));
    }
    json::Json fast_path() { return call("stats")["service"]["fast_path"]; }

    TempDir dir;
    std::string relay_ns;
    std::string peer_ns;
    std::optional<Process> process;
    std::optional<control::ControlClient> ctl;
};

std::string sdp(uint16_t port, unsigned version, bool mux = false) {
    return std::string("v=0\r\no=- 1 ") + std::to_string(version) + " IN IP4 " + PEER_IP +
           "\r\ns=-\r\nc=IN IP4 " + PEER_IP + "\r\nt=0 0\r\nm=audio " + std::to_string(port) +
           " RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n" + (mux ? "a=rtcp-mux\r\n" : "") +
           "a=sendrecv\r\n";
}

// The relay's address for the party that got `result`: m= line 0's RTP.
SockAddr relay_port(const json::Json& result) {
    auto d = media::parse_sdp(result["sdp"].as_string().value_or(""));
    BOOST_REQUIRE(d.ok() && !d->media.empty());
    return d->media[0].rtp_peer;
}

// RTP, payload type 0 (the second byte: never RTCP's 192-223 on a mux port).
std::string rtp(uint32_t seq) {
    std::string p(172, '\0');
    p[0] = static_cast<char>(0x80);
    for (size_t i = 2; i < p.size(); ++i)
        p[i] = static_cast<char>((i * 7 + seq * 13) & 0xff);
    return p;
}
std::string rtcp_rr(uint32_t seq) {
    std::string p(32, static_cast<char>(seq & 0xff));
    p[0] = static_cast<char>(0x81);
    p[1] = static_cast<char>(201);
    return p;
}

// Sends `n` packets from `from` to `to`, each required to arrive at `at`
// intact from `source`; returns how many did.
int relay_n(UdpPeer& from, const SockAddr& to, UdpPeer& at, const SockAddr& source, int n,
            bool rtcp = false) {
    int ok = 0;
    for (int i = 0; i < n; ++i) {
        const std::string p = rtcp ? rtcp_rr(uint32_t(i)) : rtp(uint32_t(i));
        from.send(to, p);
        auto got = at.recv(1000ms);
        if (got && got->bytes == p && got->source.str() == source.str())
            ++ok;
    }
    return ok;
}

long long num(const json::Json& j) {
    return j.as_integer().value_or(-1);
}

} // namespace

BOOST_AUTO_TEST_SUITE(fast_path)

BOOST_AUTO_TEST_CASE(latched_media_goes_through_the_kernel_counted_as_ever,
                     RTFARM_REQUIRES(requires_netns)) {
    VethRelay r;
    UdpPeer caller = r.peer(41000), callee = r.peer(42000);
    SockAddr to_callee = relay_port(r.sdp_op("offer", "c1", "", sdp(41000, 1)));
    SockAddr to_caller = relay_port(r.sdp_op("answer", "c1", "b", sdp(42000, 1)));
    BOOST_REQUIRE_EQUAL(relay_n(caller, to_caller, callee, to_callee, 200), 200);
    BOOST_REQUIRE_EQUAL(relay_n(callee, to_callee, caller, to_caller, 200), 200);
    auto fp = r.fast_path();
    BOOST_TEST(fp["path"].as_string().value_or("") == "kernel");
    // Each side's first packet is learned in userspace; the rest is the
    // kernel's.
    BOOST_TEST(num(fp["packets"]) >= 398);
    BOOST_TEST(num(fp["entries"]) == 2);
    BOOST_TEST(num(fp["kernel_entries"]) == 2);
    auto q = r.call("query", json::Json::object().set("call_id", "c1"))["streams"].at(0);
    BOOST_TEST(num(q["caller"]["packets"]) == 200);
    BOOST_TEST(num(q["callee"]["packets"]) == 200);
    BOOST_TEST(num(q["caller"]["bytes"]) == 200 * 172);
    BOOST_TEST(num(r.call("stats")["service"]["packets"]) == 400);
    // Delete: the entries go with the call; the ports take nothing more.
    r.call("delete", json::Json::object().set("call_id", "c1"));
    fp = r.fast_path();
    BOOST_TEST(num(fp["entries"]) == 0);
    BOOST_TEST(num(fp["kernel_entries"]) == 0);
    caller.send(to_caller, rtp(1));
    BOOST_TEST(!callee.recv(300ms).has_value());
}

BOOST_AUTO_TEST_CASE(a_reoffer_moves_the_kernels_destination_first,
                     RTFARM_REQUIRES(requires_netns)) {
    VethRelay r;
    UdpPeer caller = r.peer(41000), callee = r.peer(42000), moved = r.peer(41100);
    SockAddr to_callee = relay_port(r.sdp_op("offer", "c1", "", sdp(41000, 1)));
    SockAddr to_caller = relay_port(r.sdp_op("answer", "c1", "b", sdp(42000, 1)));
    BOOST_REQUIRE_EQUAL(relay_n(caller, to_caller, callee, to_callee, 50), 50);
    BOOST_REQUIRE_EQUAL(relay_n(callee, to_callee, caller, to_caller, 50), 50);
    // A re-INVITE from the caller names another port: the callee's media
    // goes there at once (the kernel's entry replaced before the answer),
    // and the caller's media from there is learned, then the kernel's.
    r.sdp_op("offer", "c1", "b", sdp(41100, 2));
    r.sdp_op("answer", "c1", "b", sdp(42000, 1));
    BOOST_TEST(relay_n(callee, to_callee, moved, to_caller, 50) == 50);
    BOOST_TEST(!caller.recv(100ms).has_value());
    BOOST_TEST(relay_n(moved, to_caller, callee, to_callee, 50) == 50);
    auto fp = r.fast_path();
    BOOST_TEST(num(fp["entries"]) == 2);
    BOOST_TEST(num(fp["kernel_entries"]) == 2);
    BOOST_TEST(num(fp["packets"]) >= 190);
    auto q = r.call("query", json::Json::object().set("call_id", "c1"))["streams"].at(0);
    BOOST_TEST(q["caller"]["learned"].as_string().value_or("") == std::string(PEER_IP) + ":41100");
    BOOST_TEST(num(q["caller"]["packets"]) == 100);
    BOOST_TEST(num(q["callee"]["packets"]) == 100);
}

BOOST_AUTO_TEST_CASE(rtcp_mux_rtcp_rides_the_kernel_too, RTFARM_REQUIRES(requires_netns)) {
    VethRelay r;
    UdpPeer caller = r.peer(41000), callee = r.peer(42000);
    SockAddr to_callee = relay_port(r.sdp_op("offer", "c1", "", sdp(41000, 1, true)));
    SockAddr to_caller = relay_port(r.sdp_op("answer", "c1", "b", sdp(42000, 1, true)));
    BOOST_REQUIRE_EQUAL(relay_n(caller, to_caller, callee, to_callee, 20), 20);
    BOOST_REQUIRE_EQUAL(relay_n(callee, to_callee, caller, to_caller, 20), 20);
    BOOST_TEST(relay_n(caller, to_caller, callee, to_callee, 30, true) == 30);
    BOOST_TEST(relay_n(callee, to_callee, caller, to_caller, 30, true) == 30);
    auto q = r.call("query", json::Json::object().set("call_id", "c1"))["streams"].at(0);
    BOOST_TEST(num(q["caller"]["rtcp_packets"]) == 30);
    BOOST_TEST(num(q["callee"]["rtcp_packets"]) == 30);
    // Of 100, the first RTP and the first RTCP of each side were learned
    // in userspace.
    BOOST_TEST(num(r.fast_path()["packets"]) >= 96);
}

BOOST_AUTO_TEST_CASE(kernel_packets_keep_a_call_and_silence_ends_it,
                     RTFARM_REQUIRES(requires_netns)) {
    VethRelay r(", \"media_timeout\": 2");
    UdpPeer caller = r.peer(41000), callee = r.peer(42000);
    SockAddr to_callee = relay_port(r.sdp_op("offer", "c1", "", sdp(41000, 1)));
    SockAddr to_caller = relay_port(r.sdp_op("answer", "c1", "b", sdp(42000, 1)));
    // 4 s of media only the kernel sees (after the first packets), then
    // silence: the call lives through the first and ends in the second.
    const auto until = std::chrono::steady_clock::now() + 4s;
    int sent = 0, ok = 0;
    while (std::chrono::steady_clock::now() < until) {
        ok += relay_n(caller, to_caller, callee, to_callee, 1);
        ok += relay_n(callee, to_callee, caller, to_caller, 1);
        sent += 2;
        std::this_thread::sleep_for(20ms);
    }
    BOOST_TEST(ok == sent);
    BOOST_TEST(num(r.call("stats")["service"]["sessions"]) == 1);
    BOOST_TEST(num(r.fast_path()["packets"]) >= sent - 2);
    bool ended = false;
    for (int i = 0; i < 100 && !ended; ++i) {
        std::this_thread::sleep_for(100ms);
        ended = num(r.call("stats")["service"]["sessions"]) == 0;
    }
    BOOST_TEST(ended);
    BOOST_TEST(num(r.call("stats")["service"]["expired"]) == 1);
    BOOST_TEST(num(r.fast_path()["kernel_entries"]) == 0);
}

// A stranger's packets to a port whose direction the kernel holds miss the
// map (its key is the latched source) and meet the socket, which drops
// them in strict mode: nothing reaches the callee, the drops are counted.
BOOST_AUTO_TEST_CASE(a_stranger_never_rides_the_kernel, RTFARM_REQUIRES(requires_netns)) {
    VethRelay r(", \"media_strict\": true");
    UdpPeer caller = r.peer(41000), callee = r.peer(42000), stranger = r.peer(41000, STRANGER_IP);
    SockAddr to_callee = relay_port(r.sdp_op("offer", "c1", "", sdp(41000, 1)));
    SockAddr to_caller = relay_port(r.sdp_op("answer", "c1", "b", sdp(42000, 1)));
    BOOST_REQUIRE_EQUAL(relay_n(caller, to_caller, callee, to_callee, 20), 20);
    BOOST_REQUIRE_EQUAL(relay_n(callee, to_callee, caller, to_caller, 20), 20);
    for (uint32_t i = 0; i < 30; ++i)
        stranger.send(to_caller, rtp(1000 + i));
    BOOST_TEST(!callee.recv(300ms).has_value());
    auto q = r.call("query", json::Json::object().set("call_id", "c1"))["streams"].at(0);
    BOOST_TEST(num(q["caller"]["dropped"]["stranger"]) == 30);
    BOOST_TEST(num(q["caller"]["packets"]) == 20);
    // The party's media goes on through the kernel.
    BOOST_TEST(relay_n(caller, to_caller, callee, to_callee, 20) == 20);
}

BOOST_AUTO_TEST_SUITE_END()
