#include "cluster/farm_settings.hpp"

#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>

using namespace rtfarm;

namespace {

config::ClusterConfig load(const std::string& text) {
    auto c = config::parse(text, "/tmp/farm-settings-test.json");
    BOOST_REQUIRE_MESSAGE(c.ok(), (c.ok() ? "" : c.error().message));
    return c.value();
}

const std::string DSR = R"({
  "cluster": {"name": "dsr", "wan_ip": "203.0.113.1"},
  "members": {
    "f1": {"role": "frontend", "address": "10.77.0.11", "sip_listen": ["203.0.113.1:5060", "0.0.0.0:5060"],
           "processor": "127.0.0.1:5070", "control": "/run/f1.sock"},
    "f2": {"role": "frontend", "address": "10.77.0.12", "sip_listen": ["203.0.113.1:5060", "0.0.0.0:5060"],
           "processor": "10.77.0.12:5070", "control": "/run/f2.sock"},
    "b1": {"role": "backend", "address": "10.77.0.21", "sip_listen": [],
           "processor": "127.0.0.1:5070", "control": "/run/b1.sock"},
    "s1": {"role": "standalone", "address": "10.77.0.31", "sip_listen": ["0.0.0.0:5062"],
           "sip_farm": "member", "control": "/run/s1.sock"}
  }
})";

} // namespace

BOOST_AUTO_TEST_SUITE(farm_settings)

BOOST_AUTO_TEST_CASE(dsr_frontend_sends_from_the_vip_and_proxies_on_loopback) {
    auto cfg = load(DSR);
    auto s = cluster::derive_farm_settings(cfg, *cfg.find("f1"));
    BOOST_REQUIRE(s.ok());
    BOOST_TEST(s->view.self == "f1");
    BOOST_TEST(s->view.self_farm_member);
    BOOST_TEST(!s->view.self_relay);
    BOOST_REQUIRE(s->public_source.has_value());
    BOOST_TEST(s->public_source->str() == "203.0.113.1:5060");
    BOOST_TEST(s->inner.str() == "127.0.0.1:5060");
    BOOST_TEST(s->proxy.outer_sent_by.str() == "203.0.113.1:5060");
    BOOST_TEST(s->proxy.rr_host == "203.0.113.1");
    BOOST_TEST(s->proxy.rr_port == 0);
    BOOST_TEST(s->farm_link.str() == "10.77.0.11:5069");
    BOOST_TEST(!s->view.key.has_value()); // no secret: the unkeyed hash
    BOOST_TEST(s->peers.at("b1").str() == "10.77.0.21:5069");
    // Farm Members: the frontends; not the backend, not the standalone server.
    for (const auto& m : s->view.members)
        BOOST_TEST(m.farm_member == (m.id == "f1" || m.id == "f2"), m.id);
}

BOOST_AUTO_TEST_CASE(processor_on_the_member_address_and_relay_backend) {
    auto cfg = load(DSR);
    auto f2 = cluster::derive_farm_settings(cfg, *cfg.find("f2"));
    BOOST_REQUIRE(f2.ok());
    BOOST_TEST(f2->inner.str() == "10.77.0.12:5060");
    auto b1 = cluster::derive_farm_settings(cfg, *cfg.find("b1"));
    BOOST_REQUIRE(b1.ok());
    BOOST_TEST(b1->view.self_relay); // auto backend with Members around
    BOOST_TEST(!b1->view.self_farm_member);
    BOOST_TEST(!b1->public_source.has_value());
    // Its farm link socket, not another port of its host (issue 17).
    BOOST_TEST(cluster::member_at(*b1, SockAddr::parse("10.77.0.12:5069").value()).value_or("") ==
               "f2");
    BOOST_TEST(!cluster::member_at(*b1, SockAddr::parse("10.77.0.12:40000").value()).has_value());
    BOOST_TEST(!cluster::member_at(*b1, SockAddr::parse("10.77.0.99:5069").value()).has_value());
}

// Our Record-Route facing TCP or TLS names the member's first listener for
// it; 0 (left out) for the default ports, and for TLS without a listener.
BOOST_AUTO_TEST_CASE(record_route_ports_per_transport) {
    // The tls files must be regular files (their contents are the daemon's
    // business): empty ones in a folder of the test's own.
    char folder[] = "/tmp/rtfarm-farm-settings-XXXXXX";
    BOOST_REQUIRE(::mkdtemp(folder) != nullptr);
    std::string dir = folder;
    for (const char* f : {"/tls.crt", "/tls.key"})
        std::ofstream(dir + f).flush();
    std::string tls =
        R"("tls": {"certificate": ")" + dir + R"(/tls.crt", "key": ")" + dir + R"(/tls.key"})";
    auto cfg = load(R"({
      "cluster": {"name": "ports", "wan_ip": "203.0.113.1"},
      "members": {
        "f1": {"role": "frontend", "address": "10.77.0.11",
               "sip_listen": ["0.0.0.0:5080", "tcp:127.0.0.1:5093", "tcp:0.0.0.0:5090", "tls:0.0.0.0:5091", "tcp:0.0.0.0:5092"],
               "processor": "127.0.0.1:5070", "control": "/run/f1.sock", )" +
                    tls + R"(},
        "f2": {"role": "frontend", "address": "10.77.0.12",
               "sip_listen": ["0.0.0.0:5060", "tcp:0.0.0.0:5060", "tls:0.0.0.0:5061"],
               "processor": "127.0.0.1:5070", "control": "/run/f2.sock", )" +
                    tls + R"(},
        "f3": {"role": "frontend", "address": "10.77.0.13", "sip_listen": ["0.0.0.0:5080"],
               "processor": "127.0.0.1:5070", "control": "/run/f3.sock"}
      }
    })");
    auto f1 = cluster::derive_farm_settings(cfg, *cfg.find("f1"));
    BOOST_REQUIRE(f1.ok());
    BOOST_TEST(f1->proxy.rr_port == 5080);
    BOOST_TEST(f1->proxy.rr_tcp_port == 5090);
    BOOST_TEST(f1->proxy.rr_tls_port == 5091);
    auto f2 = cluster::derive_farm_settings(cfg, *cfg.find("f2"));
    BOOST_REQUIRE(f2.ok());
    BOOST_TEST(f2->proxy.rr_port == 0);
    BOOST_TEST(f2->proxy.rr_tcp_port == 0);
    BOOST_TEST(f2->proxy.rr_tls_port == 0);
    auto f3 = cluster::derive_farm_settings(cfg, *cfg.find("f3"));
    BOOST_REQUIRE(f3.ok());
    BOOST_TEST(f3->proxy.rr_tcp_port == 5080);
    BOOST_TEST(f3->proxy.rr_tls_port == 0);
    std::filesystem::remove_all(dir);
}

BOOST_AUTO_TEST_SUITE_END()
