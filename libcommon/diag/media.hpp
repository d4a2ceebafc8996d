// lbcheck media's diagnosis (lbcheck(8)): from what one run
// observed, per member asked, the media test session the farm set up (the
// member whose rtprelayd holds it, the advertised caller and callee relay
// endpoints, its port range) and the test RTP sent to each endpoint and
// what came back from where, to findings: media-range-misrouted,
// media-reply-source, media-payload-changed, media-not-anchored.
//
// A pure function over recorded observations: no sockets, no clock, no
// retries (cmd/lbcheck/media.cpp sends and listens and records here).
#pragma once

#include "diag/report.hpp"

#include <string>
#include <vector>

namespace rtfarm::diag {

// The test packets sent to one advertised relay endpoint. The relay sends
// them on from the session's other endpoint to lbcheck's socket.
struct MediaLeg {
    std::string to;          // ADDR:PORT sent to (X-Farm-Media-Caller or -Callee)
    std::string expect_from; // the other endpoint: where they must come back from
    unsigned sent = 0;
    unsigned back = 0;                      // came back intact from `expect_from`
    unsigned back_elsewhere = 0;            // came back intact from another source
    unsigned changed = 0;                   // came back with other bytes
    std::vector<std::string> other_sources; // those other sources, each once
    double rtt_ms = -1;                     // mean round trip of those back, -1 none
};

// One media test: a probe asking `asked` to answer, and its RTP.
struct MediaTrial {
    std::string asked;       // X-Farm-Reply-From
    unsigned probes = 0;     // media test probes sent (one per attempt)
    std::string answered_by; // X-Farm-Answered-By, "" no answer at all
    std::string media_error; // X-Farm-Media-Error, "" none
    std::string media_member;
    std::string range; // "LO-HI", "" not said
    std::string caller, callee;
    MediaLeg to_caller, to_callee;
};

struct MediaObservations {
    std::string vip;   // ADDR:PORT probed
    std::string local; // lbcheck's RTP socket, as its SDP says
    std::vector<std::string> members;
    std::string members_from; // "X-Farm-Members" or "X-Farm-Answered-By"
    std::vector<MediaTrial> trials;
    // Members not tried for want of time (the run's time bound).
    std::vector<std::string> not_tried;
};

// Findings, "observed" and "not_checked". Per media member the best trial
// (most packets back) counts: one lost attempt next to a good one is not a
// misrouted range.
Report diagnose_media(const MediaObservations& o);

} // namespace rtfarm::diag
