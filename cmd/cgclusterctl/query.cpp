#include "query.hpp"

#include "cluster/placement.hpp"
#include "control.hpp"
#include "control/ndjson.hpp"
#include "sip/route.hpp"
#include "sip/scanner.hpp"
#include "table.hpp"
#include "json/json.hpp"

#include <fstream>
#include <iterator>
#include <vector>

namespace rtfarm::ctl {
namespace {

constexpr int EXIT_PROBLEM = 1;
constexpr int EXIT_USAGE = 2;

// The bytes read from a message file at most: the largest SIP datagram.
constexpr size_t MAX_MESSAGE_FILE = sip::MAX_DATAGRAM;

bool is_scan_error(std::string_view code) {
    using namespace sip::scan_error;
    for (const char* c :
         {KEEPALIVE,       TOO_LARGE,    TOO_MANY_HEADERS, TRUNCATED,          BAD_LINE_END,
          BAD_START_LINE,  BAD_VERSION,  BAD_REQUEST_URI,  BAD_HEADER,         DUPLICATE_HEADER,
          BAD_VIA,         BAD_CSEQ,     BAD_MAX_FORWARDS, BAD_CONTENT_LENGTH, MISSING_VIA,
          MISSING_CALL_ID, MISSING_CSEQ, MISSING_FROM,     MISSING_TO,         CSEQ_METHOD_MISMATCH,
          TRUNCATED_BODY})
        if (code == c)
            return true;
    return false;
}

std::string str(const json::Json& j, const char* key, const char* absent = "-") {
    return j[key].as_string().value_or(absent);
}

std::string joined(const json::Json& list, const char* sep) {
    std::string out;
    for (size_t i = 0; i < list.size(); ++i)
        out += (i ? sep : "") + list.at(i).as_string().value_or("?");
    return out;
}

json::Json error_json(const Error& e) {
    return json::Json::object().set("code", e.code).set("message", e.message);
}

// Why a member processes a message, in words (sip::REASONS); the reason
// itself for one this version does not know.
std::string route_why(const json::Json& r) {
    std::string reason = str(r, "reason");
    auto known = sip::reason_named(reason);
    if (!known)
        return reason;
    return sip::explain(*known, str(r, "member"), str(r, "owner"), str(r, "received_by"));
}

std::string place_why(const json::Json& p) {
    std::string reason = str(p, "reason");
    auto known = cluster::parse_placement_reason(reason);
    if (!known)
        return reason;
    std::string from = str(p, "from");
    bool signals = cluster::parse_object_kind(str(p, "kind")) == cluster::ObjectKind::signal;
    std::string what = signals ? "signals" : "call legs";
    std::string hosts = joined(p["candidates"], " ");
    switch (*known) {
    case cluster::PlacementReason::locally:
        return from + " creates " + what + " itself: its " + (signals ? "signals" : "call_legs") +
               " mode is " + str(p, "mode");
    case cluster::PlacementReason::hash:
        return from + " creates " + what + " remotely: the rendezvous hash of the Call-ID picks " +
               str(p, "member") + " among " + hosts;
    case cluster::PlacementReason::least_load:
        return from + " creates " + what + " remotely: " + str(p, "member") +
               " is the least loaded of " + hosts;
    }
    return reason;
}

Result<std::string> read_message(const std::string& file, std::istream& in) {
    std::string text;
    auto take = [&](std::istream& s) {
        std::vector<char> buf(MAX_MESSAGE_FILE + 1);
        s.read(buf.data(), static_cast<std::streamsize>(buf.size()));
        text.assign(buf.data(), static_cast<size_t>(s.gcount()));
        return !s.bad();
    };
    std::string name = file == "-" ? "standard input" : file;
    if (file == "-") {
        if (!take(in))
            return make_error("io", name + ": cannot read");
    } else {
        std::ifstream f(file, std::ios::binary);
        if (!f || !take(f))
            return make_error("io", name + ": cannot read");
    }
    if (text.size() > MAX_MESSAGE_FILE)
        return make_error("too_large", name + ": more than " + std::to_string(MAX_MESSAGE_FILE) +
                                           " bytes, the largest SIP datagram");
    std::string wire = sip_text_from_editor(text);
    if (wire.empty())
        return make_error("empty", name + ": no SIP message in it");
    return wire;
}

} // namespace

std::string sip_text_from_editor(std::string_view text) {
    std::string out;
    size_t pos = 0;
    bool started = false;
    while (pos < text.size()) {
        size_t nl = text.find('\n', pos);
        std::string_view line = text.substr(pos, nl == std::string_view::npos ? nl : nl - pos);
        pos = nl == std::string_view::npos ? text.size() : nl + 1;
        if (!line.empty() && line.back() == '\r')
            line.remove_suffix(1);
        if (line.empty() && !started)
            continue; // blank lines before the start line
        out.append(line).append("\r\n");
        if (line.empty()) {
            out.append(text.substr(pos)); // the body, as written
            return out;
        }
        started = true;
    }
    if (started)
        out += "\r\n"; // the empty line the editor's file lacks
    return out;
}

int run_place(const QueryContext& ctx, const std::string& kind, const std::string& from,
              const std::string& key, std::ostream& out, std::ostream& err) {
    auto args = json::Json::object().set("kind", kind).set("from", from);
    if (!key.empty())
        args.set("key", key);
    auto answer = ask_farm(ctx.cfg, ctx.target, "place", args, ctx.timeout);
    if (!answer) {
        err << "cgclusterctl: place: " << answer.error().message << '\n';
        return EXIT_USAGE;
    }
    const auto& r = answer->result;
    if (!r && r.error().code == cluster::placement_error::NO_PLACEMENT) {
        if (ctx.json_output) {
            auto doc = json::Json::object()
                           .set("member", json::Json::null())
                           .set("from", from)
                           .set("kind", kind);
            if (!key.empty())
                doc.set("key", key);
            doc.set("reason", cluster::placement_error::NO_PLACEMENT)
                .set("error", error_json(r.error()));
            out << doc.dump() << '\n';
        } else {
            out << "no placement: " << r.error().message << '\n';
        }
        return EXIT_PROBLEM;
    }
    if (!r) {
        err << "cgclusterctl: place: " << answer->target << ": " << r.error().message << '\n';
        return EXIT_USAGE;
    }
    if (ctx.json_output) {
        out << r->dump() << '\n';
        return 0;
    }
    std::string candidates = joined((*r)["candidates"], ",");
    print_table({{"MEMBER", "FROM", "KIND", "MODE", "REASON", "CANDIDATES"},
                 {str(*r, "member"), str(*r, "from"), str(*r, "kind"), str(*r, "mode"),
                  str(*r, "reason"), candidates.empty() ? "-" : candidates}},
                out);
    out << place_why(*r) << " (view epoch " << (*r)["epoch"].as_integer().value_or(0) << ")\n";
    return 0;
}

int run_route(const QueryContext& ctx, const std::optional<std::string>& call_id,
              const std::string& file, std::istream& in, std::ostream& out, std::ostream& err) {
    auto args = json::Json::object();
    if (call_id) {
        if (call_id->empty()) {
            err << "cgclusterctl: route: --call-id needs a Call-ID\n";
            return EXIT_USAGE;
        }
        args.set("call_id", *call_id);
    } else {
        auto message = read_message(file, in);
        if (!message) {
            err << "cgclusterctl: route: " << message.error().message << '\n';
            return EXIT_USAGE;
        }
        args.set("message", *message);
        // The request must fit one control line (rtfarm-control(7)).
        size_t line = args.dump().size() + 32;
        if (line > control::MAX_LINE) {
            err << "cgclusterctl: route: the message takes " << line
                << " bytes as a control request; at most " << control::MAX_LINE << '\n';
            return EXIT_USAGE;
        }
    }
    auto answer = ask_farm(ctx.cfg, ctx.target, "route", args, ctx.timeout);
    if (!answer) {
        err << "cgclusterctl: route: " << answer.error().message << '\n';
        return EXIT_USAGE;
    }
    const auto& r = answer->result;
    if (!r && is_scan_error(r.error().code)) {
        // The farm drops what it cannot scan: that is the answer.
        if (ctx.json_output)
            out << json::Json::object()
                       .set("member", json::Json::null())
                       .set("action", "drop")
                       .set("reason", r.error().code)
                       .set("error", error_json(r.error()))
                       .dump()
                << '\n';
        else
            out << "dropped: the message does not scan (" << r.error().code
                << "): " << r.error().message << '\n';
        return EXIT_PROBLEM;
    }
    if (!r) {
        err << "cgclusterctl: route: " << answer->target << ": " << r.error().message << '\n';
        return EXIT_USAGE;
    }
    auto action = sip::decision_kind_named(str(*r, "action"));
    bool dropped = action == sip::Decision::Kind::drop;
    if (ctx.json_output) {
        out << r->dump() << '\n';
    } else {
        print_table(
            {{"MEMBER", "ACTION", "REASON", "RECEIVED_BY", "EPOCH"},
             {str(*r, "member"), str(*r, "action"), str(*r, "reason"), str(*r, "received_by"),
              std::to_string((*r)["epoch"].as_integer().value_or(0))}},
            out);
        std::string here = str(*r, "received_by");
        std::string lead = action == sip::Decision::Kind::relay
                               ? "received on " + here + ", relayed to " + str(*r, "member") + ": "
                           : action == sip::Decision::Kind::local ? "processed on " + here + ": "
                                                                  : "";
        out << lead << route_why(*r) << '\n';
    }
    return dropped ? EXIT_PROBLEM : 0;
}

} // namespace rtfarm::ctl
