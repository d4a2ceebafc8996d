// SIP messages for the loopback farm tests: a client request as a UA would
// send it, a scan that must succeed, and a processor's answer sent back the
// way the request came. Built by hand, so each test shows its bytes.
#pragma once

#include "udp_peer.hpp"

#include "sip/scanner.hpp"

#include <string>

namespace rtfarm::test {

// METHOD with one Via (sent-by `client`, `branch`, rport), From tag a1, the
// To tag if given, and `extra` header lines (each ending in CRLF). OPTIONS
// goes to the user lbcheck (a probe).
std::string request(const std::string& method, const std::string& call_id, int cseq,
                    const std::string& client, const std::string& branch,
                    const std::string& extra = "", const std::string& to_tag = "");

// A request the processor at `proc` sends to `uri`: one Via (UDP, `branch`),
// a Route line when `route` is not empty, From bob (tag `from_tag`), To
// alice (tag `to_tag` if given), Call-ID, CSeq `cseq` METHOD, no body.
std::string processor_request(const std::string& method, const std::string& uri,
                              const std::string& proc, const std::string& branch,
                              const std::string& route, const std::string& from_tag,
                              const std::string& to_tag, const std::string& call_id, int cseq = 1);

// The scan of `bytes`; fails the test when it does not scan.
sip::Message scan_ok(const std::string& bytes);

// A response to `req`: its Vias (two at most) and Record-Route, a To tag
// when it has none, a Contact at `contact`.
std::string response_to(const std::string& req, int code, const std::string& to_tag,
                        const std::string& contact);

// The processor's final answer to a request it received: the request's
// Vias and Record-Route, a To tag, sent to our top Via's sent-by.
void answer(UdpPeer& processor, const Received& req, int code, const std::string& to_tag);

} // namespace rtfarm::test
