#include "sip/route.hpp"

#include "sip/farm_tags.hpp"

namespace rtfarm::sip {
namespace {

Decision local(std::string_view owner, std::string_view why) {
    return {Decision::Kind::local, std::string(owner), why};
}

Decision drop(std::string_view why) {
    return {Decision::Kind::drop, {}, why};
}

// A packet owned by `owner`: here, over the farm link, or nowhere.
Decision to_owner(std::string_view owner, std::string_view why, Origin origin,
                  const FarmView& view) {
    if (owner == view.self)
        return local(owner, why);
    const FarmView::Member* m = view.find(owner);
    if (!m)
        return drop("unknown_member");
    if (!m->alive)
        return drop("owner_down");
    if (origin == Origin::farm_link)
        return drop("relay_loop");
    return {Decision::Kind::relay, std::string(owner), why};
}

} // namespace

const FarmView::Member* FarmView::find(std::string_view id) const {
    for (const auto& m : members)
        if (m.id == id)
            return &m;
    return nullptr;
}

std::string rendezvous_owner(std::string_view call_id, const FarmView& view) {
    const FarmView::Member* best = nullptr;
    uint64_t best_score = 0;
    uint64_t key = stable_hash(call_id);
    for (const auto& m : view.members) {
        if (!m.farm_member || !m.alive || m.draining)
            continue;
        uint64_t score = stable_hash(m.id, key);
        if (!best || score > best_score || (score == best_score && m.id < best->id)) {
            best = &m;
            best_score = score;
        }
    }
    return best ? best->id : std::string();
}

Decision route(const PacketFacts& p, Origin origin, const FarmView& view) {
    // 1. Responses go where our Via tag says.
    if (!p.is_request) {
        auto owner = branch_member(p.top_via_branch);
        if (!owner)
            return drop("response_without_farm_via");
        return to_owner(*owner, "via_tag", origin, view);
    }

    // 2. Our own processor's requests start here.
    if (origin == Origin::processor) {
        if (view.self_relay) {
            std::string member = rendezvous_owner(p.call_id, view);
            if (member.empty())
                return local(view.self, "no_farm_member");
            return {Decision::Kind::relay, member, "relay_mode"};
        }
        return local(view.self, "processor");
    }

    // 3. Requests addressed to a member by our Record-Route.
    // Loose routing puts our URI in the top Route; a strict router puts it
    // in the Request-URI (and the rest of the route set in Route).
    auto tagged = uri_farm_member(p.top_route);
    if (!tagged)
        tagged = uri_farm_member(p.request_uri);
    if (tagged)
        return to_owner(*tagged, "route_tag", origin, view);

    // A relayed request was routed by the relaying member: do not second-guess.
    if (origin == Origin::farm_link)
        return local(view.self, "relayed");

    // 4. Probes may name the member that must answer.
    if (p.probe && !p.reply_from.empty()) {
        const FarmView::Member* m = view.find(p.reply_from);
        if (m && m->alive)
            return to_owner(p.reply_from, "reply_from", origin, view);
    }

    // 5. New requests: the Call-ID's owner among the farm Members.
    if (!view.self_farm_member)
        return local(view.self, "not_farm_member");
    std::string owner = rendezvous_owner(p.call_id, view);
    if (owner.empty())
        return local(view.self, "no_farm_member");
    return to_owner(owner, "call_id_hash", origin, view);
}

} // namespace rtfarm::sip
