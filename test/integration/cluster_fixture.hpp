// Writes small loopback clusters for integration tests: members on
// 127.0.0.x with free ports, control sockets in the test's folder.
#pragma once

#include "harness.hpp"
#include "sip/route.hpp"
#include "json/json.hpp"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace rtfarm::test {

struct LoopbackMember {
    std::string id;
    std::string address; // 127.0.0.x
    std::vector<uint16_t> sip_ports;
    std::vector<uint16_t> tcp_ports; // "tcp:" sip_listen entries on `address`
    std::vector<uint16_t> tls_ports; // "tls:" ones (the `tls` object goes in `extra`)
    std::string media_ports;         // "LO-HI"
    uint16_t processor_port = 0;     // on `address`; 0: no processor
    std::string role = "frontend";
    std::string extra; // more member fields as JSON text, e.g. "\"call_legs\": \"locally\""
};

struct LoopbackCluster {
    uint16_t farm_port = 0;
    std::string secret_file;          // "" = none
    std::string previous_secret_file; // a key rotation's (rtfarm.conf(5)); "" = none
    std::string extra; // more "cluster" fields as JSON text, e.g. "\"media\": \"anchor\""
    // cluster.media_allow as JSON text ("" leaves it out): every party of
    // these tests is on loopback, which rtprelayd refuses unless allowed.
    std::string media_allow = "[\"127.0.0.0/8\"]";
    std::vector<LoopbackMember> members;

    // `n` members f1..fn on 127.0.0.1..n, one SIP port each, disjoint media ranges.
    static LoopbackCluster make(size_t n);
    std::string json(const TempDir& dir) const;
    // The routing key of the secret in `secret_file`, as sipfarmd derives it
    // (sip::route_key); none without a secret.
    std::optional<crypto::SipKey> route_key() const;
    std::string control(const TempDir& dir, const std::string& id) const {
        return dir.file(id + ".sock");
    }
    std::string media_control(const TempDir& dir, const std::string& id) const {
        return dir.file(id + "-media.sock");
    }
};

// A loopback cluster written to a temporary folder, and the daemons a test
// starts on it (killed, if still running, when the lab goes).
struct LoopbackLab {
    explicit LoopbackLab(size_t members);
    std::string config() const { return dir.file("cluster.json"); }
    // Writes the config again after a test changed `cluster`.
    void write() const { dir.write("cluster.json", cluster.json(dir)); }
    // Members that read a file of their own, "<member>.json" (a key
    // rotation goes member by member), written by write_own().
    std::vector<std::string> own_config;
    std::string config_of(const std::string& member) const;
    void write_own(const std::string& member, const LoopbackCluster& c) const {
        dir.write(member + ".json", c.json(dir));
    }
    // Starts `program` ("sipfarmd", "rtprelayd") for `member` and requires
    // its readiness; its log is "<member>.log" or "<member>-media.log".
    Process& start(const std::string& program, const std::string& member);
    // Whether `member`'s sipfarmd sees every configured member up within a
    // scaled 5 s (heartbeats take a few hundred ms).
    bool all_up(const std::string& member) const;
    // Member i's first SIP (UDP) address, "ADDR:PORT".
    std::string sip_addr(size_t i) const;
    // The member that owns `call_id` by the rendezvous hash, every member a
    // farm Member and up; and a member's index from its id ("f2" -> 1).
    std::string owner(const std::string& call_id) const;
    size_t index(const std::string& id) const;
    // Member i's whole `stats` answer (requires it).
    json::Json stats(size_t i) const;

    TempDir dir;
    LoopbackCluster cluster;
    std::vector<std::unique_ptr<Process>> processes;
};

} // namespace rtfarm::test
