// trivial_relay: the machine's limit for test/bench/media.sh, a relay that
// does nothing but move datagrams.
//
//   trivial_relay --listen IP:BASE --pairs N --caller IP:PORT --callee IP:PORT
//                 [--notify-fd FD]
//
// Pair i is the ports BASE+2i (caller side) and BASE+2i+1 (callee side).
// What arrives on the caller side is sent from the callee side to --callee,
// and back: fixed peers, no signalling, no latching, no inspection. One
// thread, level-triggered epoll over every socket, per ready socket one
// recvmmsg() batch and one sendmmsg() from its partner (each datagram with
// its address, as a relay must: the sockets are not connected). It blocks
// in epoll_wait() when idle, like the relays it is compared with.
//
// Writes a newline to --notify-fd once every socket is bound. On SIGTERM or
// SIGINT it prints "received=N forwarded=N send_errors=N" on stderr and
// exits 0; 2 on bad usage or a port it cannot bind.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "bench_net.hpp"

[[noreturn]] void die(const std::string& m) {
    std::fprintf(stderr, "trivial_relay: %s\n", m.c_str());
    std::exit(2);
}

namespace {

constexpr size_t BATCH = 64;
constexpr size_t MAX_DATAGRAM = 2048;
constexpr size_t MAX_PAIRS = 16384;

volatile sig_atomic_t g_stop = 0;

void on_signal(int) {
    g_stop = 1;
}

} // namespace

int main(int argc, char** argv) {
    std::string listen, caller, callee;
    size_t pairs = 0;
    int notify_fd = -1;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (i + 1 >= argc)
            die("missing value for " + a);
        std::string v = argv[++i];
        if (a == "--listen")
            listen = v;
        else if (a == "--pairs")
            pairs = std::strtoul(v.c_str(), nullptr, 10);
        else if (a == "--caller")
            caller = v;
        else if (a == "--callee")
            callee = v;
        else if (a == "--notify-fd")
            notify_fd = std::atoi(v.c_str());
        else
            die("unknown option " + a);
    }
    if (listen.empty() || caller.empty() || callee.empty() || pairs < 1 || pairs > MAX_PAIRS)
        die("usage: --listen IP:BASE --pairs 1.." + std::to_string(MAX_PAIRS) +
            " --caller IP:PORT --callee IP:PORT [--notify-fd FD]");
    const sockaddr_in base = parse_addr(listen);
    const sockaddr_in peer[2] = {parse_addr(caller), parse_addr(callee)};
    if (ntohs(base.sin_port) + 2 * pairs > 65536)
        die("the ports run past 65535");

    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGINT, &sa, nullptr);

    // fds[2i] faces the caller, fds[2i+1] the callee.
    std::vector<int> fds(2 * pairs);
    int ep = epoll_create1(0);
    if (ep < 0)
        die(std::string("epoll_create1: ") + std::strerror(errno));
    for (size_t k = 0; k < fds.size(); ++k) {
        int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
        if (fd < 0)
            die(std::string("socket: ") + std::strerror(errno));
        sockaddr_in a = base;
        a.sin_port = htons(static_cast<uint16_t>(ntohs(base.sin_port) + k));
        if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
            die("bind port " + std::to_string(ntohs(a.sin_port)) + ": " + std::strerror(errno));
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u64 = k;
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0)
            die(std::string("epoll_ctl: ") + std::strerror(errno));
        fds[k] = fd;
    }
    if (notify_fd >= 0) {
        (void)!write(notify_fd, "\n", 1);
        close(notify_fd);
    }

    static char bufs[BATCH][MAX_DATAGRAM];
    iovec iov[BATCH];
    mmsghdr msgs[BATCH];
    epoll_event events[BATCH];
    unsigned long long received = 0, forwarded = 0, send_errors = 0;
    while (!g_stop) {
        int n = epoll_wait(ep, events, BATCH, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die(std::string("epoll_wait: ") + std::strerror(errno));
        }
        for (int e = 0; e < n; ++e) {
            size_t k = events[e].data.u64;
            for (size_t i = 0; i < BATCH; ++i) {
                iov[i] = {bufs[i], MAX_DATAGRAM};
                msgs[i] = {};
                msgs[i].msg_hdr.msg_iov = &iov[i];
                msgs[i].msg_hdr.msg_iovlen = 1;
            }
            int got = recvmmsg(fds[k], msgs, BATCH, MSG_DONTWAIT, nullptr);
            if (got <= 0)
                continue;
            received += static_cast<unsigned>(got);
            // Out of the partner socket, to the partner side's peer.
            const sockaddr_in* to = &peer[(k % 2) ^ 1];
            for (int i = 0; i < got; ++i) {
                iov[i].iov_len = msgs[i].msg_len;
                msgs[i].msg_hdr.msg_name = const_cast<sockaddr_in*>(to);
                msgs[i].msg_hdr.msg_namelen = sizeof *to;
            }
            int done = 0;
            while (done < got) {
                int r = sendmmsg(fds[k ^ 1], msgs + done, static_cast<unsigned>(got - done), 0);
                if (r < 0) {
                    if (errno == EINTR)
                        continue;
                    ++send_errors; // drop the one that failed, keep the rest
                    ++done;
                    continue;
                }
                done += r;
                forwarded += static_cast<unsigned>(r);
            }
        }
    }
    std::fprintf(stderr, "received=%llu forwarded=%llu send_errors=%llu\n", received, forwarded,
                 send_errors);
    return 0;
}
