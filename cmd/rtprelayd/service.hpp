// rtprelayd's Service: the member's media relay. At start it checks the
// member can carry media (a port range, an advertised address), raises
// RLIMIT_NOFILE for the whole range, picks the address media sockets bind
// (the advertised one when this host has it, else the wildcard), and serves
// the media control ops of rtprelayd(8) over the daemon's control socket:
// offer, answer, sdp (offer or answer as the SIP message tells, for
// sipfarmd), delete, query, list (stats is the shell's). Sessions live
// in media::Calls; a ticker closes those idle past cluster.media_timeout.
// On SIGHUP the address, strictness and timeout change at once; a changed
// port range is refused while calls hold ports of the old one. Draining
// refuses new calls and finishes when the last call is gone.
#pragma once

#include "daemon/daemon.hpp"
#include "media/calls.hpp"
#include "media/control_messages.hpp"
#include "media/fd_limit.hpp"
#include "media/ports.hpp"
#include "relay/relay.hpp"

#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace rtfarm::rtprelayd {

class RelayService : public daemon::Service {
public:
    explicit RelayService(ev::Loop& loop);
    ~RelayService() override;

    Status validate(const config::ClusterConfig& cfg,
                    const config::MemberConfig& me) const override;
    Status start(const config::ClusterConfig& cfg, const config::MemberConfig& me) override;
    Status reload(const config::ClusterConfig& cfg, const config::MemberConfig& me) override;
    void drain(std::function<void()> done) override;
    json::Json stats() const override;
    void register_ops(control::ControlServer& server) override;

private:
    media::CallsOptions options_for(const config::ClusterConfig& cfg,
                                    const config::MemberConfig& me) const;
    // The kernel fast path as the member's media_fast_path asks: loaded,
    // kept, dropped, or (auto) left to userspace with one log line; an
    // error only when "required" cannot be met.
    Status setup_fast_path(const config::ClusterConfig& cfg, const config::MemberConfig& me,
                           const media::CallsOptions& options);
    void on_tick();
    void check_drained();
    // The op handlers' common part: the strings a request must carry.
    // `as`: nullopt for "offer"/"answer" themselves, else the "sdp" op.
    Result<json::Json> sdp_op(const control::Request& req, media::SdpOp op);

    ev::Loop& m_loop;
    std::string m_id;
    PortRange m_range;
    std::optional<media::FdLimit> m_fd_limit;
    std::unique_ptr<media::PortPool> m_pool;
    std::unique_ptr<relay::Relay> m_relay;
    std::unique_ptr<media::Calls> m_calls;
    std::unique_ptr<ev::Ticker> m_ticker;
    std::function<void()> m_drained;
    config::MediaFastPath m_fast_mode = config::MediaFastPath::off;
    // What the running fast path was set up for (a change reloads it).
    std::optional<relay::FastPathSetup> m_fast_setup;
    std::string m_fast_reason; // why userspace, when the kernel was asked for
    bool m_draining = false;
};

} // namespace rtfarm::rtprelayd
