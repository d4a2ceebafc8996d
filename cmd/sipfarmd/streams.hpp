// The member's SIP-over-TCP side: a listening socket per "tcp:" entry of
// `sip_listen`, and the client connections accepted on them. Each
// connection has a member-local id (1 up, never reused while the daemon
// runs: with the member's id it is the connection identity the farm writes
// into Via and Record-Route), a StreamFramer that cuts its bytes into SIP
// messages, and a bounded output buffer. Keep-alive pings get their pong
// here; every complete message goes to a callback, which decides what it
// means. One close path per connection, with its reason logged
// (rate-limited) and counted; the connection object is freed from the loop
// after the callback that closed it has returned.
//
// A "tls:" listener's connections are the same objects with an SSL* on the
// socket (tls.hpp makes the context): the handshake is driven by the loop
// (WANT_READ / WANT_WRITE either way, for the handshake and for records
// later), must end within `handshake_timeout`, and a failed one closes the
// connection with OpenSSL's reason ("tls_handshake"). A new context (a
// reload) is used by connections accepted from then on; open ones keep
// theirs (the SSL holds a reference).
//
// Limits: connections (and those from one address), bytes waiting to be
// written, idle time (any bytes read, keep-alives included, reset it), the
// time an accepted connection may take to send its first message, and the
// time a message that has begun may take to complete. Out of descriptors
// (EMFILE, ENFILE), a listener stops accepting for ACCEPT_PAUSE instead of
// waking the loop again at once for a connection it cannot take. One read of at most READ_CHUNK
// bytes per wakeup (TLS: records until READ_CHUNK bytes, the rest on the next turn).
//
// Outgoing connections: connect() opens one to a target (plain, or TLS as
// the client with the client context, its certificate checked against the
// target's address), or returns the one already open to it (reused while
// open; closed by the same idle limit). Messages sent before the connection
// is up wait, each on its own; if it never comes up (refused, timed out,
// the handshake failed) each is handed to the undelivered callback, so the
// farm answers requests. Messages that arrive on it are like any other.
//
// Not here: client certificate policy beyond the context's, what messages
// mean.
#pragma once

#include "base/log.hpp"
#include "base/result.hpp"
#include "base/sockaddr.hpp"
#include "base/transport.hpp"
#include "base/unique_fd.hpp"
#include "config/config.hpp"
#include "ev/loop.hpp"
#include "sip/stream.hpp"
#include "tls.hpp"
#include "json/json.hpp"

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

namespace rtfarm::sipfarmd {

// The reasons a connection closes that StreamSet acts on besides counting
// them (every reason is a word of the "closed" counters and of the log).
namespace close_reason {
inline constexpr std::string_view CONNECT_FAILED = "connect_failed";
inline constexpr std::string_view CONNECT_TIMEOUT = "connect_timeout";
inline constexpr std::string_view TLS_HANDSHAKE = "tls_handshake";
inline constexpr std::string_view TLS_HANDSHAKE_TIMEOUT = "tls_handshake_timeout";
inline constexpr std::string_view FRAMING = "framing";
// OpenSSL failed after the handshake.
inline constexpr std::string_view TLS_ERROR = "tls_error";
} // namespace close_reason

// Where an outgoing connection goes: the target's address, over TCP or TLS.
struct StreamTarget {
    SockAddr to;
    Transport transport = Transport::tcp;
    bool operator<(const StreamTarget& o) const {
        return std::tie(to, transport) < std::tie(o.to, o.transport);
    }
};

struct StreamSettings {
    sip::StreamLimits framing;
    size_t max_connections = 4096; // accepted ones open at once
    size_t max_per_address = 64;   // accepted ones from one IP address
    size_t max_outgoing = 1024;    // opened by us, open at once
    // A target whose connection failed before it was up (refused, timed
    // out, TLS handshake failed) is not tried again for this long: messages
    // for it fail at once rather than each waiting for its own attempt.
    std::chrono::milliseconds failed_target_hold{std::chrono::seconds(5)};
    size_t max_output = 1024 * 1024; // bytes waiting on one connection
    std::chrono::milliseconds idle{std::chrono::seconds(600)};
    // An accepted connection that has sent no SIP message for this long
    // only holds a slot (a stranger's idle connections): closed.
    std::chrono::milliseconds first_message{std::chrono::seconds(10)};
    std::chrono::milliseconds read_timeout{std::chrono::seconds(30)};
    std::chrono::milliseconds handshake_timeout{std::chrono::seconds(10)};
    bool operator==(const StreamSettings&) const = default;
};

struct StreamConn {
    uint64_t id = 0;
    SockAddr peer;
    SockAddr local;
    UniqueFd fd; // before the events: they are freed first
    SslPtr ssl;  // TLS: on `fd` (which it does not close)
    bool handshaking = false;
    // Opened by us (connect()); `connecting` until the TCP connect is done.
    bool outgoing = false;
    bool connecting = false;
    // Outgoing, not up yet: the messages waiting, each whole.
    std::vector<std::string> pending;
    std::chrono::steady_clock::time_point accepted_at{}; // or connect() time
    // OpenSSL asked for the other direction: a read waits for the socket to
    // be writable, or a write for it to be readable.
    bool read_wants_write = false;
    bool write_wants_read = false;
    std::unique_ptr<ev::FdEvent> read_event;
    std::unique_ptr<ev::FdEvent> write_event;
    sip::StreamFramer framer;
    std::string out;
    size_t out_pos = 0;
    std::chrono::steady_clock::time_point last_read{};
    // A message has begun and is not complete yet: since when.
    bool partial = false;
    std::chrono::steady_clock::time_point partial_since{};
    bool closed = false;
    uint64_t messages_in = 0;
    uint64_t messages_out = 0;
    uint64_t bytes_in = 0; // read from the peer (TLS: after decryption)
    bool tls() const { return ssl != nullptr; }
};

class StreamSet {
public:
    using OnMessage = std::function<void(StreamConn&, std::string_view)>;
    // A message sent on an outgoing connection that never came up.
    using OnUndelivered = std::function<void(std::string_view)>;

    StreamSet(ev::Loop& loop, OnMessage on_message, OnUndelivered on_undelivered = {});
    StreamSet(const StreamSet&) = delete;
    StreamSet& operator=(const StreamSet&) = delete;

    // Writes `bytes` on connection `id`. False when there is no such
    // connection open (closed, or closed now because its output is full).
    bool send(uint64_t id, std::string_view bytes);
    // The context for connections accepted on "tls:" listeners from now on.
    void set_tls(SslCtxPtr tls) { m_tls = std::move(tls); }
    // The client context for outgoing TLS connections from now on.
    void set_tls_client(SslCtxPtr tls) { m_tls_client = std::move(tls); }
    // The open outgoing connection to `peer` (TLS or not), or a new one
    // (connecting: send() queues until it is up). Errors: "too_many" (at
    // max_outgoing), "recently_failed" (within failed_target_hold of a
    // failed attempt), "no_tls" (no client context), "connect" (the socket
    // call failed; a refusal comes later, as undelivered messages).
    Result<uint64_t> connect(const StreamTarget& target);
    bool open(uint64_t id) const;
    // The target (and TLS) of outgoing connection `id` that was up and has
    // closed since, among the last MAX_CLOSED_OUTGOING: where a message that
    // still names it can go on a new connection.
    std::optional<StreamTarget> closed_outgoing(uint64_t id) const;
    // Connection `id` is open and TLS.
    bool tls(uint64_t id) const;
    size_t connections() const { return m_conns.size(); }
    json::Json stats() const;

    static constexpr size_t READ_CHUNK = 64 * 1024;
    static constexpr int ACCEPTS_PER_WAKEUP = 32;
    static constexpr std::chrono::milliseconds ACCEPT_PAUSE{200};

    struct Listener {
        SockAddr addr;
        bool tls = false;
        UniqueFd fd;
        std::unique_ptr<ev::FdEvent> event;
        uint64_t accepted = 0;
        // Out of descriptors: accepting again after ACCEPT_PAUSE.
        std::unique_ptr<ev::Timer> resume;
    };
    // The listeners a new set needs (`listen`), the new ones open and the
    // kept ones still in use (as SocketSet::Plan): commit() switches to
    // them, and a plan dropped closes only what it opened. Connections
    // already open stay. `tls` at commit() is the context for connections
    // accepted on "tls:" entries from now on (required when there is one:
    // `have_tls` at prepare(); the old one is dropped otherwise).
    struct Plan {
        std::map<SockAddr, std::unique_ptr<Listener>> next; // nullptr: kept
        std::map<SockAddr, bool> is_tls;
    };
    Result<Plan> prepare(const std::vector<config::StreamListen>& listen, bool have_tls);
    void commit(Plan plan, const StreamSettings& settings, SslCtxPtr tls);

private:
    Result<std::unique_ptr<Listener>> listen_on(const SockAddr& addr);
    void on_accept(Listener& l);
    void on_readable(StreamConn& c);
    void on_writable(StreamConn& c);
    void handshake(StreamConn& c);
    // An outgoing connection's TCP connect finished (or failed).
    void connected(StreamConn& c);
    // An outgoing connection is up: what waited goes out.
    void established(StreamConn& c);
    void watch(StreamConn& c);
    void note_failed(const StreamTarget& target);
    // Frames and hands on what was read.
    void deliver(StreamConn& c, std::string_view bytes);
    // Writes what is waiting; the write event on while some is left.
    void flush(StreamConn& c);
    enum class Io { data, again, eof, error };
    struct IoResult {
        Io kind = Io::again;
        size_t n = 0;
        std::string detail; // for error
        // For error: the close reason, TLS_ERROR or a socket error.
        std::string_view reason = close_reason::TLS_ERROR;
    };
    IoResult read_some(StreamConn& c, char* buf, size_t size);
    IoResult write_some(StreamConn& c, std::string_view bytes);
    void on_sweep();
    // The one way a connection ends. `reason` is a word for counters; `detail` for the log.
    void close(StreamConn& c, std::string_view reason, std::string_view detail = {});
    void count_close(std::string_view reason);

    ev::Loop& m_loop;
    OnMessage m_on_message;
    OnUndelivered m_on_undelivered;
    StreamSettings m_settings;
    SslCtxPtr m_tls;
    SslCtxPtr m_tls_client;
    std::map<SockAddr, std::unique_ptr<Listener>> m_listeners;
    std::map<uint64_t, std::unique_ptr<StreamConn>> m_conns;
    // Open outgoing connections by target and TLS.
    std::map<StreamTarget, uint64_t> m_outgoing;
    // Targets (and TLS) whose last attempt failed, and when; bounded.
    std::map<StreamTarget, std::chrono::steady_clock::time_point> m_failed;
    static constexpr size_t MAX_FAILED_TARGETS = 4096;
    // Outgoing connections that were up and closed, by id, oldest first out.
    std::map<uint64_t, StreamTarget> m_closed_outgoing;
    std::deque<uint64_t> m_closed_order;
    static constexpr size_t MAX_CLOSED_OUTGOING = 4096;
    // Closed ones, freed from the loop once the current callback returned.
    std::vector<std::unique_ptr<StreamConn>> m_dead;
    std::unique_ptr<ev::Ticker> m_sweep;
    // A new connection id: random, so that the identity the farm puts in
    // its Via, Record-Route and Path is not a guess away from another
    // client's connection (RFC 5626 5.2 asks as much of flow tokens).
    uint64_t new_id() const;

    uint64_t m_accepted = 0;
    uint64_t m_connects = 0;
    uint64_t m_connect_failures = 0; // refused, timed out, or the socket call failed
    uint64_t m_undelivered = 0;      // messages that waited for a connection that never came up
    uint64_t m_refused = 0;          // over max_connections
    uint64_t m_refused_address = 0;  // over max_per_address
    uint64_t m_accept_paused = 0;    // pauses for want of descriptors
    // Accepted connections open, by peer IP address (bounded by them).
    std::map<std::string, size_t, std::less<>> m_per_address;
    uint64_t m_held_back = 0; // connects not tried: the target failed lately
    uint64_t m_messages = 0;
    uint64_t m_pings = 0;
    uint64_t m_framing_errors = 0;
    uint64_t m_bytes_in = 0;
    uint64_t m_bytes_out = 0;
    uint64_t m_tls_handshakes = 0;
    uint64_t m_tls_failures = 0;                           // handshakes failed or timed out
    std::map<std::string, uint64_t, std::less<>> m_closed; // by reason
    log::RateLimit m_log{5.0, 20.0};
};

} // namespace rtfarm::sipfarmd
