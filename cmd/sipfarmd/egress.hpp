// sipfarmd's way out. Every message the farm sends leaves through Egress:
// to another member over the farm link (to_member), and every Outgoing the
// stateless proxy or the farm itself makes (send): to the processor, to an
// address outside (a datagram, or a connection this member opens), on a
// client connection held here, or through the member that holds it. Every
// message that cannot leave is dropped here, counted under a reason, its log
// line rate-limited (drop). Egress decides nothing about routing: a request
// that finds its connection gone comes back as Sent::gone, and the farm
// (farm.hpp) answers it.
//
// FarmCounters are sipfarmd's counters, the `stats` op's figures
// (sipfarmd(8), "Statistics"): Egress counts what leaves and what is
// dropped, the farm what arrives and how it was routed.
#pragma once

#include "base/log.hpp"
#include "cluster/farm_settings.hpp"
#include "sip/farm_link.hpp"
#include "sip/proxy.hpp"
#include "sip/route.hpp"
#include "sockets.hpp"
#include "streams.hpp"
#include "json/json.hpp"

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace rtfarm::sipfarmd {

struct FarmCounters {
    using ByName = std::map<std::string, uint64_t, std::less<>>;

    uint64_t received = 0;     // datagrams and framed stream messages
    uint64_t processed = 0;    // handled here (the stateless proxy, probes, outbound)
    uint64_t to_processor = 0; // sent to our processor
    uint64_t to_outside = 0;   // sent outside, on any transport
    uint64_t replies = 0;      // responses the farm made itself
    uint64_t relayed_in = 0;   // SIP messages other members relayed to us
    uint64_t heartbeats_in = 0;
    uint64_t heartbeats_out = 0;
    uint64_t to_connection = 0;        // written on our client connections
    uint64_t to_holder = 0;            // relayed to the member holding the connection
    uint64_t to_target_connection = 0; // requests on connections we opened to targets
    uint64_t redialed = 0;             // for a closed outgoing connection, on a new one
    uint64_t conn_gone = 0;            // for a connection that is no longer open
    uint64_t conn_gone_replies = 0;    // 477 answers to requests for one
    ByName relayed_out;                // by member
    // By the transport the message came in on: under "relayed_by_transport", by name.
    std::array<uint64_t, static_cast<size_t>(Transport::other) + 1> relayed_by{};
    ByName dropped; // by reason
    // By route()'s reason (sip/route.hpp), and the Relay backends' requests
    // sent out here: under "routed_by", by name.
    std::array<uint64_t, std::size(sip::REASONS)> routed{};
    uint64_t outbound_for_relay = 0;

    static void count(ByName& m, std::string_view key);
    void count_routed(sip::Reason r) { ++routed[static_cast<size_t>(r)]; }
    uint64_t relayed() const;
    uint64_t dropped_total() const;
    // The counters under the `stats` op's keys, into `stats`.
    void add_to(json::Json& stats) const;
};

// Why to_member() did not send (also the drop reasons it is counted under).
namespace egress_error {
// No such member, or no farm link socket of its address family.
inline constexpr const char* NO_FARM_LINK = "no_farm_link";
inline constexpr const char* RELAY_SEND_FAILED = "relay_send_failed";
} // namespace egress_error

class Egress {
public:
    // What became of a message send() was given. `gone`: it was for a
    // connection that is no longer open, and none could be opened again
    // (counted as conn_gone); the farm answers a request (farm.hpp).
    enum class Sent { sent, dropped, gone };

    Egress(SocketSet& sockets, StreamSet& streams, const cluster::FarmSettings& settings,
           const std::string& self, FarmCounters& counters);
    Egress(const Egress&) = delete;
    Egress& operator=(const Egress&) = delete;

    // This run's number in every envelope (sip/farm_link.hpp, replay protection).
    void set_incarnation(uint64_t incarnation) { m_incarnation = incarnation; }

    // Over the farm link to `member`: `env` addressed to it and numbered,
    // signed with the signing secret. A heartbeat is not counted as relayed.
    // The error: "no_farm_link" (no such member, or no farm link socket of
    // its family) or "relay_send_failed"; the caller drops or shrugs.
    Status to_member(const std::string& member, sip::FarmEnvelope env, std::string_view payload);

    // An Outgoing leaves by the way it names (sip::send_path): a client
    // connection here or at its holder; else to our processor when it is
    // a datagram addressed to it, else a datagram or a connection to `to`.
    Sent send(const sip::Outgoing& out);
    // Bytes for our own connection `id` (the holder's part of send()).
    Sent to_connection(uint64_t id, std::string_view bytes);
    // A message that never left, queued on a connection that closed.
    void count_gone();

    // The one drop path: counted under `reason`; logged (debug, rate-limited)
    // with where the message stood, formatted only when the line is due.
    void drop(std::string_view reason, const SockAddr& from, std::string_view detail = {});
    void drop(std::string_view reason, std::string_view from, std::string_view detail = {});

private:
    Sent to_processor(const sip::Outgoing& out);
    Sent to_address(const sip::Outgoing& out);
    Sent to_target(const sip::Outgoing& out);
    Sent to_holder(const sip::Outgoing& out);
    // The open connection to `target` or a new one; logged (rate-limited) when none.
    std::optional<uint64_t> connect(const StreamTarget& target);
    Sent gone();
    bool count_drop(std::string_view reason);
    std::string_view signing_secret() const;

    SocketSet& m_sockets;
    StreamSet& m_streams;
    const cluster::FarmSettings& m_settings;
    const std::string& m_self;
    FarmCounters& m_counters;
    uint64_t m_incarnation = 0;
    uint64_t m_sequence = 0;
    log::RateLimit m_drop_log{5.0, 20.0};
};

} // namespace rtfarm::sipfarmd
