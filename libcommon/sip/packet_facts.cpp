#include "sip/packet_facts.hpp"

#include "sip/proxy.hpp"

namespace rtfarm::sip {

PacketFacts packet_facts(std::string_view bytes, const Message& msg, std::string_view farm_host) {
    PacketFacts facts;
    facts.is_request = msg.is_request();
    facts.method = msg.method.in(bytes);
    facts.top_via_branch = msg.via[0].branch.in(bytes);
    facts.top_route = msg.route.value.in(bytes);
    if (!facts.top_route.empty() && !uri_farm_member(facts.top_route))
        if (std::string_view ours = farm_route_behind(bytes, msg, farm_host); !ours.empty())
            facts.top_route = ours;
    facts.request_uri = msg.request_uri.in(bytes);
    facts.call_id = msg.call_id.in(bytes);
    facts.probe = is_probe(bytes, msg);
    if (facts.probe)
        facts.reply_from = header_value(bytes, msg, "X-Farm-Reply-From");
    return facts;
}

PacketFacts call_id_facts(std::string_view call_id) {
    PacketFacts facts;
    facts.is_request = true;
    facts.method = "INVITE";
    facts.call_id = call_id;
    return facts;
}

} // namespace rtfarm::sip
