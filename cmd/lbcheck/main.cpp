// lbcheck: diagnoses the load balancer in front of a SIP farm. This version
// has the command line only; the probe, host and media checks build on
// sipfarmd's diagnostic answers and rtprelayd, and come with them.
#include <CLI/CLI.hpp>

#include <iostream>

int main(int argc, char** argv) {
    CLI::App app{"lbcheck: diagnose the load balancer in front of an rtfarm SIP farm", "lbcheck"};
    app.set_version_flag("--version", std::string("lbcheck ") + RTFARM_VERSION);
    app.require_subcommand(0, 1);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : 2;
    }
    std::cerr << "lbcheck: no checks in this version; see lbcheck --help\n";
    return 2;
}
