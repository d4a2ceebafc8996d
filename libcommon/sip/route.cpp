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

// A request without our Route tag that another member relayed here: it
// routed it by its view (the Call-ID's owner, or its previous owner during a
// hand-off). Keep it if the Call-ID is in progress here or our view agrees;
// otherwise pass it once more to the owner by our view.
Decision relayed_request(const PacketFacts& p, const FarmView& view) {
    if (p.probe && p.reply_from == view.self)
        return local(view.self, "reply_from");
    if (p.known_call_id)
        return local(view.self, "known_call_id");
    if (p.hops >= MAX_FARM_HOPS || !view.self_farm_member)
        return local(view.self, "relayed");
    std::string owner = rendezvous_owner(p.call_id, view);
    if (owner.empty() || owner == view.self)
        return local(view.self, "relayed");
    return {Decision::Kind::relay, owner, "handoff_passed"};
}

} // namespace

const FarmView::Member* FarmView::find(std::string_view id) const {
    for (const auto& m : members)
        if (m.id == id)
            return &m;
    return nullptr;
}

std::string rendezvous_owner(std::string_view call_id,
                             const std::vector<FarmView::Member>& members) {
    const FarmView::Member* best = nullptr;
    uint64_t best_score = 0;
    uint64_t key = stable_hash(call_id);
    for (const auto& m : members) {
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

    if (origin == Origin::farm_link)
        return relayed_request(p, view);

    // 4. Probes may name the member that must answer.
    if (p.probe && !p.reply_from.empty()) {
        const FarmView::Member* m = view.find(p.reply_from);
        if (m && m->alive)
            return to_owner(p.reply_from, "reply_from", origin, view);
    }

    // 5. New requests: the Call-ID's owner among the farm Members, unless
    // the Call-ID is in progress here or, after a change of the view, may
    // be in progress on its previous owner.
    if (!view.self_farm_member)
        return local(view.self, "not_farm_member");
    if (p.known_call_id)
        return local(view.self, "known_call_id");
    std::string owner = rendezvous_owner(p.call_id, view);
    if (owner.empty())
        return local(view.self, "no_farm_member");
    for (const auto& before : view.previous) {
        std::string previous = rendezvous_owner(p.call_id, before);
        if (previous.empty() || previous == owner)
            continue;
        const FarmView::Member* m = view.find(previous);
        // We would know it if it were ours; a dead member's calls are gone.
        if (previous == view.self || !m || !m->alive)
            continue;
        return {Decision::Kind::relay, previous, "handoff"};
    }
    return to_owner(owner, "call_id_hash", origin, view);
}

} // namespace rtfarm::sip
