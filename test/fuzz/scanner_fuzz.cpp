// libFuzzer entry point for the per-packet SIP scanner and the edit list
// (sip/scanner.hpp, sip/edit.hpp). Every input is scanned; one that scans is
// edited the way sipfarmd edits a request (insert our Via before the top Via
// line, erase the top Via value, rewrite or add Max-Forwards) and the result
// must scan again with the same Call-ID and the expected fields. A broken
// invariant traps (__builtin_trap), which libFuzzer reports as a crash.
//
// It does not test routing or libosip2 (the differential tests in
// test/unit/sip_scanner_test.cpp do); build and run it with test/fuzz/run.sh.
#include "sip/edit.hpp"
#include "sip/media_action.hpp"
#include "sip/packet_facts.hpp"
#include "sip/proxy.hpp"
#include "sip/route.hpp"
#include "sip/scanner.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

using namespace rtfarm;
using namespace rtfarm::sip;

namespace {

void check(bool ok) {
    if (!ok)
        __builtin_trap();
}

bool inside(Span s, uint32_t end) {
    return !s.present() || (static_cast<uint64_t>(s.off) + s.len <= end);
}

// What every successful scan promises.
void check_message(std::string_view d, const Message& m) {
    check(m.end <= d.size());
    check(m.via_count >= 1);
    check(m.call_id.present() && m.call_id.len > 0);
    check(m.cseq_method.present() && m.from.present() && m.to.present());
    check(m.headers_end + 2 <= m.end);
    check(d.substr(m.headers_end, 2) == "\r\n");
    check(m.body.present() && m.body.off == m.headers_end + 2 && m.body.end() == m.end);
    check(m.start_line.present() && m.start_line.end() <= m.headers_end);
    check(m.content_length < 0 || static_cast<uint32_t>(m.content_length) == m.body.len);
    if (m.is_request()) {
        check(m.method.present() && m.request_uri.present());
        check(m.method.in(d) == m.cseq_method.in(d));
        check(!m.ruri.sip || m.ruri.host.len > 0);
    } else {
        check(m.status >= 100 && m.status <= 699);
    }
    for (uint32_t i = 0; i < 2 && i < m.via_count; ++i) {
        const Via& v = m.via[i];
        check(v.line.present() && v.value.present() && v.host.len > 0);
        check(v.value.off >= v.line.off && v.value.end() <= v.line.end());
        check(v.erase.off >= v.line.off && v.erase.end() <= v.line.end());
        check(v.alone == (v.erase == v.line));
        check(inside(v.branch, v.value.end()) && inside(v.received, v.value.end()));
        check(inside(v.rport, v.value.end()) && inside(v.maddr, v.value.end()));
    }
    const Span spans[] = {m.route.line,
                          m.route.uri,
                          m.record_route.line,
                          m.max_forwards_value,
                          m.call_id,
                          m.from_tag,
                          m.to_tag,
                          m.contact,
                          m.content_type,
                          m.content_length_value};
    for (Span s : spans)
        check(inside(s, m.headers_end));
    check(m.max_forwards >= -1 && m.max_forwards <= 255);
}

bool same_text(std::string_view a, Span sa, std::string_view b, Span sb) {
    return sa.present() == sb.present() && sa.in(a) == sb.in(b);
}

const char OUR_VIA[] = "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKfuzz0\r\n";

char g_out[MAX_DATAGRAM + 4096];

} // namespace

// The farm's decisions and the proxy's edits on whatever scanned: route()
// must decide without crashing, and every datagram the proxy produces must
// scan again (unless it grew past a limit) with the same Call-ID.
void exercise_farm(std::string_view in, const Message& m) {
    static const FarmView view = [] {
        FarmView v;
        v.self = "f1";
        v.self_farm_member = true;
        v.members = {
            {"f1", true, true, false}, {"f2", true, true, false}, {"b1", false, true, false}};
        // A hand-off in progress: f3 left, f2 was draining.
        v.previous = {{{{"f1", true, true, false}, {"f3", true, true, false}}, {}},
                      {{{"f1", true, true, false}, {"f2", true, true, true}}, {}}};
        return v;
    }();
    static const ProxyContext ctx = [] {
        ProxyContext c;
        c.self = "f1";
        c.via_member = "f1";
        c.processor = SockAddr::parse("127.0.0.1:5070").value();
        c.outer_sent_by = SockAddr::parse("203.0.113.1:5060").value();
        c.rr_host = "203.0.113.1";
        return c;
    }();
    static const SockAddr source = SockAddr::parse("198.51.100.10:40312").value();
    static const SockAddr processor = SockAddr::parse("127.0.0.1:5070").value();

    PacketFacts f = packet_facts(in, m);
    // The hand-off's inputs vary with the bytes, deterministically.
    f.known_call_id = (in.size() & 1) != 0;
    for (Origin o : {Origin::outside, Origin::processor, Origin::farm_link}) {
        for (unsigned hops = 0; hops <= MAX_FARM_HOPS; ++hops) {
            f.hops = o == Origin::farm_link ? hops : 0;
            Decision d = route(f, o, view);
            check(d.kind != Decision::Kind::relay || !d.member.empty());
            check(!to_string(d.reason).empty());
            // Never a third hop, never to a member that is not in the view.
            check(d.kind != Decision::Kind::relay || f.hops < MAX_FARM_HOPS);
            check(d.kind != Decision::Kind::relay || view.find(d.member) != nullptr);
        }
    }
    auto rescans = [&](const std::string& bytes) {
        auto r = scan(bytes);
        if (!r.ok()) {
            // The scanner checks the first two Via values only: popping ours
            // moves a third, never checked, up to second place.
            const std::string& code = r.error().code;
            check(code == "too_large" || code == "too_many_headers" ||
                  (code == "bad_via" && m.via_count > 2));
            return;
        }
        check(r->call_id.in(bytes) == m.call_id.in(in));
    };
    // Media anchoring: what it takes from the message, and the message with
    // another body, which must scan again with that body.
    MediaAction media = media_action(in, m, Origin::outside, "f1", crypto::SipKey{1, 2});
    check(media.kind != MediaAction::Kind::exchange ||
          (!media.sdp.empty() && !media.author_tag.empty()));
    if (media.kind == MediaAction::Kind::exchange) {
        auto with = replace_body(in, m, "v=0\r\n");
        check(with.ok());
        if (with) {
            auto r = scan(*with);
            check(!r.ok() || (r->body.in(*with) == "v=0\r\n" && r->content_length == 5));
        }
    }
    // No message the scanner reads makes two of the proxy's edits clash.
    auto edited = [&](const Result<Outgoing>& out) {
        check(out.ok() || out.error().code != "edit_clash");
        if (out)
            rescans(out->bytes);
    };
    if (m.is_request()) {
        edited(forward_to_processor(in, m, source, processor, ctx));
        edited(forward_from_processor(in, m, ctx));
        rescans(make_reply(in, m, source, 483, "Too Many Hops", "t1").bytes);
    } else {
        edited(forward_response(in, m));
        edited(forward_response(in, m, &ctx));
    }
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    auto r = scan(in);
    if (!r.ok()) {
        check(!r.error().code.empty() && !r.error().message.empty());
        return 0;
    }
    const Message& m = *r;
    check_message(in, m);
    exercise_farm(in, m);

    // The message without trailing datagram bytes scans the same.
    std::string_view msg = in.substr(0, m.end);
    auto again = scan(msg);
    check(again.ok());
    check(again->end == m.end && same_text(msg, again->call_id, in, m.call_id));

    // Edits a proxy makes.
    EditList edits;
    check(edits.insert(m.via[0].line.off, OUR_VIA).ok());
    check(edits.erase(m.via[0].erase).ok());
    if (m.max_forwards_value.present())
        check(edits.replace(m.max_forwards_value, "69").ok());
    else
        check(edits.insert(m.headers_end, "Max-Forwards: 70\r\n").ok());
    // A second edit over the same bytes is refused and changes nothing.
    if (m.via[0].erase.len > 0)
        check(!edits.erase(Span(m.via[0].erase.off, 1)).ok());
    check(edits.size() == 3);

    std::optional<size_t> need = edits.edited_size(msg);
    check(need.has_value() && *need <= sizeof g_out);
    size_t n = edits.apply(msg, g_out, sizeof g_out);
    check(n == *need);
    check(edits.apply(msg, g_out, n - 1) == 0);
    std::string_view out(g_out, n);

    auto edited = scan(out);
    if (!edited.ok()) {
        // Only growth past a limit may fail the edited message.
        const std::string& code = edited.error().code;
        check(code == "too_large" || code == "too_many_headers");
        return 0;
    }
    const Message& e = *edited;
    check_message(out, e);
    check(same_text(out, e.call_id, msg, m.call_id));
    check(same_text(out, e.cseq_method, msg, m.cseq_method) && e.cseq == m.cseq);
    check(e.kind == m.kind && e.status == m.status);
    check(e.via_count == m.via_count);
    check(e.via[0].host.in(out) == "192.0.2.1" && e.via[0].port == 5060);
    check(e.via[0].branch.in(out) == "z9hG4bKfuzz0" && e.via[0].cookie);
    if (m.via_count >= 2)
        check(e.via[1].value.in(out) == m.via[1].value.in(msg));
    check(e.max_forwards == (m.max_forwards_value.present() ? 69 : 70));
    check(same_text(out, e.body, msg, m.body));
    check(same_text(out, e.from_tag, msg, m.from_tag) && same_text(out, e.to_tag, msg, m.to_tag));
    return 0;
}
