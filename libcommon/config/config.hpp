// The one cluster config file (rtfarm.conf(5)): plain, copyable data with
// operator==, loaded from JSON and validated field by field. Every error
// names the file, the JSON path and the reason, e.g.
//   "cluster.json: members.f2.media_ports: range 20000-10000 is empty".
// This module reads files and nothing else: no sockets, no run-time state.
#pragma once

#include "base/cidr.hpp"
#include "base/result.hpp"
#include "base/sockaddr.hpp"
#include "base/transport.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rtfarm::config {

enum class Role { frontend, backend, standalone };
enum class SipFarm { member, disabled, relay, automatic };
enum class Placement { locally, locally_for_others, remotely, automatic };
enum class Media { none, anchor };
// rtprelayd's kernel fast path (rtprelayd(8)): "off", "auto" (when the
// kernel takes it, else userspace with one log line), "required".
enum class MediaFastPath { off, automatic, required };

std::string_view to_string(Role v);
std::string_view to_string(SipFarm v);
std::string_view to_string(Placement v);
std::string_view to_string(Media v);
std::string_view to_string(MediaFastPath v);
std::optional<Role> parse_role(std::string_view s);
std::optional<SipFarm> parse_sip_farm(std::string_view s);
std::optional<Placement> parse_placement(std::string_view s);
std::optional<Media> parse_media(std::string_view s);

// SIP over a stream: a `sip_listen` entry "tcp:ADDR:PORT" or "tls:ADDR:PORT".
struct StreamListen {
    Transport transport = Transport::tcp; // tcp or tls
    SockAddr addr;
    bool operator==(const StreamListen&) const = default;
};

// A member's TLS files (absolute paths), checked readable at load; whether
// the key matches the certificate is checked by the daemon that loads them.
struct TlsFiles {
    std::string certificate; // PEM, the chain with the member's certificate first
    std::string key;         // PEM private key
    std::string ca;          // PEM CA bundle to verify peers with; "" = none
    bool operator==(const TlsFiles&) const = default;
};

struct MemberConfig {
    std::string id;
    Role role = Role::frontend;
    SockAddr address;               // internal address, port 0
    std::optional<SockAddr> wan_ip; // Server-wide WAN IP; nullopt = cluster's
    SipFarm sip_farm = SipFarm::automatic;
    Placement call_legs = Placement::automatic;
    Placement signals = Placement::automatic;
    std::vector<SockAddr> sip_listen;            // UDP sockets for SIP ("udp:" or bare entries)
    std::vector<StreamListen> sip_stream_listen; // "tcp:" and "tls:" entries, in file order
    std::optional<TlsFiles> tls;                 // required with a "tls:" entry
    std::optional<SockAddr> processor;           // the member's own SIP server
    std::optional<PortRange> media_ports;
    std::string control; // Unix control socket path (absolute)
    std::optional<SockAddr> control_tcp;
    std::optional<Media> media; // nullopt = the cluster's default
    std::string media_control;  // rtprelayd's control socket path (absolute)
    MediaFastPath media_fast_path = MediaFastPath::off;
    // Prometheus metrics over HTTP: sipfarmd's, and the member's rtprelayd's.
    std::optional<SockAddr> metrics;
    std::optional<SockAddr> media_metrics;

    bool operator==(const MemberConfig&) const = default;
};

struct ClusterSettings {
    std::string name;
    std::optional<SockAddr> wan_ip; // Cluster-wide WAN IP
    uint16_t farm_port = 5069;
    unsigned heartbeat_ms = 200;
    unsigned dead_after_ms = 1000;
    std::string secret_file; // absolute path, "" = none
    std::string secret;      // the key bytes read from secret_file
    // During a key rotation, the secret being replaced: still accepted, and
    // signed with until every member up holds the new one (rtfarm.conf(5),
    // "Rotating the secret"). "" = none.
    std::string previous_secret_file;
    std::string previous_secret;

    // The secrets this member holds, newest first: secret, then
    // previous_secret when set. Empty without a secret.
    std::vector<std::string> secrets() const;
    Media media = Media::none;
    // rtprelayd: a session without media this long is closed; strict
    // latching drops media from any source but the one the SDP names.
    unsigned media_timeout_s = 60;
    bool media_strict = false;
    // sipfarmd: new requests a second from one source address to the whole
    // farm before it is blocked (0: off), and the quiet that releases it.
    unsigned flood_limit = 0;
    unsigned flood_quiet_s = 10;
    // Sources never counted nor blocked by flood_limit: trunks, SBCs, a
    // source-NATting load balancer, whose every call comes from one address.
    std::vector<Cidr> flood_exempt;
    // rtprelayd's admission (rtprelayd(8)): an answered call no party ever
    // sent on is closed after this; what an SDP may name despite the
    // address policy; m= lines per SDP; calls at once (0: the ports decide);
    // calls at once per source address of the SIP request that offered them
    // (0: no limit; off by default, since one SBC, trunk or source-NATting
    // load balancer carries every call from one address: rtfarm.conf(5)).
    unsigned media_unlatched_timeout_s = 10;
    std::vector<Cidr> media_allow;
    unsigned media_max_streams = 8;
    unsigned media_max_sessions = 0;
    unsigned media_max_sessions_per_source = 0;
    // lbcheck media test probes are taken only from these sources (empty:
    // from any); their SDP must name their own source address either way.
    std::vector<Cidr> lbcheck_sources;
    // The farm link without a secret on members that are not all on
    // loopback: the operator's explicit choice (farm_link_trust()).
    bool insecure_farm_link = false;

    bool operator==(const ClusterSettings&) const = default;
};

struct ClusterConfig {
    std::string path; // the file it was read from
    ClusterSettings cluster;
    std::vector<MemberConfig> members; // in file order; ids unique

    const MemberConfig* find(std::string_view id) const;
    // The media mode in force for a member (its own, else the cluster's).
    Media media_of(const MemberConfig& m) const { return m.media.value_or(cluster.media); }
    // The advertised media address: Server-wide WAN IP, else Cluster-wide.
    std::optional<SockAddr> advertised_ip(const MemberConfig& m) const;

    bool operator==(const ClusterConfig&) const = default;
};

// The shortest cluster secret a farm whose members are not all on loopback
// accepts: 256 bits (base64 of 32 random bytes is 44 characters).
constexpr size_t MIN_SECRET_BYTES = 32;
// Every member's address is a loopback one: a farm on one host (tests, a
// lab), which no other host can reach.
bool all_on_loopback(const ClusterConfig& cfg);
// Whether sipfarmd may run the farm link of `cfg` (issue 17): members not
// all on loopback need a secret of at least MIN_SECRET_BYTES, or
// cluster.insecure_farm_link true. Without a secret the farm link trusts
// the source address alone, so anyone who can send from a member's address
// forges heartbeats and relayed requests. The previous secret of a rotation
// is held to the same length. The error ("config") says the fix.
Status farm_link_trust(const ClusterConfig& cfg);

// Reads and validates FILE. Paths inside are resolved against FILE's folder.
// Error codes: "io" when the file cannot be read, "config" when it is read
// but is not a valid cluster config.
Result<ClusterConfig> load(const std::string& path);
// Validates already-read text (tests); `path` is used for messages and for
// resolving relative paths.
Result<ClusterConfig> parse(std::string_view text, const std::string& path);

} // namespace rtfarm::config
