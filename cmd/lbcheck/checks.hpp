// The three checks of lbcheck, each a function from its options to a
// report (diag/report.hpp); main.cpp parses the command line and prints.
// An Error means the check could not run at all (exit status 2): the VIP
// does not answer, a socket cannot be opened, a bad option value.
#pragma once

#include "base/result.hpp"
#include "base/sockaddr.hpp"
#include "diag/report.hpp"

#include <chrono>
#include <string>

namespace rtfarm::lbcheck {

struct ProbeOptions {
    SockAddr vip;                            // with its port (default 5060)
    unsigned count = 120;                    // probes in all, at most
    std::chrono::milliseconds timeout{1000}; // per probe
    std::string bind;                        // local address to send from ("" any)
};
Result<diag::Report> run_probe(const ProbeOptions& o);

struct HostOptions {
    SockAddr vip; // port ignored
    uint16_t sip_port = 5060;
    std::string arp_interface; // "" = no ARP probing
};
Result<diag::Report> run_host(const HostOptions& o);

struct MediaOptions {
    SockAddr vip;
    std::chrono::milliseconds timeout{1000};
    std::string bind;
};
Result<diag::Report> run_media(const MediaOptions& o);

} // namespace rtfarm::lbcheck
