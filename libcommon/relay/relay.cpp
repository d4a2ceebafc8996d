#include "relay/relay.hpp"

#include "base/assert.hpp"
#include "base/log.hpp"
#include "base/unique_fd.hpp"

#include <sys/epoll.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

namespace rtfarm::relay {

using namespace media;

// Fields ordered so that nothing pads: a relay holds thousands of these.
struct Relay::Socket {
    UniqueFd fd;
    uint16_t port = 0;
    Component component = Component::rtp;
    bool mux = false;
    // The direction in the fast path's map (packets from the side's peer to
    // this port), while fp_on.
    rtfarm_fp_key fp_key{};
    bool watched = false; // in the epoll set
    bool fp_on = false;
    Side* side = nullptr;

    bool open() const { return fd.valid(); }
};

struct Relay::Side {
    Stream* stream = nullptr;
    Side* other = nullptr;
    SockAddr local;
    Leg leg = Leg::caller;
    Socket rtp;
    Socket rtcp; // not open with rtcp-mux
    Latch latch;
    SideCounters counters;
    // The last packet the fast path forwarded as of the last look
    // (last_activity()): a side the kernel keeps busy is read once per
    // idle period, not at every tick.
    mutable Clock::time_point kernel_seen{};

    // The socket this side's packets of component `c` leave from.
    Socket& out(Component c) { return c == Component::rtcp && rtcp.open() ? rtcp : rtp; }
};

struct Relay::Stream {
    Session* session = nullptr;
    size_t index = 0;
    Clock::time_point created{};
    std::array<Side, 2> sides;
};

struct Relay::Session {
    SessionId id = 0;
    std::string label;
    Clock::time_point created{};
    bool heard = false;                           // a party's packet came (Relay::heard())
    std::vector<std::unique_ptr<Stream>> streams; // closed ones are null
};

namespace {

std::string port_text(uint16_t port) {
    return port == 0 ? std::string("(any)") : std::to_string(port);
}

Status check_family(const Peer& p, const SockAddr& local, std::string_view leg) {
    for (const SockAddr* a : {&p.rtp, &p.rtcp})
        if (a->valid() && a->family() != local.family())
            return make_error("bad_address", std::string(leg) + " peer " + a->str() +
                                                 " is not of the family of local address " +
                                                 local.host());
    return {};
}

} // namespace

Relay::Relay(ev::Loop& loop, RelayOptions options, Now now)
    : m_loop(loop)
    , m_options(options)
    , m_now(now ? std::move(now) : Now([] { return Clock::now(); }))
    // One byte more than the limit: a longer datagram shows as oversize.
    , m_receiver(options.batch, MAX_MEDIA_PACKET + 1)
    , m_send_rtp(options.batch)
    , m_send_rtcp(options.batch) {
    // Now, so that the relay's descriptors are there from the start; if the
    // kernel refuses, the first stream tries again and says why.
    (void)open_epoll();
}

Relay::~Relay() {
    if (!m_sessions.empty())
        log::info("media", "relay closed", {{"sessions", std::to_string(m_sessions.size())}});
    // The program and its map go first (the kernel detaches it), then the
    // sockets close as their owners go.
    m_fast_path.reset();
    m_sessions.clear();
}

void Relay::set_fast_path(std::unique_ptr<FastPath> fast_path) {
    // Every entry out of the old map (its counters kept), then into the new.
    if (m_fast_path) {
        for (auto& [id, session] : m_sessions)
            for (auto& stream : session->streams)
                if (stream)
                    for (Side& side : stream->sides)
                        for (Socket* s : {&side.rtp, &side.rtcp})
                            fast_path_remove(*s);
        m_fast_path_past = fast_path_totals();
    }
    m_fast_path = std::move(fast_path);
    for (auto& [id, session] : m_sessions)
        for (auto& stream : session->streams)
            if (stream)
                sync(*stream);
}

FastPathTotals Relay::fast_path_totals() const {
    FastPathTotals t = m_fast_path_past;
    if (m_fast_path)
        t += m_fast_path->totals();
    return t;
}

RelayCounters Relay::counters() const {
    RelayCounters c = m_counters;
    const FastPathTotals t = fast_path_totals();
    c.packets += t.forwarded;
    c.bytes += t.bytes;
    return c;
}

void Relay::sync(Stream& stream) {
    if (!m_fast_path)
        return;
    for (Side& side : stream.sides) {
        const Side& to = *side.other;
        for (Socket* s : {&side.rtp, &side.rtcp}) {
            // A direction goes into the kernel exactly when the sockets
            // would forward its packets as they are (kernel_direction()).
            std::optional<KernelDirection> d;
            if (s->open() && side.local.is_v4())
                d = kernel_direction(side.latch, to.latch,
                                     SocketFacts{s->port, s->component, s->mux}, to.rtp.port,
                                     to.rtcp.open() ? to.rtcp.port : 0);
            std::optional<rtfarm_fp_key> key;
            if (d)
                key = FastPath::key(d->source, d->port);
            if (s->fp_on && key && std::memcmp(&*key, &s->fp_key, sizeof(*key)) == 0 &&
                m_fast_path->rule(*key) == d->rule)
                continue; // in the map as it should be
            // Out with its counters first (none lost; meanwhile the
            // direction's packets meet the socket, which forwards them too),
            // then in as it is now.
            fast_path_remove(*s);
            if (!key)
                continue;
            if (auto st = m_fast_path->put(*key, d->rule); !st) {
                ++m_counters.fast_path_refused;
                log::warn("media", "fast path refused a stream: it stays in userspace",
                          {{"session", stream.session->label},
                           {"port", std::to_string(s->port)},
                           {"err", st.error().message}});
                continue;
            }
            ++m_fast_path_entries;
            s->fp_key = *key;
            s->fp_on = true;
        }
    }
}

void Relay::fast_path_remove(Socket& socket) {
    if (!socket.fp_on)
        return;
    socket.fp_on = false;
    --m_fast_path_entries;
    if (m_fast_path)
        fold(*socket.side, m_fast_path->remove(socket.fp_key));
}

namespace {

// A kernel entry's counts added to a side's (its last_seen_ns is
// CLOCK_MONOTONIC, steady_clock's own).
void add_kernel(SideCounters& c, const FastPathCounters& k) {
    c.packets += k.packets;
    c.bytes += k.bytes;
    c.rtcp_packets += k.rtcp_packets;
    if (k.last_seen_ns != 0)
        c.last_packet =
            std::max(c.last_packet, Clock::time_point(std::chrono::duration_cast<Clock::duration>(
                                        std::chrono::nanoseconds(k.last_seen_ns))));
}

} // namespace

void Relay::fold(Side& side, const FastPathCounters& c) {
    add_kernel(side.counters, c);
}

void Relay::add_live(const Socket& socket, SideCounters& c) const {
    if (!socket.fp_on || !m_fast_path)
        return;
    if (auto live = m_fast_path->read(socket.fp_key))
        add_kernel(c, *live);
}

SessionId Relay::open_session(std::string label) {
    auto s = std::make_unique<Session>();
    s->id = m_next_id++;
    s->label = std::move(label);
    s->created = m_now();
    SessionId id = s->id;
    m_sessions.emplace(id, std::move(s));
    ++m_counters.sessions_opened;
    m_counters.sessions = m_sessions.size();
    return id;
}

Status Relay::open_side(Side& side, const SideSpec& spec, std::string_view leg) {
    if (!spec.local.valid())
        return make_error("bad_address", std::string(leg) + ": no local address");
    if (auto st = check_family(spec.expected, spec.local, leg); !st)
        return st;
    side.local = spec.local;
    side.latch.strict = spec.strict;
    side.latch.mux = spec.rtcp_mux;
    media::set_expected(side.latch, spec.expected);
    auto bind = [&](Socket& s, uint16_t port, Component c, std::string_view what) -> Status {
        SockAddr a = spec.local;
        a.set_port(port);
        auto fd = net::udp_bind(a, m_options.socket);
        if (!fd) {
            ++m_counters.bind_failures;
            std::string msg = std::string(leg) + " " + std::string(what) + " port " +
                              port_text(port) + ": " + fd.error().message;
            return make_error(fd.error().code == "in_use" ? "port_in_use" : fd.error().code,
                              std::move(msg));
        }
        if (port == 0) {
            auto bound = net::local_address(fd->get());
            if (!bound)
                return bound.error();
            port = bound->port();
        }
        s.fd = std::move(fd.value());
        s.side = &side;
        s.component = c;
        s.mux = spec.rtcp_mux;
        s.port = port;
        return {};
    };
    if (auto st = bind(side.rtp, spec.rtp_port, Component::rtp, spec.rtcp_mux ? "rtp+rtcp" : "rtp");
        !st)
        return st;
    if (!spec.rtcp_mux)
        if (auto st = bind(side.rtcp, spec.rtcp_port, Component::rtcp, "rtcp"); !st)
            return st;
    side.local.set_port(side.rtp.port);
    return {};
}

Result<std::unique_ptr<Relay::Stream>> Relay::open_stream(Session& session, size_t index,
                                                          const StreamSpec& spec) {
    auto stream = std::make_unique<Stream>();
    stream->session = &session;
    stream->index = index;
    stream->created = m_now();
    Side& a = stream->sides[0];
    Side& b = stream->sides[1];
    a.leg = Leg::caller;
    b.leg = Leg::callee;
    a.other = &b;
    b.other = &a;
    a.stream = b.stream = stream.get();
    // Every socket is bound before any is watched: on failure the stream
    // goes away with its fds, and the epoll set never saw them.
    if (auto st = open_side(a, spec.caller, "caller"); !st)
        return st.error();
    if (auto st = open_side(b, spec.callee, "callee"); !st)
        return st.error();
    for (Side& side : stream->sides) {
        for (Socket* s : {&side.rtp, &side.rtcp}) {
            if (!s->open())
                continue;
            if (auto st = watch(*s); !st) {
                // Those already watched leave the set as their fds close.
                for (Side& w : stream->sides)
                    for (Socket* o : {&w.rtp, &w.rtcp})
                        if (o->open() && o->watched)
                            unwatch(*o);
                return st.error();
            }
            ++m_counters.sockets;
        }
    }
    return stream;
}

Result<size_t> Relay::add_stream(SessionId id, const StreamSpec& spec) {
    auto it = m_sessions.find(id);
    if (it == m_sessions.end())
        return make_error("not_found", "no media session " + std::to_string(id));
    Session& session = *it->second;
    size_t index = session.streams.size();
    auto stream = open_stream(session, index, spec);
    if (!stream) {
        log::debug("media", "stream not opened",
                   {{"session", session.label}, {"err", stream.error().message}});
        return stream.error();
    }
    session.streams.push_back(std::move(stream.value()));
    ++m_counters.streams_opened;
    ++m_counters.streams;
    return index;
}

Result<Relay::Side*> Relay::find_side(SessionId id, size_t stream, Leg leg) {
    auto it = m_sessions.find(id);
    if (it == m_sessions.end())
        return make_error("not_found", "no media session " + std::to_string(id));
    auto& streams = it->second->streams;
    if (stream >= streams.size() || !streams[stream])
        return make_error("not_found", "media session " + it->second->label + " has no stream " +
                                           std::to_string(stream));
    return &streams[stream]->sides[static_cast<size_t>(leg)];
}

Status Relay::set_expected(SessionId id, size_t stream, Leg leg, const Peer& expected) {
    auto side = find_side(id, stream, leg);
    if (!side)
        return side.error();
    Side& s = **side;
    if (auto st = check_family(expected, s.local, leg_name(leg)); !st)
        return st;
    if (media::set_expected(s.latch, expected))
        log::info("media", "relatch",
                  {{"session", s.stream->session->label},
                   {"stream", std::to_string(stream)},
                   {"leg", std::string(leg_name(leg))},
                   {"expected", expected.rtp.str()},
                   {"epoch", std::to_string(s.latch.epoch)}});
    sync(*s.stream);
    return {};
}

Status Relay::set_strict(SessionId id, size_t stream, Leg leg, bool strict) {
    auto side = find_side(id, stream, leg);
    if (!side)
        return side.error();
    (*side)->latch.strict = strict;
    sync(*(*side)->stream);
    return {};
}

Status Relay::use_mux(SessionId id, size_t stream, Leg leg) {
    auto side = find_side(id, stream, leg);
    if (!side)
        return side.error();
    Side& s = **side;
    if (s.latch.mux)
        return {};
    media::use_mux(s.latch);
    s.rtp.mux = true;
    if (s.rtcp.open()) {
        fast_path_remove(s.rtcp);
        unwatch(s.rtcp);
        s.rtcp.fd.reset();
        --m_counters.sockets;
    }
    sync(*s.stream);
    return {};
}

Status Relay::relatch(SessionId id, size_t stream, Leg leg) {
    auto side = find_side(id, stream, leg);
    if (!side)
        return side.error();
    media::relatch((*side)->latch);
    sync(*(*side)->stream);
    return {};
}

void Relay::shut(Stream& stream, std::string_view reason) {
    for (Side& side : stream.sides) {
        for (Socket* s : {&side.rtp, &side.rtcp}) {
            if (!s->open())
                continue;
            // Out of the fast path and the epoll set first, then closed.
            fast_path_remove(*s);
            unwatch(*s);
            s->fd.reset();
            --m_counters.sockets;
        }
    }
    ++m_counters.streams_closed;
    --m_counters.streams;
    const Side& a = stream.sides[0];
    const Side& b = stream.sides[1];
    log::debug("media", "stream closed",
               {{"session", stream.session->label},
                {"stream", std::to_string(stream.index)},
                {"reason", std::string(reason)},
                {"caller_packets", std::to_string(a.counters.packets)},
                {"callee_packets", std::to_string(b.counters.packets)}});
}

void Relay::free_later(std::unique_ptr<Stream> stream) {
    if (m_dispatching)
        m_loop.defer([s = std::shared_ptr<Stream>(std::move(stream))] {});
}

void Relay::free_later(std::unique_ptr<Session> session) {
    if (m_dispatching)
        m_loop.defer([s = std::shared_ptr<Session>(std::move(session))] {});
}

Status Relay::close_stream(SessionId id, size_t stream, std::string_view reason) {
    auto side = find_side(id, stream, Leg::caller);
    if (!side)
        return side.error();
    Session& session = *m_sessions.at(id);
    shut(*session.streams[stream], reason);
    free_later(std::move(session.streams[stream]));
    session.streams[stream].reset();
    return {};
}

bool Relay::close_session(SessionId id, std::string_view reason) {
    auto it = m_sessions.find(id);
    if (it == m_sessions.end())
        return false;
    std::unique_ptr<Session> session = std::move(it->second);
    m_sessions.erase(it);
    uint64_t packets = 0, bytes = 0;
    std::array<uint64_t, 2> from{0, 0}; // packets relayed from caller, from callee
    for (auto& stream : session->streams) {
        if (!stream)
            continue;
        shut(*stream, reason); // the fast path's counts come back first
        for (const Side& side : stream->sides) {
            packets += side.counters.packets;
            bytes += side.counters.bytes;
            from[static_cast<size_t>(side.leg)] += side.counters.packets;
        }
    }
    ++m_counters.sessions_closed;
    m_counters.sessions = m_sessions.size();
    log::info("media", "session closed",
              {{"session", session->label},
               {"reason", std::string(reason)},
               {"packets", std::to_string(packets)},
               {"from_caller", std::to_string(from[0])},
               {"from_callee", std::to_string(from[1])},
               {"bytes", std::to_string(bytes)}});
    free_later(std::move(session));
    return true;
}

void Relay::close_all(std::string_view reason) {
    for (SessionId id : sessions())
        close_session(id, reason);
}

void Relay::on_learned(const Side& side, Component c, const SockAddr& source) {
    ++m_counters.latched;
    // At most a few per side and offer/answer (media/latch.hpp): not rate-limited.
    log::info("media", "latched",
              {{"session", side.stream->session->label},
               {"stream", std::to_string(side.stream->index)},
               {"leg", std::string(leg_name(side.leg))},
               {"component", std::string(component_name(c))},
               {"peer", source.str()},
               {"epoch", std::to_string(side.latch.epoch)}});
}

Status Relay::open_epoll() {
    if (m_epoll.valid())
        return {};
    int fd = ::epoll_create1(EPOLL_CLOEXEC);
    if (fd < 0)
        return make_error("io", std::string("epoll_create1: ") + std::strerror(errno));
    m_epoll = UniqueFd(fd);
    m_epoll_event.emplace(m_loop, fd, EV_READ | EV_PERSIST, [this](short) { dispatch(); });
    m_epoll_event->enable();
    return {};
}

Status Relay::watch(Socket& s) {
    if (auto st = open_epoll(); !st)
        return st;
    epoll_event e{};
    e.events = EPOLLIN;
    e.data.ptr = &s;
    if (::epoll_ctl(m_epoll.get(), EPOLL_CTL_ADD, s.fd.get(), &e) != 0)
        return make_error("io",
                          "epoll_ctl port " + std::to_string(s.port) + ": " + std::strerror(errno));
    s.watched = true;
    return {};
}

void Relay::unwatch(Socket& s) {
    if (!s.watched)
        return;
    ::epoll_ctl(m_epoll.get(), EPOLL_CTL_DEL, s.fd.get(), nullptr);
    s.watched = false;
}

void Relay::dispatch() {
    // Every media socket that has something, in one call; what stays
    // readable is reported again at the next loop turn (level-triggered),
    // so the control socket and timers get their turn in between.
    std::array<epoll_event, EPOLL_BATCH> events;
    int n = ::epoll_wait(m_epoll.get(), events.data(), static_cast<int>(events.size()), 0);
    if (n <= 0)
        return;
    // Nothing is freed while the batch runs: a socket closed meanwhile is
    // skipped (free_later()).
    // Cleared however the batch ends (ev:: logs what a callback throws).
    struct Dispatching {
        bool& flag;
        explicit Dispatching(bool& f)
            : flag(f) {
            flag = true;
        }
        Dispatching(const Dispatching&) = delete;
        Dispatching& operator=(const Dispatching&) = delete;
        ~Dispatching() { flag = false; }
    } dispatching(m_dispatching);
    for (int i = 0; i < n; ++i) {
        auto* socket = static_cast<Socket*>(events[static_cast<size_t>(i)].data.ptr);
        if (socket->open())
            on_readable(*socket);
    }
}

void Relay::on_readable(Socket& socket) {
    auto got = m_receiver.receive(socket.fd.get(), socket.port);
    if (!got) {
        ++m_counters.receive_errors;
        log::debug("media", "receive failed",
                   {{"port", std::to_string(socket.port)}, {"err", got.error().message}});
        return;
    }
    if (got->empty())
        return;
    Side& from = *socket.side;
    Side& to = *from.other;
    const Clock::time_point now = m_now();
    // The other side's RTP and RTCP sockets, once something goes there.
    std::array<Socket*, 2> outs{nullptr, nullptr};
    for (const net::Datagram& d : *got) {
        const Component c = socket.mux ? mux_component(d.bytes) : socket.component;
        const size_t size = d.bytes.size();
        Decision dec = decide(from.latch, to.latch, c, d.source, size);
        if ((dec.drop == Drop::none || dec.drop == Drop::no_peer) && !relayable(d.bytes))
            dec = Decision{.drop = Drop::not_rtp};
        if (dec.learn) {
            learn(from.latch, c, d.source);
            on_learned(from, c, d.source);
            sync(*from.stream);
        }
        if (dec.active && (dec.drop == Drop::none || dec.drop == Drop::no_peer)) {
            from.counters.last_packet = now;
            from.stream->session->heard = true;
        }
        if (dec.drop != Drop::none) {
            const auto k = static_cast<size_t>(dec.drop);
            ++from.counters.dropped[k];
            ++m_counters.dropped[k];
            if (log::enabled(log::Level::debug, "media"))
                log::debug("media", "dropped",
                           {{"session", from.stream->session->label},
                            {"leg", std::string(leg_name(from.leg))},
                            {"from", d.source.str()},
                            {"reason", std::string(drop_name(dec.drop))}});
            continue;
        }
        Socket& out = to.out(c);
        const size_t k = &out == &to.rtp ? 0 : 1;
        bool queued = (k == 0 ? m_send_rtp : m_send_rtcp).queue(*dec.to, d.bytes);
        RTFARM_ASSERT(queued); // a batch never exceeds the senders' capacity
        outs[k] = &out;
        ++from.counters.packets;
        from.counters.bytes += size;
        ++m_counters.packets;
        m_counters.bytes += size;
        if (c == Component::rtcp)
            ++from.counters.rtcp_packets;
    }
    for (size_t k = 0; k < outs.size(); ++k) {
        if (outs[k] == nullptr)
            continue;
        auto r = (k == 0 ? m_send_rtp : m_send_rtcp).flush(outs[k]->fd.get());
        if (r.failed != 0) {
            from.counters.send_failed += r.failed;
            m_counters.send_failed += r.failed;
        }
    }
}

Clock::time_point Relay::last_activity(const Session& session, Clock::duration idle_for,
                                       Clock::time_point now) const {
    Clock::time_point last = session.created;
    for (const auto& stream : session.streams) {
        if (!stream)
            continue;
        last = std::max(last, stream->created);
        for (const Side& side : stream->sides)
            last = std::max({last, side.counters.last_packet, side.kernel_seen});
    }
    // Idle as far as the sockets know: the fast path may have its packets.
    if (m_fast_path && now - last >= idle_for)
        for (const auto& stream : session.streams) {
            if (!stream)
                continue;
            for (const Side& side : stream->sides) {
                SideCounters c;
                add_live(side.rtp, c);
                add_live(side.rtcp, c);
                side.kernel_seen = std::max(side.kernel_seen, c.last_packet);
                last = std::max(last, c.last_packet);
            }
        }
    return last;
}

std::vector<SessionId> Relay::idle_sessions(Clock::duration idle_for, Clock::time_point now) const {
    std::vector<std::pair<Clock::time_point, SessionId>> idle;
    for (const auto& [id, session] : m_sessions) {
        Clock::time_point last = last_activity(*session, idle_for, now);
        if (now - last >= idle_for)
            idle.emplace_back(last, id);
    }
    std::sort(idle.begin(), idle.end());
    std::vector<SessionId> ids;
    ids.reserve(idle.size());
    for (const auto& [last, id] : idle)
        ids.push_back(id);
    return ids;
}

std::vector<SessionId> Relay::idle_sessions(Clock::duration idle_for) const {
    return idle_sessions(idle_for, m_now());
}

bool Relay::heard(SessionId id) const {
    auto it = m_sessions.find(id);
    return it != m_sessions.end() && it->second->heard;
}

const std::string* Relay::label(SessionId id) const {
    auto it = m_sessions.find(id);
    return it == m_sessions.end() ? nullptr : &it->second->label;
}

std::vector<SessionId> Relay::sessions() const {
    std::vector<SessionId> ids;
    ids.reserve(m_sessions.size());
    for (const auto& [id, session] : m_sessions)
        ids.push_back(id);
    std::sort(ids.begin(), ids.end());
    return ids;
}

SideInfo Relay::side_info(const Side& side, Clock::time_point now) const {
    SideInfo info;
    info.local = side.local;
    info.rtp_port = side.rtp.port;
    info.rtcp_mux = side.latch.mux;
    info.rtcp_port = side.latch.mux ? side.rtp.port : side.rtcp.port;
    info.strict = side.latch.strict;
    info.expected = side.latch.expected;
    if (const auto* l = side.latch.learned_peer(Component::rtp))
        info.learned_rtp = *l;
    if (const auto* l = side.latch.learned_peer(Component::rtcp))
        info.learned_rtcp = *l;
    if (const auto* d = destination(side.latch, Component::rtp))
        info.sends_rtp_to = *d;
    if (const auto* d = destination(side.latch, Component::rtcp))
        info.sends_rtcp_to = *d;
    info.epoch = side.latch.epoch;
    info.counters = side.counters;
    add_live(side.rtp, info.counters);
    add_live(side.rtcp, info.counters);
    if (info.counters.last_packet != Clock::time_point{})
        info.last_packet_age = now - info.counters.last_packet;
    return info;
}

Result<SessionInfo> Relay::query(SessionId id, Clock::time_point now) const {
    auto it = m_sessions.find(id);
    if (it == m_sessions.end())
        return make_error("not_found", "no media session " + std::to_string(id));
    const Session& session = *it->second;
    SessionInfo info;
    info.id = session.id;
    info.label = session.label;
    info.created = session.created;
    for (const auto& stream : session.streams) {
        if (!stream)
            continue;
        StreamInfo s;
        s.index = stream->index;
        for (size_t i = 0; i < 2; ++i)
            s.sides[i] = side_info(stream->sides[i], now);
        info.streams.push_back(s);
    }
    return info;
}

Result<SessionInfo> Relay::query(SessionId id) const {
    return query(id, m_now());
}

} // namespace rtfarm::relay
