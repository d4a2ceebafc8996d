// FarmService's part of lbcheck's media test (sip/media_probe.hpp): a probe
// with X-Farm-Media: test has its media anchored by MediaAnchor::test() and
// is answered once the relay has answered; X-Farm-Media: end deletes the
// session. The probe's other headers are answer_probe()'s (farm.cpp).
#include "farm.hpp"

#include "sip/media_probe.hpp"

namespace rtfarm::sipfarmd {

bool FarmService::media_probe(std::string_view bytes, const sip::Message& msg, const Arrival& a,
                              const std::vector<std::string>& headers) {
    sip::MediaProbe kind = sip::media_probe_kind(bytes, msg);
    if (kind == sip::MediaProbe::none)
        return false;
    std::string call_id(msg.call_id.in(bytes));
    if (kind == sip::MediaProbe::end) {
        if (m_media.enabled())
            m_media.end_test(call_id);
        return false; // answered at once, as any probe
    }
    std::string sdp(sip::media_test_sdp(bytes, msg));
    if (sdp.empty()) {
        std::vector<std::string> more = headers;
        more.push_back(sip::media_error_header(
            make_error("bad_request", "the media test probe has no application/sdp body")));
        send_probe_reply(bytes, msg, a, std::move(more));
        return true;
    }
    // Only from an allowed source, and media only to that source (no relay
    // ports sending where a stranger says): else answered without media.
    if (auto st = sip::media_test_allowed(sdp, a.source, m_lbcheck_sources); !st) {
        m_media.refuse_test(call_id, st.error());
        std::vector<std::string> more = headers;
        more.push_back(sip::media_error_header(st.error()));
        send_probe_reply(bytes, msg, a, std::move(more));
        return true;
    }
    // The probe waits for the relay: its bytes and arrival are copied (the
    // envelope is not needed past routing; Received-By is in `headers`).
    Arrival later = a;
    later.envelope = nullptr;
    m_media.test(call_id, std::string(msg.from_tag.in(bytes)), sdp,
                 [this, original = std::string(bytes.substr(0, msg.end)), first = msg, later,
                  headers](Result<sip::MediaTestAnswer> r) {
                     std::vector<std::string> more = headers;
                     if (r) {
                         for (auto& h : sip::media_test_headers(*r))
                             more.push_back(std::move(h));
                     } else {
                         more.push_back(sip::media_error_header(r.error()));
                     }
                     send_probe_reply(original, first, later, std::move(more));
                 });
    return true;
}

} // namespace rtfarm::sipfarmd
