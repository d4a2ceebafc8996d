// The stateless proxy of RFC 3261 §16.11 that sipfarmd runs for the packets
// a member processes itself, as functions from a scanned message to the
// datagram to send and where to send it. The received bytes are forwarded
// with a list of edits (add our Via, Record-Route, pop our Route, set
// Max-Forwards, add received/rport), never rebuilt.
//
// Three directions:
//   - a request from outside (or relayed by another member) goes to this
//     member's processor (its own SIP server);
//   - a response whose top Via is ours goes to the next Via;
//   - a request from the processor goes out to its Route or Request-URI.
// And the replies the farm makes itself (483, 400, the lbcheck probe's 200).
// No sockets here: the daemon picks the socket from `Outgoing::to`, or,
// when `Outgoing::conn` names a client's TCP/TLS connection (the identity
// the farm put in its Via or Record-Route, farm_tags.hpp), writes the bytes
// on that connection, on the member that holds it (send_path()).
// An edit that clashes with another (EditList refuses it), or lies beyond
// the message, is the error "edit_clash", which names the edit: the
// message does not go out half edited. No message the scanner reads makes
// one (each edit has a header line of its own); a scanner bug could.
#pragma once

#include "base/result.hpp"
#include "base/sockaddr.hpp"
#include "sip/farm_tags.hpp"
#include "sip/scanner.hpp"

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace rtfarm::sip {

struct ProxyContext {
    // The member our Via branch and Record-Route name: this member, or the
    // Relay backend a Member sends a request out for.
    std::string via_member;
    // Our Via sent-by, toward the processor and toward the outside: the
    // farm's public SIP address, never an internal one (our Via toward the
    // processor stays in the requests it relays; with ";rport" the
    // processor answers where the request came from, RFC 3581).
    SockAddr outer_sent_by;
    // This member's processor: responses to the requests it sent go there
    // (our Via branch says so, farm_tags.hpp), whatever its Via names.
    std::optional<SockAddr> processor;
    // Host (and port, 0 to leave out) of our Record-Route: the farm's public
    // SIP address, where clients send in-dialog requests.
    std::string rr_host;
    uint16_t rr_port = 0;
    // The port our Record-Route names when it faces TCP or TLS: the
    // member's listener for that transport (0 to leave out: 5060 for TCP,
    // 5061 for TLS, RFC 3263).
    uint16_t rr_tcp_port = 0;
    uint16_t rr_tls_port = 0;
    // This member's id: a Route with our `fm` parameter naming it is ours to pop.
    std::string self;
    // The key of our branches on the processor's requests (branch_key() of
    // the cluster secret): a response with the processor mark must carry
    // its MAC (processor_branch_verified()).
    crypto::SipKey branch_key{0, 0};
    // Keys of branches made before: the other secret of a key rotation, and
    // a secret the config dropped, for as long as a transaction may still
    // be answered (sipfarmd). Checked, never signed with.
    std::vector<crypto::SipKey> earlier_branch_keys;

    bool operator==(const ProxyContext&) const = default;
};

struct Outgoing {
    std::string bytes;
    SockAddr to; // may be unset when `conn` is set
    // Write on this client connection instead of sending to `to`.
    std::optional<ConnRef> conn;
    // Without `conn`: how to reach `to`. TCP and TLS go on a connection the
    // sending member opens to `to` (or one it opened before and still has).
    Transport transport = Transport::udp;
};

// How a request to target `uri` (a bare URI, or one in <...>) leaves: its
// `transport` parameter, TLS for a sips: URI (RFC 3261 19.1.2, 26.2; RFC
// 3263 4.1 without DNS: no parameter is UDP). nullopt for one the farm does
// not speak (SCTP, WebSocket, anything else).
std::optional<Transport> target_transport(std::string_view uri);

// Where an Outgoing goes from member `self`, whose processor is at
// `processor` (none: no processor).
enum class SendPath {
    processor,         // a datagram to our processor, from the inner socket
    datagram,          // a datagram to `to`, from the SIP socket (the VIP in DSR)
    target_connection, // TCP or TLS to `to`: a connection this member opens or has open
    connection_here,   // our own connection `conn->id`
    holder,            // over the farm link to `conn->holder`, to write on its connection
};
SendPath send_path(const Outgoing& out, std::string_view self,
                   const std::optional<SockAddr>& processor = std::nullopt);

// The error codes that sipfarmd answers a request for (an ACK gets no
// answer); it counts every error under its code, these too.
namespace proxy_error {
// Max-Forwards is 0: answer 483 Too Many Hops.
inline constexpr const char* MAX_FORWARDS = "max_forwards";
// The target asks for a transport the farm does not speak: answer 477.
inline constexpr const char* UNSUPPORTED_TRANSPORT = "unsupported_transport";
} // namespace proxy_error

// Request from outside -> processor. `source` is where it came from (for
// `received` / `rport`). `conn`: the client connection it arrived on, if
// any: our Via gets ";rtfc=HOLDER.ID" (so the response goes back on it) and
// our Record-Route ";fc=HOLDER.ID" (so the processor's in-dialog requests
// do), and a REGISTER our Path with it (so the registrar's requests for the
// client do, RFC 3327). Errors: "max_forwards" (answer 483 with
// make_reply), "no_via", "edit_clash".
Result<Outgoing> forward_to_processor(std::string_view buf, const Message& msg,
                                      const SockAddr& source, const SockAddr& processor,
                                      const ProxyContext& ctx, const ConnRef* conn = nullptr);

// Response with our Via on top -> the next Via (its received / rport when
// present), or the connection our Via names (`conn`; then `to` is still the
// next Via's address, for logs); when our branch says the request came
// from the processor, to `ctx->processor` (the processor's Via may name the
// farm's public address, which is not where it listens); such a response
// whose next Via is a farm one is refused ("bad_next_via"), and one whose
// branch does not carry the MAC of the Via below it ("forged_branch": no
// request of the processor's had it). With `ctx`, our Record-Route of the
// member our Via names is made to face where the response goes: with
// ";transport=tcp" toward a client connection, without a transport toward
// anything else (the processor speaks UDP to us). Errors: "no_next_via",
// "unresolvable_via" (a host name: no DNS, and no connection named),
// "edit_clash".
Result<Outgoing> forward_response(std::string_view buf, const Message& msg,
                                  const ProxyContext* ctx = nullptr);

// Whether the response's top Via carries our processor mark with the MAC
// of what stands below it (processor_branch_hash() under `key` over the next
// Via's branch, the Call-ID, From tag and CSeq): the answer to a request a
// processor sent through the farm, not a stranger's forgery. Under any of
// `earlier` too (ProxyContext::earlier_branch_keys).
bool processor_branch_verified(std::string_view buf, const Message& msg, const crypto::SipKey& key,
                               std::span<const crypto::SipKey> earlier = {});
// The same, with the top Via's branch already parsed as `ours`.
bool processor_branch_verified(std::string_view buf, const Message& msg, const FarmBranch& ours,
                               const crypto::SipKey& key,
                               std::span<const crypto::SipKey> earlier = {});

// A message to be written on client connection `conn`, which is TLS: what
// the member that made it could not know, said. A request's top Via of
// ours "TCP" becomes "TLS"; our Record-Route values naming `conn` with
// ";transport=tcp" become SIPS URIs (farm_route_uri with "tls"). The bytes
// as they were otherwise. Error: "edit_clash".
Result<std::string> for_tls_connection(std::string_view buf, const Message& msg,
                                       const ConnRef& conn, const ProxyContext& ctx);

// Request from the processor -> out, to its top Route (after popping ours:
// one naming the member we send for, or any farm Route naming a client
// connection, such as our Path) or its Request-URI; when the Route popped
// names a client connection (";fc="), on that connection (`conn`, our Via says TCP; the target may
// then be any host). Otherwise by the target's transport (target_transport:
// our Via says UDP, TCP or TLS; a TLS target's default port is 5061).
// Our Via's branch says the request came from the processor. Our own Via
// of the way in (the processor's next Via, when it relays a request it got
// from us) loses the received/rport the processor stamped on it (the
// member's internal address). No second Record-Route of ours when the
// request has one that would read the same and nothing but Record-Routes at
// the farm's public host stands before it (the processor's own, advertising
// the farm): one per crossing, two only where the transport or the client
// connection differs (RFC 5658).
// Errors: "max_forwards", "unresolvable_target", "bad_target",
// "unsupported_transport", "edit_clash".
Result<Outgoing> forward_from_processor(std::string_view buf, const Message& msg,
                                        const ProxyContext& ctx);

// Request `msg` from the processor of `ctx.via_member` with our Via for it
// on top, as it would have left: a reply the farm makes for a request it
// could not send out for a Relay backend answers this, so that the reply
// goes back to the backend by our Via's member tag, as the target's would.
std::string with_our_via(std::string_view buf, const Message& msg, const ProxyContext& ctx);

// A response made by the farm itself to request `msg` (RFC 3261 §8.2.6):
// the request's Via lines (the top one with received/rport for `source`),
// From, To (with `to_tag` added when it has none), Call-ID, CSeq, then
// `extra_headers` (each "Name: value"), Content-Length: 0. Sent to `source`.
Outgoing make_reply(std::string_view buf, const Message& msg, const SockAddr& source, int code,
                    std::string_view reason, std::string_view to_tag,
                    const std::vector<std::string>& extra_headers = {});

// The value of header `name` (full name, case-insensitive) in the request,
// first occurrence, trimmed; "" when absent. For rare paths (probes): a scan
// of the header lines.
std::string_view header_value(std::string_view buf, const Message& msg, std::string_view name);

// The first Route value with our `fm` parameter when it and the Route
// values before it (at most MAX_ROUTES_AHEAD of them) all name the farm's
// public host `farm_host` (a processor that advertises the farm's address
// and Record-Routes with it stands before our own); "" when there is none,
// or `farm_host` is empty.
inline constexpr unsigned MAX_ROUTES_AHEAD = 4;
std::string_view farm_route_behind(std::string_view buf, const Message& msg,
                                   std::string_view farm_host);

// The request is an lbcheck probe: OPTIONS whose Request-URI user is "lbcheck".
bool is_probe(std::string_view buf, const Message& msg);

} // namespace rtfarm::sip
