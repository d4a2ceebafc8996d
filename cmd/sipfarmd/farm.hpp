// sipfarmd's Service: for every datagram (and every message framed on a
// client's TCP connection, streams.hpp), decide with sip::route() which
// member processes it, relay it there over the farm link, or process it here
// as a stateless proxy in front of the member's processor (sip/proxy.hpp).
// Counts everything by outcome and reason for `stats`. The routing rules and
// the message edits live in libcommon; this file wires sockets to them.
#pragma once

#include "base/log.hpp"
#include "cluster/farm_settings.hpp"
#include "cluster/flood.hpp"
#include "cluster/handoff.hpp"
#include "cluster/membership.hpp"
#include "daemon/daemon.hpp"
#include "egress.hpp"
#include "events.hpp"
#include "media.hpp"
#include "peer_links.hpp"
#include "sip/farm_link.hpp"
#include "sip/scanner.hpp"
#include "sockets.hpp"
#include "streams.hpp"

#include <chrono>
#include <map>
#include <string>
#include <unordered_map>

namespace rtfarm::sipfarmd {

class FarmService : public daemon::Service {
public:
    explicit FarmService(ev::Loop& loop);

    // The TLS files parse and the key matches (--check-config says so too).
    Status validate(const config::ClusterConfig& cfg,
                    const config::MemberConfig& me) const override;
    Status start(const config::ClusterConfig& cfg, const config::MemberConfig& me) override;
    Status reload(const config::ClusterConfig& cfg, const config::MemberConfig& me) override;
    // The TLS files again (new certificates under the same names).
    Status reload_files(const config::ClusterConfig& cfg, const config::MemberConfig& me) override;
    void drain(std::function<void()> done) override;
    json::Json stats() const override;
    void register_ops(control::ControlServer& server) override;

private:
    // The member's TLS server context; null when it has no tls: listener.
    static Result<SslCtxPtr> tls_context(const config::ClusterConfig& cfg,
                                         const config::MemberConfig& me, bool quiet = false);
    // The client context for outgoing TLS (always made: the system's CAs
    // when the member has no `tls`).
    static Result<SslCtxPtr> tls_client_context(const config::ClusterConfig& cfg,
                                                const config::MemberConfig& me);
    // Where a datagram came from, as the member that first received it saw it.
    struct Arrival {
        sip::Origin origin;
        SockAddr source;
        SockAddr destination;
        const sip::FarmEnvelope* envelope = nullptr; // farm link only
        Transport transport = Transport::udp;
        // The client connection it came over (on this member or the holder).
        std::optional<sip::ConnRef> conn;
    };

    void on_datagram(Socket& s, const net::Datagram& d);
    void on_stream_message(StreamConn& c, std::string_view bytes);
    // Membership: send our heartbeat to every peer, take theirs, and route
    // by the view they make.
    void on_heartbeat_timer();
    void send_heartbeats();
    void on_peer_heartbeat(std::string_view payload, const std::string& peer);
    void apply_view();
    void on_farm_link(const net::Datagram& d);
    void handle(std::string_view bytes, const Arrival& a);
    // `asked_here`: a hand-off step; this member did not know the Call-ID.
    void relay(std::string_view bytes, const Arrival& a, const std::string& member, uint8_t flags,
               bool asked_here = false);
    // Processes a message here: a probe is answered; anything else is
    // forwarded by the stateless proxy, its media anchored first when it
    // carries SDP the relay must see (media.hpp). `probe`: an lbcheck
    // probe, as handle() found when it routed it.
    void process_local(std::string_view bytes, const sip::Message& msg, const Arrival& a,
                       bool probe);
    // The stateless proxy's Outgoing for the message; none when the farm
    // answered the message itself or dropped it.
    std::optional<sip::Outgoing> forward(std::string_view bytes, const sip::Message& msg,
                                         const Arrival& a);
    // Sends `out` once the relay has answered `action` with its SDP (in
    // `out`'s body then), or answers the request when the relay refuses.
    void anchor_media(std::string_view bytes, const sip::Message& msg, const Arrival& a,
                      sip::MediaAction action, sip::Outgoing out);
    void answer_probe(std::string_view bytes, const sip::Message& msg, const Arrival& a);
    // lbcheck's media test (farm_probe.cpp): a probe with X-Farm-Media. An
    // end deletes the test session; a test goes to the relay, and true means
    // the reply is sent later, with the relay's X-Farm-Media-* headers.
    bool media_probe(std::string_view bytes, const sip::Message& msg, const Arrival& a,
                     const std::vector<std::string>& headers);
    // The To tag of the responses the farm makes for this Call-ID.
    std::string reply_tag(std::string_view bytes, const sip::Message& msg) const;
    // The one reply builder: the farm's response to `request`, to `to`,
    // with the farm's To tag and `headers`.
    sip::Outgoing made_reply(std::string_view request, const sip::Message& msg, const SockAddr& to,
                             int code, std::string_view reason,
                             const std::vector<std::string>& headers = {}) const;
    // The probe's 200 with `headers`, and X-Farm-Members when that fits in
    // the probe's size limit; dropped when the rest does not fit.
    void send_probe_reply(std::string_view bytes, const sip::Message& msg, const Arrival& a,
                          std::vector<std::string> headers);
    // Answers the message where it came from (the processor, or the
    // outside by its address or connection).
    void reply(std::string_view bytes, const sip::Message& msg, const Arrival& a, int code,
               std::string_view reason);
    // Answers a Relay backend's request that cannot go out, to its processor.
    void reply_for_backend(std::string_view bytes, const sip::Message& msg,
                           const sip::ProxyContext& ctx, int code, std::string_view reason);
    // Makes a response to `request` (our Via on top) and routes it by that
    // Via: relayed to the member whose processor sent the request, or
    // forwarded to ours (deliver_made_reply).
    void route_made_reply(std::string_view request, const sip::Message& msg, int code,
                          std::string_view reason);
    void deliver_made_reply(std::string_view bytes, const sip::Message& msg, const Arrival& a);
    // Sends through the egress (egress.hpp); a request whose connection is
    // gone is answered (undelivered).
    void send(const sip::Outgoing& out);
    // A message that could not be written, its connection gone: a request
    // other than ACK is answered 477.
    void undelivered(std::string_view bytes);
    void drop(std::string_view reason, const Arrival& a, std::string_view detail = {});
    // drain, undrain and set name their member ("member"; none: this one).
    // True when that is another member: the request went on to it, or was
    // refused (unknown member, no control_tcp), and `reply` is taken care of.
    bool for_another_member(const control::Request& req, const control::Reply& reply);

    ev::Loop& m_loop;
    SocketSet m_sockets;
    StreamSet m_streams;
    cluster::FarmSettings m_settings;
    std::string m_id;
    std::optional<cluster::Membership> m_membership;
    std::unique_ptr<ev::Ticker> m_heartbeat;
    std::chrono::milliseconds m_heartbeat_period{200};
    // Events between tasks, on the control plane (events.hpp).
    EventHub m_events;
    // drain, undrain and set for another member go there (its control_tcp).
    PeerLinks m_member_links;
    // The hand-off (sip/route.hpp): Call-IDs processed here lately, and the
    // views routed by lately.
    cluster::RecentCalls m_recent;
    // New requests per source address, farm-wide (cluster/flood.hpp).
    cluster::FloodGuard m_flood;
    cluster::ViewHistory m_history;
    bool m_first_view = true;
    // The view "without us" kept at start, until we know whether any member
    // up is older than us (else it is dropped: nobody routed without us).
    std::optional<cluster::ViewHistory::Members> m_startup_view;
    std::chrono::steady_clock::time_point m_started{};
    std::chrono::milliseconds m_dead_after{1000};
    // The key rotation (cluster/farm_keys.hpp): signs with the newest secret
    // once every member up holds it; the routing key follows, its change
    // handed off as a change of the view. Branch keys of secrets a reload
    // dropped are still checked for HANDOFF_GRACE (answers to requests sent
    // before). apply_keys() after every heartbeat and tick.
    void apply_keys();
    void set_branch_keys(std::chrono::steady_clock::time_point now);
    // The members op's "farm_key": {"signing": id, "held": [ids]}.
    json::Json farm_key_json() const;
    struct RetiredKey {
        crypto::SipKey key;
        std::chrono::steady_clock::time_point until;
    };
    std::vector<RetiredKey> m_retired_branch_keys;
    // The farm link's replay protection: our run number, and what each
    // member has sent us (sip/farm_link.hpp).
    uint64_t m_incarnation = 0;
    sip::FarmReplayGuard m_replays;
    // The SIP connection limits, the caps fitted to RLIMIT_NOFILE (raised
    // at the first call as far as the hard limit allows).
    StreamSettings stream_settings();
    uint64_t m_fd_limit = 0;

    // What arrived, how it was routed, what left and what was dropped;
    // every message leaves through m_egress.
    FarmCounters m_counters;
    Egress m_egress;

    // The sources that may run lbcheck's media test (empty: any).
    std::vector<Cidr> m_lbcheck_sources;
    std::vector<Cidr> m_flood_exempt; // never counted by m_flood
    // Probe rate limit per source host, bounded.
    std::unordered_map<std::string, log::RateLimit> m_probe_limits;

    // Last, so destroyed first: the messages still waiting for the relay are
    // sent on (with their SDP as it was) while everything else is there.
    MediaAnchor m_media;
};

} // namespace rtfarm::sipfarmd
