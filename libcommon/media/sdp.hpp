// SDP for the media relay: parse an offer or answer body (RFC 4566) into the
// few facts rtprelayd needs (per m= line: media, port, protocol, formats,
// direction, where to send RTP and RTCP), and rewrite the body so that the
// other party sends its media to the relay instead. libosip2's SDP parser does
// the parsing and the serialising; a short line scan before it gives errors a
// person can act on ("line 6: c=IN IP5 ...: address type IP5 is not IP4 or
// IP6"), since libosip2 only says no.
//
// The rewrite, given the relay's address and one StreamPorts per m= line:
// - every c= (session and media level) becomes the relay's address, "IN IP4"
//   or "IN IP6" as that address is; a c= of 0.0.0.0 (RFC 2543 hold) stays the
//   unspecified address (0.0.0.0 or ::), so the hold still reads as one;
// - each active m= line gets the relay's RTP port; a=rtcp is rewritten to the
//   relay's RTCP port (with the relay's address where it named one), or added
//   when that port is not RTP + 1; with rtcp-mux a=rtcp is removed and
//   a=rtcp-mux made present; without it a=rtcp-mux(-only) are removed;
// - ICE is removed (a=candidate, a=remote-candidates, a=end-of-candidates,
//   a=ice-*): the relay anchors media and does not answer STUN, so candidates
//   would only lead the peer around the relay or into failing checks; without
//   ICE attributes the peer uses c= and m= (RFC 8839 §5.1);
// - disabled streams (port 0) keep port 0 and get no ports; their c= is
//   rewritten like any other, nothing else of theirs is touched;
// - everything else (o=, s=, t=, b=, a=rtpmap/fmtp/ssrc/crypto/fingerprint/
//   direction, ...) is kept, in order. Output lines end in CRLF and the
//   output parses again with libosip2.
// - o=: the session version is kept, plus SdpRewrite::version_offset. RFC 3264
//   §8: a new SDP in a session carries a higher version only if it changed.
//   The rewrite is a pure function of the body and the plan, so the same body
//   and the same ports give the same bytes and the same version (a session
//   refresh stays a refresh), and a party's new version gives a new version.
//   Only when the relay changes its own ports or address under an unchanged
//   body must the caller raise the offset (and keep it raised for the rest of
//   that direction of the session).
//
// It deliberately does not choose ports (PortPool does), keep any state
// between offer and answer, support multicast, layered streams (m= port/N on
// an active stream), host names in c= (no DNS) or BUNDLE (every m= line is
// relayed on its own ports; a=group and a=mid pass unchanged), and does not
// judge the transport (MediaDesc::over_udp() says whether the relay can carry
// it). No sockets, no clock. Call sip::osip_init_once() in main(); the
// functions call it too.
#pragma once

#include "base/result.hpp"
#include "base/sockaddr.hpp"
#include "media/ports.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rtfarm::media {

// Size limits, checked before parsing (error "bad_sdp").
constexpr size_t MAX_SDP_BYTES = 32 * 1024;
constexpr size_t MAX_SDP_MEDIA = 16; // m= lines

enum class Direction { sendrecv, sendonly, recvonly, inactive };
const char* direction_name(Direction d);

struct MediaDesc {
    std::string media;                // "audio", "video", "application", "image", ...
    uint16_t port = 0;                // 0: a disabled stream
    unsigned port_count = 1;          // "m=video 0/2": 2 (more than 1 only on a disabled stream)
    std::string proto;                // "RTP/AVP", "RTP/SAVPF", "UDP/TLS/RTP/SAVPF", "udptl", ...
    std::vector<std::string> formats; // payload types or formats, in order
    // Media-level c= (its port is 0).
    std::optional<SockAddr> connection;
    // The first direction attribute of the m= section, else of the session,
    // else sendrecv.
    Direction direction = Direction::sendrecv;
    std::optional<uint16_t> rtcp_port;    // a=rtcp:PORT
    std::optional<SockAddr> rtcp_address; // a=rtcp:PORT IN IP4 ADDR (its port is 0)
    bool rtcp_mux = false;                // a=rtcp-mux
    bool ice = false;                     // it carried ICE attributes
    // Active streams: where this party receives RTP (the media-level c=, else
    // the session-level one, with the m= port) and RTCP (a=rtcp's port and
    // address, else RTP port + 1; once rtcp-mux is agreed, RTCP goes to
    // rtp_peer instead). An unspecified address (0.0.0.0, ::) is the old way
    // to put a stream on hold (and what a trickle-ICE party writes when its
    // addresses are only in candidates: the relay cannot carry that one).
    // Disabled streams: both invalid (SockAddr()).
    SockAddr rtp_peer;
    SockAddr rtcp_peer;

    bool disabled() const { return port == 0; }
    bool held() const { return !disabled() && rtp_peer.is_any(); }
    // RTP/..., UDP/..., udptl: transports a UDP relay can carry (not TCP/...).
    bool over_udp() const;
};

struct SdpDesc {
    std::optional<SockAddr> connection; // session-level c= (its port is 0)
    std::string origin_version;         // o= sess-version, as written
    std::vector<MediaDesc> media;       // one per m= line, in order
    size_t active() const;              // m= lines with a port
};

// Parses and checks an SDP body (CRLF or LF line ends; a missing last line
// end and empty lines at the end are forgiven). Error "bad_sdp" with what is wrong and where: not
// SDP, a line libosip2 refuses, no m= line, an active stream without c=, a bad port, an address
// type other than IP4/IP6, an address that is not an IP literal of that type, multicast.
Result<SdpDesc> parse_sdp(std::string_view body);

struct SdpRewrite {
    // The relay's advertised address (its port is ignored).
    SockAddr address;
    // One per m= line, in order: the relay's ports for an active stream
    // (rtcp 0 = rtcp-mux), {0, 0} for a disabled one.
    std::vector<StreamPorts> streams;
    // Added to the o= session version (see the top of this file).
    uint64_t version_offset = 0;
};

// The body to hand on. Errors: "bad_sdp" as parse_sdp(); "bad_rewrite" when
// the plan does not fit the body (another number of m= lines, ports for a
// disabled stream or none for an active one, no address).
Result<std::string> rewrite_sdp(std::string_view body, const SdpRewrite& plan);

} // namespace rtfarm::media
