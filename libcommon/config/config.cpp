#include "config/config.hpp"

#include "json/json.hpp"

#include <jansson.h>
#include <sys/un.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace rtfarm::config {

namespace fs = std::filesystem;

std::string_view to_string(Role v) {
    switch (v) {
    case Role::frontend:
        return "frontend";
    case Role::backend:
        return "backend";
    case Role::standalone:
        return "standalone";
    }
    return "?";
}

std::string_view to_string(SipFarm v) {
    switch (v) {
    case SipFarm::member:
        return "member";
    case SipFarm::disabled:
        return "disabled";
    case SipFarm::relay:
        return "relay";
    case SipFarm::automatic:
        return "auto";
    }
    return "?";
}

std::string_view to_string(Placement v) {
    switch (v) {
    case Placement::locally:
        return "locally";
    case Placement::locally_for_others:
        return "locally-for-others";
    case Placement::remotely:
        return "remotely";
    case Placement::automatic:
        return "auto";
    }
    return "?";
}

std::string_view to_string(Media v) {
    switch (v) {
    case Media::none:
        return "none";
    case Media::anchor:
        return "anchor";
    }
    return "?";
}

std::string_view to_string(MediaFastPath v) {
    switch (v) {
    case MediaFastPath::off:
        return "off";
    case MediaFastPath::automatic:
        return "auto";
    case MediaFastPath::required:
        return "required";
    }
    return "?";
}

namespace {

// Every value of an enum, in the order messages list them.
constexpr Role ROLES[] = {Role::frontend, Role::backend, Role::standalone};
constexpr SipFarm SIP_FARMS[] = {SipFarm::member, SipFarm::disabled, SipFarm::relay,
                                 SipFarm::automatic};
constexpr Placement PLACEMENTS[] = {Placement::locally, Placement::locally_for_others,
                                    Placement::remotely, Placement::automatic};
constexpr Media MEDIAS[] = {Media::none, Media::anchor};
constexpr MediaFastPath MEDIA_FAST_PATHS[] = {MediaFastPath::off, MediaFastPath::automatic,
                                              MediaFastPath::required};

template <typename E, size_t N> std::optional<E> parse_enum(const E (&all)[N], std::string_view s) {
    for (E v : all)
        if (to_string(v) == s)
            return v;
    return std::nullopt;
}

template <typename E, size_t N> std::string enum_list(const E (&all)[N]) {
    std::string out;
    for (size_t i = 0; i < N; ++i) {
        if (i > 0)
            out += i + 1 == N ? " or " : ", ";
        out += to_string(all[i]);
    }
    return out;
}

} // namespace

std::optional<Role> parse_role(std::string_view s) {
    return parse_enum(ROLES, s);
}
std::optional<SipFarm> parse_sip_farm(std::string_view s) {
    return parse_enum(SIP_FARMS, s);
}
std::optional<Placement> parse_placement(std::string_view s) {
    return parse_enum(PLACEMENTS, s);
}
std::optional<Media> parse_media(std::string_view s) {
    return parse_enum(MEDIAS, s);
}

const MemberConfig* ClusterConfig::find(std::string_view id) const {
    for (const auto& m : members)
        if (m.id == id)
            return &m;
    return nullptr;
}

std::vector<std::string> ClusterSettings::secrets() const {
    std::vector<std::string> out;
    if (!secret.empty())
        out.push_back(secret);
    if (!previous_secret.empty())
        out.push_back(previous_secret);
    return out;
}

std::optional<SockAddr> ClusterConfig::advertised_ip(const MemberConfig& m) const {
    return m.wan_ip ? m.wan_ip : cluster.wan_ip;
}

bool all_on_loopback(const ClusterConfig& cfg) {
    for (const auto& m : cfg.members)
        if (!m.address.is_loopback())
            return false;
    return true;
}

Status farm_link_trust(const ClusterConfig& cfg) {
    if (all_on_loopback(cfg))
        return {};
    const std::string make_key = "create one on a member (head -c 32 /dev/urandom | base64 > "
                                 "farm.key), copy it to every member, and set \"secret_file\": "
                                 "\"farm.key\" in \"cluster\"";
    const std::string& secret = cfg.cluster.secret;
    if (secret.empty()) {
        if (cfg.cluster.insecure_farm_link)
            return {};
        return make_error("config",
                          cfg.path +
                              ": cluster.secret_file: missing; the members are not all on "
                              "loopback, and without a secret the farm link trusts any packet "
                              "from a member's address: " +
                              make_key + " (or set \"insecure_farm_link\": true to accept that)");
    }
    if (secret.size() < MIN_SECRET_BYTES)
        return make_error("config", cfg.path + ": cluster.secret_file: " + cfg.cluster.secret_file +
                                        " holds " + std::to_string(secret.size()) +
                                        " bytes, fewer than " + std::to_string(MIN_SECRET_BYTES) +
                                        "; " + make_key);
    const std::string& previous = cfg.cluster.previous_secret;
    if (!previous.empty() && previous.size() < MIN_SECRET_BYTES)
        return make_error("config", cfg.path + ": cluster.previous_secret_file: " +
                                        cfg.cluster.previous_secret_file + " holds " +
                                        std::to_string(previous.size()) + " bytes, fewer than " +
                                        std::to_string(MIN_SECRET_BYTES) +
                                        "; a farm whose secret is that short cannot run off "
                                        "loopback, so no member should still hold it");
    return {};
}

namespace {

// Named input limits (documented in rtfarm.conf(5)).
constexpr size_t MAX_CONFIG_BYTES = 1024 * 1024;
constexpr size_t MAX_SECRET_BYTES = 4096;
constexpr size_t MAX_ID_CHARS = 32;
constexpr size_t MAX_NAME_CHARS = 64;
constexpr size_t MAX_SOCKET_PATH = sizeof(sockaddr_un::sun_path) - 1;
constexpr long long MIN_HEARTBEAT_MS = 10;
constexpr long long MAX_HEARTBEAT_MS = 60000;
constexpr long long MAX_DEAD_AFTER_MS = 600000;
constexpr long long MAX_MEDIA_TIMEOUT_S = 86400;
constexpr long long MAX_FLOOD_LIMIT = 1000000;
constexpr long long MAX_FLOOD_QUIET_S = 3600;
// The SDP parser's own limit (media/sdp.hpp MAX_SDP_MEDIA).
constexpr long long MAX_MEDIA_STREAMS = 16;
constexpr long long MAX_MEDIA_SESSIONS = 1000000;
constexpr size_t MAX_MEDIA_ALLOW = 64;

constexpr std::string_view TOP_KEYS[] = {"cluster", "members"};
constexpr std::string_view CLUSTER_KEYS[] = {"name",
                                             "wan_ip",
                                             "farm_port",
                                             "heartbeat_ms",
                                             "dead_after_ms",
                                             "secret_file",
                                             "previous_secret_file",
                                             "media",
                                             "media_timeout",
                                             "media_strict",
                                             "media_unlatched_timeout",
                                             "media_allow",
                                             "media_max_streams",
                                             "media_max_sessions",
                                             "media_max_sessions_per_source",
                                             "flood_limit",
                                             "flood_quiet_s",
                                             "flood_exempt",
                                             "lbcheck_sources",
                                             "insecure_farm_link"};
constexpr std::string_view MEMBER_KEYS[] = {
    "role",          "address",   "wan_ip",        "sip_farm", "call_legs",      "signals",
    "sip_listen",    "processor", "media_ports",   "control",  "control_tcp",    "media",
    "media_control", "metrics",   "media_metrics", "tls",      "media_fast_path"};
constexpr std::string_view TLS_KEYS[] = {"certificate", "key", "ca"};

template <size_t N> std::string key_list(const std::string_view (&keys)[N]) {
    std::string out;
    for (size_t i = 0; i < N; ++i) {
        if (i > 0)
            out += ", ";
        out += keys[i];
    }
    return out;
}

bool valid_member_id(std::string_view id) {
    if (id.empty() || id.size() > MAX_ID_CHARS)
        return false;
    for (char c : id) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

// Reads and validates one parsed document. Stops at the first error, found in
// file order: keys are visited in the order the file lists them, then the
// checks that need the whole file run in member order.
class Loader {
public:
    Loader(std::string file, fs::path dir)
        : m_file(std::move(file))
        , m_dir(std::move(dir)) {}

    Result<ClusterConfig> run(const json::Json& root) {
        m_cfg.path = m_file;
        if (!read_top(root) || !check_whole())
            return *m_error;
        return std::move(m_cfg);
    }

private:
    bool fail(const std::string& where, const std::string& reason) {
        if (!m_error) {
            std::string msg = m_file + ": ";
            if (!where.empty())
                msg += where + ": ";
            m_error = make_error("config", msg + reason);
        }
        return false;
    }

    bool type_error(const json::Json& v, const std::string& where, std::string_view want) {
        return fail(where,
                    "must be " + std::string(want) + ", not " + std::string(json::type_name(v)));
    }

    bool want_object(const json::Json& v, const std::string& where) {
        return v.is_object() || type_error(v, where, "an object");
    }

    bool read_string(const json::Json& v, const std::string& where, std::string& out) {
        auto s = v.as_string();
        if (!s)
            return type_error(v, where, "a string");
        out = std::move(*s);
        return true;
    }

    bool read_int(const json::Json& v, const std::string& where, long long lo, long long hi,
                  long long& out) {
        auto n = v.as_integer();
        if (!n)
            return type_error(v, where, "an integer");
        if (*n < lo || *n > hi)
            return fail(where, std::to_string(*n) + " is out of " + std::to_string(lo) + "-" +
                                   std::to_string(hi));
        out = *n;
        return true;
    }

    template <typename E, size_t N>
    bool read_enum(const json::Json& v, const std::string& where, const E (&all)[N], E& out) {
        std::string s;
        if (!read_string(v, where, s))
            return false;
        auto e = parse_enum(all, s);
        if (!e)
            return fail(where, "'" + s + "' is not one of " + enum_list(all));
        out = *e;
        return true;
    }

    // A host without a port; "" gives nullopt when `allow_empty`.
    bool read_host(const json::Json& v, const std::string& where, bool allow_empty,
                   std::optional<SockAddr>& out) {
        std::string s;
        if (!read_string(v, where, s))
            return false;
        if (s.empty()) {
            if (!allow_empty)
                return fail(where, "must not be empty");
            out.reset();
            return true;
        }
        auto a = SockAddr::parse_host(s);
        if (!a) {
            if (SockAddr::parse(s))
                return fail(where, "'" + s + "' must be an address without a port");
            return fail(where, a.error().message);
        }
        if (a->is_any())
            return fail(where, "'" + s + "' is the any-address; name one address");
        out = *a;
        return true;
    }

    // ADDR:PORT with a port other than 0.
    bool read_endpoint(const json::Json& v, const std::string& where, SockAddr& out) {
        std::string s;
        if (!read_string(v, where, s))
            return false;
        auto a = SockAddr::parse(s);
        if (!a) {
            auto host = SockAddr::parse_host(s);
            if (!s.empty() && host)
                return fail(where, "'" + s + "' needs a port: " +
                                       (host->is_v6() ? "[ADDR]:PORT" : "ADDR:PORT"));
            return fail(where, a.error().message);
        }
        if (a->port() == 0)
            return fail(where, "'" + s + "': port 0 is not allowed");
        out = *a;
        return true;
    }

    // A file path, resolved against the config file's folder.
    bool read_path(const json::Json& v, const std::string& where, std::string& out) {
        std::string s;
        if (!read_string(v, where, s))
            return false;
        if (s.empty())
            return fail(where, "must not be empty");
        fs::path p(s);
        out = (p.is_absolute() ? p : m_dir / p).lexically_normal().string();
        return true;
    }

    bool read_socket_path(const json::Json& v, const std::string& where, std::string& out) {
        if (!read_path(v, where, out))
            return false;
        if (out.size() > MAX_SOCKET_PATH)
            return fail(where, "'" + out + "' is " + std::to_string(out.size()) +
                                   " bytes long; a Unix socket path holds at most " +
                                   std::to_string(MAX_SOCKET_PATH));
        return true;
    }

    bool read_secret(const std::string& where, const std::string& p, std::string& secret) {
        std::ifstream in(p, std::ios::binary);
        if (!in)
            return fail(where, "cannot read " + p + ": " + std::strerror(errno));
        std::error_code ec;
        if (!fs::is_regular_file(p, ec))
            return fail(where, p + " is not a regular file");
        std::string data;
        data.resize(MAX_SECRET_BYTES + 1);
        in.read(data.data(), static_cast<std::streamsize>(data.size()));
        if (in.bad())
            return fail(where, "cannot read " + p + ": read error");
        data.resize(static_cast<size_t>(in.gcount()));
        if (data.size() > MAX_SECRET_BYTES)
            return fail(where,
                        p + " is larger than " + std::to_string(MAX_SECRET_BYTES) + " bytes");
        while (!data.empty() && (data.back() == '\n' || data.back() == '\r'))
            data.pop_back();
        if (data.empty())
            return fail(where, p + " is empty");
        secret = std::move(data);
        return true;
    }

    // A secret file's path and its contents; "" = none.
    bool read_secret_file(const json::Json& v, const std::string& where, std::string& path,
                          std::string& secret) {
        std::string s;
        if (!read_string(v, where, s))
            return false;
        if (s.empty()) {
            path.clear();
            secret.clear();
            return true;
        }
        return read_path(v, where, path) && read_secret(where, path, secret);
    }

    template <size_t N>
    bool unknown_key(const std::string& where, const std::string_view (&known)[N]) {
        return fail(where, "unknown key (known keys: " + key_list(known) + ")");
    }

    bool read_top(const json::Json& root) {
        if (!root.is_object())
            return fail("", "the top level must be an object, not " +
                                std::string(json::type_name(root)));
        bool have_cluster = false, have_members = false;
        const char* key;
        json_t* value;
        json_object_foreach(root.get(), key, value) {
            json::Json v = json::Json::borrow(value);
            std::string_view k = key;
            bool ok;
            if (k == "cluster") {
                have_cluster = true;
                ok = read_cluster(v);
            } else if (k == "members") {
                have_members = true;
                ok = read_members(v);
            } else {
                ok = unknown_key(key, TOP_KEYS);
            }
            if (!ok)
                return false;
        }
        if (!have_cluster)
            return fail("cluster", "missing (an object with at least \"name\")");
        if (!have_members)
            return fail("members", "missing (an object of members by id)");
        return true;
    }

    bool read_cluster(const json::Json& obj) {
        if (!want_object(obj, "cluster"))
            return false;
        ClusterSettings& c = m_cfg.cluster;
        bool have_name = false;
        const char* key;
        json_t* value;
        json_object_foreach(obj.get(), key, value) {
            json::Json v = json::Json::borrow(value);
            std::string_view k = key;
            std::string where = "cluster." + std::string(k);
            long long n = 0;
            bool ok = true;
            if (k == "name") {
                have_name = true;
                ok = read_string(v, where, c.name);
                if (ok && c.name.empty())
                    ok = fail(where, "must not be empty");
                if (ok && c.name.size() > MAX_NAME_CHARS)
                    ok = fail(where,
                              "is longer than " + std::to_string(MAX_NAME_CHARS) + " characters");
                for (char ch : c.name)
                    if (ok && static_cast<unsigned char>(ch) < 0x20)
                        ok = fail(where, "holds a control character");
            } else if (k == "wan_ip") {
                ok = read_host(v, where, true, c.wan_ip);
            } else if (k == "farm_port") {
                ok = read_int(v, where, 1, 65535, n);
                c.farm_port = static_cast<uint16_t>(n);
            } else if (k == "heartbeat_ms") {
                ok = read_int(v, where, MIN_HEARTBEAT_MS, MAX_HEARTBEAT_MS, n);
                c.heartbeat_ms = static_cast<unsigned>(n);
            } else if (k == "dead_after_ms") {
                ok = read_int(v, where, MIN_HEARTBEAT_MS + 1, MAX_DEAD_AFTER_MS, n);
                c.dead_after_ms = static_cast<unsigned>(n);
            } else if (k == "secret_file") {
                ok = read_secret_file(v, where, c.secret_file, c.secret);
            } else if (k == "previous_secret_file") {
                ok = read_secret_file(v, where, c.previous_secret_file, c.previous_secret);
            } else if (k == "media") {
                ok = read_enum(v, where, MEDIAS, c.media);
            } else if (k == "media_timeout") {
                ok = read_int(v, where, 1, MAX_MEDIA_TIMEOUT_S, n);
                c.media_timeout_s = static_cast<unsigned>(n);
            } else if (k == "flood_limit") {
                ok = read_int(v, where, 0, MAX_FLOOD_LIMIT, n);
                c.flood_limit = static_cast<unsigned>(n);
            } else if (k == "flood_quiet_s") {
                ok = read_int(v, where, 1, MAX_FLOOD_QUIET_S, n);
                c.flood_quiet_s = static_cast<unsigned>(n);
            } else if (k == "media_strict") {
                ok = read_bool(v, where, c.media_strict);
            } else if (k == "media_unlatched_timeout") {
                ok = read_int(v, where, 1, MAX_MEDIA_TIMEOUT_S, n);
                c.media_unlatched_timeout_s = static_cast<unsigned>(n);
            } else if (k == "media_max_streams") {
                ok = read_int(v, where, 1, MAX_MEDIA_STREAMS, n);
                c.media_max_streams = static_cast<unsigned>(n);
            } else if (k == "media_max_sessions") {
                ok = read_int(v, where, 0, MAX_MEDIA_SESSIONS, n);
                c.media_max_sessions = static_cast<unsigned>(n);
            } else if (k == "media_max_sessions_per_source") {
                ok = read_int(v, where, 0, MAX_MEDIA_SESSIONS, n);
                c.media_max_sessions_per_source = static_cast<unsigned>(n);
            } else if (k == "media_allow") {
                ok = read_prefixes(v, where, c.media_allow);
            } else if (k == "flood_exempt") {
                ok = read_prefixes(v, where, c.flood_exempt);
            } else if (k == "insecure_farm_link") {
                ok = read_bool(v, where, c.insecure_farm_link);
            } else if (k == "lbcheck_sources") {
                ok = read_prefixes(v, where, c.lbcheck_sources);
            } else {
                ok = unknown_key(where, CLUSTER_KEYS);
            }
            if (!ok)
                return false;
        }
        if (!have_name)
            return fail("cluster.name", "missing (the cluster's name)");
        if (!c.previous_secret.empty() && c.secret.empty())
            return fail("cluster.previous_secret_file",
                        "set without secret_file: a rotation names the new secret in "
                        "secret_file and the one it replaces here");
        if (!c.previous_secret.empty() && c.previous_secret == c.secret)
            return fail("cluster.previous_secret_file",
                        c.previous_secret_file + " holds the same secret as secret_file " +
                            c.secret_file + ": a rotation needs a new secret in secret_file");
        return true;
    }

    bool read_members(const json::Json& obj) {
        if (!want_object(obj, "members"))
            return false;
        if (obj.size() == 0)
            return fail("members", "needs at least one member");
        const char* key;
        json_t* value;
        json_object_foreach(obj.get(), key, value) {
            std::string id = key;
            std::string where = "members." + id;
            if (!valid_member_id(id))
                return fail(where, "a member id must be 1-" + std::to_string(MAX_ID_CHARS) +
                                       " characters of A-Z, a-z, 0-9, '_' and '-'");
            MemberConfig m;
            m.id = id;
            if (!read_member(json::Json::borrow(value), where, m))
                return false;
            m_cfg.members.push_back(std::move(m));
        }
        return true;
    }

    // A file the daemon will read later: it must be a regular file we can
    // open now, so a typo is an error at load, not at the first connection.
    bool check_readable(const std::string& where, const std::string& p) {
        std::ifstream in(p, std::ios::binary);
        if (!in)
            return fail(where, "cannot read " + p + ": " + std::strerror(errno));
        std::error_code ec;
        if (!fs::is_regular_file(p, ec))
            return fail(where, p + " is not a regular file");
        return true;
    }

    bool read_tls(const json::Json& obj, const std::string& prefix, MemberConfig& m) {
        if (!want_object(obj, prefix))
            return false;
        TlsFiles t;
        const char* key;
        json_t* value;
        json_object_foreach(obj.get(), key, value) {
            json::Json v = json::Json::borrow(value);
            std::string_view k = key;
            std::string where = prefix + "." + std::string(k);
            std::string* out = k == "certificate" ? &t.certificate
                               : k == "key"       ? &t.key
                               : k == "ca"        ? &t.ca
                                                  : nullptr;
            if (!out)
                return unknown_key(where, TLS_KEYS);
            if (!read_path(v, where, *out) || !check_readable(where, *out))
                return false;
        }
        if (t.certificate.empty())
            return fail(prefix + ".certificate", "missing (the member's PEM certificate file)");
        if (t.key.empty())
            return fail(prefix + ".key", "missing (the PEM private key file)");
        m.tls = std::move(t);
        return true;
    }

    // One entry: "[udp:|tcp:|tls:]ADDR:PORT". A transport is a word with a
    // letter that is not a hex digit, so a bare IPv6 address is not one.
    bool read_listen_entry(const json::Json& v, const std::string& at, MemberConfig& m) {
        std::string s;
        if (!read_string(v, at, s))
            return false;
        std::string transport = "udp";
        if (auto colon = s.find(':'); colon != std::string::npos && colon > 0) {
            std::string word = s.substr(0, colon);
            bool letters = true, non_hex = false;
            for (char c : word) {
                letters = letters && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'));
                non_hex = non_hex || !std::isxdigit(static_cast<unsigned char>(c));
            }
            if (letters && non_hex) {
                if (word != "udp" && word != "tcp" && word != "tls")
                    return fail(at, "'" + word + "' is not a transport (udp, tcp or tls)");
                transport = word;
                s = s.substr(colon + 1);
            }
        }
        SockAddr a;
        if (!read_endpoint(json::Json::string(s), at, a))
            return false;
        if (transport == "udp") {
            for (const auto& prev : m.sip_listen)
                if (prev == a)
                    return fail(at, a.str() + " is listed twice");
            m.sip_listen.push_back(a);
            return true;
        }
        for (const auto& prev : m.sip_stream_listen)
            if (prev.addr == a)
                return fail(at, a.str() + " is already a " +
                                    std::string(to_string(prev.transport)) +
                                    ": listener (tcp and tls share TCP ports)");
        m.sip_stream_listen.push_back({transport == "tcp" ? Transport::tcp : Transport::tls, a});
        return true;
    }

    // An array of "ADDR/BITS" or "ADDR" strings.
    bool read_bool(const json::Json& v, const std::string& where, bool& out) {
        auto b = v.as_bool();
        if (!b)
            return fail(where, "must be true or false");
        out = *b;
        return true;
    }

    bool read_prefixes(const json::Json& v, const std::string& where, std::vector<Cidr>& out) {
        if (!v.is_array())
            return type_error(v, where, "an array of \"ADDR/BITS\" strings");
        if (v.size() > MAX_MEDIA_ALLOW)
            return fail(where, "has " + std::to_string(v.size()) + " entries, at most " +
                                   std::to_string(MAX_MEDIA_ALLOW));
        out.clear();
        for (size_t i = 0; i < v.size(); ++i) {
            std::string at = where + "[" + std::to_string(i) + "]";
            std::string s;
            if (!read_string(v.at(i), at, s))
                return false;
            auto c = Cidr::parse(s);
            if (!c)
                return fail(at, c.error().message);
            out.push_back(*c);
        }
        return true;
    }

    bool read_sip_listen(const json::Json& v, const std::string& where, MemberConfig& m) {
        if (!v.is_array())
            return type_error(v, where, "an array of \"[udp:|tcp:|tls:]ADDR:PORT\" strings");
        m.sip_listen.clear();
        m.sip_stream_listen.clear();
        for (size_t i = 0; i < v.size(); ++i)
            if (!read_listen_entry(v.at(i), where + "[" + std::to_string(i) + "]", m))
                return false;
        return true;
    }

    bool read_member(const json::Json& obj, const std::string& prefix, MemberConfig& m) {
        if (!want_object(obj, prefix))
            return false;
        bool have_role = false, have_address = false, have_control = false;
        const char* key;
        json_t* value;
        json_object_foreach(obj.get(), key, value) {
            json::Json v = json::Json::borrow(value);
            std::string_view k = key;
            std::string where = prefix + "." + std::string(k);
            bool ok = true;
            if (k == "role") {
                have_role = true;
                ok = read_enum(v, where, ROLES, m.role);
            } else if (k == "address") {
                have_address = true;
                std::optional<SockAddr> a;
                ok = read_host(v, where, false, a);
                if (ok)
                    m.address = *a;
            } else if (k == "wan_ip") {
                ok = read_host(v, where, true, m.wan_ip);
            } else if (k == "sip_farm") {
                ok = read_enum(v, where, SIP_FARMS, m.sip_farm);
            } else if (k == "call_legs") {
                ok = read_enum(v, where, PLACEMENTS, m.call_legs);
            } else if (k == "signals") {
                ok = read_enum(v, where, PLACEMENTS, m.signals);
            } else if (k == "sip_listen") {
                ok = read_sip_listen(v, where, m);
            } else if (k == "processor") {
                SockAddr a;
                ok = read_endpoint(v, where, a);
                if (ok && a.is_any())
                    ok = fail(where, "'" + a.str() +
                                         "' is the any-address; name the address "
                                         "the SIP server listens on");
                if (ok)
                    m.processor = a;
            } else if (k == "media_ports") {
                std::string s;
                ok = read_string(v, where, s);
                if (ok) {
                    auto r = parse_port_range(s);
                    if (!r)
                        ok = fail(where, r.error().message);
                    else
                        m.media_ports = *r;
                }
            } else if (k == "control") {
                have_control = true;
                ok = read_socket_path(v, where, m.control);
            } else if (k == "control_tcp") {
                SockAddr a;
                ok = read_endpoint(v, where, a);
                if (ok)
                    m.control_tcp = a;
            } else if (k == "media") {
                Media md = Media::none;
                ok = read_enum(v, where, MEDIAS, md);
                if (ok)
                    m.media = md;
            } else if (k == "media_control") {
                ok = read_socket_path(v, where, m.media_control);
            } else if (k == "media_fast_path") {
                ok = read_enum(v, where, MEDIA_FAST_PATHS, m.media_fast_path);
            } else if (k == "metrics" || k == "media_metrics") {
                SockAddr a;
                ok = read_endpoint(v, where, a);
                if (ok)
                    (k == "metrics" ? m.metrics : m.media_metrics) = a;
            } else if (k == "tls") {
                ok = read_tls(v, where, m);
            } else {
                ok = unknown_key(where, MEMBER_KEYS);
            }
            if (!ok)
                return false;
        }
        if (!have_role)
            return fail(prefix + ".role", "missing (" + enum_list(ROLES) + ")");
        if (!have_address)
            return fail(prefix + ".address", "missing (the member's internal address)");
        if (!have_control)
            return fail(prefix + ".control", "missing (the path of the member's control socket)");
        if (m.sip_listen.empty() && m.sip_stream_listen.empty() && m.role != Role::backend)
            return fail(prefix + ".sip_listen", "a " + std::string(to_string(m.role)) +
                                                    " needs at least one \"ADDR:PORT\"");
        for (size_t i = 0; i < m.sip_stream_listen.size(); ++i)
            if (m.sip_stream_listen[i].transport == Transport::tls && !m.tls)
                return fail(prefix + ".tls",
                            "missing: sip_listen entry tls:" + m.sip_stream_listen[i].addr.str() +
                                " needs {\"certificate\": FILE, \"key\": FILE}");
        if (m.processor) {
            for (const auto& l : m.sip_listen) {
                bool same =
                    l == *m.processor || (l.is_any() && l.family() == m.processor->family() &&
                                          l.port() == m.processor->port());
                if (same)
                    return fail(prefix + ".processor",
                                m.processor->str() + " is one of the member's own sip_listen "
                                                     "sockets; the processor is the SIP server "
                                                     "behind sipfarmd");
            }
        }
        return true;
    }

    // Checks that need the whole file: run after every key was read.
    bool check_whole() {
        const ClusterSettings& c = m_cfg.cluster;
        std::vector<SeenPath> seen;
        std::vector<SeenEndpoint> tcp_seen;
        if (c.dead_after_ms <= c.heartbeat_ms)
            return fail("cluster.dead_after_ms", std::to_string(c.dead_after_ms) +
                                                     " must be greater than heartbeat_ms (" +
                                                     std::to_string(c.heartbeat_ms) + ")");
        for (size_t i = 0; i < m_cfg.members.size(); ++i) {
            const MemberConfig& m = m_cfg.members[i];
            std::string prefix = "members." + m.id;
            for (size_t j = 0; j < i; ++j) {
                const MemberConfig& o = m_cfg.members[j];
                if (o.address == m.address)
                    return fail(prefix + ".address",
                                m.address.host() + " is already the address of member " + o.id);
            }
            for (size_t k = 0; k < m.sip_listen.size(); ++k) {
                const SockAddr& l = m.sip_listen[k];
                bool on_farm =
                    l.port() == c.farm_port &&
                    (l.is_any() ? l.family() == m.address.family() : l.same_host(m.address));
                if (on_farm)
                    return fail(prefix + ".sip_listen[" + std::to_string(k) + "]",
                                l.str() + " takes the farm link's port (cluster.farm_port " +
                                    std::to_string(c.farm_port) + ")");
            }
            if (!check_socket_path(m, "control", m.control, seen))
                return false;
            if (!m.media_control.empty() &&
                !check_socket_path(m, "media_control", m.media_control, seen))
                return false;
            if (m.control_tcp) {
                // Control over TCP is not authenticated without a cluster
                // secret: then it may only face the internal network.
                if (c.secret.empty() && !m.control_tcp->same_host(m.address) &&
                    !m.control_tcp->is_loopback())
                    return fail(prefix + ".control_tcp",
                                m.control_tcp->str() + " is not the member's internal address " +
                                    m.address.host() +
                                    " (or loopback); without cluster.secret_file the TCP control "
                                    "socket may not listen elsewhere");
                if (!check_tcp_endpoint(m, "control_tcp", *m.control_tcp, tcp_seen))
                    return false;
            }
            // The metrics endpoints have no login at all: internal network only.
            for (const auto& [key, addr] :
                 {std::pair{"metrics", m.metrics}, std::pair{"media_metrics", m.media_metrics}}) {
                if (!addr)
                    continue;
                if (!addr->same_host(m.address) && !addr->is_loopback())
                    return fail(prefix + "." + key,
                                addr->str() + " is not the member's internal address " +
                                    m.address.host() +
                                    " (or loopback); the metrics endpoint has no login");
                if (!check_tcp_endpoint(m, key, *addr, tcp_seen))
                    return false;
            }
        }
        return true;
    }

    // A control or media_control socket path, and whose it is.
    struct SeenPath {
        std::string path;
        std::string member;
        std::string key;
    };

    // Every socket path must be unique across the cluster: members may share
    // a host (tests, small labs), and two daemons cannot bind one path.
    bool check_socket_path(const MemberConfig& m, const std::string& key, const std::string& path,
                           std::vector<SeenPath>& seen) {
        for (const SeenPath& s : seen)
            if (s.path == path)
                return fail("members." + m.id + "." + key,
                            path + " is already the " + s.key + " socket of member " + s.member);
        seen.push_back({path, m.id, key});
        return true;
    }

    // A TCP listening address (control_tcp, metrics, media_metrics), and whose.
    struct SeenEndpoint {
        SockAddr addr;
        std::string member;
        std::string key;
    };

    // Two daemons cannot listen on one TCP address (members may share a host).
    bool check_tcp_endpoint(const MemberConfig& m, const std::string& key, const SockAddr& addr,
                            std::vector<SeenEndpoint>& seen) {
        for (const SeenEndpoint& s : seen)
            if (s.addr == addr)
                return fail("members." + m.id + "." + key,
                            addr.str() + " is already the " + s.key + " of member " + s.member);
        seen.push_back({addr, m.id, key});
        return true;
    }

    std::string m_file;
    fs::path m_dir;
    ClusterConfig m_cfg;
    std::optional<Error> m_error;
};

} // namespace

Result<ClusterConfig> parse(std::string_view text, const std::string& path) {
    if (text.size() > MAX_CONFIG_BYTES)
        return make_error("config",
                          path + ": larger than " + std::to_string(MAX_CONFIG_BYTES) + " bytes");
    auto doc = json::parse(text, path);
    if (!doc)
        return make_error("config", doc.error().message);
    std::error_code ec;
    fs::path dir = path.empty() ? fs::current_path(ec) : fs::absolute(path, ec).parent_path();
    if (ec)
        return make_error("config", path + ": cannot resolve its folder: " + ec.message());
    Loader loader(path, dir);
    return loader.run(*doc);
}

Result<ClusterConfig> load(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in)
        return make_error("io", path + ": cannot open: " + std::strerror(errno));
    std::error_code ec;
    if (fs::is_directory(path, ec))
        return make_error("io", path + ": is a folder, not a file");
    std::string text;
    text.resize(MAX_CONFIG_BYTES + 1);
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    if (in.bad())
        return make_error("io", path + ": read error");
    text.resize(static_cast<size_t>(in.gcount()));
    return parse(text, path);
}

} // namespace rtfarm::config
