// The `place` and `route` subcommands: ask one sipfarmd (control.hpp) where
// a new call leg or signal created on a member is hosted, and which member
// processes a SIP message (by Call-ID, or a whole message read from a file),
// and print the answer for people or as one JSON document. The decisions are
// the daemon's (its `place` and `route` ops, rtfarm-control(7)); this file
// reads the message file and maps answers to exit statuses.
#pragma once

#include "config/config.hpp"

#include <chrono>
#include <istream>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>

namespace rtfarm::ctl {

// What every query needs: where to ask, how long to wait, how to print.
struct QueryContext {
    std::optional<config::ClusterConfig> cfg;
    std::string target; // --socket / --connect, "" for the config's members
    bool json_output = false;
    std::chrono::milliseconds timeout{2000};
};

// Exit status: 0 answered, 1 no member can host it (no_placement), 2 usage
// (bad kind, unknown member) or no daemon answered.
int run_place(const QueryContext& ctx, const std::string& kind, const std::string& from,
              const std::string& key, std::ostream& out, std::ostream& err);

// By Call-ID when `call_id` is set, else the message in `file` ("-" reads
// `in`). Exit status: 0 a member processes it, 1 the farm would drop it
// (including a message that does not scan), 2 usage, an unreadable or
// oversized file, or no daemon answered.
int run_route(const QueryContext& ctx, const std::optional<std::string>& call_id,
              const std::string& file, std::istream& in, std::ostream& out, std::ostream& err);

// A SIP message as people write it in an editor, made wire-ready: in the
// start line and headers every line end becomes CRLF; the header block gets
// its empty line when the text has none; the body is left as written.
std::string sip_text_from_editor(std::string_view text);

} // namespace rtfarm::ctl
