#include "base/assert.hpp"

#include <cstdio>
#include <cstdlib>

namespace rtfarm::detail {

void assert_fail(const char* expr, const char* file, int line, const char* func) {
    std::fprintf(stderr,
                 "level=error sub=assert msg=\"invariant broken\" expr=\"%s\" at=%s:%d func=%s\n",
                 expr, file, line, func);
    std::fflush(stderr);
    std::abort();
}

} // namespace rtfarm::detail
