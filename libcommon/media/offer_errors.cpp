#include "media/offer_errors.hpp"

#include "json/error_code.hpp"

namespace rtfarm::media {

// The codes the control plane names too (rtfarm-control(7)).
static_assert(to_string(OfferError::bad_request) ==
              std::string_view(json::error_code::BAD_REQUEST));
static_assert(to_string(OfferError::not_found) == std::string_view(json::error_code::NOT_FOUND));

std::optional<OfferError> offer_error_named(std::string_view name) {
    for (const auto& e : OFFER_ERRORS)
        if (e.name == name)
            return e.error;
    return std::nullopt;
}

std::optional<SipRefusal> media_refusal(std::string_view relay_code) {
    auto e = offer_error_named(relay_code);
    if (!e)
        return std::nullopt;
    const SipRefusal& r = OFFER_ERRORS[static_cast<size_t>(*e)].refusal;
    if (r.code == 0)
        return std::nullopt;
    return r;
}

} // namespace rtfarm::media
