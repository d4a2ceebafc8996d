// The codes rtprelayd refuses an offer, answer or sdp request with
// (rtfarm-control(7), ERROR CODES; media::Calls and the port pool make
// them), named by one table, and what sipfarmd answers the SIP request
// whose offer the relay refused: 488 for an SDP the relay's policy refuses
// (an address it will not send to, too many m= lines, unreadable), 503 when
// it has no room (sessions, ports, or the sessions one source address may
// hold); none for the others (the message goes on unanchored, as it would
// with the relay not running or not answering). The names are the codes on
// the wire and the keys of rtprelayd's stats "failed".
#pragma once

#include "base/result.hpp"

#include <cstdint>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>

namespace rtfarm::media {

enum class OfferError : uint8_t {
    bad_request,
    bad_sdp,
    too_many_streams,
    unsupported,
    bad_address,
    sdp_address_refused,
    unknown_tag,
    not_found,
    draining,
    sessions_exhausted,
    source_sessions_exhausted,
    ports_exhausted,
    port_in_use,
    io,
};

// A SIP response to a refused offer.
struct SipRefusal {
    int code;
    std::string_view reason;
};

struct OfferErrorText {
    OfferError error;
    std::string_view name;
    // What the farm answers the request that made the offer; code 0: none.
    SipRefusal refusal;
};

inline constexpr SipRefusal NOT_ACCEPTABLE_HERE{488, "Not Acceptable Here"};
inline constexpr SipRefusal SERVICE_UNAVAILABLE{503, "Service Unavailable"};
inline constexpr SipRefusal NO_REFUSAL{0, ""};

inline constexpr OfferErrorText OFFER_ERRORS[] = {
    {OfferError::bad_request, "bad_request", NO_REFUSAL},
    {OfferError::bad_sdp, "bad_sdp", NOT_ACCEPTABLE_HERE},
    {OfferError::too_many_streams, "too_many_streams", NOT_ACCEPTABLE_HERE},
    {OfferError::unsupported, "unsupported", NO_REFUSAL},
    {OfferError::bad_address, "bad_address", NO_REFUSAL},
    {OfferError::sdp_address_refused, "sdp_address_refused", NOT_ACCEPTABLE_HERE},
    {OfferError::unknown_tag, "unknown_tag", NO_REFUSAL},
    {OfferError::not_found, "not_found", NO_REFUSAL},
    {OfferError::draining, "draining", NO_REFUSAL},
    {OfferError::sessions_exhausted, "sessions_exhausted", SERVICE_UNAVAILABLE},
    // A source over its own limit is a full relay for that source.
    {OfferError::source_sessions_exhausted, "source_sessions_exhausted", SERVICE_UNAVAILABLE},
    {OfferError::ports_exhausted, "ports_exhausted", SERVICE_UNAVAILABLE},
    {OfferError::port_in_use, "port_in_use", NO_REFUSAL},
    {OfferError::io, "io", NO_REFUSAL},
};

constexpr bool offer_errors_in_order() {
    for (size_t i = 0; i < std::size(OFFER_ERRORS); ++i)
        if (static_cast<size_t>(OFFER_ERRORS[i].error) != i)
            return false;
    return std::size(OFFER_ERRORS) == static_cast<size_t>(OfferError::io) + 1;
}
static_assert(offer_errors_in_order(), "OFFER_ERRORS: one entry per OfferError, in order");

constexpr std::string_view to_string(OfferError e) {
    return OFFER_ERRORS[static_cast<size_t>(e)].name;
}

// The error of that name; none for another code.
std::optional<OfferError> offer_error_named(std::string_view name);

// An Error with the code of `e`.
inline Error offer_error(OfferError e, std::string message) {
    return make_error(std::string(to_string(e)), std::move(message));
}

// What the farm answers when the relay refused an offer with `relay_code`
// (an Error's code); none when the message goes on unanchored.
std::optional<SipRefusal> media_refusal(std::string_view relay_code);

} // namespace rtfarm::media
