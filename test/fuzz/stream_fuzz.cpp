// libFuzzer target for the SIP stream framer (sip/stream.hpp). The input
// gives the limits (two bytes, small so that they are reached), the sizes
// of the reads (a count byte, then one byte each) and the connection's
// bytes. The same bytes are framed twice: in one append() and in reads of
// those sizes. Both must give the same items (messages and pings, byte for
// byte), both fail or neither, and hold the same bytes at the end; every
// message is within the limits, starts with neither CR nor LF, has a header
// block ending in an empty line and ends where its Content-Length says; an
// error is final. Seeds: SIP messages and keep-alives, written by the
// target itself (fuzz_util.hpp).
#include "fuzz_util.hpp"

#include "sip/stream.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

using namespace rtfarm;
using namespace rtfarm::sip;
using rtfarm::fuzz::check;

namespace {

struct Outcome {
    std::vector<std::string> items; // "P" for a ping, "M" + bytes for a message
    bool failed = false;
    size_t pending = 0;
};

// Takes every item the framer has; false once it failed.
bool drain(StreamFramer& f, const StreamLimits& limits, Outcome& out) {
    for (;;) {
        auto r = f.next();
        if (!r.ok()) {
            check(r.error().code == "framing" && !r.error().message.empty());
            // Final: it says so again, and more bytes change nothing.
            auto again = f.next();
            check(!again.ok() && again.error().code == "framing");
            out.failed = true;
            return false;
        }
        if (!r->has_value())
            return true;
        const StreamFramer::Item& item = **r;
        if (item.kind == StreamFramer::Kind::ping) {
            check(item.bytes.empty());
            out.items.push_back("P");
            continue;
        }
        std::string_view m = item.bytes;
        check(!m.empty() && m[0] != '\r' && m[0] != '\n');
        size_t end = m.find("\r\n\r\n");
        check(end != std::string_view::npos);
        check(end + 4 <= limits.max_header_block);
        check(m.size() - (end + 4) <= limits.max_body);
        out.items.push_back("M" + std::string(m));
    }
}

std::vector<std::string> seeds() {
    const std::string options = "OPTIONS sip:f1@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/TCP "
                                "198.51.100.10:5060;branch=z9hG4bK1\r\nCall-ID: a\r\n"
                                "Content-Length: 0\r\n\r\n";
    const std::string invite = "INVITE sip:bob@example.com SIP/2.0\r\nl: 5\r\n\r\nv=0\r\n";
    // limits, read sizes, then the bytes
    const std::string head = std::string("\x08\x08\x03\x07\x40\x01", 6);
    return {head + options, head + "\r\n\r\n" + invite + "\r\n" + options + "\r\n\r\n",
            head + invite + invite.substr(0, 20),
            head + "INVITE sip:x SIP/2.0\r\nContent-Length: 99999999\r\n\r\n",
            head + "INVITE sip:x SIP/2.0\r\nVia: x\r\n\r\n"};
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    fuzz::write_seeds_and_exit(seeds());
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    fuzz::Cursor in{std::string_view(reinterpret_cast<const char*>(data), size)};
    StreamLimits limits;
    limits.max_header_block = 16 + size_t(in.byte()) * 16; // 16 B - 4 KiB
    limits.max_body = size_t(in.byte()) * 16;              // 0 - 4 KiB
    std::vector<size_t> reads;
    for (size_t n = in.byte() % 16; n > 0; --n)
        reads.push_back(in.byte() + 1);
    if (reads.empty())
        reads.push_back(1);
    std::string_view bytes = in.rest();

    Outcome whole;
    StreamFramer one(limits);
    one.append(bytes);
    if (drain(one, limits, whole))
        whole.pending = one.pending();

    Outcome pieces;
    StreamFramer many(limits);
    size_t pos = 0;
    for (size_t i = 0; pos < bytes.size(); ++i) {
        size_t n = std::min(reads[i % reads.size()], bytes.size() - pos);
        many.append(bytes.substr(pos, n));
        pos += n;
        if (!drain(many, limits, pieces))
            break;
    }
    if (!pieces.failed) {
        drain(many, limits, pieces);
        pieces.pending = many.pending();
    }

    check(whole.failed == pieces.failed);
    check(whole.items == pieces.items);
    check(whole.pending == pieces.pending);
    return 0;
}
