// Calls: the media sessions of rtprelayd, one per Call-ID, driven by SDP
// offer/answer (RFC 3264). It ties the pieces together: sdp.hpp reads the
// SDP and writes it back with the relay's address and ports, PortPool hands
// out the ports, the engine (engine.hpp; rtprelayd's is relay::Relay) binds
// them and forwards media with latching.
//
// The two parties: the *caller* is the party whose tag came in the first
// offer's from_tag, the *callee* the other one (to_tag, learned from the
// first answer at the latest). An offer's from_tag names its offerer, an
// answer's from_tag the offerer it answers and its to_tag the answerer; so a
// re-INVITE from the callee (From tag = callee's tag) and a late offer in a
// 2xx (the caller of these functions swaps the tags) work the same way.
//
// Per m= line one relayed stream with a side per party. A side's sockets
// receive from that party, and the SDP that party gets names that side's
// ports: the offer is rewritten with the answerer's side, the answer with
// the offerer's. Ports per side:
// - the offerer's side: one port when the offer has a=rtcp-mux (the answer
//   we write accepts it), else an RTP/RTCP pair;
// - the answerer's side: always a pair at the offer, since it may refuse
//   rtcp-mux and send RTCP to RTP + 1; the offer we write proposes rtcp-mux
//   when the offerer did. If the answer agrees, the RTCP half goes back to
//   the pool (PortPool::shrink_to_mux), so a mux call holds two ports.
// A new offer keeps the ports of every stream still active (the same body
// gives the same output: a refresh stays a refresh) and relatches a party
// whose address changed; a stream set to port 0 is closed and its ports
// freed; a new or re-enabled m= line gets new ports. When the output would
// change under an unchanged o= version (ports or address of ours changed),
// the version written is raised (sdp.hpp, version_offset).
//
// An operation either succeeds or leaves everything as it was: ports and
// sockets taken for a failed offer go back, and a call created by it goes.
// A port the kernel refuses (another program holds it) is skipped: up to
// BIND_ATTEMPTS ports are tried per side.
//
// SDP that names this call's own relay ports (our address, a port of ours
// on every active m= line) is this relay's output coming back, as when a
// proxy in front of us sends the rewritten offer on to the callee: it is
// returned unchanged and changes nothing (SdpOut::unchanged).
//
// exchange() is for a caller that sees SIP messages but not the offer/answer
// state (sipfarmd): it takes the SDP of one party (author) to the other
// (peer) as an offer or an answer as told, or, for `auto` (SDP in a
// response), as the answer when the peer made the last offer, else as an
// offer (a late offer in a 2xx to an INVITE without SDP).
//
// Expiry: a call whose media and signalling have both been silent for
// `timeout` is closed (expire()); one not answered yet is kept at least
// `unanswered_timeout`, since ringing may last until Timer C (3 min) with no
// media at all. An answered call from whose parties no packet has ever
// come (Engine::heard()) is closed `unlatched_timeout` after its last offer
// or answer: once answered, both parties send within a packet interval, and
// RTCP at least every 5 s (RFC 3550 6.2), so seconds of silence mean nobody
// is there (issue 16: ports held by calls nobody talks on). A stranger's
// packets never count as media (latch.hpp).
//
// Admission (issue 16): the addresses an SDP names for a party pass the
// address policy (address_policy.hpp) or the SDP is refused with
// "sdp_address_refused"; an SDP with more than `max_streams` m= lines is
// "too_many_streams"; a new call beyond `max_sessions` is
// "sessions_exhausted". Held streams (c=0.0.0.0) and SDP that is this
// relay's own output are not checked against the policy.
//
// Per source (issue 16): a new call may name the address the SIP request
// that made its offer came from (sipfarmd sends it; a call the farm's own
// processor offers has none and is not counted). A new call from a source
// that holds `max_sessions_per_source` calls is "source_sessions_exhausted",
// so that one address cannot hold the whole port range. The count of a
// source drops when one of its calls goes, however it goes; a source with no
// call left is forgotten, so the table never outgrows the calls.
//
// Not here: the control protocol (rtprelayd's service), request retries,
// clocks other than the engine's, SRTP, transcoding, forking beyond "the last
// answerer's tag wins", BUNDLE (each m= line has its own ports).
#pragma once

#include "base/result.hpp"
#include "base/sockaddr.hpp"
#include "media/address_policy.hpp"
#include "media/engine.hpp"
#include "media/ports.hpp"
#include "media/sdp.hpp"
#include "sip/scanner.hpp"

#include <array>
#include <chrono>
#include <cstdint>
#include <iterator>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace rtfarm::media {

constexpr size_t BIND_ATTEMPTS = 8;
// Limits on what a client may name a call or a party: sipfarmd's own
// (sip/scanner.hpp), so a call it keeps is one the relay anchors.
constexpr size_t MAX_CALL_ID = sip::MAX_CALL_ID;
constexpr size_t MAX_TAG = sip::MAX_TAG;

struct CallsOptions {
    // Written into the SDP (its port is ignored).
    SockAddr advertised;
    // Where media sockets bind: the advertised address when it is one of
    // this host's, else the wildcard of its family (its port is ignored).
    SockAddr bind;
    bool strict = false;
    Clock::duration timeout = std::chrono::seconds(60);
    Clock::duration unanswered_timeout = std::chrono::seconds(212);
    Clock::duration unlatched_timeout = std::chrono::seconds(10);
    // What an SDP may name as a party's address (the default refuses
    // loopback: tests allow it).
    AddressPolicy policy;
    // m= lines per SDP (at most MAX_SDP_MEDIA, the parser's limit).
    size_t max_streams = MAX_SDP_MEDIA;
    // Calls at once; 0: as many as the ports allow.
    size_t max_sessions = 0;
    // Calls at once per source address; 0: no limit per source.
    size_t max_sessions_per_source = 0;
};

// What offer() and answer() return.
struct SdpOut {
    std::string sdp;
    // Per m= line, the ports written into `sdp` ({0, 0}: disabled).
    std::vector<StreamPorts> ports;
    Leg to = Leg::callee;   // the party that gets `sdp`
    bool created = false;   // this offer created the call
    bool unchanged = false; // our own SDP came back: passed as it was
    bool answer = false;    // taken as an answer (else an offer)
};

enum class Exchange { offer, answer, automatic };

// Why a call's media ends (Calls::remove()): by its name in the relay's
// log; timeout and unlatched count as expired, the others as deleted
// (rtprelayd's stats).
enum class CallEnd : uint8_t { deleted, timeout, unlatched, shutdown };

struct CallEndText {
    CallEnd end;
    std::string_view name;
    bool expired;
};

inline constexpr CallEndText CALL_ENDS[] = {
    {CallEnd::deleted, "deleted", false},
    {CallEnd::timeout, "timeout", true},
    {CallEnd::unlatched, "unlatched", true},
    {CallEnd::shutdown, "shutdown", false},
};

constexpr bool call_ends_in_order() {
    for (size_t i = 0; i < std::size(CALL_ENDS); ++i)
        if (static_cast<size_t>(CALL_ENDS[i].end) != i)
            return false;
    return std::size(CALL_ENDS) == static_cast<size_t>(CallEnd::shutdown) + 1;
}
static_assert(call_ends_in_order(), "CALL_ENDS: one entry per CallEnd, in order");

constexpr std::string_view to_string(CallEnd e) {
    return CALL_ENDS[static_cast<size_t>(e)].name;
}

// Where the SIP dialog stands, as the signalling shows it (exchange()):
// `answered` by a 2xx to the INVITE (or its ACK), still `early` (an offer in
// the INVITE, an answer in a 183 or PRACK), or `unknown` (the offer and
// answer ops: an answer answers the call). Only an answered call must show
// media within unlatched_timeout: a 183's answer may ring for minutes
// without a packet, and a late offer in a 2xx answers the call before its
// SDP answer (the ACK's) arrives, or never does.
enum class Dialog { unknown, early, answered };

struct CallStreamInfo {
    size_t index = 0; // the m= line
    std::string media;
    StreamInfo relay;
};

struct CallInfo {
    std::string call_id;
    std::array<std::string, 2> tags; // by Leg; "" not known yet
    bool answered = false;
    Clock::time_point created{};
    Clock::time_point last_signal{};
    std::vector<CallStreamInfo> streams; // active ones
};

struct CallsCounters {
    uint64_t offers = 0;
    uint64_t answers = 0;
    uint64_t created = 0;
    uint64_t deleted = 0;
    uint64_t expired = 0;
    uint64_t unlatched = 0; // of `expired`: answered, and no party ever sent
    uint64_t relatched = 0; // sides whose expected address changed
    uint64_t bind_retries = 0;
    std::map<std::string, uint64_t> failed; // by error code
};

class Calls {
public:
    Calls(Engine& engine, PortPool& pool, CallsOptions options);
    Calls(const Calls&) = delete;
    Calls& operator=(const Calls&) = delete;
    // Closes every call; the ports go back to the pool.
    ~Calls();

    // Errors: bad_request (empty or overlong call_id or tag), bad_sdp,
    // too_many_streams, sdp_address_refused, sessions_exhausted and
    // source_sessions_exhausted (a new call), unknown_tag (from_tag is
    // neither party of an existing call), unsupported (a stream not over
    // UDP), bad_address (an address family the relay does not bind),
    // ports_exhausted, port_in_use, io. `source`: the address the request
    // that made the offer came from, counted for a new call ("" none; not
    // checked here, any text is one source).
    Result<SdpOut> offer(std::string_view call_id, std::string_view from_tag,
                         std::string_view to_tag, std::string_view sdp,
                         std::string_view source = {});
    // Errors as offer(), and not_found (no such call), bad_sdp (another
    // number of m= lines than the offer, a stream the offer disabled).
    Result<SdpOut> answer(std::string_view call_id, std::string_view from_tag,
                          std::string_view to_tag, std::string_view sdp);
    // The SDP `author_tag`'s party sends to `peer_tag`'s. Errors as offer()
    // and answer(); `source` as offer()'s. With a `dialog` other than
    // unknown, the call counts as answered once the dialog is (and stays so).
    Result<SdpOut> exchange(std::string_view call_id, std::string_view author_tag,
                            std::string_view peer_tag, std::string_view sdp, Exchange as,
                            Dialog dialog = Dialog::unknown, std::string_view source = {});
    // Closes the call now; false when there is none. Counted as expired
    // or deleted as CALL_ENDS says.
    bool remove(std::string_view call_id, CallEnd end);
    // Closes the calls idle past their timeout; returns their Call-IDs.
    std::vector<std::string> expire(Clock::time_point now);

    Result<CallInfo> query(std::string_view call_id) const;
    // Every call, by Call-ID.
    std::vector<CallInfo> list() const;
    size_t size() const { return m_calls.size(); }
    // Source addresses that hold calls.
    size_t sources() const { return m_sources.size(); }

    // A reload: new address, strictness (for new streams), timeouts.
    void set_options(CallsOptions options);
    const CallsOptions& options() const { return m_options; }
    const CallsCounters& counters() const { return m_counters; }

private:
    // One m= line.
    struct Slot {
        bool active = false;
        size_t stream = 0;                  // the engine's stream, when active
        std::array<StreamPorts, 2> ports{}; // by Leg
        std::string media;
    };
    struct Call {
        // The map's key (nodes do not move), or the request's Call-ID while
        // a new call is being set up.
        std::string_view id;
        SessionId session = 0;
        std::array<std::string, 2> tags;
        bool answered = false;
        // Who made the last offer.
        std::optional<Leg> offerer;
        Clock::time_point created{};
        Clock::time_point last_signal{};
        std::vector<Slot> slots;
        // Where the offer that created it came from ("" not counted).
        std::string source;
        // Per receiving party: the last o= version and output plan, and the
        // offset added to versions (sdp.hpp).
        std::array<uint64_t, 2> last_version{0, 0}; // text_hash() of the o= version
        std::array<uint64_t, 2> last_plan{0, 0};    // plan_hash() with our address; 0 none yet
        std::array<uint64_t, 2> version_offset{0, 0};
    };
    // Undo list of one operation.
    struct Undo;

    Result<SdpOut> fail(Error e);
    // The SDP is this call's own output (see the top of this file).
    bool ours(const Call& call, const SdpDesc& desc) const;
    Result<SdpOut> unchanged(const Call& call, std::string_view sdp, Leg to) const;
    Status check_ids(std::string_view call_id, std::string_view from_tag,
                     std::string_view to_tag) const;
    Status check_streams(const SdpDesc& desc) const;
    Status check_addresses(const SdpDesc& desc) const;
    Result<StreamPorts> take_ports(Rtcp rtcp, Undo& undo);
    Result<size_t> open_slot(Call& call, Slot& slot, const MediaDesc& m, Leg offerer, Undo& undo);
    void close_slot(Call& call, Slot& slot, std::string_view reason);
    void release(StreamPorts ports);
    Result<std::string> write(Call& call, Leg to, std::string_view body, const SdpDesc& desc,
                              std::vector<StreamPorts> plan);
    CallInfo info(const Call& call, Clock::time_point now) const;
    static Peer peer_of(const MediaDesc& m, bool mux);
    // A digest of an output plan, never 0 (a few bytes per call instead of
    // the plan itself).
    static uint64_t plan_hash(const std::vector<StreamPorts>& plan, const SockAddr& address);
    static uint64_t text_hash(std::string_view text);

    Engine& m_engine;
    PortPool& m_pool;
    CallsOptions m_options;
    std::unordered_map<std::string, Call> m_calls;
    // Calls held per source (Call::source); no entry at 0.
    std::unordered_map<std::string, size_t> m_sources;
    CallsCounters m_counters;
};

} // namespace rtfarm::media
