#include "sip/stream.hpp"

#include "base/strings.hpp"

namespace rtfarm::sip {

namespace {

// The Content-Length (or its compact form "l") of a header block, as the
// first occurrence says; nullopt when absent, -1 when not a number.
std::optional<long long> content_length(std::string_view block) {
    size_t pos = block.find('\n'); // past the start line
    while (pos != std::string_view::npos && pos + 1 < block.size()) {
        size_t start = pos + 1;
        size_t end = block.find('\n', start);
        std::string_view line = block.substr(
            start, end == std::string_view::npos ? std::string_view::npos : end - start);
        pos = end;
        size_t colon = line.find(':');
        if (colon == std::string_view::npos || line.empty() || line[0] == ' ' || line[0] == '\t')
            continue;
        std::string_view name = trim(line.substr(0, colon));
        if (!equals_icase(name, "Content-Length") && !equals_icase(name, "l"))
            continue;
        auto n = parse_u64(trim(line.substr(colon + 1)));
        if (!n || *n > (1u << 30))
            return -1;
        return static_cast<long long>(*n);
    }
    return std::nullopt;
}

} // namespace

void StreamFramer::append(std::string_view data) {
    if (m_error)
        return;
    if (m_pos > 0 && m_pos == m_buf.size()) {
        m_buf.clear();
        m_pos = 0;
    } else if (m_pos > 4096 && m_pos * 2 > m_buf.size()) {
        m_buf.erase(0, m_pos);
        m_pos = 0;
    }
    m_buf.append(data);
}

Error StreamFramer::fail(std::string message) {
    m_error = make_error("framing", std::move(message));
    return *m_error;
}

Result<std::optional<StreamFramer::Item>> StreamFramer::next() {
    if (m_error)
        return *m_error;
    std::string_view rest = std::string_view(m_buf).substr(m_pos);
    // Keep-alives, and CRLFs before a start line.
    while (!rest.empty() && (rest[0] == '\r' || rest[0] == '\n')) {
        if (rest.starts_with("\r\n\r\n")) {
            m_pos += 4;
            return std::optional<Item>(Item{Kind::ping, {}});
        }
        if (rest == "\r\n" || rest == "\r\n\r" || rest == "\r")
            return std::optional<Item>(); // a ping may be on its way
        size_t skip = rest.starts_with("\r\n") ? 2 : 1;
        m_pos += skip;
        rest.remove_prefix(skip);
    }
    if (rest.empty())
        return std::optional<Item>();
    size_t end = rest.find("\r\n\r\n");
    size_t head = end == std::string_view::npos ? 0 : end + 4;
    if (end == std::string_view::npos) {
        if (rest.size() > m_limits.max_header_block)
            return fail("no end of the header block in " + std::to_string(rest.size()) +
                        " bytes (limit " + std::to_string(m_limits.max_header_block) + ")");
        return std::optional<Item>();
    }
    if (head > m_limits.max_header_block)
        return fail("header block of " + std::to_string(head) + " bytes (limit " +
                    std::to_string(m_limits.max_header_block) + ")");
    auto length = content_length(rest.substr(0, head));
    if (!length)
        return fail("a message without Content-Length (required on a stream, RFC 3261 18.3)");
    if (*length < 0)
        return fail("Content-Length is not a number");
    if (static_cast<size_t>(*length) > m_limits.max_body)
        return fail("a body of " + std::to_string(*length) + " bytes (limit " +
                    std::to_string(m_limits.max_body) + ")");
    size_t total = head + static_cast<size_t>(*length);
    if (rest.size() < total)
        return std::optional<Item>();
    m_pos += total;
    return std::optional<Item>(Item{Kind::message, rest.substr(0, total)});
}

StreamCaps stream_caps(uint64_t nofile, size_t want_accepted, size_t want_outgoing, size_t margin) {
    const uint64_t want = uint64_t{want_accepted} + want_outgoing;
    const uint64_t room = nofile > margin ? nofile - margin : 0;
    if (room >= want)
        return {want_accepted, want_outgoing};
    if (want == 0)
        return {};
    StreamCaps c;
    c.accepted = static_cast<size_t>(room * want_accepted / want);
    c.outgoing = static_cast<size_t>(room - c.accepted);
    return c;
}

} // namespace rtfarm::sip
