#include "sip/media_action.hpp"

#include "base/strings.hpp"
#include "sip/edit.hpp"
#include "sip/farm_tags.hpp"

namespace rtfarm::sip {

namespace {

bool sdp_body(std::string_view bytes, const Message& msg) {
    if (!msg.body.present() || msg.body.len == 0 || !msg.content_type.present())
        return false;
    std::string_view type = msg.content_type.in(bytes);
    type = trim(type.substr(0, type.find(';')));
    return equals_icase(type, "application/sdp");
}

bool carries_offer_answer(Method m) {
    return m == Method::invite || m == Method::update || m == Method::prack;
}

// The processor's decision: a response it sent, or one to a request it sent
// (our branch with the processor mark, this member's).
bool from_processor_side(std::string_view bytes, const Message& msg, Origin origin,
                         std::string_view self, const crypto::SipKey& branch_key,
                         std::span<const crypto::SipKey> earlier) {
    if (origin == Origin::processor)
        return true;
    if (msg.via_count == 0)
        return false;
    auto b = parse_farm_branch(msg.via[0].branch.in(bytes));
    return b && b->member == self && processor_branch_verified(bytes, msg, *b, branch_key, earlier);
}

} // namespace

std::string_view to_string(SdpRole r) {
    switch (r) {
    case SdpRole::offer:
        return "offer";
    case SdpRole::answer:
        return "answer";
    case SdpRole::automatic:
        return "auto";
    }
    return "offer";
}

MediaAction media_action(std::string_view bytes, const Message& msg, Origin origin,
                         std::string_view self, const crypto::SipKey& branch_key,
                         std::span<const crypto::SipKey> earlier) {
    MediaAction a;
    a.call_id = msg.call_id.in(bytes);
    if (a.call_id.empty())
        return a;
    if (msg.is_request()) {
        // BYE and CANCEL end nothing by themselves: the processor's answer does.
        if (!sdp_body(bytes, msg) || !msg.from_tag.present() || msg.from_tag.len == 0)
            return a;
        if (msg.method_id == Method::ack) {
            a.role = SdpRole::answer;
            a.answers_call = true;
        } else if (carries_offer_answer(msg.method_id))
            a.role = SdpRole::offer;
        else
            return a;
        a.kind = MediaAction::Kind::exchange;
        a.author_tag = msg.from_tag.in(bytes);
        a.peer_tag = msg.to_tag.in(bytes);
        a.sdp = msg.body.in(bytes);
        return a;
    }
    const Method method = method_from_token(msg.cseq_method.in(bytes));
    if (method == Method::bye && msg.status >= 200 && msg.status < 300) {
        if (from_processor_side(bytes, msg, origin, self, branch_key, earlier))
            a.kind = MediaAction::Kind::end;
        return a;
    }
    if (method == Method::invite && msg.status >= 300) {
        if (from_processor_side(bytes, msg, origin, self, branch_key, earlier)) {
            a.kind = MediaAction::Kind::end;
            a.if_unanswered = true;
        }
        return a;
    }
    if (msg.status <= 100 || msg.status >= 300 || !carries_offer_answer(method) ||
        !sdp_body(bytes, msg) || !msg.to_tag.present() || msg.to_tag.len == 0 ||
        !msg.from_tag.present() || msg.from_tag.len == 0)
        return a;
    a.kind = MediaAction::Kind::exchange;
    a.role = SdpRole::automatic;
    a.answers_call = method == Method::invite && msg.status >= 200;
    a.author_tag = msg.to_tag.in(bytes);
    a.peer_tag = msg.from_tag.in(bytes);
    a.sdp = msg.body.in(bytes);
    return a;
}

std::string media_source(const Message& msg, Origin origin, const SockAddr& source) {
    if (!msg.is_request() || origin == Origin::processor || !source.valid())
        return {};
    return source.unmapped().host();
}

Result<std::string> replace_body(std::string_view bytes, const Message& msg,
                                 std::string_view body) {
    std::string_view message = bytes.substr(0, msg.end);
    EditList edits;
    const std::string length = std::to_string(body.size());
    Status st = msg.content_length_value.present()
                    ? edits.replace(msg.content_length_value, length)
                    : edits.insert(msg.headers_end, "Content-Length: " + length + "\r\n");
    if (!st)
        return make_error("edit_clash", "Content-Length: " + st.error().message);
    st = msg.body.present() ? edits.replace(msg.body, body)
                            : edits.insert(static_cast<uint32_t>(message.size()), body);
    if (!st)
        return make_error("edit_clash", "the new body: " + st.error().message);
    return edits.edited(message);
}

} // namespace rtfarm::sip
