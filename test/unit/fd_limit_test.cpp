// RLIMIT_NOFILE for the media range: kept when high enough, raised when not,
// and a clear error when the kernel refuses (above fs.nr_open). The
// process's limit is put back afterwards.
#include "media/fd_limit.hpp"

#include <boost/test/unit_test.hpp>

#include <sys/resource.h>

#include <fstream>
#include <string>

using namespace rtfarm;
using namespace rtfarm::media;

BOOST_AUTO_TEST_SUITE(media_fd_limit)

BOOST_AUTO_TEST_CASE(fd_limit_is_raised_and_reported) {
    rlimit before{};
    BOOST_REQUIRE(::getrlimit(RLIMIT_NOFILE, &before) == 0);
    BOOST_TEST(fds_for_ports(10000) == 10000u + FD_MARGIN);
    auto same = ensure_fd_limit(before.rlim_cur);
    BOOST_REQUIRE(same.ok());
    BOOST_TEST(!same->raised);
    BOOST_TEST(same->soft == uint64_t(before.rlim_cur));

    if (before.rlim_cur != RLIM_INFINITY) {
        auto more = ensure_fd_limit(uint64_t(before.rlim_cur) + 16);
        if (more.ok()) {
            BOOST_TEST(more->raised);
            BOOST_TEST(more->soft == uint64_t(before.rlim_cur) + 16);
            BOOST_TEST(more->str().find(" -> ") != std::string::npos);
            BOOST_TEST_MESSAGE(more->str());
        } else {
            BOOST_TEST_MESSAGE("skipped raising: " << more.error().message);
        }
    }
    // More than the kernel allows any process: a clear error.
    uint64_t nr_open = 0;
    std::ifstream("/proc/sys/fs/nr_open") >> nr_open;
    if (nr_open != 0) {
        auto too_many = ensure_fd_limit(nr_open + 1);
        BOOST_REQUIRE(!too_many.ok());
        BOOST_TEST(too_many.error().code == "fd_limit");
        BOOST_TEST(too_many.error().message.find("fs.nr_open") != std::string::npos);
        BOOST_TEST_MESSAGE(too_many.error().message);
    }
    BOOST_REQUIRE(::setrlimit(RLIMIT_NOFILE, &before) == 0);
}

BOOST_AUTO_TEST_SUITE_END()
