#include "sip/route.hpp"

#include "base/assert.hpp"
#include "base/hash.hpp"
#include "sip/farm_tags.hpp"

#include <algorithm>

namespace rtfarm::sip {
namespace {

Decision local(std::string_view owner, Reason why) {
    return {Decision::Kind::local, std::string(owner), why};
}

Decision drop(Reason why) {
    return {Decision::Kind::drop, {}, why};
}

// A packet owned by `owner`: here, over the farm link, or nowhere.
Decision to_owner(std::string_view owner, Reason why, Origin origin, const FarmView& view) {
    if (owner == view.self)
        return local(owner, why);
    const FarmView::Member* m = view.find(owner);
    if (!m)
        return drop(Reason::unknown_member);
    if (!m->alive)
        return drop(Reason::owner_down);
    if (origin == Origin::farm_link)
        return drop(Reason::relay_loop);
    return {Decision::Kind::relay, std::string(owner), why};
}

bool known(const PacketFacts& p) {
    return p.known_call_id || (p.memory && p.memory->knows(p.call_id));
}

bool was_asked(const PacketFacts& p, std::string_view id) {
    return p.asked && std::find(p.asked->begin(), p.asked->end(), id) != p.asked->end();
}

// A request without our Route tag that this member does not know: the
// Call-ID's owner now, unless it may be in progress on a member of its
// hand-off chain that was not asked yet (see the top of route.hpp).
Decision by_chain(const PacketFacts& p, Origin origin, const FarmView& view) {
    bool asked = p.asked && !p.asked->empty();
    // A chain exists only while the view changed lately; the usual case
    // builds none.
    std::vector<std::string> chain;
    if (!view.previous.empty())
        chain = handoff_chain(p.call_id, view);
    if (chain.size() <= 1) {
        // No earlier owner to try for this Call-ID. A request relayed by the
        // sender's plain hash stays here, even if our view names another
        // owner, for the sender's view is the newer one (it has seen a death
        // or a drain that we have not yet; had we seen a change it has not,
        // our chain would be longer).
        if (origin == Origin::farm_link && (!asked || p.hops >= MAX_FARM_HOPS))
            return local(view.self, Reason::relayed);
        std::string owner = chain.empty() ? rendezvous_owner(p.call_id, view) : chain[0];
        if (origin != Origin::farm_link)
            return owner.empty() ? local(view.self, Reason::no_farm_member)
                                 : to_owner(owner, Reason::call_id_hash, origin, view);
        // A hand-off that a member with a longer memory started: we have no
        // older owner to offer, so on to the owner now.
        if (owner.empty() || owner == view.self)
            return local(view.self, Reason::relayed);
        return {Decision::Kind::relay, owner, Reason::handoff_passed, true};
    }
    const std::string& owner = chain.back();
    if (p.hops >= MAX_FARM_HOPS)
        return local(view.self, Reason::relayed);
    for (size_t i = 0; i + 1 < chain.size(); ++i)
        if (chain[i] != view.self && !was_asked(p, chain[i]))
            return {Decision::Kind::relay, chain[i],
                    origin == Origin::farm_link ? Reason::handoff_passed : Reason::handoff, true};
    // Every previous owner was asked: a new call, for the owner now.
    if (owner == view.self)
        return local(view.self,
                     origin == Origin::farm_link ? Reason::relayed : Reason::call_id_hash);
    return {Decision::Kind::relay, owner,
            origin == Origin::farm_link ? Reason::handoff_passed : Reason::call_id_hash, true};
}

// A request without our Route tag that another member relayed here.
Decision relayed_request(const PacketFacts& p, const FarmView& view) {
    if (p.probe && p.reply_from == view.self)
        return local(view.self, Reason::reply_from);
    if (known(p))
        return local(view.self, Reason::known_call_id);
    return by_chain(p, Origin::farm_link, view);
}

} // namespace

std::string_view to_string(Decision::Kind k) {
    switch (k) {
    case Decision::Kind::local:
        return "local";
    case Decision::Kind::relay:
        return "relay";
    case Decision::Kind::drop:
        return "drop";
    }
    return "?";
}

std::optional<Decision::Kind> decision_kind_named(std::string_view name) {
    for (auto k : {Decision::Kind::local, Decision::Kind::relay, Decision::Kind::drop})
        if (to_string(k) == name)
            return k;
    return std::nullopt;
}

std::optional<Reason> reason_named(std::string_view name) {
    for (const auto& r : REASONS)
        if (r.name == name)
            return r.reason;
    return std::nullopt;
}

std::string explain(Reason r, std::string_view member, std::string_view owner,
                    std::string_view here) {
    std::string_view text = REASONS[static_cast<size_t>(r)].explanation;
    std::string out;
    while (!text.empty()) {
        size_t open = text.find('{');
        out += text.substr(0, open);
        if (open == std::string_view::npos)
            break;
        size_t close = text.find('}', open);
        RTFARM_ASSERT(close != std::string_view::npos);
        std::string_view word = text.substr(open + 1, close - open - 1);
        RTFARM_ASSERT(word == "member" || word == "owner" || word == "here");
        out += word == "member" ? member : word == "owner" ? owner : here;
        text.remove_prefix(close + 1);
    }
    return out;
}

const FarmView::Member* FarmView::find(std::string_view id) const {
    for (const auto& m : members)
        if (m.id == id)
            return &m;
    return nullptr;
}

std::string rendezvous_owner(std::string_view call_id, const std::vector<FarmView::Member>& members,
                             const crypto::SipKey* secret_key) {
    const FarmView::Member* best = nullptr;
    uint64_t best_score = 0;
    uint64_t key = secret_key ? crypto::siphash24(*secret_key, call_id) : stable_hash(call_id);
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
        auto ours = parse_farm_branch(p.top_via_branch);
        if (!ours)
            return drop(Reason::response_without_farm_via);
        // Our Via of a request the processor sent is never on top of what
        // the processor answers: such a response would bounce between it
        // and the farm.
        if (ours->from_processor && origin == Origin::processor)
            return drop(Reason::processor_answered_its_own);
        return to_owner(ours->member, Reason::via_tag, origin, view);
    }

    // 2. Our own processor's requests start here.
    if (origin == Origin::processor) {
        if (view.self_relay) {
            std::string member = rendezvous_owner(p.call_id, view);
            if (member.empty())
                return local(view.self, Reason::no_farm_member);
            return {Decision::Kind::relay, member, Reason::relay_mode};
        }
        return local(view.self, Reason::processor);
    }

    // 3. Requests addressed to a member by our Record-Route.
    // Loose routing puts our URI in the top Route; a strict router puts it
    // in the Request-URI (and the rest of the route set in Route).
    auto tagged = uri_farm_member(p.top_route);
    if (!tagged)
        tagged = uri_farm_member(p.request_uri);
    if (tagged)
        return to_owner(*tagged, Reason::route_tag, origin, view);

    if (origin == Origin::farm_link)
        return relayed_request(p, view);

    // 4. Probes may name the member that must answer.
    if (p.probe && !p.reply_from.empty()) {
        const FarmView::Member* m = view.find(p.reply_from);
        if (m && m->alive)
            return to_owner(p.reply_from, Reason::reply_from, origin, view);
    }

    // 5. New requests: the Call-ID's owner among the farm Members, unless
    // the Call-ID is in progress here or, after a change of the view, may
    // be in progress on one of its previous owners.
    if (!view.self_farm_member)
        return local(view.self, Reason::not_farm_member);
    if (known(p))
        return local(view.self, Reason::known_call_id);
    return by_chain(p, origin, view);
}

crypto::SipKey route_key(std::string_view secret) {
    return crypto::derive_sip_key("rtfarm route key", secret);
}

std::vector<std::string> handoff_chain(std::string_view call_id, const FarmView& view) {
    std::string owner = rendezvous_owner(call_id, view);
    if (owner.empty())
        return {};
    std::vector<std::string> chain;
    for (const auto& before : view.previous) {
        std::string previous =
            rendezvous_owner(call_id, before.members, before.key ? &*before.key : nullptr);
        if (previous.empty() || previous == owner ||
            std::find(chain.begin(), chain.end(), previous) != chain.end())
            continue;
        // A dead member's calls are gone; one that left the farm still
        // holds what it had.
        const FarmView::Member* m = view.find(previous);
        if (m && m->alive)
            chain.push_back(std::move(previous));
    }
    chain.push_back(std::move(owner));
    return chain;
}

} // namespace rtfarm::sip
