// sipstorm: the call load and latency probe of test/bench/run.sh.
//
// One process, one thread, busy polling: a UAC socket and one UAS socket per
// processor address.  A call is the flow of SIPp's uac/uas scenarios:
// INVITE -> 100, 180, 200 -> ACK, BYE -> 200, seven datagrams through the
// proxy.  The UAS answers to its top Via's sent-by, copying the Via and
// Record-Route lines; the UAC sends ACK and BYE to the 200's Contact with the
// reversed Record-Route as Route, always to --target (the proxy under test,
// or the UAS itself for the direct baseline).
//
//   --rate R      open loop: a new call every 1/R s, whatever the answers do;
//                 latency samples from kernel receive timestamps
//                 (SO_TIMESTAMPNS) for the calls started after --warmup
//   --inflight N  closed loop: keep N calls going (saturation)
//   --target IP:PORT, --uas IP:PORT[,IP:PORT...] (one socket each),
//   --uac IP:PORT (default 127.0.0.1:0), --duration S (new calls for S
//   seconds, at most 60), --warmup S (0.5), --drain S (0.5: how long
//   unfinished calls may take after the last one started)
//
// It prints one line of key=value: counts, and per latency figure
// p50/p90/p99/p99.9/max in µs (inv100_us, inv200_us: INVITE sent -> 100, 200
// received; bye200_us).  Exit 1 when more than 1% of the calls were lost, 2
// on bad usage.  IPv4 only.  It is not a SIP stack: there are no
// retransmissions, a lost datagram loses its call (counted in lost=; a call
// that waited more than 0.5 s for a datagram is lost), and it only
// understands what the proxies under test send it.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "bench_net.hpp"

[[noreturn]] void die(const std::string& m) {
    std::fprintf(stderr, "sipstorm: %s\n", m.c_str());
    std::exit(2);
}

namespace {

constexpr size_t BATCH = 64;
constexpr size_t MAX_DATAGRAM = 8192;
constexpr int64_t MS = 1000000;
constexpr int64_t SEC = 1000 * MS;

int64_t now_ns() {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return int64_t(ts.tv_sec) * SEC + ts.tv_nsec;
}

int open_socket(const sockaddr_in& bind_to, bool timestamps) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0)
        die("socket: " + std::string(std::strerror(errno)));
    int size = 8 << 20;
    // As root the limit of net.core.rmem_max does not apply.
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) != 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    int on = 1;
    if (timestamps && setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on) != 0)
        die("SO_TIMESTAMPNS: " + std::string(std::strerror(errno)));
    if (bind(fd, reinterpret_cast<const sockaddr*>(&bind_to), sizeof bind_to) != 0)
        die("bind " + addr_str(bind_to) + ": " + std::strerror(errno));
    return fd;
}

sockaddr_in local_addr(int fd) {
    sockaddr_in a{};
    socklen_t len = sizeof a;
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    return a;
}

// Datagrams queued for one sendmmsg(); `stamp` (if set) receives the time
// just before the send.
struct Outbox {
    int fd = -1;
    std::vector<std::string> data;
    std::vector<sockaddr_in> to;
    std::vector<int64_t*> stamp;
    uint64_t sent = 0, send_errors = 0;

    void add(std::string msg, const sockaddr_in& dst, int64_t* s = nullptr) {
        data.push_back(std::move(msg));
        to.push_back(dst);
        stamp.push_back(s);
        if (data.size() >= BATCH)
            flush();
    }
    void flush() {
        if (data.empty())
            return;
        mmsghdr msgs[BATCH];
        iovec iov[BATCH];
        size_t n = data.size();
        for (size_t i = 0; i < n; ++i) {
            iov[i] = {data[i].data(), data[i].size()};
            msgs[i] = {};
            msgs[i].msg_hdr.msg_name = &to[i];
            msgs[i].msg_hdr.msg_namelen = sizeof(sockaddr_in);
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
        }
        int64_t t = now_ns();
        for (size_t i = 0; i < n; ++i)
            if (stamp[i])
                *stamp[i] = t;
        size_t done = 0;
        while (done < n) {
            int r = sendmmsg(fd, msgs + done, static_cast<unsigned>(n - done), 0);
            if (r < 0) {
                if (errno == EINTR)
                    continue;
                ++send_errors; // the first one fails; skip it, keep the rest
                ++done;
                continue;
            }
            done += static_cast<size_t>(r);
            sent += static_cast<size_t>(r);
        }
        data.clear();
        to.clear();
        stamp.clear();
    }
};

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size())
        return false;
    for (size_t i = 0; i < a.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(a[i])) !=
            std::tolower(static_cast<unsigned char>(b[i])))
            return false;
    return true;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

// The headers this probe reads, as views into the datagram.
struct Parsed {
    bool response = false;
    int status = 0;
    std::string_view method;
    std::vector<std::string_view> via_lines, rr_lines, rr_values;
    std::string_view top_via, from_line, to_line, to_value, call_id_line, call_id, cseq_line,
        cseq_method, contact;
};

bool parse(std::string_view m, Parsed& p) {
    auto end = m.find("\r\n\r\n");
    if (end == std::string_view::npos)
        return false;
    std::string_view head = m.substr(0, end + 2);
    auto eol = head.find("\r\n");
    std::string_view start = head.substr(0, eol);
    if (start.substr(0, 8) == "SIP/2.0 ") {
        p.response = true;
        p.status = std::atoi(std::string(start.substr(8, 3)).c_str());
    } else {
        p.method = start.substr(0, start.find(' '));
    }
    size_t pos = eol + 2;
    while (pos < head.size()) {
        auto e = head.find("\r\n", pos);
        std::string_view line = head.substr(pos, e - pos);
        std::string_view with_crlf = head.substr(pos, e + 2 - pos);
        pos = e + 2;
        auto colon = line.find(':');
        if (colon == std::string_view::npos)
            continue;
        std::string_view name = trim(line.substr(0, colon));
        std::string_view value = trim(line.substr(colon + 1));
        if (iequals(name, "via") || iequals(name, "v")) {
            if (p.via_lines.empty())
                p.top_via = value;
            p.via_lines.push_back(with_crlf);
        } else if (iequals(name, "record-route")) {
            p.rr_lines.push_back(with_crlf);
            p.rr_values.push_back(value);
        } else if (iequals(name, "from") || iequals(name, "f")) {
            p.from_line = with_crlf;
        } else if (iequals(name, "to") || iequals(name, "t")) {
            p.to_line = with_crlf;
            p.to_value = value;
        } else if (iequals(name, "call-id") || iequals(name, "i")) {
            p.call_id_line = with_crlf;
            p.call_id = value;
        } else if (iequals(name, "cseq")) {
            p.cseq_line = with_crlf;
            p.cseq_method = trim(value.substr(value.find(' ') + 1));
        } else if (iequals(name, "contact") || iequals(name, "m")) {
            auto lt = value.find('<'), gt = value.find('>');
            p.contact = lt != std::string_view::npos && gt != std::string_view::npos
                            ? value.substr(lt + 1, gt - lt - 1)
                            : value;
        }
    }
    return !p.via_lines.empty() && !p.call_id.empty() && !p.cseq_line.empty();
}

// "SIP/2.0/UDP host:port;params" -> host:port (5060 by default).
bool via_sent_by(std::string_view via, sockaddr_in& out) {
    auto sp = via.find_first_of(" \t");
    if (sp == std::string_view::npos)
        return false;
    std::string_view hp = trim(via.substr(sp));
    hp = hp.substr(0, hp.find_first_of(";,"));
    std::string s(trim(hp));
    if (s.find(':') == std::string::npos)
        s += ":5060";
    auto colon = s.rfind(':');
    sockaddr_in a{};
    a.sin_family = AF_INET;
    if (inet_pton(AF_INET, s.substr(0, colon).c_str(), &a.sin_addr) != 1)
        return false;
    a.sin_port = htons(static_cast<uint16_t>(std::atoi(s.c_str() + colon + 1)));
    out = a;
    return true;
}

const char* SDP = "v=0\r\n"
                  "o=storm 53655765 2353687637 IN IP4 127.0.0.1\r\n"
                  "s=-\r\n"
                  "c=IN IP4 127.0.0.1\r\n"
                  "t=0 0\r\n"
                  "m=audio 6000 RTP/AVP 0\r\n"
                  "a=rtpmap:0 PCMU/8000\r\n";

struct Call {
    int64_t t_invite = 0, t_100 = 0, t_180 = 0, t_200 = 0, t_bye = 0, t_bye_200 = 0;
    bool acked = false, done = false, lost = false;
};

struct Options {
    std::string target, uac = "127.0.0.1:0";
    std::vector<std::string> uas;
    double rate = 0;
    size_t inflight = 0;
    double duration = 2, warmup = 0.5, drain = 0.5;
};

Options parse_options(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto val = [&]() -> std::string {
            if (i + 1 >= argc)
                die("missing value for " + a);
            return argv[++i];
        };
        if (a == "--target")
            o.target = val();
        else if (a == "--uac")
            o.uac = val();
        else if (a == "--uas") {
            std::string v = val();
            size_t p = 0;
            while (p <= v.size()) {
                auto c = v.find(',', p);
                if (c == std::string::npos)
                    c = v.size();
                o.uas.push_back(v.substr(p, c - p));
                p = c + 1;
            }
        } else if (a == "--rate")
            o.rate = std::atof(val().c_str());
        else if (a == "--inflight")
            o.inflight = static_cast<size_t>(std::atoi(val().c_str()));
        else if (a == "--duration")
            o.duration = std::atof(val().c_str());
        else if (a == "--warmup")
            o.warmup = std::atof(val().c_str());
        else if (a == "--drain")
            o.drain = std::atof(val().c_str());
        else
            die("usage: sipstorm --target IP:PORT --uas IP:PORT[,IP:PORT...] [--uac IP:PORT] "
                "(--rate CALLS_PER_S | --inflight N) [--duration S] [--warmup S] [--drain S]");
    }
    if (o.target.empty() || o.uas.empty() || (o.rate <= 0) == (o.inflight == 0))
        die("need --target, --uas and one of --rate, --inflight (see the header of sipstorm.cpp)");
    if (o.duration <= 0 || o.duration > 60)
        die("--duration must be in (0, 60]");
    return o;
}

std::string percentiles(std::vector<int64_t> v) {
    if (v.empty())
        return "none";
    std::sort(v.begin(), v.end());
    auto at = [&](double q) {
        size_t i = static_cast<size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
        return v[std::min(i, v.size() - 1)] / 1000.0; // µs
    };
    char buf[160];
    std::snprintf(buf, sizeof buf, "%.1f/%.1f/%.1f/%.1f/%.1f", at(0.5), at(0.9), at(0.99),
                  at(0.999), v.back() / 1000.0);
    return buf;
}

} // namespace

int main(int argc, char** argv) {
    Options opt = parse_options(argc, argv);
    sockaddr_in target = parse_addr(opt.target);
    int uac_fd = open_socket(parse_addr(opt.uac), true);
    sockaddr_in uac = local_addr(uac_fd);
    std::string uac_s = addr_str(uac);
    std::string target_s = addr_str(target);
    std::vector<int> uas_fds;
    std::vector<std::string> uas_contact;
    for (const auto& u : opt.uas) {
        uas_fds.push_back(open_socket(parse_addr(u), false));
        uas_contact.push_back("Contact: <sip:uas@" + addr_str(local_addr(uas_fds.back())) +
                              ">\r\n");
    }
    Outbox uac_out;
    uac_out.fd = uac_fd;
    std::vector<Outbox> uas_out(uas_fds.size());
    for (size_t i = 0; i < uas_fds.size(); ++i)
        uas_out[i].fd = uas_fds[i];

    const bool open_loop = opt.rate > 0;
    const int64_t t0 = now_ns() + 20 * MS;
    const int64_t t_end = t0 + static_cast<int64_t>(opt.duration * SEC);
    const int64_t t_warm = t0 + static_cast<int64_t>(opt.warmup * SEC);
    const int64_t t_stop = t_end + static_cast<int64_t>(opt.drain * SEC);
    const size_t max_calls = open_loop ? static_cast<size_t>(opt.rate * opt.duration) + 1 : 2000000;
    std::vector<Call> calls;
    calls.reserve(max_calls);
    const std::string run = std::to_string(getpid());
    const std::string sdp = SDP;

    size_t inflight = 0, oldest = 0, done = 0, lost = 0;
    uint64_t uac_rx = 0, uas_rx = 0, bad = 0, unexpected = 0;
    int64_t last_sweep = 0;

    auto start_call = [&](int64_t) {
        size_t idx = calls.size();
        calls.emplace_back();
        std::string id = std::to_string(idx);
        std::string m = "INVITE sip:service@" + target_s + " SIP/2.0\r\n" + "Via: SIP/2.0/UDP " +
                        uac_s + ";branch=z9hG4bK-" + run + "-" + id + "-1;rport\r\n" +
                        "From: storm <sip:storm@" + uac_s + ">;tag=" + id + "\r\n" +
                        "To: service <sip:service@" + target_s + ">\r\n" + "Call-ID: " + id + "-" +
                        run + "@sipstorm\r\n" + "CSeq: 1 INVITE\r\n" + "Contact: <sip:storm@" +
                        uac_s + ">\r\n" + "Max-Forwards: 70\r\n" + "Subject: rtfarm bench\r\n" +
                        "Content-Type: application/sdp\r\n" +
                        "Content-Length: " + std::to_string(sdp.size()) + "\r\n\r\n" + sdp;
        ++inflight;
        uac_out.add(std::move(m), target, &calls[idx].t_invite);
    };

    auto in_dialog = [&](const Parsed& p, size_t idx, const char* method, int cseq,
                         const char* tag) {
        std::string m = std::string(method) + " " + std::string(p.contact) + " SIP/2.0\r\n" +
                        "Via: SIP/2.0/UDP " + uac_s + ";branch=z9hG4bK-" + run + "-" +
                        std::to_string(idx) + "-" + tag + ";rport\r\n";
        for (size_t i = p.rr_values.size(); i-- > 0;)
            m += "Route: " + std::string(p.rr_values[i]) + "\r\n";
        m += std::string(p.from_line) + std::string(p.to_line) + std::string(p.call_id_line) +
             "CSeq: " + std::to_string(cseq) + " " + method + "\r\n" + "Max-Forwards: 70\r\n" +
             "Content-Length: 0\r\n\r\n";
        return m;
    };

    auto call_index = [&](std::string_view call_id) -> long {
        auto dash = call_id.find('-');
        if (dash == std::string_view::npos || call_id.substr(dash + 1, run.size()) != run)
            return -1;
        long idx = std::atol(std::string(call_id.substr(0, dash)).c_str());
        return idx >= 0 && static_cast<size_t>(idx) < calls.size() ? idx : -1;
    };

    auto finish = [&](Call& c, bool ok) {
        if (c.done || c.lost)
            return;
        (ok ? c.done : c.lost) = true;
        ++(ok ? done : lost);
        --inflight;
    };

    auto on_uac = [&](std::string_view data, int64_t t_rx) {
        ++uac_rx;
        Parsed p;
        if (!parse(data, p) || !p.response) {
            ++bad;
            return;
        }
        long idx = call_index(p.call_id);
        if (idx < 0) {
            ++unexpected;
            return;
        }
        Call& c = calls[static_cast<size_t>(idx)];
        if (c.lost) {
            ++unexpected;
            return;
        }
        if (p.cseq_method == "INVITE") {
            if (p.status == 100 && !c.t_100)
                c.t_100 = t_rx;
            else if (p.status == 180 && !c.t_180)
                c.t_180 = t_rx;
            else if (p.status == 200 && !c.t_200) {
                c.t_200 = t_rx;
                uac_out.add(in_dialog(p, static_cast<size_t>(idx), "ACK", 1, "2"), target);
                uac_out.add(in_dialog(p, static_cast<size_t>(idx), "BYE", 2, "3"), target,
                            &c.t_bye);
            } else
                ++unexpected;
        } else if (p.cseq_method == "BYE" && p.status == 200 && !c.t_bye_200) {
            c.t_bye_200 = t_rx;
            finish(c, true);
        } else
            ++unexpected;
    };

    auto on_uas = [&](size_t k, std::string_view data) {
        ++uas_rx;
        Parsed p;
        sockaddr_in to{};
        if (!parse(data, p) || p.response || !via_sent_by(p.top_via, to)) {
            ++bad;
            return;
        }
        if (p.method == "ACK")
            return;
        std::string vias;
        for (auto v : p.via_lines)
            vias += v;
        std::string rrs;
        for (auto r : p.rr_lines)
            rrs += r;
        std::string common_tail = std::string(p.from_line);
        std::string call_cseq = std::string(p.call_id_line) + std::string(p.cseq_line);
        if (p.method == "INVITE") {
            std::string to_tagged = std::string(p.to_line);
            to_tagged.insert(to_tagged.size() - 2,
                             ";tag=uas" + std::string(p.call_id.substr(0, p.call_id.find('-'))));
            uas_out[k].add("SIP/2.0 100 Trying\r\n" + vias + common_tail + std::string(p.to_line) +
                               call_cseq + "Content-Length: 0\r\n\r\n",
                           to);
            uas_out[k].add("SIP/2.0 180 Ringing\r\n" + vias + rrs + common_tail + to_tagged +
                               call_cseq + uas_contact[k] + "Content-Length: 0\r\n\r\n",
                           to);
            uas_out[k].add("SIP/2.0 200 OK\r\n" + vias + rrs + common_tail + to_tagged + call_cseq +
                               uas_contact[k] +
                               "Content-Type: application/sdp\r\nContent-Length: " +
                               std::to_string(sdp.size()) + "\r\n\r\n" + sdp,
                           to);
        } else if (p.method == "BYE") {
            uas_out[k].add("SIP/2.0 200 OK\r\n" + vias + common_tail + std::string(p.to_line) +
                               call_cseq + "Content-Length: 0\r\n\r\n",
                           to);
        } else
            ++unexpected;
    };

    // Receive buffers, shared by all sockets (drained one at a time).
    static char bufs[BATCH][MAX_DATAGRAM];
    static char ctrl[BATCH][64];
    iovec iov[BATCH];
    mmsghdr msgs[BATCH];
    auto receive = [&](int fd, bool stamps, auto&& handle) {
        for (int round = 0; round < 4; ++round) { // bounded work per socket per pass
            for (size_t i = 0; i < BATCH; ++i) {
                iov[i] = {bufs[i], MAX_DATAGRAM};
                msgs[i] = {};
                msgs[i].msg_hdr.msg_iov = &iov[i];
                msgs[i].msg_hdr.msg_iovlen = 1;
                if (stamps) {
                    msgs[i].msg_hdr.msg_control = ctrl[i];
                    msgs[i].msg_hdr.msg_controllen = sizeof ctrl[i];
                }
            }
            int n = recvmmsg(fd, msgs, BATCH, MSG_DONTWAIT, nullptr);
            if (n <= 0)
                return;
            int64_t t_now = now_ns();
            for (int i = 0; i < n; ++i) {
                int64_t t = t_now;
                if (stamps)
                    for (cmsghdr* c = CMSG_FIRSTHDR(&msgs[i].msg_hdr); c;
                         c = CMSG_NXTHDR(&msgs[i].msg_hdr, c))
                        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
                            timespec ts;
                            std::memcpy(&ts, CMSG_DATA(c), sizeof ts);
                            t = int64_t(ts.tv_sec) * SEC + ts.tv_nsec;
                        }
                handle(std::string_view(bufs[i], msgs[i].msg_len), t);
            }
            if (static_cast<size_t>(n) < BATCH)
                return;
        }
    };

    while (true) {
        int64_t now = now_ns();
        if (now >= t_stop)
            break;
        if (now >= t0 && now < t_end) {
            if (open_loop) {
                while (
                    calls.size() < max_calls &&
                    t0 + static_cast<int64_t>(static_cast<double>(calls.size()) * SEC / opt.rate) <=
                        now)
                    start_call(now);
            } else {
                while (inflight < opt.inflight && calls.size() < max_calls)
                    start_call(now);
            }
        } else if (now >= t_end && inflight == 0) {
            break;
        }
        uac_out.flush();
        receive(uac_fd, true, [&](std::string_view d, int64_t t) { on_uac(d, t); });
        for (size_t k = 0; k < uas_fds.size(); ++k)
            receive(uas_fds[k], false, [&](std::string_view d, int64_t) { on_uas(k, d); });
        for (auto& o : uas_out)
            o.flush();
        uac_out.flush();
        // Calls that lost a datagram free their place after half a second.
        if (now - last_sweep > MS) {
            last_sweep = now;
            while (oldest < calls.size() &&
                   (calls[oldest].done || calls[oldest].lost ||
                    (calls[oldest].t_invite && now - calls[oldest].t_invite > SEC / 2))) {
                finish(calls[oldest], false);
                ++oldest;
            }
        }
    }
    for (auto& c : calls)
        finish(c, false);

    std::vector<int64_t> inv100, inv200, bye200;
    int64_t first = 0, last = 0;
    for (const auto& c : calls) {
        if (!c.done)
            continue;
        if (!first || c.t_invite < first)
            first = c.t_invite;
        last = std::max(last, c.t_bye_200);
        if (c.t_invite < t_warm)
            continue;
        if (c.t_100)
            inv100.push_back(c.t_100 - c.t_invite);
        inv200.push_back(c.t_200 - c.t_invite);
        bye200.push_back(c.t_bye_200 - c.t_bye);
    }
    uint64_t sent = uac_out.sent, errors = uac_out.send_errors;
    for (auto& o : uas_out) {
        sent += o.sent;
        errors += o.send_errors;
    }
    double span = last > first ? double(last - first) / SEC : 0;
    std::printf(
        "mode=%s calls=%zu done=%zu lost=%zu msgs_sent=%llu msgs_received=%llu "
        "uac_received=%llu uas_received=%llu bad=%llu unexpected=%llu send_errors=%llu "
        "span_s=%.3f calls_per_s=%.0f msgs_per_s=%.0f samples=%zu "
        "inv100_us=%s inv200_us=%s bye200_us=%s\n",
        open_loop ? "open" : "closed", calls.size(), done, lost,
        static_cast<unsigned long long>(sent), static_cast<unsigned long long>(uac_rx + uas_rx),
        static_cast<unsigned long long>(uac_rx), static_cast<unsigned long long>(uas_rx),
        static_cast<unsigned long long>(bad), static_cast<unsigned long long>(unexpected),
        static_cast<unsigned long long>(errors), span, span > 0 ? done / span : 0.0,
        span > 0 ? double(uac_rx + uas_rx) / span : 0.0, inv200.size(), percentiles(inv100).c_str(),
        percentiles(inv200).c_str(), percentiles(bye200).c_str());
    for (int fd : uas_fds)
        close(fd);
    close(uac_fd);
    return lost > calls.size() / 100 ? 1 : 0;
}
