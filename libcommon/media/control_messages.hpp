// The media control messages of rtprelayd(8), as structs with one codec:
// rtprelayd parses the requests and builds the answers, sipfarmd builds the
// requests (its own and those it passes on for other members, media.sdp,
// media.delete, media.query) and parses the answers, cgclusterctl parses
// the answers to `list` and `stats`. The keys, the optional fields and the error codes are those of
// rtprelayd(8) and rtfarm-control(7); no program names a key itself.
//
// Every parse() takes a value from outside and checks every field it
// reads: its type, its length, its range. A request that fails is
// "bad_request" (rtfarm-control(7)), an answer that fails "bad_reply"; the
// message names the field. Fields a message does not name are ignored.
#pragma once

#include "base/result.hpp"
#include "media/latch.hpp"
#include "sip/media_action.hpp"
#include "json/json.hpp"

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rtfarm::media {

// The ops of rtprelayd's control socket that carry SDP: `offer` and
// `answer` name the role, `sdp` (sipfarmd's) says it in "as".
enum class SdpOp { offer, answer, sdp };
// "offer", "answer", "sdp": the op's name.
std::string_view op_name(SdpOp op);
// The other media ops.
inline constexpr const char* OP_DELETE = "delete";
inline constexpr const char* OP_QUERY = "query";
inline constexpr const char* OP_LIST = "list";
// sipfarmd serves the media ops for other members under this prefix
// ("media.sdp", ...) on its control_tcp.
inline constexpr std::string_view PEER_OP_PREFIX = "media.";

// The two parties of a call, as the answers name them.
enum class Party : uint8_t { caller, callee };
std::string_view party_name(Party p);

// offer, answer, sdp: {"call_id", "from_tag", "to_tag", "sdp", "source",
// and for sdp "as" and "answered"}.
struct SdpRequest {
    std::string call_id;
    std::string from_tag; // the author of `sdp`
    std::string to_tag;   // the other party; "" not known yet (required by answer)
    std::string sdp;
    // Where the SIP request that made the offer came from, an IP address
    // ("" none); parse() writes it the one way ("::ffff:198.51.100.10" is
    // "198.51.100.10").
    std::string source;
    // sdp only: offer, answer or auto (absent: auto).
    std::optional<sip::SdpRole> as;
    // sdp only: the dialog is answered (true) or early (false); absent: unknown.
    std::optional<bool> answered;

    json::Json to_json() const;
    // `op` decides what is required and what is read.
    static Result<SdpRequest> parse(const json::Json& body, SdpOp op);
};

// One m= line's relay ports in an SDP answer ({0, 0}: disabled).
struct StreamPortsReply {
    long long index = 0;
    uint16_t rtp = 0;
    uint16_t rtcp = 0;
};

struct SdpReply {
    std::string sdp;     // the relay's SDP for `to`
    std::string member;  // whose rtprelayd holds the session
    std::string address; // the advertised IP address
    Party to = Party::callee;
    bool created = false;
    bool answer = false; // "as": taken as an answer, else an offer
    bool unchanged = false;
    std::vector<StreamPortsReply> ports;

    json::Json to_json() const;
    static Result<SdpReply> parse(const json::Json& reply);
    // "ADDR:PORT" of the first stream: where the party that gets this SDP
    // must send. Error "bad_reply" when there is no stream.
    Result<std::string> endpoint() const;
};

// delete: {"call_id", "if_unanswered"}.
struct DeleteRequest {
    std::string call_id;
    // Only when the call was never answered (a CANCEL, an error response).
    bool if_unanswered = false;

    json::Json to_json() const;
    static Result<DeleteRequest> parse(const json::Json& body);
};

struct DeleteReply {
    std::string call_id;
    bool deleted = false;

    json::Json to_json() const;
    static Result<DeleteReply> parse(const json::Json& reply);
};

// query: {"call_id"}.
struct QueryRequest {
    std::string call_id;

    json::Json to_json() const;
    static Result<QueryRequest> parse(const json::Json& body);
};

// One party's side of a stream in a query answer; an address "" is null.
struct SideReply {
    uint16_t local_port = 0;
    uint16_t rtcp_port = 0;
    bool rtcp_mux = false;
    std::string advertised; // ADDR:PORT
    bool strict = false;
    std::string expected;
    std::string learned;
    std::string learned_rtcp;
    std::string sends_to;
    long long packets = 0;
    long long bytes = 0;
    long long rtcp_packets = 0;
    long long send_failed = 0;
    // By media::Drop, named by drop_name() (DROP_REASONS).
    std::array<long long, DROP_SLOTS> dropped{};
    std::optional<long long> last_packet_age_ms;
};

struct StreamReply {
    long long index = 0;
    std::string media; // "audio", "video", ...
    SideReply caller;
    SideReply callee;
};

struct QueryReply {
    std::string call_id;
    std::string member;
    std::string caller_tag;
    std::string callee_tag;
    bool answered = false;
    long long age_ms = 0;
    long long signal_age_ms = 0;
    std::vector<StreamReply> streams;

    json::Json to_json() const;
    static Result<QueryReply> parse(const json::Json& reply);
    // The call has media: answered, and a packet learned from a party on
    // some stream. A session without is one the relay closes within
    // media_unlatched_timeout of its last offer or answer, or a ringing one.
    bool heard() const;
};

// list: one session.
struct SessionSummary {
    std::string call_id;
    long long streams = 0;
    bool answered = false;
    long long age_ms = 0;
    long long packets = 0;
    std::optional<long long> last_packet_age_ms;

    json::Json to_json() const;
};

struct ListReply {
    std::string member;
    long long count = 0;
    std::vector<SessionSummary> sessions;

    json::Json to_json() const;
    static Result<ListReply> parse(const json::Json& reply);
};

// stats: rtprelayd's "service" counters (rtprelayd(8)). Until the relay
// has started only member, media_ports and draining.
struct RelayStats {
    struct Ports {
        long long capacity = 0;
        long long in_use = 0;
        long long free = 0;
        long long free_pairs = 0;
        long long high_water = 0;
        long long exhausted = 0;
    };
    struct Running {
        std::string advertised_ip;
        std::string bind;
        bool strict = false;
        long long timeout_s = 0;
        long long unlatched_timeout_s = 0;
        long long max_streams = 0;
        long long max_sessions = 0;
        long long max_sessions_per_source = 0;
        long long sources = 0;
        long long source_refused = 0;
        std::vector<std::string> media_allow; // CIDR prefixes
        long long sessions = 0;
        long long streams = 0;
        long long sockets = 0;
        Ports ports;
        long long packets = 0;
        long long bytes = 0;
        std::array<long long, DROP_SLOTS> dropped{}; // by media::Drop
        long long send_failed = 0;
        long long receive_errors = 0;
        long long latched = 0;
        long long offers = 0;
        long long answers = 0;
        long long created = 0;
        long long deleted = 0;
        long long expired = 0;
        long long unlatched = 0;
        long long relatched = 0;
        long long bind_retries = 0;
        std::map<std::string, long long> failed; // by error code (OfferError)
        std::optional<long long> fd_limit;
        // The kernel fast path (rtprelayd(8)); absent from a relay without one.
        struct FastPath {
            std::string mode;   // "off", "auto", "required"
            std::string path;   // "kernel" or "userspace": where latched streams go
            std::string reason; // why userspace, when mode asked for the kernel
            struct Interface {
                std::string name;
                std::string xdp; // "native" or "generic"
            };
            std::vector<Interface> interfaces;
            long long entries = 0;        // directions the relay put in the map
            long long kernel_entries = 0; // counted in the kernel's map
            long long packets = 0;        // forwarded by the program
            long long bytes = 0;
            long long no_route = 0;  // matched, no next hop yet: to the socket
            long long not_media = 0; // matched, left for the socket to judge
            long long refused = 0;   // directions the map did not take
        };
        std::optional<FastPath> fast_path;
    };
    std::string member;
    std::string media_ports; // "LO-HI"
    bool draining = false;
    std::optional<Running> running;

    json::Json to_json() const;
    static Result<RelayStats> parse(const json::Json& service);
};

} // namespace rtfarm::media
