// lbcheck media: being written.
#include "checks.hpp"

namespace rtfarm::lbcheck {

Result<diag::Report> run_media(const MediaOptions&) {
    return make_error("unavailable", "lbcheck media is not in this build yet");
}

} // namespace rtfarm::lbcheck
