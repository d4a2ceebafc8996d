#include "media/ports.hpp"

#include "base/assert.hpp"
#include "media/offer_errors.hpp"

#include <algorithm>
#include <string>

namespace rtfarm::media {

namespace {

const char* shape(Rtcp rtcp) {
    return rtcp == Rtcp::mux ? "single (rtcp-mux) port" : "RTP/RTCP port pair";
}

std::string ports_text(StreamPorts p) {
    if (p.mux())
        return "port " + std::to_string(p.rtp);
    return "ports " + std::to_string(p.rtp) + "/" + std::to_string(p.rtcp);
}

} // namespace

PortPool::PortPool(PortRange range)
    : m_range(range) {
    uint32_t lo = std::max<uint32_t>(range.lo, 1);
    uint32_t hi = range.hi;
    if (hi < lo)
        return;
    m_base = lo;
    m_count = hi - lo + 1;
    m_state.assign(m_count, FREE);
    m_prev.assign(m_count, NIL);
    m_next.assign(m_count, NIL);
    // Freed "at construction" in ascending order: whole pairs in one list,
    // the ports that cannot pair (an odd first port, an even last port) in
    // the other.
    for (int32_t i = 0; i < static_cast<int32_t>(m_count); ++i) {
        int32_t other = partner(i);
        if (other == NIL)
            push_back(m_singles, i);
        else if (other > i)
            push_back(m_pairs, i);
    }
    m_capacity_pairs = m_pairs.size;
}

bool PortPool::in_pool(uint16_t port) const {
    return m_count > 0 && port >= m_base && port - m_base < m_count;
}

int32_t PortPool::partner(int32_t i) const {
    int32_t other = (port_of(i) % 2 == 0) ? i + 1 : i - 1;
    if (other < 0 || other >= static_cast<int32_t>(m_count))
        return NIL;
    return other;
}

void PortPool::push_back(List& l, int32_t i) {
    m_prev[i] = l.tail;
    m_next[i] = NIL;
    if (l.tail == NIL)
        l.head = i;
    else
        m_next[l.tail] = i;
    l.tail = i;
    ++l.size;
}

int32_t PortPool::pop_front(List& l) {
    int32_t i = l.head;
    RTFARM_ASSERT(i != NIL);
    unlink(l, i);
    return i;
}

void PortPool::unlink(List& l, int32_t i) {
    RTFARM_ASSERT(l.size > 0);
    if (m_prev[i] == NIL)
        l.head = m_next[i];
    else
        m_next[m_prev[i]] = m_next[i];
    if (m_next[i] == NIL)
        l.tail = m_prev[i];
    else
        m_prev[m_next[i]] = m_prev[i];
    m_prev[i] = NIL;
    m_next[i] = NIL;
    --l.size;
}

void PortPool::took(size_t ports) {
    m_in_use += ports;
    ++m_streams;
    m_high_water = std::max(m_high_water, m_in_use);
}

Error PortPool::exhausted(Rtcp rtcp) {
    ++m_exhausted;
    std::string msg = "media port range " + m_range.str() + " has no free " + shape(rtcp) + " (" +
                      std::to_string(m_in_use) + " of " + std::to_string(m_count) + " ports in use";
    size_t free = m_count - m_in_use;
    if (rtcp == Rtcp::separate && free > 0)
        msg += "; the " + std::to_string(free) + " free ports are not even/odd pairs";
    return offer_error(OfferError::ports_exhausted, msg + ")");
}

Result<StreamPorts> PortPool::allocate(Rtcp rtcp) {
    if (rtcp == Rtcp::separate) {
        if (m_pairs.size == 0)
            return exhausted(rtcp);
        int32_t i = pop_front(m_pairs);
        m_state[i] = PAIR_RTP;
        m_state[i + 1] = PAIR_RTCP;
        took(2);
        return StreamPorts{port_of(i), port_of(i + 1)};
    }
    int32_t i = NIL;
    if (m_singles.size > 0) {
        i = pop_front(m_singles);
    } else if (m_pairs.size > 0) {
        // Break the pair freed longest ago; its odd half waits in the singles.
        i = pop_front(m_pairs);
        push_back(m_singles, i + 1);
    } else {
        return exhausted(rtcp);
    }
    m_state[i] = SINGLE;
    took(1);
    return StreamPorts{port_of(i), 0};
}

Error PortPool::not_allocated(StreamPorts ports, const char* verb) const {
    std::string what = "free";
    switch (m_state[ports.rtp - m_base]) {
    case FREE:
        break;
    case SINGLE:
        what = "a single (rtcp-mux) port";
        break;
    case PAIR_RTP:
        what = "the RTP port of pair " + std::to_string(ports.rtp) + "/" +
               std::to_string(ports.rtp + 1);
        break;
    case PAIR_RTCP:
        what = "the RTCP port of pair " + std::to_string(ports.rtp - 1) + "/" +
               std::to_string(ports.rtp);
        break;
    }
    return make_error("not_allocated", std::string("cannot ") + verb + " " + ports_text(ports) +
                                           " in media range " + m_range.str() + ": port " +
                                           std::to_string(ports.rtp) + " is " + what);
}

Status PortPool::release(StreamPorts ports) {
    if (!in_pool(ports.rtp) || (!ports.mux() && !in_pool(ports.rtcp)))
        return make_error("foreign_port", "cannot release " + ports_text(ports) +
                                              ": not in media range " + m_range.str());
    int32_t i = static_cast<int32_t>(ports.rtp - m_base);
    if (ports.mux()) {
        if (m_state[i] != SINGLE)
            return not_allocated(ports);
        m_state[i] = FREE;
        int32_t other = partner(i);
        if (other != NIL && m_state[other] == FREE) {
            // Both halves free: the pair is whole again.
            unlink(m_singles, other);
            push_back(m_pairs, std::min(i, other));
        } else {
            push_back(m_singles, i);
        }
        m_in_use -= 1;
    } else {
        if (ports.rtcp != ports.rtp + 1 || m_state[i] != PAIR_RTP)
            return not_allocated(ports);
        RTFARM_ASSERT(m_state[i + 1] == PAIR_RTCP);
        m_state[i] = FREE;
        m_state[i + 1] = FREE;
        push_back(m_pairs, i);
        m_in_use -= 2;
    }
    --m_streams;
    return {};
}

Result<StreamPorts> PortPool::shrink_to_mux(StreamPorts pair) {
    if (!in_pool(pair.rtp) || (!pair.mux() && !in_pool(pair.rtcp)))
        return make_error("foreign_port", "cannot shrink " + ports_text(pair) +
                                              ": not in media range " + m_range.str());
    if (pair.mux())
        return make_error("not_allocated", "cannot shrink " + ports_text(pair) +
                                               " in media range " + m_range.str() +
                                               ": only an RTP/RTCP port pair shrinks");
    int32_t i = static_cast<int32_t>(pair.rtp - m_base);
    if (pair.rtcp != pair.rtp + 1 || m_state[i] != PAIR_RTP)
        return not_allocated(pair, "shrink");
    RTFARM_ASSERT(m_state[i + 1] == PAIR_RTCP);
    m_state[i] = SINGLE;
    m_state[i + 1] = FREE;
    // Its partner is in use: it waits in the singles until that comes back.
    push_back(m_singles, i + 1);
    m_in_use -= 1;
    return StreamPorts{pair.rtp, 0};
}

bool PortPool::allocated(uint16_t port) const {
    return in_pool(port) && m_state[port - m_base] != FREE;
}

PortCounters PortPool::counters() const {
    PortCounters c;
    c.capacity_ports = m_count;
    c.capacity_pairs = m_capacity_pairs;
    c.in_use = m_in_use;
    c.free = m_count - m_in_use;
    c.free_pairs = m_pairs.size;
    c.streams = m_streams;
    c.high_water = m_high_water;
    c.exhausted = m_exhausted;
    return c;
}

Status PortPool::audit() const {
    auto corrupt = [](const std::string& why) {
        return make_error("pool_corrupt", why);
    };
    // Where each port was found: 0 nowhere, 1 pairs list, 2 singles list.
    std::vector<uint8_t> seen(m_count, 0);
    auto walk = [&](const List& l, uint8_t mark, const char* name) -> Status {
        size_t n = 0;
        int32_t prev = NIL;
        for (int32_t i = l.head; i != NIL; i = m_next[i]) {
            if (i < 0 || i >= static_cast<int32_t>(m_count) || ++n > m_count)
                return corrupt(std::string(name) + " list runs out of the pool");
            if (seen[i])
                return corrupt("port " + std::to_string(port_of(i)) + " listed twice");
            if (m_prev[i] != prev)
                return corrupt(std::string(name) + " list has a bad back link at port " +
                               std::to_string(port_of(i)));
            if (m_state[i] != FREE)
                return corrupt("port " + std::to_string(port_of(i)) + " is in use but in the " +
                               name + " list");
            seen[i] = mark;
            prev = i;
        }
        if (l.tail != prev || l.size != n)
            return corrupt(std::string(name) + " list size or tail is wrong");
        return {};
    };
    if (Status s = walk(m_pairs, 1, "pairs"); !s)
        return s;
    if (Status s = walk(m_singles, 2, "singles"); !s)
        return s;

    size_t in_use = 0;
    size_t streams = 0;
    for (int32_t i = 0; i < static_cast<int32_t>(m_count); ++i) {
        std::string port = "port " + std::to_string(port_of(i));
        int32_t other = partner(i);
        switch (m_state[i]) {
        case FREE:
            if (seen[i] == 1 && (other != i + 1 || m_state[other] != FREE || seen[other]))
                return corrupt(port + " heads a pairs entry without a free odd half");
            if (seen[i] == 2 && other != NIL && m_state[other] == FREE)
                return corrupt(port + " is a single while its partner is free too");
            if (seen[i] == 0 && !(other == i - 1 && seen[other] == 1))
                return corrupt(port + " is free but in no list");
            break;
        case SINGLE:
            ++in_use;
            ++streams;
            break;
        case PAIR_RTP:
            if (other != i + 1 || m_state[other] != PAIR_RTCP)
                return corrupt(port + " is an RTP port without its RTCP port");
            ++in_use;
            ++streams;
            break;
        case PAIR_RTCP:
            if (other != i - 1 || m_state[other] != PAIR_RTP)
                return corrupt(port + " is an RTCP port without its RTP port");
            ++in_use;
            break;
        default:
            return corrupt(port + " has an unknown state");
        }
    }
    if (in_use != m_in_use)
        return corrupt("in-use count is " + std::to_string(m_in_use) + ", ports in use are " +
                       std::to_string(in_use));
    if (streams != m_streams)
        return corrupt("stream count is " + std::to_string(m_streams) + ", streams allocated are " +
                       std::to_string(streams));
    if (m_in_use > m_high_water)
        return corrupt("in use above the high-water mark");
    return {};
}

} // namespace rtfarm::media
