#include "sip_messages.hpp"

#include <boost/test/unit_test.hpp>

namespace rtfarm::test {

std::string request(const std::string& method, const std::string& call_id, int cseq,
                    const std::string& client, const std::string& branch, const std::string& extra,
                    const std::string& to_tag) {
    std::string uri = method == "OPTIONS" ? "sip:lbcheck@127.0.0.1" : "sip:bob@example.com";
    return method + " " + uri + " SIP/2.0\r\n" + "Via: SIP/2.0/UDP " + client +
           ";branch=" + branch + ";rport\r\n" + "Max-Forwards: 70\r\n" +
           "From: <sip:alice@example.com>;tag=a1\r\n" + "To: <sip:bob@example.com>" +
           (to_tag.empty() ? "" : ";tag=" + to_tag) + "\r\n" + "Call-ID: " + call_id + "\r\n" +
           "CSeq: " + std::to_string(cseq) + " " + method + "\r\n" + "Contact: <sip:alice@" +
           client + ">\r\n" + extra + "Content-Length: 0\r\n\r\n";
}

sip::Message scan_ok(const std::string& bytes) {
    auto m = sip::scan(bytes);
    BOOST_REQUIRE_MESSAGE(m.ok(), (m.ok() ? "" : m.error().message) << "\n" << bytes);
    return m.value();
}

// The processor's answer to a request it received: the request's Vias and
// Record-Route, a To tag.
std::string response_to(const std::string& req, int code, const std::string& to_tag,
                        const std::string& contact) {
    auto m = scan_ok(req);
    std::string resp = "SIP/2.0 " + std::to_string(code) + " OK\r\n";
    resp += m.via[0].line.in(req);
    if (m.via[1].line.off != m.via[0].line.off)
        resp += m.via[1].line.in(req);
    if (m.record_route.line.present())
        resp += m.record_route.line.in(req);
    resp += "From: " + std::string(m.from.in(req)) + "\r\n";
    resp +=
        "To: " + std::string(m.to.in(req)) + (m.to_tag.present() ? "" : ";tag=" + to_tag) + "\r\n";
    resp += "Call-ID: " + std::string(m.call_id.in(req)) + "\r\n";
    resp += "CSeq: " + std::to_string(m.cseq) + " " + std::string(m.cseq_method.in(req)) +
            "\r\nContact: <sip:uas@" + contact + ">\r\nContent-Length: 0\r\n\r\n";
    return resp;
}

void answer(UdpPeer& processor, const Received& req, int code, const std::string& to_tag) {
    auto m = scan_ok(req.bytes);
    // With rport (the farm asks for it), where the request came from (RFC
    // 3581); else the sent-by, at the source's address (RFC 3261 18.2.2).
    std::string port = std::to_string(m.via[0].port ? m.via[0].port : 5060);
    std::string to = m.via[0].rport.present() ? req.source.str() : req.source.host() + ":" + port;
    processor.send(to, response_to(req.bytes, code, to_tag, processor.address().str()));
}

std::string processor_request(const std::string& method, const std::string& uri,
                              const std::string& proc, const std::string& branch,
                              const std::string& route, const std::string& from_tag,
                              const std::string& to_tag, const std::string& call_id, int cseq) {
    return method + " " + uri + " SIP/2.0\r\nVia: SIP/2.0/UDP " + proc + ";branch=" + branch +
           "\r\n" + (route.empty() ? "" : "Route: " + route + "\r\n") +
           "Max-Forwards: 70\r\nFrom: <sip:bob@example.com>;tag=" + from_tag +
           "\r\nTo: <sip:alice@example.com>" + (to_tag.empty() ? "" : ";tag=" + to_tag) +
           "\r\nCall-ID: " + call_id + "\r\nCSeq: " + std::to_string(cseq) + " " + method +
           "\r\nContent-Length: 0\r\n\r\n";
}

} // namespace rtfarm::test
