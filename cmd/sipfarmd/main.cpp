// sipfarmd: the SIP farm edge and cluster agent of one member.
#include "daemon/daemon.hpp"
#include "farm.hpp"

int main(int argc, char** argv) {
    rtfarm::daemon::DaemonInfo info{
        "sipfarmd",
        "sipfarmd: SIP farm edge and cluster agent of one rtfarm member",
        [](const rtfarm::config::MemberConfig& m) { return m.control; },
    };
    info.control_tcp = true;
    info.metrics = [](const rtfarm::config::MemberConfig& m) {
        return m.metrics;
    };
    return rtfarm::daemon::run_daemon(argc, argv, info, [](rtfarm::ev::Loop& loop) {
        return std::make_unique<rtfarm::sipfarmd::FarmService>(loop);
    });
}
