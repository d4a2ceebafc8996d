// Writes small loopback clusters for integration tests: members on
// 127.0.0.x with free ports, control sockets in the test's folder.
#pragma once

#include "harness.hpp"

#include <string>
#include <vector>

namespace rtfarm::test {

struct LoopbackMember {
    std::string id;
    std::string address; // 127.0.0.x
    std::vector<uint16_t> sip_ports;
    std::string media_ports; // "LO-HI"
};

struct LoopbackCluster {
    uint16_t farm_port = 0;
    std::vector<LoopbackMember> members;

    // `n` members f1..fn on 127.0.0.1..n, one SIP port each, disjoint media ranges.
    static LoopbackCluster make(size_t n);
    std::string json(const TempDir& dir) const;
    std::string control(const TempDir& dir, const std::string& id) const {
        return dir.file(id + ".sock");
    }
    std::string media_control(const TempDir& dir, const std::string& id) const {
        return dir.file(id + "-media.sock");
    }
};

} // namespace rtfarm::test
