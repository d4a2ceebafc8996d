// rtprelayd's media ops against the real daemon: a one-member loopback
// cluster (cluster wan_ip 127.0.0.1, the member's media_ports and
// media_control), offers and answers over the control socket, and UDP
// phones on 127.0.0.1 (a stranger on 127.0.0.2) sending RTP and RTCP to
// the addresses the rewritten SDP names. Every wait is a bounded poll of a
// socket or of the daemon's counters; the daemon's log must hold no
// unexpected level=error.
#include "cluster_fixture.hpp"
#include "harness.hpp"
#include "udp_peer.hpp"

#include "control/control_client.hpp"
#include "media/sdp.hpp"

#include <boost/test/unit_test.hpp>

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

using namespace rtfarm;
using namespace rtfarm::test;

namespace {

// A phone: RTP and RTCP sockets of its own; its SDP names both (a=rtcp).
struct Phone {
    UdpPeer rtp{"127.0.0.1:0"};
    UdpPeer rtcp{"127.0.0.1:0"};
};

// One m= line of a phone's SDP.
struct M {
    SockAddr at;       // c= and the m= port
    uint16_t rtcp = 0; // a=rtcp:PORT, 0: none
    bool mux = false;
};

M audio(const Phone& p) {
    M m;
    m.at = p.rtp.address();
    m.rtcp = p.rtcp.address().port();
    return m;
}
M audio_at(const UdpPeer& rtp, const UdpPeer& rtcp) {
    M m;
    m.at = rtp.address();
    m.rtcp = rtcp.address().port();
    return m;
}
M mux(const UdpPeer& p) {
    M m;
    m.at = p.address();
    m.mux = true;
    return m;
}

std::string sdp(const std::string& user, unsigned version, const std::vector<M>& ms) {
    std::string s = "v=0\r\no=" + user + " 1000 " + std::to_string(version) +
                    " IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n";
    for (const M& m : ms) {
        s += "m=audio " + std::to_string(m.at.port()) + " RTP/AVP 0 8\r\n";
        s += "c=IN IP4 " + m.at.host() + "\r\n";
        s += "a=rtpmap:0 PCMU/8000\r\n";
        if (m.rtcp != 0)
            s += "a=rtcp:" + std::to_string(m.rtcp) + "\r\n";
        if (m.mux)
            s += "a=rtcp-mux\r\n";
        s += "a=sendrecv\r\n";
    }
    return s;
}

// An RTP-looking packet whose payload differs with `seq`.
std::string rtp(uint16_t seq, size_t size = 172) {
    std::string p(size, '\0');
    const uint8_t head[12] = {0x80, 0, uint8_t(seq >> 8), uint8_t(seq), 0, 0, 0, 160, 1, 2, 3, 4};
    for (size_t i = 0; i < size; ++i)
        p[i] = static_cast<char>(i < 12 ? head[i] : (i * 13 + seq) & 0xff);
    return p;
}

// An RTCP receiver report of `size` bytes.
std::string rtcp(char tag, size_t size = 32) {
    std::string p(size, tag);
    p[0] = static_cast<char>(0x81);
    p[1] = static_cast<char>(201);
    return p;
}

long long num(const json::Json& j) {
    return j.as_integer().value_or(-1);
}
std::string str(const json::Json& j) {
    return j.as_string().value_or("");
}

// Where the party that got `result` (an offer's or an answer's) sends, per
// the SDP in it: m= line 0's RTP and RTCP addresses.
struct Target {
    SockAddr rtp;
    SockAddr rtcp;
};
Target target(const json::Json& result) {
    auto d = media::parse_sdp(str(result["sdp"]));
    BOOST_REQUIRE_MESSAGE(d.ok(), str(result["sdp"]));
    BOOST_REQUIRE(!d->media.empty());
    return {d->media[0].rtp_peer, d->media[0].rtcp_peer};
}

// The descriptors the process has open now, as "FD -> TARGET", sorted.
std::vector<std::string> fds_of(pid_t pid) {
    std::string path = "/proc/" + std::to_string(pid) + "/fd";
    DIR* d = ::opendir(path.c_str());
    BOOST_REQUIRE_MESSAGE(d != nullptr, path);
    std::vector<std::string> out;
    while (dirent* e = ::readdir(d)) {
        if (e->d_name[0] == '.')
            continue;
        char target[256] = {};
        ssize_t n = ::readlink((path + "/" + e->d_name).c_str(), target, sizeof target - 1);
        out.push_back(std::string(e->d_name) + " -> " + (n > 0 ? target : "?"));
    }
    ::closedir(d);
    std::sort(out.begin(), out.end());
    return out;
}

std::string lines(const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v)
        s += "\n  " + x;
    return s;
}

// Polls `done` every few ms until it holds, at most a scaled `timeout`.
bool eventually(const std::function<bool()>& done, std::chrono::milliseconds timeout = 3000ms) {
    auto deadline = std::chrono::steady_clock::now() + scaled(timeout);
    for (;;) {
        if (done())
            return true;
        if (std::chrono::steady_clock::now() > deadline)
            return false;
        std::this_thread::sleep_for(5ms);
    }
}

// rtprelayd for member f1 of a one-member loopback cluster.
struct Relayd {
    explicit Relayd(const std::string& cluster_extra = "", const std::string& media_ports = "",
                    const std::string& media_allow = "[\"127.0.0.0/8\"]")
        : lab(1) {
        lab.cluster.extra = cluster_extra;
        lab.cluster.media_allow = media_allow;
        if (!media_ports.empty())
            lab.cluster.members[0].media_ports = media_ports;
        lab.write();
        process = &lab.start("rtprelayd", "f1");
        ctl.emplace(connect());
    }
    ~Relayd() { BOOST_TEST(unexpected_errors(process->log()).empty(), process->log()); }

    control::ControlClient connect() {
        auto path = lab.cluster.media_control(lab.dir, "f1");
        auto c = control::ControlClient::connect(path, scaled(2000ms));
        BOOST_REQUIRE_MESSAGE(c.ok(),
                              "connect " << path << ": " << (c.ok() ? "" : c.error().message));
        return std::move(c.value());
    }
    Result<json::Json> try_call(const char* op, json::Json args = json::Json::object()) {
        return ctl->call(op, std::move(args), scaled(3000ms));
    }
    json::Json call(const char* op, json::Json args = json::Json::object()) {
        auto r = try_call(op, std::move(args));
        BOOST_REQUIRE_MESSAGE(r.ok(), op << ": " << (r.ok() ? "" : r.error().message));
        return r.value();
    }
    Error call_error(const char* op, json::Json args = json::Json::object()) {
        auto r = try_call(op, std::move(args));
        BOOST_REQUIRE_MESSAGE(!r.ok(), op << " was taken");
        return r.error();
    }
    json::Json offer(const std::string& id, const std::string& from, const std::string& body,
                     const std::string& to = "") {
        auto args = json::Json::object().set("call_id", id).set("from_tag", from).set("sdp", body);
        if (!to.empty())
            args.set("to_tag", to);
        return call("offer", std::move(args));
    }
    json::Json answer(const std::string& id, const std::string& from, const std::string& to,
                      const std::string& body) {
        return call("answer", json::Json::object()
                                  .set("call_id", id)
                                  .set("from_tag", from)
                                  .set("to_tag", to)
                                  .set("sdp", body));
    }
    json::Json query(const std::string& id) {
        return call("query", json::Json::object().set("call_id", id));
    }
    json::Json remove(const std::string& id) {
        return call("delete", json::Json::object().set("call_id", id));
    }
    json::Json stats() { return call("stats"); }
    json::Json service() { return stats()["service"]; }
    // A counter of m= line 0's side `leg` ("caller", "callee") of a call.
    json::Json side(const std::string& id, const char* leg) {
        auto streams = query(id)["streams"];
        BOOST_REQUIRE(streams.size() >= 1u);
        return streams.at(0)[leg];
    }

    LoopbackLab lab;
    Process* process = nullptr;
    std::optional<control::ControlClient> ctl;
};

// Requires the next datagram at `at` to be `bytes` from `source`.
void expect(UdpPeer& at, const std::string& bytes, const SockAddr& source) {
    auto got = at.recv(3000ms);
    BOOST_REQUIRE_MESSAGE(got.has_value(), "nothing arrived at " << at.address().str());
    BOOST_TEST(got->bytes == bytes);
    BOOST_TEST(got->source.str() == source.str());
}
// Nothing more at `at` within a short while (what was due has come already).
void expect_none(UdpPeer& at) {
    auto got = at.recv(100ms);
    BOOST_TEST(!got.has_value(), "unexpected datagram at " << at.address().str());
}

} // namespace

BOOST_AUTO_TEST_SUITE(rtprelayd)

BOOST_AUTO_TEST_CASE(offer_answer_then_rtp_and_rtcp_both_ways) {
    Relayd d;
    Phone a, b;
    auto o = d.offer("call-1", "ta", sdp("alice", 1, {audio(a)}));
    BOOST_TEST(str(o["member"]) == "f1");
    BOOST_TEST(str(o["address"]) == "127.0.0.1");
    BOOST_TEST(str(o["to"]) == "callee");
    BOOST_TEST(o["created"].as_bool().value_or(false));
    BOOST_REQUIRE(o["ports"].size() == 1u);
    const long long callee_port = num(o["ports"].at(0)["rtp"]);
    BOOST_TEST(callee_port >= 21000);
    BOOST_TEST(callee_port <= 21999);
    BOOST_TEST(num(o["ports"].at(0)["rtcp"]) == callee_port + 1);
    auto an = d.answer("call-1", "ta", "tb", sdp("bob", 1, {audio(b)}));
    BOOST_TEST(str(an["to"]) == "caller");
    BOOST_TEST(!an["created"].as_bool().value_or(true));
    const Target to_callee = target(o); // where the callee sends
    const Target to_caller = target(an);
    BOOST_TEST(to_callee.rtp.str() == "127.0.0.1:" + std::to_string(callee_port));
    BOOST_TEST(to_callee.rtcp.port() == to_callee.rtp.port() + 1);
    BOOST_TEST(to_caller.rtcp.port() == to_caller.rtp.port() + 1);

    // 50 packets each way, every payload intact and in order, each from the
    // relay port the receiver was told.
    for (uint16_t seq = 1; seq <= 50; ++seq)
        a.rtp.send(to_caller.rtp, rtp(seq));
    for (uint16_t seq = 1; seq <= 50; ++seq)
        expect(b.rtp, rtp(seq), to_callee.rtp);
    for (uint16_t seq = 101; seq <= 150; ++seq)
        b.rtp.send(to_callee.rtp, rtp(seq));
    for (uint16_t seq = 101; seq <= 150; ++seq)
        expect(a.rtp, rtp(seq), to_caller.rtp);
    // RTCP both ways on the RTP + 1 ports.
    a.rtcp.send(to_caller.rtcp, rtcp('a'));
    expect(b.rtcp, rtcp('a'), to_callee.rtcp);
    b.rtcp.send(to_callee.rtcp, rtcp('b', 52));
    expect(a.rtcp, rtcp('b', 52), to_caller.rtcp);
    expect_none(a.rtp);
    expect_none(b.rtp);

    auto q = d.query("call-1");
    BOOST_TEST(str(q["caller_tag"]) == "ta");
    BOOST_TEST(str(q["callee_tag"]) == "tb");
    BOOST_TEST(q["answered"].as_bool().value_or(false));
    auto caller = q["streams"].at(0)["caller"];
    auto callee = q["streams"].at(0)["callee"];
    BOOST_TEST(num(caller["packets"]) == 51);
    BOOST_TEST(num(caller["rtcp_packets"]) == 1);
    BOOST_TEST(num(caller["bytes"]) == 50 * 172 + 32);
    BOOST_TEST(num(callee["packets"]) == 51);
    BOOST_TEST(str(caller["learned"]) == a.rtp.address().str());
    BOOST_TEST(num(callee["local_port"]) == callee_port);
    auto list = d.call("list");
    BOOST_TEST(num(list["count"]) == 1);
    BOOST_TEST(str(list["sessions"].at(0)["call_id"]) == "call-1");

    auto del = d.remove("call-1");
    BOOST_TEST(del["deleted"].as_bool().value_or(false));
    auto s = d.service();
    BOOST_TEST(num(s["sessions"]) == 0);
    BOOST_TEST(num(s["sockets"]) == 0);
    BOOST_TEST(num(s["ports"]["in_use"]) == 0);
    BOOST_TEST(num(s["packets"]) == 102);
}

BOOST_AUTO_TEST_CASE(rtcp_mux_both_sides_on_one_port_each) {
    Relayd d;
    UdpPeer a("127.0.0.1:0"), b("127.0.0.1:0");
    auto o = d.offer("mux-1", "ta", sdp("alice", 1, {mux(a)}));
    BOOST_TEST(num(o["ports"].at(0)["rtcp"]) == 0);
    BOOST_TEST(num(d.service()["ports"]["in_use"]) == 3);
    auto an = d.answer("mux-1", "ta", "tb", sdp("bob", 1, {mux(b)}));
    BOOST_TEST(num(d.service()["ports"]["in_use"]) == 2);
    BOOST_TEST(num(d.service()["sockets"]) == 2);
    const Target to_callee = target(o), to_caller = target(an);
    a.send(to_caller.rtp, rtp(1));
    expect(b, rtp(1), to_callee.rtp);
    a.send(to_caller.rtp, rtcp('x'));
    expect(b, rtcp('x'), to_callee.rtp);
    b.send(to_callee.rtp, rtcp('y'));
    expect(a, rtcp('y'), to_caller.rtp);
    BOOST_TEST(d.side("mux-1", "callee")["rtcp_mux"].as_bool().value_or(false));
}

BOOST_AUTO_TEST_CASE(nat_latching_media_follows_the_real_source) {
    Relayd d;
    Phone a;
    UdpPeer b_sdp("127.0.0.1:0"), b_sdp_rtcp("127.0.0.1:0"); // what the callee announces
    UdpPeer b_nat("127.0.0.1:0");                            // where it really sends from
    auto o = d.offer("nat-1", "ta", sdp("alice", 1, {audio(a)}));
    auto an = d.answer("nat-1", "ta", "tb", sdp("bob", 1, {audio_at(b_sdp, b_sdp_rtcp)}));
    const Target to_callee = target(o), to_caller = target(an);

    // Before the callee sends: to the address its SDP names.
    a.rtp.send(to_caller.rtp, rtp(1));
    expect(b_sdp, rtp(1), to_callee.rtp);
    // Its first packet comes from elsewhere: it reaches the caller, and the
    // caller's media follows it there.
    b_nat.send(to_callee.rtp, rtp(2));
    expect(a.rtp, rtp(2), to_caller.rtp);
    for (uint16_t seq = 3; seq < 8; ++seq) {
        a.rtp.send(to_caller.rtp, rtp(seq));
        expect(b_nat, rtp(seq), to_callee.rtp);
    }
    expect_none(b_sdp);
    auto callee = d.side("nat-1", "callee");
    BOOST_TEST(str(callee["learned"]) == b_nat.address().str());
    BOOST_TEST(str(callee["sends_to"]) == b_nat.address().str());
    BOOST_TEST(str(callee["expected"]) == b_sdp.address().str());
    BOOST_TEST(num(d.service()["latched"]) >= 2);
}

BOOST_AUTO_TEST_CASE(reinvite_relatches_the_caller_to_its_new_port) {
    Relayd d;
    Phone a, a2, b;
    const std::string answer_body = sdp("bob", 1, {audio(b)});
    auto o = d.offer("move-1", "ta", sdp("alice", 1, {audio(a)}));
    auto an = d.answer("move-1", "ta", "tb", answer_body);
    const Target to_callee = target(o), to_caller = target(an);
    a.rtp.send(to_caller.rtp, rtp(1));
    expect(b.rtp, rtp(1), to_callee.rtp);
    b.rtp.send(to_callee.rtp, rtp(2));
    expect(a.rtp, rtp(2), to_caller.rtp);

    // The caller moves to a new port with a new offer: the same relay
    // ports, and the callee's media goes to the new port.
    auto o2 = d.offer("move-1", "ta", sdp("alice", 2, {audio(a2)}), "tb");
    BOOST_TEST(!o2["created"].as_bool().value_or(true));
    BOOST_TEST(target(o2).rtp.str() == to_callee.rtp.str());
    auto an2 = d.answer("move-1", "ta", "tb", answer_body);
    BOOST_TEST(str(an2["sdp"]) == str(an["sdp"]));
    for (uint16_t seq = 3; seq < 6; ++seq) {
        b.rtp.send(to_callee.rtp, rtp(seq));
        expect(a2.rtp, rtp(seq), to_caller.rtp);
    }
    a2.rtp.send(to_caller.rtp, rtp(6));
    expect(b.rtp, rtp(6), to_callee.rtp);
    b.rtp.send(to_callee.rtp, rtp(7));
    expect(a2.rtp, rtp(7), to_caller.rtp);
    expect_none(a.rtp);
    BOOST_TEST(num(d.service()["relatched"]) == 1);
    BOOST_TEST(str(d.side("move-1", "caller")["learned"]) == a2.rtp.address().str());
}

BOOST_AUTO_TEST_CASE(strict_mode_drops_and_counts_strangers) {
    Relayd d("\"media_strict\": true");
    Phone a, b;
    UdpPeer stranger("127.0.0.2:0");
    auto o = d.offer("strict-1", "ta", sdp("alice", 1, {audio(a)}));
    auto an = d.answer("strict-1", "ta", "tb", sdp("bob", 1, {audio(b)}));
    const Target to_callee = target(o), to_caller = target(an);
    BOOST_TEST(d.service()["strict"].as_bool().value_or(false));
    BOOST_TEST(d.side("strict-1", "callee")["strict"].as_bool().value_or(false));

    b.rtp.send(to_callee.rtp, rtp(1));
    expect(a.rtp, rtp(1), to_caller.rtp);
    for (uint16_t seq = 2; seq < 7; ++seq)
        stranger.send(to_callee.rtp, rtp(seq));
    stranger.send(to_caller.rtp, rtp(7));
    BOOST_TEST(eventually([&] {
        return num(d.side("strict-1", "callee")["dropped"]["stranger"]) == 5 &&
               num(d.side("strict-1", "caller")["dropped"]["stranger"]) == 1;
    }));
    expect_none(a.rtp);
    expect_none(b.rtp);
    // The parties still get through.
    b.rtp.send(to_callee.rtp, rtp(8));
    expect(a.rtp, rtp(8), to_caller.rtp);
    a.rtp.send(to_caller.rtp, rtp(9));
    expect(b.rtp, rtp(9), to_callee.rtp);
    BOOST_TEST(num(d.service()["dropped"]["stranger"]) == 6);
}

BOOST_AUTO_TEST_CASE(datagrams_that_are_not_rtp_are_dropped_and_counted) {
    // Issue 16: any UDP payload sent to a relay port used to be delivered to
    // the other party. Only RTP/RTCP version 2, STUN and DTLS pass now.
    Relayd d;
    Phone a, b;
    auto o = d.offer("kind-1", "ta", sdp("alice", 1, {audio(a)}));
    auto an = d.answer("kind-1", "ta", "tb", sdp("bob", 1, {audio(b)}));
    const Target to_callee = target(o), to_caller = target(an);
    a.rtp.send(to_caller.rtp, "INVITE sip:x@example.com SIP/2.0\r\n\r\n");
    a.rtp.send(to_caller.rtp, std::string(40, '\x40')); // RTP version 1
    a.rtcp.send(to_caller.rtcp, "garbage that is long enough");
    std::string stun(20, '\0');
    stun[1] = 1; // a Binding request
    a.rtp.send(to_caller.rtp, stun);
    expect(b.rtp, stun, to_callee.rtp);
    std::string dtls(40, '\x16'); // a handshake record
    a.rtp.send(to_caller.rtp, dtls);
    expect(b.rtp, dtls, to_callee.rtp);
    a.rtp.send(to_caller.rtp, rtp(1));
    expect(b.rtp, rtp(1), to_callee.rtp);
    expect_none(b.rtp);
    expect_none(b.rtcp);
    BOOST_TEST(
        eventually([&] { return num(d.side("kind-1", "caller")["dropped"]["not_rtp"]) == 3; }));
    BOOST_TEST(num(d.service()["dropped"]["not_rtp"]) == 3);
}

BOOST_AUTO_TEST_CASE(a_strangers_packets_are_no_sign_of_life) {
    // Issue 16: a non-strict side forwards a stranger's packets (NAT), but
    // they do not make the call look alive: its last packet stays the
    // party's.
    Relayd d;
    Phone a, b;
    UdpPeer stranger("127.0.0.2:0");
    auto o = d.offer("alive-1", "ta", sdp("alice", 1, {audio(a)}));
    auto an = d.answer("alive-1", "ta", "tb", sdp("bob", 1, {audio(b)}));
    const Target to_callee = target(o), to_caller = target(an);
    a.rtp.send(to_caller.rtp, rtp(1));
    expect(b.rtp, rtp(1), to_callee.rtp);
    std::this_thread::sleep_for(300ms); // the age to compare with
    stranger.send(to_caller.rtp, rtp(2));
    expect(b.rtp, rtp(2), to_callee.rtp);
    auto caller = d.side("alive-1", "caller");
    BOOST_TEST(num(caller["packets"]) == 2);
    BOOST_TEST(num(caller["last_packet_age_ms"]) >= 250);
    BOOST_TEST(str(caller["learned"]) == a.rtp.address().str());
}

BOOST_AUTO_TEST_CASE(sdp_naming_loopback_or_a_member_is_refused) {
    // Issue 16: an SDP naming 127.0.0.1 and the processor's port got relay
    // ports, and whatever came to them went into the member. Only
    // 127.0.0.2 is allowed here; the phones are on 127.0.0.1.
    Relayd d("\"media_max_streams\": 2", "", "[\"127.0.0.2\"]");
    Phone a;
    UdpPeer allowed("127.0.0.2:0"), other("127.0.0.2:0");
    auto args = [](const std::string& id, const std::string& body) {
        return json::Json::object().set("call_id", id).set("from_tag", "ta").set("sdp", body);
    };
    Error e = d.call_error("offer", args("ref-1", sdp("alice", 1, {audio(a)})));
    BOOST_TEST(e.code == "sdp_address_refused");
    BOOST_TEST(e.message.find("loopback") != std::string::npos, e.message);
    Error many = d.call_error(
        "offer", args("ref-2", sdp("alice", 1, {mux(allowed), mux(allowed), mux(other)})));
    BOOST_TEST(many.code == "too_many_streams");
    d.offer("ok-1", "ta", sdp("alice", 1, {mux(allowed)}));
    auto s = d.service();
    BOOST_TEST(num(s["sessions"]) == 1);
    BOOST_TEST(num(s["failed"]["sdp_address_refused"]) == 1);
    BOOST_TEST(num(s["failed"]["too_many_streams"]) == 1);
    BOOST_TEST(num(s["max_streams"]) == 2);
    BOOST_TEST(str(s["media_allow"].at(0)) == "127.0.0.2/32");
    BOOST_TEST(d.process->log().find("code=sdp_address_refused") != std::string::npos,
               d.process->log());
}

BOOST_AUTO_TEST_CASE(one_source_holds_at_most_its_share_of_calls) {
    // Issue 16: "source" in offer and sdp; an IPv4-mapped address is the
    // IPv4 one, anything else than an address is a bad request.
    Relayd d("\"media_max_sessions_per_source\": 1");
    Phone a;
    auto args = [&](const std::string& id, const std::string& source) {
        auto j = json::Json::object()
                     .set("call_id", id)
                     .set("from_tag", "ta")
                     .set("sdp", sdp("alice", 1, {audio(a)}));
        if (!source.empty())
            j.set("source", source);
        return j;
    };
    d.call("offer", args("src-1", "::ffff:198.51.100.10"));
    Error full = d.call_error("sdp", args("src-2", "198.51.100.10"));
    BOOST_TEST(full.code == "source_sessions_exhausted");
    BOOST_TEST(full.message.find("source 198.51.100.10 holds 1 calls") != std::string::npos,
               full.message);
    BOOST_TEST(full.message.find("media_max_sessions_per_source") != std::string::npos,
               full.message);
    Error bad = d.call_error("offer", args("src-3", "198.51.100.10:5060"));
    BOOST_TEST(bad.code == "bad_request");
    BOOST_TEST(bad.message.find("\"source\" must be an IP address") != std::string::npos,
               bad.message);
    d.call("sdp", args("src-4", "2001:db8::10"));
    d.call("offer", args("src-5", ""));
    auto s = d.service();
    BOOST_TEST(num(s["sessions"]) == 3);
    BOOST_TEST(num(s["sources"]) == 2);
    BOOST_TEST(num(s["max_sessions_per_source"]) == 1);
    BOOST_TEST(num(s["source_refused"]) == 1);
    d.remove("src-1");
    d.call("offer", args("src-2", "198.51.100.10"));
    BOOST_TEST(d.process->log().find("code=source_sessions_exhausted") != std::string::npos,
               d.process->log());
}

BOOST_AUTO_TEST_CASE(tiny_and_oversize_datagrams_are_dropped_and_counted) {
    Relayd d;
    Phone a, b;
    auto o = d.offer("size-1", "ta", sdp("alice", 1, {audio(a)}));
    auto an = d.answer("size-1", "ta", "tb", sdp("bob", 1, {audio(b)}));
    const Target to_callee = target(o), to_caller = target(an);
    a.rtp.send(to_caller.rtp, std::string(11, '\x80'));
    a.rtcp.send(to_caller.rtcp, std::string(7, '\x81'));
    a.rtp.send(to_caller.rtp, rtp(1, 1501));
    a.rtp.send(to_caller.rtp, rtp(2, 9000));
    a.rtp.send(to_caller.rtp, rtp(3, 12));
    a.rtp.send(to_caller.rtp, rtp(4, 1500));
    expect(b.rtp, rtp(3, 12), to_callee.rtp);
    expect(b.rtp, rtp(4, 1500), to_callee.rtp);
    expect_none(b.rtp);
    expect_none(b.rtcp);
    BOOST_TEST(eventually([&] {
        auto caller = d.side("size-1", "caller");
        return num(caller["dropped"]["too_small"]) == 2 && num(caller["dropped"]["oversize"]) == 2;
    }));
    auto caller = d.side("size-1", "caller");
    BOOST_TEST(num(caller["packets"]) == 2);
    BOOST_TEST(num(caller["bytes"]) == 1512);
    auto s = d.service();
    BOOST_TEST(num(s["dropped"]["too_small"]) == 2);
    BOOST_TEST(num(s["dropped"]["oversize"]) == 2);
}

BOOST_AUTO_TEST_CASE(idle_session_times_out_and_its_ports_come_back) {
    Relayd d("\"media_timeout\": 1");
    Phone a, b;
    BOOST_TEST(num(d.service()["timeout_s"]) == 1);
    d.offer("idle-1", "ta", sdp("alice", 1, {audio(a)}));
    d.answer("idle-1", "ta", "tb", sdp("bob", 1, {audio(b)}));
    BOOST_TEST(num(d.service()["ports"]["in_use"]) == 4);
    auto start = std::chrono::steady_clock::now();
    BOOST_TEST(eventually([&] { return num(d.call("list")["count"]) == 0; }, 3500ms));
    auto took = std::chrono::steady_clock::now() - start;
    BOOST_TEST(took >= 900ms);
    BOOST_TEST_MESSAGE("closed after "
                       << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                       << " ms");
    auto s = d.service();
    BOOST_TEST(num(s["sessions"]) == 0);
    BOOST_TEST(num(s["sockets"]) == 0);
    BOOST_TEST(num(s["ports"]["in_use"]) == 0);
    BOOST_TEST(num(s["expired"]) == 1);
    BOOST_TEST(d.call_error("query", json::Json::object().set("call_id", "idle-1")).code ==
               "not_found");
    BOOST_TEST(d.process->log().find("msg=\"session timed out\" call_id=idle-1") !=
                   std::string::npos,
               d.process->log());
}

BOOST_AUTO_TEST_CASE(an_answered_call_nobody_sends_on_is_closed_fast) {
    // Issue 16: an answered call whose parties never send is closed
    // media_unlatched_timeout after its answer; one with media stays, and so
    // does a ringing call (no media before the answer).
    Relayd d("\"media_unlatched_timeout\": 1");
    Phone a, b;
    BOOST_TEST(num(d.service()["unlatched_timeout_s"]) == 1);
    d.offer("silent-1", "ta", sdp("alice", 1, {audio(a)}));
    d.answer("silent-1", "ta", "tb", sdp("bob", 1, {audio(b)}));
    d.offer("ring-1", "ta", sdp("alice", 1, {audio(a)}));
    auto o = d.offer("talk-1", "ta", sdp("alice", 1, {audio(a)}));
    auto an = d.answer("talk-1", "ta", "tb", sdp("bob", 1, {audio(b)}));
    a.rtp.send(target(an).rtp, rtp(1));
    expect(b.rtp, rtp(1), target(o).rtp);
    BOOST_TEST(eventually([&] { return num(d.service()["unlatched"]) == 1; }, 3500ms));
    auto s = d.service();
    BOOST_TEST(num(s["sessions"]) == 2);
    BOOST_TEST(num(s["expired"]) == 1);
    BOOST_TEST(d.call_error("query", json::Json::object().set("call_id", "silent-1")).code ==
               "not_found");
    BOOST_TEST(
        d.process->log().find("msg=\"session timed out\" call_id=silent-1 reason=unlatched") !=
            std::string::npos,
        d.process->log());
}

BOOST_AUTO_TEST_CASE(two_thousand_sessions_leave_no_port_socket_or_fd) {
    Relayd d;
    Phone a, b;
    UdpPeer ma("127.0.0.1:0"), mb("127.0.0.1:0");
    const std::string plain_o = sdp("alice", 1, {audio(a)}), plain_a = sdp("bob", 1, {audio(b)});
    const std::string mux_o = sdp("alice", 1, {mux(ma)}), mux_a = sdp("bob", 1, {mux(mb)});
    // After a reply: the daemon has accepted this connection and closed
    // its readiness socket.
    BOOST_TEST(d.call("ping")["pong"].as_bool().value_or(false));
    const auto fds = fds_of(d.process->pid());
    for (int i = 0; i < 2000; ++i) {
        const std::string id = "bulk-" + std::to_string(i);
        const bool m = i % 2 == 1;
        auto o = d.offer(id, "ta", m ? mux_o : plain_o);
        auto an = d.answer(id, "ta", "tb", m ? mux_a : plain_a);
        if (i % 500 == 0) { // media on a few, so deletes meet live streams
            a.rtp.send(target(an).rtp, rtp(1));
            expect(b.rtp, rtp(1), target(o).rtp);
        }
        d.remove(id);
    }
    auto s = d.service();
    BOOST_TEST(num(s["sessions"]) == 0);
    BOOST_TEST(num(s["streams"]) == 0);
    BOOST_TEST(num(s["sockets"]) == 0);
    BOOST_TEST(num(s["ports"]["in_use"]) == 0);
    BOOST_TEST(num(s["ports"]["free_pairs"]) == 500);
    BOOST_TEST(num(s["created"]) == 2000);
    BOOST_TEST(num(s["deleted"]) == 2000);
    const auto after = fds_of(d.process->pid());
    BOOST_TEST((after == fds), "before:" << lines(fds) << "\nafter:" << lines(after));
}

BOOST_AUTO_TEST_CASE(bad_requests_get_clear_errors_and_the_daemon_goes_on) {
    Relayd d;
    Phone a;
    auto bad_json = d.ctl->call_raw("{\"id\":1,\"op\":\"offer\",\n", scaled(2000ms));
    BOOST_REQUIRE(bad_json.ok());
    BOOST_TEST(bad_json->find("\"code\":\"bad_json\"") != std::string::npos, *bad_json);
    auto unknown = d.ctl->call_raw("{\"id\":2,\"op\":\"transcode\"}\n", scaled(2000ms));
    BOOST_REQUIRE(unknown.ok());
    BOOST_TEST(unknown->find("\"code\":\"unknown_op\"") != std::string::npos, *unknown);

    Error e = d.call_error(
        "offer",
        json::Json::object().set("from_tag", "ta").set("sdp", sdp("alice", 1, {audio(a)})));
    BOOST_TEST(e.code == "bad_request");
    BOOST_TEST(e.message.find("\"call_id\" is missing") != std::string::npos, e.message);
    e = d.call_error(
        "offer", json::Json::object().set("call_id", 7).set("from_tag", "ta").set("sdp", "v=0"));
    BOOST_TEST(e.code == "bad_request");
    BOOST_TEST(e.message.find("\"call_id\" must be a string") != std::string::npos, e.message);
    e = d.call_error("offer", json::Json::object()
                                  .set("call_id", "bad-1")
                                  .set("from_tag", "ta")
                                  .set("sdp", "v=0\r\no=broken\r\n"));
    BOOST_TEST(e.code == "bad_sdp");
    BOOST_TEST(!e.message.empty());
    e = d.call_error("delete", json::Json::object().set("call_id", "absent"));
    BOOST_TEST(e.code == "not_found");
    BOOST_TEST(e.message.find("absent") != std::string::npos, e.message);
    e = d.call_error("answer", json::Json::object()
                                   .set("call_id", "absent")
                                   .set("from_tag", "ta")
                                   .set("to_tag", "tb")
                                   .set("sdp", sdp("bob", 1, {audio(a)})));
    BOOST_TEST(e.code == "not_found");
    e = d.call_error("answer", json::Json::object()
                                   .set("call_id", "absent")
                                   .set("from_tag", "ta")
                                   .set("sdp", sdp("bob", 1, {audio(a)})));
    BOOST_TEST(e.code == "bad_request");
    BOOST_TEST(e.message.find("\"to_tag\" is missing") != std::string::npos, e.message);

    // Still serving, nothing created.
    BOOST_TEST(d.call("ping")["pong"].as_bool().value_or(false));
    auto s = d.service();
    BOOST_TEST(num(s["sessions"]) == 0);
    BOOST_TEST(num(s["ports"]["in_use"]) == 0);
    BOOST_TEST(num(s["failed"]["bad_sdp"]) == 1);
    BOOST_TEST(num(s["failed"]["not_found"]) == 1);
    d.offer("good-1", "ta", sdp("alice", 1, {audio(a)}));
    BOOST_TEST(d.process->running());
}

BOOST_AUTO_TEST_CASE(a_retry_is_answered_from_the_cache_on_its_connection_only) {
    Relayd d;
    Phone a;
    const std::string line = json::Json::object()
                                 .set("id", 7)
                                 .set("op", "offer")
                                 .set("call_id", "retry-1")
                                 .set("from_tag", "ta")
                                 .set("sdp", sdp("alice", 1, {audio(a)}))
                                 .dump() +
                             "\n";
    const long long retries = num(d.stats()["control"]["retries"]);
    auto first = d.ctl->call_raw(line, scaled(2000ms));
    BOOST_REQUIRE(first.ok());
    auto again = d.ctl->call_raw(line, scaled(2000ms));
    BOOST_REQUIRE(again.ok());
    BOOST_TEST(*again == *first);
    BOOST_TEST(num(d.stats()["control"]["retries"]) == retries + 1);
    BOOST_TEST(num(d.service()["offers"]) == 1);
    auto r1 = json::parse(*first, "reply").value()["result"];
    BOOST_TEST(r1["created"].as_bool().value_or(false));

    // The same id on another connection is a request of its own: it runs
    // (a refresh of the call: the same ports, not created).
    auto other = d.connect();
    auto elsewhere = other.call_raw(line, scaled(2000ms));
    BOOST_REQUIRE(elsewhere.ok());
    auto r2 = json::parse(*elsewhere, "reply").value()["result"];
    BOOST_TEST(!r2["created"].as_bool().value_or(true));
    BOOST_TEST(num(r2["ports"].at(0)["rtp"]) == num(r1["ports"].at(0)["rtp"]));
    BOOST_TEST(str(r2["sdp"]) == str(r1["sdp"]));
    BOOST_TEST(num(d.service()["offers"]) == 2);
    BOOST_TEST(num(d.stats()["control"]["retries"]) == retries + 1);
    BOOST_TEST(num(d.service()["sessions"]) == 1);
}

BOOST_AUTO_TEST_CASE(range_exhausted_is_an_error_naming_it_until_a_delete) {
    // 8 ports: two calls without rtcp-mux (a pair per side).
    Relayd d("", "21000-21007");
    Phone a, b;
    const std::string ob = sdp("alice", 1, {audio(a)}), ab = sdp("bob", 1, {audio(b)});
    d.offer("full-1", "ta", ob);
    d.answer("full-1", "ta", "tb", ab);
    auto o2 = d.offer("full-2", "ta", ob);
    Error e = d.call_error(
        "offer",
        json::Json::object().set("call_id", "full-3").set("from_tag", "ta").set("sdp", ob));
    BOOST_TEST(e.code == "ports_exhausted");
    BOOST_TEST(e.message.find("21000-21007") != std::string::npos, e.message);
    auto s = d.service();
    BOOST_TEST(num(s["sessions"]) == 2);
    BOOST_TEST(num(s["ports"]["in_use"]) == 8);
    BOOST_TEST(num(s["ports"]["exhausted"]) >= 1);
    BOOST_TEST(num(s["failed"]["ports_exhausted"]) == 1);

    d.remove("full-1");
    auto o3 = d.offer("full-3", "ta", ob);
    BOOST_TEST(o3["created"].as_bool().value_or(false));
    auto an3 = d.answer("full-3", "ta", "tb", ab);
    const Target to_callee = target(o3), to_caller = target(an3);
    a.rtp.send(to_caller.rtp, rtp(1));
    expect(b.rtp, rtp(1), to_callee.rtp);
    BOOST_TEST(num(d.service()["ports"]["in_use"]) == 8);
    BOOST_TEST(num(d.service()["sessions"]) == 2);
}

// The kernel fast path needs an interface other than loopback: on a
// loopback cluster "auto" runs in userspace and says why, "required"
// refuses to start with the same reason, "off" says it is off; calls work
// the same in all three (rtprelayd(8), Kernel fast path). The kernel path
// itself is the lab's (test/integration/lab/*_fast_path.sh).
BOOST_AUTO_TEST_CASE(fast_path_auto_falls_back_to_userspace_on_loopback) {
    LoopbackLab lab(1);
    lab.cluster.members[0].extra = "\"media_fast_path\": \"auto\"";
    lab.write();
    Process& p = lab.start("rtprelayd", "f1");
    auto c =
        control::ControlClient::connect(lab.cluster.media_control(lab.dir, "f1"), scaled(2000ms));
    BOOST_REQUIRE(c.ok());
    auto st = c->call("stats", json::Json::object(), scaled(3000ms));
    BOOST_REQUIRE(st.ok());
    auto fp = st.value()["service"]["fast_path"];
    BOOST_TEST(str(fp["mode"]) == "auto");
    BOOST_TEST(str(fp["path"]) == "userspace");
    BOOST_TEST(str(fp["reason"]).find("no interface but loopback holds 127.0.0.1") !=
                   std::string::npos,
               str(fp["reason"]));
    BOOST_TEST(num(fp["entries"]) == 0);
    BOOST_TEST(p.log().find("msg=\"kernel fast path not available: media in userspace\"") !=
                   std::string::npos,
               p.log());
    BOOST_TEST(unexpected_errors(p.log()).empty(), p.log());
}

BOOST_AUTO_TEST_CASE(fast_path_required_refuses_to_start_where_it_cannot_run) {
    LoopbackLab lab(1);
    lab.cluster.members[0].extra = "\"media_fast_path\": \"required\"";
    lab.write();
    auto r = run({bin_path("rtprelayd"), "--config", lab.config(), "--member", "f1"});
    BOOST_TEST(r.status != 0);
    BOOST_TEST(r.err.find("members.f1.media_fast_path is \"required\"") != std::string::npos,
               r.err);
    BOOST_TEST(r.err.find("no interface but loopback") != std::string::npos, r.err);
}

BOOST_AUTO_TEST_CASE(fast_path_off_relays_in_userspace_and_says_so) {
    Relayd d;
    auto fp = d.service()["fast_path"];
    BOOST_TEST(str(fp["mode"]) == "off");
    BOOST_TEST(str(fp["path"]) == "userspace");
    BOOST_TEST(str(fp["reason"]) == "media_fast_path is off");
}

BOOST_AUTO_TEST_SUITE_END()
