#include "sip/osip.hpp"

#include "base/log.hpp"
#include "base/strings.hpp"

#include <osipparser2/osip_parser.h>

#include <cstdarg>
#include <cstdio>
#include <mutex>

namespace rtfarm::sip {

namespace {

std::optional<std::string> copy(const char* s) {
    if (!s)
        return std::nullopt;
    return std::string(s);
}

int to_int(const char* s) {
    if (!s)
        return -1;
    std::optional<uint64_t> v = parse_u64(trim(s));
    if (!v || *v > 0x7fffffff)
        return -1;
    return static_cast<int>(*v);
}

osip_via_t* top_via(osip_message_t* m) {
    osip_via_t* via = nullptr;
    if (osip_message_get_via(m, 0, &via) < 0)
        return nullptr;
    return via;
}

// libosip2's trace lines (it complains about every message it refuses) go to
// our log at debug level under sub=osip, never to stdout. A peer triggers
// them, hence debug.
void trace_to_log(const char* file, int line, osip_trace_level_t level, const char* fmt,
                  va_list ap) noexcept {
    if (!log::enabled(log::Level::debug, "osip"))
        return;
    try {
        char text[512];
        std::vsnprintf(text, sizeof text, fmt, ap);
        std::string_view msg = trim(text);
        log::debug("osip", msg,
                   {{"at", std::string(file ? file : "?") + ":" + std::to_string(line)},
                    {"osip_level", std::to_string(static_cast<int>(level))}});
    } catch (...) {
        // Out of memory while logging a trace line: drop the line.
    }
}

} // namespace

void osip_init_once() {
    static std::once_flag once;
    std::call_once(once, [] {
        parser_init();
        osip_trace_initialize_func(OSIP_INFO1, trace_to_log); // fatal..warning
    });
}

void OsipMessageFree::operator()(osip_message_t* m) const noexcept {
    osip_message_free(m);
}

OsipMessage::OsipMessage(OsipMessagePtr msg)
    : m_msg(std::move(msg)) {
}

bool OsipMessage::is_request() const {
    return MSG_IS_REQUEST(m_msg.get());
}

std::optional<std::string> OsipMessage::method() const {
    return copy(m_msg->sip_method);
}

int OsipMessage::status_code() const {
    return is_request() ? 0 : m_msg->status_code;
}

std::optional<std::string> OsipMessage::call_id() const {
    osip_call_id_t* id = m_msg->call_id;
    if (!id || !id->number)
        return std::nullopt;
    std::string s(id->number);
    if (id->host) {
        s += '@';
        s += id->host;
    }
    return s;
}

std::optional<uint64_t> OsipMessage::cseq_number() const {
    if (!m_msg->cseq || !m_msg->cseq->number)
        return std::nullopt;
    return parse_u64(m_msg->cseq->number);
}

std::optional<std::string> OsipMessage::cseq_method() const {
    if (!m_msg->cseq)
        return std::nullopt;
    return copy(m_msg->cseq->method);
}

std::optional<std::string> OsipMessage::top_via_branch() const {
    osip_via_t* via = top_via(m_msg.get());
    if (!via)
        return std::nullopt;
    char name[] = "branch";
    osip_generic_param_t* p = nullptr;
    if (osip_via_param_get_byname(via, name, &p) < 0 || !p)
        return std::nullopt;
    return p->gvalue ? std::string(p->gvalue) : std::string();
}

std::optional<std::string> OsipMessage::top_via_host() const {
    osip_via_t* via = top_via(m_msg.get());
    return via ? copy(via->host) : std::nullopt;
}

int OsipMessage::top_via_port() const {
    osip_via_t* via = top_via(m_msg.get());
    if (!via || !via->port)
        return 0;
    return to_int(via->port);
}

std::optional<std::string> OsipMessage::ruri_host() const {
    return m_msg->req_uri ? copy(m_msg->req_uri->host) : std::nullopt;
}

std::optional<std::string> OsipMessage::ruri_user() const {
    return m_msg->req_uri ? copy(m_msg->req_uri->username) : std::nullopt;
}

int OsipMessage::ruri_port() const {
    if (!m_msg->req_uri || !m_msg->req_uri->port)
        return 0;
    return to_int(m_msg->req_uri->port);
}

int OsipMessage::max_forwards() const {
    osip_header_t* h = nullptr;
    if (osip_message_get_max_forwards(m_msg.get(), 0, &h) < 0 || !h)
        return -1;
    return to_int(h->hvalue);
}

int OsipMessage::content_length() const {
    if (!m_msg->content_length)
        return -1;
    return to_int(m_msg->content_length->value);
}

size_t OsipMessage::via_count() const {
    return static_cast<size_t>(osip_list_size(&m_msg->vias));
}

Status OsipMessage::set_max_forwards(int value) {
    std::string text = std::to_string(value);
    osip_header_t* h = nullptr;
    if (osip_message_get_max_forwards(m_msg.get(), 0, &h) >= 0 && h) {
        char* copy_of = osip_strdup(text.c_str());
        if (!copy_of)
            return make_error("osip", "out of memory");
        osip_free(h->hvalue);
        h->hvalue = copy_of;
    } else if (osip_message_set_max_forwards(m_msg.get(), text.c_str()) != 0) {
        return make_error("osip", "osip_message_set_max_forwards failed");
    }
    return {};
}

Result<std::string> OsipMessage::serialise() const {
    osip_message_force_update(m_msg.get());
    char* text = nullptr;
    size_t len = 0;
    if (osip_message_to_str(m_msg.get(), &text, &len) != 0 || !text)
        return make_error("osip", "osip_message_to_str failed");
    std::string out(text, len);
    osip_free(text);
    return out;
}

Result<OsipMessage> osip_parse(std::string_view text) {
    osip_init_once();
    osip_message_t* raw = nullptr;
    if (osip_message_init(&raw) != 0 || !raw)
        return make_error("osip", "osip_message_init failed");
    OsipMessagePtr msg(raw);
    int rc = osip_message_parse(raw, text.data(), text.size());
    if (rc != 0)
        return make_error("osip_parse", "libosip2 refused the message (osip_message_parse " +
                                            std::to_string(rc) + ")");
    return OsipMessage(std::move(msg));
}

} // namespace rtfarm::sip
