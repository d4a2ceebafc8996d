#include "daemon/metrics_server.hpp"

#include "base/log.hpp"
#include "daemon/metrics.hpp"
#include "net/socket.hpp"

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>

#include <cstring>
#include <exception>

namespace rtfarm::daemon {
namespace {

struct UriFree {
    void operator()(evhttp_uri* u) const { evhttp_uri_free(u); }
};

// Every method evhttp knows: the ones that are not GET get our 405, not
// evhttp's own 501.
constexpr int ALL_METHODS = EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |
                            EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
                            EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH;

void send_text(evhttp_request* req, int code, const char* reason, const std::string& body,
               const char* content_type) {
    evkeyvalq* headers = evhttp_request_get_output_headers(req);
    evhttp_add_header(headers, "Content-Type", content_type);
    evbuffer* buf = evbuffer_new();
    if (!buf) {
        evhttp_send_error(req, HTTP_INTERNAL, nullptr);
        return;
    }
    evbuffer_add(buf, body.data(), body.size());
    evhttp_send_reply(req, code, reason, buf);
    evbuffer_free(buf);
}

} // namespace

void EvhttpFree::operator()(evhttp* h) const {
    evhttp_free(h);
}

MetricsServer::MetricsServer(ev::Loop& loop, Render render)
    : m_loop(loop)
    , m_render(std::move(render)) {
}

MetricsServer::~MetricsServer() {
    close();
}

Status MetricsServer::listen(const SockAddr& addr) {
    close();
    auto fd = net::tcp_listen(addr);
    if (!fd)
        return fd.error();
    auto bound = net::local_address(fd->get());
    if (!bound)
        return bound.error();
    if (evutil_make_socket_nonblocking(fd->get()) != 0)
        return make_error("io", "metrics " + addr.str() + ": cannot make the socket non-blocking");
    std::unique_ptr<evhttp, EvhttpFree> http(evhttp_new(m_loop.base()));
    if (!http)
        return make_error("io", "metrics " + addr.str() + ": evhttp_new failed");
    evhttp_set_max_headers_size(http.get(), MAX_HEADERS_BYTES);
    evhttp_set_max_body_size(http.get(), MAX_BODY_BYTES);
    evhttp_set_timeout(http.get(), TIMEOUT_S);
    evhttp_set_allowed_methods(http.get(), ALL_METHODS);
    evhttp_set_gencb(http.get(), &MetricsServer::on_request, this);
    // evhttp owns the socket from here (it closes it when freed).
    if (!evhttp_accept_socket_with_handle(http.get(), fd->get()))
        return make_error("io", "metrics " + addr.str() + ": evhttp cannot accept on the socket");
    (void)fd->release();
    m_http = std::move(http);
    m_address = *bound;
    log::info("metrics", "listening", {{"address", bound->str()}});
    return {};
}

void MetricsServer::close() {
    m_http.reset();
    m_address.reset();
}

void MetricsServer::on_request(evhttp_request* req, void* arg) noexcept {
    auto* self = static_cast<MetricsServer*>(arg);
    try {
        self->handle(req);
    } catch (const std::exception& e) {
        log::error("metrics", "request failed", {{"err", e.what()}});
        evhttp_send_error(req, HTTP_INTERNAL, nullptr);
    } catch (...) {
        log::error("metrics", "request failed", {{"err", "unknown exception"}});
        evhttp_send_error(req, HTTP_INTERNAL, nullptr);
    }
}

void MetricsServer::handle(evhttp_request* req) {
    const char* plain = "text/plain; charset=utf-8";
    std::unique_ptr<evhttp_uri, UriFree> uri(evhttp_uri_parse(evhttp_request_get_uri(req)));
    const char* path = uri ? evhttp_uri_get_path(uri.get()) : nullptr;
    if (!path || std::strcmp(path, "/metrics") != 0) {
        ++m_counters.not_found;
        send_text(req, HTTP_NOTFOUND, "Not Found", "not found: the metrics are at /metrics\n",
                  plain);
        return;
    }
    if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
        ++m_counters.not_allowed;
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET");
        send_text(req, 405, "Method Not Allowed", "only GET /metrics\n", plain);
        return;
    }
    ++m_counters.scrapes;
    send_text(req, HTTP_OK, "OK", m_render(), metrics::CONTENT_TYPE);
}

} // namespace rtfarm::daemon
