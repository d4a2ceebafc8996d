// The Prometheus endpoint of sipfarmd (`metrics`) and rtprelayd
// (`media_metrics`) scraped over HTTP on loopback: every line of the text
// parses, the numbers are the ones `stats` reports, and the endpoint
// refuses anything but GET /metrics and survives junk.
#include "cluster_fixture.hpp"
#include "harness.hpp"

#include "base/sockaddr.hpp"
#include "control/control_client.hpp"
#include "net/socket.hpp"
#include "net/udp.hpp"

#include "unit/prom_parse.hpp"

#include <boost/test/unit_test.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

using namespace rtfarm;
using namespace rtfarm::test;

namespace {

struct HttpReply {
    int status = 0; // 0: no status line (the server closed without one)
    std::string headers;
    std::string body;
};

// Sends `request` as it is to 127.0.0.1:port and reads until the server
// closes (every request here says Connection: close) or a scaled 3 s pass.
std::string exchange(uint16_t port, const std::string& request) {
    UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    BOOST_REQUIRE(fd);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    BOOST_REQUIRE(::connect(fd.get(), reinterpret_cast<sockaddr*>(&sin), sizeof sin) == 0);
    size_t sent = 0;
    while (sent < request.size()) {
        ssize_t n = ::send(fd.get(), request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
        if (n <= 0)
            break; // the server may refuse before reading it all
        sent += static_cast<size_t>(n);
    }
    std::string out;
    auto deadline = std::chrono::steady_clock::now() + scaled(3000ms);
    while (std::chrono::steady_clock::now() < deadline) {
        pollfd p{fd.get(), POLLIN, 0};
        if (::poll(&p, 1, 100) <= 0)
            continue;
        char buf[4096];
        ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
        if (n <= 0)
            break;
        out.append(buf, static_cast<size_t>(n));
    }
    return out;
}

HttpReply http(uint16_t port, const std::string& request) {
    std::string raw = exchange(port, request);
    HttpReply r;
    auto end = raw.find("\r\n\r\n");
    if (!raw.starts_with("HTTP/1.") || end == std::string::npos)
        return r;
    r.status = std::atoi(raw.c_str() + 9);
    r.headers = raw.substr(0, end);
    r.body = raw.substr(end + 4);
    return r;
}

HttpReply get(uint16_t port, const std::string& method = "GET",
              const std::string& path = "/metrics") {
    return http(port,
                method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
}

PromText scrape(uint16_t port) {
    auto r = get(port);
    BOOST_REQUIRE_MESSAGE(r.status == 200, "status " << r.status << "\n" << r.headers);
    BOOST_TEST(r.headers.find("Content-Type: text/plain; version=0.0.4; charset=utf-8") !=
                   std::string::npos,
               r.headers);
    auto text = parse_prometheus(r.body);
    BOOST_REQUIRE_MESSAGE(text.error.empty(), text.error + "\n" + r.body);
    return text;
}

json::Json call(const std::string& socket, const char* op) {
    auto c = control::ControlClient::connect(socket, scaled(2000ms));
    BOOST_REQUIRE(c.ok());
    auto r = c->call(op, json::Json::object(), scaled(2000ms));
    BOOST_REQUIRE(r.ok());
    return r.value();
}

void send_udp(const std::string& to, const std::string& bytes) {
    auto fd = net::udp_bind(SockAddr::parse("127.0.0.1:0").value());
    BOOST_REQUIRE(fd.ok());
    BOOST_REQUIRE(net::send_datagram(fd->get(), bytes, SockAddr::parse(to).value()).ok());
}

std::string metrics_field(const char* key, uint16_t port) {
    return std::string("\"") + key + "\": \"127.0.0.1:" + std::to_string(port) + "\"";
}

} // namespace

BOOST_AUTO_TEST_SUITE(metrics)

BOOST_AUTO_TEST_CASE(sipfarmd_metrics_parse_and_match_stats) {
    LoopbackLab lab(2);
    uint16_t port = free_port();
    lab.cluster.members[0].extra = metrics_field("metrics", port);
    lab.write();
    Process& f1 = lab.start("sipfarmd", "f1");
    lab.start("sipfarmd", "f2");
    BOOST_REQUIRE(lab.all_up("f1"));

    std::string listen = "127.0.0.1:" + std::to_string(lab.cluster.members[0].sip_ports[0]);
    for (int i = 0; i < 3; ++i)
        send_udp(listen, "not SIP at all");
    std::string control = lab.cluster.control(lab.dir, "f1");
    call(control, "ping");
    // Wait (bounded) until the three datagrams are counted.
    for (int i = 0; i < 100; ++i) {
        auto dropped = call(control, "stats")["service"]["received"].as_integer().value_or(0);
        if (dropped >= 3)
            break;
        std::this_thread::sleep_for(10ms);
    }
    auto stats = call(control, "stats")["service"];
    auto m = scrape(port);
    BOOST_TEST(m.value("rtfarm_build_info",
                       {{"program", "sipfarmd"}, {"version", RTFARM_VERSION}, {"member", "f1"}})
                   .value_or(-1) == 1);
    BOOST_TEST(m.value("rtfarm_sip_packets_received_total").value_or(-1) >= 3);
    BOOST_TEST(m.value("rtfarm_sip_packets_received_total").value_or(-1) ==
               static_cast<double>(stats["received"].as_integer().value_or(-2)));
    double dropped = 0;
    for (const auto& s : m.samples)
        if (s.name == "rtfarm_sip_packets_dropped_total")
            dropped += s.value;
    BOOST_TEST(dropped == static_cast<double>(stats["dropped"].as_integer().value_or(-2)));
    BOOST_TEST(dropped >= 3);
    BOOST_TEST(m.value("rtfarm_cluster_members", {{"state", "up"}}).value_or(-1) == 2);
    BOOST_TEST(m.value("rtfarm_cluster_members", {{"state", "down"}}).value_or(-1) == 0);
    BOOST_TEST(m.value("rtfarm_cluster_view_epoch").value_or(-1) ==
               static_cast<double>(stats["epoch"].as_integer().value_or(-2)));
    BOOST_TEST(
        m.value("rtfarm_control_requests_total", {{"op", "ping"}, {"result", "ok"}}).value_or(-1) ==
        1);
    BOOST_TEST(m.value("rtfarm_control_requests_total", {{"op", "stats"}, {"result", "ok"}})
                   .value_or(-1) >= 2);
    BOOST_TEST(m.value("rtfarm_heartbeats_total", {{"direction", "received"}}).value_or(-1) > 0);
    BOOST_TEST(m.types.count("rtfarm_farm_link_relays_total") == 1u);
    BOOST_TEST(m.types.count("rtfarm_media_sessions") == 0u);

    f1.signal(SIGTERM);
    BOOST_TEST(f1.wait_exit().value_or(-1) == 0);
    BOOST_TEST(unexpected_errors(f1.log()).empty(), f1.log());
}

BOOST_AUTO_TEST_CASE(rtprelayd_serves_media_metrics) {
    LoopbackLab lab(1);
    uint16_t port = free_port();
    lab.cluster.members[0].extra = metrics_field("media_metrics", port);
    lab.write();
    Process& p = lab.start("rtprelayd", "f1");
    auto m = scrape(port);
    BOOST_TEST(m.value("rtfarm_build_info",
                       {{"program", "rtprelayd"}, {"version", RTFARM_VERSION}, {"member", "f1"}})
                   .value_or(-1) == 1);
    BOOST_TEST(m.value("rtfarm_media_ports_capacity").value_or(-1) == 1000);
    BOOST_TEST(m.value("rtfarm_media_ports_free").value_or(-1) == 1000);
    BOOST_TEST(m.value("rtfarm_media_sessions").value_or(-1) == 0);
    BOOST_TEST(
        m.value("rtfarm_media_packets_dropped_total", {{"reason", "stranger"}}).value_or(-1) == 0);
    BOOST_TEST(m.types.count("rtfarm_sip_packets_received_total") == 0u);
    p.signal(SIGTERM);
    BOOST_TEST(p.wait_exit().value_or(-1) == 0);
    BOOST_TEST(unexpected_errors(p.log()).empty(), p.log());
}

BOOST_AUTO_TEST_CASE(refuses_all_but_get_metrics_and_survives_junk) {
    LoopbackLab lab(1);
    uint16_t port = free_port();
    lab.cluster.members[0].extra = metrics_field("metrics", port);
    lab.write();
    Process& p = lab.start("sipfarmd", "f1");

    BOOST_TEST(get(port, "GET", "/").status == 404);
    BOOST_TEST(get(port, "GET", "/metrics/x").status == 404);
    BOOST_TEST(get(port, "GET", "/metricsx").status == 404);
    auto post = get(port, "POST", "/metrics");
    BOOST_TEST(post.status == 405);
    BOOST_TEST(post.headers.find("Allow: GET") != std::string::npos, post.headers);
    BOOST_TEST(get(port, "PUT", "/metrics").status == 405);
    BOOST_TEST(get(port, "HEAD", "/metrics").status == 405);
    BOOST_TEST(get(port, "DELETE", "/metrics").status == 405);
    BOOST_TEST(get(port, "GET", "/metrics?name=x").status == 200);

    // Junk: no valid reply, and the daemon goes on.
    for (std::string junk :
         {std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11),
          std::string("BREW /metrics HTCPCP/1.0\r\n\r\n"), std::string("GET\r\n\r\n"),
          std::string("\r\n\r\n\r\n"), std::string(5000, 'A') + "\r\n\r\n"}) {
        auto r = http(port, junk);
        BOOST_TEST((r.status == 0 || r.status >= 400), "status " << r.status);
        BOOST_TEST(r.status != 200);
    }
    // A header block over the limit is refused, not read forever.
    auto big = http(port, "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Pad: " + std::string(20000, 'p') +
                              "\r\nConnection: close\r\n\r\n");
    BOOST_TEST(big.status != 200);
    // A body over the limit too.
    auto body = http(port, "GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n"
                           "Connection: close\r\n\r\n" +
                               std::string(100000, 'b'));
    BOOST_TEST(body.status != 200);

    // Still alive, still scraping, and the control socket answers.
    BOOST_TEST(scrape(port)
                   .value("rtfarm_build_info",
                          {{"program", "sipfarmd"}, {"version", RTFARM_VERSION}, {"member", "f1"}})
                   .value_or(-1) == 1);
    BOOST_TEST(call(lab.cluster.control(lab.dir, "f1"), "ping")["pong"].as_bool().value_or(false));
    p.signal(SIGTERM);
    BOOST_TEST(p.wait_exit().value_or(-1) == 0);
    BOOST_TEST(unexpected_errors(p.log()).empty(), p.log());
}

BOOST_AUTO_TEST_CASE(busy_metrics_port_refuses_to_start) {
    TempDir dir;
    auto cluster = LoopbackCluster::make(1);
    uint16_t port = free_port();
    cluster.members[0].extra = metrics_field("metrics", port);
    dir.write("cluster.json", cluster.json(dir));
    UniqueFd holder(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    BOOST_REQUIRE(::bind(holder.get(), reinterpret_cast<sockaddr*>(&sin), sizeof sin) == 0);
    BOOST_REQUIRE(::listen(holder.get(), 1) == 0);
    auto r = run({bin_path("sipfarmd"), "--config", dir.file("cluster.json"), "--member", "f1"});
    BOOST_TEST(r.status == 2);
    BOOST_TEST(r.err.find("cannot start: metrics:") != std::string::npos, r.err);
    BOOST_TEST(r.err.find("127.0.0.1:" + std::to_string(port)) != std::string::npos, r.err);
}

BOOST_AUTO_TEST_SUITE_END()
