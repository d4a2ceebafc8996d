// lbcheck probe: being written.
#include "checks.hpp"

namespace rtfarm::lbcheck {

Result<diag::Report> run_probe(const ProbeOptions&) {
    return make_error("unavailable", "lbcheck probe is not in this build yet");
}

} // namespace rtfarm::lbcheck
