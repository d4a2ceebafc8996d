// `make install` into a temporary DESTDIR installs the four programs and the
// man pages under PREFIX, and `make uninstall` removes them again.
#include "harness.hpp"

#include <boost/test/unit_test.hpp>

#include <filesystem>

using namespace rtfarm::test;
namespace fs = std::filesystem;

BOOST_AUTO_TEST_SUITE(install)

BOOST_AUTO_TEST_CASE(install_and_uninstall_into_destdir) {
    TempDir dir;
    std::string destdir = dir.file("root");
    const char* build = std::getenv("RTFARM_BUILD");
    std::string build_arg = std::string("BUILD=") + (build && *build ? build : "build");
    auto r =
        run({"/usr/bin/env", "-u", "MAKEFLAGS", "-u", "MFLAGS", "-u", "MAKELEVEL", "make", "-s",
             "-C", src_path("."), build_arg, "install", "PREFIX=/opt/rtfarm", "DESTDIR=" + destdir},
            120000ms);
    BOOST_REQUIRE_MESSAGE(r.status == 0, r.out << r.err);
    for (const char* p : {"bin/sipfarmd", "bin/rtprelayd", "bin/cgclusterctl", "bin/lbcheck",
                          "share/man/man8/sipfarmd.8", "share/man/man8/rtprelayd.8",
                          "share/man/man8/cgclusterctl.8", "share/man/man8/lbcheck.8",
                          "share/man/man5/rtfarm.conf.5", "share/man/man7/rtfarm-control.7"}) {
        fs::path f = fs::path(destdir) / "opt/rtfarm" / p;
        BOOST_TEST(fs::exists(f), f.string());
    }
    auto v = run({destdir + "/opt/rtfarm/bin/sipfarmd", "--version"});
    BOOST_TEST(v.status == 0);
    auto u = run({"/usr/bin/env", "-u", "MAKEFLAGS", "-u", "MFLAGS", "-u", "MAKELEVEL", "make",
                  "-s", "-C", src_path("."), build_arg, "uninstall", "PREFIX=/opt/rtfarm",
                  "DESTDIR=" + destdir},
                 60000ms);
    BOOST_REQUIRE_MESSAGE(u.status == 0, u.out << u.err);
    size_t left = 0;
    for (auto& e : fs::recursive_directory_iterator(destdir))
        left += e.is_regular_file() ? 1 : 0;
    BOOST_TEST(left == 0u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(docs)

BOOST_AUTO_TEST_CASE(man_pages_pass_mandoc_lint, RTFARM_REQUIRES(requires_mandoc)) {
    std::vector<std::string> args{"/usr/bin/mandoc", "-Tlint", "-Wwarning"};
    size_t pages = 0;
    for (auto& e : fs::directory_iterator(src_path("man"))) {
        args.push_back(e.path().string());
        ++pages;
    }
    BOOST_TEST(pages >= 6u);
    auto r = run(args);
    BOOST_TEST(r.status == 0, r.out << r.err);
    BOOST_TEST(r.out.empty(), r.out);
}

BOOST_AUTO_TEST_SUITE_END()
