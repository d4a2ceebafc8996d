// lbcheck media: the I/O of the media test (diag/media_wire.hpp says what
// goes on the wire, diag/media.hpp judges it). One SIP socket and one RTP
// socket on the same local address; blocking sends, poll() with deadlines.
//
// 1. A plain probe learns the farm's members (X-Farm-Members, else the
//    X-Farm-Answered-By of a few probes); no answer at all: exit 2.
// 2. Per member: a media test probe (X-Farm-Reply-From: it, the RTP
//    socket's SDP), up to MAX_ATTEMPTS; from the 200, the member whose relay
//    holds the session and its caller and callee endpoints.
// 3. PHASES x PACKETS RTP packets, PACKET_GAP apart, to the caller
//    endpoint, the callee endpoint, the caller again (the relay sends to the
//    SDP's address, then to the learned source), then waiting up to the
//    timeout for what is still missing. A range that sent nothing back is
//    tried once more with a new session (MAX_RTP_ROUNDS).
// 4. The end probe (X-Farm-Media: end) for every session asked for.
// Everything is bounded: packets per member, attempts, and RUN_LIMIT.
#include "checks.hpp"

#include "diag/media.hpp"
#include "diag/media_wire.hpp"
#include "net/socket.hpp"
#include "net/udp.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <optional>
#include <random>

namespace rtfarm::lbcheck {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr unsigned FIRST_PROBE_SENDS = 3; // the first probe and its retransmissions
constexpr unsigned MEMBER_PROBES = 8;     // plain probes to learn members without X-Farm-Members
constexpr unsigned MAX_ATTEMPTS = 3;      // media test probes per member
constexpr unsigned MAX_RTP_ROUNDS = 2;    // test sessions per member when RTP is lost
constexpr size_t MAX_MEMBERS = 32;
constexpr unsigned PHASES = 3;
constexpr unsigned PACKETS = 5; // per phase
constexpr milliseconds PACKET_GAP{20};
constexpr milliseconds END_WAIT{300}; // for the end probe's 200, at most
constexpr std::chrono::seconds RUN_LIMIT{60};

class Udp {
public:
    static Result<Udp> open(const SockAddr& local) {
        auto fd = net::udp_bind(local);
        if (!fd)
            return fd.error();
        auto addr = net::local_address(fd->get());
        if (!addr)
            return addr.error();
        Udp u;
        u.m_fd = std::move(*fd);
        u.m_local = *addr;
        return u;
    }
    const SockAddr& local() const { return m_local; }
    Status send(std::string_view bytes, const SockAddr& to) const {
        return net::send_datagram(m_fd.get(), bytes, to);
    }
    // The next datagram before `deadline`, or nullopt.
    std::optional<std::pair<std::string, SockAddr>> recv(Clock::time_point deadline) {
        for (;;) {
            auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
            if (left.count() < 0)
                return std::nullopt;
            pollfd p{m_fd.get(), POLLIN, 0};
            int n = ::poll(&p, 1, static_cast<int>(left.count()) + 1);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                return std::nullopt;
            sockaddr_storage ss{};
            socklen_t len = sizeof ss;
            ssize_t got = ::recvfrom(m_fd.get(), m_buf.data(), m_buf.size(), MSG_DONTWAIT,
                                     reinterpret_cast<sockaddr*>(&ss), &len);
            if (got < 0)
                continue; // ICMP errors, EAGAIN: nothing to read
            auto from = SockAddr::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
            if (!from)
                continue;
            return std::make_pair(std::string(m_buf.data(), static_cast<size_t>(got)),
                                  from->unmapped());
        }
    }

private:
    UniqueFd m_fd;
    SockAddr m_local;
    std::array<char, 65536> m_buf{};
};

// The local address the kernel picks to reach `vip` (a connected UDP socket
// sends nothing).
Result<SockAddr> route_source(const SockAddr& vip) {
    UniqueFd fd(::socket(vip.family(), SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (fd.get() < 0)
        return make_error("io", std::string("socket: ") + std::strerror(errno));
    if (::connect(fd.get(), vip.sa(), vip.len()) != 0)
        return make_error("unreachable",
                          "no route to " + vip.str() + ": " + std::string(std::strerror(errno)));
    auto a = net::local_address(fd.get());
    if (!a)
        return a.error();
    a->set_port(0);
    return *a;
}

class MediaRun {
public:
    MediaRun(const MediaOptions& o, Udp sip, Udp rtp)
        : m_o(o)
        , m_sip(std::move(sip))
        , m_rtp(std::move(rtp))
        , m_rng(std::random_device{}()) {
        m_run = hex(m_rng());
        m_start = Clock::now();
    }

    Result<diag::Report> run() {
        diag::MediaObservations obs;
        obs.vip = m_o.vip.str();
        obs.local = m_rtp.local().str();
        auto members = learn_members(obs);
        if (!members)
            return members.error();
        for (const auto& m : obs.members) {
            if (Clock::now() - m_start > RUN_LIMIT) {
                obs.not_tried.push_back(m);
                continue;
            }
            for (unsigned round = 0; round < MAX_RTP_ROUNDS; ++round) {
                diag::MediaTrial t = trial(m);
                bool again = !t.media_member.empty() &&
                             (t.to_caller.back + t.to_caller.back_elsewhere == 0 ||
                              t.to_callee.back + t.to_callee.back_elsewhere == 0);
                obs.trials.push_back(std::move(t));
                if (!again || Clock::now() - m_start > RUN_LIMIT)
                    break;
            }
        }
        return diag::diagnose_media(obs);
    }

private:
    std::string hex(uint32_t v) {
        char b[9];
        std::snprintf(b, sizeof b, "%08x", v);
        return b;
    }

    diag::ProbeRequest request(const std::string& call_id) {
        diag::ProbeRequest p;
        p.vip = m_o.vip;
        p.local = m_sip.local();
        p.call_id = call_id;
        p.branch = "lbm" + hex(m_rng());
        p.from_tag = "lbm" + hex(m_rng());
        return p;
    }

    // Sends `bytes` and waits up to the timeout for the 200 of `call_id`,
    // `sends` times in all.
    std::optional<diag::ProbeAnswer> transact(const std::string& bytes, const std::string& call_id,
                                              unsigned sends, milliseconds wait) {
        for (unsigned i = 0; i < sends; ++i) {
            (void)m_sip.send(bytes, m_o.vip);
            auto deadline = Clock::now() + wait;
            while (auto d = m_sip.recv(deadline)) {
                auto a = diag::parse_probe_answer(d->first);
                if (a && a->call_id == call_id && a->status >= 200)
                    return *a;
            }
        }
        return std::nullopt;
    }

    Status learn_members(diag::MediaObservations& obs) {
        std::string call_id = "lbm-" + m_run + "-members";
        auto first = transact(diag::probe_request(request(call_id)), call_id, FIRST_PROBE_SENDS,
                              m_o.timeout);
        if (!first)
            return make_error(
                "unreachable",
                "the VIP " + m_o.vip.str() + " does not answer: no reply to " +
                    std::to_string(FIRST_PROBE_SENDS) + " OPTIONS probes to sip:lbcheck@" +
                    m_o.vip.str() + " in " +
                    std::to_string(FIRST_PROBE_SENDS * m_o.timeout.count()) +
                    " ms (is sipfarmd running behind it, and does the load balancer forward "
                    "UDP " +
                    std::to_string(m_o.vip.port()) + "?)");
        if (!first->farm)
            return make_error("not_a_farm",
                              "the VIP " + m_o.vip.str() + " answered " +
                                  std::to_string(first->status) +
                                  " without any X-Farm-* header: not an rtfarm SIP farm "
                                  "(or something on the way strips the headers), so the "
                                  "media test cannot run");
        if (!first->members.empty()) {
            obs.members = first->members;
            obs.members_from = "X-Farm-Members";
        } else {
            obs.members_from = "X-Farm-Answered-By";
            auto note = [&](const std::string& id) {
                if (!id.empty() &&
                    std::find(obs.members.begin(), obs.members.end(), id) == obs.members.end())
                    obs.members.push_back(id);
            };
            note(first->answered_by);
            for (unsigned i = 0; i < MEMBER_PROBES; ++i) {
                std::string id = "lbm-" + m_run + "-members-" + std::to_string(i);
                if (auto a = transact(diag::probe_request(request(id)), id, 1, m_o.timeout))
                    note(a->answered_by);
            }
        }
        if (obs.members.size() > MAX_MEMBERS)
            obs.members.resize(MAX_MEMBERS);
        return {};
    }

    // One media test of `member`: its session, its RTP, its end.
    diag::MediaTrial trial(const std::string& member) {
        diag::MediaTrial t;
        t.asked = member;
        std::vector<std::pair<std::string, std::string>> sessions; // call_id, answerer
        std::optional<diag::ProbeAnswer> answer;
        for (unsigned i = 0; i < MAX_ATTEMPTS && !answer; ++i) {
            std::string call_id = "lbm-" + m_run + "-" + member + "-" + std::to_string(++m_seq);
            auto p = request(call_id);
            p.reply_from = member;
            p.media = "test";
            p.sdp = diag::test_sdp(m_rtp.local());
            ++t.probes;
            answer = transact(diag::probe_request(p), call_id, 1, m_o.timeout);
            sessions.emplace_back(call_id, answer ? answer->answered_by : member);
        }
        if (answer) {
            t.answered_by = answer->answered_by;
            t.media_error = answer->media_error;
            if (t.media_error.empty() && !answer->media_member.empty()) {
                auto caller = SockAddr::parse(answer->media_caller);
                auto callee = SockAddr::parse(answer->media_callee);
                if (caller && callee) {
                    t.media_member = answer->media_member;
                    t.range = answer->media_range;
                    t.caller = caller->str();
                    t.callee = callee->str();
                    rtp(t, *caller, *callee);
                } else {
                    t.media_error = "bad_reply X-Farm-Media-Caller '" + answer->media_caller +
                                    "' / -Callee '" + answer->media_callee + "' are not ADDR:PORT";
                }
            } else if (t.media_error.empty()) {
                t.media_error = "no_media_headers the 200 has no X-Farm-Media-* header (a "
                                "sipfarmd without the media test?)";
            }
        }
        for (const auto& [call_id, answerer] : sessions)
            end(call_id, answerer);
        return t;
    }

    void end(const std::string& call_id, const std::string& answerer) {
        auto p = request(call_id);
        p.reply_from = answerer;
        p.media = "end";
        p.cseq = 2;
        (void)transact(diag::probe_request(p), call_id, 1, std::min(m_o.timeout, END_WAIT));
    }

    void rtp(diag::MediaTrial& t, const SockAddr& caller, const SockAddr& callee) {
        t.to_caller.to = caller.str();
        t.to_caller.expect_from = callee.str();
        t.to_callee.to = callee.str();
        t.to_callee.expect_from = caller.str();
        const uint32_t ssrc = m_rng();
        const uint16_t seq0 = static_cast<uint16_t>(m_rng());
        constexpr unsigned TOTAL = PHASES * PACKETS;
        std::array<Clock::time_point, TOTAL> sent_at{};
        std::array<bool, TOTAL> seen{};
        std::array<double, 2> rtt_sum{0, 0};
        unsigned sent = 0, seen_count = 0;
        auto leg_of = [&](unsigned k) -> diag::MediaLeg& {
            return (k / PACKETS) % 2 == 0 ? t.to_caller : t.to_callee;
        };
        auto next_send = Clock::now();
        Clock::time_point last_send{};
        while (seen_count < TOTAL) {
            auto now = Clock::now();
            if (sent < TOTAL && now >= next_send) {
                unsigned k = sent++;
                const SockAddr& to = (k / PACKETS) % 2 == 0 ? caller : callee;
                sent_at[k] = now;
                (void)m_rtp.send(diag::test_rtp(ssrc, static_cast<uint16_t>(seq0 + k)), to);
                ++leg_of(k).sent;
                last_send = now;
                next_send = now + PACKET_GAP;
                continue;
            }
            auto deadline = sent < TOTAL ? next_send : last_send + m_o.timeout;
            if (sent == TOTAL && now >= deadline)
                break;
            auto d = m_rtp.recv(deadline);
            if (!d)
                continue;
            auto pkt = diag::parse_test_rtp(d->first);
            if (!pkt || pkt->ssrc != ssrc)
                continue; // not ours, or an earlier session's
            unsigned k = static_cast<uint16_t>(pkt->seq - seq0);
            if (k >= sent || seen[k])
                continue;
            seen[k] = true;
            ++seen_count;
            diag::MediaLeg& leg = leg_of(k);
            const SockAddr& expect = &leg == &t.to_caller ? callee : caller;
            if (!pkt->intact) {
                ++leg.changed;
            } else if (d->second == expect) {
                ++leg.back;
            } else {
                ++leg.back_elsewhere;
                std::string src = d->second.str();
                if (std::find(leg.other_sources.begin(), leg.other_sources.end(), src) ==
                    leg.other_sources.end())
                    leg.other_sources.push_back(src);
            }
            rtt_sum[&leg == &t.to_caller ? 0 : 1] +=
                std::chrono::duration<double, std::milli>(Clock::now() - sent_at[k]).count();
        }
        for (int i = 0; i < 2; ++i) {
            diag::MediaLeg& leg = i == 0 ? t.to_caller : t.to_callee;
            unsigned n = leg.back + leg.back_elsewhere + leg.changed;
            if (n > 0)
                leg.rtt_ms = rtt_sum[static_cast<size_t>(i)] / n;
        }
    }

    const MediaOptions& m_o;
    Udp m_sip;
    Udp m_rtp;
    std::mt19937 m_rng;
    std::string m_run;
    unsigned m_seq = 0;
    Clock::time_point m_start;
};

} // namespace

Result<diag::Report> run_media(const MediaOptions& o) {
    SockAddr local;
    if (!o.bind.empty()) {
        auto b = SockAddr::parse_host(o.bind, 0);
        if (!b)
            return make_error("usage", "--bind " + o.bind + ": not an IPv4 or IPv6 address");
        local = *b;
    }
    if (!local.valid() || local.is_any()) {
        // The SDP must name an address the relay can send to.
        auto src = route_source(o.vip);
        if (!src)
            return src.error();
        local = *src;
    }
    if (local.family() != o.vip.family())
        return make_error("usage", "--bind " + o.bind + " and the VIP " + o.vip.str() +
                                       " are not of the same address family");
    auto sip = Udp::open(local);
    if (!sip)
        return make_error(sip.error().code,
                          "SIP socket on " + local.str() + ": " + sip.error().message);
    auto rtp = Udp::open(local);
    if (!rtp)
        return make_error(rtp.error().code,
                          "RTP socket on " + local.str() + ": " + rtp.error().message);
    MediaRun r(o, std::move(*sip), std::move(*rtp));
    return r.run();
}

} // namespace rtfarm::lbcheck
