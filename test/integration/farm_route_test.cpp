// `route` on real sipfarmd daemons on loopback (three members with
// processors that are sockets of this test): the answer agrees with where
// real requests go, a message file with our Route tag names that member,
// and bad input gets clear errors and the documented exit statuses.
#include "cluster_fixture.hpp"
#include "harness.hpp"
#include "udp_peer.hpp"

#include "control/control_client.hpp"
#include "sip/farm_tags.hpp"
#include "sip/route.hpp"
#include "sip/scanner.hpp"

#include <boost/test/unit_test.hpp>

#include <memory>
#include <thread>

using namespace rtfarm;
using namespace rtfarm::test;

namespace {

struct RouteFarm {
    LoopbackLab lab{3};
    std::vector<std::unique_ptr<UdpPeer>> processors;
    UdpPeer client{"127.0.0.9:0"};

    RouteFarm() {
        for (auto& m : lab.cluster.members)
            m.processor_port = free_port();
        lab.write();
        for (auto& m : lab.cluster.members) {
            processors.push_back(
                std::make_unique<UdpPeer>(m.address + ":" + std::to_string(m.processor_port)));
            lab.start("sipfarmd", m.id);
        }
        for (const auto& m : lab.cluster.members)
            BOOST_REQUIRE_MESSAGE(lab.all_up(m.id), m.id << " never saw every member up");
    }
    std::string id(size_t i) const { return lab.cluster.members[i].id; }
    std::string sip(size_t i) const {
        const auto& m = lab.cluster.members[i];
        return m.address + ":" + std::to_string(m.sip_ports[0]);
    }
    Result<json::Json> ask(const std::string& member, json::Json args) {
        auto c =
            control::ControlClient::connect(lab.cluster.control(lab.dir, member), scaled(2000ms));
        if (!c)
            return c.error();
        return c->call("route", std::move(args), scaled(2000ms));
    }
    // The processor that receives the next datagram, and what it got.
    std::optional<std::pair<size_t, Received>> arrival() {
        auto deadline = std::chrono::steady_clock::now() + scaled(3000ms);
        while (std::chrono::steady_clock::now() < deadline)
            for (size_t i = 0; i < processors.size(); ++i)
                if (auto r = processors[i]->recv(5ms))
                    return std::make_pair(i, *r);
        return std::nullopt;
    }
    RunResult ctl(std::vector<std::string> args) {
        args.insert(args.begin(), {bin_path("cgclusterctl"), "--config", lab.config()});
        return run(std::move(args));
    }
};

// A request as a person writes it in an editor: LF line ends.
std::string request_lf(const std::string& method, const std::string& call_id,
                       const std::string& client, const std::string& extra = "") {
    return method + " sip:bob@example.com SIP/2.0\n" + "Via: SIP/2.0/UDP " + client +
           ";branch=z9hG4bK" + method + call_id + ";rport\n" + "Max-Forwards: 70\n" +
           "From: <sip:alice@example.com>;tag=a1\n" + "To: <sip:bob@example.com>" +
           (method == "INVITE" ? "" : ";tag=b2") + "\n" + "Call-ID: " + call_id + "\n" +
           "CSeq: " + (method == "INVITE" ? "1 " : "2 ") + method + "\n" + extra +
           "Content-Length: 0\n";
}

std::string crlf(const std::string& lf) {
    std::string out;
    for (char c : lf)
        out += c == '\n' ? std::string("\r\n") : std::string(1, c);
    return out + "\r\n";
}

std::string str(const json::Json& j, const char* key) {
    return j[key].as_string().value_or("");
}

} // namespace

BOOST_AUTO_TEST_SUITE(farm_route)

BOOST_AUTO_TEST_CASE(route_by_call_id_agrees_with_where_a_real_call_went) {
    RouteFarm f;
    std::string client = f.client.address().str();
    for (size_t i = 0; i < 6; ++i) {
        std::string cid = "real-route-" + std::to_string(i) + "@example.com";
        f.client.send(f.sip(i % 3), crlf(request_lf("INVITE", cid, client)));
        auto got = f.arrival();
        BOOST_REQUIRE_MESSAGE(got, cid << ": the INVITE reached no processor");
        std::string went = f.id(got->first);
        // Ask every member, as cgclusterctl and as the op.
        for (size_t asked = 0; asked < 3; ++asked) {
            auto r = run({bin_path("cgclusterctl"), "--socket",
                          f.lab.cluster.control(f.lab.dir, f.id(asked)), "--json", "route",
                          "--call-id", cid});
            BOOST_REQUIRE_MESSAGE(r.status == 0, r.out << r.err);
            auto doc = parse_out(r);
            BOOST_TEST(str(doc, "member") == went, cid << " asked " << f.id(asked));
            BOOST_TEST(str(doc, "action") == (asked == got->first ? "local" : "relay"));
            // The member that processed the INVITE knows the Call-ID now.
            BOOST_TEST(str(doc, "reason") ==
                       (asked == got->first ? "known_call_id" : "call_id_hash"));
            BOOST_TEST(str(doc, "received_by") == f.id(asked));
            BOOST_TEST(str(doc, "call_id") == cid);
            BOOST_TEST(doc["epoch"].as_integer().value_or(0) > 0);
        }
        auto op = f.ask("f2", json::Json::object().set("call_id", cid));
        BOOST_REQUIRE(op.ok());
        BOOST_TEST(str(*op, "member") == went);
    }
    auto text = f.ctl({"route", "--call-id", "real-route-0@example.com"});
    BOOST_TEST(text.status == 0);
    BOOST_TEST(text.out.find("call_id_hash") != std::string::npos, text.out);
    BOOST_TEST(text.out.find("owns the Call-ID") != std::string::npos, text.out);
}

BOOST_AUTO_TEST_CASE(route_file_with_our_route_tag_answers_that_member) {
    RouteFarm f;
    std::string client = f.client.address().str();
    // A real INVITE, Record-Routed by the member that took it.
    std::string cid = "tagged-route@example.com";
    f.client.send(f.sip(0), crlf(request_lf("INVITE", cid, client)));
    auto inv = f.arrival();
    BOOST_REQUIRE(inv);
    std::string owner = f.id(inv->first);
    auto im = sip::scan(inv->second.bytes);
    BOOST_REQUIRE(im.ok());
    std::string rr(im->record_route.value.in(inv->second.bytes));
    BOOST_TEST(sip::uri_farm_member(rr).value_or("") == owner);

    // The BYE a person writes with that Route, LF line ends, no empty line.
    std::string bye = request_lf("BYE", cid, client, "Route: " + rr + "\n");
    f.lab.dir.write("bye.sip", bye);
    auto r = f.ctl({"--json", "route", f.lab.dir.file("bye.sip")});
    BOOST_REQUIRE_MESSAGE(r.status == 0, r.out << r.err);
    auto doc = parse_out(r);
    BOOST_TEST(str(doc, "member") == owner);
    BOOST_TEST(str(doc, "reason") == "route_tag");
    BOOST_TEST(str(doc, "type") == "request");
    // And the real BYE, sent to another member, goes there too.
    f.client.send(f.sip((inv->first + 1) % 3), crlf(bye));
    auto real_bye = f.arrival();
    BOOST_REQUIRE(real_bye);
    BOOST_TEST(f.id(real_bye->first) == owner);

    // The tag wins over the Call-ID's hash: a Call-ID f3 does not own,
    // routed to f3 by its Route, read from standard input.
    std::string other;
    for (int i = 0; other.empty(); ++i) {
        std::string c = "not-f3-" + std::to_string(i);
        sip::FarmView v;
        for (const char* id : {"f1", "f2", "f3"}) {
            sip::FarmView::Member m;
            m.id = id;
            m.farm_member = true;
            v.members.push_back(m);
        }
        if (sip::rendezvous_owner(c, v) != "f3")
            other = c;
    }
    f.lab.dir.write("to-f3.sip",
                    request_lf("BYE", other, client, "Route: <sip:127.0.0.1:5060;lr;fm=f3>\n"));
    auto in = run({"/bin/sh", "-c",
                   bin_path("cgclusterctl") + " --config " + f.lab.config() + " --json route - < " +
                       f.lab.dir.file("to-f3.sip")});
    BOOST_REQUIRE_MESSAGE(in.status == 0, in.out << in.err);
    BOOST_TEST(str(parse_out(in), "member") == "f3");
    BOOST_TEST(str(parse_out(in), "reason") == "route_tag");

    // A response carrying f2's Via tag belongs to f2.
    std::string resp =
        "SIP/2.0 200 OK\nVia: SIP/2.0/UDP 127.0.0.2:5060;branch=" + sip::farm_branch("f2", 42) +
        "\nVia: SIP/2.0/UDP " + client +
        ";branch=z9hG4bKc\nFrom: <sip:a@example.com>;tag=1\n"
        "To: <sip:b@example.com>;tag=2\nCall-ID: resp-1\nCSeq: 1 INVITE\n\n";
    f.lab.dir.write("resp.sip", resp);
    auto rr2 = f.ctl({"--json", "route", f.lab.dir.file("resp.sip")});
    BOOST_REQUIRE_MESSAGE(rr2.status == 0, rr2.out << rr2.err);
    BOOST_TEST(str(parse_out(rr2), "member") == "f2");
    BOOST_TEST(str(parse_out(rr2), "reason") == "via_tag");
    BOOST_TEST(str(parse_out(rr2), "type") == "response");

    auto text = f.ctl({"route", f.lab.dir.file("bye.sip")});
    BOOST_TEST(text.status == 0);
    BOOST_TEST(text.out.find("fm=" + owner) != std::string::npos, text.out);
}

BOOST_AUTO_TEST_CASE(route_bad_input_is_refused_clearly) {
    RouteFarm f;
    // The op: exactly one of call_id and message; a message must scan.
    for (const char* bad :
         {R"({})", R"({"call_id":"x","message":"y"})", R"({"call_id":5})", R"({"call_id":""})"}) {
        auto r = f.ask("f1", *json::parse(bad, "t"));
        BOOST_TEST((!r.ok() && r.error().code == "bad_request"), bad);
    }
    auto garbage = f.ask("f1", json::Json::object().set("message", "hello world\r\n\r\n"));
    BOOST_REQUIRE(!garbage.ok());
    BOOST_TEST(garbage.error().code == "bad_start_line");
    BOOST_TEST(!garbage.error().message.empty());
    // The op takes bytes as they are: bare LF is the scanner's refusal.
    auto lf = f.ask("f1", json::Json::object().set("message", request_lf("INVITE", "x", "h")));
    BOOST_REQUIRE(!lf.ok());
    BOOST_TEST(lf.error().code == "bad_line_end");

    // cgclusterctl: usage errors exit 2.
    auto nothing = f.ctl({"route"});
    BOOST_TEST(nothing.status == 2);
    BOOST_TEST(nothing.err.find("--call-id") != std::string::npos, nothing.err);
    f.lab.dir.write("x.sip", "x");
    BOOST_TEST(f.ctl({"route", "--call-id", "c", f.lab.dir.file("x.sip")}).status == 2);
    auto missing = f.ctl({"route", f.lab.dir.file("missing.sip")});
    BOOST_TEST(missing.status == 2);
    BOOST_TEST(missing.err.find("missing.sip") != std::string::npos, missing.err);
    f.lab.dir.write("big.sip", std::string(70000, 'a'));
    auto big = f.ctl({"route", f.lab.dir.file("big.sip")});
    BOOST_TEST(big.status == 2);
    BOOST_TEST(big.err.find("65535") != std::string::npos, big.err);
    f.lab.dir.write("empty.sip", "\n\n");
    BOOST_TEST(f.ctl({"route", f.lab.dir.file("empty.sip")}).status == 2);

    // What the farm would drop is the answer "a problem": exit 1.
    f.lab.dir.write("garbage.sip", "hello world\n");
    auto g = f.ctl({"--json", "route", f.lab.dir.file("garbage.sip")});
    BOOST_TEST(g.status == 1, g.out << g.err);
    auto gd = parse_out(g);
    BOOST_TEST(str(gd, "action") == "drop");
    BOOST_TEST(str(gd, "reason") == "bad_start_line");
    BOOST_TEST(str(gd["error"], "code") == "bad_start_line");
    auto gt = f.ctl({"route", f.lab.dir.file("garbage.sip")});
    BOOST_TEST(gt.status == 1);
    BOOST_TEST(gt.out.find("does not scan (bad_start_line)") != std::string::npos, gt.out);

    f.lab.dir.write("stray.sip", "SIP/2.0 200 OK\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKx\n"
                                 "From: <sip:a@example.com>;tag=1\nTo: <sip:b@example.com>\n"
                                 "Call-ID: stray\nCSeq: 1 INVITE\n");
    auto stray = f.ctl({"--json", "route", f.lab.dir.file("stray.sip")});
    BOOST_TEST(stray.status == 1, stray.out << stray.err);
    BOOST_TEST(str(parse_out(stray), "reason") == "response_without_farm_via");
    BOOST_TEST(json_is_null(parse_out(stray)["member"].get()));

    f.lab.dir.write("f9.sip", request_lf("BYE", "c9", "h", "Route: <sip:127.0.0.1;lr;fm=f9>\n"));
    auto f9 = f.ctl({"--json", "route", f.lab.dir.file("f9.sip")});
    BOOST_TEST(f9.status == 1, f9.out << f9.err);
    BOOST_TEST(str(parse_out(f9), "reason") == "unknown_member");
}

BOOST_AUTO_TEST_SUITE_END()
