#include "cluster/placement.hpp"

#include "base/hash.hpp"

#include <algorithm>

namespace rtfarm::cluster {
namespace {

using config::Placement;

// What the object is called in messages.
std::string_view plural(ObjectKind k) {
    return k == ObjectKind::call_leg ? "call legs" : "signals";
}
std::string_view setting(ObjectKind k) {
    return k == ObjectKind::call_leg ? "call_legs" : "signals";
}

// A member that serves others: a Dynamic Cluster member (not standalone)
// whose mode for the kind is locally-for-others.
bool serves_others(const PlacementMember& m, ObjectKind k) {
    return m.role != config::Role::standalone && m.mode(k) == Placement::locally_for_others;
}

// The rendezvous score of `id` for a key whose hash is `key_hash`; the same
// function as sip::rendezvous_owner, so both agree on a Call-ID.
uint64_t score(std::string_view id, uint64_t key_hash) {
    return stable_hash(id, key_hash);
}

// True when `a` ranks before `b` for `key_hash`: higher score, then smaller id.
bool outranks(const PlacementMember& a, const PlacementMember& b, uint64_t key_hash) {
    uint64_t sa = score(a.id, key_hash), sb = score(b.id, key_hash);
    return sa != sb ? sa > sb : a.id < b.id;
}

Error no_host(const PlacementRequest& req, const PlacementView& view) {
    std::string unavailable;
    for (const auto& m : view.members) {
        if (m.id == req.from || !serves_others(m, req.kind))
            continue;
        unavailable +=
            (unavailable.empty() ? "" : ", ") + m.id + " is " + std::string(to_string(m.state));
    }
    std::string msg = req.from + " creates " + std::string(plural(req.kind)) + " remotely, but ";
    if (unavailable.empty())
        msg += "no member's " + std::string(setting(req.kind)) +
               " is locally-for-others: there is no member to create them on";
    else
        msg += "no member can host them now (" + unavailable + "; a host must be up, not " +
               "draining, with " + std::string(setting(req.kind)) + " locally-for-others)";
    return make_error(placement_error::NO_PLACEMENT, msg);
}

} // namespace

std::string_view to_string(ObjectKind k) {
    return k == ObjectKind::call_leg ? "callleg" : "signal";
}

std::optional<ObjectKind> parse_object_kind(std::string_view s) {
    if (s == "callleg")
        return ObjectKind::call_leg;
    if (s == "signal")
        return ObjectKind::signal;
    return std::nullopt;
}

const PlacementMember* PlacementView::find(std::string_view id) const {
    for (const auto& m : members)
        if (m.id == id)
            return &m;
    return nullptr;
}

PlacementView placement_view(const Membership& m) {
    PlacementView v;
    v.epoch = m.epoch();
    auto eff = m.effective();
    const auto& members = m.members();
    for (size_t i = 0; i < members.size(); ++i)
        v.members.push_back({members[i].id, members[i].role, members[i].state, eff[i].call_legs,
                             eff[i].signals, members[i].load});
    return v;
}

Result<PlacementDecision> place(const PlacementRequest& req, const PlacementView& view) {
    const PlacementMember* from = view.find(req.from);
    if (!from) {
        std::string ids;
        for (const auto& m : view.members)
            ids += (ids.empty() ? "" : " ") + m.id;
        return make_error(placement_error::BAD_REQUEST,
                          "no member '" + req.from + "' in the cluster (members: " + ids + ")");
    }
    PlacementDecision d;
    d.from = req.from;
    d.kind = req.kind;
    d.key = req.key;
    d.mode = from->mode(req.kind);
    // An unresolved `auto` cannot come out of the view; treat it as locally.
    if (d.mode != Placement::remotely) {
        d.member = from->id;
        d.reason = PlacementReason::locally;
        return d;
    }

    std::vector<const PlacementMember*> hosts;
    for (const auto& m : view.members)
        if (m.id != req.from && m.state == MemberState::up && serves_others(m, req.kind))
            hosts.push_back(&m);
    if (hosts.empty())
        return no_host(req, view);
    for (const auto* h : hosts)
        d.candidates.push_back(h->id);

    const PlacementMember* best = hosts.front();
    if (!req.key.empty()) {
        uint64_t key_hash = stable_hash(req.key);
        for (const auto* h : hosts)
            if (outranks(*h, *best, key_hash))
                best = h;
        d.reason = PlacementReason::hash;
    } else {
        uint64_t from_hash = stable_hash(req.from);
        for (const auto* h : hosts)
            if (h->load < best->load || (h->load == best->load && outranks(*h, *best, from_hash)))
                best = h;
        d.reason = PlacementReason::least_load;
    }
    d.member = best->id;
    return d;
}

std::string_view to_string(PlacementReason r) {
    switch (r) {
    case PlacementReason::locally:
        return "locally";
    case PlacementReason::hash:
        return "hash";
    case PlacementReason::least_load:
        return "least_load";
    }
    return "?";
}

std::optional<PlacementReason> parse_placement_reason(std::string_view s) {
    for (auto r : {PlacementReason::locally, PlacementReason::hash, PlacementReason::least_load})
        if (to_string(r) == s)
            return r;
    return std::nullopt;
}

Result<PlacementRequest> parse_place_request(const json::Json& body, std::string_view self) {
    PlacementRequest req;
    auto kind = body["kind"].as_string();
    auto parsed = kind ? parse_object_kind(*kind) : std::nullopt;
    if (!parsed)
        return make_error(placement_error::BAD_REQUEST,
                          "\"kind\" must be \"callleg\" or \"signal\"" +
                              (kind ? ", not \"" + *kind + "\"" : std::string()));
    req.kind = *parsed;
    if (auto from = body["from"]) {
        auto s = from.as_string();
        if (!s || s->empty())
            return make_error(placement_error::BAD_REQUEST,
                              "\"from\" must be a member id (a non-empty string)");
        req.from = *s;
    } else {
        req.from = std::string(self);
    }
    if (auto key = body["key"]) {
        auto s = key.as_string();
        if (!s)
            return make_error(placement_error::BAD_REQUEST,
                              "\"key\" must be a string (a Call-ID, for example)");
        req.key = *s;
    }
    return req;
}

json::Json to_json(const PlacementDecision& d, uint64_t epoch) {
    auto candidates = json::Json::array();
    for (const auto& c : d.candidates)
        candidates.append(json::Json::string(c));
    auto j = json::Json::object()
                 .set("member", d.member)
                 .set("from", d.from)
                 .set("kind", to_string(d.kind))
                 .set("mode", config::to_string(d.mode))
                 .set("reason", to_string(d.reason));
    if (!d.key.empty())
        j.set("key", d.key);
    j.set("candidates", std::move(candidates)).set("epoch", static_cast<long long>(epoch));
    return j;
}

} // namespace rtfarm::cluster
