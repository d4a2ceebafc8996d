#include "queries.hpp"

#include "cluster/placement.hpp"
#include "sip/packet_facts.hpp"
#include "sip/scanner.hpp"

namespace rtfarm::sipfarmd {

Result<json::Json> place_query(const json::Json& body, const cluster::Membership& membership,
                               std::string_view self) {
    auto req = cluster::parse_place_request(body, self);
    if (!req)
        return req.error();
    auto view = cluster::placement_view(membership);
    auto d = cluster::place(*req, view);
    if (!d)
        return d.error();
    return cluster::to_json(*d, view.epoch);
}

Result<json::Json> route_query(const json::Json& body, const sip::FarmView& view,
                               const cluster::RecentCalls& recent, std::string_view farm_host) {
    auto call_id = body["call_id"];
    auto message = body["message"];
    if (bool(call_id) == bool(message))
        return make_error("bad_request", "route needs either \"call_id\" or \"message\"");
    std::optional<std::string> text = call_id ? call_id.as_string() : message.as_string();
    if (!text || text->empty())
        return make_error("bad_request", std::string(call_id ? "\"call_id\"" : "\"message\"") +
                                             " must be a non-empty string");
    sip::PacketFacts facts;
    std::optional<sip::Message> msg;
    if (call_id) {
        facts = sip::call_id_facts(*text);
    } else {
        auto scanned = sip::scan(*text);
        if (!scanned)
            return scanned.error();
        msg = scanned.value();
        facts = sip::packet_facts(*text, *msg, farm_host);
    }
    cluster::RecentCalls::At memory(recent, std::chrono::steady_clock::now());
    facts.memory = &memory;
    auto d = sip::route(facts, sip::Origin::outside, view);
    auto out = json::Json::object();
    if (d.member.empty())
        out.set("member", json::Json::null());
    else
        out.set("member", d.member);
    out.set("action", sip::to_string(d.kind))
        .set("reason", sip::to_string(d.reason))
        .set("epoch", static_cast<long long>(view.epoch))
        .set("received_by", view.self)
        .set("call_id", facts.call_id);
    // A request routed by its Call-ID: the member that processes a new call.
    // During a hand-off the member asked first passes on a call it does not
    // have, and the Call-ID's owner now processes it.
    if (d.reason == sip::Reason::call_id_hash)
        out.set("owner", d.member);
    else if (d.reason == sip::Reason::handoff)
        out.set("owner", sip::rendezvous_owner(facts.call_id, view));
    if (msg)
        out.set("type", msg->is_request() ? "request" : "response");
    return out;
}

} // namespace rtfarm::sipfarmd
