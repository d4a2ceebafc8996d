#include "media.hpp"

#include "cluster/modes.hpp"
#include "connect.hpp"
#include "control/control_client.hpp"
#include "media/control_messages.hpp"
#include "table.hpp"

#include <iterator>
#include <string_view>
#include <vector>

namespace rtfarm::ctl {
namespace {

// What became of asking a member's rtprelayd: its name in --json
// ("rtprelayd") and its words in the table (cgclusterctl(8)).
enum class RelayState { up, not_running, not_configured, error };

struct RelayStateText {
    RelayState state;
    std::string_view name;
    std::string_view words;
};

constexpr RelayStateText RELAY_STATES[] = {
    {RelayState::up, "up", "up"},
    {RelayState::not_running, "not_running", "not running"},
    {RelayState::not_configured, "not_configured", "not configured"},
    {RelayState::error, "error", "error"},
};

constexpr bool relay_states_in_order() {
    for (size_t i = 0; i < std::size(RELAY_STATES); ++i)
        if (static_cast<size_t>(RELAY_STATES[i].state) != i)
            return false;
    return std::size(RELAY_STATES) == static_cast<size_t>(RelayState::error) + 1;
}
static_assert(relay_states_in_order(), "RELAY_STATES: one entry per RelayState, in order");

const RelayStateText& text_of(RelayState s) {
    return RELAY_STATES[static_cast<size_t>(s)];
}

// One member's rtprelayd, as asked.
struct MediaRow {
    std::string id;
    std::string target;      // its media_control socket, "" when none is configured
    std::string media;       // the member's media mode; "" when asked by address only
    bool hosts_legs = false; // it creates call legs itself (call_legs not remotely)
    RelayState state = RelayState::error;
    std::string error;         // why, when not up
    media::RelayStats service; // rtprelayd's own counters, when up
    media::ListReply calls;    // its sessions (the `list` op), when up
    bool problem = false;
};

MediaRow ask(MediaRow row, std::chrono::milliseconds timeout) {
    if (row.target.empty()) {
        row.state = RelayState::not_configured;
        row.error = "no media_control socket in the config";
        return row;
    }
    auto client = ctl::connect(row.target, timeout);
    if (!client) {
        row.state = RelayState::not_running;
        row.error = client.error().message;
        return row;
    }
    auto stats = client->call("stats", json::Json::object(), timeout);
    if (!stats) {
        row.state = RelayState::error;
        row.error = stats.error().message;
        return row;
    }
    std::string program = stats.value()["program"].as_string().value_or("?");
    if (program != "rtprelayd") {
        row.state = RelayState::error;
        row.error = row.target + " is " + program + "'s socket, not rtprelayd's";
        return row;
    }
    if (row.id.empty())
        row.id = stats.value()["member"].as_string().value_or("?");
    row.state = RelayState::up;
    auto service = media::RelayStats::parse(stats.value()["service"]);
    if (!service) {
        row.state = RelayState::error;
        row.error = row.target + ": rtprelayd's stats: " + service.error().message;
        return row;
    }
    row.service = std::move(*service);
    auto list = client->call(media::OP_LIST, json::Json::object(), timeout);
    auto calls = list ? media::ListReply::parse(*list) : Result<media::ListReply>(list.error());
    if (calls)
        row.calls = std::move(*calls);
    return row;
}

json::Json sessions_json(const media::ListReply& list) {
    json::Json out = json::Json::array();
    for (const auto& s : list.sessions)
        out.append(s.to_json());
    return out;
}

// The address the relay writes into SDP; "" before it started.
std::string advertised_ip(const MediaRow& r) {
    if (r.state != RelayState::up || !r.service.running)
        return "";
    return r.service.running->advertised_ip;
}

std::optional<long long> sessions(const MediaRow& r) {
    if (r.state != RelayState::up || !r.service.running)
        return std::nullopt;
    return r.service.running->sessions;
}

int print(const std::vector<MediaRow>& rows, bool json_output, std::ostream& out,
          std::ostream& err) {
    long long total = 0;
    bool problem = false;
    for (const auto& r : rows) {
        total += sessions(r).value_or(0);
        problem = problem || r.problem;
    }
    if (json_output) {
        auto list = json::Json::array();
        for (const auto& r : rows) {
            auto item = json::Json::object().set("id", r.id).set("target", r.target);
            if (!r.media.empty())
                item.set("media", r.media).set("hosts_call_legs", r.hosts_legs);
            item.set("rtprelayd", text_of(r.state).name);
            auto n = sessions(r);
            item.set("sessions", n ? json::Json::integer(*n) : json::Json::null());
            if (r.state == RelayState::up)
                item.set("media_ports", r.service.media_ports)
                    .set("advertised_ip", advertised_ip(r))
                    .set("calls", sessions_json(r.calls))
                    .set("stats", r.service.to_json());
            else
                item.set("error", r.error);
            item.set("problem", r.problem);
            list.append(std::move(item));
        }
        out << json::Json::object()
                   .set("ok", !problem)
                   .set("sessions", total)
                   .set("members", std::move(list))
                   .dump()
            << '\n';
    } else {
        std::vector<Row> table{
            {"MEMBER", "RTPRELAYD", "SESSIONS", "MEDIA_PORTS", "ADVERTISED", "NOTE"}};
        for (const auto& r : rows) {
            auto n = sessions(r);
            std::string note = n ? (*n == 0 ? "no sessions" : "") : r.error;
            if (r.problem)
                note = "PROBLEM: media is anchored and " + r.id +
                       " hosts call legs, but its rtprelayd does not answer";
            table.push_back({r.id, std::string(text_of(r.state).words),
                             n ? std::to_string(*n) : "-",
                             r.state == RelayState::up ? r.service.media_ports : "-",
                             advertised_ip(r).empty() ? "-" : advertised_ip(r), note});
        }
        print_table(table, out);
        out << total << (total == 1 ? " session" : " sessions") << " in all\n";
        std::vector<Row> calls{
            {"MEMBER", "CALL-ID", "STREAMS", "ANSWERED", "AGE_S", "PACKETS", "LAST_PACKET_MS"}};
        for (const auto& r : rows) {
            if (r.state != RelayState::up)
                continue;
            for (const auto& c : r.calls.sessions)
                calls.push_back(
                    {r.id, c.call_id, std::to_string(c.streams), c.answered ? "yes" : "no",
                     std::to_string(c.age_ms / 1000), std::to_string(c.packets),
                     c.last_packet_age_ms ? std::to_string(*c.last_packet_age_ms) : "-"});
        }
        if (calls.size() > 1) {
            out << '\n';
            print_table(calls, out);
        }
    }
    for (const auto& r : rows)
        if (r.problem)
            err << "cgclusterctl: media: " << r.id << ": " << r.error << '\n';
    return problem ? 1 : 0;
}

} // namespace

int run_media(const config::ClusterConfig& cfg, bool json_output, std::chrono::milliseconds timeout,
              std::ostream& out, std::ostream& err) {
    auto modes = cluster::resolve_all(cfg);
    std::vector<MediaRow> rows;
    for (size_t i = 0; i < cfg.members.size(); ++i) {
        const auto& m = cfg.members[i];
        MediaRow r;
        r.id = m.id;
        r.target = m.media_control;
        r.media = config::to_string(cfg.media_of(m));
        r.hosts_legs = modes[i].call_legs != config::Placement::remotely;
        r = ask(std::move(r), timeout);
        r.problem =
            r.state != RelayState::up && cfg.media_of(m) == config::Media::anchor && r.hosts_legs;
        rows.push_back(std::move(r));
    }
    return print(rows, json_output, out, err);
}

int run_media_one(const std::string& target, bool json_output, std::chrono::milliseconds timeout,
                  std::ostream& out, std::ostream& err) {
    MediaRow r;
    r.target = target;
    r = ask(std::move(r), timeout);
    if (r.state != RelayState::up) {
        err << "cgclusterctl: media: " << r.error << '\n';
        return 2;
    }
    return print({r}, json_output, out, err);
}

} // namespace rtfarm::ctl
