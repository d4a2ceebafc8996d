// lbcheck probe's diagnosis: from what a client saw of its SIP OPTIONS
// probes to the VIP (where each reply came from, the farm's X-Farm-*
// headers, which probes got none) to the findings of lbcheck(8): reply
// source not the VIP or with a rewritten port, UDP session binding, lost
// cross-member replies, lost probes, uneven spread (a chi-square test),
// SIP ALG rewriting (digests, and the changed lines when the farm can tell),
// source NAT. A pure function: the probes are sent and their replies
// collected by cmd/lbcheck/probe.cpp.
//
// It does not decide how many probes to send or how long to wait.
#pragma once

#include "base/sockaddr.hpp"
#include "diag/report.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace rtfarm::diag {

// How a probe was sent: all from one source port (stickiness shows), each
// from a port of its own (independent flows: the spread shows), or asking
// a named member to answer (X-Farm-Reply-From: replies cross members).
enum class ProbePhase { one_port, many_ports, reply_from };
const char* to_string(ProbePhase p);

struct ProbeReply {
    SockAddr source; // where the reply came from
    int status = 0;
    // X-Farm-* headers, "" when absent.
    std::string received_by;
    std::string answered_by;
    std::string farm_source; // X-Farm-Source: "ADDR:PORT" the farm saw
    std::string digest;      // X-Farm-Digest
    std::string lines;       // X-Farm-Lines
    // The headers a SIP server copies from the request (RFC 3261 8.2.6):
    // the top Via, From, To, Call-ID, CSeq as they came back.
    std::string via, from, to, call_id, cseq;
    std::chrono::microseconds rtt{0};
};

struct Probe {
    ProbePhase phase = ProbePhase::one_port;
    uint16_t local_port = 0; // the source port it left from
    std::string reply_from;  // the member asked to answer, "" none
    std::string sent;        // the bytes sent
    std::optional<ProbeReply> reply;
};

struct ProbeObservations {
    SockAddr vip;   // with its port
    SockAddr local; // this host's source address toward the VIP (port 0)
    std::vector<Probe> probes;
};

Report diagnose_probe(const ProbeObservations& o);

// The p-value of Pearson's chi-square test that `counts` come from equal
// shares (k-1 degrees of freedom); 1 when there is nothing to test.
double chi_square_uniform_p(const std::vector<uint64_t>& counts, double* statistic = nullptr);

} // namespace rtfarm::diag
