// What lbcheck media sends and reads (sipfarmd.8, "lbcheck media"): the
// OPTIONS probes (plain, media test with lbcheck's SDP, end), the fields of
// their 200 (X-Farm-* and X-Farm-Media-*), and the test RTP packets (RTP v2,
// PT 0, a 160-byte payload with a pattern made from SSRC and sequence number,
// so a packet that comes back is recognised and checked byte for byte).
//
// Pure text in and out: no sockets, no clocks, no decisions (diag/media.hpp
// judges what came back; cmd/lbcheck/media.cpp does the I/O).
#pragma once

#include "base/result.hpp"
#include "base/sockaddr.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rtfarm::diag {

struct ProbeRequest {
    SockAddr vip;   // where it goes (Request-URI host and port)
    SockAddr local; // lbcheck's SIP socket (Via, Contact)
    std::string call_id;
    std::string branch;   // without "z9hG4bK"
    std::string from_tag; // the test session's caller tag
    uint32_t cseq = 1;
    std::string reply_from; // X-Farm-Reply-From, "" none
    std::string media;      // X-Farm-Media: "test", "end", "" none
    std::string sdp;        // application/sdp body, "" none
};
// An OPTIONS to sip:lbcheck@VIP, which sipfarmd answers itself.
std::string probe_request(const ProbeRequest& p);

// The test session's SDP: one m=audio line, PCMU, at `rtp` (c= its address).
std::string test_sdp(const SockAddr& rtp);

struct ProbeAnswer {
    int status = 0;
    std::string call_id;
    std::string received_by;          // X-Farm-Received-By
    std::string answered_by;          // X-Farm-Answered-By
    std::vector<std::string> members; // X-Farm-Members, split at commas
    // X-Farm-Media-*: the member whose relay holds the test session, where
    // the caller and the callee side must send (ADDR:PORT), its range.
    std::string media_member, media_caller, media_callee, media_range;
    std::string media_error; // X-Farm-Media-Error, "" none
    // Any X-Farm-* header at all: the VIP is an rtfarm farm.
    bool farm = false;
};
// A SIP response; errors are scan errors or "not_response".
Result<ProbeAnswer> parse_probe_answer(std::string_view bytes);

inline constexpr size_t TEST_RTP_PAYLOAD = 160;
inline constexpr size_t TEST_RTP_SIZE = 12 + TEST_RTP_PAYLOAD;
// RTP v2, PT 0, timestamp 160 * seq, then the pattern.
std::string test_rtp(uint32_t ssrc, uint16_t seq);
struct TestRtp {
    uint32_t ssrc = 0;
    uint16_t seq = 0;
    bool intact = false; // the very bytes test_rtp(ssrc, seq) gives
};
// An RTP v2 packet (its SSRC and sequence number), nullopt when it is not
// RTP at all (shorter than 12 bytes, another version).
std::optional<TestRtp> parse_test_rtp(std::string_view bytes);

} // namespace rtfarm::diag
