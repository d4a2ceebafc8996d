// Framing SIP on a stream: whole, split at every byte, pipelined, with
// leading CRLFs and RFC 5626 keep-alives; and every framing error (no
// Content-Length, too large a header block or body, a number that is not
// one) is final.
#include "sip/stream.hpp"

#include <boost/test/unit_test.hpp>

#include <vector>

using namespace rtfarm;
using namespace rtfarm::sip;

namespace {

std::string message(const std::string& body, const std::string& cl_header = "Content-Length") {
    return "INVITE sip:b@example.com SIP/2.0\r\n"
           "Via: SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bK1\r\n"
           "Call-ID: c1\r\n"
           "CSeq: 1 INVITE\r\n" +
           cl_header + ": " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

// Everything the framer gives for `chunks` fed one after another ("PING" for
// a ping), and the error if one came.
struct Out {
    std::vector<std::string> items;
    std::string error;
};
Out feed(StreamFramer& f, const std::vector<std::string>& chunks) {
    Out out;
    for (const std::string& c : chunks) {
        f.append(c);
        for (;;) {
            auto r = f.next();
            if (!r) {
                out.error = r.error().message;
                BOOST_TEST(r.error().code == "framing");
                return out;
            }
            if (!*r)
                break;
            out.items.push_back((*r)->kind == StreamFramer::Kind::ping ? "PING"
                                                                       : std::string((*r)->bytes));
        }
    }
    return out;
}

} // namespace

BOOST_AUTO_TEST_SUITE(sip_stream)

BOOST_AUTO_TEST_CASE(whole_and_pipelined_messages) {
    StreamFramer f;
    std::string a = message("v=0\r\n"), b = message("");
    Out o = feed(f, {a + b + a});
    BOOST_TEST(o.error == "");
    BOOST_REQUIRE(o.items.size() == 3u);
    BOOST_TEST(o.items[0] == a);
    BOOST_TEST(o.items[1] == b);
    BOOST_TEST(o.items[2] == a);
    BOOST_TEST(f.pending() == 0u);
}

BOOST_AUTO_TEST_CASE(split_at_every_byte) {
    std::string stream = "\r\n" + message("hello") + "\r\n\r\n" + message("") + message("x");
    StreamFramer f;
    std::vector<std::string> bytes;
    for (char c : stream)
        bytes.emplace_back(1, c);
    Out o = feed(f, bytes);
    BOOST_TEST(o.error == "");
    BOOST_REQUIRE(o.items.size() == 4u);
    BOOST_TEST(o.items[0] == message("hello"));
    BOOST_TEST(o.items[1] == "PING");
    BOOST_TEST(o.items[2] == message(""));
    BOOST_TEST(o.items[3] == message("x"));
}

BOOST_AUTO_TEST_CASE(keepalives) {
    // A ping, a lone CRLF (a pong: skipped), then "X" and an empty line: a
    // header block without Content-Length, which ends the stream.
    StreamFramer f;
    Out o = feed(f, {"\r\n\r\n", "\r\n", "X", "\r\n\r\n"});
    BOOST_TEST(o.items == std::vector<std::string>{"PING"});
    BOOST_TEST(o.error.find("without Content-Length") != std::string::npos, o.error);
    // Two pings, then a message with the compact form of Content-Length.
    StreamFramer g;
    Out p = feed(g, {"\r\n\r\n\r\n", "\r\n", message("ab", "l")});
    BOOST_TEST(p.error == "");
    BOOST_TEST(p.items == (std::vector<std::string>{"PING", "PING", message("ab", "l")}));
    // A lone CRLF and nothing after it is held, not an error.
    StreamFramer h;
    Out q = feed(h, {"\r\n"});
    BOOST_TEST(q.items.empty());
    BOOST_TEST(h.pending() == 2u);
}

BOOST_AUTO_TEST_CASE(missing_content_length_is_fatal) {
    StreamFramer f;
    std::string m = message("x");
    m.replace(m.find("Content-Length: 1"), 17, "X-Length: 1");
    Out o = feed(f, {m, message("")});
    BOOST_TEST(o.items.empty());
    BOOST_TEST(o.error.find("without Content-Length") != std::string::npos, o.error);
    // Final: later bytes change nothing.
    f.append(message(""));
    BOOST_TEST(!f.next());
}

BOOST_AUTO_TEST_CASE(limits) {
    StreamLimits l;
    l.max_header_block = 200;
    l.max_body = 10;
    {
        StreamFramer f(l);
        Out o = feed(f, {message("0123456789")});
        BOOST_TEST(o.error == "");
        BOOST_TEST(o.items.size() == 1u);
    }
    {
        StreamFramer f(l);
        Out o = feed(f, {message("0123456789A")});
        BOOST_TEST(o.error.find("a body of 11 bytes (limit 10)") != std::string::npos, o.error);
    }
    {
        // A header block that never ends: refused once it passes the limit,
        // before the rest arrives.
        StreamFramer f(l);
        Out o = feed(f, {"INVITE sip:x SIP/2.0\r\n", std::string(190, 'a'), "\r\n"});
        BOOST_TEST(o.error.find("no end of the header block") != std::string::npos, o.error);
    }
    {
        StreamFramer f(l);
        std::string big = message("");
        big.insert(big.find("Call-ID"), "Subject: " + std::string(150, 's') + "\r\n");
        Out o = feed(f, {big});
        BOOST_TEST(o.error.find("header block of") != std::string::npos, o.error);
    }
}

BOOST_AUTO_TEST_CASE(garbage) {
    for (const char* cl :
         {"Content-Length: ten", "Content-Length: -1", "Content-Length: 99999999999"}) {
        StreamFramer f;
        std::string m = message("");
        m.replace(m.find("Content-Length: 0"), 17, cl);
        Out o = feed(f, {m});
        BOOST_TEST(!o.error.empty(), cl);
    }
    // Binary junk without an end of headers hits the header limit.
    StreamFramer f;
    std::string junk(20000, '\x01');
    Out o = feed(f, {junk});
    BOOST_TEST(!o.error.empty());
}

// Issue 17: 4096 accepted + 1024 outgoing connections did not fit the
// shipped units' 4096 descriptors; the caps follow the limit.
BOOST_AUTO_TEST_CASE(connection_caps_fit_the_descriptor_limit) {
    BOOST_TEST((stream_caps(65536, 4096, 1024, 256) == StreamCaps{4096, 1024}));
    BOOST_TEST((stream_caps(4096 + 1024 + 256, 4096, 1024, 256) == StreamCaps{4096, 1024}));
    auto c = stream_caps(4096, 4096, 1024, 256);
    BOOST_TEST(c.accepted + c.outgoing == 4096u - 256u);
    BOOST_TEST(c.accepted == (4096u - 256u) * 4096u / 5120u);
    BOOST_TEST((stream_caps(256, 4096, 1024, 256) == StreamCaps{0, 0}));
    BOOST_TEST((stream_caps(100, 4096, 1024, 256) == StreamCaps{0, 0}));
    BOOST_TEST((stream_caps(1024, 0, 0, 256) == StreamCaps{0, 0}));
}

BOOST_AUTO_TEST_SUITE_END()
