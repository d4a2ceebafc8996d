// The NDJSON control server every daemon runs (rtfarm-control(7)):
// listens on a Unix socket and optionally on TCP, serves many
// clients on one ev::Loop, frames each connection's bytes into lines, and
// dispatches each request to the handler registered for its op. Every
// failure of a request (bad JSON, not a request, unknown op, line too long)
// gets an error reply and the connection goes on.
//
// Retries: an op registered with OpOptions::retry_cache keeps its replies
// for a while. A request to it that repeats, on the same connection, a line
// sent before (the same bytes, so the same non-null id, op and fields)
// within the retry window is answered from that cache without running the
// handler again; one that arrives while the first is still running gets
// the same reply when it comes. A reused id with other text is a new
// request and runs. Requests to other ops, and requests without an id,
// always run.
//
// Replies are written in the order handlers produce them, not in request
// order: a handler may answer later (from a timer, after a remote call), so
// clients match replies by id. A connection whose client half-closes gets
// the replies it is owed, then is closed (bytes after the last '\n' are not
// a request). A client that stops reading is disconnected once its
// pending output exceeds the limit.
//
// TCP clients prove they know the cluster secret when the server has one
// (set_tcp_secrets; two during a key rotation, ndjson.hpp): the server answers op "auth.challenge"
// with a fresh random {"nonce"}, and op "auth" with {"mac": hex HMAC-SHA256(secret, AUTH_CONTEXT +
// nonce)} unlocks the connection; until then every other op is refused with "unauthenticated"; one
// that has not logged in after 5 s is disconnected, and TCP clients never take the last eighth of
// max_clients, kept for Unix clients. A nonce serves one attempt; a failed
// login is answered after FAILED_LOGIN_DELAY. The server proves the secret
// too (auth_server_proof()). One address holds at most
// max_per_address TCP connections, and addresses other than the members'
// (set_member_hosts) never take the last quarter of the TCP places. Unix
// clients are trusted by the socket's file mode. Without a secret TCP is
// open, and the config only allows binding it to an internal address.
//
// Events: a handler may keep the connection id (Peer::connection) and
// push() lines to it later, unasked; on_disconnect() says when it goes.
//
// It does not know any op (the daemons register theirs) or use threads:
// everything, handlers and Reply calls included, runs on the loop's thread.
#pragma once

#include "base/log.hpp"
#include "base/result.hpp"
#include "base/sockaddr.hpp"
#include "base/unique_fd.hpp"
#include "control/ndjson.hpp"
#include "ev/loop.hpp"
#include "json/json.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace rtfarm::control {

// How a control client reached us: the Unix socket (local, trusted by its
// file's mode) or TCP (logged in with the cluster secret).
enum class PeerTransport : uint8_t { unix_socket, tcp };
// "unix" or "tcp", as the logs write it.
constexpr std::string_view to_string(PeerTransport t) {
    return t == PeerTransport::tcp ? "tcp" : "unix";
}

// Who sent a request.
struct Peer {
    uint64_t connection = 0; // unique per server, for logs
    PeerTransport transport = PeerTransport::unix_socket;
    std::string address; // "127.0.0.1:40312"; "pid=123" for unix peers
    int uid = -1;        // unix peers (SO_PEERCRED); -1 over TCP
    int pid = -1;
};

// Answers one request: a value becomes {"ok":true,"result":value}, an Error
// {"ok":false,"error":{"code","message"}}. Call it once, now or later, from
// the loop's thread; after the connection or the server is gone it does
// nothing, and a second call does nothing.
using Reply = std::function<void(Result<Json>)>;
using Handler = std::function<void(const Request&, const Peer&, Reply)>;

// How the server treats one op.
struct OpOptions {
    // Answer a retry of a request from the retry cache instead of running
    // the handler again (see the top of this file). For ops that create or
    // change state, such as a media offer; not for reads (ping, stats),
    // whose answer changes, nor for ops cheap and safe to run again.
    bool retry_cache = false;
};

struct ControlServerOptions {
    // Connections at once; one more is accepted, told "busy" and closed.
    size_t max_clients = 256;
    // Output waiting for a client that does not read, before it is dropped.
    // Checked when a reply is queued behind unsent output: one reply of any
    // size is always accepted on a connection that has caught up.
    size_t max_output = size_t(1) << 20;
    // How long after its reply, and for how many requests per connection,
    // a request to an op with OpOptions::retry_cache is remembered. A
    // request still waiting for its handler is never forgotten: when all
    // the entries of a connection wait, a new request to such an op is
    // answered "busy" and not run. 0 entries: no retry cache.
    std::chrono::milliseconds retry_ttl{30000};
    size_t retry_entries = 128;
    // How long a TCP client that must log in may take to do it.
    std::chrono::milliseconds login_deadline{5000};
    // TCP connections at once from one address.
    size_t max_per_address = 16;

    bool operator==(const ControlServerOptions&) const = default;
};

struct ControlCounters {
    uint64_t accepted = 0;
    uint64_t rejected = 0;                    // over max_clients
    uint64_t slow_readers = 0;                // dropped over max_output
    uint64_t retries = 0;                     // answered from the retry cache
    std::map<std::string, uint64_t> requests; // by op, registered ops only
    std::map<std::string, uint64_t> errors;   // error replies by code
    // Replies sent to registered ops, by op, then "ok" or the error code.
    std::map<std::string, std::map<std::string, uint64_t>> results;
};

class ControlServer {
public:
    explicit ControlServer(ev::Loop& loop, ControlServerOptions options = {});
    ControlServer(const ControlServer&) = delete;
    ControlServer& operator=(const ControlServer&) = delete;
    // close(), then drops every connection (owed replies are lost).
    ~ControlServer();

    // Starts listening (see net::unix_listen for what happens when the path
    // exists). Errors name the path or address ("in_use" when taken).
    Status listen_unix(const std::string& path);
    Status listen_tcp(const SockAddr& addr);
    // The TCP address actually bound (port 0 resolved), if listening on TCP.
    std::optional<SockAddr> tcp_address() const;

    // The secrets TCP clients must prove they know one of, newest first
    // (two during a key rotation: ndjson.hpp auth_pick_secret); none = TCP
    // open. Connections already logged in stay so.
    void set_tcp_secrets(std::vector<std::string> secrets) { m_tcp_secrets = std::move(secrets); }
    // The members' addresses: TCP places are kept for them.
    void set_member_hosts(std::vector<std::string> hosts) { m_member_hosts = std::move(hosts); }
    static constexpr std::chrono::milliseconds FAILED_LOGIN_DELAY{1000};

    // Sends `message` as one line to connection `connection`, unasked (an
    // event). False when that connection is gone.
    bool push(uint64_t connection, const Json& message);
    // Called with the id of every connection that closes.
    void on_disconnect(std::function<void(uint64_t)> callback) {
        m_on_disconnect = std::move(callback);
    }

    // The handler for `op`; registering one op twice is a bug (asserted).
    // A handler must not destroy the server (use Loop::defer).
    void on(std::string op, Handler handler, OpOptions options = {});

    // Stops listening and removes the Unix socket file if it is still ours.
    // Open connections go on until they close or the server is destroyed.
    void close();

    size_t clients() const { return m_conns.size(); }
    const ControlCounters& counters() const { return m_counters; }
    // The counters as JSON, for the `stats` op.
    Json stats() const;

private:
    struct Connection;
    struct Listener;
    struct PendingReply;
    struct Op {
        Handler handler;
        OpOptions options;
    };

    void on_accept(Listener& l);
    void adopt(UniqueFd fd, PeerTransport transport);
    void on_readable(const std::shared_ptr<Connection>& c);
    void on_writable(const std::shared_ptr<Connection>& c);
    void on_line(const std::shared_ptr<Connection>& c, std::string_view line);
    void dispatch(const std::shared_ptr<Connection>& c, Request req, std::string_view line);
    void deliver(PendingReply& pending, Result<Json> result);
    void send_error(const std::shared_ptr<Connection>& c, const Json& id, const char* code,
                    const std::string& message);
    void send(const std::shared_ptr<Connection>& c, const std::string& text);
    void flush(const std::shared_ptr<Connection>& c);
    void finish_if_done(const std::shared_ptr<Connection>& c);
    void close_connection(std::shared_ptr<Connection> c, const std::string& reason);
    void pause_accepting();
    // The built-in login ops; true when `req` was one of them.
    bool login(const std::shared_ptr<Connection>& c, const Request& req);

    std::vector<std::string> m_member_hosts;
    ev::Loop& m_loop;
    ControlServerOptions m_options;
    std::vector<std::unique_ptr<Listener>> m_listeners;
    std::unordered_map<uint64_t, std::shared_ptr<Connection>> m_conns;
    std::map<std::string, Op, std::less<>> m_ops;
    ControlCounters m_counters;
    uint64_t m_next_id = 1;
    ev::Timer m_accept_pause;
    std::vector<std::string> m_tcp_secrets;
    std::function<void(uint64_t)> m_on_disconnect;
    std::vector<char> m_read_buf;
    log::RateLimit m_log_limit{1.0, 10.0};
};

} // namespace rtfarm::control
