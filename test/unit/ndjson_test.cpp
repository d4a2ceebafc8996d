// ndjson: line framing, the request/reply envelope, and the control server
// driven by the blocking client. The server's loop runs on a second thread
// (stopped through a flag it polls); assertions stay on the test thread.
// Every wait is bounded: client calls time out after 2 s, polls are counted.
#include "base/crypto.hpp"
#include "base/log.hpp"
#include "control/control_client.hpp"
#include "control/control_link.hpp"
#include "control/control_server.hpp"
#include "control/ndjson.hpp"
#include "ev/loop.hpp"
#include "net/socket.hpp"

#include <boost/test/unit_test.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace rtfarm;
using namespace rtfarm::json;
using namespace rtfarm::control;
using namespace std::chrono_literals;

namespace {

constexpr auto CALL_TIMEOUT = 2000ms;

std::vector<std::string> drain(LineFramer& f, size_t* oversize = nullptr) {
    std::vector<std::string> lines;
    for (int i = 0; i < 1000; ++i) {
        auto frame = f.next_line();
        if (!frame)
            break;
        if (frame->kind == LineFramer::Kind::oversize) {
            if (oversize)
                ++*oversize;
            lines.emplace_back("<oversize>");
        } else {
            lines.emplace_back(frame->text);
        }
    }
    return lines;
}

// A request line of exactly `size` bytes (without the '\n').
std::string padded_request(size_t size) {
    std::string head = R"({"id":1,"op":"ping","pad":")";
    std::string tail = "\"}";
    return head + std::string(size - head.size() - tail.size(), 'p') + tail;
}

// The error message of a failed Result, "" for a good one (the MESSAGE
// argument of BOOST_*_MESSAGE is evaluated either way).
template <typename T> std::string message_of(const Result<T>& r) {
    return r.ok() ? "" : r.error().message;
}

// Polls `cond` every 5 ms for at most `limit`.
template <typename F> bool eventually(F cond, std::chrono::milliseconds limit = 2000ms) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (!cond()) {
        if (std::chrono::steady_clock::now() >= end)
            return false;
        std::this_thread::sleep_for(5ms);
    }
    return true;
}

// A control server on a temporary Unix socket and on 127.0.0.1:0, its loop
// on a thread of its own. Ops: ping, count (counts its runs), make (counts
// its runs, retry-cached), later (answers from a timer after "ms",
// retry-cached), big (a reply of "bytes" bytes), hold (keeps its Reply
// until release_held(), retry-cached), fail.
struct ServerFixture {
    std::string dir;
    std::string path;
    std::string tcp;
    ev::Loop loop;
    std::vector<std::unique_ptr<ev::Timer>> timers; // loop thread only
    std::unique_ptr<ControlServer> server;
    std::atomic<bool> stop{false};
    std::thread thread;
    std::atomic<int> count_runs{0};
    std::atomic<int> make_runs{0};
    std::atomic<int> late_replies{0};
    std::vector<Reply> held; // loop thread only while it runs
    std::atomic<int> held_count{0};
    std::atomic<bool> release{false}; // the loop answers `held`, then clears it
    std::mutex log_mutex;
    std::vector<std::string> log_lines;

    std::atomic<int> disconnects{0};

    explicit ServerFixture(ControlServerOptions options = {}, std::string secret = "")
        : ServerFixture(options, secret.empty() ? std::vector<std::string>{}
                                                : std::vector<std::string>{secret}) {}
    ServerFixture(ControlServerOptions options, std::vector<std::string> secrets) {
        char tmpl[] = "/tmp/rtfarm-ctl-XXXXXX";
        BOOST_REQUIRE(::mkdtemp(tmpl) != nullptr);
        dir = tmpl;
        path = dir + "/ctl.sock";
        log::set_sink([this](std::string_view line) {
            std::lock_guard lock(log_mutex);
            log_lines.emplace_back(line);
        });
        server = std::make_unique<ControlServer>(loop, options);
        server->on("ping", [](const Request& req, const Peer& peer, Reply reply) {
            reply(Json::object()
                      .set("pong", true)
                      .set("transport", std::string(to_string(peer.transport)))
                      .set("echo", req.body["echo"] ? req.body["echo"] : Json::null()));
        });
        server->on("count", [this](const Request&, const Peer&, Reply reply) {
            int n = ++count_runs;
            reply(Json::object().set("runs", n));
        });
        server->on("make",
                   [this](const Request& req, const Peer&, Reply reply) {
                       int n = ++make_runs;
                       reply(Json::object().set("runs", n).set(
                           "name", req.body["name"] ? req.body["name"] : Json::null()));
                   },
                   {.retry_cache = true});
        server->on("later",
                   [this](const Request& req, const Peer&, Reply reply) {
                       long long ms = req.body["ms"].as_integer().value_or(30);
                       auto timer = std::make_unique<ev::Timer>(loop, [this, reply] {
                           ++late_replies; // before the client can read the reply
                           reply(Json::object().set("late", true));
                       });
                       timer->start(std::chrono::milliseconds(ms));
                       timers.push_back(std::move(timer));
                   },
                   {.retry_cache = true});
        server->on("big", [](const Request& req, const Peer&, Reply reply) {
            auto bytes = req.body["bytes"].as_integer().value_or(1000);
            reply(Json::object().set("data", std::string(size_t(bytes), 'b')));
        });
        server->on("hold",
                   [this](const Request&, const Peer&, Reply reply) {
                       held.push_back(std::move(reply));
                       ++held_count;
                   },
                   {.retry_cache = true});
        server->on("fail", [](const Request&, const Peer&, Reply reply) {
            reply(make_error(error_code::NOT_FOUND, "no such call"));
        });
        // Replies, then pushes an event line to the same connection.
        server->on("notify_me", [this](const Request&, const Peer& peer, Reply reply) {
            reply(Json::object().set("subscribed", true));
            bool pushed = server->push(peer.connection, Json::object().set("event", "hello"));
            BOOST_CHECK(pushed);
            BOOST_CHECK(!server->push(999999, Json::object()));
        });
        server->on_disconnect([this](uint64_t) { ++disconnects; });
        server->set_tcp_secrets(secrets);
        auto st = server->listen_unix(path);
        BOOST_REQUIRE_MESSAGE(st.ok(), message_of(st));
        auto st2 = server->listen_tcp(SockAddr::parse("127.0.0.1:0").value());
        BOOST_REQUIRE_MESSAGE(st2.ok(), message_of(st2));
        tcp = server->tcp_address().value().str();
        thread = std::thread([this] {
            ev::Ticker tick(loop, 2ms, [this] {
                if (release) {
                    for (auto& reply : held)
                        reply(Json::object().set("released", true));
                    held.clear();
                    release = false;
                }
                if (stop)
                    loop.stop();
            });
            loop.run();
        });
    }

    ~ServerFixture() {
        stop_loop();
        server.reset();
        log::reset_sink();
        ::unlink(path.c_str());
        ::rmdir(dir.c_str());
    }

    // After this the test thread owns the server again (counters, close()).
    void stop_loop() {
        if (thread.joinable()) {
            stop = true;
            thread.join();
        }
    }

    // Answers every held request on the loop's thread, in the order they
    // came; true once done.
    bool release_held() {
        release = true;
        return eventually([this] { return !release.load(); });
    }

    ControlClient client(const std::string& target) {
        auto c = ControlClient::connect(target, CALL_TIMEOUT);
        BOOST_REQUIRE_MESSAGE(c.ok(), message_of(c));
        return std::move(c).value();
    }

    bool logged(std::string_view text) {
        std::lock_guard lock(log_mutex);
        for (const auto& l : log_lines)
            if (l.find(text) != std::string::npos)
                return true;
        return false;
    }
};

Response response(const Result<std::string>& line) {
    BOOST_REQUIRE_MESSAGE(line.ok(), message_of(line));
    auto r = parse_response(*line);
    BOOST_REQUIRE_MESSAGE(r.ok(), message_of(r));
    return std::move(r).value();
}

} // namespace

BOOST_AUTO_TEST_SUITE(ndjson)

BOOST_AUTO_TEST_CASE(framer_joins_pieces_and_splits_lines) {
    LineFramer f;
    f.feed(R"({"a")");
    BOOST_TEST(!f.next_line().has_value());
    f.feed(":1}\n{\"b\":2}\r\n\n   \r\n\t\n{\"c\"");
    auto lines = drain(f);
    BOOST_TEST(lines == (std::vector<std::string>{R"({"a":1})", R"({"b":2})"}),
               boost::test_tools::per_element());
    BOOST_TEST(f.buffered() == 4u);
    f.feed(":3}\n");
    BOOST_TEST(drain(f) == std::vector<std::string>{R"({"c":3})"},
               boost::test_tools::per_element());
    BOOST_TEST(f.buffered() == 0u);
}

BOOST_AUTO_TEST_CASE(framer_views_hold_until_next_feed) {
    LineFramer f;
    f.feed("one\ntwo\n");
    auto a = f.next_line();
    auto b = f.next_line();
    BOOST_REQUIRE(a && b);
    BOOST_TEST(a->text == "one");
    BOOST_TEST(b->text == "two");
    BOOST_TEST(!f.next_line().has_value());
}

BOOST_AUTO_TEST_CASE(framer_byte_by_byte) {
    LineFramer f;
    std::string text = "{\"op\":\"ping\"}\r\n{\"op\":\"stats\"}\n";
    std::vector<std::string> lines;
    for (char c : text) {
        f.feed(std::string_view(&c, 1));
        for (auto& l : drain(f))
            lines.push_back(l);
    }
    BOOST_TEST(lines == (std::vector<std::string>{R"({"op":"ping"})", R"({"op":"stats"})"}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(framer_limit_is_exact) {
    LineFramer f;
    std::string exact(MAX_LINE, 'a');
    f.feed(exact + "\n");
    auto lines = drain(f);
    BOOST_REQUIRE(lines.size() == 1u);
    BOOST_TEST(lines[0].size() == MAX_LINE);
    // The '\r' of a CRLF line does not count.
    f.feed(exact + "\r\n");
    lines = drain(f);
    BOOST_REQUIRE(lines.size() == 1u);
    BOOST_TEST(lines[0].size() == MAX_LINE);
    // One more byte is too long, reported once, and the next line is fine.
    size_t oversize = 0;
    f.feed(std::string(MAX_LINE + 1, 'b') + "\nnext\n");
    BOOST_TEST(drain(f, &oversize) == (std::vector<std::string>{"<oversize>", "next"}),
               boost::test_tools::per_element());
    BOOST_TEST(oversize == 1u);
}

BOOST_AUTO_TEST_CASE(framer_discards_oversize_fed_in_pieces) {
    LineFramer f(100);
    size_t oversize = 0;
    std::vector<std::string> lines;
    f.feed("ok\n");
    for (auto& l : drain(f, &oversize))
        lines.push_back(l);
    for (int i = 0; i < 10; ++i) {
        f.feed(std::string(60, 'x')); // 600 bytes, no newline
        for (auto& l : drain(f, &oversize))
            lines.push_back(l);
        BOOST_TEST(f.buffered() <= 160u); // never holds more than limit + one feed
    }
    f.feed("tail of the long line\nafter\n");
    for (auto& l : drain(f, &oversize))
        lines.push_back(l);
    BOOST_TEST(oversize == 1u);
    BOOST_TEST(lines == (std::vector<std::string>{"ok", "<oversize>", "after"}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(request_envelope) {
    auto r = parse_request(R"({"id":7,"op":"offer","call_id":"c1"})");
    BOOST_REQUIRE(r.ok());
    BOOST_TEST(r->id.as_integer().value() == 7);
    BOOST_TEST(r->op == "offer");
    BOOST_TEST(r->body["call_id"].as_string().value() == "c1");

    auto no_id = parse_request(R"({"op":"list"})");
    BOOST_REQUIRE(no_id.ok());
    BOOST_TEST(json_is_null(no_id->id.get()));
    BOOST_TEST(parse_request(R"({"id":"abc","op":"x"})").value().id.as_string().value() == "abc");
    BOOST_TEST(parse_request(R"({"id":1.5,"op":"x"})").ok());
    BOOST_TEST(parse_request(R"({"id":null,"op":"x"})").ok());

    auto expect = [](std::string_view line, const char* code, const char* why) {
        auto bad = parse_request(line);
        BOOST_TEST_CONTEXT(line) {
            BOOST_REQUIRE(!bad.ok());
            BOOST_TEST(bad.error().code == code);
            BOOST_TEST(bad.error().message.find(why) != std::string::npos, bad.error().message);
        }
    };
    expect("{\"op\":", "bad_json", "request:1:");
    expect(R"({"op":"a","op":"b"})", "bad_json", "duplicate");
    expect("[1,2]", "bad_request", "not array");
    expect("5", "bad_request", "not integer");
    expect(R"({"id":1})", "bad_request", "no \"op\"");
    expect(R"({"id":1,"op":5})", "bad_request", "\"op\" must be a string");
    expect(R"({"id":1,"op":""})", "bad_request", "empty");
    expect(R"({"id":{"a":1},"op":"x"})", "bad_request", "\"id\" must be");
    // The id of a bad request is still echoed when it is a scalar.
    BOOST_TEST(id_of(parse(R"({"id":9})", "t").value()).as_integer().value() == 9);
    BOOST_TEST(json_is_null(id_of(parse(R"({"id":[9]})", "t").value()).get()));
}

BOOST_AUTO_TEST_CASE(reply_envelope) {
    BOOST_TEST(ok_reply(Json::integer(7), Json::object().set("a", 1)) ==
               "{\"id\":7,\"ok\":true,\"result\":{\"a\":1}}\n");
    BOOST_TEST(ok_reply(Json(), Json()) == "{\"id\":null,\"ok\":true,\"result\":{}}\n");
    BOOST_TEST(error_reply(Json::string("x"), "bad_request", "no \"op\"") ==
               "{\"id\":\"x\",\"ok\":false,\"error\":{\"code\":\"bad_request\",\"message\":\"no "
               "\\\"op\\\"\"}}\n");
    // Bytes that are not UTF-8 must not make the message vanish.
    auto bad_utf8 = error_reply(Json::null(), "internal", std::string("caf\xc3", 4));
    BOOST_TEST(bad_utf8.find("\"message\":\"caf?\"") != std::string::npos, bad_utf8);
    BOOST_TEST(error_reply(Json::null(), "x", "\xe2\x82\xac").find("\xe2\x82\xac") !=
               std::string::npos);
    // Nor a NUL byte (found by test/fuzz/ndjson_fuzz.cpp): written as \u0000,
    // which the reader refuses, the whole reply would be unreadable.
    auto nul = error_reply(Json::null(), "x", std::string("a\0b", 3));
    BOOST_TEST(parse_response(nul).ok(), nul);
    BOOST_TEST(nul.find("\"message\":\"a?b\"") != std::string::npos, nul);

    auto ok = parse_response(R"({"id":3,"ok":true,"result":{"n":1}})");
    BOOST_REQUIRE(ok.ok());
    BOOST_TEST(ok->ok);
    BOOST_TEST(ok->result["n"].as_integer().value() == 1);
    auto err = parse_response(R"({"id":3,"ok":false,"error":{"code":"busy","message":"later"}})");
    BOOST_REQUIRE(err.ok());
    BOOST_TEST(!err->ok);
    BOOST_TEST(err->error.code == "busy");
    BOOST_TEST(err->error.message == "later");
    BOOST_TEST(parse_response(R"({"id":3})").error().code == "bad_reply");
    BOOST_TEST(parse_response(R"({"ok":false,"error":{}})").error().code == "bad_reply");
    BOOST_TEST(parse_response("nope").error().code == "bad_json");
}

BOOST_AUTO_TEST_CASE(ping_over_unix_and_tcp) {
    ServerFixture fx;
    for (const auto& target : {fx.path, fx.tcp}) {
        BOOST_TEST_CONTEXT(target) {
            auto c = fx.client(target);
            auto r = c.call("ping", Json::object().set("echo", "hi"), CALL_TIMEOUT);
            BOOST_REQUIRE_MESSAGE(r.ok(), message_of(r));
            BOOST_TEST((*r)["pong"].as_bool().value());
            BOOST_TEST((*r)["echo"].as_string().value() == "hi");
            BOOST_TEST((*r)["transport"].as_string().value() ==
                       (target == fx.path ? "unix" : "tcp"));
            auto raw = response(c.call_raw("{\"id\":\"s\",\"op\":\"ping\"}\n", CALL_TIMEOUT));
            BOOST_TEST(raw.ok);
            BOOST_TEST(raw.id.as_string().value() == "s");
        }
    }
    auto bad_args = fx.client(fx.path).call("ping", Json::object().set("op", "x"), CALL_TIMEOUT);
    BOOST_REQUIRE(!bad_args.ok());
    BOOST_TEST(bad_args.error().code == "bad_request");
    auto nowhere = ControlClient::connect("localhost:1", CALL_TIMEOUT);
    BOOST_REQUIRE(!nowhere.ok());
    BOOST_TEST(nowhere.error().code == "bad_address");
}

BOOST_AUTO_TEST_CASE(tcp_clients_log_in_with_the_cluster_secret) {
    ServerFixture fx({}, "s3cret");
    // Unix clients are trusted by the socket's mode.
    BOOST_TEST(fx.client(fx.path).call("ping", Json(), CALL_TIMEOUT).ok());
    // TCP without a login: refused, the connection goes on.
    auto c = fx.client(fx.tcp);
    auto r = c.call("ping", Json(), CALL_TIMEOUT);
    BOOST_REQUIRE(!r.ok());
    BOOST_TEST(r.error().code == "unauthenticated");
    // "auth" without a challenge, or with a wrong MAC: refused.
    r = c.call("auth", Json::object().set("mac", auth_mac("s3cret", "x")), CALL_TIMEOUT);
    BOOST_TEST(!r.ok());
    auto ch = c.call("auth.challenge", Json(), CALL_TIMEOUT);
    BOOST_REQUIRE(ch.ok());
    std::string nonce = (*ch)["nonce"].as_string().value_or("");
    BOOST_TEST(nonce.size() == 32u);
    r = c.call("auth", Json::object().set("mac", auth_mac("wrong", nonce)), CALL_TIMEOUT);
    BOOST_TEST(r.error().code == "unauthenticated");
    // A nonce serves one attempt: the right MAC for a spent nonce fails.
    r = c.call("auth", Json::object().set("mac", auth_mac("s3cret", nonce)), CALL_TIMEOUT);
    BOOST_TEST(!r.ok());
    BOOST_TEST(!c.call("ping", Json(), CALL_TIMEOUT).ok());
    // The client's own login.
    BOOST_TEST(c.authenticate(std::vector<std::string>{"s3cret"}, CALL_TIMEOUT).ok());
    BOOST_TEST(c.call("ping", Json(), CALL_TIMEOUT).ok());
    auto good = ControlClient::connect(fx.tcp, CALL_TIMEOUT, "s3cret");
    BOOST_REQUIRE_MESSAGE(good.ok(), message_of(good));
    BOOST_TEST(good->call("ping", Json(), CALL_TIMEOUT).ok());
    // A client with the wrong secret finds the server's proof wrong first
    // and gives up before it logs in; the server refuses a wrong MAC, late.
    auto bad = ControlClient::connect(fx.tcp, CALL_TIMEOUT, "guess");
    BOOST_REQUIRE(!bad.ok());
    BOOST_TEST(bad.error().code == "server_unauthenticated");
    auto raw = ControlClient::connect(fx.tcp, CALL_TIMEOUT);
    BOOST_REQUIRE(raw.ok());
    auto challenge = raw->call("auth.challenge", Json(), CALL_TIMEOUT);
    BOOST_REQUIRE(challenge.ok());
    auto mac = auth_mac("guess", (*challenge)["nonce"].as_string().value_or(""));
    auto wrong = raw->call("auth", Json::object().set("mac", mac), CALL_TIMEOUT);
    BOOST_REQUIRE(!wrong.ok());
    BOOST_TEST(wrong.error().code == "unauthenticated");
    BOOST_TEST(fx.logged("control login failed"));
}

BOOST_AUTO_TEST_CASE(during_a_key_rotation_either_secret_logs_in) {
    const std::string old_key = "the secret the farm had", new_key = "the secret it moves to";
    // A server that holds both (a member that reloaded for the rotation).
    ServerFixture both({}, std::vector<std::string>{new_key, old_key});
    for (const auto& held : std::vector<std::vector<std::string>>{
             {old_key}, {new_key}, {new_key, old_key}, {old_key, new_key}}) {
        auto c = ControlClient::connect(both.tcp, CALL_TIMEOUT, held);
        BOOST_REQUIRE_MESSAGE(c.ok(), message_of(c));
        BOOST_TEST(c->call("ping", Json(), CALL_TIMEOUT).ok());
    }
    // The server proves with the newest secret the client holds, and names it.
    auto raw = ControlClient::connect(both.tcp, CALL_TIMEOUT);
    BOOST_REQUIRE(raw.ok());
    auto ch = raw->call("auth.challenge",
                        Json::object()
                            .set("client_nonce", "n1")
                            .set("keys", auth_key_ids(std::vector<std::string>{old_key})),
                        CALL_TIMEOUT);
    BOOST_REQUIRE(ch.ok());
    BOOST_TEST((*ch)["key"].as_string().value_or("") == crypto::key_id(old_key));
    BOOST_TEST((*ch)["proof"].as_string().value_or("") ==
               auth_server_proof(old_key, "n1", (*ch)["nonce"].as_string().value_or("")));
    // A login under the other secret than the one named is refused.
    auto mac = auth_mac(new_key, (*ch)["nonce"].as_string().value_or(""));
    BOOST_TEST(!raw->call("auth", Json::object().set("mac", mac), CALL_TIMEOUT).ok());
    // Servers that hold one of them: a client holding both logs in to
    // either (a member that reloaded talks to one that has not, and to one
    // that finished the rotation).
    ServerFixture old_only({}, old_key), new_only({}, new_key);
    for (const auto* fx : {&old_only, &new_only}) {
        auto c = ControlClient::connect(fx->tcp, CALL_TIMEOUT,
                                        std::vector<std::string>{new_key, old_key});
        BOOST_REQUIRE_MESSAGE(c.ok(), message_of(c));
        BOOST_TEST(c->call("ping", Json(), CALL_TIMEOUT).ok());
    }
    // No secret in common: the server cannot prove itself.
    auto stranger =
        ControlClient::connect(new_only.tcp, CALL_TIMEOUT, std::vector<std::string>{old_key});
    BOOST_REQUIRE(!stranger.ok());
    BOOST_TEST(stranger.error().code == "server_unauthenticated");
    // The loop's links the same way.
    ev::Loop loop;
    control::ControlLink link(loop, SockAddr::parse(old_only.tcp).value(), {new_key, old_key});
    std::optional<Result<Json>> r;
    link.call("ping", Json(), 2000ms, [&](Result<Json> x) { r = std::move(x); });
    ev::Ticker tick(loop, 5ms, [&] {
        if (r)
            loop.stop();
    });
    ev::Timer limit(loop, [&] { loop.stop(); });
    limit.start(3000ms);
    loop.run();
    BOOST_REQUIRE(r.has_value());
    BOOST_TEST(r->ok());
}

BOOST_AUTO_TEST_CASE(strangers_on_tcp_cannot_lock_out_unix_clients) {
    ControlServerOptions o;
    o.max_clients = 4;
    o.login_deadline = 300ms;
    ServerFixture fx(o, "s3cret");
    // Three TCP clients that never log in: the fourth slot is kept for Unix.
    std::vector<ControlClient> idle;
    for (int i = 0; i < 3; ++i)
        idle.push_back(fx.client(fx.tcp));
    BOOST_TEST(eventually([&] { return fx.disconnects.load() == 0; }, 50ms));
    auto fourth = fx.client(fx.tcp).read_line(CALL_TIMEOUT);
    BOOST_REQUIRE(fourth.ok());
    BOOST_TEST(fourth->find("busy") != std::string::npos, *fourth);
    BOOST_TEST(fx.client(fx.path).call("ping", Json(), CALL_TIMEOUT).ok());
    // They are dropped at the login deadline.
    BOOST_TEST(eventually([&] { return fx.disconnects.load() >= 3; }, 3000ms));
    BOOST_TEST(!idle[0].call("ping", Json(), 500ms).ok());
    auto late = ControlClient::connect(fx.tcp, CALL_TIMEOUT, "s3cret");
    BOOST_REQUIRE(late.ok());
    BOOST_TEST(late->call("ping", Json(), CALL_TIMEOUT).ok());
}

BOOST_AUTO_TEST_CASE(events_are_pushed_to_a_connection_and_its_end_is_told) {
    ServerFixture fx;
    {
        auto c = fx.client(fx.path);
        auto r = c.call("notify_me", Json(), CALL_TIMEOUT);
        BOOST_REQUIRE_MESSAGE(r.ok(), message_of(r));
        auto line = c.read_line(CALL_TIMEOUT);
        BOOST_REQUIRE_MESSAGE(line.ok(), message_of(line));
        BOOST_TEST(*line == "{\"event\":\"hello\"}");
    }
    BOOST_TEST(eventually([&] { return fx.disconnects.load() >= 1; }));
}

// Runs `loop` until `done` or the limit (a timer stops it).
template <typename F> bool run_until(ev::Loop& loop, F done, std::chrono::milliseconds limit) {
    auto end = std::chrono::steady_clock::now() + limit;
    ev::Ticker tick(loop, 5ms, [&] {
        if (done() || std::chrono::steady_clock::now() >= end)
            loop.stop();
    });
    loop.run();
    return done();
}

BOOST_AUTO_TEST_CASE(control_link_calls_from_a_loop_with_login) {
    ServerFixture fx({}, "s3cret");
    ev::Loop loop;
    auto addr = SockAddr::parse(fx.tcp).value();
    ControlLink link(loop, addr, {"s3cret"});
    std::vector<std::string> answers;
    for (int i = 0; i < 5; ++i)
        link.call("ping", Json::object().set("echo", std::to_string(i)), 2000ms,
                  [&](Result<Json> r) {
                      answers.push_back(r ? (*r)["echo"].as_string().value_or("?")
                                          : "error:" + r.error().code);
                  });
    BOOST_TEST(answers.empty()); // never answered from inside call()
    BOOST_REQUIRE(run_until(
        loop, [&] { return answers.size() == 5; }, 3000ms));
    BOOST_TEST(answers == (std::vector<std::string>{"0", "1", "2", "3", "4"}),
               boost::test_tools::per_element());
    BOOST_TEST(link.connected());
    // An error reply is the call's error; a reply that never comes, a timeout.
    std::optional<Result<Json>> failed, late;
    link.call("fail", Json(), 2000ms, [&](Result<Json> r) { failed = std::move(r); });
    link.call("hold", Json(), 100ms, [&](Result<Json> r) { late = std::move(r); });
    BOOST_REQUIRE(run_until(
        loop, [&] { return failed && late; }, 3000ms));
    BOOST_TEST(failed->error().code == "not_found");
    BOOST_TEST(late->error().code == "timeout");
    BOOST_TEST(link.pending() == 0u);

    // The wrong secret: every waiting call hears why.
    ControlLink wrong(loop, addr, {"guess"});
    std::optional<Result<Json>> refused;
    wrong.call("ping", Json(), 2000ms, [&](Result<Json> r) { refused = std::move(r); });
    BOOST_REQUIRE(run_until(
        loop, [&] { return refused.has_value(); }, 3000ms));
    BOOST_TEST(refused->error().code == "server_unauthenticated");
    fx.release_held();
}

BOOST_AUTO_TEST_CASE(control_link_reports_a_dead_peer_and_reconnects) {
    ev::Loop loop;
    // Nothing listens here.
    auto port = [] {
        auto fd = net::tcp_listen(SockAddr::parse("127.0.0.1:0").value());
        return net::local_address(fd.value().get()).value();
    }();
    ControlLink link(loop, port, {});
    std::optional<Result<Json>> r;
    link.call("ping", Json(), 2000ms, [&](Result<Json> x) { r = std::move(x); });
    BOOST_REQUIRE(run_until(
        loop, [&] { return r.has_value(); }, 3000ms));
    BOOST_TEST(!r->ok());
    BOOST_TEST(r->error().code == "io");
    // A server appears there later: the next call connects again.
    ServerFixture fx;
    ControlLink again(loop, SockAddr::parse(fx.tcp).value(), {});
    std::optional<Result<Json>> ok;
    again.call("ping", Json(), 2000ms, [&](Result<Json> x) { ok = std::move(x); });
    BOOST_REQUIRE(run_until(
        loop, [&] { return ok.has_value(); }, 3000ms));
    BOOST_TEST(ok->ok());
    // Bad arguments are answered from the loop, not from call().
    std::optional<Result<Json>> bad;
    again.call("ping", Json::array(), 2000ms, [&](Result<Json> x) { bad = std::move(x); });
    BOOST_TEST(!bad.has_value());
    BOOST_REQUIRE(run_until(
        loop, [&] { return bad.has_value(); }, 3000ms));
    BOOST_TEST(bad->error().code == "bad_request");
}

BOOST_AUTO_TEST_CASE(errors_keep_the_connection) {
    ServerFixture fx;
    auto c = fx.client(fx.path);
    auto garbage = response(c.call_raw("this is not json\n", CALL_TIMEOUT));
    BOOST_TEST(!garbage.ok);
    BOOST_TEST(garbage.error.code == "bad_json");
    BOOST_TEST(garbage.error.message.find("request:1:") == 0u, garbage.error.message);
    BOOST_TEST(json_is_null(garbage.id.get()));

    auto unknown = c.call("frobnicate", Json(), CALL_TIMEOUT);
    BOOST_REQUIRE(!unknown.ok());
    BOOST_TEST(unknown.error().code == "unknown_op");
    BOOST_TEST(unknown.error().message == "unknown op 'frobnicate'");

    auto no_op = response(c.call_raw("{\"id\":42}\n", CALL_TIMEOUT));
    BOOST_TEST(no_op.error.code == "bad_request");
    BOOST_TEST(no_op.id.as_integer().value() == 42);

    auto fail = c.call("fail", Json(), CALL_TIMEOUT);
    BOOST_REQUIRE(!fail.ok());
    BOOST_TEST(fail.error().code == "not_found");
    BOOST_TEST(fail.error().message == "no such call");

    BOOST_TEST(c.call("ping", Json(), CALL_TIMEOUT).ok());

    fx.stop_loop();
    const auto& n = fx.server->counters();
    BOOST_TEST(n.errors.at("bad_json") == 1u);
    BOOST_TEST(n.errors.at("unknown_op") == 1u);
    BOOST_TEST(n.errors.at("bad_request") == 1u);
    BOOST_TEST(n.errors.at("not_found") == 1u);
    BOOST_TEST(n.requests.at("ping") == 1u);
    BOOST_TEST(n.requests.count("frobnicate") == 0u);
    // Results by op: registered ops only; refusals before dispatch are not theirs.
    BOOST_TEST(n.results.at("ping").at("ok") == 1u);
    BOOST_TEST(n.results.at("fail").at("not_found") == 1u);
    BOOST_TEST(n.results.at("fail").count("ok") == 0u);
    BOOST_TEST(n.results.count("frobnicate") == 0u);
    auto stats = fx.server->stats();
    BOOST_TEST(stats["requests"]["fail"].as_integer().value() == 1);
    BOOST_TEST(stats["results"]["fail"]["not_found"].as_integer().value() == 1);
    BOOST_TEST(stats["clients"].as_integer().value() == 1);
}

BOOST_AUTO_TEST_CASE(line_written_in_pieces) {
    ServerFixture fx;
    auto c = fx.client(fx.tcp);
    for (std::string_view piece : {"{\"id\":5,", "\"op\":\"pi", "ng\"}"}) {
        BOOST_REQUIRE(c.send_raw(piece, CALL_TIMEOUT).ok());
        std::this_thread::sleep_for(10ms); // let the server read each piece alone
    }
    BOOST_REQUIRE(c.send_raw("\r\n", CALL_TIMEOUT).ok());
    auto r = response(c.read_line(CALL_TIMEOUT));
    BOOST_TEST(r.ok);
    BOOST_TEST(r.id.as_integer().value() == 5);
}

BOOST_AUTO_TEST_CASE(oversize_line_then_more) {
    ServerFixture fx;
    auto c = fx.client(fx.path);
    auto exact = response(c.call_raw(padded_request(MAX_LINE) + "\n", CALL_TIMEOUT));
    BOOST_TEST(exact.ok);
    auto over = response(c.call_raw(padded_request(MAX_LINE + 1) + "\n", CALL_TIMEOUT));
    BOOST_TEST(!over.ok);
    BOOST_TEST(over.error.code == "line_too_long");
    // Far over, in one write with a good line behind it.
    std::string huge(200000, 'z');
    auto huge_reply = response(c.call_raw(huge + "\n{\"id\":2,\"op\":\"ping\"}\n", CALL_TIMEOUT));
    BOOST_TEST(huge_reply.error.code == "line_too_long");
    auto next = response(c.read_line(CALL_TIMEOUT));
    BOOST_TEST(next.ok);
    BOOST_TEST(next.id.as_integer().value() == 2);
}

BOOST_AUTO_TEST_CASE(fifty_clients_at_once) {
    ControlServerOptions o;
    o.max_per_address = 64; // 25 TCP clients, all from 127.0.0.1
    ServerFixture fx(o);
    constexpr int THREADS = 5, PER_THREAD = 10, CALLS = 3;
    std::atomic<int> good{0};
    std::atomic<int> connected{0};
    std::atomic<bool> all_connected{false};
    std::vector<std::thread> threads;
    for (int t = 0; t < THREADS; ++t) {
        threads.emplace_back([&, t] {
            std::vector<ControlClient> clients;
            for (int i = 0; i < PER_THREAD; ++i) {
                auto c = ControlClient::connect(i % 2 ? fx.path : fx.tcp, CALL_TIMEOUT);
                if (c)
                    clients.push_back(std::move(c).value());
            }
            connected += int(clients.size());
            // Every connection is open before anyone calls.
            eventually([&] { return all_connected.load(); });
            for (int round = 0; round < CALLS; ++round)
                for (size_t i = 0; i < clients.size(); ++i) {
                    std::string tag = std::to_string(t) + "/" + std::to_string(i);
                    auto r = clients[i].call("ping", Json::object().set("echo", tag), CALL_TIMEOUT);
                    if (r && (*r)["echo"].as_string() == tag)
                        ++good;
                }
        });
    }
    BOOST_TEST(eventually([&] { return connected.load() == THREADS * PER_THREAD; }));
    all_connected = true;
    for (auto& th : threads)
        th.join();
    BOOST_TEST(good.load() == THREADS * PER_THREAD * CALLS);
    fx.stop_loop();
    BOOST_TEST(fx.server->counters().accepted == uint64_t(THREADS * PER_THREAD));
    BOOST_TEST(fx.server->counters().requests.at("ping") == uint64_t(THREADS * PER_THREAD * CALLS));
}

BOOST_AUTO_TEST_CASE(retry_is_answered_from_the_cache) {
    ServerFixture fx;
    auto c = fx.client(fx.path);
    std::string line = "{\"id\":\"r1\",\"op\":\"make\"}\n";
    auto first = c.call_raw(line, CALL_TIMEOUT);
    auto again = c.call_raw(line, CALL_TIMEOUT);
    BOOST_REQUIRE(first.ok() && again.ok());
    BOOST_TEST(*first == *again);
    BOOST_TEST(fx.make_runs.load() == 1);
    // Another id, a null id, or another connection runs the handler again.
    BOOST_TEST(response(c.call_raw("{\"id\":\"r2\",\"op\":\"make\"}\n", CALL_TIMEOUT)).ok);
    BOOST_TEST(response(c.call_raw("{\"op\":\"make\"}\n", CALL_TIMEOUT)).ok);
    BOOST_TEST(response(c.call_raw("{\"op\":\"make\"}\n", CALL_TIMEOUT)).ok);
    auto other = fx.client(fx.path);
    BOOST_TEST(response(other.call_raw(line, CALL_TIMEOUT)).ok);
    BOOST_TEST(fx.make_runs.load() == 5);
    fx.stop_loop();
    BOOST_TEST(fx.server->counters().retries == 1u);
}

BOOST_AUTO_TEST_CASE(ops_without_the_retry_cache_always_run) {
    // Like stats or log_level: the same id twice gets two fresh answers.
    ServerFixture fx;
    auto c = fx.client(fx.path);
    std::string line = "{\"id\":1,\"op\":\"count\"}\n";
    BOOST_TEST(response(c.call_raw(line, CALL_TIMEOUT)).result["runs"].as_integer().value() == 1);
    BOOST_TEST(response(c.call_raw(line, CALL_TIMEOUT)).result["runs"].as_integer().value() == 2);
    BOOST_TEST(fx.count_runs.load() == 2);
    fx.stop_loop();
    BOOST_TEST(fx.server->counters().retries == 0u);
}

BOOST_AUTO_TEST_CASE(same_id_with_another_body_is_a_new_request) {
    ServerFixture fx;
    auto c = fx.client(fx.path);
    auto a = response(c.call_raw("{\"id\":5,\"op\":\"make\",\"name\":\"a\"}\n", CALL_TIMEOUT));
    BOOST_TEST(a.result["runs"].as_integer().value() == 1);
    auto b = response(c.call_raw("{\"id\":5,\"op\":\"make\",\"name\":\"b\"}\n", CALL_TIMEOUT));
    BOOST_TEST(b.result["runs"].as_integer().value() == 2);
    BOOST_TEST(b.result["name"].as_string().value() == "b");
    // Its retry is answered from the cache.
    auto b2 = response(c.call_raw("{\"id\":5,\"op\":\"make\",\"name\":\"b\"}\n", CALL_TIMEOUT));
    BOOST_TEST(b2.result["runs"].as_integer().value() == 2);
    BOOST_TEST(fx.make_runs.load() == 2);
    fx.stop_loop();
    BOOST_TEST(fx.server->counters().retries == 1u);
}

BOOST_AUTO_TEST_CASE(retry_of_a_pending_request_waits_for_its_reply) {
    ServerFixture fx;
    auto c = fx.client(fx.path);
    std::string line = "{\"id\":9,\"op\":\"later\",\"ms\":50}\n";
    BOOST_REQUIRE(c.send_raw(line + line, CALL_TIMEOUT).ok());
    auto a = c.read_line(CALL_TIMEOUT);
    auto b = c.read_line(CALL_TIMEOUT);
    BOOST_REQUIRE(a.ok() && b.ok());
    BOOST_TEST(*a == *b);
    BOOST_TEST(fx.late_replies.load() == 1);
}

BOOST_AUTO_TEST_CASE(pending_requests_are_never_evicted) {
    ControlServerOptions options;
    options.retry_entries = 2;
    ServerFixture fx(options);
    auto c = fx.client(fx.path);
    std::string hold1 = "{\"id\":1,\"op\":\"hold\"}\n";
    std::string hold2 = "{\"id\":2,\"op\":\"hold\"}\n";
    BOOST_REQUIRE(c.send_raw(hold1 + hold2, CALL_TIMEOUT).ok());
    BOOST_REQUIRE(eventually([&] { return fx.held_count.load() == 2; }));
    // Both entries are pending: a new cached request is refused, not run.
    auto refused = response(c.call_raw("{\"id\":3,\"op\":\"make\"}\n", CALL_TIMEOUT));
    BOOST_TEST(!refused.ok);
    BOOST_TEST(refused.error.code == "busy");
    BOOST_TEST(refused.id.as_integer().value() == 3);
    BOOST_TEST(fx.make_runs.load() == 0);
    // A retry of a pending one waits for it (the ping shows it was read);
    // ops without the cache still run.
    BOOST_REQUIRE(c.send_raw(hold1, CALL_TIMEOUT).ok());
    BOOST_TEST(response(c.call_raw("{\"id\":4,\"op\":\"count\"}\n", CALL_TIMEOUT)).ok);
    BOOST_TEST(fx.held_count.load() == 2);
    BOOST_REQUIRE(fx.release_held());
    std::vector<long long> ids;
    for (int i = 0; i < 3; ++i) {
        auto r = response(c.read_line(CALL_TIMEOUT));
        BOOST_TEST(r.ok);
        ids.push_back(r.id.as_integer().value_or(-1));
    }
    BOOST_TEST(ids == (std::vector<long long>{1, 1, 2}), boost::test_tools::per_element());
    // Answered entries make room, the oldest first: 3 runs now, 2 is still
    // cached, 1 was forgotten and runs again.
    auto made = response(c.call_raw("{\"id\":3,\"op\":\"make\"}\n", CALL_TIMEOUT));
    BOOST_TEST(made.ok);
    BOOST_TEST(fx.make_runs.load() == 1);
    BOOST_TEST(response(c.call_raw(hold2, CALL_TIMEOUT)).result["released"].as_bool().value());
    BOOST_REQUIRE(c.send_raw(hold1, CALL_TIMEOUT).ok());
    BOOST_TEST(eventually([&] { return fx.held_count.load() == 3; }));
    fx.stop_loop();
    BOOST_TEST(fx.server->counters().retries == 2u);
    BOOST_TEST(fx.server->counters().errors.at("busy") == 1u);
}

BOOST_AUTO_TEST_CASE(retry_cache_expires) {
    ControlServerOptions options;
    options.retry_ttl = 50ms;
    ServerFixture fx(options);
    auto c = fx.client(fx.path);
    std::string line = "{\"id\":1,\"op\":\"make\"}\n";
    BOOST_TEST(response(c.call_raw(line, CALL_TIMEOUT)).result["runs"].as_integer().value() == 1);
    std::this_thread::sleep_for(120ms);
    BOOST_TEST(response(c.call_raw(line, CALL_TIMEOUT)).result["runs"].as_integer().value() == 2);
}

BOOST_AUTO_TEST_CASE(async_reply_from_a_timer) {
    ServerFixture fx;
    auto c = fx.client(fx.tcp);
    auto r = c.call("later", Json::object().set("ms", 20), CALL_TIMEOUT);
    BOOST_REQUIRE_MESSAGE(r.ok(), message_of(r));
    BOOST_TEST((*r)["late"].as_bool().value());
    // Replies come in the order they are produced, not in request order.
    BOOST_REQUIRE(c.send_raw("{\"id\":\"slow\",\"op\":\"later\",\"ms\":100}\n"
                             "{\"id\":\"fast\",\"op\":\"ping\"}\n",
                             CALL_TIMEOUT)
                      .ok());
    BOOST_TEST(response(c.read_line(CALL_TIMEOUT)).id.as_string().value() == "fast");
    BOOST_TEST(response(c.read_line(CALL_TIMEOUT)).id.as_string().value() == "slow");
}

BOOST_AUTO_TEST_CASE(client_gone_before_async_reply) {
    // The replies are released only once the client is known to be gone.
    ServerFixture fx;
    log::set_level("ctl", log::Level::debug);
    {
        // A TCP reset closes the connection at once, before the reply.
        auto c = fx.client(fx.tcp);
        BOOST_REQUIRE(c.send_raw("{\"id\":1,\"op\":\"hold\"}\n", CALL_TIMEOUT).ok());
        BOOST_REQUIRE(c.call("ping", Json(), CALL_TIMEOUT).ok()); // the request was read
        linger hard{1, 0};
        BOOST_REQUIRE(::setsockopt(c.fd(), SOL_SOCKET, SO_LINGER, &hard, sizeof hard) == 0);
    }
    BOOST_TEST(eventually([&] { return fx.logged("reason=\"read failed"); }));
    BOOST_TEST(fx.release_held()); // finds the connection closed: does nothing
    {
        // A Unix client that closes while its reply is owed.
        auto c = fx.client(fx.path);
        BOOST_REQUIRE(c.send_raw("{\"id\":1,\"op\":\"hold\"}\n", CALL_TIMEOUT).ok());
        BOOST_REQUIRE(c.call("ping", Json(), CALL_TIMEOUT).ok());
    }
    BOOST_TEST(fx.held_count.load() == 2);
    BOOST_TEST(fx.release_held()); // the reply finds the peer gone
    BOOST_TEST(eventually([&] { return fx.logged("reason=\"write failed"); }));
    fx.stop_loop();
    log::set_level("ctl", log::Level::info);
    BOOST_TEST(fx.server->clients() == 0u);
}

BOOST_AUTO_TEST_CASE(reply_after_the_server_is_gone) {
    ServerFixture fx;
    auto c = fx.client(fx.path);
    BOOST_REQUIRE(c.send_raw("{\"id\":1,\"op\":\"hold\"}\n", CALL_TIMEOUT).ok());
    BOOST_REQUIRE(eventually([&] { return fx.held_count.load() == 1; }));
    fx.stop_loop();
    fx.server.reset();
    fx.held.front()(Json::object().set("too", "late")); // does nothing
    fx.held.front()(Json::object());                    // nor does a second call
    auto end = c.read_line(CALL_TIMEOUT);
    BOOST_REQUIRE(!end.ok());
    BOOST_TEST(end.error().message.find("connection closed") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(half_closed_client_gets_what_it_is_owed) {
    ServerFixture fx;
    auto c = fx.client(fx.path);
    BOOST_REQUIRE(c.send_raw("{\"id\":1,\"op\":\"later\",\"ms\":30}\n", CALL_TIMEOUT).ok());
    BOOST_REQUIRE(::shutdown(c.fd(), SHUT_WR) == 0);
    auto r = response(c.read_line(CALL_TIMEOUT));
    BOOST_TEST(r.ok);
    auto end = c.read_line(CALL_TIMEOUT);
    BOOST_REQUIRE(!end.ok());
    BOOST_TEST(end.error().message.find("connection closed") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(slow_reader_is_dropped) {
    ControlServerOptions options;
    options.max_output = 64 * 1024;
    ServerFixture fx(options);
    auto c = fx.client(fx.path);
    std::string many;
    for (int i = 0; i < 200; ++i)
        many += "{\"id\":" + std::to_string(i) + ",\"op\":\"big\",\"bytes\":32768}\n";
    BOOST_REQUIRE(c.send_raw(many, CALL_TIMEOUT).ok());
    BOOST_TEST(eventually([&] { return fx.logged("client not reading"); }));
    // What was written before the drop can still be read, then the end.
    int lines = 0;
    Result<std::string> got = std::string();
    for (int i = 0; i < 200 && got.ok(); ++i) {
        got = c.read_line(CALL_TIMEOUT);
        lines += got.ok();
    }
    BOOST_TEST(lines < 200);
    BOOST_REQUIRE(!got.ok());
    BOOST_TEST(got.error().code == "io");
    fx.stop_loop();
    BOOST_TEST(fx.server->counters().slow_readers == 1u);
    BOOST_TEST(fx.server->clients() == 0u);
}

BOOST_AUTO_TEST_CASE(connections_over_the_limit_are_told_busy) {
    ControlServerOptions options;
    options.max_clients = 2;
    ServerFixture fx(options);
    auto a = fx.client(fx.path);
    auto b = fx.client(fx.tcp);
    BOOST_REQUIRE(a.call("ping", Json(), CALL_TIMEOUT).ok());
    BOOST_REQUIRE(b.call("ping", Json(), CALL_TIMEOUT).ok());
    auto third = fx.client(fx.path);
    auto refused = response(third.read_line(CALL_TIMEOUT));
    BOOST_TEST(!refused.ok);
    BOOST_TEST(refused.error.code == "busy");
    BOOST_TEST(!third.read_line(CALL_TIMEOUT).ok());
    // The others carry on.
    BOOST_TEST(a.call("ping", Json(), CALL_TIMEOUT).ok());
    fx.stop_loop();
    BOOST_TEST(fx.server->counters().rejected == 1u);
}

BOOST_AUTO_TEST_CASE(close_removes_the_socket_file) {
    ServerFixture fx;
    auto c = fx.client(fx.path);
    BOOST_REQUIRE(c.call("ping", Json(), CALL_TIMEOUT).ok());
    fx.stop_loop();
    BOOST_TEST(::access(fx.path.c_str(), F_OK) == 0);
    fx.server->close();
    BOOST_TEST(::access(fx.path.c_str(), F_OK) != 0);
    BOOST_TEST(!fx.server->tcp_address().has_value());
    auto refused = ControlClient::connect(fx.path, CALL_TIMEOUT);
    BOOST_TEST(!refused.ok());
    // A server started on the same path after a crash takes it over.
    ev::Loop loop;
    ControlServer second(loop);
    BOOST_TEST(second.listen_unix(fx.path).ok());
    ControlServer third(loop);
    auto taken = third.listen_unix(fx.path);
    BOOST_REQUIRE(!taken.ok());
    BOOST_TEST(taken.error().code == "in_use");
}

BOOST_AUTO_TEST_SUITE_END()
