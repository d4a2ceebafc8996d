// Media anchoring (`media: anchor`): the member that processes a call hands
// the SDP of its messages (sip/media_action.hpp says which, and as what) to
// rtprelayd on the member the Call Legs placement picks, and forwards the
// message with the SDP rtprelayd wrote; the processor's 2xx to BYE, and its
// error before the answer (the 487 after CANCEL included), end the media
// session there (sip/media_action.hpp). A message the farm answers itself or
// drops is not anchored; one anchored that then cannot go on loses its
// session if the call was never answered.
//
// The placed member: this member itself, or with call_legs Remotely one of
// the Locally-for-Others members (placement.hpp, keyed by the Call-ID). Its
// rtprelayd is reached through its media_control socket when it is this
// member, else through that member's sipfarmd (control_tcp, cluster secret,
// op media.sdp / media.delete / media.query), which hands the request to
// its own rtprelayd. A call keeps the member it was placed on while its
// relay session lives (a view change must not move a live call's media):
// until its media ends, or the session is found gone (MAX_PLACED).
//
// lbcheck's media test (a probe with X-Farm-Media: test, sip/media_probe.hpp)
// takes the same path: the call leg is placed like a call's, and that
// member's rtprelayd gets an offer and then an answer with the probe's own
// SDP, so both sides of the relay session send to lbcheck's socket; the
// probe with X-Farm-Media: end deletes the session (rtprelayd's
// media_timeout, when that probe is lost).
//
// A failure (no placement, rtprelayd not running, its error, no reply in
// REQUEST_TIMEOUT) is counted and logged, and the message goes on with its
// SDP as it was: the call may still work without the relay (a client
// reachable directly), and failing it would be worse.
#pragma once

#include "base/log.hpp"
#include "base/result.hpp"
#include "control/control_link.hpp"
#include "control/control_server.hpp"
#include "ev/loop.hpp"
#include "sip/media_action.hpp"
#include "sip/media_probe.hpp"
#include "json/json.hpp"

#include "peer_links.hpp"

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace rtfarm::sipfarmd {

class MediaAnchor {
public:
    static constexpr std::chrono::milliseconds REQUEST_TIMEOUT{2000};
    // A call's placement is remembered while its relay session lives: an
    // entry without a SIP message for the relay's media_unlatched_timeout is
    // checked (op query) at the next sweep and forgotten when the session is
    // gone; while the session lives, it is checked again that much later
    // when no party was heard yet (a session the relay closes within
    // seconds: a stranger's call nobody talks on), else media_timeout later
    // (media::QueryReply::heard()). After PLACED_IDLE without a message it
    // goes anyway (the relay cannot be asked). At most MAX_PLACED (each at most MAX_CALL_ID bytes
    // of key: some 25 MiB in all); beyond that a call is placed afresh for each message, which
    // gives the same member while the view stays.
    static constexpr std::chrono::seconds PLACED_IDLE{3600};
    static constexpr size_t MAX_PLACED = 1 << 16;
    // Placements checked with the relay per sweep, at most.
    static constexpr size_t SWEEP_QUERIES = 4096;
    // Media test sessions that may live at once on this member's account
    // (each holds relay ports until its end probe or media_timeout).
    static constexpr size_t MAX_TESTS = 64;

    // lbcheck's media test: the member whose rtprelayd holds the session and
    // its relay endpoints, or why there is none.
    using TestDone = std::function<void(Result<sip::MediaTestAnswer>)>;

    // Where a call's media goes now (placement.hpp): a member id.
    using Placer = std::function<Result<std::string>(std::string_view call_id)>;
    // The new SDP, or why not.
    using Done = std::function<void(Result<std::string>)>;

    MediaAnchor(ev::Loop& loop, Placer placer);

    struct Settings {
        std::string self;
        bool anchor = false;       // this member anchors the calls it processes
        std::string media_control; // this member's rtprelayd ("" none)
        std::map<std::string, std::optional<SockAddr>> control_tcp; // by member
        std::vector<std::string> secrets;                           // newest first
        std::map<std::string, std::string> media_ports;             // "LO-HI" by member
        std::chrono::seconds media_timeout{60};           // the relay's, for test sessions
        std::chrono::seconds media_unlatched_timeout{10}; // the relay's
    };
    void configure(Settings settings);
    bool enabled() const { return m_settings.anchor; }

    // The SDP exchange of `action` (kind exchange); `done` runs later, on
    // the loop, exactly once.
    void exchange(const sip::MediaAction& action, Done done);
    // Ends the call's media (kind end); nothing to wait for.
    void end(const sip::MediaAction& action);
    // A message with SDP not anchored because the farm answers or drops it.
    void count_refused() { ++m_refused; }

    // The media test of a probe: offer, then answer, with `sdp` for both
    // sides (the offerer's tag `from_tag`, the answerer's made from the
    // Call-ID). Fails at once with "not_anchored" when this member does not
    // anchor media. `done` runs later, on the loop, exactly once.
    void test(const std::string& call_id, const std::string& from_tag, const std::string& sdp,
              TestDone done);
    // A media test refused before the relay (sip::media_test_allowed()):
    // counted by its code and logged (rate-limited).
    void refuse_test(const std::string& call_id, const Error& e) {
        ++m_tests;
        failed("test", call_id, e);
    }
    // Deletes the test session of `call_id` where it was placed; nothing
    // when this member has no live test of that Call-ID (a call's media is
    // not a probe's to end).
    void end_test(const std::string& call_id);

    // media.sdp and media.delete, for the other members.
    void register_ops(control::ControlServer& server);
    json::Json stats() const;

private:
    struct Placed {
        std::string member;
        std::chrono::steady_clock::time_point used;       // its last SIP message
        std::chrono::steady_clock::time_point next_check; // ask the relay from then on
        bool checking = false;                            // a query for its session is on the way
    };
    // Forgets the placement of `call_id` when its session is not found.
    void check_placed(const std::string& call_id);
    Result<std::string> member_for(const std::string& call_id, bool create);
    // Sends `op` with `args` to the member's rtprelayd.
    void call(const std::string& member, std::string_view op, const json::Json& args,
              control::ControlLink::Callback done);
    void failed(const std::string& what, const std::string& call_id, const Error& e);
    void sweep();

    ev::Loop& m_loop;
    Placer m_placer;
    Settings m_settings;
    std::unique_ptr<control::ControlLink> m_local;
    PeerLinks m_peers;
    std::unordered_map<std::string, Placed> m_placed;
    std::unique_ptr<ev::Ticker> m_sweeper;
    // Live media test sessions (by Call-ID): when each was last asked for.
    std::unordered_map<std::string, std::chrono::steady_clock::time_point> m_live_tests;

    uint64_t m_exchanges = 0;
    uint64_t m_tests = 0;  // media test probes
    uint64_t m_tested = 0; // of them, with a relay session
    uint64_t m_rewritten = 0;
    uint64_t m_unchanged = 0;
    uint64_t m_ended = 0;
    uint64_t m_refused = 0;                   // SDP of messages that never reach the processor
    uint64_t m_placed_expired = 0;            // placements forgotten with their session
    uint64_t m_remote = 0;                    // requests sent to another member
    uint64_t m_served = 0;                    // media.* requests from other members
    std::map<std::string, uint64_t> m_failed; // by error code
    log::RateLimit m_log_limit{2.0, 10.0};
};

} // namespace rtfarm::sipfarmd
