#include "sip/farm_link.hpp"

#include "base/assert.hpp"
#include "base/crypto.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

namespace rtfarm::sip {
namespace {

// The envelope's transport byte: U, T or S; '?' for a transport the farm
// link does not carry (the receiver refuses it).
char transport_byte(Transport t) {
    switch (t) {
    case Transport::udp:
        return 'U';
    case Transport::tcp:
        return 'T';
    case Transport::tls:
        return 'S';
    default:
        return '?';
    }
}

void put_addr(std::string& out, const SockAddr& a) {
    unsigned char raw[16] = {};
    uint8_t family = 0;
    if (a.is_v4()) {
        family = 4;
        std::memcpy(raw, &reinterpret_cast<const sockaddr_in*>(a.sa())->sin_addr, 4);
    } else if (a.is_v6()) {
        family = 6;
        std::memcpy(raw, &reinterpret_cast<const sockaddr_in6*>(a.sa())->sin6_addr, 16);
    }
    out += static_cast<char>(family);
    out += static_cast<char>(a.port() >> 8);
    out += static_cast<char>(a.port() & 0xff);
    out.append(reinterpret_cast<const char*>(raw), 16);
}

// A cursor with a sticky failure flag: reads past the end yield zeros and
// set `bad`, checked once at the end.
struct Reader {
    std::string_view data;
    size_t pos = 0;
    bool bad = false;

    uint8_t byte() {
        if (pos >= data.size()) {
            bad = true;
            return 0;
        }
        return static_cast<uint8_t>(data[pos++]);
    }
    std::string_view bytes(size_t n) {
        if (data.size() - pos < n) {
            bad = true;
            pos = data.size();
            return {};
        }
        auto v = data.substr(pos, n);
        pos += n;
        return v;
    }
    SockAddr addr() {
        uint8_t family = byte();
        uint16_t port = static_cast<uint16_t>((byte() << 8) | byte());
        std::string_view raw = bytes(16);
        if (bad)
            return {};
        sockaddr_storage ss{};
        if (family == 4) {
            auto* in = reinterpret_cast<sockaddr_in*>(&ss);
            in->sin_family = AF_INET;
            in->sin_port = htons(port);
            std::memcpy(&in->sin_addr, raw.data(), 4);
            return SockAddr::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), sizeof(sockaddr_in))
                .value();
        }
        if (family == 6) {
            auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
            in6->sin6_family = AF_INET6;
            in6->sin6_port = htons(port);
            std::memcpy(&in6->sin6_addr, raw.data(), 16);
            return SockAddr::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), sizeof(sockaddr_in6))
                .value();
        }
        bad = true;
        return {};
    }
    std::string id() {
        uint8_t n = byte();
        return std::string(bytes(n));
    }
};

// The MAC: HMAC-SHA256 under the cluster secret, truncated.
std::string mac_of(std::string_view secret, std::string_view head, std::string_view payload) {
    return crypto::hmac_sha256(secret, {head, payload}).substr(0, FARM_LINK_MAC_BYTES);
}

} // namespace

bool looks_like_farm_packet(std::string_view datagram) {
    return datagram.substr(0, FARM_LINK_MAGIC.size()) == FARM_LINK_MAGIC;
}

std::string encode_farm_packet(const FarmEnvelope& env, std::string_view payload,
                               std::string_view secret) {
    std::string out;
    out.reserve(64 + env.receiver.size() + env.sender.size() + payload.size());
    out += FARM_LINK_MAGIC;
    out += static_cast<char>(FARM_LINK_VERSION);
    out += static_cast<char>(env.flags);
    out += static_cast<char>(env.hops);
    out += transport_byte(env.transport);
    for (int shift = 56; shift >= 0; shift -= 8)
        out += static_cast<char>((env.connection >> shift) & 0xff);
    put_addr(out, env.source);
    put_addr(out, env.destination);
    out += static_cast<char>(env.receiver.size());
    out += env.receiver;
    out += static_cast<char>(env.sender.size());
    out += env.sender;
    out += static_cast<char>(env.to.size());
    out += env.to;
    for (uint64_t v : {env.incarnation, env.sequence})
        for (int shift = 56; shift >= 0; shift -= 8)
            out += static_cast<char>((v >> shift) & 0xff);
    RTFARM_ASSERT(env.asked.size() <= FARM_LINK_MAX_HOPS);
    out += static_cast<char>(env.asked.size());
    for (const auto& id : env.asked) {
        out += static_cast<char>(id.size());
        out += id;
    }
    if (secret.empty()) {
        out += static_cast<char>(0);
    } else {
        out += static_cast<char>(FARM_LINK_MAC_BYTES);
        out += mac_of(secret, out, payload);
    }
    out += payload;
    return out;
}

Result<FarmPacket> decode_farm_packet(std::string_view datagram, std::string_view secret) {
    if (secret.empty())
        return decode_farm_packet(datagram, std::span<const std::string>{});
    const std::string one(secret);
    return decode_farm_packet(datagram, std::span<const std::string>(&one, 1));
}

Result<FarmPacket> decode_farm_packet(std::string_view datagram,
                                      std::span<const std::string> secrets) {
    if (!looks_like_farm_packet(datagram))
        return make_error("farm_malformed", "not a farm link packet (no RTF1 magic)");
    Reader r{datagram, FARM_LINK_MAGIC.size()};
    uint8_t version = r.byte();
    FarmPacket p;
    p.envelope.flags = r.byte();
    p.envelope.hops = r.byte();
    uint8_t transport = r.byte();
    p.envelope.transport = transport == 'U'   ? Transport::udp
                           : transport == 'T' ? Transport::tcp
                           : transport == 'S' ? Transport::tls
                                              : Transport::other;
    for (int i = 0; i < 8; ++i)
        p.envelope.connection = (p.envelope.connection << 8) | r.byte();
    p.envelope.source = r.addr();
    p.envelope.destination = r.addr();
    p.envelope.receiver = r.id();
    p.envelope.sender = r.id();
    p.envelope.to = r.id();
    for (uint64_t* v : {&p.envelope.incarnation, &p.envelope.sequence})
        for (int i = 0; i < 8; ++i)
            *v = (*v << 8) | r.byte();
    uint8_t asked = r.byte();
    for (uint8_t i = 0; i < asked && !r.bad && asked <= FARM_LINK_MAX_HOPS; ++i)
        p.envelope.asked.push_back(r.id());
    size_t head_end = r.pos;
    uint8_t mac_len = r.byte();
    std::string_view mac = r.bytes(mac_len);
    if (r.bad)
        return make_error("farm_malformed", "farm link packet truncated in its envelope");
    if (version != FARM_LINK_VERSION)
        return make_error("farm_malformed", "farm link version " + std::to_string(version) +
                                                " (want " + std::to_string(FARM_LINK_VERSION) +
                                                ")");
    const FarmEnvelope& e = p.envelope;
    if (e.transport == Transport::other)
        return make_error("farm_malformed",
                          "farm link packet with transport byte " + std::to_string(transport));
    if ((e.transport == Transport::udp) != (e.connection == 0))
        return make_error("farm_malformed",
                          e.transport == Transport::udp
                              ? "farm link UDP packet naming a connection"
                              : "farm link TCP/TLS packet without its connection");
    if ((e.flags & FARM_FLAG_TO_CONNECTION) &&
        (e.flags & (FARM_FLAG_HEARTBEAT | FARM_FLAG_OUTBOUND)))
        return make_error("farm_malformed",
                          "farm link packet to a connection with flags " + std::to_string(e.flags));
    if (asked > FARM_LINK_MAX_HOPS)
        return make_error("farm_malformed",
                          "farm link packet naming " + std::to_string(asked) + " members asked");
    if (mac_len != 0 && mac_len != FARM_LINK_MAC_BYTES)
        return make_error("farm_malformed",
                          "farm link MAC of " + std::to_string(mac_len) + " bytes");
    if (p.envelope.hops == 0 || p.envelope.hops > FARM_LINK_MAX_HOPS)
        return make_error("farm_hops", "farm link packet with " + std::to_string(p.envelope.hops) +
                                           " hops (1-" + std::to_string(FARM_LINK_MAX_HOPS) + ")");
    p.payload = datagram.substr(r.pos);
    if (!secrets.empty()) {
        if (mac_len == 0)
            return make_error("farm_unauthenticated",
                              "farm link packet without a MAC, and the cluster has a secret");
        // The MAC covers the envelope up to and including its length byte.
        std::string_view head = datagram.substr(0, head_end + 1);
        bool good = false;
        for (const auto& secret : secrets)
            if (crypto::equal_constant_time(mac_of(secret, head, p.payload), mac)) {
                good = true;
                break;
            }
        if (!good)
            return make_error("farm_bad_mac", "farm link packet with a wrong MAC");
    }
    return p;
}

bool FarmReplayGuard::accept(const std::string& sender, uint64_t incarnation, uint64_t sequence,
                             Clock::time_point now, Clock::duration dead_after) {
    auto [it, fresh] = m_senders.try_emplace(sender);
    Window& w = it->second;
    const bool restart = fresh || incarnation > w.incarnation ||
                         (incarnation < w.incarnation && now - w.last >= dead_after);
    if (restart) {
        w.incarnation = incarnation;
        w.highest = sequence;
        w.seen.assign(WINDOW / 64, 0);
    } else if (incarnation != w.incarnation) {
        return false; // an earlier run's packet while this run speaks
    } else if (sequence > w.highest) {
        // Forget the numbers the window slides past.
        uint64_t step = sequence - w.highest;
        if (step >= WINDOW) {
            std::fill(w.seen.begin(), w.seen.end(), 0);
        } else {
            for (uint64_t s = w.highest + 1; s <= sequence; ++s)
                w.seen[(s % WINDOW) / 64] &= ~(uint64_t{1} << (s % 64));
        }
        w.highest = sequence;
    } else if (w.highest - sequence >= WINDOW) {
        return false; // too old to tell: refused
    } else if (w.seen[(sequence % WINDOW) / 64] & (uint64_t{1} << (sequence % 64))) {
        return false; // seen before
    }
    w.seen[(sequence % WINDOW) / 64] |= uint64_t{1} << (sequence % 64);
    w.last = now;
    return true;
}

void FarmReplayGuard::keep_only(const std::vector<std::string>& senders) {
    std::erase_if(m_senders, [&](const auto& kv) {
        return std::find(senders.begin(), senders.end(), kv.first) == senders.end();
    });
}

} // namespace rtfarm::sip
