// Integration test harness: writes configs into a temporary folder, starts
// the real daemons in the foreground with their logs kept, waits for their
// readiness (NOTIFY_SOCKET, never a sleep), talks to them and stops them.
// RTFARM_BUILD names the build folder (default "build");
// RTFARM_TEST_TIMEOUT_SCALE multiplies every timeout (slow machines, gdb);
// RTFARM_KEEP_LOGS=1 keeps the temporary folder for reading the logs.
#pragma once

#include "base/unique_fd.hpp"
#include "json/json.hpp"

#include <boost/test/unit_test.hpp>

#include <sys/types.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace rtfarm::test {

using namespace std::chrono_literals;

std::chrono::milliseconds scaled(std::chrono::milliseconds t);
std::string bin_path(const std::string& program);
std::string src_path(const std::string& relative);

class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::string& path() const { return m_path; }
    std::string file(const std::string& name) const { return m_path + "/" + name; }
    void write(const std::string& name, const std::string& content) const;

private:
    std::string m_path;
};

std::string read_file(const std::string& path);

// A free UDP+TCP port on 127.0.0.1 (bound, then released: good enough for tests).
uint16_t free_port();

// One child process with stdout and stderr in a log file.
class Process {
public:
    // Starts argv[0] (a path) with NOTIFY_SOCKET pointing at a socket of our own
    // and, when `fd3` >= 0, that descriptor as the child's fd 3 (as s6 passes
    // its notification pipe).
    Process(const TempDir& dir, const std::string& name, std::vector<std::string> argv,
            int fd3 = -1);
    ~Process();
    Process(const Process&) = delete;
    Process& operator=(const Process&) = delete;

    // Waits for READY=1 from the child; false on timeout or exit.
    bool wait_ready(std::chrono::milliseconds timeout = 5000ms);
    // Waits for the next notification containing `text` (e.g. "RELOADING=1").
    bool wait_notify(const std::string& text, std::chrono::milliseconds timeout = 5000ms);
    void signal(int signo) const;
    // Exit status (WEXITSTATUS, or 128+signal) once the child ended, else nullopt.
    std::optional<int> wait_exit(std::chrono::milliseconds timeout = 5000ms);
    bool running();
    std::string log() const;
    const std::string& log_path() const { return m_log; }
    pid_t pid() const { return m_pid; }

private:
    std::string m_log;
    UniqueFd m_notify;
    pid_t m_pid = -1;
    std::optional<int> m_status;
    std::string m_pending_notifications;
};

// Runs a program to completion; returns exit status and combined output.
struct RunResult {
    int status = -1;
    std::string out;
    std::string err;
};
RunResult run(std::vector<std::string> argv, std::chrono::milliseconds timeout = 10000ms);
// The one JSON document a --json run printed on stdout; fails the test
// when stdout is not exactly that.
json::Json parse_out(const RunResult& r);

// A Boost.Test precondition: the case runs when `why_not` returns "", and is
// reported skipped otherwise, with the reason printed on stderr.
//   BOOST_AUTO_TEST_CASE(x, *boost::unit_test::precondition(requires_ipv6))
using Requirement = std::string (*)();
boost::test_tools::assertion_result check_requirement(const char* test, Requirement why_not);
#define RTFARM_REQUIRES(fn)                                                                        \
    *boost::unit_test::precondition([](boost::unit_test::test_unit_id id) {                        \
        return ::rtfarm::test::check_requirement(                                                  \
            boost::unit_test::framework::get(id, boost::unit_test::TUT_ANY).p_name->c_str(), fn);  \
    })
// "" when the host can bind [::1]; otherwise why not.
std::string requires_ipv6();
// "" when mandoc is installed.
std::string requires_mandoc();

// Lines of a log that report level=error, except those containing one of `expected`.
std::vector<std::string> unexpected_errors(const std::string& log,
                                           const std::vector<std::string>& expected = {});

} // namespace rtfarm::test
