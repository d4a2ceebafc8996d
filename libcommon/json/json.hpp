// RAII over jansson values. A Json holds exactly one reference: adopt() takes
// over a new reference (what json_object(), json_loads() return), borrow()
// adds one to a reference we do not own (what json_object_get() returns).
// Parsing rejects duplicate keys. This module does no I/O (config/ reads
// files, with a size limit, and hands their text to parse()).
#pragma once

#include "base/result.hpp"

#include <jansson.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace rtfarm::json {

class Json {
public:
    Json() = default;
    static Json adopt(json_t* v) { return Json(v); }
    static Json borrow(json_t* v) { return Json(v ? json_incref(v) : nullptr); }

    Json(const Json& o)
        : m_v(o.m_v ? json_incref(o.m_v) : nullptr) {}
    Json(Json&& o) noexcept
        : m_v(std::exchange(o.m_v, nullptr)) {}
    Json& operator=(Json o) noexcept {
        std::swap(m_v, o.m_v);
        return *this;
    }
    ~Json() { json_decref(m_v); }

    json_t* get() const { return m_v; }
    json_t* release() { return std::exchange(m_v, nullptr); }
    explicit operator bool() const { return m_v != nullptr; }

    static Json object() { return adopt(json_object()); }
    static Json array() { return adopt(json_array()); }
    static Json string(std::string_view s) { return adopt(json_stringn(s.data(), s.size())); }
    static Json integer(long long v) { return adopt(json_integer(v)); }
    static Json real(double v) { return adopt(json_real(v)); }
    static Json boolean(bool v) { return adopt(json_boolean(v)); }
    static Json null() { return adopt(json_null()); }

    bool is_object() const { return json_is_object(m_v); }
    bool is_array() const { return json_is_array(m_v); }
    bool is_string() const { return json_is_string(m_v); }
    bool is_integer() const { return json_is_integer(m_v); }
    bool is_bool() const { return json_is_boolean(m_v); }

    // Object access; a missing key or a non-object gives an empty Json.
    Json operator[](const char* key) const { return borrow(json_object_get(m_v, key)); }
    Json at(size_t i) const { return borrow(json_array_get(m_v, i)); }
    size_t size() const;

    // Typed reads; nullopt when absent or of another type.
    std::optional<std::string> as_string() const;
    std::optional<long long> as_integer() const;
    std::optional<bool> as_bool() const;

    // Object/array building; return *this for chaining.
    Json& set(const char* key, Json value);
    Json& set(const char* key, std::string_view value) { return set(key, string(value)); }
    Json& set(const char* key, const char* value) { return set(key, string(value)); }
    Json& set(const char* key, long long value) { return set(key, integer(value)); }
    Json& set(const char* key, int value) { return set(key, integer(value)); }
    Json& set(const char* key, unsigned value) { return set(key, integer(value)); }
    Json& set(const char* key, unsigned long value) {
        return set(key, integer(static_cast<long long>(value)));
    }
    Json& set(const char* key, bool value) { return set(key, boolean(value)); }
    Json& append(Json value);

    // One line, compact, keys in insertion order; "" for an empty Json.
    std::string dump() const;
    // Indented, for people.
    std::string dump_pretty() const;

private:
    explicit Json(json_t* v)
        : m_v(v) {}
    json_t* m_v = nullptr;
};

// Parses one JSON text; duplicate keys are an error. `where` names the source
// in the message ("control line", a file name).
Result<Json> parse(std::string_view text, std::string_view where);

// The name of a value's JSON type, for messages ("string", "object", ...).
std::string_view type_name(const Json& v);

} // namespace rtfarm::json
