#include "media/calls.hpp"

#include "base/assert.hpp"
#include "base/log.hpp"
#include "media/offer_errors.hpp"

#include <algorithm>
#include <utility>

namespace rtfarm::media {

namespace {

Leg other(Leg leg) {
    return leg == Leg::caller ? Leg::callee : Leg::caller;
}

size_t at(Leg leg) {
    return static_cast<size_t>(leg);
}

std::string line_of(size_t index) {
    return "m= line " + std::to_string(index + 1);
}

} // namespace

// What one operation took, given back if it fails.
struct Calls::Undo {
    std::vector<StreamPorts> ports;   // allocated
    std::vector<size_t> streams;      // engine streams opened
    std::optional<SessionId> session; // opened for a new call
};

Calls::Calls(Engine& engine, PortPool& pool, CallsOptions options)
    : m_engine(engine)
    , m_pool(pool)
    , m_options(options) {
}

Calls::~Calls() {
    std::vector<std::string> ids;
    ids.reserve(m_calls.size());
    for (const auto& [id, call] : m_calls)
        ids.push_back(id);
    for (const auto& id : ids)
        remove(id, CallEnd::shutdown);
}

void Calls::set_options(CallsOptions options) {
    m_options = options;
}

Result<SdpOut> Calls::fail(Error e) {
    ++m_counters.failed[e.code];
    return e;
}

Status Calls::check_ids(std::string_view call_id, std::string_view from_tag,
                        std::string_view to_tag) const {
    if (call_id.empty() || call_id.size() > MAX_CALL_ID)
        return offer_error(OfferError::bad_request,
                           "call_id must be 1-" + std::to_string(MAX_CALL_ID) + " bytes");
    if (from_tag.empty() || from_tag.size() > MAX_TAG)
        return offer_error(OfferError::bad_request,
                           "from_tag must be 1-" + std::to_string(MAX_TAG) + " bytes");
    if (to_tag.size() > MAX_TAG)
        return offer_error(OfferError::bad_request,
                           "to_tag must be at most " + std::to_string(MAX_TAG) + " bytes");
    return {};
}

Status Calls::check_streams(const SdpDesc& desc) const {
    if (desc.media.size() > m_options.max_streams)
        return offer_error(OfferError::too_many_streams,
                           "the SDP has " + std::to_string(desc.media.size()) +
                               " m= lines; at most " + std::to_string(m_options.max_streams) +
                               " are relayed (cluster.media_max_streams)");
    for (size_t i = 0; i < desc.media.size(); ++i) {
        const MediaDesc& m = desc.media[i];
        if (m.disabled())
            continue;
        if (!m.over_udp())
            return offer_error(OfferError::unsupported, line_of(i) + " (" + m.media + " " +
                                                            m.proto +
                                                            ") is not carried over UDP; the relay "
                                                            "carries RTP and UDP streams only");
        if (m.held())
            continue;
        // a=rtcp may name an address of its own (RFC 3605).
        for (const SockAddr* a : {&m.rtp_peer, &m.rtcp_peer})
            if (a->valid() && a->family() != m_options.bind.family())
                return offer_error(OfferError::bad_address,
                                   line_of(i) + ": the party's " +
                                       (a == &m.rtp_peer ? "address " : "RTCP address ") +
                                       a->host() +
                                       " is not of the family of this member's media address " +
                                       m_options.advertised.host());
    }
    return {};
}

Status Calls::check_addresses(const SdpDesc& desc) const {
    for (size_t i = 0; i < desc.media.size(); ++i) {
        const MediaDesc& m = desc.media[i];
        if (m.disabled() || m.held())
            continue;
        for (const SockAddr* a : {&m.rtp_peer, &m.rtcp_peer}) {
            if (!a->valid())
                continue;
            if (auto why = refusal(m_options.policy, *a))
                return offer_error(OfferError::sdp_address_refused,
                                   line_of(i) + ": the party's " +
                                       (a == &m.rtp_peer ? "address " : "RTCP address ") +
                                       a->str() + " is refused (" + *why +
                                       "); cluster.media_allow lists what may pass anyway");
        }
    }
    return {};
}

Peer Calls::peer_of(const MediaDesc& m, bool mux) {
    if (m.held())
        return Peer{}; // unknown: learned from the first packet
    if (mux)
        return Peer::from_sdp(m.rtp_peer, 0, true);
    return Peer{m.rtp_peer, m.rtcp_peer};
}

void Calls::release(StreamPorts ports) {
    if (ports.rtp == 0)
        return;
    Status st = m_pool.release(ports);
    RTFARM_ASSERT(st); // Calls owns every port it gives back
}

Result<StreamPorts> Calls::take_ports(Rtcp rtcp, Undo& undo) {
    auto ports = m_pool.allocate(rtcp);
    if (ports)
        undo.ports.push_back(*ports);
    return ports;
}

Result<size_t> Calls::open_slot(Call& call, Slot& slot, const MediaDesc& m, Leg offerer,
                                Undo& undo) {
    const Leg answerer = other(offerer);
    // Ports the kernel refused: kept out of the pool until this is decided,
    // so that the next attempt takes others.
    std::vector<StreamPorts> refused;
    Result<size_t> opened = offer_error(OfferError::port_in_use, "no attempt");
    for (size_t attempt = 0; attempt < BIND_ATTEMPTS; ++attempt) {
        auto mine = take_ports(m.rtcp_mux ? Rtcp::mux : Rtcp::separate, undo);
        if (!mine) {
            opened = mine.error();
            break;
        }
        auto theirs = take_ports(Rtcp::separate, undo);
        if (!theirs) {
            opened = theirs.error();
            break;
        }
        std::array<StreamPorts, 2> ports{};
        ports[at(offerer)] = *mine;
        ports[at(answerer)] = *theirs;
        StreamSpec spec;
        for (Leg leg : {Leg::caller, Leg::callee}) {
            SideSpec& side = leg == Leg::caller ? spec.caller : spec.callee;
            side.local = m_options.bind;
            side.rtp_port = ports[at(leg)].rtp;
            side.rtcp_port = ports[at(leg)].rtcp;
            side.rtcp_mux = ports[at(leg)].mux();
            side.strict = m_options.strict;
        }
        (at(offerer) == 0 ? spec.caller : spec.callee).expected = peer_of(m, mine->mux());
        opened = m_engine.add_stream(call.session, spec);
        if (opened) {
            slot.active = true;
            slot.stream = *opened;
            slot.ports = ports;
            slot.media = m.media;
            break;
        }
        if (opened.error().code != to_string(OfferError::port_in_use))
            break;
        ++m_counters.bind_retries;
        log::warn("media", "port refused by the kernel, trying another",
                  {{"call_id", std::string(call.id)}, {"err", opened.error().message}});
        refused.push_back(*mine);
        refused.push_back(*theirs);
    }
    // Refused ports go back at once (undo must not free them twice).
    for (StreamPorts p : refused) {
        undo.ports.erase(std::find(undo.ports.begin(), undo.ports.end(), p));
        release(p);
    }
    return opened;
}

void Calls::close_slot(Call& call, Slot& slot, std::string_view reason) {
    if (!slot.active)
        return;
    Status st = m_engine.close_stream(call.session, slot.stream, reason);
    RTFARM_ASSERT(st);
    release(slot.ports[0]);
    release(slot.ports[1]);
    slot = Slot{.media = slot.media};
}

namespace {

// FNV-1a, 64 bits.
constexpr uint64_t FNV_BASIS = 1469598103934665603ull;
uint64_t fnv(uint64_t h, std::string_view bytes) {
    for (unsigned char c : bytes)
        h = (h ^ c) * 1099511628211ull;
    return h;
}

} // namespace

uint64_t Calls::text_hash(std::string_view text) {
    uint64_t h = fnv(FNV_BASIS, text);
    return h == 0 ? 1 : h;
}

uint64_t Calls::plan_hash(const std::vector<StreamPorts>& plan, const SockAddr& address) {
    uint64_t h = fnv(FNV_BASIS, address.host());
    for (const StreamPorts& p : plan) {
        const unsigned char b[4] = {
            static_cast<unsigned char>(p.rtp), static_cast<unsigned char>(p.rtp >> 8),
            static_cast<unsigned char>(p.rtcp), static_cast<unsigned char>(p.rtcp >> 8)};
        h = fnv(h, std::string_view(reinterpret_cast<const char*>(b), sizeof b));
    }
    return h == 0 ? 1 : h;
}

Result<std::string> Calls::write(Call& call, Leg to, std::string_view body, const SdpDesc& desc,
                                 std::vector<StreamPorts> plan) {
    const size_t k = at(to);
    // Our part of the output changed under an unchanged o= version: the
    // version we write must still grow (RFC 3264 §8).
    const uint64_t digest = plan_hash(plan, m_options.advertised);
    const uint64_t version = text_hash(desc.origin_version);
    if (call.last_plan[k] != 0 && version == call.last_version[k] && digest != call.last_plan[k])
        ++call.version_offset[k];
    SdpRewrite rw{m_options.advertised, plan, call.version_offset[k]};
    auto out = rewrite_sdp(body, rw);
    if (!out)
        return out.error();
    call.last_version[k] = version;
    call.last_plan[k] = digest;
    return out;
}

bool Calls::ours(const Call& call, const SdpDesc& desc) const {
    size_t active = 0;
    for (const MediaDesc& m : desc.media) {
        if (m.disabled())
            continue;
        ++active;
        if (!m.rtp_peer.same_host(m_options.advertised))
            return false;
        bool mine = false;
        for (const Slot& slot : call.slots)
            for (const StreamPorts& p : slot.ports)
                mine = mine || (slot.active && p.rtp == m.port);
        if (!mine)
            return false;
    }
    return active > 0;
}

Result<SdpOut> Calls::unchanged(const Call& call, std::string_view sdp, Leg to) const {
    (void)call;
    SdpOut out;
    out.sdp = std::string(sdp);
    out.to = to;
    out.unchanged = true;
    return out;
}

Result<SdpOut> Calls::exchange(std::string_view call_id, std::string_view author_tag,
                               std::string_view peer_tag, std::string_view sdp, Exchange as,
                               Dialog dialog, std::string_view source) {
    // Before the Call-ID is looked up (issue 16: lengths first).
    if (auto st = check_ids(call_id, author_tag, peer_tag); !st)
        return fail(st.error());
    auto it = m_calls.find(std::string(call_id));
    const bool was_answered = it != m_calls.end() && it->second.answered;
    if (as == Exchange::automatic) {
        as = Exchange::offer;
        if (it != m_calls.end() && it->second.offerer && !peer_tag.empty() &&
            it->second.tags[at(*it->second.offerer)] == peer_tag)
            as = Exchange::answer;
    }
    Result<SdpOut> out = as == Exchange::offer ? offer(call_id, author_tag, peer_tag, sdp, source)
                                               : answer(call_id, peer_tag, author_tag, sdp);
    if (out && dialog != Dialog::unknown) {
        it = m_calls.find(std::string(call_id));
        if (it != m_calls.end())
            it->second.answered = was_answered || dialog == Dialog::answered;
    }
    return out;
}

Result<SdpOut> Calls::offer(std::string_view call_id, std::string_view from_tag,
                            std::string_view to_tag, std::string_view sdp,
                            std::string_view source) {
    ++m_counters.offers;
    if (auto st = check_ids(call_id, from_tag, to_tag); !st)
        return fail(st.error());
    auto desc = parse_sdp(sdp);
    if (!desc)
        return fail(desc.error());
    if (auto st = check_streams(*desc); !st)
        return fail(st.error());

    const Clock::time_point now = m_engine.now();
    Undo undo;
    auto found = m_calls.find(std::string(call_id));
    Call fresh;
    Call* call = nullptr;
    Leg offerer = Leg::caller;
    if (found == m_calls.end()) {
        if (auto st = check_addresses(*desc); !st)
            return fail(st.error());
        // The source's own limit first: it is refused even when the relay
        // has room.
        if (!source.empty() && m_options.max_sessions_per_source != 0) {
            auto held = m_sources.find(std::string(source));
            if (held != m_sources.end() && held->second >= m_options.max_sessions_per_source)
                return fail(offer_error(OfferError::source_sessions_exhausted,
                                        "source " + std::string(source) + " holds " +
                                            std::to_string(held->second) +
                                            " calls on this relay, its limit "
                                            "(cluster.media_max_sessions_per_source)"));
        }
        if (m_options.max_sessions != 0 && m_calls.size() >= m_options.max_sessions)
            return fail(offer_error(OfferError::sessions_exhausted,
                                    "this relay holds " + std::to_string(m_calls.size()) +
                                        " calls, its limit (cluster.media_max_sessions)"));
        fresh.id = call_id;
        fresh.source = std::string(source);
        fresh.tags = {std::string(from_tag), std::string(to_tag)};
        fresh.created = now;
        fresh.session = m_engine.open_session(std::string(call_id));
        undo.session = fresh.session;
        call = &fresh;
    } else {
        call = &found->second;
        if (from_tag == call->tags[0]) {
            offerer = Leg::caller;
        } else if (!call->tags[1].empty() && from_tag == call->tags[1]) {
            offerer = Leg::callee;
        } else if (call->tags[1].empty() && to_tag == call->tags[0]) {
            offerer = Leg::callee; // the callee's offer before its answer named it
        } else {
            return fail(offer_error(OfferError::unknown_tag,
                                    "call " + std::string(call->id) + ": from_tag '" +
                                        std::string(from_tag) + "' is neither party's tag"));
        }
        if (ours(*call, *desc))
            return unchanged(*call, sdp, other(offerer));
        if (auto st = check_addresses(*desc); !st)
            return fail(st.error());
        if (desc->media.size() < call->slots.size())
            return fail(make_error(
                "bad_sdp", "the offer has " + std::to_string(desc->media.size()) +
                               " m= lines, the session had " + std::to_string(call->slots.size()) +
                               "; m= lines are never removed (RFC 3264 §8)"));
    }
    const Leg answerer = other(offerer);

    // Take every new port and socket first; nothing existing changes until
    // all of it is there and the SDP is written.
    std::vector<Slot> next(desc->media.size());
    std::vector<bool> reopen(desc->media.size(), false);
    std::vector<StreamPorts> plan(desc->media.size());
    auto undo_all = [&](Error e) {
        for (auto it = undo.streams.rbegin(); it != undo.streams.rend(); ++it)
            (void)m_engine.close_stream(call->session, *it, "offer failed");
        for (StreamPorts p : undo.ports)
            release(p);
        if (undo.session)
            m_engine.close_session(*undo.session, "offer failed");
        return fail(std::move(e));
    };
    for (size_t i = 0; i < desc->media.size(); ++i) {
        const MediaDesc& m = desc->media[i];
        Slot* old = i < call->slots.size() ? &call->slots[i] : nullptr;
        if (m.disabled()) {
            next[i].media = m.media;
            continue;
        }
        // An offerer side on one port cannot serve an offer without rtcp-mux.
        bool keep = old && old->active && !(old->ports[at(offerer)].mux() && !m.rtcp_mux);
        if (keep) {
            next[i] = *old;
        } else {
            auto opened = open_slot(*call, next[i], m, offerer, undo);
            if (!opened)
                return undo_all(opened.error());
            undo.streams.push_back(next[i].stream);
            reopen[i] = old && old->active;
        }
        StreamPorts mine = next[i].ports[at(answerer)];
        // Propose rtcp-mux to the answerer when the offerer does (it may
        // still refuse: the RTCP port stays until the answer).
        plan[i] = m.rtcp_mux || mine.mux() ? StreamPorts{mine.rtp, 0} : mine;
    }
    auto out = write(*call, answerer, sdp, *desc, plan);
    if (!out)
        return undo_all(out.error());

    // Apply.
    if (found == m_calls.end()) {
        auto [it, inserted] = m_calls.emplace(std::string(call_id), std::move(fresh));
        RTFARM_ASSERT(inserted);
        call = &it->second;
        call->id = it->first;
        if (!call->source.empty())
            ++m_sources[call->source];
        ++m_counters.created;
    }
    // The callee's offer before its answer named it: its tag is known now.
    if (call->tags[at(offerer)].empty())
        call->tags[at(offerer)] = std::string(from_tag);
    call->slots.resize(desc->media.size());
    for (size_t i = 0; i < desc->media.size(); ++i) {
        Slot& slot = call->slots[i];
        const MediaDesc& m = desc->media[i];
        if (m.disabled()) {
            close_slot(*call, slot, "disabled by offer");
            slot.media = m.media;
            continue;
        }
        if (reopen[i])
            close_slot(*call, slot, "offer changed rtcp-mux");
        if (!slot.active || reopen[i]) {
            slot = next[i];
            continue;
        }
        Peer expected = peer_of(m, slot.ports[at(offerer)].mux());
        auto before = m_engine.query(call->session);
        Status st = m_engine.set_expected(call->session, slot.stream, offerer, expected);
        RTFARM_ASSERT(st); // the family was checked
        if (before && slot.stream < before->streams.size() &&
            !(before->streams[slot.stream].sides[at(offerer)].expected == expected))
            ++m_counters.relatched;
    }
    // The callee's offer before its answer named it: now it is named.
    if (offerer == Leg::callee && call->tags[1].empty())
        call->tags[1] = std::string(from_tag);
    call->last_signal = now;
    call->offerer = offerer;
    SdpOut result;
    result.sdp = std::move(out.value());
    result.ports = std::move(plan);
    result.to = answerer;
    result.created = undo.session.has_value();
    return result;
}

Result<SdpOut> Calls::answer(std::string_view call_id, std::string_view from_tag,
                             std::string_view to_tag, std::string_view sdp) {
    ++m_counters.answers;
    if (auto st = check_ids(call_id, from_tag, to_tag); !st)
        return fail(st.error());
    if (to_tag.empty())
        return fail(offer_error(OfferError::bad_request, "an answer needs the answerer's to_tag"));
    auto found = m_calls.find(std::string(call_id));
    if (found == m_calls.end())
        return fail(offer_error(OfferError::not_found, "no media session for call " +
                                                           std::string(call_id) +
                                                           " (an answer needs its offer first)"));
    Call& call = found->second;
    auto desc = parse_sdp(sdp);
    if (!desc)
        return fail(desc.error());
    if (auto st = check_streams(*desc); !st)
        return fail(st.error());
    Leg offerer;
    if (from_tag == call.tags[0])
        offerer = Leg::caller;
    else if (from_tag == call.tags[1])
        offerer = Leg::callee;
    else
        return fail(offer_error(OfferError::unknown_tag,
                                "call " + std::string(call.id) + ": from_tag '" +
                                    std::string(from_tag) + "' is neither party's tag"));
    const Leg answerer = other(offerer);
    if (ours(call, *desc)) {
        auto out = unchanged(call, sdp, offerer);
        out->answer = true;
        return out;
    }
    if (auto st = check_addresses(*desc); !st)
        return fail(st.error());
    if (desc->media.size() != call.slots.size())
        return fail(offer_error(OfferError::bad_sdp, "the answer has " +
                                                         std::to_string(desc->media.size()) +
                                                         " m= lines, the offer had " +
                                                         std::to_string(call.slots.size())));
    std::vector<StreamPorts> plan(desc->media.size());
    for (size_t i = 0; i < desc->media.size(); ++i) {
        const Slot& slot = call.slots[i];
        const MediaDesc& m = desc->media[i];
        if (!slot.active && !m.disabled())
            return fail(offer_error(OfferError::bad_sdp, line_of(i) +
                                                             ": the answer accepts a stream the "
                                                             "offer disabled"));
        if (slot.active && !m.disabled())
            plan[i] = slot.ports[at(offerer)];
    }
    auto out = write(call, offerer, sdp, *desc, plan);
    if (!out)
        return fail(out.error());

    // Apply.
    if (call.tags[at(answerer)] != to_tag) {
        if (!call.tags[at(answerer)].empty())
            log::info("media", "answerer changed",
                      {{"call_id", std::string(call.id)},
                       {"was", call.tags[at(answerer)]},
                       {"now", std::string(to_tag)}});
        call.tags[at(answerer)] = std::string(to_tag);
    }
    for (size_t i = 0; i < desc->media.size(); ++i) {
        Slot& slot = call.slots[i];
        const MediaDesc& m = desc->media[i];
        if (!slot.active)
            continue;
        if (m.disabled()) {
            close_slot(call, slot, "refused by answer");
            continue;
        }
        StreamPorts& mine = slot.ports[at(answerer)];
        if (m.rtcp_mux && !mine.mux()) {
            auto single = m_pool.shrink_to_mux(mine);
            RTFARM_ASSERT(static_cast<bool>(single));
            mine = *single;
            Status st = m_engine.use_mux(call.session, slot.stream, answerer);
            RTFARM_ASSERT(st);
        }
        Peer expected = peer_of(m, mine.mux());
        auto before = m_engine.query(call.session);
        Status st = m_engine.set_expected(call.session, slot.stream, answerer, expected);
        RTFARM_ASSERT(st);
        if (before && slot.stream < before->streams.size() &&
            before->streams[slot.stream].sides[at(answerer)].expected.rtp.valid() &&
            !(before->streams[slot.stream].sides[at(answerer)].expected == expected))
            ++m_counters.relatched;
    }
    call.answered = true;
    call.last_signal = m_engine.now();
    SdpOut result;
    result.sdp = std::move(out.value());
    result.ports = std::move(plan);
    result.to = offerer;
    result.answer = true;
    return result;
}

bool Calls::remove(std::string_view call_id, CallEnd end) {
    auto it = m_calls.find(std::string(call_id));
    if (it == m_calls.end())
        return false;
    Call& call = it->second;
    for (Slot& slot : call.slots) {
        if (!slot.active)
            continue;
        release(slot.ports[0]);
        release(slot.ports[1]);
    }
    m_engine.close_session(call.session, to_string(end));
    if (!call.source.empty()) {
        auto held = m_sources.find(call.source);
        RTFARM_ASSERT(held != m_sources.end() && held->second > 0);
        if (--held->second == 0)
            m_sources.erase(held);
    }
    m_calls.erase(it);
    if (CALL_ENDS[static_cast<size_t>(end)].expired)
        ++m_counters.expired;
    else
        ++m_counters.deleted;
    return true;
}

std::vector<std::string> Calls::expire(Clock::time_point now) {
    std::vector<std::string> gone;
    for (SessionId session : m_engine.idle_sessions(m_options.timeout, now)) {
        const std::string* name = m_engine.label(session);
        auto it = name ? m_calls.find(*name) : m_calls.end();
        if (it == m_calls.end() || it->second.session != session)
            continue; // not a call of ours
        const Call& call = it->second;
        Clock::duration quiet = now - call.last_signal;
        if (quiet < m_options.timeout || (!call.answered && quiet < m_options.unanswered_timeout))
            continue;
        gone.push_back(std::string(call.id));
    }
    for (const std::string& id : gone) {
        log::info(
            "media", "session timed out",
            {{"call_id", id},
             {"after_s",
              std::to_string(
                  std::chrono::duration_cast<std::chrono::seconds>(m_options.timeout).count())}});
        remove(id, CallEnd::timeout);
    }
    // Answered, and not one packet from either party since it was offered.
    std::vector<std::string> unheard;
    for (const auto& [id, call] : m_calls)
        if (call.answered && now - call.last_signal >= m_options.unlatched_timeout &&
            !m_engine.heard(call.session))
            unheard.push_back(id);
    for (const std::string& id : unheard) {
        log::info("media", "session timed out",
                  {{"call_id", id},
                   {"reason", std::string(to_string(CallEnd::unlatched))},
                   {"after_s", std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                                  m_options.unlatched_timeout)
                                                  .count())}});
        remove(id, CallEnd::unlatched);
        ++m_counters.unlatched;
        gone.push_back(id);
    }
    return gone;
}

CallInfo Calls::info(const Call& call, Clock::time_point now) const {
    CallInfo info;
    info.call_id = std::string(call.id);
    info.tags = call.tags;
    info.answered = call.answered;
    info.created = call.created;
    info.last_signal = call.last_signal;
    auto session = m_engine.query(call.session, now);
    if (!session)
        return info;
    for (size_t i = 0; i < call.slots.size(); ++i) {
        const Slot& slot = call.slots[i];
        if (!slot.active)
            continue;
        for (const StreamInfo& s : session->streams) {
            if (s.index != slot.stream)
                continue;
            info.streams.push_back(CallStreamInfo{i, slot.media, s});
            break;
        }
    }
    return info;
}

Result<CallInfo> Calls::query(std::string_view call_id) const {
    auto it = m_calls.find(std::string(call_id));
    if (it == m_calls.end())
        return offer_error(OfferError::not_found,
                           "no media session for call " + std::string(call_id));
    return info(it->second, m_engine.now());
}

std::vector<CallInfo> Calls::list() const {
    const Clock::time_point now = m_engine.now();
    std::vector<CallInfo> out;
    out.reserve(m_calls.size());
    for (const auto& [id, call] : m_calls)
        out.push_back(info(call, now));
    std::sort(out.begin(), out.end(),
              [](const CallInfo& a, const CallInfo& b) { return a.call_id < b.call_id; });
    return out;
}

} // namespace rtfarm::media
