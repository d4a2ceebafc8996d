// The cluster config loader: every bad file is refused with the file, the JSON
// path and the reason; good files (the etc/ examples among them) load with
// their defaults and absolute paths.
#include "config/config.hpp"

#include "test_paths.hpp"

#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <ostream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

using namespace rtfarm;
namespace fs = std::filesystem;

// Boost.Test prints the config's enums by name (found by ADL).
namespace rtfarm::config {
template <typename E>
requires std::is_enum_v<E> std::ostream& boost_test_print_type(std::ostream& os, const E& v) {
    return os << to_string(v);
}
} // namespace rtfarm::config

namespace {

// The error of a failed Result, "" for a good one (for REQUIRE messages,
// which Boost.Test builds even when the check passes).
template <typename T> std::string why(const Result<T>& r) {
    return r.ok() ? "" : r.error().message;
}

// Object members as raw JSON text, in order; DROP removes a key.
using Fields = std::vector<std::pair<std::string, std::string>>;
const std::string DROP = "<drop>";
const std::string FILE_NAME = "/x/cfg.json";

std::string q(const std::string& s) {
    return "\"" + s + "\"";
}

Fields with(Fields base, const Fields& changes) {
    for (const auto& [key, value] : changes) {
        bool found = false;
        for (auto it = base.begin(); it != base.end(); ++it)
            if (it->first == key) {
                found = true;
                if (value == DROP)
                    base.erase(it);
                else
                    it->second = value;
                break;
            }
        if (!found && value != DROP)
            base.emplace_back(key, value);
    }
    return base;
}

std::string object(const Fields& fields) {
    std::string out = "{";
    for (size_t i = 0; i < fields.size(); ++i)
        out += (i ? ", " : "") + q(fields[i].first) + ": " + fields[i].second;
    return out + "}";
}

Fields cluster(const Fields& changes = {}) {
    return with({{"name", q("t")}}, changes);
}

Fields frontend(int n, const Fields& changes = {}) {
    std::string id = "f" + std::to_string(n);
    return with({{"role", q("frontend")},
                 {"address", q("10.77.0.1" + std::to_string(n))},
                 {"sip_listen", R"(["0.0.0.0:5060"])"},
                 {"control", q("/run/rtfarm/" + id + ".sock")}},
                changes);
}

std::string doc(const Fields& cluster_fields,
                const std::vector<std::pair<std::string, Fields>>& ms) {
    Fields members;
    for (const auto& [id, f] : ms)
        members.emplace_back(id, object(f));
    return object({{"cluster", object(cluster_fields)}, {"members", object(members)}});
}

std::string one(const Fields& member_changes) {
    return doc(cluster(), {{"f1", frontend(1, member_changes)}});
}

struct BadCase {
    const char* name;
    std::string text;
    std::string path; // JSON path; "" = the top level
    std::string reason;
};

std::vector<BadCase> bad_cases() {
    const std::string long_path = q("/run/rtfarm/" + std::string(120, 'x') + ".sock");
    return {
        {"top level not object", "[1, 2]", "", "the top level must be an object, not array"},
        {"members error before a later unknown key",
         R"({"cluster": {"name": "t"}, "members": {}, "extra": 1})", "members",
         "needs at least one member"},
        {"unknown top key after members",
         doc(cluster(), {{"f1", frontend(1)}}).insert(1, R"("extra": 1, )"), "extra",
         "unknown key (known keys: cluster, members)"},
        {"missing cluster", object({{"members", object({{"f1", object(frontend(1))}})}}), "cluster",
         "missing"},
        {"missing members", object({{"cluster", object(cluster())}}), "members", "missing"},
        {"cluster not object", object({{"cluster", q("t")}}), "cluster",
         "must be an object, not string"},
        {"cluster.name missing", doc(cluster({{"name", DROP}}), {{"f1", frontend(1)}}),
         "cluster.name", "missing"},
        {"cluster.name empty", doc(cluster({{"name", q("")}}), {{"f1", frontend(1)}}),
         "cluster.name", "must not be empty"},
        {"cluster.name integer", doc(cluster({{"name", "7"}}), {{"f1", frontend(1)}}),
         "cluster.name", "must be a string, not integer"},
        {"cluster.name too long",
         doc(cluster({{"name", q(std::string(65, 'n'))}}), {{"f1", frontend(1)}}), "cluster.name",
         "longer than 64"},
        {"cluster unknown key", doc(cluster({{"colour", q("red")}}), {{"f1", frontend(1)}}),
         "cluster.colour", "unknown key"},
        {"cluster.wan_ip with port",
         doc(cluster({{"wan_ip", q("203.0.113.1:5060")}}), {{"f1", frontend(1)}}), "cluster.wan_ip",
         "must be an address without a port"},
        {"cluster.wan_ip not an address",
         doc(cluster({{"wan_ip", q("vip.example")}}), {{"f1", frontend(1)}}), "cluster.wan_ip",
         "is not an IPv4 or IPv6 address"},
        {"cluster.wan_ip any", doc(cluster({{"wan_ip", q("0.0.0.0")}}), {{"f1", frontend(1)}}),
         "cluster.wan_ip", "any-address"},
        {"farm_port 0", doc(cluster({{"farm_port", "0"}}), {{"f1", frontend(1)}}),
         "cluster.farm_port", "0 is out of 1-65535"},
        {"farm_port too big", doc(cluster({{"farm_port", "70000"}}), {{"f1", frontend(1)}}),
         "cluster.farm_port", "70000 is out of 1-65535"},
        {"farm_port string", doc(cluster({{"farm_port", q("5069")}}), {{"f1", frontend(1)}}),
         "cluster.farm_port", "must be an integer, not string"},
        {"farm_port real", doc(cluster({{"farm_port", "5069.0"}}), {{"f1", frontend(1)}}),
         "cluster.farm_port", "must be an integer, not number"},
        {"heartbeat_ms too small", doc(cluster({{"heartbeat_ms", "5"}}), {{"f1", frontend(1)}}),
         "cluster.heartbeat_ms", "5 is out of 10-60000"},
        {"dead_after_ms not above heartbeat",
         doc(cluster({{"heartbeat_ms", "300"}, {"dead_after_ms", "300"}}), {{"f1", frontend(1)}}),
         "cluster.dead_after_ms", "300 must be greater than heartbeat_ms (300)"},
        {"dead_after_ms negative", doc(cluster({{"dead_after_ms", "-1"}}), {{"f1", frontend(1)}}),
         "cluster.dead_after_ms", "-1 is out of"},
        {"secret_file absent",
         doc(cluster({{"secret_file", q("/nonexistent/farm.key")}}), {{"f1", frontend(1)}}),
         "cluster.secret_file", "cannot read /nonexistent/farm.key"},
        {"secret_file not a file",
         doc(cluster({{"secret_file", q("/dev/null")}}), {{"f1", frontend(1)}}),
         "cluster.secret_file", "/dev/null is not a regular file"},
        {"cluster.media bad", doc(cluster({{"media", q("relay")}}), {{"f1", frontend(1)}}),
         "cluster.media", "'relay' is not one of none or anchor"},
        {"media_timeout zero", doc(cluster({{"media_timeout", "0"}}), {{"f1", frontend(1)}}),
         "cluster.media_timeout", ""},
        {"flood_limit negative", doc(cluster({{"flood_limit", "-1"}}), {{"f1", frontend(1)}}),
         "cluster.flood_limit", ""},
        {"flood_quiet_s zero", doc(cluster({{"flood_quiet_s", "0"}}), {{"f1", frontend(1)}}),
         "cluster.flood_quiet_s", ""},
        {"media_strict not a boolean",
         doc(cluster({{"media_strict", q("yes")}}), {{"f1", frontend(1)}}), "cluster.media_strict",
         "must be true or false"},
        {"media_unlatched_timeout zero",
         doc(cluster({{"media_unlatched_timeout", "0"}}), {{"f1", frontend(1)}}),
         "cluster.media_unlatched_timeout", "0 is out of 1-86400"},
        {"media_max_streams above the parser's limit",
         doc(cluster({{"media_max_streams", "17"}}), {{"f1", frontend(1)}}),
         "cluster.media_max_streams", "17 is out of 1-16"},
        {"media_max_sessions negative",
         doc(cluster({{"media_max_sessions", "-1"}}), {{"f1", frontend(1)}}),
         "cluster.media_max_sessions", "-1 is out of 0-1000000"},
        {"media_max_sessions_per_source negative",
         doc(cluster({{"media_max_sessions_per_source", "-1"}}), {{"f1", frontend(1)}}),
         "cluster.media_max_sessions_per_source", "-1 is out of 0-1000000"},
        {"media_max_sessions_per_source not a number",
         doc(cluster({{"media_max_sessions_per_source", q("2")}}), {{"f1", frontend(1)}}),
         "cluster.media_max_sessions_per_source", "integer"},
        {"media_allow not an array",
         doc(cluster({{"media_allow", q("127.0.0.0/8")}}), {{"f1", frontend(1)}}),
         "cluster.media_allow", "must be an array"},
        {"media_allow host bits",
         doc(cluster({{"media_allow", "[\"10.0.0.0/8\", \"127.0.0.1/8\"]"}}),
             {{"f1", frontend(1)}}),
         "cluster.media_allow[1]", "host bits set"},
        {"media_allow not a prefix",
         doc(cluster({{"media_allow", "[\"lab\"]"}}), {{"f1", frontend(1)}}),
         "cluster.media_allow[0]", "not an address or prefix"},
        {"flood_exempt bad prefix",
         doc(cluster({{"flood_exempt", "[\"198.51.100.0/24\", \"trunk.example\"]"}}),
             {{"f1", frontend(1)}}),
         "cluster.flood_exempt[1]", "trunk.example"},
        {"lbcheck_sources not an array",
         doc(cluster({{"lbcheck_sources", q("10.0.0.0/8")}}), {{"f1", frontend(1)}}),
         "cluster.lbcheck_sources", "an array of"},
        {"lbcheck_sources bad prefix",
         doc(cluster({{"lbcheck_sources", "[\"10.0.0.0/33\"]"}}), {{"f1", frontend(1)}}),
         "cluster.lbcheck_sources[0]", ""},
        {"lbcheck_sources not an address",
         doc(cluster({{"lbcheck_sources", "[\"10.0.0.0/8\", \"lbcheck.example\"]"}}),
             {{"f1", frontend(1)}}),
         "cluster.lbcheck_sources[1]", "lbcheck.example"},
        {"members empty", doc(cluster(), {}), "members", "needs at least one member"},
        {"members array", object({{"cluster", object(cluster())}, {"members", "[]"}}), "members",
         "must be an object, not array"},
        {"member id with space", doc(cluster(), {{"f 1", frontend(1)}}), "members.f 1",
         "a member id must be 1-32 characters"},
        {"member id too long", doc(cluster(), {{std::string(33, 'a'), frontend(1)}}),
         "members." + std::string(33, 'a'), "a member id must be 1-32"},
        {"member id empty", doc(cluster(), {{"", frontend(1)}}), "members.", "a member id must be"},
        {"member not object",
         object({{"cluster", object(cluster())}, {"members", R"({"f1": "x"})"}}), "members.f1",
         "must be an object, not string"},
        {"member unknown key", one({{"colour", q("red")}}), "members.f1.colour",
         "unknown key (known keys: role, address"},
        {"role missing", one({{"role", DROP}}), "members.f1.role",
         "missing (frontend, backend or standalone)"},
        {"role bad", one({{"role", q("front")}}), "members.f1.role",
         "'front' is not one of frontend, backend or standalone"},
        {"address missing", one({{"address", DROP}}), "members.f1.address", "missing"},
        {"address with port", one({{"address", q("10.77.0.11:5069")}}), "members.f1.address",
         "must be an address without a port"},
        {"address any", one({{"address", q("0.0.0.0")}}), "members.f1.address", "any-address"},
        {"address empty", one({{"address", q("")}}), "members.f1.address", "must not be empty"},
        {"address array", one({{"address", "[]"}}), "members.f1.address",
         "must be a string, not array"},
        {"wan_ip bad", one({{"wan_ip", q("203.0.113")}}), "members.f1.wan_ip",
         "is not an IPv4 or IPv6 address"},
        {"wan_ip v6 with port", one({{"wan_ip", q("[2001:db8::1]:5060")}}), "members.f1.wan_ip",
         "must be an address without a port"},
        {"sip_farm bad", one({{"sip_farm", q("yes")}}), "members.f1.sip_farm",
         "'yes' is not one of member, disabled, relay or auto"},
        {"call_legs underscore", one({{"call_legs", q("locally_for_others")}}),
         "members.f1.call_legs", "is not one of locally, locally-for-others, remotely or auto"},
        {"signals integer", one({{"signals", "1"}}), "members.f1.signals",
         "must be a string, not integer"},
        {"sip_listen missing for frontend", one({{"sip_listen", DROP}}), "members.f1.sip_listen",
         "a frontend needs at least one"},
        {"sip_listen empty for standalone", one({{"role", q("standalone")}, {"sip_listen", "[]"}}),
         "members.f1.sip_listen", "a standalone needs at least one"},
        {"sip_listen string", one({{"sip_listen", q("0.0.0.0:5060")}}), "members.f1.sip_listen",
         "must be an array"},
        {"sip_listen without port", one({{"sip_listen", R"(["0.0.0.0:5060", "10.77.0.11"])"}}),
         "members.f1.sip_listen[1]", "'10.77.0.11' needs a port"},
        {"sip_listen listed twice", one({{"sip_listen", R"(["0.0.0.0:5060", "0.0.0.0:5060"])"}}),
         "members.f1.sip_listen[1]", "0.0.0.0:5060 is listed twice"},
        {"sip_listen v6 unbalanced", one({{"sip_listen", R"(["[2001:db8::1:5060"])"}}),
         "members.f1.sip_listen[0]", "missing ']'"},
        {"sip_listen v6 without brackets", one({{"sip_listen", R"(["2001:db8::1:5060"])"}}),
         "members.f1.sip_listen[0]", "needs a port: [ADDR]:PORT"},
        {"sip_listen port 0", one({{"sip_listen", R"(["0.0.0.0:0"])"}}), "members.f1.sip_listen[0]",
         "port 0 is not allowed"},
        {"sip_listen on farm port", one({{"sip_listen", R"(["0.0.0.0:5060", "0.0.0.0:5069"])"}}),
         "members.f1.sip_listen[1]", "takes the farm link's port (cluster.farm_port 5069)"},
        {"sip_listen unknown transport", one({{"sip_listen", R"(["sctp:0.0.0.0:5060"])"}}),
         "members.f1.sip_listen[0]", "'sctp' is not a transport (udp, tcp or tls)"},
        {"sip_listen tcp without port", one({{"sip_listen", R"(["tcp:10.77.0.11"])"}}),
         "members.f1.sip_listen[0]", "'10.77.0.11' needs a port"},
        {"sip_listen tcp port 0", one({{"sip_listen", R"(["tcp:0.0.0.0:0"])"}}),
         "members.f1.sip_listen[0]", "port 0 is not allowed"},
        {"sip_listen udp listed twice",
         one({{"sip_listen", R"(["0.0.0.0:5060", "udp:0.0.0.0:5060"])"}}),
         "members.f1.sip_listen[1]", "0.0.0.0:5060 is listed twice"},
        {"sip_listen tcp and tls on one port",
         one({{"sip_listen", R"(["tcp:0.0.0.0:5060", "tls:0.0.0.0:5060"])"}}),
         "members.f1.sip_listen[1]", "0.0.0.0:5060 is already a tcp: listener"},
        {"sip_listen tls without tls files", one({{"sip_listen", R"(["tls:0.0.0.0:5061"])"}}),
         "members.f1.tls", "missing: sip_listen entry tls:0.0.0.0:5061 needs"},
        {"tls not an object", one({{"tls", q("cert.pem")}}), "members.f1.tls",
         "must be an object, not string"},
        {"tls unknown key", one({{"tls", R"({"pem": "c.pem"})"}}), "members.f1.tls.pem",
         "unknown key (known keys: certificate, key, ca)"},
        {"tls certificate absent", one({{"tls", R"({"certificate": "/nonexistent/c.pem"})"}}),
         "members.f1.tls.certificate", "cannot read /nonexistent/c.pem"},
        {"tls certificate not a file", one({{"tls", R"({"certificate": "/dev/null"})"}}),
         "members.f1.tls.certificate", "/dev/null is not a regular file"},
        {"tls key empty", one({{"tls", R"({"key": ""})"}}), "members.f1.tls.key",
         "must not be empty"},
        {"tls without certificate", one({{"tls", "{}"}}), "members.f1.tls.certificate", "missing"},
        {"processor any", one({{"processor", q("0.0.0.0:5070")}}), "members.f1.processor",
         "any-address"},
        {"processor is own socket", one({{"processor", q("127.0.0.1:5060")}}),
         "members.f1.processor", "is one of the member's own sip_listen sockets"},
        {"processor without port", one({{"processor", q("127.0.0.1")}}), "members.f1.processor",
         "needs a port"},
        {"media_ports empty range", one({{"media_ports", q("20000-10000")}}),
         "members.f1.media_ports", "range 20000-10000 is empty"},
        {"media_ports single port", one({{"media_ports", q("10000")}}), "members.f1.media_ports",
         "is not a range LO-HI"},
        {"media_ports port 0", one({{"media_ports", q("0-100")}}), "members.f1.media_ports",
         "port 0 is out of 1-65535"},
        {"media_ports integer", one({{"media_ports", "10000"}}), "members.f1.media_ports",
         "must be a string, not integer"},
        {"control missing", one({{"control", DROP}}), "members.f1.control", "missing"},
        {"control empty", one({{"control", q("")}}), "members.f1.control", "must not be empty"},
        {"control too long", one({{"control", long_path}}), "members.f1.control",
         "a Unix socket path holds at most 107"},
        {"control_tcp without port", one({{"control_tcp", q("10.77.0.11")}}),
         "members.f1.control_tcp", "needs a port"},
        {"media bad", one({{"media", q("proxy")}}), "members.f1.media",
         "'proxy' is not one of none or anchor"},
        {"media_fast_path bad", one({{"media_fast_path", q("xdp")}}), "members.f1.media_fast_path",
         "'xdp' is not one of off, auto or required"},
        {"duplicate member address",
         doc(cluster(), {{"f1", frontend(1)}, {"f2", frontend(2, {{"address", q("10.77.0.11")}})}}),
         "members.f2.address", "10.77.0.11 is already the address of member f1"},
        {"duplicate member address v6",
         doc(cluster(), {{"f1", frontend(1, {{"address", q("2001:db8::1")}})},
                         {"f2", frontend(2, {{"address", q("[2001:db8:0::1]")}})}}),
         "members.f2.address", "2001:db8::1 is already the address of member f1"},
        {"duplicate control socket",
         doc(cluster(),
             {{"f1", frontend(1)}, {"f2", frontend(2, {{"control", q("/run/rtfarm/f1.sock")}})}}),
         "members.f2.control", "/run/rtfarm/f1.sock is already the control socket of member f1"},
        {"media_control is own control", one({{"media_control", q("/run/rtfarm/f1.sock")}}),
         "members.f1.media_control", "is already the control socket of member f1"},
        {"control is another's media_control",
         doc(cluster(), {{"f1", frontend(1, {{"media_control", q("/run/rtfarm/m.sock")}})},
                         {"f2", frontend(2, {{"control", q("/run/rtfarm/m.sock")}})}}),
         "members.f2.control", "is already the media_control socket of member f1"},
        {"duplicate control_tcp",
         doc(cluster(), {{"f1", frontend(1, {{"control_tcp", q("127.0.0.1:5068")}})},
                         {"f2", frontend(2, {{"control_tcp", q("127.0.0.1:5068")}})}}),
         "members.f2.control_tcp", "127.0.0.1:5068 is already the control_tcp of member f1"},
        {"control_tcp facing outside without a secret",
         one({{"control_tcp", q("203.0.113.7:5068")}}), "members.f1.control_tcp",
         "without cluster.secret_file the TCP control socket may not listen elsewhere"},
        {"metrics without port", one({{"metrics", q("10.77.0.11")}}), "members.f1.metrics",
         "needs a port"},
        {"metrics port 0", one({{"metrics", q("10.77.0.11:0")}}), "members.f1.metrics",
         "port 0 is not allowed"},
        {"metrics integer", one({{"metrics", "9100"}}), "members.f1.metrics",
         "must be a string, not integer"},
        {"metrics on the any-address", one({{"metrics", q("0.0.0.0:9100")}}), "members.f1.metrics",
         "the metrics endpoint has no login"},
        {"media_metrics facing outside", one({{"media_metrics", q("203.0.113.7:9101")}}),
         "members.f1.media_metrics", "is not the member's internal address 10.77.0.11"},
        {"metrics is the member's control_tcp",
         one({{"control_tcp", q("10.77.0.11:5068")}, {"metrics", q("10.77.0.11:5068")}}),
         "members.f1.metrics", "10.77.0.11:5068 is already the control_tcp of member f1"},
        {"media_metrics is another's metrics",
         doc(cluster(), {{"f1", frontend(1, {{"metrics", q("127.0.0.1:9100")}})},
                         {"f2", frontend(2, {{"media_metrics", q("127.0.0.1:9100")}})}}),
         "members.f2.media_metrics", "127.0.0.1:9100 is already the metrics of member f1"},
    };
}

std::string expected_prefix(const std::string& path) {
    return path.empty() ? FILE_NAME + ": " : FILE_NAME + ": " + path + ": ";
}

// A fresh folder under the system's temporary folder, removed at the end.
class TempDir {
public:
    TempDir() {
        std::string tmpl = (fs::temp_directory_path() / "rtfarm-config-XXXXXX").string();
        BOOST_REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
        m_path = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(m_path, ec);
    }
    const fs::path& path() const { return m_path; }
    std::string write(const std::string& name, const std::string& text) const {
        fs::path p = m_path / name;
        std::ofstream(p, std::ios::binary) << text;
        return p.string();
    }

private:
    fs::path m_path;
};

} // namespace

BOOST_AUTO_TEST_SUITE(config)

BOOST_AUTO_TEST_CASE(bad_configs_name_path_and_reason) {
    auto cases = bad_cases();
    BOOST_TEST(cases.size() >= 30u);
    for (const auto& c : cases) {
        BOOST_TEST_CONTEXT(c.name << "\n  text: " << c.text) {
            auto r = rtfarm::config::parse(c.text, FILE_NAME);
            BOOST_REQUIRE(!r.ok());
            const std::string& msg = r.error().message;
            BOOST_TEST(r.error().code == "config");
            BOOST_TEST(msg.rfind(expected_prefix(c.path), 0) == 0, "message: " << msg);
            BOOST_TEST(msg.find(c.reason) != std::string::npos, "message: " << msg);
        }
    }
}

BOOST_AUTO_TEST_CASE(the_first_error_in_file_order_wins) {
    // Two errors: the member's comes first in the file.
    std::string text =
        object({{"members", object({{"f1", object(frontend(1, {{"role", q("x")}}))}})},
                {"cluster", object(cluster({{"farm_port", "0"}}))}});
    auto r = rtfarm::config::parse(text, FILE_NAME);
    BOOST_REQUIRE(!r.ok());
    BOOST_TEST(r.error().message.find("members.f1.role") != std::string::npos);
    auto again = rtfarm::config::parse(text, FILE_NAME);
    BOOST_TEST(again.error().message == r.error().message);
}

BOOST_AUTO_TEST_CASE(syntax_errors_name_line_and_column) {
    auto r = rtfarm::config::parse("{\n  \"cluster\": {\"name\": \"t\",}\n}\n", FILE_NAME);
    BOOST_REQUIRE(!r.ok());
    BOOST_TEST(r.error().code == "config");
    BOOST_TEST(r.error().message.rfind(FILE_NAME + ":2:", 0) == 0, r.error().message);
}

BOOST_AUTO_TEST_CASE(duplicate_keys_are_rejected) {
    std::string text = R"({"cluster": {"name": "a", "name": "b"}, "members": {}})";
    auto r = rtfarm::config::parse(text, FILE_NAME);
    BOOST_REQUIRE(!r.ok());
    BOOST_TEST(r.error().message.rfind(FILE_NAME + ":1:", 0) == 0, r.error().message);
    BOOST_TEST(r.error().message.find("duplicate") != std::string::npos, r.error().message);

    std::string members = doc(cluster(), {{"f1", frontend(1)}});
    members.insert(members.find("\"f1\""), "\"f1\": {}, ");
    auto m = rtfarm::config::parse(members, FILE_NAME);
    BOOST_REQUIRE(!m.ok());
    BOOST_TEST(m.error().message.find("duplicate") != std::string::npos, m.error().message);
}

BOOST_AUTO_TEST_CASE(unknown_key_is_an_error_at_every_level) {
    auto top = rtfarm::config::parse(doc(cluster(), {{"f1", frontend(1)}}).insert(1, R"("x": 1, )"),
                                     FILE_NAME);
    auto cl = rtfarm::config::parse(doc(cluster({{"x", "1"}}), {{"f1", frontend(1)}}), FILE_NAME);
    auto mem = rtfarm::config::parse(one({{"x", "1"}}), FILE_NAME);
    BOOST_TEST(!top.ok());
    BOOST_TEST(!cl.ok());
    BOOST_TEST(!mem.ok());
    BOOST_TEST(top.error().message ==
               FILE_NAME + ": x: unknown key (known keys: cluster, members)");
    BOOST_TEST(cl.error().message.rfind(FILE_NAME + ": cluster.x: unknown key", 0) == 0);
    BOOST_TEST(mem.error().message.rfind(FILE_NAME + ": members.f1.x: unknown key", 0) == 0);
}

BOOST_AUTO_TEST_CASE(minimal_config_gets_the_defaults) {
    auto r = rtfarm::config::parse(one({}), FILE_NAME);
    BOOST_REQUIRE_MESSAGE(r.ok(), why(r));
    const rtfarm::config::ClusterConfig& c = *r;
    BOOST_TEST(c.path == FILE_NAME);
    BOOST_TEST(c.cluster.name == "t");
    BOOST_TEST(!c.cluster.wan_ip);
    BOOST_TEST(c.cluster.farm_port == 5069);
    BOOST_TEST(c.cluster.heartbeat_ms == 200u);
    BOOST_TEST(c.cluster.dead_after_ms == 1000u);
    BOOST_TEST(c.cluster.secret_file.empty());
    BOOST_TEST(c.cluster.secret.empty());
    BOOST_TEST(c.cluster.media == rtfarm::config::Media::none);
    // Off: one SBC or trunk carries every call from one address.
    BOOST_TEST(c.cluster.media_max_sessions_per_source == 0u);
    BOOST_REQUIRE(c.members.size() == 1u);
    const rtfarm::config::MemberConfig& m = c.members[0];
    BOOST_TEST(m.id == "f1");
    BOOST_TEST(m.role == rtfarm::config::Role::frontend);
    BOOST_TEST(m.address.str() == "10.77.0.11:0");
    BOOST_TEST(!m.wan_ip);
    BOOST_TEST(m.sip_farm == rtfarm::config::SipFarm::automatic);
    BOOST_TEST(m.call_legs == rtfarm::config::Placement::automatic);
    BOOST_TEST(m.signals == rtfarm::config::Placement::automatic);
    BOOST_REQUIRE(m.sip_listen.size() == 1u);
    BOOST_TEST(m.sip_listen[0].str() == "0.0.0.0:5060");
    BOOST_TEST(!m.processor);
    BOOST_TEST(!m.media_ports);
    BOOST_TEST(m.control == "/run/rtfarm/f1.sock");
    BOOST_TEST(!m.control_tcp);
    BOOST_TEST(!m.media);
    BOOST_TEST(m.media_control.empty());
    BOOST_TEST((m.media_fast_path == rtfarm::config::MediaFastPath::off));
    BOOST_TEST(!m.metrics);
    BOOST_TEST(!m.media_metrics);
    BOOST_TEST(c.media_of(m) == rtfarm::config::Media::none);
    BOOST_TEST(!c.advertised_ip(m));
}

BOOST_AUTO_TEST_CASE(backend_may_have_no_sip_listen) {
    auto r = rtfarm::config::parse(
        doc(cluster(), {{"f1", frontend(1)},
                        {"b1", frontend(2, {{"role", q("backend")}, {"sip_listen", DROP}})}}),
        FILE_NAME);
    BOOST_REQUIRE_MESSAGE(r.ok(), why(r));
    BOOST_TEST(r->members[1].sip_listen.empty());
}

BOOST_AUTO_TEST_CASE(every_field_is_read) {
    auto r = rtfarm::config::parse(
        doc(cluster({{"wan_ip", q("203.0.113.1")},
                     {"farm_port", "6000"},
                     {"heartbeat_ms", "50"},
                     {"dead_after_ms", "400"},
                     {"secret_file", q("")},
                     {"media", q("anchor")},
                     {"media_timeout", "90"},
                     {"media_strict", "true"},
                     {"flood_limit", "200"},
                     {"flood_quiet_s", "30"},
                     {"flood_exempt", "[\"198.51.100.0/24\", \"2001:db8::1\"]"},
                     {"media_unlatched_timeout", "5"},
                     {"media_allow", "[\"127.0.0.0/8\", \"2001:db8::/32\"]"},
                     {"media_max_streams", "4"},
                     {"media_max_sessions", "100"},
                     {"media_max_sessions_per_source", "20"},

                     {"lbcheck_sources", "[\"192.0.2.7\", \"10.1.0.0/16\", \"2001:db8::/32\"]"}}),
            {{"f1", frontend(1, {{"wan_ip", q("")},
                                 {"sip_farm", q("member")},
                                 {"call_legs", q("locally")},
                                 {"signals", q("remotely")},
                                 {"processor", q("127.0.0.1:5070")},
                                 {"media_ports", q("10000-19999")},
                                 {"control_tcp", q("10.77.0.11:5068")},
                                 {"media", q("none")},
                                 {"media_control", q("/run/rtfarm/f1-media.sock")},
                                 {"media_fast_path", q("auto")},
                                 {"metrics", q("10.77.0.11:9100")},
                                 {"media_metrics", q("127.0.0.1:9101")}})},
             {"f2", frontend(2, {{"wan_ip", q("203.0.113.2")}, {"sip_farm", q("relay")}})}}),
        FILE_NAME);
    BOOST_REQUIRE_MESSAGE(r.ok(), why(r));
    const auto& c = *r;
    BOOST_TEST(c.cluster.wan_ip->host() == "203.0.113.1");
    BOOST_TEST(c.cluster.farm_port == 6000);
    BOOST_TEST(c.cluster.heartbeat_ms == 50u);
    BOOST_TEST(c.cluster.dead_after_ms == 400u);
    BOOST_TEST(c.cluster.media == rtfarm::config::Media::anchor);
    BOOST_TEST(c.cluster.media_timeout_s == 90u);
    BOOST_TEST(c.cluster.media_strict);
    BOOST_TEST(c.cluster.flood_limit == 200u);
    BOOST_TEST(c.cluster.flood_quiet_s == 30u);
    BOOST_REQUIRE_EQUAL(c.cluster.flood_exempt.size(), 2u);
    BOOST_TEST(c.cluster.flood_exempt[0].str() == "198.51.100.0/24");
    BOOST_TEST(c.cluster.flood_exempt[1].str() == "2001:db8::1/128");
    BOOST_TEST(c.cluster.media_unlatched_timeout_s == 5u);
    BOOST_REQUIRE(c.cluster.media_allow.size() == 2u);
    BOOST_TEST(c.cluster.media_allow[0].str() == "127.0.0.0/8");
    BOOST_TEST(c.cluster.media_allow[1].str() == "2001:db8::/32");
    BOOST_TEST(c.cluster.media_max_streams == 4u);
    BOOST_TEST(c.cluster.media_max_sessions == 100u);
    BOOST_TEST(c.cluster.media_max_sessions_per_source == 20u);
    BOOST_REQUIRE_EQUAL(c.cluster.lbcheck_sources.size(), 3u);
    BOOST_TEST(c.cluster.lbcheck_sources[0].str() == "192.0.2.7/32");
    BOOST_TEST(c.cluster.lbcheck_sources[1].str() == "10.1.0.0/16");
    BOOST_TEST(c.cluster.lbcheck_sources[2].str() == "2001:db8::/32");
    const auto& f1 = c.members[0];
    BOOST_TEST(!f1.wan_ip);
    BOOST_TEST(f1.sip_farm == rtfarm::config::SipFarm::member);
    BOOST_TEST(f1.call_legs == rtfarm::config::Placement::locally);
    BOOST_TEST(f1.signals == rtfarm::config::Placement::remotely);
    BOOST_TEST(f1.processor->str() == "127.0.0.1:5070");
    BOOST_TEST((*f1.media_ports == PortRange{10000, 19999}));
    BOOST_TEST(f1.control_tcp->str() == "10.77.0.11:5068");
    BOOST_TEST((f1.media == rtfarm::config::Media::none));
    BOOST_TEST(f1.media_control == "/run/rtfarm/f1-media.sock");
    BOOST_TEST((f1.media_fast_path == rtfarm::config::MediaFastPath::automatic));
    BOOST_TEST((c.members[1].media_fast_path == rtfarm::config::MediaFastPath::off));
    BOOST_TEST(f1.metrics->str() == "10.77.0.11:9100");
    BOOST_TEST(f1.media_metrics->str() == "127.0.0.1:9101");
    BOOST_TEST(c.media_of(f1) == rtfarm::config::Media::none);
    BOOST_TEST(c.advertised_ip(f1)->host() == "203.0.113.1");
    const auto& f2 = c.members[1];
    BOOST_TEST(c.media_of(f2) == rtfarm::config::Media::anchor);
    BOOST_TEST(c.advertised_ip(f2)->host() == "203.0.113.2");
    BOOST_TEST(f2.sip_farm == rtfarm::config::SipFarm::relay);
    BOOST_TEST(c.find("f2") == &c.members[1]);
    BOOST_TEST(c.find("f3") == nullptr);
}

BOOST_AUTO_TEST_CASE(ipv6_addresses) {
    auto r = rtfarm::config::parse(
        doc(cluster({{"wan_ip", q("[2001:db8::10]")}}),
            {{"f1", frontend(1, {{"address", q("2001:db8:77::11")},
                                 {"wan_ip", q("2001:db8::11")},
                                 {"sip_listen", R"(["[2001:db8::10]:5060", "[::]:5060"])"},
                                 {"processor", q("[::1]:5070")},
                                 {"control_tcp", q("[2001:db8:77::11]:5068")}})},
             {"f2", frontend(2)}}),
        FILE_NAME);
    BOOST_REQUIRE_MESSAGE(r.ok(), why(r));
    const auto& f1 = r->members[0];
    BOOST_TEST(f1.address.is_v6());
    BOOST_TEST(f1.address.host() == "2001:db8:77::11");
    BOOST_TEST(f1.wan_ip->host() == "2001:db8::11");
    BOOST_TEST(r->cluster.wan_ip->host() == "2001:db8::10");
    BOOST_TEST(f1.sip_listen[0].str() == "[2001:db8::10]:5060");
    BOOST_TEST(f1.sip_listen[1].is_any());
    BOOST_TEST(f1.processor->str() == "[::1]:5070");
    BOOST_TEST(r->members[1].address.is_v4()); // families may differ between members
}

BOOST_AUTO_TEST_CASE(relative_paths_resolve_against_the_file_folder) {
    TempDir dir;
    fs::create_directory(dir.path() / "keys");
    dir.write("keys/farm.key", "s3cret\r\n\n");
    std::string text = doc(cluster({{"secret_file", q("keys/farm.key")}}),
                           {{"f1", frontend(1, {{"control", q("f1.sock")},
                                                {"media_control", q("run/../f1-media.sock")}})}});
    std::string file = dir.write("cluster.json", text);
    auto r = rtfarm::config::load(file);
    BOOST_REQUIRE_MESSAGE(r.ok(), why(r));
    BOOST_TEST(r->cluster.secret_file == (dir.path() / "keys/farm.key").string());
    BOOST_TEST(r->cluster.secret == "s3cret");
    BOOST_TEST(r->members[0].control == (dir.path() / "f1.sock").string());
    BOOST_TEST(r->members[0].media_control == (dir.path() / "f1-media.sock").string());
    BOOST_TEST(fs::path(r->members[0].control).is_absolute());

    // The same text read relative to the current folder: resolved against it.
    auto here = rtfarm::config::parse(text, "cluster.json");
    BOOST_REQUIRE(!here.ok()); // no keys/farm.key in the current folder
    BOOST_TEST(here.error().message.find("cluster.json: cluster.secret_file: cannot read " +
                                         (fs::current_path() / "keys/farm.key").string()) == 0,
               here.error().message);
}

BOOST_AUTO_TEST_CASE(stream_listeners_and_tls_files) {
    TempDir dir;
    fs::create_directory(dir.path() / "tls");
    dir.write("tls/f1.pem", "cert");
    dir.write("tls/f1.key", "key");
    std::string text =
        doc(cluster(), {{"f1", frontend(1, {{"sip_listen", R"(["0.0.0.0:5060", "tcp:0.0.0.0:5060",
                                          "udp:[::1]:5062", "tls:203.0.113.1:5061"])"},
                                            {"tls", R"({"certificate": "tls/f1.pem",
                                                     "key": "tls/f1.key"})"}})}});
    auto r = rtfarm::config::load(dir.write("cluster.json", text));
    BOOST_REQUIRE_MESSAGE(r.ok(), why(r));
    const auto& m = r->members[0];
    // UDP entries stay where every existing user reads them.
    BOOST_REQUIRE(m.sip_listen.size() == 2u);
    BOOST_TEST(m.sip_listen[0].str() == "0.0.0.0:5060");
    BOOST_TEST(m.sip_listen[1].str() == "[::1]:5062");
    BOOST_REQUIRE(m.sip_stream_listen.size() == 2u);
    BOOST_TEST((m.sip_stream_listen[0].transport == rtfarm::Transport::tcp));
    BOOST_TEST(m.sip_stream_listen[0].addr.str() == "0.0.0.0:5060");
    BOOST_TEST((m.sip_stream_listen[1].transport == rtfarm::Transport::tls));
    BOOST_TEST(m.sip_stream_listen[1].addr.str() == "203.0.113.1:5061");
    BOOST_REQUIRE(m.tls.has_value());
    BOOST_TEST(m.tls->certificate == (dir.path() / "tls/f1.pem").string());
    BOOST_TEST(m.tls->key == (dir.path() / "tls/f1.key").string());
    BOOST_TEST(m.tls->ca.empty());

    // A member with only a TCP listener is a member with a listener.
    auto tcp_only =
        rtfarm::config::parse(one({{"sip_listen", R"(["tcp:0.0.0.0:5060"])"}}), FILE_NAME);
    BOOST_REQUIRE_MESSAGE(tcp_only.ok(), why(tcp_only));
    BOOST_TEST(tcp_only->members[0].sip_listen.empty());
    BOOST_TEST(tcp_only->members[0].sip_stream_listen.size() == 1u);

    // The key file is checked too.
    std::string no_key =
        doc(cluster(), {{"f1", frontend(1, {{"tls", R"({"certificate": "tls/f1.pem",
                                                                 "key": "tls/none.key"})"}})}});
    std::string file = dir.write("c2.json", no_key);
    auto bad = rtfarm::config::load(file);
    BOOST_REQUIRE(!bad.ok());
    BOOST_TEST(bad.error().message.rfind(file + ": members.f1.tls.key: cannot read " +
                                             (dir.path() / "tls/none.key").string(),
                                         0) == 0,
               bad.error().message);
}

BOOST_AUTO_TEST_CASE(secret_file_must_not_be_empty) {
    TempDir dir;
    dir.write("empty.key", "");
    dir.write("newline.key", "\n");
    for (const char* name : {"empty.key", "newline.key"}) {
        std::string file =
            dir.write("c.json", doc(cluster({{"secret_file", q(name)}}), {{"f1", frontend(1)}}));
        auto r = rtfarm::config::load(file);
        BOOST_REQUIRE(!r.ok());
        BOOST_TEST(r.error().message ==
                   file + ": cluster.secret_file: " + (dir.path() / name).string() + " is empty");
    }
}

BOOST_AUTO_TEST_CASE(load_errors) {
    auto missing = rtfarm::config::load("/nonexistent/cluster.json");
    BOOST_REQUIRE(!missing.ok());
    BOOST_TEST(missing.error().code == "io");
    BOOST_TEST(missing.error().message.rfind("/nonexistent/cluster.json: cannot open", 0) == 0);

    TempDir dir;
    auto folder = rtfarm::config::load(dir.path().string());
    BOOST_REQUIRE(!folder.ok());
    BOOST_TEST(folder.error().code == "io");

    std::string big = dir.write("big.json", std::string(1024 * 1024 + 10, ' '));
    auto too_big = rtfarm::config::load(big);
    BOOST_REQUIRE(!too_big.ok());
    BOOST_TEST(too_big.error().message.find("larger than") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(examples_load) {
    for (const char* name : {"etc/single-ip-nat.json", "etc/multi-ip-nat.json", "etc/dsr.json"}) {
        BOOST_TEST_CONTEXT(name) {
            auto r = rtfarm::config::parse(test::example_text(name), test::repo_path(name));
            BOOST_REQUIRE_MESSAGE(r.ok(), why(r));
            BOOST_TEST(!r->members.empty());
            // Members on 10.77.0.x with a secret: the farm link may run.
            BOOST_TEST(rtfarm::config::farm_link_trust(*r).ok());
        }
    }
    auto dsr =
        rtfarm::config::parse(test::example_text("etc/dsr.json"), test::repo_path("etc/dsr.json"));
    BOOST_REQUIRE(dsr.ok());
    for (const auto& m : dsr->members) {
        BOOST_TEST(m.sip_listen.size() == 2u);
        BOOST_TEST(m.sip_listen[1].is_any());
    }
}

// Issue 17: a farm whose members are not all on loopback needs a secret of
// at least 32 bytes, or says "insecure_farm_link": true; one on loopback
// (tests, a lab on one host) needs neither.
BOOST_AUTO_TEST_CASE(the_farm_link_needs_a_secret_off_loopback) {
    TempDir dir;
    auto trust = [&](const Fields& cluster_fields, const std::string& address) {
        auto c = rtfarm::config::parse(
            doc(cluster(cluster_fields), {{"f1", frontend(1, {{"address", q(address)}})}}),
            (dir.path() / "cluster.json").string());
        BOOST_REQUIRE_MESSAGE(c.ok(), why(c));
        return rtfarm::config::farm_link_trust(*c);
    };
    auto none = trust({}, "10.77.0.11");
    BOOST_REQUIRE(!none.ok());
    BOOST_TEST(none.error().message.find("cluster.secret_file: missing") != std::string::npos,
               none.error().message);
    BOOST_TEST(none.error().message.find("head -c 32 /dev/urandom") != std::string::npos);
    BOOST_TEST(trust({{"insecure_farm_link", "true"}}, "10.77.0.11").ok());
    BOOST_TEST(!trust({{"insecure_farm_link", "false"}}, "10.77.0.11").ok());
    BOOST_TEST(trust({}, "127.0.0.1").ok());

    dir.write("short.key", "s3cret\n");
    auto short_key = trust({{"secret_file", q("short.key")}}, "10.77.0.11");
    BOOST_REQUIRE(!short_key.ok());
    BOOST_TEST(short_key.error().message.find("holds 6 bytes, fewer than 32") != std::string::npos,
               short_key.error().message);
    BOOST_TEST(trust({{"secret_file", q("short.key")}}, "127.0.0.2").ok());
    dir.write("good.key", std::string(32, 'k') + "\n");
    BOOST_TEST(trust({{"secret_file", q("good.key")}}, "10.77.0.11").ok());

    // A key rotation's previous secret: held to the same length.
    auto short_previous = trust(
        {{"secret_file", q("good.key")}, {"previous_secret_file", q("short.key")}}, "10.77.0.11");
    BOOST_REQUIRE(!short_previous.ok());
    BOOST_TEST(short_previous.error().message.find("cluster.previous_secret_file") !=
                   std::string::npos,
               short_previous.error().message);

    auto not_bool = rtfarm::config::parse(
        doc(cluster({{"insecure_farm_link", q("yes")}}), {{"f1", frontend(1)}}), "c.json");
    BOOST_REQUIRE(!not_bool.ok());
    BOOST_TEST(not_bool.error().message.find("cluster.insecure_farm_link") != std::string::npos);
}

// Issue 17: a key rotation names the new secret in secret_file and the
// one it replaces in previous_secret_file (rtfarm.conf(5)).
BOOST_AUTO_TEST_CASE(a_rotation_holds_two_secrets_newest_first) {
    TempDir dir;
    dir.write("new.key", std::string(40, 'n') + "\n");
    dir.write("old.key", std::string(40, 'o') + "\n");
    auto load = [&](const Fields& fields) {
        return rtfarm::config::parse(doc(cluster(fields), {{"f1", frontend(1)}}),
                                     (dir.path() / "cluster.json").string());
    };
    auto both = load({{"secret_file", q("new.key")}, {"previous_secret_file", q("old.key")}});
    BOOST_REQUIRE_MESSAGE(both.ok(), why(both));
    BOOST_TEST(both->cluster.previous_secret_file == (dir.path() / "old.key").string());
    BOOST_TEST(both->cluster.secrets() ==
               (std::vector<std::string>{std::string(40, 'n'), std::string(40, 'o')}));
    auto one = load({{"secret_file", q("new.key")}, {"previous_secret_file", q("")}});
    BOOST_REQUIRE(one.ok());
    BOOST_TEST(one->cluster.secrets() == std::vector<std::string>{std::string(40, 'n')});
    BOOST_TEST(load({})->cluster.secrets().empty());

    auto alone = load({{"previous_secret_file", q("old.key")}});
    BOOST_REQUIRE(!alone.ok());
    BOOST_TEST(alone.error().message.find("cluster.previous_secret_file: set without "
                                          "secret_file") != std::string::npos,
               alone.error().message);
    auto same = load({{"secret_file", q("new.key")}, {"previous_secret_file", q("new.key")}});
    BOOST_REQUIRE(!same.ok());
    BOOST_TEST(same.error().message.find("the same secret as secret_file") != std::string::npos,
               same.error().message);
    auto missing = load({{"secret_file", q("new.key")}, {"previous_secret_file", q("gone.key")}});
    BOOST_REQUIRE(!missing.ok());
    BOOST_TEST(missing.error().message.find("cluster.previous_secret_file: cannot read") !=
                   std::string::npos,
               missing.error().message);
}

BOOST_AUTO_TEST_CASE(two_loads_of_one_file_are_equal) {
    std::string path = test::repo_path("etc/single-ip-nat.json");
    auto a = rtfarm::config::parse(test::example_text("etc/single-ip-nat.json"), path);
    auto b = rtfarm::config::parse(test::example_text("etc/single-ip-nat.json"), path);
    BOOST_REQUIRE(a.ok());
    BOOST_REQUIRE(b.ok());
    BOOST_TEST((*a == *b));
    rtfarm::config::ClusterConfig changed = *b;
    changed.members[0].media_ports->hi -= 1;
    BOOST_TEST(!(*a == changed));
}

BOOST_AUTO_TEST_CASE(enum_names_round_trip) {
    for (auto v : {rtfarm::config::Role::frontend, rtfarm::config::Role::backend,
                   rtfarm::config::Role::standalone})
        BOOST_TEST((rtfarm::config::parse_role(rtfarm::config::to_string(v)) == v));
    for (auto v : {rtfarm::config::SipFarm::member, rtfarm::config::SipFarm::disabled,
                   rtfarm::config::SipFarm::relay, rtfarm::config::SipFarm::automatic})
        BOOST_TEST((rtfarm::config::parse_sip_farm(rtfarm::config::to_string(v)) == v));
    for (auto v :
         {rtfarm::config::Placement::locally, rtfarm::config::Placement::locally_for_others,
          rtfarm::config::Placement::remotely, rtfarm::config::Placement::automatic})
        BOOST_TEST((rtfarm::config::parse_placement(rtfarm::config::to_string(v)) == v));
    for (auto v : {rtfarm::config::Media::none, rtfarm::config::Media::anchor})
        BOOST_TEST((rtfarm::config::parse_media(rtfarm::config::to_string(v)) == v));
    BOOST_TEST(rtfarm::config::to_string(rtfarm::config::Placement::locally_for_others) ==
               "locally-for-others");
    BOOST_TEST(rtfarm::config::to_string(rtfarm::config::SipFarm::automatic) == "auto");
    BOOST_TEST(!rtfarm::config::parse_role("Frontend"));
    BOOST_TEST(!rtfarm::config::parse_placement("automatic"));
    BOOST_TEST(!rtfarm::config::parse_media(""));
}

BOOST_AUTO_TEST_SUITE_END()
