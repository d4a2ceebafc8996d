// Loopback helpers for the media tests (relay_test, calls_test): UDP
// endpoints that play the phones, RTP and RTCP packets whose payload shows a
// swap or a truncation, the count of open descriptors, and a bounded pump of
// an ev::Loop (never a sleep for the outcome). Test code only; nothing here
// knows about sessions or SDP.
#pragma once

#include "base/log.hpp"
#include "base/sockaddr.hpp"
#include "ev/loop.hpp"
#include "media/latch.hpp"
#include "net/socket.hpp"
#include "net/udp.hpp"

#include <boost/test/unit_test.hpp>

#include <dirent.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace rtfarm::test {

using namespace std::chrono_literals;

inline SockAddr addr(const std::string& text) {
    auto a = SockAddr::parse(text);
    BOOST_REQUIRE_MESSAGE(a.ok(), text);
    return *a;
}

inline size_t open_fds() {
    size_t n = 0;
    DIR* d = ::opendir("/proc/self/fd");
    BOOST_REQUIRE(d != nullptr);
    while (dirent* e = ::readdir(d))
        if (e->d_name[0] != '.')
            ++n;
    ::closedir(d);
    return n - 1; // the directory's own fd
}

inline bool can_bind(uint16_t port, const std::string& host = "127.0.0.1") {
    auto a = addr(host + ":0");
    a.set_port(port);
    return net::udp_bind(a).ok();
}

struct Received {
    std::string bytes;
    SockAddr source;
};

// A phone's socket on loopback.
class Endpoint {
public:
    explicit Endpoint(const std::string& host = "127.0.0.1") {
        auto fd = net::udp_bind(addr(host + ":0"));
        BOOST_REQUIRE_MESSAGE(fd.ok(), (fd.ok() ? "" : fd.error().message));
        m_fd = std::move(fd.value());
        auto a = net::local_address(m_fd.get());
        BOOST_REQUIRE(a.ok());
        m_addr = *a;
    }
    const SockAddr& address() const { return m_addr; }
    uint16_t port() const { return m_addr.port(); }
    void send(const SockAddr& to, std::string_view bytes) const {
        auto st = net::send_datagram(m_fd.get(), bytes, to);
        BOOST_REQUIRE_MESSAGE(st.ok(), (st.ok() ? "" : st.error().message));
    }
    // Moves whatever has arrived into the inbox.
    void drain() {
        for (;;) {
            auto got = m_rx.receive(m_fd.get());
            BOOST_REQUIRE(got.ok());
            if (got->empty())
                return;
            for (const auto& d : *got)
                inbox.push_back({std::string(d.bytes), d.source});
        }
    }
    std::deque<Received> inbox;

private:
    UniqueFd m_fd;
    SockAddr m_addr;
    net::UdpReceiver m_rx{8, 4096};
};

// A phone with an RTP and an RTCP socket.
struct Phone {
    Endpoint rtp;
    Endpoint rtcp;
    explicit Phone(const std::string& host = "127.0.0.1")
        : rtp(host)
        , rtcp(host) {}
    media::Peer peer() const { return media::Peer::from_sdp(rtp.address(), rtcp.address().port()); }
};

// An RTP-looking packet: version 2, payload type `pt`, sequence `seq`, and
// a payload that differs with `seq` (so a swap or a truncation shows).
inline std::string rtp(uint16_t seq, size_t size = 172, uint8_t pt = 0) {
    std::string p(size, '\0');
    const uint8_t head[12] = {0x80, pt,  uint8_t(seq >> 8), uint8_t(seq), 0, 0, 0, 160, 0xde, 0xad,
                              0xbe, 0xef};
    for (size_t i = 0; i < size; ++i)
        p[i] = static_cast<char>(i < 12 ? head[i] : (i * 7 + seq) & 0xff);
    return p;
}

// An RTCP receiver report of `size` bytes (padding after the header).
inline std::string rtcp(uint8_t tag, size_t size = 32) {
    std::string p(size, static_cast<char>(tag));
    p[0] = static_cast<char>(0x81);
    p[1] = static_cast<char>(201);
    return p;
}

// Silences the relay's info lines (latched, closed) in tests.
struct QuietMedia {
    QuietMedia() { log::set_level("media", log::Level::warn); }
    ~QuietMedia() { log::set_level("media", log::Level::info); }
};

// Runs `loop` without blocking until `done`, at most `timeout`.
inline bool pump_until(ev::Loop& loop, const std::function<bool()>& done,
                       std::chrono::milliseconds timeout = 3000ms) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        event_base_loop(loop.base(), EVLOOP_NONBLOCK);
        if (done())
            return true;
        if (std::chrono::steady_clock::now() > deadline)
            return false;
        ::usleep(100);
    }
}

} // namespace rtfarm::test
