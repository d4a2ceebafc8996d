#include "daemon/metrics.hpp"

#include "base/assert.hpp"

#include <jansson.h>

#include <charconv>
#include <cmath>
#include <optional>

namespace rtfarm::daemon::metrics {
namespace {

bool name_char(char c, bool first) {
    bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    return alpha || c == ':' || (!first && c >= '0' && c <= '9');
}

bool valid_name(std::string_view n, bool label) {
    if (n.empty())
        return false;
    for (size_t i = 0; i < n.size(); ++i)
        if (!name_char(n[i], i == 0) || (label && n[i] == ':'))
            return false;
    return true;
}

// Shortest text that reads back as the same double; "NaN", "+Inf", "-Inf".
std::string format_value(double v) {
    if (std::isnan(v))
        return "NaN";
    if (std::isinf(v))
        return v > 0 ? "+Inf" : "-Inf";
    char buf[64];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    RTFARM_ASSERT(ec == std::errc());
    return std::string(buf, end);
}

std::optional<double> number(const json::Json& v) {
    if (json_is_integer(v.get()))
        return static_cast<double>(json_integer_value(v.get()));
    if (json_is_real(v.get()))
        return json_real_value(v.get());
    if (json_is_boolean(v.get()))
        return json_is_true(v.get()) ? 1.0 : 0.0;
    return std::nullopt;
}

// Builds the families of one stats reply in order.
class Builder {
public:
    // A family without labels; no sample when `v` is not a number.
    void single(const char* name, Type type, const char* help, const json::Json& v,
                double scale = 1.0) {
        Family& f = add(name, type, help);
        if (auto n = number(v))
            f.samples.push_back({{}, *n * scale});
    }
    // One sample per numeric member of object `obj`, labelled `label`=key.
    void by_key(const char* name, Type type, const char* help, const char* label,
                const json::Json& obj) {
        Family& f = add(name, type, help);
        if (!obj.is_object())
            return;
        const char* key;
        json_t* value;
        json_object_foreach(obj.get(), key, value) {
            if (auto n = number(json::Json::borrow(value)))
                f.samples.push_back({{{label, key}}, *n});
        }
    }
    Family& add(const char* name, Type type, const char* help) {
        m_out.push_back({name, help, type, {}});
        return m_out.back();
    }
    std::vector<Family> take() { return std::move(m_out); }

private:
    std::vector<Family> m_out;
};

void shell_families(Builder& b, const json::Json& stats) {
    Family& info = b.add("rtfarm_build_info", Type::gauge,
                         "Always 1; the labels say which program, version and member this is.");
    info.samples.push_back({{{"program", stats["program"].as_string().value_or("")},
                             {"version", stats["version"].as_string().value_or("")},
                             {"member", stats["member"].as_string().value_or("")}},
                            1});
    b.single("rtfarm_uptime_seconds", Type::gauge, "Seconds since the daemon started.",
             stats["uptime_ms"], 0.001);
    Family& reloads = b.add("rtfarm_config_reloads_total", Type::counter,
                            "Config reloads (SIGHUP or the reload op), by result.");
    if (auto n = number(stats["reloads"]))
        reloads.samples.push_back({{{"result", "ok"}}, *n});
    if (auto n = number(stats["reload_failures"]))
        reloads.samples.push_back({{{"result", "failed"}}, *n});

    json::Json control = stats["control"];
    Family& requests = b.add("rtfarm_control_requests_total", Type::counter,
                             "Control requests answered, by op and result (ok or the error code).");
    if (json::Json results = control["results"]; results.is_object()) {
        const char* op;
        json_t* by;
        json_object_foreach(results.get(), op, by) {
            const char* result;
            json_t* n;
            json_object_foreach(by, result, n) {
                if (auto v = number(json::Json::borrow(n)))
                    requests.samples.push_back({{{"op", op}, {"result", result}}, *v});
            }
        }
    }
    b.by_key("rtfarm_control_errors_total", Type::counter,
             "Control error replies by code, refused requests (unknown op, bad JSON) included.",
             "code", control["errors"]);
    b.single("rtfarm_control_connections_total", Type::counter, "Control connections accepted.",
             control["accepted"]);
    b.single("rtfarm_control_clients", Type::gauge, "Control connections open.",
             control["clients"]);
    json::Json loop = stats["loop"];
    b.single("rtfarm_loop_slow_callbacks_total", Type::counter,
             "Event loop callbacks that held the loop 1 ms or longer (busy or preempted).",
             loop["slow_callbacks"]);
    b.single("rtfarm_loop_longest_callback_seconds", Type::gauge,
             "The longest event loop callback since the daemon started.",
             loop["longest_callback_us"], 1e-6);
}

void sipfarmd_families(Builder& b, const json::Json& s) {
    b.single("rtfarm_sip_packets_received_total", Type::counter,
             "Datagrams received on the SIP sockets and the farm link.", s["received"]);
    b.single("rtfarm_sip_packets_processed_total", Type::counter,
             "SIP messages this member processed as the stateless proxy.", s["processed"]);
    b.single("rtfarm_sip_packets_relayed_total", Type::counter,
             "SIP messages relayed to their owner over the farm link.", s["relayed"]);
    b.by_key("rtfarm_sip_packets_dropped_total", Type::counter, "Datagrams dropped, by reason.",
             "reason", s["dropped_by"]);
    b.by_key("rtfarm_farm_link_relays_total", Type::counter,
             "SIP messages relayed over the farm link, by the member they went to.", "peer",
             s["relayed_to"]);
    b.single("rtfarm_farm_link_received_total", Type::counter,
             "SIP messages other members relayed to this one.", s["relayed_in"]);
    b.by_key("rtfarm_sip_routed_total", Type::counter,
             "SIP messages routed, by the routing rule that decided.", "rule", s["routed_by"]);
    b.single("rtfarm_sip_to_processor_total", Type::counter,
             "SIP messages sent to this member's processor.", s["to_processor"]);
    b.single("rtfarm_sip_to_outside_total", Type::counter, "SIP messages sent out of the farm.",
             s["to_outside"]);
    b.single("rtfarm_sip_replies_total", Type::counter,
             "SIP responses sipfarmd built itself (lbcheck probes, refusals).", s["replies"]);
    Family& hb = b.add("rtfarm_heartbeats_total", Type::counter,
                       "Heartbeats on the farm link, by direction.");
    if (auto n = number(s["heartbeats_in"]))
        hb.samples.push_back({{{"direction", "received"}}, *n});
    if (auto n = number(s["heartbeats_out"]))
        hb.samples.push_back({{{"direction", "sent"}}, *n});
    b.by_key("rtfarm_cluster_members", Type::gauge,
             "Members of this member's view, by state (up, draining, down).", "state",
             s["members"]);
    b.single("rtfarm_cluster_view_epoch", Type::gauge,
             "Epoch of the membership view; it moves when the view changes.", s["epoch"]);
    // SIP over TCP and TLS: the client connections this member holds.
    b.by_key("rtfarm_farm_link_relays_by_transport_total", Type::counter,
             "SIP messages relayed over the farm link, by the transport they arrived on.",
             "transport", s["relayed_by_transport"]);
    json::Json streams = s["streams"];
    b.single("rtfarm_sip_connections", Type::gauge,
             "SIP connections (TCP, TLS) open: accepted from clients and opened by this member.",
             streams["connections"]);
    b.single("rtfarm_sip_connections_outgoing", Type::gauge,
             "SIP connections open that this member opened to targets.", streams["outgoing"]);
    b.single("rtfarm_sip_connects_total", Type::counter,
             "SIP connections this member opened to targets (TCP, TLS).", streams["connects"]);
    b.single("rtfarm_sip_connect_failures_total", Type::counter,
             "SIP connections to targets that failed (refused, timed out, no socket).",
             streams["connect_failures"]);
    b.single("rtfarm_sip_connects_held_back_total", Type::counter,
             "SIP connections to targets not tried: the target failed in the last seconds.",
             streams["held_back"]);
    b.single("rtfarm_sip_to_target_connection_total", Type::counter,
             "SIP requests sent on a connection this member opened to a target.",
             s["to_target_connection"]);
    b.single("rtfarm_sip_connections_accepted_total", Type::counter,
             "SIP client connections accepted.", streams["accepted"]);
    b.single("rtfarm_sip_connections_refused_total", Type::counter,
             "SIP client connections refused (the connection limit).", streams["refused"]);
    b.by_key("rtfarm_sip_connections_closed_total", Type::counter,
             "SIP client connections closed, by reason.", "reason", streams["closed_by"]);
    b.single("rtfarm_sip_framing_errors_total", Type::counter,
             "SIP client connections closed for a framing error.", streams["framing_errors"]);
    b.single("rtfarm_sip_to_connection_total", Type::counter,
             "SIP messages written on a client connection this member holds.", s["to_connection"]);
    b.single("rtfarm_sip_to_holder_total", Type::counter,
             "SIP messages relayed to the member holding their client connection.", s["to_holder"]);
    b.single("rtfarm_sip_connection_gone_total", Type::counter,
             "SIP messages for a client connection that was gone (dropped, or answered 477).",
             s["conn_gone"]);
}

void rtprelayd_families(Builder& b, const json::Json& s) {
    b.single("rtfarm_media_draining", Type::gauge, "1 while rtprelayd drains.", s["draining"]);
    b.single("rtfarm_media_sessions", Type::gauge, "Media sessions (calls) open.", s["sessions"]);
    b.single("rtfarm_media_streams", Type::gauge, "Media streams open.", s["streams"]);
    b.single("rtfarm_media_sources", Type::gauge,
             "Source addresses holding calls (for media_max_sessions_per_source).", s["sources"]);
    json::Json ports = s["ports"];
    b.single("rtfarm_media_ports_free", Type::gauge, "Ports of the media range free.",
             ports["free"]);
    b.single("rtfarm_media_ports_capacity", Type::gauge, "Ports of the media range.",
             ports["capacity"]);
    b.single("rtfarm_media_port_exhaustions_total", Type::counter,
             "Port allocations refused because the range was full.", ports["exhausted"]);
    b.single("rtfarm_media_packets_relayed_total", Type::counter, "RTP and RTCP packets relayed.",
             s["packets"]);
    b.single("rtfarm_media_bytes_relayed_total", Type::counter, "RTP and RTCP bytes relayed.",
             s["bytes"]);
    b.by_key("rtfarm_media_packets_dropped_total", Type::counter,
             "Media packets received and not relayed, by reason.", "reason", s["dropped"]);
    b.single("rtfarm_media_send_failures_total", Type::counter,
             "Media packets the kernel refused to send.", s["send_failed"]);
    b.single("rtfarm_media_sessions_created_total", Type::counter, "Media sessions created.",
             s["created"]);
    Family& closed = b.add("rtfarm_media_sessions_closed_total", Type::counter,
                           "Media sessions closed, by reason (deleted, expired, unlatched).");
    if (auto n = number(s["deleted"]))
        closed.samples.push_back({{{"reason", "deleted"}}, *n});
    // "unlatched" is a part of "expired", shown on its own.
    auto expired = number(s["expired"]);
    auto unlatched = number(s["unlatched"]);
    if (expired)
        closed.samples.push_back({{{"reason", "expired"}}, *expired - unlatched.value_or(0)});
    if (unlatched)
        closed.samples.push_back({{{"reason", "unlatched"}}, *unlatched});
    b.by_key("rtfarm_media_refused_total", Type::counter,
             "Offers and answers refused, by error code (sdp_address_refused, too_many_streams, "
             "sessions_exhausted, source_sessions_exhausted, ports_exhausted, ...).",
             "code", s["failed"]);
    // The kernel fast path (rtprelayd(8)), when this rtprelayd has one to say.
    json::Json fast = s["fast_path"];
    if (fast.is_object()) {
        auto path = fast["path"].as_string();
        b.single("rtfarm_media_fast_path_kernel", Type::gauge,
                 "1 while latched streams are forwarded by the kernel fast path, 0 in userspace.",
                 json::Json::integer(path && *path == "kernel" ? 1 : 0));
        b.single("rtfarm_media_fast_path_entries", Type::gauge,
                 "Latched directions in the kernel fast path's map.", fast["kernel_entries"]);
        b.single("rtfarm_media_fast_path_packets_total", Type::counter,
                 "Of rtfarm_media_packets_relayed_total, packets the kernel fast path forwarded.",
                 fast["packets"]);
    }
}

} // namespace

std::string escape_label_value(std::string_view v) {
    std::string out;
    out.reserve(v.size());
    for (char c : v) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '"')
            out += "\\\"";
        else if (c == '\n')
            out += "\\n";
        else
            out += c;
    }
    return out;
}

std::string escape_help(std::string_view v) {
    std::string out;
    out.reserve(v.size());
    for (char c : v) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '\n')
            out += "\\n";
        else
            out += c;
    }
    return out;
}

std::string render(const std::vector<Family>& families) {
    std::string out;
    for (const Family& f : families) {
        RTFARM_ASSERT(valid_name(f.name, false));
        RTFARM_ASSERT(f.type != Type::counter || f.name.ends_with("_total"));
        out += "# HELP " + f.name + " " + escape_help(f.help) + "\n";
        out += "# TYPE " + f.name + (f.type == Type::counter ? " counter\n" : " gauge\n");
        for (const Sample& s : f.samples) {
            out += f.name;
            if (!s.labels.empty()) {
                out += '{';
                for (size_t i = 0; i < s.labels.size(); ++i) {
                    RTFARM_ASSERT(valid_name(s.labels[i].first, true));
                    if (i > 0)
                        out += ',';
                    out +=
                        s.labels[i].first + "=\"" + escape_label_value(s.labels[i].second) + "\"";
                }
                out += '}';
            }
            out += ' ' + format_value(s.value) + '\n';
        }
    }
    return out;
}

std::vector<Family> from_stats(const json::Json& stats) {
    Builder b;
    shell_families(b, stats);
    std::string program = stats["program"].as_string().value_or("");
    json::Json service = stats["service"];
    if (program == "sipfarmd")
        sipfarmd_families(b, service);
    else if (program == "rtprelayd")
        rtprelayd_families(b, service);
    return b.take();
}

} // namespace rtfarm::daemon::metrics
