// libFuzzer target for the farm link envelope (sip/farm_link.hpp). The input
// is a secret (a length byte, then up to 32 bytes; none is a cluster without
// one) and a datagram. Whatever decode_farm_packet() accepts obeys the rules
// its header states (hops 1-8, a known transport, a connection exactly with
// T and S, at most 8 members asked, no connection flag with the heartbeat or
// outbound ones) and round-trips: encoding the envelope and payload again
// under the same secret decodes to the same envelope and payload. A packet
// accepted with a secret is refused under another one. Seeds: packets from
// encode_farm_packet(), written by the target itself (fuzz_util.hpp).
#include "fuzz_util.hpp"

#include "sip/farm_link.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

using namespace rtfarm;
using namespace rtfarm::sip;
using rtfarm::fuzz::check;

namespace {

SockAddr addr(std::string_view text) {
    return SockAddr::parse(text).value();
}

// The fuzz input for `secret` and `datagram`.
std::string input(std::string_view secret, std::string_view datagram) {
    return std::string(1, static_cast<char>(secret.size())) + std::string(secret) +
           std::string(datagram);
}

std::vector<std::string> seeds() {
    const std::string invite = "INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP "
                               "198.51.100.10:5060;branch=z9hG4bK1\r\nContent-Length: 0\r\n\r\n";
    FarmEnvelope udp;
    udp.source = addr("198.51.100.10:5060");
    udp.destination = addr("203.0.113.1:5060");
    udp.receiver = "f1";
    udp.sender = "f1";
    FarmEnvelope tcp = udp;
    tcp.transport = rtfarm::Transport::tcp;
    tcp.connection = 0x0102030405060708ull;
    tcp.hops = 2;
    tcp.asked = {"f2", "f3"};
    tcp.source = addr("[2001:db8::10]:40312");
    FarmEnvelope to_conn = tcp;
    to_conn.transport = rtfarm::Transport::tls;
    to_conn.flags = FARM_FLAG_TO_CONNECTION;
    FarmEnvelope heartbeat = udp;
    heartbeat.flags = FARM_FLAG_HEARTBEAT;
    FarmEnvelope outbound = udp;
    outbound.flags = FARM_FLAG_OUTBOUND;
    outbound.hops = FARM_LINK_MAX_HOPS;
    std::vector<std::string> out;
    for (std::string_view secret : {"", "cluster secret"}) {
        out.push_back(input(secret, encode_farm_packet(udp, invite, secret)));
        out.push_back(input(secret, encode_farm_packet(tcp, invite, secret)));
        out.push_back(input(secret, encode_farm_packet(to_conn, "SIP/2.0 200 OK\r\n\r\n", secret)));
        out.push_back(input(secret, encode_farm_packet(heartbeat, "{\"hb\":1}", secret)));
        out.push_back(input(secret, encode_farm_packet(outbound, "", secret)));
    }
    return out;
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    fuzz::write_seeds_and_exit(seeds());
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    fuzz::Cursor in{std::string_view(reinterpret_cast<const char*>(data), size)};
    std::string secret(in.bytes(32));
    std::string_view datagram = in.rest();

    auto r = decode_farm_packet(datagram, secret);
    if (!r.ok()) {
        const std::string& code = r.error().code;
        check(code == "farm_malformed" || code == "farm_unauthenticated" ||
              code == "farm_bad_mac" || code == "farm_hops");
        check(!r.error().message.empty());
        return 0;
    }
    check(looks_like_farm_packet(datagram));
    const FarmEnvelope& e = r->envelope;
    check(e.hops >= 1 && e.hops <= FARM_LINK_MAX_HOPS);
    check(e.transport == rtfarm::Transport::udp || e.transport == rtfarm::Transport::tcp ||
          e.transport == rtfarm::Transport::tls);
    check((e.transport == rtfarm::Transport::udp) == (e.connection == 0));
    check(e.asked.size() <= FARM_LINK_MAX_HOPS);
    check(!(e.flags & FARM_FLAG_TO_CONNECTION) ||
          !(e.flags & (FARM_FLAG_HEARTBEAT | FARM_FLAG_OUTBOUND)));
    check(e.source.is_v4() || e.source.is_v6());
    check(e.destination.is_v4() || e.destination.is_v6());
    // The payload is the datagram's tail, unchanged.
    check(r->payload.data() + r->payload.size() == datagram.data() + datagram.size());

    // decode(encode(x)) == x, with the same secret and with none.
    std::string again = encode_farm_packet(e, r->payload, secret);
    check(looks_like_farm_packet(again));
    auto back = decode_farm_packet(again, secret);
    check(back.ok());
    check(back->envelope == e && back->payload == r->payload);
    std::string unsigned_packet = encode_farm_packet(e, r->payload, "");
    auto plain = decode_farm_packet(unsigned_packet, "");
    check(plain.ok() && plain->envelope == e && plain->payload == r->payload);
    if (!secret.empty()) {
        // Without a MAC, or under another secret: refused.
        auto bare = decode_farm_packet(unsigned_packet, secret);
        check(!bare.ok() && bare.error().code == "farm_unauthenticated");
        auto other = decode_farm_packet(again, secret + "x");
        check(!other.ok() && other.error().code == "farm_bad_mac");
    }
    return 0;
}
