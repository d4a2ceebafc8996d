// sip::media_action(): which SIP messages hand their SDP to the relay, as
// what, for which party; and replace_body()'s Content-Length.
#include "sip/farm_tags.hpp"
#include "sip/media_action.hpp"
#include "sip/scanner.hpp"

#include <boost/test/unit_test.hpp>

#include <string>

using namespace rtfarm;
using namespace rtfarm::sip;

namespace {

const std::string SDP = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 "
                        "0\r\nm=audio 4000 RTP/AVP 0\r\n";

std::string request(const std::string& method, const std::string& body = "",
                    const std::string& type = "application/sdp", const std::string& to_tag = "") {
    std::string m = method +
                    " sip:bob@example.com SIP/2.0\r\n"
                    "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKx\r\n"
                    "From: <sip:alice@example.com>;tag=A\r\n"
                    "To: <sip:bob@example.com>" +
                    (to_tag.empty() ? "" : ";tag=" + to_tag) +
                    "\r\n"
                    "Call-ID: c1\r\n"
                    "CSeq: 1 " +
                    method + "\r\n";
    if (!body.empty())
        m += "Content-Type: " + type + "\r\n";
    return m + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

// The processor's own branch of its request, below ours in its responses.
const std::string PROCESSOR_OWN_BRANCH = "z9hG4bKproc1";

std::string response(int code, const std::string& method, const std::string& body = "",
                     const std::string& branch = "z9hG4bKx") {
    std::string m = "SIP/2.0 " + std::to_string(code) +
                    " X\r\n"
                    "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=" +
                    branch + "\r\n";
    if (parse_farm_branch(branch))
        m += "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=" + PROCESSOR_OWN_BRANCH + "\r\n";
    m += "From: <sip:alice@example.com>;tag=A\r\n"
         "To: <sip:bob@example.com>;tag=B\r\n"
         "Call-ID: c1\r\n"
         "CSeq: 1 " +
         method + "\r\n";
    if (!body.empty())
        m += "Content-Type: application/sdp\r\n";
    return m + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

const crypto::SipKey KEY = branch_key("the cluster secret");

MediaAction action(const std::string& bytes, Origin origin = Origin::outside) {
    auto m = scan(bytes);
    BOOST_REQUIRE_MESSAGE(m.ok(), (m.ok() ? "" : m.error().message));
    return media_action(bytes, *m, origin, "f1", KEY);
}

// Our branches: of a request f1's processor sent (with its MAC), one f1
// sent to its processor, one f2's processor sent; a stranger's forgery of
// the first (a wrong hash), and one made under another secret.
const uint64_t MAC = processor_branch_hash(KEY, PROCESSOR_OWN_BRANCH, "c1", "A", 1);
const std::string PROCESSOR_BRANCH = farm_branch("f1", MAC, true);
const std::string TO_PROCESSOR_BRANCH = farm_branch("f1", MAC, false);
const std::string OTHER_MEMBERS_BRANCH = farm_branch("f2", MAC, true);
const std::string FORGED_BRANCH = farm_branch("f1", 0x1234, true);
const std::string OTHER_KEYS_BRANCH = farm_branch(
    "f1", processor_branch_hash(branch_key("another"), PROCESSOR_OWN_BRANCH, "c1", "A", 1), true);

} // namespace

BOOST_AUTO_TEST_SUITE(media_action_rules)

BOOST_AUTO_TEST_CASE(requests_with_sdp_are_offers_of_the_from_party_and_ack_answers) {
    for (const char* method : {"INVITE", "UPDATE", "PRACK"}) {
        auto bytes = request(method, SDP);
        auto a = action(bytes);
        BOOST_TEST((a.kind == MediaAction::Kind::exchange), method);
        BOOST_TEST((a.role == SdpRole::offer), method);
        BOOST_TEST(a.author_tag == "A");
        BOOST_TEST(a.peer_tag == "");
        BOOST_TEST(a.call_id == "c1");
        BOOST_TEST(a.sdp == SDP);
        BOOST_TEST(!a.answers_call, method);
    }
    auto ack = request("ACK", SDP, "application/sdp", "B");
    auto a = action(ack);
    BOOST_TEST((a.kind == MediaAction::Kind::exchange));
    BOOST_TEST((a.role == SdpRole::answer));
    BOOST_TEST(a.peer_tag == "B");
    BOOST_TEST(a.answers_call); // the ACK follows a 2xx
}

BOOST_AUTO_TEST_CASE(responses_with_sdp_are_the_to_partys_and_the_relay_decides_which) {
    for (int code : {183, 200}) {
        auto bytes = response(code, "INVITE", SDP);
        auto a = action(bytes);
        BOOST_TEST((a.kind == MediaAction::Kind::exchange));
        BOOST_TEST((a.role == SdpRole::automatic));
        BOOST_TEST(a.author_tag == "B");
        BOOST_TEST(a.peer_tag == "A");
        // Only the 2xx answers the call: a 183's SDP is early media, which
        // may ring for minutes without a packet.
        BOOST_TEST(a.answers_call == (code == 200), code);
    }
    for (const char* method : {"UPDATE", "PRACK"}) {
        auto bytes = response(200, method, SDP);
        BOOST_TEST(!action(bytes).answers_call, method);
    }
    // 100 carries no SDP that counts; other methods' responses neither.
    auto trying = response(100, "INVITE", SDP);
    BOOST_TEST((action(trying).kind == MediaAction::Kind::none));
    auto options = response(200, "OPTIONS", SDP);
    BOOST_TEST((action(options).kind == MediaAction::Kind::none));
}

BOOST_AUTO_TEST_CASE(requests_end_nothing_whoever_sends_them) {
    auto bye = request("BYE", "", "", "B");
    auto cancel = request("CANCEL");
    for (auto origin : {Origin::outside, Origin::processor, Origin::farm_link}) {
        BOOST_TEST((action(bye, origin).kind == MediaAction::Kind::none));
        BOOST_TEST((action(cancel, origin).kind == MediaAction::Kind::none));
    }
}

BOOST_AUTO_TEST_CASE(the_processors_2xx_to_bye_ends_the_media) {
    // From the processor (it accepted the BYE), or to its own BYE.
    for (int code : {200, 202}) {
        auto ok = response(code, "BYE");
        auto a = action(ok, Origin::processor);
        BOOST_TEST((a.kind == MediaAction::Kind::end));
        BOOST_TEST(!a.if_unanswered);
        BOOST_TEST(a.call_id == "c1");
        auto far = response(code, "BYE", "", PROCESSOR_BRANCH);
        for (auto origin : {Origin::outside, Origin::farm_link})
            BOOST_TEST((action(far, origin).kind == MediaAction::Kind::end));
    }
    // A stranger's 200, one with our branch toward the processor, another
    // member's processor branch, or an error to the BYE: nothing.
    BOOST_TEST((action(response(200, "BYE")).kind == MediaAction::Kind::none));
    BOOST_TEST(
        (action(response(200, "BYE", "", TO_PROCESSOR_BRANCH)).kind == MediaAction::Kind::none));
    BOOST_TEST(
        (action(response(200, "BYE", "", OTHER_MEMBERS_BRANCH)).kind == MediaAction::Kind::none));
    // A stranger's 200 with our processor mark but not its MAC (issue 16:
    // the mark alone ended any call's media whose Call-ID was known).
    BOOST_TEST((action(response(200, "BYE", "", FORGED_BRANCH)).kind == MediaAction::Kind::none));
    BOOST_TEST(
        (action(response(200, "BYE", "", OTHER_KEYS_BRANCH)).kind == MediaAction::Kind::none));
    BOOST_TEST((action(response(481, "BYE"), Origin::processor).kind == MediaAction::Kind::none));
    BOOST_TEST((action(response(180, "BYE"), Origin::processor).kind == MediaAction::Kind::none));
}

BOOST_AUTO_TEST_CASE(the_processors_error_to_invite_ends_an_unanswered_call) {
    for (int code : {404, 407, 486, 487, 503, 603}) {
        auto err = response(code, "INVITE");
        auto a = action(err, Origin::processor);
        BOOST_TEST((a.kind == MediaAction::Kind::end), code);
        BOOST_TEST(a.if_unanswered);
        auto far = response(code, "INVITE", "", PROCESSOR_BRANCH);
        BOOST_TEST((action(far).kind == MediaAction::Kind::end), code);
        BOOST_TEST(action(far).if_unanswered);
        // A stranger's: nothing.
        BOOST_TEST((action(err).kind == MediaAction::Kind::none), code);
        auto toward = response(code, "INVITE", "", TO_PROCESSOR_BRANCH);
        BOOST_TEST((action(toward).kind == MediaAction::Kind::none), code);
        auto other = response(code, "INVITE", "", OTHER_MEMBERS_BRANCH);
        BOOST_TEST((action(other, Origin::farm_link).kind == MediaAction::Kind::none), code);
        auto forged = response(code, "INVITE", "", FORGED_BRANCH);
        BOOST_TEST((action(forged).kind == MediaAction::Kind::none), code);
    }
    // 2xx to BYE is the only 2xx that ends; other methods' errors end nothing.
    BOOST_TEST(
        (action(response(486, "UPDATE"), Origin::processor).kind == MediaAction::Kind::none));
    BOOST_TEST(
        (action(response(200, "CANCEL"), Origin::processor).kind == MediaAction::Kind::none));
}

BOOST_AUTO_TEST_CASE(only_an_application_sdp_body_counts) {
    auto none = request("INVITE");
    BOOST_TEST((action(none).kind == MediaAction::Kind::none));
    auto multipart = request("INVITE", SDP, "multipart/mixed;boundary=x");
    BOOST_TEST((action(multipart).kind == MediaAction::Kind::none));
    auto params = request("INVITE", SDP, "Application/SDP ; charset=utf-8");
    BOOST_TEST((action(params).kind == MediaAction::Kind::exchange));
    auto message = request("MESSAGE", SDP);
    BOOST_TEST((action(message).kind == MediaAction::Kind::none));
}

BOOST_AUTO_TEST_CASE(replace_body_sets_the_content_length) {
    auto bytes = request("INVITE", SDP) + "trailing garbage";
    auto m = scan(bytes);
    BOOST_REQUIRE(m.ok());
    std::string longer = SDP + "a=sendrecv\r\n";
    auto replaced = replace_body(bytes, *m, longer);
    BOOST_REQUIRE(replaced.ok());
    const std::string& out = *replaced;
    auto m2 = scan(out);
    BOOST_REQUIRE(m2.ok());
    BOOST_TEST(m2->body.in(out) == longer);
    BOOST_TEST(m2->content_length == static_cast<int>(longer.size()));
    BOOST_TEST(out.find("trailing") == std::string::npos);

    // Without Content-Length (UDP: the body is the rest): one is added.
    std::string bare = "INVITE sip:b@example.com SIP/2.0\r\nVia: SIP/2.0/UDP "
                       "192.0.2.1;branch=z9hG4bKy\r\nFrom: <sip:a@example.com>;tag=A\r\nTo: "
                       "<sip:b@example.com>\r\nCall-ID: c2\r\nCSeq: 1 INVITE\r\nContent-Type: "
                       "application/sdp\r\n\r\n" +
                       SDP;
    auto mb = scan(bare);
    BOOST_REQUIRE(mb.ok());
    auto replaced2 = replace_body(bare, *mb, "v=0\r\n");
    BOOST_REQUIRE(replaced2.ok());
    const std::string& out2 = *replaced2;
    auto m3 = scan(out2);
    BOOST_REQUIRE(m3.ok());
    BOOST_TEST(m3->content_length == 5);
    BOOST_TEST(m3->body.in(out2) == "v=0\r\n");

    // As if the scanner had read the body as starting inside the
    // Content-Length value: an error, not the message with its old body.
    Message bad = *m;
    bad.body = Span(m->content_length_value.off, m->body.end() - m->content_length_value.off);
    auto clash = replace_body(bytes, bad, longer);
    BOOST_TEST(!clash.ok(), "made anyway:\n" << (clash.ok() ? *clash : ""));
    if (!clash.ok()) {
        BOOST_TEST(clash.error().code == "edit_clash");
        BOOST_TEST(clash.error().message.find("body") != std::string::npos, clash.error().message);
    }
    // A Message that ends before its edits: refused, not made empty.
    Message cut = *m;
    cut.end = m->content_length_value.off;
    auto empty = replace_body(bytes, cut, longer);
    BOOST_TEST(!empty.ok(), "made, " << (empty.ok() ? empty->size() : 0) << " bytes");
    if (!empty.ok())
        BOOST_TEST(empty.error().code == "edit_clash");
}

BOOST_AUTO_TEST_CASE(the_source_an_offer_is_counted_against) {
    const auto client = SockAddr::parse("198.51.100.10:5070").value();
    const auto mapped = SockAddr::parse("[::ffff:198.51.100.10]:5070").value();
    const std::string invite = request("INVITE", SDP);
    auto inv = scan(invite);
    BOOST_REQUIRE(inv.ok());
    // A client's request, here or relayed by the member it reached: its
    // address, without the port.
    BOOST_TEST(media_source(*inv, Origin::outside, client) == "198.51.100.10");
    BOOST_TEST(media_source(*inv, Origin::farm_link, client) == "198.51.100.10");
    BOOST_TEST(media_source(*inv, Origin::outside, mapped) == "198.51.100.10");
    // The processor's own calls are not counted, nor are responses.
    BOOST_TEST(media_source(*inv, Origin::processor, client).empty());
    const std::string ok = response(200, "INVITE", SDP);
    auto okm = scan(ok);
    BOOST_REQUIRE(okm.ok());
    BOOST_TEST(media_source(*okm, Origin::outside, client).empty());
    BOOST_TEST(media_source(*inv, Origin::outside, SockAddr()).empty());
}

BOOST_AUTO_TEST_SUITE_END()
