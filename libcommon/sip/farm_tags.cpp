#include "sip/farm_tags.hpp"

#include "base/hash.hpp"
#include "base/strings.hpp"

namespace rtfarm::sip {

std::string farm_branch(std::string_view member, uint64_t h, bool from_processor) {
    static const char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(FARM_BRANCH_PREFIX.size() + member.size() + 19);
    out += FARM_BRANCH_PREFIX;
    out += member;
    out += '.';
    if (from_processor)
        out += "p.";
    for (int shift = 60; shift >= 0; shift -= 4)
        out += digits[(h >> shift) & 15];
    return out;
}

std::optional<FarmBranch> parse_farm_branch(std::string_view branch) {
    if (branch.size() <= FARM_BRANCH_PREFIX.size() ||
        branch.substr(0, FARM_BRANCH_PREFIX.size()) != FARM_BRANCH_PREFIX)
        return std::nullopt;
    std::string_view rest = branch.substr(FARM_BRANCH_PREFIX.size());
    auto dot = rest.find('.');
    if (dot == std::string_view::npos)
        return std::nullopt;
    FarmBranch b{rest.substr(0, dot), false, 0};
    std::string_view hash = rest.substr(dot + 1);
    if (hash.size() == 18 && hash.substr(0, 2) == "p.") {
        b.from_processor = true;
        hash.remove_prefix(2);
    }
    if (hash.size() != 16 || !valid_member_id(b.member))
        return std::nullopt;
    for (char c : hash) {
        if (c >= '0' && c <= '9')
            b.hash = (b.hash << 4) | static_cast<uint64_t>(c - '0');
        else if (c >= 'a' && c <= 'f')
            b.hash = (b.hash << 4) | static_cast<uint64_t>(c - 'a' + 10);
        else
            return std::nullopt;
    }
    return b;
}

crypto::SipKey branch_key(std::string_view secret) {
    return crypto::derive_sip_key("rtfarm processor branch key", secret);
}

uint64_t processor_branch_hash(const crypto::SipKey& key, std::string_view processor_branch,
                               std::string_view call_id, std::string_view from_tag, uint32_t cseq) {
    // Lengths first, so no two inputs run together into the same bytes.
    auto field = [](std::string& out, std::string_view v) {
        out += std::to_string(v.size());
        out += ':';
        out += v;
    };
    std::string in;
    if (processor_branch.size() > MAGIC_COOKIE.size() &&
        processor_branch.substr(0, MAGIC_COOKIE.size()) == MAGIC_COOKIE) {
        field(in, processor_branch);
        field(in, call_id);
    } else {
        field(in, call_id);
        field(in, from_tag);
        field(in, std::to_string(cseq));
    }
    return crypto::siphash24(key, in);
}

std::optional<std::string_view> branch_member(std::string_view branch) {
    auto b = parse_farm_branch(branch);
    if (!b)
        return std::nullopt;
    return b->member;
}

uint64_t transaction_hash(std::string_view incoming_branch, std::string_view call_id,
                          std::string_view from_tag, uint32_t cseq, std::string_view request_uri) {
    uint64_t h;
    if (incoming_branch.size() > MAGIC_COOKIE.size() &&
        incoming_branch.substr(0, MAGIC_COOKIE.size()) == MAGIC_COOKIE) {
        h = stable_hash(incoming_branch, 1);
    } else {
        // An RFC 2543 client: the transaction is Call-ID, From tag and CSeq.
        h = stable_hash(call_id, 2);
        h = stable_hash(from_tag, h);
        h = stable_hash(std::to_string(cseq), h);
    }
    return stable_hash(request_uri, h);
}

std::string farm_route_uri(std::string_view host, uint16_t port, std::string_view member,
                           const ConnRef* conn, std::string_view transport) {
    // Facing TLS: a SIPS URI (RFC 3261 16.6 step 4 wants one in a dialog
    // whose Request-URI or Route is SIPS; "transport=tls" is deprecated,
    // RFC 5630 3.1.3), which names no transport.
    bool sips = transport == "tls";
    std::string out = sips ? "<sips:" : "<sip:";
    out += host;
    if (port != 0) {
        out += ':';
        out += std::to_string(port);
    }
    out += ";lr;";
    out += FARM_MEMBER_PARAM;
    out += '=';
    out += member;
    if (conn) {
        out += ';';
        out += FARM_CONN_URI_PARAM;
        out += '=';
        out += conn_token(*conn);
    }
    if (!transport.empty() && !sips) {
        out += ";transport=";
        out += transport;
    }
    out += '>';
    return out;
}

namespace {

// The value of parameter `name` among the ';' parameters of `params`.
std::optional<std::string_view> param_value(std::string_view params, std::string_view name) {
    size_t pos = 0;
    while ((pos = params.find(';', pos)) != std::string_view::npos) {
        ++pos;
        size_t end = params.find(';', pos);
        std::string_view param =
            params.substr(pos, end == std::string_view::npos ? end : end - pos);
        auto eq = param.find('=');
        if (eq != std::string_view::npos && equals_icase(trim(param.substr(0, eq)), name))
            return trim(param.substr(eq + 1));
    }
    return std::nullopt;
}

// A URI's own parameter (display name, angle brackets and headers cut off).
std::optional<std::string_view> farm_uri_param(std::string_view uri, std::string_view name) {
    if (auto lt = uri.find('<'); lt != std::string_view::npos) {
        auto gt = uri.find('>', lt);
        uri =
            uri.substr(lt + 1, gt == std::string_view::npos ? std::string_view::npos : gt - lt - 1);
    }
    if (!starts_with_icase(uri, "sip:") && !starts_with_icase(uri, "sips:"))
        return std::nullopt;
    // URI parameters end where headers ('?') begin.
    return param_value(uri.substr(0, uri.find('?')), name);
}

} // namespace

std::optional<std::string_view> uri_farm_member(std::string_view uri) {
    auto value = farm_uri_param(uri, FARM_MEMBER_PARAM);
    if (value && valid_member_id(*value))
        return value;
    return std::nullopt;
}

std::string conn_token(const ConnRef& c) {
    return c.holder + "." + std::to_string(c.id);
}

std::optional<ConnRef> parse_conn_token(std::string_view token) {
    auto dot = token.rfind('.');
    if (dot == std::string_view::npos)
        return std::nullopt;
    std::string_view member = token.substr(0, dot), digits = token.substr(dot + 1);
    if (!valid_member_id(member) || digits.empty() || digits.size() > 20)
        return std::nullopt;
    uint64_t id = 0;
    for (char c : digits) {
        if (c < '0' || c > '9')
            return std::nullopt;
        uint64_t d = static_cast<uint64_t>(c - '0');
        if (id > (UINT64_MAX - d) / 10)
            return std::nullopt;
        id = id * 10 + d;
    }
    if (id == 0)
        return std::nullopt;
    return ConnRef{std::string(member), id};
}

std::optional<ConnRef> via_conn(std::string_view via_value) {
    auto value = param_value(via_value, FARM_CONN_VIA_PARAM);
    return value ? parse_conn_token(*value) : std::nullopt;
}

std::optional<ConnRef> uri_conn(std::string_view uri) {
    auto value = farm_uri_param(uri, FARM_CONN_URI_PARAM);
    return value ? parse_conn_token(*value) : std::nullopt;
}

bool valid_member_id(std::string_view id) {
    if (id.empty() || id.size() > 32)
        return false;
    for (char c : id)
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return false;
    return true;
}

} // namespace rtfarm::sip
