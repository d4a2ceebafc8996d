// A thin owner over libosip2 for the places that need full SIP semantics
// (validation, building replies) and for testing the fast scanner against a
// reference parser: the once-per-process parser_init() guard, a unique_ptr
// over osip_message_t, parsing from a string_view, serialising (with
// osip_message_force_update(), since libosip2 caches the serialised text),
// and copies of the few fields the differential tests compare.
//
// It deliberately does not wrap the rest of the osip2 API (use get() and the
// C functions from <osipparser2/osip_parser.h>), is never used on the
// per-packet path (see scanner.hpp), and does not include osip2's headers:
// their macros (REQUIRE, ...) break Boost.Test and other code.
#pragma once

#include "base/result.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

// libosip2's message type (osipparser2/osip_message.h).
struct osip_message;
typedef struct osip_message osip_message_t;

namespace rtfarm::sip {

// Calls libosip2's parser_init() the first time, from any thread; later calls
// do nothing. osip_parse() calls it; call it in main() before threads start.
void osip_init_once();

struct OsipMessageFree {
    void operator()(osip_message_t* m) const noexcept;
};
using OsipMessagePtr = std::unique_ptr<osip_message_t, OsipMessageFree>;

class OsipMessage {
public:
    explicit OsipMessage(OsipMessagePtr msg);

    osip_message_t* get() const { return m_msg.get(); }
    bool is_request() const;

    std::optional<std::string> method() const;  // requests
    int status_code() const;                    // responses; 0 for requests
    std::optional<std::string> call_id() const; // "number" or "number@host"
    std::optional<uint64_t> cseq_number() const;
    std::optional<std::string> cseq_method() const;
    std::optional<std::string> top_via_branch() const;
    std::optional<std::string> top_via_host() const;
    int top_via_port() const; // 0 when absent
    std::optional<std::string> ruri_host() const;
    std::optional<std::string> ruri_user() const;
    int ruri_port() const;      // 0 when absent
    int max_forwards() const;   // -1 when absent or not a number
    int content_length() const; // -1 when absent or not a number
    size_t via_count() const;

    // Sets (or adds) Max-Forwards. Shows in serialise(); raw text libosip2
    // cached from parsing is not reused.
    Status set_max_forwards(int value);

    // The message as libosip2 serialises it now (after a forced update, so
    // edits made through get() show).
    Result<std::string> serialise() const;

private:
    OsipMessagePtr m_msg;
};

// Parses a whole message with libosip2. Error code "osip_parse" when it
// refuses, "osip" when it cannot allocate.
Result<OsipMessage> osip_parse(std::string_view text);

} // namespace rtfarm::sip
