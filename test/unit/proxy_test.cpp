// The stateless proxy's edits, checked on the bytes it produces (re-scanned).
#include "sip/farm_tags.hpp"
#include "sip/osip.hpp"
#include "sip/proxy.hpp"
#include "sip/scanner.hpp"

#include <boost/test/unit_test.hpp>

using namespace rtfarm;
using namespace rtfarm::sip;

namespace {

const std::string INVITE = "INVITE sip:bob@192.0.2.20:5062 SIP/2.0\r\n"
                           "Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKclient1;rport\r\n"
                           "Max-Forwards: 70\r\n"
                           "From: <sip:alice@example.com>;tag=a1\r\n"
                           "To: <sip:bob@example.com>\r\n"
                           "Call-ID: call-1@client\r\n"
                           "CSeq: 1 INVITE\r\n"
                           "Contact: <sip:alice@10.0.0.5:5060>\r\n"
                           "Content-Length: 0\r\n"
                           "\r\n";

ProxyContext ctx() {
    ProxyContext c;
    c.self = "f2";
    c.via_member = "f2";
    c.processor = SockAddr::parse("127.0.0.1:5070").value();
    c.outer_sent_by = SockAddr::parse("203.0.113.1:5060").value();
    c.rr_host = "203.0.113.1";
    return c;
}

SockAddr addr(const char* s) {
    return SockAddr::parse(s).value();
}

Message must_scan(std::string_view bytes) {
    auto m = scan(bytes);
    BOOST_REQUIRE_MESSAGE(m.ok(), (m.ok() ? "" : m.error().message) << "\n" << bytes);
    return m.value();
}

} // namespace

BOOST_AUTO_TEST_SUITE(sip_proxy)

BOOST_AUTO_TEST_CASE(request_to_processor_gets_via_rr_and_nat_stamps) {
    auto msg = must_scan(INVITE);
    auto out = forward_to_processor(INVITE, msg, addr("198.51.100.10:40312"),
                                    addr("127.0.0.1:5070"), ctx());
    BOOST_REQUIRE(out.ok());
    BOOST_TEST(out->to.str() == "127.0.0.1:5070");
    auto fwd = must_scan(out->bytes);
    // Our Via on top, tagged for f2; the client's below with received/rport.
    BOOST_TEST(branch_member(fwd.via[0].branch.in(out->bytes)).value_or("") == "f2");
    // It names the farm's public address (it stays in what the processor
    // relays) and asks for the answer at the source.
    BOOST_TEST(fwd.via[0].host.in(out->bytes) == "203.0.113.1");
    BOOST_TEST(fwd.via[0].rport.present());
    BOOST_TEST(fwd.via[1].received.in(out->bytes) == "198.51.100.10");
    BOOST_TEST(fwd.via[1].rport.in(out->bytes) == "40312");
    BOOST_TEST(fwd.via_count == 2u);
    BOOST_TEST(fwd.max_forwards == 69);
    BOOST_TEST(fwd.record_route.value.in(out->bytes) == "<sip:203.0.113.1;lr;fm=f2>");
    BOOST_TEST(fwd.call_id.in(out->bytes) == "call-1@client");
    // A retransmission forwarded by any member gets the same branch.
    auto again = forward_to_processor(INVITE, msg, addr("198.51.100.10:40312"),
                                      addr("127.0.0.1:5070"), ctx());
    BOOST_TEST(again->bytes == out->bytes);
}

BOOST_AUTO_TEST_CASE(cancel_and_non2xx_ack_share_the_invite_branch) {
    std::string cancel = INVITE;
    cancel.replace(0, 6, "CANCEL");
    cancel.replace(cancel.find("1 INVITE"), 8, "1 CANCEL");
    auto inv = forward_to_processor(INVITE, must_scan(INVITE), addr("198.51.100.10:1"),
                                    addr("127.0.0.1:5070"), ctx());
    auto can = forward_to_processor(cancel, must_scan(cancel), addr("198.51.100.10:1"),
                                    addr("127.0.0.1:5070"), ctx());
    BOOST_REQUIRE(inv.ok());
    BOOST_REQUIRE(can.ok());
    auto a = must_scan(inv->bytes), b = must_scan(can->bytes);
    BOOST_TEST(a.via[0].branch.in(inv->bytes) == b.via[0].branch.in(can->bytes));
    // CANCEL creates no dialog: no Record-Route.
    BOOST_TEST(!b.record_route.line.present());
}

BOOST_AUTO_TEST_CASE(max_forwards_zero_and_missing) {
    std::string zero = INVITE;
    zero.replace(zero.find("Max-Forwards: 70"), 16, "Max-Forwards: 0");
    auto r = forward_to_processor(zero, must_scan(zero), addr("198.51.100.10:1"),
                                  addr("127.0.0.1:5070"), ctx());
    BOOST_REQUIRE(!r.ok());
    BOOST_TEST(r.error().code == "max_forwards");
    std::string none = INVITE;
    none.erase(none.find("Max-Forwards: 70\r\n"), 18);
    auto ok = forward_to_processor(none, must_scan(none), addr("198.51.100.10:1"),
                                   addr("127.0.0.1:5070"), ctx());
    BOOST_REQUIRE(ok.ok());
    BOOST_TEST(must_scan(ok->bytes).max_forwards == 70);
}

BOOST_AUTO_TEST_CASE(our_route_is_popped_in_dialog) {
    std::string bye = "BYE sip:bob@192.0.2.20:5062 SIP/2.0\r\n"
                      "Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKbye1\r\n"
                      "Route: <sip:203.0.113.1;lr;fm=f2>\r\n"
                      "Max-Forwards: 70\r\n"
                      "From: <sip:alice@example.com>;tag=a1\r\n"
                      "To: <sip:bob@example.com>;tag=b1\r\n"
                      "Call-ID: call-1@client\r\n"
                      "CSeq: 2 BYE\r\n"
                      "Content-Length: 0\r\n\r\n";
    auto out = forward_to_processor(bye, must_scan(bye), addr("10.0.0.5:5060"),
                                    addr("127.0.0.1:5070"), ctx());
    BOOST_REQUIRE(out.ok());
    auto fwd = must_scan(out->bytes);
    BOOST_TEST(!fwd.route.line.present());
    BOOST_TEST(!fwd.record_route.line.present()); // in-dialog: no Record-Route
    // The sent-by matched the source: no received.
    BOOST_TEST(!fwd.via[1].received.present());
}

BOOST_AUTO_TEST_CASE(strict_routing_is_undone) {
    // RFC 3261 §16.4: our Record-Route value in the Request-URI; the real
    // target is the last Route value.
    std::string bye = "BYE sip:203.0.113.1;lr;fm=f2 SIP/2.0\r\n"
                      "Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKs1\r\n"
                      "Route: <sip:192.0.2.7;lr>\r\n"
                      "Route: <sip:192.0.2.8;lr>, <sip:bob@192.0.2.20:5062>\r\n"
                      "Max-Forwards: 70\r\n"
                      "From: <sip:alice@example.com>;tag=a1\r\n"
                      "To: <sip:bob@example.com>;tag=b1\r\n"
                      "Call-ID: strict-1\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n";
    auto out = forward_to_processor(bye, must_scan(bye), addr("10.0.0.5:5060"),
                                    addr("127.0.0.1:5070"), ctx());
    BOOST_REQUIRE(out.ok());
    auto fwd = must_scan(out->bytes);
    BOOST_TEST(fwd.request_uri.in(out->bytes) == "sip:bob@192.0.2.20:5062");
    BOOST_TEST(out->bytes.find("<sip:bob@192.0.2.20:5062>") == std::string::npos);
    BOOST_TEST(out->bytes.find("Route: <sip:192.0.2.8;lr>\r\n") != std::string::npos, out->bytes);
    BOOST_TEST(fwd.route.value.in(out->bytes) == "<sip:192.0.2.7;lr>");
    // The last value alone in its line: the line goes.
    std::string one = bye;
    one.replace(one.find("Route: <sip:192.0.2.8;lr>, "), 27, "Route: ");
    auto out2 = forward_to_processor(one, must_scan(one), addr("10.0.0.5:5060"),
                                     addr("127.0.0.1:5070"), ctx());
    BOOST_REQUIRE(out2.ok());
    BOOST_TEST(out2->bytes.find("Route: \r\n") == std::string::npos);
    BOOST_TEST(must_scan(out2->bytes).request_uri.in(out2->bytes) == "sip:bob@192.0.2.20:5062");
}

BOOST_AUTO_TEST_CASE(our_via_sharing_a_line_and_ipv6) {
    // A response whose Via line holds ours and the client's (IPv6) values.
    std::string resp =
        "SIP/2.0 180 Ringing\r\n"
        "v: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKrtf.f2.0123456789abcdef, "
        "SIP/2.0/UDP [2001:db8::5]:5070;branch=z9hG4bKc6;rport=40000;received=2001:db8::9\r\n"
        "f: <sip:alice@example.com>;tag=a1\r\nt: <sip:bob@example.com>;tag=b1\r\n"
        "i: v6-call\r\nCSeq: 1 INVITE\r\nl: 0\r\n\r\n";
    auto out = forward_response(resp, must_scan(resp));
    BOOST_REQUIRE_MESSAGE(out.ok(), (out.ok() ? "" : out.error().message));
    BOOST_TEST(out->to.str() == "[2001:db8::9]:40000");
    auto back = must_scan(out->bytes);
    BOOST_TEST(back.via_count == 1u);
    BOOST_TEST(back.via[0].branch.in(out->bytes) == "z9hG4bKc6");
    // An IPv6 client's request: received without brackets, rport filled in.
    std::string inv = INVITE;
    inv.replace(inv.find("10.0.0.5:5060;branch"), 20, "[2001:db8::5]:5060;branch");
    auto fwd = forward_to_processor(inv, must_scan(inv), addr("[2001:db8::9]:41000"),
                                    addr("127.0.0.1:5070"), ctx());
    BOOST_REQUIRE(fwd.ok());
    auto f = must_scan(fwd->bytes);
    BOOST_TEST(f.via[1].received.in(fwd->bytes) == "2001:db8::9");
    BOOST_TEST(f.via[1].rport.in(fwd->bytes) == "41000");
}

BOOST_AUTO_TEST_CASE(response_pops_our_via_and_goes_to_received_rport) {
    auto req = forward_to_processor(INVITE, must_scan(INVITE), addr("198.51.100.10:40312"),
                                    addr("127.0.0.1:5070"), ctx());
    BOOST_REQUIRE(req.ok());
    auto fwd = must_scan(req->bytes);
    // The processor answers: its response carries the request's Vias.
    std::string resp = "SIP/2.0 200 OK\r\n";
    resp += fwd.via[0].line.in(req->bytes);
    resp += fwd.via[1].line.in(req->bytes);
    resp += "From: <sip:alice@example.com>;tag=a1\r\n"
            "To: <sip:bob@example.com>;tag=b9\r\n"
            "Call-ID: call-1@client\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
    auto out = forward_response(resp, must_scan(resp));
    BOOST_REQUIRE_MESSAGE(out.ok(), (out.ok() ? "" : out.error().message));
    BOOST_TEST(out->to.str() == "198.51.100.10:40312");
    auto back = must_scan(out->bytes);
    BOOST_TEST(back.via_count == 1u);
    BOOST_TEST(back.via[0].branch.in(out->bytes) == "z9hG4bKclient1");
    // No Via below ours: nowhere to go.
    std::string lone =
        "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKrtf.f2.0123456789abcdef\r\n"
        "From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n\r\n";
    BOOST_TEST(forward_response(lone, must_scan(lone)).error().code == "no_next_via");
}

BOOST_AUTO_TEST_CASE(request_from_processor_goes_out_with_our_via) {
    std::string req = "INVITE sip:carol@192.0.2.30:5080 SIP/2.0\r\n"
                      "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKproc1\r\n"
                      "Route: <sip:203.0.113.1;lr;fm=f2>\r\n"
                      "Max-Forwards: 70\r\n"
                      "From: <sip:bob@example.com>;tag=p1\r\n"
                      "To: <sip:carol@example.com>\r\n"
                      "Call-ID: out-1@proc\r\n"
                      "CSeq: 1 INVITE\r\n"
                      "Content-Length: 0\r\n\r\n";
    auto out = forward_from_processor(req, must_scan(req), ctx());
    BOOST_REQUIRE_MESSAGE(out.ok(), (out.ok() ? "" : out.error().message));
    BOOST_TEST(out->to.str() == "192.0.2.30:5080");
    auto fwd = must_scan(out->bytes);
    BOOST_TEST(fwd.via[0].host.in(out->bytes) == "203.0.113.1");
    BOOST_TEST(branch_member(fwd.via[0].branch.in(out->bytes)).value_or("") == "f2");
    BOOST_TEST(!fwd.route.line.present());
    BOOST_TEST(fwd.record_route.value.in(out->bytes) == "<sip:203.0.113.1;lr;fm=f2>");
    // A Relay backend's request, sent out by a Member: tagged for the backend.
    auto c = ctx();
    c.via_member = "b1";
    auto relayed = forward_from_processor(req, must_scan(req), c);
    BOOST_REQUIRE(relayed.ok());
    auto r = must_scan(relayed->bytes);
    BOOST_TEST(branch_member(r.via[0].branch.in(relayed->bytes)).value_or("") == "b1");
    // In the backend's dialog, the backend's Route is the one to pop.
    std::string ack = req;
    ack.replace(0, 6, "ACK");
    ack.replace(ack.find("1 INVITE"), 8, "1 ACK");
    ack.replace(ack.find("fm=f2"), 5, "fm=b1");
    ack.replace(ack.find("To: <sip:carol@example.com>"), 27, "To: <sip:carol@example.com>;tag=c1");
    auto backend_ack = forward_from_processor(ack, must_scan(ack), c);
    BOOST_REQUIRE(backend_ack.ok());
    BOOST_TEST(backend_ack->to.str() == "192.0.2.30:5080");
    BOOST_TEST(!must_scan(backend_ack->bytes).route.line.present());
    // Host names cannot be resolved here.
    std::string named = req;
    named.replace(named.find("192.0.2.30:5080"), 15, "example.org");
    named.erase(named.find("Route:"), named.find("Max-Forwards") - named.find("Route:"));
    BOOST_TEST(forward_from_processor(named, must_scan(named), ctx()).error().code ==
               "unresolvable_target");
}

// Every Route of ours on top is popped (double Record-Route leaves two),
// one line or a comma list alike; the first one that is not ours is the
// next hop.
BOOST_AUTO_TEST_CASE(every_route_of_ours_on_top_is_popped) {
    std::string req = "BYE sip:carol@192.0.2.30:5080 SIP/2.0\r\n"
                      "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKproc2\r\n"
                      "Route: <sip:203.0.113.1;lr;fm=f2>\r\n"
                      "Route: <sip:203.0.113.1;lr;fm=f2>, <sip:192.0.2.99:5090;lr>\r\n"
                      "Max-Forwards: 70\r\n"
                      "From: <sip:bob@example.com>;tag=p1\r\n"
                      "To: <sip:carol@example.com>;tag=c1\r\n"
                      "Call-ID: out-2@proc\r\n"
                      "CSeq: 2 BYE\r\n"
                      "Content-Length: 0\r\n\r\n";
    auto out = forward_from_processor(req, must_scan(req), ctx());
    BOOST_REQUIRE_MESSAGE(out.ok(), (out.ok() ? "" : out.error().message));
    BOOST_TEST(out->to.str() == "192.0.2.99:5090");
    auto fwd = must_scan(out->bytes);
    BOOST_TEST(fwd.route.value.in(out->bytes) == "<sip:192.0.2.99:5090;lr>");
    BOOST_TEST(!fwd.route.more);
    // Only ours: the Request-URI is the target.
    std::string ours_only = req;
    ours_only.replace(ours_only.find(", <sip:192.0.2.99:5090;lr>"), 26, "");
    auto direct = forward_from_processor(ours_only, must_scan(ours_only), ctx());
    BOOST_REQUIRE(direct.ok());
    BOOST_TEST(direct->to.str() == "192.0.2.30:5080");
    BOOST_TEST(!must_scan(direct->bytes).route.line.present());
}

BOOST_AUTO_TEST_CASE(a_request_over_a_connection_marks_via_and_record_route) {
    std::string inv = INVITE;
    inv.replace(inv.find("SIP/2.0/UDP 10.0.0.5"), 11, "SIP/2.0/TCP");
    ConnRef c{"f1", 42};
    auto out = forward_to_processor(inv, must_scan(inv), addr("198.51.100.10:40312"),
                                    addr("127.0.0.1:5070"), ctx(), &c);
    BOOST_REQUIRE(out.ok());
    BOOST_TEST(out->to.str() == "127.0.0.1:5070");
    // To the processor by UDP, from the inner socket; by address when that
    // is not our processor.
    BOOST_TEST((send_path(*out, "f2", addr("127.0.0.1:5070")) == SendPath::processor));
    BOOST_TEST((send_path(*out, "f2", addr("127.0.0.1:5080")) == SendPath::datagram));
    BOOST_TEST((send_path(*out, "f2") == SendPath::datagram));
    auto fwd = must_scan(out->bytes);
    BOOST_TEST(fwd.via[0].transport.in(out->bytes) == "UDP");
    BOOST_TEST((via_conn(fwd.via[0].value.in(out->bytes)) == c));
    BOOST_TEST(branch_member(fwd.via[0].branch.in(out->bytes)).value_or("") == "f2");
    // The client's Via keeps its transport; received/rport as over UDP.
    BOOST_TEST(fwd.via[1].transport.in(out->bytes) == "TCP");
    BOOST_TEST(fwd.via[1].received.in(out->bytes) == "198.51.100.10");
    BOOST_TEST(fwd.record_route.value.in(out->bytes) == "<sip:203.0.113.1;lr;fm=f2;fc=f1.42>");
    // The same request retransmitted over another connection: same branch.
    ConnRef other{"f3", 7};
    auto again = forward_to_processor(inv, must_scan(inv), addr("198.51.100.10:40312"),
                                      addr("127.0.0.1:5070"), ctx(), &other);
    BOOST_REQUIRE(again.ok());
    BOOST_TEST(must_scan(again->bytes).via[0].branch.in(again->bytes) ==
               fwd.via[0].branch.in(out->bytes));

    // The processor's response goes back on that connection: through f1.
    std::string resp = "SIP/2.0 180 Ringing\r\n";
    resp += fwd.via[0].line.in(out->bytes);
    resp += fwd.via[1].line.in(out->bytes);
    resp += "From: <sip:alice@example.com>;tag=a1\r\nTo: <sip:bob@example.com>;tag=b9\r\n"
            "Call-ID: call-1@client\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
    auto back = forward_response(resp, must_scan(resp));
    BOOST_REQUIRE(back.ok());
    BOOST_TEST((back->conn == c));
    BOOST_TEST((send_path(*back, "f2") == SendPath::holder));
    BOOST_TEST((send_path(*back, "f1") == SendPath::connection_here));
    BOOST_TEST(must_scan(back->bytes).via_count == 1u);
    BOOST_TEST(back->bytes.find("rtfc") == std::string::npos);
    // A client Via with a host name: the connection is the way, no DNS needed.
    std::string named = resp;
    named.replace(named.find("10.0.0.5:5060"), 13, "client.invalid");
    named.erase(named.find(";received=198.51.100.10"), 23);
    auto by_conn = forward_response(named, must_scan(named));
    BOOST_REQUIRE_MESSAGE(by_conn.ok(), (by_conn.ok() ? "" : by_conn.error().message));
    BOOST_TEST((by_conn->conn == c));
}

BOOST_AUTO_TEST_CASE(an_in_dialog_request_of_the_processor_goes_over_the_connection) {
    // The callee's BYE follows the route set our Record-Route began.
    std::string bye = "BYE sip:alice@10.0.0.5:5060;transport=tcp SIP/2.0\r\n"
                      "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKproc2\r\n"
                      "Route: <sip:203.0.113.1;lr;fm=f2;fc=f1.42>\r\n"
                      "Max-Forwards: 70\r\n"
                      "From: <sip:bob@example.com>;tag=b9\r\n"
                      "To: <sip:alice@example.com>;tag=a1\r\n"
                      "Call-ID: call-1@client\r\n"
                      "CSeq: 1 BYE\r\n"
                      "Content-Length: 0\r\n\r\n";
    auto out = forward_from_processor(bye, must_scan(bye), ctx());
    BOOST_REQUIRE_MESSAGE(out.ok(), (out.ok() ? "" : out.error().message));
    BOOST_TEST((out->conn == ConnRef{"f1", 42}));
    BOOST_TEST((send_path(*out, "f2") == SendPath::holder));
    auto fwd = must_scan(out->bytes);
    BOOST_TEST(!fwd.route.line.present());
    BOOST_TEST(fwd.via[0].transport.in(out->bytes) == "TCP");
    BOOST_TEST(branch_member(fwd.via[0].branch.in(out->bytes)).value_or("") == "f2");
    // A Contact behind NAT with a host name: still reachable over the connection.
    std::string named = bye;
    named.replace(named.find("10.0.0.5:5060"), 13, "alice.invalid");
    auto by_conn = forward_from_processor(named, must_scan(named), ctx());
    BOOST_REQUIRE(by_conn.ok());
    BOOST_TEST((by_conn->conn == ConnRef{"f1", 42}));
    // Without `fc` the request goes by address, by the transport its target
    // asks for: a connection this member opens to the Contact.
    std::string plain = bye;
    plain.erase(plain.find(";fc=f1.42"), 9);
    auto by_addr = forward_from_processor(plain, must_scan(plain), ctx());
    BOOST_REQUIRE(by_addr.ok());
    BOOST_TEST((send_path(*by_addr, "f2") == SendPath::target_connection));
    // Over TCP even to the processor's own address: a connection, not the
    // inner socket.
    BOOST_TEST((send_path(*by_addr, "f2", addr("10.0.0.5:5060")) == SendPath::target_connection));
    BOOST_TEST(by_addr->to.str() == "10.0.0.5:5060");
    BOOST_TEST((by_addr->transport == Transport::tcp));
    BOOST_TEST(must_scan(by_addr->bytes).via[0].transport.in(by_addr->bytes) == "TCP");
}

BOOST_AUTO_TEST_CASE(a_registration_over_a_connection_gets_our_path) {
    std::string reg = "REGISTER sip:example.com SIP/2.0\r\n"
                      "Via: SIP/2.0/TCP 10.0.0.5:5060;branch=z9hG4bKreg1\r\n"
                      "Max-Forwards: 70\r\n"
                      "From: <sip:alice@example.com>;tag=a1\r\n"
                      "To: <sip:alice@example.com>\r\n"
                      "Call-ID: reg-1@client\r\n"
                      "CSeq: 1 REGISTER\r\n"
                      "Path: <sip:edge.example.com;lr>\r\n"
                      "Contact: <sip:alice@10.0.0.5:5060;transport=tcp>\r\n"
                      "Content-Length: 0\r\n\r\n";
    ConnRef c{"f1", 42};
    auto out = forward_to_processor(reg, must_scan(reg), addr("198.51.100.10:40312"),
                                    addr("127.0.0.1:5070"), ctx(), &c);
    BOOST_REQUIRE(out.ok());
    std::string path = "Path: <sip:203.0.113.1;lr;fm=f2;fc=f1.42>\r\n";
    auto at = out->bytes.find(path);
    BOOST_REQUIRE_MESSAGE(at != std::string::npos, out->bytes);
    // Ours is the first Path value: before the one that was there.
    BOOST_TEST(at < out->bytes.find("Path: <sip:edge.example.com;lr>"));
    BOOST_TEST(!must_scan(out->bytes).record_route.line.present());
    // Over UDP the client is reachable by address: no Path of ours.
    auto udp = forward_to_processor(reg, must_scan(reg), addr("198.51.100.10:40312"),
                                    addr("127.0.0.1:5070"), ctx());
    BOOST_REQUIRE(udp.ok());
    BOOST_TEST(udp->bytes.find("fm=f2") == std::string::npos);

    // The registrar's request for the client follows the Path, on any
    // member (here f3, the INVITE's owner): the farm's Route is popped and
    // the request goes over the connection, through its holder.
    std::string inv = "INVITE sip:alice@10.0.0.5:5060;transport=tcp SIP/2.0\r\n"
                      "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKproc9\r\n"
                      "Route: <sip:203.0.113.1;lr;fm=f2;fc=f1.42>\r\n"
                      "Max-Forwards: 70\r\n"
                      "From: <sip:bob@example.com>;tag=b1\r\n"
                      "To: <sip:alice@example.com>\r\n"
                      "Call-ID: call-9@proc\r\n"
                      "CSeq: 1 INVITE\r\n"
                      "Content-Length: 0\r\n\r\n";
    auto f3 = ctx();
    f3.self = "f3";
    f3.via_member = "f3";
    auto sent = forward_from_processor(inv, must_scan(inv), f3);
    BOOST_REQUIRE_MESSAGE(sent.ok(), (sent.ok() ? "" : sent.error().message));
    BOOST_TEST((sent->conn == c));
    BOOST_TEST((send_path(*sent, "f3") == SendPath::holder));
    auto fwd = must_scan(sent->bytes);
    BOOST_TEST(!fwd.route.line.present());
    BOOST_TEST(branch_member(fwd.via[0].branch.in(sent->bytes)).value_or("") == "f3");
    BOOST_TEST(fwd.record_route.value.in(sent->bytes) ==
               "<sip:203.0.113.1;lr;fm=f3;fc=f1.42;transport=tcp>");
    // Another member's Route without a connection, or a connection Route at
    // another host, is not ours to pop.
    for (const char* route : {"<sip:203.0.113.1;lr;fm=f2>", "<sip:192.0.2.9;lr;fm=f2;fc=f1.42>"}) {
        std::string other = inv;
        const std::string ours = "<sip:203.0.113.1;lr;fm=f2;fc=f1.42>";
        other.replace(other.find(ours), ours.size(), route);
        auto o = forward_from_processor(other, must_scan(other), f3);
        BOOST_REQUIRE(o.ok());
        BOOST_TEST(!o->conn, route);
        BOOST_TEST(must_scan(o->bytes).route.line.present(), route);
    }
}

BOOST_AUTO_TEST_CASE(our_record_route_faces_the_transport_of_each_side) {
    // The processor's 200 for a client's INVITE that came over f1's
    // connection 42: toward the client our Record-Route says TCP (its
    // in-dialog requests come back by TCP); the processor's own one above
    // ours, and anything not ours, stay as they are.
    std::string resp =
        "SIP/2.0 200 OK\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKrtf.f2.00000000000000aa;"
        "rtfc=f1.42\r\n"
        "Via: SIP/2.0/TCP 10.0.0.5:5060;branch=z9hG4bKc1;received=198.51.100.10\r\n"
        "Record-Route: <sip:127.0.0.1:5070;lr>, <sip:203.0.113.1;lr;fm=f2;fc=f1.42>\r\n"
        "Record-Route: <sip:edge.example.com;lr;fm=f2>\r\n"
        "From: <sip:alice@example.com>;tag=a1\r\nTo: <sip:bob@example.com>;tag=b1\r\n"
        "Call-ID: call-1@client\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
    auto c = ctx();
    auto out = forward_response(resp, must_scan(resp), &c);
    BOOST_REQUIRE(out.ok());
    BOOST_TEST(out->bytes.find("Record-Route: <sip:127.0.0.1:5070;lr>, "
                               "<sip:203.0.113.1;lr;fm=f2;fc=f1.42;transport=tcp>\r\n") !=
                   std::string::npos,
               out->bytes);
    BOOST_TEST(out->bytes.find("<sip:edge.example.com;lr;fm=f2>") != std::string::npos);
    // Without a context, as before: nothing rewritten.
    auto plain = forward_response(resp, must_scan(resp));
    BOOST_REQUIRE(plain.ok());
    BOOST_TEST(plain->bytes.find("transport=") == std::string::npos);

    // The processor's INVITE to a TCP target: our Record-Route says TCP to
    // the target; the target's 200, on its way to the processor, loses it.
    std::string inv = "INVITE sip:carol@192.0.2.30;transport=tcp SIP/2.0\r\n"
                      "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKproc1\r\n"
                      "Max-Forwards: 70\r\nFrom: <sip:bob@example.com>;tag=p1\r\n"
                      "To: <sip:carol@example.com>\r\nCall-ID: out-3@proc\r\n"
                      "CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
    auto sent = forward_from_processor(inv, must_scan(inv), c);
    BOOST_REQUIRE(sent.ok());
    auto sm = must_scan(sent->bytes);
    BOOST_TEST(sm.record_route.value.in(sent->bytes) == "<sip:203.0.113.1;lr;fm=f2;transport=tcp>");
    std::string back = "SIP/2.0 200 OK\r\n";
    back += sm.via[0].line.in(sent->bytes);
    back += sm.via[1].line.in(sent->bytes);
    back += sm.record_route.line.in(sent->bytes);
    back += "From: <sip:bob@example.com>;tag=p1\r\nTo: <sip:carol@example.com>;tag=c1\r\n"
            "Call-ID: out-3@proc\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
    auto to_proc = forward_response(back, must_scan(back), &c);
    BOOST_REQUIRE(to_proc.ok());
    BOOST_TEST(must_scan(to_proc->bytes).record_route.value.in(to_proc->bytes) ==
               "<sip:203.0.113.1;lr;fm=f2>");
    // sips: target: TLS.
    std::string sips = inv;
    sips.replace(0, sips.find(" SIP/2.0"), "INVITE sips:carol@192.0.2.30");
    auto tls = forward_from_processor(sips, must_scan(sips), c);
    BOOST_REQUIRE(tls.ok());
    BOOST_TEST(must_scan(tls->bytes).record_route.value.in(tls->bytes) ==
               "<sips:203.0.113.1;lr;fm=f2>");
    // Over a client's connection (a Path of ours): TCP, and the connection.
    std::string via_path = inv;
    via_path.insert(via_path.find("Max-Forwards"),
                    "Route: <sip:203.0.113.1;lr;fm=f1;fc=f1.42>\r\n");
    auto over = forward_from_processor(via_path, must_scan(via_path), c);
    BOOST_REQUIRE(over.ok());
    BOOST_TEST(must_scan(over->bytes).record_route.value.in(over->bytes) ==
               "<sip:203.0.113.1;lr;fm=f2;fc=f1.42;transport=tcp>");

    // The holder of a TLS connection says TLS where the sender said TCP:
    // our Via of a request, our Record-Route naming that connection.
    auto made_tls = for_tls_connection(over->bytes, must_scan(over->bytes), ConnRef{"f1", 42}, c);
    BOOST_REQUIRE(made_tls.ok());
    const std::string& on_tls = *made_tls;
    auto tm = must_scan(on_tls);
    BOOST_TEST(tm.via[0].transport.in(on_tls) == "TLS");
    BOOST_TEST(tm.record_route.value.in(on_tls) == "<sips:203.0.113.1;lr;fm=f2;fc=f1.42>");
    // The rest as it was: "sips:" one byte longer, ";transport=tcp" gone.
    BOOST_TEST(on_tls.size() == over->bytes.size() + 1 - 14);
    // Another connection's message is left alone, but for our Via.
    auto other = for_tls_connection(over->bytes, must_scan(over->bytes), ConnRef{"f1", 43}, c);
    BOOST_REQUIRE(other.ok());
    BOOST_TEST(other->find("transport=tcp") != std::string::npos);
    // A response toward the client: its Via is the client's, kept.
    auto made_resp = for_tls_connection(out->bytes, must_scan(out->bytes), ConnRef{"f1", 42}, c);
    BOOST_REQUIRE(made_resp.ok());
    const std::string& resp_tls = *made_resp;
    BOOST_TEST(must_scan(resp_tls).via[0].transport.in(resp_tls) == "TCP");
    BOOST_TEST(resp_tls.find("<sips:203.0.113.1;lr;fm=f2;fc=f1.42>") != std::string::npos,
               resp_tls);

    // As if the scanner had read our Record-Route's value as part of our
    // Via's transport: not written half made TLS.
    Message bad = must_scan(over->bytes);
    bad.via[0].transport =
        Span(bad.via[0].transport.off, bad.record_route.value.off + 1 - bad.via[0].transport.off);
    auto clash = for_tls_connection(over->bytes, bad, ConnRef{"f1", 42}, c);
    BOOST_TEST(!clash.ok(), "written half edited:\n" << (clash.ok() ? *clash : ""));
    if (!clash.ok()) {
        BOOST_TEST(clash.error().code == "edit_clash");
        BOOST_TEST(clash.error().message.find("Record-Route") != std::string::npos,
                   clash.error().message);
    }
}

// A farm on other ports than 5060/5061: our Record-Route facing TCP or TLS
// names the member's listener for that transport, not the UDP port.
BOOST_AUTO_TEST_CASE(record_route_facing_tcp_or_tls_names_that_listener_port) {
    ProxyContext c = ctx();
    c.rr_port = 5080;
    c.rr_tcp_port = 5090;
    c.rr_tls_port = 5091;
    std::string inv = "INVITE sip:carol@192.0.2.30;transport=tcp SIP/2.0\r\n"
                      "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKproc9\r\n"
                      "Max-Forwards: 70\r\nFrom: <sip:bob@example.com>;tag=p1\r\n"
                      "To: <sip:carol@example.com>\r\nCall-ID: out-9@proc\r\n"
                      "CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
    auto tcp = forward_from_processor(inv, must_scan(inv), c);
    BOOST_REQUIRE(tcp.ok());
    BOOST_TEST(must_scan(tcp->bytes).record_route.value.in(tcp->bytes) ==
               "<sip:203.0.113.1:5090;lr;fm=f2;transport=tcp>");
    // Our Via's sent-by: the same listener (where a target comes back for a
    // response when the connection is gone).
    BOOST_TEST(must_scan(tcp->bytes).via[0].port == 5090);
    std::string sips = inv;
    sips.replace(0, sips.find(" SIP/2.0"), "INVITE sips:carol@192.0.2.30");
    auto tls = forward_from_processor(sips, must_scan(sips), c);
    BOOST_REQUIRE(tls.ok());
    BOOST_TEST(must_scan(tls->bytes).record_route.value.in(tls->bytes) ==
               "<sips:203.0.113.1:5091;lr;fm=f2>");
    BOOST_TEST(must_scan(tls->bytes).via[0].port == 5091);
    // Over a client's connection, then made TLS by its holder.
    std::string via_path = inv;
    via_path.insert(via_path.find("Max-Forwards"),
                    "Route: <sip:203.0.113.1:5080;lr;fm=f1;fc=f1.42>\r\n");
    auto over = forward_from_processor(via_path, must_scan(via_path), c);
    BOOST_REQUIRE(over.ok());
    BOOST_TEST(must_scan(over->bytes).record_route.value.in(over->bytes) ==
               "<sip:203.0.113.1:5090;lr;fm=f2;fc=f1.42;transport=tcp>");
    auto on_tls = for_tls_connection(over->bytes, must_scan(over->bytes), ConnRef{"f1", 42}, c);
    BOOST_REQUIRE(on_tls.ok());
    BOOST_TEST(must_scan(*on_tls).record_route.value.in(*on_tls) ==
               "<sips:203.0.113.1:5091;lr;fm=f2;fc=f1.42>");
    // The 200 on its way back to the processor: the UDP port again.
    auto sm = must_scan(tcp->bytes);
    std::string back = "SIP/2.0 200 OK\r\n";
    back += sm.via[0].line.in(tcp->bytes);
    back += sm.via[1].line.in(tcp->bytes);
    back += sm.record_route.line.in(tcp->bytes);
    back += "From: <sip:bob@example.com>;tag=p1\r\nTo: <sip:carol@example.com>;tag=c1\r\n"
            "Call-ID: out-9@proc\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
    auto to_proc = forward_response(back, must_scan(back), &c);
    BOOST_REQUIRE(to_proc.ok());
    BOOST_TEST(must_scan(to_proc->bytes).record_route.value.in(to_proc->bytes) ==
               "<sip:203.0.113.1:5080;lr;fm=f2>");
}

// The request as it would have left for a Relay backend: our Via naming the
// backend on top, the rest as received; a reply to it goes back by that Via.
BOOST_AUTO_TEST_CASE(with_our_via_puts_the_backends_via_on_top) {
    ProxyContext c = ctx();
    c.via_member = "b1";
    std::string req = "OPTIONS sip:carol@192.0.2.30;transport=sctp SIP/2.0\r\n"
                      "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKb1x\r\n"
                      "Max-Forwards: 70\r\nFrom: <sip:b@example.com>;tag=p1\r\n"
                      "To: <sip:c@example.com>\r\nCall-ID: wov@b1\r\n"
                      "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    std::string out = with_our_via(req, must_scan(req), c);
    auto m = must_scan(out);
    BOOST_TEST(m.via_count == 2u);
    BOOST_TEST(branch_member(m.via[0].branch.in(out)).value_or("") == "b1");
    BOOST_TEST(parse_farm_branch(m.via[0].branch.in(out))->from_processor);
    BOOST_TEST(m.via[0].host.in(out) == "203.0.113.1");
    BOOST_TEST(m.via[1].branch.in(out) == "z9hG4bKb1x");
    auto reply = make_reply(out, m, addr("10.77.0.11:5069"), 477, "Send Failed", "t1");
    auto back = forward_response(reply.bytes, must_scan(reply.bytes), &c);
    BOOST_REQUIRE(back.ok());
    BOOST_TEST(back->to.str() == "127.0.0.1:5070");
    BOOST_TEST(must_scan(back->bytes).status == 477);
    // The backend's processor names the farm's address in its Via: the
    // farm's answer still reaches the processor, not that address.
    std::string adv = req;
    adv.replace(adv.find("127.0.0.1:5070"), 14, "203.0.113.1:5060");
    std::string out2 = with_our_via(adv, must_scan(adv), c);
    auto reply2 =
        make_reply(out2, must_scan(out2), addr("10.77.0.11:5069"), 477, "Send Failed", "t1");
    auto back2 = forward_response(reply2.bytes, must_scan(reply2.bytes), &c);
    BOOST_REQUIRE(back2.ok());
    BOOST_TEST(back2->to.str() == "127.0.0.1:5070");
}

BOOST_AUTO_TEST_CASE(the_target_says_the_transport) {
    BOOST_TEST((target_transport("sip:bob@192.0.2.1") == Transport::udp));
    BOOST_TEST((target_transport("sip:bob@192.0.2.1;transport=udp") == Transport::udp));
    BOOST_TEST((target_transport("sip:bob@192.0.2.1;transport=TCP") == Transport::tcp));
    BOOST_TEST((target_transport("<sip:192.0.2.1;lr;transport=tcp>") == Transport::tcp));
    BOOST_TEST((target_transport("sip:192.0.2.1;transport=tls") == Transport::tls));
    BOOST_TEST((target_transport("SIPS:bob@192.0.2.1") == Transport::tls));
    BOOST_TEST((target_transport("<sips:192.0.2.1;lr>") == Transport::tls));
    BOOST_TEST((target_transport("sips:bob@192.0.2.1;transport=tcp") == Transport::tls));
    // The user part is not searched; what the farm does not speak is nullopt.
    BOOST_TEST((target_transport("sip:a;transport=tcp@192.0.2.1") == Transport::udp));
    BOOST_TEST(!target_transport("sip:192.0.2.1;transport=sctp"));
    BOOST_TEST(!target_transport("sip:192.0.2.1;transport=ws"));
    BOOST_TEST(!target_transport("sips:192.0.2.1;transport=udp"));
}

BOOST_AUTO_TEST_CASE(a_request_to_a_tcp_or_tls_target_says_so_in_our_via) {
    std::string req = "INVITE sip:carol@192.0.2.30;transport=tcp SIP/2.0\r\n"
                      "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKproc1\r\n"
                      "Max-Forwards: 70\r\n"
                      "From: <sip:bob@example.com>;tag=p1\r\n"
                      "To: <sip:carol@example.com>\r\n"
                      "Call-ID: out-2@proc\r\n"
                      "CSeq: 1 INVITE\r\n"
                      "Content-Length: 0\r\n\r\n";
    auto tcp = forward_from_processor(req, must_scan(req), ctx());
    BOOST_REQUIRE(tcp.ok());
    BOOST_TEST((tcp->transport == Transport::tcp));
    BOOST_TEST(!tcp->conn);
    BOOST_TEST(tcp->to.str() == "192.0.2.30:5060");
    BOOST_TEST(must_scan(tcp->bytes).via[0].transport.in(tcp->bytes) == "TCP");
    // sips: is TLS, on 5061 when the URI names no port.
    std::string tls = req;
    tls.replace(0, tls.find(" SIP/2.0"), "INVITE sips:carol@192.0.2.30");
    auto out = forward_from_processor(tls, must_scan(tls), ctx());
    BOOST_REQUIRE(out.ok());
    BOOST_TEST((out->transport == Transport::tls));
    BOOST_TEST(out->to.str() == "192.0.2.30:5061");
    BOOST_TEST(must_scan(out->bytes).via[0].transport.in(out->bytes) == "TLS");
    // A Route that asks for TCP wins over the Request-URI.
    std::string routed = req;
    routed.replace(routed.find(";transport=tcp"), 14, "");
    routed.insert(routed.find("Max-Forwards"), "Route: <sip:192.0.2.40:5070;lr;transport=tcp>\r\n");
    auto via_route = forward_from_processor(routed, must_scan(routed), ctx());
    BOOST_REQUIRE(via_route.ok());
    BOOST_TEST((via_route->transport == Transport::tcp));
    BOOST_TEST(via_route->to.str() == "192.0.2.40:5070");
    // A transport the farm does not speak is an error, not a UDP guess.
    std::string sctp = req;
    sctp.replace(sctp.find("transport=tcp"), 13, "transport=sctp");
    BOOST_TEST(forward_from_processor(sctp, must_scan(sctp), ctx()).error().code ==
               "unsupported_transport");
}

// A proxy as the processor (Kamailio, `advertise` the farm's address): what
// the farm gave it comes back with its Via and Record-Route between ours.
// Its answer's way back must not trust its Via, and nothing internal may
// reach the target.
BOOST_AUTO_TEST_CASE(a_proxy_processor_relays_a_request_it_got_from_us) {
    auto in = forward_to_processor(INVITE, must_scan(INVITE), addr("198.51.100.10:40312"),
                                   addr("127.0.0.1:5070"), ctx());
    BOOST_REQUIRE(in.ok());
    auto inner = must_scan(in->bytes);
    std::string our_via(inner.via[0].value.in(in->bytes));
    // The processor adds its Via and Record-Route (naming the farm), stamps
    // received/rport on ours (it saw 127.0.0.1:5060) and sends to us.
    auto relayed = [&](std::string_view its_rr) {
        std::string r = in->bytes;
        std::string stamped = our_via;
        stamped.replace(stamped.find(";rport"), 6, ";received=127.0.0.1;rport=5060");
        r.replace(r.find(our_via), our_via.size(), stamped);
        r.insert(r.find("Via: "), "Via: SIP/2.0/UDP 203.0.113.1:5060;branch=z9hG4bKkam1\r\n" +
                                      std::string("Record-Route: ") + std::string(its_rr) + "\r\n");
        return r;
    };
    std::string req = relayed("<sip:203.0.113.1;lr;ftag=a1>");
    auto out = forward_from_processor(req, must_scan(req), ctx());
    BOOST_REQUIRE(out.ok());
    BOOST_TEST(out->to.str() == "192.0.2.20:5062");
    auto sent = must_scan(out->bytes);
    // Our branch says the request came from the processor.
    auto b = parse_farm_branch(sent.via[0].branch.in(out->bytes));
    BOOST_REQUIRE(b.has_value());
    BOOST_TEST(b->member == "f2");
    BOOST_TEST(b->from_processor);
    // No internal address anywhere; our Via of the way in as we wrote it.
    BOOST_TEST(out->bytes.find("127.0.0.1") == std::string::npos);
    BOOST_TEST(out->bytes.find("Via: " + our_via + "\r\n") != std::string::npos);
    // One Record-Route of ours: the processor's stands before the one of
    // the way in, which reads as ours of the way out would.
    BOOST_TEST(sent.record_route.value.in(out->bytes) == "<sip:203.0.113.1;lr;ftag=a1>");
    size_t first = out->bytes.find("fm=f2");
    BOOST_TEST(first != std::string::npos);
    BOOST_TEST(out->bytes.find("fm=f2", first + 1) == std::string::npos);

    // Stamps written with spaces around '=' (RFC 3261 25.1) come off too.
    std::string spaced = req;
    spaced.replace(spaced.find(";received=127.0.0.1;rport=5060"), 30,
                   ";rport = 5060 ;Received = 127.0.0.1");
    auto out_spaced = forward_from_processor(spaced, must_scan(spaced), ctx());
    BOOST_REQUIRE(out_spaced.ok());
    BOOST_TEST(out_spaced->bytes.find("127.0.0.1") == std::string::npos, out_spaced->bytes);
    BOOST_TEST(out_spaced->bytes.find("Via: " + our_via + " \r\n") != std::string::npos,
               out_spaced->bytes);

    // To a TCP target ours faces another transport: a second one, on top
    // (RFC 5658).
    std::string tcp = req;
    tcp.replace(tcp.find("sip:bob@192.0.2.20:5062"), 23, "sip:bob@192.0.2.20:5062;transport=tcp");
    auto out_tcp = forward_from_processor(tcp, must_scan(tcp), ctx());
    BOOST_REQUIRE(out_tcp.ok());
    BOOST_TEST(must_scan(out_tcp->bytes).record_route.value.in(out_tcp->bytes) ==
               "<sip:203.0.113.1;lr;fm=f2;transport=tcp>");
    BOOST_TEST(out_tcp->bytes.find("<sip:203.0.113.1;lr;fm=f2>") != std::string::npos);

    // A processor that Record-Routes with its own address: ours again on
    // top, or the target could not come back through the farm.
    std::string internal = relayed("<sip:127.0.0.1:5070;lr>");
    auto out2 = forward_from_processor(internal, must_scan(internal), ctx());
    BOOST_REQUIRE(out2.ok());
    BOOST_TEST(must_scan(out2->bytes).record_route.value.in(out2->bytes) ==
               "<sip:203.0.113.1;lr;fm=f2>");

    // The target answers; any member relays to f2 by the branch; f2 pops
    // its Via and sends to its processor, whatever the processor's Via says.
    std::string resp =
        make_reply(out->bytes, sent, addr("192.0.2.20:5062"), 180, "Ringing", "b1").bytes;
    ProxyContext c = ctx();
    auto back = forward_response(resp, must_scan(resp), &c);
    BOOST_REQUIRE(back.ok());
    BOOST_TEST(back->to.str() == "127.0.0.1:5070");
    // A response with a farm Via below ours of a processor's request was
    // made up (the processor's own Via stands there): refused.
    std::string bounce = resp;
    bounce.replace(bounce.find("z9hG4bKkam1"), 11, "z9hG4bKrtf.f2.p.0000000000000000");
    BOOST_TEST(forward_response(bounce, must_scan(bounce), &c).error().code == "bad_next_via");
    // Without the processor's mark, the next Via as before.
    c.processor.reset();
    auto plain = forward_response(resp, must_scan(resp), &c);
    BOOST_REQUIRE(plain.ok());
    BOOST_TEST(plain->to.str() == "203.0.113.1:5060");
}

// A request the processor originates (OPTIONS keepalive, NOTIFY): its
// answer comes back to it too.
BOOST_AUTO_TEST_CASE(the_answer_to_a_request_the_processor_made_goes_to_it) {
    std::string req = "OPTIONS sip:carol@192.0.2.30:5060 SIP/2.0\r\n"
                      "Via: SIP/2.0/UDP 203.0.113.1:5060;branch=z9hG4bKka1\r\n"
                      "Max-Forwards: 70\r\n"
                      "From: <sip:keepalive@203.0.113.1>;tag=k1\r\n"
                      "To: <sip:carol@192.0.2.30>\r\n"
                      "Call-ID: ka-1\r\n"
                      "CSeq: 10 OPTIONS\r\n"
                      "Content-Length: 0\r\n\r\n";
    auto out = forward_from_processor(req, must_scan(req), ctx());
    BOOST_REQUIRE(out.ok());
    std::string resp =
        make_reply(out->bytes, must_scan(out->bytes), addr("192.0.2.30:5060"), 200, "OK", "c9")
            .bytes;
    ProxyContext c = ctx();
    auto back = forward_response(resp, must_scan(resp), &c);
    BOOST_REQUIRE(back.ok());
    BOOST_TEST(back->to.str() == "127.0.0.1:5070");
    BOOST_TEST(processor_branch_verified(resp, must_scan(resp), c.branch_key));
}

// Issue 16: the processor mark is a MAC under the cluster secret's branch
// key. A stranger who writes "z9hG4bKrtf.f2.p." and any digits, or copies a
// real mark onto another Call-ID, reaches neither the processor nor the
// media (media_action); one made under another secret neither.
BOOST_AUTO_TEST_CASE(a_forged_processor_mark_is_refused) {
    std::string req = "OPTIONS sip:carol@192.0.2.30:5060 SIP/2.0\r\n"
                      "Via: SIP/2.0/UDP 203.0.113.1:5060;branch=z9hG4bKka2\r\n"
                      "Max-Forwards: 70\r\n"
                      "From: <sip:keepalive@203.0.113.1>;tag=k1\r\n"
                      "To: <sip:carol@192.0.2.30>\r\n"
                      "Call-ID: ka-2\r\n"
                      "CSeq: 10 OPTIONS\r\n"
                      "Content-Length: 0\r\n\r\n";
    ProxyContext c = ctx();
    c.branch_key = branch_key("the cluster secret");
    auto out = forward_from_processor(req, must_scan(req), c);
    BOOST_REQUIRE(out.ok());
    std::string resp =
        make_reply(out->bytes, must_scan(out->bytes), addr("192.0.2.30:5060"), 200, "OK", "c9")
            .bytes;
    BOOST_REQUIRE(forward_response(resp, must_scan(resp), &c).ok());

    auto refused = [&](const std::string& bytes) {
        auto r = forward_response(bytes, must_scan(bytes), &c);
        return !r.ok() && r.error().code == "forged_branch";
    };
    const std::string ours = std::string(must_scan(resp).via[0].branch.in(resp));
    std::string forged = resp;
    forged.replace(forged.find(ours), ours.size(), farm_branch("f2", 0x1234, true));
    BOOST_TEST(refused(forged));
    std::string moved = resp;
    moved.replace(moved.find("Call-ID: ka-2"), 13, "Call-ID: ka-3");
    BOOST_TEST(refused(moved));
    ProxyContext other = c;
    other.branch_key = branch_key("another secret");
    auto r = forward_response(resp, must_scan(resp), &other);
    BOOST_TEST((!r.ok() && r.error().code == "forged_branch"));
    // Issue 17: after a key rotation, the answers to what the processor
    // sent before are still taken (an earlier key), and those under a key
    // never held still refused.
    other.earlier_branch_keys = {branch_key("a third secret"), c.branch_key};
    BOOST_TEST(forward_response(resp, must_scan(resp), &other).ok());
    BOOST_TEST(processor_branch_verified(resp, must_scan(resp), other.branch_key,
                                         other.earlier_branch_keys));
    other.earlier_branch_keys = {branch_key("a third secret")};
    r = forward_response(resp, must_scan(resp), &other);
    BOOST_TEST((!r.ok() && r.error().code == "forged_branch"));
}

BOOST_AUTO_TEST_CASE(our_route_behind_the_processors_own) {
    auto behind = [](const std::string& routes) {
        std::string bye = "BYE sip:alice@198.51.100.10:5060 SIP/2.0\r\n"
                          "Via: SIP/2.0/UDP 192.0.2.20:5062;branch=z9hG4bKb1\r\n"
                          "Route: " +
                          routes +
                          "\r\n"
                          "From: <sip:bob@example.com>;tag=b\r\n"
                          "To: <sip:alice@example.com>;tag=a\r\n"
                          "Call-ID: c1\r\n"
                          "CSeq: 5 BYE\r\n"
                          "Content-Length: 0\r\n\r\n";
        auto m = scan(bye);
        BOOST_REQUIRE(m.ok());
        return std::string(farm_route_behind(bye, *m, "203.0.113.1"));
    };
    BOOST_TEST(behind("<sip:203.0.113.1;lr;ftag=a1>, <sip:203.0.113.1;lr;fm=f2>") ==
               "<sip:203.0.113.1;lr;fm=f2>");
    BOOST_TEST(behind("<sip:203.0.113.1:5060;lr>, <sip:203.0.113.1;lr;fm=f3;fc=f1.7>") ==
               "<sip:203.0.113.1;lr;fm=f3;fc=f1.7>");
    BOOST_TEST(behind("<sip:203.0.113.1;lr;fm=f1>, <sip:203.0.113.1;lr;fm=f2>") ==
               "<sip:203.0.113.1;lr;fm=f1>");
    // Another host first: that one is where the request goes.
    BOOST_TEST(behind("<sip:192.0.2.99;lr>, <sip:203.0.113.1;lr;fm=f2>").empty());
    BOOST_TEST(behind("<sip:203.0.113.1;lr>, <sip:192.0.2.99;lr;fm=f2>").empty());
    BOOST_TEST(behind("<sip:203.0.113.1;lr>").empty());
    BOOST_TEST(behind("<tel:+1555>, <sip:203.0.113.1;lr;fm=f2>").empty());
    // Only at the farm's host, however alike the Routes are.
    BOOST_TEST(behind("<sip:evil.example;lr>, <sip:evil.example;lr;fm=f3>").empty());
    // At most MAX_ROUTES_AHEAD of the processor's before ours.
    std::string many;
    for (unsigned i = 0; i < MAX_ROUTES_AHEAD; ++i)
        many += "<sip:203.0.113.1;lr;n=" + std::to_string(i) + ">, ";
    BOOST_TEST(behind(many + "<sip:203.0.113.1;lr;fm=f2>").empty());
    many.erase(0, many.find(", ") + 2);
    BOOST_TEST(behind(many + "<sip:203.0.113.1;lr;fm=f2>") == "<sip:203.0.113.1;lr;fm=f2>");
}

BOOST_AUTO_TEST_CASE(replies_made_by_the_farm) {
    auto msg = must_scan(INVITE);
    auto out = make_reply(INVITE, msg, addr("198.51.100.10:40312"), 483, "Too Many Hops", "t9",
                          {"X-Farm-Answered-By: f2"});
    BOOST_TEST(out.to.str() == "198.51.100.10:40312");
    auto r = must_scan(out.bytes);
    BOOST_TEST(!r.is_request());
    BOOST_TEST(r.status == 483);
    BOOST_TEST(r.via[0].branch.in(out.bytes) == "z9hG4bKclient1");
    BOOST_TEST(r.via[0].received.in(out.bytes) == "198.51.100.10");
    BOOST_TEST(r.via[0].rport.in(out.bytes) == "40312");
    BOOST_TEST(r.to_tag.in(out.bytes) == "t9");
    BOOST_TEST(r.call_id.in(out.bytes) == "call-1@client");
    BOOST_TEST(r.cseq == 1u);
    BOOST_TEST(header_value(out.bytes, r, "X-Farm-Answered-By") == "f2");
    BOOST_TEST(r.content_length == 0);
}

BOOST_AUTO_TEST_CASE(probe_detection) {
    std::string probe = "OPTIONS sip:lbcheck@203.0.113.1 SIP/2.0\r\n"
                        "Via: SIP/2.0/UDP 198.51.100.10:5060;branch=z9hG4bKp1\r\n"
                        "From: <sip:lbcheck@x>;tag=1\r\nTo: <sip:lbcheck@203.0.113.1>\r\n"
                        "Call-ID: p1\r\nCSeq: 1 OPTIONS\r\nX-Farm-Reply-From:  f3 \r\n\r\n";
    auto m = must_scan(probe);
    BOOST_TEST(is_probe(probe, m));
    BOOST_TEST(header_value(probe, m, "x-farm-reply-from") == "f3");
    BOOST_TEST(!is_probe(INVITE, must_scan(INVITE)));
}

// No message the scanner reads makes two of the proxy's edits overlap: each
// lies in a header line of its own, and an insertion goes at the start of a
// line. A scanner bug could; a message whose Spans overlap must then not go
// out with one of its edits silently left out.
BOOST_AUTO_TEST_CASE(an_edit_that_clashes_refuses_the_message) {
    // Toward the processor: our Route to pop, Max-Forwards to lower.
    std::string req = "INVITE sip:bob@192.0.2.20:5062 SIP/2.0\r\n"
                      "Route: <sip:203.0.113.1;lr;fm=f2>\r\n"
                      "Max-Forwards: 70\r\n"
                      "Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKclient1;rport\r\n"
                      "From: <sip:alice@example.com>;tag=a1\r\n"
                      "To: <sip:bob@example.com>\r\n"
                      "Call-ID: call-1@client\r\n"
                      "CSeq: 1 INVITE\r\n"
                      "Content-Length: 0\r\n"
                      "\r\n";
    auto msg = must_scan(req);
    auto good =
        forward_to_processor(req, msg, addr("198.51.100.10:40312"), addr("127.0.0.1:5070"), ctx());
    BOOST_REQUIRE(good.ok());
    BOOST_TEST(!must_scan(good->bytes).route.line.present());
    // As if the scanner had read the Max-Forwards line as part of the Route
    // line: popping the Route would erase the value Max-Forwards rewrites.
    Message bad = msg;
    auto via_at = static_cast<uint32_t>(req.find("Via:"));
    bad.route.erase = Span(msg.route.line.off, via_at - msg.route.line.off);
    auto out =
        forward_to_processor(req, bad, addr("198.51.100.10:40312"), addr("127.0.0.1:5070"), ctx());
    BOOST_TEST(!out.ok(), "went out half edited:\n" << (out.ok() ? out->bytes : ""));
    if (!out.ok()) {
        BOOST_TEST(out.error().code == "edit_clash");
        BOOST_TEST(out.error().message.find("Route") != std::string::npos, out.error().message);
    }

    // A response toward a client's connection: our Via to remove, our
    // Record-Route to make say TCP.
    std::string resp =
        "SIP/2.0 200 OK\r\n"
        "Record-Route: <sip:203.0.113.1;lr;fm=f2;fc=f1.42>\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKrtf.f2.00000000000000aa;rtfc=f1.42\r\n"
        "Via: SIP/2.0/TCP 10.0.0.5:5060;branch=z9hG4bKc1;received=198.51.100.10\r\n"
        "From: <sip:alice@example.com>;tag=a1\r\nTo: <sip:bob@example.com>;tag=b1\r\n"
        "Call-ID: call-1@client\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
    auto c = ctx();
    auto rmsg = must_scan(resp);
    auto fine = forward_response(resp, rmsg, &c);
    BOOST_REQUIRE(fine.ok());
    BOOST_TEST(fine->bytes.find(";transport=tcp>") != std::string::npos, fine->bytes);
    // As if the scanner had read the Record-Route line as part of our Via's.
    Message rbad = rmsg;
    rbad.via[0].erase =
        Span(rmsg.record_route.line.off, rmsg.via[0].line.end() - rmsg.record_route.line.off);
    auto back = forward_response(resp, rbad, &c);
    BOOST_TEST(!back.ok(), "went out half edited:\n" << (back.ok() ? back->bytes : ""));
    if (!back.ok()) {
        BOOST_TEST(back.error().code == "edit_clash");
        BOOST_TEST(back.error().message.find("Record-Route") != std::string::npos,
                   back.error().message);
    }
}

// A Message that ends before its edits (the Spans of another buffer):
// refused, where EditList::apply would make an empty datagram.
BOOST_AUTO_TEST_CASE(an_edit_beyond_the_message_refuses_it) {
    auto msg = must_scan(INVITE);
    Message cut = msg;
    cut.end = msg.via[0].line.off;
    auto out = forward_to_processor(INVITE, cut, addr("198.51.100.10:40312"),
                                    addr("127.0.0.1:5070"), ctx());
    BOOST_TEST(!out.ok(), "went out, " << (out.ok() ? out->bytes.size() : 0) << " bytes");
    if (!out.ok())
        BOOST_TEST(out.error().code == "edit_clash");
}

BOOST_AUTO_TEST_SUITE_END()

// Differential: what the proxy produces, read by libosip2, says the same as
// what our scanner says (requests forwarded both ways, responses, replies).
BOOST_AUTO_TEST_SUITE(sip_proxy_vs_osip)

BOOST_AUTO_TEST_CASE(forwarded_and_built_messages_parse_in_libosip2) {
    auto check = [](const std::string& bytes) {
        auto ours = scan(bytes);
        BOOST_REQUIRE(ours.ok());
        auto theirs = osip_parse(bytes);
        BOOST_REQUIRE_MESSAGE(theirs.ok(), (theirs.ok() ? "" : theirs.error().message) << "\n"
                                                                                       << bytes);
        BOOST_TEST(theirs->call_id().value_or("") == std::string(ours->call_id.in(bytes)));
        BOOST_TEST(theirs->cseq_number().value_or(0) == ours->cseq);
        BOOST_TEST(theirs->via_count() == ours->via_count);
        BOOST_TEST(theirs->top_via_branch().value_or("") ==
                   std::string(ours->via[0].branch.in(bytes)));
        if (ours->is_request())
            BOOST_TEST(theirs->max_forwards() == ours->max_forwards);
        else
            BOOST_TEST(theirs->status_code() == ours->status);
    };
    auto msg = must_scan(INVITE);
    auto to_proc = forward_to_processor(INVITE, msg, addr("198.51.100.10:40312"),
                                        addr("127.0.0.1:5070"), ctx());
    BOOST_REQUIRE(to_proc.ok());
    check(to_proc->bytes);
    auto out = forward_from_processor(INVITE, msg, ctx());
    BOOST_REQUIRE(out.ok());
    check(out->bytes);
    check(make_reply(INVITE, msg, addr("198.51.100.10:40312"), 483, "Too Many Hops", "t1").bytes);
    check(make_reply(INVITE, msg, addr("198.51.100.10:40312"), 200, "OK", "t2",
                     {"X-Farm-Answered-By: f2", "X-Farm-Digest: 00ff"})
              .bytes);
}

BOOST_AUTO_TEST_SUITE_END()
