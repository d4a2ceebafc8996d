// Result<T>: the value of an operation that can fail in an expected way (bad
// input, peer gone, invalid setting), shaped like C++23 std::expected.
// Broken invariants are not Results: they are asserts (see RTFARM_ASSERT).
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace rtfarm {

// A machine-readable code ("bad_request", "config", "io", ...) and a message a
// person can act on: what, where, why.
struct Error {
    std::string code;
    std::string message;

    bool operator==(const Error&) const = default;
};

inline Error make_error(std::string code, std::string message) {
    return Error{std::move(code), std::move(message)};
}

template <typename T> class [[nodiscard]] Result {
public:
    Result(T value)
        : m_v(std::in_place_index<0>, std::move(value)) {}
    Result(Error error)
        : m_v(std::in_place_index<1>, std::move(error)) {}

    bool ok() const { return m_v.index() == 0; }
    explicit operator bool() const { return ok(); }

    T& value() & { return std::get<0>(m_v); }
    const T& value() const& { return std::get<0>(m_v); }
    T&& value() && { return std::get<0>(std::move(m_v)); }
    const Error& error() const { return std::get<1>(m_v); }

    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }

private:
    std::variant<T, Error> m_v;
};

template <> class [[nodiscard]] Result<void> {
public:
    Result() = default;
    Result(Error error)
        : m_error(std::move(error))
        , m_ok(false) {}

    bool ok() const { return m_ok; }
    explicit operator bool() const { return m_ok; }
    const Error& error() const { return m_error; }

private:
    Error m_error;
    bool m_ok = true;
};

using Status = Result<void>;

} // namespace rtfarm
