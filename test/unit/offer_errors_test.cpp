// media/offer_errors: the relay's refusal codes by name, and what the farm
// answers a SIP request whose offer the relay refused.
#include "media/offer_errors.hpp"

#include <boost/test/unit_test.hpp>

#include <string>

using namespace rtfarm;
using namespace rtfarm::media;

BOOST_AUTO_TEST_SUITE(offer_errors)

BOOST_AUTO_TEST_CASE(every_code_by_its_name_and_back) {
    for (const auto& e : OFFER_ERRORS) {
        BOOST_TEST(to_string(e.error) == e.name);
        BOOST_TEST((offer_error_named(e.name) == e.error), e.name);
        BOOST_TEST(offer_error(e.error, "why").code == std::string(e.name));
    }
    BOOST_TEST(to_string(OfferError::source_sessions_exhausted) == "source_sessions_exhausted");
    BOOST_TEST(offer_error(OfferError::bad_sdp, "the SDP has no m= line").message ==
               "the SDP has no m= line");
    BOOST_TEST(!offer_error_named("").has_value());
    BOOST_TEST(!offer_error_named("BAD_SDP").has_value());
    BOOST_TEST(!offer_error_named("timeout").has_value());
}

BOOST_AUTO_TEST_CASE(what_a_refused_offer_is_answered) {
    for (const char* policy : {"sdp_address_refused", "too_many_streams", "bad_sdp"}) {
        BOOST_TEST(media_refusal(policy)->code == 488, policy);
        BOOST_TEST(media_refusal(policy)->reason == "Not Acceptable Here", policy);
    }
    // A source over its own limit is a full relay for that source.
    for (const char* full :
         {"sessions_exhausted", "ports_exhausted", "source_sessions_exhausted"}) {
        BOOST_TEST(media_refusal(full)->code == 503, full);
        BOOST_TEST(media_refusal(full)->reason == "Service Unavailable", full);
    }
    // The relay down or slow is no reason to refuse a call, nor is a
    // request the relay could not place.
    for (const char* other : {"timeout", "connect_failed", "no_placement", "unknown_tag", "",
                              "bad_request", "draining", "port_in_use", "io", "not_found"})
        BOOST_TEST(!media_refusal(other).has_value(), other);
}

BOOST_AUTO_TEST_SUITE_END()
