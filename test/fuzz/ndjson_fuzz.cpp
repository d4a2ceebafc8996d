// libFuzzer target for the control plane's line reader and envelope
// (control/ndjson.hpp). The input gives the line limit (a byte: 1-256), the
// sizes of the reads (a count byte, then one byte each) and the stream. The
// same bytes are cut into lines twice, in one feed() and in reads of those
// sizes: the same frames (lines and oversize events) must come out, no line
// is blank, longer than the limit or holds a '\n', and what stays buffered
// is at most the limit plus one byte. Each line goes to parse_request();
// a request answered with ok_reply() and error_reply() reads back with
// parse_response() (same id, result, code), and request_line() with its
// arguments reads back as the same op and fields. Seeds: request lines,
// written by the target itself (fuzz_util.hpp).
#include "fuzz_util.hpp"

#include "control/ndjson.hpp"

#include <jansson.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

using namespace rtfarm;
using namespace rtfarm::json;
using namespace rtfarm::control;
using rtfarm::fuzz::check;

namespace {

// Takes every frame the framer has.
void drain(LineFramer& f, std::vector<std::string>& frames) {
    while (auto frame = f.next_line()) {
        if (frame->kind == LineFramer::Kind::oversize) {
            check(frame->text.empty());
            frames.push_back("!");
            continue;
        }
        std::string_view line = frame->text;
        check(!line.empty() && line.size() <= f.max_line());
        check(line.find('\n') == std::string_view::npos);
        check(line.find_first_not_of(" \t") != std::string_view::npos);
        frames.push_back("L" + std::string(line));
    }
    check(f.buffered() <= f.max_line() + 1);
}

void exercise(std::string_view line) {
    auto r = parse_request(line);
    if (!r.ok()) {
        const std::string& code = r.error().code;
        check(code == error_code::BAD_JSON || code == error_code::BAD_REQUEST);
        return;
    }
    const Request& req = *r;
    check(!req.op.empty() && req.body.is_object());
    check(req.id && !req.id.is_object() && !req.id.is_array());
    check(id_of(req.body).dump() == req.id.dump());

    auto ok = parse_response(ok_reply(req.id, req.body));
    check(ok.ok() && ok->ok);
    check(ok->id.dump() == req.id.dump() && ok->result.dump() == req.body.dump());

    std::string reply = error_reply(req.id, req.op, line);
    check(!reply.empty() && reply.back() == '\n' && reply.find('\n') == reply.size() - 1);
    auto err = parse_response(reply);
    check(err.ok() && !err->ok);
    check(err->id.dump() == req.id.dump());
    // The code comes back as written when it is plain text; error_reply()
    // makes anything else valid UTF-8 first (ndjson.hpp).
    bool plain =
        std::all_of(req.op.begin(), req.op.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
    check(!plain || err->error.code == req.op);

    // The same op and fields again, as a client writes them.
    Json args = Json::adopt(json_deep_copy(req.body.get()));
    json_object_del(args.get(), "id");
    json_object_del(args.get(), "op");
    auto client = request_line(7, req.op, args);
    check(client.ok());
    auto back = parse_request(*client);
    check(back.ok() && back->op == req.op && back->id.as_integer() == 7);
    check(back->body.size() == args.size() + 2);
}

std::vector<std::string> seeds() {
    const std::string head = std::string("\x40\x03\x05\x11\x02", 5); // limit 65, reads 6, 18, 3
    return {
        head + "{\"id\":1,\"op\":\"ping\"}\n",
        head + "{\"id\":\"a\",\"op\":\"stats\"}\r\n\n  \t\n{\"op\":\"members\"}\n",
        head + "{\"id\":3,\"op\":\"log_level\",\"sub\":\"farm\",\"level\":\"debug\"}\n",
        head + "{\"id\":[1],\"op\":\"x\"}\n{\"id\":2}\n[1,2]\nnot json\n",
        head + "{\"id\":4,\"op\":\"offer\",\"call_id\":\"c1\",\"from_tag\":\"t1\",\"sdp\":\"v="
               "0\\r\\n\"}\n",
        head + std::string(200, 'x') + "\n{\"id\":5,\"op\":\"ping\"}\n",
        head + "{\"id\":null,\"op\":\"\\u00e9\\u0000\",\"a\":{\"b\":[true,false,null,1.5]}}\n",
    };
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    fuzz::write_seeds_and_exit(seeds());
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    fuzz::Cursor in{std::string_view(reinterpret_cast<const char*>(data), size)};
    size_t max_line = size_t(in.byte()) + 1;
    std::vector<size_t> reads;
    for (size_t n = in.byte() % 16; n > 0; --n)
        reads.push_back(in.byte() + 1);
    if (reads.empty())
        reads.push_back(1);
    std::string_view bytes = in.rest();

    std::vector<std::string> whole;
    LineFramer one(max_line);
    one.feed(bytes);
    drain(one, whole);

    std::vector<std::string> pieces;
    LineFramer many(max_line);
    size_t pos = 0;
    for (size_t i = 0; pos < bytes.size(); ++i) {
        size_t n = std::min(reads[i % reads.size()], bytes.size() - pos);
        many.feed(bytes.substr(pos, n));
        pos += n;
        drain(many, pieces);
    }
    check(whole == pieces);
    check(one.buffered() == many.buffered());

    for (const std::string& f : whole)
        if (f[0] == 'L')
            exercise(std::string_view(f).substr(1));
    return 0;
}
