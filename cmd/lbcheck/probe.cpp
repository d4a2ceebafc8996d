// lbcheck probe: SIP OPTIONS probes to sip:lbcheck@VIP from this client, in
// three phases (all from one source port; each from a port of its own; asking
// named members to answer with X-Farm-Reply-From), at most 40 a second (the
// farm answers 50 a second per source), each sent once: a lost probe is an
// observation, not something to retry. The replies are matched by Call-ID
// and handed with the probes to diag::diagnose_probe().
#include "checks.hpp"

#include "base/crypto.hpp"
#include "base/unique_fd.hpp"
#include "diag/probe.hpp"
#include "net/socket.hpp"
#include "net/udp.hpp"
#include "sip/proxy.hpp"
#include "sip/scanner.hpp"

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>
#include <unordered_map>

namespace rtfarm::lbcheck {

namespace {

using Clock = std::chrono::steady_clock;

constexpr auto PROBE_GAP = std::chrono::milliseconds(25); // 40 probes a second
constexpr unsigned REACH_TRIES = 3;

// This host's address toward `vip`, as routing picks it (no packet is sent).
Result<SockAddr> local_toward(const SockAddr& vip) {
    int fd = ::socket(vip.family(), SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return make_error("io", std::string("socket: ") + std::strerror(errno));
    UniqueFd guard(fd);
    if (::connect(fd, vip.sa(), vip.len()) != 0)
        return make_error("unreachable", "no route to " + vip.str() + ": " + std::strerror(errno));
    auto a = net::local_address(fd);
    if (!a)
        return a.error();
    SockAddr host = *a;
    host.set_port(0);
    return host;
}

class Prober {
public:
    Prober(const ProbeOptions& o, SockAddr local)
        : m_o(o)
        , m_local(local)
        , m_tag(crypto::random_hex(4)) {}

    Status open_socket() {
        SockAddr bind = m_local;
        bind.set_port(0);
        auto fd = net::udp_bind(bind);
        if (!fd)
            return fd.error();
        auto a = net::local_address(fd->get());
        if (!a)
            return a.error();
        m_sockets.push_back({std::move(*fd), a->port()});
        return {};
    }

    // Sends probe number probes().size() from socket `sock`.
    Status send(diag::ProbePhase phase, size_t sock, const std::string& reply_from) {
        const Sock& s = m_sockets[sock];
        size_t n = m_probes.size();
        std::string call_id = "lbc-" + m_tag + "-" + std::to_string(n) + "@" + m_local.host();
        std::string here = m_local.uri_host() + ":" + std::to_string(s.port);
        std::string vip = m_o.vip.uri_host() + ":" + std::to_string(m_o.vip.port());
        std::string msg = "OPTIONS sip:lbcheck@" + vip + " SIP/2.0\r\n" + "Via: SIP/2.0/UDP " +
                          here + ";branch=z9hG4bK-lbc-" + m_tag + "-" + std::to_string(n) +
                          ";rport\r\n" + "Max-Forwards: 70\r\n" + "From: <sip:lbcheck@" +
                          m_local.uri_host() + ">;tag=" + m_tag + "\r\n" + "To: <sip:lbcheck@" +
                          vip + ">\r\n" + "Call-ID: " + call_id + "\r\n" + "CSeq: 1 OPTIONS\r\n" +
                          "Contact: <sip:lbcheck@" + here + ">\r\n";
        if (!reply_from.empty())
            msg += "X-Farm-Reply-From: " + reply_from + "\r\n";
        msg += "User-Agent: lbcheck/" RTFARM_VERSION "\r\nAccept: application/sdp\r\n"
               "Content-Length: 0\r\n\r\n";
        diag::Probe p;
        p.phase = phase;
        p.local_port = s.port;
        p.reply_from = reply_from;
        p.sent = msg;
        m_probes.push_back(std::move(p));
        m_sent_at.push_back(Clock::now());
        m_by_call_id.emplace(call_id, n);
        if (auto st = net::send_datagram(s.fd.get(), msg, m_o.vip); !st)
            return make_error("io",
                              "sending a probe to " + m_o.vip.str() + ": " + st.error().message);
        return {};
    }

    // Reads replies until `until`.
    void pump(Clock::time_point until) {
        std::vector<pollfd> fds;
        for (const Sock& s : m_sockets)
            fds.push_back({s.fd.get(), POLLIN, 0});
        for (;;) {
            auto now = Clock::now();
            if (now >= until)
                return;
            int ms =
                static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(until - now).count());
            int n = ::poll(fds.data(), fds.size(), ms);
            if (n <= 0)
                continue; // timeout (the loop ends) or EINTR
            for (pollfd& f : fds)
                if (f.revents & POLLIN)
                    drain(f.fd);
        }
    }

    size_t sockets() const { return m_sockets.size(); }
    size_t answered() const { return m_answered; }
    std::vector<diag::Probe>& probes() { return m_probes; }

    // Members seen so far (answered or received), sorted.
    std::vector<std::string> members() const {
        std::set<std::string> s;
        for (const diag::Probe& p : m_probes)
            if (p.reply) {
                if (!p.reply->answered_by.empty())
                    s.insert(p.reply->answered_by);
                if (!p.reply->received_by.empty())
                    s.insert(p.reply->received_by);
            }
        return {s.begin(), s.end()};
    }

private:
    struct Sock {
        UniqueFd fd;
        uint16_t port = 0;
    };

    void drain(int fd) {
        for (int i = 0; i < 64; ++i) { // a bounded batch per wake-up
            auto got = m_receiver.receive(fd);
            if (!got || got->empty())
                return;
            for (const net::Datagram& d : *got)
                take(d);
        }
    }

    void take(const net::Datagram& d) {
        auto msg = sip::scan(d.bytes);
        if (!msg || msg->is_request())
            return; // not a reply: nothing of ours
        auto it = m_by_call_id.find(std::string(msg->call_id.in(d.bytes)));
        if (it == m_by_call_id.end())
            return;
        diag::Probe& p = m_probes[it->second];
        if (p.reply || msg->status < 200)
            return; // a retransmission, or a provisional answer
        std::string_view b = d.bytes;
        auto h = [&](const char* name) {
            return std::string(sip::header_value(b, *msg, name));
        };
        diag::ProbeReply r;
        r.source = d.source.unmapped();
        r.status = msg->status;
        r.received_by = h("X-Farm-Received-By");
        r.answered_by = h("X-Farm-Answered-By");
        r.farm_source = h("X-Farm-Source");
        r.digest = h("X-Farm-Digest");
        r.lines = h("X-Farm-Lines");
        r.via = h("Via");
        r.from = h("From");
        r.to = h("To");
        r.call_id = h("Call-ID");
        r.cseq = h("CSeq");
        r.rtt = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() -
                                                                      m_sent_at[it->second]);
        p.reply = std::move(r);
        ++m_answered;
    }

    const ProbeOptions& m_o;
    SockAddr m_local;
    std::string m_tag;
    std::vector<Sock> m_sockets;
    std::vector<diag::Probe> m_probes;
    std::vector<Clock::time_point> m_sent_at;
    std::unordered_map<std::string, size_t> m_by_call_id;
    net::UdpReceiver m_receiver{16, 4096};
    size_t m_answered = 0;
};

} // namespace

Result<diag::Report> run_probe(const ProbeOptions& o) {
    SockAddr local;
    if (!o.bind.empty()) {
        auto b = SockAddr::parse_host(o.bind);
        if (!b)
            return make_error("usage", "--bind " + o.bind + ": not an IPv4 or IPv6 address");
        if (b->family() != o.vip.family())
            return make_error("usage", "--bind " + o.bind + " and --vip " + o.vip.str() +
                                           " are of different address families");
        local = *b;
    } else {
        auto l = local_toward(o.vip);
        if (!l)
            return l.error();
        local = *l;
    }
    Prober pr(o, local);
    if (auto st = pr.open_socket(); !st)
        return make_error("io", "a UDP socket on " + local.host() + ": " + st.error().message);

    // Does anything answer at all?
    for (unsigned i = 0; i < REACH_TRIES && pr.answered() == 0; ++i) {
        if (auto st = pr.send(diag::ProbePhase::one_port, 0, ""); !st)
            return st.error();
        pr.pump(Clock::now() + o.timeout);
    }
    if (pr.answered() == 0)
        return make_error("unreachable",
                          "no reply from " + o.vip.str() + " to " + std::to_string(REACH_TRIES) +
                              " SIP OPTIONS probes (" + std::to_string(o.timeout.count()) +
                              " ms each): the VIP does not answer SIP over UDP (is the load "
                              "balancer up and forwarding UDP " +
                              std::to_string(o.vip.port()) + ", and sipfarmd running?)");

    // The rest of the count: 40% from the one port, 35% from ports of their
    // own, 25% asking each member in turn to answer (from both kinds of port).
    const size_t count = std::max<size_t>(o.count, pr.probes().size());
    const size_t one_port_end = std::max(pr.probes().size(), count * 40 / 100);
    const size_t many_end = std::max(one_port_end, count * 75 / 100);
    auto next = Clock::now();
    auto pace = [&]() {
        next += PROBE_GAP;
        pr.pump(next);
    };
    while (pr.probes().size() < one_port_end) {
        if (auto st = pr.send(diag::ProbePhase::one_port, 0, ""); !st)
            return st.error();
        pace();
    }
    auto fresh = [&]() -> Result<size_t> {
        if (auto st = pr.open_socket(); !st)
            return make_error("io", "a UDP socket on " + local.host() + ": " + st.error().message);
        return pr.sockets() - 1;
    };
    while (pr.probes().size() < many_end) {
        auto s = fresh();
        if (!s)
            return s.error();
        if (auto st = pr.send(diag::ProbePhase::many_ports, *s, ""); !st)
            return st.error();
        pace();
    }
    std::vector<std::string> members = pr.members();
    size_t turn = 0;
    while (pr.probes().size() < count) {
        // Without a farm's headers there is nobody to ask: more flows instead.
        bool ask = !members.empty();
        size_t sock = 0;
        if (!ask || turn % 2 == 1) {
            auto s = fresh();
            if (!s)
                return s.error();
            sock = *s;
        }
        auto st = ask ? pr.send(diag::ProbePhase::reply_from, sock, members[turn % members.size()])
                      : pr.send(diag::ProbePhase::many_ports, sock, "");
        if (!st)
            return st.error();
        ++turn;
        pace();
    }
    pr.pump(Clock::now() + o.timeout);

    diag::ProbeObservations obs;
    obs.vip = o.vip;
    obs.local = local;
    obs.probes = std::move(pr.probes());
    return diag::diagnose_probe(obs);
}

} // namespace rtfarm::lbcheck
