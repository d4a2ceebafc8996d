// lbcheck: diagnoses the load balancer in front of a SIP farm (lbcheck(8)):
// `probe` from a client, `host` on a frontend, `media` through
// the farm's media relay. Prints the findings (text, or --json), exit 0 no
// error finding, 1 an error finding, 2 a usage error or nothing to check
// against (the VIP does not answer).
#include "checks.hpp"

#include "sip/osip.hpp"

#include <CLI/CLI.hpp>

#include <iostream>

namespace {

using namespace rtfarm;

Result<SockAddr> parse_vip(const std::string& text, uint16_t default_port) {
    if (auto a = SockAddr::parse(text))
        return *a;
    auto h = SockAddr::parse_host(text, default_port);
    if (!h)
        return make_error("usage", "--vip " + text + ": not an IPv4 or IPv6 address[:port]");
    return *h;
}

int finish(const Result<diag::Report>& r, bool json, const char* what) {
    if (!r) {
        std::cerr << "lbcheck " << what << ": " << r.error().message << '\n';
        return 2;
    }
    diag::Report report = r.value();
    report.sort();
    if (json)
        std::cout << report.to_json().dump() << '\n';
    else
        std::cout << report.text();
    return report.exit_status();
}

} // namespace

int main(int argc, char** argv) {
    sip::osip_init_once();
    CLI::App app{"lbcheck: diagnose the load balancer in front of an rtfarm SIP farm", "lbcheck"};
    app.set_version_flag("--version", std::string("lbcheck ") + RTFARM_VERSION);
    app.require_subcommand(1);
    bool json = false;
    app.add_flag("--json", json, "print one JSON document");

    std::string vip_text;
    unsigned count = 120;
    long long timeout_ms = 1000;
    std::string bind;
    auto* probe = app.add_subcommand("probe", "SIP OPTIONS probes to the VIP, from a client");
    probe->add_option("--vip", vip_text, "the VIP, ADDR[:PORT] (port 5060)")->required();
    probe->add_option("--count", count, "probes in all, at most (10-2000)")
        ->check(CLI::Range(10u, 2000u));
    probe->add_option("--timeout", timeout_ms, "ms to wait for each reply (50-10000)")
        ->check(CLI::Range(50LL, 10000LL));
    probe->add_option("--bind", bind, "local address to send from");
    probe->add_flag("--json", json, "print one JSON document");

    uint16_t sip_port = 5060;
    std::string arp;
    auto* host = app.add_subcommand("host", "the DSR set-up of this frontend");
    host->add_option("--vip", vip_text, "the VIP, ADDR")->required();
    host->add_option("--sip-port", sip_port, "the SIP port on the VIP");
    host->add_option("--arp-probe", arp,
                     "ask on this interface's segment who answers ARP for the VIP");
    host->add_flag("--json", json, "print one JSON document");

    auto* media = app.add_subcommand("media", "RTP through the farm's media relay, per member");
    media->add_option("--vip", vip_text, "the VIP, ADDR[:PORT] (port 5060)")->required();
    media->add_option("--timeout", timeout_ms, "ms to wait for each reply and packet (50-10000)")
        ->check(CLI::Range(50LL, 10000LL));
    media->add_option("--bind", bind, "local address to send from");
    media->add_flag("--json", json, "print one JSON document");

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : 2;
    }
    auto vip = parse_vip(vip_text, 5060);
    if (!vip) {
        std::cerr << "lbcheck: " << vip.error().message << '\n';
        return 2;
    }
    if (*probe) {
        lbcheck::ProbeOptions o;
        o.vip = *vip;
        o.count = count;
        o.timeout = std::chrono::milliseconds(timeout_ms);
        o.bind = bind;
        return finish(lbcheck::run_probe(o), json, "probe");
    }
    if (*host) {
        lbcheck::HostOptions o;
        o.vip = *vip;
        o.sip_port = sip_port;
        o.arp_interface = arp;
        return finish(lbcheck::run_host(o), json, "host");
    }
    lbcheck::MediaOptions o;
    o.vip = *vip;
    o.timeout = std::chrono::milliseconds(timeout_ms);
    o.bind = bind;
    return finish(lbcheck::run_media(o), json, "media");
}
