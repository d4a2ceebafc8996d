// SIP over TCP through the farm, on loopback: three members with a "tcp:"
// listener each and a UDP processor that is a socket of this test. One
// client connection to f1 carries calls whose Call-IDs belong to f2 and f3:
// their requests are relayed with the connection's identity, and every
// response, and the processor's own in-dialog requests, come back on that
// one connection. Garbage on a connection closes that connection only;
// keep-alive pings get their pong; a connection that is gone gets its
// requests answered 477 and its responses dropped and counted.
#include "cluster_fixture.hpp"
#include "harness.hpp"
#include "sip_messages.hpp"
#include "udp_peer.hpp"

#include "control/control_client.hpp"
#include "net/socket.hpp"
#include "sip/farm_tags.hpp"
#include "sip/proxy.hpp"
#include "sip/route.hpp"
#include "sip/scanner.hpp"
#include "sip/stream.hpp"

#include <boost/test/unit_test.hpp>

#include <sys/resource.h>

#include <cstring>

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>

#include <memory>
#include <thread>

using namespace rtfarm;
using namespace rtfarm::test;

namespace {

// A SIP client on one TCP connection, reading with a StreamFramer.
class TcpClient {
public:
    explicit TcpClient(const std::string& to) {
        auto addr = SockAddr::parse(to).value();
        auto fd = net::tcp_connect(addr);
        BOOST_REQUIRE_MESSAGE(fd.ok(), (fd.ok() ? "" : fd.error().message));
        m_fd = std::move(fd.value());
        pollfd p{m_fd.get(), POLLOUT, 0};
        BOOST_REQUIRE(::poll(&p, 1, static_cast<int>(scaled(3000ms).count())) == 1);
        BOOST_REQUIRE(net::connect_error(m_fd.get(), to).ok());
        m_local = net::local_address(m_fd.get()).value();
    }
    // From a source address of our choice (a loopback one): another client host.
    TcpClient(const std::string& to, const std::string& from) {
        auto addr = SockAddr::parse(to).value();
        auto src = SockAddr::parse(from + ":0").value();
        m_fd = UniqueFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        BOOST_REQUIRE(m_fd.get() >= 0);
        BOOST_REQUIRE(::bind(m_fd.get(), src.sa(), src.len()) == 0);
        BOOST_REQUIRE(::connect(m_fd.get(), addr.sa(), addr.len()) == 0);
        m_local = net::local_address(m_fd.get()).value();
    }
    // The server's end of a connection it accepted.
    explicit TcpClient(UniqueFd fd)
        : m_fd(std::move(fd))
        , m_local(net::local_address(m_fd.get()).value()) {}
    const SockAddr& local() const { return m_local; }
    void send(std::string_view bytes) {
        BOOST_REQUIRE(::send(m_fd.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
                      static_cast<ssize_t>(bytes.size()));
    }
    // The next item (a message, or a pong as "\r\n") within `timeout`.
    std::optional<std::string> recv(std::chrono::milliseconds timeout = 3000ms) {
        auto deadline = std::chrono::steady_clock::now() + scaled(timeout);
        while (true) {
            if (m_pong_pending > 0) {
                --m_pong_pending;
                return std::string("\r\n");
            }
            auto item = m_framer.next();
            if (!item || *item)
                return item ? std::optional<std::string>(std::string((*item)->bytes))
                            : std::nullopt;
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0)
                return std::nullopt;
            pollfd p{m_fd.get(), POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(left.count())) != 1)
                return std::nullopt;
            char buf[8192];
            ssize_t n = ::recv(m_fd.get(), buf, sizeof buf, MSG_DONTWAIT);
            if (n <= 0) {
                m_eof = n == 0;
                return std::nullopt;
            }
            std::string_view got(buf, static_cast<size_t>(n));
            // A lone CRLF pong between messages: the framer skips it, we count it.
            if (got == "\r\n" && m_framer.pending() == 0) {
                ++m_pong_pending;
                continue;
            }
            m_framer.append(got);
        }
    }
    // The peer closed the connection (read returns 0) within `timeout`.
    bool closed_by_peer(std::chrono::milliseconds timeout = 3000ms) {
        while (!m_eof && recv(timeout))
            ;
        return m_eof;
    }
    void close() { m_fd.reset(); }
    // Closes with a RST (SO_LINGER 0), as a server that refuses what it accepted.
    void reset() {
        linger l{1, 0};
        (void)::setsockopt(m_fd.get(), SOL_SOCKET, SO_LINGER, &l, sizeof l);
        m_fd.reset();
    }

private:
    UniqueFd m_fd;
    SockAddr m_local;
    sip::StreamFramer m_framer;
    int m_pong_pending = 0;
    bool m_eof = false;
};

// A SIP server on TCP: the target of the farm's outgoing connections.
class TcpTarget {
public:
    TcpTarget()
        : m_addr(SockAddr::parse("127.0.0.1:" + std::to_string(free_port())).value()) {
        auto fd = net::tcp_listen(m_addr);
        BOOST_REQUIRE_MESSAGE(fd.ok(), (fd.ok() ? "" : fd.error().message));
        m_fd = std::move(fd.value());
    }
    const SockAddr& address() const { return m_addr; }
    // The next connection made to us within `timeout`, or null.
    std::unique_ptr<TcpClient> accept(std::chrono::milliseconds timeout = 3000ms) {
        pollfd p{m_fd.get(), POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(scaled(timeout).count())) != 1)
            return nullptr;
        int fd = ::accept4(m_fd.get(), nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0)
            return nullptr;
        return std::make_unique<TcpClient>(UniqueFd(fd));
    }
    void close() { m_fd.reset(); }

private:
    SockAddr m_addr;
    UniqueFd m_fd;
};

struct TcpFarm {
    LoopbackLab lab{3};
    std::vector<std::unique_ptr<UdpPeer>> processors;

    TcpFarm() {
        for (auto& m : lab.cluster.members) {
            m.processor_port = free_port();
            m.tcp_ports.push_back(free_port());
        }
        lab.write();
        for (auto& m : lab.cluster.members)
            processors.push_back(
                std::make_unique<UdpPeer>(m.address + ":" + std::to_string(m.processor_port)));
        for (auto& m : lab.cluster.members)
            lab.start("sipfarmd", m.id);
        for (auto& m : lab.cluster.members)
            BOOST_REQUIRE_MESSAGE(lab.all_up(m.id), m.id << " never saw the members up");
    }
    std::string tcp(size_t i) const {
        const auto& m = lab.cluster.members[i];
        return m.address + ":" + std::to_string(m.tcp_ports[0]);
    }
    json::Json stats(size_t i) { return lab.stats(i)["service"]; }
    // The state member `i` sees member `of` in ("up", "draining", "down").
    std::string state(size_t i, const std::string& of) {
        auto c = control::ControlClient::connect(
            lab.cluster.control(lab.dir, lab.cluster.members[i].id), scaled(2000ms));
        BOOST_REQUIRE(c.ok());
        auto r = c->call("members", json::Json::object(), scaled(2000ms));
        BOOST_REQUIRE(r.ok());
        auto members = r.value()["members"];
        for (size_t k = 0; k < members.size(); ++k)
            if (members.at(k)["id"].as_string() == of)
                return std::string(members.at(k)["state"].as_string().value_or(""));
        return "";
    }
    // A Call-ID owned by member `id`, numbered from `n` up.
    std::string call_id_of(const std::string& id, int& n) const {
        while (true) {
            std::string c = "tcp-" + std::to_string(n++) + "@client";
            if (lab.owner(c) == id)
                return c;
        }
    }
};

std::string over_tcp(std::string msg) {
    msg.replace(msg.find("SIP/2.0/UDP"), 11, "SIP/2.0/TCP");
    return msg;
}

// The connection identity our Via and Record-Route carry on the processor's side.
std::optional<sip::ConnRef> via_identity(const std::string& bytes) {
    auto m = scan_ok(bytes);
    return sip::via_conn(m.via[0].value.in(bytes));
}

// INVITE / 180 / 200 / ACK / BYE from the processor / 200 over the client's
// connection / BYE from the client / 200, for a call owned by `o`.
void tcp_call(TcpFarm& f, TcpClient& c, const std::string& call_id, uint64_t& conn_id) {
    size_t o = f.lab.index(f.lab.owner(call_id));
    std::string client = c.local().str();
    c.send(over_tcp(request("INVITE", call_id, 1, client, "z9hG4bK" + call_id)));
    auto inv = f.processors[o]->recv();
    BOOST_REQUIRE_MESSAGE(inv, call_id << ": INVITE did not reach f" << o + 1 << "'s processor");
    auto im = scan_ok(inv->bytes);
    BOOST_TEST(sip::branch_member(im.via[0].branch.in(inv->bytes)).value_or("") ==
               f.lab.cluster.members[o].id);
    auto ident = via_identity(inv->bytes);
    BOOST_REQUIRE_MESSAGE(ident, call_id << ": no connection identity in " << inv->bytes);
    BOOST_TEST(ident->holder == "f1");
    if (conn_id == 0)
        conn_id = ident->id;
    BOOST_TEST(ident->id == conn_id); // one connection, one identity
    std::string rr(im.record_route.value.in(inv->bytes));
    BOOST_TEST((sip::uri_conn(rr) == ident));
    BOOST_TEST(sip::uri_farm_member(rr).value_or("") == f.lab.cluster.members[o].id);
    BOOST_TEST(im.via[1].transport.in(inv->bytes) == "TCP");

    answer(*f.processors[o], *inv, 180, "uas-" + call_id);
    auto ringing = c.recv();
    BOOST_REQUIRE_MESSAGE(ringing, call_id << ": no 180 on the connection");
    BOOST_TEST(scan_ok(*ringing).status == 180);
    answer(*f.processors[o], *inv, 200, "uas-" + call_id);
    auto ok = c.recv();
    BOOST_REQUIRE_MESSAGE(ok, call_id << ": no 200 on the connection");
    auto om = scan_ok(*ok);
    BOOST_TEST(om.status == 200);
    BOOST_TEST(om.via_count == 1u);
    // Our Record-Route tells the client to come back by TCP; the processor's
    // copy names no transport (it speaks UDP to us).
    BOOST_TEST(sip::uri_param(om.record_route.value.in(*ok), "transport").value_or("") == "tcp");
    BOOST_TEST(!sip::uri_param(rr, "transport"));
    std::string route = "Route: " + std::string(om.record_route.value.in(*ok)) + "\r\n";

    c.send(over_tcp(
        request("ACK", call_id, 1, client, "z9hG4bKack" + call_id, route, "uas-" + call_id)));
    auto ack = f.processors[o]->recv();
    BOOST_REQUIRE_MESSAGE(ack, call_id << ": ACK did not reach its owner");
    BOOST_TEST(!scan_ok(ack->bytes).route.line.present());

    // The callee hangs up: its BYE follows the route set, over the connection.
    std::string proc = f.processors[o]->address().str();
    std::string bye = "BYE sip:alice@" + client +
                      ";transport=tcp SIP/2.0\r\n"
                      "Via: SIP/2.0/UDP " +
                      proc + ";branch=z9hG4bKpbye" + call_id + "\r\n" + "Route: " + rr +
                      "\r\nMax-Forwards: 70\r\n"
                      "From: <sip:bob@example.com>;tag=uas-" +
                      call_id +
                      "\r\n"
                      "To: <sip:alice@example.com>;tag=a1\r\nCall-ID: " +
                      call_id + "\r\nCSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n";
    f.processors[o]->send(f.lab.sip_addr(o), bye);
    auto cbye = c.recv();
    BOOST_REQUIRE_MESSAGE(cbye, call_id << ": the callee's BYE did not come over the connection");
    auto bm = scan_ok(*cbye);
    BOOST_TEST((bm.method_id == sip::Method::bye));
    BOOST_TEST(bm.via[0].transport.in(*cbye) == "TCP");
    BOOST_TEST(!bm.route.line.present());
    // The client answers on its connection; the 200 finds the processor.
    std::string answer200 = "SIP/2.0 200 OK\r\n";
    answer200 += std::string(bm.via[0].line.in(*cbye));
    if (bm.via[1].line.off != bm.via[0].line.off)
        answer200 += std::string(bm.via[1].line.in(*cbye));
    answer200 += "From: " + std::string(bm.from.in(*cbye)) +
                 "\r\nTo: " + std::string(bm.to.in(*cbye)) + "\r\nCall-ID: " + call_id +
                 "\r\nCSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n";
    c.send(answer200);
    auto back = f.processors[o]->recv();
    BOOST_REQUIRE_MESSAGE(back, call_id << ": the client's 200 for BYE did not reach the callee");
    BOOST_TEST(scan_ok(back->bytes).status == 200);
}

} // namespace

BOOST_AUTO_TEST_SUITE(farm_tcp)

BOOST_AUTO_TEST_CASE(one_connection_carries_calls_of_every_member) {
    TcpFarm f;
    TcpClient c(f.tcp(0));
    int n = 0;
    uint64_t conn_id = 0;
    for (int round = 0; round < 3; ++round)
        for (const char* id : {"f2", "f3", "f1"})
            tcp_call(f, c, f.call_id_of(id, n), conn_id);
    // Nothing reached a processor that does not own it, nothing is left over.
    for (auto& p : f.processors)
        BOOST_TEST(!p->recv(100ms).has_value());
    BOOST_TEST(!c.recv(100ms).has_value());
    auto s1 = f.stats(0);
    BOOST_TEST(s1["streams"]["connections"].as_integer().value_or(-1) == 1);
    BOOST_TEST(s1["streams"]["accepted"].as_integer().value_or(-1) == 1);
    // f1 relayed INVITE, ACK and the client's 200 for BYE of the 6 calls
    // owned by f2 and f3, all with the connection (more when the members'
    // start-up hand-off asked another member first); those members sent
    // 180, 200 and BYE of each back to f1, which wrote them, and its own
    // calls', on the connection.
    long long tcp_relays = s1["relayed_by_transport"]["tcp"].as_integer().value_or(0);
    BOOST_TEST(tcp_relays >= 18);
    BOOST_TEST(tcp_relays == s1["relayed"].as_integer().value_or(-1), s1.dump());
    long long to_holder = 0;
    for (size_t i = 1; i < 3; ++i)
        to_holder += f.stats(i)["to_holder"].as_integer().value_or(0);
    BOOST_TEST(to_holder == 18);
    BOOST_TEST(s1["to_connection"].as_integer().value_or(0) == 27);
    BOOST_TEST(s1["to_holder"].as_integer().value_or(-1) == 0);
    for (auto& p : f.lab.processes)
        BOOST_TEST(unexpected_errors(p->log()).empty(), p->log());
}

// A connection's identity is a capability: a response with our Via naming
// it is written on it, from anywhere. So it cannot be guessed: ids are
// random, a second connection's is not the first's plus one, and a forged
// response naming the ids next to a real one reaches no connection.
BOOST_AUTO_TEST_CASE(a_connection_identity_cannot_be_guessed) {
    TcpFarm f;
    TcpClient c(f.tcp(0));
    TcpClient other(f.tcp(0));
    int n = 0;
    uint64_t id = 0, other_id = 0;
    tcp_call(f, c, f.call_id_of("f1", n), id);
    tcp_call(f, other, f.call_id_of("f1", n), other_id);
    BOOST_TEST(id != other_id);
    BOOST_TEST(other_id != id + 1);
    BOOST_TEST(id > 1000u);

    // A message the processor got over `c` carries our Via naming it.
    std::string cid = f.call_id_of("f1", n);
    c.send(over_tcp(request("MESSAGE", cid, 1, c.local().str(), "z9hG4bKcap" + cid)));
    auto got = f.processors[0]->recv();
    BOOST_REQUIRE(got);
    auto gm = scan_ok(got->bytes);
    std::string ours(gm.via[0].line.in(got->bytes));
    std::string theirs(gm.via[1].line.in(got->bytes));
    std::string token = "f1." + std::to_string(id);
    BOOST_REQUIRE(ours.find(token) != std::string::npos);
    auto forged = [&](uint64_t guess) {
        std::string via = ours;
        via.replace(via.find(token), token.size(), "f1." + std::to_string(guess));
        return "SIP/2.0 200 OK\r\n" + via + theirs +
               "From: <sip:alice@example.com>;tag=a1\r\nTo: <sip:bob@example.com>;tag=x\r\n"
               "Call-ID: " +
               cid + "\r\nCSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n";
    };
    UdpPeer stranger{"127.0.0.9:0"};
    // The real identity, as a control: written on the connection.
    stranger.send(f.lab.sip_addr(0), forged(id));
    auto real = c.recv();
    BOOST_REQUIRE_MESSAGE(real, "a response naming the real identity was not written");
    BOOST_TEST(scan_ok(*real).status == 200);
    // Guesses: nothing on either connection, each counted as gone.
    long long gone = f.stats(0)["conn_gone"].as_integer().value_or(-1);
    for (uint64_t guess : {id + 1, id - 1, other_id + 1, uint64_t{1}, uint64_t{2}})
        stranger.send(f.lab.sip_addr(0), forged(guess));
    BOOST_TEST(!c.recv(300ms).has_value());
    BOOST_TEST(!other.recv(100ms).has_value());
    BOOST_TEST(f.stats(0)["conn_gone"].as_integer().value_or(-1) == gone + 5);
}

BOOST_AUTO_TEST_CASE(garbage_closes_only_its_connection_and_pings_get_pongs) {
    TcpFarm f;
    TcpClient good(f.tcp(0));
    TcpClient bad(f.tcp(0));
    good.send("\r\n\r\n");
    auto pong = good.recv();
    BOOST_REQUIRE(pong);
    BOOST_TEST(*pong == "\r\n");
    // No Content-Length on a stream: the framing is lost, the connection closed.
    bad.send("\x01\x02garbage\r\n\r\n");
    BOOST_TEST(bad.closed_by_peer());
    // A header block over the limit, without its end: closed too.
    TcpClient big(f.tcp(0));
    big.send("INVITE sip:bob@example.com SIP/2.0\r\nX: " + std::string(20000, 'x'));
    BOOST_TEST(big.closed_by_peer());
    // The other connection still carries calls.
    int n = 0;
    uint64_t conn_id = 0;
    tcp_call(f, good, f.call_id_of("f2", n), conn_id);
    auto s = f.stats(0)["streams"];
    BOOST_TEST(s["framing_errors"].as_integer().value_or(0) == 2);
    BOOST_TEST(s["closed_by"]["framing"].as_integer().value_or(0) == 2);
    BOOST_TEST(s["pings"].as_integer().value_or(0) == 1);
    BOOST_TEST(s["connections"].as_integer().value_or(-1) == 1);
}

// Issue 17: one host could hold every connection slot, and a connection
// that never sent a message held its slot for the idle limit (10 minutes).
// Now one address holds at most max_per_address (64) accepted connections,
// and one that sends no message within 10 s is closed (no_first_message).
BOOST_AUTO_TEST_CASE(one_address_holds_its_share_of_connections_and_silent_ones_go) {
    TcpFarm f;
    std::vector<std::unique_ptr<TcpClient>> held;
    for (int i = 0; i < 64; ++i)
        held.push_back(std::make_unique<TcpClient>(f.tcp(0), "127.0.0.7"));
    held.back()->send("\r\n\r\n");
    auto pong = held.back()->recv();
    BOOST_TEST((pong && *pong == "\r\n"), "the 64th connection is not served");
    TcpClient over(f.tcp(0), "127.0.0.7");
    BOOST_TEST(over.closed_by_peer(), "a 65th connection from one address was kept");
    // Another address is not held back.
    TcpClient other(f.tcp(0), "127.0.0.8");
    other.send("\r\n\r\n");
    auto other_pong = other.recv();
    BOOST_TEST((other_pong && *other_pong == "\r\n"));
    auto s = f.stats(0)["streams"];
    BOOST_TEST(s["refused_per_address"].as_integer().value_or(-1) == 1);
    BOOST_TEST(s["addresses"].as_integer().value_or(-1) == 2);
    BOOST_TEST(s["max_per_address"].as_integer().value_or(-1) == 64);
    // Not one message on any of them (a ping is not one): closed after 10 s.
    BOOST_TEST(held.front()->closed_by_peer(13000ms));
    BOOST_TEST(other.closed_by_peer(3000ms));
    s = f.stats(0)["streams"];
    BOOST_TEST(s["closed_by"]["no_first_message"].as_integer().value_or(0) == 65);
    BOOST_TEST(s["addresses"].as_integer().value_or(-1) == 0);
    // A client that talks keeps its connection.
    TcpClient talker(f.tcp(0));
    int n = 0;
    uint64_t conn_id = 0;
    tcp_call(f, talker, f.call_id_of("f1", n), conn_id);
}

// Out of descriptors (EMFILE), a listener pauses instead of waking the
// loop again at once for the connection it cannot take; once descriptors
// are free again it accepts. (The limit is lowered under the running
// daemon with prlimit(2), below what its connection caps were fitted to.)
BOOST_AUTO_TEST_CASE(out_of_descriptors_the_listener_pauses_and_recovers) {
    TcpFarm f;
    const pid_t pid = f.lab.processes[0]->pid();
    rlimit before{};
    BOOST_REQUIRE(::prlimit(pid, RLIMIT_NOFILE, nullptr, &before) == 0);
    rlimit low{48, before.rlim_max};
    BOOST_REQUIRE_MESSAGE(::prlimit(pid, RLIMIT_NOFILE, &low, nullptr) == 0, std::strerror(errno));
    std::vector<std::unique_ptr<TcpClient>> clients;
    for (int i = 0; i < 40; ++i)
        clients.push_back(
            std::make_unique<TcpClient>(f.tcp(0), "127.0.0." + std::to_string(20 + i % 8)));
    std::this_thread::sleep_for(scaled(500ms));
    clients.clear(); // the ones accepted close; the rest wait in the backlog
    BOOST_REQUIRE(::prlimit(pid, RLIMIT_NOFILE, &before, nullptr) == 0);
    // It accepts again: a client gets its pong.
    TcpClient after(f.tcp(0));
    after.send("\r\n\r\n");
    auto pong = after.recv(5000ms);
    BOOST_TEST((pong && *pong == "\r\n"), "no pong after the descriptors came back");
    auto s = f.stats(0)["streams"];
    BOOST_TEST(s["accept_paused"].as_integer().value_or(0) > 0, s.dump());
    BOOST_TEST(f.lab.processes[0]->running());
}

BOOST_AUTO_TEST_CASE(a_connection_that_is_gone_drops_responses_and_answers_requests_477) {
    TcpFarm f;
    int n = 0;
    std::string call_id = f.call_id_of("f2", n);
    std::optional<Received> inv;
    std::string rr;
    {
        TcpClient c(f.tcp(0));
        c.send(over_tcp(request("INVITE", call_id, 1, c.local().str(), "z9hG4bK" + call_id)));
        inv = f.processors[1]->recv();
        BOOST_REQUIRE(inv);
        rr = std::string(scan_ok(inv->bytes).record_route.value.in(inv->bytes));
        c.close();
    }
    // f1 sees the close; then the processor answers and sends a BYE.
    auto deadline = std::chrono::steady_clock::now() + scaled(3000ms);
    while (f.stats(0)["streams"]["connections"].as_integer().value_or(-1) != 0 &&
           std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(20ms);
    answer(*f.processors[1], *inv, 200, "uas-" + call_id);
    std::string proc = f.processors[1]->address().str();
    std::string bye = "BYE sip:alice@198.51.100.7:5060;transport=tcp SIP/2.0\r\n"
                      "Via: SIP/2.0/UDP " +
                      proc + ";branch=z9hG4bKgone" + call_id + "\r\n" + "Route: " + rr +
                      "\r\nMax-Forwards: 70\r\n"
                      "From: <sip:bob@example.com>;tag=uas-" +
                      call_id +
                      "\r\n"
                      "To: <sip:alice@example.com>;tag=a1\r\nCall-ID: " +
                      call_id + "\r\nCSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n";
    f.processors[1]->send(f.lab.sip_addr(1), bye);
    auto flow_failed = f.processors[1]->recv();
    BOOST_REQUIRE_MESSAGE(flow_failed, "no answer to a request for a connection that is gone");
    auto m = scan_ok(flow_failed->bytes);
    BOOST_TEST(m.status == 477);
    BOOST_TEST(m.to_tag.in(flow_failed->bytes) == "a1"); // in a dialog: its own tag kept
    BOOST_TEST(m.cseq_method.in(flow_failed->bytes) == "BYE");
    BOOST_TEST(m.via_count == 1u); // ours popped: the processor's own Via on top
    auto s1 = f.stats(0);
    BOOST_TEST(s1["conn_gone"].as_integer().value_or(0) == 2); // the 200 and the BYE
    BOOST_TEST(s1["conn_gone_replies"].as_integer().value_or(0) == 1);
    BOOST_TEST(s1["streams"]["closed_by"]["peer_closed"].as_integer().value_or(0) == 1);
}

// The holder itself died (SIGKILL: its connections went with it). Once the
// owner sees it down, what the owner's processor sends toward its connection
// is gone as well: responses dropped and counted, requests answered 477 at
// once, nothing sent to the dead member and counted as sent (to_holder).
BOOST_AUTO_TEST_CASE(a_holder_that_is_down_is_a_connection_gone) {
    TcpFarm f;
    int n = 0;
    std::string call_id = f.call_id_of("f2", n);
    TcpClient c(f.tcp(0));
    c.send(over_tcp(request("INVITE", call_id, 1, c.local().str(), "z9hG4bK" + call_id)));
    auto inv = f.processors[1]->recv();
    BOOST_REQUIRE(inv);
    std::string rr(scan_ok(inv->bytes).record_route.value.in(inv->bytes));
    BOOST_TEST((sip::uri_conn(rr).value_or(sip::ConnRef{}).holder == "f1"));

    auto& f1 = *f.lab.processes[0];
    f1.signal(SIGKILL);
    BOOST_REQUIRE(f1.wait_exit().has_value());
    auto deadline = std::chrono::steady_clock::now() + scaled(5000ms);
    while (f.state(1, "f1") != "down" && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(20ms);
    BOOST_REQUIRE(f.state(1, "f1") == "down");
    auto before = f.stats(1);

    answer(*f.processors[1], *inv, 200, "uas-" + call_id);
    std::string proc = f.processors[1]->address().str();
    std::string bye = "BYE sip:alice@198.51.100.7:5060;transport=tcp SIP/2.0\r\n"
                      "Via: SIP/2.0/UDP " +
                      proc + ";branch=z9hG4bKdead" + call_id + "\r\n" + "Route: " + rr +
                      "\r\nMax-Forwards: 70\r\n"
                      "From: <sip:bob@example.com>;tag=uas-" +
                      call_id +
                      "\r\n"
                      "To: <sip:alice@example.com>;tag=a1\r\nCall-ID: " +
                      call_id + "\r\nCSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n";
    f.processors[1]->send(f.lab.sip_addr(1), bye);
    auto flow_failed = f.processors[1]->recv();
    BOOST_REQUIRE_MESSAGE(flow_failed,
                          "no answer to a request for a connection whose holder is down");
    auto m = scan_ok(flow_failed->bytes);
    BOOST_TEST(m.status == 477);
    BOOST_TEST(m.cseq_method.in(flow_failed->bytes) == "BYE");
    auto after = f.stats(1);
    auto num = [](json::Json& s, const char* k) {
        return s[k].as_integer().value_or(-1);
    };
    // Nothing sent to the dead holder; the 200 and the BYE counted as gone.
    BOOST_TEST(num(after, "to_holder") == num(before, "to_holder"));
    BOOST_TEST(num(after, "conn_gone") - num(before, "conn_gone") == 2);
    BOOST_TEST(num(after, "conn_gone_replies") - num(before, "conn_gone_replies") == 1);
}

// The processor's requests to a target whose URI says transport=tcp go on a
// connection the member that sends them opens (RFC 3261 18.1.1), reused by
// the dialog's later requests while it is open; the target's responses and
// requests on it come back to the processor; a target that refuses gets
// the processor's request answered 477.
namespace {
// The To tag of a response the farm made.
std::string failed_tag(const Received& r) {
    return std::string(scan_ok(r.bytes).to_tag.in(r.bytes));
}
} // namespace

BOOST_AUTO_TEST_CASE(requests_to_a_tcp_target_go_on_a_connection_the_member_opens) {
    TcpFarm f;
    TcpTarget target;
    UdpPeer& proc = *f.processors[0];
    std::string uri = "sip:carol@" + target.address().str() + ";transport=tcp";
    std::string call_id = "out-tcp-1@proc";
    auto from_proc = [&](const std::string& method, int cseq, const std::string& extra,
                         const std::string& to_tag) {
        return method + " " + uri + " SIP/2.0\r\nVia: SIP/2.0/UDP " + proc.address().str() +
               ";branch=z9hG4bKp" + method + std::to_string(cseq) + "\r\n" + extra +
               "Max-Forwards: 70\r\nFrom: <sip:bob@example.com>;tag=p1\r\nTo: "
               "<sip:carol@example.com>" +
               (to_tag.empty() ? "" : ";tag=" + to_tag) + "\r\nCall-ID: " + call_id +
               "\r\nCSeq: " + std::to_string(cseq) + " " + method + "\r\nContent-Length: 0\r\n\r\n";
    };
    proc.send(f.lab.sip_addr(0), from_proc("INVITE", 1, "", ""));
    auto conn = target.accept();
    BOOST_REQUIRE_MESSAGE(conn, "f1 opened no connection to the target");
    auto inv = conn->recv();
    BOOST_REQUIRE_MESSAGE(inv, "no INVITE on the connection");
    auto im = scan_ok(*inv);
    BOOST_TEST(im.via[0].transport.in(*inv) == "TCP");
    BOOST_TEST(sip::branch_member(im.via[0].branch.in(*inv)).value_or("") == "f1");
    BOOST_TEST(im.via[1].host.in(*inv) == proc.address().host());
    std::string rr(im.record_route.value.in(*inv));
    BOOST_TEST(sip::uri_farm_member(rr).value_or("") == "f1");
    BOOST_TEST(sip::uri_param(rr, "transport").value_or("") == "tcp");

    // Its answers come back over the connection, to the processor.
    conn->send(response_to(*inv, 180, "c1", target.address().str()));
    conn->send(response_to(*inv, 200, "c1", target.address().str()));
    for (int code : {180, 200}) {
        auto r = proc.recv();
        BOOST_REQUIRE_MESSAGE(r, "no " << code << " at the processor");
        auto rm = scan_ok(r->bytes);
        BOOST_TEST(rm.status == code);
        BOOST_TEST(rm.via_count == 1u);
        // The processor's copy of our Record-Route names no transport.
        std::string proc_rr(rm.record_route.value.in(r->bytes));
        BOOST_TEST(sip::uri_farm_member(proc_rr).value_or("") == "f1");
        BOOST_TEST(!sip::uri_param(proc_rr, "transport"), proc_rr);
    }
    // The ACK follows our Record-Route, on the same connection (no second one).
    proc.send(f.lab.sip_addr(0), from_proc("ACK", 1, "Route: " + rr + "\r\n", "c1"));
    auto ack = conn->recv();
    BOOST_REQUIRE_MESSAGE(ack, "the ACK did not come on the connection");
    BOOST_TEST((scan_ok(*ack).method_id == sip::Method::ack));
    BOOST_TEST(!target.accept(200ms));

    // The target hangs up on the connection it was given: the BYE reaches
    // the processor, with the connection's identity, and the 200 comes back on it.
    std::string bye = "BYE sip:bob@" + proc.address().str() + " SIP/2.0\r\nVia: SIP/2.0/TCP " +
                      target.address().str() + ";branch=z9hG4bKtbye\r\nRoute: " + rr +
                      "\r\nMax-Forwards: 70\r\nFrom: <sip:carol@example.com>;tag=c1\r\n"
                      "To: <sip:bob@example.com>;tag=p1\r\nCall-ID: " +
                      call_id + "\r\nCSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n";
    conn->send(bye);
    auto pbye = proc.recv();
    BOOST_REQUIRE_MESSAGE(pbye, "the target's BYE did not reach the processor");
    auto ident = via_identity(pbye->bytes);
    BOOST_REQUIRE(ident);
    BOOST_TEST(ident->holder == "f1");
    answer(proc, *pbye, 200, "p1");
    auto bye_ok = conn->recv();
    BOOST_REQUIRE_MESSAGE(bye_ok, "the 200 for BYE did not come back on the connection");
    BOOST_TEST(scan_ok(*bye_ok).status == 200);

    auto s = f.stats(0);
    BOOST_TEST(s["streams"]["connects"].as_integer().value_or(-1) == 1, s.dump());
    BOOST_TEST(s["streams"]["outgoing"].as_integer().value_or(-1) == 1);
    BOOST_TEST(s["to_target_connection"].as_integer().value_or(-1) == 2);

    // The target closes it: the next request opens a new one.
    conn->close();
    conn.reset();
    std::this_thread::sleep_for(scaled(300ms));
    call_id = "out-tcp-2@proc";
    proc.send(f.lab.sip_addr(0), from_proc("OPTIONS", 1, "", ""));
    auto again = target.accept();
    BOOST_REQUIRE_MESSAGE(again, "no new connection after the target closed the first");
    auto opt = again->recv();
    BOOST_REQUIRE(opt);
    BOOST_TEST((scan_ok(*opt).method_id == sip::Method::options));
    again->close();
    again.reset();

    // Nobody listens any more: the processor's request is answered 477.
    target.close();
    std::this_thread::sleep_for(scaled(300ms));
    call_id = "out-tcp-3@proc";
    proc.send(f.lab.sip_addr(0), from_proc("OPTIONS", 1, "", ""));
    auto failed = proc.recv();
    BOOST_REQUIRE_MESSAGE(failed, "no answer for a request the target refused");
    BOOST_TEST(scan_ok(failed->bytes).status == 477);
    BOOST_TEST(scan_ok(failed->bytes).to_tag.len > 0);
    s = f.stats(0);
    BOOST_TEST(s["streams"]["connects"].as_integer().value_or(-1) == 3);
    BOOST_TEST(s["streams"]["closed_by"]["connect_failed"].as_integer().value_or(0) == 1, s.dump());
    BOOST_TEST(s["streams"]["undelivered"].as_integer().value_or(0) == 1);
    BOOST_TEST(s["streams"]["outgoing"].as_integer().value_or(-1) == 0);
    // Right after, the next request (and the ACK of the 477) does not try
    // again: answered 477 at once, nothing connects until the hold is over.
    proc.send(f.lab.sip_addr(0), from_proc("ACK", 1, "", failed_tag(*failed)));
    call_id = "out-tcp-4@proc";
    proc.send(f.lab.sip_addr(0), from_proc("OPTIONS", 1, "", ""));
    auto held = proc.recv();
    BOOST_REQUIRE_MESSAGE(held, "no answer for a request to a target that failed just now");
    BOOST_TEST(scan_ok(held->bytes).status == 477);
    BOOST_TEST(scan_ok(held->bytes).call_id.in(held->bytes) == call_id);
    s = f.stats(0);
    BOOST_TEST(s["streams"]["connects"].as_integer().value_or(-1) == 3, s.dump());
    BOOST_TEST(s["streams"]["held_back"].as_integer().value_or(-1) == 2, s.dump());
    for (auto& p : f.lab.processes)
        BOOST_TEST(unexpected_errors(p->log()).empty(), p->log());
}

// The same over TCP for a processor whose Via names another address than
// its own (the farm's public one, as Kamailio's `advertise` writes): the
// answers on the connection still reach it.
BOOST_AUTO_TEST_CASE(answers_over_tcp_reach_a_processor_whose_via_names_another_address) {
    TcpFarm f;
    TcpTarget target;
    UdpPeer& proc = *f.processors[0];
    std::string inv =
        processor_request("INVITE", "sip:carol@" + target.address().str() + ";transport=tcp",
                          "127.0.0.254:5060", "z9hG4bKadvtcp", "", "p1", "", "adv-tcp@proc", 1);
    proc.send(f.lab.sip_addr(0), inv);
    auto conn = target.accept();
    BOOST_REQUIRE_MESSAGE(conn, "f1 opened no connection to the target");
    auto got = conn->recv();
    BOOST_REQUIRE_MESSAGE(got, "no INVITE on the connection");
    conn->send(response_to(*got, 180, "c1", target.address().str()));
    auto r = proc.recv();
    BOOST_REQUIRE_MESSAGE(r, "the 180 did not reach the processor");
    BOOST_TEST(scan_ok(r->bytes).status == 180);
    BOOST_TEST(scan_ok(r->bytes).via[0].host.in(r->bytes) == "127.0.0.254");
}

// A target calls the processor over the connection the member opened to it;
// the connection closes (the target, or the idle limit) while the dialog
// lives: the processor's BYE, whose route set names that connection, goes
// on a new connection to the same target (RFC 3261 18.2.2), not 477.
BOOST_AUTO_TEST_CASE(a_closed_outgoing_connection_is_opened_again_for_its_dialogs) {
    TcpFarm f;
    TcpTarget target;
    UdpPeer& proc = *f.processors[0];
    // The processor's OPTIONS makes f1 open a connection to the target.
    std::string opt = "OPTIONS sip:carol@" + target.address().str() +
                      ";transport=tcp SIP/2.0\r\nVia: SIP/2.0/UDP " + proc.address().str() +
                      ";branch=z9hG4bKredial1\r\nMax-Forwards: 70\r\n"
                      "From: <sip:bob@example.com>;tag=p1\r\nTo: <sip:carol@example.com>\r\n"
                      "Call-ID: redial-opt@proc\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    proc.send(f.lab.sip_addr(0), opt);
    auto conn = target.accept();
    BOOST_REQUIRE_MESSAGE(conn, "f1 opened no connection to the target");
    BOOST_REQUIRE(conn->recv());
    // The target calls over it: an INVITE owned by f1, the processor answers.
    int n = 0;
    std::string cid = f.call_id_of("f1", n);
    std::string inv = request("INVITE", cid, 1, target.address().str(), "z9hG4bKrdinv");
    inv.replace(inv.find("SIP/2.0/UDP"), 11, "SIP/2.0/TCP");
    conn->send(inv);
    auto pinv = proc.recv();
    BOOST_REQUIRE_MESSAGE(pinv, "the target's INVITE did not reach the processor");
    auto ident = via_identity(pinv->bytes);
    BOOST_REQUIRE(ident);
    std::string rr(scan_ok(pinv->bytes).record_route.value.in(pinv->bytes));
    BOOST_TEST((sip::uri_conn(rr) == ident), rr);
    answer(proc, *pinv, 200, "uas-rd");
    auto ok = conn->recv();
    BOOST_REQUIRE_MESSAGE(ok, "no 200 on the connection");
    BOOST_TEST(scan_ok(*ok).status == 200);

    // The target closes the connection; the processor hangs up later.
    conn->close();
    conn.reset();
    std::this_thread::sleep_for(scaled(300ms));
    proc.send(f.lab.sip_addr(0),
              processor_request("BYE", "sip:alice@" + target.address().str() + ";transport=tcp",
                                proc.address().str(), "z9hG4bKrdbye", rr, "uas-rd", "a1", cid));
    auto again = target.accept();
    BOOST_REQUIRE_MESSAGE(again, "f1 did not open a new connection for the dialog's BYE");
    auto got = again->recv();
    BOOST_REQUIRE_MESSAGE(got, "no BYE on the new connection");
    BOOST_TEST((scan_ok(*got).method_id == sip::Method::bye));
    // Its answer comes back on the new connection, to the processor.
    again->send(response_to(*got, 200, "", target.address().str()));
    auto bye_ok = proc.recv();
    BOOST_REQUIRE_MESSAGE(bye_ok, "the 200 for BYE did not reach the processor");
    BOOST_TEST(scan_ok(bye_ok->bytes).status == 200);
    auto s = f.stats(0);
    BOOST_TEST(s["redialed"].as_integer().value_or(-1) == 1, s.dump());
    BOOST_TEST(s["conn_gone"].as_integer().value_or(-1) == 0);
    BOOST_TEST(s["streams"]["connects"].as_integer().value_or(-1) == 2);
    for (auto& p : f.lab.processes)
        BOOST_TEST(unexpected_errors(p->log()).empty(), p->log());
}

// A target that accepts, reads and resets without a word is held back like
// one that refused the connection: the next request is answered 477 at once.
BOOST_AUTO_TEST_CASE(a_target_that_resets_before_a_word_is_held_back) {
    TcpFarm f;
    TcpTarget target;
    UdpPeer& proc = *f.processors[0];
    auto options = [&](const std::string& call_id) {
        return processor_request("OPTIONS",
                                 "sip:carol@" + target.address().str() + ";transport=tcp",
                                 proc.address().str(), "z9hG4bK" + call_id, "", "p1", "", call_id);
    };
    proc.send(f.lab.sip_addr(0), options("reset-1@proc"));
    auto conn = target.accept();
    BOOST_REQUIRE_MESSAGE(conn, "f1 opened no connection to the target");
    BOOST_REQUIRE(conn->recv());
    conn->reset();
    conn.reset();
    std::this_thread::sleep_for(scaled(300ms));
    proc.send(f.lab.sip_addr(0), options("reset-2@proc"));
    auto held = proc.recv();
    BOOST_REQUIRE_MESSAGE(held, "no answer for a request to a target that reset just now");
    BOOST_TEST(scan_ok(held->bytes).status == 477);
    BOOST_TEST(!target.accept(200ms));
    auto s = f.stats(0);
    BOOST_TEST(s["streams"]["connects"].as_integer().value_or(-1) == 1, s.dump());
    BOOST_TEST(s["streams"]["held_back"].as_integer().value_or(-1) == 1, s.dump());
}

// A Relay backend's request that its Member cannot send out (a transport
// the farm does not speak, no hops left) is answered to the backend's
// processor, as the Member's own processor's would be: 477 or 483, through
// the backend's sipfarmd, with a To tag; an ACK gets nothing.
BOOST_AUTO_TEST_CASE(a_relay_backends_request_that_cannot_go_out_is_answered) {
    LoopbackLab lab{3};
    auto& b = lab.cluster.members[2];
    b.id = "b1";
    b.role = "backend";
    b.processor_port = free_port();
    lab.write();
    UdpPeer proc(b.address + ":" + std::to_string(b.processor_port));
    for (const auto& m : lab.cluster.members)
        lab.start("sipfarmd", m.id);
    for (const auto& m : lab.cluster.members)
        BOOST_REQUIRE_MESSAGE(lab.all_up(m.id), m.id << " never saw every member up");
    auto from_proc = [&](const std::string& method, const std::string& uri, int max_forwards) {
        return method + " " + uri + " SIP/2.0\r\nVia: SIP/2.0/UDP " + proc.address().str() +
               ";branch=z9hG4bKb1" + method + std::to_string(max_forwards) +
               "\r\nMax-Forwards: " + std::to_string(max_forwards) +
               "\r\nFrom: <sip:bob@example.com>;tag=b1\r\nTo: <sip:carol@example.com>\r\n"
               "Call-ID: relay-fail-" +
               method + std::to_string(max_forwards) + "@b1\r\nCSeq: 1 " + method +
               "\r\nContent-Length: 0\r\n\r\n";
    };
    proc.send(lab.sip_addr(2), from_proc("OPTIONS", "sip:carol@192.0.2.30;transport=sctp", 70));
    auto sctp = proc.recv();
    BOOST_REQUIRE_MESSAGE(sctp, "no answer for the backend's request to an SCTP target");
    auto sm = scan_ok(sctp->bytes);
    BOOST_TEST(sm.status == 477);
    BOOST_TEST(sm.via_count == 1u); // the processor's own Via only
    BOOST_TEST(sm.to_tag.len > 0);
    proc.send(lab.sip_addr(2), from_proc("OPTIONS", "sip:carol@192.0.2.30", 0));
    auto hops = proc.recv();
    BOOST_REQUIRE_MESSAGE(hops, "no answer for the backend's request without hops left");
    BOOST_TEST(scan_ok(hops->bytes).status == 483);
    proc.send(lab.sip_addr(2), from_proc("ACK", "sip:carol@192.0.2.30;transport=sctp", 70));
    BOOST_TEST(!proc.recv(300ms).has_value());
    long long relayed_out = 0;
    for (size_t i = 0; i < 2; ++i)
        relayed_out +=
            lab.stats(i)["service"]["dropped_by"]["unsupported_transport"].as_integer().value_or(0);
    BOOST_TEST(relayed_out == 2); // the OPTIONS and the ACK, on the Members
    for (auto& p : lab.processes)
        BOOST_TEST(unexpected_errors(p->log()).empty(), p->log());
}

// A client registers over its connection: the registrar (the REGISTER
// owner's processor) gets our Path naming the connection; a call for the
// client from another member's processor follows that Path and reaches the
// client on its connection through the holder, and its answer comes back.
BOOST_AUTO_TEST_CASE(a_registration_over_a_connection_makes_the_client_reachable_through_it) {
    TcpFarm f;
    TcpClient c(f.tcp(0));
    int n = 0;
    std::string reg_id = f.call_id_of("f2", n);
    std::string client = c.local().str();
    std::string contact = "Contact: <sip:alice@" + client + ";transport=tcp>\r\n";
    c.send(over_tcp(request("REGISTER", reg_id, 1, client, "z9hG4bKreg" + reg_id, contact)));
    auto reg = f.processors[1]->recv();
    BOOST_REQUIRE_MESSAGE(reg, "the REGISTER did not reach its owner's processor");
    auto rm = scan_ok(reg->bytes);
    std::string path(sip::header_value(reg->bytes, rm, "Path"));
    BOOST_REQUIRE_MESSAGE(!path.empty(), "no Path in " << reg->bytes);
    BOOST_TEST((sip::uri_conn(path) == via_identity(reg->bytes)));
    answer(*f.processors[1], *reg, 200, "r1");
    auto reg_ok = c.recv();
    BOOST_REQUIRE(reg_ok);
    BOOST_TEST(scan_ok(*reg_ok).status == 200);

    // f3's processor calls the client by its binding: Route = the Path.
    UdpPeer& p3 = *f.processors[2];
    std::string call_id = "to-alice-1@p3";
    std::string inv =
        processor_request("INVITE", "sip:alice@" + client + ";transport=tcp", p3.address().str(),
                          "z9hG4bKp3inv", path, "b3", "", call_id);
    p3.send(f.lab.sip_addr(2), inv);
    auto got = c.recv();
    BOOST_REQUIRE_MESSAGE(got, "the INVITE did not come over the client's connection");
    auto gm = scan_ok(*got);
    BOOST_TEST((gm.method_id == sip::Method::invite));
    BOOST_TEST(gm.via[0].transport.in(*got) == "TCP");
    BOOST_TEST(sip::branch_member(gm.via[0].branch.in(*got)).value_or("") == "f3");
    BOOST_TEST(!gm.route.line.present());
    c.send(response_to(*got, 200, "a9", client));
    auto ok = p3.recv();
    BOOST_REQUIRE_MESSAGE(ok, "the client's 200 did not reach f3's processor");
    BOOST_TEST(scan_ok(ok->bytes).status == 200);
    // f3 sent it through the holder; nothing opened a connection of its own.
    BOOST_TEST(f.stats(2)["to_holder"].as_integer().value_or(0) == 1);
    BOOST_TEST(f.stats(2)["streams"]["connects"].as_integer().value_or(-1) == 0);
    BOOST_TEST(f.stats(0)["streams"]["connects"].as_integer().value_or(-1) == 0);
}

BOOST_AUTO_TEST_SUITE_END()
