// RTFARM_ASSERT: an always-on check of an invariant of our own code. A failed
// assert is a bug, never a reaction to input: it logs where and aborts.
#pragma once

namespace rtfarm::detail {
[[noreturn]] void assert_fail(const char* expr, const char* file, int line, const char* func);
}

#define RTFARM_ASSERT(expr)                                                                        \
    ((expr) ? static_cast<void>(0)                                                                 \
            : ::rtfarm::detail::assert_fail(#expr, __FILE__, __LINE__, __func__))
