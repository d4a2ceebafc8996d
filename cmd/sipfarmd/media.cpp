#include "media.hpp"

#include "control/ndjson.hpp"
#include "media/control_messages.hpp"

namespace rtfarm::sipfarmd {

namespace {

constexpr std::chrono::seconds SWEEP_PERIOD{2};

const std::string SDP_OP(media::op_name(media::SdpOp::sdp));

// A request of another member for this member's rtprelayd, as `Message`
// reads it (media/control_messages.hpp): only its own fields go on.
template <typename Message, typename... Op>
Result<json::Json> passed_on(const json::Json& body, Op... op) {
    auto q = Message::parse(body, op...);
    if (!q)
        return q.error();
    return q->to_json();
}

} // namespace

MediaAnchor::MediaAnchor(ev::Loop& loop, Placer placer)
    : m_loop(loop)
    , m_placer(std::move(placer))
    , m_peers(loop) {
}

void MediaAnchor::configure(Settings settings) {
    if (settings.media_control != m_settings.media_control)
        m_local.reset();
    m_peers.configure(settings.control_tcp, settings.secrets);
    m_settings = std::move(settings);
    if (m_settings.anchor && !m_sweeper)
        m_sweeper = std::make_unique<ev::Ticker>(m_loop, SWEEP_PERIOD, [this] { sweep(); });
}

void MediaAnchor::sweep() {
    auto now = std::chrono::steady_clock::now();
    std::erase_if(m_placed, [&](const auto& kv) { return now - kv.second.used > PLACED_IDLE; });
    // Due for a check (see PLACED_IDLE): is its session still there?
    size_t budget = SWEEP_QUERIES;
    std::vector<std::string> silent;
    for (const auto& [call_id, p] : m_placed) {
        if (budget == 0)
            break;
        if (!p.checking && now >= p.next_check) {
            silent.push_back(call_id);
            --budget;
        }
    }
    for (const auto& call_id : silent)
        check_placed(call_id);
}

void MediaAnchor::check_placed(const std::string& call_id) {
    auto it = m_placed.find(call_id);
    if (it == m_placed.end())
        return;
    it->second.checking = true;
    const auto asked = std::chrono::steady_clock::now();
    json::Json args = media::QueryRequest{call_id}.to_json();
    call(it->second.member, media::OP_QUERY, args, [this, call_id, asked](Result<json::Json> r) {
        auto found = m_placed.find(call_id);
        if (found == m_placed.end())
            return;
        found->second.checking = false;
        // Gone from the relay, and no message since we asked: forget it.
        if (!r && r.error().code == json::error_code::NOT_FOUND && found->second.used <= asked) {
            m_placed.erase(found);
            ++m_placed_expired;
            return;
        }
        auto reply = r ? media::QueryReply::parse(*r) : Result<media::QueryReply>(r.error());
        const bool heard = reply && reply->heard();
        found->second.next_check =
            std::max(found->second.next_check,
                     std::chrono::steady_clock::now() +
                         (heard ? m_settings.media_timeout : m_settings.media_unlatched_timeout));
    });
}

Result<std::string> MediaAnchor::member_for(const std::string& call_id, bool create) {
    auto now = std::chrono::steady_clock::now();
    const auto next_check = now + m_settings.media_unlatched_timeout;
    auto it = m_placed.find(call_id);
    if (it != m_placed.end()) {
        it->second.used = now;
        it->second.next_check = std::max(it->second.next_check, next_check);
        return it->second.member;
    }
    auto member = m_placer(call_id);
    if (member && create && m_placed.size() < MAX_PLACED)
        m_placed.emplace(call_id, Placed{*member, now, next_check});
    return member;
}

void MediaAnchor::call(const std::string& member, std::string_view op, const json::Json& args,
                       control::ControlLink::Callback done) {
    auto later = [this, &done](Error e) {
        m_loop.defer([done = std::move(done), e = std::move(e)] { done(e); });
    };
    if (member == m_settings.self) {
        if (m_settings.media_control.empty()) {
            later(make_error("no_media_control",
                             "member " + member + " has no media_control socket in the config"));
            return;
        }
        if (!m_local)
            m_local = std::make_unique<control::ControlLink>(m_loop, m_settings.media_control);
        m_local->call(op, args, REQUEST_TIMEOUT, std::move(done));
        return;
    }
    control::ControlLink* link = m_peers.get(member);
    if (!link) {
        later(make_error("no_control_link", "member " + member +
                                                " has no control_tcp in the config, so its "
                                                "rtprelayd cannot be reached"));
        return;
    }
    ++m_remote;
    link->call(std::string(media::PEER_OP_PREFIX) + std::string(op), args, REQUEST_TIMEOUT,
               std::move(done));
}

void MediaAnchor::failed(const std::string& what, const std::string& call_id, const Error& e) {
    ++m_failed[e.code];
    if (m_log_limit.allow(std::chrono::steady_clock::now()))
        log::warn("media", "media not anchored",
                  {{"what", what}, {"call_id", call_id}, {"code", e.code}, {"err", e.message}});
}

void MediaAnchor::exchange(const sip::MediaAction& action, Done done) {
    ++m_exchanges;
    std::string call_id(action.call_id);
    auto member = member_for(call_id, true);
    if (!member) {
        failed("sdp", call_id, member.error());
        m_loop.defer([done = std::move(done), e = member.error()] { done(e); });
        return;
    }
    media::SdpRequest q;
    q.call_id = action.call_id;
    q.from_tag = action.author_tag;
    q.to_tag = action.peer_tag;
    q.sdp = action.sdp;
    q.as = action.role;
    q.answered = action.answers_call;
    q.source = action.source;
    call(*member, SDP_OP, q.to_json(),
         [this, call_id, done = std::move(done)](Result<json::Json> r) {
             auto reply = r ? media::SdpReply::parse(*r) : Result<media::SdpReply>(r.error());
             if (!reply) {
                 failed("sdp", call_id, reply.error());
                 done(reply.error());
                 return;
             }
             if (reply->unchanged)
                 ++m_unchanged;
             else
                 ++m_rewritten;
             done(std::move(reply->sdp));
         });
}

void MediaAnchor::end(const sip::MediaAction& action) {
    std::string call_id(action.call_id);
    auto member = member_for(call_id, false);
    if (!member)
        return; // nothing placed, nowhere to place: nothing to end
    if (!action.if_unanswered)
        m_placed.erase(call_id);
    json::Json args = media::DeleteRequest{call_id, action.if_unanswered}.to_json();
    call(*member, media::OP_DELETE, args, [this, call_id](Result<json::Json> r) {
        if (r) {
            auto reply = media::DeleteReply::parse(*r);
            if (!reply)
                failed("delete", call_id, reply.error());
            else if (reply->deleted) {
                ++m_ended;
                m_placed.erase(call_id);
            }
            return;
        }
        // The second pass of a 200 through a proxy, or a call not anchored.
        if (r.error().code == json::error_code::NOT_FOUND)
            m_placed.erase(call_id);
        else
            failed("delete", call_id, r.error());
    });
}

void MediaAnchor::test(const std::string& call_id, const std::string& from_tag,
                       const std::string& sdp, TestDone done) {
    ++m_tests;
    auto fail_now = [this, &done](Error e) {
        m_loop.defer([done = std::move(done), e = std::move(e)] { done(e); });
    };
    if (!m_settings.anchor) {
        fail_now(make_error(sip::MEDIA_NOT_ANCHORED,
                            "member " + m_settings.self + " does not anchor media (media: none)"));
        return;
    }
    // Bounded: a test session holds relay ports until its end or timeout.
    auto now = std::chrono::steady_clock::now();
    std::erase_if(m_live_tests,
                  [&](const auto& kv) { return now - kv.second > m_settings.media_timeout; });
    if (!m_live_tests.count(call_id) && m_live_tests.size() >= MAX_TESTS) {
        Error e =
            make_error("busy", "member " + m_settings.self + " has " + std::to_string(MAX_TESTS) +
                                   " media tests running; try again later");
        failed("test", call_id, e);
        fail_now(std::move(e));
        return;
    }
    m_live_tests[call_id] = now;
    auto member = member_for(call_id, true);
    if (!member) {
        failed("test", call_id, member.error());
        fail_now(member.error());
        return;
    }
    media::SdpRequest offer_q;
    offer_q.call_id = call_id;
    offer_q.from_tag = from_tag;
    offer_q.sdp = sdp;
    offer_q.as = sip::SdpRole::offer;
    json::Json offer = offer_q.to_json();
    // The sdp op names the author of the SDP first: the answer is the callee's.
    media::SdpRequest answer_q = offer_q;
    answer_q.from_tag = sip::media_test_to_tag(call_id);
    answer_q.to_tag = from_tag;
    answer_q.as = sip::SdpRole::answer;
    json::Json answer = answer_q.to_json();
    // The answer goes once the offer is there; each step's failure ends the test.
    call(*member, SDP_OP, offer,
         [this, member = *member, call_id, answer = std::move(answer),
          done = std::move(done)](Result<json::Json> r) mutable {
             auto reply = r ? media::SdpReply::parse(*r) : Result<media::SdpReply>(r.error());
             auto callee = reply ? reply->endpoint() : Result<std::string>(reply.error());
             if (!callee) {
                 failed("test", call_id, callee.error());
                 done(callee.error());
                 return;
             }
             std::string holder = reply->member;
             call(member, SDP_OP, answer,
                  [this, holder, call_id, callee = *callee,
                   done = std::move(done)](Result<json::Json> r2) {
                      auto reply2 =
                          r2 ? media::SdpReply::parse(*r2) : Result<media::SdpReply>(r2.error());
                      auto caller =
                          reply2 ? reply2->endpoint() : Result<std::string>(reply2.error());
                      if (!caller) {
                          failed("test", call_id, caller.error());
                          done(caller.error());
                          return;
                      }
                      ++m_tested;
                      sip::MediaTestAnswer a;
                      a.member = holder;
                      a.caller = *caller;
                      a.callee = callee;
                      auto range = m_settings.media_ports.find(holder);
                      if (range != m_settings.media_ports.end())
                          a.range = range->second;
                      done(std::move(a));
                  });
         });
}

void MediaAnchor::end_test(const std::string& call_id) {
    // Only a test this member started: an end probe must not end a call.
    if (!m_live_tests.erase(call_id))
        return;
    sip::MediaAction action;
    action.kind = sip::MediaAction::Kind::end;
    action.call_id = call_id;
    end(action);
}

void MediaAnchor::register_ops(control::ControlServer& server) {
    // Checked here, as the relay would check it: the relay gets the
    // request's own fields only.
    using Read = Result<json::Json> (*)(const json::Json&);
    auto pass_on = [this](std::string op, Read read) {
        return [this, op, read](const control::Request& req, const control::Peer&,
                                control::Reply reply) {
            ++m_served;
            auto args = read(req.body);
            if (!args) {
                reply(args.error());
                return;
            }
            call(m_settings.self, op, *args,
                 [reply = std::move(reply)](Result<json::Json> r) { reply(std::move(r)); });
        };
    };
    const std::string prefix(media::PEER_OP_PREFIX);
    const control::OpOptions once{.retry_cache = true};
    server.on(prefix + SDP_OP,
              pass_on(SDP_OP,
                      [](const json::Json& b) {
                          return passed_on<media::SdpRequest>(b, media::SdpOp::sdp);
                      }),
              once);
    server.on(prefix + media::OP_DELETE,
              pass_on(media::OP_DELETE,
                      [](const json::Json& b) { return passed_on<media::DeleteRequest>(b); }),
              once);
    server.on(prefix + media::OP_QUERY, pass_on(media::OP_QUERY, [](const json::Json& b) {
                  return passed_on<media::QueryRequest>(b);
              }));
}

json::Json MediaAnchor::stats() const {
    json::Json failed = json::Json::object();
    for (const auto& [code, n] : m_failed)
        failed.set(code.c_str(), static_cast<long long>(n));
    return json::Json::object()
        .set("anchor", m_settings.anchor)
        .set("exchanges", static_cast<long long>(m_exchanges))
        .set("tests", static_cast<long long>(m_tests))
        .set("tested", static_cast<long long>(m_tested))
        .set("rewritten", static_cast<long long>(m_rewritten))
        .set("unchanged", static_cast<long long>(m_unchanged))
        .set("ended", static_cast<long long>(m_ended))
        .set("not_forwarded", static_cast<long long>(m_refused))
        .set("to_other_members", static_cast<long long>(m_remote))
        .set("for_other_members", static_cast<long long>(m_served))
        .set("placed_calls", static_cast<long long>(m_placed.size()))
        .set("placed_calls_max", static_cast<long long>(MAX_PLACED))
        .set("placed_expired", static_cast<long long>(m_placed_expired))
        .set("live_tests", static_cast<long long>(m_live_tests.size()))
        .set("failed", std::move(failed));
}

} // namespace rtfarm::sipfarmd
