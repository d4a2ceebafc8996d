// Events between tasks (sipfarmd(8), rtfarm-control(7)): a task subscribes on its member's control
// socket and gets the handle "member/task"; an event sent to a handle from any member's control
// socket is pushed to the connection holding that task, on whatever member it is, and the task's
// answer travels back the same way. Between members it rides the internal TCP control link
// (control/control_link.hpp), logged in with the cluster secret. Ops (rtfarm-control(7)):
//
//   event.subscribe   {"task"}                -> {"handle"}
//   event.unsubscribe {"task"}                -> {"handle","unsubscribed"}
//   event.send        {"to","event","from"?,"timeout_ms"?,"reply"?}
//                     -> {"delivered","handle","member","reply"?}
//   event.reply       {"event_id","reply"?}   (from the subscriber)
//
// The subscriber reads pushed lines {"event":{"id","to","from","body",
// "reply"}}; with "reply" true it answers with event.reply before the
// sender's timeout_ms. Errors: "unknown_handle" (no such member, or no such
// task on it), "member_down", "no_control_link", "in_use", "timeout",
// "bad_request", "not_found" (event.reply to an unknown or expired event).
#pragma once

#include "base/result.hpp"
#include "base/sockaddr.hpp"
#include "control/control_link.hpp"
#include "control/control_server.hpp"
#include "ev/loop.hpp"

#include "peer_links.hpp"

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

namespace rtfarm::sipfarmd {

class EventHub {
public:
    struct Member {
        std::optional<SockAddr> control_tcp; // none: unreachable for events
    };
    // Whether a member is up (not down) in this member's view.
    using IsUp = std::function<bool(const std::string&)>;

    EventHub(ev::Loop& loop, IsUp is_up);
    ~EventHub();

    // Who we are and how to reach the others (start and every reload).
    void configure(std::string self, std::map<std::string, Member> members,
                   std::vector<std::string> secrets);
    void register_ops(control::ControlServer& server);
    // A control connection closed: its tasks go, events waiting on them fail.
    void disconnected(uint64_t connection);
    json::Json stats() const;

private:
    struct Waiting {
        control::Reply reply;
        uint64_t connection = 0; // the subscriber's
        std::string handle;
        std::shared_ptr<ev::Timer> timer;
    };

    void send(const control::Request& req, control::Reply reply);
    void deliver_here(const std::string& task, const json::Json& event, const json::Json& from,
                      bool wants_reply, std::chrono::milliseconds timeout, control::Reply reply);
    void forward(const std::string& member, const control::Request& req,
                 std::chrono::milliseconds timeout, control::Reply reply);
    void answer(const control::Request& req, const control::Peer& peer, control::Reply reply);
    void expire(const std::string& id);
    std::string tasks_here() const;

    ev::Loop& m_loop;
    IsUp m_is_up;
    control::ControlServer* m_server = nullptr;
    std::string m_self;
    std::map<std::string, Member> m_members;
    std::map<std::string, uint64_t> m_tasks;  // task -> connection
    std::map<std::string, Waiting> m_waiting; // event id -> sender
    PeerLinks m_links;
    uint64_t m_next_event = 1;

    uint64_t m_sent_here = 0;
    uint64_t m_forwarded = 0;
    uint64_t m_replies = 0;
    uint64_t m_timeouts = 0;
    uint64_t m_refused = 0;
};

} // namespace rtfarm::sipfarmd
