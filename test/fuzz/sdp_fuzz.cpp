// libFuzzer target for SDP parse and rewrite (media/sdp.hpp). The input is
// a plan (a byte for the relay's address family and rtcp-mux per stream, a
// byte for the version offset) and an SDP body. A body parse_sdp() accepts
// obeys its header (at most MAX_SDP_MEDIA m= lines, every active stream
// with an address to send to) and is rewritten with one port pair, or one
// port with rtcp-mux, per active stream. The rewrite must succeed, parse
// again and say what the plan says: the relay's address (or the unspecified
// address of a hold), the ports, rtcp-mux, no ICE, each stream's media,
// formats and direction kept, disabled streams still disabled (a version
// offset needs an o= version that is a number it can raise: else bad_sdp,
// and the target goes on without the offset). Rewriting
// the output again with the same plan changes nothing, and a plan with one
// stream too many is refused. Seeds: the bodies of test/unit/sdp/*.in.sdp,
// written by the target itself (fuzz_util.hpp).
#include "fuzz_util.hpp"

#include "base/strings.hpp"
#include "media/sdp.hpp"
#include "sip/osip.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

using namespace rtfarm;
using namespace rtfarm::media;
using rtfarm::fuzz::check;

namespace {

std::vector<std::string> seeds() {
    std::vector<std::string> out;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator("test/unit/sdp", ec)) {
        std::string name = e.path().filename().string();
        if (!name.ends_with(".in.sdp"))
            continue;
        std::ifstream f(e.path(), std::ios::binary);
        std::ostringstream body;
        body << f.rdbuf();
        out.push_back(std::string("\x05\x00", 2) + body.str());
        out.push_back(std::string("\xfa\x01", 2) + body.str());
    }
    return out;
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    sip::osip_init_once();
    fuzz::write_seeds_and_exit(seeds());
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    fuzz::Cursor in{std::string_view(reinterpret_cast<const char*>(data), size)};
    uint8_t shape = in.byte();
    uint64_t offset = in.byte();
    std::string_view body = in.rest();

    auto parsed = parse_sdp(body);
    if (!parsed.ok()) {
        check(parsed.error().code == "bad_sdp" && !parsed.error().message.empty());
        return 0;
    }
    const SdpDesc& d = *parsed;
    check(!d.media.empty() && d.media.size() <= MAX_SDP_MEDIA);
    for (const MediaDesc& m : d.media) {
        if (m.disabled()) {
            check(!m.rtp_peer.valid() && !m.rtcp_peer.valid());
            continue;
        }
        check(m.port_count == 1);
        check(m.rtp_peer.valid() && m.rtp_peer.port() == m.port);
        check(m.rtcp_peer.valid());
    }

    SdpRewrite plan;
    plan.address = SockAddr::parse((shape & 1) ? "[2001:db8::1]:0" : "192.0.2.1:0").value();
    plan.version_offset = offset;
    for (size_t i = 0; i < d.media.size(); ++i) {
        uint16_t rtp = static_cast<uint16_t>(30000 + 2 * i);
        bool mux = (shape >> (1 + i % 7)) & 1;
        plan.streams.push_back(d.media[i].disabled()
                                   ? StreamPorts{}
                                   : StreamPorts{rtp, mux ? uint16_t(0) : uint16_t(rtp + 1)});
    }
    auto out = rewrite_sdp(body, plan);
    // parse_sdp() takes only digits as the o= session version, so any
    // version it took can be raised, whatever its length.
    check(!d.origin_version.empty() &&
          d.origin_version.find_first_not_of("0123456789") == std::string::npos);
    if (!out.ok())
        std::fprintf(stderr, "rewrite_sdp: %s: %s\n", out.error().code.c_str(),
                     out.error().message.c_str());
    check(out.ok());
    auto again = parse_sdp(*out);
    check(again.ok());
    check(again->media.size() == d.media.size());
    // Raised by the offset: the same number of digits or one more, and
    // never smaller.
    check(offset != 0 || again->origin_version == d.origin_version);
    check(again->origin_version.size() >= d.origin_version.size() &&
          (again->origin_version.size() > d.origin_version.size() ||
           again->origin_version >= d.origin_version));
    for (size_t i = 0; i < d.media.size(); ++i) {
        const MediaDesc& was = d.media[i];
        const MediaDesc& now = again->media[i];
        check(now.media == was.media && now.proto == was.proto && now.formats == was.formats);
        check(now.direction == was.direction);
        check(!now.ice);
        check(now.disabled() == was.disabled());
        if (was.disabled())
            continue;
        const StreamPorts& p = plan.streams[i];
        check(now.port == p.rtp && now.rtcp_mux == p.mux());
        check(now.rtp_peer.is_any() == was.rtp_peer.is_any());
        if (!now.rtp_peer.is_any()) {
            check(now.rtp_peer.same_host(plan.address));
            if (!p.mux())
                check(now.rtcp_peer.port() == p.rtcp && now.rtcp_peer.same_host(plan.address));
        }
    }

    // Our own output, rewritten again the same way: the same bytes.
    SdpRewrite same = plan;
    same.version_offset = 0;
    auto twice = rewrite_sdp(*out, same);
    check(twice.ok() && *twice == *out);

    SdpRewrite longer = plan;
    longer.streams.push_back(StreamPorts{40000, 40001});
    auto refused = rewrite_sdp(body, longer);
    check(!refused.ok() && refused.error().code == "bad_rewrite");
    return 0;
}
