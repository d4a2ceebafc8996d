// rtpstorm: the media load of test/bench/media.sh.
//
// One process, one thread, busy polling. It plays both ends of N calls: a
// caller socket pair (RTP on --ports BASE, RTCP on BASE+1) and a callee pair
// (BASE+2, BASE+3), shared by all calls. Each call is set up through the
// relay under test (the offer's SDP names the caller's RTP port, the
// answer's the callee's; the relay's ports come from the c= and m= lines and
// a=rtcp of the SDP it returns), then RTP flows both ways: caller -> relay's
// caller-facing port -> callee, and back. The relay tells the calls apart by
// the port a packet arrives on, so one socket per side is enough.
//
// Control, one of:
//   --ng IP:PORT        rtpengine's ng protocol: "<cookie> <bencoded dict>"
//                       over UDP (offer, answer, delete)
//   --control PATH      rtprelayd: NDJSON over its Unix control socket
//                       (offer, answer, delete)
//   --trivial IP:PORT   test/bench/trivial_relay: no signalling; call i is
//                       relayed by ports PORT+2i (caller side) and PORT+2i+1
//
// Where:
//   --ip A              the address of the generator's sockets and of its
//                       SDP (127.0.0.1)
//
// Load:
//   --calls N           calls (200)
//   --inflight K        closed loop: K packets in flight per call and
//                       direction (8); packets received send the next ones
//   --burst G           in bursts of G (4, dividing K): a direction sends
//                       when G of its packets are back, the G in one UDP GSO
//                       send that the kernel splits before the relay's
//                       socket (cheaper for the generator, the same for the
//                       relay: G datagrams in a row on its socket)
//   --rate PPS          instead of the closed loop, an open loop at a fixed
//                       rate: PPS RTP packets/s in all (both directions of
//                       every call), one datagram per message (no GSO),
//                       the calls' directions in turn, paced on the clock;
//                       --inflight and --burst do not apply
//   --warmup S          load before the window, not counted (0.5)
//   --duration S        the window (3, at most 60)
//   --relay-pid PID     read the relay's utime+stime (/proc/PID/stat: every
//                       thread of the process) at the window's edges
//   --kthread-pid PID   (repeatable) likewise the utime+stime of kernel
//                       threads that work for the relay (a veth end's NAPI
//                       threads), summed
//   --relay-cpu N       read CPU N's busy ticks (/proc/stat: user, nice,
//                       system, irq, softirq, steal) likewise, its nice
//                       ticks alone (other work at nice > 0 on that CPU)
//                       and its irq + softirq ticks
//   --packets P         no window: P RTP packets and one RTCP packet each way
//                       per call, then wait for them (memory measurement)
//   --max-outstanding N at most N datagrams (RTP and RTCP) sent and not yet
//                       back (or written off) at any time, all calls
//                       together: a queue on the way that drops instead of
//                       pushing back (a veth's ring of 256 packets) then
//                       cannot overflow; 0, the default: no limit but
//                       --inflight per call and direction (not with --rate)
//   --keep              do not delete the calls at the end
//   --timeout-ms MS     per control request (1000; ng retries twice)
//   --stats             with --control: print rtprelayd's stats reply line
//                       and exit (no calls, no packets)
//
// Every packet is 172 bytes: a 12-byte RTP header (PT 0, SSRC per call and
// direction, sequence) and 160 bytes of payload naming the call, direction
// and a 32-bit sequence number, then a pattern derived from them. At the
// far end each packet is checked: the socket and source port it arrives
// from (the relay's port of that call and side), header and payload byte
// for byte. A call and direction that waited 1 s for its packets, while
// nothing at all was waiting in the generator's sockets, gets its credit
// back, so a lost packet does not stall it for the rest of the run (a delay
// shorter than that, the relay or the generator stopped for a moment,
// changes nothing: the packets are late, not lost); losses are counted as
// sent - received after a drain of up to 0.5 s.
//
// It prints one line of key=value: setup time, counts (sent, received,
// lost, corrupt, misrouted, reordered, duplicates), the window's packets
// received (window_pkts), its length, the relay's CPU ticks in it
// (relay_ticks, hz), the kernel threads' (kthread_ticks), the relay core's
// (core_ticks, core_nice_ticks, core_irq_ticks), the
// share of the window the generator spent in polls that found nothing to
// send or receive (gen_idle_pct: above a few per cent, it waits for the
// relay; near 0, it may be what limits) and, with --rate, the rate asked
// for, the rate it sent at in the window and how far it fell behind its
// clock at worst (rate, window_sent_pps, max_lag_ms). Exit 0 when
// every packet came back intact, 1 when something was lost, corrupt or a
// request failed (the reason on stderr), 2 on bad usage. IPv4 only.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "bench_net.hpp"

[[noreturn]] void die(const std::string& m) {
    std::fprintf(stderr, "rtpstorm: %s\n", m.c_str());
    std::exit(2);
}

namespace {

constexpr size_t BATCH = 64;
constexpr size_t MAX_BURST = 16;
constexpr size_t PACKET = 172; // 12-byte RTP header + 160 bytes of payload
constexpr size_t RTCP_PACKET = 8;
constexpr size_t MAX_DATAGRAM = 2048;
constexpr size_t MAX_REPLY = 65536;
constexpr uint32_t MAGIC = 0x52544653; // "RTFS"
constexpr int64_t MS = 1000000;
constexpr int64_t SEC = 1000 * MS;
constexpr int64_t STALL = SEC; // a direction without packets for this long gets its credit back

int64_t now_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return int64_t(ts.tv_sec) * SEC + ts.tv_nsec;
}

[[noreturn]] void fail(const std::string& m) {
    std::fprintf(stderr, "rtpstorm: %s\n", m.c_str());
    std::exit(1);
}

int open_udp(const sockaddr_in& bind_to) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0)
        die("socket: " + std::string(std::strerror(errno)));
    // Up to calls * 2 * inflight packets may wait here; as root the limit of
    // net.core.rmem_max does not apply.
    int size = 64 << 20;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) != 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    // DF set: the IP id then comes from the socket, not from the hash of
    // counters the whole machine (the relay too) writes to.
    int pmtu = IP_PMTUDISC_DO;
    setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof pmtu);
    if (bind(fd, reinterpret_cast<const sockaddr*>(&bind_to), sizeof bind_to) != 0)
        die("bind " + addr_str(bind_to) + ": " + std::strerror(errno));
    return fd;
}

// utime + stime of a process (all its threads), in clock ticks.
long long proc_ticks(int pid) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
    std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    auto paren = s.rfind(')');
    if (paren == std::string::npos)
        return -1;
    std::istringstream in(s.substr(paren + 2));
    std::string field;
    long long utime = 0, stime = 0;
    // Fields after the name start at 3 (state); utime is 14, stime 15.
    for (int i = 3; i <= 15 && in >> field; ++i) {
        if (i == 14)
            utime = std::atoll(field.c_str());
        if (i == 15)
            stime = std::atoll(field.c_str());
    }
    return utime + stime;
}

// Busy ticks of one CPU (user, nice, system, irq, softirq, steal); or one
// part of them: the nice ticks alone (user time of tasks at nice > 0), or
// irq + softirq.
enum class CpuPart { BUSY, NICE, IRQ };
long long cpu_ticks(int cpu, CpuPart part = CpuPart::BUSY) {
    std::ifstream f("/proc/stat");
    std::string line, want = "cpu" + std::to_string(cpu);
    while (std::getline(f, line)) {
        std::istringstream in(line);
        std::string name;
        in >> name;
        if (name != want)
            continue;
        long long v[8] = {};
        for (auto& x : v)
            in >> x;
        switch (part) {
        case CpuPart::NICE:
            return v[1];
        case CpuPart::IRQ:
            return v[5] + v[6];
        case CpuPart::BUSY:
            break;
        }
        return v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
    }
    return -1;
}

// ------------------------------------------------------------ bencode
// Just enough for the ng protocol: strings, integers, lists, dictionaries.
struct BValue {
    enum Kind { STR, INT, LIST, DICT } kind = STR;
    std::string str;
    long long num = 0;
    std::vector<BValue> list;
    std::map<std::string, BValue> dict;
};

std::string bencode_str(std::string_view s) {
    return std::to_string(s.size()) + ":" + std::string(s);
}

// A dictionary of strings; std::map keeps the keys sorted as bencode wants.
std::string bencode_dict(const std::map<std::string, std::string>& d) {
    std::string out = "d";
    for (const auto& [k, v] : d)
        out += bencode_str(k) + bencode_str(v);
    return out + "e";
}

bool bdecode(std::string_view& in, BValue& out, int depth = 0) {
    if (in.empty() || depth > 16)
        return false;
    char c = in.front();
    if (c == 'i') {
        auto e = in.find('e');
        if (e == std::string_view::npos)
            return false;
        out.kind = BValue::INT;
        out.num = std::atoll(std::string(in.substr(1, e - 1)).c_str());
        in.remove_prefix(e + 1);
        return true;
    }
    if (c == 'l' || c == 'd') {
        out.kind = c == 'l' ? BValue::LIST : BValue::DICT;
        in.remove_prefix(1);
        while (!in.empty() && in.front() != 'e') {
            if (c == 'l') {
                out.list.emplace_back();
                if (!bdecode(in, out.list.back(), depth + 1))
                    return false;
            } else {
                BValue key, value;
                if (!bdecode(in, key, depth + 1) || key.kind != BValue::STR ||
                    !bdecode(in, value, depth + 1))
                    return false;
                out.dict[key.str] = std::move(value);
            }
        }
        if (in.empty())
            return false;
        in.remove_prefix(1);
        return true;
    }
    auto colon = in.find(':');
    if (colon == std::string_view::npos || colon == 0)
        return false;
    size_t len = std::strtoull(std::string(in.substr(0, colon)).c_str(), nullptr, 10);
    if (in.size() - colon - 1 < len)
        return false;
    out.kind = BValue::STR;
    out.str = std::string(in.substr(colon + 1, len));
    in.remove_prefix(colon + 1 + len);
    return true;
}

// ------------------------------------------------------------ JSON
// Just enough for rtprelayd's replies: a value tree, strings unescaped
// (\uXXXX to UTF-8, surrogate pairs included).
struct JValue {
    enum Kind { NUL, BOOL, NUM, STR, ARR, OBJ } kind = NUL;
    bool b = false;
    double num = 0;
    std::string str;
    std::vector<JValue> arr;
    std::map<std::string, JValue> obj;
    const JValue* get(const std::string& k) const {
        auto it = obj.find(k);
        return kind == OBJ && it != obj.end() ? &it->second : nullptr;
    }
};

void skip_ws(std::string_view& in) {
    while (!in.empty() &&
           (in.front() == ' ' || in.front() == '\t' || in.front() == '\n' || in.front() == '\r'))
        in.remove_prefix(1);
}

void put_utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

bool json_string(std::string_view& in, std::string& out) {
    in.remove_prefix(1); // the opening quote
    while (!in.empty()) {
        char c = in.front();
        in.remove_prefix(1);
        if (c == '"')
            return true;
        if (c != '\\') {
            out += c;
            continue;
        }
        if (in.empty())
            return false;
        char e = in.front();
        in.remove_prefix(1);
        switch (e) {
        case 'n':
            out += '\n';
            break;
        case 'r':
            out += '\r';
            break;
        case 't':
            out += '\t';
            break;
        case 'b':
            out += '\b';
            break;
        case 'f':
            out += '\f';
            break;
        case 'u': {
            if (in.size() < 4)
                return false;
            uint32_t cp = static_cast<uint32_t>(
                std::strtoul(std::string(in.substr(0, 4)).c_str(), nullptr, 16));
            in.remove_prefix(4);
            if (cp >= 0xD800 && cp < 0xDC00 && in.size() >= 6 && in[0] == '\\' && in[1] == 'u') {
                uint32_t lo = static_cast<uint32_t>(
                    std::strtoul(std::string(in.substr(2, 4)).c_str(), nullptr, 16));
                in.remove_prefix(6);
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            put_utf8(out, cp);
            break;
        }
        default:
            out += e;
            break; // \" \\ \/
        }
    }
    return false;
}

bool json_parse(std::string_view& in, JValue& out, int depth = 0) {
    skip_ws(in);
    if (in.empty() || depth > 32)
        return false;
    char c = in.front();
    if (c == '{' || c == '[') {
        out.kind = c == '{' ? JValue::OBJ : JValue::ARR;
        in.remove_prefix(1);
        skip_ws(in);
        if (!in.empty() && in.front() == (c == '{' ? '}' : ']')) {
            in.remove_prefix(1);
            return true;
        }
        while (true) {
            if (c == '{') {
                skip_ws(in);
                std::string key;
                if (in.empty() || in.front() != '"' || !json_string(in, key))
                    return false;
                skip_ws(in);
                if (in.empty() || in.front() != ':')
                    return false;
                in.remove_prefix(1);
                if (!json_parse(in, out.obj[key], depth + 1))
                    return false;
            } else {
                out.arr.emplace_back();
                if (!json_parse(in, out.arr.back(), depth + 1))
                    return false;
            }
            skip_ws(in);
            if (in.empty())
                return false;
            char d = in.front();
            in.remove_prefix(1);
            if (d == ',')
                continue;
            return d == (c == '{' ? '}' : ']');
        }
    }
    if (c == '"') {
        out.kind = JValue::STR;
        return json_string(in, out.str);
    }
    for (auto [word, kind, b] :
         {std::tuple{"true", JValue::BOOL, true}, std::tuple{"false", JValue::BOOL, false},
          std::tuple{"null", JValue::NUL, false}}) {
        if (in.substr(0, std::strlen(word)) == word) {
            out.kind = kind;
            out.b = b;
            in.remove_prefix(std::strlen(word));
            return true;
        }
    }
    char* end = nullptr;
    std::string num(in.substr(0, std::min<size_t>(in.size(), 64)));
    out.num = std::strtod(num.c_str(), &end);
    if (end == num.c_str())
        return false;
    out.kind = JValue::NUM;
    in.remove_prefix(static_cast<size_t>(end - num.c_str()));
    return true;
}

std::string json_quote(std::string_view s) {
    std::string out = "\"";
    for (char c : s) {
        switch (c) {
        case '"':
            out += "\\\"";
            break;
        case '\\':
            out += "\\\\";
            break;
        case '\n':
            out += "\\n";
            break;
        case '\r':
            out += "\\r";
            break;
        case '\t':
            out += "\\t";
            break;
        default:
            if (static_cast<unsigned char>(c) < 0x20) {
                char buf[8];
                std::snprintf(buf, sizeof buf, "\\u%04x", c);
                out += buf;
            } else {
                out += c;
            }
        }
    }
    return out + "\"";
}

// ------------------------------------------------------------ SDP
std::string make_sdp(uint32_t id, const std::string& ip, uint16_t port) {
    return "v=0\r\no=- " + std::to_string(id) + " 1 IN IP4 " + ip + "\r\ns=-\r\nc=IN IP4 " + ip +
           "\r\nt=0 0\r\nm=audio " + std::to_string(port) +
           " RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
}

// Where the relay wants RTP and RTCP: c= (the media level's wins, being
// later), the first m= port, a=rtcp (port, optionally an address) or RTP+1.
struct Target {
    sockaddr_in rtp{}, rtcp{};
};

bool parse_sdp_target(const std::string& sdp, Target& t, std::string& why) {
    std::string ip, rtcp_ip;
    long port = -1, rtcp_port = -1;
    bool seen_m = false;
    std::istringstream in(sdp);
    std::string line;
    while (std::getline(in, line)) {
        if (!line.empty() && line.back() == '\r')
            line.pop_back();
        std::istringstream words(line);
        std::string w0, w1, w2, w3, w4;
        words >> w0 >> w1 >> w2 >> w3 >> w4;
        if (line.rfind("c=", 0) == 0) {
            if (w0 != "c=IN" || w1 != "IP4") {
                why = "not an IPv4 c= line: " + line;
                return false;
            }
            ip = w2.substr(0, w2.find('/'));
        } else if (line.rfind("m=", 0) == 0) {
            if (seen_m)
                break; // one stream: the first m= line is ours
            seen_m = true;
            port = std::atol(w1.c_str());
        } else if (seen_m && line.rfind("a=rtcp:", 0) == 0) {
            rtcp_port = std::atol(line.c_str() + 7);
            if (w1 == "IN" && w2 == "IP4")
                rtcp_ip = w3;
        }
    }
    if (!seen_m || port <= 0 || port > 65535) {
        why = "no m= line with a port in the SDP returned";
        return false;
    }
    if (ip.empty()) {
        why = "no c= line in the SDP returned";
        return false;
    }
    t.rtp = parse_addr(ip + ":" + std::to_string(port));
    t.rtcp = parse_addr((rtcp_ip.empty() ? ip : rtcp_ip) + ":" +
                        std::to_string(rtcp_port > 0 ? rtcp_port : port + 1));
    return true;
}

// The first bytes of a datagram, in hex, for a message.
std::string hex_head(const uint8_t* p, size_t len) {
    std::string out;
    char b[4];
    for (size_t i = 0; i < len && i < 32; ++i) {
        std::snprintf(b, sizeof b, "%02x", p[i]);
        out += b;
    }
    return out + (len > 32 ? "..." : "");
}

std::string one_line(std::string s) {
    for (char& c : s)
        if (c == '\r' || c == '\n')
            c = ' ';
    return s.size() > 300 ? s.substr(0, 300) + "..." : s;
}

// ------------------------------------------------------------ control
class Control {
public:
    virtual ~Control() = default;
    // The SDP the relay returns, or false with the reason in `why`.
    virtual bool offer(const std::string& call_id, const std::string& from_tag,
                       const std::string& sdp, std::string& out, std::string& why) = 0;
    virtual bool answer(const std::string& call_id, const std::string& from_tag,
                        const std::string& to_tag, const std::string& sdp, std::string& out,
                        std::string& why) = 0;
    virtual bool remove(const std::string& call_id, const std::string& from_tag,
                        std::string& why) = 0;
};

// rtpengine's ng protocol: "<cookie> <bencoded dict>" each way over UDP; a
// retransmission keeps its cookie, so the daemon answers it from its cache.
class NgControl : public Control {
public:
    NgControl(const sockaddr_in& to, int timeout_ms)
        : m_timeout_ms(timeout_ms) {
        m_fd = socket(AF_INET, SOCK_DGRAM, 0);
        if (m_fd < 0 || connect(m_fd, reinterpret_cast<const sockaddr*>(&to), sizeof to) != 0)
            die("ng socket to " + addr_str(to) + ": " + std::strerror(errno));
    }
    ~NgControl() override { close(m_fd); }

    bool offer(const std::string& call_id, const std::string& from_tag, const std::string& sdp,
               std::string& out, std::string& why) override {
        return sdp_request(
            {{"command", "offer"}, {"call-id", call_id}, {"from-tag", from_tag}, {"sdp", sdp}}, out,
            why);
    }
    bool answer(const std::string& call_id, const std::string& from_tag, const std::string& to_tag,
                const std::string& sdp, std::string& out, std::string& why) override {
        return sdp_request({{"command", "answer"},
                            {"call-id", call_id},
                            {"from-tag", from_tag},
                            {"to-tag", to_tag},
                            {"sdp", sdp}},
                           out, why);
    }
    bool remove(const std::string& call_id, const std::string& from_tag,
                std::string& why) override {
        BValue r;
        return request({{"command", "delete"}, {"call-id", call_id}, {"from-tag", from_tag}}, r,
                       why);
    }

private:
    bool sdp_request(const std::map<std::string, std::string>& d, std::string& out,
                     std::string& why) {
        BValue r;
        if (!request(d, r, why))
            return false;
        auto it = r.dict.find("sdp");
        if (it == r.dict.end() || it->second.kind != BValue::STR) {
            why = "reply without sdp";
            return false;
        }
        out = it->second.str;
        return true;
    }

    bool request(const std::map<std::string, std::string>& d, BValue& reply, std::string& why) {
        std::string cookie = std::to_string(getpid()) + "_" + std::to_string(++m_seq);
        std::string msg = cookie + " " + bencode_dict(d);
        static char buf[MAX_REPLY];
        for (int attempt = 0; attempt < 3; ++attempt) {
            if (send(m_fd, msg.data(), msg.size(), 0) < 0) {
                why = std::string("send: ") + std::strerror(errno);
                return false;
            }
            int64_t until = now_ns() + m_timeout_ms * MS;
            while (true) {
                int64_t left = (until - now_ns()) / MS;
                pollfd p{m_fd, POLLIN, 0};
                if (left <= 0 || poll(&p, 1, static_cast<int>(left)) <= 0)
                    break;
                ssize_t n = recv(m_fd, buf, sizeof buf, 0);
                if (n < 0) {
                    why = std::string("recv: ") + std::strerror(errno);
                    return false;
                }
                std::string_view in(buf, static_cast<size_t>(n));
                if (in.substr(0, cookie.size() + 1) != cookie + " ")
                    continue; // a late reply to an earlier request
                in.remove_prefix(cookie.size() + 1);
                if (!bdecode(in, reply) || reply.kind != BValue::DICT) {
                    why =
                        "undecodable reply: " + one_line(std::string(buf, static_cast<size_t>(n)));
                    return false;
                }
                auto res = reply.dict.find("result");
                if (res == reply.dict.end() || res->second.str != "ok") {
                    auto reason = reply.dict.find("error-reason");
                    why = "result " +
                          (res == reply.dict.end() ? std::string("missing") : res->second.str) +
                          (reason == reply.dict.end() ? "" : ": " + reason->second.str);
                    return false;
                }
                return true;
            }
        }
        why = "no reply in 3 x " + std::to_string(m_timeout_ms) + " ms";
        return false;
    }

    int m_fd = -1;
    int m_timeout_ms;
    uint64_t m_seq = 0;
};

// rtprelayd: one JSON object per line over its Unix control socket.
class NdjsonControl : public Control {
public:
    NdjsonControl(const std::string& path, int timeout_ms)
        : m_timeout_ms(timeout_ms) {
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        if (path.size() >= sizeof a.sun_path)
            die("control path too long: " + path);
        std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
        m_fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (m_fd < 0 || connect(m_fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0)
            fail("connect " + path + ": " + std::strerror(errno));
    }
    ~NdjsonControl() override { close(m_fd); }

    bool offer(const std::string& call_id, const std::string& from_tag, const std::string& sdp,
               std::string& out, std::string& why) override {
        return sdp_request("\"op\":\"offer\",\"call_id\":" + json_quote(call_id) +
                               ",\"from_tag\":" + json_quote(from_tag) +
                               ",\"sdp\":" + json_quote(sdp),
                           out, why);
    }
    bool answer(const std::string& call_id, const std::string& from_tag, const std::string& to_tag,
                const std::string& sdp, std::string& out, std::string& why) override {
        return sdp_request("\"op\":\"answer\",\"call_id\":" + json_quote(call_id) +
                               ",\"from_tag\":" + json_quote(from_tag) +
                               ",\"to_tag\":" + json_quote(to_tag) + ",\"sdp\":" + json_quote(sdp),
                           out, why);
    }
    bool remove(const std::string& call_id, const std::string&, std::string& why) override {
        JValue r;
        return request("\"op\":\"delete\",\"call_id\":" + json_quote(call_id), r, why);
    }
    // The reply line of a stats request, as the daemon wrote it.
    bool stats(std::string& line, std::string& why) {
        JValue r;
        if (!request("\"op\":\"stats\"", r, why))
            return false;
        line = m_last_reply;
        return true;
    }

private:
    bool sdp_request(const std::string& fields, std::string& out, std::string& why) {
        JValue r;
        if (!request(fields, r, why))
            return false;
        const JValue* sdp = r.get("sdp");
        if (!sdp || sdp->kind != JValue::STR) {
            why = "result without sdp";
            return false;
        }
        out = sdp->str;
        return true;
    }

    bool request(const std::string& fields, JValue& result, std::string& why) {
        uint64_t id = ++m_seq;
        std::string line = "{\"id\":" + std::to_string(id) + "," + fields + "}\n";
        size_t done = 0;
        while (done < line.size()) {
            ssize_t n = send(m_fd, line.data() + done, line.size() - done, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                why = std::string("send: ") + std::strerror(errno);
                return false;
            }
            done += static_cast<size_t>(n);
        }
        int64_t until = now_ns() + m_timeout_ms * MS;
        while (true) {
            auto eol = m_in.find('\n');
            if (eol != std::string::npos) {
                std::string reply = m_in.substr(0, eol);
                m_in.erase(0, eol + 1);
                m_last_reply = reply;
                std::string_view v(reply);
                JValue j;
                if (!json_parse(v, j) || j.kind != JValue::OBJ) {
                    why = "unparsable reply: " + one_line(reply);
                    return false;
                }
                const JValue* rid = j.get("id");
                if (!rid || rid->kind != JValue::NUM || rid->num != static_cast<double>(id))
                    continue; // not ours
                const JValue* ok = j.get("ok");
                if (!ok || ok->kind != JValue::BOOL || !ok->b) {
                    const JValue* err = j.get("error");
                    const JValue* code = err ? err->get("code") : nullptr;
                    const JValue* msg = err ? err->get("message") : nullptr;
                    why = (code ? code->str : std::string("error")) + ": " +
                          (msg ? msg->str : one_line(reply));
                    return false;
                }
                const JValue* res = j.get("result");
                if (res)
                    result = *res;
                return true;
            }
            if (m_in.size() > MAX_REPLY) {
                why = "reply line over " + std::to_string(MAX_REPLY) + " bytes";
                return false;
            }
            int64_t left = (until - now_ns()) / MS;
            pollfd p{m_fd, POLLIN, 0};
            if (left <= 0 || poll(&p, 1, static_cast<int>(left)) <= 0) {
                why = "no reply in " + std::to_string(m_timeout_ms) + " ms";
                return false;
            }
            char buf[16384];
            ssize_t n = recv(m_fd, buf, sizeof buf, 0);
            if (n <= 0) {
                why = n == 0 ? "control connection closed"
                             : std::string("recv: ") + std::strerror(errno);
                return false;
            }
            m_in.append(buf, static_cast<size_t>(n));
        }
    }

    int m_fd = -1;
    int m_timeout_ms;
    uint64_t m_seq = 0;
    std::string m_in, m_last_reply;
};

// ------------------------------------------------------------ packets
void put32(uint8_t* p, uint32_t v) {
    p[0] = static_cast<uint8_t>(v >> 24);
    p[1] = static_cast<uint8_t>(v >> 16);
    p[2] = static_cast<uint8_t>(v >> 8);
    p[3] = static_cast<uint8_t>(v);
}

uint32_t get32(const uint8_t* p) {
    return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
}

uint32_t ssrc_of(uint32_t call, uint32_t dir) {
    return 0x52540000u + call * 2 + dir;
}

// The payload after its 16 bytes of identity: consecutive byte values from
// a start that depends on the packet, copied from (and compared with) a
// table of 0..255 written twice.
constexpr size_t PATTERN = PACKET - 12 - 16;
struct PatternTable {
    uint8_t bytes[512];
    PatternTable() {
        for (size_t i = 0; i < sizeof bytes; ++i)
            bytes[i] = static_cast<uint8_t>(i);
    }
};
const PatternTable PATTERN_TABLE;

const uint8_t* pattern_of(uint32_t call, uint32_t dir, uint32_t seq) {
    return PATTERN_TABLE.bytes + ((seq * 131 + call * 7 + dir * 29) & 0xff);
}

// The packet `seq` of a call's direction (0 caller -> callee, 1 back).
void fill_rtp(uint8_t* p, uint32_t call, uint32_t dir, uint32_t seq) {
    p[0] = 0x80; // V=2
    p[1] = 0;    // PT 0, PCMU
    p[2] = static_cast<uint8_t>(seq >> 8);
    p[3] = static_cast<uint8_t>(seq);
    put32(p + 4, seq * 160); // timestamp: 20 ms of 8 kHz
    put32(p + 8, ssrc_of(call, dir));
    uint8_t* pay = p + 12;
    put32(pay, MAGIC);
    put32(pay + 4, call);
    put32(pay + 8, dir);
    put32(pay + 12, seq);
    std::memcpy(pay + 16, pattern_of(call, dir, seq), PATTERN);
}

// Is `p` (PACKET bytes, the identity fields already read) exactly what
// fill_rtp() wrote?
bool intact_rtp(const uint8_t* p, uint32_t call, uint32_t dir, uint32_t seq) {
    return p[0] == 0x80 && p[1] == 0 && p[2] == static_cast<uint8_t>(seq >> 8) &&
           p[3] == static_cast<uint8_t>(seq) && get32(p + 4) == seq * 160 &&
           get32(p + 8) == ssrc_of(call, dir) &&
           std::memcmp(p + 28, pattern_of(call, dir, seq), PATTERN) == 0;
}

void fill_rtcp(uint8_t* p, uint32_t call, uint32_t dir) {
    p[0] = 0x80; // V=2, no report blocks
    p[1] = 201;  // RR
    p[2] = 0;
    p[3] = 1; // length in 32-bit words minus one
    put32(p + 4, ssrc_of(call, dir));
}

// Datagrams queued for one sendmmsg() from one socket. A message may carry
// a burst of equal-sized datagrams for one destination as one UDP GSO send
// (UDP_SEGMENT): the kernel splits it before the receiving socket, which
// sees the datagrams one by one, but the sender pays for one trip through
// the stack instead of one per datagram.
struct Outbox {
    int fd = -1;
    size_t n = 0;
    uint8_t buf[BATCH][PACKET * MAX_BURST];
    size_t len[BATCH], segs[BATCH];
    uint16_t seg_size[BATCH];
    sockaddr_in to[BATCH];
    uint64_t sent = 0, send_errors = 0; // datagrams
    std::string first_error;

    // Room for `count` datagrams of `size` bytes to `dst`, back to back.
    uint8_t* add(const sockaddr_in& dst, size_t size, size_t count = 1) {
        if (n == BATCH)
            flush();
        to[n] = dst;
        len[n] = size * count;
        segs[n] = count;
        seg_size[n] = static_cast<uint16_t>(size);
        return buf[n++];
    }
    void flush() {
        if (n == 0)
            return;
        mmsghdr msgs[BATCH];
        iovec iov[BATCH];
        alignas(cmsghdr) char ctrl[BATCH][CMSG_SPACE(sizeof(uint16_t))];
        for (size_t i = 0; i < n; ++i) {
            iov[i] = {buf[i], len[i]};
            msgs[i] = {};
            msgs[i].msg_hdr.msg_name = &to[i];
            msgs[i].msg_hdr.msg_namelen = sizeof(sockaddr_in);
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
            if (segs[i] > 1) {
                msgs[i].msg_hdr.msg_control = ctrl[i];
                msgs[i].msg_hdr.msg_controllen = sizeof ctrl[i];
                cmsghdr* c = CMSG_FIRSTHDR(&msgs[i].msg_hdr);
                c->cmsg_level = SOL_UDP;
                c->cmsg_type = UDP_SEGMENT;
                c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
                std::memcpy(CMSG_DATA(c), &seg_size[i], sizeof(uint16_t));
            }
        }
        size_t done = 0;
        while (done < n) {
            int r = sendmmsg(fd, msgs + done, static_cast<unsigned>(n - done), 0);
            if (r < 0) {
                if (errno == EINTR)
                    continue;
                if (first_error.empty())
                    first_error = std::strerror(errno);
                send_errors += segs[done]; // the first one fails; skip it, keep the rest
                ++done;
                continue;
            }
            for (size_t i = done; i < done + static_cast<size_t>(r); ++i)
                sent += segs[i];
            done += static_cast<size_t>(r);
        }
        n = 0;
    }
};

// One call's direction.
struct Stream {
    sockaddr_in to{};      // the relay's port this direction is sent to
    uint16_t from = 0;     // the relay's port it arrives from (network order)
    uint32_t sent = 0;     // packets queued, also the next sequence number
    uint32_t received = 0; // intact ones
    uint32_t expect = 0;   // the next sequence number in order
    int32_t credit = 0;    // in flight (sent, neither received nor written off)
    int32_t queued = 0;    // waiting in the send queue
    int64_t last_rx = 0;
};

struct Options {
    std::string ng, control, trivial;
    std::string ip = "127.0.0.1";
    double rate = 0; // packets/s in all; 0: the closed loop
    size_t calls = 200;
    int inflight = 8;
    int burst = 4;
    double warmup = 0.5, duration = 3;
    int relay_pid = 0, relay_cpu = -1;
    std::vector<int> kthread_pids;
    int packets = 0;
    int max_outstanding = 0;
    bool keep = false;
    bool stats = false;
    int timeout_ms = 1000;
    uint16_t ports = 0;
};

Options parse_options(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc)
                die("missing value for " + a);
            return argv[++i];
        };
        if (a == "--ng")
            o.ng = value();
        else if (a == "--control")
            o.control = value();
        else if (a == "--trivial")
            o.trivial = value();
        else if (a == "--ip")
            o.ip = value();
        else if (a == "--rate")
            o.rate = std::atof(value().c_str());
        else if (a == "--calls")
            o.calls = std::strtoul(value().c_str(), nullptr, 10);
        else if (a == "--inflight")
            o.inflight = std::atoi(value().c_str());
        else if (a == "--burst")
            o.burst = std::atoi(value().c_str());
        else if (a == "--warmup")
            o.warmup = std::atof(value().c_str());
        else if (a == "--duration")
            o.duration = std::atof(value().c_str());
        else if (a == "--relay-pid")
            o.relay_pid = std::atoi(value().c_str());
        else if (a == "--kthread-pid")
            o.kthread_pids.push_back(std::atoi(value().c_str()));
        else if (a == "--relay-cpu")
            o.relay_cpu = std::atoi(value().c_str());
        else if (a == "--packets")
            o.packets = std::atoi(value().c_str());
        else if (a == "--max-outstanding")
            o.max_outstanding = std::atoi(value().c_str());
        else if (a == "--keep")
            o.keep = true;
        else if (a == "--stats")
            o.stats = true;
        else if (a == "--timeout-ms")
            o.timeout_ms = std::atoi(value().c_str());
        else if (a == "--ports")
            o.ports = static_cast<uint16_t>(std::atoi(value().c_str()));
        else
            die("unknown option " + a);
    }
    if (o.ng.empty() + o.control.empty() + o.trivial.empty() != 2)
        die("one of --ng IP:PORT, --control PATH, --trivial IP:PORT");
    if (o.calls < 1 || o.calls > 20000)
        die("--calls 1..20000");
    if (o.inflight < 1 || o.inflight > 256)
        die("--inflight 1..256");
    if (o.burst < 1 || o.burst > int(MAX_BURST) || o.inflight % o.burst != 0)
        die("--burst 1.." + std::to_string(MAX_BURST) + ", dividing --inflight");
    if (o.duration <= 0 || o.duration > 60 || o.warmup < 0 || o.warmup > 10)
        die("--duration 0..60 s, --warmup 0..10 s");
    if (o.packets < 0 || o.packets > 100)
        die("--packets 0..100");
    if (o.max_outstanding < 0 || (o.max_outstanding > 0 && o.max_outstanding < o.burst + 2))
        die("--max-outstanding 0 (no limit) or at least --burst + 2");
    if (o.rate < 0 || o.rate > 10e6 || (o.rate > 0 && o.packets > 0))
        die("--rate 0..10000000 packets/s, not with --packets");
    in_addr probe{};
    if (inet_pton(AF_INET, o.ip.c_str(), &probe) != 1)
        die("--ip: not an IPv4 address: " + o.ip);
    if (o.stats && o.control.empty())
        die("--stats needs --control PATH");
    if (!o.stats && (o.ports == 0 || o.ports % 2 != 0 || o.ports > 65532))
        die("--ports BASE: an even port; the generator binds BASE..BASE+3");
    if (o.timeout_ms < 10 || o.timeout_ms > 10000)
        die("--timeout-ms 10..10000");
    return o;
}

} // namespace

int main(int argc, char** argv) {
    Options opt = parse_options(argc, argv);
    if (opt.stats) {
        NdjsonControl c(opt.control, opt.timeout_ms);
        std::string line, why;
        if (!c.stats(line, why))
            fail("stats: " + why);
        std::printf("%s\n", line.c_str());
        return 0;
    }
    const size_t calls = opt.calls;
    const bool memory = opt.packets > 0;

    // The generator's sockets: [0] caller RTP, [1] caller RTCP, [2] callee
    // RTP, [3] callee RTCP.
    int fds[4];
    for (int i = 0; i < 4; ++i)
        fds[i] = open_udp(parse_addr(opt.ip + ":" + std::to_string(opt.ports + i)));
    const uint16_t caller_port = opt.ports, callee_port = static_cast<uint16_t>(opt.ports + 2);

    // Set up the calls: the caller's and the callee's view of the relay.
    std::vector<Target> caller_side(calls), callee_side(calls);
    std::unique_ptr<Control> control;
    if (!opt.ng.empty())
        control = std::make_unique<NgControl>(parse_addr(opt.ng), opt.timeout_ms);
    else if (!opt.control.empty())
        control = std::make_unique<NdjsonControl>(opt.control, opt.timeout_ms);
    const std::string tag = std::to_string(getpid());
    auto call_id = [&](size_t i) {
        return "rtpstorm-" + tag + "-" + std::to_string(i);
    };
    int64_t t_setup = now_ns();
    for (size_t i = 0; i < calls; ++i) {
        if (!control) {
            sockaddr_in base = parse_addr(opt.trivial);
            caller_side[i].rtp = callee_side[i].rtp = base;
            caller_side[i].rtp.sin_port =
                htons(static_cast<uint16_t>(ntohs(base.sin_port) + 2 * i));
            callee_side[i].rtp.sin_port =
                htons(static_cast<uint16_t>(ntohs(base.sin_port) + 2 * i + 1));
            continue;
        }
        std::string out, why;
        auto id = static_cast<uint32_t>(1000 + i);
        if (!control->offer(call_id(i), "a" + std::to_string(i), make_sdp(id, opt.ip, caller_port),
                            out, why))
            fail("call " + std::to_string(i) + ": offer: " + why);
        if (!parse_sdp_target(out, callee_side[i], why))
            fail("call " + std::to_string(i) + ": offer: " + why + ": " + one_line(out));
        if (!control->answer(call_id(i), "a" + std::to_string(i), "b" + std::to_string(i),
                             make_sdp(id + 500000, opt.ip, callee_port), out, why))
            fail("call " + std::to_string(i) + ": answer: " + why);
        if (!parse_sdp_target(out, caller_side[i], why))
            fail("call " + std::to_string(i) + ": answer: " + why + ": " + one_line(out));
    }
    double setup_ms = double(now_ns() - t_setup) / MS;

    // Streams: index call * 2 + dir; dir 0 leaves the caller's socket for
    // the relay's caller-facing port and arrives at the callee's from the
    // relay's callee-facing port; dir 1 the other way.
    std::vector<Stream> streams(calls * 2);
    for (size_t i = 0; i < calls; ++i) {
        streams[i * 2].to = caller_side[i].rtp;
        streams[i * 2].from = callee_side[i].rtp.sin_port;
        streams[i * 2 + 1].to = callee_side[i].rtp;
        streams[i * 2 + 1].from = caller_side[i].rtp.sin_port;
    }
    static Outbox out[2]; // by direction: from the caller's socket, from the callee's
    out[0].fd = fds[0];
    out[1].fd = fds[2];
    static Outbox rtcp_out[2];
    rtcp_out[0].fd = fds[1];
    rtcp_out[1].fd = fds[3];

    // The queue of streams that may send their next burst; a direction has
    // at most `window` packets in flight or queued.
    const bool paced = opt.rate > 0;
    const int burst = memory || paced ? 1 : opt.burst;
    const int window = memory ? opt.packets : opt.inflight;
    std::vector<uint32_t> ring(calls * 2 * size_t(window) + 16);
    size_t head = 0, tail = 0; // pop at head, push at tail
    auto top_up = [&](uint32_t s) {
        Stream& st = streams[s];
        while (window - st.credit - st.queued >= burst && tail - head < ring.size()) {
            ring[tail++ % ring.size()] = s;
            st.queued += burst;
        }
    };

    uint64_t received = 0, corrupt = 0, misrouted = 0, reordered = 0, rtcp_received = 0,
             rtcp_bad = 0, written_off = 0;
    int64_t idle_ns = 0; // in the window, polls that found nothing
    std::string first_problem;
    auto problem = [&](uint64_t& counter, const std::string& what) {
        ++counter;
        if (first_problem.empty())
            first_problem = what;
    };
    bool refill = !memory && !paced;

    int64_t now = now_ns();
    for (uint32_t s = 0; s < streams.size(); ++s) {
        streams[s].last_rx = now;
        if (!paced)
            top_up(s);
    }
    // With --packets, one RTCP packet each way per call, sent in the loop
    // (rtcp_next: the calls whose RTCP has left).
    size_t rtcp_next = memory && control ? 0 : calls;
    const uint64_t rtcp_expected = memory && control ? calls * 2 : 0;
    // --max-outstanding: datagrams sent and neither back nor written off,
    // at most (not with --rate: an open loop does not wait).
    const uint64_t cap =
        opt.max_outstanding > 0 && !paced ? uint64_t(opt.max_outstanding) : UINT64_MAX;

    static uint8_t bufs[BATCH][MAX_DATAGRAM];
    static sockaddr_in from[BATCH];
    iovec iov[BATCH];
    mmsghdr msgs[BATCH];
    // Up to four batches from the socket of direction `dir`'s far end.
    auto receive_rtp = [&](int fd, uint32_t dir, int64_t t) {
        bool any = false;
        for (int round = 0; round < 4; ++round) {
            for (size_t i = 0; i < BATCH; ++i) {
                iov[i] = {bufs[i], MAX_DATAGRAM};
                msgs[i] = {};
                msgs[i].msg_hdr.msg_name = &from[i];
                msgs[i].msg_hdr.msg_namelen = sizeof from[i];
                msgs[i].msg_hdr.msg_iov = &iov[i];
                msgs[i].msg_hdr.msg_iovlen = 1;
            }
            int n = recvmmsg(fd, msgs, BATCH, MSG_DONTWAIT, nullptr);
            if (n <= 0)
                return any;
            any = true;
            for (int i = 0; i < n; ++i) {
                const uint8_t* p = bufs[i];
                if (msgs[i].msg_len != PACKET || get32(p + 12) != MAGIC) {
                    problem(corrupt, "a datagram of " + std::to_string(msgs[i].msg_len) +
                                         " bytes from " + addr_str(from[i]) +
                                         " that is not ours: " + hex_head(p, msgs[i].msg_len));
                    continue;
                }
                uint32_t call = get32(p + 16), d = get32(p + 20), seq = get32(p + 24);
                if (call >= calls || d != dir) {
                    problem(misrouted, "call " + std::to_string(call) + " dir " +
                                           std::to_string(d) + " arrived at the socket of dir " +
                                           std::to_string(dir));
                    continue;
                }
                Stream& st = streams[call * 2 + dir];
                if (seq >= st.sent || !intact_rtp(p, call, dir, seq)) {
                    problem(corrupt, "call " + std::to_string(call) + " dir " +
                                         std::to_string(dir) + " seq " + std::to_string(seq) +
                                         ": bytes differ from what was sent");
                    continue;
                }
                if (from[i].sin_port != st.from) {
                    problem(misrouted, "call " + std::to_string(call) + " dir " +
                                           std::to_string(dir) + " came from " + addr_str(from[i]) +
                                           ", not the relay's port " +
                                           std::to_string(ntohs(st.from)));
                    continue;
                }
                if (seq != st.expect)
                    ++reordered;
                st.expect = std::max(st.expect, seq + 1);
                ++st.received;
                ++received;
                st.last_rx = t;
                if (st.credit > 0) {
                    --st.credit;
                    if (refill)
                        top_up(call * 2 + dir);
                }
            }
            if (static_cast<size_t>(n) < BATCH)
                return any;
        }
        return any;
    };
    auto receive_rtcp = [&](int fd, uint32_t dir) {
        bool any = false;
        for (int round = 0; round < 4; ++round) {
            for (size_t i = 0; i < BATCH; ++i) {
                iov[i] = {bufs[i], MAX_DATAGRAM};
                msgs[i] = {};
                msgs[i].msg_hdr.msg_name = &from[i];
                msgs[i].msg_hdr.msg_namelen = sizeof from[i];
                msgs[i].msg_hdr.msg_iov = &iov[i];
                msgs[i].msg_hdr.msg_iovlen = 1;
            }
            int n = recvmmsg(fd, msgs, BATCH, MSG_DONTWAIT, nullptr);
            if (n <= 0)
                return any;
            any = true;
            for (int i = 0; i < n; ++i) {
                const uint8_t* p = bufs[i];
                uint32_t s = get32(p + 4) - 0x52540000u;
                if (msgs[i].msg_len != RTCP_PACKET || p[1] != 201 || s / 2 >= calls ||
                    s % 2 != dir) {
                    problem(rtcp_bad, "an RTCP datagram of " + std::to_string(msgs[i].msg_len) +
                                          " bytes from " + addr_str(from[i]) +
                                          " that is not ours: " + hex_head(p, msgs[i].msg_len));
                    continue;
                }
                const Target& t = dir == 0 ? callee_side[s / 2] : caller_side[s / 2];
                if (from[i].sin_port != t.rtcp.sin_port) {
                    problem(rtcp_bad, "RTCP of call " + std::to_string(s / 2) + " came from " +
                                          addr_str(from[i]) + ", not the relay's RTCP port");
                    continue;
                }
                ++rtcp_received;
            }
        }
        return any;
    };

    // The schedule: warm-up, window (load counted), drain; or, with
    // --packets, the packets and at most 3 s to get them back.
    int64_t t_start = now_ns();
    int64_t t_win0 = t_start + static_cast<int64_t>(opt.warmup * SEC);
    int64_t t_win1 = t_win0 + static_cast<int64_t>(opt.duration * SEC);
    int64_t t_stop = memory ? t_start + 3 * SEC : t_win1 + SEC / 2;
    if (memory)
        t_win0 = t_win1 = t_start;
    enum { WARMUP, WINDOW, DRAIN } phase = memory ? DRAIN : WARMUP;
    long long ticks0 = 0, ticks1 = 0, core0 = 0, core1 = 0, nice0 = 0, nice1 = 0, irq0 = 0,
              irq1 = 0, kt0 = 0, kt1 = 0;
    auto kthread_ticks = [&] {
        long long t = 0;
        for (int pid : opt.kthread_pids)
            t += std::max(0LL, proc_ticks(pid));
        return t;
    };
    uint64_t rx0 = 0, rx1 = 0;
    int64_t w0 = 0, w1 = 0, last_sweep = t_start;
    uint64_t total_sent = 0, sent0 = 0, sent1 = 0;
    int64_t max_lag_ns = 0; // --rate: how far behind its clock the generator fell
    while (true) {
        now = now_ns();
        if (phase == WARMUP && now >= t_win0) {
            w0 = now;
            rx0 = received;
            ticks0 = opt.relay_pid ? proc_ticks(opt.relay_pid) : 0;
            core0 = opt.relay_cpu >= 0 ? cpu_ticks(opt.relay_cpu) : 0;
            nice0 = opt.relay_cpu >= 0 ? cpu_ticks(opt.relay_cpu, CpuPart::NICE) : 0;
            irq0 = opt.relay_cpu >= 0 ? cpu_ticks(opt.relay_cpu, CpuPart::IRQ) : 0;
            kt0 = kthread_ticks();
            sent0 = total_sent;
            phase = WINDOW;
        } else if (phase == WINDOW && now >= t_win1) {
            ticks1 = opt.relay_pid ? proc_ticks(opt.relay_pid) : 0;
            core1 = opt.relay_cpu >= 0 ? cpu_ticks(opt.relay_cpu) : 0;
            nice1 = opt.relay_cpu >= 0 ? cpu_ticks(opt.relay_cpu, CpuPart::NICE) : 0;
            irq1 = opt.relay_cpu >= 0 ? cpu_ticks(opt.relay_cpu, CpuPart::IRQ) : 0;
            kt1 = kthread_ticks();
            rx1 = received;
            sent1 = total_sent;
            w1 = now;
            phase = DRAIN;
            refill = false;
            for (; head != tail; ++head) // nothing more to send
                streams[ring[head % ring.size()]].queued = 0;
        }
        if (phase == DRAIN && ((head == tail && rtcp_next == calls && received == total_sent &&
                                rtcp_received >= rtcp_expected) ||
                               now >= t_stop))
            break;
        bool busy = false;
        // --rate: the packets due by now, the streams in turn, a few
        // batches at most per pass.
        if (paced && phase != DRAIN) {
            auto due = static_cast<uint64_t>(double(now - t_start) * opt.rate / double(SEC));
            if (due > total_sent + 1 && phase == WINDOW)
                max_lag_ns = std::max(max_lag_ns, static_cast<int64_t>(double(due - total_sent) *
                                                                       double(SEC) / opt.rate));
            for (size_t k = 0; k < 4 * BATCH && total_sent < due; ++k) {
                auto s = static_cast<uint32_t>(total_sent % streams.size());
                Stream& st = streams[s];
                fill_rtp(out[s % 2].add(st.to, PACKET), s / 2, s % 2, st.sent++);
                ++total_sent;
                busy = true;
            }
        }
        // Send what the queue allows, a few batches at most.
        auto outstanding = [&]() -> uint64_t { // a written-off packet may still come back
            auto out_n = int64_t(total_sent + rtcp_out[0].sent + rtcp_out[1].sent + rtcp_out[0].n +
                                 rtcp_out[1].n) -
                         int64_t(received + rtcp_received + written_off);
            return out_n > 0 ? uint64_t(out_n) : 0;
        };
        for (size_t k = 0; k < 4 * BATCH && head != tail && outstanding() + uint64_t(burst) <= cap;
             ++k) {
            uint32_t s = ring[head++ % ring.size()];
            Stream& st = streams[s];
            uint8_t* p = out[s % 2].add(st.to, PACKET, size_t(burst));
            for (int b = 0; b < burst; ++b)
                fill_rtp(p + size_t(b) * PACKET, s / 2, s % 2, st.sent++);
            st.queued -= burst;
            st.credit += burst;
            total_sent += uint64_t(burst);
            busy = true;
        }
        for (; rtcp_next < calls && outstanding() + 2 <= cap; ++rtcp_next) {
            fill_rtcp(rtcp_out[0].add(caller_side[rtcp_next].rtcp, RTCP_PACKET),
                      uint32_t(rtcp_next), 0);
            fill_rtcp(rtcp_out[1].add(callee_side[rtcp_next].rtcp, RTCP_PACKET),
                      uint32_t(rtcp_next), 1);
            busy = true;
        }
        out[0].flush();
        out[1].flush();
        rtcp_out[0].flush();
        rtcp_out[1].flush();
        busy |= receive_rtp(fds[2], 0, now);
        busy |= receive_rtp(fds[0], 1, now);
        if (memory) {
            busy |= receive_rtcp(fds[3], 0);
            busy |= receive_rtcp(fds[1], 1);
        }
        if (!busy && phase == WINDOW)
            idle_ns += now_ns() - now;
        // A direction that lost its packets gets its credit back; only
        // after a pass that found nothing, so that packets still queued in
        // our sockets after a pause are not taken for lost.
        if (refill && !busy && now - last_sweep > 50 * MS) {
            last_sweep = now;
            for (uint32_t s = 0; s < streams.size(); ++s) {
                Stream& st = streams[s];
                if (st.credit > 0 && now - st.last_rx > STALL) {
                    written_off += static_cast<uint64_t>(st.credit);
                    st.credit = 0;
                    st.last_rx = now;
                    top_up(s);
                }
            }
        }
    }

    uint64_t lost = total_sent > received ? total_sent - received : 0, duplicates = 0;
    for (const auto& st : streams)
        if (st.received > st.sent)
            duplicates += st.received - st.sent;
    uint64_t send_errors =
        out[0].send_errors + out[1].send_errors + rtcp_out[0].send_errors + rtcp_out[1].send_errors;
    std::string send_error = out[0].first_error.empty() ? out[1].first_error : out[0].first_error;

    // Delete the calls (not with --keep: the memory measurement keeps them).
    uint64_t delete_failures = 0;
    std::string delete_error;
    if (control && !opt.keep) {
        int64_t until = now_ns() + 10 * SEC;
        for (size_t i = 0; i < calls && now_ns() < until; ++i) {
            std::string why;
            if (!control->remove(call_id(i), "a" + std::to_string(i), why)) {
                ++delete_failures;
                if (delete_error.empty())
                    delete_error = "call " + std::to_string(i) + ": " + why;
            }
        }
    }

    double window_s = memory ? 0 : double(w1 - w0) / SEC;
    std::printf(
        "calls=%zu setup_ms=%.0f inflight=%d burst=%d sent=%llu received=%llu lost=%llu "
        "corrupt=%llu "
        "misrouted=%llu reordered=%llu duplicates=%llu send_errors=%llu written_off=%llu "
        "rtcp_sent=%llu rtcp_received=%llu rtcp_bad=%llu delete_failures=%llu "
        "window_s=%.3f window_pkts=%llu window_pps=%.0f relay_ticks=%lld core_ticks=%lld "
        "core_nice_ticks=%lld core_irq_ticks=%lld "
        "kthread_ticks=%lld hz=%ld "
        "gen_idle_pct=%.1f rate=%.0f window_sent_pps=%.0f max_lag_ms=%.1f\n",
        calls, setup_ms, window, burst, static_cast<unsigned long long>(total_sent),
        static_cast<unsigned long long>(received), static_cast<unsigned long long>(lost),
        static_cast<unsigned long long>(corrupt), static_cast<unsigned long long>(misrouted),
        static_cast<unsigned long long>(reordered), static_cast<unsigned long long>(duplicates),
        static_cast<unsigned long long>(send_errors), static_cast<unsigned long long>(written_off),
        static_cast<unsigned long long>(rtcp_out[0].sent + rtcp_out[1].sent),
        static_cast<unsigned long long>(rtcp_received), static_cast<unsigned long long>(rtcp_bad),
        static_cast<unsigned long long>(delete_failures), window_s,
        static_cast<unsigned long long>(rx1 - rx0), window_s > 0 ? double(rx1 - rx0) / window_s : 0,
        ticks1 - ticks0, core1 - core0, nice1 - nice0, irq1 - irq0, kt1 - kt0, sysconf(_SC_CLK_TCK),
        w1 > w0 ? 100.0 * double(idle_ns) / double(w1 - w0) : 0.0, opt.rate,
        window_s > 0 ? double(sent1 - sent0) / window_s : 0, double(max_lag_ns) / MS);
    std::fflush(stdout);

    bool bad = false;
    auto report = [&](bool cond, const std::string& what) {
        if (cond) {
            std::fprintf(stderr, "rtpstorm: %s\n", what.c_str());
            bad = true;
        }
    };
    report(lost > 0, std::to_string(lost) + " of " + std::to_string(total_sent) + " packets lost");
    report(!first_problem.empty(), "first problem: " + first_problem);
    report(duplicates > 0, std::to_string(duplicates) + " duplicates");
    report(send_errors > 0, std::to_string(send_errors) + " send errors: " + send_error);
    report(rtcp_received < rtcp_expected,
           std::to_string(rtcp_expected - std::min(rtcp_received, rtcp_expected)) + " of " +
               std::to_string(rtcp_expected) + " RTCP packets lost");
    report(delete_failures > 0,
           std::to_string(delete_failures) + " deletes failed: " + delete_error);
    for (int fd : fds)
        close(fd);
    return bad ? 1 : 0;
}
