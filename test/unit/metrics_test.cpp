// The Prometheus exposition: escaping, the exact text render() writes, and
// the families built from sipfarmd's and rtprelayd's `stats` replies, read
// back with the strict parser the integration test uses on a live scrape.
#include "daemon/metrics.hpp"
#include "json/json.hpp"

#include "prom_parse.hpp"

#include <boost/test/unit_test.hpp>

#include <string>

using namespace rtfarm;
using namespace rtfarm::daemon::metrics;
using rtfarm::test::parse_prometheus;

namespace {

json::Json parse(const std::string& text) {
    auto j = json::parse(text, "test");
    if (!j.ok())
        BOOST_FAIL("bad test JSON: " + j.error().message);
    return std::move(j.value());
}

const char* SIPFARMD_STATS = R"({"program": "sipfarmd", "member": "f1", "version": "0.1.0",
  "uptime_ms": 2500, "reloads": 2, "reload_failures": 1,
  "control": {"clients": 1, "accepted": 7, "rejected": 0, "slow_readers": 0, "retries": 0,
              "requests": {"ping": 3, "stats": 4},
              "errors": {"bad_json": 1, "reload_failed": 1},
              "results": {"ping": {"ok": 3}, "reload": {"ok": 2, "reload_failed": 1}}},
  "service": {"sockets": [], "received": 120, "processed": 80, "relayed": 30,
              "relayed_in": 10, "to_processor": 70, "to_outside": 60, "replies": 5,
              "heartbeats_in": 40, "heartbeats_out": 41, "epoch": 3,
              "members": {"up": 2, "draining": 0, "down": 1},
              "dropped": 10, "relayed_to": {"f2": 20, "f3": 10},
              "routed_by": {"call_id_owner": 50},
              "dropped_by": {"not_sip": 9, "weird \"q\"\\": 1},
              "streams": {"connections": 2, "accepted": 5, "refused": 1, "framing_errors": 1,
                          "outgoing": 1, "connects": 6, "connect_failures": 2, "held_back": 4,
                          "closed_by": {"framing": 1, "peer_closed": 2}},
              "to_connection": 40, "to_target_connection": 7, "to_holder": 12, "conn_gone": 3,
              "relayed_by_transport": {"udp": 25, "tcp": 4, "tls": 1}}})";

} // namespace

BOOST_AUTO_TEST_SUITE(metrics)

BOOST_AUTO_TEST_CASE(label_values_and_help_are_escaped) {
    BOOST_TEST(escape_label_value("plain") == "plain");
    BOOST_TEST(escape_label_value("a\"b\\c\nd") == "a\\\"b\\\\c\\nd");
    BOOST_TEST(escape_help("say \"hi\"\\\nnext") == "say \"hi\"\\\\\\nnext");
}

BOOST_AUTO_TEST_CASE(render_writes_exactly_the_format) {
    std::vector<Family> f{
        {"rtfarm_x_total",
         "Things, by kind.\nSecond line.",
         Type::counter,
         {{{{"kind", "a\"b"}}, 3}, {{{"kind", "c"}, {"peer", "f2"}}, 12345678901}}},
        {"rtfarm_y_seconds", "A gauge.", Type::gauge, {{{}, 1.5}}},
        {"rtfarm_empty_total", "No samples yet.", Type::counter, {}},
    };
    BOOST_TEST(render(f) == "# HELP rtfarm_x_total Things, by kind.\\nSecond line.\n"
                            "# TYPE rtfarm_x_total counter\n"
                            "rtfarm_x_total{kind=\"a\\\"b\"} 3\n"
                            "rtfarm_x_total{kind=\"c\",peer=\"f2\"} 12345678901\n"
                            "# HELP rtfarm_y_seconds A gauge.\n"
                            "# TYPE rtfarm_y_seconds gauge\n"
                            "rtfarm_y_seconds 1.5\n"
                            "# HELP rtfarm_empty_total No samples yet.\n"
                            "# TYPE rtfarm_empty_total counter\n");
    auto back = parse_prometheus(render(f));
    BOOST_TEST(back.error.empty(), back.error);
    BOOST_TEST(back.value("rtfarm_x_total", {{"kind", "a\"b"}}).value_or(-1) == 3);
}

BOOST_AUTO_TEST_CASE(sipfarmd_stats_become_families) {
    std::string text = render(from_stats(parse(SIPFARMD_STATS)));
    auto p = parse_prometheus(text);
    BOOST_REQUIRE_MESSAGE(p.error.empty(), p.error + "\n" + text);
    BOOST_TEST(p.value("rtfarm_build_info",
                       {{"program", "sipfarmd"}, {"version", "0.1.0"}, {"member", "f1"}})
                   .value_or(-1) == 1);
    BOOST_TEST(p.value("rtfarm_uptime_seconds").value_or(-1) == 2.5);
    BOOST_TEST(p.value("rtfarm_config_reloads_total", {{"result", "ok"}}).value_or(-1) == 2);
    BOOST_TEST(p.value("rtfarm_config_reloads_total", {{"result", "failed"}}).value_or(-1) == 1);
    BOOST_TEST(
        p.value("rtfarm_control_requests_total", {{"op", "ping"}, {"result", "ok"}}).value_or(-1) ==
        3);
    BOOST_TEST(
        p.value("rtfarm_control_requests_total", {{"op", "reload"}, {"result", "reload_failed"}})
            .value_or(-1) == 1);
    BOOST_TEST(p.value("rtfarm_control_errors_total", {{"code", "bad_json"}}).value_or(-1) == 1);
    BOOST_TEST(p.value("rtfarm_sip_packets_received_total").value_or(-1) == 120);
    BOOST_TEST(p.value("rtfarm_sip_packets_processed_total").value_or(-1) == 80);
    BOOST_TEST(p.value("rtfarm_sip_packets_relayed_total").value_or(-1) == 30);
    BOOST_TEST(p.value("rtfarm_sip_packets_dropped_total", {{"reason", "not_sip"}}).value_or(-1) ==
               9);
    BOOST_TEST(
        p.value("rtfarm_sip_packets_dropped_total", {{"reason", "weird \"q\"\\"}}).value_or(-1) ==
        1);
    BOOST_TEST(text.find("rtfarm_sip_packets_dropped_total{reason=\"weird \\\"q\\\"\\\\\"} 1\n") !=
               std::string::npos);
    BOOST_TEST(p.value("rtfarm_farm_link_relays_total", {{"peer", "f2"}}).value_or(-1) == 20);
    // SIP over TCP and TLS.
    BOOST_TEST(p.value("rtfarm_sip_connections").value_or(-1) == 2);
    BOOST_TEST(p.value("rtfarm_sip_connections_accepted_total").value_or(-1) == 5);
    BOOST_TEST(p.value("rtfarm_sip_connections_refused_total").value_or(-1) == 1);
    BOOST_TEST(
        p.value("rtfarm_sip_connections_closed_total", {{"reason", "peer_closed"}}).value_or(-1) ==
        2);
    BOOST_TEST(p.value("rtfarm_sip_framing_errors_total").value_or(-1) == 1);
    BOOST_TEST(p.value("rtfarm_sip_connections_outgoing").value_or(-1) == 1);
    BOOST_TEST(p.value("rtfarm_sip_connects_total").value_or(-1) == 6);
    BOOST_TEST(p.value("rtfarm_sip_connect_failures_total").value_or(-1) == 2);
    BOOST_TEST(p.value("rtfarm_sip_connects_held_back_total").value_or(-1) == 4);
    BOOST_TEST(p.value("rtfarm_sip_to_target_connection_total").value_or(-1) == 7);
    BOOST_TEST(p.value("rtfarm_sip_to_connection_total").value_or(-1) == 40);
    BOOST_TEST(p.value("rtfarm_sip_to_holder_total").value_or(-1) == 12);
    BOOST_TEST(p.value("rtfarm_sip_connection_gone_total").value_or(-1) == 3);
    BOOST_TEST(p.value("rtfarm_farm_link_relays_by_transport_total", {{"transport", "tcp"}})
                   .value_or(-1) == 4);
    BOOST_TEST(p.value("rtfarm_farm_link_relays_total", {{"peer", "f3"}}).value_or(-1) == 10);
    BOOST_TEST(p.value("rtfarm_farm_link_received_total").value_or(-1) == 10);
    BOOST_TEST(p.value("rtfarm_sip_routed_total", {{"rule", "call_id_owner"}}).value_or(-1) == 50);
    BOOST_TEST(p.value("rtfarm_heartbeats_total", {{"direction", "sent"}}).value_or(-1) == 41);
    BOOST_TEST(p.value("rtfarm_cluster_members", {{"state", "up"}}).value_or(-1) == 2);
    BOOST_TEST(p.value("rtfarm_cluster_members", {{"state", "down"}}).value_or(-1) == 1);
    BOOST_TEST(p.value("rtfarm_cluster_view_epoch").value_or(-1) == 3);
    BOOST_TEST(p.types["rtfarm_cluster_members"] == "gauge");
    BOOST_TEST(p.types["rtfarm_sip_packets_received_total"] == "counter");
    // No media families in sipfarmd's.
    BOOST_TEST(!p.types.count("rtfarm_media_sessions"));
}

BOOST_AUTO_TEST_CASE(rtprelayd_stats_give_exactly_this_text) {
    auto stats = parse(R"({"program": "rtprelayd", "member": "f2", "version": "0.1.0",
      "uptime_ms": 1000, "reloads": 0, "reload_failures": 0,
      "control": {"clients": 0, "accepted": 1, "requests": {}, "errors": {},
                  "results": {"offer": {"ok": 4, "no_ports": 1}}},
      "loop": {"slow_callbacks": 2, "longest_callback_us": 1500},
      "service": {"member": "f2", "draining": false, "sessions": 3, "streams": 6, "sources": 2,
                  "ports": {"capacity": 1000, "in_use": 24, "free": 976, "exhausted": 1},
                  "packets": 500, "bytes": 86000,
                  "dropped": {"stranger": 2, "no_peer": 0, "too_small": 1, "oversize": 0},
                  "send_failed": 0, "created": 5, "deleted": 1, "expired": 3, "unlatched": 2,
                  "failed": {"sdp_address_refused": 4}}})");
    std::string want =
        R"(# HELP rtfarm_build_info Always 1; the labels say which program, version and member this is.
# TYPE rtfarm_build_info gauge
rtfarm_build_info{program="rtprelayd",version="0.1.0",member="f2"} 1
# HELP rtfarm_uptime_seconds Seconds since the daemon started.
# TYPE rtfarm_uptime_seconds gauge
rtfarm_uptime_seconds 1
# HELP rtfarm_config_reloads_total Config reloads (SIGHUP or the reload op), by result.
# TYPE rtfarm_config_reloads_total counter
rtfarm_config_reloads_total{result="ok"} 0
rtfarm_config_reloads_total{result="failed"} 0
# HELP rtfarm_control_requests_total Control requests answered, by op and result (ok or the error code).
# TYPE rtfarm_control_requests_total counter
rtfarm_control_requests_total{op="offer",result="ok"} 4
rtfarm_control_requests_total{op="offer",result="no_ports"} 1
# HELP rtfarm_control_errors_total Control error replies by code, refused requests (unknown op, bad JSON) included.
# TYPE rtfarm_control_errors_total counter
# HELP rtfarm_control_connections_total Control connections accepted.
# TYPE rtfarm_control_connections_total counter
rtfarm_control_connections_total 1
# HELP rtfarm_control_clients Control connections open.
# TYPE rtfarm_control_clients gauge
rtfarm_control_clients 0
# HELP rtfarm_loop_slow_callbacks_total Event loop callbacks that held the loop 1 ms or longer (busy or preempted).
# TYPE rtfarm_loop_slow_callbacks_total counter
rtfarm_loop_slow_callbacks_total 2
# HELP rtfarm_loop_longest_callback_seconds The longest event loop callback since the daemon started.
# TYPE rtfarm_loop_longest_callback_seconds gauge
rtfarm_loop_longest_callback_seconds 0.0015
# HELP rtfarm_media_draining 1 while rtprelayd drains.
# TYPE rtfarm_media_draining gauge
rtfarm_media_draining 0
# HELP rtfarm_media_sessions Media sessions (calls) open.
# TYPE rtfarm_media_sessions gauge
rtfarm_media_sessions 3
# HELP rtfarm_media_streams Media streams open.
# TYPE rtfarm_media_streams gauge
rtfarm_media_streams 6
# HELP rtfarm_media_sources Source addresses holding calls (for media_max_sessions_per_source).
# TYPE rtfarm_media_sources gauge
rtfarm_media_sources 2
# HELP rtfarm_media_ports_free Ports of the media range free.
# TYPE rtfarm_media_ports_free gauge
rtfarm_media_ports_free 976
# HELP rtfarm_media_ports_capacity Ports of the media range.
# TYPE rtfarm_media_ports_capacity gauge
rtfarm_media_ports_capacity 1000
# HELP rtfarm_media_port_exhaustions_total Port allocations refused because the range was full.
# TYPE rtfarm_media_port_exhaustions_total counter
rtfarm_media_port_exhaustions_total 1
# HELP rtfarm_media_packets_relayed_total RTP and RTCP packets relayed.
# TYPE rtfarm_media_packets_relayed_total counter
rtfarm_media_packets_relayed_total 500
# HELP rtfarm_media_bytes_relayed_total RTP and RTCP bytes relayed.
# TYPE rtfarm_media_bytes_relayed_total counter
rtfarm_media_bytes_relayed_total 86000
# HELP rtfarm_media_packets_dropped_total Media packets received and not relayed, by reason.
# TYPE rtfarm_media_packets_dropped_total counter
rtfarm_media_packets_dropped_total{reason="stranger"} 2
rtfarm_media_packets_dropped_total{reason="no_peer"} 0
rtfarm_media_packets_dropped_total{reason="too_small"} 1
rtfarm_media_packets_dropped_total{reason="oversize"} 0
# HELP rtfarm_media_send_failures_total Media packets the kernel refused to send.
# TYPE rtfarm_media_send_failures_total counter
rtfarm_media_send_failures_total 0
# HELP rtfarm_media_sessions_created_total Media sessions created.
# TYPE rtfarm_media_sessions_created_total counter
rtfarm_media_sessions_created_total 5
# HELP rtfarm_media_sessions_closed_total Media sessions closed, by reason (deleted, expired, unlatched).
# TYPE rtfarm_media_sessions_closed_total counter
rtfarm_media_sessions_closed_total{reason="deleted"} 1
rtfarm_media_sessions_closed_total{reason="expired"} 1
rtfarm_media_sessions_closed_total{reason="unlatched"} 2
# HELP rtfarm_media_refused_total Offers and answers refused, by error code (sdp_address_refused, too_many_streams, sessions_exhausted, source_sessions_exhausted, ports_exhausted, ...).
# TYPE rtfarm_media_refused_total counter
rtfarm_media_refused_total{code="sdp_address_refused"} 4
)";
    std::string got = render(from_stats(stats));
    BOOST_TEST(got == want);
    BOOST_TEST(parse_prometheus(got).error.empty());
}

BOOST_AUTO_TEST_CASE(rtprelayd_fast_path_families) {
    auto stats = parse(R"({"program": "rtprelayd", "member": "f2", "version": "0.1.0",
      "uptime_ms": 1000, "reloads": 0, "reload_failures": 0,
      "service": {"member": "f2", "draining": false, "packets": 500,
                  "fast_path": {"mode": "auto", "path": "kernel", "reason": "",
                                "interfaces": [{"name": "eth0", "xdp": "native"}],
                                "entries": 4, "kernel_entries": 4, "packets": 480, "bytes": 82560,
                                "no_route": 0, "not_media": 0, "refused": 0}}})");
    auto p = parse_prometheus(render(from_stats(stats)));
    BOOST_TEST(p.error.empty());
    BOOST_TEST(p.value("rtfarm_media_fast_path_kernel").value_or(-1) == 1);
    BOOST_TEST(p.value("rtfarm_media_fast_path_entries").value_or(-1) == 4);
    BOOST_TEST(p.value("rtfarm_media_fast_path_packets_total").value_or(-1) == 480);
    BOOST_TEST(p.types["rtfarm_media_fast_path_packets_total"] == "counter");

    auto user = parse(R"({"program": "rtprelayd", "member": "f2", "version": "0.1.0",
      "uptime_ms": 1000, "reloads": 0, "reload_failures": 0,
      "service": {"member": "f2", "draining": false,
                  "fast_path": {"mode": "auto", "path": "userspace", "reason": "no BPF",
                                "interfaces": [], "entries": 0, "kernel_entries": 0, "packets": 0,
                                "bytes": 0, "no_route": 0, "not_media": 0, "refused": 0}}})");
    auto q = parse_prometheus(render(from_stats(user)));
    BOOST_TEST(q.value("rtfarm_media_fast_path_kernel").value_or(-1) == 0);
}

BOOST_AUTO_TEST_CASE(the_parser_refuses_broken_text) {
    // The parser the tests rely on must be able to fail.
    BOOST_TEST(!parse_prometheus("x 1\n").error.empty()); // no HELP/TYPE
    BOOST_TEST(!parse_prometheus("# HELP x_total h\n# TYPE x_total counter\nx_total{a=\"\\q\"} 1\n")
                    .error.empty());
    BOOST_TEST(!parse_prometheus("# HELP x h\n# TYPE x counter\nx 1\n").error.empty());
    BOOST_TEST(!parse_prometheus("# HELP x h\n# TYPE x gauge\nx one\n").error.empty());
    BOOST_TEST(!parse_prometheus("# HELP x h\n# TYPE x gauge\nx 1\nx 2\n").error.empty());
    BOOST_TEST(!parse_prometheus("# HELP x h\n# TYPE x gauge\nx 1").error.empty());
    BOOST_TEST(
        parse_prometheus("# HELP x h\n# TYPE x gauge\nx{a=\"1\"} 1\nx{a=\"2\"} 2\n").error.empty());
}

BOOST_AUTO_TEST_SUITE_END()
