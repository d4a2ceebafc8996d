#include "media/control_messages.hpp"

#include "base/cidr.hpp"
#include "base/sockaddr.hpp"
#include "media/sdp.hpp"
#include "json/error_code.hpp"

#include <limits>

namespace rtfarm::media {

namespace {

constexpr const char* BAD_REPLY = "bad_reply";
// Names in the answers that no limit of their own bounds: a member id
// (rtfarm.conf(5) allows 32 characters), a media type.
constexpr size_t MAX_NAME = 64;
// A sentence the relay wrote (why its fast path is not running).
constexpr size_t MAX_REASON = 512;
// The relay's SDP: the offer or answer it was given (at most MAX_SDP_BYTES)
// with its own addresses and ports written in.
constexpr size_t MAX_REPLY_SDP = 2 * MAX_SDP_BYTES;

// The keys.
constexpr const char* CALL_ID = "call_id";
constexpr const char* FROM_TAG = "from_tag";
constexpr const char* TO_TAG = "to_tag";
constexpr const char* SDP = "sdp";
constexpr const char* SOURCE = "source";
constexpr const char* AS = "as";
constexpr const char* ANSWERED = "answered";
constexpr const char* IF_UNANSWERED = "if_unanswered";
constexpr const char* MEMBER = "member";
constexpr const char* ADDRESS = "address";
constexpr const char* TO = "to";
constexpr const char* CREATED = "created";
constexpr const char* UNCHANGED = "unchanged";
constexpr const char* PORTS = "ports";
constexpr const char* INDEX = "index";
constexpr const char* RTP = "rtp";
constexpr const char* RTCP = "rtcp";
constexpr const char* DELETED = "deleted";
constexpr const char* CALLER_TAG = "caller_tag";
constexpr const char* CALLEE_TAG = "callee_tag";
constexpr const char* AGE_MS = "age_ms";
constexpr const char* SIGNAL_AGE_MS = "signal_age_ms";
constexpr const char* STREAMS = "streams";
constexpr const char* MEDIA = "media";
constexpr const char* LOCAL_PORT = "local_port";
constexpr const char* RTCP_PORT = "rtcp_port";
constexpr const char* RTCP_MUX = "rtcp_mux";
constexpr const char* ADVERTISED = "advertised";
constexpr const char* STRICT = "strict";
constexpr const char* EXPECTED = "expected";
constexpr const char* LEARNED = "learned";
constexpr const char* LEARNED_RTCP = "learned_rtcp";
constexpr const char* SENDS_TO = "sends_to";
constexpr const char* PACKETS = "packets";
constexpr const char* BYTES = "bytes";
constexpr const char* RTCP_PACKETS = "rtcp_packets";
constexpr const char* SEND_FAILED = "send_failed";
constexpr const char* DROPPED = "dropped";
constexpr const char* LAST_PACKET_AGE_MS = "last_packet_age_ms";
constexpr const char* COUNT = "count";
constexpr const char* SESSIONS = "sessions";
constexpr const char* MEDIA_PORTS = "media_ports";
constexpr const char* DRAINING = "draining";
constexpr const char* ADVERTISED_IP = "advertised_ip";
constexpr const char* BIND = "bind";
constexpr const char* TIMEOUT_S = "timeout_s";
constexpr const char* UNLATCHED_TIMEOUT_S = "unlatched_timeout_s";
constexpr const char* MAX_STREAMS = "max_streams";
constexpr const char* MAX_SESSIONS = "max_sessions";
constexpr const char* MAX_SESSIONS_PER_SOURCE = "max_sessions_per_source";
constexpr const char* SOURCES = "sources";
constexpr const char* SOURCE_REFUSED = "source_refused";
constexpr const char* MEDIA_ALLOW = "media_allow";
constexpr const char* SOCKETS = "sockets";
constexpr const char* CAPACITY = "capacity";
constexpr const char* IN_USE = "in_use";
constexpr const char* FREE = "free";
constexpr const char* FREE_PAIRS = "free_pairs";
constexpr const char* HIGH_WATER = "high_water";
constexpr const char* EXHAUSTED = "exhausted";
constexpr const char* RECEIVE_ERRORS = "receive_errors";
constexpr const char* LATCHED = "latched";
constexpr const char* OFFERS = "offers";
constexpr const char* ANSWERS = "answers";
constexpr const char* EXPIRED = "expired";
constexpr const char* UNLATCHED = "unlatched";
constexpr const char* RELATCHED = "relatched";
constexpr const char* BIND_RETRIES = "bind_retries";
constexpr const char* FAILED = "failed";
constexpr const char* FD_LIMIT = "fd_limit";
constexpr const char* FAST_PATH = "fast_path";
constexpr const char* MODE = "mode";
constexpr const char* PATH = "path";
constexpr const char* REASON = "reason";
constexpr const char* INTERFACES = "interfaces";
constexpr const char* NAME = "name";
constexpr const char* XDP = "xdp";
constexpr const char* ENTRIES = "entries";
constexpr const char* KERNEL_ENTRIES = "kernel_entries";
constexpr const char* NO_ROUTE = "no_route";
constexpr const char* NOT_MEDIA = "not_media";
constexpr const char* REFUSED = "refused";
// Entries of a list in the stats (media_allow, failed) at most.
constexpr size_t MAX_STATS_ENTRIES = 1024;

constexpr std::array<sip::SdpRole, 3> ROLES = {sip::SdpRole::offer, sip::SdpRole::answer,
                                               sip::SdpRole::automatic};
constexpr std::array<Party, 2> PARTIES = {Party::caller, Party::callee};

// Reads the fields of one object, each error naming the field by its path
// ("streams[0].caller.learned") under the reader's code.
class Reader {
public:
    Reader(const json::Json& object, const char* code, std::string path = "")
        : m_obj(object)
        , m_code(code)
        , m_path(std::move(path)) {}

    Status object() const {
        if (m_obj.is_object())
            return {};
        if (!m_obj && !m_path.empty())
            return make_error(m_code, "\"" + m_path + "\" is missing");
        return make_error(m_code,
                          (m_path.empty() ? std::string("the message") : "\"" + m_path + "\"") +
                              " must be an object, not " + std::string(json::type_name(m_obj)));
    }

    std::string name(const char* key) const {
        return "\"" + (m_path.empty() ? std::string() : m_path + ".") + key + "\"";
    }
    std::string path(const char* key) const {
        return m_path.empty() ? std::string(key) : m_path + "." + key;
    }
    json::Json get(const char* key) const { return m_obj[key]; }
    Error fail(const std::string& message) const { return make_error(m_code, message); }

    // A string of at most `max` bytes; "" when absent and not required.
    Result<std::string> text(const char* key, bool required, size_t max) const {
        auto v = m_obj[key];
        if (!v) {
            if (required)
                return fail(name(key) + " is missing");
            return std::string();
        }
        auto s = v.as_string();
        if (!s)
            return fail(name(key) + " must be a string");
        if (s->size() > max)
            return fail(name(key) + " must be at most " + std::to_string(max) + " bytes");
        return *s;
    }

    // A non-empty string of at most `max` bytes.
    Result<std::string> name_text(const char* key, size_t max) const {
        auto s = text(key, true, max);
        if (s && s->empty())
            return fail(name(key) + " must not be empty");
        return s;
    }

    Result<bool> flag(const char* key, std::optional<bool> fallback) const {
        auto v = m_obj[key];
        if (!v) {
            if (fallback)
                return *fallback;
            return fail(name(key) + " is missing");
        }
        auto b = v.as_bool();
        if (!b)
            return fail(name(key) + " must be true or false");
        return *b;
    }

    Result<long long> number(const char* key, long long lo, long long hi) const {
        auto v = m_obj[key];
        if (!v)
            return fail(name(key) + " is missing");
        auto n = v.as_integer();
        if (!n || *n < lo || *n > hi)
            return fail(name(key) + " must be an integer from " + std::to_string(lo) + " to " +
                        std::to_string(hi));
        return *n;
    }

    Result<long long> count(const char* key) const {
        return number(key, 0, std::numeric_limits<long long>::max());
    }

    // A count, or null.
    Result<std::optional<long long>> count_or_null(const char* key) const {
        auto v = m_obj[key];
        if (v && json_is_null(v.get()))
            return std::optional<long long>();
        auto n = count(key);
        if (!n)
            return n.error();
        return std::optional<long long>(*n);
    }

    // An IP address and port ("192.0.2.1:4000", "[2001:db8::1]:4000"), or
    // null ("" then).
    Result<std::string> address_or_null(const char* key) const {
        auto v = m_obj[key];
        if (v && json_is_null(v.get()))
            return std::string();
        auto s = text(key, true, MAX_NAME);
        if (!s)
            return s;
        if (!SockAddr::parse(*s))
            return fail(name(key) + " must be an IP address and port, not '" + *s + "'");
        return s;
    }

    Result<json::Json> array(const char* key) const {
        auto v = m_obj[key];
        if (!v)
            return fail(name(key) + " is missing");
        if (!v.is_array())
            return fail(name(key) + " must be an array");
        return v;
    }

private:
    const json::Json& m_obj;
    const char* m_code;
    std::string m_path;
};

json::Json null_or(const std::string& s) {
    return s.empty() ? json::Json::null() : json::Json::string(s);
}

json::Json null_or(const std::optional<long long>& n) {
    return n ? json::Json::integer(*n) : json::Json::null();
}

std::string item(const char* key, size_t i) {
    return std::string(key) + "[" + std::to_string(i) + "]";
}

#define RTFARM_TRY(var, expr)                                                                      \
    auto var = (expr);                                                                             \
    if (!var)                                                                                      \
        return var.error();

json::Json dropped_json(const std::array<long long, DROP_SLOTS>& dropped) {
    json::Json out = json::Json::object();
    for (Drop d : DROP_REASONS)
        out.set(std::string(drop_name(d)).c_str(), dropped[static_cast<size_t>(d)]);
    return out;
}

Status read_dropped(const json::Json& v, const std::string& path,
                    std::array<long long, DROP_SLOTS>& dropped) {
    Reader d(v, BAD_REPLY, path);
    if (auto st = d.object(); !st)
        return st.error();
    for (Drop reason : DROP_REASONS) {
        const std::string key(drop_name(reason));
        auto n = d.count(key.c_str());
        if (!n)
            return n.error();
        dropped[static_cast<size_t>(reason)] = *n;
    }
    return {};
}

json::Json side_json(const SideReply& s) {
    json::Json dropped = dropped_json(s.dropped);
    return json::Json::object()
        .set(LOCAL_PORT, static_cast<long long>(s.local_port))
        .set(RTCP_PORT, static_cast<long long>(s.rtcp_port))
        .set(RTCP_MUX, s.rtcp_mux)
        .set(ADVERTISED, s.advertised)
        .set(STRICT, s.strict)
        .set(EXPECTED, null_or(s.expected))
        .set(LEARNED, null_or(s.learned))
        .set(LEARNED_RTCP, null_or(s.learned_rtcp))
        .set(SENDS_TO, null_or(s.sends_to))
        .set(PACKETS, s.packets)
        .set(BYTES, s.bytes)
        .set(RTCP_PACKETS, s.rtcp_packets)
        .set(SEND_FAILED, s.send_failed)
        .set(DROPPED, std::move(dropped))
        .set(LAST_PACKET_AGE_MS, null_or(s.last_packet_age_ms));
}

Result<SideReply> parse_side(const json::Json& v, const std::string& path) {
    Reader r(v, BAD_REPLY, path);
    if (auto st = r.object(); !st)
        return st.error();
    SideReply s;
    RTFARM_TRY(local_port, r.number(LOCAL_PORT, 0, 65535));
    RTFARM_TRY(rtcp_port, r.number(RTCP_PORT, 0, 65535));
    RTFARM_TRY(rtcp_mux, r.flag(RTCP_MUX, std::nullopt));
    RTFARM_TRY(advertised, r.address_or_null(ADVERTISED));
    if (advertised->empty())
        return r.fail(r.name(ADVERTISED) + " must be an IP address and port, not null");
    RTFARM_TRY(strict, r.flag(STRICT, std::nullopt));
    RTFARM_TRY(expected, r.address_or_null(EXPECTED));
    RTFARM_TRY(learned, r.address_or_null(LEARNED));
    RTFARM_TRY(learned_rtcp, r.address_or_null(LEARNED_RTCP));
    RTFARM_TRY(sends_to, r.address_or_null(SENDS_TO));
    RTFARM_TRY(packets, r.count(PACKETS));
    RTFARM_TRY(bytes, r.count(BYTES));
    RTFARM_TRY(rtcp_packets, r.count(RTCP_PACKETS));
    RTFARM_TRY(send_failed, r.count(SEND_FAILED));
    RTFARM_TRY(age, r.count_or_null(LAST_PACKET_AGE_MS));
    if (auto st = read_dropped(v[DROPPED], r.path(DROPPED), s.dropped); !st)
        return st.error();
    s.local_port = static_cast<uint16_t>(*local_port);
    s.rtcp_port = static_cast<uint16_t>(*rtcp_port);
    s.rtcp_mux = *rtcp_mux;
    s.advertised = std::move(*advertised);
    s.strict = *strict;
    s.expected = std::move(*expected);
    s.learned = std::move(*learned);
    s.learned_rtcp = std::move(*learned_rtcp);
    s.sends_to = std::move(*sends_to);
    s.packets = *packets;
    s.bytes = *bytes;
    s.rtcp_packets = *rtcp_packets;
    s.send_failed = *send_failed;
    s.last_packet_age_ms = *age;
    return s;
}

} // namespace

std::string_view op_name(SdpOp op) {
    switch (op) {
    case SdpOp::offer:
        return "offer";
    case SdpOp::answer:
        return "answer";
    case SdpOp::sdp:
        return "sdp";
    }
    return "sdp";
}

std::string_view party_name(Party p) {
    return p == Party::caller ? "caller" : "callee";
}

// --- offer, answer, sdp

json::Json SdpRequest::to_json() const {
    json::Json j = json::Json::object()
                       .set(CALL_ID, call_id)
                       .set(FROM_TAG, from_tag)
                       .set(TO_TAG, to_tag)
                       .set(SDP, sdp);
    if (as)
        j.set(AS, sip::to_string(*as));
    if (answered)
        j.set(ANSWERED, *answered);
    if (!source.empty())
        j.set(SOURCE, source);
    return j;
}

namespace {

Result<SdpRequest> read_sdp_request(const json::Json& body, SdpOp op) {
    Reader r(body, json::error_code::BAD_REQUEST);
    if (auto st = r.object(); !st)
        return st.error();
    SdpRequest q;
    RTFARM_TRY(call_id, r.text(CALL_ID, true, sip::MAX_CALL_ID));
    RTFARM_TRY(from_tag, r.text(FROM_TAG, true, sip::MAX_TAG));
    // An answer names its answerer; the other ops may not know it yet.
    RTFARM_TRY(to_tag, r.text(TO_TAG, op == SdpOp::answer, sip::MAX_TAG));
    // Longer than MAX_SDP_BYTES is the relay's bad_sdp (rtfarm-control(7)).
    RTFARM_TRY(sdp, r.text(SDP, true, std::numeric_limits<size_t>::max()));
    RTFARM_TRY(source, r.text(SOURCE, false, MAX_NAME));
    if (!source->empty()) {
        auto host = SockAddr::parse_host(*source, 0);
        if (!host)
            return r.fail("\"source\" must be an IP address, not '" + *source + "'");
        *source = host->unmapped().host();
    }
    if (op == SdpOp::sdp) {
        RTFARM_TRY(how, r.text(AS, false, MAX_NAME));
        q.as = sip::SdpRole::automatic;
        if (!how->empty()) {
            q.as.reset();
            for (sip::SdpRole role : ROLES)
                if (sip::to_string(role) == *how)
                    q.as = role;
            if (!q.as)
                return r.fail("\"as\" must be offer, answer or auto, not '" + *how + "'");
        }
        if (r.get(ANSWERED)) {
            RTFARM_TRY(answered, r.flag(ANSWERED, std::nullopt));
            q.answered = *answered;
        }
    }
    q.call_id = std::move(*call_id);
    q.from_tag = std::move(*from_tag);
    q.to_tag = std::move(*to_tag);
    q.sdp = std::move(*sdp);
    q.source = std::move(*source);
    return q;
}

} // namespace

Result<SdpRequest> SdpRequest::parse(const json::Json& body, SdpOp op) {
    return read_sdp_request(body, op);
}

json::Json SdpReply::to_json() const {
    json::Json list = json::Json::array();
    for (const auto& p : ports)
        list.append(json::Json::object()
                        .set(INDEX, p.index)
                        .set(RTP, static_cast<long long>(p.rtp))
                        .set(RTCP, static_cast<long long>(p.rtcp)));
    return json::Json::object()
        .set(SDP, sdp)
        .set(MEMBER, member)
        .set(ADDRESS, address)
        .set(TO, party_name(to))
        .set(CREATED, created)
        .set(AS, sip::to_string(answer ? sip::SdpRole::answer : sip::SdpRole::offer))
        .set(UNCHANGED, unchanged)
        .set(PORTS, std::move(list));
}

namespace {

Result<SdpReply> read_sdp_reply(const json::Json& reply) {
    Reader r(reply, BAD_REPLY);
    if (auto st = r.object(); !st)
        return st.error();
    SdpReply a;
    RTFARM_TRY(sdp, r.text(SDP, true, MAX_REPLY_SDP));
    RTFARM_TRY(member, r.name_text(MEMBER, MAX_NAME));
    RTFARM_TRY(address, r.text(ADDRESS, true, MAX_NAME));
    if (!SockAddr::parse_host(*address))
        return r.fail("\"address\" must be an IP address, not '" + *address + "'");
    RTFARM_TRY(to, r.text(TO, true, MAX_NAME));
    bool known = false;
    for (Party p : PARTIES)
        if (party_name(p) == *to) {
            a.to = p;
            known = true;
        }
    if (!known)
        return r.fail("\"to\" must be caller or callee, not '" + *to + "'");
    RTFARM_TRY(as, r.text(AS, true, MAX_NAME));
    if (*as == sip::to_string(sip::SdpRole::answer))
        a.answer = true;
    else if (*as != sip::to_string(sip::SdpRole::offer))
        return r.fail("\"as\" must be offer or answer, not '" + *as + "'");
    RTFARM_TRY(created, r.flag(CREATED, std::nullopt));
    RTFARM_TRY(unchanged, r.flag(UNCHANGED, std::nullopt));
    RTFARM_TRY(ports, r.array(PORTS));
    if (ports->size() > MAX_SDP_MEDIA)
        return r.fail("\"ports\" must have at most " + std::to_string(MAX_SDP_MEDIA) + " streams");
    for (size_t i = 0; i < ports->size(); ++i) {
        auto p = ports->at(i);
        Reader pr(p, BAD_REPLY, item(PORTS, i));
        if (auto st = pr.object(); !st)
            return st.error();
        RTFARM_TRY(index, pr.number(INDEX, 0, static_cast<long long>(MAX_SDP_MEDIA) - 1));
        RTFARM_TRY(rtp, pr.number(RTP, 0, 65535));
        RTFARM_TRY(rtcp, pr.number(RTCP, 0, 65535));
        a.ports.push_back(
            StreamPortsReply{*index, static_cast<uint16_t>(*rtp), static_cast<uint16_t>(*rtcp)});
    }
    a.sdp = std::move(*sdp);
    a.member = std::move(*member);
    a.address = std::move(*address);
    a.created = *created;
    a.unchanged = *unchanged;
    return a;
}

} // namespace

Result<SdpReply> SdpReply::parse(const json::Json& reply) {
    return read_sdp_reply(reply);
}

Result<std::string> SdpReply::endpoint() const {
    if (ports.empty() || ports[0].rtp == 0)
        return make_error(BAD_REPLY, "rtprelayd's reply has no address and RTP port");
    auto a = SockAddr::parse_host(address, ports[0].rtp);
    if (!a)
        return make_error(BAD_REPLY, "rtprelayd's reply names the address '" + address +
                                         "', not an IP address");
    return a->str();
}

// --- delete

json::Json DeleteRequest::to_json() const {
    json::Json j = json::Json::object().set(CALL_ID, call_id);
    if (if_unanswered)
        j.set(IF_UNANSWERED, true);
    return j;
}

namespace {

Result<DeleteRequest> read_delete_request(const json::Json& body) {
    Reader r(body, json::error_code::BAD_REQUEST);
    if (auto st = r.object(); !st)
        return st.error();
    RTFARM_TRY(call_id, r.text(CALL_ID, true, sip::MAX_CALL_ID));
    RTFARM_TRY(if_unanswered, r.flag(IF_UNANSWERED, false));
    return DeleteRequest{std::move(*call_id), *if_unanswered};
}

} // namespace

Result<DeleteRequest> DeleteRequest::parse(const json::Json& body) {
    return read_delete_request(body);
}

json::Json DeleteReply::to_json() const {
    return json::Json::object().set(CALL_ID, call_id).set(DELETED, deleted);
}

namespace {

Result<DeleteReply> read_delete_reply(const json::Json& reply) {
    Reader r(reply, BAD_REPLY);
    if (auto st = r.object(); !st)
        return st.error();
    RTFARM_TRY(call_id, r.text(CALL_ID, true, sip::MAX_CALL_ID));
    RTFARM_TRY(deleted, r.flag(DELETED, std::nullopt));
    return DeleteReply{std::move(*call_id), *deleted};
}

} // namespace

Result<DeleteReply> DeleteReply::parse(const json::Json& reply) {
    return read_delete_reply(reply);
}

// --- query

json::Json QueryRequest::to_json() const {
    return json::Json::object().set(CALL_ID, call_id);
}

namespace {

Result<QueryRequest> read_query_request(const json::Json& body) {
    Reader r(body, json::error_code::BAD_REQUEST);
    if (auto st = r.object(); !st)
        return st.error();
    RTFARM_TRY(call_id, r.text(CALL_ID, true, sip::MAX_CALL_ID));
    return QueryRequest{std::move(*call_id)};
}

} // namespace

Result<QueryRequest> QueryRequest::parse(const json::Json& body) {
    return read_query_request(body);
}

json::Json QueryReply::to_json() const {
    json::Json list = json::Json::array();
    for (const auto& s : streams)
        list.append(json::Json::object()
                        .set(INDEX, s.index)
                        .set(MEDIA, s.media)
                        .set(party_name(Party::caller).data(), side_json(s.caller))
                        .set(party_name(Party::callee).data(), side_json(s.callee)));
    return json::Json::object()
        .set(CALL_ID, call_id)
        .set(MEMBER, member)
        .set(CALLER_TAG, caller_tag)
        .set(CALLEE_TAG, callee_tag)
        .set(ANSWERED, answered)
        .set(AGE_MS, age_ms)
        .set(SIGNAL_AGE_MS, signal_age_ms)
        .set(STREAMS, std::move(list));
}

namespace {

Result<QueryReply> read_query_reply(const json::Json& reply) {
    Reader r(reply, BAD_REPLY);
    if (auto st = r.object(); !st)
        return st.error();
    QueryReply q;
    RTFARM_TRY(call_id, r.text(CALL_ID, true, sip::MAX_CALL_ID));
    RTFARM_TRY(member, r.name_text(MEMBER, MAX_NAME));
    RTFARM_TRY(caller_tag, r.text(CALLER_TAG, true, sip::MAX_TAG));
    RTFARM_TRY(callee_tag, r.text(CALLEE_TAG, true, sip::MAX_TAG));
    RTFARM_TRY(answered, r.flag(ANSWERED, std::nullopt));
    RTFARM_TRY(age, r.count(AGE_MS));
    RTFARM_TRY(signal_age, r.count(SIGNAL_AGE_MS));
    RTFARM_TRY(streams, r.array(STREAMS));
    if (streams->size() > MAX_SDP_MEDIA)
        return r.fail("\"streams\" must have at most " + std::to_string(MAX_SDP_MEDIA) +
                      " streams");
    for (size_t i = 0; i < streams->size(); ++i) {
        auto v = streams->at(i);
        const std::string path = item(STREAMS, i);
        Reader sr(v, BAD_REPLY, path);
        if (auto st = sr.object(); !st)
            return st.error();
        StreamReply s;
        RTFARM_TRY(index, sr.number(INDEX, 0, static_cast<long long>(MAX_SDP_MEDIA) - 1));
        RTFARM_TRY(media, sr.name_text(MEDIA, MAX_NAME));
        const std::string caller(party_name(Party::caller));
        const std::string callee(party_name(Party::callee));
        RTFARM_TRY(caller_side, parse_side(v[caller.c_str()], sr.path(caller.c_str())));
        RTFARM_TRY(callee_side, parse_side(v[callee.c_str()], sr.path(callee.c_str())));
        s.index = *index;
        s.media = std::move(*media);
        s.caller = std::move(*caller_side);
        s.callee = std::move(*callee_side);
        q.streams.push_back(std::move(s));
    }
    q.call_id = std::move(*call_id);
    q.member = std::move(*member);
    q.caller_tag = std::move(*caller_tag);
    q.callee_tag = std::move(*callee_tag);
    q.answered = *answered;
    q.age_ms = *age;
    q.signal_age_ms = *signal_age;
    return q;
}

} // namespace

Result<QueryReply> QueryReply::parse(const json::Json& reply) {
    return read_query_reply(reply);
}

bool QueryReply::heard() const {
    if (!answered)
        return false;
    for (const auto& s : streams)
        if (!s.caller.learned.empty() || !s.callee.learned.empty())
            return true;
    return false;
}

// --- list

json::Json SessionSummary::to_json() const {
    return json::Json::object()
        .set(CALL_ID, call_id)
        .set(STREAMS, streams)
        .set(ANSWERED, answered)
        .set(AGE_MS, age_ms)
        .set(PACKETS, packets)
        .set(LAST_PACKET_AGE_MS, null_or(last_packet_age_ms));
}

json::Json ListReply::to_json() const {
    json::Json list = json::Json::array();
    for (const auto& s : sessions)
        list.append(s.to_json());
    return json::Json::object()
        .set(MEMBER, member)
        .set(COUNT, count)
        .set(SESSIONS, std::move(list));
}

namespace {

Result<ListReply> read_list_reply(const json::Json& reply) {
    Reader r(reply, BAD_REPLY);
    if (auto st = r.object(); !st)
        return st.error();
    ListReply l;
    RTFARM_TRY(member, r.name_text(MEMBER, MAX_NAME));
    RTFARM_TRY(count, r.count(COUNT));
    RTFARM_TRY(sessions, r.array(SESSIONS));
    for (size_t i = 0; i < sessions->size(); ++i) {
        auto v = sessions->at(i);
        Reader sr(v, BAD_REPLY, item(SESSIONS, i));
        if (auto st = sr.object(); !st)
            return st.error();
        SessionSummary s;
        RTFARM_TRY(call_id, sr.text(CALL_ID, true, sip::MAX_CALL_ID));
        RTFARM_TRY(streams, sr.number(STREAMS, 0, static_cast<long long>(MAX_SDP_MEDIA)));
        RTFARM_TRY(answered, sr.flag(ANSWERED, std::nullopt));
        RTFARM_TRY(age, sr.count(AGE_MS));
        RTFARM_TRY(packets, sr.count(PACKETS));
        RTFARM_TRY(last, sr.count_or_null(LAST_PACKET_AGE_MS));
        s.call_id = std::move(*call_id);
        s.streams = *streams;
        s.answered = *answered;
        s.age_ms = *age;
        s.packets = *packets;
        s.last_packet_age_ms = *last;
        l.sessions.push_back(std::move(s));
    }
    l.member = std::move(*member);
    l.count = *count;
    return l;
}

} // namespace

Result<ListReply> ListReply::parse(const json::Json& reply) {
    return read_list_reply(reply);
}

// --- stats

json::Json RelayStats::to_json() const {
    json::Json out = json::Json::object()
                         .set(MEMBER, member)
                         .set(MEDIA_PORTS, media_ports)
                         .set(DRAINING, draining);
    if (!running)
        return out;
    const Running& r = *running;
    json::Json allow = json::Json::array();
    for (const auto& c : r.media_allow)
        allow.append(json::Json::string(c));
    json::Json failed = json::Json::object();
    for (const auto& [code, n] : r.failed)
        failed.set(code.c_str(), n);
    out.set(ADVERTISED_IP, r.advertised_ip)
        .set(BIND, r.bind)
        .set(STRICT, r.strict)
        .set(TIMEOUT_S, r.timeout_s)
        .set(UNLATCHED_TIMEOUT_S, r.unlatched_timeout_s)
        .set(MAX_STREAMS, r.max_streams)
        .set(MAX_SESSIONS, r.max_sessions)
        .set(MAX_SESSIONS_PER_SOURCE, r.max_sessions_per_source)
        .set(SOURCES, r.sources)
        .set(SOURCE_REFUSED, r.source_refused)
        .set(MEDIA_ALLOW, std::move(allow))
        .set(SESSIONS, r.sessions)
        .set(STREAMS, r.streams)
        .set(SOCKETS, r.sockets)
        .set(PORTS, json::Json::object()
                        .set(CAPACITY, r.ports.capacity)
                        .set(IN_USE, r.ports.in_use)
                        .set(FREE, r.ports.free)
                        .set(FREE_PAIRS, r.ports.free_pairs)
                        .set(HIGH_WATER, r.ports.high_water)
                        .set(EXHAUSTED, r.ports.exhausted))
        .set(PACKETS, r.packets)
        .set(BYTES, r.bytes)
        .set(DROPPED, dropped_json(r.dropped))
        .set(SEND_FAILED, r.send_failed)
        .set(RECEIVE_ERRORS, r.receive_errors)
        .set(LATCHED, r.latched)
        .set(OFFERS, r.offers)
        .set(ANSWERS, r.answers)
        .set(CREATED, r.created)
        .set(DELETED, r.deleted)
        .set(EXPIRED, r.expired)
        .set(UNLATCHED, r.unlatched)
        .set(RELATCHED, r.relatched)
        .set(BIND_RETRIES, r.bind_retries)
        .set(FAILED, std::move(failed));
    if (r.fd_limit)
        out.set(FD_LIMIT, *r.fd_limit);
    if (r.fast_path) {
        const auto& f = *r.fast_path;
        json::Json interfaces = json::Json::array();
        for (const auto& i : f.interfaces)
            interfaces.append(json::Json::object().set(NAME, i.name).set(XDP, i.xdp));
        out.set(FAST_PATH, json::Json::object()
                               .set(MODE, f.mode)
                               .set(PATH, f.path)
                               .set(REASON, f.reason)
                               .set(INTERFACES, std::move(interfaces))
                               .set(ENTRIES, f.entries)
                               .set(KERNEL_ENTRIES, f.kernel_entries)
                               .set(PACKETS, f.packets)
                               .set(BYTES, f.bytes)
                               .set(NO_ROUTE, f.no_route)
                               .set(NOT_MEDIA, f.not_media)
                               .set(REFUSED, f.refused));
    }
    return out;
}

namespace {

Result<RelayStats> read_relay_stats(const json::Json& service) {
    Reader r(service, BAD_REPLY);
    if (auto st = r.object(); !st)
        return st.error();
    RelayStats out;
    RTFARM_TRY(member, r.name_text(MEMBER, MAX_NAME));
    RTFARM_TRY(media_ports, r.name_text(MEDIA_PORTS, MAX_NAME));
    RTFARM_TRY(draining, r.flag(DRAINING, std::nullopt));
    out.member = std::move(*member);
    out.media_ports = std::move(*media_ports);
    out.draining = *draining;
    // Started: the relay's own fields, from its address on.
    if (!r.get(ADVERTISED_IP))
        return out;
    RelayStats::Running run;
    RTFARM_TRY(advertised_ip, r.text(ADVERTISED_IP, true, MAX_NAME));
    if (!SockAddr::parse_host(*advertised_ip))
        return r.fail("\"advertised_ip\" must be an IP address, not '" + *advertised_ip + "'");
    RTFARM_TRY(bind, r.text(BIND, true, MAX_NAME));
    if (!SockAddr::parse_host(*bind))
        return r.fail("\"bind\" must be an IP address, not '" + *bind + "'");
    RTFARM_TRY(strict, r.flag(STRICT, std::nullopt));
    run.advertised_ip = std::move(*advertised_ip);
    run.bind = std::move(*bind);
    run.strict = *strict;
    const std::pair<const char*, long long*> counts[] = {
        {TIMEOUT_S, &run.timeout_s},
        {UNLATCHED_TIMEOUT_S, &run.unlatched_timeout_s},
        {MAX_STREAMS, &run.max_streams},
        {MAX_SESSIONS, &run.max_sessions},
        {MAX_SESSIONS_PER_SOURCE, &run.max_sessions_per_source},
        {SOURCES, &run.sources},
        {SOURCE_REFUSED, &run.source_refused},
        {SESSIONS, &run.sessions},
        {STREAMS, &run.streams},
        {SOCKETS, &run.sockets},
        {PACKETS, &run.packets},
        {BYTES, &run.bytes},
        {SEND_FAILED, &run.send_failed},
        {RECEIVE_ERRORS, &run.receive_errors},
        {LATCHED, &run.latched},
        {OFFERS, &run.offers},
        {ANSWERS, &run.answers},
        {CREATED, &run.created},
        {DELETED, &run.deleted},
        {EXPIRED, &run.expired},
        {UNLATCHED, &run.unlatched},
        {RELATCHED, &run.relatched},
        {BIND_RETRIES, &run.bind_retries},
    };
    for (const auto& [key, field] : counts) {
        RTFARM_TRY(n, r.count(key));
        *field = *n;
    }
    RTFARM_TRY(allow, r.array(MEDIA_ALLOW));
    if (allow->size() > MAX_STATS_ENTRIES)
        return r.fail("\"media_allow\" must have at most " + std::to_string(MAX_STATS_ENTRIES) +
                      " prefixes");
    for (size_t i = 0; i < allow->size(); ++i) {
        auto c = allow->at(i).as_string();
        if (!c || !Cidr::parse(*c))
            return r.fail("\"" + item(MEDIA_ALLOW, i) + "\" must be a CIDR prefix");
        run.media_allow.push_back(std::move(*c));
    }
    auto ports = service[PORTS];
    Reader pr(ports, BAD_REPLY, PORTS);
    if (auto st = pr.object(); !st)
        return st.error();
    const std::pair<const char*, long long*> port_counts[] = {
        {CAPACITY, &run.ports.capacity},
        {IN_USE, &run.ports.in_use},
        {FREE, &run.ports.free},
        {FREE_PAIRS, &run.ports.free_pairs},
        {HIGH_WATER, &run.ports.high_water},
        {EXHAUSTED, &run.ports.exhausted},
    };
    for (const auto& [key, field] : port_counts) {
        RTFARM_TRY(n, pr.count(key));
        *field = *n;
    }
    if (auto st = read_dropped(service[DROPPED], DROPPED, run.dropped); !st)
        return st.error();
    auto failed = service[FAILED];
    Reader fr(failed, BAD_REPLY, FAILED);
    if (auto st = fr.object(); !st)
        return st.error();
    if (failed.size() > MAX_STATS_ENTRIES)
        return r.fail("\"failed\" must have at most " + std::to_string(MAX_STATS_ENTRIES) +
                      " codes");
    const char* code = nullptr;
    json_t* value = nullptr;
    json_object_foreach(failed.get(), code, value) {
        const std::string key(code);
        if (key.empty() || key.size() > MAX_NAME)
            return fr.fail("\"failed\" names a code of " + std::to_string(key.size()) +
                           " bytes, not 1-" + std::to_string(MAX_NAME));
        RTFARM_TRY(n, fr.count(code));
        run.failed[key] = *n;
    }
    if (r.get(FD_LIMIT)) {
        RTFARM_TRY(fd_limit, r.count(FD_LIMIT));
        run.fd_limit = *fd_limit;
    }
    if (r.get(FAST_PATH)) {
        auto fast = service[FAST_PATH];
        Reader f(fast, BAD_REPLY, FAST_PATH);
        if (auto st = f.object(); !st)
            return st.error();
        RelayStats::Running::FastPath fp;
        RTFARM_TRY(mode, f.name_text(MODE, MAX_NAME));
        RTFARM_TRY(path, f.name_text(PATH, MAX_NAME));
        RTFARM_TRY(reason, f.text(REASON, false, MAX_REASON));
        fp.mode = std::move(*mode);
        fp.path = std::move(*path);
        fp.reason = std::move(*reason);
        auto interfaces = fast[INTERFACES];
        if (!interfaces.is_array() || interfaces.size() > MAX_STATS_ENTRIES)
            return f.fail("\"fast_path.interfaces\" must be an array of at most " +
                          std::to_string(MAX_STATS_ENTRIES) + " interfaces");
        for (size_t i = 0; i < interfaces.size(); ++i) {
            auto one = interfaces.at(i);
            Reader ir(one, BAD_REPLY, item("fast_path.interfaces", i));
            if (auto st = ir.object(); !st)
                return st.error();
            RTFARM_TRY(name, ir.name_text(NAME, MAX_NAME));
            RTFARM_TRY(xdp, ir.name_text(XDP, MAX_NAME));
            fp.interfaces.push_back({std::move(*name), std::move(*xdp)});
        }
        const std::pair<const char*, long long*> fast_counts[] = {
            {ENTRIES, &fp.entries},   {KERNEL_ENTRIES, &fp.kernel_entries},
            {PACKETS, &fp.packets},   {BYTES, &fp.bytes},
            {NO_ROUTE, &fp.no_route}, {NOT_MEDIA, &fp.not_media},
            {REFUSED, &fp.refused},
        };
        for (const auto& [key, field] : fast_counts) {
            RTFARM_TRY(n, f.count(key));
            *field = *n;
        }
        run.fast_path = std::move(fp);
    }
    out.running = std::move(run);
    return out;
}

} // namespace

Result<RelayStats> RelayStats::parse(const json::Json& service) {
    return read_relay_stats(service);
}

#undef RTFARM_TRY

} // namespace rtfarm::media
