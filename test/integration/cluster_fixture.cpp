#include "cluster_fixture.hpp"

#include "control/control_client.hpp"
#include "sip/route.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <thread>

#include <cstdlib>

namespace rtfarm::test {

LoopbackCluster LoopbackCluster::make(size_t n) {
    LoopbackCluster c;
    c.farm_port = free_port();
    for (size_t i = 1; i <= n; ++i) {
        LoopbackMember m;
        m.id = "f" + std::to_string(i);
        m.address = "127.0.0." + std::to_string(i);
        m.sip_ports.push_back(free_port());
        m.media_ports = std::to_string(20000 + 1000 * i) + "-" + std::to_string(20999 + 1000 * i);
        c.members.push_back(m);
    }
    return c;
}

std::string LoopbackCluster::json(const TempDir& dir) const {
    std::string more = secret_file.empty() ? "" : ", \"secret_file\": \"" + secret_file + "\"";
    if (!previous_secret_file.empty())
        more += ", \"previous_secret_file\": \"" + previous_secret_file + "\"";
    if (!media_allow.empty())
        more += ", \"media_allow\": " + media_allow;
    if (!extra.empty())
        more += ", " + extra;
    std::string out = "{\n  \"cluster\": {\"name\": \"test\", \"wan_ip\": \"127.0.0.1\", "
                      "\"farm_port\": " +
                      std::to_string(farm_port) + more + "},\n  \"members\": {\n";
    for (size_t i = 0; i < members.size(); ++i) {
        const auto& m = members[i];
        std::string listen;
        for (auto p : m.sip_ports)
            listen +=
                (listen.empty() ? "" : ", ") + ("\"" + m.address + ":" + std::to_string(p) + "\"");
        for (auto p : m.tcp_ports)
            listen += (listen.empty() ? "" : ", ") +
                      ("\"tcp:" + m.address + ":" + std::to_string(p) + "\"");
        for (auto p : m.tls_ports)
            listen += (listen.empty() ? "" : ", ") +
                      ("\"tls:" + m.address + ":" + std::to_string(p) + "\"");
        std::string processor;
        if (m.processor_port)
            processor =
                "\"processor\": \"" + m.address + ":" + std::to_string(m.processor_port) + "\", ";
        out += "    \"" + m.id + "\": {\"role\": \"" + m.role + "\", \"address\": \"" + m.address +
               "\", \"sip_listen\": [" + listen + "], " + processor + "\"media_ports\": \"" +
               m.media_ports + "\", \"control\": \"" + control(dir, m.id) +
               "\", \"media_control\": \"" + media_control(dir, m.id) + "\"" +
               (m.extra.empty() ? "" : ", " + m.extra) + "}" +
               (i + 1 < members.size() ? ",\n" : "\n");
    }
    out += "  }\n}\n";
    return out;
}

LoopbackLab::LoopbackLab(size_t members)
    : cluster(LoopbackCluster::make(members)) {
    dir.write("cluster.json", cluster.json(dir));
}

std::string LoopbackLab::config_of(const std::string& member) const {
    bool own = std::find(own_config.begin(), own_config.end(), member) != own_config.end();
    return own ? dir.file(member + ".json") : config();
}

Process& LoopbackLab::start(const std::string& program, const std::string& member) {
    std::string name = program == "rtprelayd" ? member + "-media" : member;
    // RTFARM_TEST_LOG_LEVEL (e.g. "debug") for reading a failing case's logs.
    const char* level = std::getenv("RTFARM_TEST_LOG_LEVEL");
    processes.push_back(std::make_unique<Process>(
        dir, name,
        std::vector<std::string>{bin_path(program), "--config", config_of(member), "--member",
                                 member, "--log-level", level && *level ? level : "info"}));
    Process& p = *processes.back();
    BOOST_REQUIRE_MESSAGE(p.wait_ready(), program + " " + member + " not ready: " + p.log());
    return p;
}

bool LoopbackLab::all_up(const std::string& member) const {
    auto deadline = std::chrono::steady_clock::now() + scaled(5000ms);
    while (std::chrono::steady_clock::now() < deadline) {
        auto c = control::ControlClient::connect(cluster.control(dir, member), scaled(2000ms));
        auto r =
            c ? c->call("members", json::Json(), scaled(2000ms)) : Result<json::Json>(c.error());
        if (r) {
            auto members = (*r)["members"];
            size_t up = 0;
            for (size_t k = 0; k < members.size(); ++k)
                up += members.at(k)["state"].as_string() == std::string("up") ? 1 : 0;
            if (up == members.size())
                return true;
        }
        std::this_thread::sleep_for(20ms);
    }
    return false;
}

std::string LoopbackLab::sip_addr(size_t i) const {
    const auto& m = cluster.members.at(i);
    return m.address + ":" + std::to_string(m.sip_ports.at(0));
}

std::optional<crypto::SipKey> LoopbackCluster::route_key() const {
    if (secret_file.empty())
        return std::nullopt;
    std::ifstream in(secret_file, std::ios::binary);
    std::string secret((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r'))
        secret.pop_back();
    return sip::route_key(secret);
}

std::string LoopbackLab::owner(const std::string& call_id) const {
    sip::FarmView v;
    for (const auto& m : cluster.members)
        v.members.push_back({m.id, true, true, false});
    v.key = cluster.route_key();
    return sip::rendezvous_owner(call_id, v);
}

size_t LoopbackLab::index(const std::string& id) const {
    for (size_t i = 0; i < cluster.members.size(); ++i)
        if (cluster.members[i].id == id)
            return i;
    BOOST_FAIL("no member " + id);
    return 0;
}

json::Json LoopbackLab::stats(size_t i) const {
    auto c = control::ControlClient::connect(cluster.control(dir, cluster.members.at(i).id),
                                             scaled(2000ms));
    BOOST_REQUIRE(c.ok());
    auto r = c->call("stats", json::Json::object(), scaled(2000ms));
    BOOST_REQUIRE(r.ok());
    return r.value();
}

} // namespace rtfarm::test
