// lbcheck host: being written (the DSR checks of this frontend).
#include "checks.hpp"

namespace rtfarm::lbcheck {

Result<diag::Report> run_host(const HostOptions&) {
    return make_error("unavailable", "lbcheck host is not in this build yet");
}

} // namespace rtfarm::lbcheck
