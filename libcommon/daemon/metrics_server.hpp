// The HTTP endpoint that serves a daemon's Prometheus metrics (the member's
// `metrics` or `media_metrics` address), with libevent's evhttp on the
// daemon's loop. It answers GET /metrics (a query string is ignored) with
// the text the render callback returns, 404 for any other path, 405 with
// "Allow: GET" for any other method; requests whose header block is larger
// than MAX_HEADERS_BYTES or that carry a body larger than MAX_BODY_BYTES
// are refused by evhttp, and a connection idle for TIMEOUT_S is closed.
// It does not build the text (metrics.hpp does) and has no login: the
// config only lets it listen on the member's internal address or loopback.
#pragma once

#include "base/result.hpp"
#include "base/sockaddr.hpp"
#include "ev/loop.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

struct evhttp;
struct evhttp_request;

namespace rtfarm::daemon {

struct EvhttpFree {
    void operator()(evhttp* h) const;
};

class MetricsServer {
public:
    static constexpr size_t MAX_HEADERS_BYTES = 8192;
    static constexpr size_t MAX_BODY_BYTES = 1024;
    static constexpr int TIMEOUT_S = 5;

    using Render = std::function<std::string()>;
    MetricsServer(ev::Loop& loop, Render render);
    MetricsServer(const MetricsServer&) = delete;
    MetricsServer& operator=(const MetricsServer&) = delete;
    ~MetricsServer();

    // Starts listening on `addr` (TCP). Errors name the address ("in use").
    Status listen(const SockAddr& addr);
    // The address actually bound (port 0 resolved), once listening.
    std::optional<SockAddr> address() const { return m_address; }
    // Stops listening and drops open connections.
    void close();

    struct Counters {
        uint64_t scrapes = 0;     // 200 answers
        uint64_t not_found = 0;   // 404
        uint64_t not_allowed = 0; // 405
    };
    const Counters& counters() const { return m_counters; }

private:
    static void on_request(evhttp_request* req, void* arg) noexcept;
    void handle(evhttp_request* req);

    ev::Loop& m_loop;
    Render m_render;
    std::unique_ptr<evhttp, EvhttpFree> m_http;
    std::optional<SockAddr> m_address;
    Counters m_counters;
};

} // namespace rtfarm::daemon
