// libFuzzer target for the heartbeat codec and the membership view it feeds
// (cluster/membership.hpp). The input is a sequence of records: a time step
// (a byte, in units of 10 ms) and a heartbeat text (a length byte, then up
// to 255 bytes). Each text decode_heartbeat() accepts round-trips through
// encode_heartbeat(), and goes to a Membership of four members (f1 is us)
// with the clock moved on and ticked. The view must keep its promises: the
// epoch never goes back, we stay up, a heartbeat from ourselves or an
// unknown member changes nothing, one taken leaves that member not down and
// with the heartbeat's incarnation and seq. Seeds: encode_heartbeat()
// output, written by the target itself (fuzz_util.hpp).
#include "fuzz_util.hpp"

#include "cluster/membership.hpp"
#include "config/config.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

using namespace rtfarm;
using namespace rtfarm::cluster;
using rtfarm::fuzz::check;
using namespace std::chrono_literals;

namespace {

const config::ClusterConfig& four_members() {
    static const config::ClusterConfig cfg = [] {
        auto c = config::parse(R"({
          "cluster": {"name": "t", "heartbeat_ms": 200, "dead_after_ms": 1000},
          "members": {
            "f1": {"role": "frontend", "address": "10.0.0.1", "sip_listen": ["0.0.0.0:5060"], "control": "/r/f1"},
            "f2": {"role": "frontend", "address": "10.0.0.2", "sip_listen": ["0.0.0.0:5060"], "control": "/r/f2"},
            "f3": {"role": "frontend", "address": "10.0.0.3", "sip_listen": ["0.0.0.0:5060"], "control": "/r/f3"},
            "b1": {"role": "backend", "address": "10.0.0.21", "sip_listen": [], "control": "/r/b1"}
          }})",
                               "heartbeat_fuzz.json");
        check(c.ok());
        return c.value();
    }();
    return cfg;
}

std::string record(uint8_t step, const std::string& text) {
    return std::string(1, static_cast<char>(step)) +
           std::string(1, static_cast<char>(text.size())) + text;
}

std::vector<std::string> seeds() {
    Heartbeat a;
    a.id = "f2";
    a.incarnation = 1700000000000;
    a.seq = 1;
    Heartbeat b = a;
    b.seq = 2;
    b.draining = true;
    b.sip_farm = config::SipFarm::relay;
    b.call_legs = config::Placement::locally_for_others;
    b.load = 42;
    Heartbeat c = a;
    c.id = "b1";
    c.signals = config::Placement::remotely;
    Heartbeat us = a;
    us.id = "f1";
    return {record(20, encode_heartbeat(a)) + record(20, encode_heartbeat(b)) +
                record(200, encode_heartbeat(c)),
            record(1, encode_heartbeat(us)) + record(1, encode_heartbeat(a)),
            record(0, "{\"hb\":1,\"id\":\"f3\"}") + record(150, encode_heartbeat(a))};
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    fuzz::write_seeds_and_exit(seeds());
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    fuzz::Cursor in{std::string_view(reinterpret_cast<const char*>(data), size)};
    Clock::time_point now = Clock::time_point{} + 1000s;
    Membership view(four_members(), "f1", 7, now);
    uint64_t epoch = view.epoch();
    for (int records = 0; !in.done() && records < 64; ++records) {
        now += in.byte() * 10ms;
        std::string_view text = in.bytes(255);
        auto r = decode_heartbeat(text);
        if (!r.ok()) {
            check(r.error().code == "bad_heartbeat");
        } else {
            const Heartbeat& hb = *r;
            auto back = decode_heartbeat(encode_heartbeat(hb));
            check(back.ok() && *back == hb);

            const MemberStatus* before = view.find(hb.id);
            bool known = before != nullptr && hb.id != "f1";
            std::vector<MemberStatus> was = view.members();
            bool changed = false;
            bool taken = view.on_heartbeat(hb, now, &changed);
            check(!taken || known);
            if (taken) {
                const MemberStatus* m = view.find(hb.id);
                check(m != nullptr && m->heard && m->state != MemberState::down);
                check(m->incarnation == hb.incarnation && m->seq == hb.seq);
            } else {
                check(!changed);
                check(view.members().size() == was.size());
                for (size_t i = 0; i < was.size(); ++i)
                    check(view.members()[i].seq == was[i].seq &&
                          view.members()[i].state == was[i].state);
            }
            check(changed == (view.epoch() != epoch));
        }
        check(view.epoch() >= epoch);
        view.tick(now);
        check(view.epoch() >= epoch);
        epoch = view.epoch();
        check(view.find("f1") != nullptr && view.find("f1")->state != MemberState::down);
        check(view.members().size() == 4);
    }
    return 0;
}
