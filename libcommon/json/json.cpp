#include "json/json.hpp"

#include <cstdlib>

namespace rtfarm::json {

size_t Json::size() const {
    if (json_is_array(m_v))
        return json_array_size(m_v);
    if (json_is_object(m_v))
        return json_object_size(m_v);
    return 0;
}

std::optional<std::string> Json::as_string() const {
    if (!json_is_string(m_v))
        return std::nullopt;
    return std::string(json_string_value(m_v), json_string_length(m_v));
}

std::optional<long long> Json::as_integer() const {
    if (!json_is_integer(m_v))
        return std::nullopt;
    return json_integer_value(m_v);
}

std::optional<bool> Json::as_bool() const {
    if (!json_is_boolean(m_v))
        return std::nullopt;
    return json_is_true(m_v);
}

Json& Json::set(const char* key, Json value) {
    json_object_set_new(m_v, key, value.release());
    return *this;
}

Json& Json::append(Json value) {
    json_array_append_new(m_v, value.release());
    return *this;
}

std::string Json::dump() const {
    if (!m_v)
        return {};
    char* s = json_dumps(m_v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
    if (!s)
        return {};
    std::string out(s);
    free(s);
    return out;
}

std::string Json::dump_pretty() const {
    if (!m_v)
        return {};
    char* s = json_dumps(m_v, JSON_INDENT(2) | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
    if (!s)
        return {};
    std::string out(s);
    free(s);
    return out;
}

Result<Json> parse(std::string_view text, std::string_view where) {
    json_error_t err;
    json_t* v =
        json_loadb(text.data(), text.size(), JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err);
    if (!v) {
        std::string msg(where);
        msg += ':' + std::to_string(err.line) + ':' + std::to_string(err.column) + ": " + err.text;
        return make_error("bad_json", msg);
    }
    return Json::adopt(v);
}

std::string_view type_name(const Json& v) {
    if (!v)
        return "nothing";
    switch (json_typeof(v.get())) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
        return "integer";
    case JSON_REAL:
        return "number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    case JSON_NULL:
        return "null";
    }
    return "nothing";
}

} // namespace rtfarm::json
