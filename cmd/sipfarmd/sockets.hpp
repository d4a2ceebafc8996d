// The member's SIP-facing sockets: one UDP socket per `sip_listen` address and
// the farm link socket on the member's internal address and the cluster's
// farm port. Opens them at start, re-opens the difference on reload (all new
// sockets first; any failure leaves the old set untouched), reads what
// arrives in bounded batches and counts it. Routing decisions are not made
// here: this file owns sockets and counters only.
#pragma once

#include "daemon/daemon.hpp"
#include "net/address.hpp"
#include "net/udp.hpp"

#include <map>
#include <memory>

namespace rtfarm::sipfarmd {

enum class SocketKind { sip, farm_link };

class FarmService : public daemon::Service {
public:
    explicit FarmService(ev::Loop& loop)
        : m_loop(loop) {}

    Status start(const config::ClusterConfig& cfg, const config::MemberConfig& me) override;
    Status reload(const config::ClusterConfig& cfg, const config::MemberConfig& me) override;
    void drain(std::function<void()> done) override { done(); }
    json::Json stats() const override;

private:
    struct Socket {
        SocketKind kind;
        net::SockAddr addr;
        UniqueFd fd;
        std::unique_ptr<ev::FdEvent> event;
        uint64_t packets = 0;
        uint64_t bytes = 0;
        uint64_t truncated = 0;
        uint64_t errors = 0;
    };
    using Key = std::pair<SocketKind, net::SockAddr>;
    using SocketMap = std::map<Key, std::unique_ptr<Socket>>;

    static std::vector<Key> wanted(const config::ClusterConfig& cfg,
                                   const config::MemberConfig& me);
    Result<std::unique_ptr<Socket>> open(const Key& key);
    void on_readable(Socket& s);

    ev::Loop& m_loop;
    SocketMap m_sockets;
    net::UdpReceiver m_receiver{32};
};

} // namespace rtfarm::sipfarmd
