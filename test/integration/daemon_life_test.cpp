// sipfarmd and rtprelayd as a supervisor and an operator see them: start from
// a config, readiness, control socket, SIGHUP reload (good and broken),
// SIGTERM, and refusal to start with a clear message.
#include "cluster_fixture.hpp"
#include "harness.hpp"

#include "base/sockaddr.hpp"
#include "control/control_client.hpp"
#include "net/socket.hpp"
#include "net/udp.hpp"

#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <thread>

using namespace rtfarm;
using namespace rtfarm::test;

namespace {

control::ControlClient connect(const std::string& path) {
    auto c = control::ControlClient::connect(path, scaled(2000ms));
    BOOST_REQUIRE_MESSAGE(c.ok(), "connect " + path + ": " + (c.ok() ? "" : c.error().message));
    return std::move(c.value());
}

json::Json call(control::ControlClient& c, const char* op, json::Json args = json::Json::object()) {
    auto r = c.call(op, std::move(args), scaled(2000ms));
    BOOST_REQUIRE_MESSAGE(r.ok(), std::string(op) + ": " + (r.ok() ? "" : r.error().message));
    return r.value();
}

bool exists(const std::string& path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0;
}

std::vector<std::string> daemon_args(const std::string& program, const std::string& config,
                                     const std::string& member) {
    return {bin_path(program), "--config", config, "--member", member, "--log-level", "info"};
}

// The sum of packets counted on the sipfarmd socket bound to `listen`.
long long packets_on(control::ControlClient& c, const std::string& listen) {
    auto stats = call(c, "stats");
    auto sockets = stats["service"]["sockets"];
    for (size_t i = 0; i < sockets.size(); ++i)
        if (sockets.at(i)["listen"].as_string() == listen)
            return sockets.at(i)["packets"].as_integer().value_or(-1);
    return -1;
}

bool wait_packets(control::ControlClient& c, const std::string& listen, long long want) {
    auto deadline = std::chrono::steady_clock::now() + scaled(3000ms);
    while (std::chrono::steady_clock::now() < deadline) {
        if (packets_on(c, listen) >= want)
            return true;
        std::this_thread::sleep_for(10ms);
    }
    return false;
}

void send_udp(const std::string& to, const std::string& bytes) {
    auto dest = SockAddr::parse(to);
    BOOST_REQUIRE(dest.ok());
    auto fd = net::udp_bind(SockAddr::parse("127.0.0.1:0").value());
    BOOST_REQUIRE(fd.ok());
    BOOST_REQUIRE(net::send_datagram(fd->get(), bytes, *dest).ok());
}

} // namespace

BOOST_AUTO_TEST_SUITE(daemon_life)

BOOST_AUTO_TEST_CASE(sipfarmd_starts_answers_counts_and_stops) {
    LoopbackLab lab(1);
    auto [dir, cluster] = std::tie(lab.dir, lab.cluster);
    Process& p = lab.start("sipfarmd", "f1");
    // Readiness comes after the control socket is open.
    BOOST_TEST(exists(cluster.control(dir, "f1")));

    auto c = connect(cluster.control(dir, "f1"));
    auto pong = call(c, "ping");
    BOOST_TEST(pong["pong"].as_bool().value_or(false));
    BOOST_TEST(pong["member"].as_string().value_or("") == "f1");
    BOOST_TEST(pong["program"].as_string().value_or("") == "sipfarmd");

    std::string listen = "127.0.0.1:" + std::to_string(cluster.members[0].sip_ports[0]);
    for (int i = 0; i < 3; ++i)
        send_udp(listen, "OPTIONS sip:x@127.0.0.1 SIP/2.0\r\n\r\n");
    BOOST_TEST(wait_packets(c, listen, 3));
    std::string link = "127.0.0.1:" + std::to_string(cluster.farm_port);
    BOOST_TEST(packets_on(c, link) == 0);

    p.signal(SIGTERM);
    auto status = p.wait_exit();
    BOOST_REQUIRE(status.has_value());
    BOOST_TEST(*status == 0);
    BOOST_TEST(!exists(cluster.control(dir, "f1")));
    BOOST_TEST(p.log().find("msg=\"stopped\"") != std::string::npos);
    BOOST_TEST(unexpected_errors(p.log()).empty(), p.log());
}

BOOST_AUTO_TEST_CASE(rtprelayd_starts_answers_and_stops) {
    LoopbackLab lab(2);
    auto [dir, cluster] = std::tie(lab.dir, lab.cluster);
    Process& p = lab.start("rtprelayd", "f2");
    auto c = connect(cluster.media_control(dir, "f2"));
    auto stats = call(c, "stats");
    BOOST_TEST(stats["program"].as_string().value_or("") == "rtprelayd");
    BOOST_TEST(stats["service"]["media_ports"].as_string().value_or("") ==
               cluster.members[1].media_ports);
    BOOST_TEST(stats["service"]["ports"]["capacity"].as_integer().value_or(0) == 1000);
    p.signal(SIGTERM);
    auto status = p.wait_exit();
    BOOST_REQUIRE(status.has_value());
    BOOST_TEST(*status == 0);
    BOOST_TEST(unexpected_errors(p.log()).empty(), p.log());
}

BOOST_AUTO_TEST_CASE(sighup_with_broken_config_keeps_the_old_one) {
    LoopbackLab lab(1);
    auto [dir, cluster] = std::tie(lab.dir, lab.cluster);
    Process& p = lab.start("sipfarmd", "f1");
    auto c = connect(cluster.control(dir, "f1"));

    // Not JSON at all.
    dir.write("cluster.json", "{ \"cluster\": ");
    p.signal(SIGHUP);
    BOOST_REQUIRE(p.wait_notify("RELOADING=1"));
    BOOST_REQUIRE(p.wait_notify("READY=1"));
    BOOST_TEST(call(c, "ping")["member"].as_string().value_or("") == "f1");
    BOOST_TEST(call(c, "stats")["reload_failures"].as_integer().value_or(0) == 1);
    BOOST_TEST(p.log().find("reload failed, keeping the old config") != std::string::npos);

    // Valid JSON, invalid config (an empty media range): refused with the path.
    auto bad = cluster;
    bad.members[0].media_ports = "30000-20000";
    dir.write("cluster.json", bad.json(dir));
    p.signal(SIGHUP);
    BOOST_REQUIRE(p.wait_notify("READY=1"));
    BOOST_TEST(call(c, "stats")["reload_failures"].as_integer().value_or(0) == 2);
    BOOST_TEST(p.log().find("members.f1.media_ports") != std::string::npos);

    // A port somebody else holds: the whole change is refused, old sockets stay.
    auto taken_port = free_port();
    auto holder = net::udp_bind(SockAddr::parse("127.0.0.1:" + std::to_string(taken_port)).value());
    BOOST_REQUIRE(holder.ok());
    auto busy = cluster;
    busy.members[0].sip_ports.push_back(taken_port);
    dir.write("cluster.json", busy.json(dir));
    p.signal(SIGHUP);
    BOOST_REQUIRE(p.wait_notify("READY=1"));
    BOOST_TEST(call(c, "stats")["reload_failures"].as_integer().value_or(0) == 3);
    std::string first = "127.0.0.1:" + std::to_string(cluster.members[0].sip_ports[0]);
    send_udp(first, "x");
    BOOST_TEST(wait_packets(c, first, 1));

    // A good change: a second SIP port opens and counts.
    auto good = cluster;
    good.members[0].sip_ports.push_back(free_port());
    dir.write("cluster.json", good.json(dir));
    p.signal(SIGHUP);
    BOOST_REQUIRE(p.wait_notify("READY=1"));
    BOOST_TEST(call(c, "stats")["reloads"].as_integer().value_or(0) == 1);
    std::string second = "127.0.0.1:" + std::to_string(good.members[0].sip_ports[1]);
    send_udp(second, "y");
    BOOST_TEST(wait_packets(c, second, 1));

    // The reload op does the same as SIGHUP and answers with the outcome.
    dir.write("cluster.json", "[]");
    auto r = c.call("reload", json::Json::object(), scaled(2000ms));
    BOOST_REQUIRE(!r.ok());
    BOOST_TEST(r.error().code == "reload_failed");
    BOOST_TEST(call(c, "ping")["pong"].as_bool().value_or(false));

    p.signal(SIGTERM);
    BOOST_TEST(p.wait_exit().value_or(-1) == 0);
    BOOST_TEST(unexpected_errors(p.log(), {"reload failed"}).empty(), p.log());
}

BOOST_AUTO_TEST_CASE(control_socket_survives_garbage) {
    LoopbackLab lab(1);
    auto [dir, cluster] = std::tie(lab.dir, lab.cluster);
    Process& p = lab.start("sipfarmd", "f1");
    auto c = connect(cluster.control(dir, "f1"));
    auto r1 = c.call_raw("this is not json\n", scaled(2000ms));
    BOOST_REQUIRE(r1.ok());
    BOOST_TEST(r1->find("\"code\":\"bad_json\"") != std::string::npos, *r1);
    auto r2 = c.call_raw("{\"id\":9,\"op\":\"no_such_op\"}\n", scaled(2000ms));
    BOOST_REQUIRE(r2.ok());
    BOOST_TEST(r2->find("\"code\":\"unknown_op\"") != std::string::npos, *r2);
    auto r3 = c.call("log_level", json::Json::object().set("spec", "loud"), scaled(2000ms));
    BOOST_REQUIRE(!r3.ok());
    BOOST_TEST(r3.error().code == "bad_request");
    BOOST_TEST(call(c, "log_level", json::Json::object().set("spec", "info,farm=debug"))["spec"]
                   .as_string()
                   .value_or("") == "info,farm=debug");
    BOOST_TEST(call(c, "ping")["pong"].as_bool().value_or(false));
    p.signal(SIGTERM);
    BOOST_TEST(p.wait_exit().value_or(-1) == 0);
}

BOOST_AUTO_TEST_CASE(refuses_to_start_with_a_clear_message) {
    TempDir dir;
    auto cluster = LoopbackCluster::make(2);
    dir.write("cluster.json", cluster.json(dir));
    std::string cfg = dir.file("cluster.json");

    auto unknown = run(daemon_args("sipfarmd", cfg, "f9"));
    BOOST_TEST(unknown.status == 2);
    BOOST_TEST(unknown.err.find("member 'f9' is not in the file (members: f1, f2)") !=
                   std::string::npos,
               unknown.err);

    dir.write("broken.json",
              "{\"cluster\": {\"name\": \"x\"}, \"members\": {\"f1\": {\"role\": \"boss\"}}}");
    auto broken = run(daemon_args("rtprelayd", dir.file("broken.json"), "f1"));
    BOOST_TEST(broken.status == 2);
    BOOST_TEST(broken.err.find("broken.json: members.f1.role") != std::string::npos, broken.err);

    auto missing = run(daemon_args("sipfarmd", dir.file("nope.json"), "f1"));
    BOOST_TEST(missing.status == 2);
    BOOST_TEST(missing.err.find("nope.json") != std::string::npos, missing.err);

    // Busy SIP port.
    std::string listen = "127.0.0.1:" + std::to_string(cluster.members[0].sip_ports[0]);
    auto holder = net::udp_bind(SockAddr::parse(listen).value());
    BOOST_REQUIRE(holder.ok());
    auto busy = run(daemon_args("sipfarmd", cfg, "f1"));
    BOOST_TEST(busy.status == 2);
    BOOST_TEST(busy.err.find(listen) != std::string::npos, busy.err);
    BOOST_TEST(busy.err.find("in use") != std::string::npos, busy.err);
    holder->reset();

    // Busy control socket: a second rtprelayd for the same member.
    Process first(dir, "f1-media", daemon_args("rtprelayd", cfg, "f1"));
    BOOST_REQUIRE_MESSAGE(first.wait_ready(), first.log());
    auto second = run(daemon_args("rtprelayd", cfg, "f1"));
    BOOST_TEST(second.status == 2);
    BOOST_TEST(second.err.find("control socket") != std::string::npos, second.err);
    first.signal(SIGTERM);
    BOOST_TEST(first.wait_exit().value_or(-1) == 0);

    // Bad command lines.
    BOOST_TEST(run({bin_path("sipfarmd"), "--config", cfg}).status == 2); // no --member
    BOOST_TEST(run({bin_path("sipfarmd"), "--member", "f1", "--bogus"}).status == 2);
    BOOST_TEST(run({bin_path("sipfarmd"), "--config", cfg, "--member", "f1", "--log-level", "loud"})
                   .status == 2);
}

BOOST_AUTO_TEST_CASE(sipfarmd_listens_on_ipv6, RTFARM_REQUIRES(requires_ipv6)) {
    TempDir dir;
    uint16_t sip = free_port(), farm = free_port();
    std::string listen = "[::1]:" + std::to_string(sip);
    dir.write("cluster.json",
              "{\"cluster\": {\"name\": \"v6\", \"wan_ip\": \"2001:db8::1\", \"farm_port\": " +
                  std::to_string(farm) +
                  "}, \"members\": {\"f1\": {\"role\": \"frontend\", \"address\": \"::1\", "
                  "\"sip_listen\": [\"" +
                  listen + "\"], \"media_ports\": \"20000-20999\", \"control\": \"f1.sock\"}}}");
    Process p(dir, "f1", daemon_args("sipfarmd", dir.file("cluster.json"), "f1"));
    BOOST_REQUIRE_MESSAGE(p.wait_ready(), p.log());
    auto c = connect(dir.file("f1.sock"));
    auto dest = SockAddr::parse(listen).value();
    auto fd = net::udp_bind(SockAddr::parse("[::1]:0").value());
    BOOST_REQUIRE(fd.ok());
    BOOST_REQUIRE(net::send_datagram(fd->get(), "OPTIONS sip:x@[::1] SIP/2.0\r\n\r\n", dest).ok());
    BOOST_TEST(wait_packets(c, listen, 1));
    BOOST_TEST(packets_on(c, "[::1]:" + std::to_string(farm)) == 0);
    p.signal(SIGTERM);
    BOOST_TEST(p.wait_exit().value_or(-1) == 0);
}

BOOST_AUTO_TEST_CASE(vip_and_wildcard_share_the_sip_port) {
    // The DSR layout: the VIP (on loopback here) and every address, one port.
    TempDir dir;
    uint16_t sip = free_port(), farm = free_port();
    std::string vip = "127.0.0.5:" + std::to_string(sip);
    std::string control_tcp = "127.0.0.1:" + std::to_string(free_port());
    dir.write("cluster.json",
              "{\"cluster\": {\"name\": \"dsr\", \"wan_ip\": \"127.0.0.5\", \"farm_port\": " +
                  std::to_string(farm) +
                  "}, \"members\": {\"f1\": {\"role\": \"frontend\", \"address\": \"127.0.0.1\", "
                  "\"sip_listen\": [\"" +
                  vip + "\", \"0.0.0.0:" + std::to_string(sip) +
                  "\"], \"media_ports\": \"20000-20999\", \"control\": \"f1.sock\", "
                  "\"control_tcp\": \"" +
                  control_tcp + "\"}}}");
    std::string cfg = dir.file("cluster.json");
    Process p(dir, "f1", daemon_args("sipfarmd", cfg, "f1"));
    BOOST_REQUIRE_MESSAGE(p.wait_ready(), p.log());
    auto c = connect(dir.file("f1.sock"));
    // Datagrams to the VIP land on the VIP socket, others on the wildcard one.
    send_udp(vip, "a");
    send_udp("127.0.0.1:" + std::to_string(sip), "b");
    send_udp("127.0.0.1:" + std::to_string(sip), "c");
    BOOST_TEST(wait_packets(c, vip, 1));
    BOOST_TEST(wait_packets(c, "0.0.0.0:" + std::to_string(sip), 2));
    BOOST_TEST(packets_on(c, vip) == 1);

    // A second copy for the same member is refused by the control socket,
    // although SO_REUSEADDR would let it bind the SIP port.
    auto second = run(daemon_args("sipfarmd", cfg, "f1"));
    BOOST_TEST(second.status == 2);
    BOOST_TEST(second.err.find("control socket") != std::string::npos, second.err);

    // control_tcp answers too, and cgclusterctl --connect reaches it.
    auto tcp = connect(control_tcp);
    BOOST_TEST(call(tcp, "ping")["member"].as_string().value_or("") == "f1");
    auto ctl = run({bin_path("cgclusterctl"), "--connect", control_tcp, "--json", "stats"});
    BOOST_TEST(ctl.status == 0, ctl.err);
    BOOST_TEST(ctl.out.find("\"state\":\"up\"") != std::string::npos, ctl.out);
    p.signal(SIGTERM);
    BOOST_TEST(p.wait_exit().value_or(-1) == 0);
}

// A TCP connection to `to` from source address `from` (a loopback one).
UniqueFd connect_from(const std::string& from, const std::string& to) {
    auto src = SockAddr::parse(from + ":0").value();
    auto dst = SockAddr::parse(to).value();
    UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    BOOST_REQUIRE(fd.get() >= 0);
    BOOST_REQUIRE(::bind(fd.get(), src.sa(), src.len()) == 0);
    BOOST_REQUIRE(::connect(fd.get(), dst.sa(), dst.len()) == 0);
    return fd;
}

// Issue 17: control over TCP. The server proves the secret too (a client
// refuses one that cannot); a failed login is answered a second late; one
// address holds at most 16 connections, and strangers leave a quarter of
// the places to the members' addresses.
BOOST_AUTO_TEST_CASE(control_tcp_trusts_neither_side_blindly) {
    TempDir dir;
    auto cluster = LoopbackCluster::make(2);
    dir.write("farm.key", "a farm secret for the control login test");
    cluster.secret_file = dir.file("farm.key");
    std::string control_tcp = "127.0.0.1:" + std::to_string(free_port());
    cluster.members[0].extra = "\"control_tcp\": \"" + control_tcp + "\"";
    dir.write("cluster.json", cluster.json(dir));
    Process p(dir, "f1", daemon_args("sipfarmd", dir.file("cluster.json"), "f1"));
    BOOST_REQUIRE_MESSAGE(p.wait_ready(), p.log());
    const std::string secret = "a farm secret for the control login test";

    // The right secret logs in both ways; a wrong one is refused, late.
    auto good = control::ControlClient::connect(control_tcp, scaled(3000ms), secret);
    BOOST_REQUIRE_MESSAGE(good.ok(), (good.ok() ? "" : good.error().message));
    auto start = std::chrono::steady_clock::now();
    auto bad = control::ControlClient::connect(control_tcp, scaled(5000ms), "not the secret");
    auto took = std::chrono::steady_clock::now() - start;
    BOOST_REQUIRE(!bad.ok());
    // The server's proof does not match ours first: no MAC of ours is sent.
    BOOST_TEST(bad.error().code == "server_unauthenticated", bad.error().message);
    auto raw = connect(control_tcp);
    auto challenge = call(raw, "auth.challenge");
    BOOST_REQUIRE(challenge["nonce"].as_string().has_value());
    start = std::chrono::steady_clock::now();
    auto wrong =
        raw.call("auth", json::Json::object().set("mac", std::string(64, '0')), scaled(5000ms));
    took = std::chrono::steady_clock::now() - start;
    BOOST_TEST(!wrong.ok());
    BOOST_TEST(took >= 900ms,
               "a failed login was answered after "
                   << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms");

    // A server that does not know the secret cannot pass for f1: a fake
    // one answers the challenge without a proof.
    auto fake_addr = SockAddr::parse("127.0.0.1:" + std::to_string(free_port())).value();
    auto fake = net::tcp_listen(fake_addr);
    BOOST_REQUIRE(fake.ok());
    std::thread impostor([fd = fake->get()] {
        pollfd pf{fd, POLLIN, 0};
        if (::poll(&pf, 1, 5000) != 1)
            return;
        UniqueFd c(::accept(fd, nullptr, nullptr));
        char buf[4096];
        ssize_t n = ::recv(c.get(), buf, sizeof buf, 0);
        if (n <= 0)
            return;
        auto req = json::parse(std::string_view(buf, static_cast<size_t>(n)), "req");
        std::string line =
            control::ok_reply(req ? req.value()["id"] : json::Json::null(),
                              json::Json::object().set("nonce", "abcd").set("needed", true));
        (void)::send(c.get(), line.data(), line.size(), MSG_NOSIGNAL);
        ::poll(&pf, 0, 500);
    });
    auto fooled = control::ControlClient::connect(fake_addr.str(), scaled(3000ms), secret);
    impostor.join();
    BOOST_REQUIRE(!fooled.ok());
    BOOST_TEST(fooled.error().code == "server_unauthenticated", fooled.error().message);

    // One address: 16 connections at most (one is already open from 127.0.0.1).
    std::vector<UniqueFd> same;
    for (int i = 0; i < 17; ++i)
        same.push_back(connect_from("127.0.0.7", control_tcp));
    // Strangers from many addresses: they may not take the members' quarter.
    std::vector<UniqueFd> strangers;
    for (int a = 30; a < 42; ++a)
        for (int i = 0; i < 16; ++i)
            strangers.push_back(connect_from("127.0.0." + std::to_string(a), control_tcp));
    std::this_thread::sleep_for(scaled(500ms));
    auto refused = [](const std::vector<UniqueFd>& fds) {
        int n = 0;
        for (const auto& fd : fds) {
            char buf[512];
            ssize_t got = ::recv(fd.get(), buf, sizeof buf, MSG_DONTWAIT);
            if (got > 0 && std::string_view(buf, static_cast<size_t>(got)).find("busy") !=
                               std::string_view::npos)
                ++n;
        }
        return n;
    };
    BOOST_TEST(refused(same) == 1);
    int stranger_refused = refused(strangers);
    BOOST_TEST(stranger_refused > 0);
    // f2's address still gets in, and logs in.
    auto member = connect_from("127.0.0.2", control_tcp);
    std::this_thread::sleep_for(scaled(300ms));
    char buf[512];
    BOOST_TEST(::recv(member.get(), buf, sizeof buf, MSG_DONTWAIT) < 0,
               "the member's connection was refused");
    p.signal(SIGTERM);
    BOOST_TEST(p.wait_exit().value_or(-1) == 0);
}

// Both daemons started as etc/s6/<daemon>/run starts them: the notification
// pipe on fd 3 (the service's notification-fd file says 3) and --notify-fd 3.
// The newline must come only once the control socket answers: a `ping` sent
// the moment it arrives gets its reply. Then the daemon closes the pipe.
BOOST_AUTO_TEST_CASE(s6_notification_fd_after_the_control_socket) {
    for (const std::string program : {"sipfarmd", "rtprelayd"}) {
        BOOST_TEST_CONTEXT(program) {
            std::string service = src_path("etc/s6/" + program);
            BOOST_TEST(read_file(service + "/notification-fd") == "3\n");
            BOOST_TEST(read_file(service + "/type") == "longrun\n");
            BOOST_TEST(
                read_file(service + "/run")
                    .find(
                        "/usr/local/bin/" + program +
                        " --config /etc/rtfarm/cluster.json --member \"$member\" --notify-fd 3") !=
                std::string::npos);

            TempDir dir;
            auto cluster = LoopbackCluster::make(1);
            dir.write("cluster.json", cluster.json(dir));
            int fds[2];
            BOOST_REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
            auto args = daemon_args(program, dir.file("cluster.json"), "f1");
            args.push_back("--notify-fd");
            args.push_back("3");
            Process p(dir, program == "sipfarmd" ? "f1" : "f1-media", args, fds[1]);
            ::close(fds[1]);
            std::string control = program == "sipfarmd" ? cluster.control(dir, "f1")
                                                        : cluster.media_control(dir, "f1");
            // Wait for the newline, then ask at once.
            char c = 0;
            pollfd pfd{fds[0], POLLIN, 0};
            BOOST_REQUIRE_MESSAGE(::poll(&pfd, 1, static_cast<int>(scaled(5000ms).count())) == 1,
                                  p.log());
            BOOST_REQUIRE(::read(fds[0], &c, 1) == 1);
            BOOST_TEST(c == '\n');
            auto client = control::ControlClient::connect(control, scaled(2000ms));
            BOOST_REQUIRE_MESSAGE(client.ok(), (client.ok() ? "" : client.error().message));
            auto pong = client->call("ping", json::Json::object(), scaled(2000ms));
            BOOST_REQUIRE(pong.ok());
            BOOST_TEST(pong->operator[]("program").as_string().value_or("") == program);
            // Nothing more: the daemon closed its end (end of file).
            pfd = {fds[0], POLLIN, 0};
            BOOST_REQUIRE(::poll(&pfd, 1, static_cast<int>(scaled(2000ms).count())) == 1);
            BOOST_TEST(::read(fds[0], &c, 1) == 0);
            ::close(fds[0]);
            p.signal(SIGTERM);
            BOOST_TEST(p.wait_exit().value_or(-1) == 0);
            BOOST_TEST(unexpected_errors(p.log()).empty(), p.log());
        }
    }
}

// The NOTIFY_SOCKET datagrams a systemd unit (Type=notify) relies on:
// READY=1 with MAINPID and STATUS once ready, RELOADING=1 then READY=1 around
// a SIGHUP reload, STOPPING=1 on SIGTERM, in that order.
BOOST_AUTO_TEST_CASE(notify_socket_ready_reloading_stopping) {
    for (const std::string program : {"sipfarmd", "rtprelayd"}) {
        BOOST_TEST_CONTEXT(program) {
            LoopbackLab lab(1);
            Process& p = lab.start(program, "f1"); // READY=1 seen
            BOOST_TEST(p.wait_notify("MAINPID=" + std::to_string(p.pid()) + "\n", 100ms));
            BOOST_TEST(p.wait_notify("STATUS=member f1 up\n", 100ms));
            p.signal(SIGHUP);
            BOOST_TEST(p.wait_notify("RELOADING=1\n"));
            BOOST_TEST(p.wait_notify("READY=1\n"));
            p.signal(SIGTERM);
            BOOST_TEST(p.wait_notify("STOPPING=1\n"));
            BOOST_TEST(p.wait_exit().value_or(-1) == 0);
        }
    }
}

BOOST_AUTO_TEST_CASE(second_stop_signal_stops_at_once) {
    LoopbackLab lab(1);
    auto [dir, cluster] = std::tie(lab.dir, lab.cluster);
    Process& p = lab.start("sipfarmd", "f1");
    p.signal(SIGTERM);
    p.signal(SIGTERM);
    BOOST_TEST(p.wait_exit().value_or(-1) == 0);
    BOOST_TEST(!exists(cluster.control(dir, "f1")));
}

BOOST_AUTO_TEST_CASE(check_config_runs_the_daemons_own_checks) {
    TempDir dir;
    auto cluster = LoopbackCluster::make(1);
    std::string text = cluster.json(dir);
    auto pos = text.find("\"media_ports\"");
    BOOST_REQUIRE(pos != std::string::npos);
    text.erase(pos, text.find(',', pos) + 1 - pos); // drop f1's media_ports
    dir.write("cluster.json", text);
    auto sip = run({bin_path("sipfarmd"), "--config", dir.file("cluster.json"), "--member", "f1",
                    "--check-config"});
    BOOST_TEST(sip.status == 0, sip.err);
    auto media = run({bin_path("rtprelayd"), "--config", dir.file("cluster.json"), "--member", "f1",
                      "--check-config"});
    BOOST_TEST(media.status == 2);
    BOOST_TEST(media.err.find("members.f1.media_ports: rtprelayd needs a media port range") !=
                   std::string::npos,
               media.err);
}

// Issue 17: members off loopback without a secret (or with a short one):
// sipfarmd does not start, and says how to make one.
BOOST_AUTO_TEST_CASE(sipfarmd_refuses_a_farm_link_without_a_secret) {
    TempDir dir;
    auto cluster = LoopbackCluster::make(1);
    std::string text = cluster.json(dir);
    auto at = text.find("\"address\": \"127.0.0.1\"");
    BOOST_REQUIRE_MESSAGE(at != std::string::npos, text);
    text.replace(at, std::string("\"address\": \"127.0.0.1\"").size(),
                 "\"address\": \"10.77.0.11\"");
    dir.write("cluster.json", text);
    const std::string cfg = dir.file("cluster.json");
    auto check = run({bin_path("sipfarmd"), "--config", cfg, "--member", "f1", "--check-config"});
    BOOST_TEST(check.status == 2);
    BOOST_TEST(check.err.find("cluster.secret_file: missing") != std::string::npos, check.err);
    BOOST_TEST(check.err.find("head -c 32 /dev/urandom | base64") != std::string::npos, check.err);
    auto start = run(daemon_args("sipfarmd", cfg, "f1"));
    BOOST_TEST(start.status == 2);
    BOOST_TEST(start.err.find("cluster.secret_file: missing") != std::string::npos, start.err);
    // rtprelayd runs no farm link: it does not mind.
    auto media = run({bin_path("rtprelayd"), "--config", cfg, "--member", "f1", "--check-config"});
    BOOST_TEST(media.status == 0, media.err);
}

BOOST_AUTO_TEST_CASE(check_config_version_and_help) {
    TempDir dir;
    auto cluster = LoopbackCluster::make(1);
    dir.write("cluster.json", cluster.json(dir));
    for (const char* prog : {"sipfarmd", "rtprelayd"}) {
        auto ok = run({bin_path(prog), "--config", dir.file("cluster.json"), "--member", "f1",
                       "--check-config"});
        BOOST_TEST(ok.status == 0, prog);
        BOOST_TEST(ok.out.find("ok (member f1)") != std::string::npos, ok.out);
    }
    for (const char* prog : {"sipfarmd", "rtprelayd", "cgclusterctl", "lbcheck"}) {
        auto v = run({bin_path(prog), "--version"});
        BOOST_TEST(v.status == 0, prog);
        BOOST_TEST(v.out.find(std::string(prog) + " " + RTFARM_VERSION) != std::string::npos,
                   v.out);
        auto h = run({bin_path(prog), "--help"});
        BOOST_TEST(h.status == 0, prog);
        BOOST_TEST(h.out.find("--version") != std::string::npos, h.out);
    }
}

BOOST_AUTO_TEST_SUITE_END()
