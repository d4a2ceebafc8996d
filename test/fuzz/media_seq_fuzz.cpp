// libFuzzer sequence target for the media state machines: the calls of
// rtprelayd (media/calls.hpp, over a real Relay on 127.0.0.1 and a small
// PortPool of ports found free at start) and the latch (media/latch.hpp,
// pure). The first byte picks which; the rest is a bounded list of
// operations, each an opcode byte and its arguments.
//
// Calls (at most 48 operations on 3 Call-IDs and 3 tags): offer, answer,
// exchange (offer, answer, automatic) with SDP built from the bytes (1-3
// m= lines, disabled or not, rtcp-mux, a=rtcp, addresses of both families
// and hold), our own last output sent back, remove, and expiry with the
// relay's clock moved on. After each operation: the pool's audit passes,
// one relay session per call, the ports the pool has handed out are
// exactly those the calls' streams hold (no leak, no stream without its
// ports), and a successful offer or answer wrote SDP that parses, naming
// ports that are allocated. After removing every call the pool is empty
// and the relay has no session.
//
// Latch (at most 64 operations on the two sides of one stream): packets of
// several sizes from several sources, new expected peers (a re-INVITE),
// relatch, rtcp-mux agreed, strictness switched. Each decision obeys
// latch.hpp: sizes first, a stranger is dropped only in strict mode, a
// strict side learns only a source with its SDP's address, a forwarded
// packet goes to the other side's destination(), and what is learned is
// what the next decision sees.
#include "fuzz_util.hpp"

#include "base/log.hpp"
#include "ev/loop.hpp"
#include "media/calls.hpp"
#include "media/latch.hpp"
#include "media/ports.hpp"
#include "media/sdp.hpp"
#include "net/socket.hpp"
#include "relay/relay.hpp"
#include "sip/osip.hpp"

#include <unistd.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

using namespace rtfarm;
using namespace rtfarm::media;
using rtfarm::fuzz::check;
using rtfarm::relay::Relay;
using rtfarm::relay::RelayCounters;
using rtfarm::relay::RelayOptions;
using namespace std::chrono_literals;

namespace {

SockAddr addr(std::string_view text) {
    return SockAddr::parse(text).value();
}

// `n` consecutive ports from an even one, bindable on 127.0.0.1 now (as
// test/unit/calls_test.cpp finds them).
PortRange free_range(uint32_t n) {
    const uint32_t lo = 33000, hi = 40000;
    uint32_t start = lo + (static_cast<uint32_t>(::getpid()) * 64) % (hi - lo);
    for (uint32_t tried = 0; tried < hi - lo; tried += 2) {
        uint32_t base = lo + ((start - lo + tried) % (hi - lo - n)) / 2 * 2;
        std::vector<UniqueFd> held;
        for (uint32_t p = base; p < base + n; ++p) {
            auto fd = net::udp_bind(addr("127.0.0.1:" + std::to_string(p)));
            if (!fd)
                break;
            held.push_back(std::move(fd.value()));
        }
        if (held.size() == n)
            return PortRange{static_cast<uint16_t>(base), static_cast<uint16_t>(base + n - 1)};
    }
    std::fprintf(stderr, "media_seq_fuzz: no %u free consecutive ports on 127.0.0.1\n", n);
    std::exit(1);
}

ev::Loop* g_loop = nullptr;
PortRange g_range;
Clock::time_point g_now = Clock::time_point{} + 1000s;

// SDP from the bytes: 1-3 m= lines.
std::string make_sdp(fuzz::Cursor& in) {
    static const char* const hosts[] = {"127.0.0.1", "127.0.0.2", "0.0.0.0", "::1"};
    size_t media = 1 + in.byte() % 3;
    std::string s =
        "v=0\r\no=- 1 " + std::to_string(in.byte() % 4) + " IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n";
    for (size_t i = 0; i < media; ++i) {
        uint8_t f = in.byte();
        uint16_t port = (f & 1) ? 0 : static_cast<uint16_t>(10000 + 2 * (in.byte() % 8));
        const char* host = hosts[(f >> 3) & 3];
        const char* proto = (f & 0x60) == 0x60 ? "TCP/RTP/AVP" : "RTP/AVP";
        s += std::string("m=audio ") + std::to_string(port) + " " + proto + " 0\r\n";
        s += std::string("c=IN ") + (host[0] == ':' ? "IP6 " : "IP4 ") + host + "\r\n";
        if (f & 2)
            s += "a=rtcp-mux\r\n";
        if (f & 4)
            s += "a=rtcp:" + std::to_string(port + 5) + "\r\n";
        if (f & 0x80)
            s += "a=sendonly\r\n";
    }
    return s;
}

// Ports the calls' streams hold, by the relay's view of them.
size_t ports_held(const Calls& calls) {
    size_t n = 0;
    for (const CallInfo& c : calls.list())
        for (const CallStreamInfo& s : c.streams)
            for (const SideInfo& side : s.relay.sides)
                n += side.rtcp_mux ? 1 : 2;
    return n;
}

void check_out(const PortPool& pool, const SdpOut& out) {
    auto d = parse_sdp(out.sdp);
    check(d.ok());
    if (std::getenv("RTFARM_FUZZ_VERBOSE"))
        std::fprintf(stderr, "out: unchanged=%d answer=%d ports=%zu sdp:\n%s\n", out.unchanged,
                     out.answer, out.ports.size(), out.sdp.c_str());
    // Our own SDP back is passed as it was, and reports no ports (calls.cpp
    // Calls::unchanged()).
    check(out.unchanged ? out.ports.empty() : d->media.size() == out.ports.size());
    for (const StreamPorts& p : out.ports) {
        if (p.rtp == 0)
            continue;
        check(pool.allocated(p.rtp));
        check(p.mux() || pool.allocated(p.rtcp));
    }
}

void calls_sequence(fuzz::Cursor& in) {
    // Every input starts at the same time (and the clock cannot overflow over a long run).
    g_now = Clock::time_point{} + 1000s;
    Relay relay(*g_loop, RelayOptions{}, [] { return g_now; });
    PortPool pool(g_range);
    CallsOptions options;
    options.advertised = addr("127.0.0.1:0");
    options.bind = addr("127.0.0.1:0");
    options.strict = in.byte() & 1;
    options.timeout = 60s;
    options.unanswered_timeout = 120s;
    auto calls = std::make_unique<Calls>(relay, pool, options);
    std::string last_out;
    for (int ops = 0; !in.done() && ops < 48; ++ops) {
        uint8_t op = in.byte();
        std::string call_id = "c" + std::to_string(in.byte() % 3);
        std::string a = "t" + std::to_string(in.byte() % 3);
        std::string b = (op & 0x80) ? "" : "t" + std::to_string(in.byte() % 3);
        Result<SdpOut> r = make_error("none", "no SDP operation");
        switch (op % 8) {
        case 0:
        case 1: {
            std::string sdp = make_sdp(in);
            r = calls->offer(call_id, a, b, sdp);
            break;
        }
        case 2:
        case 3: {
            std::string sdp = make_sdp(in);
            r = calls->answer(call_id, a, b, sdp);
            break;
        }
        case 4: {
            std::string sdp = make_sdp(in);
            r = calls->exchange(call_id, a, b, sdp, static_cast<Exchange>(in.byte() % 3),
                                static_cast<Dialog>(in.byte() % 3));
            break;
        }
        case 5:
            calls->remove(call_id, CallEnd::deleted);
            break;
        case 6:
            g_now += in.byte() * 1s;
            calls->expire(g_now);
            break;
        case 7:
            if (!last_out.empty())
                r = calls->exchange(call_id, a, b, last_out, static_cast<Exchange>(in.byte() % 3),
                                    static_cast<Dialog>(in.byte() % 3));
            break;
        }
        if (r.ok()) {
            check_out(pool, *r);
            last_out = r->sdp;
        } else {
            check(!r.error().code.empty());
        }
        Status audit = pool.audit();
        if (!audit.ok())
            std::fprintf(stderr, "audit: %s\n", audit.error().message.c_str());
        check(audit.ok());
        check(relay.sessions().size() == calls->size());
        check(pool.counters().in_use == ports_held(*calls));
    }
    for (const CallInfo& c : calls->list())
        check(calls->remove(c.call_id, CallEnd::deleted));
    check(calls->size() == 0 && relay.sessions().empty());
    check(pool.counters().in_use == 0 && pool.counters().streams == 0);
    check(pool.audit().ok());
    calls.reset();
}

void latch_sequence(fuzz::Cursor& in) {
    static const std::array<SockAddr, 8> sources = {
        addr("127.0.0.1:4000"), addr("127.0.0.1:4001"),    addr("127.0.0.1:5000"),
        addr("127.0.0.2:4000"), addr("10.0.0.1:4000"),     addr("10.0.0.1:4001"),
        addr("[::1]:4000"),     addr("[2001:db8::1]:4001")};
    static const std::array<size_t, 8> sizes = {0, 7, 8, 11, 12, 160, 1500, 1501};
    std::array<Latch, 2> side;
    side[0].strict = in.byte() & 1;
    side[1].strict = in.byte() & 1;
    for (int ops = 0; !in.done() && ops < 64; ++ops) {
        uint8_t op = in.byte();
        size_t s = (op >> 3) & 1;
        Latch& from = side[s];
        Latch& to = side[1 - s];
        auto c = static_cast<Component>((op >> 4) & 1);
        switch (op % 5) {
        case 0: {
            const SockAddr& src = sources[in.byte() % sources.size()];
            size_t size = sizes[in.byte() % sizes.size()];
            Decision d = decide(from, to, c, src, size);
            if (size > MAX_MEDIA_PACKET) {
                check(d.drop == Drop::oversize && !d.learn);
                break;
            }
            if (size < (c == Component::rtp ? MIN_RTP_PACKET : MIN_RTCP_PACKET)) {
                check(d.drop == Drop::too_small && !d.learn);
                break;
            }
            const SockAddr& expected = from.expected.of(c);
            const SockAddr* learned = from.learned_peer(c);
            bool exact = usable(expected) && src == expected;
            if (d.drop == Drop::stranger)
                check(from.strict && !d.learn && !exact);
            if (from.strict && d.learn) {
                // Never a stranger: the SDP's address (any port), or for RTCP its RTP address.
                auto matches = [&](const SockAddr& e) {
                    return e.valid() && !e.is_any() && e.same_host(src);
                };
                check(exact ||
                      (learned == nullptr && (matches(expected) || (c == Component::rtcp &&
                                                                    matches(from.expected.rtp)))));
            }
            if (from.strict && learned != nullptr && !(*learned == src) && !exact)
                check(d.drop == Drop::stranger);
            if (!from.strict)
                check(d.drop != Drop::stranger);
            if (d.drop == Drop::none) {
                check(d.to != nullptr && usable(*d.to) && d.to == destination(to, c));
            } else if (d.drop == Drop::no_peer) {
                check(destination(to, c) == nullptr);
            }
            if (d.learn) {
                learn(from, c, src);
                check(from.learned_peer(c) != nullptr && *from.learned_peer(c) == src);
                // The same packet again: forwarded the same way, nothing more to learn.
                Decision again = decide(from, to, c, src, size);
                check(!again.learn && again.drop != Drop::stranger);
            }
            break;
        }
        case 1: {
            static const char* const hosts[] = {"127.0.0.1", "10.0.0.1", "0.0.0.0", "::1"};
            uint8_t f = in.byte();
            Peer p;
            if ((f & 3) != 3 || (f & 4)) {
                auto host = SockAddr::parse_host(hosts[(f >> 3) & 3], (f & 0x20) ? 4000 : 5000);
                check(host.ok());
                p = Peer::from_sdp(*host, (f & 0x40) ? 4007 : 0, f & 0x80);
            }
            Peer was = from.expected;
            uint32_t epoch = from.epoch;
            bool relatched = set_expected(from, p);
            check(relatched == (from.epoch == epoch + 1));
            check(from.epoch == epoch || from.epoch == epoch + 1);
            check(!relatched || was.rtp.valid());
            if (relatched)
                check(from.learned_peer(Component::rtp) == nullptr &&
                      from.learned_peer(Component::rtcp) == nullptr);
            break;
        }
        case 2:
            relatch(from);
            check(from.learned_peer(Component::rtp) == nullptr &&
                  from.learned_peer(Component::rtcp) == nullptr);
            break;
        case 3: {
            const SockAddr* rtp = from.learned_peer(Component::rtp);
            SockAddr kept = rtp ? *rtp : SockAddr();
            bool was_mux = from.mux;
            use_mux(from);
            check(from.mux);
            check(from.expected.rtcp == from.expected.rtp);
            if (rtp != nullptr)
                check(from.learned_peer(Component::rtp) &&
                      *from.learned_peer(Component::rtp) == kept);
            if (!was_mux)
                check(from.learned_peer(Component::rtcp) == nullptr);
            break;
        }
        case 4:
            from.strict = !from.strict;
            break;
        }
        for (const Latch& l : side)
            for (Component k : {Component::rtp, Component::rtcp}) {
                const SockAddr* dst = destination(l, k);
                check(dst == nullptr || usable(*dst));
            }
    }
    std::string packet(in.rest());
    Component k = mux_component(packet);
    check(k == ((packet.size() >= 2 && static_cast<uint8_t>(packet[1]) >= 192 &&
                 static_cast<uint8_t>(packet[1]) <= 223)
                    ? Component::rtcp
                    : Component::rtp));
}

std::vector<std::string> seeds() {
    // Calls: strict off; offer c0 t0 with one audio line; answer c0 t0->t1;
    // re-offer from the callee; our output back; remove c1; expire after 200 s.
    std::string calls = std::string("\x00\x00", 2);
    calls += std::string("\x00\x00\x00\x01", 4) + std::string("\x00\x01\x00\x01", 4);
    calls += std::string("\x02\x00\x00\x01", 4) + std::string("\x00\x01\x02\x01", 4);
    calls += std::string("\x00\x00\x01\x00", 4) + std::string("\x01\x02\x02\x03\x03", 5);
    calls += std::string("\x07\x00\x00\x01\x02", 5) + std::string("\x05\x01\x00\x00", 4);
    calls += std::string("\x86\x00\x00\xc8", 4);
    // Two lines with mux on the first, and a disabled second.
    std::string two = std::string("\x00\x01", 2) + std::string("\x00\x00\x00\x01", 4) +
                      std::string("\x01\x01\x02\x04\x01", 5) + std::string("\x02\x00\x00\x01", 4) +
                      std::string("\x01\x01\x02\x02\x03\x01", 6);
    // Latch: strict both; set expected on both sides; packets from the SDP
    // host, from a stranger; relatch; mux; packets again.
    std::string latch = std::string("\x01\x01\x01", 3);
    latch += std::string("\x01\x20", 2) + std::string("\x09\x20", 2);
    latch += std::string("\x00\x00\x05", 3) + std::string("\x08\x02\x05", 3);
    latch += std::string("\x00\x04\x05", 3) + std::string("\x10\x01\x04", 3);
    latch += std::string("\x02\x03\x00\x00\x05", 5) + std::string("\x04\x00\x03\x05", 4);
    latch += std::string("\x80\xc8\x00\x01", 4);
    return {calls, two, latch};
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    fuzz::write_seeds_and_exit(seeds());
    sip::osip_init_once();
    log::set_level("media", log::Level::error);
    g_loop = new ev::Loop();
    g_range = free_range(24);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    fuzz::Cursor in{std::string_view(reinterpret_cast<const char*>(data), size)};
    if (in.byte() & 1)
        latch_sequence(in);
    else
        calls_sequence(in);
    return 0;
}
