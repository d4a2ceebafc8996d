#include "events.hpp"

#include "base/log.hpp"

#include <algorithm>

namespace rtfarm::sipfarmd {
namespace {

constexpr std::chrono::milliseconds DEFAULT_TIMEOUT{5000};
constexpr long long MAX_TIMEOUT_MS = 60000;
// The link waits a little longer than the far member's own timeout, so the
// far member's answer (even "timeout") is what the sender hears.
constexpr std::chrono::milliseconds LINK_SLACK{1000};
constexpr size_t MAX_TASK = 64;
constexpr size_t TASKS_IN_MESSAGE = 10;

bool valid_task(std::string_view t) {
    if (t.empty() || t.size() > MAX_TASK)
        return false;
    return std::all_of(t.begin(), t.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '.' || c == '_' || c == '-';
    });
}

Error bad(std::string message) {
    return make_error("bad_request", std::move(message));
}

} // namespace

EventHub::EventHub(ev::Loop& loop, IsUp is_up)
    : m_loop(loop)
    , m_is_up(std::move(is_up))
    , m_links(loop) {
}

EventHub::~EventHub() {
    // Senders still waiting hear it; links answer their own callers.
    auto waiting = std::move(m_waiting);
    for (auto& [id, w] : waiting) {
        w.timer->stop();
        w.reply(make_error("unknown_handle", w.handle + ": the member is stopping"));
    }
    m_links.clear();
}

void EventHub::configure(std::string self, std::map<std::string, Member> members,
                         std::vector<std::string> secrets) {
    std::map<std::string, std::optional<SockAddr>> addresses;
    for (const auto& [id, m] : members)
        addresses.emplace(id, m.control_tcp);
    m_links.configure(std::move(addresses), std::move(secrets));
    m_self = std::move(self);
    m_members = std::move(members);
}

std::string EventHub::tasks_here() const {
    std::string list;
    size_t n = 0;
    for (const auto& [task, conn] : m_tasks) {
        if (n++ == TASKS_IN_MESSAGE) {
            list += ", ...";
            break;
        }
        list += (list.empty() ? "" : ", ") + task;
    }
    return list.empty() ? "none" : list;
}

void EventHub::register_ops(control::ControlServer& server) {
    m_server = &server;
    server.on("event.subscribe",
              [this](const control::Request& req, const control::Peer& peer, control::Reply reply) {
                  auto task = req.body["task"].as_string();
                  if (!task || !valid_task(*task)) {
                      reply(bad("\"task\" must be 1-64 of A-Z a-z 0-9 . _ -"));
                      return;
                  }
                  auto it = m_tasks.find(*task);
                  if (it != m_tasks.end() && it->second != peer.connection) {
                      reply(make_error("in_use", "task '" + *task + "' on member " + m_self +
                                                     " is held by another connection"));
                      return;
                  }
                  m_tasks[*task] = peer.connection;
                  log::info("events", "task subscribed",
                            {{"handle", m_self + "/" + *task}, {"peer", peer.address}});
                  reply(json::Json::object().set("handle", m_self + "/" + *task));
              });
    server.on("event.unsubscribe", [this](const control::Request& req, const control::Peer& peer,
                                          control::Reply reply) {
        auto task = req.body["task"].as_string();
        auto it = task ? m_tasks.find(*task) : m_tasks.end();
        if (it == m_tasks.end() || it->second != peer.connection) {
            reply(make_error("not_found",
                             "this connection holds no task '" + task.value_or("") + "'"));
            return;
        }
        m_tasks.erase(it);
        reply(json::Json::object().set("handle", m_self + "/" + *task).set("unsubscribed", true));
    });
    server.on("event.send", [this](const control::Request& req, const control::Peer&,
                                   control::Reply reply) { send(req, std::move(reply)); });
    server.on("event.reply", [this](const control::Request& req, const control::Peer& peer,
                                    control::Reply reply) { answer(req, peer, std::move(reply)); });
}

void EventHub::send(const control::Request& req, control::Reply reply) {
    auto to = req.body["to"].as_string();
    auto event = req.body["event"];
    auto from = req.body["from"];
    auto timeout_ms = req.body["timeout_ms"];
    auto wants = req.body["reply"];
    if (!to || !event) {
        reply(bad("event.send needs \"to\" (a handle member/task) and \"event\" (any JSON)"));
        return;
    }
    if (from && !from.as_string()) {
        reply(bad("\"from\" must be a string (the sender's handle)"));
        return;
    }
    if (wants && !wants.as_bool()) {
        reply(bad("\"reply\" must be true or false"));
        return;
    }
    std::chrono::milliseconds timeout = DEFAULT_TIMEOUT;
    if (timeout_ms) {
        auto ms = timeout_ms.as_integer();
        if (!ms || *ms < 1 || *ms > MAX_TIMEOUT_MS) {
            reply(bad("\"timeout_ms\" must be 1-" + std::to_string(MAX_TIMEOUT_MS)));
            return;
        }
        timeout = std::chrono::milliseconds(*ms);
    }
    auto slash = to->find('/');
    std::string member = to->substr(0, slash);
    std::string task = slash == std::string::npos ? "" : to->substr(slash + 1);
    if (slash == std::string::npos || member.empty() || !valid_task(task)) {
        reply(bad("\"to\" must be a handle MEMBER/TASK, not '" + *to + "'"));
        return;
    }
    auto m = m_members.find(member);
    if (m == m_members.end()) {
        std::string known;
        for (const auto& [id, info] : m_members)
            known += (known.empty() ? "" : ", ") + id;
        ++m_refused;
        reply(make_error("unknown_handle", *to + ": no member '" + member +
                                               "' in the cluster (members: " + known + ")"));
        return;
    }
    if (member == m_self) {
        deliver_here(task, event, from, wants.as_bool().value_or(true), timeout, std::move(reply));
        return;
    }
    if (req.body["relayed_by"]) {
        // Relayed by a member whose config places the task here: ours says not.
        ++m_refused;
        reply(make_error("unknown_handle",
                         *to + ": relayed to member " + m_self + ", which is not " + member));
        return;
    }
    if (!m_is_up(member)) {
        ++m_refused;
        reply(make_error("member_down", *to + ": member " + member + " is down"));
        return;
    }
    if (!m->second.control_tcp) {
        ++m_refused;
        reply(make_error("no_control_link", *to + ": member " + member +
                                                " has no control_tcp in the config, so events "
                                                "cannot reach its tasks"));
        return;
    }
    forward(member, req, timeout, std::move(reply));
}

void EventHub::forward(const std::string& member, const control::Request& req,
                       std::chrono::milliseconds timeout, control::Reply reply) {
    control::ControlLink* link = m_links.get(member);
    auto args = json::Json::object();
    for (const char* key : {"to", "event", "from", "timeout_ms", "reply"})
        if (auto v = req.body[key])
            args.set(key, v);
    args.set("relayed_by", m_self);
    ++m_forwarded;
    link->call("event.send", args, timeout + LINK_SLACK,
               [this, member, reply = std::move(reply)](Result<json::Json> r) {
                   if (!r && (r.error().code == json::error_code::IO ||
                              r.error().code == json::error_code::UNAUTHENTICATED))
                       log::warn("events", "control link failed",
                                 {{"member", member}, {"err", r.error().message}});
                   reply(std::move(r));
               });
}

void EventHub::deliver_here(const std::string& task, const json::Json& event,
                            const json::Json& from, bool wants_reply,
                            std::chrono::milliseconds timeout, control::Reply reply) {
    std::string handle = m_self + "/" + task;
    auto it = m_tasks.find(task);
    std::string id = m_self + "-" + std::to_string(m_next_event++);
    auto line = json::Json::object().set("event", json::Json::object()
                                                      .set("id", id)
                                                      .set("to", handle)
                                                      .set("from", from ? from : json::Json::null())
                                                      .set("body", event)
                                                      .set("reply", wants_reply));
    if (it == m_tasks.end() || !m_server || !m_server->push(it->second, line)) {
        ++m_refused;
        reply(make_error("unknown_handle", handle + ": member " + m_self + " has no task '" + task +
                                               "' (tasks here: " + tasks_here() + ")"));
        return;
    }
    ++m_sent_here;
    auto result =
        json::Json::object().set("delivered", true).set("handle", handle).set("member", m_self);
    if (!wants_reply) {
        reply(std::move(result));
        return;
    }
    auto timer = std::make_shared<ev::Timer>(m_loop, [this, id] { expire(id); });
    timer->start(timeout);
    m_waiting.emplace(id, Waiting{std::move(reply), it->second, handle, timer});
}

void EventHub::expire(const std::string& id) {
    auto node = m_waiting.extract(id);
    if (node.empty())
        return;
    ++m_timeouts;
    // The timer is the one running this: freed after it returns.
    m_loop.defer([timer = node.mapped().timer] {});
    node.mapped().reply(make_error("timeout", node.mapped().handle + " got event " + id +
                                                  " but did not answer (event.reply) in time"));
}

void EventHub::answer(const control::Request& req, const control::Peer& peer,
                      control::Reply reply) {
    auto id = req.body["event_id"].as_string();
    if (!id) {
        reply(bad("event.reply needs \"event_id\" (the id of the event answered)"));
        return;
    }
    auto it = m_waiting.find(*id);
    if (it == m_waiting.end() || it->second.connection != peer.connection) {
        reply(make_error("not_found", "no event '" + *id +
                                          "' waits for an answer from this connection (answered, "
                                          "timed out, or sent without \"reply\")"));
        return;
    }
    Waiting w = std::move(it->second);
    m_waiting.erase(it);
    w.timer->stop();
    ++m_replies;
    auto value = req.body["reply"];
    w.reply(json::Json::object()
                .set("delivered", true)
                .set("handle", w.handle)
                .set("member", m_self)
                .set("reply", value ? value : json::Json::null()));
    reply(json::Json::object().set("event_id", *id));
}

void EventHub::disconnected(uint64_t connection) {
    for (auto it = m_tasks.begin(); it != m_tasks.end();) {
        if (it->second == connection) {
            log::info("events", "task gone", {{"handle", m_self + "/" + it->first}});
            it = m_tasks.erase(it);
        } else {
            ++it;
        }
    }
    for (auto it = m_waiting.begin(); it != m_waiting.end();) {
        if (it->second.connection != connection) {
            ++it;
            continue;
        }
        Waiting w = std::move(it->second);
        it = m_waiting.erase(it);
        w.timer->stop();
        w.reply(make_error("unknown_handle", w.handle + ": the task went away before it answered"));
    }
}

json::Json EventHub::stats() const {
    return json::Json::object()
        .set("tasks", static_cast<long long>(m_tasks.size()))
        .set("waiting", static_cast<long long>(m_waiting.size()))
        .set("delivered", static_cast<long long>(m_sent_here))
        .set("forwarded", static_cast<long long>(m_forwarded))
        .set("replies", static_cast<long long>(m_replies))
        .set("timeouts", static_cast<long long>(m_timeouts))
        .set("refused", static_cast<long long>(m_refused));
}

} // namespace rtfarm::sipfarmd
