// rtprelayd: the RTP relay on one member's media port range.
#include "daemon/daemon.hpp"
#include "service.hpp"

int main(int argc, char** argv) {
    rtfarm::daemon::DaemonInfo info{
        "rtprelayd",
        "rtprelayd: RTP relay on the media port range of one rtfarm member",
        [](const rtfarm::config::MemberConfig& m) { return m.media_control; },
    };
    info.metrics = [](const rtfarm::config::MemberConfig& m) {
        return m.media_metrics;
    };
    return rtfarm::daemon::run_daemon(argc, argv, info, [](rtfarm::ev::Loop& loop) {
        return std::make_unique<rtfarm::rtprelayd::RelayService>(loop);
    });
}
