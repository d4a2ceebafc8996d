// edgestorm: the attacker of the hostile-edge lab test
// (test/integration/lab/hostile_edge.sh). It sends what a stranger on the
// Internet would send to a farm's public address, bounded in count and time,
// and reports what came back. It is not a SIP stack and keeps no state.
//
//   edgestorm invite  --target IP:PORT --from ADDRS [--count N] [--rate R]
//                     [--max-forwards N] [--mlines N] [--call-id-len N]
//                     [--prefix P] [--user U]
//       INVITEs to sip:U@TARGET (default bob), each with a fresh Call-ID (P, then random
//       characters up to --call-id-len), From tag and branch; with --mlines N
//       an SDP of N audio streams naming the source address (0: no body).
//   edgestorm probe   --target IP:PORT --from ADDRS --sdp IP:PORT [...]
//       lbcheck's media test probe (OPTIONS, X-Farm-Media: test) whose SDP
//       names --sdp (an address that is not the sender's own).
//   edgestorm garbage --target IP --ports LO-HI --from ADDRS [...]
//       datagrams to random ports of the range: every other one random bytes,
//       the others an RTP version 2 header with a random SSRC and payload.
//
// ADDRS: IP or FIRST-LAST (IPv4, at most 1024 addresses), one socket each,
// used in turn. An address that is not this host's is bound with
// IP_TRANSPARENT (root): a spoofed source, whose answers go elsewhere.
// --count (default 100, at most 100000) datagrams at --rate per second
// (default 100); sending stops after --seconds (default 30, at most 60)
// whatever the count; then answers are read for --linger seconds (default 1).
// Prints one line of key=value: sent, send_errors, answers, and per kind of
// answer: status_NNN counts; probe answers also granted (X-Farm-Media-Caller:
// the farm gave the probe relay ports) and refused (X-Farm-Media-Error).
// Exit 0 when it could send, 2 on bad usage or setup.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace {

[[noreturn]] void die(const std::string& m) {
    std::fprintf(stderr, "edgestorm: %s\n", m.c_str());
    std::exit(2);
}

double now_s() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

void sleep_s(double s) {
    auto whole = static_cast<time_t>(s);
    timespec ts{whole, static_cast<long>((s - static_cast<double>(whole)) * 1e9)};
    nanosleep(&ts, nullptr);
}

in_addr parse_ip(const std::string& s) {
    in_addr a{};
    if (inet_pton(AF_INET, s.c_str(), &a) != 1)
        die("not an IPv4 address: '" + s + "'");
    return a;
}

sockaddr_in parse_endpoint(const std::string& s) {
    size_t colon = s.rfind(':');
    if (colon == std::string::npos)
        die("not IP:PORT: '" + s + "'");
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr = parse_ip(s.substr(0, colon));
    long port = std::strtol(s.c_str() + colon + 1, nullptr, 10);
    if (port < 1 || port > 65535)
        die("bad port in '" + s + "'");
    sa.sin_port = htons(static_cast<uint16_t>(port));
    return sa;
}

std::vector<in_addr> parse_sources(const std::string& s) {
    size_t dash = s.find('-');
    uint32_t first = ntohl(parse_ip(s.substr(0, dash)).s_addr);
    uint32_t last = dash == std::string::npos ? first : ntohl(parse_ip(s.substr(dash + 1)).s_addr);
    if (last < first || last - first >= 1024)
        die("--from: at most 1024 addresses, first to last: '" + s + "'");
    std::vector<in_addr> out;
    for (uint32_t a = first;; ++a) {
        out.push_back(in_addr{htonl(a)});
        if (a == last)
            break;
    }
    return out;
}

std::string ip_text(in_addr a) {
    char buf[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &a, buf, sizeof buf);
    return buf;
}

struct Source {
    int fd = -1;
    std::string ip;
    uint16_t port = 0;
};

Source open_source(in_addr addr) {
    Source s;
    s.ip = ip_text(addr);
    s.fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s.fd < 0)
        die(std::string("socket: ") + std::strerror(errno));
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr = addr;
    if (bind(s.fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
        // Not one of ours: a spoofed source (needs CAP_NET_ADMIN).
        int on = 1;
        if (setsockopt(s.fd, SOL_IP, IP_TRANSPARENT, &on, sizeof on) != 0 ||
            bind(s.fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0)
            die("cannot send from " + s.ip + ": " + std::strerror(errno));
    }
    // Room for the answers that come between two reads (a kernel may cap it).
    int rcvbuf = 4 << 20;
    setsockopt(s.fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    socklen_t len = sizeof sa;
    getsockname(s.fd, reinterpret_cast<sockaddr*>(&sa), &len);
    s.port = ntohs(sa.sin_port);
    return s;
}

struct Options {
    std::string mode;
    std::string target;
    std::string from;
    std::string sdp_at;
    std::string ports;
    long count = 100;
    double rate = 100;
    double seconds = 30;
    double linger = 1;
    long max_forwards = 70;
    long mlines = 0;
    long call_id_len = 24;
    std::string prefix = "edge-";
    std::string user = "bob";
};

class Storm {
public:
    explicit Storm(const Options& o)
        : m_o(o)
        , m_rng(std::random_device{}()) {}

    std::string token(size_t n) {
        static constexpr std::string_view alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
        std::string out;
        out.reserve(n);
        for (size_t i = 0; i < n; ++i)
            out += alphabet[m_rng() % alphabet.size()];
        return out;
    }

    std::string invite(const Source& s, const std::string& target_ip) {
        std::string call_id = m_o.prefix;
        if (static_cast<long>(call_id.size()) < m_o.call_id_len)
            call_id += token(static_cast<size_t>(m_o.call_id_len) - call_id.size());
        std::string sdp;
        if (m_o.mlines > 0) {
            sdp = "v=0\r\no=- 1 1 IN IP4 " + s.ip + "\r\ns=-\r\nc=IN IP4 " + s.ip + "\r\nt=0 0\r\n";
            for (long i = 0; i < m_o.mlines; ++i)
                sdp += "m=audio " + std::to_string(20000 + 2 * i) + " RTP/AVP 0\r\n";
        }
        std::string at = s.ip + ":" + std::to_string(s.port);
        std::string m = "INVITE sip:" + m_o.user + "@" + target_ip + " SIP/2.0\r\n";
        m += "Via: SIP/2.0/UDP " + at + ";branch=z9hG4bK" + token(16) + ";rport\r\n";
        m += "Max-Forwards: " + std::to_string(m_o.max_forwards) + "\r\n";
        m += "From: <sip:mallory@" + s.ip + ">;tag=" + token(10) + "\r\n";
        m += "To: <sip:" + m_o.user + "@" + target_ip + ">\r\n";
        m += "Call-ID: " + call_id + "\r\n";
        m += "CSeq: 1 INVITE\r\n";
        m += "Contact: <sip:mallory@" + at + ">\r\n";
        if (!sdp.empty())
            m += "Content-Type: application/sdp\r\n";
        m += "Content-Length: " + std::to_string(sdp.size()) + "\r\n\r\n" + sdp;
        return m;
    }

    std::string probe(const Source& s, const std::string& target_ip) {
        size_t colon = m_o.sdp_at.rfind(':');
        std::string ip = m_o.sdp_at.substr(0, colon);
        std::string port = m_o.sdp_at.substr(colon + 1);
        std::string sdp = "v=0\r\no=lbcheck 1 1 IN IP4 " + ip + "\r\ns=lbcheck media\r\nc=IN IP4 " +
                          ip + "\r\nt=0 0\r\nm=audio " + port +
                          " RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
        std::string at = s.ip + ":" + std::to_string(s.port);
        std::string m = "OPTIONS sip:lbcheck@" + target_ip + " SIP/2.0\r\n";
        m += "Via: SIP/2.0/UDP " + at + ";branch=z9hG4bK" + token(16) + ";rport\r\n";
        m += "Max-Forwards: 70\r\n";
        m += "From: <sip:lbcheck@" + s.ip + ">;tag=" + token(10) + "\r\n";
        m += "To: <sip:lbcheck@" + target_ip + ">\r\n";
        m += "Call-ID: " + m_o.prefix + token(16) + "\r\n";
        m += "CSeq: 1 OPTIONS\r\n";
        m += "Contact: <sip:lbcheck@" + at + ">\r\n";
        m += "X-Farm-Media: test\r\n";
        m += "Content-Type: application/sdp\r\n";
        m += "Content-Length: " + std::to_string(sdp.size()) + "\r\n\r\n" + sdp;
        return m;
    }

    std::string garbage(size_t n) {
        std::string out(12 + m_rng() % 160, '\0');
        for (auto& c : out)
            c = static_cast<char>(m_rng() & 0xff);
        if (n % 2 == 1) {
            out[0] = static_cast<char>(0x80); // RTP version 2
            out[1] = static_cast<char>(m_rng() & 0x7f);
        }
        return out;
    }

    uint16_t random_port(uint16_t lo, uint16_t hi) {
        return static_cast<uint16_t>(lo + m_rng() % (static_cast<unsigned>(hi - lo) + 1));
    }

private:
    const Options& m_o;
    std::mt19937 m_rng;
};

void count_answer(std::string_view a, std::map<std::string, long>& seen) {
    ++seen["answers"];
    if (a.substr(0, 8) == "SIP/2.0 " && a.size() >= 11)
        ++seen["status_" + std::string(a.substr(8, 3))];
    if (a.find("\r\nX-Farm-Media-Caller:") != std::string_view::npos)
        ++seen["granted"];
    if (a.find("\r\nX-Farm-Media-Error:") != std::string_view::npos)
        ++seen["refused"];
}

void read_answers(const std::vector<Source>& sources, std::map<std::string, long>& seen) {
    char buf[65536];
    for (const auto& s : sources) {
        for (int i = 0; i < 1000; ++i) {
            ssize_t n = recv(s.fd, buf, sizeof buf, 0);
            if (n <= 0)
                break;
            count_answer(std::string_view(buf, static_cast<size_t>(n)), seen);
        }
    }
}

double number(const char* s, const char* what) {
    char* end = nullptr;
    double v = std::strtod(s, &end);
    if (end == s || *end != '\0' || v < 0)
        die(std::string("bad ") + what + ": '" + s + "'");
    return v;
}

Options parse(int argc, char** argv) {
    if (argc < 2)
        die("usage: edgestorm invite|probe|garbage --target ... --from ... (see the source)");
    Options o;
    o.mode = argv[1];
    for (int i = 2; i < argc; i += 2) {
        std::string k = argv[i];
        if (i + 1 >= argc)
            die(k + " needs a value");
        const char* v = argv[i + 1];
        if (k == "--target")
            o.target = v;
        else if (k == "--from")
            o.from = v;
        else if (k == "--sdp")
            o.sdp_at = v;
        else if (k == "--ports")
            o.ports = v;
        else if (k == "--prefix")
            o.prefix = v;
        else if (k == "--user")
            o.user = v;
        else if (k == "--count")
            o.count = static_cast<long>(number(v, k.c_str()));
        else if (k == "--rate")
            o.rate = number(v, k.c_str());
        else if (k == "--seconds")
            o.seconds = number(v, k.c_str());
        else if (k == "--linger")
            o.linger = number(v, k.c_str());
        else if (k == "--max-forwards")
            o.max_forwards = static_cast<long>(number(v, k.c_str()));
        else if (k == "--mlines")
            o.mlines = static_cast<long>(number(v, k.c_str()));
        else if (k == "--call-id-len")
            o.call_id_len = static_cast<long>(number(v, k.c_str()));
        else
            die("unknown option " + k);
    }
    if (o.mode != "invite" && o.mode != "probe" && o.mode != "garbage")
        die("mode must be invite, probe or garbage, not '" + o.mode + "'");
    if (o.target.empty() || o.from.empty())
        die("--target and --from are required");
    if (o.count < 1 || o.count > 100000 || o.rate <= 0 || o.seconds > 60 || o.linger > 10 ||
        o.mlines > 64 || o.call_id_len > 16384)
        die("out of bounds: --count 1..100000, --rate > 0, --seconds <= 60, --linger <= 10, "
            "--mlines <= 64, --call-id-len <= 16384");
    if (o.mode == "probe" && o.sdp_at.find(':') == std::string::npos)
        die("probe needs --sdp IP:PORT");
    if (o.mode == "garbage" && o.ports.find('-') == std::string::npos)
        die("garbage needs --ports LO-HI");
    return o;
}

} // namespace

int main(int argc, char** argv) {
    Options o = parse(argc, argv);
    std::vector<Source> sources;
    for (in_addr a : parse_sources(o.from))
        sources.push_back(open_source(a));

    sockaddr_in dest{};
    std::string target_ip;
    uint16_t lo = 0;
    uint16_t hi = 0;
    if (o.mode == "garbage") {
        dest.sin_family = AF_INET;
        dest.sin_addr = parse_ip(o.target);
        target_ip = o.target;
        long l = std::strtol(o.ports.c_str(), nullptr, 10);
        long h = std::strtol(o.ports.c_str() + o.ports.find('-') + 1, nullptr, 10);
        if (l < 1 || h > 65535 || h < l)
            die("bad --ports '" + o.ports + "'");
        lo = static_cast<uint16_t>(l);
        hi = static_cast<uint16_t>(h);
    } else {
        dest = parse_endpoint(o.target);
        target_ip = o.target.substr(0, o.target.rfind(':'));
    }

    Storm storm(o);
    std::map<std::string, long> seen;
    long sent = 0;
    long errors = 0;
    const double start = now_s();
    for (long i = 0; i < o.count; ++i) {
        // Open loop at --rate: datagram i leaves at start + i / rate.
        double due = start + static_cast<double>(i) / o.rate;
        if (due - start > o.seconds)
            break;
        double wait = due - now_s();
        if (wait > 0)
            sleep_s(wait);
        const Source& s = sources[static_cast<size_t>(i) % sources.size()];
        std::string msg;
        if (o.mode == "invite")
            msg = storm.invite(s, target_ip);
        else if (o.mode == "probe")
            msg = storm.probe(s, target_ip);
        else {
            msg = storm.garbage(static_cast<size_t>(i));
            dest.sin_port = htons(storm.random_port(lo, hi));
        }
        if (sendto(s.fd, msg.data(), msg.size(), 0, reinterpret_cast<sockaddr*>(&dest),
                   sizeof dest) < 0)
            ++errors;
        else
            ++sent;
        read_answers(sources, seen);
    }
    const double sending = now_s() - start;
    const double until = now_s() + o.linger;
    while (now_s() < until) {
        std::vector<pollfd> fds;
        for (const auto& s : sources)
            fds.push_back(pollfd{s.fd, POLLIN, 0});
        int left_ms = static_cast<int>((until - now_s()) * 1000) + 1;
        if (poll(fds.data(), fds.size(), left_ms) <= 0)
            break;
        read_answers(sources, seen);
    }
    std::printf("mode=%s sent=%ld send_errors=%ld seconds=%.2f", o.mode.c_str(), sent, errors,
                sending);
    for (const char* k : {"answers", "granted", "refused"})
        std::printf(" %s=%ld", k, seen[k]);
    for (const auto& [k, v] : seen)
        if (k.rfind("status_", 0) == 0)
            std::printf(" %s=%ld", k.c_str(), v);
    std::printf("\n");
    for (const auto& s : sources)
        close(s.fd);
    return 0;
}
