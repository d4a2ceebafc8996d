#include "control/ndjson.hpp"

#include "base/crypto.hpp"
#include "base/strings.hpp"

#include <cstring>

namespace rtfarm::control {
namespace {

bool is_blank(std::string_view s) {
    for (char c : s)
        if (c != ' ' && c != '\t')
            return false;
    return true;
}

bool is_scalar(const Json& v) {
    return v && !v.is_object() && !v.is_array();
}

// The length of the well-formed UTF-8 sequence at s[i], 0 if there is none
// (RFC 3629: no overlong forms, no surrogates, nothing past U+10FFFF).
size_t utf8_sequence(std::string_view s, size_t i) {
    auto b = [&](size_t k) {
        return static_cast<unsigned char>(s[i + k]);
    };
    auto cont = [&](size_t k) {
        return i + k < s.size() && (b(k) & 0xC0) == 0x80;
    };
    unsigned char c = b(0);
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        return cont(1) ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        if (!cont(1) || !cont(2))
            return 0;
        if ((c == 0xE0 && b(1) < 0xA0) || (c == 0xED && b(1) > 0x9F))
            return 0;
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (!cont(1) || !cont(2) || !cont(3))
            return 0;
        if ((c == 0xF0 && b(1) < 0x90) || (c == 0xF4 && b(1) > 0x8F))
            return 0;
        return 4;
    }
    return 0;
}

// jansson refuses strings that are not UTF-8, and writes a NUL as \u0000,
// which it refuses to read back; a message must never vanish from a reply
// (nor make it unreadable) for that, so bad bytes and NULs become '?'.
std::string clean_utf8(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    size_t i = 0;
    while (i < s.size()) {
        size_t n = s[i] == '\0' ? 0 : utf8_sequence(s, i);
        if (n == 0) {
            out += '?';
            ++i;
        } else {
            out.append(s.data() + i, n);
            i += n;
        }
    }
    return out;
}

} // namespace

void LineFramer::feed(std::string_view bytes) {
    if (m_pos > 0) {
        m_buf.erase(0, m_pos);
        m_pos = 0;
    }
    if (m_discarding) {
        auto nl = bytes.find('\n');
        if (nl == std::string_view::npos)
            return;
        bytes.remove_prefix(nl + 1);
        m_discarding = false;
    }
    m_buf.append(bytes.data(), bytes.size());
}

std::optional<LineFramer::Frame> LineFramer::next_line() {
    while (m_pos < m_buf.size()) {
        size_t nl = m_buf.find('\n', m_pos + m_scanned);
        if (nl == std::string::npos) {
            size_t n = m_buf.size() - m_pos;
            m_scanned = n;
            // One byte over the limit may still be the '\r' of a full-size line.
            if (n > m_max + 1 || (n == m_max + 1 && m_buf.back() != '\r')) {
                m_pos = m_buf.size();
                m_scanned = 0;
                m_discarding = true;
                return Frame{Kind::oversize, {}};
            }
            return std::nullopt;
        }
        std::string_view line(m_buf.data() + m_pos, nl - m_pos);
        m_pos = nl + 1;
        m_scanned = 0;
        if (!line.empty() && line.back() == '\r')
            line.remove_suffix(1);
        if (line.size() > m_max)
            return Frame{Kind::oversize, {}};
        if (is_blank(line))
            continue;
        return Frame{Kind::line, line};
    }
    return std::nullopt;
}

Json id_of(const Json& message) {
    if (message.is_object()) {
        Json id = message["id"];
        if (is_scalar(id))
            return id;
    }
    return Json::null();
}

Result<Request> to_request(Json message) {
    if (!message.is_object())
        return make_error(error_code::BAD_REQUEST, "a request must be a JSON object, not " +
                                                       std::string(type_name(message)));
    Json id = message["id"];
    if (id && !is_scalar(id))
        return make_error(error_code::BAD_REQUEST,
                          "\"id\" must be a number, string, boolean or null, not " +
                              std::string(type_name(id)));
    Json op = message["op"];
    if (!op)
        return make_error(error_code::BAD_REQUEST, "the request has no \"op\"");
    auto name = op.as_string();
    if (!name)
        return make_error(error_code::BAD_REQUEST,
                          "\"op\" must be a string, not " + std::string(type_name(op)));
    if (name->empty())
        return make_error(error_code::BAD_REQUEST, "\"op\" is empty");
    Request req;
    req.id = id ? std::move(id) : Json::null();
    req.op = std::move(*name);
    req.body = std::move(message);
    return req;
}

Result<Request> parse_request(std::string_view line) {
    auto v = json::parse(line, "request");
    if (!v)
        return v.error();
    return to_request(std::move(v).value());
}

std::string auth_server_proof(std::string_view secret, std::string_view client_nonce,
                              std::string_view nonce) {
    std::string n = std::to_string(client_nonce.size()) + ":";
    std::string mac = crypto::hmac_sha256(secret, {AUTH_SERVER_CONTEXT, n, client_nonce, nonce});
    return to_hex(reinterpret_cast<const unsigned char*>(mac.data()), mac.size());
}

size_t auth_pick_secret(std::span<const std::string> secrets, const Json& client_keys) {
    if (!client_keys.is_array() || client_keys.size() > 8)
        return 0;
    for (size_t i = 0; i < secrets.size(); ++i) {
        std::string id = crypto::key_id(secrets[i]);
        for (size_t j = 0; j < client_keys.size(); ++j)
            if (client_keys.at(j).as_string() == id)
                return i;
    }
    return 0;
}

const std::string* auth_named_secret(std::span<const std::string> secrets, const Json& key) {
    if (secrets.empty())
        return nullptr;
    auto id = key.as_string();
    if (!key || !id)
        return &secrets.front();
    for (const auto& s : secrets)
        if (crypto::key_id(s) == *id)
            return &s;
    return nullptr;
}

Json auth_key_ids(std::span<const std::string> secrets) {
    Json ids = Json::array();
    for (const auto& s : secrets)
        ids.append(Json::string(crypto::key_id(s)));
    return ids;
}

std::string auth_mac(std::string_view secret, std::string_view nonce) {
    std::string mac = crypto::hmac_sha256(secret, {AUTH_CONTEXT, nonce});
    return to_hex(reinterpret_cast<const unsigned char*>(mac.data()), mac.size());
}

Result<std::string> request_line(long long id, std::string_view op, const Json& args) {
    if (args && !args.is_object())
        return make_error("bad_request", "the arguments of '" + std::string(op) +
                                             "' must be a JSON object, not " +
                                             std::string(type_name(args)));
    Json req = Json::object();
    req.set("id", id);
    req.set("op", op);
    if (args) {
        const char* key = nullptr;
        json_t* value = nullptr;
        json_object_foreach(args.get(), key, value) {
            if (std::strcmp(key, "id") == 0 || std::strcmp(key, "op") == 0)
                return make_error("bad_request", std::string("the arguments of '") +
                                                     std::string(op) + "' must not hold \"" + key +
                                                     "\"");
            req.set(key, Json::borrow(value));
        }
    }
    return req.dump() + '\n';
}

std::string ok_reply(const Json& id, Json result) {
    Json reply = Json::object();
    reply.set("id", id ? id : Json::null());
    reply.set("ok", true);
    reply.set("result", result ? std::move(result) : Json::object());
    return reply.dump() + '\n';
}

std::string error_reply(const Json& id, std::string_view code, std::string_view message) {
    Json error = Json::object();
    error.set("code", std::string_view(clean_utf8(code)));
    error.set("message", std::string_view(clean_utf8(message)));
    Json reply = Json::object();
    reply.set("id", id ? id : Json::null());
    reply.set("ok", false);
    reply.set("error", std::move(error));
    return reply.dump() + '\n';
}

Result<Response> parse_response(std::string_view line) {
    auto v = json::parse(line, "reply");
    if (!v)
        return v.error();
    const Json& m = *v;
    if (!m.is_object())
        return make_error("bad_reply",
                          "a reply must be a JSON object, not " + std::string(type_name(m)));
    auto ok = m["ok"].as_bool();
    if (!ok)
        return make_error("bad_reply", "the reply has no boolean \"ok\"");
    Response r;
    r.id = id_of(m);
    r.ok = *ok;
    if (r.ok) {
        r.result = m["result"];
        if (!r.result)
            r.result = Json::null();
        return r;
    }
    Json error = m["error"];
    auto code = error["code"].as_string();
    if (!code)
        return make_error("bad_reply", "the error reply has no string \"error.code\"");
    r.error.code = std::move(*code);
    r.error.message = error["message"].as_string().value_or("");
    return r;
}

} // namespace rtfarm::control
