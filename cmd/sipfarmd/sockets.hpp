// The member's UDP sockets: one per `sip_listen` address, the farm link
// socket, and, when no listen socket can reach the processor, an inner
// socket on the processor's side. Opens them, re-opens the difference on
// reload (all new sockets first; any failure leaves the old set untouched),
// reads what arrives in bounded batches (one recvmmsg per wakeup) and hands
// each datagram to a callback. What the datagrams mean is not decided here.
#pragma once

#include "base/sockaddr.hpp"
#include "base/unique_fd.hpp"
#include "ev/loop.hpp"
#include "net/udp.hpp"
#include "json/json.hpp"

#include <functional>
#include <map>
#include <memory>
#include <vector>

namespace rtfarm::sipfarmd {

enum class SocketKind { sip, farm_link, inner };
const char* kind_name(SocketKind k);

struct Socket {
    SocketKind kind;
    SockAddr addr;
    UniqueFd fd;
    std::unique_ptr<ev::FdEvent> event;
    uint64_t packets = 0;
    uint64_t bytes = 0;
    uint64_t truncated = 0;
    uint64_t errors = 0;
};

class SocketSet {
public:
    using Key = std::pair<SocketKind, SockAddr>;
    using OnDatagram = std::function<void(Socket&, const net::Datagram&)>;

    SocketSet(ev::Loop& loop, OnDatagram on_datagram)
        : m_loop(loop)
        , m_on_datagram(std::move(on_datagram)) {}

    // The sockets a new set needs, the new ones open and the kept ones
    // still in use: a reload prepares every kind of socket first, then
    // commits them all or drops them all (closing only what it opened).
    struct Plan {
        std::map<Key, std::unique_ptr<Socket>> next; // nullptr: kept
    };
    Result<Plan> prepare(const std::vector<Key>& keys);
    void commit(Plan plan);
    Socket* find(SocketKind kind, const SockAddr& addr);
    // The first socket of `kind` whose family is `family`.
    Socket* first(SocketKind kind, int family);
    json::Json stats() const;

private:
    Result<std::unique_ptr<Socket>> open(const Key& key);
    void on_readable(Socket& s);

    ev::Loop& m_loop;
    OnDatagram m_on_datagram;
    std::map<Key, std::unique_ptr<Socket>> m_sockets;
    net::UdpReceiver m_receiver{net::DEFAULT_BATCH};
};

} // namespace rtfarm::sipfarmd
