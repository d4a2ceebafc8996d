// `make install` into a temporary DESTDIR installs the four programs, the man
// pages and etc/ (example configs, README, supervision files) under
// PREFIX/share/doc/rtfarm/ with its tree kept, and `make uninstall` removes
// exactly those files again.
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
    // Every file of etc/, at the same place under share/doc/rtfarm, the same
    // bytes, executable when it is (the run scripts).
    fs::path doc = fs::path(destdir) / "opt/rtfarm/share/doc/rtfarm";
    size_t etc_files = 0;
    for (auto& e : fs::recursive_directory_iterator(src_path("etc"))) {
        if (!e.is_regular_file())
            continue;
        ++etc_files;
        fs::path rel = fs::relative(e.path(), src_path("etc"));
        fs::path f = doc / rel;
        BOOST_TEST_CONTEXT(rel.string()) {
            BOOST_REQUIRE(fs::exists(f));
            BOOST_TEST(read_file(f.string()) == read_file(e.path().string()));
            auto exec = [](const fs::path& p) {
                return (fs::status(p).permissions() & fs::perms::owner_exec) != fs::perms::none;
            };
            BOOST_TEST(exec(f) == exec(e.path()));
        }
    }
    for (const char* p : {"single-ip-nat.json", "multi-ip-nat.json", "dsr.json", "README.md",
                          "systemd/sipfarmd@.service", "systemd/rtprelayd@.service",
                          "s6/sipfarmd/run", "s6/sipfarmd/type", "s6/sipfarmd/notification-fd",
                          "s6/rtprelayd/run", "runit/sipfarmd/run", "runit/sipfarmd/log/run",
                          "runit/rtprelayd/run", "runit/rtprelayd/log/run"})
        BOOST_TEST(fs::exists(doc / p), p);
    // Nothing else under DESTDIR.
    size_t installed = 0;
    for (auto& e : fs::recursive_directory_iterator(destdir))
        installed += e.is_regular_file() ? 1 : 0;
    BOOST_TEST(installed == 4 + 6 + etc_files);
    BOOST_TEST(fs::exists(doc / "s6/rtprelayd/notification-fd"));
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
    // The doc folders were ours too; the standard ones above may stay.
    BOOST_TEST(!fs::exists(doc), doc.string());
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
