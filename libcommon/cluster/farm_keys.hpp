// The cluster secrets one member holds, and which of them signs its farm
// link packets: the key rotation of rtfarm.conf(5), "Rotating the secret".
// A member holds secret_file's secret and, during a rotation,
// previous_secret_file's. It accepts packets under either, announces the
// ids of both in its heartbeats, and signs with the previous secret until
// every member it sees up announces the new one; then with the new one. So
// the members that reloaded first keep speaking the key the others still
// check, and the last reload switches the whole farm within a heartbeat or
// two; a member that comes back with the old secret alone switches it back.
// The routing key of Call-IDs follows the signing secret (sipfarmd hands
// off the Call-IDs in progress, as for a change of the view). Pure logic:
// sipfarmd asks choose() after each heartbeat and tick.
#pragma once

#include "base/crypto.hpp"
#include "cluster/membership.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace rtfarm::cluster {

struct FarmKey {
    std::string secret;
    std::string id;        // crypto::key_id(secret)
    crypto::SipKey route;  // sip::route_key(secret)
    crypto::SipKey branch; // sip::branch_key(secret)
    bool operator==(const FarmKey&) const = default;
};

class FarmKeys {
public:
    FarmKeys() = default;
    // `secrets`: newest first (config::ClusterSettings::secrets()); at most
    // MAX_HEARTBEAT_KEYS are kept. With a previous secret, signs with it
    // until choose() says otherwise.
    explicit FarmKeys(const std::vector<std::string>& secrets);

    bool empty() const { return m_held.empty(); }
    // Newest first.
    const std::vector<FarmKey>& held() const { return m_held; }
    std::vector<std::string> ids() const;
    // The key packets are signed with; null without a secret.
    const FarmKey* signing() const { return m_held.empty() ? nullptr : &m_held[m_signing]; }
    // Every secret held, the signing one first: the order to check a
    // packet's MAC in (most packets pass the first).
    const std::vector<std::string>& check_order() const { return m_check_order; }

    // Signs with the newest secret when every member up or draining other
    // than `self` announced holding it (one not heard yet has not), else
    // with the oldest held. True when the signing key changed.
    bool choose(const std::vector<MemberStatus>& members, std::string_view self);

    bool operator==(const FarmKeys&) const = default;

private:
    void order();

    std::vector<FarmKey> m_held;
    size_t m_signing = 0;
    std::vector<std::string> m_check_order;
};

} // namespace rtfarm::cluster
