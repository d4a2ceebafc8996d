// The questions sipfarmd answers about its own decisions, for the control
// ops `place` (where a new Call Leg or Signal created on a member is hosted,
// cluster/placement.hpp) and `route` (which member processes a SIP message
// that arrives here from outside, sip/route.hpp). Both only read the view:
// nothing is created, relayed or counted. The decisions are libcommon's;
// this file turns control requests into their inputs and their answers
// into JSON (rtfarm-control(7)).
#pragma once

#include "base/result.hpp"
#include "cluster/handoff.hpp"
#include "cluster/membership.hpp"
#include "sip/route.hpp"
#include "json/json.hpp"

namespace rtfarm::sipfarmd {

// {"kind","from"?,"key"?} -> the placement (cluster::to_json). Errors:
// "bad_request", "no_placement".
Result<json::Json> place_query(const json::Json& body, const cluster::Membership& membership,
                               std::string_view self);

// {"call_id"} or {"message"} -> {"member","action","reason","epoch",
// "received_by","call_id"[,"owner"][,"type"]}, routed as if it arrived from outside on this
// member, with what this member knows of Call-IDs in progress (the
// hand-off). Errors: "bad_request", or the scanner's code for a message
// that does not scan (sip/scanner.hpp, scan_error).
Result<json::Json> route_query(const json::Json& body, const sip::FarmView& view,
                               const cluster::RecentCalls& recent, std::string_view farm_host);

} // namespace rtfarm::sipfarmd
